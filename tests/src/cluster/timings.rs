//! Where the time of a failover goes, read from the survivor's own logs:
//! detection (corosync: token lost, then the new membership after the
//! consensus wait), Pacemaker's decision (the scheduler's transition) and
//! the agents' actions (the start results, and each agent's `exec-time`
//! from the operation history). For `scripts/bench`'s failover suite and
//! the kill-node test.

use super::error::{Error, Result};
use super::Cluster;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One agent operation of the takeover, from the operation history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOp {
    pub resource: String,
    pub task: String,
    /// The agent's own run time in ms (Pacemaker's `exec-time`).
    pub exec_ms: u64,
}

/// The phases of one node-loss failover, each measured from the end of
/// the previous one, on the surviving node's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverTimings {
    /// Kill → corosync declares the token lost (`A processor failed`).
    pub token_lost: Duration,
    /// Token lost → the new membership without the dead node (the
    /// consensus wait); with `token_lost` this is the detection time.
    pub membership: Duration,
    /// New membership → Pacemaker's scheduler has computed the transition.
    pub decision: Duration,
    /// Transition computed → the last start of the group succeeded.
    pub actions: Duration,
    /// True when the survivor had to elect itself DC first (the dead node
    /// was the DC), which is part of `decision`.
    pub dc_takeover: bool,
    /// The agents' start operations, in the order they ran.
    pub agent_ops: Vec<AgentOp>,
}

impl FailoverTimings {
    /// Kill → the new membership.
    pub fn detection(&self) -> Duration {
        self.token_lost + self.membership
    }

    /// Kill → the last start of the group succeeded.
    pub fn total(&self) -> Duration {
        self.detection() + self.decision + self.actions
    }

    /// The agents' own share of the takeover: the sum of the start
    /// operations' `exec-time` (the rest of `actions` is Pacemaker's
    /// executor and controller between them).
    pub fn agents_exec(&self) -> Duration {
        Duration::from_millis(self.agent_ops.iter().map(|o| o.exec_ms).sum())
    }
}

impl fmt::Display for FailoverTimings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_millis();
        write!(
            f,
            "detection {} ms (token lost {} ms + new membership {} ms), decision {} ms, \
             actions {} ms, total {} ms{}; agents:",
            ms(self.detection()),
            ms(self.token_lost),
            ms(self.membership),
            ms(self.decision),
            ms(self.actions),
            ms(self.total()),
            if self.dc_takeover {
                " (with DC takeover)"
            } else {
                ""
            }
        )?;
        for op in &self.agent_ops {
            write!(f, " {} {} {} ms;", op.resource, op.task, op.exec_ms)?;
        }
        Ok(())
    }
}

