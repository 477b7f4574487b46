//! Loading one `programs` entry: its YAML, its object, the check of every
//! metric's labels against its map's key type, then each program of the
//! object loaded and attached. Anything wrong with the entry as a whole
//! (unreadable files, a YAML that does not match the object, an object
//! aya cannot parse) fails the entry; a single program the kernel refuses
//! is skipped with its reason and the others run.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd};

use aya::maps::{Map, MapData};
use aya::{Ebpf, EbpfLoader};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use thiserror::Error;
use tracing::{info, warn};

use super::attach::{load_and_attach, AttachContext};
use super::btf;
use super::config::{ConfigError, Histogram, Label, ProgramConfig};
use super::decoders::{DecoderError, KernelSymbols, LabelDecoder};
use super::layout;
use crate::config::ProgramEntry;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("reading the object {path}: {source}")]
    ReadObject {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the object {path}: {reason}")]
    Object { path: String, reason: String },
    #[error("metric {metric}: {reason}")]
    Metric { metric: String, reason: String },
    #[error("metric {metric}: {source}")]
    Decoder {
        metric: String,
        #[source]
        source: DecoderError,
    },
    #[error("kaddrs: the kernel has no symbol {0} (or /proc/kallsyms hides addresses)")]
    Kaddr(String),
    #[error("none of the object's programs could run: {0}")]
    NothingAttached(String),
}

/// How a metric's map is read.
pub enum MetricKind {
    Counter,
    Histogram(Histogram),
}

/// One metric of a loaded entry: its map and how to decode its keys.
pub struct MetricMap {
    pub name: String,
    pub help: String,
    pub kind: MetricKind,
    /// The labels before the bucket: decoder, offset in the key, size.
    pub labels: Vec<(LabelDecoder, usize, usize)>,
    /// A histogram's bucket label: offset and size.
    pub bucket: Option<(usize, usize)>,
    pub map: MapData,
    pub key_size: usize,
    pub value_size: usize,
    /// Per-CPU maps hold one value per possible CPU, summed when read.
    pub per_cpu: bool,
}

impl MetricMap {
    pub fn fd(&self) -> i32 {
        self.map.fd().as_fd().as_raw_fd()
    }
}

/// A program of the object that runs, or why it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramOutcome {
    pub program: String,
    pub section: String,
    pub result: Result<String, String>,
}

/// A loaded entry. Dropping it detaches its programs and frees its maps.
pub struct LoadedEntry {
    pub metrics: Vec<MetricMap>,
    pub programs: Vec<ProgramOutcome>,
    _ebpf: Ebpf,
}

pub fn load(
    entry: &ProgramEntry,
    symbols: &KernelSymbols,
    context: &AttachContext,
) -> Result<LoadedEntry, LoadError> {
    let config = ProgramConfig::read(&entry.config)?;
    let shown = entry.object.display().to_string();
    let bytes = std::fs::read(&entry.object).map_err(|source| LoadError::ReadObject {
        path: shown.clone(),
        source,
    })?;
    let object_error = |reason: String| LoadError::Object {
        path: shown.clone(),
        reason,
    };
    let keys = btf::map_keys(&bytes).map_err(|e| object_error(e.to_string()))?;
    let sections = program_sections(&bytes).map_err(object_error)?;

    // Checked before anything reaches the kernel, so a YAML that does not
    // match its object costs nothing.
    let mut checked = Vec::new();
    for (name, help, labels, kind) in metric_specs(&config) {
        if let Some(key) = keys.get(name) {
            layout::check(labels, key).map_err(|reason| LoadError::Metric {
                metric: name.to_string(),
                reason,
            })?;
        }
        checked.push((name, help, labels, kind));
    }

    let kaddrs: Vec<(String, u64)> = config
        .kaddrs
        .iter()
        .map(|name| {
            symbols
                .address(name)
                .map(|address| (format!("kaddr_{name}"), address))
                .ok_or_else(|| LoadError::Kaddr(name.clone()))
        })
        .collect::<Result<_, _>>()?;
    let mut loader = EbpfLoader::new();
    for (global, address) in &kaddrs {
        loader.override_global(global.as_str(), address, true);
    }
    let mut ebpf = loader
        .load(&bytes)
        .map_err(|e| object_error(error_chain(&e)))?;

    let mut metrics = Vec::new();
    for (name, help, labels, kind) in checked {
        let map = ebpf.take_map(name).ok_or_else(|| LoadError::Metric {
            metric: name.to_string(),
            reason: format!("the object has no map named {name}"),
        })?;
        metrics.push(metric_map(name, help, labels, kind, map)?);
    }

    let mut programs = Vec::new();
    for (name, program) in ebpf.programs_mut() {
        let section = sections.get(name).cloned().unwrap_or_default();
        let result = load_and_attach(program, &section, &entry.interfaces, context)
            .map_err(|e| shorten(&error_chain(&e)));
        match &result {
            Ok(target) => {
                info!(entry = %entry.name, program = name, attached = %target, "custom program attached")
            }
            Err(reason) => {
                warn!(entry = %entry.name, program = name, %section, %reason, "custom program skipped")
            }
        }
        programs.push(ProgramOutcome {
            program: name.to_string(),
            section,
            result,
        });
    }
    programs.sort_by(|a, b| a.program.cmp(&b.program));
    if !programs.iter().any(|p| p.result.is_ok()) {
        let reasons: Vec<String> = programs
            .iter()
            .map(|p| format!("{}: {}", p.program, p.result.clone().unwrap_err()))
            .collect();
        return Err(LoadError::NothingAttached(if reasons.is_empty() {
            "the object has no programs".to_string()
        } else {
            reasons.join("; ")
        }));
    }
    Ok(LoadedEntry {
        metrics,
        programs,
        _ebpf: ebpf,
    })
}

