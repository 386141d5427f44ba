//! From one legacy resource token to the Pacemaker agent that replaces it.
//!
//! The argument order of each entry is the one Heartbeat's R1 wrapper
//! scripts (`/etc/ha.d/resource.d/*`) used to fill `OCF_RESKEY_*`, so a
//! token means here exactly what it meant to Heartbeat. Where the modern
//! agent differs (a required parameter that R1 left out, a replaced agent),
//! the mapping adds a note that ends up both on stderr and in the output.

use crate::address::{check_ipv4, parse_ipv4_spec, parse_ipv6, Refusal};
use crate::error::{Error, Place};
use crate::haresources::Resource;
use crate::model::{Class, Op, Role};
use crate::{Host, Options};

/// What a token becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// A primitive inside the line's group.
    Primitive(Agent),
    /// DRBD resources that become promotable clones outside the group.
    Drbd {
        /// DRBD resource names.
        resources: Vec<String>,
        /// `drbdupper` (stacked) rather than `drbddisk`.
        stacked: bool,
    },
}

/// A primitive before it gets an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Class and provider.
    pub class: Class,
    /// Agent type.
    pub kind: String,
    /// Parameters.
    pub params: Vec<(String, String)>,
    /// What the user should know about this conversion.
    pub notes: Vec<String>,
}

type P = Vec<(String, String)>;

