//! Helpers for the Filesystem agent suites: a per-run "world" (loop device,
//! mount point, temporary directory), a recorder of agent results and of
//! the resulting mount table, and the differential driver that runs one
//! scenario against the reference agent and against ours.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use shimai_tests::{run_agent, AgentRun, LoopDev, TempDir};

/// The agent under test.
pub fn ours() -> PathBuf {
    shimai_tests::bin("ocf-filesystem")
}

/// The resource-agents 4.12 agent.
pub fn reference() -> PathBuf {
    shimai_tests::reference_agent("Filesystem")
}

/// True when everything the suites need is here (root, tools, both agents).
pub fn prerequisites(test: &str) -> bool {
    shimai_tests::have_root(test)
        && [
            "losetup",
            "mkfs.ext4",
            "mkfs.xfs",
            "ocf-tester",
            "xmllint",
            "blkid",
        ]
        .iter()
        .all(|p| shimai_tests::have_program(test, p))
        && {
            let present = reference().is_file();
            if !present {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{test}: resource-agents is not installed"
                );
                eprintln!("\n*** SKIPPED {test}: resource-agents not installed ***\n");
            }
            present
        }
}

/// A process holding a mount busy (its cwd is inside), killed by PID on drop.
pub struct Holder {
    child: Child,
}

impl Holder {
    pub fn new(cwd: &Path) -> Holder {
        let child = Command::new("sleep")
            .arg("300")
            .current_dir(cwd)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        Holder { child }
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// Whether the process is still alive (reaps it if it died).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything one run of a scenario uses. Field order is drop order:
/// holders die first, then mounts under `tmp` go, then the loop device.
pub struct World {
    pub holders: Vec<Holder>,
    pub tmp: TempDir,
    pub dev: Option<LoopDev>,
    /// A label and the filesystem UUID of `dev`, when it has a filesystem.
    pub label: String,
}

impl World {
    /// A world with a loop device formatted as `fstype` (labelled), or
    /// without a device when `fstype` is `None`.
    pub fn new(fstype: Option<&str>) -> World {
        let tmp = TempDir::new("fs");
        let label = format!("s{}", shimai_tests::unique("").replace('x', ""));
        let label: String = label.chars().take(11).collect();
        let dev = fstype.map(|fs| {
            let size = if fs == "xfs" { 320 } else { 48 };
            let d = LoopDev::new(size, None);
            d.mkfs(fs, &format!("-L {label}"));
            d
        });
        World {
            holders: Vec::new(),
            tmp,
            dev,
            label,
        }
    }

    pub fn dev(&self) -> &str {
        self.dev.as_ref().expect("world has a device").path()
    }

    /// The mount point every scenario uses, `<tmp>/mnt`.
    pub fn mnt(&self) -> PathBuf {
        self.tmp.join("mnt")
    }

    pub fn path(&self, rel: &str) -> String {
        self.tmp.join(rel).to_string_lossy().into_owned()
    }

    pub fn uuid(&self) -> String {
        shimai_tests::sh(&format!("blkid -p -s UUID -o value {}", self.dev()))
            .trim()
            .to_string()
    }

    /// Replaces this world's paths by placeholders so runs compare equal.
    pub fn normalize(&self, s: &str) -> String {
        let mut out = s.replace(&*self.tmp.path().to_string_lossy(), "$T");
        if let Some(d) = &self.dev {
            out = out.replace(d.path(), "$DEV");
        }
        out
    }
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount table entries of this world: "source root mountpoint fstype
/// options superoptions", normalized, in mount order.
pub fn mounts_of(w: &World) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let base = w.tmp.path().to_string_lossy().into_owned();
    info.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let lf: Vec<&str> = left.split(' ').collect();
            let rf: Vec<&str> = right.split(' ').collect();
            let mp = unescape(lf.get(4)?);
            if !(mp == base || mp.starts_with(&format!("{base}/"))) {
                return None;
            }
            Some(w.normalize(&format!(
                "{} {} {} {} {} {}",
                unescape(rf.get(1)?),
                unescape(lf.get(3)?),
                mp,
                rf.first()?,
                lf.get(5)?,
                rf.get(2).unwrap_or(&"")
            )))
        })
        .collect()
}

/// One run of a scenario with one agent: the agent's results and the
/// observed state, as lines that must match between the two agents.
pub struct Run {
    pub agent: PathBuf,
    pub w: World,
    pub base: Vec<(String, String)>,
    pub trace: Vec<String>,
    /// Every agent call, for the exit-reason checks on our agent.
    pub calls: Vec<(String, AgentRun)>,
    instance: String,
}

