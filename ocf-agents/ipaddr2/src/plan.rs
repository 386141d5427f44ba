//! Decide, then do: what start and stop will change, computed from the
//! configuration, findif's answer and the observed addresses.
//!
//! A plan is a list of [`Step`]s. Each step prints as the `ip` command it
//! replaces, so a plan reads like the shell agent's log and golden tests can
//! compare it as text. [`crate::exec`] performs the steps.
#![forbid(unsafe_code)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ocf::OcfError;

use crate::config::{Announce, Config, Family};
use crate::findif::Found;
use crate::netlink::codec::{NewAddr, IFA_F_NODAD, IFA_F_NOPREFIXROUTE};
use crate::netlink::Snapshot;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// lvs_support: take a conflicting `/32` copy of the address off `lo`, remembering it.
    RemoveLoopback {
        index: u32,
        ip: IpAddr,
    },
    /// run_arping: RFC 5227 probes; a reply means another host has the address.
    ProbeDuplicate {
        index: u32,
        ip: Ipv4Addr,
    },
    /// lvs_ipv6_addrlabel on start.
    AddAddrLabel {
        ip: IpAddr,
        value: u32,
    },
    AddAddress(NewAddr),
    LinkUp {
        index: u32,
        nic: String,
    },
    /// IPv6: wait while the address is tentative; fail (removing it) on dadfailed.
    WaitDad {
        index: u32,
        ip: IpAddr,
        prefix: u8,
    },
    /// Gratuitous ARPs or unsolicited neighbour advertisements.
    Announce {
        index: u32,
        ip: IpAddr,
        count: u32,
        interval_ms: u64,
        background: bool,
    },
    /// Stop an announcer left in the background by an earlier start.
    KillAnnouncer {
        ip: String,
    },
    DeleteAddress {
        index: u32,
        nic: String,
        ip: IpAddr,
        prefix: u8,
    },
    FlushRouteCache,
    DeleteAddrLabel {
        ip: IpAddr,
        value: u32,
    },
    /// lvs_support on stop: put back what [`Step::RemoveLoopback`] took away.
    RestoreLoopback {
        ip: IpAddr,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::RemoveLoopback { ip, .. } => write!(f, "addr del {ip}/32 dev lo (saved)"),
            Step::ProbeDuplicate { ip, .. } => write!(f, "arp probe {ip}"),
            Step::AddAddrLabel { ip, value } => {
                write!(f, "addrlabel add prefix {ip} label {value}")
            }
            Step::AddAddress(a) => {
                write!(f, "addr add {}/{}", a.addr, a.prefix_len)?;
                if let Some(b) = a.broadcast {
                    write!(f, " brd {b}")?;
                }
                write!(f, " dev #{}", a.index)?;
                if a.flags & IFA_F_NODAD != 0 {
                    write!(f, " nodad")?;
                }
                if a.flags & IFA_F_NOPREFIXROUTE != 0 {
                    write!(f, " noprefixroute")?;
                }
                if let Some(l) = &a.label {
                    write!(f, " label {l}")?;
                }
                if let Some(p) = a.preferred_lft {
                    write!(f, " preferred_lft {p}")?;
                }
                Ok(())
            }
            Step::LinkUp { nic, .. } => write!(f, "link set {nic} up"),
            Step::WaitDad { ip, .. } => write!(f, "wait dad {ip}"),
            Step::Announce {
                ip,
                count,
                interval_ms,
                background,
                ..
            } => {
                let what = if ip.is_ipv4() { "arp" } else { "na" };
                let bg = if *background { " background" } else { "" };
                write!(
                    f,
                    "announce {what} {ip} count {count} interval {interval_ms}ms{bg}"
                )
            }
            Step::KillAnnouncer { ip } => write!(f, "kill announcer {ip}"),
            Step::DeleteAddress {
                nic, ip, prefix, ..
            } => {
                write!(f, "addr del {ip}/{prefix} dev {nic}")
            }
            Step::FlushRouteCache => write!(f, "route flush cache"),
            Step::DeleteAddrLabel { ip, value } => {
                write!(f, "addrlabel del prefix {ip} label {value}")
            }
            Step::RestoreLoopback { ip } => write!(f, "restore {ip}/32 on lo"),
        }
    }
}

