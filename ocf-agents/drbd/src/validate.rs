//! The checks every action runs first, in the linbit agent's order: parameters, then the
//! configuration file and this node's part of the resource, then the clone's meta
//! attributes. Each failure says what to fix.

use ocf::{Action, Context, ExitCode, OcfError, Result};
use shimai_config::Resource;

use crate::clone;
use crate::daemon::Daemon;

/// The characters drbdadm accepts in resource names and paths given to the agent.
fn safe_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-%+./:=@_".contains(c))
}

/// The parameters alone (validate-all depth 0).
pub fn params(ctx: &Context) -> Result<()> {
    let res = ctx.params.str("drbd_resource");
    if res.is_empty() {
        return Err(OcfError::configured(
            "required parameter drbd_resource is not set",
        ));
    }
    for name in ["drbd_resource", "drbdconf"] {
        let v = ctx.params.str(name);
        if !safe_chars(v) {
            return Err(OcfError::configured(format!(
                "parameter {name} '{v}' has characters outside [-%+./0-9:=@A-Z_a-z]"
            )));
        }
    }
    for name in [
        "require_drbd_module_version_ge",
        "require_drbd_module_version_lt",
    ] {
        if ctx.params.is_given(name) {
            ctx.log.info(&format!(
                "{name}={} ignored: shimai runs in userspace and has no drbd kernel module",
                ctx.params.str(name)
            ));
        }
    }
    Ok(())
}

/// The configuration file and this node's `on` section for the resource.
pub fn config(daemon: &Daemon) -> Result<Resource> {
    let path = daemon.config();
    let parsed = shimai_config::load(path).map_err(|e| {
        if path.exists() {
            OcfError::configured(format!("{e}"))
        } else {
            OcfError::installed(format!(
                "configuration file {} does not exist (parameter drbdconf or SHIMAI_CONFIG)",
                path.display()
            ))
        }
    })?;
    let s = &daemon.settings;
    let res = parsed.config.resource(&s.resource).ok_or_else(|| {
        OcfError::installed(format!(
            "{} has no resource {} (parameter drbd_resource)",
            path.display(),
            s.resource
        ))
    })?;
    if res.host_for(&s.node).is_none() {
        return Err(OcfError::installed(format!(
            "resource {} in {} has no `on {}` section; set SHIMAI_NODE to this node's name in the configuration",
            s.resource,
            path.display(),
            s.node
        )));
    }
    Ok(res.clone())
}

/// Everything but the parameters: the meta attributes (not on stop, as linbit), the
/// notifications, two primaries.
pub fn cluster(ctx: &Context, res: &Resource) -> Result<()> {
    if ctx.action == Action::Stop {
        return Ok(());
    }
    clone::check_meta(&ctx.env)?;
    if clone::needs_notify(&ctx.action)
        && !ctx.params.bool("ignore_missing_notifications")
        && !ctx.env.meta("notify").is_some_and(ocf::is_true)
    {
        return Err(OcfError::configured(
            "you really should enable notify=true on the promotable clone; or set ignore_missing_notifications=true if you know what you are doing",
        ));
    }
    if matches!(ctx.action, Action::Start | Action::Promote)
        && clone::promoted_max(&ctx.env) > 1
        && !res.net.allow_two_primaries
    {
        return Err(OcfError::configured(format!(
            "promoted-max={} needs `net {{ allow-two-primaries; }}` in resource {}",
            clone::promoted_max(&ctx.env),
            res.name
        )));
    }
    Ok(())
}

/// During a probe a missing configuration only means the resource cannot be running here.
pub fn soften_for_probe(e: OcfError, probe: bool) -> OcfError {
    if probe && e.exit_code() == ExitCode::ErrInstalled {
        e.with_code(ExitCode::NotRunning)
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_are_limited_like_drbdadm() {
        assert!(safe_chars("r0"));
        assert!(safe_chars("/etc/shimai/shimai.conf"));
        assert!(safe_chars("a-b_c.d:e=f@g%h+i"));
        assert!(!safe_chars("r0;rm"));
        assert!(!safe_chars("r 0"));
        assert!(!safe_chars("$(x)"));
    }
}
