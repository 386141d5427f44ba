//! Connection lifecycle: hello and version negotiation, HMAC challenge/response, the exchange
//! of parameters, sizes, identifiers and states, the sync-direction decision, the bitmap
//! exchange, liveness pings, and what a lost connection does to the data generation.

use super::Core;
use crate::action::{Action, Level, TransportCmd};
use crate::config::Fencing;
use crate::gi::GenerationIds;
use crate::handshake::{sync_handshake, DropReason, Handler, Policies, Side};
use crate::meta::MdFlags;
use crate::state::{ConnState, DiskState, Role};
use crate::wire::{self, Msg, Params};

/// Bitmap runs per `Msg::Bitmap` slice, which keeps each frame small.
const RUNS_PER_SLICE: usize = 4096;

/// Per-connection state; dropped with the connection.
#[derive(Debug, Default)]
pub(super) struct Conn {
    pub resolve_conflicts: bool,
    pub challenge: Vec<u8>,
    pub got_hello: bool,
    pub version: u16,
    /// The peer proved it knows the shared secret (or none is configured).
    pub peer_authed: bool,
    pub params_sent: bool,
    pub peer_params: Option<Params>,
    pub peer_size: Option<u64>,
    pub peer_gi: Option<GenerationIds>,
    pub peer_bits: u64,
    pub peer_uuid_flags: u32,
    pub peer_state_seen: bool,
    pub decided: bool,
    /// We asked for a new decision (our identifiers changed while connected).
    pub renegotiating: bool,
    pub bitmap_sent: bool,
    pub bitmap_received: bool,
    /// The decision: Some(true) = we are SyncSource, Some(false) = SyncTarget.
    pub sync_source: Option<bool>,
    /// The peer's identifiers when the resync started (the target rebuilds its own from them).
    pub source_gi: Option<GenerationIds>,
    pub sync_uuid: u64,
    pub last_recv: u64,
    pub ping_sent: Option<u64>,
    pub peer_paused: bool,
}

impl Core {
    pub(super) fn transport_up(&mut self, resolve_conflicts: bool, challenge: Vec<u8>) {
        if self.cs != ConnState::WFConnection {
            return self.log(Level::Warn, format!("transport up ignored in {}", self.cs));
        }
        self.conn = Some(Conn {
            resolve_conflicts,
            challenge,
            peer_authed: self.cfg.shared_secret.is_none(),
            last_recv: self.now,
            ..Conn::default()
        });
        self.set_cs(ConnState::WFReportParams);
        self.send(Msg::Hello {
            min_version: wire::PROTOCOL_MIN,
            max_version: wire::PROTOCOL_MAX,
            features: wire::FEATURES,
        });
    }

