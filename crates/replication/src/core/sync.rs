//! Resync and online verify.
//!
//! Resync is pulled by the SyncTarget (`reference/drbd.md` §1.9): it walks its bitmap and
//! requests runs of adjacent out-of-sync blocks, up to [`MAX_RS_REQUEST`] bytes each, many in
//! flight. How much it may ask for is DRBD's choice of two:
//! - `c-plan-ahead 0`: a token bucket filled at `resync-rate` (capped by `c-max-rate`). It starts
//!   full and refills from the time that passed, so a resync never first waits for a tick;
//! - otherwise (DRBD 8.4's default) the dynamic controller: keep a window of `c-fill-target`
//!   bytes of requests in flight (or, with a fill target of 0, what arrives in `c-delay-target`),
//!   refilled as replies come in, at most `c-max-rate` per 100 ms step. shimai's window is never
//!   smaller than [`MIN_WINDOW`]: requests go out as whole runs of up to 1 MiB, and DRBD's
//!   50 KiB default would cut every run to a dozen blocks.
//!
//! Either way, while application I/O competes for this node's disk (client I/O, or replicated
//! writes on a Secondary) resync slows to `c-min-rate` per step, as DRBD's
//! `drbd_rs_should_slow_down` does; an idle disk resyncs at full speed.
//!
//! The SyncSource answers a request with the run's data, or with "in sync" when no block of it
//! is out of sync any more. The source never reads a block while an application write to it is
//! on the disk, and re-reads it if one started meanwhile, so a reply never carries data older
//! than a write the target already received.
//!
//! When the target's bitmap is empty it flushes its disk, tells the source, and both rotate
//! their identifiers to `[source.Current, 0, sync_uuid, old source bitmap]`.

use std::collections::{BTreeMap, BTreeSet};

use super::io::Io;
use super::Core;
use crate::action::{Action, Level};
use crate::bitmap::BM_BLOCK_SIZE;
use crate::event::DiskResult;
use crate::handshake::Handler;
use crate::state::{ConnState, DiskState};
use crate::wire::Msg;

/// Verify requests (one block each) and fixed-rate resync requests in flight at most.
const MAX_INFLIGHT: usize = 32;
const BLOCK: u32 = BM_BLOCK_SIZE as u32;
/// The largest resync request: 256 bitmap blocks.
pub const MAX_RS_REQUEST: u64 = 1 << 20;
/// The dynamic controller's smallest window of requests in flight.
pub const MIN_WINDOW: u64 = 2 * MAX_RS_REQUEST;
/// The controller's step, as DRBD's (`SLEEP_TIME`): the ticks' period.
const STEP_MS: u64 = 100;

/// Progress of an online verify run (on the VerifyS side).
#[derive(Debug, Clone, Default)]
pub(super) struct Verify {
    cursor: u64,
    end: u64,
}

