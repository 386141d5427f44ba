//! The sans-IO FUSE session: one `/dev/fuse` request in, an [`Action`] out; block I/O
//! completions in, reply bytes out, in any order. No I/O, no clock, no thread.

use std::collections::HashMap;

use crate::abi::{self, init_flags, opcode, Attr, InHeader, InitIn, InitOut};
use crate::Error;

/// The file's node id (the root directory is [`abi::ROOT_ID`]).
pub const FILE_ID: u64 = 2;
/// The file handle returned by OPEN (the kernel echoes it; it is not used).
const FILE_FH: u64 = 1;
/// How long the kernel may cache names and attributes: they never change.
const VALID_SECS: u64 = 3600;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const DT_DIR: u32 = 4;
const DT_REG: u32 = 8;

/// Linux errno values used in replies.
pub mod errno {
    pub const ENOENT: i32 = 2;
    pub const EIO: i32 = 5;
    pub const EBADF: i32 = 9;
    pub const EACCES: i32 = 13;
    pub const EINVAL: i32 = 22;
    pub const EISDIR: i32 = 21;
    pub const ENOSPC: i32 = 28;
    pub const EPERM: i32 = 1;
    pub const ENOSYS: i32 = 38;
    pub const EPROTO: i32 = 71;
}

/// What the session exposes and how it asks the kernel to behave.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file's size in bytes (fixed for the session's life).
    pub size: u64,
    /// The file's name in the mount point (no `/`, not `.` or `..`).
    pub name: String,
    /// Largest WRITE the kernel may send (also the largest READ); 1 MiB by default.
    pub max_write: u32,
    /// Background requests (async direct I/O, readahead) the kernel keeps in flight at
    /// most; 64 by default, so the loop device's queue depth reaches the backend.
    pub max_background: u16,
    /// Background requests beyond which the kernel reports congestion; 48 (3/4) by default.
    pub congestion_threshold: u16,
    /// Owner of the file and the directory.
    pub uid: u32,
    pub gid: u32,
    /// Whether [`Session::handle`] records every block request so [`Session::complete`]
    /// can check and encode its reply. A driver that encodes replies elsewhere (from the
    /// [`Request`] it got, as [`crate::serve`] does on other threads) turns this off.
    pub track_pending: bool,
    /// Whether to accept FUSE over io_uring when the kernel offers it (it does only when
    /// the `fuse` module's `enable_uring` parameter is set).
    pub uring: bool,
}

impl Config {
    pub fn new(size: u64) -> Config {
        Config {
            size,
            name: "data".into(),
            max_write: 1 << 20,
            max_background: 64,
            congestion_threshold: 48,
            uid: 0,
            gid: 0,
            track_pending: true,
            uring: true,
        }
    }
}

/// A block request for the backend; data borrows the request buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Read `len` bytes at `offset` (already clipped to the file's end, never 0 bytes).
    Read { unique: u64, offset: u64, len: u32 },
    /// Write `data` at `offset` (inside the file).
    Write {
        unique: u64,
        offset: u64,
        data: &'a [u8],
    },
    /// FUSE_FLUSH (a `close` of the file): everything acknowledged before must be stable.
    Flush { unique: u64 },
    /// FUSE_FSYNC (an `fsync`/`fdatasync`, and a loop device's REQ_PREFLUSH).
    Fsync { unique: u64, datasync: bool },
}

impl Request<'_> {
    pub fn unique(&self) -> u64 {
        match *self {
            Request::Read { unique, .. }
            | Request::Write { unique, .. }
            | Request::Flush { unique }
            | Request::Fsync { unique, .. } => unique,
        }
    }

    pub fn op(&self) -> Op {
        match self {
            Request::Read { .. } => Op::Read,
            Request::Write { data, .. } => Op::Write(data.len() as u32),
            Request::Flush { .. } => Op::Flush,
            Request::Fsync { .. } => Op::Fsync,
        }
    }
}

/// The kind of a pending block request (what its reply carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The reply carries the data read.
    Read,
    /// The reply carries `fuse_write_out` with this many bytes.
    Write(u32),
    Flush,
    Fsync,
}

