//! The last part of `scripts/demo`: the replicated web service on a two-node Pacemaker +
//! Corosync cluster on this machine (the test bed, docs/cluster.md), failed over by a power
//! loss of the Primary's node. It prints what it does as a short tutorial: the shimai
//! resource, the `crm configure` text, `crm_mon -1`, the page from the virtual IP, the kill,
//! the page again from the survivor, and where the outage went (detection, decision,
//! agents, read from the survivor's logs). Everything is removed when it ends, also after a
//! failed step (the cluster's and loop devices' guards).
//!
//! Run by `scripts/demo` as root with `SHIMAI_BIN_DIR` pointing at the built programs.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use shimai_tests::cluster::timings::{failover_timings, AgentOp};
use shimai_tests::cluster::web::vip;
use shimai_tests::cluster::{client, Cluster, ClusterOptions, Provider};

#[allow(dead_code)]
#[path = "../tests/drbd_support/cluster.rs"]
mod support;

use support::{adm, install_agent, wait_adm, DrbdWeb, LoopReaper, GROUP};

fn say(title: &str) {
    println!("\n\x1b[1m{title}\x1b[0m");
}

fn explain(lines: &[&str]) {
    for l in lines {
        println!("  {l}");
    }
}

/// Indented output of a command shown as `prompt# line`.
fn shown(prompt: &str, line: &str, output: &str) {
    println!("  {prompt}# {line}");
    for l in output.lines() {
        println!("    {l}");
    }
}

