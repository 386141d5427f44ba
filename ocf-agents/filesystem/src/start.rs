//! Carrying out a start: observe, plan, run the steps.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ocf::command::{self, Deadline};
use ocf::{Context, ExitCode, OcfError, Result};

use crate::config::{Config, DeviceSpec};
use crate::plan::{self, StartPlan, StartState, StartStep};
use crate::{device, fstype, read_table};

fn is_block_device(path: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

/// The block device behind the `device` parameter, if it names one, and
/// whether it is there. A tag the agent cannot read for this fstype is
/// left to `mount` (`None`).
fn block_device(cfg: &Config) -> (Option<String>, bool) {
    match &cfg.device {
        DeviceSpec::Block(p) => (Some(p.clone()), is_block_device(p)),
        DeviceSpec::Tag { kind, value, .. } => match device::resolve(*kind, value) {
            Some(p) => (Some(p.to_string_lossy().into_owned()), true),
            None if device::scannable(&cfg.fstype) => (Some(cfg.device.display()), false),
            None => (None, false),
        },
        DeviceSpec::Other(_) => (None, false),
    }
}

fn decide(cfg: &Config, mp: &Path) -> Result<StartPlan> {
    let table = read_table()?;
    // Resolving a tag reads every disk's superblock; not worth it (nor the
    // risk of blocking on a dead disk) when the plan ends before mounting.
    let settled = table.at(mp).is_some() || table.below(mp).next().is_some();
    let (dev, present) = if settled {
        (None, false)
    } else {
        block_device(cfg)
    };
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    plan::plan_start(
        cfg,
        &StartState {
            table: &table,
            mountpoint: mp,
            block_device: dev.as_deref(),
            device_present: present,
            mountpoint_exists: mp.is_dir(),
            kernel_supports_fstype: fstype::kernel_supports(&filesystems, &cfg.fstype),
        },
    )
}

/// A device that has just appeared (a fresh LUN, a promoted replica) may
/// still be waiting for udev: wait for udev's queue once, within the
/// operation timeout, before deciding the device is missing.
fn settle_udev(ctx: &Context, deadline: &Deadline) {
    let Some(udevadm) = command::find_binary(&ctx.env, "udevadm") else {
        return;
    };
    let secs = deadline.remaining().as_secs().max(1);
    let mut cmd = Command::new(udevadm);
    cmd.args(["settle", "-t", &secs.to_string()]);
    let _ = command::run(&mut cmd, deadline);
}

pub fn run(ctx: &Context, cfg: &Config, mp: &Path) -> Result<ExitCode> {
    if let Some(w) = plan::clone_guard(cfg, ctx.env.is_clone())? {
        ctx.log.warn(&w);
    }
    let deadline = ctx.deadline();
    let plan = match decide(cfg, mp) {
        Err(e) if e.exit_code() == ExitCode::ErrInstalled => {
            settle_udev(ctx, &deadline);
            decide(cfg, mp)?
        }
        other => other?,
    };
    let steps = match plan {
        StartPlan::AlreadyMounted => {
            ctx.log
                .info(&format!("Filesystem {} is already mounted.", mp.display()));
            return Ok(ExitCode::Success);
        }
        StartPlan::Steps(s) => s,
    };
    for step in steps {
        execute(ctx, cfg, mp, &step, &deadline)?;
    }
    Ok(ExitCode::Success)
}

fn execute(
    ctx: &Context,
    cfg: &Config,
    mp: &Path,
    step: &StartStep,
    deadline: &Deadline,
) -> Result<()> {
    match step {
        StartStep::LoadModule(module) => load_module(ctx, module, deadline),
        StartStep::Fsck { fstype, device } => {
            let fsck = command::require_binary(&ctx.env, "fsck")?;
            ctx.log
                .info(&format!("Starting filesystem check on {device}"));
            let mut cmd = Command::new(fsck);
            if !fstype.is_empty() {
                cmd.args(["-t", fstype]);
            }
            cmd.args(["-p", device]);
            let out = command::run(&mut cmd, deadline)?;
            // fsck: 1 = errors corrected, 2 = reboot advised; 4 and up = not fixed.
            if out.code() >= 4 {
                return Err(OcfError::generic(format!(
                    "Couldn't successfully fsck filesystem for {device} (fsck exit {}): {}",
                    out.code(),
                    out.one_line()
                )));
            }
            Ok(())
        }
        StartStep::MakeMountpoint(dir) => std::fs::create_dir_all(dir).map_err(|e| {
            OcfError::installed(format!(
                "Couldn't find directory [{}] to use as a mount point: {e}",
                dir.display()
            ))
        }),
        StartStep::FlushBuffers(dev) => {
            let res = std::fs::File::open(dev).and_then(|f| crate::sys::flush_buffers(&f));
            if let Err(e) = res {
                ctx.log
                    .warn(&format!("Could not flush the buffers of {dev}: {e}"));
            }
            Ok(())
        }
        StartStep::Mount(args) => {
            let mount = command::require_binary(&ctx.env, "mount")?;
            let out = command::run(Command::new(mount).args(args), deadline)?;
            if !out.success() {
                return Err(OcfError::generic(format!(
                    "Couldn't mount device [{}] as {}: {}",
                    cfg.device.display(),
                    mp.display(),
                    out.one_line()
                )));
            }
            Ok(())
        }
    }
}

fn load_module(ctx: &Context, module: &str, deadline: &Deadline) -> Result<()> {
    let modprobe = command::require_binary(&ctx.env, "modprobe")?;
    let out = command::run(Command::new(modprobe).arg(module), deadline)?;
    if !out.success() {
        return Err(OcfError::installed(format!(
            "Couldn't find filesystem {module} in /proc/filesystems and failed to load \
             kernel module: {}",
            out.one_line()
        )));
    }
    // The module may register its filesystem a moment after modprobe returns.
    for _ in 0..5 {
        let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
        if fstype::kernel_supports(&filesystems, module) {
            return Ok(());
        }
        if !deadline.sleep(Duration::from_secs(1)) {
            break;
        }
    }
    Err(OcfError::installed(format!(
        "Couldn't find filesystem {module} in /proc/filesystems"
    )))
}
