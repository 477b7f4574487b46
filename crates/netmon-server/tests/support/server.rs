//! A netmon-server process on free loopback ports, configured by a file
//! plus `NETMON_SERVER_*` variables, that can be killed (SIGKILL), stopped
//! (SIGTERM) and started again on the same spool; and [`Stack`], ClickHouse
//! and netmon-server together.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::clickhouse::ClickHouse;
use super::http;
use super::temp::{free_port, TempDir};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The netmon-server binary: `NETMON_SERVER_BIN`, else the one cargo built
/// for this crate's tests, else `netmon-server` next to the test binary's
/// directory (`target/debug/`), where `cargo build -p netmon-server` puts it.
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NETMON_SERVER_BIN") {
        return PathBuf::from(path);
    }
    if let Some(path) = option_env!("CARGO_BIN_EXE_netmon-server") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let target_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    target_dir.join("netmon-server")
}

pub struct NetmonServer {
    pub grpc_port: u16,
    pub metrics_port: u16,
    pub spool_dir: PathBuf,
    dir: TempDir,
    env: Vec<(String, String)>,
    child: Option<Child>,
    starts: u32,
}

impl NetmonServer {
    /// Starts a server inserting into `clickhouse_url` with its spool in
    /// `spool_dir`; `env` adds `NETMON_SERVER_*` settings. Waits until both
    /// listeners accept connections.
    pub fn start(clickhouse_url: &str, spool_dir: &Path, env: &[(&str, &str)]) -> NetmonServer {
        let dir = TempDir::new("netmon-server");
        let grpc_port = free_port();
        let metrics_port = free_port();
        let config = format!(
            "grpc:\n  address: 127.0.0.1:{grpc_port}\nmetrics:\n  address: 127.0.0.1:{metrics_port}\nclickhouse:\n  url: {clickhouse_url}\n  timeout: 5s\nspool:\n  dir: {}\nbatching:\n  max_delay: 100ms\nlog:\n  level: debug\n",
            spool_dir.display()
        );
        std::fs::write(dir.path().join("server.yaml"), config).expect("write the server config");
        let mut server = NetmonServer {
            grpc_port,
            metrics_port,
            spool_dir: spool_dir.to_owned(),
            dir,
            env: env
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            child: None,
            starts: 0,
        };
        server.launch();
        server
    }

    /// `http://127.0.0.1:PORT`, for a tonic channel.
    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// SIGKILL: no chance to flush or clean anything up.
    pub fn kill(&mut self) {
        self.signal_and_wait(libc::SIGKILL);
    }

    /// SIGTERM: a graceful stop.
    pub fn stop(&mut self) {
        self.signal_and_wait(libc::SIGTERM);
    }

    /// Starts it again with the same configuration, ports and spool.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// The `/metrics` exposition.
    pub fn metrics(&self) -> String {
        match http::request(self.metrics_port, "GET", "/metrics", b"") {
            Ok((200, body)) => body,
            other => panic!("GET /metrics: {other:?}"),
        }
    }

    /// The value of the sample named exactly `series` (with its labels, as
    /// `name{label="value"}`), or panics when it is absent.
    pub fn metric(&self, series: &str) -> f64 {
        let exposition = self.metrics();
        exposition
            .lines()
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == series).then(|| value.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no sample {series} in:\n{exposition}"))
    }

    /// The value of `series` once it equals `expected`, or its last value
    /// after `timeout`: for counters the server moves after ClickHouse has
    /// answered (the rows can be visible a moment before the server has
    /// counted its insert). Callers assert the result exactly.
    pub fn settled_metric(&self, series: &str, expected: f64, timeout: Duration) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.metric(series);
            if value == expected || Instant::now() >= deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the server logged (all its runs).
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|run| std::fs::read_to_string(self.log_path(run)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn log_path(&self, run: u32) -> PathBuf {
        self.dir.path().join(format!("server-{run}.log"))
    }

    fn launch(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("create the server log");
        let child = Command::new(server_binary())
            .arg("--config")
            .arg(self.dir.path().join("server.yaml"))
            .envs(self.env.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", server_binary().display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let grpc = TcpStream::connect(("127.0.0.1", self.grpc_port)).is_ok();
            let metrics = matches!(
                http::request(self.metrics_port, "GET", "/healthz", b""),
                Ok((200, _))
            );
            if grpc && metrics {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("netmon-server exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "netmon-server did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal_and_wait(&mut self, signal: libc::c_int) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling a child this struct started, by its PID.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            let _ = child.wait();
        }
    }
}

impl Drop for NetmonServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// ClickHouse and a netmon-server inserting into it (table `netmon.flows`),
/// each in its own temporary directory: what an agent test exports to.
///
/// ```ignore
/// let stack = Stack::start(&[("NETMON_SERVER_BATCHING_MAX_ROWS", "1000")]);
/// // point the agent at stack.server.grpc_url(), make traffic, then:
/// stack.wait_for_rows(expected_rows, Duration::from_secs(20));
/// let by_port = stack.clickhouse.query("SELECT dst_port, sum(tx_bytes) FROM netmon.flows GROUP BY dst_port FORMAT TabSeparated");
/// ```
pub struct Stack {
    pub server: NetmonServer,
    pub clickhouse: ClickHouse,
    spool: TempDir,
}

impl Stack {
    pub fn start(server_env: &[(&str, &str)]) -> Stack {
        let clickhouse = ClickHouse::start();
        let spool = TempDir::new("netmon-spool");
        let server =
            NetmonServer::start(&clickhouse.url(), &spool.path().join("spool"), server_env);
        Stack {
            server,
            clickhouse,
            spool,
        }
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.spool.path().join("spool")
    }

    /// `(count(), sum(tx_bytes))` of the flow table; `(0, 0)` before it exists.
    pub fn totals(&self) -> (u64, u64) {
        let exists = self.clickhouse.query("EXISTS TABLE netmon.flows").trim() == "1";
        if !exists {
            return (0, 0);
        }
        let row = self
            .clickhouse
            .row("SELECT count(), sum(tx_bytes) FROM netmon.flows FORMAT TabSeparated");
        (row[0].parse().unwrap_or(0), row[1].parse().unwrap_or(0))
    }

    /// Waits until the server has nothing queued and the table holds at
    /// least `rows` rows (it may hold more: the caller asserts exact
    /// figures after this returns).
    pub fn wait_for_rows(&self, rows: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let drained = self.server.metric("netmon_server_queue_batches") == 0.0;
            if drained && self.totals().0 >= rows {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {rows} rows, have {:?}; server log:\n{}",
                self.totals(),
                self.server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
