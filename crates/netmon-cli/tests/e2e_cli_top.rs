//! End-to-end: the real `netmon-cli top` in a pseudo-terminal, against the
//! real agent watching two pods, while the test makes two TCP streams of
//! known shape between them:
//! - "bulk": 40,000 bytes every 100 ms (400,000 payload bytes/s) in large
//!   writes, so few packets per byte;
//! - "chatty": 100-byte writes about every millisecond with Nagle off, so
//!   fewer bytes but more packets than bulk.
//!
//! The screen is read with a VT100 emulator. Rates are timing-based, so
//! bulk's shown rate is checked against its paced rate with a tolerance,
//! and the order of the two flows exactly.
//!
//! Needs root and `cargo build -p netmon-agent` (the harness runs the
//! workspace's `netmon` binary).

#[path = "../../netmon-agent/tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::agent::{Agent, AgentConfig};
use support::in_netns::in_netns;
use support::netns::IpVersion;
use support::{eventually, missing_prerequisites, TestNode, TOPOLOGY_TOOLS};

/// Where the harness's agent serves its API inside the node namespace
/// (`support::agent`), which the CLI is run in.
const AGENT_API: &str = "http://127.0.0.1:8080";
const SERVER_PORT: u16 = 5101;
const BULK_CHUNK: usize = 40_000;
const BULK_PERIOD: Duration = Duration::from_millis(100);
const BULK_PAYLOAD_RATE: f64 = BULK_CHUNK as f64 / 0.1;
const CHATTY_WRITE: usize = 100;
const CHATTY_PERIOD: Duration = Duration::from_millis(1);
const SCREEN_ROWS: u16 = 30;
const SCREEN_COLUMNS: u16 = 140;

