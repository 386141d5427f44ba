//! Tests of the storage layer over a simulated disk: what survives torn
//! writes, lost unflushed writes and damage, as the daemon would see it
//! after a restart.

use proptest::prelude::*;
use shimai_replication::{DiskState, GenerationIds};

use crate::al::AL_TR_SIZE;
use crate::layout::{AL_EXTENT_SIZE, BLOCK};
use crate::superblock::{Superblock, SB_SIZE};
use crate::*;

const GIB: u64 = 1 << 30;

fn dev(disk: &MemDisk) -> MetaDevice<MemDisk> {
    MetaDevice::new(disk.clone(), "/dev/test", "r0")
}

/// External metadata for a 1 GiB data device: a 72 KiB image, cheap to copy.
fn external(disk_size: usize) -> (MemDisk, Layout) {
    let layout = Layout::external("/dev/test", disk_size as u64, GIB, 61, None).unwrap();
    (MemDisk::new(disk_size), layout)
}

/// The offset of the superblock copy holding `seq`, and of the other one.
fn copies(disk: &MemDisk, layout: &Layout, seq: u64) -> (usize, usize) {
    let [a, b] = layout.sb_offsets.map(|o| o as usize);
    match Superblock::decode(&disk.bytes(a, SB_SIZE)) {
        Ok(sb) if sb.seq == seq => (a, b),
        _ => (b, a),
    }
}

fn image(disk: &MemDisk) -> MemDisk {
    let n = disk.size().unwrap() as usize;
    MemDisk::from_bytes(disk.bytes(0, n))
}

#[test]
fn create_detect_open() {
    let size = 64 << 20;
    let disk = MemDisk::new(size);
    let layout = Layout::internal("/dev/test", size as u64, 1237).unwrap();
    assert!(matches!(
        detect(&dev(&disk), Placement::Internal),
        Ok(Detected::Absent)
    ));
    let e = open(dev(&disk), Placement::Internal).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no shimai metadata on /dev/test: run `shimaiadm create-md r0` \
         (or check that its meta-disk setting matches how the metadata was created)"
    );

    let md = create(dev(&disk), layout, 77).unwrap();
    let created = md.superblock().clone();
    assert_eq!(created.gi, GenerationIds::just_created());
    assert_eq!(created.data_size, layout.capacity);
    let Ok(Detected::Present(found)) = detect(&dev(&disk), Placement::Internal) else {
        panic!("metadata not detected after create");
    };
    assert_eq!(found, created);

    let mut md = open(dev(&disk), Placement::Internal).unwrap();
    assert_eq!(md.superblock(), &created);
    assert_eq!(md.bitmap().count(), 0);
    assert_eq!(md.bitmap().len(), layout.capacity / 4096);
    assert!(md.activity_log().hot_extents().is_empty());
    let st = md.attach(false).unwrap();
    assert_eq!(st.disk, DiskState::Inconsistent);

    // The same device opened with another meta-disk setting is refused.
    let e = open(dev(&disk), Placement::External).unwrap_err();
    assert!(matches!(e, MetaError::NoMetadata { .. }), "{e}");
}

#[test]
fn create_overwrites_old_metadata_entirely() {
    let (disk, layout) = external(1 << 20);
    let mut md = create(dev(&disk), layout, 1).unwrap();
    for _ in 0..5 {
        md.update_superblock(|sb| sb.gi.current = 0xabc).unwrap();
    }
    md.al_begin_transaction(&[3], &[]).unwrap();
    md.bitmap_mut().set(5);
    md.write_bitmap().unwrap();
    create(dev(&disk), layout, 2).unwrap();
    let md = open(dev(&disk), Placement::External).unwrap();
    assert_eq!(md.superblock().device_uuid, 2);
    assert_eq!(md.superblock().gi, GenerationIds::just_created());
    assert_eq!(md.bitmap().count(), 0);
    assert!(md.activity_log().hot_extents().is_empty());
}

#[test]
fn wrong_placement_is_named() {
    let (disk, layout) = external(1 << 20);
    create(dev(&disk), layout, 1).unwrap();
    let e = open(dev(&disk), Placement::Indexed(0)).unwrap_err();
    assert_eq!(e.exit_code(), 10);
    assert!(
        e.to_string()
            .starts_with("metadata on /dev/test was created for meta-disk external, the configuration says external[0]"),
        "{e}"
    );
}

