//! The blocking driver: mount with mount(2), read `/dev/fuse`, hand block requests to a
//! [`Backend`] that completes them (on any thread, in any order) through a [`Completer`].
//! Also: finding and aborting a mount's FUSE connection.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::mount::{MntFlags, MsFlags};

use crate::session::{errno, reply, Action, Config, Op, Request, Session};
use crate::Error;

/// A block request as the backend gets it (data owned, so it may be kept across threads).
#[derive(Debug, PartialEq, Eq)]
pub enum BlockRequest {
    /// Read `len` bytes at `offset`: complete with [`Completer::read`].
    Read { offset: u64, len: u32 },
    /// Write `data` at `offset`: complete with [`Completer::done`] once it is as durable
    /// as a write acknowledged by a disk with a volatile cache.
    Write { offset: u64, data: Vec<u8> },
    /// Make every write completed so far stable (FUSE_FSYNC from a loop device's flush,
    /// or FUSE_FLUSH at close): complete with [`Completer::done`].
    Flush,
}

/// Where a reply goes: written to `/dev/fuse`, or handed to the io_uring thread.
pub(crate) enum Sink {
    Dev(Arc<File>),
    Ring {
        sink: crate::uring::RingSink,
        ent: usize,
    },
}

impl Sink {
    fn send(&self, iov: &[IoSlice<'_>]) {
        match self {
            Sink::Dev(dev) => send(dev, iov),
            Sink::Ring { sink, ent } => {
                sink.send(*ent, iov.iter().flat_map(|s| s.iter().copied()).collect())
            }
        }
    }
}

/// Where the backend sends a request's result. Dropping it without completing replies
/// EIO, so the kernel never waits for a request the backend lost.
pub struct Completer {
    sink: Sink,
    unique: u64,
    op: Op,
    sent: bool,
}

impl Completer {
    pub(crate) fn new(sink: Sink, unique: u64, op: Op) -> Completer {
        Completer {
            sink,
            unique,
            op,
            sent: false,
        }
    }

    /// The kernel's id of the request (unique among those in flight).
    pub fn unique(&self) -> u64 {
        self.unique
    }

    /// Completes a read with its data (which must be the length asked; it is sent as is).
    /// For any other request this is [`Completer::done`]`(Ok(()))`.
    pub fn read(mut self, data: &[u8]) {
        self.sent = true;
        if self.op == Op::Read {
            let h = reply::header(self.unique, data.len());
            self.sink.send(&[IoSlice::new(&h), IoSlice::new(data)]);
        } else {
            self.send_ok();
        }
    }

    /// Completes a write or flush (or fails any request with a positive errno, e.g. EIO).
    pub fn done(mut self, result: Result<(), i32>) {
        self.sent = true;
        match result {
            Ok(()) if self.op == Op::Read => self
                .sink
                .send(&[IoSlice::new(&reply::error(self.unique, errno::EIO))]),
            Ok(()) => self.send_ok(),
            Err(e) => self
                .sink
                .send(&[IoSlice::new(&reply::error(self.unique, e))]),
        }
    }

    fn send_ok(&self) {
        let bytes = match self.op {
            Op::Write(n) => reply::write(self.unique, n),
            _ => reply::empty(self.unique),
        };
        self.sink.send(&[IoSlice::new(&bytes)]);
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        if !self.sent {
            log::warn!("FUSE request {} dropped by the backend: EIO", self.unique);
            self.sink
                .send(&[IoSlice::new(&reply::error(self.unique, errno::EIO))]);
        }
    }
}

/// The owned form of a session's block request.
pub(crate) fn to_block(req: Request<'_>) -> BlockRequest {
    match req {
        Request::Read { offset, len, .. } => BlockRequest::Read { offset, len },
        Request::Write { offset, data, .. } => BlockRequest::Write {
            offset,
            data: data.to_vec(),
        },
        Request::Flush { .. } | Request::Fsync { .. } => BlockRequest::Flush,
    }
}

/// Writes one reply. ENOENT means the kernel no longer waits for it (interrupted, or the
/// connection aborted); the other errors mean the connection is gone: nothing to do.
fn send(dev: &File, iov: &[IoSlice<'_>]) {
    let mut dev = dev;
    match dev.write_vectored(iov) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc_errno::ENOENT) => {}
        Err(e) => log::debug!("FUSE reply not delivered: {e}"),
    }
}

