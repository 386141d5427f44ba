//! Behaviour of the core driven by hand: each test controls exactly which disk operations
//! complete and which messages arrive, to pin the completion points and state rules.

use std::collections::VecDeque;

use shimai_replication::wire::Msg;
use shimai_replication::{
    Action, AdminCmd, ConnState, Core, DiskResult, DiskState, Error, Event, Handler, IoId, MdFlags,
    Persisted, Protocol, ResourceConfig, Role,
};

const SIZE: u64 = 32 << 20;

/// A client reply seen by the test: node, request id, result.
type Reply = (usize, u64, Result<Option<Vec<u8>>, Error>);

/// Two cores with hand-driven disks and links.
struct Pair {
    nodes: [Core; 2],
    disks: [Vec<u8>; 2],
    /// Disk operations issued and not completed, per node, in issue order.
    ios: [VecDeque<Action>; 2],
    /// Messages on their way to node i.
    inbox: [VecDeque<Msg>; 2],
    replies: Vec<Reply>,
    actions: [Vec<Action>; 2],
    up: bool,
}

impl Pair {
    fn new(cfg: ResourceConfig) -> Pair {
        Pair {
            nodes: [
                Core::new(cfg.clone(), Some(Persisted::just_created(SIZE)), 11),
                Core::new(cfg, Some(Persisted::just_created(SIZE)), 22),
            ],
            disks: [vec![0; SIZE as usize], vec![0; SIZE as usize]],
            ios: [VecDeque::new(), VecDeque::new()],
            inbox: [VecDeque::new(), VecDeque::new()],
            replies: Vec::new(),
            actions: [Vec::new(), Vec::new()],
            up: false,
        }
    }

    /// Connected, both UpToDate (initial sync skipped), node 0 Primary.
    fn ready(cfg: ResourceConfig) -> Pair {
        let mut p = Pair::new(cfg);
        p.connect();
        p.admin(0, AdminCmd::NewCurrentUuid { clear_bitmap: true })
            .unwrap();
        p.settle();
        p.admin(0, AdminCmd::Primary { force: false }).unwrap();
        p.settle();
        assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate);
        p
    }

    fn handle(&mut self, n: usize, ev: Event) {
        self.nodes[n].handle(ev).unwrap();
        self.collect(n);
    }

    fn admin(&mut self, n: usize, cmd: AdminCmd) -> Result<(), Error> {
        let r = self.nodes[n].handle(Event::Admin(cmd));
        self.collect(n);
        r
    }

    fn collect(&mut self, n: usize) {
        while let Some(a) = self.nodes[n].poll_action() {
            match &a {
                Action::Write { .. }
                | Action::Read { .. }
                | Action::Trim { .. }
                | Action::Flush { .. }
                | Action::PersistAl { .. } => self.ios[n].push_back(a.clone()),
                Action::Send(m) if self.up => self.inbox[1 - n].push_back(m.clone()),
                Action::Reply { id, result } => self.replies.push((n, *id, result.clone())),
                _ => {}
            }
            self.actions[n].push(a);
        }
    }

    fn connect(&mut self) {
        for n in 0..2 {
            self.admin(
                n,
                AdminCmd::Connect {
                    discard_my_data: false,
                },
            )
            .unwrap();
        }
        self.transport_up();
    }

    fn transport_up(&mut self) {
        self.up = true;
        for n in 0..2 {
            self.handle(
                n,
                Event::Connected {
                    resolve_conflicts: n == 0,
                    challenge: vec![n as u8 + 1; 32],
                },
            );
        }
        self.settle();
    }

    fn cut(&mut self) {
        self.up = false;
        self.inbox = [VecDeque::new(), VecDeque::new()];
        for n in 0..2 {
            self.handle(n, Event::ConnectionLost);
        }
    }

    /// Completes node n's oldest disk operation.
    fn complete_one(&mut self, n: usize) -> bool {
        let Some(a) = self.ios[n].pop_front() else {
            return false;
        };
        let (io, result): (IoId, DiskResult) = match a {
            Action::Write {
                io, offset, data, ..
            } => {
                let o = offset as usize;
                self.disks[n][o..o + data.len()].copy_from_slice(&data);
                (io, DiskResult::Done)
            }
            Action::Read { io, offset, len } => (
                io,
                DiskResult::Data(self.disks[n][offset as usize..(offset + len) as usize].to_vec()),
            ),
            Action::Trim { io, .. } | Action::Flush { io } | Action::PersistAl { io, .. } => {
                (io, DiskResult::Done)
            }
            _ => unreachable!("only disk operations are queued"),
        };
        self.handle(n, Event::DiskDone { io, result });
        true
    }

    fn complete_all(&mut self, n: usize) {
        while self.complete_one(n) {}
    }

    fn deliver_all(&mut self, n: usize) -> usize {
        let mut count = 0;
        while let Some(m) = self.inbox[n].pop_front() {
            self.handle(n, Event::Received(m));
            count += 1;
        }
        count
    }

    fn settle(&mut self) {
        loop {
            let mut busy = false;
            for n in 0..2 {
                busy |= self.deliver_all(n) > 0;
                while self.complete_one(n) {
                    busy = true;
                }
            }
            if !busy {
                return;
            }
        }
    }

    fn tick(&mut self, now_ms: u64) {
        for n in 0..2 {
            self.handle(
                n,
                Event::Tick {
                    now_ms,
                    entropy: now_ms,
                },
            );
        }
    }

    fn write(&mut self, n: usize, id: u64, block: u64, byte: u8) {
        self.handle(
            n,
            Event::Write {
                id,
                offset: block * 4096,
                data: vec![byte; 4096],
                fua: false,
            },
        );
    }

    fn replied(&self, id: u64) -> bool {
        self.replies.iter().any(|r| r.1 == id)
    }
}

