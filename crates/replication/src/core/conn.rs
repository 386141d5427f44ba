//! Connection lifecycle: hello and version negotiation, HMAC challenge/response, the exchange
//! of parameters and sizes, message dispatch, liveness pings, and what a lost connection does
//! to the data generation. (The decision and bitmap exchange are in `decide.rs`.)

use super::Core;
use crate::action::{Action, Level, TransportCmd};
use crate::config::Fencing;
use crate::digest::{self, DigestAlg};
use crate::gi::GenerationIds;
use crate::handshake::Handler;
use crate::meta::MdFlags;
use crate::state::{ConnState, DiskState, Role};
use crate::wire::{self, LinkOpts, Msg, Params};

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
    /// The `UUID_FLAG_*` flags of our renegotiation.
    pub sent_uuid_flags: u32,
    /// The bitmap weight we reported: the decision uses it (not the current count), so both
    /// sides decide from the same numbers.
    pub reported_bits: u64,
    pub bitmap_sent: bool,
    pub bitmap_received: bool,
    /// The decision: Some(true) = we are SyncSource, Some(false) = SyncTarget.
    pub sync_source: Option<bool>,
    /// The peer's identifiers when the resync started (the target rebuilds its own from them).
    pub source_gi: Option<GenerationIds>,
    pub sync_uuid: u64,
    pub last_recv: u64,
    pub ping_sent: Option<u64>,
    /// Since when requests wait for the peer with no answer other than keep-alives
    /// (`ko-count` × `timeout` of that expels the peer).
    pub ko_since: Option<u64>,
    pub peer_paused: bool,
    /// The feature bits of the peer's `Hello`.
    pub peer_features: u32,
    /// The peer's `SyncParams` arrived (and agreed with ours).
    pub sync_params_seen: bool,
    /// Negotiated `data-integrity-alg`, `csums-alg` and `verify-alg`.
    pub integrity: Option<DigestAlg>,
    pub csums: Option<DigestAlg>,
    pub verify: Option<DigestAlg>,
    /// The peer's `Digest` for its next data message.
    pub pending_digest: Option<Vec<u8>>,
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
        if let Err(e) = self.cfg.validate() {
            self.log(Level::Error, format!("cannot connect: {e}"));
            return self.go_standalone("invalid configuration");
        }
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
        if !matches!(msg, Msg::Ping | Msg::PingAck) {
            c.ko_since = None;
        }
        let (got_hello, authed) = (c.got_hello, c.peer_authed);
        match msg {
            Msg::Hello {
                min_version,
                max_version,
                features,
            } => return self.on_hello(min_version, max_version, features),
            Msg::Ping => return self.send(Msg::PingAck),
            Msg::PingAck | Msg::Unknown { .. } => return,
            Msg::AuthChallenge { nonce } if got_hello => return self.on_challenge(nonce),
            Msg::AuthResponse { mac } if got_hello => return self.on_auth_response(&mac),
            _ if !got_hello || !authed => {
                return self.protocol_error("message before hello and authentication")
            }
            _ => {}
        }
        if !self.integrity_ok(&msg) {
            return;
        }
        match msg {
            Msg::Params(p) => self.on_params(p),
            Msg::SyncParams {
                verify_alg,
                csums_alg,
                integrity_alg,
                ..
            } => self.on_sync_params(&verify_alg, &csums_alg, &integrity_alg),
            Msg::Digest { digest } => {
                if let Some(c) = self.conn.as_mut() {
                    c.pending_digest = Some(digest);
                }
            }
            Msg::CsumRequest {
                sector,
                size,
                digest,
            } => self.on_csum_request(sector, size, digest),
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
                // A block whose older replicated write is still on its way to our disk: that
                // write's completion must not clear the bit this newer write sets.
                let blocks = crate::bitmap::block_range(offset, u64::from(size));
                let on_its_way = |c: &Self, b: u64| {
                    c.wq.busy.contains(&b)
                        || c.sync.peer_writes_pending.contains_key(&b)
                        || c.sync.rs_requested(b)
                };
                let stale: Vec<u64> = blocks.filter(|&b| on_its_way(self, b)).collect();
                for b in stale {
                    self.sync.stale_peer_writes.insert(b);
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
            Msg::Ahead => self.on_ahead(),
            Msg::BecomeSyncTarget { gi } => self.on_become_sync_target(gi),
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

    fn on_hello(&mut self, min: u16, max: u16, features: u32) {
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
        c.peer_features = features;
        let lacks = match self.cfg.compression {
            crate::Compression::Zstd if features & wire::FEATURE_ZSTD == 0 => Some("zstd"),
            crate::Compression::Lz4 if features & wire::FEATURE_LZ4 == 0 => Some("lz4"),
            _ => None,
        };
        if let Some(alg) = lacks {
            self.log(
                Level::Warn,
                format!("peer does not offer {alg} compression: the link to it stays uncompressed"),
            );
        }
        let Some(c) = self.conn.as_mut() else { return };
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
        let peer_features = c.peer_features;
        if peer_features & wire::FEATURE_SYNC_PARAMS != 0 {
            let name = |o: &Option<String>| {
                digest::parse_opt("", o.as_deref())
                    .ok()
                    .flatten()
                    .map_or(String::new(), |a| a.name().to_string())
            };
            self.send(Msg::SyncParams {
                verify_alg: name(&self.cfg.verify_alg),
                csums_alg: name(&self.cfg.csums_alg),
                integrity_alg: name(&self.cfg.data_integrity_alg),
                csums_after_crash_only: self.cfg.csums_after_crash_only,
            });
        } else if self.cfg.csums_alg.is_some() || self.cfg.data_integrity_alg.is_some() {
            self.log(
                Level::Error,
                "peer runs an older shimai without csums-alg and data-integrity-alg: upgrade it, \
                 or unset these options on this node",
            );
            return self.go_standalone("peer lacks digest algorithms");
        }
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
        let bits_set = self.bitmap.count();
        if let Some(c) = self.conn.as_mut() {
            c.reported_bits = bits_set;
        }
        self.send(Msg::Uuids {
            gi: self.gi,
            bits_set,
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

    /// The peer's digest algorithms: each must equal ours (DRBD: "Different verify-alg
    /// settings"), or the connection goes StandAlone.
    fn on_sync_params(&mut self, verify: &str, csums: &str, integrity: &str) {
        let ours = |o: &Option<String>| {
            digest::parse_opt("", o.as_deref())
                .ok()
                .flatten()
                .map_or(String::new(), |a| a.name().to_string())
        };
        let pairs = [
            ("verify-alg", ours(&self.cfg.verify_alg), verify),
            ("csums-alg", ours(&self.cfg.csums_alg), csums),
            (
                "data-integrity-alg",
                ours(&self.cfg.data_integrity_alg),
                integrity,
            ),
        ];
        for (what, me, peer) in &pairs {
            if me != peer {
                let show = |s: &str| {
                    if s.is_empty() {
                        "(unset)".to_string()
                    } else {
                        format!("\"{s}\"")
                    }
                };
                self.log(
                    Level::Error,
                    format!(
                        "Different {what} settings. me={} peer={}: both nodes' resource files \
                         must name the same algorithm",
                        show(me),
                        show(peer)
                    ),
                );
                return self.go_standalone("incompatible digest algorithms");
            }
        }
        let Some(c) = self.conn.as_mut() else { return };
        c.sync_params_seen = true;
        c.verify = DigestAlg::from_name(verify);
        c.csums = DigestAlg::from_name(csums);
        c.integrity = DigestAlg::from_name(integrity);
    }

    /// `data-integrity-alg`: a data message must come with the digest of its payload.
    fn integrity_ok(&mut self, msg: &Msg) -> bool {
        let Some(c) = self.conn.as_mut() else {
            return true;
        };
        let Some(alg) = c.integrity else { return true };
        let (sector, payload) = match msg {
            Msg::Data {
                sector,
                flags,
                payload,
                ..
            } if !flags.trim() => (*sector, payload),
            Msg::ResyncReply { sector, payload } => (*sector, payload),
            _ => return true,
        };
        let theirs = c.pending_digest.take();
        if theirs.as_deref() == Some(&alg.digest(payload)[..]) {
            return true;
        }
        self.log(
            Level::Error,
            format!(
                "Digest integrity check FAILED: sector {sector} +{} ({alg}{}): the data changed \
                 on the way; dropping the connection (the blocks will be resynced)",
                payload.len(),
                if theirs.is_none() {
                    ", no digest sent"
                } else {
                    ""
                }
            ),
        );
        self.connection_lost(ConnState::ProtocolError, "data integrity check failed");
        false
    }

    /// What the daemon may use when it encodes messages for the peer with
    /// [`wire::encode_link`]: this node's `compression` when the peer decodes it, zero-block
    /// markers when the peer understands them; plain frames before the peer's `Hello`.
    pub fn link_opts(&self) -> LinkOpts {
        let Some(c) = self.conn.as_ref().filter(|c| c.got_hello) else {
            return LinkOpts::PLAIN;
        };
        let f = c.peer_features;
        let compression = match self.cfg.compression {
            crate::Compression::Zstd if f & wire::FEATURE_ZSTD != 0 => crate::Compression::Zstd,
            crate::Compression::Lz4 if f & wire::FEATURE_LZ4 != 0 => crate::Compression::Lz4,
            _ => crate::Compression::None,
        };
        LinkOpts {
            compression,
            level: self.cfg.compression_level,
            zero_markers: f & wire::FEATURE_ZERO_MARKERS != 0,
        }
    }

    fn on_params(&mut self, p: Params) {
        let expects_sync_params = self.conn.as_ref().is_some_and(|c| {
            c.peer_features & wire::FEATURE_SYNC_PARAMS != 0 && !c.sync_params_seen
        });
        if expects_sync_params {
            return self.protocol_error("parameters before the digest algorithms");
        }
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
        let was_replicating =
            self.replicating() || self.cs.is_syncing() || self.cs == ConnState::Ahead;

        let pdsk_was = self.pdsk;
        self.log(Level::Info, format!("connection lost: {why}"));
        self.conn = None;
        self.conn_gen += 1;
        self.release_held();
        self.set_cs(via);
        // Writes the peer never confirmed (also those of a Primary that just demoted).
        let unconfirmed = self.has_unconfirmed_writes();
        if (self.role == Role::Primary || unconfirmed) && was_replicating && self.gi.bitmap == 0 {
            // The peer may still have the old generation: open a new one for what follows.
            // It is persisted before any waiting request completes without the peer, so a
            // client never sees such a completion while the disk still shows the old one.
            self.open_generation();
            self.persist_meta();
        }
        self.tl_clear();
        self.sync_reset();
        self.set_peer_role(Role::Unknown);
        self.set_pdsk(DiskState::DUnknown);
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
    pub(super) fn release_held_after_decision(&mut self) {
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
        let renegotiating = self.conn.as_ref().is_some_and(|c| c.renegotiating);
        if renegotiating
            || matches!(
                self.cs,
                ConnState::WFBitMapS | ConnState::WFBitMapT | ConnState::WFSyncUUID
            )
        {
            let since = *self.sync_stage_since.get_or_insert(now);
            if now.saturating_sub(since) > self.cfg.timeout_ms.max(1) {
                // Both sides waiting for each other (the decisions did not mirror, or the peer
                // could not take up our renegotiation): start over.
                self.sync_stage_since = None;
                return self.protocol_error("sync handshake did not complete in time");
            }
        } else {
            self.sync_stage_since = None;
        }
        let (ping_int, ping_timeout) = (self.cfg.ping_int_ms, self.cfg.ping_timeout_ms);
        // ko-count: a peer that answers pings but completes nothing is expelled too.
        let waiting = !self.seqs.is_empty() || !self.unacked_epochs.is_empty();
        let ko_limit = u64::from(self.cfg.ko_count).saturating_mul(self.cfg.timeout_ms);
        let established = self.established();
        let Some(c) = self.conn.as_mut() else { return };
        if waiting && established && ko_limit > 0 {
            let since = *c.ko_since.get_or_insert(now);
            if now.saturating_sub(since) >= ko_limit {
                return self.connection_lost(
                    ConnState::NetworkFailure,
                    "the peer completed no request in ko-count x timeout",
                );
            }
        } else {
            c.ko_since = None;
        }
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
