//! The superblock's flag word (DRBD 8.4's `MDF_*`, same bits, same meaning)
//! and the two rules that tie it to the live state: which flags a running
//! node persists, and which disk state a node attaches with.
//!
//! Same bit numbers as DRBD so that `dump-md`-style output and operators'
//! knowledge carry over (`reference/drbd.md` §1.7).

use std::fmt;

use shimai_replication::{ConnState, DiskState, Role};

/// The persisted flags: a hand-written bit set (one `u32`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MdFlags(u32);

impl MdFlags {
    /// The disk held consistent data when last written (disk > Inconsistent).
    pub const CONSISTENT: MdFlags = MdFlags(1 << 0);
    /// This node is Primary (or its Primary peer has no good disk). Set
    /// while Primary and cleared by a clean demotion or `down`, so finding
    /// it at attach means the Primary crashed; attach then records
    /// [`CRASHED_PRIMARY`](Self::CRASHED_PRIMARY) until the next resync.
    pub const PRIMARY_IND: MdFlags = MdFlags(1 << 1);
    /// The node was connected to its peer.
    pub const CONNECTED_IND: MdFlags = MdFlags(1 << 2);
    /// A full resync is pending: set every bitmap bit at the next attach.
    pub const FULL_SYNC: MdFlags = MdFlags(1 << 3);
    /// The disk was UpToDate or Consistent (disk > Outdated).
    pub const WAS_UP_TO_DATE: MdFlags = MdFlags(1 << 4);
    /// The peer's disk is known to be Outdated or Inconsistent.
    pub const PEER_OUT_DATED: MdFlags = MdFlags(1 << 5);
    /// The node crashed while Primary and has not resynced since.
    pub const CRASHED_PRIMARY: MdFlags = MdFlags(1 << 6);
    /// The node went down cleanly: the on-disk bitmap is complete, the
    /// activity log need not be replayed into it.
    pub const AL_CLEAN: MdFlags = MdFlags(1 << 7);
    /// `al-updates no`: no activity log is kept; a crash means full resync.
    pub const AL_DISABLED: MdFlags = MdFlags(1 << 8);

    const NAMED: [(MdFlags, &'static str); 9] = [
        (MdFlags::CONSISTENT, "consistent"),
        (MdFlags::PRIMARY_IND, "primary-ind"),
        (MdFlags::CONNECTED_IND, "connected-ind"),
        (MdFlags::FULL_SYNC, "full-sync"),
        (MdFlags::WAS_UP_TO_DATE, "was-up-to-date"),
        (MdFlags::PEER_OUT_DATED, "peer-outdated"),
        (MdFlags::CRASHED_PRIMARY, "crashed-primary"),
        (MdFlags::AL_CLEAN, "al-clean"),
        (MdFlags::AL_DISABLED, "al-disabled"),
    ];

    /// Every bit this version knows.
    pub const ALL: MdFlags = MdFlags((1 << 9) - 1);

    pub const fn empty() -> MdFlags {
        MdFlags(0)
    }

    /// The flags from their raw value, or `None` when an unknown bit is set
    /// (a newer format: refusing is safer than dropping its meaning).
    pub const fn from_bits(bits: u32) -> Option<MdFlags> {
        if bits & !MdFlags::ALL.0 == 0 {
            Some(MdFlags(bits))
        } else {
            None
        }
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn contains(self, other: MdFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: MdFlags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: MdFlags) {
        self.0 &= !other.0;
    }

    /// Inserts or removes `other`.
    pub fn set(&mut self, other: MdFlags, on: bool) {
        if on {
            self.insert(other);
        } else {
            self.remove(other);
        }
    }

    /// The flags a running node persists for `state`, keeping from `self`
    /// only what the state does not decide (full-sync, al-disabled).
    ///
    /// This is DRBD 8.4's recomputation on every state change: it also
    /// clears al-clean, since a node that changes state is running.
    pub fn for_state(self, state: &NodeState) -> MdFlags {
        let mut f = MdFlags(self.0 & (MdFlags::FULL_SYNC.0 | MdFlags::AL_DISABLED.0));
        f.set(MdFlags::CRASHED_PRIMARY, state.crashed_primary);
        f.set(
            MdFlags::PRIMARY_IND,
            state.role == Role::Primary
                || (state.peer_role == Role::Primary && state.peer_disk < DiskState::Inconsistent),
        );
        f.set(
            MdFlags::CONNECTED_IND,
            state.conn > ConnState::WFReportParams,
        );
        f.set(MdFlags::CONSISTENT, state.disk > DiskState::Inconsistent);
        f.set(MdFlags::WAS_UP_TO_DATE, state.disk > DiskState::Outdated);
        f.set(
            MdFlags::PEER_OUT_DATED,
            state.peer_disk >= DiskState::Inconsistent && state.peer_disk <= DiskState::Outdated,
        );
        f
    }
}

impl std::ops::BitOr for MdFlags {
    type Output = MdFlags;
    fn bitor(self, rhs: MdFlags) -> MdFlags {
        MdFlags(self.0 | rhs.0)
    }
}

/// Lists the set flags by name (`consistent|was-up-to-date`), as `dump-md` would.
impl fmt::Debug for MdFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (flag, name) in MdFlags::NAMED {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("(none)")?;
        }
        Ok(())
    }
}

