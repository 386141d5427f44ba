//! ha.cf timers and media as Corosync 3 (knet) settings.
//!
//! Heartbeat declared a node dead after `deadtime`; Corosync does after the
//! token timeout plus the consensus time (1.2 × token by default), so the
//! token is deadtime / 2.2 to keep the same failover time, never below
//! Corosync's 3 s default. Media become knet links; ha.cf has no node
//! addresses except in `ucast` lines, so links whose addresses are unknown
//! are reported instead of invented.

use crate::authkeys::Method;
use crate::hacf::{HaCf, Medium};
use crate::model::{Corosync, Link};

pub fn corosync(
    cf: Option<&HaCf>,
    nodes: &[String],
    auth: Option<Method>,
    warnings: &mut Vec<String>,
) -> Corosync {
    let mut c = Corosync {
        token_ms: 3000,
        nodes: nodes.iter().map(|n| (n.clone(), Vec::new())).collect(),
        ..Corosync::default()
    };
    match auth {
        Some(m) => {
            let msg = format!(
                "authkeys used {}{}; this corosync.conf encrypts with aes256 and authenticates with sha256: create the key with `corosync-keygen -k /etc/corosync/authkey` and copy it to every node (mode 0400)",
                m.name(),
                if m == Method::Crc { " (no authentication at all)" } else { "" }
            );
            c.comments.push(msg.clone());
            warnings.push(msg);
        }
        None => c.comments.push(
            "create the key with `corosync-keygen -k /etc/corosync/authkey` and copy it to every node (mode 0400)".into(),
        ),
    }
    let Some(cf) = cf else {
        c.links.push(Link {
            port: 5405,
            comment: "no ha.cf: one link on the node names' addresses".into(),
        });
        for n in &mut c.nodes {
            n.1.push(n.0.clone());
        }
        return c;
    };
    c.token_ms = ((cf.deadtime_ms as f64 / 2.2).round() as u64).max(3000);
    c.comments.push(format!(
        "deadtime {} ms: token {} ms plus consensus (1.2 x token) detects a dead node in about the same time",
        cf.deadtime_ms, c.token_ms
    ));
    c.token_warning = Some((cf.warntime_ms * 100 / cf.deadtime_ms).clamp(1, 99));
    c.knet_ping = Some((
        cf.keepalive_ms,
        (2 * cf.keepalive_ms)
            .min(c.token_ms / 2)
            .max(cf.keepalive_ms),
    ));
    c.comments.push(format!(
        "initdead {} ms: Pacemaker waits dc-deadtime at start-up, and two_node implies wait_for_all",
        cf.initdead_ms
    ));
    links(cf, &mut c, warnings);
    if let Some(model) = &cf.compression {
        let model = match model.as_str() {
            "bz2" => "bzip2".to_string(),
            other => other.to_string(),
        };
        c.compression = Some((model, cf.compression_threshold_kb.map(|k| k * 1024)));
    }
    c.logfile = cf.logfile.clone();
    c.syslog_facility = cf.logfacility.clone();
    c.debug = cf.debug;
    c
}

fn links(cf: &HaCf, c: &mut Corosync, warnings: &mut Vec<String>) {
    // One link per interface, in the order ha.cf first mentions it.
    let mut ifaces: Vec<(String, u16, String, Vec<String>)> = Vec::new();
    let mut add = |iface: &str, port: u16, what: String, peer: Option<&String>| {
        let i = match ifaces.iter().position(|e| e.0 == iface) {
            Some(i) => i,
            None => {
                ifaces.push((iface.to_string(), port, what, Vec::new()));
                ifaces.len() - 1
            }
        };
        if let Some(p) = peer {
            ifaces[i].3.push(p.clone());
        }
    };
    for m in &cf.media {
        match m {
            Medium::Bcast { ifaces: list, port } => {
                for i in list {
                    add(i, *port, format!("bcast {i}"), None);
                }
            }
            Medium::Ucast { iface, peer, port } => {
                add(iface, *port, format!("ucast {iface}"), Some(peer));
            }
            Medium::Mcast { iface, group, port } => {
                warnings.push(format!(
                    "mcast {iface} {group}: knet is unicast; the link uses the nodes' addresses, not the group"
                ));
                add(iface, *port, format!("mcast {iface} {group}"), None);
            }
            Medium::Serial(dev) => warnings.push(format!(
                "serial {dev}: Corosync has no serial links; dropped"
            )),
        }
    }
    if ifaces.is_empty() {
        ifaces.push(("".into(), 5405, "no medium in ha.cf".into(), Vec::new()));
    }
    let n = c.nodes.len();
    for (iface, port, what, peers) in ifaces {
        let addrs: Option<Vec<String>> = if peers.len() == n {
            c.comments.push(format!(
                "{what}: the peers are given to the nodes in ha.cf order; check that each ring{}_addr is that node's own address",
                c.links.len()
            ));
            Some(peers)
        } else if c.links.is_empty() {
            Some(c.nodes.iter().map(|(name, _)| name.clone()).collect())
        } else {
            None
        };
        match addrs {
            Some(a) => {
                let comment = if c.links.is_empty() && a.first() == c.nodes.first().map(|x| &x.0) {
                    format!("{what}: the addresses are the node names; write each node's address on {iface} if the names resolve elsewhere")
                } else {
                    what
                };
                for (node, addr) in c.nodes.iter_mut().zip(a) {
                    node.1.push(addr);
                }
                c.links.push(Link { port, comment });
            }
            None => {
                let msg = format!(
                    "{what}: ha.cf does not say the nodes' addresses on {iface}; add `interface {{ linknumber: {} }}` and a ring{}_addr per node by hand",
                    c.links.len(),
                    c.links.len()
                );
                c.comments.push(msg.clone());
                warnings.push(msg);
            }
        }
    }
}
