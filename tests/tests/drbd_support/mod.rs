//! Running `ocf:shimai:drbd` on one node of a [`Pair`] (two shimaid nodes on 127.0.0.1 and
//! 127.0.0.2): the OCF environment of a two-node promotable clone, and a guard that brings
//! down the daemons the agent started (the pair only knows the ones it started itself).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use shimai_tests::{AgentRun, TempDir};

#[path = "../replication_support/mod.rs"]
pub mod replication_support;

pub mod cluster;

pub use replication_support::{Pair, NAMES};

/// The agent binary.
pub fn agent() -> PathBuf {
    shimai_tests::bin("ocf-drbd")
}

/// The clone's meta attributes as Pacemaker passes them, plus the agent's parameters for
/// node `i` of `pair` and its SHIMAI_* environment.
pub struct NodeEnv {
    pub vars: Vec<(String, String)>,
}

impl NodeEnv {
    pub fn new(pair: &Pair, i: usize, rsctmp: &Path) -> NodeEnv {
        let mut vars: Vec<(String, String)> = [
            ("OCF_RESKEY_drbd_resource", "r0"),
            ("OCF_RESKEY_CRM_meta_clone_max", "2"),
            ("OCF_RESKEY_CRM_meta_clone_node_max", "1"),
            ("OCF_RESKEY_CRM_meta_promoted_max", "1"),
            ("OCF_RESKEY_CRM_meta_promoted_node_max", "1"),
            ("OCF_RESKEY_CRM_meta_notify", "true"),
            ("OCF_RESKEY_CRM_meta_promotable", "true"),
            ("OCF_RESKEY_wfc_timeout", "10"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.push((
            "OCF_RESKEY_drbdconf".into(),
            pair.confs[i].display().to_string(),
        ));
        vars.push(("SHIMAI_NODE".into(), NAMES[i].into()));
        vars.push((
            "SHIMAI_RUN_DIR".into(),
            pair.run_dir(i).display().to_string(),
        ));
        vars.push(("HA_RSCTMP".into(), rsctmp.display().to_string()));
        NodeEnv { vars }
    }

    /// Sets (or replaces) one variable.
    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.vars.retain(|(n, _)| n != k);
        self.vars.push((k.into(), v.into()));
        self
    }

    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.vars.retain(|(n, _)| n != k);
        self
    }

    /// Runs one action (a recurring monitor unless `interval_ms` says otherwise).
    pub fn run(&self, action: &str, interval_ms: &str) -> AgentRun {
        let mut env: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.push(("OCF_RESKEY_CRM_meta_interval", interval_ms));
        shimai_tests::run_agent(&agent(), action, "p_drbd", &env, None)
    }

    /// `ocf-tester` over the agent with this environment; (passed, output).
    pub fn ocf_tester(&self) -> (bool, String) {
        let mut cmd = Command::new("ocf-tester");
        cmd.args(["-v", "-n", "p_drbd"]);
        for (k, v) in &self.vars {
            match k.strip_prefix("OCF_RESKEY_") {
                Some(name) => {
                    cmd.arg("-o").arg(format!("{name}={v}"));
                }
                None => {
                    cmd.env(k, v);
                }
            }
        }
        cmd.arg(agent());
        let out = shimai_tests::run(&mut cmd);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (
            out.status.success() && text.contains("passed all tests"),
            text,
        )
    }
}

/// Brings down, on drop, any shimaid the agent started for node `i`: `down` over the
/// control socket, then SIGKILL to the PID in its pid file if that process still runs our
/// configuration. Declare it after the [`Pair`] so it drops first.
pub struct Reaper {
    pub run_dirs: Vec<PathBuf>,
    pub confs: Vec<String>,
}

impl Reaper {
    pub fn new(pair: &Pair) -> Reaper {
        Reaper {
            run_dirs: (0..2).map(|i| pair.run_dir(i)).collect(),
            confs: pair.confs.iter().map(|c| c.display().to_string()).collect(),
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for (dir, conf) in self.run_dirs.iter().zip(&self.confs) {
            if let Ok(mut s) = UnixStream::connect(dir.join("r0.ctl")) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = s.write_all(b"{\"cmd\":\"secondary\"}\n");
                let mut line = String::new();
                let _ = BufReader::new(&s).read_line(&mut line);
            }
            if let Ok(mut s) = UnixStream::connect(dir.join("r0.ctl")) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = s.write_all(b"{\"cmd\":\"down\"}\n");
                let mut line = String::new();
                let _ = BufReader::new(s).read_line(&mut line);
            }
            std::thread::sleep(Duration::from_millis(200));
            let pid = std::fs::read_to_string(dir.join("r0.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok());
            if let Some(pid) = pid {
                let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(conf.as_str()));
                if ours {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

/// A private `HA_RSCTMP` for the agent's score cache and promoted marker.
pub fn rsctmp(test: &str) -> TempDir {
    TempDir::new(&format!("{test}-rsctmp"))
}
