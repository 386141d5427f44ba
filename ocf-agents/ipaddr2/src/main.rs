//! `ocf:shimai:IPaddr2`: a floating IPv4/IPv6 address, as resource-agents'
//! `ocf:heartbeat:IPaddr2` (4.12) manages it, without its ~40 forks per
//! monitor. Every action reads the kernel's links, addresses and routes over
//! one rtnetlink socket, decides what to do with pure functions ([`config`],
//! [`findif`], [`plan`]), then does it ([`exec`]) over rtnetlink and packet
//! sockets. Monitor runs no other process.
//!
//! Flow of one action: enter `network_namespace` → [`config::Config::parse`]
//! → snapshot → [`findif::findif`] → [`config::Config::check_after_findif`] →
//! plan → execute.
#![deny(unsafe_code)] // forbidden in every module but `sys` (each says so)

mod announce;
mod config;
mod error;
mod exec;
mod findif;
mod netlink;
mod netns;
mod packet;
mod params;
mod plan;
mod sys;

use std::net::IpAddr;
use std::time::Duration;

use ocf::{Action, Context, ExitCode, Result};

use config::{Config, Family};
use netlink::codec::{AF_INET, AF_INET6, ARPHRD_ETHER};
use netlink::Rtnl;

fn main() {
    ocf::main(&params::INFO, handle)
}

fn handle(ctx: &Context) -> Result<ExitCode> {
    let action = &ctx.action;
    let ns = ctx.params.str("network_namespace");
    if !ns.is_empty() {
        if let Err(e) = netns::enter(ns) {
            // Nothing of ours can be running in a namespace that does not exist.
            if ctx.is_probe() {
                ctx.log.info(&e.to_string());
                return Ok(ExitCode::NotRunning);
            }
            if *action == Action::Stop {
                ctx.log.warn(&e.to_string());
                return Ok(ExitCode::Success);
            }
            return Err(e.into_ocf("entering the network namespace"));
        }
    }
    let is_root = nix::unistd::geteuid().is_root();
    let cfg = Config::parse(&ctx.params, &ctx.env, action, is_root, &ctx.log)?;
    let family = match cfg.family {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
    };
    let mut rtnl = Rtnl::open().map_err(|e| e.into_ocf("reading the network state"))?;
    let snap = rtnl
        .snapshot(family, true)
        .map_err(|e| e.into_ocf("reading links, addresses and routes"))?;
    let found = match findif::findif(&cfg, action, &snap) {
        Ok(f) => f,
        Err(e) => {
            if ctx.is_probe() || *action == Action::Stop {
                ctx.log.info(&format!("[findif] failed: {}", e.reason()));
            }
            return findif::on_failure(e, action, ctx.is_probe());
        }
    };
    let ann = cfg.check_after_findif(&found.nic, &ctx.params, &ctx.env, action)?;
    let mut exec = exec::Executor {
        rtnl: &mut rtnl,
        snap: &snap,
        log: &ctx.log,
        deadline: ctx.deadline(),
        ip_text: &cfg.ip_text,
    };
    match action {
        Action::Start => {
            let steps = plan::plan_start(&cfg, &found, &ann, &snap)?;
            exec.run(&steps)?;
            Ok(ExitCode::Success)
        }
        Action::Stop => {
            let steps = plan::plan_stop(&cfg, &found, &snap);
            exec.run(&steps)?;
            Ok(ExitCode::Success)
        }
        Action::Monitor | Action::Status => {
            let up = plan::served(cfg.ip, &found.netmask, &found.nic, &snap);
            if *action == Action::Status {
                println!("{}", if up { "running" } else { "stopped" });
            }
            if !up {
                return Ok(ExitCode::NotRunning);
            }
            if ann.count_refresh > 0 {
                refresh(&cfg, &found.nic, &snap, ann, ctx);
            }
            Ok(ExitCode::Success)
        }
        Action::ValidateAll => Ok(ExitCode::Success),
        _ => Ok(ExitCode::ErrUnimplemented),
    }
}

/// arp_count_refresh: announcements on every successful monitor, sent in the
/// foreground so that monitor stays a single process.
fn refresh(
    cfg: &Config,
    nic: &str,
    snap: &netlink::Snapshot,
    ann: config::Announce,
    ctx: &Context,
) {
    let (Some(ip), Some(link)) = (cfg.ip, snap.link_by_name(nic)) else {
        return;
    };
    let Some(mac) = (link.link_type == ARPHRD_ETHER)
        .then(|| packet::ether_mac(&link.mac))
        .flatten()
    else {
        return;
    };
    let job = announce::Job {
        index: link.index,
        mac,
        ip,
        count: ann.count_refresh,
        interval: Duration::from_millis(ann.interval_ms),
    };
    if let Err(e) = announce::send(&job) {
        let what = match ip {
            IpAddr::V4(_) => "gratuitous arps",
            IpAddr::V6(_) => "neighbour advertisements",
        };
        ctx.log.err(&format!("Could not send {what}: {e}"));
    }
}