fn cfg(protocol: Protocol) -> ResourceConfig {
    let mut c = ResourceConfig::new(SIZE);
    c.protocol = protocol;
    c.verify_alg = Some("sha256".into());
    // Fast resync so the 32 MiB device syncs in a few simulated seconds.
    c.resync_rate_kib = 100_000;
    c
}

#[test]
fn protocol_c_answers_after_the_peer_wrote() {
    let mut p = Pair::ready(cfg(Protocol::C));
    p.write(0, 1, 3, 0xaa);
    p.complete_all(0); // AL transaction, then the local write
    assert!(
        !p.replied(1),
        "local completion alone is not enough under C"
    );
    p.deliver_all(1);
    p.deliver_all(0);
    assert!(!p.replied(1), "receipt alone is not enough under C");
    p.complete_all(1);
    p.deliver_all(0);
    assert!(p.replied(1));
    assert_eq!(p.disks[1][3 * 4096], 0xaa);
}

#[test]
fn protocol_b_answers_after_the_peer_received() {
    let mut p = Pair::ready(cfg(Protocol::B));
    p.write(0, 1, 3, 0xbb);
    p.complete_all(0);
    assert!(!p.replied(1));
    p.deliver_all(1);
    p.deliver_all(0);
    assert!(p.replied(1), "B: answered on the receive-ack");
    assert_eq!(p.disks[1][3 * 4096], 0, "before the peer's disk has it");
}

#[test]
fn protocol_a_answers_after_local_completion_and_queueing() {
    let mut p = Pair::ready(cfg(Protocol::A));
    p.write(0, 1, 3, 0xcc);
    p.complete_one(0); // the AL transaction
    assert!(
        p.inbox[1]
            .iter()
            .any(|m| matches!(m, Msg::Data { seq: _, .. })),
        "queued for the peer"
    );
    p.complete_all(0);
    assert!(p.replied(1), "A: answered without hearing from the peer");
}

#[test]
fn local_completion_is_always_required() {
    for protocol in [Protocol::A, Protocol::B, Protocol::C] {
        let mut p = Pair::ready(cfg(protocol));
        p.write(0, 1, 5, 1);
        p.complete_one(0); // only the AL transaction
        p.settle_peer_only();
        assert!(
            !p.replied(1),
            "{protocol}: answered before the local disk completed"
        );
    }
}

impl Pair {
    fn settle_peer_only(&mut self) {
        for _ in 0..4 {
            self.deliver_all(1);
            self.complete_all(1);
            self.deliver_all(0);
        }
    }
}

