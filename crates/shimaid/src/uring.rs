//! The io_uring backend: the engine thread submits the data area's reads, writes, flushes and
//! trims to one ring (single issuer, task work deferred to its own waits where the kernel has
//! them) and waits on the same ring for their completions and for its wake-up pipe, so a
//! client write costs no hand-off to a disk thread.
//!
//! Buffers: a write's payload is copied once into an aligned buffer of its slot (the one copy
//! `O_DIRECT` needs; without `O_DIRECT` the payload itself is written); a read lands in an
//! aligned buffer and is handed to the core as a `Vec`. A slot lives until its completion, so
//! the kernel never sees a buffer that moved or was freed. A short transfer is resubmitted for
//! the rest; a request the device refuses as misaligned (`EINVAL`) is done through the page
//! cache instead, as the thread backend does.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use io_uring::{opcode, squeue, types, IoUring};
use nix::fcntl::FallocateFlags;
use shimai_replication::{DiskResult, IoId};

use crate::disk::{DataFile, Done, Job};

/// `user_data` of the wake-up pipe's poll; disk slots use their index.
const WAKE: u64 = u64::MAX;
/// `user_data` of the stop timeout.
const TIMEOUT: u64 = u64::MAX - 1;
const ALIGN: usize = 4096;
/// Ring size: enough for the core's requests in flight (max-buffers bounds them further).
const ENTRIES: u32 = 256;

/// What one disk operation holds while the kernel works on it.
struct Slot {
    io: IoId,
    kind: SlotKind,
    /// The aligned buffer (or the payload itself without `O_DIRECT`), kept until completion.
    buf: Vec<u8>,
    /// Where the transfer starts in `buf`, its length, and how much is done.
    at: usize,
    len: usize,
    done: usize,
    offset: u64,
    /// Write with `RWF_DSYNC` (FUA with disk-flushes).
    dsync: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SlotKind {
    Write,
    Read,
    Flush,
    Trim,
}

impl SlotKind {
    fn name(self) -> &'static str {
        match self {
            SlotKind::Write => "write",
            SlotKind::Read => "read",
            SlotKind::Flush => "flush",
            SlotKind::Trim => "trim",
        }
    }
}

/// The ring and its slots, owned by the engine thread.
pub struct Uring {
    ring: IoUring,
    file: DataFile,
    /// The descriptor operations go to (the `O_DIRECT` one when there is one).
    fd: RawFd,
    direct: bool,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    wake: OwnedFd,
    wake_armed: bool,
    timeout_armed: bool,
    /// The timeout of the current wait (boxed: the kernel reads it until it fires).
    timeout: Box<types::Timespec>,
    /// Ops pushed but not yet submitted.
    pending: usize,
}

/// What a wait returned.
pub struct Woken {
    pub done: Vec<Done>,
    /// The wake-up pipe fired: inputs are waiting in the channel.
    pub inputs: bool,
    /// The wait timed out.
    pub timed_out: bool,
}