/// Tears a superblock write after every possible number of bytes, with
/// either slot as the target: the reopened metadata is the previous state
/// or the new one, never anything else, and a later write works.
#[test]
fn torn_superblock_writes_fall_back_to_the_previous_copy() {
    let (base, layout) = external(128 << 10);
    let mut md = create(dev(&base), layout, 9).unwrap();
    md.update_superblock(|sb| sb.gi.current = 0x1000).unwrap();
    for extra in 0..2 {
        if extra == 1 {
            md.update_superblock(|sb| sb.gi.current = 0x2000).unwrap();
        }
        let old = md.superblock().clone();
        let mut new = old.clone();
        new.seq += 1;
        new.gi.new_current(0x3000);
        new.flags.insert(MdFlags::PRIMARY_IND);
        let (_, target) = copies(&base, &layout, old.seq);
        let before = base.bytes(target, SB_SIZE);
        // The write is the whole 4 KiB block; the new copy starts at `rel`.
        let rel = target - layout.sb_offsets[0] as usize;
        for keep in 0..=BLOCK as usize {
            let disk = image(&base);
            let mut md = open(dev(&disk), Placement::External).unwrap();
            disk.tear_next_write(keep);
            let res = md.update_superblock(|sb| {
                sb.gi = new.gi;
                sb.flags = new.flags;
            });
            assert_eq!(res.is_ok(), keep == BLOCK as usize);
            if res.is_err() {
                assert_eq!(md.superblock(), &old, "failed write must not change memory");
            }
            let k = keep.saturating_sub(rel).min(SB_SIZE);
            let torn_is_new = [&new.encode()[..k], &before[k..]].concat() == new.encode();
            let got = open(dev(&disk), Placement::External).unwrap();
            let want = if torn_is_new { &new } else { &old };
            assert_eq!(got.superblock(), want, "tear after {keep} bytes");

            // Power comes back: the next write succeeds and is the newest.
            let mut md = got;
            md.update_superblock(|sb| sb.gi.current = 0x4000).unwrap();
            let again = open(dev(&disk), Placement::External).unwrap();
            assert_eq!(again.superblock().gi.current, 0x4000);
        }
    }
}

#[test]
fn unflushed_superblock_write_is_lost_whole() {
    let (disk, layout) = external(128 << 10);
    let mut md = create(dev(&disk), layout, 9).unwrap();
    let old = md.superblock().clone();
    disk.tear_next_write(100);
    assert!(md.update_superblock(|sb| sb.gi.current = 0x77).is_err());
    disk.crash();
    assert_eq!(
        open(dev(&disk), Placement::External).unwrap().superblock(),
        &old
    );
}

#[test]
fn damaged_copies() {
    let (disk, layout) = external(128 << 10);
    let mut md = create(dev(&disk), layout, 9).unwrap();
    md.update_superblock(|sb| sb.gi.current = 0x10).unwrap();
    let newest = md.superblock().clone();
    let (new_at, old_at) = copies(&disk, &layout, newest.seq);

    // Garbage in the older copy: the newest still opens.
    disk.poke(old_at + 30, &[0xff; 4]);
    assert_eq!(
        open(dev(&disk), Placement::External).unwrap().superblock(),
        &newest
    );
    // Both damaged: a checksum error that names the device and offset.
    disk.poke(new_at + 30, &[0xff; 4]);
    let e = open(dev(&disk), Placement::External).unwrap_err();
    assert!(matches!(e, MetaError::ChecksumMismatch { .. }), "{e}");
    assert!(e.to_string().contains("on /dev/test at byte"), "{e}");
    assert!(matches!(
        detect(&dev(&disk), Placement::External),
        Ok(Detected::Damaged(_))
    ));

    // A copy from a newer format wins over a valid older one: refuse.
    let (disk, layout) = external(128 << 10);
    let md = create(dev(&disk), layout, 9).unwrap();
    let (_, other) = copies(&disk, &layout, md.superblock().seq);
    let mut b = md.superblock().encode();
    b[8] = 3;
    disk.poke(other, &b);
    let e = open(dev(&disk), Placement::External).unwrap_err();
    assert!(
        matches!(e, MetaError::UnsupportedVersion { found: 3, .. }),
        "{e}"
    );
}

