//! The fio job shapes (J1-J4 of the reference's benchmark plan) and what the benchmark reads
//! from fio's JSON output.
//!
//! The same shape runs against an NBD export (`ioengine=nbd`, one connection per fio job)
//! and against plain files, whose engine is the local equivalent: `psync` with `fdatasync`
//! after each write for the durable job (fio's nbd engine has no `fdatasync`; its `fsync=1`
//! sends an NBD FLUSH, which the servers turn into `fdatasync`), `psync`/`io_uring` with
//! O_DIRECT for the others. fio writes its JSON to a file: the nbd engine prints a line of
//! its own on stdout.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use shimai_tests::cluster::{Error, Result};

use crate::{io_err, run};

/// The measured jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Durable 4 KiB latency: random writes at depth 1, a flush after each.
    J1,
    /// 4 KiB latency without flushes, depth 1.
    J2,
    /// 4 KiB random-write IOPS at depth 16.
    J3,
    /// 1 MiB sequential-write bandwidth at depth 8, one flush at the end.
    J4,
}

impl Job {
    pub const ALL: [Job; 4] = [Job::J1, Job::J2, Job::J3, Job::J4];

    pub fn id(self) -> &'static str {
        match self {
            Job::J1 => "J1",
            Job::J2 => "J2",
            Job::J3 => "J3",
            Job::J4 => "J4",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Job::J1 => "durable 4k randwrite QD1, flush after each write",
            Job::J2 => "4k randwrite QD1, no flush",
            Job::J3 => "4k randwrite QD16",
            Job::J4 => "1M sequential write QD8, flush at the end",
        }
    }

    /// Bandwidth (MiB/s) is the figure of merit, rather than IOPS.
    pub fn is_bandwidth(self) -> bool {
        self == Job::J4
    }

    /// (rw, bs, iodepth)
    fn shape(self) -> (&'static str, &'static str, u32) {
        match self {
            Job::J1 | Job::J2 => ("randwrite", "4k", 1),
            Job::J3 => ("randwrite", "4k", 16),
            Job::J4 => ("write", "1M", 8),
        }
    }
}

/// Where the I/O goes.
pub enum Io<'a> {
    /// An NBD URI (`nbd+unix:///NAME?socket=PATH`).
    Nbd(&'a str),
    /// One fio job per file, all at once.
    Files(&'a [PathBuf]),
}

/// The figures of one fio job (or the mean over the jobs of one run).
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub iops: f64,
    pub mib_s: f64,
    /// Completion latency percentiles of the writes, plus those of the flush when each write
    /// is followed by one (J1): the time of a durable write.
    pub p50_us: f64,
    pub p99_us: f64,
    /// Writes completed (flushes not counted).
    pub ios: u64,
}

impl Figures {
    /// The mean of several jobs' figures that ran at once (per-copy rates); `ios` is the sum.
    pub fn mean(all: &[Figures]) -> Figures {
        let n = all.len().max(1) as f64;
        let sum = |f: fn(&Figures) -> f64| all.iter().map(f).sum::<f64>() / n;
        Figures {
            iops: sum(|f| f.iops),
            mib_s: sum(|f| f.mib_s),
            p50_us: sum(|f| f.p50_us),
            p99_us: sum(|f| f.p99_us),
            ios: all.iter().map(|f| f.ios).sum(),
        }
    }
}

/// How every job runs.
pub struct Fio {
    /// Bytes of the device or file each job addresses.
    pub size: u64,
}

impl Fio {
    /// The command line of `job` against `io`, writing JSON to `out`.
    pub fn job(&self, job: Job, io: &Io, runtime_s: u64, out: &Path) -> Command {
        let (rw, bs, depth) = job.shape();
        let mut c = self.base(out);
        c.arg(format!("--rw={rw}"))
            .arg(format!("--bs={bs}"))
            .arg(format!("--iodepth={depth}"))
            .arg(format!("--size={}", self.size))
            .arg("--time_based")
            .arg(format!("--runtime={runtime_s}"));
        match io {
            Io::Nbd(uri) => {
                c.args(["--ioengine=nbd", &format!("--uri={uri}")]);
                match job {
                    Job::J1 => c.arg("--fsync=1"),
                    Job::J4 => c.arg("--end_fsync=1"),
                    _ => &mut c,
                };
                c.arg(format!("--name={}", job.id()));
            }
            Io::Files(files) => {
                match job {
                    Job::J1 => c.args(["--ioengine=psync", "--fdatasync=1"]),
                    Job::J2 => c.args(["--ioengine=psync", "--direct=1"]),
                    Job::J3 => c.args(["--ioengine=io_uring", "--direct=1"]),
                    Job::J4 => c.args(["--ioengine=io_uring", "--direct=1", "--end_fsync=1"]),
                };
                for (i, f) in files.iter().enumerate() {
                    c.arg(format!("--name={}-{i}", job.id()))
                        .arg(format!("--filename={}", f.display()));
                }
            }
        }
        c
    }

