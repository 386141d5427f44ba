//! The replication core of shimai: DRBD 8.4's semantics for one replicated resource as a pure
//! state machine, plus the codec of shimai's own peer protocol.
//!
//! # Driving the core
//!
//! Two nodes, wired in memory through the wire codec, skip the initial sync of new metadata,
//! promote one node and replicate a write under protocol C:
//!
//! ```
//! use shimai_replication::{wire, Action, AdminCmd, Core, DiskResult, Event, Persisted,
//!     ResourceConfig, ConnState, DiskState};
//!
//! let size = 1 << 20;
//! let cfg = ResourceConfig::new(size);
//! let mut nodes = [
//!     Core::new(cfg.clone(), Some(Persisted::just_created(size)), 0x1111),
//!     Core::new(cfg, Some(Persisted::just_created(size)), 0x2222),
//! ];
//! let mut disks = [vec![0u8; size as usize], vec![0u8; size as usize]];
//! let mut replies = Vec::new();
//!
//! // The daemon's loop: drain actions, perform them, feed the results back as events.
//! fn run(nodes: &mut [Core; 2], disks: &mut [Vec<u8>; 2], replies: &mut Vec<(u64, bool)>) {
//!     loop {
//!         let mut idle = true;
//!         for n in 0..2 {
//!             while let Some(action) = nodes[n].poll_action() {
//!                 idle = false;
//!                 let done = |io| Event::DiskDone { io, result: DiskResult::Done };
//!                 match action {
//!                     Action::Write { io, offset, data, .. } => {
//!                         let o = offset as usize;
//!                         disks[n][o..o + data.len()].copy_from_slice(&data);
//!                         nodes[n].handle(done(io)).unwrap();
//!                     }
//!                     Action::Read { io, offset, len } => {
//!                         let data = disks[n][offset as usize..(offset + len) as usize].to_vec();
//!                         nodes[n].handle(Event::DiskDone { io, result: DiskResult::Data(data) }).unwrap();
//!                     }
//!                     Action::Flush { io } | Action::Trim { io, .. } | Action::PersistAl { io, .. } => {
//!                         nodes[n].handle(done(io)).unwrap();
//!                     }
//!                     Action::Send(msg) => {
//!                         let mut bytes = Vec::new();
//!                         wire::encode(&msg, &mut bytes).unwrap();
//!                         let (msg, _) = wire::decode(&bytes).unwrap().unwrap();
//!                         nodes[1 - n].handle(Event::Received(msg)).unwrap();
//!                     }
//!                     Action::Reply { id, result } => replies.push((id, result.is_ok())),
//!                     Action::Notify(change) => println!("node{n}: {change}"),
//!                     _ => {} // metadata writes, logs, handlers, transport commands
//!                 }
//!             }
//!         }
//!         if idle {
//!             return;
//!         }
//!     }
//! }
//!
//! for n in 0..2 {
//!     nodes[n].handle(Event::Admin(AdminCmd::Connect { discard_my_data: false })).unwrap();
//! }
//! // The transport came up (node 0 accepted, so it breaks ties).
//! nodes[0].handle(Event::Connected { resolve_conflicts: true, challenge: vec![1; 32] }).unwrap();
//! nodes[1].handle(Event::Connected { resolve_conflicts: false, challenge: vec![2; 32] }).unwrap();
//! run(&mut nodes, &mut disks, &mut replies);
//! assert_eq!(nodes[0].conn_state(), ConnState::Connected);
//!
//! // Fresh metadata on both sides: skip the initial sync.
//! nodes[0].handle(Event::Admin(AdminCmd::NewCurrentUuid { clear_bitmap: true })).unwrap();
//! run(&mut nodes, &mut disks, &mut replies);
//! assert_eq!(nodes[1].disk_state(), DiskState::UpToDate);
//!
//! nodes[0].handle(Event::Admin(AdminCmd::Primary { force: false })).unwrap();
//! nodes[0].handle(Event::Write { id: 7, offset: 8192, data: vec![0xab; 4096], fua: false }).unwrap();
//! run(&mut nodes, &mut disks, &mut replies);
//! assert_eq!(replies, vec![(7, true)]);
//! assert_eq!(disks[1][8192..12288], [0xab; 4096], "protocol C: on the peer's disk");
//!
//! // A Secondary has no device: client I/O is refused.
//! nodes[1].handle(Event::Write { id: 8, offset: 0, data: vec![1; 512], fua: false }).unwrap();
//! run(&mut nodes, &mut disks, &mut replies);
//! assert_eq!(replies.last(), Some(&(8, false)));
//! ```
//!
//! # Model
//!
//! A [`Core`] is one resource on one node. It does no I/O: no sockets, files, clocks, threads
//! or randomness of its own. The daemon feeds it [`Event`]s (client requests, disk
//! completions, peer messages, transport up/down, ticks carrying the time and fresh entropy,
//! admin verbs) with [`Core::handle`], then drains [`Action`]s with [`Core::poll_action`] or
//! [`Core::drain_actions`] and performs them **in order**: disk operations (completed later by
//! [`Event::DiskDone`] with the same `io`), messages for the peer ([`Action::Send`], one
//! ordered stream, encoded with [`wire::encode`]), client replies, metadata writes
//! ([`Action::PersistMeta`] and [`Action::PersistBitmap`] are synchronous: durable before the
//! next action), transport commands, state-change notifications (`conn( WFConnection ->
//! Connected )`), log lines and handler calls (`split-brain`, `fence-peer`, ...).
//!
//! Because everything that happens is an event, the same events produce the same actions: the
//! deterministic simulation in shimaid's `tests/simulation.rs` runs two cores (bare, and inside shimaid's
//! driver) over a simulated link and
//! simulated disks that lose unflushed writes, and replays any failing seed exactly.
//!
//! # Invariants
//!
//! - **Acknowledgement points** (`reference/drbd.md` §1.5): a write is answered after its
//!   local write completed and, when replicated, A: it was queued for the peer, B: the peer
//!   received it (`RecvAck`), C: the peer's disk completed it (`WriteAck`). Without a peer the
//!   write completes locally and its blocks go into the bitmap.
//! - **Flush**: answered when the local flush is done and, under B and C with a connected
//!   peer, the peer acknowledged the barrier that closed every epoch before it (the peer
//!   flushes before it acks a barrier). Under A a flush is local only.
//! - **Write ordering**: writes travel in epochs closed by barriers; the Secondary acks a
//!   barrier only after all its writes completed and its disk flushed.
//! - **Lost connections**: every write whose epoch the peer did not acknowledge goes into the
//!   bitmap; a Primary that lost its peer opens a new data generation.
//! - **No silent merge**: when the generation identifiers show a split brain, the connection
//!   goes StandAlone (with the `split-brain` handler) unless an after-sb policy or
//!   `--discard-my-data` resolves it, and the log says which.
//! - **Activity log**: a write into a cold 4 MiB extent waits for the AL transaction
//!   ([`Action::PersistAl`]) that records it; after a Primary crash, every extent of the log is
//!   out of sync.
//!
//! # The daemon's contract
//!
//! - Create one [`Core`] per resource with [`Core::new`] (configuration, the metadata read at
//!   attach as [`Persisted`], and a random seed). Tick it every ~100 ms with
//!   [`Event::Tick`] (monotonic milliseconds and fresh entropy): ticks drive pings, the resync
//!   token bucket and lazy epoch closing.
//! - Client requests: [`Event::Write`], [`Event::Trim`], [`Event::Flush`], [`Event::Read`] with
//!   the NBD handle as id (at most [`MAX_REQUEST`] bytes each: the daemon splits larger ones);
//!   every one is answered by exactly one [`Action::Reply`]. A node that is
//!   not Primary with UpToDate data answers with an error ([`Error::errno`] gives the errno).
//! - Disk actions carry an `io` id; report each completion with [`Event::DiskDone`]. Writes to
//!   overlapping blocks are never issued concurrently by the core.
//! - [`Action::PersistMeta`] and [`Action::PersistBitmap`] must be durable before the next
//!   action is performed; [`Action::PersistAl`] completes asynchronously like a write.
//! - The peer link is one ordered byte stream: encode [`Action::Send`] with [`wire::encode`],
//!   decode what arrives with [`wire::decode`] and feed [`Event::Received`]. On
//!   [`TransportCmd::Connect`] keep connecting/accepting; when a connection is up, feed
//!   [`Event::Connected`] (exactly one side passes `resolve_conflicts: true`, e.g. the side
//!   that accepted; `challenge` is a fresh random nonce); on EOF/reset feed
//!   [`Event::ConnectionLost`]; on [`TransportCmd::Reconnect`] close and connect again; on
//!   [`TransportCmd::Shutdown`] close and stop.
//! - Admin verbs are [`Event::Admin`]; `handle` returns their refusal as an [`Error`]
//!   ([`Error::exit_code`] gives drbdadm's exit code). Device-open checks for `secondary` are
//!   the daemon's job.
//! - [`Action::CallHandler`] runs a drbd.conf handler; report `fence-peer`'s exit code with
//!   [`Event::HandlerDone`]. [`Core::status`] is the snapshot for `status` and `proc`.
//!
//! # WAN replication: what the daemon feeds and does
//!
//! - **Link codec.** Encode what goes to the peer with [`wire::encode_link`] using
//!   [`Core::link_opts`] (ask it again after each batch of actions: it changes when the peer's
//!   `Hello` arrives), and decode what arrives with [`wire::decode_link`], which takes plain
//!   frames too. A daemon that keeps [`wire::encode`]/[`wire::decode`] stays correct (nothing
//!   compressed is sent unless `encode_link` is used) but must not mix: once it sends with
//!   `encode_link` it must receive with `decode_link`. Batching several `Action::Send`s into
//!   one `encode_link` call compresses better; [`wire::LinkStats`] gives data and wire bytes
//!   for `status` (`ns`/`nr` keep counting data, in KiB).
//! - **Send queue.** Feed [`Event::SendQueue`] with the bytes waiting for the peer (the
//!   user-space queue plus the socket's unsent bytes, `SIOCOUTQ`) whenever it changes by more
//!   than a few KiB and on every tick; with `on-congestion pull-ahead|disconnect` it counts
//!   toward `congestion-fill` beside the core's own count of data not yet barrier-acked.
//!   Under `on-congestion block` the daemon must hold client writes while its queue is over its
//!   memory budget (the proxy `memlimit` or the socket buffer): the core does not stall them.
//! - **Congestion states.** `Ahead`/`Behind` come as ordinary [`Action::Notify`] connection
//!   states; [`Status::congestion`] holds in-flight bytes, `congested`, Ahead since when and
//!   the recovery point (`behind_bytes`, `behind_ms`) for `status`, `--json`, `proc` and the
//!   exporter.
//! - **Validation.** Call [`ResourceConfig::validate`] at setup: an unknown digest name or
//!   `on-congestion pull-ahead` without protocol A is refused there with the reason (the core
//!   also refuses to connect with it).
//!
//! # Where shimai departs from DRBD 8.4 (and why)
//!
//! All found necessary by the simulation or by the single-stream design:
//! - client writes that arrive while the handshake decides are held until it has decided (the
//!   decision uses the bitmap weights both sides reported);
//! - the resync ends in two phases: the SyncSource rotates its identifiers and confirms before
//!   the SyncTarget adopts them, so a lost "finished" never leaves both nodes sharing the
//!   source's current identifier;
//! - bits the SyncTarget learns later (`OutOfSync`, verify) are persisted at once, and bits it
//!   clears reach the disk only after a flush made the resynced data durable;
//! - on attach after an unclean stop the whole activity log is marked out of sync (not only
//!   after a Primary crash), and a handshake that finds equal generations but set bits
//!   resyncs them (DRBD only warns);
//! - extra identifier rules 52/72 and 91/92, and bitmap identifiers counted as history in rule
//!   100, because two history slots are too few to keep repeated generations related (see
//!   `tests/data/uuid_compare.txt`);
//! - a node that the handshake makes SyncTarget is Inconsistent from the decision on (not
//!   only once the sync UUID arrives), so an interrupted handshake cannot leave two UpToDate
//!   nodes sharing one generation;
//! - identifiers that would not give mirrored verdicts drop the connection; "unrelated data"
//!   against an Inconsistent peer becomes a full sync to it (it holds nothing to protect);
//! - a flush under protocol B waits for the peer's barrier-ack as under C (durable on both);
//!   under A it is local only;
//! - a Primary needs UpToDate local data for client I/O (no reads from the peer), so
//!   `invalidate` is refused on a Primary;
//! - `verify-alg`, `csums-alg` and `data-integrity-alg` take the algorithms of
//!   [`DigestAlg`] (computed in user space, no kernel crypto); against a peer that predates
//!   their negotiation, online verify uses SHA-256 and csums/integrity refuse to connect;
//! - `data-integrity-alg` sends the digest as its own `Digest` message just before the data
//!   message it covers (DRBD puts it in the data packet's header).

#![forbid(unsafe_code)]

pub mod action;
pub mod al;
pub mod bitmap;
pub mod config;
mod core;
pub mod digest;
pub mod error;
pub mod event;
pub mod gi;
pub mod handshake;
pub mod meta;
pub mod state;
pub mod status;
pub mod wire;

#[cfg(feature = "sim-bug")]
#[doc(hidden)]
pub use crate::core::Bugs;
pub use crate::core::{Core, MAX_REQUEST};
pub use action::{Action, Level, StateChange, TransportCmd};
pub use bitmap::Bitmap;
pub use config::{
    AfterSb0Pri, AfterSb1Pri, AfterSb2Pri, Compression, Fencing, OnCongestion, OnIoError, Protocol,
    ResourceConfig, RrConflict,
};
pub use digest::DigestAlg;
pub use error::Error;
pub use event::{AdminCmd, DiskResult, Event, IoId, Persisted, ReqId};
pub use gi::GenerationIds;
pub use handshake::Handler;
pub use meta::{MdFlags, MetaRecord};
pub use state::{ConnState, DiskState, Role};
pub use status::{CongestionStatus, Counters, Status, SyncProgress};