fn main() -> ExitCode {
    let started = Instant::now();
    match run() {
        Ok(()) => {
            println!(
                "\n  (this part took {} s, cluster start and removal included)",
                started.elapsed().as_secs()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("demo_cluster: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let provider = Provider::from_env();
    if provider.agents_dir().is_none() {
        return Err(
            "the replicated stack needs shimai's agents; unset SHIMAI_CLUSTER_PROVIDER".into(),
        );
    }
    install_agent(&provider);

    say("5. Pacemaker fails the replicated web service over");
    explain(&[
        "Two cluster nodes on this machine, node1 (10.77.0.1) and node2 (10.77.0.2): each in",
        "its own network, mount, PID and UTS namespaces, running the real corosync and",
        "pacemakerd from Debian (the test bed of docs/cluster.md). The test bed has no fence",
        "device, so stonith-enabled=false: a production cluster needs fencing.",
    ]);
    let t = Instant::now();
    let mut cluster = Cluster::start(ClusterOptions {
        nodes: 2,
        ..Default::default()
    })
    .map_err(|e| format!("cluster start: {e}"))?;
    explain(&[&format!(
        "Both nodes online, a DC elected, after {:.1} s.",
        t.elapsed().as_secs_f64()
    )]);

    explain(&[
        "",
        "The shimai resource: each node has its own 64 MiB backing file and its own shimaid,",
        "replicating over the cluster LAN on port 7789. Before Pacemaker takes over, the",
        "administrator brings it up once by hand to make the file system: create-md on both",
        "nodes, up, new-current-uuid --clear-bitmap (new disks, no initial sync), primary on",
        "node1, mkfs.ext4, the web page and a 3 MB data file, then secondary and down again.",
    ]);
    let web = DrbdWeb::prepare(&cluster, "10.77.0", "");
    // Declared after the cluster, so it drops first: a killed node's loop device is an
    // orphan by then.
    let _loops = LoopReaper(web.res.clone());
    let conf = std::fs::read_to_string(&web.conf).map_err(|e| e.to_string())?;
    shown("node1", &format!("cat {}", web.conf.display()), &conf);
    shown(
        "node1",
        &format!("sha256sum {}/data", web.docroot.display()),
        &format!("{}  data (written through node1's device)", web.data_sum),
    );

    say("5.1 The cluster configuration");
    explain(&[
        "A promotable clone of ocf:shimai:drbd (one Promoted, as DRBD's Master/Slave), and the",
        "web group (virtual IP, file system on the replicated device, Apache) on the Promoted",
        "node, started only after the promotion:",
    ]);
    let crm = web.crm(provider.name());
    shown("node1", "crm configure load update - <<EOF", &crm);
    println!("  EOF");
    let t = Instant::now();
    cluster
        .configure(&crm)
        .map_err(|e| format!("crm configure: {e}"))?;
    let st = cluster
        .wait_for(0, "web group started", Duration::from_secs(90), |s| {
            s.placed_on(GROUP).is_some()
        })
        .map_err(|e| e.to_string())?;
    let first = st.placed_on(GROUP).unwrap_or("node1").to_string();
    let (p, s) = if first == "node1" { (0, 1) } else { (1, 0) };
    web.wait_page(&cluster, 20);
    explain(&[&format!(
        "Pacemaker started the clone on both nodes, promoted {first} and started the group there, {:.1} s after the configuration was loaded.",
        t.elapsed().as_secs_f64()
    )]);
    let mon = cluster.crm_mon_text(p).map_err(|e| e.to_string())?;
    shown(&first, "crm_mon -1", &mon);
    let role = adm(&cluster, p, &web.conf, &["status", &web.res])?;
    shown(&first, &format!("shimaiadm status {}", web.res), &role);

    say("5.2 The page, from a client on the LAN");
    let url = format!("http://{}/", vip());
    let page = cluster
        .http_get(&url, Duration::from_secs(3))
        .map_err(|e| e.to_string())?;
    shown("client", &format!("curl {url}"), &page);

    say(&format!("5.3 Power loss of {first}, the Primary"));
    explain(&[
        &format!(
            "{first}'s processes are killed at once (SIGKILL to its whole PID namespace) and its"
        ),
        "network goes with it: no clean demote, no unmount. The client keeps asking for the",
        "page (a try waits up to 200 ms to connect, the next follows 20 ms later) until the",
        "right content comes back.",
    ]);
    let killed_at = cluster.kill_node(p);
    println!("  {first} powered off");
    let answer =
        client::first_good_response(cluster.hub(), &vip(), &web.page, Duration::from_secs(90))
            .map_err(|e| e.to_string())?;
    let outage = answer
        .at
        .duration_since(killed_at)
        .unwrap_or(Duration::ZERO);
    let survivor = format!("node{}", s + 1);
    let status = cluster
        .wait_for(
            s,
            "web group on the survivor",
            Duration::from_secs(30),
            |st| st.placed_on(GROUP) == Some(survivor.as_str()),
        )
        .map_err(|e| e.to_string())?;
    let again = cluster
        .http_get(&url, Duration::from_secs(3))
        .map_err(|e| e.to_string())?;
    shown("client", &format!("curl {url}"), &again);
    explain(&[if again == page {
        "The same page, now served by the survivor from its replica of the disk."
    } else {
        "A DIFFERENT page: the failover lost data (this should not happen)."
    }]);
    if again != page {
        return Err("the page changed across the failover".into());
    }
    let sum = web.data_sum_on(&cluster, s);
    shown(
        &survivor,
        &format!("sha256sum {}/data", web.docroot.display()),
        &format!("{sum}  data"),
    );
    if sum != web.data_sum {
        return Err("the data file changed across the failover".into());
    }
    let mon = cluster.crm_mon_text(s).map_err(|e| e.to_string())?;
    shown(&survivor, "crm_mon -1", &mon);
    wait_adm(
        &cluster,
        s,
        &web.conf,
        "role",
        &web.res,
        "Primary/Unknown",
        10,
    );
    let role = adm(&cluster, s, &web.conf, &["role", &web.res])?;
    shown(&survivor, &format!("shimaiadm role {}", web.res), &role);

    say("5.4 Where the outage went");
    let mut timings = failover_timings(&cluster, s, killed_at, GROUP).map_err(|e| e.to_string())?;
    if let Some(promote) = status
        .operations
        .iter()
        .filter(|o| o.node == survivor && o.task == "promote" && o.resource.starts_with("p_drbd"))
        .max_by_key(|o| o.call)
    {
        timings.agent_ops.insert(
            0,
            AgentOp {
                resource: "p_drbd".into(),
                task: "promote".into(),
                exec_ms: promote.exec_ms,
            },
        );
    }
    let ms = |d: Duration| d.as_millis();
    explain(&[
        &format!("The client saw the page again {} ms after the power loss ({} requests).", ms(outage), answer.attempts),
        &format!("From {survivor}'s corosync and pacemaker logs:"),
        &format!(
            "  detection {:>6} ms  corosync: token lost after {} ms, new membership {} ms later",
            ms(timings.detection()),
            ms(timings.token_lost),
            ms(timings.membership)
        ),
        &format!(
            "  decision  {:>6} ms  Pacemaker's scheduler computed the transition{}",
            ms(timings.decision),
            if timings.dc_takeover { " (after electing itself DC)" } else { "" }
        ),
        &format!(
            "  agents    {:>6} ms  promote, then the group's starts (the agents' own run time: {} ms)",
            ms(timings.actions),
            ms(timings.agents_exec())
        ),
    ]);
    if timings.total() > outage {
        explain(&[&format!(
            "  (together {} ms: more than the client's outage, as Apache answers before its agent's",
            ms(timings.total())
        ), "   start returns: the agent also waits for the server-status page)"]);
    }
    for op in &timings.agent_ops {
        println!(
            "      {:<12} {:<8} {:>5} ms",
            op.resource, op.task, op.exec_ms
        );
    }
    explain(&[
        "Detection dominates: corosync's token (2000 ms here, 3000 ms or more in production)",
        "plus the consensus wait. Fencing, which a real cluster must have, comes on top.",
    ]);

    say("5.5 Removing everything");
    explain(&[
        "Pacemaker stops the web group and the clone on the survivor, then corosync and",
        "pacemakerd are stopped, the namespaces, backing files and loop devices removed.",
    ]);
    cluster
        .crm(&["resource", "stop", "ms_drbd"])
        .map_err(|e| e.to_string())?;
    support::wait_down(&cluster, s, &web.conf, &web.res, 60);
    cluster.destroy();
    println!("  cluster removed");
    Ok(())
}
