//! Real servers and clients of application protocols, run inside the
//! test's pod namespaces: dnsmasq and dig, a Python HTTP/1.1 server and
//! curl, nghttpd (HTTP/2), gRPC through Debian's python3-grpcio, OpenSSL's
//! s_server and s_client, Redis, PostgreSQL and MariaDB with their own
//! clients, and a server greeting like SSH.
//!
//! Every server is started by the test with `ip netns exec`, which execs
//! the program in place (and so does `setpriv` for the PostgreSQL server,
//! which must not run as root), so the child's PID is the server's own. It
//! listens only on its pod's address, keeps its state in a temporary
//! folder, and is stopped by that PID when dropped (SIGTERM, then SIGKILL),
//! also when the test panics. A launcher returns once the server's socket
//! is listening, which it reads with `ss` in the pod: no connection is made
//! to find out, so nothing but the test's own traffic crosses the veths.
//! Servers use fixed ports of the pod's address: the namespaces belong to
//! one test, so a system service of the same program on the host (or a
//! concurrent test's server) cannot hold them.
//!
//! Clients run to completion in a pod with a time limit, without the proxy
//! variables of the environment, and fail the test with their output when
//! they fail.
//!
//! Declare a server after the `TestNode` whose pod it runs in, so that it
//! is stopped before the namespaces are deleted.

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::netns::{IpVersion, Pod};
use super::{run, TempDir};

/// Debian's Python, which has python3-grpcio (the first `python3` on PATH
/// may be another installation, such as a pyenv shim).
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Tools the DNS tests need.
pub const DNS_TOOLS: &[&str] = &["dnsmasq", "dig", "ss"];

/// Tools the application-protocol tests need (see also
/// [`app_tools_missing`] for what is not a command on PATH).
pub const APP_TOOLS: &[&str] = &[
    SYSTEM_PYTHON,
    "curl",
    "nghttpd",
    "openssl",
    "redis-server",
    "redis-cli",
    "psql",
    "setpriv",
    "mariadbd",
    "mariadb-install-db",
    "mariadb",
    "ss",
];

/// How long a server may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Proxy settings the clients must not see: they talk to the pods directly.
const PROXY_VARIABLES: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "grpc_proxy",
];

