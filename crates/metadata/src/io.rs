//! Positioned block I/O: the only thing the storage layer needs from a
//! device, so that tests can put a simulated disk under it.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, MutexGuard};

/// A device or file read and written at byte offsets.
pub trait BlockIo {
    /// Fills `buf` from `off`; a short device is an error.
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()>;
    /// Writes all of `buf` at `off` (not yet durable).
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()>;
    /// Makes every completed write durable.
    fn flush(&self) -> io::Result<()>;
    /// Size in bytes.
    fn size(&self) -> io::Result<u64>;
}

impl BlockIo for File {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        self.read_exact_at(buf, off)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        self.write_all_at(buf, off)
    }
    fn flush(&self) -> io::Result<()> {
        self.sync_data()
    }
    /// Seeking to the end works for block devices too, whose metadata
    /// length is 0.
    fn size(&self) -> io::Result<u64> {
        let mut f = self;
        f.seek(SeekFrom::End(0))
    }
}

impl<T: BlockIo + ?Sized> BlockIo for &T {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        (**self).read_at(buf, off)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        (**self).write_at(buf, off)
    }
    fn flush(&self) -> io::Result<()> {
        (**self).flush()
    }
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

/// An in-memory disk for tests that can lose unflushed writes and tear a
/// write. Clones share the same disk, so a test keeps a handle while the
/// metadata owns another.
#[derive(Debug, Clone, Default)]
pub struct MemDisk {
    inner: Arc<Mutex<Mem>>,
}

#[derive(Debug, Default)]
struct Mem {
    data: Vec<u8>,
    /// What unflushed writes overwrote, oldest first: a crash puts it back.
    undo: Vec<(usize, Vec<u8>)>,
    tear_next: Option<usize>,
    writes: u64,
    flushes: u64,
}

fn range(len: usize, off: u64, n: usize) -> io::Result<std::ops::Range<usize>> {
    usize::try_from(off)
        .ok()
        .and_then(|start| Some(start..start.checked_add(n)?))
        .filter(|r| r.end <= len)
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "beyond the end of the disk"))
}

impl MemDisk {
    /// A zeroed disk of `size` bytes.
    pub fn new(size: usize) -> MemDisk {
        MemDisk::from_bytes(vec![0; size])
    }

    pub fn from_bytes(data: Vec<u8>) -> MemDisk {
        MemDisk {
            inner: Arc::new(Mutex::new(Mem {
                data,
                ..Mem::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Mem> {
        // A test that panicked while holding the lock left plain bytes behind.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next write stores only its first `keep` bytes and then fails,
    /// as when power is lost in the middle of it.
    pub fn tear_next_write(&self, keep: usize) {
        self.lock().tear_next = Some(keep);
    }

    /// Loses every write not followed by a flush.
    pub fn crash(&self) {
        let mut m = self.lock();
        while let Some((off, old)) = m.undo.pop() {
            m.data[off..off + old.len()].copy_from_slice(&old);
        }
        m.tear_next = None;
    }

    /// A copy of `len` bytes at `off` (tests inspect and damage the disk).
    pub fn bytes(&self, off: usize, len: usize) -> Vec<u8> {
        let m = self.lock();
        m.data
            .get(off..off + len)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    }

    /// Overwrites bytes directly and durably, as another program or bad
    /// media would.
    pub fn poke(&self, off: usize, bytes: &[u8]) {
        let mut m = self.lock();
        if let Some(dst) = m.data.get_mut(off..off + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }

    /// Writes and flushes issued so far.
    pub fn counts(&self) -> (u64, u64) {
        let m = self.lock();
        (m.writes, m.flushes)
    }
}

impl BlockIo for MemDisk {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        let m = self.lock();
        let r = range(m.data.len(), off, buf.len())?;
        buf.copy_from_slice(&m.data[r]);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        let mut m = self.lock();
        let r = range(m.data.len(), off, buf.len())?;
        m.writes += 1;
        let keep = m.tear_next.take().map_or(buf.len(), |k| k.min(buf.len()));
        let old = m.data[r.start..r.start + keep].to_vec();
        m.undo.push((r.start, old));
        m.data[r.start..r.start + keep].copy_from_slice(&buf[..keep]);
        if keep < buf.len() {
            return Err(io::Error::other("simulated power loss during write"));
        }
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        let mut m = self.lock();
        m.undo.clear();
        m.flushes += 1;
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.lock().data.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unflushed_writes_are_lost_on_crash() {
        let d = MemDisk::new(8192);
        d.write_at(&[1; 10], 0).unwrap();
        d.flush().unwrap();
        d.write_at(&[2; 10], 5).unwrap();
        d.write_at(&[3; 2], 6).unwrap();
        d.crash();
        assert_eq!(d.bytes(0, 16), [&[1u8; 10][..], &[0; 6]].concat());
    }

    #[test]
    fn torn_write_keeps_a_prefix() {
        let d = MemDisk::new(100);
        d.tear_next_write(3);
        assert!(d.write_at(&[7; 10], 50).is_err());
        assert_eq!(d.bytes(49, 5), [0, 7, 7, 7, 0]);
        assert!(d.write_at(&[1; 10], 95).is_err(), "past the end");
        let mut buf = [0; 4];
        assert!(d.read_at(&mut buf, u64::MAX).is_err());
    }

    #[test]
    fn files_work_as_devices() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(16384).unwrap();
        BlockIo::write_at(&f, b"shimai", 4096).unwrap();
        BlockIo::flush(&f).unwrap();
        let mut buf = [0; 6];
        BlockIo::read_at(&f, &mut buf, 4096).unwrap();
        assert_eq!(&buf, b"shimai");
        assert_eq!(BlockIo::size(&f).unwrap(), 16384);
        assert!(BlockIo::read_at(&f, &mut buf, 16380).is_err());
    }
}