fn p(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

fn arity(place: &Place, r: &Resource, min: usize, max: usize, usage: &str) -> Result<(), Error> {
    let n = r.args.len();
    if n < min || n > max {
        let problem = if n < min {
            format!("needs at least {min} argument(s), got {n}")
        } else {
            format!("takes at most {max} argument(s), got {n}")
        };
        return Err(Error::Arguments {
            place: place.clone(),
            token: r.token.clone(),
            problem,
            usage: usage.to_string(),
        });
    }
    Ok(())
}

fn address_error(place: &Place, r: &Resource, (value, why, expected): Refusal) -> Error {
    Error::Address {
        place: place.clone(),
        token: r.token.clone(),
        why: format!("`{value}` {why}; write it as {expected}"),
    }
}

/// Maps one resource token. `host` answers the questions about this machine
/// (init scripts, filesystem types) that Heartbeat answered at run time.
pub fn map(place: &Place, r: &Resource, opts: &Options, host: &dyn Host) -> Result<Mapping, Error> {
    let own = Class::Ocf(opts.provider.clone());
    let hb = || Class::Ocf("heartbeat".to_string());
    let mut notes = Vec::new();
    let a = |s: usize| r.args[s].clone();
    let (class, kind, params): (Class, &str, P) = match r.script.as_str() {
        "IPaddr" | "IPaddr2" => {
            arity(
                place,
                r,
                1,
                1,
                "IPaddr2::IP[/BITS[/NIC[:LABEL]][/BROADCAST]]",
            )?;
            let spec = parse_ipv4_spec(&r.args[0]).map_err(|e| address_error(place, r, e))?;
            let mut params = vec![p("ip", spec.ip.to_string())];
            if let Some(bits) = spec.bits {
                params.push(p("cidr_netmask", bits.to_string()));
            }
            if let Some(nic) = spec.nic {
                params.push(p("nic", nic));
            }
            if let Some(label) = spec.label {
                notes.push(format!(
                    "the interface label `{label}` moved from nic to iflabel (IPaddr2 refuses `nic=IF:LABEL`)"
                ));
                params.push(p("iflabel", label));
            }
            if let Some(b) = spec.broadcast {
                params.push(p("broadcast", b.to_string()));
            }
            if r.script == "IPaddr" {
                notes.push("IPaddr is deprecated; IPaddr2 takes the same parameters".into());
            }
            (own, "IPaddr2", params)
        }
        "IPsrcaddr" => {
            arity(place, r, 1, 1, "IPsrcaddr::IP")?;
            let ip = check_ipv4(&r.args[0]).map_err(|e| address_error(place, r, e))?;
            (hb(), "IPsrcaddr", vec![p("ipaddress", ip.to_string())])
        }
        "IPv6addr" => {
            arity(place, r, 1, usize::MAX, "IPv6addr::ADDRESS[/PREFIX[/NIC]]")?;
            // An IPv6 address has its own `::`, and the wrapper took a single
            // argument, so the split is undone.
            let whole = r.args.join("::");
            let f: Vec<&str> = whole.split('/').collect();
            if f.len() > 3 {
                return Err(address_error(
                    place,
                    r,
                    (
                        whole.clone(),
                        "has more than three `/` fields".into(),
                        "ADDRESS/PREFIX/NIC".into(),
                    ),
                ));
            }
            let (ip, bits) =
                parse_ipv6(f[0], f.get(1).copied()).map_err(|e| address_error(place, r, e))?;
            let mut params = vec![p("ipv6addr", ip.to_string())];
            if let Some(b) = bits {
                params.push(p("cidr_netmask", b.to_string()));
            }
            if let Some(nic) = f.get(2) {
                params.push(p("nic", *nic));
            }
            (hb(), "IPv6addr", params)
        }
        "Filesystem" => {
            arity(
                place,
                r,
                2,
                4,
                "Filesystem::DEVICE::DIRECTORY[::FSTYPE[::OPTIONS]]",
            )?;
            let mut params = vec![p("device", a(0)), p("directory", a(1))];
            let fstype = match r.args.get(2) {
                Some(t) => Some(t.clone()),
                None => {
                    if let Some(t) = host.probe_fstype(&r.args[0]) {
                        notes.push(format!("fstype {t} was probed with blkid on this machine"));
                        Some(t)
                    } else if let Some(t) = &opts.default_fstype {
                        notes.push(format!(
                            "haresources gave no fstype (Heartbeat let mount guess); {t} is the default-fstype option: check it"
                        ));
                        Some(t.clone())
                    } else {
                        // Heartbeat's Filesystem let mount(8) detect the type, and so does
                        // the agent with fstype unset. Failing here would make the
                        // conversion impossible on the standby node, where the replicated
                        // device does not exist yet; say it instead.
                        notes.push(format!(
                            "haresources gave no fstype and {} cannot be probed on this machine: the agent will let mount detect it at start, as Heartbeat did; add ::TYPE or pass --default-fstype TYPE to pin it",
                            a(0)
                        ));
                        None
                    }
                }
            };
            if let Some(t) = fstype {
                params.push(p("fstype", t));
            }

            if let Some(o) = r.args.get(3) {
                params.push(p("options", o.clone()));
            }
            (own, "Filesystem", params)
        }
        "drbddisk" | "drbdupper" => {
            arity(place, r, 0, 1, "drbddisk[::RESOURCE]")?;
            let resources = match r.args.first() {
                Some(res) if res != "all" => vec![res.clone()],
                _ if opts.drbd_resources.is_empty() => {
                    return Err(Error::NoDrbdResources {
                        place: place.clone(),
                    })
                }
                _ => opts.drbd_resources.clone(),
            };
            return Ok(Mapping::Drbd {
                resources,
                stacked: r.script == "drbdupper",
            });
        }
        "LVM" => {
            arity(place, r, 1, 1, "LVM::VOLUMEGROUP")?;
            notes.push(
                "LVM is deprecated: LVM-activate needs the volume group set up for vg_access_mode=system_id (or use tagging); see lvmsystemid(7)"
                    .into(),
            );
            (
                hb(),
                "LVM-activate",
                vec![p("vgname", a(0)), p("vg_access_mode", "system_id")],
            )
        }
        "MailTo" => {
            arity(place, r, 1, 2, "MailTo::EMAIL[::SUBJECT]")?;
            let mut params = vec![p("email", a(0))];
            if let Some(s) = r.args.get(1) {
                params.push(p("subject", s.clone()));
            }
            (hb(), "MailTo", params)
        }
        "SendArp" => {
            arity(place, r, 1, 1, "SendArp::IP/NIC")?;
            let Some((ip, nic)) = r.args[0].split_once('/') else {
                return Err(Error::Arguments {
                    place: place.clone(),
                    token: r.token.clone(),
                    problem: "needs the interface after the address".into(),
                    usage: "SendArp::IP/NIC".into(),
                });
            };
            let ip = check_ipv4(ip).map_err(|e| address_error(place, r, e))?;
            (
                hb(),
                "SendArp",
                vec![p("ip", ip.to_string()), p("nic", nic)],
            )
        }
        "Delay" => {
            arity(place, r, 0, 2, "Delay[::STARTDELAY[::STOPDELAY]]")?;
            for d in &r.args {
                if d.parse::<u32>().is_err() {
                    return Err(Error::Arguments {
                        place: place.clone(),
                        token: r.token.clone(),
                        problem: format!("has `{d}` where a number of seconds belongs"),
                        usage: "Delay[::STARTDELAY[::STOPDELAY]]".into(),
                    });
                }
            }
            // The R1 wrapper defaulted startdelay to 10; the agent's own default is 20.
            let mut params = vec![p(
                "startdelay",
                r.args.first().cloned().unwrap_or("10".into()),
            )];
            if let Some(s) = r.args.get(1) {
                params.push(p("stopdelay", s.clone()));
            }
            (hb(), "Delay", params)
        }
        "portblock" => {
            arity(place, r, 3, 3, "portblock::tcp|udp::PORTS::block|unblock")?;
            let bad = |what: &str| Error::Arguments {
                place: place.clone(),
                token: r.token.clone(),
                problem: what.to_string(),
                usage: "portblock::tcp|udp::PORTS::block|unblock".into(),
            };
            if !matches!(r.args[0].as_str(), "tcp" | "udp") {
                return Err(bad("has a protocol other than tcp or udp"));
            }
            if !r.args[1]
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == ':')
            {
                return Err(bad(
                    "has ports other than numbers, `,` lists and `:` ranges",
                ));
            }
            if !matches!(r.args[2].as_str(), "block" | "unblock") {
                return Err(bad("has an action other than block or unblock"));
            }
            (
                hb(),
                "portblock",
                vec![p("protocol", a(0)), p("portno", a(1)), p("action", a(2))],
            )
        }
        "AudibleAlarm" => {
            notes.push(
                "AudibleAlarm is unsupported on current distributions (no replacement)".into(),
            );
            let params = if r.args.is_empty() {
                vec![]
            } else {
                vec![p("nodelist", r.args.join(" "))]
            };
            (hb(), "AudibleAlarm", params)
        }
        "ServeRAID" => {
            arity(place, r, 2, 2, "ServeRAID::ADAPTER::MERGEGROUP")?;
            notes.push("ServeRAID is unsupported on current distributions".into());
            (
                hb(),
                "ServeRAID",
                vec![p("serveraid", a(0)), p("mergegroup", a(1))],
            )
        }
        "WinPopup" => {
            arity(place, r, 0, 1, "WinPopup[::HOSTFILE]")?;
            notes.push("WinPopup is unsupported on current distributions".into());
            (
                hb(),
                "WinPopup",
                vec![p(
                    "hostfile",
                    r.args.first().cloned().unwrap_or("hosts".into()),
                )],
            )
        }
        "Xinetd" => {
            arity(place, r, 1, 1, "Xinetd::SERVICE")?;
            (hb(), "Xinetd", vec![p("service", a(0))])
        }
        "apache" => {
            arity(place, r, 0, 1, "apache[::CONFIGFILE]")?;
            let params = r
                .args
                .first()
                .map(|c| vec![p("configfile", c.clone())])
                .unwrap_or_default();
            (hb(), "apache", params)
        }
        "ICP" => {
            arity(place, r, 2, 2, "ICP::DRIVEID::DEVICE")?;
            (hb(), "ICP", vec![p("driveid", a(0)), p("device", a(1))])
        }
        "LinuxSCSI" => {
            arity(place, r, 1, 1, "LinuxSCSI::HOST:CHANNEL:TARGET[:LUN]")?;
            (hb(), "LinuxSCSI", vec![p("scsi", a(0))])
        }
        "Raid1" => {
            arity(place, r, 2, 2, "Raid1::RAIDCONF::RAIDDEV")?;
            notes.push("Raid1 is deprecated in favour of mdraid (raidconf and raiddev carry over as mdadm_conf and md_dev)".into());
            (hb(), "Raid1", vec![p("raidconf", a(0)), p("raiddev", a(1))])
        }
        "db2" => {
            arity(place, r, 1, 1, "db2::INSTANCE")?;
            (hb(), "db2", vec![p("instance", a(0))])
        }
        "ids" => {
            arity(
                place,
                r,
                0,
                3,
                "ids[::INFORMIXDIR::INFORMIXSERVER::ONCONFIG]",
            )?;
            let names = ["informixdir", "informixserver", "onconfig"];
            (
                hb(),
                "ids",
                names
                    .iter()
                    .zip(&r.args)
                    .map(|(n, v)| p(n, v.clone()))
                    .collect(),
            )
        }
        "WAS" => {
            arity(place, r, 0, 1, "WAS[::CONFIGFILE|PORT]")?;
            let params = match r.args.first() {
                Some(v) if v.chars().all(|c| c.is_ascii_digit()) => vec![p("port", v.clone())],
                Some(v) => vec![p("config", v.clone())],
                None => vec![],
            };
            (hb(), "WAS", params)
        }
        "iSCSITarget" => {
            arity(place, r, 1, 2, "iSCSITarget::IQN[::PORTALS]")?;
            let mut params = vec![p("iqn", a(0))];
            if let Some(portals) = r.args.get(1) {
                params.push(p("portals", portals.clone()));
            }
            (own, "iSCSITarget", params)
        }
        "iSCSILogicalUnit" => {
            arity(place, r, 3, 3, "iSCSILogicalUnit::TARGET_IQN::LUN::PATH")?;
            (
                own,
                "iSCSILogicalUnit",
                vec![p("target_iqn", a(0)), p("lun", a(1)), p("path", a(2))],
            )
        }
        name => return Ok(Mapping::Primitive(service(r, name, host))),
    };
    Ok(Mapping::Primitive(Agent {
        class,
        kind: kind.to_string(),
        params,
        notes,
    }))
}

