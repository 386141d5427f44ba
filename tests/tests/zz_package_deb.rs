//! The Debian package, installed for real on this machine: `scripts/package`, then
//! `apt-get install ./shimai_*.deb`, the installed programs, man pages and unit, `ocf-tester`
//! on an installed agent, the installed drbd agent running the installed shimaid, an upgrade
//! that leaves that running daemon alone, and a removal and purge that leave nothing behind.
//!
//! It writes to /usr, so it is one test in its own binary (cargo runs test binaries one after
//! another, so no other suite runs beside it), named `zz_` so that it runs after the other
//! suites of this package. It refuses to start when shimai is already installed in /usr
//! (by the package or by `scripts/install`), rather than overwrite and then delete it.

use std::path::{Path, PathBuf};
use std::process::Command;

use shimai_tests::{bin, have_program, have_root, run, unique, workspace, LoopDev, TempDir};

/// Files the package must install.
const FILES: &[&str] = &[
    "/usr/sbin/shimaid",
    "/usr/sbin/shimaiadm",
    "/usr/sbin/haresources2cib",
    "/usr/sbin/shimai-crm-fence-peer",
    "/usr/sbin/shimai-crm-unfence-peer",
    "/usr/lib/ocf/resource.d/shimai/drbd",
    "/usr/lib/ocf/resource.d/shimai/Filesystem",
    "/usr/lib/ocf/resource.d/shimai/IPaddr2",
    "/usr/lib/shimai/shimai-unit-check",
    "/lib/systemd/system/shimai@.service",
    "/lib/systemd/system/shimai-exporter.service",
    "/usr/share/man/man8/shimaiadm.8.gz",
    "/usr/share/man/man8/shimaid.8.gz",
    "/usr/share/man/man8/haresources2cib.8.gz",
    "/usr/share/man/man5/shimai.conf.5.gz",
    "/usr/share/bash-completion/completions/shimaiadm",
    "/etc/shimai/shimai.conf.example",
];

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `apt-get ARGS` non-interactively, waiting for the dpkg lock if someone holds it.
fn apt(args: &[&str], cwd: &Path) -> std::process::Output {
    run(Command::new("apt-get")
        .current_dir(cwd)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["-y", "-q", "-o", "DPkg::Lock::Timeout=120"])
        .args(args))
}

fn installed() -> bool {
    let out = run(Command::new("dpkg-query").args(["-W", "-f=${Status}", "shimai"]));
    String::from_utf8_lossy(&out.stdout).contains("ok installed")
}

/// Purges the package on drop (after a failed assertion too).
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let out = run(Command::new("dpkg").args(["--purge", "shimai"]));
        if !out.status.success() {
            eprintln!("dpkg --purge shimai: {}", text(&out));
        }
    }
}

/// Kills, on drop, the shimaid whose pid file this is.
struct Daemon(PathBuf);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// The same package with another version (an upgrade), repacked with dpkg-deb.
fn bump(deb: &Path, dir: &TempDir, version: &str) -> PathBuf {
    let tree = dir.join("repack");
    let out = run(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree));
    assert!(out.status.success(), "dpkg-deb -R: {}", text(&out));
    let control = tree.join("DEBIAN/control");
    let c = std::fs::read_to_string(&control).unwrap();
    let c: String = c
        .lines()
        .map(|l| {
            if l.starts_with("Version:") {
                format!("Version: {version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&control, c).unwrap();
    let new = dir.join(&format!("shimai_{version}.deb"));
    let out = run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "-b"])
        .arg(&tree)
        .arg(&new));
    assert!(out.status.success(), "dpkg-deb -b: {}", text(&out));
    new
}

