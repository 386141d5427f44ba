//! Every folder of `cib-examples/` is a Heartbeat configuration with the
//! outputs haresources2cib made from it. These tests regenerate them and
//! hand them to the real consumers: crm_verify, crmsh, corosync and the
//! Pacemaker scheduler (crm_simulate).

mod cib_support;

use std::path::Path;
use std::process::Command;

use cib_support::*;
use shimai_tests::{have_program, TempDir};

fn generated(dir: &Path) -> (String, String, String, String) {
    let tmp = TempDir::new("cibgen");
    let xml = command(dir, &["-f", "xml"]).output().unwrap();
    let warnings = String::from_utf8_lossy(&xml.stderr).into_owned();
    let xml = ok(&xml, &format!("{}: haresources2cib -f xml", name(dir)));
    let cs = tmp.join("corosync.conf");
    let crm = command(dir, &["-f", "crm", "--corosync", cs.to_str().unwrap()])
        .output()
        .unwrap();
    let crm = ok(&crm, &format!("{}: haresources2cib -f crm", name(dir)));
    let corosync = std::fs::read_to_string(&cs).unwrap();
    (xml, crm, corosync, warnings)
}

#[test]
fn outputs_regenerate_byte_for_byte() {
    let all = examples();
    assert!(
        all.len() >= 14,
        "expected at least 14 examples, found {}",
        all.len()
    );
    for dir in all {
        let (xml, crm, corosync, warnings) = generated(&dir);
        golden(&dir.join("cib.xml"), &xml);
        golden(&dir.join("cluster.crm"), &crm);
        golden(&dir.join("corosync.conf"), &corosync);
        golden(&dir.join("warnings.txt"), &warnings);
        let again = generated(&dir);
        assert_eq!(
            (xml, crm, corosync, warnings),
            again,
            "{}: output is not deterministic",
            name(&dir)
        );
    }
}