/// ip_served: the address with this prefix is on `nic` (ipsecN interfaces ignored).
pub fn served(ip: Option<IpAddr>, netmask: &str, nic: &str, snap: &Snapshot) -> bool {
    let Some(ip) = ip else { return false };
    let Ok(prefix) = netmask.parse::<u8>() else {
        return false;
    };
    snap.addrs.iter().any(|a| {
        a.addr == Some(ip) && a.prefix_len == prefix && snap.link_name(a.index) == Some(nic)
    })
}

fn is_loopback_name(nic: &str) -> bool {
    nic.starts_with("lo")
}

/// `brd +` sets the host bits, `brd -` clears them (only below /31, as `ip` does).
fn broadcast_for(spec: &str, ip: &IpAddr, prefix: u8) -> Result<Option<Ipv4Addr>, OcfError> {
    let IpAddr::V4(v4) = ip else {
        return Err(OcfError::generic(format!(
            "Failed to add {ip}: a broadcast ({spec}) can be set only for IPv4 addresses"
        )));
    };
    let host_bits = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    let a = u32::from(*v4);
    Ok(match spec {
        "+" if prefix < 31 => Some(Ipv4Addr::from(a | host_bits)),
        "-" if prefix < 31 => Some(Ipv4Addr::from(a & !host_bits)),
        "+" | "-" => None,
        other => {
            Some(other.parse().map_err(|_| {
                OcfError::configured(format!("Invalid broadcast address [{other}]."))
            })?)
        }
    })
}

/// The start plan. Empty when the address is already served.
pub fn plan_start(
    cfg: &Config,
    found: &Found,
    ann: &Announce,
    snap: &Snapshot,
) -> Result<Vec<Step>, OcfError> {
    let failed = |why: &str| OcfError::generic(format!("Failed to add {}: {why}", cfg.ip_text));
    if served(cfg.ip, &found.netmask, &found.nic, snap) {
        return Ok(Vec::new());
    }
    let ip = cfg.ip.ok_or_else(|| failed("not a valid address"))?;
    let prefix: u8 = found
        .netmask
        .parse()
        .ok()
        .filter(|&p| p <= cfg.family.host_len())
        .ok_or_else(|| failed(&format!("invalid prefix length [{}]", found.netmask)))?;
    let index = snap
        .link_by_name(&found.nic)
        .map(|l| l.index)
        .ok_or_else(|| failed(&format!("no interface named {}", found.nic)))?;
    let mut steps = Vec::new();
    if cfg.lvs_support {
        let on_lo = snap.addrs.iter().any(|a| {
            a.addr == Some(ip)
                && a.prefix_len == 32
                && snap.link_name(a.index).is_some_and(is_loopback_name)
        });
        if let (true, Some(lo)) = (on_lo, snap.link_by_name("lo")) {
            steps.push(Step::RemoveLoopback {
                index: lo.index,
                ip,
            });
        }
    }
    if let (Family::V4, true, IpAddr::V4(v4)) = (cfg.family, cfg.run_arping, ip) {
        steps.push(Step::ProbeDuplicate { index, ip: v4 });
    }
    if cfg.family == Family::V6 && cfg.lvs_ipv6_addrlabel {
        steps.push(Step::AddAddrLabel {
            ip,
            value: cfg.lvs_ipv6_addrlabel_value,
        });
    }
    let broadcast = match &found.broadcast {
        Some(b) => broadcast_for(b, &ip, prefix)?,
        None => None,
    };
    let mut flags = 0;
    if cfg.family == Family::V6 && cfg.nodad {
        flags |= IFA_F_NODAD;
    }
    if cfg.noprefixroute {
        flags |= IFA_F_NOPREFIXROUTE;
    }
    steps.push(Step::AddAddress(NewAddr {
        index,
        addr: ip,
        prefix_len: prefix,
        broadcast,
        // The kernel keeps labels for IPv4 only.
        label: match cfg.family {
            Family::V4 => cfg.full_label(&found.nic),
            Family::V6 => None,
        },
        flags,
        preferred_lft: ann.preferred_lft,
    }));
    steps.push(Step::LinkUp {
        index,
        nic: found.nic.clone(),
    });
    if !is_loopback_name(&found.nic) {
        if cfg.family == Family::V6 {
            steps.push(Step::WaitDad { index, ip, prefix });
        }
        steps.push(Step::Announce {
            index,
            ip,
            count: ann.count,
            interval_ms: ann.interval_ms,
            background: cfg.arp_bg,
        });
    }
    Ok(steps)
}