impl Run {
    pub fn new(agent: PathBuf, w: World) -> Run {
        Run {
            agent,
            w,
            base: Vec::new(),
            trace: Vec::new(),
            calls: Vec::new(),
            instance: "fs1".into(),
        }
    }

    /// Sets an instance parameter for all later calls.
    pub fn param(&mut self, name: &str, value: &str) -> &mut Run {
        self.base
            .retain(|(k, _)| k != &format!("OCF_RESKEY_{name}"));
        self.base
            .push((format!("OCF_RESKEY_{name}"), value.to_string()));
        self
    }

    /// Sets an environment variable for all later calls.
    pub fn env(&mut self, name: &str, value: &str) -> &mut Run {
        self.base.retain(|(k, _)| k != name);
        self.base.push((name.to_string(), value.to_string()));
        self
    }

    /// The usual parameters: this world's device on `<tmp>/mnt`.
    pub fn standard(&mut self, fstype: &str) -> &mut Run {
        let dev = self.w.dev().to_string();
        let mnt = self.w.mnt().to_string_lossy().into_owned();
        self.param("device", &dev)
            .param("directory", &mnt)
            .param("fstype", fstype)
    }

    /// Runs an action with extra variables; records and returns its rc.
    pub fn call(&mut self, action: &str, extra: &[(&str, &str)]) -> i32 {
        let mut env: Vec<(&str, &str)> = self
            .base
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.extend_from_slice(extra);
        let r = run_agent(&self.agent, action, &self.instance, &env, None);
        let label = if extra.is_empty() {
            action.to_string()
        } else {
            let e: Vec<String> = extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{action} [{}]", e.join(" "))
        };
        self.trace.push(format!("{label} -> {}", r.rc));
        let rc = r.rc;
        self.calls.push((label, r));
        rc
    }

    pub fn act(&mut self, action: &str) -> i32 {
        self.call(action, &[])
    }

    /// A monitor at a given OCF_CHECK_LEVEL.
    pub fn monitor(&mut self, depth: &str) -> i32 {
        self.call("monitor", &[("OCF_CHECK_LEVEL", depth)])
    }

    /// A probe: monitor with interval 0.
    pub fn probe(&mut self) -> i32 {
        self.call("monitor", &[("OCF_RESKEY_CRM_meta_interval", "0")])
    }

    /// Records the world's mount table entries.
    pub fn state(&mut self) {
        let m = mounts_of(&self.w);
        if m.is_empty() {
            self.trace.push("state: nothing mounted".into());
        }
        for l in m {
            self.trace.push(format!("state: {l}"));
        }
    }

    /// Records any observation that must match.
    pub fn note(&mut self, what: impl Into<String>) {
        let s = what.into();
        let s = self.w.normalize(&s);
        self.trace.push(format!("note: {s}"));
    }

    /// A shell command (run as part of the scenario, between agent calls).
    pub fn sh(&self, line: &str) -> String {
        shimai_tests::sh(line)
    }
}

/// Runs `scenario` once with the reference agent and once with ours, each
/// on a fresh world from `world`, and asserts identical traces. Also checks
/// on our agent that every failure printed exactly one exit reason and
/// every success none. Returns our run for further assertions.
pub fn differential(name: &str, world: fn() -> World, scenario: fn(&mut Run)) -> Run {
    let mut theirs = Run::new(reference(), world());
    scenario(&mut theirs);
    let mut mine = Run::new(ours(), world());
    scenario(&mut mine);
    eprintln!("{name}:\n  {}", mine.trace.join("\n  "));
    assert_eq!(
        theirs.trace, mine.trace,
        "{name}: the reference agent (left) and ours (right) differ\nour calls: {:#?}",
        mine.calls
    );
    assert!(
        !mine.trace.is_empty(),
        "{name}: the scenario recorded nothing"
    );
    check_exit_reasons(name, &mine);
    mine
}

/// Our agent prints one `ocf-exit-reason:` line per failure and none on
/// success or "not running".
pub fn check_exit_reasons(name: &str, run: &Run) {
    for (label, r) in &run.calls {
        let reasons = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("ocf-exit-reason:"))
            .count();
        let want = usize::from(!matches!(r.rc, 0 | 7));
        assert_eq!(
            reasons, want,
            "{name}: `{label}` exited {} with {reasons} exit reasons:\n{}",
            r.rc, r.stderr
        );
    }
}
