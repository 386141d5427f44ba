//! The sync handshake on a live connection: the peer's identifiers and state, the decision
//! (`crate::handshake::sync_handshake` plus shimai's post-processing), renegotiation when
//! identifiers change while connected, the bitmap exchange and the sync UUID.

use super::Core;
use crate::action::{Action, Level};
use crate::gi::GenerationIds;
use crate::handshake::{sync_handshake, DropReason, Policies, Side};
use crate::meta::MdFlags;
use crate::state::{ConnState, DiskState, Role};
use crate::wire::{self, Msg};

/// Bitmap runs per `Msg::Bitmap` slice, which keeps each frame small.
const RUNS_PER_SLICE: usize = 4096;

impl Core {
    pub(super) fn on_uuids(&mut self, gi: GenerationIds, bits: u64, flags: u32) {
        let Some(c) = self.conn.as_mut() else { return };
        c.peer_gi = Some(gi);
        c.peer_bits = bits;
        c.peer_uuid_flags = flags;
        let (decided, renegotiating) = (c.decided, c.renegotiating);
        if !decided && !renegotiating {
            // The initial handshake.
            return self.maybe_decide();
        }
        if decided {
            // The peer's identifiers changed on a running connection: it renegotiates.
            let in_resync = self.cs.is_syncing()
                || (self.cs >= ConnState::WFBitMapS && self.cs <= ConnState::WFSyncUUID);
            if in_resync {
                return;
            }
            if flags & wire::UUID_FLAG_SKIP_INITIAL_SYNC != 0
                && crate::gi::masked(self.gi.current) == crate::gi::UUID_JUST_CREATED
            {
                // new-current-uuid --clear-bitmap on the peer: adopt its generation, no sync.
                self.gi.current = gi.current & !1;
                self.gi.bitmap = 0;
                self.bitmap.clear_all();
                self.persist_bitmap_all();
                self.set_disk(DiskState::UpToDate);
                self.set_pdsk(DiskState::UpToDate);
                self.persist_meta();
                return;
            }
        }
        let crossed = !decided && flags & wire::UUID_FLAG_REPLY == 0;
        let we_invalidate_peer = self
            .conn
            .as_ref()
            .is_some_and(|c| c.sent_uuid_flags & wire::UUID_FLAG_INVALIDATE_PEER != 0);
        let rc = self.conn.as_ref().is_some_and(|c| c.resolve_conflicts);
        let primary_refuses =
            flags & wire::UUID_FLAG_INVALIDATE_PEER != 0 && self.role == Role::Primary;
        if primary_refuses {
            // The peer did not know yet that we are Primary: our data is in use, keep it.
            self.log(
                Level::Warn,
                "peer asked to invalidate this node's data, refused: this node is Primary",
            );
        }
        if flags & wire::UUID_FLAG_INVALIDATE_PEER != 0
            && !primary_refuses
            && !(crossed && we_invalidate_peer && rc)
        {
            // (Both asked to invalidate the other at once: the tie-breaker's request wins.)
            self.set_disk(DiskState::Inconsistent);
            self.bitmap.set_all();
            self.persist_bitmap_all();
        }
        if crossed {
            // Both nodes renegotiated at once: each decided nothing yet from what the other
            // knew. Start a fresh handshake from the states as they are now.
            return self.protocol_error("renegotiations crossed; reconnecting");
        }
        if let Some(c) = self.conn.as_mut() {
            c.decided = false;
            c.renegotiating = false;
            c.bitmap_sent = false;
            c.bitmap_received = false;
            c.sync_source = None;
        }
        if decided {
            // Answer with our own, state first: the peer decides when our identifiers arrive.
            self.send_state();
            self.send_uuids(wire::UUID_FLAG_REPLY);
        }
        self.maybe_decide();
    }

    pub(super) fn on_state(&mut self, role: Role, disk: DiskState, paused: bool) {
        let Some(c) = self.conn.as_mut() else { return };
        c.peer_state_seen = true;
        let was_paused = c.peer_paused;
        c.peer_paused = paused;
        let decided = c.decided;
        if decided
            && role == Role::Primary
            && self.role == Role::Primary
            && !self.cfg.allow_two_primaries
        {
            self.log(
                Level::Error,
                "both nodes are Primary without allow-two-primaries",
            );
            return self.protocol_error("two primaries");
        }
        self.set_peer_role(role);
        if decided {
            // Once connected, the peer reports its own disk; during a resync we know better.
            if !self.cs.is_syncing() || disk == DiskState::UpToDate {
                self.set_pdsk(disk);
            }
            if was_paused != paused {
                self.update_pause();
            }
        } else {
            self.set_pdsk(disk);
            self.maybe_decide();
        }
    }

