//! DRBD's own metadata formats, for `convert-md`: the superblocks of
//! DRBD 8.4 (`v08`, `struct md_on_disk_08`) and DRBD 9 (`v09`, `struct
//! meta_data_on_disk_9`) and DRBD 8.4's activity-log transactions
//! (`struct al_transaction_on_disk`), as drbd-utils' `drbdmeta` reads
//! and writes them. Everything is big-endian; the magic is at byte 60 in
//! both superblocks.
//!
//! The bitmap needs no conversion: DRBD stores it as little-endian u64
//! words, bit `n` for 4 KiB block `n`, in the area shimai uses for its own
//! (with one peer slot in `v09`, the words are not interleaved).
//!
//! ```text
//! v08:   0 la-size-sect u64   8 uuid[4] (current, bitmap, history 0, 1)
//!       40 device uuid  48 reserved  56 flags u32  60 magic u32
//!       64 md-size-sect u32  68 al-offset s32  72 al-nr-extents u32
//!       76 bm-offset s32  80 bm-bytes-per-bit u32  84 la-peer-max-bio-size
//!       88 al-stripes u32  92 al-stripe-size-4k u32
//! v09:   0 la-size-sect u64   8 current uuid  16 members u64
//!       48 device uuid  56 flags  60 magic  64..84 as v08
//!       88 bm-max-peers  92 node-id s32  96 al-stripes  100 al-stripe-size-4k
//!      112 peers[32] x {bitmap uuid u64, dagtag u64, flags u32, bitmap index s32, 8 reserved}
//!     1136 history uuids[32] u64
//! ```

use std::fmt;

use shimai_replication::GenerationIds;

use crate::error::{MetaError, Place, Result};
use crate::flags::MdFlags;

pub const DRBD_MAGIC: u32 = 0x8374_0267;
pub const MAGIC_08: u32 = DRBD_MAGIC + 4;
/// v08 written by an attached 8.4 kernel: the activity log must be applied.
pub const MAGIC_84_UNCLEAN: u32 = DRBD_MAGIC + 5;
pub const MAGIC_09: u32 = DRBD_MAGIC + 6;
pub const AL_MAGIC: u32 = 0x69cb_65a2;
pub const AL_UPDATES: usize = 64;
pub const AL_CONTEXT: usize = 919;
const AL_TR_INITIALIZED: u16 = 0xffff;
const SB_SIZE: usize = 4096;
const PEERS: usize = 32;
const PEERS_AT: usize = 112;
const HISTORY_AT: usize = PEERS_AT + PEERS * 32;
const WHAT: &str = "DRBD superblock";

/// DRBD 9's per-peer flags (`enum mdf_peer_flag`).
const PEER_CONNECTED: u32 = 1 << 0;
const PEER_OUTDATED: u32 = 1 << 1;
const PEER_FULL_SYNC: u32 = 1 << 3;
const PEER_DEVICE_SEEN: u32 = 1 << 4;
const NODE_EXISTS: u32 = 1 << 16;
/// The node flags DRBD 9 keeps with 8.4's meaning.
const V09_NODE_FLAGS: u32 = (1 << 0) | (1 << 1) | (1 << 4) | (1 << 6) | (1 << 7) | (1 << 8);

/// Which DRBD metadata format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrbdVersion {
    V08,
    V09,
}

impl fmt::Display for DrbdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DrbdVersion::V08 => "8.4 (v08)",
            DrbdVersion::V09 => "9 (v09)",
        })
    }
}

/// The DRBD format whose magic a superblock block carries.
pub fn version_of(block: &[u8]) -> Option<DrbdVersion> {
    match be32(block.get(..SB_SIZE)?, 60) {
        MAGIC_08 | MAGIC_84_UNCLEAN => Some(DrbdVersion::V08),
        MAGIC_09 => Some(DrbdVersion::V09),
        _ => None,
    }
}

fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}
fn be32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_be_bytes(a)
}
fn be64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_be_bytes(a)
}
fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}
fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_be_bytes());
}

