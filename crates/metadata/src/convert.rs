//! `convert-md`: DRBD's metadata to shimai's and back, in place, and
//! shimai's first layout to the current one.
//!
//! Both formats put the superblock, the activity log and the bitmap in the
//! same places with the same sizes ([`crate::layout`]) and store the
//! bitmap the same way, so a conversion rewrites the superblock block and
//! the activity-log ring and leaves the data and the bitmap where they
//! are. What is carried over: the generation identifiers (current,
//! bitmap, two history), the device UUID, the flags (consistent,
//! was-up-to-date, primary, connected, peer outdated, crashed primary,
//! full sync, activity log disabled), the last agreed size, the bitmap,
//! and the activity log's hot extents (DRBD's unclean log is replayed as
//! `drbdmeta apply-al` does).
//!
//! Crash safety: the bitmap bits of every hot extent are written first,
//! then the activity log, then the superblock. A crash in between leaves
//! the old format's superblock over a log it may no longer read, but with
//! a bitmap that already marks everything the log would have marked.
//! Converting shimai's first layout moves the bitmap: its superblocks are
//! cleared first, so a crash leaves no metadata (the data is untouched)
//! and `create-md` plus a full sync, rather than a wrong bitmap.

use shimai_replication::bitmap::BM_BLOCK_SIZE;
use shimai_replication::Bitmap;

use crate::al::{ActivityLog, AlTransaction, AL_TR_SIZE};
use crate::bitmap_block::{decode_bitmap_block, encode_bitmap_block, BM_WORDS_PER_BLOCK};
use crate::device::MetaDevice;
use crate::drbd::{self, DrbdSuperblock, DrbdVersion};
use crate::error::{MetaError, Result};
use crate::flags::MdFlags;
use crate::io::BlockIo;
use crate::layout::{Layout, Placement, AL_EXTENT_SIZE, BLOCK, INDEXED_SLOT_SIZE};
use crate::legacy::{self, LegacySuperblock};
use crate::store::open;
use crate::superblock::{Superblock, SB_SIZE};

/// What the metadata area of a device holds.
#[derive(Debug)]
pub enum Found {
    Nothing,
    Shimai(Superblock),
    /// shimai's first layout.
    Legacy(LegacySuperblock),
    Drbd(DrbdSuperblock),
    /// Something with a shimai or DRBD magic that does not decode.
    Damaged(MetaError),
}

impl Found {
    /// One line for messages: what it is, its size and current generation.
    pub fn describe(&self) -> String {
        match self {
            Found::Nothing => "no metadata".into(),
            Found::Shimai(sb) => format!(
                "shimai metadata ({}, {} KiB of data, current generation {:016X})",
                sb.layout.placement,
                sb.data_size / 1024,
                sb.gi.current
            ),
            Found::Legacy(sb) => format!(
                "shimai metadata in its first layout ({}, {} KiB of data, current generation {:016X})",
                sb.placement,
                sb.data_size / 1024,
                sb.gi.current
            ),
            Found::Drbd(sb) => format!(
                "DRBD {} metadata ({} KiB of data agreed, current generation {:016X})",
                sb.version,
                sb.la_size_sect / 2,
                sb.gi.current
            ),
            Found::Damaged(e) => format!("damaged metadata ({e})"),
        }
    }
}

/// Looks at the metadata area of `dev` for `placement` (only I/O errors
/// are errors).
pub fn probe<IO: BlockIo>(dev: &MetaDevice<IO>, placement: Placement) -> Result<Found> {
    probe_for(dev, placement, None)
}

