//! `replication_bench`: what replication costs on the write path, and how much a resync
//! saves by moving only what changed.
//!
//! ```text
//! cargo build --release --workspace --bins --examples
//! target/release/examples/replication_bench [--runs N] [--quick] [--runtime SECS]
//!     [--size MIB] [--json-dir DIR] [--check]
//! ```
//!
//! fio's `nbd` engine drives shimaid's export (StandAlone, protocol C, protocol A; two nodes
//! on 127.0.0.1 and 127.0.0.2) beside `nbdkit file` (an NBD server without replication, same
//! file size, also on a Unix socket) and the raw file itself, and, for the bandwidth job,
//! two files written at once (the most two copies can get from this disk). Each run goes
//! through the jobs J1-J4 in turn, running every target on each job before the next job, in
//! an order that rotates from run to run; then J7 times a full and a 1%-dirty resync. The
//! tables print medians over the runs and the ratios that the targets are about, and server
//! CPU time per write (utime + stime of shimaid's processes and nbdkit from /proc).
//!
//! `--quick`: one run, 3 s per job, 256 MiB files. `--check` exits 1 when a target is
//! missed. shimaid is taken from beside this program (`target/release/`) or from
//! `SHIMAI_BIN_DIR`. Needs root (it runs as the daemons' operator would). Ctrl-C stops after
//! the job under way and cleans up.

mod bed;
mod fio;
mod node;
mod report;
mod resync;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use shimai_tests::cluster::{Error, Result};

use bed::{Bed, Kind};
use fio::Job;

const USAGE: &str = "usage: replication_bench [--runs N] [--quick] [--runtime SECS] [--size MIB] \
                     [--json-dir DIR] [--check]";

struct Options {
    runs: usize,
    runtime_s: u64,
    size_mib: u64,
    json_dir: Option<PathBuf>,
    check: bool,
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("replication_bench: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !nix::unistd::geteuid().is_root() {
        eprintln!("replication_bench: needs root (it runs shimaid as its operator would)");
        return ExitCode::from(2);
    }
    let stop = match catch_interrupts() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("replication_bench: cannot block SIGINT/SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    match bench(&opts, &stop) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) if opts.check => {
            println!("--check: a target is missed");
            ExitCode::FAILURE
        }
        Ok(false) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replication_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> std::result::Result<Option<Options>, String> {
    let mut o = Options {
        runs: 3,
        runtime_s: 5,
        size_mib: 512,
        json_dir: None,
        check: false,
    };
    let mut args = std::env::args().skip(1);
    let number = |name: &str, v: Option<String>| -> std::result::Result<u64, String> {
        v.and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or(format!("{name} needs a whole number, 1 or more"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => o.runs = number("--runs", args.next())? as usize,
            "--runtime" => o.runtime_s = number("--runtime", args.next())?,
            "--size" => o.size_mib = number("--size", args.next())?.max(64),
            "--quick" => {
                o.runs = 1;
                o.runtime_s = 3;
                o.size_mib = 256;
            }
            "--json-dir" => o.json_dir = Some(args.next().ok_or("--json-dir needs a path")?.into()),
            "--check" => o.check = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(o))
}

/// Blocks SIGINT and SIGTERM in every thread (children inherit the mask, so fio finishes its
/// job) and sets the returned flag when one arrives; the runs stop at the next job and the
/// bed's guards clean up.
fn catch_interrupts() -> nix::Result<Arc<AtomicBool>> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        if let Ok(sig) = set.wait() {
            eprintln!("replication_bench: {sig}: stopping after the job under way");
            flag.store(true, Ordering::SeqCst);
        }
    });
    Ok(stop)
}

