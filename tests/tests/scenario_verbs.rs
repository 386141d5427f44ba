//! The `shimaiadm` verbs and refusals that the runbooks rely on and that `shimaiadm_e2e`,
//! `shimaiadm_cli` and the scenario suites do not already cover, each with DRBD's answer:
//! `connect` on a connected resource, `detach`, `invalidate` and `outdate` on a Primary,
//! `outdate` on a connected Secondary, `verify` without `verify-alg`, `attach` twice,
//! `adjust` (unchanged, changed, not up), `invalidate` on a Secondary, `disconnect`, a
//! Secondary that was outdated and promoted (17), `verify`, `status --verbose`, and the
//! waits of a lonely node.
//!
//! `options { attach none; }`: these verbs are about states, not block devices, so no root
//! is needed (the mount refusals are in `scenario_mutual_backup`).

mod scenario_support;

use std::path::Path;

use scenario_support::*;

const A: usize = 0;
const B: usize = 1;

fn config(dir: &Path, base: u16) -> String {
    let d = dir.display();
    let (p0, p1) = (base, base + 1);
    format!(
        r#"resource r0 {{
  protocol C;
  options {{ attach none; }}
  net {{ connect-int 1; }}
  disk {{ resync-rate 400M; }}
  on a {{ device {d}/a/drbd0 minor 0; disk {d}/a/r0.img; address 127.0.0.1:{p0}; meta-disk internal; }}
  on b {{ device {d}/b/drbd0 minor 0; disk {d}/b/r0.img; address 127.0.0.2:{p0}; meta-disk internal; }}
}}
resource r1 {{
  protocol C;
  options {{ attach none; }}
  net {{ connect-int 1; verify-alg crc32c; }}
  disk {{ resync-rate 400M; }}
  on a {{ device {d}/a/drbd1 minor 1; disk {d}/a/r1.img; address 127.0.0.1:{p1}; meta-disk internal; }}
  on b {{ device {d}/b/drbd1 minor 1; disk {d}/b/r1.img; address 127.0.0.2:{p1}; meta-disk internal; }}
}}
"#
    )
}

/// Both nodes up and connected, the initial sync skipped, `a` Primary of both.
fn pair(test: &str, base: u16) -> Site {
    let site = Site::new(test, ["a", "b"], |d| config(d, base));
    for n in ["a", "b"] {
        site.sparse(&format!("{n}/r0.img"), 32);
        site.sparse(&format!("{n}/r1.img"), 32);
    }
    for i in [B, A] {
        site.nodes[i]
            .sh("shimaiadm create-md all && shimaiadm up all")
            .expect(0);
    }
    site.nodes[A]
        .adm(&["wait-connect", "--timeout", "20", "all"])
        .expect(0);
    for res in ["r0", "r1"] {
        site.nodes[A]
            .adm(&["new-current-uuid", "--clear-bitmap", res])
            .expect(0);
    }
    site.nodes[A]
        .adm(&["wait-sync", "--timeout", "20", "all"])
        .expect(0);
    site.nodes[A].adm(&["primary", "all"]).expect(0);
    site
}

/// Runs `shimaiadm args` on `node`, which must exit `code` and say `words` on stderr (in
/// one line).
#[track_caller]
fn refused(node: &Node, args: &[&str], code: i32, words: &str) {
    let r = node.adm(args).expect(code);
    let errors = r.errors();
    assert_eq!(errors.lines().count(), 1, "one line: {errors}");
    assert!(
        errors.starts_with("shimaiadm: ") && errors.contains(words),
        "`shimaiadm {}` should say {words:?}: {errors}",
        args.join(" ")
    );
}

