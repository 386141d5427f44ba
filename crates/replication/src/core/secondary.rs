//! The Secondary's write path: replicated writes grouped in epochs, acknowledged per protocol
//! (B: on arrival, C: after the disk write), and barriers acknowledged only after every write
//! of the epoch completed and the disk was flushed (`reference/drbd.md` §1.6).

use std::collections::VecDeque;

use super::io::Io;
use super::Core;
use crate::action::Action;
use crate::al::{extents_of, Begin};
use crate::bitmap::BM_BLOCK_SIZE;
use crate::config::Protocol;
use crate::event::IoId;
use crate::state::ConnState;
use crate::wire::{DataFlags, Msg};

/// One epoch as the Secondary sees it.
#[derive(Debug, Clone)]
pub(super) struct RecvEpoch {
    serial: u64,
    /// Barrier number once the Primary closed it.
    nr: Option<u32>,
    pending: u32,
    size: u32,
    flushing: bool,
    /// Activity-log extents its writes hold until the epoch is flushed.
    extents: Vec<u32>,
}

/// A replicated write waiting for the AL transaction that records its extent.
#[derive(Debug, Clone)]
pub(super) struct AlParked {
    waits: Vec<IoId>,
    io: IoId,
    offset: u64,
    len: u64,
    op: Action,
}

/// The Secondary's side of the transfer log.
#[derive(Debug, Default)]
pub(super) struct Recv {
    epochs: VecDeque<RecvEpoch>,
    next_serial: u64,
}

impl Recv {
    pub fn unacked(&self) -> u64 {
        self.epochs.iter().map(|e| u64::from(e.pending)).sum()
    }
    /// Forgets the epochs (the connection is gone) and returns the AL extents they held.
    pub fn clear(&mut self) -> Vec<u32> {
        self.epochs.drain(..).flat_map(|e| e.extents).collect()
    }
    fn open(&mut self) -> &mut RecvEpoch {
        if self.epochs.back().is_none_or(|e| e.nr.is_some()) {
            self.next_serial += 1;
            self.epochs.push_back(RecvEpoch {
                serial: self.next_serial,
                nr: None,
                pending: 0,
                size: 0,
                flushing: false,
                extents: Vec::new(),
            });
        }
        self.epochs.back_mut().expect("just pushed")
    }
}

impl Core {
    pub(super) fn on_data(
        &mut self,
        sector: u64,
        seq: u64,
        flags: DataFlags,
        size: u32,
        payload: Vec<u8>,
    ) {
        let offset = sector.saturating_mul(512);
        let len = u64::from(size);
        self.note_app_io(len);
        let size_ok = if flags.trim() {
            payload.is_empty()
        } else {
            payload.len() as u64 == len
        };
        if !size_ok || self.check_range(offset, len).is_err() {
            return self.protocol_error(format!(
                "write at sector {sector} of {size} bytes does not fit the {}-byte device",
                self.cfg.size
            ));
        }
        if self.role == crate::Role::Primary && !self.cfg.allow_two_primaries {
            return self.protocol_error("peer wrote to a Primary without allow-two-primaries");
        }
        self.counters.nr += len / 1024;
        // On its way to our disk (possibly waiting for the activity log first).
        for b in crate::bitmap::block_range(offset, len) {
            *self.sync.peer_writes_pending.entry(b).or_insert(0) += 1;
        }
        if self.cfg.protocol == Protocol::B {
            self.send(Msg::RecvAck { seq });
        }
        #[cfg(feature = "sim-bug")]
        if self.bugs.write_ack_on_receive && self.cfg.protocol == Protocol::C {
            self.send(Msg::WriteAck { seq });
        }
        // The Secondary logs the extents it writes to as well: if it crashes before a barrier
        // made them durable, its restart marks them out of sync.
        let extents = extents_of(offset, len);
        let tx = self.next_io;
        let (waits, held) = match self.al.begin(&extents, tx) {
            Begin::Ready => (Vec::new(), extents),
            Begin::Wait {
                ios,
                new_tx,
                evicted,
            } => {
                if new_tx {
                    self.write_al_transaction(tx, &evicted);
                }
                (ios, extents)
            }
            Begin::Full => {
                // No room: the blocks go into the on-disk bitmap instead (resynced later).
                self.set_out_of_sync_durably(offset, len);
                (Vec::new(), Vec::new())
            }
        };
        let ep = self.recv.open();
        ep.pending += 1;
        ep.size += 1;
        ep.extents.extend(held);
        let serial = ep.serial;
        let io = self.alloc_io();
        self.ios.insert(
            io,
            Io::PeerWrite {
                gen: self.conn_gen,
                seq,
                serial,
                offset,
                len,
            },
        );
        self.counters.dw += len / 1024;
        let op = if flags.trim() {
            Action::Trim { io, offset, len }
        } else {
            Action::Write {
                io,
                offset,
                data: payload,
                fua: flags.fua(),
            }
        };
        if waits.is_empty() {
            self.submit_local_write(io, offset, len, op);
        } else {
            self.al_parked.push(AlParked {
                waits,
                io,
                offset,
                len,
                op,
            });
        }
    }

