//! The WAN features of the core, driven by hand: checksum-based resync, `verify-alg`,
//! `data-integrity-alg`, their negotiation and refusal, link compression negotiated at the
//! handshake, and congestion (`on-congestion pull-ahead|disconnect`, Ahead/Behind).
//!
//! Messages between the two cores travel through the link codec ([`wire::encode_link`] /
//! [`wire::decode_link`]) with the options each core negotiated, as the daemon sends them.

use std::collections::VecDeque;

use shimai_replication::wire::{self, LinkStats, Msg};
use shimai_replication::{
    Action, AdminCmd, Compression, ConnState, Core, DiskResult, DiskState, Event, IoId,
    OnCongestion, Persisted, Protocol, ResourceConfig,
};

const SIZE: u64 = 8 << 20;
const BLOCKS: u64 = SIZE / 4096;

struct Pair {
    nodes: [Core; 2],
    disks: [Vec<u8>; 2],
    ios: [VecDeque<Action>; 2],
    /// Messages on their way to node i, as decoded by the receiver.
    inbox: [VecDeque<Msg>; 2],
    /// Every message node i sent, in order.
    sent: [Vec<Msg>; 2],
    logs: [Vec<String>; 2],
    /// Link bytes node i sent.
    link: [LinkStats; 2],
    up: bool,
    /// Applied to every message before it is encoded (a tampering path).
    tamper: Option<fn(usize, &mut Msg)>,
    /// Messages to node 1 wait in its inbox (a saturated link).
    held: bool,
}

impl Pair {
    fn new(cfgs: [ResourceConfig; 2]) -> Pair {
        let [a, b] = cfgs;
        Pair {
            nodes: [
                Core::new(a, Some(Persisted::just_created(SIZE)), 11),
                Core::new(b, Some(Persisted::just_created(SIZE)), 22),
            ],
            disks: [vec![0; SIZE as usize], vec![0; SIZE as usize]],
            ios: [VecDeque::new(), VecDeque::new()],
            inbox: [VecDeque::new(), VecDeque::new()],
            sent: [Vec::new(), Vec::new()],
            logs: [Vec::new(), Vec::new()],
            link: [LinkStats::default(); 2],
            up: false,
            tamper: None,
            held: false,
        }
    }

    fn ready(cfgs: [ResourceConfig; 2]) -> Pair {
        let mut p = Pair::new(cfgs);
        p.connect();
        p.admin(0, AdminCmd::NewCurrentUuid { clear_bitmap: true });
        p.settle();
        p.admin(0, AdminCmd::Primary { force: false });
        p.settle();
        assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate);
        p
    }

    fn handle(&mut self, n: usize, ev: Event) {
        self.nodes[n].handle(ev).unwrap();
        self.collect(n);
    }

    fn admin(&mut self, n: usize, cmd: AdminCmd) {
        self.nodes[n].handle(Event::Admin(cmd)).unwrap();
        self.collect(n);
    }

    fn collect(&mut self, n: usize) {
        while let Some(a) = self.nodes[n].poll_action() {
            match a {
                Action::Write { .. }
                | Action::Read { .. }
                | Action::Trim { .. }
                | Action::Flush { .. }
                | Action::PersistAl { .. } => self.ios[n].push_back(a),
                Action::Send(mut m) if self.up => {
                    self.sent[n].push(m.clone());
                    if let Some(t) = self.tamper {
                        t(n, &mut m);
                    }
                    // Each message as its own batch, with what this node negotiated.
                    let opts = self.nodes[n].link_opts();
                    let mut bytes = Vec::new();
                    let s = wire::encode_link(&[m], opts, &mut bytes).unwrap();
                    self.link[n].add(s);
                    let mut rest = &bytes[..];
                    let mut got = Vec::new();
                    while !rest.is_empty() {
                        let d = wire::decode_link(rest, &mut got).unwrap().unwrap();
                        rest = &rest[d.used..];
                    }
                    self.inbox[1 - n].extend(got);
                }
                Action::Log { msg, .. } => self.logs[n].push(msg),
                _ => {}
            }
        }
    }

    fn connect(&mut self) {
        for n in 0..2 {
            self.admin(
                n,
                AdminCmd::Connect {
                    discard_my_data: false,
                },
            );
        }
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

    fn settle(&mut self) {
        loop {
            let mut busy = false;
            for n in 0..2 {
                if n == 1 && self.held {
                    while self.complete_one(n) {
                        busy = true;
                    }
                    continue;
                }
                while let Some(m) = self.inbox[n].pop_front() {
                    busy = true;
                    if !self.up {
                        continue;
                    }
                    self.handle(n, Event::Received(m));
                }
                while self.complete_one(n) {
                    busy = true;
                }
            }
            if !busy {
                return;
            }
        }
    }

    fn run(&mut self, from_ms: u64, to_ms: u64) {
        let mut t = from_ms;
        while t <= to_ms {
            for n in 0..2 {
                self.handle(
                    n,
                    Event::Tick {
                        now_ms: t,
                        entropy: t,
                    },
                );
            }
            self.settle();
            t += 100;
        }
    }

    fn write(&mut self, n: usize, id: u64, block: u64, data: Vec<u8>) {
        self.handle(
            n,
            Event::Write {
                id,
                offset: block * 4096,
                data,
                fua: false,
            },
        );
    }

    fn count(&self, n: usize, f: impl Fn(&Msg) -> bool) -> usize {
        self.sent[n].iter().filter(|m| f(m)).count()
    }

    fn logged(&self, n: usize, needle: &str) -> bool {
        self.logs[n].iter().any(|l| l.contains(needle))
    }
}