type Spec<'a> = (&'a str, &'a str, &'a [Label], MetricKind);

fn metric_specs(config: &ProgramConfig) -> Vec<Spec<'_>> {
    let counters = config.metrics.counters.iter().map(|c| {
        (
            c.name.as_str(),
            c.help.as_str(),
            &c.labels[..],
            MetricKind::Counter,
        )
    });
    let histograms = config.metrics.histograms.iter().map(|h| {
        (
            h.name.as_str(),
            h.help.as_str(),
            &h.labels[..],
            MetricKind::Histogram(h.clone()),
        )
    });
    counters.chain(histograms).collect()
}

fn metric_map(
    name: &str,
    help: &str,
    labels: &[Label],
    kind: MetricKind,
    map: Map,
) -> Result<MetricMap, LoadError> {
    let metric_error = |reason: String| LoadError::Metric {
        metric: name.to_string(),
        reason,
    };
    let (data, per_cpu) = match map {
        Map::HashMap(data) | Map::LruHashMap(data) | Map::Array(data) => (data, false),
        Map::PerCpuHashMap(data) | Map::PerCpuLruHashMap(data) | Map::PerCpuArray(data) => {
            (data, true)
        }
        other => {
            return Err(metric_error(format!(
                "map type {other:?} cannot be read as a metric (hash, LRU hash or array, per-CPU or not)"
            )))
        }
    };
    let info = data
        .info()
        .map_err(|e| metric_error(format!("reading the map's info: {e}")))?;
    let (key_size, value_size) = (info.key_size() as usize, info.value_size() as usize);
    if value_size != 8 {
        return Err(metric_error(format!(
            "the map's values are {value_size} bytes; metrics read a u64 (8 bytes)"
        )));
    }
    let covered: usize = labels.iter().map(|l| l.size + l.padding).sum();
    if covered != key_size {
        return Err(metric_error(format!(
            "the labels with their padding cover {covered} bytes but the map's keys are {key_size} bytes"
        )));
    }
    let histogram = matches!(kind, MetricKind::Histogram(_));
    let mut offset = 0;
    let mut decoders = Vec::new();
    let mut bucket = None;
    for (index, label) in labels.iter().enumerate() {
        if histogram && index + 1 == labels.len() {
            bucket = Some((offset, label.size));
        } else {
            let decoder = LabelDecoder::new(label).map_err(|source| LoadError::Decoder {
                metric: name.to_string(),
                source,
            })?;
            decoders.push((decoder, offset, label.size));
        }
        offset += label.size + label.padding;
    }
    // `node` is added to every series; the kubernetes decoder adds three
    // names of its own: none may appear twice in one series.
    let mut seen = std::collections::HashSet::from(["node".to_string()]);
    for (decoder, _, _) in &decoders {
        for output in decoder.output_names() {
            if !seen.insert(output.clone()) {
                return Err(metric_error(format!(
                    "label {output} appears twice (netmon adds node to every series, and the \
                     kubernetes decoder namespace, pod and container)"
                )));
            }
        }
    }
    Ok(MetricMap {
        name: name.to_string(),
        help: help.to_string(),
        kind,
        labels: decoders,
        bucket,
        map: data,
        key_size,
        value_size,
        per_cpu,
    })
}

/// Program (function) name → ELF section name, which says where it attaches.
fn program_sections(bytes: &[u8]) -> Result<HashMap<String, String>, String> {
    let file = object::File::parse(bytes).map_err(|e| format!("not an ELF object: {e}"))?;
    let mut sections = HashMap::new();
    for symbol in file.symbols() {
        if symbol.kind() != SymbolKind::Text || !symbol.is_global() {
            continue;
        }
        let Some(index) = symbol.section_index() else {
            continue;
        };
        let (Ok(name), Ok(section)) = (symbol.name(), file.section_by_index(index)) else {
            continue;
        };
        if let Ok(section_name) = section.name() {
            sections.insert(name.to_string(), section_name.to_string());
        }
    }
    Ok(sections)
}

/// Longest reason kept whole in the log and the status.
const MAX_REASON: usize = 2_000;

/// A verifier log runs to thousands of lines; its first lines say which
/// program and its last ones why it was refused, so those are kept.
pub(crate) fn shorten(reason: &str) -> String {
    if reason.len() <= MAX_REASON {
        return reason.to_string();
    }
    let head_end = floor_char_boundary(reason, 500);
    let tail_start = floor_char_boundary(reason, reason.len() - 1_200);
    let cut = reason[head_end..tail_start].lines().count();
    format!(
        "{} […{cut} lines cut…] {}",
        &reason[..head_end],
        &reason[tail_start..]
    )
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// An error and its sources on one line: aya's top-level messages
/// ("the BPF_PROG_LOAD syscall failed") say little without the cause.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reasons_keep_their_start_and_end() {
        assert_eq!(shorten("short"), "short");
        let log: String = (0..1_000).map(|i| format!("{i}: r1 = r2\n")).collect();
        let reason = format!("loading: verifier says:\n{log}invalid mem access 'scalar'");
        let short = shorten(&reason);
        assert!(short.len() < 1_800, "{}", short.len());
        assert!(
            short.starts_with("loading: verifier says:\n0: r1 = r2"),
            "{short}"
        );
        assert!(short.ends_with("invalid mem access 'scalar'"), "{short}");
        assert!(short.contains("lines cut…]"), "{short}");
    }
}
