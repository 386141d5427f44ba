//! The messages two shimai nodes exchange, as values. Encoding lives in `codec.rs`.

use crate::config::{AfterSb0Pri, AfterSb1Pri, AfterSb2Pri, Protocol};
use crate::gi::GenerationIds;
use crate::state::{DiskState, Role};

/// Oldest wire protocol version this build speaks.
pub const PROTOCOL_MIN: u16 = 1;
/// Newest wire protocol version this build speaks.
pub const PROTOCOL_MAX: u16 = 1;
/// Feature bit: TRIM requests are replicated as such (otherwise as zero writes).
pub const FEATURE_TRIM: u32 = 1;
/// Feature bit: bitmaps travel run-length encoded.
pub const FEATURE_RLE_BITMAP: u32 = 2;
/// Feature bit: the sender sends `SyncParams` (digest algorithms) before `Params` and
/// understands `CsumRequest` and `Digest`.
pub const FEATURE_SYNC_PARAMS: u32 = 4;
/// Feature bit: the sender decodes lz4-compressed link frames ([`crate::wire::decode_link`]).
pub const FEATURE_LZ4: u32 = 8;
/// Feature bit: the sender decodes zstd-compressed link frames.
pub const FEATURE_ZSTD: u32 = 16;
/// Feature bit: the sender decodes zero-block markers (an all-zero write sent as its size).
pub const FEATURE_ZERO_MARKERS: u32 = 32;
/// Feature bit: the sender understands `Ahead` and `BecomeSyncTarget` (pull-ahead).
pub const FEATURE_AHEAD: u32 = 64;
/// The features this build offers.
pub const FEATURES: u32 = FEATURE_AHEAD
    | FEATURE_TRIM
    | FEATURE_RLE_BITMAP
    | FEATURE_SYNC_PARAMS
    | FEATURE_LZ4
    | FEATURE_ZSTD
    | FEATURE_ZERO_MARKERS;
/// Longest algorithm name in `SyncParams`.
pub const MAX_ALG_NAME: usize = 63;

/// `Msg::Uuids` flag: the sender was connected with `--discard-my-data`.
pub const UUID_FLAG_DISCARD_MY_DATA: u32 = 1;
/// `Msg::Uuids` flag: the sender crashed while Primary (MDF_CRASHED_PRIMARY).
pub const UUID_FLAG_CRASHED_PRIMARY: u32 = 2;
/// `Msg::Uuids` flag: the sender's disk is Inconsistent.
pub const UUID_FLAG_INCONSISTENT: u32 = 4;

/// Flags of a replicated write, reproduced on the peer (`reference/drbd.md` §1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataFlags(pub u8);

impl DataFlags {
    pub const FUA: u8 = 1;
    pub const FLUSH: u8 = 2;
    pub const TRIM: u8 = 4;
    /// All bits this version understands; others are a protocol error.
    pub const ALL: u8 = 7;

    pub fn fua(self) -> bool {
        self.0 & Self::FUA != 0
    }
    pub fn flush(self) -> bool {
        self.0 & Self::FLUSH != 0
    }
    pub fn trim(self) -> bool {
        self.0 & Self::TRIM != 0
    }
}

/// The settings both nodes must agree on (`P_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub protocol: Protocol,
    pub after_sb_0pri: AfterSb0Pri,
    pub after_sb_1pri: AfterSb1Pri,
    pub after_sb_2pri: AfterSb2Pri,
    pub two_primaries: bool,
    /// `connect --discard-my-data` on the sender.
    pub discard_my_data: bool,
}

