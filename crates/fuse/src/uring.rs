//! FUSE over io_uring (Linux 6.14+, only when the administrator set the `fuse` module's
//! `enable_uring` parameter; shimai never sets it). After INIT negotiated
//! `FUSE_OVER_IO_URING`, the server registers ring entries, each a header buffer
//! (`struct fuse_uring_req_header`) and a payload buffer, with `IORING_OP_URING_CMD`
//! `FUSE_IO_URING_CMD_REGISTER` on the `/dev/fuse` descriptor, at least one per queue
//! (one queue per possible CPU). A request arrives as the completion of an entry's
//! command; its reply goes back in the same buffers with `COMMIT_AND_FETCH`, which also
//! waits for the next request. INIT, FORGET and INTERRUPT still use `read`/`write`.
//!
//! This is the one module with `unsafe`: the kernel keeps pointers to the buffers of
//! every registered entry, and io_uring submissions are unsafe for that reason. Every
//! buffer is allocated before the first submission and lives until the ring is dropped
//! (the ring is dropped first: the kernel cancels its commands then).
#![allow(unsafe_code)]

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::abi::{self, InHeader};
use crate::server::{to_block, Backend, Completer, Sink};
use crate::session::{errno, reply, Action, Session};
use crate::Error;

/// `FUSE_IO_URING_CMD_REGISTER`.
const CMD_REGISTER: u32 = 1;
/// `FUSE_IO_URING_CMD_COMMIT_AND_FETCH`.
const CMD_COMMIT_AND_FETCH: u32 = 2;
/// `sizeof(struct fuse_uring_req_header)`: `in_out[128]`, `op_in[128]`, 32 bytes of `ring_ent_in_out`.
pub const REQ_HEADER_SIZE: usize = 288;
const OP_IN: usize = 128;
const ENT_IN_OUT: usize = 256;
/// About how many entries to register in all (each holds a `max_write` payload buffer,
/// 1 MiB by default), spread over the queues with 2 to 16 each.
const TOTAL_ENTRIES: usize = 64;
const MIN_DEPTH: usize = 2;
const MAX_DEPTH: usize = 16;
const EVENTFD_TAG: u64 = u64::MAX;

/// Whether the running kernel offers FUSE over io_uring (the `fuse` module parameter).
pub fn enabled() -> bool {
    std::fs::read_to_string("/sys/module/fuse/parameters/enable_uring")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false)
}

/// The kernel's number of FUSE queues: one per possible CPU (`nr_cpu_ids`).
fn possible_cpus() -> usize {
    cpus_in(&std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default())
}

/// The number of CPUs of a cpulist ("0-3,8-11" counts 12: the highest id + 1).
fn cpus_in(text: &str) -> usize {
    let mut max = 0usize;
    for part in text.trim().split(',') {
        let last = part.rsplit('-').next().unwrap_or("0");
        max = max.max(last.parse().unwrap_or(0));
    }
    max + 1
}

/// `struct fuse_uring_cmd_req` in the SQE's 80-byte command area.
fn cmd_req(commit_id: u64, qid: u16) -> [u8; 80] {
    let mut c = [0u8; 80];
    c[8..16].copy_from_slice(&commit_id.to_ne_bytes());
    c[16..18].copy_from_slice(&qid.to_ne_bytes());
    c
}

/// A reply a backend thread finished, for the ring thread to commit.
pub(crate) struct Finished {
    pub ent: usize,
    pub bytes: Vec<u8>,
}

/// The eventfd that wakes the ring thread (for finished replies, and to stop it).
pub(crate) fn new_wake() -> Result<Arc<EventFd>, Error> {
    EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC)
        .map(Arc::new)
        .map_err(|e| Error::Io("FUSE io_uring: eventfd".into(), e.into()))
}

/// Where backend threads send finished replies, and how they wake the ring thread.
#[derive(Clone)]
pub(crate) struct RingSink {
    tx: Sender<Finished>,
    wake: Arc<EventFd>,
}

impl RingSink {
    pub fn send(&self, ent: usize, bytes: Vec<u8>) {
        if self.tx.send(Finished { ent, bytes }).is_ok() {
            let _ = self.wake.write(1);
        }
    }
}

struct Entry {
    header: Box<[u8; REQ_HEADER_SIZE]>,
    payload: Vec<u8>,
    iov: Box<[nix::libc::iovec; 2]>,
    qid: u16,
    commit_id: u64,
}