fn cfg() -> ResourceConfig {
    let mut c = ResourceConfig::new(SIZE);
    c.resync_rate_kib = 100_000;
    c
}

fn pattern(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `invalidate` on a Secondary whose copy differs in a few blocks: with `csums-alg` only those
/// blocks cross the link, every other block is answered "in sync".
#[test]
fn csums_resync_sends_only_the_differing_blocks() {
    for alg in ["crc32c", "sha1", "sha256", "md5"] {
        let mut c = cfg();
        c.csums_alg = Some(alg.into());
        let mut p = Pair::ready([c.clone(), c]);
        for b in 0..64 {
            p.write(0, b + 1, b, pattern(b));
        }
        p.settle();
        assert_eq!(p.disks[0], p.disks[1]);
        // Damage three blocks of the Secondary behind the core's back.
        for b in [3u64, 40, 1000] {
            p.disks[1][(b * 4096 + 7) as usize] ^= 0x5a;
        }
        let (replies_before, reqs_before) = (
            p.count(0, |m| matches!(m, Msg::ResyncReply { .. })),
            p.count(1, |m| matches!(m, Msg::CsumRequest { .. })),
        );
        p.admin(1, AdminCmd::Invalidate);
        p.run(100, 5_000);
        assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate, "{alg}");
        assert_eq!(p.nodes[1].conn_state(), ConnState::Connected, "{alg}");
        assert_eq!(p.disks[0], p.disks[1], "{alg}: replicas differ");
        let replies = p.count(0, |m| matches!(m, Msg::ResyncReply { .. })) - replies_before;
        let csum_reqs = p.count(1, |m| matches!(m, Msg::CsumRequest { .. })) - reqs_before;
        assert_eq!(replies, 3, "{alg}: only the damaged blocks are sent");
        assert_eq!(csum_reqs as u64, BLOCKS, "{alg}: a digest for every block");
        assert_eq!(
            p.count(1, |m| matches!(m, Msg::ResyncRequest { .. })),
            0,
            "{alg}: no plain requests"
        );
        assert!(
            p.count(1, |m| matches!(m, Msg::CsumRequest { digest, .. } if digest.len() == shimai_replication::DigestAlg::from_name(alg).unwrap().digest_len())) > 0
        );
    }
}

