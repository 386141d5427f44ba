//! The activity log: which 4 MiB extents may have writes in flight, kept
//! as a table of `al-extents` slots and persisted as a ring of 4 KiB
//! transactions (`reference/drbd.md` §1.9).
//!
//! A transaction records up to 64 slot updates and, in addition, the
//! current contents of a window of up to 888 consecutive slots (its
//! "context"). The window moves on with every transaction, so the ring
//! always holds a full copy of the table however old the oldest update is:
//! replaying the valid transactions in sequence order rebuilds the table
//! without ever having to rewrite the whole of it. The ring is sized so
//! that all transactions but the newest cover every slot, because the
//! newest may be torn.
//!
//! Transaction layout (little-endian):
//!
//! ```text
//!    0 magic u32   4 crc32c u32 (of the block with this field zeroed)
//!    8 seq u64    16 al-extents u32   20 context start slot u32
//!   24 n updates u16   26 n context u16   28 reserved u32
//!   32 updates: 64 x (slot u32, extent u32)
//!  544 context: 888 x extent u32        (4096)
//! ```

use std::collections::HashMap;

use crate::codec::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use crate::error::{MetaError, Place, Result};

pub const AL_MAGIC: u32 = 0x6c61_6873; // "shal"
pub const AL_TR_SIZE: usize = 4096;
pub const AL_UPDATES_PER_TRANSACTION: usize = 64;
pub const AL_CONTEXT_PER_TRANSACTION: usize = 888;
/// The extent number of an empty slot.
pub const AL_FREE: u32 = u32::MAX;
const UPDATES_AT: usize = 32;
const CONTEXT_AT: usize = UPDATES_AT + AL_UPDATES_PER_TRANSACTION * 8;
const WHAT: &str = "activity log transaction";

/// One slot of the table now holds `extent` (or [`AL_FREE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlUpdate {
    pub slot: u32,
    pub extent: u32,
}

/// One decoded transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlTransaction {
    pub seq: u64,
    pub al_extents: u32,
    pub updates: Vec<AlUpdate>,
    pub context_start: u32,
    /// Extents of slots `context_start..context_start + context.len()`.
    pub context: Vec<u32>,
}

impl AlTransaction {
    /// Encodes; `updates` and `context` beyond their per-transaction
    /// maximum are not representable and must be split by the caller
    /// ([`ActivityLog::plan`] does).
    pub fn encode(&self) -> [u8; AL_TR_SIZE] {
        let mut b = [0u8; AL_TR_SIZE];
        let updates = &self.updates[..self.updates.len().min(AL_UPDATES_PER_TRANSACTION)];
        let context = &self.context[..self.context.len().min(AL_CONTEXT_PER_TRANSACTION)];
        put_u32(&mut b, 0, AL_MAGIC);
        put_u64(&mut b, 8, self.seq);
        put_u32(&mut b, 16, self.al_extents);
        put_u32(&mut b, 20, self.context_start);
        put_u16(&mut b, 24, updates.len() as u16);
        put_u16(&mut b, 26, context.len() as u16);
        for (i, u) in updates.iter().enumerate() {
            put_u32(&mut b, UPDATES_AT + 8 * i, u.slot);
            put_u32(&mut b, UPDATES_AT + 8 * i + 4, u.extent);
        }
        for (i, e) in context.iter().enumerate() {
            put_u32(&mut b, CONTEXT_AT + 4 * i, *e);
        }
        let crc = crc32c::crc32c(&b);
        put_u32(&mut b, 4, crc);
        b
    }

