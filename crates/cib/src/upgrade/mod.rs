//! `--upgrade-cib`: a Heartbeat 2.x cib.xml rewritten for current Pacemaker.
//!
//! Heartbeat 2's CRM wrote the pre-1.0 syntax: nvpairs wrapped in
//! `<attributes>`, underscores in option names, `rsc_order from/to/type`,
//! `rsc_colocation from/to`, `master_slave`, clone options as instance
//! attributes. Pacemaker 2 dropped the XSL that upgraded it (and `cibadmin
//! --upgrade` now silently sets `validate-with="none"`), so this module does
//! the rewrite on a small element tree and reports what it could not keep.

mod agents;
mod drbd;
mod normalize;
mod tree;

use quick_xml::events::{BytesDecl, Event};
use quick_xml::Writer;

use crate::error::Error;
use tree::{bad, nvset, parse, write_element, Element, Node};

/// Removed or moved cluster options of the pre-1.0 CRM: where they go.
enum Fate {
    RscDefault(&'static str),
    OpDefault(&'static str),
    Drop,
}

fn property_fate(name: &str) -> Option<Fate> {
    Some(match name {
        "default-resource-stickiness" => Fate::RscDefault("resource-stickiness"),
        "is-managed-default" => Fate::RscDefault("is-managed"),
        "default-action-timeout" => Fate::OpDefault("timeout"),
        "default-resource-failure-stickiness"
        | "transition-idle-timeout"
        | "short-resource-names"
        | "stop-orphan-actions"
        | "remove-after-stop"
        | "suppress_cib_writes"
        | "pe-error-series-max-ignored" => Fate::Drop,
        _ => return None,
    })
}

/// Clone and master options: old instance attribute name → meta name.
fn clone_option(name: &str) -> Option<&'static str> {
    Some(match name.replace('_', "-").as_str() {
        "clone-max" => "clone-max",
        "clone-node-max" => "clone-node-max",
        "master-max" => "promoted-max",
        "master-node-max" => "promoted-node-max",
        "notify" => "notify",
        "globally-unique" => "globally-unique",
        "interleave" => "interleave",
        "ordered" => "ordered",
        _ => return None,
    })
}

/// Per-resource options that became meta attributes.
fn meta_option(name: &str) -> Option<&'static str> {
    Some(match name.replace('_', "-").as_str() {
        "target-role" => "target-role",
        "is-managed" => "is-managed",
        "resource-stickiness" => "resource-stickiness",
        "resource-failure-stickiness" => "migration-threshold",
        "multiple-active" => "multiple-active",
        "restart-type" => "restart-type",
        "priority" => "priority",
        _ => return None,
    })
}

pub(super) struct Ctx {
    pub(super) warnings: Vec<String>,
    /// drbddisk primitive ids and the clone that replaced each.
    pub(super) drbd_moved: Vec<(String, String)>,
    rsc_defaults: Vec<(String, String)>,
    op_defaults: Vec<(String, String)>,
}

/// Lifts nvpairs out of `<attributes>` wrappers, recursively.
fn unwrap_attributes(e: &mut Element) {
    let mut out = Vec::new();
    for n in std::mem::take(&mut e.children) {
        match n {
            Node::Element(mut c) if c.name == "attributes" => {
                unwrap_attributes(&mut c);
                out.extend(c.children);
            }
            Node::Element(mut c) => {
                unwrap_attributes(&mut c);
                out.push(Node::Element(c));
            }
            other => out.push(other),
        }
    }
    e.children = out;
}

fn fix_crm_config(cfg: &mut Element, ctx: &mut Ctx) {
    for set in cfg.elements_mut() {
        let mut kept = Vec::new();
        for n in std::mem::take(&mut set.children) {
            let Node::Element(mut nv) = n else {
                kept.push(n);
                continue;
            };
            let name = nv.get("name").unwrap_or_default().replace('_', "-");
            let value = nv.get("value").unwrap_or_default().to_string();
            match property_fate(&name) {
                Some(Fate::RscDefault(to)) => ctx.rsc_defaults.push((to.into(), value)),
                Some(Fate::OpDefault(to)) => ctx.op_defaults.push((to.into(), value)),
                Some(Fate::Drop) => ctx.warnings.push(format!(
                    "cluster option {name}={value} no longer exists; dropped"
                )),
                None => {
                    nv.set("name", &name);
                    kept.push(Node::Element(nv));
                }
            }
        }
        set.children = kept;
    }
}

