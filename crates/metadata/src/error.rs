//! The one error type of this crate.
//!
//! Every variant says where the problem is (device and byte offset) and,
//! where there is one, what the operator can do. Decoders work on byte
//! slices and do not know the device; the storage layer fills the place in
//! with [`MetaError::located`] before the error leaves the crate.

use std::fmt;
use std::io;

/// Where on a device something was found: used by every decode error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// The device or file path; empty while a decoder runs on a bare slice.
    pub device: String,
    /// Byte offset from the start of the device (or of the slice).
    pub offset: u64,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.device.is_empty() {
            write!(f, "at byte {}", self.offset)
        } else {
            write!(f, "on {} at byte {}", self.device, self.offset)
        }
    }
}

/// Why reading, writing or laying out metadata failed.
///
/// Who is probably at fault: `NoMetadata` and `WrongPlacement` are
/// configuration or procedure mistakes; `BadMagic`, `ChecksumMismatch` and
/// `Corrupt` are damaged media or another program having written over the
/// metadata area; `UnsupportedVersion` is a newer shimai's metadata;
/// `DeviceTooSmall` and `InvalidParameter` are configuration; `Io` is the
/// device or the kernel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// Neither superblock slot holds shimai metadata (zeros, a filesystem,
    /// or metadata created for another `meta-disk` setting).
    #[error(
        "no shimai metadata on {device}: run `shimaiadm create-md {resource}` \
         (or check that its meta-disk setting matches how the metadata was created)"
    )]
    NoMetadata { device: String, resource: String },

    /// Metadata in shimai's first on-disk layout (two 4 KiB superblocks,
    /// a data area 4 KiB smaller than DRBD's): readable only by
    /// `convert-md`, which brings it to the current layout in place.
    #[error(
        "metadata on {device} is in shimai's first on-disk layout, which this version no longer \
         opens (its data area is smaller than DRBD's): run `shimaiadm convert-md {resource}` \
         to convert it in place (generation identifiers, bitmap and activity log are kept)"
    )]
    OldLayout { device: String, resource: String },

    /// DRBD's own metadata where shimai's belongs.
    #[error(
        "{device} holds DRBD {version} metadata, not shimai's: run `shimaiadm convert-md \
         {resource}` to convert it in place (generation identifiers, bitmap and activity log \
         are kept; `shimaiadm convert-md --to drbd-v08|drbd-v09 {resource}` goes back)"
    )]
    DrbdMetadata {
        device: String,
        version: String,
        resource: String,
    },

    /// A block that should start with a shimai magic number does not.
    #[error("no {what} magic {at}: this is not shimai metadata, or it was overwritten")]
    BadMagic { what: &'static str, at: Place },

    /// The metadata was written by a format version this build cannot read.
    #[error(
        "{what} {at} has format version {found}, this shimai reads version {supported}: \
         use the shimai release that created it"
    )]
    UnsupportedVersion {
        what: &'static str,
        found: u32,
        supported: u32,
        at: Place,
    },

    /// The stored checksum does not match the contents (a torn write, or
    /// damaged media). Readers fall back to the other copy when one exists.
    #[error("{what} {at} is damaged: checksum {stored:#010x} stored, {computed:#010x} computed")]
    ChecksumMismatch {
        what: &'static str,
        stored: u32,
        computed: u32,
        at: Place,
    },

    /// The checksum is right but a field is impossible (a bug in the writer,
    /// or metadata from an incompatible tool).
    #[error("{what} {at} is invalid: {reason}")]
    Corrupt {
        what: &'static str,
        reason: String,
        at: Place,
    },

    /// The device cannot hold the metadata plus a minimum of data.
    #[error("{device} is too small: {size} bytes, at least {needed} needed for {reason}")]
    DeviceTooSmall {
        device: String,
        size: u64,
        needed: u64,
        reason: &'static str,
    },

    /// A parameter (al-extents, meta-disk index, a range) is out of bounds.
    #[error("{name} = {value} is invalid: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: u64,
        reason: String,
    },

    /// The metadata on disk was laid out for another `meta-disk` setting.
    #[error(
        "metadata on {device} was created for meta-disk {found}, the configuration says {expected}: \
         fix meta-disk, or run `shimaiadm create-md` to start over (this forgets the sync state)"
    )]
    WrongPlacement {
        device: String,
        found: String,
        expected: String,
    },

    /// The activity log has no free slot for an extent to activate: the
    /// caller must evict cold extents first.
    #[error("activity log full: {wanted} extents to activate, {free} slots free of {total}")]
    AlFull {
        wanted: usize,
        free: usize,
        total: u32,
    },

    /// A read, write or flush of the device failed.
    #[error(
        "cannot {op} {device}{}: {source}; check the device and the kernel log (dmesg)",
        span(*.offset, *.len)
    )]
    Io {
        op: &'static str,
        device: String,
        offset: u64,
        len: usize,
        #[source]
        source: io::Error,
    },
}

