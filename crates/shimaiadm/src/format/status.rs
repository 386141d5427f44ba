//! The `drbdadm status` layout of DRBD 9 (`shimaiadm status`).
//!
//! Newer runbooks and monitoring read this layout; shimai prints it from
//! the same report as `/proc/drbd`. The default view shows what an
//! operator needs (roles, disk states, the connection, `done:` during a
//! resync). `--verbose` adds the statistics of `drbdsetup status
//! --verbose --statistics` under their 9.x names.

use shimaid::control::StatusReport;

use super::states::{connection_9, is_resync, is_verify, replication_9};

/// The status of one resource; `verbose` adds the fields and the counters
/// (`drbdadm status --verbose --statistics`).
pub fn status_text(r: &StatusReport, verbose: bool) -> String {
    status_text_with(r, verbose, verbose)
}

/// drbdadm 9's `status`: `verbose` shows every state field (`--verbose`),
/// `statistics` adds the counter lines (`--statistics`).
pub fn status_text_with(r: &StatusReport, verbose: bool, statistics: bool) -> String {
    let mut out = String::new();
    let suspended = if r.suspended { "fencing" } else { "no" };
    if verbose {
        out.push_str(&format!(
            "{} role:{} suspended:{} write-ordering:{}\n",
            r.resource,
            r.role,
            suspended,
            wo_word(&r.write_ordering)
        ));
        out.push_str(&format!("  volume:0 minor:{} disk:{}\n", r.minor, r.disk));
    } else {
        out.push_str(&format!("{} role:{}", r.resource, r.role));
        if r.suspended {
            out.push_str(" suspended:fencing");
        }
        out.push_str(&format!("\n  disk:{}\n", r.disk));
    }
    if statistics {
        let c = &r.counters;
        out.push_str(&format!(
            "      size:{} read:{} written:{} al-writes:{} bm-writes:{} upper-pending:{} lower-pending:{} al-suspended:no blocked:no\n",
            r.size_kib, c.dr, c.dw, c.al, c.bm, c.ap, c.lo
        ));
    }

    let Some(replication) = replication_9(&r.connection) else {
        // shimai's one addition to the layout: a split brain must never
        // look like an ordinary disconnect (`split-brain:yes`).
        out.push_str(&format!(
            "  {} connection:{}{}\n",
            r.peer_node,
            connection_9(&r.connection),
            if r.split_brain {
                " split-brain:yes"
            } else {
                ""
            }
        ));
        return out;
    };
    if verbose {
        out.push_str(&format!(
            "  {} connection:Connected role:{} protocol:{} congested:no\n",
            r.peer_node, r.peer_role, r.protocol
        ));
        out.push_str(&format!(
            "    volume:0 replication:{} peer-disk:{}",
            replication, r.peer_disk
        ));
    } else {
        out.push_str(&format!("  {} role:{}\n", r.peer_node, r.peer_role));
        out.push_str(&format!(
            "    replication:{} peer-disk:{}",
            replication, r.peer_disk
        ));
    }
    if let (true, Some(p)) = (
        is_resync(&r.connection) || is_verify(&r.connection),
        &r.resync,
    ) {
        out.push_str(&format!(" done:{:.2}", p.percent.clamp(0.0, 100.0)));
    }
    let paused: Vec<&str> = [(r.user_paused, "user"), (r.peer_paused, "peer")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
    if !paused.is_empty() {
        out.push_str(&format!(" resync-suspended:{}", paused.join(",")));
    } else if verbose {
        out.push_str(" resync-suspended:no");
    }
    out.push('\n');
    if statistics {
        let c = &r.counters;
        out.push_str(&format!(
            "        received:{} sent:{} out-of-sync:{} pending:{} unacked:{}\n",
            c.nr, c.ns, c.oos, c.pe, c.ua
        ));
    }
    out
}

/// 9.x spells the write-ordering method out; the report may carry the
/// /proc/drbd letter.
fn wo_word(w: &str) -> &str {
    match w {
        "f" => "flush",
        "d" => "drain",
        "n" => "none",
        "b" => "barrier",
        other => other,
    }
}