/// crm_verify exits 0 only when there is neither error nor warning. With
/// fence devices and no status section it warns that unseen nodes will be
/// fenced, so those CIBs get a simulated membership first (the workaround
/// the reference notes record).
#[test]
fn crm_verify_accepts_every_cib() {
    if !have_program("crm_verify_accepts_every_cib", "crm_verify") {
        return;
    }
    for dir in examples() {
        let cib = dir.join("cib.xml");
        let text = std::fs::read_to_string(&cib).unwrap();
        let tmp = TempDir::new("cibverify");
        let file = tmp.join("cib.xml");
        std::fs::write(&file, &text).unwrap();
        if text.contains(r#"name="stonith-enabled" value="true""#) {
            let mut args = vec![
                "-x".to_string(),
                file.display().to_string(),
                "-q".into(),
                "1".into(),
                "-X".into(),
            ];
            for n in nodes(&parse(&text)) {
                args.extend(["-u".into(), n]);
            }
            let out = shimai_tests::run(Command::new("crm_simulate").args(&args));
            ok(&out, "crm_simulate");
        }
        let out = shimai_tests::run(Command::new("crm_verify").arg("-V").arg("-x").arg(&file));
        assert!(
            out.status.success(),
            "{}: crm_verify rejects cib.xml ({}):\n{}",
            name(&dir),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `crm configure load update` of the crm text into an empty CIB must give
/// the configuration of the XML. `-F`: crmsh checks agents' meta-data
/// locally, and shimai's agents or systemd units may not be installed here.
#[test]
fn crm_text_loads_to_the_same_configuration() {
    if !have_program("crm_text_loads", "crm") || !have_program("crm_text_loads", "cibadmin") {
        return;
    }
    for dir in examples() {
        let ours = std::fs::read_to_string(dir.join("cib.xml")).unwrap();
        crmsh_loads_the_same(&name(&dir), &["update"], &dir.join("cluster.crm"), &ours);
    }
}

/// `corosync -t` accepts every corosync.conf (see `corosync_accepts` for
/// what it needs).
#[test]
fn corosync_accepts_every_corosync_conf() {
    if !have_program("corosync_accepts", "corosync") {
        return;
    }
    for dir in examples() {
        let text = std::fs::read_to_string(dir.join("corosync.conf")).unwrap();
        corosync_accepts(&name(&dir), &text);
    }
}

/// The scheduler, with every node up, DRBD able to promote everywhere and
/// ping nodes reachable, must put each group on its haresources node, and
/// DRBD's Primary with it.
#[test]
fn simulation_places_groups_on_their_preferred_nodes() {
    if !have_program("simulation", "crm_simulate") || !have_program("simulation", "crm_attribute") {
        return;
    }
    for dir in examples() {
        let text = std::fs::read_to_string(dir.join("cib.xml")).unwrap();
        let cib = parse(&text);
        let tmp = TempDir::new("cibsim");
        let file = tmp.join("sim.xml");
        std::fs::write(&file, &text).unwrap();
        let nodes = nodes(&cib);
        let mut up = vec![
            "-x".to_string(),
            file.display().to_string(),
            "-q".into(),
            "1".into(),
            "-X".into(),
        ];
        for n in &nodes {
            up.extend(["-u".into(), n.clone()]);
        }
        ok(
            &shimai_tests::run(Command::new("crm_simulate").args(&up)),
            "crm_simulate -X",
        );
        let all = cib.all();
        let mut attributes: Vec<(String, &str)> = all
            .iter()
            .filter(|e| e.name == "primitive" && e.get("type") == Some("drbd"))
            .map(|e| (format!("master-{}", e.get("id").unwrap()), "10000"))
            .collect();
        attributes.extend(
            all.iter()
                .filter(|e| e.name == "expression" && e.get("attribute") != Some("#uname"))
                .map(|e| (e.get("attribute").unwrap().to_string(), "1000")),
        );
        for (attr, value) in &attributes {
            for n in &nodes {
                let out = run_in(
                    tmp.path(),
                    "crm_attribute",
                    &["-N", n, "-n", attr, "-v", value, "-l", "reboot"],
                    &[("CIB_file", &file)],
                );
                ok(&out, "crm_attribute");
            }
        }
        let sim = ok(
            &shimai_tests::run(
                Command::new("crm_simulate")
                    .arg("-x")
                    .arg(&file)
                    .args(["-S", "-q", "1"]),
            ),
            "crm_simulate -S",
        );
        let revised = sim
            .split("Revised Cluster Status")
            .nth(1)
            .unwrap_or_else(|| panic!("{}: no revised status in\n{sim}", name(&dir)));
        for loc in all
            .iter()
            .filter(|e| e.name == "rsc_location" && e.get("score") == Some("100"))
        {
            let (rsc, node) = (loc.get("rsc").unwrap(), loc.get("node").unwrap());
            if let Some(group) = all
                .iter()
                .find(|e| e.name == "group" && e.get("id") == Some(rsc))
            {
                for m in &group.children {
                    let id = m.get("id").unwrap();
                    let started = revised.lines().any(|l| {
                        l.contains(&format!("* {id}\t")) && l.ends_with(&format!("Started {node}"))
                    });
                    assert!(
                        started,
                        "{}: {id} of {rsc} is not started on {node}:\n{revised}",
                        name(&dir)
                    );
                }
                for col in all
                    .iter()
                    .filter(|e| e.name == "rsc_colocation" && e.get("rsc") == Some(rsc))
                {
                    promoted_on(&dir, revised, col.get("with-rsc").unwrap(), node);
                }
            } else if loc.get("role") == Some("Promoted") {
                promoted_on(&dir, revised, rsc, node);
            }
        }
    }
}

fn promoted_on(dir: &Path, revised: &str, clone: &str, node: &str) {
    let after = revised
        .split(&format!("Clone Set: {clone} "))
        .nth(1)
        .unwrap_or_else(|| panic!("{}: clone {clone} missing:\n{revised}", name(dir)));
    let promoted = after
        .lines()
        .find(|l| l.contains("Promoted: ["))
        .unwrap_or("");
    assert!(
        promoted.contains(&format!(" {node} ")),
        "{}: {clone} is not promoted on {node}:\n{revised}",
        name(dir)
    );
}
