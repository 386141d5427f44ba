//! The simulator's random source and disks.

use shimai_replication::{Bitmap, GenerationIds, MdFlags, Persisted};

/// Blocks of 4 KiB on each simulated disk.
pub const BLOCKS: u64 = 64;
pub const BS: u64 = 4096;

/// splitmix64: every random choice of a run comes from one of these, seeded by the run's seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability `per_mille`/1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One block's content: the write's tag (unique, increasing over the run) and a version that
/// orders writes to the block on this disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    pub ver: u64,
    pub tag: u64,
}

/// The payload of a write: each 4 KiB block carries its tag repeated.
pub fn payload(tags: &[u64]) -> Vec<u8> {
    let mut v = Vec::with_capacity(tags.len() * BS as usize);
    for t in tags {
        v.extend_from_slice(&t.to_le_bytes().repeat((BS / 8) as usize));
    }
    v
}

/// The tags in a payload (one per 4 KiB block).
pub fn tags_of(data: &[u8]) -> Vec<u64> {
    data.chunks(BS as usize)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&c[..8]);
            u64::from_le_bytes(a)
        })
        .collect()
}

/// A disk: `cur` is what reads return, `stable` what survives a crash for sure. Writes that
/// completed but were not flushed may or may not survive.
#[derive(Debug, Clone)]
pub struct Disk {
    pub cur: Vec<Cell>,
    pub stable: Vec<Cell>,
    ver: u64,
    pub gi: GenerationIds,
    pub flags: MdFlags,
    pub bitmap: Vec<u64>,
    pub al: Vec<u32>,
}

impl Disk {
    pub fn new() -> Disk {
        let p = Persisted::just_created(BLOCKS * BS);
        Disk {
            cur: vec![Cell::default(); BLOCKS as usize],
            stable: vec![Cell::default(); BLOCKS as usize],
            ver: 0,
            gi: p.gi,
            flags: p.flags,
            bitmap: p.bitmap.words().to_vec(),
            al: Vec::new(),
        }
    }

    pub fn persisted(&self) -> Persisted {
        Persisted {
            gi: self.gi,
            flags: self.flags,
            bitmap: Bitmap::from_words(BLOCKS * BS, self.bitmap.clone()),
            al: self.al.clone(),
        }
    }

    pub fn write(&mut self, offset: u64, data: &[u8], fua: bool) {
        for (i, tag) in tags_of(data).into_iter().enumerate() {
            let b = (offset / BS) as usize + i;
            self.ver += 1;
            self.cur[b] = Cell { ver: self.ver, tag };
            if fua {
                self.stable[b] = self.cur[b];
            }
        }
    }

    pub fn read(&self, offset: u64, len: u64) -> Vec<u8> {
        let first = offset / BS;
        let tags: Vec<u64> = (first..first + len / BS)
            .map(|b| self.cur[b as usize].tag)
            .collect();
        payload(&tags)
    }

    /// A flush completed: what was complete when it was issued (`snap`) is durable.
    pub fn flushed(&mut self, snap: &[Cell]) {
        for (s, n) in self.stable.iter_mut().zip(snap) {
            if n.ver > s.ver {
                *s = *n;
            }
        }
    }

    /// Power loss: each block keeps either its durable content or its last completed write.
    pub fn crash(&mut self, rng: &mut Rng) {
        for (c, s) in self.cur.iter_mut().zip(self.stable.iter_mut()) {
            if c.ver > s.ver && rng.chance(500) {
                *s = *c;
            }
            *c = *s;
        }
    }
}
