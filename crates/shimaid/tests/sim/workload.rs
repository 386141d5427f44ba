//! The simulation's workload: client requests, admin verbs, partitions and crashes drawn from
//! the run's random source, and the final healing an operator would do.

use shimai_replication::{AdminCmd, ConnState, DiskState, Event, Role};

use super::check;
use super::disk::{payload, BLOCKS, BS};
use super::{FlushRec, Sim};

impl Sim {
    fn primary(&self) -> Option<usize> {
        (0..2).find(|&n| {
            self.core(n)
                .is_some_and(|c| c.role() == Role::Primary && c.disk_state() == DiskState::UpToDate)
        })
    }

    /// Issues a client write of fresh tags to free blocks of node `n`.
    fn client_write(&mut self, n: usize) {
        let mut first = self.rng.below(BLOCKS);
        let mut count = if self.rng.chance(200) { 2 } else { 1 };
        if first + count > BLOCKS {
            count = 1;
        }
        for _ in 0..4 {
            if (first..first + count).all(|b| !self.nodes[n].busy_blocks.contains(&b)) {
                break;
            }
            first = self.rng.below(BLOCKS);
            count = 1;
        }
        if (first..first + count).any(|b| self.nodes[n].busy_blocks.contains(&b)) {
            return;
        }
        let tags: Vec<u64> = (0..count)
            .map(|_| {
                self.next_tag += 1;
                self.next_tag
            })
            .collect();
        let id = self.nodes[n].next_req;
        self.nodes[n].next_req += 1;
        self.nodes[n].busy_blocks.extend(first..first + count);
        self.nodes[n].writes.insert(id, (first, tags.clone()));
        let fua = self.rng.chance(100);
        self.note(|| format!("node{n}: write #{id} blocks {first}+{count} tags {tags:?}"));
        self.feed(
            n,
            Event::Write {
                id,
                offset: first * BS,
                data: payload(&tags),
                fua,
            },
        );
    }

    fn client_flush(&mut self, n: usize) {
        let id = self.nodes[n].next_req;
        self.nodes[n].next_req += 1;
        let rec = FlushRec {
            acked: self.nodes[n].acked.clone(),
            conn_epoch: self.nodes[n].conn_epoch,
            replicating: check::replicating_to_uptodate(self, n),
            voids: self.nodes[n].voids,
        };
        self.nodes[n].flushes.insert(id, rec);
        self.note(|| format!("node{n}: flush #{id}"));
        self.feed(n, Event::Flush { id });
    }

    fn client_read(&mut self, n: usize) {
        let id = self.nodes[n].next_req;
        self.nodes[n].next_req += 1;
        self.nodes[n].reads.insert(id);
        let b = self.rng.below(BLOCKS);
        self.feed(
            n,
            Event::Read {
                id,
                offset: b * BS,
                len: BS,
            },
        );
    }

    /// One random workload step.
    pub fn workload(&mut self) {
        let r = self.rng.below(1000);
        let pri = self.primary();
        let any = self.rng.below(2) as usize;
        match r {
            0..=399 => {
                if let Some(p) = pri {
                    self.client_write(p);
                }
            }
            400..=469 => {
                if let Some(p) = pri {
                    self.client_flush(p);
                }
            }
            470..=484 => {
                if let Some(p) = pri {
                    self.client_read(p);
                }
            }
            485..=489 if pri != Some(any) && self.core(any).is_some() => {
                self.client_write(any);
            }
            490..=499 => {
                if let Some(p) = pri {
                    self.admin(p, AdminCmd::Secondary);
                }
            }
            500..=529 if pri.is_none() || self.rng.chance(200) => {
                let force = self.rng.chance(100);
                let good = self
                    .core(any)
                    .is_some_and(|c| c.disk_state() == DiskState::UpToDate);
                let done = self.admin(any, AdminCmd::Primary { force });
                if done && force && !good {
                    // The operator declared this node's data authoritative: the peer's newer
                    // writes (also those it makes until the nodes reconcile) may be discarded.
                    self.nodes[1 - any].void();
                    self.nodes[1 - any].overruled = true;
                }
            }
            530..=534 => {
                self.admin(any, AdminCmd::Disconnect);
            }
            535..=559 => {
                let standalone = self
                    .core(any)
                    .is_some_and(|c| c.conn_state() == ConnState::StandAlone);
                if standalone {
                    let discard = self.nodes[any].split_brain && self.rng.chance(300);
                    self.nodes[any].discard_flag |= discard;
                    self.nodes[any].split_brain = false;
                    self.admin(
                        any,
                        AdminCmd::Connect {
                            discard_my_data: discard,
                        },
                    );
                }
            }
            560..=564 if !self.partitioned => self.partition(),
            565..=594 if self.partitioned => {
                self.note(|| "HEAL".into());
                self.partitioned = false;
            }
            595..=597 if self.core(any).is_some() => self.crash(any),
            598..=599 if self.core(any).is_some() => self.nodes[any].tear_next_meta = true,
            600..=602 => {
                let done = self.admin(any, AdminCmd::Invalidate);
                if done {
                    self.nodes[any].void();
                }
            }
            603..=604 => {
                let done = self.admin(any, AdminCmd::InvalidateRemote);
                if done {
                    self.nodes[1 - any].void();
                }
            }
            605..=609 => {
                self.admin(any, AdminCmd::Verify);
            }
            610..=619 => {
                let cmd = if self.rng.chance(500) {
                    AdminCmd::PauseSync
                } else {
                    AdminCmd::ResumeSync
                };
                self.admin(any, cmd);
            }
            620..=621 => {
                self.admin(any, AdminCmd::Outdate);
            }
            _ => {}
        }
    }

