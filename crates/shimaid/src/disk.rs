//! Disk I/O for the core: a few threads doing `pwrite`/`pread`/`fdatasync` on the backing
//! store, each completion reported to the engine as a [`Done`].
//!
//! Several threads, because a Primary's client writes and a Secondary's replicated writes
//! overlap in time with resync reads; the core never issues overlapping writes at once, so
//! their order between threads does not matter. A flush is `fdatasync` on the whole file,
//! which covers every write that completed before it was issued.
//!
//! The data area is written with `O_DIRECT` by default, as DRBD submits to its backing device:
//! the page cache does not hold a second copy of every block, and durability comes from the
//! flushes the protocol asks for. Each thread keeps one aligned buffer, reused for every
//! request (the one copy of a payload on this path). Where the file system refuses direct
//! I/O, or `SHIMAI_DISK_IO=buffered` asks for it, the page cache is used instead; a request
//! the device refuses as misaligned (`EINVAL`) is retried through it.

use std::os::unix::fs::FileExt;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use nix::fcntl::{fallocate, FallocateFlags};
use shimai_replication::{DiskResult, IoId};

use crate::inbox::Inbox;
use crate::setup::SharedFile;

/// One disk operation the core asked for.
pub use crate::driver::DiskOp as Job;

/// A finished disk operation.
pub struct Done {
    pub io: IoId,
    pub result: DiskResult,
}

/// The data area: the page-cache file, and the same file opened with `O_DIRECT` when the
/// file system allows it.
#[derive(Clone)]
pub struct DataFile {
    pub buffered: SharedFile,
    pub direct: Option<SharedFile>,
    /// `disk-flushes`: flush the device's cache for client flushes, FUA writes and barriers.
    /// With `no`, writes are made to reach the device but its cache is trusted, as DRBD.
    pub flushes: bool,
}

impl DataFile {
    /// Makes every completed write durable, as far as `disk-flushes` asks.
    fn sync(&self) -> std::io::Result<()> {
        match (&self.direct, self.flushes) {
            (Some(d), true) => d.0.sync_data(),
            (None, true) => self.buffered.0.sync_data(),
            // O_DIRECT writes are on the device already.
            (Some(_), false) => Ok(()),
            (None, false) => crate::sys::write_back(&self.buffered.0),
        }
    }
}

const THREADS: usize = 4;
/// Direct I/O alignment of buffers, offsets and lengths (the core's requests are 512-byte
/// aligned; a 4 KiB buffer alignment suits every device).
const ALIGN: usize = 4096;

/// Starts the disk threads; jobs go into the returned sender.
pub fn start(file: DataFile, done: Inbox<Done>) -> Sender<Job> {
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

fn worker(file: DataFile, rx: Arc<Mutex<Receiver<Job>>>, done: Inbox<Done>) {
    let mut buf = AlignedBuf::default();
    loop {
        let job = match rx.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let (io, result) = perform(&file, &mut buf, job);
        if !done(Done { io, result }) {
            return;
        }
    }
}

/// Performs one job on the calling thread (the io_uring backend's rare fallbacks).
pub fn perform_now(file: &DataFile, job: Job) -> Done {
    let mut buf = AlignedBuf::default();
    let (io, result) = perform(file, &mut buf, job);
    Done { io, result }
}

/// A reusable buffer whose usable part starts at an [`ALIGN`]-byte boundary.
#[derive(Default)]
struct AlignedBuf(Vec<u8>);

impl AlignedBuf {
    fn get(&mut self, len: usize) -> &mut [u8] {
        if self.0.len() < len + ALIGN {
            self.0 = vec![0; len + ALIGN];
        }
        let at = self.0.as_ptr().align_offset(ALIGN).min(ALIGN);
        &mut self.0[at..at + len]
    }
}

/// Whether a request can go through `O_DIRECT` as it is.
fn aligned(offset: u64, len: usize) -> bool {
    offset.is_multiple_of(512) && len.is_multiple_of(512) && len > 0
}

fn is_einval(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(nix::errno::Errno::EINVAL as i32)
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc_eio())
}

const fn libc_eio() -> i32 {
    nix::errno::Errno::EIO as i32
}

fn perform(file: &DataFile, buf: &mut AlignedBuf, job: Job) -> (IoId, DiskResult) {
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
            let r = write(file, buf, &data, offset);
            let r = r.and_then(|()| if fua { file.sync() } else { Ok(()) });
            (io, status(r))
        }
        Job::Read { io, offset, len } => match read(file, buf, offset, len as usize) {
            Ok(data) => (io, DiskResult::Data(data)),
            Err(e) => (io, DiskResult::Failed(errno(&e))),
        },
        Job::Trim { io, offset, len } => (io, status(trim(file, buf, offset, len))),
        Job::Flush { io } => (io, status(file.sync())),
    }
}

/// Writes `data` at `offset`: through the aligned buffer with `O_DIRECT`, else buffered.
fn write(file: &DataFile, buf: &mut AlignedBuf, data: &[u8], offset: u64) -> std::io::Result<()> {
    if let Some(d) = file.direct.as_ref().filter(|_| aligned(offset, data.len())) {
        let b = buf.get(data.len());
        b.copy_from_slice(data);
        match d.0.write_all_at(b, offset) {
            Err(e) if is_einval(&e) => {}
            r => return r,
        }
    }
    file.buffered.0.write_all_at(data, offset)
}

fn read(
    file: &DataFile,
    buf: &mut AlignedBuf,
    offset: u64,
    len: usize,
) -> std::io::Result<Vec<u8>> {
    if let Some(d) = file.direct.as_ref().filter(|_| aligned(offset, len)) {
        let b = buf.get(len);
        match d.0.read_exact_at(b, offset) {
            Ok(()) => return Ok(b.to_vec()),
            Err(e) if is_einval(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let mut v = vec![0u8; len];
    file.buffered.0.read_exact_at(&mut v, offset)?;
    Ok(v)
}

/// Deallocates the range when the file system can (sparse files), else writes zeroes, so a
/// trimmed range reads back as zeroes on both nodes either way.
fn trim(file: &DataFile, buf: &mut AlignedBuf, offset: u64, len: u64) -> std::io::Result<()> {
    let f = file.buffered.0.as_ref();
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
        write(file, buf, &zero[..n], offset + done)?;
        done += n as u64;
    }
    Ok(())
}
