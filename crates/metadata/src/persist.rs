//! Glue to the replication core: what it needs at attach
//! ([`Persisted`]) and how its persistence actions (`PersistMeta`,
//! `PersistBitmap`, `PersistAl`) map onto the metadata, so the daemon's
//! loop is one call per action.
//!
//! The core keeps its own copy of the flags as a plain `u32` with the same
//! DRBD bit values; the conversion keeps only the bits this format knows.

use shimai_replication::{MetaRecord, Persisted};

use crate::error::Result;
use crate::flags::MdFlags;
use crate::io::BlockIo;
use crate::store::Metadata;

impl From<MdFlags> for shimai_replication::MdFlags {
    fn from(f: MdFlags) -> Self {
        shimai_replication::MdFlags(f.bits())
    }
}

impl From<shimai_replication::MdFlags> for MdFlags {
    /// Bits this format does not define are dropped (the core defines none).
    fn from(f: shimai_replication::MdFlags) -> Self {
        MdFlags::from_bits(f.0 & MdFlags::ALL.bits()).unwrap_or_default()
    }
}

impl<IO: BlockIo> Metadata<IO> {
    /// What the core's `AdminCmd::Attach` takes: identifiers, flags, the
    /// bitmap and the hot extents of the activity log.
    pub fn persisted(&self) -> Persisted {
        let sb = self.superblock();
        Persisted {
            gi: sb.gi,
            flags: sb.flags.into(),
            bitmap: self.bitmap().clone(),
            al: self.activity_log().hot_extents(),
        }
    }

    /// `Action::PersistMeta`: a new superblock copy with these identifiers and flags.
    pub fn persist_meta(&mut self, rec: &MetaRecord) -> Result<()> {
        self.update_superblock(|sb| {
            sb.gi = rec.gi;
            sb.flags = rec.flags.into();
        })
    }

    /// `Action::PersistBitmap`: bitmap words from `first_word` on; words
    /// past the end of the bitmap are ignored.
    pub fn persist_bitmap(&mut self, first_word: u64, words: &[u64]) -> Result<()> {
        let first = usize::try_from(first_word).unwrap_or(usize::MAX);
        let bitmap = self.bitmap_mut();
        for (i, new) in words.iter().enumerate() {
            let Some(idx) = first.checked_add(i) else {
                break;
            };
            let Some(&old) = bitmap.words().get(idx) else {
                break;
            };
            let mut diff = old ^ new;
            while diff != 0 {
                let bit = u64::from(diff.trailing_zeros());
                let at = idx as u64 * 64 + bit;
                if new & (1 << bit) != 0 {
                    bitmap.set(at);
                } else {
                    bitmap.clear(at);
                }
                diff &= diff - 1;
            }
        }
        self.write_bitmap_words(first..first.saturating_add(words.len()))
    }

    /// `Action::PersistAl`: the whole hot set after the change. Written as
    /// the difference to the current table; the core has already sent the
    /// bitmap words of the extents that leave.
    pub fn persist_al(&mut self, hot: &[u32]) -> Result<()> {
        let now = self.activity_log().hot_extents();
        let wanted: std::collections::BTreeSet<u32> = hot.iter().copied().collect();
        let evict: Vec<u32> = now
            .iter()
            .copied()
            .filter(|e| !wanted.contains(e))
            .collect();
        let activate: Vec<u32> = wanted.into_iter().collect();
        self.al_transaction(&activate, &evict, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::MetaDevice;
    use crate::layout::Layout;
    use crate::store::{create, open};
    use crate::{MemDisk, Placement};
    use shimai_replication::GenerationIds;

    #[test]
    fn core_actions_round_trip_through_the_disk() {
        let disk = MemDisk::new(1 << 20);
        let layout = Layout::external("/dev/md", 1 << 20, 1 << 30, 61, None).unwrap();
        let dev = || MetaDevice::new(disk.clone(), "/dev/md", "r0");
        let mut md = create(dev(), layout, 1).unwrap();

        let mut flags = shimai_replication::MdFlags::default();
        flags.set(shimai_replication::MdFlags::CONSISTENT, true);
        flags.set(shimai_replication::MdFlags::PRIMARY_IND, true);
        let gi = GenerationIds {
            current: 0xaa,
            bitmap: 0xbb,
            history: [0xcc, 0],
        };
        md.persist_meta(&MetaRecord { gi, flags }).unwrap();
        md.persist_bitmap(600, &[0b1010, u64::MAX]).unwrap();
        md.persist_al(&[4, 5, 6]).unwrap();
        md.persist_al(&[5, 6, 9]).unwrap();
        md.persist_bitmap(600, &[0b0010]).unwrap();

        let back = open(dev(), Placement::External).unwrap().persisted();
        assert_eq!(back.gi, gi);
        assert_eq!(back.flags, flags);
        assert_eq!(back.al, vec![5, 6, 9]);
        assert_eq!(back.bitmap.count(), 1 + 64);
        assert!(back.bitmap.get(600 * 64 + 1) && !back.bitmap.get(600 * 64 + 3));
        assert_eq!(back.bitmap.words()[601], u64::MAX);
    }

    #[test]
    fn flag_conversion_keeps_known_bits() {
        let f = MdFlags::CONSISTENT | MdFlags::AL_CLEAN;
        let core: shimai_replication::MdFlags = f.into();
        assert_eq!(core.0, 1 | 1 << 7);
        assert_eq!(
            MdFlags::from(shimai_replication::MdFlags(core.0 | 1 << 20)),
            f
        );
    }
}