/// The volume group of a `/dev/VG/LV` path, when it is one.
pub(crate) fn volume_group(device: &str) -> Option<&str> {
    let rest = device.strip_prefix("/dev/")?;
    let (vg, lv) = rest.split_once('/')?;
    let not_lvm = [
        "disk", "mapper", "md", "drbd", "cciss", "etherd", "ida", "rd", "block", "nbd",
    ];
    (!lv.is_empty() && !lv.contains('/') && !not_lvm.contains(&vg)).then_some(vg)
}

/// Any other name: an init script or a systemd unit. Heartbeat looked in
/// /etc/ha.d/resource.d first, then /etc/init.d.
fn service(r: &Resource, name: &str, host: &dyn Host) -> Agent {
    let mut notes = Vec::new();
    let class = if host.init_script(name) {
        Class::Lsb
    } else {
        if host.heartbeat_script(name) {
            notes.push(format!(
                "{name} is a Heartbeat-class script in /etc/ha.d/resource.d, a class Pacemaker no longer runs: provide a systemd unit {name}.service or wrap the script as an OCF agent"
            ));
        }
        Class::Systemd
    };
    if !r.args.is_empty() {
        notes.push(format!(
            "Heartbeat ran `{name} {} start`; lsb and systemd resources take no arguments, so they are dropped: put them in a unit or wrapper",
            r.args.join(" ")
        ));
    }
    Agent {
        class,
        kind: name.to_string(),
        params: Vec::new(),
        notes,
    }
}

