//! The scenario suites play SCENARIOS.md's runbooks as an operator types them: one
//! configuration file, two nodes on this machine (127.0.0.1 and 127.0.0.2), and on each node a
//! shell whose environment says which node it is (`SHIMAI_NODE`), where its runtime files are
//! (`SHIMAI_RUN_DIR`) and which file is `/etc/shimai/shimai.conf` (`SHIMAI_CONFIG`), so the
//! commands themselves are the runbook's, word for word.
//!
//! A [`Site`] owns everything it makes, and its `Drop` removes it even after a failed
//! assertion: the file systems the test mounted, the daemons (`shimaiadm down all`, then
//! SIGKILL by the PID in each pid file, only if that PID still runs a daemon of this site),
//! loop devices over files of the site, nbdfuse processes naming the site's directory (by PID),
//! and the temporary directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shimai_tests::TempDir;

/// What one command did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with everything the command said unless it exited with `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// stderr without the configuration warnings every verb repeats (0.7 options).
    pub fn errors(&self) -> String {
        self.stderr
            .lines()
            .filter(|l| !l.contains(": warning: "))
            .map(|l| format!("{l}\n"))
            .collect()
    }
}

/// One node: its name in the configuration and its runtime directory.
pub struct Node {
    pub name: &'static str,
    pub run: PathBuf,
    conf: PathBuf,
    path: String,
}

impl Node {
    /// `shimaiadm ARGS` on this node.
    pub fn adm(&self, args: &[&str]) -> Run {
        let mut c = self.env(Command::new(shimai_tests::bin("shimaiadm")));
        c.args(args);
        output(&mut c)
    }

    /// A shell command line on this node (`shimaiadm` is on its PATH).
    pub fn sh(&self, script: &str) -> Run {
        let mut c = self.env(Command::new("sh"));
        c.args(["-c", script]);
        output(&mut c)
    }

    fn env(&self, mut c: Command) -> Command {
        c.env("SHIMAI_CONFIG", &self.conf)
            .env("SHIMAI_NODE", self.name)
            .env("SHIMAI_RUN_DIR", &self.run)
            .env("PATH", &self.path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    /// The PID of `res`'s shimaid on this node, if it runs one.
    pub fn daemon_pid(&self, res: &str) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.run.join(format!("{res}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let conf = self.conf.display().to_string();
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd);
        (cmd.contains("shimaid") && cmd.contains(&conf) && cmd.contains(self.name)).then_some(pid)
    }

    /// The daemon's log of `res`.
    pub fn log(&self, res: &str) -> String {
        std::fs::read_to_string(self.run.join(format!("{res}.log"))).unwrap_or_default()
    }
}

/// The command's output; panics only if it cannot be started.
fn output(c: &mut Command) -> Run {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn processes() -> Vec<(i32, String)> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| {
            let pid = p.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cmd = std::fs::read(p.path().join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&cmd).into_owned()))
        })
        .collect()
}

