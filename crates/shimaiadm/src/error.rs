//! The one error type of shimaiadm and its exit codes.
//!
//! Runbooks and the Pacemaker agent branch on drbdadm's exit codes, so
//! every failure maps to one of them ([`AdmError::exit_code`]): 1 refused
//! or failed, 10 configuration, 11 daemon or peer not reachable, 17 would
//! need `--force`. (2, usage, is clap's.) Each message is one line that
//! says what failed, where, and what to do.

use shimai_config::ConfigError;
use shimai_metadata::MetaError;
use shimaid::control::ControlError;

pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_CONFIG: i32 = 10;
pub const EXIT_UNREACHABLE: i32 = 11;
pub const EXIT_NEED_FORCE: i32 = 17;

#[derive(Debug, thiserror::Error)]
pub enum AdmError {
    /// The configuration file cannot be read or parsed (names file:line:column).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The resource is not in the configuration.
    #[error(
        "{file}: no resource named '{name}' (configured: {known}); check the name or use -c FILE"
    )]
    NoSuchResource {
        file: String,
        name: String,
        known: String,
    },
    /// The resource exists but has no `on` section for this node.
    #[error("{file}: resource '{resource}' has no 'on {node}' section (hosts: {hosts}); use --node NAME or SHIMAI_NODE if this machine's name differs")]
    NotOnThisNode {
        file: String,
        resource: String,
        node: String,
        hosts: String,
    },
    /// `all` matched nothing.
    #[error("{file}: no resource has an 'on {node}' section; use --node NAME or SHIMAI_NODE if this machine's name differs")]
    NothingForThisNode { file: String, node: String },
    /// The resource's section lacks something this verb needs.
    #[error("{file}: resource '{resource}': {what}")]
    Incomplete {
        file: String,
        resource: String,
        what: String,
    },
    /// No daemon listens on the resource's control socket.
    #[error("{resource}: shimaid is not running ({path}: {reason}); start it with `shimaiadm up {resource}`")]
    NotRunning {
        resource: String,
        path: String,
        reason: String,
    },
    /// The daemon did not answer in time or answered nonsense.
    #[error("{0}")]
    Control(#[from] ControlError),
    /// The daemon refused; `code` is its exit code (1, 11, 17).
    #[error("{message}")]
    Refused { code: i32, message: String },
    /// A wait ran out of time; `code` is 11 when the peer never connected.
    #[error("{message}")]
    TimedOut { code: i32, message: String },
    /// Metadata could not be created or read.
    #[error("{0}")]
    Meta(#[from] MetaError),
    /// A device or file could not be opened.
    #[error("{path}: {source}; check the 'disk' or 'meta-disk' path in the configuration")]
    Device {
        path: String,
        source: std::io::Error,
    },
    /// `create-md` found metadata and may not overwrite it.
    #[error("{0}")]
    WouldOverwrite(String),
    /// Starting or stopping shimaid failed; `code` is shimaid's own exit
    /// code when it is one of ours (10 config, 11, 17), else 1.
    #[error("{message}")]
    Daemon { code: i32, message: String },
}

impl AdmError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AdmError::Config(e) => e.exit_code(),
            AdmError::NoSuchResource { .. }
            | AdmError::NotOnThisNode { .. }
            | AdmError::NothingForThisNode { .. }
            | AdmError::Incomplete { .. } => EXIT_CONFIG,
            AdmError::NotRunning { .. } => EXIT_UNREACHABLE,
            AdmError::Control(e) => e.exit_code(),
            AdmError::Refused { code, .. }
            | AdmError::TimedOut { code, .. }
            | AdmError::Daemon { code, .. } => {
                // A daemon must not make us exit 0 (or 2, clap's) on a refusal.
                if *code == 0 || *code == EXIT_USAGE {
                    EXIT_FAILED
                } else {
                    *code
                }
            }
            AdmError::Meta(e) => e.exit_code(),
            AdmError::Device { .. } | AdmError::WouldOverwrite(_) => EXIT_FAILED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_daemons_code_but_never_claim_success() {
        let r = |code| AdmError::Refused {
            code,
            message: "x".into(),
        };
        assert_eq!(r(17).exit_code(), 17);
        assert_eq!(r(11).exit_code(), 11);
        assert_eq!(r(0).exit_code(), 1);
        assert_eq!(r(2).exit_code(), 1);
    }
}
