//! CPU time, resident memory and thread count of the agent process, read
//! from procfs. Parsing is kept apart from reading so it can be tested with
//! fixed text.

use std::io;
use std::time::Instant;

const STAT_PATH: &str = "/proc/self/stat";
const STATM_PATH: &str = "/proc/self/statm";

/// Errors of reading the agent's own resource usage.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("malformed {path}: {reason}")]
    Malformed { path: &'static str, reason: String },
    #[error("sysconf({name}) returned no usable value")]
    Sysconf { name: &'static str },
}

/// One observation of the agent process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessSample {
    /// User plus system CPU time of all threads since the process started.
    pub cpu_seconds_total: f64,
    /// CPU use between the previous sample (or the sampler's creation) and
    /// this one; 100 means one full core.
    pub cpu_percent_since_last: f64,
    pub rss_bytes: u64,
    pub threads: u64,
}

/// Samples the calling process's resource usage; keeps the previous reading
/// to turn cumulative CPU time into a utilisation.
#[derive(Debug)]
pub struct ProcessSampler {
    ticks_per_second: u64,
    page_size: u64,
    last_usage: Usage,
    last_at: Instant,
}

impl ProcessSampler {
    /// Reads the kernel's units and a first, baseline observation, so a
    /// process without a readable procfs is reported at startup rather than
    /// at every sample.
    pub fn new(now: Instant) -> Result<Self, ProcessError> {
        let ticks_per_second = sysconf(libc::_SC_CLK_TCK, "_SC_CLK_TCK")?;
        let page_size = sysconf(libc::_SC_PAGESIZE, "_SC_PAGESIZE")?;
        Ok(ProcessSampler {
            ticks_per_second,
            page_size,
            last_usage: read_usage()?,
            last_at: now,
        })
    }

