//! Transmission-phase messages (proto.md "Transmission"): the request
//! header, its validation against the export, and the simple reply.
//!
//! ```text
//! C: 0x25609513 flags(16) type(16) cookie(64) offset(64) length(32) [data if WRITE]
//! S: 0x67446698 error(32) cookie(64) [data if READ and error == 0]
//! ```
//!
//! Only the request magic can make decoding fail; any type and any flags
//! decode, and [`RequestHeader::check`] turns what cannot be served into
//! the NBD error the reply carries.

use crate::error::{NbdErrno, NbdError};
use crate::export::ExportInfo;
use crate::handshake::Decoded;
use crate::wire::{cflag, cmd, Reader, REQUEST_MAGIC, SIMPLE_REPLY_MAGIC};

/// The request type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// `NBD_CMD_READ`.
    Read,
    /// `NBD_CMD_WRITE` (the header is followed by *length* bytes).
    Write,
    /// `NBD_CMD_DISC`: finish in-flight requests, then close.
    Disc,
    /// `NBD_CMD_FLUSH`.
    Flush,
    /// `NBD_CMD_TRIM`.
    Trim,
    /// `NBD_CMD_CACHE`.
    Cache,
    /// `NBD_CMD_WRITE_ZEROES`.
    WriteZeroes,
    /// `NBD_CMD_BLOCK_STATUS` (needs structured replies; refused).
    BlockStatus,
    /// `NBD_CMD_RESIZE` (experimental; refused).
    Resize,
    /// Any other type.
    Unknown(u16),
}

impl CommandKind {
    /// From the wire value; total.
    pub fn from_code(code: u16) -> CommandKind {
        match code {
            cmd::READ => CommandKind::Read,
            cmd::WRITE => CommandKind::Write,
            cmd::DISC => CommandKind::Disc,
            cmd::FLUSH => CommandKind::Flush,
            cmd::TRIM => CommandKind::Trim,
            cmd::CACHE => CommandKind::Cache,
            cmd::WRITE_ZEROES => CommandKind::WriteZeroes,
            cmd::BLOCK_STATUS => CommandKind::BlockStatus,
            cmd::RESIZE => CommandKind::Resize,
            c => CommandKind::Unknown(c),
        }
    }
    /// The wire value.
    pub fn code(self) -> u16 {
        match self {
            CommandKind::Read => cmd::READ,
            CommandKind::Write => cmd::WRITE,
            CommandKind::Disc => cmd::DISC,
            CommandKind::Flush => cmd::FLUSH,
            CommandKind::Trim => cmd::TRIM,
            CommandKind::Cache => cmd::CACHE,
            CommandKind::WriteZeroes => cmd::WRITE_ZEROES,
            CommandKind::BlockStatus => cmd::BLOCK_STATUS,
            CommandKind::Resize => cmd::RESIZE,
            CommandKind::Unknown(c) => c,
        }
    }
}

/// A request header as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    /// Command flags (`NBD_CMD_FLAG_*`).
    pub flags: u16,
    /// Request type.
    pub kind: CommandKind,
    /// Opaque value echoed in the reply ("handle" in older texts).
    pub cookie: u64,
    /// Byte offset into the export.
    pub offset: u64,
    /// Byte count.
    pub length: u32,
}

impl RequestHeader {
    /// Encoded length.
    pub const LEN: usize = 28;

