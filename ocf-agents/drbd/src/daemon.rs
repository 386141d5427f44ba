//! The agent's side of shimaid: where the resource's files are, its status over the control
//! socket, and starting it. Monitor sends one `status` request: no process is forked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ocf::command::{run, Deadline};
use ocf::{OcfEnv, OcfError, Result};
use shimaid::control::{call, ControlError, Reply, Request, StatusReport};
use shimaid::setup::Settings;

/// shimaid's exit code for "would need --force: no up-to-date data" (drbdadm's 17).
pub const NEEDS_FORCE: i32 = 17;

/// How long a daemon that closes connections unanswered (it is exiting) is given to go.
const SETTLE: Duration = Duration::from_secs(5);

/// One resource on this node.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub settings: Settings,
}

/// The answer to a state-changing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Refused { code: i32, message: String },
}

impl Daemon {
    /// Settings as shimaiadm resolves them: `drbdconf` (else `SHIMAI_CONFIG`, else
    /// `/etc/shimai/shimai.conf`, else `/etc/drbd.conf`), `SHIMAI_NODE` or `uname -n`,
    /// `SHIMAI_RUN_DIR` or `/run/shimai`.
    pub fn new(env: &OcfEnv, resource: &str) -> Daemon {
        let config = env
            .reskey("drbdconf")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env.var("SHIMAI_CONFIG")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| {
                let ours = Path::new("/etc/shimai/shimai.conf");
                if ours.exists() || !Path::new("/etc/drbd.conf").exists() {
                    ours.to_path_buf()
                } else {
                    PathBuf::from("/etc/drbd.conf")
                }
            });
        let node = env
            .var("SHIMAI_NODE")
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let run_dir = env
            .var("SHIMAI_RUN_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        Daemon {
            settings: Settings::resolve(Some(config), node, run_dir, resource.to_string()),
        }
    }

    pub fn config(&self) -> &Path {
        &self.settings.config
    }

    /// The status, or `None` when no daemon answers on the control socket.
    ///
    /// A daemon on its way down may accept a connection and close it unanswered; that is
    /// asked again for up to [`SETTLE`], until it answers or is gone.
    pub fn status(&self, deadline: &Deadline) -> Result<Option<StatusReport>> {
        let settle = Deadline::after(SETTLE.min(deadline.remaining()));
        loop {
            match call(
                &self.settings.ctl_socket(),
                &Request::Status,
                timeout(deadline),
            ) {
                Ok(Reply::Status(s)) => return Ok(Some(*s)),
                Ok(other) => {
                    return Err(OcfError::generic(format!(
                        "unexpected answer to status from shimaid on {}: {other:?}",
                        self.settings.ctl_socket().display()
                    )))
                }
                Err(ControlError::Unreachable { .. }) => return Ok(None),
                Err(ControlError::Protocol { .. }) if !settle.expired() => {
                    settle.sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(OcfError::generic(e.to_string())),
            }
        }
    }

    /// A state-changing request. An unreachable daemon is an error.
    pub fn request(&self, req: &Request, deadline: &Deadline) -> Result<Outcome> {
        match call(&self.settings.ctl_socket(), req, timeout(deadline)) {
            Ok(Reply::Ok { .. }) => Ok(Outcome::Done),
            Ok(Reply::Refused { code, message }) => Ok(Outcome::Refused { code, message }),
            Ok(other) => Err(OcfError::generic(format!(
                "unexpected answer from shimaid: {other:?}"
            ))),
            Err(e) => Err(OcfError::generic(e.to_string())),
        }
    }

    /// Starts `shimaid -c CONFIG RES` detached; it returns once its control socket answers.
    pub fn spawn(&self, env: &OcfEnv, deadline: &Deadline) -> Result<()> {
        let exe = find_shimaid(env).ok_or_else(|| {
            OcfError::installed(
                "Setup problem: couldn't find command: shimaid (install it beside this agent or on PATH)",
            )
        })?;
        let mut cmd = Command::new(exe);
        cmd.arg("-c")
            .arg(self.config())
            .arg("--node")
            .arg(&self.settings.node)
            .arg("--run-dir")
            .arg(&self.settings.run_dir)
            .arg(&self.settings.resource);
        let out = run(&mut cmd, deadline)?;
        if out.success() {
            return Ok(());
        }
        let why = out
            .stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message")
            .to_string();
        Err(OcfError::generic(format!(
            "shimaid {} did not start (exit {}): {why}; see {}",
            self.settings.resource,
            out.code(),
            self.settings.log_file().display()
        )))
    }
}

fn timeout(deadline: &Deadline) -> Duration {
    deadline
        .remaining()
        .clamp(Duration::from_millis(500), Duration::from_secs(30))
}

/// `shimaid` beside this executable (an installed set, or cargo's target directory), then
/// in the libexec and bin directories of a package, then on PATH.
fn find_shimaid(env: &OcfEnv) -> Option<PathBuf> {
    if env.tester_fails_binaries() {
        return None;
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| std::fs::canonicalize(exe).ok())
        .and_then(|exe| exe.parent().map(|d| d.join("shimaid")));
    beside
        .filter(|p| p.is_file())
        .or_else(|| {
            ["/usr/sbin/shimaid", "/usr/lib/shimai/shimaid"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        })
        .or_else(|| ocf::command::find_binary(env, "shimaid"))
}
