//! `ocf:shimai:iSCSITarget` and `ocf:shimai:iSCSILogicalUnit`: one binary,
//! installed under both names; it picks the agent by the name it was run
//! as (or, run as `ocf-iscsi-target`, by `OCF_RESOURCE_TYPE`; iSCSITarget
//! when neither says iSCSILogicalUnit).
//!
//! With implementation=tgt the agents speak tgtd's management protocol on
//! its unix socket ([`tgt`]) instead of forking tgtadm: a monitor is one
//! request and forks nothing. With lio-t they run targetcli ([`liot`]).

#![deny(unsafe_code)]

mod config;
mod liot;
mod md5;
mod meta;
mod show;
mod tgt;
mod tgtops;

use std::path::Path;

use ocf::{Action, Context, ExitCode, OcfError, Result};

use config::{Implementation, LuConfig, TargetConfig};

fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let is_lu = name == "iSCSILogicalUnit"
        || (name != "iSCSITarget"
            && std::env::var("OCF_RESOURCE_TYPE").as_deref() == Ok("iSCSILogicalUnit"));
    if is_lu {
        ocf::main(&meta::LU, handle_lu)
    } else {
        ocf::main(&meta::TARGET, handle_target)
    }
}

fn implementation(ctx: &Context) -> Result<Implementation> {
    // Unset (as opposed to set to the default): pick by what is installed.
    let value = if ctx.params.is_given("implementation") {
        ctx.params.str("implementation")
    } else {
        ""
    };
    config::implementation(value, |p| ocf::command::find_binary(&ctx.env, p).is_some())
}

/// What a configuration error means for this action: stop has nothing it
/// could have started, so it succeeds; everything else reports it.
fn config_error(ctx: &Context, e: OcfError) -> Result<ExitCode> {
    if ctx.action == Action::Stop {
        ctx.log.warn(&format!("{}; nothing to stop", e.reason()));
        return Ok(ExitCode::Success);
    }
    if ctx.is_probe() && e.exit_code() == ExitCode::ErrInstalled {
        return Ok(ExitCode::NotRunning);
    }
    Err(e)
}

fn warn_all(ctx: &Context, warnings: &[String]) {
    if matches!(ctx.action, Action::Start | Action::ValidateAll) {
        for w in warnings {
            ctx.log.warn(w);
        }
    }
}

/// tgtd must be installed for anything but stop and probes.
fn require_tgtd(ctx: &Context) -> Result<()> {
    if ocf::command::find_binary(&ctx.env, "tgtd").is_none()
        && ocf::command::find_binary(&ctx.env, "tgtadm").is_none()
    {
        return Err(OcfError::installed(
            "tgtd is not installed on this node: apt-get install tgt",
        ));
    }
    Ok(())
}

fn handle_target(ctx: &Context) -> Result<ExitCode> {
    let parsed = implementation(ctx)
        .and_then(|imp| TargetConfig::from_params(&ctx.params, imp).map(|cfg| (imp, cfg)));
    let (imp, cfg) = match parsed {
        Ok(v) => v,
        Err(e) => return config_error(ctx, e),
    };
    warn_all(ctx, &cfg.warnings);
    if imp == Implementation::LioT {
        return liot::target_action(ctx, &cfg);
    }
    let port = match config::control_port(&ctx.params) {
        Ok(p) => p,
        Err(e) => return config_error(ctx, e),
    };
    let c = tgtops::client(ctx, port);
    match &ctx.action {
        Action::Monitor | Action::Status => tgtops::target_monitor(ctx, &c, &cfg),
        Action::Start => {
            require_tgtd(ctx)?;
            tgtops::target_start(ctx, &c, &cfg)
        }
        Action::Stop => tgtops::target_stop(ctx, &c, &cfg),
        Action::ValidateAll => validate_daemon(ctx, &c),
        other => Err(OcfError::unimplemented(format!(
            "action {other} is not implemented"
        ))),
    }
}

/// validate-all's look at the node: tgtd installed, and if it runs, a known version.
fn validate_daemon(ctx: &Context, c: &tgt::Client) -> Result<ExitCode> {
    require_tgtd(ctx)?;
    if c.socket.exists() {
        tgtops::check_version(ctx, c)?;
    } else {
        ctx.log.warn(&format!(
            "tgtd is not running ({} does not exist); start will need it",
            c.socket.display()
        ));
    }
    Ok(ExitCode::Success)
}

fn handle_lu(ctx: &Context) -> Result<ExitCode> {
    let parsed = implementation(ctx).and_then(|imp| {
        LuConfig::from_params(&ctx.params, ctx.env.instance(), imp).map(|cfg| (imp, cfg))
    });
    let (imp, cfg) = match parsed {
        Ok(v) => v,
        Err(e) => return config_error(ctx, e),
    };
    warn_all(ctx, &cfg.warnings);
    let path_missing = cfg.needs_path() && !Path::new(&cfg.path).exists();
    if path_missing && matches!(ctx.action, Action::Start | Action::ValidateAll) {
        return Err(OcfError::installed(format!(
            "path {} does not exist on this node: it must be the device (or file) to export",
            cfg.path
        )));
    }
    if imp == Implementation::LioT {
        return liot::lu_action(ctx, &cfg);
    }
    let port = match config::control_port(&ctx.params) {
        Ok(p) => p,
        Err(e) => return config_error(ctx, e),
    };
    let c = tgtops::client(ctx, port);
    match &ctx.action {
        Action::Monitor | Action::Status => tgtops::lu_monitor(ctx, &c, &cfg),
        Action::Start => {
            require_tgtd(ctx)?;
            tgtops::lu_start(ctx, &c, &cfg)
        }
        Action::Stop => tgtops::lu_stop(ctx, &c, &cfg),
        Action::ValidateAll => validate_daemon(ctx, &c),
        other => Err(OcfError::unimplemented(format!(
            "action {other} is not implemented"
        ))),
    }
}