    /// Observes the process now. A failed read (say the process ran out of
    /// file descriptors) repeats the previous figures, with no CPU use, and
    /// logs why: a metrics scrape should not fail for it.
    pub fn sample(&mut self, now: Instant) -> ProcessSample {
        let usage = read_usage().unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot sample the agent's resource usage, repeating the previous sample");
            self.last_usage
        });
        let elapsed = now.saturating_duration_since(self.last_at);
        let cpu_percent_since_last = cpu_percent(
            usage.cpu_ticks.saturating_sub(self.last_usage.cpu_ticks),
            self.ticks_per_second,
            elapsed.as_secs_f64(),
        );
        // Keeping the baseline across a zero-length interval lets the CPU
        // time spent in it count towards the next sample instead of vanishing.
        if !elapsed.is_zero() {
            self.last_usage = usage;
            self.last_at = now;
        }
        ProcessSample {
            cpu_seconds_total: usage.cpu_ticks as f64 / self.ticks_per_second as f64,
            cpu_percent_since_last,
            rss_bytes: usage.rss_pages.saturating_mul(self.page_size),
            threads: usage.threads,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Usage {
    cpu_ticks: u64,
    rss_pages: u64,
    threads: u64,
}

fn read_usage() -> Result<Usage, ProcessError> {
    let stat = parse_stat(&read(STAT_PATH)?)?;
    let rss_pages = parse_statm_resident_pages(&read(STATM_PATH)?)?;
    Ok(Usage {
        cpu_ticks: stat.utime_ticks.saturating_add(stat.stime_ticks),
        rss_pages,
        threads: stat.threads,
    })
}

fn read(path: &'static str) -> Result<String, ProcessError> {
    std::fs::read_to_string(path).map_err(|source| ProcessError::Read { path, source })
}

fn sysconf(name: libc::c_int, label: &'static str) -> Result<u64, ProcessError> {
    // SAFETY: sysconf only reads a system constant; it has no pointer
    // arguments and no preconditions.
    let value = unsafe { libc::sysconf(name) };
    u64::try_from(value)
        .ok()
        .filter(|&value| value > 0)
        .ok_or(ProcessError::Sysconf { name: label })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatFields {
    utime_ticks: u64,
    stime_ticks: u64,
    threads: u64,
}

/// Parses `/proc/<pid>/stat`. The second field, the command name in
/// parentheses, is free text that may hold spaces and ')' itself, so the
/// numeric fields are located from the LAST ')' on.
fn parse_stat(text: &str) -> Result<StatFields, ProcessError> {
    let malformed = |reason: String| ProcessError::Malformed {
        path: STAT_PATH,
        reason,
    };
    let close = text
        .rfind(')')
        .ok_or_else(|| malformed("no ')' closing the command name".to_owned()))?;
    // Field 3 (state) is the first one after the command name.
    let fields: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    let field = |number: usize, name: &str| -> Result<u64, ProcessError> {
        let value = fields
            .get(number - 3)
            .ok_or_else(|| malformed(format!("field {number} ({name}) is missing")))?;
        value
            .parse()
            .map_err(|_| malformed(format!("field {number} ({name}) is {value:?}")))
    };
    // Field numbers as documented in proc_pid_stat(5).
    Ok(StatFields {
        utime_ticks: field(14, "utime")?,
        stime_ticks: field(15, "stime")?,
        threads: field(20, "num_threads")?,
    })
}

/// Parses the resident set size, in pages, from `/proc/<pid>/statm`
/// ("size resident shared text lib data dt").
fn parse_statm_resident_pages(text: &str) -> Result<u64, ProcessError> {
    let resident = text
        .split_ascii_whitespace()
        .nth(1)
        .ok_or_else(|| ProcessError::Malformed {
            path: STATM_PATH,
            reason: "the resident field is missing".to_owned(),
        })?;
    resident.parse().map_err(|_| ProcessError::Malformed {
        path: STATM_PATH,
        reason: format!("the resident field is {resident:?}"),
    })
}

/// CPU utilisation over an interval, 100 per fully used core.
fn cpu_percent(ticks: u64, ticks_per_second: u64, elapsed_seconds: f64) -> f64 {
    if elapsed_seconds <= 0.0 || ticks_per_second == 0 {
        return 0.0;
    }
    ticks as f64 / ticks_per_second as f64 / elapsed_seconds * 100.0
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A real line of an idle `sleep` process.
    const SLEEP_STAT: &str = "1234 (sleep) S 1200 1234 1200 34816 1234 4194304 110 0 0 0 \
        7 3 0 0 20 0 1 0 5912345 8605696 128 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 \
        17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn stat_yields_user_and_system_ticks_and_threads() {
        assert_eq!(
            parse_stat(SLEEP_STAT).unwrap(),
            StatFields {
                utime_ticks: 7,
                stime_ticks: 3,
                threads: 1,
            }
        );
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let stat = "77 (netmon (agent) x) R 1 77 77 0 -1 4194560 900 0 0 0 \
            1250 310 0 0 20 0 9 0 100 500000000 4000 18446744073709551615\n";
        assert_eq!(
            parse_stat(stat).unwrap(),
            StatFields {
                utime_ticks: 1250,
                stime_ticks: 310,
                threads: 9,
            }
        );
    }

    #[test]
    fn a_command_name_that_looks_like_fields_does_not_shift_them() {
        let stat = "77 () 1 2 3 4 5 6 7 8 9 10 11 12) S 1 77 77 0 -1 0 0 0 0 0 \
            5 6 0 0 20 0 2 0 100 1 1\n";
        let fields = parse_stat(stat).unwrap();
        assert_eq!(
            (fields.utime_ticks, fields.stime_ticks, fields.threads),
            (5, 6, 2)
        );
    }

    #[test]
    fn stat_without_a_closing_parenthesis_is_malformed() {
        assert!(matches!(
            parse_stat("77 (netmon S 1 2 3"),
            Err(ProcessError::Malformed { .. })
        ));
    }

    #[test]
    fn stat_cut_short_is_malformed() {
        assert!(matches!(
            parse_stat("77 (netmon) S 1 77 77 0 -1 0 0 0 0 0 5"),
            Err(ProcessError::Malformed { .. })
        ));
    }

    #[test]
    fn statm_yields_the_resident_pages() {
        assert_eq!(
            parse_statm_resident_pages("2101 128 110 5 0 81 0\n").unwrap(),
            128
        );
    }

    #[test]
    fn statm_with_a_non_numeric_resident_field_is_malformed() {
        assert!(matches!(
            parse_statm_resident_pages("2101 lots 110"),
            Err(ProcessError::Malformed { .. })
        ));
    }

    #[test]
    fn a_full_core_for_the_whole_interval_is_one_hundred_percent() {
        assert_eq!(cpu_percent(200, 100, 2.0), 100.0);
    }

    #[test]
    fn two_full_cores_are_two_hundred_percent() {
        assert_eq!(cpu_percent(50, 100, 0.25), 200.0);
    }

    #[test]
    fn an_empty_interval_reports_no_cpu_use() {
        assert_eq!(cpu_percent(10, 100, 0.0), 0.0);
    }

    fn process_cpu_time() -> Duration {
        let mut time = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `time` is a valid, writable timespec for the call's duration.
        let result = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut time) };
        assert_eq!(result, 0, "clock_gettime failed");
        Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
    }

    #[test]
    fn sampling_this_process_sees_its_cpu_time_memory_and_threads() {
        let start = Instant::now();
        let mut sampler = ProcessSampler::new(start).unwrap();
        // Burn CPU until the kernel has charged a few clock ticks' worth, so
        // the assertion holds however busy the machine is.
        let spin_until = process_cpu_time() + Duration::from_millis(60);
        let mut spins = 0u64;
        while process_cpu_time() < spin_until {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        let sample = sampler.sample(Instant::now());
        assert!(sample.cpu_seconds_total > 0.0, "{sample:?}");
        assert!(sample.cpu_percent_since_last > 0.0, "{sample:?}");
        assert!(sample.rss_bytes > 0, "{sample:?}");
        assert!(sample.threads >= 1, "{sample:?}");
    }

    #[test]
    fn sampling_twice_at_the_same_instant_reports_no_cpu_use() {
        let now = Instant::now();
        let mut sampler = ProcessSampler::new(now).unwrap();
        assert_eq!(sampler.sample(now).cpu_percent_since_last, 0.0);
    }
}
