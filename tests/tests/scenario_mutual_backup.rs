//! SCENARIOS.md §2, "Mutual backup: two resources, opposite primaries", played end to end with
//! `shimaiadm` as the runbook has it.
//!
//! The DRBD 0.7 file of the scenario is used as it is, except for what names this machine:
//! the nodes keep their names (`s1.unoh.net`, `s2.unoh.net`, given by `SHIMAI_NODE`), the
//! addresses become 127.0.0.1 and 127.0.0.2 with the same ports 7789 and 7790, the disks
//! `/dev/sda3` and `/dev/sda4` become sparse files, and the devices `/dev/drbd0` and
//! `/dev/drbd1` become paths in the test's directory (with their minor written out, as DRBD
//! requires for a name that is not `/dev/drbdN`), so nothing in `/dev` is touched.
//! `options { attach fuse; }` is added only where `/dev/nbd0` exists: there `attach auto`
//! would pick the kernel's nbd driver, and the test keeps to one way of making the device.
//! Its `incon-degr-cmd "halt -f"` stays, with `halt` a stand-in on the nodes' PATH that
//! records calls: the runbook must never reach it.

mod scenario_support;

use std::path::Path;

use scenario_support::*;

const S1: usize = 0;
const S2: usize = 1;

fn config(dir: &Path, options: &str) -> String {
    let d = dir.display();
    format!(
        r#"resource drbd0 {{
  protocol B;
  incon-degr-cmd "halt -f";
  syncer {{ rate 200M; }}
  disk {{ on-io-error pass_on; }}
  net {{ on-disconnect reconnect; }}
{options}  on s1.unoh.net {{ device {d}/s1.unoh.net/drbd0 minor 0; disk {d}/s1.unoh.net/sda3.img; address 127.0.0.1:7789; meta-disk internal; }}
  on s2.unoh.net {{ device {d}/s2.unoh.net/drbd0 minor 0; disk {d}/s2.unoh.net/sda3.img; address 127.0.0.2:7789; meta-disk internal; }}
}}
resource drbd1 {{
{options}  on s1.unoh.net {{ device {d}/s1.unoh.net/drbd1 minor 1; disk {d}/s1.unoh.net/sda4.img; address 127.0.0.1:7790; meta-disk internal; }}
  on s2.unoh.net {{ device {d}/s2.unoh.net/drbd1 minor 1; disk {d}/s2.unoh.net/sda4.img; address 127.0.0.2:7790; meta-disk internal; }}
}}
"#
    )
}

