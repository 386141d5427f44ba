//! The drbdadm surface that runbooks use (issue 14): `sh-*` answered from
//! the configuration, `-d` that does nothing, the `--` pass-through of
//! 0.7/8.3/8.4 runbooks, `state`, `resize`/`suspend-io` refused without
//! a word to the daemon, and against a real pair of shimaid processes:
//! `-- --do-what-I-say primary drbd0` (SCENARIOS 2's 0.7 line), `status
//! --statistics`, `events2 --now --timestamps --statistics` with
//! drbdsetup's field names.

mod shimaiadm_support;

use std::path::{Path, PathBuf};

use shimai_tests::TempDir;
use shimaiadm_support::{adm, sparse, write, Run};

fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "resource drbd0 {{
  protocol C;
  options {{ attach none; }}
  startup {{ wfc-timeout 20; }}
  disk {{ resync-rate 40M; c-plan-ahead 0; }}
  on a {{ device {d}/dev-a minor 0; disk {d}/a.img; address 127.0.0.1:{port}; meta-disk internal; }}
  on b {{ device {d}/dev-b minor 0; disk {d}/b.img; address 127.0.0.2:{port}; meta-disk internal; }}
}}
resource r1 {{
  on a {{ device /dev/drbd3; disk /dev/vg/r1; address 10.1.1.31:7790; meta-disk /dev/vg/meta [2]; }}
  on b {{ device /dev/drbd3; disk /dev/vg/r1; address 10.1.1.32:7790; flexible-meta-disk /dev/vg/meta; }}
}}
"
    )
}

/// One node's view of the pair; dropping it stops its daemon (`down`,
/// then SIGKILL by the PID in its pid file).
struct Node {
    cfg: String,
    name: &'static str,
    run: PathBuf,
}

