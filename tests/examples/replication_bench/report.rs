//! Tables and verdicts. Every ratio is the median, over the runs, of the ratio within one run:
//! the targets of one run were measured minutes apart at most, so the machine's noise (other
//! builds on two shared cores) mostly cancels out in it.

use crate::bed::{Kind, Sample};
use crate::fio::Job;
use crate::resync::{Resync, ResyncSample};

/// The median (mean of the middle two for an even count); `None` when empty.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The figure of merit: MiB/s for the bandwidth job, IOPS for the others.
fn figure(s: &Sample) -> f64 {
    if s.job.is_bandwidth() {
        s.fig.mib_s
    } else {
        s.fig.iops
    }
}

/// Median over runs of `kind ÷ base` on `job`.
pub fn ratio(samples: &[Sample], job: Job, kind: Kind, base: Kind) -> Option<f64> {
    let of = |k: Kind, run: usize| {
        samples
            .iter()
            .find(|s| s.job == job && s.kind == k && s.run == run)
            .map(figure)
    };
    let runs = samples.iter().filter(|s| s.job == job && s.kind == kind);
    median(
        runs.filter_map(|s| Some(figure(s) / of(base, s.run)?))
            .collect(),
    )
}

fn fmt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{x:.decimals$}"))
}

/// One line per job and target, as it finished.
pub fn print_sample(s: &Sample) {
    let cpu = s
        .cpu_us_per_io()
        .map_or(String::new(), |c| format!(", server CPU {c:.1} µs/write"));
    println!(
        "run {} {} {:<27} {:>9.0} IOPS {:>8.1} MiB/s  p50 {:>7.1} µs  p99 {:>8.1} µs{cpu}",
        s.run,
        s.job.id(),
        s.kind.name(),
        s.fig.iops,
        s.fig.mib_s,
        s.fig.p50_us,
        s.fig.p99_us,
    );
}

pub fn print_resync(r: &ResyncSample) {
    let one = |name: &str, x: &Resync| {
        println!(
            "run {} J7 resync {name:<9} {:>8} KiB in {:>7.0} ms ({:.1} MiB/s)",
            r.run,
            x.kib,
            x.time.as_secs_f64() * 1000.0,
            x.mib_s()
        )
    };
    one("full", &r.full);
    one("1% dirty", &r.dirty);
}

/// Prints the medians table of J1-J4.
pub fn print_jobs(samples: &[Sample]) {
    println!("\nmedians; x = median of the per-run ratios\n");
    println!(
        "| job | target | IOPS or MiB/s | x nbdkit | x raw | p50 µs | p99 µs | server CPU µs/write |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for job in Job::ALL {
        for kind in Kind::for_job(job) {
            let of: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.job == job && s.kind == kind)
                .collect();
            if of.is_empty() {
                continue;
            }
            let med = |f: fn(&Sample) -> f64| median(of.iter().map(|s| f(s)).collect());
            let unit = if job.is_bandwidth() { "MiB/s" } else { "IOPS" };
            let fig = fmt(med(figure), 0);
            println!(
                "| {} | {} | {fig} {unit} | {} | {} | {} | {} | {} |",
                job.id(),
                kind.name(),
                fmt(ratio(samples, job, kind, Kind::Nbdkit), 2),
                fmt(ratio(samples, job, kind, Kind::Raw), 2),
                fmt(med(|s| s.fig.p50_us), 0),
                fmt(med(|s| s.fig.p99_us), 0),
                cpu_cell(&of),
            );
        }
    }
    println!();
    for job in Job::ALL {
        println!("{}: {}", job.id(), job.label());
    }
}

/// The median server CPU per write; for two nodes, also each node's share.
fn cpu_cell(of: &[&Sample]) -> String {
    let total = median(of.iter().filter_map(|s| s.cpu_us_per_io()).collect());
    let Some(total) = total else {
        return "—".into();
    };
    let part = |i: usize| {
        median(
            of.iter()
                .filter_map(|s| {
                    let c = s.cpu.as_ref()?;
                    Some(c.secs.get(i)? * 1e6 / s.fig.ios.max(1) as f64)
                })
                .collect(),
        )
    };
    match (part(0), part(1)) {
        (Some(p), Some(s)) => format!("{total:.1} ({p:.1} + {s:.1})"),
        _ => format!("{total:.1}"),
    }
}

/// Prints the J7 table.
pub fn print_resyncs(rs: &[ResyncSample]) {
    if rs.is_empty() {
        return;
    }
    let med = |f: fn(&ResyncSample) -> f64| fmt(median(rs.iter().map(f).collect()), 0);
    println!("\n| J7 resync | out of sync, KiB | time ms | MiB/s |");
    println!("|---|---:|---:|---:|");
    println!(
        "| full (everything written while disconnected) | {} | {} | {} |",
        med(|r| r.full.kib as f64),
        med(|r| r.full.time.as_secs_f64() * 1000.0),
        med(|r| r.full.mib_s()),
    );
    println!(
        "| 1% dirty (random 4k writes while disconnected) | {} | {} | {} |",
        med(|r| r.dirty.kib as f64),
        med(|r| r.dirty.time.as_secs_f64() * 1000.0),
        med(|r| r.dirty.mib_s()),
    );
    println!(
        "| 1% ÷ full, time | | {} % | |",
        fmt(dirty_share(rs).map(|x| x * 100.0), 1)
    );
}

/// Median over runs of (1%-dirty resync time ÷ full resync time).
fn dirty_share(rs: &[ResyncSample]) -> Option<f64> {
    median(
        rs.iter()
            .map(|r| r.dirty.time.as_secs_f64() / r.full.time.as_secs_f64().max(1e-9))
            .collect(),
    )
}

/// Prints each target as MET or MISSED; true when all are met.
pub fn print_targets(samples: &[Sample], rs: &[ResyncSample]) -> bool {
    let mut all = true;
    let mut verdict = |what: String, value: Option<f64>, ok: fn(f64) -> bool, shown: String| {
        let met = value.is_some_and(ok);
        all &= met;
        println!("  {what}: {shown} {}", if met { "MET" } else { "MISSED" });
    };
    println!("\ntargets:");
    for job in [Job::J2, Job::J3, Job::J4] {
        let r = ratio(samples, job, Kind::StandAlone, Kind::Nbdkit);
        verdict(
            format!("{} StandAlone within 10% of nbdkit (x >= 0.90)", job.id()),
            r,
            |x| x >= 0.9,
            format!("x {}", fmt(r, 2)),
        );
    }
    let r = ratio(samples, Job::J4, Kind::ProtoC, Kind::TwoCopies);
    verdict(
        "J4 protocol C at least 70% of two files written at once (x >= 0.70)".into(),
        r,
        |x| x >= 0.7,
        format!("x {}", fmt(r, 2)),
    );
    let d = dirty_share(rs);
    verdict(
        "J7 a 1%-dirty resync takes at most 3% of a full one's time".into(),
        d,
        |x| x <= 0.03,
        format!("{} %", fmt(d.map(|x| x * 100.0), 1)),
    );
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