#[test]
fn activity_log_transaction_precedes_the_first_write_into_an_extent() {
    let mut p = Pair::ready(cfg(Protocol::C));
    p.write(0, 1, 0, 1);
    let first = p.ios[0].front().cloned();
    assert!(matches!(first, Some(Action::PersistAl { .. })), "{first:?}");
    assert_eq!(
        p.ios[0].len(),
        1,
        "the data write waits for the AL transaction"
    );
    p.complete_one(0);
    assert!(matches!(p.ios[0].front(), Some(Action::Write { .. })));
    p.settle();
    // A second write into the same (now hot) extent needs no transaction.
    p.write(0, 2, 1, 2);
    assert!(matches!(p.ios[0].front(), Some(Action::Write { .. })));
}

#[test]
fn flush_waits_for_the_peer_barrier_ack_under_c_but_not_a() {
    for (protocol, waits) in [(Protocol::C, true), (Protocol::A, false)] {
        let mut p = Pair::ready(cfg(protocol));
        p.write(0, 1, 2, 7);
        p.settle();
        p.handle(0, Event::Flush { id: 2 });
        assert!(
            p.inbox[1].iter().any(|m| matches!(m, Msg::Barrier { .. })),
            "the flush closes the epoch"
        );
        p.complete_all(0);
        assert_eq!(p.replied(2), !waits, "{protocol}");
        p.settle();
        assert!(p.replied(2));
        let peer_flushed = p.actions[1]
            .iter()
            .any(|a| matches!(a, Action::Flush { .. }));
        assert!(
            peer_flushed,
            "the Secondary flushes before acking the barrier"
        );
    }
}

#[test]
fn disconnected_primary_completes_locally_marks_the_bitmap_and_opens_a_generation() {
    let mut p = Pair::ready(cfg(Protocol::C));
    let before = p.nodes[0].generation_ids();
    p.cut();
    assert_eq!(p.nodes[0].conn_state(), ConnState::WFConnection);
    let after = p.nodes[0].generation_ids();
    assert_ne!(after.current, before.current);
    assert_eq!(
        after.bitmap, before.current,
        "the bitmap tracks changes since the split"
    );
    p.write(0, 9, 4, 4);
    p.complete_all(0);
    assert!(p.replied(9));
    assert!(p.nodes[0].bitmap().get(4));
    // Reconnect: node 0 is SyncSource by rule 70 and only block 4 moves.
    p.transport_up();
    p.tick(100);
    p.settle();
    for t in 1..20 {
        p.tick(100 + t * 100);
        p.settle();
    }
    assert_eq!(p.nodes[1].conn_state(), ConnState::Connected);
    assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate);
    assert_eq!(p.disks[1][4 * 4096], 4);
    assert_eq!(p.nodes[0].generation_ids(), {
        let mut g = p.nodes[1].generation_ids();
        g.current |= 1; // the Primary's "was primary" bit
        g
    });
}

#[test]
fn unacknowledged_writes_go_into_the_bitmap_when_the_peer_is_lost() {
    let mut p = Pair::ready(cfg(Protocol::C));
    p.write(0, 1, 6, 6);
    p.complete_all(0);
    assert!(!p.replied(1));
    p.cut();
    assert!(p.replied(1), "completed locally once the peer is gone");
    assert!(p.nodes[0].bitmap().get(6));
}

#[test]
fn refusals_are_typed() {
    let mut p = Pair::new(cfg(Protocol::C));
    let e = p.admin(0, AdminCmd::Primary { force: false }).unwrap_err();
    assert!(matches!(
        e,
        Error::NeedsForce {
            disk: DiskState::Inconsistent
        }
    ));
    assert_eq!(e.exit_code(), 17);
    p.handle(
        1,
        Event::Write {
            id: 5,
            offset: 0,
            data: vec![0; 512],
            fua: false,
        },
    );
    assert!(matches!(
        p.replies.last(),
        Some((1, 5, Err(Error::NotPrimary)))
    ));

    let mut p = Pair::ready(cfg(Protocol::C));
    assert_eq!(
        p.admin(1, AdminCmd::Primary { force: false }),
        Err(Error::PeerIsPrimary)
    );
    assert!(matches!(
        p.admin(0, AdminCmd::Outdate),
        Err(Error::WrongRole { .. })
    ));
    let mut no_verify = cfg(Protocol::C);
    no_verify.verify_alg = None;
    let mut q = Pair::ready(no_verify);
    assert_eq!(q.admin(0, AdminCmd::Verify), Err(Error::NoVerifyAlg));
    // Out of range and unaligned requests.
    p.handle(
        0,
        Event::Write {
            id: 6,
            offset: SIZE,
            data: vec![0; 512],
            fua: false,
        },
    );
    p.handle(
        0,
        Event::Write {
            id: 7,
            offset: 100,
            data: vec![0; 512],
            fua: false,
        },
    );
    assert!(p
        .replies
        .iter()
        .filter(|r| r.1 == 6 || r.1 == 7)
        .all(|r| matches!(r.2, Err(Error::OutOfRange { .. }))));
}