/// A DRBD superblock, reduced to what a two-node shimai keeps (one peer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrbdSuperblock {
    pub version: DrbdVersion,
    /// Last agreed size in 512-byte sectors (0: never connected).
    pub la_size_sect: u64,
    /// Current, bitmap (of the one peer), history 0 and 1.
    pub gi: GenerationIds,
    pub device_uuid: u64,
    /// In 8.4's bits (v09's node and peer flags folded in).
    pub flags: MdFlags,
    /// Whether the activity log must be replayed (kernel crashed or was
    /// attached: `84_UNCLEAN` magic, or no `AL_CLEAN` flag).
    pub unclean: bool,
    pub md_size_sect: u32,
    /// Sector offsets from the superblock (negative: before it).
    pub al_offset: i32,
    pub bm_offset: i32,
    pub al_nr_extents: u32,
    /// Activity-log ring size, in 4 KiB transactions.
    pub al_blocks: u32,
    pub la_peer_max_bio_size: u32,
    /// v09 only: this node's id and the peer slot the bitmap belongs to.
    pub node_id: i32,
    pub peer_id: Option<usize>,
}

impl DrbdSuperblock {
    /// Decodes a 4 KiB DRBD superblock. Refuses what a two-node shimai
    /// cannot carry over: a bitmap granularity other than 4 KiB, more than
    /// one bitmap slot, a striped activity log.
    pub fn decode(b: &[u8]) -> Result<DrbdSuperblock> {
        DrbdSuperblock::decode_for(b, None)
    }

    /// [`decode`](Self::decode); in `v09`, the peer is the one whose
    /// bitmap is in slot 0, else `peer` (DRBD 9 assigns the slot when the
    /// peer first connects; `drbdmeta set-gi --node-id` does not).
    pub fn decode_for(b: &[u8], peer: Option<usize>) -> Result<DrbdSuperblock> {
        if b.len() != SB_SIZE {
            return Err(MetaError::corrupt(WHAT, 0, "not a 4 KiB block"));
        }
        let Some(version) = version_of(b) else {
            return Err(MetaError::BadMagic {
                what: WHAT,
                at: Place::default(),
            });
        };
        let raw_flags = be32(b, 56);
        let md_size_sect = be32(b, 64);
        let al_offset = be32(b, 68) as i32;
        let al_nr_extents = be32(b, 72);
        let bm_offset = be32(b, 76) as i32;
        let bm_bytes_per_bit = be32(b, 80);
        let la_peer_max_bio_size = be32(b, 84);
        if bm_bytes_per_bit != 4096 {
            return Err(MetaError::corrupt(
                WHAT,
                80,
                format!(
                    "bitmap granularity {bm_bytes_per_bit} bytes; shimai tracks 4 KiB per bit: \
                     recreate the DRBD metadata with the default --bitmap-block-size"
                ),
            ));
        }
        let (stripes_at, la, current) = match version {
            DrbdVersion::V08 => (88, be64(b, 0), be64(b, 8)),
            DrbdVersion::V09 => (96, be64(b, 0), be64(b, 8)),
        };
        let (mut stripes, mut stripe_4k) = (be32(b, stripes_at), be32(b, stripes_at + 4));
        if stripes == 0 && stripe_4k == 0 {
            (stripes, stripe_4k) = (1, 8);
        }
        if stripes != 1 || !(8..=8192).contains(&stripe_4k) {
            return Err(MetaError::corrupt(
                WHAT,
                stripes_at as u64,
                format!(
                    "activity log of {stripes} stripes of {stripe_4k} x 4 KiB; shimai reads \
                     one stripe (the default): recreate the DRBD metadata without --al-stripes"
                ),
            ));
        }
        let (gi, flags, unclean, node_id, peer_id) = match version {
            DrbdVersion::V08 => (
                GenerationIds {
                    current,
                    bitmap: be64(b, 16),
                    history: [be64(b, 24), be64(b, 32)],
                },
                MdFlags::from_bits(raw_flags & MdFlags::ALL.bits()).unwrap_or_default(),
                be32(b, 60) == MAGIC_84_UNCLEAN || raw_flags & MdFlags::AL_CLEAN.bits() == 0,
                0,
                None,
            ),
            DrbdVersion::V09 => {
                let max_peers = be32(b, 88);
                if max_peers > 1 {
                    return Err(MetaError::corrupt(
                        WHAT,
                        88,
                        format!(
                            "{max_peers} bitmap slots (max-peers); shimai has one peer: \
                             recreate the DRBD metadata with `drbdmeta ... create-md 1`"
                        ),
                    ));
                }
                let node_id = be32(b, 92) as i32;
                // The peer whose bitmap is in slot 0.
                let peer_id = (0..PEERS)
                    .find(|&p| {
                        let at = PEERS_AT + p * 32;
                        be32(b, at + 20) == 0 && p as i32 != node_id
                    })
                    .or(peer.filter(|p| *p < PEERS));
                let (bitmap, peer_flags) = peer_id.map_or((0, 0), |p| {
                    let at = PEERS_AT + p * 32;
                    (be64(b, at), be32(b, at + 16))
                });
                let mut flags = MdFlags::from_bits(raw_flags & V09_NODE_FLAGS).unwrap_or_default();
                flags.set(MdFlags::CONNECTED_IND, peer_flags & PEER_CONNECTED != 0);
                flags.set(MdFlags::PEER_OUT_DATED, peer_flags & PEER_OUTDATED != 0);
                flags.set(MdFlags::FULL_SYNC, peer_flags & PEER_FULL_SYNC != 0);
                (
                    GenerationIds {
                        current,
                        bitmap,
                        history: [be64(b, HISTORY_AT), be64(b, HISTORY_AT + 8)],
                    },
                    flags,
                    raw_flags & MdFlags::AL_CLEAN.bits() == 0,
                    node_id,
                    peer_id,
                )
            }
        };
        Ok(DrbdSuperblock {
            version,
            la_size_sect: la,
            gi,
            device_uuid: be64(b, if version == DrbdVersion::V08 { 40 } else { 48 }),
            flags,
            unclean,
            md_size_sect,
            al_offset,
            bm_offset,
            al_nr_extents,
            al_blocks: stripe_4k,
            la_peer_max_bio_size,
            node_id,
            peer_id,
        })
    }

