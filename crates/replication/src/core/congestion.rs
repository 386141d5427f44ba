//! Congestion with DRBD's meaning (`reference/wan-metrics-blockdev.md`, "Congestion"):
//! `on-congestion block|pull-ahead|disconnect`, `congestion-fill`, `congestion-extents`.
//!
//! In flight to the peer = application data sent and not yet barrier-acked (DRBD's
//! `ap_in_flight`, counted by the core) plus what the daemon reports still queued for the
//! socket ([`crate::Event::SendQueue`]). On every client write of a Connected Primary under
//! protocol A the thresholds are checked (only while data is in flight):
//! - `pull-ahead`: the epoch is closed, the Primary opens a new data generation (as a Primary
//!   that lost its peer does; shimai's addition) and goes **Ahead** and tells the peer, which
//!   goes **Behind** (its disk Outdated: it misses writes). Writes while Ahead are not sent:
//!   they set bitmap bits and only `OutOfSync` markers go out.
//! - `disconnect`: the connection is dropped (and re-established).
//!
//! Back from Ahead, with hysteresis so that it does not flap (LINBIT/drbd#46): once nothing
//! has been in flight for [`DRAIN_MS`] (DRBD's 1 s timer) the Primary starts a resync as
//! SyncSource (`BecomeSyncTarget` + bitmap exchange; the peer is Inconsistent while it
//! catches up) and returns to Connected when it ends. Pull-ahead is considered only from
//! Connected (never during the catch-up resync), and for [`HOLDOFF_MS`] after a catch-up the
//! threshold is doubled.

use std::collections::BTreeMap;

use super::Core;
use crate::action::Level;
use crate::config::{OnCongestion, Protocol};
use crate::gi::GenerationIds;
use crate::state::{ConnState, DiskState, Role};
use crate::status::CongestionStatus;
use crate::wire::{self, Msg};

/// Nothing in flight for this long ends Ahead (DRBD's 1 s timer).
pub const DRAIN_MS: u64 = 1_000;
/// After a catch-up the fill threshold is doubled for this long.
pub const HOLDOFF_MS: u64 = 10_000;

#[derive(Debug, Default)]
pub(super) struct Congestion {
    /// Application bytes sent and not yet barrier-acked.
    pub ap_in_flight: u64,
    /// Per open or unacked epoch: bytes and the time its first write was sent.
    pub epochs: BTreeMap<u32, (u64, u64)>,
    /// Bytes the daemon reports queued for the peer.
    pub send_queue: u64,
    pub ahead_since: Option<u64>,
    pub drained_since: Option<u64>,
    /// When the last catch-up after Ahead ended.
    pub caught_up_at: Option<u64>,
    /// This node is SyncSource of a catch-up after Ahead.
    pub catching_up: bool,
}

impl Core {
    pub(super) fn cong_sent(&mut self, epoch: u32, bytes: u64) {
        let now = self.now;
        self.cong.ap_in_flight += bytes;
        self.cong.epochs.entry(epoch).or_insert((0, now)).0 += bytes;
    }

    pub(super) fn cong_acked(&mut self, nr: u32) {
        let acked: Vec<u32> = self.cong.epochs.range(..=nr).map(|(k, _)| *k).collect();
        for e in acked {
            if let Some((b, _)) = self.cong.epochs.remove(&e) {
                self.cong.ap_in_flight = self.cong.ap_in_flight.saturating_sub(b);
            }
        }
    }

    pub(super) fn cong_reset(&mut self) {
        self.cong.ap_in_flight = 0;
        self.cong.epochs.clear();
        self.cong.send_queue = 0;
        self.cong.ahead_since = None;
        self.cong.drained_since = None;
        self.cong.catching_up = false;
    }

    pub(super) fn on_send_queue(&mut self, bytes: u64) {
        self.cong.send_queue = bytes;
    }

    fn in_flight(&self) -> u64 {
        self.cong.ap_in_flight + self.cong.send_queue
    }

    /// Called before a client write is replicated.
    pub(super) fn maybe_pull_ahead(&mut self) {
        if self.cfg.on_congestion == OnCongestion::Block
            || self.cfg.protocol != Protocol::A
            || self.cs != ConnState::Connected
            || self.role != Role::Primary
        {
            return;
        }
        let in_flight = self.in_flight();
        if in_flight == 0 {
            return;
        }
        let mut fill = self.cfg.congestion_fill;
        if self
            .cong
            .caught_up_at
            .is_some_and(|t| self.now.saturating_sub(t) < HOLDOFF_MS)
        {
            fill = fill.saturating_mul(2);
        }
        let why = if fill > 0 && in_flight >= fill {
            "Congestion-fill threshold reached"
        } else if self
            .cfg
            .congestion_extents
            .is_some_and(|e| e < self.cfg.al_extents && self.al.in_use() >= e as usize)
        {
            "Congestion-extents threshold reached"
        } else {
            return;
        };
        match self.cfg.on_congestion {
            OnCongestion::Disconnect => {
                self.log(
                    Level::Warn,
                    format!("{why} ({in_flight} bytes in flight): on-congestion disconnect"),
                );
                self.connection_lost(ConnState::Disconnecting, "on-congestion disconnect");
            }
            OnCongestion::PullAhead => {
                let peer_can = self
                    .conn
                    .as_ref()
                    .is_some_and(|c| c.peer_features & wire::FEATURE_AHEAD != 0);
                if !peer_can {
                    return;
                }
                self.log(
                    Level::Info,
                    format!(
                        "{why} ({in_flight} bytes in flight): pulling ahead, writes are marked \
                         out of sync until the link drained"
                    ),
                );
                self.close_epoch();
                // This node moves on without the peer, as one that lost it: a new data
                // generation, so that a handshake after a lost connection sees who is ahead
                // (equal identifiers would let bit counts pick the direction).
                if self.gi.bitmap == 0 {
                    self.open_generation();
                    self.persist_meta();
                }
                self.cong.ahead_since = Some(self.now);
                self.cong.drained_since = None;
                self.set_cs(ConnState::Ahead);
                self.send(Msg::Ahead);
                self.set_pdsk(DiskState::Outdated);
            }
            OnCongestion::Block => {}
        }
    }