#[test]
fn top_shows_the_tests_flows_with_their_rates_sorts_filters_and_quits_cleanly() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    // Moved out so the test can stop and restart it; declared after
    // `node`, it is still dropped before the namespaces are.
    let agent = node.agent;
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let server = SocketAddr::new(b.ip(IpVersion::V4), SERVER_PORT);
    let traffic = Traffic::start(a.ns_name(), b.ns_name(), server);
    let bulk = row_prefix(traffic.bulk_client);
    let chatty = row_prefix(traffic.chatty_client);

    let mut top = Top::start(
        Some(node.topology.node().name()),
        &[
            "--agent",
            AGENT_API,
            "top",
            "--port",
            &SERVER_PORT.to_string(),
            "--protocol",
            "tcp",
        ],
    );

    // Both flows, with rates (a flow's first rate needs two polls).
    eventually(
        Duration::from_secs(15),
        "top shows both flows with rates",
        || {
            let screen = top.screen();
            match (row(&screen, &bulk), row(&screen, &chatty)) {
                (Some(f), Some(s))
                    if f.bytes_per_second.is_some() && s.bytes_per_second.is_some() =>
                {
                    Ok(())
                }
                _ => Err(screen.text),
            }
        },
    );
    let header = top.screen().lines[0].clone();
    assert!(
        header.contains(&format!("agent {AGENT_API}")) && header.contains("every 1s"),
        "{header}"
    );
    assert!(header.contains("sort: bytes/s"), "{header}");
    assert!(top.screen().lines[1].contains("filter: port=5101 protocol=tcp"));

    // Sorted by bytes: bulk above chatty at every refresh. Rates are
    // judged by their median over five refreshes: a refresh that falls
    // right on one of the agent's drains can see none or two of them.
    let (mut bulk_rates, mut chatty_rates) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(1100));
        let screen = top.screen();
        assert_eq!(
            flow_rows(&screen, &[&bulk, &chatty]),
            vec![bulk.clone(), chatty.clone()],
            "by bytes, bulk comes first:\n{}",
            screen.text
        );
        let rate = |prefix: &str| {
            row(&screen, prefix)
                .and_then(|r| r.bytes_per_second)
                .unwrap_or_else(|| panic!("a rate for {prefix}:\n{}", screen.text))
        };
        bulk_rates.push(rate(&bulk));
        chatty_rates.push(rate(&chatty));
    }
    let (bulk_rate, chatty_rate) = (median(&mut bulk_rates), median(&mut chatty_rates));
    assert!(
        (BULK_PAYLOAD_RATE * 0.8..=BULK_PAYLOAD_RATE * 1.2).contains(&bulk_rate),
        "bulk's median shown rate {bulk_rate:.0} B/s is within 20% of its paced {BULK_PAYLOAD_RATE} B/s (samples {bulk_rates:?})"
    );
    assert!(
        bulk_rate > chatty_rate,
        "bulk's byte rate {bulk_rate:.0} B/s is above chatty's {chatty_rate:.0} B/s"
    );

    // `p`: the header names the new key and chatty (more packets) leads.
    top.type_keys(b"p");
    eventually(Duration::from_secs(3), "sorted by packets", || {
        let screen = top.screen();
        let by_packets = screen.lines[0].contains("sort: packets/s")
            && flow_rows(&screen, &[&bulk, &chatty]) == vec![chatty.clone(), bulk.clone()];
        match (row(&screen, &bulk), row(&screen, &chatty)) {
            (Some(f), Some(s)) if by_packets && s.packets_per_second > f.packets_per_second => {
                Ok(())
            }
            _ => Err(screen.text),
        }
    });

    // `/` + text + Enter: only the matching flow is left.
    top.type_keys(b"/");
    top.type_keys(chatty.as_bytes());
    top.type_keys(b"\r");
    eventually(Duration::from_secs(3), "filtered to chatty", || {
        let screen = top.screen();
        if screen.lines[1].contains(&format!("match: {chatty}"))
            && flow_rows(&screen, &[&bulk, &chatty]) == vec![chatty.clone()]
        {
            Ok(())
        } else {
            Err(screen.text)
        }
    });

    // Esc clears the filter; `f` sums the flows by peer: routed through
    // the node, each flow counts for both of its ends.
    top.type_keys(b"\x1b");
    eventually(Duration::from_secs(3), "filter cleared", || {
        let screen = top.screen();
        if flow_rows(&screen, &[&bulk, &chatty]) == vec![chatty.clone(), bulk.clone()] {
            Ok(())
        } else {
            Err(screen.text)
        }
    });
    top.type_keys(b"f");
    let peers = [a.ip(IpVersion::V4).to_string(), server.ip().to_string()];
    eventually(Duration::from_secs(3), "the peers view", || {
        let screen = top.screen();
        let flows_per_peer: Vec<Option<String>> = peers
            .iter()
            .map(|peer| {
                let line = screen
                    .lines
                    .iter()
                    .find(|line| line.starts_with(&format!("{peer} ")))?;
                line.split_whitespace().nth(1).map(str::to_owned)
            })
            .collect();
        let two = Some("2".to_owned());
        if screen.lines[0].contains("view: peers")
            && screen.lines[3].starts_with("PEER ")
            && flows_per_peer == vec![two.clone(), two]
        {
            Ok(())
        } else {
            Err(screen.text)
        }
    });
    top.type_keys(b"f");

    // An agent that goes away is reported in the header, and polling goes
    // on until it is back.
    let stopped = agent.stop();
    assert!(stopped.success(), "the agent stopped cleanly: {stopped}");
    eventually(Duration::from_secs(5), "the failed poll is shown", || {
        let screen = top.screen();
        if screen.lines[2].starts_with(&format!(
            "poll failed, retrying every 1s: cannot reach the agent at {AGENT_API}"
        )) {
            Ok(())
        } else {
            Err(screen.text)
        }
    });
    let _agent = Agent::start(node.topology.node(), AgentConfig::default());
    eventually(Duration::from_secs(15), "polling resumed", || {
        let screen = top.screen();
        let rows = flow_rows(&screen, &[&bulk, &chatty]);
        if screen.lines[2].trim().is_empty() && rows.len() == 2 {
            Ok(())
        } else {
            Err(screen.text)
        }
    });

    // `q`: exit status 0 within 2 s, and the terminal is given back.
    let asked = Instant::now();
    top.type_keys(b"q");
    let (status, screen) = top.wait_for_exit(Duration::from_secs(2));
    assert!(
        status.success(),
        "top exited with {status} {:?} after q; its screen:\n{}",
        asked.elapsed(),
        screen.text
    );
    assert!(
        !screen.alternate_screen,
        "top left the alternate screen on exit"
    );
    assert!(screen.cursor_visible, "top showed the cursor again on exit");
    traffic.stop();
}

