//! monitor, notify and reload: reading the state, keeping the promotion score and the
//! connection as they should be.

use ocf::{ExitCode, OcfError, Result};
use shimai_config::Resource;
use shimaid::control::{Request, StatusReport};

use super::{monitor_code, Agent};
use crate::clone::Notice;
use crate::daemon::Outcome;

impl Agent<'_> {
    pub(super) fn monitor(&self, res: &Resource) -> Result<ExitCode> {
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
    pub(super) fn maybe_unfence(&self, st: &StatusReport, res: &Resource) {
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
    pub(super) fn notify(&self) -> ExitCode {
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

    pub(super) fn reload(&self) -> Result<ExitCode> {
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
