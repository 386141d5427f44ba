//! Carrying out a stop: unmount what the plan lists, escalating against
//! the processes that keep a mount busy.
//!
//! Each mount is first simply unmounted (most stops end there, without
//! looking at a single process: resource-agents #1907). Only while it stays
//! busy are its users signalled, SIGTERM during the first half of the time
//! budget and SIGKILL during the second, and the budget always ends before
//! the operation timeout, so that a failure is reported by the agent with
//! its reason rather than by Pacemaker killing it.

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::kill;
use nix::unistd::Pid;
use ocf::command::{self, Deadline};
use ocf::{Context, ExitCode, OcfError, Result};

use crate::config::{Config, ForceUnmount};
use crate::plan::{self, StopPlan};
use crate::procs::{self, Target};
use crate::read_table;

/// How long to wait after signalling before trying umount again.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// How long stop waits for the kernel to release the device after unmounting.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

pub fn run(ctx: &Context, cfg: &Config, mp: &Path) -> Result<ExitCode> {
    let table = read_table()?;
    let Some(top) = table.at(mp) else {
        ctx.log
            .info(&format!("{} is not mounted; nothing to stop", mp.display()));
        return Ok(ExitCode::Success);
    };
    remove_status_file(ctx, cfg, mp);
    let source_is_block =
        std::fs::metadata(&top.source).is_ok_and(|m| m.file_type().is_block_device());
    let plan = plan::plan_stop(cfg, &table, mp, source_is_block);
    let deadline = ctx.deadline();
    let umount = command::require_binary(&ctx.env, "umount")?;
    for m in &plan.unmount {
        ctx.log.info(&format!("Trying to unmount {}", m.display()));
        unmount_one(ctx, cfg, &plan, &umount, m, &deadline)?;
    }
    if let Some(dev) = &plan.flush {
        wait_released(ctx, dev, &deadline);
        let res = std::fs::File::open(dev).and_then(|f| crate::sys::flush_buffers(&f));
        if let Err(e) = res {
            ctx.log
                .warn(&format!("Could not flush the buffers of {dev}: {e}"));
        }
    }
    Ok(ExitCode::Success)
}

/// Waits until the block device is free (it can be opened exclusively).
/// On recent kernels the filesystem lets go of its device a moment after
/// umount(2) returns; whoever runs next (fsck at a restart, a replicated
/// device's demote) must not find it busy.
fn wait_released(ctx: &Context, dev: &str, deadline: &Deadline) {
    let until = Instant::now() + RELEASE_WAIT.min(deadline.remaining());
    loop {
        let open = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_EXCL)
            .open(dev);
        match open {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                if Instant::now() >= until {
                    ctx.log.warn(&format!(
                        "{dev} is still in use after unmounting (mounted in another mount namespace?)"
                    ));
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => return,
        }
    }
}

/// The depth-20 status file goes with the resource. A read-only
/// filesystem keeps it, which is harmless: it is rewritten on monitor.
fn remove_status_file(ctx: &Context, cfg: &Config, mp: &Path) {
    let file = crate::status_file(ctx, cfg, mp);
    match std::fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => ctx.log.warn(&format!(
            "Failed to remove status file {}: {e}",
            file.display()
        )),
        _ => {}
    }
}

fn mode_name(m: ForceUnmount) -> &'static str {
    match m {
        ForceUnmount::All => "true",
        ForceUnmount::Safe => "safe",
        ForceUnmount::Never => "false",
    }
}

fn unmount_one(
    ctx: &Context,
    cfg: &Config,
    plan: &StopPlan,
    umount: &Path,
    m: &Path,
    deadline: &Deadline,
) -> Result<()> {
    let budget = plan::stop_budget(cfg.fast_stop, deadline.remaining());
    let started = Instant::now();
    let mut signalled: BTreeSet<(i32, i32)> = BTreeSet::new();
    let mut last_error = String::new();
    let mut users = Vec::new();
    let mut told_nobody = false;
    loop {
        let mut cmd = Command::new(umount);
        if plan.force_flag {
            cmd.arg("-f");
        }
        cmd.arg(m);
        let unmounted_one = match command::run(&mut cmd, deadline) {
            Ok(out) => {
                last_error = out.one_line();
                out.success()
            }
            // Cut short by the deadline: umount's earlier answer says more.
            Err(e) => {
                if last_error.is_empty() {
                    last_error = e.reason().to_string();
                }
                false
            }
        };
        let table = read_table()?;
        let Some(still) = table.at(m) else {
            ctx.log
                .info(&format!("unmounted {} successfully", m.display()));
            return Ok(());
        };
        // Several filesystems stacked on one mount point: that one went,
        // the next one below gets its own plain umount before any signal.
        if unmounted_one && !deadline.expired() {
            continue;
        }
        let elapsed = started.elapsed();
        let Some(sig) = plan::signal_at(plan.signal, elapsed, budget) else {
            if elapsed >= budget || deadline.expired() {
                break;
            }
            deadline.sleep(RETRY_PAUSE.min(budget - elapsed));
            continue;
        };
        let target = Target {
            mountpoint: m.to_path_buf(),
            dev: (plan.signal == ForceUnmount::All).then_some((still.major, still.minor)),
        };
        users = procs::find_users(Path::new("/proc"), &target, &[std::process::id() as i32]);
        if users.is_empty() && !told_nobody {
            told_nobody = true;
            ctx.log.info(&format!(
                "No processes on {} were signalled. force_unmount is set to '{}'",
                m.display(),
                mode_name(plan.signal)
            ));
        }
        for u in &users {
            if signalled.insert((u.pid, sig as i32)) {
                ctx.log.info(&format!(
                    "sending signal {} to pid {} ({}), which uses {} through its {}",
                    sig.as_str(),
                    u.pid,
                    u.command,
                    m.display(),
                    u.via
                ));
            }
            // The process may have exited since it was found; that is the goal.
            let _ = kill(Pid::from_raw(u.pid), sig);
        }
        let left = budget.saturating_sub(started.elapsed());
        if left.is_zero() || !deadline.sleep(RETRY_PAUSE.min(left)) {
            break;
        }
    }
    if users.is_empty() {
        // Nobody was signalled (force_unmount=false, or users hidden from
        // the device match): still name who holds it, found by path only.
        let by_path = Target {
            mountpoint: m.to_path_buf(),
            dev: None,
        };
        users = procs::find_users(Path::new("/proc"), &by_path, &[std::process::id() as i32]);
    }
    let holders: Vec<String> = users
        .iter()
        .take(5)
        .map(|u| format!("{} ({})", u.pid, u.command))
        .collect();
    Err(OcfError::generic(format!(
        "Couldn't unmount {} within {:.1} s, giving up! umount said: {}{}",
        m.display(),
        budget.as_secs_f64(),
        last_error,
        if holders.is_empty() {
            format!("; force_unmount={}", mode_name(plan.signal))
        } else {
            format!("; still used by {}", holders.join(", "))
        }
    )))
}
