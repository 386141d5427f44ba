//! A blocking server loop over [`Connection`], for programs that are happy
//! to serve each connection on its own thread with synchronous storage.
//!
//! The loop is deliberately thin: read what the client sent, execute every
//! complete request in order, send the replies in batches, repeat. Because
//! requests run one after another in arrival order, a flush always follows
//! the completion of every write received before it, which is what the
//! protocol requires. A program that wants requests to complete
//! asynchronously (the replicating daemon) drives [`Connection`] itself.

use std::io::{self, Read, Write};

use crate::connection::Connection;
use crate::error::{NbdErrno, NbdError};
use crate::event::{Command, Completion, Event, Request};
use crate::export::{BlockSize, ExportInfo};

/// Storage behind an export. Offsets and lengths are already checked
/// against [`Backend::size`] and the block size constraints.
pub trait Backend {
    /// Size in bytes (read once per connection, at the handshake).
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`.
    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes `data` at `offset`; with `fua`, returns once it is durable.
    fn write(&self, offset: u64, data: &[u8], fua: bool) -> io::Result<()>;
    /// Makes every completed write durable.
    fn flush(&self) -> io::Result<()>;
    /// Discards a range (a hint: doing nothing is correct).
    fn trim(&self, offset: u64, length: u32, fua: bool) -> io::Result<()>;
    /// Makes a range read back as zeroes; with `no_hole`, keeps it allocated.
    fn write_zeroes(&self, offset: u64, length: u32, no_hole: bool, fua: bool) -> io::Result<()>;
    /// Prefetches a range (a hint: doing nothing is correct).
    fn cache(&self, _offset: u64, _length: u32) -> io::Result<()> {
        Ok(())
    }
}

impl<B: Backend + ?Sized> Backend for &B {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read(offset, buf)
    }
    fn write(&self, offset: u64, data: &[u8], fua: bool) -> io::Result<()> {
        (**self).write(offset, data, fua)
    }
    fn flush(&self) -> io::Result<()> {
        (**self).flush()
    }
    fn trim(&self, offset: u64, length: u32, fua: bool) -> io::Result<()> {
        (**self).trim(offset, length, fua)
    }
    fn write_zeroes(&self, offset: u64, length: u32, no_hole: bool, fua: bool) -> io::Result<()> {
        (**self).write_zeroes(offset, length, no_hole, fua)
    }
    fn cache(&self, offset: u64, length: u32) -> io::Result<()> {
        (**self).cache(offset, length)
    }
}

/// An export: how it is presented, and the storage behind it.
#[derive(Debug, Clone)]
pub struct Export<B> {
    /// Name clients select (`nbd+unix:///NAME?socket=...`).
    pub name: String,
    /// Shown by `nbdinfo --list`.
    pub description: String,
    /// Refuse writes with `NBD_EPERM` and advertise `READ_ONLY`.
    pub read_only: bool,
    /// Advertise `CAN_MULTI_CONN` (see [`ExportInfo::multi_conn`]).
    pub multi_conn: bool,
    /// Block size constraints.
    pub block_size: BlockSize,
    /// The storage.
    pub backend: B,
}

impl<B: Backend> Export<B> {
    /// A writable, multi-connection export with default block sizes.
    pub fn new(name: impl Into<String>, backend: B) -> Export<B> {
        Export {
            name: name.into(),
            description: String::new(),
            read_only: false,
            multi_conn: true,
            block_size: BlockSize::default(),
            backend,
        }
    }

    /// What the handshake tells clients, with the backend's current size.
    pub fn info(&self) -> ExportInfo {
        ExportInfo {
            name: self.name.clone(),
            description: self.description.clone(),
            size: self.backend.size(),
            read_only: self.read_only,
            multi_conn: self.multi_conn,
            block_size: self.block_size,
        }
    }
}

