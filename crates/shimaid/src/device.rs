//! The Primary's block device: the NBD export made into a block device, and the configured
//! `device` path made a symlink to it, so `mkfs`, `mount` and `fsck` use the DRBD path.
//!
//! With the kernel's nbd driver (`/dev/nbd0` exists) `nbd-client` connects a free `/dev/nbdN`
//! to the export. Without it, shimaid's own FUSE server (`shimai-fuse`, a thread of the
//! daemon whose requests go to the engine like NBD clients') shows the volume as a file under
//! the run directory, and `losetup` makes that file a loop device (with direct I/O, so the
//! page cache does not hold a second copy and a flush reaches shimaid). If shimaid dies, the
//! kernel aborts the FUSE connection as its `/dev/fuse` descriptor closes: I/O on the device
//! fails with EIO instead of waiting, and the next start removes what is left.
//!
//! Before the device goes away (`secondary`, `down`), [`busy`] says whether anything holds it:
//! a mount (from `/proc/self/mountinfo`) or an open file descriptor (from `/proc/*/fd`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shimai_config::value::Attach;

/// The block device behind the configured path.
pub struct Device {
    /// The configured path (the symlink).
    pub path: PathBuf,
    /// `/dev/loopN` or `/dev/nbdN`.
    pub block: String,
    kind: Kind,
}

enum Kind {
    /// shimaid's own FUSE server (a thread of this process) under a loop device.
    Fuse {
        server: Option<std::thread::JoinHandle<()>>,
        dir: PathBuf,
    },
    Nbd,
}

/// A block request from the FUSE server, for the engine; `done` answers the kernel.
pub struct FuseRequest {
    pub req: shimai_fuse::BlockRequest,
    pub done: shimai_fuse::Completer,
}

/// Hands the FUSE server's requests to the engine.
struct ToEngine(crate::inbox::Inbox<FuseRequest>);

