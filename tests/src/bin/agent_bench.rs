//! Benchmarks shimai's OCF agents against resource-agents' shell agents.
//!
//! Both agents run the same action with the same environment, interleaved
//! run by run so that machine noise hits both alike. For each case it prints
//! the median wall time and CPU time (user+sys of the agent and everything it
//! waited for), their ratios, and the number of processes the action starts.
//!
//! Usage: agent-bench [--runs N] [--check] [filesystem|ipaddr2|iscsi]...
//! Needs root: it creates a network namespace and a loop device, and starts a
//! tgtd of its own (killed by PID), and removes them when done.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};
use shimai_tests::{bin, reference_agent, LoopDev, Netns, TempDir};

struct Case {
    agent: &'static str,
    label: String,
    /// Actions run in sequence and timed together.
    actions: Vec<&'static str>,
    env: Vec<(String, String)>,
}

#[derive(Default)]
struct Sample {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
    children: Vec<usize>,
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn cpu_children() -> Duration {
    let u = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let t = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(tv.tv_sec() as u64) + Duration::from_micros(tv.tv_usec() as u64)
    };
    t(u.user_time()) + t(u.system_time())
}

fn command(agent: &Path, action: &str, env: &[(String, String)]) -> Command {
    let mut c = Command::new(agent);
    c.arg(action)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("OCF_ROOT", "/usr/lib/ocf")
        .env("OCF_RA_VERSION_MAJOR", "1")
        .env("OCF_RA_VERSION_MINOR", "1")
        .env("OCF_RESOURCE_INSTANCE", "bench")
        .env("OCF_RESKEY_CRM_meta_timeout", "20000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// One timed run of the case's actions; returns (wall, cpu).
fn timed(agent: &Path, case: &Case) -> (Duration, Duration) {
    let cpu0 = cpu_children();
    let t0 = Instant::now();
    for action in &case.actions {
        let st = command(agent, action, &case.env)
            .status()
            .expect("run agent");
        let rc = st.code().unwrap_or(-1);
        assert!(
            rc == 0,
            "{} {action} ({}) exited {rc}",
            agent.display(),
            case.label
        );
    }
    (t0.elapsed(), cpu_children() - cpu0)
}

/// Processes started by the case's actions, counted with strace (fork, clone, vfork).
fn children(agent: &Path, case: &Case, tmp: &Path) -> usize {
    let mut total = 0;
    for (i, action) in case.actions.iter().enumerate() {
        let out = tmp.join(format!("strace.{i}"));
        let c = command(agent, action, &case.env);
        let prog = c.get_program().to_owned();
        let args: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
        let envs: Vec<_> = c
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect();
        let st = Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=fork,vfork,clone,clone3", "-o"])
            .arg(&out)
            .arg(prog)
            .args(args)
            .env_clear()
            .envs(envs)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("strace");
        assert!(st.success(), "strace run of {action} failed");
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        // Threads are clones too; count only new processes (no CLONE_THREAD).
        total += text
            .lines()
            .filter(|l| {
                (l.contains("clone(") || l.contains("clone3(") || l.contains("fork("))
                    && !l.contains("CLONE_THREAD")
                    && !l.contains("= -1")
            })
            .count();
    }
    total
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut runs = 30usize;
    let mut check = false;
    let mut only: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(30),
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: agent-bench [--runs N] [--check] [filesystem|ipaddr2|iscsi]...");
                return;
            }
            other => only.push(other.to_string()),
        }
    }
    let want = |s: &str| only.is_empty() || only.iter().any(|o| o == s);
    let tmp = TempDir::new("bench");
    let mut failures = Vec::new();
    println!(
        "{runs} runs per case, ours and the reference interleaved; medians.\n\
         cpu = user+sys of the agent and the processes it waited for.\n"
    );
    println!(
        "{:<10} {:<26} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7} {:>6} {:>6}",
        "agent", "case", "ref ms", "ours ms", "x", "ref cpu", "ours cpu", "x", "ref p", "ours p"
    );

    if want("filesystem") {
        let dev = LoopDev::new(64, Some("ext4"));
        let dir = tmp.join("mnt");
        std::fs::create_dir_all(&dir).expect("mountpoint");
        let env = vec![
            ("OCF_RESKEY_device".to_string(), dev.path().to_string()),
            ("OCF_RESKEY_directory".into(), dir.display().to_string()),
            ("OCF_RESKEY_fstype".into(), "ext4".into()),
        ];
        let monitor_env = |level: &str| {
            let mut e = env.clone();
            e.push(("OCF_RESKEY_CRM_meta_interval".into(), "20000".into()));
            e.push(("OCF_CHECK_LEVEL".into(), level.into()));
            e
        };
        let ours = bin_release("ocf-filesystem");
        let cases = vec![
            case("Filesystem", "meta-data", &["meta-data"], &env),
            case("Filesystem", "validate-all", &["validate-all"], &env),
            case("Filesystem", "start+stop", &["start", "stop"], &env),
            case(
                "Filesystem",
                "monitor (mounted, depth 0)",
                &["monitor"],
                &monitor_env("0"),
            ),
            case(
                "Filesystem",
                "monitor (mounted, depth 20)",
                &["monitor"],
                &monitor_env("20"),
            ),
        ];
        // Monitors run against a mounted filesystem.
        run_cases(
            &cases,
            &ours,
            &reference_agent("Filesystem"),
            runs,
            &tmp,
            &mut failures,
            || {
                let st = command(&ours, "start", &env).status().expect("start");
                assert!(st.success(), "could not mount for the monitor cases");
            },
        );
        let _ = command(&ours, "stop", &env).status();
    }

    if want("ipaddr2") {
        let ns = Netns::new("bench");
        ns.veth_pair("bva", "bvb", "10.201.0.1/24", "10.201.0.2/24");
        // Only this thread enters the namespace: the agents it spawns inherit
        // it, while the process as a whole stays outside, so that removing
        // the namespace afterwards (which kills what is inside) spares us.
        std::thread::scope(|s| {
            s.spawn(|| {
                enter_netns(ns.name());
                let env = vec![("OCF_RESKEY_ip".to_string(), "10.201.0.10".to_string())];
                let mut mon = env.clone();
                mon.push(("OCF_RESKEY_CRM_meta_interval".into(), "10000".into()));
                let ours = bin_release("ocf-ipaddr2");
                let cases = vec![
                    case("IPaddr2", "meta-data", &["meta-data"], &env),
                    case("IPaddr2", "validate-all", &["validate-all"], &env),
                    case("IPaddr2", "start+stop", &["start", "stop"], &env),
                    case("IPaddr2", "monitor (running)", &["monitor"], &mon),
                ];
                let reference = reference_agent("IPaddr2");
                run_cases(&cases, &ours, &reference, runs, &tmp, &mut failures, || {
                    let st = command(&ours, "start", &env).status().expect("start");
                    assert!(
                        st.success(),
                        "could not add the address for the monitor case"
                    );
                });
                let _ = command(&ours, "stop", &env).status();
            })
            .join()
            .expect("IPaddr2 cases");
        });
    }

    if want("iscsi") {
        bench_iscsi(&tmp, runs, &mut failures);
    }

    println!();
    if failures.is_empty() {
        println!(
            "targets met: monitor cpu >= 20x, wall >= 10x less than the reference, 0 processes"
        );
    } else {
        for f in &failures {
            println!("TARGET MISSED: {f}");
        }
        if check {
            std::process::exit(1);
        }
    }
}

