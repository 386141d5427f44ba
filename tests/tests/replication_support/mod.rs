//! Two shimaid nodes on one machine (127.0.0.1 and 127.0.0.2), with sparse files as backing
//! stores under a temporary directory, a config written per test, and a run directory per
//! node. Nodes are driven over their control sockets (one JSON line per request), exactly
//! as `shimaiadm` does. Everything is cleaned up on drop, also after a failed assertion:
//! file systems unmounted, devices released with `down`, daemons killed by PID, loop
//! devices detached and leftover nbdfuse processes (found by their command line naming this
//! test's directory) killed by PID.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shimai_tests::TempDir;

pub const NAMES: [&str; 2] = ["alpha", "beta"];

pub fn have(test: &str, programs: &[&str]) -> bool {
    shimai_tests::have_root(test) && programs.iter().all(|p| shimai_tests::have_program(test, p))
}

pub struct Pair {
    pub dir: TempDir,
    /// One config file per node (identical unless a test edits one).
    pub confs: [PathBuf; 2],
    pub res: String,
    pids: [Option<i32>; 2],
    /// The data area (from the first status).
    pub size_kib: u64,
    mounts: Vec<PathBuf>,
}

impl Pair {
    /// Writes the config for resource `r0` with `extra` inside the resource block, creates
    /// `size_mib` sparse backing files and fresh metadata on both nodes.
    pub fn new(test: &str, size_mib: u64, extra: &str) -> Pair {
        Pair::with_net(test, size_mib, "", extra)
    }

    /// As [`Pair::new`], with `net` added to the `net { }` section.
    pub fn with_net(test: &str, size_mib: u64, net: &str, extra: &str) -> Pair {
        let dir = TempDir::new(test);
        let port = 20000 + (std::process::id() * 13 + Self::next()) % 30000;
        let mut hosts = String::new();
        for (i, n) in NAMES.iter().enumerate() {
            let disk = dir.join(&format!("{n}.img"));
            std::fs::File::create(&disk)
                .and_then(|f| f.set_len(size_mib << 20))
                .expect("create backing file");
            std::fs::create_dir_all(dir.join(&format!("{n}.run"))).unwrap();
            hosts.push_str(&format!(
                "  on {n} {{ device {dev} minor {i}; disk {disk}; address 127.0.0.{a}:{port}; meta-disk internal; }}\n",
                dev = dir.join(&format!("{n}.dev")).display(),
                disk = disk.display(),
                a = i + 1,
            ));
        }
        let text = format!(
            "resource r0 {{\n  net {{ connect-int 1; ping-int 1; {net} }}\n  disk {{ resync-rate 400M; }}\n{extra}\n{hosts}}}\n"
        );
        let confs = NAMES.map(|n| dir.join(&format!("{n}.conf")));
        for c in &confs {
            std::fs::write(c, &text).unwrap();
        }
        let p = Pair {
            dir,
            confs,
            res: "r0".into(),
            pids: [None, None],
            size_kib: 0,
            mounts: Vec::new(),
        };
        for (i, name) in NAMES.iter().enumerate() {
            let out = p.shimaid(i).arg("--create-md").arg("r0").output().unwrap();
            assert!(
                out.status.success(),
                "create-md on {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        p
    }

    fn next() -> u32 {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        N.fetch_add(1, Ordering::Relaxed) * 7
    }

    pub fn run_dir(&self, i: usize) -> PathBuf {
        self.dir.join(&format!("{}.run", NAMES[i]))
    }
    pub fn disk(&self, i: usize) -> PathBuf {
        self.dir.join(&format!("{}.img", NAMES[i]))
    }
    pub fn device(&self, i: usize) -> PathBuf {
        self.dir.join(&format!("{}.dev", NAMES[i]))
    }
    pub fn nbd_uri(&self, i: usize) -> String {
        format!(
            "nbd+unix:///r0?socket={}",
            self.run_dir(i).join("r0.nbd").display()
        )
    }
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.run_dir(i).join("r0.log")).unwrap_or_default()
    }

