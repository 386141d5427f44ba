//! Differential suite: resource-agents' `ocf:heartbeat:IPaddr2` and ours run
//! the same action sequence with the same environment, each in a fresh
//! namespace with identical setup. After every step the exit codes and the
//! namespace's addresses (prefix, broadcast, label, flags) must be equal.
//!
//! Scenarios run in parallel threads; each gets its own subnet
//! (10.N.0.0/24, 2001:db8:N::/64) because the reference keeps state files
//! named after the address in the shared `/run/resource-agents`.
//! `SHIMAI_IPADDR2_DEBUG=1` prints every step of both agents (with `--nocapture`).

mod ipaddr2_support;

use std::sync::Mutex;

use ipaddr2_support::{addr_state, lab, ours};
use shimai_tests::{have_program, have_root, reference_agent, run_agent, Netns};

/// One step: an OCF action (`monitor` is recurring, `probe` is monitor with
/// interval 0), or `!ARGS` run as `ip -n NS ARGS` to change the lab by hand.
struct Scenario {
    name: &'static str,
    params: &'static [(&'static str, &'static str)],
    /// `ip` commands run before the first step.
    setup: &'static [&'static str],
    steps: &'static [&'static str],
}

const fn sc(
    name: &'static str,
    params: &'static [(&'static str, &'static str)],
    setup: &'static [&'static str],
    steps: &'static [&'static str],
) -> Scenario {
    Scenario {
        name,
        params,
        setup,
        steps,
    }
}

const CYCLE: &[&str] = &["probe", "start", "monitor", "probe", "stop", "monitor"];

