//! A Secondary that stops answering (SIGSTOP: the process is frozen, its kernel socket still
//! accepts bytes until its buffers fill) must not make the Primary grow without bound. The
//! user-space send queue is bounded (max-buffers x 4 KiB); at the bound client writes wait
//! (DRBD's `on-congestion block`) until the peer is expelled by the ping timeout or
//! `ko-count`, or makes progress again. Memory is read from /proc/PID/status (VmHWM, the
//! peak resident set), the figure an operator's monitoring sees.
//!
//! The harness's `ping-int 1` (not DRBD's 10 s) keeps the expulsion test short.

mod replication_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use replication_support::*;

fn pid_of(p: &Pair, i: usize) -> i32 {
    std::fs::read_to_string(p.run_dir(i).join("r0.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

/// A field of /proc/PID/status in KiB.
fn status_kib(pid: i32, name: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Continues a stopped daemon when the test ends, passed or failed, so the pair's own
/// cleanup can talk to it.
struct Resume(i32);
impl Drop for Resume {
    fn drop(&mut self) {
        signal(self.0, nix::sys::signal::Signal::SIGCONT);
    }
}

/// Kills the writer by PID when the test ends.
struct Writer(Child);
impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nbdcopy of `mib` MiB of pattern into node 0's export, with at most 16 requests of 256 KiB
/// in flight on one connection.
fn start_writer(p: &Pair, mib: usize) -> Writer {
    let src = p.dir.join("payload");
    std::fs::write(&src, pattern(mib << 20, 7)).unwrap();
    let child = Command::new("nbdcopy")
        .args(["--connections=1", "--requests=16", "--request-size=262144"])
        .arg(&src)
        .arg(p.nbd_uri(0))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nbdcopy");
    Writer(child)
}

fn wait_writer(w: &mut Writer, secs: u64, p: &Pair) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = w.0.try_wait().unwrap() {
            assert!(st.success(), "nbdcopy failed: {st}");
            return;
        }
        if Instant::now() > deadline {
            let log = p.log(0);
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "the writer did not finish in {secs} s; node 0's status: {}\nlog (last lines, newest first):\n{}",
                p.status(0),
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_stopped_secondary_is_expelled_and_the_primary_stays_within_its_memory_bound() {
    let test = "a_stopped_secondary_is_expelled_and_the_primary_stays_within_its_memory_bound";
    if !have(test, &["nbdcopy"]) {
        return;
    }
    let mut p = Pair::new("repl-stall", 512, "  protocol A;");
    p.up_skip_sync();
    p.ok(0, r#"{"cmd":"primary"}"#);
    let (primary, secondary) = (pid_of(&p, 0), pid_of(&p, 1));
    let base = status_kib(primary, "VmRSS:");
    // A daemon serving its host's block device keeps its memory and is the OOM killer's
    // last choice.
    assert!(
        status_kib(primary, "VmLck:") > 0,
        "shimaid's memory is locked"
    );
    let adj = std::fs::read_to_string(format!("/proc/{primary}/oom_score_adj")).unwrap();
    // Lowering it needs CAP_SYS_RESOURCE, which some containers withhold even from root: then
    // the log must say so.
    let allowed = std::process::Command::new("sh")
        .args(["-c", "echo -900 > /proc/self/oom_score_adj"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if allowed {
        assert_eq!(adj.trim(), "-900");
    } else {
        assert!(
            p.log(0)
                .contains("not protected from memory pressure: oom_score_adj"),
            "the log says what could not be done:\n{}",
            p.log(0)
        );
    }

    signal(secondary, nix::sys::signal::Signal::SIGSTOP);
    let resume = Resume(secondary);
    let mut w = start_writer(&p, 96);
    wait_writer(&mut w, 120, &p);
    // The peer was expelled (ping-timeout), the writes completed locally into the bitmap.
    assert_ne!(p.field(0, "connection"), "Connected");
    let peak = status_kib(primary, "VmHWM:");
    // The send queue (8 MiB) + the client's 4 MiB in flight + the socket, on top of where the
    // daemon started; 384 MiB were written.
    let bound = base + 64 * 1024;
    eprintln!("shimaid resident: {base} KiB at start, peak {peak} KiB, bound {bound} KiB");
    assert!(peak <= bound, "peak resident {peak} KiB over {bound} KiB");

    drop(resume);
    p.wait(0, "connection", "Connected", 30);
    p.wait(1, "disk", "UpToDate", 120);
    p.wait(0, "peer_disk", "UpToDate", 10);
    assert!(
        p.data(0) == p.data(1),
        "replicas identical after the resync"
    );
}

#[test]
fn with_ko_count_0_and_no_pings_a_stalled_peer_makes_writers_wait_within_the_bound() {
    let test = "with_ko_count_0_and_no_pings_a_stalled_peer_makes_writers_wait_within_the_bound";
    if !have(test, &["nbdcopy"]) {
        return;
    }
    let mut p = Pair::with_net("repl-stall-ko", 256, "ko-count 0;", "  protocol A;");
    for i in 0..2 {
        p.edit_conf(i, "ping-int 1;", "ping-int 120;");
    }
    p.up_skip_sync();
    p.ok(0, r#"{"cmd":"primary"}"#);
    let (primary, secondary) = (pid_of(&p, 0), pid_of(&p, 1));
    let base = status_kib(primary, "VmRSS:");

    signal(secondary, nix::sys::signal::Signal::SIGSTOP);
    let resume = Resume(secondary);
    let mut w = start_writer(&p, 192);
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        w.0.try_wait().unwrap().is_none(),
        "the writer waits while the peer is stalled"
    );
    assert_eq!(p.field(0, "connection"), "Connected", "not expelled");
    let peak = status_kib(primary, "VmHWM:");
    // max-buffers (2048) x nothing bigger than the 4 MiB the client has in flight, + the
    // 8 MiB queue bound + 16 MiB.
    let bound = base + (4 + 8 + 16) * 1024;
    eprintln!("shimaid resident: {base} KiB at start, peak {peak} KiB, bound {bound} KiB");
    assert!(peak <= bound, "peak resident {peak} KiB over {bound} KiB");

    drop(resume);
    wait_writer(&mut w, 120, &p);
    p.wait(1, "disk", "UpToDate", 60);
    assert!(p.data(0) == p.data(1), "replicas identical");
}
