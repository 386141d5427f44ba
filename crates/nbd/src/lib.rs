//! The NBD protocol, server side: a pure codec, a sans-IO connection state
//! machine, and a small blocking server over it.
//!
//! # Why NBD
//!
//! shimai replicates a block device without a kernel module, so the
//! Primary needs some way to hand the volume to the kernel and to tools.
//! The Network Block Device protocol is that way: the kernel's `nbd` driver
//! turns an NBD export into `/dev/nbdN`, `nbdfuse` turns it into a file
//! for a loop device where there is no driver, and `qemu-img`, `nbdcopy`,
//! `nbdinfo` and fio's `nbd` engine speak it directly. shimaid exports each
//! resource on a Unix socket (`RES.nbd`, export name = resource name), and
//! every write a client sends arrives as a request shimaid can replicate
//! before it replies.
//!
//! # The protocol in two phases
//!
//! **Handshake** (fixed newstyle). The server greets with `NBDMAGIC`,
//! `IHAVEOPT` and its handshake flags; the client answers with its flags,
//! then sends options, each answered with one or more option replies:
//! `NBD_OPT_LIST` lists exports, `NBD_OPT_INFO` describes one (size,
//! transmission flags, block sizes), `NBD_OPT_GO` describes one and starts
//! transmission, `NBD_OPT_EXPORT_NAME` is the old way to start, and
//! `NBD_OPT_ABORT` ends the session. Anything else is refused with
//! `NBD_REP_ERR_UNSUP`, including structured replies and metadata contexts:
//! this server sends simple replies only. See [`handshake`].
//!
//! **Transmission.** The client sends requests (read, write, flush, trim,
//! write-zeroes, cache, disconnect), each with a cookie; the server answers
//! each with a simple reply carrying the cookie, an error value and, for a
//! successful read, the data. Clients pipeline many requests; replies may
//! come back in any order. See [`transmission`].
//!
//! # Layers
//!
//! - [`handshake`] and [`transmission`]: one type per message, with
//!   `encode` and a total `decode(&[u8]) -> Result<Option<(msg, used)>, _>`
//!   (`None` = need more bytes; an unknown option or command is a value,
//!   only a bad magic number is an error). No I/O.
//! - [`Connection`]: the state of one connection. Bytes in, [`Event`]s out,
//!   [`Completion`]s in, reply bytes out. It answers the handshake and
//!   refuses invalid requests itself; it never blocks, spawns or reads a
//!   clock, so the daemon can complete requests whenever replication says
//!   it may.
//! - [`serve_connection`]: the blocking loop for a thread per connection
//!   over a [`Backend`]; [`FileBackend`] serves a file.
//!
//! # Example: the loop a server runs
//!
//! A client's bytes go in, requests come out, completions go back in, and
//! the reply bytes are what the client reads. Here the client's side is
//! built with the same codec.
//!
//! ```
//! use shimai_nbd::handshake::{ClientFlags, ClientOption, InfoRequest};
//! use shimai_nbd::transmission::{CommandKind, RequestHeader, SimpleReply};
//! use shimai_nbd::{Command, Completion, Connection, Event, ExportInfo};
//!
//! let mut conn = Connection::new(vec![ExportInfo::new("r0", 1 << 20)]);
//! // The greeting is queued before the client says anything.
//! assert_eq!(&conn.output()[..8], b"NBDMAGIC");
//! conn.consume_output(conn.output().len()); // sent
//!
//! // Client: flags, NBD_OPT_GO "r0", then a 512-byte write and a read.
//! let mut wire = Vec::new();
//! ClientFlags(3).encode(&mut wire);
//! ClientOption::Go(InfoRequest { name: "r0".into(), requests: vec![] }).encode(&mut wire);
//! let write = RequestHeader { flags: 0, kind: CommandKind::Write, cookie: 1, offset: 0, length: 512 };
//! write.encode(&mut wire);
//! wire.extend_from_slice(&[0x5a; 512]);
//! RequestHeader { kind: CommandKind::Read, cookie: 2, ..write }.encode(&mut wire);
//! conn.receive(&wire);
//!
//! let mut disk = vec![0u8; 1 << 20];
//! while let Some(event) = conn.next_event().unwrap() {
//!     match event {
//!         Event::Ready { export } => assert_eq!(export, 0),
//!         Event::Request(req) => {
//!             // A replicating server would send the write to its peer
//!             // here and complete it later; this one completes at once.
//!             let done = match req.command {
//!                 Command::Write { offset, data, .. } => {
//!                     disk[offset as usize..][..data.len()].copy_from_slice(&data);
//!                     Completion::ok(req.cookie)
//!                 }
//!                 Command::Read { offset, length } => Completion::data(
//!                     req.cookie,
//!                     disk[offset as usize..][..length as usize].to_vec(),
//!                 ),
//!                 _ => Completion::ok(req.cookie),
//!             };
//!             conn.complete(done).unwrap();
//!         }
//!         Event::Disconnect => break,
//!     }
//! }
//!
//! // The output now holds the option replies, then the two simple replies.
//! let out = conn.take_output();
//! let read_reply = &out[out.len() - 512 - SimpleReply::LEN..];
//! let (reply, used) = SimpleReply::decode(read_reply).unwrap().unwrap();
//! assert_eq!((reply.cookie, reply.error), (2, None));
//! assert!(read_reply[used..].iter().all(|&b| b == 0x5a));
//! ```
//!
//! The example binary `examples/nbd-file-server.rs` serves a file on a Unix
//! socket with [`serve_connection`], one thread per client.

#![forbid(unsafe_code)]

mod connection;
mod error;
mod event;
mod export;
mod file_backend;
mod fuzz;
pub mod handshake;
mod output;
mod server;
pub mod transmission;
pub mod wire;

pub use connection::{Connection, MAX_OPTION_DATA};
pub use error::{NbdErrno, NbdError};
pub use event::{Command, Completion, Event, Request};
pub use export::{BlockSize, ExportInfo, TransmissionFlags};
pub use file_backend::FileBackend;
pub use fuzz::fuzz_decode;
pub use server::{execute, serve_connection, Backend, Export, SessionEnd};