/// What to do with one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// The session answered itself: write these bytes to `/dev/fuse`.
    Reply(Vec<u8>),
    /// Nothing to send (FORGET, BATCH_FORGET, INTERRUPT).
    None,
    /// A block request: complete it, in any order, with [`Session::complete`] (or encode
    /// its reply with [`reply`]).
    Io(Request<'a>),
    /// DESTROY: write these bytes, then the session is over.
    Destroy(Vec<u8>),
}

/// How a block request ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion<'a> {
    /// Success; for a read, the data (its length may be short only at the file's end).
    Ok(&'a [u8]),
    /// Failure with this positive errno (EIO for a failed backing store).
    Err(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitInit,
    Ready,
    Destroyed,
}

/// Counters of what the session has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub reads: u64,
    pub writes: u64,
    pub flushes: u64,
    pub fsyncs: u64,
    pub interrupts: u64,
}

/// One FUSE connection's protocol state.
pub struct Session {
    cfg: Config,
    state: State,
    minor: u32,
    pending: HashMap<u64, Op>,
    stats: Stats,
    uring: bool,
}

impl Session {
    /// A session waiting for the kernel's INIT. `cfg.name` must be a plain file name;
    /// anything else is refused here rather than served wrongly.
    pub fn new(cfg: Config) -> Result<Session, Error> {
        if cfg.name.is_empty()
            || cfg.name.contains('/')
            || cfg.name.contains('\0')
            || cfg.name == "."
            || cfg.name == ".."
            || cfg.name.len() > 255
        {
            return Err(Error::Config(format!(
                "file name {:?} must be 1-255 bytes without '/' or NUL, not . or ..",
                cfg.name
            )));
        }
        if cfg.max_write < 4096 || cfg.max_write > 16 << 20 || cfg.max_write % 4096 != 0 {
            return Err(Error::Config(format!(
                "max_write {} must be a multiple of 4096 between 4 KiB and 16 MiB",
                cfg.max_write
            )));
        }
        if cfg.max_background == 0 || cfg.congestion_threshold > cfg.max_background {
            return Err(Error::Config(format!(
                "max_background {} must be >0 and >= congestion_threshold {}",
                cfg.max_background, cfg.congestion_threshold
            )));
        }
        Ok(Session {
            cfg,
            state: State::AwaitInit,
            minor: 0,
            pending: HashMap::new(),
            stats: Stats::default(),
            uring: false,
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The negotiated minor version (0 before INIT).
    pub fn minor(&self) -> u32 {
        self.minor
    }

    /// Whether INIT negotiated FUSE over io_uring: the server must now register ring
    /// entries (see the `uring` driver), and most requests come through them.
    pub fn uring(&self) -> bool {
        self.uring
    }

    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    pub fn is_destroyed(&self) -> bool {
        self.state == State::Destroyed
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Block requests handed out and not completed yet (0 when tracking is off).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The smallest buffer a `read` of `/dev/fuse` may use for this configuration.
    pub fn buffer_size(&self) -> usize {
        self.cfg.max_write as usize + abi::IN_HEADER_SIZE + abi::WRITE_IN_SIZE + 4096
    }

    fn file_attr(&self) -> Attr {
        Attr {
            ino: FILE_ID,
            size: self.cfg.size,
            blocks: self.cfg.size.div_ceil(512),
            mode: S_IFREG | 0o600,
            nlink: 1,
            uid: self.cfg.uid,
            gid: self.cfg.gid,
            blksize: 4096,
        }
    }

    fn dir_attr(&self) -> Attr {
        Attr {
            ino: abi::ROOT_ID,
            size: 0,
            blocks: 0,
            mode: S_IFDIR | 0o755,
            nlink: 2,
            uid: self.cfg.uid,
            gid: self.cfg.gid,
            blksize: 4096,
        }
    }

    /// Handles one request exactly as read from `/dev/fuse` (one `read` = one request).
    /// An error means the bytes are not a FUSE request at all (the kernel never sends
    /// that); a request the session cannot serve is answered with an errno instead.
    pub fn handle<'a>(&mut self, msg: &'a [u8]) -> Result<Action<'a>, Error> {
        let h = InHeader::decode(msg).ok_or(Error::Short(msg.len()))?;
        if h.len as usize != msg.len() {
            return Err(Error::Length {
                header: h.len,
                read: msg.len(),
            });
        }
        let body = &msg[abi::IN_HEADER_SIZE..];
        if self.state == State::Destroyed {
            return Ok(Action::Reply(reply::error(h.unique, errno::EIO)));
        }
        if h.opcode == opcode::INIT {
            return Ok(Action::Reply(self.init(h.unique, body)));
        }
        if self.state == State::AwaitInit {
            return Ok(match h.opcode {
                opcode::FORGET | opcode::BATCH_FORGET | opcode::INTERRUPT => Action::None,
                _ => Action::Reply(reply::error(h.unique, errno::EIO)),
            });
        }
        let u = h.unique;
        let err = |e| Ok(Action::Reply(reply::error(u, e)));
        match h.opcode {
            opcode::LOOKUP => {
                let name = body.split(|&c| c == 0).next().unwrap_or(&[]);
                if h.nodeid == abi::ROOT_ID && name == self.cfg.name.as_bytes() {
                    Ok(Action::Reply(reply::body(
                        u,
                        &abi::entry_out(&self.file_attr(), VALID_SECS),
                    )))
                } else if h.nodeid == abi::ROOT_ID && (name == b"." || name == b"..") {
                    Ok(Action::Reply(reply::body(
                        u,
                        &abi::entry_out(&self.dir_attr(), VALID_SECS),
                    )))
                } else {
                    err(errno::ENOENT)
                }
            }
            opcode::GETATTR | opcode::SETATTR => {
                let attr = match h.nodeid {
                    abi::ROOT_ID => self.dir_attr(),
                    FILE_ID => self.file_attr(),
                    _ => return err(errno::ENOENT),
                };
                if h.opcode == opcode::SETATTR {
                    // Only a no-op size change is accepted (O_TRUNC is refused at OPEN);
                    // modes, owners and times are fixed.
                    let valid = abi::u32_at(body, 0);
                    let size = abi::u64_at(body, 16);
                    match (valid, size) {
                        (Some(v), Some(s))
                            if body.len() >= abi::SETATTR_IN_SIZE
                                && (v & abi::FATTR_SIZE == 0 || s == attr.size) => {}
                        (Some(_), Some(_)) if body.len() >= abi::SETATTR_IN_SIZE => {
                            return err(errno::EPERM)
                        }
                        _ => return err(errno::EINVAL),
                    }
                }
                Ok(Action::Reply(reply::body(
                    u,
                    &abi::attr_out(&attr, VALID_SECS),
                )))
            }
            opcode::OPEN => match h.nodeid {
                FILE_ID => {
                    let flags = abi::u32_at(body, 0).unwrap_or(0);
                    if flags & 0o1000 != 0 {
                        // O_TRUNC: the device's size is fixed
                        return err(errno::EPERM);
                    }
                    Ok(Action::Reply(reply::body(
                        u,
                        &abi::open_out(FILE_FH, abi::FOPEN_DIRECT_IO),
                    )))
                }
                abi::ROOT_ID => err(errno::EISDIR),
                _ => err(errno::ENOENT),
            },
            opcode::OPENDIR => match h.nodeid {
                abi::ROOT_ID => Ok(Action::Reply(reply::body(u, &abi::open_out(0, 0)))),
                _ => err(errno::ENOENT),
            },
            opcode::READDIR => {
                if h.nodeid != abi::ROOT_ID {
                    return err(errno::EBADF);
                }
                let Some((offset, size)) = abi::read_in(body) else {
                    return err(errno::EINVAL);
                };
                let entries: [(u64, u32, &[u8]); 3] = [
                    (abi::ROOT_ID, DT_DIR, b"."),
                    (abi::ROOT_ID, DT_DIR, b".."),
                    (FILE_ID, DT_REG, self.cfg.name.as_bytes()),
                ];
                let mut out = Vec::new();
                for (i, (ino, kind, name)) in entries.iter().enumerate() {
                    let off = i as u64 + 1;
                    if off <= offset {
                        continue;
                    }
                    let before = out.len();
                    abi::push_dirent(&mut out, *ino, off, *kind, name);
                    if out.len() > size as usize {
                        out.truncate(before);
                        break;
                    }
                }
                Ok(Action::Reply(reply::body(u, &out)))
            }
            opcode::RELEASE | opcode::RELEASEDIR | opcode::FSYNCDIR | opcode::ACCESS => {
                Ok(Action::Reply(reply::empty(u)))
            }
            opcode::STATFS => Ok(Action::Reply(reply::body(
                u,
                &abi::statfs_out(self.cfg.size.div_ceil(4096), 4096, 1),
            ))),
            opcode::FORGET | opcode::BATCH_FORGET => Ok(Action::None),
            opcode::INTERRUPT => {
                // Block I/O is not cancelled: the request completes normally, which the
                // protocol allows; the kernel discards a reply it no longer wants.
                self.stats.interrupts += 1;
                Ok(Action::None)
            }
            opcode::DESTROY => {
                self.state = State::Destroyed;
                Ok(Action::Destroy(reply::empty(u)))
            }
            opcode::READ => {
                if h.nodeid != FILE_ID {
                    return err(errno::EBADF);
                }
                let Some((offset, len)) = abi::read_in(body) else {
                    return err(errno::EINVAL);
                };
                if offset >= self.cfg.size || len == 0 {
                    return Ok(Action::Reply(reply::empty(u)));
                }
                let len = (len.min(self.cfg.max_write) as u64).min(self.cfg.size - offset) as u32;
                self.stats.reads += 1;
                self.io(Request::Read {
                    unique: u,
                    offset,
                    len,
                })
            }
            opcode::WRITE => {
                if h.nodeid != FILE_ID {
                    return err(errno::EBADF);
                }
                let Some((offset, size, _flags)) = abi::write_in(body) else {
                    return err(errno::EINVAL);
                };
                let Some(data) = body.get(abi::WRITE_IN_SIZE..) else {
                    return err(errno::EINVAL);
                };
                if data.len() != size as usize || size > self.cfg.max_write {
                    return err(errno::EINVAL);
                }
                match offset.checked_add(size as u64) {
                    Some(end) if end <= self.cfg.size => {}
                    _ => return err(errno::ENOSPC),
                }
                if size == 0 {
                    return Ok(Action::Reply(reply::write(u, 0)));
                }
                self.stats.writes += 1;
                self.io(Request::Write {
                    unique: u,
                    offset,
                    data,
                })
            }
            opcode::FLUSH => {
                if body.len() < abi::FLUSH_IN_SIZE {
                    return err(errno::EINVAL);
                }
                self.stats.flushes += 1;
                self.io(Request::Flush { unique: u })
            }
            opcode::FSYNC => {
                let Some(flags) = abi::u32_at(body, 8) else {
                    return err(errno::EINVAL);
                };
                self.stats.fsyncs += 1;
                self.io(Request::Fsync {
                    unique: u,
                    datasync: flags & abi::FSYNC_FDATASYNC != 0,
                })
            }
            // ENOSYS is remembered by the kernel for xattrs, fallocate, lseek... so each
            // is asked once.
            _ => err(errno::ENOSYS),
        }
    }

    fn io<'a>(&mut self, req: Request<'a>) -> Result<Action<'a>, Error> {
        if self.cfg.track_pending && self.pending.insert(req.unique(), req.op()).is_some() {
            return Err(Error::DuplicateUnique(req.unique()));
        }
        Ok(Action::Io(req))
    }

