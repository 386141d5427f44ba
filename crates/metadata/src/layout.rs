//! Where each part of the metadata lives, computed from the device sizes
//! and `al-extents` alone, so that the same inputs always give the same
//! offsets (the superblock stores them, and the reader recomputes them to
//! catch a superblock that decodes but points elsewhere).
//!
//! Every offset and size is a multiple of 4 KiB, the unit in which block
//! devices write atomically at best and which keeps metadata writes from
//! sharing a sector with data.

use std::fmt;

use crate::al::AL_CONTEXT_PER_TRANSACTION;
use crate::error::{MetaError, Result};

/// The unit of every metadata write.
pub const BLOCK: u64 = 4096;
/// Superblock copies, written alternately.
pub const SB_SLOTS: usize = 2;
/// Bytes of data one activity-log extent covers (`AL_EXTENT_SHIFT 22`).
pub const AL_EXTENT_SIZE: u64 = 4 << 20;
/// DRBD's accepted range and default for `al-extents`.
pub const AL_EXTENTS_MIN: u32 = 7;
pub const AL_EXTENTS_MAX: u32 = 65534;
pub const AL_EXTENTS_DEFAULT: u32 = 1237;
/// The activity-log ring is never shorter than DRBD's 32 KiB.
pub const AL_MIN_RING_BLOCKS: u32 = 8;
/// The size of one slot of an indexed external meta-disk (DRBD's v07 layout).
pub const INDEXED_SLOT_SIZE: u64 = 128 << 20;
/// A device must leave at least one activity-log extent of data.
pub const MIN_DATA_SIZE: u64 = AL_EXTENT_SIZE;
/// The largest data area (DRBD's limit, 1 PiB); it also keeps every
/// extent number below `u32::MAX`.
pub const MAX_DATA_SIZE: u64 = 1 << 50;

/// Where the metadata is relative to the data (`meta-disk` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placement {
    /// At the end of the backing device; the data area shrinks by its size.
    Internal,
    /// From byte 0 of a separate device, sized for the data (`meta-disk DEV`).
    External,
    /// In fixed 128 MiB slot `n` of a separate device (`meta-disk DEV [n]`).
    Indexed(u32),
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placement::Internal => f.write_str("internal"),
            Placement::External => f.write_str("external"),
            Placement::Indexed(i) => write!(f, "external[{i}]"),
        }
    }
}

/// The computed positions (absolute byte offsets on the metadata device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub placement: Placement,
    pub al_extents: u32,
    /// Usable bytes of data: what the node can offer as the device size.
    pub capacity: u64,
    /// Start and length of the whole metadata area.
    pub md_offset: u64,
    pub md_size: u64,
    /// The two superblock copies.
    pub sb_offsets: [u64; SB_SLOTS],
    /// The activity-log ring: `al_blocks` transactions of 4 KiB.
    pub al_offset: u64,
    pub al_blocks: u32,
    /// The bitmap area (may be larger than the bitmap, never smaller).
    pub bm_offset: u64,
    pub bm_size: u64,
}

/// Transactions in the ring: enough that the context windows of all but
/// the newest (which may be torn) cover every slot.
pub fn al_ring_blocks(al_extents: u32) -> u32 {
    let windows = al_extents.div_ceil(AL_CONTEXT_PER_TRANSACTION as u32);
    (windows + 1).max(AL_MIN_RING_BLOCKS)
}

/// Bytes of bitmap area for `data` bytes: one bit per 4 KiB, whole u64
/// words, whole blocks.
pub fn bitmap_bytes(data: u64) -> u64 {
    let bits = data.div_ceil(BLOCK);
    let bytes = bits.div_ceil(64) * 8;
    bytes.div_ceil(BLOCK) * BLOCK
}

fn check_al_extents(al_extents: u32) -> Result<()> {
    if (AL_EXTENTS_MIN..=AL_EXTENTS_MAX).contains(&al_extents) {
        Ok(())
    } else {
        Err(MetaError::InvalidParameter {
            name: "al-extents",
            value: al_extents.into(),
            reason: format!("must be between {AL_EXTENTS_MIN} and {AL_EXTENTS_MAX}"),
        })
    }
}