mod libc_errno {
    pub const ENOENT: i32 = 2;
    pub const EINTR: i32 = 4;
    pub const EAGAIN: i32 = 11;
    pub const ENODEV: i32 = 19;
    pub const ECONNABORTED: i32 = 103;
}

/// What the daemon implements: take a request, complete it later through `done`.
/// `submit` runs on the driver's thread and should not block for long: several
/// requests are meant to be in flight (up to the kernel's `max_background`).
pub trait Backend {
    fn submit(&mut self, req: BlockRequest, done: Completer);
}

/// A mounted FUSE file system and its `/dev/fuse` descriptor.
pub struct Mount {
    dev: Arc<File>,
    mount_point: PathBuf,
}

impl Mount {
    /// Opens `/dev/fuse` and mounts it on `mount_point` (an existing directory) with the
    /// mount(2) syscall (root or CAP_SYS_ADMIN; no fusermount). The kernel sends INIT
    /// next; anything touching the mount point blocks until it is answered.
    pub fn new(mount_point: &Path) -> Result<Mount, Error> {
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map_err(|e| Error::Io("open /dev/fuse (is the fuse module there?)".into(), e))?;
        let data = format!(
            "fd={},rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions",
            dev.as_raw_fd()
        );
        nix::mount::mount(
            Some("shimai"),
            mount_point,
            Some("fuse.shimai"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOATIME,
            Some(data.as_str()),
        )
        .map_err(|e| {
            Error::Io(
                format!("mount FUSE on {} (needs root)", mount_point.display()),
                e.into(),
            )
        })?;
        Ok(Mount {
            dev: Arc::new(dev),
            mount_point: absolute(mount_point),
        })
    }

    pub fn mount_point(&self) -> &Path {
        &self.mount_point
    }

    /// The `/dev/fuse` descriptor (for a daemon that polls it itself).
    pub fn device(&self) -> &Arc<File> {
        &self.dev
    }

    /// Serves requests until the file system is unmounted, DESTROYed or aborted. When
    /// INIT negotiates FUSE over io_uring (the kernel offers it and `cfg.uring` is set),
    /// a second thread serves the ring while this one keeps reading `/dev/fuse` for what
    /// still comes that way (INIT, FORGET, INTERRUPT, requests sent before the ring was
    /// ready).
    pub fn run<B: Backend + Send>(&self, cfg: Config, backend: &mut B) -> Result<Ended, Error> {
        let session = Session::new(Config {
            track_pending: false,
            ..cfg
        })?;
        let mut buf = vec![0u8; session.buffer_size()];
        let max_payload = session.config().max_write as usize;
        let session = Mutex::new(session);
        let backend = Mutex::new(backend);
        let stop = AtomicBool::new(false);
        let mut wake = None;
        std::thread::scope(|scope| {
            let mut ring_thread = None;
            let res = loop {
                let n = match (&*self.dev).read(&mut buf) {
                    Ok(n) => n,
                    Err(e) => match e.raw_os_error() {
                        Some(libc_errno::ENOENT | libc_errno::EINTR | libc_errno::EAGAIN) => {
                            continue
                        }
                        Some(libc_errno::ENODEV) => break Ok(Ended::Unmounted),
                        Some(libc_errno::ECONNABORTED) => break Ok(Ended::Aborted),
                        _ => break Err(Error::Io("read /dev/fuse".into(), e)),
                    },
                };
                let mut s = session.lock().unwrap_or_else(|p| p.into_inner());
                let was_ready = s.is_ready();
                let action = match s.handle(&buf[..n]) {
                    Ok(a) => a,
                    Err(e) => {
                        log::error!("FUSE request ignored: {e}");
                        continue;
                    }
                };
                match action {
                    Action::Reply(bytes) => send(&self.dev, &[IoSlice::new(&bytes)]),
                    Action::None => {}
                    Action::Destroy(bytes) => {
                        send(&self.dev, &[IoSlice::new(&bytes)]);
                        break Ok(Ended::Destroyed);
                    }
                    Action::Io(req) => {
                        let done =
                            Completer::new(Sink::Dev(self.dev.clone()), req.unique(), req.op());
                        let block = to_block(req);
                        drop(s);
                        backend
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .submit(block, done);
                        continue;
                    }
                }
                // INIT was just answered with FUSE_OVER_IO_URING: start serving the ring.
                if !was_ready && s.is_ready() && s.uring() && ring_thread.is_none() {
                    drop(s);
                    let w = match crate::uring::new_wake() {
                        Ok(w) => w,
                        Err(e) => break Err(e),
                    };
                    wake = Some(w.clone());
                    let fd = self.dev.as_raw_fd();
                    let (session, backend, stop) = (&session, &backend, &stop);
                    let mount_point = &self.mount_point;
                    ring_thread = Some(scope.spawn(move || {
                        let r = crate::uring::run(fd, max_payload, w, stop, session, backend);
                        if let Err(e) = &r {
                            // Requests queued on a ring nobody serves would wait forever:
                            // fail them all instead.
                            log::error!("{e}; aborting the FUSE connection");
                            if let Err(e) = abort(mount_point) {
                                log::error!("{e}");
                            }
                        }
                        r
                    }));
                }
            };
            if let (Some(t), Some(w)) = (ring_thread, &wake) {
                stop.store(true, Ordering::SeqCst);
                let _ = w.write(1);
                let _ = t.join();
            }
            res
        })
    }

    /// Detaches the mount (MNT_DETACH: users still inside keep it until they leave).
    pub fn unmount(&self) -> Result<(), Error> {
        nix::mount::umount2(&self.mount_point, MntFlags::MNT_DETACH)
            .map_err(|e| Error::Io(format!("unmount {}", self.mount_point.display()), e.into()))
    }
}

/// Why [`Mount::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The file system was unmounted (the device read ENODEV).
    Unmounted,
    /// The kernel sent DESTROY.
    Destroyed,
    /// The connection was aborted through fusectl.
    Aborted,
}

