//! The Prometheus collector of the custom programs: at every scrape it reads
//! each metric's map, decodes the keys and builds the families; in between
//! it does nothing (the kernel aggregates). It also exports each entry's
//! state and its load and scrape errors, so a program that is not running
//! shows on a dashboard, not only in a log line.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram as ProtoHistogram, LabelPair, Metric, MetricFamily,
    MetricType,
};
use tracing::debug;

use super::config::{BucketType, Histogram};
use super::decoders::{bytes_uint, DecodeEnv};
use super::load::{LoadedEntry, MetricKind, MetricMap};
use super::maps;
use super::{EntryState, ProgramStatus};

pub const STATE_METRIC: &str = "netmon_program_state";
pub const LOAD_ERRORS_METRIC: &str = "netmon_program_load_errors_total";
pub const SCRAPE_ERRORS_METRIC: &str = "netmon_program_scrape_errors_total";

/// One entry as the collector keeps it.
pub struct CollectedEntry {
    pub status: ProgramStatus,
    pub loaded: Option<LoadedEntry>,
}

pub struct ProgramCollector {
    prefix: String,
    node: String,
    entries: Vec<CollectedEntry>,
    env: DecodeEnv,
    cpus: usize,
    descs: Vec<Desc>,
    /// (entry, metric, reason) → count.
    scrape_errors: Mutex<BTreeMap<(String, String, &'static str), u64>>,
}

impl ProgramCollector {
    pub fn new(prefix: &str, node: &str, entries: Vec<CollectedEntry>, env: DecodeEnv) -> Self {
        let mut descs = Vec::new();
        let own = [
            (STATE_METRIC, "Custom program entries by state (1 for the current one)", vec!["program", "state"]),
            (LOAD_ERRORS_METRIC, "Custom program load errors: 1 for an entry that failed, else the object's programs that were skipped", vec!["program"]),
            (SCRAPE_ERRORS_METRIC, "Custom program map entries that could not be read or decoded at scrape time", vec!["program", "metric", "reason"]),
        ];
        for (name, help, labels) in own {
            let labels = labels.into_iter().map(String::from).collect();
            descs.extend(Desc::new(
                name.to_string(),
                help.to_string(),
                labels,
                HashMap::new(),
            ));
        }
        for entry in &entries {
            for metric in entry.loaded.iter().flat_map(|l| &l.metrics) {
                let mut labels: Vec<String> = metric
                    .labels
                    .iter()
                    .flat_map(|(decoder, _, _)| decoder.output_names())
                    .collect();
                labels.push("node".to_string());
                descs.extend(Desc::new(
                    format!("{prefix}{}", metric.name),
                    metric.help.clone(),
                    labels,
                    HashMap::new(),
                ));
            }
        }
        ProgramCollector {
            prefix: prefix.to_string(),
            node: node.to_string(),
            entries,
            env,
            cpus: aya::util::nr_cpus().unwrap_or(1),
            descs,
            scrape_errors: Mutex::new(BTreeMap::new()),
        }
    }

    fn count_error(&self, entry: &str, metric: &str, reason: &'static str) {
        *self
            .scrape_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((entry.to_string(), metric.to_string(), reason))
            .or_default() += 1;
    }

