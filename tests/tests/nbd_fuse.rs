//! The attach path shimai uses where the kernel has no nbd driver:
//! `nbdfuse` turns the export into a file, a loop device turns that into a
//! block device, and ext4 on it must pass `e2fsck -fn` after real use.

mod nbd_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nbd_support::*;

/// `nbdfuse` serving the export as a file, killed by PID on drop (the
/// server's TempDir then unmounts what is left).
struct Fuse {
    child: Child,
}

impl Drop for Fuse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loop device, detached on drop (after anything mounted from it).
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

#[test]
fn ext4_on_nbdfuse_and_loop_passes_fsck() {
    let test = "ext4_on_nbdfuse_and_loop_passes_fsck";
    if !shimai_tests::have_root(test)
        || !have(
            test,
            &[
                "nbdfuse",
                "losetup",
                "mkfs.ext4",
                "e2fsck",
                "mount",
                "umount",
            ],
        )
    {
        return;
    }
    let mut srv = Server::start("r0", 64 << 20, &[]);
    let mnt = srv.dir.join("fuse");
    let data_dir = srv.dir.join("data");
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::create_dir_all(&data_dir).unwrap();
    let dev_file = mnt.join("disk");

    let fuse = Fuse {
        child: Command::new("nbdfuse")
            .arg(&dev_file)
            .arg(srv.uri())
            .stdin(Stdio::null())
            .spawn()
            .expect("start nbdfuse"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&dev_file).map(|m| m.len()).unwrap_or(0) != 64 << 20 {
        assert!(
            Instant::now() < deadline,
            "nbdfuse did not expose {}",
            dev_file.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let dev = shimai_tests::sh(&format!("losetup -f --show {}", dev_file.display()))
        .trim()
        .to_string();
    let lo = Loop(dev.clone());
    shimai_tests::sh(&format!("mkfs.ext4 -F -q {dev}"));
    shimai_tests::sh(&format!("mount {dev} {}", data_dir.display()));
    let payload: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(data_dir.join("file"), &payload).unwrap();
    shimai_tests::sh(&format!("umount {}", data_dir.display()));
    let (ok, out, err) = run("e2fsck", &["-fn", &dev]);
    assert!(
        ok,
        "e2fsck -fn {dev} found problems:\n{out}{err}\nserver log:\n{}",
        srv.log()
    );

    // Mounted again, the file reads back as written.
    shimai_tests::sh(&format!("mount -o ro {dev} {}", data_dir.display()));
    let back = std::fs::read(data_dir.join("file")).unwrap();
    shimai_tests::sh(&format!("umount {}", data_dir.display()));
    assert!(
        back == payload,
        "file read back through ext4/loop/FUSE/NBD differs"
    );

    drop(lo);
    drop(fuse);
    srv.assert_alive();
}
