//! Writing to stdout line by line. Every line is flushed at once, so a
//! pipe (`| grep`, `| jq`) sees a followed flow the moment it arrives, and
//! a closed pipe (`| head -1`) is an ordinary end rather than a panic.

use std::io::{self, Write};
use std::process::ExitCode;

pub struct Stdout {
    out: io::Stdout,
}

impl Default for Stdout {
    fn default() -> Self {
        Stdout { out: io::stdout() }
    }
}

impl Stdout {
    /// `text` and a newline, flushed.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        let mut out = self.out.lock();
        out.write_all(text.as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()
    }

    /// `text` as it is (a rendered block that ends in its own newline),
    /// flushed.
    pub fn block(&mut self, text: &str) -> io::Result<()> {
        let mut out = self.out.lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }
}

/// The exit status of a command whose output ended with `result`: the
/// reader closing the pipe is a normal end (exit 0); any other write error
/// is returned.
pub fn finished(result: io::Result<()>) -> io::Result<ExitCode> {
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if is_closed(&e) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e),
    }
}

/// Whether a write failed because the reader went away (`| head`).
pub fn is_closed(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::BrokenPipe
}

/// Resolves once nobody reads stdout any more: the reading end of its pipe
/// closed (`| head -5` got its lines) or its terminal hung up. A follow
/// stream that sees no new event would otherwise wait for one before its
/// write could fail. Never resolves for a file or a live terminal.
pub async fn reader_gone() {
    let (gone, signalled) = tokio::sync::oneshot::channel();
    // A plain thread, not `spawn_blocking`: it may block until the process
    // exits, and the runtime would wait for a blocking task at shutdown.
    std::thread::spawn(move || {
        let mut stdout = libc::pollfd {
            fd: libc::STDOUT_FILENO,
            events: 0,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd, and its count; no timeout. With no
            // events asked, poll reports only error and hang-up (a pipe's
            // writer gets POLLERR once its reader is gone).
            let ready = unsafe { libc::poll(&mut stdout, 1, -1) };
            if ready > 0 {
                if stdout.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                    let _ = gone.send(());
                }
                return;
            }
            if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return;
            }
        }
    });
    if signalled.await.is_err() {
        std::future::pending::<()>().await;
    }
}
