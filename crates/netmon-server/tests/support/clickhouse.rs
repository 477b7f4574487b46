//! A real ClickHouse server (Debian's `clickhouse-server`, 18.16 here) on
//! loopback, with its config, data and logs in a temporary directory and on
//! free ports. It can be stopped (SIGTERM) and started again on the same
//! directory and ports, and is killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http;
use super::temp::{free_port, TempDir};

const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct ClickHouse {
    dir: TempDir,
    pub http_port: u16,
    pub tcp_port: u16,
    child: Option<Child>,
}

impl ClickHouse {
    /// Starts a server and waits until `/ping` answers.
    pub fn start() -> ClickHouse {
        let dir = TempDir::new("netmon-clickhouse");
        let mut clickhouse = ClickHouse {
            http_port: free_port(),
            tcp_port: free_port(),
            dir,
            child: None,
        };
        clickhouse.write_config();
        clickhouse.launch();
        clickhouse
    }

    /// `http://127.0.0.1:PORT`, for `clickhouse.url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGTERM, then waits for the process to end.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling a child this struct started, by its PID.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Starts it again on the same directory and ports.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Runs `sql` and returns the answer, panicking on an error answer.
    pub fn query(&self, sql: &str) -> String {
        match http::request(self.http_port, "POST", "/", sql.as_bytes()) {
            Ok((200, body)) => body,
            Ok((status, body)) => panic!("ClickHouse answered {status} to {sql:?}: {body}"),
            Err(error) => panic!("ClickHouse unreachable for {sql:?}: {error}"),
        }
    }

    /// The single line of a one-row answer, with its columns split.
    pub fn row(&self, sql: &str) -> Vec<String> {
        self.query(sql)
            .trim_end()
            .split('\t')
            .map(str::to_owned)
            .collect()
    }

    fn launch(&mut self) {
        let config = self.dir.path().join("config.xml");
        let log = std::fs::File::create(self.dir.path().join("stdout.log")).expect("create log");
        let (program, leading): (PathBuf, &[&str]) = binary();
        let child = Command::new(program)
            .args(leading)
            .arg(format!("--config-file={}", config.display()))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("start clickhouse-server (apt-get install clickhouse-server; scripts/setup.sh does)");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok((200, body)) = http::request(self.http_port, "GET", "/ping", b"") {
                if body.trim() == "Ok." {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "clickhouse-server exited with {status}; see {}",
                    self.dir.path().display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "clickhouse-server did not answer /ping"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn write_config(&self) {
        let dir = self.dir.path().display();
        let config = format!(
            r#"<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{dir}/log/server.log</log><errorlog>{dir}/log/error.log</errorlog><console>0</console></logger>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/tmp/</tmp_path>
    <user_files_path>{dir}/user_files/</user_files_path>
    <format_schema_path>{dir}/format_schemas/</format_schema_path>
    <users_config>{dir}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>67108864</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
</yandex>
"#,
            http = self.http_port,
            tcp = self.tcp_port,
        );
        let users = r#"<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
  </users>
  <quotas><default></default></quotas>
</yandex>
"#;
        write(&self.dir.path().join("config.xml"), &config);
        write(&self.dir.path().join("users.xml"), users);
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// `clickhouse-server`, or the multi-call `clickhouse server`.
fn binary() -> (PathBuf, &'static [&'static str]) {
    let dirs = ["/usr/bin", "/usr/sbin", "/usr/local/bin"];
    for dir in dirs {
        let path = Path::new(dir).join("clickhouse-server");
        if path.exists() {
            return (path, &[]);
        }
    }
    for dir in dirs {
        let path = Path::new(dir).join("clickhouse");
        if path.exists() {
            return (path, &["server"]);
        }
    }
    (PathBuf::from("clickhouse-server"), &[])
}
