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
    /// The classic `/dev/fuse` path (`--no-uring`), whatever the kernel offers.
    pub fn start(prefix: &str, size: u64) -> Rig {
        Rig::start_with(prefix, size, &["--no-uring"])
    }

    /// With FUSE over io_uring when the kernel offers it.
    pub fn start_uring(prefix: &str, size: u64) -> Rig {
        Rig::start_with(prefix, size, &[])
    }

    pub fn start_with(prefix: &str, size: u64, extra: &[&str]) -> Rig {
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
            .args(extra)
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

    /// Whether the server holds an io_uring (FUSE over io_uring was negotiated); the
    /// ring is set up just after INIT, so this waits up to 2 s for it.
    pub fn server_uses_io_uring(&self) -> bool {
        let has_ring = || {
            let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", self.server_pid())) else {
                return false;
            };
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path())
                    .map(|l| l.to_string_lossy().contains("io_uring"))
                    .unwrap_or(false)
            })
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if has_ring() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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

/// ext4 on the rig's loop device: fio verify (direct random writes at depth 16, buffered
/// 1 MiB sequential writes, crc32c), requests in flight at once, an fsync counted as a
/// flush at the backend, `e2fsck -fn` on the device and then on the backing file.
pub fn ext4_fio_fsck_flush(rig: &mut Rig) {
    let name = rig.dev().trim_start_matches("/dev/").to_string();
    let dio = std::fs::read_to_string(format!("/sys/block/{name}/loop/dio")).unwrap_or_default();
    assert_eq!(dio.trim(), "1", "{} must use direct I/O", rig.dev());
    rig.mkfs_and_mount();

    let started = Instant::now();
    run(Command::new("fio").arg("--directory").arg(&rig.fs).args([
        "--verify=crc32c",
        "--do_verify=1",
        "--verify_fatal=1",
        "--output-format=terse",
        "--name=rand",
        "--size=32M",
        "--bs=64k",
        "--rw=randwrite",
        "--ioengine=libaio",
        "--iodepth=16",
        "--direct=1",
        "--name=seq",
        "--stonewall",
        "--size=24M",
        "--bs=1M",
        "--rw=write",
        "--ioengine=psync",
        "--direct=0",
        "--end_fsync=1",
    ]));
    eprintln!(
        "fio verify: {:?}, most requests in flight at the backend: {}",
        started.elapsed(),
        rig.stat("inflight_max")
    );
    assert!(
        rig.stat("inflight_max") >= 2,
        "the backend never held two requests at once (inflight_max {}): no parallel I/O",
        rig.stat("inflight_max")
    );

    // An fsync on the file system reaches the backing file as a flush.
    let before = rig.stat("flushes");
    run(Command::new("dd")
        .arg("if=/dev/urandom")
        .arg(format!("of={}", rig.fs.join("record").display()))
        .args(["bs=4k", "count=1", "conv=fsync", "status=none"]));
    let after = rig.stat("flushes");
    assert!(
        after > before,
        "fsync did not reach the backend: flushes {before} -> {after}"
    );
    eprintln!("flushes before fsync {before}, after {after}");

    rig.umount_fs();
    run(Command::new("e2fsck").args(["-fn", rig.dev()]));
    let dev = rig.loop_dev.take().unwrap();
    run(Command::new("losetup").args(["-d", &dev]));
    rig.kill_server();
    // Everything reached the backing file itself: it is a clean ext4 without FUSE.
    run(Command::new("e2fsck").arg("-fn").arg(&rig.backing));
}

/// Starts a writer that keeps writing and fsyncing on the file system until killed,
/// and waits until its flushes reach the backend.
pub fn start_writer(rig: &mut Rig) {
    let writer = Command::new("fio")
        .arg("--directory")
        .arg(&rig.fs)
        .args([
            "--name=w",
            "--size=16M",
            "--bs=4k",
            "--rw=randwrite",
            "--time_based",
            "--runtime=60",
            "--fsync=8",
            "--output=/dev/null",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fio writer");
    rig.writer = Some(writer);
    let first = rig.stat("flushes");
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.stat("flushes") < first + 3 {
        assert!(
            Instant::now() < deadline,
            "the writer's fsyncs never reached the backend"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// After the server is gone or cut off: nothing stuck in D state, `sync` within 5 s,
/// the file gives errors instead of waiting, and the connection can still be aborted.
pub fn assert_host_not_hung(rig: &Rig, before: &HashSet<u32>) {
    let stuck = stuck_tasks(Duration::from_secs(3), before);
    assert!(stuck.is_empty(), "tasks left in D state: {stuck:?}");
    let took = timed_sync(Duration::from_secs(5));
    eprintln!("sync after the server's end: {took:?}");
    let read = std::fs::File::open(rig.mnt.join("data"));
    assert!(read.is_err(), "the file of a dead server still opens");
    // The kernel already aborted the connection; aborting again finds it and succeeds.
    let n = run(Command::new(server_binary()).arg("abort").arg(&rig.mnt));
    assert!(
        n.parse::<u32>().is_ok(),
        "abort printed {n:?}, not a connection number"
    );
}

pub fn d_before() -> HashSet<u32> {
    d_state_tasks().into_iter().map(|(p, _)| p).collect()
}

/// ext4 mounted, a writer running, the server SIGKILLed: the host is not hung, and the
/// next start's cleanup (file system, loop device, then the FUSE mount detached) works.
pub fn sigkill_under_writer(rig: &mut Rig) {
    let before = d_before();
    rig.mkfs_and_mount();
    start_writer(rig);
    let pid = rig.server_pid();
    run(Command::new("kill").args(["-KILL", &pid.to_string()]));
    rig.kill_server(); // reaps it
    assert_host_not_hung(rig, &before);

    let started = Instant::now();
    run(Command::new("umount").arg("-l").arg(&rig.fs));
    rig.fs_mounted = false;
    let dev = rig.loop_dev.take().unwrap();
    run(Command::new("losetup").args(["-d", &dev]));
    run(Command::new(server_binary()).arg("detach").arg(&rig.mnt));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let mnt = rig.mnt.to_string_lossy().into_owned();
    assert!(
        !mounts
            .lines()
            .any(|l| l.split(' ').nth(1) == Some(mnt.as_str())),
        "{mnt} is still mounted after detach"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cleanup took {:?}",
        started.elapsed()
    );
}

/// ext4 mounted, a writer running, the server stopped (alive, holding `/dev/fuse`,
/// answering nothing) and its connection aborted through fusectl: nothing stays in D
/// state and `sync` returns.
pub fn abort_stopped_server(rig: &mut Rig) {
    let before = d_before();
    rig.mkfs_and_mount();
    start_writer(rig);
    let pid = rig.server_pid().to_string();
    run(Command::new("kill").args(["-STOP", &pid]));
    std::thread::sleep(Duration::from_millis(500));
    let n = run(Command::new(server_binary()).arg("abort").arg(&rig.mnt));
    eprintln!("aborted FUSE connection {n}");
    let stuck = stuck_tasks(Duration::from_secs(3), &before);
    assert!(
        stuck.is_empty(),
        "tasks left in D state after abort: {stuck:?}"
    );
    let took = timed_sync(Duration::from_secs(5));
    eprintln!("sync after abort: {took:?}");
    assert!(
        std::fs::File::open(rig.mnt.join("data")).is_err(),
        "the file of an aborted connection still opens"
    );
    rig.kill_server(); // SIGKILL works on a stopped process
}
