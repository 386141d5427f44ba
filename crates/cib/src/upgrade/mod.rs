//! `--upgrade-cib`: a Heartbeat 2.x cib.xml rewritten for current Pacemaker.
//!
//! Heartbeat 2's CRM wrote the pre-1.0 syntax: nvpairs wrapped in
//! `<attributes>`, underscores in option names, `rsc_order from/to/type`,
//! `rsc_colocation from/to`, `master_slave`, clone options as instance
//! attributes. Pacemaker 2 dropped the XSL that upgraded it (and `cibadmin
//! --upgrade` now silently sets `validate-with="none"`), so this module does
//! the rewrite on a small element tree and reports what it could not keep.

mod drbd;
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

fn fix_resource(e: &mut Element, ctx: &mut Ctx) {
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
        }
        "master_slave" => {
            e.name = "clone".into();
            meta.push(("promotable".into(), "true".into()));
        }
        "group" => {
            e.take("ordered");
            e.take("collocated");
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
            meta.push((meta_option(k).unwrap_or(k).to_string(), v));
        }
    }
    e.attrs.retain(|(k, _)| {
        matches!(
            k.as_str(),
            "id" | "class" | "provider" | "type" | "description"
        )
    });
    // Options that were instance attributes of clones and resources move to meta.
    let mut n_sets = 0;
    for set in e.elements_mut().filter(|c| c.name == "instance_attributes") {
        n_sets += 1;
        if set.get("id").is_none() {
            set.set("id", &format!("{id}-instance_attributes-{n_sets}"));
        }
        set.children.retain(|n| {
            let Node::Element(nv) = n else { return true };
            let name = nv.get("name").unwrap_or_default();
            let to = if is_clone {
                clone_option(name).or(meta_option(name))
            } else {
                meta_option(name)
            };
            match to {
                Some(to) => {
                    meta.push((to.into(), nv.get("value").unwrap_or_default().into()));
                    false
                }
                None => true,
            }
        });
    }
    e.children.retain(|n| !matches!(n, Node::Element(c) if c.name == "instance_attributes" && c.children.is_empty()));
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
            "primitive" | "group" | "clone" | "master_slave" => fix_resource(c, ctx),
            _ => {}
        }
    }
    if !meta.is_empty() {
        let existing = e.child_mut("meta_attributes");
        match existing {
            Some(m) => {
                let mid = m.get("id").unwrap_or_default().to_string();
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
        rsc_defaults: Vec::new(),
        op_defaults: Vec::new(),
    };
    let keep = ["epoch", "num_updates", "admin_epoch"];
    root.attrs.retain(|(k, _)| keep.contains(&k.as_str()));
    root.attrs
        .insert(0, ("validate-with".into(), schema.into()));
    root.children
        .retain(|n| !matches!(n, Node::Element(e) if e.name == "status"));
    root.children
        .push(Node::Element(Element::new("status", vec![])));
    let Some(conf) = root.child_mut("configuration") else {
        return Err(bad(file, "no <configuration> element".into()));
    };
    let mut node_no = 0;
    let mut drbd_constraints = Vec::new();
    // Promoted/Unpromoted exist from schema 3.7 on.
    let legacy_roles = schema
        .strip_prefix("pacemaker-3.")
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m < 7);
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
                for r in sect.elements_mut() {
                    fix_resource(r, &mut ctx);
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
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    write_element(&mut w, &root);
    let mut s = String::from_utf8_lossy(&w.into_inner()).into_owned();
    s.push('\n');
    Ok((s, ctx.warnings))
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
            xml.contains(r#"<primitive class="lsb" id="httpd_4" type="httpd"/>"#),
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

    #[test]
    fn garbage_is_an_error() {
        assert!(upgrade("f", "<cib><x></cib>", "pacemaker-3.9", "shimai").is_err());
        assert!(upgrade("f", "<notcib/>", "pacemaker-3.9", "shimai").is_err());
        assert!(upgrade("f", "", "pacemaker-3.9", "shimai").is_err());
        assert!(upgrade("f", "<cib/>", "pacemaker-3.9", "shimai").is_err());
    }
}
