//! Decide, then do: start and stop are computed here as plans from the
//! configuration and the observed state, with no I/O, and executed by
//! `start.rs` and `stop.rs`. The unit tests are the golden expectations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ocf::{OcfError, Result};

use crate::config::{Config, ForceUnmount, FsckMode};
use crate::fstype::{self, CloneSafety};
use crate::mountinfo::MountTable;

/// What start observed before deciding.
#[derive(Debug, Clone)]
pub struct StartState<'a> {
    pub table: &'a MountTable,
    pub mountpoint: &'a Path,
    /// The block device to check and mount, when the device is one
    /// (resolved from a tag if need be); `None` for other devices and for
    /// tags nobody could resolve.
    pub block_device: Option<&'a str>,
    /// Whether `block_device` exists as a block device.
    pub device_present: bool,
    pub mountpoint_exists: bool,
    /// Whether `/proc/filesystems` lists the type already.
    pub kernel_supports_fstype: bool,
}

/// One step of a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartStep {
    /// `modprobe <module>`, then wait for it in /proc/filesystems.
    LoadModule(String),
    /// `fsck [-t type] -p device`.
    Fsck {
        fstype: String,
        device: String,
    },
    MakeMountpoint(PathBuf),
    /// Drops the device's buffer cache (BLKFLSBUF), so that blocks another
    /// node wrote are not shadowed by stale cached ones.
    FlushBuffers(String),
    /// `mount <args>`.
    Mount(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPlan {
    AlreadyMounted,
    Steps(Vec<StartStep>),
}

/// Warnings the plan wants logged (clone guard tolerations, bad values).
pub fn clone_guard(cfg: &Config, is_clone: bool) -> Result<Option<String>> {
    if !is_clone {
        return Ok(None);
    }
    match fstype::clone_safety(&cfg.fstype, cfg.read_only(), cfg.force_clones) {
        CloneSafety::Safe => Ok(None),
        CloneSafety::Tolerated => Ok(Some(format!(
            "{} on {} is not cluster-aware; running it as a clone only because {}",
            display_type(&cfg.fstype),
            cfg.device.display(),
            if cfg.force_clones {
                "force_clones is set"
            } else {
                "it is mounted read-only"
            }
        ))),
        CloneSafety::Refused => Err(OcfError::configured(format!(
            "DANGER! {} on {} is NOT cluster-aware! Refusing to run it as a clone; \
             set force_clones=true only if every instance has its own device",
            display_type(&cfg.fstype),
            cfg.device.display()
        ))),
    }
}

fn display_type(fstype: &str) -> &str {
    if fstype.is_empty() {
        "a filesystem of unspecified type"
    } else {
        fstype
    }
}

/// Plans a start.
pub fn plan_start(cfg: &Config, st: &StartState) -> Result<StartPlan> {
    if let Some(m) = st.table.below(st.mountpoint).next() {
        return Err(OcfError::configured(format!(
            "{} is already mounted below {}; unmount it first",
            m.mountpoint.display(),
            st.mountpoint.display()
        )));
    }
    if st.table.at(st.mountpoint).is_some() {
        return Ok(StartPlan::AlreadyMounted);
    }
    let mut steps = Vec::new();
    if !st.kernel_supports_fstype {
        steps.push(StartStep::LoadModule(
            fstype::kernel_name(&cfg.fstype).to_string(),
        ));
    }
    if let Some(dev) = st.block_device {
        if dev != "/dev/null" && !st.device_present {
            return Err(OcfError::installed(format!(
                "Couldn't find device [{dev}]. Expected /dev/??? to exist"
            )));
        }
        if fsck_needed(cfg.fsck, &cfg.fstype) {
            steps.push(StartStep::Fsck {
                fstype: cfg.fstype.clone(),
                device: dev.to_string(),
            });
        }
    }
    if !st.mountpoint_exists {
        steps.push(StartStep::MakeMountpoint(st.mountpoint.to_path_buf()));
    }
    if let Some(dev) = st.block_device {
        steps.push(StartStep::FlushBuffers(dev.to_string()));
    }
    steps.extend(mount_commands(cfg, st.block_device, st.mountpoint));
    Ok(StartPlan::Steps(steps))
}

/// `run_fsck` and the type decide.
pub fn fsck_needed(mode: FsckMode, fstype: &str) -> bool {
    match mode {
        FsckMode::Force => true,
        FsckMode::Never => false,
        FsckMode::Auto => !fstype::fsck_skipped(fstype),
    }
}

/// The `mount` invocations: one, plus a remount for `bind,<more>` with
/// fstype `none`, because older mount(8) versions let the kernel ignore
/// flags such as `ro` on the first bind. The remount keeps `bind`
/// (MS_REMOUNT|MS_BIND changes only this mount's flags): the reference's
/// plain `remount,ro` asks to remount the source's whole filesystem
/// read-only, which fails while it is in use (always, for "/").
pub fn mount_commands(cfg: &Config, block_device: Option<&str>, mp: &Path) -> Vec<StartStep> {
    let mut args = Vec::new();
    if !cfg.fstype.is_empty() && cfg.fstype != "none" {
        args.extend(["-t".to_string(), cfg.fstype.clone()]);
    }
    if !cfg.options.is_empty() {
        args.extend(["-o".to_string(), cfg.options.clone()]);
    }
    match (block_device, &cfg.device) {
        (Some(dev), _) => args.push(dev.to_string()),
        (None, crate::config::DeviceSpec::Tag { mount_args, .. }) => {
            args.extend(mount_args.iter().cloned())
        }
        (None, d) => args.push(d.display()),
    }
    let mp = mp.to_string_lossy().into_owned();
    args.push(mp.clone());
    let mut steps = vec![StartStep::Mount(args)];
    if cfg.fstype == "none" && cfg.is_bind() && cfg.options != "bind" {
        let mut replaced = false;
        let remount: Vec<&str> = cfg
            .options
            .split(',')
            .map(|o| {
                if o == "bind" && !replaced {
                    replaced = true;
                    "remount,bind"
                } else {
                    o
                }
            })
            .collect();
        steps.push(StartStep::Mount(vec!["-o".into(), remount.join(","), mp]));
    }
    steps
}

/// What stop will unmount, in order, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopPlan {
    pub unmount: Vec<PathBuf>,
    /// `umount -f` (network filesystems).
    pub force_flag: bool,
    /// Who may be signalled when a mount stays busy.
    pub signal: ForceUnmount,
    /// The block device to flush once everything is unmounted.
    pub flush: Option<String>,
}

