//! J7: how long a resync takes after the whole volume changed, and after 1% of it changed.
//!
//! Both are measured the same way, on the protocol C pair: both nodes disconnect, the
//! Primary's export is written (all of it sequentially, or 1% in random 4 KiB blocks), then
//! the Secondary and the Primary connect again. The clock runs from the Primary's `connect`
//! until the Primary is Connected with both disks UpToDate, so both figures include the
//! handshake; the difference between them is the bitmap at work.

use std::time::{Duration, Instant};

use shimai_tests::cluster::{Error, Result};

use crate::bed::Bed;
use crate::fio::run_fio;
use crate::node::{Resource, Status};

/// One resync.
#[derive(Debug, Clone, Copy)]
pub struct Resync {
    /// Out of sync before connecting, KiB.
    pub kib: u64,
    /// `connect` → Connected, UpToDate/UpToDate.
    pub time: Duration,
}

impl Resync {
    pub fn mib_s(&self) -> f64 {
        self.kib as f64 / 1024.0 / self.time.as_secs_f64().max(1e-9)
    }
}

/// A full and a 1%-dirty resync of one run.
#[derive(Debug, Clone, Copy)]
pub struct ResyncSample {
    pub run: usize,
    pub full: Resync,
    pub dirty: Resync,
}

/// Measures both resyncs, the order alternating from run to run.
pub fn measure(bed: &Bed, run: usize) -> Result<ResyncSample> {
    let full_first = run % 2 == 1;
    let (full, dirty) = if full_first {
        let f = one(bed, run, true)?;
        (f, one(bed, run, false)?)
    } else {
        let d = one(bed, run, false)?;
        (one(bed, run, true)?, d)
    };
    Ok(ResyncSample { run, full, dirty })
}

fn one(bed: &Bed, run: usize, full: bool) -> Result<Resync> {
    let r: &Resource = &bed.c;
    let poll = Duration::from_millis(5);
    let long = Duration::from_secs(30);
    r.ok(0, r#"{"cmd":"disconnect"}"#)?;
    r.ok(1, r#"{"cmd":"disconnect"}"#)?;
    let tag = format!("run{run}-J7-{}", if full { "full" } else { "dirty" });
    let out = bed.json_path(&tag);
    let uri = r.nbd_uri(0);
    let mut cmd = if full {
        bed.fio.fill(&uri, &out)
    } else {
        bed.fio.dirty(&uri, bed.fio.size / 100, &out)
    };
    run_fio(&mut cmd, &out)?;
    let kib = r.status(0)?.oos_kib;
    let expected = bed.fio.size / 1024 / if full { 1 } else { 100 };
    if kib < expected {
        return Err(Error::Parse {
            source: format!("{}'s status", r.name),
            detail: format!("{kib} KiB out of sync after writing {expected} KiB"),
        });
    }
    // The Secondary listens first, so the Primary's first attempt gets through.
    r.ok(1, r#"{"cmd":"connect"}"#)?;
    r.wait(1, "WFConnection", long, poll, |s| {
        s.connection == "WFConnection"
    })?;
    let start = Instant::now();
    r.ok(0, r#"{"cmd":"connect"}"#)?;
    r.wait(
        0,
        "the resync's end",
        Duration::from_secs(600),
        poll,
        Status::in_sync,
    )?;
    let time = start.elapsed();
    r.wait(1, "UpToDate", long, poll, |s| s.disk == "UpToDate")?;
    let left = r.status(0)?.oos_kib;
    if left != 0 {
        return Err(Error::Parse {
            source: format!("{}'s status", r.name),
            detail: format!("UpToDate/UpToDate with {left} KiB still out of sync"),
        });
    }
    Ok(Resync { kib, time })
}
