//! The state file that lets `scripts/cluster` find a running test bed
//! again from a later process: the hub's name and, per node, its name, id,
//! address, namespace, hub port and init PID.

use super::error::{Error, Result};
use super::exec::write;
use super::net::Hub;
use super::{web, Cluster, ClusterOptions, Node};
use std::path::Path;

/// The file `start_at` leaves in the cluster's root.
pub(super) const STATE_FILE: &str = "cluster.state";

impl Cluster {
    /// Writes what `scripts/cluster` needs to find this cluster again.
    pub(super) fn save(&self) -> Result<()> {
        let mut s = format!("hub {}\nnodes {}\n", self.hub.name(), self.opts.nodes);
        for n in &self.nodes {
            s.push_str(&format!(
                "node {} {} {} {} {} {}\n",
                n.name,
                n.id,
                n.addr,
                n.netns,
                n.port,
                n.init.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
            ));
        }
        write(&self.root.join(STATE_FILE), &s)
    }

    /// Finds the cluster that `start_at` left running in `root`.
    pub fn attach(root: &Path) -> Result<Cluster> {
        let path = root.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Usage(format!(
                    "no cluster is up ({} does not exist)",
                    path.display()
                ))
            } else {
                Error::io(&path, e)
            }
        })?;
        let bad = |line: usize, what: &str| Error::Parse {
            source: format!("{}:{}", path.display(), line + 1),
            detail: what.to_string(),
        };
        let mut hub = None;
        let mut nodes = Vec::new();
        let mut opts = ClusterOptions::default();
        let shimai = web::Provider::from_env().agents_dir();
        for (ln, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["hub", name] => hub = Some(Hub::existing(name)),
                ["nodes", n] => opts.nodes = n.parse().map_err(|_| bad(ln, "bad node count"))?,
                ["node", name, id, addr, netns, port, init] => nodes.push(Node {
                    name: name.to_string(),
                    id: id.parse().map_err(|_| bad(ln, "bad node id"))?,
                    addr: addr.to_string(),
                    root: root.join(name),
                    netns: netns.to_string(),
                    port: port.to_string(),
                    init: init.parse().ok(),
                    shimai_agents: shimai.clone(),
                }),
                [] => {}
                _ => return Err(bad(ln, "unknown line")),
            }
        }
        Ok(Cluster {
            opts,
            root: root.to_path_buf(),
            hub: hub.ok_or_else(|| bad(0, "no hub line"))?,
            nodes,
            keep: true,
            _tmp: None,
        })
    }

    /// Makes a cluster found by [`Cluster::attach`] go away when dropped.
    pub fn release(&mut self) {
        self.keep = false;
    }

    /// Records the current init PIDs (after a restart from `scripts/cluster`).
    pub fn persist(&self) -> Result<()> {
        self.save()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_state_file_says_no_cluster_is_up() {
        let dir = crate::TempDir::new("state");
        let e = Cluster::attach(dir.path()).err().unwrap();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("no cluster is up"), "{e}");
    }

    #[test]
    fn a_bad_line_is_reported_with_its_line_number() {
        let dir = crate::TempDir::new("state");
        std::fs::write(
            dir.join(STATE_FILE),
            "hub h\nnodes 2\nnode node1 x 10.77.0.1 ns port1 12\n",
        )
        .unwrap();
        let e = Cluster::attach(dir.path()).err().unwrap().to_string();
        assert!(
            e.contains("cluster.state:3") && e.contains("node id"),
            "{e}"
        );
    }

    #[test]
    fn a_good_file_gives_back_the_nodes() {
        let dir = crate::TempDir::new("state");
        std::fs::write(
            dir.join(STATE_FILE),
            "hub h\nnodes 2\nnode node1 1 10.77.0.1 ns1 port1 4194305\nnode node2 2 10.77.0.2 ns2 port2 -\n",
        )
        .unwrap();
        // Attached clusters are kept on drop, so nothing is killed here
        // (and no PID can be above 4194304, pid_max's limit).
        let c = Cluster::attach(dir.path()).unwrap();
        assert_eq!(c.nodes().len(), 2);
        assert_eq!(c.node(0).init, Some(4194305));
        assert_eq!(c.node(1).init, None);
        assert_eq!(c.index_of("node2").unwrap(), 1);
        assert!(c.index_of("node3").is_err());
    }
}
