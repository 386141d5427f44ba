//! The one-word answers of `drbdadm role|cstate|dstate` (8.4 style:
//! `local/peer`), which scripts compare as strings.

use shimaid::control::StatusReport;

/// `Primary/Secondary`.
pub fn role(r: &StatusReport) -> String {
    format!("{}/{}\n", r.role, r.peer_role)
}

/// `Connected`.
pub fn cstate(r: &StatusReport) -> String {
    format!("{}\n", r.connection)
}

/// `UpToDate/UpToDate`.
pub fn dstate(r: &StatusReport) -> String {
    format!("{}/{}\n", r.disk, r.peer_disk)
}
