//! The crate's error type and the NBD error values it maps to.
//!
//! Two kinds of failure meet here. A request that cannot be served (out of
//! range, read-only export, disk error) is answered with an [`NbdErrno`] in
//! the reply and the connection goes on. A violation that leaves the two
//! sides out of step (bad magic, unknown client flags, an export name that
//! `NBD_OPT_EXPORT_NAME` cannot refuse politely) is an [`NbdError`]: the
//! protocol says the server then drops the connection.

use std::io;

/// The error values a reply may carry (proto.md "Error values").
///
/// The numbers are the Linux errno values the protocol adopted, but the
/// protocol fixes them: they are not the server's `errno`, so converting
/// from an `io::Error` goes through [`NbdErrno::from_io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NbdErrno {
    /// `NBD_EPERM` (1): a write, trim or zero on a read-only export.
    Perm,
    /// `NBD_EIO` (5): the backing store failed.
    Io,
    /// `NBD_ENOMEM` (12): the server could not allocate memory.
    NoMem,
    /// `NBD_EINVAL` (22): bad offset, length, flags or an unknown command.
    Inval,
    /// `NBD_ENOSPC` (28): a write beyond the end, or the backing store is full.
    NoSpc,
    /// `NBD_EOVERFLOW` (75): value too large (structured reads only).
    Overflow,
    /// `NBD_ENOTSUP` (95): operation not supported (fast zero only).
    NotSup,
    /// `NBD_ESHUTDOWN` (108): the server is shutting down.
    Shutdown,
}

impl NbdErrno {
    /// All values, for tests and tables.
    pub const ALL: [NbdErrno; 8] = [
        NbdErrno::Perm,
        NbdErrno::Io,
        NbdErrno::NoMem,
        NbdErrno::Inval,
        NbdErrno::NoSpc,
        NbdErrno::Overflow,
        NbdErrno::NotSup,
        NbdErrno::Shutdown,
    ];

    /// The value sent on the wire.
    pub const fn code(self) -> u32 {
        match self {
            NbdErrno::Perm => 1,
            NbdErrno::Io => 5,
            NbdErrno::NoMem => 12,
            NbdErrno::Inval => 22,
            NbdErrno::NoSpc => 28,
            NbdErrno::Overflow => 75,
            NbdErrno::NotSup => 95,
            NbdErrno::Shutdown => 108,
        }
    }

    /// The value for a wire code; the protocol tells clients to read an
    /// unknown value as `EINVAL`, and so do we.
    pub const fn from_code(code: u32) -> NbdErrno {
        match code {
            1 => NbdErrno::Perm,
            5 => NbdErrno::Io,
            12 => NbdErrno::NoMem,
            28 => NbdErrno::NoSpc,
            75 => NbdErrno::Overflow,
            95 => NbdErrno::NotSup,
            108 => NbdErrno::Shutdown,
            _ => NbdErrno::Inval,
        }
    }