/// Forged metadata at the end of its sequence numbers fails cleanly.
#[test]
fn exhausted_sequence_numbers_are_errors() {
    let (disk, layout) = external(1 << 20);
    let md = create(dev(&disk), layout, 9).unwrap();
    let mut sb = md.superblock().clone();
    sb.seq = u64::MAX;
    let (_, other) = copies(&disk, &layout, 1);
    disk.poke(other, &sb.encode());
    let t = AlTransaction {
        seq: u64::MAX,
        al_extents: 61,
        updates: vec![],
        context_start: 0,
        context: vec![],
    };
    let pos = (u64::MAX % u64::from(layout.al_blocks)) as usize;
    disk.poke(layout.al_offset as usize + pos * AL_TR_SIZE, &t.encode());
    let mut md = open(dev(&disk), Placement::External).unwrap();
    assert_eq!(md.superblock().seq, u64::MAX);
    assert!(md.update_superblock(|_| {}).is_err());
    assert!(md.al_begin_transaction(&[1], &[]).is_err());
}

#[test]
fn bitmap_writes_touch_only_dirty_blocks() {
    let (disk, layout) = external(1 << 20);
    let mut md = create(dev(&disk), layout, 1).unwrap();
    md.bitmap_mut().set(3); // block 0
    md.bitmap_mut().set(40_000); // word 625, block 1
    let (writes, _) = disk.counts();
    md.write_bitmap_words(625..626).unwrap();
    assert_eq!(disk.counts().0, writes + 1);
    let back = open(dev(&disk), Placement::External).unwrap();
    assert!(back.bitmap().get(40_000));
    assert!(!back.bitmap().get(3), "block 0 was not written");
    assert_eq!(
        disk.bytes(layout.bm_offset as usize + 4096 + 8 * 113, 8),
        (1u64 << (40_000 % 64)).to_le_bytes()
    );
}

#[test]
fn attach_after_crash_marks_the_activity_log() {
    let (disk, layout) = external(1 << 20);
    let mut md = create(dev(&disk), layout, 1).unwrap();
    md.attach(true).unwrap();
    md.update_superblock(|sb| {
        sb.flags = MdFlags::CONSISTENT | MdFlags::WAS_UP_TO_DATE | MdFlags::PRIMARY_IND
    })
    .unwrap();
    md.al_begin_transaction(&[2, 7, 9], &[]).unwrap();
    md.al_begin_transaction(&[], &[7]).unwrap();
    drop(md); // crash

    let mut md = open(dev(&disk), Placement::External).unwrap();
    let st = md.attach(true).unwrap();
    assert_eq!(st.disk, DiskState::UpToDate);
    assert!(st.replay_al && st.crashed_primary);
    let per_extent = AL_EXTENT_SIZE / 4096;
    assert_eq!(md.bitmap().count(), 2 * per_extent);
    assert!(md.bitmap().get(2 * per_extent) && md.bitmap().get(10 * per_extent - 1));
    assert!(!md.bitmap().get(7 * per_extent));
    assert!(md.flags().contains(MdFlags::CRASHED_PRIMARY));

    // Clean down: nothing to replay next time, bitmap kept.
    md.detach_clean().unwrap();
    let mut md = open(dev(&disk), Placement::External).unwrap();
    assert!(md.flags().contains(MdFlags::AL_CLEAN));
    assert!(!md.flags().contains(MdFlags::PRIMARY_IND));
    let st = md.attach(true).unwrap();
    assert!(!st.replay_al);
    assert_eq!(md.bitmap().count(), 2 * per_extent);
    assert!(!md.flags().contains(MdFlags::AL_CLEAN), "running again");

    // A requested full sync marks everything once.
    md.update_superblock(|sb| sb.flags.insert(MdFlags::FULL_SYNC))
        .unwrap();
    let mut md = open(dev(&disk), Placement::External).unwrap();
    assert!(md.attach(true).unwrap().full_sync);
    assert_eq!(md.bitmap().count(), md.bitmap().len());
    assert!(!md.flags().contains(MdFlags::FULL_SYNC));
}

