//! shimaid: the daemon that runs one replicated resource.
//!
//! The library part holds what the daemon shares with its clients
//! (`shimaiadm`, the `drbd` OCF agent): the control protocol.

#![forbid(unsafe_code)]

pub mod control;
