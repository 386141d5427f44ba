//! [`Core`]: the state machine of one replicated resource.
//!
//! The core is split by concern: `io.rs` (client requests, activity log, transfer log, epochs,
//! protocol completion), `secondary.rs` (replicated writes, barriers), `writeq.rs` (per-block
//! write ordering), `complete.rs` (disk completions), `conn.rs` (connection lifecycle),
//! `decide.rs` (the sync handshake and bitmap exchange), `sync.rs` (resync and online verify) and `admin.rs` (admin verbs). All share
//! the fields declared here.

mod admin;
mod complete;
mod congestion;
mod conn;
mod csums;
mod decide;
mod io;
mod secondary;
mod sync;
mod writeq;

use std::collections::{BTreeMap, VecDeque};

use crate::action::{Action, Level, StateChange, TransportCmd};
use crate::al::ActivityLog;
use crate::bitmap::{Bitmap, BM_BLOCK_SIZE};
use crate::config::ResourceConfig;
use crate::error::Error;
use crate::event::{Event, IoId, Persisted, ReqId};
use crate::gi::GenerationIds;
use crate::meta::{MdFlags, MetaRecord};
use crate::state::{ConnState, DiskState, Role};
use crate::status::{Counters, Status, SyncProgress};
use crate::wire::Msg;

use self::congestion::Congestion;
use self::conn::Conn;
pub use self::io::MAX_REQUEST;
use self::io::{Io, Req};
use self::secondary::Recv;
use self::sync::SyncState;
use self::writeq::WriteQueue;

/// Deliberate faults for the simulator's self-test: each one breaks a rule the simulation's
/// invariants must catch. Only compiled with the `sim-bug` feature; never in production.
#[cfg(feature = "sim-bug")]
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bugs {
    /// The Secondary sends protocol C's write-ack when a write arrives, before its disk
    /// completed it.
    pub write_ack_on_receive: bool,
}

/// The replication state machine of one resource on one node.
///
/// Feed it [`Event`]s with [`Core::handle`], then drain [`Action`]s with
/// [`Core::poll_action`] or [`Core::drain_actions`] and perform them in order.
#[derive(Debug)]
pub struct Core {
    cfg: ResourceConfig,
    role: Role,
    peer_role: Role,
    cs: ConnState,
    disk: DiskState,
    pdsk: DiskState,
    gi: GenerationIds,
    flags: MdFlags,
    bitmap: Bitmap,
    al: ActivityLog,
    /// Milliseconds, from the last tick.
    now: u64,
    entropy: u64,
    draws: u64,
    next_io: IoId,
    actions: VecDeque<Action>,
    ios: BTreeMap<IoId, Io>,
    /// Client requests not yet finished (replied and released).
    reqs: BTreeMap<ReqId, Req>,
    /// Replicated write sequence number -> client request.
    seqs: BTreeMap<u64, ReqId>,
    next_seq: u64,
    /// The open epoch of the transfer log.
    epoch: u32,
    epoch_writes: u32,
    /// A write of the open epoch completed: the next write starts a new epoch.
    epoch_close_pending: bool,
    /// Closed epochs the peer has not barrier-acked, with their writes.
    unacked_epochs: BTreeMap<u32, Vec<ReqId>>,
    /// Client flushes waiting for the barrier-ack of an epoch.
    flush_waits: BTreeMap<u32, Vec<ReqId>>,
    /// Requests waiting for room in the activity log.
    al_blocked: VecDeque<ReqId>,
    /// Local writes serialised per 4 KiB block.
    wq: WriteQueue,
    recv: Recv,
    conn: Option<Conn>,
    /// Bumped on every connection loss; completions of an older connection send nothing.
    conn_gen: u64,
    want_connect: bool,
    discard_my_data: bool,
    sync: SyncState,
    counters: Counters,
    /// Client I/O frozen while `fence-peer` runs (`fencing resource-and-stonith`).
    suspended: bool,
    frozen: VecDeque<Event>,
    /// Client writes held while the handshake decides (it uses our bitmap weight).
    handshake_held: VecDeque<(ReqId, io::ReqKind, Option<Vec<u8>>)>,
    release_pending: bool,
    /// When the bitmap exchange started (for its timeout).
    sync_stage_since: Option<u64>,
    /// Bits cleared because a local write brought the block in sync, but that write is not
    /// flushed yet: the on-disk bitmap keeps them set until a flush makes the data durable.
    clears_unflushed: BTreeMap<u64, u64>,
    clear_seq: u64,
    /// Flushes in flight and the clear/release sequence numbers they cover.
    flush_marks: BTreeMap<IoId, (u64, u64)>,
    /// AL extents to release once a flush covers their writes.
    al_release_pending: Vec<(u64, Vec<u32>)>,
    release_seq: u64,
    /// Replicated writes waiting for an AL transaction.
    al_parked: Vec<secondary::AlParked>,
    cong: Congestion,
    #[cfg(feature = "sim-bug")]
    #[doc(hidden)]
    pub bugs: Bugs,
}