    fn read_metric(&self, entry: &str, metric: &MetricMap) -> Option<MetricFamily> {
        let entries = match maps::read_all(metric.fd(), metric.key_size, metric.per_cpu, self.cpus)
        {
            Ok(read) => {
                if read.truncated {
                    self.count_error(entry, &metric.name, "truncated");
                }
                read.entries
            }
            Err(error) => {
                debug!(program = entry, metric = %metric.name, %error, "map unreadable");
                self.count_error(entry, &metric.name, "read");
                return None;
            }
        };
        // Label values → counter value, or → (bucket key → count).
        let mut counters: BTreeMap<Vec<String>, u64> = BTreeMap::new();
        let mut histograms: BTreeMap<Vec<String>, HashMap<u64, u64>> = BTreeMap::new();
        'entries: for (key, value) in entries {
            let mut values = Vec::new();
            for (decoder, offset, size) in &metric.labels {
                match decoder.decode(&key[*offset..offset + size], &self.env) {
                    Ok(Some(decoded)) => values.extend(decoded),
                    Ok(None) => continue 'entries,
                    Err(error) => {
                        debug!(program = entry, metric = %metric.name, %error, "key not decoded");
                        self.count_error(entry, &metric.name, "decode");
                        continue 'entries;
                    }
                }
            }
            values.push(self.node.clone());
            match metric.bucket {
                // Keys that decode alike (two cgroups of one container)
                // add up instead of making duplicate series.
                None => *counters.entry(values).or_default() += value,
                Some((offset, size)) => {
                    let Some(bucket) = bytes_uint(&key[offset..offset + size]) else {
                        self.count_error(entry, &metric.name, "decode");
                        continue;
                    };
                    *histograms
                        .entry(values)
                        .or_default()
                        .entry(bucket)
                        .or_default() += value;
                }
            }
        }
        let names: Vec<String> = metric
            .labels
            .iter()
            .flat_map(|(decoder, _, _)| decoder.output_names())
            .chain(["node".to_string()])
            .collect();
        let mut family = MetricFamily::default();
        family.set_name(format!("{}{}", self.prefix, metric.name));
        family.set_help(metric.help.clone());
        match &metric.kind {
            MetricKind::Counter => {
                family.set_field_type(MetricType::COUNTER);
                for (values, value) in counters {
                    let mut counter = Counter::default();
                    counter.set_value(value as f64);
                    let mut m = Metric::from_label(label_pairs(&names, values));
                    m.set_counter(counter);
                    family.mut_metric().push(m);
                }
            }
            MetricKind::Histogram(config) => {
                family.set_field_type(MetricType::HISTOGRAM);
                for (values, buckets) in histograms {
                    let mut m = Metric::from_label(label_pairs(&names, values));
                    m.set_histogram(histogram(config, &buckets));
                    family.mut_metric().push(m);
                }
            }
        }
        Some(family)
    }

    fn own_families(&self) -> Vec<MetricFamily> {
        let gauge_family = |name: &str, help: &str, kind| {
            let mut family = MetricFamily::default();
            family.set_name(name.to_string());
            family.set_help(help.to_string());
            family.set_field_type(kind);
            family
        };
        let mut state = gauge_family(
            STATE_METRIC,
            "Custom program entries by state (1 for the current one)",
            MetricType::GAUGE,
        );
        let mut load_errors = gauge_family(LOAD_ERRORS_METRIC, "Custom program load errors: 1 for an entry that failed, else the object's programs that were skipped", MetricType::COUNTER);
        for entry in &self.entries {
            for candidate in EntryState::ALL {
                let mut gauge = Gauge::default();
                gauge.set_value(f64::from(u8::from(entry.status.state == candidate)));
                let mut m = Metric::from_label(label_pairs(
                    &["program".into(), "state".into()],
                    vec![entry.status.name.clone(), candidate.as_str().to_string()],
                ));
                m.set_gauge(gauge);
                state.mut_metric().push(m);
            }
            let mut counter = Counter::default();
            counter.set_value(entry.status.load_errors() as f64);
            let mut m = Metric::from_label(label_pairs(
                &["program".into()],
                vec![entry.status.name.clone()],
            ));
            m.set_counter(counter);
            load_errors.mut_metric().push(m);
        }
        let mut scrape_errors = gauge_family(
            SCRAPE_ERRORS_METRIC,
            "Custom program map entries that could not be read or decoded at scrape time",
            MetricType::COUNTER,
        );
        let errors = self.scrape_errors.lock().unwrap_or_else(|e| e.into_inner());
        for ((entry, metric, reason), count) in errors.iter() {
            let mut counter = Counter::default();
            counter.set_value(*count as f64);
            let mut m = Metric::from_label(label_pairs(
                &["program".into(), "metric".into(), "reason".into()],
                vec![entry.clone(), metric.clone(), reason.to_string()],
            ));
            m.set_counter(counter);
            scrape_errors.mut_metric().push(m);
        }
        vec![state, load_errors, scrape_errors]
    }
}

fn label_pairs(names: &[String], values: Vec<String>) -> Vec<LabelPair> {
    names
        .iter()
        .zip(values)
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name(name.clone());
            pair.set_value(value);
            pair
        })
        .collect()
}

