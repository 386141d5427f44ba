//! The option sections (`global`, `net`, `disk`, `startup`, `options`,
//! `handlers`) as typed structs holding DRBD's defaults (drbd.md §1.14,
//! `drbd_limits.h`).
//!
//! Each struct is declared once with a macro that also produces the code to
//! set a field from its drbd.conf keyword and to list the fields back as
//! keyword/value pairs. Inheritance (common → resource → volume) and the
//! printer are then written once, for all sections, on top of that.
//!
//! Options DRBD knows but shimai does not implement are kept, sorted by keyword,
//! in each section's `extra` list, so a dump shows them and the parser can
//! warn about them.

use crate::value::{
    AfterSb0Pri, AfterSb1Pri, AfterSb2Pri, Attach, Bytes, Deciseconds, Fencing, KibPerSec,
    Milliseconds, OnCongestion, OnIoError, OnNoQuorum, OptionValue, Protocol, Quorum, RrConflict,
    Seconds, Sectors, UsageCount,
};

/// A known DRBD option that shimai keeps but does not act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOption {
    /// The drbd.conf keyword.
    pub key: String,
    /// Its argument; `None` when written bare (`discard-my-data;`).
    pub value: Option<String>,
}

/// What every section struct offers to the parser, the resolver and the
/// printer.
pub(crate) trait Section: Default + Clone + PartialEq {
    /// Sets a typed field; `None` when `key` names no typed field.
    fn set(&mut self, key: &str, arg: Option<&str>) -> Option<Result<(), String>>;
    /// Whether the typed option `key` may be written without an argument;
    /// `None` when `key` names no typed field.
    fn bare(key: &str) -> Option<bool>;
    /// The keywords of the typed fields, in declaration order.
    fn keys() -> &'static [&'static str];
    /// The typed fields as keyword and canonical value (`None`: unset).
    fn entries(&self) -> Vec<(&'static str, Option<String>)>;
    fn extra(&self) -> &[RawOption];
    fn extra_mut(&mut self) -> &mut Vec<RawOption>;

    /// Records a kept option; a later setting of the same key replaces the
    /// earlier one. Kept sorted by key: the model must not depend on which
    /// block (`disk` or 8.3 `syncer`) or level an option was written in.
    fn set_extra(&mut self, key: &str, value: Option<&str>) {
        let value = value.map(str::to_string);
        let extra = self.extra_mut();
        match extra.binary_search_by(|o| o.key.as_str().cmp(key)) {
            Ok(i) => extra[i].value = value,
            Err(i) => extra.insert(
                i,
                RawOption {
                    key: key.to_string(),
                    value,
                },
            ),
        }
    }
}

fn check_range(value: Option<u64>, min: u64, max: u64) -> Result<(), String> {
    match value {
        Some(v) if v < min || v > max => Err(format!("must be between {min} and {max}")),
        _ => Ok(()),
    }
}

/// Declares a section struct. Each field line reads
/// `name: Type = "keyword", default [, min..=max];`.
macro_rules! section {
    (
        $(#[$meta:meta])*
        $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $key:literal, $default:expr $(, $min:literal ..= $max:literal)? ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// Known DRBD options of this section that shimai does not
            /// implement, sorted by keyword.
            pub extra: Vec<RawOption>,
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* extra: Vec::new() }
            }
        }

        impl Section for $name {
            fn set(&mut self, key: &str, arg: Option<&str>) -> Option<Result<(), String>> {
                match key {
                    $(
                        $key => Some(<$ty as OptionValue>::parse(arg).and_then(|v| {
                            $( check_range(v.number(), $min, $max)?; )?
                            self.$field = v;
                            Ok(())
                        })),
                    )*
                    _ => None,
                }
            }
            fn bare(key: &str) -> Option<bool> {
                match key {
                    $( $key => Some(<$ty as OptionValue>::BARE), )*
                    _ => None,
                }
            }
            fn keys() -> &'static [&'static str] {
                &[$($key),*]
            }
            fn entries(&self) -> Vec<(&'static str, Option<String>)> {
                vec![ $( ($key, OptionValue::render(&self.$field)), )* ]
            }
            fn extra(&self) -> &[RawOption] {
                &self.extra
            }
            fn extra_mut(&mut self) -> &mut Vec<RawOption> {
                &mut self.extra
            }
        }
    };
}

