//! The storage layer: the daemon's metadata operations over a [`BlockIo`].
//!
//! Every operation that changes the disk ends with a flush before it
//! returns, and in-memory state changes only after the write succeeded, so
//! a caller that sees `Ok` knows the change is durable and one that sees an
//! error can keep running on the old state or detach.

use std::ops::Range;

use shimai_replication::bitmap::BM_BLOCK_SIZE;
use shimai_replication::Bitmap;

use crate::al::{ActivityLog, AlTransaction, AL_TR_SIZE};
use crate::bitmap_block::{
    blocks_for_words, decode_bitmap_block, encode_bitmap_block, BM_WORDS_PER_BLOCK,
};
use crate::device::MetaDevice;
use crate::error::{MetaError, Result};
use crate::flags::{AttachState, MdFlags};
use crate::io::BlockIo;
use crate::layout::{Layout, Placement, AL_EXTENT_SIZE, BLOCK, SB_SLOTS};
use crate::superblock::{Superblock, SB_SIZE, SB_VERSION_LEGACY};

impl<IO: BlockIo> MetaDevice<IO> {
    /// The superblock block as read, and both copies in it as decoded,
    /// with errors at their real place.
    #[allow(clippy::type_complexity)]
    fn read_superblocks(
        &self,
        placement: Placement,
    ) -> Result<(Vec<u8>, [Result<Superblock>; SB_SLOTS])> {
        let size = self.size()?;
        let absent = || MetaError::BadMagic {
            what: "superblock",
            at: Default::default(),
        };
        let mut out = [Err(absent()), Err(absent())];
        let Some(block_off) = Layout::superblock_block(placement, size) else {
            return Ok((vec![0; BLOCK as usize], out));
        };
        if block_off.saturating_add(BLOCK) > size {
            return Ok((vec![0; BLOCK as usize], out));
        }
        let block = self.read(block_off, BLOCK as usize)?;
        for (slot, copy) in block.chunks_exact(SB_SIZE).enumerate() {
            let off = block_off + (slot * SB_SIZE) as u64;
            out[slot] = Superblock::decode(copy)
                .and_then(|sb| {
                    if sb.layout.sb_offsets[slot] == off {
                        Ok(sb)
                    } else {
                        Err(MetaError::corrupt(
                            "superblock",
                            0,
                            format!(
                                "it belongs at byte {}, not here",
                                sb.layout.sb_offsets[slot]
                            ),
                        ))
                    }
                })
                .map_err(|e| e.located(&self.path, off));
        }
        Ok((block, out))
    }

    /// The newest valid copy; a copy from a newer format version wins over
    /// any valid one (going back to older state silently would be worse
    /// than refusing). Metadata of shimai's first layout or of DRBD is
    /// named, with the command that converts it.
    /// Also returns which slot it is in (the next write goes to the other)
    /// and the superblock block as it is on disk.
    fn newest_superblock(&self, placement: Placement) -> Result<(Superblock, usize, Vec<u8>)> {
        let (block, [a, b]) = self.read_superblocks(placement)?;
        match (a, b) {
            (Err(MetaError::UnsupportedVersion { found, .. }), _)
            | (_, Err(MetaError::UnsupportedVersion { found, .. }))
                if found == SB_VERSION_LEGACY =>
            {
                Err(self.old_layout())
            }
            (Err(e @ MetaError::UnsupportedVersion { .. }), _)
            | (_, Err(e @ MetaError::UnsupportedVersion { .. })) => Err(e),
            (Ok(a), Ok(b)) => Ok(if b.seq > a.seq {
                (b, 1, block)
            } else {
                (a, 0, block)
            }),
            (Ok(sb), Err(_)) => Ok((sb, 0, block)),
            (Err(_), Ok(sb)) => Ok((sb, 1, block)),
            (Err(MetaError::BadMagic { .. }), Err(MetaError::BadMagic { .. })) => {
                if let Some(version) = crate::drbd::version_of(&block) {
                    return Err(MetaError::DrbdMetadata {
                        device: self.path.clone(),
                        version: version.to_string(),
                        resource: self.resource.clone(),
                    });
                }
                if crate::legacy::find(self, placement)?.is_some() {
                    return Err(self.old_layout());
                }
                Err(MetaError::NoMetadata {
                    device: self.path.clone(),
                    resource: self.resource.clone(),
                })
            }
            (Err(MetaError::BadMagic { .. }), Err(e)) | (Err(e), Err(_)) => Err(e),
        }
    }

