//! Where each part of the metadata lives, computed from the device sizes
//! and `al-extents` alone, so that the same inputs always give the same
//! offsets (the superblock stores them, and the reader recomputes them to
//! catch a superblock that decodes but points elsewhere).
//!
//! The areas are where DRBD 8.4 (`v08`) and DRBD 9 with one peer (`v09`)
//! put theirs, with the same sizes (drbd-utils' `drbdmeta`,
//! `re_initialize_md_offsets` and `bm_bytes`), so the data area of a disk
//! is byte for byte the one DRBD exposes as `/dev/drbdN`:
//!
//! ```text
//! internal: [data ........][bitmap][activity log 32 KiB][superblock 4 KiB]
//!           superblock = the last whole 4 KiB block of the device
//! external: [superblock 4 KiB][activity log 32 KiB][bitmap ........]
//!           from byte 0, or from n x 128 MiB for `meta-disk DEV [n]`
//! bitmap:   one bit per 4 KiB of the *whole backing device* (internal) or
//!           of the data device (external), in whole u64 words, whole 4 KiB
//! ```
//!
//! Every offset and size is a multiple of 4 KiB, the unit in which block
//! devices write atomically at best and which keeps metadata writes from
//! sharing a sector with data.
//!
//! The activity-log ring is DRBD's 32 KiB (8 transactions) for every
//! `al-extents` up to 6216 (888 x 7); a larger `al-extents` gets a longer
//! ring, as DRBD needs `drbdmeta --al-stripe-size-kB` for more than 6433.

use std::fmt;

use crate::al::AL_CONTEXT_PER_TRANSACTION;
use crate::error::{MetaError, Result};

/// The unit of every metadata write.
pub const BLOCK: u64 = 4096;
/// Superblock copies, written alternately (both in one 4 KiB block).
pub const SB_SLOTS: usize = 2;
/// Bytes of one superblock copy: two fit DRBD's one 4 KiB superblock.
pub const SB_COPY: u64 = BLOCK / SB_SLOTS as u64;
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
    /// The two superblock copies: the two halves of the superblock block.
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

/// Bytes of bitmap area for a device of `bytes` bytes, as DRBD computes
/// it (`bm_bytes`, one peer): one bit per 4 KiB of its whole 512-byte
/// sectors, whole u64 words, whole 4 KiB blocks.
pub fn bitmap_bytes(bytes: u64) -> u64 {
    let sectors = bytes >> 9;
    let bits = sectors.div_ceil(8);
    let bits = bits.div_ceil(64) * 64;
    (bits / 8).div_ceil(BLOCK) * BLOCK
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
    /// `backing_size` bytes: `[data][bitmap][activity log][superblock]`,
    /// the superblock in the last whole 4 KiB block.
    pub fn internal(device: &str, backing_size: u64, al_extents: u32) -> Result<Layout> {
        check_al_extents(al_extents)?;
        let aligned = backing_size / BLOCK * BLOCK;
        let al_blocks = al_ring_blocks(al_extents);
        let al_size = u64::from(al_blocks) * BLOCK;
        // DRBD sizes the bitmap for the whole device rather than the data
        // area, which it exceeds by less than a block: no fixed point.
        let bm_size = bitmap_bytes(backing_size);
        let md_size = bm_size + al_size + BLOCK;
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
        let sb = al_offset + al_size;
        Ok(Layout {
            placement: Placement::Internal,
            al_extents,
            capacity,
            md_offset,
            md_size,
            sb_offsets: [sb, sb + SB_COPY],
            al_offset,
            al_blocks,
            bm_offset: md_offset,
            bm_size,
        })
    }

    /// Metadata on the separate device `md_device` of `md_device_size`
    /// bytes for a data device of `data_size` bytes:
    /// `[superblock][activity log][bitmap]`, from byte 0 (`index` None) or
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
        let head = BLOCK + al_size;
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
            sb_offsets: [md_offset, md_offset + SB_COPY],
            al_offset: md_offset + BLOCK,
            al_blocks,
            bm_offset: md_offset + head,
            bm_size,
        })
    }

    /// The superblock offsets for `placement` on a device of `device_size`
    /// bytes: all a reader needs to find the metadata.
    pub fn superblock_offsets(placement: Placement, device_size: u64) -> Option<[u64; SB_SLOTS]> {
        let block = Layout::superblock_block(placement, device_size)?;
        Some([block, block + SB_COPY])
    }

    /// The 4 KiB block that holds the superblock (shimai's two copies, or
    /// DRBD's one): the last whole block (internal), or the first of the
    /// metadata area (external).
    pub fn superblock_block(placement: Placement, device_size: u64) -> Option<u64> {
        match placement {
            Placement::Internal => (device_size / BLOCK * BLOCK).checked_sub(BLOCK),
            Placement::External => Some(0),
            Placement::Indexed(i) => Some(u64::from(i) * INDEXED_SLOT_SIZE),
        }
    }

    /// Recomputes the layout from its inputs and says whether `self` is
    /// what this version would have written.
    pub fn is_canonical(&self) -> bool {
        let again = match self.placement {
            // The device may end up to 4095 bytes past the metadata, which
            // can add one bitmap block: either size is this version's.
            Placement::Internal => {
                return self.md_offset.checked_add(self.md_size).is_some_and(|end| {
                    [end, end + BLOCK - 1].iter().any(|&size| {
                        Layout::internal("", size, self.al_extents).ok() == Some(*self)
                    })
                })
            }
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
        // DRBD 8.4's `md_size_sect 136`: 32 KiB bitmap, 32 KiB ring, 4 KiB superblock,
        // leaving 1048508 KiB of data.
        assert_eq!(l.bm_size, 32 << 10);
        assert_eq!(l.al_blocks, 8);
        assert_eq!(l.md_size, 136 * 512);
        assert_eq!(l.capacity, 1048508 << 10);
        assert_eq!(l.capacity + l.md_size, GIB);
        assert_eq!(l.sb_offsets, [GIB - BLOCK, GIB - BLOCK + SB_COPY]);
        assert_eq!(l.al_offset, GIB - BLOCK - (32 << 10));
        assert_eq!(
            Layout::superblock_offsets(Placement::Internal, GIB),
            Some(l.sb_offsets)
        );
        assert!(l.is_canonical());
    }

    #[test]
    fn an_unaligned_device_sizes_its_bitmap_by_sectors() {
        // 1 GiB + 512: DRBD counts the extra sector in the bitmap (one more block).
        let l = Layout::internal("/dev/x", GIB + 512, AL_EXTENTS_DEFAULT).unwrap();
        assert_eq!(l.bm_size, 36 << 10);
        assert_eq!(l.capacity, GIB - (36 + 32 + 4) * 1024);
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
        assert_eq!(l.sb_offsets, [l.md_offset, l.md_offset + SB_COPY]);
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
        .chain([l.sb_offsets[0]])
        {
            assert_eq!(off % BLOCK, 0, "{l:?}");
        }
        // The parts do not overlap and stay inside the metadata area.
        assert_eq!(l.sb_offsets[1], l.sb_offsets[0] + SB_COPY);
        let mut parts = [
            (l.al_offset, u64::from(l.al_blocks) * BLOCK),
            (l.bm_offset, l.bm_size),
            (l.sb_offsets[0], BLOCK),
        ];
        parts.sort();
        assert_eq!(parts[0].0, l.md_offset);
        for w in parts.windows(2) {
            assert_eq!(w[0].0 + w[0].1, w[1].0, "{l:?}");
        }
        assert_eq!(parts[2].0 + parts[2].1, l.md_end());
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