#[test]
fn a_primary_refuses_what_drbd_refuses_it() {
    let site = pair("scen-verbs-primary", 7791);
    let a = &site.nodes[A];
    refused(
        a,
        &["connect", "r0"],
        1,
        "already connecting or connected; disconnect first",
    );
    refused(a, &["detach", "r0"], 1, "run `shimaiadm secondary` first");
    refused(a, &["invalidate", "r0"], 1, "use invalidate-remote here");
    refused(
        a,
        &["outdate", "r0"],
        1,
        "a Primary's data cannot be outdated",
    );
    // On the Secondary, outdate needs the peer gone first.
    refused(
        &site.nodes[B],
        &["outdate", "r0"],
        1,
        "outdate applies to a disconnected node",
    );
    // Nothing was changed by the refusals.
    assert_eq!(
        a.adm(&["role", "r0"]).expect(0).stdout,
        "Primary/Secondary\n"
    );
    assert_eq!(
        a.adm(&["dstate", "r0"]).expect(0).stdout,
        "UpToDate/UpToDate\n"
    );
    assert_eq!(a.adm(&["cstate", "r0"]).expect(0).stdout, "Connected\n");

    // verify: refused without verify-alg, naming the fix; runs with it.
    refused(
        a,
        &["verify", "r0"],
        1,
        "needs verify-alg in the resource's net section",
    );
    let read = |n: &Node| counter(&n.adm(&["proc", "r1"]).expect(0).stdout, 1, "dr");
    let (dr_a, dr_b) = (read(a), read(&site.nodes[B]));
    a.adm(&["verify", "r1"]).expect(0);
    a.adm(&["wait-sync", "--timeout", "30", "r1"]).expect(0);
    let json = a.adm(&["status", "--json", "r1"]).expect(0).stdout;
    assert!(json.contains("\"verify_oos_kib\": 0"), "{json}");
    // Both sides read their whole data area (32 MiB less the metadata) to compare it.
    assert!(read(a) - dr_a >= 30 << 10, "{}", read(a));
    assert!(read(&site.nodes[B]) - dr_b >= 30 << 10);

    // status --verbose: drbdsetup's statistics names.
    let v = a.adm(&["status", "--verbose", "r0"]).expect(0).stdout;
    assert!(
        v.starts_with(
            "r0 role:Primary suspended:no write-ordering:flush\n  volume:0 minor:0 disk:UpToDate\n"
        ),
        "{v}"
    );
    assert!(
        v.contains("  b connection:Connected role:Secondary protocol:C congested:no\n"),
        "{v}"
    );

    // adjust: nothing to change; a change it cannot apply online is refused, saying how.
    a.adm(&["adjust", "r0"]).expect(0);
    let text = std::fs::read_to_string(&site.conf).unwrap();
    std::fs::write(&site.conf, text.replacen("protocol C;", "protocol A;", 1)).unwrap();
    refused(a, &["adjust", "r0"], 1, "run `shimaiadm down` and `up`");
    std::fs::write(&site.conf, &text).unwrap();
    a.adm(&["adjust", "r0"]).expect(0);
}

