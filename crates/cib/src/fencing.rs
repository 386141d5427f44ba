//! stonith_host and watchdog: fencing carried over where it can be.
//!
//! A `stonith_host FROM TYPE PARAMS...` line names a cluster-glue plugin
//! whose positional parameters only the plugin knows (`stonith -n -t
//! TYPE`). The common plugins' names are listed here; others are reported
//! rather than guessed, because a wrong fence device is worse than none.

use crate::hacf::HaCf;
use crate::mapping::ops_for;
use crate::model::{Class, Constraint, Primitive, Resource};

/// Parameter names of cluster-glue plugins, as `stonith -n -t TYPE` prints them.
const PLUGINS: &[(&str, &[&str])] = &[
    (
        "external/ipmi",
        &["hostname", "ipaddr", "userid", "passwd", "interface"],
    ),
    ("external/ssh", &["hostlist"]),
    ("ssh", &["hostlist"]),
    ("meatware", &["hostlist"]),
    ("null", &["hostlist"]),
    ("apcmaster", &["ipaddr", "login", "password"]),
    ("baytech", &["ipaddr", "login", "password"]),
    ("wti_nps", &["ipaddr", "password"]),
];

/// Adds fence devices; returns whether any was made (stonith-enabled).
pub fn add(
    cf: &HaCf,
    nodes: &[String],
    resources: &mut Vec<Resource>,
    constraints: &mut Vec<Constraint>,
    warnings: &mut Vec<String>,
) -> bool {
    if let Some(dev) = &cf.watchdog {
        warnings.push(format!(
            "watchdog {dev}: Heartbeat let the watchdog reboot a hung node; in Pacemaker use sbd with this device (stonith-watchdog-timeout); not configured here"
        ));
    }
    if let Some((kind, file)) = &cf.stonith {
        warnings.push(format!(
            "stonith {kind} {file}: the device settings are in {file}, which is not read; define a stonith:{kind} (or fence_*) resource by hand"
        ));
    }
    let mut made = false;
    for (i, sh) in cf.stonith_hosts.iter().enumerate() {
        let Some((_, names)) = PLUGINS.iter().find(|(k, _)| *k == sh.kind) else {
            warnings.push(format!(
                "{}: stonith_host type `{}` is not known to this tool: define it by hand (parameter names from `stonith -n -t {}`)",
                sh.place, sh.kind, sh.kind
            ));
            continue;
        };
        if sh.params.len() > names.len() {
            warnings.push(format!(
                "{}: stonith_host {} takes {} parameters; the extra ones are dropped",
                sh.place,
                sh.kind,
                names.len()
            ));
        }
        let id = format!("stonith_{}", i + 1);
        let params: Vec<(String, String)> = names
            .iter()
            .zip(&sh.params)
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        let target = params
            .iter()
            .find(|(n, _)| n == "hostname" || n == "hostlist")
            .map(|(_, v)| v.to_lowercase())
            .filter(|v| nodes.contains(v));
        let ops = ops_for(&Class::Stonith, &sh.kind, &params, true);
        resources.push(Resource::Primitive(Primitive {
            id: id.clone(),
            class: Class::Stonith,
            kind: sh.kind.clone(),
            params,
            ops,
            comments: vec![format!(
                "{}: stonith_host {} {}",
                sh.place, sh.from, sh.kind
            )],
        }));
        if sh.from != "*" && nodes.contains(&sh.from) {
            constraints.push(Constraint::Location {
                id: format!("rsc_location_{id}"),
                rsc: id.clone(),
                role: None,
                score: "100".into(),
                node: sh.from.clone(),
            });
        }
        if let Some(t) = target {
            // A node must never be the one to fence itself.
            constraints.push(Constraint::Location {
                id: format!("rsc_location_{id}-not-{t}"),
                rsc: id.clone(),
                role: None,
                score: "-INFINITY".into(),
                node: t,
            });
        }
        made = true;
    }
    made
}
