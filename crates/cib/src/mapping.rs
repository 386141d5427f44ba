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
        "IPaddr" | "IPaddr2" if is_ipv6_spec(&r.args) => {
            let (params, note) = ipv6_for_ipaddr2(place, r)?;
            notes.push(note);
            (own, "IPaddr2", params)
        }
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
                    } else if opts.provider == "heartbeat" {
                        // resource-agents' Filesystem declares fstype required: crmsh
                        // refuses the resource without it, and `auto` fails the agent's
                        // /proc/filesystems check.
                        return Err(Error::syntax(
                            place.clone(),
                            format!(
                                "`{}` has no filesystem type and {} cannot be probed on this machine, while resource-agents' Filesystem (--provider heartbeat) requires fstype (crmsh refuses the resource without it)",
                                r.token,
                                a(0)
                            ),
                            format!(
                                "add it (`Filesystem::{}::{}::ext4`), run the tool where {} exists, or pass --default-fstype TYPE",
                                a(0),
                                a(1),
                                a(0)
                            ),
                        ));
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
            let conf = a(0);
            let raidtab = conf
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .contains("raidtab");
            let mdadm_conf = if raidtab {
                notes.push(format!(
                    "{conf} is a raidtools file, which no current agent reads: mdraid (Raid1's successor) assembles {dev} with mdadm from an mdadm.conf. mdadm_conf is set to /etc/mdadm/mdadm.conf (Debian's place; /etc/mdadm.conf on Red Hat): before the cluster starts, write there on both nodes the ARRAY line that `mdadm -E -s` prints for {dev}",
                    dev = a(1)
                ));
                "/etc/mdadm/mdadm.conf".to_string()
            } else {
                notes.push(format!(
                    "Raid1 is deprecated: mdraid, its successor, takes the same mdadm.conf ({conf}) and device"
                ));
                conf
            };
            (
                hb(),
                "mdraid",
                vec![p("mdadm_conf", mdadm_conf), p("md_dev", a(1))],
            )
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

/// IPaddr/IPaddr2 arguments whose address (before the first `/`) has a
/// colon: an IPv6 address, which Heartbeat's `::` split cut in pieces.
fn is_ipv6_spec(args: &[String]) -> bool {
    let whole = args.join("::");
    whole.split('/').next().is_some_and(|a| a.contains(':'))
}

/// `IPaddr2::fe80::1/64/eth0`: the address is put back together and given
/// to IPaddr2, which manages IPv6 addresses (ip, cidr_netmask, nic).
fn ipv6_for_ipaddr2(place: &Place, r: &Resource) -> Result<(P, String), Error> {
    let whole = r.args.join("::");
    let f: Vec<&str> = whole.split('/').collect();
    let shape = "ADDRESS[/PREFIX[/NIC]], e.g. IPaddr2::2001:db8::10/64/eth0";
    if f.len() > 3 {
        return Err(address_error(
            place,
            r,
            (
                whole.clone(),
                "has more than three `/` fields for an IPv6 address (IPv6 has no broadcast)".into(),
                shape.into(),
            ),
        ));
    }
    let (ip, bits) = parse_ipv6(f[0], f.get(1).copied().filter(|b| !b.is_empty()))
        .map_err(|e| address_error(place, r, e))?;
    let nic = f.get(2).copied().filter(|n| !n.is_empty());
    if let Some(n) = nic {
        if !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        {
            return Err(address_error(
                place,
                r,
                (n.into(), "is not an interface name".into(), shape.into()),
            ));
        }
    }
    let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
    if link_local && nic.is_none() {
        return Err(address_error(
            place,
            r,
            (
                ip.to_string(),
                "is link-local, which exists only together with its interface".into(),
                format!("{ip}/64/eth0 with the interface it belongs to"),
            ),
        ));
    }
    let mut params = vec![p("ip", ip.to_string())];
    if let Some(b) = bits {
        params.push(p("cidr_netmask", b.to_string()));
    }
    if let Some(n) = nic {
        params.push(p("nic", n));
    }
    let note = format!(
        "`{ip}` is an IPv6 address: Heartbeat took every `::` for an argument separator, so its {} wrapper was handed the pieces `{}` and could not have brought it up; IPaddr2 manages IPv6 addresses now and gets it whole",
        r.script,
        r.args.join(" ")
    );
    Ok((params, note))
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

/// What an agent's meta-data advises, in seconds: start, stop, monitor
/// interval, monitor timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advice {
    /// start timeout.
    pub start: u32,
    /// stop timeout.
    pub stop: u32,
    /// monitor interval.
    pub monitor_interval: u32,
    /// monitor timeout.
    pub monitor: u32,
}

const fn advice(start: u32, stop: u32, monitor_interval: u32, monitor: u32) -> Advice {
    Advice {
        start,
        stop,
        monitor_interval,
        monitor,
    }
}

/// The `<actions>` of resource-agents 4.12's meta-data (and of Pacemaker
/// 2.1's `ocf:pacemaker:ping`) for every agent this tool emits or meets in
/// an old CIB. Built in, so the outputs do not depend on what the converting
/// machine has installed; `crates/cib/tests/advice.rs` compares it with
/// the installed agents.
pub const ADVISED: &[(&str, Advice)] = &[
    ("AudibleAlarm", advice(10, 10, 10, 10)),
    ("Delay", advice(30, 30, 10, 30)),
    ("Filesystem", advice(60, 60, 20, 40)),
    ("ICP", advice(20, 20, 10, 20)),
    ("IPaddr", advice(20, 20, 5, 20)),
    ("IPaddr2", advice(20, 20, 10, 20)),
    ("IPsrcaddr", advice(20, 20, 10, 20)),
    ("IPv6addr", advice(15, 15, 15, 15)),
    ("LVM", advice(30, 30, 10, 30)),
    ("LVM-activate", advice(90, 90, 30, 90)),
    ("LinuxSCSI", advice(20, 20, 10, 20)),
    ("MailTo", advice(10, 10, 10, 10)),
    ("Raid1", advice(20, 20, 10, 20)),
    ("SendArp", advice(20, 20, 10, 20)),
    ("ServeRAID", advice(40, 40, 10, 20)),
    ("WAS", advice(300, 300, 10, 30)),
    ("WinPopup", advice(30, 30, 10, 10)),
    ("Xinetd", advice(20, 20, 10, 10)),
    ("apache", advice(40, 60, 10, 20)),
    ("db2", advice(120, 120, 20, 60)),
    ("iSCSILogicalUnit", advice(10, 10, 10, 10)),
    ("iSCSITarget", advice(10, 10, 10, 10)),
    ("ids", advice(120, 120, 10, 30)),
    ("mdraid", advice(20, 20, 10, 20)),
    ("ping", advice(60, 20, 10, 60)),
];

/// The advice for an OCF agent type, when the table has it.
pub fn advised(kind: &str) -> Option<Advice> {
    ADVISED.iter().find(|(k, _)| *k == kind).map(|(_, a)| *a)
}

/// Pacemaker's default operation timeout, which this tool also writes as
/// `op_defaults timeout`: start and stop ops are only written when an agent
/// advises more.
pub const DEFAULT_TIMEOUT: u32 = 20;

/// Operations for an agent: monitors (unless `monitor` is false), and start
/// and stop where the advised timeout exceeds the 20 s default. Every
/// timeout is at least the agent's advised value ([`ADVISED`]).
pub fn ops_for(class: &Class, kind: &str, params: &[(String, String)], monitor: bool) -> Vec<Op> {
    let secs = |n: u32| format!("{n}s");
    let a = match class {
        // Init scripts on a systemd host run through systemctl (its
        // DefaultTimeoutStartSec is 90 s), so they get the 100 s that
        // Pacemaker advises for systemd units; the status check stays
        // frequent, as it is cheap.
        Class::Lsb => advice(100, 100, 15, 100),
        Class::Systemd => advice(100, 100, 60, 100),
        Class::Stonith => advice(DEFAULT_TIMEOUT, DEFAULT_TIMEOUT, 60, 20),
        Class::Ocf(_) => advised(kind).unwrap_or(advice(DEFAULT_TIMEOUT, DEFAULT_TIMEOUT, 30, 30)),
    };
    let (mut start, mut stop) = (a.start, a.stop);
    if kind == "Delay" {
        // start and stop sleep for their delay: give them room beyond it.
        let delay = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.parse::<u32>().ok())
                .unwrap_or(0)
        };
        start = start.max(delay("startdelay").saturating_add(20));
        stop = stop.max(delay("stopdelay").saturating_add(20));
    }
    let mut ops = Vec::new();
    if monitor {
        ops.push(op("monitor", &secs(a.monitor_interval), &secs(a.monitor)));
    }
    if start > DEFAULT_TIMEOUT {
        ops.push(op("start", "0s", &secs(start)));
    }
    if stop > DEFAULT_TIMEOUT {
        ops.push(op("stop", "0s", &secs(stop)));
    }
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
            ("Raid1::/etc/raidtab::/dev/md0", "ocf:heartbeat:mdraid mdadm_conf=/etc/mdadm/mdadm.conf md_dev=/dev/md0"),
            ("Raid1::/etc/mdadm.conf::/dev/md1", "ocf:heartbeat:mdraid mdadm_conf=/etc/mdadm.conf md_dev=/dev/md1"),
            ("IPaddr2::fe80::1/64/eth0", "ocf:shimai:IPaddr2 ip=fe80::1 cidr_netmask=64 nic=eth0"),
            ("IPaddr::2001:db8::7", "ocf:shimai:IPaddr2 ip=2001:db8::7"),
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
    fn ipv6_in_ipaddr2_is_read_whole() {
        let place = Place::new("hr", 1);
        let r = parse_token(&place, "IPaddr2::fe80::1/64").unwrap();
        let e = map(&place, &r, &Options::default(), &NoHost).unwrap_err();
        assert!(e.to_string().contains("link-local"), "{e}");
        assert!(!e.to_string().contains("argument(s)"), "{e}");
        let r = parse_token(&place, "IPaddr2::2001:db8::1/64/eth0/x").unwrap();
        let e = map(&place, &r, &Options::default(), &NoHost).unwrap_err();
        assert!(e.to_string().contains("IPv6 has no broadcast"), "{e}");
        let a = agent("IPaddr2::fe80::1/64/eth0");
        assert!(a.notes[0].contains("IPv6 address"), "{:?}", a.notes);
    }

    #[test]
    fn filesystem_without_type_for_resource_agents_is_refused() {
        let place = Place::new("hr", 3);
        let r = parse_token(&place, "Filesystem::/dev/sdc1::/srv/ftp").unwrap();
        let opts = Options {
            provider: "heartbeat".into(),
            ..Options::default()
        };
        let e = map(&place, &r, &opts, &NoHost).unwrap_err();
        let m = e.to_string();
        assert!(
            m.starts_with("hr:3: `Filesystem::/dev/sdc1::/srv/ftp` has no filesystem type"),
            "{m}"
        );
        assert!(m.contains("--default-fstype"), "{m}");
        let opts = Options {
            default_fstype: Some("xfs".into()),
            ..opts
        };
        let Mapping::Primitive(a) = map(&place, &r, &opts, &NoHost).unwrap() else {
            panic!()
        };
        assert!(a.params.contains(&("fstype".into(), "xfs".into())));
    }

    #[test]
    fn timeouts_are_at_least_the_advice() {
        for (token, start, stop) in [
            ("WAS::9080", Some("300s"), Some("300s")),
            ("db2::db2inst1", Some("120s"), Some("120s")),
            ("Delay::3::1", Some("30s"), Some("30s")),
            ("IPaddr2::10.0.0.1", None, None),
        ] {
            let a = agent(token);
            let ops = ops_for(&a.class, &a.kind, &a.params, true);
            let t = |n: &str| ops.iter().find(|o| o.name == n).map(|o| o.timeout.as_str());
            assert_eq!((t("start"), t("stop")), (start, stop), "{token}");
            let adv = advised(&a.kind).unwrap();
            assert_eq!(
                t("monitor"),
                Some(format!("{}s", adv.monitor).as_str()),
                "{token}"
            );
        }
        let ops = ops_for(&Class::Lsb, "httpd", &[], true);
        assert!(ops.iter().all(|o| o.timeout == "100s"), "{ops:?}");
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
