//! The system calls that need `unsafe`: starting the detached daemon in a new session, and
//! writing a file's pages back without flushing the device's cache.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Writes every dirty page of `f` to the device and waits for it, without asking the device
/// to flush its write cache (`sync_file_range(2)` over the whole file): what DRBD does with
/// `disk-flushes no` / `md-flushes no`, for storage whose cache survives a power loss.
pub fn write_back(f: &File) -> std::io::Result<()> {
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: the descriptor is valid for the call (borrowed from `f`), the other arguments
    // are plain integers, and the call touches no memory of ours.
    let r = unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Makes the child the leader of a new session, without a controlling terminal, so the
/// terminal's hangup and job-control signals never reach the daemon.
pub fn new_session(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec in the child and only calls setsid(2),
    // which is async-signal-safe; it allocates nothing and takes no locks.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
}
