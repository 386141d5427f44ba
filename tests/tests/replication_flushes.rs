//! `disk-flushes no` and `md-flushes no` (DRBD's settings for storage with a battery- or
//! flash-backed write cache) are honoured: shimaid then never asks the device to flush its
//! cache (no `fdatasync`/`fsync`), while with the defaults a flushing writer makes both nodes
//! flush. The system calls are counted with `strace -c` attached to both daemons.

mod replication_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use replication_support::*;

/// `strace -c -f` attached to a process, stopped (SIGINT) when dropped or read.
struct Strace(Option<Child>);

impl Strace {
    fn attach(pid: i32) -> Strace {
        let child = Command::new("strace")
            .args([
                "-f",
                "-c",
                "-e",
                "trace=fdatasync,fsync,sync_file_range",
                "-p",
            ])
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("strace");
        // strace attaches to every thread before it counts.
        std::thread::sleep(Duration::from_millis(500));
        Strace(Some(child))
    }

    /// Stops counting; the calls that flush a device's cache (`fdatasync` + `fsync`).
    fn device_flushes(mut self) -> u64 {
        let child = self.0.take().expect("running");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let out = child.wait_with_output().expect("strace output");
        let text = String::from_utf8_lossy(&out.stderr);
        let calls = |syscall: &str| -> u64 {
            text.lines()
                .find(|l| l.split_whitespace().last() == Some(syscall))
                .and_then(|l| {
                    // % time, seconds, usecs/call, calls, [errors], syscall
                    l.split_whitespace().nth(3).and_then(|c| c.parse().ok())
                })
                .unwrap_or(0)
        };
        calls("fdatasync") + calls("fsync")
    }
}

impl Drop for Strace {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn pid_of(p: &Pair, i: usize) -> i32 {
    std::fs::read_to_string(p.run_dir(i).join("r0.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Flush calls on both nodes while 8 MiB are written with a flush at the end, and while the
/// nodes disconnect and reconnect (metadata writes).
fn flushes_during_writes(flush_opts: &str, test: &str) -> (u64, u64) {
    let mut p = Pair::new(test, 64, "");
    for i in 0..2 {
        p.edit_conf(
            i,
            "resync-rate 400M;",
            &format!("resync-rate 400M; {flush_opts}"),
        );
    }
    p.up_skip_sync();
    p.ok(0, r#"{"cmd":"primary"}"#);
    let traces = [Strace::attach(pid_of(&p, 0)), Strace::attach(pid_of(&p, 1))];
    let src = p.dir.join("payload");
    std::fs::write(&src, pattern(8 << 20, 3)).unwrap();
    shimai_tests::sh(&format!(
        "nbdcopy --flush --request-size=65536 {} '{}'",
        src.display(),
        p.nbd_uri(0)
    ));
    p.ok(0, r#"{"cmd":"disconnect"}"#);
    p.ok(0, r#"{"cmd":"connect","discard_my_data":false}"#);
    p.wait(0, "connection", "Connected", 20);
    p.wait(1, "disk", "UpToDate", 20);
    let [a, b] = traces;
    (a.device_flushes(), b.device_flushes())
}

#[test]
fn disk_flushes_no_and_md_flushes_no_never_flush_the_device() {
    let test = "disk_flushes_no_and_md_flushes_no_never_flush_the_device";
    if !have(test, &["nbdcopy", "strace"]) {
        return;
    }
    let (p, s) = flushes_during_writes("", "repl-flush-on");
    eprintln!("defaults: device flushes primary {p}, secondary {s}");
    assert!(
        p > 0 && s > 0,
        "with the defaults both nodes flush: primary {p}, secondary {s}"
    );
    let (p, s) = flushes_during_writes("disk-flushes no; md-flushes no;", "repl-flush-off");
    assert_eq!(
        (p, s),
        (0, 0),
        "no device flush with disk-flushes no and md-flushes no"
    );
}