impl Node {
    fn adm(&self, args: &[&str]) -> Run {
        let run = self.run.display().to_string();
        let mut v = vec![
            "-c",
            self.cfg.as_str(),
            "--node",
            self.name,
            "--run-dir",
            &run,
        ];
        v.extend_from_slice(args);
        adm(&v)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.adm(&["down", "drbd0"]);
        if let Ok(pid) = std::fs::read_to_string(self.run.join("drbd0.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                if Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

#[test]
fn sh_verbs_answer_from_the_configuration() {
    let dir = TempDir::new("adm-sh");
    let cfg = write(dir.path(), "shimai.conf", &config(dir.path(), 7790));
    let d = dir.path().display();
    let sh = |node: &str, args: &[&str]| {
        let mut v = vec!["-c", cfg.as_str(), "--node", node];
        v.extend_from_slice(args);
        adm(&v).expect(0).stdout
    };
    assert_eq!(sh("a", &["sh-resources"]), "drbd0 r1\n");
    assert_eq!(sh("a", &["sh-dev", "drbd0"]), format!("{d}/dev-a\n"));
    assert_eq!(sh("a", &["sh-dev", "r1"]), "/dev/drbd3\n");
    assert_eq!(sh("a", &["sh-minor", "r1"]), "3\n");
    assert_eq!(sh("a", &["sh-ll-dev", "r1"]), "/dev/vg/r1\n");
    assert_eq!(sh("a", &["sh-md-dev", "drbd0"]), format!("{d}/a.img\n"));
    assert_eq!(sh("a", &["sh-md-dev", "r1"]), "/dev/vg/meta\n");
    assert_eq!(sh("a", &["sh-md-idx", "r1"]), "2\n");
    assert_eq!(sh("b", &["sh-md-idx", "r1"]), "flexible\n");
    assert_eq!(sh("a", &["sh-md-idx", "drbd0"]), "internal\n");
    assert_eq!(sh("b", &["sh-ip", "r1"]), "10.1.1.32\n");
    assert_eq!(sh("b", &["sh-node-id", "r1"]), "1\n");
    assert_eq!(sh("a", &["sh-nop"]), "");
    assert_eq!(sh("a", &["sh", "dev", "r1"]), "/dev/drbd3\n");
    // Unknown names are the usual errors.
    let r = adm(&["-c", &cfg, "--node", "a", "sh-dev", "r9"]).expect(10);
    assert!(r.stderr.contains("no resource named 'r9'"), "{}", r.stderr);
    adm(&["-c", &cfg, "--node", "a", "sh-bogus", "r1"]).expect(2);
}

#[test]
fn dry_run_and_pass_through_do_nothing_and_say_what() {
    let dir = TempDir::new("adm-dry");
    let cfg = write(dir.path(), "shimai.conf", &config(dir.path(), 7790));
    let run = dir.join("run").display().to_string();
    let base = ["-c", cfg.as_str(), "--node", "a", "--run-dir", run.as_str()];
    let go = |args: &[&str], code: i32| {
        let mut v = base.to_vec();
        v.extend_from_slice(args);
        adm(&v).expect(code)
    };
    let r = go(&["-d", "--", "--do-what-I-say", "primary", "drbd0"], 0);
    assert_eq!(
        r.stdout,
        format!("drbd0: would send {{\"cmd\":\"primary\",\"force\":true}} to {run}/drbd0.ctl\n")
    );
    let r = go(
        &[
            "--dry-run",
            "--",
            "--overwrite-data-of-peer",
            "primary",
            "all",
        ],
        0,
    );
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    let r = go(&["-d", "--", "--discard-my-data", "connect", "drbd0"], 0);
    assert!(
        r.stdout.contains("\"discard_my_data\":true"),
        "{}",
        r.stdout
    );
    let r = go(&["-d", "up", "drbd0"], 0);
    assert!(r.stdout.contains("would start shimaid"), "{}", r.stdout);
    let r = go(&["-d", "create-md", "drbd0"], 0);
    assert!(
        r.stdout.contains("would write fresh metadata"),
        "{}",
        r.stdout
    );
    // Nothing was started or written.
    assert!(!Path::new(&run).join("drbd0.ctl").exists());
    assert!(!dir.join("a.img").exists());
    // A pass-through option the verb does not take, or an unknown one: usage.
    let r = go(&["--", "--discard-my-data", "primary", "drbd0"], 2);
    assert!(r.stderr.contains("applies to connect only"), "{}", r.stderr);
    let r = go(&["--", "--i-am-sure", "primary", "drbd0"], 2);
    assert!(r.stderr.contains("--i-am-sure"), "{}", r.stderr);
    // resize, suspend-io and resume-io are refused before any daemon is asked.
    for verb in ["resize", "suspend-io", "resume-io"] {
        let r = go(&[verb, "drbd0"], 1);
        assert!(
            r.stderr
                .contains(&format!("{verb} is not supported by this shimaid yet"))
                && r.stderr.contains("issue 14"),
            "{verb}: {}",
            r.stderr
        );
    }
    // `state` is `role`: without a daemon, the usual "not running" answer.
    let r = go(&["state", "drbd0"], 11);
    assert!(r.stderr.contains("shimaiadm up drbd0"), "{}", r.stderr);
}

#[test]
fn the_07_runbook_line_and_drbd9_views_on_a_real_pair() {
    // shimaid must be built next to shimaiadm (scripts/test builds all binaries).
    let _ = shimai_tests::bin("shimaid");
    let dir = TempDir::new("adm-surface");
    let port = 40_000 + (std::process::id() % 20_000) as u16;
    let cfg = write(dir.path(), "shimai.conf", &config(dir.path(), port));
    sparse(dir.path(), "a.img", 16);
    sparse(dir.path(), "b.img", 16);
    let a = Node {
        cfg: cfg.clone(),
        name: "a",
        run: dir.join("run-a"),
    };
    let b = Node {
        cfg,
        name: "b",
        run: dir.join("run-b"),
    };
    for n in [&a, &b] {
        n.adm(&["create-md", "drbd0"]).expect(0);
        n.adm(&["up", "drbd0"]).expect(0);
    }
    a.adm(&["wait-connect", "drbd0"]).expect(0);
    // SCENARIOS 2: the 0.7 runbook's initial sync.
    a.adm(&["--", "--do-what-I-say", "primary", "drbd0"])
        .expect(0);
    let r = a.adm(&["state", "drbd0"]).expect(0);
    assert_eq!(r.stdout, "Primary/Secondary\n");
    b.adm(&["wait-sync", "--timeout", "60", "drbd0"]).expect(0);
    a.adm(&["wait-sync", "--timeout", "60", "drbd0"]).expect(0);

    let r = a.adm(&["status", "--statistics", "drbd0"]).expect(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "drbd0 role:Primary", "{}", r.stdout);
    assert_eq!(lines[1], "  disk:UpToDate", "{}", r.stdout);
    assert!(lines[2].starts_with("      size:"), "{}", r.stdout);
    assert!(lines[2].contains(" written:"), "{}", r.stdout);
    assert_eq!(lines[3], "  b role:Secondary", "{}", r.stdout);
    assert!(
        lines[5].trim_start().starts_with("received:"),
        "{}",
        r.stdout
    );
    let r = a.adm(&["status", "--verbose", "drbd0"]).expect(0);
    assert!(
        r.stdout.starts_with("drbd0 role:Primary suspended:no"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("size:"), "{}", r.stdout);

    let r = a
        .adm(&["events2", "--now", "--timestamps", "--statistics", "drbd0"])
        .expect(0);
    let mut objects = Vec::new();
    for line in r.stdout.lines() {
        let (stamp, rest) = line.split_once(' ').expect("a timestamp, then the line");
        assert_eq!(stamp.len(), 32, "{line}");
        assert!(
            stamp.ends_with("+00:00") && stamp.as_bytes()[10] == b'T',
            "{line}"
        );
        let mut words = rest.split(' ');
        let (kind, object) = (words.next().unwrap(), words.next().unwrap_or(""));
        assert_eq!(kind, "exists", "{line}");
        objects.push(object.to_string());
        let fields: Vec<&str> = words.collect();
        match object {
            "connection" => {
                assert_eq!(
                    fields[..3],
                    ["name:drbd0", "peer-node-id:1", "conn-name:b"],
                    "{line}"
                );
                assert!(fields.contains(&"connection:Connected"), "{line}");
            }
            "device" => {
                assert_eq!(fields[..3], ["name:drbd0", "volume:0", "minor:0"], "{line}");
                assert!(fields.contains(&"disk:UpToDate"), "{line}");
                assert!(fields.iter().any(|f| f.starts_with("written:")), "{line}");
            }
            "peer-device" => {
                assert_eq!(
                    fields[..4],
                    ["name:drbd0", "peer-node-id:1", "conn-name:b", "volume:0"],
                    "{line}"
                );
                assert!(fields.contains(&"peer-disk:UpToDate"), "{line}");
                assert!(
                    fields.iter().any(|f| f.starts_with("out-of-sync:")),
                    "{line}"
                );
            }
            _ => {}
        }
    }
    assert_eq!(
        objects,
        ["resource", "connection", "device", "peer-device", "-"],
        "{}",
        r.stdout
    );
    // -d changes nothing on a running resource.
    let r = a.adm(&["-d", "secondary", "drbd0"]).expect(0);
    assert!(r.stdout.contains("\"cmd\":\"secondary\""), "{}", r.stdout);
    assert_eq!(
        a.adm(&["role", "drbd0"]).expect(0).stdout,
        "Primary/Secondary\n"
    );
    let r = a.adm(&["resize", "drbd0"]).expect(1);
    assert!(r.stderr.contains("issue 14"), "{}", r.stderr);
    a.adm(&["secondary", "drbd0"]).expect(0);
}
