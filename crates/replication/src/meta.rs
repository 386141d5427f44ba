//! The persistent flags of the metadata superblock (MDF_* of `reference/drbd.md` §1.7) and the
//! record the core asks the daemon to persist.

use crate::gi::GenerationIds;

/// Metadata flags with DRBD 8.4's bit values, so a dump reads like `drbdmeta show-gi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MdFlags(pub u32);

impl MdFlags {
    pub const CONSISTENT: u32 = 1 << 0;
    pub const PRIMARY_IND: u32 = 1 << 1;
    pub const CONNECTED_IND: u32 = 1 << 2;
    pub const FULL_SYNC: u32 = 1 << 3;
    pub const WAS_UP_TO_DATE: u32 = 1 << 4;
    pub const PEER_OUT_DATED: u32 = 1 << 5;
    pub const CRASHED_PRIMARY: u32 = 1 << 6;
    pub const AL_CLEAN: u32 = 1 << 7;

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    pub fn set(&mut self, bit: u32, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

/// The superblock content the core wants on disk (identifiers and flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaRecord {
    pub gi: GenerationIds,
    pub flags: MdFlags,
}
