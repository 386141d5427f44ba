//! The Filesystem agent against the field's oracles (ocf-tester, the OCF
//! schemas, the reference agent's meta-data, the docs) and the behaviours
//! where it deliberately differs from resource-agents 4.12.

mod filesystem_support;

use shimai_tests::{meta_data, xmllint};
use std::collections::BTreeMap;
use std::process::Command;

use filesystem_support::{check_exit_reasons, ours, prerequisites, reference, Holder, Run, World};

fn tester(name: &str, opts: &[(&str, &str)]) {
    let (passed, out) = shimai_tests::ocf_tester(&ours(), name, opts, None);
    assert!(passed, "ocf-tester failed for {opts:?}:\n{out}");
    assert!(out.contains("passed all tests"), "{out}");
}

#[test]
fn ocf_tester_passes_with_several_parameter_sets() {
    if !prerequisites("ocf_tester_passes_with_several_parameter_sets") {
        return;
    }
    let w = World::new(Some("ext4"));
    let mnt = w.mnt().to_string_lossy().into_owned();
    tester(
        "fs-ext4",
        &[("device", w.dev()), ("directory", &mnt), ("fstype", "ext4")],
    );
    tester(
        "fs-opts",
        &[
            ("device", w.dev()),
            ("directory", &mnt),
            ("fstype", "ext4"),
            ("options", "noatime"),
        ],
    );
    tester(
        "fs-auto",
        &[("device", w.dev()), ("directory", &mnt), ("fstype", "")],
    );
    let src = w.path("src");
    std::fs::create_dir_all(&src).unwrap();
    tester(
        "fs-bind",
        &[
            ("device", &src),
            ("directory", &mnt),
            ("fstype", "none"),
            ("options", "bind"),
        ],
    );
    let x = World::new(Some("xfs"));
    let xmnt = x.mnt().to_string_lossy().into_owned();
    tester(
        "fs-xfs",
        &[("device", x.dev()), ("directory", &xmnt), ("fstype", "xfs")],
    );
    assert!(filesystem_support::mounts_of(&w).is_empty());
    assert!(filesystem_support::mounts_of(&x).is_empty());
}

#[test]
fn meta_data_validates_against_dtd_and_rng() {
    if !shimai_tests::have_program("meta_data_validates", "xmllint") {
        return;
    }
    let xml = meta_data(&ours());
    let (ok, err) = xmllint(&["--noout", "--valid"], &xml);
    assert!(ok, "ra-api-1.dtd: {err}");
    let (ok, err) = xmllint(&["--noout", "--relaxng", "metadata.rng"], &xml);
    assert!(ok, "metadata.rng: {err}");
    // The checker itself must reject a broken document.
    let broken = xml.replace("timeout=\"60s\"", "");
    assert!(!xmllint(&["--noout", "--valid"], &broken).0);
}

/// `name -> (default, type)` of each parameter, and each action line, by
/// a small scan of the meta-data XML.
fn parse_meta(xml: &str) -> (BTreeMap<String, (String, String)>, Vec<String>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].to_string())
    };
    let mut params = BTreeMap::new();
    for chunk in xml.split("<parameter ").skip(1) {
        let head = &chunk[..chunk.find('>').unwrap()];
        let content = chunk
            .split("<content ")
            .nth(1)
            .map(|c| &c[..c.find('>').unwrap()])
            .unwrap_or("");
        params.insert(
            attr(head, "name").unwrap(),
            (
                attr(content, "default").unwrap_or_default(),
                attr(content, "type").unwrap_or_default(),
            ),
        );
    }
    let mut actions: Vec<String> = xml
        .split("<action ")
        .skip(1)
        .map(|a| {
            let tag = &a[..a.find('>').unwrap()];
            let mut fields: Vec<String> = ["name", "timeout", "interval", "depth"]
                .iter()
                .filter_map(|k| attr(tag, k).map(|v| format!("{k}={v}")))
                .collect();
            fields.sort();
            fields.join(" ")
        })
        .collect();
    actions.sort();
    (params, actions)
}

#[test]
fn meta_data_matches_the_reference_agent() {
    if !prerequisites("meta_data_matches_the_reference_agent") {
        return;
    }
    let theirs = shimai_tests::run(
        Command::new(reference())
            .arg("meta-data")
            .env("OCF_ROOT", "/usr/lib/ocf"),
    );
    let theirs = String::from_utf8(theirs.stdout).unwrap();
    let (their_params, their_actions) = parse_meta(&theirs);
    let (our_params, our_actions) = parse_meta(&meta_data(&ours()));
    assert_eq!(their_params.len(), 9, "{their_params:?}");
    assert_eq!(our_params, their_params);
    assert_eq!(our_actions, their_actions);
}

