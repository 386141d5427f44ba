//! Resource-level fencing on the Pacemaker test bed: `fencing resource-only` with
//! `shimai-crm-fence-peer`. Replication runs on its own addresses (10.78.0.N), so cutting
//! the replication link leaves the cluster link up: the Primary's fence-peer handler
//! places crm-fence-peer's constraint, and Pacemaker will not promote the stale peer even
//! when told to move the group there; once the link is back and the resync is over,
//! `shimai-crm-unfence-peer` removes the constraint and the move happens, with the data
//! written during the cut.

mod drbd_support;

use std::time::{Duration, Instant};

use drbd_support::cluster::{adm, can_run, two_node_cluster, wait_adm, DrbdWeb, LoopReaper, GROUP};
use shimai_tests::cluster::Cluster;

fn constraints(cluster: &Cluster, i: usize) -> String {
    cluster
        .node(i)
        .exec("cibadmin", &["--query", "--scope", "constraints"])
        .unwrap_or_default()
}

/// Cuts (or restores) replication between the nodes: a `prohibit` route to the peer's
/// replication address on each side; the cluster's own link (10.77.0.N) stays up.
fn replication_link(cluster: &Cluster, up: bool) {
    for (i, peer) in [(0, "10.78.0.2/32"), (1, "10.78.0.1/32")] {
        let verb = if up { "del" } else { "add" };
        cluster
            .node(i)
            .exec("ip", &["route", verb, "prohibit", peer])
            .unwrap_or_else(|e| panic!("ip route {verb} prohibit {peer}: {e}"));
    }
}

#[test]
fn cut_replication_link_fences_the_peer_until_it_has_resynced() {
    if !can_run("drbd_cluster_fencing", &["cibadmin"]) {
        return;
    }
    let cluster = two_node_cluster();
    for i in 0..2 {
        let addr = format!("10.78.0.{}/24", i + 1);
        cluster
            .node(i)
            .exec("ip", &["addr", "add", &addr, "dev", "eth0"])
            .unwrap_or_else(|e| panic!("replication address: {e}"));
    }
    let handlers = format!(
        "  net {{ fencing resource-only; }}\n  handlers {{\n    fence-peer \"{}\";\n    unfence-peer \"{}\";\n  }}\n",
        shimai_tests::bin("shimai-crm-fence-peer").display(),
        shimai_tests::bin("shimai-crm-unfence-peer").display()
    );
    let web = DrbdWeb::prepare(&cluster, "10.78.0", &handlers);
    let _loops = LoopReaper(web.res.clone());
    cluster
        .configure(&web.crm("shimai"))
        .unwrap_or_else(|e| panic!("configure: {e}"));
    let st = cluster
        .wait_for(0, "web group started", Duration::from_secs(90), |s| {
            s.placed_on(GROUP).is_some()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let primary = st.placed_on(GROUP).unwrap().to_string();
    let (p, s) = if primary == "node1" { (0, 1) } else { (1, 0) };
    let other = format!("node{}", s + 1);
    web.wait_page(&cluster, 20);
    wait_adm(
        &cluster,
        s,
        &web.conf,
        "dstate",
        &web.res,
        "UpToDate/UpToDate",
        30,
    );

    // Cut replication only: the Primary calls fence-peer, which forbids the Promoted role
    // everywhere but on the Primary's node.
    replication_link(&cluster, false);
    let id = format!("drbd-fence-by-handler-{}-ms_drbd", web.res);
    let t = Instant::now();
    while !constraints(&cluster, p).contains(&id) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no fencing constraint after the cut:\n{}",
            constraints(&cluster, p)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let c = constraints(&cluster, p);
    assert!(c.contains(&format!(r#"value="{primary}""#)), "{c}");
    wait_adm(
        &cluster,
        p,
        &web.conf,
        "dstate",
        &web.res,
        "UpToDate/Outdated",
        10,
    );
    // Written while the peer cannot see it.
    let during = web.docroot.join("during-cut").display().to_string();
    cluster
        .node(p)
        .exec(
            "sh",
            &[
                "-c",
                &format!("echo written-during-the-cut > {during} && sync"),
            ],
        )
        .unwrap();

    // Told to move the group to the stale node, Pacemaker cannot promote it there.
    cluster.crm(&["resource", "move", GROUP, &other]).unwrap();
    std::thread::sleep(Duration::from_secs(8));
    let st = cluster.status_from(p).unwrap();
    assert_eq!(st.placed_on(GROUP), Some(primary.as_str()), "{st}");
    assert_eq!(
        adm(&cluster, s, &web.conf, &["role", &web.res])
            .unwrap()
            .trim(),
        "Secondary/Unknown"
    );

    // Link back: the peer resyncs, unfence-peer removes the constraint, and the move
    // happens with the data written during the cut.
    replication_link(&cluster, true);
    let t = Instant::now();
    while constraints(&cluster, p).contains(&id) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "constraint still there after the link came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    cluster
        .wait_for(
            p,
            "web group on the resynced node",
            Duration::from_secs(60),
            |st| st.placed_on(GROUP) == Some(other.as_str()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    web.wait_page(&cluster, 20);
    let seen = cluster.node(s).exec("cat", &[&during]).unwrap();
    assert_eq!(seen.trim(), "written-during-the-cut");
    assert_eq!(web.data_sum_on(&cluster, s), web.data_sum);
    cluster.crm(&["resource", "clear", GROUP]).unwrap();
}
