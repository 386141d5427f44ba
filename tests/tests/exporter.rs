//! `shimaiadm exporter` on a real pair: two shimaid nodes on loopback (127.0.0.1 and
//! 127.0.0.2, replication port 7860), one exporter per node (7861, 7862), scraped with curl
//! and parsed by an independent parser, the Python `prometheus_client` one (Debian's
//! python3-prometheus-client). The values checked are the ones an operator watches: roles,
//! connection, peer disk, out-of-sync bytes after a write while disconnected, a resource
//! that is down, and a node whose daemon died (still a successful scrape).

mod replication_support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use replication_support::*;

const REPL_PORT: u16 = 7860;
const EXPORTER_PORTS: [u16; 2] = [7861, 7862];
const PYTHON: &str = "/usr/bin/python3";

/// The parser's view of a scrape: `name{k="v",...}` (labels sorted) -> value, and the
/// family types.
struct Scrape {
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
    text: String,
}

impl Scrape {
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut l: Vec<(&str, &str)> = labels.to_vec();
        l.sort();
        let key = format!(
            "{name}{{{}}}",
            l.iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        *self
            .samples
            .get(&key)
            .unwrap_or_else(|| panic!("no sample {key} in the scrape:\n{}", self.text))
    }

    /// The state whose enum sample is 1 (drbd-reactor's layout).
    fn state(&self, name: &str, labels: &[(&str, &str)]) -> String {
        let on: Vec<String> = self
            .samples
            .iter()
            .filter(|(k, v)| {
                **v == 1.0
                    && k.starts_with(&format!("{name}{{"))
                    && labels
                        .iter()
                        .all(|(lk, lv)| k.contains(&format!("{lk}=\"{lv}\"")))
            })
            .map(|(k, _)| {
                let key = format!("{name}=\"");
                let at = k.find(&key).expect("enum label") + key.len();
                k[at..at + k[at..].find('"').unwrap()].to_string()
            })
            .collect();
        assert_eq!(on.len(), 1, "{name} {labels:?}: {on:?}\n{}", self.text);
        on[0].clone()
    }
}

