//! What the server tells a client about an export: name, size, transmission
//! flags and block size constraints.

use crate::error::NbdError;
use crate::wire::{tflag, MAX_STRING};

/// Block size constraints (proto.md "Block size constraints").
///
/// The default (`min` 1, `preferred` 4096, `max` 32 MiB) suits a file or a
/// replicated volume that can do read-modify-write itself; a server that
/// opens its disk with `O_DIRECT` would use `min` 512 or 4096. `max` bounds
/// the memory one request can pin: the server buffers a whole write payload
/// before it is executed, and 32 MiB is the largest length the protocol
/// says no client may be refused for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSize {
    min: u32,
    preferred: u32,
    max: u32,
}

impl BlockSize {
    /// The protocol's interoperable maximum payload, 2^25 bytes.
    pub const MAX_PAYLOAD: u32 = 1 << 25;

    /// Checks the rules the protocol puts on advertised values.
    pub fn new(min: u32, preferred: u32, max: u32) -> Result<BlockSize, NbdError> {
        let bad = |reason| NbdError::BlockSize {
            min,
            preferred,
            max,
            reason,
        };
        if !min.is_power_of_two() || min > 65536 {
            return Err(bad("minimum must be a power of two no larger than 65536"));
        }
        if !preferred.is_power_of_two() || preferred < min.max(512) {
            return Err(bad(
                "preferred must be a power of two at least max(minimum, 512)",
            ));
        }
        if max % min != 0 || max < preferred {
            return Err(bad(
                "maximum must be a multiple of minimum and at least preferred",
            ));
        }
        if max > BlockSize::MAX_PAYLOAD {
            return Err(bad(
                "maximum above 32 MiB would let one request pin that much memory",
            ));
        }
        Ok(BlockSize {
            min,
            preferred,
            max,
        })
    }
    /// Smallest addressable unit; requests must be aligned to it.
    pub fn min(&self) -> u32 {
        self.min
    }
    /// Size below which I/O is inefficient.
    pub fn preferred(&self) -> u32 {
        self.preferred
    }
    /// Largest read or write payload accepted.
    pub fn max(&self) -> u32 {
        self.max
    }
}

impl Default for BlockSize {
    fn default() -> Self {
        BlockSize {
            min: 1,
            preferred: 4096,
            max: BlockSize::MAX_PAYLOAD,
        }
    }
}

/// The 16-bit transmission flags sent with the export size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransmissionFlags(pub u16);

impl TransmissionFlags {
    /// True when every bit of `bits` is set.
    pub fn has(self, bits: u16) -> bool {
        self.0 & bits == bits
    }
}

/// One export as the handshake describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportInfo {
    /// Name clients select it by (the resource name, for shimai).
    pub name: String,
    /// Human-readable text for `NBD_OPT_LIST` and `NBD_INFO_DESCRIPTION`.
    pub description: String,
    /// Size in bytes.
    pub size: u64,
    /// Refuse writes, trims and zeroes with `NBD_EPERM`.
    pub read_only: bool,
    /// Advertise `NBD_FLAG_CAN_MULTI_CONN`: true when every connection to
    /// this export sees the same data and a flush on one covers writes
    /// completed on all (one shared backing store, no private caches).
    pub multi_conn: bool,
    /// Block size constraints.
    pub block_size: BlockSize,
}

impl ExportInfo {
    /// A writable, multi-connection export with default block sizes.
    pub fn new(name: impl Into<String>, size: u64) -> ExportInfo {
        ExportInfo {
            name: name.into(),
            description: String::new(),
            size,
            read_only: false,
            multi_conn: true,
            block_size: BlockSize::default(),
        }
    }

    /// Checks what the protocol requires of names and descriptions.
    pub fn validate(&self) -> Result<(), NbdError> {
        let bad = |reason: String| NbdError::Export {
            name: self.name.clone(),
            reason,
        };
        if self.name.len() > MAX_STRING || self.description.len() > MAX_STRING {
            return Err(bad(format!(
                "name and description must be at most {MAX_STRING} bytes"
            )));
        }
        if self.name.contains('\0') || self.description.contains('\0') {
            return Err(bad("name and description must not contain NUL".into()));
        }
        Ok(())
    }

    /// The transmission flags this export advertises.
    ///
    /// Trim and write-zeroes are withheld from read-only exports, so a
    /// client never tries what would only fail with `EPERM`. `SEND_CACHE`
    /// is offered because a cache request is a harmless hint.
    pub fn flags(&self) -> TransmissionFlags {
        let mut f = tflag::HAS_FLAGS | tflag::SEND_FLUSH | tflag::SEND_FUA | tflag::SEND_CACHE;
        if self.read_only {
            f |= tflag::READ_ONLY;
        } else {
            f |= tflag::SEND_TRIM | tflag::SEND_WRITE_ZEROES;
        }
        if self.multi_conn {
            f |= tflag::CAN_MULTI_CONN;
        }
        TransmissionFlags(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_size_rules() {
        assert_eq!(
            BlockSize::default(),
            BlockSize::new(1, 4096, 1 << 25).unwrap()
        );
        assert!(BlockSize::new(512, 4096, 1 << 20).is_ok());
        assert!(BlockSize::new(3, 4096, 1 << 20).is_err());
        assert!(BlockSize::new(1 << 17, 1 << 17, 1 << 20).is_err());
        assert!(BlockSize::new(1, 256, 1 << 20).is_err());
        assert!(BlockSize::new(4096, 512, 1 << 20).is_err());
        assert!(BlockSize::new(512, 4096, 1000).is_err());
        assert!(BlockSize::new(512, 4096, 1 << 26).is_err());
    }

    #[test]
    fn flags_follow_the_export() {
        let mut e = ExportInfo::new("r0", 1 << 20);
        let f = e.flags();
        for bit in [
            tflag::HAS_FLAGS,
            tflag::SEND_FLUSH,
            tflag::SEND_FUA,
            tflag::SEND_TRIM,
            tflag::SEND_WRITE_ZEROES,
            tflag::CAN_MULTI_CONN,
        ] {
            assert!(f.has(bit), "missing {bit:#x} in {:#x}", f.0);
        }
        assert!(!f.has(tflag::READ_ONLY));
        e.read_only = true;
        e.multi_conn = false;
        let f = e.flags();
        assert!(f.has(tflag::READ_ONLY));
        assert!(!f.has(tflag::SEND_TRIM));
        assert!(!f.has(tflag::CAN_MULTI_CONN));
    }

    #[test]
    fn names_are_checked() {
        let mut e = ExportInfo::new("a\0b", 1);
        assert!(e.validate().is_err());
        e.name = "x".repeat(4097);
        assert!(e.validate().is_err());
        e.name = "r0".into();
        assert!(e.validate().is_ok());
    }
}
