//! What every element of an old cib.xml needs before its sections are
//! rewritten: ids the current schema accepts (present, unique, XML names),
//! and attribute values in the spellings it knows (roles, scores, op
//! options). Heartbeat 2 accepted `score="infinity"`, `role="master"`,
//! `id="1"`, ids with colons and nvpairs without ids; the schema refuses
//! every one of them.

use std::collections::{HashMap, HashSet};

use super::tree::{Element, Node};
use super::Ctx;
use crate::error::Error;
use crate::model::sanitize_id;

/// Elements whose `id` other elements refer to.
const REFERENCED: &[&str] = &[
    "primitive",
    "group",
    "clone",
    "master_slave",
    "master",
    "template",
    "bundle",
];

/// Elements that must carry an id in the current schema.
const NEED_ID: &[&str] = &[
    "nvpair",
    "op",
    "rule",
    "expression",
    "date_expression",
    "date_spec",
    "duration",
    "instance_attributes",
    "meta_attributes",
    "utilization",
    "cluster_property_set",
    "rsc_location",
    "rsc_colocation",
    "rsc_order",
    "rsc_ticket",
    "resource_set",
];

/// Attributes that name another element's id.
const REFERENCES: &[&str] = &["rsc", "with-rsc", "first", "then", "from", "to", "id-ref"];

struct Ids {
    used: HashSet<String>,
    renamed: Vec<(String, String)>,
    added: usize,
    map: HashMap<String, String>,
}

impl Ids {
    fn unique(&mut self, wanted: String) -> String {
        let mut id = wanted.clone();
        let mut n = 1;
        while self.used.contains(&id) {
            n += 1;
            id = format!("{wanted}-{n}");
        }
        self.used.insert(id.clone());
        id
    }
}

/// Gives every element that needs one a valid, unique id and rewrites the
/// references to renamed resources.
pub(super) fn ids(root: &mut Element, ctx: &mut Ctx) {
    let mut ids = Ids {
        used: HashSet::new(),
        renamed: Vec::new(),
        added: 0,
        map: HashMap::new(),
    };
    // Resources first: their ids are what constraints refer to, so they
    // keep theirs whenever it is valid and a later duplicate is renamed.
    walk(root, &mut |e, _| {
        if REFERENCED.contains(&e.name.as_str()) {
            if let Some(old) = e.get("id").map(str::to_string) {
                let new = ids.unique(sanitize_id(&old));
                if new != old {
                    ids.renamed.push((old.clone(), new.clone()));
                    ids.map.insert(old, new.clone());
                    e.set("id", &new);
                }
            }
        }
    });
    fill(root, "cib", &mut ids);
    walk(root, &mut |e, _| {
        for (k, v) in e.attrs.iter_mut() {
            let is_ref =
                REFERENCES.contains(&k.as_str()) || (e.name == "resource_ref" && k == "id");
            if is_ref {
                if let Some(new) = ids.map.get(v.as_str()) {
                    *v = new.clone();
                }
            }
        }
    });
    if !ids.renamed.is_empty() {
        let shown: Vec<String> = ids
            .renamed
            .iter()
            .map(|(a, b)| format!("{a} -> {b}"))
            .collect();
        ctx.warnings.push(format!(
            "ids that are not valid XML ids or repeat another were renamed (references follow): {}",
            shown.join(", ")
        ));
    }
    if ids.added > 0 {
        ctx.warnings.push(format!(
            "{} elements had no id, which the current schema requires; ids were made from their parent's",
            ids.added
        ));
    }
}

fn fill(e: &mut Element, parent: &str, ids: &mut Ids) {
    let here = e.get("id").unwrap_or(parent).to_string();
    for c in e.elements_mut() {
        // Every id the schema types as an XML ID (all but a node's, which
        // is renumbered, and resources', done first) must be a valid one.
        let typed = c.get("id").is_some()
            && !matches!(c.name.as_str(), "node" | "resource_ref")
            && !REFERENCED.contains(&c.name.as_str());
        if NEED_ID.contains(&c.name.as_str()) || typed {
            match c.get("id").map(str::to_string) {
                Some(old) => {
                    let new = ids.unique(sanitize_id(&old));
                    if new != old {
                        ids.renamed.push((old, new.clone()));
                        c.set("id", &new);
                    }
                }
                None => {
                    let suffix = match c.name.as_str() {
                        "nvpair" => sanitize_id(c.get("name").unwrap_or("nvpair"))
                            .trim_start_matches('_')
                            .to_string(),
                        "op" => format!(
                            "{}-interval-{}",
                            c.get("name").unwrap_or("op"),
                            sanitize_id(c.get("interval").unwrap_or("0s")).trim_start_matches('_')
                        ),
                        other => other.to_string(),
                    };
                    let new = ids.unique(sanitize_id(&format!("{here}-{suffix}")));
                    ids.added += 1;
                    c.attrs.insert(0, ("id".into(), new));
                }
            }
        }
        fill(c, &here, ids);
    }
}

fn walk(e: &mut Element, f: &mut dyn FnMut(&mut Element, usize)) {
    fn go(e: &mut Element, depth: usize, f: &mut dyn FnMut(&mut Element, usize)) {
        f(e, depth);
        for c in e.elements_mut() {
            go(c, depth + 1, f);
        }
    }
    go(e, 0, f);
}

