//! ha.cf ping nodes (and pingd/ipfail) as `ocf:pacemaker:ping` clones.
//!
//! Heartbeat pinged the `ping` hosts as pseudo cluster members; with ipfail
//! or pingd a node that lost them gave its groups away. Pacemaker's ping
//! agent sets a node attribute (the count of reachable hosts times the
//! multiplier) and a location rule bans groups from nodes where it is 0.

use crate::hacf::HaCf;
use crate::mapping::ops_for;
use crate::model::{sanitize_id, Class, Constraint, Primitive, Resource};

/// The options of a `respawn ... pingd -m M -d D -a NAME` line.
#[derive(Debug, Default)]
struct Pingd {
    multiplier: Option<String>,
    dampen: Option<String>,
    attribute: Option<String>,
}

fn pingd_options(args: &[String]) -> Pingd {
    let mut p = Pingd::default();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let slot = match a.as_str() {
            "-m" | "--multiplier" => &mut p.multiplier,
            "-d" | "--dampen" => &mut p.dampen,
            "-a" | "--attr-name" => &mut p.attribute,
            _ => continue,
        };
        *slot = it.next().cloned();
    }
    p
}

fn program(args: &[String]) -> &str {
    args.first()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or_default()
}

pub fn add(
    cf: &HaCf,
    targets: &[String],
    resources: &mut Vec<Resource>,
    constraints: &mut Vec<Constraint>,
    warnings: &mut Vec<String>,
) {
    let mut pingd = None;
    for (user, args) in &cf.respawn {
        match program(args) {
            "pingd" => pingd = Some(pingd_options(args)),
            "ipfail" => warnings.push(
                "respawn ipfail: replaced by the ping clone and its location rules".into(),
            ),
            "dopd" => warnings.push(
                "respawn dopd: use DRBD's `fencing resource-only;` with the crm-fence-peer.9.sh handlers instead".into(),
            ),
            other => warnings.push(format!(
                "respawn {user} {other}: Pacemaker does not respawn programs; run it as a systemd unit or an ocf:heartbeat:anything clone"
            )),
        }
    }
    let pingd = pingd.unwrap_or_default();
    if cf.ping.is_empty() && cf.ping_groups.is_empty() {
        if pingd.attribute.is_some() || pingd.multiplier.is_some() {
            warnings.push("pingd is respawned but ha.cf has no `ping` host: no ping resource is made; add ping hosts (ocf:pacemaker:ping host_list) by hand".into());
        }
        return;
    }
    let dampen = pingd
        .dampen
        .clone()
        .or(cf.deadping_ms.map(|ms| format!("{}s", ms.div_ceil(1000))))
        .unwrap_or_else(|| "5s".into());
    let multiplier = pingd.multiplier.clone().unwrap_or_else(|| "1000".into());
    let mut sets: Vec<(String, String, Vec<String>)> = Vec::new();
    if !cf.ping.is_empty() {
        let attr = pingd.attribute.clone().unwrap_or_else(|| "pingd".into());
        sets.push(("ping_gw".into(), attr, cf.ping.clone()));
    }
    for (name, hosts) in &cf.ping_groups {
        let id = format!("ping_{}", sanitize_id(name).trim_start_matches('_'));
        sets.push((id.clone(), id, hosts.clone()));
    }
    for (id, attr, hosts) in sets {
        let params = vec![
            ("host_list".to_string(), hosts.join(" ")),
            ("multiplier".to_string(), multiplier.clone()),
            ("dampen".to_string(), dampen.clone()),
            ("name".to_string(), attr.clone()),
        ];
        let class = Class::Ocf("pacemaker".into());
        let ops = ops_for(&class, "ping", &params, true);
        resources.push(Resource::Clone {
            id: format!("{id}-clone"),
            meta: vec![("interleave".into(), "true".into())],
            child: Primitive {
                id: id.clone(),
                class,
                kind: "ping".into(),
                params,
                ops,
                comments: vec![format!(
                    "ha.cf ping hosts {}: a node that reaches none of them gets {attr}=0 and the groups leave it",
                    hosts.join(" ")
                )],
            },
            comments: Vec::new(),
        });
        for t in targets {
            constraints.push(Constraint::AttributeRule {
                id: format!("loc-{t}-{attr}"),
                rsc: t.clone(),
                attribute: attr.clone(),
            });
        }
    }
}
