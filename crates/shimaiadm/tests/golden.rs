//! Golden files for every output layout: each `tests/data/CASE.report.json`
//! is a hand-built `StatusReport` (what shimaid answers to `status`), and
//! `CASE.proc`, `CASE.status`, `CASE.status-verbose`, `CASE.legacy`
//! (`role`, `cstate`, `dstate`) and `CASE.json` are what shimaiadm must
//! print for it. The expected files were checked line by line against
//! DRBD 8.4's `drbd_proc.c` and drbdsetup 9's status layout; to review a
//! deliberate layout change, run with `SHIMAI_BLESS=1` and read the diff.

use std::path::PathBuf;

use shimaiadm::format::{self, legacy, proc, status};
use shimaid::control::StatusReport;

const CASES: [&str; 5] = [
    "connected-primary",
    "standalone-secondary",
    "syncing-source",
    "paused-sync-target",
    "split-brain",
];

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn report(case: &str) -> StatusReport {
    let text = std::fs::read_to_string(data(&format!("{case}.report.json"))).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{case}.report.json: {e}"))
}

fn check(case: &str, ext: &str, actual: &str) {
    let path = data(&format!("{case}.{ext}"));
    if std::env::var("SHIMAI_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (SHIMAI_BLESS=1 writes it)", path.display()));
    assert_eq!(
        actual, expected,
        "{case}.{ext} differs; actual output:\n{actual}"
    );
}

#[test]
fn every_layout_matches_its_golden_file() {
    for case in CASES {
        let r = report(case);
        check(case, "proc", &proc::proc_file(&[proc::Minor::Up(&r)]));
        check(case, "status", &status::status_text(&r, false));
        check(case, "status-verbose", &status::status_text(&r, true));
        let legacy = format!(
            "{}{}{}",
            legacy::role(&r),
            legacy::cstate(&r),
            legacy::dstate(&r)
        );
        check(case, "legacy", &legacy);
        check(case, "json", &format::json(&[&r]));
    }
}

#[test]
fn the_json_output_reads_back_as_the_same_reports() {
    let reports: Vec<StatusReport> = CASES.iter().map(|c| report(c)).collect();
    let refs: Vec<&StatusReport> = reports.iter().collect();
    let back: Vec<StatusReport> = serde_json::from_str(&format::json(&refs)).unwrap();
    assert_eq!(back, reports);
}

#[test]
fn proc_lists_minors_in_order_with_down_ones_unconfigured() {
    let mut second = report("connected-primary");
    second.minor = 1;
    second.resource = "r1".into();
    let first = report("standalone-secondary");
    let text = proc::proc_file(&[
        proc::Minor::Up(&second),
        proc::Minor::Down { minor: 2 },
        proc::Minor::Up(&first),
    ]);
    let minors: Vec<&str> = text.lines().filter(|l| l.contains(": cs:")).collect();
    assert_eq!(minors.len(), 3, "{text}");
    assert!(minors[0]
        .starts_with(" 0: cs:WFConnection ro:Secondary/Unknown ds:UpToDate/DUnknown C r-----"));
    assert!(minors[1].starts_with(" 1: cs:Connected ro:Primary/Secondary"));
    assert_eq!(minors[2], " 2: cs:Unconfigured");
    assert!(text.starts_with("version: 8.4.11 (api:1/proto:86-101)\n"));
}