/// [`probe`], reading DRBD 9's bitmap identifier and peer flags from
/// slot `peer` when no peer has bitmap slot 0 yet.
pub fn probe_for<IO: BlockIo>(
    dev: &MetaDevice<IO>,
    placement: Placement,
    peer: Option<usize>,
) -> Result<Found> {
    match crate::store::detect(dev, placement)? {
        crate::store::Detected::Present(sb) => return Ok(Found::Shimai(sb)),
        crate::store::Detected::Damaged(e) => return Ok(Found::Damaged(e)),
        crate::store::Detected::Absent | crate::store::Detected::Convertible(_) => {}
    }
    let size = dev.size()?;
    if let Some(block) = Layout::superblock_block(placement, size) {
        if block.saturating_add(BLOCK) <= size {
            let b = dev.read(block, BLOCK as usize)?;
            if drbd::version_of(&b).is_some() {
                return Ok(match DrbdSuperblock::decode_for(&b, peer) {
                    Ok(sb) => Found::Drbd(sb),
                    Err(e) => Found::Damaged(e.located(&dev.path, block)),
                });
            }
        }
    }
    Ok(match legacy::find(dev, placement)? {
        Some(sb) => Found::Legacy(sb),
        None => Found::Nothing,
    })
}

/// What a conversion did, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// "DRBD 8.4 (v08)", "shimai (first layout)", ...
    pub from: String,
    pub to: String,
    pub superblock: Superblock,
    /// Out-of-sync 4 KiB blocks in the bitmap after the conversion.
    pub out_of_sync_blocks: u64,
    /// Extents that were hot in the activity log.
    pub hot_extents: Vec<u32>,
}

/// Converts DRBD's metadata, or shimai's first layout, at `placement` on
/// `dev` to shimai's. `data_size` is the size of the data device (the
/// same device for internal metadata); `al_extents` the configured value;
/// `ids.peer` the DRBD 9 peer whose identifiers to take when no peer has
/// a bitmap slot yet.
pub fn to_shimai<IO: BlockIo>(
    dev: MetaDevice<IO>,
    placement: Placement,
    data_size: u64,
    al_extents: u32,
    ids: NodeIds,
) -> Result<Converted> {
    let size = dev.size()?;
    let layout = match placement {
        Placement::Internal => Layout::internal(&dev.path, size, al_extents)?,
        Placement::External => Layout::external(&dev.path, size, data_size, al_extents, None)?,
        Placement::Indexed(i) => Layout::external(&dev.path, size, data_size, al_extents, Some(i))?,
    };
    match probe_for(&dev, placement, Some(ids.peer as usize))? {
        Found::Drbd(sb) => from_drbd(dev, layout, sb),
        Found::Legacy(sb) => from_legacy(dev, layout, sb),
        Found::Shimai(sb) => Err(MetaError::InvalidParameter {
            name: "convert-md",
            value: sb.gi.current,
            reason: format!(
                "{} already holds shimai metadata in the current layout: nothing to convert",
                dev.path
            ),
        }),
        Found::Damaged(e) => Err(e),
        Found::Nothing => Err(MetaError::NoMetadata {
            device: dev.path.clone(),
            resource: dev.resource.clone(),
        }),
    }
}

fn mismatch(dev: &str, what: &str, drbd: u64, ours: u64, fix: &str) -> MetaError {
    MetaError::InvalidParameter {
        name: "convert-md",
        value: drbd,
        reason: format!(
            "DRBD's {what} on {dev} is at/of {drbd} bytes, shimai's would be {ours}: {fix}"
        ),
    }
}