    /// Encodes as `drbdmeta` would write it after `apply-al` (clean magic,
    /// `AL_CLEAN` as in `flags`); v09 with one bitmap slot, for `peer_id`.
    pub fn encode(&self) -> [u8; SB_SIZE] {
        let mut b = [0u8; SB_SIZE];
        put64(&mut b, 0, self.la_size_sect);
        put64(&mut b, 8, self.gi.current);
        put32(&mut b, 64, self.md_size_sect);
        put32(&mut b, 68, self.al_offset as u32);
        put32(&mut b, 72, self.al_nr_extents);
        put32(&mut b, 76, self.bm_offset as u32);
        put32(&mut b, 80, 4096);
        put32(&mut b, 84, self.la_peer_max_bio_size);
        match self.version {
            DrbdVersion::V08 => {
                put64(&mut b, 16, self.gi.bitmap);
                put64(&mut b, 24, self.gi.history[0]);
                put64(&mut b, 32, self.gi.history[1]);
                put64(&mut b, 40, self.device_uuid);
                put32(&mut b, 56, self.flags.bits());
                put32(&mut b, 60, MAGIC_08);
                put32(&mut b, 88, 1);
                put32(&mut b, 92, self.al_blocks);
            }
            DrbdVersion::V09 => {
                put64(&mut b, 48, self.device_uuid);
                put32(&mut b, 56, self.flags.bits() & V09_NODE_FLAGS);
                put32(&mut b, 60, MAGIC_09);
                put32(&mut b, 88, 1);
                put32(&mut b, 92, self.node_id as u32);
                put32(&mut b, 96, 1);
                put32(&mut b, 100, self.al_blocks);
                for p in 0..PEERS {
                    let at = PEERS_AT + p * 32;
                    if Some(p) == self.peer_id {
                        let f = self.flags;
                        let mut pf = NODE_EXISTS | PEER_DEVICE_SEEN;
                        if f.contains(MdFlags::CONNECTED_IND) {
                            pf |= PEER_CONNECTED;
                        }
                        if f.contains(MdFlags::PEER_OUT_DATED) {
                            pf |= PEER_OUTDATED;
                        }
                        if f.contains(MdFlags::FULL_SYNC) {
                            pf |= PEER_FULL_SYNC;
                        }
                        put64(&mut b, at, self.gi.bitmap);
                        put32(&mut b, at + 16, pf);
                        put32(&mut b, at + 20, 0);
                    } else {
                        if p as i32 == self.node_id {
                            put32(&mut b, at + 16, NODE_EXISTS);
                        }
                        put32(&mut b, at + 20, u32::MAX);
                    }
                }
                put64(&mut b, HISTORY_AT, self.gi.history[0]);
                put64(&mut b, HISTORY_AT + 8, self.gi.history[1]);
            }
        }
        b
    }
}

