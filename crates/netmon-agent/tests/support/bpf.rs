//! What eBPF objects exist on the machine (`bpftool`), to check that the
//! agent leaves none of its programs or links behind.
//!
//! Other test runs may run agents at the same time, and their programs have
//! the same names, so a leak is judged narrowly: a `netmon_*` program (or a
//! link to one) that appeared while our agent ran, still exists after it
//! exited, and is not held open by any live process. Another agent's
//! objects are held by that agent's file descriptors; ours would be held
//! only by a kernel attachment, which is exactly the leak.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use super::run;

/// Name prefix of the agent's programs (names are cut to 15 characters by
/// the kernel, the prefix survives).
pub const PROGRAM_PREFIX: &str = "netmon_";

/// `netmon_*` programs and the links that attach them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BpfObjects {
    /// Program id → name.
    pub programs: BTreeMap<u32, String>,
    /// Link id → program id.
    pub links: BTreeMap<u32, u32>,
}

impl BpfObjects {
    pub fn snapshot() -> BpfObjects {
        let programs: BTreeMap<u32, String> = bpftool_list("prog")
            .into_iter()
            .filter_map(|p| {
                let name = p["name"].as_str()?;
                let id = u32::try_from(p["id"].as_u64()?).ok()?;
                name.starts_with(PROGRAM_PREFIX)
                    .then(|| (id, name.to_string()))
            })
            .collect();
        let links = bpftool_list("link")
            .into_iter()
            .filter_map(|l| {
                let id = u32::try_from(l["id"].as_u64()?).ok()?;
                let program = u32::try_from(l["prog_id"].as_u64()?).ok()?;
                programs.contains_key(&program).then_some((id, program))
            })
            .collect();
        BpfObjects { programs, links }
    }

    /// Objects present here but not in `earlier`.
    pub fn added_since(&self, earlier: &BpfObjects) -> BpfObjects {
        BpfObjects {
            programs: self
                .programs
                .iter()
                .filter(|(id, _)| !earlier.programs.contains_key(id))
                .map(|(id, name)| (*id, name.clone()))
                .collect(),
            links: self
                .links
                .iter()
                .filter(|(id, _)| !earlier.links.contains_key(id))
                .map(|(id, prog)| (*id, *prog))
                .collect(),
        }
    }

    /// Of `candidates`, those that still exist now and that no live
    /// process holds open.
    pub fn leaked_from(candidates: &BpfObjects) -> BpfObjects {
        let now = BpfObjects::snapshot();
        let held = HeldIds::scan();
        BpfObjects {
            programs: candidates
                .programs
                .iter()
                .filter(|(id, _)| now.programs.contains_key(id) && !held.programs.contains(id))
                .map(|(id, name)| (*id, name.clone()))
                .collect(),
            links: candidates
                .links
                .iter()
                .filter(|(id, _)| now.links.contains_key(id) && !held.links.contains(id))
                .map(|(id, prog)| (*id, *prog))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.programs.is_empty() && self.links.is_empty()
    }
}

fn bpftool_list(object: &str) -> Vec<serde_json::Value> {
    let json = run(Command::new("bpftool").args(["-j", object, "show"]));
    serde_json::from_str::<serde_json::Value>(&json)
        .unwrap_or_else(|e| panic!("parse `bpftool -j {object} show` ({e}): {json}"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Program and link ids referenced by open file descriptors of live
/// processes (`prog_id:` / `link_id:` lines of `/proc/*/fdinfo/*`).
struct HeldIds {
    programs: BTreeSet<u32>,
    links: BTreeSet<u32>,
}

impl HeldIds {
    fn scan() -> HeldIds {
        let mut held = HeldIds {
            programs: BTreeSet::new(),
            links: BTreeSet::new(),
        };
        let Ok(processes) = std::fs::read_dir("/proc") else {
            return held;
        };
        for process in processes.flatten() {
            let is_pid = process
                .file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            if !is_pid {
                continue;
            }
            // Processes and descriptors come and go during the scan; any
            // that vanish simply hold nothing.
            let Ok(fds) = std::fs::read_dir(process.path().join("fdinfo")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(info) = std::fs::read_to_string(fd.path()) else {
                    continue;
                };
                for line in info.lines() {
                    let mut fields = line.split_whitespace();
                    let (Some(key), Some(value)) = (fields.next(), fields.next()) else {
                        continue;
                    };
                    let Ok(id) = value.parse::<u32>() else {
                        continue;
                    };
                    match key {
                        "prog_id:" => {
                            held.programs.insert(id);
                        }
                        "link_id:" => {
                            held.links.insert(id);
                        }
                        _ => {}
                    }
                }
            }
        }
        held
    }
}

/// TC programs attached in a namespace, as `bpftool net show` lists them:
/// (interface, program name).
pub fn tc_programs_in(ns: &super::netns::Netns) -> Vec<(String, String)> {
    let json = ns.exec("bpftool", &["-j", "net", "show"]);
    let parsed: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("parse `bpftool -j net show` ({e}): {json}"));
    parsed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|section| section["tc"].as_array())
        .flatten()
        .map(|entry| {
            (
                entry["devname"].as_str().unwrap_or_default().to_string(),
                entry["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}