    /// An AL transaction completed: replicated writes waiting only for it go to the disk.
    pub(super) fn unpark_peer_writes(&mut self, tx: IoId) {
        let mut ready = Vec::new();
        self.al_parked.retain_mut(|p| {
            p.waits.retain(|&w| w != tx);
            if p.waits.is_empty() {
                ready.push(p.clone());
                false
            } else {
                true
            }
        });
        for p in ready {
            self.submit_local_write(p.io, p.offset, p.len, p.op);
        }
    }

    pub(super) fn on_barrier(&mut self, nr: u32) {
        let ep = self.recv.open();
        ep.nr = Some(nr);
        self.progress_barriers();
    }

    /// Flushes the oldest closed epoch once all its writes are done; acks after the flush.
    fn progress_barriers(&mut self) {
        let Some(front) = self.recv.epochs.front_mut() else {
            return;
        };
        if front.nr.is_some() && front.pending == 0 && !front.flushing {
            front.flushing = true;
            let serial = front.serial;
            let io = self.alloc_io();
            self.ios.insert(
                io,
                Io::BarrierFlush {
                    gen: self.conn_gen,
                    serial,
                },
            );
            self.emit_flush(io);
        }
    }

    /// A replicated write is on our disk: acknowledge it as the protocol says.
    pub(super) fn peer_write_done(
        &mut self,
        gen: u64,
        seq: u64,
        serial: u64,
        offset: u64,
        len: u64,
        err: Option<i32>,
    ) {
        self.local_write_finished(offset, len);
        if err.is_some() {
            self.bitmap.set_range(offset, len);
        } else if matches!(self.cs, ConnState::SyncTarget | ConnState::PausedSyncT) {
            // A full-block application write brings that block in sync.
            self.clear_fully_covered(offset, len);
        }
        // Whatever happened, this write is no longer on its way.
        for b in crate::bitmap::block_range(offset, len) {
            let left = match self.sync.peer_writes_pending.get_mut(&b) {
                Some(n) => {
                    *n = n.saturating_sub(1);
                    *n
                }
                None => 0,
            };
            if left == 0 {
                self.sync.peer_writes_pending.remove(&b);
                self.sync.stale_peer_writes.remove(&b);
            }
        }
        if gen == self.conn_gen {
            if let Some(ep) = self.recv.epochs.iter_mut().find(|e| e.serial == serial) {
                ep.pending = ep.pending.saturating_sub(1);
            }
            match (err, self.cfg.protocol) {
                (Some(_), _) => self.send(Msg::NegAck { seq }),
                (None, Protocol::C) => self.send(Msg::WriteAck { seq }),
                _ => {}
            }
            self.progress_barriers();
        }
        self.sync_pump();
    }

    /// The flush that closes an epoch is done: now the barrier may be acknowledged.
    pub(super) fn barrier_flushed(&mut self, gen: u64, serial: u64) {
        if gen == self.conn_gen {
            if let Some(front) = self.recv.epochs.front() {
                if front.serial == serial {
                    let nr = front.nr.unwrap_or(0);
                    let size = front.size;
                    if let Some(ep) = self.recv.epochs.pop_front() {
                        // Durable now: the extents may leave the log.
                        self.al.release(&ep.extents);
                    }
                    self.send(Msg::BarrierAck { nr, set_size: size });
                    self.progress_barriers();
                }
            }
        }
    }

    /// Clears the bits of blocks the range covers entirely, except those the peer marked out
    /// of sync again (`OutOfSync`) while this write was on its way: they hold older data.
    pub(super) fn clear_fully_covered(&mut self, offset: u64, len: u64) {
        let first = offset.div_ceil(BM_BLOCK_SIZE);
        let end = (offset + len) / BM_BLOCK_SIZE;
        let mut from = first;
        for b in first..end {
            if self.sync.stale_peer_writes.remove(&b) {
                self.clear_in_sync(from, b);
                from = b + 1;
            }
        }
        self.clear_in_sync(from, end.max(from));
    }
}