static SCENARIOS: &[Scenario] = &[
    // ---- happy paths, IPv4
    sc(
        "v4 nic+mask",
        &[("ip", "10.N.0.5"), ("nic", "va"), ("cidr_netmask", "24")],
        &[],
        CYCLE,
    ),
    sc("v4 autodetect", &[("ip", "10.N.0.6")], &[], CYCLE),
    sc(
        "v4 nic only",
        &[("ip", "10.N.0.7"), ("nic", "va")],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 mask only",
        &[("ip", "10.N.0.8"), ("cidr_netmask", "24")],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 shorter mask than route",
        &[("ip", "10.N.0.9"), ("cidr_netmask", "25")],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 mask longer than any route, no nic",
        &[("ip", "10.N.0.9"), ("cidr_netmask", "16")],
        &[],
        &["start", "probe", "stop"],
    ),
    sc(
        "v4 broadcast +",
        &[
            ("ip", "10.N.0.10"),
            ("nic", "va"),
            ("cidr_netmask", "24"),
            ("broadcast", "+"),
        ],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 broadcast -",
        &[
            ("ip", "10.N.0.11"),
            ("cidr_netmask", "24"),
            ("broadcast", "-"),
        ],
        &[],
        &["start", "stop"],
    ),
    sc(
        "v4 broadcast given",
        &[
            ("ip", "10.N.0.12"),
            ("cidr_netmask", "25"),
            ("broadcast", "10.N.0.127"),
        ],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 no broadcast to copy",
        &[("ip", "10.N.0.13")],
        &["addr flush dev va", "addr add 10.N.0.1/24 dev va"],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 iflabel",
        &[("ip", "10.N.0.14"), ("iflabel", "web")],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 nic:label",
        &[("ip", "10.N.0.15"), ("nic", "va:db")],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 loopback 127.0.0.x",
        &[("ip", "127.0.0.N")],
        &[],
        &["start", "monitor", "stop", "monitor"],
    ),
    sc(
        "v4 dotted netmask",
        &[("ip", "10.N.0.16"), ("cidr_netmask", "255.255.255.0")],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 legacy netmask alias",
        &[("ip", "10.N.0.16"), ("netmask", "24"), ("nic", "va")],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 double start and stop",
        &[("ip", "10.N.0.17")],
        &[],
        &["start", "start", "monitor", "stop", "stop", "monitor"],
    ),
    sc(
        "v4 monitor after removal by hand",
        &[("ip", "10.N.0.18"), ("nic", "va")],
        &[],
        &[
            "start",
            "!addr del 10.N.0.18/24 dev va",
            "monitor",
            "probe",
            "stop",
        ],
    ),
    sc(
        "v4 served with another prefix is not served",
        &[("ip", "10.N.0.19"), ("cidr_netmask", "24")],
        &["addr add 10.N.0.19/28 dev va"],
        &["probe", "start", "monitor", "stop"],
    ),
    sc(
        "v4 arp_count_refresh",
        &[("ip", "10.N.0.20"), ("arp_count_refresh", "1")],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 lvs_support moves the lo copy away and back",
        &[("ip", "10.N.0.21"), ("lvs_support", "true")],
        &["addr add 10.N.0.21/32 dev lo"],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 noprefixroute",
        &[
            ("ip", "10.N.0.22"),
            ("nic", "va"),
            ("cidr_netmask", "24"),
            ("noprefixroute", "true"),
        ],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 flush_routes",
        &[("ip", "10.N.0.23"), ("flush_routes", "true")],
        &[],
        &["start", "stop"],
    ),
    sc(
        "v4 off-subnet with nic and mask",
        &[("ip", "10.N.9.5"), ("nic", "va"), ("cidr_netmask", "24")],
        &[],
        &["start", "monitor", "stop", "monitor"],
    ),
    sc(
        "v4 longest prefix wins",
        &[("ip", "10.N.0.200")],
        &["addr add 10.N.0.129/25 dev vb"],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v4 validate-all",
        &[("ip", "10.N.0.24")],
        &[],
        &["validate-all"],
    ),
    // ---- IPv6 (the reference needs 1-3 s per start: few cases)
    sc(
        "v6 nodad",
        &[("ip", "2001:db8:N:0::0:5"), ("nodad", "true")],
        &[],
        &["probe", "start", "monitor", "stop", "monitor"],
    ),
    sc(
        "v6 preferred_lft and noprefixroute",
        &[
            ("ip", "2001:db8:N::6"),
            ("nic", "va"),
            ("cidr_netmask", "64"),
            ("nodad", "1"),
            ("preferred_lft", "0"),
            ("noprefixroute", "1"),
        ],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "v6 with DAD",
        &[("ip", "2001:db8:N::8"), ("nic", "va")],
        &[],
        &["start", "monitor", "status", "stop", "status"],
    ),
    sc(
        "v6 DAD failure",
        &[
            ("ip", "2001:db8:N::9"),
            ("nic", "va"),
            ("cidr_netmask", "64"),
        ],
        &["addr add 2001:db8:N::9/64 dev vb nodad"],
        &["start", "probe", "stop"],
    ),
    sc(
        "v6 probe and validate",
        &[("ip", "2001:db8:N::7")],
        &[],
        &["probe", "validate-all", "stop"],
    ),
    // ---- error paths
    sc(
        "ip unset",
        &[],
        &[],
        &["start", "monitor", "validate-all", "stop"],
    ),
    sc(
        "bad address",
        &[("ip", "not_ip")],
        &[],
        &["validate-all", "start", "monitor", "probe", "stop"],
    ),
    sc(
        "bad address with nic and mask",
        &[("ip", "10.N.0.300"), ("nic", "va"), ("cidr_netmask", "24")],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "bad mask 33",
        &[("ip", "10.N.0.30"), ("cidr_netmask", "33")],
        &[],
        &["validate-all", "start", "monitor", "probe", "stop"],
    ),
    sc(
        "bogus dotted mask",
        &[
            ("ip", "10.N.0.31"),
            ("cidr_netmask", "255.0.255.0"),
            ("nic", "va"),
        ],
        &[],
        &["start", "monitor"],
    ),
    sc(
        "bad broadcast",
        &[("ip", "10.N.0.32"), ("broadcast", "x")],
        &[],
        &["start", "validate-all"],
    ),
    sc(
        "missing nic",
        &[("ip", "10.N.0.33"), ("nic", "ethGone")],
        &[],
        &["validate-all", "start", "monitor", "probe", "stop"],
    ),
    sc(
        "no route",
        &[("ip", "10.250.N.5")],
        &[],
        &["validate-all", "start", "monitor", "probe", "stop"],
    ),
    sc(
        "iflabel too long",
        &[("ip", "10.N.0.34"), ("iflabel", "muchtoolong")],
        &[],
        &["start", "monitor", "stop"],
    ),
    sc(
        "arp_count 0",
        &[("ip", "10.N.0.35"), ("arp_count", "0")],
        &[],
        &["start", "validate-all", "monitor"],
    ),
    sc(
        "arp_interval not a number",
        &[("ip", "10.N.0.36"), ("arp_interval", "fast")],
        &[],
        &["start"],
    ),
    sc(
        "unknown arp_sender",
        &[("ip", "10.N.0.37"), ("arp_sender", "pigeon")],
        &[],
        &["start"],
    ),
    sc(
        "empty preferred_lft",
        &[("ip", "10.N.0.38"), ("preferred_lft", "")],
        &[],
        &["start"],
    ),
    sc(
        "fe80 without nic",
        &[("ip", "fe80::5")],
        &[],
        &["validate-all", "start"],
    ),
    sc(
        "lvs_support with IPv6",
        &[("ip", "2001:db8:N::9"), ("lvs_support", "true")],
        &[],
        &["start", "monitor"],
    ),
    sc(
        "lvs_ipv6_addrlabel with IPv4",
        &[("ip", "10.N.0.39"), ("lvs_ipv6_addrlabel", "true")],
        &[],
        &["start"],
    ),
    sc(
        "unique_clone_address without globally_unique",
        &[("ip", "10.N.0.40"), ("unique_clone_address", "true")],
        &[],
        &["start"],
    ),
    sc(
        "unknown action",
        &[("ip", "10.N.0.41")],
        &[],
        &["frobnicate"],
    ),
    sc(
        "probe with vanished nic",
        &[("ip", "10.N.0.42"), ("nic", "va"), ("cidr_netmask", "24")],
        &[],
        &["start", "!link del va", "probe", "monitor", "start", "stop"],
    ),
    sc(
        "vanished nic, autodetected",
        &[("ip", "10.N.0.43")],
        &["link del va"],
        &["probe", "monitor", "stop"],
    ),
];

