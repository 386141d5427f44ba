//! One cluster node: its own network, mount, UTS, IPC and PID namespaces,
//! held open by a small init process (PID 1 of the node's PID namespace).
//!
//! Everything the node runs (corosync, pacemakerd and its children, the
//! resource agents, the web server) is started with `nsenter` into that
//! init's namespaces, so it sees the node's hostname, addresses and private
//! state directories. Killing the init with SIGKILL makes the kernel kill
//! every process of the node at once, which is what a power loss looks like
//! to the rest of the cluster.

use super::error::{Error, Result};
use super::exec::{chmod, mkdir, output, run, write};
use super::net::{kill_netns_pids, Hub};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The directories each node gets its own copy of, bind-mounted from the
/// node's root: Pacemaker's CIB and scheduler inputs, corosync's ring ids,
/// the resource agents' state, every log (pacemaker, corosync, crmsh,
/// apache) and the corosync configuration. `/run` (with `/var/run`,
/// `/run/crm`, `/run/resource-agents`) and `/dev/shm` (libqb's IPC
/// buffers) are fresh tmpfs instead, as after a reboot.
pub const PRIVATE_DIRS: &[&str] = &[
    "/var/lib/pacemaker",
    "/var/lib/corosync",
    "/var/lib/heartbeat",
    "/var/log",
    "/etc/corosync",
];

/// Pacemaker's state directories, owned by hacluster:haclient as the
/// Debian package creates them.
const PACEMAKER_DIRS: &[&str] = &[
    "var/lib/pacemaker/cib",
    "var/lib/pacemaker/pengine",
    "var/lib/pacemaker/blackbox",
    "var/lib/pacemaker/cores",
    "var/log/pacemaker/bundles",
];

/// A cluster node of the test bed.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub id: u32,
    pub addr: String,
    /// The node's persistent directories (its "disk").
    pub root: PathBuf,
    /// Its network namespace.
    pub netns: String,
    /// Its cable's port on the hub bridge.
    pub port: String,
    /// The host PID of its init, while powered on.
    pub init: Option<u32>,
    /// Where `ocf:shimai:*` agents come from, if used.
    pub shimai_agents: Option<PathBuf>,
}

impl Node {
    /// Creates the node's directories (owned as Pacemaker expects).
    pub fn prepare(&self) -> Result<()> {
        for d in PRIVATE_DIRS {
            mkdir(&self.root.join(d.trim_start_matches('/')))?;
        }
        for d in PACEMAKER_DIRS.iter().chain(&[
            "var/log/corosync",
            "var/log/crmsh",
            "var/log/apache2",
            "home",
        ]) {
            mkdir(&self.root.join(d))?;
        }
        // They stand in for /var/log, /var/lib...: traversable by the
        // daemons that run as hacluster, whatever the caller's umask.
        let open_dirs = ["", "var", "var/lib", "etc", "home"];
        for d in open_dirs.iter().chain(PRIVATE_DIRS).chain(&[
            "var/log/corosync",
            "var/log/crmsh",
            "var/log/apache2",
        ]) {
            chmod(&self.root.join(d.trim_start_matches('/')), 0o755)?;
        }
        run(Command::new("chown")
            .args(["-R", "hacluster:haclient"])
            .args([
                self.root.join("var/lib/pacemaker"),
                self.root.join("var/log/pacemaker"),
            ]))?;
        run(Command::new("chmod")
            .arg("0750")
            .args(PACEMAKER_DIRS[..4].iter().map(|d| self.root.join(d))))?;
        run(Command::new("chmod")
            .arg("0770")
            .arg(self.root.join("var/log/pacemaker")))?;
        Ok(())
    }