    /// Heals everything and lets the nodes converge, as an operator would.
    pub fn settle(&mut self) {
        self.note(|| "SETTLE: heal, restart, connect".into());
        self.partitioned = false;
        for n in 0..2 {
            self.nodes[n].tear_next_meta = false;
        }
        let deadline = self.now + 30_000;
        let mut last_kick = 0;
        while self.now < deadline && self.failure.is_none() {
            for n in 0..2 {
                if self.nodes[n].core.is_none() && self.nodes[n].restart_at.is_none() {
                    self.nodes[n].restart_at = Some(self.now);
                }
            }
            self.advance();
            if check::converged(self) {
                return;
            }
            if self.now - last_kick < 500 {
                continue;
            }
            last_kick = self.now;
            let both_primary =
                (0..2).all(|n| self.core(n).is_some_and(|c| c.role() == Role::Primary));
            if both_primary {
                self.admin(1, AdminCmd::Secondary);
            }
            for n in 0..2 {
                let Some(c) = self.core(n) else { continue };
                let (cs, disk, paused) = (c.conn_state(), c.disk_state(), c.status().user_paused);
                if paused {
                    self.admin(n, AdminCmd::ResumeSync);
                }
                if cs == ConnState::StandAlone && self.nodes[n].unrelated {
                    // Unrelated data after an override: the operator re-creates the metadata
                    // of the node whose data may be discarded, which then syncs fully.
                    let victim = if self.nodes[1].overruled || !self.nodes[0].overruled {
                        1
                    } else {
                        0
                    };
                    self.nodes[0].unrelated = false;
                    self.nodes[1].unrelated = false;
                    self.recreate_metadata(victim);
                    continue;
                }
                if cs == ConnState::StandAlone && self.nodes[n].rr_conflict {
                    // The operator demotes the Primary whose data is older.
                    self.nodes[n].rr_conflict = false;
                    self.admin(n, AdminCmd::Secondary);
                }
                if cs == ConnState::StandAlone {
                    // An operator resolves an unresolved split brain on node 1.
                    let discard = n == 1 && self.nodes[n].split_brain;
                    self.nodes[n].split_brain = false;
                    if discard {
                        // The victim gives up its role first, or rr-conflict refuses.
                        self.admin(n, AdminCmd::Secondary);
                    }
                    self.nodes[n].discard_flag |= discard;
                    self.admin(
                        n,
                        AdminCmd::Connect {
                            discard_my_data: discard,
                        },
                    );
                }
                let other = self.core(1 - n);
                if n == 0
                    && disk <= DiskState::Inconsistent
                    && other.is_some_and(|o| o.disk_state() <= DiskState::Inconsistent)
                {
                    // No good data anywhere (e.g. the last good copy was invalidated): the
                    // operator declares node 0's data good.
                    if self.admin(0, AdminCmd::Primary { force: true }) {
                        self.nodes[1].void();
                        self.nodes[1].overruled = true;
                    }
                }
            }
        }
        if self.failure.is_none() {
            let states: Vec<String> = (0..2)
                .map(|n| match self.core(n) {
                    Some(c) => format!(
                        "{} {}/{} {}/{} oos={} {:?} sim: writes={} flushes={} ios={}",
                        c.conn_state(),
                        c.role(),
                        c.peer_role(),
                        c.disk_state(),
                        c.peer_disk_state(),
                        c.bitmap().count(),
                        c.status().counters,
                        self.nodes[n].writes.len(),
                        self.nodes[n].flushes.len(),
                        self.nodes[n].ios.len(),
                    ),
                    None => "down".into(),
                })
                .collect();
            self.fail(format!("did not converge after healing: {states:?}"));
        }
    }
}