#[test]
fn docs_parameter_table_lists_the_meta_data() {
    let doc = std::fs::read_to_string(shimai_tests::workspace().join("docs/agents/Filesystem.md"))
        .expect("docs/agents/Filesystem.md exists");
    let (params, _) = parse_meta(&meta_data(&ours()));
    let table: BTreeMap<String, String> = doc
        .lines()
        .skip_while(|l| !l.starts_with("| parameter"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let unquote = |s: &str| s.trim_matches('`').to_string();
            (unquote(cells[1]), unquote(cells[2]))
        })
        .collect();
    let want: BTreeMap<String, String> = params
        .into_iter()
        .map(|(k, (default, _))| {
            (
                k,
                if default.is_empty() {
                    "(empty)".into()
                } else {
                    default
                },
            )
        })
        .collect();
    assert_eq!(table, want, "docs/agents/Filesystem.md parameter table");
}

/// Runs only our agent on a fresh ext4 world.
fn our_run() -> Run {
    let mut r = Run::new(ours(), World::new(Some("ext4")));
    r.standard("ext4");
    r
}

#[test]
fn unsupported_check_level_runs_the_next_lower_one() {
    if !prerequisites("unsupported_check_level_runs_the_next_lower_one") {
        return;
    }
    let mut r = our_run();
    assert_eq!(r.act("start"), 0);
    // The reference answers 6 ("unsupported monitor level"); the OCF spec
    // asks for the next lower implemented level.
    assert_eq!(r.monitor("15"), 0);
    assert_eq!(r.monitor("30"), 0);
    assert_eq!(r.monitor("5"), 0);
    assert_eq!(r.monitor("deep"), 6);
    // Level 30 ran level 20: the status file is there.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let status =
        r.w.mnt()
            .join(format!(".Filesystem_status/fs1_{}", host.trim()));
    assert!(status.is_file(), "{}", status.display());
    assert_eq!(r.act("stop"), 0);
    check_exit_reasons("check levels", &r);
    let mut reference_run = Run::new(reference(), World::new(Some("ext4")));
    reference_run.standard("ext4");
    assert_eq!(reference_run.act("start"), 0);
    assert_eq!(reference_run.monitor("15"), 6, "the reference changed");
    assert_eq!(reference_run.act("stop"), 0);
}

#[test]
fn validate_all_checks_the_configuration() {
    if !prerequisites("validate_all_checks_the_configuration") {
        return;
    }
    // The reference returns 0 for all of these.
    let mut r = our_run();
    r.base.retain(|(k, _)| k != "OCF_RESKEY_directory");
    assert_eq!(r.act("validate-all"), 6);
    let mut r = our_run();
    r.env("OCF_RESKEY_CRM_meta_clone_max", "2");
    assert_eq!(r.act("validate-all"), 6);
    let mut r = our_run();
    assert_eq!(r.act("validate-all"), 0);
    assert_eq!(
        r.call("validate-all", &[("OCF_TESTER_FAIL_HAVE_BINARY", "1")]),
        5
    );
    check_exit_reasons("validate-all", &r);
}

#[test]
fn filesystem_tags_are_resolved_without_udev() {
    if !prerequisites("filesystem_tags_are_resolved_without_udev") {
        return;
    }
    // mount(8) syntax UUID=/LABEL=: the reference looks for a block device
    // literally named "UUID=..." and answers 5.
    for form in ["uuid", "label"] {
        let mut r = our_run();
        let device = match form {
            "uuid" => format!("UUID={}", r.w.uuid()),
            _ => format!("LABEL={}", r.w.label),
        };
        r.param("device", &device);
        assert_eq!(r.act("start"), 0, "{device}: {:?}", r.calls);
        let mounts = filesystem_support::mounts_of(&r.w);
        assert_eq!(mounts.len(), 1);
        assert!(mounts[0].starts_with("$DEV / $T/mnt ext4 "), "{mounts:?}");
        assert_eq!(r.monitor("10"), 0);
        assert_eq!(r.act("stop"), 0);
        check_exit_reasons(&device, &r);
    }
    let mut r = our_run();
    r.param("device", "UUID=00000000-1111-2222-3333-444444444444");
    assert_eq!(r.act("start"), 5);
    assert_eq!(r.probe(), 7);
    check_exit_reasons("missing uuid", &r);
}

