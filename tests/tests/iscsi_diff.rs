//! Differential suite: resource-agents 4.12's iSCSITarget and
//! iSCSILogicalUnit against ours, on the same tgtd, comparing exit codes and
//! the resulting tgtd state for each parameter; then one scenario per
//! defect of the reference (listed in docs/agents/iscsi.md), asserting what
//! the reference does and what we do instead.

mod iscsi_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use iscsi_support::{backing_file, discovered, iscsi, prerequisites, reference, Client, Tgtd, IQN};

/// The two implementations of one agent.
struct Pair {
    ours: PathBuf,
    theirs: PathBuf,
}

fn pair(t: &Tgtd, name: &str) -> Pair {
    Pair {
        ours: t.agent(name),
        theirs: reference(name),
    }
}

/// What one agent did in a start / monitor / stop cycle, and tgtd's state after start.
#[derive(Debug, PartialEq, Eq)]
struct Cycle {
    start: i32,
    monitor: i32,
    state: String,
    stop: i32,
    monitor_after: i32,
    state_after: String,
}

fn cycle(t: &Tgtd, agent: &Path, inst: &str, params: &[(&str, &str)]) -> Cycle {
    let start = t.run(agent, "start", inst, params);
    let monitor = t.run(agent, "monitor", inst, params).rc;
    let state = t.state();
    let stop = t.run(agent, "stop", inst, params).rc;
    Cycle {
        start: start.rc,
        monitor,
        state,
        stop,
        monitor_after: t.run(agent, "monitor", inst, params).rc,
        state_after: t.state(),
    }
}

#[test]
fn target_parameters_give_the_same_results() {
    if !prerequisites("target_parameters_give_the_same_results") {
        return;
    }
    let t = Tgtd::start();
    let a = pair(&t, "iSCSITarget");
    let sets: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("iqn", IQN),
            ("tid", "1"),
            ("allowed_initiators", "127.0.0.1"),
        ],
        vec![
            ("iqn", IQN),
            ("tid", "2"),
            ("allowed_initiators", "127.0.0.1 10.0.0.0/8"),
        ],
        vec![
            ("iqn", IQN),
            ("tid", "3"),
            ("allowed_initiators", "ALL"),
            ("implementation", "tgt"),
        ],
        vec![
            ("iqn", IQN),
            ("tid", "4"),
            ("allowed_initiators", "ALL"),
            ("portals", "127.0.0.1:3260"),
        ],
        vec![
            ("iqn", IQN),
            ("tid", "5"),
            ("allowed_initiators", "ALL"),
            ("iser_portals", "127.0.0.1:3260"),
        ],
        vec![
            ("iqn", IQN),
            ("tid", "6"),
            ("allowed_initiators", "ALL"),
            ("incoming_username", "winuser"),
            ("incoming_password", "secret123456"),
        ],
        vec![
            ("iqn", IQN),
            ("tid", "7"),
            ("allowed_initiators", "ALL"),
            (
                "additional_parameters",
                "MaxRecvDataSegmentLength=65536 ImmediateData=No",
            ),
        ],
    ];
    for params in &sets {
        let theirs = cycle(&t, &a.theirs, "p_target", params);
        t.reset();
        let ours = cycle(&t, &a.ours, "p_target", params);
        t.reset();
        assert_eq!(ours, theirs, "{params:?}");
        assert_eq!(
            (ours.start, ours.monitor, ours.stop, ours.monitor_after),
            (0, 0, 0, 7),
            "{params:?}"
        );
    }
    // The session parameters reach tgtd: the same as the reference's.
    let params = &sets[6];
    for agent in [&a.theirs, &a.ours] {
        assert_eq!(t.run(agent, "start", "p_target", params).rc, 0);
        let (_, p) = t.tgtadm(&["--mode", "target", "--op", "show", "--tid", "7"]);
        assert!(
            p.contains("MaxRecvDataSegmentLength=65536") && p.contains("ImmediateData=No"),
            "{p}"
        );
        assert_eq!(t.run(agent, "stop", "p_target", params).rc, 0);
    }
}

