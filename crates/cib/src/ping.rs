//! ha.cf ping nodes (and pingd/ipfail) as `ocf:pacemaker:ping` clones.
//!
//! Heartbeat pinged the `ping` hosts as pseudo cluster members; with ipfail
//! (or pingd) a node that reached fewer of them than its peer gave its
//! groups to the peer, and when neither reached any, nothing moved.
//! Pacemaker's ping agent sets a node attribute (the count of reachable
//! hosts times the multiplier), and a location rule whose score is that
//! attribute (`score-attribute`) does the same: the better-connected node
//! wins, and equal connectivity (none at all included) changes nothing. A
//! rule that banned groups where the attribute is 0 would stop every group
//! when the gateway is down for both nodes, which ipfail never did.

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

/// What the ping resources mean for the groups, for the stickiness choice.
pub struct PingRules {
    /// The ping agent's multiplier: what each reachable host is worth.
    pub multiplier: u32,
}

/// Adds the ping clones and, when ipfail or pingd acted on them, the
/// location rules. Returns the rules' multiplier when rules were made.
pub fn add(
    cf: &HaCf,
    targets: &[String],
    resources: &mut Vec<Resource>,
    constraints: &mut Vec<Constraint>,
    warnings: &mut Vec<String>,
) -> Option<PingRules> {
    let mut pingd = None;
    let mut ipfail = false;
    for (user, args) in &cf.respawn {
        match program(args) {
            "pingd" => pingd = Some(pingd_options(args)),
            "ipfail" => ipfail = true,
            "dopd" => warnings.push(
                "respawn dopd: use DRBD's `fencing resource-only;` with the crm-fence-peer.9.sh handlers instead".into(),
            ),
            other => warnings.push(format!(
                "respawn {user} {other}: Pacemaker does not respawn programs; run it as a systemd unit or an ocf:heartbeat:anything clone"
            )),
        }
    }
    let decides = ipfail || pingd.is_some();
    let pingd = pingd.unwrap_or_default();
    if cf.ping.is_empty() && cf.ping_groups.is_empty() {
        if decides {
            warnings.push(format!(
                "{} is respawned but ha.cf has no `ping` host: no ping resource is made; add ping hosts (ocf:pacemaker:ping host_list) by hand",
                if ipfail { "ipfail" } else { "pingd" }
            ));
        }
        return None;
    }
    let dampen = pingd
        .dampen
        .clone()
        .or(cf.deadping_ms.map(|ms| format!("{}s", ms.div_ceil(1000))))
        .unwrap_or_else(|| "5s".into());
    // Each reachable host must outweigh the location score of 100 that
    // says which node a group prefers, or connectivity could not move it.
    let multiplier = match pingd.multiplier.as_deref().map(str::parse::<u32>) {
        None => 1000,
        Some(Ok(m)) if m > 100 => m,
        Some(_) => {
            warnings.push(format!(
                "pingd -m {}: a reachable ping host must be worth more than the location score 100 of a group's preferred node, so the multiplier is 1000",
                pingd.multiplier.as_deref().unwrap_or_default()
            ));
            1000
        }
    };
    let mut sets: Vec<(String, String, Vec<String>)> = Vec::new();
    if !cf.ping.is_empty() {
        let attr = pingd.attribute.clone().unwrap_or_else(|| "pingd".into());
        sets.push(("ping_gw".into(), attr, cf.ping.clone()));
    }
    for (name, hosts) in &cf.ping_groups {
        if hosts.len() > 1 && decides {
            warnings.push(format!(
                "ping_group {name}: Heartbeat counted the group as one ping node, reachable when any of its hosts answered; the ping agent counts each host, so a node that loses one of them already ranks below its peer"
            ));
        }
        let id = format!("ping_{}", sanitize_id(name).trim_start_matches('_'));
        sets.push((id.clone(), id, hosts.clone()));
    }
    let mut attrs = Vec::new();
    for (id, attr, hosts) in sets {
        let params = vec![
            ("host_list".to_string(), hosts.join(" ")),
            ("multiplier".to_string(), multiplier.to_string()),
            ("dampen".to_string(), dampen.clone()),
            ("name".to_string(), attr.clone()),
        ];
        let class = Class::Ocf("pacemaker".into());
        let ops = ops_for(&class, "ping", &params, true);
        let what = if decides {
            format!("the groups prefer the node where {attr} is higher")
        } else {
            "nothing acts on it, as nothing did in Heartbeat".to_string()
        };
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
                    "ha.cf ping hosts {}: {attr} is {multiplier} times the number of them a node reaches; {what}",
                    hosts.join(" ")
                )],
            },
            comments: Vec::new(),
        });
        if decides {
            for t in targets {
                constraints.push(Constraint::ScoreAttribute {
                    id: format!("loc-{t}-{attr}"),
                    rsc: t.clone(),
                    attribute: attr.clone(),
                });
            }
        }
        attrs.push(attr);
    }
    if !decides {
        warnings.push(format!(
            "ha.cf has ping hosts but respawns neither ipfail nor pingd: Heartbeat only watched them, so the ping clone reports connectivity ({}, see crm_mon -A) and no rule moves a group for it",
            attrs.join(", ")
        ));
        return None;
    }
    warnings.push(format!(
        "{}: each group gets a location rule scored by the node attribute {} (score-attribute): it moves to the node that reaches more ping hosts, and when both nodes lose them all it stays where it is, as with ipfail, instead of stopping",
        if ipfail { "respawn ipfail" } else { "respawn pingd" },
        attrs.join(" and ")
    ));
    Some(PingRules { multiplier })
}
