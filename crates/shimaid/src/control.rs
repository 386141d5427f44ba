//! The control protocol between shimaid and its clients.
//!
//! Each resource's daemon listens on the Unix socket `RUN_DIR/RES.ctl`
//! (mode 0600). A client sends one [`Request`] as a JSON object on one
//! line; the daemon answers with one [`Reply`] line, or, for
//! [`Request::Events`], a stream of [`Reply::Event`] lines. JSON keeps the
//! protocol inspectable (`socat - UNIX-CONNECT:/run/shimai/r0.ctl`), and
//! [`StatusReport`] is also what `shimaiadm status --json` prints: its
//! field names are stable and documented in docs/replicated-device.md.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a client asks. The names are the drbdadm verbs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    Status,
    Primary {
        #[serde(default)]
        force: bool,
    },
    Secondary,
    Connect {
        #[serde(default)]
        discard_my_data: bool,
    },
    Disconnect,
    Attach,
    Detach,
    Invalidate,
    InvalidateRemote,
    NewCurrentUuid {
        #[serde(default)]
        clear_bitmap: bool,
    },
    Outdate,
    Verify,
    PauseSync,
    ResumeSync,
    /// Re-read the configuration and apply what can change online.
    Adjust,
    /// Stop the daemon cleanly (refused while the device is in use).
    Down,
    /// A stream of state changes; with `now`, the current state only, then the stream ends.
    Events {
        #[serde(default)]
        now: bool,
    },
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    Ok {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The request was refused. `code` is the exit code `shimaiadm` uses
    /// (1 refused, 11 peer not reachable, 17 would need `--force`); the
    /// message says why and what to do.
    Refused {
        code: i32,
        message: String,
    },
    Status(Box<StatusReport>),
    Event(EventLine),
}

/// The state of one resource on one node, as operators read it.
///
/// States use DRBD 8.4's names (`Primary`, `Connected`, `UpToDate`...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub resource: String,
    pub node: String,
    pub peer_node: String,
    pub role: String,
    pub peer_role: String,
    /// The 8.4 connection state (`cs:`).
    pub connection: String,
    pub disk: String,
    pub peer_disk: String,
    /// `A`, `B` or `C`.
    pub protocol: String,
    /// The block device path while Primary (the configured `device`).
    pub device: Option<String>,
    pub minor: u32,
    /// Usable size of the data area.
    pub size_kib: u64,
    /// Client I/O frozen (fencing resource-and-stonith).
    pub suspended: bool,
    pub user_paused: bool,
    pub peer_paused: bool,
    /// Generation identifiers as 16 hex digits: current, bitmap, history.
    pub generation: Generation,
    pub counters: Counters,
    /// The write-ordering method letter of /proc/drbd (`f` flush, `d` drain, `n` none).
    pub write_ordering: String,
    pub resync: Option<Progress>,
    /// Found different by the last online verify.
    pub verify_oos_kib: u64,
    /// The last handshake found a split brain no policy resolved, so the node went
    /// StandAlone; cleared when the nodes connect again. Only written when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub split_brain: bool,
    /// How the daemon performs disk I/O: `io_uring` or `threads` (empty from a daemon that
    /// does not say).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub io_backend: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    pub current: String,
    pub bitmap: String,
    pub history: [String; 2],
}

/// The /proc/drbd counters, sizes in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counters {
    pub ns: u64,
    pub nr: u64,
    pub dw: u64,
    pub dr: u64,
    pub al: u64,
    pub bm: u64,
    pub lo: u64,
    pub pe: u64,
    pub ua: u64,
    pub ap: u64,
    pub ep: u64,
    pub oos: u64,
}

/// A running resync or verify.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub total_kib: u64,
    pub left_kib: u64,
    pub rate_kib_s: u64,
    /// Done, 0.0 to 100.0.
    pub percent: f64,
    /// Estimated seconds to finish.
    pub eta_s: u64,
}

/// One line of the events stream, in the spirit of `drbdsetup events2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    /// `exists` for the initial state, `change` for a change, `call`/`response` for handlers.
    pub kind: String,
    /// `resource`, `connection`, `device`, `peer-device`, `helper`.
    pub object: String,
    /// `name:value` pairs, e.g. `role:Primary`.
    pub fields: Vec<(String, String)>,
}

/// Why a control request could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No daemon listens on the socket.
    #[error("shimaid for this resource is not running ({path}: {source}); start it with `shimaiadm up RES`")]
    Unreachable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The daemon did not answer in time.
    #[error("shimaid did not answer on {path} within {seconds} s")]
    Timeout { path: PathBuf, seconds: u64 },
    /// The daemon answered something that is not a reply.
    #[error("unexpected answer from shimaid on {path}: {what}")]
    Protocol { path: PathBuf, what: String },
}

impl ControlError {
    /// shimaiadm's exit code for this error (11: daemon not reachable).
    pub fn exit_code(&self) -> i32 {
        11
    }
}

/// The control socket of a resource.
pub fn socket_path(run_dir: &Path, resource: &str) -> PathBuf {
    run_dir.join(format!("{resource}.ctl"))
}

/// One request line.
pub fn encode_request(req: &Request) -> String {
    // Serializing these plain enums cannot fail.
    let mut s = serde_json::to_string(req).unwrap_or_default();
    s.push('\n');
    s
}

/// One reply line.
pub fn encode_reply(reply: &Reply) -> String {
    let mut s = serde_json::to_string(reply).unwrap_or_default();
    s.push('\n');
    s
}

pub fn decode_request(line: &str) -> Result<Request, String> {
    serde_json::from_str(line.trim()).map_err(|e| e.to_string())
}

pub fn decode_reply(line: &str) -> Result<Reply, String> {
    serde_json::from_str(line.trim()).map_err(|e| e.to_string())
}

/// Sends one request and reads one reply.
pub fn call(socket: &Path, req: &Request, timeout: Duration) -> Result<Reply, ControlError> {
    let mut stream = UnixStream::connect(socket).map_err(|source| ControlError::Unreachable {
        path: socket.to_path_buf(),
        source,
    })?;
    let io_err = |e: std::io::Error| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            ControlError::Timeout {
                path: socket.to_path_buf(),
                seconds: timeout.as_secs(),
            }
        } else {
            ControlError::Protocol {
                path: socket.to_path_buf(),
                what: e.to_string(),
            }
        }
    };
    stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
    stream
        .write_all(encode_request(req).as_bytes())
        .map_err(io_err)?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(io_err)?;
    decode_reply(&line).map_err(|what| ControlError::Protocol {
        path: socket.to_path_buf(),
        what,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_kebab_case_json() {
        let r = Request::Connect {
            discard_my_data: true,
        };
        let line = encode_request(&r);
        assert_eq!(line, "{\"cmd\":\"connect\",\"discard_my_data\":true}\n");
        assert_eq!(decode_request(&line), Ok(r));
        assert_eq!(
            decode_request("{\"cmd\":\"primary\"}"),
            Ok(Request::Primary { force: false })
        );
        assert!(decode_request("{\"cmd\":\"explode\"}").is_err());
    }

    #[test]
    fn replies_round_trip() {
        let r = Reply::Refused {
            code: 17,
            message: "no up-to-date data".into(),
        };
        assert_eq!(decode_reply(&encode_reply(&r)), Ok(r));
    }
}
