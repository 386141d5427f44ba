//! Why the core refused something: one typed error for the crate, mapped to the outside code
//! spaces by [`Error::exit_code`] (admin CLI, as drbdadm) and [`Error::errno`] (NBD replies).

/// Linux errno values the NBD server replies with; spelled out so the core needs no libc.
mod errno {
    pub const EIO: i32 = 5;
    pub const EROFS: i32 = 30;
    pub const EINVAL: i32 = 22;
    pub const ENOSPC: i32 = 28;
    pub const EAGAIN: i32 = 11;
}

/// A refused admin command, a failed client request or a protocol violation by the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Promotion needs UpToDate data; the operator may force it (`primary --force`), accepting
    /// that this node's data becomes the authoritative generation.
    #[error("no up-to-date data on this node (disk is {disk}); use --force to promote anyway")]
    NeedsForce { disk: crate::DiskState },
    /// The peer is Primary and `allow-two-primaries` is off.
    #[error("the peer is Primary; demote it first or set allow-two-primaries")]
    PeerIsPrimary,
    /// The command needs a role this node does not have (e.g. `outdate` on a Primary).
    #[error("refused while {role}: {what}")]
    WrongRole {
        role: crate::Role,
        what: &'static str,
    },
    /// The command needs a connection state this node is not in.
    #[error("refused in connection state {cs}: {what}")]
    WrongConnState {
        cs: crate::ConnState,
        what: &'static str,
    },
    /// The command needs a disk state this node does not have.
    #[error("refused with disk state {disk}: {what}")]
    WrongDiskState {
        disk: crate::DiskState,
        what: &'static str,
    },
    /// `verify` needs `verify-alg` in the net section of the resource.
    #[error("online verify needs verify-alg in the resource's net section")]
    NoVerifyAlg,
    /// Client I/O on a node that is not Primary (a Secondary has no device).
    #[error("client I/O refused: this node is not Primary")]
    NotPrimary,
    /// Client I/O while the local disk is not UpToDate (shimai does not read from the peer).
    #[error("client I/O refused: local disk is {disk}")]
    NoGoodDisk { disk: crate::DiskState },
    /// A client request outside the data area or not aligned to 512-byte sectors.
    #[error(
        "request at byte {offset} length {len} is outside the {size}-byte device or unaligned"
    )]
    OutOfRange { offset: u64, len: u64, size: u64 },
    /// The local disk failed the operation (errno from the daemon).
    #[error("local disk I/O failed with errno {0}")]
    DiskIo(i32),
    /// I/O is frozen while the fence-peer handler runs (`fencing resource-and-stonith`).
    #[error("I/O is suspended until the fence-peer handler answers")]
    Suspended,
    /// The peer sent something the protocol does not allow in this state; the connection
    /// drops (probably a bug in one of the two nodes, or a version mismatch).
    #[error("peer protocol error: {0}")]
    Protocol(String),
    /// Bytes from the peer are not a shimai message (the daemon's decoder reports this and
    /// drops the connection).
    #[error("undecodable bytes from the peer: {0}")]
    Wire(#[from] crate::wire::WireError),
}

impl Error {
    /// Exit code of the admin verb that got this error: 17 as drbdadm when only `--force`
    /// would help, 1 for every other refusal.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NeedsForce { .. } => 17,
            _ => 1,
        }
    }

    /// errno for an NBD reply to a client request that failed with this error.
    pub fn errno(&self) -> i32 {
        match self {
            Error::NotPrimary => errno::EROFS,
            Error::OutOfRange { .. } => errno::EINVAL,
            Error::DiskIo(e) if *e > 0 => *e,
            Error::Suspended => errno::EAGAIN,
            Error::NoGoodDisk { .. } => errno::EIO,
            Error::NeedsForce { .. } => errno::ENOSPC,
            _ => errno::EIO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let e = Error::NeedsForce {
            disk: crate::DiskState::Inconsistent,
        };
        assert_eq!(e.exit_code(), 17);
        assert!(e.to_string().contains("--force"));
        assert_eq!(Error::PeerIsPrimary.exit_code(), 1);
        assert_eq!(Error::NotPrimary.errno(), 30);
        assert_eq!(Error::DiskIo(28).errno(), 28);
    }
}
