//! Who has the good data: the generation-identifier comparison and the decision the handshake
//! derives from it (`reference/drbd.md` §1.8 and §1.10).
//!
//! Both nodes run [`sync_handshake`] on mirrored inputs and reach mirrored decisions (exactly one
//! of them holds `resolve_conflicts`, the tie-breaker); if the table would not mirror, both
//! drop the connection. It is a pure function so the rule table is tested as data
//! (`tests/data/uuid_compare.txt`, `tests/data/after_sb.txt`).
//!
//! shimai keeps DRBD 8.4's rules and numbers and adds four (52/72, 91/92) plus bitmap
//! identifiers in rule 100: with only two history slots, a node that opened several
//! generations would otherwise look unrelated to its peer. The additions only turn
//! "unrelated data" into a bitmap resync from the node that provably descends, or into a
//! split brain; they never merge silently.

use crate::config::{AfterSb0Pri, AfterSb1Pri, AfterSb2Pri, RrConflict};
use crate::gi::{masked, GenerationIds, UUID_JUST_CREATED, UUID_NEW_BM_OFFSET};
use crate::state::{DiskState, Role};

/// One side of the handshake as the comparison sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    pub gi: GenerationIds,
    pub role: Role,
    pub disk: DiskState,
    /// Set bits in this side's bitmap (`bits_set` of `P_UUIDS`).
    pub bits: u64,
    /// This side crashed while Primary (MDF_CRASHED_PRIMARY).
    pub crashed_primary: bool,
    /// This side connected with `--discard-my-data`.
    pub discard_my_data: bool,
}

/// The policies that apply at handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policies {
    pub after_sb_0pri: AfterSb0Pri,
    pub after_sb_1pri: AfterSb1Pri,
    pub after_sb_2pri: AfterSb2Pri,
    pub always_asbp: bool,
    pub rr_conflict: RrConflict,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            after_sb_0pri: AfterSb0Pri::Disconnect,
            after_sb_1pri: AfterSb1Pri::Disconnect,
            after_sb_2pri: AfterSb2Pri::Disconnect,
            always_asbp: false,
            rr_conflict: RrConflict::Disconnect,
        }
    }
}

/// Result of the identifier comparison alone (`drbd_uuid_compare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compare {
    /// 2/1 = SyncSource full/bitmap, 0 = in sync, -1/-2 = SyncTarget bitmap/full,
    /// 100 = split brain (auto-recoverable), -100 = split brain, -1000 = unrelated data.
    pub hg: i32,
    /// The rule that decided, as DRBD logs it.
    pub rule: u32,
    /// Rules 34 and 71 repair this node's identifiers (a lost resync-finished or sync UUID).
    pub fixed_self: Option<GenerationIds>,
    /// Rules 35 and 51 repair the peer's identifiers (the peer repairs its own mirror-wise).
    pub fixed_peer: Option<GenerationIds>,
}