    /// The NBD value for an I/O error from the backing store. The protocol
    /// asks for `EDQUOT` and `EFBIG` to become `ENOSPC`; a read-only
    /// filesystem or a permission problem is `EPERM`; anything unexpected
    /// is `EIO`, which clients treat as a media error.
    pub fn from_io(err: &io::Error) -> NbdErrno {
        use nix::errno::Errno as E;
        if let Some(raw) = err.raw_os_error() {
            return match E::from_raw(raw) {
                E::EPERM | E::EACCES | E::EROFS => NbdErrno::Perm,
                E::ENOMEM => NbdErrno::NoMem,
                E::EINVAL => NbdErrno::Inval,
                E::ENOSPC | E::EDQUOT | E::EFBIG => NbdErrno::NoSpc,
                E::EOVERFLOW => NbdErrno::Overflow,
                E::EOPNOTSUPP => NbdErrno::NotSup,
                E::ESHUTDOWN => NbdErrno::Shutdown,
                _ => NbdErrno::Io,
            };
        }
        match err.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => NbdErrno::Perm,
            io::ErrorKind::OutOfMemory => NbdErrno::NoMem,
            io::ErrorKind::InvalidInput => NbdErrno::Inval,
            io::ErrorKind::StorageFull
            | io::ErrorKind::QuotaExceeded
            | io::ErrorKind::FileTooLarge => NbdErrno::NoSpc,
            io::ErrorKind::Unsupported => NbdErrno::NotSup,
            _ => NbdErrno::Io,
        }
    }

    /// The protocol's name for the value, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            NbdErrno::Perm => "NBD_EPERM",
            NbdErrno::Io => "NBD_EIO",
            NbdErrno::NoMem => "NBD_ENOMEM",
            NbdErrno::Inval => "NBD_EINVAL",
            NbdErrno::NoSpc => "NBD_ENOSPC",
            NbdErrno::Overflow => "NBD_EOVERFLOW",
            NbdErrno::NotSup => "NBD_ENOTSUP",
            NbdErrno::Shutdown => "NBD_ESHUTDOWN",
        }
    }
}

impl std::fmt::Display for NbdErrno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// Why a connection cannot go on, or why the caller misused the crate.
///
/// The first group is the peer's fault (it is not speaking fixed-newstyle
/// NBD, or broke a MUST of the protocol); the server's answer is to close
/// the connection. The last group is the embedding program's fault.
#[derive(Debug, thiserror::Error)]
pub enum NbdError {
    /// A magic number did not match: the peer is not an NBD client or the
    /// stream lost framing (e.g. a write payload shorter than its header said).
    #[error("NBD peer sent {what} magic {found:#x}, expected {expected:#x}: the peer is not speaking fixed-newstyle NBD or the stream lost framing; reconnect the client")]
    BadMagic {
        /// Which message carried the magic.
        what: &'static str,
        /// The value the protocol requires.
        expected: u64,
        /// The value received.
        found: u64,
    },

    /// The client set handshake flags the server did not offer; the protocol
    /// requires the server to drop the connection.
    #[error("NBD client sent unknown handshake flags {flags:#x} (this server offers FIXED_NEWSTYLE|NO_ZEROES = 0x3); use a newstyle NBD client")]
    ClientFlags {
        /// The client's flags field.
        flags: u32,
    },

    /// `NBD_OPT_EXPORT_NAME` named an export this server does not have. The
    /// option has no error reply, so the protocol requires a disconnect.
    #[error("NBD client asked for export {name:?}, which does not exist (exports: {available}); use one of those names")]
    UnknownExport {
        /// The requested name (lossily decoded).
        name: String,
        /// The names this server exports, comma separated.
        available: String,
    },

    /// A message's fields contradict each other (e.g. a length larger than
    /// the data it frames, or a string that is not UTF-8 where one is needed).
    #[error("malformed NBD {what}: {detail}")]
    Malformed {
        /// The message type.
        what: &'static str,
        /// What is inconsistent.
        detail: String,
    },

    /// The stream ended in the middle of a message.
    #[error("NBD peer closed the connection after sending {buffered} bytes of an incomplete message; the client crashed or was killed")]
    UnexpectedEof {
        /// Bytes of the incomplete message received.
        buffered: u64,
    },

    /// Reading from or writing to the connection failed.
    #[error("NBD connection {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// Invalid block size constraints (proto.md "Block size constraints").
    #[error("invalid NBD block sizes min={min} preferred={preferred} max={max}: {reason}")]
    BlockSize {
        /// Minimum block size.
        min: u32,
        /// Preferred block size.
        preferred: u32,
        /// Maximum block size.
        max: u32,
        /// Which rule is broken.
        reason: &'static str,
    },

