//! The `ip/bits/nic/broadcast` notation of the IPaddr wrappers.
//!
//! Heartbeat's wrapper read the third field as a broadcast address when it
//! starts with a digit, and as an interface otherwise; the old
//! haresources2cib.py got netmask and interface swapped. Both are written
//! down here once, with the address checks, so every IP resource agrees.

use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPaddr/IPaddr2 argument taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSpec {
    /// The address.
    pub ip: Ipv4Addr,
    /// Prefix length, when given (a dotted netmask is converted).
    pub bits: Option<u8>,
    /// Interface without label.
    pub nic: Option<String>,
    /// Interface label (`eth0:1` gives `1`), which IPaddr2 wants apart.
    pub label: Option<String>,
    /// Broadcast address.
    pub broadcast: Option<Ipv4Addr>,
}

/// Why a field was refused: (field, reason, expected shape).
pub type Refusal = (String, String, String);

const SHAPE: &str = "IP[/BITS[/NIC[:LABEL]][/BROADCAST]], e.g. 192.168.1.80/24/eth0/192.168.1.255";

/// Parses `ip[/bits[/nic[:label][/bcast]]]` or `ip/bits/bcast`.
pub fn parse_ipv4_spec(text: &str) -> Result<IpSpec, Refusal> {
    let fields: Vec<&str> = text.split('/').collect();
    if fields.len() > 4 {
        return Err((
            text.into(),
            "has more than four `/` fields".into(),
            SHAPE.into(),
        ));
    }
    let ip = parse_v4(fields[0])?;
    let mut spec = IpSpec {
        ip,
        bits: None,
        nic: None,
        label: None,
        broadcast: None,
    };
    if let Some(b) = fields.get(1).filter(|b| !b.is_empty()) {
        spec.bits = Some(parse_bits(b)?);
    }
    let mut rest = fields.iter().skip(2).filter(|f| !f.is_empty());
    if let Some(third) = rest.next() {
        if third.starts_with(|c: char| c.is_ascii_digit()) {
            spec.broadcast = Some(parse_v4(third)?);
            if let Some(extra) = rest.next() {
                return Err((
                    (*extra).into(),
                    "follows the broadcast address, where nothing may".into(),
                    SHAPE.into(),
                ));
            }
        } else {
            let (nic, label) = match third.split_once(':') {
                Some((n, l)) => (n, Some(l)),
                None => (*third, None),
            };
            if nic.is_empty()
                || label == Some("")
                || !nic
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
            {
                return Err((
                    (*third).into(),
                    "is not an interface name".into(),
                    SHAPE.into(),
                ));
            }
            spec.nic = Some(nic.to_string());
            spec.label = label.map(str::to_string);
            if let Some(b) = rest.next() {
                spec.broadcast = Some(parse_v4(b)?);
            }
        }
    }
    Ok(spec)
}

fn parse_v4(s: &str) -> Result<Ipv4Addr, Refusal> {
    s.parse::<Ipv4Addr>().map_err(|_| {
        (
            s.into(),
            "is not an IPv4 address".into(),
            "four numbers 0..255 separated by dots".into(),
        )
    })
}

/// A prefix length 0..32, or a contiguous dotted netmask.
fn parse_bits(s: &str) -> Result<u8, Refusal> {
    if let Ok(n) = s.parse::<u8>() {
        if n <= 32 {
            return Ok(n);
        }
    } else if let Ok(mask) = s.parse::<Ipv4Addr>() {
        let m = u32::from(mask);
        if m.leading_ones() + m.trailing_zeros() == 32 {
            return Ok(m.leading_ones() as u8);
        }
    }
    Err((
        s.into(),
        "is neither a prefix length 0..32 nor a contiguous netmask".into(),
        "a number such as 24".into(),
    ))
}

/// An IPv6 address with optional prefix (`addr[/prefix]`), for IPv6addr.
pub fn parse_ipv6(addr: &str, prefix: Option<&str>) -> Result<(Ipv6Addr, Option<u8>), Refusal> {
    let ip = addr.parse::<Ipv6Addr>().map_err(|_| {
        (
            addr.into(),
            "is not an IPv6 address".into(),
            "IPv6addr::2001:db8::10/64/eth0".into(),
        )
    })?;
    let bits = match prefix {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= 128 => Some(n),
            _ => {
                return Err((
                    p.into(),
                    "is not a prefix length 0..128".into(),
                    "a number such as 64".into(),
                ))
            }
        },
    };
    Ok((ip, bits))
}

/// Any IPv4 address (IPsrcaddr, SendArp, ping hosts).
pub fn check_ipv4(s: &str) -> Result<Ipv4Addr, Refusal> {
    parse_v4(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_field_digit_rule() {
        let s = parse_ipv4_spec("192.168.1.80/24/eth0/192.168.1.255").unwrap();
        assert_eq!(s.bits, Some(24));
        assert_eq!(s.nic.as_deref(), Some("eth0"));
        assert_eq!(s.broadcast, Some("192.168.1.255".parse().unwrap()));
        let s = parse_ipv4_spec("10.0.0.5/8/10.255.255.255").unwrap();
        assert_eq!(s.nic, None);
        assert_eq!(s.broadcast, Some("10.255.255.255".parse().unwrap()));
        let s = parse_ipv4_spec("10.0.0.5/255.255.255.0/eth0:1").unwrap();
        assert_eq!(s.bits, Some(24));
        assert_eq!(
            (s.nic.as_deref(), s.label.as_deref()),
            (Some("eth0"), Some("1"))
        );
    }

    #[test]
    fn refusals() {
        assert!(parse_ipv4_spec("10.0.0.300").is_err());
        assert!(parse_ipv4_spec("10.0.0.1/33").is_err());
        assert!(parse_ipv4_spec("10.0.0.1/255.0.255.0").is_err());
        assert!(parse_ipv4_spec("10.0.0.1/24/1.2.3/eth0").is_err());
        assert!(parse_ipv4_spec("10.0.0.1/24/eth0/10.0.0.255/x").is_err());
        assert!(parse_ipv6("2001:db8::1", Some("129")).is_err());
    }
}
