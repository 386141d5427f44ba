//! The quick-sync bitmap: one bit per 4 KiB block of the data area, set for
//! every block that may differ from the peer (`reference/drbd.md` §1.9).

/// Bytes covered by one bit.
pub const BM_BLOCK_SIZE: u64 = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    words: Vec<u64>,
    bits: u64,
    set: u64,
}

impl Bitmap {
    /// An all-clear bitmap for a data area of `size` bytes.
    pub fn new(size: u64) -> Bitmap {
        let bits = size.div_ceil(BM_BLOCK_SIZE);
        Bitmap {
            words: vec![0; usize::try_from(bits.div_ceil(64)).unwrap_or(usize::MAX)],
            bits,
            set: 0,
        }
    }

    /// Rebuilds a bitmap from its words (as read from disk); bits past the end are ignored.
    pub fn from_words(size: u64, mut words: Vec<u64>) -> Bitmap {
        let mut b = Bitmap::new(size);
        words.resize(b.words.len(), 0);
        if let Some(last) = words.last_mut() {
            let tail = b.bits % 64;
            if tail != 0 {
                *last &= (1u64 << tail) - 1;
            }
        }
        b.set = words.iter().map(|w| u64::from(w.count_ones())).sum();
        b.words = words;
        b
    }

    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Number of bits (4 KiB blocks).
    pub fn len(&self) -> u64 {
        self.bits
    }

    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// Number of set bits.
    pub fn count(&self) -> u64 {
        self.set
    }

    pub fn get(&self, bit: u64) -> bool {
        bit < self.bits && self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    /// Sets one bit; returns whether it changed.
    pub fn set(&mut self, bit: u64) -> bool {
        if bit >= self.bits {
            return false;
        }
        let w = &mut self.words[(bit / 64) as usize];
        let m = 1 << (bit % 64);
        let changed = *w & m == 0;
        *w |= m;
        self.set += u64::from(changed);
        changed
    }

    /// Clears one bit; returns whether it changed.
    pub fn clear(&mut self, bit: u64) -> bool {
        if bit >= self.bits {
            return false;
        }
        let w = &mut self.words[(bit / 64) as usize];
        let m = 1 << (bit % 64);
        let changed = *w & m != 0;
        *w &= !m;
        self.set -= u64::from(changed);
        changed
    }

    /// Marks every block touched by the byte range `[offset, offset+len)`.
    pub fn set_range(&mut self, offset: u64, len: u64) {
        for bit in block_range(offset, len) {
            self.set(bit);
        }
    }

    /// Clears every block fully or partly covered by the byte range.
    pub fn clear_range(&mut self, offset: u64, len: u64) {
        for bit in block_range(offset, len) {
            self.clear(bit);
        }
    }

    pub fn set_all(&mut self) {
        let b = Bitmap::from_words(self.bits * BM_BLOCK_SIZE, vec![u64::MAX; self.words.len()]);
        *self = b;
    }

    pub fn clear_all(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
        self.set = 0;
    }

    /// ORs another bitmap of the same size into this one (the handshake merge).
    pub fn merge(&mut self, other: &Bitmap) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= *b;
        }
        self.set = self.words.iter().map(|w| u64::from(w.count_ones())).sum();
    }

    /// The first set bit at or after `from`.
    pub fn next_set(&self, from: u64) -> Option<u64> {
        let mut bit = from;
        while bit < self.bits {
            let wi = (bit / 64) as usize;
            let w = self.words[wi] >> (bit % 64);
            if w != 0 {
                let found = bit + u64::from(w.trailing_zeros());
                return (found < self.bits).then_some(found);
            }
            bit = (wi as u64 + 1) * 64;
        }
        None
    }
}

/// The 4 KiB blocks a byte range touches.
pub fn block_range(offset: u64, len: u64) -> std::ops::Range<u64> {
    if len == 0 {
        return 0..0;
    }
    let first = offset / BM_BLOCK_SIZE;
    let last = (offset.saturating_add(len) - 1) / BM_BLOCK_SIZE;
    first..last + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_clear_count() {
        let mut b = Bitmap::new(1 << 20); // 256 blocks
        assert_eq!(b.len(), 256);
        assert!(b.set(3));
        assert!(!b.set(3));
        b.set_range(8192, 8193); // blocks 2, 3, 4
        assert_eq!(b.count(), 3);
        assert_eq!(b.next_set(0), Some(2));
        assert_eq!(b.next_set(5), None);
        assert!(b.clear(3));
        assert_eq!(b.count(), 2);
        assert!(!b.set(256), "out of range is ignored");
    }

    #[test]
    fn words_round_trip_and_tail_masking() {
        let mut b = Bitmap::new(100 * 4096);
        b.set_all();
        assert_eq!(b.count(), 100);
        let c = Bitmap::from_words(100 * 4096, b.words().to_vec());
        assert_eq!(b, c);
        let d = Bitmap::from_words(100 * 4096, vec![u64::MAX; 5]);
        assert_eq!(d.count(), 100);
    }
}
