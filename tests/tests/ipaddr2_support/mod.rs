//! Helpers for the IPaddr2 suites: a namespace "lab" with a veth pair, the
//! addresses of a namespace as comparable text (from `ip -j addr`), and a
//! small JSON reader for that output (the tests crate has no JSON dependency).

#![allow(dead_code)] // each suite uses a different subset

pub mod json;

use std::path::PathBuf;

use shimai_tests::{bin, Netns};

/// Our agent binary.
pub fn ours() -> PathBuf {
    bin("ocf-ipaddr2")
}

/// A namespace with `lo` up and a veth pair `va`/`vb`, `va` carrying
/// 10.N.0.1/24 (with broadcast) and 2001:db8:N::1/64.
pub fn lab(prefix: &str, n: u8) -> Netns {
    let ns = Netns::new(prefix);
    ns.veth_pair("va", "vb", &format!("10.{n}.0.1/24 brd +"), "");
    ns.ip(&format!("addr add 2001:db8:{n}::1/64 dev va nodad"));
    ns
}

/// The namespace's addresses, one sorted line each:
/// `dev family addr/len brd=.. label=.. [flags]`. Link-local IPv6 addresses
/// (derived from random MACs) and transient DAD flags are left out.
pub fn addr_state(ns: &Netns) -> Vec<String> {
    let text = ns.ip("-j addr show");
    let doc = json::parse(&text).unwrap_or_else(|e| panic!("ip -j addr: {e}: {text}"));
    let mut lines = Vec::new();
    for link in doc.array() {
        let dev = link.get("ifname").str();
        for a in link.get("addr_info").array() {
            let family = a.get("family").str();
            let scope = a.get("scope").str();
            if family == "inet6" && scope == "link" {
                continue;
            }
            let mut line = format!(
                "{dev} {family} {}/{} scope={scope} brd={} label={}",
                a.get("local").str(),
                a.get("prefixlen").num(),
                a.get("broadcast").str(),
                a.get("label").str(),
            );
            for flag in ["noprefixroute", "nodad", "deprecated"] {
                if a.get(flag).is_true() {
                    line.push(' ');
                    line.push_str(flag);
                }
            }
            lines.push(line);
        }
    }
    lines.sort();
    lines
}

/// The MAC address of `dev` in the namespace.
pub fn mac_of(ns: &Netns, dev: &str) -> [u8; 6] {
    let text = ns.ip(&format!("-j link show dev {dev}"));
    let doc = json::parse(&text).expect("ip -j link");
    let s = doc.array()[0].get("address").str().to_string();
    let v: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex MAC"))
        .collect();
    v.try_into().expect("6-byte MAC")
}

/// Frames of a classic pcap file (as `tcpdump -w` writes, Ethernet link type).
pub fn pcap_frames(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if data.len() < 24 {
        return out;
    }
    let le = data[0..4] == [0xd4, 0xc3, 0xb2, 0xa1] || data[0..4] == [0x4d, 0x3c, 0xb2, 0xa1];
    let u32_at = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut at = 24;
    while at + 16 <= data.len() {
        let incl = u32_at(&data[at + 8..at + 12]) as usize;
        let start = at + 16;
        if start + incl > data.len() {
            break;
        }
        out.push(data[start..start + incl].to_vec());
        at = start + incl;
    }
    out
}

/// Waits (up to 5 s) until the kernel reports `va` and `vb` operationally up:
/// before that, a fresh veth drops what is sent on it.
pub fn wait_links_up(ns: &Netns) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let doc = json::parse(&ns.ip("-j link show")).expect("ip -j link");
        let up = doc
            .array()
            .iter()
            .filter(|l| matches!(l.get("ifname").str(), "va" | "vb"))
            .filter(|l| l.get("operstate").str() == "UP")
            .count();
        if up == 2 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "veth pair did not come up"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