    /// An export definition the server cannot offer (empty list, duplicate
    /// or over-long name).
    #[error("invalid NBD export {name:?}: {reason}")]
    Export {
        /// The export name.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// The embedding program completed a request this connection never
    /// handed out (or completed it twice).
    #[error("completion for NBD cookie {cookie:#x}, which is not in flight on this connection (completed twice, or from another connection)")]
    UnknownCookie {
        /// The cookie (handle) of the completion.
        cookie: u64,
    },

    /// The embedding program completed a read with the wrong number of
    /// bytes; sending it would desynchronise the client.
    #[error("completion for NBD read cookie {cookie:#x} carries {got} bytes, the request asked for {expected}")]
    ReplyLength {
        /// The cookie (handle) of the completion.
        cookie: u64,
        /// Bytes the request asked for.
        expected: u32,
        /// Bytes supplied.
        got: usize,
    },
}

impl NbdError {
    /// The NBD error value that best describes this error, for a server that
    /// still has a request to answer when it happens.
    pub fn errno(&self) -> NbdErrno {
        match self {
            NbdError::Io { source, .. } => NbdErrno::from_io(source),
            NbdError::ReplyLength { .. } => NbdErrno::Io,
            NbdError::UnexpectedEof { .. } => NbdErrno::Shutdown,
            NbdError::BadMagic { .. }
            | NbdError::ClientFlags { .. }
            | NbdError::UnknownExport { .. }
            | NbdError::Malformed { .. }
            | NbdError::BlockSize { .. }
            | NbdError::Export { .. }
            | NbdError::UnknownCookie { .. } => NbdErrno::Inval,
        }
    }

    /// True when the peer broke the protocol (as opposed to our own I/O
    /// failing or the caller misusing the API): worth a warning that names
    /// the client, not an alarm about the server.
    pub fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            NbdError::BadMagic { .. }
                | NbdError::ClientFlags { .. }
                | NbdError::UnknownExport { .. }
                | NbdError::Malformed { .. }
                | NbdError::UnexpectedEof { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_protocol_values_and_round_trip() {
        let codes: Vec<u32> = NbdErrno::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [1, 5, 12, 22, 28, 75, 95, 108]);
        for e in NbdErrno::ALL {
            assert_eq!(NbdErrno::from_code(e.code()), e);
        }
        assert_eq!(NbdErrno::from_code(0xdead), NbdErrno::Inval);
    }

    #[test]
    fn io_errors_map_as_the_protocol_asks() {
        let raw = |n| NbdErrno::from_io(&io::Error::from_raw_os_error(n));
        assert_eq!(raw(libc_errno::EDQUOT), NbdErrno::NoSpc);
        assert_eq!(raw(libc_errno::EFBIG), NbdErrno::NoSpc);
        assert_eq!(raw(libc_errno::ENOSPC), NbdErrno::NoSpc);
        assert_eq!(raw(libc_errno::EROFS), NbdErrno::Perm);
        assert_eq!(raw(libc_errno::EIO), NbdErrno::Io);
        assert_eq!(raw(libc_errno::ENXIO), NbdErrno::Io);
        let kind = |k| NbdErrno::from_io(&io::Error::new(k, "x"));
        assert_eq!(kind(io::ErrorKind::UnexpectedEof), NbdErrno::Io);
        assert_eq!(kind(io::ErrorKind::PermissionDenied), NbdErrno::Perm);
        let e = NbdError::Io {
            context: "reading",
            source: io::Error::from_raw_os_error(libc_errno::ENOSPC),
        };
        assert_eq!(e.errno(), NbdErrno::NoSpc);
    }

    /// Linux errno numbers, spelled out so the test does not depend on the
    /// mapping code's own imports.
    mod libc_errno {
        pub const EIO: i32 = 5;
        pub const ENXIO: i32 = 6;
        pub const EFBIG: i32 = 27;
        pub const ENOSPC: i32 = 28;
        pub const EROFS: i32 = 30;
        pub const EDQUOT: i32 = 122;
    }
}