    fn shimaid(&self, i: usize) -> Command {
        let mut c = Command::new(shimai_tests::bin("shimaid"));
        c.arg("-c")
            .arg(&self.confs[i])
            .arg("--node")
            .arg(NAMES[i])
            .env("SHIMAI_RUN_DIR", self.run_dir(i))
            .stdin(Stdio::null());
        c
    }

    /// Replaces `from` by `to` in node `i`'s config.
    pub fn edit_conf(&self, i: usize, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.confs[i]).unwrap();
        assert!(text.contains(from), "{from} not in the config");
        std::fs::write(&self.confs[i], text.replace(from, to)).unwrap();
    }

    /// Starts node `i` detached; returns once its control socket answers.
    pub fn up(&mut self, i: usize) {
        let out = self.shimaid(i).arg("r0").output().unwrap();
        assert!(
            out.status.success(),
            "shimaid r0 on {} failed: {}\n{}",
            NAMES[i],
            String::from_utf8_lossy(&out.stderr),
            self.log(i)
        );
        let pid = std::fs::read_to_string(self.run_dir(i).join("r0.pid")).unwrap();
        self.pids[i] = Some(pid.trim().parse().unwrap());
        self.size_kib = field(&self.status(i), "size_kib")
            .and_then(|v| v.parse().ok())
            .expect("size_kib in status");
    }

    /// Both up, connected, initial sync skipped: UpToDate/UpToDate.
    pub fn up_skip_sync(&mut self) {
        self.up(0);
        self.up(1);
        self.wait(0, "connection", "Connected", 15);
        self.ok(0, r#"{"cmd":"new-current-uuid","clear_bitmap":true}"#);
        self.wait(1, "disk", "UpToDate", 10);
        self.wait(0, "peer_disk", "UpToDate", 10);
    }

    /// SIGKILL to node `i`'s daemon, only if that PID still runs our command line (the PID
    /// may have been reused once the daemon exited on its own).
    pub fn kill9(&mut self, i: usize) {
        let conf = self.confs[i].display().to_string();
        let ours = |pid: i32| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&conf))
        };
        if let Some(pid) = self.pids[i].take().filter(|&p| ours(p)) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while Path::new(&format!("/proc/{pid}")).exists()
                && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap_or_default()
                    .contains(") Z ")
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// One control request; the reply line.
    pub fn ctl(&self, i: usize, req: &str) -> String {
        let path = self.run_dir(i).join("r0.ctl");
        let mut s = UnixStream::connect(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), self.log(i)));
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(format!("{req}\n").as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        line
    }

    /// A request that must succeed.
    pub fn ok(&self, i: usize, req: &str) {
        let r = self.ctl(i, req);
        assert!(
            r.contains(r#""reply":"ok""#),
            "{req} on {}: {r}\nlog:\n{}",
            NAMES[i],
            self.log(i)
        );
    }

    pub fn status(&self, i: usize) -> String {
        self.ctl(i, r#"{"cmd":"status"}"#)
    }

    pub fn field(&self, i: usize, name: &str) -> String {
        field(&self.status(i), name).unwrap_or_default()
    }

    pub fn counter(&self, i: usize, name: &str) -> u64 {
        let s = self.status(i);
        let c = &s[s.find("\"counters\"").unwrap_or(0)..];
        field(c, name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Waits until status field `name` of node `i` is `value`.
    pub fn wait(&self, i: usize, name: &str, value: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status(i);
            if field(&s, name).as_deref() == Some(value) {
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
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The data area of node `i`'s backing file.
    pub fn data(&self, i: usize) -> Vec<u8> {
        assert!(self.size_kib > 0, "data() needs a node that was up");
        let mut d = std::fs::read(self.disk(i)).unwrap();
        d.truncate((self.size_kib * 1024) as usize);
        d
    }

    /// Mounts node `i`'s device on a directory of the test.
    pub fn mount(&mut self, i: usize) -> PathBuf {
        let m = self.dir.join(&format!("{}.mnt", NAMES[i]));
        std::fs::create_dir_all(&m).unwrap();
        shimai_tests::sh(&format!(
            "mount {} {}",
            self.device(i).display(),
            m.display()
        ));
        self.mounts.push(m.clone());
        m
    }

    pub fn umount(&mut self, m: &Path) {
        shimai_tests::sh(&format!("umount {}", m.display()));
        self.mounts.retain(|x| x != m);
    }
}

/// The value of `"name":` in a JSON line (string or number), without a JSON parser.
pub fn field(json: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":");
    let at = json.find(&key)? + key.len();
    let rest = &json[at..];
    if let Some(r) = rest.strip_prefix('"') {
        return Some(r[..r.find('"')?].to_string());
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// Deterministic bytes that differ per `seed`.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Writes `data` at `offset` of node `i`'s export with nbdcopy.
pub fn nbd_write(p: &Pair, i: usize, offset: u64, data: &[u8]) {
    let src = p.dir.join("payload");
    std::fs::write(&src, data).unwrap();
    // nbdcopy writes a whole source from offset 0; other offsets go through the device.
    assert_eq!(offset, 0, "nbd_write writes from the start of the export");
    shimai_tests::sh(&format!(
        "nbdcopy --synchronous {} '{}'",
        src.display(),
        p.nbd_uri(i)
    ));
}

/// Reads `len` bytes from the start of node `i`'s export with nbdcopy.
pub fn nbd_read(p: &Pair, i: usize, len: usize) -> Vec<u8> {
    let dst = p.dir.join("readback");
    shimai_tests::sh(&format!(
        "nbdcopy '{}' - | head -c {len} > {}",
        p.nbd_uri(i),
        dst.display()
    ));
    std::fs::read(dst).unwrap()
}

impl Drop for Pair {
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
        for i in 0..2 {
            if self.pids[i].is_some() && self.run_dir(i).join("r0.ctl").exists() {
                if let Ok(mut s) = UnixStream::connect(self.run_dir(i).join("r0.ctl")) {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let _ = s.write_all(b"{\"cmd\":\"down\"}\n");
                    let mut line = String::new();
                    let _ = BufReader::new(s).read_line(&mut line);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        for i in 0..2 {
            self.kill9(i);
        }
        let dir = self.dir.path().display().to_string();
        // Loop devices over files of this test (left by a killed daemon).
        if let Ok(loops) = std::fs::read_dir("/sys/block") {
            for l in loops.flatten() {
                let bf = l.path().join("loop/backing_file");
                if std::fs::read_to_string(&bf).is_ok_and(|b| b.starts_with(&dir)) {
                    let dev = format!("/dev/{}", l.file_name().to_string_lossy());
                    shimai_tests::unmount_below(Path::new(&dev));
                    let _ = Command::new("umount")
                        .arg("-l")
                        .arg(&dev)
                        .stderr(Stdio::null())
                        .status();
                    let _ = Command::new("losetup").arg("-d").arg(&dev).status();
                }
            }
        }
        // nbdfuse processes whose command line names this test's directory.
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.flatten() {
                let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd);
                if cmd.starts_with("nbdfuse\0") && cmd.contains(&dir) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

/// fio's crc32c verify over node 0's NBD export: 2 connections x 16 requests in flight, 4k
/// and 64k writes, a flush every 32; panics with fio's output and node 0's log on a failure.
pub fn fio_verify(p: &Pair) {
    let out = p.dir.join("fio.json");
    let sock = p.run_dir(0).join("r0.nbd");
    let r = shimai_tests::run(std::process::Command::new("fio").args([
        "--name=verify",
        "--ioengine=nbd",
        &format!("--uri=nbd+unix:///r0?socket={}", sock.display()),
        "--rw=randwrite",
        "--bs=4k,64k",
        "--bssplit=4k/50:64k/50",
        "--iodepth=16",
        "--numjobs=2",
        "--size=8M",
        "--offset_increment=16M",
        "--verify=crc32c",
        "--verify_fatal=1",
        "--verify_state_save=0",
        "--fsync=32",
        "--output-format=json",
        &format!("--output={}", out.display()),
    ]));
    let json = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        r.status.success() && json.contains("\"error\" : 0"),
        "fio failed: {}{}\n{json}\nlog:\n{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr),
        p.log(0)
    );
}
