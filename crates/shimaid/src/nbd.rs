//! The NBD export on `RUN_DIR/RES.nbd`, present only while the node is Primary.
//!
//! Per client connection, a reader thread feeds the socket's bytes to a handler thread that
//! owns the sans-IO [`Connection`]; the handler turns requests into engine inputs and writes
//! the replies the engine completes, in whatever order replication finishes them. So a client
//! can keep many requests in flight, and several clients can be connected at once.

use std::io::Read;
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
        reply: Sender<ConnMsg>,
    },
}

/// What a client connection's handler receives.
pub enum ConnMsg {
    Bytes(Vec<u8>),
    Eof,
    Done(Completion),
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
    let mut reader = s.try_clone()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    std::thread::Builder::new()
        .name(format!("nbd-read{id}"))
        .spawn(move || {
            let mut buf = vec![0u8; 256 << 10];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx2.send(ConnMsg::Eof);
                        return;
                    }
                    Ok(n) => {
                        if tx2.send(ConnMsg::Bytes(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        })?;
    std::thread::Builder::new()
        .name(format!("nbd-conn{id}"))
        .spawn(move || handle(id, s, info, tx, rx, engine))?;
    Ok(())
}

fn handle(
    id: u64,
    mut s: UnixStream,
    info: ExportInfo,
    me: Sender<ConnMsg>,
    rx: Receiver<ConnMsg>,
    engine: Inbox<Report>,
) {
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
        let Ok(msg) = rx.recv() else { break };
        match msg {
            ConnMsg::Bytes(b) => conn.receive(&b),
            ConnMsg::Eof => eof = true,
            ConnMsg::Done(c) => {
                let _ = conn.complete(c);
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
