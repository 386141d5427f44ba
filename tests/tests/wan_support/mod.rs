//! The WAN test bed: two nodes in network namespaces joined by a slow, distant, lossy link.
//!
//! ```text
//!   ns A (a0 10.213.0.1) ── veth ── ns M (m0 ─ relay.py ─ m1) ── veth ── ns B (b0 10.213.0.2)
//! ```
//! - **Rate**: `tc` tbf on `m0` and `m1` (both directions; tbf works on this kernel).
//! - **Delay and loss**: this kernel has no netem (no loadable modules), so `relay.py`, a
//!   userspace per-packet relay on AF_PACKET sockets in M, forwards every Ethernet frame between
//!   `m0` and `m1` after the one-way delay, dropping frames at a seeded loss rate. TCP between A
//!   and B meets real delay and real loss. Offloads are off: TSO/GSO/GRO so frames stay at the
//!   MTU, and TX checksumming, because a relayed frame must carry its checksum (with it on, ping
//!   passes and every TCP segment is dropped by B as corrupt). The relay is Python: it forwards some tens of thousands of frames per second,
//!   plenty for the 10-100 Mbit/s links the tests use, not a 10 Gbit/s bench.
//! - **Cleanup**: dropping [`WanBed`] kills the relay by its PID, then deletes the three
//!   namespaces (which removes the veths and kills anything left in them, by PID).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use shimai_tests::{sh, Netns, TempDir};

pub const ADDR_A: &str = "10.213.0.1";
pub const ADDR_B: &str = "10.213.0.2";

/// The link between A and B.
#[derive(Debug, Clone, Copy)]
pub struct WanSpec {
    /// Rate limit in kbit/s each way; 0 = none.
    pub rate_kbit: u64,
    /// One-way delay in milliseconds (RTT = twice this).
    pub one_way_delay_ms: u64,
    /// Frames dropped per thousand, each way.
    pub loss_per_mille: u32,
    pub seed: u64,
}

/// The three namespaces and the relay; everything is removed on drop.
pub struct WanBed {
    relay: Option<Child>,
    pub spec: WanSpec,
    pub a: Netns,
    pub b: Netns,
    pub m: Netns,
    _dir: TempDir,
}

impl WanBed {
    pub fn new(spec: WanSpec) -> WanBed {
        let dir = TempDir::new("shimai-wan");
        let script = dir.join("relay.py");
        std::fs::write(&script, include_str!("relay.py")).expect("write relay.py");
        let mut bed = WanBed {
            relay: None,
            spec,
            a: Netns::new("wana"),
            b: Netns::new("wanb"),
            m: Netns::new("wanm"),
            _dir: dir,
        };
        let (a, b, m) = (bed.a.name(), bed.b.name(), bed.m.name());
        sh(&format!(
            "ip link add a0 netns {a} type veth peer name m0 netns {m}"
        ));
        sh(&format!(
            "ip link add m1 netns {m} type veth peer name b0 netns {b}"
        ));
        bed.a.ip(&format!("addr add {ADDR_A}/24 dev a0"));
        bed.b.ip(&format!("addr add {ADDR_B}/24 dev b0"));
        for (ns, dev) in [(a, "a0"), (m, "m0"), (m, "m1"), (b, "b0")] {
            sh(&format!(
                "ip netns exec {ns} ethtool -K {dev} tx off tso off gso off gro off >/dev/null \
                 2>&1 || ip netns exec {ns} ethtool -K {dev} tx off tso off gso off"
            ));
            sh(&format!("ip -n {ns} link set {dev} up"));
        }
        for dev in ["m0", "m1"] {
            bed.m.ip(&format!("link set {dev} promisc on"));
            if spec.rate_kbit > 0 {
                // Burst: 10 ms at the rate, at least a few frames; queue: 200 ms at the rate.
                let burst = (spec.rate_kbit * 1000 / 8 / 100).max(16 * 1024);
                sh(&format!(
                    "ip netns exec {m} tc qdisc add dev {dev} root tbf rate {}kbit burst {burst} \
                     latency 200ms",
                    spec.rate_kbit
                ));
            }
        }
        let mut child = bed
            .m
            .command("/usr/bin/python3")
            .arg(&script)
            .args(["m0", "m1"])
            .arg(spec.one_way_delay_ms.to_string())
            .arg(spec.loss_per_mille.to_string())
            .arg(spec.seed.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start relay.py in the middle namespace");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("relay stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        bed.relay = Some(child);
        assert_eq!(line.trim(), "ready", "relay.py did not start (see stderr)");
        bed
    }

    /// A command run in node A's namespace.
    pub fn in_a(&self, program: &str) -> Command {
        self.a.command(program)
    }
    /// A command run in node B's namespace.
    pub fn in_b(&self, program: &str) -> Command {
        self.b.command(program)
    }
}

impl Drop for WanBed {
    fn drop(&mut self) {
        if let Some(mut c) = self.relay.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The namespaces (fields) are deleted after this, killing anything left by PID.
    }
}

/// Round-trip times in ms of `count` pings from A to B at `interval_s`, and the loss in %.
pub fn ping(bed: &WanBed, count: u32, interval_s: f64) -> (Vec<f64>, f64) {
    let out = bed
        .in_a("ping")
        .args([
            "-n",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            &interval_s.to_string(),
        ])
        .args(["-W", "2", ADDR_B])
        .output()
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // "100 packets transmitted, 97 received, 3% packet loss, time 1002ms"
    // "rtt min/avg/max/mdev = 50.1/51.2/55.0/1.1 ms"
    let loss = text
        .split(',')
        .find(|s| s.contains("packet loss"))
        .and_then(|s| s.trim().split('%').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no loss figure in ping output: {text}"));
    let rtts = text
        .lines()
        .find(|l| l.starts_with("rtt "))
        .and_then(|l| l.split('=').nth(1))
        .map(|v| {
            v.trim()
                .trim_end_matches(" ms")
                .split('/')
                .filter_map(|x| x.parse::<f64>().ok())
                .collect()
        })
        .unwrap_or_default();
    (rtts, loss)
}