#[test]
fn csums_after_crash_only_uses_plain_requests_without_a_crash() {
    let mut c = cfg();
    c.csums_alg = Some("sha1".into());
    c.csums_after_crash_only = true;
    let mut p = Pair::ready([c.clone(), c]);
    p.admin(1, AdminCmd::Invalidate);
    p.run(100, 5_000);
    assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate);
    assert_eq!(p.count(1, |m| matches!(m, Msg::CsumRequest { .. })), 0);
    // Plain requests (runs of adjacent blocks) cover the whole device.
    let requested: u64 = p.sent[1]
        .iter()
        .filter_map(|m| match m {
            Msg::ResyncRequest { size, .. } => Some(u64::from(*size)),
            _ => None,
        })
        .sum();
    assert!(requested >= BLOCKS * 4096, "{requested} bytes requested");
}

#[test]
fn different_digest_algorithms_refuse_the_connection_as_drbd() {
    for (field, name) in [
        ("csums-alg", 0),
        ("verify-alg", 1),
        ("data-integrity-alg", 2),
    ] {
        let mut a = cfg();
        let mut b = cfg();
        let set = |c: &mut ResourceConfig, v: &str| match name {
            0 => c.csums_alg = Some(v.into()),
            1 => c.verify_alg = Some(v.into()),
            _ => c.data_integrity_alg = Some(v.into()),
        };
        set(&mut a, "sha1");
        set(&mut b, "md5");
        let mut p = Pair::new([a, b]);
        p.connect();
        for n in 0..2 {
            assert_eq!(p.nodes[n].conn_state(), ConnState::StandAlone, "{field}");
            let line = format!("Different {field} settings. me=");
            assert!(p.logged(n, &line), "{field}: {:?}", p.logs[n]);
        }
    }
    // An unknown name is refused before the handshake, naming what is supported.
    let mut a = cfg();
    a.csums_alg = Some("whirlpool".into());
    let mut p = Pair::new([a, cfg()]);
    p.connect();
    assert_eq!(p.nodes[0].conn_state(), ConnState::StandAlone);
    assert!(p.logged(0, "csums-alg 'whirlpool' is not supported"));
}

#[test]
fn online_verify_uses_the_configured_algorithm() {
    for (alg, len) in [("crc32c", 4), ("md5", 16), ("sha1", 20), ("sha256", 32)] {
        let mut c = cfg();
        c.verify_alg = Some(alg.into());
        let mut p = Pair::ready([c.clone(), c]);
        p.disks[1][10 * 4096] = 0xee;
        p.admin(1, AdminCmd::Verify);
        p.run(100, 5_000);
        assert_eq!(p.nodes[1].status().verify_oos_kib, 4, "{alg}");
        assert!(p.nodes[1].bitmap().get(10), "{alg}");
        let lens: Vec<usize> = p.sent[0]
            .iter()
            .filter_map(|m| match m {
                Msg::VerifyReply { digest, .. } => Some(digest.len()),
                _ => None,
            })
            .collect();
        assert!(!lens.is_empty() && lens.iter().all(|&l| l == len), "{alg}");
    }
}

#[test]
fn data_integrity_digests_every_data_message_and_a_mismatch_drops_the_connection() {
    let mut c = cfg();
    c.data_integrity_alg = Some("crc32c".into());
    let mut p = Pair::ready([c.clone(), c]);
    p.write(0, 1, 5, pattern(5));
    p.settle();
    assert_eq!(p.disks[1][5 * 4096..6 * 4096], pattern(5)[..]);
    let data = p.count(0, |m| matches!(m, Msg::Data { .. }));
    let digests = p.count(0, |m| matches!(m, Msg::Digest { .. }));
    assert_eq!((data, digests), (1, 1));
    // A path that flips a bit in the payload.
    p.tamper = Some(|_, m| {
        if let Msg::Data { payload, .. } = m {
            payload[100] ^= 1;
        }
    });
    p.write(0, 2, 6, pattern(6));
    p.settle();
    assert!(
        p.logged(1, "Digest integrity check FAILED: sector 48 +4096"),
        "{:?}",
        p.logs[1]
    );
    assert_ne!(
        p.disks[1][6 * 4096 + 100],
        pattern(6)[100] ^ 1,
        "not written"
    );
    assert!(p.nodes[1].conn_state() < ConnState::Connected);
}

