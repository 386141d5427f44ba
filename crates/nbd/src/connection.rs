//! One NBD connection as a sans-IO state machine.
//!
//! The [`Connection`] owns the bytes in both directions but never touches a
//! socket: the caller feeds it what it read ([`Connection::receive`] or
//! [`Connection::read_from`]), takes [`Event`]s out of it, performs the
//! requests however it likes (synchronously, on worker threads, after the
//! peer acknowledged them) and hands back a [`Completion`] for each, in any
//! order. Replies to be sent accumulate in an output queue the caller
//! drains ([`Connection::write_to`], or [`Connection::output`] and
//! [`Connection::consume_output`] for non-blocking sockets).
//!
//! The handshake is answered entirely inside: it only needs the export list.
//! Requests that cannot be served (bad flags, out of range, read-only) are
//! answered inside too, with the NBD error, so the caller only ever sees
//! requests it may execute.
//!
//! What the caller must keep when it completes out of order (proto.md
//! "Ordering of messages and writes"): requests are yielded in arrival
//! order; a [`Command::Flush`] may complete only once every write
//! *completed* before the flush arrived is durable (on every node the
//! replication protocol requires); a write, trim or zero with `fua` may
//! complete only once it is durable itself. Everything else may complete
//! in any order, and several connections may be served at once because
//! exports advertise `NBD_FLAG_CAN_MULTI_CONN`: the caller keeps one
//! backing store for all of them.

use std::io::{self, Read, Write};

use crate::error::{NbdErrno, NbdError};
use crate::event::{Command, Completion, Event, Request};
use crate::export::ExportInfo;
use crate::handshake::{
    option_name, ClientFlags, ClientOption, ExportNameReply, InfoItem, InfoRequest, OptionHeader,
    OptionReply, RepError, ReplyBody, ServerGreeting,
};
use crate::output::Output;
use crate::transmission::{CommandKind, RequestHeader, SimpleReply};
use crate::wire::{cflag, info, opt, MAX_STRING};

/// Largest option data the server buffers: an `NBD_OPT_GO` with the
/// longest legal name and every information type fits many times over.
/// Longer options are skipped as they arrive and refused with
/// `NBD_REP_ERR_TOO_BIG`.
pub const MAX_OPTION_DATA: u32 = 4 * MAX_STRING as u32;

/// How much to ask the socket for at once when no large payload is pending.
const READ_CHUNK: usize = 256 * 1024;

/// Write payloads from this size up get their own buffer as soon as the
/// header is in, so the bulk of the data is copied once (socket to buffer)
/// rather than twice.
const DIRECT_PAYLOAD: u32 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    ClientFlags,
    Options,
    Transmission(ExportInfo),
    /// Aborted, disconnected or failed: input is ignored.
    Closed,
}

/// Input being dropped as it arrives (an oversized option or write
/// payload), and the reply to queue once it is gone.
#[derive(Debug)]
struct Skip {
    remaining: u64,
    /// Bytes of the message received so far (header included).
    received: u64,
    then: Pending,
}

#[derive(Debug)]
enum Pending {
    Option(OptionReply),
    Reply(SimpleReply),
}

/// A valid write whose large payload is still arriving.
#[derive(Debug)]
struct Payload {
    header: RequestHeader,
    data: Vec<u8>,
    filled: usize,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    cookie: u64,
    read_len: Option<u32>,
}

/// The server side of one NBD connection. See the module documentation.
#[derive(Debug)]
pub struct Connection {
    exports: Vec<ExportInfo>,
    phase: Phase,
    no_zeroes: bool,
    shutting_down: bool,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    /// Total bytes the message at `in_start` needs, when known.
    need: usize,
    skip: Option<Skip>,
    payload: Option<Payload>,
    output: Output,
    in_flight: Vec<InFlight>,
}

impl Connection {
    /// A connection offering `exports` (the first is the default export,
    /// selected by an empty name). The greeting is already in the output.
    pub fn new(exports: Vec<ExportInfo>) -> Connection {
        let mut output = Output::default();
        output.append(|b| ServerGreeting::ours().encode(b));
        Connection {
            exports,
            phase: Phase::ClientFlags,
            no_zeroes: false,
            shutting_down: false,
            input: Vec::new(),
            in_start: 0,
            in_end: 0,
            need: 0,
            skip: None,
            payload: None,
            output,
            in_flight: Vec::new(),
        }
    }

