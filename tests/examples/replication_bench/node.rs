//! shimaid resources for the benchmark: one config file per resource naming two nodes on
//! 127.0.0.1 and 127.0.0.2, a run directory per node, and requests over each node's control
//! socket (one JSON line each way), as `shimaiadm` sends them.
//!
//! The daemons start detached (in their own session, so a Ctrl-C on the terminal does not
//! reach them); dropping a [`Resource`] sends `down` to each node it started and then SIGKILL
//! to any PID that still runs this resource's command line.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use shimai_tests::cluster::{Error, Result};

use crate::{io_err, run};

/// The two node names; node 0 is the one that becomes Primary.
pub const NAMES: [&str; 2] = ["alpha", "beta"];

/// How a resource is configured.
pub struct Spec<'a> {
    pub name: &'a str,
    /// `A` or `C`.
    pub protocol: char,
    /// The first device minor (node 1 gets the next one).
    pub minor: u32,
    pub port: u16,
}

/// The fields of a node's status the benchmark reads.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub connection: String,
    pub disk: String,
    pub peer_disk: String,
    pub size_kib: u64,
    pub oos_kib: u64,
}

impl Status {
    fn from_json(v: &Value) -> Status {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        Status {
            connection: s("connection"),
            disk: s("disk"),
            peer_disk: s("peer_disk"),
            size_kib: v["size_kib"].as_u64().unwrap_or(0),
            oos_kib: v["counters"]["oos"].as_u64().unwrap_or(0),
        }
    }

    /// Connected, both disks UpToDate: a resync (if any) is over.
    pub fn in_sync(&self) -> bool {
        self.connection == "Connected" && self.disk == "UpToDate" && self.peer_disk == "UpToDate"
    }
}

/// One replicated resource: its config, and the nodes that were started.
pub struct Resource {
    pub name: String,
    conf: PathBuf,
    dir: PathBuf,
    shimaid: PathBuf,
    pids: [Option<i32>; 2],
}

impl Resource {
    /// Writes the config (backing files `DIR/NAME-NODE.img`, which the caller creates) and
    /// fresh metadata on both nodes' files.
    pub fn create(dir: &Path, shimaid: &Path, spec: &Spec) -> Result<Resource> {
        let r = Resource {
            name: spec.name.to_string(),
            conf: dir.join(format!("{}.conf", spec.name)),
            dir: dir.to_path_buf(),
            shimaid: shimaid.to_path_buf(),
            pids: [None, None],
        };
        let mut hosts = String::new();
        for (i, n) in NAMES.iter().enumerate() {
            let run_dir = r.run_dir(i);
            std::fs::create_dir_all(&run_dir).map_err(|e| io_err(&run_dir, e))?;
            hosts.push_str(&format!(
                "  on {n} {{ device {dev} minor {minor}; disk {disk}; address 127.0.0.{a}:{port}; meta-disk internal; }}\n",
                dev = dir.join(format!("{}-{n}.dev", spec.name)).display(),
                minor = spec.minor + i as u32,
                disk = r.disk(i).display(),
                a = i + 1,
                port = spec.port,
            ));
        }
        // DRBD 8.4's defaults except: reconnect after 1 s, and a resync limited by the
        // machine, not by the 250 KiB/s default rate.
        let text = format!(
            "resource {name} {{\n  protocol {p};\n  net {{ connect-int 1; }}\n  \
             disk {{ resync-rate 4G; c-max-rate 0; }}\n  options {{ attach none; }}\n{hosts}}}\n",
            name = spec.name,
            p = spec.protocol,
        );
        std::fs::write(&r.conf, text).map_err(|e| io_err(&r.conf, e))?;
        for i in 0..2 {
            run(r.shimaid(i).arg("--create-md").arg(&r.name))?;
        }
        Ok(r)
    }

