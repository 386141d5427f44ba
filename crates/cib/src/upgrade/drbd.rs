//! Heartbeat-class drbddisk primitives of an old CIB, which Pacemaker 2
//! cannot run, become promotable clones of a drbd agent.

use super::tree::{nvset, Element, Node};
use super::Ctx;
use crate::model::Role;

/// A heartbeat-class `drbddisk` primitive (which Pacemaker 2 cannot run)
/// becomes a promotable clone of the drbd agent; a group that contained it
/// follows the promoted side. Returns the constraints to add.
pub(super) fn drbddisk_to_clones(
    resources: &mut Element,
    provider: &str,
    legacy_roles: bool,
    ctx: &mut Ctx,
) -> Vec<Element> {
    let is_drbddisk = |e: &Element| {
        e.name == "primitive"
            && e.get("class") == Some("heartbeat")
            && matches!(e.get("type"), Some("drbddisk" | "drbdupper"))
    };
    let drbd_name = |e: &Element| -> Option<String> {
        e.children.iter().find_map(|n| match n {
            Node::Element(set) if set.name == "instance_attributes" => {
                set.children.iter().find_map(|n| match n {
                    Node::Element(nv) if nv.get("name") == Some("1") => {
                        nv.get("value").map(str::to_string)
                    }
                    _ => None,
                })
            }
            _ => None,
        })
    };
    let mut clones: Vec<String> = Vec::new();
    let mut constraints = Vec::new();
    let mut new_children = Vec::new();
    for n in std::mem::take(&mut resources.children) {
        let Node::Element(mut e) = n else {
            new_children.push(n);
            continue;
        };
        let mut found: Vec<(String, String)> = Vec::new();
        if is_drbddisk(&e) {
            found.push((
                e.get("id").unwrap_or_default().into(),
                drbd_name(&e).unwrap_or_else(|| "all".into()),
            ));
        } else if e.name == "group" {
            let mut kept = Vec::new();
            for c in std::mem::take(&mut e.children) {
                match c {
                    Node::Element(p) if is_drbddisk(&p) => found.push((
                        p.get("id").unwrap_or_default().into(),
                        drbd_name(&p).unwrap_or_else(|| "all".into()),
                    )),
                    other => kept.push(other),
                }
            }
            e.children = kept;
        }
        let group = (e.name == "group").then(|| e.get("id").unwrap_or_default().to_string());
        for (old_id, res) in found {
            if res == "all" {
                ctx.warnings.push(format!(
                    "{old_id}: drbddisk for every DRBD resource: make one promotable drbd clone per resource by hand"
                ));
                continue;
            }
            let id = format!("drbd_{}", crate::model::sanitize_id(&res));
            let clone_id = format!("{id}-clone");
            ctx.drbd_moved.push((old_id.clone(), clone_id.clone()));
            ctx.warnings.push(format!(
                "{old_id}: heartbeat-class drbddisk {res} became the promotable clone {clone_id} (ocf:{provider}:drbd); the group now starts after the promotion"
            ));
            if !clones.contains(&clone_id) {
                clones.push(clone_id.clone());
                let meta = [
                    ("promotable", "true"),
                    ("promoted-max", "1"),
                    ("promoted-node-max", "1"),
                    ("clone-max", "2"),
                    ("clone-node-max", "1"),
                    ("notify", "true"),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string()));
                let mut prim = Element::new(
                    "primitive",
                    vec![
                        ("id".into(), id.clone()),
                        ("class".into(), "ocf".into()),
                        ("provider".into(), provider.into()),
                        ("type".into(), "drbd".into()),
                    ],
                );
                prim.children.push(Node::Element(nvset(
                    "instance_attributes",
                    &format!("{id}-instance_attributes"),
                    &[("drbd_resource".into(), res.clone())],
                )));
                let mut ops = Element::new("operations", vec![]);
                for (name, interval, timeout, role) in [
                    ("monitor", "29s", "20s", Some(Role::Promoted)),
                    ("monitor", "31s", "20s", Some(Role::Unpromoted)),
                    ("start", "0s", "240s", None),
                    ("promote", "0s", "90s", None),
                    ("demote", "0s", "90s", None),
                    ("notify", "0s", "90s", None),
                    ("stop", "0s", "100s", None),
                ] {
                    let mut a = vec![
                        ("id".to_string(), format!("{id}-{name}-interval-{interval}")),
                        ("name".to_string(), name.to_string()),
                        ("interval".to_string(), interval.to_string()),
                    ];
                    if let Some(r) = role {
                        a.push(("role".into(), r.name(legacy_roles).into()));
                    }
                    a.push(("timeout".into(), timeout.into()));
                    ops.children.push(Node::Element(Element::new("op", a)));
                }
                prim.children.push(Node::Element(ops));
                let mut clone = Element::new("clone", vec![("id".into(), clone_id.clone())]);
                clone.children.push(Node::Element(nvset(
                    "meta_attributes",
                    &format!("{clone_id}-meta_attributes"),
                    &meta,
                )));
                clone.children.push(Node::Element(prim));
                new_children.push(Node::Element(clone));
            }
            if let Some(g) = &group {
                constraints.push(Element::new(
                    "rsc_colocation",
                    vec![
                        ("id".into(), format!("colocation-{g}-{clone_id}-INFINITY")),
                        ("rsc".into(), g.clone()),
                        ("with-rsc".into(), clone_id.clone()),
                        (
                            "with-rsc-role".into(),
                            Role::Promoted.name(legacy_roles).into(),
                        ),
                        ("score".into(), "INFINITY".into()),
                    ],
                ));
                constraints.push(Element::new(
                    "rsc_order",
                    vec![
                        ("id".into(), format!("order-{clone_id}-{g}-mandatory")),
                        ("first".into(), clone_id.clone()),
                        ("first-action".into(), "promote".into()),
                        ("then".into(), g.clone()),
                        ("then-action".into(), "start".into()),
                        ("kind".into(), "Mandatory".into()),
                    ],
                ));
            }
        }
        new_children.push(Node::Element(e));
    }
    resources.children = new_children;
    constraints
}
