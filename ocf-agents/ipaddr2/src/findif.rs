//! findif: which interface, prefix length and broadcast an address gets,
//! decided from the routing table as resource-agents' `findif.sh` does.
//!
//! The lookup is `ip route list match IP[/MASK]` of the main table (IPv4
//! only `scope link`), keeping the longest prefix (the last one among equal
//! lengths), restricted to `nic` when one is given. Host routes and default
//! routes never match, because the shell version only considers lines with a
//! `/`. For `127.*` with no match, the local table's `scope host` route is
//! used. The broadcast is copied from the address that is the route's
//! source. This is a pure function of the observed links, addresses and routes.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr};

use ocf::{Action, ExitCode, OcfError};

use crate::config::{parse_ipv4_strict, prefix_ok, Config, Family};
use crate::netlink::codec::{
    RouteMsg, RTN_LOCAL, RTN_UNICAST, RT_SCOPE_HOST, RT_SCOPE_LINK, RT_TABLE_LOCAL, RT_TABLE_MAIN,
};
use crate::netlink::Snapshot;

/// `RTPROT_BOOT`: `ip route` hides `proto boot`, which shifts the shell's `$7`.
const RTPROT_BOOT: u8 = 3;

/// What findif decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub nic: String,
    /// The prefix length as text (it is only checked to be a number on start).
    pub netmask: String,
    /// As given, or copied from the route's source address; `None` for no broadcast.
    pub broadcast: Option<String>,
}