/// Runs `request` on `backend` and returns the completion to send.
pub fn execute<B: Backend + ?Sized>(backend: &B, request: Request) -> Completion {
    let cookie = request.cookie;
    let result = match request.command {
        Command::Read { offset, length } => {
            let mut buf = vec![0; length as usize];
            backend.read(offset, &mut buf).map(|()| buf)
        }
        Command::Write { offset, data, fua } => backend.write(offset, &data, fua).map(|()| vec![]),
        Command::Flush => backend.flush().map(|()| vec![]),
        Command::Trim {
            offset,
            length,
            fua,
        } => backend.trim(offset, length, fua).map(|()| vec![]),
        Command::WriteZeroes {
            offset,
            length,
            no_hole,
            fua,
        } => backend
            .write_zeroes(offset, length, no_hole, fua)
            .map(|()| vec![]),
        Command::Cache { offset, length } => backend.cache(offset, length).map(|()| vec![]),
    };
    match result {
        Ok(data) => Completion::data(cookie, data),
        Err(e) => {
            log::warn!("NBD backend failed request {cookie:#x}: {e}");
            Completion::error(cookie, NbdErrno::from_io(&e))
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    /// The export used, if the handshake got that far.
    pub export: Option<String>,
    /// Requests executed.
    pub requests: u64,
    /// False when the client closed the socket without `NBD_CMD_DISC` or
    /// `NBD_OPT_ABORT` (legal for a client that detected an error, and what
    /// a killed client does).
    pub clean: bool,
}

/// Replies are sent once this much is queued even if more requests are
/// ready, so a long pipeline of reads does not pile up in memory.
const OUTPUT_HIGH_WATER: usize = 4 << 20;

/// Serves one client on `stream` until it disconnects.
///
/// Returns `Err` when the client broke the protocol (the error says how) or
/// the stream failed; the caller logs it with the peer's identity and drops
/// the stream.
pub fn serve_connection<S: Read + Write, B: Backend>(
    mut stream: S,
    exports: &[Export<B>],
) -> Result<SessionEnd, NbdError> {
    let infos: Vec<ExportInfo> = exports.iter().map(Export::info).collect();
    for info in &infos {
        info.validate()?;
    }
    let mut conn = Connection::new(infos);
    let mut backend: Option<&B> = None;
    let mut end = SessionEnd {
        export: None,
        requests: 0,
        clean: false,
    };
    let send = |conn: &mut Connection, stream: &mut S| {
        conn.write_to(stream)
            .and_then(|()| stream.flush())
            .map_err(|source| NbdError::Io {
                context: "sending replies",
                source,
            })
    };
    loop {
        loop {
            let event = match conn.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(e) => {
                    // Best effort: the client may still read what we owed it.
                    let _ = send(&mut conn, &mut stream);
                    return Err(e);
                }
            };
            match event {
                Event::Ready { export } => {
                    let chosen = exports.get(export);
                    backend = chosen.map(|e| &e.backend);
                    end.export = chosen.map(|e| e.name.clone());
                }
                Event::Request(request) => {
                    let completion = match backend {
                        Some(b) => execute(b, request),
                        None => Completion::error(request.cookie, NbdErrno::Io),
                    };
                    end.requests += 1;
                    conn.complete(completion)?;
                    if conn.output_len() >= OUTPUT_HIGH_WATER {
                        send(&mut conn, &mut stream)?;
                    }
                }
                Event::Disconnect => end.clean = true,
            }
        }
        match send(&mut conn, &mut stream) {
            // A client that said goodbye may close without reading the last
            // replies (the protocol tells servers to allow that after an abort).
            Err(NbdError::Io { source, .. }) if end.clean && is_hangup(&source) => return Ok(end),
            r => r?,
        }
        if conn.is_finished() {
            return Ok(end);
        }
        let n = match conn.read_from(&mut stream) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_hangup(&e) => 0,
            Err(source) => {
                return Err(NbdError::Io {
                    context: "receiving requests",
                    source,
                })
            }
        };
        if n == 0 {
            let buffered = conn.partial_input();
            if buffered > 0 {
                return Err(NbdError::UnexpectedEof { buffered });
            }
            return Ok(end);
        }
    }
}

fn is_hangup(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests;
