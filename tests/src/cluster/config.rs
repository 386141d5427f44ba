//! The files each node boots with: `corosync.conf` (knet over the node
//! addresses) and a first CIB holding the test-bed cluster options, so the
//! very first election already runs with them instead of Pacemaker's
//! production defaults (a 20 s `dc-deadtime`, fencing required).

use std::fmt::Write as _;

/// Timing and quorum settings shared by every node of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Number of nodes (2 uses votequorum's `two_node`).
    pub nodes: usize,
    /// corosync `totem.token` in ms: how long a silent node takes to be
    /// declared lost (consensus adds 1.2 times this before the new membership).
    pub token_ms: u32,
    /// `cluster-recheck-interval`, e.g. "30s".
    pub recheck: String,
    /// `no-quorum-policy`: "stop" (the default and the right one), or "ignore".
    pub no_quorum_policy: String,
    /// `resource-stickiness` default. 0 with a location preference is
    /// Heartbeat's `auto_failback on`.
    pub stickiness: u32,
    /// The cluster's name in corosync.conf.
    pub cluster_name: String,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            nodes: 2,
            token_ms: 2000,
            recheck: "30s".into(),
            no_quorum_policy: "stop".into(),
            stickiness: 0,
            cluster_name: "shimai".into(),
        }
    }
}

/// A node's identity on the test bed's network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddr {
    pub name: String,
    pub id: u32,
    pub addr: String,
}

/// `corosync.conf` for `nodes`: knet, no crypto (the hub network is private
/// to the test), a hires log file that [`super::timings`] reads.
pub fn corosync_conf(opts: &ClusterOptions, nodes: &[NodeAddr]) -> String {
    let mut s = format!(
        "# Written by shimai's cluster test bed.\n\
         totem {{\n    version: 2\n    cluster_name: {}\n    transport: knet\n    \
         token: {}\n    crypto_cipher: none\n    crypto_hash: none\n}}\n\nnodelist {{\n",
        opts.cluster_name, opts.token_ms
    );
    for n in nodes {
        let _ = write!(
            s,
            "    node {{\n        name: {}\n        nodeid: {}\n        ring0_addr: {}\n    }}\n",
            n.name, n.id, n.addr
        );
    }
    s.push_str("}\n\nquorum {\n    provider: corosync_votequorum\n");
    if nodes.len() == 2 {
        // two_node implies wait_for_all: after a cold start both nodes must
        // have been seen once before either may run resources alone.
        s.push_str("    two_node: 1\n");
    }
    s.push_str(
        "}\n\nlogging {\n    to_logfile: yes\n    logfile: /var/log/corosync/corosync.log\n    \
         to_syslog: no\n    to_stderr: no\n    timestamp: hires\n}\n",
    );
    s
}

/// The cluster options as `(name, value)` pairs, in the order written.
pub fn properties(opts: &ClusterOptions) -> Vec<(&'static str, String)> {
    vec![
        // No fence device exists on the test bed; production clusters need one.
        ("stonith-enabled", "false".into()),
        ("no-quorum-policy", opts.no_quorum_policy.clone()),
        ("cluster-recheck-interval", opts.recheck.clone()),
        ("dc-deadtime", "5s".into()),
        ("cluster-name", opts.cluster_name.clone()),
    ]
}

/// The CIB each node starts from: options only, no resources.
pub fn initial_cib(opts: &ClusterOptions) -> String {
    let mut s = String::from(
        "<cib validate-with=\"pacemaker-3.9\" epoch=\"1\" \
         num_updates=\"0\" admin_epoch=\"0\">\n  <configuration>\n    <crm_config>\n      \
         <cluster_property_set id=\"cib-bootstrap-options\">\n",
    );
    for (k, v) in properties(opts) {
        let _ = writeln!(
            s,
            "        <nvpair id=\"cib-bootstrap-options-{k}\" name=\"{k}\" value=\"{v}\"/>"
        );
    }
    let _ = write!(
        s,
        "      </cluster_property_set>\n    </crm_config>\n    <nodes/>\n    <resources/>\n    \
         <constraints/>\n    <rsc_defaults>\n      <meta_attributes id=\"rsc-options\">\n        \
         <nvpair id=\"rsc-options-resource-stickiness\" name=\"resource-stickiness\" value=\"{}\"/>\n      \
         </meta_attributes>\n    </rsc_defaults>\n  </configuration>\n  <status/>\n</cib>\n",
        opts.stickiness
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: u32) -> Vec<NodeAddr> {
        (1..=n)
            .map(|i| NodeAddr {
                name: format!("node{i}"),
                id: i,
                addr: format!("10.77.0.{i}"),
            })
            .collect()
    }

    #[test]
    fn two_nodes_get_two_node_quorum_and_three_do_not() {
        let two = corosync_conf(&ClusterOptions::default(), &nodes(2));
        assert!(two.contains("two_node: 1"));
        assert!(two.contains("ring0_addr: 10.77.0.2"));
        let three = corosync_conf(
            &ClusterOptions {
                nodes: 3,
                ..Default::default()
            },
            &nodes(3),
        );
        assert!(!three.contains("two_node"));
        assert_eq!(three.matches("nodeid:").count(), 3);
    }

    #[test]
    fn the_first_cib_disables_fencing_and_sets_stickiness() {
        let cib = initial_cib(&ClusterOptions {
            stickiness: 100,
            ..Default::default()
        });
        assert!(cib.contains("name=\"stonith-enabled\" value=\"false\""));
        assert!(cib.contains("name=\"resource-stickiness\" value=\"100\""));
        assert!(cib.contains("name=\"no-quorum-policy\" value=\"stop\""));
    }

    #[test]
    fn pacemaker_accepts_the_first_cib() {
        if !crate::have_program("first_cib", "crm_verify") {
            return;
        }
        let dir = crate::TempDir::new("cib");
        let path = dir.join("cib.xml");
        std::fs::write(&path, initial_cib(&ClusterOptions::default())).unwrap();
        let out = std::process::Command::new("crm_verify")
            .arg("-x")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "crm_verify rejects the first CIB: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