    fn old_layout(&self) -> MetaError {
        MetaError::OldLayout {
            device: self.path.clone(),
            resource: self.resource.clone(),
        }
    }
}

/// What [`detect`] found where the metadata would be.
#[derive(Debug)]
pub enum Detected {
    /// No shimai superblock: safe to create without asking.
    Absent,
    /// Valid metadata: `create-md` must ask before overwriting it.
    Present(Superblock),
    /// Something with a shimai magic that does not decode: ask too.
    Damaged(MetaError),
    /// Metadata `convert-md` reads: DRBD's, or shimai's first layout
    /// (the error says which and names the command).
    Convertible(MetaError),
}

/// Looks for metadata at `placement` on `dev` (only I/O errors are errors).
pub fn detect<IO: BlockIo>(dev: &MetaDevice<IO>, placement: Placement) -> Result<Detected> {
    match dev.newest_superblock(placement) {
        Ok((sb, _, _)) => Ok(Detected::Present(sb)),
        Err(MetaError::NoMetadata { .. }) => Ok(Detected::Absent),
        Err(e @ (MetaError::OldLayout { .. } | MetaError::DrbdMetadata { .. })) => {
            Ok(Detected::Convertible(e))
        }
        Err(e @ MetaError::Io { .. }) => Err(e),
        Err(e) => Ok(Detected::Damaged(e)),
    }
}

/// The metadata of one device, loaded and ready for the daemon.
#[derive(Debug)]
pub struct Metadata<IO> {
    dev: MetaDevice<IO>,
    sb: Superblock,
    /// The slot holding `sb`: never overwritten, so a torn write can only
    /// damage the older copy.
    sb_slot: usize,
    /// The superblock block as on disk: a write replaces one half and
    /// rewrites the other with the bytes it already holds.
    sb_block: Vec<u8>,
    bitmap: Bitmap,
    al: ActivityLog,
}

/// `create-md`: writes fresh metadata (just-created generation,
/// Inconsistent, clear bitmap, empty activity log) laid out as `layout`.
/// `device_uuid` comes from the caller, which owns the randomness.
pub fn create<IO: BlockIo>(
    dev: MetaDevice<IO>,
    layout: Layout,
    device_uuid: u64,
) -> Result<Metadata<IO>> {
    if !layout.is_canonical() {
        return Err(MetaError::InvalidParameter {
            name: "layout",
            value: layout.md_offset,
            reason: format!("{layout:?} was not computed by Layout::internal/external"),
        });
    }
    let size = dev.size()?;
    if size < layout.md_end() {
        return Err(MetaError::DeviceTooSmall {
            device: dev.path.clone(),
            size,
            needed: layout.md_end(),
            reason: "the layout it was computed for; recompute it from the device's size",
        });
    }
    if Layout::superblock_offsets(layout.placement, size) != Some(layout.sb_offsets) {
        return Err(MetaError::InvalidParameter {
            name: "layout",
            value: size,
            reason: format!(
                "computed for another size of {}: recompute it from the current size",
                dev.path
            ),
        });
    }
    // Old superblocks go first: a crash during create leaves no metadata
    // rather than old metadata over a new bitmap.
    let mut sb_block = vec![0u8; BLOCK as usize];
    dev.write(layout.sb_offsets[0], &sb_block)?;
    dev.flush()?;
    dev.write(
        layout.al_offset,
        &vec![0u8; layout.al_blocks as usize * AL_TR_SIZE],
    )?;
    let chunk = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < layout.bm_size {
        let n = (layout.bm_size - off).min(chunk.len() as u64) as usize;
        dev.write(layout.bm_offset + off, &chunk[..n])?;
        off += n as u64;
    }
    dev.flush()?;
    let sb = Superblock::fresh(layout, device_uuid);
    sb_block[..SB_SIZE].copy_from_slice(&sb.encode());
    dev.write(layout.sb_offsets[0], &sb_block)?;
    dev.flush()?;
    Ok(Metadata {
        sb_slot: 0,
        sb_block,
        bitmap: Bitmap::new(sb.data_size),
        al: ActivityLog::new(layout.al_extents, layout.al_blocks),
        sb,
        dev,
    })
}