section!(
    /// `global { }`: settings for the whole node.
    Global {
        /// Kept for the dump only: shimai never reports usage anywhere.
        usage_count: UsageCount = "usage-count", UsageCount::Ask;
        /// How many devices may exist.
        minor_count: u32 = "minor-count", 32, 1..=255;
        /// Seconds between progress lines while waiting for the peer
        /// (0: none).
        dialog_refresh: u32 = "dialog-refresh", 1, 0..=600;
        /// Accept an address that is not on any local interface.
        disable_ip_verification: bool = "disable-ip-verification", false;
    }
);

section!(
    /// `net { }`: the replication link and split-brain policies (8.4
    /// layout: `protocol`, `verify-alg` and `csums-alg` live here even when
    /// the file writes them at resource level or in `syncer`).
    NetOptions {
        /// When a write is complete.
        protocol: Protocol = "protocol", Protocol::C;
        /// Peer must answer within this many tenths of a second.
        timeout: Deciseconds = "timeout", Deciseconds(60), 1..=600;
        /// Seconds between connection attempts.
        connect_int: Seconds = "connect-int", Seconds(10), 1..=120;
        /// Seconds of idle link before a keep-alive ping.
        ping_int: Seconds = "ping-int", Seconds(10), 1..=120;
        /// Tenths of a second to wait for a ping's answer.
        ping_timeout: Deciseconds = "ping-timeout", Deciseconds(5), 1..=300;
        /// A peer that misses `ko-count` × `timeout` on one write is expelled
        /// (0: never).
        ko_count: u32 = "ko-count", 7, 0..=200;
        /// Buffers for data in flight on the receiving side.
        max_buffers: u32 = "max-buffers", 2048, 32..=131_072;
        /// Writes between two barriers.
        max_epoch_size: u32 = "max-epoch-size", 2048, 1..=20_000;
        /// TCP send buffer (0: kernel autotuning).
        sndbuf_size: Bytes = "sndbuf-size", Bytes(0), 0..=10_485_760;
        /// TCP receive buffer (0: kernel autotuning).
        rcvbuf_size: Bytes = "rcvbuf-size", Bytes(0), 0..=10_485_760;
        /// Split-brain recovery with no Primary.
        after_sb_0pri: AfterSb0Pri = "after-sb-0pri", AfterSb0Pri::Disconnect;
        /// Split-brain recovery with one Primary.
        after_sb_1pri: AfterSb1Pri = "after-sb-1pri", AfterSb1Pri::Disconnect;
        /// Split-brain recovery with two Primaries.
        after_sb_2pri: AfterSb2Pri = "after-sb-2pri", AfterSb2Pri::Disconnect;
        /// Apply the policies even when a third node may be involved.
        always_asbp: bool = "always-asbp", false;
        /// Resync direction against roles.
        rr_conflict: RrConflict = "rr-conflict", RrConflict::Disconnect;
        /// Dual-primary (cluster file systems only).
        allow_two_primaries: bool = "allow-two-primaries", false;
        /// HMAC digest for peer authentication.
        cram_hmac_alg: Option<String> = "cram-hmac-alg", None;
        /// Secret for peer authentication; unset: no authentication.
        shared_secret: Option<String> = "shared-secret", None;
        /// Digest for online verify; unset: verify is refused.
        verify_alg: Option<String> = "verify-alg", None;
        /// Digest to skip identical blocks during resync.
        csums_alg: Option<String> = "csums-alg", None;
        /// What to do when the link cannot keep up.
        on_congestion: OnCongestion = "on-congestion", OnCongestion::Block;
        /// Data in flight that counts as congestion (0: off).
        congestion_fill: Sectors = "congestion-fill", Sectors(0), 0..=20_971_520;
        /// Active AL extents that count as congestion.
        congestion_extents: u32 = "congestion-extents", 1237, 7..=65_534;
        /// Compress bitmap exchanges.
        use_rle: bool = "use-rle", true;
        /// Let TCP merge small packets.
        tcp_cork: bool = "tcp-cork", true;
    }
);