/// The checksum of DRBD's activity-log transactions: CRC32C seeded with
/// 0 and without the final inversion (the kernel's `crc32c(0, ...)`).
fn drbd_crc32c(data: &[u8]) -> u32 {
    !crc32c::crc32c_append(u32::MAX, data)
}

/// The extents hot in a DRBD 8.4/9 activity-log ring (`ring`, in
/// on-disk order, one stripe), replayed as `drbdmeta apply-al` does:
/// valid update transactions from the oldest to the newest transaction
/// number, context first, then updates. `None` when not one transaction
/// is valid (a log never initialised: nothing can be known).
pub fn replay_al(ring: &[u8]) -> Option<Vec<u32>> {
    let mut valid = 0;
    let mut updates: Vec<(u32, &[u8])> = Vec::new();
    for block in ring.chunks_exact(4096) {
        if be32(block, 0) != AL_MAGIC {
            continue;
        }
        let mut copy = block.to_vec();
        copy[8..12].fill(0);
        if drbd_crc32c(&copy) != be32(block, 8) {
            continue;
        }
        valid += 1;
        if be16(block, 12) == AL_TR_INITIALIZED {
            continue;
        }
        updates.push((be32(block, 4), block));
    }
    if valid == 0 {
        return None;
    }
    // Transaction numbers wrap: order by distance from the oldest, which
    // is the one after the largest gap.
    updates.sort_by_key(|(n, _)| *n);
    if let (Some(first), Some(last)) = (updates.first(), updates.last()) {
        if last.0.wrapping_sub(first.0) > u32::MAX / 2 {
            let split = updates
                .windows(2)
                .position(|w| w[1].0 - w[0].0 > u32::MAX / 2)
                .map_or(0, |i| i + 1);
            updates.rotate_left(split);
        }
    }
    let mut slots: Vec<u32> = Vec::new();
    let mut set = |slot: usize, extent: u32| {
        if slot >= slots.len() {
            slots.resize(slot + 1, u32::MAX);
        }
        slots[slot] = extent;
    };
    for (_, b) in &updates {
        let context_size = usize::from(be16(b, 16));
        let start = usize::from(be16(b, 18));
        for i in 0..AL_CONTEXT {
            let extent = be32(b, 420 + 4 * i);
            let slot = start + i;
            if (extent == u32::MAX && slot >= context_size) || slot >= 65534 {
                continue;
            }
            set(slot, extent);
        }
        let n = usize::from(be16(b, 14));
        for i in 0..AL_UPDATES {
            let slot = usize::from(be16(b, 36 + 2 * i));
            if (i >= n && slot == 0xffff) || slot >= 65534 {
                continue;
            }
            set(slot, be32(b, 164 + 4 * i));
        }
    }
    let mut hot: Vec<u32> = slots.into_iter().filter(|e| *e != u32::MAX).collect();
    hot.sort_unstable();
    hot.dedup();
    Some(hot)
}