/// One peer message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// First message on a new connection: the versions and features the sender speaks.
    Hello {
        min_version: u16,
        max_version: u16,
        features: u32,
    },
    /// A random nonce (from the daemon) the peer must answer with `HMAC(secret, nonce)`.
    AuthChallenge {
        nonce: Vec<u8>,
    },
    AuthResponse {
        mac: Vec<u8>,
    },
    Params(Params),
    /// The digest algorithms the sender uses (`P_SYNC_PARAM`): names as in drbd.conf, empty
    /// when unset. Sent before `Params` when both sides offer `FEATURE_SYNC_PARAMS`; the
    /// receiver refuses the connection when `verify_alg`, `csums_alg` or `integrity_alg`
    /// differ from its own.
    SyncParams {
        verify_alg: String,
        csums_alg: String,
        integrity_alg: String,
        csums_after_crash_only: bool,
    },
    /// `data-integrity-alg`: the digest of the payload of the next `Data` or `ResyncReply`.
    Digest {
        digest: Vec<u8>,
    },
    /// `csums-alg` resync: the SyncTarget's digest of its own copy of the block; the source
    /// answers `ResyncInSync` when its digest equals, `ResyncReply` otherwise.
    CsumRequest {
        sector: u64,
        size: u32,
        digest: Vec<u8>,
    },
    /// The sender's generation identifiers, bitmap weight and `UUID_FLAG_*` flags.
    Uuids {
        gi: GenerationIds,
        bits_set: u64,
        flags: u32,
    },
    /// The sender's data area size in bytes.
    Sizes {
        size: u64,
    },
    /// The sender's role and disk state; sent at handshake and on every change.
    State {
        role: Role,
        disk: DiskState,
        /// The sender's operator paused the resync (`pause-sync`).
        sync_paused: bool,
    },
    /// A replicated application write (or TRIM when `flags.trim()`; then `payload` is empty
    /// and `size` is the trimmed length).
    Data {
        sector: u64,
        seq: u64,
        flags: DataFlags,
        size: u32,
        payload: Vec<u8>,
    },
    /// Protocol B: the peer received write `seq`.
    RecvAck {
        seq: u64,
    },
    /// Protocol C: the peer's disk completed write `seq`.
    WriteAck {
        seq: u64,
    },
    /// The peer failed write `seq` on its disk.
    NegAck {
        seq: u64,
    },
    /// Closes epoch `nr`: the peer flushes everything received before it, then acks.
    Barrier {
        nr: u32,
    },
    BarrierAck {
        nr: u32,
        set_size: u32,
    },
    /// A slice of the sender's bitmap as alternating runs of clear and set bits, clear first.
    Bitmap {
        first_bit: u64,
        runs: Vec<u64>,
        /// The last slice: the receiver now holds the whole bitmap.
        last: bool,
    },
    /// The SyncSource's new bitmap identifier; the receiver becomes SyncTarget.
    SyncUuid {
        uuid: u64,
    },
    ResyncRequest {
        sector: u64,
        size: u32,
    },
    ResyncReply {
        sector: u64,
        payload: Vec<u8>,
    },
    /// The requested block is already in sync (an application write covered it).
    ResyncInSync {
        sector: u64,
        size: u32,
    },
    ResyncWriteAck {
        sector: u64,
        size: u32,
    },
    /// The SyncTarget holds every block: the source may close the resync.
    ResyncFinished,
    VerifyRequest {
        sector: u64,
        size: u32,
    },
    VerifyReply {
        sector: u64,
        size: u32,
        digest: Vec<u8>,
    },
    VerifyResult {
        sector: u64,
        size: u32,
        in_sync: bool,
    },
    /// The verify source checked every block.
    VerifyFinished,
    /// The sender marked these blocks out of sync (its write did not reach the peer).
    OutOfSync {
        sector: u64,
        size: u32,
    },
    /// `on-congestion pull-ahead`: the sender went Ahead; the receiver goes Behind.
    Ahead,
    /// The Ahead sender starts the catch-up resync (`P_BECOME_SYNC_TARGET`): the receiver
    /// becomes SyncTarget of these identifiers, then both exchange bitmaps.
    BecomeSyncTarget {
        gi: GenerationIds,
    },
    Ping,
    PingAck,
    /// Orderly disconnect: the receiver goes to WFConnection without a new generation.
    Disconnect,
    /// A message type this version does not know; skipped.
    Unknown {
        ty: u16,
        len: u32,
    },
}