/// Serves requests through the ring until the connection ends. `session` is shared with
/// the thread that reads `/dev/fuse`.
pub(crate) fn run<B: Backend>(
    dev: RawFd,
    max_payload: usize,
    wake: Arc<EventFd>,
    stop: &AtomicBool,
    session: &Mutex<Session>,
    backend: &Mutex<&mut B>,
) -> Result<(), Error> {
    let queues = possible_cpus();
    // A request waits for an entry of the queue of the CPU that issued it.
    let depth = (TOTAL_ENTRIES / queues).clamp(MIN_DEPTH, MAX_DEPTH);
    let n = queues * depth;
    let (tx, rx): (Sender<Finished>, Receiver<Finished>) = channel();
    let sink = RingSink {
        tx,
        wake: wake.clone(),
    };
    let mut ents: Vec<Entry> = (0..n)
        .map(|i| Entry {
            header: Box::new([0u8; REQ_HEADER_SIZE]),
            payload: vec![0u8; max_payload],
            iov: Box::new(
                [nix::libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                }; 2],
            ),
            qid: (i % queues) as u16,
            commit_id: 0,
        })
        .collect();
    let mut wake_buf = Box::new([0u8; 8]);
    let fd = types::Fd(dev);
    let res = serve_ring(
        n,
        fd,
        &mut ents,
        &mut wake_buf,
        &wake,
        &rx,
        &sink,
        stop,
        session,
        backend,
    );
    // The kernel tears a ring down asynchronously after its descriptor closes and may
    // hold the buffers' addresses until then: they are leaked, not freed (once per mount).
    std::mem::forget(ents);
    std::mem::forget(wake_buf);
    res
}

#[allow(clippy::too_many_arguments)]
fn serve_ring<B: Backend>(
    n: usize,
    fd: types::Fd,
    ents: &mut [Entry],
    wake_buf: &mut [u8; 8],
    wake: &EventFd,
    rx: &Receiver<Finished>,
    sink: &RingSink,
    stop: &AtomicBool,
    session: &Mutex<Session>,
    backend: &Mutex<&mut B>,
) -> Result<(), Error> {
    let io = |what: &str, e: std::io::Error| Error::Io(format!("FUSE io_uring: {what}"), e);
    let mut ring: IoUring<squeue::Entry128, cqueue::Entry> = IoUring::builder()
        .build((n + 2).next_power_of_two() as u32)
        .map_err(|e| io("io_uring_setup", e))?;

    for (i, e) in ents.iter_mut().enumerate() {
        e.iov[0] = nix::libc::iovec {
            iov_base: e.header.as_mut_ptr().cast(),
            iov_len: REQ_HEADER_SIZE,
        };
        e.iov[1] = nix::libc::iovec {
            iov_base: e.payload.as_mut_ptr().cast(),
            iov_len: e.payload.len(),
        };
        let sqe = opcode::UringCmd80::new(fd, CMD_REGISTER)
            .cmd(cmd_req(0, e.qid))
            .addr(Some(e.iov.as_ptr() as u64))
            .build()
            .user_data(i as u64);
        push(&mut ring, with_len(sqe, 2))?;
    }
    let arm = |buf: &mut [u8; 8]| {
        opcode::Read::new(types::Fd(wake.as_fd().as_raw_fd()), buf.as_mut_ptr(), 8)
            .build()
            .user_data(EVENTFD_TAG)
            .into()
    };
    push(&mut ring, arm(wake_buf))?;

    let mut live = n;
    let max_payload = ents.first().map_or(0, |e| e.payload.len());
    let mut msg = Vec::with_capacity(abi::IN_HEADER_SIZE + OP_IN + max_payload);
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(4) => continue, // EINTR
            Err(e) => return Err(io("io_uring_enter", e)),
        }
        let done: Vec<(u64, i32)> = ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (tag, res) in done {
            if tag == EVENTFD_TAG {
                while let Ok(f) = rx.try_recv() {
                    commit(&mut ring, ents, fd, f.ent, &f.bytes)?;
                }
                if stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                push(&mut ring, arm(wake_buf))?;
                continue;
            }
            let i = tag as usize;
            if i >= ents.len() {
                continue;
            }
            if res < 0 {
                // ENOTCONN/ECONNABORTED: unmounted or aborted; anything else: this entry
                // is unusable. Either way it is not resubmitted.
                log::debug!("FUSE io_uring entry {i} ended: errno {}", -res);
                live -= 1;
                if live == 0 {
                    return Ok(());
                }
                continue;
            }
            let e = &mut ents[i];
            let h = InHeader::decode(&e.header[..]);
            let payload_sz = abi::u32_at(&e.header[..], ENT_IN_OUT + 16).unwrap_or(0) as usize;
            e.commit_id = abi::u64_at(&e.header[..], ENT_IN_OUT + 8).unwrap_or(0);
            let Some(h) = h else { continue };
            let op_len = (h.len as usize)
                .checked_sub(abi::IN_HEADER_SIZE + payload_sz)
                .filter(|l| *l <= OP_IN && payload_sz <= e.payload.len());
            let Some(op_len) = op_len else {
                let bytes = reply::error(h.unique, errno::EIO);
                commit(&mut ring, ents, fd, i, &bytes)?;
                continue;
            };
            msg.clear();
            msg.extend_from_slice(&e.header[..abi::IN_HEADER_SIZE]);
            msg.extend_from_slice(&e.header[OP_IN..OP_IN + op_len]);
            msg.extend_from_slice(&e.payload[..payload_sz]);
            let mut s = session.lock().unwrap_or_else(|p| p.into_inner());
            match s.handle(&msg) {
                Ok(Action::Reply(bytes) | Action::Destroy(bytes)) => {
                    drop(s);
                    commit(&mut ring, ents, fd, i, &bytes)?
                }
                Ok(Action::None) => {
                    drop(s);
                    commit(&mut ring, ents, fd, i, &reply::empty(h.unique))?
                }
                Ok(Action::Io(req)) => {
                    let done = Completer::new(
                        Sink::Ring {
                            sink: sink.clone(),
                            ent: i,
                        },
                        req.unique(),
                        req.op(),
                    );
                    let block = to_block(req);
                    drop(s);
                    backend
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .submit(block, done);
                }
                Err(err) => {
                    drop(s);
                    log::error!("FUSE io_uring request refused: {err}");
                    commit(&mut ring, ents, fd, i, &reply::error(h.unique, errno::EIO))?
                }
            }
        }
    }
}

