//! shimai's on-disk metadata: what a node must remember across a crash to
//! know which data it holds (generation identifiers, flags), what differs
//! from its peer (the quick-sync bitmap) and where writes may have been in
//! flight (the activity log). The meaning is DRBD 8.4's
//! (`reference/drbd.md` §1.7-1.9); the places and sizes are DRBD's too,
//! so the data area is the one `/dev/drbdN` had; the superblock and
//! activity-log bytes are shimai's own, and [`convert`] translates
//! DRBD's (`v08`, `v09` with one peer, [`drbd`]) and shimai's first layout
//! ([`legacy`]) to them and back.
//!
//! # Layout
//!
//! Everything is in 4 KiB blocks, little-endian; sizes as drbd-utils'
//! `drbdmeta` computes them ([`layout`]).
//!
//! ```text
//! internal (meta-disk internal): metadata at the end of the backing device
//!
//!   0                                capacity                     backing size
//!   | data ........................... | bitmap | AL ring 32K | sb 0 : sb 1 |
//!                                      `------------ md size -------------'
//!
//! external (meta-disk DEV): a separate device, from byte 0
//!
//!   0             4K            36K
//!   | sb 0 : sb 1 | AL ring 32K | bitmap ................ |
//!
//! indexed (meta-disk DEV [n]): the same, in 128 MiB slot n (at n x 128 MiB)
//! ```
//!
//! [`Layout`] computes these offsets from the device sizes and `al-extents`
//! ([`Layout::internal`], [`Layout::external`]) and reports the usable data
//! size (`capacity`); a device that cannot hold the metadata and one 4 MiB
//! extent of data is refused with [`MetaError::DeviceTooSmall`].
//!
//! # Why it is built this way
//!
//! - **Two superblock copies, written alternately, in DRBD's one 4 KiB
//!   superblock block.** A superblock write that is cut short by power
//!   loss leaves a block that is half new, half old. Each write replaces
//!   the 2 KiB copy *not* holding the newest state, with a sequence number
//!   one higher, and rewrites the other copy with the bytes it already
//!   has, so whichever sectors land, that copy stays intact; the reader
//!   takes the valid copy with the highest number. A torn write therefore
//!   costs at most the change being written, never the metadata (DRBD
//!   overwrites its one superblock in place and relies on the sector being
//!   atomic), and the metadata still takes exactly DRBD's room.
//! - **A checksum on every block that must not be misread.** The superblock
//!   and each activity-log transaction carry a CRC32C (the checksum with
//!   hardware support on x86 and ARM), stored so that any torn or damaged
//!   block fails it. The bitmap does not, see [`bitmap_block`].
//! - **The superblock at the very end for internal metadata**, so a reader
//!   finds it from the device size alone, and first on an external device
//!   (where DRBD has it: a reader also recognises DRBD's superblock there
//!   and names `convert-md` instead of "no metadata").
//! - **The layout is stored and recomputed.** The reader checks that the
//!   offsets in the superblock are the ones this version computes for its
//!   sizes, so a superblock that decodes cannot send reads and writes into
//!   the data.
//! - **The activity log is a ring of transactions with a moving context
//!   window** ([`al`]): activating an extent costs one 4 KiB write, and the
//!   ring still always holds the whole table.
//! - **The core decides, this crate persists.** The replication core emits
//!   `PersistMeta`, `PersistBitmap` and `PersistAl` actions and takes a
//!   `Persisted` at attach; [`Metadata::persist_meta`],
//!   [`Metadata::persist_bitmap`], [`Metadata::persist_al`] and
//!   [`Metadata::persisted`] map them one to one. [`Metadata::attach`] and
//!   [`Metadata::detach_clean`] do the same steps for tools that run
//!   without the core (`create-md`, offline inspection).
//! - **The format is pure.** Encoders return blocks and decoders take byte
//!   slices ([`Superblock`], [`AlTransaction`], [`bitmap_block`]); only
//!   [`store`] does I/O, through the [`BlockIo`] trait, which tests
//!   implement with [`MemDisk`] to tear writes and lose unflushed ones.
//!
//! # Use
//!
//! ```
//! use shimai_metadata::{create, open, Layout, MemDisk, MetaDevice, Placement, MdFlags};
//!
//! # fn main() -> Result<(), shimai_metadata::MetaError> {
//! let disk = MemDisk::new(64 << 20);
//! let layout = Layout::internal("/dev/vg/r0", 64 << 20, 1237)?;
//! let mut md = create(MetaDevice::new(disk.clone(), "/dev/vg/r0", "r0"), layout, 0x1234)?;
//! let state = md.attach(false)?;            // Inconsistent: fresh metadata
//! md.al_begin_transaction(&[0, 1], &[])?;   // before writing to the first 8 MiB
//! md.bitmap_mut().set_range(4096, 4096);     // a write the peer has not seen
//! md.update_superblock(|sb| sb.flags.insert(MdFlags::PRIMARY_IND))?;
//! drop(md);                                  // crash: no clean detach
//!
//! let mut md = open(MetaDevice::new(disk, "/dev/vg/r0", "r0"), Placement::Internal)?;
//! assert_eq!(md.activity_log().hot_extents(), vec![0, 1]);
//! let state = md.attach(false)?;
//! assert!(state.crashed_primary && state.replay_al);
//! assert_eq!(md.bitmap().count(), 2 * 1024);  // both hot extents, 4 MiB each
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod al;
pub mod bitmap_block;
mod codec;
pub mod convert;
pub mod device;
pub mod drbd;
pub mod error;
pub mod flags;
pub mod io;
pub mod layout;
pub mod legacy;
mod persist;
pub mod store;
pub mod superblock;