section!(
    /// `disk { }`: the backing device, the activity log and resync (8.4
    /// layout: the 8.3 `syncer` options and `fencing` live here).
    DiskOptions {
        /// Reaction to a lower-level I/O error.
        on_io_error: OnIoError = "on-io-error", OnIoError::Detach;
        /// Fencing policy (in `net` for DRBD 9 files; same meaning).
        fencing: Fencing = "fencing", Fencing::DontCare;
        /// Activity-log size in 4 MiB extents.
        al_extents: u32 = "al-extents", 1237, 7..=65_534;
        /// Write the activity log (no: full resync after a Primary crash).
        al_updates: bool = "al-updates", true;
        /// Use barriers for write ordering.
        disk_barrier: bool = "disk-barrier", false;
        /// Flush the backing device for write ordering.
        disk_flushes: bool = "disk-flushes", true;
        /// Drain the queue for write ordering.
        disk_drain: bool = "disk-drain", true;
        /// Flush metadata writes.
        md_flushes: bool = "md-flushes", true;
        /// Fixed resync rate, used when `c-plan-ahead` is 0.
        resync_rate: KibPerSec = "resync-rate", KibPerSec(250), 1..=4_194_304;
        /// Resource that must finish resyncing before this one starts.
        resync_after: Option<String> = "resync-after", None;
        /// Resync controller look-ahead (0: fixed rate).
        c_plan_ahead: Deciseconds = "c-plan-ahead", Deciseconds(20), 0..=300;
        /// Resync data to keep in flight.
        c_fill_target: Sectors = "c-fill-target", Sectors(100), 0..=1_048_576;
        /// Resync delay target when `c-fill-target` is 0.
        c_delay_target: Deciseconds = "c-delay-target", Deciseconds(10), 1..=100;
        /// Upper bound of the dynamic resync rate.
        c_max_rate: KibPerSec = "c-max-rate", KibPerSec(102_400), 0..=4_194_304;
        /// Resync rate kept while application I/O competes.
        c_min_rate: KibPerSec = "c-min-rate", KibPerSec(250), 0..=4_194_304;
        /// Backing-device timeout (0: off).
        disk_timeout: Deciseconds = "disk-timeout", Deciseconds(0), 0..=6000;
    }
);

section!(
    /// `startup { }`: how long `wait-connect` at boot waits.
    StartupOptions {
        /// Seconds to wait for the peer (0: forever).
        wfc_timeout: Seconds = "wfc-timeout", Seconds(0), 0..=300_000;
        /// Same, when the node was part of a degraded cluster.
        degr_wfc_timeout: Seconds = "degr-wfc-timeout", Seconds(0), 0..=300_000;
        /// Same, when the peer was outdated.
        outdated_wfc_timeout: Seconds = "outdated-wfc-timeout", Seconds(0), 0..=300_000;
    }
);

section!(
    /// `options { }`: resource-wide options, with shimai's own `attach`.
    ResourceOptions {
        /// shimai: how the Primary's block device is made.
        attach: Attach = "attach", Attach::Auto;
        /// DRBD 9: promote on first open for writing.
        auto_promote: bool = "auto-promote", true;
        /// Tenths of a second auto-promote waits for the peer.
        auto_promote_timeout: Deciseconds = "auto-promote-timeout", Deciseconds(20), 0..=600;
        /// DRBD 9 quorum.
        quorum: Quorum = "quorum", Quorum::Off;
        /// I/O without quorum.
        on_no_quorum: OnNoQuorum = "on-no-quorum", OnNoQuorum::SuspendIo;
        /// Two-phase-commit timeout.
        twopc_timeout: Deciseconds = "twopc-timeout", Deciseconds(300), 50..=600;
        /// Writes between peer acknowledgements.
        peer_ack_window: Sectors = "peer-ack-window", Sectors(4096), 2048..=204_800;
        /// Longest wait before a peer acknowledgement.
        peer_ack_delay: Milliseconds = "peer-ack-delay", Milliseconds(100), 1..=10_000;
    }
);

