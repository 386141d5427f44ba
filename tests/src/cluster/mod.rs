//! The Pacemaker test bed: a real Pacemaker + Corosync cluster of two or
//! three nodes on one Linux machine, each node in its own network, mount,
//! UTS, IPC and PID namespaces (see [`node`]), cabled to a bridge in a hub
//! namespace (see [`net`]).
//!
//! Why real daemons: shimai's agents and generated configurations are only
//! right if Pacemaker itself accepts and drives them, and failover behaviour
//! (membership loss, quorum, stickiness, split brain without fencing) is
//! Corosync's and Pacemaker's, not ours to simulate.
//!
//! Fencing is disabled (`stonith-enabled=false`): there is no fence device
//! on one machine. [`Cluster::start`] says so on stderr. A production
//! cluster needs fencing; without it a cut link in a two-node cluster runs
//! the resources on both sides until the link returns.
//!
//! Used by the `cluster*` suites and by `scripts/cluster up|down|status`.

pub mod client;
pub mod config;
pub mod error;
mod exec;
pub mod net;
pub mod node;
mod state;
pub mod status;
pub mod timings;
pub mod web;
pub mod xml;

pub use config::ClusterOptions;
pub use error::{Error, Result};
pub use node::Node;
pub use status::ClusterStatus;
pub use timings::FailoverTimings;
pub use web::{Provider, WebStack};

use config::NodeAddr;
use exec::{mkdir, run, write};
use net::{hub_addr, Hub, SUBNET};
use state::STATE_FILE;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// The notice printed whenever a cluster starts.
pub const FENCING_NOTICE: &str = "shimai test bed: fencing is DISABLED (stonith-enabled=false): \
     no fence device exists here. Production clusters need fencing.";

/// A running test-bed cluster. Dropping it kills every node and removes
/// its namespaces, unless [`Cluster::keep`] was called.
pub struct Cluster {
    pub opts: ClusterOptions,
    root: PathBuf,
    hub: Hub,
    nodes: Vec<Node>,
    keep: bool,
    _tmp: Option<crate::TempDir>,
}

impl Cluster {
    /// Starts a cluster for a test: fresh names, a temporary root, and waits
    /// until every node is online with a DC elected.
    pub fn start(opts: ClusterOptions) -> Result<Cluster> {
        let tmp = crate::TempDir::new("cluster");
        let prefix = crate::unique("shimai-cl");
        let mut c = Cluster::create(opts, tmp.path(), &prefix)?;
        c._tmp = Some(tmp);
        c.boot_all()?;
        Ok(c)
    }

    /// Starts a cluster whose namespaces are named `PREFIX-hub`,
    /// `PREFIX-node1`... and whose files live in `root` (for `scripts/cluster`).
    pub fn start_at(opts: ClusterOptions, root: &Path, prefix: &str) -> Result<Cluster> {
        if root.join(STATE_FILE).exists() {
            return Err(Error::Usage(format!(
                "{} exists: a cluster is already up there (run `scripts/cluster down` first)",
                root.join(STATE_FILE).display()
            )));
        }
        let mut c = Cluster::create(opts, root, prefix)?;
        c.boot_all()?;
        c.save()?;
        Ok(c)
    }

    fn create(opts: ClusterOptions, root: &Path, prefix: &str) -> Result<Cluster> {
        if !(2..=9).contains(&opts.nodes) {
            return Err(Error::Usage(format!(
                "a test-bed cluster has 2 to 9 nodes, not {}",
                opts.nodes
            )));
        }
        mkdir(root)?;
        // Apache's worker (www-data) walks through it to the DocumentRoot,
        // whatever the umask of whoever started the test bed.
        exec::chmod(root, 0o755)?;
        let hub = Hub::create(&format!("{prefix}-hub"))?;
        let mut c = Cluster {
            nodes: Vec::new(),
            root: root.to_path_buf(),
            hub,
            keep: false,
            _tmp: None,
            opts,
        };
        let shimai = web::Provider::from_env().agents_dir();
        for i in 1..=c.opts.nodes as u32 {
            c.nodes.push(Node {
                name: format!("node{i}"),
                id: i,
                addr: format!("{SUBNET}.{i}"),
                root: root.join(format!("node{i}")),
                netns: format!("{prefix}-node{i}"),
                port: format!("port{i}"),
                init: None,
                shimai_agents: shimai.clone(),
            });
        }
        let addrs: Vec<NodeAddr> = c
            .nodes
            .iter()
            .map(|n| NodeAddr {
                name: n.name.clone(),
                id: n.id,
                addr: n.addr.clone(),
            })
            .collect();
        let conf = config::corosync_conf(&c.opts, &addrs);
        let cib = config::initial_cib(&c.opts);
        for n in &c.nodes {
            n.prepare()?;
            write(&n.file("etc/corosync/corosync.conf"), &conf)?;
            let cib_path = n.file("var/lib/pacemaker/cib/cib.xml");
            write(&cib_path, &cib)?;
            run(Command::new("chown")
                .arg("hacluster:haclient")
                .arg(&cib_path))?;
            run(Command::new("chmod").arg("0600").arg(&cib_path))?;
        }
        Ok(c)
    }

    fn boot_all(&mut self) -> Result<()> {
        eprintln!("{FENCING_NOTICE}");
        for i in 0..self.nodes.len() {
            self.nodes[i].power_on(&self.hub)?;
        }
        for n in &self.nodes {
            n.start_daemons()?;
        }
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        self.wait_for(
            0,
            "every node online with a DC",
            Duration::from_secs(90),
            |s| s.dc.is_some() && s.quorum && names.iter().all(|n| s.is_online(n)),
        )
        .map(drop)
    }

