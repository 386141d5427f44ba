//! Agent by agent: what an old CIB's primitives need to run on current
//! resource-agents. The drbd and pingd agents of Heartbeat 2's time are
//! gone, the old haresources2cib.py swapped IPaddr's netmask and interface,
//! and timeouts below the agents' advice make starts fail under load.

use super::tree::{nvset, Element, Node};
use super::Ctx;
use crate::error::Error;
use crate::mapping::{advised, drbd_ops};
use crate::model::Role;

/// Parameters the drbd agents (LINBIT's and shimai's) share with the
/// Heartbeat 2 `ocf:heartbeat:drbd` agent.
const DRBD_PARAMS: &[&str] = &["drbd_resource", "drbdconf"];

/// Parameters `ocf:pacemaker:ping` shares with `ocf:heartbeat:pingd`.
const PING_PARAMS: &[&str] = &["host_list", "multiplier", "dampen", "name"];

/// Seconds of a CIB duration (`20`, `20s`, `2min`, `1m`, `500ms`, `1h`).
pub(super) fn seconds(v: &str) -> Option<u64> {
    let v = v.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..digits].parse().ok()?;
    match v[digits..].trim() {
        "" | "s" | "sec" => Some(n),
        "m" | "min" => Some(n * 60),
        "h" | "hr" => Some(n * 3600),
        "ms" | "msec" => Some(n.div_ceil(1000)),
        _ => None,
    }
}

fn set_of<'a>(e: &'a mut Element, name: &str) -> Option<&'a mut Element> {
    e.elements_mut().find(|c| c.name == name)
}

/// Keeps only the nvpairs named in `keep`; returns the dropped names.
fn keep_params(e: &mut Element, keep: &[&str]) -> Vec<String> {
    let mut dropped = Vec::new();
    for set in e.elements_mut().filter(|c| c.name == "instance_attributes") {
        set.children.retain(|n| match n {
            Node::Element(nv) if nv.name == "nvpair" => {
                let name = nv.get("name").unwrap_or_default();
                let ok = keep.contains(&name);
                if !ok {
                    dropped.push(name.to_string());
                }
                ok
            }
            _ => true,
        });
    }
    dropped
}

/// The agent-specific rewrites of one primitive. `op_default` is the
/// timeout (s) an op without its own gets.
pub(super) fn fix_primitive(
    file: &str,
    e: &mut Element,
    drbd_provider: &str,
    legacy_roles: bool,
    op_default: u64,
    ctx: &mut Ctx,
) -> Result<(), Error> {
    let id = e.get("id").unwrap_or_default().to_string();
    if matches!(e.get("class"), Some("lsb" | "systemd")) {
        // As for converted init scripts: a systemd host runs them through
        // systemctl, whose start timeout is 90 s.
        let kind = format!(
            "{} {}",
            e.get("class").unwrap_or_default(),
            e.get("type").unwrap_or_default()
        );
        raise(
            e,
            &id,
            &kind,
            &[("start", 100), ("stop", 100)],
            op_default,
            ctx,
        );
        return Ok(());
    }
    if e.get("class") != Some("ocf") {
        return Ok(());
    }
    let kind = e.get("type").unwrap_or_default().to_string();
    let provider = e.get("provider").unwrap_or_default().to_string();
    match (provider.as_str(), kind.as_str()) {
        ("heartbeat", "drbd") => {
            e.set("provider", drbd_provider);
            let dropped = keep_params(e, DRBD_PARAMS);
            ctx.warnings.push(format!(
                "{id}: ocf:heartbeat:drbd is not shipped by resource-agents any more; it is now ocf:{drbd_provider}:drbd{}",
                if dropped.is_empty() {
                    String::new()
                } else {
                    format!(" (parameters it does not have dropped: {})", dropped.join(", "))
                }
            ));
        }
        ("heartbeat", "pingd") => {
            e.set("provider", "pacemaker");
            e.set("type", "ping");
            let dropped = keep_params(e, PING_PARAMS);
            ctx.warnings.push(format!(
                "{id}: ocf:heartbeat:pingd needs the pingd daemon, which Pacemaker 2 removed; it is now ocf:pacemaker:ping, which sets the same attribute{}",
                if dropped.is_empty() {
                    String::new()
                } else {
                    format!(" (parameters it does not have dropped: {})", dropped.join(", "))
                }
            ));
        }
        ("heartbeat", "IPaddr" | "IPaddr2") => fix_netmask(file, e, &id, ctx)?,
        _ => {}
    }
    let kind = e.get("type").unwrap_or_default().to_string();
    if kind == "drbd" {
        drbd_ops_at_least(e, &id, legacy_roles, op_default, ctx);
    } else if let Some(a) = advised(&kind) {
        let wanted = [
            ("start", a.start as u64),
            ("stop", a.stop as u64),
            ("monitor", a.monitor as u64),
        ];
        raise(e, &id, &kind, &wanted, op_default, ctx);
    }
    Ok(())
}

