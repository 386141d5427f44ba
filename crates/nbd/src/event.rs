//! What a [`Connection`](crate::Connection) hands its caller, and what
//! the caller hands back: events carrying requests that passed validation,
//! and completions carrying their outcome.

use crate::error::NbdErrno;
#[cfg(doc)]
use crate::Connection;

/// What the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake chose `exports[export]`; requests follow.
    Ready {
        /// Index into the export list given to [`Connection::new`].
        export: usize,
    },
    /// A valid request to execute and then [`Connection::complete`].
    Request(Request),
    /// The client ended the session (`NBD_OPT_ABORT` or `NBD_CMD_DISC`):
    /// finish what is in flight, send the output, then close.
    Disconnect,
}

/// A request that passed [`RequestHeader::check`](crate::transmission::RequestHeader::check) for the chosen export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Echoed in the completion.
    pub cookie: u64,
    /// What to do.
    pub command: Command,
}

/// The operations a backend performs. Offsets and lengths are within the
/// export and aligned to its minimum block size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Read `length` bytes; complete with exactly that many.
    Read {
        /// Byte offset.
        offset: u64,
        /// Byte count.
        length: u32,
    },
    /// Write `data`; with `fua`, complete only once it is durable.
    Write {
        /// Byte offset.
        offset: u64,
        /// The payload.
        data: Vec<u8>,
        /// Force unit access.
        fua: bool,
    },
    /// Make every write completed so far durable before completing.
    Flush,
    /// The range is no longer needed (a hint; may be ignored).
    Trim {
        /// Byte offset.
        offset: u64,
        /// Byte count.
        length: u32,
        /// Force unit access.
        fua: bool,
    },
    /// The range must read back as zeroes; with `no_hole`, stay allocated.
    WriteZeroes {
        /// Byte offset.
        offset: u64,
        /// Byte count.
        length: u32,
        /// Do not deallocate.
        no_hole: bool,
        /// Force unit access.
        fua: bool,
    },
    /// The client will access the range soon (a hint).
    Cache {
        /// Byte offset.
        offset: u64,
        /// Byte count.
        length: u32,
    },
}

/// The outcome of a request, handed back to [`Connection::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The request's cookie.
    pub cookie: u64,
    /// Read data (empty for other commands) or the NBD error.
    pub result: Result<Vec<u8>, NbdErrno>,
}

impl Completion {
    /// Success without data (everything but reads).
    pub fn ok(cookie: u64) -> Completion {
        Completion {
            cookie,
            result: Ok(Vec::new()),
        }
    }
    /// A successful read.
    pub fn data(cookie: u64, data: Vec<u8>) -> Completion {
        Completion {
            cookie,
            result: Ok(data),
        }
    }
    /// A failure.
    pub fn error(cookie: u64, errno: NbdErrno) -> Completion {
        Completion {
            cookie,
            result: Err(errno),
        }
    }
}
