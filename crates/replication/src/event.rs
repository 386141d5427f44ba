//! Inputs to the core. Everything the outside world tells the state machine is one [`Event`];
//! time and randomness arrive inside events too, so the same events replay to the same actions.

use crate::bitmap::Bitmap;
use crate::gi::GenerationIds;
use crate::handshake::Handler;
use crate::meta::MdFlags;
use crate::wire::Msg;

/// A client request id (the NBD handle); echoed in [`crate::Action::Reply`].
pub type ReqId = u64;
/// A disk operation id chosen by the core; echoed in [`Event::DiskDone`].
pub type IoId = u64;

/// How a disk operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskResult {
    /// A write, trim, flush or AL transaction is on the disk.
    Done,
    /// A read returned these bytes.
    Data(Vec<u8>),
    /// The operation failed with this errno.
    Failed(i32),
}

/// What the daemon read from the metadata area at attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persisted {
    pub gi: GenerationIds,
    pub flags: MdFlags,
    pub bitmap: Bitmap,
    /// The activity log's hot extents (4 MiB extent numbers) from its last transaction.
    pub al: Vec<u32>,
}

impl Persisted {
    /// Freshly created metadata (`create-md`): just-created identifier, Inconsistent, clear.
    pub fn just_created(size: u64) -> Persisted {
        Persisted {
            gi: GenerationIds::just_created(),
            flags: MdFlags::default(),
            bitmap: Bitmap::new(size),
            al: Vec::new(),
        }
    }
}

/// An admin verb (`shimaiadm VERB`), as drbdadm has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCmd {
    Primary { force: bool },
    Secondary,
    Connect { discard_my_data: bool },
    Disconnect,
    Invalidate,
    InvalidateRemote,
    NewCurrentUuid { clear_bitmap: bool },
    Outdate,
    Verify,
    PauseSync,
    ResumeSync,
    Attach(Persisted),
    Detach,
}

/// One input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Client write of `data` at byte `offset` (sector aligned).
    Write {
        id: ReqId,
        offset: u64,
        data: Vec<u8>,
        /// Force unit access: durable when acknowledged.
        fua: bool,
    },
    /// Client TRIM (discard) of a byte range.
    Trim {
        id: ReqId,
        offset: u64,
        len: u64,
    },
    /// Client flush: acknowledged once every earlier acknowledged write is durable on every
    /// node the protocol requires.
    Flush {
        id: ReqId,
    },
    /// Client read (served from the local disk, which must be UpToDate).
    Read {
        id: ReqId,
        offset: u64,
        len: u64,
    },
    /// A disk operation the core asked for finished.
    DiskDone {
        io: IoId,
        result: DiskResult,
    },
    /// The transport to the peer is up (after `TransportCmd::Connect`).
    Connected {
        /// This node breaks ties (DRBD's RESOLVE_CONFLICTS; e.g. the side that accepted).
        resolve_conflicts: bool,
        /// A fresh random nonce for the HMAC challenge (unused without a shared secret).
        challenge: Vec<u8>,
    },
    /// A decoded message from the peer.
    Received(Msg),
    /// The transport broke (EOF, reset, timeout seen by the daemon).
    ConnectionLost,
    /// Time passes. `entropy` refreshes the random source new identifiers are drawn from.
    Tick {
        now_ms: u64,
        entropy: u64,
    },
    /// A handler the core asked for exited.
    HandlerDone {
        handler: Handler,
        exit_code: i32,
    },
    Admin(AdminCmd),
    /// Writing the superblock or the bitmap ([`crate::Action::PersistMeta`],
    /// [`crate::Action::PersistBitmap`]) failed with this errno: what the core believes
    /// durable is not, so the disk is given up (DRBD detaches on a metadata error whatever
    /// `on-io-error` says).
    MetaWriteFailed {
        errno: i32,
    },
    /// Bytes queued for the peer and not yet taken by the socket (the daemon's user-space send
    /// queue plus the socket's unsent bytes, `SIOCOUTQ`). Fed whenever it changes
    /// noticeably; counts toward `congestion-fill`.
    SendQueue {
        bytes: u64,
    },
}