    /// Appends the wire form (client side).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&REQUEST_MAGIC.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&self.kind.code().to_be_bytes());
        out.extend_from_slice(&self.cookie.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// Decodes a header; the write payload (see [`RequestHeader::payload_len`])
    /// is left to the caller, who may refuse to buffer it.
    pub fn decode(buf: &[u8]) -> Decoded<RequestHeader> {
        let mut r = Reader::new(buf);
        let (Some(magic), Some(flags), Some(kind), Some(cookie), Some(offset), Some(length)) =
            (r.u32(), r.u16(), r.u16(), r.u64(), r.u64(), r.u32())
        else {
            return Ok(None);
        };
        if magic != REQUEST_MAGIC {
            return Err(NbdError::BadMagic {
                what: "request",
                expected: REQUEST_MAGIC.into(),
                found: magic.into(),
            });
        }
        let h = RequestHeader {
            flags,
            kind: CommandKind::from_code(kind),
            cookie,
            offset,
            length,
        };
        Ok(Some((h, Self::LEN)))
    }

    /// Bytes of data following the header on the wire: *length* for a
    /// write, nothing for every other type (without extended headers only
    /// `NBD_CMD_WRITE` carries a payload, whatever its flags say).
    pub fn payload_len(&self) -> u32 {
        if self.kind == CommandKind::Write {
            self.length
        } else {
            0
        }
    }

    /// True when FUA was asked for.
    pub fn fua(&self) -> bool {
        self.flags & cflag::FUA != 0
    }

    /// Decides whether the request can be served on `export`, and if not,
    /// which error the reply carries (proto.md "Error values"): unknown
    /// types and flags not documented for the type are `EINVAL`; writes,
    /// trims and zeroes on a read-only export `EPERM`; writes and zeroes
    /// past the end `ENOSPC`, other accesses past the end `EINVAL`;
    /// unaligned offsets and lengths, and payloads above the maximum block
    /// size, `EINVAL`.
    pub fn check(&self, export: &ExportInfo) -> Result<(), NbdErrno> {
        use CommandKind as K;
        let allowed_flags = match self.kind {
            // A disconnect has no reply to carry an error, so it is never refused.
            K::Disc => return Ok(()),
            K::Read | K::Write | K::Flush | K::Trim | K::Cache => cflag::FUA,
            K::WriteZeroes => cflag::FUA | cflag::NO_HOLE,
            K::BlockStatus | K::Resize | K::Unknown(_) => return Err(NbdErrno::Inval),
        };
        if self.flags & !allowed_flags != 0 {
            return Err(NbdErrno::Inval);
        }
        let writes = matches!(self.kind, K::Write | K::Trim | K::WriteZeroes);
        if writes && export.read_only {
            return Err(NbdErrno::Perm);
        }
        match self.kind {
            K::Flush if self.offset != 0 || self.length != 0 => return Err(NbdErrno::Inval),
            K::Flush => return Ok(()),
            _ => {}
        }
        let bs = export.block_size;
        let min = u64::from(bs.min());
        if self.offset % min != 0 || u64::from(self.length) % min != 0 {
            return Err(NbdErrno::Inval);
        }
        // Only payload-carrying requests pin memory; trim, zero and cache
        // of any length cost nothing to accept, and the kernel client does
        // not learn the maximum, so they are not limited.
        if matches!(self.kind, K::Read | K::Write) && self.length > bs.max() {
            return Err(NbdErrno::Inval);
        }
        let past_end = match self.offset.checked_add(u64::from(self.length)) {
            Some(end) => end > export.size,
            None => true,
        };
        if past_end {
            return Err(match self.kind {
                K::Write | K::WriteZeroes => NbdErrno::NoSpc,
                _ => NbdErrno::Inval,
            });
        }
        Ok(())
    }
}

/// A simple reply header; a successful read reply is followed by the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimpleReply {
    /// The request's cookie.
    pub cookie: u64,
    /// `None` for success.
    pub error: Option<NbdErrno>,
}

impl SimpleReply {
    /// Encoded length of the header.
    pub const LEN: usize = 16;

    /// Appends the header.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
        out.extend_from_slice(&self.error.map_or(0, NbdErrno::code).to_be_bytes());
        out.extend_from_slice(&self.cookie.to_be_bytes());
    }

    /// Decodes a header (client side); an unknown error value reads as
    /// `EINVAL`, as the protocol tells clients to.
    pub fn decode(buf: &[u8]) -> Decoded<SimpleReply> {
        let mut r = Reader::new(buf);
        let (Some(magic), Some(error), Some(cookie)) = (r.u32(), r.u32(), r.u64()) else {
            return Ok(None);
        };
        if magic != SIMPLE_REPLY_MAGIC {
            return Err(NbdError::BadMagic {
                what: "simple reply",
                expected: SIMPLE_REPLY_MAGIC.into(),
                found: magic.into(),
            });
        }
        let error = (error != 0).then(|| NbdErrno::from_code(error));
        Ok(Some((SimpleReply { cookie, error }, Self::LEN)))
    }
}

#[cfg(test)]
mod tests;
