//! Two shimaid nodes replicate: data written through the Primary's NBD export or through
//! its block device (nbdfuse + loop, ext4 on it) is on both backing files, and a manual
//! switchover finds the file system intact on the other node.

mod replication_support;

use replication_support::*;

#[test]
fn writes_through_the_export_reach_both_disks() {
    let test = "writes_through_the_export_reach_both_disks";
    if !have(test, &["nbdcopy", "nbdinfo"]) {
        return;
    }
    let mut p = Pair::new("repl-nbd", 32, "  options { attach none; }");
    p.up_skip_sync();
    assert_eq!(p.field(0, "disk"), "UpToDate");
    assert_eq!(p.field(1, "peer_disk"), "UpToDate");

    // A Secondary has no export.
    assert!(!p.run_dir(1).join("r0.nbd").exists());
    p.ok(0, r#"{"cmd":"primary"}"#);
    assert_eq!(p.field(0, "role"), "Primary");
    assert_eq!(p.field(1, "peer_role"), "Primary");
    let ev = p.ctl(0, r#"{"cmd":"events","now":true}"#);
    assert!(
        ev.contains(r#""kind":"exists""#) && ev.contains("Primary"),
        "{ev}"
    );
    let info = shimai_tests::sh(&format!("nbdinfo --size '{}'", p.nbd_uri(0)));
    assert_eq!(info.trim().parse::<u64>().unwrap(), p.size_kib * 1024);

    let data = pattern(8 << 20, 1);
    nbd_write(&p, 0, 0, &data);
    assert!(
        nbd_read(&p, 0, data.len()) == data,
        "read back through the export"
    );
    // Protocol C: acknowledged means on the peer's disk too.
    let (a, b) = (p.data(0), p.data(1));
    assert!(a[..data.len()] == data[..], "on the Primary's backing file");
    assert!(a == b, "both backing files identical");
    assert!(p.counter(0, "ns") >= 8 * 1024, "ns counts what was sent");
    assert!(
        p.counter(1, "nr") >= 8 * 1024,
        "nr counts what was received"
    );
    assert!(p.counter(1, "dw") >= 8 * 1024, "dw on the Secondary");

    // The Secondary refuses to be promoted while the other is Primary, and has no export.
    let r = p.ctl(1, r#"{"cmd":"primary"}"#);
    assert!(r.contains("refused"), "{r}");
    p.ok(0, r#"{"cmd":"secondary"}"#);
    assert!(
        !p.run_dir(0).join("r0.nbd").exists(),
        "export gone after secondary"
    );
}

#[test]
fn ext4_switches_over_between_nodes() {
    let test = "ext4_switches_over_between_nodes";
    if !have(
        test,
        &[
            "nbdfuse",
            "losetup",
            "mkfs.ext4",
            "e2fsck",
            "mount",
            "umount",
        ],
    ) {
        return;
    }
    let mut p = Pair::new("repl-fs", 64, "  options { attach fuse; }");
    p.up_skip_sync();
    p.ok(0, r#"{"cmd":"primary"}"#);
    let dev0 = p.device(0);
    assert!(
        std::fs::read_link(&dev0).is_ok_and(|t| t.to_string_lossy().starts_with("/dev/loop")),
        "device path is a symlink to a loop device"
    );
    shimai_tests::sh(&format!("mkfs.ext4 -F -q {}", dev0.display()));
    let m = p.mount(0);
    let files: Vec<(String, Vec<u8>)> = (0..4)
        .map(|k| {
            (
                format!("file{k}"),
                pattern((1 << 20) + k * 4097, k as u32 + 7),
            )
        })
        .collect();
    for (name, d) in &files {
        std::fs::write(m.join(name), d).unwrap();
    }
    shimai_tests::sh("sync");

    // Secondary refuses while mounted, and says by what.
    let r = p.ctl(0, r#"{"cmd":"secondary"}"#);
    assert!(r.contains("refused"), "{r}");
    assert!(r.contains(&m.display().to_string()), "names the mount: {r}");
    assert_eq!(p.field(0, "role"), "Primary");

    p.umount(&m);
    p.ok(0, r#"{"cmd":"secondary"}"#);
    assert!(!dev0.exists(), "no device on a Secondary");
    p.wait(1, "peer_role", "Secondary", 5);
    p.ok(1, r#"{"cmd":"primary"}"#);
    let out = shimai_tests::run(
        std::process::Command::new("e2fsck")
            .arg("-fn")
            .arg(p.device(1)),
    );
    assert!(
        out.status.success(),
        "e2fsck -fn on the other node: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let m1 = p.mount(1);
    for (name, d) in &files {
        assert!(
            std::fs::read(m1.join(name)).unwrap() == *d,
            "{name} differs on beta"
        );
    }
    let r = p.ctl(1, r#"{"cmd":"down"}"#);
    assert!(
        r.contains("refused") && r.contains(&m1.display().to_string()),
        "down refused while mounted, naming the mount: {r}"
    );
    p.umount(&m1);
    p.ok(1, r#"{"cmd":"secondary"}"#);
    assert!(
        p.data(0) == p.data(1),
        "backing files identical after switchover"
    );
}

#[test]
fn peers_with_different_secrets_never_exchange_data() {
    let test = "peers_with_different_secrets_never_exchange_data";
    if !have(test, &[]) {
        return;
    }
    let mut p = Pair::with_net(
        "repl-auth",
        16,
        "shared-secret \"s3cret\";",
        "  options { attach none; }",
    );
    p.edit_conf(1, "s3cret", "wrong");
    p.up(0);
    p.up(1);
    p.wait(0, "connection", "StandAlone", 15);
    p.wait(1, "connection", "StandAlone", 15);
    for i in 0..2 {
        assert_eq!(p.field(i, "peer_disk"), "DUnknown");
        assert_eq!(p.counter(i, "nr"), 0, "no data received");
    }
    let log = p.log(0) + &p.log(1);
    for l in log.lines().filter(|l| l.contains("auth")) {
        eprintln!("{l}");
    }
    assert!(
        log.contains("authentication failed"),
        "the log says why:\n{log}"
    );

    // Same secret: they connect.
    p.edit_conf(1, "wrong", "s3cret");
    p.ok(1, r#"{"cmd":"down"}"#);
    p.up(1);
    p.ok(0, r#"{"cmd":"connect"}"#);
    p.wait(0, "connection", "Connected", 15);
}

#[test]
fn fio_verifies_many_requests_in_flight_on_several_connections() {
    let test = "fio_verifies_many_requests_in_flight_on_several_connections";
    if !have(test, &["fio"]) {
        return;
    }
    let mut p = Pair::new("repl-fio", 64, "  options { attach none; }");
    p.up_skip_sync();
    p.ok(0, r#"{"cmd":"primary"}"#);
    fio_verify(&p);
    assert!(p.data(0) == p.data(1), "both backing files identical");
}

#[test]
fn sigterm_is_down_and_refused_while_mounted() {
    let test = "sigterm_is_down_and_refused_while_mounted";
    if !have(
        test,
        &["nbdfuse", "losetup", "mkfs.ext4", "mount", "umount"],
    ) {
        return;
    }
    let mut p = Pair::new("repl-term", 32, "  options { attach fuse; }");
    p.up(0);
    p.ok(0, r#"{"cmd":"primary","force":true}"#);
    shimai_tests::sh(&format!("mkfs.ext4 -F -q {}", p.device(0).display()));
    let m = p.mount(0);
    let pid: i32 = std::fs::read_to_string(p.run_dir(0).join("r0.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let term = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap()
    };
    term();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(p.field(0, "role"), "Primary", "still up while mounted");
    assert!(p.log(0).contains("not going down"), "{}", p.log(0));

    p.umount(&m);
    term();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while p.run_dir(0).join("r0.pid").exists() {
        assert!(std::time::Instant::now() < deadline, "{}", p.log(0));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!p.device(0).exists(), "device removed");
    assert!(!p.run_dir(0).join("r0.ctl").exists());
    assert!(p.log(0).trim_end().ends_with("r0: down"), "{}", p.log(0));
}