const PARSE: &str = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
samples, types = {}, {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    types[fam.name] = fam.type
    for s in fam.samples:
        key = s.name + "{" + ",".join('%s="%s"' % kv for kv in sorted(s.labels.items())) + "}"
        samples[key] = s.value
print(json.dumps({"samples": samples, "types": types}))
"#;

/// An exporter process, killed by PID on drop.
struct Exporter {
    child: Child,
    port: u16,
}

impl Exporter {
    fn start(p: &Pair, i: usize) -> Exporter {
        let port = EXPORTER_PORTS[i];
        let child = Command::new(shimai_tests::bin("shimaiadm"))
            .arg("-c")
            .arg(&p.confs[i])
            .arg("--node")
            .arg(NAMES[i])
            .arg("--run-dir")
            .arg(p.run_dir(i))
            .arg("exporter")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start shimaiadm exporter");
        let e = Exporter { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while curl(port, "/metrics").0 != "200" {
            assert!(
                Instant::now() < deadline,
                "exporter on {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        e
    }

    fn scrape(&self) -> Scrape {
        let (code, body, ctype) = curl(self.port, "/metrics");
        assert_eq!(code, "200", "{body}");
        assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
        parse(&body)
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// curl's status code, body and content type for `path` on 127.0.0.1:`port`.
fn curl(port: u16, path: &str) -> (String, String, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code} %{content_type}",
        ])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, last) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (code, ctype) = last.split_once(' ').unwrap_or((last, ""));
    (code.to_string(), body.to_string(), ctype.to_string())
}

fn parse(text: &str) -> Scrape {
    let mut child = Command::new(PYTHON)
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Python parser rejected the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let samples = v["samples"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .collect();
    let types = v["types"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    Scrape {
        samples,
        types,
        text: text.to_string(),
    }
}

fn have_parser(test: &str) -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import prometheus_client.parser"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {PYTHON} cannot import prometheus_client (apt-get install python3-prometheus-client; scripts/test installs it)");
    }
    eprintln!("\n*** SKIPPED {test}: python3-prometheus-client not installed ***\n");
    false
}

/// A pair on the fixed ports, with a second resource `r1` configured but never started.
fn pair(test: &str) -> Pair {
    let p = Pair::new(test, 16, "");
    let text = std::fs::read_to_string(&p.confs[0]).unwrap();
    let at = text.find("address 127.0.0.1:").unwrap() + "address 127.0.0.1:".len();
    let port = &text[at..at + text[at..].find(';').unwrap()];
    let r1 = format!(
        "resource r1 {{\n  on alpha {{ device {d}/r1a.dev minor 2; disk {d}/r1a.img; address 127.0.0.1:{r1p}; meta-disk internal; }}\n  on beta {{ device {d}/r1b.dev minor 3; disk {d}/r1b.img; address 127.0.0.2:{r1p}; meta-disk internal; }}\n}}\n",
        d = p.dir.path().display(),
        r1p = REPL_PORT + 3,
    );
    for c in &p.confs {
        let t = std::fs::read_to_string(c)
            .unwrap()
            .replace(&format!(":{port};"), &format!(":{REPL_PORT};"));
        std::fs::write(c, format!("{t}{r1}")).unwrap();
    }
    p
}

#[test]
fn metrics_of_a_running_pair_parse_and_tell_the_state() {
    let test = "metrics_of_a_running_pair_parse_and_tell_the_state";
    if !have(test, &["curl", "nbdcopy"]) || !have_parser(test) {
        return;
    }
    let mut p = pair("exporter");
    p.up_skip_sync();
    p.ok(0, r#"{"cmd":"primary"}"#);
    p.wait(1, "peer_role", "Primary", 10);
    let ex = [Exporter::start(&p, 0), Exporter::start(&p, 1)];

    let r0 = [("name", "r0")];
    let conn = |peer: &'static str, id: &'static str| {
        [("name", "r0"), ("conn_name", peer), ("peer_node_id", id)]
    };
    let peerdev = |peer: &'static str, id: &'static str| {
        [
            ("name", "r0"),
            ("conn_name", peer),
            ("peer_node_id", id),
            ("volume", "0"),
        ]
    };
    let dev = |minor: &'static str| [("name", "r0"), ("volume", "0"), ("minor", minor)];

    // Connected, UpToDate on both sides, alpha Primary.
    let a = ex[0].scrape();
    let b = ex[1].scrape();
    assert_eq!(a.value("drbd_resource_resources", &[]), 2.0);
    assert_eq!(a.value("drbd_resource_up", &r0), 1.0);
    assert_eq!(a.value("drbd_resource_up", &[("name", "r1")]), 0.0);
    assert_eq!(a.state("drbd_resource_role", &r0), "Primary");
    assert_eq!(b.state("drbd_resource_role", &r0), "Secondary");
    assert_eq!(
        a.state("drbd_connection_state", &conn("beta", "1")),
        "Connected"
    );
    assert_eq!(
        b.state("drbd_connection_state", &conn("alpha", "0")),
        "Connected"
    );
    assert_eq!(
        b.state("drbd_connection_peer_role", &conn("alpha", "0")),
        "Primary"
    );
    assert_eq!(
        a.state("drbd_peerdevice_replication_state", &peerdev("beta", "1")),
        "Established"
    );
    assert_eq!(
        a.state("drbd_peerdevice_peer_disk_state", &peerdev("beta", "1")),
        "UpToDate"
    );
    assert_eq!(a.state("drbd_device_state", &dev("0")), "UpToDate");
    assert_eq!(b.state("drbd_device_state", &dev("1")), "UpToDate");
    assert_eq!(
        a.value("drbd_peerdevice_outofsync_bytes", &peerdev("beta", "1")),
        0.0
    );
    assert_eq!(
        a.value("drbd_device_size_bytes", &dev("0")),
        (p.size_kib * 1024) as f64
    );
    assert_eq!(a.value("drbd_resource_maypromote", &r0), 0.0);
    assert_eq!(a.value("drbd_resource_splitbrain", &r0), 0.0);
    assert_eq!(a.types["drbd_device_written_bytes"], "counter");
    assert_eq!(a.types["drbd_resource_role"], "gauge");

    // The same report as `shimaiadm status --json`.
    let out = Command::new(shimai_tests::bin("shimaiadm"))
        .arg("-c")
        .arg(&p.confs[0])
        .args(["--node", "alpha", "--run-dir"])
        .arg(p.run_dir(0))
        .args(["status", "--json", "r0"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["role"], "Primary", "{json}");
    assert_eq!(
        json[0]["counters"]["dw"].as_f64().unwrap() * 1024.0,
        a.value("drbd_device_written_bytes_total", &dev("0")),
        "written bytes = status --json dw in KiB"
    );

    // Beta disconnects; a 1 MiB write on alpha is out of sync with beta.
    p.ok(1, r#"{"cmd":"disconnect"}"#);
    p.wait(0, "connection", "WFConnection", 10);
    let written_before = a.value("drbd_device_written_bytes_total", &dev("0"));
    nbd_write(&p, 0, 0, &pattern(1 << 20, 7));
    let a = ex[0].scrape();
    let b = ex[1].scrape();
    assert_eq!(
        a.state("drbd_connection_state", &conn("beta", "1")),
        "Connecting"
    );
    assert_eq!(
        b.state("drbd_connection_state", &conn("alpha", "0")),
        "StandAlone"
    );
    assert_eq!(
        a.state("drbd_peerdevice_replication_state", &peerdev("beta", "1")),
        "Off"
    );
    assert_eq!(
        a.state("drbd_peerdevice_peer_disk_state", &peerdev("beta", "1")),
        "DUnknown"
    );
    assert_eq!(
        a.value("drbd_peerdevice_outofsync_bytes", &peerdev("beta", "1")),
        (1 << 20) as f64,
        "1 MiB written while disconnected"
    );
    assert!(
        a.value("drbd_device_written_bytes_total", &dev("0")) >= written_before + (1 << 20) as f64
    );

    // Reconnected with the resync paused here: the resync metrics show the whole 1 MiB
    // still to do, and why it does not move.
    p.ok(0, r#"{"cmd":"pause-sync"}"#);
    p.ok(1, r#"{"cmd":"connect"}"#);
    p.wait(0, "connection", "PausedSyncS", 15);
    let a = ex[0].scrape();
    let pd = peerdev("beta", "1");
    assert_eq!(
        a.state("drbd_connection_state", &conn("beta", "1")),
        "Connected"
    );
    assert_eq!(
        a.state("drbd_peerdevice_replication_state", &pd),
        "PausedSyncS"
    );
    assert_eq!(
        a.state("drbd_peerdevice_peer_disk_state", &pd),
        "Inconsistent"
    );
    let user = [&pd[..], &[("reason", "user")]].concat();
    let peer = [&pd[..], &[("reason", "peer")]].concat();
    assert_eq!(a.value("drbd_peerdevice_resync_suspended", &user), 1.0);
    assert_eq!(a.value("drbd_peerdevice_resync_suspended", &peer), 0.0);
    assert_eq!(
        a.value("drbd_peerdevice_resync_total_bytes", &pd),
        (1 << 20) as f64
    );
    assert_eq!(
        a.value("drbd_peerdevice_resync_remaining_bytes", &pd),
        (1 << 20) as f64
    );
    assert_eq!(
        a.value("drbd_peerdevice_outofsync_bytes", &pd),
        (1 << 20) as f64
    );

    // Resumed: the resync brings out-of-sync back to 0.
    p.ok(0, r#"{"cmd":"resume-sync"}"#);
    p.wait(0, "connection", "Connected", 15);
    p.wait(1, "disk", "UpToDate", 15);
    let a = ex[0].scrape();
    assert_eq!(
        a.value("drbd_peerdevice_outofsync_bytes", &peerdev("beta", "1")),
        0.0
    );
    assert_eq!(
        a.value(
            "drbd_peerdevice_resync_remaining_bytes",
            &peerdev("beta", "1")
        ),
        0.0
    );

    // Beta's daemon dies: its exporter still answers 200, with r0 down.
    p.kill9(1);
    let b = ex[1].scrape();
    assert_eq!(b.value("drbd_resource_up", &r0), 0.0);
    assert_eq!(b.value("drbdreactor_up", &[]), 1.0);
    assert!(
        !b.samples
            .keys()
            .any(|k| k.starts_with("drbd_resource_role{")),
        "no role for a resource that is down:\n{}",
        b.text
    );

    // Only /metrics is served; anything else is a 404, not a crash.
    assert_eq!(curl(ex[0].port, "/nothing").0, "404");
    assert_eq!(curl(ex[0].port, "/metrics").0, "200");
}

#[test]
fn a_port_in_use_is_refused_with_the_option_to_change_it() {
    let dir = shimai_tests::TempDir::new("exporter-busy");
    let conf = dir.join("shimai.conf");
    std::fs::write(
        &conf,
        "resource r0 {\n  on alpha { device /dev/drbd0 minor 0; disk /x; address 127.0.0.1:7789; meta-disk internal; }\n  on beta { device /dev/drbd0 minor 0; disk /y; address 127.0.0.2:7789; meta-disk internal; }\n}\n",
    )
    .unwrap();
    let busy = std::net::TcpListener::bind(("127.0.0.1", 7864)).expect("bind 7864");
    let out = Command::new(shimai_tests::bin("shimaiadm"))
        .arg("-c")
        .arg(&conf)
        .args(["--node", "alpha", "exporter", "--listen", "127.0.0.1:7864"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    drop(busy);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("127.0.0.1:7864") && err.contains("--listen"),
        "{err}"
    );
}

/// `systemd-analyze verify` on `unit` written as `dir/shimai-exporter.service`, man pages
/// looked up in `manpath`; its success and whole output.
fn verify(dir: &std::path::Path, unit: &str, manpath: &std::path::Path) -> (bool, String) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("shimai-exporter.service");
    std::fs::write(&path, unit).unwrap();
    let out = shimai_tests::run(
        Command::new("systemd-analyze")
            .env("MANPATH", manpath)
            .arg("verify")
            .arg(&path),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_installed_exporter_unit_verifies_clean() {
    if !shimai_tests::have_program("exporter-unit", "systemd-analyze") {
        return;
    }
    let dir = shimai_tests::TempDir::new("exporter-unit");
    let prefix = dir.join("prefix");
    let bin_dir = shimai_tests::bin("shimaiadm")
        .parent()
        .unwrap()
        .to_path_buf();
    let out = shimai_tests::run(
        Command::new(shimai_tests::workspace().join("scripts/install"))
            .arg("--bin-dir")
            .arg(&bin_dir)
            .arg("--prefix")
            .arg(&prefix)
            .arg("--ocf-root")
            .arg(dir.join("ocf")),
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "scripts/install: {said}");
    let unit = std::fs::read_to_string(prefix.join("lib/systemd/system/shimai-exporter.service"))
        .unwrap_or_else(|e| panic!("no exporter unit installed ({e}): {said}"));
    assert!(
        unit.contains(&format!(
            "ExecStart={}/sbin/shimaiadm exporter --listen ${{SHIMAI_EXPORTER_LISTEN}}",
            prefix.display()
        )),
        "{unit}"
    );
    assert!(unit.contains("Environment=SHIMAI_EXPORTER_LISTEN=0.0.0.0:9942"));
    let man = prefix.join("share/man");
    let (ok, text) = verify(&dir.join("good"), &unit, &man);
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );
    // The check does find a broken unit.
    let (ok, text) = verify(
        &dir.join("bad"),
        &unit.replace("Type=exec", "Type=exec\nRestart=sometimes"),
        &man,
    );
    assert!(
        !text.trim().is_empty() || !ok,
        "a bad Restart= went unnoticed"
    );
}

#[test]
fn a_flood_of_idle_clients_gets_503_not_threads_and_a_down_resource_is_up_0() {
    let dir = shimai_tests::TempDir::new("exporter-flood");
    let conf = dir.join("shimai.conf");
    std::fs::write(
        &conf,
        "resource r0 {\n  on alpha { device /dev/drbd0 minor 0; disk /x; address 127.0.0.1:7789; meta-disk internal; }\n  on beta { device /dev/drbd0 minor 0; disk /y; address 127.0.0.2:7789; meta-disk internal; }\n}\n",
    )
    .unwrap();
    let child = Command::new(shimai_tests::bin("shimaiadm"))
        .arg("-c")
        .arg(&conf)
        .args(["--node", "alpha", "--run-dir"])
        .arg(dir.join("run"))
        .args(["exporter", "--listen", "127.0.0.1:7865"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start shimaiadm exporter");
    let ex = Exporter { child, port: 7865 };
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl(ex.port, "/metrics").0 != "200" {
        assert!(Instant::now() < deadline, "exporter never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    // No daemon runs: the scrape succeeds and says so.
    let (code, body, _) = curl(ex.port, "/metrics");
    assert_eq!(code, "200");
    assert!(
        body.lines().any(|l| l == "drbd_resource_up{name=\"r0\"} 0"),
        "{body}"
    );
    // Eight idle clients hold every slot once the exporter has accepted them: one thread
    // each beside the main one (the count of threads, not a sleep, says when). Each waits
    // up to 5 s for its request: the ninth client must come within that window.
    let pid = ex.child.id();
    let threads = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let mut tries = 0;
    let idle = loop {
        tries += 1;
        // The earlier scrapes' threads may still be finishing (they hold a slot until
        // then): start from the main thread alone.
        let t = Instant::now();
        while threads() != 1 && t.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(threads(), 1, "the exporter's earlier scrapes never ended");
        let t = Instant::now();
        let idle: Vec<std::net::TcpStream> = (0..8)
            .map(|_| std::net::TcpStream::connect(("127.0.0.1", ex.port)).unwrap())
            .collect();
        while threads() < 9 && t.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            threads(),
            9,
            "the exporter did not take the eight idle clients"
        );
        let (code, body, _) = curl(ex.port, "/metrics");
        if t.elapsed() > Duration::from_secs(4) && tries < 3 {
            // Too slow a machine for the window; the idle clients may have timed out.
            continue;
        }
        assert_eq!(
            code,
            "503",
            "a ninth client {:?} after eight idle ones connected: {body}",
            t.elapsed()
        );
        break idle;
    };
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl(ex.port, "/metrics").0 != "200" {
        assert!(
            Instant::now() < deadline,
            "still refusing after the idle clients left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
