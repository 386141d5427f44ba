//! The test bed's network: a hub namespace holding a bridge (the switch),
//! and one veth cable per node from a bridge port to the node's `eth0`.
//! Pulling a cable is setting the hub-side port down, which the node sees
//! as lost carrier, exactly as with a real cable.

use super::error::{Error, Result};
use super::exec::{ip, output, run};
use std::process::Command;
use std::time::Duration;

/// The first three octets of every test-bed address. Each cluster has its
/// own namespaces, so parallel clusters never see each other's addresses.
pub const SUBNET: &str = "10.77.0";

/// The hub's own address: where clients (curl) run.
pub fn hub_addr() -> String {
    format!("{SUBNET}.254")
}

/// The hub namespace and its bridge.
#[derive(Debug)]
pub struct Hub {
    ns: String,
}

impl Hub {
    /// Creates the hub namespace `ns` with bridge `br0` at `SUBNET.254/24`.
    pub fn create(ns: &str) -> Result<Hub> {
        ip(&["netns", "add", ns])?;
        let hub = Hub { ns: ns.to_string() };
        let setup = (|| {
            hub.ip(&["link", "set", "lo", "up"])?;
            hub.ip(&["link", "add", "br0", "type", "bridge"])?;
            hub.ip(&["addr", "add", &format!("{}/24", hub_addr()), "dev", "br0"])?;
            hub.ip(&["link", "set", "br0", "up"])
        })();
        match setup {
            Ok(_) => Ok(hub),
            Err(e) => {
                hub.destroy();
                Err(e)
            }
        }
    }

    /// The hub of an existing test bed (for `scripts/cluster`).
    pub fn existing(ns: &str) -> Hub {
        Hub { ns: ns.to_string() }
    }

    /// The hub namespace's name.
    pub fn name(&self) -> &str {
        &self.ns
    }

    fn ip(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-n", self.ns.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Cables namespace `node_ns` to the bridge: hub port `port`, node side
    /// `eth0` with `addr/24`, both up, and the node's loopback up.
    pub fn plug(&self, node_ns: &str, port: &str, addr: &str) -> Result<()> {
        self.ip(&[
            "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", node_ns,
        ])?;
        self.ip(&["link", "set", port, "master", "br0"])?;
        self.ip(&["link", "set", port, "up"])?;
        let node = |args: &[&str]| {
            let mut all = vec!["-n", node_ns];
            all.extend_from_slice(args);
            ip(&all)
        };
        node(&["addr", "add", &format!("{addr}/24"), "dev", "eth0"])?;
        node(&["link", "set", "eth0", "up"])?;
        node(&["link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Plugs (`up`) or pulls (`!up`) the cable at hub port `port`.
    pub fn set_port(&self, port: &str, up: bool) -> Result<()> {
        self.ip(&["link", "set", port, if up { "up" } else { "down" }])
            .map(drop)
    }

    /// A command run inside the hub namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }

    /// `GET url` from the hub, as a client on the LAN would; the body on a
    /// 2xx answer, else an error with curl's message.
    pub fn http_get(&self, url: &str, timeout: Duration) -> Result<String> {
        let secs = format!("{:.1}", timeout.as_secs_f64());
        run(self.command("curl").args([
            "-sS",
            "--fail",
            "--max-time",
            &secs,
            "--connect-timeout",
            &secs,
            url,
        ]))
    }

    /// Deletes the hub namespace after killing what runs in it (by PID).
    pub fn destroy(&self) {
        kill_netns_pids(&self.ns);
        let _ = output(Command::new("ip").args(["netns", "del", &self.ns]));
    }
}

/// SIGKILLs every process whose network namespace is `ns`.
pub fn kill_netns_pids(ns: &str) {
    if let Ok(o) = output(Command::new("ip").args(["netns", "pids", ns])) {
        for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// True when network namespace `ns` exists.
pub fn netns_exists(ns: &str) -> bool {
    std::path::Path::new("/run/netns").join(ns).exists()
}

/// Maps an `ip` failure to a usage error when the namespace is missing.
pub fn require_netns(ns: &str) -> Result<()> {
    if netns_exists(ns) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "network namespace {ns} does not exist: is the cluster up?"
        )))
    }
}
