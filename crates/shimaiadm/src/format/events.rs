//! One line of `shimaiadm events`, in the layout of `drbdsetup events2`:
//! `<action> <object> key:value ...`, and `exists -` after the initial
//! state. Tools written for events2 (drbd-reactor style parsers, `grep`
//! in scripts) split on spaces and colons, so values must not contain
//! spaces: any whitespace in a value is replaced by `_`.

use shimaid::control::EventLine;

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
    fn spaces_in_values_do_not_split_fields() {
        let e = line("call", "helper", &[("cmd", "fence peer")]);
        assert_eq!(event_line(&e), "call helper cmd:fence_peer\n");
    }
}
