//! shimaiadm at the command line, without a daemon: usage, configuration
//! and unreachable-daemon errors with their exit codes, `create-md` on
//! sparse files, `dump` of the scenario configurations, and the views
//! that work while everything is down.

mod shimaiadm_support;

use shimai_tests::TempDir;
use shimaiadm_support::{adm, adm_env, sparse, two_node_resource, write};

#[test]
fn usage_errors_exit_2() {
    adm(&[]).expect(2);
    let r = adm(&["promote", "r0"]).expect(2);
    assert!(r.stderr.contains("promote"), "{}", r.stderr);
    adm(&["primary"]).expect(2);
    adm(&["connect", "--discard", "r0"]).expect(2);
    adm(&["wait-connect", "--timeout", "soon", "r0"]).expect(2);
}

#[test]
fn help_names_every_verb() {
    let r = adm(&["--help"]).expect(0);
    for verb in [
        "create-md",
        "up",
        "down",
        "attach",
        "detach",
        "connect",
        "disconnect",
        "primary",
        "secondary",
        "role",
        "cstate",
        "dstate",
        "status",
        "proc",
        "events",
        "dump",
        "adjust",
        "wait-connect",
        "wait-sync",
        "verify",
        "invalidate",
        "invalidate-remote",
        "new-current-uuid",
        "outdate",
        "pause-sync",
        "resume-sync",
    ] {
        assert!(
            r.stdout.lines().any(|l| l.trim_start().starts_with(verb)),
            "--help does not list {verb}:\n{}",
            r.stdout
        );
    }
    let r = adm(&["connect", "--help"]).expect(0);
    assert!(r.stdout.contains("--discard-my-data"), "{}", r.stdout);
}

