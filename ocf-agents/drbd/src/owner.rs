//! One owner per resource: a resource is run by its systemd unit `shimai@RES.service` or by
//! Pacemaker through this agent, never both (two owners would start, stop and promote one
//! daemon behind each other's back). `start` refuses while the unit is enabled or active and
//! says which unit to disable; the unit's `ExecStartPre` refuses in turn while the CIB has a
//! drbd primitive for the resource.
//!
//! Enabled is read from the `*.wants`/`*.requires` symlinks systemd's `enable` makes under
//! `/etc/systemd/system` and `/run/systemd/system` (no fork); active from the running
//! daemon's cgroup (no fork) and, on a host booted with systemd, `systemctl is-active`
//! (start only, never in monitor).

use std::path::{Path, PathBuf};
use std::process::Command;

use ocf::command::{run, Deadline};
use shimaid::setup::Settings;

/// The unit that would own `resource`.
pub fn unit_name(resource: &str) -> String {
    format!("shimai@{resource}.service")
}

/// Directories whose `*.wants`/`*.requires` subdirectories hold enablement symlinks.
pub const ENABLE_ROOTS: [&str; 2] = ["/etc/systemd/system", "/run/systemd/system"];

/// The enablement symlink of `unit` under one of `roots`, if any.
pub fn enabled_link(roots: &[&Path], unit: &str) -> Option<PathBuf> {
    for root in roots {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if !(name.ends_with(".wants") || name.ends_with(".requires")) {
                continue;
            }
            let link = e.path().join(unit);
            if std::fs::symlink_metadata(&link).is_ok() {
                return Some(link);
            }
        }
    }
    None
}

/// Whether the daemon named by `settings`' pid file runs in `unit`'s cgroup.
pub fn runs_in_unit(settings: &Settings, unit: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(settings.pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    cgroup
        .lines()
        .any(|l| l.rsplit('/').next() == Some(unit))
        .then_some(pid)
}

/// `systemctl is-active UNIT` on a host booted with systemd: `Some(state)` when the unit is
/// active or on its way there or back; `None` otherwise or when that cannot be asked.
fn systemctl_active(unit: &str, deadline: &Deadline) -> Option<String> {
    if !Path::new("/run/systemd/system").is_dir() {
        return None;
    }
    let out = run(
        Command::new("systemctl").args(["is-active", unit]),
        deadline,
    )
    .ok()?;
    let state = out.stdout.trim().to_string();
    matches!(
        state.as_str(),
        "active" | "activating" | "reloading" | "deactivating" | "refreshing"
    )
    .then_some(state)
}

/// Why this agent must not run `settings.resource` here, if the unit owns it.
pub fn systemd_owner(settings: &Settings, deadline: &Deadline) -> Option<String> {
    let unit = unit_name(&settings.resource);
    let roots: Vec<&Path> = ENABLE_ROOTS.iter().map(Path::new).collect();
    let how = if let Some(link) = enabled_link(&roots, &unit) {
        format!("{unit} is enabled ({})", link.display())
    } else if let Some(pid) = runs_in_unit(settings, &unit) {
        format!("shimaid (pid {pid}) runs in {unit}")
    } else if let Some(state) = systemctl_active(&unit, deadline) {
        format!("{unit} is {state}")
    } else {
        return None;
    };
    Some(format!(
        "{how}: resource {} is run by systemd on this node, and one owner per resource is the rule. \
         Either let Pacemaker run it: `systemctl disable --now {unit}` on this node; \
         or keep the unit and remove the drbd primitive from the CIB",
        settings.resource
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enablement_symlink_in_any_wants_directory_counts() {
        let root = &std::env::temp_dir().join(format!("shimai-owner-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(root);
        std::fs::create_dir_all(root.join("multi-user.target.wants")).unwrap();
        std::fs::create_dir_all(root.join("other.d")).unwrap();
        let unit = unit_name("r0");
        assert_eq!(enabled_link(&[root], &unit), None);
        // Not a wants directory: ignored.
        std::os::unix::fs::symlink("/nonexistent", root.join("other.d").join(&unit)).unwrap();
        assert_eq!(enabled_link(&[root], &unit), None);
        // A dangling link still says "enabled", as for systemctl.
        let link = root.join("multi-user.target.wants").join(&unit);
        std::os::unix::fs::symlink("/nonexistent/shimai@.service", &link).unwrap();
        assert_eq!(enabled_link(&[root], &unit), Some(link));
        assert_eq!(enabled_link(&[root], &unit_name("r1")), None);
        std::fs::remove_dir_all(root).unwrap();
    }
}
