//! From `OCF_RESKEY_*` to a checked configuration, without touching the system.
//!
//! The checks run in the order the 4.12 shell agent runs them, because the
//! first failing check decides the exit code Pacemaker sees. The part that
//! needs the routing table (findif) sits between [`Config::parse`] and
//! [`Config::check_after_findif`].
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv6Addr};

use ocf::{is_true, Action, Logger, OcfEnv, OcfError, Params, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn host_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// The configuration of one invocation, before the routing table is consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The address as text (after unique_clone_address and RFC 5952 canonicalisation).
    pub ip_text: String,
    /// The address, when the text is one.
    pub ip: Option<IpAddr>,
    pub family: Family,
    /// The base interface (without a `:label` suffix).
    pub nic: Option<String>,
    /// The label suffix, from `iflabel` or from `nic=eth0:label`.
    pub iflabel: Option<String>,
    /// The netmask as given (dotted quads already converted to a prefix).
    pub netmask: Option<String>,
    pub broadcast: Option<String>,
    pub lvs_support: bool,
    pub lvs_ipv6_addrlabel: bool,
    pub lvs_ipv6_addrlabel_value: u32,
    /// `CRM_meta_clone_max` greater than one without unique_clone_address: CLUSTERIP.
    pub clusterip: bool,
    pub arp_bg: bool,
    pub flush_routes: bool,
    pub run_arping: bool,
    pub nodad: bool,
    pub noprefixroute: bool,
}

/// Settings checked after findif (the shell agent's `ip_validate` tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce {
    pub interval_ms: u64,
    pub count: u32,
    pub count_refresh: u32,
    /// IPv6 preferred lifetime in seconds; `None` is forever.
    pub preferred_lft: Option<u32>,
}

/// ipcheck_ipv4: a dotted quad whose first octet is 1..=255.
pub fn parse_ipv4_strict(s: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut o = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // The shell regex allows "05" in octets 2-4 but not in the first.
        if i == 0 && p.starts_with('0') {
            return None;
        }
        o[i] = p.parse().ok()?;
    }
    (o[0] != 0).then(|| std::net::Ipv4Addr::from(o))
}

/// A dotted-quad netmask as a prefix length, when it is one (findif's conversion).
pub fn dotted_to_prefix(mask: &str) -> Option<Result<u8, ()>> {
    let parts: Vec<&str> = mask.split('.').collect();
    if parts.len() != 4
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut m: u32 = 0;
    for p in parts {
        let b: u32 = p.parse().ok()?;
        if b > 255 {
            return None;
        }
        m = (m << 8) | b;
    }
    let ones = m.leading_ones();
    Some(if m.checked_shl(ones).unwrap_or(0) == 0 {
        Ok(u8::try_from(ones).unwrap_or(0))
    } else {
        Err(())
    })
}

/// prefixcheck: 1 to 3 digits, 1..=max.
pub fn prefix_ok(mask: &str, max: u8) -> Option<u8> {
    if mask.is_empty() || mask.len() > 3 || !mask.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let p: u16 = mask.parse().ok()?;
    (1..=u16::from(max))
        .contains(&p)
        .then(|| u8::try_from(p).unwrap_or(0))
}

