//! Differential suite: every scenario runs against resource-agents 4.12
//! `ocf:heartbeat:Filesystem` and against ours, each on its own fresh loop
//! device and directories, and the exit code of every step and the
//! resulting mount table entries (source, root, mount point, type,
//! options) must be the same. Where the reference is known to be wrong,
//! `filesystem_agent.rs` asserts our behaviour instead.

mod filesystem_support;

use filesystem_support::{differential, Holder, Run, World};

fn ext4() -> World {
    World::new(Some("ext4"))
}
fn ext2() -> World {
    World::new(Some("ext2"))
}
fn xfs() -> World {
    World::new(Some("xfs"))
}
fn no_device() -> World {
    World::new(None)
}

macro_rules! scenario {
    ($name:ident, $world:expr, $body:expr) => {
        #[test]
        fn $name() {
            if !filesystem_support::prerequisites(stringify!($name)) {
                return;
            }
            differential(stringify!($name), $world, $body);
        }
    };
}

scenario!(start_monitor_stop, ext4, |r: &mut Run| {
    r.standard("ext4");
    r.act("monitor");
    r.act("start");
    r.state();
    r.act("monitor");
    r.act("status");
    r.act("stop");
    r.state();
    r.act("monitor");
    r.act("status");
});

scenario!(double_start, ext4, |r: &mut Run| {
    r.standard("ext4");
    r.act("start");
    r.act("start");
    r.state();
    r.act("stop");
});

scenario!(double_stop, ext4, |r: &mut Run| {
    r.standard("ext4");
    r.act("start");
    r.act("stop");
    r.act("stop");
    r.state();
});

scenario!(probe_stopped_and_running, ext4, |r: &mut Run| {
    r.standard("ext4");
    r.probe();
    r.act("start");
    r.probe();
    r.act("stop");
    r.probe();
});

scenario!(monitor_depth_10, ext4, |r: &mut Run| {
    r.standard("ext4");
    r.monitor("10");
    r.act("start");
    r.monitor("10");
    r.act("stop");
});

scenario!(monitor_depth_20, ext4, |r: &mut Run| {
    r.standard("ext4");
    r.monitor("20");
    r.act("start");
    r.monitor("20");
    r.monitor("20");
    r.call("stop", &[("OCF_CHECK_LEVEL", "20")]);
    r.state();
});

scenario!(options_noatime, ext4, |r: &mut Run| {
    r.standard("ext4").param("options", "noatime,nodiratime");
    r.act("start");
    r.state();
    r.act("monitor");
    r.act("stop");
});

scenario!(xfs_cycle, xfs, |r: &mut Run| {
    r.standard("xfs");
    r.act("start");
    r.state();
    r.monitor("20");
    r.act("stop");
    r.state();
});

scenario!(bind_mount, no_device, |r: &mut Run| {
    let src = r.w.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let mnt = r.w.mnt().to_string_lossy().into_owned();
    r.param("device", &src)
        .param("directory", &mnt)
        .param("fstype", "none")
        .param("options", "bind");
    r.act("start");
    r.state();
    r.monitor("10");
    r.monitor("20");
    r.act("stop");
    r.state();
});

scenario!(fstype_empty, ext4, |r: &mut Run| {
    r.standard("");
    r.act("start");
    r.state();
    r.monitor("10");
    r.act("stop");
});

scenario!(uuid_short_option, ext4, |r: &mut Run| {
    let uuid = r.w.uuid();
    r.standard("ext4").param("device", &format!("-U {uuid}"));
    r.act("start");
    r.state();
    r.monitor("10");
    r.act("stop");
    r.state();
});

scenario!(label_short_option, ext4, |r: &mut Run| {
    let label = r.w.label.clone();
    r.standard("ext4").param("device", &format!("-L {label}"));
    r.act("start");
    r.state();
    r.act("stop");
});

scenario!(uuid_long_option, xfs, |r: &mut Run| {
    let uuid = r.w.uuid();
    r.standard("xfs").param("device", &format!("--uuid={uuid}"));
    r.act("start");
    r.state();
    r.act("stop");
});

scenario!(label_long_option, ext4, |r: &mut Run| {
    let label = r.w.label.clone();
    r.standard("ext4")
        .param("device", &format!("--label={label}"));
    r.act("start");
    r.state();
    r.act("monitor");
    r.act("stop");
});

