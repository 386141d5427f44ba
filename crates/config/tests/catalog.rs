//! The whole drbd.conf option catalogue (issue 14): every option each block
//! accepts is written once, in its block, and must parse; then it is either
//! acted on (per `shimai_config::option_table`) and not warned about, or
//! warned about exactly once at its file:line with what shimai does
//! instead. Plus the checks around it: `resync-after` naming no resource is
//! an error at its place, DRBD Proxy sections in the user guide's form
//! parse with a warning that shimai connects directly.

use shimai_config::{option_table, parse_str_with, Effect, MemFs, Parsed};

/// Values tried in turn until the option accepts one.
const CANDIDATES: &[&str] = &[
    "10",
    "100",
    "2048",
    "C",
    "disconnect",
    "detach",
    "dont-care",
    "block",
    "off",
    "suspend-io",
    "auto",
    "no",
    "sha256",
    "r0",
    "\"/bin/true\"",
    "prefer-local",
    "io-error",
    "reconnect",
    "tcp",
    "a",
    "1",
];

/// The option on line 3 of a valid two-node file.
fn file(block: &str, statement: &str) -> String {
    let hosts = "  on a { device /dev/drbd0; disk /dev/sda1; address 10.0.0.1:7788; meta-disk internal; }\n  \
                 on b { device /dev/drbd0; disk /dev/sda1; address 10.0.0.2:7788; meta-disk internal; }\n";
    if block == "global" {
        format!("# catalogue\nglobal {{\n  {statement}\n}}\nresource r0 {{\n{hosts}}}\n")
    } else {
        // Fencing on: after-resync-target is then run (see below).
        format!(
            "# catalogue\nresource r0 {{\n  {block} {{ {statement} }}\n  net {{ fencing resource-only; }}\n{hosts}}}\n"
        )
    }
}

fn parse(text: &str) -> Result<Parsed, String> {
    parse_str_with(text, "cat.conf", &MemFs::new()).map_err(|e| e.to_string())
}

/// The option written bare, else with the first value it accepts.
fn written(block: &str, word: &str) -> (String, Parsed) {
    let mut tried = Vec::new();
    for statement in
        std::iter::once(format!("{word};")).chain(CANDIDATES.iter().map(|v| format!("{word} {v};")))
    {
        match parse(&file(block, &statement)) {
            Ok(p) => return (statement, p),
            Err(e) => tried.push(e),
        }
    }
    panic!("'{word}' in '{block}' parses with none of the candidate values: {tried:#?}");
}

#[test]
fn every_option_is_acted_on_or_warned_about_once() {
    let table = option_table();
    assert!(table.len() > 100, "{} options", table.len());
    let mut counts = [0usize; 4];
    for (block, word, effect) in &table {
        let (statement, parsed) = written(block, word);
        let about: Vec<String> = parsed
            .warnings
            .iter()
            .filter(|w| w.message.starts_with(&format!("'{word}'")))
            .map(|w| w.to_string())
            .collect();
        // Nothing else in the file is warned about.
        assert_eq!(
            about.len(),
            parsed.warnings.len(),
            "{block} {{ {statement} }}: {:?}",
            parsed.warnings
        );
        match effect {
            Effect::Acted(_) => {
                counts[0] += 1;
                assert!(
                    about.is_empty(),
                    "{block} {{ {statement} }} is acted on: {about:?}"
                );
            }
            Effect::Instead(instead) => {
                counts[1] += 1;
                assert_eq!(about.len(), 1, "{block} {{ {statement} }}: {about:?}");
                assert!(about[0].starts_with("cat.conf:3:"), "{about:?}");
                assert!(
                    about[0].contains("not implemented by shimai: ") && about[0].contains(instead),
                    "{about:?}"
                );
            }
            Effect::NotYet(meanwhile) => {
                counts[2] += 1;
                assert_eq!(about.len(), 1, "{block} {{ {statement} }}: {about:?}");
                assert!(about[0].starts_with("cat.conf:3:"), "{about:?}");
                assert!(
                    about[0].contains("not implemented by this shimai yet")
                        && about[0].contains(meanwhile),
                    "{about:?}"
                );
            }
            Effect::Obsolete(what) => {
                counts[3] += 1;
                assert_eq!(about.len(), 1, "{block} {{ {statement} }}: {about:?}");
                assert!(
                    about[0].contains(what) && about[0].contains("obsolete"),
                    "{about:?}"
                );
            }
        }
    }
    assert!(counts.iter().all(|c| *c > 0), "{counts:?}");
}

fn effect_of(block: &str, word: &str) -> Effect {
    option_table()
        .into_iter()
        .find(|(b, w, _)| *b == block && *w == word)
        .map(|(.., e)| e)
        .unwrap_or_else(|| panic!("{block} {word} is not in the table"))
}

#[test]
fn the_table_says_what_the_daemon_does() {
    // What the engine acts on is not warned about.
    for (block, word) in [
        ("net", "max-buffers"),
        ("net", "sndbuf-size"),
        ("net", "ko-count"),
        ("net", "ping-int"),
        ("net", "ping-timeout"),
        ("net", "timeout"),
        ("disk", "c-plan-ahead"),
        ("disk", "c-fill-target"),
        ("disk", "c-delay-target"),
        ("disk", "c-max-rate"),
        ("disk", "c-min-rate"),
        ("disk", "resync-rate"),
        ("syncer", "rate"),
        ("disk", "on-io-error"),
        ("handlers", "local-io-error"),
        ("handlers", "fence-peer"),
        ("handlers", "split-brain"),
        ("disk", "disk-flushes"),
        ("disk", "no-disk-flushes"),
        ("disk", "md-flushes"),
    ] {
        assert!(
            matches!(effect_of(block, word), Effect::Acted(_)),
            "{block} {word}"
        );
    }
    // What the issue found silently ignored is warned about.
    for (block, word) in [
        ("handlers", "before-resync-target"),
        ("handlers", "pri-on-incon-degr"),
        ("handlers", "before-resync-source"),
        ("options", "quorum"),
        ("options", "on-no-quorum"),
        ("disk", "resync-after"),
        ("syncer", "after"),
    ] {
        assert!(
            matches!(effect_of(block, word), Effect::Instead(_)),
            "{block} {word}"
        );
    }
    // The WAN work's options say they are not implemented yet.
    for (block, word) in [
        ("net", "csums-alg"),
        ("syncer", "csums-alg"),
        ("net", "data-integrity-alg"),
        ("net", "on-congestion"),
        ("net", "congestion-fill"),
        ("net", "congestion-extents"),
    ] {
        assert!(
            matches!(effect_of(block, word), Effect::NotYet(_)),
            "{block} {word}"
        );
    }
}

