//! Resource-level fencing without a running cluster: shimaid runs the configured
//! `fence-peer` handler with DRBD's environment when a Primary loses its peer, freezes I/O
//! until it answers (`resource-and-stonith`), and runs `unfence-peer` /
//! `after-resync-target` once the resync is over. The handlers are shimai's
//! crm-fence-peer tools, working on a CIB file (`CIB_file`) instead of a live cluster.

mod drbd_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use drbd_support::{replication_support, Pair};

const CIB: &str = r#"<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="opts">
        <nvpair id="opts-stonith" name="stonith-enabled" value="false"/>
      </cluster_property_set>
    </crm_config>
    <nodes><node id="1" uname="alpha"/><node id="2" uname="beta"/></nodes>
    <resources>
      <clone id="ms_r0">
        <meta_attributes id="ms_r0-meta">
          <nvpair id="ms_r0-meta-promotable" name="promotable" value="true"/>
          <nvpair id="ms_r0-meta-notify" name="notify" value="true"/>
        </meta_attributes>
        <primitive id="p_r0" class="ocf" provider="shimai" type="drbd">
          <instance_attributes id="p_r0-ia">
            <nvpair id="p_r0-ia-res" name="drbd_resource" value="r0"/>
          </instance_attributes>
        </primitive>
      </clone>
    </resources>
    <constraints/>
  </configuration>
  <status>
    <node_state id="1" uname="alpha" in_ccm="true" crmd="online" join="member" expected="member"/>
    <node_state id="2" uname="beta" in_ccm="true" crmd="online" join="member" expected="member"/>
  </status>
</cib>
"#;

const CONSTRAINT: &str = "drbd-fence-by-handler-r0-ms_r0";