    fn init(&mut self, unique: u64, body: &[u8]) -> Vec<u8> {
        let Some(init) = InitIn::decode(body) else {
            return reply::error(unique, errno::EINVAL);
        };
        if init.major > abi::KERNEL_VERSION {
            // The kernel retries INIT with our major version.
            let out = InitOut {
                major: abi::KERNEL_VERSION,
                minor: abi::KERNEL_MINOR_VERSION,
                ..InitOut::default()
            };
            return reply::body(unique, &out.encode());
        }
        if init.major < abi::KERNEL_VERSION || init.minor < abi::MIN_KERNEL_MINOR {
            log::error!(
                "FUSE protocol {}.{} is too old: shimai needs 7.{} or later (Linux 5.2+)",
                init.major,
                init.minor,
                abi::MIN_KERNEL_MINOR
            );
            return reply::error(unique, errno::EPROTO);
        }
        self.minor = init.minor.min(abi::KERNEL_MINOR_VERSION);
        // Asked: parallel direct I/O (ASYNC_DIO, ASYNC_READ), big writes with max_pages.
        // Not asked: WRITEBACK_CACHE (the loop device above and FOPEN_DIRECT_IO mean no
        // page cache here at all).
        let want = init_flags::ASYNC_READ
            | init_flags::BIG_WRITES
            | init_flags::ASYNC_DIO
            | init_flags::PARALLEL_DIROPS
            | init_flags::MAX_PAGES;
        let mut flags = init.flags & want;
        let mut flags2 = 0;
        if self.cfg.uring
            && init.flags & init_flags::INIT_EXT != 0
            && init.flags2 & init_flags::OVER_IO_URING_FLAGS2 != 0
        {
            flags |= init_flags::INIT_EXT;
            flags2 |= init_flags::OVER_IO_URING_FLAGS2;
            self.uring = true;
        }
        let out = InitOut {
            major: abi::KERNEL_VERSION,
            minor: self.minor,
            max_readahead: init.max_readahead,
            flags,
            max_background: self.cfg.max_background,
            congestion_threshold: self.cfg.congestion_threshold,
            max_write: self.cfg.max_write,
            time_gran: 1,
            max_pages: (self.cfg.max_write / 4096) as u16,
            map_alignment: 0,
            flags2,
        };
        self.state = State::Ready;
        reply::body(unique, &out.encode())
    }