fn from_drbd<IO: BlockIo>(
    dev: MetaDevice<IO>,
    layout: Layout,
    d: DrbdSuperblock,
) -> Result<Converted> {
    let sb_block = layout.sb_offsets[0];
    let at = |sectors: i32| sb_block.checked_add_signed(i64::from(sectors) * 512);
    let al_at = at(d.al_offset).unwrap_or(u64::MAX);
    let bm_at = at(d.bm_offset).unwrap_or(u64::MAX);
    if al_at != layout.al_offset {
        return Err(mismatch(
            &dev.path,
            "activity log",
            al_at,
            layout.al_offset,
            "was this metadata created with another meta-disk setting?",
        ));
    }
    if d.al_blocks != layout.al_blocks {
        return Err(mismatch(
            &dev.path,
            "activity log size",
            u64::from(d.al_blocks) * BLOCK,
            u64::from(layout.al_blocks) * BLOCK,
            "set al-extents to at most 6216 (shimai's 32 KiB ring holds that many)",
        ));
    }
    if bm_at != layout.bm_offset {
        return Err(mismatch(
            &dev.path,
            "bitmap",
            bm_at,
            layout.bm_offset,
            "the device changed size since the DRBD metadata was created: \
             restore its size, or `drbdmeta ... resize` it first",
        ));
    }
    let la = d.la_size_sect.saturating_mul(512);
    if la > layout.capacity {
        return Err(mismatch(
            &dev.path,
            "agreed size",
            la,
            layout.capacity,
            "the device shrank since DRBD last ran: restore its size",
        ));
    }
    let data_size = if la == 0 { layout.capacity } else { la };
    let mut flags = d.flags;
    let mut hot = Vec::new();
    let mut bitmap = read_bitmap(&dev, layout.bm_offset, data_size)?;
    if d.unclean {
        let ring = dev.read(layout.al_offset, layout.al_blocks as usize * AL_TR_SIZE)?;
        let primary = flags.contains(MdFlags::PRIMARY_IND);
        match drbd::replay_al(&ring) {
            Some(h) => hot = h,
            // Not one valid transaction of a Primary's log: whatever was
            // in flight is unknown (drbdmeta refuses to apply-al then).
            None if primary => flags.insert(MdFlags::FULL_SYNC),
            None => {}
        }
        // As `drbdmeta apply-al`: the extents are out of sync when the
        // node was Primary. (shimai's attach marks them again from its own
        // log whenever that is unclean; this is for a crash in between.)
        if primary && !hot.is_empty() {
            mark_extents(&mut bitmap, &hot);
            write_bitmap(&dev, layout.bm_offset, &bitmap, &hot)?;
        }
    }
    flags.set(MdFlags::AL_CLEAN, !d.unclean);
    let sb = Superblock {
        seq: 1,
        data_size,
        gi: d.gi,
        device_uuid: d.device_uuid,
        flags,
        layout,
    };
    write_shimai(dev, sb, &hot, format!("DRBD {}", d.version))
}

/// Writes an empty ring, the superblock (copy 0) and the hot extents as a
/// transaction, then reads it all back.
fn write_shimai<IO: BlockIo>(
    dev: MetaDevice<IO>,
    sb: Superblock,
    hot: &[u32],
    from: String,
) -> Result<Converted> {
    let l = sb.layout;
    dev.write(l.al_offset, &vec![0u8; l.al_blocks as usize * AL_TR_SIZE])?;
    dev.flush()?;
    let mut block = vec![0u8; BLOCK as usize];
    block[..SB_SIZE].copy_from_slice(&sb.encode());
    dev.write(l.sb_offsets[0], &block)?;
    dev.flush()?;
    let mut md = open(dev, l.placement)?;
    if !hot.is_empty() {
        // More hot extents than this al-extents holds stay in the bitmap only.
        let fits = hot.len().min(md.activity_log().free_slots());
        md.al_begin_transaction(&hot[..fits], &[])?;
    }
    Ok(Converted {
        from,
        to: "shimai".into(),
        superblock: md.superblock().clone(),
        out_of_sync_blocks: md.bitmap().count(),
        hot_extents: hot.to_vec(),
    })
}

