//! Talking to a resource's shimaid: one request per call over its control
//! socket, starting it (`up`), stopping it (`down`), waiting for states
//! (`wait-connect`, `wait-sync`) and following its events.
//!
//! The daemon owns all state; this module never guesses it. A socket that
//! does not answer means "not running" (exit 11 with the `up` hint), and a
//! refusal is passed through with the daemon's own code and words.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shimaid::control::{
    self, decode_reply, encode_request, ControlError, EventLine, Reply, Request, StatusReport,
};

use crate::context::Settings;
use crate::error::{AdmError, EXIT_FAILED, EXIT_UNREACHABLE};
use crate::format::states::replication_9;

/// How long one request may take. State changes wait for the peer (a
/// promotion under fencing, a demotion that flushes), so this is generous.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `up` waits for the new daemon's control socket, and `down` for
/// the daemon to exit.
pub const START_STOP_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// The control socket of `resource`.
pub fn socket(settings: &Settings, resource: &str) -> PathBuf {
    control::socket_path(&settings.run_dir, resource)
}

/// Sends `req`; a refusal becomes [`AdmError::Refused`].
pub fn call(settings: &Settings, resource: &str, req: &Request) -> Result<Reply, AdmError> {
    let path = socket(settings, resource);
    match control::call(&path, req, CALL_TIMEOUT) {
        Ok(Reply::Refused { code, message }) => Err(AdmError::Refused {
            code,
            message: about(resource, &message),
        }),
        Ok(reply) => Ok(reply),
        Err(ControlError::Unreachable { path, source }) => Err(AdmError::NotRunning {
            resource: resource.to_string(),
            path: path.display().to_string(),
            reason: source.to_string(),
        }),
        Err(e) => Err(AdmError::Control(e)),
    }
}

/// `message` led by the resource's name, once (the daemon may name it).
pub fn about(resource: &str, message: &str) -> String {
    if message
        .strip_prefix(resource)
        .is_some_and(|rest| rest.starts_with(':'))
    {
        message.to_string()
    } else {
        format!("{resource}: {message}")
    }
}

/// The resource's status.
pub fn status(settings: &Settings, resource: &str) -> Result<StatusReport, AdmError> {
    match call(settings, resource, &Request::Status)? {
        Reply::Status(s) => Ok(*s),
        other => Err(unexpected(settings, resource, &other)),
    }
}

/// A state-changing request; returns the daemon's message, if any.
pub fn command(
    settings: &Settings,
    resource: &str,
    req: &Request,
) -> Result<Option<String>, AdmError> {
    match call(settings, resource, req)? {
        Reply::Ok { message } => Ok(message),
        other => Err(unexpected(settings, resource, &other)),
    }
}

fn unexpected(settings: &Settings, resource: &str, reply: &Reply) -> AdmError {
    AdmError::Control(ControlError::Protocol {
        path: socket(settings, resource),
        what: format!("unexpected reply {reply:?}"),
    })
}

/// Whether a daemon answers on the resource's socket.
pub fn is_up(settings: &Settings, resource: &str) -> bool {
    UnixStream::connect(socket(settings, resource)).is_ok()
}

/// `shimaid` next to our own executable (an installed pair, or cargo's
/// target directory), else the first on `PATH`.
pub fn find_shimaid() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("shimaid")))
        .filter(|p| p.is_file());
    beside.or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join("shimaid"))
            .find(|p| p.is_file())
    })
}

/// The file that receives the new daemon's stdout and stderr, so that a
/// start-up failure can be reported (the running daemon logs to the journal).
pub fn start_log(settings: &Settings, resource: &str) -> PathBuf {
    settings.run_dir.join(format!("{resource}.log"))
}

/// `up`: starts `shimaid RES` in its own process group, then waits until
/// its control socket answers; reports its failure if it exits first.
pub fn start(settings: &Settings, resource: &str) -> Result<(), AdmError> {
    if is_up(settings, resource) {
        return Err(AdmError::Refused {
            code: EXIT_FAILED,
            message: format!(
                "{resource}: already up (shimaid answers on {}); use `shimaiadm adjust {resource}` to apply configuration changes",
                socket(settings, resource).display()
            ),
        });
    }
    let daemon = find_shimaid().ok_or_else(|| AdmError::Daemon {
        code: EXIT_FAILED,
        message: format!(
            "{resource}: cannot find the shimaid binary next to shimaiadm or on PATH; install shimai's binaries together"
        ),
    })?;
    std::fs::create_dir_all(&settings.run_dir).map_err(|source| AdmError::Device {
        path: settings.run_dir.display().to_string(),
        source,
    })?;
    let log_path = start_log(settings, resource);
    let log = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&log_path)
        .map_err(|source| AdmError::Device {
            path: log_path.display().to_string(),
            source,
        })?;
    let log_err = log.try_clone().map_err(|source| AdmError::Device {
        path: log_path.display().to_string(),
        source,
    })?;
    let mut child = Command::new(&daemon)
        .arg("-c")
        .arg(&settings.config)
        .arg("--node")
        .arg(&settings.node)
        .arg("--run-dir")
        .arg(&settings.run_dir)
        .arg(resource)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Its own process group: a Ctrl-C meant for shimaiadm or the
        // operator's shell must not reach the daemon.
        .process_group(0)
        .spawn()
        .map_err(|e| AdmError::Daemon {
            code: EXIT_FAILED,
            message: format!("{resource}: cannot start {}: {e}", daemon.display()),
        })?;
    let deadline = Instant::now() + START_STOP_TIMEOUT;
    let mut exited_ok = false;
    loop {
        if is_up(settings, resource) {
            return Ok(());
        }
        if !exited_ok {
            if let Ok(Some(st)) = child.try_wait() {
                if st.success() {
                    // It forked into the background; wait for the socket.
                    exited_ok = true;
                } else {
                    let code = st.code().unwrap_or(EXIT_FAILED);
                    return Err(AdmError::Daemon {
                        code: match code {
                            10 | 11 | 17 => code,
                            _ => EXIT_FAILED,
                        },
                        message: format!(
                            "{resource}: shimaid exited with {st}: {} (full output in {})",
                            last_line(&log_path),
                            log_path.display()
                        ),
                    });
                }
            }
        }
        if Instant::now() >= deadline {
            if !exited_ok {
                // Ours, by PID: a half-started daemon must not linger.
                let _ = child.kill();
                let _ = child.wait();
            }
            return Err(AdmError::Daemon {
                code: EXIT_FAILED,
                message: format!(
                    "{resource}: shimaid did not open {} within {} s; see {}",
                    socket(settings, resource).display(),
                    START_STOP_TIMEOUT.as_secs(),
                    log_path.display()
                ),
            });
        }
        std::thread::sleep(POLL);
    }
}

fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "no output".into())
}

/// `down`: asks the daemon to stop and waits until it has. A resource
/// that is not up is already down (as drbdadm, not an error).
pub fn stop(settings: &Settings, resource: &str) -> Result<(), AdmError> {
    match command(settings, resource, &Request::Down) {
        Ok(_) => {}
        Err(AdmError::NotRunning { .. }) => return Ok(()),
        Err(e) => return Err(e),
    }
    let pid_file = settings.run_dir.join(format!("{resource}.pid"));
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let deadline = Instant::now() + START_STOP_TIMEOUT;
    loop {
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !is_up(settings, resource) && !alive {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(AdmError::Daemon {
                code: EXIT_FAILED,
                message: format!(
                    "{resource}: shimaid accepted `down` but is still running after {} s; check the journal",
                    START_STOP_TIMEOUT.as_secs()
                ),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// What `wait-connect` and `wait-sync` wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// The peers exchange data (any connected 8.4 state).
    Connection,
    /// Connected and no resync running (`cs:Connected`).
    Sync,
}

impl WaitFor {
    /// Whether `s` is what we wait for.
    pub fn reached(self, s: &StatusReport) -> bool {
        match self {
            WaitFor::Connection => replication_9(&s.connection).is_some(),
            WaitFor::Sync => s.connection == "Connected",
        }
    }
}

/// Polls the status until `what` holds or `timeout` (None: forever) runs out.
pub fn wait(
    settings: &Settings,
    resource: &str,
    what: WaitFor,
    timeout: Option<Duration>,
) -> Result<(), AdmError> {
    let start = Instant::now();
    loop {
        let s = status(settings, resource)?;
        if what.reached(&s) {
            return Ok(());
        }
        if let Some(t) = timeout {
            if start.elapsed() >= t {
                let connected = WaitFor::Connection.reached(&s);
                return Err(AdmError::TimedOut {
                    code: if connected {
                        EXIT_FAILED
                    } else {
                        EXIT_UNREACHABLE
                    },
                    message: format!(
                        "{resource}: still cs:{} ds:{}/{} after {} s; {}",
                        s.connection,
                        s.disk,
                        s.peer_disk,
                        t.as_secs(),
                        if connected {
                            "the resync is still running; wait longer (--timeout SECONDS, 0 = forever)"
                        } else {
                            "check that the peer is up and its address reachable, or wait longer (--timeout SECONDS, 0 = forever)"
                        }
                    ),
                });
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Streams the resource's events to `sink` until the daemon ends the
/// stream; with `now`, only the current state (up to `exists -`).
pub fn events(
    settings: &Settings,
    resource: &str,
    now: bool,
    sink: &mut dyn FnMut(&EventLine),
) -> Result<(), AdmError> {
    let path = socket(settings, resource);
    let not_running = |e: std::io::Error| AdmError::NotRunning {
        resource: resource.to_string(),
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let protocol = |what: String| {
        AdmError::Control(ControlError::Protocol {
            path: path.clone(),
            what,
        })
    };
    let mut stream = UnixStream::connect(&path).map_err(not_running)?;
    if now {
        stream
            .set_read_timeout(Some(CALL_TIMEOUT))
            .map_err(|e| protocol(e.to_string()))?;
    }
    stream
        .write_all(encode_request(&Request::Events { now }).as_bytes())
        .map_err(|e| protocol(e.to_string()))?;
    for line in BufReader::new(stream).lines() {
        let line = line.map_err(|e| protocol(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        match decode_reply(&line).map_err(protocol)? {
            Reply::Event(e) => {
                sink(&e);
                if now && crate::format::events::ends_initial_state(&e) {
                    return Ok(());
                }
            }
            Reply::Refused { code, message } => {
                return Err(AdmError::Refused {
                    code,
                    message: about(resource, &message),
                })
            }
            Reply::Ok { .. } => return Ok(()),
            other => return Err(protocol(format!("unexpected reply {other:?}"))),
        }
    }
    Ok(())
}

/// Opens `path` read-only, for looking at metadata while the daemon runs.
pub(crate) fn open_ro(path: &str) -> Option<File> {
    File::open(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_resource_once() {
        assert_eq!(about("r0", "needs --force"), "r0: needs --force");
        assert_eq!(about("r0", "r0: needs --force"), "r0: needs --force");
        assert_eq!(about("r0", "r01: x"), "r0: r01: x");
    }
}
