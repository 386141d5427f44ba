//! A metadata device: the block I/O under the metadata, and the names its error messages use.

use crate::error::{MetaError, Result};
use crate::io::BlockIo;

/// A metadata device and the names its error messages use.
#[derive(Debug, Clone)]
pub struct MetaDevice<IO> {
    pub io: IO,
    /// Path as the operator knows it (`/dev/vg/r0-md`, a file).
    pub path: String,
    /// Resource name, for "run `shimaiadm create-md r0`".
    pub resource: String,
}

impl<IO: BlockIo> MetaDevice<IO> {
    pub fn new(io: IO, path: impl Into<String>, resource: impl Into<String>) -> Self {
        MetaDevice {
            io,
            path: path.into(),
            resource: resource.into(),
        }
    }

    fn io_err(
        &self,
        op: &'static str,
        offset: u64,
        len: usize,
        source: std::io::Error,
    ) -> MetaError {
        MetaError::Io {
            op,
            device: self.path.clone(),
            offset,
            len,
            source,
        }
    }

    pub(crate) fn size(&self) -> Result<u64> {
        self.io
            .size()
            .map_err(|e| self.io_err("get the size of", 0, 0, e))
    }

    pub(crate) fn read(&self, off: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.io
            .read_at(&mut buf, off)
            .map_err(|e| self.io_err("read", off, len, e))?;
        Ok(buf)
    }

    pub(crate) fn write(&self, off: u64, buf: &[u8]) -> Result<()> {
        self.io
            .write_at(buf, off)
            .map_err(|e| self.io_err("write", off, buf.len(), e))
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.io.flush().map_err(|e| self.io_err("flush", 0, 0, e))
    }
}
