//! Under systemd (`Type=notify`, `WatchdogSec=`), shimaid says READY=1 once its control socket
//! answers and then pings the watchdog from its engine loop (WATCHDOG=1 at half the
//! interval), so a loop that stops turning gets the daemon restarted. systemd's side is played
//! by a datagram socket of the test's own (`NOTIFY_SOCKET`), as systemd passes it. One test in
//! this binary: the environment it sets for the daemon races with nothing.

mod replication_support;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use replication_support::*;

#[test]
fn shimaid_says_ready_and_pings_the_watchdog_from_its_loop() {
    let test = "shimaid_says_ready_and_pings_the_watchdog_from_its_loop";
    if !have(test, &[]) {
        return;
    }
    let mut p = Pair::new("repl-watchdog", 16, "  options { attach none; }");
    let sock = p.dir.join("notify.sock");
    let systemd = UnixDatagram::bind(&sock).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    std::env::set_var("NOTIFY_SOCKET", &sock);
    std::env::set_var("WATCHDOG_USEC", "400000");
    p.up(0);
    std::env::remove_var("NOTIFY_SOCKET");
    std::env::remove_var("WATCHDOG_USEC");

    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 256];
    while Instant::now() < deadline {
        if let Ok(n) = systemd.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert_eq!(got.first().map(String::as_str), Some("READY=1"), "{got:?}");
    let pings = got.iter().filter(|m| *m == "WATCHDOG=1").count();
    // 3 s at one ping per 200 ms (half of 400 ms), on 100 ms ticks.
    assert!((8..=20).contains(&pings), "{pings} pings in 3 s: {got:?}");
}
