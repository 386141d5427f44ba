//! Quorum in a three-node cluster: a node cut off alone has no quorum and,
//! with `no-quorum-policy=stop`, stops its resources, while the two others
//! (a majority) take the web group over. When the cable returns, the group
//! goes back to its preferred node.

mod cluster_support;

use cluster_support::{can_run, has_mount, has_vip, wait_page, web_cluster};
use shimai_tests::cluster::web::GROUP;
use std::time::{Duration, Instant};

#[test]
fn a_node_cut_off_alone_loses_quorum_and_stops_the_group() {
    if !can_run("cluster_quorum") {
        return;
    }
    let (cluster, web) = web_cluster(3);

    let cut = Instant::now();
    cluster.cut_link(0).unwrap();
    let majority = cluster
        .wait_for(1, "group on node2 or node3", Duration::from_secs(40), |s| {
            s.quorum && matches!(s.placed_on(GROUP), Some("node2" | "node3"))
        })
        .unwrap();
    let outage = wait_page(&cluster, &web, cut, Duration::from_secs(30));
    eprintln!(
        "node1 cut off -> group on {} after {} ms",
        majority.placed_on(GROUP).unwrap_or("?"),
        outage.as_millis()
    );

    let alone = cluster
        .wait_for(
            0,
            "node1 without quorum and stopped",
            Duration::from_secs(40),
            |s| {
                !s.quorum
                    && s.members(GROUP)
                        .iter()
                        .all(|r| !r.nodes.iter().any(|n| n == "node1"))
            },
        )
        .unwrap();
    assert_eq!(alone.online(), ["node1"], "node1 sees only itself: {alone}");
    assert!(!has_vip(&cluster, 0), "node1 released the VIP");
    assert!(
        !has_mount(&cluster, &web, 0),
        "node1 unmounted the shared disk"
    );

    cluster.restore_link(0).unwrap();
    let back = cluster
        .wait_for(
            1,
            "three nodes, group on node1",
            Duration::from_secs(60),
            |s| s.online().len() == 3 && s.placed_on(GROUP) == Some("node1"),
        )
        .unwrap();
    for r in back.members(GROUP) {
        assert_eq!(r.nodes, ["node1"], "{} after the merge: {back}", r.id);
    }
    wait_page(&cluster, &web, Instant::now(), Duration::from_secs(20));
    assert!(has_vip(&cluster, 0) && !has_vip(&cluster, 1) && !has_vip(&cluster, 2));
}
