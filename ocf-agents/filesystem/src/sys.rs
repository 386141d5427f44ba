//! The one system call the agent needs that has no safe wrapper.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::AsRawFd;

/// `BLKFLSBUF` (`_IO(0x12, 97)`), not exported by the libc crate.
const BLKFLSBUF: libc::c_ulong = 0x1261;

/// Flushes and drops the buffer cache of a block device, what
/// `blockdev --flushbufs` does.
pub fn flush_buffers(dev: &File) -> std::io::Result<()> {
    // SAFETY: BLKFLSBUF takes no argument and only reads the fd, which
    // `dev` keeps open for the duration of the call.
    let rc = unsafe { libc::ioctl(dev.as_raw_fd(), BLKFLSBUF as _, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
