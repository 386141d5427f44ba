//! Outputs of the core. The daemon performs them in the order they are drained.
//!
//! Two kinds:
//! - **synchronous** ([`Action::PersistMeta`], [`Action::PersistBitmap`]): must be durable
//!   before the daemon performs any later action (they guard what follows, e.g. a new
//!   generation identifier before writes of that generation);
//! - **asynchronous** ([`Action::Write`], [`Action::Trim`], [`Action::Read`], [`Action::Flush`],
//!   [`Action::PersistAl`]): started in order, completed in any order with
//!   [`crate::Event::DiskDone`] carrying the same `io`.
//!
//! Everything else (sends, replies, notifications) is immediate. Sends must reach the peer in
//! order (one ordered stream).

use std::fmt;

use crate::error::Error;
use crate::event::{IoId, ReqId};
use crate::handshake::Handler;
use crate::meta::MetaRecord;
use crate::state::{ConnState, DiskState, Role};
use crate::wire::Msg;

/// What the daemon does with the peer transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportCmd {
    /// Start connecting/accepting (WFConnection); report [`crate::Event::Connected`].
    Connect,
    /// Close the current connection and keep trying to reconnect.
    Reconnect,
    /// Close the connection and stop trying (StandAlone).
    Shutdown,
}

/// A state transition, printed as DRBD logs it: `conn( WFConnection -> Connected )`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateChange {
    Role { from: Role, to: Role },
    PeerRole { from: Role, to: Role },
    Conn { from: ConnState, to: ConnState },
    Disk { from: DiskState, to: DiskState },
    PeerDisk { from: DiskState, to: DiskState },
}

impl fmt::Display for StateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateChange::Role { from, to } => write!(f, "role( {from} -> {to} )"),
            StateChange::PeerRole { from, to } => write!(f, "peer( {from} -> {to} )"),
            StateChange::Conn { from, to } => write!(f, "conn( {from} -> {to} )"),
            StateChange::Disk { from, to } => write!(f, "disk( {from} -> {to} )"),
            StateChange::PeerDisk { from, to } => write!(f, "pdsk( {from} -> {to} )"),
        }
    }
}

/// Severity of a [`Action::Log`] line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// One output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write `data` at byte `offset` of the local data area (FUA: durable on completion).
    Write {
        io: IoId,
        offset: u64,
        data: Vec<u8>,
        fua: bool,
    },
    Trim {
        io: IoId,
        offset: u64,
        len: u64,
    },
    Read {
        io: IoId,
        offset: u64,
        len: u64,
    },
    /// Make every completed write durable.
    Flush {
        io: IoId,
    },
    /// Send a message to the peer.
    Send(Msg),
    /// Answer client request `id` (read data for reads, `None` otherwise).
    Reply {
        id: ReqId,
        result: Result<Option<Vec<u8>>, Error>,
    },
    /// Write the superblock (synchronous).
    PersistMeta(MetaRecord),
    /// Write bitmap words `[first_word, first_word + words.len())` (synchronous).
    PersistBitmap {
        first_word: u64,
        words: Vec<u64>,
    },
    /// Write an activity-log transaction holding the whole hot set (asynchronous; data writes
    /// into newly activated extents wait for its completion).
    PersistAl {
        io: IoId,
        tr_number: u64,
        extents: Vec<u32>,
    },
    Transport(TransportCmd),
    /// A state change, for the log and `events`.
    Notify(StateChange),
    /// A log line an operator should see (split brain, refused handshakes, resync done).
    Log {
        level: Level,
        msg: String,
    },
    /// Run a drbd.conf handler; report [`crate::Event::HandlerDone`] for `fence-peer`.
    CallHandler(Handler),
}