/// The timings of the failover that followed the kill at `killed_at`, as
/// node `survivor` logged it, for the resources of `group`.
pub fn failover_timings(
    cluster: &Cluster,
    survivor: usize,
    killed_at: SystemTime,
    group: &str,
) -> Result<FailoverTimings> {
    let node = cluster.node(survivor);
    let corosync = node.read_log("var/log/corosync/corosync.log");
    let pacemaker = node.read_log("var/log/pacemaker/pacemaker.log");
    let status = cluster.status_from(survivor)?;
    let members: Vec<String> = status.members(group).iter().map(|r| r.id.clone()).collect();
    let year = civil_year(killed_at);
    let after = |log: &str, from: SystemTime, pred: &dyn Fn(&str) -> bool| {
        log.lines()
            .filter(|l| pred(l))
            .filter_map(|l| log_time(l, year).map(|t| (t, l)))
            .find(|(t, _)| *t >= from)
            .map(|(t, _)| t)
    };
    let missing = |what: &str| Error::Parse {
        source: format!("{}'s logs", node.name),
        detail: format!("no {what} after the kill"),
    };
    // A line is stamped to the millisecond: the kill itself is rounded down.
    let from = killed_at - Duration::from_millis(1);
    let lost = after(&corosync, from, &|l| l.contains("A processor failed"))
        .ok_or_else(|| missing("'A processor failed' line in corosync.log"))?;
    let joined = after(&corosync, lost, &|l| {
        l.contains("A new membership") && l.contains("Members left")
    })
    .ok_or_else(|| missing("new membership in corosync.log"))?;
    let decided = after(&pacemaker, joined, &|l| l.contains("Calculated transition"))
        .ok_or_else(|| missing("'Calculated transition' in pacemaker.log"))?;
    let dc_takeover = after(&pacemaker, from, &|l| l.contains("Taking over DC status"))
        .is_some_and(|t| t <= decided);
    let mut done = None;
    for l in pacemaker.lines() {
        let is_start = l.contains("Result of start operation for ")
            && members
                .iter()
                .any(|m| l.contains(&format!("for {m} on {}", node.name)));
        if let Some(t) = log_time(l, year).filter(|t| is_start && *t >= decided) {
            done = Some(t);
        }
    }
    let done = done.ok_or_else(|| missing("start result of the group in pacemaker.log"))?;
    let mut agent_ops: Vec<(i64, AgentOp)> = status
        .operations
        .iter()
        .filter(|o| o.node == node.name && o.task == "start" && members.contains(&o.resource))
        .map(|o| {
            (
                o.call,
                AgentOp {
                    resource: o.resource.clone(),
                    task: o.task.clone(),
                    exec_ms: o.exec_ms,
                },
            )
        })
        .collect();
    agent_ops.sort_by_key(|(call, _)| *call);
    let span = |a: SystemTime, b: SystemTime| b.duration_since(a).unwrap_or_default();
    Ok(FailoverTimings {
        token_lost: span(killed_at, lost),
        membership: span(lost, joined),
        decision: span(joined, decided),
        actions: span(decided, done),
        dc_takeover,
        agent_ops: agent_ops.into_iter().map(|(_, op)| op).collect(),
    })
}

/// The time of a corosync or Pacemaker log line ("Nov 22 12:40:21.697 ..."),
/// written in UTC (the test bed runs the daemons with TZ=UTC), in `year`.
pub fn log_time(line: &str, year: i64) -> Option<SystemTime> {
    let mut f = line.split_whitespace();
    let month = match f.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let day: i64 = f.next()?.parse().ok()?;
    let (hms, frac) = f.next()?.split_once('.').unwrap_or(("", ""));
    let mut hms = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let ms: u64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
}

/// The UTC year of `t`.
fn civil_year(t: SystemTime) -> i64 {
    let days = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64 / 86_400;
    // Walk from 1970; a test bed's clock is never far from it in years.
    let mut year = 1970;
    while days_from_civil(year + 1, 1, 1) <= days {
        year += 1;
    }
    year
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_are_utc_with_milliseconds() {
        let t = log_time(
            "Nov 22 12:40:21.697 [16] node2 corosync notice  [TOTEM ] A new membership",
            2026,
        )
        .unwrap();
        // date -u -d '2026-11-22 12:40:21' +%s
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_millis(1_795_351_221_697)
        );
        assert_eq!(log_time("garbage line", 2026), None);
        assert_eq!(log_time("Nov 22 12:40", 2026), None);
    }

    #[test]
    fn the_year_comes_from_the_kill_time() {
        assert_eq!(civil_year(UNIX_EPOCH), 1970);
        assert_eq!(
            civil_year(UNIX_EPOCH + Duration::from_secs(1_795_351_221)),
            2026
        );
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn phases_add_up_to_the_total() {
        let t = FailoverTimings {
            token_lost: Duration::from_millis(1900),
            membership: Duration::from_millis(2400),
            decision: Duration::from_millis(1000),
            actions: Duration::from_millis(450),
            dc_takeover: true,
            agent_ops: vec![],
        };
        assert_eq!(t.detection(), Duration::from_millis(4300));
        assert_eq!(t.total(), Duration::from_millis(5750));
        assert_eq!(t.agents_exec(), Duration::ZERO);
        let with_ops = FailoverTimings {
            agent_ops: vec![
                AgentOp {
                    resource: "web-ip".into(),
                    task: "start".into(),
                    exec_ms: 7,
                },
                AgentOp {
                    resource: "web-server".into(),
                    task: "start".into(),
                    exec_ms: 150,
                },
            ],
            ..t.clone()
        };
        assert_eq!(with_ops.agents_exec(), Duration::from_millis(157));
        assert!(t.to_string().contains("total 5750 ms (with DC takeover)"));
    }
}
