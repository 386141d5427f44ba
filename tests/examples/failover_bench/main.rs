//! `failover_bench`: how long the web service of SCENARIOS.md 4 is gone
//! when its node loses power, and which part of that is the agents'.
//!
//! ```text
//! cargo run --release -p shimai-tests --example failover_bench -- \
//!     [--stack shared|drbd] [--runs N] [--compare] [--check]
//! ```
//!
//! Each run starts a fresh two-node test-bed cluster (docs/cluster.md), puts
//! the web group (IPaddr2, Filesystem, apache) on node1, kills node1 and
//! waits, from a client on the LAN, for the first good answer on the
//! virtual IP. The survivor's logs then split that time into detection
//! (corosync: token lost, new membership), Pacemaker's decision (the
//! transition) and the actions (the group's starts), and the operation
//! history gives each agent's own `exec-time`: their sum is the agents'
//! share, whose target is under one second.
//!
//! `--stack drbd` measures the same for the replicated stack (module
//! [`drbd`]): the group follows the Promoted instance of an `ocf:shimai:drbd`
//! clone, the killed node is the Primary's, and the agents' share holds the
//! survivor's drbd promote before the group's starts.
//!
//! `--compare` (shared stack only) interleaves, run by run, the same failover with
//! resource-agents' IPaddr2 and Filesystem (`ocf:heartbeat`) instead of
//! shimai's, so that machine noise hits both alike, and prints the ratio
//! of the agents' shares. Apache is resource-agents' in both.
//!
//! shimai's agents come from `SHIMAI_BIN_DIR` when set, else from beside
//! this program (so a `--release` run uses release agents once
//! `cargo build --release --workspace --bins` made them), else from the
//! debug build. `--check`
//! exits non-zero when shimai's own agents (IPaddr2 + Filesystem, and the
//! drbd promote with `--stack drbd`) miss the target. Needs root.

mod drbd;

use shimai_tests::cluster::timings::{failover_timings, FailoverTimings};
use shimai_tests::cluster::web::{vip, GROUP};
use shimai_tests::cluster::{client, Cluster, ClusterOptions, Provider, Result, WebStack};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: failover_bench [--stack shared|drbd] [--runs N] [--compare] [--check]";

/// Which storage the web group's file system lives on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stack {
    /// A loop device both nodes see (SCENARIOS.md 4 as written).
    Shared,
    /// A shimai replicated resource under a promotable clone.
    Drbd,
}

/// What one run measured.
struct Run {
    provider: &'static str,
    timings: FailoverTimings,
    /// Kill → the first good answer on the virtual IP.
    page: Duration,
    /// Requests the client made before that answer.
    attempts: u32,
}

impl Run {
    /// The last start's result was logged → the client had its page: ARP,
    /// the TCP handshake and the client's polling interval.
    fn to_page_ms(&self) -> i128 {
        self.page.as_millis() as i128 - self.timings.total().as_millis() as i128
    }

    /// `exec-time` of the start of the member whose id ends with `suffix`.
    fn exec_of(&self, suffix: &str) -> u64 {
        self.timings
            .agent_ops
            .iter()
            .filter(|o| o.resource.ends_with(suffix))
            .map(|o| o.exec_ms)
            .sum()
    }

    /// shimai's own agents' share: IPaddr2 and Filesystem (what the two
    /// providers differ in; apache is the same agent in both), and the
    /// drbd promote in the replicated stack.
    fn replaced_ms(&self) -> u64 {
        self.exec_of("-ip") + self.exec_of("-fs") + self.exec_of("drbd")
    }
}

