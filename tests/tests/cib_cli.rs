//! haresources2cib's command line: what a user sees when an input is wrong,
//! when an output exists, and when upgrading a Heartbeat 2 cib.xml.

mod cib_support;

use std::path::Path;
use std::process::{Command, Output};

use cib_support::*;
use shimai_tests::{have_program, TempDir};

fn h2c(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(shimai_tests::bin("haresources2cib"));
    cmd.current_dir(dir)
        .args(["--schema", SCHEMA, "--root"])
        .arg(dir.join("root"))
        .args(args);
    shimai_tests::run(&mut cmd)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Each malformed input: exit 65, `file:line: what; what to do`, no output.
#[test]
fn bad_input_names_the_line_and_writes_nothing() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "host01 IPaddr2::10.0.0.1\nhost02 Filesystem::::/mnt\n",
            "haresources:2: malformed resource",
            "remove the doubled",
        ),
        (
            "# c\nhost01 IPaddr2::10.0.0.300/24\n",
            "haresources:2: invalid address",
            "four numbers",
        ),
        (
            "host01 IPaddr2::10.0.0.1/40/eth0\n",
            "haresources:1: invalid address",
            "prefix length",
        ),
        (
            "host01 10.1.2.3/24/eth0/10.1.2.255/x\n",
            "haresources:1: invalid address",
            "more than four `/` fields",
        ),
        (
            "host01 10.1.2.3/24/10.1.2.255/eth0\n",
            "haresources:1: invalid address",
            "nothing may",
        ),
        (
            "host01 Filesystem::/dev/sdb1\n",
            "haresources:1: `Filesystem::/dev/sdb1` needs at least 2 argument(s)",
            "Filesystem::DEVICE::DIRECTORY",
        ),
        (
            "host01 portblock::tcp::80\n",
            "haresources:1: `portblock::tcp::80` needs at least 3",
            "block|unblock",
        ),
        (
            "host01 MailTo::a@b::s::extra\n",
            "takes at most 2 argument(s)",
            "MailTo::EMAIL[::SUBJECT]",
        ),
        (
            "a 10.0.0.1 x\n\\\n\nb 10.0.0.1 y\n",
            "haresources:4: resource `10.0.0.1` already starts the group of line 1",
            "make them differ",
        ),
        (
            "host01\n",
            "haresources:1: line names node `host01` but no resource",
            "list the node's resources",
        ),
        (
            "host01 drbddisk\n",
            "haresources:1: `drbddisk` without a resource",
            "--drbd-resource",
        ),
        (
            "# only comments\n\n",
            "no resource group",
            "haresources file",
        ),
    ];
    for (text, what, fix) in cases {
        let tmp = TempDir::new("cibbad");
        std::fs::write(tmp.join("haresources"), text).unwrap();
        let out = h2c(
            tmp.path(),
            &[
                "-o",
                "cib.xml",
                "--corosync",
                "corosync.conf",
                "haresources",
            ],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(65), "{text:?}: {err}");
        assert!(
            err.contains(what) && err.contains(fix),
            "{text:?}: expected `{what}` and `{fix}` in:\n{err}"
        );
        assert!(
            !tmp.join("cib.xml").exists() && !tmp.join("corosync.conf").exists(),
            "{text:?}: wrote output"
        );
        assert!(out.stdout.is_empty());
    }
}

/// A Filesystem without a type on a device this machine cannot probe (the
/// standby node, where the replicated device does not exist) converts, with
/// a warning naming the line, and leaves the type to mount as Heartbeat did.
#[test]
fn filesystem_without_type_is_left_to_mount_with_a_warning() {
    let dir = shimai_tests::TempDir::new("h2c-fstype");
    std::fs::write(
        dir.join("haresources"),
        "host01 Filesystem::/dev/shimai-no-such-disk::/srv\n",
    )
    .unwrap();
    let out = h2c(dir.path(), &["--stdout", "haresources"]);
    let xml = ok(&out, "no fstype");
    let warn = stderr(&out);
    assert!(
        warn.contains("haresources:1:") && warn.contains("--default-fstype"),
        "the warning names the line and the fix: {warn}"
    );
    assert!(xml.contains("value=\"/dev/shimai-no-such-disk\""), "{xml}");
    assert!(
        !xml.contains("name=\"fstype\""),
        "no fstype is invented: {xml}"
    );
}