#[derive(Debug, Default)]
pub(super) struct SyncState {
    pub cursor: u64,
    /// Blocks requested from the peer by online verify (VerifyS).
    pub inflight: BTreeSet<u64>,
    /// Resync runs requested from the peer and not yet on our disk: first block -> (blocks,
    /// whether the reply arrived and its write is under way). A run stays here until its
    /// write completes, so its blocks, still set in the bitmap, are not asked for again.
    pub rs_inflight: BTreeMap<u64, (u64, bool)>,
    /// Bytes requested and not yet on our disk (requests in flight plus their writes).
    pub rs_pending: u64,
    /// Resync writes on our disk.
    pub writes: u32,
    /// Fixed rate: bytes we may request now.
    pub tokens: u64,
    pub last_refill: u64,
    /// Bytes requested in the current controller step.
    pub step_sent: u64,
    /// Resync bytes that arrived in the current step, and the smoothed figure per step.
    pub step_in: u64,
    pub rate_in: u64,
    /// Application bytes on this node's disk in the current step.
    pub app_io: u64,
    /// Applications used the disk in this step or the last: resync yields.
    pub app_busy: bool,
    pub total_bits: u64,
    pub started_ms: u64,
    /// The target's final flush is on the disk.
    pub finishing: bool,
    pub user_paused: bool,
    /// Source: requests waiting for application writes to the same blocks.
    pub deferred: Vec<(u64, u32)>,
    pub verify: Option<Verify>,
    /// Blocks the last verify found different.
    pub verify_oos: u64,
    /// Target: our `ResyncFinished` is out, the source's confirmation is not in yet.
    pub awaiting_finish_ack: bool,
    /// Blocks the peer marked out of sync while an older replicated write to them was on our
    /// disk: that write's completion leaves their bits set.
    pub stale_peer_writes: BTreeSet<u64>,
    /// Replicated writes received and not yet on our disk, per block.
    pub peer_writes_pending: BTreeMap<u64, u32>,
    /// Target: this resync sends digests (`csums-alg`) instead of plain requests.
    pub csums: Option<crate::digest::DigestAlg>,
    /// Source: the target's digests of requested blocks, by sector.
    pub csum_digests: std::collections::BTreeMap<u64, Vec<u8>>,
    /// Blocks the checksums found equal (not sent), since the resync started.
    pub csums_equal: u64,
}

impl SyncState {
    pub fn verify_active(&self) -> bool {
        self.verify.is_some()
    }
    pub fn verify_left(&self) -> u64 {
        self.verify.as_ref().map_or(0, |v| {
            v.end.saturating_sub(v.cursor) + self.inflight.len() as u64
        })
    }
    /// Average rate since the start, KiB/s.
    pub fn rate_kib_s(&self, now: u64, left_bits: u64) -> u64 {
        let done = self.total_bits.saturating_sub(left_bits) * 4;
        let ms = now.saturating_sub(self.started_ms).max(1);
        done * 1000 / ms
    }
    /// Requests in flight, for the `pe` counter.
    pub fn requests_in_flight(&self) -> u64 {
        (self.inflight.len() + self.rs_inflight.len()) as u64
    }
    /// Whether resync block `bit` is part of a request in flight.
    pub(super) fn rs_requested(&self, bit: u64) -> bool {
        self.rs_inflight
            .range(..=bit)
            .next_back()
            .is_some_and(|(first, (n, _))| bit < first + n)
    }
}

impl Core {
    /// Validates a block address from the peer: one aligned 4 KiB block inside the device.
    /// Anything else is a protocol error (the connection drops) and yields `None`.
    fn peer_block(&mut self, sector: u64, size: u32) -> Option<u64> {
        if size != BLOCK {
            self.protocol_error(format!(
                "peer named sector {sector} size {size}: not a 4 KiB block of the device"
            ));
            return None;
        }
        self.peer_run(sector, size)
    }

    /// Validates a resync run from the peer: whole aligned 4 KiB blocks, at most
    /// [`MAX_RS_REQUEST`] bytes, inside the device.
    fn peer_run(&mut self, sector: u64, size: u32) -> Option<u64> {
        let Some(offset) = sector.checked_mul(512) else {
            self.protocol_error(format!("peer named sector {sector}: beyond any device"));
            return None;
        };
        let ok = size >= BLOCK
            && u64::from(size) <= MAX_RS_REQUEST
            && size.is_multiple_of(BLOCK)
            && offset % BM_BLOCK_SIZE == 0
            && offset
                .checked_add(u64::from(size))
                .is_some_and(|end| end <= self.cfg.size);
        if ok {
            Some(offset)
        } else {
            self.protocol_error(format!(
                "peer named sector {sector} size {size}: not a run of 4 KiB blocks of the device"
            ));
            None
        }
    }

