//! A FUSE server that exposes one regular file, for a loop device with direct I/O to
//! turn into the Primary's block device: the file's reads, writes and fsyncs are the
//! block device's, and they reach the daemon with no other process or socket between.
//!
//! # Layers
//!
//! - [`abi`]: the kernel's `/dev/fuse` message layouts (`include/uapi/linux/fuse.h`,
//!   protocol 7.31+), encoded and decoded by byte offset. No I/O, no `unsafe`.
//! - [`Session`]: sans-IO. The bytes of one request read from `/dev/fuse` go in; out
//!   comes an [`Action`]: a reply the session made itself (INIT, LOOKUP, GETATTR,
//!   SETATTR, OPEN, OPENDIR, READDIR, RELEASE, STATFS, ACCESS, DESTROY; nothing for
//!   FORGET and INTERRUPT; ENOSYS for the rest) or a block [`Request`] (`Read`, `Write`,
//!   `Flush`, `Fsync`) borrowing the request buffer. Completions go back in, in any
//!   order, through [`Session::complete`] (or [`session::reply`] for a driver that
//!   encodes replies itself), and reply bytes come out.
//! - [`Mount`], [`serve`], [`Backend`], [`Completer`]: the blocking driver. `serve`
//!   mounts with the mount(2) syscall (`fd=N`, root, no fusermount), reads `/dev/fuse`
//!   on the calling thread and hands each block request to the backend with a
//!   `Completer` that writes the reply itself from any thread, so many requests are in
//!   flight at once.
//! - [`abort`] and [`connection_of`]: find a mount's connection number (the minor of its
//!   `st_dev`, read from `/proc/self/mountinfo`) and abort it through fusectl;
//!   [`detach_stale`] aborts and lazily unmounts what a dead server left.
//!
//! # Example: the loop a server runs
//!
//! The kernel's requests go in, actions come out, completions go back in. Here the
//! kernel's side is built with the same codec.
//!
//! ```
//! use shimai_fuse::abi::{opcode, InHeader, InitIn, InitOut, IN_HEADER_SIZE};
//! use shimai_fuse::session::FILE_ID;
//! use shimai_fuse::{Action, Completion, Config, Request, Session};
//!
//! fn request(op: u32, unique: u64, nodeid: u64, body: &[u8]) -> Vec<u8> {
//!     let len = (IN_HEADER_SIZE + body.len()) as u32;
//!     let h = InHeader { len, opcode: op, unique, nodeid, uid: 0, gid: 0, pid: 1 };
//!     [&h.encode()[..], body].concat()
//! }
//!
//! let mut session = Session::new(Config::new(1 << 20)).unwrap();
//! // INIT is answered by the session itself.
//! let init = InitIn { major: 7, minor: 44, max_readahead: 0, flags: u32::MAX, flags2: 0 };
//! let Action::Reply(reply) = session.handle(&request(opcode::INIT, 1, 0, &init.encode())).unwrap()
//! else { panic!() };
//! assert_eq!(InitOut::decode(&reply[16..]).unwrap().max_write, 1 << 20);
//!
//! // A 512-byte write at 4096 (fuse_write_in, then the data) is a block request...
//! let mut body = vec![0u8; 40];
//! body[8..16].copy_from_slice(&4096u64.to_ne_bytes());
//! body[16..20].copy_from_slice(&512u32.to_ne_bytes());
//! body.extend_from_slice(&[0x5a; 512]);
//! let msg = request(opcode::WRITE, 2, FILE_ID, &body);
//! let Action::Io(Request::Write { unique, offset, data }) = session.handle(&msg).unwrap()
//! else { panic!() };
//! assert_eq!((offset, data.len()), (4096, 512));
//!
//! // ...which a replicating server completes once both copies are written, in any order.
//! let reply = session.complete(unique, Completion::Ok(&[])).unwrap();
//! assert_eq!(reply.len(), 16 + 8); // fuse_out_header + fuse_write_out
//! assert_eq!(session.pending(), 0);
//! ```
//!
//! # What the kernel is asked for
//!
//! INIT replies with `max_write` 1 MiB (`max_pages` 256), `FUSE_ASYNC_DIO` and
//! `FUSE_ASYNC_READ` so a loop device's direct I/O arrives as parallel requests,
//! `max_background` 64 and `congestion_threshold` 48 (the kernel's defaults, 12 and 9,
//! would cap the loop device's queue depth at 12), and no `FUSE_WRITEBACK_CACHE`. OPEN
//! replies `FOPEN_DIRECT_IO`: the page cache is not used for the file, so there is one
//! cached copy (the file system's above the loop device) and an `fsync` there becomes a
//! FUSE_FSYNC here. The file's size is fixed (O_TRUNC and size changes are refused).
//!
//! # When the server dies
//!
//! When the last `/dev/fuse` descriptor closes (the process exits, even by SIGKILL),
//! the kernel aborts the connection: pending and new requests fail, a loop device above
//! the file turns them into EIO, the file system above that sees I/O errors (ext4 aborts
//! its journal; writers get EIO) and `sync` returns instead of waiting. The mounts
//! stay until unmounted (`umount -l` on the file system, `losetup -d`, `umount -l` on
//! the FUSE mount point). A server that is alive but stuck is cut off the same way by
//! [`abort`]. The descriptor is opened close-on-exec so that no child keeps the
//! connection alive.
//!
//! # Wiring it into a daemon
//!
//! [`Mount::new`] mounts; [`Mount::run`] on a thread of its own serves until unmount,
//! handing each [`BlockRequest`] with its [`Completer`] to [`Backend::submit`], which
//! should only queue it (e.g. send it to the engine's loop); the engine calls
//! [`Completer::read`] or [`Completer::done`] when replication allows, from any thread.
//! A daemon that polls `/dev/fuse` itself ([`Mount::device`], made non-blocking) uses
//! [`Session`] directly instead: `handle` borrows the read buffer, so write data can go
//! from a pooled buffer to the backing stores with no copy. Once the file shows its size
//! (a `stat` waits for INIT), `losetup --direct-io=on` makes the block device. On stop:
//! unmount the file system, `losetup -d`, then [`Mount::unmount`]; on start, clean a dead
//! predecessor's mount with [`detach_stale`] after detaching its loop device.
//!
//! # FUSE over io_uring
//!
//! When the kernel offers it (Linux 6.14+ with the `fuse` module's `enable_uring`
//! parameter set by the administrator; shimai never sets it) and [`Config::uring`] is
//! on, INIT accepts `FUSE_OVER_IO_URING` and [`Mount::run`] serves the ring on a second
//! thread ([`uring`]): requests arrive as completions of `IORING_OP_URING_CMD` commands
//! on `/dev/fuse` and replies go back with `COMMIT_AND_FETCH`, with no `read`/`write`
//! system call per request. Otherwise the classic path is used. If the ring thread
//! fails, the connection is aborted so that nothing waits on a ring nobody serves.

