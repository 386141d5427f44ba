//! The superblock: one 2 KiB copy with everything that identifies the
//! data generation and locates the rest of the metadata. Two copies share
//! the 4 KiB block where DRBD keeps its superblock (see [`crate::store`]
//! for how they are written).
//!
//! Byte layout (little-endian, version 2; version 1 was the same in a
//! 4 KiB block, with two such blocks, see [`crate::legacy`]):
//!
//! ```text
//!    0  magic "SHIMAImd"          8  version u32       12  reserved u32
//!   16  seq u64 (write counter)   24  data size u64 (last agreed size, bytes)
//!   32  GI current  40 GI bitmap  48 GI history[0]  56 GI history[1]   (u64 each)
//!   64  device uuid u64           72  flags u32 (MDF bits)
//!   76  placement u32 (1 internal, 2 external, 3 indexed)   80 index u32
//!   84  al-extents u32            88  capacity u64
//!   96  md offset u64            104  md size u64
//!  112  al offset u64            120  al blocks u32   124 bytes per bitmap bit u32 (4096)
//!  128  bm offset u64            136  bm size u64
//!  144  zeros ...               2044  crc32c of bytes 0..2044
//! ```
//!
//! The checksum sits at the very end so that a write torn anywhere leaves a
//! block whose checksum does not match its contents.

use shimai_replication::bitmap::BM_BLOCK_SIZE;
use shimai_replication::GenerationIds;

use crate::codec::{get_u32, get_u64, put_u32, put_u64};
use crate::error::{MetaError, Place, Result};
use crate::flags::MdFlags;
use crate::layout::{Layout, Placement};

pub const SB_MAGIC: [u8; 8] = *b"SHIMAImd";
pub const SB_VERSION: u32 = 2;
/// The version of the layout before DRBD's sizes (two 4 KiB superblocks).
pub const SB_VERSION_LEGACY: u32 = 1;
/// Bytes of one copy.
pub const SB_SIZE: usize = crate::layout::SB_COPY as usize;
const CRC_AT: usize = SB_SIZE - 4;
const WHAT: &str = "superblock";

/// The decoded superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// Incremented on every write; the reader takes the valid copy with the
    /// highest value. Never 0 on disk.
    pub seq: u64,
    /// The last size both nodes agreed on (bytes); at most `layout.capacity`.
    pub data_size: u64,
    pub gi: GenerationIds,
    /// Identifies this disk (not the data): lets a node notice that its
    /// peer's disk was replaced.
    pub device_uuid: u64,
    pub flags: MdFlags,
    pub layout: Layout,
}

impl Superblock {
    /// The superblock `create-md` writes: just-created generation,
    /// Inconsistent (no flags), the full capacity as size.
    pub fn fresh(layout: Layout, device_uuid: u64) -> Superblock {
        Superblock {
            seq: 1,
            data_size: layout.capacity,
            gi: GenerationIds::just_created(),
            device_uuid,
            flags: MdFlags::empty(),
            layout,
        }
    }

    pub fn encode(&self) -> [u8; SB_SIZE] {
        let mut b = [0u8; SB_SIZE];
        let l = &self.layout;
        b[0..8].copy_from_slice(&SB_MAGIC);
        put_u32(&mut b, 8, SB_VERSION);
        put_u64(&mut b, 16, self.seq);
        put_u64(&mut b, 24, self.data_size);
        put_u64(&mut b, 32, self.gi.current);
        put_u64(&mut b, 40, self.gi.bitmap);
        put_u64(&mut b, 48, self.gi.history[0]);
        put_u64(&mut b, 56, self.gi.history[1]);
        put_u64(&mut b, 64, self.device_uuid);
        put_u32(&mut b, 72, self.flags.bits());
        let (placement, index) = match l.placement {
            Placement::Internal => (1, 0),
            Placement::External => (2, 0),
            Placement::Indexed(i) => (3, i),
        };
        put_u32(&mut b, 76, placement);
        put_u32(&mut b, 80, index);
        put_u32(&mut b, 84, l.al_extents);
        put_u64(&mut b, 88, l.capacity);
        put_u64(&mut b, 96, l.md_offset);
        put_u64(&mut b, 104, l.md_size);
        put_u64(&mut b, 112, l.al_offset);
        put_u32(&mut b, 120, l.al_blocks);
        put_u32(&mut b, 124, BM_BLOCK_SIZE as u32);
        put_u64(&mut b, 128, l.bm_offset);
        put_u64(&mut b, 136, l.bm_size);
        let crc = crc32c::crc32c(&b[..CRC_AT]);
        put_u32(&mut b, CRC_AT, crc);
        b
    }