#[test]
fn digest_options_against_a_peer_without_them_refuse_and_compression_falls_back() {
    // Node 1 plays an older shimai: its Hello lacks the new feature bits.
    let mut a = cfg();
    a.compression = Compression::Zstd;
    let mut p = Pair::new([a, cfg()]);
    p.tamper = Some(|n, m| {
        if let Msg::Hello { features, .. } = m {
            if n == 1 {
                *features &= wire::FEATURE_TRIM | wire::FEATURE_RLE_BITMAP;
            }
        }
    });
    p.connect();
    assert_eq!(p.nodes[0].conn_state(), ConnState::Connected);
    let opts = p.nodes[0].link_opts();
    assert_eq!(opts.compression, Compression::None);
    assert!(!opts.zero_markers);
    assert!(p.logged(
        0,
        "peer does not offer zstd compression: the link to it stays uncompressed"
    ));
    let mut a = cfg();
    a.data_integrity_alg = Some("sha1".into());
    let mut p = Pair::new([a, cfg()]);
    p.tamper = Some(|n, m| {
        if let Msg::Hello { features, .. } = m {
            if n == 1 {
                *features &= wire::FEATURE_TRIM | wire::FEATURE_RLE_BITMAP;
            }
        }
    });
    p.connect();
    assert_eq!(p.nodes[0].conn_state(), ConnState::StandAlone);
    assert!(p.logged(0, "older shimai without csums-alg and data-integrity-alg"));
}

#[test]
fn compression_is_negotiated_and_shrinks_what_crosses_the_link() {
    for compression in [Compression::Lz4, Compression::Zstd] {
        let mut c = cfg();
        c.compression = compression;
        let mut p = Pair::ready([c.clone(), c]);
        let opts = p.nodes[0].link_opts();
        assert_eq!(opts.compression, compression);
        assert!(opts.zero_markers);
        let before = p.link[0];
        let text: Vec<u8> = b"replicated over a thin WAN link; "
            .iter()
            .cycle()
            .take(4096)
            .copied()
            .collect();
        for b in 0..32 {
            let d = if b % 2 == 0 {
                text.clone()
            } else {
                vec![0; 4096]
            };
            p.write(0, b + 1, b, d);
        }
        p.settle();
        assert_eq!(p.disks[0], p.disks[1]);
        let data = p.link[0].data_bytes - before.data_bytes;
        let wire_bytes = p.link[0].wire_bytes - before.wire_bytes;
        assert!(data > 32 * 4096, "{data}");
        assert!(
            wire_bytes * 10 < data,
            "{compression:?}: {wire_bytes} wire bytes for {data} data bytes"
        );
    }
}

fn write_many(p: &mut Pair, first_id: u64, blocks: std::ops::Range<u64>) {
    for b in blocks {
        p.write(0, first_id + b, b, pattern(first_id + b));
    }
}

/// `on-congestion pull-ahead` under protocol A: when more than `congestion-fill` bytes are in
/// flight the Primary goes Ahead (the peer Behind), later writes are only marked out of sync,
/// and once the link drained it resyncs them and comes back to Connected.
#[test]
fn pull_ahead_goes_ahead_marks_the_bitmap_and_catches_up() {
    let mut c = cfg();
    c.protocol = Protocol::A;
    c.on_congestion = OnCongestion::PullAhead;
    c.congestion_fill = 64 << 10;
    let mut p = Pair::ready([c.clone(), c]);
    p.run(100, 100);
    // The link is slow: nothing reaches the peer while 40 writes go out.
    p.held = true;
    write_many(&mut p, 1000, 0..40);
    while p.complete_one(0) {}
    assert_eq!(p.nodes[0].conn_state(), ConnState::Ahead, "{:?}", p.logs[0]);
    assert!(p.logged(0, "Congestion-fill threshold reached"));
    let s = p.nodes[0].status();
    assert!(s.counters.oos > 0, "writes while Ahead mark the bitmap");
    let data_sent = p.count(0, |m| matches!(m, Msg::Data { .. }));
    assert!(
        data_sent < 40,
        "writes while Ahead are not sent: {data_sent}"
    );
    assert!(p.count(0, |m| matches!(m, Msg::OutOfSync { .. })) > 0);
    // The link delivers again.
    p.held = false;
    p.settle();
    assert_eq!(p.nodes[1].conn_state(), ConnState::Behind);
    assert_eq!(
        p.nodes[1].disk_state(),
        DiskState::Outdated,
        "Behind misses writes"
    );
    assert_eq!(p.nodes[0].peer_disk_state(), DiskState::Outdated);
    let st = p.nodes[0].status().congestion;
    assert!(st.ahead_since_ms.is_some() && st.congested);
    assert!(st.behind_bytes >= 4096, "recovery point: {st:?}");
    // Hysteresis: not back before the link has been drained for a while.
    p.run(200, 600);
    assert_eq!(p.nodes[0].conn_state(), ConnState::Ahead);
    p.run(700, 6_000);
    assert_eq!(
        p.nodes[0].conn_state(),
        ConnState::Connected,
        "{:?}",
        p.logs[0]
    );
    assert_eq!(p.nodes[1].conn_state(), ConnState::Connected);
    assert_eq!(p.nodes[1].disk_state(), DiskState::UpToDate);
    assert_eq!(
        p.disks[0], p.disks[1],
        "replicas byte-identical after catch-up"
    );
    assert!(p.logs[1]
        .iter()
        .any(|l| l.contains("Began resync as SyncTarget")));
}

