//! Helpers for the DRBD metadata suites: loop devices over sparse files of
//! any byte size, drbd-utils' `drbdmeta` (the oracle: it reads and writes
//! DRBD's metadata on a loop device without the kernel module), and
//! shimaiadm with a per-test configuration and run directory. Loop devices
//! are detached and daemons stopped on drop, also after a failed assertion;
//! daemons are killed by the PID in their pid file, never by name.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use shimai_tests::TempDir;

pub const NAMES: [&str; 2] = ["alpha", "beta"];

/// Root, drbdmeta and the other programs these suites run.
pub fn have(test: &str, programs: &[&str]) -> bool {
    shimai_tests::have_root(test)
        && ["drbdmeta", "losetup"]
            .iter()
            .chain(programs)
            .all(|p| shimai_tests::have_program(test, p))
}

/// A loop device over a sparse file of `bytes` bytes, detached on drop.
pub struct Loop {
    pub dev: String,
    pub file: PathBuf,
}

impl Loop {
    pub fn new(dir: &Path, name: &str, bytes: u64) -> Loop {
        let file = dir.join(format!("{name}.img"));
        std::fs::File::create(&file)
            .and_then(|f| f.set_len(bytes))
            .expect("sparse backing file");
        let dev = shimai_tests::sh(&format!("losetup -f --show {}", file.display()))
            .trim()
            .to_string();
        assert!(dev.starts_with("/dev/loop"), "losetup said {dev:?}");
        Loop { dev, file }
    }

    /// A second, read-write view of the first `bytes` bytes (the data area).
    pub fn view(&self, bytes: u64) -> Loop {
        let dev = shimai_tests::sh(&format!(
            "losetup -f --show --sizelimit {bytes} {}",
            self.file.display()
        ))
        .trim()
        .to_string();
        assert!(dev.starts_with("/dev/loop"), "losetup said {dev:?}");
        Loop {
            dev,
            file: self.file.clone(),
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// The text output of a command; panics with both streams unless it exits 0.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `drbdmeta --force [extra] 0 VERSION DEV INDEX ARGS...`.
pub fn drbdmeta(version: &str, dev: &str, index: &str, extra: &[&str], args: &[&str]) -> Command {
    let mut c = Command::new("drbdmeta");
    c.arg("--force")
        .args(extra)
        .args(["0", version, dev, index])
        .args(args);
    c
}

/// A number after `# NAME ` in `drbdmeta dump-md` output.
pub fn dump_value(dump: &str, name: &str) -> u64 {
    let key = format!("# {name} ");
    dump.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().trim_end_matches(';').parse().ok())
        .unwrap_or_else(|| panic!("no {name} in dump-md:\n{dump}"))
}

/// The "N KiB of data" in a shimaiadm create-md or convert-md line.
pub fn kib_of_data(line: &str) -> u64 {
    let end = line
        .find(" KiB of data")
        .unwrap_or_else(|| panic!("no size in {line}"));
    line[..end]
        .rsplit([' ', '('])
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size in {line}"))
}

/// The first four fields (current, bitmap, history) of a get-gi line.
pub fn gi4(line: &str) -> String {
    line.trim().split(':').take(4).collect::<Vec<_>>().join(":")
}

/// A two-node configuration over given disks, and shimaiadm for each node.
pub struct Setup {
    pub dir: TempDir,
    pub conf: PathBuf,
    started: Vec<usize>,
}

impl Setup {
    /// Resource r0 with `disks[i]` on node i (`meta-disk` from `meta[i]`),
    /// addresses 127.0.0.1/2 on `port`.
    pub fn new(dir: TempDir, disks: [&str; 2], meta: [&str; 2], port: u16, extra: &str) -> Setup {
        let mut hosts = String::new();
        for (i, n) in NAMES.iter().enumerate() {
            std::fs::create_dir_all(dir.join(&format!("{n}.run"))).unwrap();
            hosts.push_str(&format!(
                "  on {n} {{ device {dev} minor {i}; disk {disk}; address 127.0.0.{a}:{port}; meta-disk {m}; }}\n",
                dev = dir.join(&format!("{n}.dev")).display(),
                disk = disks[i],
                m = meta[i],
                a = i + 1,
            ));
        }
        let text = format!(
            "resource r0 {{\n  net {{ connect-int 1; ping-int 1; }}\n  disk {{ resync-rate 400M; }}\n{extra}\n{hosts}}}\n"
        );
        let conf = dir.join("shimai.conf");
        std::fs::write(&conf, text).unwrap();
        Setup {
            dir,
            conf,
            started: Vec::new(),
        }
    }

    pub fn run_dir(&self, i: usize) -> PathBuf {
        self.dir.join(&format!("{}.run", NAMES[i]))
    }

    pub fn device(&self, i: usize) -> PathBuf {
        self.dir.join(&format!("{}.dev", NAMES[i]))
    }

    /// shimaiadm as node `i`.
    pub fn adm(&self, i: usize, args: &[&str]) -> Command {
        let mut c = Command::new(shimai_tests::bin("shimaiadm"));
        for v in ["SHIMAI_CONFIG", "SHIMAI_NODE", "SHIMAI_RUN_DIR"] {
            c.env_remove(v);
        }
        c.arg("-c")
            .arg(&self.conf)
            .arg("--node")
            .arg(NAMES[i])
            .arg("--run-dir")
            .arg(self.run_dir(i))
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// shimaiadm as node `i`, which must succeed; its stdout.
    pub fn adm_ok(&self, i: usize, args: &[&str]) -> String {
        ok(&mut self.adm(i, args))
    }

    /// shimaiadm as node `i`, whatever its exit: (code, stdout + stderr).
    pub fn adm_any(&self, i: usize, args: &[&str]) -> (i32, String) {
        let out: Output = self.adm(i, args).output().expect("spawn shimaiadm");
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `shimaiadm up r0` on node `i` (the daemon is stopped on drop).
    pub fn up(&mut self, i: usize) {
        self.started.push(i);
        let (code, out) = self.adm_any(i, &["up", "r0"]);
        assert_eq!(code, 0, "up on {}: {out}\nlog:\n{}", NAMES[i], self.log(i));
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.run_dir(i).join("r0.log")).unwrap_or_default()
    }

    /// `status --json` of node `i`.
    pub fn status(&self, i: usize) -> serde_json::Value {
        let out = self.adm_ok(i, &["status", "--json", "r0"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("status --json");
        v[0].clone()
    }

    /// Waits until status field `name` of node `i` is `value`.
    pub fn wait(&self, i: usize, name: &str, value: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status(i);
            if s[name].as_str() == Some(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never had {name} = {value}: {s}\nlog {}:\n{}\nlog {}:\n{}",
                NAMES[i],
                NAMES[0],
                self.log(0),
                NAMES[1],
                self.log(1)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        shimai_tests::unmount_below(self.dir.path());
        for i in self.started.clone() {
            let _ = self
                .adm(i, &["down", "r0"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let pidfile = self.run_dir(i).join("r0.pid");
            let Some(pid) = std::fs::read_to_string(pidfile)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
            else {
                continue;
            };
            let conf = self.conf.display().to_string();
            let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&conf));
            if ours {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}
