//! Roles, connection states and disk states, named and ordered as DRBD 8.4 names them
//! (`reference/drbd.md` §1.2-1.4), because operators' runbooks and monitoring grep for them.

use std::fmt;

/// A node's role. `Unknown` is only ever the peer's role seen while disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Primary,
    Secondary,
    Unknown,
}

/// The 8.4 connection state (`cs:`), in the kernel's enum order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnState {
    StandAlone,
    Disconnecting,
    Unconnected,
    Timeout,
    BrokenPipe,
    NetworkFailure,
    ProtocolError,
    TearDown,
    WFConnection,
    WFReportParams,
    Connected,
    StartingSyncS,
    StartingSyncT,
    WFBitMapS,
    WFBitMapT,
    WFSyncUUID,
    SyncSource,
    SyncTarget,
    VerifyS,
    VerifyT,
    PausedSyncS,
    PausedSyncT,
    Ahead,
    Behind,
}

impl ConnState {
    /// Connected to the peer in any way (replicating, syncing or verifying).
    pub fn is_connected(self) -> bool {
        self >= ConnState::Connected
    }
    /// Resync in progress or paused.
    pub fn is_syncing(self) -> bool {
        matches!(
            self,
            ConnState::SyncSource
                | ConnState::SyncTarget
                | ConnState::PausedSyncS
                | ConnState::PausedSyncT
        )
    }
}

/// Disk state, ordered: the code compares them with `<` and `>` as DRBD does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiskState {
    Diskless,
    Attaching,
    Failed,
    Negotiating,
    Inconsistent,
    Outdated,
    DUnknown,
    Consistent,
    UpToDate,
}

macro_rules! display_as_debug {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    )*};
}
display_as_debug!(Role, ConnState, DiskState);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_order_match_drbd() {
        assert_eq!(ConnState::WFConnection.to_string(), "WFConnection");
        assert_eq!(DiskState::UpToDate.to_string(), "UpToDate");
        assert!(DiskState::Inconsistent < DiskState::Outdated);
        assert!(DiskState::Outdated < DiskState::Consistent);
        assert!(ConnState::SyncTarget.is_connected());
        assert!(!ConnState::WFConnection.is_connected());
    }
}