    pub(super) fn received(&mut self, msg: Msg) {
        let now = self.now;
        let Some(c) = self.conn.as_mut() else {
            // Late messages of a connection we already dropped.
            return;
        };
        c.last_recv = now;
        c.ping_sent = None;
        let (got_hello, authed) = (c.got_hello, c.peer_authed);
        match msg {
            Msg::Hello {
                min_version,
                max_version,
                ..
            } => return self.on_hello(min_version, max_version),
            Msg::Ping => return self.send(Msg::PingAck),
            Msg::PingAck | Msg::Unknown { .. } => return,
            Msg::AuthChallenge { nonce } if got_hello => return self.on_challenge(nonce),
            Msg::AuthResponse { mac } if got_hello => return self.on_auth_response(&mac),
            _ if !got_hello || !authed => {
                return self.protocol_error("message before hello and authentication")
            }
            _ => {}
        }
        match msg {
            Msg::Params(p) => self.on_params(p),
            Msg::Sizes { size } => {
                if size != self.cfg.size {
                    self.log(
                        Level::Error,
                        format!(
                            "peer's data area is {size} bytes, ours {}: sizes must match",
                            self.cfg.size
                        ),
                    );
                    return self.go_standalone("size mismatch");
                }
                if let Some(c) = self.conn.as_mut() {
                    c.peer_size = Some(size);
                }
                self.maybe_decide();
            }
            Msg::Uuids {
                gi,
                bits_set,
                flags,
            } => self.on_uuids(gi, bits_set, flags),
            Msg::State {
                role,
                disk,
                sync_paused,
            } => self.on_state(role, disk, sync_paused),
            Msg::Data {
                sector,
                seq,
                flags,
                size,
                payload,
            } => {
                if !self.replicating() && !self.cs.is_connected() {
                    return self.protocol_error("data before the handshake finished");
                }
                self.on_data(sector, seq, flags, size, payload)
            }
            Msg::RecvAck { seq } => self.on_recv_ack(seq),
            Msg::WriteAck { seq } => self.on_write_ack(seq),
            Msg::NegAck { seq } => self.on_neg_ack(seq),
            Msg::Barrier { nr } => self.on_barrier(nr),
            Msg::BarrierAck { nr, .. } => self.on_barrier_ack(nr),
            Msg::Bitmap {
                first_bit,
                runs,
                last,
            } => self.on_bitmap(first_bit, &runs, last),
            Msg::SyncUuid { uuid } => self.on_sync_uuid(uuid),
            Msg::OutOfSync { sector, size } => {
                let offset = sector.saturating_mul(512);
                let fits = offset
                    .checked_add(u64::from(size))
                    .is_some_and(|end| end <= self.cfg.size);
                if !fits {
                    return self.protocol_error(format!(
                        "out-of-sync range at sector {sector} size {size} is outside the device"
                    ));
                }
                self.set_out_of_sync_durably(offset, u64::from(size));
            }
            Msg::ResyncRequest { sector, size } => self.on_rs_request(sector, size),
            Msg::ResyncReply { sector, payload } => self.on_rs_reply(sector, payload),
            Msg::ResyncInSync { sector, size } => self.on_rs_in_sync(sector, size),
            Msg::ResyncWriteAck { sector, size } => self.on_rs_write_ack(sector, size),
            Msg::ResyncFinished => self.on_rs_finished(),
            Msg::VerifyRequest { sector, size } => self.on_verify_request(sector, size),
            Msg::VerifyReply {
                sector,
                size,
                digest,
            } => self.on_verify_reply(sector, size, digest),
            Msg::VerifyResult {
                sector,
                size,
                in_sync,
            } => self.on_verify_result(sector, size, in_sync),
            Msg::VerifyFinished => self.on_verify_finished(),
            Msg::Disconnect => {
                self.connection_lost(ConnState::Disconnecting, "peer disconnected");
            }
            Msg::Hello { .. }
            | Msg::Ping
            | Msg::PingAck
            | Msg::Unknown { .. }
            | Msg::AuthChallenge { .. }
            | Msg::AuthResponse { .. } => {}
        }
    }

    fn on_hello(&mut self, min: u16, max: u16) {
        let agreed = max.min(wire::PROTOCOL_MAX);
        if agreed < min.max(wire::PROTOCOL_MIN) {
            self.log(
                Level::Error,
                format!(
                    "peer speaks protocol {min}-{max}, we speak {}-{}: no common version",
                    wire::PROTOCOL_MIN,
                    wire::PROTOCOL_MAX
                ),
            );
            return self.go_standalone("incompatible protocol versions");
        }
        let Some(c) = self.conn.as_mut() else { return };
        if c.got_hello {
            return self.protocol_error("second hello");
        }
        c.got_hello = true;
        c.version = agreed;
        if self.cfg.shared_secret.is_some() {
            let nonce = c.challenge.clone();
            self.send(Msg::AuthChallenge { nonce });
        } else {
            self.send_params();
        }
    }

    fn on_challenge(&mut self, nonce: Vec<u8>) {
        let Some(secret) = self.cfg.shared_secret.clone() else {
            return self.go_standalone("peer wants authentication but no shared-secret is set");
        };
        if self.conn.as_ref().is_some_and(|c| c.challenge == nonce) {
            // A peer that echoes our own challenge is trying to make us compute its answer.
            return self.go_standalone("peer sent our own challenge back (reflection)");
        }
        self.send(Msg::AuthResponse {
            mac: wire::auth::respond(&secret, &nonce),
        });
    }

    fn on_auth_response(&mut self, mac: &[u8]) {
        let Some(secret) = self.cfg.shared_secret.clone() else {
            return self.protocol_error("unexpected authentication response");
        };
        let challenge = self
            .conn
            .as_ref()
            .map(|c| c.challenge.clone())
            .unwrap_or_default();
        if !wire::auth::verify(&secret, &challenge, mac) {
            self.log(
                Level::Error,
                "peer failed the HMAC challenge: shared-secret differs between the nodes",
            );
            return self.go_standalone("authentication failed");
        }
        if let Some(c) = self.conn.as_mut() {
            c.peer_authed = true;
        }
        self.send_params();
    }

