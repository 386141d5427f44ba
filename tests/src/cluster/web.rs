//! The web-server stack of SCENARIOS.md 4 on the test bed: a virtual IP,
//! a filesystem on shared storage and Apache serving from it, as one
//! Pacemaker group configured through `crm configure`.
//!
//! The shared storage is a loop device: every node's mount namespace sees
//! the host's /dev, as nodes see an iSCSI LUN (SCENARIOS.md 5). Mounts are
//! private to each node, so only the node running the group has the
//! filesystem mounted.

use super::error::{Error, Result};
use super::exec::{chmod, mkdir, run, write};
use super::net::SUBNET;
use super::Cluster;
use crate::LoopDev;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Which provider's `IPaddr2` and `Filesystem` agents the stack uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// resource-agents' shell agents, `ocf:heartbeat:*`.
    Heartbeat,
    /// shimai's agents, `ocf:shimai:*`, from this `resource.d/shimai` directory.
    Shimai(PathBuf),
}

impl Provider {
    /// The single switch: shimai's agents unless `SHIMAI_CLUSTER_PROVIDER=heartbeat`
    /// asks for resource-agents' (to compare). shimai's come from
    /// `SHIMAI_OCF_ROOT` when set (what `scripts/install --ocf-root` made),
    /// else from this workspace's freshly built binaries.
    pub fn from_env() -> Provider {
        if std::env::var("SHIMAI_CLUSTER_PROVIDER").as_deref() == Ok("heartbeat") {
            return Provider::Heartbeat;
        }
        match std::env::var_os("SHIMAI_OCF_ROOT") {
            Some(root) => Provider::Shimai(PathBuf::from(root).join("resource.d/shimai")),
            None => Provider::Shimai(install_workspace_agents()),
        }
    }

    /// The OCF provider name used in the configuration.
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Heartbeat => "heartbeat",
            Provider::Shimai(_) => "shimai",
        }
    }

    /// The directory bind-mounted as the nodes' `resource.d/shimai`.
    pub fn agents_dir(&self) -> Option<PathBuf> {
        match self {
            Provider::Heartbeat => None,
            Provider::Shimai(d) => Some(d.clone()),
        }
    }
}

/// Lays the workspace's agent binaries out as `resource.d/shimai/<Agent>`
/// (as `scripts/install` does) under the target directory, and returns that
/// folder. Each file is copied to a temporary name and renamed, so suites
/// running in parallel never see a half-written agent.
fn install_workspace_agents() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace().join("target"));
    let dir = target.join("ocf-root/resource.d/shimai");
    std::fs::create_dir_all(&dir).expect("create the test OCF root");
    for (binary, agent) in [("ocf-ipaddr2", "IPaddr2"), ("ocf-filesystem", "Filesystem")] {
        let tmp = dir.join(format!(".{agent}.{}", std::process::id()));
        std::fs::copy(crate::bin(binary), &tmp).expect("copy agent");
        std::fs::rename(&tmp, dir.join(agent)).expect("install agent");
    }
    dir
}

/// The group's name.
pub const GROUP: &str = "web";

/// The virtual IP clients use.
pub fn vip() -> String {
    format!("{SUBNET}.100")
}

/// The web stack, configured on a running cluster.
pub struct WebStack {
    /// The shared disk (a loop device with ext4).
    pub disk: LoopDev,
    /// Where the group mounts it, on every node; Apache's DocumentRoot.
    pub docroot: PathBuf,
    /// The page every node serves from the shared filesystem.
    pub page: String,
    /// Apache's configuration file (the same for every node).
    pub conf: PathBuf,
    /// The `crm configure` text that was loaded (empty after
    /// [`WebStack::prepare`], which loads nothing).
    pub crm: String,
}