    /// Runs the sync handshake once the peer's parameters, size, identifiers and state are in.
    pub(super) fn maybe_decide(&mut self) {
        let Some(c) = self.conn.as_ref() else { return };
        if c.decided
            || c.renegotiating
            || c.peer_params.is_none()
            || c.peer_size.is_none()
            || !c.peer_state_seen
            || !c.params_sent
        {
            return;
        }
        let Some(peer_gi) = c.peer_gi else { return };
        if self.disk < DiskState::Inconsistent {
            return self.go_standalone("no local disk to replicate");
        }
        let me = Side {
            gi: self.gi,
            role: self.role,
            disk: self.disk,
            bits: c.reported_bits,
            crashed_primary: self.flags.has(MdFlags::CRASHED_PRIMARY),
            discard_my_data: self.discard_my_data,
        };
        let peer = Side {
            gi: peer_gi,
            role: self.peer_role,
            disk: self.pdsk,
            bits: c.peer_bits,
            crashed_primary: c.peer_uuid_flags & wire::UUID_FLAG_CRASHED_PRIMARY != 0,
            discard_my_data: c.peer_uuid_flags & wire::UUID_FLAG_DISCARD_MY_DATA != 0,
        };
        let rc = c.resolve_conflicts;
        let pol = Policies {
            after_sb_0pri: self.cfg.after_sb_0pri,
            after_sb_1pri: self.cfg.after_sb_1pri,
            after_sb_2pri: self.cfg.after_sb_2pri,
            always_asbp: self.cfg.always_asbp,
            rr_conflict: self.cfg.rr_conflict,
        };
        let d = sync_handshake(&me, &peer, rc, &pol);
        let show = |s: &Side| {
            format!(
                "{:016X}:{:016X}:{:016X}:{:016X} bits:{} flags:{}{}",
                s.gi.current,
                s.gi.bitmap,
                s.gi.history[0],
                s.gi.history[1],
                s.bits,
                u8::from(s.crashed_primary),
                u8::from(s.discard_my_data)
            )
        };
        let (mine, theirs) = (show(&me), show(&peer));
        self.log(Level::Info, format!("self {mine}"));
        self.log(Level::Info, format!("peer {theirs}"));
        self.log(
            Level::Info,
            format!("uuid_compare()={} by rule {}", d.compare.hg, d.compare.rule),
        );
        if let Some(c) = self.conn.as_mut() {
            c.decided = true;
        }
        self.release_held_after_decision();
        for h in &d.handlers {
            self.emit(Action::CallHandler(*h));
        }
        if let Some(reason) = d.drop {
            let msg = match reason {
                DropReason::UnrelatedData => "Unrelated data, aborting!",
                DropReason::SplitBrain => {
                    "Split-Brain detected but unresolved, dropping connection!"
                }
                DropReason::InconsistentSource => {
                    "I shall become SyncSource, but I am inconsistent!"
                }
                DropReason::RrConflict => "I shall become SyncTarget, but I am primary!",
                DropReason::Contradictory => {
                    "Generation identifiers contradict each other, dropping connection!"
                }
            };
            self.log(Level::Error, msg);
            return self.go_standalone(msg);
        }
        if let Some(how) = d.split_brain_resolved {
            self.log(
                Level::Warn,
                format!(
                    "Split-Brain detected, resolved by {how}; this node's data is {}",
                    if d.hg.unwrap_or(0) < 0 {
                        "discarded"
                    } else {
                        "kept"
                    }
                ),
            );
        }
        if let Some(fixed) = d.compare.fixed_self {
            self.gi = fixed;
            self.persist_meta();
        }
        if let Some(fixed) = d.compare.fixed_peer {
            if let Some(c) = self.conn.as_mut() {
                c.peer_gi = Some(fixed);
            }
        }
        if d.demote {
            self.set_role(Role::Secondary);
            self.flags.set(MdFlags::PRIMARY_IND, false);
            self.send_state();
        }
        if self.role == Role::Primary
            && self.peer_role == Role::Primary
            && !self.cfg.allow_two_primaries
            && !d.demote
            && d.hg == Some(0)
        {
            self.log(
                Level::Error,
                "both nodes are Primary without allow-two-primaries: demote one, then connect",
            );
            return self.go_standalone("two primaries");
        }
        let mut hg = d.hg.unwrap_or(0);
        let peer_bits = self.conn.as_ref().map_or(0, |c| c.peer_bits);
        if hg == 0
            && self.conn.as_ref().map_or(0, |c| c.reported_bits) + peer_bits > 0
            && self.disk > DiskState::Inconsistent
            && self.pdsk > DiskState::Inconsistent
        {
            // Same generation but blocks marked out of sync (an unclean stop, a verify): DRBD
            // only warns; shimai resyncs them, from the Primary if there is one.
            let source = if self.role == Role::Primary {
                true
            } else if self.peer_role == Role::Primary {
                false
            } else {
                !rc
            };
            self.log(
                Level::Warn,
                format!(
                    "No resync by the identifiers, but {} + {peer_bits} bits in the bitmaps: resync as {}",
                    self.bitmap.count(),
                    if source { "SyncSource" } else { "SyncTarget" }
                ),
            );
            hg = if source { 1 } else { -1 };
        }
        self.discard_my_data = false;
        self.flags.set(MdFlags::CRASHED_PRIMARY, false);
        self.flags.set(MdFlags::CONNECTED_IND, true);
        if hg.abs() >= 2 {
            self.bitmap.set_all();
        }
        if hg == 0 {
            self.set_cs(ConnState::Connected);
            // Same generation on both sides: Consistent or Outdated data is current again.
            if self.disk > DiskState::Inconsistent && self.pdsk > DiskState::Inconsistent {
                self.set_disk(DiskState::UpToDate);
                self.set_pdsk(DiskState::UpToDate);
            }
            if self.bitmap.count() > 0 && self.disk == DiskState::UpToDate {
                self.log(
                    Level::Warn,
                    format!("No resync, but {} bits in bitmap!", self.bitmap.count()),
                );
            }
            self.persist_meta();
            return;
        }
        let source = hg > 0;
        if let Some(c) = self.conn.as_mut() {
            c.sync_source = Some(source);
            c.source_gi = Some(if source { self.gi } else { peer_gi });
        }
        self.set_cs(if source {
            ConnState::WFBitMapS
        } else {
            ConnState::WFBitMapT
        });
        if !source {
            // From the decision on, the peer has blocks we lack: our data is no longer fit
            // to serve or to promote without --force, even if the resync never starts (a lost
            // sync UUID would otherwise leave two UpToDate nodes sharing one generation).
            self.set_disk(DiskState::Inconsistent);
        }
        self.persist_meta();
        self.send_bitmap();
    }