#[test]
fn an_agent_that_cannot_be_reached_at_start_is_an_error_before_the_screen_is_taken() {
    let dir = support::TempDir::new("top-unreachable");
    let socket = dir.path().join("netmon.sock");
    let socket = socket.to_str().expect("a UTF-8 path");
    let mut top = Top::start(None, &["--agent", socket, "top"]);
    let (status, screen) = top.wait_for_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(1), "{}", screen.text);
    assert!(
        screen.text.starts_with(&format!(
            "netmon-cli: cannot reach the agent at {socket}: No such file or directory"
        )),
        "{}",
        screen.text
    );
    assert!(!screen.alternate_screen);
}

#[test]
fn ctrl_c_and_signals_quit_with_status_0_and_give_the_terminal_back() {
    let agent = FakeAgent::start();
    let quits = [
        Quit::CtrlC,
        Quit::Signal(libc::SIGTERM),
        Quit::Signal(libc::SIGINT),
        Quit::Signal(libc::SIGHUP),
    ];
    for quit in quits {
        let mut top = Top::start(None, &["--agent", agent.socket(), "top"]);
        eventually(Duration::from_secs(5), "top is on screen", || {
            let screen = top.screen();
            if screen.alternate_screen && screen.lines[1].contains("0 flows") {
                Ok(())
            } else {
                Err(screen.text)
            }
        });
        match quit {
            Quit::CtrlC => top.type_keys(b"\x03"),
            Quit::Signal(signal) => top.signal(signal),
        }
        let (status, screen) = top.wait_for_exit(Duration::from_secs(2));
        assert!(status.success(), "{quit:?}: {status}\n{}", screen.text);
        assert!(
            !screen.alternate_screen,
            "{quit:?} left the alternate screen"
        );
        assert!(screen.cursor_visible, "{quit:?} showed the cursor again");
    }
}

#[derive(Debug, Clone, Copy)]
enum Quit {
    CtrlC,
    Signal(libc::c_int),
}

/// An agent API on a unix socket that knows no flows: enough for tests of
/// the terminal handling, which need no traffic (nor root).
struct FakeAgent {
    _dir: support::TempDir,
    socket: String,
}

impl FakeAgent {
    fn start() -> FakeAgent {
        let dir = support::TempDir::new("top-fake-agent");
        let socket = dir.path().join("netmon.sock");
        let listener = UnixListener::bind(&socket).expect("bind the fake agent's socket");
        std::thread::spawn(move || {
            for mut connection in listener.incoming().flatten() {
                let mut request = [0u8; 4096];
                // One request per connection, as netmon-cli makes them.
                let _ = connection.read(&mut request);
                let _ = connection.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]",
                );
            }
        });
        FakeAgent {
            socket: socket.to_str().expect("a UTF-8 path").to_owned(),
            _dir: dir,
        }
    }

    fn socket(&self) -> &str {
        &self.socket
    }
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The beginning of a flow's row: its source as `ip:port`.
fn row_prefix(client: SocketAddr) -> String {
    format!("{}:{}", client.ip(), client.port())
}

/// The figures of one flow row.
#[derive(Debug, Clone, Copy)]
struct FlowRow {
    bytes_per_second: Option<f64>,
    packets_per_second: Option<f64>,
}