/// ebpf_exporter's reading of a bucketed map: every configured bucket is
/// present (missing keys count 0), counts are made cumulative, and the key
/// just past the last bucket, if the program fills it, holds the sum.
pub(crate) fn histogram(config: &Histogram, buckets: &HashMap<u64, u64>) -> ProtoHistogram {
    let multiplier = config.multiplier();
    let keys: Vec<(u64, f64)> = match config.bucket_type {
        BucketType::Fixed => config
            .bucket_keys
            .iter()
            .map(|&k| (k as u64, k * multiplier))
            .collect(),
        kind => (config.bucket_min.max(0) as u64..=config.bucket_max.max(0) as u64)
            .map(|i| {
                let bound = match kind {
                    BucketType::Exp2 => 2f64.powi(i as i32),
                    BucketType::Exp2zero if i == 0 => 0.0,
                    BucketType::Exp2zero => 2f64.powi(i as i32 - 1),
                    _ => i as f64,
                };
                (i, bound * multiplier)
            })
            .collect(),
    };
    let mut cumulative = 0u64;
    let mut out = Vec::with_capacity(keys.len());
    for (key, bound) in &keys {
        cumulative += buckets.get(key).copied().unwrap_or(0);
        let mut bucket = Bucket::default();
        bucket.set_upper_bound(*bound);
        bucket.set_cumulative_count(cumulative);
        out.push(bucket);
    }
    let sum_key = keys.last().map_or(0, |(k, _)| k + 1);
    let mut histogram = ProtoHistogram::default();
    histogram.set_sample_count(cumulative);
    histogram.set_sample_sum(buckets.get(&sum_key).copied().unwrap_or(0) as f64 * multiplier);
    histogram.set_bucket(out);
    histogram
}

impl Collector for ProgramCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families = Vec::new();
        for entry in &self.entries {
            for metric in entry.loaded.iter().flat_map(|l| &l.metrics) {
                families.extend(self.read_metric(&entry.status.name, metric));
            }
        }
        families.extend(self.own_families());
        families
    }
}

#[cfg(test)]
impl ProgramCollector {
    /// A collector of one entry that failed to load, with one scrape error
    /// counted: every `netmon_program_*` family has a series.
    pub(crate) fn with_failed_entry(name: &str) -> Self {
        let status = ProgramStatus {
            name: name.to_string(),
            object: format!("/programs/{name}.bpf.o"),
            config: format!("/programs/{name}.yaml"),
            state: EntryState::Failed,
            error: Some("not an ELF object".into()),
            metrics: Vec::new(),
            programs: Vec::new(),
        };
        let collector = ProgramCollector::new(
            "ebpf_exporter_",
            "node-1",
            vec![CollectedEntry {
                status,
                loaded: None,
            }],
            super::decoders::tests::empty_env(),
        );
        collector.count_error(name, "latency", "decode");
        collector
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Histogram {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn bounds_and_counts(h: &ProtoHistogram) -> Vec<(f64, u64)> {
        h.get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect()
    }

    #[test]
    fn each_bucket_type_spells_its_bounds_as_ebpf_exporter_does() {
        let counts: HashMap<u64, u64> = [(0, 1), (1, 2), (3, 4), (4, 100)].into();
        let cases = [
            (
                "{name: x, help: h, bucket_type: exp2, bucket_min: 0, bucket_max: 3, bucket_multiplier: 0.5}",
                vec![(0.5, 1), (1.0, 3), (2.0, 3), (4.0, 7)],
                50.0,
            ),
            (
                "{name: x, help: h, bucket_type: exp2zero, bucket_min: 0, bucket_max: 3}",
                vec![(0.0, 1), (1.0, 3), (2.0, 3), (4.0, 7)],
                100.0,
            ),
            (
                "{name: x, help: h, bucket_type: linear, bucket_min: 1, bucket_max: 3, bucket_multiplier: 10}",
                vec![(10.0, 2), (20.0, 2), (30.0, 6)],
                1000.0,
            ),
            (
                "{name: x, help: h, bucket_type: fixed, bucket_keys: [1, 3]}",
                vec![(1.0, 2), (3.0, 6)],
                100.0,
            ),
        ];
        for (yaml, expected, sum) in cases {
            let h = histogram(&config(yaml), &counts);
            assert_eq!(bounds_and_counts(&h), expected, "{yaml}");
            assert_eq!(h.get_sample_count(), expected.last().unwrap().1, "{yaml}");
            assert_eq!(h.get_sample_sum(), sum, "{yaml}");
        }
    }
}