/// Raises op timeouts below the advice, and adds start/stop ops when the
/// default timeout is below it.
fn raise(
    e: &mut Element,
    id: &str,
    kind: &str,
    wanted: &[(&str, u64)],
    op_default: u64,
    ctx: &mut Ctx,
) {
    let mut changes = Vec::new();
    if set_of(e, "operations").is_none() {
        e.children
            .push(Node::Element(Element::new("operations", vec![])));
    }
    let Some(ops) = set_of(e, "operations") else {
        return;
    };
    for (name, secs) in wanted {
        let mut seen = false;
        for op in ops.elements_mut().filter(|o| o.get("name") == Some(name)) {
            seen = true;
            let now = op.get("timeout").and_then(seconds).unwrap_or(op_default);
            if now < *secs {
                changes.push(format!("{name} {now}s -> {secs}s"));
                op.set("timeout", &format!("{secs}s"));
            }
        }
        if !seen && *name != "monitor" && op_default < *secs {
            changes.push(format!("{name} {op_default}s -> {secs}s"));
            let interval = "0s";
            ops.children.push(Node::Element(Element::new(
                "op",
                vec![
                    ("id".into(), format!("{id}-{name}-interval-{interval}")),
                    ("name".into(), name.to_string()),
                    ("interval".into(), interval.into()),
                    ("timeout".into(), format!("{secs}s")),
                ],
            )));
        }
    }
    if ops.children.is_empty() {
        e.children
            .retain(|n| !matches!(n, Node::Element(c) if c.name == "operations"));
    }
    if !changes.is_empty() {
        let source = match kind {
            "drbd" => "the drbd agent's meta-data".to_string(),
            "ping" => "Pacemaker's ping meta-data".to_string(),
            k if k.starts_with("lsb ") || k.starts_with("systemd ") => {
                "Pacemaker's systemd class (an init script runs through systemctl on a systemd host)".to_string()
            }
            other => format!("{other}'s meta-data in resource-agents 4.12"),
        };
        ctx.warnings.push(format!(
            "{id}: timeouts raised to what {source} advises: {}",
            changes.join(", ")
        ));
    }
}

/// The drbd agent's advised timeouts; without a monitor, the two role
/// monitors that keep its promotion scores current are added.
fn drbd_ops_at_least(
    e: &mut Element,
    id: &str,
    legacy_roles: bool,
    op_default: u64,
    ctx: &mut Ctx,
) {
    let standard = drbd_ops();
    let has_monitor = e
        .elements_mut()
        .filter(|c| c.name == "operations")
        .any(|ops| ops.elements_mut().any(|o| o.get("name") == Some("monitor")));
    if !has_monitor {
        if set_of(e, "operations").is_none() {
            e.children
                .push(Node::Element(Element::new("operations", vec![])));
        }
        if let Some(ops) = set_of(e, "operations") {
            for op in standard.iter().filter(|o| o.name == "monitor") {
                let mut a = vec![
                    (
                        "id".to_string(),
                        format!("{id}-monitor-interval-{}", op.interval),
                    ),
                    ("name".into(), "monitor".into()),
                    ("interval".into(), op.interval.clone()),
                ];
                if let Some(r) = op.role {
                    a.push(("role".into(), r.name(legacy_roles).into()));
                }
                a.push(("timeout".into(), op.timeout.clone()));
                ops.children.push(Node::Element(Element::new("op", a)));
            }
        }
        ctx.warnings.push(format!(
            "{id}: the drbd resource had no monitor; monitors for both roles were added (the agent updates the promotion scores from them)"
        ));
    }
    let wanted: Vec<(&str, u64)> = standard
        .iter()
        .filter(|o| o.role != Some(Role::Unpromoted))
        .map(|o| (o.name, seconds(&o.timeout).unwrap_or(20)))
        .collect();
    raise(e, id, "drbd", &wanted, op_default, ctx);
}

