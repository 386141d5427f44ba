//! start and stop: the daemon's life under Pacemaker.

use std::time::Duration;

use ocf::command::Deadline;
use ocf::{ExitCode, OcfError, Result};
use shimai_config::Resource;
use shimaid::control::{Request, StatusReport};

use super::Agent;
use crate::clone::Notice;
use crate::daemon::Outcome;
use crate::score::Score;

impl Agent<'_> {
    pub(super) fn start(&self) -> Result<ExitCode> {
        if let Some(why) = crate::owner::systemd_owner(&self.daemon.settings, &self.deadline) {
            return Err(OcfError::installed(why));
        }
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

    pub(super) fn connect(&self) {
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
    pub(super) fn wait_connected(&self) {
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

    pub(super) fn stop(&self, res: Option<&Resource>) -> Result<ExitCode> {
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

    pub(super) fn finish_stop(&self) {
        self.set_promoted(false);
        let attr = self.attr();
        attr.forget();
        attr.apply(Score::Remove);
    }

    /// `stop_outdates_secondary`: a disconnected Secondary whose peer is (to be) promoted
    /// marks its own disk Outdated, so it cannot be promoted with stale data later.
    pub(super) fn maybe_outdate_self(&self, st: &StatusReport, notice: &Notice) {
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
}
