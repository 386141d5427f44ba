//! shimai's own peer protocol: message values ([`Msg`]), a pure and total codec
//! ([`decode`]/[`encode`]), run-length encoded bitmaps and the HMAC challenge/response.
//!
//! Framing: every message is `magic u16 = 0x5348 ("SH") | type u16 | length u32 | payload`,
//! big-endian, payload at most [`MAX_PAYLOAD`] bytes. Versions are negotiated by `Hello`
//! (min/max version and feature bits); a type this version does not know decodes to
//! `Msg::Unknown` and is skipped, so newer peers can add messages.

pub mod auth;
mod codec;
pub mod link;
mod msg;
pub mod rle;

pub use codec::{decode, encode, fuzz_decode, WireError, HEADER_LEN, MAGIC, MAX_PAYLOAD};
pub use link::{decode_link, encode_link, LinkDecoded, LinkOpts, LinkStats};
pub use msg::*;

/// `Msg::Uuids` flag: new-current-uuid --clear-bitmap on the sender; skip the initial sync.
pub const UUID_FLAG_SKIP_INITIAL_SYNC: u32 = 8;
/// `Msg::Uuids` flag: invalidate-remote on the sender; the receiver discards its data.
pub const UUID_FLAG_INVALIDATE_PEER: u32 = 16;
/// `Msg::Uuids` flag: this is the answer to the peer's renegotiation (not one of our own).
pub const UUID_FLAG_REPLY: u32 = 32;
