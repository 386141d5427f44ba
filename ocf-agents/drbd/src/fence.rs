//! Resource-level fencing through the CIB, with crm-fence-peer.9.sh's semantics.
//!
//! `shimai-crm-fence-peer` is the `fence-peer` handler: when a Primary loses its peer (or
//! a disconnected Secondary is promoted) with `fencing resource-only` or
//! `resource-and-stonith`, shimaid runs it and waits. It places a location constraint on
//! the promotable clone that runs the resource, forbidding the Promoted role on every node
//! but this one, so Pacemaker cannot promote the stale peer, and answers with DRBD's exit
//! codes: 4 the peer is outdated (it is a cluster member and will obey the constraint), 7
//! the peer is down (fenced or cleanly stopped), 5 its state is unknown. `shimai-crm-
//! unfence-peer` (the `unfence-peer` / `after-resync-target` handler) removes the
//! constraint once the peer has resynced.
//!
//! The CIB is read once (`cibadmin --query`) and changed once; the decisions are pure
//! functions of its text, tested here on sample CIBs.

use std::process::{Command, Stdio};

use quick_xml::events::Event;
use quick_xml::Reader;

/// fence-peer exit codes (DRBD's).
pub mod code {
    /// The peer's disk is Outdated (or it is a member that obeys the constraint).
    pub const PEER_OUTDATED: i32 = 4;
    /// The peer is unreachable; assumed dead.
    pub const PEER_UNREACHABLE: i32 = 5;
    /// The peer was fenced (or is cleanly down).
    pub const PEER_FENCED: i32 = 7;
    /// Anything went wrong: no decision.
    pub const FAILED: i32 = 1;
}

/// The constraint's id, as crm-fence-peer names it.
pub fn constraint_id(res: &str, clone_id: &str) -> String {
    format!("drbd-fence-by-handler-{res}-{clone_id}")
}

/// The constraint: the Promoted role is forbidden wherever `#uname` is not `node`.
pub fn constraint_xml(res: &str, clone_id: &str, node: &str) -> String {
    let id = constraint_id(res, clone_id);
    let e = ocf::metadata::escape;
    format!(
        "<rsc_location rsc=\"{c}\" id=\"{i}\"><rule role=\"Promoted\" score=\"-INFINITY\" id=\"drbd-fence-by-handler-{r}-rule-{c}\"><expression attribute=\"#uname\" operation=\"ne\" value=\"{n}\" id=\"drbd-fence-by-handler-{r}-expr-0-{c}\"/></rule></rsc_location>",
        c = e(clone_id),
        i = e(&id),
        r = e(res),
        n = e(node),
    )
}

/// What the CIB says about the peer node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// In the membership with a running controller.
    Member,
    /// Out of the membership and its controller offline: fenced or stopped.
    Down,
    /// Not in the status section, or in between.
    Unknown,
}

fn attr(e: &quick_xml::events::BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name.as_bytes())
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Facts read from one CIB.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CibFacts {
    /// The promotable clone whose primitive has `drbd_resource=RES`.
    pub clone_id: Option<String>,
    /// Whether our constraint exists.
    pub constraint_present: bool,
    pub peer: Option<PeerState>,
}

