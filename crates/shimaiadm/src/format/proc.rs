//! The `/proc/drbd` layout of DRBD 8.4 (`shimaiadm proc`).
//!
//! Operators of the disaster-recovery runbook watch `cat /proc/drbd` and
//! read its counters; scripts grep `cs:` and `ds:`. The layout is copied
//! field for field from the 8.4 kernel's `drbd_proc.c`: a version line,
//! then per minor the state line, the counters line and, during a resync
//! or verify, the progress bar and the finish/speed line.

use shimaid::control::StatusReport;

use super::states::{is_resync, is_verify};

/// The DRBD release whose semantics and layout shimai follows, then the
/// API and protocol range that 8.4 prints; parsers of `version:` see a
/// familiar line and the second line names what really runs.
pub fn header() -> String {
    format!(
        "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: shimai-{}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// One configured minor: running, or configured but not up.
#[derive(Debug, Clone, Copy)]
pub enum Minor<'a> {
    Up(&'a StatusReport),
    /// The daemon is not running: 8.4 prints ` N: cs:Unconfigured`.
    Down {
        minor: u32,
    },
}

impl Minor<'_> {
    fn number(&self) -> u32 {
        match self {
            Minor::Up(r) => r.minor,
            Minor::Down { minor } => *minor,
        }
    }
}

/// The whole file: the header, then the minors in ascending order.
pub fn proc_file(minors: &[Minor<'_>]) -> String {
    let mut sorted: Vec<&Minor<'_>> = minors.iter().collect();
    sorted.sort_by_key(|m| m.number());
    let mut out = header();
    for m in sorted {
        match m {
            Minor::Up(r) => out.push_str(&proc_minor(r)),
            Minor::Down { minor } => out.push_str(&format!("{minor:>2}: cs:Unconfigured\n")),
        }
    }
    out
}

/// The lines of one running minor.
pub fn proc_minor(r: &StatusReport) -> String {
    let c = &r.counters;
    let mut out = format!(
        "{:>2}: cs:{} ro:{}/{} ds:{}/{} {} {}\n",
        r.minor,
        r.connection,
        r.role,
        r.peer_role,
        r.disk,
        r.peer_disk,
        r.protocol,
        flags(r)
    );
    out.push_str(&format!(
        "    ns:{} nr:{} dw:{} dr:{} al:{} bm:{} lo:{} pe:{} ua:{} ap:{} ep:{} wo:{} oos:{}\n",
        c.ns,
        c.nr,
        c.dw,
        c.dr,
        c.al,
        c.bm,
        c.lo,
        c.pe,
        c.ua,
        c.ap,
        c.ep,
        wo_letter(&r.write_ordering),
        c.oos
    ));
    let syncing = is_resync(&r.connection) || is_verify(&r.connection);
    if let (true, Some(p)) = (syncing, &r.resync) {
        out.push_str(&progress_lines(
            is_verify(&r.connection),
            p.percent,
            p.left_kib,
            p.total_kib,
            p.eta_s,
            p.rate_kib_s,
        ));
    }
    out
}

/// The six state flags after the protocol letter: I/O running or
/// suspended, resync-after dependency (shimai has none), peer pause, user
/// pause, local blocking (not tracked), activity-log suspended (never).
fn flags(r: &StatusReport) -> String {
    let mut s = String::with_capacity(6);
    s.push(if r.suspended { 's' } else { 'r' });
    s.push('-');
    s.push(if r.peer_paused { 'p' } else { '-' });
    s.push(if r.user_paused { 'u' } else { '-' });
    s.push('-');
    s.push('-');
    s
}

/// `wo:` takes one letter; the daemon may send the letter or the word.
fn wo_letter(w: &str) -> char {
    match w {
        "flush" => 'f',
        "drain" => 'd',
        "none" => 'n',
        "barrier" => 'b',
        other => other.chars().next().unwrap_or('f'),
    }
}

/// The progress bar and the finish line, as `drbd_syncer_progress()`
/// prints them. `percent` is truncated to permille like the kernel's
/// integer arithmetic; above 4 GiB the sizes switch from KiB to MiB.
pub fn progress_lines(
    verify: bool,
    percent: f64,
    left_kib: u64,
    total_kib: u64,
    eta_s: u64,
    rate_kib_s: u64,
) -> String {
    let permille = if percent.is_finite() {
        (percent * 10.0).floor().clamp(0.0, 1000.0) as u32
    } else {
        0
    };
    let x = permille / 50;
    let mut bar = String::with_capacity(22);
    bar.push('[');
    for _ in 1..x {
        bar.push('=');
    }
    bar.push('>');
    for _ in 0..(20 - x) {
        bar.push('.');
    }
    bar.push(']');
    let (left, total, unit) = if total_kib > 4 << 20 {
        (left_kib >> 10, total_kib >> 10, 'M')
    } else {
        (left_kib, total_kib, 'K')
    };
    let what = if verify { "verified:" } else { "sync'ed:" };
    let speed = group_thousands(rate_kib_s);
    format!(
        "\t{bar} {what}{:>3}.{}% ({left}/{total}){unit}\n\tfinish: {}:{:02}:{:02} speed: {speed} ({speed}) K/sec\n",
        permille / 10,
        permille % 10,
        eta_s / 3600,
        (eta_s % 3600) / 60,
        eta_s % 60,
    )
}

/// `33904` → `33,904`, as the kernel prints speeds.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    // The first group holds 1 to 3 digits, every later one 3.
    let head = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    out.push_str(&digits[..head.min(digits.len())]);
    let mut rest = &digits[head.min(digits.len())..];
    while !rest.is_empty() {
        out.push(',');
        out.push_str(&rest[..3]);
        rest = &rest[3..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped_by_commas() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(33_904), "33,904");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn the_bar_matches_the_kernel_examples() {
        // reference/drbd.md §3.1: 28.3 % of a 10 GiB resync, in MiB.
        let s = progress_lines(false, 28.3, 7352 << 10, 10236 << 10, 222, 33_904);
        assert_eq!(
            s,
            "\t[====>...............] sync'ed: 28.3% (7352/10236)M\n\
             \tfinish: 0:03:42 speed: 33,904 (33,904) K/sec\n"
        );
        // Complete: nineteen '=' and the arrow, no leading space before 100.
        let s = progress_lines(true, 100.0, 0, 15360, 0, 52_956);
        assert!(s.starts_with("\t[===================>] verified:100.0% (0/15360)K\n"));
        // Not started: the arrow alone, twenty dots.
        let s = progress_lines(false, 0.0, 100, 100, 3725, 1);
        assert!(s.starts_with("\t[>....................] sync'ed:  0.0% (100/100)K\n"));
        assert!(s.contains("finish: 1:02:05 speed: 1 (1) K/sec"));
    }

    #[test]
    fn percent_out_of_range_does_not_break_the_bar() {
        let s = progress_lines(false, f64::NAN, 1, 2, 0, 0);
        assert!(s.contains("sync'ed:  0.0%"));
        let s = progress_lines(false, 250.0, 0, 2, 0, 0);
        assert!(s.contains("sync'ed:100.0%"));
    }
}