    fn send_params(&mut self) {
        let Some(c) = self.conn.as_mut() else { return };
        if c.params_sent {
            return;
        }
        c.params_sent = true;
        let p = Params {
            protocol: self.cfg.protocol,
            after_sb_0pri: self.cfg.after_sb_0pri,
            after_sb_1pri: self.cfg.after_sb_1pri,
            after_sb_2pri: self.cfg.after_sb_2pri,
            two_primaries: self.cfg.allow_two_primaries,
            discard_my_data: self.discard_my_data,
        };
        self.send(Msg::Params(p));
        self.send(Msg::Sizes {
            size: self.cfg.size,
        });
        self.send_uuids(0);
        self.send_state();
    }

    pub(super) fn send_uuids(&mut self, extra_flags: u32) {
        let mut flags = extra_flags;
        if self.discard_my_data {
            flags |= wire::UUID_FLAG_DISCARD_MY_DATA;
        }
        if self.flags.has(MdFlags::CRASHED_PRIMARY) {
            flags |= wire::UUID_FLAG_CRASHED_PRIMARY;
        }
        if self.disk == DiskState::Inconsistent {
            flags |= wire::UUID_FLAG_INCONSISTENT;
        }
        self.send(Msg::Uuids {
            gi: self.gi,
            bits_set: self.bitmap.count(),
            flags,
        });
    }

    pub(super) fn send_state(&mut self) {
        if self.conn.as_ref().is_some_and(|c| c.params_sent) {
            self.send(Msg::State {
                role: self.role,
                disk: self.disk,
                sync_paused: self.sync.user_paused,
            });
        }
    }

    fn on_params(&mut self, p: Params) {
        let c = &self.cfg;
        let mismatch = if p.protocol != c.protocol {
            Some("protocol")
        } else if p.after_sb_0pri != c.after_sb_0pri
            || p.after_sb_1pri != c.after_sb_1pri
            || p.after_sb_2pri != c.after_sb_2pri
        {
            Some("after-sb policies")
        } else if p.two_primaries != c.allow_two_primaries {
            Some("allow-two-primaries")
        } else {
            None
        };
        if let Some(what) = mismatch {
            self.log(
                Level::Error,
                format!("incompatible {what}: both nodes' resource files must agree"),
            );
            return self.go_standalone("incompatible settings");
        }
        if p.discard_my_data && self.discard_my_data {
            self.log(
                Level::Warn,
                "both nodes were connected with --discard-my-data",
            );
        }
        if let Some(c) = self.conn.as_mut() {
            c.peer_params = Some(p);
        }
        self.maybe_decide();
    }

    fn on_uuids(&mut self, gi: GenerationIds, bits: u64, flags: u32) {
        let Some(c) = self.conn.as_mut() else { return };
        c.peer_gi = Some(gi);
        c.peer_bits = bits;
        c.peer_uuid_flags = flags;
        if !c.decided {
            return self.maybe_decide();
        }
        // Identifiers changed on a running connection: a renegotiation.
        let replying = !c.renegotiating;
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
        if flags & wire::UUID_FLAG_INVALIDATE_PEER != 0 {
            self.set_disk(DiskState::Inconsistent);
            self.bitmap.set_all();
            self.persist_bitmap_all();
        }
        if let Some(c) = self.conn.as_mut() {
            c.decided = false;
            c.renegotiating = false;
            c.bitmap_sent = false;
            c.bitmap_received = false;
            c.sync_source = None;
        }
        if replying {
            // State first: the peer decides when our identifiers arrive.
            self.send_state();
            self.send_uuids(0);
        }
        self.maybe_decide();
    }