/// What the application-protocol tests need besides [`APP_TOOLS`]: the
/// PostgreSQL server binaries (Debian keeps them off PATH) and the gRPC
/// module of [`SYSTEM_PYTHON`]. Empty when all is there.
pub fn app_tools_missing() -> Vec<String> {
    let mut missing = Vec::new();
    if postgres_bin_dir().is_none() {
        missing.push(
            "no `postgres` and `initdb` in /usr/lib/postgresql/*/bin (Debian package postgresql)"
                .to_string(),
        );
    }
    let grpc = Command::new(SYSTEM_PYTHON)
        .args(["-c", "import grpc"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !grpc {
        missing.push(format!(
            "`{SYSTEM_PYTHON} -c 'import grpc'` fails (Debian package python3-grpcio)"
        ));
    }
    missing
}

/// The newest `/usr/lib/postgresql/<version>/bin` with a server and initdb.
fn postgres_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("postgres").is_file() && bin.join("initdb").is_file())
                .then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

/// A server process in a pod, stopped (by PID) and reaped on drop.
pub struct Server {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
    /// Keeps the server's files until it is gone.
    _dir: TempDir,
}

impl Server {
    /// Starts `program args` in `pod`, in `dir`, with its output in a log
    /// file there.
    fn start(
        name: &'static str,
        pod: &Pod,
        dir: TempDir,
        program: &str,
        args: &[String],
    ) -> Server {
        let log = dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("server log");
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", pod.ns_name(), program])
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log fd"))
            .stderr(out);
        for variable in PROXY_VARIABLES {
            command.env_remove(variable);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({program}): {e}"));
        Server {
            name,
            child: Some(child),
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// Waits until the pod has a socket listening on `port` (TCP, or UDP
    /// with `udp`); panics with the server's log if it exits first or takes
    /// longer than `READY_TIMEOUT`.
    fn wait_listening(&mut self, pod: &Pod, port: u16, udp: bool) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let flags = if udp { "-Hnlu" } else { "-Hnlt" };
        let suffix = format!(":{port}");
        loop {
            let sockets =
                run(Command::new("ip").args(["netns", "exec", pod.ns_name(), "ss", flags]));
            let listening = sockets.lines().any(|line| {
                line.split_whitespace()
                    .nth(3)
                    .is_some_and(|local| local.ends_with(&suffix))
            });
            if listening {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                panic!(
                    "{} exited with {status} before listening on {port}:\n{}",
                    self.name,
                    self.log()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} is not listening on {port} after {READY_TIMEOUT:?}:\n{}",
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
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) on the PID of our own child, which has not
            // been reaped, so the PID cannot belong to another process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(None) = child.try_wait() {
            eprintln!(
                "{} did not exit within {STOP_TIMEOUT:?} of SIGTERM: killing it",
                self.name
            );
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let start = log
                .char_indices()
                .rev()
                .nth(6000)
                .map_or(0, |(index, _)| index);
            eprintln!(
                "---- {} log (end) ----\n{}\n---- end of {} log ----",
                self.name,
                &log[start..],
                self.name
            );
        }
    }
}

/// What a client printed, and how long it ran.
#[derive(Debug, Clone)]
pub struct ClientOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// From just before it was started to its exit (`ip netns exec`
    /// included): an upper bound of anything it measured.
    pub elapsed: Duration,
}

/// Runs `program args` in `pod` to completion (stdin closed) and returns
/// its output; panics with that output if it fails, or if it runs longer
/// than `CLIENT_TIMEOUT` (it is killed then).
pub fn run_client(pod: &Pod, program: &str, args: &[&str]) -> ClientOutput {
    let output = run_client_unchecked(pod, program, args);
    assert!(
        output.status.success(),
        "{program} {args:?} in {} failed with {}:\nstdout:\n{}\nstderr:\n{}",
        pod.ns_name(),
        output.status,
        output.stdout,
        output.stderr
    );
    output
}

/// Like [`run_client`], returning a failed run instead of panicking.
pub fn run_client_unchecked(pod: &Pod, program: &str, args: &[&str]) -> ClientOutput {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", pod.ns_name(), program])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let stdout = read_all(child.stdout.take().expect("piped stdout"));
    let stderr = read_all(child.stderr.take().expect("piped stderr"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for client") {
            break status;
        }
        if started.elapsed() > CLIENT_TIMEOUT {
            // Our own child, not reaped yet.
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{program} {args:?} did not finish within {CLIENT_TIMEOUT:?}; stderr:\n{}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = started.elapsed();
    ClientOutput {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed,
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn dir(purpose: &str) -> TempDir {
    TempDir::new(purpose)
}

fn ipv4_text(pod: &Pod) -> String {
    pod.ip(IpVersion::V4).to_string()
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

// ---------------------------------------------------------------- DNS

/// The domain dnsmasq is authoritative for.
pub const DNS_DOMAIN: &str = "netmon.test";

/// dnsmasq on UDP and TCP port 53 of `listen` (an address of `pod`),
/// answering A and AAAA queries for each name of `records` with its
/// addresses (`--host-record`) and NXDOMAIN for every other name under
/// [`DNS_DOMAIN`] (`--local`); it has no upstream (`--no-resolv`), so it
/// never sends a query anywhere.
pub fn dnsmasq(pod: &Pod, listen: IpAddr, records: &[(&str, &[IpAddr])]) -> Server {
    let dir = dir("dnsmasq");
    let pid_file = dir.path().join("dnsmasq.pid");
    let mut args = vec![
        "--keep-in-foreground".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--no-poll".into(),
        "--conf-file=/dev/null".into(),
        format!("--pid-file={}", pid_file.display()),
        "--user=root".into(),
        "--bind-interfaces".into(),
        format!("--listen-address={listen}"),
        "--port=53".into(),
        format!("--local=/{DNS_DOMAIN}/"),
        "--log-queries".into(),
        "--log-facility=-".into(),
    ];
    for (name, addresses) in records {
        assert!(name.ends_with(DNS_DOMAIN), "{name} is not in {DNS_DOMAIN}");
        let list: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
        args.push(format!("--host-record={name},{}", list.join(",")));
    }
    let mut server = Server::start("dnsmasq", pod, dir, "dnsmasq", &args);
    server.wait_listening(pod, 53, true);
    server.wait_listening(pod, 53, false);
    server
}

/// One `dig` run: what the resolver said and how long the command took.
#[derive(Debug, Clone)]
pub struct DigResult {
    /// "NOERROR", "NXDOMAIN", ... from dig's header line.
    pub status: String,
    /// RDATA of the answers of the queried type.
    pub answers: Vec<String>,
    /// Start to exit of dig: an upper bound of the query's latency.
    pub took: Duration,
}

/// `dig @server name qtype` from `pod`, one try (`tcp`: over TCP), sent
/// from the pod's IPv4 address and `source_port`, so the test knows which
/// flow is this query's.
pub fn dig(
    pod: &Pod,
    server: IpAddr,
    name: &str,
    qtype: &str,
    tcp: bool,
    source_port: u16,
) -> DigResult {
    let server_arg = format!("@{server}");
    let source = format!("{}#{source_port}", ipv4_text(pod));
    let mut args = vec![
        server_arg.as_str(),
        "-b",
        source.as_str(),
        name,
        qtype,
        "+time=2",
        "+tries=1",
        "+nocookie",
    ];
    if tcp {
        args.push("+tcp");
    }
    let output = run_client(pod, "dig", &args);
    let out = &output.stdout;
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
                .filter_map(|l| {
                    let fields: Vec<&str> = l.split_whitespace().collect();
                    (fields.len() >= 5 && fields[3] == qtype).then(|| fields[4].to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    DigResult {
        status,
        answers,
        took: output.elapsed,
    }
}

// ---------------------------------------------------------------- HTTP

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

/// An HTTP/1.1 server (Python's `http.server` handler) answering 200 on
/// `/` and 404 elsewhere, one request per connection.
pub fn http1_server(pod: &Pod, port: u16) -> Server {
    let dir = dir("http1");
    let args = vec![
        "-c".into(),
        HTTP1_SERVER.into(),
        ipv4_text(pod),
        port.to_string(),
    ];
    let mut server = Server::start("http1", pod, dir, SYSTEM_PYTHON, &args);
    server.wait_listening(pod, port, false);
    server
}

/// What `curl` reported of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurlResult {
    pub status: u16,
    /// The client's port: which flow is this request's.
    pub local_port: u16,
}

/// One `curl` request from `pod` (its own connection); `extra` e.g.
/// `--http2-prior-knowledge`.
pub fn curl(pod: &Pod, url: &str, extra: &[&str]) -> CurlResult {
    let mut args = vec![
        "-sS",
        "--max-time",
        "10",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{local_port}",
        "--noproxy",
        "*",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    let out = run_client(pod, "curl", &args).stdout;
    let parsed = out
        .split_once(' ')
        .and_then(|(status, port)| Some((status.parse().ok()?, port.trim().parse().ok()?)));
    match parsed {
        Some((status, local_port)) => CurlResult { status, local_port },
        None => panic!("curl printed {out:?}"),
    }
}

/// nghttpd serving a folder with one file over cleartext HTTP/2 (h2c).
pub fn nghttpd(pod: &Pod, port: u16) -> Server {
    let dir = dir("nghttpd");
    let docroot = dir.path().join("www");
    std::fs::create_dir_all(&docroot).expect("docroot");
    std::fs::write(docroot.join("index.html"), "hello over h2c\n").expect("index.html");
    let args = vec![
        "--no-tls".into(),
        format!("--address={}", ipv4_text(pod)),
        "-d".into(),
        docroot.display().to_string(),
        port.to_string(),
    ];
    let mut server = Server::start("nghttpd", pod, dir, "nghttpd", &args);
    server.wait_listening(pod, port, false);
    server
}

// ---------------------------------------------------------------- gRPC

const GRPC_SERVER: &str = r#"
import grpc, sys
from concurrent import futures
def echo(request, context):
    return request
handler = grpc.method_handlers_generic_handler("netmon.Test", {
    "Echo": grpc.unary_unary_rpc_method_handler(echo),
})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
server.add_generic_rpc_handlers((handler,))
if server.add_insecure_port(sys.argv[1]) == 0:
    sys.exit(f"cannot listen on {sys.argv[1]}")
server.start()
server.wait_for_termination()
"#;

const GRPC_CLIENT: &str = r#"
import grpc, sys
options = [("grpc.enable_http_proxy", 0)]
with grpc.insecure_channel(sys.argv[1], options=options) as channel:
    echo = channel.unary_unary("/netmon.Test/Echo")
    print(len(echo(b"ping from netmon's test", timeout=10)))
"#;

/// A gRPC server (python3-grpcio, the C-core library) with one unary
/// method, `/netmon.Test/Echo`, that echoes its request (bytes in, bytes
/// out: no generated code needed).
pub fn grpc_server(pod: &Pod, port: u16) -> Server {
    let dir = dir("grpc");
    let target = format!("{}:{port}", ipv4_text(pod));
    let args = vec!["-c".into(), GRPC_SERVER.into(), target];
    let mut server = Server::start("grpc", pod, dir, SYSTEM_PYTHON, &args);
    server.wait_listening(pod, port, false);
    server
}

/// One unary gRPC call from `pod` (one connection); returns the length of
/// the echo.
pub fn grpc_call(pod: &Pod, server: IpAddr, port: u16) -> usize {
    let target = format!("ipv4:{server}:{port}");
    let out = run_client(pod, SYSTEM_PYTHON, &["-c", GRPC_CLIENT, &target]).stdout;
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("gRPC client printed {out:?}"))
}

// ---------------------------------------------------------------- TLS

/// `openssl s_server` with a fresh self-signed EC certificate, serving one
/// connection after another.
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
        format!("{}:{port}", ipv4_text(pod)),
        "-cert".into(),
        path_text(&cert).into(),
        "-key".into(),
        path_text(&key).into(),
        "-quiet".into(),
    ];
    let mut server = Server::start("s_server", pod, dir, "openssl", &args);
    server.wait_listening(pod, port, false);
    server
}

/// A TLS handshake from `pod` with `sni` (stdin closed: s_client ends the
/// session once the handshake is done); `extra` e.g. `-tls1_2`. Returns
/// the protocol s_client reports ("TLSv1.3").
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
    let output = run_client_unchecked(pod, "openssl", &args);
    // -brief reports on stderr.
    output
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("Protocol version: "))
        .unwrap_or_else(|| {
            panic!(
                "s_client did not connect ({}):\n{}{}",
                output.status, output.stdout, output.stderr
            )
        })
        .trim()
        .to_string()
}

// ---------------------------------------------------------------- Redis

/// redis-server without persistence, on the pod's address.
pub fn redis_server(pod: &Pod, port: u16) -> Server {
    let dir = dir("redis");
    let args = vec![
        "--port".into(),
        port.to_string(),
        "--bind".into(),
        ipv4_text(pod),
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
    server.wait_listening(pod, port, false);
    server
}

/// One `redis-cli` command from `pod` (one connection): its output.
pub fn redis_cli(pod: &Pod, server: IpAddr, port: u16, command: &[&str]) -> String {
    let host = server.to_string();
    let port = port.to_string();
    let mut args = vec!["-h", host.as_str(), "-p", port.as_str()];
    args.extend_from_slice(command);
    run_client(pod, "redis-cli", &args)
        .stdout
        .trim()
        .to_string()
}

// ---------------------------------------------------------------- PostgreSQL

/// `setpriv` as the `postgres` user: initdb and the server refuse root.
/// setpriv execs the program in place (runuser would fork and wait, and a
/// server behind it would outlive a kill of the PID the test holds).
const AS_POSTGRES: [&str; 4] = [
    "setpriv",
    "--reuid=postgres",
    "--regid=postgres",
    "--init-groups",
];

/// A PostgreSQL cluster made with initdb (trust authentication, from any
/// address), run as the `postgres` user on the pod's address.
pub fn postgres_server(pod: &Pod, port: u16) -> Server {
    let bin = postgres_bin_dir().expect("PostgreSQL binaries (see app_tools_missing)");
    let dir = dir("postgres");
    let data = dir.path().join("data");
    run(Command::new("chown").args(["postgres:postgres", path_text(dir.path())]));
    run(Command::new(AS_POSTGRES[0])
        .args(&AS_POSTGRES[1..])
        .arg(bin.join("initdb"))
        .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
        .arg("-D")
        .arg(&data)
        .current_dir(dir.path()));
    // initdb trusts local connections only; the client is in another pod.
    let hba = data.join("pg_hba.conf");
    let mut rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
    rules.push_str("host all all 0.0.0.0/0 trust\nhost all all ::/0 trust\n");
    std::fs::write(&hba, rules).expect("write pg_hba.conf");
    let mut args: Vec<String> = AS_POSTGRES[1..].iter().map(|s| (*s).to_string()).collect();
    args.extend([
        path_text(&bin.join("postgres")).to_string(),
        "-D".into(),
        path_text(&data).into(),
        "-k".into(),
        path_text(dir.path()).into(),
        "-h".into(),
        ipv4_text(pod),
        "-p".into(),
        port.to_string(),
        "-c".into(),
        "fsync=off".into(),
        "-c".into(),
        "shared_buffers=16MB".into(),
    ]);
    let mut server = Server::start("postgres", pod, dir, AS_POSTGRES[0], &args);
    server.wait_listening(pod, port, false);
    server
}

/// `psql -c 'select 1'` from `pod` (one connection) with `sslmode`
/// (`disable`: a plain startup message; `prefer`: an SSLRequest first,
/// which this server, without SSL, declines); returns what it printed.
pub fn psql(pod: &Pod, server: IpAddr, port: u16, sslmode: &str) -> String {
    let conninfo = format!(
        "host={server} port={port} user=postgres dbname=postgres sslmode={sslmode} \
         connect_timeout=10"
    );
    run_client(
        pod,
        "psql",
        &["-X", "-At", "-d", &conninfo, "-c", "select 1"],
    )
    .stdout
    .trim()
    .to_string()
}

// ---------------------------------------------------------------- MariaDB

/// A MariaDB server with a fresh data folder (mariadb-install-db), run
/// without grant tables on the pod's address.
pub fn mariadb_server(pod: &Pod, port: u16) -> Server {
    let dir = dir("mariadb");
    let data = dir.path().join("data");
    run(Command::new("mariadb-install-db").args([
        "--no-defaults",
        &format!("--datadir={}", data.display()),
        "--user=root",
        "--skip-test-db",
        "--skip-name-resolve",
        "--auth-root-authentication-method=normal",
    ]));
    let args = vec![
        "--no-defaults".into(),
        format!("--datadir={}", data.display()),
        format!("--tmpdir={}", dir.path().display()),
        "--user=root".into(),
        format!("--bind-address={}", ipv4_text(pod)),
        format!("--port={port}"),
        format!("--socket={}", dir.path().join("mysqld.sock").display()),
        format!("--pid-file={}", dir.path().join("mysqld.pid").display()),
        "--skip-grant-tables".into(),
        "--skip-name-resolve".into(),
        "--skip-log-bin".into(),
        "--innodb-buffer-pool-size=16M".into(),
    ];
    let mut server = Server::start("mariadb", pod, dir, "mariadbd", &args);
    server.wait_listening(pod, port, false);
    server
}

/// `SELECT VERSION()` from `pod` with the mariadb client over TCP (one
/// connection): the server's own version string.
pub fn mariadb_version(pod: &Pod, server: IpAddr, port: u16) -> String {
    let host = format!("--host={server}");
    let port = format!("--port={port}");
    run_client(
        pod,
        "mariadb",
        &[
            "--no-defaults",
            "--protocol=TCP",
            &host,
            &port,
            "--user=root",
            "-N",
            "-B",
            "-e",
            "SELECT VERSION()",
        ],
    )
    .stdout
    .trim()
    .to_string()
}

// ------------------------------------------------------------ unknown

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
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
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
        ipv4_text(pod),
        port.to_string(),
    ];
    let mut server = Server::start("banner", pod, dir, SYSTEM_PYTHON, &args);
    server.wait_listening(pod, port, false);
    server
}

/// Reads the banner and answers with one; returns the banner.
pub fn banner_exchange(pod: &Pod, server: IpAddr, port: u16) -> String {
    run_client(
        pod,
        SYSTEM_PYTHON,
        &["-c", BANNER_CLIENT, &server.to_string(), &port.to_string()],
    )
    .stdout
    .trim()
    .to_string()
}