/// Loads the metadata at `placement`: the newest valid superblock copy,
/// the bitmap, and the activity log replayed from its ring.
pub fn open<IO: BlockIo>(dev: MetaDevice<IO>, placement: Placement) -> Result<Metadata<IO>> {
    let (sb, sb_slot, sb_block) = dev.newest_superblock(placement)?;
    if sb.layout.placement != placement {
        return Err(MetaError::WrongPlacement {
            device: dev.path.clone(),
            found: sb.layout.placement.to_string(),
            expected: placement.to_string(),
        });
    }
    let size = dev.size()?;
    let l = sb.layout;
    if size < l.md_end() {
        return Err(MetaError::DeviceTooSmall {
            device: dev.path.clone(),
            size,
            needed: l.md_end(),
            reason: "the metadata it holds (did it shrink?); restore its size, \
                     or run `shimaiadm create-md` to start over",
        });
    }
    let n_words = sb.data_size.div_ceil(BM_BLOCK_SIZE).div_ceil(64) as usize;
    let n_blocks = n_words.div_ceil(BM_WORDS_PER_BLOCK);
    let raw = dev.read(l.bm_offset, n_blocks * BLOCK as usize)?;
    let mut words = Vec::with_capacity(n_blocks * BM_WORDS_PER_BLOCK);
    for (i, block) in raw.chunks_exact(BLOCK as usize).enumerate() {
        let w = decode_bitmap_block(block)
            .map_err(|e| e.located(&dev.path, l.bm_offset + i as u64 * BLOCK))?;
        words.extend(w);
    }
    words.truncate(n_words);
    let bitmap = Bitmap::from_words(sb.data_size, words);

    let raw = dev.read(l.al_offset, l.al_blocks as usize * AL_TR_SIZE)?;
    let al = ActivityLog::replay(
        l.al_extents,
        l.al_blocks,
        raw.chunks_exact(AL_TR_SIZE)
            .enumerate()
            .map(|(i, b)| (i as u32, AlTransaction::decode(b))),
    );
    Ok(Metadata {
        dev,
        sb,
        sb_slot,
        sb_block,
        bitmap,
        al,
    })
}

/// The activity-log extent that holds byte `offset` of the data.
pub fn extent_of(offset: u64) -> u32 {
    u32::try_from(offset / AL_EXTENT_SIZE).unwrap_or(u32::MAX - 1)
}

impl<IO: BlockIo> Metadata<IO> {
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    pub fn flags(&self) -> MdFlags {
        self.sb.flags
    }

    pub fn layout(&self) -> &Layout {
        &self.sb.layout
    }

    pub fn device(&self) -> &MetaDevice<IO> {
        &self.dev
    }

    pub fn into_device(self) -> MetaDevice<IO> {
        self.dev
    }

