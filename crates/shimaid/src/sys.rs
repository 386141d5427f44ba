//! The one system call that needs `unsafe`: starting the detached daemon in a new session.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::process::Command;

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
