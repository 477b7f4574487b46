//! Real servers and clients of application protocols, run inside the
//! test's pod namespaces: dnsmasq and dig, a Python HTTP/1.1 server and
//! curl, nghttpd (HTTP/2), gRPC through Debian's python3-grpcio, OpenSSL's
//! s_server and s_client, Redis, PostgreSQL and MariaDB with their own
//! clients. Every server is started by the test, listens only on its pod's
//! address (or inside its pod's namespace), keeps its state in a temporary
//! folder, and is killed by its PID when dropped.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::Pod;
use super::{run, TempDir};

/// Debian's Python, which has python3-grpcio (the first `python3` on PATH
/// may be another installation).
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Tools the application-protocol tests need.
pub const APP_TOOLS: &[&str] = &[
    "dnsmasq",
    "dig",
    "curl",
    "nghttpd",
    "openssl",
    "redis-server",
    "redis-cli",
    "psql",
    "initdb",
    "postgres",
    "runuser",
    "mariadbd",
    "mariadb-install-db",
    "mariadb",
    "ss",
];

/// A server process in a pod, killed (by PID) and reaped on drop.
pub struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
    /// Keeps the server's files until it is gone.
    _dir: TempDir,
}

impl Server {
    /// Starts `program args` in `pod` with its output in a log file of a
    /// fresh temporary folder (`dir`, also handed to `args` via `prepare`).
    fn start(
        name: &'static str,
        pod: &Pod,
        dir: TempDir,
        program: &str,
        args: &[String],
    ) -> Server {
        let log = dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("server log");
        let child = Command::new("ip")
            .args(["netns", "exec", pod.ns_name(), program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log fd"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({program}): {e}"));
        Server {
            name,
            child,
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the pod has a socket listening on `port` (TCP, or UDP
    /// with `udp`); panics with the server's log if it exits or takes
    /// longer than `timeout`.
    fn wait_listening(&mut self, pod: &Pod, port: u16, udp: bool, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let flags = if udp { "-Hnlu" } else { "-Hnlt" };
        loop {
            let sockets =
                run(Command::new("ip").args(["netns", "exec", pod.ns_name(), "ss", flags]));
            let listening = sockets.lines().any(|line| {
                line.split_whitespace()
                    .nth(3)
                    .is_some_and(|local| local.ends_with(&format!(":{port}")))
            });
            if listening {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited with {status} before listening:\n{}",
                    self.name,
                    self.log()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} is not listening on {port} after {timeout:?}:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // `ip netns exec` execs the server, so this PID is the server's.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dir(purpose: &str) -> TempDir {
    TempDir::new(purpose)
}

fn ip_text(ip: IpAddr) -> String {
    ip.to_string()
}

/// dnsmasq answering `name` with `address` and NXDOMAIN for every other
/// name under `netmon.test`; it has no upstream, so it never sends a query
/// anywhere.
pub fn dnsmasq(pod: &Pod, listen: IpAddr, name: &str, address: IpAddr) -> Server {
    let dir = dir("dnsmasq");
    let pid_file = dir.path().join("dnsmasq.pid");
    let args = vec![
        "--keep-in-foreground".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--no-poll".into(),
        "--conf-file=/dev/null".into(),
        format!("--pid-file={}", pid_file.display()),
        "--user=root".into(),
        "--bind-interfaces".into(),
        format!("--listen-address={}", ip_text(listen)),
        "--port=53".into(),
        format!("--address=/{name}/{address}"),
        "--local=/netmon.test/".into(),
        "--log-facility=-".into(),
    ];
    let mut server = Server::start("dnsmasq", pod, dir, "dnsmasq", &args);
    server.wait_listening(pod, 53, true, Duration::from_secs(10));
    server.wait_listening(pod, 53, false, Duration::from_secs(10));
    server
}

/// One `dig` run: what the resolver said and how long the command took.
#[derive(Debug, Clone)]
pub struct DigResult {
    pub status: String,
    pub answers: Vec<String>,
    pub took: Duration,
}

/// `dig @server name qtype` from `pod`, one try (`tcp`: over TCP).
pub fn dig(pod: &Pod, server: IpAddr, name: &str, qtype: &str, tcp: bool) -> DigResult {
    let started = Instant::now();
    let server_arg = format!("@{server}");
    let mut args = vec![
        server_arg.as_str(),
        name,
        qtype,
        "+time=2",
        "+tries=1",
        "+nocookie",
    ];
    if tcp {
        args.push("+tcp");
    }
    let out = pod.ns.exec("dig", &args);
    let took = started.elapsed();
    let status = out
        .split("status: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("dig printed no status:\n{out}"))
        .to_string();
    let answers = out
        .split(";; ANSWER SECTION:")
        .nth(1)
        .map(|section| {
            section
                .lines()
                .skip(1)
                .take_while(|l| !l.trim().is_empty())
                .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    DigResult {
        status,
        answers,
        took,
    }
}

const HTTP1_SERVER: &str = r#"
import http.server, socketserver, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"hello from netmon's test\n" if self.path == "/" else b""
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
# socketserver.TCPServer, not http.server.HTTPServer: the latter resolves
# its own host name at bind time, a DNS query the test did not ask for.
class Server(socketserver.TCPServer):
    allow_reuse_address = True
Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
"#;

/// An HTTP/1.1 server answering 200 on `/` and 404 elsewhere.
pub fn http1_server(pod: &Pod, port: u16) -> Server {
    let dir = dir("http1");
    let args = vec![
        "-c".into(),
        HTTP1_SERVER.into(),
        ip_text(pod.ip(super::netns::IpVersion::V4)),
        port.to_string(),
    ];
    let mut server = Server::start("http1", pod, dir, SYSTEM_PYTHON, &args);
    server.wait_listening(pod, port, false, Duration::from_secs(10));
    server
}

/// `curl` from `pod`: the HTTP status code it got.
pub fn curl(pod: &Pod, url: &str, extra: &[&str]) -> u16 {
    let mut args = vec![
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--noproxy",
        "*",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    let code = pod.ns.exec("curl", &args);
    code.trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl printed {code:?}"))
}

/// nghttpd serving a folder with one file over cleartext HTTP/2 (h2c).
pub fn nghttpd(pod: &Pod, port: u16) -> Server {
    let dir = dir("nghttpd");
    std::fs::write(dir.path().join("index.html"), "hello over h2c\n").expect("docroot");
    let args = vec![
        "--no-tls".into(),
        "-d".into(),
        dir.path().display().to_string(),
        port.to_string(),
    ];
    let mut server = Server::start("nghttpd", pod, dir, "nghttpd", &args);
    server.wait_listening(pod, port, false, Duration::from_secs(10));
    server
}

const GRPC_SERVER: &str = r#"
import grpc, sys, time
from concurrent import futures
def echo(request, context):
    return request
handler = grpc.method_handlers_generic_handler("netmon.Test", {
    "Echo": grpc.unary_unary_rpc_method_handler(echo),
})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
server.add_generic_rpc_handlers((handler,))
server.add_insecure_port(sys.argv[1])
server.start()
server.wait_for_termination()
"#;

const GRPC_CLIENT: &str = r#"
import grpc, sys
with grpc.insecure_channel(sys.argv[1]) as channel:
    echo = channel.unary_unary("/netmon.Test/Echo")
    print(len(echo(b"ping from netmon's test", timeout=5)))
"#;

/// A gRPC server (python3-grpcio, the C-core library) with one unary
/// method that echoes its request.
pub fn grpc_server(pod: &Pod, port: u16) -> Server {
    let dir = dir("grpc");
    let target = format!("{}:{port}", pod.ip(super::netns::IpVersion::V4));
    let args = vec!["-c".into(), GRPC_SERVER.into(), target];
    let mut server = Server::start("grpc", pod, dir, SYSTEM_PYTHON, &args);
    server.wait_listening(pod, port, false, Duration::from_secs(15));
    server
}

/// One unary gRPC call from `pod`; returns the echoed length.
pub fn grpc_call(pod: &Pod, server: IpAddr, port: u16) -> usize {
    let target = format!("{server}:{port}");
    let out = pod.ns.exec(SYSTEM_PYTHON, &["-c", GRPC_CLIENT, &target]);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("gRPC client printed {out:?}"))
}

/// `openssl s_server` with a fresh self-signed certificate.
pub fn tls_server(pod: &Pod, port: u16) -> Server {
    let dir = dir("tls");
    let key = dir.path().join("key.pem");
    let cert = dir.path().join("cert.pem");
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=svc.netmon.test",
        "-keyout",
        path_text(&key),
        "-out",
        path_text(&cert),
    ]));
    let args = vec![
        "s_server".into(),
        "-accept".into(),
        format!("{}:{port}", pod.ip(super::netns::IpVersion::V4)),
        "-cert".into(),
        path_text(&cert).into(),
        "-key".into(),
        path_text(&key).into(),
        "-quiet".into(),
    ];
    let mut server = Server::start("s_server", pod, dir, "openssl", &args);
    server.wait_listening(pod, port, false, Duration::from_secs(10));
    server
}

/// A TLS handshake from `pod` with `sni`; `extra` e.g. `-tls1_2`.
/// Returns the protocol s_client reports ("TLSv1.3").
pub fn tls_handshake(pod: &Pod, server: IpAddr, port: u16, sni: &str, extra: &[&str]) -> String {
    let connect = format!("{server}:{port}");
    let mut args = vec![
        "s_client",
        "-connect",
        &connect,
        "-servername",
        sni,
        "-brief",
    ];
    args.extend_from_slice(extra);
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", pod.ns_name(), "openssl"])
        .args(&args)
        .stdin(Stdio::null());
    let output = command.output().expect("run s_client");
    // -brief reports on stderr.
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("Protocol version: "))
        .unwrap_or_else(|| panic!("s_client did not connect:\n{text}"))
        .trim()
        .to_string()
}

/// redis-server without persistence, on the pod's address.
pub fn redis_server(pod: &Pod, port: u16) -> Server {
    let dir = dir("redis");
    let args = vec![
        "--port".into(),
        port.to_string(),
        "--bind".into(),
        ip_text(pod.ip(super::netns::IpVersion::V4)),
        "--save".into(),
        "".into(),
        "--appendonly".into(),
        "no".into(),
        "--protected-mode".into(),
        "no".into(),
        "--daemonize".into(),
        "no".into(),
        "--dir".into(),
        dir.path().display().to_string(),
    ];
    let mut server = Server::start("redis", pod, dir, "redis-server", &args);
    server.wait_listening(pod, port, false, Duration::from_secs(10));
    server
}

/// `redis-cli` from `pod`: its output for `command`.
pub fn redis_cli(pod: &Pod, server: IpAddr, port: u16, command: &[&str]) -> String {
    let host = server.to_string();
    let port = port.to_string();
    let mut args = vec!["-h", host.as_str(), "-p", port.as_str()];
    args.extend_from_slice(command);
    pod.ns.exec("redis-cli", &args).trim().to_string()
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A PostgreSQL cluster made with initdb (trust authentication), run as the
/// `postgres` user on the pod's address.
pub fn postgres_server(pod: &Pod, port: u16) -> Server {
    let dir = dir("postgres");
    let data = dir.path().join("data");
    // initdb refuses root: the cluster belongs to the postgres user.
    run(Command::new("chown").args(["postgres", path_text(dir.path())]));
    run(Command::new("runuser").args([
        "-u",
        "postgres",
        "--",
        "initdb",
        "-D",
        path_text(&data),
        "-A",
        "trust",
        "--no-sync",
    ]));
    let args = vec![
        "-u".into(),
        "postgres".into(),
        "--".into(),
        "postgres".into(),
        "-D".into(),
        path_text(&data).into(),
        "-k".into(),
        path_text(dir.path()).into(),
        "-h".into(),
        ip_text(pod.ip(super::netns::IpVersion::V4)),
        "-p".into(),
        port.to_string(),
        "-c".into(),
        "fsync=off".into(),
    ];
    let mut server = Server::start("postgres", pod, dir, "runuser", &args);
    server.wait_listening(pod, port, false, Duration::from_secs(30));
    server
}

/// `psql -c 'select 1'` from `pod`; returns what the query printed.
pub fn psql(pod: &Pod, server: IpAddr, port: u16) -> String {
    let conninfo =
        format!("host={server} port={port} user=postgres dbname=postgres sslmode=disable");
    pod.ns
        .exec("psql", &[&conninfo, "-At", "-c", "select 1"])
        .trim()
        .to_string()
}

/// A MariaDB server with a fresh data folder, no grant tables.
pub fn mariadb_server(pod: &Pod, port: u16) -> Server {
    let dir = dir("mariadb");
    let data = dir.path().join("data");
    run(Command::new("mariadb-install-db").args([
        "--no-defaults",
        &format!("--datadir={}", data.display()),
        "--user=root",
        "--skip-test-db",
        "--auth-root-authentication-method=normal",
    ]));
    let args = vec![
        "--no-defaults".into(),
        format!("--datadir={}", data.display()),
        "--user=root".into(),
        format!("--bind-address={}", pod.ip(super::netns::IpVersion::V4)),
        format!("--port={port}"),
        format!("--socket={}", dir.path().join("mysqld.sock").display()),
        format!("--pid-file={}", dir.path().join("mysqld.pid").display()),
        "--skip-grant-tables".into(),
        "--skip-log-bin".into(),
        "--innodb-buffer-pool-size=16M".into(),
    ];
    let mut server = Server::start("mariadb", pod, dir, "mariadbd", &args);
    server.wait_listening(pod, port, false, Duration::from_secs(60));
    server
}

/// `SELECT VERSION()` from `pod` with the mariadb client: the server's own
/// version string.
pub fn mariadb_version(pod: &Pod, server: IpAddr, port: u16) -> String {
    let host = format!("--host={server}");
    let port = format!("--port={port}");
    pod.ns
        .exec(
            "mariadb",
            &[
                "--no-defaults",
                &host,
                &port,
                "--user=root",
                "-N",
                "-B",
                "-e",
                "SELECT VERSION()",
            ],
        )
        .trim()
        .to_string()
}

const BANNER_SERVER: &str = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4)
while True:
    c, _ = s.accept()
    c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    c.recv(100)
    c.close()
"#;

const BANNER_CLIENT: &str = r#"
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
print(c.recv(100).decode().strip())
c.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n")
c.close()
"#;

/// A server that greets like an SSH server: a protocol netmon does not
/// recognise.
pub fn banner_server(pod: &Pod, port: u16) -> Server {
    let dir = dir("banner");
    let args = vec![
        "-c".into(),
        BANNER_SERVER.into(),
        ip_text(pod.ip(super::netns::IpVersion::V4)),
        port.to_string(),
    ];
    let mut server = Server::start("banner", pod, dir, SYSTEM_PYTHON, &args);
    server.wait_listening(pod, port, false, Duration::from_secs(10));
    server
}

/// Reads the banner and answers with one; returns the banner.
pub fn banner_exchange(pod: &Pod, server: IpAddr, port: u16) -> String {
    pod.ns
        .exec(
            SYSTEM_PYTHON,
            &["-c", BANNER_CLIENT, &server.to_string(), &port.to_string()],
        )
        .trim()
        .to_string()
}
