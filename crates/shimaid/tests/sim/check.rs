//! The simulation's invariants, precisely.

use shimai_replication::{ConnState, DiskState, Protocol, ReqId};

use super::disk::BLOCKS;
use super::Sim;

/// Node `n` replicates to a peer whose disk is UpToDate (the condition under which the
/// protocol's promise about the peer applies).
pub fn replicating_to_uptodate(sim: &Sim, n: usize) -> bool {
    // A peer that crashed (or a link that broke) since may have lost what it acknowledged;
    // the node has just not noticed yet.
    let link_alive = sim.nodes[n].conn.is_some()
        && sim.nodes[n].conn == sim.nodes[1 - n].conn
        && !sim.link_dead(n);
    link_alive
        && sim.core(n).is_some_and(|c| {
            matches!(
                c.conn_state(),
                ConnState::Connected | ConnState::VerifyS | ConnState::VerifyT
            ) && c.peer_disk_state() == DiskState::UpToDate
        })
}

/// A client request of node `n` was answered.
pub fn on_reply(sim: &mut Sim, n: usize, id: ReqId, result: Result<Option<Vec<u8>>, i32>) {
    let peer = 1 - n;
    if let Some((first, tags)) = sim.nodes[n].writes.remove(&id) {
        for b in first..first + tags.len() as u64 {
            sim.nodes[n].busy_blocks.remove(&b);
        }
        sim.note(|| {
            format!(
                "node{n}: write #{id} answered {:?}",
                result.as_ref().map(|_| ())
            )
        });
        if result.is_err() {
            return;
        }
        // 1. The write is on the local disk.
        for (i, &tag) in tags.iter().enumerate() {
            let b = (first + i as u64) as usize;
            let have = sim.nodes[n].disk.cur[b].tag;
            if have != tag {
                return sim.fail(format!(
                    "node{n} acknowledged write #{id} (tag {tag}) but its disk holds tag {have} at block {b}"
                ));
            }
        }
        // 1. ... and where the protocol promises it on the peer's side.
        if replicating_to_uptodate(sim, n) {
            let protocol = sim.cfg.protocol;
            for (i, &tag) in tags.iter().enumerate() {
                let b = (first + i as u64) as usize;
                let ok = match protocol {
                    Protocol::A => sim.nodes[n].emitted.contains(&tag),
                    Protocol::B => sim.nodes[peer].received.contains(&tag),
                    Protocol::C => sim.nodes[peer].disk.cur[b].tag == tag,
                };
                if !ok {
                    return sim.fail(format!(
                        "protocol {protocol}: node{n} acknowledged write #{id} (tag {tag}, block {b}) \
                         before the peer {}",
                        match protocol {
                            Protocol::A => "message was queued",
                            Protocol::B => "received it",
                            Protocol::C => "wrote it",
                        }
                    ));
                }
            }
        }
        for (i, &tag) in tags.iter().enumerate() {
            sim.nodes[n].acked.insert(first + i as u64, tag);
        }
        return;
    }
    if let Some(rec) = sim.nodes[n].flushes.remove(&id) {
        sim.note(|| {
            format!(
                "node{n}: flush #{id} answered {:?}",
                result.as_ref().map(|_| ())
            )
        });
        if result.is_err() || rec.voids != sim.nodes[n].voids {
            return;
        }
        // 2. Every write answered before the flush is durable here ...
        for (&b, &tag) in &rec.acked {
            let have = sim.nodes[n].disk.stable[b as usize].tag;
            if have < tag {
                return sim.fail(format!(
                    "node{n} acknowledged flush #{id} but block {b} is durable with tag {have} < {tag}"
                ));
            }
        }
        let both = sim.cfg.protocol != Protocol::A
            && rec.replicating
            && replicating_to_uptodate(sim, n)
            && rec.conn_epoch == sim.nodes[n].conn_epoch;
        // ... and, under B and C with an UpToDate peer, durable there too.
        if both {
            for (&b, &tag) in &rec.acked {
                let have = sim.nodes[peer].disk.stable[b as usize].tag;
                if have < tag {
                    return sim.fail(format!(
                        "protocol {}: node{n} acknowledged flush #{id} but the peer's block {b} is durable \
                         with tag {have} < {tag}",
                        sim.cfg.protocol
                    ));
                }
            }
        }
        // 3. From now on this data is promised.
        for (&b, &tag) in &rec.acked {
            let targets: &[usize] = if both { &[0, 1] } else { &[n] };
            for &t in targets {
                if sim.nodes[t].overruled {
                    continue;
                }
                let p = &mut sim.nodes[t].promise[b as usize];
                *p = (*p).max(tag);
            }
        }
        return;
    }
    if sim.nodes[n].reads.remove(&id) {
        if let Ok(Some(data)) = &result {
            if data.len() != super::disk::BS as usize {
                sim.fail(format!("node{n}: read #{id} returned {} bytes", data.len()));
            }
        }
        return;
    }
    sim.fail(format!("node{n} answered unknown request #{id}"));
}

