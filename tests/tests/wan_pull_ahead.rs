//! The replication core over the WAN test bed: two cores, each driven by a minimal loop in its
//! own network namespace, talk over real TCP through the slow, distant link (`wan_support`).
//! A sustained write load larger than the link under protocol A with `on-congestion
//! pull-ahead` must go Ahead (the peer Behind), keep the application's writes fast, catch up
//! once the load stops, and end with byte-identical replicas.
//!
//! The loops are a stand-in for the daemon (disks in memory, completions at once); they use
//! the daemon's contract as `shimai_replication`'s docs state it: link codec, send-queue
//! reports, ticks.

mod wan_support;

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use shimai_replication::wire::{self, LinkStats};
use shimai_replication::{
    Action, AdminCmd, ConnState, Core, DiskResult, DiskState, Event, OnCongestion, Persisted,
    Protocol, ResourceConfig, Role,
};
use shimai_tests::{have_program, have_root};
use wan_support::{WanBed, WanSpec, ADDR_B};

const SIZE: u64 = 8 << 20;
const PORT: u16 = 7853;

struct Outcome {
    disk: Vec<u8>,
    states: Vec<ConnState>,
    final_state: (ConnState, DiskState, DiskState),
    link: LinkStats,
    /// Client write latencies, ms (node A).
    latencies: Vec<f64>,
}

fn enter(ns: &str) {
    let f = File::open(format!("/var/run/netns/{ns}")).expect("open the namespace");
    setns(&f, CloneFlags::CLONE_NEWNET).expect("setns");
}