#[cfg(test)]
mod store_tests;

pub use al::{ActivityLog, AlTransaction, AlUpdate};
pub use convert::{probe, probe_for, to_drbd, to_shimai, Converted, Found, NodeIds};
pub use device::MetaDevice;
pub use drbd::DrbdVersion;
pub use error::{MetaError, Place, Result};
pub use flags::{AttachState, MdFlags, NodeState};
pub use io::{BlockIo, MemDisk};
pub use layout::{Layout, Placement};
pub use store::{create, detect, extent_of, open, Detected, Metadata};
pub use superblock::Superblock;

/// Runs every decoder on arbitrary bytes, for fuzz targets: as one block,
/// as a sequence of blocks (an activity-log ring), and as a whole device
/// opened with each placement. Must never panic.
pub fn fuzz_decode(data: &[u8]) {
    let _ = Superblock::decode(data);
    let _ = AlTransaction::decode(data);
    let _ = bitmap_block::decode_bitmap_block(data);
    let _ = drbd::DrbdSuperblock::decode_for(data, Some(1));
    let _ = drbd::replay_al(data);
    let _ = legacy::decode(data);
    let blocks: Vec<&[u8]> = data.chunks(layout::BLOCK as usize).collect();
    for b in &blocks {
        let _ = Superblock::decode(b);
        let _ = bitmap_block::decode_bitmap_block(b);
    }
    let ring = blocks.len() as u32;
    let log = ActivityLog::replay(
        layout::AL_EXTENTS_MIN,
        ring,
        blocks
            .iter()
            .enumerate()
            .map(|(i, b)| (i as u32, AlTransaction::decode(b))),
    );
    let _ = log.plan(&[1, 2, 3], &log.hot_extents());

    let disk = MemDisk::from_bytes(data.to_vec());
    for placement in [
        Placement::Internal,
        Placement::External,
        Placement::Indexed(0),
    ] {
        let dev = MetaDevice::new(&disk, "fuzz", "fuzz");
        let _ = detect(&dev, placement);
        let _ = probe(&dev, placement);
        if let Ok(mut md) = open(dev, placement) {
            let _ = md.attach(true);
        }
    }
}