fn too_large(value: u64) -> MetaError {
    MetaError::InvalidParameter {
        name: "data size",
        value,
        reason: format!("shimai handles at most {MAX_DATA_SIZE} bytes (1 PiB) per volume"),
    }
}

impl Layout {
    /// Metadata at the end of the backing device `device` of
    /// `backing_size` bytes: `[data][bitmap][activity log][sb 0][sb 1]`.
    /// A size that is not a multiple of 4 KiB leaves its last partial block unused.
    pub fn internal(device: &str, backing_size: u64, al_extents: u32) -> Result<Layout> {
        check_al_extents(al_extents)?;
        let aligned = backing_size / BLOCK * BLOCK;
        let al_blocks = al_ring_blocks(al_extents);
        let al_size = u64::from(al_blocks) * BLOCK;
        // Sized for the whole device rather than the data area, which it
        // exceeds by less than a block: no fixed point to solve for.
        let bm_size = bitmap_bytes(aligned);
        let md_size = bm_size + al_size + SB_SLOTS as u64 * BLOCK;
        let needed = md_size + MIN_DATA_SIZE;
        if aligned < needed {
            return Err(MetaError::DeviceTooSmall {
                device: device.to_string(),
                size: backing_size,
                needed,
                reason: "internal metadata plus one 4 MiB extent of data; \
                         use a larger device or a lower al-extents",
            });
        }
        let capacity = aligned - md_size;
        if capacity > MAX_DATA_SIZE {
            return Err(too_large(capacity));
        }
        let md_offset = capacity;
        let al_offset = md_offset + bm_size;
        let sb0 = al_offset + al_size;
        Ok(Layout {
            placement: Placement::Internal,
            al_extents,
            capacity,
            md_offset,
            md_size,
            sb_offsets: [sb0, sb0 + BLOCK],
            al_offset,
            al_blocks,
            bm_offset: md_offset,
            bm_size,
        })
    }

    /// Metadata on the separate device `md_device` of `md_device_size`
    /// bytes for a data device of `data_size` bytes:
    /// `[sb 0][sb 1][activity log][bitmap]`, from byte 0 (`index` None) or
    /// in 128 MiB slot `index`.
    pub fn external(
        md_device: &str,
        md_device_size: u64,
        data_size: u64,
        al_extents: u32,
        index: Option<u32>,
    ) -> Result<Layout> {
        let placement = index.map_or(Placement::External, Placement::Indexed);
        let layout = Layout::external_for(placement, data_size, al_extents)?;
        let end = layout.md_offset + layout.md_size;
        if md_device_size < end {
            return Err(MetaError::DeviceTooSmall {
                device: md_device.to_string(),
                size: md_device_size,
                needed: end,
                reason: "the external metadata of this data device at this meta-disk index; \
                         use a larger metadata device",
            });
        }
        Ok(layout)
    }