fn decimal(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl Config {
    /// `ip_init` up to findif: presence of ip, privilege, clone and family rules.
    pub fn parse(
        params: &Params,
        env: &OcfEnv,
        action: &Action,
        is_root: bool,
        log: &Logger,
    ) -> Result<Config> {
        let mut ip_text = params.str("ip").to_string();
        let unique_clone = params.bool("unique_clone_address");
        if unique_clone {
            if ip_text.contains(':') {
                return Err(OcfError::configured(format!(
                    "unique_clone_address works with IPv4 addresses only, not [{ip_text}]"
                )));
            }
            ip_text = unique_clone_ip(&ip_text, env.clone_id().unwrap_or(0))?;
        }
        if ip_text.is_empty() && *action != Action::Stop {
            return Err(OcfError::configured(
                "IP address (the ip parameter) is mandatory",
            ));
        }
        if matches!(action, Action::Start | Action::Stop) && !is_root {
            return Err(OcfError::perm(format!(
                "You must be root for {} operation.",
                action.as_str()
            )));
        }
        // `${OCF_RESKEY_CRM_meta_clone_max:-1}`: unset or empty means one instance.
        let clone_max_text = env
            .meta("clone_max")
            .filter(|v| !v.is_empty())
            .unwrap_or("1");
        let lvs_support = params.bool("lvs_support");
        let clone_max = decimal(clone_max_text);
        if lvs_support && clone_max.is_some_and(|n| n > 1) {
            return Err(OcfError::configured(
                "LVS and load sharing do not go together well",
            ));
        }
        let Some(clone_max) = clone_max.filter(|&n| n > 0) else {
            return Err(OcfError::configured(format!(
                "Invalid meta-attribute clone_max [{clone_max_text}], should be positive integer"
            )));
        };
        let lvs_ipv6_addrlabel = params.bool("lvs_ipv6_addrlabel");
        let value_text = params.str("lvs_ipv6_addrlabel_value");
        let mut lvs_ipv6_addrlabel_value = 0;
        let family;
        let arp_bg_default;
        if !ip_text.contains(':') {
            family = Family::V4;
            if lvs_ipv6_addrlabel {
                return Err(OcfError::configured(
                    "IPv4 does not support lvs_ipv6_addrlabel",
                ));
            }
            arp_bg_default = true;
        } else {
            family = Family::V6;
            // RFC 5952 form, as the shell agent gets from `ip route get`.
            if let Ok(a) = ip_text.parse::<Ipv6Addr>() {
                ip_text = a.to_string();
            }
            if lvs_support {
                return Err(OcfError::configured(
                    "The IPv6 does not support lvs_support",
                ));
            }
            if lvs_ipv6_addrlabel {
                match decimal(value_text).and_then(|v| u32::try_from(v).ok()) {
                    Some(v) => lvs_ipv6_addrlabel_value = v,
                    None => {
                        return Err(OcfError::configured(format!(
                        "Invalid lvs_ipv6_addrlabel_value [{value_text}], should be positive integer"
                    )))
                    }
                }
            }
            arp_bg_default = false;
        }
        let ip = match family {
            Family::V4 => parse_ipv4_strict(&ip_text).map(IpAddr::V4),
            Family::V6 => ip_text.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        };
        let mut nic = non_empty(params.str("nic"));
        let mut iflabel = non_empty(params.str("iflabel"));
        if let Some((base, label)) = nic.clone().as_deref().and_then(|n| n.split_once(':')) {
            iflabel = non_empty(label);
            nic = Some(base.to_string());
        }
        // The legacy parameter name `netmask` still works when cidr_netmask is unset.
        let mut netmask = non_empty(params.str("cidr_netmask"))
            .or_else(|| env.reskey("netmask").and_then(non_empty));
        if let Some(m) = &netmask {
            match dotted_to_prefix(m) {
                Some(Ok(p)) => {
                    log.warn(&format!(
                        "Please convert dotted quad netmask {m} to CIDR notation {p}!"
                    ));
                    netmask = Some(p.to_string());
                }
                Some(Err(())) => log.err(&format!("Bogus netmask: {m}")),
                None => {}
            }
        }
        let arp_bg_text = params.str("arp_bg");
        Ok(Config {
            ip_text,
            ip,
            family,
            nic,
            iflabel,
            netmask,
            broadcast: non_empty(params.str("broadcast")),
            lvs_support,
            lvs_ipv6_addrlabel,
            lvs_ipv6_addrlabel_value,
            clusterip: clone_max > 1 && !unique_clone,
            arp_bg: if arp_bg_text.is_empty() {
                arp_bg_default
            } else {
                is_true(arp_bg_text)
            },
            flush_routes: params.bool("flush_routes"),
            run_arping: params.bool("run_arping"),
            nodad: params.bool("nodad"),
            noprefixroute: params.bool("noprefixroute"),
        })
    }

    /// The full label `nic:iflabel`, if a label is set.
    pub fn full_label(&self, nic: &str) -> Option<String> {
        self.iflabel.as_ref().map(|l| format!("{nic}:{l}"))
    }

    /// The rest of `ip_init` and `ip_validate`, once findif has named the nic.
    pub fn check_after_findif(
        &self,
        nic: &str,
        params: &Params,
        env: &OcfEnv,
        action: &Action,
    ) -> Result<Announce> {
        if let Some(label) = self.full_label(nic) {
            if label.len() > 15 {
                return Err(OcfError::configured(format!(
                    "Interface label [{label}] exceeds maximum character limit of 15"
                )));
            }
        }
        if self.clusterip && *action != Action::Stop {
            return Err(OcfError::configured(format!(
                "CLUSTERIP (clone-max={} without unique_clone_address) is removed from Linux (the iptables CLUSTERIP target is gone since kernel 6.7): use unique_clone_address=true, or a single address",
                env.meta("clone_max").unwrap_or("?")
            )));
        }
        match params.str("arp_sender") {
            "" | "send_arp" | "iputils_arping" | "libnet_arping" | "ipoibarping" => {}
            other => {
                return Err(OcfError::configured(format!(
                    "unrecognized arp_sender value: {other}"
                )))
            }
        }
        if params.bool("unique_clone_address") && !env.is_globally_unique() {
            return Err(OcfError::configured(
                "unique_clone_address makes sense only with meta globally_unique set",
            ));
        }
        let interval_text = params.str("arp_interval");
        let interval_ms = decimal(interval_text).filter(|&v| v > 0).ok_or_else(|| {
            OcfError::configured(format!("Invalid OCF_RESKEY_arp_interval [{interval_text}]"))
        })?;
        let count_text = params.str("arp_count");
        let count = decimal(count_text)
            .filter(|&v| v > 0)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| {
                OcfError::configured(format!("Invalid OCF_RESKEY_arp_count [{count_text}]"))
            })?;
        let lft = params.str("preferred_lft");
        if lft.is_empty() {
            return Err(OcfError::configured(
                "Empty value is invalid for OCF_RESKEY_preferred_lft",
            ));
        }
        let preferred_lft = match (self.family, lft) {
            (Family::V4, _) | (Family::V6, "forever") => None,
            (Family::V6, v) => Some(decimal(v).and_then(|v| u32::try_from(v).ok()).ok_or_else(
                || {
                    OcfError::configured(format!(
                        "Invalid preferred_lft [{v}]: give seconds or \"forever\""
                    ))
                },
            )?),
        };
        Ok(Announce {
            interval_ms,
            count,
            count_refresh: decimal(params.str("arp_count_refresh"))
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0),
            preferred_lft,
        })
    }
}

