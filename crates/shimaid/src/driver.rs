//! The driver: what shimaid does with the replication core's actions, written once against a
//! small I/O boundary ([`Io`]) that production ([`crate::engine`]) and the deterministic
//! simulation (`tests/simulation.rs`) both implement. Nothing else performs the core's
//! actions, so the engine that ships is the engine that the simulator tests.
//!
//! The driver adds to the core only what a daemon must:
//! - client requests (NBD or FUSE commands) are cut into requests of at most
//!   [`MAX_REQUEST`] bytes, and answered when their last part is, in whatever order
//!   replication finishes them;
//! - client writes wait while the send queue to the peer is over its bound (DRBD's
//!   `on-congestion block`), and go on when it drains or the link is gone;
//! - persistence is ordered: the superblock and bitmap are written before any later action
//!   is performed, and a failed metadata write reaches the core as
//!   [`Event::MetaWriteFailed`] before anything else happens (the core detaches);
//! - the activity log's transaction completes as an event, like a data write.
//!
//! Everything the driver does goes through [`Io`]; it holds no sockets, files or clocks.

use std::collections::{HashMap, VecDeque};

use shimai_nbd::Command;
use shimai_replication::{
    wire, Action, Core, DiskResult, Event, Handler, IoId, Level, MetaRecord, ReqId, StateChange,
    TransportCmd,
};

/// The largest request the core takes (its `MAX_REQUEST`); exports advertise it as the
/// maximum block size, and larger trims and zeroes are split.
pub const MAX_REQUEST: u64 = 1 << 20;

/// One disk operation for the backing store's data area; its completion comes back as
/// [`Event::DiskDone`] with the same `io`.
#[derive(Debug)]
pub enum DiskOp {
    Write {
        io: IoId,
        offset: u64,
        data: Vec<u8>,
        fua: bool,
    },
    Read {
        io: IoId,
        offset: u64,
        len: u64,
    },
    Trim {
        io: IoId,
        offset: u64,
        len: u64,
    },
    Flush {
        io: IoId,
    },
}

/// The I/O boundary: every effect of the driver. Completions of asynchronous operations are
/// fed back with [`Driver::feed`].
pub trait Io {
    /// Whom a client reply goes to (an NBD connection and cookie, a simulated client...).
    type Client;

    /// Starts a data-area operation.
    fn disk(&mut self, op: DiskOp);
    /// Writes the superblock; durable when it returns `Ok`.
    fn persist_meta(&mut self, rec: &MetaRecord) -> Result<(), String>;
    /// Writes bitmap words; durable when it returns `Ok`.
    fn persist_bitmap(&mut self, first_word: u64, words: &[u64]) -> Result<(), String>;
    /// Starts an activity-log transaction; `Some` when it completed at once.
    fn persist_al(&mut self, io: IoId, extents: &[u32]) -> Option<DiskResult>;
    /// Queues a message for the peer (dropped without a link).
    fn send(&mut self, msg: &wire::Msg);
    /// Bytes waiting in user space for the peer's socket (0 without a link).
    fn send_queue(&self) -> u64;
    /// Client writes are held back: call [`Driver::unpark`] when the queue moves.
    fn hold_writes(&mut self);
    /// Answers a client: read data, nothing, or an errno.
    fn reply(&mut self, to: Self::Client, result: Result<Option<Vec<u8>>, i32>);
    fn transport(&mut self, cmd: TransportCmd);
    fn notify(&mut self, change: StateChange);
    fn log(&mut self, level: Level, msg: String);
    fn handler(&mut self, h: Handler);
}

/// A client request cut into core requests; answered with its last part.
struct Group<C> {
    to: C,
    left: u64,
    data: Vec<Option<Vec<u8>>>,
    error: Option<i32>,
}

impl<C> Group<C> {
    /// Part `index` finished; once all have, the answer: the first error, or the read data in
    /// request order, or plain success.
    fn part(
        &mut self,
        index: usize,
        result: Result<Option<Vec<u8>>, i32>,
    ) -> Option<Result<Option<Vec<u8>>, i32>> {
        match result {
            Ok(Some(d)) => {
                if let Some(slot) = self.data.get_mut(index) {
                    *slot = Some(d);
                }
            }
            Ok(None) => {}
            Err(errno) => self.error = self.error.or(Some(errno)),
        }
        self.left = self.left.saturating_sub(1);
        if self.left > 0 {
            return None;
        }
        Some(match self.error {
            Some(errno) => Err(errno),
            None if self.data.iter().any(Option::is_some) => Ok(Some(
                std::mem::take(&mut self.data)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .collect(),
            )),
            None => Ok(None),
        })
    }
}

