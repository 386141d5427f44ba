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
                "Setup problem: couldn't find command: shimaid (looked beside this agent, in PREFIX/sbin for an agent installed as PREFIX/lib/ocf/resource.d/shimai/drbd, in /usr/sbin and on PATH; reinstall with scripts/install or the shimai package)",
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

/// `shimaid` found from this agent's own install location, whatever the prefix: beside the
/// executable (cargo's target directory), then `PREFIX/sbin` when the executable (symlinks
/// resolved) is `PREFIX/lib/ocf/resource.d/shimai/drbd` (`scripts/install --prefix PREFIX`
/// puts it there and links it from the OCF root; the package installs it there with PREFIX
/// `/usr`), then the package's directories, then PATH.
fn find_shimaid(env: &OcfEnv) -> Option<PathBuf> {
    if env.tester_fails_binaries() {
        return None;
    }
    let exe = std::env::current_exe()
        .ok()
        .and_then(|exe| std::fs::canonicalize(exe).ok());
    exe.as_deref()
        .and_then(|exe| candidates_from(exe).into_iter().find(|p| p.is_file()))
        .or_else(|| {
            ["/usr/sbin/shimaid", "/usr/lib/shimai/shimaid"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        })
        .or_else(|| ocf::command::find_binary(env, "shimaid"))
}

/// Where an agent at `exe` (symlinks resolved) looks for shimaid, in order.
fn candidates_from(exe: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Some(dir) = exe.parent() else {
        return out;
    };
    out.push(dir.join("shimaid"));
    // PREFIX/lib/ocf/resource.d/shimai -> PREFIX/sbin
    let ocf_tail = ["shimai", "resource.d", "ocf", "lib"];
    let mut up = dir;
    let mut matches = true;
    for name in ocf_tail {
        if up.file_name().and_then(|n| n.to_str()) != Some(name) {
            matches = false;
            break;
        }
        match up.parent() {
            Some(p) => up = p,
            None => {
                matches = false;
                break;
            }
        }
    }
    if matches {
        out.push(up.join("sbin").join("shimaid"));
    }
    out
}

#[cfg(test)]
mod lookup_tests {
    use super::candidates_from;
    use std::path::{Path, PathBuf};

    #[test]
    fn an_agent_under_a_prefix_looks_in_that_prefix() {
        assert_eq!(
            candidates_from(Path::new("/tmp/x/lib/ocf/resource.d/shimai/drbd")),
            [
                PathBuf::from("/tmp/x/lib/ocf/resource.d/shimai/shimaid"),
                PathBuf::from("/tmp/x/sbin/shimaid")
            ]
        );
        assert_eq!(
            candidates_from(Path::new("/usr/lib/ocf/resource.d/shimai/drbd"))[1],
            PathBuf::from("/usr/sbin/shimaid")
        );
    }

    #[test]
    fn elsewhere_only_beside() {
        assert_eq!(
            candidates_from(Path::new("/w/target/release/ocf-drbd")),
            [PathBuf::from("/w/target/release/shimaid")]
        );
        assert_eq!(
            candidates_from(Path::new("/drbd")),
            [PathBuf::from("/shimaid")]
        );
    }
}