fn subst(s: &str, n: u8) -> String {
    s.replace('N', &n.to_string())
}

/// Runs one agent through a scenario in a fresh lab: (rc, addresses) per step.
fn play(
    agent: &std::path::Path,
    sc: &Scenario,
    n: u8,
    tag: &str,
) -> Vec<(i32, Vec<String>, String)> {
    let ns: Netns = lab(&format!("ipd{tag}"), n);
    for cmd in sc.setup {
        ns.ip(&subst(cmd, n));
    }
    let params: Vec<(String, String)> = sc
        .params
        .iter()
        .map(|(k, v)| (format!("OCF_RESKEY_{k}"), subst(v, n)))
        .collect();
    let mut out = Vec::new();
    for step in sc.steps {
        if let Some(cmd) = step.strip_prefix('!') {
            ns.ip(&subst(cmd, n));
            continue;
        }
        let (action, interval) = match *step {
            "probe" => ("monitor", "0"),
            "monitor" => ("monitor", "10000"),
            other => (other, "0"),
        };
        let mut env: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.push(("OCF_RESKEY_CRM_meta_interval", interval));
        let r = run_agent(agent, action, "vip", &env, Some(&ns));
        let reasons = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("ocf-exit-reason:"))
            .count();
        let note = format!(
            "{step}: rc {} ({} exit reasons) {}",
            r.rc,
            reasons,
            r.stderr.trim()
        );
        if agent == ours().as_path() && ![0, 7].contains(&r.rc) {
            assert_eq!(
                reasons, 1,
                "{}: ours must print exactly one exit reason: {note}",
                sc.name
            );
        }
        let st = addr_state(&ns);
        if std::env::var("SHIMAI_IPADDR2_DEBUG").is_ok() {
            eprintln!("[{}:{tag}] {note} => {st:?}", sc.name);
        }
        out.push((r.rc, st, note));
    }
    out
}

#[test]
fn ipaddr2_matches_reference() {
    if !have_root("ipaddr2_matches_reference") || !have_program("ipaddr2_matches_reference", "ip") {
        return;
    }
    let reference = reference_agent("IPaddr2");
    assert!(
        reference.is_file(),
        "resource-agents is not installed: {}",
        reference.display()
    );
    assert!(
        SCENARIOS.len() >= 30,
        "the suite must keep at least 30 scenarios"
    );
    let next = Mutex::new(0usize);
    let failures = Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = {
                    let mut g = next.lock().unwrap();
                    let i = *g;
                    *g += 1;
                    i
                };
                let Some(sc) = SCENARIOS.get(i) else { break };
                let n = 100 + i as u8;
                let theirs = play(&reference, sc, n, "r");
                let mine = play(&ours(), sc, n, "o");
                for (step, (t, m)) in theirs.iter().zip(&mine).enumerate() {
                    if t.0 != m.0 || t.1 != m.1 {
                        failures.lock().unwrap().push(format!(
                            "scenario '{}' step {step}:\n  reference {}\n    {:?}\n  ours      {}\n    {:?}",
                            sc.name, t.2, t.1, m.2, m.1
                        ));
                        break;
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} scenario(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