/// Mounts a file of `size` bytes named `data` on `mount_point` and serves it through
/// `backend` until it is unmounted or aborted. Blocks; a daemon runs it on its own
/// thread (or uses [`Mount`] and [`Session`] in its own loop).
pub fn serve<B: Backend + Send>(
    mount_point: &Path,
    size: u64,
    backend: &mut B,
) -> Result<Ended, Error> {
    let mount = Mount::new(mount_point)?;
    let res = mount.run(Config::new(size), backend);
    if res.is_err() {
        let _ = mount.unmount();
    }
    res
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Undoes the octal escapes of `/proc/self/mountinfo` (`\040` for a space...).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The FUSE connection number of the file system mounted on `mount_point`: the minor
/// of its `st_dev`, read from `/proc/self/mountinfo` so that a hung server cannot make
/// this call hang (a `stat` of the mount point would wait for it). The path must be the
/// one it was mounted on (made absolute, symlinks not resolved). The topmost mount there
/// counts; `None` when no FUSE file system is mounted there.
pub fn connection_of(mount_point: &Path) -> Result<Option<u32>, Error> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::Io("read /proc/self/mountinfo".into(), e))?;
    Ok(connection_in(&info, &absolute(mount_point)))
}

/// [`connection_of`] over the text of a mountinfo file.
pub fn connection_in(mountinfo: &str, mount_point: &Path) -> Option<u32> {
    let want = mount_point.to_string_lossy();
    let want = want.trim_end_matches('/');
    let want = if want.is_empty() { "/" } else { want };
    let mut found = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(dev), Some(point)) = (fields.get(2), fields.get(4)) else {
            continue;
        };
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let fstype = fields.get(dash + 1).copied().unwrap_or("");
        if unescape(point) != want {
            continue;
        }
        if fstype != "fuse" && !fstype.starts_with("fuse.") && fstype != "fuseblk" {
            found = None; // a later non-FUSE mount hides the FUSE one
            continue;
        }
        let mut parts = dev.split(':');
        let (Some(maj), Some(min)) = (parts.next(), parts.next()) else {
            continue;
        };
        if maj != "0" {
            continue; // fuseblk has a real block device; it has no anonymous minor
        }
        found = min.parse().ok();
    }
    found
}

