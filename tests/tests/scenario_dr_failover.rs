//! SCENARIOS.md §1, "Disaster recovery to a remote site, manual failover", played with
//! `shimaiadm` as the operators do it.
//!
//! The resource is an 8.x file in the style of the field guides (the one of §5), with
//! protocol A as a DR link over a WAN uses; only the host names, addresses (127.0.0.1 and
//! 127.0.0.2, port 7789), disks (sparse files) and devices (paths in the test's directory)
//! are this machine's (plus `options { attach fuse; }` where `/dev/nbd0` exists, so that the
//! device is always shimaid's own FUSE server + loop, which dies with shimaid). Node 1 is
//! Primary with a mounted file system and data; it is lost (SIGKILL to its shimaid, by PID;
//! the FUSE connection behind its device goes with it). On node 2 the operator sees
//! WFConnection and Secondary/Unknown, runs the two-line failover script, and finds the data.
//!
//! Node 1 then comes back after a "reboot" (its stale mount, loop device and /run files
//! gone). By DRBD's rules it must not take over: everything it wrote had reached node 2
//! before the crash (its `pe` was 0), so its current generation is node 2's bitmap
//! generation, an ancestor of node 2's data, and the handshake makes it SyncTarget; it
//! receives what node 2 wrote meanwhile and stays Secondary. (Had it written while cut off,
//! both generations would have moved on: a split brain, StandAlone on both, nothing
//! overwritten; `replication_failure` covers that case.)

mod scenario_support;

use std::path::Path;
use std::time::{Duration, Instant};

use scenario_support::*;

const N1: usize = 0;
const N2: usize = 1;

fn config(dir: &Path) -> String {
    let d = dir.display();
    // Where /dev/nbd0 exists `attach auto` would use the kernel's nbd driver; the test loses
    // node 1's FUSE device with its shimaid, so it keeps to FUSE + loop everywhere.
    let options = if Path::new("/dev/nbd0").exists() {
        "  options { attach fuse; }\n"
    } else {
        ""
    };
    format!(
        r#"global {{ usage-count yes; }}
common {{ syncer {{ rate 10M; }} }}
resource r0 {{
  protocol A;
  startup {{ degr-wfc-timeout 120; }}
  net {{ cram-hmac-alg sha1; shared-secret "FooFunFactory"; }}
{options}  on node1 {{ device {d}/node1/drbd0 minor 0; disk {d}/node1/backup.img; address 127.0.0.1:7789; meta-disk internal; }}
  on node2 {{ device {d}/node2/drbd0 minor 0; disk {d}/node2/backup.img; address 127.0.0.2:7789; meta-disk internal; }}
}}
"#
    )
}