fn from_legacy<IO: BlockIo>(
    dev: MetaDevice<IO>,
    layout: Layout,
    old: LegacySuperblock,
) -> Result<Converted> {
    if old.data_size > layout.capacity {
        return Err(mismatch(
            &dev.path,
            "agreed size",
            old.data_size,
            layout.capacity,
            "the device shrank: restore its size",
        ));
    }
    // At most the old second superblock and a bitmap block of rounding
    // become data.
    if layout.capacity.abs_diff(old.capacity) > 1 << 20 {
        return Err(mismatch(
            &dev.path,
            "data area",
            old.capacity,
            layout.capacity,
            "the first layout's metadata does not fit this device's size",
        ));
    }
    let bitmap = read_bitmap(&dev, old.bm_offset, old.data_size)?;
    let ring = dev.read(old.al_offset, old.al_blocks as usize * AL_TR_SIZE)?;
    let log = ActivityLog::replay(
        old.al_extents,
        old.al_blocks,
        ring.chunks_exact(AL_TR_SIZE)
            .enumerate()
            .map(|(i, b)| (i as u32, AlTransaction::decode(b))),
    );
    // A clean shutdown leaves the last extents in the ring: they only
    // count while the log is not clean.
    let hot = if old.flags.contains(MdFlags::AL_CLEAN) {
        Vec::new()
    } else {
        log.hot_extents()
    };
    let mut bitmap = bitmap;
    mark_extents(&mut bitmap, &hot);
    // From here on the old superblocks are gone: a crash leaves no metadata.
    let size = dev.size()?;
    let old_blocks: Vec<u64> = match old.placement {
        Placement::Internal => {
            let end = size / BLOCK * BLOCK;
            vec![end - 2 * BLOCK, end - BLOCK]
        }
        Placement::External => vec![0, BLOCK],
        Placement::Indexed(i) => {
            let base = u64::from(i) * INDEXED_SLOT_SIZE;
            vec![base, base + BLOCK]
        }
    };
    for off in old_blocks {
        dev.write(off, &[0u8; BLOCK as usize])?;
    }
    dev.flush()?;
    if layout.placement == Placement::Internal && layout.capacity > old.capacity {
        // Old metadata that is now data: zeros on both nodes, not two
        // different old bitmaps.
        dev.write(
            old.capacity,
            &vec![0u8; (layout.capacity - old.capacity) as usize],
        )?;
    }
    write_bitmap(&dev, layout.bm_offset, &bitmap, &[])?;
    let blocks_written = bitmap.words().len().div_ceil(BM_WORDS_PER_BLOCK) as u64 * BLOCK;
    if layout.bm_size > blocks_written {
        dev.write(
            layout.bm_offset + blocks_written,
            &vec![0u8; (layout.bm_size - blocks_written) as usize],
        )?;
    }
    dev.flush()?;
    let sb = Superblock {
        seq: 1,
        data_size: old.data_size,
        gi: old.gi,
        device_uuid: old.device_uuid,
        flags: old.flags,
        layout,
    };
    write_shimai(dev, sb, &hot, "shimai (first layout)".into())
}

fn read_bitmap<IO: BlockIo>(dev: &MetaDevice<IO>, at: u64, data_size: u64) -> Result<Bitmap> {
    let n_words = data_size.div_ceil(BM_BLOCK_SIZE).div_ceil(64) as usize;
    let n_blocks = n_words.div_ceil(BM_WORDS_PER_BLOCK);
    let raw = dev.read(at, n_blocks * BLOCK as usize)?;
    let mut words = Vec::with_capacity(n_blocks * BM_WORDS_PER_BLOCK);
    for (i, block) in raw.chunks_exact(BLOCK as usize).enumerate() {
        words.extend(
            decode_bitmap_block(block).map_err(|e| e.located(&dev.path, at + i as u64 * BLOCK))?,
        );
    }
    words.truncate(n_words);
    Ok(Bitmap::from_words(data_size, words))
}

fn mark_extents(bitmap: &mut Bitmap, extents: &[u32]) {
    for e in extents {
        bitmap.set_range(u64::from(*e) * AL_EXTENT_SIZE, AL_EXTENT_SIZE);
    }
}

/// Writes the bitmap at `at`: all of it when `only` is empty, else the
/// blocks of those extents.
fn write_bitmap<IO: BlockIo>(
    dev: &MetaDevice<IO>,
    at: u64,
    bitmap: &Bitmap,
    only: &[u32],
) -> Result<()> {
    let words = bitmap.words();
    let n_blocks = words.len().div_ceil(BM_WORDS_PER_BLOCK);
    let per_extent = (AL_EXTENT_SIZE / BM_BLOCK_SIZE / 64) as usize;
    let mut wanted: Vec<usize> = if only.is_empty() {
        (0..n_blocks).collect()
    } else {
        only.iter()
            .map(|e| *e as usize * per_extent / BM_WORDS_PER_BLOCK)
            .filter(|b| *b < n_blocks)
            .collect()
    };
    wanted.dedup();
    for b in wanted {
        let start = b * BM_WORDS_PER_BLOCK;
        let stop = (start + BM_WORDS_PER_BLOCK).min(words.len());
        dev.write(
            at + b as u64 * BLOCK,
            &encode_bitmap_block(&words[start..stop]),
        )?;
    }
    dev.flush()
}

