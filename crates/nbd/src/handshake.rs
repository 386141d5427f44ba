//! Handshake messages of fixed-newstyle negotiation (proto.md "Handshake").
//!
//! ```text
//! S: NBDMAGIC  IHAVEOPT  handshake-flags(16)
//! C: client-flags(32)
//! C: IHAVEOPT option(32) length(32) data...          (repeated)
//! S: REPLY_MAGIC option(32) reply-type(32) length(32) data...
//! ```
//!
//! Every decoder takes the bytes received so far and returns `Ok(None)`
//! when they are not yet a whole message, `Ok(Some((msg, consumed)))` when
//! they are, and `Err` only when the bytes can never become a valid message
//! (a bad magic number). An option the server does not know is a value
//! ([`ClientOption::Other`]), never an error.

use crate::error::NbdError;
use crate::wire::{self, info, opt, rep, Reader, IHAVEOPT, NBDMAGIC, OPTION_REPLY_MAGIC};

/// Decoder result: `None` = need more bytes; `Some((message, bytes used))`.
pub type Decoded<T> = Result<Option<(T, usize)>, NbdError>;

/// The server's first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerGreeting {
    /// Handshake flags (`FIXED_NEWSTYLE`, `NO_ZEROES`).
    pub flags: u16,
}

impl ServerGreeting {
    /// Encoded length.
    pub const LEN: usize = 18;

    /// What this server sends: fixed newstyle, zeroes may be omitted.
    pub fn ours() -> ServerGreeting {
        ServerGreeting {
            flags: wire::FLAG_FIXED_NEWSTYLE | wire::FLAG_NO_ZEROES,
        }
    }
    /// Appends the wire form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&NBDMAGIC.to_be_bytes());
        out.extend_from_slice(&IHAVEOPT.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
    }
    /// Decodes a greeting (the client side of the exchange, used by tests).
    pub fn decode(buf: &[u8]) -> Decoded<ServerGreeting> {
        let mut r = Reader::new(buf);
        let (Some(m1), Some(m2), Some(flags)) = (r.u64(), r.u64(), r.u16()) else {
            return Ok(None);
        };
        expect_magic("greeting", NBDMAGIC, m1)?;
        expect_magic("greeting option", IHAVEOPT, m2)?;
        Ok(Some((ServerGreeting { flags }, Self::LEN)))
    }
}

/// The client's 32-bit flags, its only message before option haggling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientFlags(pub u32);

impl ClientFlags {
    /// Encoded length.
    pub const LEN: usize = 4;

    /// Appends the wire form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
    }
    /// Decodes the flags; any value decodes, [`ClientFlags::check`] judges it.
    pub fn decode(buf: &[u8]) -> Decoded<ClientFlags> {
        Ok(Reader::new(buf).u32().map(|f| (ClientFlags(f), Self::LEN)))
    }
    /// The protocol requires the server to drop a client that sets a flag
    /// the server did not offer.
    pub fn check(self, offered: u16) -> Result<(), NbdError> {
        let mut known = 0;
        if offered & wire::FLAG_FIXED_NEWSTYLE != 0 {
            known |= wire::FLAG_C_FIXED_NEWSTYLE;
        }
        if offered & wire::FLAG_NO_ZEROES != 0 {
            known |= wire::FLAG_C_NO_ZEROES;
        }
        if self.0 & !known != 0 {
            return Err(NbdError::ClientFlags { flags: self.0 });
        }
        Ok(())
    }
    /// The client asked to omit the 124 zero bytes.
    pub fn no_zeroes(self) -> bool {
        self.0 & wire::FLAG_C_NO_ZEROES != 0
    }
}

/// The fixed part of an option request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionHeader {
    /// Option code.
    pub option: u32,
    /// Length of the data that follows.
    pub length: u32,
}

impl OptionHeader {
    /// Encoded length.
    pub const LEN: usize = 16;

