//! tgtd's management protocol, spoken directly on its unix socket: the same
//! requests `tgtadm` sends, without forking it.
//!
//! One request per connection: a 120-byte native-endian `struct tgtadm_req`
//! header, then a `k=v,...` body; the reply is `struct tgtadm_rsp` (`err`,
//! `len` including its own 8 bytes) followed by text. The socket is
//! `$TGT_IPC_SOCKET.<control port>` (default `/var/run/tgtd/socket.0`), as
//! tgtd and tgtadm both name it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const HEADER_LEN: usize = 120;
const MAX_REPLY: usize = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Target = 1,
    Device = 2,
    Connection = 6,
    Account = 7,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    New = 0,
    Delete = 1,
    Show = 2,
    Bind = 3,
    Unbind = 4,
    Update = 5,
}

/// tgtd's `enum tgtadm_errno`, the values an agent acts on.
pub mod err {
    pub const NO_TARGET: u32 = 4;
    pub const NO_LUN: u32 = 5;
    pub const NO_CONNECTION: u32 = 7;
    pub const ACL_EXIST: u32 = 12;
    pub const USER_EXIST: u32 = 14;
    pub const NO_USER: u32 = 15;
    pub const INVALID_REQUEST: u32 = 17;
    pub const TARGET_ACTIVE: u32 = 19;
    pub const LUN_ACTIVE: u32 = 20;
}

/// tgtadm's message for an error number (`tgtadm_strerror`).
pub fn strerror(code: u32) -> &'static str {
    match code {
        0 => "success",
        1 => "unknown error",
        2 => "out of memory",
        3 => "can't find the driver",
        4 => "can't find the target",
        5 => "can't find the logical unit",
        6 => "can't find the session",
        7 => "can't find the connection",
        8 => "can't find the binding",
        9 => "this target already exists",
        10 => "this logical unit number already exists",
        11 => "this binding already exists",
        12 => "this access control rule already exists",
        13 => "this access control rule does not exist",
        14 => "this account already exists",
        15 => "can't find the account",
        16 => "too many accounts",
        17 => "invalid request",
        18 => "this target already has an outgoing account",
        19 => "this target is still active",
        20 => "this logical unit is still active",
        21 => "this driver is busy",
        22 => "this request isn't supported",
        23 => "unknown parameter",
        24 => "this device has Prevent Removal set",
        _ => "unknown error number",
    }
}

/// One management request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub mode: Mode,
    pub op: Op,
    pub tid: i32,
    pub sid: u64,
    pub lun: u64,
    pub cid: u32,
    pub device_type: u32,
    pub force: bool,
    pub body: String,
}

impl Request {
    pub fn new(mode: Mode, op: Op) -> Request {
        Request {
            mode,
            op,
            tid: -1,
            sid: 0,
            lun: 0,
            cid: 0,
            device_type: 0,
            force: false,
            body: String::new(),
        }
    }
    pub fn tid(mut self, tid: i32) -> Request {
        self.tid = tid;
        self
    }
    pub fn lun(mut self, lun: u64) -> Request {
        self.lun = lun;
        self
    }
    pub fn body(mut self, body: impl Into<String>) -> Request {
        self.body = body.into();
        self
    }

