//! One line of `shimaiadm events`, in the layout of `drbdsetup events2`:
//! `<action> <object> key:value ...`, and `exists -` after the initial
//! state. Tools written for events2 (drbd-reactor style parsers, `grep`
//! in scripts) split on spaces and colons, so values must not contain
//! spaces: any whitespace in a value is replaced by `_`.

use shimaid::control::{EventLine, StatusReport};

/// What drbdsetup's lines name that the daemon's lines leave out: the
/// peer's node id and the device's minor (from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub peer_node_id: u32,
    pub minor: u32,
}

/// The line with drbdsetup events2's identifying fields: connection and
/// peer-device lines gain `peer-node-id:N conn-name:PEER` after `name`
/// (shimai's `peer-node:` stays, for readers of earlier versions), device
/// and peer-device lines `volume:0` (device lines also `minor:N`). With a
/// status report (`--statistics`), the counters follow under drbdsetup's
/// names: device `size: read: written: al-writes: bm-writes: upper-pending:
/// lower-pending:`, peer-device `received: sent: out-of-sync: pending:
/// unacked:` (KiB, as drbdsetup).
pub fn event_line_drbd(e: &EventLine, ids: &Ids, stats: Option<&StatusReport>) -> String {
    let peer = e
        .fields
        .iter()
        .find(|(k, _)| k == "peer-node")
        .map(|(_, v)| v.clone());
    let has = |key: &str| e.fields.iter().any(|(k, _)| k == key);
    let mut added: Vec<(String, String)> = Vec::new();
    let names_peer = matches!(e.object.as_str(), "connection" | "peer-device")
        || (e.object == "helper" && peer.is_some());
    if names_peer && !has("peer-node-id") {
        added.push(("peer-node-id".into(), ids.peer_node_id.to_string()));
        if let Some(p) = &peer {
            if !has("conn-name") {
                added.push(("conn-name".into(), p.clone()));
            }
        }
    }
    if matches!(e.object.as_str(), "device" | "peer-device") && !has("volume") {
        added.push(("volume".into(), "0".into()));
        if e.object == "device" && !has("minor") {
            added.push(("minor".into(), ids.minor.to_string()));
        }
    }
    let mut fields: Vec<(String, String)> = Vec::with_capacity(e.fields.len() + added.len());
    let mut rest = e.fields.iter();
    if let Some(first) = e.fields.first().filter(|(k, _)| k == "name") {
        fields.push(first.clone());
        rest.next();
    }
    fields.extend(added);
    fields.extend(rest.cloned());
    if let Some(s) = stats {
        let c = &s.counters;
        let more: Vec<(&str, u64)> = match e.object.as_str() {
            "device" => vec![
                ("size", s.size_kib),
                ("read", c.dr),
                ("written", c.dw),
                ("al-writes", c.al),
                ("bm-writes", c.bm),
                ("upper-pending", c.ap),
                ("lower-pending", c.lo),
            ],
            "peer-device" => vec![
                ("received", c.nr),
                ("sent", c.ns),
                ("out-of-sync", c.oos),
                ("pending", c.pe),
                ("unacked", c.ua),
            ],
            _ => Vec::new(),
        };
        fields.extend(
            more.into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
    }
    event_line(&EventLine {
        kind: e.kind.clone(),
        object: e.object.clone(),
        fields,
    })
}

/// `--timestamps`: drbdsetup's `2026-12-08T02:59:00.123456+00:00` (UTC).
pub fn timestamp(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// The text line (with its newline).
pub fn event_line(e: &EventLine) -> String {
    let mut out = format!("{} {}", e.kind, e.object);
    for (k, v) in &e.fields {
        out.push(' ');
        out.push_str(k);
        out.push(':');
        out.extend(v.chars().map(|c| if c.is_whitespace() { '_' } else { c }));
    }
    out.push('\n');
    out
}

/// Whether this line ends the initial state dump (`exists -`).
pub fn ends_initial_state(e: &EventLine) -> bool {
    e.kind == "exists" && e.object == "-"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: &str, object: &str, fields: &[(&str, &str)]) -> EventLine {
        EventLine {
            kind: kind.into(),
            object: object.into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn lines_read_like_events2() {
        let e = line("exists", "resource", &[("name", "r0"), ("role", "Primary")]);
        assert_eq!(event_line(&e), "exists resource name:r0 role:Primary\n");
        let e = line(
            "change",
            "peer-device",
            &[("name", "r0"), ("replication", "SyncSource")],
        );
        assert_eq!(
            event_line(&e),
            "change peer-device name:r0 replication:SyncSource\n"
        );
        let end = line("exists", "-", &[]);
        assert_eq!(event_line(&end), "exists -\n");
        assert!(ends_initial_state(&end) && !ends_initial_state(&e));
    }

    #[test]
    fn drbdsetup_identifying_fields_are_added() {
        let ids = Ids {
            peer_node_id: 1,
            minor: 7,
        };
        let e = line(
            "exists",
            "connection",
            &[
                ("name", "r0"),
                ("peer-node", "bob"),
                ("connection", "Connected"),
            ],
        );
        assert_eq!(
            event_line_drbd(&e, &ids, None),
            "exists connection name:r0 peer-node-id:1 conn-name:bob peer-node:bob connection:Connected\n"
        );
        let e = line("change", "device", &[("name", "r0"), ("disk", "UpToDate")]);
        assert_eq!(
            event_line_drbd(&e, &ids, None),
            "change device name:r0 volume:0 minor:7 disk:UpToDate\n"
        );
        let e = line(
            "exists",
            "peer-device",
            &[
                ("name", "r0"),
                ("peer-node", "bob"),
                ("peer-disk", "UpToDate"),
            ],
        );
        assert_eq!(
            event_line_drbd(&e, &ids, None),
            "exists peer-device name:r0 peer-node-id:1 conn-name:bob volume:0 peer-node:bob peer-disk:UpToDate\n"
        );
        let e = line("exists", "resource", &[("name", "r0"), ("role", "Primary")]);
        assert_eq!(
            event_line_drbd(&e, &ids, None),
            "exists resource name:r0 role:Primary\n"
        );
    }

    #[test]
    fn timestamps_read_like_drbdsetup() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_796_698_740_123_456);
        assert_eq!(timestamp(t), "2026-12-08T02:59:00.123456+00:00");
        assert_eq!(
            timestamp(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000+00:00"
        );
        let leap = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.000000+00:00");
    }

    #[test]
    fn spaces_in_values_do_not_split_fields() {
        let e = line("call", "helper", &[("cmd", "fence peer")]);
        assert_eq!(event_line(&e), "call helper cmd:fence_peer\n");
    }
}