    /// Decodes the header alone, so a server can refuse an oversized option
    /// before buffering its data.
    pub fn decode(buf: &[u8]) -> Decoded<OptionHeader> {
        let mut r = Reader::new(buf);
        let (Some(magic), Some(option), Some(length)) = (r.u64(), r.u32(), r.u32()) else {
            return Ok(None);
        };
        expect_magic("option request", IHAVEOPT, magic)?;
        Ok(Some((OptionHeader { option, length }, Self::LEN)))
    }
}

/// An option request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOption {
    /// `NBD_OPT_EXPORT_NAME`: select an export and start transmission.
    ExportName {
        /// Export name (empty = default export).
        name: String,
    },
    /// `NBD_OPT_ABORT`: end the session (any data is ignored).
    Abort,
    /// `NBD_OPT_LIST`: list exports.
    List,
    /// `NBD_OPT_INFO`: describe an export.
    Info(InfoRequest),
    /// `NBD_OPT_GO`: describe an export and start transmission.
    Go(InfoRequest),
    /// `NBD_OPT_STRUCTURED_REPLY`.
    StructuredReply,
    /// Any other option (STARTTLS, meta contexts, extended headers, codes
    /// this crate has never heard of), with its raw data.
    Other {
        /// Option code.
        option: u32,
        /// Option data.
        data: Vec<u8>,
    },
    /// A known option whose data does not follow its format; answered with
    /// `NBD_REP_ERR_INVALID`.
    Malformed {
        /// Option code.
        option: u32,
        /// What is wrong, for the error message.
        reason: &'static str,
    },
}

/// The data of `NBD_OPT_INFO` and `NBD_OPT_GO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoRequest {
    /// Export name (empty = default export).
    pub name: String,
    /// Information types asked for (`NBD_INFO_*`).
    pub requests: Vec<u16>,
}

impl ClientOption {
    /// Parses option data; total: every input gives a value.
    pub fn parse(option: u32, data: &[u8]) -> ClientOption {
        let malformed = |reason| ClientOption::Malformed { option, reason };
        match option {
            opt::EXPORT_NAME => match std::str::from_utf8(data) {
                Ok(name) => ClientOption::ExportName { name: name.into() },
                Err(_) => malformed("export name is not UTF-8"),
            },
            opt::ABORT => ClientOption::Abort,
            opt::LIST if data.is_empty() => ClientOption::List,
            opt::LIST => malformed("NBD_OPT_LIST carries no data"),
            opt::INFO | opt::GO => match parse_info_request(data) {
                Ok(req) if option == opt::INFO => ClientOption::Info(req),
                Ok(req) => ClientOption::Go(req),
                Err(reason) => malformed(reason),
            },
            opt::STRUCTURED_REPLY => ClientOption::StructuredReply,
            _ => ClientOption::Other {
                option,
                data: data.to_vec(),
            },
        }
    }

    /// Decodes a whole option request (header and data).
    pub fn decode(buf: &[u8]) -> Decoded<ClientOption> {
        let Some((h, n)) = OptionHeader::decode(buf)? else {
            return Ok(None);
        };
        let end = n.saturating_add(h.length as usize);
        match buf.get(n..end) {
            Some(data) => Ok(Some((ClientOption::parse(h.option, data), end))),
            None => Ok(None),
        }
    }

    /// The option code.
    pub fn code(&self) -> u32 {
        match self {
            ClientOption::ExportName { .. } => opt::EXPORT_NAME,
            ClientOption::Abort => opt::ABORT,
            ClientOption::List => opt::LIST,
            ClientOption::Info(_) => opt::INFO,
            ClientOption::Go(_) => opt::GO,
            ClientOption::StructuredReply => opt::STRUCTURED_REPLY,
            ClientOption::Other { option, .. } | ClientOption::Malformed { option, .. } => *option,
        }
    }

    /// Appends the wire form (client side; `Malformed` encodes with no data).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut data = Vec::new();
        match self {
            ClientOption::ExportName { name } => data.extend_from_slice(name.as_bytes()),
            ClientOption::Info(r) | ClientOption::Go(r) => {
                wire::put_string32(&mut data, &r.name);
                data.extend_from_slice(&(r.requests.len() as u16).to_be_bytes());
                for q in &r.requests {
                    data.extend_from_slice(&q.to_be_bytes());
                }
            }
            ClientOption::Other { data: d, .. } => data.extend_from_slice(d),
            ClientOption::Abort
            | ClientOption::List
            | ClientOption::StructuredReply
            | ClientOption::Malformed { .. } => {}
        }
        out.extend_from_slice(&IHAVEOPT.to_be_bytes());
        out.extend_from_slice(&self.code().to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&data);
    }
}

