//! Behaviour of the configuration as a whole: sources, precedence, and the
//! one-line-per-problem report.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory, Parser};

use super::load::load_with;
use super::*;

const EXAMPLE: &str = include_str!("../../../../deploy/config/netmon.yaml");
const DOCS: &str = include_str!("../../../../docs/configuration.md");

/// The report lines for `yaml`, or an empty list when it is valid.
fn problems_in(yaml: &str) -> Vec<String> {
    match Config::from_yaml_str(yaml) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.to_string().lines().map(str::to_owned).collect(),
    }
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn args(flags: &[&str]) -> AgentArgs {
    AgentArgs::try_parse_from(std::iter::once("netmon").chain(flags.iter().copied()))
        .expect("test flags parse")
}

/// Loads with `file` as the content of `--config netmon.yaml`.
fn load_from(file: &str, flags: &[&str], vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let mut args = args(flags);
    args.config
        .get_or_insert_with(|| PathBuf::from("netmon.yaml"));
    load_with(&args, env(vars), |_: &Path| Ok(file.to_owned()))
}

fn lines(result: Result<Config, ConfigErrors>) -> Vec<String> {
    match result {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_defaults_are_the_documented_values_and_validate_clean() {
    let config = Config::default();
    assert_eq!(config.validate(), []);
    assert_eq!(config.capture.attach_mode, AttachMode::Auto);
    assert_eq!(config.flow.max_flows, 100_000);
    assert_eq!(config.flow.kernel_map_entries, 65_536);
    assert_eq!(config.flow.flow_timeout, Duration::from_secs(60));
    assert_eq!(config.flow.flush_interval, Duration::from_secs(5));
    assert_eq!(config.metrics_addr(), "0.0.0.0:9090".parse().unwrap());
    assert_eq!(config.api.address, "127.0.0.1:9091".parse().unwrap());
    assert_eq!(config.log.level, LogLevel::Info);
}

#[test]
fn loss_features_are_on_by_default_and_switch_off_from_the_file_or_environment() {
    let defaults = Config::default();
    assert!(defaults.features.drops.enabled && defaults.features.retransmits.enabled);
    let config = load_from(
        "features:\n  drops:\n    enabled: false\n",
        &[],
        &[("NETMON_FEATURES_RETRANSMITS_ENABLED", "false")],
    )
    .unwrap();
    assert!(!config.features.drops.enabled);
    assert!(!config.features.retransmits.enabled);
}

#[test]
fn an_empty_or_fully_commented_file_gives_the_defaults() {
    for text in [
        "",
        "# nothing set\n",
        "flow:\n",
        "capture:\n  interfaces:\n",
    ] {
        assert_eq!(
            Config::from_yaml_str(text),
            Ok(Config::default()),
            "{text:?}"
        );
    }
}

#[test]
fn to_yaml_reads_back_as_the_same_config() {
    let mut config = Config::default();
    config.flow.flush_interval = Duration::from_millis(1500);
    config.export.prometheus.labels = vec![FlowLabel::SrcIp, FlowLabel::DstPort];
    config.api.address = "[::1]:7000".parse().unwrap();
    assert_eq!(Config::from_yaml_str(&config.to_yaml()), Ok(config));
}

#[test]
fn durations_accept_humantime_text() {
    let cases = [
        ("250ms", Duration::from_millis(250)),
        ("5s", Duration::from_secs(5)),
        ("1m30s", Duration::from_secs(90)),
        ("2h", Duration::from_secs(7200)),
    ];
    for (text, expected) in cases {
        let config =
            Config::from_yaml_str(&format!("flow:\n  closed_retention: {text}\n")).unwrap();
        assert_eq!(config.flow.closed_retention, expected, "{text}");
    }
}

#[test]
fn the_example_deploy_file_sets_every_key_to_its_default_and_validates() {
    assert_eq!(Config::from_yaml_str(EXAMPLE), Ok(Config::default()));
    let example: serde_yaml::Value = serde_yaml::from_str(EXAMPLE).unwrap();
    for (path, _) in settings() {
        let found = path
            .split('.')
            .try_fold(&example, |node, key| node.get(key));
        assert!(found.is_some(), "the example does not show {path}");
    }
}

#[test]
fn the_docs_describe_every_setting_and_its_environment_variable() {
    for (path, var) in settings() {
        assert!(DOCS.contains(&format!("`{path}`")), "docs miss {path}");
        assert!(DOCS.contains(&format!("`{var}`")), "docs miss {var}");
    }
}

#[test]
fn every_setting_has_its_own_environment_variable() {
    let settings = settings();
    let mut vars: Vec<&str> = settings.iter().map(|(_, var)| var.as_str()).collect();
    vars.sort_unstable();
    vars.dedup();
    assert_eq!(vars.len(), settings.len());
    assert!(!vars.contains(&CONFIG_VAR));
}

#[test]
fn unknown_keys_are_reported_at_any_depth_with_the_keys_expected_there() {
    let cases = [
        (
            "flw:\n  max_flows: 1\n",
            "flw: unknown key (expected one of: capture, flow, export, kubernetes, api, features, performance, log, programs)",
        ),
        (
            "flow:\n  flow_timout: 3s\n",
            "flow.flow_timout: unknown key (expected one of: max_flows, kernel_map_entries, \
             flow_timeout, flush_interval, closed_retention)",
        ),
        (
            "export:\n  prometheus:\n    adress: 0.0.0.0\n",
            "export.prometheus.adress: unknown key (expected one of: enabled, address, port, \
             labels, kube_netc_compat, source_context, destination_context, program_prefix, series_expiry)",
        ),
        (
            "log:\n  5: x\n",
            "log.5: unknown key (expected one of: level, format)",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(problems_in(yaml), [expected], "{yaml}");
    }
}

#[test]
fn values_of_the_wrong_type_are_reported_with_the_value_and_what_was_expected() {
    let cases = [
        (
            "flow:\n  max_flows: lots\n",
            "flow.max_flows: invalid value \"lots\": expected a positive integer",
        ),
        (
            "flow:\n  max_flows: -1\n",
            "flow.max_flows: invalid value -1: expected a positive integer",
        ),
        (
            "flow:\n  flow_timeout: 10\n",
            "flow.flow_timeout: invalid value 10: expected a duration such as 5s, 1m30s or 250ms",
        ),
        (
            "flow:\n  flow_timeout: 5x\n",
            "flow.flow_timeout: invalid value \"5x\": expected a duration such as 5s, 1m30s or 250ms",
        ),
        (
            "capture:\n  attach_mode: fast\n",
            "capture.attach_mode: invalid value \"fast\": expected one of auto, tcx, tc",
        ),
        (
            "log:\n  level: 5\n",
            "log.level: invalid value 5: expected one of error, warn, info, debug, trace",
        ),
        (
            "capture:\n  interfaces: eth0\n",
            "capture.interfaces: invalid value \"eth0\": expected a list",
        ),
        (
            "export:\n  prometheus:\n    enabled: yes\n",
            "export.prometheus.enabled: invalid value \"yes\": expected true or false",
        ),
        (
            "export:\n  prometheus:\n    port: 70000\n",
            "export.prometheus.port: invalid value 70000: expected an integer from 0 to 65535",
        ),
        (
            "export:\n  prometheus:\n    address: nope\n",
            "export.prometheus.address: invalid value \"nope\": expected an IP address such as \
             0.0.0.0 or ::",
        ),
        (
            "api:\n  address: 1.2.3.4\n",
            "api.address: invalid value \"1.2.3.4\": expected an address and port such as \
             127.0.0.1:9091 or [::1]:9091",
        ),
        (
            "flow: 5\n",
            "flow: invalid value 5: expected a mapping with keys: max_flows, kernel_map_entries, \
             flow_timeout, flush_interval, closed_retention",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(problems_in(yaml), [expected], "{yaml}");
    }
}

#[test]
fn every_bad_item_of_a_list_is_reported_with_its_index() {
    let yaml = "export:\n  prometheus:\n    labels: [pod, src_ip, 7]\n";
    assert_eq!(
        problems_in(yaml),
        [
            "export.prometheus.labels[0]: invalid value \"pod\": expected one of src_ip, dst_ip, \
             src_port, dst_port",
            "export.prometheus.labels[2]: invalid value 7: expected one of src_ip, dst_ip, \
             src_port, dst_port",
        ]
    );
}

#[test]
fn semantic_problems_name_the_setting_to_change() {
    let cases = [
        (
            "capture:\n  sampling_rate: 2000000\n",
            "capture.sampling_rate: must be from 1 (every packet) to 1000000, got 2000000",
        ),
        (
            "capture:\n  sampling_rate: 0\n",
            "capture.sampling_rate: must be from 1 (every packet) to 1000000, got 0",
        ),
        (
            "capture:\n  interfaces: [this-name-is-too-long]\n",
            "capture.interfaces[0]: \"this-name-is-too-long\" is longer than 15 bytes, the \
             kernel's limit for interface names",
        ),
        (
            "capture:\n  interfaces: [eth0, eth0]\n",
            "capture.interfaces[1]: \"eth0\" is listed more than once",
        ),
        (
            "capture:\n  interfaces: ['eth 0']\n",
            "capture.interfaces[0]: \"eth 0\" is not a valid interface name: it contains '/', \
             ':' or whitespace",
        ),
        (
            "capture:\n  interfaces: [eth0]\n  exclude_interfaces: ['eth*']\n",
            "capture.interfaces[0]: \"eth0\" is also excluded by capture.exclude_interfaces \
             entry \"eth*\"",
        ),
        (
            "capture:\n  exclude_interfaces: ['*']\n",
            "capture.exclude_interfaces[0]: \"*\" would exclude every interface; list the \
             interfaces to skip",
        ),
        (
            "capture:\n  exclude_interfaces: ['veth*x']\n",
            "capture.exclude_interfaces[0]: \"veth*x\": '*' is only allowed at the end, as a \
             prefix match",
        ),
        (
            "flow:\n  max_flows: 0\n",
            "flow.max_flows: must be at least 1",
        ),
        (
            "flow:\n  kernel_map_entries: 100\n",
            "flow.kernel_map_entries: must be at least 1024, got 100",
        ),
        (
            "flow:\n  flow_timeout: 0s\n",
            "flow.flow_timeout: must be greater than 0",
        ),
        (
            "flow:\n  flush_interval: 50ms\n",
            "flow.flush_interval: must be at least 100ms, got 50ms",
        ),
        (
            "flow:\n  flow_timeout: 2s\n",
            "flow.flush_interval: must be less than flow.flow_timeout (5s >= 2s)",
        ),
        (
            "export:\n  prometheus:\n    labels: [src_ip, src_ip]\n",
            "export.prometheus.labels[1]: src_ip is listed more than once",
        ),
        (
            "export:\n  prometheus:\n    port: 9091\napi:\n  address: 0.0.0.0:9091\n",
            "api.address: 0.0.0.0:9091 conflicts with the Prometheus listener 0.0.0.0:9091 \
             (export.prometheus.address and port): both would bind port 9091",
        ),
        (
            "export:\n  prometheus:\n    destination_context: [pod, ip, pod]\n",
            "export.prometheus.destination_context[2]: pod is listed more than once",
        ),
        (
            "export:\n  prometheus:\n    series_expiry: 0s\n",
            "export.prometheus.series_expiry: must be greater than 0 (series would vanish between scrapes)",
        ),
        (
            "api:\n  socket: run/netmon.sock\n",
            "api.socket: run/netmon.sock is not an absolute path (or \"\" to turn the socket off)",
        ),
        (
            "api:\n  socket: /run/netmon/\n",
            "api.socket: /run/netmon/ names a directory, not a socket file",
        ),
        (
            "api:\n  socket: /run/netmon/netmon-with-a-very-long-name-that-goes-on-and-on-and-on-for-much-more-than-a-hundred-and-seven-bytes.sock\n",
            "api.socket: /run/netmon/netmon-with-a-very-long-name-that-goes-on-and-on-and-on-for-much-more-than-a-hundred-and-seven-bytes.sock is 117 bytes long; a unix socket path has at most 107",
        ),
        (
            "kubernetes:\n  kubeconfig: /nonexistent/netmon-kubeconfig\n",
            "kubernetes.kubeconfig: /nonexistent/netmon-kubeconfig: No such file or directory (os error 2)",
        ),
        (
            "kubernetes:\n  node_name: Node_1\n",
            "kubernetes.node_name: \"Node_1\" is not a Kubernetes node name (lower-case letters, digits, '-' and '.', at most 253)",
        ),
        (
            "kubernetes:\n  pod_labels: [app, -bad]\n",
            "kubernetes.pod_labels[1]: \"-bad\" is not a Kubernetes label key ([prefix/]name)",
        ),
        (
            "kubernetes:\n  zone_label: \"a/b/c\"\n",
            "kubernetes.zone_label: \"a/b/c\" is not a Kubernetes label key ([prefix/]name)",
        ),
        (
            "features:\n  latency_tracking:\n    histogram_buckets: [0.1, 0.05]\n",
            "features.latency_tracking.histogram_buckets[1]: bounds must increase, but 0.1 is followed by 0.05",
        ),
        (
            "features:\n  latency_tracking:\n    histogram_buckets: [-1]\n",
            "features.latency_tracking.histogram_buckets[0]: -1 is not a positive number of seconds",
        ),
        (
            "features:\n  latency_tracking:\n    histogram_buckets: []\n",
            "features.latency_tracking.histogram_buckets: needs at least one bucket bound",
        ),
        (
            "performance:\n  workers: 0\n",
            "performance.workers: must be from 1 to 256, got 0",
        ),
        (
            "performance:\n  workers: 1000\n",
            "performance.workers: must be from 1 to 256, got 1000",
        ),
        (
            "performance:\n  buffer_size: 8\n",
            "performance.buffer_size: must be at least 16, got 8",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(problems_in(yaml), [expected], "{yaml}");
    }
}

#[test]
fn listeners_conflict_only_when_their_addresses_overlap_on_one_port() {
    let conflicts = |metrics: &str, api: &str| {
        let mut config = Config::default();
        let metrics: SocketAddr = metrics.parse().unwrap();
        config.export.prometheus.address = metrics.ip();
        config.export.prometheus.port = metrics.port();
        config.api.address = api.parse().unwrap();
        !config.validate().is_empty()
    };
    assert!(conflicts("127.0.0.1:9000", "127.0.0.1:9000"));
    assert!(conflicts("0.0.0.0:9000", "127.0.0.1:9000"));
    assert!(conflicts("[::]:9000", "127.0.0.1:9000"));
    assert!(!conflicts("0.0.0.0:9000", "[::1]:9000"));
    assert!(!conflicts("10.0.0.1:9000", "127.0.0.1:9000"));
    assert!(!conflicts("0.0.0.0:9000", "0.0.0.0:9001"));
    assert!(!conflicts("127.0.0.1:0", "127.0.0.1:0"));
}

#[test]
fn a_disabled_prometheus_exporter_conflicts_with_nothing() {
    let yaml = "export:\n  prometheus:\n    enabled: false\n    port: 9091\n\
                api:\n  address: 0.0.0.0:9091\n";
    assert_eq!(problems_in(yaml), Vec::<String>::new());
}

#[test]
fn several_problems_are_reported_together_one_line_each_in_file_order() {
    let yaml = "\
flow:
  flow_timout: 3s
  max_flows: lots
  flow_timeout: 2s
capture:
  sampling_rate: 0
";
    assert_eq!(
        problems_in(yaml),
        [
            "flow.flow_timout: unknown key (expected one of: max_flows, kernel_map_entries, \
             flow_timeout, flush_interval, closed_retention)",
            "flow.max_flows: invalid value \"lots\": expected a positive integer",
            "capture.sampling_rate: must be from 1 (every packet) to 1000000, got 0",
            "flow.flush_interval: must be less than flow.flow_timeout (5s >= 2s)",
        ]
    );
}

#[test]
fn checks_that_involve_a_rejected_value_are_not_reported() {
    // flow_timeout keeps its 60s default after being rejected; comparing the
    // flush interval with it would report a problem with a value nobody wrote.
    let yaml = "flow:\n  flow_timeout: soon\n  flush_interval: 90s\n";
    assert_eq!(
        problems_in(yaml),
        ["flow.flow_timeout: invalid value \"soon\": expected a duration such as 5s, 1m30s or 250ms"]
    );
}

#[test]
fn invalid_yaml_is_one_line_naming_the_file_line_and_column() {
    let result = load_from("flow:\n  max_flows: 1\n   bad: 2\n", &[], &[]);
    assert_eq!(
        lines(result),
        ["netmon.yaml: invalid YAML: mapping values are not allowed in this context at line 3 column 7"]
    );
}

#[test]
fn a_file_that_is_not_a_mapping_is_one_line_naming_the_file() {
    let result = load_from("- flow\n", &[], &[]);
    assert_eq!(
        lines(result),
        [
            "netmon.yaml: expected a mapping of settings at the top level (keys: capture, flow, \
          export, kubernetes, api, features, performance, log, programs), found a list"
        ]
    );
}

#[test]
fn a_missing_file_is_reported_along_with_the_environment_problems() {
    let missing = std::env::temp_dir().join("netmon-config-test-does-not-exist.yaml");
    let args = AgentArgs {
        config: Some(missing.clone()),
        ..AgentArgs::default()
    };
    let errors = load(&args, env(&[("NETMON_FLOW_MAXFLOWS", "5")])).unwrap_err();
    assert_eq!(
        errors.paths(),
        [
            missing.display().to_string().as_str(),
            "env NETMON_FLOW_MAXFLOWS"
        ]
    );
    assert!(errors.0[0]
        .message
        .starts_with("cannot read config file: No such file or directory"));
}

#[test]
fn yaml_anchors_and_merge_keys_are_resolved() {
    let yaml = "\
x-timing: &timing
  flow_timeout: 30s
flow:
  <<: *timing
";
    // The anchor holder is itself an unknown key, but the merged value lands.
    assert_eq!(
        problems_in(yaml),
        ["x-timing: unknown key (expected one of: capture, flow, export, kubernetes, api, features, performance, log, programs)"]
    );
    let yaml = "flow: &flow\n  flow_timeout: 30s\n  <<: {flush_interval: 2s}\n";
    let config = Config::from_yaml_str(yaml).unwrap();
    assert_eq!(config.flow.flush_interval, Duration::from_secs(2));
    assert_eq!(config.flow.flow_timeout, Duration::from_secs(30));
}

#[test]
fn environment_variables_override_the_setting_their_name_spells() {
    type Expect = fn(&Config) -> bool;
    let cases: [(&str, &str, Expect); 8] = [
        ("NETMON_FLOW_FLOW_TIMEOUT", "30s", |c| {
            c.flow.flow_timeout == Duration::from_secs(30)
        }),
        ("NETMON_EXPORT_PROMETHEUS_PORT", "9100", |c| {
            c.export.prometheus.port == 9100
        }),
        ("NETMON_EXPORT_PROMETHEUS_ENABLED", "false", |c| {
            !c.export.prometheus.enabled
        }),
        ("NETMON_CAPTURE_INTERFACES", "eth0,eth1", |c| {
            c.capture.interfaces == ["eth0", "eth1"]
        }),
        ("NETMON_CAPTURE_EXCLUDE_INTERFACES", "", |c| {
            c.capture.exclude_interfaces.is_empty()
        }),
        ("NETMON_EXPORT_PROMETHEUS_LABELS", "dst_ip, dst_port", |c| {
            c.export.prometheus.labels == [FlowLabel::DstIp, FlowLabel::DstPort]
        }),
        ("NETMON_API_ADDRESS", "[::1]:7000", |c| {
            c.api.address == "[::1]:7000".parse().unwrap()
        }),
        ("NETMON_LOG_FORMAT", "json", |c| {
            c.log.format == LogFormat::Json
        }),
    ];
    let file = "capture:\n  exclude_interfaces: ['docker*']\n";
    for (var, value, expect) in cases {
        let config = load_from(file, &[], &[(var, value)]).unwrap();
        assert!(expect(&config), "{var}={value} did not apply");
    }
}

#[test]
fn a_netmon_variable_that_names_no_setting_is_a_problem() {
    let result = load_from(
        "",
        &[],
        &[("NETMON_FLOW_MAXFLOWS", "5"), ("NETMON_FLOW", "x")],
    );
    assert_eq!(
        lines(result),
        [
            "env NETMON_FLOW: unknown setting",
            "env NETMON_FLOW_MAXFLOWS: unknown setting (did you mean NETMON_FLOW_MAX_FLOWS?)",
        ]
    );
}

#[test]
fn a_badly_typed_environment_value_names_the_variable_and_the_setting() {
    let result = load_from(
        "",
        &[],
        &[
            ("NETMON_FLOW_MAX_FLOWS", "lots"),
            ("NETMON_EXPORT_PROMETHEUS_LABELS", "src_ip,pod"),
        ],
    );
    assert_eq!(
        lines(result),
        [
            "env NETMON_EXPORT_PROMETHEUS_LABELS: invalid value \"pod\" for \
             export.prometheus.labels[1]: expected one of src_ip, dst_ip, src_port, dst_port",
            "env NETMON_FLOW_MAX_FLOWS: invalid value \"lots\" for flow.max_flows: expected a \
             positive integer",
        ]
    );
}

#[test]
fn flags_beat_environment_which_beats_the_file_which_beats_defaults() {
    let file = "\
log:
  level: warn
api:
  address: 127.0.0.1:8001
flow:
  max_flows: 10
capture:
  interfaces: [eth0]
";
    let vars = [
        ("NETMON_LOG_LEVEL", "error"),
        ("NETMON_API_ADDRESS", "127.0.0.1:8002"),
        ("NETMON_CAPTURE_INTERFACES", "eth1"),
    ];
    let flags = ["--log-level", "trace", "--interface", "eth2"];

    let config = load_from(file, &flags, &vars).unwrap();
    assert_eq!(config.log.level, LogLevel::Trace, "flag over env");
    assert_eq!(config.capture.interfaces, ["eth2"], "flag over env");
    assert_eq!(config.api.address.port(), 8002, "env over file");
    assert_eq!(config.flow.max_flows, 10, "file over default");
    assert_eq!(config.flow.kernel_map_entries, 65_536, "default");
}

#[test]
fn flags_set_what_their_help_says() {
    let flags = [
        "--interface",
        "eth0,eth1",
        "--interface",
        "eth2",
        "--metrics-addr",
        "127.0.0.1:9100",
        "--api-addr",
        "[::1]:9200",
        "--api-socket",
        "/tmp/netmon-test.sock",
        "--debug",
    ];
    let config = load_from("", &flags, &[]).unwrap();
    assert_eq!(config.capture.interfaces, ["eth0", "eth1", "eth2"]);
    assert_eq!(config.metrics_addr(), "127.0.0.1:9100".parse().unwrap());
    assert_eq!(config.api.address, "[::1]:9200".parse().unwrap());
    assert_eq!(
        config.api.socket_path(),
        Some(std::path::Path::new("/tmp/netmon-test.sock"))
    );
    assert_eq!(config.log.level, LogLevel::Debug);
}

#[test]
fn semantic_checks_judge_the_final_values_after_flags() {
    let file = "capture:\n  exclude_interfaces: ['veth*']\n";
    let result = load_from(file, &["--interface", "veth0"], &[]);
    assert_eq!(
        lines(result),
        ["capture.interfaces[0]: \"veth0\" is also excluded by capture.exclude_interfaces entry \
          \"veth*\""]
    );
}

#[test]
fn netmon_config_in_the_environment_names_the_file_when_no_flag_does() {
    let mut read = None;
    let vars = env(&[("NETMON_CONFIG", "/etc/netmon/netmon.yaml")]);
    let config = load_with(&AgentArgs::default(), vars, |path: &Path| {
        read = Some(path.to_owned());
        Ok("flow:\n  max_flows: 7\n".to_owned())
    })
    .unwrap();
    assert_eq!(read, Some(PathBuf::from("/etc/netmon/netmon.yaml")));
    assert_eq!(config.flow.max_flows, 7);
}

#[test]
fn without_a_file_the_defaults_are_used_and_nothing_is_read() {
    let config = load_with(&AgentArgs::default(), Vec::new(), |_: &Path| {
        Err(io::Error::other("must not be read"))
    });
    assert_eq!(config, Ok(Config::default()));
}

#[test]
fn check_config_prints_the_effective_config_and_problems_make_it_invalid() {
    let check = args(&["--check-config", "--metrics-addr", "127.0.0.1:9100"]);
    match startup(&check, Vec::new()) {
        Startup::Print(yaml) => {
            let printed = Config::from_yaml_str(&yaml).unwrap();
            assert_eq!(printed.export.prometheus.port, 9100);
        }
        other => panic!("expected the effective config, got {other:?}"),
    }
    let bad = env(&[("NETMON_FLOW_MAX_FLOWS", "0")]);
    match startup(&check, bad) {
        Startup::Invalid(errors) => assert_eq!(errors.paths(), ["flow.max_flows"]),
        other => panic!("expected problems, got {other:?}"),
    }
    assert_eq!(EXIT_INVALID_CONFIG, 2);
}

#[test]
fn print_default_config_prints_the_defaults_whatever_else_is_set() {
    let print = args(&["--print-default-config", "--debug"]);
    match startup(&print, env(&[("NETMON_NOPE", "1")])) {
        Startup::Print(yaml) => assert_eq!(Config::from_yaml_str(&yaml), Ok(Config::default())),
        other => panic!("expected the defaults, got {other:?}"),
    }
}

#[test]
fn without_special_flags_a_valid_config_runs() {
    assert!(matches!(
        startup(&AgentArgs::default(), Vec::new()),
        Startup::Run(config) if *config == Config::default()
    ));
}

#[test]
fn bad_flag_values_are_clap_usage_errors_with_exit_status_2() {
    let bad = [
        &["--metrics-addr", "9100"][..],
        &["--api-addr", "localhost"][..],
        &["--log-level", "loud"][..],
        &["--debug", "--log-level", "info"][..],
        &["--check-config", "--print-default-config"][..],
    ];
    for flags in bad {
        let error =
            AgentArgs::try_parse_from(std::iter::once("netmon").chain(flags.iter().copied()))
                .unwrap_err();
        assert_eq!(error.exit_code(), 2, "{flags:?}");
    }
}

#[test]
fn the_command_line_definition_is_consistent_and_help_shows_examples() {
    AgentArgs::command().debug_assert();
    let help = AgentArgs::command().render_long_help().to_string();
    for needle in [
        "--config <PATH>",
        "NETMON_CONFIG",
        "--check-config",
        "Examples:",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
}

#[test]
fn every_problem_path_names_a_real_setting() {
    let mut config = Config::default();
    config.capture.interfaces = vec!["".into(), "a/b".into()];
    config.capture.exclude_interfaces = vec!["*".into()];
    config.capture.sampling_rate = 0;
    config.flow.max_flows = 0;
    config.flow.kernel_map_entries = 0;
    config.flow.flow_timeout = Duration::ZERO;
    config.flow.flush_interval = Duration::ZERO;
    config.export.prometheus.labels = vec![FlowLabel::SrcIp, FlowLabel::SrcIp];
    config.export.prometheus.port = 9091;
    config.performance.workers = 0;
    config.performance.buffer_size = 0;

    let known: Vec<String> = settings().into_iter().map(|(path, _)| path).collect();
    let problems = config.validate();
    assert!(problems.len() >= 12, "{problems:?}");
    for problem in problems {
        let setting = problem.path.split('[').next().unwrap();
        assert!(known.iter().any(|k| k == setting), "{}", problem.path);
    }
}

#[test]
fn nat_is_on_by_default_bounded_and_settable_from_file_and_environment() {
    let defaults = Config::default().features.nat;
    assert!(defaults.enabled);
    assert_eq!(defaults.max_entries, 65_536);

    let config = load_from(
        "features:\n  nat:\n    max_entries: 1000\n",
        &[],
        &[("NETMON_FEATURES_NAT_ENABLED", "false")],
    )
    .unwrap();
    assert_eq!(
        config.features.nat,
        NatConfig {
            enabled: false,
            max_entries: 1000
        }
    );

    assert_eq!(
        problems_in("features:\n  nat:\n    max_entries: 0\n"),
        ["features.nat.max_entries: must be from 1 to 16777216, got 0"]
    );
    assert_eq!(
        problems_in("features:\n  nat:\n    max_entries: 20000000\n"),
        ["features.nat.max_entries: must be from 1 to 16777216, got 20000000"]
    );
    assert_eq!(
        problems_in("features:\n  nat:\n    enable: true\n"),
        ["features.nat.enable: unknown key (expected one of: enabled, max_entries)"]
    );
}

#[test]
fn port_scan_detection_is_on_by_default_with_the_documented_thresholds() {
    let port_scan = Config::default().features.port_scan;
    assert_eq!(
        port_scan,
        PortScanConfig {
            enabled: true,
            distinct_ports: 100,
            distinct_hosts: 128,
            window: Duration::from_secs(10),
            max_sources: 10_000,
        }
    );
}

#[test]
fn every_bad_port_scan_setting_is_reported_on_its_own_line() {
    let yaml = "features:\n  port_scan:\n    distinct_ports: 0\n    distinct_hosts: 70000\n    \
                window: 0s\n    max_sources: 0\n";
    assert_eq!(
        problems_in(yaml),
        [
            "features.port_scan.distinct_ports: must be from 1 to 65535, got 0",
            "features.port_scan.distinct_hosts: must be from 1 to 65535, got 70000",
            "features.port_scan.window: must be greater than 0",
            "features.port_scan.max_sources: must be at least 1",
        ]
    );
    let yaml =
        "features:\n  port_scan:\n    window: 10\n    enabled: yes\n    distinct_ports: -1\n";
    let problems = problems_in(yaml);
    assert_eq!(problems.len(), 3, "{problems:?}");
    for (problem, path) in problems.iter().zip([
        "features.port_scan.window:",
        "features.port_scan.enabled:",
        "features.port_scan.distinct_ports:",
    ]) {
        assert!(problem.starts_with(path), "{problem}");
    }
}

#[test]
fn port_scan_settings_come_from_the_environment_too() {
    let config = load_from(
        "",
        &[],
        &[
            ("NETMON_FEATURES_PORT_SCAN_ENABLED", "false"),
            ("NETMON_FEATURES_PORT_SCAN_DISTINCT_PORTS", "20"),
            ("NETMON_FEATURES_PORT_SCAN_WINDOW", "30s"),
        ],
    )
    .unwrap();
    let port_scan = config.features.port_scan;
    assert!(!port_scan.enabled);
    assert_eq!(port_scan.distinct_ports, 20);
    assert_eq!(port_scan.window, Duration::from_secs(30));
}

#[test]
fn dns_and_protocol_detection_are_on_by_default_for_every_protocol() {
    let features = Config::default().features;
    assert!(features.dns.enabled && features.protocol_detection.enabled);
    assert_eq!(features.dns.query_timeout, Duration::from_secs(5));
    assert_eq!(features.dns.name_retention, Duration::from_secs(600));
    assert_eq!(
        features.protocol_detection.protocols,
        DetectedProtocol::ALL.to_vec()
    );
}

#[test]
fn every_bad_dns_or_protocol_detection_setting_is_reported_on_its_own_line() {
    let yaml = "features:\n  dns:\n    query_timeout: 0s\n    max_pending: 0\n    \
                max_names: 0\n    name_retention: 0s\n  protocol_detection:\n    protocols: []\n";
    assert_eq!(
        problems_in(yaml),
        [
            "features.dns.query_timeout: must be greater than 0",
            "features.dns.name_retention: must be greater than 0",
            "features.dns.max_pending: must be at least 1",
            "features.dns.max_names: must be at least 1",
            "features.protocol_detection.protocols: must name at least one protocol (or set features.protocol_detection.enabled: false)",
        ]
    );
    // Switched off, an empty list is no contradiction.
    assert_eq!(
        problems_in("features:\n  protocol_detection:\n    enabled: false\n    protocols: []\n"),
        Vec::<String>::new()
    );
    let problems = problems_in("features:\n  protocol_detection:\n    protocols: [http, ftp]\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("features.protocol_detection.protocols")
            && problems[0].contains("ftp"),
        "{problems:?}"
    );
}

#[test]
fn the_protocol_list_comes_from_the_environment_too() {
    let config = load_from(
        "",
        &[],
        &[
            ("NETMON_FEATURES_PROTOCOL_DETECTION_PROTOCOLS", "tls,http"),
            ("NETMON_FEATURES_DNS_ENABLED", "false"),
        ],
    )
    .unwrap();
    assert_eq!(
        config.features.protocol_detection.protocols,
        [DetectedProtocol::Tls, DetectedProtocol::Http]
    );
    assert!(!config.features.dns.enabled);
}

#[test]
fn an_empty_api_socket_turns_the_socket_off_from_any_source() {
    let default = load_from("", &[], &[]).unwrap();
    assert_eq!(
        default.api.socket_path(),
        Some(std::path::Path::new("/run/netmon/netmon.sock"))
    );
    let from_file = load_from("api:\n  socket: \"\"\n", &[], &[]).unwrap();
    assert_eq!(from_file.api.socket_path(), None);
    let from_env = load_from("", &[], &[("NETMON_API_SOCKET", "")]).unwrap();
    assert_eq!(from_env.api.socket_path(), None);
    let from_flag = load_from("", &["--api-socket", ""], &[]).unwrap();
    assert_eq!(from_flag.api.socket_path(), None);
}

#[test]
fn ipfix_export_is_off_by_default_and_needs_a_collector_when_on() {
    let defaults = Config::default().export.ipfix;
    assert!(!defaults.enabled);
    assert_eq!(defaults.collector, "");
    assert_eq!(defaults.observation_domain_id, 1);
    assert_eq!(defaults.template_refresh, Duration::from_secs(60));
    assert_eq!(defaults.active_timeout, Duration::from_secs(60));
    assert_eq!(defaults.max_message_size, 1400);
    assert_eq!(
        problems_in("export:\n  ipfix:\n    enabled: true\n"),
        ["export.ipfix.collector: is required when export.ipfix.enabled is true (host:port of the collector)"]
    );
    let config = load_from(
        "export:\n  ipfix:\n    enabled: true\n",
        &[],
        &[
            ("NETMON_EXPORT_IPFIX_COLLECTOR", "[2001:db8::5]:4739"),
            ("NETMON_EXPORT_IPFIX_OBSERVATION_DOMAIN_ID", "42"),
        ],
    )
    .unwrap();
    assert_eq!(config.export.ipfix.collector, "[2001:db8::5]:4739");
    assert_eq!(config.export.ipfix.observation_domain_id, 42);
}

#[test]
fn every_bad_ipfix_setting_is_reported_on_its_own_line() {
    let yaml = "export:\n  ipfix:\n    collector: \"collector\"\n    template_refresh: 0s\n    \
                active_timeout: 500ms\n    max_message_size: 100\n";
    assert_eq!(
        problems_in(yaml),
        [
            "export.ipfix.collector: \"collector\": expected host:port, such as collector.example:4739",
            "export.ipfix.template_refresh: must be at least 1s, got 0s",
            "export.ipfix.active_timeout: must be at least 1s, got 500ms",
            "export.ipfix.max_message_size: must be from 512 to 65507 bytes, got 100",
        ]
    );
    for (collector, why) in [
        (
            "2001:db8::5:4739",
            "an IPv6 address needs brackets: [2001:db8::1]:4739",
        ),
        ("nfcapd:0", "port 0 is not a collector's port"),
        ("nfcapd:ipfix", "\"ipfix\" is not a port from 1 to 65535"),
        (
            "nf_capd:4739",
            "\"nf_capd\" is not a host name or IP address",
        ),
    ] {
        assert_eq!(
            problems_in(&format!(
                "export:\n  ipfix:\n    collector: \"{collector}\"\n"
            )),
            [format!("export.ipfix.collector: {collector:?}: {why}")],
        );
    }
    for good in [
        "nfcapd.monitoring.svc:4739",
        "10.0.0.5:4739",
        "[fd00::5]:2055",
    ] {
        assert_eq!(
            problems_in(&format!(
                "export:\n  ipfix:\n    enabled: true\n    collector: \"{good}\"\n"
            )),
            Vec::<String>::new(),
            "{good}"
        );
    }
    assert_eq!(
        problems_in("export:\n  ipfix:\n    max_message_size: 70000\n"),
        ["export.ipfix.max_message_size: invalid value 70000: expected an integer from 0 to 65535"]
    );
}

#[test]
fn grpc_export_is_off_by_default_and_needs_an_address_when_on() {
    let defaults = Config::default().export.grpc;
    assert!(!defaults.enabled);
    assert_eq!(defaults.address, "");
    assert_eq!(defaults.tls, GrpcTlsConfig::default());
    assert_eq!(defaults.batch_size, 5_000);
    assert_eq!(defaults.flush_interval, Duration::from_secs(10));
    assert_eq!(defaults.buffer_records, 100_000);
    assert_eq!(defaults.timeout, Duration::from_secs(10));
    assert_eq!(
        problems_in("export:\n  grpc:\n    enabled: true\n"),
        ["export.grpc.address: is required when export.grpc.enabled is true (http://host:port or https://host:port)"]
    );
    let config = load_from(
        "export:\n  grpc:\n    enabled: true\n",
        &[],
        &[
            (
                "NETMON_EXPORT_GRPC_ADDRESS",
                "https://netmon-server.netmon.svc:9095",
            ),
            ("NETMON_EXPORT_GRPC_TLS_SERVER_NAME", "netmon-server"),
            ("NETMON_EXPORT_GRPC_BUFFER_RECORDS", "2000"),
            ("NETMON_EXPORT_GRPC_BATCH_SIZE", "500"),
        ],
    )
    .unwrap();
    let grpc = config.export.grpc;
    assert_eq!(grpc.address, "https://netmon-server.netmon.svc:9095");
    assert_eq!(grpc.tls.server_name, "netmon-server");
    assert_eq!((grpc.batch_size, grpc.buffer_records), (500, 2000));
}

#[test]
fn every_bad_grpc_export_setting_is_reported_on_its_own_line() {
    let yaml = "export:\n  grpc:\n    address: \"netmon-server:9095\"\n    batch_size: 0\n    \
                flush_interval: 1500ms\n    buffer_records: 0\n    timeout: 0s\n    tls:\n      \
                server_name: \"bad name\"\n";
    assert_eq!(
        problems_in(yaml),
        [
            "export.grpc.address: \"netmon-server:9095\" must start with http:// or https:// (e.g. http://netmon-server:9095)",
            "export.grpc.tls.server_name: \"bad name\" is not a host name or IP address",
            "export.grpc.buffer_records: must be from 1 to 10000000, got 0",
            "export.grpc.batch_size: must be from 1 to 50000, got 0",
            "export.grpc.flush_interval: must be a whole number of seconds, at least 1s, got 1s 500ms",
            "export.grpc.timeout: must be greater than 0",
        ]
    );
    assert_eq!(
        problems_in("export:\n  grpc:\n    batch_size: 6000\n    buffer_records: 5000\n"),
        ["export.grpc.batch_size: must not exceed export.grpc.buffer_records (6000 > 5000)"]
    );
}

#[test]
fn grpc_tls_files_need_an_https_address_must_exist_and_come_as_a_pair() {
    let existing = env!("CARGO_MANIFEST_PATH");
    assert_eq!(
        problems_in(&format!(
            "export:\n  grpc:\n    address: http://server:9095\n    tls:\n      ca_file: {existing}\n"
        )),
        ["export.grpc.tls.ca_file: is only used with an https:// export.grpc.address"]
    );
    assert_eq!(
        problems_in(
            "export:\n  grpc:\n    address: https://server:9095\n    tls:\n      \
             ca_file: /nonexistent/ca.pem\n"
        ),
        ["export.grpc.tls.ca_file: /nonexistent/ca.pem: No such file or directory (os error 2)"]
    );
    assert_eq!(
        problems_in(&format!(
            "export:\n  grpc:\n    address: https://server:9095\n    tls:\n      cert_file: {existing}\n"
        )),
        ["export.grpc.tls.key_file: is required with export.grpc.tls.cert_file (mutual TLS needs both)"]
    );
    assert_eq!(
        problems_in(&format!(
            "export:\n  grpc:\n    enabled: true\n    address: https://server:9095\n    tls:\n      \
             ca_file: {existing}\n      cert_file: {existing}\n      key_file: {existing}\n      \
             server_name: netmon-server.netmon.svc\n"
        )),
        Vec::<String>::new()
    );
}

#[test]
fn program_entries_and_the_prefix_are_checked_with_their_paths() {
    let yaml = "\
export:
  prometheus:
    program_prefix: 9x_
programs:
  - name: tcp
    object: /p/tcp.bpf.o
    config: /p/tcp.yaml
  - name: tcp
    object: ''
    config: /p/other.yaml
  - name: bad name
    object: /p/z.bpf.o
    config: /p/z.yaml
    interfaces: [this-name-is-far-too-long]
";
    assert_eq!(
        problems_in(yaml),
        [
            "export.prometheus.program_prefix: \"9x_\" cannot start a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
            "programs[1].name: \"tcp\" names more than one entry",
            "programs[1].object: a path is required",
            "programs[2].name: \"bad name\": a name of letters, digits, '_', '-' and '.' is required",
            "programs[2].interfaces[0]: \"this-name-is-far-too-long\" is longer than 15 bytes, the kernel's limit for interface names",
        ]
    );
    // A missing key is a type error of that entry, named by its index.
    assert_eq!(
        problems_in("programs:\n  - name: c\n    object: /p/c.bpf.o\n"),
        ["programs[0]: invalid value {\"name\":\"c\",\"object\":\"/p/c.bpf.o\"}: missing field `config`"]
    );
}

#[test]
fn a_valid_programs_section_loads_with_its_defaults() {
    let config = Config::from_yaml_str(
        "programs:\n  - name: tcp\n    object: /p/tcp.bpf.o\n    config: /p/tcp.yaml\n",
    )
    .unwrap();
    assert_eq!(
        config.programs,
        [ProgramEntry {
            name: "tcp".into(),
            object: "/p/tcp.bpf.o".into(),
            config: "/p/tcp.yaml".into(),
            interfaces: Vec::new(),
        }]
    );
    assert_eq!(config.export.prometheus.program_prefix, "ebpf_exporter_");
    assert_eq!(Config::default().programs, []);
}