#[test]
fn split_brain_without_policy_ends_standalone_with_the_handler() {
    let mut p = Pair::ready(cfg(Protocol::C));
    p.cut();
    p.admin(0, AdminCmd::Secondary).unwrap();
    p.admin(1, AdminCmd::Primary { force: false }).unwrap();
    p.write(1, 1, 8, 8);
    p.complete_all(1);
    p.admin(1, AdminCmd::Secondary).unwrap();
    p.admin(0, AdminCmd::Primary { force: false }).unwrap();
    p.write(0, 2, 9, 9);
    p.complete_all(0);
    p.transport_up();
    for n in 0..2 {
        assert_eq!(p.nodes[n].conn_state(), ConnState::StandAlone, "node{n}");
        assert!(p.actions[n].contains(&Action::CallHandler(Handler::SplitBrain)));
    }
    assert_eq!(p.disks[0][8 * 4096], 0, "nothing merged");
    assert_eq!(p.disks[1][9 * 4096], 0, "nothing merged");
    // The operator discards node 1's changes.
    p.admin(1, AdminCmd::Secondary).unwrap();
    p.admin(
        1,
        AdminCmd::Connect {
            discard_my_data: true,
        },
    )
    .unwrap();
    p.admin(
        0,
        AdminCmd::Connect {
            discard_my_data: false,
        },
    )
    .unwrap();
    p.transport_up();
    for t in 1..40 {
        p.tick(t * 100);
        p.settle();
    }
    assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate);
    assert_eq!(p.disks[1][9 * 4096], 9);
    assert_eq!(
        p.disks[1][8 * 4096],
        0,
        "node 1's split-brain write was discarded"
    );
}

#[test]
fn authentication_failure_goes_standalone() {
    let mut a = cfg(Protocol::C);
    a.shared_secret = Some(b"one".to_vec());
    let mut p = Pair::new(a.clone());
    let mut b = a.clone();
    b.shared_secret = Some(b"two".to_vec());
    p.nodes[1] = Core::new(b, Some(Persisted::just_created(SIZE)), 5);
    p.connect();
    for n in 0..2 {
        assert_eq!(p.nodes[n].conn_state(), ConnState::StandAlone);
    }
    // Same secret: connects.
    let mut p = Pair::new(a);
    p.connect();
    assert_eq!(p.nodes[0].conn_state(), ConnState::Connected);
}

#[test]
fn crashed_primary_marks_its_activity_log_out_of_sync() {
    let mut flags = MdFlags::default();
    flags.set(MdFlags::CONSISTENT, true);
    flags.set(MdFlags::WAS_UP_TO_DATE, true);
    flags.set(MdFlags::PRIMARY_IND, true);
    let mut persisted = Persisted::just_created(SIZE);
    persisted.flags = flags;
    persisted.gi.current = 0x1230;
    persisted.al = vec![2, 5];
    let core = Core::new(cfg(Protocol::C), Some(persisted), 1);
    let bits_per_extent = (4 << 20) / 4096;
    assert_eq!(core.bitmap().count(), 2 * bits_per_extent);
    assert!(core.bitmap().get(2 * bits_per_extent));
    assert!(!core.bitmap().get(0));
    assert_eq!(core.disk_state(), DiskState::Consistent);
}

