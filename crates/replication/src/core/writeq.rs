//! Local writes serialised per 4 KiB block.
//!
//! Two writes to one block are never on the disk at once, so their order on disk is their order
//! of arrival: a resync reply and an application write for the same block, or two replicated
//! writes, cannot land in the opposite order.

use std::collections::{BTreeSet, VecDeque};

use super::Core;
use crate::action::Action;
use crate::bitmap::block_range;
use crate::event::IoId;

/// A local write waiting for an overlapping one to finish.
#[derive(Debug, Clone)]
struct Queued {
    io: IoId,
    offset: u64,
    len: u64,
    op: Action,
}

/// The blocks with a write on the disk, and the writes waiting for them.
#[derive(Debug, Default)]
pub(super) struct WriteQueue {
    pub busy: BTreeSet<u64>,
    queued: VecDeque<Queued>,
}

impl WriteQueue {
    fn overlaps_busy(&self, offset: u64, len: u64) -> bool {
        block_range(offset, len).any(|b| self.busy.contains(&b))
    }
}

impl Core {
    /// Queues or submits a local write, keeping overlapping writes in arrival order.
    pub(super) fn submit_local_write(&mut self, io: IoId, offset: u64, len: u64, op: Action) {
        let blocked = self.wq.overlaps_busy(offset, len)
            || self
                .wq
                .queued
                .iter()
                .any(|q| ranges_overlap(q.offset, q.len, offset, len));
        if blocked {
            self.wq.queued.push_back(Queued {
                io,
                offset,
                len,
                op,
            });
        } else {
            self.wq.busy.extend(block_range(offset, len));
            self.emit(op);
        }
    }

    pub(super) fn local_write_finished(&mut self, offset: u64, len: u64) {
        for b in block_range(offset, len) {
            self.wq.busy.remove(&b);
        }
        let mut i = 0;
        while i < self.wq.queued.len() {
            let q = &self.wq.queued[i];
            let (o, l) = (q.offset, q.len);
            let earlier_overlap = self
                .wq
                .queued
                .iter()
                .take(i)
                .any(|p| ranges_overlap(p.offset, p.len, o, l));
            if !earlier_overlap && !self.wq.overlaps_busy(o, l) {
                let q = self.wq.queued.remove(i).expect("index checked");
                self.wq.busy.extend(block_range(q.offset, q.len));
                let _ = q.io;
                self.emit(q.op);
            } else {
                i += 1;
            }
        }
    }
}

fn ranges_overlap(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    let ra = block_range(a, alen);
    let rb = block_range(b, blen);
    ra.start < rb.end && rb.start < ra.end
}