#[test]
fn the_deb_installs_works_upgrades_under_a_running_daemon_and_purges_cleanly() {
    if !have_root("package")
        || ![
            "dpkg-deb",
            "apt-get",
            "ocf-tester",
            "man",
            "systemd-analyze",
        ]
        .iter()
        .all(|p| have_program("package", p))
    {
        return;
    }
    assert!(
        !installed()
            && !Path::new("/usr/sbin/shimaid").exists()
            && !Path::new("/usr/lib/ocf/resource.d/shimai").exists(),
        "shimai is already installed in /usr (package or scripts/install): this test \
         installs and purges the package there; remove it first (dpkg --purge shimai, or \
         delete /usr/sbin/shimai* and /usr/lib/ocf/resource.d/shimai)"
    );
    let dir = TempDir::new("deb");
    let bin_dir = bin("shimaid").parent().unwrap().to_path_buf();
    let out = run(Command::new(workspace().join("scripts/package"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--out")
        .arg(dir.path()));
    assert!(out.status.success(), "scripts/package: {}", text(&out));
    let version = env!("CARGO_PKG_VERSION");
    let deb_name = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with(&format!("shimai_{version}_")) && n.ends_with(".deb"))
        .expect("scripts/package wrote no shimai_VERSION_ARCH.deb");
    let info = run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(dir.join(&deb_name))
        .arg("Depends"));
    let depends = String::from_utf8_lossy(&info.stdout).into_owned();
    for d in ["libc6", "mount"] {
        assert!(depends.contains(d), "Depends lacks {d}: {depends}");
    }
    // Maintainer scripts never stop, start or restart a unit or daemon.
    let scripts = dir.join("control");
    let out = run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(dir.join(&deb_name))
        .arg(&scripts));
    assert!(out.status.success(), "{}", text(&out));
    for s in ["postinst", "prerm", "postrm"] {
        let body: String = std::fs::read_to_string(scripts.join(s))
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.contains("echo "))
            // The metrics exporter holds no device: restarting it on upgrade is harmless.
            .filter(|l| !l.contains("shimai-exporter.service"))
            .collect::<Vec<_>>()
            .join("\n");
        for word in [
            "restart",
            "systemctl stop",
            "systemctl start",
            "shimaiadm down",
            "kill",
        ] {
            assert!(!body.contains(word), "{s} runs `{word}`:\n{body}");
        }
    }

    let _purge = Purge;
    let out = apt(&["install", &format!("./{deb_name}")], dir.path());
    assert!(out.status.success(), "apt-get install: {}", text(&out));
    assert!(installed());
    for f in FILES {
        assert!(
            std::fs::symlink_metadata(f).is_ok(),
            "{f} not installed by the package"
        );
    }
    for p in ["shimaiadm", "shimaid", "haresources2cib"] {
        let out = run(Command::new(format!("/usr/sbin/{p}")).arg("--version"));
        assert_eq!(text(&out).trim(), format!("{p} {version}"));
    }
    let out = run(Command::new("man").args([
        "-w",
        "shimaiadm",
        "shimaid",
        "haresources2cib",
        "shimai.conf",
    ]));
    assert!(out.status.success(), "man -w: {}", text(&out));
    let out = run(Command::new("man")
        .arg("shimai.conf")
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100"));
    assert!(
        text(&out).contains("after-sb-0pri"),
        "man shimai.conf: {}",
        text(&out)
    );
    let out = run(Command::new("systemd-analyze").args(["verify", "shimai@r0.service"]));
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "systemd-analyze verify on the installed unit: {}",
        text(&out)
    );

    // ocf-tester on the installed Filesystem agent.
    let disk = LoopDev::new(32, Some("ext4"));
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let (passed, out) = shimai_tests::ocf_tester(
        Path::new("/usr/lib/ocf/resource.d/shimai/Filesystem"),
        "pkg-fs",
        &[
            ("device", disk.path()),
            ("directory", mnt.to_str().unwrap()),
            ("fstype", "ext4"),
        ],
        None,
    );
    assert!(
        passed,
        "ocf-tester on the installed Filesystem agent:\n{out}"
    );

    // The installed drbd agent starts the installed shimaid (found from its own location).
    let res = unique("pkg");
    let port = 20000 + (std::process::id() * 23) % 30000;
    let img = dir.join("r.img");
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(64 << 20))
        .unwrap();
    let conf = dir.join("shimai.conf");
    std::fs::write(
        &conf,
        format!(
            "resource {res} {{\n  net {{ connect-int 1; }}\n\
             on alpha {{ device {d}/dev minor 0; disk {img}; address 127.0.0.1:{port}; meta-disk internal; }}\n\
             on beta {{ device {d}/dev.b minor 0; disk {img}.b; address 127.0.0.2:{port}; meta-disk internal; }}\n}}\n",
            d = dir.path().display(),
            img = img.display(),
        ),
    )
    .unwrap();
    let out = run(Command::new("/usr/sbin/shimaid")
        .arg("-c")
        .arg(&conf)
        .args(["--node", "alpha", "--create-md", &res]));
    assert!(out.status.success(), "create-md: {}", text(&out));
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let pid_file = run_dir.join(format!("{res}.pid"));
    let _daemon = Daemon(pid_file.clone());
    let env: Vec<(&str, String)> = vec![
        ("OCF_RESKEY_drbd_resource", res.clone()),
        ("OCF_RESKEY_drbdconf", conf.display().to_string()),
        ("OCF_RESKEY_CRM_meta_clone_max", "2".into()),
        ("OCF_RESKEY_CRM_meta_clone_node_max", "1".into()),
        ("OCF_RESKEY_CRM_meta_promoted_max", "1".into()),
        ("OCF_RESKEY_CRM_meta_promoted_node_max", "1".into()),
        ("OCF_RESKEY_CRM_meta_notify", "true".into()),
        ("OCF_RESKEY_CRM_meta_promotable", "true".into()),
        ("OCF_RESKEY_wfc_timeout", "1".into()),
        ("SHIMAI_NODE", "alpha".into()),
        ("SHIMAI_RUN_DIR", run_dir.display().to_string()),
        ("HA_RSCTMP", run_dir.display().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let drbd = Path::new("/usr/lib/ocf/resource.d/shimai/drbd");
    let r = shimai_tests::run_agent(drbd, "start", "p_drbd", &env, None);
    assert_eq!(r.rc, 0, "installed drbd agent start: {r:?}");
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        Path::new("/usr/sbin/shimaid")
    );

    // An upgrade leaves the running daemon alone: same process, still answering.
    let newer = bump(&dir.join(&deb_name), &dir, &format!("{version}+upgrade1"));
    let out = apt(&["install", newer.to_str().unwrap()], dir.path());
    assert!(
        out.status.success(),
        "apt-get install (upgrade): {}",
        text(&out)
    );
    let v = run(Command::new("dpkg-query").args(["-W", "-f=${Version}", "shimai"]));
    assert_eq!(text(&v), format!("{version}+upgrade1"));
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid,
        "the daemon was restarted by the upgrade"
    );
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the daemon died in the upgrade"
    );
    let role = run(Command::new("/usr/sbin/shimaiadm")
        .arg("-c")
        .arg(&conf)
        .args(["--node", "alpha", "--run-dir"])
        .arg(&run_dir)
        .args(["role", &res]));
    assert_eq!(text(&role).trim(), "Secondary/Unknown", "{}", text(&role));
    let r = shimai_tests::run_agent(drbd, "stop", "p_drbd", &env, None);
    assert_eq!(r.rc, 0, "installed drbd agent stop: {r:?}");

    // Removal, then purge: nothing of the package stays.
    let out = apt(&["remove", "shimai"], dir.path());
    assert!(out.status.success(), "apt-get remove: {}", text(&out));
    for f in FILES.iter().filter(|f| !f.starts_with("/etc/")) {
        assert!(
            std::fs::symlink_metadata(f).is_err(),
            "{f} left after apt-get remove"
        );
    }
    let out = apt(&["purge", "shimai"], dir.path());
    assert!(out.status.success(), "apt-get purge: {}", text(&out));
    assert!(!installed());
    for f in [
        "/etc/shimai",
        "/usr/lib/ocf/resource.d/shimai",
        "/usr/lib/shimai",
        "/usr/share/doc/shimai",
    ] {
        assert!(!Path::new(f).exists(), "{f} left after purge");
    }
}