/// What fix_resource needs to know besides the element.
struct Env<'a> {
    file: &'a str,
    drbd_provider: &'a str,
    legacy_roles: bool,
    op_default: u64,
}

fn fix_resource(e: &mut Element, env: &Env, ctx: &mut Ctx) -> Result<(), Error> {
    let id = e.get("id").unwrap_or_default().to_string();
    let mut meta: Vec<(String, String)> = Vec::new();
    match e.name.as_str() {
        "primitive" => {
            if e.get("class") == Some("heartbeat") {
                let t = e.get("type").unwrap_or_default().to_string();
                ctx.warnings.push(format!(
                    "{id}: class heartbeat ({t}) cannot run in Pacemaker 2; changed to lsb:{t} and its positional parameters dropped. For drbddisk, use a promotable ocf drbd clone instead"
                ));
                e.set("class", "lsb");
                e.children
                    .retain(|n| !matches!(n, Node::Element(c) if c.name == "instance_attributes"));
            }
            if e.get("class") != Some("ocf") {
                e.take("provider");
            }
            agents::fix_primitive(
                env.file,
                e,
                env.drbd_provider,
                env.legacy_roles,
                env.op_default,
                ctx,
            )?;
        }
        "master_slave" | "master" => {
            e.name = "clone".into();
            meta.push(("promotable".into(), "true".into()));
        }
        "group" => {
            for k in ["ordered", "collocated"] {
                if let Some(v) = e.take(k) {
                    if crate::hacf::boolean(&v) == Some(false) {
                        ctx.warnings.push(format!(
                            "{id}: {k}=\"{v}\" dropped: a Pacemaker group always starts its members in order on one node; make them separate resources with constraints if they must not be"
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    let is_clone = e.name == "clone";
    for k in [
        "resource_stickiness",
        "is_managed",
        "target_role",
        "multiple_active",
        "restart_type",
        "priority",
    ] {
        if let Some(v) = e.take(k) {
            let v = match k {
                "target_role" => normalize::role(&v, env.legacy_roles)
                    .map(str::to_string)
                    .unwrap_or(v),
                _ => v,
            };
            meta.push((meta_option(k).unwrap_or(k).to_string(), v));
        }
    }
    e.attrs.retain(|(k, _)| {
        matches!(
            k.as_str(),
            "id" | "class" | "provider" | "type" | "description"
        )
    });
    let rename = |name: &str| {
        if is_clone {
            clone_option(name).or(meta_option(name))
        } else {
            meta_option(name)
        }
    };
    // Options that were instance attributes of clones and resources move to meta.
    let mut n_sets = 0;
    for set in e.elements_mut().filter(|c| c.name == "instance_attributes") {
        n_sets += 1;
        if set.get("id").is_none() {
            set.set("id", &format!("{id}-instance_attributes-{n_sets}"));
        }
        set.children.retain(|n| {
            let Node::Element(nv) = n else { return true };
            match rename(nv.get("name").unwrap_or_default()) {
                Some(to) => {
                    meta.push((to.into(), nv.get("value").unwrap_or_default().into()));
                    false
                }
                None => true,
            }
        });
    }
    e.children.retain(|n| !matches!(n, Node::Element(c) if c.name == "instance_attributes" && c.children.is_empty()));
    // Meta attributes spelled the pre-1.0 way (clone_max, master_max...).
    let mut respelled = Vec::new();
    for set in e.elements_mut().filter(|c| c.name == "meta_attributes") {
        for nv in set.elements_mut().filter(|c| c.name == "nvpair") {
            let old = nv.get("name").unwrap_or_default().to_string();
            if let Some(to) = rename(&old) {
                if to != old {
                    respelled.push(format!("{old} -> {to}"));
                    nv.set("name", to);
                }
            }
        }
    }
    if !respelled.is_empty() {
        ctx.warnings.push(format!(
            "{id}: meta attributes renamed, as Pacemaker ignores the old spellings: {}",
            respelled.join(", ")
        ));
    }
    let mut drbd_child = false;
    for c in e.elements_mut() {
        match c.name.as_str() {
            "operations" => {
                for op in c.elements_mut() {
                    op.take("prereq");
                    if op.get("interval").is_none() {
                        op.set("interval", "0s");
                    }
                }
            }
            "primitive" | "group" | "clone" | "master_slave" | "master" => {
                drbd_child |= c.name == "primitive" && c.get("type") == Some("drbd");
                fix_resource(c, env, ctx)?;
            }
            _ => {}
        }
    }
    if is_clone && drbd_child {
        // The drbd agents act on pre/post notifications; without them a
        // promotion never learns the peer's state.
        let notify = normalize::params(e, "meta_attributes")
            .into_iter()
            .chain(meta.iter().cloned())
            .rfind(|(k, _)| k == "notify")
            .map(|(_, v)| v);
        if notify.as_deref().and_then(crate::hacf::boolean) != Some(true) {
            ctx.warnings.push(format!(
                "{id}: notify={} on a drbd clone; set to true, which the drbd agent needs",
                notify.as_deref().unwrap_or("(unset)")
            ));
            for set in e.elements_mut().filter(|c| c.name == "meta_attributes") {
                set.children.retain(
                    |n| !matches!(n, Node::Element(nv) if nv.get("name") == Some("notify")),
                );
            }
            meta.retain(|(k, _)| k != "notify");
            meta.push(("notify".into(), "true".into()));
        }
    }
    if !meta.is_empty() {
        let existing = e.child_mut("meta_attributes");
        match existing {
            Some(m) => {
                let mid = m.get("id").unwrap_or_default().to_string();
                let have: Vec<String> = m
                    .elements_mut()
                    .filter_map(|nv| nv.get("name").map(str::to_string))
                    .collect();
                meta.retain(|(k, _)| !have.contains(k));
                let extra = nvset("x", &mid, &meta);
                m.children.extend(extra.children);
            }
            None => e.children.insert(
                0,
                Node::Element(nvset(
                    "meta_attributes",
                    &format!("{id}-meta_attributes"),
                    &meta,
                )),
            ),
        }
    }
    Ok(())
}

fn fix_constraint(c: &mut Element, ctx: &mut Ctx) {
    match c.name.as_str() {
        "rsc_order" if c.get("from").is_some() => {
            let from = c.take("from").unwrap_or_default();
            let to = c.take("to").unwrap_or_default();
            let kind = c.take("type").unwrap_or_else(|| "after".into());
            let action = c.take("action").unwrap_or_else(|| "start".into());
            let to_action = c.take("to_action").unwrap_or_else(|| action.clone());
            // `from` type="after" `to`: from starts after to.
            let ((first, fa), (then, ta)) = if kind == "before" {
                ((from, action), (to, to_action))
            } else {
                ((to, to_action), (from, action))
            };
            let score = c.take("score");
            c.set("first", &first);
            c.set("first-action", &fa);
            c.set("then", &then);
            c.set("then-action", &ta);
            let optional = score.as_deref().is_some_and(|s| s == "0");
            c.set("kind", if optional { "Optional" } else { "Mandatory" });
        }
        "rsc_colocation" if c.get("from").is_some() => {
            let from = c.take("from").unwrap_or_default();
            let to = c.take("to").unwrap_or_default();
            c.set("rsc", &from);
            c.set("with-rsc", &to);
            if let Some(r) = c.take("from_role") {
                c.set("rsc-role", &r);
            }
            if let Some(r) = c.take("to_role") {
                c.set("with-rsc-role", &r);
            }
        }
        "rsc_location" => {
            for rule in c.elements_mut() {
                if let Some(v) = rule.take("score_attribute") {
                    rule.set("score-attribute", &v);
                }
                if let Some(v) = rule.take("boolean_op") {
                    rule.set("boolean-op", &v);
                }
            }
        }
        other => ctx
            .warnings
            .push(format!("constraint <{other}> kept as it is; check it")),
    }
}

/// Rewrites an old cib.xml; returns the new XML and what the user must know.
pub fn upgrade(
    file: &str,
    text: &str,
    schema: &str,
    drbd_provider: &str,
) -> Result<(String, Vec<String>), Error> {
    let mut root = parse(file, text)?;
    unwrap_attributes(&mut root);
    let mut ctx = Ctx {
        warnings: Vec::new(),
        drbd_moved: Vec::new(),
        rsc_defaults: Vec::new(),
        op_defaults: Vec::new(),
    };
    // Promoted/Unpromoted exist from schema 3.7 on.
    let legacy_roles = schema
        .strip_prefix("pacemaker-3.")
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m < 7);
    let keep = ["epoch", "num_updates", "admin_epoch"];
    root.attrs.retain(|(k, _)| keep.contains(&k.as_str()));
    root.attrs
        .insert(0, ("validate-with".into(), schema.into()));
    root.children
        .retain(|n| !matches!(n, Node::Element(e) if e.name == "status"));
    root.children
        .push(Node::Element(Element::new("status", vec![])));
    normalize::ids(&mut root, &mut ctx);
    normalize::values(file, &mut root, legacy_roles, &mut ctx)?;
    let Some(conf) = root.child_mut("configuration") else {
        return Err(bad(file, "no <configuration> element".into()));
    };
    let mut node_no = 0;
    let mut drbd_constraints = Vec::new();
    for sect in conf.elements_mut() {
        match sect.name.as_str() {
            "crm_config" => fix_crm_config(sect, &mut ctx),
            "nodes" => {
                for n in sect.elements_mut() {
                    node_no += 1;
                    n.set("id", &node_no.to_string());
                    if n.get("type").is_some_and(|t| t == "normal") {
                        n.set("type", "member");
                    }
                }
            }
            "resources" => {
                drbd_constraints =
                    drbd::drbddisk_to_clones(sect, drbd_provider, legacy_roles, &mut ctx);
                let op_default = ctx
                    .op_defaults
                    .iter()
                    .find(|(k, _)| k == "timeout")
                    .and_then(|(_, v)| agents::seconds(v))
                    .unwrap_or(crate::mapping::DEFAULT_TIMEOUT.into());
                let env = Env {
                    file,
                    drbd_provider,
                    legacy_roles,
                    op_default,
                };
                for r in sect.elements_mut() {
                    fix_resource(r, &env, &mut ctx)?;
                }
            }
            "constraints" => {
                for c in sect.elements_mut() {
                    fix_constraint(c, &mut ctx);
                }
            }
            _ => {}
        }
    }
    // Constraints that named a drbddisk primitive now name its clone.
    let moved: Vec<(String, String)> = ctx.drbd_moved.clone();
    if !moved.is_empty() {
        if let Some(c) = conf.child_mut("constraints") {
            for k in c.elements_mut() {
                let kid = k.get("id").unwrap_or_default().to_string();
                for attr in ["rsc", "with-rsc", "first", "then"] {
                    let Some(v) = k.get(attr).map(str::to_string) else {
                        continue;
                    };
                    if let Some((_, clone)) = moved.iter().find(|(old, _)| *old == v) {
                        k.set(attr, clone);
                        ctx.warnings.push(format!(
                            "{kid}: it named the drbddisk primitive {v}, now the promotable clone {clone}; check that it means the promoted role (add the role if so)"
                        ));
                    }
                }
            }
        }
    }
    if !drbd_constraints.is_empty() {
        if conf.child_mut("constraints").is_none() {
            conf.children
                .push(Node::Element(Element::new("constraints", vec![])));
        }
        if let Some(c) = conf.child_mut("constraints") {
            c.children
                .extend(drbd_constraints.into_iter().map(Node::Element));
        }
    }
    if node_no > 0 {
        ctx.warnings.push("node ids were Heartbeat UUIDs; they are now 1, 2... in file order and must equal the corosync.conf nodeids".into());
    }
    for (section, id, pairs) in [
        ("rsc_defaults", "rsc-options", &ctx.rsc_defaults),
        ("op_defaults", "op-options", &ctx.op_defaults),
    ] {
        if pairs.is_empty() {
            continue;
        }
        conf.children
            .retain(|n| !matches!(n, Node::Element(e) if e.name == section));
        let mut s = Element::new(section, vec![]);
        s.children
            .push(Node::Element(nvset("meta_attributes", id, pairs)));
        conf.children.push(Node::Element(s));
    }
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // No encoding in the declaration: crmsh's `configure load xml` refuses
    // one (and UTF-8 is XML's default anyway).
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", None, None)));
    write_element(&mut w, &root);
    let mut s = String::from_utf8_lossy(&w.into_inner()).into_owned();
    s.push('\n');
    Ok((s, ctx.warnings))
}

/// The corosync.conf of an upgraded cluster: ha.cf's nodes, media and
/// timers (and authkeys' method), as a haresources conversion makes it.
/// The nodes are ha.cf's `node` lines, else the old CIB's nodes. Returns
/// the file and what the user must know.
pub fn corosync(
    hacf: (&str, &str),
    authkeys: Option<(&str, &str)>,
    old_cib: (&str, &str),
) -> Result<(String, Vec<String>), Error> {
    let cf = crate::hacf::parse(hacf.0, hacf.1)?;
    let auth = match authkeys {
        Some((name, text)) => Some(crate::authkeys::parse(name, text)?),
        None => None,
    };
    let root = parse(old_cib.0, old_cib.1)?;
    let mut cib_nodes: Vec<String> = Vec::new();
    for n in &root.children {
        let Node::Element(conf) = n else { continue };
        for sect in conf.children.iter().filter_map(|c| match c {
            Node::Element(e) if e.name == "nodes" => Some(e),
            _ => None,
        }) {
            for node in sect.children.iter().filter_map(|c| match c {
                Node::Element(e) => e.get("uname"),
                _ => None,
            }) {
                cib_nodes.push(node.to_lowercase());
            }
        }
    }
    // With the CRM, failback was the CIB's stickiness, not auto_failback.
    let mut warnings: Vec<String> = cf
        .warnings
        .iter()
        .filter(|w| !(cf.crm && w.contains("no auto_failback line")))
        .cloned()
        .collect();
    let nodes = if cf.nodes.is_empty() {
        cib_nodes.clone()
    } else {
        cf.nodes.clone()
    };
    if nodes.is_empty() {
        return Err(Error::Empty {
            file: hacf.0.into(),
            what: "no `node` line, and the old cib.xml lists no node".into(),
            fix: "add the `node` lines Heartbeat used (ha.cf's node NAME...)".into(),
        });
    }
    if !cib_nodes.is_empty() && cib_nodes != nodes {
        warnings.push(format!(
            "{}: the nodes ({}) differ from the old cib.xml's ({}); corosync.conf uses ha.cf's, in its order, and the CIB's node ids 1, 2... follow the cib.xml's order: make them agree",
            hacf.0,
            nodes.join(" "),
            cib_nodes.join(" ")
        ));
    }
    if let Some(dev) = &cf.watchdog {
        warnings.push(format!(
            "watchdog {dev}: Heartbeat let the watchdog reboot a hung node; in Pacemaker use sbd with this device (stonith-watchdog-timeout); not configured here"
        ));
    }
    for (user, args) in &cf.respawn {
        let program = args
            .first()
            .map(|p| p.rsplit('/').next().unwrap_or(p))
            .unwrap_or_default();
        warnings.push(match program {
            "pingd" | "ipfail" => format!(
                "respawn {program}: connectivity is the CIB's business now: an ocf:pacemaker:ping clone and a location rule with score-attribute (the upgrade turns an ocf:heartbeat:pingd clone into one)"
            ),
            "dopd" => "respawn dopd: use DRBD's `fencing resource-only;` with the crm-fence-peer.9.sh handlers instead".into(),
            other => format!(
                "respawn {user} {other}: Pacemaker does not respawn programs; run it as a systemd unit or an ocf:heartbeat:anything clone"
            ),
        });
    }
    if !cf.crm {
        warnings.push(format!(
            "{}: no `crm on` line: was this the ha.cf of the cluster that wrote the cib.xml?",
            hacf.0
        ));
    }
    let corosync = crate::totem::corosync(Some(&cf), &nodes, auth, &mut warnings);
    let cluster = crate::model::Cluster {
        name: cf.cluster.clone().unwrap_or_else(|| "hacluster".into()),
        schema: String::new(),
        legacy_roles: false,
        nodes,
        properties: Vec::new(),
        rsc_defaults: Vec::new(),
        op_defaults: Vec::new(),
        resources: Vec::new(),
        constraints: Vec::new(),
        comments: Vec::new(),
        corosync,
    };
    Ok((crate::corosync::write(&cluster), warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_1_0_syntax_is_rewritten() {
        let old = r#"<cib admin_epoch="0" epoch="3" num_updates="1" have_quorum="true">
 <configuration>
  <crm_config><cluster_property_set id="cib-bootstrap-options"><attributes>
   <nvpair id="o1" name="default-resource-stickiness" value="0"/>
   <nvpair id="o2" name="stonith_enabled" value="false"/>
   <nvpair id="o3" name="transition-idle-timeout" value="5min"/>
  </attributes></cluster_property_set></crm_config>
  <nodes><node id="3b1e-uuid" uname="host01" type="normal"/></nodes>
  <resources>
   <primitive class="lsb" id="httpd_4" provider="heartbeat" type="httpd"/>
  </resources>
  <constraints>
   <rsc_order id="o" from="a" type="after" to="b"/>
   <rsc_colocation id="c" from="a" to="b" score="INFINITY"/>
  </constraints>
 </configuration>
 <status><node_state id="x"/></status>
</cib>"#;
        let (xml, warnings) = upgrade("old.xml", old, "pacemaker-3.9", "shimai").unwrap();
        assert!(
            xml.contains(r#"<cib validate-with="pacemaker-3.9" admin_epoch="0" epoch="3""#),
            "{xml}"
        );
        assert!(!xml.contains("<attributes>"), "{xml}");
        assert!(xml.contains(r#"name="stonith-enabled""#), "{xml}");
        assert!(
            xml.contains(r#"<primitive class="lsb" id="httpd_4" type="httpd">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"first="b" first-action="start" then="a""#),
            "{xml}"
        );
        assert!(xml.contains(r#"rsc="a" with-rsc="b""#), "{xml}");
        assert!(
            xml.contains(r#"name="resource-stickiness" value="0""#),
            "{xml}"
        );
        assert!(xml.contains("<status/>"), "{xml}");
        assert!(warnings
            .iter()
            .any(|w| w.contains("transition-idle-timeout")));
    }

    fn wrap(resources: &str, constraints: &str) -> String {
        format!(
            "<cib><configuration><crm_config/><nodes/><resources>{resources}</resources><constraints>{constraints}</constraints></configuration></cib>"
        )
    }

    #[test]
    fn drbd_guide_spellings_are_brought_up_to_date() {
        let old = wrap(
            r#"<master_slave id="ms-drbd0"><meta_attributes id="m"><attributes>
               <nvpair id="m1" name="clone_max" value="2"/><nvpair id="m2" name="master_max" value="1"/>
               <nvpair id="m3" name="notify" value="no"/></attributes></meta_attributes>
               <primitive id="drbd0" class="ocf" provider="heartbeat" type="drbd"/></master_slave>
               <primitive id="fs0" class="ocf" provider="heartbeat" type="Filesystem"/>"#,
            r#"<rsc_colocation id="c" from="fs0" to="ms-drbd0" to_role="master" score="infinity"/>"#,
        );
        let (xml, warnings) = upgrade("old.xml", &old, "pacemaker-3.9", "linbit").unwrap();
        for want in [
            r#"name="clone-max" value="2""#,
            r#"name="promoted-max" value="1""#,
            r#"name="notify" value="true""#,
            r#"provider="linbit" type="drbd""#,
            r#"with-rsc-role="Promoted""#,
            r#"score="INFINITY""#,
            r#"name="start" interval="0s" timeout="240s""#,
        ] {
            assert!(xml.contains(want), "{want} missing:\n{xml}");
        }
        assert!(
            !xml.contains("clone_max") && !xml.contains("infinity"),
            "{xml}"
        );
        assert!(
            warnings.iter().any(|w| w.contains("notify=no")),
            "{warnings:?}"
        );
        let (xml, _) = upgrade("old.xml", &old, "pacemaker-3.6", "linbit").unwrap();
        assert!(xml.contains(r#"with-rsc-role="Master""#), "{xml}");
    }

    #[test]
    fn netmask_and_nic_are_swapped_back_or_refused() {
        let ip = |mask: &str, nic: &str| {
            wrap(
                &format!(
                    r#"<primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes id="a"><attributes>
                   <nvpair id="a0" name="ip" value="10.0.0.1"/><nvpair id="a1" name="cidr_netmask" value="{mask}"/>
                   <nvpair id="a2" name="nic" value="{nic}"/></attributes></instance_attributes></primitive>"#
                ),
                "",
            )
        };
        let (xml, warnings) = upgrade("o", &ip("eth0", "24"), "pacemaker-3.9", "shimai").unwrap();
        assert!(
            xml.contains(r#"name="cidr_netmask" value="24""#)
                && xml.contains(r#"name="nic" value="eth0""#),
            "{xml}"
        );
        assert!(warnings.iter().any(|w| w.contains("swap")), "{warnings:?}");
        let e = upgrade("o", &ip("eth0", "eth1"), "pacemaker-3.9", "shimai").unwrap_err();
        assert!(
            e.to_string().contains("cidr_netmask=\"eth0\" is neither"),
            "{e}"
        );
        let e = upgrade("o", &ip("24", "16"), "pacemaker-3.9", "shimai").unwrap_err();
        assert!(e.to_string().contains("nic=\"16\" is a number"), "{e}");
        let (xml, _) =
            upgrade("o", &ip("255.255.255.0", "eth0"), "pacemaker-3.9", "shimai").unwrap();
        assert!(xml.contains(r#"value="255.255.255.0""#), "{xml}");
    }

    #[test]
    fn unreadable_scores_and_roles_are_refused() {
        let e = upgrade(
            "o",
            &wrap(
                "",
                r#"<rsc_colocation id="c" from="a" to="b" score="lots"/>"#,
            ),
            "pacemaker-3.9",
            "shimai",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("o: <rsc_colocation id=\"c\"> has score=\"lots\""),
            "{e}"
        );
        let e = upgrade(
            "o",
            &wrap(
                "",
                r#"<rsc_colocation id="c" from="a" to="b" to_role="boss" score="1"/>"#,
            ),
            "pacemaker-3.9",
            "shimai",
        )
        .unwrap_err();
        assert!(e.to_string().contains("which is no role"), "{e}");
    }

    #[test]
    fn ids_become_valid_and_unique() {
        let old = wrap(
            r#"<primitive id="r:1" class="ocf" provider="heartbeat" type="Dummy"><operations><op id="1" name="monitor" interval="10s"/></operations>
               <instance_attributes><attributes><nvpair name="state" value="x"/></attributes></instance_attributes></primitive>"#,
            r##"<rsc_location id="l:1" rsc="r:1"><rule id="l:1:r" score="100"><expression attribute="#uname" operation="eq" value="a"/></rule></rsc_location>"##,
        );
        let (xml, warnings) = upgrade("o", &old, "pacemaker-3.9", "shimai").unwrap();
        assert!(
            xml.contains(r#"<rsc_location id="l_1" rsc="r_1">"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<op id="_1""#), "{xml}");
        assert!(
            xml.contains(r#"id="r_1-instance_attributes-state""#),
            "{xml}"
        );
        assert!(
            warnings.iter().any(|w| w.contains("r:1 -> r_1")),
            "{warnings:?}"
        );
    }

    #[test]
    fn constraints_on_drbddisk_follow_its_clone_and_loose_groups_are_reported() {
        let old = wrap(
            r#"<group id="g" collocated="false"><primitive class="heartbeat" id="dd" type="drbddisk"><instance_attributes id="i"><attributes><nvpair id="n" name="1" value="r0"/></attributes></instance_attributes></primitive>
               <primitive id="fs" class="ocf" provider="heartbeat" type="Filesystem"/></group>
               <primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"/>"#,
            r#"<rsc_colocation id="c" from="ip" to="dd" score="INFINITY"/><rsc_order id="o" from="ip" to="dd"/>"#,
        );
        let (xml, warnings) = upgrade("o", &old, "pacemaker-3.9", "shimai").unwrap();
        assert!(xml.contains(r#"with-rsc="drbd_r0-clone""#), "{xml}");
        assert!(xml.contains(r#"first="drbd_r0-clone""#), "{xml}");
        assert!(!xml.contains(r#""dd""#), "{xml}");
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("c: it named the drbddisk primitive dd")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("collocated=\"false\" dropped")),
            "{warnings:?}"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(upgrade("f", "<cib><x></cib>", "pacemaker-3.9", "shimai").is_err());
        assert!(upgrade("f", "<notcib/>", "pacemaker-3.9", "shimai").is_err());
        assert!(upgrade("f", "", "pacemaker-3.9", "shimai").is_err());
        assert!(upgrade("f", "<cib/>", "pacemaker-3.9", "shimai").is_err());
    }
}
