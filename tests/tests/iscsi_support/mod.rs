//! Helpers for the iSCSI agent suites: a tgtd of the test's own (its own
//! management socket under a temporary directory, its own portal on
//! 127.0.0.1, killed by PID on drop), the agents under both names, and the
//! libiscsi userspace initiator tools.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shimai_tests::{run, AgentRun, TempDir};

pub const TOOLS: &[&str] = &[
    "tgtd",
    "tgtadm",
    "iscsi-ls",
    "iscsi-inq",
    "iscsi-perf",
    "ocf-tester",
    "xmllint",
    "strace",
];

/// True when root, the tools and the reference agents are here (CI=true fails instead of skipping).
pub fn prerequisites(test: &str) -> bool {
    shimai_tests::have_root(test) && TOOLS.iter().all(|p| shimai_tests::have_program(test, p)) && {
        let present = reference("iSCSITarget").is_file();
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

pub fn reference(name: &str) -> PathBuf {
    shimai_tests::reference_agent(name)
}

/// A free TCP port on 127.0.0.1 (bound, then released for tgtd).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// A tgtd of this test's own. Field order is drop order: the process dies
/// before its directory goes.
pub struct Tgtd {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl Tgtd {
    pub fn start() -> Tgtd {
        Self::start_program(Path::new("tgtd"))
    }

    /// As [`Tgtd::start`], with another tgtd executable.
    pub fn start_program(program: &Path) -> Tgtd {
        let dir = TempDir::new("tgtd");
        let log = std::fs::File::create(dir.join("tgtd.log")).expect("tgtd log");
        let port = free_port();
        let child = Command::new(program)
            .args([
                "-f",
                "-C",
                "0",
                "--iscsi",
                &format!("portal=127.0.0.1:{port}"),
            ])
            .env("TGT_IPC_SOCKET", dir.join("socket"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn tgtd");
        let mut t = Tgtd { child, port, dir };
        let up = wait_for(10, || {
            t.socket().exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !up || matches!(t.child.try_wait(), Ok(Some(_))) {
            panic!(
                "tgtd did not start on 127.0.0.1:{port}: {}",
                std::fs::read_to_string(t.dir.join("tgtd.log")).unwrap_or_default()
            );
        }
        t
    }

    /// `TGT_IPC_SOCKET` for agents and tgtadm: the socket without its `.0`.
    pub fn ipc_base(&self) -> String {
        self.dir.join("socket").to_string_lossy().into_owned()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("socket.0")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `tgtadm --lld iscsi ARGS` against this tgtd: (exit code, stdout+stderr).
    pub fn tgtadm(&self, args: &[&str]) -> (i32, String) {
        let out = run(Command::new("tgtadm")
            .args(["--lld", "iscsi"])
            .args(args)
            .env("TGT_IPC_SOCKET", self.ipc_base()));
        (
            out.status.code().unwrap_or(128),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// The target show text.
    pub fn show(&self) -> String {
        let (rc, out) = self.tgtadm(&["--mode", "target", "--op", "show"]);
        assert_eq!(rc, 0, "tgtadm show: {out}");
        out
    }

    /// The show text with sessions and sizes left out, for comparing states.
    pub fn state(&self) -> String {
        self.show()
            .lines()
            .filter(|l| {
                let t = l.trim_start();
                !t.starts_with("I_T nexus:")
                    && !t.starts_with("Initiator:")
                    && !t.starts_with("Connection:")
                    && !t.starts_with("IP Address:")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Deletes every target (forcing), so the next scenario starts clean.
    pub fn reset(&self) {
        let show = self.show();
        for line in show.lines().filter(|l| l.starts_with("Target ")) {
            let tid = line["Target ".len()..].split(':').next().unwrap_or("");
            let _ = self.tgtadm(&[
                "--mode", "target", "--op", "delete", "--force", "--tid", tid,
            ]);
        }
        let (_, accounts) = self.tgtadm(&["--mode", "account", "--op", "show"]);
        for user in accounts
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            let _ = self.tgtadm(&["--mode", "account", "--op", "delete", "--user", user]);
        }
        assert!(
            !self.show().contains("Target "),
            "reset left targets:\n{}",
            self.show()
        );
    }

    /// An iSCSI URL of this tgtd's portal.
    pub fn url(&self, iqn: &str, lun: u32) -> String {
        format!("iscsi://127.0.0.1:{}/{iqn}/{lun}", self.port)
    }

    pub fn portal(&self) -> String {
        format!("iscsi://127.0.0.1:{}", self.port)
    }

    /// The agents under their two names (symlinks to the binary).
    pub fn agent(&self, name: &str) -> PathBuf {
        let bin = self.dir.join("agents");
        let p = bin.join(name);
        if !p.exists() {
            std::fs::create_dir_all(&bin).expect("agents dir");
            std::os::unix::fs::symlink(shimai_tests::bin("ocf-iscsi-target"), &p)
                .expect("symlink agent");
        }
        p
    }

    /// Runs an agent (ours or the reference) against this tgtd.
    pub fn run(
        &self,
        agent: &Path,
        action: &str,
        instance: &str,
        params: &[(&str, &str)],
    ) -> AgentRun {
        let vars: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string()))
            .chain([("TGT_IPC_SOCKET".to_string(), self.ipc_base())])
            .chain(if action == "monitor" {
                vec![(
                    "OCF_RESKEY_CRM_meta_interval".to_string(),
                    "10000".to_string(),
                )]
            } else {
                vec![]
            })
            .collect();
        let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        shimai_tests::run_agent(agent, action, instance, &env, None)
    }

    /// `ocf-tester` on one of our agents with this tgtd.
    pub fn ocf_tester(&self, name: &str, instance: &str, opts: &[(&str, &str)]) -> (bool, String) {
        let mut cmd = Command::new("ocf-tester");
        cmd.args(["-v", "-n", instance])
            .env("TGT_IPC_SOCKET", self.ipc_base());
        for (k, v) in opts {
            cmd.arg("-o").arg(format!("{k}={v}"));
        }
        cmd.arg(self.agent(name));
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
}

impl Drop for Tgtd {
    fn drop(&mut self) {
        // tgtd ignores SIGTERM; it keeps everything in memory, so SIGKILL loses nothing of ours.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file to back a LUN, in the tgtd's directory.
pub fn backing_file(t: &Tgtd, name: &str, mib: u64) -> String {
    let p = t.dir.join(name);
    let f = std::fs::File::create(&p).expect("create backing file");
    f.set_len(mib << 20).expect("size backing file");
    p.to_string_lossy().into_owned()
}

/// Runs a libiscsi tool: (success, stdout+stderr). iscsi-test-cu gets 300 s, the others 20 s.
pub fn iscsi(tool: &str, args: &[&str]) -> (bool, String) {
    let limit = if tool == "iscsi-test-cu" { "300" } else { "20" };
    let out = run(Command::new("timeout").arg(limit).arg(tool).args(args));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The targets `iscsi-ls` discovers on a portal as initiator `name` (None: libiscsi's default name).
pub fn discovered(t: &Tgtd, name: Option<&str>) -> String {
    let portal = t.portal();
    let mut args = vec!["-s"];
    if let Some(n) = name {
        args.extend(["-i", n]);
    }
    args.push(&portal);
    iscsi("iscsi-ls", &args).1
}

/// A libiscsi client that keeps a session busy (iscsi-perf reads, and re-logs
/// in when dropped), killed by PID on drop.
pub struct Client {
    child: Child,
}

impl Client {
    pub fn perf(url: &str) -> Client {
        let child = Command::new("iscsi-perf")
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn iscsi-perf");
        Client { child }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `f` holds or `secs` pass.
pub fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

pub const IQN: &str = "iqn.2026-01.org.shimai.test:disk";
