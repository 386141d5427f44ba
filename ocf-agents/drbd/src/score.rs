//! The promotion score as a pure function of the resource's state: ocf:linbit:drbd's table
//! (docs/agents/drbd.md), so Pacemaker promotes the node with the best data.

use shimaid::control::StatusReport;

/// The four levels of `adjust_master_score`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    /// Local disk only Consistent (freshness unknown).
    pub consistent: i64,
    /// Local disk not UpToDate, the peer's is.
    pub peer_uptodate: i64,
    /// Local disk UpToDate, the peer's state unknown.
    pub local_uptodate_peer_unknown: i64,
    /// Local disk UpToDate and the peer's known: as good as it gets.
    pub best: i64,
}

impl Default for Levels {
    fn default() -> Levels {
        Levels {
            consistent: 0,
            peer_uptodate: 10,
            local_uptodate_peer_unknown: 1000,
            best: 10000,
        }
    }
}

impl Levels {
    /// Parses `adjust_master_score`. Like the linbit agent, a bad value is not fatal: the
    /// caller logs the returned message and uses the defaults.
    pub fn parse(text: &str) -> Result<Levels, String> {
        let nums: Vec<i64> = text
            .split_whitespace()
            .map(|w| w.parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("adjust_master_score '{text}' is not four integers"))?;
        let [a, b, c, d] = nums[..] else {
            return Err(format!(
                "adjust_master_score '{text}' has {} values, needs four",
                nums.len()
            ));
        };
        if !(a <= b && b <= c && c <= d) {
            return Err(format!(
                "adjust_master_score '{text}' must not decrease from left to right"
            ));
        }
        Ok(Levels {
            consistent: a,
            peer_uptodate: b,
            local_uptodate_peer_unknown: c,
            best: d,
        })
    }
}

/// What to do with the node attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    Set(i64),
    Remove,
    /// A transitional state: leave the attribute as it is.
    Keep,
}

impl Score {
    /// Scores of 0 or below mean "do not promote": the linbit agent removes the attribute
    /// instead of setting them.
    fn from_value(v: i64) -> Score {
        if v > 0 {
            Score::Set(v)
        } else {
            Score::Remove
        }
    }
}

/// `remove_master_score_if_peer_primary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerPrimaryPolicy {
    Never,
    Always,
    /// Only when Pacemaker does not know the peer as promoted.
    Unexpected,
}

impl PeerPrimaryPolicy {
    pub fn parse(v: &str) -> PeerPrimaryPolicy {
        if v == "unexpected" {
            PeerPrimaryPolicy::Unexpected
        } else if ocf::is_true(v) {
            PeerPrimaryPolicy::Always
        } else {
            PeerPrimaryPolicy::Never
        }
    }
}

/// Disk states that are on their way somewhere: the score waits for where they land.
fn transitional(disk: &str) -> bool {
    matches!(disk, "Attaching" | "Negotiating" | "Failed")
}