/// Parses the row starting with `prefix`:
/// `SRC DST PROTO STATUS <rate> <unit>/s <pkts> <total> <unit> <age>`,
/// with `-` for a rate not known yet.
fn row(screen: &Screen, prefix: &str) -> Option<FlowRow> {
    let line = screen
        .lines
        .iter()
        .find(|line| line.starts_with(&format!("{prefix} ")))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(4) == Some(&"-") {
        return Some(FlowRow {
            bytes_per_second: None,
            packets_per_second: None,
        });
    }
    Some(FlowRow {
        bytes_per_second: Some(byte_rate(fields.get(4)?, fields.get(5)?)?),
        packets_per_second: Some(count(fields.get(6)?)?),
    })
}

/// Which of `prefixes` have a row, top to bottom.
fn flow_rows(screen: &Screen, prefixes: &[&String]) -> Vec<String> {
    screen
        .lines
        .iter()
        .filter_map(|line| {
            prefixes
                .iter()
                .find(|prefix| line.starts_with(&format!("{prefix} ")))
                .map(|prefix| (*prefix).clone())
        })
        .collect()
}

/// `418.3` `KiB/s` → bytes per second.
fn byte_rate(value: &str, unit: &str) -> Option<f64> {
    let scale = match unit {
        "B/s" => 1.0,
        "KiB/s" => 1024.0,
        "MiB/s" => 1024.0 * 1024.0,
        "GiB/s" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(value.parse::<f64>().ok()? * scale)
}

/// `950`, `1.2k`, `3.4M`.
fn count(text: &str) -> Option<f64> {
    let (digits, scale) = match text.chars().last()? {
        'k' => (&text[..text.len() - 1], 1e3),
        'M' => (&text[..text.len() - 1], 1e6),
        'G' => (&text[..text.len() - 1], 1e9),
        _ => (text, 1.0),
    };
    Some(digits.parse::<f64>().ok()? * scale)
}

/// The two paced streams, from pod a to one server in pod b, until
/// [`Traffic::stop`] (or drop).
struct Traffic {
    bulk_client: SocketAddr,
    chatty_client: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Traffic {
    fn start(client_ns: &str, server_ns: &str, server: SocketAddr) -> Traffic {
        let listener = in_netns(server_ns, || TcpListener::bind(server))
            .unwrap_or_else(|e| panic!("listen on {server}: {e}"));
        let connect = || {
            in_netns(client_ns, || {
                TcpStream::connect_timeout(&server, Duration::from_secs(5))
            })
            .unwrap_or_else(|e| panic!("connect to {server}: {e}"))
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();

        let bulk = connect();
        threads.push(receive(&listener, &stop));
        let chatty = connect();
        chatty.set_nodelay(true).expect("TCP_NODELAY");
        threads.push(receive(&listener, &stop));
        let (bulk_client, chatty_client) = (
            bulk.local_addr().expect("local addr"),
            chatty.local_addr().expect("local addr"),
        );
        threads.push(send_paced(bulk, BULK_CHUNK, BULK_PERIOD, &stop));
        threads.push(send_paced(chatty, CHATTY_WRITE, CHATTY_PERIOD, &stop));
        Traffic {
            bulk_client,
            chatty_client,
            stop,
            threads,
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            thread.join().expect("traffic thread");
        }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Accepts one connection and reads it to the end on a thread.
fn receive(listener: &TcpListener, stop: &Arc<AtomicBool>) -> JoinHandle<()> {
    let (mut stream, _) = listener.accept().expect("accept");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => return,
                Ok(_) => {}
                Err(_) if stop.load(Ordering::SeqCst) => return,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("receiving test traffic: {e}"),
            }
        }
    })
}

/// Writes `chunk` bytes every `period` on a schedule (a late write does
/// not move the next one), so the long-run rate is exactly chunk/period.
fn send_paced(
    mut stream: TcpStream,
    chunk: usize,
    period: Duration,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<()> {
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        let data = vec![b'x'; chunk];
        let mut next = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if stream.write_all(&data).is_err() {
                return;
            }
            next += period;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else if period < Duration::from_millis(10) {
                // A small writer that fell behind does not catch up in a
                // burst: bunched writes would merge into fewer packets.
                next = now;
            }
        }
        let _ = stream.shutdown(Shutdown::Write);
    })
}

