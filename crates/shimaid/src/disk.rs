//! Disk I/O for the core: a few threads doing `pwrite`/`pread`/`fdatasync` on the backing
//! store, each completion sent back to the engine as `Event::DiskDone`.
//!
//! Several threads, because a Primary's client writes and a Secondary's replicated writes
//! overlap in time with resync reads; the core never issues overlapping writes at once, so
//! their order between threads does not matter. A flush is `fdatasync` on the whole file,
//! which covers every write that completed before it was issued.

use std::os::unix::fs::FileExt;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use nix::fcntl::{fallocate, FallocateFlags};
use shimai_replication::{DiskResult, IoId};

use crate::inbox::Inbox;
use crate::setup::SharedFile;

/// One disk operation the core asked for.
pub use crate::driver::DiskOp as Job;

const THREADS: usize = 4;

/// A finished disk operation.
pub struct Done {
    pub io: IoId,
    pub result: DiskResult,
}

/// Starts the disk threads; jobs go into the returned sender.
pub fn start(file: SharedFile, done: Inbox<Done>) -> Sender<Job> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..THREADS {
        let (file, rx, done) = (file.clone(), rx.clone(), done.clone());
        let _ = std::thread::Builder::new()
            .name(format!("disk{i}"))
            .spawn(move || worker(file, rx, done));
    }
    tx
}

fn worker(file: SharedFile, rx: Arc<Mutex<Receiver<Job>>>, done: Inbox<Done>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let (io, result) = perform(&file, job);
        if !done(Done { io, result }) {
            return;
        }
    }
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc_eio())
}

const fn libc_eio() -> i32 {
    nix::errno::Errno::EIO as i32
}

fn perform(file: &SharedFile, job: Job) -> (IoId, DiskResult) {
    let f = file.0.as_ref();
    let status = |r: std::io::Result<()>| match r {
        Ok(()) => DiskResult::Done,
        Err(e) => DiskResult::Failed(errno(&e)),
    };
    match job {
        Job::Write {
            io,
            offset,
            data,
            fua,
        } => {
            let r = f.write_all_at(&data, offset);
            let r = r.and_then(|()| if fua { f.sync_data() } else { Ok(()) });
            (io, status(r))
        }
        Job::Read { io, offset, len } => {
            let mut buf = vec![0u8; len as usize];
            match f.read_exact_at(&mut buf, offset) {
                Ok(()) => (io, DiskResult::Data(buf)),
                Err(e) => (io, DiskResult::Failed(errno(&e))),
            }
        }
        Job::Trim { io, offset, len } => (io, status(trim(f, offset, len))),
        Job::Flush { io } => (io, status(f.sync_data())),
    }
}

/// Deallocates the range when the file system can (sparse files), else writes zeroes, so a
/// trimmed range reads back as zeroes on both nodes either way.
fn trim(f: &std::fs::File, offset: u64, len: u64) -> std::io::Result<()> {
    let flags = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
    let (Ok(o), Ok(l)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(std::io::Error::from_raw_os_error(
            nix::errno::Errno::EINVAL as i32,
        ));
    };
    if fallocate(std::os::fd::AsRawFd::as_raw_fd(f), flags, o, l).is_ok() {
        return Ok(());
    }
    let zero = vec![0u8; 1 << 20];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(zero.len() as u64) as usize;
        f.write_all_at(&zero[..n], offset + done)?;
        done += n as u64;
    }
    Ok(())
}