/// Plans a stop of `mp`: the mounts below it deepest first, then the other
/// mounts of the same block device (unless the resource is itself a bind
/// mount: unmounting the original through its bind would be wrong), then
/// `mp` itself. `source_is_block` says whether the mount's source is a
/// block device. An empty plan means nothing is mounted.
pub fn plan_stop(cfg: &Config, table: &MountTable, mp: &Path, source_is_block: bool) -> StopPlan {
    let Some(top) = table.at(mp) else {
        return StopPlan {
            unmount: Vec::new(),
            force_flag: false,
            signal: cfg.force_unmount,
            flush: None,
        };
    };
    let mut unmount: Vec<PathBuf> = Vec::new();
    let mut below: Vec<(usize, usize, &Path)> = table
        .below(mp)
        .enumerate()
        .map(|(i, m)| (m.mountpoint.components().count(), i, m.mountpoint.as_path()))
        .collect();
    below.sort_by(|a, b| b.cmp(a));
    for (_, _, p) in below {
        // Stacked mounts share a path; unmounting it repeats until it is free.
        if !unmount.iter().any(|u| u == p) {
            unmount.push(p.to_path_buf());
        }
    }
    if source_is_block && !cfg.is_bind() {
        let mut same: Vec<(usize, usize, &Path)> = table
            .mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| (m.major, m.minor) == (top.major, top.minor))
            .filter(|(_, m)| m.mountpoint != mp && !m.mountpoint.starts_with(mp))
            .map(|(i, m)| (m.mountpoint.components().count(), i, m.mountpoint.as_path()))
            .collect();
        same.sort_by(|a, b| b.cmp(a));
        for (_, _, p) in same {
            if !unmount.iter().any(|u| u == p) {
                unmount.push(p.to_path_buf());
            }
        }
    }
    unmount.push(mp.to_path_buf());
    // A bind mount whose users are matched by device would match every
    // user of the source's filesystem, possibly "/" (resource-agents issue
    // #1304); match bind mounts by path instead.
    let signal = match cfg.force_unmount {
        ForceUnmount::All if cfg.is_bind() || cfg.fstype == "none" => ForceUnmount::Safe,
        s => s,
    };
    StopPlan {
        unmount,
        force_flag: fstype::is_network(&cfg.fstype) || fstype::is_network(&top.fstype),
        signal,
        flush: source_is_block.then(|| top.source.clone()),
    }
}

