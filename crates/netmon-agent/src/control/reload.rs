//! Watching the configuration file: polled by content, because the
//! changes that matter most arrive as ConfigMap updates, where the kubelet
//! swaps a symlink to a new directory and the file's own inode and mtime
//! say nothing. Reading through the path follows whatever it points at now.
//!
//! A file can be caught half-written, or briefly missing while an editor
//! or the kubelet replaces it, so a new content is read again a moment
//! later and used only if it is still the same, and a missing file is
//! reported only once it stays missing.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;
use tracing::debug;

use super::Control;
use crate::config::{ConfigErrors, SourceError, SourceName};

/// How often the file is read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a new content must stay the same before it is loaded.
const SETTLE: Duration = Duration::from_millis(200);
/// Consecutive failed reads before the file is reported missing.
const MISSING_POLLS: u32 = 3;
/// What reading a file that is not text says, as at startup.
const NOT_UTF8: &str = "stream did not contain valid UTF-8";

/// What one look at the file found.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    Unchanged,
    /// New content to load; `first` for the first read after startup.
    Changed {
        text: String,
        first: bool,
    },
    /// Unreadable for [`MISSING_POLLS`] reads in a row (reported once),
    /// or new content that is not UTF-8 text.
    Unreadable(String),
}

/// The watcher's memory of the file.
struct FileWatch {
    path: PathBuf,
    /// The content last loaded; `None` until the first read, whose content
    /// startup loaded itself.
    last: Option<Vec<u8>>,
    failed_reads: u32,
    settle: Duration,
}

impl FileWatch {
    fn new(path: PathBuf, settle: Duration) -> Self {
        Self {
            path,
            last: None,
            failed_reads: 0,
            settle,
        }
    }

    async fn look(&mut self) -> Look {
        let content = match tokio::fs::read(&self.path).await {
            Ok(content) => content,
            Err(error) => {
                self.failed_reads += 1;
                debug!(file = %self.path.display(), %error, "config file not readable");
                return if self.failed_reads == MISSING_POLLS {
                    Look::Unreadable(error.to_string())
                } else {
                    Look::Unchanged
                };
            }
        };
        self.failed_reads = 0;
        if self.last.as_ref() == Some(&content) {
            return Look::Unchanged;
        }
        tokio::time::sleep(self.settle).await;
        match tokio::fs::read(&self.path).await {
            Ok(again) if again == content => {}
            // Still being written: the next poll looks again.
            _ => return Look::Unchanged,
        }
        let first = self.last.is_none();
        self.last = Some(content.clone());
        match String::from_utf8(content) {
            Ok(text) => Look::Changed { text, first },
            Err(_) => Look::Unreadable(NOT_UTF8.to_owned()),
        }
    }
}

/// The problem line for a file that cannot be read, worded as at startup.
fn unreadable(path: &Path, error: io::Error) -> ConfigErrors {
    ConfigErrors(vec![
        SourceError::Unreadable(error).into_problem(&SourceName::File(path.to_path_buf()))
    ])
}

/// Polls `path` every `interval` until `shutdown`, handing each new
/// content to `control`.
pub(super) async fn watch_file(
    control: Control,
    path: PathBuf,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut file = FileWatch::new(path.clone(), SETTLE);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let read = match file.look().await {
            Look::Unchanged => continue,
            Look::Changed { text, first } => (Ok(text), first),
            Look::Unreadable(error) => (Err(unreadable(&path, io::Error::other(error))), false),
        };
        let control = control.clone();
        // Loading type-checks every setting by deserializing: keep it off
        // the async workers.
        let _ = tokio::task::spawn_blocking(move || control.reload_file(read.0, read.1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("netmon-reload-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn changed(text: &str, first: bool) -> Look {
        Look::Changed {
            text: text.to_owned(),
            first,
        }
    }

    #[tokio::test]
    async fn a_new_content_is_seen_once_and_the_first_read_is_marked() {
        let dir = temp_dir("content");
        let path = dir.join("netmon.yaml");
        std::fs::write(&path, "a: 1\n").unwrap();
        let mut file = FileWatch::new(path.clone(), Duration::ZERO);
        assert_eq!(file.look().await, changed("a: 1\n", true));
        assert_eq!(file.look().await, Look::Unchanged);
        std::fs::write(&path, "a: 2\n").unwrap();
        assert_eq!(file.look().await, changed("a: 2\n", false));
        assert_eq!(file.look().await, Look::Unchanged);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_configmap_symlink_swap_is_a_change_of_content() {
        // The kubelet's layout: netmon.yaml -> ..data/netmon.yaml, and
        // ..data -> a timestamped directory, replaced by a rename.
        let dir = temp_dir("configmap");
        for (version, text) in [
            ("v1", "flow: {flow_timeout: 1m}\n"),
            ("v2", "flow: {flow_timeout: 5s}\n"),
        ] {
            std::fs::create_dir(dir.join(version)).unwrap();
            std::fs::write(dir.join(version).join("netmon.yaml"), text).unwrap();
        }
        std::os::unix::fs::symlink("v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/netmon.yaml", dir.join("netmon.yaml")).unwrap();
        let mut file = FileWatch::new(dir.join("netmon.yaml"), Duration::ZERO);
        assert_eq!(
            file.look().await,
            changed("flow: {flow_timeout: 1m}\n", true)
        );

        std::os::unix::fs::symlink("v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        assert_eq!(
            file.look().await,
            changed("flow: {flow_timeout: 5s}\n", false)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_file_briefly_missing_is_no_change_and_one_that_stays_missing_is_reported_once() {
        let dir = temp_dir("missing");
        let path = dir.join("netmon.yaml");
        std::fs::write(&path, "a: 1\n").unwrap();
        let mut file = FileWatch::new(path.clone(), Duration::ZERO);
        assert_eq!(file.look().await, changed("a: 1\n", true));

        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.look().await, Look::Unchanged);
        std::fs::write(&path, "a: 1\n").unwrap();
        assert_eq!(
            file.look().await,
            Look::Unchanged,
            "back with the same content"
        );

        std::fs::remove_file(&path).unwrap();
        let mut looks = Vec::new();
        for _ in 0..5 {
            looks.push(file.look().await);
        }
        assert_eq!(
            looks,
            [
                Look::Unchanged,
                Look::Unchanged,
                Look::Unreadable("No such file or directory (os error 2)".into()),
                Look::Unchanged,
                Look::Unchanged,
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn new_content_that_is_not_text_is_unreadable() {
        let dir = temp_dir("binary");
        let path = dir.join("netmon.yaml");
        std::fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
        let mut file = FileWatch::new(path, Duration::ZERO);
        assert_eq!(file.look().await, Look::Unreadable(NOT_UTF8.into()));
        assert_eq!(file.look().await, Look::Unchanged);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_content_still_changing_is_loaded_only_once_it_settles() {
        let dir = temp_dir("settle");
        let path = dir.join("netmon.yaml");
        std::fs::write(&path, "a: 1\n").unwrap();
        let mut file = FileWatch::new(path.clone(), Duration::from_millis(300));
        let writer_path = path.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::write(&writer_path, "a: 1\nb: 2\n").unwrap();
        });
        assert_eq!(file.look().await, Look::Unchanged);
        writer.join().unwrap();
        assert_eq!(file.look().await, changed("a: 1\nb: 2\n", true));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