/// unique_clone_address: the clone number added to the last octet.
fn unique_clone_ip(ip: &str, clone: u32) -> Result<String> {
    let bad = || {
        OcfError::configured(format!(
            "unique_clone_address: ip [{ip}] plus clone number {clone} is not an IPv4 address"
        ))
    };
    let (prefix, last) = ip.rsplit_once('.').ok_or_else(bad)?;
    let last: u32 = last.parse().map_err(|_| bad())?;
    let sum = last
        .checked_add(clone)
        .filter(|&v| v <= 255)
        .ok_or_else(bad)?;
    Ok(format!("{prefix}.{sum}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::PARAMS;
    use ocf::ExitCode;

    fn parse(vars: &[(&str, &str)], action: Action) -> Result<Config> {
        let env = OcfEnv::from_vars(vars.iter().copied());
        let params = Params::from_env(PARAMS, &env);
        Config::parse(&params, &env, &action, true, &Logger::silent())
    }

    fn after(vars: &[(&str, &str)]) -> Result<Announce> {
        let env = OcfEnv::from_vars(vars.iter().copied());
        let params = Params::from_env(PARAMS, &env);
        let c = Config::parse(&params, &env, &Action::Start, true, &Logger::silent())?;
        c.check_after_findif("eth0", &params, &env, &Action::Start)
    }

    fn code<T: std::fmt::Debug>(r: Result<T>) -> ExitCode {
        r.unwrap_err().exit_code()
    }

    #[test]
    fn ip_is_mandatory_except_for_stop() {
        assert_eq!(code(parse(&[], Action::Start)), ExitCode::ErrConfigured);
        assert_eq!(code(parse(&[], Action::Monitor)), ExitCode::ErrConfigured);
        assert!(parse(&[], Action::Stop).is_ok());
    }

    #[test]
    fn start_and_stop_need_root() {
        let env = OcfEnv::from_vars([("OCF_RESKEY_ip", "10.0.0.1")]);
        let params = Params::from_env(PARAMS, &env);
        let l = Logger::silent();
        let e = Config::parse(&params, &env, &Action::Start, false, &l).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::ErrPerm);
        assert!(Config::parse(&params, &env, &Action::Monitor, false, &l).is_ok());
    }

    #[test]
    fn nic_label_split_and_dotted_mask() {
        let c = parse(
            &[
                ("OCF_RESKEY_ip", "10.0.0.1"),
                ("OCF_RESKEY_nic", "eth0:web"),
                ("OCF_RESKEY_iflabel", "ignored"),
                ("OCF_RESKEY_cidr_netmask", "255.255.240.0"),
            ],
            Action::Start,
        )
        .unwrap();
        assert_eq!(c.nic.as_deref(), Some("eth0"));
        assert_eq!(c.iflabel.as_deref(), Some("web"));
        assert_eq!(c.netmask.as_deref(), Some("20"));
        assert!(c.arp_bg, "IPv4 announces in the background by default");
        let c = parse(
            &[("OCF_RESKEY_netmask", "16"), ("OCF_RESKEY_ip", "10.0.0.1")],
            Action::Start,
        )
        .unwrap();
        assert_eq!(c.netmask.as_deref(), Some("16"), "legacy netmask alias");
    }

    #[test]
    fn ipv6_is_canonicalised() {
        let c = parse(&[("OCF_RESKEY_ip", "2001:DB8:0:0::0:10")], Action::Monitor).unwrap();
        assert_eq!(c.ip_text, "2001:db8::10");
        assert_eq!(c.family, Family::V6);
        assert!(!c.arp_bg);
    }

    #[test]
    fn family_specific_options() {
        let lvs6 = [
            ("OCF_RESKEY_ip", "2001:db8::1"),
            ("OCF_RESKEY_lvs_support", "true"),
        ];
        assert_eq!(code(parse(&lvs6, Action::Start)), ExitCode::ErrConfigured);
        let lbl4 = [
            ("OCF_RESKEY_ip", "10.0.0.1"),
            ("OCF_RESKEY_lvs_ipv6_addrlabel", "yes"),
        ];
        assert_eq!(code(parse(&lbl4, Action::Start)), ExitCode::ErrConfigured);
        let clone = [
            ("OCF_RESKEY_ip", "10.0.0.1"),
            ("OCF_RESKEY_lvs_support", "1"),
            ("OCF_RESKEY_CRM_meta_clone_max", "2"),
        ];
        assert_eq!(code(parse(&clone, Action::Start)), ExitCode::ErrConfigured);
        let zero = [
            ("OCF_RESKEY_ip", "10.0.0.1"),
            ("OCF_RESKEY_CRM_meta_clone_max", "0"),
        ];
        assert_eq!(code(parse(&zero, Action::Start)), ExitCode::ErrConfigured);
        let empty = [
            ("OCF_RESKEY_ip", "10.0.0.1"),
            ("OCF_RESKEY_CRM_meta_clone_max", ""),
        ];
        assert!(
            !parse(&empty, Action::Start).unwrap().clusterip,
            "empty clone_max is one instance"
        );
    }

    #[test]
    fn post_findif_rules() {
        let base = ("OCF_RESKEY_ip", "10.0.0.1");
        assert_eq!(
            after(&[base]).unwrap(),
            Announce {
                interval_ms: 200,
                count: 5,
                count_refresh: 0,
                preferred_lft: None
            }
        );
        assert_eq!(
            code(after(&[base, ("OCF_RESKEY_arp_count", "0")])),
            ExitCode::ErrConfigured
        );
        assert_eq!(
            code(after(&[base, ("OCF_RESKEY_arp_interval", "x")])),
            ExitCode::ErrConfigured
        );
        assert_eq!(
            code(after(&[base, ("OCF_RESKEY_preferred_lft", "")])),
            ExitCode::ErrConfigured
        );
        assert_eq!(
            code(after(&[base, ("OCF_RESKEY_arp_sender", "carrier-pigeon")])),
            ExitCode::ErrConfigured
        );
        let long = [base, ("OCF_RESKEY_iflabel", "verylonglabel")];
        let e = after(&long).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::ErrConfigured);
        assert!(e.reason().contains("eth0:verylonglabel"), "{e}");
        let cip = [base, ("OCF_RESKEY_CRM_meta_clone_max", "2")];
        let e = after(&cip).unwrap_err();
        assert!(e.reason().contains("CLUSTERIP"), "{e}");
        let v6 = [
            ("OCF_RESKEY_ip", "2001:db8::1"),
            ("OCF_RESKEY_preferred_lft", "0"),
        ];
        assert_eq!(after(&v6).unwrap().preferred_lft, Some(0));
    }

    #[test]
    fn unique_clone_address() {
        let vars = [
            ("OCF_RESKEY_ip", "10.0.0.10"),
            ("OCF_RESKEY_unique_clone_address", "true"),
            ("OCF_RESKEY_CRM_meta_clone_max", "3"),
            ("OCF_RESKEY_CRM_meta_clone", "2"),
        ];
        let c = parse(&vars, Action::Start).unwrap();
        assert_eq!(c.ip_text, "10.0.0.12");
        assert!(!c.clusterip);
        let e = after(&vars).unwrap_err();
        assert!(e.reason().contains("globally_unique"), "{e}");
        let v6 = [
            ("OCF_RESKEY_ip", "2001:db8::1"),
            ("OCF_RESKEY_unique_clone_address", "1"),
        ];
        assert_eq!(code(parse(&v6, Action::Start)), ExitCode::ErrConfigured);
        let mut ok = vars.to_vec();
        ok.push(("OCF_RESKEY_CRM_meta_globally_unique", "true"));
        assert!(after(&ok).is_ok());
    }

    #[test]
    fn address_and_mask_syntax() {
        assert!(parse_ipv4_strict("10.0.0.1").is_some());
        assert!(parse_ipv4_strict("10.0.05.1").is_some());
        for bad in [
            "0.1.2.3",
            "01.1.1.1",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "a.b.c.d",
            "",
        ] {
            assert!(parse_ipv4_strict(bad).is_none(), "{bad}");
        }
        assert_eq!(dotted_to_prefix("255.255.255.0"), Some(Ok(24)));
        assert_eq!(dotted_to_prefix("0.0.0.0"), Some(Ok(0)));
        assert_eq!(dotted_to_prefix("255.0.255.0"), Some(Err(())));
        assert_eq!(dotted_to_prefix("24"), None);
        assert_eq!(prefix_ok("24", 32), Some(24));
        for bad in ["0", "33", "", "2a", "0024"] {
            assert_eq!(prefix_ok(bad, 32), None, "{bad}");
        }
        assert_eq!(prefix_ok("128", 128), Some(128));
    }
}
