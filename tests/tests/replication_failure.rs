//! What goes wrong in the field, with real shimaid processes: a Primary killed with SIGKILL
//! (the survivor takes over with the data; a killed writer loses no acknowledged write), a
//! disconnected period (resync moves only what changed), and a split brain (detected, nothing
//! overwritten, resolved with `connect --discard-my-data`).

mod replication_support;

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use replication_support::*;

#[test]
fn survivor_of_a_killed_primary_takes_over_with_the_data() {
    let test = "survivor_of_a_killed_primary_takes_over_with_the_data";
    if !have(
        test,
        &["nbdfuse", "losetup", "mkfs.ext4", "mount", "umount"],
    ) {
        return;
    }
    let mut p = Pair::new("repl-kill", 64, "  options { attach fuse; }");
    p.up_skip_sync();
    p.ok(0, r#"{"cmd":"primary"}"#);
    shimai_tests::sh(&format!("mkfs.ext4 -F -q {}", p.device(0).display()));
    let m = p.mount(0);
    let payload = pattern(3 << 20, 42);
    std::fs::write(m.join("backup.tar"), &payload).unwrap();
    shimai_tests::sh(&format!("sync -f {}", m.join("backup.tar").display()));

    p.kill9(0);
    // As the operator sees it: WFConnection, Secondary/Unknown.
    p.wait(1, "connection", "WFConnection", 10);
    assert_eq!(p.field(1, "role"), "Secondary");
    assert_eq!(p.field(1, "peer_role"), "Unknown");
    assert_eq!(p.field(1, "disk"), "UpToDate");

    p.ok(1, r#"{"cmd":"primary"}"#);
    let m1 = p.mount(1);
    assert!(
        std::fs::read(m1.join("backup.tar")).unwrap() == payload,
        "the survivor has the data"
    );
    std::fs::write(m1.join("after-failover"), b"new data on beta").unwrap();
    p.umount(&m1);

    // The old Primary comes back (its dead device is still mounted: shimaid says so and
    // carries on) and resyncs from the new one.
    p.up(0);
    p.wait(0, "connection", "Connected", 20);
    p.wait(0, "disk", "UpToDate", 20);
    assert_eq!(p.field(0, "peer_role"), "Primary");
    assert!(
        p.log(0).contains("still in use"),
        "the stale device is reported:\n{}",
        p.log(0)
    );
    p.ok(1, r#"{"cmd":"secondary"}"#);
    assert!(
        p.data(0) == p.data(1),
        "the returning node has the survivor's data"
    );
}

#[test]
fn resync_after_disconnect_moves_only_what_changed() {
    let test = "resync_after_disconnect_moves_only_what_changed";
    if !have(test, &["nbdcopy"]) {
        return;
    }
    let mut p = Pair::new("repl-resync", 64, "  options { attach none; }");
    p.up_skip_sync();
    p.ok(0, r#"{"cmd":"primary"}"#);
    p.ok(0, r#"{"cmd":"disconnect"}"#);
    assert_eq!(p.field(0, "connection"), "StandAlone");
    // The peer keeps trying (connect-int 1) but a StandAlone node does not answer: no
    // connection flaps up and down meanwhile.
    p.wait(1, "connection", "WFConnection", 5);
    let established = |p: &Pair| p.log(1).matches("established").count();
    let before = established(&p);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(established(&p), before, "log:\n{}", p.log(1));
    assert_eq!(p.field(1, "connection"), "WFConnection");
    p.ok(1, r#"{"cmd":"disconnect"}"#);

    // About 1% of the volume changes while the peer is away.
    let changed = (p.size_kib * 1024 / 100) as usize & !4095;
    nbd_write(&p, 0, 0, &pattern(changed, 9));
    let oos = p.counter(0, "oos");
    assert!(
        oos >= changed as u64 / 1024 && oos <= changed as u64 / 1024 + 4,
        "oos {oos} KiB for {changed} bytes written"
    );
    let ns_before = p.counter(0, "ns");
    let nr_before = p.counter(1, "nr");

    p.ok(0, r#"{"cmd":"connect"}"#);
    p.ok(1, r#"{"cmd":"connect"}"#);
    p.wait(1, "disk", "UpToDate", 20);
    p.wait(0, "connection", "Connected", 10);
    let sent = p.counter(0, "ns") - ns_before;
    let received = p.counter(1, "nr") - nr_before;
    let kib = changed as u64 / 1024;
    eprintln!("changed {kib} KiB; resync sent {sent} KiB, received {received} KiB");
    assert!(
        sent >= kib && sent <= kib * 2,
        "sent {sent} KiB for {kib} KiB changed"
    );
    assert!(
        received >= kib && received <= kib * 2,
        "received {received} KiB"
    );
    assert_eq!(p.counter(0, "oos"), 0);
    assert!(p.data(0) == p.data(1), "data areas identical after resync");
}

/// A block's content: its sequence number, then bytes derived from it.
fn block(seq: u64) -> Vec<u8> {
    let mut b = pattern(4096, seq as u32);
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b
}

#[test]
fn killed_primary_loses_no_acknowledged_write() {
    let test = "killed_primary_loses_no_acknowledged_write";
    if !have(test, &["nbdfuse", "losetup"]) {
        return;
    }
    let mut p = Pair::new("repl-crash", 64, "  options { attach fuse; }");
    p.up_skip_sync();
    p.ok(0, r#"{"cmd":"primary"}"#);

    // Writes with O_DIRECT and a flush after each, so "acknowledged" is exact: a write whose
    // fdatasync returned is one the application was promised.
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_DIRECT.bits())
        .open(p.device(0))
        .unwrap();
    const BLOCKS: u64 = 512;
    const STRIDE: u64 = 96 << 10; // spreads over many activity-log extents
    let mut acked = vec![0u64; BLOCKS as usize];
    let mut raw = vec![0u8; 8192];
    let shift = raw.as_ptr().align_offset(4096);
    let pid: i32 = std::fs::read_to_string(p.run_dir(0).join("r0.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let killed = Arc::new(AtomicBool::new(false));
    let killed2 = killed.clone();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        killed2.store(true, Ordering::SeqCst);
    });
    // Write until the device fails under the dead daemon.
    let mut seq = 0u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        seq += 1;
        let k = seq % BLOCKS;
        raw[shift..shift + 4096].copy_from_slice(&block(seq));
        let ok = dev
            .write_all_at(&raw[shift..shift + 4096], k * STRIDE)
            .is_ok()
            && dev.sync_data().is_ok();
        if !ok {
            break;
        }
        acked[k as usize] = seq;
    }
    killer.join().unwrap();
    assert!(killed.load(Ordering::SeqCst));
    p.kill9(0);
    drop(dev);
    assert!(seq > 50, "only {seq} writes before the kill");

    p.up(0);
    p.wait(0, "connection", "Connected", 20);
    p.wait(0, "disk", "UpToDate", 20);
    p.wait(1, "disk", "UpToDate", 20);
    p.wait(0, "peer_disk", "UpToDate", 20);
    let (a, b) = (p.data(0), p.data(1));
    assert!(a == b, "replicas converge");
    for (k, &s) in acked.iter().enumerate() {
        if s == 0 {
            continue;
        }
        let at = k * STRIDE as usize;
        let found = u64::from_le_bytes(a[at..at + 8].try_into().unwrap());
        assert!(
            found >= s,
            "block {k}: acknowledged write {s} lost (found {found})"
        );
        assert!(a[at..at + 4096] == block(found)[..], "block {k} is torn");
    }
    eprintln!("{seq} flushed writes before SIGKILL; all acknowledged ones survived");
}

#[test]
fn split_brain_is_detected_and_resolved_by_discarding_one_side() {
    let test = "split_brain_is_detected_and_resolved_by_discarding_one_side";
    if !have(test, &["nbdcopy"]) {
        return;
    }
    let mut p = Pair::new("repl-sb", 32, "  options { attach none; }");
    p.up_skip_sync();
    p.ok(0, r#"{"cmd":"disconnect"}"#);
    p.ok(1, r#"{"cmd":"disconnect"}"#);
    for i in 0..2 {
        p.ok(i, r#"{"cmd":"primary"}"#);
        nbd_write(&p, i, 0, &pattern(1 << 20, 100 + i as u32));
        p.ok(i, r#"{"cmd":"secondary"}"#);
    }
    let (a, b) = (p.data(0), p.data(1));
    p.ok(0, r#"{"cmd":"connect"}"#);
    p.ok(1, r#"{"cmd":"connect"}"#);
    p.wait(0, "connection", "StandAlone", 15);
    p.wait(1, "connection", "StandAlone", 15);
    for (i, name) in NAMES.iter().enumerate() {
        let log = p.log(i).to_lowercase();
        assert!(
            log.contains("split-brain") || log.contains("split brain"),
            "log of {name} says split brain:\n{log}"
        );
        let st = p.status(i);
        assert!(st.contains("StandAlone"), "status of {name}: {st}");
        assert!(
            st.contains("\"split_brain\":true"),
            "status of {name}: {st}"
        );
    }
    assert!(p.data(0) == a && p.data(1) == b, "nothing overwritten");

    // The operator keeps alpha's data.
    p.ok(1, r#"{"cmd":"connect","discard_my_data":true}"#);
    p.ok(0, r#"{"cmd":"connect"}"#);
    p.wait(1, "disk", "UpToDate", 20);
    p.wait(0, "connection", "Connected", 10);
    assert!(!p.status(0).contains("split_brain"), "{}", p.status(0));
    assert!(p.data(1) == a, "beta now holds alpha's data");
    assert!(p.data(0) == a, "alpha kept its data");
}
