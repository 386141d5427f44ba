//! The bitmap on disk: the words of [`shimai_replication::Bitmap`], 512
//! little-endian u64 words per 4 KiB block, block `i` holding words
//! `512 i .. 512 i + 512` (one block tracks 128 MiB of data).
//!
//! Bitmap blocks carry no checksum, unlike the superblock and the activity
//! log: a torn bitmap write leaves each word either old or new, and both
//! are bitmaps the node wrote. The words in flight belong to extents that
//! are in the activity log (bits are persisted before an extent leaves
//! it), and an unclean restart marks all of those out of sync anyway.

use std::ops::Range;

use crate::error::{MetaError, Result};
use crate::layout::BLOCK;

pub const BM_WORDS_PER_BLOCK: usize = BLOCK as usize / 8;

/// Encodes up to 512 words into one block; missing words are zero.
pub fn encode_bitmap_block(words: &[u64]) -> [u8; BLOCK as usize] {
    let mut b = [0u8; BLOCK as usize];
    for (chunk, w) in b.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    b
}

/// Decodes one block into its 512 words.
pub fn decode_bitmap_block(b: &[u8]) -> Result<Vec<u64>> {
    if b.len() != BLOCK as usize {
        return Err(MetaError::corrupt(
            "bitmap block",
            0,
            format!("is {} bytes, expected {BLOCK}", b.len()),
        ));
    }
    Ok(b.chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            u64::from_le_bytes(a)
        })
        .collect())
}

/// The blocks that hold the words `words`.
pub fn blocks_for_words(words: Range<usize>) -> Range<usize> {
    if words.is_empty() {
        return 0..0;
    }
    words.start / BM_WORDS_PER_BLOCK..(words.end - 1) / BM_WORDS_PER_BLOCK + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn words_are_little_endian_in_order() {
        let b = encode_bitmap_block(&[1, 0x0102_0304_0506_0708]);
        assert_eq!(b[0], 1);
        assert_eq!(&b[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert!(b[16..].iter().all(|x| *x == 0));
        assert!(decode_bitmap_block(&b[..4095]).is_err());
    }

    #[test]
    fn block_ranges() {
        assert_eq!(blocks_for_words(0..0), 0..0);
        assert_eq!(blocks_for_words(0..1), 0..1);
        assert_eq!(blocks_for_words(511..513), 0..2);
        assert_eq!(blocks_for_words(512..1024), 1..2);
    }

    proptest! {
        #[test]
        fn round_trip(words in prop::collection::vec(any::<u64>(), 0..=BM_WORDS_PER_BLOCK)) {
            let back = decode_bitmap_block(&encode_bitmap_block(&words)).unwrap();
            prop_assert_eq!(&back[..words.len()], &words[..]);
            prop_assert!(back[words.len()..].iter().all(|w| *w == 0));
        }
    }
}