scenario!(stop_unmounts_submounts, ext4, |r: &mut Run| {
    r.standard("ext4");
    r.act("start");
    let mnt = r.w.mnt();
    r.sh(&format!(
        "mkdir -p {m}/a/b {m}/z && mount -t tmpfs t1 {m}/a && mkdir -p {m}/a/b && \
         mount -t tmpfs t2 {m}/a/b && mount -t tmpfs t3 {m}/z",
        m = mnt.display()
    ));
    r.state();
    r.act("monitor");
    r.act("stop");
    r.state();
});

scenario!(start_refused_with_mount_below, ext4, |r: &mut Run| {
    r.standard("ext4");
    let mnt = r.w.mnt();
    r.sh(&format!(
        "mkdir -p {m}/sub && mount -t tmpfs below {m}/sub",
        m = mnt.display()
    ));
    r.act("start");
    r.state();
});

scenario!(
    stop_unmounts_other_mounts_of_the_device,
    ext4,
    |r: &mut Run| {
        r.standard("ext4");
        r.act("start");
        let other = r.w.path("other");
        r.sh(&format!(
            "mkdir -p {other} && mount --bind {} {other}",
            r.w.mnt().display()
        ));
        r.state();
        r.act("stop");
        r.state();
    }
);

scenario!(clone_with_force_clones, ext4, |r: &mut Run| {
    r.standard("ext4")
        .param("force_clones", "true")
        .env("OCF_RESKEY_CRM_meta_clone_max", "2")
        .env("OCF_RESKEY_CRM_meta_clone", "1");
    r.act("start");
    r.state();
    r.monitor("20");
    r.act("stop");
});

scenario!(clone_of_local_fs_refused, ext4, |r: &mut Run| {
    r.standard("ext4")
        .env("OCF_RESKEY_CRM_meta_clone_max", "2")
        .env("OCF_RESKEY_CRM_meta_clone", "0");
    r.act("start");
    r.state();
    r.act("monitor");
    r.act("stop");
});

scenario!(
    clone_of_journalled_fs_refused_even_read_only,
    xfs,
    |r: &mut Run| {
        r.standard("xfs")
            .param("options", "ro")
            .env("OCF_RESKEY_CRM_meta_clone_max", "2");
        r.act("start");
        r.state();
    }
);

scenario!(missing_device, no_device, |r: &mut Run| {
    let mnt = r.w.mnt().to_string_lossy().into_owned();
    r.param("device", "/dev/shimai-no-such-device")
        .param("directory", &mnt)
        .param("fstype", "ext4");
    r.probe();
    r.act("monitor");
    r.act("start");
    r.act("stop");
    r.state();
});

scenario!(unset_device, no_device, |r: &mut Run| {
    let mnt = r.w.mnt().to_string_lossy().into_owned();
    r.param("directory", &mnt).param("fstype", "ext4");
    r.act("start");
    r.probe();
    r.act("stop");
    r.act("validate-all");
});

scenario!(unset_directory, ext4, |r: &mut Run| {
    let dev = r.w.dev().to_string();
    r.param("device", &dev).param("fstype", "ext4");
    r.act("start");
    r.probe();
    r.act("monitor");
    r.act("stop");
    r.state();
});

scenario!(missing_directory_is_created, ext4, |r: &mut Run| {
    let dir = r.w.path("new/deeper/mnt");
    let dev = r.w.dev().to_string();
    r.param("device", &dev)
        .param("directory", &dir)
        .param("fstype", "ext4");
    r.act("monitor");
    r.act("start");
    r.state();
    r.act("stop");
    let exists = std::path::Path::new(&dir).is_dir();
    r.note(format!("mount point exists after stop: {exists}"));
});

fn busy(r: &mut Run, mode: &str, expect_killed: bool) {
    r.standard("ext4").param("force_unmount", mode);
    r.act("start");
    let mnt = r.w.mnt();
    r.w.holders.push(Holder::new(&mnt));
    // Give the holder a moment to exist with its cwd in place.
    std::thread::sleep(std::time::Duration::from_millis(100));
    r.act("stop");
    let alive = r.w.holders[0].alive();
    r.note(format!("holder alive after stop: {alive}"));
    assert_eq!(
        alive, !expect_killed,
        "holder alive={alive} with force_unmount={mode}"
    );
    r.state();
}

scenario!(busy_force_unmount_true, ext4, |r: &mut Run| busy(
    r, "true", true
));

scenario!(busy_force_unmount_safe, ext4, |r: &mut Run| busy(
    r, "safe", true
));