fn bench(opts: &Options, stop: &AtomicBool) -> Result<bool> {
    let shimaid = bin_dir()?.join("shimaid");
    for p in ["fio", "nbdkit"] {
        if shimai_tests::which(p).is_none() {
            return Err(Error::Usage(format!(
                "{p} is not installed (Debian: apt-get install fio nbdkit)"
            )));
        }
    }
    print_versions(&shimaid, opts);
    let bed = Bed::new(&shimaid, opts.size_mib, opts.json_dir.clone())?;
    println!(
        "files: {} MiB each, jobs address the first {} MiB; {} s per job; {} run(s)",
        opts.size_mib,
        bed.fio.size >> 20,
        opts.runtime_s,
        opts.runs
    );
    // Not measured: lets the write-back of the freshly written files end, warms the page
    // cache and shimaid's activity log.
    for kind in Kind::for_job(Job::J3) {
        bed.measure(0, Job::J3, kind, 2)?;
    }
    let mut samples = Vec::new();
    let mut resyncs = Vec::new();
    for run in 1..=opts.runs {
        for job in Job::ALL {
            let mut kinds = Kind::for_job(job);
            // A different target goes first in each run.
            let n = kinds.len();
            kinds.rotate_left((run - 1) % n);
            for kind in kinds {
                if stop.load(Ordering::SeqCst) {
                    return Err(Error::Usage("interrupted".into()));
                }
                let s = bed.measure(run, job, kind, opts.runtime_s)?;
                report::print_sample(&s);
                samples.push(s);
            }
        }
        if stop.load(Ordering::SeqCst) {
            return Err(Error::Usage("interrupted".into()));
        }
        let r = resync::measure(&bed, run)?;
        report::print_resync(&r);
        resyncs.push(r);
    }
    report::print_jobs(&samples);
    report::print_resyncs(&resyncs);
    Ok(report::print_targets(&samples, &resyncs))
}

/// Where shimaid is: `SHIMAI_BIN_DIR`, else the profile directory this example was built
/// into (`target/release/examples/..`).
fn bin_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("SHIMAI_BIN_DIR") {
        return Ok(d.into());
    }
    let exe = std::env::current_exe().map_err(|e| io_err("/proc/self/exe", e))?;
    exe.parent()
        .and_then(Path::parent)
        .filter(|d| d.join("shimaid").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            Error::Usage(format!(
                "no shimaid beside {}: run `cargo build --release --workspace --bins --examples` \
                 first, or set SHIMAI_BIN_DIR",
                exe.display()
            ))
        })
}

fn print_versions(shimaid: &Path, opts: &Options) {
    let first_line = |cmd: &mut Command| {
        output(cmd)
            .ok()
            .and_then(|o| o.lines().next().map(str::to_string))
            .unwrap_or_else(|| "?".into())
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {cores} cores, kernel {}; {}, {}, {}; shimaid {}",
        first_line(Command::new("uname").arg("-r")),
        first_line(Command::new("fio").arg("--version")),
        first_line(Command::new("nbdkit").arg("--version")),
        first_line(Command::new("nbdinfo").arg("--version")).replace("nbdinfo ", "libnbd "),
        shimaid.display(),
    );
    println!(
        "shimaid config: DRBD 8.4 defaults (al-extents 1237, max-epoch-size 2048, write \
         ordering by flush, TCP_NODELAY) except connect-int 1, resync-rate 4G, c-max-rate 0; \
         attach none (NBD export only); nodes on 127.0.0.1 and 127.0.0.2; no CPU pinning"
    );
    if opts.runs < 3 {
        println!("note: fewer than 3 runs, the medians are only indicative");
    }
}

/// Runs `cmd` (stdin closed), which must succeed; its stdout.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Command {
            command: describe(cmd),
            status: None,
            output: e.to_string(),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    Err(Error::Command {
        command: describe(cmd),
        status: out.status.code(),
        output: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    })
}

/// stdout and stderr of `cmd`, whatever its status (tools print versions on either).
fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io_err(cmd.get_program(), e))?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// An I/O error on `path`.
pub fn io_err(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
    Error::Io {
        path: path.into(),
        source,
    }
}
