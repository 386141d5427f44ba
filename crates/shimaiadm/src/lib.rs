//! shimaiadm: the admin tool of shimai, what `drbdadm` is to DRBD.
//!
//! Administrators move from DRBD by renaming the command in their
//! runbooks, so the verbs, their meaning, their exit codes and the output
//! layouts (`role`, `cstate`, `dstate`, `/proc/drbd`, `drbdadm status`,
//! `events2`) are DRBD's. The tool holds no state: every verb but
//! `create-md`, `convert-md`, `get-gi`, `dump-md` and `dump` is a request to the resource's `shimaid` over
//! its control socket ([`shimaid::control`]).
//!
//! The code is split as "decide, then do":
//!
//! * [`format`]: pure functions from a [`StatusReport`] or an
//!   [`EventLine`] to text, checked against golden files;
//! * [`context`]: which file, node, runtime directory and resources a
//!   command means; [`wfc`]: which startup timeout a wait uses;
//! * [`createmd`]: the overwrite check, then the write; [`metaview`]: reading it back;
//!   [`convertmd`]: DRBD's metadata to shimai's and back;
//! * [`daemon`]: the requests, starting and stopping shimaid;
//! * [`verbs`]: a verb over the resources it names; [`cli`]: the parser;
//! * [`exporter`]: the Prometheus endpoint over the same status reports.
//!
//! Exit codes ([`error::AdmError::exit_code`]): 0 success, 1 refused or
//! failed, 2 usage, 10 configuration, 11 daemon or peer not reachable, 17
//! would need `--force`. The user-facing reference is docs/shimaiadm.md.
//!
//! [`StatusReport`]: shimaid::control::StatusReport
//! [`EventLine`]: shimaid::control::EventLine

#![forbid(unsafe_code)]

pub mod cli;
pub mod context;
pub mod convertmd;
pub mod createmd;
pub mod daemon;
pub mod error;
pub mod exporter;
pub mod format;
pub mod metaview;
pub mod verbs;
pub mod wfc;
