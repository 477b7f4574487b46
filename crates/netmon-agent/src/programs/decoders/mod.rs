//! Decoders turn the bytes of one label's slice of a map key into the
//! label's value, as in ebpf_exporter: a label lists decoders that run in
//! order, each taking what the previous one made (`uint` first turns bytes
//! into decimal text, then `syscall` turns that text into a name). A decoder
//! can also skip the whole key (`regexp` without a match).
//!
//! One file per decoder or small family, each with its table test:
//! `bytes.rs` (uint, hex, string, inet_ip), `mapping.rs` (static_map,
//! regexp), `numbers.rs` (syscall, errno), `ksym.rs`, `ifname.rs`,
//! `cgroup.rs` (cgroup, majorminor), `kubernetes.rs`.

mod bytes;
mod cgroup;
mod errno_table;
mod ifname;
mod ksym;
mod kubernetes;
mod mapping;
mod numbers;
mod syscall_table;

use std::sync::{Arc, RwLock};

use thiserror::Error;

use super::config::{DecoderConfig, Label};
use crate::enrich::k8s::K8sIndex;

pub use cgroup::CgroupPaths;
pub use ksym::KernelSymbols;

/// Every decoder netmon has, in the spelling of the YAML.
pub const DECODER_NAMES: &[&str] = &[
    "uint",
    "hex",
    "string",
    "inet_ip",
    "static_map",
    "regexp",
    "ksym",
    "syscall",
    "errno",
    "ifname",
    "cgroup",
    "majorminor",
    "kubernetes",
];

/// The labels the `kubernetes` decoder puts in place of its one label.
pub const KUBERNETES_LABELS: [&str; 3] = ["namespace", "pod", "container"];

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecoderError {
    #[error("label {label}: unknown decoder {name:?}")]
    Unknown { label: String, name: String },
    #[error("label {label}: decoder {name} needs {what}")]
    MissingOption {
        label: String,
        name: &'static str,
        what: &'static str,
    },
    #[error("label {label}: regexp {expression:?}: {reason}")]
    BadRegexp {
        label: String,
        expression: String,
        reason: String,
    },
    #[error("label {label}: the kubernetes decoder makes three labels, so it must come last")]
    KubernetesNotLast { label: String },
    #[error("label {label}: {decoder} takes {expected}, got {got} bytes")]
    InputSize {
        label: String,
        decoder: &'static str,
        expected: &'static str,
        got: usize,
    },
    #[error("label {label}: {decoder} takes a decimal number, got {input:?}")]
    NotANumber {
        label: String,
        decoder: &'static str,
        input: String,
    },
}

/// What a decoder made of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The input of the next decoder, or the label's value after the last.
    Value(Vec<u8>),
    /// Leave this whole key out of the metric.
    Skip,
}

/// Lookups that decoders need from the machine, shared by every program.
/// Each cache is refreshed when a lookup misses, so new cgroups,
/// interfaces and modules' symbols are found.
pub struct DecodeEnv {
    pub kernel_symbols: KernelSymbols,
    pub cgroups: CgroupPaths,
    /// The pod index from the Kubernetes watches; `None` without Kubernetes
    /// (the `kubernetes` decoder then names no pod).
    pub pods: Option<Arc<RwLock<K8sIndex>>>,
    /// The `kubernetes` decoder's recent answers by cgroup id.
    pub pod_names: kubernetes::Memo,
}

impl DecodeEnv {
    /// The running machine's symbols and cgroups, and `pods` if any.
    pub fn system(pods: Option<Arc<RwLock<K8sIndex>>>) -> Self {
        DecodeEnv {
            kernel_symbols: KernelSymbols::from_proc(),
            cgroups: CgroupPaths::system(),
            pods,
            pod_names: Default::default(),
        }
    }
}

