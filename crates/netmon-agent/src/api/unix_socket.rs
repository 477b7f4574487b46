//! The API's unix socket (`api.socket`): where `netmon-cli` finds the agent
//! without a network address, guarded by file permissions instead of
//! loopback.
//!
//! Binding creates the parent directory (0755) when missing and replaces a
//! socket left at the path: one of an agent that crashed, or of the agent
//! this one replaces (a rolling update may start the new pod first). The
//! socket is made 0600 right after `bind(2)`, before anything is accepted.
//! At shutdown the file is removed only if it is still this agent's, so an
//! old agent stopping never removes its successor's socket.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;
use tokio::net::UnixListener;
use tracing::{info, warn};

/// Only root (the agent's user) may connect: the API shows every flow of
/// the node and can change the agent's configuration.
pub const SOCKET_MODE: u32 = 0o600;
/// A directory created for the socket; others may look, not write.
const DIRECTORY_MODE: u32 = 0o755;

/// Why the socket could not be set up; every message starts with the
/// setting to change.
#[derive(Debug, Error)]
pub enum UnixSocketError {
    #[error("api.socket: cannot create the directory {}: {source}", dir.display())]
    CreateDirectory {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "api.socket: {} exists and is not a socket; remove it or set api.socket to another path (\"\" turns the socket off)",
        path.display()
    )]
    NotASocket { path: PathBuf },
    #[error("api.socket: cannot inspect {}: {source}", path.display())]
    Inspect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("api.socket: cannot remove the old socket {}: {source}", path.display())]
    RemoveOld {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("api.socket: cannot listen on {}: {source}", path.display())]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("api.socket: cannot make {} mode 0600: {source}", path.display())]
    Permissions {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A bound socket. Dropping it (or [`ApiSocket::remove`]) removes the
/// socket file if it is still the one this agent bound.
#[derive(Debug)]
pub struct ApiSocket {
    path: PathBuf,
    /// Device and inode of the file `bind(2)` created.
    identity: (u64, u64),
    listener: Option<UnixListener>,
}

impl ApiSocket {
    /// Binds `path`; needs a Tokio runtime.
    pub fn bind(path: &Path) -> Result<Self, UnixSocketError> {
        create_parent(path)?;
        remove_old_socket(path)?;
        let listener = UnixListener::bind(path).map_err(|source| UnixSocketError::Bind {
            path: path.to_owned(),
            source,
        })?;
        // From here on a failure must not leave the file behind.
        let cleanup = |error| {
            let _ = fs::remove_file(path);
            error
        };
        fs::set_permissions(path, Permissions::from_mode(SOCKET_MODE)).map_err(|source| {
            cleanup(UnixSocketError::Permissions {
                path: path.to_owned(),
                source,
            })
        })?;
        let metadata = fs::symlink_metadata(path).map_err(|source| {
            cleanup(UnixSocketError::Inspect {
                path: path.to_owned(),
                source,
            })
        })?;
        Ok(ApiSocket {
            path: path.to_owned(),
            identity: (metadata.dev(), metadata.ino()),
            listener: Some(listener),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listener to serve on (once; `None` afterwards).
    pub fn take_listener(&mut self) -> Option<UnixListener> {
        self.listener.take()
    }

    /// Removes the socket file now, if it is still ours.
    pub fn remove(self) {
        drop(self);
    }
}

impl Drop for ApiSocket {
    fn drop(&mut self) {
        let ours =
            fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if !ours {
            info!(path = %self.path.display(), "API socket was replaced by another process; leaving it");
            return;
        }
        if let Err(error) = fs::remove_file(&self.path) {
            warn!(path = %self.path.display(), %error, "could not remove the API socket");
        }
    }
}

fn create_parent(path: &Path) -> Result<(), UnixSocketError> {
    let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) else {
        return Ok(());
    };
    DirBuilder::new()
        .recursive(true)
        .mode(DIRECTORY_MODE)
        .create(dir)
        .map_err(|source| UnixSocketError::CreateDirectory {
            dir: dir.to_owned(),
            source,
        })
}

/// Removes a socket at `path`; refuses anything else there.
fn remove_old_socket(path: &Path) -> Result<(), UnixSocketError> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(UnixSocketError::Inspect {
                path: path.to_owned(),
                source,
            })
        }
    };
    if !metadata.file_type().is_socket() {
        return Err(UnixSocketError::NotASocket {
            path: path.to_owned(),
        });
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        warn!(path = %path.display(), "another process serves the API socket; this agent takes the path over");
    }
    fs::remove_file(path).map_err(|source| UnixSocketError::RemoveOld {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("netmon-socket-test-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn binding_creates_the_directory_and_a_0600_socket_that_is_removed_after() {
        let scratch = Scratch::new("create");
        let path = scratch.0.join("run/netmon/netmon.sock");
        let socket = ApiSocket::bind(&path).unwrap();
        assert!(fs::symlink_metadata(&path).unwrap().file_type().is_socket());
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            mode(path.parent().unwrap()) & 0o022,
            0,
            "not writable by others"
        );
        socket.remove();
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_socket_left_at_the_path_is_replaced() {
        let scratch = Scratch::new("stale");
        let path = scratch.0.join("netmon.sock");
        // A socket nobody listens on any more, as a crashed agent leaves it.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let _socket = ApiSocket::bind(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[tokio::test]
    async fn something_else_at_the_path_is_refused_and_left_alone() {
        let scratch = Scratch::new("file");
        let path = scratch.0.join("netmon.sock");
        fs::write(&path, "not a socket").unwrap();
        let error = ApiSocket::bind(&path).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "api.socket: {} exists and is not a socket; remove it or set api.socket to \
                 another path (\"\" turns the socket off)",
                path.display()
            )
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "not a socket");
    }

    #[tokio::test]
    async fn a_socket_taken_over_by_another_agent_is_not_removed_by_the_first() {
        let scratch = Scratch::new("takeover");
        let path = scratch.0.join("netmon.sock");
        let first = ApiSocket::bind(&path).unwrap();
        let second = ApiSocket::bind(&path).unwrap();
        first.remove();
        assert!(path.exists(), "the second agent's socket stays");
        second.remove();
        assert!(!path.exists());
    }
}
