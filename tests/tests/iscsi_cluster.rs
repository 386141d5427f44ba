//! SCENARIOS.md 3 on the Pacemaker test bed (docs/cluster.md): a Windows-style
//! iSCSI disk on shimai's replicated device. A promotable `ocf:shimai:drbd`
//! clone, and a group on its Promoted node of IPaddr2 (the portal's virtual
//! IP), iSCSITarget and iSCSILogicalUnit, with tgtd running on both nodes.
//! A libiscsi client on the LAN writes a pattern through the virtual IP
//! (FUA, then SYNCHRONIZE CACHE); the Primary's node loses power; the client
//! logs in again to the same IQN and LUN on the virtual IP within 60 s
//! (Windows' default I/O hold time), sees the same VPD identity, and reads
//! its pattern back.

#[path = "drbd_support/mod.rs"]
mod drbd_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use drbd_support::cluster::{adm, can_run, two_node_cluster, wait_adm, LoopReaper};
use shimai_tests::cluster::{web::vip, Cluster, Provider};

const IQN: &str = "iqn.2016-04.3ware.co.jp:windows-disk";
const GROUP: &str = "g_iscsi";
/// 1 MiB of pattern, in 512-byte blocks.
const BLOCKS: &str = "2048";

/// Both agents in the nodes' `resource.d/shimai`, as symlinks named for the agent.
fn install_iscsi_agents() {
    let dir = Provider::from_env()
        .agents_dir()
        .expect("the iSCSI scenario needs shimai's agents");
    for name in ["iSCSITarget", "iSCSILogicalUnit"] {
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(shimai_tests::bin("ocf-iscsi-target"), &tmp)
            .expect("link the iSCSI agent");
        std::fs::rename(&tmp, dir.join(name)).expect("install the iSCSI agent");
    }
}

/// A replicated resource with fresh metadata, in sync, down again.
fn prepare_resource(cluster: &Cluster, res: &str) -> PathBuf {
    let root = cluster.root().to_path_buf();
    let subnet = shimai_tests::cluster::net::SUBNET;
    let mut hosts = String::new();
    for i in 0..2 {
        let img = root.join(format!("node{}.img", i + 1));
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(64 << 20))
            .expect("backing file");
        hosts.push_str(&format!(
            "  on node{n} {{ device /run/{res}.dev minor 0; disk {d}; address {subnet}.{n}:7789; meta-disk internal; }}\n",
            n = i + 1,
            d = img.display()
        ));
    }
    let conf = root.join("shimai.conf");
    std::fs::write(
        &conf,
        format!(
            "resource {res} {{\n  net {{ connect-int 1; ping-int 1; }}\n  disk {{ resync-rate 400M; }}\n  options {{ attach fuse; }}\n{hosts}}}\n"
        ),
    )
    .unwrap();
    for i in 0..2 {
        let out = shimai_tests::run(Command::new(shimai_tests::bin("shimaid")).args([
            "-c",
            conf.to_str().unwrap(),
            "--node",
            &format!("node{}", i + 1),
            "--create-md",
            res,
        ]));
        assert!(out.status.success(), "create-md: {out:?}");
    }
    for i in 0..2 {
        adm(cluster, i, &conf, &["up", res]).unwrap_or_else(|e| panic!("up: {e}"));
    }
    wait_adm(cluster, 0, &conf, "cstate", res, "Connected", 30);
    adm(
        cluster,
        0,
        &conf,
        &["new-current-uuid", "--clear-bitmap", res],
    )
    .unwrap();
    wait_adm(cluster, 1, &conf, "dstate", res, "UpToDate/UpToDate", 20);
    for i in 0..2 {
        adm(cluster, i, &conf, &["down", res]).unwrap();
    }
    conf
}

