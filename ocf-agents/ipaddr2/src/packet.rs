//! Ethernet frames the agent sends itself: gratuitous ARP (RFC 5227
//! announcements), ARP probes for duplicate detection, and IPv6 unsolicited
//! neighbour advertisements (RFC 4861 §7.2.6). Pure builders and a parser,
//! so the byte layout is unit-tested without a network.
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
const ARPOP_REQUEST: u16 = 1;
const ARPOP_REPLY: u16 = 2;
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// The Ethernet group of ff02::1 (all nodes).
pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
const NA_FLAG_OVERRIDE: u8 = 0x20;
const OPT_TARGET_LINKADDR: u8 = 2;

fn arp_frame(op: u16, sha: [u8; 6], spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&BROADCAST_MAC);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    f.extend_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    f.extend_from_slice(&[6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa.octets());
    f
}

/// A gratuitous ARP request (announcement): sender and target are the address.
pub fn gratuitous_arp(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    arp_frame(ARPOP_REQUEST, mac, ip, ip)
}

/// An ARP probe: sender address 0.0.0.0 so that no cache learns from it.
pub fn arp_probe(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    arp_frame(ARPOP_REQUEST, mac, Ipv4Addr::UNSPECIFIED, ip)
}

/// The fields of an ARP packet that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_ip: Ipv4Addr,
}

/// Parses an Ethernet frame carrying IPv4-over-Ethernet ARP; anything else is `None`.
pub fn parse_arp(frame: &[u8]) -> Option<Arp> {
    if frame.len() < 42 || frame[12..14] != ETH_P_ARP.to_be_bytes() {
        return None;
    }
    let a = &frame[14..42];
    if a[0..2] != [0, 1] || a[2..4] != [8, 0] || a[4] != 6 || a[5] != 4 {
        return None;
    }
    let ip = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    Some(Arp {
        op: u16::from_be_bytes([a[6], a[7]]),
        sender_mac: a[8..14].try_into().ok()?,
        sender_ip: ip(&a[14..18]),
        target_ip: ip(&a[24..28]),
    })
}

/// Whether `arp` shows another host using `ip` (RFC 5227 §2.1.1): a reply or
/// request from it, or another probe for the same address.
pub fn is_conflict(arp: &Arp, own_mac: [u8; 6], ip: Ipv4Addr) -> bool {
    if arp.sender_mac == own_mac {
        return false;
    }
    let claims = arp.sender_ip == ip && matches!(arp.op, ARPOP_REPLY | ARPOP_REQUEST);
    let probes = arp.op == ARPOP_REQUEST && arp.sender_ip.is_unspecified() && arp.target_ip == ip;
    claims || probes
}

/// The Internet checksum over `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An unsolicited neighbour advertisement for `ip` to all nodes, override set,
/// hop limit 255, with the target link-layer address option.
pub fn unsolicited_na(mac: [u8; 6], ip: Ipv6Addr) -> Vec<u8> {
    let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut icmp = Vec::with_capacity(32);
    icmp.extend_from_slice(&[ICMPV6_NEIGHBOR_ADVERT, 0, 0, 0]);
    icmp.extend_from_slice(&[NA_FLAG_OVERRIDE, 0, 0, 0]);
    icmp.extend_from_slice(&ip.octets());
    icmp.extend_from_slice(&[OPT_TARGET_LINKADDR, 1]);
    icmp.extend_from_slice(&mac);
    let len = icmp.len() as u16;
    let mut pseudo = Vec::with_capacity(40 + icmp.len());
    pseudo.extend_from_slice(&ip.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&u32::from(len).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(&icmp);
    let sum = checksum(&pseudo);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());

    let mut f = Vec::with_capacity(14 + 40 + icmp.len());
    f.extend_from_slice(&ALL_NODES_MAC);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, no traffic class or flow label
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(&[58, 255]); // next header ICMPv6, hop limit 255
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&icmp);
    f
}

/// A link-layer address from netlink, when it is an Ethernet one.
pub fn ether_mac(bytes: &[u8]) -> Option<[u8; 6]> {
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

    #[test]
    fn gratuitous_arp_layout() {
        let ip: Ipv4Addr = "10.1.0.5".parse().unwrap();
        let f = gratuitous_arp(MAC, ip);
        assert_eq!(f.len(), 42);
        assert_eq!(&f[0..6], &BROADCAST_MAC);
        let a = parse_arp(&f).unwrap();
        assert_eq!(
            a,
            Arp {
                op: 1,
                sender_mac: MAC,
                sender_ip: ip,
                target_ip: ip
            }
        );
        let p = parse_arp(&arp_probe(MAC, ip)).unwrap();
        assert!(p.sender_ip.is_unspecified());
        assert_eq!(p.target_ip, ip);
    }

    #[test]
    fn conflicts() {
        let ip: Ipv4Addr = "10.1.0.5".parse().unwrap();
        let other = [0x02, 0, 0, 0, 0, 9];
        let reply = Arp {
            op: 2,
            sender_mac: other,
            sender_ip: ip,
            target_ip: Ipv4Addr::UNSPECIFIED,
        };
        assert!(is_conflict(&reply, MAC, ip));
        assert!(
            !is_conflict(
                &Arp {
                    sender_mac: MAC,
                    ..reply
                },
                MAC,
                ip
            ),
            "our own frame"
        );
        let unrelated = Arp {
            sender_ip: "10.1.0.6".parse().unwrap(),
            ..reply
        };
        assert!(!is_conflict(&unrelated, MAC, ip));
        let probe = Arp {
            op: 1,
            sender_mac: other,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_ip: ip,
        };
        assert!(is_conflict(&probe, MAC, ip));
        assert_eq!(parse_arp(&[0u8; 41]), None);
        assert_eq!(parse_arp(&[0u8; 60]), None);
    }

    #[test]
    fn na_layout_and_checksum() {
        let ip: Ipv6Addr = "2001:db8::5".parse().unwrap();
        let f = unsolicited_na(MAC, ip);
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!(&f[0..6], &ALL_NODES_MAC);
        assert_eq!(f[14 + 7], 255, "hop limit");
        assert_eq!(f[14 + 6], 58, "next header");
        let icmp = &f[54..];
        assert_eq!(icmp[0], 136);
        assert_eq!(icmp[4], 0x20, "override only");
        assert_eq!(&icmp[8..24], &ip.octets());
        assert_eq!(&icmp[26..32], &MAC);
        // Verifying: the checksum over pseudo-header + message with the checksum in is 0.
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&f[22..54]);
        pseudo.extend_from_slice(&32u32.to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 58]);
        pseudo.extend_from_slice(icmp);
        assert_eq!(checksum(&pseudo), 0);
    }

    #[test]
    fn checksum_of_known_vector() {
        // RFC 1071 example words: 0x0001 0xf203 0xf4f5 0xf6f7 sum to 0xddf2 (complement 0x220d).
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        assert_eq!(checksum(&[0xff]), !0xff00u16);
    }
}