    /// The cluster's files (node roots, configurations written by tests).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The hub namespace (where clients run).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The hub's address, the client's source address.
    pub fn client_addr(&self) -> String {
        hub_addr()
    }

    /// All nodes, in order (node1 first).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Node `i` (0-based).
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// The index of the node called `name`.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
                Error::Usage(format!("no node {name}; nodes are {}", known.join(", ")))
            })
    }

    /// The first node that is up, for cluster-wide commands.
    fn any_up(&self) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.is_up())
            .ok_or_else(|| Error::Usage("every node is down".into()))
    }

    /// The state as node `from` sees it (`crm_mon -1 --output-as=xml`,
    /// with the operation history).
    pub fn status_from(&self, from: usize) -> Result<ClusterStatus> {
        let xml = self.nodes[from].exec("crm_mon", &["-1", "-o", "--output-as=xml"])?;
        ClusterStatus::parse(&xml)
    }

    /// The state as the first node that is up sees it.
    pub fn status(&self) -> Result<ClusterStatus> {
        let i = self.index_of(&self.any_up()?.name)?;
        self.status_from(i)
    }

    /// `crm_mon -1` text as node `from` prints it (for humans and docs).
    pub fn crm_mon_text(&self, from: usize) -> Result<String> {
        self.nodes[from].exec("crm_mon", &["-1"])
    }

    /// Polls node `from`'s view every 300 ms until `pred` holds, or fails
    /// after `timeout` with the last state seen.
    pub fn wait_for(
        &self,
        from: usize,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&ClusterStatus) -> bool,
    ) -> Result<ClusterStatus> {
        let start = Instant::now();
        loop {
            let last = match self.status_from(from) {
                Ok(s) if pred(&s) => return Ok(s),
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            };
            if start.elapsed() > timeout {
                return Err(Error::Timeout {
                    what: format!("{what} (as {} sees it)", self.nodes[from].name),
                    waited: start.elapsed(),
                    last,
                });
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Loads a crm shell configuration (`crm configure load update FILE`)
    /// through the first node that is up.
    pub fn configure(&self, crm_text: &str) -> Result<()> {
        let file = self.root.join(format!(
            "configure-{}.crm",
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        write(&file, crm_text)?;
        let f = file.to_string_lossy().into_owned();
        self.any_up()?
            .exec("crm", &["-w", "configure", "load", "update", &f])
            .map(drop)
    }

    /// Replaces the CIB's configuration section with the one in `xml` (a
    /// whole `<cib>`, as `haresources2cib` writes, or a `<configuration>`
    /// element): `cibadmin --replace --scope configuration`. The status
    /// section, which the running cluster owns, is left alone.
    pub fn replace_configuration(&self, xml: &str) -> Result<()> {
        let start = xml.find("<configuration");
        let end = xml
            .find("</configuration>")
            .map(|e| e + "</configuration>".len());
        let section = match (start, end) {
            (Some(s), Some(e)) if s < e => &xml[s..e],
            _ => {
                return Err(Error::Parse {
                    source: "CIB XML".into(),
                    detail: "no <configuration> element".into(),
                })
            }
        };
        let file = self.root.join("configuration.xml");
        write(&file, section)?;
        let f = file.to_string_lossy().into_owned();
        self.any_up()?
            .exec(
                "cibadmin",
                &["--replace", "--scope", "configuration", "--xml-file", &f],
            )
            .map(drop)
    }

    /// Runs `crm ARGS...` on the first node that is up; returns stdout.
    pub fn crm(&self, args: &[&str]) -> Result<String> {
        self.any_up()?.exec("crm", args)
    }

    /// Power loss of node `i`; returns the moment of the kill.
    pub fn kill_node(&mut self, i: usize) -> SystemTime {
        let t = SystemTime::now();
        self.nodes[i].power_off();
        t
    }

    /// Powers node `i` on again and starts its daemons (its CIB and logs
    /// survive, as on a disk; /run and /dev/shm start empty).
    pub fn restart_node(&mut self, i: usize) -> Result<()> {
        if self.nodes[i].is_up() {
            return Err(Error::Usage(format!(
                "{} is already up",
                self.nodes[i].name
            )));
        }
        self.nodes[i].power_off();
        self.nodes[i].power_on(&self.hub)?;
        self.nodes[i].start_daemons()
    }

    /// Pulls node `i`'s cable (its hub port goes down).
    pub fn cut_link(&self, i: usize) -> Result<()> {
        self.hub.set_port(&self.nodes[i].port, false)
    }

    /// Plugs node `i`'s cable back in.
    pub fn restore_link(&self, i: usize) -> Result<()> {
        self.hub.set_port(&self.nodes[i].port, true)
    }

    /// `GET url` from the hub namespace.
    pub fn http_get(&self, url: &str, timeout: Duration) -> Result<String> {
        self.hub.http_get(url, timeout)
    }

    /// Leaves the cluster running when this value is dropped (`scripts/cluster up`).
    pub fn keep(mut self) {
        self.keep = true;
    }

    /// Stops everything now: every node, then the hub.
    pub fn destroy(&mut self) {
        for n in &mut self.nodes {
            n.power_off();
        }
        self.hub.destroy();
        let _ = std::fs::remove_file(self.root.join(STATE_FILE));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.keep {
            self.destroy();
        }
    }
}
