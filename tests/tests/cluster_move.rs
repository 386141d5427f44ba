//! Maintenance switchover of SCENARIOS.md 4: `crm resource move` takes the
//! web group to the other node (the browser sees the same page), `crm
//! resource clear` removes the pin and the group returns to its preferred
//! node.

mod cluster_support;

use cluster_support::{can_run, has_vip, wait_group_on, wait_page, web_cluster};
use std::time::{Duration, Instant};

#[test]
fn move_and_clear_switch_the_web_group_over_and_back() {
    if !can_run("cluster_move") {
        return;
    }
    let (cluster, web) = web_cluster(2);

    let t = Instant::now();
    cluster.crm(&["resource", "move", "web", "node2"]).unwrap();
    wait_group_on(&cluster, 0, "node2", Duration::from_secs(30));
    let moved = wait_page(&cluster, &web, t, Duration::from_secs(20));
    eprintln!(
        "crm resource move -> page from node2 after {} ms",
        moved.as_millis()
    );
    assert!(has_vip(&cluster, 1) && !has_vip(&cluster, 0));
    let constraints = cluster
        .crm(&["configure", "show", "type:location"])
        .unwrap();
    assert!(
        constraints.contains("cli-prefer-web"),
        "move pins with cli-prefer-web:\n{constraints}"
    );

    let t = Instant::now();
    cluster.crm(&["resource", "clear", "web"]).unwrap();
    wait_group_on(&cluster, 0, "node1", Duration::from_secs(30));
    let back = wait_page(&cluster, &web, t, Duration::from_secs(20));
    eprintln!(
        "crm resource clear -> page from node1 after {} ms",
        back.as_millis()
    );
    let constraints = cluster
        .crm(&["configure", "show", "type:location"])
        .unwrap();
    assert!(
        !constraints.contains("cli-prefer-web"),
        "clear removed the pin:\n{constraints}"
    );
    assert!(has_vip(&cluster, 0) && !has_vip(&cluster, 1));
}