fn is_prefix(v: &str) -> bool {
    match v.parse::<u8>() {
        Ok(n) => n <= 32,
        Err(_) => v.parse::<std::net::Ipv4Addr>().is_ok_and(|m| {
            let m = u32::from(m);
            m.leading_ones() + m.trailing_zeros() == 32
        }),
    }
}

fn is_interface(v: &str) -> bool {
    !v.is_empty()
        && !v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'))
}

/// haresources2cib.py (Heartbeat ≤ 2.1.3 and Pacemaker ≥ 1.0.4) wrote the
/// interface into cidr_netmask and the prefix length into nic. The agent
/// then fails; the swap is recognised and undone, and anything else that is
/// not a netmask is refused rather than guessed.
fn fix_netmask(file: &str, e: &mut Element, id: &str, ctx: &mut Ctx) -> Result<(), Error> {
    let params = super::normalize::params(e, "instance_attributes");
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let (mask, nic) = (get("cidr_netmask"), get("nic"));
    let refuse = |what: String| {
        Error::OldCib {
        file: file.into(),
        what,
        fix: "write the prefix length (e.g. 24) in cidr_netmask and the interface in nic, then run again".into(),
    }
    };
    let (new_mask, new_nic) = match (mask.as_deref(), nic.as_deref()) {
        (Some(m), Some(n)) if !is_prefix(m) && is_prefix(n) && is_interface(m) => {
            ctx.warnings.push(format!(
                "{id}: cidr_netmask={m} nic={n} is the old haresources2cib.py's swap; corrected to cidr_netmask={n} nic={m}"
            ));
            (Some(n.to_string()), Some(m.to_string()))
        }
        (Some(m), None) if !is_prefix(m) && is_interface(m) => {
            ctx.warnings.push(format!(
                "{id}: cidr_netmask={m} is an interface, not a netmask (the old haresources2cib.py's swap); moved to nic"
            ));
            (None, Some(m.to_string()))
        }
        (Some(m), _) if !is_prefix(m) => {
            return Err(refuse(format!(
                "primitive {id}: cidr_netmask=\"{m}\" is neither a prefix length nor a netmask{}",
                nic.as_deref()
                    .map(|n| format!(", and nic=\"{n}\" does not make it a plain swap"))
                    .unwrap_or_default()
            )))
        }
        (_, Some(n)) if is_prefix(n) => {
            return Err(refuse(format!(
                "primitive {id}: nic=\"{n}\" is a number, not an interface{}",
                mask.as_deref()
                    .map(|m| format!(" (cidr_netmask is \"{m}\")"))
                    .unwrap_or_default()
            )))
        }
        _ => return Ok(()),
    };
    for set in e.elements_mut().filter(|c| c.name == "instance_attributes") {
        set.children.retain(|n| {
            !matches!(n, Node::Element(nv) if matches!(nv.get("name"), Some("cidr_netmask" | "nic")))
        });
    }
    let mut pairs = Vec::new();
    if let Some(m) = &new_mask {
        pairs.push(("cidr_netmask".to_string(), m.clone()));
    }
    if let Some(n) = &new_nic {
        pairs.push(("nic".to_string(), n.clone()));
    }
    if let Some(set) = e.elements_mut().find(|c| c.name == "instance_attributes") {
        let sid = set.get("id").unwrap_or_default().to_string();
        set.children.extend(nvset("x", &sid, &pairs).children);
    }
    Ok(())
}
