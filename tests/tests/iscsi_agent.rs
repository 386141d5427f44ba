//! iSCSITarget and iSCSILogicalUnit against a tgtd of the test's own:
//! meta-data against the OCF schemas, ocf-tester with several parameter
//! sets, the libiscsi initiator's view (discovery, identity, access
//! control, CHAP), stop under a busy initiator, validation, and a monitor
//! that forks nothing.

mod iscsi_support;

use std::process::Command;
use std::time::Instant;

use iscsi_support::{backing_file, discovered, iscsi, prerequisites, Client, Tgtd, IQN};
use shimai_tests::{meta_data, xmllint};

fn target_params(tid: &str) -> Vec<(&'static str, String)> {
    vec![("iqn", IQN.to_string()), ("tid", tid.to_string())]
}

fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn meta_data_validates_and_lists_the_reference_parameters() {
    if !prerequisites("meta_data_validates_and_lists_the_reference_parameters") {
        return;
    }
    let t = Tgtd::start();
    for name in ["iSCSITarget", "iSCSILogicalUnit"] {
        let xml = meta_data(&t.agent(name));
        assert!(
            xml.contains(&format!("<resource-agent name=\"{name}\"")),
            "{xml}"
        );
        let (ok, err) = xmllint(&["--noout", "--valid"], &xml);
        assert!(ok, "{name}: ra-api-1.dtd: {err}");
        let (ok, err) = xmllint(&["--noout", "--relaxng", "metadata.rng"], &xml);
        assert!(ok, "{name}: metadata.rng: {err}");
        let reference = meta_data(&iscsi_support::reference(name));
        let names = |x: &str| -> Vec<String> {
            x.split("<parameter name=\"")
                .skip(1)
                .map(|s| s[..s.find('"').unwrap()].to_string())
                .collect()
        };
        let ours = names(&xml);
        for p in names(&reference) {
            assert!(
                ours.contains(&p),
                "{name}: parameter {p} of the reference is missing"
            );
        }
        // Same type, required and unique flags as the reference, parameter by parameter.
        let shape = |x: &str| -> Vec<(String, String, String, String)> {
            let attr = |tag: &str, a: &str| -> String {
                tag.split(&format!("{a}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or("")
                    .to_string()
            };
            let mut v: Vec<_> = x
                .split("<parameter ")
                .skip(1)
                .map(|chunk| {
                    let head = &chunk[..chunk.find('>').unwrap()];
                    let content = chunk.split("<content ").nth(1).unwrap_or("");
                    (
                        attr(head, "name"),
                        attr(content, "type"),
                        attr(head, "required"),
                        attr(head, "unique"),
                    )
                })
                .collect();
            v.retain(|p| p.0 != "tgt_control_port");
            v.sort();
            v
        };
        assert_eq!(
            shape(&xml),
            shape(&reference),
            "{name}: parameter types or flags differ"
        );
        for a in [
            "start",
            "stop",
            "monitor",
            "status",
            "meta-data",
            "validate-all",
        ] {
            assert!(
                xml.contains(&format!("<action name=\"{a}\"")),
                "{name}: action {a}"
            );
        }
    }
    let xml = meta_data(&t.agent("iSCSITarget"));
    assert!(xml.contains("default=\"0.0.0.0:3260\""));
    let xml = meta_data(&t.agent("iSCSILogicalUnit"));
    assert!(xml.contains("default=\"block\""));
}

#[test]
fn ocf_tester_passes_on_both_agents() {
    if !prerequisites("ocf_tester_passes_on_both_agents") {
        return;
    }
    let t = Tgtd::start();
    let sets: Vec<Vec<(&str, &str)>> = vec![
        vec![("iqn", IQN), ("tid", "1")],
        vec![
            ("iqn", IQN),
            ("tid", "3"),
            (
                "allowed_initiators",
                "127.0.0.1 iqn.2026-01.org.shimai.test:client",
            ),
        ],
        vec![
            ("iqn", IQN),
            ("tid", "4"),
            ("incoming_username", "winuser"),
            ("incoming_password", "secret123456"),
            (
                "additional_parameters",
                "MaxRecvDataSegmentLength=65536 ImmediateData=No",
            ),
            ("implementation", "tgt"),
        ],
    ];
    for opts in &sets {
        let (ok, out) = t.ocf_tester("iSCSITarget", "p_target", opts);
        assert!(ok, "ocf-tester iSCSITarget {opts:?}:\n{out}");
    }
    assert!(
        !t.show().contains("Target "),
        "ocf-tester left a target:\n{}",
        t.show()
    );
    // The LU needs its target.
    let tp = target_params("7");
    let r = t.run(&t.agent("iSCSITarget"), "start", "p_target", &as_refs(&tp));
    assert_eq!(r.rc, 0, "{r:?}");
    let file = backing_file(&t, "lu.img", 16);
    let dev = shimai_tests::LoopDev::new(16, None);
    let lu_sets: Vec<Vec<(&str, &str)>> = vec![
        vec![("target_iqn", IQN), ("lun", "1"), ("path", &file)],
        vec![
            ("target_iqn", IQN),
            ("lun", "2"),
            ("path", dev.path()),
            ("scsi_id", "shimai-disk-0"),
            ("scsi_sn", "SN0001"),
            ("vendor_id", "SHIMAI"),
            ("product_id", "replicated"),
        ],
        vec![
            ("target_iqn", IQN),
            ("lun", "3"),
            ("path", dev.path()),
            ("tgt_bstype", "aio"),
            ("tgt_bsoflags", "direct"),
            ("additional_parameters", "thin_provisioning=0"),
        ],
    ];
    for opts in &lu_sets {
        let (ok, out) = t.ocf_tester("iSCSILogicalUnit", "p_lu", opts);
        assert!(ok, "ocf-tester iSCSILogicalUnit {opts:?}:\n{out}");
    }
    let show = t.show();
    assert!(
        !show.contains("LUN: 1") && !show.contains("LUN: 2"),
        "{show}"
    );
    let r = t.run(&t.agent("iSCSITarget"), "stop", "p_target", &as_refs(&tp));
    assert_eq!(r.rc, 0, "{r:?}");
}

#[test]
fn initiator_sees_the_configured_identity_and_access_rules() {
    if !prerequisites("initiator_sees_the_configured_identity_and_access_rules") {
        return;
    }
    let t = Tgtd::start();
    let target = t.agent("iSCSITarget");
    let lu = t.agent("iSCSILogicalUnit");
    let dev = shimai_tests::LoopDev::new(32, None);
    let lu_params = [
        ("target_iqn", IQN),
        ("lun", "1"),
        ("path", dev.path()),
        ("scsi_id", "shimai-r0-disk"),
        ("scsi_sn", "SHM00042"),
        ("vendor_id", "SHIMAI"),
        ("product_id", "REPLICATED"),
    ];

    // Empty allowed_initiators: everyone (the reference hides the target).
    let tp = [("iqn", IQN), ("tid", "5"), ("allowed_initiators", "")];
    assert_eq!(t.run(&target, "start", "p_t", &tp).rc, 0);
    assert_eq!(t.run(&lu, "start", "p_lu", &lu_params).rc, 0);
    assert_eq!(t.run(&lu, "monitor", "p_lu", &lu_params).rc, 0);
    // The hold that covered the LUN's creation is released.
    assert_eq!(t.run(&target, "monitor", "p_t", &tp).rc, 0);
    assert!(t.show().contains("State: ready"), "{}", t.show());
    let ls = discovered(&t, None);
    assert!(ls.contains(IQN), "iscsi-ls does not list the target:\n{ls}");
    let (ok, sn) = iscsi("iscsi-inq", &["-e", "1", "-c", "128", &t.url(IQN, 1)]);
    assert!(ok && sn.contains("SHM00042"), "VPD 0x80:\n{sn}");
    let (ok, id) = iscsi("iscsi-inq", &["-e", "1", "-c", "131", &t.url(IQN, 1)]);
    assert!(ok && id.contains("shimai-r0-disk"), "VPD 0x83:\n{id}");
    let (ok, std) = iscsi("iscsi-inq", &[&t.url(IQN, 1)]);
    assert!(
        ok && std.contains("SHIMAI") && std.contains("REPLICATED"),
        "INQUIRY:\n{std}"
    );
    let (ok, cap) = iscsi("iscsi-readcapacity16", &[&t.url(IQN, 1)]);
    assert!(
        ok && cap.contains("LOGICAL BLOCK LENGTH IN BYTES:512"),
        "{cap}"
    );
    assert_eq!(t.run(&lu, "stop", "p_lu", &lu_params).rc, 0);
    assert_eq!(t.run(&target, "stop", "p_t", &tp).rc, 0);

    // An IQN is bound as a name: that initiator logs in, another does not.
    let allowed = "iqn.2026-01.org.shimai.test:allowed";
    let tp = [("iqn", IQN), ("tid", "5"), ("allowed_initiators", allowed)];
    assert_eq!(t.run(&target, "start", "p_t", &tp).rc, 0);
    assert_eq!(t.run(&lu, "start", "p_lu", &lu_params).rc, 0);
    assert!(discovered(&t, Some(allowed)).contains(IQN));
    let other = discovered(&t, Some("iqn.2026-01.org.shimai.test:other"));
    assert!(
        !other.contains(IQN),
        "a foreign initiator sees the target:\n{other}"
    );
    let (ok, _) = iscsi("iscsi-inq", &["-i", allowed, &t.url(IQN, 1)]);
    assert!(ok, "the allowed initiator cannot log in");
    assert_eq!(t.run(&lu, "stop", "p_lu", &lu_params).rc, 0);
    assert_eq!(t.run(&target, "stop", "p_t", &tp).rc, 0);

    // Addresses are bound as addresses: 127.0.0.1 in, 10.255.255.1 only: out.
    for (acl, visible) in [
        ("127.0.0.1", true),
        ("10.255.255.1", false),
        ("127.0.0.0/8", true),
    ] {
        let tp = [("iqn", IQN), ("tid", "5"), ("allowed_initiators", acl)];
        assert_eq!(t.run(&target, "start", "p_t", &tp).rc, 0);
        assert_eq!(
            discovered(&t, None).contains(IQN),
            visible,
            "allowed_initiators={acl}"
        );
        assert_eq!(t.run(&target, "stop", "p_t", &tp).rc, 0);
    }

    // CHAP: the account's user logs in; without credentials, no access.
    let tp = [
        ("iqn", IQN),
        ("tid", "5"),
        ("incoming_username", "winuser"),
        ("incoming_password", "secret123456"),
    ];
    assert_eq!(t.run(&target, "start", "p_t", &tp).rc, 0);
    assert_eq!(t.run(&lu, "start", "p_lu", &lu_params).rc, 0);
    let with = format!("iscsi://winuser%secret123456@127.0.0.1:{}/{IQN}/1", t.port);
    let (ok, out) = iscsi("iscsi-inq", &[&with]);
    assert!(ok, "CHAP login failed:\n{out}");
    let (ok, _) = iscsi("iscsi-inq", &[&t.url(IQN, 1)]);
    assert!(!ok, "login without CHAP succeeded");
    assert_eq!(t.run(&lu, "stop", "p_lu", &lu_params).rc, 0);
    assert_eq!(t.run(&target, "stop", "p_t", &tp).rc, 0);
    let (_, accounts) = t.tgtadm(&["--mode", "account", "--op", "show"]);
    assert!(
        !accounts.contains("winuser"),
        "stop left the account:\n{accounts}"
    );
}

#[test]
fn stop_takes_a_busy_target_down_within_its_timeout() {
    if !prerequisites("stop_takes_a_busy_target_down_within_its_timeout") {
        return;
    }
    let t = Tgtd::start();
    let target = t.agent("iSCSITarget");
    let lu = t.agent("iSCSILogicalUnit");
    let file = backing_file(&t, "busy.img", 64);
    let tp = [("iqn", IQN), ("tid", "2")];
    let lp = [("target_iqn", IQN), ("lun", "1"), ("path", file.as_str())];
    assert_eq!(t.run(&target, "start", "p_t", &tp).rc, 0);
    assert_eq!(t.run(&lu, "start", "p_lu", &lp).rc, 0);
    let _client = Client::perf(&t.url(IQN, 1));
    assert!(
        iscsi_support::wait_for(10, || t.show().contains("Connection:")),
        "iscsi-perf did not log in:\n{}",
        t.show()
    );
    // The target agent's stop (the LU's is the group's first; it may find
    // commands in flight, so the target's is the one that must cope).
    let started = Instant::now();
    let r = t.run(&target, "stop", "p_t", &tp);
    let took = started.elapsed();
    assert_eq!(r.rc, 0, "{r:?}");
    assert!(took.as_secs() < 8, "stop took {took:?}");
    assert!(!t.show().contains(IQN), "target still there:\n{}", t.show());
    assert_eq!(t.run(&target, "monitor", "p_t", &tp).rc, 7);
    assert_eq!(t.run(&lu, "monitor", "p_lu", &lp).rc, 7);
}

#[test]
fn stop_says_what_blocks_it() {
    if !prerequisites("stop_says_what_blocks_it") {
        return;
    }
    let t = Tgtd::start();
    let target = t.agent("iSCSITarget");
    let tp = [("iqn", IQN), ("tid", "2")];
    assert_eq!(t.run(&target, "start", "p_t", &tp).rc, 0);
    // A tgtd that stopped answering: stop must end before Pacemaker's
    // timeout (3 s here) and say what it waited for.
    let pid = nix::unistd::Pid::from_raw(t.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP tgtd");
    let started = Instant::now();
    let r = t.run(
        &target,
        "stop",
        "p_t",
        &[tp[0], tp[1], ("CRM_meta_timeout", "3000")],
    );
    let took = started.elapsed();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).expect("SIGCONT tgtd");
    assert_eq!(r.rc, 1, "{r:?}");
    assert!(
        took.as_millis() < 3000,
        "stop took {took:?}, past its timeout"
    );
    let reason = r.exit_reason().unwrap_or_default();
    assert!(
        reason.contains("tgtd") && reason.contains(&t.ipc_base()),
        "{r:?}"
    );
    let r = t.run(&target, "stop", "p_t", &tp);
    assert_eq!(r.rc, 0, "{r:?}");
    assert!(!t.show().contains(IQN));
}

#[test]
fn validate_all_rejects_what_the_reference_accepts() {
    if !prerequisites("validate_all_rejects_what_the_reference_accepts") {
        return;
    }
    let t = Tgtd::start();
    let target = t.agent("iSCSITarget");
    let lu = t.agent("iSCSILogicalUnit");
    type Case<'a> = (&'a std::path::Path, Vec<(&'a str, &'a str)>, i32, &'a str);
    let cases: Vec<Case> = vec![
        (&target, vec![("iqn", IQN), ("tid", "abc")], 6, "tid"),
        (&target, vec![("iqn", IQN)], 6, "tid"),
        (
            &target,
            vec![("iqn", "iqn.bad name"), ("tid", "1")],
            6,
            "iqn",
        ),
        (
            &target,
            vec![("iqn", IQN), ("tid", "1"), ("implementation", "iet")],
            6,
            "implementation=tgt",
        ),
        (
            &target,
            vec![
                ("iqn", IQN),
                ("tid", "1"),
                ("allowed_initiators", "host.example"),
            ],
            6,
            "allowed_initiators",
        ),
        (
            &target,
            vec![("iqn", IQN), ("tid", "1"), ("incoming_username", "u")],
            6,
            "incoming_password",
        ),
        (
            &lu,
            vec![
                ("target_iqn", IQN),
                ("lun", "1"),
                ("path", "/nonexistent/disk"),
            ],
            5,
            "/nonexistent/disk",
        ),
        (
            &lu,
            vec![("target_iqn", IQN), ("lun", "abc"), ("path", "/dev/null")],
            6,
            "lun",
        ),
        (
            &lu,
            vec![("target_iqn", IQN), ("lun", "0"), ("path", "/dev/null")],
            6,
            "lun=0",
        ),
        (
            &lu,
            vec![
                ("target_iqn", IQN),
                ("lun", "1"),
                ("path", "/dev/null"),
                ("implementation", "lio"),
            ],
            6,
            "lio-t",
        ),
    ];
    for (agent, params, rc, word) in &cases {
        let r = t.run(agent, "validate-all", "p_x", params);
        assert_eq!(r.rc, *rc, "{params:?}: {r:?}");
        assert!(
            r.exit_reason().unwrap_or_default().contains(word),
            "{params:?}: {r:?}"
        );
    }
    let r = t.run(
        &target,
        "validate-all",
        "p_x",
        &[("iqn", IQN), ("tid", "1")],
    );
    assert_eq!(r.rc, 0, "{r:?}");
    let r = t.run(
        &lu,
        "validate-all",
        "p_x",
        &[("target_iqn", IQN), ("lun", "1"), ("path", "/dev/null")],
    );
    assert_eq!(r.rc, 0, "{r:?}");
    // Stop with a broken configuration has nothing to stop.
    assert_eq!(
        t.run(&target, "stop", "p_x", &[("iqn", IQN), ("tid", "abc")])
            .rc,
        0
    );
    // lio-t on a node without configfs says so.
    let r = t.run(
        &target,
        "start",
        "p_x",
        &[("iqn", IQN), ("implementation", "lio-t")],
    );
    if !std::path::Path::new("/sys/kernel/config/target").exists() {
        assert_eq!(r.rc, 5, "{r:?}");
        assert!(
            r.exit_reason().unwrap_or_default().contains("configfs"),
            "{r:?}"
        );
    }
}

#[test]
fn monitor_forks_nothing() {
    if !prerequisites("monitor_forks_nothing") {
        return;
    }
    let t = Tgtd::start();
    let target = t.agent("iSCSITarget");
    let lu = t.agent("iSCSILogicalUnit");
    let file = backing_file(&t, "m.img", 16);
    let tp = [("iqn", IQN), ("tid", "9")];
    let lp = [("target_iqn", IQN), ("lun", "1"), ("path", file.as_str())];
    assert_eq!(t.run(&target, "start", "p_t", &tp).rc, 0);
    assert_eq!(t.run(&lu, "start", "p_lu", &lp).rc, 0);
    for (agent, params) in [(&target, &tp[..]), (&lu, &lp[..])] {
        let trace = t.dir.join("trace");
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-o"])
            .arg(&trace)
            .args(["-e", "trace=process"])
            .arg(agent)
            .arg("monitor")
            .env("TGT_IPC_SOCKET", t.ipc_base())
            .env("OCF_ROOT", "/usr/lib/ocf")
            .env(
                "OCF_RESOURCE_INSTANCE",
                if params.len() == 3 { "p_lu" } else { "p_t" },
            )
            .env("OCF_RESKEY_CRM_meta_interval", "10000");
        for (k, v) in params {
            cmd.env(format!("OCF_RESKEY_{k}"), v);
        }
        let out = shimai_tests::run(&mut cmd);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let text = std::fs::read_to_string(&trace).unwrap();
        let spawns = text
            .lines()
            .filter(|l| {
                l.contains("clone(")
                    || l.contains("clone3(")
                    || l.contains("fork(")
                    || l.contains("execve(")
            })
            .count();
        assert_eq!(
            spawns, 1,
            "the monitor forked or executed something:\n{text}"
        );
    }
    assert_eq!(t.run(&target, "stop", "p_t", &tp).rc, 0);
}

#[test]
fn a_chap_account_shared_by_two_targets_outlives_the_first_stop() {
    if !prerequisites("a_chap_account_shared_by_two_targets_outlives_the_first_stop") {
        return;
    }
    let t = Tgtd::start();
    let target = t.agent("iSCSITarget");
    let second = "iqn.2026-01.org.shimai.test:second";
    let chap = [
        ("incoming_username", "shared"),
        ("incoming_password", "secret123456"),
    ];
    let a = [("iqn", IQN), ("tid", "1"), chap[0], chap[1]];
    let b = [("iqn", second), ("tid", "2"), chap[0], chap[1]];
    assert_eq!(t.run(&target, "start", "p_a", &a).rc, 0);
    assert_eq!(t.run(&target, "start", "p_b", &b).rc, 0);
    // Starting again (a re-probe found it running, or a restart) keeps it bound.
    assert_eq!(t.run(&target, "start", "p_a", &a).rc, 0);
    let accounts = || t.tgtadm(&["--mode", "account", "--op", "show"]).1;
    assert_eq!(t.run(&target, "stop", "p_a", &a).rc, 0);
    assert!(accounts().contains("shared"), "{}", accounts());
    assert!(
        t.show().contains("shared"),
        "target b lost its account:\n{}",
        t.show()
    );
    assert_eq!(t.run(&target, "stop", "p_b", &b).rc, 0);
    assert!(!accounts().contains("shared"), "{}", accounts());
}

#[test]
fn an_unknown_tgtd_version_is_refused() {
    if !prerequisites("an_unknown_tgtd_version_is_refused") {
        return;
    }
    // A copy of tgtd whose version string says 1.0.99: same protocol, but
    // not a version the agents were checked against.
    let real = shimai_tests::which("tgtd").expect("tgtd");
    let mut bin = std::fs::read(&real).expect("read tgtd");
    let (from, to) = (b"\x001.0.85\x00", b"\x001.0.99\x00");
    let at = bin
        .windows(from.len())
        .position(|w| w == from)
        .expect("tgtd 1.0.85's version string (another tgt version installed?)");
    bin[at..at + to.len()].copy_from_slice(to);
    let dir = shimai_tests::TempDir::new("tgtd-bin");
    let copy = dir.join("tgtd");
    std::fs::write(&copy, &bin).expect("write the copy");
    std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let t = Tgtd::start_program(&copy);
    let target = t.agent("iSCSITarget");
    let tp = [("iqn", IQN), ("tid", "1")];
    for action in ["start", "validate-all"] {
        let r = t.run(&target, action, "p_t", &tp);
        assert_eq!(r.rc, 5, "{action}: {r:?}");
        assert!(
            r.exit_reason().unwrap_or_default().contains("1.0.99"),
            "{r:?}"
        );
    }
    assert!(!t.show().contains(IQN), "a target was created anyway");
    // The monitor does not look at the version (it must stay one request).
    assert_eq!(t.run(&target, "monitor", "p_t", &tp).rc, 7);
}