    /// Changes the superblock with `change` and writes it to the other
    /// slot. The sequence number and the layout are not the caller's to
    /// change; a data size beyond the capacity is refused.
    pub fn update_superblock(&mut self, change: impl FnOnce(&mut Superblock)) -> Result<()> {
        let mut sb = self.sb.clone();
        change(&mut sb);
        sb.seq = self.sb.seq.checked_add(1).ok_or_else(|| {
            MetaError::corrupt("superblock", 16, "sequence number exhausted: run create-md")
                .located(&self.dev.path, self.sb.layout.sb_offsets[self.sb_slot])
        })?;
        sb.layout = self.sb.layout;
        if sb.data_size > sb.layout.capacity {
            return Err(MetaError::InvalidParameter {
                name: "data size",
                value: sb.data_size,
                reason: format!(
                    "{} holds at most {} bytes of data",
                    self.dev.path, sb.layout.capacity
                ),
            });
        }
        let slot = 1 - self.sb_slot;
        // The whole block, so that the write is one aligned 4 KiB: the
        // copy in `sb_slot` is rewritten with its own bytes and survives a
        // torn write whichever sectors of it land.
        let mut block = self.sb_block.clone();
        block[slot * SB_SIZE..(slot + 1) * SB_SIZE].copy_from_slice(&sb.encode());
        self.dev.write(sb.layout.sb_offsets[0], &block)?;
        self.dev.flush()?;
        self.sb_block = block;
        self.sb = sb;
        self.sb_slot = slot;
        Ok(())
    }

    /// Writes the superblock as it is (a new copy with the next sequence number).
    pub fn write_superblock(&mut self) -> Result<()> {
        self.update_superblock(|_| {})
    }

    pub fn bitmap(&self) -> &Bitmap {
        &self.bitmap
    }

    /// Changes in memory only: persist with [`write_bitmap_words`](Self::write_bitmap_words).
    pub fn bitmap_mut(&mut self) -> &mut Bitmap {
        &mut self.bitmap
    }

    /// Writes the bitmap blocks that hold words `words` (indices into
    /// [`Bitmap::words`]); words past the end are ignored.
    pub fn write_bitmap_words(&mut self, words: Range<usize>) -> Result<()> {
        self.write_bitmap_blocks(blocks_for_words(words))
    }

    /// Writes the whole bitmap.
    pub fn write_bitmap(&mut self) -> Result<()> {
        self.write_bitmap_words(0..self.bitmap.words().len())
    }

    /// Writes the bitmap blocks of the given activity-log extents, one
    /// write per run of adjacent blocks and one flush for all.
    fn write_extents_bitmap(&mut self, extents: &[u32]) -> Result<()> {
        let mut blocks: Vec<usize> = extents
            .iter()
            .flat_map(|e| blocks_for_words(Self::extent_words(*e)))
            .collect();
        blocks.sort_unstable();
        blocks.dedup();
        let mut runs: Vec<Range<usize>> = Vec::new();
        for b in blocks {
            match runs.last_mut() {
                Some(r) if r.end == b => r.end += 1,
                _ => runs.push(b..b + 1),
            }
        }
        for r in runs {
            self.write_bitmap_run(r)?;
        }
        self.dev.flush()
    }

    fn write_bitmap_blocks(&mut self, blocks: Range<usize>) -> Result<()> {
        self.write_bitmap_run(blocks)?;
        self.dev.flush()
    }

    /// Writes blocks `blocks` (clamped to the bitmap) in writes of at most
    /// 1 MiB, without flushing.
    fn write_bitmap_run(&mut self, blocks: Range<usize>) -> Result<()> {
        const PER_WRITE: usize = 256;
        let all = self.bitmap.words();
        let last = all.len().div_ceil(BM_WORDS_PER_BLOCK);
        let blocks = blocks.start.min(last)..blocks.end.min(last);
        let mut first = blocks.start;
        while first < blocks.end {
            let end = (first + PER_WRITE).min(blocks.end);
            let mut buf = Vec::with_capacity((end - first) * BLOCK as usize);
            for b in first..end {
                let start = b * BM_WORDS_PER_BLOCK;
                let stop = (start + BM_WORDS_PER_BLOCK).min(all.len());
                buf.extend_from_slice(&encode_bitmap_block(&all[start..stop]));
            }
            let off = self.sb.layout.bm_offset + first as u64 * BLOCK;
            self.dev.write(off, &buf)?;
            first = end;
        }
        Ok(())
    }

