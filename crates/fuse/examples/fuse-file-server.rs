//! Serves a file through shimai's FUSE server: `MOUNT_POINT/data` has the file's size,
//! and its reads, writes and fsyncs go to the file (on worker threads, several at once).
//!
//! usage: fuse-file-server serve MOUNT_POINT FILE [--threads N] [--stats PATH] [--no-uring]
//!        fuse-file-server abort MOUNT_POINT
//!        fuse-file-server detach MOUNT_POINT
//!
//! FUSE over io_uring is used when the kernel offers it (`fuse.enable_uring`), unless
//! `--no-uring`. `--stats PATH` rewrites PATH with `flushes N`, `writes N` and `inflight_max N` (the
//! most requests the backend held at once) after each flush, for tests to count what
//! reached the backing file. `abort` aborts the FUSE connection of
//! MOUNT_POINT through /sys/fs/fuse/connections/N/abort and prints N; `detach` aborts and
//! lazily unmounts what a dead server left there.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use shimai_fuse::{Backend, BlockRequest, Completer};

const USAGE: &str = "usage: fuse-file-server serve MOUNT_POINT FILE [--threads N] [--stats PATH] [--no-uring]\n       fuse-file-server abort MOUNT_POINT\n       fuse-file-server detach MOUNT_POINT";

struct Shared {
    file: File,
    flushes: AtomicU64,
    writes: AtomicU64,
    /// Requests submitted and not completed, and the most seen at once.
    inflight: AtomicU64,
    inflight_max: AtomicU64,
    stats: Option<PathBuf>,
}

struct Pool {
    tx: Sender<(BlockRequest, Completer)>,
    shared: Arc<Shared>,
}

impl Backend for Pool {
    fn submit(&mut self, req: BlockRequest, done: Completer) {
        let n = self.shared.inflight.fetch_add(1, Ordering::SeqCst) + 1;
        self.shared.inflight_max.fetch_max(n, Ordering::SeqCst);
        // A send fails only when every worker is gone; the dropped Completer replies EIO.
        let _ = self.tx.send((req, done));
    }
}

/// A Completer that leaves the in-flight count as it replies.
struct Done<'a>(Completer, &'a Shared);

impl Done<'_> {
    fn read(self, data: &[u8]) {
        self.1.inflight.fetch_sub(1, Ordering::SeqCst);
        self.0.read(data)
    }
    fn done(self, r: Result<(), i32>) {
        self.1.inflight.fetch_sub(1, Ordering::SeqCst);
        self.0.done(r)
    }
}

fn work(shared: &Shared, rx: &Mutex<Receiver<(BlockRequest, Completer)>>) {
    loop {
        let next = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((req, done)) = next else { return };
        // a request counts as in flight until just before its reply is written
        let done = Done(done, shared);
        match req {
            BlockRequest::Read { offset, len } => {
                let mut buf = vec![0u8; len as usize];
                match shared.file.read_exact_at(&mut buf, offset) {
                    Ok(()) => done.read(&buf),
                    Err(e) => {
                        log::error!("read {len} at {offset}: {e}");
                        done.done(Err(5))
                    }
                }
            }
            BlockRequest::Write { offset, data } => match shared.file.write_all_at(&data, offset) {
                Ok(()) => {
                    shared.writes.fetch_add(1, Ordering::SeqCst);
                    done.done(Ok(()))
                }
                Err(e) => {
                    log::error!("write {} at {offset}: {e}", data.len());
                    done.done(Err(5))
                }
            },
            BlockRequest::Flush => match shared.file.sync_data() {
                Ok(()) => {
                    let n = shared.flushes.fetch_add(1, Ordering::SeqCst) + 1;
                    if let Some(p) = &shared.stats {
                        let text = format!(
                            "flushes {n}\nwrites {}\ninflight_max {}\n",
                            shared.writes.load(Ordering::SeqCst),
                            shared.inflight_max.load(Ordering::SeqCst)
                        );
                        let tmp = p.with_extension("tmp");
                        if std::fs::write(&tmp, text).is_ok() {
                            let _ = std::fs::rename(&tmp, p);
                        }
                    }
                    done.done(Ok(()))
                }
                Err(e) => {
                    log::error!("fdatasync: {e}");
                    done.done(Err(5))
                }
            },
        }
    }
}

fn serve(args: &[String]) -> Result<(), String> {
    let (mut mount, mut file, mut threads, mut stats) = (None, None, 4usize, None);
    let mut uring = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--threads" => {
                threads = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| (1..=256).contains(n))
                    .ok_or("--threads wants a number from 1 to 256")?
            }
            "--no-uring" => uring = false,
            "--stats" => stats = Some(PathBuf::from(it.next().ok_or("--stats wants a path")?)),
            _ if mount.is_none() => mount = Some(PathBuf::from(a)),
            _ if file.is_none() => file = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument '{a}'\n{USAGE}")),
        }
    }
    let (Some(mount), Some(path)) = (mount, file) else {
        return Err(USAGE.into());
    };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    let size = f.metadata().map_err(|e| e.to_string())?.len();
    let shared = Arc::new(Shared {
        file: f,
        flushes: AtomicU64::new(0),
        writes: AtomicU64::new(0),
        inflight: AtomicU64::new(0),
        inflight_max: AtomicU64::new(0),
        stats,
    });
    let (tx, rx) = channel();
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..threads {
        let (shared, rx) = (shared.clone(), rx.clone());
        std::thread::spawn(move || work(&shared, &rx));
    }
    let fuse = shimai_fuse::Mount::new(&mount).map_err(|e| e.to_string())?;
    let cfg = shimai_fuse::Config {
        uring,
        ..shimai_fuse::Config::new(size)
    };
    let ended = fuse
        .run(cfg, &mut Pool { tx, shared })
        .map_err(|e| e.to_string());
    if ended.is_err() {
        let _ = fuse.unmount();
    }
    let ended = ended?;
    eprintln!("fuse-file-server: {ended:?}");
    Ok(())
}

fn main() {
    env_logger::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("abort") if args.len() == 2 => match shimai_fuse::abort(Path::new(&args[1])) {
            Ok(Some(n)) => {
                println!("{n}");
                Ok(())
            }
            Ok(None) => Err(format!("no FUSE file system is mounted on {}", args[1])),
            Err(e) => Err(e.to_string()),
        },
        Some("detach") if args.len() == 2 => match shimai_fuse::detach_stale(Path::new(&args[1])) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("no FUSE file system is mounted on {}", args[1])),
            Err(e) => Err(e.to_string()),
        },
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.into()),
    };
    if let Err(e) = res {
        eprintln!("fuse-file-server: {e}");
        std::process::exit(2);
    }
}
