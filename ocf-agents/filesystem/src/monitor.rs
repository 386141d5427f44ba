//! The monitor: depth 0 reads the mount table, depth 10 reads the device,
//! depth 20 writes and reads back a status file.
//!
//! Nothing here forks: the reference agent's `dd` calls become direct
//! reads and writes with `O_DIRECT` (bypassing the page cache, so that a
//! dead disk or path is noticed) into a 4 KiB-aligned buffer.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use ocf::{ExitCode, OcfError, Result};

use crate::config::{Config, DeviceSpec};
use crate::mountinfo::Mount;

/// The check levels this agent implements.
pub const LEVELS: &[u32] = &[0, 10, 20];

const BLOCK: usize = 4096;

/// A zeroed, block-aligned buffer of one block, as O_DIRECT requires.
struct Aligned {
    storage: Vec<u8>,
    offset: usize,
}

impl Aligned {
    fn new() -> Aligned {
        let storage = vec![0u8; 2 * BLOCK];
        let offset = storage.as_ptr().align_offset(BLOCK);
        Aligned { storage, offset }
    }
    fn buf(&mut self) -> &mut [u8] {
        &mut self.storage[self.offset..self.offset + BLOCK]
    }
}

fn is_block_device(path: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

/// The device depth 10 reads: the configured block device, or for a tag
/// the device the mount table shows. `None` when there is no block device.
pub fn device_to_read(cfg: &Config, mounted: &Mount) -> Option<String> {
    match &cfg.device {
        DeviceSpec::Block(p) => Some(p.clone()),
        DeviceSpec::Tag { .. } => is_block_device(&mounted.source).then(|| mounted.source.clone()),
        DeviceSpec::Other(_) => None,
    }
}

/// Depth 10: one O_DIRECT read of the first 4 KiB block.
pub fn read_device(dev: &str) -> Result<()> {
    let fail = |e: std::io::Error| OcfError::generic(format!("Failed to read device {dev}: {e}"));
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(dev)
        .map_err(fail)?;
    let mut a = Aligned::new();
    f.read_exact(a.buf()).map_err(fail)
}

/// Depth 20: writes `<instance>\n` padded to one block with O_SYNC (and
/// O_DIRECT on block devices), then checks it is there and reads it back.
pub fn write_status_file(path: &Path, instance: &str, direct: bool) -> Result<()> {
    if let Some(dir) = path.parent() {
        // A failure shows as the write failing below, with its reason.
        let _ = std::fs::create_dir_all(dir);
    }
    let shown = path.display();
    let mut a = Aligned::new();
    let content = format!("{instance}\n");
    let n = content.len().min(BLOCK);
    a.buf()[..n].copy_from_slice(&content.as_bytes()[..n]);
    let open = |flags: i32| {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(flags)
            .open(path)
    };
    let mut f = match open(libc::O_SYNC | if direct { libc::O_DIRECT } else { 0 }) {
        // Some filesystems refuse O_DIRECT; O_SYNC still reaches the storage.
        Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => open(libc::O_SYNC),
        r => r,
    }
    .map_err(|e| OcfError::generic(format!("Failed to write status file {shown}: {e}")))?;
    f.write_all(a.buf())
        .and_then(|()| f.sync_all())
        .map_err(|e| OcfError::generic(format!("Failed to write status file {shown}: {e}")))?;
    drop(f);
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Err(OcfError::generic(format!(
            "Cannot stat the status file {shown}"
        )));
    }
    let mut back = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut back))
        .map_err(|e| OcfError::generic(format!("Cannot read the status file {shown}: {e}")))?;
    if !back.starts_with(content.as_bytes()) {
        return Err(OcfError::generic(format!(
            "The status file {shown} does not read back what was written"
        )));
    }
    Ok(())
}

/// What a monitor found, before the deeper checks.
pub fn status(mounted: Option<&Mount>) -> ExitCode {
    if mounted.is_some() {
        ExitCode::Success
    } else {
        ExitCode::NotRunning
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffer() {
        let mut a = Aligned::new();
        let b = a.buf();
        assert_eq!(b.len(), BLOCK);
        assert_eq!(b.as_ptr() as usize % BLOCK, 0);
    }

    #[test]
    fn status_file_round_trip_and_failure() {
        let dir = std::env::temp_dir().join(format!("ocf-fs-mon-{}", std::process::id()));
        let file = dir.join(".Filesystem_status/fs_node");
        write_status_file(&file, "fs", false).unwrap();
        let content = std::fs::read(&file).unwrap();
        assert_eq!(content.len(), BLOCK);
        assert!(content.starts_with(b"fs\n"));
        // A path below a regular file cannot be created: the error names it.
        let bad = file.join("x");
        let e = write_status_file(&bad, "fs", false).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::ErrGeneric);
        assert!(e.reason().contains("fs_node/x"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_device_is_generic_error() {
        let e = read_device("/nonexistent/dev").unwrap_err();
        assert!(e.reason().contains("/nonexistent/dev"));
    }
}