    pub(super) fn start_resync(&mut self, source: bool) {
        self.sync.total_bits = self.bitmap.count();
        self.sync.started_ms = self.now;
        self.sync.cursor = 0;
        self.sync.inflight.clear();
        self.sync.rs_inflight.clear();
        self.sync.rs_pending = 0;
        self.sync.finishing = false;
        self.sync.awaiting_finish_ack = false;
        self.sync.last_refill = self.now;
        // The bucket starts full: the first requests go out now, not after a tick.
        self.sync.tokens = self.rs_burst();
        self.sync.step_sent = 0;
        self.sync.csums_equal = 0;
        self.sync.csums = if source {
            None
        } else {
            self.csums_for_this_resync()
        };
        self.log(
            Level::Info,
            format!(
                "Began resync as {} (will sync {} KB [{} bits set]).",
                if source { "SyncSource" } else { "SyncTarget" },
                self.sync.total_bits * 4,
                self.sync.total_bits
            ),
        );
        if source {
            self.set_pdsk(DiskState::Inconsistent);
            self.set_cs(ConnState::SyncSource);
        } else {
            self.set_cs(ConnState::SyncTarget);
        }
        self.update_pause();
        self.sync_pump();
    }

    /// Applies the user and peer pause flags to the connection state.
    pub(super) fn update_pause(&mut self) {
        let paused = self.sync.user_paused || self.conn.as_ref().is_some_and(|c| c.peer_paused);
        let to = match (self.cs, paused) {
            (ConnState::SyncSource, true) => ConnState::PausedSyncS,
            (ConnState::SyncTarget, true) => ConnState::PausedSyncT,
            (ConnState::PausedSyncS, false) => ConnState::SyncSource,
            (ConnState::PausedSyncT, false) => ConnState::SyncTarget,
            (cs, _) => cs,
        };
        self.set_cs(to);
        self.sync_pump();
    }

    pub(super) fn sync_reset(&mut self) {
        self.sync.stale_peer_writes.clear();
        self.sync.peer_writes_pending.clear();
        self.sync.inflight.clear();
        self.sync.rs_inflight.clear();
        self.sync.rs_pending = 0;
        self.sync.writes = 0;
        self.sync.finishing = false;
        self.sync.deferred.clear();
        self.sync.verify = None;
        self.sync.awaiting_finish_ack = false;
        self.sync.csum_digests.clear();
    }

    /// The fixed-rate bucket's size: one step's worth, at least one block.
    fn rs_burst(&self) -> u64 {
        (self.cfg.resync_bytes_per_sec() * STEP_MS / 1000).max(u64::from(BLOCK))
    }

    /// Application I/O of `len` bytes on this node's disk: resync yields to it.
    pub(super) fn note_app_io(&mut self, len: u64) {
        self.sync.app_io = self.sync.app_io.saturating_add(len.max(1));
        self.sync.app_busy = true;
    }

    /// A controller step (every tick): refill the bucket from the time that passed, measure
    /// what arrived, and note whether applications used the disk.
    pub(super) fn sync_tick(&mut self) {
        let elapsed = self.now.saturating_sub(self.sync.last_refill);
        self.sync.last_refill = self.now;
        let rate = self.cfg.resync_bytes_per_sec();
        self.sync.tokens = (self.sync.tokens + rate * elapsed / 1000).min(self.rs_burst());
        self.sync.rate_in = (self.sync.rate_in + self.sync.step_in) / 2;
        self.sync.step_in = 0;
        self.sync.step_sent = 0;
        self.sync.app_busy = self.sync.app_io > 0;
        self.sync.app_io = 0;
        self.sync_pump();
    }

    /// Bytes of resync requests this node may still issue now.
    fn rs_allowance(&self) -> u64 {
        let step_cap =
            |per_sec: u64| (per_sec * STEP_MS / 1000).saturating_sub(self.sync.step_sent);
        let mut allow = if self.cfg.dynamic_resync() {
            let window = if self.cfg.c_fill_target_bytes > 0 {
                self.cfg.c_fill_target_bytes
            } else {
                // What arrives in c-delay-target, at the rate measured per step.
                self.sync.rate_in * u64::from(self.cfg.c_delay_target_ds)
            };
            let room = window.max(MIN_WINDOW).saturating_sub(self.sync.rs_pending);
            match self.cfg.c_max_bytes_per_sec() {
                Some(max) => room.min(step_cap(max)),
                None => room,
            }
        } else if self.sync.rs_inflight.len() >= MAX_INFLIGHT {
            0
        } else {
            self.sync.tokens
        };
        if self.sync.app_busy && self.cfg.c_min_rate_kib > 0 {
            allow = allow.min(step_cap(u64::from(self.cfg.c_min_rate_kib) * 1024));
        }
        allow
    }

