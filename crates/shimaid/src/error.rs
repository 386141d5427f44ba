//! Why the daemon could not start or stop, mapped to the exit codes `shimaiadm` uses.

use std::path::PathBuf;

/// Exit code for a configuration error (as drbdadm).
pub const EXIT_CONFIG: i32 = 10;
/// Exit code for anything else that failed.
pub const EXIT_FAILED: i32 = 1;

/// A failure of the daemon, with the place it concerns and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration file does not load.
    #[error("{0}")]
    Config(#[from] shimai_config::ConfigError),
    /// The configuration loads but does not describe this node or resource.
    #[error("{file}: {what}")]
    Setup { file: PathBuf, what: String },
    /// The metadata cannot be read or written.
    #[error("{0}")]
    Metadata(#[from] shimai_metadata::MetaError),
    /// A file, socket or device the daemon needs failed.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another daemon already runs this resource.
    #[error("shimaid for {resource} already runs (pid {pid}, {pidfile}); stop it with `shimaiadm down {resource}`")]
    AlreadyRunning {
        resource: String,
        pid: i32,
        pidfile: PathBuf,
    },
    /// The block device could not be set up or torn down.
    #[error("{0}")]
    Device(String),
}

impl DaemonError {
    /// The process exit code: 10 for configuration problems, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Config(_) | DaemonError::Setup { .. } => EXIT_CONFIG,
            DaemonError::Metadata(e) => e.exit_code(),
            _ => EXIT_FAILED,
        }
    }

    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DaemonError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
