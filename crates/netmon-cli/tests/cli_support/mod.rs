//! Running the real `netmon-cli` binary against a test agent (see the
//! agent's harness in `crates/netmon-agent/tests/support`, which every
//! e2e test file includes as `support`).
//!
//! The CLI runs in the node namespace, where the agent runs: that is where
//! an operator runs it, and the agent's metrics listener (which the support
//! bundle scrapes) is only reachable there. It talks to the agent over the
//! agent's unix socket.
//!
//! Every test file uses only part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::support::TestNode;

/// The binary under test.
pub const CLI: &str = env!("CARGO_BIN_EXE_netmon-cli");

/// What one run of the CLI printed, and how it ended.
#[derive(Debug)]
pub struct CliRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// The exit code (`None` when a signal ended the run).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with both outputs unless the run exited 0.
    pub fn expect_success(self, what: &str) -> CliRun {
        assert_eq!(
            self.code(),
            Some(0),
            "{what} failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Every stdout line as JSON (the `-o json` formats).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"))
            })
            .collect()
    }
}

/// Where the CLI finds the test agent: its unix socket, the CLI's default
/// transport (a file, so reachable from any namespace, and asking over it
/// makes no TCP connection the agent would itself count as a flow).
pub fn agent_address(node: &TestNode) -> std::path::PathBuf {
    node.agent.socket_path().to_path_buf()
}

/// `netmon-cli --agent <the test agent> <args>` in the node namespace.
pub fn command(node: &TestNode, args: &[&str]) -> Command {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", node.topology.node().name(), CLI])
        .arg("--agent")
        .arg(agent_address(node))
        .args(args)
        // The machine's own settings must not change what the test sees.
        .env_remove("NETMON_AGENT")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    command
}

/// Runs the CLI to completion.
pub fn run(node: &TestNode, args: &[&str]) -> CliRun {
    let output = command(node, args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {CLI}: {e}"));
    CliRun {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A CLI left running (`flows observe --follow`), its stdout read line by
/// line on a thread so the test can wait with a deadline. Killed on drop.
pub struct RunningCli {
    child: Child,
    lines: Receiver<String>,
}

impl RunningCli {
    pub fn spawn(node: &TestNode, args: &[&str]) -> RunningCli {
        let mut child = command(node, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CLI}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || forward_lines(stdout, sender));
        RunningCli { child, lines }
    }

    /// The next stdout line, or `None` if none came within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Lines until one passes `wanted`; panics with every line seen if
    /// none did within `timeout`.
    pub fn wait_for_line(
        &self,
        timeout: Duration,
        what: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next_line(left) {
                Some(line) if wanted(&line) => return line,
                Some(line) => seen.push(line),
                None => break,
            }
        }
        panic!(
            "no line {what} within {timeout:?}; lines seen:\n{}",
            seen.join("\n")
        )
    }

    /// Sends `signal` and waits (up to `timeout`) for the exit; returns the
    /// status and what it wrote to stderr.
    pub fn stop_with(mut self, signal: libc::c_int, timeout: Duration) -> (ExitStatus, String) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) on our own child, not yet reaped, so the pid is
        // still its own.
        unsafe { libc::kill(pid, signal) };
        self.wait(timeout)
    }

    /// Waits (up to `timeout`) for the CLI to exit by itself.
    pub fn wait(&mut self, timeout: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for netmon-cli") {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    use std::io::Read;
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return (status, stderr);
            }
            assert!(
                Instant::now() < deadline,
                "netmon-cli did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops reading stdout: the pipe's reading end closes once the reader
    /// thread sees the channel is gone (at its next line).
    pub fn close_stdout(&mut self) {
        let (_, closed) = mpsc::channel();
        self.lines = closed;
    }
}

impl Drop for RunningCli {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn forward_lines(stdout: ChildStdout, sender: mpsc::Sender<String>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { return };
        if sender.send(line).is_err() {
            // The test stopped listening: dropping `stdout` here closes the
            // pipe, as a reader like `head` does.
            return;
        }
    }
}

/// Parses RFC 4180 CSV (quoted fields, doubled quotes, line breaks inside
/// quotes) into records of fields.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}
