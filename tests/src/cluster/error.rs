//! The test bed's error type: every failure names the command, file or
//! wait that failed, so a broken run says where to look.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Why a test-bed operation failed.
pub enum Error {
    /// A command could not be started, or exited with a failure status.
    /// `output` holds its stdout and stderr.
    Command {
        command: String,
        status: Option<i32>,
        output: String,
    },
    /// A file of the test bed could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A wait ran past its deadline; `last` is the last state seen.
    Timeout {
        what: String,
        waited: Duration,
        last: String,
    },
    /// Output of a cluster tool (or a log line) could not be understood.
    Parse { source: String, detail: String },
    /// The caller asked for something the test bed does not have, such as
    /// a node that does not exist or a cluster that is not up.
    Usage(String),
}

impl Error {
    /// The process exit code for `scripts/cluster`: 2 usage, 3 timeout, 1 other.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Timeout { .. } => 3,
            _ => 1,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Command {
                command,
                status,
                output,
            } => {
                match status {
                    Some(s) => write!(f, "`{command}` exited with status {s}")?,
                    None => write!(f, "`{command}` could not run or was killed")?,
                }
                let out = output.trim();
                if !out.is_empty() {
                    write!(f, ":\n{out}")?;
                }
                Ok(())
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Timeout { what, waited, last } => write!(
                f,
                "gave up after {:.1}s waiting for {what}; last state seen:\n{last}",
                waited.as_secs_f64()
            ),
            Error::Parse { source, detail } => write!(f, "cannot understand {source}: {detail}"),
            Error::Usage(m) => f.write_str(m),
        }
    }
}

/// The same text as `Display`, so that a test's `unwrap()` prints the
/// command's output and the last state seen, readable.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The test bed's result type.
pub type Result<T> = std::result::Result<T, Error>;