#[test]
fn evicted_extents_bits_reach_the_disk_first() {
    let (disk, layout) = external(1 << 20);
    let mut md = create(dev(&disk), layout, 1).unwrap();
    md.al_begin_transaction(&[5], &[]).unwrap();
    md.bitmap_mut().set_range(5 * AL_EXTENT_SIZE + 8192, 4096);
    md.al_begin_transaction(&[6], &[5]).unwrap();
    drop(md);
    let md = open(dev(&disk), Placement::External).unwrap();
    assert_eq!(md.activity_log().hot_extents(), vec![6]);
    assert_eq!(md.bitmap().count(), 1);
}

#[test]
fn attach_writes_the_log_extents_in_few_writes() {
    let (disk, layout) = external(1 << 20);
    let mut md = create(dev(&disk), layout, 1).unwrap();
    // 40 adjacent extents (5 bitmap blocks) and one far away.
    let hot: Vec<u32> = (0..40).chain([200]).collect();
    md.al_begin_transaction(&hot, &[]).unwrap();
    drop(md);
    let mut md = open(dev(&disk), Placement::External).unwrap();
    let (w0, f0) = disk.counts();
    md.attach(false).unwrap();
    let (w1, f1) = disk.counts();
    // Two bitmap runs and the superblock; one flush each for bitmap and superblock.
    assert_eq!((w1 - w0, f1 - f0), (3, 2));
    assert_eq!(md.bitmap().count(), 41 * (AL_EXTENT_SIZE / 4096));
    md.check_data_device("/dev/data", GIB).unwrap();
    let e = md.check_data_device("/dev/data", GIB - 4096).unwrap_err();
    assert!(e.to_string().starts_with("/dev/data is too small"), "{e}");
}

#[test]
fn works_on_a_real_file() {
    let f = tempfile::tempfile().unwrap();
    f.set_len(32 << 20).unwrap();
    let layout = Layout::internal("r0.img", 32 << 20, 127).unwrap();
    let mut md = create(MetaDevice::new(&f, "r0.img", "r0"), layout, 5).unwrap();
    md.bitmap_mut().set_range(0, 1 << 20);
    md.write_bitmap().unwrap();
    md.al_begin_transaction(&[1], &[]).unwrap();
    let md = open(MetaDevice::new(&f, "r0.img", "r0"), Placement::Internal).unwrap();
    assert_eq!(md.bitmap().count(), 256);
    assert_eq!(md.activity_log().hot_extents(), vec![1]);
    assert_eq!(md.superblock().device_uuid, 5);
}