#[test]
fn logical_unit_parameters_give_the_same_results() {
    if !prerequisites("logical_unit_parameters_give_the_same_results") {
        return;
    }
    let t = Tgtd::start();
    let a = pair(&t, "iSCSILogicalUnit");
    let target = t.agent("iSCSITarget");
    let tp = [("iqn", IQN), ("tid", "1")];
    let file = backing_file(&t, "lu.img", 16);
    let dev = shimai_tests::LoopDev::new(16, None);
    let (f, d) = (file.as_str(), dev.path());
    let with =
        |path: &str, extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, String)> {
            let mut v = vec![
                ("target_iqn", IQN.to_string()),
                ("lun", "1".to_string()),
                ("path", path.to_string()),
            ];
            for (k, val) in extra {
                v.retain(|(key, _)| key != k);
                v.push((k, val.to_string()));
            }
            v
        };
    let owned: Vec<Vec<(&str, String)>> = vec![
        with(f, &[]),
        with(d, &[]),
        with(f, &[("lun", "4")]),
        with(d, &[("scsi_id", "shimai-disk-0"), ("scsi_sn", "SN0001")]),
        with(d, &[("vendor_id", "SHIMAI"), ("product_id", "replicated")]),
        with(d, &[("tgt_bstype", "aio")]),
        with(d, &[("tgt_bstype", "aio"), ("tgt_bsoflags", "direct")]),
        with(f, &[("tgt_bsoflags", "sync")]),
        with(f, &[("tgt_bstype", "rdwr"), ("tgt_bsoflags", "direct")]),
        with(d, &[("tgt_device_type", "disk")]),
        with(f, &[("additional_parameters", "readonly=1")]),
        with(f, &[("implementation", "tgt")]),
        with(
            f,
            &[
                ("emulate_tpu", "1"),
                ("emulate_3pc", "1"),
                ("emulate_caw", "1"),
                ("liot_bstype", "fileio"),
                ("lio_iblock", "2"),
                ("allowed_initiators", "iqn.2026-01.org.shimai.test:x"),
            ],
        ),
    ];
    let sets: Vec<Vec<(&str, &str)>> = owned
        .iter()
        .map(|v| v.iter().map(|(k, val)| (*k, val.as_str())).collect())
        .collect();
    for params in &sets {
        let mut results = Vec::new();
        for agent in [&a.theirs, &a.ours] {
            assert_eq!(t.run(&target, "start", "p_target", &tp).rc, 0);
            let c = cycle(&t, agent, "p_lu1", params);
            let inq = {
                assert_eq!(t.run(agent, "start", "p_lu1", params).rc, 0);
                let lun: u32 = params
                    .iter()
                    .find(|(k, _)| *k == "lun")
                    .unwrap()
                    .1
                    .parse()
                    .unwrap();
                let out = iscsi("iscsi-inq", &[&t.url(IQN, lun)]).1;
                assert_eq!(t.run(agent, "stop", "p_lu1", params).rc, 0);
                out
            };
            assert_eq!(t.run(&target, "stop", "p_target", &tp).rc, 0);
            results.push((c, inq));
        }
        assert_eq!(results[1], results[0], "{params:?}");
        assert_eq!(results[1].0.start, 0, "{params:?}");
    }
}

#[test]
fn empty_allowed_initiators_admits_everyone() {
    if !prerequisites("empty_allowed_initiators_admits_everyone") {
        return;
    }
    let t = Tgtd::start();
    let a = pair(&t, "iSCSITarget");
    let params = [("iqn", IQN), ("tid", "1"), ("allowed_initiators", "")];
    // Reference: starts, but binds nothing: "Target not found" for every initiator.
    assert_eq!(t.run(&a.theirs, "start", "p_t", &params).rc, 0);
    assert!(
        !discovered(&t, None).contains(IQN),
        "reference fixed? {}",
        t.show()
    );
    assert_eq!(t.run(&a.theirs, "stop", "p_t", &params).rc, 0);
    // Ours: bound as ALL, as documented.
    assert_eq!(t.run(&a.ours, "start", "p_t", &params).rc, 0);
    assert!(discovered(&t, None).contains(IQN), "{}", t.show());
    assert_eq!(t.run(&a.ours, "stop", "p_t", &params).rc, 0);
}

#[test]
fn initiator_names_are_bound_as_names() {
    if !prerequisites("initiator_names_are_bound_as_names") {
        return;
    }
    let t = Tgtd::start();
    let a = pair(&t, "iSCSITarget");
    let name = "iqn.1991-05.com.microsoft:win-client";
    let params = [("iqn", IQN), ("tid", "1"), ("allowed_initiators", name)];
    assert_eq!(t.run(&a.theirs, "start", "p_t", &params).rc, 0);
    assert!(
        !discovered(&t, Some(name)).contains(IQN),
        "reference fixed? {}",
        t.show()
    );
    assert_eq!(t.run(&a.theirs, "stop", "p_t", &params).rc, 0);
    assert_eq!(t.run(&a.ours, "start", "p_t", &params).rc, 0);
    assert!(discovered(&t, Some(name)).contains(IQN), "{}", t.show());
    assert!(!discovered(&t, Some("iqn.1991-05.com.microsoft:intruder")).contains(IQN));
    assert_eq!(t.run(&a.ours, "stop", "p_t", &params).rc, 0);
}