    /// Appends bytes received from the client.
    pub fn receive(&mut self, data: &[u8]) {
        self.spare(data.len())[..data.len()].copy_from_slice(data);
        self.in_end += data.len();
    }

    /// Reads once from `r` straight into the input buffer (or into the
    /// buffer of a large write payload being received). Returns the bytes
    /// read (0 = EOF).
    pub fn read_from<R: Read + ?Sized>(&mut self, r: &mut R) -> io::Result<usize> {
        if let Some(p) = &mut self.payload {
            if self.in_start == self.in_end {
                let n = r.read(&mut p.data[p.filled..])?;
                p.filled += n;
                return Ok(n);
            }
        }
        let buffered = self.in_end - self.in_start;
        let want = READ_CHUNK.max(self.need.saturating_sub(buffered));
        let n = r.read(self.spare(want))?;
        self.in_end += n;
        Ok(n)
    }

    /// Makes room for `want` more input bytes and returns that room.
    fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.in_start == self.in_end {
            self.in_start = 0;
            self.in_end = 0;
        }
        if self.input.len() - self.in_end < want {
            self.input.copy_within(self.in_start..self.in_end, 0);
            self.in_end -= self.in_start;
            self.in_start = 0;
            if self.input.len() - self.in_end < want {
                self.input.resize(self.in_end + want, 0);
            }
        }
        &mut self.input[self.in_end..]
    }

    /// The next thing for the caller to do, or `None` until more input
    /// arrives. An `Err` means the client broke the protocol in a way that
    /// requires closing the connection (after sending the output).
    pub fn next_event(&mut self) -> Result<Option<Event>, NbdError> {
        let r = self.advance();
        if r.is_err() {
            self.phase = Phase::Closed;
        }
        r
    }

    fn advance(&mut self) -> Result<Option<Event>, NbdError> {
        loop {
            if let Some(skip) = &mut self.skip {
                let n = skip.remaining.min((self.in_end - self.in_start) as u64);
                self.in_start += n as usize;
                skip.remaining -= n;
                skip.received += n;
                if skip.remaining > 0 {
                    return Ok(None);
                }
                match self.skip.take().map(|s| s.then) {
                    Some(Pending::Option(r)) => self.output.append(|b| r.encode(b)),
                    Some(Pending::Reply(r)) => self.output.append(|b| r.encode(b)),
                    None => {}
                }
            }
            if let Some(p) = &mut self.payload {
                let n = (p.data.len() - p.filled).min(self.in_end - self.in_start);
                p.data[p.filled..p.filled + n]
                    .copy_from_slice(&self.input[self.in_start..self.in_start + n]);
                p.filled += n;
                self.in_start += n;
                if p.filled < p.data.len() {
                    return Ok(None);
                }
                if let Some(p) = self.payload.take() {
                    if let Some(event) = self.accept_request(&p.header, p.data) {
                        return Ok(Some(event));
                    }
                }
                continue;
            }
            let buf = &self.input[self.in_start..self.in_end];
            match &self.phase {
                Phase::Closed => {
                    self.in_start = self.in_end;
                    return Ok(None);
                }
                Phase::ClientFlags => {
                    let Some((flags, n)) = ClientFlags::decode(buf)? else {
                        return Ok(None);
                    };
                    self.in_start += n;
                    flags.check(ServerGreeting::ours().flags)?;
                    self.no_zeroes = flags.no_zeroes();
                    self.phase = Phase::Options;
                }
                Phase::Options => {
                    let Some((h, n)) = OptionHeader::decode(buf)? else {
                        return Ok(None);
                    };
                    if h.length > MAX_OPTION_DATA {
                        if h.option == opt::EXPORT_NAME {
                            return Err(self.unknown_export(&format!("<{} bytes>", h.length)));
                        }
                        self.in_start += n;
                        let message = format!(
                            "{} data of {} bytes exceeds this server's limit of {MAX_OPTION_DATA}",
                            option_name(h.option),
                            h.length
                        );
                        self.skip = Some(Skip {
                            remaining: h.length.into(),
                            received: n as u64,
                            then: Pending::Option(error_reply(h.option, RepError::TooBig, message)),
                        });
                        continue;
                    }
                    let total = n + h.length as usize;
                    let Some(data) = buf.get(n..total) else {
                        self.need = total;
                        return Ok(None);
                    };
                    let option = ClientOption::parse(h.option, data);
                    self.in_start += total;
                    self.need = 0;
                    if let Some(event) = self.handle_option(option)? {
                        return Ok(Some(event));
                    }
                }
                Phase::Transmission(export) => {
                    let Some((h, n)) = RequestHeader::decode(buf)? else {
                        return Ok(None);
                    };
                    let payload = h.payload_len();
                    let verdict = if payload > export.block_size.max() {
                        Err(NbdErrno::Inval)
                    } else {
                        h.check(export)
                            .and_then(|()| self.refuse_if_shutting_down(&h))
                    };
                    let total = n + payload as usize;
                    if let Err(errno) = verdict {
                        log::debug!("NBD request {h:?} refused with {errno}");
                        self.in_start += n;
                        // A refused write's payload streams past unbuffered.
                        self.skip = Some(Skip {
                            remaining: payload.into(),
                            received: n as u64,
                            then: Pending::Reply(SimpleReply {
                                cookie: h.cookie,
                                error: Some(errno),
                            }),
                        });
                        continue;
                    }
                    if payload == 0 {
                        self.in_start += n;
                        if let Some(event) = self.accept_request(&h, Vec::new()) {
                            return Ok(Some(event));
                        }
                    } else if let Some(data) = buf.get(n..total) {
                        let data = data.to_vec();
                        self.in_start += total;
                        self.need = 0;
                        if let Some(event) = self.accept_request(&h, data) {
                            return Ok(Some(event));
                        }
                    } else if payload >= DIRECT_PAYLOAD {
                        // Large payloads are read straight into their own
                        // buffer (see read_from) instead of being copied
                        // out of the input buffer.
                        let mut data = vec![0; payload as usize];
                        let have = buf.len() - n;
                        data[..have].copy_from_slice(&buf[n..]);
                        self.in_start = self.in_end;
                        self.payload = Some(Payload {
                            header: h,
                            data,
                            filled: have,
                        });
                    } else {
                        self.need = total;
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn refuse_if_shutting_down(&self, h: &RequestHeader) -> Result<(), NbdErrno> {
        if self.shutting_down && h.kind != CommandKind::Disc {
            Err(NbdErrno::Shutdown)
        } else {
            Ok(())
        }
    }

    /// Hands out a request that passed every check; `data` is the write
    /// payload (empty for other types).
    fn accept_request(&mut self, h: &RequestHeader, data: Vec<u8>) -> Option<Event> {
        let (offset, length, fua) = (h.offset, h.length, h.fua());
        let command = match h.kind {
            CommandKind::Disc => {
                self.phase = Phase::Closed;
                return Some(Event::Disconnect);
            }
            CommandKind::Read => Command::Read { offset, length },
            CommandKind::Write => Command::Write { offset, data, fua },
            CommandKind::Flush => Command::Flush,
            CommandKind::Trim => Command::Trim {
                offset,
                length,
                fua,
            },
            CommandKind::WriteZeroes => Command::WriteZeroes {
                offset,
                length,
                no_hole: h.flags & cflag::NO_HOLE != 0,
                fua,
            },
            CommandKind::Cache => Command::Cache { offset, length },
            // check() refused these already; answering here keeps the
            // function total should that ever change.
            CommandKind::BlockStatus | CommandKind::Resize | CommandKind::Unknown(_) => {
                self.reply(h.cookie, Some(NbdErrno::Inval));
                return None;
            }
        };
        let read_len = matches!(command, Command::Read { .. }).then_some(length);
        self.in_flight.push(InFlight {
            cookie: h.cookie,
            read_len,
        });
        Some(Event::Request(Request {
            cookie: h.cookie,
            command,
        }))
    }

    fn handle_option(&mut self, option: ClientOption) -> Result<Option<Event>, NbdError> {
        let code = option.code();
        if self.shutting_down && !matches!(option, ClientOption::Abort) {
            if let ClientOption::ExportName { name } = &option {
                return Err(self.unknown_export(name));
            }
            let msg = "the server is shutting down".to_string();
            self.option_reply(error_reply(code, RepError::Shutdown, msg));
            return Ok(None);
        }
        match option {
            ClientOption::ExportName { name } => {
                let Some(idx) = self.find_export(&name) else {
                    return Err(self.unknown_export(&name));
                };
                let e = &self.exports[idx];
                let reply = ExportNameReply {
                    size: e.size,
                    flags: e.flags().0,
                };
                let no_zeroes = self.no_zeroes;
                self.output.append(|b| reply.encode(no_zeroes, b));
                return Ok(Some(self.enter_transmission(idx)));
            }
            ClientOption::Abort => {
                self.option_reply(OptionReply {
                    option: code,
                    body: ReplyBody::Ack,
                });
                self.phase = Phase::Closed;
                return Ok(Some(Event::Disconnect));
            }
            ClientOption::List => {
                for i in 0..self.exports.len() {
                    let e = &self.exports[i];
                    let body = ReplyBody::Server {
                        name: e.name.clone(),
                        description: e.description.clone(),
                    };
                    self.option_reply(OptionReply { option: code, body });
                }
                self.option_reply(OptionReply {
                    option: code,
                    body: ReplyBody::Ack,
                });
            }
            ClientOption::Info(req) => {
                self.describe(code, &req);
            }
            ClientOption::Go(req) => {
                if let Some(idx) = self.describe(code, &req) {
                    return Ok(Some(self.enter_transmission(idx)));
                }
            }
            ClientOption::StructuredReply => {
                let msg = "structured replies are not supported; this server sends simple replies";
                self.option_reply(error_reply(code, RepError::Unsup, msg.into()));
            }
            ClientOption::Other { option, .. } => {
                let msg = format!("{} ({option}) is not supported", option_name(option));
                self.option_reply(error_reply(code, RepError::Unsup, msg));
            }
            ClientOption::Malformed { option, reason } => {
                let msg = format!("{}: {reason}", option_name(option));
                self.option_reply(error_reply(code, RepError::Invalid, msg));
            }
        }
        Ok(None)
    }

    /// Answers `NBD_OPT_INFO`/`NBD_OPT_GO`; returns the export on success.
    fn describe(&mut self, code: u32, req: &InfoRequest) -> Option<usize> {
        let Some(idx) = self.find_export(&req.name) else {
            let msg = format!(
                "no export named {:?}; this server exports: {}",
                req.name,
                self.export_names()
            );
            self.option_reply(error_reply(code, RepError::Unknown, msg));
            return None;
        };
        let e = &self.exports[idx];
        let mut items = vec![InfoItem::Export {
            size: e.size,
            flags: e.flags().0,
        }];
        if req.requests.contains(&info::NAME) {
            items.push(InfoItem::Name(e.name.clone()));
        }
        if req.requests.contains(&info::DESCRIPTION) && !e.description.is_empty() {
            items.push(InfoItem::Description(e.description.clone()));
        }
        // Sent even when not asked for: the protocol allows it, and it
        // tells every client the maximum payload we buffer.
        items.push(InfoItem::BlockSize {
            min: e.block_size.min(),
            preferred: e.block_size.preferred(),
            max: e.block_size.max(),
        });
        for item in items {
            self.option_reply(OptionReply {
                option: code,
                body: ReplyBody::Info(item),
            });
        }
        self.option_reply(OptionReply {
            option: code,
            body: ReplyBody::Ack,
        });
        Some(idx)
    }

    fn enter_transmission(&mut self, idx: usize) -> Event {
        let export = self.exports[idx].clone();
        log::debug!("NBD client selected export {:?}", export.name);
        self.phase = Phase::Transmission(export);
        Event::Ready { export: idx }
    }

    fn find_export(&self, name: &str) -> Option<usize> {
        if name.is_empty() && !self.exports.is_empty() {
            return Some(0);
        }
        self.exports.iter().position(|e| e.name == name)
    }

    fn export_names(&self) -> String {
        let names: Vec<String> = self
            .exports
            .iter()
            .map(|e| format!("{:?}", e.name))
            .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }

    fn unknown_export(&self, name: &str) -> NbdError {
        NbdError::UnknownExport {
            name: name.into(),
            available: self.export_names(),
        }
    }

    fn option_reply(&mut self, reply: OptionReply) {
        self.output.append(|b| reply.encode(b));
    }

    fn reply(&mut self, cookie: u64, error: Option<NbdErrno>) {
        self.output
            .append(|b| SimpleReply { cookie, error }.encode(b));
    }

    /// Queues the reply for a request this connection handed out.
    ///
    /// A read completed with the wrong number of bytes is answered with
    /// `NBD_EIO` (sending it would desynchronise the client) and reported
    /// as [`NbdError::ReplyLength`]; data on a non-read completion is
    /// ignored.
    pub fn complete(&mut self, c: Completion) -> Result<(), NbdError> {
        let Some(pos) = self.in_flight.iter().position(|f| f.cookie == c.cookie) else {
            return Err(NbdError::UnknownCookie { cookie: c.cookie });
        };
        let f = self.in_flight.swap_remove(pos);
        match (f.read_len, c.result) {
            (_, Err(errno)) => self.reply(c.cookie, Some(errno)),
            (Some(expected), Ok(data)) if data.len() != expected as usize => {
                self.reply(c.cookie, Some(NbdErrno::Io));
                return Err(NbdError::ReplyLength {
                    cookie: c.cookie,
                    expected,
                    got: data.len(),
                });
            }
            (Some(_), Ok(data)) => {
                self.reply(c.cookie, None);
                self.output.push_data(data);
            }
            (None, Ok(_)) => self.reply(c.cookie, None),
        }
        Ok(())
    }

    /// Refuses every further option (`NBD_REP_ERR_SHUTDOWN`) and request
    /// (`NBD_ESHUTDOWN`), as the protocol asks of a server going away;
    /// requests in flight still complete normally.
    pub fn shutdown(&mut self) {
        self.shutting_down = true;
    }

    /// The next bytes to send: a prefix of the pending output, which may
    /// be in several pieces. Send some, [`Connection::consume_output`] what
    /// was sent, and repeat until this is empty.
    pub fn output(&self) -> &[u8] {
        self.output.front()
    }

    /// Marks `n` bytes of the pending output as sent.
    pub fn consume_output(&mut self, n: usize) {
        self.output.consume(n);
    }

    /// Bytes of output pending, in all pieces.
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// All pending output as one buffer (a copy), marked as sent; for
    /// tests and callers that do not mind the copy.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.output.take_all()
    }

    /// Writes all pending output to `w`, read data straight from the
    /// buffers the completions carried (vectored writes, no copy).
    pub fn write_to<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        self.output.write_to(w)
    }

    /// Requests handed out and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The export chosen by the handshake, once in transmission.
    pub fn export(&self) -> Option<&ExportInfo> {
        match &self.phase {
            Phase::Transmission(e) => Some(e),
            _ => None,
        }
    }

    /// True once the session is over (client left or protocol error),
    /// nothing is in flight and all output is sent: close the socket.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Closed && self.in_flight.is_empty() && self.output.len() == 0
    }

    /// Bytes received of a message not yet complete (0 when the input ends
    /// at a message boundary): nonzero at EOF means the client was cut off.
    pub fn partial_input(&self) -> u64 {
        if self.phase == Phase::Closed {
            return 0;
        }
        let buffered = (self.in_end - self.in_start) as u64;
        let payload = self
            .payload
            .as_ref()
            .map_or(0, |p| (RequestHeader::LEN + p.filled) as u64);
        let skipped = self.skip.as_ref().map_or(0, |s| s.received);
        buffered + payload + skipped
    }
}

fn error_reply(option: u32, kind: RepError, message: String) -> OptionReply {
    OptionReply {
        option,
        body: ReplyBody::Error { kind, message },
    }
}

#[cfg(test)]
mod tests;