/// One node: its core, an in-memory disk, and the TCP stream to the peer.
fn node(
    ns: String,
    primary: bool,
    cfg: ResourceConfig,
    load_ms: u64,
    stop_after_ms: u64,
) -> Outcome {
    enter(&ns);
    let mut stream = if primary {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect((ADDR_B, PORT)) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("connect to {ADDR_B}:{PORT}: {e}"),
            }
        }
    } else {
        let l = TcpListener::bind((ADDR_B, PORT)).expect("listen");
        l.accept().expect("accept").0
    };
    stream.set_nodelay(true).unwrap();
    stream.set_nonblocking(true).unwrap();
    let mut core = Core::new(cfg, Some(Persisted::just_created(SIZE)), u64::from(primary));
    let mut disk = vec![0u8; SIZE as usize];
    let start = Instant::now();
    let now_ms = |s: Instant| s.elapsed().as_millis() as u64;
    core.handle(Event::Admin(AdminCmd::Connect {
        discard_my_data: false,
    }))
    .unwrap();
    core.handle(Event::Connected {
        resolve_conflicts: !primary,
        challenge: vec![u8::from(primary) + 1; 32],
    })
    .unwrap();
    let mut out: Vec<u8> = Vec::new();
    let mut inbuf: Vec<u8> = Vec::new();
    let mut link = LinkStats::default();
    let mut states = Vec::new();
    let mut next_tick = 0;
    let mut phase = 0; // primary: 0 connect, 1 promoted/writing, 2 load done
    let mut next_id = 1u64;
    let mut pending: std::collections::BTreeMap<u64, Instant> = Default::default();
    let mut latencies = Vec::new();
    let mut load_start = None;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    loop {
        let t = now_ms(start);
        if t > stop_after_ms {
            break;
        }
        // Read what arrived.
        let mut eof = false;
        let mut buf = [0u8; 65536];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    core.handle(Event::ConnectionLost).unwrap();
                    eof = true;
                    break;
                }
                Ok(n) => inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    core.handle(Event::ConnectionLost).unwrap();
                    break;
                }
            }
        }
        let mut msgs = Vec::new();
        let mut used = 0;
        while let Ok(Some(d)) = wire::decode_link(&inbuf[used..], &mut msgs) {
            used += d.used;
        }
        inbuf.drain(..used);
        for m in msgs {
            core.handle(Event::Received(m)).unwrap();
        }
        if eof && !primary {
            // The Primary finished and closed the connection.
            drain_disk_actions(&mut core, &mut disk);
            break;
        }
        if t >= next_tick {
            next_tick = t + 100;
            core.handle(Event::SendQueue {
                bytes: out.len() as u64,
            })
            .unwrap();
            core.handle(Event::Tick {
                now_ms: t,
                entropy: t ^ 0x9e37,
            })
            .unwrap();
        }
        if primary {
            if phase == 0 && core.conn_state() == ConnState::Connected {
                core.handle(Event::Admin(AdminCmd::NewCurrentUuid {
                    clear_bitmap: true,
                }))
                .unwrap();
                core.handle(Event::Admin(AdminCmd::Primary { force: false }))
                    .unwrap();
                phase = 1;
                load_start = Some(Instant::now());
            }
            if phase == 1 {
                let elapsed = load_start.map_or(0, |s| s.elapsed().as_millis() as u64);
                if elapsed >= load_ms {
                    phase = 2;
                } else if core.role() == Role::Primary && pending.len() < 8 {
                    // 64 KiB random-looking writes, as fast as they complete: far more than
                    // the link carries.
                    let block = (x >> 20) % (SIZE / 65536);
                    let data: Vec<u8> = (0..65536)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x as u8
                        })
                        .collect();
                    pending.insert(next_id, Instant::now());
                    core.handle(Event::Write {
                        id: next_id,
                        offset: block * 65536,
                        data,
                        fua: false,
                    })
                    .unwrap();
                    next_id += 1;
                }
            }
        }
        // Perform the actions.
        let mut sends = Vec::new();
        while let Some(a) = core.poll_action() {
            match a {
                Action::Write {
                    io, offset, data, ..
                } => {
                    let o = offset as usize;
                    disk[o..o + data.len()].copy_from_slice(&data);
                    core.handle(Event::DiskDone {
                        io,
                        result: DiskResult::Done,
                    })
                    .unwrap();
                }
                Action::Read { io, offset, len } => {
                    let d = disk[offset as usize..(offset + len) as usize].to_vec();
                    core.handle(Event::DiskDone {
                        io,
                        result: DiskResult::Data(d),
                    })
                    .unwrap();
                }
                Action::Trim { io, .. } | Action::Flush { io } | Action::PersistAl { io, .. } => {
                    core.handle(Event::DiskDone {
                        io,
                        result: DiskResult::Done,
                    })
                    .unwrap();
                }
                Action::Send(m) => sends.push(m),
                Action::Reply { id, result } => {
                    assert!(result.is_ok(), "write {id} failed: {result:?}");
                    if let Some(s) = pending.remove(&id) {
                        latencies.push(s.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                Action::Notify(shimai_replication::StateChange::Conn { to, .. }) => states.push(to),
                Action::Log { msg, .. } => {
                    eprintln!("[{}] {t:>6} ms {msg}", if primary { "A" } else { "B" })
                }
                _ => {}
            }
        }
        if !sends.is_empty() {
            let s = wire::encode_link(&sends, core.link_opts(), &mut out).expect("encode");
            link.add(s);
        }
        // Write what the socket takes.
        while !out.is_empty() {
            match stream.write(&out) {
                Ok(n) => {
                    out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(1));
        // Done: load over, caught up, nothing queued.
        if primary
            && phase == 2
            && pending.is_empty()
            && core.conn_state() == ConnState::Connected
            && core.peer_disk_state() == DiskState::UpToDate
            && out.is_empty()
            && core.status().congestion.ap_in_flight_bytes == 0
            && states.contains(&ConnState::Ahead)
        {
            // Give the peer a moment to finish its side, then stop.
            std::thread::sleep(Duration::from_millis(500));
            break;
        }
    }
    Outcome {
        disk,
        states,
        final_state: (core.conn_state(), core.disk_state(), core.peer_disk_state()),
        link,
        latencies,
    }
}

/// Completes what is left after the connection ended (its sends go nowhere).
fn drain_disk_actions(core: &mut Core, disk: &mut [u8]) {
    while let Some(a) = core.poll_action() {
        let (io, result) = match a {
            Action::Write {
                io, offset, data, ..
            } => {
                let o = offset as usize;
                disk[o..o + data.len()].copy_from_slice(&data);
                (io, DiskResult::Done)
            }
            Action::Read { io, offset, len } => (
                io,
                DiskResult::Data(disk[offset as usize..(offset + len) as usize].to_vec()),
            ),
            Action::Trim { io, .. } | Action::Flush { io } | Action::PersistAl { io, .. } => {
                (io, DiskResult::Done)
            }
            _ => continue,
        };
        core.handle(Event::DiskDone { io, result }).unwrap();
    }
}

#[test]
fn pull_ahead_over_a_thin_link_catches_up_to_identical_replicas() {
    let test = "pull_ahead_over_a_thin_link_catches_up_to_identical_replicas";
    if !(have_root(test) && have_program(test, "tc") && have_program(test, "ethtool")) {
        return;
    }
    // 8 Mbit/s, 40 ms RTT: about 1 MB/s.
    let bed = WanBed::new(WanSpec {
        rate_kbit: 8_000,
        one_way_delay_ms: 20,
        loss_per_mille: 0,
        seed: 13,
    });
    let mut cfg = ResourceConfig::new(SIZE);
    cfg.protocol = Protocol::A;
    cfg.on_congestion = OnCongestion::PullAhead;
    cfg.congestion_fill = 1 << 20;
    cfg.resync_rate_kib = 20_000;
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    for (primary, ns) in [
        (false, bed.b.name().to_string()),
        (true, bed.a.name().to_string()),
    ] {
        let cfg = cfg.clone();
        let tx = tx.clone();
        threads.push(std::thread::spawn(move || {
            let o = node(ns, primary, cfg, 2_000, 40_000);
            tx.send((primary, o)).ok();
        }));
    }
    drop(tx);
    let mut outcomes: Vec<(bool, Outcome)> = rx.iter().collect();
    for t in threads {
        t.join().expect("node thread");
    }
    outcomes.sort_by_key(|o| !o.0);
    let (a, b) = (&outcomes[0].1, &outcomes[1].1);
    eprintln!("A states {:?}", a.states);
    eprintln!("B states {:?}", b.states);
    eprintln!(
        "A link: {} data bytes, {} wire bytes; {} writes",
        a.link.data_bytes,
        a.link.wire_bytes,
        a.latencies.len()
    );
    let mut l = a.latencies.clone();
    l.sort_by(|x, y| x.total_cmp(y));
    let p = |q: f64| l[((l.len() - 1) as f64 * q) as usize];
    eprintln!(
        "write latency ms: p50 {:.2} p99 {:.2} max {:.2}",
        p(0.5),
        p(0.99),
        l[l.len() - 1]
    );
    assert!(a.states.contains(&ConnState::Ahead), "never went Ahead");
    assert!(b.states.contains(&ConnState::Behind), "peer never Behind");
    assert!(
        a.states.contains(&ConnState::SyncSource),
        "no catch-up resync"
    );
    assert_eq!(
        a.final_state,
        (
            ConnState::Connected,
            DiskState::UpToDate,
            DiskState::UpToDate
        )
    );
    assert_eq!(b.final_state.1, DiskState::UpToDate);
    assert!(a.disk == b.disk, "replicas differ after the catch-up");
    assert!(l[l.len() - 1] < 1000.0, "a write took over 1 s");
}
