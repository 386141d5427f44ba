//! shimaiadm against two real shimaid processes on one machine (nodes `a`
//! on 127.0.0.1 and `b` on 127.0.0.2, sparse backing files, `attach none`
//! so no block device or root is needed): the runbook of scenario 2 from
//! `create-md` to `down`, checking what each view prints.

mod shimaiadm_support;

use std::path::{Path, PathBuf};

use shimai_tests::TempDir;
use shimaiadm_support::{adm, sparse, write, Run};

/// One node's view: its name and runtime directory. Dropping it stops the
/// node's daemon (`down`, then SIGKILL by the PID in its pid file).
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
        let _ = self.adm(&["down", "r0"]);
        if let Ok(pid) = std::fs::read_to_string(self.run.join("r0.pid")) {
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
fn the_runbook_from_create_md_to_down() {
    // shimaid must be built next to shimaiadm (scripts/test builds all binaries).
    let _ = shimai_tests::bin("shimaid");
    let dir = TempDir::new("adm-e2e");
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let d = dir.path().display();
    let cfg = write(
        dir.path(),
        "shimai.conf",
        &format!(
            "resource r0 {{
  protocol C;
  options {{ attach none; }}
  startup {{ wfc-timeout 20; }}
  disk {{ resync-rate 4M; c-plan-ahead 0; }}
  on a {{ device {d}/dev-a minor 0; disk {d}/a.img; address 127.0.0.1:{port}; meta-disk internal; }}
  on b {{ device {d}/dev-b minor 0; disk {d}/b.img; address 127.0.0.2:{port}; meta-disk internal; }}
}}
"
        ),
    );
    sparse(dir.path(), "a.img", 32);
    sparse(dir.path(), "b.img", 32);
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
        n.adm(&["create-md", "r0"]).expect(0);
        n.adm(&["up", "r0"]).expect(0);
    }
    // A second `up` is refused and says what to do instead.
    let r = a.adm(&["up", "r0"]).expect(1);
    assert!(r.stderr.contains("already up"), "{}", r.stderr);
    // Offline tools keep off a running resource's disk.
    let r = a.adm(&["create-md", "--force", "r0"]).expect(1);
    assert!(r.stderr.contains("down r0"), "{}", r.stderr);

    a.adm(&["wait-connect", "r0"]).expect(0);
    b.adm(&["wait-connect", "--timeout", "20", "r0"]).expect(0);
    // Fresh metadata on both sides: no up-to-date data to promote.
    let r = a.adm(&["dstate", "r0"]).expect(0);
    assert_eq!(r.stdout, "Inconsistent/Inconsistent\n");
    let r = a.adm(&["primary", "r0"]);
    assert_eq!(
        r.code, 17,
        "primary without data: {} {}",
        r.stdout, r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);

    // Follow b's events while a changes things.
    let mut follow = {
        let run = b.run.display().to_string();
        shimaiadm_support::command()
            .args([
                "-c",
                &b.cfg,
                "--node",
                "b",
                "--run-dir",
                &run,
                "events",
                "r0",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start shimaiadm events")
    };
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = follow.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // Scenario 2: skip the initial sync of empty disks, then promote.
    a.adm(&["new-current-uuid", "--clear-bitmap", "r0"])
        .expect(0);
    a.adm(&["wait-sync", "--timeout", "20", "r0"]).expect(0);
    a.adm(&["primary", "r0"]).expect(0);

    assert_eq!(
        a.adm(&["role", "r0"]).expect(0).stdout,
        "Primary/Secondary\n"
    );
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen
        .iter()
        .any(|l: &String| l.starts_with("change ") && l.contains("role:Primary"))
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no role change in b's events: {seen:#?}"),
        }
    }
    assert!(seen[0].starts_with("exists resource name:r0"), "{seen:#?}");
    let end = seen.iter().position(|l| l == "exists -");
    let first_change = seen.iter().position(|l| l.starts_with("change "));
    assert!(end.is_some() && end < first_change, "{seen:#?}");
    // Ours, by PID.
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(
        b.adm(&["role", "r0"]).expect(0).stdout,
        "Secondary/Primary\n"
    );
    assert_eq!(a.adm(&["cstate", "r0"]).expect(0).stdout, "Connected\n");
    assert_eq!(
        b.adm(&["dstate", "r0"]).expect(0).stdout,
        "UpToDate/UpToDate\n"
    );
    assert_eq!(
        a.adm(&["status", "r0"]).expect(0).stdout,
        "r0 role:Primary\n  disk:UpToDate\n  b role:Secondary\n    replication:Established peer-disk:UpToDate\n"
    );
    let proc = a.adm(&["proc"]).expect(0).stdout;
    assert!(
        proc.contains(
            "\n 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n    ns:"
        ),
        "{proc}"
    );
    let json = a.adm(&["status", "--json", "r0"]).expect(0).stdout;
    for field in [
        "\"resource\": \"r0\"",
        "\"role\": \"Primary\"",
        "\"peer_node\": \"b\"",
        "\"connection\": \"Connected\"",
        "\"generation\"",
        "\"counters\"",
    ] {
        assert!(json.contains(field), "{field} missing from {json}");
    }
    let events = b.adm(&["events", "--now", "r0"]).expect(0).stdout;
    assert!(
        events.starts_with("exists resource name:r0 role:Secondary"),
        "{events}"
    );
    assert!(events.ends_with("exists -\n"), "{events}");

    // Two Primaries are refused by the peer's state.
    let r = b.adm(&["primary", "r0"]);
    assert_ne!(r.code, 0, "second primary accepted: {}", r.stdout);

    // A full resync to the peer, throttled to 4 MiB/s so that it is
    // still running when paused: the progress lines and the pause flag.
    a.adm(&["invalidate-remote", "r0"]).expect(0);
    // The resync starts after the bitmap exchange; pause it once it runs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let cs = a.adm(&["cstate", "r0"]).expect(0).stdout;
        if cs == "SyncSource\n" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no SyncSource after invalidate-remote: {cs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    a.adm(&["pause-sync", "r0"]).expect(0);
    let proc = a.adm(&["proc", "r0"]).expect(0).stdout;
    assert!(
        proc.contains(
            " 0: cs:PausedSyncS ro:Primary/Secondary ds:UpToDate/Inconsistent C r--u--\n"
        ),
        "{proc}"
    );
    let bar = proc
        .lines()
        .find(|l| l.starts_with("\t["))
        .unwrap_or_else(|| panic!("no progress bar in {proc}"));
    assert!(bar.contains("] sync'ed:") && bar.ends_with(")K"), "{bar}");
    assert!(proc.contains("\tfinish: "), "{proc}");
    let status = b.adm(&["status", "r0"]).expect(0).stdout;
    assert!(
        status.contains("    replication:PausedSyncT peer-disk:UpToDate done:"),
        "{status}"
    );
    let r = a.adm(&["wait-sync", "--timeout", "1", "r0"]).expect(1);
    assert!(r.stderr.contains("resync is still running"), "{}", r.stderr);
    a.adm(&["resume-sync", "r0"]).expect(0);
    a.adm(&["wait-sync", "--timeout", "60", "r0"]).expect(0);
    assert_eq!(
        b.adm(&["dstate", "r0"]).expect(0).stdout,
        "UpToDate/UpToDate\n"
    );

    a.adm(&["secondary", "r0"]).expect(0);
    assert_eq!(
        a.adm(&["role", "r0"]).expect(0).stdout,
        "Secondary/Secondary\n"
    );
    for n in [&a, &b] {
        n.adm(&["down", "r0"]).expect(0);
        let r = n.adm(&["role", "r0"]).expect(11);
        assert!(r.stderr.contains("shimaiadm up r0"), "{}", r.stderr);
        // Down cleanly as Secondary with good data: a new generation,
        // consistent and up to date, not primary, not crashed.
        let gi = n.adm(&["get-gi", "r0"]).expect(0).stdout;
        let fields: Vec<&str> = gi.trim_end().split(':').collect();
        assert_eq!(fields.len(), 11, "{gi}");
        assert_ne!(fields[0], "0000000000000004", "{gi}");
        // consistent, was-up-to-date, primary, ..., crashed-primary
        assert_eq!(
            (fields[4], fields[5], fields[6], fields[10]),
            ("1", "1", "0", "0"),
            "{gi}"
        );
    }
}