    /// Decodes and validates one ring block. An empty (never written) block
    /// is a `BadMagic` error like any other non-transaction.
    pub fn decode(b: &[u8]) -> Result<AlTransaction> {
        if b.len() != AL_TR_SIZE {
            return Err(MetaError::corrupt(
                WHAT,
                0,
                format!("is {} bytes, expected {AL_TR_SIZE}", b.len()),
            ));
        }
        if get_u32(b, 0) != AL_MAGIC {
            return Err(MetaError::BadMagic {
                what: WHAT,
                at: Place::default(),
            });
        }
        let stored = get_u32(b, 4);
        let mut copy = [0u8; AL_TR_SIZE];
        copy.copy_from_slice(b);
        put_u32(&mut copy, 4, 0);
        let computed = crc32c::crc32c(&copy);
        if stored != computed {
            return Err(MetaError::ChecksumMismatch {
                what: WHAT,
                stored,
                computed,
                at: Place {
                    device: String::new(),
                    offset: 4,
                },
            });
        }
        let al_extents = get_u32(b, 16);
        let context_start = get_u32(b, 20);
        let n_updates = usize::from(get_u16(b, 24));
        let n_context = usize::from(get_u16(b, 26));
        if n_updates > AL_UPDATES_PER_TRANSACTION || n_context > AL_CONTEXT_PER_TRANSACTION {
            return Err(MetaError::corrupt(
                WHAT,
                24,
                format!("{n_updates} updates and {n_context} context slots exceed the block"),
            ));
        }
        if u64::from(context_start) + n_context as u64 > u64::from(al_extents) {
            return Err(MetaError::corrupt(
                WHAT,
                20,
                format!("context {context_start}+{n_context} beyond {al_extents} slots"),
            ));
        }
        let updates: Vec<AlUpdate> = (0..n_updates)
            .map(|i| AlUpdate {
                slot: get_u32(b, UPDATES_AT + 8 * i),
                extent: get_u32(b, UPDATES_AT + 8 * i + 4),
            })
            .collect();
        if let Some(u) = updates.iter().find(|u| u.slot >= al_extents) {
            return Err(MetaError::corrupt(
                WHAT,
                UPDATES_AT as u64,
                format!("update of slot {} beyond {al_extents} slots", u.slot),
            ));
        }
        Ok(AlTransaction {
            seq: get_u64(b, 8),
            al_extents,
            updates,
            context_start,
            context: (0..n_context)
                .map(|i| get_u32(b, CONTEXT_AT + 4 * i))
                .collect(),
        })
    }
}

/// The in-memory table and the position in the ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityLog {
    slots: Vec<u32>,
    /// extent -> slot, for the hot-path question "is this extent active?".
    index: HashMap<u32, u32>,
    ring_blocks: u32,
    /// `None` once a transaction carried `u64::MAX` (only forged metadata can).
    next_seq: Option<u64>,
    next_context: u32,
}

impl ActivityLog {
    /// An empty log (all slots free) over a zeroed ring.
    pub fn new(al_extents: u32, ring_blocks: u32) -> ActivityLog {
        ActivityLog {
            slots: vec![AL_FREE; al_extents as usize],
            index: HashMap::new(),
            ring_blocks: ring_blocks.max(1),
            next_seq: Some(1),
            next_context: 0,
        }
    }

    /// Rebuilds the table from the ring's blocks, `(position, decoded)`.
    ///
    /// Blocks that did not decode, belong to another table size, or sit at
    /// a position their sequence number does not lead to are ignored; the
    /// rest are replayed oldest first. Only the newest `ring_blocks`
    /// sequence numbers count, so a stale block can never win.
    pub fn replay(
        al_extents: u32,
        ring_blocks: u32,
        blocks: impl IntoIterator<Item = (u32, Result<AlTransaction>)>,
    ) -> ActivityLog {
        let mut log = ActivityLog::new(al_extents, ring_blocks);
        let ring = u64::from(log.ring_blocks);
        let mut valid: Vec<AlTransaction> = blocks
            .into_iter()
            .filter_map(|(pos, tr)| match tr {
                Ok(t) if t.al_extents == al_extents && t.seq % ring == u64::from(pos) => Some(t),
                _ => None,
            })
            .collect();
        let Some(newest) = valid.iter().map(|t| t.seq).max() else {
            return log;
        };
        valid.retain(|t| t.seq > newest.saturating_sub(ring));
        valid.sort_by_key(|t| t.seq);
        for t in &valid {
            log.apply(t);
        }
        log.rebuild_index();
        log
    }

    /// Applies one transaction to the table (replay, and after writing).
    pub fn apply(&mut self, t: &AlTransaction) {
        for u in &t.updates {
            self.set_slot(u.slot, u.extent);
        }
        for (i, e) in t.context.iter().enumerate() {
            self.set_slot(t.context_start.saturating_add(i as u32), *e);
        }
        self.next_seq = t.seq.checked_add(1);
        let end = t.context_start.saturating_add(t.context.len() as u32);
        self.next_context = if end >= self.al_extents() { 0 } else { end };
    }

    fn set_slot(&mut self, slot: u32, extent: u32) {
        let Some(cur) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let old = std::mem::replace(cur, extent);
        if old != AL_FREE && self.index.get(&old) == Some(&slot) {
            self.index.remove(&old);
        }
        if extent != AL_FREE {
            self.index.insert(extent, slot);
        }
    }

