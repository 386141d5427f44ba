//! The activity log: the hot set of 4 MiB extents a Primary may be writing to
//! (`reference/drbd.md` §1.9).
//!
//! Why: the bitmap lives in RAM and reaches the disk lazily. If a Primary crashes, the blocks it
//! was writing may differ from the peer without a bit on disk saying so. Before the first write
//! into a cold extent, the extent is recorded in an AL transaction on disk, and the data write
//! waits for that transaction; after a crash every extent of the log is treated as out of sync.
//! An extent leaves the log only when no write holds it, and its bitmap words are persisted then.

use std::collections::BTreeMap;

use crate::event::IoId;

/// log2 of the extent size (4 MiB).
pub const AL_EXTENT_SHIFT: u32 = 22;
/// Bytes per extent.
pub const AL_EXTENT_SIZE: u64 = 1 << AL_EXTENT_SHIFT;

/// The extents a byte range touches.
pub fn extents_of(offset: u64, len: u64) -> Vec<u32> {
    if len == 0 {
        return Vec::new();
    }
    let first = offset >> AL_EXTENT_SHIFT;
    let last = (offset.saturating_add(len) - 1) >> AL_EXTENT_SHIFT;
    (first..=last)
        .map(|e| u32::try_from(e).unwrap_or(u32::MAX))
        .collect()
}

#[derive(Debug, Clone)]
struct Slot {
    /// Writes holding the extent.
    refs: u32,
    /// The transaction that records the extent, while it is not yet on disk.
    pending: Option<IoId>,
    /// For least-recently-used eviction.
    last_use: u64,
}

/// Outcome of [`ActivityLog::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// All extents are hot and on disk: issue the write.
    Ready,
    /// The write must wait for these AL transactions. When `new_tx` is set, the caller must
    /// persist the hot set now with that transaction id and persist the bitmap words of the
    /// `evicted` extents first.
    Wait {
        ios: Vec<IoId>,
        new_tx: bool,
        evicted: Vec<u32>,
    },
    /// No room: every hot extent is busy. Retry when a write completes.
    Full,
}

/// The activity log.
#[derive(Debug, Clone)]
pub struct ActivityLog {
    capacity: usize,
    slots: BTreeMap<u32, Slot>,
    clock: u64,
    tr_number: u64,
}

impl ActivityLog {
    /// An empty log of `al-extents` slots.
    pub fn new(capacity: u32) -> ActivityLog {
        ActivityLog {
            capacity: usize::try_from(capacity.max(1)).unwrap_or(usize::MAX),
            slots: BTreeMap::new(),
            clock: 0,
            tr_number: 0,
        }
    }

    /// Restores the hot set of the last transaction found on disk.
    pub fn restore(&mut self, extents: &[u32]) {
        for &e in extents {
            self.slots.insert(
                e,
                Slot {
                    refs: 0,
                    pending: None,
                    last_use: 0,
                },
            );
        }
    }

    /// The hot extents, ascending.
    pub fn hot(&self) -> Vec<u32> {
        self.slots.keys().copied().collect()
    }

    /// Number of the next transaction.
    pub fn tr_number(&self) -> u64 {
        self.tr_number
    }

    /// Takes references on `extents` for a write; `tx` is the id the caller will give a new
    /// transaction if one is needed.
    pub fn begin(&mut self, extents: &[u32], tx: IoId) -> Begin {
        self.clock += 1;
        let missing: Vec<u32> = extents
            .iter()
            .copied()
            .filter(|e| !self.slots.contains_key(e))
            .collect();
        let mut evicted = Vec::new();
        if !missing.is_empty() {
            let mut cold: Vec<(u64, u32)> = self
                .slots
                .iter()
                .filter(|(e, s)| s.refs == 0 && s.pending.is_none() && !extents.contains(e))
                .map(|(e, s)| (s.last_use, *e))
                .collect();
            cold.sort_unstable();
            let busy = self.slots.len() - cold.len();
            if busy + missing.len() > self.capacity && busy > 0 {
                return Begin::Full;
            }
            let over = (self.slots.len() + missing.len()).saturating_sub(self.capacity);
            for &(_, e) in cold.iter().take(over) {
                self.slots.remove(&e);
                evicted.push(e);
            }
            for &e in &missing {
                self.slots.insert(
                    e,
                    Slot {
                        refs: 0,
                        pending: Some(tx),
                        last_use: 0,
                    },
                );
            }
            self.tr_number += 1;
        }
        let mut ios = Vec::new();
        for e in extents {
            if let Some(s) = self.slots.get_mut(e) {
                s.refs += 1;
                s.last_use = self.clock;
                if let Some(io) = s.pending {
                    if !ios.contains(&io) {
                        ios.push(io);
                    }
                }
            }
        }
        if ios.is_empty() {
            Begin::Ready
        } else {
            Begin::Wait {
                ios,
                new_tx: !missing.is_empty(),
                evicted,
            }
        }
    }

    /// A transaction reached the disk.
    pub fn committed(&mut self, tx: IoId) {
        for s in self.slots.values_mut() {
            if s.pending == Some(tx) {
                s.pending = None;
            }
        }
    }

    /// A transaction failed: its extents are dropped again (their writes fail).
    pub fn failed(&mut self, tx: IoId) {
        self.slots.retain(|_, s| s.pending != Some(tx));
    }

    /// A write no longer holds its extents.
    pub fn release(&mut self, extents: &[u32]) {
        for e in extents {
            if let Some(s) = self.slots.get_mut(e) {
                s.refs = s.refs.saturating_sub(1);
            }
        }
    }

    /// Extents held by writes (the `al` column's hot set in use).
    pub fn in_use(&self) -> usize {
        self.slots.values().filter(|s| s.refs > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_write_into_an_extent_waits_for_a_transaction() {
        let mut al = ActivityLog::new(2);
        let b = al.begin(&[0], 100);
        assert_eq!(
            b,
            Begin::Wait {
                ios: vec![100],
                new_tx: true,
                evicted: vec![]
            }
        );
        // A second write into the same extent waits for the same transaction.
        assert!(
            matches!(al.begin(&[0], 101), Begin::Wait { ref ios, new_tx: false, .. } if ios == &[100])
        );
        al.committed(100);
        assert_eq!(al.begin(&[0], 102), Begin::Ready);
        assert_eq!(al.hot(), vec![0]);
    }

    #[test]
    fn evicts_only_cold_extents_and_blocks_when_full() {
        let mut al = ActivityLog::new(2);
        al.begin(&[1], 1);
        al.committed(1);
        al.begin(&[2], 2);
        al.committed(2);
        assert_eq!(al.begin(&[3], 3), Begin::Full, "both hot extents are busy");
        al.release(&[1]);
        match al.begin(&[3], 4) {
            Begin::Wait {
                evicted, new_tx, ..
            } => {
                assert!(new_tx);
                assert_eq!(evicted, vec![1]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(al.hot(), vec![2, 3]);
    }

    #[test]
    fn extent_math() {
        assert_eq!(extents_of(0, 4096), vec![0]);
        assert_eq!(extents_of(AL_EXTENT_SIZE - 512, 1024), vec![0, 1]);
        assert!(extents_of(5, 0).is_empty());
    }
}
