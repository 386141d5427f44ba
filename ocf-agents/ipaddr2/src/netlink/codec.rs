//! The rtnetlink messages the agent needs, as plain values.
//!
//! Encoding and decoding are pure and total: any byte string decodes to
//! messages or to a [`DecodeError`] naming the offset, never a panic, and a
//! message type the agent does not use is a value ([`Body::Other`]).
//! Netlink uses the host's byte order, so all integers are native-endian.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWADDRLABEL: u16 = 72;
pub const RTM_DELADDRLABEL: u16 = 73;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFAL_ADDRESS: u16 = 1;
const IFAL_LABEL: u16 = 2;

pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;
pub const AF_UNSPEC: u8 = 0;

pub const IFA_F_NODAD: u32 = 0x02;
pub const IFA_F_DADFAILED: u32 = 0x08;
pub const IFA_F_TENTATIVE: u32 = 0x40;
pub const IFA_F_NOPREFIXROUTE: u32 = 0x200;

pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;
pub const RT_TABLE_MAIN: u32 = 254;
pub const RT_TABLE_LOCAL: u32 = 255;
pub const IFF_UP: u32 = 0x1;
/// `ARPHRD_ETHER`: the only link type the agent builds frames for.
pub const ARPHRD_ETHER: u16 = 1;
/// Lifetime value meaning "forever" in `IFA_CACHEINFO`.
pub const INFINITY_LIFE: u32 = u32::MAX;

/// Why a buffer is not a sequence of netlink messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A header or attribute claims more bytes than the buffer holds.
    #[error("netlink message truncated at byte {0}")]
    Truncated(usize),
    /// A length field is smaller than the structure it must contain.
    #[error("netlink length field invalid at byte {0}")]
    BadLength(usize),
}

/// An interface address (`RTM_NEWADDR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrMsg {
    pub family: u8,
    pub prefix_len: u8,
    /// `IFA_FLAGS` when present (it carries bits beyond the first 8), else `ifa_flags`.
    pub flags: u32,
    pub scope: u8,
    pub index: u32,
    /// The address itself: `IFA_LOCAL` for IPv4, `IFA_ADDRESS` for IPv6.
    pub addr: Option<IpAddr>,
    pub broadcast: Option<Ipv4Addr>,
    pub label: Option<String>,
    /// (preferred, valid) lifetimes in seconds.
    pub lifetimes: Option<(u32, u32)>,
}

/// A route (`RTM_NEWROUTE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMsg {
    pub family: u8,
    pub dst_len: u8,
    pub table: u32,
    pub protocol: u8,
    pub scope: u8,
    pub kind: u8,
    pub dst: Option<IpAddr>,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    pub prefsrc: Option<IpAddr>,
    pub metric: Option<u32>,
}

/// A network interface (`RTM_NEWLINK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkMsg {
    pub index: u32,
    pub link_type: u16,
    pub flags: u32,
    pub name: String,
    pub mac: Vec<u8>,
}

/// The body of one decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Addr(AddrMsg),
    Route(RouteMsg),
    Link(LinkMsg),
    /// `NLMSG_ERROR`: 0 is an acknowledgement, otherwise a positive errno.
    Error(i32),
    Done,
    /// Any other message type; carried so that callers can skip it.
    Other(u16),
}

/// One decoded message with its header fields that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: u16,
    pub seq: u32,
    pub body: Body,
}

// ---------------------------------------------------------------- decoding

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Splits a datagram into messages.
pub fn decode(buf: &[u8]) -> Result<Vec<Message>, DecodeError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let len = u32_at(buf, at).ok_or(DecodeError::Truncated(at))? as usize;
        if len < 16 {
            return Err(DecodeError::BadLength(at));
        }
        let msg = buf.get(at..at + len).ok_or(DecodeError::Truncated(at))?;
        let kind = u16_at(msg, 4).ok_or(DecodeError::Truncated(at))?;
        let seq = u32_at(msg, 8).ok_or(DecodeError::Truncated(at))?;
        let payload = &msg[16..];
        let body = match kind {
            NLMSG_DONE => Body::Done,
            NLMSG_ERROR => {
                let e = u32_at(payload, 0).ok_or(DecodeError::Truncated(at + 16))? as i32;
                Body::Error(e.checked_neg().unwrap_or(i32::MAX))
            }
            RTM_NEWADDR | RTM_DELADDR => Body::Addr(decode_addr(payload, at + 16)?),
            RTM_NEWROUTE | RTM_DELROUTE => Body::Route(decode_route(payload, at + 16)?),
            RTM_NEWLINK => Body::Link(decode_link(payload, at + 16)?),
            other => Body::Other(other),
        };
        out.push(Message { kind, seq, body });
        at += align4(len);
    }
    Ok(out)
}

