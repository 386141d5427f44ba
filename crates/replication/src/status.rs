//! The status snapshot: what `status`, `proc` (the /proc/drbd 8.4 layout) and monitoring show.

use crate::config::Protocol;
use crate::gi::GenerationIds;
use crate::state::{ConnState, DiskState, Role};

/// The /proc/drbd counters (`reference/drbd.md` §3.1). Sizes in KiB, `al`/`bm` are counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Sent to the peer (application and resync data).
    pub ns: u64,
    /// Received from the peer.
    pub nr: u64,
    /// Written to the local disk.
    pub dw: u64,
    /// Read from the local disk.
    pub dr: u64,
    /// Activity-log transactions written.
    pub al: u64,
    /// Bitmap writes.
    pub bm: u64,
    /// Local disk operations pending.
    pub lo: u64,
    /// Requests sent to the peer and not yet answered (application and resync).
    pub pe: u64,
    /// Peer writes received and not yet acknowledged.
    pub ua: u64,
    /// Application requests pending.
    pub ap: u64,
    /// Epochs in flight.
    pub ep: u64,
    /// Out of sync.
    pub oos: u64,
}

/// Progress of a resync or online verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncProgress {
    pub total_kib: u64,
    pub left_kib: u64,
    /// Average since the start.
    pub rate_kib_s: u64,
}

impl SyncProgress {
    /// Already synced (or verified).
    pub fn done_kib(&self) -> u64 {
        self.total_kib.saturating_sub(self.left_kib)
    }

    /// Done, in tenths of a percent (the /proc/drbd resolution).
    pub fn permille(&self) -> u64 {
        if self.total_kib == 0 {
            return 1000;
        }
        (self.total_kib - self.left_kib.min(self.total_kib)) * 1000 / self.total_kib
    }
}

/// Everything an operator sees about the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub role: Role,
    pub peer_role: Role,
    pub cs: ConnState,
    pub disk: DiskState,
    pub pdsk: DiskState,
    pub protocol: Protocol,
    pub gi: GenerationIds,
    pub counters: Counters,
    pub resync: Option<SyncProgress>,
    /// Found different by the last online verify.
    pub verify_oos_kib: u64,
    pub user_paused: bool,
    pub peer_paused: bool,
    /// Client I/O frozen (fencing).
    pub suspended: bool,
    /// Congestion, Ahead/Behind and the recovery point.
    pub congestion: CongestionStatus,
}

/// Congestion and recovery point (`reference/wan-metrics-blockdev.md`): what `status`,
/// `--json`, `proc` and the exporter show for a WAN link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CongestionStatus {
    /// Application data sent and not yet acknowledged by a barrier-ack (drbd-reactor's
    /// `apinflight_bytes`).
    pub ap_in_flight_bytes: u64,
    /// Bytes the daemon reported queued for the peer (`Event::SendQueue`).
    pub send_queue_bytes: u64,
    /// Ahead, or in flight at least 80% of `congestion-fill` (drbd-reactor's `congested`).
    pub congested: bool,
    /// When this node went Ahead (core milliseconds), while it is.
    pub ahead_since_ms: Option<u64>,
    /// Recovery point in bytes: data the peer lacks (in flight, plus out-of-sync blocks while
    /// Ahead, disconnected or resyncing as source).
    pub behind_bytes: u64,
    /// Recovery point in time: how long the oldest data the peer lacks has been waiting, ms.
    pub behind_ms: u64,
    /// Blocks `csums-alg` found equal (not sent) in the current or last resync, KiB.
    pub csums_equal_kib: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permille() {
        let p = SyncProgress {
            total_kib: 1000,
            left_kib: 717,
            rate_kib_s: 0,
        };
        assert_eq!(p.permille(), 283);
        let done = SyncProgress {
            total_kib: 0,
            left_kib: 0,
            rate_kib_s: 0,
        };
        assert_eq!(done.permille(), 1000);
    }
}