/// A role in the spelling of the target schema.
pub(super) fn role(value: &str, legacy: bool) -> Option<&'static str> {
    Some(match (value.to_ascii_lowercase().as_str(), legacy) {
        ("started", _) => "Started",
        ("stopped", _) => "Stopped",
        ("master" | "promoted", false) => "Promoted",
        ("slave" | "unpromoted", false) => "Unpromoted",
        ("master" | "promoted", true) => "Master",
        ("slave" | "unpromoted", true) => "Slave",
        _ => return None,
    })
}

/// A score as the schema spells it: an integer or (+/-)INFINITY.
fn score(value: &str) -> Option<String> {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    match lower.as_str() {
        "infinity" | "inf" => return Some("INFINITY".into()),
        "+infinity" | "+inf" => return Some("+INFINITY".into()),
        "-infinity" | "-inf" => return Some("-INFINITY".into()),
        _ => {}
    }
    v.parse::<i64>().ok().map(|n| n.to_string())
}

/// Old attribute spellings of operations and rules, and the values the
/// current schema spells differently; refuses what it cannot read.
pub(super) fn values(
    file: &str,
    root: &mut Element,
    legacy: bool,
    ctx: &mut Ctx,
) -> Result<(), Error> {
    let mut problem: Option<String> = None;
    let mut changed: Vec<String> = Vec::new();
    walk(root, &mut |e, _| {
        let id = e.get("id").unwrap_or("?").to_string();
        let renames: &[(&str, &str)] = match e.name.as_str() {
            "op" => &[
                ("on_fail", "on-fail"),
                ("start_delay", "start-delay"),
                ("interval_origin", "interval-origin"),
                ("record_pending", "record-pending"),
            ],
            "rule" => &[
                ("score_attribute", "score-attribute"),
                ("boolean_op", "boolean-op"),
            ],
            "rsc_colocation" => &[("from_role", "rsc-role"), ("to_role", "with-rsc-role")],
            _ => &[],
        };
        for (old, new) in renames {
            if let Some(v) = e.take(old) {
                e.set(new, &v);
            }
        }
        if e.name == "rule"
            && e.get("boolean-op")
                .is_some_and(|v| v.eq_ignore_ascii_case("and"))
        {
            // The default; crmsh drops it too.
            e.take("boolean-op");
        }
        if e.name == "op" {
            if let Some(v) = e.take("disabled") {
                if crate::hacf::boolean(&v) == Some(true) {
                    e.set("enabled", "false");
                }
            }
            if let Some(v) = e.get("on-fail").map(str::to_ascii_lowercase) {
                e.set("on-fail", if v == "nothing" { "ignore" } else { &v });
            }
        }
        if e.name == "primitive" {
            if let Some(c) = e.get("class").map(str::to_string) {
                if c != c.to_ascii_lowercase() {
                    e.set("class", &c.to_ascii_lowercase());
                }
            }
        }
        for k in ["role", "rsc-role", "with-rsc-role"] {
            let Some(v) = e.get(k).map(str::to_string) else {
                continue;
            };
            match role(&v, legacy) {
                Some(r) => {
                    if r != v {
                        changed.push(format!("{k}=\"{v}\" ({id}) -> {r}"));
                        e.set(k, r);
                    }
                }
                None => {
                    problem.get_or_insert(format!("<{} id=\"{id}\"> has {k}=\"{v}\", which is no role (Started, Stopped, Master or Slave)", e.name));
                }
            }
        }
        if e.name == "nvpair" && matches!(e.get("name"), Some("target_role" | "target-role")) {
            if let Some(v) = e.get("value").map(str::to_string) {
                if let Some(r) = role(&v, legacy) {
                    if r != v {
                        changed.push(format!("target-role \"{v}\" ({id}) -> {r}"));
                        e.set("value", r);
                    }
                }
            }
        }
        if matches!(
            e.name.as_str(),
            "rsc_location" | "rsc_colocation" | "rsc_order" | "rule"
        ) {
            if let Some(v) = e.get("score").map(str::to_string) {
                match score(&v) {
                    Some(s) => {
                        if s != v {
                            changed.push(format!("score=\"{v}\" ({id}) -> {s}"));
                            e.set("score", &s);
                        }
                    }
                    None => {
                        problem.get_or_insert(format!(
                            "<{} id=\"{id}\"> has score=\"{v}\", which is neither a whole number nor INFINITY",
                            e.name
                        ));
                    }
                }
            }
        }
    });
    if let Some(what) = problem {
        return Err(Error::OldCib {
            file: file.into(),
            what,
            fix: "correct that value in the old cib.xml and run again".into(),
        });
    }
    if !changed.is_empty() {
        ctx.warnings.push(format!(
            "roles and scores respelled for the current schema: {}",
            changed.join(", ")
        ));
    }
    Ok(())
}

/// The nvpairs of the first set named `set` directly under `e`.
pub(super) fn params(e: &Element, set: &str) -> Vec<(String, String)> {
    e.children
        .iter()
        .filter_map(|n| match n {
            Node::Element(s) if s.name == set => Some(s),
            _ => None,
        })
        .flat_map(|s| s.children.iter())
        .filter_map(|n| match n {
            Node::Element(nv) if nv.name == "nvpair" => Some((
                nv.get("name").unwrap_or_default().to_string(),
                nv.get("value").unwrap_or_default().to_string(),
            )),
            _ => None,
        })
        .collect()
}