scenario!(busy_force_unmount_true_fast_stop, ext4, |r: &mut Run| {
    r.param("fast_stop", "yes");
    busy(r, "true", true)
});

scenario!(busy_force_unmount_false_fails, ext4, |r: &mut Run| {
    r.param("fast_stop", "yes")
        .env("OCF_RESKEY_CRM_meta_timeout", "6000");
    busy(r, "false", false);
    r.w.holders.clear();
    r.act("stop");
    r.state();
});

scenario!(already_mounted_by_hand, ext4, |r: &mut Run| {
    r.standard("ext4");
    let mnt = r.w.mnt();
    r.sh(&format!(
        "mkdir -p {m} && mount {} {m}",
        r.w.dev(),
        m = mnt.display()
    ));
    r.act("start");
    r.act("monitor");
    r.state();
    r.act("stop");
    r.state();
});

scenario!(unknown_action, ext4, |r: &mut Run| {
    r.standard("ext4");
    r.act("no_such_action");
});

scenario!(detached_loop_device, ext4, |r: &mut Run| {
    r.standard("ext4");
    r.sh(&format!("losetup -d {}", r.w.dev()));
    r.act("start");
    r.state();
    r.act("stop");
});

scenario!(read_only_remount_fails_depth_20, ext4, |r: &mut Run| {
    r.standard("ext4");
    r.act("start");
    r.monitor("20");
    r.sh(&format!("mount -o remount,ro {}", r.w.mnt().display()));
    r.monitor("20");
    r.monitor("10");
    r.act("stop");
    r.state();
});

scenario!(tmpfs_is_not_a_block_device, no_device, |r: &mut Run| {
    let mnt = r.w.mnt().to_string_lossy().into_owned();
    r.param("device", "shimaitmp")
        .param("directory", &mnt)
        .param("fstype", "tmpfs")
        .param("options", "size=4m");
    r.act("start");
    r.state();
    r.monitor("10");
    r.monitor("20");
    r.act("stop");
    r.state();
});

scenario!(mount_point_with_a_space, ext4, |r: &mut Run| {
    let dir = r.w.path("my mnt");
    let dev = r.w.dev().to_string();
    r.param("device", &dev)
        .param("directory", &dir)
        .param("fstype", "ext4");
    r.act("start");
    r.state();
    r.act("monitor");
    r.act("stop");
    r.state();
    r.act("monitor");
});

scenario!(symlinked_mount_point, ext4, |r: &mut Run| {
    let real = r.w.path("real");
    let link = r.w.path("link");
    std::fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let dev = r.w.dev().to_string();
    r.param("device", &dev)
        .param("directory", &link)
        .param("fstype", "ext4");
    r.act("start");
    r.state();
    r.act("monitor");
    r.act("stop");
    r.act("monitor");
});

scenario!(trailing_slashes, ext4, |r: &mut Run| {
    let dir = format!("{}//", r.w.mnt().display());
    r.standard("ext4").param("directory", &dir);
    r.act("start");
    r.act("monitor");
    r.state();
    r.act("stop");
    r.act("monitor");
});

scenario!(
    validate_all_accepts_a_good_configuration,
    ext4,
    |r: &mut Run| {
        r.standard("ext4");
        r.act("validate-all");
        r.state();
    }
);

scenario!(run_fsck_force, ext4, |r: &mut Run| {
    r.standard("ext4").param("run_fsck", "force");
    r.act("start");
    r.state();
    r.act("stop");
});

scenario!(ext2_is_checked_before_mounting, ext2, |r: &mut Run| {
    r.standard("ext2");
    r.act("start");
    r.state();
    r.act("stop");
});

scenario!(wrong_fstype_fails_to_mount, ext4, |r: &mut Run| {
    r.standard("xfs");
    r.act("start");
    r.state();
    r.act("monitor");
    r.act("stop");
});

scenario!(depth_20_after_stop_and_restart, ext4, |r: &mut Run| {
    r.standard("ext4").param("statusfile_prefix", "status-");
    r.act("start");
    r.monitor("20");
    r.act("stop");
    r.act("start");
    r.monitor("20");
    r.act("stop");
    r.state();
});

scenario!(stacked_mounts_on_the_mount_point, ext4, |r: &mut Run| {
    r.standard("ext4");
    r.act("start");
    r.sh(&format!("mount -t tmpfs stacked {}", r.w.mnt().display()));
    r.state();
    r.act("monitor");
    r.act("stop");
    r.state();
    r.act("monitor");
});
