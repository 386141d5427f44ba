//! `ocf:shimai:Filesystem`: mounts a filesystem on start, unmounts it on
//! stop, and checks it on monitor, as resource-agents 4.12's
//! `ocf:heartbeat:Filesystem` does, with the same parameters.
//!
//! Why a compiled agent: the shell agent forks about fifty processes for a
//! monitor (grep, cut, sed, readlink, uname...), which under CPU pressure
//! turns a trivial check into hundreds of milliseconds and, eventually, a
//! monitor timeout. This agent's monitor is one process that reads
//! `/proc/self/mountinfo` and does direct I/O: it forks nothing. Start and
//! stop still run `mount`, `umount` and `fsck`, because their helpers,
//! options and type detection are what users expect from those commands.
//!
//! Every action is "decide, then do": [`plan`] computes what to do from
//! the configuration and the observed state without touching the system;
//! [`start`] and [`stop`] carry the plans out.

#![deny(unsafe_code)]

mod config;
mod device;
mod fstype;
mod meta;
mod monitor;
mod mountinfo;
mod plan;
mod procs;
mod start;
mod stop;
mod sys;

use std::path::{Path, PathBuf};

use ocf::{Action, Context, ExitCode, OcfError, Result};

use config::Config;
use mountinfo::MountTable;

fn main() {
    ocf::main(&meta::INFO, handle)
}

fn handle(ctx: &Context) -> Result<ExitCode> {
    let cfg = Config::from_params(&ctx.params, |d| Path::new(d).is_dir())?;
    if let Some(w) = &cfg.fsck_warning {
        ctx.log.warn(w);
    }
    let mountpoint = match &cfg.directory {
        Some(dir) => Some(canonical(dir)?),
        None => {
            // A block-device resource without a mount point cannot be
            // mounted, but it cannot be mounted anywhere either: monitor
            // says stopped and stop succeeds, as the reference agent does.
            let needs_it = matches!(ctx.action, Action::Start | Action::ValidateAll);
            if needs_it || !cfg.is_block() {
                return Err(OcfError::configured(
                    "parameter directory is not set: set it to the mount point",
                ));
            }
            None
        }
    };
    match &ctx.action {
        Action::Monitor | Action::Status => {
            let requested = if ctx.action == Action::Status {
                0
            } else {
                ctx.env.check_level().map_err(|raw| {
                    OcfError::configured(format!("OCF_CHECK_LEVEL '{raw}' is not a number"))
                })?
            };
            let level = ocf::effective_check_level(requested, monitor::LEVELS);
            if level != requested {
                ctx.log.debug(&format!(
                    "OCF_CHECK_LEVEL {requested} is not implemented; running level {level}"
                ));
            }
            match mountpoint {
                Some(mp) => run_monitor(ctx, &cfg, &mp, level),
                None => Ok(ExitCode::NotRunning),
            }
        }
        Action::Start => {
            let mp = mountpoint.ok_or_else(|| OcfError::configured("directory is not set"))?;
            ctx.log.info(&format!(
                "Running start for {} on {}",
                cfg.device.display(),
                mp.display()
            ));
            start::run(ctx, &cfg, &mp)
        }
        Action::Stop => match mountpoint {
            Some(mp) => {
                ctx.log.info(&format!(
                    "Running stop for {} on {}",
                    cfg.device.display(),
                    mp.display()
                ));
                stop::run(ctx, &cfg, &mp)
            }
            None => Ok(ExitCode::Success),
        },
        Action::ValidateAll => validate(ctx, &cfg),
        other => Err(OcfError::unimplemented(format!(
            "action {} is not implemented",
            other.as_str()
        ))),
    }
}

/// The mount point as the mount table shows it: symlinks resolved when it
/// exists (the kernel records the resolved path).
fn canonical(dir: &Path) -> Result<PathBuf> {
    if !dir.exists() {
        return Ok(dir.to_path_buf());
    }
    std::fs::canonicalize(dir)
        .map_err(|e| OcfError::generic(format!("Could not canonicalize {}: {e}", dir.display())))
}

/// The current mount table.
pub fn read_table() -> Result<MountTable> {
    mountinfo::read_stable(Path::new(mountinfo::PROC_MOUNTINFO)).map_err(OcfError::generic)
}

/// `uname -n`, without forking uname.
fn node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

/// This instance's depth-20 status file.
pub fn status_file(ctx: &Context, cfg: &Config, mp: &Path) -> PathBuf {
    config::status_file(
        mp,
        &cfg.statusfile_prefix,
        ctx.env.instance(),
        ctx.env.meta("clone"),
        &node_name(),
    )
}

fn run_monitor(ctx: &Context, cfg: &Config, mp: &Path, level: u32) -> Result<ExitCode> {
    let table = read_table()?;
    let mounted = table.at(mp);
    let Some(mounted) = mounted else {
        return Ok(monitor::status(None));
    };
    if level >= 20 {
        let direct = cfg.is_block();
        monitor::write_status_file(&status_file(ctx, cfg, mp), ctx.env.instance(), direct)?;
    } else if level >= 10 {
        match monitor::device_to_read(cfg, mounted) {
            Some(dev) => monitor::read_device(&dev)?,
            None => ctx.log.warn(&format!(
                "{} is not a block device, monitor 10 is noop",
                cfg.device.display()
            )),
        }
    }
    Ok(ExitCode::Success)
}

/// validate-all: what can be known wrong without changing anything.
fn validate(ctx: &Context, cfg: &Config) -> Result<ExitCode> {
    if let Some(w) = plan::clone_guard(cfg, ctx.env.is_clone())? {
        ctx.log.warn(&w);
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !fstype::kernel_supports(&filesystems, &cfg.fstype) {
        ctx.log.info(&format!(
            "{} is not in /proc/filesystems yet; start will try to load its module",
            cfg.fstype
        ));
    }
    for tool in ["mount", "umount"] {
        ocf::command::require_binary(&ctx.env, tool)?;
    }
    Ok(ExitCode::Success)
}
