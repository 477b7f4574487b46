//! Deserializers for values written as text, with an expectation phrased for
//! operators rather than serde's type names ("invalid IP address syntax").

use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

use serde::de::{self, Deserializer, Visitor};

pub fn ip_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<IpAddr, D::Error> {
    from_text(
        deserializer,
        "an IP address such as 0.0.0.0 or ::",
        |text| text.parse().ok(),
    )
}

/// Accepts a string that `parse` understands; anything else is an
/// `invalid value`/`invalid type` error that names `expecting`.
pub fn from_text<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct TextVisitor<T> {
        expecting: &'static str,
        parse: fn(&str) -> Option<T>,
        marker: PhantomData<T>,
    }

    impl<T> Visitor<'_> for TextVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            (self.parse)(text.trim())
                .ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
        }
    }

    deserializer.deserialize_str(TextVisitor {
        expecting,
        parse,
        marker: PhantomData,
    })
}

/// Durations are written as humantime text ("5s", "1m30s", "250ms") both
/// ways, so `--check-config` output can be pasted back into a file; use as
/// `#[serde(with = "netmon_config::parsed::duration_text")]`.
pub mod duration_text {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        super::from_text(
            deserializer,
            "a duration such as 5s, 1m30s or 250ms",
            |text| humantime::parse_duration(text).ok(),
        )
    }
}
