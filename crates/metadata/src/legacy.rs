//! shimai's first on-disk layout, read only so that `convert-md` can bring
//! it to the current one (which sizes and places everything as DRBD does).
//!
//! It differed in two ways: two superblock copies of 4 KiB each, in two
//! blocks (the last two of an internal meta-disk, the first two of an
//! external one), which made internal metadata 4 KiB larger than DRBD's;
//! and the superblock format version 1, laid out as version 2 in a 4 KiB
//! block with the checksum at byte 4092. The activity-log transactions and
//! the bitmap blocks were the same as today's; their offsets are stored in
//! the superblock, checked here against the device before use.

use shimai_replication::GenerationIds;

use crate::codec::{get_u32, get_u64};
use crate::device::MetaDevice;
use crate::error::{MetaError, Place, Result};
use crate::flags::MdFlags;
use crate::io::BlockIo;
use crate::layout::{Placement, BLOCK, INDEXED_SLOT_SIZE};
use crate::superblock::{SB_MAGIC, SB_VERSION_LEGACY};

const WHAT: &str = "superblock (first layout)";
const SIZE: usize = BLOCK as usize;

/// A decoded superblock of the first layout, with the offsets it stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySuperblock {
    pub seq: u64,
    pub data_size: u64,
    pub gi: GenerationIds,
    pub device_uuid: u64,
    pub flags: MdFlags,
    pub placement: Placement,
    pub al_extents: u32,
    pub capacity: u64,
    pub md_offset: u64,
    pub md_size: u64,
    pub al_offset: u64,
    pub al_blocks: u32,
    pub bm_offset: u64,
    pub bm_size: u64,
}

/// Decodes one 4 KiB block of the first layout.
pub fn decode(b: &[u8]) -> Result<LegacySuperblock> {
    if b.len() != SIZE || b[0..8] != SB_MAGIC {
        return Err(MetaError::BadMagic {
            what: WHAT,
            at: Place::default(),
        });
    }
    if get_u32(b, 8) != SB_VERSION_LEGACY {
        return Err(MetaError::corrupt(WHAT, 8, "not format version 1"));
    }
    let stored = get_u32(b, SIZE - 4);
    let computed = crc32c::crc32c(&b[..SIZE - 4]);
    if stored != computed {
        return Err(MetaError::ChecksumMismatch {
            what: WHAT,
            stored,
            computed,
            at: Place {
                device: String::new(),
                offset: SIZE as u64 - 4,
            },
        });
    }
    let flags = MdFlags::from_bits(get_u32(b, 72) & MdFlags::ALL.bits()).unwrap_or_default();
    let placement = match (get_u32(b, 76), get_u32(b, 80)) {
        (1, 0) => Placement::Internal,
        (2, 0) => Placement::External,
        (3, i) => Placement::Indexed(i),
        (p, i) => {
            return Err(MetaError::corrupt(
                WHAT,
                76,
                format!("unknown placement {p} (index {i})"),
            ))
        }
    };
    let sb = LegacySuperblock {
        seq: get_u64(b, 16),
        data_size: get_u64(b, 24),
        gi: GenerationIds {
            current: get_u64(b, 32),
            bitmap: get_u64(b, 40),
            history: [get_u64(b, 48), get_u64(b, 56)],
        },
        device_uuid: get_u64(b, 64),
        flags,
        placement,
        al_extents: get_u32(b, 84),
        capacity: get_u64(b, 88),
        md_offset: get_u64(b, 96),
        md_size: get_u64(b, 104),
        al_offset: get_u64(b, 112),
        al_blocks: get_u32(b, 120),
        bm_offset: get_u64(b, 128),
        bm_size: get_u64(b, 136),
    };
    let end = sb.md_offset.checked_add(sb.md_size);
    let inside = |off: u64, len: u64| {
        off >= sb.md_offset && off.checked_add(len).is_some_and(|e| Some(e) <= end)
    };
    if sb.data_size > sb.capacity
        || sb.al_blocks == 0
        || sb.al_blocks > 1024
        || !inside(sb.al_offset, u64::from(sb.al_blocks) * BLOCK)
        || !inside(sb.bm_offset, sb.bm_size)
        || sb.bm_size < sb.data_size.div_ceil(BLOCK).div_ceil(8)
        || get_u32(b, 124) != BLOCK as u32
    {
        return Err(MetaError::corrupt(
            WHAT,
            88,
            format!("offsets or sizes do not fit together: {sb:?}"),
        ));
    }
    Ok(sb)
}

/// The two blocks where the first layout kept its superblocks.
fn offsets(placement: Placement, size: u64) -> Option<[u64; 2]> {
    match placement {
        Placement::Internal => {
            let end = size / BLOCK * BLOCK;
            let sb0 = end.checked_sub(2 * BLOCK)?;
            Some([sb0, sb0 + BLOCK])
        }
        Placement::External => Some([0, BLOCK]),
        Placement::Indexed(i) => {
            let base = u64::from(i) * INDEXED_SLOT_SIZE;
            Some([base, base + BLOCK])
        }
    }
}

/// The newest valid superblock of the first layout at `placement`, if any.
pub fn find<IO: BlockIo>(
    dev: &MetaDevice<IO>,
    placement: Placement,
) -> Result<Option<LegacySuperblock>> {
    let size = dev.size()?;
    let Some(offs) = offsets(placement, size) else {
        return Ok(None);
    };
    let mut best: Option<LegacySuperblock> = None;
    for off in offs {
        if off.saturating_add(BLOCK) > size {
            continue;
        }
        if let Ok(sb) = decode(&dev.read(off, SIZE)?) {
            // Where the first layout put its metadata, and nowhere else.
            let placed = match placement {
                Placement::Internal => {
                    sb.capacity == sb.md_offset
                        && sb.md_offset.saturating_add(sb.md_size) == size / BLOCK * BLOCK
                }
                Placement::External => sb.md_offset == 0,
                Placement::Indexed(i) => sb.md_offset == u64::from(i) * INDEXED_SLOT_SIZE,
            };
            if sb.placement == placement
                && placed
                && sb.md_offset.saturating_add(sb.md_size) <= size
                && best.as_ref().is_none_or(|b| sb.seq > b.seq)
            {
                best = Some(sb);
            }
        }
    }
    Ok(best)
}