    fn on_state(&mut self, role: Role, disk: DiskState, paused: bool) {
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
    fn maybe_decide(&mut self) {
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
            bits: self.bitmap.count(),
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
            && self.bitmap.count() + peer_bits > 0
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
        self.persist_meta();
        self.send_bitmap();
    }

    fn send_bitmap(&mut self) {
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

    fn on_bitmap(&mut self, first_bit: u64, runs: &[u64], last: bool) {
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

    fn on_sync_uuid(&mut self, uuid: u64) {
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

    /// A peer that breaks the protocol: drop the connection and retry.
    pub(super) fn protocol_error(&mut self, what: impl Into<String>) {
        let what = what.into();
        self.log(Level::Error, format!("protocol error: {what}"));
        self.connection_lost(ConnState::ProtocolError, &what);
    }

    /// Drops the connection and stays StandAlone until the operator connects again.
    pub(super) fn go_standalone(&mut self, why: &str) {
        self.want_connect = false;
        self.connection_lost(ConnState::Disconnecting, why);
    }

    /// The connection is gone (or we drop it). `via` is the transient state to report.
    pub(super) fn connection_lost(&mut self, via: ConnState, why: &str) {
        if self.cs < ConnState::WFReportParams && self.conn.is_none() {
            if !self.want_connect && self.cs == ConnState::WFConnection {
                self.set_cs(ConnState::StandAlone);
                self.transport(TransportCmd::Shutdown);
            }
            return;
        }
        let was_replicating = self.replicating() || self.cs.is_syncing();

        let pdsk_was = self.pdsk;
        self.log(Level::Info, format!("connection lost: {why}"));
        self.conn = None;
        self.conn_gen += 1;
        self.release_held();
        self.set_cs(via);
        let oos_before = self.bitmap.count();
        self.tl_clear();
        // Writes the peer never confirmed (also those of a Primary that just demoted).
        let unconfirmed = self.bitmap.count() > oos_before;
        self.sync_reset();
        self.set_peer_role(Role::Unknown);
        self.set_pdsk(DiskState::DUnknown);
        if (self.role == Role::Primary || unconfirmed) && was_replicating && self.gi.bitmap == 0 {
            // The peer may still have the old generation: open a new one for what follows.
            let fresh = self.fresh_uuid();
            self.gi.new_current(fresh);
            self.persist_meta();
        }
        if self.role == Role::Primary
            && self.cfg.fencing != Fencing::DontCare
            && pdsk_was == DiskState::UpToDate
        {
            self.emit(Action::CallHandler(Handler::FencePeer));
            if self.cfg.fencing == Fencing::ResourceAndStonith {
                self.suspended = true;
            }
        }
        self.flags.set(MdFlags::CONNECTED_IND, false);
        self.persist_meta();
        if self.want_connect {
            self.set_cs(ConnState::WFConnection);
            self.transport(TransportCmd::Reconnect);
        } else {
            self.set_cs(ConnState::StandAlone);
            self.transport(TransportCmd::Shutdown);
        }
    }

    /// Requests held during the handshake go ahead (after the decision's actions, so they
    /// see its outcome).
    fn release_held_after_decision(&mut self) {
        self.release_pending = true;
    }

    pub(super) fn release_held(&mut self) {
        self.release_pending = false;
        let held: Vec<_> = self.handshake_held.drain(..).collect();
        for (id, kind, payload) in held {
            self.start_request(id, kind, payload);
        }
    }

    pub(super) fn conn_tick(&mut self) {
        let now = self.now;
        if matches!(
            self.cs,
            ConnState::WFBitMapS | ConnState::WFBitMapT | ConnState::WFSyncUUID
        ) {
            let since = *self.sync_stage_since.get_or_insert(now);
            if now.saturating_sub(since) > self.cfg.timeout_ms.max(1) {
                // Both sides waiting for each other: the decisions did not mirror (the peer
                // changed state meanwhile). Start over.
                self.sync_stage_since = None;
                return self.protocol_error("bitmap exchange did not complete in time");
            }
        } else {
            self.sync_stage_since = None;
        }
        let (ping_int, ping_timeout) = (self.cfg.ping_int_ms, self.cfg.ping_timeout_ms);
        let Some(c) = self.conn.as_mut() else { return };
        if let Some(sent) = c.ping_sent {
            if now.saturating_sub(sent) >= ping_timeout.max(1) {
                self.connection_lost(ConnState::NetworkFailure, "PingAck did not arrive in time");
            }
        } else if now.saturating_sub(c.last_recv) >= ping_int.max(1) {
            c.ping_sent = Some(now);
            self.send(Msg::Ping);
        }
    }

    /// Whether the handshake is done and we talk to the peer normally.
    pub(super) fn established(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.decided)
    }
}