#[test]
fn busy_stop_succeeds_without_an_exit_reason_and_within_budget() {
    if !prerequisites("busy_stop_succeeds_without_an_exit_reason_and_within_budget") {
        return;
    }
    let mut r = our_run();
    assert_eq!(r.act("start"), 0);
    // A process that ignores SIGTERM: only the KILL half of the budget frees the mount.
    let mnt = r.w.mnt();
    let stubborn = Command::new("sh")
        .args(["-c", "trap '' TERM; while :; do sleep 1; done"])
        .current_dir(&mnt)
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stubborn = Kill(stubborn);
    r.w.holders.push(Holder::new(&mnt));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let t = std::time::Instant::now();
    let rc = r.call(
        "stop",
        &[
            ("OCF_RESKEY_CRM_meta_timeout", "8000"),
            ("OCF_RESKEY_fast_stop", "yes"),
        ],
    );
    let took = t.elapsed();
    assert_eq!(rc, 0, "{:?}", r.calls);
    // TERM phase is half of min(6 s, 8 s - 2 s margin): KILL comes after 3 s.
    assert!(took >= std::time::Duration::from_secs(3), "{took:?}");
    assert!(took < std::time::Duration::from_secs(6), "{took:?}");
    assert!(
        stubborn.0.try_wait().unwrap().is_some(),
        "stubborn holder survived"
    );
    assert!(!r.w.holders[0].alive());
    let (_, last) = r.calls.last().unwrap();
    assert_eq!(last.exit_reason(), None, "{}", last.stderr);
    assert!(
        last.stderr.contains("SIGTERM") && last.stderr.contains("SIGKILL"),
        "{}",
        last.stderr
    );
    assert!(filesystem_support::mounts_of(&r.w).is_empty());
}

#[test]
fn failed_stop_reports_the_holder_and_ends_before_the_timeout() {
    if !prerequisites("failed_stop_reports_the_holder_and_ends_before_the_timeout") {
        return;
    }
    let mut r = our_run();
    r.param("force_unmount", "false");
    assert_eq!(r.act("start"), 0);
    let mnt = r.w.mnt();
    r.w.holders.push(Holder::new(&mnt));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let t = std::time::Instant::now();
    let rc = r.call("stop", &[("OCF_RESKEY_CRM_meta_timeout", "5000")]);
    assert_eq!(rc, 1);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    assert!(r.w.holders[0].alive(), "force_unmount=false must not kill");
    let reason = r.calls.last().unwrap().1.exit_reason().unwrap().to_string();
    assert!(
        reason.contains("Couldn't unmount") && reason.contains("busy"),
        "{reason}"
    );
    let holder = r.w.holders[0].pid();
    assert!(
        reason.contains(&format!("still used by {holder} (sleep 300)")),
        "{reason}"
    );
    check_exit_reasons("failed stop", &r);
}

#[test]
fn monitor_forks_nothing() {
    if !prerequisites("monitor_forks_nothing")
        || !shimai_tests::have_program("monitor_forks_nothing", "strace")
    {
        return;
    }
    let mut r = our_run();
    assert_eq!(r.act("start"), 0);
    let mnt = r.w.mnt().to_string_lossy().into_owned();
    for depth in ["0", "10", "20"] {
        let out = shimai_tests::run(
            Command::new("strace")
                .args([
                    "-f",
                    "-qq",
                    "-e",
                    "trace=execve,fork,vfork,clone,clone3",
                    "-o",
                    "/dev/stderr",
                ])
                .arg(ours())
                .arg("monitor")
                .env("OCF_RESKEY_device", r.w.dev())
                .env("OCF_RESKEY_directory", &mnt)
                .env("OCF_RESKEY_fstype", "ext4")
                .env("OCF_CHECK_LEVEL", depth),
        );
        let trace = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "depth {depth}: {trace}");
        let calls: Vec<&str> = trace
            .lines()
            .filter(|l| l.contains("execve(") || l.contains("fork(") || l.contains("clone"))
            .collect();
        assert_eq!(
            calls.len(),
            1,
            "depth {depth}: only the agent's own execve: {calls:?}"
        );
        assert!(calls[0].contains("execve("), "{calls:?}");
    }
    assert_eq!(r.act("stop"), 0);
}

#[test]
fn read_only_bind_mount_is_read_only() {
    if !prerequisites("read_only_bind_mount_is_read_only") {
        return;
    }
    // The reference remounts with "remount,ro", which asks for the source's
    // whole filesystem to become read-only; mount(8) 2.38 refuses ("mount
    // point is busy") and the reference's start returns 1 with the bind
    // mount left behind. Ours remounts only the bind mount.
    let w = World::new(None);
    let src = w.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(format!("{src}/file"), "x").unwrap();
    let mnt = w.mnt().to_string_lossy().into_owned();
    let mut r = Run::new(ours(), w);
    r.param("device", &src)
        .param("directory", &mnt)
        .param("fstype", "none")
        .param("options", "bind,ro");
    assert_eq!(r.act("start"), 0, "{:?}", r.calls);
    let mounts = filesystem_support::mounts_of(&r.w);
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert!(
        mounts[0].contains(" $T/src $T/mnt ") && mounts[0].contains(" ro,"),
        "{mounts:?}"
    );
    assert!(
        std::fs::write(format!("{mnt}/new"), "y").is_err(),
        "bind mount is writable"
    );
    assert!(
        std::fs::write(format!("{src}/new"), "y").is_ok(),
        "source became read-only"
    );
    assert_eq!(r.act("monitor"), 0);
    assert_eq!(r.act("stop"), 0);
    assert!(filesystem_support::mounts_of(&r.w).is_empty());
    check_exit_reasons("bind,ro", &r);
}
