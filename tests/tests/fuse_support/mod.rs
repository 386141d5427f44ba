//! What the FUSE suites share: shimai-fuse's example file server as a child process,
//! the loop device and ext4 mount over its file, all torn down on drop (writer and
//! server killed by PID, mounts unmounted lazily, the loop device detached), and a
//! watch for tasks stuck in uninterruptible sleep.

#![allow(dead_code)] // each suite uses its own subset

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shimai_tests::TempDir;

pub fn have(test: &str, programs: &[&str]) -> bool {
    programs.iter().all(|p| shimai_tests::have_program(test, p))
}

/// `SHIMAI_BIN_DIR/fuse-file-server`, else `target/{debug,release}/examples/`, else
/// built once with cargo.
pub fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(dir) = std::env::var("SHIMAI_BIN_DIR") {
            let p = Path::new(&dir).join("fuse-file-server");
            if p.is_file() {
                return p;
            }
        }
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| shimai_tests::workspace().join("target"));
        let find = || {
            ["debug", "release"]
                .iter()
                .map(|profile| target.join(profile).join("examples/fuse-file-server"))
                .find(|p| p.is_file())
        };
        if let Some(p) = find() {
            return p;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "shimai-fuse",
                "--example",
                "fuse-file-server",
            ])
            .current_dir(shimai_tests::workspace())
            .status()
            .expect("run cargo to build the fuse-file-server example");
        assert!(
            status.success(),
            "cargo build --example fuse-file-server failed"
        );
        find().expect("fuse-file-server built but not found under the target directory")
    })
    .clone()
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A FUSE server on `dir/fuse` serving `dir/backing`, a loop device with direct I/O on
/// `dir/fuse/data`, and optionally ext4 mounted on `dir/fs`.
pub struct Rig {
    pub server: Option<Child>,
    pub writer: Option<Child>,
    pub loop_dev: Option<String>,
    pub fs_mounted: bool,
    pub mnt: PathBuf,
    pub fs: PathBuf,
    pub backing: PathBuf,
    pub stats: PathBuf,
    pub dir: TempDir,
}

impl Rig {
    pub fn start(prefix: &str, size: u64) -> Rig {
        let dir = TempDir::new(prefix);
        let mnt = dir.join("fuse");
        let fs = dir.join("fs");
        let backing = dir.join("backing");
        let stats = dir.join("stats");
        std::fs::create_dir_all(&mnt).unwrap();
        std::fs::create_dir_all(&fs).unwrap();
        std::fs::File::create(&backing)
            .unwrap()
            .set_len(size)
            .unwrap();
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let server = Command::new(server_binary())
            .arg("serve")
            .arg(&mnt)
            .arg(&backing)
            .arg("--stats")
            .arg(&stats)
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start fuse-file-server");
        let mut rig = Rig {
            server: Some(server),
            writer: None,
            loop_dev: None,
            fs_mounted: false,
            mnt,
            fs,
            backing,
            stats,
            dir,
        };
        let file = rig.mnt.join("data");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) != size {
            if let Some(st) = rig
                .server
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("fuse-file-server exited ({st}): {}", rig.log());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not appear with {size} bytes within 10 s: {}",
                file.display(),
                rig.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let dev = run(Command::new("losetup")
            .args(["-f", "--show", "--direct-io=on"])
            .arg(&file));
        rig.loop_dev = Some(dev);
        rig
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn dev(&self) -> &str {
        self.loop_dev.as_deref().expect("loop device attached")
    }

    pub fn mkfs_and_mount(&mut self) {
        run(Command::new("mkfs.ext4").args(["-q", "-F", self.dev()]));
        run(Command::new("mount").arg(self.dev()).arg(&self.fs));
        self.fs_mounted = true;
    }

    pub fn umount_fs(&mut self) {
        run(Command::new("umount").arg(&self.fs));
        self.fs_mounted = false;
    }

    /// A counter from the server's stats file (0 before the first flush).
    pub fn stat(&self, name: &str) -> u64 {
        std::fs::read_to_string(&self.stats)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .next()
            .unwrap_or(0)
    }

    pub fn server_pid(&self) -> i32 {
        self.server.as_ref().expect("server running").id() as i32
    }

    pub fn kill_server(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(mut w) = self.writer.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        if self.fs_mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.fs).status();
        }
        if let Some(dev) = self.loop_dev.take() {
            let _ = Command::new("losetup").args(["-d", &dev]).status();
        }
        self.kill_server();
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mnt)
            .stderr(Stdio::null())
            .status();
        // TempDir's drop unmounts anything left below and removes the directory.
    }
}

/// PIDs of tasks in uninterruptible sleep (state D) right now, with their names.
pub fn d_state_tasks() -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // comm is in parentheses and may hold spaces: the state follows the last ')'.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        if stat[close + 1..].trim_start().starts_with('D') {
            let comm = stat[stat.find('(').map_or(0, |i| i + 1)..close].to_string();
            found.push((pid, comm));
        }
    }
    found
}

/// Tasks that stay in D state through every sample over `window` (a task waiting for a
/// disk is in D briefly; one waiting for a dead server stays there), leaving out those
/// in `before`.
pub fn stuck_tasks(window: Duration, before: &HashSet<u32>) -> Vec<(u32, String)> {
    let mut stuck: Vec<(u32, String)> = d_state_tasks()
        .into_iter()
        .filter(|(p, _)| !before.contains(p))
        .collect();
    let end = Instant::now() + window;
    while !stuck.is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        let now: HashSet<u32> = d_state_tasks().into_iter().map(|(p, _)| p).collect();
        stuck.retain(|(p, _)| now.contains(p));
    }
    stuck
}

/// Runs `sync` and returns how long it took, failing the test past `limit`.
pub fn timed_sync(limit: Duration) -> Duration {
    let start = Instant::now();
    let mut child = Command::new("sync").spawn().expect("run sync");
    loop {
        if child.try_wait().expect("wait for sync").is_some() {
            return start.elapsed();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("sync did not return within {limit:?}: the host would hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
