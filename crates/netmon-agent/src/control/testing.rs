//! Test helpers: a [`Control`] over a configuration file in a temporary
//! directory, with a fake flow table, its own (not installed) logging, and
//! a minimal HTTP client that can send bodies.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::live::FlowTableTarget;
use super::{Control, ControlParts};
use crate::config::{AgentArgs, ConfigSource};
use crate::export::prometheus::{AgentMetrics, MetricsOptions};
use crate::flow::FlowTableConfig;
use crate::telemetry::logging;

/// Records every configuration the flow table is given.
#[derive(Default)]
pub(crate) struct FakeTable {
    pub(crate) configs: Mutex<Vec<FlowTableConfig>>,
}

impl FlowTableTarget for FakeTable {
    fn set_flow_table(&self, config: FlowTableConfig) {
        self.configs.lock().unwrap().push(config);
    }
}

pub(crate) struct TestControl {
    pub(crate) control: Control,
    pub(crate) table: Arc<FakeTable>,
    pub(crate) metrics: Arc<AgentMetrics>,
    pub(crate) path: PathBuf,
    /// What the restart-required hook was last told.
    pub(crate) restart_required: Arc<Mutex<Vec<String>>>,
    /// The subscriber the control's log handle belongs to: enter it with
    /// `tracing::dispatcher::set_default` to capture lines in the ring.
    pub(crate) dispatch: tracing::Dispatch,
    dir: PathBuf,
}

impl Drop for TestControl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestControl {
    /// A control started from `yaml` as `--config <file>` plus `flags`,
    /// with `env` as the `NETMON_*` environment.
    pub(crate) fn start(yaml: &str, flags: &[&str], env: &[(&str, &str)]) -> TestControl {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("netmon-control-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("netmon.yaml");
        std::fs::write(&path, yaml).unwrap();

        let mut argv = vec!["netmon".to_owned(), "--config".to_owned()];
        argv.push(path.display().to_string());
        argv.extend(flags.iter().map(|flag| flag.to_string()));
        let args = AgentArgs::try_parse_from(&argv).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let config = crate::config::load(&args, env.clone()).unwrap();
        let source = ConfigSource::new(args, env);
        let (subscriber, log) = logging::build(&config.log, None, false);
        let table = Arc::new(FakeTable::default());
        let metrics = Arc::new(AgentMetrics::new(&MetricsOptions::default()).unwrap());
        let restart_required = Arc::new(Mutex::new(Vec::new()));
        let told = restart_required.clone();
        let control = Control::new(ControlParts {
            config,
            source,
            flags: flags
                .iter()
                .filter(|flag| flag.starts_with("--"))
                .map(|flag| flag.to_string())
                .collect(),
            log,
            flow_table: table.clone(),
            metrics: metrics.clone(),
            on_restart_required: Arc::new(move |keys| *told.lock().unwrap() = keys.to_vec()),
        });
        TestControl {
            control,
            table,
            metrics,
            path,
            restart_required,
            dispatch: tracing::Dispatch::new(subscriber),
            dir,
        }
    }

    /// `netmon_config_reloads_total{result}`.
    pub(crate) fn reloads_metric(&self, result: &str) -> Option<f64> {
        self.metrics
            .registry()
            .gather()
            .iter()
            .filter(|family| family.name() == "netmon_config_reloads_total")
            .flat_map(|family| family.get_metric().to_vec())
            .find(|metric| {
                metric
                    .get_label()
                    .iter()
                    .any(|label| label.name() == "result" && label.value() == result)
            })
            .map(|metric| metric.get_counter().get_value())
    }
}

/// A response: status and body parsed as JSON.
#[derive(Debug)]
pub(crate) struct JsonResponse {
    pub(crate) status: u16,
    pub(crate) body: serde_json::Value,
}

/// One HTTP/1.1 request with an optional JSON body (`Connection: close`).
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> JsonResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    JsonResponse { status, body }
}