impl shimai_fuse::Backend for ToEngine {
    fn submit(&mut self, req: shimai_fuse::BlockRequest, done: shimai_fuse::Completer) {
        // An engine that is gone drops the request, and the dropped `Completer` answers EIO.
        (self.0)(FuseRequest { req, done });
    }
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Which way `attach` resolves on this host (`None` = no device).
pub fn method(attach: Attach) -> Option<Attach> {
    match attach {
        Attach::None => None,
        Attach::Auto if Path::new("/dev/nbd0").exists() => Some(Attach::Nbd),
        Attach::Auto => Some(Attach::Fuse),
        other => Some(other),
    }
}

/// Makes the block device for the export at `socket` and points `path` at it.
pub fn create(
    how: Attach,
    resource: &str,
    socket: &Path,
    run_dir: &Path,
    path: &Path,
    size: u64,
    fuse: crate::inbox::Inbox<FuseRequest>,
) -> Result<Device, String> {
    let (block, kind) = match how {
        Attach::Nbd => (nbd_client(resource, socket)?, Kind::Nbd),
        _ => fuse_loop(resource, run_dir, size, fuse)?,
    };
    let dev = Device {
        path: path.to_path_buf(),
        block: block.clone(),
        kind,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_symlink() {
            return Err(format!(
                "{} exists and is not a symlink: remove it or change `device` of {resource}",
                path.display()
            ));
        }
        let _ = std::fs::remove_file(path);
    }
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::os::unix::fs::symlink(&block, path)
        .map_err(|e| format!("cannot link {} to {block}: {e}", path.display()))?;
    Ok(dev)
}

fn nbd_client(resource: &str, socket: &Path) -> Result<String, String> {
    let free = (0..128)
        .map(|i| format!("nbd{i}"))
        .find(|n| {
            Path::new(&format!("/dev/{n}")).exists()
                && !Path::new(&format!("/sys/block/{n}/pid")).exists()
        })
        .ok_or("no free /dev/nbdN (all connected)")?;
    let dev = format!("/dev/{free}");
    run(Command::new("nbd-client")
        .arg("-unix")
        .arg(socket)
        .arg(&dev)
        .args(["-N", resource, "-b", "4096"]))?;
    Ok(dev)
}

/// Serves the volume as one file, `RUN_DIR/RES.fuse/RES`, from shimaid's own FUSE server
/// (no other process, no NBD hop), and puts a loop device with direct I/O on it.
fn fuse_loop(
    resource: &str,
    run_dir: &Path,
    size: u64,
    fuse: crate::inbox::Inbox<FuseRequest>,
) -> Result<(String, Kind), String> {
    let dir = run_dir.join(format!("{resource}.fuse"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let file = dir.join(resource);
    let mount = shimai_fuse::Mount::new(&dir).map_err(|e| format!("cannot serve FUSE: {e}"))?;
    let mut cfg = shimai_fuse::Config::new(size);
    cfg.name = resource.to_string();
    let res = resource.to_string();
    let server = std::thread::Builder::new()
        .name("fuse".into())
        .spawn(move || {
            let mut backend = ToEngine(fuse);
            match mount.run(cfg, &mut backend) {
                Ok(how) => log::info!("{res}: FUSE server ended ({how:?})"),
                Err(e) => {
                    log::error!("{res}: FUSE server failed: {e}");
                    let _ = mount.unmount();
                }
            }
        })
        .map_err(|e| format!("cannot start the FUSE server: {e}"))?;
    let mut kind = Kind::Fuse {
        server: Some(server),
        dir: dir.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) != size {
        if Instant::now() > deadline {
            stop_fuse(&mut kind);
            return Err(format!(
                "the FUSE server did not show {} within 10 s",
                file.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let f = file.display().to_string();
    let block = run(Command::new("losetup").args(["-f", "--show", "--direct-io=on", &f]))
        .or_else(|_| run(Command::new("losetup").args(["-f", "--show", &f])));
    match block {
        Ok(b) => Ok((b, kind)),
        Err(e) => {
            stop_fuse(&mut kind);
            Err(e)
        }
    }
}

/// Unmounts the FUSE file system (its server thread then ends) and waits a little for it.
fn stop_fuse(kind: &mut Kind) {
    let Kind::Fuse { server, dir } = kind else {
        return;
    };
    if mounted_at(dir) {
        let _ = nix::mount::umount2(dir.as_path(), nix::mount::MntFlags::MNT_DETACH);
    }
    if let Some(h) = server.take() {
        let deadline = Instant::now() + Duration::from_secs(3);
        while !h.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if h.is_finished() {
            let _ = h.join();
        }
    }
    let _ = std::fs::remove_dir(dir);
}

fn mounted_at(dir: &Path) -> bool {
    let d = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().any(|l| l.split(' ').nth(4) == Some(d.as_str())))
        .unwrap_or(false)
}

impl Device {
    /// Removes the symlink and the block device. Call [`busy`] first.
    pub fn teardown(mut self) -> Result<(), String> {
        let _ = std::fs::remove_file(&self.path);
        match &mut self.kind {
            Kind::Nbd => run(Command::new("nbd-client").args(["-d", &self.block])).map(|_| ()),
            Kind::Fuse { .. } => {
                let r = run(Command::new("losetup").args(["-d", &self.block]));
                stop_fuse(&mut self.kind);
                r.map(|_| ())
            }
        }
    }
}

/// The `major:minor` of a block device, as mountinfo and sysfs print it.
fn dev_numbers(block: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let rdev = std::fs::metadata(block).ok()?.rdev();
    Some(format!(
        "{}:{}",
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev)
    ))
}

/// What holds the device: mounts and processes that have it open.
pub fn busy(dev: &Device) -> Option<String> {
    let mut users = Vec::new();
    if let Some(numbers) = dev_numbers(&dev.block) {
        if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
            for l in info.lines() {
                let f: Vec<&str> = l.split(' ').collect();
                if f.get(2) == Some(&numbers.as_str()) {
                    users.push(format!("mounted on {}", f.get(4).unwrap_or(&"?")));
                }
            }
        }
    }
    let names = [dev.block.clone(), dev.path.display().to_string()];
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            let pid = p.file_name().to_string_lossy().into_owned();
            if pid.parse::<u32>().is_err() {
                continue;
            }
            let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
                continue;
            };
            let holds = fds.flatten().any(|fd| {
                std::fs::read_link(fd.path())
                    .map(|t| names.iter().any(|n| Path::new(n) == t))
                    .unwrap_or(false)
            });
            if holds {
                let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
                users.push(format!("open by {} (pid {pid})", comm.trim()));
            }
        }
    }
    if users.is_empty() {
        None
    } else {
        Some(users.join(", "))
    }
}

/// After a daemon was killed while Primary, its loop device, FUSE mount and symlink are
/// left behind. On start they are removed if nothing uses them, else a warning says what
/// still holds them (the new daemon's device will then appear on another loop device).
pub fn remove_stale(resource: &str, run_dir: &Path, path: &Path) {
    let dir = run_dir.join(format!("{resource}.fuse"));
    let file = dir.join(resource).display().to_string();
    if let Ok(loops) = std::fs::read_dir("/sys/block") {
        for l in loops.flatten() {
            let backing =
                std::fs::read_to_string(l.path().join("loop/backing_file")).unwrap_or_default();
            if backing.trim() != file {
                continue;
            }
            let dev = Device {
                path: path.to_path_buf(),
                block: format!("/dev/{}", l.file_name().to_string_lossy()),
                kind: Kind::Nbd,
            };
            match busy(&dev) {
                Some(users) => log::warn!(
                    "{resource}: {} of a previous run is still in use ({users}); unmount it and \
                     run `losetup -d {}`",
                    dev.block,
                    dev.block
                ),
                None => {
                    log::info!("{resource}: removing {} left by a previous run", dev.block);
                    let _ = run(Command::new("losetup").args(["-d", &dev.block]));
                }
            }
        }
    }
    if mounted_at(&dir) {
        // A dead server's connection is aborted first, so nothing waits on it any more.
        match shimai_fuse::detach_stale(&dir) {
            Ok(true) => log::info!("{resource}: aborted the FUSE connection a previous run left"),
            _ => {
                let _ = Command::new("umount").arg("-l").arg(&dir).status();
            }
        }
    }
    let _ = std::fs::remove_dir(&dir);
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        let _ = std::fs::remove_file(path);
    }
}
