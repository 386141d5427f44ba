//! Loading a whole CIB configuration (as `haresources2cib` writes one)
//! into a running cluster with `cibadmin --replace`, and checking that
//! Pacemaker places the resource where its constraint says.

mod cluster_support;

use cluster_support::can_run;
use shimai_tests::cluster::{config, Cluster, ClusterOptions};
use std::time::Duration;

#[test]
fn a_replaced_configuration_is_what_pacemaker_runs() {
    if !can_run("cluster_cib") {
        return;
    }
    let opts = ClusterOptions::default();
    let cluster = Cluster::start(opts.clone()).unwrap_or_else(|e| panic!("{e}"));
    let cib = config::initial_cib(&opts)
        .replace(
            "<resources/>",
            "<resources><primitive id=\"probe\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\">\
             <operations><op id=\"probe-monitor\" name=\"monitor\" interval=\"5s\"/></operations>\
             </primitive></resources>",
        )
        .replace(
            "<constraints/>",
            "<constraints><rsc_location id=\"probe-on-node2\" rsc=\"probe\" node=\"node2\" score=\"100\"/></constraints>",
        );
    cluster.replace_configuration(&cib).unwrap();
    let st = cluster
        .wait_for(0, "probe on node2", Duration::from_secs(30), |s| {
            s.placed_on("probe") == Some("node2")
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st.resource("probe").unwrap().agent, "ocf:pacemaker:Dummy");
    let shown = cluster
        .crm(&["configure", "show", "probe-on-node2"])
        .unwrap();
    assert!(shown.contains("probe 100: node2"), "{shown}");

    let err = cluster
        .replace_configuration("<cib/>")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no <configuration>"), "{err}");
}