    pub(super) fn send_bitmap(&mut self) {
        let runs = wire::rle::runs_of(&self.bitmap);
        let mut first_bit = 0u64;
        let mut chunks = runs.chunks(RUNS_PER_SLICE).peekable();
        if chunks.peek().is_none() {
            self.send(Msg::Bitmap {
                first_bit: 0,
                runs: Vec::new(),
                last: true,
            });
        }
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            let mut chunk = chunk.to_vec();
            // Each slice starts with a clear run; an odd-length slice ends on a clear run.
            if chunk.len() % 2 == 1 && !last {
                chunk.push(0);
            }
            let span: u64 = chunk.iter().sum();
            self.send(Msg::Bitmap {
                first_bit,
                runs: chunk,
                last,
            });
            first_bit += span;
        }
        if let Some(c) = self.conn.as_mut() {
            c.bitmap_sent = true;
        }
    }

    pub(super) fn on_bitmap(&mut self, first_bit: u64, runs: &[u64], last: bool) {
        if !matches!(self.cs, ConnState::WFBitMapS | ConnState::WFBitMapT) {
            return self.protocol_error("bitmap outside the bitmap exchange");
        }
        if !wire::rle::apply_runs(&mut self.bitmap, first_bit, runs) {
            return self.protocol_error("bitmap slice runs past the end of the device");
        }
        if !last {
            return;
        }
        if let Some(c) = self.conn.as_mut() {
            c.bitmap_received = true;
        }
        self.persist_bitmap_all();
        if self.cs == ConnState::WFBitMapS {
            let fresh = self.fresh_uuid();
            let uuid = crate::handshake::next_sync_uuid(self.gi.bitmap, fresh);
            self.gi.set_bitmap(uuid);
            self.persist_meta();
            if let Some(c) = self.conn.as_mut() {
                c.sync_uuid = uuid;
            }
            self.send(Msg::SyncUuid { uuid });
            self.start_resync(true);
        } else {
            self.set_cs(ConnState::WFSyncUUID);
        }
    }

    pub(super) fn on_sync_uuid(&mut self, uuid: u64) {
        if self.cs != ConnState::WFSyncUUID {
            return self.protocol_error("sync UUID outside the handshake");
        }
        self.gi.current = uuid & !1;
        self.gi.bitmap = 0;
        if let Some(c) = self.conn.as_mut() {
            c.sync_uuid = uuid;
        }
        self.set_disk(DiskState::Inconsistent);
        self.persist_meta();
        self.start_resync(false);
    }
}