/// Reads the CIB text. `peer` may be empty when the handler was not told the peer's name.
pub fn read_cib(
    xml: &str,
    res: &str,
    peer: &str,
    constraint_for: impl Fn(&str) -> String,
) -> Result<CibFacts, String> {
    let mut r = Reader::from_str(xml);
    let mut facts = CibFacts::default();
    // The enclosing clone/master ids, innermost last.
    let mut clones: Vec<Option<String>> = Vec::new();
    let mut in_primitive_attrs = false;
    let mut rsc_locations: Vec<String> = Vec::new();
    loop {
        let ev = r
            .read_event()
            .map_err(|e| format!("the CIB is not XML: {e}"))?;
        let (start, empty) = match &ev {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            Event::End(e) => {
                match e.name().as_ref() {
                    b"clone" | b"master" => {
                        clones.pop();
                    }
                    b"instance_attributes" => in_primitive_attrs = false,
                    _ => {}
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let Some(e) = start else { continue };
        match e.name().as_ref() {
            b"clone" | b"master" if !empty => clones.push(attr(&e, "id")),
            b"instance_attributes" if !empty => in_primitive_attrs = true,
            b"nvpair"
                if in_primitive_attrs
                    && facts.clone_id.is_none()
                    && attr(&e, "name").as_deref() == Some("drbd_resource")
                    && attr(&e, "value").as_deref() == Some(res) =>
            {
                facts.clone_id = clones.last().cloned().flatten();
            }
            b"rsc_location" => rsc_locations.extend(attr(&e, "id")),
            b"node_state" if !peer.is_empty() && attr(&e, "uname").as_deref() == Some(peer) => {
                let in_ccm = attr(&e, "in_ccm").unwrap_or_default();
                let crmd = attr(&e, "crmd").unwrap_or_default();
                // Pacemaker 2.1 writes in_ccm as "true"/"false" or a timestamp.
                let member = in_ccm != "false" && !in_ccm.is_empty();
                facts.peer = Some(match (member, crmd.as_str()) {
                    (true, "online") => PeerState::Member,
                    (false, "offline") => PeerState::Down,
                    _ => PeerState::Unknown,
                });
            }
            _ => {}
        }
    }
    if let Some(c) = &facts.clone_id {
        let id = constraint_for(c);
        facts.constraint_present = rsc_locations.contains(&id);
    }
    Ok(facts)
}

/// The fence-peer answer once the constraint is in place.
pub fn fence_exit_code(peer: Option<PeerState>) -> i32 {
    match peer {
        Some(PeerState::Member) => code::PEER_OUTDATED,
        Some(PeerState::Down) => code::PEER_FENCED,
        Some(PeerState::Unknown) | None => code::PEER_UNREACHABLE,
    }
}

/// The handler's inputs, from DRBD's environment.
#[derive(Debug, Clone)]
pub struct HandlerEnv {
    pub resource: String,
    pub peer: String,
    /// This node as Pacemaker names it.
    pub me: String,
}

impl HandlerEnv {
    /// `DRBD_RESOURCE` (required), `DRBD_PEER` or the first of `DRBD_PEERS`, and this
    /// node: `SHIMAI_NODE` or `uname -n`.
    pub fn from_process() -> Result<HandlerEnv, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let resource = var("DRBD_RESOURCE").ok_or(
            "DRBD_RESOURCE is not set: run this as shimaid's fence-peer/unfence-peer handler",
        )?;
        let peer = var("DRBD_PEER")
            .or_else(|| {
                var("DRBD_PEERS").and_then(|p| p.split_whitespace().next().map(str::to_string))
            })
            .unwrap_or_default();
        let me = var("SHIMAI_NODE").unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        });
        Ok(HandlerEnv { resource, peer, me })
    }
}