    /// Replays can briefly put one extent in two slots; the final table
    /// decides.
    fn rebuild_index(&mut self) {
        self.index = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, e)| **e != AL_FREE)
            .map(|(s, e)| (*e, s as u32))
            .collect();
    }

    pub fn al_extents(&self) -> u32 {
        self.slots.len() as u32
    }

    pub fn ring_blocks(&self) -> u32 {
        self.ring_blocks
    }

    /// The sequence number the next transaction gets.
    pub fn next_seq(&self) -> Option<u64> {
        self.next_seq
    }

    pub fn is_hot(&self, extent: u32) -> bool {
        self.index.contains_key(&extent)
    }

    /// The active extents, ascending.
    pub fn hot_extents(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.index.keys().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn free_slots(&self) -> usize {
        self.slots.len() - self.index.len()
    }

    /// The transactions that make `activate` hot and `evict` cold, without
    /// changing `self` (the caller writes them, then [`apply`](Self::apply)s
    /// each). Extents already in the wanted state are skipped; an evicted
    /// extent's slot is reused first. Empty when nothing changes.
    pub fn plan(&self, activate: &[u32], evict: &[u32]) -> Result<Vec<AlTransaction>> {
        let mut freed: Vec<u32> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for e in evict {
            if let Some(slot) = self.index.get(e) {
                if seen.insert(*e) {
                    freed.push(*slot);
                }
            }
        }
        let mut wanted: Vec<u32> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for e in activate {
            // An extent both evicted and activated stays hot, in its slot.
            if *e != AL_FREE && seen.insert(*e) {
                if let Some(pos) = self
                    .index
                    .get(e)
                    .and_then(|s| freed.iter().position(|f| f == s))
                {
                    freed.swap_remove(pos);
                } else if !self.is_hot(*e) {
                    wanted.push(*e);
                }
            }
        }
        let mut updates: Vec<AlUpdate> = Vec::new();
        let mut free = freed.iter().copied().chain(
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, e)| **e == AL_FREE)
                .map(|(s, _)| s as u32),
        );
        for e in &wanted {
            let Some(slot) = free.next() else {
                return Err(MetaError::AlFull {
                    wanted: wanted.len(),
                    free: self.free_slots() + freed.len(),
                    total: self.al_extents(),
                });
            };
            updates.push(AlUpdate { slot, extent: *e });
        }
        let used = updates.len().min(freed.len());
        updates.extend(freed[used..].iter().map(|slot| AlUpdate {
            slot: *slot,
            extent: AL_FREE,
        }));

        let n = self.al_extents();
        let mut overlay: HashMap<u32, u32> = HashMap::new();
        let mut start = self.next_context;
        let mut out = Vec::new();
        for (i, chunk) in updates.chunks(AL_UPDATES_PER_TRANSACTION).enumerate() {
            let seq = self
                .next_seq
                .and_then(|n| n.checked_add(i as u64))
                .ok_or_else(|| {
                    MetaError::corrupt(WHAT, 8, "sequence number exhausted: run create-md")
                })?;
            for u in chunk {
                overlay.insert(u.slot, u.extent);
            }
            let len = (n - start).min(AL_CONTEXT_PER_TRANSACTION as u32);
            let context = (start..start + len)
                .map(|s| *overlay.get(&s).unwrap_or(&self.slots[s as usize]))
                .collect();
            out.push(AlTransaction {
                seq,
                al_extents: n,
                updates: chunk.to_vec(),
                context_start: start,
                context,
            });
            start = if start + len >= n { 0 } else { start + len };
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::al_ring_blocks;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn tr_strategy() -> impl Strategy<Value = AlTransaction> {
        (
            1u32..70000,
            any::<u64>(),
            0usize..=64,
            any::<prop::sample::Index>(),
        )
            .prop_flat_map(|(n, seq, nu, at)| {
                let start = at.index(n as usize) as u32;
                let max_ctx = ((n - start) as usize).min(AL_CONTEXT_PER_TRANSACTION);
                (
                    prop::collection::vec((0..n, any::<u32>()), nu),
                    prop::collection::vec(any::<u32>(), 0..=max_ctx),
                )
                    .prop_map(move |(ups, context)| AlTransaction {
                        seq,
                        al_extents: n,
                        updates: ups
                            .into_iter()
                            .map(|(slot, extent)| AlUpdate { slot, extent })
                            .collect(),
                        context_start: start,
                        context,
                    })
            })
    }

    #[test]
    fn transactions_are_checked() {
        let log = ActivityLog::new(61, al_ring_blocks(61));
        let t = &log.plan(&[5, 9], &[]).unwrap()[0];
        let mut b = t.encode();
        assert_eq!(AlTransaction::decode(&b).unwrap(), *t);
        b[40] ^= 0x80;
        assert!(matches!(
            AlTransaction::decode(&b),
            Err(MetaError::ChecksumMismatch { .. })
        ));
        assert!(matches!(
            AlTransaction::decode(&[0; AL_TR_SIZE]),
            Err(MetaError::BadMagic { .. })
        ));
    }

    #[test]
    fn plan_reuses_evicted_slots_and_refuses_overflow() {
        let mut log = ActivityLog::new(7, 8);
        for t in log.plan(&[1, 2, 3, 4, 5, 6, 7], &[]).unwrap() {
            log.apply(&t);
        }
        assert_eq!(log.free_slots(), 0);
        let e = log.plan(&[8], &[]).unwrap_err();
        assert!(
            matches!(
                e,
                MetaError::AlFull {
                    wanted: 1,
                    free: 0,
                    total: 7
                }
            ),
            "{e}"
        );
        let slot_of_3 = log.index[&3];
        let plan = log.plan(&[8], &[3]).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(
            plan[0].updates,
            vec![AlUpdate {
                slot: slot_of_3,
                extent: 8
            }]
        );
        log.apply(&plan[0]);
        assert_eq!(log.hot_extents(), vec![1, 2, 4, 5, 6, 7, 8]);
        assert!(log.plan(&[8, 1], &[]).unwrap().is_empty(), "already hot");
        assert!(
            log.plan(&[2], &[2]).unwrap().is_empty(),
            "evict and re-activate"
        );
    }

    proptest! {
        #[test]
        fn transaction_round_trip(t in tr_strategy()) {
            prop_assert_eq!(AlTransaction::decode(&t.encode()).unwrap(), t);
        }

        /// After any sequence of activations and evictions, writing the
        /// planned transactions into a ring and replaying it (with the last
        /// one torn, or not) gives back the table as it was after the last
        /// complete transaction.
        #[test]
        fn replay_rebuilds_the_table(
            al_extents in prop::sample::select(vec![7u32, 61, 900, 1237, 3000]),
            steps in prop::collection::vec(
                (prop::collection::vec(0u32..5000, 0..80), prop::collection::vec(0u32..5000, 0..80)),
                1..40),
            tear in prop::option::of(0usize..AL_TR_SIZE),
        ) {
            let ring = al_ring_blocks(al_extents);
            let mut blocks = vec![[0u8; AL_TR_SIZE]; ring as usize];
            let mut log = ActivityLog::new(al_extents, ring);
            let mut before_last = log.clone();
            // (position, block it overwrote) of the newest write.
            let mut last: Option<(usize, [u8; AL_TR_SIZE])> = None;
            for (act, ev) in steps {
                let act: Vec<u32> = act.into_iter().take(log.free_slots() + ev.len()).collect();
                let Ok(plan) = log.plan(&act, &ev) else { continue };
                for t in plan {
                    before_last = log.clone();
                    let pos = (t.seq % u64::from(ring)) as usize;
                    last = Some((pos, blocks[pos]));
                    blocks[pos] = t.encode();
                    log.apply(&t);
                }
                // What the table says is hot is what the caller asked for.
                for e in &act {
                    prop_assert!(log.is_hot(*e));
                }
                for e in ev.iter().filter(|e| !act.contains(e)) {
                    prop_assert!(!log.is_hot(*e));
                }
            }
            let mut expected = log.hot_extents();
            if let (Some(cut), Some((pos, old))) = (tear, last) {
                // The last write stopped after `cut` bytes: the rest of the
                // block still holds what it overwrote.
                let new = blocks[pos];
                blocks[pos][cut..].copy_from_slice(&old[cut..]);
                if blocks[pos] != new {
                    expected = before_last.hot_extents();
                }
            }
            let back = replay_blocks(al_extents, ring, &blocks);
            let got: BTreeSet<u32> = back.hot_extents().into_iter().collect();
            let want: BTreeSet<u32> = expected.into_iter().collect();
            prop_assert_eq!(got, want);
        }
    }

    fn replay_blocks(al_extents: u32, ring: u32, blocks: &[[u8; AL_TR_SIZE]]) -> ActivityLog {
        ActivityLog::replay(
            al_extents,
            ring,
            blocks
                .iter()
                .enumerate()
                .map(|(i, b)| (i as u32, AlTransaction::decode(b))),
        )
    }
}
