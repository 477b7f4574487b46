use std::path::PathBuf;

use super::load::load_with;
use super::*;

fn args() -> ServerArgs {
    ServerArgs {
        config: Some(PathBuf::from("server.yaml")),
        ..ServerArgs::default()
    }
}

fn load_text(text: &str, env: &[(&str, &str)], args: &ServerArgs) -> Result<Config, ConfigErrors> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    load_with(args, env, |_| Ok(text.to_owned()))
}

fn lines(errors: ConfigErrors) -> Vec<String> {
    errors.0.iter().map(ToString::to_string).collect()
}

#[test]
fn the_defaults_are_valid_and_round_trip_through_yaml() {
    assert_eq!(Config::default().validate(), Vec::new());
    let reread = Config::from_yaml_str(&Config::default().to_yaml()).unwrap();
    assert_eq!(reread, Config::default());
}

#[test]
fn file_then_environment_then_flags_each_win_over_the_one_before() {
    let text = "grpc:\n  address: 127.0.0.1:7000\nbatching:\n  max_rows: 100\n  max_delay: 250ms\nclickhouse:\n  url: http://file:8123\n";
    let env = [
        ("NETMON_SERVER_BATCHING_MAX_ROWS", "200"),
        ("NETMON_SERVER_CLICKHOUSE_URL", "http://env:8123"),
        ("NETMON_SERVER_CLICKHOUSE_PASSWORD", "hunter2"),
    ];
    let mut flags = args();
    flags.clickhouse_url = Some("http://flag:8123".into());
    let config = load_text(text, &env, &flags).unwrap();
    assert_eq!(config.grpc.address.to_string(), "127.0.0.1:7000");
    assert_eq!(config.batching.max_rows, 200);
    assert_eq!(config.batching.max_delay.as_millis(), 250);
    assert_eq!(config.clickhouse.url, "http://flag:8123");
    assert_eq!(config.clickhouse.password.expose(), "hunter2");
}

#[test]
fn the_password_is_never_printed() {
    let config = load_text("clickhouse:\n  password: hunter2\n", &[], &args()).unwrap();
    let yaml = config.to_yaml();
    assert!(yaml.contains("password: <redacted>"), "{yaml}");
    assert!(!yaml.contains("hunter2"));
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn every_problem_is_reported_at_once_one_line_each_with_its_path() {
    let text = "\
grpc:
  address: nowhere
  max_message_bytes: 10
  tls:
    cert: /nonexistent/cert.pem
clickhouse:
  url: https://ch:8443
  database: net-mon
  timeout: 0s
batching:
  max_rows: 0
spool:
  max_bytes: 5
  size: 1
";
    let env = [("NETMON_SERVER_QUEUE_MAX_ROW", "1")];
    let problems = lines(load_text(text, &env, &args()).unwrap_err());
    assert_eq!(
        problems,
        [
            "grpc.address: invalid value \"nowhere\": expected an address and port such as 0.0.0.0:9095 or [::]:9095",
            "spool.size: unknown key (expected one of: dir, max_bytes)",
            "env NETMON_SERVER_QUEUE_MAX_ROW: unknown setting (did you mean NETMON_SERVER_QUEUE_MAX_ROWS?)",
            "grpc.max_message_bytes: must be from 1024 to 1073741824, got 10",
            "grpc.tls.key: must be set when grpc.tls.cert is set",
            "grpc.tls.cert: cannot read /nonexistent/cert.pem: No such file or directory (os error 2)",
            "clickhouse.url: \"https://ch:8443\": https is not supported; reach ClickHouse over http (inside the cluster, or through a TLS-terminating proxy)",
            "clickhouse.database: \"net-mon\" is not a plain identifier (letters, digits and '_', not starting with a digit)",
            "clickhouse.timeout: must be greater than 0",
            "batching.max_rows: must be from 1 to 10000000, got 0",
            "spool.max_bytes: must be at least 1048576, got 5",
        ]
    );
}

#[test]
fn the_queue_must_hold_a_full_insert_and_the_spool_the_largest_message() {
    let text = "batching:\n  max_rows: 1000\nqueue:\n  max_rows: 999\ngrpc:\n  max_message_bytes: 4194304\nspool:\n  max_bytes: 2097152\n";
    let problems = lines(load_text(text, &[], &args()).unwrap_err());
    assert_eq!(
        problems,
        [
            "queue.max_rows: must be at least batching.max_rows (999 < 1000), so that a full INSERT fits in memory",
            "spool.max_bytes: must be at least grpc.max_message_bytes (2097152 < 4194304), or the largest accepted batch could never be spooled",
        ]
    );
}

#[test]
fn every_setting_has_one_environment_variable() {
    let settings = settings();
    assert!(settings.contains(&(
        "clickhouse.password".to_owned(),
        "NETMON_SERVER_CLICKHOUSE_PASSWORD".to_owned()
    )));
    assert!(settings.contains(&(
        "grpc.tls.client_ca".to_owned(),
        "NETMON_SERVER_GRPC_TLS_CLIENT_CA".to_owned()
    )));
    assert_eq!(settings.len(), 20);
}
