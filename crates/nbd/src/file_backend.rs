//! A [`Backend`] over a regular file: the reference against which the
//! protocol code is tested with real clients, and the example server's
//! storage.
//!
//! All connections share one file descriptor, so they share the page cache
//! and one `fdatasync` makes every completed write durable: that is what
//! makes `NBD_FLAG_CAN_MULTI_CONN` true for it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use nix::fcntl::{fallocate, FallocateFlags};

use crate::server::Backend;

/// A file served as an export.
#[derive(Debug)]
pub struct FileBackend {
    file: File,
    size: u64,
}

impl FileBackend {
    /// Opens `path` (a regular file or block device) read-write, or
    /// read-only when `read_only`.
    pub fn open(path: &Path, read_only: bool) -> io::Result<FileBackend> {
        let file = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Self::from_file(file)
    }

    /// Serves an already open file.
    pub fn from_file(mut file: File) -> io::Result<FileBackend> {
        // Seeking to the end measures block devices too, where the
        // metadata length is 0.
        let size = io::Seek::seek(&mut file, io::SeekFrom::End(0))?;
        Ok(FileBackend { file, size })
    }

    fn punch(&self, mode: FallocateFlags, offset: u64, length: u32) -> io::Result<()> {
        let (Ok(off), len) = (i64::try_from(offset), i64::from(length)) else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        fallocate(self.file.as_raw_fd(), mode, off, len).map_err(io::Error::from)
    }

    fn write_zero_buffers(&self, offset: u64, length: u32) -> io::Result<()> {
        const CHUNK: usize = 1 << 20;
        let zeroes = vec![0u8; CHUNK.min(length as usize)];
        let mut done = 0u64;
        while done < u64::from(length) {
            let n = (u64::from(length) - done).min(zeroes.len() as u64) as usize;
            self.file.write_all_at(&zeroes[..n], offset + done)?;
            done += n as u64;
        }
        Ok(())
    }
}

fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(nix::errno::Errno::from_raw),
        Some(nix::errno::Errno::EOPNOTSUPP | nix::errno::Errno::ENOSYS | nix::errno::Errno::ENODEV)
    )
}

impl Backend for FileBackend {
    fn size(&self) -> u64 {
        self.size
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn write(&self, offset: u64, data: &[u8], fua: bool) -> io::Result<()> {
        self.file.write_all_at(data, offset)?;
        if fua {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn trim(&self, offset: u64, length: u32, fua: bool) -> io::Result<()> {
        let mode = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
        match self.punch(mode, offset, length) {
            // Trim is advisory: a filesystem without hole punching keeps the data.
            Err(e) if unsupported(&e) => return Ok(()),
            r => r?,
        }
        if fua {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn write_zeroes(&self, offset: u64, length: u32, no_hole: bool, fua: bool) -> io::Result<()> {
        let mode = if no_hole {
            FallocateFlags::FALLOC_FL_ZERO_RANGE | FallocateFlags::FALLOC_FL_KEEP_SIZE
        } else {
            FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE
        };
        match self.punch(mode, offset, length) {
            Err(e) if unsupported(&e) => self.write_zero_buffers(offset, length)?,
            r => r?,
        }
        if fua {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(len: usize) -> (tempfile::NamedTempFile, FileBackend) {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), vec![0xaa; len]).unwrap();
        let b = FileBackend::open(f.path(), false).unwrap();
        (f, b)
    }

    #[test]
    fn read_write_zero_trim() {
        let (_f, b) = backend(1 << 16);
        assert_eq!(b.size(), 1 << 16);
        b.write(100, b"hello", true).unwrap();
        let mut buf = [0u8; 7];
        b.read(99, &mut buf).unwrap();
        assert_eq!(&buf, b"\xaahello\xaa");
        for no_hole in [false, true] {
            b.write(4096, &[7u8; 8192], false).unwrap();
            b.write_zeroes(4096, 8192, no_hole, false).unwrap();
            let mut z = vec![1u8; 8192];
            b.read(4096, &mut z).unwrap();
            assert!(z.iter().all(|&x| x == 0), "no_hole={no_hole}");
        }
        b.trim(0, 4096, true).unwrap();
        b.flush().unwrap();
        let mut tail = [0u8; 2];
        b.read((1 << 16) - 2, &mut tail).unwrap();
        assert_eq!(tail, [0xaa, 0xaa]);
    }

    #[test]
    fn read_only_refuses_writes_and_names_the_file() {
        let (f, _) = backend(4096);
        let b = FileBackend::open(f.path(), true).unwrap();
        let e = b.write(0, b"x", false).unwrap_err();
        // EBADF: the connection refuses writes to a read-only export before
        // they get here, so reaching the file is an internal fault.
        assert_eq!(crate::NbdErrno::from_io(&e), crate::NbdErrno::Io);
        let missing = FileBackend::open(Path::new("/nonexistent/disk.img"), false).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/disk.img"),
            "{missing}"
        );
    }
}