#[test]
fn config_errors_exit_10_with_the_position() {
    let dir = TempDir::new("adm-cfg");
    let cfg = write(
        dir.path(),
        "shimai.conf",
        "resource r0 {\n  protocol C\n}\n",
    );
    let r = adm(&["-c", &cfg, "--node", "a", "role", "r0"]).expect(10);
    assert!(
        r.stderr.contains(&format!("{cfg}:2:13")),
        "no file:line:column in: {}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);

    let missing = dir.join("nope.conf").display().to_string();
    let r = adm(&["-c", &missing, "--node", "a", "status"]).expect(10);
    assert!(r.stderr.contains(&missing), "{}", r.stderr);

    // The config file from the environment, an unknown resource, a node
    // without an `on` section.
    let cfg = write(
        dir.path(),
        "ok.conf",
        &two_node_resource(dir.path(), "r0", 7790, ""),
    );
    let r = adm_env(
        &["role", "r9"],
        &[("SHIMAI_CONFIG", &cfg), ("SHIMAI_NODE", "a")],
    )
    .expect(10);
    assert!(r.stderr.contains("no resource named 'r9'"), "{}", r.stderr);
    assert!(r.stderr.contains("configured: r0"), "{}", r.stderr);
    let r = adm(&["-c", &cfg, "--node", "zed", "role", "r0"]).expect(10);
    assert!(r.stderr.contains("'on zed'"), "{}", r.stderr);
    let r = adm(&["-c", &cfg, "--node", "zed", "status", "all"]).expect(10);
    assert!(r.stderr.contains("'on zed'"), "{}", r.stderr);
}

#[test]
fn an_unreachable_daemon_exits_11_and_says_to_run_up() {
    let dir = TempDir::new("adm-down");
    let cfg = write(
        dir.path(),
        "shimai.conf",
        &two_node_resource(dir.path(), "r0", 7791, ""),
    );
    let run = dir.join("run").display().to_string();
    for verb in [
        &["role", "r0"][..],
        &["cstate", "r0"],
        &["dstate", "r0"],
        &["status", "r0"],
        &["status", "--json", "r0"],
        &["primary", "r0"],
        &["secondary", "r0"],
        &["connect", "--discard-my-data", "r0"],
        &["new-current-uuid", "--clear-bitmap", "r0"],
        &["events", "--now", "r0"],
        &["wait-connect", "--timeout", "1", "r0"],
    ] {
        let mut args = vec!["-c", cfg.as_str(), "--node", "a", "--run-dir", run.as_str()];
        args.extend_from_slice(verb);
        let r = adm(&args).expect(11);
        assert!(
            r.stderr.contains("start it with `shimaiadm up r0`"),
            "{verb:?}: {}",
            r.stderr
        );
    }
    // The run directory from the environment.
    let r = adm_env(
        &["-c", &cfg, "--node", "a", "role", "r0"],
        &[("SHIMAI_RUN_DIR", &run)],
    )
    .expect(11);
    assert!(r.stderr.contains(&format!("{run}/r0.ctl")), "{}", r.stderr);
    // `down` of a resource that is not up succeeds, as drbdadm's.
    adm(&["-c", &cfg, "--node", "a", "--run-dir", &run, "down", "r0"]).expect(0);
}

#[test]
fn proc_shows_configured_minors_that_are_down_as_unconfigured() {
    let dir = TempDir::new("adm-proc");
    let text = two_node_resource(dir.path(), "r0", 7792, "")
        + &two_node_resource(dir.path(), "r1", 7793, "").replace("drbd7793", "drbd1");
    let cfg = write(
        dir.path(),
        "shimai.conf",
        &text.replace("drbd7792", "drbd0"),
    );
    let run = dir.join("run").display().to_string();
    let r = adm(&["-c", &cfg, "--node", "b", "--run-dir", &run, "proc"]).expect(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("version: 8.4"), "{}", r.stdout);
    assert!(lines.contains(&" 0: cs:Unconfigured"), "{}", r.stdout);
    assert!(lines.contains(&" 1: cs:Unconfigured"), "{}", r.stdout);
}

#[test]
fn create_md_writes_metadata_and_refuses_to_overwrite_without_force() {
    let dir = TempDir::new("adm-md");
    let cfg = write(
        dir.path(),
        "shimai.conf",
        &two_node_resource(dir.path(), "r0", 7794, ""),
    );
    let run = dir.join("run").display().to_string();
    let img = sparse(dir.path(), "r0-a.img", 64);
    let base = ["-c", cfg.as_str(), "--node", "a", "--run-dir", run.as_str()];
    let with = |more: &[&'static str]| {
        let mut v: Vec<&str> = base.to_vec();
        v.extend_from_slice(more);
        v
    };

    let r = adm(&with(&["get-gi", "r0"])).expect(1);
    assert!(r.stderr.contains("r0-a.img"), "{}", r.stderr);

    let r = adm(&with(&["create-md", "r0"])).expect(0);
    assert!(r.stdout.contains("new metadata"), "{}", r.stdout);
    // Read back: just-created generation, no flags (Inconsistent).
    let r = adm(&with(&["get-gi", "r0"])).expect(0);
    assert_eq!(
        r.stdout,
        "0000000000000004:0000000000000000:0000000000000000:0000000000000000:0:0:0:0:0:0:0\n"
    );
    let r = adm(&with(&["dump-md", "r0"])).expect(0);
    assert!(r.stdout.contains("placement internal;"), "{}", r.stdout);
    assert!(r.stdout.contains("flags (none);"), "{}", r.stdout);
    // Internal metadata: the superblock copies are the last 8 KiB.
    let bytes = std::fs::read(&img).unwrap();
    assert_eq!(bytes.len(), 64 << 20, "create-md must not change the size");
    let tail = &bytes[bytes.len() - 8192..];
    assert!(
        tail.windows(8).any(|w| w == b"SHIMAImd"),
        "no superblock at the end of the backing file"
    );

    // Again, without a terminal: refused, nothing written, told to use --force.
    let r = adm(&with(&["create-md", "r0"])).expect(1);
    assert!(
        r.stderr.contains("already holds shimai metadata"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(&img).unwrap(),
        bytes,
        "a refusal wrote to the disk"
    );

    let r = adm(&with(&["create-md", "--force", "r0"])).expect(0);
    assert!(r.stdout.contains("new metadata"), "{}", r.stdout);
    assert_ne!(
        std::fs::read(&img).unwrap(),
        bytes,
        "--force wrote no new metadata (a new device UUID)"
    );

    // A missing backing file names its path.
    let r = adm(&[
        "-c",
        &cfg,
        "--node",
        "b",
        "--run-dir",
        &run,
        "create-md",
        "r0",
    ])
    .expect(1);
    assert!(r.stderr.contains("r0-b.img"), "{}", r.stderr);
}

const SCENARIO2: &str = r#"resource drbd0 {
  protocol B;
  incon-degr-cmd "halt -f";
  syncer { rate 200M; }
  disk { on-io-error pass_on; }
  net { on-disconnect reconnect; }
  on s1.unoh.net { device /dev/drbd0; disk /dev/sda3; address 10.1.0.1:7789; meta-disk internal; }
  on s2.unoh.net { device /dev/drbd0; disk /dev/sda3; address 10.1.0.2:7789; meta-disk internal; }
}
resource drbd1 {
  on s1.unoh.net { device /dev/drbd1; disk /dev/sda4; address 10.1.0.1:7790; meta-disk internal; }
  on s2.unoh.net { device /dev/drbd1; disk /dev/sda4; address 10.1.0.2:7790; meta-disk internal; }
}
"#;

const SCENARIO5: &str = r#"global { usage-count yes; }
common { syncer { rate 10M; } }
resource r0 {
  protocol C;
  startup { degr-wfc-timeout 120; }
  net { cram-hmac-alg sha1; shared-secret "FooFunFactory"; }
  on host01.example.ac.jp { device /dev/drbd0; disk /dev/VolGroup00/lvol0; address 192.168.1.100:7789; meta-disk internal; }
  on host02.example.ac.jp { device /dev/drbd0; disk /dev/VolGroup00/lvol0; address 192.168.1.200:7789; meta-disk internal; }
}
"#;

/// `dump`, then `dump` of the dump: the canonical text is a fixed point.
fn dump_twice(dir: &TempDir, name: &str, text: &str, res: &str) -> String {
    let cfg = write(dir.path(), name, text);
    let first = adm(&["-c", &cfg, "dump", res]).expect(0).stdout;
    let again = write(dir.path(), &format!("{name}.dump"), &first);
    let second = adm(&["-c", &again, "dump", res]).expect(0).stdout;
    assert_eq!(first, second, "dump of the dump differs");
    first
}

#[test]
fn dump_prints_the_scenario_configs_canonically() {
    let dir = TempDir::new("adm-dump");
    let all = dump_twice(&dir, "s2.conf", SCENARIO2, "all");
    assert!(all.contains("resource drbd0"), "{all}");
    assert!(all.contains("resource drbd1"), "{all}");
    assert!(all.contains("protocol B"), "{all}");
    assert!(all.contains("10.1.0.2:7790"), "{all}");
    assert!(
        all.contains("200M"),
        "the 0.7 syncer rate must survive: {all}"
    );
    let one = dump_twice(&dir, "s2b.conf", SCENARIO2, "drbd1");
    assert!(
        one.contains("resource drbd1") && !one.contains("resource drbd0"),
        "{one}"
    );

    let r0 = dump_twice(&dir, "s5.conf", SCENARIO5, "r0");
    assert!(r0.contains("FooFunFactory"), "{r0}");
    assert!(r0.contains("degr-wfc-timeout"), "{r0}");
    assert!(r0.contains("host02.example.ac.jp"), "{r0}");
    // No node needed: dump works on any machine.
    let cfg = write(dir.path(), "s5c.conf", SCENARIO5);
    let r = adm(&["-c", &cfg, "dump", "r9"]).expect(10);
    assert!(r.stderr.contains("no resource named 'r9'"), "{}", r.stderr);
}
