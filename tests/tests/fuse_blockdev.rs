//! shimai's own FUSE server (crates/fuse) as the block device's backing file: a loop
//! device with direct I/O over the one file it serves, ext4 on that, real fio verify
//! and fsck; an fsync reaching the backend as a flush; and the server's death (SIGKILL,
//! or stopped and aborted through fusectl) failing I/O instead of hanging the host.
//! These run the classic `/dev/fuse` path; fuse_uring.rs runs the io_uring one.

mod fuse_support;

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
    assert!(
        !rig.server_uses_io_uring(),
        "--no-uring still set up an io_uring"
    );
    ext4_fio_fsck_flush(&mut rig);
}

#[test]
fn sigkill_of_the_server_under_a_writer_fails_io_without_hanging_the_host() {
    let test = "sigkill_of_the_server_under_a_writer_fails_io_without_hanging_the_host";
    if !ready(test) {
        return;
    }
    let mut rig = Rig::start("fuse-kill", 64 << 20);
    sigkill_under_writer(&mut rig);
}

#[test]
fn abort_cuts_off_a_stopped_server_so_io_fails_instead_of_hanging() {
    let test = "abort_cuts_off_a_stopped_server_so_io_fails_instead_of_hanging";
    if !ready(test) {
        return;
    }
    let mut rig = Rig::start("fuse-abort", 64 << 20);
    abort_stopped_server(&mut rig);
}
