//! The same device scenarios as fuse_blockdev.rs over FUSE over io_uring (Linux 6.14+):
//! the test turns the `fuse` module's `enable_uring` parameter on and restores it after
//! (shimai itself never changes it), and checks that the server really set up a ring.

mod fuse_support;

use fuse_support::*;

const PARAM: &str = "/sys/module/fuse/parameters/enable_uring";

/// `enable_uring` set to Y, restored on drop.
struct UringOn {
    old: String,
}

impl UringOn {
    fn new() -> UringOn {
        let old = std::fs::read_to_string(PARAM).expect("read enable_uring");
        std::fs::write(PARAM, "Y").expect("set fuse.enable_uring=Y");
        UringOn {
            old: old.trim().to_string(),
        }
    }
}

impl Drop for UringOn {
    fn drop(&mut self) {
        let _ = std::fs::write(PARAM, &self.old);
    }
}

/// One test (not several) so that the parameter is set once and restored once.
#[test]
fn ext4_fio_fsck_flush_sigkill_and_abort_over_fuse_io_uring() {
    let test = "ext4_fio_fsck_flush_sigkill_and_abort_over_fuse_io_uring";
    if !shimai_tests::have_root(test)
        || !have(
            test,
            &[
                "losetup",
                "mkfs.ext4",
                "e2fsck",
                "mount",
                "umount",
                "fio",
                "sync",
            ],
        )
    {
        return;
    }
    if !std::path::Path::new(PARAM).exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: this kernel has no FUSE over io_uring ({PARAM} is missing; Linux 6.14+ with CONFIG_FUSE_IO_URING), and CI=true forbids skipping");
        }
        eprintln!("\n*** SKIPPED {test}: no {PARAM} (FUSE over io_uring needs Linux 6.14+) ***\n");
        return;
    }
    let _on = UringOn::new();

    let mut rig = Rig::start_uring("fuse-uring-ext4", 128 << 20);
    assert!(
        rig.server_uses_io_uring(),
        "the kernel offers FUSE over io_uring but the server set up no ring"
    );
    ext4_fio_fsck_flush(&mut rig);
    drop(rig);

    let mut rig = Rig::start_uring("fuse-uring-kill", 64 << 20);
    assert!(rig.server_uses_io_uring(), "no ring in the second server");
    sigkill_under_writer(&mut rig);
    drop(rig);

    let mut rig = Rig::start_uring("fuse-uring-abort", 64 << 20);
    assert!(rig.server_uses_io_uring(), "no ring in the third server");
    abort_stopped_server(&mut rig);
}
