//! The YAML that says how a program's maps become metrics, in cloudflare
//! ebpf_exporter's format (v2): `metrics.counters[]` and
//! `metrics.histograms[]`, each named after its map, with the labels the
//! map key is cut into. An existing ebpf_exporter YAML loads unchanged as
//! long as it uses only what netmon implements; anything else is refused by
//! name (`deny_unknown_fields`) rather than silently ignored, because an
//! ignored key would mean different numbers than the author expects.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Deserializer};
use thiserror::Error;

use super::decoders::DECODER_NAMES;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: serde_yaml::Error,
    },
    /// Every semantic problem, one per line, each naming the metric and label.
    #[error("{path}: {}", .problems.join("; "))]
    Invalid { path: String, problems: Vec<String> },
}

/// One program's YAML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramConfig {
    pub metrics: Metrics,
    /// Kernel symbols whose addresses are written into the object's
    /// `kaddr_<name>` globals before loading, as ebpf_exporter does.
    #[serde(default)]
    pub kaddrs: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    pub counters: Vec<Counter>,
    pub histograms: Vec<Histogram>,
}

/// A counter: one series per distinct decoded key, the value is the map's
/// u64 value (summed over CPUs for per-CPU maps).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counter {
    /// The map's name, and the metric's name after the prefix.
    pub name: String,
    pub help: String,
    #[serde(default)]
    pub labels: Vec<Label>,
}

/// A histogram: the key's last label is the bucket; the map's values are
/// per-bucket counts that become cumulative Prometheus buckets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Histogram {
    pub name: String,
    pub help: String,
    pub bucket_type: BucketType,
    /// Scales each bucket's bound (and the sum); 0 or absent means 1, as in
    /// ebpf_exporter.
    #[serde(default)]
    pub bucket_multiplier: f64,
    #[serde(default)]
    pub bucket_min: i64,
    #[serde(default)]
    pub bucket_max: i64,
    /// The bucket keys of a `fixed` histogram, in increasing order.
    #[serde(default)]
    pub bucket_keys: Vec<f64>,
    #[serde(default)]
    pub labels: Vec<Label>,
}

impl Histogram {
    pub fn multiplier(&self) -> f64 {
        if self.bucket_multiplier == 0.0 {
            1.0
        } else {
            self.bucket_multiplier
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BucketType {
    /// Key i counts values around 2^i: bound 2^i × multiplier.
    Exp2,
    /// Key 0 counts zeros, key i ≥ 1 values around 2^(i-1).
    Exp2zero,
    /// Key i: bound i × multiplier.
    Linear,
    /// The keys are the bounds themselves (`bucket_keys`).
    Fixed,
}

/// A run of `size` bytes of the map key, then `padding` unused bytes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub name: String,
    pub size: usize,
    #[serde(default)]
    pub padding: usize,
    #[serde(default)]
    pub decoders: Vec<DecoderConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderConfig {
    pub name: String,
    /// For `static_map`: input text → label value. YAML keys may be numbers
    /// (`0: read`): they are compared as the text the previous decoder made.
    #[serde(default, deserialize_with = "scalar_map")]
    pub static_map: Option<BTreeMap<String, String>>,
    /// For `regexp`: the value is kept when one of them matches, otherwise
    /// the whole key is skipped.
    #[serde(default)]
    pub regexps: Option<Vec<String>>,
    /// For `static_map`: an unmapped input passes through instead of
    /// becoming `unknown:<input>`.
    #[serde(default)]
    pub allow_unknown: bool,
}

fn scalar_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    use serde::de::Error;
    let raw: Option<serde_yaml::Mapping> = Option::deserialize(deserializer)?;
    let text = |value: &serde_yaml::Value| match value {
        serde_yaml::Value::String(s) => Ok(s.clone()),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        other => Err(D::Error::custom(format!(
            "static_map keys and values must be scalars, got {other:?}"
        ))),
    };
    raw.map(|map| map.iter().map(|(k, v)| Ok((text(k)?, text(v)?))).collect())
        .transpose()
}

impl ProgramConfig {
    /// Reads, parses and checks the YAML at `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses and checks `text`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: ProgramConfig =
            serde_yaml::from_str(text).map_err(|source| ConfigError::Parse {
                path: origin.to_string(),
                source,
            })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: origin.to_string(),
                problems,
            })
        }
    }

    /// What the file says that cannot work, whatever the object holds.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.metrics.counters.is_empty() && self.metrics.histograms.is_empty() {
            out.push("metrics: no counters and no histograms".to_string());
        }
        let mut names = HashSet::new();
        let all = self
            .metrics
            .counters
            .iter()
            .map(|c| ("counters", &c.name, &c.help, &c.labels))
            .chain(
                self.metrics
                    .histograms
                    .iter()
                    .map(|h| ("histograms", &h.name, &h.help, &h.labels)),
            );
        for (kind, name, help, labels) in all {
            let at = format!("metrics.{kind}[{name}]");
            if !valid_metric_name(name) {
                out.push(format!(
                    "{at}: {name:?} is not a valid Prometheus metric name"
                ));
            }
            if !names.insert(name.clone()) {
                out.push(format!("{at}: the map is listed more than once"));
            }
            if help.trim().is_empty() {
                out.push(format!("{at}: help is empty"));
            }
            check_labels(&at, labels, &mut out);
        }
        for histogram in &self.metrics.histograms {
            check_histogram(histogram, &mut out);
        }
        out
    }
}

