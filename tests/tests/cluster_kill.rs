//! Power loss of the active node (SCENARIOS.md 4): the web group starts on
//! the other node and the client gets the same page from the same address;
//! when the node comes back, the group returns to it (`auto_failback on`:
//! stickiness 0 and a location preference).

mod cluster_support;

use cluster_support::{can_run, has_mount, has_vip, wait_group_on, wait_page, web_cluster};
use shimai_tests::cluster::{timings::failover_timings, web::GROUP};
use std::time::{Duration, Instant};

#[test]
fn killing_the_active_node_moves_the_web_group_and_it_comes_back() {
    if !can_run("cluster_kill") {
        return;
    }
    let (mut cluster, web) = web_cluster(2);

    let started = Instant::now();
    let killed_at = cluster.kill_node(0);
    let outage = wait_page(&cluster, &web, started, Duration::from_secs(60));
    eprintln!(
        "kill node1 -> first good response from {}: {} ms",
        web.url(),
        outage.as_millis()
    );
    wait_group_on(&cluster, 1, "node2", Duration::from_secs(30));
    let st = cluster.status_from(1).unwrap();
    assert!(
        !st.is_online("node1"),
        "node1 still online after power loss: {st}"
    );
    assert!(st.quorum, "two_node keeps quorum for the survivor: {st}");
    assert!(has_vip(&cluster, 1) && has_mount(&cluster, &web, 1));

    let t = failover_timings(&cluster, 1, killed_at, GROUP).unwrap();
    eprintln!("failover timings: {t}");
    assert_eq!(
        t.agent_ops
            .iter()
            .map(|o| o.resource.as_str())
            .collect::<Vec<_>>(),
        ["web-ip", "web-fs", "web-server"],
        "the group starts in order on node2"
    );
    // The page cannot come back before the survivor saw node1 go.
    assert!(t.detection() < outage, "{t} vs outage {outage:?}");
    assert!(
        t.total() < Duration::from_secs(30),
        "failover too slow: {t}"
    );

    cluster.restart_node(0).unwrap();
    wait_group_on(&cluster, 0, "node1", Duration::from_secs(60));
    wait_page(&cluster, &web, Instant::now(), Duration::from_secs(20));
    assert!(
        has_vip(&cluster, 0) && !has_vip(&cluster, 1),
        "VIP only on node1 after failback"
    );
    assert!(
        !has_mount(&cluster, &web, 1),
        "node2 released the shared disk"
    );
}
