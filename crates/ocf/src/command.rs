//! Running the occasional external command within the operation's deadline.
//!
//! Pacemaker kills an agent's whole process group with SIGKILL when the
//! operation timeout expires, so the agent never gets to say why. Every wait
//! an agent does is therefore bounded by a [`Deadline`] that ends a margin
//! before Pacemaker's, leaving time to report an exit reason.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{OcfEnv, OcfError, Result};

#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// `CRM_meta_timeout` from now, less `margin` (but never less than half the timeout).
    pub fn from_env(env: &OcfEnv, margin: Duration) -> Deadline {
        let t = env.timeout();
        let budget = t.saturating_sub(margin).max(t / 2);
        Deadline {
            at: Instant::now() + budget,
        }
    }

    pub fn after(d: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + d,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Sleeps for `d`, or until the deadline if that is sooner. Returns false if the deadline passed.
    pub fn sleep(&self, d: Duration) -> bool {
        let r = self.remaining();
        std::thread::sleep(d.min(r));
        !self.expired()
    }
}

/// What a finished command produced.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }
    /// The exit code, or 128+signal for a killed process, like the shell's `$?`.
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        self.status
            .code()
            .or_else(|| self.status.signal().map(|s| 128 + s))
            .unwrap_or(1)
    }
    /// stderr and stdout on one line, for log messages.
    pub fn one_line(&self) -> String {
        let s = format!("{} {}", self.stderr.trim(), self.stdout.trim());
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// Finds `name` on PATH (ocf-shellfuncs' `have_binary`), honouring ocf-tester's
/// `OCF_TESTER_FAIL_HAVE_BINARY`.
pub fn find_binary(env: &OcfEnv, name: &str) -> Option<PathBuf> {
    if env.tester_fails_binaries() {
        return None;
    }
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = env
        .var("PATH")
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    std::env::split_paths(path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `check_binary`: `OCF_ERR_INSTALLED` when a needed command is missing.
pub fn require_binary(env: &OcfEnv, name: &str) -> Result<PathBuf> {
    find_binary(env, name)
        .ok_or_else(|| OcfError::installed(format!("Setup problem: couldn't find command: {name}")))
}

/// Runs `cmd` to completion or until `deadline`, then kills it.
pub fn run(cmd: &mut Command, deadline: &Deadline) -> Result<Output> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                OcfError::installed(format!("Setup problem: couldn't find command: {program}"))
            }
            _ => OcfError::generic(format!("cannot run {program}: {e}")),
        })?;
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let mut pause = Duration::from_micros(200);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if deadline.expired() => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(OcfError::generic(format!(
                    "{program} did not finish before the operation timeout; killed it"
                )));
            }
            Ok(None) => {
                deadline.sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err(OcfError::generic(format!("waiting for {program}: {e}"))),
        }
    };
    let join = |h: Option<std::thread::JoinHandle<String>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(Output {
        status,
        stdout: join(out),
        stderr: join(err),
    })
}

fn reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_captures() {
        let d = Deadline::after(Duration::from_secs(10));
        let o = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            &d,
        )
        .unwrap();
        assert_eq!(o.code(), 3);
        assert_eq!(o.stdout, "out\n");
        assert_eq!(o.one_line(), "err out");
    }

    #[test]
    fn kills_at_deadline() {
        let d = Deadline::after(Duration::from_millis(100));
        let t = Instant::now();
        let e = run(Command::new("sleep").arg("5"), &d).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(e.exit_code(), crate::ExitCode::ErrGeneric);
    }

    #[test]
    fn missing_program_is_not_installed() {
        let d = Deadline::after(Duration::from_secs(1));
        let e = run(&mut Command::new("/nonexistent/shimai-x"), &d).unwrap_err();
        assert_eq!(e.exit_code(), crate::ExitCode::ErrInstalled);
    }
}