/// `shimaiadm proc` on node `i` once nothing is in flight between the nodes.
fn quiet_proc(site: &Site) -> [String; 2] {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = [N1, N2].map(|i| site.nodes[i].adm(&["proc"]).expect(0).stdout);
        let idle = ["pe", "ua", "ap", "lo"]
            .iter()
            .all(|c| counter(&p[N1], 0, c) == 0 && counter(&p[N2], 0, c) == 0);
        if idle || Instant::now() > deadline {
            return p;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What a reboot of node `i` does to the leftovers of its crash: the stale mount and loop
/// device go, and so do /run (its runtime files and the nbdfuse mount) and the device link.
fn reboot(site: &mut Site, i: usize, mount: &str, device: &str) {
    let _ = std::process::Command::new("umount")
        .args(["-l", mount])
        .status();
    site.forget_mount(mount);
    let run = site.nodes[i].run.display().to_string();
    for l in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let bf = l.path().join("loop/backing_file");
        if std::fs::read_to_string(&bf).is_ok_and(|b| b.starts_with(&run)) {
            let dev = format!("/dev/{}", l.file_name().to_string_lossy());
            let _ = std::process::Command::new("losetup")
                .args(["-d", &dev])
                .status();
        }
    }
    shimai_tests::unmount_below(&site.nodes[i].run);
    for e in std::fs::read_dir(&site.nodes[i].run).unwrap().flatten() {
        // The log stays: the journal would have it.
        if e.file_name().to_string_lossy().ends_with(".log") {
            continue;
        }
        let p = e.path();
        let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
    }
    let _ = std::fs::remove_file(device);
}

#[test]
fn node2_takes_over_by_hand_and_node1_comes_back_as_sync_target() {
    let test = "node2_takes_over_by_hand_and_node1_comes_back_as_sync_target";
    if !shimai_tests::have_root(test)
        || ![
            "nbdfuse",
            "losetup",
            "mkfs.ext4",
            "e2fsck",
            "mount",
            "umount",
            "sha256sum",
        ]
        .iter()
        .all(|p| shimai_tests::have_program(test, p))
    {
        return;
    }
    let mut site = Site::new("scen-dr", ["node1", "node2"], config);
    site.sparse("node1/backup.img", 64);
    site.sparse("node2/backup.img", 64);
    let (dev1, dev2) = (site.path("node1/drbd0"), site.path("node2/drbd0"));
    let (mnt1, mnt2) = (site.path("node1/backup"), site.path("node2/backup"));

    // Set up once: node 2 first, so node 1 (the lower address, which dials) connects at once.
    for i in [N2, N1] {
        site.nodes[i]
            .sh("shimaiadm create-md r0 && shimaiadm up r0")
            .expect(0);
    }
    site.nodes[N1]
        .adm(&["wait-connect", "--timeout", "30", "r0"])
        .expect(0);
    site.nodes[N1]
        .adm(&["new-current-uuid", "--clear-bitmap", "r0"])
        .expect(0);
    site.nodes[N1]
        .adm(&["wait-sync", "--timeout", "30", "r0"])
        .expect(0);
    site.nodes[N1]
        .sh(&format!("shimaiadm primary r0 && mkfs.ext4 -q {dev1}"))
        .expect(0);
    site.mount(N1, &dev1, &mnt1).expect(0);

    // The nightly backup lands on node 1 and streams to node 2.
    let before = quiet_proc(&site);
    let (tar, index) = (format!("{mnt1}/backup-monday.tar"), format!("{mnt1}/INDEX"));
    shimai_tests::sh(&format!(
        "head -c 4194304 /dev/urandom > {tar} && echo monday > {index} && sync"
    ));
    let (sum_tar, sum_index) = (sha256(&tar), sha256(&index));
    let after = quiet_proc(&site);
    assert_eq!(
        proc_state(&after[N1], 0),
        "cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate A r-----"
    );
    assert_eq!(
        proc_state(&after[N2], 0),
        "cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate A r-----"
    );
    let grew = |n: usize, c: &str| counter(&after[n], 0, c) - counter(&before[n], 0, c);
    // ns grows on node 1 and nr on node 2, each by at least the 4 MiB written; both disks
    // wrote them; nothing flows back.
    assert!(grew(N1, "ns") >= 4096, "{}", after[N1]);
    assert!(grew(N1, "dw") >= 4096, "{}", after[N1]);
    assert!(grew(N2, "nr") >= 4096, "{}", after[N2]);
    assert!(grew(N2, "dw") >= 4096, "{}", after[N2]);
    assert_eq!(counter(&after[N2], 0, "ns"), 0, "{}", after[N2]);
    let replicated = counter(&after[N1], 0, "ns");
    assert_eq!(replicated, counter(&after[N2], 0, "nr"), "{}", after[N2]);

    // Node 1 is lost: its shimaid dies, and with it the FUSE server behind its device.
    let daemon = site.nodes[N1].daemon_pid("r0").expect("node 1's shimaid");
    kill9(daemon);

    // What node 2's operator sees.
    wait_for(&site.nodes[N2], &["cstate", "r0"], "WFConnection", 10);
    let n2 = &site.nodes[N2];
    assert_eq!(
        n2.adm(&["role", "r0"]).expect(0).stdout,
        "Secondary/Unknown\n"
    );
    assert_eq!(
        n2.adm(&["dstate", "r0"]).expect(0).stdout,
        "UpToDate/DUnknown\n"
    );
    assert_eq!(
        n2.adm(&["status", "r0"]).expect(0).stdout,
        "r0 role:Secondary\n  disk:UpToDate\n  node1 connection:Connecting\n"
    );
    // On node 1 nothing answers any more: the same script would stop with 11 there.
    let r = site.nodes[N1].adm(&["primary", "r0"]).expect(11);
    assert!(r.errors().contains("shimaiadm up r0"), "{}", r.stderr);

    // The failover script, with the error handling the operators wished for.
    let script = format!(
        "set -e\nshimaiadm cstate r0\nshimaiadm role r0\nshimaiadm primary r0 || exit\nmount {dev2} {mnt2}\n"
    );
    std::fs::create_dir_all(&mnt2).unwrap();
    let r = site.nodes[N2].sh(&script);
    if r.code == 0 {
        site.track_mount(&mnt2);
    }
    let r = r.expect(0);
    assert_eq!(r.stdout, "WFConnection\nSecondary/Unknown\n");
    assert_eq!(sha256(&format!("{mnt2}/backup-monday.tar")), sum_tar);
    assert_eq!(sha256(&format!("{mnt2}/INDEX")), sum_index);
    let p2 = site.nodes[N2].adm(&["proc"]).expect(0).stdout;
    assert_eq!(
        proc_state(&p2, 0),
        "cs:WFConnection ro:Primary/Unknown ds:UpToDate/DUnknown A r-----"
    );
    // Node 2 received exactly what node 1 sent before it was lost.
    assert_eq!(counter(&p2, 0, "nr"), replicated, "{p2}");

    // Backups continue on node 2; what node 1 does not have is counted out of sync.
    let tuesday = format!("{mnt2}/backup-tuesday.tar");
    shimai_tests::sh(&format!(
        "head -c 1048576 /dev/urandom > {tuesday} && echo tuesday >> {mnt2}/INDEX && sync"
    ));
    let sum_tuesday = sha256(&tuesday);
    let sum_index2 = sha256(&format!("{mnt2}/INDEX"));
    let p2 = site.nodes[N2].adm(&["proc"]).expect(0).stdout;
    assert!(counter(&p2, 0, "oos") >= 1024, "{p2}");
    assert_eq!(
        counter(&p2, 0, "ns"),
        0,
        "nothing sent without a peer: {p2}"
    );

    // Node 1 comes back. It starts Secondary, connects, and is resynced from node 2.
    reboot(&mut site, N1, &mnt1, &dev1);
    let ns2 = counter(&p2, 0, "ns");
    let crashed_log = site.nodes[N1].log("r0").len();
    site.nodes[N1].adm(&["up", "r0"]).expect(0);
    site.nodes[N1]
        .adm(&["wait-sync", "--timeout", "60", "r0"])
        .expect(0);
    let n1 = &site.nodes[N1];
    assert_eq!(n1.adm(&["cstate", "r0"]).expect(0).stdout, "Connected\n");
    assert_eq!(
        n1.adm(&["role", "r0"]).expect(0).stdout,
        "Secondary/Primary\n"
    );
    assert_eq!(
        n1.adm(&["dstate", "r0"]).expect(0).stdout,
        "UpToDate/UpToDate\n"
    );
    let log = n1.log("r0").split_off(crashed_log);
    assert!(log.contains("-> SyncTarget )"), "node 1's log:\n{log}");
    assert!(!log.contains("-> SyncSource )"), "node 1's log:\n{log}");
    assert!(!log.contains("role( Secondary -> Primary )"), "{log}");
    // It does not take over either: node 2 is Primary.
    let r = n1.adm(&["primary", "r0"]).expect(1);
    assert!(r.errors().contains("the peer is Primary"), "{}", r.stderr);
    let p = quiet_proc(&site);
    assert!(
        counter(&p[N2], 0, "ns") - ns2 >= 1024,
        "the resync came from node 2:\n{}",
        p[N2]
    );
    assert!(counter(&p[N1], 0, "nr") >= 1024, "{}", p[N1]);
    assert_eq!(counter(&p[N2], 0, "oos"), 0, "{}", p[N2]);

    // Switch back by hand: node 1 has everything, Monday's and Tuesday's.
    site.umount(&mnt2);
    site.nodes[N2].adm(&["secondary", "r0"]).expect(0);
    site.nodes[N1].adm(&["primary", "r0"]).expect(0);
    let r = site.nodes[N1].sh(&format!("e2fsck -fn {dev1}"));
    assert_eq!(r.code, 0, "e2fsck -fn: {}{}", r.stdout, r.stderr);
    site.mount(N1, &dev1, &mnt1).expect(0);
    assert_eq!(sha256(&format!("{mnt1}/backup-monday.tar")), sum_tar);
    assert_eq!(sha256(&format!("{mnt1}/backup-tuesday.tar")), sum_tuesday);
    assert_eq!(sha256(&format!("{mnt1}/INDEX")), sum_index2);
    site.umount(&mnt1);
    for i in [N1, N2] {
        site.nodes[i].adm(&["down", "r0"]).expect(0);
    }
}