    /// Issues what the token bucket allows; finishes the resync or verify when done.
    pub(super) fn sync_pump(&mut self) {
        self.retry_deferred_rs();
        match self.cs {
            ConnState::SyncTarget => self.resync_pump(),
            ConnState::VerifyS => self.verify_pump(),
            _ => {}
        }
    }

    fn resync_pump(&mut self) {
        loop {
            let allow = self.rs_allowance();
            let mut max_blocks = allow.min(MAX_RS_REQUEST) / BM_BLOCK_SIZE;
            if self.sync.csums.is_some() {
                // Checksums compare what a request covers: one block each, so that a block
                // that differs does not carry its equal neighbours over the link.
                max_blocks = max_blocks.min(1);
            }
            if max_blocks == 0 {
                break;
            }
            let Some((first, n)) = self.next_wanted_run(max_blocks) else {
                break;
            };
            let bytes = n * BM_BLOCK_SIZE;
            self.sync.rs_inflight.insert(first, (n, false));
            self.sync.rs_pending += bytes;
            self.sync.step_sent += bytes;
            self.sync.tokens = self.sync.tokens.saturating_sub(bytes);
            self.sync.cursor = first + n;
            self.request_block(first * (BM_BLOCK_SIZE / 512), bytes as u32);
        }
        if self.bitmap.count() == 0
            && self.sync.rs_inflight.is_empty()
            && self.sync.writes == 0
            && !self.sync.finishing
        {
            // Everything is on our disk; make it durable before declaring it UpToDate.
            self.sync.finishing = true;
            let io = self.alloc_io();
            self.ios.insert(io, Io::RsEndFlush { gen: self.conn_gen });
            self.emit_flush(io);
        }
    }

    /// The next run of out-of-sync blocks not yet requested, at most `max` blocks long,
    /// wrapping once: bits set behind the cursor (by `OutOfSync` or a failed write) are
    /// picked up on the next pass.
    fn next_wanted_run(&self, max: u64) -> Option<(u64, u64)> {
        let first = self.next_wanted_bit()?;
        let mut n = 1;
        while n < max
            && first + n < self.bitmap.len()
            && self.bitmap.get(first + n)
            && !self.sync.rs_requested(first + n)
        {
            n += 1;
        }
        Some((first, n))
    }

    fn next_wanted_bit(&self) -> Option<u64> {
        for start in [self.sync.cursor, 0] {
            let mut from = start;
            while let Some(b) = self.bitmap.next_set(from) {
                if !self.sync.rs_requested(b) {
                    return Some(b);
                }
                from = b + 1;
            }
        }
        None
    }

    pub(super) fn on_rs_request(&mut self, sector: u64, size: u32) {
        if !self.cs.is_syncing() {
            return self.protocol_error("resync request while not SyncSource");
        }
        let Some(offset) = self.peer_run(sector, size) else {
            return;
        };
        let blocks = crate::bitmap::block_range(offset, u64::from(size));
        if !blocks.clone().any(|b| self.bitmap.get(b)) {
            self.sync.csum_digests.remove(&sector);
            return self.send(Msg::ResyncInSync { sector, size });
        }
        self.sync.deferred.push((sector, size));
        self.retry_deferred_rs();
    }