fn cibadmin(args: &[&str]) -> Result<String, String> {
    let out = Command::new("cibadmin")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cibadmin: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "cibadmin {} failed ({}): {}",
            args.first().copied().unwrap_or(""),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn facts(h: &HandlerEnv) -> Result<(CibFacts, String), String> {
    let cib = cibadmin(&["--query"])?;
    let facts = read_cib(&cib, &h.resource, &h.peer, |c| {
        constraint_id(&h.resource, c)
    })?;
    let clone = facts.clone_id.clone().ok_or_else(|| {
        format!(
            "no promotable clone in the CIB runs a primitive with drbd_resource={}",
            h.resource
        )
    })?;
    Ok((facts, clone))
}

/// `shimai-crm-fence-peer`: the process exit code.
pub fn fence(h: &HandlerEnv) -> Result<i32, String> {
    if h.me.is_empty() {
        return Err("cannot tell this node's name: set SHIMAI_NODE".into());
    }
    let (facts, clone) = facts(h)?;
    let xml = constraint_xml(&h.resource, &clone, &h.me);
    cibadmin(&[
        "--modify",
        "--allow-create",
        "--scope",
        "constraints",
        "--xml-text",
        &xml,
    ])?;
    let rc = fence_exit_code(facts.peer);
    eprintln!(
        "shimai-crm-fence-peer: {}: placed {} (Promoted only on {}); peer {} is {:?}: exit {rc}",
        h.resource,
        constraint_id(&h.resource, &clone),
        h.me,
        if h.peer.is_empty() { "?" } else { &h.peer },
        facts.peer.unwrap_or(PeerState::Unknown)
    );
    Ok(rc)
}

/// `shimai-crm-unfence-peer`: removes the constraint if present.
pub fn unfence(h: &HandlerEnv) -> Result<(), String> {
    let (facts, clone) = facts(h)?;
    let id = constraint_id(&h.resource, &clone);
    if facts.constraint_present {
        let xml = format!("<rsc_location id=\"{}\"/>", ocf::metadata::escape(&id));
        cibadmin(&["--delete", "--xml-text", &xml])?;
        eprintln!("shimai-crm-unfence-peer: {}: removed {id}", h.resource);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CIB: &str = r#"<cib><configuration><resources>
      <primitive id="other" class="ocf" provider="shimai" type="drbd">
        <instance_attributes id="o-ia"><nvpair id="o1" name="drbd_resource" value="r0"/></instance_attributes>
      </primitive>
      <clone id="ms_r1"><primitive id="p_r1" class="ocf" provider="shimai" type="drbd">
        <instance_attributes id="p1-ia"><nvpair id="n1" name="drbd_resource" value="r1"/></instance_attributes>
      </primitive></clone>
      <clone id="ms_r0"><meta_attributes id="m"><nvpair id="m1" name="promotable" value="true"/></meta_attributes>
        <primitive id="p_r0" class="ocf" provider="shimai" type="drbd">
        <instance_attributes id="p0-ia"><nvpair id="n0" name="drbd_resource" value="r0"/></instance_attributes>
      </primitive></clone>
    </resources><constraints>
      <rsc_location id="drbd-fence-by-handler-r0-ms_r0" rsc="ms_r0"/>
    </constraints></configuration>
    <status>
      <node_state id="1" uname="alpha" in_ccm="true" crmd="online"/>
      <node_state id="2" uname="beta" in_ccm="false" crmd="offline"/>
      <node_state id="3" uname="gamma" in_ccm="1700000000" crmd="online"/>
    </status></cib>"#;

    fn read(res: &str, peer: &str) -> CibFacts {
        read_cib(CIB, res, peer, |c| constraint_id(res, c)).unwrap()
    }

    #[test]
    fn finds_the_clone_running_the_resource() {
        assert_eq!(read("r0", "").clone_id.as_deref(), Some("ms_r0"));
        assert_eq!(read("r1", "").clone_id.as_deref(), Some("ms_r1"));
        assert_eq!(read("r9", "").clone_id, None);
        assert!(read("r0", "").constraint_present);
        assert!(!read("r1", "").constraint_present);
    }

    #[test]
    fn peer_states_give_drbd_exit_codes() {
        assert_eq!(read("r0", "alpha").peer, Some(PeerState::Member));
        assert_eq!(read("r0", "beta").peer, Some(PeerState::Down));
        assert_eq!(read("r0", "gamma").peer, Some(PeerState::Member));
        assert_eq!(read("r0", "delta").peer, None);
        assert_eq!(fence_exit_code(Some(PeerState::Member)), 4);
        assert_eq!(fence_exit_code(Some(PeerState::Down)), 7);
        assert_eq!(fence_exit_code(None), 5);
    }

    #[test]
    fn constraint_is_crm_fence_peers() {
        let x = constraint_xml("r0", "ms_r0", "alice");
        assert!(x.starts_with(r#"<rsc_location rsc="ms_r0" id="drbd-fence-by-handler-r0-ms_r0">"#));
        assert!(x.contains(
            r#"<rule role="Promoted" score="-INFINITY" id="drbd-fence-by-handler-r0-rule-ms_r0">"#
        ));
        assert!(x.contains(r##"attribute="#uname" operation="ne" value="alice" id="drbd-fence-by-handler-r0-expr-0-ms_r0""##));
        assert!(read_cib("<cib></nope>", "r0", "", |c| c.into()).is_err());
    }
}
