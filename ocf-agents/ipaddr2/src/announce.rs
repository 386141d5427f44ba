//! Telling the segment about the address: gratuitous ARPs or unsolicited
//! neighbour advertisements, and the RFC 5227 probe for a duplicate, all
//! sent by the agent itself on a packet socket (no send_arp, send_ua or
//! arping process).
//!
//! In the background mode (`arp_bg`, the IPv4 default) the agent forks a
//! child that keeps sending after start has returned; its pid is kept in
//! `$HA_RSCTMP` so that stop can end it, as the shell agent does with send_arp.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::packet;
use crate::sys::{fork_background, PacketSocket, PACKET_OUTGOING};

/// One announcement job.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub index: u32,
    pub mac: [u8; 6],
    pub ip: IpAddr,
    pub count: u32,
    pub interval: Duration,
}

/// Sends the announcements now, sleeping `interval` between them.
pub fn send(job: &Job) -> Result<(), Error> {
    let (proto, frame) = match job.ip {
        IpAddr::V4(v4) => (packet::ETH_P_ARP, packet::gratuitous_arp(job.mac, v4)),
        IpAddr::V6(v6) => (packet::ETH_P_IPV6, packet::unsolicited_na(job.mac, v6)),
    };
    let sock = PacketSocket::open(job.index, proto)?;
    for i in 0..job.count {
        if i > 0 {
            std::thread::sleep(job.interval);
        }
        sock.send(&frame)?;
    }
    Ok(())
}

/// Where the background announcer's pid is kept. The network namespace is
/// part of the name, so agents in different namespaces never meet.
pub fn pid_file(ip: &str) -> PathBuf {
    state_dir().join(format!("shimai-IPaddr2-announce-{}-{ip}", netns_id()))
}

/// `$HA_RSCTMP`, the resource agents' state directory (cleared at boot).
pub fn state_dir() -> PathBuf {
    std::env::var_os("HA_RSCTMP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/resource-agents"))
}

/// The inode of this process's network namespace, e.g. `4026531840`.
pub fn netns_id() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .ok()
        .and_then(|p| {
            p.to_string_lossy()
                .trim_start_matches("net:[")
                .trim_end_matches(']')
                .parse::<u64>()
                .ok()
        })
        .map_or_else(|| "0".into(), |n| n.to_string())
}

/// Starts `job` in a background child; returns at once. The child keeps its
/// own pid file while it runs, so that no file outlives a normal end.
pub fn spawn(job: Job, ip_text: &str) -> Result<(), Error> {
    let file = pid_file(ip_text);
    let _ = std::fs::create_dir_all(state_dir());
    fork_background(move || {
        // Losing the pid file only means stop cannot end the (short-lived) sender early.
        let _ = std::fs::write(&file, format!("{}\n", std::process::id()));
        let _ = send(&job);
        let _ = std::fs::remove_file(&file);
    })?;
    Ok(())
}

/// Ends a background announcer left by start, if one is still running.
/// Returns whether one was stopped.
pub fn kill_background(ip_text: &str) -> bool {
    let file = pid_file(ip_text);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return false;
    };
    let _ = std::fs::remove_file(&file);
    let Ok(pid) = text.trim().parse::<i32>() else {
        return false;
    };
    // Only a process that is still one of ours: pids get reused.
    let comm = |p: &str| std::fs::read_to_string(format!("/proc/{p}/comm")).ok();
    if pid <= 1 || comm(&pid.to_string()).is_none() || comm(&pid.to_string()) != comm("self") {
        return false;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .is_ok()
}

/// RFC 5227 duplicate detection: two probes, then listen until `wait` has
/// passed since the first. Returns the MAC of a host that claims `ip`.
pub fn probe_duplicate(
    index: u32,
    mac: [u8; 6],
    ip: Ipv4Addr,
    wait: Duration,
) -> Result<Option<[u8; 6]>, Error> {
    let sock = PacketSocket::open(index, packet::ETH_P_ARP)?;
    let probe = packet::arp_probe(mac, ip);
    let start = Instant::now();
    let second_at = wait / 2;
    let mut sent = 0;
    let mut buf = [0u8; 1600];
    loop {
        let elapsed = start.elapsed();
        if sent == 0 || (sent == 1 && elapsed >= second_at) {
            sock.send(&probe)?;
            sent += 1;
        }
        let Some(left) = wait.checked_sub(start.elapsed()) else {
            return Ok(None);
        };
        let slice = if sent == 1 {
            left.min(
                second_at
                    .saturating_sub(start.elapsed())
                    .max(Duration::from_millis(1)),
            )
        } else {
            left
        };
        if let Some((n, kind)) = sock.recv(&mut buf, slice)? {
            if kind == PACKET_OUTGOING {
                continue;
            }
            if let Some(arp) = packet::parse_arp(&buf[..n]) {
                if packet::is_conflict(&arp, mac, ip) {
                    return Ok(Some(arp.sender_mac));
                }
            }
        }
    }
}