/// Iterates over the `rtattr`s of `b` (which starts at `base` in the datagram).
fn attrs(b: &[u8], base: usize) -> Result<Vec<(u16, &[u8])>, DecodeError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= b.len() {
        let len = u16_at(b, at).ok_or(DecodeError::Truncated(base + at))? as usize;
        let kind = u16_at(b, at + 2).ok_or(DecodeError::Truncated(base + at))?;
        if len < 4 {
            return Err(DecodeError::BadLength(base + at));
        }
        let data = b
            .get(at + 4..at + len)
            .ok_or(DecodeError::Truncated(base + at))?;
        // The kernel sets NLA_F_NESTED / NLA_F_NET_BYTEORDER in the top bits.
        out.push((kind & 0x3fff, data));
        at += align4(len);
    }
    Ok(out)
}

fn ip_of(family: u8, data: &[u8]) -> Option<IpAddr> {
    match (family, data.len()) {
        (AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::new(
            data[0], data[1], data[2], data[3],
        ))),
        (AF_INET6, 16) => {
            let a: [u8; 16] = data.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

fn c_string(data: &[u8]) -> String {
    let end = data.iter().position(|&c| c == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

fn decode_addr(p: &[u8], base: usize) -> Result<AddrMsg, DecodeError> {
    let fixed = p.get(..8).ok_or(DecodeError::Truncated(base))?;
    let mut m = AddrMsg {
        family: fixed[0],
        prefix_len: fixed[1],
        flags: u32::from(fixed[2]),
        scope: fixed[3],
        index: u32_at(fixed, 4).unwrap_or(0),
        addr: None,
        broadcast: None,
        label: None,
        lifetimes: None,
    };
    let mut address = None;
    let mut local = None;
    for (kind, data) in attrs(&p[8..], base + 8)? {
        match kind {
            IFA_ADDRESS => address = ip_of(m.family, data),
            IFA_LOCAL => local = ip_of(m.family, data),
            IFA_BROADCAST => {
                if let Some(IpAddr::V4(b)) = ip_of(AF_INET, data) {
                    m.broadcast = Some(b);
                }
            }
            IFA_LABEL => m.label = Some(c_string(data)),
            IFA_FLAGS => {
                if let Some(f) = u32_at(data, 0) {
                    m.flags = f;
                }
            }
            IFA_CACHEINFO => {
                if let (Some(pref), Some(valid)) = (u32_at(data, 0), u32_at(data, 4)) {
                    m.lifetimes = Some((pref, valid));
                }
            }
            _ => {}
        }
    }
    m.addr = local.or(address);
    Ok(m)
}

fn decode_route(p: &[u8], base: usize) -> Result<RouteMsg, DecodeError> {
    let fixed = p.get(..12).ok_or(DecodeError::Truncated(base))?;
    let mut m = RouteMsg {
        family: fixed[0],
        dst_len: fixed[1],
        table: u32::from(fixed[4]),
        protocol: fixed[5],
        scope: fixed[6],
        kind: fixed[7],
        dst: None,
        oif: None,
        gateway: None,
        prefsrc: None,
        metric: None,
    };
    for (kind, data) in attrs(&p[12..], base + 12)? {
        match kind {
            RTA_DST => m.dst = ip_of(m.family, data),
            RTA_OIF => m.oif = u32_at(data, 0),
            RTA_GATEWAY => m.gateway = ip_of(m.family, data),
            RTA_PREFSRC => m.prefsrc = ip_of(m.family, data),
            RTA_PRIORITY => m.metric = u32_at(data, 0),
            RTA_TABLE => {
                if let Some(t) = u32_at(data, 0) {
                    m.table = t;
                }
            }
            _ => {}
        }
    }
    Ok(m)
}

fn decode_link(p: &[u8], base: usize) -> Result<LinkMsg, DecodeError> {
    let fixed = p.get(..16).ok_or(DecodeError::Truncated(base))?;
    let mut m = LinkMsg {
        link_type: u16_at(fixed, 2).unwrap_or(0),
        index: u32_at(fixed, 4).unwrap_or(0),
        flags: u32_at(fixed, 8).unwrap_or(0),
        name: String::new(),
        mac: Vec::new(),
    };
    for (kind, data) in attrs(&p[16..], base + 16)? {
        match kind {
            IFLA_IFNAME => m.name = c_string(data),
            IFLA_ADDRESS => m.mac = data.to_vec(),
            _ => {}
        }
    }
    Ok(m)
}

// ---------------------------------------------------------------- encoding

/// A message under construction: header, fixed part, then attributes.
struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    fn new(kind: u16, flags: u16, seq: u32) -> Builder {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        Builder { buf }
    }
    fn raw(mut self, bytes: &[u8]) -> Builder {
        self.buf.extend_from_slice(bytes);
        self
    }
    fn attr(mut self, kind: u16, data: &[u8]) -> Builder {
        let len = 4 + data.len();
        // Attribute payloads here are addresses, names and small structs; far below u16::MAX.
        self.buf
            .extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }
    fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

pub fn family_of(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

/// A dump request (`RTM_GETLINK`, `RTM_GETADDR`, `RTM_GETROUTE`) for one family.
pub fn encode_dump(kind: u16, family: u8, seq: u32) -> Vec<u8> {
    let fixed: Vec<u8> = match kind {
        RTM_GETLINK => {
            let mut f = vec![0u8; 16];
            f[0] = family;
            f
        }
        RTM_GETROUTE => {
            let mut f = vec![0u8; 12];
            f[0] = family;
            f
        }
        _ => {
            let mut f = vec![0u8; 8];
            f[0] = family;
            f
        }
    };
    Builder::new(kind, NLM_F_REQUEST | NLM_F_DUMP, seq)
        .raw(&fixed)
        .finish()
}

/// What `ip addr add` sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAddr {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub broadcast: Option<Ipv4Addr>,
    /// Full label (`nic:label`), IPv4 only.
    pub label: Option<String>,
    pub flags: u32,
    /// Preferred lifetime in seconds (`None` = forever); valid is always forever.
    pub preferred_lft: Option<u32>,
}

/// The scope `ip addr add` picks when none is given: the kernel rejects
/// anything but host scope for 127.0.0.0/8.
pub fn default_scope(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(a) if a.octets()[0] == 127 => RT_SCOPE_HOST,
        _ => RT_SCOPE_UNIVERSE,
    }
}

fn ifaddrmsg(family: u8, prefix_len: u8, flags: u8, scope: u8, index: u32) -> Vec<u8> {
    let mut f = vec![family, prefix_len, flags, scope];
    f.extend_from_slice(&index.to_ne_bytes());
    f
}

pub fn encode_new_addr(a: &NewAddr, seq: u32) -> Vec<u8> {
    let family = family_of(&a.addr);
    let ip = ip_bytes(&a.addr);
    let low_flags = u8::try_from(a.flags & 0xff).unwrap_or(0);
    let mut b = Builder::new(
        RTM_NEWADDR,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        seq,
    )
    .raw(&ifaddrmsg(
        family,
        a.prefix_len,
        low_flags,
        default_scope(&a.addr),
        a.index,
    ))
    .attr(IFA_LOCAL, &ip)
    .attr(IFA_ADDRESS, &ip);
    if let Some(brd) = a.broadcast {
        b = b.attr(IFA_BROADCAST, &brd.octets());
    }
    if let Some(label) = &a.label {
        let mut l = label.as_bytes().to_vec();
        l.push(0);
        b = b.attr(IFA_LABEL, &l);
    }
    if a.flags > 0xff {
        b = b.attr(IFA_FLAGS, &a.flags.to_ne_bytes());
    }
    if let Some(pref) = a.preferred_lft {
        let mut ci = Vec::with_capacity(16);
        ci.extend_from_slice(&pref.to_ne_bytes());
        ci.extend_from_slice(&INFINITY_LIFE.to_ne_bytes());
        ci.extend_from_slice(&[0u8; 8]);
        b = b.attr(IFA_CACHEINFO, &ci);
    }
    b.finish()
}

/// What `ip addr del ADDR/LEN dev IFACE` sends.
pub fn encode_del_addr(index: u32, addr: &IpAddr, prefix_len: u8, seq: u32) -> Vec<u8> {
    let ip = ip_bytes(addr);
    Builder::new(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq)
        .raw(&ifaddrmsg(
            family_of(addr),
            prefix_len,
            0,
            RT_SCOPE_UNIVERSE,
            index,
        ))
        .attr(IFA_LOCAL, &ip)
        .attr(IFA_ADDRESS, &ip)
        .finish()
}

/// What `ip link set IFACE up` sends.
pub fn encode_link_up(index: u32, seq: u32) -> Vec<u8> {
    let mut f = vec![AF_UNSPEC, 0, 0, 0];
    f.extend_from_slice(&index.to_ne_bytes());
    f.extend_from_slice(&IFF_UP.to_ne_bytes());
    f.extend_from_slice(&IFF_UP.to_ne_bytes());
    Builder::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq)
        .raw(&f)
        .finish()
}

/// What `ip route del ADDR dev IFACE` sends for a host route in the main table.
pub fn encode_del_host_route(index: u32, addr: &IpAddr, seq: u32) -> Vec<u8> {
    let ip = ip_bytes(addr);
    let family = family_of(addr);
    let len = u8::try_from(ip.len() * 8).unwrap_or(0);
    // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
    let mut f = vec![
        family,
        len,
        0,
        0,
        RT_TABLE_MAIN as u8,
        0,
        RT_SCOPE_UNIVERSE,
        0,
    ];
    f.extend_from_slice(&0u32.to_ne_bytes());
    Builder::new(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, seq)
        .raw(&f)
        .attr(RTA_DST, &ip)
        .attr(RTA_OIF, &index.to_ne_bytes())
        .finish()
}

/// What `ip addrlabel add|del prefix ADDR label VALUE` sends (IPv6 host prefix).
pub fn encode_addrlabel(add: bool, addr: &Ipv6Addr, label: u32, seq: u32) -> Vec<u8> {
    let (kind, flags) = if add {
        (
            RTM_NEWADDRLABEL,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
    } else {
        (RTM_DELADDRLABEL, NLM_F_REQUEST | NLM_F_ACK)
    };
    // ifaddrlblmsg: family, reserved, prefixlen, flags, ifindex, seq
    let mut f = vec![AF_INET6, 0, 128, 0];
    f.extend_from_slice(&0u32.to_ne_bytes());
    f.extend_from_slice(&0u32.to_ne_bytes());
    Builder::new(kind, flags, seq)
        .raw(&f)
        .attr(IFAL_ADDRESS, &addr.octets())
        .attr(IFAL_LABEL, &label.to_ne_bytes())
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel-style RTM_NEWADDR for 10.1.0.5/24 brd 10.1.0.255 label va:x on ifindex 3.
    fn sample_addr(seq: u32) -> Vec<u8> {
        let a = NewAddr {
            index: 3,
            addr: "10.1.0.5".parse().unwrap(),
            prefix_len: 24,
            broadcast: Some("10.1.0.255".parse().unwrap()),
            label: Some("va:x".into()),
            flags: IFA_F_NOPREFIXROUTE,
            preferred_lft: None,
        };
        encode_new_addr(&a, seq)
    }

    #[test]
    fn new_addr_round_trips_through_decode() {
        let bytes = sample_addr(7);
        assert_eq!(bytes.len() % 4, 0);
        let msgs = decode(&bytes).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].seq, 7);
        let Body::Addr(a) = &msgs[0].body else {
            panic!("not an address: {:?}", msgs[0])
        };
        assert_eq!(a.addr, Some("10.1.0.5".parse().unwrap()));
        assert_eq!(a.prefix_len, 24);
        assert_eq!(a.index, 3);
        assert_eq!(a.broadcast, Some("10.1.0.255".parse().unwrap()));
        assert_eq!(a.label.as_deref(), Some("va:x"));
        assert_eq!(a.flags, IFA_F_NOPREFIXROUTE);
    }

    #[test]
    fn ipv6_address_with_lifetime() {
        let a = NewAddr {
            index: 2,
            addr: "2001:db8::5".parse().unwrap(),
            prefix_len: 64,
            broadcast: None,
            label: None,
            flags: IFA_F_NODAD,
            preferred_lft: Some(0),
        };
        let m = decode(&encode_new_addr(&a, 1)).unwrap();
        let Body::Addr(d) = &m[0].body else { panic!() };
        assert_eq!(d.family, AF_INET6);
        assert_eq!(d.flags, IFA_F_NODAD);
        assert_eq!(d.lifetimes, Some((0, INFINITY_LIFE)));
        assert_eq!(d.scope, RT_SCOPE_UNIVERSE);
        let lo = NewAddr {
            addr: "127.0.0.5".parse().unwrap(),
            prefix_len: 8,
            ..a
        };
        let m = decode(&encode_new_addr(&lo, 1)).unwrap();
        let Body::Addr(d) = &m[0].body else { panic!() };
        assert_eq!(d.scope, RT_SCOPE_HOST, "127/8 must be host scope");
    }

    #[test]
    fn several_messages_error_and_done() {
        let mut buf = sample_addr(1);
        // NLMSG_ERROR with -EEXIST (17) followed by the offending header.
        let mut err = Builder::new(NLMSG_ERROR, 0, 1)
            .raw(&(-17i32).to_ne_bytes())
            .raw(&[0u8; 16])
            .finish();
        buf.append(&mut err);
        buf.append(&mut Builder::new(NLMSG_DONE, 0, 1).raw(&[0; 4]).finish());
        let m = decode(&buf).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].body, Body::Error(17));
        assert_eq!(m[2].body, Body::Done);
    }

    #[test]
    fn truncation_is_an_error_not_a_panic() {
        let bytes = sample_addr(1);
        for cut in 1..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // A length field below the header size.
        let mut bad = bytes.clone();
        bad[..4].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(decode(&bad), Err(DecodeError::BadLength(0)));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every prefix of many pseudo-random buffers.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..300 {
            let mut buf = Vec::new();
            for _ in 0..96 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf.push((x & 0xff) as u8);
            }
            // Make the first header plausible so decoding goes deeper.
            buf[..4].copy_from_slice(&64u32.to_ne_bytes());
            buf[4..6].copy_from_slice(
                &[RTM_NEWROUTE, RTM_NEWADDR, RTM_NEWLINK][(x % 3) as usize].to_ne_bytes(),
            );
            for cut in 0..buf.len() {
                let _ = decode(&buf[..cut]);
            }
        }
    }

    #[test]
    fn route_and_link_decode() {
        let mut f = vec![AF_INET, 24, 0, 0, 254, 2, RT_SCOPE_LINK, RTN_UNICAST];
        f.extend_from_slice(&0u32.to_ne_bytes());
        let r = Builder::new(RTM_NEWROUTE, 2, 9)
            .raw(&f)
            .attr(RTA_TABLE, &254u32.to_ne_bytes())
            .attr(RTA_DST, &[10, 1, 0, 0])
            .attr(RTA_PREFSRC, &[10, 1, 0, 1])
            .attr(RTA_OIF, &3u32.to_ne_bytes())
            .finish();
        let m = decode(&r).unwrap();
        let Body::Route(r) = &m[0].body else { panic!() };
        assert_eq!(r.dst, Some("10.1.0.0".parse().unwrap()));
        assert_eq!(
            (r.dst_len, r.table, r.scope, r.oif),
            (24, 254, RT_SCOPE_LINK, Some(3))
        );
        assert_eq!(r.prefsrc, Some("10.1.0.1".parse().unwrap()));

        let mut f = vec![0u8, 0];
        f.extend_from_slice(&ARPHRD_ETHER.to_ne_bytes());
        f.extend_from_slice(&5u32.to_ne_bytes());
        f.extend_from_slice(&IFF_UP.to_ne_bytes());
        f.extend_from_slice(&0u32.to_ne_bytes());
        let l = Builder::new(RTM_NEWLINK, 2, 1)
            .raw(&f)
            .attr(IFLA_IFNAME, b"va\0")
            .attr(IFLA_ADDRESS, &[2, 0, 0, 0, 0, 1])
            .finish();
        let Body::Link(l) = &decode(&l).unwrap()[0].body else {
            panic!()
        };
        assert_eq!(
            (l.index, l.name.as_str(), l.link_type),
            (5, "va", ARPHRD_ETHER)
        );
        assert_eq!(l.mac, vec![2, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn requests_have_the_kernel_layout() {
        let up = encode_link_up(4, 3);
        assert_eq!(up.len(), 32);
        assert_eq!(u16_at(&up, 4), Some(RTM_NEWLINK));
        assert_eq!(u32_at(&up, 16 + 4), Some(4));
        let del = encode_del_addr(4, &"10.0.0.1".parse().unwrap(), 24, 1);
        assert_eq!(u16_at(&del, 4), Some(RTM_DELADDR));
        assert_eq!(del[16 + 1], 24);
        let dump = encode_dump(RTM_GETROUTE, AF_INET6, 2);
        assert_eq!(dump.len(), 28);
        assert_eq!(dump[16], AF_INET6);
        let lbl = encode_addrlabel(true, &"2001:db8::1".parse().unwrap(), 99, 1);
        assert_eq!(u16_at(&lbl, 4), Some(RTM_NEWADDRLABEL));
    }
}