/// The protocol's name for an option code, for logs and error messages.
pub fn option_name(option: u32) -> &'static str {
    match option {
        opt::EXPORT_NAME => "NBD_OPT_EXPORT_NAME",
        opt::ABORT => "NBD_OPT_ABORT",
        opt::LIST => "NBD_OPT_LIST",
        opt::PEEK_EXPORT => "NBD_OPT_PEEK_EXPORT",
        opt::STARTTLS => "NBD_OPT_STARTTLS",
        opt::INFO => "NBD_OPT_INFO",
        opt::GO => "NBD_OPT_GO",
        opt::STRUCTURED_REPLY => "NBD_OPT_STRUCTURED_REPLY",
        opt::LIST_META_CONTEXT => "NBD_OPT_LIST_META_CONTEXT",
        opt::SET_META_CONTEXT => "NBD_OPT_SET_META_CONTEXT",
        opt::EXTENDED_HEADERS => "NBD_OPT_EXTENDED_HEADERS",
        _ => "unknown option",
    }
}

fn parse_info_request(data: &[u8]) -> Result<InfoRequest, &'static str> {
    let mut r = Reader::new(data);
    let len = r.u32().ok_or("shorter than its name length field")? as usize;
    let name = r.bytes(len).ok_or("name length exceeds the option data")?;
    let name = std::str::from_utf8(name).map_err(|_| "export name is not UTF-8")?;
    let count = r.u16().ok_or("no information request count")? as usize;
    if r.remaining() != count * 2 {
        return Err("information request count does not match the option length");
    }
    let requests = (0..count).filter_map(|_| r.u16()).collect();
    Ok(InfoRequest {
        name: name.into(),
        requests,
    })
}

/// Option reply error types (`NBD_REP_ERR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepError {
    /// Option unknown to this server.
    Unsup,
    /// Forbidden by server policy.
    Policy,
    /// Syntactically or semantically invalid.
    Invalid,
    /// Not available on this platform.
    Platform,
    /// TLS required first.
    TlsReqd,
    /// No such export.
    Unknown,
    /// Server shutting down.
    Shutdown,
    /// Client must ask for block sizes.
    BlockSizeReqd,
    /// Request or reply too large.
    TooBig,
    /// Any other error type (bit 31 set).
    Other(u32),
}

impl RepError {
    /// Wire value.
    pub fn code(self) -> u32 {
        match self {
            RepError::Unsup => rep::ERR_UNSUP,
            RepError::Policy => rep::ERR_POLICY,
            RepError::Invalid => rep::ERR_INVALID,
            RepError::Platform => rep::ERR_PLATFORM,
            RepError::TlsReqd => rep::ERR_TLS_REQD,
            RepError::Unknown => rep::ERR_UNKNOWN,
            RepError::Shutdown => rep::ERR_SHUTDOWN,
            RepError::BlockSizeReqd => rep::ERR_BLOCK_SIZE_REQD,
            RepError::TooBig => rep::ERR_TOO_BIG,
            RepError::Other(c) => c,
        }
    }
    fn from_code(code: u32) -> RepError {
        match code {
            rep::ERR_UNSUP => RepError::Unsup,
            rep::ERR_POLICY => RepError::Policy,
            rep::ERR_INVALID => RepError::Invalid,
            rep::ERR_PLATFORM => RepError::Platform,
            rep::ERR_TLS_REQD => RepError::TlsReqd,
            rep::ERR_UNKNOWN => RepError::Unknown,
            rep::ERR_SHUTDOWN => RepError::Shutdown,
            rep::ERR_BLOCK_SIZE_REQD => RepError::BlockSizeReqd,
            rep::ERR_TOO_BIG => RepError::TooBig,
            c => RepError::Other(c),
        }
    }
}