pub mod abi;
mod fuzz;
mod server;
pub mod session;
pub mod uring;

pub use fuzz::fuzz_decode;
pub use server::{
    abort, connection_in, connection_of, detach_stale, serve, Backend, BlockRequest, Completer,
    Ended, Mount, FUSECTL,
};
pub use session::{Action, Completion, Config, Op, Request, Session, Stats};

/// What can go wrong; each says where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("FUSE request of {0} bytes is shorter than its 40-byte header")]
    Short(usize),
    #[error("FUSE request header says {header} bytes but {read} were read")]
    Length { header: u32, read: usize },
    #[error("FUSE request {0} is already in flight (the kernel reused a unique id)")]
    DuplicateUnique(u64),
    #[error("no FUSE request {0} is in flight (completed twice, or never handed out)")]
    UnknownUnique(u64),
    #[error("FUSE session configuration: {0}")]
    Config(String),
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}

impl Error {
    /// The errno to report outside (a process exit status or a reply): the system
    /// call's own for [`Error::Io`], EPROTO for protocol violations, EINVAL for a bad
    /// configuration.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Io(_, e) => e.raw_os_error().unwrap_or(session::errno::EIO),
            Error::Config(_) => session::errno::EINVAL,
            _ => session::errno::EPROTO,
        }
    }
}
