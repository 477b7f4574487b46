use thiserror::Error;

/// Errors of the eBPF loader. Attach errors name the interface so the agent
/// can log them once and carry on with the other interfaces.
#[derive(Debug, Error)]
pub enum EbpfError {
    #[error("loading the eBPF object: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("program {program}: {source}")]
    Program {
        program: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("map {map}: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("map {0} is missing from the eBPF object")]
    MissingMap(&'static str),
    #[error("program {0} is missing from the eBPF object")]
    MissingProgram(&'static str),
    #[error("attaching to interface {interface} ({hook}): {source}")]
    Attach {
        interface: String,
        hook: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error(transparent)]
    TracepointLayout(#[from] crate::rtt::TracepointLayoutError),
    #[error("reading the kernel's BTF: {source}")]
    Btf {
        #[source]
        source: aya::BtfError,
    },
    #[error("this kernel has no tracepoint {category}:{name}")]
    MissingTracepoint {
        category: &'static str,
        name: &'static str,
    },
    #[error("all per-interface counter slots are in use")]
    NoCounterSlot,
    #[error("{call} on map {map}: {source}")]
    Syscall {
        call: &'static str,
        map: &'static str,
        #[source]
        source: std::io::Error,
    },
}