    /// Decodes and validates one superblock copy. Offsets in errors are
    /// relative to the slice; the storage layer relocates them.
    pub fn decode(b: &[u8]) -> Result<Superblock> {
        if b.len() != SB_SIZE {
            return Err(MetaError::corrupt(
                WHAT,
                0,
                format!("is {} bytes, expected {SB_SIZE}", b.len()),
            ));
        }
        if b[0..8] != SB_MAGIC {
            return Err(MetaError::BadMagic {
                what: WHAT,
                at: Place::default(),
            });
        }
        let version = get_u32(b, 8);
        if version != SB_VERSION {
            return Err(MetaError::UnsupportedVersion {
                what: WHAT,
                found: version,
                supported: SB_VERSION,
                at: Place {
                    device: String::new(),
                    offset: 8,
                },
            });
        }
        let stored = get_u32(b, CRC_AT);
        let computed = crc32c::crc32c(&b[..CRC_AT]);
        if stored != computed {
            return Err(MetaError::ChecksumMismatch {
                what: WHAT,
                stored,
                computed,
                at: Place {
                    device: String::new(),
                    offset: CRC_AT as u64,
                },
            });
        }
        let seq = get_u64(b, 16);
        if seq == 0 {
            return Err(MetaError::corrupt(WHAT, 16, "sequence number 0"));
        }
        let flags = MdFlags::from_bits(get_u32(b, 72)).ok_or_else(|| {
            MetaError::corrupt(
                WHAT,
                72,
                format!(
                    "unknown flag bits {:#x}",
                    get_u32(b, 72) & !MdFlags::ALL.bits()
                ),
            )
        })?;
        let index = get_u32(b, 80);
        let placement = match (get_u32(b, 76), index) {
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
        let bytes_per_bit = get_u32(b, 124);
        if u64::from(bytes_per_bit) != BM_BLOCK_SIZE {
            return Err(MetaError::corrupt(
                WHAT,
                124,
                format!(
                    "bitmap granularity {bytes_per_bit} bytes, only {BM_BLOCK_SIZE} is supported"
                ),
            ));
        }
        let layout = Layout {
            placement,
            al_extents: get_u32(b, 84),
            capacity: get_u64(b, 88),
            md_offset: get_u64(b, 96),
            md_size: get_u64(b, 104),
            sb_offsets: [0; 2],
            al_offset: get_u64(b, 112),
            al_blocks: get_u32(b, 120),
            bm_offset: get_u64(b, 128),
            bm_size: get_u64(b, 136),
        };
        let layout = with_sb_offsets(layout);
        if !layout.is_canonical() {
            return Err(MetaError::corrupt(
                WHAT,
                76,
                format!("layout {layout:?} is not what this version computes for its sizes"),
            ));
        }
        let data_size = get_u64(b, 24);
        if data_size > layout.capacity {
            return Err(MetaError::corrupt(
                WHAT,
                24,
                format!("data size {data_size} exceeds capacity {}", layout.capacity),
            ));
        }
        Ok(Superblock {
            seq,
            data_size,
            gi: GenerationIds {
                current: get_u64(b, 32),
                bitmap: get_u64(b, 40),
                history: [get_u64(b, 48), get_u64(b, 56)],
            },
            device_uuid: get_u64(b, 64),
            flags,
            layout,
        })
    }
}

/// The superblock offsets are not stored (the reader found the block at
/// one of them); they follow from the other fields.
fn with_sb_offsets(mut l: Layout) -> Layout {
    let block = match l.placement {
        Placement::Internal => l
            .md_offset
            .saturating_add(l.md_size)
            .saturating_sub(crate::layout::BLOCK),
        _ => l.md_offset,
    };
    l.sb_offsets = [block, block.saturating_add(crate::layout::SB_COPY)];
    l
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::layout::{AL_EXTENTS_MAX, AL_EXTENTS_MIN};
    use proptest::prelude::*;

    pub(crate) fn layout_strategy() -> impl Strategy<Value = Layout> {
        (
            prop::option::of(prop::option::of(0u32..1000)),
            (8u64 << 20)..(1u64 << 42),
            AL_EXTENTS_MIN..=AL_EXTENTS_MAX,
        )
            .prop_map(|(p, size, al)| match p {
                None => Layout::internal("d", size, al),
                Some(index) => Layout::external("m", u64::MAX, size.min(1 << 38), al, index),
            })
            .prop_filter_map("fits", |l| l.ok())
    }

    pub(crate) fn superblock_strategy() -> impl Strategy<Value = Superblock> {
        (
            layout_strategy(),
            any::<[u64; 7]>(),
            0u32..=MdFlags::ALL.bits(),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(layout, v, flags, size)| Superblock {
                seq: v[0].max(1),
                data_size: size.index(layout.capacity as usize + 1) as u64,
                gi: GenerationIds {
                    current: v[1],
                    bitmap: v[2],
                    history: [v[3], v[4]],
                },
                device_uuid: v[5],
                flags: MdFlags::from_bits(flags).unwrap_or_default(),
                layout,
            })
    }

    #[test]
    fn fresh_superblock_decodes_as_created() {
        let l = Layout::internal("d", 1 << 30, 1237).unwrap();
        let sb = Superblock::fresh(l, 0xfeed);
        let b = sb.encode();
        assert_eq!(&b[0..8], b"SHIMAImd");
        let back = Superblock::decode(&b).unwrap();
        assert_eq!(back, sb);
        assert_eq!(back.gi, GenerationIds::just_created());
        assert_eq!(back.data_size, l.capacity);
    }

    #[test]
    fn damage_is_named() {
        let l = Layout::internal("d", 1 << 30, 1237).unwrap();
        let mut b = Superblock::fresh(l, 1).encode();
        b[40] ^= 1;
        let e = Superblock::decode(&b)
            .unwrap_err()
            .located("/dev/x", 1 << 20);
        assert!(matches!(e, MetaError::ChecksumMismatch { .. }));
        assert!(
            e.to_string()
                .starts_with("superblock on /dev/x at byte 1050620 is damaged"),
            "{e}"
        );
        b[8] = 3;
        assert!(matches!(
            Superblock::decode(&b),
            Err(MetaError::UnsupportedVersion { found: 3, .. })
        ));
        assert!(matches!(
            Superblock::decode(&[0; SB_SIZE]),
            Err(MetaError::BadMagic { .. })
        ));
        assert!(Superblock::decode(&b[..100]).is_err());
    }

    #[test]
    fn a_layout_that_points_elsewhere_is_refused() {
        let l = Layout::internal("d", 1 << 30, 1237).unwrap();
        let mut sb = Superblock::fresh(l, 1);
        sb.layout.bm_offset += 4096;
        let e = Superblock::decode(&sb.encode()).unwrap_err();
        assert!(e.to_string().contains("layout"), "{e}");
        let mut sb = Superblock::fresh(l, 1);
        sb.data_size = l.capacity + 1;
        assert!(Superblock::decode(&sb.encode()).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(sb in superblock_strategy()) {
            prop_assert_eq!(Superblock::decode(&sb.encode()).unwrap(), sb);
        }

        /// Any single flipped bit is caught (by the magic, version or checksum).
        #[test]
        fn bit_flips_are_caught(sb in superblock_strategy(), bit in 0usize..SB_SIZE * 8) {
            let mut b = sb.encode();
            b[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(Superblock::decode(&b).is_err());
        }
    }
}
