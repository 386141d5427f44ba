//! shimai's own FUSE server (crates/fuse) as the block device's backing file: a loop
//! device with direct I/O over the one file it serves, ext4 on that, real fio verify
//! and fsck; an fsync reaching the backend as a flush; and the server's death (SIGKILL,
//! or stopped and aborted through fusectl) failing I/O instead of hanging the host.

mod fuse_support;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fuse_support::*;

const TOOLS: &[&str] = &[
    "losetup",
    "mkfs.ext4",
    "e2fsck",
    "mount",
    "umount",
    "fio",
    "sync",
];

fn ready(test: &str) -> bool {
    shimai_tests::have_root(test) && have(test, TOOLS)
}

#[test]
fn ext4_on_the_fuse_file_passes_fio_verify_and_fsck_and_fsync_reaches_the_backend() {
    let test = "ext4_on_the_fuse_file_passes_fio_verify_and_fsck_and_fsync_reaches_the_backend";
    if !ready(test) {
        return;
    }
    let mut rig = Rig::start("fuse-ext4", 128 << 20);
    let name = rig.dev().trim_start_matches("/dev/").to_string();
    let dio = std::fs::read_to_string(format!("/sys/block/{name}/loop/dio")).unwrap_or_default();
    assert_eq!(dio.trim(), "1", "{} must use direct I/O", rig.dev());
    rig.mkfs_and_mount();

    // Direct random writes at depth 16 and buffered 1 MiB sequential writes, each
    // read back and checked (crc32c).
    let started = Instant::now();
    run(Command::new("fio").arg("--directory").arg(&rig.fs).args([
        "--verify=crc32c",
        "--do_verify=1",
        "--verify_fatal=1",
        "--output-format=terse",
        "--name=rand",
        "--size=32M",
        "--bs=64k",
        "--rw=randwrite",
        "--ioengine=libaio",
        "--iodepth=16",
        "--direct=1",
        "--name=seq",
        "--stonewall",
        "--size=24M",
        "--bs=1M",
        "--rw=write",
        "--ioengine=psync",
        "--direct=0",
        "--end_fsync=1",
    ]));
    eprintln!(
        "fio verify: {:?}, most requests in flight at the backend: {}",
        started.elapsed(),
        rig.stat("inflight_max")
    );
    assert!(
        rig.stat("inflight_max") >= 2,
        "the backend never held two requests at once (inflight_max {}): no parallel I/O",
        rig.stat("inflight_max")
    );

    // An fsync on the file system reaches the backing file as a flush.
    let before = rig.stat("flushes");
    run(Command::new("dd")
        .arg("if=/dev/urandom")
        .arg(format!("of={}", rig.fs.join("record").display()))
        .args(["bs=4k", "count=1", "conv=fsync", "status=none"]));
    let after = rig.stat("flushes");
    assert!(
        after > before,
        "fsync did not reach the backend: flushes {before} -> {after}"
    );
    eprintln!("flushes before fsync {before}, after {after}");

    rig.umount_fs();
    run(Command::new("e2fsck").args(["-fn", rig.dev()]));
    let dev = rig.loop_dev.take().unwrap();
    run(Command::new("losetup").args(["-d", &dev]));
    rig.kill_server();
    // Everything reached the backing file itself: it is a clean ext4 without FUSE.
    run(Command::new("e2fsck").arg("-fn").arg(&rig.backing));
}