#[derive(Debug, Clone)]
enum Decoder {
    Uint,
    Hex,
    String,
    InetIp,
    StaticMap(mapping::StaticMap),
    Regexp(mapping::Regexps),
    Ksym,
    Syscall,
    Errno,
    Ifname,
    Cgroup,
    MajorMinor,
    Kubernetes,
}

/// One label's decoders, ready to run.
#[derive(Debug, Clone)]
pub struct LabelDecoder {
    label: String,
    steps: Vec<Decoder>,
}

impl LabelDecoder {
    pub fn new(label: &Label) -> Result<Self, DecoderError> {
        let steps = label
            .decoders
            .iter()
            .map(|config| build(&label.name, config))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(at) = steps
            .iter()
            .position(|step| matches!(step, Decoder::Kubernetes))
        {
            if at + 1 != steps.len() {
                return Err(DecoderError::KubernetesNotLast {
                    label: label.name.clone(),
                });
            }
        }
        Ok(LabelDecoder {
            label: label.name.clone(),
            steps,
        })
    }

    /// The Prometheus label names this label becomes: its own name, or
    /// namespace/pod/container after the `kubernetes` decoder.
    pub fn output_names(&self) -> Vec<String> {
        if matches!(self.steps.last(), Some(Decoder::Kubernetes)) {
            KUBERNETES_LABELS.iter().map(|s| s.to_string()).collect()
        } else {
            vec![self.label.clone()]
        }
    }

    /// The label values of `input` (one, or three after `kubernetes`), or
    /// `None` when a decoder skips the key.
    pub fn decode(
        &self,
        input: &[u8],
        env: &DecodeEnv,
    ) -> Result<Option<Vec<String>>, DecoderError> {
        let mut value = input.to_vec();
        for step in &self.steps {
            if let Decoder::Kubernetes = step {
                let id = number(&self.label, "kubernetes", &value)?;
                let names = kubernetes::decode(id, env);
                return Ok(Some(names.into()));
            }
            match self.run(step, value, env)? {
                Step::Value(next) => value = next,
                Step::Skip => return Ok(None),
            }
        }
        Ok(Some(vec![String::from_utf8_lossy(&value).into_owned()]))
    }

    fn run(&self, step: &Decoder, input: Vec<u8>, env: &DecodeEnv) -> Result<Step, DecoderError> {
        let label = &self.label;
        let text = |s: String| Ok(Step::Value(s.into_bytes()));
        match step {
            Decoder::Uint => text(bytes::uint(label, &input)?.to_string()),
            Decoder::Hex => text(bytes::hex(&input)),
            Decoder::String => text(bytes::string(&input)),
            Decoder::InetIp => text(bytes::inet_ip(label, &input)?),
            Decoder::StaticMap(map) => Ok(map.decode(input)),
            Decoder::Regexp(regexps) => Ok(regexps.decode(input)),
            Decoder::Ksym => text(env.kernel_symbols.name(bytes::uint(label, &input)?)),
            Decoder::Syscall => text(numbers::syscall(number(label, "syscall", &input)?)),
            Decoder::Errno => text(numbers::errno(number(label, "errno", &input)?)),
            Decoder::Ifname => text(ifname::name(bytes::uint(label, &input)? as u32)),
            Decoder::Cgroup => text(env.cgroups.path(number(label, "cgroup", &input)?)),
            Decoder::MajorMinor => text(cgroup::major_minor(number(label, "majorminor", &input)?)),
            Decoder::Kubernetes => unreachable!("handled by decode"),
        }
    }
}

/// A histogram's bucket key: an unsigned integer of 1, 2, 4 or 8 bytes.
pub fn bytes_uint(input: &[u8]) -> Option<u64> {
    bytes::uint("bucket", input).ok()
}

/// The decimal number a previous `uint` made.
fn number(label: &str, decoder: &'static str, input: &[u8]) -> Result<u64, DecoderError> {
    std::str::from_utf8(input)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| DecoderError::NotANumber {
            label: label.to_string(),
            decoder,
            input: String::from_utf8_lossy(input).into_owned(),
        })
}

