//! The replication core: DRBD's semantics as a pure state machine.
//!
//! (The event/action engine lands on top of these types.)

#![forbid(unsafe_code)]

pub mod bitmap;
pub mod gi;
pub mod state;

pub use bitmap::Bitmap;
pub use gi::GenerationIds;
pub use state::{ConnState, DiskState, Role};
