//! The cable test of SCENARIOS.md 5: pull the active node's network cable,
//! the standby takes over; plug it back, the group returns to its
//! preferred node (`auto_failback on`) and runs there once.
//!
//! The test bed has no fencing, so during the cut both halves of the
//! two-node cluster keep quorum (`two_node`) and both run the group: the
//! cluster's own split brain. What a user sees after the cable returns is
//! what this test asserts: Pacemaker finds the group active on two nodes,
//! stops it on both and starts it on the preferred node only.

mod cluster_support;

use cluster_support::{can_run, has_mount, has_vip, wait_group_on, wait_page, web_cluster};
use shimai_tests::cluster::web::GROUP;
use std::time::{Duration, Instant};

#[test]
fn a_pulled_cable_moves_the_group_and_it_fails_back_once() {
    if !can_run("cluster_link") {
        return;
    }
    let (cluster, web) = web_cluster(2);

    let cut = Instant::now();
    cluster.cut_link(0).unwrap();
    wait_group_on(&cluster, 1, "node2", Duration::from_secs(30));
    let outage = wait_page(&cluster, &web, cut, Duration::from_secs(30));
    eprintln!(
        "cable pulled -> page served by node2 after {} ms",
        outage.as_millis()
    );

    // Without fencing, node1 goes on alone: it keeps quorum and the group.
    let node1 = cluster.status_from(0).unwrap();
    assert!(
        node1.quorum,
        "two_node: the isolated node keeps quorum: {node1}"
    );
    assert!(
        !node1.is_online("node2"),
        "node1 no longer sees node2: {node1}"
    );
    assert_eq!(
        node1.placed_on(GROUP),
        Some("node1"),
        "split brain: node1 still runs it"
    );
    assert!(
        has_vip(&cluster, 0) && has_vip(&cluster, 1),
        "both halves hold the VIP"
    );

    let plugged = Instant::now();
    cluster.restore_link(0).unwrap();
    let merged = cluster
        .wait_for(
            1,
            "both nodes online, group on node1",
            Duration::from_secs(60),
            |s| s.is_online("node1") && s.is_online("node2") && s.placed_on(GROUP) == Some("node1"),
        )
        .unwrap();
    eprintln!(
        "cable back -> group on node1 only after {} ms",
        plugged.elapsed().as_millis()
    );
    wait_page(&cluster, &web, Instant::now(), Duration::from_secs(20));

    // Once: one copy of every member, on node1; node2 holds nothing.
    for r in merged.members(GROUP) {
        assert_eq!(r.nodes, ["node1"], "{} after the merge: {merged}", r.id);
    }
    assert!(
        has_vip(&cluster, 0) && !has_vip(&cluster, 1),
        "VIP only on node1"
    );
    assert!(has_mount(&cluster, &web, 0) && !has_mount(&cluster, &web, 1));
    let logs: String = cluster
        .nodes()
        .iter()
        .map(|n| n.read_log("var/log/pacemaker/pacemaker.log"))
        .collect();
    assert!(
        logs.contains("web-ip might be active on 2 nodes"),
        "Pacemaker should have found the group on both nodes after the merge"
    );
    let view1 = cluster.status_from(0).unwrap();
    assert_eq!(
        view1.placed_on(GROUP),
        Some("node1"),
        "node1 agrees: {view1}"
    );
}