    /// The peer went Ahead: we miss its writes until the catch-up.
    pub(super) fn on_ahead(&mut self) {
        if self.cs != ConnState::Connected {
            return self.protocol_error(format!("peer went Ahead while we are {}", self.cs));
        }
        self.log(
            Level::Info,
            "peer pulled ahead (congestion): Behind, our data is Outdated until the catch-up",
        );
        self.set_cs(ConnState::Behind);
        if self.disk == DiskState::UpToDate {
            self.set_disk(DiskState::Outdated);
        }
    }

    /// Ahead: the link drained long enough, start the catch-up resync as SyncSource.
    pub(super) fn congestion_tick(&mut self) {
        if self.cs == ConnState::Connected && self.cong.catching_up {
            self.cong.catching_up = false;
            self.cong.caught_up_at = Some(self.now);
        }
        if self.cs != ConnState::Ahead {
            return;
        }
        if self.in_flight() > 0 {
            self.cong.drained_since = None;
            return;
        }
        let since = *self.cong.drained_since.get_or_insert(self.now);
        if self.now.saturating_sub(since) < DRAIN_MS {
            return;
        }
        let ahead_ms = self
            .cong
            .ahead_since
            .map_or(0, |t| self.now.saturating_sub(t));
        self.log(
            Level::Info,
            format!(
                "link drained after {ahead_ms} ms Ahead: resyncing {} KiB to the peer",
                self.bitmap.count() * 4
            ),
        );
        self.cong.ahead_since = None;
        self.cong.drained_since = None;
        self.cong.catching_up = true;
        let gi = self.gi;
        if let Some(c) = self.conn.as_mut() {
            c.sync_source = Some(true);
            c.source_gi = Some(gi);
        }
        self.set_cs(ConnState::WFBitMapS);
        self.persist_meta();
        self.send(Msg::BecomeSyncTarget { gi });
        self.send_bitmap();
    }

    /// Behind: the Primary starts the catch-up; we become SyncTarget of its identifiers.
    pub(super) fn on_become_sync_target(&mut self, gi: GenerationIds) {
        if self.cs != ConnState::Behind {
            return self.protocol_error(format!("asked to become SyncTarget while {}", self.cs));
        }
        if let Some(c) = self.conn.as_mut() {
            c.sync_source = Some(false);
            c.source_gi = Some(gi);
        }
        self.set_cs(ConnState::WFBitMapT);
        self.set_disk(DiskState::Inconsistent);
        self.persist_meta();
        self.send_bitmap();
    }

    /// For `status`: in flight, Ahead, and the recovery point (how far the peer is behind).
    pub(super) fn congestion_status(&self) -> CongestionStatus {
        let in_flight = self.in_flight();
        let missing = matches!(
            self.cs,
            ConnState::Ahead
                | ConnState::WFBitMapS
                | ConnState::WFSyncUUID
                | ConnState::SyncSource
                | ConnState::PausedSyncS
        ) || self.cs < ConnState::Connected;
        let oos = if missing && self.role == Role::Primary {
            self.bitmap.count() * crate::bitmap::BM_BLOCK_SIZE
        } else {
            0
        };
        let oldest = self.cong.epochs.values().map(|&(_, t)| t).min();
        let since = match (self.cong.ahead_since, oldest) {
            (Some(a), Some(o)) => Some(a.min(o)),
            (a, o) => a.or(o),
        };
        CongestionStatus {
            ap_in_flight_bytes: self.cong.ap_in_flight,
            send_queue_bytes: self.cong.send_queue,
            congested: self.cs == ConnState::Ahead
                || (self.cfg.congestion_fill > 0
                    && in_flight.saturating_mul(10) >= self.cfg.congestion_fill.saturating_mul(8)),
            ahead_since_ms: self.cong.ahead_since,
            behind_bytes: in_flight + oos,
            behind_ms: since.map_or(0, |t| self.now.saturating_sub(t)),
            csums_equal_kib: self.sync.csums_equal * 4,
        }
    }
}
