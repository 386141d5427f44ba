//! `--upgrade-cib`: a Heartbeat 2.x cib.xml rewritten for current Pacemaker.
//!
//! Heartbeat 2's CRM wrote the pre-1.0 syntax: nvpairs wrapped in
//! `<attributes>`, underscores in option names, `rsc_order from/to/type`,
//! `rsc_colocation from/to`, `master_slave`, clone options as instance
//! attributes. Pacemaker 2 dropped the XSL that upgraded it (and `cibadmin
//! --upgrade` now silently sets `validate-with="none"`), so this module does
//! the rewrite on a small element tree and reports what it could not keep.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use crate::error::Error;

#[derive(Debug, Clone)]
enum Node {
    Element(Element),
    Comment(String),
}

#[derive(Debug, Clone)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Element {
    fn new(name: &str, attrs: Vec<(String, String)>) -> Element {
        Element {
            name: name.into(),
            attrs,
            children: Vec::new(),
        }
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
    fn take(&mut self, k: &str) -> Option<String> {
        let i = self.attrs.iter().position(|(a, _)| a == k)?;
        Some(self.attrs.remove(i).1)
    }
    fn set(&mut self, k: &str, v: &str) {
        match self.attrs.iter_mut().find(|(a, _)| a == k) {
            Some(slot) => slot.1 = v.into(),
            None => self.attrs.push((k.into(), v.into())),
        }
    }
    fn elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Comment(_) => None,
        })
    }
    fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.elements_mut().find(|e| e.name == name)
    }
}

fn bad(file: &str, what: String) -> Error {
    Error::OldCib {
        file: file.into(),
        what,
        fix: "give the cib.xml written by Heartbeat 2's CRM (/var/lib/heartbeat/crm/cib.xml)"
            .into(),
    }
}

fn parse(file: &str, text: &str) -> Result<Element, Error> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let attrs = |s: &BytesStart| -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for a in s.attributes() {
            let a = a.map_err(|e| e.to_string())?;
            let k = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let v = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
            out.push((k, v));
        }
        Ok(out)
    };
    loop {
        let pos = reader.buffer_position();
        let ev = reader
            .read_event()
            .map_err(|e| bad(file, format!("not well-formed XML near byte {pos}: {e}")))?;
        match ev {
            Event::Start(s) | Event::Empty(s) if root.is_some() => {
                return Err(bad(
                    file,
                    format!(
                        "content after the root element near byte {pos}: {}",
                        String::from_utf8_lossy(s.name().as_ref())
                    ),
                ));
            }
            Event::Start(s) => {
                let a = attrs(&s)
                    .map_err(|e| bad(file, format!("bad attribute near byte {pos}: {e}")))?;
                stack.push(Element::new(&String::from_utf8_lossy(s.name().as_ref()), a));
            }
            Event::Empty(s) => {
                let a = attrs(&s)
                    .map_err(|e| bad(file, format!("bad attribute near byte {pos}: {e}")))?;
                let e = Element::new(&String::from_utf8_lossy(s.name().as_ref()), a);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(e)),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let Some(e) = stack.pop() else {
                    return Err(bad(file, format!("unbalanced end tag near byte {pos}")));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(e)),
                    None => root = Some(e),
                }
            }
            Event::Comment(c) => {
                if let Some(parent) = stack.last_mut() {
                    parent
                        .children
                        .push(Node::Comment(String::from_utf8_lossy(&c).into_owned()));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(bad(file, "the document ends inside an element".into()));
    }
    match root {
        Some(r) if r.name == "cib" => Ok(r),
        Some(r) => Err(bad(
            file,
            format!("the root element is <{}>, not <cib>", r.name),
        )),
        None => Err(bad(file, "no element at all".into())),
    }
}

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

struct Ctx {
    warnings: Vec<String>,
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

fn nvset(tag: &str, id: &str, pairs: &[(String, String)]) -> Element {
    let mut set = Element::new(tag, vec![("id".into(), id.into())]);
    for (k, v) in pairs {
        set.children.push(Node::Element(Element::new(
            "nvpair",
            vec![
                ("id".into(), format!("{id}-{k}")),
                ("name".into(), k.clone()),
                ("value".into(), v.clone()),
            ],
        )));
    }
    set
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

/// A heartbeat-class `drbddisk` primitive (which Pacemaker 2 cannot run)
/// becomes a promotable clone of the drbd agent; a group that contained it
/// follows the promoted side. Returns the constraints to add.
fn drbddisk_to_clones(resources: &mut Element, provider: &str, ctx: &mut Ctx) -> Vec<Element> {
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
                    ("monitor", "29s", "20s", Some("Promoted")),
                    ("monitor", "31s", "20s", Some("Unpromoted")),
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
                        a.push(("role".into(), r.into()));
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
                        ("with-rsc-role".into(), "Promoted".into()),
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
                drbd_constraints = drbddisk_to_clones(sect, drbd_provider, &mut ctx);
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

fn write_element(w: &mut Writer<Vec<u8>>, e: &Element) {
    let mut start = BytesStart::new(e.name.as_str());
    for (k, v) in &e.attrs {
        start.push_attribute((k.as_str(), v.as_str()));
    }
    if e.children.is_empty() {
        let _ = w.write_event(Event::Empty(start));
        return;
    }
    let _ = w.write_event(Event::Start(start));
    for c in &e.children {
        match c {
            Node::Element(child) => write_element(w, child),
            Node::Comment(t) => {
                let _ = w.write_event(Event::Comment(BytesText::from_escaped(
                    t.replace("--", "- -"),
                )));
            }
        }
    }
    let _ = w.write_event(Event::End(BytesEnd::new(e.name.as_str())));
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