/// SIGKILL to `pid`, then waits (up to 5 s) until it is gone or a zombie.
pub fn kill9(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two nodes sharing one configuration file, in one temporary directory.
pub struct Site {
    pub dir: TempDir,
    pub conf: PathBuf,
    pub nodes: [Node; 2],
    mounts: Vec<PathBuf>,
}

impl Site {
    /// Makes the directory, `DIR/NAME/` for each node (its "disks" and "devices"), the run
    /// directories, and writes the configuration `text(DIR)`.
    pub fn new(test: &str, names: [&'static str; 2], text: impl Fn(&Path) -> String) -> Site {
        let dir = TempDir::new(test);
        let conf = dir.join("shimai.conf");
        std::fs::write(&conf, text(dir.path())).expect("write the configuration");
        // `halt` is a stand-in that records its call: a 0.7 `incon-degr-cmd "halt -f"` must
        // never be able to stop the machine running the tests.
        let fakebin = dir.join("bin");
        std::fs::create_dir_all(&fakebin).unwrap();
        let halt = fakebin.join("halt");
        std::fs::write(
            &halt,
            format!(
                "#!/bin/sh\necho \"halt $*\" >> {}\n",
                dir.join("halt.calls").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&halt, std::fs::Permissions::from_mode(0o755)).unwrap();
        let adm_dir = shimai_tests::bin("shimaiadm")
            .parent()
            .expect("the binary's directory")
            .to_path_buf();
        let path = format!(
            "{}:{}:{}",
            fakebin.display(),
            adm_dir.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
        );
        let nodes = names.map(|name| {
            let run = dir.join(&format!("run-{name}"));
            std::fs::create_dir_all(&run).unwrap();
            std::fs::create_dir_all(dir.join(name)).unwrap();
            Node {
                name,
                run,
                conf: conf.clone(),
                path: path.clone(),
            }
        });
        Site {
            dir,
            conf,
            nodes,
            mounts: Vec::new(),
        }
    }

    /// A sparse file of `mib` MiB at `DIR/rel`.
    pub fn sparse(&self, rel: &str, mib: u64) {
        std::fs::File::create(self.dir.join(rel))
            .and_then(|f| f.set_len(mib << 20))
            .expect("create a sparse backing file");
    }

    /// `DIR/rel` as a string.
    pub fn path(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }

    /// `mount DEVICE DIR` on node `i` (the mount point is made first); the result, and the
    /// mount is remembered for cleanup when it succeeded.
    pub fn mount(&mut self, i: usize, device: &str, at: &str) -> Run {
        std::fs::create_dir_all(at).unwrap();
        let r = self.nodes[i].sh(&format!("mount {device} {at}"));
        if r.code == 0 {
            self.mounts.push(PathBuf::from(at));
        }
        r
    }

    /// `umount DIR`, which must succeed.
    pub fn umount(&mut self, at: &str) {
        shimai_tests::sh(&format!("umount {at}"));
        self.mounts.retain(|m| m != Path::new(at));
    }

    /// What the `halt` stand-in was called with.
    pub fn halt_calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("halt.calls")).unwrap_or_default()
    }

    /// Remembers a mount made by a script of the test, for cleanup.
    pub fn track_mount(&mut self, at: &str) {
        self.mounts.push(PathBuf::from(at));
    }

    /// Forgets a mount that the test removed itself (e.g. with `umount -l`).
    pub fn forget_mount(&mut self, at: &str) {
        self.mounts.retain(|m| m != Path::new(at));
    }
}

/// sha256 of a file, as `sha256sum` prints it.
pub fn sha256(path: &str) -> String {
    let out = shimai_tests::sh(&format!("sha256sum {path}"));
    out.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The counters of minor `minor` in `shimaiadm proc` output, by name.
pub fn proc_counters(proc: &str, minor: u32) -> Vec<(String, u64)> {
    let head = format!(" {minor}: cs:");
    let mut lines = proc.lines().skip_while(|l| !l.starts_with(&head)).skip(1);
    let Some(counters) = lines.next() else {
        return Vec::new();
    };
    counters
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once(':')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// One counter of minor `minor` in `shimaiadm proc` output; panics when absent.
#[track_caller]
pub fn counter(proc: &str, minor: u32, name: &str) -> u64 {
    proc_counters(proc, minor)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name} for minor {minor} in\n{proc}"))
}

/// The state line of minor `minor` in `shimaiadm proc` output.
pub fn proc_state(proc: &str, minor: u32) -> String {
    let head = format!(" {minor}: ");
    proc.lines()
        .find(|l| l.starts_with(&head))
        .map(|l| l[head.len()..].to_string())
        .unwrap_or_default()
}

/// Polls `what` on node `node` (e.g. `["cstate", "r0"]`) until it prints `want`.
#[track_caller]
pub fn wait_for(node: &Node, what: &[&str], want: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = node.adm(what);
        if r.code == 0 && r.stdout.trim_end() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: `shimaiadm {}` never printed {want} (last: exit {} {}{})",
            node.name,
            what.join(" "),
            r.code,
            r.stdout,
            r.errors()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        for m in self.mounts.drain(..).rev() {
            let ok = Command::new("umount")
                .arg(&m)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(&m).status();
            }
        }
        for n in &self.nodes {
            let _ = n.adm(&["down", "all"]);
        }
        for n in &self.nodes {
            let Ok(entries) = std::fs::read_dir(&n.run) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(res) = name.strip_suffix(".pid") {
                    if let Some(pid) = n.daemon_pid(res) {
                        kill9(pid);
                    }
                }
            }
        }
        let dir = self.dir.path().display().to_string();
        if let Ok(loops) = std::fs::read_dir("/sys/block") {
            for l in loops.flatten() {
                let bf = l.path().join("loop/backing_file");
                if std::fs::read_to_string(&bf).is_ok_and(|b| b.starts_with(&dir)) {
                    let dev = format!("/dev/{}", l.file_name().to_string_lossy());
                    let _ = Command::new("umount")
                        .args(["-l", &dev])
                        .stderr(Stdio::null())
                        .status();
                    let _ = Command::new("losetup").args(["-d", &dev]).status();
                }
            }
        }
        for (pid, cmd) in processes() {
            if cmd.starts_with("nbdfuse\0") && cmd.contains(&dir) {
                kill9(pid);
            }
        }
        // The TempDir unmounts what is left below it (stale FUSE mounts) and removes it.
    }
}
