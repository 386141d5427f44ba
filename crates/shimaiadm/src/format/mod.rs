//! Pure formatters: a [`StatusReport`](shimaid::control::StatusReport) or
//! an [`EventLine`](shimaid::control::EventLine) in, text out. No I/O, so
//! every layout is checked by golden files (`tests/data/`).

pub mod events;
pub mod gi;
pub mod legacy;
pub mod proc;
pub mod states;
pub mod status;

use shimaid::control::StatusReport;

/// `status --json`: the reports as a JSON array (always an array, as
/// `drbdsetup status --json`, so `r0` and `all` parse the same way).
pub fn json(reports: &[&StatusReport]) -> String {
    // Plain data with string keys: serialization cannot fail.
    let mut s = serde_json::to_string_pretty(reports).unwrap_or_default();
    s.push('\n');
    s
}