/// `drbd_uuid_compare()`: the rule table of `reference/drbd.md` §1.8, in order.
pub fn uuid_compare(me: &Side, peer: &Side, resolve_conflicts: bool) -> Compare {
    let s = &me.gi;
    let p = &peer.gi;
    let out = |hg, rule| Compare {
        hg,
        rule,
        fixed_self: None,
        fixed_peer: None,
    };
    let self_cur = masked(s.current);
    let peer_cur = masked(p.current);
    if self_cur == UUID_JUST_CREATED && peer_cur == UUID_JUST_CREATED {
        return out(0, 10);
    }
    if (self_cur == UUID_JUST_CREATED || self_cur == 0) && peer_cur != UUID_JUST_CREATED {
        return out(-2, 20);
    }
    if self_cur != UUID_JUST_CREATED && (peer_cur == UUID_JUST_CREATED || peer_cur == 0) {
        return out(2, 30);
    }
    if self_cur == peer_cur {
        if p.bitmap == 0 && s.bitmap != 0 {
            // I was SyncSource and missed the end of the resync: rotate as it would have.
            if masked(s.bitmap) == masked(p.history[0])
                && masked(s.history[0]) == masked(p.history[1])
            {
                let mut fixed = *s;
                fixed.history[1] = fixed.history[0];
                fixed.history[0] = fixed.bitmap;
                fixed.bitmap = 0;
                return Compare {
                    fixed_self: Some(fixed),
                    ..out(1, 34)
                };
            }
            return out(1, 36);
        }
        if s.bitmap == 0 && p.bitmap != 0 {
            if masked(s.history[0]) == masked(p.bitmap)
                && masked(s.history[1]) == masked(p.history[0])
            {
                let mut fixed = *p;
                fixed.history[1] = fixed.history[0];
                fixed.history[0] = fixed.bitmap;
                fixed.bitmap = 0;
                return Compare {
                    fixed_peer: Some(fixed),
                    ..out(-1, 35)
                };
            }
            return out(-1, 37);
        }
        // Equal current identifiers and no bitmap generation: a power failure or a link hiccup.
        let rct = u8::from(me.crashed_primary) + 2 * u8::from(peer.crashed_primary);
        if rct == 0 {
            return out(0, 40);
        }
        if me.role == Role::Primary || peer.role == Role::Primary {
            if me.role == Role::Primary && peer.role == Role::Primary {
                return out(-100, 41);
            }
            return out(if me.role == Role::Primary { 1 } else { -1 }, 41);
        }
        let hg = match rct {
            1 => 1,
            2 => -1,
            _ => {
                if resolve_conflicts {
                    -1
                } else {
                    1
                }
            }
        };
        return out(hg, 40);
    }
    if self_cur == masked(p.bitmap) {
        return out(-1, 50);
    }
    if self_cur == masked(p.history[0])
        && masked(p.history[0]).wrapping_add(UUID_NEW_BM_OFFSET) == masked(p.bitmap)
    {
        // The peer started a resync as source but its sync UUID never reached me: undo its
        // rotation and sync from its bitmap.
        let mut fixed = *p;
        fixed.bitmap = fixed.history[0];
        fixed.history[0] = fixed.history[1];
        return Compare {
            fixed_peer: Some(fixed),
            ..out(-1, 51)
        };
    }
    // shimai extension (rules 52/72): the peer's bitmap identifier is the sync UUID it derived
    // from my current one, and its history no longer shows my current (it moved on since).
    if self_cur.wrapping_add(UUID_NEW_BM_OFFSET) == masked(p.bitmap) {
        return out(-1, 52);
    }
    if p.history.iter().any(|&h| masked(h) == self_cur) {
        return out(-2, 60);
    }
    if masked(s.bitmap) == peer_cur {
        return out(1, 70);
    }
    if masked(s.history[0]) == peer_cur
        && peer_cur.wrapping_add(UUID_NEW_BM_OFFSET) == masked(s.bitmap)
    {
        let mut fixed = *s;
        fixed.bitmap = fixed.history[0];
        fixed.history[0] = fixed.history[1];
        return Compare {
            fixed_self: Some(fixed),
            ..out(1, 71)
        };
    }
    if peer_cur.wrapping_add(UUID_NEW_BM_OFFSET) == masked(s.bitmap) {
        return out(1, 72);
    }
    if s.history.iter().any(|&h| masked(h) == peer_cur) {
        return out(2, 80);
    }
    if masked(s.bitmap) == masked(p.bitmap) && masked(s.bitmap) != 0 {
        return out(100, 90);
    }
    // shimai extension (rules 91/92): rule 90 after one side started a resync as source and
    // its sync UUID never reached the other (as rules 51/71 for the bitmap cases). Undo the
    // rotation and report the split brain rule 90 would have found.
    if masked(s.bitmap) != 0
        && masked(s.bitmap) == masked(p.history[0])
        && masked(p.history[0]).wrapping_add(UUID_NEW_BM_OFFSET) == masked(p.bitmap)
    {
        let mut fixed = *p;
        fixed.bitmap = fixed.history[0];
        fixed.history[0] = fixed.history[1];
        return Compare {
            fixed_peer: Some(fixed),
            ..out(100, 91)
        };
    }
    if masked(p.bitmap) != 0
        && masked(p.bitmap) == masked(s.history[0])
        && masked(s.history[0]).wrapping_add(UUID_NEW_BM_OFFSET) == masked(s.bitmap)
    {
        let mut fixed = *s;
        fixed.bitmap = fixed.history[0];
        fixed.history[0] = fixed.history[1];
        return Compare {
            fixed_self: Some(fixed),
            ..out(100, 92)
        };
    }
    // Rule 100 compares histories; shimai counts the bitmap identifiers as history too, so
    // two nodes that both moved on (history shifted out of two slots) still show as related
    // (split brain) rather than unrelated.
    let older = |g: &GenerationIds| [g.bitmap, g.history[0], g.history[1]];
    for a in older(s) {
        for b in older(p) {
            if masked(a) != 0 && masked(a) != UUID_JUST_CREATED && masked(a) == masked(b) {
                return out(-100, 100);
            }
        }
    }
    out(-1000, 0)
}

/// A handler (drbd.conf `handlers {}`) the daemon should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handler {
    InitialSplitBrain,
    SplitBrain,
    PriLost,
    PriLostAfterSb,
    FencePeer,
    OutOfSync,
    /// The backing device failed an I/O (`on-io-error call-local-io-error`).
    LocalIoError,
}