fn op(name: &'static str, interval: &str, timeout: &str) -> Op {
    Op {
        name,
        interval: interval.to_string(),
        timeout: timeout.to_string(),
        role: None,
    }
}

/// Operations for an agent: monitors (unless `monitor` is false) and the
/// start/stop timeouts its meta-data advises where they exceed the 20 s
/// default.
pub fn ops_for(class: &Class, kind: &str, params: &[(String, String)], monitor: bool) -> Vec<Op> {
    let (mon, extra): (Option<(&str, &str)>, Vec<Op>) = match (class, kind) {
        (Class::Lsb, _) => (Some(("15s", "15s")), vec![]),
        (Class::Systemd, _) => (
            Some(("60s", "100s")),
            vec![op("start", "0s", "100s"), op("stop", "0s", "100s")],
        ),
        (Class::Stonith, _) => (Some(("60s", "20s")), vec![]),
        (_, "IPaddr2" | "IPsrcaddr" | "IPv6addr") => (Some(("10s", "20s")), vec![]),
        (_, "Filesystem") => (
            Some(("20s", "40s")),
            vec![op("start", "0s", "60s"), op("stop", "0s", "60s")],
        ),
        (_, "apache") => (
            Some(("10s", "20s")),
            vec![op("start", "0s", "40s"), op("stop", "0s", "60s")],
        ),
        (_, "LVM-activate") => (
            Some(("30s", "90s")),
            vec![op("start", "0s", "90s"), op("stop", "0s", "90s")],
        ),
        (_, "iSCSITarget" | "iSCSILogicalUnit") => (
            Some(("10s", "10s")),
            vec![op("start", "0s", "10s"), op("stop", "0s", "10s")],
        ),
        (_, "ping") => (
            Some(("10s", "60s")),
            vec![op("start", "0s", "60s"), op("stop", "0s", "20s")],
        ),
        (_, "Delay") => {
            // start and stop sleep for their delay: give them room beyond it.
            let secs = |name: &str| {
                params
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, v)| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            let start = format!("{}s", secs("startdelay") + 20);
            let stop = format!("{}s", secs("stopdelay") + 20);
            (
                Some(("30s", "30s")),
                vec![op("start", "0s", &start), op("stop", "0s", &stop)],
            )
        }
        _ => (Some(("30s", "30s")), vec![]),
    };
    let mut ops = Vec::new();
    if monitor {
        if let Some((i, t)) = mon {
            ops.push(op("monitor", i, t));
        }
    }
    ops.extend(extra);
    ops
}