fn span(offset: u64, len: usize) -> String {
    if len == 0 {
        String::new()
    } else {
        format!(" at byte {offset} ({len} bytes)")
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = MetaError> = std::result::Result<T, E>;

/// Process exit code for configuration problems (as `shimaiadm`'s contract).
pub const EXIT_CONFIG: i32 = 10;
/// Process exit code for everything refused or failed.
pub const EXIT_FAILED: i32 = 1;

impl MetaError {
    /// The `shimaiadm` exit code this error maps to: 10 when the
    /// configuration (device, meta-disk, al-extents) cannot work, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            MetaError::DeviceTooSmall { .. }
            | MetaError::InvalidParameter { .. }
            | MetaError::WrongPlacement { .. } => EXIT_CONFIG,
            _ => EXIT_FAILED,
        }
    }

    /// Moves a decode error found in a slice read from `device` at `base`
    /// to its real place on the device.
    pub fn located(mut self, device: &str, base: u64) -> Self {
        match &mut self {
            MetaError::BadMagic { at, .. }
            | MetaError::UnsupportedVersion { at, .. }
            | MetaError::ChecksumMismatch { at, .. }
            | MetaError::Corrupt { at, .. } => {
                at.device = device.to_string();
                at.offset = at.offset.saturating_add(base);
            }
            _ => {}
        }
        self
    }

    /// Whether this is damage that a second copy may repair (as opposed
    /// to an I/O error or a version this build cannot read).
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            MetaError::BadMagic { .. }
                | MetaError::ChecksumMismatch { .. }
                | MetaError::Corrupt { .. }
        )
    }

    pub(crate) fn corrupt(what: &'static str, offset: u64, reason: impl Into<String>) -> Self {
        MetaError::Corrupt {
            what,
            reason: reason.into(),
            at: Place {
                device: String::new(),
                offset,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_place_and_the_fix() {
        let e = MetaError::NoMetadata {
            device: "/dev/x".into(),
            resource: "r0".into(),
        };
        assert!(e
            .to_string()
            .starts_with("no shimai metadata on /dev/x: run `shimaiadm create-md r0`"));
        assert_eq!(e.exit_code(), 1);

        let e = MetaError::corrupt("superblock", 76, "unknown placement 9").located("/dev/y", 4096);
        assert_eq!(
            e.to_string(),
            "superblock on /dev/y at byte 4172 is invalid: unknown placement 9"
        );
        assert!(e.is_damage());

        let e = MetaError::DeviceTooSmall {
            device: "/dev/z".into(),
            size: 4096,
            needed: 1 << 23,
            reason: "internal metadata plus 4 MiB of data",
        };
        assert_eq!(e.exit_code(), EXIT_CONFIG);
        assert!(e.to_string().contains("/dev/z is too small: 4096 bytes"));

        let e = MetaError::Io {
            op: "read",
            device: "/dev/q".into(),
            offset: 8192,
            len: 4096,
            source: std::io::Error::other("boom"),
        };
        assert_eq!(
            e.to_string(),
            "cannot read /dev/q at byte 8192 (4096 bytes): boom; \
             check the device and the kernel log (dmesg)"
        );
    }
}
