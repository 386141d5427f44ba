//! SCSI conformance of a LUN our agents export: libiscsi's iscsi-test-cu
//! families Read*, Write*, WriteSame*, WriteVerify*, Unmap, Inquiry,
//! ReadCapacity*, Verify* and CompareAndWrite against tgtd on a plain loop
//! device, and FUA writes reaching the backing device as flushes; then every
//! test of those families that passes on the loop device must pass on a LUN
//! backed by shimai's replicated device (two shimaid nodes, `attach fuse`).
//! (libiscsi 1.19 has no SynchronizeCache family.)

mod iscsi_support;
#[path = "replication_support/mod.rs"]
mod replication_support;

use std::collections::BTreeSet;

use std::process::{Command, Stdio};

use iscsi_support::{iscsi, prerequisites, Tgtd, IQN};

const FAMILIES: &[&str] = &[
    "SCSI.Inquiry",
    "SCSI.ReadCapacity10",
    "SCSI.ReadCapacity16",
    "SCSI.Read6",
    "SCSI.Read10",
    "SCSI.Read12",
    "SCSI.Read16",
    "SCSI.Write10",
    "SCSI.Write12",
    "SCSI.Write16",
    "SCSI.WriteSame10",
    "SCSI.WriteSame16",
    "SCSI.WriteVerify10",
    "SCSI.WriteVerify12",
    "SCSI.WriteVerify16",
    "SCSI.Verify10",
    "SCSI.Verify12",
    "SCSI.Verify16",
    "SCSI.Unmap",
    "SCSI.CompareAndWrite",
];

/// Exports `path` as LUN 1 of IQN through our agents.
fn export(t: &Tgtd, path: &str) {
    let tp = [("iqn", IQN), ("tid", "1")];
    let lp = [("target_iqn", IQN), ("lun", "1"), ("path", path)];
    assert_eq!(t.run(&t.agent("iSCSITarget"), "start", "p_t", &tp).rc, 0);
    let r = t.run(&t.agent("iSCSILogicalUnit"), "start", "p_lu", &lp);
    assert_eq!(r.rc, 0, "{r:?}");
}

#[test]
fn scsi_families_pass_on_a_loop_device_lun() {
    if !prerequisites("scsi_families_pass_on_a_loop_device_lun")
        || !shimai_tests::have_program("scsi_families_pass", "iscsi-test-cu")
    {
        return;
    }
    let t = Tgtd::start();
    let dev = shimai_tests::LoopDev::new(64, None);
    export(&t, dev.path());
    let (ok, out) = iscsi(
        "iscsi-test-cu",
        &["-d", "-s", "-t", &FAMILIES.join(","), &t.url(IQN, 1)],
    );
    let summary: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("tests"))
        .collect();
    assert!(ok, "iscsi-test-cu failed:\n{out}");
    // "tests  Total  Ran  Passed  Failed  Inactive"
    let cols: Vec<u32> = summary
        .first()
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|c| c.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(cols.len() >= 4, "no run summary:\n{out}");
    assert!(cols[1] >= 100, "only {} tests ran:\n{out}", cols[1]);
    assert_eq!(cols[3], 0, "failures:\n{out}");
    assert_eq!(cols[1], cols[2], "not all tests passed:\n{out}");
}

#[test]
fn fua_writes_reach_the_device_as_flushes() {
    if !prerequisites("fua_writes_reach_the_device_as_flushes")
        || !shimai_tests::have_program("fua_writes", "iscsi-test-cu")
    {
        return;
    }
    let t = Tgtd::start();
    let dev = shimai_tests::LoopDev::new(16, None);
    export(&t, dev.path());
    let trace = t.dir.join("flush.trace");
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=fdatasync,fsync", "-o"])
        .arg(&trace)
        .args(["-p", &t.pid().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn strace");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            // SIGINT makes strace detach cleanly from tgtd.
            let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let _ = self.0.wait();
        }
    }
    let guard = Kill(&mut strace);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (ok, out) = iscsi(
        "iscsi-test-cu",
        &[
            "-d",
            "-s",
            "-t",
            "SCSI.Write10.DpoFua,SCSI.Write16.DpoFua",
            &t.url(IQN, 1),
        ],
    );
    drop(guard);
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&trace).unwrap_or_default();
    let flushes = text.lines().filter(|l| l.contains("fdatasync(")).count();
    eprintln!("fdatasync calls by tgtd during FUA writes: {flushes}");
    assert!(flushes > 0, "no flush reached the device:\n{text}");
}

/// The tests iscsi-test-cu reports as passed (its verbose "Test: NAME ...passed" lines).
fn passed(t: &Tgtd, lun: u32) -> (BTreeSet<String>, String) {
    let (_, out) = iscsi(
        "iscsi-test-cu",
        &["-d", "-t", &FAMILIES.join(","), &t.url(IQN, lun)],
    );
    let mut suite = String::new();
    let mut set = BTreeSet::new();
    for l in out.lines().map(str::trim_start) {
        if let Some(name) = l.strip_prefix("Suite: ") {
            suite = name.trim().to_string();
        } else if let Some((name, result)) =
            l.strip_prefix("Test: ").and_then(|r| r.split_once(" ..."))
        {
            if result.trim_start().starts_with("passed") {
                set.insert(format!("{suite}.{}", name.trim()));
            }
        }
    }
    (set, out)
}

#[test]
fn the_replicated_device_passes_what_a_loop_device_passes() {
    let test = "the_replicated_device_passes_what_a_loop_device_passes";
    if !prerequisites(test)
        || !replication_support::have(test, &["iscsi-test-cu", "nbdfuse", "losetup"])
    {
        return;
    }
    // Declared first, dropped last: tgtd lets go of the device before the nodes go down.
    let mut pair = replication_support::Pair::new("iscsi-repl", 32, "  options { attach fuse; }");
    pair.up_skip_sync();
    pair.ok(0, r#"{"cmd":"primary"}"#);
    let replicated = pair.device(0).to_string_lossy().into_owned();
    let t = Tgtd::start();
    let plain = shimai_tests::LoopDev::new(64, None);
    export(&t, plain.path());
    let lu2 = [
        ("target_iqn", IQN),
        ("lun", "2"),
        ("path", replicated.as_str()),
    ];
    let lu = t.agent("iSCSILogicalUnit");
    let r = t.run(&lu, "start", "p_lu2", &lu2);
    assert_eq!(r.rc, 0, "{r:?}");
    let (on_loop, loop_out) = passed(&t, 1);
    assert!(
        on_loop.len() >= 90,
        "only {} passed on the loop device:\n{loop_out}",
        on_loop.len()
    );
    let (on_repl, repl_out) = passed(&t, 2);
    let missing: Vec<&String> = on_loop.difference(&on_repl).collect();
    assert!(
        missing.is_empty(),
        "pass on a loop device, not on the replicated device: {missing:?}\n{repl_out}"
    );
    eprintln!(
        "iscsi-test-cu: {} tests pass on the loop device, {} on the replicated device",
        on_loop.len(),
        on_repl.len()
    );
    assert_eq!(t.run(&lu, "stop", "p_lu2", &lu2).rc, 0);
    // What the initiator wrote reached the peer: the replicas are identical.
    pair.ok(0, r#"{"cmd":"secondary"}"#);
    assert_eq!(
        pair.data(0),
        pair.data(1),
        "the replicas differ after the conformance run"
    );
}