impl Handler {
    /// The handler's drbd.conf name.
    pub fn name(self) -> &'static str {
        match self {
            Handler::InitialSplitBrain => "initial-split-brain",
            Handler::SplitBrain => "split-brain",
            Handler::PriLost => "pri-lost",
            Handler::PriLostAfterSb => "pri-lost-after-sb",
            Handler::FencePeer => "fence-peer",
            Handler::OutOfSync => "out-of-sync",
            Handler::LocalIoError => "local-io-error",
        }
    }
}

/// Why the handshake drops the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// No identifier in common: "Unrelated data, aborting!".
    UnrelatedData,
    /// "Split-Brain detected but unresolved, dropping connection!"
    SplitBrain,
    /// "I shall become SyncSource, but I am inconsistent!"
    InconsistentSource,
    /// "I shall become SyncTarget, but I am primary!" (`rr-conflict disconnect`).
    RrConflict,
    /// The identifiers relate both ways (each node looks newer to one of the rules), so the
    /// two nodes would not reach mirrored verdicts. Never seen with random identifiers; an
    /// operator must pick the good copy (`--discard-my-data`, `invalidate`).
    Contradictory,
}

/// What the handshake decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// After post-processing: as [`Compare::hg`], or `None` when the connection drops.
    pub hg: Option<i32>,
    pub drop: Option<DropReason>,
    /// The rule of the identifier comparison and its raw result.
    pub compare: Compare,
    /// Handlers to call, in order.
    pub handlers: Vec<Handler>,
    /// A split brain was resolved: by which means (for the log).
    pub split_brain_resolved: Option<&'static str>,
    /// This Primary lost the split brain (`call-pri-lost-after-sb`) and must demote.
    pub demote: bool,
}

/// `drbd_sync_handshake()`: the comparison plus disk states, after-sb policies,
/// `--discard-my-data` and `rr-conflict`.
pub fn sync_handshake(me: &Side, peer: &Side, resolve_conflicts: bool, pol: &Policies) -> Decision {
    let compare = uuid_compare(me, peer, resolve_conflicts);
    let mut d = Decision {
        hg: None,
        drop: None,
        compare,
        handlers: Vec::new(),
        split_brain_resolved: None,
        demote: false,
    };
    let mut hg = compare.hg;
    let (mydisk, peerdisk) = (me.disk, peer.disk);
    let one_inconsistent = (mydisk == DiskState::Inconsistent
        && peerdisk > DiskState::Inconsistent)
        || (peerdisk == DiskState::Inconsistent && mydisk > DiskState::Inconsistent);
    if hg == -1000 {
        if !one_inconsistent {
            d.drop = Some(DropReason::UnrelatedData);
            return d;
        }
        // shimai: an Inconsistent node holds nothing to protect; whatever its identifiers say
        // (its history may have been shifted out), a full sync from the good node is safe.
        hg = -2;
    }
    // Both nodes evaluate the table from their own side; the rule order is not symmetric, so
    // a verdict that does not mirror would make both sources (or both targets).
    let mirror = uuid_compare(peer, me, !resolve_conflicts).hg;
    let raw = compare.hg;
    let agree = mirror == -raw
        || (raw.abs() == 100 && mirror.abs() == 100)
        || (raw == -1000 && mirror == -1000);
    if !agree {
        d.drop = Some(DropReason::Contradictory);
        return d;
    }
    if one_inconsistent {
        let full = hg == -100 || hg.abs() == 2;
        hg = if mydisk > DiskState::Inconsistent {
            1
        } else {
            -1
        };
        if full {
            hg *= 2;
        }
        if compare.hg.abs() == 100 {
            // Nothing is lost: the Inconsistent side holds no usable data.
            d.split_brain_resolved = Some("disk states (one side Inconsistent)");
        }
    }
    if hg.abs() == 100 {
        d.handlers.push(Handler::InitialSplitBrain);
    }
    if hg == 100 || (hg == -100 && pol.always_asbp) {
        let primaries = u8::from(me.role == Role::Primary) + u8::from(peer.role == Role::Primary);
        let forced = hg == -100;
        let (r, demote) = match primaries {
            0 => (
                recover_0p(me, peer, resolve_conflicts, pol.after_sb_0pri),
                false,
            ),
            1 => recover_1p(me, peer, resolve_conflicts, pol),
            _ => recover_2p(me, peer, resolve_conflicts, pol),
        };
        hg = r;
        if hg.abs() < 100 {
            d.split_brain_resolved = Some("after-sb policy");
            d.demote = demote;
            if demote {
                d.handlers.push(Handler::PriLostAfterSb);
            }
            if forced {
                hg *= 2;
            }
        }
    }
    if hg == -100 {
        if me.discard_my_data && !peer.discard_my_data {
            hg = -1;
        }
        if !me.discard_my_data && peer.discard_my_data {
            hg = 1;
        }
        if hg.abs() < 100 {
            d.split_brain_resolved = Some("--discard-my-data");
        }
    }
    if hg.abs() == 100 {
        d.handlers.push(Handler::SplitBrain);
        d.drop = Some(DropReason::SplitBrain);
        return d;
    }
    if hg > 0 && mydisk <= DiskState::Inconsistent {
        d.drop = Some(DropReason::InconsistentSource);
        return d;
    }
    if hg < 0 && me.role == Role::Primary && me.disk >= DiskState::Consistent && !d.demote {
        match pol.rr_conflict {
            RrConflict::Disconnect => {
                d.drop = Some(DropReason::RrConflict);
                return d;
            }
            RrConflict::CallPriLost => {
                d.handlers.push(Handler::PriLost);
                d.drop = Some(DropReason::RrConflict);
                return d;
            }
            RrConflict::Violently => {}
        }
    }
    d.hg = Some(hg);
    d
}