/// The stop plan.
pub fn plan_stop(cfg: &Config, found: &Found, snap: &Snapshot) -> Vec<Step> {
    let mut steps = vec![Step::KillAnnouncer {
        ip: cfg.ip_text.clone(),
    }];
    let (Some(ip), Ok(prefix)) = (cfg.ip, found.netmask.parse::<u8>()) else {
        return steps;
    };
    if !served(cfg.ip, &found.netmask, &found.nic, snap) {
        return steps;
    }
    let Some(link) = snap.link_by_name(&found.nic) else {
        return steps;
    };
    steps.push(Step::DeleteAddress {
        index: link.index,
        nic: found.nic.clone(),
        ip,
        prefix,
    });
    if cfg.flush_routes {
        steps.push(Step::FlushRouteCache);
    }
    if cfg.family == Family::V6 && cfg.lvs_ipv6_addrlabel {
        steps.push(Step::DeleteAddrLabel {
            ip,
            value: cfg.lvs_ipv6_addrlabel_value,
        });
    }
    if cfg.lvs_support {
        steps.push(Step::RestoreLoopback { ip });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::codec::{AddrMsg, LinkMsg, AF_INET, AF_INET6};
    use crate::params::PARAMS;
    use ocf::{Action, Logger, OcfEnv, Params};

    fn snap(addrs: &[(&str, u8, u32)]) -> Snapshot {
        let link = |index: u32, name: &str| LinkMsg {
            index,
            link_type: 1,
            flags: 1,
            name: name.into(),
            mac: vec![2, 0, 0, 0, 0, 1],
        };
        Snapshot {
            links: vec![link(1, "lo"), link(2, "va")],
            addrs: addrs
                .iter()
                .map(|&(a, p, i)| {
                    let addr: IpAddr = a.parse().unwrap();
                    AddrMsg {
                        family: if addr.is_ipv4() { AF_INET } else { AF_INET6 },
                        prefix_len: p,
                        flags: 0,
                        scope: 0,
                        index: i,
                        addr: Some(addr),
                        broadcast: None,
                        label: None,
                        lifetimes: None,
                    }
                })
                .collect(),
            routes: Vec::new(),
        }
    }

    /// The plan as text, one step a line.
    fn plan(
        action: Action,
        vars: &[(&str, &str)],
        found: (&str, &str, Option<&str>),
        s: &Snapshot,
    ) -> String {
        let env = OcfEnv::from_vars(vars.iter().copied());
        let params = Params::from_env(PARAMS, &env);
        let cfg = Config::parse(&params, &env, &action, true, &Logger::silent()).unwrap();
        let found = Found {
            nic: found.0.into(),
            netmask: found.1.into(),
            broadcast: found.2.map(Into::into),
        };
        let ann = cfg
            .check_after_findif(&found.nic, &params, &env, &action)
            .unwrap();
        let steps = match action {
            Action::Start => plan_start(&cfg, &found, &ann, s).unwrap(),
            _ => plan_stop(&cfg, &found, s),
        };
        steps.iter().map(|s| format!("{s}\n")).collect()
    }

    #[test]
    fn ipv4_start_with_label_and_computed_broadcast() {
        let p = plan(
            Action::Start,
            &[
                ("OCF_RESKEY_ip", "10.1.0.5"),
                ("OCF_RESKEY_iflabel", "web"),
                ("OCF_RESKEY_broadcast", "+"),
            ],
            ("va", "24", Some("+")),
            &snap(&[]),
        );
        assert_eq!(
            p,
            "addr add 10.1.0.5/24 brd 10.1.0.255 dev #2 label va:web\n\
             link set va up\n\
             announce arp 10.1.0.5 count 5 interval 200ms background\n"
        );
    }

    #[test]
    fn start_is_empty_when_served_and_stop_removes() {
        let s = snap(&[("10.1.0.5", 24, 2)]);
        let vars = [
            ("OCF_RESKEY_ip", "10.1.0.5"),
            ("OCF_RESKEY_flush_routes", "true"),
        ];
        assert_eq!(plan(Action::Start, &vars, ("va", "24", None), &s), "");
        assert_eq!(
            plan(Action::Stop, &vars, ("va", "24", None), &s),
            "kill announcer 10.1.0.5\naddr del 10.1.0.5/24 dev va\nroute flush cache\n"
        );
        // Served with another prefix, or on another interface, is not served.
        assert_eq!(
            plan(Action::Stop, &vars, ("va", "16", None), &s),
            "kill announcer 10.1.0.5\n"
        );
        assert!(
            plan(Action::Start, &vars, ("va", "16", None), &s).starts_with("addr add 10.1.0.5/16")
        );
    }

    #[test]
    fn ipv6_start_waits_for_dad_then_announces_in_foreground() {
        let vars = [
            ("OCF_RESKEY_ip", "2001:db8::5"),
            ("OCF_RESKEY_noprefixroute", "yes"),
            ("OCF_RESKEY_preferred_lft", "0"),
            ("OCF_RESKEY_arp_count", "2"),
        ];
        assert_eq!(
            plan(Action::Start, &vars, ("va", "64", None), &snap(&[])),
            "addr add 2001:db8::5/64 dev #2 noprefixroute preferred_lft 0\n\
             link set va up\n\
             wait dad 2001:db8::5\n\
             announce na 2001:db8::5 count 2 interval 200ms\n"
        );
        let nodad = [
            ("OCF_RESKEY_ip", "2001:db8::5"),
            ("OCF_RESKEY_nodad", "1"),
            ("OCF_RESKEY_lvs_ipv6_addrlabel", "1"),
        ];
        assert_eq!(
            plan(Action::Start, &nodad, ("va", "64", None), &snap(&[])),
            "addrlabel add prefix 2001:db8::5 label 99\n\
             addr add 2001:db8::5/64 dev #2 nodad\n\
             link set va up\n\
             wait dad 2001:db8::5\n\
             announce na 2001:db8::5 count 5 interval 200ms\n"
        );
    }

    #[test]
    fn loopback_gets_no_announcements_and_lvs_moves_lo_copy() {
        let vars = [("OCF_RESKEY_ip", "127.0.0.5")];
        assert_eq!(
            plan(Action::Start, &vars, ("lo", "8", None), &snap(&[])),
            "addr add 127.0.0.5/8 dev #1\nlink set lo up\n"
        );
        let s = snap(&[("10.1.0.7", 32, 1)]);
        let lvs = [
            ("OCF_RESKEY_ip", "10.1.0.7"),
            ("OCF_RESKEY_lvs_support", "true"),
            ("OCF_RESKEY_run_arping", "true"),
            ("OCF_RESKEY_arp_bg", "no"),
        ];
        assert_eq!(
            plan(Action::Start, &lvs, ("va", "24", None), &s),
            "addr del 10.1.0.7/32 dev lo (saved)\n\
             arp probe 10.1.0.7\n\
             addr add 10.1.0.7/24 dev #2\n\
             link set va up\n\
             announce arp 10.1.0.7 count 5 interval 200ms\n"
        );
        let s = snap(&[("10.1.0.7", 24, 2)]);
        assert_eq!(
            plan(Action::Stop, &lvs, ("va", "24", None), &s),
            "kill announcer 10.1.0.7\naddr del 10.1.0.7/24 dev va\nrestore 10.1.0.7/32 on lo\n"
        );
    }

    #[test]
    fn broadcast_rules() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(
            broadcast_for("-", &ip, 16).unwrap(),
            Some("10.1.0.0".parse().unwrap())
        );
        assert_eq!(broadcast_for("+", &ip, 31).unwrap(), None);
        assert_eq!(
            broadcast_for("10.1.255.255", &ip, 16).unwrap(),
            Some("10.1.255.255".parse().unwrap())
        );
        assert!(broadcast_for("+", &"2001:db8::1".parse().unwrap(), 64).is_err());
    }
}