fn check_labels(at: &str, labels: &[Label], out: &mut Vec<String>) {
    let mut names = HashSet::new();
    for label in labels {
        let here = format!("{at}.labels[{}]", label.name);
        if !valid_label_name(&label.name) {
            out.push(format!(
                "{here}: {:?} is not a valid Prometheus label name",
                label.name
            ));
        }
        if !names.insert(label.name.clone()) {
            out.push(format!("{here}: the label is listed more than once"));
        }
        if label.size == 0 {
            out.push(format!("{here}: size is zero or not set"));
        }
        if label.decoders.is_empty() {
            out.push(format!("{here}: no decoders"));
        }
        for decoder in &label.decoders {
            if !DECODER_NAMES.contains(&decoder.name.as_str()) {
                out.push(format!(
                    "{here}: unknown decoder {:?} (netmon has {})",
                    decoder.name,
                    DECODER_NAMES.join(", ")
                ));
            }
        }
    }
}

fn check_histogram(histogram: &Histogram, out: &mut Vec<String>) {
    let at = format!("metrics.histograms[{}]", histogram.name);
    match histogram.labels.last() {
        None => out.push(format!(
            "{at}: a histogram needs at least its bucket label (the key's last)"
        )),
        Some(bucket) if ![1, 2, 4, 8].contains(&bucket.size) => out.push(format!(
            "{at}.labels[{}]: the bucket label is {} bytes; it is an integer of 1, 2, 4 or 8",
            bucket.name, bucket.size
        )),
        Some(_) => {}
    }
    if histogram.bucket_multiplier < 0.0 || !histogram.bucket_multiplier.is_finite() {
        out.push(format!("{at}: bucket_multiplier must be a positive number"));
    }
    match histogram.bucket_type {
        BucketType::Fixed => {
            if histogram.bucket_keys.is_empty() {
                out.push(format!("{at}: a fixed histogram needs bucket_keys"));
            }
            if histogram.bucket_keys.windows(2).any(|w| w[0] >= w[1]) {
                out.push(format!("{at}: bucket_keys must increase"));
            }
        }
        _ => {
            if histogram.bucket_max <= histogram.bucket_min {
                out.push(format!(
                    "{at}: bucket_max ({}) must be above bucket_min ({})",
                    histogram.bucket_max, histogram.bucket_min
                ));
            }
            if histogram.bucket_min < 0 {
                out.push(format!("{at}: bucket_min must not be negative"));
            }
            if histogram.bucket_max - histogram.bucket_min > 1024 {
                out.push(format!("{at}: more than 1024 buckets"));
            }
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = r#"
metrics:
  histograms:
    - name: tcp_connect_latency_seconds
      help: TCP connect latency
      bucket_type: exp2
      bucket_min: 0
      bucket_max: 26
      bucket_multiplier: 0.000001
      labels:
        - name: subnet
          size: 4
          decoders:
            - name: inet_ip
        - name: outcome
          size: 1
          padding: 3
          decoders:
            - name: uint
            - name: static_map
              static_map:
                0: established
                1: failed
        - name: bucket
          size: 8
          decoders:
            - name: uint
"#;

    #[test]
    fn an_ebpf_exporter_histogram_parses_with_numeric_static_map_keys() {
        let config = ProgramConfig::parse(TCP, "tcp.yaml").unwrap();
        let histogram = &config.metrics.histograms[0];
        assert_eq!(histogram.bucket_type, BucketType::Exp2);
        assert_eq!(histogram.bucket_max, 26);
        assert_eq!(histogram.labels[1].padding, 3);
        let map = histogram.labels[1].decoders[1].static_map.as_ref().unwrap();
        assert_eq!(map.get("1").map(String::as_str), Some("failed"));
    }

    #[test]
    fn keys_ebpf_exporter_has_but_netmon_does_not_are_refused_by_name() {
        let yaml = "metrics:\n  counters:\n    - name: x\n      help: h\n      perf_event_array: true\n      labels: []\n";
        let error = ProgramConfig::parse(yaml, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown field `perf_event_array`"),
            "{error}"
        );
    }

    #[test]
    fn every_semantic_problem_is_reported_with_its_metric_and_label() {
        let yaml = r#"
metrics:
  counters:
    - name: 9bad
      help: ""
      labels:
        - name: comm
          size: 0
          decoders: [{name: nope}]
        - name: comm
          size: 4
  histograms:
    - name: lat
      help: latency
      bucket_type: linear
      bucket_min: 5
      bucket_max: 5
      labels:
        - name: bucket
          size: 16
          decoders: [{name: uint}]
"#;
        let ConfigError::Invalid { problems, .. } =
            ProgramConfig::parse(yaml, "x.yaml").unwrap_err()
        else {
            panic!("expected semantic problems")
        };
        assert_eq!(
            problems,
            [
                "metrics.counters[9bad]: \"9bad\" is not a valid Prometheus metric name",
                "metrics.counters[9bad]: help is empty",
                "metrics.counters[9bad].labels[comm]: size is zero or not set",
                &format!(
                    "metrics.counters[9bad].labels[comm]: unknown decoder \"nope\" (netmon has {})",
                    DECODER_NAMES.join(", ")
                ),
                "metrics.counters[9bad].labels[comm]: the label is listed more than once",
                "metrics.counters[9bad].labels[comm]: no decoders",
                "metrics.histograms[lat].labels[bucket]: the bucket label is 16 bytes; it is an integer of 1, 2, 4 or 8",
                "metrics.histograms[lat]: bucket_max (5) must be above bucket_min (5)",
            ]
        );
    }
}
