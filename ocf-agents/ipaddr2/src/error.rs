//! Failures of the agent's system layer (netlink, packet sockets, namespaces).
//!
//! The action code adds what it was doing and maps the error to an OCF exit
//! code with [`Error::into_ocf`]; every variant is a soft, node-local failure
//! unless it says otherwise.
#![forbid(unsafe_code)]

use ocf::{ExitCode, OcfError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The netlink socket itself failed (open, send, receive, malformed reply).
    #[error("{0}")]
    Netlink(String),
    /// The kernel refused a netlink request with this errno.
    #[error("{}", nix::errno::Errno::from_raw(*.0).desc())]
    Kernel(i32),
    /// A packet socket operation failed (ARP / neighbour advertisement I/O).
    #[error("{0}")]
    Packet(String),
    /// Entering the configured network namespace failed.
    #[error("{0}")]
    Namespace(String),
}

impl Error {
    /// The OCF code for this error: permission problems are `OCF_ERR_PERM`,
    /// everything else `OCF_ERR_GENERIC`.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Kernel(e) if *e == libc::EPERM || *e == libc::EACCES => ExitCode::ErrPerm,
            _ => ExitCode::ErrGeneric,
        }
    }

    /// The error with what the agent was doing, as an OCF error.
    pub fn into_ocf(self, doing: &str) -> OcfError {
        OcfError::new(self.exit_code(), format!("{doing}: {self}"))
    }
}