fn main() -> ExitCode {
    let mut runs = 5usize;
    let mut compare = false;
    let mut check = false;
    let mut stack = Stack::Shared;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => runs = n,
                _ => return usage("--runs needs a number of runs, 1 or more"),
            },
            "--compare" => compare = true,
            "--stack" => match args.next().as_deref() {
                Some("shared") => stack = Stack::Shared,
                Some("drbd") => stack = Stack::Drbd,
                _ => return usage("--stack needs 'shared' or 'drbd'"),
            },
            "--check" => check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("failover_bench: needs root (namespaces, a loop device, the cluster daemons)");
        return ExitCode::from(2);
    }
    if compare && stack == Stack::Drbd {
        return usage(
            "--compare needs the shared stack: resource-agents has no drbd agent to compare with",
        );
    }
    use_agents_beside_this_program(stack);
    let primary = Provider::from_env();
    if compare && primary == Provider::Heartbeat {
        return usage("--compare compares shimai's agents with resource-agents': unset SHIMAI_CLUSTER_PROVIDER");
    }
    let mut providers = vec![primary];
    if compare {
        providers.push(Provider::Heartbeat);
    }

    println!(
        "failover_bench: {} stack, {runs} run(s) per provider; kill the node running the web \
         group, wait for the page on http://{}/",
        match stack {
            Stack::Shared => "shared-disk",
            Stack::Drbd => "replicated (ocf:shimai:drbd)",
        },
        vip()
    );
    let mut done: Vec<Run> = Vec::new();
    let mut failures = 0;
    for i in 1..=runs {
        // Interleaved: noise from the other engineers' builds hits both.
        for p in &providers {
            let result = match stack {
                Stack::Shared => one_run(p).map_err(|e| e.to_string()),
                Stack::Drbd => drbd::one_run(p),
            };
            match result {
                Ok(r) => {
                    print_run(i, &r);
                    done.push(r);
                }
                Err(e) => {
                    failures += 1;
                    println!("run {i} {}: FAILED: {e}", p.name());
                }
            }
        }
    }
    let names: Vec<&str> = match stack {
        Stack::Shared => providers.iter().map(|p| p.name()).collect(),
        Stack::Drbd => vec!["shimai+drbd"],
    };
    let met = summary(&done, &names, stack);
    if failures > 0 {
        println!("{failures} run(s) failed");
        return ExitCode::FAILURE;
    }
    if check && !met {
        println!("--check: the target is missed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("failover_bench: {msg}\n{USAGE}");
    ExitCode::from(2)
}

/// Points the harness at the agents built with this program's profile
/// (`target/release/ocf-ipaddr2` beside `target/release/examples/`), unless
/// `SHIMAI_BIN_DIR` already says where they are.
fn use_agents_beside_this_program(stack: Stack) {
    if std::env::var_os("SHIMAI_BIN_DIR").is_some() {
        return;
    }
    let profile_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()));
    if let Some(dir) = profile_dir {
        let extra = match stack {
            Stack::Shared => &[][..],
            Stack::Drbd => drbd::BINARIES,
        };
        if ["ocf-ipaddr2", "ocf-filesystem"]
            .iter()
            .chain(extra)
            .all(|b| dir.join(b).is_file())
        {
            // Set before any thread starts; the harness reads it in `bin`.
            std::env::set_var("SHIMAI_BIN_DIR", &dir);
        }
    }
    match std::env::var_os("SHIMAI_BIN_DIR") {
        Some(d) => println!("shimai agents from {}", d.to_string_lossy()),
        None => println!("shimai agents from the workspace's debug build"),
    }
}

/// One failover on a fresh cluster.
fn one_run(provider: &Provider) -> Result<Run> {
    let mut cluster = Cluster::start(ClusterOptions::default())?;
    let web = WebStack::install(&cluster, provider, "node1")?;
    web.fetch(&cluster, Duration::from_secs(3))?;
    let killed_at = cluster.kill_node(0);
    let answer =
        client::first_good_response(cluster.hub(), &vip(), &web.page, Duration::from_secs(60))?;
    cluster.wait_for(1, "web group on node2", Duration::from_secs(30), |s| {
        s.placed_on(GROUP) == Some("node2")
    })?;
    let timings = failover_timings(&cluster, 1, killed_at, GROUP)?;
    let page = answer
        .at
        .duration_since(killed_at)
        .unwrap_or(Duration::ZERO);
    // The cluster goes first: node2 lets go of the shared disk before its
    // loop device is detached.
    drop(cluster);
    drop(web);
    Ok(Run {
        provider: provider.name(),
        timings,
        page,
        attempts: answer.attempts,
    })
}

