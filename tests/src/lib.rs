//! Shared harness for shimai's integration suites.
//!
//! The suites run real programs as root: the agents under test, the
//! resource-agents reference agents, `ocf-tester`, `ip`, `losetup`, `mkfs`.
//! Everything a test creates is owned by a guard whose `Drop` removes it
//! (network namespaces, loop devices, mounts, temporary directories,
//! processes by PID), so a failing assertion still cleans up.
//!
//! Privilege: when not root, a suite prints loudly that it skipped; when
//! `CI=true` it fails instead, so CI never passes on tests that did not run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call, for namespaces and files.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// True when running as root. Otherwise: panics under `CI=true`, or prints a
/// loud skip notice and returns false.
pub fn have_root(test: &str) -> bool {
    if nix_is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root, and CI=true forbids skipping");
    }
    eprintln!("\n*** SKIPPED {test}: needs root ***\n");
    false
}

fn nix_is_root() -> bool {
    // /proc/self/status "Uid:" real, effective, ...
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Requires a program; panics under `CI=true` when missing, else skips loudly.
pub fn have_program(test: &str, program: &str) -> bool {
    if which(program).is_some() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {program} is not installed (scripts/test installs it)");
    }
    eprintln!("\n*** SKIPPED {test}: {program} not installed ***\n");
    false
}

pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&format!("{path}:/usr/sbin:/sbin"))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A binary built by this workspace (`scripts/test` builds them before the
/// suites run). `SHIMAI_BIN_DIR` overrides where to look.
pub fn bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("SHIMAI_BIN_DIR") {
        return Path::new(&dir).join(name);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join("target"));
    for profile in ["debug", "release"] {
        let p = target.join(profile).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "binary {name} not built: run `cargo build --workspace --bins` first (scripts/test does)"
    )
}

/// Runs a command, returning its output; panics if it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd))
}

