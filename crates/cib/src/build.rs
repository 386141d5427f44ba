//! Assembles the cluster model: groups, DRBD clones, constraints, defaults.
//!
//! Ids follow the old tool where it was sound, so that admins recognise
//! them: `group_N` for the N-th haresources line and `Type_K` for the K-th
//! resource token of the file (counting every token, so ids never collide,
//! which the old tool's numbering did).

use crate::error::Error;
use crate::hacf::{self, AutoFailback, HaCf};
use crate::haresources::{self, GroupLine};
use crate::mapping::{self, Mapping};
use crate::model::{sanitize_id, Class, Cluster, Constraint, Primitive, Resource, Role};
use crate::{authkeys, fencing, ping, totem, Conversion, Host, Inputs, Options};

pub fn build(inputs: &Inputs, opts: &Options, host: &dyn Host) -> Result<Conversion, Error> {
    let (hr_name, hr_text) = inputs.haresources;
    let lines = haresources::parse(hr_name, hr_text)?;
    if lines.is_empty() {
        return Err(Error::Empty {
            file: hr_name.to_string(),
            what: "no resource group (every line is empty or a comment)".into(),
            fix: "give the haresources file that Heartbeat used".into(),
        });
    }
    let cf = match inputs.hacf {
        Some((name, text)) => Some(hacf::parse(name, text)?),
        None => None,
    };
    let auth = match inputs.authkeys {
        Some((name, text)) => Some(authkeys::parse(name, text)?),
        None => None,
    };
    let mut warnings = Vec::new();
    let mut comments = Vec::new();
    if let Some(cf) = &cf {
        warnings.extend(cf.warnings.iter().cloned());
        if cf.crm {
            warnings.push(format!(
                "{}: `crm` is on: Heartbeat ignored haresources and ran the CRM; convert /var/lib/heartbeat/crm/cib.xml with --upgrade-cib instead",
                inputs.hacf.map(|h| h.0).unwrap_or_default()
            ));
        }
    } else {
        warnings.push(format!(
            "no ha.cf: nodes come from {hr_name}, timers and media take Heartbeat's defaults"
        ));
    }
    if opts.no_ocf {
        warnings.push(
            "--no-ocf: Pacemaker 2 removed the heartbeat resource class, so legacy scripts that have an OCF agent are converted anyway".into(),
        );
    }
    let nodes = nodes(&lines, cf.as_ref(), &mut warnings);
    let legacy_roles = schema_minor(&opts.schema).is_some_and(|m| m < 7);

    let mut resources = Vec::new();
    let mut constraints = Vec::new();
    let mut drbd_clones: Vec<String> = Vec::new();
    let mut drbd_users: Vec<(String, String)> = Vec::new();
    let mut token_no = 0usize;
    let mut targets = Vec::new();
    for (g, line) in lines.iter().enumerate() {
        let group_id = format!("group_{}", g + 1);
        let mut members: Vec<Primitive> = Vec::new();
        let mut drbd: Vec<String> = Vec::new();
        let mut before_drbd = Vec::new();
        for r in &line.resources {
            token_no += 1;
            match mapping::map(&line.place, r, opts, host)? {
                Mapping::Drbd {
                    resources: res,
                    stacked,
                } => {
                    if stacked {
                        warnings.push(format!(
                            "{}: `{}` is stacked DRBD: order it after the lower resource's promotion by hand",
                            line.place, r.token
                        ));
                    }
                    if drbd.is_empty() {
                        before_drbd = members.iter().map(|m| m.id.clone()).collect();
                    }
                    for name in res {
                        if !drbd.contains(&name) {
                            drbd.push(name);
                        }
                    }
                }
                Mapping::Primitive(mut agent) => {
                    let unmanaged_vg = (agent.kind == "Filesystem")
                        .then(|| r.args.first().and_then(|d| mapping::volume_group(d)))
                        .flatten()
                        .filter(|vg| {
                            !line.resources.iter().any(|o| {
                                o.script == "LVM" && o.args.first().map(String::as_str) == Some(*vg)
                            })
                        });
                    if let Some(vg) = unmanaged_vg {
                        agent.notes.push(format!(
                            "{vg} looks like an LVM volume group that the OS activated at boot under Heartbeat; if it sits on shared storage, add `LVM::{vg}` (LVM-activate) before this Filesystem"
                        ));
                    }
                    let id = format!("{}_{token_no}", sanitize_id(&agent.kind));
                    for n in &agent.notes {
                        warnings.push(format!("{}: {}: {n}", line.place, r.token));
                    }
                    let ops =
                        mapping::ops_for(&agent.class, &agent.kind, &agent.params, opts.monitor);
                    let mut cmts = vec![format!("{}: {}", line.place, r.token)];
                    cmts.extend(agent.notes);
                    members.push(Primitive {
                        id,
                        class: agent.class,
                        kind: agent.kind,
                        params: agent.params,
                        ops,
                        comments: cmts,
                    });
                }
            }
        }
        for name in &drbd {
            match drbd_users.iter().find(|(n, _)| n == name) {
                Some((_, node)) if *node != line.node => warnings.push(format!(
                    "{}: DRBD resource {name} also serves a group that prefers {node}; it can be Primary on one node only, so these groups will run together",
                    line.place
                )),
                Some(_) => {}
                None => drbd_users.push((name.clone(), line.node.clone())),
            }
            let clone = drbd_clone(name, opts, nodes.len());
            if !drbd_clones.contains(&clone.0) {
                drbd_clones.push(clone.0.clone());
                resources.push(clone.1);
            }
        }
        let line_comment = format!(
            "{}: {} {}",
            line.place,
            line.node,
            line.resources
                .iter()
                .map(|r| r.token.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
        if members.is_empty() {
            for name in &drbd {
                let clone_id = format!("drbd_{}-clone", sanitize_id(name));
                constraints.push(Constraint::Location {
                    id: format!("rsc_location_{clone_id}"),
                    rsc: clone_id,
                    role: Some(Role::Promoted),
                    score: "100".into(),
                    node: line.node.clone(),
                });
            }
            continue;
        }
        let mut gcomments = vec![line_comment];
        if !drbd.is_empty() && !before_drbd.is_empty() {
            gcomments.push(format!(
                "Heartbeat started {} before drbddisk; Pacemaker starts the whole group after DRBD is promoted",
                before_drbd.join(", ")
            ));
        }
        constraints.push(Constraint::Location {
            id: format!("rsc_location_{group_id}"),
            rsc: group_id.clone(),
            role: None,
            score: "100".into(),
            node: line.node.clone(),
        });
        for name in &drbd {
            let clone_id = format!("drbd_{}-clone", sanitize_id(name));
            constraints.push(Constraint::Colocation {
                id: format!("colocation-{group_id}-{clone_id}-INFINITY"),
                rsc: group_id.clone(),
                with: clone_id.clone(),
                with_role: Some(Role::Promoted),
            });
            constraints.push(Constraint::Order {
                id: format!("order-{clone_id}-{group_id}-mandatory"),
                first: clone_id,
                first_action: "promote",
                then: group_id.clone(),
            });
        }
        targets.push(group_id.clone());
        resources.push(Resource::Group {
            id: group_id,
            members,
            comments: gcomments,
        });
    }

    let ping_rules = match &cf {
        Some(cf) => ping::add(
            cf,
            &targets,
            &mut resources,
            &mut constraints,
            &mut warnings,
        ),
        None => None,
    };
    let fenced = match &cf {
        Some(cf) => fencing::add(cf, &nodes, &mut resources, &mut constraints, &mut warnings),
        None => false,
    };
    if !fenced {
        let msg = "Heartbeat v1 had no fencing configured, so stonith-enabled=false: Pacemaker then cannot recover a failed stop or a split brain safely; configure a fence device (and DRBD `fencing resource-only`) before production";
        comments.push(msg.to_string());
        warnings.push(msg.to_string());
    }
    if opts.monitor {
        comments.push(
            "Heartbeat never monitored resources; Pacemaker runs the monitor operations below and restarts or moves a group whose member fails (the option no-monitor leaves them out)".into(),
        );
    }
    let failback = cf
        .as_ref()
        .map(|c| c.auto_failback)
        .unwrap_or(AutoFailback::Legacy);
    // Stickiness adds up over a group's members.
    let biggest_group = resources
        .iter()
        .map(|r| match r {
            Resource::Group { members, .. } => members.len() as u32,
            _ => 1,
        })
        .max()
        .unwrap_or(1);
    let stickiness = match (failback, &ping_rules) {
        (AutoFailback::Off, Some(rules))
            if biggest_group * FINITE_STICKINESS + 100 < rules.multiplier =>
        {
            comments.push(format!(
                "auto_failback off with ipfail: resource-stickiness={FINITE_STICKINESS} per resource keeps a group where it runs when its preferred node returns (it outweighs the location score 100) but lets it move to a node that reaches more ping hosts (each is worth {}), as ipfail did; INFINITY would pin it to a node that lost its network",
                rules.multiplier
            ));
            FINITE_STICKINESS.to_string()
        }
        (AutoFailback::Off, rules) => {
            if let Some(rules) = rules {
                let msg = format!(
                    "auto_failback off with ipfail: a group of {biggest_group} resources at stickiness {FINITE_STICKINESS} each would outweigh a ping host ({}), so resource-stickiness=INFINITY is kept and connectivity cannot move a running group; lower the stickiness or raise the ping multiplier to get ipfail's behaviour",
                    rules.multiplier
                );
                comments.push(msg.clone());
                warnings.push(msg);
            }
            comments.push("auto_failback off: resource-stickiness=INFINITY keeps groups where they run when their preferred node returns".into());
            "INFINITY".to_string()
        }
        (AutoFailback::On | AutoFailback::Legacy, _) => {
            comments.push("auto_failback on: resource-stickiness=0 and a location score of 100 move each group back to its preferred node when it returns".into());
            "0".to_string()
        }
    };
    let name = cf
        .as_ref()
        .and_then(|c| c.cluster.clone())
        .unwrap_or_else(|| "hacluster".into());
    let mut properties = vec![
        ("stonith-enabled".to_string(), fenced.to_string()),
        ("no-quorum-policy".to_string(), "stop".to_string()),
        ("cluster-name".to_string(), name.clone()),
    ];
    if let Some(cf) = &cf {
        // initdead was how long Heartbeat waited for its peers at start-up.
        properties.push((
            "dc-deadtime".into(),
            format!("{}s", cf.initdead_ms.div_ceil(1000)),
        ));
    }
    let corosync = totem::corosync(cf.as_ref(), &nodes, auth, &mut warnings);
    Ok(Conversion {
        cluster: Cluster {
            name,
            schema: opts.schema.clone(),
            legacy_roles,
            nodes,
            properties,
            rsc_defaults: vec![("resource-stickiness".into(), stickiness)],
            op_defaults: vec![("timeout".into(), "20s".into())],
            resources,
            constraints,
            comments,
            corosync,
        },
        warnings,
    })
}

/// Per-resource stickiness for `auto_failback off` when ipfail may move
/// groups: above the location score 100, far below a ping host's worth.
const FINITE_STICKINESS: u32 = 200;

fn schema_minor(schema: &str) -> Option<u32> {
    schema.strip_prefix("pacemaker-3.")?.parse().ok()
}

fn nodes(lines: &[GroupLine], cf: Option<&HaCf>, warnings: &mut Vec<String>) -> Vec<String> {
    let mut nodes: Vec<String> = cf.map(|c| c.nodes.clone()).unwrap_or_default();
    if nodes.is_empty() {
        for l in lines {
            if !nodes.contains(&l.node) {
                nodes.push(l.node.clone());
            }
        }
        if cf.is_some() {
            warnings.push("ha.cf has no `node` line: the nodes are taken from haresources".into());
        }
        if nodes.len() < 2 {
            warnings.push(format!(
                "only one node is known ({}): give the ha.cf that lists both nodes",
                nodes.join(" ")
            ));
        }
        return nodes;
    }
    for l in lines {
        if !nodes.contains(&l.node) {
            warnings.push(format!(
                "{}: node `{}` is not a `node` of ha.cf; the group prefers a node the cluster does not have",
                l.place, l.node
            ));
        }
    }
    nodes
}

fn drbd_clone(name: &str, opts: &Options, node_count: usize) -> (String, Resource) {
    let id = format!("drbd_{}", sanitize_id(name));
    let clone_id = format!("{id}-clone");
    let max = node_count.clamp(1, 2).to_string();
    let meta = [
        ("promotable", "true"),
        ("promoted-max", "1"),
        ("promoted-node-max", "1"),
        ("clone-max", max.as_str()),
        ("clone-node-max", "1"),
        ("notify", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let child = Primitive {
        id,
        class: Class::Ocf(opts.drbd_provider.clone()),
        kind: "drbd".into(),
        params: vec![("drbd_resource".into(), name.to_string())],
        ops: mapping::drbd_ops(),
        comments: vec![format!(
            "drbddisk::{name} becomes a promotable clone: Pacemaker promotes DRBD on the group's node, then starts the group"
        )],
    };
    (
        clone_id.clone(),
        Resource::Clone {
            id: clone_id,
            meta,
            child,
            comments: Vec::new(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoHost;

    fn conv(hr: &str, hacf: Option<&str>, opts: &Options) -> Conversion {
        let inputs = Inputs {
            haresources: ("haresources", hr),
            hacf: hacf.map(|t| ("ha.cf", t)),
            authkeys: None,
        };
        build(&inputs, opts, &NoHost).unwrap()
    }

    fn ids(c: &Cluster) -> Vec<String> {
        let mut v = Vec::new();
        for r in &c.resources {
            match r {
                Resource::Primitive(p) => v.push(p.id.clone()),
                Resource::Group { id, members, .. } => {
                    v.push(id.clone());
                    v.extend(members.iter().map(|m| m.id.clone()));
                }
                Resource::Clone { id, child, .. } => {
                    v.push(id.clone());
                    v.push(child.id.clone());
                }
            }
        }
        v
    }

    /// The old tool gave two `Xinetd_1` here; ids now count every token.
    #[test]
    fn ids_are_unique_and_follow_the_file() {
        let c = conv(
            "host01 Xinetd::a\nhost02 Xinetd::b Delay::5\n",
            None,
            &Options::default(),
        );
        assert_eq!(
            ids(&c.cluster),
            vec!["group_1", "Xinetd_1", "group_2", "Xinetd_2", "Delay_3"]
        );
    }

    #[test]
    fn drbd_only_line_prefers_the_promoted_role() {
        let c = conv(
            "a drbddisk::r0\nb IPaddr2::10.0.0.1\n",
            Some("node a b\nbcast eth0\nauto_failback on\n"),
            &Options::default(),
        );
        assert!(c.cluster.constraints.contains(&Constraint::Location {
            id: "rsc_location_drbd_r0-clone".into(),
            rsc: "drbd_r0-clone".into(),
            role: Some(Role::Promoted),
            score: "100".into(),
            node: "a".into(),
        }));
        assert_eq!(
            ids(&c.cluster),
            vec!["drbd_r0-clone", "drbd_r0", "group_2", "IPaddr2_2"]
        );
    }

    #[test]
    fn shared_drbd_and_unknown_nodes_are_reported() {
        let c = conv(
            "a drbddisk::r0 IPaddr2::10.0.0.1\nc IPaddr2::10.0.0.2 drbddisk::r0\n",
            Some("node a b\nbcast eth0\nauto_failback on\n"),
            &Options::default(),
        );
        assert!(
            c.warnings.iter().any(|w| w
                .starts_with("haresources:2: DRBD resource r0 also serves a group that prefers a")),
            "{:?}",
            c.warnings
        );
        assert!(
            c.warnings
                .iter()
                .any(|w| w.starts_with("haresources:2: node `c` is not a `node` of ha.cf")),
            "{:?}",
            c.warnings
        );
        let clones = c
            .cluster
            .resources
            .iter()
            .filter(|r| matches!(r, Resource::Clone { .. }))
            .count();
        assert_eq!(clones, 1);
    }

    #[test]
    fn ping_rules_only_where_ipfail_or_pingd_acted() {
        let rules = |c: &Conversion| {
            c.cluster
                .constraints
                .iter()
                .filter(|k| matches!(k, Constraint::ScoreAttribute { .. }))
                .count()
        };
        let base = "node a b\nbcast eth0\nauto_failback on\nping 10.0.0.254\n";
        let c = conv("a IPaddr2::10.0.0.1\n", Some(base), &Options::default());
        assert_eq!(rules(&c), 0);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("neither ipfail nor pingd")),
            "{:?}",
            c.warnings
        );
        let hacf = format!("{base}respawn root /usr/lib/heartbeat/pingd -m 100 -a conn\n");
        let c = conv("a IPaddr2::10.0.0.1\n", Some(&hacf), &Options::default());
        assert!(c.cluster.constraints.contains(&Constraint::ScoreAttribute {
            id: "loc-group_1-conn".into(),
            rsc: "group_1".into(),
            attribute: "conn".into(),
        }));
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("pingd -m 100") && w.contains("1000")),
            "{:?}",
            c.warnings
        );
        let xml = crate::xml::write(&c.cluster);
        assert!(xml.contains(r#"name="multiplier" value="1000""#), "{xml}");
        // auto_failback off with ipfail: finite stickiness while it fits.
        let hacf = "node a b\nbcast eth0\nauto_failback off\nping 10.0.0.254\nrespawn hacluster /usr/lib/heartbeat/ipfail\n";
        let c = conv(
            "a IPaddr2::10.0.0.1 IPaddr2::10.0.0.2\n",
            Some(hacf),
            &Options::default(),
        );
        assert_eq!(
            c.cluster.rsc_defaults,
            vec![("resource-stickiness".to_string(), "200".to_string())]
        );
        let big = "a 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5\n";
        let c = conv(big, Some(hacf), &Options::default());
        assert_eq!(c.cluster.rsc_defaults[0].1, "INFINITY");
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("connectivity cannot move a running group")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn failback_monitors_and_old_schemas() {
        let opts = Options {
            monitor: false,
            schema: "pacemaker-3.6".into(),
            ..Options::default()
        };
        let c = conv(
            "a drbddisk::r0 IPaddr2::10.0.0.1\n",
            Some("node a b\nbcast eth0\nauto_failback off\n"),
            &opts,
        );
        assert_eq!(
            c.cluster.rsc_defaults,
            vec![("resource-stickiness".to_string(), "INFINITY".to_string())]
        );
        assert!(c.cluster.legacy_roles);
        let xml = crate::xml::write(&c.cluster);
        assert!(xml.contains(r#"with-rsc-role="Master""#), "{xml}");
        assert!(!xml.contains(r#"IPaddr2_2-monitor"#), "{xml}");
        assert!(xml.contains(r#"drbd_r0-monitor-interval-29s"#), "{xml}");
        let c = conv("a IPaddr2::10.0.0.1\n", None, &Options::default());
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("only one node is known")),
            "{:?}",
            c.warnings
        );
    }
}
