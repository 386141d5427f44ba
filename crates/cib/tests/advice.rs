//! The built-in table of advised timeouts against the agents installed
//! here: on Debian 12 (resource-agents 4.12, Pacemaker 2.1) every entry
//! must equal what the agent's own meta-data says. The table is built in so
//! that conversions do not depend on the converting machine; this test is
//! what keeps it honest.

use std::path::Path;
use std::process::Command;

use shimai_cib::mapping::{Advice, ADVISED};

const OCF_ROOT: &str = "/usr/lib/ocf";

/// `timeout` (and `interval`) of the first `<action name="NAME"` line.
fn action(meta: &str, name: &str) -> Option<(u32, Option<u32>)> {
    let line = meta
        .lines()
        .find(|l| l.contains(&format!("<action name=\"{name}\"")))?;
    let line = line.replace('\t', " ");
    let attr = |a: &str| -> Option<u32> {
        let at = line.find(&format!(" {a}=\""))? + a.len() + 3;
        let rest = &line[at..];
        let v = &rest[..rest.find('"')?];
        v.trim_end_matches('s').parse().ok()
    };
    Some((attr("timeout")?, attr("interval")))
}

#[test]
fn advised_timeouts_are_the_installed_agents_meta_data() {
    if !Path::new(OCF_ROOT)
        .join("resource.d/heartbeat/IPaddr2")
        .is_file()
    {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "resource-agents is not installed (scripts/test installs it)"
        );
        eprintln!("*** SKIPPED: resource-agents not installed ***");
        return;
    }
    let mut wrong = Vec::new();
    for (kind, advice) in ADVISED {
        let provider = if *kind == "ping" {
            "pacemaker"
        } else {
            "heartbeat"
        };
        let agent = Path::new(OCF_ROOT).join(format!("resource.d/{provider}/{kind}"));
        let out = Command::new(&agent)
            .arg("meta-data")
            .env("OCF_ROOT", OCF_ROOT)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", agent.display()));
        let meta = String::from_utf8_lossy(&out.stdout);
        let found = (|| {
            let (start, _) = action(&meta, "start")?;
            let (stop, _) = action(&meta, "stop")?;
            let (monitor, interval) = action(&meta, "monitor")?;
            Some(Advice {
                start,
                stop,
                monitor_interval: interval?,
                monitor,
            })
        })();
        if found != Some(*advice) {
            wrong.push(format!("{kind}: table {advice:?}, installed {found:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "the advised-timeout table (resource-agents 4.12) differs from the installed agents:\n{}",
        wrong.join("\n")
    );
}