/// The DRBD agent's operations (meta-data advice of ocf:linbit:drbd). The
/// monitors stay even with `--no-monitor`: the agent refreshes the
/// promotion scores from them.
pub fn drbd_ops() -> Vec<Op> {
    let mut promoted = op("monitor", "29s", "20s");
    promoted.role = Some(Role::Promoted);
    let mut unpromoted = op("monitor", "31s", "20s");
    unpromoted.role = Some(Role::Unpromoted);
    vec![
        promoted,
        unpromoted,
        op("start", "0s", "240s"),
        op("promote", "0s", "90s"),
        op("demote", "0s", "90s"),
        op("notify", "0s", "90s"),
        op("stop", "0s", "100s"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haresources::parse_token;
    use crate::NoHost;

    fn agent(token: &str) -> Agent {
        let place = Place::new("hr", 1);
        let r = parse_token(&place, token).unwrap();
        match map(&place, &r, &Options::default(), &NoHost).unwrap() {
            Mapping::Primitive(a) => a,
            other => panic!("{token}: {other:?}"),
        }
    }

    fn shown(a: &Agent) -> String {
        let class = match &a.class {
            Class::Ocf(p) => format!("ocf:{p}"),
            Class::Lsb => "lsb".into(),
            Class::Systemd => "systemd".into(),
            Class::Stonith => "stonith".into(),
        };
        let params: Vec<String> = a.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{class}:{} {}", a.kind, params.join(" "))
    }

    /// The R1 wrappers' positional arguments, one legacy token per row.
    #[test]
    fn legacy_argument_mapping() {
        let table = [
            ("IPaddr2::192.168.1.80/24/eth0/192.168.1.255", "ocf:shimai:IPaddr2 ip=192.168.1.80 cidr_netmask=24 nic=eth0 broadcast=192.168.1.255"),
            ("IPaddr::10.0.0.5/8/10.255.255.255", "ocf:shimai:IPaddr2 ip=10.0.0.5 cidr_netmask=8 broadcast=10.255.255.255"),
            ("10.0.0.5", "ocf:shimai:IPaddr2 ip=10.0.0.5"),
            ("IPaddr2::10.0.0.5/24/eth0:web", "ocf:shimai:IPaddr2 ip=10.0.0.5 cidr_netmask=24 nic=eth0 iflabel=web"),
            ("IPsrcaddr::10.0.0.5", "ocf:heartbeat:IPsrcaddr ipaddress=10.0.0.5"),
            ("IPv6addr::2001:db8::5/64/eth0", "ocf:heartbeat:IPv6addr ipv6addr=2001:db8::5 cidr_netmask=64 nic=eth0"),
            ("Filesystem::/dev/sdb1::/srv::xfs::noatime", "ocf:shimai:Filesystem device=/dev/sdb1 directory=/srv fstype=xfs options=noatime"),
            ("LVM::vg0", "ocf:heartbeat:LVM-activate vgname=vg0 vg_access_mode=system_id"),
            ("MailTo::root@x::failover", "ocf:heartbeat:MailTo email=root@x subject=failover"),
            ("SendArp::10.0.0.5/eth0", "ocf:heartbeat:SendArp ip=10.0.0.5 nic=eth0"),
            ("Delay", "ocf:heartbeat:Delay startdelay=10"),
            ("Delay::3::4", "ocf:heartbeat:Delay startdelay=3 stopdelay=4"),
            ("portblock::udp::53::unblock", "ocf:heartbeat:portblock protocol=udp portno=53 action=unblock"),
            ("AudibleAlarm::a::b", "ocf:heartbeat:AudibleAlarm nodelist=a b"),
            ("ServeRAID::1::2", "ocf:heartbeat:ServeRAID serveraid=1 mergegroup=2"),
            ("WinPopup", "ocf:heartbeat:WinPopup hostfile=hosts"),
            ("Xinetd::tftp", "ocf:heartbeat:Xinetd service=tftp"),
            ("apache::/etc/httpd.conf", "ocf:heartbeat:apache configfile=/etc/httpd.conf"),
            ("ICP::c0d0::/dev/x", "ocf:heartbeat:ICP driveid=c0d0 device=/dev/x"),
            ("LinuxSCSI::0:0:1", "ocf:heartbeat:LinuxSCSI scsi=0:0:1"),
            ("Raid1::/etc/raidtab::/dev/md0", "ocf:heartbeat:Raid1 raidconf=/etc/raidtab raiddev=/dev/md0"),
            ("db2::db2inst1", "ocf:heartbeat:db2 instance=db2inst1"),
            ("WAS::9080", "ocf:heartbeat:WAS port=9080"),
            ("iSCSITarget::iqn.2024-01.x:t::10.0.0.5:3260", "ocf:shimai:iSCSITarget iqn=iqn.2024-01.x:t portals=10.0.0.5:3260"),
            ("iSCSILogicalUnit::iqn.2024-01.x:t::1::/dev/drbd0", "ocf:shimai:iSCSILogicalUnit target_iqn=iqn.2024-01.x:t lun=1 path=/dev/drbd0"),
            ("httpd", "systemd:httpd "),
        ];
        for (token, expected) in table {
            assert_eq!(shown(&agent(token)), expected, "{token}");
        }
    }

    #[test]
    fn drbddisk_and_providers() {
        let place = Place::new("hr", 1);
        let opts = Options {
            drbd_resources: vec!["a".into(), "b".into()],
            provider: "heartbeat".into(),
            ..Options::default()
        };
        let r = parse_token(&place, "drbddisk").unwrap();
        assert_eq!(
            map(&place, &r, &opts, &NoHost).unwrap(),
            Mapping::Drbd {
                resources: vec!["a".into(), "b".into()],
                stacked: false
            }
        );
        let r = parse_token(&place, "IPaddr2::10.0.0.1").unwrap();
        let Mapping::Primitive(a) = map(&place, &r, &opts, &NoHost).unwrap() else {
            panic!()
        };
        assert_eq!(a.class, Class::Ocf("heartbeat".into()));
    }

    #[test]
    fn delay_timeouts_cover_the_delay() {
        let a = agent("Delay::30::40");
        let ops = ops_for(&a.class, &a.kind, &a.params, true);
        assert!(ops.iter().any(|o| o.name == "start" && o.timeout == "50s"));
        assert!(ops.iter().any(|o| o.name == "stop" && o.timeout == "60s"));
        assert!(!ops_for(&a.class, &a.kind, &a.params, false)
            .iter()
            .any(|o| o.name == "monitor"));
    }
}
