//! The resource configuration the core obeys, as a plain struct.
//!
//! The config-file crate maps drbd.conf options into [`ResourceConfig`]; the core never parses
//! text. Defaults are DRBD 8.4's (`reference/drbd.md` §1.14), so an unset option behaves as an
//! operator who knows DRBD expects.

use std::fmt;

/// Replication protocol: which event releases a client's write (`reference/drbd.md` §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Local disk done and the write queued for the peer.
    A,
    /// Local disk done and the peer acknowledged receipt.
    B,
    /// Local disk done and the peer acknowledged its disk write.
    C,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `after-sb-0pri`: split brain with no Primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AfterSb0Pri {
    Disconnect,
    DiscardYoungerPrimary,
    DiscardOlderPrimary,
    DiscardZeroChanges,
    DiscardLeastChanges,
    DiscardLocal,
    DiscardRemote,
}

/// `after-sb-1pri`: split brain with one Primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AfterSb1Pri {
    Disconnect,
    Consensus,
    DiscardSecondary,
    CallPriLostAfterSb,
    ViolentlyAs0p,
}

/// `after-sb-2pri`: split brain with two Primaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AfterSb2Pri {
    Disconnect,
    ViolentlyAs0p,
    CallPriLostAfterSb,
}

/// `rr-conflict`: the handshake wants this node, a Primary with good data, to become SyncTarget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RrConflict {
    Disconnect,
    CallPriLost,
    Violently,
}

/// `fencing`: what a Primary does when it loses its peer (`reference/drbd.md` §1.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fencing {
    DontCare,
    /// Call the `fence-peer` handler; client I/O continues.
    ResourceOnly,
    /// Call the `fence-peer` handler and freeze client I/O until it answers.
    ResourceAndStonith,
}

/// `on-io-error`: what a failed I/O of the backing device does (`reference/drbd.md` §1.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnIoError {
    /// Go Diskless.
    Detach,
    /// Report a data error upward; a metadata error still detaches (as DRBD).
    PassOn,
    /// Run the `local-io-error` handler, then detach.
    CallLocalIoError,
}

/// `on-congestion`: what a Primary does when the link to its peer cannot keep up
/// (`reference/wan-metrics-blockdev.md`, "Congestion").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnCongestion {
    /// Wait: writes stall until the send buffer drains (DRBD's default).
    Block,
    /// Go Ahead: stop sending writes, mark them out of sync, resync them when the link
    /// drained. Protocol A only.
    PullAhead,
    /// Drop the connection (and reconnect). Protocol A only.
    Disconnect,
}

/// Compression of the replication link (`net { compression zstd|lz4|none; }`, or a DRBD Proxy
/// `plugin { zstd level N; }` / `lz4`), negotiated at the handshake: a peer that lacks the
/// algorithm gets the stream uncompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Lz4,
    /// zstd at `compression_level` (1-22, as DRBD Proxy v4).
    Zstd,
}

/// Everything the core needs to know about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceConfig {
    pub protocol: Protocol,
    pub after_sb_0pri: AfterSb0Pri,
    pub after_sb_1pri: AfterSb1Pri,
    pub after_sb_2pri: AfterSb2Pri,
    /// Apply the after-sb policies even when only history identifiers match (rule 100).
    pub always_asbp: bool,
    pub rr_conflict: RrConflict,
    pub allow_two_primaries: bool,
    /// Hot set of 4 MiB activity-log extents.
    pub al_extents: u32,
    /// Writes per epoch before the Primary closes it with a barrier.
    pub max_epoch_size: u32,
    /// Resync rate in KiB/s when the controller is off.
    pub resync_rate_kib: u32,
    /// Upper bound of the resync rate in KiB/s (0 = unlimited).
    pub c_max_rate_kib: u32,
    /// `c-plan-ahead` in tenths of a second: 0 = a fixed `resync-rate`, anything else = the
    /// dynamic controller, which keeps `c-fill-target` bytes of resync requests in flight.
    pub c_plan_ahead_ds: u32,
    /// `c-fill-target` in bytes (0: derive the window from `c-delay-target`).
    pub c_fill_target_bytes: u64,
    /// `c-delay-target` in tenths of a second (used when `c-fill-target` is 0).
    pub c_delay_target_ds: u32,
    /// `c-min-rate` in KiB/s: while application I/O competes, resync slows down to this rate
    /// (0 = never slow down).
    pub c_min_rate_kib: u32,
    /// Online-verify digest; `None` means `verify` is refused.
    pub verify_alg: Option<String>,
    /// Shared secret for the HMAC challenge/response; `None` = no authentication.
    pub shared_secret: Option<Vec<u8>>,
    /// Idle time before a ping, milliseconds.
    pub ping_int_ms: u64,
    /// Time to wait for a ping ack, milliseconds.
    pub ping_timeout_ms: u64,
    /// Time the peer may take to answer a request, milliseconds (`timeout`).
    pub timeout_ms: u64,
    /// `ko-count`: a peer that completes no request in this many `timeout`s is expelled
    /// (0 = never).
    pub ko_count: u32,
    pub fencing: Fencing,
    pub on_io_error: OnIoError,
    /// Data area size in bytes.
    pub size: u64,
    /// `csums-alg`: checksum-based resync (the SyncTarget sends digests, only differing blocks
    /// cross the link). `None` = plain resync.
    pub csums_alg: Option<String>,
    /// `csums-after-crash-only`: use `csums-alg` only for the resync after a Primary crash.
    pub csums_after_crash_only: bool,
    /// `data-integrity-alg`: a digest accompanies every replicated data message; a mismatch
    /// drops the connection.
    pub data_integrity_alg: Option<String>,
    pub on_congestion: OnCongestion,
    /// `congestion-fill` in bytes in flight to the peer (0 = off; at most 10 GiB).
    pub congestion_fill: u64,
    /// `congestion-extents`: active activity-log extents that count as congestion (effective
    /// only when lower than `al-extents`). `None` = unset, DRBD's default: `al-extents`.
    pub congestion_extents: Option<u32>,
    /// Link compression this node offers.
    pub compression: Compression,
    /// zstd level (1-22); ignored by lz4.
    pub compression_level: i32,
}