#[test]
fn bad_ha_cf_names_the_line() {
    let tmp = TempDir::new("cibhacf");
    std::fs::write(tmp.join("haresources"), "host01 IPaddr2::10.0.0.1\n").unwrap();
    std::fs::write(tmp.join("ha.cf"), "node host01 host02\ndeadtime 30s\n").unwrap();
    let out = h2c(tmp.path(), &["-c", "ha.cf", "haresources"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(
        stderr(&out).contains("ha.cf:2: `deadtime 30s`"),
        "{}",
        stderr(&out)
    );
    let out = h2c(tmp.path(), &["-c", "missing.cf", "haresources"]);
    assert_eq!(out.status.code(), Some(66));
    assert!(
        stderr(&out).contains("cannot read missing.cf"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn output_is_not_overwritten_without_force() {
    let tmp = TempDir::new("cibforce");
    std::fs::write(
        tmp.join("haresources"),
        "host01 IPaddr2::10.0.0.1/24/eth0\n",
    )
    .unwrap();
    std::fs::write(tmp.join("cib.xml"), "precious").unwrap();
    let out = h2c(tmp.path(), &["-o", "cib.xml", "haresources"]);
    assert_eq!(out.status.code(), Some(73));
    assert!(
        stderr(&out).contains("cib.xml exists; pass --force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(tmp.join("cib.xml")).unwrap(),
        "precious"
    );
    let out = h2c(tmp.path(), &["-o", "cib.xml", "--force", "haresources"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let xml = std::fs::read_to_string(tmp.join("cib.xml")).unwrap();
    assert!(xml.contains(r#"name="cidr_netmask" value="24""#), "{xml}");
}

/// Without arguments the tool reads /etc/ha.d (under --root here), like
/// the old tool, and finds authkeys beside ha.cf.
#[test]
fn defaults_read_etc_ha_d() {
    let tmp = TempDir::new("cibdefaults");
    let etc = tmp.join("root/etc/ha.d");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(tmp.join("root/etc/init.d")).unwrap();
    std::fs::write(tmp.join("root/etc/init.d/httpd"), "#!/bin/sh\n").unwrap();
    std::fs::write(
        etc.join("haresources"),
        "host01 192.168.1.80 httpd::-DSSL\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("ha.cf"),
        "node host01 host02\nbcast eth1\nauto_failback off\n",
    )
    .unwrap();
    std::fs::write(etc.join("authkeys"), "auth 1\n1 md5 secret\n").unwrap();
    let out = h2c(tmp.path(), &["-f", "crm"]);
    let crm = ok(&out, "haresources2cib -f crm");
    assert!(crm.contains("primitive httpd_2 lsb:httpd"), "{crm}");
    assert!(crm.contains("resource-stickiness=INFINITY"), "{crm}");
    let err = stderr(&out);
    assert!(err.contains("authkeys used md5"), "{err}");
    assert!(err.contains("Heartbeat ran `httpd -DSSL start`"), "{err}");
}

#[test]
fn help_explains_the_options() {
    let out = shimai_tests::run(Command::new(shimai_tests::bin("haresources2cib")).arg("--help"));
    let help = ok(&out, "--help");
    for opt in [
        "--stdout",
        "--config",
        "--no-ocf",
        "--no-monitor",
        "--format",
        "--output",
        "--force",
        "--corosync",
        "--provider",
        "--drbd-provider",
        "--default-fstype",
        "--upgrade-cib",
        "crm_verify",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}:\n{help}");
    }
}

/// Every Heartbeat 2 cib.xml of cib-examples comes out in the current
/// schema: SCENARIOS.md 5's (with the admins' hand edits), one laid out as
/// the DRBD 8.0-8.3 user's guides showed (ocf:heartbeat:drbd master_slave,
/// `score="infinity"`, `to_role="master"`, `clone_max`, the old tool's
/// netmask/nic swap) and one written as Heartbeat 2.1's documentation did
/// (numeric and colon ids, nvpairs without ids, a pingd clone). Each is
/// accepted by crm_verify and loads into crmsh as the same configuration.
#[test]
fn heartbeat2_cibs_are_upgraded() {
    let dirs = upgrade_examples();
    assert!(dirs.len() >= 3, "expected 3 upgrade examples: {dirs:?}");
    let tools = have_program("heartbeat2_cibs_are_upgraded", "crm_verify")
        && have_program("heartbeat2_cibs_are_upgraded", "crm")
        && have_program("heartbeat2_cibs_are_upgraded", "cibadmin");
    for dir in dirs {
        let what = name(&dir);
        let tmp = TempDir::new("cibup");
        let cs = tmp.join("corosync.conf");
        let out = h2c(
            &dir,
            &[
                "--upgrade-cib",
                "old-cib.xml",
                "-c",
                "ha.cf",
                "--corosync",
                cs.to_str().unwrap(),
            ],
        );
        let xml = ok(&out, &format!("{what}: --upgrade-cib"));
        let corosync = std::fs::read_to_string(&cs).unwrap();
        golden(&dir.join("cib.xml"), &xml);
        golden(&dir.join("corosync.conf"), &corosync);
        golden(&dir.join("warnings.txt"), &stderr(&out));
        for gone in [
            "<attributes>",
            r#"class="heartbeat""#,
            "infinity",
            r#"role="master""#,
            "_max\"",
            r#"provider="heartbeat" type="drbd""#,
            r#"type="pingd""#,
            r#"value="eth0"/>"#,
        ] {
            let bad = if gone == r#"value="eth0"/>"# {
                xml.contains(r#"name="cidr_netmask" value="eth0""#)
            } else {
                xml.contains(gone)
            };
            assert!(!bad, "{what}: `{gone}` survived the upgrade:\n{xml}");
        }
        if !tools || !have_program("heartbeat2_cibs_are_upgraded", "corosync") {
            continue;
        }
        corosync_accepts(&what, &corosync);
        let file = tmp.join("cib.xml");
        std::fs::write(&file, &xml).unwrap();
        let v = shimai_tests::run(Command::new("crm_verify").arg("-V").arg("-x").arg(&file));
        assert!(
            v.status.success(),
            "{what}: crm_verify rejects the upgraded cib.xml: {}",
            stderr(&v)
        );
        crmsh_loads_the_same(&what, &["xml", "update"], &file, &xml);
    }
    let dir = shimai_tests::workspace().join("cib-examples/upgrade-heartbeat2");
    let xml = std::fs::read_to_string(dir.join("cib.xml")).unwrap();
    assert!(xml.contains(r#"with-rsc="drbd_r0-clone" with-rsc-role="Promoted""#));
    assert!(xml.contains(r#"name="cidr_netmask" value="24""#));
}

#[test]
fn bad_old_cibs_are_refused_with_the_reason() {
    let dir = shimai_tests::workspace().join("cib-examples/upgrade-heartbeat2");
    let bad = h2c(&dir, &["--upgrade-cib", "haresources-does-not-exist"]);
    assert_eq!(bad.status.code(), Some(66));
    let tmp = TempDir::new("cibbadold");
    let cases = [
        (
            "<cib><configuration></cib>",
            "broken.xml: not well-formed XML",
        ),
        (
            r#"<cib><configuration><resources><primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes id="a"><attributes><nvpair id="a1" name="cidr_netmask" value="eth0"/><nvpair id="a2" name="nic" value="eth1"/></attributes></instance_attributes></primitive></resources></configuration></cib>"#,
            "cidr_netmask=\"eth0\" is neither a prefix length nor a netmask",
        ),
        (
            r#"<cib><configuration><constraints><rsc_colocation id="c" from="a" to="b" score="always"/></constraints></configuration></cib>"#,
            "has score=\"always\", which is neither",
        ),
    ];
    // --corosync needs the ha.cf that corosync.conf is made of.
    let out = h2c(
        tmp.path(),
        &[
            "--upgrade-cib",
            &dir.join("old-cib.xml").display().to_string(),
            "-o",
            "new.xml",
            "--corosync",
            "corosync.conf",
        ],
    );
    assert_eq!(out.status.code(), Some(66), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("writes corosync.conf from ha.cf; give it with -c"),
        "{}",
        stderr(&out)
    );
    assert!(!tmp.join("new.xml").exists() && !tmp.join("corosync.conf").exists());
    for (text, want) in cases {
        std::fs::write(tmp.join("broken.xml"), text).unwrap();
        let out = h2c(
            tmp.path(),
            &["--upgrade-cib", "broken.xml", "-o", "new.xml"],
        );
        assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(want),
            "expected `{want}` in {}",
            stderr(&out)
        );
        assert!(!tmp.join("new.xml").exists(), "{want}: wrote output");
    }
}

/// The normalization the crm/XML comparison relies on must see a change.
#[test]
fn normalization_notices_a_changed_parameter() {
    let dir = shimai_tests::workspace().join("cib-examples/scenario5-drbd");
    let xml = std::fs::read_to_string(dir.join("cib.xml")).unwrap();
    let a = normalized(&xml);
    assert!(
        a.iter()
            .any(|l| l.contains("nvpair(name=cidr_netmask value=24)")),
        "{a:#?}"
    );
    assert!(
        a.iter().any(|l| l.contains("group#group_1/primitive[2](")),
        "{a:#?}"
    );
    assert_ne!(
        a,
        normalized(&xml.replace(r#"value="24""#, r#"value="16""#))
    );
    assert_ne!(a, normalized(&xml.replace("Filesystem_3", "Filesystem_9")));
}

/// `Filesystem::/dev/sdc1::/srv/ftp` with `--provider heartbeat` on a
/// machine without that disk: resource-agents' Filesystem requires fstype,
/// and crmsh refuses the primitive without it, so the tool refuses too and
/// says how to give it; with --default-fstype the result loads into crmsh
/// without forcing.
#[test]
fn filesystem_without_type_is_refused_for_resource_agents() {
    let tmp = TempDir::new("cibfsra");
    std::fs::write(
        tmp.join("haresources"),
        "host01 Filesystem::/dev/shimai-no-such-disk::/srv/ftp\n",
    )
    .unwrap();
    let out = h2c(
        tmp.path(),
        &["--provider", "heartbeat", "-o", "cib.xml", "haresources"],
    );
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("haresources:1: `Filesystem::/dev/shimai-no-such-disk::/srv/ftp` has no filesystem type")
            && err.contains("requires fstype")
            && err.contains("--default-fstype TYPE"),
        "{err}"
    );
    assert!(!tmp.join("cib.xml").exists());
    let out = h2c(
        tmp.path(),
        &[
            "--provider",
            "heartbeat",
            "--default-fstype",
            "ext4",
            "-f",
            "crm",
            "-o",
            "cluster.crm",
            "haresources",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    if !have_program("filesystem_without_type", "crm") || !have_program("fs", "cibadmin") {
        return;
    }
    let empty = ok(
        &shimai_tests::run(Command::new("cibadmin").arg("--empty")),
        "cibadmin --empty",
    );
    let cib = tmp.join("empty.xml");
    std::fs::write(&cib, empty.replacen("<cib ", "<cib have-quorum=\"1\" ", 1)).unwrap();
    let crm = tmp.join("cluster.crm");
    let load = run_in(
        tmp.path(),
        "crm",
        &["configure", "load", "update", crm.to_str().unwrap()],
        &[("CIB_file", &cib)],
    );
    ok(&load, "crm configure load update (not forced)");
    // And the reason for the refusal: without fstype crmsh says no.
    std::fs::write(
        &crm,
        "primitive fs ocf:heartbeat:Filesystem params device=/dev/sdc1 directory=/srv/ftp\n",
    )
    .unwrap();
    let load = run_in(
        tmp.path(),
        "crm",
        &["configure", "load", "update", crm.to_str().unwrap()],
        &[("CIB_file", &cib)],
    );
    assert!(
        !load.status.success() && stderr(&load).contains("required parameter \"fstype\""),
        "crmsh accepted a Filesystem without fstype: {}",
        stderr(&load)
    );
}

/// `IPaddr2::fe80::1/64/eth0`: an IPv6 address, whose colons Heartbeat
/// took for argument separators. It is read whole, not counted as two
/// arguments; a link-local address without its interface is refused for
/// that reason.
#[test]
fn ipv6_addresses_in_ipaddr2_are_read_whole() {
    let tmp = TempDir::new("cibv6");
    std::fs::write(tmp.join("haresources"), "host01 IPaddr2::fe80::1/64\n").unwrap();
    let out = h2c(tmp.path(), &["haresources"]);
    assert_eq!(out.status.code(), Some(65));
    let err = stderr(&out);
    assert!(
        err.contains(
            "haresources:1: invalid address in `IPaddr2::fe80::1/64`: `fe80::1` is link-local"
        ) && !err.contains("argument(s)"),
        "{err}"
    );
    std::fs::write(tmp.join("haresources"), "host01 IPaddr2::fe80::1/64/eth0\n").unwrap();
    let out = h2c(tmp.path(), &["haresources"]);
    let xml = ok(&out, "IPv6 IPaddr2");
    assert!(
        xml.contains(r#"name="ip" value="fe80::1""#)
            && xml.contains(r#"name="cidr_netmask" value="64""#)
            && xml.contains(r#"name="nic" value="eth0""#),
        "{xml}"
    );
    assert!(
        stderr(&out).contains("is an IPv6 address"),
        "{}",
        stderr(&out)
    );
}

/// What ipfail did, checked with Pacemaker's scheduler on the ping-nodes
/// example: a group moves to the node that still reaches the ping hosts,
/// and when neither node reaches any, it keeps running on its preferred
/// node (the old `-inf: not_defined pingd or pingd lte 0` rule stopped it).
#[test]
fn ipfail_moves_groups_to_connectivity_and_never_stops_them_all() {
    if !have_program("ipfail", "crm_simulate") || !have_program("ipfail", "crm_attribute") {
        return;
    }
    let dir = shimai_tests::workspace().join("cib-examples/ping-nodes");
    let text = std::fs::read_to_string(dir.join("cib.xml")).unwrap();
    let placed = |fw1: &str, fw2: &str| -> String {
        let tmp = TempDir::new("cibipfail");
        let file = tmp.join("sim.xml");
        std::fs::write(&file, &text).unwrap();
        ok(
            &shimai_tests::run(
                Command::new("crm_simulate")
                    .arg("-x")
                    .arg(&file)
                    .args(["-q", "1", "-X", "-u", "fw1", "-u", "fw2"]),
            ),
            "crm_simulate -X",
        );
        for (node, v) in [("fw1", fw1), ("fw2", fw2)] {
            for attr in ["pingd", "ping_uplinks"] {
                let out = run_in(
                    tmp.path(),
                    "crm_attribute",
                    &["-N", node, "-n", attr, "-v", v, "-l", "reboot"],
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
        let revised = sim.split("Revised Cluster Status").nth(1).unwrap_or("");
        let line = revised
            .lines()
            .find(|l| l.contains("* IPaddr2_1\t"))
            .unwrap_or_else(|| panic!("IPaddr2_1 not in:\n{sim}"));
        line.to_string()
    };
    assert!(
        placed("1000", "1000").ends_with("Started fw1"),
        "both connected"
    );
    assert!(
        placed("0", "1000").ends_with("Started fw2"),
        "fw1 lost the gateway"
    );
    let both_lost = placed("0", "0");
    assert!(
        both_lost.ends_with("Started fw1"),
        "both lost the gateway: the group must keep running, as with ipfail: {both_lost}"
    );
}

/// The upgraded CIBs still say what the old ones said: with both nodes up,
/// DRBD able to promote everywhere and the ping hosts reachable, the
/// scheduler starts every resource, DRBD's master where the old CIB
/// preferred it and the services with it.
#[test]
fn upgraded_cibs_place_what_they_placed_before() {
    if !have_program("upgraded_cibs_place", "crm_simulate")
        || !have_program("upgraded_cibs_place", "crm_attribute")
    {
        return;
    }
    let expect: &[(&str, &str, &str, &[&str])] = &[
        (
            "upgrade-drbd-guide",
            "alice",
            "ms-drbd0",
            &["fs0", "IPaddr2_1", "samba_2"],
        ),
        (
            "upgrade-heartbeat21-docs",
            "alice",
            "drbd_mysql-clone",
            &["fs_mysql", "IPaddr_1", "mysqld"],
        ),
        (
            "upgrade-heartbeat2",
            "host01.example.ac.jp",
            "drbd_r0-clone",
            &["IPaddr_192_168_1_80", "Filesystem_3", "apache_4"],
        ),
    ];
    for (example, node, clone, services) in expect {
        let dir = shimai_tests::workspace().join("cib-examples").join(example);
        let text = std::fs::read_to_string(dir.join("cib.xml")).unwrap();
        let cib = parse(&text);
        let mut nodes = cib_support::nodes(&cib);
        if nodes.is_empty() {
            nodes = vec!["alice".into(), "bob".into()];
        }
        let tmp = TempDir::new("cibupsim");
        let file = tmp.join("sim.xml");
        std::fs::write(&file, &text).unwrap();
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
        let mut attributes: Vec<String> = all
            .iter()
            .filter(|e| e.name == "primitive" && e.get("type") == Some("drbd"))
            .map(|e| format!("master-{}", e.get("id").unwrap()))
            .collect();
        attributes.extend(
            all.iter()
                .filter(|e| e.name == "expression" && e.get("attribute") != Some("#uname"))
                .map(|e| e.get("attribute").unwrap().to_string()),
        );
        for attr in &attributes {
            for n in &nodes {
                let out = run_in(
                    tmp.path(),
                    "crm_attribute",
                    &["-N", n, "-n", attr, "-v", "10000", "-l", "reboot"],
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
            .unwrap_or_else(|| panic!("{example}: no revised status in\n{sim}"));
        assert!(
            !revised.contains("Stopped"),
            "{example}: something stays stopped:\n{revised}"
        );
        for s in *services {
            assert!(
                revised
                    .lines()
                    .any(|l| l.contains(&format!("* {s}\t"))
                        && l.ends_with(&format!("Started {node}"))),
                "{example}: {s} is not started on {node}:\n{revised}"
            );
        }
        let after = revised
            .split(&format!("Clone Set: {clone} "))
            .nth(1)
            .unwrap_or_else(|| panic!("{example}: clone {clone} missing:\n{revised}"));
        let promoted = after
            .lines()
            .find(|l| l.contains("Promoted: ["))
            .unwrap_or("");
        assert!(
            promoted.contains(&format!(" {node} ")),
            "{example}: {clone} is not promoted on {node}:\n{revised}"
        );
    }
}
