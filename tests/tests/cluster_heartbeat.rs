//! SCENARIOS.md 5 end to end: the old Heartbeat cluster's files, converted
//! by the real `haresources2cib`, loaded into a running Pacemaker cluster,
//! then the admins' own acceptance test, pulling the active node's cable.
//!
//! The inputs are the scenario's shared-storage variant
//! (`host01.example.ac.jp IPaddr2::192.168.1.80
//! Filesystem::/dev/VolGroup01/lvol0::/mnt/iscsi httpd`) and its ha.cf,
//! changed only where the test bed differs from the old site: node names,
//! the address (in the test bed's subnet, on its `eth0`), the shared disk
//! (a loop device with ext4, which the converter probes as it would the
//! iSCSI LUN) and the web server (Debian has no `httpd` unit: `apache` with
//! its configuration file). The converted configuration is loaded whole,
//! its `crm_config` included (`stonith-enabled=false`, `dc-deadtime=120s`
//! from `initdead 120`...): what the migration guide tells an admin to do.
//! Corosync keeps the test bed's own timing (token 2000 ms), since the
//! converter's corosync.conf is for the old machines' network.

mod cluster_support;

use cluster_support::{can_run, has_mount, has_vip, wait_page};
use shimai_tests::cluster::{Cluster, ClusterOptions, Provider, WebStack};
use shimai_tests::{bin, TempDir};
use std::process::Command;
use std::time::{Duration, Instant};

/// The group the converter makes of the first haresources line.
const GROUP: &str = "group_1";

/// SCENARIOS.md 5's ha.cf with the test bed's node names and interface.
const HA_CF: &str = "\
keepalive 2
deadtime 30
warntime 10
initdead 120
udpport 694
bcast eth0
auto_failback on
watchdog /dev/watchdog
node node1
node node2
respawn root /usr/lib/heartbeat/pingd -m 100 -d 5s -a default_ping_set
";

/// The scenario's authkeys (a checksum over a crossover cable).
const AUTHKEYS: &str = "auth 1\n1 crc\n";

#[test]
fn a_converted_heartbeat_cluster_runs_and_survives_the_cable_test() {
    if !can_run("cluster_heartbeat") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let web = WebStack::prepare(&cluster).unwrap_or_else(|e| panic!("shared disk: {e}"));
    let provider = Provider::from_env();

    let etc = TempDir::new("ha.d");
    let haresources = format!(
        "node1 IPaddr2::{vip}/24/eth0 Filesystem::{dev}::{dir} apache::{conf}\n",
        vip = shimai_tests::cluster::web::vip(),
        dev = web.disk.path(),
        dir = web.docroot.display(),
        conf = web.conf.display(),
    );
    std::fs::write(etc.join("haresources"), &haresources).unwrap();
    std::fs::write(etc.join("ha.cf"), HA_CF).unwrap();
    std::fs::write(etc.join("authkeys"), AUTHKEYS).unwrap();
    let out = Command::new(bin("haresources2cib"))
        .current_dir(etc.path())
        .args(["--stdout", "-c", "ha.cf", "--provider", provider.name()])
        .arg("haresources")
        .output()
        .unwrap();
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "haresources2cib failed: {warnings}");
    eprintln!("haresources: {haresources}haresources2cib said:\n{warnings}");
    assert!(
        warnings.contains("stonith-enabled=false"),
        "the converter must say fencing is off: {warnings}"
    );
    let cib = String::from_utf8(out.stdout).unwrap();
    // No fstype in haresources: the converter asked blkid, as on the old node.
    assert!(
        cib.contains("name=\"fstype\" value=\"ext4\""),
        "fstype not probed: {cib}"
    );

    cluster
        .replace_configuration(&cib)
        .unwrap_or_else(|e| panic!("cibadmin --replace of the converted CIB: {e}"));
    let st = cluster
        .wait_for(0, "group_1 on node1", Duration::from_secs(60), |s| {
            s.placed_on(GROUP) == Some("node1")
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let agents: Vec<&str> = st.members(GROUP).iter().map(|r| r.agent.as_str()).collect();
    let p = provider.name();
    assert_eq!(
        agents,
        [
            format!("ocf:{p}:IPaddr2"),
            format!("ocf:{p}:Filesystem"),
            "ocf:heartbeat:apache".to_string()
        ],
        "the haresources line, left to right"
    );
    let crm_mon = cluster.crm_mon_text(0).unwrap();
    eprintln!("{crm_mon}");
    assert!(
        crm_mon.contains("Resource Group: group_1"),
        "crm_mon shows the converted group: {crm_mon}"
    );
    let shown = cluster
        .crm(&["configure", "show", "cib-bootstrap-options"])
        .unwrap();
    assert!(
        shown.contains("stonith-enabled=false") && shown.contains("dc-deadtime=120s"),
        "the converter's cluster options are in force: {shown}"
    );
    wait_page(&cluster, &web, Instant::now(), Duration::from_secs(20));
    assert!(has_vip(&cluster, 0) && has_mount(&cluster, &web, 0));
    assert!(!has_vip(&cluster, 1) && !has_mount(&cluster, &web, 1));

    // The admins' test: pull the active node's cable.
    let cut = Instant::now();
    cluster.cut_link(0).unwrap();
    cluster
        .wait_for(1, "group_1 on node2", Duration::from_secs(30), |s| {
            s.placed_on(GROUP) == Some("node2")
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let outage = wait_page(&cluster, &web, cut, Duration::from_secs(30));
    eprintln!(
        "cable pulled -> page served by node2 after {} ms",
        outage.as_millis()
    );
    assert!(has_vip(&cluster, 1) && has_mount(&cluster, &web, 1));

    // Cable back: auto_failback on, so the group returns to node1, once.
    let plugged = Instant::now();
    cluster.restore_link(0).unwrap();
    let merged = cluster
        .wait_for(
            1,
            "both nodes online, group_1 on node1",
            Duration::from_secs(60),
            |s| s.is_online("node1") && s.is_online("node2") && s.placed_on(GROUP) == Some("node1"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "cable back -> group_1 on node1 only after {} ms",
        plugged.elapsed().as_millis()
    );
    for r in merged.members(GROUP) {
        assert_eq!(r.nodes, ["node1"], "{} after the merge: {merged}", r.id);
    }
    wait_page(&cluster, &web, Instant::now(), Duration::from_secs(20));
    assert!(
        has_vip(&cluster, 0) && !has_vip(&cluster, 1),
        "the address only on node1"
    );
    assert!(
        has_mount(&cluster, &web, 0) && !has_mount(&cluster, &web, 1),
        "the shared disk only on node1"
    );
    let view1 = cluster.status_from(0).unwrap();
    assert_eq!(
        view1.placed_on(GROUP),
        Some("node1"),
        "node1 agrees: {view1}"
    );
}