impl WebStack {
    /// Creates the shared disk with its page, writes Apache's configuration
    /// and loads the group, preferring `preferred` (score 100: with the
    /// default stickiness 0 the group returns there, as `auto_failback on`).
    /// Waits until the group runs there.
    pub fn install(cluster: &Cluster, provider: &Provider, preferred: &str) -> Result<WebStack> {
        let mut stack = WebStack::prepare(cluster)?;
        let p = provider.name();
        stack.crm = format!(
            "primitive web-ip ocf:{p}:IPaddr2 \\\n\
             \tparams ip={vip} cidr_netmask=24 nic=eth0 \\\n\
             \top monitor interval=5s timeout=20s\n\
             primitive web-fs ocf:{p}:Filesystem \\\n\
             \tparams device={dev} directory={doc} fstype=ext4 \\\n\
             \top monitor interval=10s timeout=40s\n\
             primitive web-server ocf:heartbeat:apache \\\n\
             \tparams configfile={conf} statusurl=\"http://localhost/server-status\" \\\n\
             \top monitor interval=5s timeout=20s\n\
             group {GROUP} web-ip web-fs web-server\n\
             location web-prefers-{preferred} {GROUP} 100: {preferred}\n",
            vip = vip(),
            dev = stack.disk.path(),
            doc = stack.docroot.display(),
            conf = stack.conf.display(),
        );
        cluster.configure(&stack.crm)?;
        let from = cluster.index_of(preferred)?;
        cluster.wait_for(
            from,
            &format!("group {GROUP} started on {preferred}"),
            Duration::from_secs(60),
            |s| s.placed_on(GROUP) == Some(preferred),
        )?;
        Ok(stack)
    }

    /// Everything the group needs except the group itself: the shared disk
    /// (ext4, holding the page) and Apache's configuration, for a test
    /// that writes its own Pacemaker configuration (such as one converted
    /// from Heartbeat). Nothing is loaded into the cluster.
    pub fn prepare(cluster: &Cluster) -> Result<WebStack> {
        let disk = LoopDev::new(32, Some("ext4"));
        let docroot = cluster.root().join("www");
        mkdir(&docroot)?;
        chmod(&docroot, 0o755)?;
        let page = format!(
            "<html><body>shimai test bed: served from the shared disk ({})</body></html>\n",
            crate::unique("page")
        );
        // Put the page on the shared filesystem, from the host, before
        // Pacemaker mounts it anywhere.
        let dev = disk.path().to_string();
        let doc = docroot.to_string_lossy().into_owned();
        run(Command::new("mount").args([&dev, &doc]))?;
        let index = docroot.join("index.html");
        let written = write(&index, &page).and_then(|()| chmod(&index, 0o644));
        run(Command::new("umount").arg(&doc))?;
        written?;
        let conf = cluster.root().join("apache.conf");
        write(&conf, &apache_conf(&doc))?;
        Ok(WebStack {
            disk,
            docroot,
            page,
            conf,
            crm: String::new(),
        })
    }

    /// The page's address on the virtual IP.
    pub fn url(&self) -> String {
        format!("http://{}/", vip())
    }

    /// Fetches the page from the hub; an error unless it is the page the
    /// shared disk holds.
    pub fn fetch(&self, cluster: &Cluster, timeout: Duration) -> Result<()> {
        let body = cluster.http_get(&self.url(), timeout)?;
        if body == self.page {
            Ok(())
        } else {
            Err(Error::Parse {
                source: self.url(),
                detail: format!("served {body:?}, expected the shared disk's page"),
            })
        }
    }
}

/// Apache's configuration: the same file for every node; the pid file and
/// the logs land in each node's private /run and /var/log.
fn apache_conf(docroot: &str) -> String {
    let m = "/usr/lib/apache2/modules";
    format!(
        "# Apache for the shimai cluster test bed (one file, every node).\n\
         ServerRoot /etc/apache2\n\
         ServerName localhost\n\
         Listen 80\n\
         LoadModule mpm_event_module {m}/mod_mpm_event.so\n\
         LoadModule authz_core_module {m}/mod_authz_core.so\n\
         LoadModule authz_host_module {m}/mod_authz_host.so\n\
         LoadModule dir_module {m}/mod_dir.so\n\
         LoadModule mime_module {m}/mod_mime.so\n\
         LoadModule status_module {m}/mod_status.so\n\
         User www-data\n\
         Group www-data\n\
         DefaultRuntimeDir /run/apache2\n\
         PidFile /run/apache2/httpd.pid\n\
         ErrorLog /var/log/apache2/error.log\n\
         TypesConfig /etc/mime.types\n\
         DirectoryIndex index.html\n\
         DocumentRoot {docroot}\n\
         <Directory {docroot}>\n    Require all granted\n</Directory>\n\
         <Location /server-status>\n    SetHandler server-status\n    Require local\n</Location>\n"
    )
}