/// Writes a reply (out header, then body) into entry `i` and commits it.
fn commit(
    ring: &mut IoUring<squeue::Entry128, cqueue::Entry>,
    ents: &mut [Entry],
    fd: types::Fd,
    i: usize,
    bytes: &[u8],
) -> Result<(), Error> {
    let Some(e) = ents.get_mut(i) else {
        return Ok(());
    };
    let (head, body) = bytes.split_at(abi::OUT_HEADER_SIZE.min(bytes.len()));
    let body = &body[..body.len().min(e.payload.len())];
    e.header[..head.len()].copy_from_slice(head);
    e.payload[..body.len()].copy_from_slice(body);
    e.header[ENT_IN_OUT + 16..ENT_IN_OUT + 20].copy_from_slice(&(body.len() as u32).to_ne_bytes());
    let sqe = opcode::UringCmd80::new(fd, CMD_COMMIT_AND_FETCH)
        .cmd(cmd_req(e.commit_id, e.qid))
        .build()
        .user_data(i as u64);
    push(ring, sqe)
}

fn push(
    ring: &mut IoUring<squeue::Entry128, cqueue::Entry>,
    sqe: squeue::Entry128,
) -> Result<(), Error> {
    loop {
        // SAFETY: every buffer an entry points to (headers, payloads, iovecs, the
        // eventfd's 8 bytes) is owned by `run` and outlives the ring.
        if unsafe { ring.submission().push(&sqe) }.is_ok() {
            return Ok(());
        }
        ring.submit()
            .map_err(|e| Error::Io("FUSE io_uring: submit".into(), e))?;
    }
}

/// Sets the SQE's `len` (the iovec count REGISTER requires), which io-uring 0.7's
/// `UringCmd80` builder does not expose.
fn with_len(sqe: squeue::Entry128, len: u32) -> squeue::Entry128 {
    // SAFETY: Entry128 is #[repr(C)] over the kernel's 64-byte io_uring_sqe and 64 more
    // command bytes; `len` is the u32 at byte 24 of io_uring_sqe.
    let mut raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
    raw[24..28].copy_from_slice(&len.to_ne_bytes());
    unsafe { std::mem::transmute::<[u8; 128], squeue::Entry128>(raw) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uring_layouts() {
        // struct fuse_uring_cmd_req: flags u64, commit_id u64, qid u16, padding[6].
        let c = cmd_req(0x1122, 3);
        assert_eq!(abi::u64_at(&c, 0), Some(0));
        assert_eq!(abi::u64_at(&c, 8), Some(0x1122));
        assert_eq!(u16::from_ne_bytes([c[16], c[17]]), 3);
        // struct fuse_uring_req_header: in_out[128], op_in[128], then
        // fuse_uring_ent_in_out { flags, commit_id, payload_sz, padding, reserved }.
        assert_eq!(REQ_HEADER_SIZE, 128 + 128 + 32);
        assert_eq!((OP_IN, ENT_IN_OUT), (128, 256));
        // sqe->len is the u32 at byte 24 of struct io_uring_sqe.
        let sqe = with_len(
            opcode::UringCmd80::new(types::Fd(3), CMD_REGISTER).build(),
            2,
        );
        let raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
        assert_eq!(abi::u32_at(&raw, 24), Some(2));
        assert_eq!(raw[0], io_uring::opcode::UringCmd80::CODE);
        assert_eq!(abi::u32_at(&raw, 8), Some(CMD_REGISTER)); // cmd_op, in the off union
    }

    #[test]
    fn counts_possible_cpus() {
        assert_eq!(cpus_in("0-1\n"), 2);
        assert_eq!(cpus_in("0"), 1);
        assert_eq!(cpus_in("0-3,8-11"), 12);
        assert_eq!(cpus_in(""), 1);
    }
}