/// Where fusectl shows connections.
pub const FUSECTL: &str = "/sys/fs/fuse/connections";

/// Aborts the FUSE connection of `mount_point` by writing to
/// `/sys/fs/fuse/connections/N/abort` (mounting fusectl there if it is not): every
/// pending and later request of that file system fails at once (ENOTCONN to the file's
/// users, EIO through a loop device above it), so nothing waits for a dead or stuck
/// server. The mount itself stays until it is unmounted (`umount -l`). Returns the
/// connection number; `Ok(None)` when no FUSE file system is mounted there.
///
/// When the server process dies, the kernel aborts the connection itself as the last
/// `/dev/fuse` descriptor closes; this is for a server that is alive but stuck, or a
/// descriptor some other process still holds.
pub fn abort(mount_point: &Path) -> Result<Option<u32>, Error> {
    let Some(n) = connection_of(mount_point)? else {
        return Ok(None);
    };
    let ctl = Path::new(FUSECTL);
    let dir = ctl.join(n.to_string());
    if !dir.exists() {
        // fusectl is not mounted: mount it (the connection lives as long as the mount)
        let _ = nix::mount::mount(
            Some("fusectl"),
            ctl,
            Some("fusectl"),
            MsFlags::empty(),
            None::<&str>,
        );
    }
    if !dir.exists() {
        return Err(Error::Io(
            format!(
                "FUSE connection {n} of {} is not in {FUSECTL}: mount fusectl there \
                 (mount -t fusectl none {FUSECTL})",
                mount_point.display()
            ),
            std::io::ErrorKind::NotFound.into(),
        ));
    }
    let path = dir.join("abort");
    std::fs::write(&path, b"1").map_err(|e| Error::Io(format!("write {}", path.display()), e))?;
    Ok(Some(n))
}

/// Cleans what a dead server left on `mount_point`: aborts its connection (if it is
/// still there) and detaches the mount (MNT_DETACH). Returns whether there was a FUSE
/// mount. Detach the loop device over the file first (`losetup -d`): it holds the file
/// open, and the detached mount lives on until it lets go.
pub fn detach_stale(mount_point: &Path) -> Result<bool, Error> {
    if abort(mount_point)?.is_none() {
        return Ok(false);
    }
    nix::mount::umount2(mount_point, MntFlags::MNT_DETACH)
        .map_err(|e| Error::Io(format!("unmount {}", mount_point.display()), e.into()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
50 22 0:45 / /tmp/a\\040b rw,nosuid,nodev,relatime shared:30 - fuse.shimai shimai rw,user_id=0,group_id=0
51 22 0:46 / /tmp/c rw - fuse.shimai shimai rw
52 51 7:0 / /tmp/c rw - ext4 /dev/loop0 rw
53 22 0:47 / /tmp/d rw - fuse shimai rw
54 22 0:48 / /tmp/d rw - fuse.other x rw
";

    #[test]
    fn finds_connection_from_mountinfo() {
        assert_eq!(connection_in(INFO, Path::new("/tmp/a b")), Some(45));
        assert_eq!(connection_in(INFO, Path::new("/tmp/a b/")), Some(45));
        // an ext4 mounted over the FUSE mount hides it
        assert_eq!(connection_in(INFO, Path::new("/tmp/c")), None);
        // the topmost FUSE mount counts
        assert_eq!(connection_in(INFO, Path::new("/tmp/d")), Some(48));
        assert_eq!(connection_in(INFO, Path::new("/")), None);
        assert_eq!(connection_in(INFO, Path::new("/nowhere")), None);
        assert_eq!(connection_in("garbage\n1 2\n", Path::new("/")), None);
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("a\\040b\\134c"), "a b\\c");
        assert_eq!(unescape("end\\04"), "end\\04");
        assert_eq!(unescape("\\"), "\\");
    }
}
