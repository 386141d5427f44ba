//! The replicated stack (`--stack drbd`): the web group on the Promoted
//! instance of a promotable `ocf:shimai:drbd` clone, each node with its own
//! shimaid and backing file, as the `drbd_cluster` suite sets it up (its
//! support code is shared through `#[path]`). Killing the Primary's node
//! makes the survivor promote, mount and serve, so the agents' share also
//! holds the drbd promote.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use shimai_tests::cluster::timings::{failover_timings, AgentOp};
use shimai_tests::cluster::web::vip;
use shimai_tests::cluster::{client, Cluster, ClusterOptions, Provider};

#[allow(dead_code)]
#[path = "../../tests/drbd_support/cluster.rs"]
mod support;

use support::{install_agent, DrbdWeb, LoopReaper, GROUP};

use crate::Run;

/// The binaries this stack runs besides the shared stack's agents.
pub const BINARIES: &[&str] = &["ocf-drbd", "shimaid", "shimaiadm"];

/// The primitive inside the promotable clone (see `DrbdWeb::crm`).
const PRIMITIVE: &str = "p_drbd";

/// One failover of the replicated stack on a fresh cluster. The support
/// code panics on a failed step (it is test code): that is caught and
/// reported as this run's failure, after the guards cleaned up.
pub fn one_run(provider: &Provider) -> Result<Run, String> {
    let Some(_) = provider.agents_dir() else {
        return Err(
            "the replicated stack needs shimai's agents (ocf:heartbeat has no drbd)".into(),
        );
    };
    install_agent(provider);
    catch_unwind(AssertUnwindSafe(|| run_inner(provider))).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a step panicked".into());
        Err(msg)
    })
}

fn run_inner(provider: &Provider) -> Result<Run, String> {
    let mut cluster = Cluster::start(ClusterOptions {
        nodes: 2,
        ..Default::default()
    })
    .map_err(|e| format!("cluster start: {e}"))?;
    let web = DrbdWeb::prepare(&cluster, "10.77.0", "");
    // Declared after the cluster, so it drops first: the killed node's loop
    // device is an orphan by then.
    let _loops = LoopReaper(web.res.clone());
    cluster
        .configure(&web.crm(provider.name()))
        .map_err(|e| format!("configure: {e}"))?;
    let st = cluster
        .wait_for(0, "web group started", Duration::from_secs(90), |s| {
            s.placed_on(GROUP).is_some()
        })
        .map_err(|e| e.to_string())?;
    let first = st.placed_on(GROUP).unwrap_or("node1").to_string();
    let (p, s) = if first == "node1" { (0, 1) } else { (1, 0) };
    web.wait_page(&cluster, 20);
    let killed_at = cluster.kill_node(p);
    let answer =
        client::first_good_response(cluster.hub(), &vip(), &web.page, Duration::from_secs(90))
            .map_err(|e| e.to_string())?;
    let survivor = format!("node{}", s + 1);
    let status = cluster
        .wait_for(
            s,
            "web group on the survivor",
            Duration::from_secs(30),
            |st| st.placed_on(GROUP) == Some(survivor.as_str()),
        )
        .map_err(|e| e.to_string())?;
    let mut timings = failover_timings(&cluster, s, killed_at, GROUP).map_err(|e| e.to_string())?;
    // The promote is the clone's last recorded operation on the survivor
    // (notifications are not recorded); it ran before the group's starts.
    let promote = status
        .operations
        .iter()
        .filter(|o| {
            o.node == survivor
                && o.task == "promote"
                && (o.resource == PRIMITIVE || o.resource.starts_with("p_drbd:"))
        })
        .max_by_key(|o| o.call)
        .ok_or_else(|| format!("no promote of {PRIMITIVE} on {survivor} in the history"))?;
    timings.agent_ops.insert(
        0,
        AgentOp {
            resource: PRIMITIVE.into(),
            task: "promote".into(),
            exec_ms: promote.exec_ms,
        },
    );
    let page = answer
        .at
        .duration_since(killed_at)
        .unwrap_or(Duration::ZERO);
    Ok(Run {
        provider: "shimai+drbd",
        timings,
        page,
        attempts: answer.attempts,
    })
}
