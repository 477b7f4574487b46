//! Decoders that map or filter text: `static_map` and `regexp`.

use std::collections::BTreeMap;

use regex::Regex;

use super::{DecoderError, Step};
use crate::programs::config::DecoderConfig;

/// Input text → value; an unmapped input becomes `unknown:<input>`, or
/// passes through with `allow_unknown` (ebpf_exporter's rules).
#[derive(Debug, Clone)]
pub(super) struct StaticMap {
    map: BTreeMap<String, String>,
    allow_unknown: bool,
}

impl StaticMap {
    pub(super) fn new(label: &str, config: &DecoderConfig) -> Result<Self, DecoderError> {
        let map = config
            .static_map
            .clone()
            .ok_or_else(|| DecoderError::MissingOption {
                label: label.to_string(),
                name: "static_map",
                what: "a static_map",
            })?;
        Ok(StaticMap {
            map,
            allow_unknown: config.allow_unknown,
        })
    }

    pub(super) fn decode(&self, input: Vec<u8>) -> Step {
        let text = String::from_utf8_lossy(&input);
        match self.map.get(text.as_ref()) {
            Some(value) => Step::Value(value.clone().into_bytes()),
            None if self.allow_unknown => Step::Value(input),
            None => Step::Value(format!("unknown:{text}").into_bytes()),
        }
    }
}

/// Keeps the key when any expression matches the text, skips it otherwise.
#[derive(Debug, Clone)]
pub(super) struct Regexps(Vec<Regex>);

impl Regexps {
    pub(super) fn new(label: &str, config: &DecoderConfig) -> Result<Self, DecoderError> {
        let expressions = config
            .regexps
            .as_ref()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| DecoderError::MissingOption {
                label: label.to_string(),
                name: "regexp",
                what: "regexps",
            })?;
        expressions
            .iter()
            .map(|expression| {
                Regex::new(expression).map_err(|e| DecoderError::BadRegexp {
                    label: label.to_string(),
                    expression: expression.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()
            .map(Regexps)
    }

    pub(super) fn decode(&self, input: Vec<u8>) -> Step {
        let text = String::from_utf8_lossy(&input);
        if self.0.iter().any(|r| r.is_match(&text)) {
            Step::Value(input)
        } else {
            Step::Skip
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> DecoderConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn static_map_maps_known_inputs_and_marks_or_passes_unknown_ones() {
        let strict = StaticMap::new(
            "op",
            &config("{name: static_map, static_map: {0: read, 1: write}}"),
        )
        .unwrap();
        let lenient = StaticMap::new(
            "op",
            &config("{name: static_map, static_map: {0: read}, allow_unknown: true}"),
        )
        .unwrap();
        let cases: &[(&StaticMap, &str, &str)] = &[
            (&strict, "0", "read"),
            (&strict, "1", "write"),
            (&strict, "7", "unknown:7"),
            (&lenient, "0", "read"),
            (&lenient, "7", "7"),
        ];
        for (map, input, expected) in cases {
            assert_eq!(
                map.decode(input.as_bytes().to_vec()),
                Step::Value(expected.as_bytes().to_vec()),
                "{input}"
            );
        }
        assert!(StaticMap::new("op", &config("{name: static_map}")).is_err());
    }

    #[test]
    fn regexp_keeps_matching_inputs_and_skips_the_rest() {
        let regexps = Regexps::new(
            "comm",
            &config("{name: regexp, regexps: ['^nmtest-', '^curl$']}"),
        )
        .unwrap();
        let cases: &[(&str, bool)] = &[
            ("nmtest-42", true),
            ("curl", true),
            ("curly", false),
            ("bash", false),
        ];
        for (input, kept) in cases {
            let step = regexps.decode(input.as_bytes().to_vec());
            assert_eq!(step != Step::Skip, *kept, "{input}");
        }
        let bad = Regexps::new("comm", &config("{name: regexp, regexps: ['(']}")).unwrap_err();
        assert!(
            bad.to_string().starts_with("label comm: regexp \"(\": "),
            "{bad}"
        );
    }
}
