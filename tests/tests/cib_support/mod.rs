//! Helpers for the haresources2cib suites: the examples, a small reader of
//! CIB XML (the tests crate has no XML dependency, and CIBs are simple:
//! elements, attributes, comments), and the offline Pacemaker/Corosync
//! checks the reference notes describe.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `validate-with` the goldens are made with (the installed Pacemaker
/// may be newer; the schema option keeps the bytes stable).
pub const SCHEMA: &str = "pacemaker-3.9";

/// All example folders (those with a haresources file), sorted.
pub fn examples() -> Vec<PathBuf> {
    let dir = shimai_tests::workspace().join("cib-examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("haresources").is_file())
        .collect();
    v.sort();
    v
}

/// The Heartbeat 2 cib.xml folders (those with an old-cib.xml), sorted.
pub fn upgrade_examples() -> Vec<PathBuf> {
    let dir = shimai_tests::workspace().join("cib-examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("old-cib.xml").is_file())
        .collect();
    v.sort();
    v
}

/// Loads `xml_or_crm` into an empty CIB with crmsh (`-F`: crmsh checks
/// agents' meta-data locally, and shimai's agents or systemd units may not
/// be installed here) and asserts that the result has the configuration of
/// `ours`.
pub fn crmsh_loads_the_same(what: &str, load: &[&str], file: &Path, ours: &str) {
    let tmp = shimai_tests::TempDir::new("cibcrm");
    let empty = shimai_tests::run(Command::new("cibadmin").arg("--empty"));
    let cib = tmp.join("cib.xml");
    std::fs::write(&cib, ok(&empty, "cibadmin --empty")).unwrap();
    let mut args = vec!["-F", "configure", "load"];
    args.extend(load);
    let f = file.to_str().unwrap();
    args.push(f);
    let out = run_in(tmp.path(), "crm", &args, &[("CIB_file", &cib)]);
    ok(&out, &format!("{what}: crm {}", args.join(" ")));
    let loaded = normalized(&std::fs::read_to_string(&cib).unwrap());
    let ours = normalized(ours);
    let only_crm: Vec<_> = loaded.iter().filter(|l| !ours.contains(l)).collect();
    let only_xml: Vec<_> = ours.iter().filter(|l| !loaded.contains(l)).collect();
    assert!(
        only_crm.is_empty() && only_xml.is_empty(),
        "{what}: crmsh's configuration and ours differ\nonly after crm load:\n  {}\nonly in ours:\n  {}",
        only_crm
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        only_xml
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// `corosync -t` parses a corosync.conf and exits. It needs the key file
/// and the local host in the nodelist, so the keyfile is pointed at a fresh
/// key and the first node gets this machine's name and loopback addresses.
pub fn corosync_accepts(what: &str, text: &str) {
    let host = shimai_tests::sh("uname -n").trim().to_string();
    let tmp = shimai_tests::TempDir::new("cibcs");
    let key = tmp.join("authkey");
    let bytes = shimai_tests::run(Command::new("head").args(["-c", "256", "/dev/urandom"])).stdout;
    std::fs::write(&key, bytes).unwrap();
    let mut node = 0;
    let mut conf = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        let fixed = if t.starts_with("keyfile:") {
            format!("    keyfile: {}", key.display())
        } else if t.starts_with("nodeid:") {
            node += 1;
            line.to_string()
        } else if t.starts_with("name:") && node == 0 && text.contains("nodelist") {
            format!("        name: {host}")
        } else if let Some(rest) = t.strip_prefix("ring") {
            let link: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            format!("        ring{link}_addr: 127.0.{link}.{node}")
        } else {
            line.to_string()
        };
        conf.push_str(&fixed);
        conf.push('\n');
    }
    let file = tmp.join("corosync.conf");
    std::fs::write(&file, &conf).unwrap();
    let out = shimai_tests::run(Command::new("corosync").arg("-t").arg("-c").arg(&file));
    assert!(
        out.status.success(),
        "{what}: corosync -t rejects corosync.conf ({}):\n{}{}\n{conf}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// The command line an example is generated with (run in its folder).
pub fn command(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(shimai_tests::bin("haresources2cib"));
    cmd.current_dir(dir);
    cmd.args(["--schema", SCHEMA, "--root"])
        .arg(dir.join("root"));
    if dir.join("ha.cf").is_file() {
        cmd.args(["-c", "ha.cf"]);
    }
    if let Ok(args) = std::fs::read_to_string(dir.join("args")) {
        cmd.args(args.lines().filter(|l| !l.is_empty()));
    }
    cmd.args(extra);
    cmd.arg("haresources");
    cmd
}

pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Compares with a golden file, or rewrites it when SHIMAI_BLESS=1.
pub fn golden(path: &Path, actual: &str) {
    if std::env::var("SHIMAI_BLESS").as_deref() == Ok("1") {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (SHIMAI_BLESS=1 creates it)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or(expected.lines().count().min(actual.lines().count()) + 1);
        panic!(
            "{} differs from the regenerated output from line {line}; review, then SHIMAI_BLESS=1 to accept\n--- golden\n{}\n--- now\n{}",
            path.display(),
            expected.lines().nth(line - 1).unwrap_or("<end>"),
            actual.lines().nth(line - 1).unwrap_or("<end>")
        );
    }
}

/// One XML element.
#[derive(Debug, Clone, Default)]
pub struct El {
    pub name: String,
    pub attrs: BTreeMap<String, String>,
    pub children: Vec<El>,
}

impl El {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).map(String::as_str)
    }
    /// Every element below (depth first, document order).
    pub fn all(&self) -> Vec<&El> {
        let mut v = Vec::new();
        for c in &self.children {
            v.push(c);
            v.extend(c.all());
        }
        v
    }
    pub fn find(&self, name: &str) -> Option<&El> {
        self.all().into_iter().find(|e| e.name == name)
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Parses CIB-shaped XML (no CDATA, no DTD). Panics on malformed input:
/// these are test fixtures produced by tools.
pub fn parse(xml: &str) -> El {
    let mut stack = vec![El::default()];
    let mut rest = xml;
    while let Some(at) = rest.find('<') {
        rest = &rest[at..];
        if let Some(r) = rest.strip_prefix("<!--") {
            let end = r.find("-->").expect("unterminated comment");
            rest = &r[end + 3..];
            continue;
        }
        let end = rest.find('>').expect("unterminated tag");
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if tag.starts_with('/') {
            let done = stack.pop().expect("unbalanced");
            stack.last_mut().expect("unbalanced").children.push(done);
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let mut el = El {
            name: tag[..name_end].to_string(),
            ..El::default()
        };
        let mut a = &tag[name_end..];
        while let Some(eq) = a.find('=') {
            let key = a[..eq].trim().to_string();
            let after = a[eq + 1..].trim_start();
            let quote = after.chars().next().expect("attribute value");
            let close = after[1..].find(quote).expect("unterminated value") + 1;
            el.attrs.insert(key, unescape(&after[1..close]));
            a = &after[close + 1..];
        }
        if self_closing {
            stack.last_mut().unwrap().children.push(el);
        } else {
            stack.push(el);
        }
    }
    assert_eq!(stack.len(), 1, "unbalanced XML");
    stack
        .pop()
        .unwrap()
        .children
        .into_iter()
        .next()
        .expect("no root element")
}

/// The configuration as a sorted list of lines, one per element, that
/// ignores what legitimately differs between writers: attribute order,
/// comments, whitespace and the ids of nested sets, ops and rules (crmsh
/// names those itself). Group member order is kept.
pub fn normalized(xml: &str) -> Vec<String> {
    let root = parse(xml);
    let conf = root.find("configuration").expect("no <configuration>");
    let mut lines = Vec::new();
    walk(conf, "", &mut lines);
    lines.sort();
    lines
}

fn walk(el: &El, path: &str, out: &mut Vec<String>) {
    let anonymous = [
        "nvpair",
        "op",
        "instance_attributes",
        "meta_attributes",
        "rule",
        "expression",
        "operations",
    ];
    let mut position = 0;
    for c in &el.children {
        let mut attrs = c.attrs.clone();
        if anonymous.contains(&c.name.as_str()) {
            attrs.remove("id");
        }
        let mut me = c.name.clone();
        if el.name == "group" && c.name == "primitive" {
            position += 1;
            me = format!("{}[{position}]", c.name);
        }
        let shown: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let line = format!("{path}/{me}({})", shown.join(" "));
        out.push(line.clone());
        let key = match c.get("id") {
            Some(id) if !anonymous.contains(&c.name.as_str()) => format!("{path}/{}#{id}", c.name),
            _ => line,
        };
        walk(c, &key, out);
    }
}

/// Node names of a CIB, in order.
pub fn nodes(cib: &El) -> Vec<String> {
    cib.all()
        .into_iter()
        .filter(|e| e.name == "node" && e.get("uname").is_some())
        .map(|e| e.get("uname").unwrap().to_string())
        .collect()
}

pub fn run_in(dir: &Path, program: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    shimai_tests::run(&mut cmd)
}
