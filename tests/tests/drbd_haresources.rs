//! SCENARIOS.md 5's DRBD variant end to end: the Heartbeat line
//! `host01 IPaddr2::... drbddisk::r0 Filesystem::/dev/drbd0::/mnt httpd`, converted by
//! `haresources2cib --drbd-provider shimai`, runs on the Pacemaker test bed with shimai's
//! replicated device and fails over with the data intact, then fails back
//! (`auto_failback on`) with what was written meanwhile.
//!
//! Adapted to the test bed as `cluster_heartbeat` is (node names, the address on its
//! subnet, `apache` for `httpd`), plus: the device is the replicated resource's path in
//! each node's private /run, and `drbdconf` is added to the converted primitive, because
//! the nodes share the host's /etc and the test must not write /etc/shimai there.

mod drbd_support;

use std::process::Command;
use std::time::Duration;

use drbd_support::cluster::{can_run, two_node_cluster, wait_adm, DrbdWeb, LoopReaper};
use shimai_tests::TempDir;

const GROUP: &str = "group_1";

const HA_CF: &str = "\
keepalive 2
deadtime 30
initdead 30
bcast eth0
auto_failback on
node node1
node node2
";

#[test]
fn converted_drbddisk_line_fails_over_and_back_with_the_data() {
    if !can_run("drbd_haresources", &[]) {
        return;
    }
    let mut cluster = two_node_cluster();
    let web = DrbdWeb::prepare(&cluster, "10.77.0", "");
    let _loops = LoopReaper(web.res.clone());

    let etc = TempDir::new("drbd-ha.d");
    let line = format!(
        "node1 IPaddr2::{vip}/24/eth0 drbddisk::{res} Filesystem::{dev}::{doc}::ext4 apache::{conf}\n",
        vip = shimai_tests::cluster::web::vip(),
        res = web.res,
        dev = web.device,
        doc = web.docroot.display(),
        conf = web.apache_conf.display(),
    );
    std::fs::write(etc.join("haresources"), &line).unwrap();
    std::fs::write(etc.join("ha.cf"), HA_CF).unwrap();
    let out = shimai_tests::run(
        Command::new(shimai_tests::bin("haresources2cib"))
            .current_dir(etc.path())
            .args(["--stdout", "-c", "ha.cf", "--provider", "shimai"])
            .args(["--drbd-provider", "shimai", "haresources"]),
    );
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "haresources2cib: {warnings}");
    eprintln!("haresources: {line}haresources2cib said:\n{warnings}");
    let cib = String::from_utf8(out.stdout).unwrap();
    assert!(
        cib.contains(r#"provider="shimai" type="drbd""#),
        "drbddisk must become ocf:shimai:drbd: {cib}"
    );
    let anchor = format!(r#"name="drbd_resource" value="{}"/>"#, web.res);
    assert!(cib.contains(&anchor), "{cib}");
    let cib = cib.replacen(
        &anchor,
        &format!(
            r#"{anchor}<nvpair id="drbd-testbed-drbdconf" name="drbdconf" value="{}"/>"#,
            web.conf.display()
        ),
        1,
    );
    cluster
        .replace_configuration(&cib)
        .unwrap_or_else(|e| panic!("cibadmin --replace: {e}"));
    cluster
        .wait_for(0, "group_1 on node1", Duration::from_secs(90), |s| {
            s.placed_on(GROUP) == Some("node1")
        })
        .unwrap_or_else(|e| panic!("{e}"));
    web.wait_page(&cluster, 20);
    assert_eq!(web.data_sum_on(&cluster, 0), web.data_sum);

    // Power loss of node1: node2 promotes and serves the same data; it writes more.
    cluster.kill_node(0);
    let outage = web.wait_page(&cluster, 90);
    eprintln!(
        "power loss of node1 -> page again after {} ms",
        outage.as_millis()
    );
    cluster
        .wait_for(1, "group_1 on node2", Duration::from_secs(30), |s| {
            s.placed_on(GROUP) == Some("node2")
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(web.data_sum_on(&cluster, 1), web.data_sum);
    let later = web.docroot.join("written-on-node2").display().to_string();
    cluster
        .node(1)
        .exec("sh", &["-c", &format!("echo failover > {later} && sync")])
        .unwrap();

    // node1 returns: it resyncs from node2, then auto_failback moves the group back
    // (demote on node2, promote on node1) with node2's writes.
    cluster
        .restart_node(0)
        .unwrap_or_else(|e| panic!("restart: {e}"));
    cluster
        .wait_for(1, "group_1 back on node1", Duration::from_secs(120), |s| {
            s.placed_on(GROUP) == Some("node1")
        })
        .unwrap_or_else(|e| panic!("{e}"));
    web.wait_page(&cluster, 20);
    assert_eq!(
        cluster.node(0).exec("cat", &[&later]).unwrap().trim(),
        "failover"
    );
    assert_eq!(web.data_sum_on(&cluster, 0), web.data_sum);
    wait_adm(
        &cluster,
        1,
        &web.conf,
        "role",
        &web.res,
        "Secondary/Primary",
        20,
    );
}