section!(
    /// `handlers { }`: commands run on events (unset: nothing runs). Each is
    /// run through `/bin/sh -c`, as DRBD does.
    Handlers {
        /// Promoted while inconsistent and degraded (0.7 `incon-degr-cmd`).
        pri_on_incon_degr: Option<String> = "pri-on-incon-degr", None;
        /// This Primary lost split-brain recovery.
        pri_lost_after_sb: Option<String> = "pri-lost-after-sb", None;
        /// This Primary is to be discarded.
        pri_lost: Option<String> = "pri-lost", None;
        /// Fence the peer (exit codes in drbd.md §1.11).
        fence_peer: Option<String> = "fence-peer", None;
        /// Undo fencing.
        unfence_peer: Option<String> = "unfence-peer", None;
        /// Lower-level I/O error with `on-io-error call-local-io-error`.
        local_io_error: Option<String> = "local-io-error", None;
        /// Split brain seen at first contact.
        initial_split_brain: Option<String> = "initial-split-brain", None;
        /// Split brain not resolved automatically.
        split_brain: Option<String> = "split-brain", None;
        /// Before becoming SyncTarget (snapshots).
        before_resync_target: Option<String> = "before-resync-target", None;
        /// After a resync as SyncTarget (8.4 unfencing).
        after_resync_target: Option<String> = "after-resync-target", None;
        /// Before becoming SyncSource.
        before_resync_source: Option<String> = "before-resync-source", None;
        /// Online verify found differences.
        out_of_sync: Option<String> = "out-of-sync", None;
        /// Quorum lost (DRBD 9).
        quorum_lost: Option<String> = "quorum-lost", None;
        /// Connection lost (DRBD 9).
        disconnected: Option<String> = "disconnected", None;
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_checks_type_and_range() {
        let mut net = NetOptions::default();
        assert_eq!(net.set("ko-count", Some("3")), Some(Ok(())));
        assert_eq!(net.ko_count, 3);
        assert!(net.set("ko-count", Some("900")).unwrap().is_err());
        assert!(net.set("protocol", Some("Z")).unwrap().is_err());
        assert_eq!(net.set("no-such-thing", Some("1")), None);
        assert_eq!(NetOptions::bare("allow-two-primaries"), Some(true));
        assert_eq!(NetOptions::bare("timeout"), Some(false));
    }

    #[test]
    fn every_rendered_value_parses_back_to_itself() {
        let mut net = NetOptions::default();
        net.set("shared-secret", Some("s3cr3t")).unwrap().unwrap();
        net.set("after-sb-0pri", Some("discard-node-bob"))
            .unwrap()
            .unwrap();
        for (key, value) in net.entries() {
            let mut copy = NetOptions::default();
            if let Some(v) = &value {
                copy.set(key, Some(v)).unwrap().unwrap();
                assert_eq!(copy.entries().iter().find(|e| e.0 == key).unwrap().1, value);
            }
        }
    }

    #[test]
    fn extras_are_sorted_and_replaced() {
        let mut disk = DiskOptions::default();
        disk.set_extra("size", Some("10G"));
        disk.set_extra("read-balancing", Some("prefer-local"));
        disk.set_extra("size", Some("20G"));
        assert_eq!(disk.extra.len(), 2);
        assert_eq!(disk.extra[0].key, "read-balancing");
        assert_eq!(disk.extra[1].value.as_deref(), Some("20G"));
    }
}