#[test]
fn target_monitor_checks_its_own_tid_and_exact_iqn() {
    if !prerequisites("target_monitor_checks_its_own_tid_and_exact_iqn") {
        return;
    }
    let t = Tgtd::start();
    let a = pair(&t, "iSCSITarget");
    let params = [("iqn", IQN), ("tid", "2")];
    // Another target whose IQN has ours as a prefix.
    let longer = format!("{IQN}1");
    let (rc, out) = t.tgtadm(&[
        "--mode", "target", "--op", "new", "--tid", "1", "-T", &longer,
    ]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(
        t.run(&a.theirs, "monitor", "p_t", &params).rc,
        0,
        "reference fixed?"
    );
    assert_eq!(t.run(&a.ours, "monitor", "p_t", &params).rc, 7);
    // Ours stops at once (nothing of ours is there); the reference's stop would loop.
    assert_eq!(t.run(&a.ours, "stop", "p_t", &params).rc, 0);
    assert!(
        t.show().contains(&longer),
        "our stop touched another target"
    );
    t.reset();
    // Our IQN under another tid.
    let (rc, out) = t.tgtadm(&["--mode", "target", "--op", "new", "--tid", "3", "-T", IQN]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(
        t.run(&a.theirs, "monitor", "p_t", &params).rc,
        0,
        "reference fixed?"
    );
    assert_eq!(t.run(&a.ours, "monitor", "p_t", &params).rc, 7);
    let r = t.run(&a.ours, "start", "p_t", &params);
    assert_eq!(r.rc, 1, "{r:?}");
    assert!(
        r.exit_reason().unwrap_or_default().contains("tid 3"),
        "{r:?}"
    );
}

#[test]
fn lu_monitor_checks_its_own_target_and_lun() {
    if !prerequisites("lu_monitor_checks_its_own_target_and_lun") {
        return;
    }
    let t = Tgtd::start();
    let a = pair(&t, "iSCSILogicalUnit");
    let file = backing_file(&t, "shared.img", 16);
    let other = "iqn.2026-01.org.shimai.test:other";
    for (tid, iqn) in [("1", other), ("2", IQN)] {
        let (rc, out) = t.tgtadm(&["--mode", "target", "--op", "new", "--tid", tid, "-T", iqn]);
        assert_eq!(rc, 0, "{out}");
    }
    let (rc, out) = t.tgtadm(&[
        "--mode",
        "logicalunit",
        "--op",
        "new",
        "--tid",
        "1",
        "--lun",
        "1",
        "-b",
        &file,
    ]);
    assert_eq!(rc, 0, "{out}");
    let params = [("target_iqn", IQN), ("lun", "1"), ("path", file.as_str())];
    assert_eq!(
        t.run(&a.theirs, "monitor", "p_lu1", &params).rc,
        0,
        "reference fixed?"
    );
    assert_eq!(t.run(&a.ours, "monitor", "p_lu1", &params).rc, 7);
    // Same target, another LUN number.
    let (rc, out) = t.tgtadm(&[
        "--mode",
        "logicalunit",
        "--op",
        "new",
        "--tid",
        "2",
        "--lun",
        "3",
        "-b",
        &file,
    ]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(
        t.run(&a.theirs, "monitor", "p_lu1", &params).rc,
        0,
        "reference fixed?"
    );
    assert_eq!(t.run(&a.ours, "monitor", "p_lu1", &params).rc, 7);
}

#[test]
fn stop_under_a_relogging_initiator() {
    if !prerequisites("stop_under_a_relogging_initiator") {
        return;
    }
    let t = Tgtd::start();
    let a = pair(&t, "iSCSITarget");
    let lu = t.agent("iSCSILogicalUnit");
    let file = backing_file(&t, "busy.img", 64);
    let params = [("iqn", IQN), ("tid", "1"), ("allowed_initiators", "ALL")];
    let lp = [("target_iqn", IQN), ("lun", "1"), ("path", file.as_str())];
    assert_eq!(t.run(&a.theirs, "start", "p_t", &params).rc, 0);
    assert_eq!(t.run(&lu, "start", "p_lu", &lp).rc, 0);
    // Several initiators, each logging in again as soon as it is dropped.
    let _clients: Vec<Client> = (0..4).map(|_| Client::perf(&t.url(IQN, 1))).collect();
    assert!(iscsi_support::wait_for(10, || t
        .show()
        .contains("Connection:")));
    // The reference's stop deletes the connections and retries the delete
    // every second: the initiator is back each time, so it never ends. Give it 6 s.
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", "6"])
        .arg(&a.theirs)
        .arg("stop")
        .env("OCF_ROOT", "/usr/lib/ocf")
        .env("OCF_RESOURCE_INSTANCE", "p_t")
        .env("TGT_IPC_SOCKET", t.ipc_base());
    for (k, v) in params {
        cmd.env(format!("OCF_RESKEY_{k}"), v);
    }
    let out = shimai_tests::run(&mut cmd);
    // timeout -s KILL kills its whole process group, itself included.
    use std::os::unix::process::ExitStatusExt;
    let killed = out.status.signal() == Some(9) || out.status.code() == Some(137);
    assert!(killed, "reference stop ended: {out:?}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("still active"), "{log}");
    assert!(t.show().contains(IQN));
    // Ours: offline, drop, delete, within the default 10 s timeout of the meta-data.
    let started = Instant::now();
    let r = t.run(
        &a.ours,
        "stop",
        "p_t",
        &[
            params[0],
            params[1],
            params[2],
            ("CRM_meta_timeout", "10000"),
        ],
    );
    assert_eq!(r.rc, 0, "{r:?}");
    assert!(started.elapsed().as_secs() < 8, "{:?}", started.elapsed());
    assert!(!t.show().contains(IQN), "{}", t.show());
}

#[test]
fn validate_all_differences() {
    if !prerequisites("validate_all_differences") {
        return;
    }
    let t = Tgtd::start();
    let target = pair(&t, "iSCSITarget");
    let lu = pair(&t, "iSCSILogicalUnit");
    let r = |p: &Pair, params: &[(&str, &str)]| {
        (
            t.run(&p.theirs, "validate-all", "p_x", params).rc,
            t.run(&p.ours, "validate-all", "p_x", params).rc,
        )
    };
    assert_eq!(r(&target, &[("iqn", IQN), ("tid", "abc")]), (0, 6));
    assert_eq!(
        r(
            &lu,
            &[
                ("target_iqn", IQN),
                ("lun", "1"),
                ("path", "/nonexistent/disk")
            ]
        ),
        (0, 5)
    );
    // Where both agree.
    assert_eq!(r(&target, &[("iqn", IQN), ("tid", "1")]), (0, 0));
    assert_eq!(
        r(
            &target,
            &[("iqn", IQN), ("tid", "1"), ("implementation", "bogus")]
        )
        .1,
        6
    );
    assert_eq!(
        r(
            &lu,
            &[("target_iqn", IQN), ("lun", "1"), ("path", "/dev/null")]
        ),
        (0, 0)
    );
    assert_eq!(
        r(
            &lu,
            &[("target_iqn", IQN), ("lun", "0"), ("path", "/dev/null")]
        )
        .1,
        6
    );
}

/// Processes a monitor creates, counted with strace.
fn spawned(t: &Tgtd, agent: &Path, inst: &str, params: &[(&str, &str)]) -> usize {
    let trace = t.dir.join(&format!("trace-{inst}"));
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-o"])
        .arg(&trace)
        .args(["-e", "trace=execve"])
        .arg(agent)
        .arg("monitor")
        .env("OCF_ROOT", "/usr/lib/ocf")
        .env("OCF_RESOURCE_INSTANCE", inst)
        .env("OCF_RESKEY_CRM_meta_interval", "10000")
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("TGT_IPC_SOCKET", t.ipc_base());
    for (k, v) in params {
        cmd.env(format!("OCF_RESKEY_{k}"), v);
    }
    let out = shimai_tests::run(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains("execve(") && !l.contains("ENOENT"))
        .count()
}

#[test]
fn monitors_fork_nothing_where_the_reference_forks_many() {
    if !prerequisites("monitors_fork_nothing_where_the_reference_forks_many") {
        return;
    }
    let t = Tgtd::start();
    let target = pair(&t, "iSCSITarget");
    let lu = pair(&t, "iSCSILogicalUnit");
    let file = backing_file(&t, "m.img", 16);
    let tp = [("iqn", IQN), ("tid", "1")];
    let lp = [("target_iqn", IQN), ("lun", "1"), ("path", file.as_str())];
    assert_eq!(t.run(&target.ours, "start", "p_t", &tp).rc, 0);
    assert_eq!(t.run(&lu.ours, "start", "p_lu", &lp).rc, 0);
    let theirs = (
        spawned(&t, &target.theirs, "p_t", &tp),
        spawned(&t, &lu.theirs, "p_lu", &lp),
    );
    let ours = (
        spawned(&t, &target.ours, "p_t", &tp),
        spawned(&t, &lu.ours, "p_lu", &lp),
    );
    eprintln!("programs executed per monitor: reference {theirs:?}, ours {ours:?}");
    assert_eq!(ours, (1, 1));
    assert!(theirs.0 > 5 && theirs.1 > 5, "{theirs:?}");
}