fn print_run(i: usize, r: &Run) {
    let t = &r.timings;
    let ms = |d: Duration| d.as_millis();
    println!(
        "run {i} {}: kill -> page {} ms = detection {} (token lost {} + membership {}) \
         + decision {}{} + actions {} + to the client {} ms ({} requests); \
         agents' share {} ms ({})",
        r.provider,
        ms(r.page),
        ms(t.detection()),
        ms(t.token_lost),
        ms(t.membership),
        ms(t.decision),
        if t.dc_takeover { " (DC takeover)" } else { "" },
        ms(t.actions),
        r.to_page_ms(),
        r.attempts,
        ms(t.agents_exec()),
        t.agent_ops
            .iter()
            .map(|o| format!("{} {} ms", o.resource, o.exec_ms))
            .collect::<Vec<_>>()
            .join(", "),
    );
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<i128>) -> i128 {
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => 0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

/// One table row: a label, whether only the replicated stack has it, and
/// how to read the figure from a run.
type Row = (&'static str, bool, fn(&Run) -> i128);

const ROWS: &[Row] = &[
    ("kill → token lost", false, |r| {
        r.timings.token_lost.as_millis() as i128
    }),
    ("token lost → new membership", false, |r| {
        r.timings.membership.as_millis() as i128
    }),
    ("detection", false, |r| {
        r.timings.detection().as_millis() as i128
    }),
    ("membership → transition (decision)", false, |r| {
        r.timings.decision.as_millis() as i128
    }),
    ("transition → group started (actions)", false, |r| {
        r.timings.actions.as_millis() as i128
    }),
    ("drbd promote exec-time", true, |r| {
        r.exec_of("drbd") as i128
    }),
    ("IPaddr2 start exec-time", false, |r| {
        r.exec_of("-ip") as i128
    }),
    ("Filesystem start exec-time", false, |r| {
        r.exec_of("-fs") as i128
    }),
    ("apache start exec-time", false, |r| {
        r.exec_of("-server") as i128
    }),
    (
        "shimai's agents: IPaddr2 + Filesystem (+ drbd promote)",
        false,
        |r| r.replaced_ms() as i128,
    ),
    ("agents' share (sum of exec-time)", false, |r| {
        r.timings.agents_exec().as_millis() as i128
    }),
    (
        "group started → first good answer (< 0: served before apache's start returned)",
        false,
        Run::to_page_ms,
    ),
    ("kill → first good answer", false, |r| {
        r.page.as_millis() as i128
    }),
];

/// Prints the medians and the verdicts; true when the first column's
/// shimai agents (IPaddr2 + Filesystem, + drbd promote) meet the 1 s target.
fn summary(done: &[Run], names: &[&str], stack: Stack) -> bool {
    let of = |name: &str| -> Vec<&Run> { done.iter().filter(|r| r.provider == name).collect() };
    println!("\nmedians, ms:\n");
    let mut header = String::from("| |");
    let mut rule = String::from("|---|");
    for n in names {
        header.push_str(&format!(" {n} ({} runs) |", of(n).len()));
        rule.push_str("---|");
    }
    println!("{header}\n{rule}");
    for (label, drbd_only, get) in ROWS {
        if *drbd_only && stack != Stack::Drbd {
            continue;
        }
        let mut line = format!("| {label} |");
        for n in names {
            line.push_str(&format!(
                " {} |",
                median(of(n).iter().map(|r| get(r)).collect())
            ));
        }
        println!("{line}");
    }
    let dc = |n: &str| of(n).iter().filter(|r| r.timings.dc_takeover).count();
    for n in names {
        println!(
            "{n}: the survivor had to take over as DC in {} of {} runs",
            dc(n),
            of(n).len()
        );
    }
    let share = |n: &str| {
        median(
            of(n)
                .iter()
                .map(|r| r.timings.agents_exec().as_millis() as i128)
                .collect(),
        )
    };
    let replaced = |n: &str| median(of(n).iter().map(|r| r.replaced_ms() as i128).collect());
    // resource-agents' apache checks once right after starting httpd and,
    // when the pid file is not written yet, sleeps a whole second.
    let apache_waited = |n: &str| {
        of(n)
            .iter()
            .filter(|r| r.exec_of("-server") >= 1000)
            .count()
    };
    let verdict = |ms: i128| if ms < 1000 { "MET" } else { "MISSED" };
    println!("\ntarget: the agents' share of a failover under 1 second");
    for n in names {
        if of(n).is_empty() {
            continue;
        }
        println!(
            "  {n}: shimai's agents {} (median {} ms); with apache {} (median {} ms; \
             apache's start waited its 1 s retry in {} of {} runs)",
            verdict(replaced(n)),
            replaced(n),
            verdict(share(n)),
            share(n),
            apache_waited(n),
            of(n).len()
        );
    }
    if let [a, b] = names {
        let ratio = |x: i128, y: i128| {
            if y > 0 {
                format!("{:.1}x", x as f64 / y as f64)
            } else {
                "n/a".to_string()
            }
        };
        println!(
            "ratio {b}/{a}, agents' share (median): {} ({} ms / {} ms); \
             IPaddr2 + Filesystem only: {} ({} ms / {} ms)",
            ratio(share(b), share(a)),
            share(b),
            share(a),
            ratio(replaced(b), replaced(a)),
            replaced(b),
            replaced(a),
        );
    }
    names
        .first()
        .is_some_and(|n| !of(n).is_empty() && replaced(n) < 1000)
}
