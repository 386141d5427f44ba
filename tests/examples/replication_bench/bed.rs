//! The test bed: every comparator set up once, side by side, so that one run can go from one
//! to the next job by job.
//!
//! * the raw file (fio straight on it) and a second one for "two copies written at once";
//! * `nbdkit file` serving the raw file on a Unix socket (an NBD server without replication);
//! * shimai StandAlone: a resource whose peer went away (`disconnect` after an in-sync start);
//! * shimai protocol C and protocol A: two nodes each, on 127.0.0.1 and 127.0.0.2.
//!
//! Every backing file is written in full before the first run, so no job pays for block
//! allocation. After each job the target's files are flushed, so the next job does not pay
//! for this one's write-back; server CPU time is read from `/proc/PID/stat` around each job.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shimai_tests::cluster::{Error, Result};
use shimai_tests::TempDir;

use crate::fio::{run_fio, Figures, Fio, Io, Job};
use crate::io_err;
use crate::node::{Resource, Spec};

/// What a job runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Raw,
    TwoCopies,
    Nbdkit,
    StandAlone,
    ProtoC,
    ProtoA,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Raw,
        Kind::TwoCopies,
        Kind::Nbdkit,
        Kind::StandAlone,
        Kind::ProtoC,
        Kind::ProtoA,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Raw => "raw file",
            Kind::TwoCopies => "2 files at once, per copy",
            Kind::Nbdkit => "nbdkit file",
            Kind::StandAlone => "shimai StandAlone",
            Kind::ProtoC => "shimai protocol C",
            Kind::ProtoA => "shimai protocol A",
        }
    }

    /// The comparators a job runs against: two copies only for the bandwidth job.
    pub fn for_job(job: Job) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|k| *k != Kind::TwoCopies || job.is_bandwidth())
            .collect()
    }
}

/// Server CPU time of one job.
#[derive(Debug, Clone, Default)]
pub struct Cpu {
    /// utime + stime of each server process (Primary first), seconds.
    pub secs: Vec<f64>,
}

/// One job against one target.
#[derive(Debug, Clone)]
pub struct Sample {
    pub run: usize,
    pub job: Job,
    pub kind: Kind,
    pub fig: Figures,
    /// `None` when no server is involved (fio on files).
    pub cpu: Option<Cpu>,
}

impl Sample {
    /// Server CPU microseconds per write (all server processes together).
    pub fn cpu_us_per_io(&self) -> Option<f64> {
        let c = self.cpu.as_ref()?;
        Some(c.secs.iter().sum::<f64>() * 1e6 / self.fig.ios.max(1) as f64)
    }
}

/// The benchmark's processes and files. Field order is drop order: servers first, then the
/// directory with their files.
pub struct Bed {
    pub sa: Resource,
    pub c: Resource,
    pub a: Resource,
    nbdkit: ChildGuard,
    nbdkit_uri: String,
    raw: [PathBuf; 2],
    pub fio: Fio,
    /// fio's JSON files, kept when the user asked (`--json-dir`).
    json_dir: Option<PathBuf>,
    pub dir: TempDir,
}

