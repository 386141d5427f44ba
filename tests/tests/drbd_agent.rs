//! `ocf:shimai:drbd` on a connected pair of shimaid nodes (127.0.0.1 / 127.0.0.2):
//! ocf-tester, the exit codes of docs/agents/drbd.md, and the meta-data.

mod drbd_support;

use drbd_support::{agent, rsctmp, NodeEnv, Pair, Reaper};

#[test]
fn meta_data_is_valid_and_matches_the_docs() {
    if !shimai_tests::have_program("drbd meta-data", "xmllint") {
        return;
    }
    let xml = shimai_tests::meta_data(&agent());
    let (ok, msg) = shimai_tests::xmllint(&["--noout", "--valid"], &xml);
    assert!(ok, "ra-api-1.dtd: {msg}");
    let (ok, msg) = shimai_tests::xmllint(&["--noout", "--relaxng", "metadata.rng"], &xml);
    assert!(ok, "metadata.rng: {msg}");
    // Every parameter of ocf:linbit:drbd 9.22, with its default, and the same table in
    // the operator docs.
    let docs = std::fs::read_to_string(shimai_tests::workspace().join("docs/agents/drbd.md"))
        .expect("docs/agents/drbd.md");
    for (name, default) in [
        ("drbd_resource", ""),
        ("drbdconf", "/etc/shimai/shimai.conf"),
        ("stop_outdates_secondary", "false"),
        ("adjust_master_score", "0 10 1000 10000"),
        ("ignore_missing_notifications", "false"),
        ("wfc_timeout", "5"),
        ("remove_master_score_if_peer_primary", "false"),
        ("fail_promote_early_if_peer_primary", "false"),
        ("unfence_if_all_uptodate", "false"),
        (
            "unfence_extra_args",
            "--quiet --flock-required --flock-timeout 0 --unfence-only-if-owner-match",
        ),
        ("require_drbd_module_version_ge", "8.0.0"),
        ("require_drbd_module_version_lt", "10.0.0"),
        ("connect_only_after_promote", "false"),
    ] {
        assert!(
            xml.contains(&format!("<parameter name=\"{name}\"")),
            "{name} missing from meta-data"
        );
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| {
                panic!("{name} missing from the parameter table of docs/agents/drbd.md")
            });
        let shown = if default.is_empty() {
            "(required)".to_string()
        } else {
            format!("`{default}`")
        };
        assert!(
            row.contains(&shown),
            "docs row for {name} should show {shown}: {row}"
        );
    }
    for action in [
        "start", "stop", "promote", "demote", "notify", "monitor", "reload",
    ] {
        assert!(
            xml.contains(&format!("<action name=\"{action}\"")),
            "{action}"
        );
    }
    assert!(xml.contains(r#"interval="10s" role="Promoted""#));
    assert!(xml.contains(r#"interval="20s" role="Unpromoted""#));
}

#[test]
fn ocf_tester_passes_on_one_node_of_a_connected_pair() {
    if !drbd_support::replication_support::have("drbd ocf-tester", &["ocf-tester"]) {
        return;
    }
    let mut pair = Pair::new("drbd-tester", 32, "  options { attach none; }");
    let _reaper = Reaper::new(&pair);
    let tmp = rsctmp("drbd-tester");
    pair.up_skip_sync();
    // alpha is left to the agent: ocf-tester starts, promotes, demotes and stops it.
    pair.ok(0, r#"{"cmd":"down"}"#);
    let env = NodeEnv::new(&pair, 0, tmp.path());
    let (ok, out) = env.ocf_tester();
    assert!(ok, "ocf-tester failed:\n{out}\nalpha log:\n{}", pair.log(0));
    // Stopped again at the end, and the peer never lost its data.
    assert_eq!(env.run("monitor", "0").rc, 7);
    assert_eq!(pair.field(1, "disk"), "UpToDate");
}

#[test]
fn exit_codes_follow_the_linbit_agent() {
    if !drbd_support::replication_support::have("drbd exit codes", &[]) {
        return;
    }
    let mut pair = Pair::new("drbd-codes", 32, "  options { attach none; }");
    let _reaper = Reaper::new(&pair);
    let tmp = rsctmp("drbd-codes");
    pair.up_skip_sync();
    pair.ok(0, r#"{"cmd":"down"}"#);
    let mut env = NodeEnv::new(&pair, 0, tmp.path());

    // Probe of a stopped resource, then start: Secondary, connected, UpToDate.
    let r = env.run("monitor", "0");
    assert_eq!(r.rc, 7, "{r:?}");
    let r = env.run("start", "0");
    assert_eq!(r.rc, 0, "start: {r:?}\n{}", pair.log(0));
    assert_eq!(env.run("monitor", "20000").rc, 0);
    assert_eq!(pair.field(0, "connection"), "Connected");
    assert_eq!(pair.field(0, "disk"), "UpToDate");

    // Promote: 8 from monitor; the peer sees a Primary.
    let r = env.run("promote", "0");
    assert_eq!(r.rc, 0, "promote: {r:?}");
    assert_eq!(env.run("monitor", "10000").rc, 8);
    pair.wait(1, "peer_role", "Primary", 5);

    // shimaid dies under a promoted instance: 9 from a recurring monitor, 7 from a probe;
    // Pacemaker's recovery (demote, stop) succeeds, then start brings it back.
    let pid: i32 = std::fs::read_to_string(pair.run_dir(0).join("r0.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let r = env.run("monitor", "10000");
    assert_eq!(r.rc, 9, "{r:?}");
    assert!(r
        .exit_reason()
        .is_some_and(|m| m.contains("gone while this node was Primary")));
    assert_eq!(env.run("monitor", "0").rc, 7);
    assert_eq!(env.run("demote", "0").rc, 0);
    assert_eq!(env.run("stop", "0").rc, 0);
    assert_eq!(env.run("monitor", "10000").rc, 7);
    let r = env.run("start", "0");
    assert_eq!(r.rc, 0, "restart after a crash: {r:?}\n{}", pair.log(0));

    // Configuration errors: 6 everywhere, 5 on this node, 7 for a probe.
    let mut bad = NodeEnv::new(&pair, 0, tmp.path());
    bad.unset("OCF_RESKEY_CRM_meta_notify");
    let r = bad.run("promote", "0");
    assert_eq!(r.rc, 6, "{r:?}");
    assert!(r.exit_reason().is_some_and(|m| m.contains("notify=true")));
    bad.set("OCF_RESKEY_ignore_missing_notifications", "true");
    bad.set("OCF_RESKEY_CRM_meta_promoted_max", "2");
    let r = bad.run("promote", "0");
    assert_eq!(r.rc, 6, "{r:?}");
    assert!(r
        .exit_reason()
        .is_some_and(|m| m.contains("allow-two-primaries")));
    bad.unset("OCF_RESKEY_CRM_meta_clone_node_max");
    assert_eq!(bad.run("monitor", "0").rc, 6);
    env.set("OCF_RESKEY_drbd_resource", "nosuch");
    assert_eq!(env.run("monitor", "0").rc, 7);
    let r = env.run("start", "0");
    assert_eq!(r.rc, 5, "{r:?}");
    assert!(r
        .exit_reason()
        .is_some_and(|m| m.contains("no resource nosuch")));
    env.set("OCF_RESKEY_drbd_resource", "r0;reboot");
    assert_eq!(env.run("monitor", "0").rc, 6);
    env.set("OCF_RESKEY_drbd_resource", "r0");

    // A stale node may not be promoted: stop alpha, write on beta, bring alpha back
    // without the peer: Outdated, promote refused (1) with linbit's reason.
    assert_eq!(env.run("stop", "0").rc, 0);
    pair.ok(1, r#"{"cmd":"primary"}"#);
    drbd_support::replication_support::nbd_write(&pair, 1, 0, &[7u8; 4096]);
    pair.ok(1, r#"{"cmd":"secondary"}"#);
    pair.ok(1, r#"{"cmd":"disconnect"}"#);
    env.set("OCF_RESKEY_wfc_timeout", "1");
    assert_eq!(env.run("start", "0").rc, 0);
    let r = env.run("promote", "0");
    assert_eq!(r.rc, 1, "{r:?}");
    assert!(
        r.exit_reason()
            .is_some_and(|m| m.contains("without access to UpToDate data")),
        "{r:?}"
    );
    assert_eq!(env.run("monitor", "20000").rc, 0);
    assert_eq!(env.run("stop", "0").rc, 0);
    assert_eq!(env.run("stop", "0").rc, 0, "stop of a stopped resource");
}

#[test]
fn promotion_scores_follow_the_state_and_fork_only_on_change() {
    if !drbd_support::replication_support::have("drbd scores", &[]) {
        return;
    }
    let mut pair = Pair::new("drbd-scores", 32, "  options { attach none; }");
    let _reaper = Reaper::new(&pair);
    let tmp = rsctmp("drbd-scores");
    pair.up_skip_sync();
    pair.ok(0, r#"{"cmd":"down"}"#);
    // A crm_attribute that records its calls, so the test sees every fork of it.
    let fake = tmp.join("bin");
    std::fs::create_dir_all(&fake).unwrap();
    let calls = tmp.join("calls");
    let script = fake.join("crm_attribute");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$OCF_RESOURCE_INSTANCE $*\" >> {}\n",
            calls.display()
        ),
    )
    .unwrap();
    shimai_tests::sh(&format!("chmod 755 {}", script.display()));
    let mut env = NodeEnv::new(&pair, 0, tmp.path());
    env.set(
        "PATH",
        &format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", fake.display()),
    );
    let seen = || std::fs::read_to_string(&calls).unwrap_or_default();

    assert_eq!(env.run("monitor", "0").rc, 7);
    assert_eq!(seen(), "", "a probe of a stopped resource sets nothing");
    assert_eq!(env.run("start", "0").rc, 0);
    for _ in 0..3 {
        assert_eq!(env.run("monitor", "20000").rc, 0);
    }
    assert_eq!(
        seen(),
        "p_drbd --promotion -q -v 10000\n",
        "one fork for one value"
    );

    // The peer goes away: UpToDate with the peer unknown is 1000; back: 10000 again.
    pair.ok(1, r#"{"cmd":"disconnect"}"#);
    pair.wait(0, "peer_disk", "DUnknown", 10);
    assert_eq!(env.run("monitor", "20000").rc, 0);
    pair.ok(1, r#"{"cmd":"connect"}"#);
    pair.wait(0, "peer_disk", "UpToDate", 15);
    assert_eq!(env.run("monitor", "20000").rc, 0);
    assert_eq!(env.run("promote", "0").rc, 0);
    assert_eq!(env.run("monitor", "10000").rc, 8);
    assert_eq!(env.run("demote", "0").rc, 0);
    assert_eq!(env.run("stop", "0").rc, 0);
    assert_eq!(
        seen(),
        "p_drbd --promotion -q -v 10000\n\
         p_drbd --promotion -q -v 1000\n\
         p_drbd --promotion -q -v 10000\n\
         p_drbd --promotion -q -D\n"
    );
}

#[test]
fn unfence_if_all_uptodate_runs_the_handler_once_per_promotion() {
    if !drbd_support::replication_support::have("drbd unfence", &[]) {
        return;
    }
    let tmp = rsctmp("drbd-unfence");
    let log = tmp.join("unfence.log");
    let extra = format!(
        "  options {{ attach none; }}\n  handlers {{ unfence-peer \"echo $DRBD_RESOURCE $DRBD_PEER >> {}; echo\"; }}\n",
        log.display()
    );
    let mut pair = Pair::new("drbd-unfence", 32, &extra);
    let _reaper = Reaper::new(&pair);
    pair.up_skip_sync();
    pair.ok(0, r#"{"cmd":"down"}"#);
    let mut env = NodeEnv::new(&pair, 0, tmp.path());
    env.set("OCF_RESKEY_unfence_if_all_uptodate", "true");
    env.set("OCF_RESKEY_unfence_extra_args", "--quiet");
    let seen = || std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(env.run("start", "0").rc, 0);
    assert_eq!(env.run("monitor", "20000").rc, 0);
    assert_eq!(seen(), "", "not while Secondary");
    assert_eq!(env.run("promote", "0").rc, 0);
    assert_eq!(env.run("monitor", "10000").rc, 8);
    assert_eq!(env.run("monitor", "10000").rc, 8);
    assert_eq!(seen(), "r0 beta\n", "once, with DRBD's environment");
    assert_eq!(env.run("demote", "0").rc, 0);
    assert_eq!(env.run("promote", "0").rc, 0);
    assert_eq!(env.run("monitor", "10000").rc, 8);
    assert_eq!(seen(), "r0 beta\nr0 beta\n", "again after a new promotion");
    assert_eq!(env.run("demote", "0").rc, 0);
    assert_eq!(env.run("stop", "0").rc, 0);
}