/// splitmix64: turns the caller's entropy plus a counter into identifiers.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Core {
    /// A core for `cfg`, attached to `disk` (None = diskless), Secondary and StandAlone.
    /// `entropy` seeds the identifiers the core generates until the next tick.
    pub fn new(cfg: ResourceConfig, disk: Option<Persisted>, entropy: u64) -> Core {
        let mut core = Core {
            bitmap: Bitmap::new(cfg.size),
            al: ActivityLog::new(cfg.al_extents),
            cfg,
            role: Role::Secondary,
            peer_role: Role::Unknown,
            cs: ConnState::StandAlone,
            disk: DiskState::Diskless,
            pdsk: DiskState::DUnknown,
            gi: GenerationIds::default(),
            flags: MdFlags::default(),
            now: 0,
            entropy,
            draws: 0,
            next_io: 1,
            actions: VecDeque::new(),
            ios: BTreeMap::new(),
            reqs: BTreeMap::new(),
            seqs: BTreeMap::new(),
            next_seq: 1,
            epoch: 1,
            epoch_writes: 0,
            epoch_close_pending: false,
            unacked_epochs: BTreeMap::new(),
            flush_waits: BTreeMap::new(),
            al_blocked: VecDeque::new(),
            wq: WriteQueue::default(),
            recv: Recv::default(),
            conn: None,
            conn_gen: 0,
            want_connect: false,
            discard_my_data: false,
            sync: SyncState::default(),
            counters: Counters::default(),
            suspended: false,
            frozen: VecDeque::new(),
            handshake_held: VecDeque::new(),
            release_pending: false,
            sync_stage_since: None,
            clears_unflushed: BTreeMap::new(),
            clear_seq: 0,
            flush_marks: BTreeMap::new(),
            al_release_pending: Vec::new(),
            release_seq: 0,
            al_parked: Vec::new(),
            cong: Congestion::default(),
            #[cfg(feature = "sim-bug")]
            bugs: Bugs::default(),
        };
        if let Some(p) = disk {
            core.attach(p);
        }
        core
    }

    /// Feeds one event. Admin commands return their refusal; every other outcome (client
    /// replies, protocol errors, state changes) comes out as actions.
    pub fn handle(&mut self, ev: Event) -> Result<(), Error> {
        if self.suspended
            && matches!(
                ev,
                Event::Write { .. } | Event::Trim { .. } | Event::Flush { .. } | Event::Read { .. }
            )
        {
            self.frozen.push_back(ev);
            return Ok(());
        }
        match ev {
            Event::Write {
                id,
                offset,
                data,
                fua,
            } => self.client_write(id, offset, data, fua),
            Event::Trim { id, offset, len } => self.client_trim(id, offset, len),
            Event::Flush { id } => self.client_flush(id),
            Event::Read { id, offset, len } => self.client_read(id, offset, len),
            Event::DiskDone { io, result } => self.disk_done(io, result),
            Event::Connected {
                resolve_conflicts,
                challenge,
            } => self.transport_up(resolve_conflicts, challenge),
            Event::Received(msg) => self.received(msg),
            Event::ConnectionLost => {
                if self.cs >= ConnState::WFReportParams {
                    self.connection_lost(ConnState::NetworkFailure, "transport broke");
                }
            }
            Event::Tick { now_ms, entropy } => {
                self.now = self.now.max(now_ms);
                self.entropy ^= entropy;
                self.tick();
            }
            Event::HandlerDone { handler, exit_code } => self.handler_done(handler, exit_code),
            Event::Admin(cmd) => return self.admin(cmd),
            Event::MetaWriteFailed { errno } => self.meta_write_failed(errno),
            Event::SendQueue { bytes } => self.on_send_queue(bytes),
        }
        if self.release_pending {
            self.release_held();
        }
        Ok(())
    }

    /// The next action to perform, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// All pending actions, in order.
    pub fn drain_actions(&mut self) -> Vec<Action> {
        self.actions.drain(..).collect()
    }

    pub fn role(&self) -> Role {
        self.role
    }
    pub fn peer_role(&self) -> Role {
        self.peer_role
    }
    pub fn conn_state(&self) -> ConnState {
        self.cs
    }
    pub fn disk_state(&self) -> DiskState {
        self.disk
    }
    pub fn peer_disk_state(&self) -> DiskState {
        self.pdsk
    }
    pub fn generation_ids(&self) -> GenerationIds {
        self.gi
    }
    /// The metadata flags as last persisted (or about to be).
    pub fn md_flags(&self) -> MdFlags {
        self.flags
    }
    pub fn bitmap(&self) -> &Bitmap {
        &self.bitmap
    }
    pub fn config(&self) -> &ResourceConfig {
        &self.cfg
    }

    /// A snapshot for `status`, `proc` and monitoring.
    pub fn status(&self) -> Status {
        let mut counters = self.counters;
        counters.lo = self.ios.len() as u64;
        counters.ap = self.reqs.values().filter(|r| !r.replied).count() as u64;
        counters.pe = self.seqs.len() as u64 + self.sync.requests_in_flight();
        counters.ua = self.recv.unacked();
        counters.ep = self.unacked_epochs.len() as u64 + 1;
        counters.oos = self.bitmap.count() * (BM_BLOCK_SIZE / 1024);
        let resync = (self.cs.is_syncing() || self.sync.verify_active()).then(|| {
            let left = if self.sync.verify_active() {
                self.sync.verify_left()
            } else {
                self.bitmap.count()
            };
            SyncProgress {
                total_kib: self.sync.total_bits * 4,
                left_kib: left.min(self.sync.total_bits) * 4,
                rate_kib_s: self.sync.rate_kib_s(self.now, left),
            }
        });
        Status {
            role: self.role,
            peer_role: self.peer_role,
            cs: self.cs,
            disk: self.disk,
            pdsk: self.pdsk,
            protocol: self.cfg.protocol,
            gi: self.gi,
            counters,
            resync,
            verify_oos_kib: self.sync.verify_oos * 4,
            user_paused: self.sync.user_paused,
            peer_paused: self.conn.as_ref().is_some_and(|c| c.peer_paused),
            suspended: self.suspended,
            congestion: self.congestion_status(),
        }
    }

    // ---- helpers shared by the parts ----

    fn emit(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    fn send(&mut self, m: Msg) {
        if let Some(alg) = self.conn.as_ref().and_then(|c| c.integrity) {
            let payload = match &m {
                Msg::Data { flags, payload, .. } if !flags.trim() => Some(payload),
                Msg::ResyncReply { payload, .. } => Some(payload),
                _ => None,
            };
            if let Some(p) = payload {
                let digest = alg.digest(p);
                self.emit(Action::Send(Msg::Digest { digest }));
            }
        }
        self.emit(Action::Send(m));
    }

    fn log(&mut self, level: Level, msg: impl Into<String>) {
        self.emit(Action::Log {
            level,
            msg: msg.into(),
        });
    }

    fn alloc_io(&mut self) -> IoId {
        let io = self.next_io;
        self.next_io += 1;
        io
    }

    /// A fresh generation identifier (never 0 or `UUID_JUST_CREATED`), its bit 0 telling
    /// whether this node is Primary.
    fn fresh_uuid(&mut self) -> u64 {
        loop {
            self.draws += 1;
            let v = splitmix(self.entropy ^ splitmix(self.draws)) & !1;
            if v > 4 {
                return v | u64::from(self.role == Role::Primary);
            }
        }
    }

    /// Starts a new data generation (`drbd_uuid_new_current`). With a bitmap generation already
    /// open (only after `--force`), DRBD overwrites it; shimai keeps it and moves the old
    /// current into the history ([`GenerationIds::new_current`]), because a peer that
    /// adopted our sync UUID is related through the bitmap identifier.
    fn open_generation(&mut self) {
        let fresh = self.fresh_uuid();
        self.gi.new_current(fresh);
    }

    fn set_cs(&mut self, to: ConnState) {
        if self.cs != to {
            let from = self.cs;
            self.cs = to;
            self.emit(Action::Notify(StateChange::Conn { from, to }));
        }
    }

    fn set_role(&mut self, to: Role) {
        if self.role != to {
            let from = self.role;
            self.role = to;
            self.emit(Action::Notify(StateChange::Role { from, to }));
        }
    }

    fn set_peer_role(&mut self, to: Role) {
        if self.peer_role != to {
            let from = self.peer_role;
            self.peer_role = to;
            self.emit(Action::Notify(StateChange::PeerRole { from, to }));
        }
    }

    fn set_disk(&mut self, to: DiskState) {
        if self.disk != to {
            let from = self.disk;
            self.disk = to;
            self.emit(Action::Notify(StateChange::Disk { from, to }));
            self.flags
                .set(MdFlags::CONSISTENT, to > DiskState::Inconsistent);
            self.flags.set(
                MdFlags::WAS_UP_TO_DATE,
                to == DiskState::UpToDate
                    || (to > DiskState::Outdated && self.flags.has(MdFlags::WAS_UP_TO_DATE)),
            );
            if to >= DiskState::Inconsistent && from >= DiskState::Inconsistent {
                self.persist_meta();
            }
            if self.cs.is_connected() {
                self.send_state();
            }
        }
    }

    fn set_pdsk(&mut self, to: DiskState) {
        if self.pdsk != to {
            let from = self.pdsk;
            self.pdsk = to;
            self.emit(Action::Notify(StateChange::PeerDisk { from, to }));
        }
    }

    fn persist_meta(&mut self) {
        if self.disk <= DiskState::Failed {
            return;
        }
        self.emit(Action::PersistMeta(MetaRecord {
            gi: self.gi,
            flags: self.flags,
        }));
    }

    fn persist_bitmap_all(&mut self) {
        if self.disk <= DiskState::Failed {
            return;
        }
        self.counters.bm += 1;
        let words = self.words_to_persist(0, self.bitmap.words().len());
        self.emit(Action::PersistBitmap {
            first_word: 0,
            words,
        });
    }

    /// Bitmap words `[start, end)` as they may go to disk: in-memory bits plus bits whose
    /// clearing is not durable yet.
    fn words_to_persist(&self, start: usize, end: usize) -> Vec<u64> {
        let mut words = self.bitmap.words()[start..end].to_vec();
        for &bit in self.clears_unflushed.keys() {
            let w = usize::try_from(bit / 64).unwrap_or(usize::MAX);
            if (start..end).contains(&w) {
                words[w - start] |= 1 << (bit % 64);
            }
        }
        words
    }

    /// A local write made these blocks equal to the peer's: clear their bits (durably once a
    /// flush covers the write).
    fn clear_in_sync(&mut self, first_bit: u64, end_bit: u64) {
        for b in first_bit..end_bit {
            if self.bitmap.clear(b) {
                self.clear_seq += 1;
                self.clears_unflushed.insert(b, self.clear_seq);
            }
        }
    }

    fn emit_flush(&mut self, io: IoId) {
        self.flush_marks
            .insert(io, (self.clear_seq, self.release_seq));
        self.emit(Action::Flush { io });
    }

    fn flush_completed(&mut self, io: IoId, ok: bool) {
        if let Some((clears, releases)) = self.flush_marks.remove(&io) {
            if ok {
                self.clears_unflushed.retain(|_, s| *s > clears);
                let due: Vec<u32> = self
                    .al_release_pending
                    .iter()
                    .filter(|(s, _)| *s <= releases)
                    .flat_map(|(_, e)| e.iter().copied())
                    .collect();
                self.al_release_pending.retain(|(s, _)| *s > releases);
                self.al.release(&due);
            }
        }
    }

    /// AL extents held by writes that are complete but maybe not durable: released by the
    /// next flush (one is issued now).
    fn release_after_flush(&mut self, extents: Vec<u32>) {
        self.release_seq += 1;
        self.al_release_pending.push((self.release_seq, extents));
        if self.disk > DiskState::Failed {
            let io = self.alloc_io();
            self.ios.insert(io, Io::PlainFlush);
            self.emit_flush(io);
        }
    }

    /// Marks a byte range out of sync and writes the touched bitmap words at once: used where
    /// no activity-log extent covers the range (bits learned from the peer, verify results), so
    /// a crash cannot forget them.
    fn set_out_of_sync_durably(&mut self, offset: u64, len: u64) {
        self.bitmap.set_range(offset, len);
        let blocks = crate::bitmap::block_range(offset, len);
        if blocks.is_empty() || self.disk <= DiskState::Failed {
            return;
        }
        let (first, last) = (blocks.start / 64, (blocks.end - 1) / 64);
        let words = self.bitmap.words();
        let end = usize::try_from(last + 1)
            .unwrap_or(usize::MAX)
            .min(words.len());
        let start = usize::try_from(first).unwrap_or(usize::MAX).min(end);
        let slice = self.words_to_persist(start, end);
        self.counters.bm += 1;
        self.emit(Action::PersistBitmap {
            first_word: first,
            words: slice,
        });
    }

    /// Persists the bitmap words that cover one AL extent (when it leaves the log).
    fn persist_bitmap_extent(&mut self, extent: u32) {
        let bits_per_extent = crate::al::AL_EXTENT_SIZE / BM_BLOCK_SIZE;
        let first_word = u64::from(extent) * bits_per_extent / 64;
        let n = (bits_per_extent / 64).max(1);
        let words = self.bitmap.words();
        let start = usize::try_from(first_word)
            .unwrap_or(usize::MAX)
            .min(words.len());
        let end = start
            .saturating_add(usize::try_from(n).unwrap_or(usize::MAX))
            .min(words.len());
        if start < end {
            let slice = self.words_to_persist(start, end);
            self.counters.bm += 1;
            self.emit(Action::PersistBitmap {
                first_word,
                words: slice,
            });
        }
    }

    fn attach(&mut self, p: Persisted) {
        self.gi = p.gi;
        self.flags = p.flags;
        self.bitmap = if p.bitmap.len() == Bitmap::new(self.cfg.size).len() {
            p.bitmap
        } else {
            Bitmap::new(self.cfg.size)
        };
        self.al = ActivityLog::new(self.cfg.al_extents);
        let crashed = self.flags.has(MdFlags::PRIMARY_IND);
        if crashed {
            self.flags.set(MdFlags::CRASHED_PRIMARY, true);
            self.flags.set(MdFlags::PRIMARY_IND, false);
        }
        let unclean = !self.flags.has(MdFlags::AL_CLEAN) && !p.al.is_empty();
        if unclean {
            // The node stopped without a clean detach: writes into the logged extents may
            // have been lost or may not have reached the peer. All of them may differ.
            for &e in &p.al {
                let off = u64::from(e) << crate::al::AL_EXTENT_SHIFT;
                self.bitmap.set_range(
                    off.min(self.cfg.size),
                    crate::al::AL_EXTENT_SIZE.min(self.cfg.size.saturating_sub(off)),
                );
            }
        }
        let disk = if !self.flags.has(MdFlags::CONSISTENT) {
            DiskState::Inconsistent
        } else if !self.flags.has(MdFlags::WAS_UP_TO_DATE) {
            DiskState::Outdated
        } else {
            DiskState::Consistent
        };
        self.disk = DiskState::Attaching;
        self.set_disk(disk);
        self.flags.set(MdFlags::AL_CLEAN, false);
        self.persist_meta();
        if unclean {
            self.persist_bitmap_all();
        }
        // The log starts empty: extents are recorded again as writes arrive.
        self.log(
            Level::Info,
            format!(
                "attached: {} KiB out of sync{}",
                self.bitmap.count() * 4,
                if crashed {
                    " (crashed primary: activity log marked)"
                } else {
                    ""
                }
            ),
        );
    }

    fn tick(&mut self) {
        self.close_epoch_if_pending();
        self.conn_tick();
        self.congestion_tick();
        self.sync_tick();
    }

    fn handler_done(&mut self, handler: crate::handshake::Handler, code: i32) {
        if handler != crate::handshake::Handler::FencePeer {
            return;
        }
        match code {
            3..=5 | 7 => {
                if !self.cs.is_connected() {
                    self.set_pdsk(DiskState::Outdated);
                    self.flags.set(MdFlags::PEER_OUT_DATED, true);
                    self.persist_meta();
                }
            }
            6 => {
                if self.role == Role::Secondary {
                    self.set_disk(DiskState::Outdated);
                }
            }
            _ => self.log(
                Level::Warn,
                format!("fence-peer handler exited {code}: peer not fenced"),
            ),
        }
        if self.suspended {
            self.suspended = false;
            let frozen: Vec<Event> = self.frozen.drain(..).collect();
            for ev in frozen {
                let _ = self.handle(ev);
            }
        }
    }

    /// The metadata could not be written: the generation identifiers or the bitmap on the
    /// disk are not what this node acts on. Give the disk up (Failed, then Diskless), stop
    /// replicating from it, and let the operator repair it; client I/O is refused from now on.
    /// shimai does not serve a Diskless Primary through its peer (DRBD does): its clients get
    /// EIO, and the peer, which has every replicated write, is the one to promote.
    fn meta_write_failed(&mut self, errno: i32) {
        if matches!(self.disk, DiskState::Failed | DiskState::Diskless) {
            return;
        }
        self.log(
            Level::Error,
            format!(
                "metadata write failed (errno {errno}): the disk's identifiers or bitmap are \
                 stale; detaching. Repair the backing device, then `down` and `up` the resource"
            ),
        );
        if self.cfg.on_io_error == crate::config::OnIoError::CallLocalIoError {
            self.emit(Action::CallHandler(crate::handshake::Handler::LocalIoError));
        }
        self.set_disk(DiskState::Failed);
        if self.cs >= ConnState::WFConnection {
            self.go_standalone("the local disk failed");
        }
        self.set_disk(DiskState::Diskless);
    }

    fn refuse_io(&self) -> Option<Error> {
        if self.role != Role::Primary {
            return Some(Error::NotPrimary);
        }
        if self.disk != DiskState::UpToDate {
            return Some(Error::NoGoodDisk { disk: self.disk });
        }
        None
    }

    fn reply(&mut self, id: ReqId, result: Result<Option<Vec<u8>>, Error>) {
        self.emit(Action::Reply { id, result });
    }

    fn transport(&mut self, cmd: TransportCmd) {
        self.emit(Action::Transport(cmd));
    }
}