/// Where DRBD's `v09` superblock says this node and its peer are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeIds {
    pub own: u32,
    pub peer: u32,
}

/// Converts shimai's metadata at `placement` on `dev` to DRBD's `version`
/// (the way back to DRBD): the hot extents of the activity log go into
/// the bitmap and DRBD's log starts empty, as after `drbdmeta apply-al`.
pub fn to_drbd<IO: BlockIo>(
    dev: MetaDevice<IO>,
    placement: Placement,
    version: DrbdVersion,
    ids: NodeIds,
) -> Result<Converted> {
    if ids.own == ids.peer || ids.own > 31 || ids.peer > 31 {
        return Err(MetaError::InvalidParameter {
            name: "node-id",
            value: ids.peer.into(),
            reason: format!(
                "this node {} and its peer {} must differ and be at most 31",
                ids.own, ids.peer
            ),
        });
    }
    let size = dev.size()?;
    let mut md = open(dev, placement)?;
    let l = *md.layout();
    // After a clean down the ring still names the last extents; they only
    // count while the log is not clean.
    let hot = if md.flags().contains(MdFlags::AL_CLEAN) {
        Vec::new()
    } else {
        md.activity_log().hot_extents()
    };
    for e in &hot {
        md.bitmap_mut()
            .set_range(u64::from(*e) * AL_EXTENT_SIZE, AL_EXTENT_SIZE);
    }
    md.write_bitmap()?;
    let sb = md.superblock().clone();
    let al_sect = (l.al_blocks * 8) as i32;
    let (md_size_sect, al_offset, bm_offset) = match placement {
        Placement::Internal => {
            let md = (l.md_size / 512) as i32;
            (md as u32, -al_sect, -md + 8)
        }
        // DRBD's flexible external metadata claims the whole device.
        Placement::External => ((size / 512).min(u64::from(u32::MAX)) as u32, 8, 8 + al_sect),
        Placement::Indexed(_) => ((INDEXED_SLOT_SIZE / 512) as u32, 8, 8 + al_sect),
    };
    let mut flags = sb.flags;
    flags.insert(MdFlags::AL_CLEAN);
    let d = DrbdSuperblock {
        version,
        la_size_sect: sb.data_size / 512,
        gi: sb.gi,
        device_uuid: sb.device_uuid,
        flags,
        unclean: false,
        md_size_sect,
        al_offset,
        bm_offset,
        al_nr_extents: l.al_extents,
        al_blocks: l.al_blocks,
        la_peer_max_bio_size: 0,
        node_id: ids.own as i32,
        peer_id: Some(ids.peer as usize),
    };
    let count = md.bitmap().count();
    let dev = md.into_device();
    let mut ring = Vec::with_capacity(l.al_blocks as usize * AL_TR_SIZE);
    for _ in 0..l.al_blocks {
        ring.extend_from_slice(&drbd::initialized_al_block());
    }
    dev.write(l.al_offset, &ring)?;
    dev.flush()?;
    dev.write(l.sb_offsets[0], &d.encode())?;
    dev.flush()?;
    Ok(Converted {
        from: "shimai".into(),
        to: format!("DRBD {version}"),
        superblock: sb,
        out_of_sync_blocks: count,
        hot_extents: hot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{put_u32, put_u64};
    use crate::io::MemDisk;
    use crate::store::create;
    use crate::superblock::SB_MAGIC;
    use shimai_replication::GenerationIds;

    const SIZE: u64 = 64 << 20;
    const IDS: NodeIds = NodeIds { own: 0, peer: 1 };

    fn dev(disk: &MemDisk) -> MetaDevice<MemDisk> {
        MetaDevice::new(disk.clone(), "/dev/test", "r0")
    }

    /// Writes metadata as shimai's first layout did (internal, 61 al-extents):
    /// one bitmap block, 8 ring blocks, two 4 KiB superblocks at the end.
    fn first_layout(disk: &MemDisk, gi: GenerationIds, hot: &[u32]) -> u64 {
        let md_size = 4096 + 8 * 4096 + 2 * 4096;
        let capacity = SIZE - md_size;
        let (bm, al, sb1) = (capacity, capacity + 4096, SIZE - 4096);
        let mut b = [0u8; 4096];
        b[0..8].copy_from_slice(&SB_MAGIC);
        put_u32(&mut b, 8, 1);
        put_u64(&mut b, 16, 7);
        put_u64(&mut b, 24, capacity);
        put_u64(&mut b, 32, gi.current);
        put_u64(&mut b, 40, gi.bitmap);
        put_u64(&mut b, 48, gi.history[0]);
        put_u64(&mut b, 56, gi.history[1]);
        put_u64(&mut b, 64, 0xdead);
        put_u32(
            &mut b,
            72,
            (MdFlags::CONSISTENT | MdFlags::WAS_UP_TO_DATE).bits(),
        );
        put_u32(&mut b, 76, 1);
        put_u32(&mut b, 84, 61);
        put_u64(&mut b, 88, capacity);
        put_u64(&mut b, 96, capacity);
        put_u64(&mut b, 104, md_size);
        put_u64(&mut b, 112, al);
        put_u32(&mut b, 120, 8);
        put_u32(&mut b, 124, 4096);
        put_u64(&mut b, 128, bm);
        put_u64(&mut b, 136, 4096);
        let crc = crc32c::crc32c(&b[..4092]);
        put_u32(&mut b, 4092, crc);
        disk.poke(sb1 as usize, &b);
        disk.poke(bm as usize, &0b1011u64.to_le_bytes());
        let log = ActivityLog::new(61, 8);
        for t in log.plan(hot, &[]).unwrap() {
            disk.poke((al + (t.seq % 8) * 4096) as usize, &t.encode());
        }
        capacity
    }

    #[test]
    fn the_first_layout_is_refused_then_converted_with_its_state() {
        let disk = MemDisk::new(SIZE as usize);
        let gi = GenerationIds {
            current: 0x1234_5678_9abc_def0,
            bitmap: 0,
            history: [0x40, 0x80],
        };
        let old_capacity = first_layout(&disk, gi, &[3]);
        let e = open(dev(&disk), Placement::Internal).unwrap_err();
        assert!(matches!(e, MetaError::OldLayout { .. }), "{e}");
        assert!(
            e.to_string().contains("run `shimaiadm convert-md r0`"),
            "{e}"
        );
        assert!(matches!(
            probe(&dev(&disk), Placement::Internal).unwrap(),
            Found::Legacy(_)
        ));

        let c = to_shimai(dev(&disk), Placement::Internal, SIZE, 61, IDS).unwrap();
        assert_eq!(c.hot_extents, vec![3]);
        let md = open(dev(&disk), Placement::Internal).unwrap();
        let sb = md.superblock();
        assert_eq!(sb.gi, gi);
        assert_eq!(sb.device_uuid, 0xdead);
        assert_eq!(sb.data_size, old_capacity);
        assert_eq!(
            sb.layout.capacity,
            old_capacity + 4096,
            "DRBD's size, 4 KiB more"
        );
        assert!(sb
            .flags
            .contains(MdFlags::CONSISTENT | MdFlags::WAS_UP_TO_DATE));
        assert!(!sb.flags.contains(MdFlags::AL_CLEAN));
        assert_eq!(md.activity_log().hot_extents(), vec![3]);
        // Bits 0, 1, 3 and the 1024 blocks of extent 3.
        assert_eq!(md.bitmap().count(), 3 + 1024);
        // The old metadata that became data is zeros.
        assert_eq!(disk.bytes(old_capacity as usize, 4096), vec![0u8; 4096]);
        // Converting again: nothing to do, said so.
        let e = to_shimai(dev(&disk), Placement::Internal, SIZE, 61, IDS).unwrap_err();
        assert!(e.to_string().contains("nothing to convert"), "{e}");
    }

    #[test]
    fn drbd_and_back_keeps_identifiers_bitmap_and_hot_extents() {
        for version in [DrbdVersion::V08, DrbdVersion::V09] {
            let disk = MemDisk::new(SIZE as usize);
            let layout = Layout::internal("/dev/test", SIZE, 61).unwrap();
            let mut md = create(dev(&disk), layout, 0xbeef).unwrap();
            md.update_superblock(|sb| {
                sb.gi.current = 0x1111_2222_3333_4444;
                sb.gi.history = [0x10, 0x20];
                sb.flags
                    .insert(MdFlags::CONSISTENT | MdFlags::WAS_UP_TO_DATE);
            })
            .unwrap();
            md.bitmap_mut().set_range(8 << 20, 8192);
            md.write_bitmap().unwrap();
            md.al_begin_transaction(&[5], &[]).unwrap();
            drop(md);

            let ids = NodeIds { own: 0, peer: 1 };
            to_drbd(dev(&disk), Placement::Internal, version, ids).unwrap();
            let e = open(dev(&disk), Placement::Internal).unwrap_err();
            assert!(matches!(e, MetaError::DrbdMetadata { .. }), "{e}");
            let Found::Drbd(d) = probe(&dev(&disk), Placement::Internal).unwrap() else {
                panic!("no DRBD metadata found");
            };
            assert_eq!(d.version, version);
            assert!(
                !d.unclean,
                "hot extents went to the bitmap, the log is clean"
            );
            assert_eq!(d.md_size_sect as u64 * 512, layout.md_size);

            let c = to_shimai(dev(&disk), Placement::Internal, SIZE, 61, IDS).unwrap();
            assert!(c.hot_extents.is_empty());
            let md = open(dev(&disk), Placement::Internal).unwrap();
            assert_eq!(md.superblock().gi.current, 0x1111_2222_3333_4444);
            assert_eq!(md.superblock().gi.history, [0x10, 0x20]);
            assert_eq!(md.superblock().device_uuid, 0xbeef);
            assert_eq!(md.superblock().data_size, layout.capacity);
            // Two blocks written, plus extent 5 (4 MiB) from the activity log.
            assert_eq!(md.bitmap().count(), 2 + 1024);
            assert_eq!(md.superblock().layout, layout);
        }
    }

    #[test]
    fn after_a_clean_down_the_extents_left_in_the_ring_do_not_count() {
        let disk = MemDisk::new(SIZE as usize);
        let layout = Layout::internal("/dev/test", SIZE, 61).unwrap();
        let mut md = create(dev(&disk), layout, 1).unwrap();
        md.al_begin_transaction(&[4], &[]).unwrap();
        md.detach_clean().unwrap();
        drop(md);
        let c = to_drbd(dev(&disk), Placement::Internal, DrbdVersion::V08, IDS).unwrap();
        assert!(c.hot_extents.is_empty());
        assert_eq!(c.out_of_sync_blocks, 0);
    }

    #[test]
    fn an_unclean_drbd_log_is_replayed_into_bitmap_and_log() {
        let disk = MemDisk::new(SIZE as usize);
        let layout = Layout::internal("/dev/test", SIZE, 61).unwrap();
        create(dev(&disk), layout, 1).unwrap();
        to_drbd(
            dev(&disk),
            Placement::Internal,
            DrbdVersion::V08,
            NodeIds { own: 0, peer: 1 },
        )
        .unwrap();
        // As an attached 8.4 Primary leaves it: unclean magic, a transaction.
        let sb = layout.sb_offsets[0] as usize;
        disk.poke(sb + 60, &drbd::MAGIC_84_UNCLEAN.to_be_bytes());
        let flags = (MdFlags::PRIMARY_IND | MdFlags::CONSISTENT).bits();
        disk.poke(sb + 56, &flags.to_be_bytes());
        let tr = drbd::encode_al_transaction(1, 61, 0, &[2, 9], &[]);
        disk.poke(layout.al_offset as usize, &tr);
        let c = to_shimai(dev(&disk), Placement::Internal, SIZE, 61, IDS).unwrap();
        assert_eq!(c.hot_extents, vec![2, 9]);
        let md = open(dev(&disk), Placement::Internal).unwrap();
        assert_eq!(md.activity_log().hot_extents(), vec![2, 9]);
        assert_eq!(md.bitmap().count(), 2 * 1024);
    }
}