#[test]
fn a_secondary_invalidated_outdated_detached_and_back() {
    let site = pair("scen-verbs-secondary", 7793);
    let (a, b) = (&site.nodes[A], &site.nodes[B]);

    // invalidate on the Secondary: a full resync from the Primary.
    let ns = counter(&a.adm(&["proc"]).expect(0).stdout, 0, "ns");
    b.adm(&["invalidate", "r0"]).expect(0);
    b.adm(&["wait-sync", "--timeout", "30", "r0"]).expect(0);
    assert_eq!(
        b.adm(&["dstate", "r0"]).expect(0).stdout,
        "UpToDate/UpToDate\n"
    );
    let proc = a.adm(&["proc"]).expect(0).stdout;
    let size: u64 = {
        let j = a.adm(&["status", "--json", "r0"]).expect(0).stdout;
        let at = j.find("\"size_kib\": ").expect("size_kib") + 12;
        j[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number")
    };
    assert!(
        counter(&proc, 0, "ns") - ns >= size,
        "the whole {size} KiB were sent:\n{proc}"
    );

    // disconnect (twice: the second is a no-op), outdate, and what promotion then says.
    b.adm(&["disconnect", "r0"]).expect(0);
    b.adm(&["disconnect", "r0"]).expect(0);
    assert_eq!(b.adm(&["cstate", "r0"]).expect(0).stdout, "StandAlone\n");
    wait_for(a, &["cstate", "r0"], "WFConnection", 10);
    b.adm(&["outdate", "r0"]).expect(0);
    assert_eq!(
        b.adm(&["dstate", "r0"]).expect(0).stdout,
        "Outdated/DUnknown\n"
    );
    refused(b, &["primary", "r0"], 17, "--force");

    // detach and attach while StandAlone; attach twice is refused.
    b.adm(&["detach", "r0"]).expect(0);
    assert_eq!(
        b.adm(&["dstate", "r0"]).expect(0).stdout,
        "Diskless/DUnknown\n"
    );
    b.adm(&["attach", "r0"]).expect(0);
    assert_eq!(
        b.adm(&["dstate", "r0"]).expect(0).stdout,
        "Outdated/DUnknown\n"
    );
    refused(b, &["attach", "r0"], 1, "already attached");

    // connect again: the outdated side is brought up to date by the Primary.
    b.adm(&["connect", "r0"]).expect(0);
    b.adm(&["wait-connect", "--timeout", "20", "r0"]).expect(0);
    b.adm(&["wait-sync", "--timeout", "30", "r0"]).expect(0);
    wait_for(b, &["dstate", "r0"], "UpToDate/UpToDate", 10);
    assert_eq!(
        b.adm(&["role", "r0"]).expect(0).stdout,
        "Secondary/Primary\n"
    );

    // adjust on a resource that is not up brings it up (and it reconnects).
    b.adm(&["down", "r1"]).expect(0);
    b.adm(&["role", "r1"]).expect(11);
    b.adm(&["adjust", "r1"]).expect(0);
    b.adm(&["wait-connect", "--timeout", "20", "r1"]).expect(0);
    assert_eq!(
        b.adm(&["role", "r1"]).expect(0).stdout,
        "Secondary/Primary\n"
    );
}

#[test]
fn a_lonely_node_waits_in_vain_and_is_promoted_only_by_force() {
    let site = Site::new("scen-verbs-lonely", ["a", "b"], |d| config(d, 7795));
    site.sparse("a/r0.img", 32);
    let a = &site.nodes[A];
    a.sh("shimaiadm create-md r0 && shimaiadm up r0").expect(0);
    assert_eq!(a.adm(&["cstate", "r0"]).expect(0).stdout, "WFConnection\n");
    let started = std::time::Instant::now();
    refused(a, &["wait-connect", "--timeout", "1", "r0"], 11, "r0");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    refused(a, &["wait-sync", "--timeout", "1", "r0"], 11, "r0");
    // Fresh metadata and no peer: no up-to-date data anywhere.
    refused(a, &["primary", "r0"], 17, "--force");
    a.adm(&["primary", "--force", "r0"]).expect(0);
    assert_eq!(
        a.adm(&["dstate", "r0"]).expect(0).stdout,
        "UpToDate/DUnknown\n"
    );
    assert_eq!(a.adm(&["role", "r0"]).expect(0).stdout, "Primary/Unknown\n");
    // invalidate-remote needs a peer.
    refused(a, &["invalidate-remote", "r0"], 1, "needs a connected peer");
    a.adm(&["secondary", "r0"]).expect(0);
    a.adm(&["down", "r0"]).expect(0);
    // Down is down: a second one is not an error.
    a.adm(&["down", "r0"]).expect(0);
}

/// The split-brain runbook of docs/replicated-device.md §5, with shimaiadm: both nodes
/// promoted while cut off, the reconnection refused and shown, the victim's changes
/// discarded by `connect --discard-my-data`.
#[test]
fn a_split_brain_is_shown_and_resolved_by_the_runbook() {
    let site = pair("scen-verbs-sb", 7797);
    let (a, b) = (&site.nodes[A], &site.nodes[B]);
    for n in [b, a] {
        n.adm(&["disconnect", "r0"]).expect(0);
    }
    // Both Primary while apart: each starts its own generation.
    b.adm(&["primary", "r0"]).expect(0);
    assert_eq!(b.adm(&["role", "r0"]).expect(0).stdout, "Primary/Unknown\n");
    for n in [b, a] {
        n.adm(&["connect", "r0"]).expect(0);
    }
    for n in [a, b] {
        wait_for(n, &["cstate", "r0"], "StandAlone", 20);
    }
    let peer = |n: &Node| if n.name == "a" { "b" } else { "a" };
    for n in [a, b] {
        let s = n.adm(&["status", "r0"]).expect(0).stdout;
        assert!(
            s.ends_with(&format!(
                "  {} connection:StandAlone split-brain:yes\n",
                peer(n)
            )),
            "{s}"
        );
    }
    assert!(
        b.log("r0").contains("Split-Brain detected but unresolved"),
        "{}",
        b.log("r0")
    );
    // b is the victim.
    b.adm(&["secondary", "r0"]).expect(0);
    b.adm(&["connect", "--discard-my-data", "r0"]).expect(0);
    a.adm(&["connect", "r0"]).expect(0);
    b.adm(&["wait-sync", "--timeout", "30", "r0"]).expect(0);
    wait_for(b, &["dstate", "r0"], "UpToDate/UpToDate", 10);
    assert_eq!(
        b.adm(&["role", "r0"]).expect(0).stdout,
        "Secondary/Primary\n"
    );
    let s = a.adm(&["status", "r0"]).expect(0).stdout;
    assert_eq!(
        s,
        "r0 role:Primary\n  disk:UpToDate\n  b role:Secondary\n    replication:Established peer-disk:UpToDate\n"
    );
}