#[test]
fn after_resync_target_without_fencing_is_warned_about() {
    let text = |fencing: &str| {
        format!(
            "common {{\n  handlers {{ after-resync-target \"/bin/true\"; }}\n}}\n\
             resource r0 {{\n  {fencing}\n  \
             on a {{ device /dev/drbd0; disk /dev/sda1; address 10.0.0.1:7788; }}\n  \
             on b {{ device /dev/drbd0; disk /dev/sda1; address 10.0.0.2:7788; }}\n}}\n"
        )
    };
    let parsed = parse(&text("")).unwrap();
    let messages: Vec<String> = parsed.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with(
            "cat.conf:2:14: warning: 'after-resync-target' is run by shimai only with fencing"
        ),
        "{messages:?}"
    );
    assert!(parse(&text("disk { fencing resource-only; }"))
        .unwrap()
        .warnings
        .is_empty());
    // Written in the resource itself.
    let own = text("handlers { after-resync-target \"/bin/false\"; }");
    let parsed = parse(&own).unwrap();
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert_eq!(parsed.warnings[0].at.line, 5);
}

#[test]
fn resync_after_must_name_a_resource() {
    let text =
        "resource r0 {\n  on a { device /dev/drbd0; disk /dev/sda1; address 10.0.0.1:7788; }\n  \
                on b { device /dev/drbd0; disk /dev/sda1; address 10.0.0.2:7788; }\n}\n\
                resource r1 {\n  syncer { after r9; }\n  \
                on a { device /dev/drbd1; disk /dev/sda2; address 10.0.0.1:7789; }\n  \
                on b { device /dev/drbd1; disk /dev/sda2; address 10.0.0.2:7789; }\n}\n";
    let e = parse(text).unwrap_err();
    assert!(e.starts_with("cat.conf:6:12:"), "{e}");
    assert!(
        e.contains("no resource named 'r9'") && e.contains("r0, r1"),
        "{e}"
    );
    let ok = parse(&text.replace("after r9", "after r0")).unwrap();
    assert_eq!(
        ok.config.resources[1].disk.resync_after.as_deref(),
        Some("r0")
    );
    // DRBD 9's RES/VOLUME form.
    let e =
        parse(&text.replace("syncer { after r9; }", "disk { resync-after r8/0; }")).unwrap_err();
    assert!(e.contains("no resource named 'r8'"), "{e}");
}

#[test]
fn drbd_proxy_sections_parse_and_say_shimai_connects_directly() {
    // The DRBD user guide's form (§ "Using DRBD Proxy").
    let text =
        "resource r0 {\n  proxy {\n    memlimit 100M;\n    plugin { zlib level 9; }\n  }\n  \
                on alice {\n    device /dev/drbd0; disk /dev/sda1; meta-disk internal;\n    \
                address 127.0.0.1:7789;\n    proxy on alice {\n      inside 127.0.0.1:7788;\n      \
                outside 192.168.23.1:7788;\n    }\n  }\n  \
                on bob {\n    device /dev/drbd0; disk /dev/sda1; meta-disk internal;\n    \
                address 127.0.0.1:7789;\n    proxy on bob {\n      inside 127.0.0.1:7788;\n      \
                outside 192.168.23.2:7788;\n    }\n  }\n}\n";
    let parsed = parse(text).unwrap();
    let messages: Vec<String> = parsed.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages[0].starts_with("cat.conf:2:3:"), "{messages:?}");
    assert!(messages[1].starts_with("cat.conf:9:5:"), "{messages:?}");
    assert!(
        messages
            .iter()
            .all(|m| m.contains("shimai connects directly")),
        "{messages:?}"
    );
    let hosts = &parsed.config.resources[0].hosts;
    assert_eq!(hosts.len(), 2);
    // No proxy runs: the pair replicates between the outside addresses.
    assert_eq!(
        hosts[0].address.as_ref().unwrap().to_string(),
        "192.168.23.1:7788"
    );
    assert_eq!(
        hosts[1].address.as_ref().unwrap().to_string(),
        "192.168.23.2:7788"
    );
    let proxy = hosts[1].proxy.as_ref().unwrap();
    assert_eq!(proxy.names, ["bob"]);
    assert_eq!(proxy.inside.to_string(), "127.0.0.1:7788");
    assert_eq!(
        proxy.address.as_ref().unwrap().to_string(),
        "127.0.0.1:7789"
    );
    // The dump writes the section back and parses to the same model.
    let dump = parsed.config.dump();
    assert!(dump.contains("proxy on alice {"), "{dump}");
    assert_eq!(parse(&dump).unwrap().config, parsed.config, "{dump}");
    // Both addresses are needed.
    let e = parse(&text.replace("outside 192.168.23.2:7788;", "")).unwrap_err();
    assert!(e.contains("needs both 'inside' and 'outside'"), "{e}");
}