    /// The bitmap words that cover `extent`.
    fn extent_words(extent: u32) -> Range<usize> {
        let words_per_extent = (AL_EXTENT_SIZE / BM_BLOCK_SIZE / 64) as usize;
        let start = extent as usize * words_per_extent;
        start..start + words_per_extent
    }

    /// Refuses a data device smaller than the size agreed with the peer
    /// (external metadata: the data device is not the metadata device).
    pub fn check_data_device(&self, device: &str, size: u64) -> Result<()> {
        if size < self.sb.data_size {
            return Err(MetaError::DeviceTooSmall {
                device: device.to_string(),
                size,
                needed: self.sb.data_size,
                reason: "the size agreed with the peer (did it shrink?); restore its size",
            });
        }
        Ok(())
    }

    pub fn activity_log(&self) -> &ActivityLog {
        &self.al
    }

    /// Makes `activate` hot and `evict` cold, durably, before the caller
    /// writes data to newly hot extents. The bitmap words of evicted
    /// extents are written first: once out of the log, only the on-disk
    /// bitmap remembers what differs there.
    pub fn al_begin_transaction(&mut self, activate: &[u32], evict: &[u32]) -> Result<()> {
        self.al_transaction(activate, evict, true)
    }

    /// [`al_begin_transaction`](Self::al_begin_transaction), with the
    /// bitmap write left out when the caller has already persisted it.
    pub(crate) fn al_transaction(
        &mut self,
        activate: &[u32],
        evict: &[u32],
        write_evicted_bitmap: bool,
    ) -> Result<()> {
        let plan = self.al.plan(activate, evict)?;
        if plan.is_empty() {
            return Ok(());
        }
        if self.sb.flags.contains(MdFlags::AL_CLEAN) {
            self.update_superblock(|sb| sb.flags.remove(MdFlags::AL_CLEAN))?;
        }
        let leaving: Vec<u32> = evict
            .iter()
            .copied()
            .filter(|e| self.al.is_hot(*e))
            .collect();
        if write_evicted_bitmap && !leaving.is_empty() {
            self.write_extents_bitmap(&leaving)?;
        }
        let disabled = self.sb.flags.contains(MdFlags::AL_DISABLED);
        let l = self.sb.layout;
        for t in &plan {
            if !disabled {
                let pos = t.seq % u64::from(l.al_blocks);
                // Flushed one by one: only the newest transaction can be torn.
                self.dev.write(l.al_offset + pos * BLOCK, &t.encode())?;
                self.dev.flush()?;
            }
            self.al.apply(t);
        }
        Ok(())
    }

    /// Attach: decides the starting disk state from the flags, marks out of
    /// sync what a crash or a requested full sync leaves uncertain, and
    /// persists that this node is now running (clears al-clean).
    pub fn attach(&mut self, fencing_dont_care: bool) -> Result<AttachState> {
        let st = AttachState::from_flags(self.sb.flags, fencing_dont_care);
        let al_disabled = self.sb.flags.contains(MdFlags::AL_DISABLED);
        if st.full_sync || (st.replay_al && al_disabled) {
            self.bitmap.set_all();
            self.write_bitmap()?;
        } else if st.replay_al {
            let hot = self.al.hot_extents();
            for e in &hot {
                self.bitmap
                    .set_range(u64::from(*e) * AL_EXTENT_SIZE, AL_EXTENT_SIZE);
            }
            self.write_extents_bitmap(&hot)?;
        }
        self.update_superblock(|sb| {
            sb.flags.remove(MdFlags::FULL_SYNC | MdFlags::AL_CLEAN);
            sb.flags.set(MdFlags::CRASHED_PRIMARY, st.crashed_primary);
        })?;
        Ok(st)
    }

    /// Clean `down`/`detach`: the full bitmap, then a superblock saying the
    /// bitmap is complete and the node no longer Primary.
    pub fn detach_clean(&mut self) -> Result<()> {
        self.write_bitmap()?;
        self.update_superblock(|sb| {
            sb.flags.insert(MdFlags::AL_CLEAN);
            sb.flags.remove(MdFlags::PRIMARY_IND);
        })
    }
}
