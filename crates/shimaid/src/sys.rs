//! The system calls that need `unsafe`: starting the detached daemon in a new session,
//! writing a file's pages back without flushing the device's cache, and the protections of a
//! daemon that serves its own host's block device.
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

/// `PR_SET_IO_FLUSHER` (linux/prctl.h, Linux 5.6).
const PR_SET_IO_FLUSHER: libc::c_int = 57;
/// `MCL_ONFAULT` (asm-generic/mman-common.h, Linux 4.4): lock pages as they are touched,
/// without populating every mapping (thread stacks) up front.
const MCL_ONFAULT: libc::c_int = 4;

/// Guards a daemon that serves its own host's block device against the deadlocks of memory
/// pressure: the kernel must not make it wait for the very writeback it is to perform
/// (`PR_SET_IO_FLUSHER`: its allocations do not start I/O, as the kernel does for loop and
/// nbd's own threads), its pages are not swapped out (`mlockall`, on fault), and the OOM killer
/// picks it last (`oom_score_adj` -900, not -1000, so a leak in it cannot take the whole host
/// down instead). Call before any thread is started: they inherit it. Returns what could not
/// be done, for the log.
pub fn protect_from_memory_pressure() -> Vec<String> {
    let mut missing = Vec::new();
    // SAFETY: prctl with integer arguments only; no memory of ours is passed.
    if unsafe { libc::prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) } != 0 {
        missing.push(format!(
            "PR_SET_IO_FLUSHER: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: mlockall takes flags only.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | MCL_ONFAULT) } != 0 {
        missing.push(format!("mlockall: {}", std::io::Error::last_os_error()));
    }
    if let Err(e) = std::fs::write("/proc/self/oom_score_adj", "-900") {
        missing.push(format!("oom_score_adj: {e}"));
    }
    missing
}