/// `drbd_asb_recover_0p`: -1 = discard my data, 1 = discard the peer's, -100 = unresolved.
fn recover_0p(me: &Side, peer: &Side, resolve_conflicts: bool, policy: AfterSb0Pri) -> i32 {
    // Bit 0 of the bitmap identifier: this node was Primary when the split happened.
    let self_pri = me.gi.bitmap & 1;
    let peer_pri = peer.gi.bitmap & 1;
    let (ch_self, ch_peer) = (me.bits, peer.bits);
    let tie = if resolve_conflicts { -1 } else { 1 };
    let least = || match ch_self.cmp(&ch_peer) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Greater => 1,
        std::cmp::Ordering::Equal => tie,
    };
    let zero = || {
        if ch_self == 0 && ch_peer == 0 {
            Some(tie)
        } else if ch_peer == 0 {
            Some(1)
        } else if ch_self == 0 {
            Some(-1)
        } else {
            None
        }
    };
    match policy {
        AfterSb0Pri::Disconnect => -100,
        AfterSb0Pri::DiscardLocal => -1,
        AfterSb0Pri::DiscardRemote => 1,
        AfterSb0Pri::DiscardZeroChanges => zero().unwrap_or(-100),
        AfterSb0Pri::DiscardLeastChanges => zero().unwrap_or_else(least),
        AfterSb0Pri::DiscardYoungerPrimary | AfterSb0Pri::DiscardOlderPrimary => {
            let younger = policy == AfterSb0Pri::DiscardYoungerPrimary;
            match (self_pri, peer_pri) {
                (0, 1) => {
                    if younger {
                        -1
                    } else {
                        1
                    }
                }
                (1, 0) => {
                    if younger {
                        1
                    } else {
                        -1
                    }
                }
                // Undecided: DRBD falls through to discard-zero-changes, then least-changes.
                _ => zero().unwrap_or_else(least),
            }
        }
    }
}

fn recover_1p(me: &Side, peer: &Side, rc: bool, pol: &Policies) -> (i32, bool) {
    let am_primary = me.role == Role::Primary;
    match pol.after_sb_1pri {
        AfterSb1Pri::Disconnect => (-100, false),
        AfterSb1Pri::Consensus => {
            let hg = recover_0p(me, peer, rc, pol.after_sb_0pri);
            // Only accept the 0pri verdict when it discards the Secondary.
            if (hg == -1 && !am_primary) || (hg == 1 && am_primary) {
                (hg, false)
            } else {
                (-100, false)
            }
        }
        AfterSb1Pri::ViolentlyAs0p => (recover_0p(me, peer, rc, pol.after_sb_0pri), false),
        AfterSb1Pri::DiscardSecondary => (if am_primary { 1 } else { -1 }, false),
        AfterSb1Pri::CallPriLostAfterSb => {
            let hg = recover_0p(me, peer, rc, pol.after_sb_0pri);
            (hg, hg == -1 && am_primary)
        }
    }
}

fn recover_2p(me: &Side, peer: &Side, rc: bool, pol: &Policies) -> (i32, bool) {
    match pol.after_sb_2pri {
        AfterSb2Pri::Disconnect => (-100, false),
        AfterSb2Pri::ViolentlyAs0p => (recover_0p(me, peer, rc, pol.after_sb_0pri), false),
        AfterSb2Pri::CallPriLostAfterSb => {
            let hg = recover_0p(me, peer, rc, pol.after_sb_0pri);
            (hg, hg == -1)
        }
    }
}

/// The sync UUID a SyncSource generates at resync start (`drbd_gen_and_send_sync_uuid`).
pub fn next_sync_uuid(bitmap: u64, fresh: u64) -> u64 {
    if bitmap == 0 || bitmap == UUID_JUST_CREATED {
        fresh
    } else {
        bitmap.wrapping_add(UUID_NEW_BM_OFFSET)
    }
}
