//! Self-test of the WAN test bed (`wan_support`): the link really has the configured round
//! trip, rate and loss, measured with ping and iperf3 between the two end namespaces.

mod wan_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use shimai_tests::{have_program, have_root};
use wan_support::{ping, WanBed, WanSpec, ADDR_B};

fn ready(test: &str) -> bool {
    have_root(test)
        && have_program(test, "tc")
        && have_program(test, "ethtool")
        && have_program(test, "iperf3")
        && have_program(test, "ping")
}

/// 25 ms each way through the relay: ping sees about 50 ms.
#[test]
fn the_relay_adds_the_configured_round_trip() {
    if !ready("the_relay_adds_the_configured_round_trip") {
        return;
    }
    let bed = WanBed::new(WanSpec {
        rate_kbit: 0,
        one_way_delay_ms: 25,
        loss_per_mille: 0,
        seed: 1,
    });
    let (rtt, loss) = ping(&bed, 10, 0.1);
    eprintln!("rtt min/avg/max {rtt:?} ms, loss {loss}%");
    assert_eq!(loss, 0.0);
    let (min, avg) = (rtt[0], rtt[1]);
    assert!(min >= 49.0, "RTT below the configured 50 ms: {rtt:?}");
    assert!(avg <= 65.0, "RTT far above the configured 50 ms: {rtt:?}");
}

/// 2% loss each way: about 4% of pings lose a request or a reply.
#[test]
fn the_relay_drops_frames_at_the_configured_rate() {
    if !ready("the_relay_drops_frames_at_the_configured_rate") {
        return;
    }
    let bed = WanBed::new(WanSpec {
        rate_kbit: 0,
        one_way_delay_ms: 1,
        loss_per_mille: 20,
        seed: 7,
    });
    // Let ARP settle (it crosses the lossy relay too).
    let _ = ping(&bed, 3, 0.05);
    let (_, loss) = ping(&bed, 400, 0.005);
    eprintln!("round-trip loss {loss}% (expected about 4%)");
    assert!((1.0..=9.0).contains(&loss), "loss {loss}%");
}

/// 20 Mbit/s with 20 ms RTT: one TCP stream gets close to the rate and never above it.
#[test]
fn tcp_through_the_bed_gets_the_configured_rate() {
    if !ready("tcp_through_the_bed_gets_the_configured_rate") {
        return;
    }
    let rate_kbit = 20_000;
    let bed = WanBed::new(WanSpec {
        rate_kbit,
        one_way_delay_ms: 10,
        loss_per_mille: 0,
        seed: 3,
    });
    let mut server = bed
        .in_b("iperf3")
        .args(["-s", "-1", "-B", ADDR_B, "-p", "5299"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start iperf3 -s");
    // Wait until the server listens.
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(5);
    let client = loop {
        let out = bed
            .in_a("iperf3")
            .args(["-c", ADDR_B, "-p", "5299", "-t", "4", "-O", "1", "-J"])
            .args(["--connect-timeout", "2000"])
            .output()
            .expect("run iperf3 -c");
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("iperf3 took {:.1?}", started.elapsed());
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        client.status.success(),
        "iperf3 client failed: {}",
        String::from_utf8_lossy(&client.stdout)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&client.stdout).expect("iperf3 -J output is JSON");
    let bps = json["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("no sum_received.bits_per_second in {json}"));
    let kbit = bps / 1000.0;
    eprintln!("TCP through the bed: {kbit:.0} kbit/s (limit {rate_kbit})");
    assert!(kbit <= rate_kbit as f64 * 1.05, "above the rate limit");
    assert!(kbit >= rate_kbit as f64 * 0.6, "far below the rate limit");
}
