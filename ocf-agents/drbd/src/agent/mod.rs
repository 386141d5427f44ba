//! The actions. Each reads the resource's state over the control socket, decides with the
//! pure functions of [`crate::score`] and [`crate::clone`], and asks shimaid for the
//! change; the exit codes are the linbit agent's in the same situations
//! (docs/agents/drbd.md has the table).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ocf::command::Deadline;
use ocf::{Action, Context, ExitCode, OcfError, Result};
use shimaid::control::{Request, StatusReport};

use crate::attr::PromotionAttr;
use crate::clone::Notice;
use crate::daemon::{Daemon, Outcome};
use crate::score::{promotion_score, Levels, PeerPrimaryPolicy, Score};
use crate::validate;

mod lifecycle;
mod observe;
mod role;

/// A failed promote takes at least this long, so that Pacemaker's recovery does not spin.
const MIN_FAILED_PROMOTE: Duration = Duration::from_secs(15);

/// The agent's entry point for every action but meta-data and usage.
pub fn handle(ctx: &Context) -> Result<ExitCode> {
    let started = Instant::now();
    validate::params(ctx)?;
    let daemon = Daemon::new(&ctx.env, ctx.params.str("drbd_resource"));
    let agent = Agent {
        ctx,
        deadline: ctx.deadline(),
        levels: levels(ctx),
        policy: PeerPrimaryPolicy::parse(ctx.params.str("remove_master_score_if_peer_primary")),
        started,
        daemon,
    };
    let res = match validate::config(&agent.daemon) {
        Ok(res) => res,
        // A stop must not fail for a broken configuration (that would fence the node):
        // whatever runs under this name is brought down over its control socket.
        Err(e) if ctx.action == Action::Stop => {
            ctx.log
                .warn(&format!("{}; stopping what runs anyway", e.reason()));
            return agent.stop(None);
        }
        Err(e) => {
            if ctx.is_probe() || e.exit_code() == ExitCode::ErrInstalled {
                agent.attr().apply(Score::Remove);
            }
            return Err(validate::soften_for_probe(e, ctx.is_probe()));
        }
    };
    validate::cluster(ctx, &res)?;
    match &ctx.action {
        Action::Start => agent.start(),
        Action::Stop => agent.stop(Some(&res)),
        Action::Promote => agent.promote(),
        Action::Demote => agent.demote(),
        Action::Monitor | Action::Status => agent.monitor(&res),
        Action::Notify => Ok(agent.notify()),
        Action::Reload => agent.reload(),
        Action::ValidateAll => Ok(ExitCode::Success),
        other => Err(OcfError::unimplemented(format!(
            "action '{other}' is not implemented by drbd"
        ))),
    }
}

fn levels(ctx: &Context) -> Levels {
    Levels::parse(ctx.params.str("adjust_master_score")).unwrap_or_else(|e| {
        ctx.log.warn(&format!(
            "{e}; using the default {}",
            crate::params::DEFAULT_SCORES
        ));
        Levels::default()
    })
}

/// What monitor reports for the observed state. `was_promoted`: this agent promoted the
/// resource and has not demoted or stopped it since.
pub fn monitor_code(st: Option<&StatusReport>, was_promoted: bool, probe: bool) -> ExitCode {
    match st {
        None if was_promoted && !probe => ExitCode::FailedPromoted,
        None => ExitCode::NotRunning,
        Some(s) if s.role == "Primary" => ExitCode::RunningPromoted,
        Some(_) => ExitCode::Success,
    }
}

struct Agent<'a> {
    ctx: &'a Context,
    daemon: Daemon,
    deadline: Deadline,
    levels: Levels,
    policy: PeerPrimaryPolicy,
    started: Instant,
}

impl Agent<'_> {
    fn attr(&self) -> PromotionAttr<'_> {
        PromotionAttr {
            env: &self.ctx.env,
            log: &self.ctx.log,
            deadline: self.deadline,
        }
    }

    /// This node's name as Pacemaker knows it (for the notification lists).
    fn me(&self) -> &str {
        self.ctx
            .env
            .meta("on_node")
            .unwrap_or(&self.daemon.settings.node)
    }

    /// Marks that this agent promoted the resource: a daemon gone afterwards is a failed
    /// promoted instance (9), not a stopped one.
    fn promoted_marker(&self) -> PathBuf {
        let dir = self
            .ctx
            .env
            .var("HA_RSCTMP")
            .unwrap_or("/run/resource-agents");
        PathBuf::from(dir).join(format!(
            "shimai-drbd-{}.promoted",
            self.ctx.env.instance_base()
        ))
    }

    fn set_promoted(&self, on: bool) {
        let m = self.promoted_marker();
        // Each promotion runs `unfence_if_all_uptodate`'s handler again.
        let _ = std::fs::remove_file(self.unfenced_marker());
        if on {
            if let Some(d) = m.parent() {
                let _ = std::fs::create_dir_all(d);
            }
            let _ = std::fs::write(&m, "");
        } else {
            let _ = std::fs::remove_file(&m);
        }
    }

    fn unfenced_marker(&self) -> PathBuf {
        self.promoted_marker().with_extension("unfenced")
    }

    fn status(&self) -> Result<Option<StatusReport>> {
        self.daemon.status(&self.deadline)
    }

    fn running(&self, what: &str) -> Result<StatusReport> {
        self.status()?.ok_or_else(|| {
            OcfError::generic(format!(
                "cannot {what}: shimaid for {} is not running (socket {})",
                self.daemon.settings.resource,
                self.daemon.settings.ctl_socket().display()
            ))
        })
    }

    fn update_score(&self, st: Option<&StatusReport>, notice: Option<&Notice>) {
        let score = match st {
            None => Score::Remove,
            Some(s) => {
                let peer_known = notice.is_some_and(|n| n.names_promoted(&s.peer_node));
                promotion_score(s, &self.levels, self.policy, peer_known)
            }
        };
        self.attr().apply(score);
    }

    /// Sends `req` until it is accepted or the deadline comes; a refusal that waiting
    /// cannot cure (`give_up`) ends at once.
    fn insist(&self, req: &Request, give_up: impl Fn(i32) -> bool) -> Result<Outcome> {
        loop {
            match self.daemon.request(req, &self.deadline)? {
                Outcome::Done => return Ok(Outcome::Done),
                Outcome::Refused { code, message } => {
                    if give_up(code) || self.deadline.remaining() < Duration::from_secs(2) {
                        return Ok(Outcome::Refused { code, message });
                    }
                    self.ctx
                        .log
                        .info(&format!("{req:?} refused ({message}); retrying"));
                    self.deadline.sleep(Duration::from_secs(1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::tests::status;

    #[test]
    fn monitor_codes() {
        let sec = status("Secondary", "Connected", "UpToDate", "Primary", "UpToDate");
        let pri = status("Primary", "Connected", "UpToDate", "Secondary", "UpToDate");
        assert_eq!(monitor_code(Some(&sec), false, false), ExitCode::Success);
        assert_eq!(
            monitor_code(Some(&pri), true, false),
            ExitCode::RunningPromoted
        );
        assert_eq!(
            monitor_code(Some(&pri), false, true),
            ExitCode::RunningPromoted
        );
        assert_eq!(monitor_code(None, false, false), ExitCode::NotRunning);
        assert_eq!(monitor_code(None, true, false), ExitCode::FailedPromoted);
        // A probe never reports a failure: the node may just have rebooted.
        assert_eq!(monitor_code(None, true, true), ExitCode::NotRunning);
    }
}
