//! shimaid: the daemon that runs one replicated resource on one node.
//!
//! It is a thin shell around the sans-IO replication core (`shimai-replication`): it reads
//! the configuration and the metadata, then turns the world into the core's events and the
//! core's actions into I/O. The core's actions are performed in one place, the [`driver`],
//! written against a small I/O boundary ([`driver::Io`]) that this daemon ([`engine::Daemon`])
//! and the deterministic simulation (`tests/simulation.rs`) both implement. Threads, all
//! reporting to one engine thread through an [`inbox`] of their own report type:
//!
//! - [`engine`]: owns the driver and what only a daemon has (export, device, control verbs);
//! - [`peer`]: dials or accepts the peer (the lower address dials), one reader and one
//!   writer per connection; the bytes queued for the writer are bounded (`max-buffers`);
//! - [`disk`]: `pwrite`/`pread`/`fdatasync` on the backing store, `O_DIRECT` by default;
//! - [`nbd`]: the export on `RUN_DIR/RES.nbd` while Primary, requests completed when the
//!   core replies (many in flight, several clients);
//! - [`device`]: the Primary's block device (nbd-client, or nbdfuse + loop) behind the
//!   configured `device` symlink;
//! - [`server`]: the control socket speaking [`control`];
//! - [`handlers`]: the configuration's `handlers { }`, each run in a thread of its own;
//! - a timer thread (100 ms ticks with fresh entropy) and a signal thread (SIGTERM = down).
//!
//! The library part is also what clients share with the daemon: [`control`].

#![deny(unsafe_code)]

pub mod control;
pub mod daemon;
pub mod device;
pub mod disk;
pub mod driver;
pub mod engine;
pub mod error;
pub mod handlers;
pub mod inbox;
pub mod nbd;
pub mod notify;
pub mod peer;
pub mod report;
pub mod server;
pub mod setup;
pub mod sys;
pub mod uring;