/// One item of `NBD_REP_INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InfoItem {
    /// `NBD_INFO_EXPORT`: size and transmission flags.
    Export {
        /// Export size in bytes.
        size: u64,
        /// Transmission flags.
        flags: u16,
    },
    /// `NBD_INFO_NAME`: canonical name.
    Name(String),
    /// `NBD_INFO_DESCRIPTION`.
    Description(String),
    /// `NBD_INFO_BLOCK_SIZE`.
    BlockSize {
        /// Minimum block size.
        min: u32,
        /// Preferred block size.
        preferred: u32,
        /// Maximum block size.
        max: u32,
    },
    /// An information type this crate does not know.
    Other {
        /// Information type.
        kind: u16,
        /// Its payload.
        data: Vec<u8>,
    },
}

/// The body of an option reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// `NBD_REP_ACK`.
    Ack,
    /// `NBD_REP_SERVER`: one export of a list.
    Server {
        /// Export name.
        name: String,
        /// Human-readable details (may be empty).
        description: String,
    },
    /// `NBD_REP_INFO`.
    Info(InfoItem),
    /// An error reply with its message for the user.
    Error {
        /// Error type.
        kind: RepError,
        /// Message (may be empty).
        message: String,
    },
    /// Any other non-error reply type, with raw data.
    Other {
        /// Reply type.
        reply_type: u32,
        /// Raw data.
        data: Vec<u8>,
    },
}

/// A fixed-newstyle option reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionReply {
    /// The option this replies to.
    pub option: u32,
    /// Reply type and data.
    pub body: ReplyBody,
}

impl OptionReply {
    /// Appends the wire form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut data = Vec::new();
        let reply_type = match &self.body {
            ReplyBody::Ack => rep::ACK,
            ReplyBody::Server { name, description } => {
                wire::put_string32(&mut data, name);
                data.extend_from_slice(description.as_bytes());
                rep::SERVER
            }
            ReplyBody::Info(item) => {
                encode_info(item, &mut data);
                rep::INFO
            }
            ReplyBody::Error { kind, message } => {
                data.extend_from_slice(message.as_bytes());
                kind.code()
            }
            ReplyBody::Other {
                reply_type,
                data: d,
            } => {
                data.extend_from_slice(d);
                *reply_type
            }
        };
        out.extend_from_slice(&OPTION_REPLY_MAGIC.to_be_bytes());
        out.extend_from_slice(&self.option.to_be_bytes());
        out.extend_from_slice(&reply_type.to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&data);
    }

    /// Decodes a reply (client side, used by tests and fuzzing).
    pub fn decode(buf: &[u8]) -> Decoded<OptionReply> {
        let mut r = Reader::new(buf);
        let (Some(magic), Some(option), Some(reply_type), Some(len)) =
            (r.u64(), r.u32(), r.u32(), r.u32())
        else {
            return Ok(None);
        };
        expect_magic("option reply", OPTION_REPLY_MAGIC, magic)?;
        let Some(data) = r.bytes(len as usize) else {
            return Ok(None);
        };
        let body = decode_reply_body(reply_type, data)?;
        Ok(Some((OptionReply { option, body }, r.pos())))
    }
}

fn encode_info(item: &InfoItem, data: &mut Vec<u8>) {
    match item {
        InfoItem::Export { size, flags } => {
            data.extend_from_slice(&info::EXPORT.to_be_bytes());
            data.extend_from_slice(&size.to_be_bytes());
            data.extend_from_slice(&flags.to_be_bytes());
        }
        InfoItem::Name(s) => {
            data.extend_from_slice(&info::NAME.to_be_bytes());
            data.extend_from_slice(s.as_bytes());
        }
        InfoItem::Description(s) => {
            data.extend_from_slice(&info::DESCRIPTION.to_be_bytes());
            data.extend_from_slice(s.as_bytes());
        }
        InfoItem::BlockSize {
            min,
            preferred,
            max,
        } => {
            data.extend_from_slice(&info::BLOCK_SIZE.to_be_bytes());
            for v in [min, preferred, max] {
                data.extend_from_slice(&v.to_be_bytes());
            }
        }
        InfoItem::Other { kind, data: d } => {
            data.extend_from_slice(&kind.to_be_bytes());
            data.extend_from_slice(d);
        }
    }
}