fn mutated_image() -> impl Strategy<Value = Vec<u8>> {
    let (disk, layout) = external(80 << 10);
    let mut md = create(dev(&disk), layout, 1).unwrap();
    md.al_begin_transaction(&[1, 2, 3], &[]).unwrap();
    md.bitmap_mut().set_range(0, 1 << 20);
    md.write_bitmap().unwrap();
    md.update_superblock(|sb| sb.gi.current = 0x99).unwrap();
    let img = disk.bytes(0, 80 << 10);
    prop::collection::vec((0..img.len(), any::<u8>()), 0..8).prop_map(move |pokes| {
        let mut img = img.clone();
        for (at, v) in pokes {
            img[at] = v;
        }
        img
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever sequence of activations and evictions, with the last
    /// activity-log write torn or not, reopening gives the log as it was
    /// after the last complete transaction (or the torn one, if its bytes
    /// all landed).
    #[test]
    fn al_survives_restarts(
        steps in prop::collection::vec(
            (prop::collection::vec(0u32..256, 0..70), prop::collection::vec(0u32..256, 0..70)),
            1..12),
        tear in prop::option::of(0usize..AL_TR_SIZE),
    ) {
        let (disk, layout) = external(1 << 20);
        let mut md = create(dev(&disk), layout, 1).unwrap();
        let mut before = Vec::new();
        let mut first_landed = None;
        let n = steps.len();
        for (i, (act, ev)) in steps.into_iter().enumerate() {
            let free = md.activity_log().free_slots() + ev.len();
            let act: Vec<u32> = act.into_iter().take(free).collect();
            before = md.activity_log().hot_extents();
            if i + 1 == n {
                if let Some(keep) = tear {
                    disk.tear_next_write(keep);
                    // A tear that cuts off only bytes the block already
                    // held is a complete write of the first transaction.
                    if let Some(t) = md.activity_log().plan(&act, &ev).ok().and_then(|p| p.first().cloned()) {
                        let mut log = md.activity_log().clone();
                        log.apply(&t);
                        first_landed = Some(log.hot_extents());
                    }
                }
            }
            let _ = md.al_begin_transaction(&act, &ev);
        }
        let after = md.activity_log().hot_extents();
        let back = open(dev(&disk), Placement::External).unwrap();
        let got = back.activity_log().hot_extents();
        prop_assert!(got == after || (tear.is_some() && (got == before || Some(&got) == first_landed.as_ref())),
                     "got {:?}, before {:?}, after {:?}", got, before, after);
        if tear.is_none() {
            prop_assert_eq!(got, after);
        }
    }

    /// Persisted = reloaded: any bitmap written is read back equal.
    #[test]
    fn bitmap_round_trips(bits in prop::collection::vec(0u64..(GIB / 4096), 0..200),
                          clear in prop::collection::vec(0u64..(GIB / 4096), 0..50)) {
        let (disk, layout) = external(1 << 20);
        let mut md = create(dev(&disk), layout, 1).unwrap();
        for b in &bits {
            md.bitmap_mut().set(*b);
        }
        for b in &clear {
            md.bitmap_mut().clear(*b);
        }
        md.write_bitmap().unwrap();
        let back = open(dev(&disk), Placement::External).unwrap();
        prop_assert_eq!(back.bitmap(), md.bitmap());
        let expect = bits.iter().filter(|b| !clear.contains(b)).collect::<std::collections::BTreeSet<_>>();
        prop_assert_eq!(back.bitmap().count(), expect.len() as u64);
    }

    /// The bitmap laws across a restart: what is persisted is reloaded;
    /// merging the peer's bitmap gives the union; a resync that clears
    /// every set bit leaves a count of 0, which is persisted too.
    #[test]
    fn bitmap_laws(mine in prop::collection::btree_set(0u64..(GIB / 4096), 0..100),
                   peer in prop::collection::btree_set(0u64..(GIB / 4096), 0..100)) {
        let (disk, layout) = external(1 << 20);
        let mut md = create(dev(&disk), layout, 1).unwrap();
        for b in &mine {
            prop_assert!(md.bitmap_mut().set(*b));
        }
        md.write_bitmap().unwrap();
        let mut back = open(dev(&disk), Placement::External).unwrap();
        prop_assert_eq!(back.bitmap().count(), mine.len() as u64);
        let mut theirs = shimai_replication::Bitmap::new(GIB);
        for b in &peer {
            theirs.set(*b);
        }
        back.bitmap_mut().merge(&theirs);
        let union: std::collections::BTreeSet<u64> = mine.union(&peer).copied().collect();
        prop_assert_eq!(back.bitmap().count(), union.len() as u64);
        for b in &union {
            prop_assert!(back.bitmap().get(*b));
        }
        // Resync: clear each out-of-sync block as it is copied.
        let mut at = 0;
        while let Some(b) = back.bitmap().next_set(at) {
            back.bitmap_mut().clear(b);
            at = b + 1;
        }
        prop_assert_eq!(back.bitmap().count(), 0);
        back.write_bitmap().unwrap();
        let again = open(dev(&disk), Placement::External).unwrap();
        prop_assert_eq!(again.bitmap().count(), 0);
    }

    #[test]
    fn fuzz_decode_never_panics(data in prop::collection::vec(any::<u8>(), 0..(3 * BLOCK as usize))) {
        fuzz_decode(&data);
    }

    #[test]
    fn fuzz_decode_survives_damaged_images(img in mutated_image()) {
        fuzz_decode(&img);
        // A damaged image either opens to something valid or says why.
        match open(MetaDevice::new(MemDisk::from_bytes(img), "img", "r0"), Placement::External) {
            Ok(md) => prop_assert!(Superblock::decode(&md.superblock().encode()).is_ok()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