/// The pieces `(start within the request, length)` a request of `len` bytes is cut into.
fn pieces(len: u64) -> impl Iterator<Item = (u64, u64)> {
    let parts = len.div_ceil(MAX_REQUEST).max(1);
    (0..parts).map(move |i| {
        let at = i * MAX_REQUEST;
        (at, (len - at.min(len)).min(MAX_REQUEST))
    })
}

/// Deliberately broken driver rules for the simulator's self-test (feature `sim-bug`).
#[cfg(feature = "sim-bug")]
#[derive(Debug, Clone, Copy, Default)]
pub struct DriverBugs {
    /// Answer a client write as soon as it is handed to the core.
    pub reply_before_disk: bool,
    /// Answer the client of the previous request instead of this one.
    pub wrong_client: bool,
    /// Carry on after a failed metadata write as if it had succeeded.
    pub ignore_meta_failure: bool,
}

/// The core and what the daemon keeps around it, over an [`Io`].
pub struct Driver<I: Io> {
    core: Core,
    pub io: I,
    /// Core request id -> the first id of its client request's group.
    reqs: HashMap<ReqId, ReqId>,
    groups: HashMap<ReqId, Group<I::Client>>,
    next_req: ReqId,
    /// Client writes waiting for room in the send queue.
    parked: VecDeque<(I::Client, Command)>,
    /// The send queue's bound, bytes.
    send_bound: u64,
    /// A metadata write of this batch failed: what the core queued after it must not be
    /// performed as if it had succeeded.
    meta_broken: bool,
    #[cfg(feature = "sim-bug")]
    pub bugs: DriverBugs,
}