    /// Path of `rel` (e.g. "etc/corosync/corosync.conf") on the node's disk.
    pub fn file(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// Powers the node on: namespace, cable to the hub, init process.
    /// Daemons are started separately by [`Node::start_daemons`].
    pub fn power_on(&mut self, hub: &Hub) -> Result<()> {
        run(Command::new("ip").args(["netns", "add", &self.netns]))?;
        hub.plug(&self.netns, &self.port, &self.addr)?;
        let script = self.root.join("init.sh");
        write(&script, &init_script(self))?;
        // `unshare --pid` without `--fork`: the first child of the shell
        // becomes PID 1 of the new namespace, the shell prints its host PID
        // and exits, so no helper process stays between us and the init.
        let out = run(Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .args([
                "unshare",
                "--pid",
                "--mount",
                "--uts",
                "--ipc",
                "--propagation",
                "private",
                "sh",
                "-c",
                "sh \"$1\" </dev/null >\"$2\" 2>&1 & echo $!",
                "init",
            ])
            .arg(&script)
            .arg(self.root.join("init.log")))?;
        let pid: u32 = out.trim().parse().map_err(|_| Error::Parse {
            source: "node init start".into(),
            detail: format!("expected a PID, got {out:?}"),
        })?;
        self.init = Some(pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        // The init renames itself once its mounts are done.
        while !self.is_up() {
            if !process_running(pid) || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.root.join("init.log")).unwrap_or_default();
                return Err(Error::Command {
                    command: format!("init of {}", self.name),
                    status: None,
                    output: log,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// True while the node's init runs. The PID must still be our init
    /// (its command line names the node): a state file that outlived a
    /// reboot must never make us signal an unrelated process.
    pub fn is_up(&self) -> bool {
        self.init.is_some_and(|pid| {
            process_running(pid)
                && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    String::from_utf8_lossy(&c).trim_end_matches('\0')
                        == format!("shimai-node-init {}", self.name)
                })
        })
    }

    /// A command run on the node: in all its namespaces, with a clean
    /// environment (UTC timestamps in the logs, a per-node HOME for crmsh).
    pub fn command(&self, program: &str) -> Result<Command> {
        let pid = self
            .init
            .filter(|_| self.is_up())
            .ok_or_else(|| Error::Usage(format!("node {} is down", self.name)))?;
        let mut c = Command::new("nsenter");
        c.args([
            "-t",
            &pid.to_string(),
            "-m",
            "-u",
            "-n",
            "-p",
            "-i",
            "--wd=/",
        ])
        .arg(program)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("TZ", "UTC")
        .env("LANG", "C.UTF-8")
        .env("HOME", self.root.join("home"));
        Ok(c)
    }

    /// Runs `program args` on the node; it must succeed. Returns stdout.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        run(self.command(program)?.args(args))
    }

    /// Starts corosync (which daemonizes) and pacemakerd (which stays in the
    /// foreground, so it is detached into its own session).
    pub fn start_daemons(&self) -> Result<()> {
        self.exec(
            "sh",
            &[
                "-c",
                "corosync && { setsid pacemakerd </dev/null >>/var/log/pacemaker/pacemakerd.out 2>&1 & }",
            ],
        )
        .map(drop)
    }

    /// Power loss: SIGKILL to the init kills every process of the node at
    /// once; then its network namespace goes (its cable, and any address
    /// an agent had added, as a powered-off machine answers nothing).
    pub fn power_off(&mut self) {
        let ours = self.is_up();
        if let Some(pid) = self.init.take().filter(|_| ours) {
            // FUSE mounts of the node (nbdfuse under shimai's `attach fuse`):
            // once their daemon dies with the node, the kernel must fail
            // their I/O, or a filesystem on a loop device over them waits
            // for ever and takes the host's `sync` with it.
            let fuse = fuse_connections(pid);
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(10);
            while process_running(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            abort_fuse_connections(&fuse);
        }
        kill_netns_pids(&self.netns);
        let _ = output(Command::new("ip").args(["netns", "del", &self.netns]));
    }

    /// The node's log file `rel` (e.g. "var/log/pacemaker/pacemaker.log").
    pub fn read_log(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap_or_default()
    }
}

/// The FUSE connection numbers (the minor device numbers of FUSE mounts)
/// in the mount namespace of `pid`.
fn fuse_connections(pid: u32) -> Vec<u32> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    info.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            if !post.starts_with("fuse") {
                return None;
            }
            let majmin = pre.split(' ').nth(2)?;
            let (major, minor) = majmin.split_once(':')?;
            (major == "0").then(|| minor.parse().ok()).flatten()
        })
        .collect()
}

/// Aborts FUSE connections (as a power loss would end them), mounting
/// fusectl first if the host has not.
fn abort_fuse_connections(conns: &[u32]) {
    if conns.is_empty() {
        return;
    }
    let dir = std::path::Path::new("/sys/fs/fuse/connections");
    if std::fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
    {
        let _ = output(Command::new("mount").args([
            "-t",
            "fusectl",
            "none",
            "/sys/fs/fuse/connections",
        ]));
    }
    for c in conns {
        let _ = std::fs::write(dir.join(c.to_string()).join("abort"), "1");
    }
}

/// True when `pid` exists and is not a zombie: once the kernel has killed
/// every process of a PID namespace, its init turns into a zombie until the
/// host's init reaps it.
pub fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The node's init: mounts its private directories, then stays as PID 1,
/// reaping orphans (daemons that double-fork end up here).
fn init_script(node: &Node) -> String {
    let root = node.root.display();
    let mut s = format!(
        "# PID 1 of cluster node {name}, written by shimai's test bed.\n\
         set -e\n\
         hostname {name}\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sysfs /sys\n\
         mount -t tmpfs -o mode=0755 tmpfs /run\n\
         mount -t tmpfs -o mode=1777 tmpfs /dev/shm\n\
         mkdir -p /run/lock /run/crm /run/resource-agents /run/apache2\n\
         chown hacluster:haclient /run/crm\n",
        name = node.name
    );
    for d in PRIVATE_DIRS {
        s.push_str(&format!("mount --bind '{root}{d}' '{d}'\n"));
    }
    if let Some(dir) = &node.shimai_agents {
        // Pacemaker only looks in /usr/lib/ocf/resource.d: give the node its
        // own copy of that directory with a `shimai` provider added.
        s.push_str(&format!(
            "R=/usr/lib/ocf/resource.d\n\
             mkdir -p '{root}/ocf-orig' '{root}/ocf'\n\
             mount --bind \"$R\" '{root}/ocf-orig'\n\
             mount -t tmpfs tmpfs \"$R\"\n\
             for p in '{root}'/ocf-orig/*; do mkdir \"$R/${{p##*/}}\"; mount --bind \"$p\" \"$R/${{p##*/}}\"; done\n\
             mkdir -p \"$R/shimai\"\n\
             mount --bind '{dir}' \"$R/shimai\"\n",
            dir = dir.display()
        ));
    }
    s.push_str(&format!(
        "exec perl -e '$0 = \"shimai-node-init {name}\"; while (1) {{ sleep 1 if wait() == -1 }}'\n",
        name = node.name
    ));
    s
}
