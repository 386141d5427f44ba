//! The systemd unit and the rules around it: `systemd-analyze verify` with no warning and no
//! ordering cycle in a boot-like transaction; one owner per resource (the unit's start check
//! refuses while the CIB has the resource, the drbd agent refuses while the unit is enabled);
//! no blind restart over a crashed Primary's mounted device; agents that find shimaid under
//! whatever `--prefix` installed them; and a detached shimaid logging to a real journald.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shimai_tests::{bin, have_program, have_root, run, run_agent, sh, unique, workspace, TempDir};

/// `scripts/install --bin-dir <cargo's dir> --prefix DIR/prefix --ocf-root DIR/ocf`.
fn install_into(dir: &TempDir) -> (PathBuf, PathBuf) {
    let prefix = dir.join("prefix");
    let ocf = dir.join("ocf");
    let bin_dir = bin("shimaid").parent().unwrap().to_path_buf();
    let out = run(Command::new(workspace().join("scripts/install"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--prefix")
        .arg(&prefix)
        .arg("--ocf-root")
        .arg(&ocf));
    assert!(
        out.status.success(),
        "scripts/install failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (prefix, ocf)
}

/// Runs `systemd-analyze verify` on the instance `shimai@r0.service` of `template` together
/// with a target that pulls in what a boot pulls in around it; returns its whole output.
/// `Documentation=man:` pages are looked up in `manpath` (the prefix's share/man).
fn verify_at_boot(dir: &Path, template: &str, manpath: &Path) -> (bool, String) {
    let units = dir.join("units");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(units.join("shimai@.service"), template).unwrap();
    // local-fs-pre.target is in every real boot (lvm2, cryptsetup, iscsi want it); a unit
    // ordered before it while after sysinit.target closes a cycle only then.
    std::fs::write(
        units.join("shimai-boot.target"),
        "[Unit]\nDescription=what a boot starts around shimai@r0\n\
         Wants=sysinit.target local-fs-pre.target local-fs.target remote-fs-pre.target \
         remote-fs.target network-online.target shimai@r0.service\n",
    )
    .unwrap();
    let out = run(Command::new("systemd-analyze")
        .env("MANPATH", manpath)
        .arg("verify")
        .arg(units.join("shimai@r0.service"))
        .arg(units.join("shimai-boot.target")));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_installed_unit_verifies_without_a_warning_or_a_boot_cycle() {
    if !have_program("units", "systemd-analyze") {
        return;
    }
    let dir = TempDir::new("unit-verify");
    let (prefix, _) = install_into(&dir);
    let unit = std::fs::read_to_string(prefix.join("lib/systemd/system/shimai@.service")).unwrap();
    // The installed copy runs the installed programs.
    assert!(
        unit.contains(&format!(
            "ExecStart={}/sbin/shimaid --foreground %I",
            prefix.display()
        )),
        "{unit}"
    );
    assert!(unit.contains(&format!(
        "ExecStartPre={}/lib/shimai/shimai-unit-check %I",
        prefix.display()
    )));
    assert!(unit.contains("Type=notify"));
    assert!(
        unit.contains("\nWatchdogSec="),
        "shimaid's loop pings the watchdog"
    );
    let (ok, text) = verify_at_boot(&dir.join("good"), &unit, &prefix.join("share/man"));
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );

    // The check sees a cycle when there is one: the old ordering is reported.
    let cyclic = unit.replace(
        "Before=remote-fs-pre.target",
        "Before=remote-fs-pre.target local-fs-pre.target",
    );
    assert_ne!(cyclic, unit);
    let (_, text) = verify_at_boot(&dir.join("cyclic"), &cyclic, &prefix.join("share/man"));
    assert!(
        text.contains("ordering cycle"),
        "a unit before local-fs-pre.target must be reported:\n{text}"
    );
}

/// The unit's start check, from the source tree, with `env`.
fn unit_check(res: &str, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(workspace().join("packaging/shimai-unit-check"));
    cmd.arg(res);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    (
        out.status.code().unwrap_or(128),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_unit_refuses_while_pacemaker_has_the_resource() {
    if !have_program("units", "cibadmin") {
        return;
    }
    let dir = TempDir::new("unit-cib");
    let cib = dir.join("cib.xml");
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    // A CIB as Pacemaker keeps it, read by the real cibadmin through CIB_file.
    std::fs::write(
        &cib,
        r#"<cib crm_feature_set="3.16.2" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config/>
    <nodes/>
    <resources>
      <clone id="ms_drbd_r7">
        <meta_attributes id="ms_drbd_r7-meta"><nvpair id="ms_drbd_r7-promotable" name="promotable" value="true"/></meta_attributes>
        <primitive id="p_drbd_r7" class="ocf" provider="shimai" type="drbd">
          <instance_attributes id="p_drbd_r7-ia"><nvpair id="p_drbd_r7-res" name="drbd_resource" value="r7"/></instance_attributes>
        </primitive>
      </clone>
    </resources>
    <constraints/>
  </configuration>
  <status/>
</cib>
"#,
    )
    .unwrap();
    let env = [
        ("CIB_file", cib.to_str().unwrap()),
        ("SHIMAI_RUN_DIR", run_dir.to_str().unwrap()),
    ];
    let (code, err) = unit_check("r7", &env);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Pacemaker manages resource r7")
            && err.contains("p_drbd_r7")
            && err.contains("systemctl disable shimai@r7.service"),
        "{err}"
    );
    // Another resource is not the cluster's.
    let (code, err) = unit_check("r8", &env);
    assert_eq!(code, 0, "{err}");
    // Pacemaker not running (no CIB answers here): the CIB it keeps on disk counts.
    let (code, err) = unit_check(
        "r7",
        &[
            ("SHIMAI_CIB_DISK", cib.to_str().unwrap()),
            ("SHIMAI_RUN_DIR", run_dir.to_str().unwrap()),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("in the CIB on disk"), "{err}");
    // Names that could break out of the XPath are refused as names.
    let (code, err) = unit_check("r7']|//*['", &env);
    assert_eq!(code, 2, "{err}");
}

/// A loop device over a file under `DIR/RES.fuse/`, as a Primary's nbdfuse + loop leave it
/// when the daemon dies; detached on drop.
struct StaleDevice {
    dev: String,
    mount: Option<PathBuf>,
}

impl Drop for StaleDevice {
    fn drop(&mut self) {
        if let Some(m) = self.mount.take() {
            let _ = run(Command::new("umount").arg(&m));
        }
        let _ = run(Command::new("losetup").args(["-d", &self.dev]));
    }
}

#[test]
fn the_unit_does_not_start_over_a_crashed_primarys_mounted_device() {
    if !have_root("units") || !have_program("units", "mkfs.ext4") {
        return;
    }
    let dir = TempDir::new("unit-stale");
    let res = "r9";
    let run_dir = dir.join("run");
    let fuse = run_dir.join(format!("{res}.fuse"));
    std::fs::create_dir_all(&fuse).unwrap();
    let file = fuse.join(res);
    std::fs::File::create(&file)
        .and_then(|f| f.set_len(16 << 20))
        .unwrap();
    let dev = sh(&format!("losetup -f --show {}", file.display()))
        .trim()
        .to_string();
    let mut stale = StaleDevice {
        dev: dev.clone(),
        mount: None,
    };
    let env = [("SHIMAI_RUN_DIR", run_dir.to_str().unwrap())];
    // Attached but unused: nothing to protect, the unit may start (shimaid cleans up).
    let (code, err) = unit_check(res, &env);
    assert_eq!(code, 0, "{err}");
    sh(&format!("mkfs.ext4 -q {dev}"));
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    sh(&format!("mount {dev} {}", mnt.display()));
    stale.mount = Some(mnt.clone());
    let (code, err) = unit_check(res, &env);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&dev) && err.contains(&format!("mounted on {}", mnt.display())),
        "{err}"
    );
    assert!(err.contains(&format!("umount {dev}")), "{err}");
    drop(stale);
    let (code, err) = unit_check(res, &env);
    assert_eq!(code, 0, "{err}");
}

/// A one-node configuration for resource `res` (the peer address answers nothing) with
/// fresh metadata; returns the config path.
fn one_node(dir: &TempDir, res: &str, shimaid: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let port = 20000 + (std::process::id() * 17 + n * 101) % 30000;
    let disk = dir.join("disk.img");
    std::fs::File::create(&disk)
        .and_then(|f| f.set_len(64 << 20))
        .unwrap();
    let conf = dir.join("shimai.conf");
    std::fs::write(
        &conf,
        format!(
            "resource {res} {{\n  net {{ connect-int 1; }}\n\
             on alpha {{ device {dev} minor 0; disk {disk}; address 127.0.0.1:{port}; meta-disk internal; }}\n\
             on beta {{ device {dev}.b minor 0; disk {disk}.b; address 127.0.0.2:{port}; meta-disk internal; }}\n}}\n",
            dev = dir.join("dev").display(),
            disk = disk.display(),
        ),
    )
    .unwrap();
    let out = run(Command::new(shimaid).arg("-c").arg(&conf).args([
        "--node",
        "alpha",
        "--create-md",
        res,
    ]));
    assert!(
        out.status.success(),
        "create-md: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    conf
}

/// The drbd agent's OCF environment for `res` on node alpha.
fn agent_env(res: &str, conf: &Path, run_dir: &Path) -> Vec<(String, String)> {
    [
        ("OCF_RESKEY_drbd_resource", res),
        ("OCF_RESKEY_drbdconf", conf.to_str().unwrap()),
        ("OCF_RESKEY_CRM_meta_clone_max", "2"),
        ("OCF_RESKEY_CRM_meta_clone_node_max", "1"),
        ("OCF_RESKEY_CRM_meta_promoted_max", "1"),
        ("OCF_RESKEY_CRM_meta_promoted_node_max", "1"),
        ("OCF_RESKEY_CRM_meta_notify", "true"),
        ("OCF_RESKEY_CRM_meta_promotable", "true"),
        ("OCF_RESKEY_wfc_timeout", "1"),
        ("SHIMAI_NODE", "alpha"),
        ("SHIMAI_RUN_DIR", run_dir.to_str().unwrap()),
        ("HA_RSCTMP", run_dir.to_str().unwrap()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn agent(agent: &Path, action: &str, env: &[(String, String)]) -> shimai_tests::AgentRun {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_agent(agent, action, "p_drbd", &env, None)
}

/// Kills, on drop, the shimaid whose pid file is in `run_dir` (ours, by PID).
struct DaemonGuard {
    pid_file: PathBuf,
}

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// An enablement symlink `/etc/systemd/system/multi-user.target.wants/UNIT`, removed on drop
/// (with the directory, when the test created it).
struct EnabledLink(PathBuf, Option<PathBuf>);

impl Drop for EnabledLink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(d) = &self.1 {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[test]
fn the_drbd_agent_refuses_a_resource_whose_unit_is_enabled() {
    if !have_root("units") {
        return;
    }
    let dir = TempDir::new("unit-owner");
    // A name no other suite uses: the link is in the host's /etc for the test's length.
    let res = unique("own");
    let conf = one_node(&dir, &res, &bin("shimaid"));
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let env = agent_env(&res, &conf, &run_dir);
    let _daemon = DaemonGuard {
        pid_file: run_dir.join(format!("{res}.pid")),
    };
    let wants = Path::new("/etc/systemd/system/multi-user.target.wants");
    let created = (!wants.exists()).then(|| wants.to_path_buf());
    std::fs::create_dir_all(wants).unwrap();
    let unit = format!("shimai@{res}.service");
    let link = EnabledLink(wants.join(&unit), created);
    std::os::unix::fs::symlink("/lib/systemd/system/shimai@.service", &link.0).unwrap();
    let r = agent(&bin("ocf-drbd"), "start", &env);
    assert_eq!(r.rc, 5, "OCF_ERR_INSTALLED expected: {r:?}");
    let reason = r.exit_reason().unwrap_or_default();
    assert!(
        reason.contains(&format!("{unit} is enabled"))
            && reason.contains(&format!("systemctl disable --now {unit}")),
        "{reason}"
    );
    assert!(
        !run_dir.join(format!("{res}.pid")).exists(),
        "no daemon may have been started"
    );
    // Disabled: the same start goes through (the peer is absent: WFConnection).
    drop(link);
    let r = agent(&bin("ocf-drbd"), "start", &env);
    assert_eq!(r.rc, 0, "{r:?}");
    let r = agent(&bin("ocf-drbd"), "stop", &env);
    assert_eq!(r.rc, 0, "{r:?}");
}

#[test]
fn an_agent_installed_under_a_prefix_runs_that_prefixs_shimaid() {
    if !have_root("units") {
        return;
    }
    let dir = TempDir::new("unit-prefix");
    let (prefix, ocf) = install_into(&dir);
    let shimaid = prefix.join("sbin/shimaid");
    let drbd = ocf.join("resource.d/shimai/drbd");
    assert!(
        std::fs::symlink_metadata(&drbd).unwrap().is_symlink(),
        "the OCF root links to PREFIX/lib/ocf"
    );
    let res = unique("pfx");
    let conf = one_node(&dir, &res, &shimaid);
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let mut env = agent_env(&res, &conf, &run_dir);
    env.push(("OCF_ROOT".into(), ocf.display().to_string()));
    let pid_file = run_dir.join(format!("{res}.pid"));
    let _daemon = DaemonGuard {
        pid_file: pid_file.clone(),
    };
    // PATH (run_agent's) has no shimaid; neither has /usr/sbin on a host without the package.
    let r = agent(&drbd, "start", &env);
    assert_eq!(r.rc, 0, "{r:?}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let exe = std::fs::read_link(format!("/proc/{}/exe", pid.trim())).unwrap();
    assert_eq!(exe, shimaid, "the daemon runs from the agent's prefix");
    let r = agent(&drbd, "monitor", &env);
    assert_eq!(r.rc, 0, "{r:?}");
    let r = agent(&drbd, "stop", &env);
    assert_eq!(r.rc, 0, "{r:?}");
    // The man pages and completion came along.
    for f in [
        "share/man/man8/shimaiadm.8",
        "share/man/man8/shimaid.8",
        "share/man/man8/haresources2cib.8",
        "share/man/man5/shimai.conf.5",
        "share/bash-completion/completions/shimaiadm",
    ] {
        assert!(prefix.join(f).is_file(), "{f} not installed");
    }
    let check = prefix.join("lib/shimai/shimai-unit-check");
    assert!(std::fs::metadata(&check).unwrap().permissions().mode() & 0o111 != 0);
}

#[test]
fn a_detached_shimaid_logs_to_the_journal_with_its_resource_name() {
    if !have_root("units")
        || !have_program("units", "unshare")
        || !have_program("units", "journalctl")
    {
        return;
    }
    let journald = Path::new("/lib/systemd/systemd-journald");
    if !journald.is_file() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{} missing (package systemd)",
            journald.display()
        );
        eprintln!("\n*** SKIPPED: no systemd-journald ***\n");
        return;
    }
    let dir = TempDir::new("unit-journal");
    let res = unique("jr");
    let conf = one_node(&dir, &res, &bin("shimaid"));
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    // A private /run and /var/log with a real journald of their own, as on a systemd host;
    // shimaid is started the way the agent and `shimaiadm up` start it (detached, output
    // to RES.log), so auto chooses the journal.
    let script = format!(
        "set -e\n\
         mount --make-rprivate /\n\
         mount -t tmpfs tmpfs /run\n\
         mount -t tmpfs tmpfs /var/log\n\
         mkdir -p /run/systemd/journal\n\
         {journald} & jpid=$!\n\
         i=0; while [ ! -S /run/systemd/journal/socket ]; do i=$((i+1)); [ $i -lt 100 ] || exit 9; sleep 0.1; done\n\
         {shimaid} -c {conf} --node alpha --run-dir {run} {res} >>{run}/{res}.log 2>&1\n\
         sleep 1\n\
         kill -9 $(cat {run}/{res}.pid)\n\
         journalctl --no-pager -o verbose SHIMAI_RESOURCE={res}\n\
         echo ==== syslog\n\
         {shimaid} -c /nonexistent/shimai.conf --node alpha --foreground --log syslog:/run/systemd/journal/dev-log {res} 2>/dev/null || true\n\
         sleep 0.5\n\
         journalctl --no-pager -o verbose _TRANSPORT=syslog SYSLOG_IDENTIFIER=shimaid\n\
         kill $jpid\n",
        journald = journald.display(),
        shimaid = bin("shimaid").display(),
        conf = conf.display(),
        run = run_dir.display(),
    );
    let _daemon = DaemonGuard {
        pid_file: run_dir.join(format!("{res}.pid")),
    };
    let started = Instant::now();
    let mut child = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        // .cargo/config.toml pins stderr for the other suites; this one tests the default.
        .env_remove("SHIMAI_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the journal check did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (journal, syslog) = text.split_once("==== syslog").expect("both parts ran");
    assert!(journal.contains("SYSLOG_IDENTIFIER=shimaid"), "{text}");
    assert!(
        journal.contains(&format!("SHIMAI_RESOURCE={res}")),
        "{text}"
    );
    assert!(journal.contains(&format!("MESSAGE={res}: ")), "{text}");
    // --log syslog: journald's syslog socket parses the tag, the severity and the message.
    assert!(
        syslog.contains(&format!("MESSAGE={res}: /nonexistent/shimai.conf"))
            && syslog.contains("PRIORITY=3")
            && syslog.contains("SYSLOG_FACILITY=3"),
        "{syslog}"
    );
    // The start-up file holds no log lines: only what a failing start would print.
    let log = std::fs::read_to_string(run_dir.join(format!("{res}.log"))).unwrap_or_default();
    assert!(
        !log.contains(" INFO "),
        "log lines went to RES.log instead of the journal:\n{log}"
    );
}

/// A cgroup named like systemd names a unit's, holding one process; on drop the process goes
/// back to the root cgroup and the directories are removed.
struct UnitCgroup {
    root: PathBuf,
    dirs: Vec<PathBuf>,
    pid: String,
}

impl Drop for UnitCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.root.join("cgroup.procs"), &self.pid);
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[test]
fn the_drbd_agent_refuses_a_resource_whose_units_daemon_runs() {
    if !have_root("units") {
        return;
    }
    // The cgroup v2 hierarchy (pure, or systemd's "unified" beside v1).
    let root = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .find(|r| r.join("cgroup.procs").is_file())
        .expect("no cgroup v2 hierarchy mounted");
    let dir = TempDir::new("unit-active");
    let res = unique("act");
    let conf = one_node(&dir, &res, &bin("shimaid"));
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let pid_file = run_dir.join(format!("{res}.pid"));
    let _daemon = DaemonGuard {
        pid_file: pid_file.clone(),
    };
    // Started the way `shimaiadm up` starts it; then put where systemd puts a unit's.
    let out = run(Command::new(bin("shimaid"))
        .arg("-c")
        .arg(&conf)
        .args(["--node", "alpha", "--run-dir"])
        .arg(&run_dir)
        .arg(&res));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    let unit = format!("shimai@{res}.service");
    let slice = root.join(format!("{}.slice", unique("shimai-test")));
    let cg = slice.join(&unit);
    let _cgroup = UnitCgroup {
        root: root.clone(),
        dirs: vec![slice.clone(), cg.clone()],
        pid: pid.clone(),
    };
    std::fs::create_dir_all(&cg).unwrap();
    std::fs::write(cg.join("cgroup.procs"), &pid).unwrap();
    let env = agent_env(&res, &conf, &run_dir);
    let r = agent(&bin("ocf-drbd"), "start", &env);
    assert_eq!(r.rc, 5, "OCF_ERR_INSTALLED expected: {r:?}");
    let reason = r.exit_reason().unwrap_or_default();
    assert!(
        reason.contains(&format!("shimaid (pid {pid}) runs in {unit}"))
            && reason.contains(&format!("systemctl disable --now {unit}")),
        "{reason}"
    );
    // The agent's monitor does not look (it forks nothing and reports the daemon).
    let r = agent(&bin("ocf-drbd"), "monitor", &env);
    assert_eq!(r.rc, 0, "{r:?}");
}
