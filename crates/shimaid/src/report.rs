//! The core's [`Status`] as the control protocol's [`StatusReport`] and events lines.

use shimai_replication::{StateChange, Status};

use crate::control::{Counters, EventLine, Generation, Progress, StatusReport};

/// Names and paths the core does not know.
pub struct Names<'a> {
    pub resource: &'a str,
    pub node: &'a str,
    pub peer_node: &'a str,
    pub device: Option<String>,
    pub minor: u32,
    pub size: u64,
    pub split_brain: bool,
    pub io_backend: &'a str,
}

pub fn status_report(s: &Status, n: &Names) -> StatusReport {
    let c = s.counters;
    let hex = |v: u64| format!("{v:016X}");
    StatusReport {
        resource: n.resource.to_string(),
        node: n.node.to_string(),
        peer_node: n.peer_node.to_string(),
        role: s.role.to_string(),
        peer_role: s.peer_role.to_string(),
        connection: s.cs.to_string(),
        disk: s.disk.to_string(),
        peer_disk: s.pdsk.to_string(),
        protocol: s.protocol.to_string(),
        device: n.device.clone(),
        minor: n.minor,
        size_kib: n.size / 1024,
        suspended: s.suspended,
        user_paused: s.user_paused,
        peer_paused: s.peer_paused,
        generation: Generation {
            current: hex(s.gi.current),
            bitmap: hex(s.gi.bitmap),
            history: [hex(s.gi.history[0]), hex(s.gi.history[1])],
        },
        counters: Counters {
            ns: c.ns,
            nr: c.nr,
            dw: c.dw,
            dr: c.dr,
            al: c.al,
            bm: c.bm,
            lo: c.lo,
            pe: c.pe,
            ua: c.ua,
            ap: c.ap,
            ep: c.ep,
            oos: c.oos,
        },
        // shimaid flushes the backing file for write ordering (disk-flushes).
        write_ordering: "f".to_string(),
        resync: s.resync.map(|p| Progress {
            total_kib: p.total_kib,
            left_kib: p.left_kib,
            rate_kib_s: p.rate_kib_s,
            percent: p.permille() as f64 / 10.0,
            eta_s: p.left_kib.checked_div(p.rate_kib_s).unwrap_or(0),
        }),
        verify_oos_kib: s.verify_oos_kib,
        split_brain: n.split_brain,
        io_backend: n.io_backend.to_string(),
    }
}

fn line(kind: &str, object: &str, fields: &[(&str, String)]) -> EventLine {
    EventLine {
        kind: kind.to_string(),
        object: object.to_string(),
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

/// The `exists` lines of `events --now` (as drbdsetup events2).
pub fn exists(s: &Status, resource: &str, peer: &str) -> Vec<EventLine> {
    let name = ("name", resource.to_string());
    vec![
        line(
            "exists",
            "resource",
            &[name.clone(), ("role", s.role.to_string())],
        ),
        line(
            "exists",
            "connection",
            &[
                name.clone(),
                ("peer-node", peer.to_string()),
                ("connection", s.cs.to_string()),
                ("role", s.peer_role.to_string()),
            ],
        ),
        line(
            "exists",
            "device",
            &[name.clone(), ("disk", s.disk.to_string())],
        ),
        line(
            "exists",
            "peer-device",
            &[
                name,
                ("peer-node", peer.to_string()),
                ("peer-disk", s.pdsk.to_string()),
            ],
        ),
    ]
}

/// One `change` line for a state change.
pub fn change(c: &StateChange, resource: &str, peer: &str) -> EventLine {
    let name = ("name", resource.to_string());
    let pn = ("peer-node", peer.to_string());
    match c {
        StateChange::Role { to, .. } => {
            line("change", "resource", &[name, ("role", to.to_string())])
        }
        StateChange::PeerRole { to, .. } => line(
            "change",
            "connection",
            &[name, pn, ("role", to.to_string())],
        ),
        StateChange::Conn { to, .. } => line(
            "change",
            "connection",
            &[name, pn, ("connection", to.to_string())],
        ),
        StateChange::Disk { to, .. } => line("change", "device", &[name, ("disk", to.to_string())]),
        StateChange::PeerDisk { to, .. } => line(
            "change",
            "peer-device",
            &[name, pn, ("peer-disk", to.to_string())],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shimai_replication::{Core, Persisted, ResourceConfig};

    #[test]
    fn status_uses_drbd_names_and_hex_identifiers() {
        let size = 8 << 20;
        let core = Core::new(
            ResourceConfig::new(size),
            Some(Persisted::just_created(size)),
            1,
        );
        let r = status_report(
            &core.status(),
            &Names {
                resource: "r0",
                node: "alpha",
                peer_node: "beta",
                device: None,
                minor: 3,
                size,
                split_brain: false,
                io_backend: "threads",
            },
        );
        assert_eq!(r.role, "Secondary");
        assert_eq!(r.peer_role, "Unknown");
        assert_eq!(r.connection, "StandAlone");
        assert_eq!(r.disk, "Inconsistent");
        assert_eq!(r.peer_disk, "DUnknown");
        assert_eq!(r.protocol, "C");
        assert_eq!(r.size_kib, 8192);
        assert_eq!(r.generation.current.len(), 16);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"connection\":\"StandAlone\""), "{json}");
        assert!(
            !json.contains("split_brain"),
            "written only when true: {json}"
        );
    }

    #[test]
    fn events_name_the_object_that_changed() {
        use shimai_replication::{ConnState, StateChange};
        let l = change(
            &StateChange::Conn {
                from: ConnState::WFConnection,
                to: ConnState::Connected,
            },
            "r0",
            "beta",
        );
        assert_eq!(l.kind, "change");
        assert_eq!(l.object, "connection");
        assert!(l
            .fields
            .contains(&("connection".to_string(), "Connected".to_string())));
    }
}