/// The per-mount time budget for unmounting: 6 s with `fast_stop`,
/// otherwise whatever the operation timeout leaves.
pub fn stop_budget(fast_stop: bool, remaining: Duration) -> Duration {
    if fast_stop {
        remaining.min(Duration::from_secs(6))
    } else {
        remaining
    }
}

/// Which signal users get `elapsed` into a budget: TERM in the first half,
/// KILL in the second, none after it or when signalling is off.
pub fn signal_at(
    mode: ForceUnmount,
    elapsed: Duration,
    budget: Duration,
) -> Option<nix::sys::signal::Signal> {
    use nix::sys::signal::Signal;
    if mode == ForceUnmount::Never || elapsed >= budget {
        None
    } else if elapsed < budget / 2 {
        Some(Signal::SIGTERM)
    } else {
        Some(Signal::SIGKILL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeviceSpec;
    use nix::sys::signal::Signal;

    fn cfg(device: &str, fstype: &str, options: &str) -> Config {
        let env = ocf::OcfEnv::from_vars([
            ("OCF_RESKEY_device", device),
            ("OCF_RESKEY_directory", "/mnt/d"),
            ("OCF_RESKEY_fstype", fstype),
            ("OCF_RESKEY_options", options),
        ]);
        let p = ocf::Params::from_env(crate::meta::PARAMS, &env);
        Config::from_params(&p, |d| d.starts_with("/srv")).unwrap()
    }

    fn table(lines: &[&str]) -> MountTable {
        MountTable::parse(lines.join("\n").as_bytes()).unwrap()
    }

    const ROOT: &str = "1 0 253:1 / / rw - ext4 /dev/vda rw";

    fn state<'a>(t: &'a MountTable, dev: Option<&'a str>) -> StartState<'a> {
        StartState {
            table: t,
            mountpoint: Path::new("/mnt/d"),
            block_device: dev,
            device_present: true,
            mountpoint_exists: true,
            kernel_supports_fstype: true,
        }
    }

    fn args(v: &[&str]) -> StartStep {
        StartStep::Mount(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn start_ext4_plain() {
        let c = cfg("/dev/loop3", "ext4", "noatime");
        let t = table(&[ROOT]);
        let plan = plan_start(&c, &state(&t, Some("/dev/loop3"))).unwrap();
        assert_eq!(
            plan,
            StartPlan::Steps(vec![
                StartStep::FlushBuffers("/dev/loop3".into()),
                args(&["-t", "ext4", "-o", "noatime", "/dev/loop3", "/mnt/d"]),
            ])
        );
    }

    #[test]
    fn start_ext2_without_directory_or_module() {
        let c = cfg("/dev/loop3", "ext2", "");
        let t = table(&[ROOT]);
        let mut st = state(&t, Some("/dev/loop3"));
        st.mountpoint_exists = false;
        st.kernel_supports_fstype = false;
        let plan = plan_start(&c, &st).unwrap();
        assert_eq!(
            plan,
            StartPlan::Steps(vec![
                StartStep::LoadModule("ext2".into()),
                StartStep::Fsck {
                    fstype: "ext2".into(),
                    device: "/dev/loop3".into()
                },
                StartStep::MakeMountpoint("/mnt/d".into()),
                StartStep::FlushBuffers("/dev/loop3".into()),
                args(&["-t", "ext2", "/dev/loop3", "/mnt/d"]),
            ])
        );
    }

    #[test]
    fn start_empty_fstype_runs_fsck_and_lets_mount_detect() {
        let c = cfg("/dev/loop3", "", "");
        let t = table(&[ROOT]);
        let StartPlan::Steps(steps) = plan_start(&c, &state(&t, Some("/dev/loop3"))).unwrap()
        else {
            panic!("expected steps")
        };
        assert!(matches!(&steps[0], StartStep::Fsck { fstype, .. } if fstype.is_empty()));
        assert_eq!(steps.last().unwrap(), &args(&["/dev/loop3", "/mnt/d"]));
    }

    #[test]
    fn start_bind_ro_remounts() {
        let c = cfg("/srv/data", "none", "bind,ro");
        assert_eq!(c.device, DeviceSpec::Other("/srv/data".into()));
        let t = table(&[ROOT]);
        let plan = plan_start(&c, &state(&t, None)).unwrap();
        assert_eq!(
            plan,
            StartPlan::Steps(vec![
                args(&["-o", "bind,ro", "/srv/data", "/mnt/d"]),
                args(&["-o", "remount,bind,ro", "/mnt/d"]),
            ])
        );
        let c = cfg("/srv/data", "none", "bind");
        let StartPlan::Steps(steps) = plan_start(&c, &state(&t, None)).unwrap() else {
            panic!()
        };
        assert_eq!(steps, [args(&["-o", "bind", "/srv/data", "/mnt/d"])]);
    }

    #[test]
    fn start_unresolved_tag_is_left_to_mount() {
        let c = cfg("-L data", "vfat", "");
        let t = table(&[ROOT]);
        let StartPlan::Steps(steps) = plan_start(&c, &state(&t, None)).unwrap() else {
            panic!()
        };
        assert_eq!(steps, [args(&["-t", "vfat", "-L", "data", "/mnt/d"])]);
    }

    #[test]
    fn start_refusals() {
        let c = cfg("/dev/loop3", "ext4", "");
        let t = table(&[ROOT, "2 1 0:40 / /mnt/d/sub rw - tmpfs none rw"]);
        let e = plan_start(&c, &state(&t, Some("/dev/loop3"))).unwrap_err();
        assert_eq!(e.exit_code(), ocf::ExitCode::ErrConfigured);
        assert!(e.reason().contains("/mnt/d/sub"), "{e}");

        let t = table(&[ROOT]);
        let mut st = state(&t, Some("/dev/loop9"));
        st.device_present = false;
        let e = plan_start(&c, &st).unwrap_err();
        assert_eq!(e.exit_code(), ocf::ExitCode::ErrInstalled);

        let t = table(&[ROOT, "2 1 7:3 / /mnt/d rw - ext4 /dev/loop3 rw"]);
        assert_eq!(
            plan_start(&c, &state(&t, Some("/dev/loop3"))).unwrap(),
            StartPlan::AlreadyMounted
        );
    }

    #[test]
    fn clone_guard_decisions() {
        let e = clone_guard(&cfg("/dev/loop3", "ext4", ""), true).unwrap_err();
        assert_eq!(e.exit_code(), ocf::ExitCode::ErrConfigured);
        assert!(e.reason().contains("NOT cluster-aware"));
        assert_eq!(clone_guard(&cfg("/dev/loop3", "ext4", ""), false), Ok(None));
        assert_eq!(clone_guard(&cfg("srv:/e", "nfs", ""), true), Ok(None));
        let mut c = cfg("/dev/loop3", "xfs", "");
        c.force_clones = true;
        assert!(clone_guard(&c, true)
            .unwrap()
            .unwrap()
            .contains("force_clones"));
        let w = clone_guard(&cfg("/dev/loop3", "vfat", "ro"), true).unwrap();
        assert!(w.unwrap().contains("read-only"));
    }

    #[test]
    fn stop_order_submounts_deepest_first_then_same_device() {
        let c = cfg("/dev/loop3", "ext4", "");
        let t = table(&[
            ROOT,
            "10 1 7:3 / /mnt/d rw - ext4 /dev/loop3 rw",
            "11 10 0:40 / /mnt/d/a rw - tmpfs none rw",
            "12 11 0:41 / /mnt/d/a/b rw - tmpfs none rw",
            "13 10 0:42 / /mnt/d/z rw - tmpfs none rw",
            "14 1 7:3 /sub /srv/bound rw - ext4 /dev/loop3 rw",
            "15 1 7:30 / /srv/other rw - ext4 /dev/loop30 rw",
        ]);
        let plan = plan_stop(&c, &t, Path::new("/mnt/d"), true);
        let order: Vec<&str> = plan.unmount.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            order,
            ["/mnt/d/a/b", "/mnt/d/z", "/mnt/d/a", "/srv/bound", "/mnt/d"]
        );
        assert_eq!(plan.flush.as_deref(), Some("/dev/loop3"));
        assert!(!plan.force_flag);
        assert_eq!(plan.signal, ForceUnmount::All);
    }

    #[test]
    fn stop_bind_mount_leaves_the_original_alone() {
        let c = cfg("/srv/data", "none", "bind");
        let t = table(&[ROOT, "10 1 253:1 /srv/data /mnt/d rw - ext4 /dev/vda rw"]);
        let plan = plan_stop(&c, &t, Path::new("/mnt/d"), false);
        assert_eq!(plan.unmount, [PathBuf::from("/mnt/d")]);
        assert_eq!(plan.signal, ForceUnmount::Safe);
        assert_eq!(plan.flush, None);
    }

    #[test]
    fn stop_network_and_not_mounted() {
        let c = cfg("srv:/e", "nfs4", "");
        let t = table(&[ROOT, "10 1 0:50 / /mnt/d rw - nfs4 srv:/e rw"]);
        let plan = plan_stop(&c, &t, Path::new("/mnt/d"), false);
        assert!(plan.force_flag);
        let t = table(&[ROOT]);
        assert!(plan_stop(&c, &t, Path::new("/mnt/d"), false)
            .unmount
            .is_empty());
    }

    proptest::proptest! {
        /// Whatever is mounted below, no mount is unmounted before one
        /// mounted below it, and the resource's own mount point comes last.
        #[test]
        fn stop_order_never_unmounts_a_parent_first(
            paths in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(vec!["a", "b", "c"]), 1..4),
                0..8,
            )
        ) {
            let c = cfg("/dev/loop3", "ext4", "");
            let mut lines = vec![ROOT.to_string(), "10 1 7:3 / /mnt/d rw - ext4 /dev/loop3 rw".into()];
            for (i, p) in paths.iter().enumerate() {
                lines.push(format!("{} 10 0:{} / /mnt/d/{} rw - tmpfs t rw", 20 + i, 40 + i, p.join("/")));
            }
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let plan = plan_stop(&c, &table(&refs), Path::new("/mnt/d"), true);
            proptest::prop_assert_eq!(plan.unmount.last().map(PathBuf::as_path), Some(Path::new("/mnt/d")));
            for (i, earlier) in plan.unmount.iter().enumerate() {
                for later in &plan.unmount[i + 1..] {
                    proptest::prop_assert!(
                        !later.starts_with(earlier),
                        "{} before {}", earlier.display(), later.display()
                    );
                }
            }
        }
    }

    #[test]
    fn escalation_schedule() {
        let b = Duration::from_secs(6);
        let s = |ms| signal_at(ForceUnmount::All, Duration::from_millis(ms), b);
        assert_eq!(s(0), Some(Signal::SIGTERM));
        assert_eq!(s(2999), Some(Signal::SIGTERM));
        assert_eq!(s(3000), Some(Signal::SIGKILL));
        assert_eq!(s(6000), None);
        assert_eq!(signal_at(ForceUnmount::Never, Duration::ZERO, b), None);
        assert_eq!(stop_budget(true, Duration::from_secs(58)), b);
        assert_eq!(
            stop_budget(true, Duration::from_secs(4)),
            Duration::from_secs(4)
        );
        assert_eq!(
            stop_budget(false, Duration::from_secs(58)),
            Duration::from_secs(58)
        );
    }
}
