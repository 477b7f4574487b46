//! Running the test's own code inside a network namespace.
//!
//! `setns(CLONE_NEWNET)` changes the namespace of the calling thread only,
//! so each closure runs on a fresh thread that enters the namespace first.
//! Sockets keep the namespace they were created in, so a socket made inside
//! the closure can be returned and used from any thread afterwards; the
//! same holds for `/proc/sys/net` writes and `/proc/thread-self/net` reads,
//! which resolve against the calling thread's namespace.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::thread::JoinHandle;

/// Runs `f` on a thread inside the named namespace (`/run/netns/<ns>`) and
/// returns its result; a panic in `f` is re-raised on the caller.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name(format!("in-{ns}"))
            .spawn_scoped(scope, || {
                enter_netns(ns);
                f()
            })
            .expect("spawn namespace thread");
        match thread.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Starts `f` on a background thread inside the named namespace (servers
/// that must run while the test does something else).
pub fn spawn_in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let ns = ns.to_string();
    std::thread::Builder::new()
        .name(format!("in-{ns}"))
        .spawn(move || {
            enter_netns(&ns);
            f()
        })
        .expect("spawn namespace thread")
}

/// Joins a thread from [`spawn_in_netns`], re-raising its panic.
pub fn join<T>(thread: JoinHandle<T>) -> T {
    match thread.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn enter_netns(ns: &str) {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    // SAFETY: the fd is valid for the call; setns only affects this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "setns into {path}: {}",
        std::io::Error::last_os_error()
    );
}
