//! Custom eBPF programs → Prometheus metrics, in cloudflare ebpf_exporter's
//! format: each `programs` entry is a compiled CO-RE object and a YAML that
//! says how its maps become metrics. They run beside netmon's own programs
//! and never take them down: an entry that fails is reported (log line,
//! `/api/v1/status`, `netmon_program_state`) and skipped.
//!
//! Stages, one file each: `config.rs` (the YAML), `btf.rs` + `layout.rs`
//! (labels checked against the map key's BTF type), `load.rs` (object,
//! maps, programs), `attach.rs` (by section name), `maps.rs` (raw reads),
//! `decoders/` (key bytes → label values), `collector.rs` (scrape time).

mod attach;
mod btf;
pub mod collector;
pub mod config;
pub mod decoders;
mod layout;
mod load;
mod maps;

use std::sync::{Arc, RwLock};

use serde::Serialize;
use tracing::{error, info, warn};

use crate::config::ProgramEntry;
use crate::enrich::k8s::K8sIndex;
use attach::AttachContext;
use collector::{CollectedEntry, ProgramCollector};
use decoders::DecodeEnv;

pub use load::LoadError;

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryState {
    /// Every program of the object attached.
    Running,
    /// Some programs attached, others were skipped (see `programs`).
    Degraded,
    /// Nothing runs (see `error`).
    Failed,
}

impl EntryState {
    pub const ALL: [EntryState; 3] = [
        EntryState::Running,
        EntryState::Degraded,
        EntryState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Running => "running",
            EntryState::Degraded => "degraded",
            EntryState::Failed => "failed",
        }
    }
}

/// One program of an object in the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachStatus {
    pub program: String,
    pub section: String,
    /// Where it attached, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attached: Option<String>,
    /// Why it was skipped, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One `programs` entry in `/api/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgramStatus {
    pub name: String,
    pub object: String,
    pub config: String,
    pub state: EntryState,
    /// Why the entry failed as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The metrics it exports, with the prefix.
    pub metrics: Vec<String>,
    pub programs: Vec<AttachStatus>,
}

impl ProgramStatus {
    /// 1 for a failed entry, else the number of skipped programs.
    pub fn load_errors(&self) -> u64 {
        if self.state == EntryState::Failed {
            1
        } else {
            self.programs.iter().filter(|p| p.error.is_some()).count() as u64
        }
    }
}

/// Loads every entry, registers their metrics in `registry` and returns
/// their statuses. Blocking (objects are read and verified): called once at
/// start-up, before the listeners open. Nothing here stops the agent: a
/// failure is in the returned statuses and the log.
pub fn start(
    entries: &[ProgramEntry],
    prefix: &str,
    node: &str,
    pods: Option<Arc<RwLock<K8sIndex>>>,
    registry: &prometheus::Registry,
) -> Vec<ProgramStatus> {
    if entries.is_empty() {
        return Vec::new();
    }
    let env = DecodeEnv::system(pods);
    let context = AttachContext::system(env.cgroups.root().to_owned());
    let mut collected: Vec<CollectedEntry> = Vec::new();
    for entry in entries {
        let mut status = ProgramStatus {
            name: entry.name.clone(),
            object: entry.object.display().to_string(),
            config: entry.config.display().to_string(),
            state: EntryState::Failed,
            error: None,
            metrics: Vec::new(),
            programs: Vec::new(),
        };
        let loaded = load::load(entry, &env.kernel_symbols, &context).and_then(|loaded| {
            // Two entries exporting one name would make one family of
            // two unrelated maps: the later entry is refused.
            for metric in &loaded.metrics {
                let name = format!("{prefix}{}", metric.name);
                if let Some(other) = collected.iter().find(|c| c.status.metrics.contains(&name)) {
                    return Err(LoadError::Metric {
                        metric: metric.name.clone(),
                        reason: format!(
                            "{name} is already exported by entry {}",
                            other.status.name
                        ),
                    });
                }
            }
            Ok(loaded)
        });
        let loaded = match loaded {
            Ok(loaded) => {
                status.metrics = loaded
                    .metrics
                    .iter()
                    .map(|m| format!("{prefix}{}", m.name))
                    .collect();
                status.programs = loaded
                    .programs
                    .iter()
                    .map(|p| AttachStatus {
                        program: p.program.clone(),
                        section: p.section.clone(),
                        attached: p.result.clone().ok(),
                        error: p.result.clone().err(),
                    })
                    .collect();
                let skipped = status.programs.iter().filter(|p| p.error.is_some()).count();
                status.state = if skipped == 0 {
                    EntryState::Running
                } else {
                    EntryState::Degraded
                };
                if skipped == 0 {
                    info!(program = %entry.name, metrics = ?status.metrics, "custom program running");
                } else {
                    warn!(program = %entry.name, skipped, "custom program running without some of its programs");
                }
                Some(loaded)
            }
            Err(e) => {
                let reason = load::error_chain(&e);
                error!(program = %entry.name, object = %status.object, config = %status.config,
                       error = %reason, "custom program skipped");
                status.error = Some(reason);
                None
            }
        };
        collected.push(CollectedEntry { status, loaded });
    }
    let mut statuses: Vec<ProgramStatus> = collected.iter().map(|c| c.status.clone()).collect();
    if let Err(e) = registry.register(Box::new(ProgramCollector::new(
        prefix, node, collected, env,
    ))) {
        // A name taken by another metric of the registry: the programs
        // would run with nothing reading them, so none is kept.
        error!(error = %e, "custom programs' metrics could not be registered; they are all skipped");
        for status in &mut statuses {
            status.state = EntryState::Failed;
            status.error = Some(format!("registering the metrics: {e}"));
        }
    }
    statuses
}