    /// The external layout without the check of the metadata device's size.
    fn external_for(placement: Placement, data_size: u64, al_extents: u32) -> Result<Layout> {
        check_al_extents(al_extents)?;
        let capacity = data_size / BLOCK * BLOCK;
        if capacity < MIN_DATA_SIZE {
            return Err(MetaError::DeviceTooSmall {
                device: "the data device".to_string(),
                size: data_size,
                needed: MIN_DATA_SIZE,
                reason: "one 4 MiB extent of data; use a larger data device",
            });
        }
        if capacity > MAX_DATA_SIZE {
            return Err(too_large(capacity));
        }
        let al_blocks = al_ring_blocks(al_extents);
        let al_size = u64::from(al_blocks) * BLOCK;
        let head = SB_SLOTS as u64 * BLOCK + al_size;
        let (md_offset, md_size, bm_size) = match placement {
            Placement::Indexed(index) => {
                let bm_size = INDEXED_SLOT_SIZE - head;
                if bitmap_bytes(capacity) > bm_size {
                    return Err(MetaError::InvalidParameter {
                        name: "data size",
                        value: capacity,
                        reason: format!(
                            "an indexed meta-disk slot tracks at most {} bytes of data; \
                             use `meta-disk DEVICE;` (flexible) or `meta-disk internal;`",
                            bm_size * 8 * BLOCK
                        ),
                    });
                }
                (
                    u64::from(index) * INDEXED_SLOT_SIZE,
                    INDEXED_SLOT_SIZE,
                    bm_size,
                )
            }
            _ => {
                let bm_size = bitmap_bytes(capacity);
                (0, head + bm_size, bm_size)
            }
        };
        Ok(Layout {
            placement,
            al_extents,
            capacity,
            md_offset,
            md_size,
            sb_offsets: [md_offset, md_offset + BLOCK],
            al_offset: md_offset + SB_SLOTS as u64 * BLOCK,
            al_blocks,
            bm_offset: md_offset + head,
            bm_size,
        })
    }

    /// The superblock offsets for `placement` on a device of `device_size`
    /// bytes: all a reader needs to find the metadata.
    pub fn superblock_offsets(placement: Placement, device_size: u64) -> Option<[u64; SB_SLOTS]> {
        match placement {
            Placement::Internal => {
                let end = device_size / BLOCK * BLOCK;
                let sb0 = end.checked_sub(SB_SLOTS as u64 * BLOCK)?;
                Some([sb0, sb0 + BLOCK])
            }
            Placement::External => Some([0, BLOCK]),
            Placement::Indexed(i) => {
                let base = u64::from(i) * INDEXED_SLOT_SIZE;
                Some([base, base + BLOCK])
            }
        }
    }

    /// Recomputes the layout from its inputs and says whether `self` is
    /// what this version would have written.
    pub fn is_canonical(&self) -> bool {
        let again = match self.placement {
            Placement::Internal => self
                .md_offset
                .checked_add(self.md_size)
                .and_then(|end| Layout::internal("", end, self.al_extents).ok()),
            p => Layout::external_for(p, self.capacity, self.al_extents).ok(),
        };
        again.as_ref() == Some(self)
    }