/// Kills (SIGKILL, by PID) and reaps a child on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Bed {
    /// Creates and fills `size_mib` MiB backing files, starts every server.
    pub fn new(shimaid: &Path, size_mib: u64, json_dir: Option<PathBuf>) -> Result<Bed> {
        let dir = TempDir::new("bench-repl");
        let bytes = size_mib << 20;
        let raw = [dir.join("raw.img"), dir.join("raw2.img")];
        let specs = [("sa", 'C', 0u32), ("rc", 'C', 2), ("ra", 'A', 4)];
        let mut res = Vec::new();
        for (name, protocol, minor) in specs {
            let spec = Spec {
                name,
                protocol,
                minor,
                port: free_port()?,
            };
            // The StandAlone resource's peer never runs again: its file stays sparse.
            let fill = [true, name != "sa"];
            for (i, f) in fill.iter().enumerate() {
                let path = dir.join(&format!("{name}-{}.img", crate::node::NAMES[i]));
                write_zeroes(&path, bytes, *f)?;
            }
            res.push(Resource::create(dir.path(), shimaid, &spec)?);
        }
        for f in &raw {
            write_zeroes(f, bytes, true)?;
        }
        let mut res = res.into_iter();
        let (mut sa, mut c, mut a) = match (res.next(), res.next(), res.next()) {
            (Some(sa), Some(c), Some(a)) => (sa, c, a),
            _ => return Err(Error::Usage("three resources expected".into())),
        };
        for r in [&mut sa, &mut c, &mut a] {
            r.up_in_sync()?;
        }
        // StandAlone: the peer disconnects and stops; the Primary goes on alone.
        sa.ok(0, r#"{"cmd":"disconnect"}"#)?;
        sa.ok(1, r#"{"cmd":"down"}"#)?;
        let size_kib = [&sa, &c, &a]
            .iter()
            .map(|r| r.status(0).map(|s| s.size_kib))
            .collect::<Result<Vec<u64>>>()?;
        // The same bytes for every target: the smallest data area, in whole MiB.
        let size = size_kib.into_iter().min().unwrap_or(0) / 1024 * (1 << 20);
        let sock = dir.join("nbdkit.sock");
        let child = Command::new("nbdkit")
            .args(["-f", "-U"])
            .arg(&sock)
            .arg("file")
            .arg(format!("file={}", raw[0].display()))
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| Error::Command {
                command: "nbdkit -f -U SOCK file".into(),
                status: None,
                output: e.to_string(),
            })?;
        let nbdkit = ChildGuard(child);
        wait_for_path(&sock, Duration::from_secs(10))?;
        if let Some(d) = &json_dir {
            std::fs::create_dir_all(d).map_err(|e| io_err(d, e))?;
        }
        Ok(Bed {
            sa,
            c,
            a,
            nbdkit_uri: format!("nbd+unix:///?socket={}", sock.display()),
            nbdkit,
            raw,
            fio: Fio { size },
            json_dir,
            dir,
        })
    }

    /// Runs `job` against `kind` once, for `secs` seconds.
    pub fn measure(&self, run: usize, job: Job, kind: Kind, secs: u64) -> Result<Sample> {
        let out = self.json_path(&format!("run{run}-{}-{kind:?}", job.id()));
        let (uri, pids, files): (Option<String>, Vec<i32>, Vec<PathBuf>) = match kind {
            Kind::Raw => (None, vec![], vec![self.raw[0].clone()]),
            Kind::TwoCopies => (None, vec![], self.raw.to_vec()),
            Kind::Nbdkit => (
                Some(self.nbdkit_uri.clone()),
                vec![self.nbdkit.0.id() as i32],
                vec![self.raw[0].clone()],
            ),
            Kind::StandAlone => res_target(&self.sa, 1),
            Kind::ProtoC => res_target(&self.c, 2),
            Kind::ProtoA => res_target(&self.a, 2),
        };
        let io = match &uri {
            Some(u) => Io::Nbd(u),
            None => Io::Files(&files),
        };
        let before = cpu_secs(&pids)?;
        let figs = run_fio(&mut self.fio.job(job, &io, secs, &out), &out)?;
        // The connection's threads fold their time into the process when they exit.
        std::thread::sleep(Duration::from_millis(100));
        let after = cpu_secs(&pids)?;
        settle(&files)?;
        let cpu = (!pids.is_empty()).then(|| Cpu {
            secs: after.iter().zip(&before).map(|(a, b)| a - b).collect(),
        });
        Ok(Sample {
            run,
            job,
            kind,
            fig: Figures::mean(&figs),
            cpu,
        })
    }

    /// Where fio writes its JSON for `tag`: the kept directory, or the bed's.
    pub fn json_path(&self, tag: &str) -> PathBuf {
        match &self.json_dir {
            Some(d) => d.join(format!("{tag}.json")),
            None => self.dir.join(&format!("{tag}.json")),
        }
    }
}

/// The Primary's export, the PIDs of the nodes that run and their backing files.
fn res_target(r: &Resource, nodes: usize) -> (Option<String>, Vec<i32>, Vec<PathBuf>) {
    (
        Some(r.nbd_uri(0)),
        (0..nodes).filter_map(|i| r.pid(i)).collect(),
        (0..nodes).map(|i| r.disk(i)).collect(),
    )
}

/// A TCP port free on both 127.0.0.1 and 127.0.0.2 right now.
fn free_port() -> Result<u16> {
    for _ in 0..20 {
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| io_err("127.0.0.1:0", e))?;
        let port = l.local_addr().map_err(|e| io_err("127.0.0.1:0", e))?.port();
        if TcpListener::bind(("127.0.0.2", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Usage(
        "no TCP port free on both 127.0.0.1 and 127.0.0.2".into(),
    ))
}

/// Creates `path` of `bytes`, written with zeroes when `fill` (else sparse), and flushed.
fn write_zeroes(path: &Path, bytes: u64, fill: bool) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    if fill {
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..bytes.div_ceil(chunk.len() as u64) {
            f.write_all(&chunk).map_err(|e| io_err(path, e))?;
        }
    }
    f.set_len(bytes).map_err(|e| io_err(path, e))?;
    f.sync_all().map_err(|e| io_err(path, e))
}

/// Flushes the page cache of `files` to the disk.
fn settle(files: &[PathBuf]) -> Result<()> {
    for f in files {
        std::fs::File::open(f)
            .and_then(|h| h.sync_data())
            .map_err(|e| io_err(f, e))?;
    }
    Ok(())
}

fn wait_for_path(p: &Path, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    while !p.exists() {
        if start.elapsed() > timeout {
            return Err(Error::Timeout {
                what: format!("{} to appear", p.display()),
                waited: start.elapsed(),
                last: String::new(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// utime + stime of each process, seconds (all its threads, live and exited).
fn cpu_secs(pids: &[i32]) -> Result<Vec<f64>> {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    pids.iter()
        .map(|pid| {
            let path = format!("/proc/{pid}/stat");
            let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
            // Fields after "(comm)": state is the first, utime the 12th, stime the 13th.
            let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
            match (ticks(11), ticks(12)) {
                (Some(u), Some(s)) => Ok((u + s) as f64 / hz),
                _ => Err(Error::Parse {
                    source: path,
                    detail: format!("no utime/stime in {text:?}"),
                }),
            }
        })
        .collect()
}
