//! The Primary's write path: client requests, the activity log, the transfer log with its
//! epochs, and protocol A/B/C completion. (The Secondary's side is `secondary.rs`, disk
//! completions are routed in `complete.rs`.)
//!
//! Completion rule (`reference/drbd.md` §1.5), the single place protocols differ:
//! a replicated write is answered when its local write is done **and** its network part is
//! done: A = handed to the send queue, B = peer's `RecvAck`, C = peer's `WriteAck`. A write
//! that is not replicated (no peer, or handshake in progress) only marks the bitmap.

use super::Core;
use crate::action::Action;
use crate::al::{extents_of, Begin};
use crate::config::Protocol;
use crate::error::Error;
use crate::event::{IoId, ReqId};
use crate::state::ConnState;
use crate::wire::{DataFlags, Msg};

/// Largest client write or read the core accepts in one request (the daemon splits larger).
pub const MAX_REQUEST: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReqKind {
    Write { offset: u64, len: u64, fua: bool },
    Trim { offset: u64, len: u64 },
    Flush,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Net {
    /// Not replicated: local completion is enough.
    None,
    Pending,
    Done,
}

/// A client request in the transfer log.
#[derive(Debug, Clone)]
pub(super) struct Req {
    pub kind: ReqKind,
    pub local_pending: bool,
    pub local_err: Option<i32>,
    pub net: Net,
    pub epoch: u32,
    pub seq: u64,
    /// Activity-log extents this request holds.
    pub extents: Vec<u32>,
    /// AL transactions that must complete before the data write is issued.
    pub al_wait: Vec<IoId>,
    /// The payload, held while the request waits for the activity log.
    pub payload: Option<Vec<u8>>,
    pub replied: bool,
    /// Still tracked for a barrier-ack (replicated and the epoch not yet acked).
    pub in_epoch: bool,
}

/// What a disk operation was for.
#[derive(Debug, Clone)]
pub(super) enum Io {
    App(ReqId),
    AppRead(ReqId),
    AlTx,
    PeerWrite {
        gen: u64,
        seq: u64,
        serial: u64,
        offset: u64,
        len: u64,
    },
    BarrierFlush {
        gen: u64,
        serial: u64,
    },
    RsRead {
        gen: u64,
        sector: u64,
        size: u32,
        dirty: bool,
    },
    RsWrite {
        gen: u64,
        sector: u64,
        size: u32,
    },
    RsEndFlush {
        gen: u64,
    },
    /// `csums-alg`: the SyncTarget reads its own copy of a block to send its digest.
    CsumRead {
        gen: u64,
        sector: u64,
        size: u32,
    },
    /// A flush that only makes earlier writes durable (AL extents wait for it).
    PlainFlush,
    VerifyRead {
        gen: u64,
        sector: u64,
        size: u32,
        /// Digest from the peer (we are VerifyS); `None` = answer the peer (VerifyT).
        peer_digest: Option<Vec<u8>>,
    },
}

impl Core {
    /// Client writes go to the peer in these states; in the handshake states they only mark
    /// the bitmap (and `OutOfSync` once our bitmap was sent).
    pub(super) fn replicating(&self) -> bool {
        matches!(
            self.cs,
            ConnState::Connected
                | ConnState::SyncSource
                | ConnState::SyncTarget
                | ConnState::PausedSyncS
                | ConnState::PausedSyncT
                | ConnState::VerifyS
                | ConnState::VerifyT
        ) && self.pdsk >= crate::DiskState::Inconsistent
    }

    pub(super) fn check_range(&self, offset: u64, len: u64) -> Result<(), Error> {
        let ok = offset & 511 == 0
            && len & 511 == 0
            && len > 0
            && len <= MAX_REQUEST
            && offset
                .checked_add(len)
                .is_some_and(|end| end <= self.cfg.size);
        if ok {
            Ok(())
        } else {
            Err(Error::OutOfRange {
                offset,
                len,
                size: self.cfg.size,
            })
        }
    }

    pub(super) fn client_write(&mut self, id: ReqId, offset: u64, data: Vec<u8>, fua: bool) {
        let len = data.len() as u64;
        self.note_app_io(len);
        self.start_request(id, ReqKind::Write { offset, len, fua }, Some(data));
    }

    pub(super) fn client_trim(&mut self, id: ReqId, offset: u64, len: u64) {
        self.start_request(id, ReqKind::Trim { offset, len }, None);
    }

    pub(super) fn start_request(&mut self, id: ReqId, kind: ReqKind, payload: Option<Vec<u8>>) {
        let (offset, len) = match kind {
            ReqKind::Write { offset, len, .. } | ReqKind::Trim { offset, len } => (offset, len),
            _ => (0, 0),
        };
        if let Some(e) = self.refuse_io() {
            return self.reply(id, Err(e));
        }
        if let Err(e) = self.check_range(offset, len) {
            return self.reply(id, Err(e));
        }
        if self.conn.as_ref().is_some_and(|c| !c.decided) {
            // The handshake is deciding from our bitmap weight: hold writes until it has.
            self.handshake_held.push_back((id, kind, payload));
            return;
        }
        if self.reqs.contains_key(&id) {
            return self.reply(
                id,
                Err(Error::Protocol(format!(
                    "client request id {id} reused while in flight"
                ))),
            );
        }
        let extents = extents_of(offset, len);
        self.reqs.insert(
            id,
            Req {
                kind,
                local_pending: true,
                local_err: None,
                net: Net::None,
                epoch: 0,
                seq: 0,
                extents: Vec::new(),
                al_wait: Vec::new(),
                payload,
                replied: false,
                in_epoch: false,
            },
        );
        self.al_begin(id, extents);
    }

    /// Takes activity-log references; issues the write when its extents are on disk.
    fn al_begin(&mut self, id: ReqId, extents: Vec<u32>) {
        let tx = self.next_io;
        match self.al.begin(&extents, tx) {
            Begin::Full => {
                self.al_blocked.push_back(id);
                if let Some(r) = self.reqs.get_mut(&id) {
                    r.extents = extents;
                }
            }
            Begin::Ready => {
                if let Some(r) = self.reqs.get_mut(&id) {
                    r.extents = extents;
                }
                self.issue_write(id);
            }
            Begin::Wait {
                ios,
                new_tx,
                evicted,
            } => {
                if new_tx {
                    self.write_al_transaction(tx, &evicted);
                }
                if let Some(r) = self.reqs.get_mut(&id) {
                    r.extents = extents;
                    r.al_wait = ios;
                }
            }
        }
    }

    /// Submits a client write (or trim) to the local disk and, when connected, to the peer.
    fn issue_write(&mut self, id: ReqId) {
        self.close_epoch_if_pending();
        let Some(r) = self.reqs.get(&id) else { return };
        let kind = r.kind;
        let payload = r.payload.clone().unwrap_or_default();
        let (offset, len, fua, trim) = match kind {
            ReqKind::Write { offset, len, fua } => (offset, len, fua, false),
            ReqKind::Trim { offset, len } => (offset, len, false, true),
            _ => return,
        };
        self.maybe_pull_ahead();
        let replicate = self.replicating();
        if !replicate && self.conn.is_none() && self.gi.bitmap == 0 {
            // A Primary writing without its peer always has a bitmap generation open, so the
            // next handshake sees that this node moved on.
            self.open_generation();
            self.persist_meta();
        }
        // A resync read of these blocks in flight would send stale data: re-read it later.
        self.mark_rs_reads_dirty(offset, len);
        let io = self.alloc_io();
        self.ios.insert(io, Io::App(id));
        let op = if trim {
            Action::Trim { io, offset, len }
        } else {
            Action::Write {
                io,
                offset,
                data: payload.clone(),
                fua,
            }
        };
        self.submit_local_write(io, offset, len, op);
        self.counters.dw += len / 1024;
        let seq = self.next_seq;
        self.next_seq += 1;
        let epoch = self.epoch;
        let protocol = self.cfg.protocol;
        if let Some(r) = self.reqs.get_mut(&id) {
            r.payload = None;
            r.seq = seq;
            r.epoch = epoch;
            if replicate {
                r.net = if protocol == Protocol::A {
                    Net::Done
                } else {
                    Net::Pending
                };
                r.in_epoch = true;
            }
        }
        if replicate {
            self.seqs.insert(seq, id);
            let mut flags = 0;
            if fua {
                flags |= DataFlags::FUA;
            }
            if trim {
                flags |= DataFlags::TRIM;
            }
            self.counters.ns += len / 1024;
            self.send(Msg::Data {
                sector: offset / 512,
                seq,
                flags: DataFlags(flags),
                size: u32::try_from(len).unwrap_or(u32::MAX),
                payload: if trim { Vec::new() } else { payload },
            });
            self.cong_sent(epoch, len);
            self.unacked_epochs.entry(epoch).or_default().push(id);
            self.epoch_writes += 1;
            if self.epoch_writes >= self.cfg.max_epoch_size {
                self.close_epoch();
            }
        } else {
            self.bitmap.set_range(offset, len);
            let told = self.cs == ConnState::Ahead
                || (self.cs >= ConnState::WFBitMapS
                    && self.conn.as_ref().is_some_and(|c| c.bitmap_sent));
            if told {
                self.send(Msg::OutOfSync {
                    sector: offset / 512,
                    size: u32::try_from(len).unwrap_or(u32::MAX),
                });
            }
        }
    }

    pub(super) fn client_flush(&mut self, id: ReqId) {
        if let Some(e) = self.refuse_io() {
            return self.reply(id, Err(e));
        }
        self.close_epoch();
        let wait_epoch = if self.replicating() && self.cfg.protocol != Protocol::A {
            self.unacked_epochs.keys().next_back().copied()
        } else {
            None
        };
        let io = self.alloc_io();
        self.ios.insert(io, Io::App(id));
        self.reqs.insert(
            id,
            Req {
                kind: ReqKind::Flush,
                local_pending: true,
                local_err: None,
                net: if wait_epoch.is_some() {
                    Net::Pending
                } else {
                    Net::None
                },
                epoch: 0,
                seq: 0,
                extents: Vec::new(),
                al_wait: Vec::new(),
                payload: None,
                replied: false,
                in_epoch: false,
            },
        );
        if let Some(e) = wait_epoch {
            self.flush_waits.entry(e).or_default().push(id);
        }
        self.emit_flush(io);
    }

    pub(super) fn client_read(&mut self, id: ReqId, offset: u64, len: u64) {
        if let Some(e) = self.refuse_io() {
            return self.reply(id, Err(e));
        }
        if let Err(e) = self.check_range(offset, len) {
            return self.reply(id, Err(e));
        }
        self.note_app_io(len);
        let io = self.alloc_io();
        self.ios.insert(io, Io::AppRead(id));
        self.counters.dr += len / 1024;
        self.emit(Action::Read { io, offset, len });
    }

    /// Sends the barrier that closes the open epoch, if it holds writes.
    pub(super) fn close_epoch(&mut self) {
        if self.epoch_writes == 0 {
            self.epoch_close_pending = false;
            return;
        }
        if !self.replicating() {
            // Handshake in progress: the barrier goes out once replication resumes.
            self.epoch_close_pending = true;
            return;
        }
        self.epoch_close_pending = false;
        self.send(Msg::Barrier { nr: self.epoch });
        self.epoch += 1;
        self.epoch_writes = 0;
    }

    pub(super) fn close_epoch_if_pending(&mut self) {
        if self.epoch_close_pending {
            self.close_epoch();
        }
    }

    /// Replies and releases a request whose parts are all done.
    pub(super) fn try_complete(&mut self, id: ReqId) {
        let Some(r) = self.reqs.get_mut(&id) else {
            return;
        };
        if !r.replied && !r.local_pending && r.net != Net::Pending {
            r.replied = true;
            let result = match r.local_err {
                Some(e) => Err(Error::DiskIo(e)),
                None => Ok(None),
            };
            let (epoch, in_epoch) = (r.epoch, r.in_epoch);
            self.reply(id, result);
            // A completed write lets the application issue dependent writes: those must be
            // in a later epoch on the peer.
            if in_epoch && epoch == self.epoch {
                self.epoch_close_pending = true;
            }
        }
        let Some(r) = self.reqs.get(&id) else { return };
        if r.replied && !r.in_epoch {
            let r = self.reqs.remove(&id).expect("present");
            if r.seq != 0 {
                self.seqs.remove(&r.seq);
            }
            if !r.extents.is_empty() {
                self.al.release(&r.extents);
                self.retry_al_blocked();
            }
        }
    }

    fn retry_al_blocked(&mut self) {
        let blocked: Vec<ReqId> = self.al_blocked.drain(..).collect();
        for id in blocked {
            let ext = self
                .reqs
                .get_mut(&id)
                .map(|r| std::mem::take(&mut r.extents))
                .unwrap_or_default();
            self.al_begin(id, ext);
        }
    }

    /// Network part of request `seq` is done (ack, or the connection is gone).
    fn net_done(&mut self, seq: u64) {
        if let Some(&id) = self.seqs.get(&seq) {
            if let Some(r) = self.reqs.get_mut(&id) {
                if r.net == Net::Pending {
                    r.net = Net::Done;
                }
            }
            self.try_complete(id);
        }
    }

    // ---- acks on the Primary ----

    pub(super) fn on_recv_ack(&mut self, seq: u64) {
        if self.cfg.protocol == Protocol::B {
            self.net_done(seq);
        }
    }

    pub(super) fn on_write_ack(&mut self, seq: u64) {
        self.net_done(seq);
    }

    pub(super) fn on_neg_ack(&mut self, seq: u64) {
        if let Some(r) = self.seqs.get(&seq).and_then(|id| self.reqs.get(id)) {
            if let ReqKind::Write { offset, len, .. } | ReqKind::Trim { offset, len } = r.kind {
                self.bitmap.set_range(offset, len);
            }
        }
        self.net_done(seq);
    }

    pub(super) fn on_barrier_ack(&mut self, nr: u32) {
        self.cong_acked(nr);
        let acked: Vec<u32> = self.unacked_epochs.range(..=nr).map(|(k, _)| *k).collect();
        for e in acked {
            for id in self.unacked_epochs.remove(&e).unwrap_or_default() {
                if let Some(r) = self.reqs.get_mut(&id) {
                    r.in_epoch = false;
                    if r.net == Net::Pending && self.cfg.protocol == Protocol::A {
                        r.net = Net::Done;
                    }
                }
                self.try_complete(id);
            }
        }
        let flushes: Vec<u32> = self.flush_waits.range(..=nr).map(|(k, _)| *k).collect();
        for e in flushes {
            for id in self.flush_waits.remove(&e).unwrap_or_default() {
                if let Some(r) = self.reqs.get_mut(&id) {
                    r.net = Net::Done;
                }
                self.try_complete(id);
            }
        }
    }

    /// Replicated writes the peer has not confirmed with a barrier-ack.
    pub(super) fn has_unconfirmed_writes(&self) -> bool {
        self.reqs
            .values()
            .any(|r| r.in_epoch || r.net == Net::Pending)
    }

    /// The peer is gone: every write it did not confirm with a barrier-ack may be missing
    /// there, so it goes into the bitmap; waiting requests complete on local completion.
    pub(super) fn tl_clear(&mut self) {
        let ids: Vec<ReqId> = self.reqs.keys().copied().collect();
        for id in ids {
            if let Some(r) = self.reqs.get_mut(&id) {
                if r.in_epoch || r.net == Net::Pending {
                    if let ReqKind::Write { offset, len, .. } | ReqKind::Trim { offset, len } =
                        r.kind
                    {
                        self.bitmap.set_range(offset, len);
                    }
                    r.in_epoch = false;
                    if r.net == Net::Pending {
                        r.net = Net::Done;
                    }
                }
            }
            self.try_complete(id);
        }
        self.unacked_epochs.clear();
        self.cong_reset();
        self.flush_waits.clear();
        self.epoch_writes = 0;
        self.epoch_close_pending = false;
        // The Secondary's unflushed epochs: their extents stay in the log until a flush.
        let held = self.recv.clear();
        if !held.is_empty() {
            self.release_after_flush(held);
        }
    }

    /// Writes the AL transaction `tx` (the whole hot set), after the bitmap words of the
    /// extents that left the log.
    pub(super) fn write_al_transaction(&mut self, tx: IoId, evicted: &[u32]) {
        for &e in evicted {
            self.persist_bitmap_extent(e);
        }
        let io = self.alloc_io();
        debug_assert_eq!(io, tx);
        self.ios.insert(io, Io::AlTx);
        self.counters.al += 1;
        let extents = self.al.hot();
        self.emit(Action::PersistAl {
            io,
            tr_number: self.al.tr_number(),
            extents,
        });
    }

    /// An activity-log transaction reached the disk (or failed): writes waiting for it go on.
    pub(super) fn al_tx_done(&mut self, io: IoId, err: Option<i32>) {
        if err.is_some() {
            self.al.failed(io);
        } else {
            self.al.committed(io);
        }
        let waiting: Vec<ReqId> = self
            .reqs
            .iter()
            .filter(|(_, r)| r.al_wait.contains(&io))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            let Some(r) = self.reqs.get_mut(&id) else {
                continue;
            };
            r.al_wait.retain(|&x| x != io);
            if let Some(e) = err {
                r.local_pending = false;
                r.local_err = Some(e);
                r.extents.clear();
                self.try_complete(id);
            } else if r.al_wait.is_empty() {
                self.issue_write(id);
            }
        }
        self.unpark_peer_writes(io);
    }
}