impl<I: Io> Driver<I> {
    pub fn new(core: Core, io: I, send_bound: u64) -> Driver<I> {
        Driver {
            core,
            io,
            reqs: HashMap::new(),
            groups: HashMap::new(),
            next_req: 1,
            parked: VecDeque::new(),
            send_bound,
            meta_broken: false,
            #[cfg(feature = "sim-bug")]
            bugs: DriverBugs::default(),
        }
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Client requests waiting for room in the send queue.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Feeds an event (disk completion, peer message, tick, ...) and performs what follows.
    pub fn feed(&mut self, ev: Event) {
        if let Err(e) = self.core.handle(ev) {
            self.io.log(Level::Warn, e.to_string());
        }
        self.perform();
    }

    /// An admin verb; performs what follows it whether or not it was refused.
    pub fn admin(
        &mut self,
        cmd: shimai_replication::AdminCmd,
    ) -> Result<(), shimai_replication::Error> {
        let r = self.core.handle(Event::Admin(cmd));
        self.perform();
        r
    }

    /// A client request. Writes wait while the send queue is over its bound; everything
    /// else goes to the core at once.
    pub fn client(&mut self, to: I::Client, command: Command) {
        let write = matches!(
            command,
            Command::Write { .. } | Command::WriteZeroes { .. } | Command::Trim { .. }
        );
        if write && (!self.parked.is_empty() || self.congested()) {
            self.parked.push_back((to, command));
            self.io.hold_writes();
            return;
        }
        self.submit(to, command);
        self.perform();
    }

    fn congested(&self) -> bool {
        self.io.send_queue() > self.send_bound
    }

    /// Lets held client writes go while the send queue has room (or the link is gone).
    pub fn unpark(&mut self) {
        while !self.parked.is_empty() {
            if self.congested() {
                self.io.hold_writes();
                return;
            }
            let Some((to, command)) = self.parked.pop_front() else {
                return;
            };
            self.submit(to, command);
            self.perform_actions();
        }
    }

    /// One client request becomes one or more core requests.
    fn submit(&mut self, to: I::Client, command: Command) {
        enum Kind {
            Read,
            Write(Vec<u8>, bool),
            Zero(bool),
            Trim,
        }
        let (kind, offset, len) = match command {
            Command::Read { offset, length } => (Kind::Read, offset, u64::from(length)),
            Command::Write { offset, data, fua } => {
                let len = data.len() as u64;
                (Kind::Write(data, fua), offset, len)
            }
            Command::WriteZeroes {
                offset,
                length,
                fua,
                ..
            } => (Kind::Zero(fua), offset, u64::from(length)),
            Command::Trim { offset, length, .. } => (Kind::Trim, offset, u64::from(length)),
            Command::Flush => {
                let id = self.new_group(to, 1);
                return self.hand_to_core(id, Event::Flush { id });
            }
            Command::Cache { .. } => return self.io.reply(to, Ok(None)),
        };
        #[cfg(feature = "sim-bug")]
        let early = self.bugs.reply_before_disk && matches!(kind, Kind::Write(..));
        let parts = pieces(len).count() as u64;
        let first = self.new_group(to, parts);
        if parts == 1 {
            // The common case: one piece, whose payload moves on without a copy.
            let ev = match kind {
                Kind::Read => Event::Read {
                    id: first,
                    offset,
                    len,
                },
                Kind::Write(data, fua) => Event::Write {
                    id: first,
                    offset,
                    data,
                    fua,
                },
                Kind::Zero(fua) => Event::Write {
                    id: first,
                    offset,
                    data: vec![0; len as usize],
                    fua,
                },
                Kind::Trim => Event::Trim {
                    id: first,
                    offset,
                    len,
                },
            };
            self.hand_to_core(first, ev);
            #[cfg(feature = "sim-bug")]
            if early {
                self.part_done(first, Ok(None));
            }
            return;
        }
        for (id, (at, n)) in (first..).zip(pieces(len)) {
            let off = offset + at;
            let ev = match &kind {
                Kind::Read => Event::Read {
                    id,
                    offset: off,
                    len: n,
                },
                Kind::Write(data, fua) => Event::Write {
                    id,
                    offset: off,
                    data: data[at as usize..(at + n) as usize].to_vec(),
                    fua: *fua,
                },
                Kind::Zero(fua) => Event::Write {
                    id,
                    offset: off,
                    data: vec![0; n as usize],
                    fua: *fua,
                },
                Kind::Trim => Event::Trim {
                    id,
                    offset: off,
                    len: n,
                },
            };
            self.hand_to_core(id, ev);
            #[cfg(feature = "sim-bug")]
            if early {
                self.part_done(id, Ok(None));
            }
        }
    }

    /// Reserves `parts` consecutive request ids for one client request; returns the first.
    fn new_group(&mut self, to: I::Client, parts: u64) -> ReqId {
        let first = self.next_req;
        self.next_req += parts;
        self.groups.insert(
            first,
            Group {
                to,
                left: parts,
                data: (0..parts).map(|_| None).collect(),
                error: None,
            },
        );
        for i in 0..parts {
            self.reqs.insert(first + i, first);
        }
        first
    }

    fn hand_to_core(&mut self, id: ReqId, ev: Event) {
        if let Err(e) = self.core.handle(ev) {
            self.part_done(id, Err(e.errno()));
        }
    }

    /// One part of a client request finished; the reply goes out with the last part.
    fn part_done(&mut self, id: ReqId, result: Result<Option<Vec<u8>>, i32>) {
        #[cfg(feature = "sim-bug")]
        let id = if self.bugs.wrong_client && id > 1 && self.reqs.contains_key(&(id - 1)) {
            id - 1
        } else {
            id
        };
        let Some(first) = self.reqs.remove(&id) else {
            return;
        };
        let Some(g) = self.groups.get_mut(&first) else {
            return;
        };
        if let Some(answer) = g.part((id - first) as usize, result) {
            if let Some(g) = self.groups.remove(&first) {
                self.io.reply(g.to, answer);
            }
        }
    }

    /// Performs the core's actions in order, then lets held writes go if the link went away.
    pub fn perform(&mut self) {
        self.perform_actions();
        if !self.parked.is_empty() && !self.congested() {
            self.unpark();
        }
    }

    fn perform_actions(&mut self) {
        while let Some(a) = self.core.poll_action() {
            if self.meta_broken {
                self.after_meta_failure(a);
            } else {
                self.action(a);
            }
        }
        self.meta_broken = false;
    }

    /// What the core had queued behind a metadata write that failed: disk operations fail
    /// (the disk is being given up), messages to the peer are dropped (the connection goes
    /// StandAlone), the rest (replies to earlier work, state changes, logs) goes on.
    fn after_meta_failure(&mut self, a: Action) {
        let eio = DiskResult::Failed(nix::errno::Errno::EIO as i32);
        match a {
            Action::Write { io, .. }
            | Action::Read { io, .. }
            | Action::Trim { io, .. }
            | Action::Flush { io }
            | Action::PersistAl { io, .. } => self.complete_now(io, eio),
            Action::Send(_) | Action::PersistMeta(_) | Action::PersistBitmap { .. } => {}
            a => self.action(a),
        }
    }

    fn action(&mut self, a: Action) {
        match a {
            Action::Write {
                io,
                offset,
                data,
                fua,
            } => self.io.disk(DiskOp::Write {
                io,
                offset,
                data,
                fua,
            }),
            Action::Read { io, offset, len } => self.io.disk(DiskOp::Read { io, offset, len }),
            Action::Trim { io, offset, len } => self.io.disk(DiskOp::Trim { io, offset, len }),
            Action::Flush { io } => self.io.disk(DiskOp::Flush { io }),
            Action::Send(msg) => self.io.send(&msg),
            Action::Reply { id, result } => self.part_done(id, result.map_err(|e| e.errno())),
            // Synchronous: a failure reaches the core before any later action is performed.
            Action::PersistMeta(rec) => {
                if let Err(e) = self.io.persist_meta(&rec) {
                    self.meta_failed(format!("cannot write the metadata superblock: {e}"));
                }
            }
            Action::PersistBitmap { first_word, words } => {
                if let Err(e) = self.io.persist_bitmap(first_word, &words) {
                    self.meta_failed(format!("cannot write the bitmap: {e}"));
                }
            }
            Action::PersistAl { io, extents, .. } => {
                if let Some(result) = self.io.persist_al(io, &extents) {
                    self.complete_now(io, result);
                }
            }
            Action::Transport(cmd) => self.io.transport(cmd),
            Action::Notify(change) => self.io.notify(change),
            Action::Log { level, msg } => self.io.log(level, msg),
            Action::CallHandler(h) => self.io.handler(h),
        }
    }

    /// A completion known at once: fed to the core before the next action.
    fn complete_now(&mut self, io: IoId, result: DiskResult) {
        if let Err(e) = self.core.handle(Event::DiskDone { io, result }) {
            self.io.log(Level::Warn, e.to_string());
        }
    }

    fn meta_failed(&mut self, what: String) {
        self.io.log(Level::Error, what);
        #[cfg(feature = "sim-bug")]
        if self.bugs.ignore_meta_failure {
            return;
        }
        self.meta_broken = true;
        let errno = nix::errno::Errno::EIO as i32;
        if let Err(e) = self.core.handle(Event::MetaWriteFailed { errno }) {
            self.io.log(Level::Warn, e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_requests_are_cut_at_the_cores_limit() {
        let p: Vec<_> = pieces(MAX_REQUEST * 2 + 4096).collect();
        assert_eq!(
            p,
            vec![
                (0, MAX_REQUEST),
                (MAX_REQUEST, MAX_REQUEST),
                (2 * MAX_REQUEST, 4096)
            ]
        );
        assert_eq!(pieces(512).collect::<Vec<_>>(), vec![(0, 512)]);
        assert_eq!(pieces(MAX_REQUEST).count(), 1);
    }

    fn group(parts: u64) -> Group<()> {
        Group {
            to: (),
            left: parts,
            data: (0..parts).map(|_| None).collect(),
            error: None,
        }
    }

    #[test]
    fn split_reads_come_back_in_request_order_whatever_order_parts_finish() {
        let mut g = group(3);
        assert_eq!(g.part(2, Ok(Some(vec![3]))), None);
        assert_eq!(g.part(0, Ok(Some(vec![1]))), None);
        assert_eq!(g.part(1, Ok(Some(vec![2]))), Some(Ok(Some(vec![1, 2, 3]))));
    }

    #[test]
    fn one_failed_part_fails_the_request() {
        let mut g = group(2);
        assert_eq!(g.part(0, Err(30)), None); // EROFS: not Primary
        assert_eq!(g.part(1, Ok(None)), Some(Err(30)));
    }
}
