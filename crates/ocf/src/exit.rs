//! OCF exit codes (resource-agent-api 1.1, "Return codes").

use std::fmt;

/// The result an agent reports to the cluster manager.
///
/// The numeric values are fixed by the OCF specification; Pacemaker maps any
/// other value to 1, so agents must only ever exit with one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitCode {
    /// `OCF_SUCCESS`: the action succeeded, or monitor found the resource running.
    Success,
    /// `OCF_ERR_GENERIC`: a soft error; Pacemaker restarts or moves the resource.
    ErrGeneric,
    /// `OCF_ERR_ARGS`: the parameters are invalid on this host; Pacemaker bans the node.
    ErrArgs,
    /// `OCF_ERR_UNIMPLEMENTED`: the action is not supported.
    ErrUnimplemented,
    /// `OCF_ERR_PERM`: insufficient privilege.
    ErrPerm,
    /// `OCF_ERR_INSTALLED`: something the agent needs is missing on this host.
    ErrInstalled,
    /// `OCF_ERR_CONFIGURED`: the configuration is wrong everywhere; the resource is stopped cluster-wide.
    ErrConfigured,
    /// `OCF_NOT_RUNNING`: monitor found the resource cleanly stopped.
    NotRunning,
    /// `OCF_RUNNING_MASTER`: monitor found the resource running in the promoted role.
    RunningPromoted,
    /// `OCF_FAILED_MASTER`: the resource is promoted but failed.
    FailedPromoted,
}

impl ExitCode {
    /// The process exit status.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::ErrGeneric => 1,
            ExitCode::ErrArgs => 2,
            ExitCode::ErrUnimplemented => 3,
            ExitCode::ErrPerm => 4,
            ExitCode::ErrInstalled => 5,
            ExitCode::ErrConfigured => 6,
            ExitCode::NotRunning => 7,
            ExitCode::RunningPromoted => 8,
            ExitCode::FailedPromoted => 9,
        }
    }

    /// The code for a process exit status, if it is an OCF one.
    pub fn from_code(code: i32) -> Option<ExitCode> {
        Some(match code {
            0 => ExitCode::Success,
            1 => ExitCode::ErrGeneric,
            2 => ExitCode::ErrArgs,
            3 => ExitCode::ErrUnimplemented,
            4 => ExitCode::ErrPerm,
            5 => ExitCode::ErrInstalled,
            6 => ExitCode::ErrConfigured,
            7 => ExitCode::NotRunning,
            8 => ExitCode::RunningPromoted,
            9 => ExitCode::FailedPromoted,
            _ => return None,
        })
    }

    /// The shell name from `ocf-returncodes`.
    pub fn name(self) -> &'static str {
        match self {
            ExitCode::Success => "OCF_SUCCESS",
            ExitCode::ErrGeneric => "OCF_ERR_GENERIC",
            ExitCode::ErrArgs => "OCF_ERR_ARGS",
            ExitCode::ErrUnimplemented => "OCF_ERR_UNIMPLEMENTED",
            ExitCode::ErrPerm => "OCF_ERR_PERM",
            ExitCode::ErrInstalled => "OCF_ERR_INSTALLED",
            ExitCode::ErrConfigured => "OCF_ERR_CONFIGURED",
            ExitCode::NotRunning => "OCF_NOT_RUNNING",
            ExitCode::RunningPromoted => "OCF_RUNNING_MASTER",
            ExitCode::FailedPromoted => "OCF_FAILED_MASTER",
        }
    }
}

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in 0..10 {
            assert_eq!(ExitCode::from_code(c).unwrap().code(), c);
        }
        assert_eq!(ExitCode::from_code(10), None);
        assert_eq!(ExitCode::from_code(-1), None);
    }
}