    fn retry_deferred_rs(&mut self) {
        if self.sync.deferred.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.sync.deferred);
        for (sector, size) in pending {
            let offset = sector * 512;
            let busy = crate::bitmap::block_range(offset, u64::from(size))
                .any(|b| self.wq.busy.contains(&b));
            if busy {
                self.sync.deferred.push((sector, size));
                continue;
            }
            let io = self.alloc_io();
            self.ios.insert(
                io,
                Io::RsRead {
                    gen: self.conn_gen,
                    sector,
                    size,
                    dirty: false,
                },
            );
            self.counters.dr += u64::from(size) / 1024;
            self.emit(Action::Read {
                io,
                offset,
                len: u64::from(size),
            });
        }
    }

    /// An application write starts: resync reads of its blocks may return stale data.
    pub(super) fn mark_rs_reads_dirty(&mut self, offset: u64, len: u64) {
        let end = offset + len;
        for io in self.ios.values_mut() {
            if let Io::RsRead {
                sector,
                size,
                dirty,
                ..
            } = io
            {
                let s = *sector * 512;
                if s < end && offset < s + u64::from(*size) {
                    *dirty = true;
                }
            }
        }
    }

    pub(super) fn rs_read_done(
        &mut self,
        gen: u64,
        sector: u64,
        size: u32,
        dirty: bool,
        result: DiskResult,
    ) {
        if gen != self.conn_gen {
            return;
        }
        if dirty {
            self.sync.deferred.push((sector, size));
            return self.retry_deferred_rs();
        }
        match result {
            DiskResult::Data(payload) if payload.len() == size as usize => {
                if self.csum_equal(sector, size, &payload) {
                    return;
                }
                self.counters.ns += u64::from(size) / 1024;
                self.send(Msg::ResyncReply { sector, payload });
            }
            _ => self.protocol_error(format!(
                "local read of sector {sector} failed during resync; fix the disk, then reconnect"
            )),
        }
    }

    pub(super) fn on_rs_reply(&mut self, sector: u64, payload: Vec<u8>) {
        let size = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let Some(offset) = self.peer_run(sector, size) else {
            return;
        };
        let bit = offset / BM_BLOCK_SIZE;
        let blocks = u64::from(size) / BM_BLOCK_SIZE;
        match self.sync.rs_inflight.get_mut(&bit) {
            Some((n, replied)) if *n == blocks && !*replied => *replied = true,
            _ => {
                return self.protocol_error(format!(
                    "unrequested resync reply for sector {sector} ({size} bytes)"
                ))
            }
        }
        self.sync.step_in += u64::from(size);
        let io = self.alloc_io();
        self.ios.insert(
            io,
            Io::RsWrite {
                gen: self.conn_gen,
                sector,
                size,
            },
        );
        self.sync.writes += 1;
        self.counters.nr += u64::from(size) / 1024;
        self.counters.dw += u64::from(size) / 1024;
        self.submit_local_write(
            io,
            offset,
            u64::from(size),
            Action::Write {
                io,
                offset,
                data: payload,
                fua: false,
            },
        );
    }

    pub(super) fn rs_write_done(&mut self, gen: u64, sector: u64, size: u32, err: Option<i32>) {
        let offset = sector * 512;
        self.local_write_finished(offset, u64::from(size));
        if gen != self.conn_gen {
            return;
        }
        self.sync.writes = self.sync.writes.saturating_sub(1);
        self.sync.rs_pending = self.sync.rs_pending.saturating_sub(u64::from(size));
        self.sync.rs_inflight.remove(&(offset / BM_BLOCK_SIZE));
        if err.is_none() {
            // Not the blocks the peer marked out of sync again while this write was on its way.
            self.clear_fully_covered(offset, u64::from(size));
            self.send(Msg::ResyncWriteAck { sector, size });
        }
        self.sync_pump();
    }

    pub(super) fn on_rs_in_sync(&mut self, sector: u64, size: u32) {
        let Some(offset) = self.peer_run(sector, size) else {
            return;
        };
        let blocks = u64::from(size) / BM_BLOCK_SIZE;
        if self.sync.rs_inflight.get(&(offset / BM_BLOCK_SIZE)) == Some(&(blocks, false)) {
            self.sync.rs_inflight.remove(&(offset / BM_BLOCK_SIZE));
            self.sync.rs_pending = self.sync.rs_pending.saturating_sub(u64::from(size));
            // Not the blocks the peer marked out of sync again meanwhile.
            for b in crate::bitmap::block_range(offset, u64::from(size)) {
                if !self.sync.stale_peer_writes.remove(&b) {
                    self.bitmap.clear(b);
                }
            }
        }
        self.sync_pump();
    }

    pub(super) fn on_rs_write_ack(&mut self, sector: u64, size: u32) {
        if let Some(offset) = self.peer_run(sector, size) {
            self.bitmap.clear_range(offset, u64::from(size));
        }
    }

    pub(super) fn rs_end_flush_done(&mut self, gen: u64) {
        if gen != self.conn_gen {
            return;
        }
        if self.cs != ConnState::SyncTarget {
            // Paused meanwhile: finish after the resume.
            self.sync.finishing = false;
            return;
        }
        if self.bitmap.count() > 0 {
            // Bits arrived while flushing: another pass.
            self.sync.finishing = false;
            return self.sync_pump();
        }
        // Two phases: the source rotates its identifiers first and confirms; only then do we
        // adopt its generation. Were we to adopt first and the confirmation got lost, both
        // nodes would share the source's current identifier while the source, still holding a
        // bitmap generation, would not open a new one for writes it makes alone.
        self.sync.awaiting_finish_ack = true;
        self.send(Msg::ResyncFinished);
    }

    pub(super) fn on_rs_finished(&mut self) {
        match self.cs {
            ConnState::SyncTarget | ConnState::PausedSyncT if self.sync.awaiting_finish_ack => {
                self.sync.awaiting_finish_ack = false;
                self.finish_resync(false);
            }
            ConnState::SyncSource | ConnState::PausedSyncS => {
                self.finish_resync(true);
                self.send(Msg::ResyncFinished);
            }
            _ => self.protocol_error("resync finished while not syncing"),
        }
    }

    fn finish_resync(&mut self, source: bool) {
        let Some(c) = self.conn.as_ref() else { return };
        let sync_uuid = c.sync_uuid;
        let source_gi = c.source_gi;
        if source {
            self.bitmap.clear_all();
            let b = self.gi.bitmap;
            self.gi.push_history(b);
            self.gi.bitmap = 0;
            // Both hold this node's data now: an Outdated or Consistent source is current.
            if self.disk > DiskState::Inconsistent {
                self.set_disk(DiskState::UpToDate);
            }
            self.set_pdsk(DiskState::UpToDate);
        } else if let Some(mut g) = source_gi {
            g.set_bitmap(sync_uuid);
            let b = g.bitmap;
            g.push_history(b);
            g.bitmap = 0;
            g.current = (g.current & !1) | u64::from(self.role == crate::Role::Primary);
            self.gi = g;
            self.set_disk(DiskState::UpToDate);
            self.set_pdsk(DiskState::UpToDate);
        }
        self.set_cs(ConnState::Connected);
        self.persist_meta();
        self.persist_bitmap_all();
        let secs = self.now.saturating_sub(self.sync.started_ms) / 1000;
        self.log(
            Level::Info,
            format!(
                "Resync done (total {secs} sec; {} K)",
                self.sync.total_bits * 4
            ),
        );
    }

    // ---- online verify ----

    pub(super) fn start_verify(&mut self) {
        self.sync.verify = Some(Verify {
            cursor: 0,
            end: self.bitmap.len(),
        });
        self.sync.verify_oos = 0;
        self.sync.total_bits = self.bitmap.len();
        self.sync.started_ms = self.now;
        self.sync.inflight.clear();
        self.sync.tokens = self.rs_burst();
        self.sync.last_refill = self.now;
        self.set_cs(ConnState::VerifyS);
        self.sync_pump();
    }

    fn verify_pump(&mut self) {
        let Some(mut v) = self.sync.verify.take() else {
            return;
        };
        while self.sync.tokens >= u64::from(BLOCK)
            && self.sync.inflight.len() < MAX_INFLIGHT
            && v.cursor < v.end
        {
            let bit = v.cursor;
            v.cursor += 1;
            self.sync.tokens -= u64::from(BLOCK);
            self.sync.inflight.insert(bit);
            self.send(Msg::VerifyRequest {
                sector: bit * (BM_BLOCK_SIZE / 512),
                size: BLOCK,
            });
        }
        let done = v.cursor >= v.end && self.sync.inflight.is_empty();
        self.sync.verify = Some(v);
        if done {
            self.sync.verify = None;
            self.send(Msg::VerifyFinished);
            self.set_cs(ConnState::Connected);
            let oos = self.sync.verify_oos;
            self.log(
                Level::Info,
                format!("Online verify done, {} KiB out of sync", oos * 4),
            );
            if oos > 0 {
                self.emit(Action::CallHandler(Handler::OutOfSync));
            }
        }
    }

    pub(super) fn on_verify_request(&mut self, sector: u64, size: u32) {
        if self.cs == ConnState::Connected {
            self.set_cs(ConnState::VerifyT);
        }
        if self.cs != ConnState::VerifyT || size != BLOCK {
            return self.protocol_error("verify request outside online verify");
        }
        self.verify_read(sector, size, None);
    }

    fn verify_read(&mut self, sector: u64, size: u32, peer_digest: Option<Vec<u8>>) {
        let Some(offset) = self.peer_block(sector, size) else {
            return;
        };
        let io = self.alloc_io();
        self.ios.insert(
            io,
            Io::VerifyRead {
                gen: self.conn_gen,
                sector,
                size,
                peer_digest,
            },
        );
        self.counters.dr += u64::from(size) / 1024;
        self.emit(Action::Read {
            io,
            offset,
            len: u64::from(size),
        });
    }

    pub(super) fn on_verify_reply(&mut self, sector: u64, size: u32, digest: Vec<u8>) {
        let bit = sector / (BM_BLOCK_SIZE / 512);
        if self.cs != ConnState::VerifyS || !self.sync.inflight.contains(&bit) {
            return self.protocol_error("unrequested verify reply");
        }
        self.verify_read(sector, size, Some(digest));
    }

    pub(super) fn verify_read_done(
        &mut self,
        gen: u64,
        sector: u64,
        size: u32,
        peer_digest: Option<Vec<u8>>,
        result: DiskResult,
    ) {
        if gen != self.conn_gen {
            return;
        }
        let DiskResult::Data(data) = result else {
            return self.protocol_error(format!(
                "local read of sector {sector} failed during verify"
            ));
        };
        // The negotiated verify-alg; SHA-256 with a peer that predates SyncParams.
        let alg = self
            .conn
            .as_ref()
            .and_then(|c| c.verify)
            .unwrap_or(crate::digest::DigestAlg::Sha256);
        let digest = alg.digest(&data);
        match peer_digest {
            None => self.send(Msg::VerifyReply {
                sector,
                size,
                digest,
            }),
            Some(peer) => {
                let bit = sector / (BM_BLOCK_SIZE / 512);
                self.sync.inflight.remove(&bit);
                let in_sync = peer == digest;
                if !in_sync {
                    self.sync.verify_oos += 1;
                    self.set_out_of_sync_durably(sector * 512, u64::from(size));
                    self.log(
                        Level::Warn,
                        format!("Out of sync: sector {sector}, size {size}"),
                    );
                }
                self.send(Msg::VerifyResult {
                    sector,
                    size,
                    in_sync,
                });
                self.sync_pump();
            }
        }
    }

    pub(super) fn on_verify_result(&mut self, sector: u64, size: u32, in_sync: bool) {
        if in_sync {
            return;
        }
        if let Some(offset) = self.peer_block(sector, size) {
            self.sync.verify_oos += 1;
            self.set_out_of_sync_durably(offset, u64::from(size));
        }
    }

    pub(super) fn on_verify_finished(&mut self) {
        if self.cs == ConnState::VerifyT {
            self.set_cs(ConnState::Connected);
        }
    }
}