fn start_tgtd(cluster: &Cluster, i: usize) {
    let node = cluster.node(i);
    node.exec("sh", &["-c", "tgtd </dev/null >/dev/null 2>&1"])
        .unwrap_or_else(|e| panic!("tgtd on node{}: {e}", i + 1));
    let t = Instant::now();
    while node.exec("test", &["-S", "/run/tgtd/socket.0"]).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "tgtd on node{} has no socket",
            i + 1
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn crm(res: &str, conf: &Path) -> String {
    format!(
        "primitive p_drbd ocf:shimai:drbd \\\n\
         \tparams drbd_resource={res} drbdconf={conf} \\\n\
         \top monitor interval=10s role=Master timeout=20s \\\n\
         \top monitor interval=20s role=Slave timeout=20s \\\n\
         \top start timeout=60s op promote timeout=60s op demote timeout=60s op stop timeout=60s\n\
         clone ms_drbd p_drbd meta promotable=true promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 notify=true\n\
         primitive p_ip ocf:shimai:IPaddr2 \\\n\
         \tparams ip={vip} cidr_netmask=24 nic=eth0 \\\n\
         \top monitor interval=5s timeout=20s\n\
         primitive p_target ocf:shimai:iSCSITarget \\\n\
         \tparams implementation=tgt iqn={IQN} tid=1 \\\n\
         \top monitor interval=5s timeout=10s op stop timeout=30s\n\
         primitive p_lu ocf:shimai:iSCSILogicalUnit \\\n\
         \tparams implementation=tgt target_iqn={IQN} lun=1 path=/run/{res}.dev \\\n\
         \top monitor interval=5s timeout=10s op stop timeout=30s\n\
         group {GROUP} p_ip p_target p_lu\n\
         colocation iscsi-on-drbd inf: {GROUP} ms_drbd:Master\n\
         order drbd-before-iscsi Mandatory: ms_drbd:promote {GROUP}:start\n",
        conf = conf.display(),
        vip = vip(),
    )
}

/// The libiscsi client (tests/tests/iscsi_support/client.py), run on the LAN (the hub).
fn client(cluster: &Cluster, op: &str, seed: &str) -> (i32, String) {
    let script = shimai_tests::workspace().join("tests/tests/iscsi_support/client.py");
    let out = shimai_tests::run(cluster.hub().command("python3").arg(script).args([
        &format!("{}:3260", vip()),
        IQN,
        "1",
        op,
        seed,
        BLOCKS,
    ]));
    (
        out.status.code().unwrap_or(128),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// VPD pages 0x80 and 0x83 as iscsi-inq prints them from the LAN.
fn identity(cluster: &Cluster) -> String {
    let url = format!("iscsi://{}/{IQN}/1", vip());
    let mut text = String::new();
    for page in ["128", "131"] {
        let out = shimai_tests::run(
            cluster
                .hub()
                .command("iscsi-inq")
                .args(["-e", "1", "-c", page, &url]),
        );
        assert!(out.status.success(), "iscsi-inq page {page}: {out:?}");
        text.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    text
}

#[test]
fn the_disk_survives_the_loss_of_the_primary() {
    if !can_run("iscsi_cluster", &["tgtd", "iscsi-inq", "python3"]) {
        return;
    }
    let mut cluster = two_node_cluster();
    install_iscsi_agents();
    let res = format!("is{}", std::process::id() % 100_000);
    let _loops = LoopReaper(res.clone());
    let conf = prepare_resource(&cluster, &res);
    start_tgtd(&cluster, 0);
    start_tgtd(&cluster, 1);
    cluster
        .configure(&crm(&res, &conf))
        .unwrap_or_else(|e| panic!("configure: {e}"));
    let st = cluster
        .wait_for(0, "iSCSI group started", Duration::from_secs(120), |s| {
            s.placed_on(GROUP).is_some()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let first = st.placed_on(GROUP).unwrap().to_string();
    let (p, s) = if first == "node1" { (0, 1) } else { (1, 0) };

    let seed = shimai_tests::unique("pattern");
    let (rc, err) = client(&cluster, "write", &seed);
    assert_eq!(rc, 0, "write through the virtual IP: {err}");
    let (rc, err) = client(&cluster, "verify", &seed);
    assert_eq!(rc, 0, "read back before the failover: {err}");
    let before = identity(&cluster);

    // Power loss of the Primary's node; the client keeps trying, as Windows does.
    cluster.kill_node(p);
    let t = Instant::now();
    let mut last = (0, String::new());
    let mut ok = false;
    while t.elapsed() < Duration::from_secs(60) {
        last = client(&cluster, "verify", &seed);
        if last.0 == 0 {
            ok = true;
            break;
        }
        // 3 means it logged in and read other data: that is a failure at once.
        assert_ne!(
            last.0, 3,
            "after the failover the disk holds other data: {}",
            last.1
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let took = t.elapsed();
    assert!(
        ok,
        "no login with the pattern within 60 s: rc {} {}\n{}",
        last.0,
        last.1,
        cluster.status().map(|s| s.to_string()).unwrap_or_default()
    );
    eprintln!(
        "power loss of {first}: the client read its data back after {} ms",
        took.as_millis()
    );
    assert_eq!(
        identity(&cluster),
        before,
        "the disk's VPD identity changed"
    );
    let survivor = format!("node{}", s + 1);
    let st = cluster.status().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st.placed_on(GROUP), Some(survivor.as_str()));
}