/// Starts a writer that keeps writing and fsyncing on the file system until killed,
/// and waits until its flushes reach the backend.
fn start_writer(rig: &mut Rig) {
    let writer = Command::new("fio")
        .arg("--directory")
        .arg(&rig.fs)
        .args([
            "--name=w",
            "--size=16M",
            "--bs=4k",
            "--rw=randwrite",
            "--time_based",
            "--runtime=60",
            "--fsync=8",
            "--output=/dev/null",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fio writer");
    rig.writer = Some(writer);
    let first = rig.stat("flushes");
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.stat("flushes") < first + 3 {
        assert!(
            Instant::now() < deadline,
            "the writer's fsyncs never reached the backend"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// After the server is gone or cut off: nothing stuck in D state, `sync` within 5 s,
/// the file gives errors instead of waiting, and the connection can still be aborted.
fn assert_host_not_hung(rig: &Rig, before: &HashSet<u32>) {
    let stuck = stuck_tasks(Duration::from_secs(3), before);
    assert!(stuck.is_empty(), "tasks left in D state: {stuck:?}");
    let took = timed_sync(Duration::from_secs(5));
    eprintln!("sync after the server's end: {took:?}");
    let read = std::fs::File::open(rig.mnt.join("data"));
    assert!(read.is_err(), "the file of a dead server still opens");
    // The kernel already aborted the connection; aborting again finds it and succeeds.
    let n = run(Command::new(server_binary()).arg("abort").arg(&rig.mnt));
    assert!(
        n.parse::<u32>().is_ok(),
        "abort printed {n:?}, not a connection number"
    );
}

fn d_before() -> HashSet<u32> {
    d_state_tasks().into_iter().map(|(p, _)| p).collect()
}

#[test]
fn sigkill_of_the_server_under_a_writer_fails_io_without_hanging_the_host() {
    let test = "sigkill_of_the_server_under_a_writer_fails_io_without_hanging_the_host";
    if !ready(test) {
        return;
    }
    let before = d_before();
    let mut rig = Rig::start("fuse-kill", 64 << 20);
    rig.mkfs_and_mount();
    start_writer(&mut rig);
    let pid = rig.server_pid();
    run(Command::new("kill").args(["-KILL", &pid.to_string()]));
    rig.kill_server(); // reaps it
    assert_host_not_hung(&rig, &before);

    // What the next start does with the leftovers: file system, loop device, then the
    // dead server's FUSE mount (aborted and detached), each within a few seconds.
    let started = Instant::now();
    run(Command::new("umount").arg("-l").arg(&rig.fs));
    rig.fs_mounted = false;
    let dev = rig.loop_dev.take().unwrap();
    run(Command::new("losetup").args(["-d", &dev]));
    run(Command::new(server_binary()).arg("detach").arg(&rig.mnt));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let mnt = rig.mnt.to_string_lossy().into_owned();
    assert!(
        !mounts
            .lines()
            .any(|l| l.split(' ').nth(1) == Some(mnt.as_str())),
        "{mnt} is still mounted after detach"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cleanup took {:?}",
        started.elapsed()
    );
}

#[test]
fn abort_cuts_off_a_stopped_server_so_io_fails_instead_of_hanging() {
    let test = "abort_cuts_off_a_stopped_server_so_io_fails_instead_of_hanging";
    if !ready(test) {
        return;
    }
    let before = d_before();
    let mut rig = Rig::start("fuse-abort", 64 << 20);
    rig.mkfs_and_mount();
    start_writer(&mut rig);
    let pid = rig.server_pid().to_string();
    // A stuck server: alive, holding /dev/fuse, answering nothing.
    run(Command::new("kill").args(["-STOP", &pid]));
    std::thread::sleep(Duration::from_millis(500));
    let n = run(Command::new(server_binary()).arg("abort").arg(&rig.mnt));
    eprintln!("aborted FUSE connection {n}");
    let stuck = stuck_tasks(Duration::from_secs(3), &before);
    assert!(
        stuck.is_empty(),
        "tasks left in D state after abort: {stuck:?}"
    );
    let took = timed_sync(Duration::from_secs(5));
    eprintln!("sync after abort: {took:?}");
    assert!(
        std::fs::File::open(rig.mnt.join("data")).is_err(),
        "the file of an aborted connection still opens"
    );
    rig.kill_server(); // SIGKILL works on a stopped process
}
