//! Generation identifiers: the tuple that records which data generation a
//! disk holds, and from which the handshake decides who has the good data
//! (`reference/drbd.md` §1.8).

/// `UUID_JUST_CREATED`: the current identifier of freshly created metadata.
pub const UUID_JUST_CREATED: u64 = 4;
/// `UUID_NEW_BM_OFFSET`: added to the bitmap identifier when a resync starts.
pub const UUID_NEW_BM_OFFSET: u64 = 0x0001_0000_0000_0000;

/// The 8.4 generation identifier tuple.
///
/// Bit 0 of each value is the "was Primary" flag; comparisons ignore it
/// (use [`masked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GenerationIds {
    pub current: u64,
    /// The generation the bitmap tracks changes against; 0 when in sync.
    pub bitmap: u64,
    /// The two previous generations, newest first.
    pub history: [u64; 2],
}

impl GenerationIds {
    /// The tuple of freshly created metadata.
    pub fn just_created() -> GenerationIds {
        GenerationIds {
            current: UUID_JUST_CREATED,
            ..GenerationIds::default()
        }
    }

    /// Sets the bitmap identifier; a non-zero old value moves into history
    /// (`drbd_uuid_set` always pushes what it replaces).
    pub fn set_bitmap(&mut self, value: u64) {
        if self.bitmap != 0 {
            self.push_history(self.bitmap);
        }
        self.bitmap = value;
    }

    /// Shifts the history and puts `value` in front.
    pub fn push_history(&mut self, value: u64) {
        self.history[1] = self.history[0];
        self.history[0] = value;
    }

    /// Starts a new data generation: `Bitmap := Current` (when no bitmap
    /// generation is open yet), `Current := fresh`. `fresh` comes from the
    /// caller because the core owns no randomness.
    pub fn new_current(&mut self, fresh: u64) {
        if self.bitmap == 0 {
            self.bitmap = self.current;
        } else {
            self.push_history(self.current);
        }
        self.current = fresh;
    }
}

/// A generation identifier without its "was Primary" flag bit.
pub fn masked(uuid: u64) -> u64 {
    uuid & !1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_bitmap_pushes_old_value() {
        let mut g = GenerationIds {
            current: 0x10,
            bitmap: 0x20,
            history: [0x30, 0x40],
        };
        g.set_bitmap(0x50);
        assert_eq!(g.bitmap, 0x50);
        assert_eq!(g.history, [0x20, 0x30]);
    }

    #[test]
    fn new_current_opens_a_bitmap_generation() {
        let mut g = GenerationIds {
            current: 0x10,
            bitmap: 0,
            history: [0, 0],
        };
        g.new_current(0x99);
        assert_eq!(g.current, 0x99);
        assert_eq!(g.bitmap, 0x10);
        assert_eq!(masked(0x11), 0x10);
    }
}