    /// The bytes on the wire: header, body, terminating NUL (as tgtadm's
    /// concat buffer sends it; an empty body sends nothing).
    pub fn encode(&self) -> Vec<u8> {
        let body_len = if self.body.is_empty() {
            0
        } else {
            self.body.len() + 1
        };
        let mut b = Vec::with_capacity(HEADER_LEN + body_len);
        b.extend_from_slice(&(self.mode as u32).to_ne_bytes());
        b.extend_from_slice(&(self.op as u32).to_ne_bytes());
        let mut lld = [0u8; 64];
        lld[..5].copy_from_slice(b"iscsi");
        b.extend_from_slice(&lld);
        b.extend_from_slice(&((HEADER_LEN + body_len) as u32).to_ne_bytes());
        b.extend_from_slice(&self.tid.to_ne_bytes());
        b.extend_from_slice(&self.sid.to_ne_bytes());
        b.extend_from_slice(&self.lun.to_ne_bytes());
        b.extend_from_slice(&self.cid.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes()); // host_no
        b.extend_from_slice(&self.device_type.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes()); // ac_dir: incoming
        b.extend_from_slice(&0u32.to_ne_bytes()); // pack
        b.extend_from_slice(&u32::from(self.force).to_ne_bytes());
        debug_assert_eq!(b.len(), HEADER_LEN);
        if body_len > 0 {
            b.extend_from_slice(self.body.as_bytes());
            b.push(0);
        }
        b
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// tgtd is not there (no socket, connection refused).
    Unreachable(String),
    /// The exchange broke off or the reply made no sense.
    Io(String),
    /// tgtd answered with an error number.
    Daemon(u32),
}

impl Error {
    pub fn is(&self, code: u32) -> bool {
        *self == Error::Daemon(code)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Unreachable(s) | Error::Io(s) => f.write_str(s),
            Error::Daemon(c) => write!(f, "tgtd: {} (error {c})", strerror(*c)),
        }
    }
}

/// Splits a reply into its error number and text (NULs removed).
pub fn decode_reply(head: [u8; 8], text: &[u8]) -> Result<String, Error> {
    let code = u32::from_ne_bytes([head[0], head[1], head[2], head[3]]);
    if code != 0 {
        return Err(Error::Daemon(code));
    }
    let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    Ok(String::from_utf8_lossy(&text[..end]).into_owned())
}

/// A tgtd instance, addressed by its socket.
#[derive(Debug, Clone)]
pub struct Client {
    pub socket: PathBuf,
    /// The longest any one request may take.
    pub timeout: Duration,
    /// When set, each request's timeout is cut to what remains of it.
    pub deadline: Option<ocf::command::Deadline>,
}

impl Client {
    /// The socket tgtadm would use for `control_port` (`TGT_IPC_SOCKET`
    /// overrides the `/var/run/tgtd/socket` base, as for tgtd and tgtadm).
    pub fn socket_path(base: Option<&str>, control_port: u16) -> PathBuf {
        let base = base
            .filter(|b| !b.is_empty())
            .unwrap_or("/var/run/tgtd/socket");
        PathBuf::from(format!("{base}.{control_port}"))
    }

    pub fn new(socket: PathBuf, timeout: Duration) -> Client {
        Client {
            socket,
            timeout,
            deadline: None,
        }
    }

    pub fn with_deadline(mut self, d: ocf::command::Deadline) -> Client {
        self.deadline = Some(d);
        self
    }

    fn connect(&self) -> Result<UnixStream, Error> {
        let s = UnixStream::connect(&self.socket).map_err(|e| {
            Error::Unreachable(format!(
                "tgtd is not reachable on {}: {e}",
                self.socket.display()
            ))
        })?;
        let limit = match &self.deadline {
            Some(d) => d.remaining().min(self.timeout),
            None => self.timeout,
        };
        let t = Some(limit.max(Duration::from_millis(50)));
        let _ = s.set_read_timeout(t);
        let _ = s.set_write_timeout(t);
        Ok(s)
    }

    /// Sends one request and returns tgtd's text reply.
    pub fn call(&self, req: &Request) -> Result<String, Error> {
        let mut s = self.connect()?;
        let io = |e: std::io::Error| {
            Error::Io(format!("talking to tgtd on {}: {e}", self.socket.display()))
        };
        s.write_all(&req.encode()).map_err(io)?;
        let mut head = [0u8; 8];
        s.read_exact(&mut head).map_err(io)?;
        let len = u32::from_ne_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let code = u32::from_ne_bytes([head[0], head[1], head[2], head[3]]);
        if code != 0 {
            return Err(Error::Daemon(code));
        }
        if !(8..=MAX_REPLY).contains(&len) {
            return Err(Error::Io(format!(
                "tgtd on {} sent a reply of {len} bytes: not the tgtadm protocol this agent knows",
                self.socket.display()
            )));
        }
        let mut text = vec![0u8; len - 8];
        s.read_exact(&mut text).map_err(io)?;
        decode_reply(head, &text)
    }