/// Runs a shell command line that must succeed; returns its stdout.
pub fn sh(line: &str) -> String {
    let out = run(Command::new("sh").args(["-c", line]));
    assert!(
        out.status.success(),
        "`{line}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A temporary directory, removed (after unmounting anything below it) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let base = std::env::var("SHIMAI_TEST_TMP").unwrap_or_else(|_| "/tmp".into());
        let path = Path::new(&base).join(unique(&format!("shimai-{prefix}-")));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        unmount_below(&self.path);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Unmounts (lazily if need be) everything mounted at or below `dir`, deepest first.
pub fn unmount_below(dir: &Path) {
    let dir = dir.to_string_lossy().into_owned();
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| m.replace("\\040", " "))
        .filter(|m| m == &dir || m.starts_with(&format!("{dir}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let ok = Command::new("umount")
            .arg(&p)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").args(["-l", &p]).status();
        }
    }
}

/// A network namespace created for one test, deleted on drop with everything in it.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace with `lo` up.
    pub fn new(prefix: &str) -> Netns {
        let name = unique(&format!("shimai-{prefix}-"));
        sh(&format!("ip netns add {name}"));
        let ns = Netns { name };
        ns.ip("link set lo up");
        ns
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `ip -n NS <args>`, which must succeed.
    pub fn ip(&self, args: &str) -> String {
        sh(&format!("ip -n {} {args}", self.name))
    }
    /// A command run inside the namespace (`ip netns exec`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
    /// Adds a veth pair, both ends in this namespace, up, with the given addresses.
    pub fn veth_pair(&self, a: &str, b: &str, addr_a: &str, addr_b: &str) {
        self.ip(&format!("link add {a} type veth peer name {b}"));
        if !addr_a.is_empty() {
            self.ip(&format!("addr add {addr_a} dev {a}"));
        }
        if !addr_b.is_empty() {
            self.ip(&format!("addr add {addr_b} dev {b}"));
        }
        self.ip(&format!("link set {a} up"));
        self.ip(&format!("link set {b} up"));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Kill what is left inside (by PID), then delete the namespace.
        if let Ok(o) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A sparse file attached as a loop device, detached (after unmounting it) on drop.
pub struct LoopDev {
    dev: String,
    _dir: TempDir,
}

impl LoopDev {
    /// A loop device of `size_mib` MiB, optionally with a filesystem (`mkfs.<fstype>`).
    pub fn new(size_mib: u64, fstype: Option<&str>) -> LoopDev {
        let dir = TempDir::new("loop");
        let file = dir.join("disk.img");
        let f = std::fs::File::create(&file).expect("create backing file");
        f.set_len(size_mib << 20).expect("size backing file");
        drop(f);
        let dev = sh(&format!("losetup -f --show {}", file.display()))
            .trim()
            .to_string();
        let l = LoopDev { dev, _dir: dir };
        if let Some(fs) = fstype {
            l.mkfs(fs, "");
        }
        l
    }
    pub fn mkfs(&self, fstype: &str, extra: &str) {
        let force = match fstype {
            "xfs" => "-f",
            "ext2" | "ext3" | "ext4" => "-F -q",
            _ => "",
        };
        sh(&format!(
            "mkfs.{fstype} {force} {extra} {} >/dev/null 2>&1",
            self.dev
        ));
    }
    pub fn path(&self) -> &str {
        &self.dev
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        // Anything still mounted from this device goes first.
        if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
            let majmin = device_majmin(&self.dev);
            for line in info.lines() {
                let f: Vec<&str> = line.split(' ').collect();
                if f.len() > 4 && Some(f[2].to_string()) == majmin {
                    let _ = Command::new("umount").args(["-l", f[4]]).status();
                }
            }
        }
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

fn device_majmin(dev: &str) -> Option<String> {
    let name = Path::new(dev).file_name()?.to_string_lossy().into_owned();
    std::fs::read_to_string(format!("/sys/class/block/{name}/dev"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// The outcome of one agent invocation.
#[derive(Debug, Clone)]
pub struct AgentRun {
    pub rc: i32,
    pub stdout: String,
    pub stderr: String,
}

impl AgentRun {
    /// The last `ocf-exit-reason:` line, as Pacemaker would take it.
    pub fn exit_reason(&self) -> Option<&str> {
        self.stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("ocf-exit-reason:"))
    }
}

/// Runs an OCF agent with a clean OCF environment plus `env`, optionally in a namespace.
pub fn run_agent(
    agent: &Path,
    action: &str,
    instance: &str,
    env: &[(&str, &str)],
    netns: Option<&Netns>,
) -> AgentRun {
    let mut cmd = match netns {
        Some(ns) => ns.command(agent),
        None => Command::new(agent),
    };
    cmd.arg(action)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("OCF_ROOT", "/usr/lib/ocf")
        .env("OCF_RA_VERSION_MAJOR", "1")
        .env("OCF_RA_VERSION_MINOR", "1")
        .env("OCF_RESOURCE_INSTANCE", instance)
        .env("OCF_EXIT_REASON_PREFIX", "ocf-exit-reason:")
        .env("OCF_RESKEY_CRM_meta_timeout", "20000");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    AgentRun {
        rc: out.status.code().unwrap_or(128),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The resource-agents shell agent `ocf:heartbeat:<name>`.
pub fn reference_agent(name: &str) -> PathBuf {
    Path::new("/usr/lib/ocf/resource.d/heartbeat").join(name)
}

/// Runs `ocf-tester` on an agent; returns (passed, full output).
pub fn ocf_tester(
    agent: &Path,
    instance: &str,
    opts: &[(&str, &str)],
    netns: Option<&Netns>,
) -> (bool, String) {
    let mut cmd = match netns {
        Some(ns) => ns.command("ocf-tester"),
        None => Command::new("ocf-tester"),
    };
    cmd.args(["-v", "-n", instance]);
    for (k, v) in opts {
        cmd.arg("-o").arg(format!("{k}={v}"));
    }
    cmd.arg(agent);
    let out = run(&mut cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("passed all tests"),
        text,
    )
}

pub mod cluster;

/// An agent's `meta-data` output; the action must succeed.
pub fn meta_data(agent: &Path) -> String {
    // Shell agents find ocf-shellfuncs through OCF_ROOT.
    let out = run(Command::new(agent)
        .arg("meta-data")
        .env("OCF_ROOT", "/usr/lib/ocf"));
    assert!(out.status.success(), "{} meta-data failed", agent.display());
    String::from_utf8(out.stdout).expect("meta-data is UTF-8")
}

/// Checks meta-data XML with xmllint the way ocf-tester does (from stdin in
/// /usr/share/resource-agents, so the DOCTYPE's relative `ra-api-1.dtd`
/// resolves). `args` are xmllint's, e.g. `["--noout", "--valid"]` or
/// `["--noout", "--relaxng", "metadata.rng"]`. Returns (valid, xmllint's messages).
pub fn xmllint(args: &[&str], xml: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("xmllint")
        .current_dir("/usr/share/resource-agents")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run xmllint");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(xml.as_bytes()).expect("feed xmllint");
    }
    let out = child.wait_with_output().expect("wait for xmllint");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