fn case(
    agent: &'static str,
    label: &str,
    actions: &[&'static str],
    env: &[(String, String)],
) -> Case {
    Case {
        agent,
        label: label.to_string(),
        actions: actions.to_vec(),
        env: env.to_vec(),
    }
}

fn bin_release(name: &str) -> PathBuf {
    let p = shimai_tests::workspace().join("target/release").join(name);
    if p.is_file() {
        p
    } else {
        bin(name)
    }
}

fn enter_netns(name: &str) {
    let f = std::fs::File::open(format!("/run/netns/{name}")).expect("open netns");
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

fn run_cases(
    cases: &[Case],
    ours: &Path,
    reference: &Path,
    runs: usize,
    tmp: &TempDir,
    failures: &mut Vec<String>,
    before_monitors: impl Fn(),
) {
    let mut prepared = false;
    for case in cases {
        if case.actions == ["monitor"] && !prepared {
            before_monitors();
            prepared = true;
        }
        let mut r = Sample::default();
        let mut o = Sample::default();
        for _ in 0..runs {
            let (w, c) = timed(reference, case);
            r.wall.push(w);
            r.cpu.push(c);
            let (w, c) = timed(ours, case);
            o.wall.push(w);
            o.cpu.push(c);
        }
        for _ in 0..3 {
            r.children.push(children(reference, case, tmp.path()));
            o.children.push(children(ours, case, tmp.path()));
        }
        r.children.sort();
        o.children.sort();
        let (rw, ow) = (median(&mut r.wall), median(&mut o.wall));
        let (rc, oc) = (median(&mut r.cpu), median(&mut o.cpu));
        let (rp, op) = (r.children[1], o.children[1]);
        let ratio = |a: Duration, b: Duration| ms(a) / ms(b).max(0.001);
        println!(
            "{:<10} {:<26} {:>10.2} {:>10.2} {:>7.1} {:>10.2} {:>10.2} {:>7.1} {:>6} {:>6}",
            case.agent,
            case.label,
            ms(rw),
            ms(ow),
            ratio(rw, ow),
            ms(rc),
            ms(oc),
            ratio(rc, oc),
            rp,
            op
        );
        if case.label.starts_with("monitor") {
            if ratio(rc, oc) < 20.0 {
                failures.push(format!(
                    "{} {}: cpu ratio {:.1} < 20",
                    case.agent,
                    case.label,
                    ratio(rc, oc)
                ));
            }
            if ratio(rw, ow) < 10.0 {
                failures.push(format!(
                    "{} {}: wall ratio {:.1} < 10",
                    case.agent,
                    case.label,
                    ratio(rw, ow)
                ));
            }
            if op != 0 {
                failures.push(format!(
                    "{} {}: {op} child processes",
                    case.agent, case.label
                ));
            }
        }
    }
}

/// A tgtd of the bench's own: its socket under `dir`, its portal on a free
/// port of 127.0.0.1; killed by PID on drop (tgtd ignores SIGTERM).
struct Tgtd(std::process::Child);

impl Drop for Tgtd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bench_iscsi(tmp: &TempDir, runs: usize, failures: &mut Vec<String>) {
    let dir = tmp.join("tgtd");
    std::fs::create_dir_all(&dir).expect("tgtd dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let base = dir.join("socket");
    let _tgtd = Tgtd(
        Command::new("tgtd")
            .args([
                "-f",
                "-C",
                "0",
                "--iscsi",
                &format!("portal=127.0.0.1:{port}"),
            ])
            .env("TGT_IPC_SOCKET", &base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tgtd (apt-get install tgt)"),
    );
    let socket = dir.join("socket.0");
    let t0 = Instant::now();
    while !socket.exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(socket.exists(), "tgtd did not create {}", socket.display());
    // Our binary picks its agent by the name it is run as.
    let names = tmp.join("iscsi-agents");
    std::fs::create_dir_all(&names).expect("agents dir");
    for n in ["iSCSITarget", "iSCSILogicalUnit"] {
        let _ = std::fs::remove_file(names.join(n));
        std::os::unix::fs::symlink(bin_release("ocf-iscsi-target"), names.join(n))
            .expect("symlink agent");
    }
    let backing = tmp.join("lu.img");
    std::fs::File::create(&backing)
        .and_then(|f| f.set_len(64 << 20))
        .expect("backing file");
    let iqn = "iqn.2026-01.org.shimai.bench:disk";
    let ipc = ("TGT_IPC_SOCKET".to_string(), base.display().to_string());
    let tenv = vec![
        ipc.clone(),
        ("OCF_RESKEY_iqn".to_string(), iqn.to_string()),
        ("OCF_RESKEY_tid".into(), "1".into()),
    ];
    let lenv = vec![
        ipc,
        ("OCF_RESKEY_target_iqn".to_string(), iqn.to_string()),
        ("OCF_RESKEY_lun".into(), "1".into()),
        ("OCF_RESKEY_path".into(), backing.display().to_string()),
    ];
    let monitor = |e: &Vec<(String, String)>| {
        let mut e = e.clone();
        e.push(("OCF_RESKEY_CRM_meta_interval".into(), "10000".into()));
        e
    };
    let ours_t = names.join("iSCSITarget");
    let ours_l = names.join("iSCSILogicalUnit");
    let cases = vec![
        case("iSCSITarget", "meta-data", &["meta-data"], &tenv),
        case("iSCSITarget", "validate-all", &["validate-all"], &tenv),
        case("iSCSITarget", "start+stop", &["start", "stop"], &tenv),
        case(
            "iSCSITarget",
            "monitor (running)",
            &["monitor"],
            &monitor(&tenv),
        ),
    ];
    run_cases(
        &cases,
        &ours_t,
        &reference_agent("iSCSITarget"),
        runs,
        tmp,
        failures,
        || {
            let st = command(&ours_t, "start", &tenv).status().expect("start");
            assert!(
                st.success(),
                "could not start the target for the monitor case"
            );
        },
    );
    // The target stays for the logical unit's cases.
    let cases = vec![
        case("iSCSILU", "meta-data", &["meta-data"], &lenv),
        case("iSCSILU", "validate-all", &["validate-all"], &lenv),
        case("iSCSILU", "start+stop", &["start", "stop"], &lenv),
        case(
            "iSCSILU",
            "monitor (running)",
            &["monitor"],
            &monitor(&lenv),
        ),
    ];
    run_cases(
        &cases,
        &ours_l,
        &reference_agent("iSCSILogicalUnit"),
        runs,
        tmp,
        failures,
        || {
            let st = command(&ours_l, "start", &lenv).status().expect("start");
            assert!(st.success(), "could not start the LU for the monitor case");
        },
    );
    let _ = command(&ours_l, "stop", &lenv).status();
    let _ = command(&ours_t, "stop", &tenv).status();
}
