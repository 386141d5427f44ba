//! promote and demote.

use ocf::{ExitCode, OcfError, Result};
use shimaid::control::Request;

use super::{Agent, MIN_FAILED_PROMOTE};
use crate::daemon::{Outcome, NEEDS_FORCE};
use crate::score::Score;

impl Agent<'_> {
    pub(super) fn promote(&self) -> Result<ExitCode> {
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
    pub(super) fn failed_promote(&self, reason: String) -> OcfError {
        let left = MIN_FAILED_PROMOTE.saturating_sub(self.started.elapsed());
        self.deadline.sleep(left);
        OcfError::generic(reason)
    }

    pub(super) fn demote(&self) -> Result<ExitCode> {
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
}