fn constraints(cib: &Path) -> String {
    let out = shimai_tests::run(
        Command::new("cibadmin")
            .args(["--query", "--scope", "constraints"])
            .env("CIB_file", cib),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tool(name: &str, cib: &Path, vars: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(shimai_tests::bin(name));
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CIB_file", cib)
        .envs(vars.iter().copied());
    let out = shimai_tests::run(&mut cmd);
    (
        out.status.code().unwrap_or(128),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fence_tools_place_and_remove_crm_fence_peers_constraint() {
    if !shimai_tests::have_program("drbd fence tools", "cibadmin") {
        return;
    }
    let dir = shimai_tests::TempDir::new("drbd-fence-tools");
    let cib = dir.join("cib.xml");
    std::fs::write(&cib, CIB).unwrap();
    let me = [
        ("DRBD_RESOURCE", "r0"),
        ("DRBD_PEER", "beta"),
        ("SHIMAI_NODE", "alpha"),
    ];

    // The peer is a cluster member: it will obey the constraint, so it counts as outdated.
    let (rc, err) = tool("shimai-crm-fence-peer", &cib, &me);
    assert_eq!(rc, 4, "{err}");
    let c = constraints(&cib);
    assert!(c.contains(&format!(r#"id="{CONSTRAINT}""#)), "{c}");
    assert!(
        c.contains(r#"rsc="ms_r0""#) && c.contains(r#"role="Promoted""#),
        "{c}"
    );
    assert!(
        c.contains(r##"attribute="#uname" operation="ne" value="alpha""##),
        "{c}"
    );
    if shimai_tests::which("crm_verify").is_some() {
        let out = shimai_tests::run(Command::new("crm_verify").arg("-x").arg(&cib));
        assert!(
            out.status.success(),
            "crm_verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Placing it again is harmless.
    assert_eq!(tool("shimai-crm-fence-peer", &cib, &me).0, 4);

    // The peer left the membership (fenced or stopped): 7. Not in the status at all: 5.
    let down = CIB.replace(
        r#"uname="beta" in_ccm="true" crmd="online""#,
        r#"uname="beta" in_ccm="false" crmd="offline""#,
    );
    std::fs::write(&cib, &down).unwrap();
    assert_eq!(tool("shimai-crm-fence-peer", &cib, &me).0, 7);
    let gone = CIB.replace(
        r#"<node_state id="2" uname="beta" in_ccm="true" crmd="online" join="member" expected="member"/>"#,
        "",
    );
    std::fs::write(&cib, &gone).unwrap();
    assert_eq!(tool("shimai-crm-fence-peer", &cib, &me).0, 5);
    assert!(constraints(&cib).contains(CONSTRAINT));

    // Unfence removes it; twice is fine.
    let (rc, err) = tool("shimai-crm-unfence-peer", &cib, &me);
    assert_eq!(rc, 0, "{err}");
    assert!(!constraints(&cib).contains(CONSTRAINT));
    assert_eq!(tool("shimai-crm-unfence-peer", &cib, &me).0, 0);

    // Misuse says why.
    let (rc, err) = tool("shimai-crm-fence-peer", &cib, &[("SHIMAI_NODE", "alpha")]);
    assert_eq!(rc, 1);
    assert!(err.contains("DRBD_RESOURCE"), "{err}");
    let (rc, err) = tool(
        "shimai-crm-fence-peer",
        &cib,
        &[("DRBD_RESOURCE", "r9"), ("SHIMAI_NODE", "alpha")],
    );
    assert_eq!(rc, 1);
    assert!(err.contains("drbd_resource=r9"), "{err}");
}

#[test]
fn shimaid_runs_fence_peer_freezes_io_and_unfences_after_resync() {
    if !replication_support::have("drbd fencing handlers", &["cibadmin"]) {
        return;
    }
    let dir = shimai_tests::TempDir::new("drbd-fence-cib");
    let cib = dir.join("cib.xml");
    std::fs::write(&cib, CIB).unwrap();
    let envfile = dir.join("fence-peer.env");
    let handlers = format!(
        "  options {{ attach none; }}\n  handlers {{\n    fence-peer \"env > {env}; sleep 1; CIB_file={cib} exec {fence}\";\n    unfence-peer \"CIB_file={cib} exec {unfence}\";\n  }}\n",
        env = envfile.display(),
        cib = cib.display(),
        fence = shimai_tests::bin("shimai-crm-fence-peer").display(),
        unfence = shimai_tests::bin("shimai-crm-unfence-peer").display(),
    );
    let mut pair = Pair::with_net(
        "drbd-fence-handler",
        32,
        "fencing resource-and-stonith;",
        &handlers,
    );
    pair.up_skip_sync();
    pair.ok(0, r#"{"cmd":"primary"}"#);

    // The peer dies: alpha calls fence-peer, with DRBD's environment, and freezes I/O
    // until it answers.
    pair.kill9(1);
    let t = Instant::now();
    while !envfile.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "fence-peer not called\n{}",
            pair.log(0)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(pair.field(0, "suspended"), "true", "{}", pair.status(0));
    let env = std::fs::read_to_string(&envfile).unwrap();
    for want in [
        "DRBD_RESOURCE=r0".to_string(),
        "DRBD_PEER=beta".to_string(),
        "DRBD_PEER_ADDRESS=127.0.0.2".to_string(),
        "DRBD_MINOR=0".to_string(),
        format!("DRBD_BACKING_DEV={}", pair.disk(0).display()),
        "SHIMAI_NODE=alpha".to_string(),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} not in\n{env}");
    }
    // The tool answered 4 (beta is a member in this CIB): the peer is marked Outdated,
    // I/O thaws, and the constraint keeps Pacemaker from promoting beta.
    pair.wait(0, "peer_disk", "Outdated", 10);
    assert_eq!(pair.field(0, "suspended"), "false");
    assert!(constraints(&cib).contains(CONSTRAINT));
    replication_support::nbd_write(&pair, 0, 0, &[9u8; 65536]);

    // beta comes back, resyncs from alpha, and the unfence-peer handler removes the
    // constraint once its disk is UpToDate.
    pair.up(1);
    pair.wait(1, "disk", "UpToDate", 20);
    let t = Instant::now();
    while constraints(&cib).contains(CONSTRAINT) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "constraint still there after the resync\n{}",
            pair.log(0)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        replication_support::nbd_read(&pair, 0, 65536),
        vec![9u8; 65536]
    );
}
