//! The error type every agent action returns.

use crate::ExitCode;

/// A failed action: the OCF code to exit with and the one-line reason that
/// Pacemaker shows in `crm_mon` ("Failed Resource Actions").
///
/// The reason should say what failed, where (the parameter, device or
/// address) and, when the fix is not obvious, what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct OcfError {
    code: ExitCode,
    reason: String,
}

/// Result of an agent action.
pub type Result<T, E = OcfError> = std::result::Result<T, E>;

impl OcfError {
    pub fn new(code: ExitCode, reason: impl Into<String>) -> Self {
        OcfError {
            code,
            reason: reason.into(),
        }
    }
    /// `OCF_ERR_GENERIC` (1): a soft failure on this node.
    pub fn generic(reason: impl Into<String>) -> Self {
        Self::new(ExitCode::ErrGeneric, reason)
    }
    /// `OCF_ERR_ARGS` (2): a parameter is invalid on this host.
    pub fn args(reason: impl Into<String>) -> Self {
        Self::new(ExitCode::ErrArgs, reason)
    }
    /// `OCF_ERR_UNIMPLEMENTED` (3).
    pub fn unimplemented(reason: impl Into<String>) -> Self {
        Self::new(ExitCode::ErrUnimplemented, reason)
    }
    /// `OCF_ERR_PERM` (4).
    pub fn perm(reason: impl Into<String>) -> Self {
        Self::new(ExitCode::ErrPerm, reason)
    }
    /// `OCF_ERR_INSTALLED` (5): something needed is missing on this host.
    pub fn installed(reason: impl Into<String>) -> Self {
        Self::new(ExitCode::ErrInstalled, reason)
    }
    /// `OCF_ERR_CONFIGURED` (6): the configuration is wrong on every node.
    pub fn configured(reason: impl Into<String>) -> Self {
        Self::new(ExitCode::ErrConfigured, reason)
    }

    /// The OCF exit code this error maps to.
    pub fn exit_code(&self) -> ExitCode {
        self.code
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The same error with a different exit code, e.g. to turn a
    /// configuration error into "not running" during a probe.
    pub fn with_code(mut self, code: ExitCode) -> Self {
        self.code = code;
        self
    }
}
