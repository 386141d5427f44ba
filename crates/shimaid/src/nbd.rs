//! The NBD export on `RUN_DIR/RES.nbd`, present only while the node is Primary.
//!
//! Per client connection, one thread owns the sans-IO [`Connection`]: it waits in `poll(2)`
//! on the socket and on a wake-up pipe, reads requests straight into their buffers
//! (`Connection::read_from`), hands them to the engine, and writes the replies the engine
//! completes, in whatever order replication finishes them. So a client can keep many requests
//! in flight, and several clients can be connected at once.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use shimai_nbd::{BlockSize, Command, Completion, Connection, Event, ExportInfo};

use crate::inbox::Inbox;

/// What the export reports to the engine.
pub enum Report {
    Open {
        conn: u64,
    },
    Closed {
        conn: u64,
    },
    /// A client request; its completion goes to `reply`.
    Request {
        cookie: u64,
        command: Command,
        reply: Replier,
    },
}

/// Where the engine sends a request's completion: the connection's queue, and the pipe
/// that wakes its thread.
#[derive(Clone)]
pub struct Replier {
    tx: Sender<Completion>,
    wake: Arc<OwnedFd>,
}

impl Replier {
    pub fn send(&self, c: Completion) {
        if self.tx.send(c).is_ok() {
            // A full pipe already holds a wake-up: EAGAIN is fine.
            let _ = nix::unistd::write(self.wake.as_fd(), &[1]);
        }
    }
}

/// A running export: the listening socket and its accept thread.
pub struct Export {
    path: PathBuf,
    stop: Arc<AtomicBool>,
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

impl Export {
    /// Binds `path` (mode 0600) and accepts clients for export `name` of `size` bytes.
    pub fn start(
        path: &Path,
        name: &str,
        size: u64,
        engine: Inbox<Report>,
    ) -> std::io::Result<Export> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut info = ExportInfo::new(name, size);
        // The core checks 512-byte alignment and takes at most MAX_REQUEST bytes at once.
        if let Ok(b) = BlockSize::new(512, 4096, crate::driver::MAX_REQUEST as u32) {
            info.block_size = b;
        }
        let stop2 = stop.clone();
        std::thread::Builder::new()
            .name("nbd-accept".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let _ = s.set_nonblocking(false);
                            let id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
                            let _ = serve(id, s, info.clone(), engine.clone());
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })?;
        Ok(Export {
            path: path.to_path_buf(),
            stop,
        })
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(id: u64, s: UnixStream, info: ExportInfo, engine: Inbox<Report>) -> std::io::Result<()> {
    use nix::fcntl::OFlag;
    let (wake_r, wake_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let reply = Replier {
        tx,
        wake: Arc::new(wake_w),
    };
    std::thread::Builder::new()
        .name(format!("nbd-conn{id}"))
        .spawn(move || handle(id, s, info, reply, rx, wake_r, engine))?;
    Ok(())
}

fn handle(
    id: u64,
    mut s: UnixStream,
    info: ExportInfo,
    me: Replier,
    rx: Receiver<Completion>,
    wake: OwnedFd,
    engine: Inbox<Report>,
) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut conn = Connection::new(vec![info]);
    engine(Report::Open { conn: id });
    let mut eof = false;
    'outer: loop {
        if conn.write_to(&mut s).is_err() {
            break;
        }
        if conn.is_finished() || (eof && conn.in_flight() == 0) {
            break;
        }
        let (readable, woken) = {
            let sock_events = if eof {
                PollFlags::empty()
            } else {
                PollFlags::POLLIN
            };
            let mut fds = [
                PollFd::new(s.as_fd(), sock_events),
                PollFd::new(wake.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            let ready = |f: &PollFd| {
                f.revents().is_some_and(|r| {
                    r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                })
            };
            (ready(&fds[0]), ready(&fds[1]))
        };
        if woken {
            let mut sink = [0u8; 64];
            while matches!(nix::unistd::read(wake.as_raw_fd(), &mut sink), Ok(n) if n > 0) {}
            while let Ok(c) = rx.try_recv() {
                let _ = conn.complete(c);
            }
        }
        if readable && !eof {
            match conn.read_from(&mut s) {
                Ok(0) | Err(_) => eof = true,
                Ok(_) => {}
            }
        }
        loop {
            match conn.next_event() {
                Ok(Some(Event::Request(req))) => {
                    let input = match req.command {
                        Command::Cache { .. } => {
                            let _ = conn.complete(Completion::ok(req.cookie));
                            continue;
                        }
                        command => Report::Request {
                            cookie: req.cookie,
                            command,
                            reply: me.clone(),
                        },
                    };
                    if !engine(input) {
                        break 'outer;
                    }
                }
                Ok(Some(Event::Ready { .. })) => {}
                Ok(Some(Event::Disconnect)) | Ok(None) | Err(_) => break,
            }
        }
    }
    let _ = conn.write_to(&mut s);
    let _ = s.shutdown(std::net::Shutdown::Both);
    engine(Report::Closed { conn: id });
}
