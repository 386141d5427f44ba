//! The actions. Each reads the resource's state over the control socket, decides with the
//! pure functions of [`crate::score`] and [`crate::clone`], and asks shimaid for the
//! change; the exit codes are the linbit agent's in the same situations
//! (docs/agents/drbd.md has the table).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ocf::command::Deadline;
use ocf::{Action, Context, ExitCode, OcfError, Result};
use shimai_config::Resource;
use shimaid::control::{Request, StatusReport};

use crate::attr::PromotionAttr;
use crate::clone::Notice;
use crate::daemon::{Daemon, Outcome, NEEDS_FORCE};
use crate::score::{promotion_score, Levels, PeerPrimaryPolicy, Score};
use crate::validate;

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

    fn start(&self) -> Result<ExitCode> {
        if self.status()?.is_none() {
            self.daemon.spawn(&self.ctx.env, &self.deadline)?;
        }
        let st = self.running("start")?;
        if st.role == "Primary" {
            if let Outcome::Refused { message, .. } = self.insist(&Request::Secondary, |_| false)? {
                return Err(OcfError::generic(format!(
                    "found {} Primary on start and cannot make it Secondary: {message}",
                    st.resource
                )));
            }
        }
        self.set_promoted(false);
        if self.ctx.params.bool("connect_only_after_promote") {
            let _ = self.daemon.request(&Request::Disconnect, &self.deadline)?;
        } else if st.connection == "StandAlone" {
            self.connect();
        }
        self.wait_connected();
        self.update_score(self.status()?.as_ref(), None);
        Ok(ExitCode::Success)
    }

    fn connect(&self) {
        let req = Request::Connect {
            discard_my_data: false,
        };
        match self.daemon.request(&req, &self.deadline) {
            Ok(Outcome::Done) => self.ctx.log.info("connecting to the peer"),
            Ok(Outcome::Refused { message, .. }) => {
                self.ctx.log.warn(&format!("connect refused: {message}"))
            }
            Err(e) => self.ctx.log.warn(&format!("connect: {e}")),
        }
    }

    /// `wfc_timeout`: give the peer a few seconds, so the first score already knows it.
    fn wait_connected(&self) {
        let Ok(secs) = self.ctx.params.str("wfc_timeout").trim().parse::<u64>() else {
            return;
        };
        let until = Deadline::after(Duration::from_secs(secs).min(self.deadline.remaining()));
        while !until.expired() {
            match self.status() {
                Ok(Some(s)) if s.peer_disk != "DUnknown" => return,
                Ok(Some(_)) => until.sleep(Duration::from_millis(200)),
                _ => return,
            };
        }
        self.ctx.log.info(&format!(
            "not connected to the peer after wfc_timeout={secs}s; continuing"
        ));
    }

    fn stop(&self, res: Option<&Resource>) -> Result<ExitCode> {
        let Some(st) = self.status()? else {
            self.finish_stop();
            return Ok(ExitCode::Success);
        };
        if st.role == "Primary" {
            if let Outcome::Refused { message, .. } = self.insist(&Request::Secondary, |_| false)? {
                return Err(OcfError::generic(format!(
                    "cannot stop {}: it stays Primary: {message}",
                    st.resource
                )));
            }
        }
        if res.is_some() && self.ctx.params.bool("stop_outdates_secondary") {
            self.maybe_outdate_self(&st, &Notice::from_env(&self.ctx.env));
        }
        if let Outcome::Refused { message, .. } = self.insist(&Request::Down, |_| false)? {
            return Err(OcfError::generic(format!(
                "cannot stop {}: {message}",
                st.resource
            )));
        }
        // The daemon may accept a connection and close it unanswered while it goes away:
        // only an unreachable socket means it is gone.
        while !matches!(self.status(), Ok(None)) {
            if !self.deadline.sleep(Duration::from_millis(100)) {
                return Err(OcfError::generic(format!(
                    "shimaid for {} accepted down but still answers",
                    st.resource
                )));
            }
        }
        self.finish_stop();
        Ok(ExitCode::Success)
    }

    fn finish_stop(&self) {
        self.set_promoted(false);
        let attr = self.attr();
        attr.forget();
        attr.apply(Score::Remove);
    }

    /// `stop_outdates_secondary`: a disconnected Secondary whose peer is (to be) promoted
    /// marks its own disk Outdated, so it cannot be promoted with stale data later.
    fn maybe_outdate_self(&self, st: &StatusReport, notice: &Notice) {
        if st.role != "Secondary"
            || st.peer_disk != "DUnknown"
            || !matches!(st.disk.as_str(), "UpToDate" | "Consistent")
            || !notice.other_promoted(self.me())
        {
            return;
        }
        match self.daemon.request(&Request::Outdate, &self.deadline) {
            Ok(Outcome::Done) => self
                .ctx
                .log
                .info("outdated the local disk: the peer is promoted and we are disconnected"),
            Ok(Outcome::Refused { message, .. }) => {
                self.ctx.log.warn(&format!("outdate refused: {message}"))
            }
            Err(e) => self.ctx.log.warn(&format!("outdate: {e}")),
        }
    }

    fn promote(&self) -> Result<ExitCode> {
        let st = self.running("promote")?;
        if st.role != "Primary" {
            if self.ctx.params.bool("fail_promote_early_if_peer_primary")
                && st.peer_role == "Primary"
            {
                self.attr().apply(Score::Remove);
                return Err(self.failed_promote(format!(
                    "the peer {} is Primary; not promoting (fail_promote_early_if_peer_primary)",
                    st.peer_node
                )));
            }
            match self.insist(&Request::Primary { force: false }, |c| c == NEEDS_FORCE)? {
                Outcome::Done => {}
                Outcome::Refused { code, message } if code == NEEDS_FORCE => {
                    return Err(self.failed_promote(format!(
                        "Refusing to be promoted to Primary without access to UpToDate data ({message})"
                    )));
                }
                Outcome::Refused { message, .. } => {
                    return Err(self.failed_promote(format!("promote refused: {message}")));
                }
            }
        }
        self.set_promoted(true);
        self.update_score(self.status()?.as_ref(), None);
        Ok(ExitCode::Success)
    }

    /// The error for a failed promote, after waiting out [`MIN_FAILED_PROMOTE`].
    fn failed_promote(&self, reason: String) -> OcfError {
        let left = MIN_FAILED_PROMOTE.saturating_sub(self.started.elapsed());
        self.deadline.sleep(left);
        OcfError::generic(reason)
    }

    fn demote(&self) -> Result<ExitCode> {
        let Some(st) = self.status()? else {
            self.ctx
                .log
                .info("demote: shimaid is not running, so nothing is Primary here");
            self.set_promoted(false);
            return Ok(ExitCode::Success);
        };
        if st.role == "Primary" {
            if let Outcome::Refused { message, .. } = self.insist(&Request::Secondary, |_| false)? {
                return Err(OcfError::generic(format!("demote failed: {message}")));
            }
        }
        self.set_promoted(false);
        self.update_score(self.status()?.as_ref(), None);
        Ok(ExitCode::Success)
    }

    fn monitor(&self, res: &Resource) -> Result<ExitCode> {
        let st = self.status()?;
        let was_promoted = self.promoted_marker().exists();
        let code = monitor_code(st.as_ref(), was_promoted, self.ctx.is_probe());
        if !(st.is_none() && self.ctx.is_probe()) {
            self.update_score(st.as_ref(), None);
        }
        match (&st, code) {
            (_, ExitCode::FailedPromoted) => Err(OcfError::new(
                code,
                format!(
                    "shimaid for {} is gone while this node was Primary; see {}",
                    self.daemon.settings.resource,
                    self.daemon.settings.log_file().display()
                ),
            )),
            (Some(s), ExitCode::RunningPromoted) => {
                self.maybe_unfence(s, res);
                Ok(code)
            }
            (Some(_), ExitCode::Success) if was_promoted => {
                // Demoted behind Pacemaker's back: report what is, forget the marker.
                self.set_promoted(false);
                Ok(code)
            }
            _ => Ok(code),
        }
    }

    /// `unfence_if_all_uptodate`: once per promotion, when Primary and the peer is
    /// UpToDate, run the configured unfence-peer handler so a stale constraint goes.
    fn maybe_unfence(&self, st: &StatusReport, res: &Resource) {
        if !self.ctx.params.bool("unfence_if_all_uptodate") || st.peer_disk != "UpToDate" {
            return;
        }
        let Some(handler) = res
            .handlers
            .unfence_peer
            .as_deref()
            .or(res.handlers.after_resync_target.as_deref())
        else {
            return;
        };
        let done = self.unfenced_marker();
        if done.exists() {
            return;
        }
        let line = format!("{handler} {}", self.ctx.params.str("unfence_extra_args"));
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", &line])
            .env("DRBD_RESOURCE", &st.resource)
            .env("DRBD_PEER", &st.peer_node)
            .env("DRBD_CONF", self.daemon.config());
        match ocf::command::run(&mut cmd, &self.deadline) {
            Ok(out) if out.success() => {
                let _ = std::fs::write(&done, "");
                self.ctx.log.info(&format!("unfenced the peer: {line}"));
            }
            Ok(out) => {
                self.ctx
                    .log
                    .warn(&format!("{line} exited {}: {}", out.code(), out.one_line()))
            }
            Err(e) => self.ctx.log.warn(&format!("{line}: {e}")),
        }
    }

    /// Notifications must not fail: every problem is logged and 0 returned.
    fn notify(&self) -> ExitCode {
        let notice = Notice::from_env(&self.ctx.env);
        let st = match self.status() {
            Ok(Some(st)) => st,
            Ok(None) => return ExitCode::Success,
            Err(e) => {
                self.ctx.log.warn(&format!("notify: {e}"));
                return ExitCode::Success;
            }
        };
        let connect_now = match notice.operation.as_str() {
            "start" => !self.ctx.params.bool("connect_only_after_promote"),
            "promote" => {
                notice.kind == "post" && self.ctx.params.bool("connect_only_after_promote")
            }
            _ => false,
        };
        if connect_now && st.connection == "StandAlone" {
            self.connect();
        }
        if notice.kind == "post" {
            let st = self.status().ok().flatten();
            self.update_score(st.as_ref(), Some(&notice));
            if let Some(st) = st {
                if self.ctx.params.bool("stop_outdates_secondary") {
                    self.maybe_outdate_self(&st, &notice);
                }
            }
        }
        ExitCode::Success
    }

    fn reload(&self) -> Result<ExitCode> {
        if self.status()?.is_some() {
            if let Outcome::Refused { message, .. } =
                self.daemon.request(&Request::Adjust, &self.deadline)?
            {
                self.ctx.log.warn(&format!("adjust refused: {message}"));
            }
        }
        self.update_score(self.status()?.as_ref(), None);
        Ok(ExitCode::Success)
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