#[test]
fn opposite_primaries_then_a_manual_switchover() {
    let test = "opposite_primaries_then_a_manual_switchover";
    if !shimai_tests::have_root(test)
        || ![
            "nbdfuse",
            "losetup",
            "mkfs.ext3",
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
    let options = if Path::new("/dev/nbd0").exists() {
        "  options { attach fuse; }\n"
    } else {
        ""
    };
    let mut site = Site::new("scen-mutual", ["s1.unoh.net", "s2.unoh.net"], |d| {
        config(d, options)
    });
    for n in ["s1.unoh.net", "s2.unoh.net"] {
        site.sparse(&format!("{n}/sda3.img"), 64);
        site.sparse(&format!("{n}/sda4.img"), 64);
    }
    let dev = |node: &str, res: &str| site.path(&format!("{node}/{res}"));
    let (dev0_s1, dev0_s2, dev1_s1, dev1_s2) = (
        dev("s1.unoh.net", "drbd0"),
        dev("s2.unoh.net", "drbd0"),
        dev("s1.unoh.net", "drbd1"),
        dev("s2.unoh.net", "drbd1"),
    );
    let (mnt0_s1, mnt0_s2, mnt1_s2, mnt1_s1) = (
        site.path("s1.unoh.net/mnt0"),
        site.path("s2.unoh.net/mnt0"),
        site.path("s2.unoh.net/mnt1"),
        site.path("s1.unoh.net/mnt1"),
    );

    // First start, on both nodes. s2 first: s1 has the lower address and dials, so it finds
    // s2 listening at once instead of retrying after connect-int.
    for i in [S2, S1] {
        let r = site.nodes[i].sh("shimaiadm create-md all && shimaiadm up all");
        let r = r.expect(0);
        assert!(
            r.stdout.contains("drbd0: new metadata") && r.stdout.contains("drbd1: new metadata"),
            "{}",
            r.stdout
        );
        // The 0.7 options are named as such, once per resource that has them.
        assert!(
            r.stderr.contains("'incon-degr-cmd' is a DRBD 0.7 option"),
            "{}",
            r.stderr
        );
    }
    site.nodes[S1]
        .adm(&["wait-connect", "--timeout", "30", "all"])
        .expect(0);
    for n in &site.nodes {
        assert_eq!(
            n.adm(&["cstate", "all"]).expect(0).stdout,
            "Connected\n".repeat(2)
        );
        assert_eq!(
            n.adm(&["role", "all"]).expect(0).stdout,
            "Secondary/Secondary\n".repeat(2)
        );
        // Both sides Inconsistent after the first start.
        assert_eq!(
            n.adm(&["dstate", "all"]).expect(0).stdout,
            "Inconsistent/Inconsistent\n".repeat(2)
        );
    }
    let r = site.nodes[S1].adm(&["primary", "drbd0"]).expect(17);
    assert!(r.errors().contains("--force"), "{}", r.stderr);

    // Skip the long initial sync of empty disks, each resource from its future Primary.
    site.nodes[S1]
        .adm(&["new-current-uuid", "--clear-bitmap", "drbd0"])
        .expect(0);
    site.nodes[S2]
        .adm(&["new-current-uuid", "--clear-bitmap", "drbd1"])
        .expect(0);
    for n in &site.nodes {
        for res in ["drbd0", "drbd1"] {
            wait_for(n, &["dstate", res], "UpToDate/UpToDate", 10);
        }
    }

    // Each side Primary for its own resource, with a file system on it.
    site.nodes[S1]
        .sh(&format!(
            "shimaiadm primary drbd0 && mkfs.ext3 -q {dev0_s1}"
        ))
        .expect(0);
    site.mount(S1, &dev0_s1, &mnt0_s1).expect(0);
    site.nodes[S2]
        .sh(&format!(
            "shimaiadm primary drbd1 && mkfs.ext3 -q {dev1_s2}"
        ))
        .expect(0);
    site.mount(S2, &dev1_s2, &mnt1_s2).expect(0);
    assert_eq!(role(&site, S1, "drbd0"), "Primary/Secondary\n");
    assert_eq!(role(&site, S1, "drbd1"), "Secondary/Primary\n");
    assert_eq!(role(&site, S2, "drbd0"), "Secondary/Primary\n");
    assert_eq!(role(&site, S2, "drbd1"), "Primary/Secondary\n");
    assert_eq!(
        site.nodes[S1].adm(&["status"]).expect(0).stdout,
        "drbd0 role:Primary\n  disk:UpToDate\n  s2.unoh.net role:Secondary\n    replication:Established peer-disk:UpToDate\n\
         drbd1 role:Secondary\n  disk:UpToDate\n  s2.unoh.net role:Primary\n    replication:Established peer-disk:UpToDate\n"
    );

    // Files on both, and the /proc/drbd view of where the bytes went.
    let before = [S1, S2].map(|i| site.nodes[i].adm(&["proc"]).expect(0).stdout);
    let file0 = format!("{mnt0_s1}/etc-backup.tar");
    let file1 = format!("{mnt1_s2}/home-backup.tar");
    shimai_tests::sh(&format!(
        "head -c 3145728 /dev/urandom > {file0} && head -c 2097152 /dev/urandom > {file1} && sync"
    ));
    let (sum0, sum1) = (sha256(&file0), sha256(&file1));
    let mut after = before.clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        after = [S1, S2].map(|i| site.nodes[i].adm(&["proc"]).expect(0).stdout);
        let idle = (0..2).all(|m| {
            ["pe", "ua", "ap", "lo"]
                .iter()
                .all(|c| counter(&after[S1], m, c) == 0 && counter(&after[S2], m, c) == 0)
        });
        if idle {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        proc_state(&after[S1], 0),
        "cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate B r-----"
    );
    assert_eq!(
        proc_state(&after[S1], 1),
        "cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----"
    );
    assert_eq!(
        proc_state(&after[S2], 0),
        "cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate B r-----"
    );
    let grew = |p: usize, m: u32, c: &str| counter(&after[p], m, c) - counter(&before[p], m, c);
    // drbd0 (minor 0) flows s1 -> s2, drbd1 (minor 1) s2 -> s1; each file is 3 or 2 MiB.
    for (minor, primary, secondary, kib) in [(0, S1, S2, 3072), (1, S2, S1, 2048)] {
        assert!(grew(primary, minor, "ns") >= kib, "{}", after[primary]);
        assert!(grew(primary, minor, "dw") >= kib, "{}", after[primary]);
        assert!(grew(secondary, minor, "nr") >= kib, "{}", after[secondary]);
        assert!(grew(secondary, minor, "dw") >= kib, "{}", after[secondary]);
        assert_eq!(
            counter(&after[secondary], minor, "ns"),
            0,
            "{}",
            after[secondary]
        );
        assert_eq!(
            counter(&after[primary], minor, "nr"),
            0,
            "{}",
            after[primary]
        );
        // Everything sent arrived.
        assert_eq!(
            counter(&after[primary], minor, "ns"),
            counter(&after[secondary], minor, "nr"),
            "{}\n{}",
            after[primary],
            after[secondary]
        );
        assert_eq!(counter(&after[primary], minor, "oos"), 0);
    }

    // DRBD's single-primary rule: the Secondary may not be promoted while the Primary is
    // connected, and, having no device, cannot be mounted.
    let r = site.nodes[S2].adm(&["primary", "drbd0"]).expect(1);
    assert!(r.errors().contains("the peer is Primary"), "{}", r.stderr);
    assert!(!Path::new(&dev0_s2).exists(), "a Secondary has no device");
    let r = site.mount(S2, &dev0_s2, &mnt0_s2);
    assert_ne!(r.code, 0, "a Secondary was mounted: {}", r.stdout);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    // Nor may the Primary step down while its file system is mounted.
    for verb in ["secondary", "down"] {
        let r = site.nodes[S1].adm(&[verb, "drbd0"]).expect(1);
        assert!(
            r.errors().contains(&format!("mounted on {mnt0_s1}")),
            "{verb}: {}",
            r.stderr
        );
    }
    assert_eq!(role(&site, S1, "drbd0"), "Primary/Secondary\n");

    // Manual switchover of drbd0: umount, secondary on s1, primary and mount on s2.
    site.umount(&mnt0_s1);
    site.nodes[S1].adm(&["secondary", "drbd0"]).expect(0);
    assert!(
        !Path::new(&dev0_s1).exists(),
        "the device went with the role"
    );
    assert_eq!(role(&site, S1, "drbd0"), "Secondary/Secondary\n");
    let dr_before = dr(&site, S2);
    site.nodes[S2].adm(&["primary", "drbd0"]).expect(0);
    let r = site.nodes[S2].sh(&format!("e2fsck -fn {dev0_s2}"));
    assert_eq!(r.code, 0, "e2fsck -fn: {}{}", r.stdout, r.stderr);
    site.mount(S2, &dev0_s2, &mnt0_s2).expect(0);
    assert_eq!(sha256(&format!("{mnt0_s2}/etc-backup.tar")), sum0);
    // dr: s2 read the file (and e2fsck the metadata) from its own disk.
    let dr_after = dr(&site, S2);
    assert!(dr_after - dr_before >= 3072, "dr {dr_before} -> {dr_after}");
    assert_eq!(role(&site, S2, "drbd0"), "Primary/Secondary\n");
    assert_eq!(role(&site, S1, "drbd0"), "Secondary/Primary\n");
    assert_eq!(
        site.nodes[S2].adm(&["status", "drbd0"]).expect(0).stdout,
        "drbd0 role:Primary\n  disk:UpToDate\n  s1.unoh.net role:Secondary\n    replication:Established peer-disk:UpToDate\n"
    );
    // s2 now carries both; s1 is the standby of both and cannot mount either.
    let r = site.mount(S1, &dev1_s1, &mnt1_s1);
    assert_ne!(r.code, 0, "s1 mounted drbd1 as Secondary");
    assert_eq!(sha256(&file1), sum1);

    // Down everything: refused while mounted, then clean.
    let r = site.nodes[S2].adm(&["down", "drbd1"]).expect(1);
    assert!(
        r.errors().contains(&format!("mounted on {mnt1_s2}")),
        "{}",
        r.stderr
    );
    site.umount(&mnt0_s2);
    site.umount(&mnt1_s2);
    for i in [S2, S1] {
        site.nodes[i].adm(&["down", "all"]).expect(0);
        let r = site.nodes[i].adm(&["proc"]).expect(0);
        assert!(
            r.stdout
                .ends_with(" 0: cs:Unconfigured\n 1: cs:Unconfigured\n"),
            "{}",
            r.stdout
        );
        let r = site.nodes[i].adm(&["role", "drbd0"]).expect(11);
        assert!(r.errors().contains("shimaiadm up drbd0"), "{}", r.stderr);
    }
    assert_eq!(site.halt_calls(), "", "incon-degr-cmd ran");
}

/// `shimaiadm role RES` on node `i`.
fn role(site: &Site, i: usize, res: &str) -> String {
    site.nodes[i].adm(&["role", res]).expect(0).stdout
}

/// `dr` (KiB read from the local disk) of minor 0 in `shimaiadm proc` on node `i`.
fn dr(site: &Site, i: usize) -> u64 {
    counter(&site.nodes[i].adm(&["proc"]).expect(0).stdout, 0, "dr")
}