fn build(label: &str, config: &DecoderConfig) -> Result<Decoder, DecoderError> {
    Ok(match config.name.as_str() {
        "uint" => Decoder::Uint,
        "hex" => Decoder::Hex,
        "string" => Decoder::String,
        "inet_ip" => Decoder::InetIp,
        "static_map" => Decoder::StaticMap(mapping::StaticMap::new(label, config)?),
        "regexp" => Decoder::Regexp(mapping::Regexps::new(label, config)?),
        "ksym" => Decoder::Ksym,
        "syscall" => Decoder::Syscall,
        "errno" => Decoder::Errno,
        "ifname" => Decoder::Ifname,
        "cgroup" => Decoder::Cgroup,
        "majorminor" => Decoder::MajorMinor,
        "kubernetes" => Decoder::Kubernetes,
        other => {
            return Err(DecoderError::Unknown {
                label: label.to_string(),
                name: other.to_string(),
            })
        }
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An environment with nothing from the machine in it.
    pub(crate) fn empty_env() -> DecodeEnv {
        DecodeEnv {
            kernel_symbols: KernelSymbols::parse(""),
            cgroups: CgroupPaths::under("/nonexistent-cgroup-root"),
            pods: None,
            pod_names: Default::default(),
        }
    }

    fn label(yaml: &str) -> LabelDecoder {
        let label: Label = serde_yaml::from_str(yaml).unwrap();
        LabelDecoder::new(&label).unwrap()
    }

    /// A label's YAML, a key slice, and the values it decodes to (`None`: skipped).
    type Case<'a> = (&'a str, &'a [u8], Option<&'a [&'a str]>);

    #[test]
    fn chains_feed_each_decoder_the_previous_ones_output() {
        let env = empty_env();
        let cases: &[Case] = &[
            (
                "{name: syscall, size: 8, decoders: [{name: uint}, {name: syscall}]}",
                &110u64.to_ne_bytes(),
                Some(&["getppid"]),
            ),
            (
                "{name: err, size: 4, decoders: [{name: uint}, {name: errno}]}",
                &111u32.to_ne_bytes(),
                Some(&["ECONNREFUSED"]),
            ),
            (
                "{name: op, size: 1, decoders: [{name: string}, {name: static_map, static_map: {W: write, R: read}}]}",
                b"W",
                Some(&["write"]),
            ),
            (
                "{name: comm, size: 8, decoders: [{name: string}, {name: regexp, regexps: ['^nmtest-']}]}",
                b"bash\0\0\0\0",
                None,
            ),
        ];
        for (yaml, input, expected) in cases {
            let decoded = label(yaml).decode(input, &env).unwrap();
            let expected = expected.map(|e| e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(decoded, expected, "{yaml}");
        }
    }

    #[test]
    fn the_kubernetes_decoder_names_three_labels_and_must_come_last() {
        let k8s = label("{name: cgroup, size: 8, decoders: [{name: uint}, {name: kubernetes}]}");
        assert_eq!(k8s.output_names(), ["namespace", "pod", "container"]);
        let config: Label = serde_yaml::from_str(
            "{name: cgroup, size: 8, decoders: [{name: uint}, {name: kubernetes}, {name: hex}]}",
        )
        .unwrap();
        assert_eq!(
            LabelDecoder::new(&config).unwrap_err(),
            DecoderError::KubernetesNotLast {
                label: "cgroup".into()
            }
        );
    }

    #[test]
    fn a_text_decoder_given_raw_bytes_says_it_wants_a_number() {
        let env = empty_env();
        let syscall = label("{name: nr, size: 1, decoders: [{name: syscall}]}");
        assert_eq!(
            syscall.decode(&[0x6e], &env).unwrap_err().to_string(),
            "label nr: syscall takes a decimal number, got \"n\""
        );
    }
}
