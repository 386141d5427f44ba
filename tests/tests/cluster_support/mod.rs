//! What the cluster suites share: the programs they need, a cluster with
//! the web group on node1, and a client loop that measures how long the
//! page was unavailable.

#![allow(dead_code)] // each suite uses its own subset

use shimai_tests::cluster::{Cluster, ClusterOptions, Provider, WebStack};
use std::time::{Duration, Instant};

/// Programs the test bed runs; a suite skips (or fails under CI=true) when
/// one is missing.
const PROGRAMS: &[&str] = &[
    "corosync",
    "pacemakerd",
    "crm",
    "crm_mon",
    "apache2",
    "curl",
    "perl",
    "nsenter",
    "unshare",
];

/// True when the suite can run: root and every program present.
pub fn can_run(test: &str) -> bool {
    shimai_tests::have_root(test) && PROGRAMS.iter().all(|p| shimai_tests::have_program(test, p))
}

/// A cluster of `nodes` nodes with the web group running on node1.
pub fn web_cluster(nodes: usize) -> (Cluster, WebStack) {
    let cluster = Cluster::start(ClusterOptions {
        nodes,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("cluster start: {e}"));
    let provider = Provider::from_env();
    eprintln!(
        "web group agents: ocf:{}:IPaddr2, ocf:{}:Filesystem",
        provider.name(),
        provider.name()
    );
    let web = WebStack::install(&cluster, &provider, "node1")
        .unwrap_or_else(|e| panic!("web group: {e}"));
    web.fetch(&cluster, Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("page before any failure: {e}"));
    (cluster, web)
}

/// Fetches the page from the hub until it is served (the shared disk's
/// page, on the virtual IP); returns the time since `since`.
pub fn wait_page(cluster: &Cluster, web: &WebStack, since: Instant, timeout: Duration) -> Duration {
    let mut last = String::new();
    while since.elapsed() < timeout {
        match web.fetch(cluster, Duration::from_millis(500)) {
            Ok(()) => return since.elapsed(),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "page not served within {timeout:?}; last error: {last}\ncluster: {}",
        cluster
            .status()
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string())
    );
}

/// Waits until node `from` sees the web group started on exactly `node`.
pub fn wait_group_on(cluster: &Cluster, from: usize, node: &str, timeout: Duration) {
    cluster
        .wait_for(from, &format!("web group on {node}"), timeout, |s| {
            s.placed_on(shimai_tests::cluster::web::GROUP) == Some(node)
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// True when node `i` has the virtual IP on one of its interfaces.
pub fn has_vip(cluster: &Cluster, i: usize) -> bool {
    let vip = shimai_tests::cluster::web::vip();
    cluster
        .node(i)
        .exec("ip", &["-o", "addr", "show"])
        .map(|out| out.contains(&format!("inet {vip}/")))
        .unwrap_or(false)
}

/// True when node `i` has the shared filesystem mounted.
pub fn has_mount(cluster: &Cluster, web: &WebStack, i: usize) -> bool {
    let doc = web.docroot.to_string_lossy().into_owned();
    cluster
        .node(i)
        .exec("cat", &["/proc/self/mountinfo"])
        .map(|m| m.lines().any(|l| l.split(' ').nth(4) == Some(doc.as_str())))
        .unwrap_or(false)
}
