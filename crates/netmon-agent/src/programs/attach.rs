//! Loading one program of a custom object into the kernel and attaching it
//! where its ELF section says, as libbpf and ebpf_exporter do:
//! `tracepoint/<category>/<name>` (or `tp/`), `raw_tracepoint/<name>` (or
//! `raw_tp/`), `tp_btf/<name>`, `kprobe/<function>`, `kretprobe/<function>`,
//! `uprobe/<binary>:<symbol>`, `uretprobe/<binary>:<symbol>`,
//! `classifier[/ingress|/egress]` (on the entry's `interfaces`),
//! `cgroup_skb/ingress|egress`, `cgroup/<sock attach point>` and `sockops`
//! (on the cgroup v2 root). The links belong to the program: they go away
//! with the object.

use std::fs::File;
use std::path::{Path, PathBuf};

use aya::programs::uprobe::UProbeScope;
use aya::programs::{
    tc::TcAttachOptions, CgroupAttachMode, CgroupSkbAttachType, LinkOrder, Program, ProgramError,
    TcAttachType,
};
use aya::Btf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AttachError {
    /// The program cannot run here for a reason the agent knows up front.
    #[error("{0}")]
    Unsupported(String),
    /// The kernel (verifier, attach) refused it.
    #[error("{what}: {source}")]
    Kernel {
        what: String,
        #[source]
        source: ProgramError,
    },
    #[error("opening the cgroup v2 root {path}: {source}")]
    Cgroup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the machine offers to attach to.
pub struct AttachContext {
    /// The kernel's BTF, for `tp_btf` programs.
    pub btf: Option<Btf>,
    /// Whether the kernel has kprobes (`CONFIG_KPROBES`); kernels without
    /// them have no `kprobe` event source.
    pub kprobes: bool,
    /// Where cgroup programs attach (the cgroup v2 root sees every process).
    pub cgroup_root: PathBuf,
}

impl AttachContext {
    pub fn system(cgroup_root: PathBuf) -> Self {
        AttachContext {
            btf: Btf::from_sys_fs().ok(),
            kprobes: Path::new("/sys/bus/event_source/devices/kprobe").exists(),
            cgroup_root,
        }
    }
}

fn kernel(what: impl Into<String>) -> impl FnOnce(ProgramError) -> AttachError {
    let what = what.into();
    move |source| AttachError::Kernel { what, source }
}

/// Loads a cgroup program and attaches it to the cgroup v2 root (which
/// sees every process) in single mode; returns where, after `what`. A
/// macro: aya's cgroup program types share these calls but no trait.
macro_rules! attach_to_cgroup_root {
    ($program:expr, $context:expr, $what:expr) => {{
        let cgroup = open_cgroup(&$context.cgroup_root)?;
        $program.load().map_err(kernel("loading"))?;
        $program
            .attach(&cgroup, CgroupAttachMode::Single)
            .map_err(kernel("attaching to the cgroup v2 root"))?;
        Ok(format!("{} on {}", $what, $context.cgroup_root.display()))
    }};
}

/// Loads `program` (section `section`) and attaches it; `interfaces` are
/// the entry's, for classifiers. Returns where it attached.
pub fn load_and_attach(
    program: &mut Program,
    section: &str,
    interfaces: &[String],
    context: &AttachContext,
) -> Result<String, AttachError> {
    let (kind, target) = section.split_once('/').unwrap_or((section, ""));
    let unsupported = |why: String| Err(AttachError::Unsupported(why));
    match (kind, program) {
        ("tracepoint" | "tp", Program::TracePoint(p)) => {
            let Some((category, name)) = target.split_once('/') else {
                return unsupported(format!(
                    "section {section}: a tracepoint section is tracepoint/<category>/<name>"
                ));
            };
            p.load().map_err(kernel("loading"))?;
            p.attach(category, name)
                .map_err(kernel(format!("attaching to tracepoint {category}:{name}")))?;
            Ok(format!("tracepoint {category}:{name}"))
        }
        ("raw_tracepoint" | "raw_tp", Program::RawTracePoint(p)) => {
            p.load().map_err(kernel("loading"))?;
            p.attach(target)
                .map_err(kernel(format!("attaching to raw tracepoint {target}")))?;
            Ok(format!("raw tracepoint {target}"))
        }
        ("tp_btf", Program::BtfTracePoint(p)) => {
            let Some(btf) = &context.btf else {
                return unsupported(
                    "tp_btf needs the kernel's BTF, which this kernel lacks".into(),
                );
            };
            p.load(target, btf).map_err(kernel("loading"))?;
            p.attach()
                .map_err(kernel(format!("attaching to BTF tracepoint {target}")))?;
            Ok(format!("BTF tracepoint {target}"))
        }
        ("kprobe" | "kretprobe", Program::KProbe(p)) => {
            if !context.kprobes {
                return unsupported(format!(
                    "{kind} {target}: this kernel has no kprobes (CONFIG_KPROBES is off); \
                     a tracepoint or raw tracepoint can often observe the same event"
                ));
            }
            p.load().map_err(kernel("loading"))?;
            p.attach(target, 0)
                .map_err(kernel(format!("attaching {kind} to {target}")))?;
            Ok(format!("{kind} {target}"))
        }
        ("uprobe" | "uretprobe", Program::UProbe(p)) => {
            let Some((binary, symbol)) = target.rsplit_once(':') else {
                return unsupported(format!(
                    "section {section}: netmon attaches {kind}/<binary>:<symbol> sections"
                ));
            };
            p.load().map_err(kernel("loading"))?;
            p.attach(symbol, binary, UProbeScope::AllProcesses)
                .map_err(kernel(format!("attaching {kind} to {binary}:{symbol}")))?;
            Ok(format!("{kind} {binary}:{symbol}"))
        }
        ("classifier", Program::SchedClassifier(p)) => {
            let attach_type = match target {
                "" | "ingress" => TcAttachType::Ingress,
                "egress" => TcAttachType::Egress,
                other => {
                    return unsupported(format!(
                        "section {section}: classifier direction {other:?} is not ingress or egress"
                    ))
                }
            };
            if interfaces.is_empty() {
                return unsupported(format!(
                    "section {section}: a classifier attaches to the interfaces listed in the \
                     programs entry's `interfaces`, and it lists none"
                ));
            }
            p.load().map_err(kernel("loading"))?;
            for interface in interfaces {
                p.attach_with_options(
                    interface,
                    attach_type,
                    TcAttachOptions::TcxOrder(LinkOrder::default()),
                )
                .map_err(kernel(format!(
                    "attaching to {interface} ({attach_type:?})"
                )))?;
            }
            Ok(format!(
                "TCX {} on {}",
                if attach_type == TcAttachType::Egress {
                    "egress"
                } else {
                    "ingress"
                },
                interfaces.join(", ")
            ))
        }
        ("cgroup_skb", Program::CgroupSkb(p)) => {
            let attach_type = match target {
                "ingress" => CgroupSkbAttachType::Ingress,
                "egress" => CgroupSkbAttachType::Egress,
                other => {
                    return unsupported(format!(
                        "section {section}: cgroup_skb direction {other:?} is not ingress or egress"
                    ))
                }
            };
            let cgroup = open_cgroup(&context.cgroup_root)?;
            p.load().map_err(kernel("loading"))?;
            p.attach(&cgroup, attach_type, CgroupAttachMode::Single)
                .map_err(kernel("attaching to the cgroup v2 root"))?;
            Ok(format!(
                "cgroup_skb {target} on {}",
                context.cgroup_root.display()
            ))
        }
        ("cgroup", Program::CgroupSock(p)) => {
            attach_to_cgroup_root!(p, context, format!("cgroup/{target}"))
        }
        ("cgroup", Program::CgroupSockAddr(p)) => {
            attach_to_cgroup_root!(p, context, format!("cgroup/{target}"))
        }
        ("sockops", Program::SockOps(p)) => attach_to_cgroup_root!(p, context, "sockops"),
        _ => unsupported(format!(
            "section {section}: netmon does not attach this kind of program (it attaches \
             tracepoint, raw_tracepoint, tp_btf, kprobe, kretprobe, uprobe, uretprobe, \
             classifier, cgroup_skb, cgroup and sockops sections)"
        )),
    }
}

fn open_cgroup(root: &Path) -> Result<File, AttachError> {
    File::open(root).map_err(|source| AttachError::Cgroup {
        path: root.to_owned(),
        source,
    })
}