/// One DRBD 8.4 activity-log transaction, for tests: `slots[i]` is the
/// extent of slot `start + i`, `updates` the slot updates.
#[doc(hidden)]
pub fn encode_al_transaction(
    tr_number: u32,
    al_extents: u16,
    start: u16,
    context: &[u32],
    updates: &[(u16, u32)],
) -> [u8; 4096] {
    let mut b = [0u8; 4096];
    put32(&mut b, 0, AL_MAGIC);
    put32(&mut b, 4, tr_number);
    b[14..16].copy_from_slice(&(updates.len().min(AL_UPDATES) as u16).to_be_bytes());
    b[16..18].copy_from_slice(&al_extents.to_be_bytes());
    b[18..20].copy_from_slice(&start.to_be_bytes());
    for i in 0..AL_UPDATES {
        let (slot, extent) = updates.get(i).copied().unwrap_or((0xffff, u32::MAX));
        b[36 + 2 * i..38 + 2 * i].copy_from_slice(&slot.to_be_bytes());
        put32(&mut b, 164 + 4 * i, extent);
    }
    for i in 0..AL_CONTEXT {
        put32(
            &mut b,
            420 + 4 * i,
            context.get(i).copied().unwrap_or(u32::MAX),
        );
    }
    let crc = drbd_crc32c(&b);
    put32(&mut b, 8, crc);
    b
}

/// An initialised (empty) activity-log transaction, as `drbdmeta
/// create-md` writes to every block of the ring: magic, type
/// "initialised", checksum, zeros.
pub fn initialized_al_block() -> [u8; 4096] {
    let mut b = [0u8; 4096];
    put32(&mut b, 0, AL_MAGIC);
    b[12..14].copy_from_slice(&AL_TR_INITIALIZED.to_be_bytes());
    let crc = drbd_crc32c(&b);
    put32(&mut b, 8, crc);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_the_kernels_unfinalised_crc32c() {
        // crc32c(0, "123456789") without the final inversion, as the kernel's
        // lib/crc32c and drbd-utils' table implementation compute it.
        let standard = crc32c::crc32c(b"123456789");
        assert_eq!(standard, 0xe306_9283);
        assert_eq!(
            drbd_crc32c(b"123456789"),
            !crc32c::crc32c_append(u32::MAX, b"123456789")
        );
    }

    #[test]
    fn al_replay_takes_context_then_updates_in_transaction_order() {
        let mut ring = Vec::new();
        ring.extend_from_slice(&encode_al_transaction(7, 61, 0, &[10, 11], &[(2, 12)]));
        // The context is the window's real contents: free slots are ~0.
        ring.extend_from_slice(&encode_al_transaction(8, 61, 2, &[12], &[(0, u32::MAX)]));
        ring.extend_from_slice(&initialized_al_block());
        let mut torn = encode_al_transaction(9, 61, 0, &[], &[(3, 99)]);
        torn[2000] ^= 1;
        ring.extend_from_slice(&torn);
        assert_eq!(replay_al(&ring), Some(vec![11, 12]));
        assert_eq!(replay_al(&[0u8; 8192]), None);
        assert_eq!(replay_al(&initialized_al_block()), Some(vec![]));
    }

    #[test]
    fn superblocks_round_trip_for_both_versions() {
        for version in [DrbdVersion::V08, DrbdVersion::V09] {
            let sb = DrbdSuperblock {
                version,
                la_size_sect: 2097016,
                gi: GenerationIds {
                    current: 0x1234_5678_9abc_def0,
                    bitmap: 0x22,
                    history: [0x44, 0x66],
                },
                device_uuid: 0xabcd,
                flags: MdFlags::CONSISTENT
                    | MdFlags::WAS_UP_TO_DATE
                    | MdFlags::AL_CLEAN
                    | MdFlags::CONNECTED_IND,
                unclean: false,
                md_size_sect: 136,
                al_offset: -64,
                bm_offset: -128,
                al_nr_extents: 1237,
                al_blocks: 8,
                la_peer_max_bio_size: 0,
                node_id: 0,
                peer_id: if version == DrbdVersion::V09 {
                    Some(1)
                } else {
                    None
                },
            };
            let b = sb.encode();
            assert_eq!(version_of(&b), Some(version));
            assert_eq!(DrbdSuperblock::decode(&b).unwrap(), sb);
        }
        assert!(DrbdSuperblock::decode(&[0; 4096]).is_err());
    }
}