#[test]
fn pull_ahead_and_disconnect_need_protocol_a_and_disconnect_drops() {
    let mut c = cfg();
    c.on_congestion = OnCongestion::PullAhead;
    assert!(c.validate().unwrap_err().contains("needs protocol A"));
    c.protocol = Protocol::A;
    c.on_congestion = OnCongestion::Disconnect;
    c.congestion_fill = 16 << 10;
    let mut p = Pair::ready([c.clone(), c]);
    p.held = true;
    write_many(&mut p, 1, 0..10);
    while p.complete_one(0) {}
    assert!(p.logged(0, "Congestion-fill threshold reached"));
    assert!(p.nodes[0].conn_state() < ConnState::Connected);
}

#[test]
fn the_send_queue_reported_by_the_daemon_counts_as_in_flight() {
    let mut c = cfg();
    c.protocol = Protocol::A;
    c.on_congestion = OnCongestion::PullAhead;
    c.congestion_fill = 1 << 20;
    let mut p = Pair::ready([c.clone(), c]);
    p.write(0, 1, 1, pattern(1));
    while p.complete_one(0) {}
    assert_eq!(p.nodes[0].conn_state(), ConnState::Connected);
    p.handle(0, Event::SendQueue { bytes: 2 << 20 });
    p.write(0, 2, 2, pattern(2));
    while p.complete_one(0) {}
    assert_eq!(p.nodes[0].conn_state(), ConnState::Ahead);
    let st = p.nodes[0].status();
    assert!(st.congestion.ahead_since_ms.is_some());
}

#[test]
fn congestion_extents_below_al_extents_pull_ahead_too() {
    let mut c = cfg();
    c.protocol = Protocol::A;
    c.on_congestion = OnCongestion::PullAhead;
    c.al_extents = 7;
    c.congestion_extents = Some(3);
    let mut p = Pair::ready([c.clone(), c]);
    p.held = true;
    // One write into each of four 4 MiB extents (the device has two; wrap within it).
    for (i, block) in [0u64, 1024, 1, 1025].into_iter().enumerate() {
        p.write(0, 100 + i as u64, block, pattern(block));
        while p.complete_one(0) {}
    }
    // Two extents hot: below the threshold of 3, still Connected.
    assert_eq!(p.nodes[0].conn_state(), ConnState::Connected);
    let mut c = cfg();
    c.protocol = Protocol::A;
    c.on_congestion = OnCongestion::PullAhead;
    c.al_extents = 7;
    c.congestion_extents = Some(2);
    let mut p = Pair::ready([c.clone(), c]);
    p.held = true;
    for (i, block) in [0u64, 1024, 1].into_iter().enumerate() {
        p.write(0, 100 + i as u64, block, pattern(block));
        while p.complete_one(0) {}
    }
    assert_eq!(p.nodes[0].conn_state(), ConnState::Ahead);
    assert!(p.logged(0, "Congestion-extents threshold reached"));
}