#[test]
fn initial_full_sync_by_forced_primary_is_rate_limited() {
    let mut c = cfg(Protocol::C);
    c.c_plan_ahead_ds = 0; // a fixed rate
    c.resync_rate_kib = 4096; // 4 MiB/s over a 32 MiB device: 8 s
    let mut p = Pair::new(c);
    p.connect();
    p.admin(0, AdminCmd::Primary { force: true }).unwrap();
    p.settle();
    assert_eq!(p.nodes[0].conn_state(), ConnState::SyncSource);
    assert_eq!(p.nodes[1].conn_state(), ConnState::SyncTarget);
    for t in 1..=20 {
        p.tick(t * 100);
        p.settle();
    }
    let st = p.nodes[1].status();
    let progress = st.resync.expect("resync in progress");
    let done = progress.total_kib - progress.left_kib;
    // 2 s at 4 MiB/s is about 8 MiB (plus one burst).
    assert!((7_000..=9_500).contains(&done), "synced {done} KiB in 2 s");
    p.admin(1, AdminCmd::PauseSync).unwrap();
    p.settle();
    assert_eq!(p.nodes[1].conn_state(), ConnState::PausedSyncT);
    assert_eq!(p.nodes[0].conn_state(), ConnState::PausedSyncS);
    p.admin(1, AdminCmd::ResumeSync).unwrap();
    for t in 21..=200 {
        p.tick(t * 100);
        p.settle();
    }
    assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate);
    assert_eq!(p.nodes[0].peer_disk_state(), DiskState::UpToDate);
    assert_eq!(p.nodes[0].generation_ids().bitmap, 0);
}

#[test]
fn online_verify_counts_and_marks_differences() {
    let mut p = Pair::ready(cfg(Protocol::C));
    // Corrupt block 10 on the Secondary behind the core's back.
    p.disks[1][10 * 4096] = 0xee;
    p.admin(1, AdminCmd::Verify).unwrap();
    for t in 1..=200 {
        p.tick(t * 100);
        p.settle();
    }
    assert_eq!(p.nodes[1].conn_state(), ConnState::Connected);
    assert_eq!(p.nodes[1].status().verify_oos_kib, 4);
    assert!(p.nodes[1].bitmap().get(10));
    assert!(p.nodes[0].bitmap().get(10));
    assert!(p.actions[1].contains(&Action::CallHandler(Handler::OutOfSync)));
}

#[test]
fn invalidate_resyncs_everything_from_the_peer() {
    let mut p = Pair::ready(cfg(Protocol::C));
    p.write(0, 1, 1, 1);
    p.settle();
    p.disks[1][4096 + 1] = 0x55; // damage the Secondary's copy
    p.admin(1, AdminCmd::Invalidate).unwrap();
    for t in 1..=300 {
        p.tick(t * 100);
        p.settle();
    }
    assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate);
    assert_eq!(p.disks[1][4096 + 1], 1);
    assert_eq!(p.nodes[1].role(), Role::Secondary);
}

#[test]
fn state_changes_print_as_drbd_logs_them() {
    let mut p = Pair::new(cfg(Protocol::C));
    p.connect();
    let lines: Vec<String> = p.actions[0]
        .iter()
        .filter_map(|a| match a {
            Action::Notify(c) => Some(c.to_string()),
            _ => None,
        })
        .collect();
    assert!(lines.contains(&"conn( StandAlone -> Unconnected )".to_string()));
    assert!(lines.contains(&"conn( WFConnection -> WFReportParams )".to_string()));
    assert!(lines.contains(&"conn( WFReportParams -> Connected )".to_string()));
    assert!(lines.contains(&"pdsk( DUnknown -> Inconsistent )".to_string()));
}

#[test]
fn status_counts_like_proc_drbd() {
    let mut p = Pair::ready(cfg(Protocol::C));
    p.write(0, 1, 0, 1);
    p.complete_one(0);
    let s = p.nodes[0].status();
    assert_eq!(s.counters.ap, 1, "one application request pending");
    assert_eq!(s.counters.lo, 1, "its local write is pending");
    assert_eq!(s.counters.pe, 1, "sent and not yet acknowledged");
    p.settle();
    let s = p.nodes[0].status();
    assert_eq!((s.counters.ap, s.counters.lo), (0, 0));
    assert_eq!(s.counters.ns, 4);
    assert_eq!(p.nodes[1].status().counters.nr, 4);
    assert_eq!(s.counters.al, 1);
}

#[test]
fn fencing_resource_and_stonith_freezes_io_until_the_handler_answers() {
    let mut c = cfg(Protocol::C);
    c.fencing = shimai_replication::Fencing::ResourceAndStonith;
    let mut p = Pair::ready(c);
    p.cut();
    assert!(p.actions[0].contains(&Action::CallHandler(Handler::FencePeer)));
    assert!(p.nodes[0].status().suspended);
    p.write(0, 1, 2, 2);
    assert!(p.ios[0].is_empty() && !p.replied(1), "frozen");
    p.handle(
        0,
        Event::HandlerDone {
            handler: Handler::FencePeer,
            exit_code: 4,
        },
    );
    assert_eq!(p.nodes[0].peer_disk_state(), DiskState::Outdated);
    p.complete_all(0);
    assert!(p.replied(1), "thawed and completed locally");
}