    /// The backing file of node `i`.
    pub fn disk(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}-{}.img", self.name, NAMES[i]))
    }

    fn run_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}-{}.run", self.name, NAMES[i]))
    }

    /// The NBD export of node `i` (there while it is Primary).
    pub fn nbd_uri(&self, i: usize) -> String {
        format!(
            "nbd+unix:///{}?socket={}",
            self.name,
            self.run_dir(i).join(format!("{}.nbd", self.name)).display()
        )
    }

    /// The daemon's PID, when node `i` was started.
    pub fn pid(&self, i: usize) -> Option<i32> {
        self.pids[i]
    }

    fn shimaid(&self, i: usize) -> Command {
        let mut c = Command::new(&self.shimaid);
        c.arg("-c")
            .arg(&self.conf)
            .arg("--node")
            .arg(NAMES[i])
            .env("SHIMAI_RUN_DIR", self.run_dir(i));
        c
    }

    /// Starts node `i` (detached); returns once it answers on its control socket.
    pub fn up(&mut self, i: usize) -> Result<()> {
        run(self.shimaid(i).arg(&self.name))?;
        let pid_file = self.run_dir(i).join(format!("{}.pid", self.name));
        let text = std::fs::read_to_string(&pid_file).map_err(|e| io_err(&pid_file, e))?;
        let pid = text.trim().parse().map_err(|_| Error::Parse {
            source: pid_file.display().to_string(),
            detail: format!("not a PID: {text:?}"),
        })?;
        self.pids[i] = Some(pid);
        Ok(())
    }

    /// One control request to node `i`; the reply.
    pub fn ctl(&self, i: usize, req: &str) -> Result<Value> {
        let path = self.run_dir(i).join(format!("{}.ctl", self.name));
        let mut s = UnixStream::connect(&path).map_err(|e| io_err(&path, e))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| io_err(&path, e))?;
        s.write_all(format!("{req}\n").as_bytes())
            .map_err(|e| io_err(&path, e))?;
        let mut line = String::new();
        BufReader::new(s)
            .read_line(&mut line)
            .map_err(|e| io_err(&path, e))?;
        serde_json::from_str(&line).map_err(|e| Error::Parse {
            source: format!("the reply of {} on {} to {req}", self.name, NAMES[i]),
            detail: format!("{e}: {line:?}"),
        })
    }

    /// A request that must be answered `ok`.
    pub fn ok(&self, i: usize, req: &str) -> Result<()> {
        let reply = self.ctl(i, req)?;
        if reply["reply"] == "ok" {
            return Ok(());
        }
        Err(Error::Command {
            command: format!("{req} to {} on {}", self.name, NAMES[i]),
            status: reply["code"].as_i64().map(|c| c as i32),
            output: reply["message"].as_str().unwrap_or_default().to_string(),
        })
    }

    pub fn status(&self, i: usize) -> Result<Status> {
        Ok(Status::from_json(&self.ctl(i, r#"{"cmd":"status"}"#)?))
    }

    /// Polls node `i`'s status every `every` until `done` holds; the status that did.
    pub fn wait(
        &self,
        i: usize,
        what: &str,
        timeout: Duration,
        every: Duration,
        done: impl Fn(&Status) -> bool,
    ) -> Result<Status> {
        let start = Instant::now();
        loop {
            let s = self.status(i)?;
            if done(&s) {
                return Ok(s);
            }
            if start.elapsed() > timeout {
                return Err(Error::Timeout {
                    what: format!("{what} ({} on {})", self.name, NAMES[i]),
                    waited: start.elapsed(),
                    last: format!("{s:?}"),
                });
            }
            std::thread::sleep(every);
        }
    }

    /// Both nodes up and connected, the initial sync skipped (the backing files hold the same
    /// data), node 0 Primary.
    pub fn up_in_sync(&mut self) -> Result<()> {
        self.up(0)?;
        self.up(1)?;
        let (t, poll) = (Duration::from_secs(20), Duration::from_millis(50));
        self.wait(0, "Connected", t, poll, |s| s.connection == "Connected")?;
        self.ok(0, r#"{"cmd":"new-current-uuid","clear_bitmap":true}"#)?;
        self.wait(0, "UpToDate on both", t, poll, Status::in_sync)?;
        self.ok(0, r#"{"cmd":"primary"}"#)
    }

    /// True while `pid` runs this resource's daemon (a PID is reused once it exits).
    fn ours(&self, pid: i32) -> bool {
        let conf = self.conf.display().to_string();
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&conf))
    }
}

impl Drop for Resource {
    fn drop(&mut self) {
        for i in 0..2 {
            if self.pids[i].is_some() {
                let _ = self.ctl(i, r#"{"cmd":"down"}"#);
            }
        }
        for i in 0..2 {
            let Some(pid) = self.pids[i].take() else {
                continue;
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.ours(pid) && !zombie(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.ours(pid) && !zombie(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
}