impl fmt::Display for MdFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The part of the live state that the flags record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeState {
    pub role: Role,
    pub peer_role: Role,
    pub conn: ConnState,
    pub disk: DiskState,
    pub peer_disk: DiskState,
    /// The node attached after crashing as Primary and has not resynced since.
    pub crashed_primary: bool,
}

/// What a node starts with when it attaches its disk, decided from the
/// flags alone (DRBD 8.4's attach rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachState {
    pub disk: DiskState,
    /// What this node believes of the peer's disk before talking to it.
    pub peer_disk: DiskState,
    /// The node was Primary when it stopped without a clean demotion: the
    /// handshake prefers the peer when both crashed (rule 40).
    pub crashed_primary: bool,
    /// The node did not go down cleanly: the extents in the activity log
    /// may differ from the peer and must be marked out of sync.
    pub replay_al: bool,
    /// A full resync was requested: mark every block out of sync.
    pub full_sync: bool,
}

impl AttachState {
    /// The attach rules: consistent + was-up-to-date gives Consistent,
    /// consistent alone gives Outdated, otherwise Inconsistent; a
    /// Consistent disk becomes UpToDate when the peer is known outdated or
    /// fencing is `dont-care` (no one will ever outdate it for us).
    pub fn from_flags(flags: MdFlags, fencing_dont_care: bool) -> AttachState {
        let peer_disk = if flags.contains(MdFlags::PEER_OUT_DATED) {
            DiskState::Outdated
        } else {
            DiskState::DUnknown
        };
        let mut disk = if !flags.contains(MdFlags::CONSISTENT) {
            DiskState::Inconsistent
        } else if flags.contains(MdFlags::WAS_UP_TO_DATE) {
            DiskState::Consistent
        } else {
            DiskState::Outdated
        };
        if disk == DiskState::Consistent && (peer_disk == DiskState::Outdated || fencing_dont_care)
        {
            disk = DiskState::UpToDate;
        }
        AttachState {
            disk,
            peer_disk,
            crashed_primary: flags.contains(MdFlags::PRIMARY_IND)
                || flags.contains(MdFlags::CRASHED_PRIMARY),
            replay_al: !flags.contains(MdFlags::AL_CLEAN),
            full_sync: flags.contains(MdFlags::FULL_SYNC),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn running(role: Role, disk: DiskState, peer_disk: DiskState) -> NodeState {
        NodeState {
            role,
            peer_role: Role::Secondary,
            conn: ConnState::Connected,
            disk,
            peer_disk,
            crashed_primary: false,
        }
    }

    #[test]
    fn primary_up_to_date_connected() {
        let f = MdFlags::AL_CLEAN.for_state(&running(
            Role::Primary,
            DiskState::UpToDate,
            DiskState::UpToDate,
        ));
        assert_eq!(
            format!("{f:?}"),
            "consistent|primary-ind|connected-ind|was-up-to-date"
        );
    }

    #[test]
    fn state_keeps_full_sync_and_drops_al_clean() {
        let f = (MdFlags::FULL_SYNC | MdFlags::AL_CLEAN).for_state(&NodeState {
            role: Role::Secondary,
            peer_role: Role::Unknown,
            conn: ConnState::WFConnection,
            disk: DiskState::Outdated,
            peer_disk: DiskState::DUnknown,
            crashed_primary: true,
        });
        assert_eq!(format!("{f}"), "consistent|full-sync|crashed-primary");
    }

    #[test]
    fn attach_rules() {
        let up = MdFlags::CONSISTENT | MdFlags::WAS_UP_TO_DATE | MdFlags::AL_CLEAN;
        let a = AttachState::from_flags(up, false);
        assert_eq!(
            (a.disk, a.peer_disk),
            (DiskState::Consistent, DiskState::DUnknown)
        );
        assert!(!a.replay_al && !a.crashed_primary && !a.full_sync);
        assert_eq!(AttachState::from_flags(up, true).disk, DiskState::UpToDate);
        let a = AttachState::from_flags(up | MdFlags::PEER_OUT_DATED, false);
        assert_eq!(
            (a.disk, a.peer_disk),
            (DiskState::UpToDate, DiskState::Outdated)
        );

        let a = AttachState::from_flags(MdFlags::CONSISTENT, true);
        assert_eq!(a.disk, DiskState::Outdated, "outdated stays outdated");
        assert!(a.replay_al, "no al-clean: crashed");

        let a = AttachState::from_flags(MdFlags::PRIMARY_IND | MdFlags::FULL_SYNC, true);
        assert_eq!(a.disk, DiskState::Inconsistent);
        assert!(a.crashed_primary && a.full_sync);
    }

    #[test]
    fn unknown_bits_are_refused() {
        assert_eq!(MdFlags::from_bits(0x1ff), Some(MdFlags::ALL));
        assert_eq!(MdFlags::from_bits(1 << 9), None);
        assert_eq!(format!("{:?}", MdFlags::empty()), "(none)");
    }

    fn disk_state() -> impl Strategy<Value = DiskState> {
        prop::sample::select(vec![
            DiskState::Diskless,
            DiskState::Inconsistent,
            DiskState::Outdated,
            DiskState::DUnknown,
            DiskState::Consistent,
            DiskState::UpToDate,
        ])
    }

    proptest! {
        /// What a node persists while running, it gets back at attach: an
        /// UpToDate disk never comes back below Consistent, an Outdated one
        /// never comes back usable, an Inconsistent one stays Inconsistent,
        /// and a Primary that stops without demoting counts as crashed.
        #[test]
        fn persisted_state_comes_back(disk in disk_state(), peer_disk in disk_state(),
                                      primary in any::<bool>(), dont_care in any::<bool>()) {
            let role = if primary { Role::Primary } else { Role::Secondary };
            let f = MdFlags::empty().for_state(&running(role, disk, peer_disk));
            let a = AttachState::from_flags(f, dont_care);
            match disk {
                DiskState::UpToDate | DiskState::Consistent => {
                    prop_assert!(a.disk >= DiskState::Consistent)
                }
                DiskState::Outdated | DiskState::DUnknown => {
                    prop_assert!(a.disk >= DiskState::Outdated)
                }
                _ => prop_assert_eq!(a.disk, DiskState::Inconsistent),
            }
            if disk == DiskState::Outdated {
                prop_assert_eq!(a.disk, DiskState::Outdated);
            }
            prop_assert_eq!(a.crashed_primary, primary);
            prop_assert!(a.replay_al);
        }
    }
}