/// What the terminal shows.
#[derive(Debug, Clone)]
struct Screen {
    lines: Vec<String>,
    text: String,
    alternate_screen: bool,
    cursor_visible: bool,
}

/// `netmon-cli` run in the node namespace on a pseudo-terminal, its output
/// fed to a VT100 emulator by a reader thread.
struct Top {
    child: Option<Child>,
    master: std::fs::File,
    parser: Arc<Mutex<vt100::Parser>>,
    reader: Option<JoinHandle<()>>,
}

impl Top {
    /// Runs `netmon-cli args` (inside namespace `ns` if given).
    fn start(ns: Option<&str>, args: &[&str]) -> Top {
        let (master, slave) = open_pty(SCREEN_ROWS, SCREEN_COLUMNS);
        let stdio = || Stdio::from(slave.try_clone().expect("dup the pty's terminal end"));
        let cli = env!("CARGO_BIN_EXE_netmon-cli");
        let mut command = match ns {
            Some(ns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", ns, cli]);
                command
            }
            None => Command::new(cli),
        };
        command
            .args(args)
            .env("TERM", "xterm-256color")
            .env_remove("NETMON_AGENT")
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio());
        // SAFETY: setsid and ioctl are async-signal-safe; the child makes
        // the pty its controlling terminal, as a terminal emulator would.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start netmon-cli top");
        // Only the child may hold the terminal end, so that reading the
        // master ends when the child exits.
        drop(command);
        drop(slave);

        let master = std::fs::File::from(master);
        let size = |n| std::num::NonZeroU16::new(n).expect("a screen size is not 0");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            size(SCREEN_ROWS),
            size(SCREEN_COLUMNS),
            0,
        )));
        let mut output = master.try_clone().expect("dup the pty's master");
        let feed = Arc::clone(&parser);
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 16 * 1024];
            // EIO once the child has exited and closed the terminal.
            while let Ok(n) = output.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                feed.lock().expect("parser").process(&buffer[..n]);
            }
        });
        Top {
            child: Some(child),
            master,
            parser,
            reader: Some(reader),
        }
    }

    fn screen(&self) -> Screen {
        let parser = self.parser.lock().expect("parser");
        let screen = parser.screen();
        let lines: Vec<String> = screen.rows(0, SCREEN_COLUMNS).collect();
        Screen {
            text: lines.join("\n"),
            lines,
            alternate_screen: screen.alternate_screen(),
            cursor_visible: !screen.hide_cursor(),
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("top is running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) on our own child, not reaped yet.
        unsafe { libc::kill(pid, signal) };
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).expect("type into the pty");
        // Separate reads for separate keys, as a person's typing gives.
        std::thread::sleep(Duration::from_millis(20));
    }

    /// Waits up to `timeout` for the exit, then for the last output.
    fn wait_for_exit(&mut self, timeout: Duration) -> (ExitStatus, Screen) {
        let mut child = self.child.take().expect("top is running");
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for top") {
                break status;
            }
            if Instant::now() >= deadline {
                let screen = self.screen();
                kill(&mut child);
                panic!(
                    "top did not exit within {timeout:?}; its screen:\n{}",
                    screen.text
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().expect("pty reader");
        }
        (status, self.screen())
    }
}

impl Drop for Top {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if std::thread::panicking() {
                eprintln!("---- top's screen ----\n{}", self.screen().text);
            }
            kill(&mut child);
        }
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A pseudo-terminal of `rows` x `columns`: (master, terminal end).
fn open_pty(rows: u16, columns: u16) -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two fds into the given ints; the name buffer
    // and termios are optional (null).
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just opened by openpty and are owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // The master must not leak into the child (its copy would keep the
    // terminal open after the test closes its own).
    // SAFETY: fcntl on an fd this function owns.
    unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    (master, slave)
}
