//! State names as the different DRBD tools print them.
//!
//! The daemon reports DRBD 8.4 names (one `cs:` per device). `drbdadm
//! status` in 9.x splits that into a connection state and a replication
//! state, and renamed `WFConnection` to `Connecting` and `Connected` to
//! `Established`; operators who use either tool must see the words they
//! know, so both views are derived here from the one 8.4 value.

/// 8.4 connection states in which the peers exchange data.
const CONNECTED_FAMILY: [&str; 14] = [
    "Connected",
    "StartingSyncS",
    "StartingSyncT",
    "WFBitMapS",
    "WFBitMapT",
    "WFSyncUUID",
    "SyncSource",
    "SyncTarget",
    "VerifyS",
    "VerifyT",
    "PausedSyncS",
    "PausedSyncT",
    "Ahead",
    "Behind",
];

/// The 9.x connection state for an 8.4 `cs:` value.
pub fn connection_9(cs: &str) -> &str {
    match cs {
        "WFConnection" | "WFReportParams" => "Connecting",
        cs if CONNECTED_FAMILY.contains(&cs) => "Connected",
        // StandAlone, Disconnecting, Unconnected, Timeout, BrokenPipe,
        // NetworkFailure, ProtocolError, TearDown keep their names.
        cs => cs,
    }
}

/// The 9.x replication state for an 8.4 `cs:` value; `None` while the
/// peers are not connected (9.x then prints no peer-device line).
pub fn replication_9(cs: &str) -> Option<&str> {
    match cs {
        "Connected" => Some("Established"),
        cs if CONNECTED_FAMILY.contains(&cs) => Some(cs),
        _ => None,
    }
}

/// Every value [`replication_9`] can give, and `Off` for no connection: the values of the
/// exporter's replication-state metric.
pub fn replication_states_9() -> Vec<&'static str> {
    std::iter::once("Off")
        .chain(CONNECTED_FAMILY.iter().filter_map(|cs| replication_9(cs)))
        .collect()
}

/// Whether `cs` is a resync in progress (the /proc/drbd progress lines).
pub fn is_resync(cs: &str) -> bool {
    matches!(
        cs,
        "SyncSource" | "SyncTarget" | "PausedSyncS" | "PausedSyncT"
    )
}

/// Whether `cs` is an online verify in progress (`verified:` instead of `sync'ed:`).
pub fn is_verify(cs: &str) -> bool {
    matches!(cs, "VerifyS" | "VerifyT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_9x_names_follow_the_8_4_state() {
        assert_eq!(connection_9("WFConnection"), "Connecting");
        assert_eq!(connection_9("SyncTarget"), "Connected");
        assert_eq!(connection_9("StandAlone"), "StandAlone");
        assert_eq!(replication_9("Connected"), Some("Established"));
        assert_eq!(replication_9("PausedSyncS"), Some("PausedSyncS"));
        assert_eq!(replication_9("WFConnection"), None);
        assert!(is_resync("PausedSyncT") && !is_resync("Connected"));
        assert!(is_verify("VerifyS") && !is_verify("SyncSource"));
    }
}