    /// Writes the whole of an NBD export once, sequentially (J7's "everything changed").
    pub fn fill(&self, uri: &str, out: &Path) -> Command {
        let mut c = self.base(out);
        c.args(["--ioengine=nbd", &format!("--uri={uri}")])
            .args(["--rw=write", "--bs=1M", "--iodepth=8", "--end_fsync=1"])
            .arg(format!("--size={}", self.size))
            .arg("--name=fill");
        c
    }

    /// Writes `bytes` in random 4 KiB blocks, each block at most once (J7's 1% change).
    pub fn dirty(&self, uri: &str, bytes: u64, out: &Path) -> Command {
        let mut c = self.base(out);
        c.args(["--ioengine=nbd", &format!("--uri={uri}")])
            .args(["--rw=randwrite", "--bs=4k", "--iodepth=16", "--end_fsync=1"])
            .arg(format!("--size={}", self.size))
            .arg(format!("--io_size={bytes}"))
            .arg("--name=dirty");
        c
    }

    fn base(&self, out: &Path) -> Command {
        let mut c = Command::new("fio");
        c.args(["--randrepeat=0", "--output-format=json"])
            .arg(format!("--output={}", out.display()));
        c
    }
}

/// Runs a fio command line and reads the figures of each of its jobs from its JSON output.
pub fn run_fio(cmd: &mut Command, out: &Path) -> Result<Vec<Figures>> {
    run(cmd)?;
    let text = std::fs::read_to_string(out).map_err(|e| io_err(out, e))?;
    parse(&text).map_err(|detail| Error::Parse {
        source: format!("fio's output {}", out.display()),
        detail,
    })
}

/// The figures of each job in fio's JSON output.
pub fn parse(text: &str) -> std::result::Result<Vec<Figures>, String> {
    // fio may print notices before the JSON object.
    let start = text.find('{').ok_or("no JSON object")?;
    let v: Value = serde_json::from_str(&text[start..]).map_err(|e| e.to_string())?;
    let jobs = v["jobs"].as_array().ok_or("no \"jobs\" array")?;
    if jobs.is_empty() {
        return Err("no job in \"jobs\"".into());
    }
    jobs.iter().map(job_figures).collect()
}

fn job_figures(j: &Value) -> std::result::Result<Figures, String> {
    let name = j["jobname"].as_str().unwrap_or("?");
    if j["error"].as_i64().unwrap_or(0) != 0 {
        return Err(format!("job {name} failed with error {}", j["error"]));
    }
    let w = &j["write"];
    let ios = w["total_ios"].as_u64().ok_or("no write.total_ios")?;
    if ios == 0 {
        return Err(format!("job {name} completed no write"));
    }
    let pct = |lat: &Value, p: &str| lat["percentile"][p].as_f64().unwrap_or(0.0) / 1000.0;
    // `sync.total_ios` stays 0 for psync's fdatasync; the latency sample count does not.
    let flushed = j["sync"]["lat_ns"]["N"].as_u64().unwrap_or(0) * 2 >= ios;
    let lat = |p: &str| {
        let write = pct(&w["clat_ns"], p);
        if flushed {
            write + pct(&j["sync"]["lat_ns"], p)
        } else {
            write
        }
    };
    Ok(Figures {
        iops: w["iops"].as_f64().ok_or("no write.iops")?,
        mib_s: w["bw"].as_f64().ok_or("no write.bw")? / 1024.0,
        p50_us: lat("50.000000"),
        p99_us: lat("99.000000"),
        ios,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"fio: connected to NBD server
{ "fio version" : "fio-3.33", "jobs" : [ { "jobname" : "J1", "error" : 0,
  "write" : { "iops" : 2000.5, "bw" : 8002, "total_ios" : 10000,
    "clat_ns" : { "percentile" : { "50.000000" : 30000, "99.000000" : 90000 } } },
  "sync" : { "total_ios" : 10000,
"lat_ns" : { "N" : 10000, "percentile" : { "50.000000" : 400000, "99.000000" : 900000 } } } } ] }"#;

    #[test]
    fn a_flushed_job_counts_write_and_flush_latency() {
        let f = parse(SAMPLE).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].ios, 10000);
        assert!((f[0].p50_us - 430.0).abs() < 1e-9);
        assert!((f[0].p99_us - 990.0).abs() < 1e-9);
        assert!((f[0].mib_s - 8002.0 / 1024.0).abs() < 1e-9);
    }

    #[test]
    fn a_failed_job_is_an_error() {
        let bad = SAMPLE.replace(r#""error" : 0"#, r#""error" : 5"#);
        assert!(parse(&bad).unwrap_err().contains("error 5"));
    }
}