    /// Forgets a pending request and says what its reply must carry.
    pub fn finish(&mut self, unique: u64) -> Result<Op, Error> {
        self.pending
            .remove(&unique)
            .ok_or(Error::UnknownUnique(unique))
    }

    /// Completes a pending block request: the bytes to write to `/dev/fuse`.
    pub fn complete(&mut self, unique: u64, result: Completion<'_>) -> Result<Vec<u8>, Error> {
        let op = self.finish(unique)?;
        Ok(match (op, result) {
            (_, Completion::Err(e)) => reply::error(unique, e),
            (Op::Read, Completion::Ok(data)) => reply::body(unique, data),
            (Op::Write(n), Completion::Ok(_)) => reply::write(unique, n),
            (Op::Flush | Op::Fsync, Completion::Ok(_)) => reply::empty(unique),
        })
    }
}

/// Reply encoders: what a driver writes to `/dev/fuse` (each `Vec` in one `write`).
pub mod reply {
    use crate::abi;

    /// A header for a successful reply whose body of `body_len` bytes follows (for a
    /// read reply written with `writev` from the backend's buffer).
    pub fn header(unique: u64, body_len: usize) -> [u8; abi::OUT_HEADER_SIZE] {
        abi::out_header(unique, 0, body_len)
    }

    /// A successful reply with `body`.
    pub fn body(unique: u64, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(abi::OUT_HEADER_SIZE + body.len());
        v.extend_from_slice(&header(unique, body.len()));
        v.extend_from_slice(body);
        v
    }

    /// A successful reply without body (RELEASE, FLUSH, FSYNC...).
    pub fn empty(unique: u64) -> Vec<u8> {
        header(unique, 0).to_vec()
    }

    /// A WRITE's reply: `size` bytes written.
    pub fn write(unique: u64, size: u32) -> Vec<u8> {
        body(unique, &abi::write_out(size))
    }

    /// A failure with the positive `errno`.
    pub fn error(unique: u64, errno: i32) -> Vec<u8> {
        abi::out_header(unique, -errno.abs().max(1), 0).to_vec()
    }
}
