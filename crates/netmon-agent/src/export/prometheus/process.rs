//! Memory and CPU use of the agent process, read from `/proc/self`, for
//! `netmon_memory_usage_bytes` and `netmon_cpu_usage_percentage`. The
//! prometheus crate's own process collector needs the `process` feature
//! and exports different names, so this small reader is used instead.

use std::time::{Duration, Instant};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProcessError {
    #[error("reading {path}: {source}")]
    Read {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("unexpected format of {path}: {what}")]
    Format {
        path: &'static str,
        what: &'static str,
    },
}

/// One sample of the process' resource use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessSample {
    /// Resident set size.
    pub rss_bytes: u64,
    /// CPU time used since the previous sample over the wall time elapsed;
    /// 100 is one core busy.
    pub cpu_percent: f64,
}

/// Computes CPU usage as a rate between successive samples.
pub struct ProcessSampler {
    ticks_per_second: f64,
    previous: (Instant, Duration),
}

const STAT: &str = "/proc/self/stat";
const STATUS: &str = "/proc/self/status";

impl ProcessSampler {
    /// Starts measuring CPU usage from now.
    pub fn new() -> Result<Self, ProcessError> {
        // SAFETY: sysconf only reads a system constant.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        // Linux has used 100 ticks per second on every architecture for
        // decades; fall back to it if sysconf fails.
        let ticks_per_second = if ticks > 0 { ticks as f64 } else { 100.0 };
        let cpu = cpu_time(&read(STAT)?, ticks_per_second)?;
        Ok(ProcessSampler {
            ticks_per_second,
            previous: (Instant::now(), cpu),
        })
    }

    pub fn sample(&mut self) -> Result<ProcessSample, ProcessError> {
        let cpu = cpu_time(&read(STAT)?, self.ticks_per_second)?;
        let rss_bytes = rss_bytes(&read(STATUS)?)?;
        let now = Instant::now();
        let (then, cpu_then) = self.previous;
        let wall = now.duration_since(then).as_secs_f64();
        let cpu_percent = if wall > 0.0 {
            cpu.saturating_sub(cpu_then).as_secs_f64() / wall * 100.0
        } else {
            0.0
        };
        self.previous = (now, cpu);
        Ok(ProcessSample {
            rss_bytes,
            cpu_percent,
        })
    }
}

fn read(path: &'static str) -> Result<String, ProcessError> {
    std::fs::read_to_string(path).map_err(|source| ProcessError::Read { path, source })
}

/// User plus system CPU time from `/proc/self/stat`. The command name
/// (field 2) may contain spaces and parentheses, so fields are counted from
/// the last `)`: utime and stime are fields 14 and 15.
fn cpu_time(stat: &str, ticks_per_second: f64) -> Result<Duration, ProcessError> {
    let format = |what| ProcessError::Format { path: STAT, what };
    let after_name = stat
        .rsplit_once(')')
        .ok_or_else(|| format("no command name"))?
        .1;
    let mut fields = after_name.split_whitespace().skip(11);
    let mut ticks = || -> Result<u64, ProcessError> {
        fields
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| format("utime/stime missing or not a number"))
    };
    let total = ticks()? + ticks()?;
    Ok(Duration::from_secs_f64(total as f64 / ticks_per_second))
}

/// `VmRSS:     1234 kB` from `/proc/self/status`.
fn rss_bytes(status: &str) -> Result<u64, ProcessError> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or(ProcessError::Format {
            path: STATUS,
            what: "no VmRSS line in kB",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_utime_plus_stime_even_with_odd_command_names() {
        let stat =
            "42 (net mon) (x)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1000 0 0";
        assert_eq!(cpu_time(stat, 100.0).unwrap(), Duration::from_secs(3));
    }

    #[test]
    fn rss_is_read_from_vmrss_in_kilobytes() {
        let status = "Name:\tnetmon\nVmRSS:\t    2048 kB\nThreads:\t4\n";
        assert_eq!(rss_bytes(status).unwrap(), 2048 * 1024);
        assert!(rss_bytes("Name:\tnetmon\n").is_err());
    }

    #[test]
    fn sampling_this_process_reports_nonzero_memory() {
        let mut sampler = ProcessSampler::new().unwrap();
        let sample = sampler.sample().unwrap();
        assert!(sample.rss_bytes > 0);
        assert!(sample.cpu_percent >= 0.0);
    }
}