impl Uring {
    /// A ring for `file`, waking on `wake` (the read end of the engine's wake-up pipe).
    pub fn new(file: DataFile, wake: OwnedFd) -> std::io::Result<Uring> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(ENTRIES)
            .or_else(|_| IoUring::builder().setup_single_issuer().build(ENTRIES))
            .or_else(|_| IoUring::new(ENTRIES))?;
        let (fd, direct) = match &file.direct {
            Some(d) => (d.0.as_raw_fd(), true),
            None => (file.buffered.0.as_raw_fd(), false),
        };
        Ok(Uring {
            ring,
            file,
            fd,
            direct,
            slots: Vec::new(),
            free: Vec::new(),
            wake,
            wake_armed: false,
            timeout_armed: false,
            timeout: Box::new(types::Timespec::new()),
            pending: 0,
        })
    }

    /// Queues a disk operation; it is submitted with the next [`Uring::wait`]. An operation
    /// done at once (the page-cache fallbacks) is returned.
    pub fn submit(&mut self, job: Job) -> Option<Done> {
        let slot = match job {
            Job::Write {
                io,
                offset,
                data,
                fua,
            } => {
                let dsync = fua && self.file.flushes;
                let len = data.len();
                if self.direct && aligned(offset, len) {
                    let (buf, at) = aligned_copy(&data);
                    Slot::new(io, SlotKind::Write, buf, at, len, offset, dsync)
                } else if self.direct {
                    // Misaligned for O_DIRECT: the page cache, now.
                    return Some(self.fallback(Job::Write {
                        io,
                        offset,
                        data,
                        fua,
                    }));
                } else {
                    Slot::new(io, SlotKind::Write, data, 0, len, offset, dsync)
                }
            }
            Job::Read { io, offset, len } => {
                let len = len as usize;
                if self.direct && !aligned(offset, len) {
                    return Some(self.fallback(Job::Read {
                        io,
                        offset,
                        len: len as u64,
                    }));
                }
                let buf = vec![0u8; len + ALIGN];
                let at = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
                Slot::new(io, SlotKind::Read, buf, at, len, offset, false)
            }
            Job::Flush { io } => {
                if !self.file.flushes && self.direct {
                    // disk-flushes no: O_DIRECT writes are on the device already.
                    return Some(Done {
                        io,
                        result: DiskResult::Done,
                    });
                }
                if !self.file.flushes {
                    return Some(self.fallback(Job::Flush { io }));
                }
                Slot::new(io, SlotKind::Flush, Vec::new(), 0, 0, 0, false)
            }
            Job::Trim { io, offset, len } => Slot::new(
                io,
                SlotKind::Trim,
                Vec::new(),
                0,
                len as usize,
                offset,
                false,
            ),
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.push(index);
        None
    }

    /// Pushes the (remaining) operation of slot `index`.
    fn push(&mut self, index: usize) {
        let Some(s) = self.slots[index].as_mut() else {
            return;
        };
        let fd = types::Fd(self.fd);
        let left = (s.len - s.done) as u32;
        let entry = match s.kind {
            SlotKind::Write => {
                // SAFETY (for the pointer): the buffer stays in the slot, unmoved, until the
                // completion of this entry is reaped.
                let ptr = s.buf[s.at + s.done..].as_ptr();
                opcode::Write::new(fd, ptr, left)
                    .offset(s.offset + s.done as u64)
                    .rw_flags(if s.dsync { libc::RWF_DSYNC } else { 0 })
                    .build()
            }
            SlotKind::Read => {
                let ptr = s.buf[s.at + s.done..].as_mut_ptr();
                opcode::Read::new(fd, ptr, left)
                    .offset(s.offset + s.done as u64)
                    .build()
            }
            SlotKind::Flush => opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build(),
            SlotKind::Trim => opcode::Fallocate::new(fd, s.len as u64)
                .offset(s.offset)
                .mode(
                    (FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE)
                        .bits(),
                )
                .build(),
        };
        self.push_entry(entry.user_data(index as u64));
    }

    fn push_entry(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every pointer in `entry` refers to memory owned by a slot (or by `self`
            // for the timeout) that lives until the entry's completion is reaped.
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                self.pending += 1;
                return;
            }
            // The submission queue is full: hand it to the kernel and try again.
            let _ = self.ring.submit();
            self.pending = 0;
        }
    }

    /// Submits what is queued and waits for at least one completion: a disk operation, the
    /// wake-up pipe (inputs from other threads), or the end of `timeout`.
    pub fn wait(&mut self, timeout: Option<std::time::Duration>) -> std::io::Result<Woken> {
        if !self.wake_armed {
            let poll = opcode::PollAdd::new(types::Fd(self.wake.as_raw_fd()), libc::POLLIN as u32)
                .build()
                .user_data(WAKE);
            self.push_entry(poll);
            self.wake_armed = true;
        }
        if let Some(d) = timeout {
            if !self.timeout_armed {
                *self.timeout = types::Timespec::from(d);
                let t = opcode::Timeout::new(&*self.timeout as *const types::Timespec)
                    .build()
                    .user_data(TIMEOUT);
                self.push_entry(t);
                self.timeout_armed = true;
            }
        }
        match self.ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
        self.pending = 0;
        let mut woken = Woken {
            done: Vec::new(),
            inputs: false,
            timed_out: false,
        };
        let cqes: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (user_data, result) in cqes {
            match user_data {
                WAKE => {
                    self.wake_armed = false;
                    woken.inputs = true;
                    let mut sink = [0u8; 256];
                    while matches!(nix::unistd::read(self.wake.as_raw_fd(), &mut sink), Ok(n) if n > 0)
                    {
                    }
                }
                TIMEOUT => {
                    self.timeout_armed = false;
                    woken.timed_out = result == -libc::ETIME;
                }
                i => {
                    if let Some(d) = self.complete(i as usize, result) {
                        woken.done.push(d);
                    }
                }
            }
        }
        Ok(woken)
    }

    /// Slot `index` completed with `result`; its `Done`, or `None` when the rest of a short
    /// transfer was resubmitted.
    fn complete(&mut self, index: usize, result: i32) -> Option<Done> {
        let s = self.slots.get_mut(index)?.as_mut()?;
        let (io, kind) = (s.io, s.kind);
        if result == -libc::EAGAIN || result == -libc::EINTR {
            // The device was busy (a direct write may be refused rather than queued) or the
            // operation was interrupted: nothing happened, submit it again.
            self.push(index);
            return None;
        }
        let outcome = if result < 0 {
            Err(-result)
        } else if matches!(kind, SlotKind::Write | SlotKind::Read) {
            let n = result as usize;
            if n == 0 {
                // EOF on a read, or a write that made no progress.
                Err(libc::EIO)
            } else {
                s.done += n;
                if s.done < s.len {
                    self.push(index);
                    return None;
                }
                Ok(())
            }
        } else {
            Ok(())
        };
        let s = self.slots[index].take()?;
        self.free.push(index);
        let result = match (outcome, kind) {
            (Ok(()), SlotKind::Read) => DiskResult::Data(s.buf[s.at..s.at + s.len].to_vec()),
            (Ok(()), _) => DiskResult::Done,
            (Err(libc::EINVAL), SlotKind::Write | SlotKind::Read) if self.direct => {
                // The device wants another alignment: the page cache.
                let job = if kind == SlotKind::Write {
                    Job::Write {
                        io,
                        offset: s.offset,
                        data: s.buf[s.at..s.at + s.len].to_vec(),
                        fua: s.dsync,
                    }
                } else {
                    Job::Read {
                        io,
                        offset: s.offset,
                        len: s.len as u64,
                    }
                };
                return Some(self.fallback(job));
            }
            (Err(libc::EOPNOTSUPP), SlotKind::Trim) => {
                return Some(self.fallback(Job::Trim {
                    io,
                    offset: s.offset,
                    len: s.len as u64,
                }))
            }
            (Err(errno), _) => {
                log::warn!(
                    "disk {} of {} bytes at {} failed: {}",
                    kind.name(),
                    s.len,
                    s.offset,
                    std::io::Error::from_raw_os_error(errno)
                );
                DiskResult::Failed(errno)
            }
        };
        Some(Done { io, result })
    }

    /// Does a job on this thread through the thread backend's code (rare cases).
    fn fallback(&self, job: Job) -> Done {
        let file = DataFile {
            buffered: self.file.buffered.clone(),
            direct: None,
            flushes: self.file.flushes,
        };
        crate::disk::perform_now(&file, job)
    }

    /// Operations the kernel still works on.
    pub fn in_flight(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

impl Slot {
    fn new(
        io: IoId,
        kind: SlotKind,
        buf: Vec<u8>,
        at: usize,
        len: usize,
        offset: u64,
        dsync: bool,
    ) -> Slot {
        Slot {
            io,
            kind,
            buf,
            at,
            len,
            done: 0,
            offset,
            dsync,
        }
    }
}

fn aligned(offset: u64, len: usize) -> bool {
    offset.is_multiple_of(512) && len.is_multiple_of(512) && len > 0
}

/// A buffer holding `data` at an aligned position, and that position.
fn aligned_copy(data: &[u8]) -> (Vec<u8>, usize) {
    let mut buf = vec![0u8; data.len() + ALIGN];
    let at = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
    buf[at..at + data.len()].copy_from_slice(data);
    (buf, at)
}
