//! SCENARIOS.md 4 with replication instead of shared storage, on the Pacemaker test bed
//! (docs/cluster.md): a promotable `ocf:shimai:drbd` clone and the web group on its
//! Promoted node. Power loss of that node: the other promotes, mounts and serves the same
//! page, and the files written before are intact; the old node comes back, resyncs and
//! stays Secondary; `e2fsck -fn` finds the file system clean after the stop.

mod drbd_support;

use std::process::Command;
use std::time::Duration;

use drbd_support::cluster::{
    adm, can_run, two_node_cluster, wait_adm, wait_down, DrbdWeb, LoopReaper, GROUP,
};

#[test]
fn power_loss_of_the_primary_fails_over_with_the_data_intact() {
    if !can_run("drbd_cluster", &["e2fsck"]) {
        return;
    }
    let mut cluster = two_node_cluster();
    let web = DrbdWeb::prepare(&cluster, "10.77.0", "");
    let _loops = LoopReaper(web.res.clone());
    cluster
        .configure(&web.crm("shimai"))
        .unwrap_or_else(|e| panic!("configure: {e}"));
    let st = cluster
        .wait_for(0, "web group started", Duration::from_secs(90), |s| {
            s.placed_on(GROUP).is_some()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let first = st.placed_on(GROUP).unwrap().to_string();
    let (p, s) = if first == "node1" { (0, 1) } else { (1, 0) };
    web.wait_page(&cluster, 20);
    assert_eq!(
        adm(&cluster, p, &web.conf, &["role", &web.res])
            .unwrap()
            .trim(),
        "Primary/Secondary"
    );
    assert_eq!(web.data_sum_on(&cluster, p), web.data_sum);

    // Power loss of the Primary's node: the survivor promotes, mounts, serves.
    cluster.kill_node(p);
    let outage = web.wait_page(&cluster, 90);
    eprintln!(
        "power loss of {first} -> page served again after {} ms",
        outage.as_millis()
    );
    let survivor = format!("node{}", s + 1);
    cluster
        .wait_for(
            s,
            "web group on the survivor",
            Duration::from_secs(30),
            |st| st.placed_on(GROUP) == Some(survivor.as_str()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        adm(&cluster, s, &web.conf, &["role", &web.res])
            .unwrap()
            .trim(),
        "Primary/Unknown"
    );
    assert_eq!(
        web.data_sum_on(&cluster, s),
        web.data_sum,
        "data changed across failover"
    );

    // The old node returns: Pacemaker starts the clone there, it resyncs and stays
    // Secondary, and the group stays where it is.
    cluster
        .restart_node(p)
        .unwrap_or_else(|e| panic!("restart: {e}"));
    wait_adm(
        &cluster,
        p,
        &web.conf,
        "dstate",
        &web.res,
        "UpToDate/UpToDate",
        90,
    );
    wait_adm(
        &cluster,
        p,
        &web.conf,
        "role",
        &web.res,
        "Secondary/Primary",
        10,
    );
    web.wait_page(&cluster, 10);
    assert_eq!(
        cluster.status_from(s).unwrap().placed_on(GROUP),
        Some(survivor.as_str())
    );

    // Stop everything through Pacemaker; both replicas hold a clean file system.
    cluster.crm(&["resource", "stop", "ms_drbd"]).unwrap();
    for i in [s, p] {
        wait_down(&cluster, i, &web.conf, &web.res, 60);
    }
    for img in &web.images {
        let out = shimai_tests::run(Command::new("e2fsck").args(["-fn"]).arg(img));
        assert!(
            out.status.success(),
            "e2fsck -fn {}: {}{}",
            img.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