    /// The PID of the tgtd behind the socket (SO_PEERCRED).
    pub fn peer_pid(&self) -> Result<i32, Error> {
        let s = self.connect()?;
        let cred = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials)
            .map_err(|e| Error::Io(format!("SO_PEERCRED on {}: {e}", self.socket.display())))?;
        Ok(cred.pid())
    }

    /// tgtd's version, read from its executable (the management protocol
    /// itself carries none). `None` when it cannot be found.
    pub fn daemon_version(&self) -> Result<Option<String>, Error> {
        let pid = self.peer_pid()?;
        if pid <= 0 {
            return Ok(None);
        }
        let exe = Path::new("/proc").join(pid.to_string()).join("exe");
        Ok(std::fs::read(exe).ok().and_then(|b| version_in_binary(&b)))
    }
}

/// The `TGT_VERSION` string compiled into tgtd: a NUL-delimited
/// `1.0.N` among the binary's strings.
pub fn version_in_binary(bin: &[u8]) -> Option<String> {
    bin.split(|&c| c == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .find(|s| {
            let parts: Vec<&str> = s.split('.').collect();
            parts.len() == 3
                && parts[0] == "1"
                && parts[1] == "0"
                && !parts[2].is_empty()
                && parts[2].len() <= 3
                && parts[2].bytes().all(|c| c.is_ascii_digit())
        })
        .map(str::to_string)
}

/// The tgtd versions whose management protocol this agent was checked
/// against (the header and bodies are unchanged over this range).
pub fn version_known(v: &str) -> bool {
    v.strip_prefix("1.0.")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| (85..=97).contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_matches_struct_tgtadm_req() {
        let r = Request::new(Mode::Device, Op::New)
            .tid(3)
            .lun(7)
            .body("path=/dev/x");
        let b = r.encode();
        assert_eq!(b.len(), HEADER_LEN + "path=/dev/x".len() + 1);
        assert_eq!(&b[0..4], &2u32.to_ne_bytes());
        assert_eq!(&b[4..8], &0u32.to_ne_bytes());
        assert_eq!(&b[8..13], b"iscsi");
        assert!(b[13..72].iter().all(|&c| c == 0));
        assert_eq!(&b[72..76], &(b.len() as u32).to_ne_bytes());
        assert_eq!(&b[76..80], &3i32.to_ne_bytes());
        assert_eq!(&b[88..96], &7u64.to_ne_bytes());
        assert_eq!(&b[120..131], b"path=/dev/x");
        assert_eq!(*b.last().unwrap(), 0);
        let show = Request::new(Mode::Target, Op::Show).encode();
        assert_eq!(show.len(), HEADER_LEN);
        assert_eq!(&show[76..80], &(-1i32).to_ne_bytes());
    }

    #[test]
    fn reply_decoding() {
        let mut h = [0u8; 8];
        h[4..8].copy_from_slice(&12u32.to_ne_bytes());
        assert_eq!(decode_reply(h, b"abc\0"), Ok("abc".to_string()));
        h[0..4].copy_from_slice(&19u32.to_ne_bytes());
        assert_eq!(decode_reply(h, b""), Err(Error::Daemon(err::TARGET_ACTIVE)));
        assert!(Error::Daemon(19).to_string().contains("still active"));
    }

    #[test]
    fn version_scan() {
        let bin = b"\x7fELF\0junk\0Linux SCSI Target framework daemon, version %s\n\x001.0.85\0x";
        assert_eq!(version_in_binary(bin), Some("1.0.85".to_string()));
        assert_eq!(version_in_binary(b"1.0\0 2.0.1\0"), None);
        assert!(version_known("1.0.85") && version_known("1.0.97"));
        assert!(!version_known("1.0.98") && !version_known("1.1.0") && !version_known("x"));
    }

    #[test]
    fn socket_naming() {
        assert_eq!(
            Client::socket_path(None, 0),
            PathBuf::from("/var/run/tgtd/socket.0")
        );
        assert_eq!(
            Client::socket_path(Some("/tmp/t/s"), 5),
            PathBuf::from("/tmp/t/s.5")
        );
    }
}