#[test]
fn a_silent_peer_is_declared_dead_after_the_ping_timeout() {
    let mut p = Pair::ready(cfg(Protocol::C));
    p.up = false; // the link goes silent without either side seeing it break
    p.tick(20_000); // ping-int (10 s) passed: ping
    assert!(p.actions[0].contains(&Action::Send(Msg::Ping)));
    p.tick(20_400);
    assert!(
        p.nodes[0].conn_state().is_connected(),
        "within ping-timeout"
    );
    p.tick(20_600);
    assert_eq!(p.nodes[0].conn_state(), ConnState::WFConnection);
}

#[test]
fn no_common_protocol_version_goes_standalone() {
    let mut p = Pair::new(cfg(Protocol::C));
    p.admin(
        0,
        AdminCmd::Connect {
            discard_my_data: false,
        },
    )
    .unwrap();
    p.handle(
        0,
        Event::Connected {
            resolve_conflicts: true,
            challenge: vec![1; 32],
        },
    );
    p.handle(
        0,
        Event::Received(Msg::Hello {
            min_version: 7,
            max_version: 9,
            features: 0,
        }),
    );
    assert_eq!(p.nodes[0].conn_state(), ConnState::StandAlone);
}

#[test]
fn trim_and_fua_travel_to_the_peer() {
    let mut p = Pair::ready(cfg(Protocol::C));
    p.handle(
        0,
        Event::Trim {
            id: 1,
            offset: 8192,
            len: 8192,
        },
    );
    p.handle(
        0,
        Event::Write {
            id: 2,
            offset: 0,
            data: vec![3; 4096],
            fua: true,
        },
    );
    p.settle();
    assert!(p.replied(1) && p.replied(2));
    let peer_ops: Vec<&Action> = p.actions[1]
        .iter()
        .filter(|a| matches!(a, Action::Trim { .. } | Action::Write { .. }))
        .collect();
    assert!(peer_ops.iter().any(|a| matches!(
        a,
        Action::Trim {
            offset: 8192,
            len: 8192,
            ..
        }
    )));
    assert!(peer_ops.iter().any(|a| matches!(
        a,
        Action::Write {
            offset: 0,
            fua: true,
            ..
        }
    )));
}

#[test]
fn max_epoch_size_closes_epochs_with_barriers() {
    let mut c = cfg(Protocol::C);
    c.max_epoch_size = 2;
    let mut p = Pair::ready(c);
    for id in 1..=4 {
        p.write(0, id, id, id as u8);
    }
    p.complete_all(0);
    let barriers: Vec<u32> = p.inbox[1]
        .iter()
        .filter_map(|m| match m {
            Msg::Barrier { nr } => Some(*nr),
            _ => None,
        })
        .collect();
    assert_eq!(
        barriers.len(),
        2,
        "four writes, epochs of two: {barriers:?}"
    );
    assert!(barriers[0] < barriers[1]);
    p.settle();
    assert_eq!(
        p.nodes[0].status().counters.ep,
        1,
        "all epochs acknowledged"
    );
}

#[test]
fn a_cold_extent_leaving_the_activity_log_persists_its_bitmap_words() {
    let mut c = cfg(Protocol::C);
    c.al_extents = 2;
    let mut p = Pair::ready(c);
    p.cut(); // writes now mark the bitmap
    for (id, extent) in [(1u64, 0u64), (2, 1), (3, 2)] {
        p.write(0, id, extent * 1024, 1);
        p.complete_all(0);
        assert!(p.replied(id));
    }
    // The third extent evicted extent 0, whose bitmap words went to disk first.
    let persisted = p.actions[0].iter().any(|a| {
        matches!(a, Action::PersistBitmap { first_word: 0, words } if words.first().is_some_and(|w| w & 1 == 1))
    });
    assert!(persisted);
    let al_writes = p.actions[0]
        .iter()
        .filter(|a| matches!(a, Action::PersistAl { .. }))
        .count();
    assert!(al_writes >= 3);
}

