//! IPaddr2 meta-data: valid for both schemas, the same parameters, defaults
//! and actions as resource-agents 4.12, and documented in
//! `docs/agents/IPaddr2.md` exactly as the agent declares them.

mod ipaddr2_support;

use ipaddr2_support::ours;
use shimai_tests::{have_program, meta_data, reference_agent, workspace, xmllint};

/// (name, default) of every `<parameter>`, in order; a missing default is "".
fn params(xml: &str) -> Vec<(String, String)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].to_string())
    };
    xml.split("<parameter ")
        .skip(1)
        .map(|p| {
            let head = &p[..p.find('>').unwrap()];
            let content = p
                .find("<content")
                .map(|i| &p[i..i + p[i..].find('>').unwrap()]);
            (
                attr(head, "name").unwrap(),
                content.and_then(|c| attr(c, "default")).unwrap_or_default(),
            )
        })
        .collect()
}

/// Every `<action .../>` line, whitespace-normalised and attributes sorted.
fn actions(xml: &str) -> Vec<String> {
    xml.lines()
        .filter(|l| l.trim_start().starts_with("<action "))
        .map(|l| {
            let mut attrs: Vec<&str> = l
                .trim()
                .trim_start_matches("<action")
                .trim_end_matches("/>")
                .split_whitespace()
                .collect();
            attrs.sort_unstable();
            attrs.join(" ")
        })
        .collect()
}

#[test]
fn ipaddr2_meta_data_is_valid() {
    if !have_program("ipaddr2_meta_data_is_valid", "xmllint") {
        return;
    }
    let xml = meta_data(&ours());
    let (ok, err) = xmllint(&["--noout", "--valid"], &xml);
    assert!(ok, "ra-api-1.dtd: {err}");
    let (ok, err) = xmllint(&["--noout", "--relaxng", "metadata.rng"], &xml);
    assert!(ok, "metadata.rng: {err}");
    assert!(xml.contains("<resource-agent name=\"IPaddr2\""));
}

#[test]
fn ipaddr2_meta_data_matches_reference() {
    let reference = reference_agent("IPaddr2");
    if !reference.is_file() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "resource-agents missing"
        );
        eprintln!("*** SKIPPED: resource-agents is not installed ***");
        return;
    }
    let theirs = meta_data(&reference);
    let mine = meta_data(&ours());
    assert_eq!(params(&mine), params(&theirs));
    assert_eq!(actions(&mine), actions(&theirs));
    assert_eq!(params(&mine).len(), 23);
}

#[test]
fn ipaddr2_docs_list_every_parameter_and_default() {
    let doc = std::fs::read_to_string(workspace().join("docs/agents/IPaddr2.md"))
        .expect("docs/agents/IPaddr2.md");
    // Rows of the parameter table: | `name` | `default` or (empty) | meaning |
    let section = doc
        .split("## Parameters")
        .nth(1)
        .expect("a '## Parameters' section")
        .split("\n## ")
        .next()
        .unwrap();
    let rows: Vec<(String, String)> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let unquote = |c: &str| c.trim_matches('`').to_string();
            let default = if cells[2] == "(empty)" {
                String::new()
            } else {
                unquote(cells[2])
            };
            (unquote(cells[1]), default)
        })
        .collect();
    assert_eq!(rows, params(&meta_data(&ours())));
}