/// The score for the observed state. `peer_known_promoted`: the notification variables
/// name the peer as promoted (only known during notify).
pub fn promotion_score(
    st: &StatusReport,
    levels: &Levels,
    policy: PeerPrimaryPolicy,
    peer_known_promoted: bool,
) -> Score {
    let connected = !matches!(
        st.connection.as_str(),
        "StandAlone"
            | "Disconnecting"
            | "Unconnected"
            | "Timeout"
            | "BrokenPipe"
            | "NetworkFailure"
            | "ProtocolError"
            | "TearDown"
            | "WFConnection"
            | "WFReportParams"
    );
    let peer_primary_healthy = connected && st.peer_role == "Primary" && st.peer_disk == "UpToDate";
    let remove_for_peer = match policy {
        PeerPrimaryPolicy::Never => false,
        PeerPrimaryPolicy::Always => peer_primary_healthy,
        PeerPrimaryPolicy::Unexpected => peer_primary_healthy && !peer_known_promoted,
    };
    if remove_for_peer {
        return Score::Remove;
    }
    let peer_uptodate = st.peer_disk == "UpToDate";
    match st.disk.as_str() {
        "Diskless" if peer_uptodate => Score::from_value(levels.best - 1),
        "Diskless" => Score::Remove,
        "UpToDate" if st.role == "Primary" => Score::from_value(levels.best),
        "UpToDate" if st.peer_disk == "DUnknown" => {
            Score::from_value(levels.local_uptodate_peer_unknown)
        }
        "UpToDate" => Score::from_value(levels.best),
        d if transitional(d) => Score::Keep,
        _ if peer_uptodate => Score::from_value(levels.peer_uptodate),
        "Consistent" => Score::from_value(levels.consistent),
        _ => Score::Remove,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use shimaid::control::{Counters, Generation};

    pub(crate) fn status(
        role: &str,
        conn: &str,
        disk: &str,
        peer_role: &str,
        pdsk: &str,
    ) -> StatusReport {
        StatusReport {
            resource: "r0".into(),
            node: "alpha".into(),
            peer_node: "beta".into(),
            role: role.into(),
            peer_role: peer_role.into(),
            connection: conn.into(),
            disk: disk.into(),
            peer_disk: pdsk.into(),
            protocol: "C".into(),
            device: None,
            minor: 0,
            size_kib: 1024,
            suspended: false,
            user_paused: false,
            peer_paused: false,
            generation: Generation {
                current: String::new(),
                bitmap: String::new(),
                history: [String::new(), String::new()],
            },
            counters: Counters::default(),
            write_ordering: "f".into(),
            resync: None,
            verify_oos_kib: 0,
            split_brain: false,
            io_backend: String::new(),
        }
    }

    /// The linbit agent's table, one row per line: state → score.
    #[test]
    fn linbit_score_table() {
        let l = Levels::default();
        let n = PeerPrimaryPolicy::Never;
        let cases = [
            (
                (
                    "Secondary",
                    "Connected",
                    "UpToDate",
                    "Secondary",
                    "UpToDate",
                ),
                Score::Set(10000),
            ),
            (
                ("Primary", "WFConnection", "UpToDate", "Unknown", "DUnknown"),
                Score::Set(10000),
            ),
            (
                (
                    "Secondary",
                    "WFConnection",
                    "UpToDate",
                    "Unknown",
                    "DUnknown",
                ),
                Score::Set(1000),
            ),
            (
                ("Secondary", "Connected", "UpToDate", "Primary", "UpToDate"),
                Score::Set(10000),
            ),
            (
                (
                    "Secondary",
                    "SyncTarget",
                    "Inconsistent",
                    "Primary",
                    "UpToDate",
                ),
                Score::Set(10),
            ),
            (
                (
                    "Secondary",
                    "Connected",
                    "Outdated",
                    "Secondary",
                    "UpToDate",
                ),
                Score::Set(10),
            ),
            (
                ("Secondary", "StandAlone", "Outdated", "Unknown", "DUnknown"),
                Score::Remove,
            ),
            (
                (
                    "Secondary",
                    "StandAlone",
                    "Inconsistent",
                    "Unknown",
                    "DUnknown",
                ),
                Score::Remove,
            ),
            (
                (
                    "Secondary",
                    "WFConnection",
                    "Consistent",
                    "Unknown",
                    "DUnknown",
                ),
                Score::Remove,
            ),
            (
                (
                    "Secondary",
                    "Connected",
                    "Diskless",
                    "Secondary",
                    "UpToDate",
                ),
                Score::Set(9999),
            ),
            (
                (
                    "Secondary",
                    "WFConnection",
                    "Diskless",
                    "Unknown",
                    "DUnknown",
                ),
                Score::Remove,
            ),
            (
                (
                    "Secondary",
                    "Connected",
                    "Attaching",
                    "Secondary",
                    "UpToDate",
                ),
                Score::Keep,
            ),
        ];
        for ((role, conn, disk, prole, pdsk), want) in cases {
            let st = status(role, conn, disk, prole, pdsk);
            assert_eq!(
                promotion_score(&st, &l, n, false),
                want,
                "{role} {conn} {disk}/{pdsk}"
            );
        }
    }

    #[test]
    fn consistent_level_counts_when_positive() {
        let l = Levels::parse("5 10 1000 10000").unwrap();
        let st = status(
            "Secondary",
            "WFConnection",
            "Consistent",
            "Unknown",
            "DUnknown",
        );
        assert_eq!(
            promotion_score(&st, &l, PeerPrimaryPolicy::Never, false),
            Score::Set(5)
        );
    }

    #[test]
    fn peer_primary_policies() {
        let l = Levels::default();
        let st = status("Secondary", "Connected", "UpToDate", "Primary", "UpToDate");
        assert_eq!(
            promotion_score(&st, &l, PeerPrimaryPolicy::Always, true),
            Score::Remove
        );
        assert_eq!(
            promotion_score(&st, &l, PeerPrimaryPolicy::Unexpected, false),
            Score::Remove
        );
        assert_eq!(
            promotion_score(&st, &l, PeerPrimaryPolicy::Unexpected, true),
            Score::Set(10000)
        );
        assert_eq!(PeerPrimaryPolicy::parse("yes"), PeerPrimaryPolicy::Always);
        assert_eq!(
            PeerPrimaryPolicy::parse("unexpected"),
            PeerPrimaryPolicy::Unexpected
        );
        assert_eq!(PeerPrimaryPolicy::parse("no"), PeerPrimaryPolicy::Never);
    }

    #[test]
    fn levels_parse_rejects_bad_values() {
        assert_eq!(Levels::parse("0 10 1000 10000"), Ok(Levels::default()));
        assert!(Levels::parse("0 10 1000").unwrap_err().contains("3 values"));
        assert!(Levels::parse("10 0 1000 10000")
            .unwrap_err()
            .contains("decrease"));
        assert!(Levels::parse("a b c d")
            .unwrap_err()
            .contains("four integers"));
    }
}
