//! systemd's notification protocol (`sd_notify`): `READY=1` once the control socket answers,
//! and `WATCHDOG=1` from the engine's own loop, so a loop that stops turning (a deadlock, a
//! wait that never ends) gets the daemon restarted by systemd under `WatchdogSec=`.

use std::time::{Duration, Instant};

/// Sends one message to `NOTIFY_SOCKET`, if systemd gave one.
pub fn send(msg: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(abs) => SocketAddr::from_abstract_name(abs.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|a| UnixDatagram::unbound()?.send_to_addr(msg.as_bytes(), &a));
    if let Err(e) = sent {
        log::warn!("cannot notify systemd on {path}: {e}");
    }
}

/// The watchdog as systemd set it (`WATCHDOG_USEC`, for this process per `WATCHDOG_PID`):
/// pinged at half the interval, as sd_watchdog_enabled(3) advises.
pub struct Watchdog {
    every: Option<Duration>,
    last: Instant,
}

impl Watchdog {
    pub fn from_env() -> Watchdog {
        let for_us = std::env::var("WATCHDOG_PID")
            .map(|p| p.trim() == std::process::id().to_string())
            .unwrap_or(true);
        let every = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&us| us > 0 && for_us)
            .map(|us| Duration::from_micros(us / 2));
        Watchdog {
            every,
            last: Instant::now(),
        }
    }

    /// Called from the loop (every tick): pings when half the interval has passed.
    pub fn tick(&mut self) {
        if let Some(every) = self.every {
            if self.last.elapsed() >= every {
                self.last = Instant::now();
                send("WATCHDOG=1");
            }
        }
    }
}