    /// End of the metadata area on its device.
    pub fn md_end(&self) -> u64 {
        self.md_offset.saturating_add(self.md_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn internal_one_gib_default() {
        let l = Layout::internal("/dev/x", GIB, AL_EXTENTS_DEFAULT).unwrap();
        // 32 KiB bitmap per GiB, 32 KiB ring, 8 KiB of superblocks: as DRBD's rule of thumb.
        assert_eq!(l.bm_size, 32 << 10);
        assert_eq!(l.al_blocks, 8);
        assert_eq!(l.md_size, (32 + 32 + 8) << 10);
        assert_eq!(l.capacity + l.md_size, GIB);
        assert_eq!(l.sb_offsets[1], GIB - BLOCK);
        assert_eq!(
            Layout::superblock_offsets(Placement::Internal, GIB),
            Some(l.sb_offsets)
        );
        assert!(l.is_canonical());
    }

    #[test]
    fn too_small_devices_are_refused_clearly() {
        let e = Layout::internal("/dev/tiny", 1 << 20, AL_EXTENTS_DEFAULT).unwrap_err();
        assert!(matches!(e, MetaError::DeviceTooSmall { .. }));
        assert!(
            e.to_string()
                .starts_with("/dev/tiny is too small: 1048576 bytes"),
            "{e}"
        );
        let e = Layout::external("/dev/md", 16 << 10, GIB, 1237, None).unwrap_err();
        assert!(e.to_string().starts_with("/dev/md is too small"), "{e}");
        let e = Layout::external("/dev/md", GIB, 4096, 1237, None).unwrap_err();
        assert!(e.to_string().contains("the data device"), "{e}");
        let e = Layout::internal("/dev/x", GIB, 3).unwrap_err();
        assert!(
            e.to_string().starts_with("al-extents = 3 is invalid"),
            "{e}"
        );
    }

    #[test]
    fn indexed_slots() {
        let l = Layout::external("/dev/md", 3 * INDEXED_SLOT_SIZE, GIB, 1237, Some(2)).unwrap();
        assert_eq!(l.md_offset, 2 * INDEXED_SLOT_SIZE);
        assert_eq!(l.md_size, INDEXED_SLOT_SIZE);
        assert_eq!(l.sb_offsets, [l.md_offset, l.md_offset + BLOCK]);
        assert_eq!(
            Layout::superblock_offsets(Placement::Indexed(2), 0),
            Some(l.sb_offsets)
        );
        assert!(l.is_canonical());
        assert!(Layout::external("/dev/md", 2 * INDEXED_SLOT_SIZE, GIB, 1237, Some(2)).is_err());
        let e = Layout::external("/dev/md", 1 << 40, 8 << 40, 1237, Some(0)).unwrap_err();
        assert!(e.to_string().contains("indexed meta-disk slot"), "{e}");
    }

    fn assert_sane(l: &Layout) {
        for off in [
            l.md_offset,
            l.md_size,
            l.al_offset,
            l.bm_offset,
            l.bm_size,
            l.capacity,
        ]
        .into_iter()
        .chain(l.sb_offsets)
        {
            assert_eq!(off % BLOCK, 0, "{l:?}");
        }
        // The parts do not overlap and stay inside the metadata area.
        let mut parts = [
            (l.al_offset, u64::from(l.al_blocks) * BLOCK),
            (l.bm_offset, l.bm_size),
            (l.sb_offsets[0], BLOCK),
            (l.sb_offsets[1], BLOCK),
        ];
        parts.sort();
        assert_eq!(parts[0].0, l.md_offset);
        for w in parts.windows(2) {
            assert_eq!(w[0].0 + w[0].1, w[1].0, "{l:?}");
        }
        assert_eq!(parts[3].0 + parts[3].1, l.md_end());
        assert!(l.bm_size >= bitmap_bytes(l.capacity));
        assert!(l.capacity >= MIN_DATA_SIZE);
        assert!(
            u64::from(l.al_blocks - 1) * AL_CONTEXT_PER_TRANSACTION as u64 >= l.al_extents.into()
        );
        assert!(l.is_canonical());
    }

    proptest! {
        #[test]
        fn internal_arithmetic(size in 0u64..(1 << 44), al in AL_EXTENTS_MIN..=AL_EXTENTS_MAX) {
            match Layout::internal("d", size, al) {
                Ok(l) => {
                    assert_sane(&l);
                    prop_assert_eq!(l.capacity + l.md_size, size / BLOCK * BLOCK);
                    prop_assert_eq!(l.md_offset, l.capacity);
                    prop_assert_eq!(Layout::superblock_offsets(Placement::Internal, size),
                                    Some(l.sb_offsets));
                }
                Err(MetaError::DeviceTooSmall { needed, .. }) => prop_assert!(size < needed),
                Err(e) => prop_assert!(false, "{}", e),
            }
        }

        #[test]
        fn external_arithmetic(data in 0u64..(1 << 44), al in AL_EXTENTS_MIN..=AL_EXTENTS_MAX,
                               index in prop::option::of(0u32..64)) {
            match Layout::external("m", u64::MAX, data, al, index) {
                Ok(l) => {
                    assert_sane(&l);
                    prop_assert_eq!(l.capacity, data / BLOCK * BLOCK);
                    let p = index.map_or(Placement::External, Placement::Indexed);
                    prop_assert_eq!(Layout::superblock_offsets(p, 0), Some(l.sb_offsets));
                    // Exactly enough metadata device is accepted, one byte less is not.
                    prop_assert!(Layout::external("m", l.md_end(), data, al, index).is_ok());
                    prop_assert!(Layout::external("m", l.md_end() - 1, data, al, index).is_err());
                }
                Err(_) => prop_assert!(data < MIN_DATA_SIZE || index.is_some()),
            }
        }
    }
}