/// Parameter checks that the shell agent runs only on start and validate-all.
fn check_params(cfg: &Config, snap: &Snapshot) -> Result<(), OcfError> {
    if let Some(nic) = &cfg.nic {
        if snap.link_by_name(nic).is_none() {
            return Err(OcfError::configured(format!(
                "Invalid interface name [{nic}]: no such device"
            )));
        }
    }
    let ip = &cfg.ip_text;
    match cfg.family {
        Family::V6 => {
            if !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
                return Err(OcfError::configured(format!(
                    "IP address [{ip}] not valid."
                )));
            }
            if cfg.nic.is_none() && ip.to_ascii_lowercase().starts_with("fe80::") {
                return Err(OcfError::configured(format!(
                    "'nic' parameter is mandatory for a link local address [{ip}]."
                )));
            }
            if let Some(m) = &cfg.netmask {
                if prefix_ok(m, 128).is_none() {
                    return Err(OcfError::configured(format!(
                        "Invalid netmask specification [{m}]."
                    )));
                }
            }
        }
        Family::V4 => {
            if parse_ipv4_strict(ip).is_none() {
                return Err(OcfError::configured(format!(
                    "IP address [{ip}] not valid."
                )));
            }
            if let Some(m) = &cfg.netmask {
                if prefix_ok(m, 32).is_none() {
                    return Err(OcfError::configured(format!(
                        "Invalid netmask specification [{m}]."
                    )));
                }
            }
            if let Some(b) = &cfg.broadcast {
                if parse_ipv4_strict(b).is_none() && b != "+" && b != "-" {
                    return Err(OcfError::configured(format!(
                        "Invalid broadcast address [{b}]."
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Whether `ip` lies in `dst/len`.
fn contains(dst: &IpAddr, len: u8, ip: &IpAddr) -> bool {
    match (dst, ip) {
        (IpAddr::V4(d), IpAddr::V4(i)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(*d) & mask == u32::from(*i) & mask
        }
        (IpAddr::V6(d), IpAddr::V6(i)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(*d) & mask == u128::from(*i) & mask
        }
        _ => false,
    }
}

/// The prefix length the `match` filter uses: the given mask, else a host match.
/// `None` when `ip route` would reject the argument (then nothing matches).
fn match_len(cfg: &Config) -> Option<u8> {
    let host = cfg.family.host_len();
    match &cfg.netmask {
        None => Some(host),
        Some(m) => m
            .parse::<u8>()
            .ok()
            .filter(|&p| p <= host && !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit())),
    }
}

/// The route the shell pipeline would pick, if any.
pub fn best_route<'a>(cfg: &Config, snap: &'a Snapshot) -> Option<&'a RouteMsg> {
    let ip = cfg.ip?;
    let mlen = match_len(cfg)?;
    let host = cfg.family.host_len();
    let mut best: Option<&RouteMsg> = None;
    for r in &snap.routes {
        let Some(dst) = r.dst else { continue };
        let shown_with_slash = r.dst_len > 0 && r.dst_len < host;
        if r.table != RT_TABLE_MAIN
            || r.kind != RTN_UNICAST
            || !shown_with_slash
            || r.dst_len > mlen
            || !contains(&dst, r.dst_len, &ip)
            || (cfg.family == Family::V4 && r.scope != RT_SCOPE_LINK)
        {
            continue;
        }
        if let Some(nic) = &cfg.nic {
            if r.oif.and_then(|i| snap.link_name(i)) != Some(nic.as_str()) {
                continue;
            }
        }
        if !matches!(best, Some(b) if r.dst_len < b.dst_len) {
            best = Some(r);
        }
    }
    if best.is_none() && cfg.ip_text.starts_with("127.") {
        best = snap.routes.iter().find(|r| {
            r.table == RT_TABLE_LOCAL
                && r.kind == RTN_LOCAL
                && r.scope == RT_SCOPE_HOST
                && r.dst_len > 0
                && r.dst_len < 32
                && r.dst.is_some_and(|d| contains(&d, r.dst_len, &ip))
        });
    }
    best
}

/// The broadcast of the first IPv4 address whose `ip -o addr` line mentions `src`.
fn broadcast_of_source(snap: &Snapshot, src: &IpAddr) -> Option<Ipv4Addr> {
    let needle = src.to_string();
    snap.addrs
        .iter()
        .find(|a| {
            let addr = a
                .addr
                .map(|x| format!("{x}/{}", a.prefix_len))
                .unwrap_or_default();
            addr.contains(&needle) || a.broadcast.is_some_and(|b| b.to_string().contains(&needle))
        })
        .and_then(|a| a.broadcast)
}

/// findif for `action`; an error carries findif's own exit code (6 or 1).
pub fn findif(cfg: &Config, action: &Action, snap: &Snapshot) -> Result<Found, OcfError> {
    if matches!(action, Action::Start | Action::ValidateAll) {
        check_params(cfg, snap)?;
    }
    let route = best_route(cfg, snap);
    if (cfg.nic.is_none() || cfg.netmask.is_none()) && route.is_none() {
        return Err(OcfError::generic(format!(
            "Unable to find nic or netmask for {}: no route in the main table contains it; set nic and cidr_netmask",
            cfg.ip_text
        )));
    }
    let route_nic = route.and_then(|r| r.oif).and_then(|i| snap.link_name(i));
    let nic = match (&cfg.nic, route_nic) {
        (Some(n), _) => n.clone(),
        (None, Some(n)) => n.to_string(),
        (None, None) => {
            return Err(OcfError::generic(format!(
                "Unable to find nic for {}: the matching route has no interface",
                cfg.ip_text
            )))
        }
    };
    // Without a mask there is a route (checked above), so this is never empty.
    let netmask = match &cfg.netmask {
        Some(m) => m.clone(),
        None => route.map(|r| r.dst_len.to_string()).unwrap_or_default(),
    };
    let mut broadcast = cfg.broadcast.clone();
    if cfg.family == Family::V4 && broadcast.is_none() {
        if let Some(src) = route
            .filter(|r| r.protocol != RTPROT_BOOT && r.gateway.is_none())
            .and_then(|r| r.prefsrc)
        {
            broadcast = broadcast_of_source(snap, &src).map(|b| b.to_string());
        }
    }
    Ok(Found {
        nic,
        netmask,
        broadcast,
    })
}

/// What to do when findif fails, as `ip_init` does: a probe reports "not
/// running", stop has nothing to remove, anything else fails with findif's code.
pub fn on_failure(err: OcfError, action: &Action, is_probe: bool) -> Result<ExitCode, OcfError> {
    if is_probe {
        Ok(ExitCode::NotRunning)
    } else if *action == Action::Stop {
        Ok(ExitCode::Success)
    } else {
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::codec::{AddrMsg, LinkMsg, AF_INET, AF_INET6};
    use crate::params::PARAMS;
    use ocf::{Logger, OcfEnv, Params};

    fn link(index: u32, name: &str) -> LinkMsg {
        LinkMsg {
            index,
            link_type: 1,
            flags: 1,
            name: name.into(),
            mac: vec![2, 0, 0, 0, 0, index as u8],
        }
    }

    fn route(dst: &str, len: u8, oif: u32, scope: u8, src: Option<&str>) -> RouteMsg {
        let dst: IpAddr = dst.parse().unwrap();
        RouteMsg {
            family: if dst.is_ipv4() { AF_INET } else { AF_INET6 },
            dst_len: len,
            table: RT_TABLE_MAIN,
            protocol: 2,
            scope,
            kind: RTN_UNICAST,
            dst: Some(dst),
            oif: Some(oif),
            gateway: None,
            prefsrc: src.map(|s| s.parse().unwrap()),
            metric: None,
        }
    }

    fn addr(a: &str, len: u8, index: u32, brd: Option<&str>) -> AddrMsg {
        AddrMsg {
            family: AF_INET,
            prefix_len: len,
            flags: 0,
            scope: 0,
            index,
            addr: Some(a.parse().unwrap()),
            broadcast: brd.map(|b| b.parse().unwrap()),
            label: None,
            lifetimes: None,
        }
    }

    /// lo, va (10.1.0.1/24 brd 10.1.0.255, 10.1.0.0/16 too), vb (10.1.0.0/24 too), lo's local table.
    fn snapshot() -> Snapshot {
        let mut local = route("127.0.0.0", 8, 1, RT_SCOPE_HOST, Some("127.0.0.1"));
        local.table = RT_TABLE_LOCAL;
        local.kind = RTN_LOCAL;
        Snapshot {
            links: vec![link(1, "lo"), link(2, "va"), link(3, "vb")],
            addrs: vec![
                addr("127.0.0.1", 8, 1, None),
                addr("10.1.0.1", 24, 2, Some("10.1.0.255")),
            ],
            routes: vec![
                route("10.1.0.0", 16, 2, RT_SCOPE_LINK, None),
                route("10.1.0.0", 24, 2, RT_SCOPE_LINK, Some("10.1.0.1")),
                route("10.1.0.0", 24, 3, RT_SCOPE_LINK, None),
                route("10.9.0.0", 24, 2, 0, None),
                route("2001:db8:1::", 64, 2, 0, None),
                local,
            ],
        }
    }

    fn run(vars: &[(&str, &str)], action: Action) -> Result<Found, OcfError> {
        let env = OcfEnv::from_vars(vars.iter().copied());
        let params = Params::from_env(PARAMS, &env);
        let cfg = Config::parse(&params, &env, &action, true, &Logger::silent()).unwrap();
        findif(&cfg, &action, &snapshot())
    }

    fn found(nic: &str, mask: &str, brd: Option<&str>) -> Found {
        Found {
            nic: nic.into(),
            netmask: mask.into(),
            broadcast: brd.map(Into::into),
        }
    }

    #[test]
    fn longest_prefix_last_one_wins() {
        // Two /24 routes: the later (vb) wins, and it has no source, so no broadcast.
        assert_eq!(
            run(&[("OCF_RESKEY_ip", "10.1.0.5")], Action::Start).unwrap(),
            found("vb", "24", None)
        );
    }

    #[test]
    fn nic_restricts_and_broadcast_is_copied() {
        let r = run(
            &[("OCF_RESKEY_ip", "10.1.0.5"), ("OCF_RESKEY_nic", "va")],
            Action::Start,
        );
        assert_eq!(r.unwrap(), found("va", "24", Some("10.1.0.255")));
        // A mask shorter than the /24 only matches the /16.
        let r = run(
            &[
                ("OCF_RESKEY_ip", "10.1.0.5"),
                ("OCF_RESKEY_cidr_netmask", "20"),
            ],
            Action::Start,
        );
        assert_eq!(r.unwrap(), found("va", "20", None));
    }

    #[test]
    fn ipv4_needs_scope_link_and_ipv6_does_not() {
        let e = run(&[("OCF_RESKEY_ip", "10.9.0.5")], Action::Monitor).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::ErrGeneric);
        assert!(e.reason().contains("Unable to find nic or netmask"), "{e}");
        let r = run(&[("OCF_RESKEY_ip", "2001:db8:1::5")], Action::Start).unwrap();
        assert_eq!(r, found("va", "64", None));
    }

    #[test]
    fn loopback_falls_back_to_local_table() {
        let r = run(&[("OCF_RESKEY_ip", "127.0.0.5")], Action::Start).unwrap();
        assert_eq!(r, found("lo", "8", None));
    }

    #[test]
    fn nic_and_mask_given_need_no_route() {
        let vars = [
            ("OCF_RESKEY_ip", "10.50.0.5"),
            ("OCF_RESKEY_nic", "va"),
            ("OCF_RESKEY_cidr_netmask", "24"),
        ];
        assert_eq!(run(&vars, Action::Start).unwrap(), found("va", "24", None));
    }

    #[test]
    fn parameter_checks_only_on_start_and_validate() {
        let vanished = [("OCF_RESKEY_ip", "10.1.0.5"), ("OCF_RESKEY_nic", "ethGone")];
        let e = run(&vanished, Action::Start).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::ErrConfigured);
        let e = run(&vanished, Action::Monitor).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::ErrGeneric);
        assert_eq!(
            on_failure(e.clone(), &Action::Monitor, true),
            Ok(ExitCode::NotRunning)
        );
        assert_eq!(
            on_failure(e.clone(), &Action::Stop, false),
            Ok(ExitCode::Success)
        );
        assert!(on_failure(e, &Action::Monitor, false).is_err());
        for bad in [
            vec![("OCF_RESKEY_ip", "not_ip")],
            vec![
                ("OCF_RESKEY_ip", "10.1.0.5"),
                ("OCF_RESKEY_cidr_netmask", "33"),
            ],
            vec![("OCF_RESKEY_ip", "10.1.0.5"), ("OCF_RESKEY_broadcast", "x")],
            vec![("OCF_RESKEY_ip", "fe80::1")],
            vec![("OCF_RESKEY_ip", "2001:db8::g")],
        ] {
            let e = run(&bad, Action::ValidateAll).unwrap_err();
            assert_eq!(e.exit_code(), ExitCode::ErrConfigured, "{bad:?}");
        }
        // On monitor, a bad mask simply matches no route.
        let m33 = [
            ("OCF_RESKEY_ip", "10.1.0.5"),
            ("OCF_RESKEY_cidr_netmask", "33"),
            ("OCF_RESKEY_nic", "va"),
        ];
        assert_eq!(run(&m33, Action::Monitor).unwrap(), found("va", "33", None));
    }
}