/// 5. A handshake that saw a split brain either resolved it by a configured means or dropped.
pub fn split_brain_outcome(sim: &mut Sim, n: usize, outcome: Option<String>) {
    match outcome.as_deref() {
        // Unresolved (split-brain handler) or refused for another reason (rr-conflict):
        // either way the node must stand alone.
        None | Some("handler") => {
            let standalone = sim
                .core(n)
                .is_none_or(|c| c.conn_state() == ConnState::StandAlone);
            if !standalone {
                sim.fail(format!(
                    "node{n}: unresolved split brain but not StandAlone"
                ));
            }
        }
        Some(msg) => {
            let cfg = &sim.cfg;
            let policy_set = cfg.after_sb_0pri != shimai_replication::AfterSb0Pri::Disconnect
                || cfg.after_sb_1pri != shimai_replication::AfterSb1Pri::Disconnect
                || cfg.after_sb_2pri != shimai_replication::AfterSb2Pri::Disconnect;
            let discard = sim.nodes[0].discard_flag || sim.nodes[1].discard_flag;
            let ok = (msg.contains("after-sb policy") && policy_set)
                || (msg.contains("--discard-my-data") && discard)
                || msg.contains("disk states");
            if !ok {
                sim.fail(format!(
                    "node{n}: split brain resolved without a configured means: {msg}"
                ));
            }
        }
    }
}

/// Both nodes Connected, UpToDate on both sides, and nothing in flight anywhere.
pub fn converged(sim: &Sim) -> bool {
    (0..2).all(|n| {
        sim.core(n).is_some_and(|c| {
            let s = c.status();
            c.conn_state() == ConnState::Connected
                && c.disk_state() == DiskState::UpToDate
                && c.peer_disk_state() == DiskState::UpToDate
                && s.counters.lo == 0
                && s.counters.ap == 0
                && s.counters.pe == 0
                && s.counters.ua == 0
                && s.counters.ep == 1
        }) && sim.nodes[n].writes.is_empty()
            && sim.nodes[n].flushes.is_empty()
            && sim.nodes[n].ios.is_empty()
    }) && sim.links.iter().all(|l| l.is_empty())
        && sim.nodes[0].conn.is_some()
        && sim.nodes[0].conn == sim.nodes[1].conn
        && !sim.loss_pending()
}

/// Checks after every step.
pub fn after_step(sim: &mut Sim) {
    if sim.failure.is_some() {
        return;
    }
    // 3. Promised (flushed) data is never replaced by older data.
    for n in 0..2 {
        if sim.nodes[n].core.is_none() {
            continue;
        }
        for b in 0..BLOCKS as usize {
            let (have, promised) = (sim.nodes[n].disk.cur[b].tag, sim.nodes[n].promise[b]);
            if have < promised {
                return sim.fail(format!(
                    "node{n}: block {b} holds tag {have}, older than the flushed tag {promised}"
                ));
            }
        }
    }
    // 5. Both ends of one connection agree on the sync direction.
    let same_link = sim.nodes[0].conn.is_some() && sim.nodes[0].conn == sim.nodes[1].conn;
    if same_link {
        let side = |n: usize| {
            sim.core(n).map(|c| match c.conn_state() {
                ConnState::WFBitMapS | ConnState::SyncSource | ConnState::PausedSyncS => 1,
                ConnState::WFBitMapT
                | ConnState::WFSyncUUID
                | ConnState::SyncTarget
                | ConnState::PausedSyncT => -1,
                _ => 0,
            })
        };
        if let (Some(a), Some(b)) = (side(0), side(1)) {
            if a != 0 && a == b {
                return sim.fail(format!(
                    "both nodes chose to be sync {} on one connection",
                    if a > 0 { "source" } else { "target" }
                ));
            }
        }
    }
    // 4. Identical replicas whenever both are Connected, UpToDate and idle.
    if converged(sim) {
        for n in 0..2 {
            if sim.nodes[n].overruled {
                // What it wrote while overruled may just have been resynced away.
                sim.nodes[n].void();
            }
            sim.nodes[n].overruled = false;
            sim.nodes[n].discard_flag = false;
        }
        for b in 0..BLOCKS as usize {
            let (x, y) = (sim.nodes[0].disk.cur[b].tag, sim.nodes[1].disk.cur[b].tag);
            if x != y {
                return sim.fail(format!(
                    "replicas differ at block {b} (tags {x} and {y}) although both are UpToDate and idle"
                ));
            }
        }
    }
}
