//! Our IPaddr2 on its own: ocf-tester with several parameter sets, the
//! packets it sends (gratuitous ARP, unsolicited NA) as seen from the other
//! end of the veth, the duplicate-address probe, network_namespace, and the
//! behaviours where it deliberately differs from the reference (CLUSTERIP).

mod ipaddr2_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use ipaddr2_support::{addr_state, lab, mac_of, ours, pcap_frames, wait_links_up};
use shimai_tests::{have_program, have_root, ocf_tester, run_agent, Netns, TempDir};

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn env(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.clone()))
        .collect()
}

fn run(ns: Option<&Netns>, action: &str, vars: &[(String, String)]) -> shimai_tests::AgentRun {
    let e: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_agent(&ours(), action, "vip", &e, ns)
}

fn has_addr(ns: &Netns, needle: &str) -> bool {
    addr_state(ns).iter().any(|l| l.contains(needle))
}

#[test]
fn ipaddr2_passes_ocf_tester() {
    if !have_root("ipaddr2_passes_ocf_tester")
        || !have_program("ipaddr2_passes_ocf_tester", "ocf-tester")
    {
        return;
    }
    let sets: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "v4-nic-mask",
            vec![("ip", "10.N.0.10"), ("nic", "va"), ("cidr_netmask", "24")],
        ),
        ("v4-autodetect", vec![("ip", "10.N.0.11")]),
        (
            "v4-label-brd",
            vec![
                ("ip", "10.N.0.12"),
                ("iflabel", "t1"),
                ("broadcast", "10.N.0.255"),
            ],
        ),
        (
            "v6-nodad",
            vec![("ip", "2001:db8:N::10"), ("nodad", "true")],
        ),
        ("v6-dad", vec![("ip", "2001:db8:N::11")]),
    ];
    let results: Vec<(String, bool, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = sets
            .iter()
            .enumerate()
            .map(|(i, (name, opts))| {
                s.spawn(move || {
                    let n = 60 + i as u8;
                    let ns = lab("ipt", n);
                    let opts: Vec<(String, String)> = opts
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.replace('N', &n.to_string())))
                        .collect();
                    let o: Vec<(&str, &str)> =
                        opts.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let (ok, out) = ocf_tester(&ours(), name, &o, Some(&ns));
                    let leftover = addr_state(&ns).len();
                    // lo 127.0.0.1 + ::1, va's v4 and v6: nothing else after the final stop.
                    (
                        name.to_string(),
                        ok && leftover == 4,
                        format!("{out}\naddresses left: {:?}", addr_state(&ns)),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (name, ok, out) in &results {
        assert!(ok, "ocf-tester failed for {name}:\n{out}");
    }
}

/// tcpdump on `dev` in the namespace, writing to `file`; killed by PID on drop.
struct Capture {
    child: Child,
}

impl Capture {
    fn start(ns: &Netns, dev: &str, file: &std::path::Path) -> Capture {
        let mut child = ns
            .command("tcpdump")
            .args([
                "-n",
                "-U",
                "--immediate-mode",
                "-Z",
                "root",
                "-i",
                dev,
                "-w",
            ])
            .arg(file)
            .arg("arp or icmp6")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump");
        // tcpdump says "listening on" once the capture is active.
        let err = child.stderr.take().unwrap();
        let mut lines = BufReader::new(err).lines();
        let ready = lines.any(|l| l.map(|l| l.contains("listening on")).unwrap_or(false));
        assert!(ready, "tcpdump did not start");
        std::thread::spawn(move || lines.for_each(drop));
        Capture { child }
    }
    fn frames(mut self, file: &std::path::Path) -> Vec<Vec<u8>> {
        // Immediate mode and -U write each packet as it comes; give the last
        // one a moment, then let tcpdump finish its file (SIGINT, by PID).
        std::thread::sleep(Duration::from_millis(200));
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status();
        let _ = self.child.wait();
        pcap_frames(&std::fs::read(file).unwrap_or_default())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ipaddr2_announces_with_gratuitous_arp_and_unsolicited_na() {
    if !have_root("ipaddr2_announces") || !have_program("ipaddr2_announces", "tcpdump") {
        return;
    }
    let n = 70;
    let ns = lab("ipa", n);
    wait_links_up(&ns);
    let mac = mac_of(&ns, "va");
    let dir = TempDir::new("ipaddr2-pcap");
    let file = dir.join("cap.pcap");
    let cap = Capture::start(&ns, "vb", &file);

    let v4 = env(&[
        ("ip", format!("10.{n}.0.5")),
        ("arp_count", "3".into()),
        ("arp_interval", "20".into()),
        ("arp_bg", "false".into()),
        ("arp_count_refresh", "1".into()),
    ]);
    assert_eq!(run(Some(&ns), "start", &v4).rc, 0);
    let mut mon = v4.clone();
    mon.push(("OCF_RESKEY_CRM_meta_interval".into(), "10000".into()));
    assert_eq!(run(Some(&ns), "monitor", &mon).rc, 0);
    // The IPv4 default: announced by a background child after start returned.
    let bg = env(&[
        ("ip", format!("10.{n}.0.6")),
        ("arp_count", "2".into()),
        ("arp_interval", "20".into()),
    ]);
    let t = Instant::now();
    assert_eq!(run(Some(&ns), "start", &bg).rc, 0);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "start waited for the announcer"
    );
    let v6 = env(&[
        ("ip", format!("2001:db8:{n}::5")),
        ("nodad", "true".into()),
        ("arp_count", "2".into()),
        ("arp_interval", "20".into()),
    ]);
    assert_eq!(run(Some(&ns), "start", &v6).rc, 0);
    let frames = cap.frames(&file);

    let ip4 = [10, n, 0, 5];
    let garps: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|f| f.len() >= 42 && f[12..14] == [0x08, 0x06])
        .filter(|f| f[28..32] == ip4 && f[38..42] == ip4)
        .collect();
    assert_eq!(
        garps.len(),
        4,
        "3 ARPs on start, 1 on the refreshing monitor: {frames:?}"
    );
    for f in &garps {
        assert_eq!(&f[0..6], &[0xff; 6], "to broadcast");
        assert_eq!(&f[6..12], &mac, "Ethernet source is va's MAC");
        assert_eq!(&f[22..28], &mac, "sender hardware address is va's MAC");
        assert_eq!(&f[20..22], &[0, 1], "ARP request (announcement)");
    }

    let bg_ip = [10, n, 0, 6];
    let bg_arps = frames
        .iter()
        .filter(|f| f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[28..32] == bg_ip)
        .count();
    assert_eq!(bg_arps, 2, "background announcer: {frames:?}");

    let target: std::net::Ipv6Addr = format!("2001:db8:{n}::5").parse().unwrap();
    let nas: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|f| f.len() >= 86 && f[12..14] == [0x86, 0xdd] && f[20] == 58 && f[54] == 136)
        .filter(|f| f[62..78] == target.octets())
        .collect();
    assert_eq!(nas.len(), 2, "arp_count unsolicited NAs: {frames:?}");
    for f in &nas {
        assert_eq!(
            &f[0..6],
            &[0x33, 0x33, 0, 0, 0, 1],
            "to the all-nodes group"
        );
        assert_eq!(f[21], 255, "hop limit 255");
        let dst: std::net::Ipv6Addr = <[u8; 16]>::try_from(&f[38..54]).unwrap().into();
        assert_eq!(dst.to_string(), "ff02::1");
        assert_eq!(
            f[58] & 0xe0,
            0x20,
            "override set, solicited and router clear"
        );
        assert_eq!(&f[78..80], &[2, 1], "target link-layer address option");
        assert_eq!(&f[80..86], &mac);
    }
}

#[test]
fn ipaddr2_run_arping_detects_a_duplicate() {
    if !have_root("ipaddr2_run_arping") {
        return;
    }
    let n = 71;
    let ns = lab("ipp", n);
    wait_links_up(&ns);
    // Another "host" (the peer end) already uses .5; .6 is free.
    ns.ip(&format!("addr add 10.{n}.0.5/24 dev vb"));
    let taken = env(&[
        ("ip", format!("10.{n}.0.5")),
        ("nic", "va".into()),
        ("run_arping", "true".into()),
    ]);
    let t = Instant::now();
    let r = run(Some(&ns), "start", &taken);
    assert_eq!(r.rc, 1, "collision must fail the start: {}", r.stderr);
    assert!(
        r.exit_reason().unwrap_or("").contains("collision"),
        "{}",
        r.stderr
    );
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(!addr_state(&ns)
        .iter()
        .any(|l| l.starts_with(&format!("va inet 10.{n}.0.5/"))));
    let free = env(&[
        ("ip", format!("10.{n}.0.6")),
        ("nic", "va".into()),
        ("run_arping", "true".into()),
    ]);
    let r = run(Some(&ns), "start", &free);
    assert_eq!(r.rc, 0, "{}", r.stderr);
    assert!(has_addr(&ns, &format!("va inet 10.{n}.0.6/24")));
    assert_eq!(run(Some(&ns), "stop", &free).rc, 0);
}

#[test]
fn ipaddr2_enters_network_namespace_itself() {
    if !have_root("ipaddr2_network_namespace") {
        return;
    }
    let n = 72;
    let ns = lab("ipn", n);
    // Run from the test's own namespace: the agent must setns() before touching anything.
    let vars = env(&[
        ("ip", format!("10.{n}.0.9")),
        ("network_namespace", ns.name().to_string()),
    ]);
    assert_eq!(run(None, "start", &vars).rc, 0);
    assert!(has_addr(&ns, &format!("va inet 10.{n}.0.9/24")));
    let mut mon = vars.clone();
    mon.push(("OCF_RESKEY_CRM_meta_interval".into(), "10000".into()));
    assert_eq!(run(None, "monitor", &mon).rc, 0);
    assert_eq!(run(None, "stop", &vars).rc, 0);
    assert!(!has_addr(&ns, &format!("10.{n}.0.9/")));
    // A namespace that does not exist: probe says stopped, stop succeeds, start fails.
    let gone = env(&[
        ("ip", format!("10.{n}.0.9")),
        ("network_namespace", "shimai-no-such-ns".into()),
    ]);
    assert_eq!(run(None, "monitor", &gone).rc, 7);
    assert_eq!(run(None, "stop", &gone).rc, 0);
    let r = run(None, "start", &gone);
    assert_eq!(r.rc, 1);
    assert!(
        r.exit_reason().unwrap_or("").contains("shimai-no-such-ns"),
        "{}",
        r.stderr
    );
}

#[test]
fn ipaddr2_refuses_clusterip_and_supports_unique_clone_address() {
    if !have_root("ipaddr2_clusterip") {
        return;
    }
    let n = 73;
    let ns = lab("ipc", n);
    let mut cip = env(&[("ip", format!("10.{n}.0.20"))]);
    cip.push(("OCF_RESKEY_CRM_meta_clone_max".into(), "2".into()));
    cip.push(("OCF_RESKEY_CRM_meta_clone".into(), "0".into()));
    for action in ["start", "validate-all"] {
        let r = run(Some(&ns), action, &cip);
        assert_eq!(r.rc, 6, "{action}: {}", r.stderr);
        let reason = r.exit_reason().unwrap_or("");
        assert!(
            reason.contains("CLUSTERIP") && reason.contains("removed"),
            "{reason}"
        );
    }
    assert_eq!(run(Some(&ns), "stop", &cip).rc, 0);
    assert!(!has_addr(&ns, &format!("10.{n}.0.20/")));

    let mut uca = cip.clone();
    uca.push(("OCF_RESKEY_unique_clone_address".into(), "true".into()));
    uca.push(("OCF_RESKEY_CRM_meta_globally_unique".into(), "true".into()));
    uca.retain(|(k, _)| k != "OCF_RESKEY_CRM_meta_clone");
    uca.push(("OCF_RESKEY_CRM_meta_clone".into(), "1".into()));
    assert_eq!(run(Some(&ns), "start", &uca).rc, 0);
    assert!(
        has_addr(&ns, &format!("va inet 10.{n}.0.21/24")),
        "{:?}",
        addr_state(&ns)
    );
    assert_eq!(run(Some(&ns), "stop", &uca).rc, 0);
    assert!(!has_addr(&ns, &format!("10.{n}.0.21/")));
}

#[test]
fn ipaddr2_start_needs_root_and_monitor_forks_nothing() {
    if !have_root("ipaddr2_root") || !have_program("ipaddr2_root", "strace") {
        return;
    }
    let n = 74;
    let ns = lab("ipr", n);
    let agent = ours();
    // As nobody (inside the namespace): start and stop are refused with OCF_ERR_PERM.
    for action in ["start", "stop"] {
        let mut c = ns.command("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&agent)
            .arg(action)
            .env_clear()
            .env("PATH", PATH)
            .env("OCF_RESKEY_ip", format!("10.{n}.0.5"));
        let out = shimai_tests::run(&mut c);
        assert_eq!(out.status.code(), Some(4), "{action} as nobody");
    }
    let vars = env(&[("ip", format!("10.{n}.0.5"))]);
    assert_eq!(run(Some(&ns), "start", &vars).rc, 0);
    // A monitor under strace -f: no process is created.
    let dir = TempDir::new("ipaddr2-strace");
    let log = dir.join("trace");
    let mut c = ns.command("strace");
    c.args(["-f", "-qq", "-e", "trace=process", "-o"])
        .arg(&log)
        .arg(&agent)
        .arg("monitor")
        .env_clear()
        .env("PATH", PATH)
        .env("OCF_RESKEY_ip", format!("10.{n}.0.5"))
        .env("OCF_RESKEY_CRM_meta_interval", "10000");
    let out = shimai_tests::run(&mut c);
    assert_eq!(out.status.code(), Some(0));
    let trace = std::fs::read_to_string(&log).unwrap();
    let spawns: Vec<&str> = trace
        .lines()
        .filter(|l| {
            let spawn = l.contains("fork(") || l.contains("clone(") || l.contains("clone3(");
            spawn || (l.contains("execve(") && !l.contains(agent.to_str().unwrap()))
        })
        .collect();
    assert!(spawns.is_empty(), "monitor created processes: {spawns:?}");
    assert_eq!(run(Some(&ns), "stop", &vars).rc, 0);
}

#[test]
fn ipaddr2_lvs_ipv6_addrlabel_is_added_and_removed() {
    if !have_root("ipaddr2_addrlabel") {
        return;
    }
    let n = 75;
    let ns = lab("ipl", n);
    let vars = env(&[
        ("ip", format!("2001:db8:{n}::7")),
        ("nodad", "1".into()),
        ("arp_count", "1".into()),
        ("lvs_ipv6_addrlabel", "true".into()),
        ("lvs_ipv6_addrlabel_value", "42".into()),
    ]);
    let label = format!("prefix 2001:db8:{n}::7/128 label 42");
    assert_eq!(run(Some(&ns), "start", &vars).rc, 0);
    assert!(
        ns.ip("addrlabel list").contains(&label),
        "{}",
        ns.ip("addrlabel list")
    );
    assert_eq!(run(Some(&ns), "stop", &vars).rc, 0);
    assert!(!ns.ip("addrlabel list").contains(&label));
    assert!(!has_addr(&ns, &format!("2001:db8:{n}::7/")));
}