#[test]
fn the_secondary_logs_extents_before_writing_and_releases_them_after_the_barrier() {
    let mut p = Pair::ready(cfg(Protocol::C));
    p.write(0, 1, 2048, 1); // extent 2 (8 MiB into the device)
    p.complete_all(0);
    p.deliver_all(1);
    assert!(
        matches!(p.ios[1].front(), Some(Action::PersistAl { extents, .. }) if extents.contains(&2)),
        "the AL transaction comes first: {:?}",
        p.ios[1].front()
    );
    assert_eq!(p.ios[1].len(), 1, "the data write waits for it");
    p.settle();
    assert!(p.replied(1));
    // A restart after an unclean stop marks the logged extent out of sync.
    let mut persisted = Persisted::just_created(SIZE);
    persisted.flags = p.nodes[1].md_flags();
    persisted.gi = p.nodes[1].generation_ids();
    persisted.al = vec![2];
    let restarted = Core::new(cfg(Protocol::C), Some(persisted), 3);
    assert!(restarted.bitmap().get(2048));
    assert_eq!(restarted.bitmap().count(), 1024);
}

/// Resync requests the target sent, as (sector, size).
fn resync_requests(actions: &[Action]) -> Vec<(u64, u32)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(Msg::ResyncRequest { sector, size }) => Some((*sector, *size)),
            _ => None,
        })
        .collect()
}

/// The Primary writes alone (peer cut), then the peer returns: a bitmap resync.
fn pair_after_outage(cfg: ResourceConfig, blocks: impl IntoIterator<Item = u64>) -> Pair {
    let mut p = Pair::ready(cfg);
    p.cut();
    for (id, b) in (100..).zip(blocks) {
        p.write(0, id, b, 0x5a);
    }
    p.settle();
    p.actions = [Vec::new(), Vec::new()];
    p.transport_up();
    p
}

#[test]
fn resync_asks_for_runs_of_adjacent_blocks_up_to_one_mebibyte() {
    // 300 adjacent blocks (1.2 MiB) and one lone block further on.
    let mut p = pair_after_outage(cfg(Protocol::C), (0..300).chain([1000]));
    p.settle();
    let reqs = resync_requests(&p.actions[1]);
    assert_eq!(
        reqs,
        vec![(0, 1 << 20), (256 * 8, 44 * 4096), (1000 * 8, 4096)],
        "runs, cut at 1 MiB"
    );
    assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate);
    assert_eq!(p.disks[0], p.disks[1]);
}

#[test]
fn a_fixed_rate_resync_starts_at_once_without_waiting_for_a_tick() {
    let mut c = cfg(Protocol::C);
    c.c_plan_ahead_ds = 0;
    c.resync_rate_kib = 10_240; // one step: 1 MiB
    let mut p = pair_after_outage(c, 0..512);
    p.settle();
    let first = resync_requests(&p.actions[1]);
    assert_eq!(first, vec![(0, 1 << 20)], "a full bucket before any tick");
    p.tick(100);
    p.settle();
    assert_eq!(
        resync_requests(&p.actions[1]).len(),
        2,
        "refilled from elapsed time"
    );
}

#[test]
fn the_dynamic_controller_resyncs_an_idle_disk_in_one_step_per_window() {
    let mut c = cfg(Protocol::C);
    c.c_plan_ahead_ds = 20;
    c.resync_rate_kib = 250; // DRBD's default: only the fixed-rate mode's figure
    c.c_max_rate_kib = 0;
    // 8 MiB out of sync.
    let mut p = pair_after_outage(c, 0..2048);
    p.settle();
    // Replies refill the window at once: no tick was needed for 8 MiB.
    assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate);
    assert_eq!(p.disks[0], p.disks[1]);
}

#[test]
fn c_max_rate_caps_the_dynamic_controller_per_step() {
    let mut c = cfg(Protocol::C);
    c.c_plan_ahead_ds = 20;
    c.c_max_rate_kib = 20_480; // 2 MiB per 100 ms step
    let mut p = pair_after_outage(c, 0..2048);
    p.settle();
    let bytes: u64 = resync_requests(&p.actions[1])
        .iter()
        .map(|r| u64::from(r.1))
        .sum();
    assert_eq!(bytes, 2 << 20, "one step's worth before the first tick");
    for t in 1..=3 {
        p.tick(t * 100);
        p.settle();
    }
    assert_eq!(
        p.nodes[1].disk_state(),
        DiskState::UpToDate,
        "8 MiB in 4 steps"
    );
}