impl ResourceConfig {
    /// DRBD 8.4 defaults for a data area of `size` bytes.
    pub fn new(size: u64) -> ResourceConfig {
        ResourceConfig {
            protocol: Protocol::C,
            after_sb_0pri: AfterSb0Pri::Disconnect,
            after_sb_1pri: AfterSb1Pri::Disconnect,
            after_sb_2pri: AfterSb2Pri::Disconnect,
            always_asbp: false,
            rr_conflict: RrConflict::Disconnect,
            allow_two_primaries: false,
            al_extents: 1237,
            max_epoch_size: 2048,
            resync_rate_kib: 250,
            c_max_rate_kib: 102_400,
            c_plan_ahead_ds: 20,
            c_fill_target_bytes: 100 * 512,
            c_delay_target_ds: 10,
            c_min_rate_kib: 250,
            verify_alg: None,
            shared_secret: None,
            ping_int_ms: 10_000,
            ping_timeout_ms: 500,
            timeout_ms: 6_000,
            ko_count: 7,
            fencing: Fencing::DontCare,
            on_io_error: OnIoError::Detach,
            size,
            csums_alg: None,
            csums_after_crash_only: false,
            data_integrity_alg: None,
            on_congestion: OnCongestion::Block,
            congestion_fill: 0,
            congestion_extents: None,
            compression: Compression::None,
            compression_level: 3,
        }
    }

    /// Checks the WAN and digest options as DRBD's netlink layer does; the daemon calls it at
    /// setup so a wrong option is refused before the resource starts. `Err` says which option
    /// and what to do.
    pub fn validate(&self) -> Result<(), String> {
        crate::digest::parse_opt("csums-alg", self.csums_alg.as_deref())?;
        crate::digest::parse_opt("verify-alg", self.verify_alg.as_deref())?;
        crate::digest::parse_opt("data-integrity-alg", self.data_integrity_alg.as_deref())?;
        if self.on_congestion != OnCongestion::Block && self.protocol != Protocol::A {
            return Err(format!(
                "on-congestion {} needs protocol A (this resource uses protocol {}): set \
                 on-congestion block or protocol A",
                match self.on_congestion {
                    OnCongestion::PullAhead => "pull-ahead",
                    _ => "disconnect",
                },
                self.protocol
            ));
        }
        if self.congestion_fill > 10 << 30 {
            return Err(format!(
                "congestion-fill {} is above DRBD's maximum of 10 GiB",
                self.congestion_fill
            ));
        }
        if self.compression == Compression::Zstd && !(1..=22).contains(&self.compression_level) {
            return Err(format!(
                "compression-level {} is outside zstd's levels 1-22",
                self.compression_level
            ));
        }
        Ok(())
    }

    /// Whether the dynamic resync controller is on (`c-plan-ahead` > 0).
    pub fn dynamic_resync(&self) -> bool {
        self.c_plan_ahead_ds > 0
    }

    /// `c-max-rate` in bytes per second, `None` when unlimited.
    pub fn c_max_bytes_per_sec(&self) -> Option<u64> {
        (self.c_max_rate_kib > 0).then(|| u64::from(self.c_max_rate_kib) * 1024)
    }

    /// The fixed resync rate in bytes per second (`c-plan-ahead 0`): `resync-rate` capped by
    /// `c-max-rate`.
    pub fn resync_bytes_per_sec(&self) -> u64 {
        let rate = u64::from(self.resync_rate_kib.max(1));
        let rate = if self.c_max_rate_kib == 0 {
            rate
        } else {
            rate.min(u64::from(self.c_max_rate_kib))
        };
        rate * 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_drbd_84() {
        let c = ResourceConfig::new(1 << 30);
        assert_eq!(c.protocol, Protocol::C);
        assert_eq!(c.al_extents, 1237);
        assert_eq!(c.max_epoch_size, 2048);
        assert_eq!(c.resync_bytes_per_sec(), 250 * 1024);
        assert_eq!(c.after_sb_0pri, AfterSb0Pri::Disconnect);
        assert_eq!(c.ping_timeout_ms, 500);
    }

    #[test]
    fn c_max_rate_caps_the_resync_rate() {
        let mut c = ResourceConfig::new(0);
        c.resync_rate_kib = 500_000;
        assert_eq!(c.resync_bytes_per_sec(), 102_400 * 1024);
        c.c_max_rate_kib = 0;
        assert_eq!(c.resync_bytes_per_sec(), 500_000 * 1024);
    }
}
