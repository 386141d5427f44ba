//! Bitmaps on the wire as alternating runs: clear, set, clear, ... (the first run may be 0).
//! Mostly-clear or mostly-set bitmaps shrink to a few numbers, as DRBD's RLE+VLI encoding.

use crate::bitmap::Bitmap;

/// The runs of the whole bitmap.
pub fn runs_of(b: &Bitmap) -> Vec<u64> {
    let mut runs = Vec::new();
    let mut bit = 0u64;
    let mut want_set = false;
    while bit < b.len() {
        let start = bit;
        if want_set {
            while bit < b.len() && b.get(bit) {
                bit += 1;
            }
        } else {
            bit = b.next_set(bit).unwrap_or(b.len());
        }
        runs.push(bit - start);
        want_set = !want_set;
    }
    runs
}

/// ORs runs starting at `first_bit` into `b`; false (and `b` partly updated) when they pass
/// the end.
pub fn apply_runs(b: &mut Bitmap, first_bit: u64, runs: &[u64]) -> bool {
    let mut bit = first_bit;
    for (i, &run) in runs.iter().enumerate() {
        let Some(end) = bit.checked_add(run) else {
            return false;
        };
        if end > b.len() {
            return false;
        }
        if i % 2 == 1 {
            for x in bit..end {
                b.set(x);
            }
        }
        bit = end;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut b = Bitmap::new(300 * 4096);
        for x in [0u64, 1, 2, 77, 150, 151, 299] {
            b.set(x);
        }
        let runs = runs_of(&b);
        assert_eq!(runs.iter().sum::<u64>(), 300);
        assert_eq!(runs[0], 0, "first run is clear and empty");
        let mut c = Bitmap::new(300 * 4096);
        assert!(apply_runs(&mut c, 0, &runs));
        assert_eq!(b, c);
        assert!(!apply_runs(&mut c, 299, &[0, 2]));
    }
}