#[test]
fn resync_yields_to_application_io_down_to_c_min_rate() {
    let mut c = cfg(Protocol::C);
    c.c_plan_ahead_ds = 20;
    c.c_min_rate_kib = 400; // 40 KiB (10 blocks) per step while applications write
    let mut p = pair_after_outage(c, 0..2048);
    p.settle();
    p.tick(100);
    p.settle();
    // The resync went at full speed while nothing else ran: all done.
    assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate);

    // Again, but the Primary writes in every step, before and during the resync: the
    // target sees replicated writes competing for its disk.
    let mut c = cfg(Protocol::C);
    c.c_plan_ahead_ds = 20;
    c.c_min_rate_kib = 400;
    let mut p = Pair::ready(c);
    p.cut();
    for b in 0..2048 {
        p.write(0, 100 + b, b, 0x5a);
    }
    p.settle();
    p.actions = [Vec::new(), Vec::new()];
    p.up = true;
    for n in 0..2 {
        p.handle(
            n,
            Event::Connected {
                resolve_conflicts: n == 0,
                challenge: vec![n as u8 + 1; 32],
            },
        );
    }
    // Run the handshake until the resync began, then write on the Primary at once.
    while p.nodes[0].conn_state() != ConnState::SyncSource {
        let mut busy = false;
        for n in 0..2 {
            busy |= p.deliver_all(n) > 0;
            busy |= p.complete_one(n);
        }
        assert!(busy, "the handshake stalled");
    }
    p.write(0, 1, 4000, 1);
    p.settle();
    let first_window = resync_requests(&p.actions[1]).len();
    for t in 1..=5 {
        p.write(0, 1 + t, 4000 + t, 1);
        p.tick(t * 100);
        p.settle();
    }
    let before = first_window;
    let bytes: u64 = resync_requests(&p.actions[1])[before..]
        .iter()
        .map(|r| u64::from(r.1))
        .sum();
    assert!(
        bytes <= 5 * 40 * 1024,
        "{bytes} bytes requested in 5 busy steps, c-min-rate allows 200 KiB"
    );
    assert!(bytes > 0, "c-min-rate still lets the resync progress");
    assert_ne!(p.nodes[1].disk_state(), DiskState::UpToDate);
}

#[test]
fn ko_count_expels_a_peer_that_answers_pings_but_completes_nothing() {
    let mut c = cfg(Protocol::C);
    c.ko_count = 3;
    c.timeout_ms = 1000;
    c.ping_int_ms = 100_000;
    let mut p = Pair::ready(c);
    p.write(0, 1, 0, 7);
    p.complete_all(0);
    // The peer never sees the write: its disk, its acks, all stuck.
    p.inbox[1].clear();
    for t in 1..=29 {
        p.tick(t * 100);
    }
    assert!(
        p.nodes[0].conn_state().is_connected(),
        "2.9 s: still waiting"
    );
    for t in 30..=32 {
        p.tick(t * 100);
    }
    assert!(
        !p.nodes[0].conn_state().is_connected(),
        "3 x 1 s without progress: expelled, now {}",
        p.nodes[0].conn_state()
    );
    assert!(p.replied(1), "the write completes locally, into the bitmap");
    assert!(p.nodes[0].bitmap().get(0));
}

#[test]
fn a_failed_metadata_write_detaches_refuses_io_and_calls_local_io_error() {
    let mut c = cfg(Protocol::C);
    c.on_io_error = shimai_replication::OnIoError::CallLocalIoError;
    let mut p = Pair::ready(c);
    p.handle(0, Event::MetaWriteFailed { errno: 5 });
    assert_eq!(p.nodes[0].disk_state(), DiskState::Diskless);
    assert!(
        !p.nodes[0].conn_state().is_connected(),
        "stops replicating from a failed disk"
    );
    assert!(p.actions[0].contains(&Action::CallHandler(Handler::LocalIoError)));
    p.write(0, 1, 0, 1);
    assert!(
        matches!(p.replies.last(), Some((0, 1, Err(_)))),
        "client I/O is refused: {:?}",
        p.replies.last()
    );
    // With the default (detach), no handler.
    let mut p = Pair::ready(cfg(Protocol::C));
    p.handle(1, Event::MetaWriteFailed { errno: 5 });
    assert_eq!(p.nodes[1].disk_state(), DiskState::Diskless);
    assert!(!p.actions[1].contains(&Action::CallHandler(Handler::LocalIoError)));
}
