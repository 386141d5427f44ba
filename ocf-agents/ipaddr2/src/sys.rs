//! The only unsafe code of the agent: packet sockets and the background fork.
//!
//! * `AF_PACKET` needs a `sockaddr_ll`, which nix cannot build, to bind the
//!   socket to one interface and to learn a received frame's packet type.
//! * The background announcer is a `fork(2)` without `exec`: the agent is
//!   single-threaded when it forks (no thread is ever started before), so the
//!   child may run ordinary Rust code; it ends with `_exit(2)` so that no
//!   parent-owned state is flushed twice.
//!
//! Everything else in the crate is `forbid(unsafe_code)`.
#![allow(unsafe_code)]

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::Error;

/// `PACKET_OUTGOING`: a frame this host sent, seen on the socket.
pub const PACKET_OUTGOING: u8 = 4;

/// A raw packet socket bound to one interface and one EtherType.
pub struct PacketSocket {
    fd: OwnedFd,
}

fn sockaddr_ll(ifindex: u32, proto: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = proto.to_be();
    sa.sll_ifindex = i32::try_from(ifindex).unwrap_or(0);
    sa
}

impl PacketSocket {
    pub fn open(ifindex: u32, proto: u16) -> Result<PacketSocket, Error> {
        let io = |what: &str| {
            Error::Packet(format!(
                "{what} packet socket on interface #{ifindex}: {}",
                std::io::Error::last_os_error()
            ))
        };
        // SAFETY: plain syscall; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(proto.to_be()),
            )
        };
        if raw < 0 {
            return Err(io("cannot open a"));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sa = sockaddr_ll(ifindex, proto);
        // SAFETY: `sa` is a valid sockaddr_ll and the length matches it.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::addr_of!(sa).cast::<libc::sockaddr>(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io("cannot bind the"));
        }
        Ok(PacketSocket { fd })
    }

    /// Sends one complete Ethernet frame on the bound interface.
    pub fn send(&self, frame: &[u8]) -> Result<(), Error> {
        // SAFETY: the buffer is valid for `frame.len()` bytes.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(Error::Packet(format!(
                "cannot send a frame: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(())
    }

    /// Receives one frame, waiting at most `timeout`. Returns the frame length
    /// and its packet type, or `None` on timeout.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<Option<(usize, u8)>, Error> {
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(None),
            Err(e) => return Err(Error::Packet(format!("poll on packet socket: {e}"))),
        }
        let mut sa = sockaddr_ll(0, 0);
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: buffer and address pointers are valid for the lengths given.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                std::ptr::addr_of_mut!(sa).cast::<libc::sockaddr>(),
                &mut len,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(Error::Packet(format!("cannot receive a frame: {e}")));
        }
        Ok(Some((n.unsigned_abs(), sa.sll_pkttype)))
    }
}

/// Runs `child` in a forked process whose stdio is `/dev/null` (so that the
/// caller's pipes close when the agent exits) and returns the child's pid.
/// The child never returns from this function.
pub fn fork_background(child: impl FnOnce()) -> Result<i32, Error> {
    // SAFETY: the agent has a single thread when it forks (see module docs),
    // and the child ends with `_exit`.
    match unsafe { libc::fork() } {
        -1 => Err(Error::Packet(format!(
            "cannot fork the background announcer: {}",
            std::io::Error::last_os_error()
        ))),
        0 => {
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                for target in 0..3 {
                    // SAFETY: dup2 onto the standard descriptors of this process.
                    unsafe { libc::dup2(null.as_raw_fd(), target) };
                }
            }
            child();
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(0) }
        }
        pid => Ok(pid),
    }
}