fn utf8(what: &'static str, b: &[u8]) -> Result<String, NbdError> {
    String::from_utf8(b.to_vec()).map_err(|_| NbdError::Malformed {
        what,
        detail: "string is not UTF-8".into(),
    })
}

fn decode_reply_body(reply_type: u32, data: &[u8]) -> Result<ReplyBody, NbdError> {
    let malformed = |detail: &str| NbdError::Malformed {
        what: "option reply",
        detail: detail.into(),
    };
    let mut r = Reader::new(data);
    Ok(match reply_type {
        rep::ACK if data.is_empty() => ReplyBody::Ack,
        rep::ACK => return Err(malformed("NBD_REP_ACK carries data")),
        rep::SERVER => {
            let len = r
                .u32()
                .ok_or_else(|| malformed("NBD_REP_SERVER too short"))?;
            let name = r
                .bytes(len as usize)
                .ok_or_else(|| malformed("NBD_REP_SERVER name longer than the reply"))?;
            ReplyBody::Server {
                name: utf8("NBD_REP_SERVER", name)?,
                description: utf8("NBD_REP_SERVER", r.rest())?,
            }
        }
        rep::INFO => {
            let kind = r.u16().ok_or_else(|| malformed("NBD_REP_INFO too short"))?;
            let item = match kind {
                info::EXPORT => match (r.u64(), r.u16(), r.remaining()) {
                    (Some(size), Some(flags), 0) => InfoItem::Export { size, flags },
                    _ => return Err(malformed("NBD_INFO_EXPORT must be 12 bytes")),
                },
                info::NAME => InfoItem::Name(utf8("NBD_INFO_NAME", r.rest())?),
                info::DESCRIPTION => InfoItem::Description(utf8("NBD_INFO_DESCRIPTION", r.rest())?),
                info::BLOCK_SIZE => match (r.u32(), r.u32(), r.u32(), r.remaining()) {
                    (Some(min), Some(preferred), Some(max), 0) => InfoItem::BlockSize {
                        min,
                        preferred,
                        max,
                    },
                    _ => return Err(malformed("NBD_INFO_BLOCK_SIZE must be 14 bytes")),
                },
                kind => InfoItem::Other {
                    kind,
                    data: r.rest().to_vec(),
                },
            };
            ReplyBody::Info(item)
        }
        t if t & rep::ERR_BIT != 0 => ReplyBody::Error {
            kind: RepError::from_code(t),
            message: String::from_utf8_lossy(data).into_owned(),
        },
        t => ReplyBody::Other {
            reply_type: t,
            data: data.to_vec(),
        },
    })
}

/// The server's answer to `NBD_OPT_EXPORT_NAME`: size, flags and (unless
/// the client negotiated `NO_ZEROES`) 124 reserved zero bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportNameReply {
    /// Export size in bytes.
    pub size: u64,
    /// Transmission flags.
    pub flags: u16,
}

impl ExportNameReply {
    /// Appends the wire form.
    pub fn encode(&self, no_zeroes: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        if !no_zeroes {
            out.extend_from_slice(&[0u8; 124]);
        }
    }
    /// Decodes it; the length depends on what was negotiated.
    pub fn decode(buf: &[u8], no_zeroes: bool) -> Decoded<ExportNameReply> {
        let mut r = Reader::new(buf);
        let (Some(size), Some(flags)) = (r.u64(), r.u16()) else {
            return Ok(None);
        };
        let len = if no_zeroes { 10 } else { 134 };
        if buf.len() < len {
            return Ok(None);
        }
        Ok(Some((ExportNameReply { size, flags }, len)))
    }
}

fn expect_magic(what: &'static str, expected: u64, found: u64) -> Result<(), NbdError> {
    if expected == found {
        Ok(())
    } else {
        Err(NbdError::BadMagic {
            what,
            expected,
            found,
        })
    }
}

#[cfg(test)]
mod tests;
