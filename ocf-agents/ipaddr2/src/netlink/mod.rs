//! Talking rtnetlink: the agent reads links, addresses and routes and
//! changes addresses over one `NETLINK_ROUTE` socket instead of forking `ip`.
//!
//! [`codec`] is the pure message layer; this module only moves bytes.
#![forbid(unsafe_code)]

pub mod codec;

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    bind, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

use codec::{AddrMsg, Body, LinkMsg, RouteMsg};

use crate::error::Error;

/// What the kernel says about the namespace, read in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub links: Vec<LinkMsg>,
    pub addrs: Vec<AddrMsg>,
    pub routes: Vec<RouteMsg>,
}

impl Snapshot {
    pub fn link_by_name(&self, name: &str) -> Option<&LinkMsg> {
        self.links.iter().find(|l| l.name == name)
    }
    pub fn link_name(&self, index: u32) -> Option<&str> {
        self.links
            .iter()
            .find(|l| l.index == index)
            .map(|l| l.name.as_str())
    }
}

/// An open rtnetlink socket.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

impl Rtnl {
    pub fn open() -> Result<Rtnl, Error> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| Error::Netlink(format!("cannot open a NETLINK_ROUTE socket: {e}")))?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))
            .map_err(|e| Error::Netlink(format!("cannot bind the netlink socket: {e}")))?;
        // A kernel that never answers must not hang the agent past its operation timeout.
        let _ = setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(5, 0));
        Ok(Rtnl { fd, seq: 0 })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, msg: &[u8]) -> Result<(), Error> {
        send(self.fd.as_raw_fd(), msg, MsgFlags::empty())
            .map_err(|e| Error::Netlink(format!("netlink send failed: {e}")))?;
        Ok(())
    }

    /// Receives messages with `seq` until `Done` (dumps) or the acknowledgement.
    fn collect(&self, seq: u32, dump: bool) -> Result<Vec<Body>, Error> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut out = Vec::new();
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())
                .map_err(|e| Error::Netlink(format!("netlink receive failed: {e}")))?;
            let msgs = codec::decode(&buf[..n])
                .map_err(|e| Error::Netlink(format!("malformed reply from the kernel: {e}")))?;
            for m in msgs {
                if m.seq != seq {
                    continue;
                }
                match m.body {
                    Body::Done => return Ok(out),
                    Body::Error(0) if !dump => return Ok(out),
                    Body::Error(errno) => return Err(Error::Kernel(errno)),
                    other => out.push(other),
                }
            }
        }
    }

    fn dump(&mut self, kind: u16, family: u8) -> Result<Vec<Body>, Error> {
        let seq = self.next_seq();
        self.send(&codec::encode_dump(kind, family, seq))?;
        self.collect(seq, true)
    }

    /// Sends a request and waits for its acknowledgement.
    pub fn request(&mut self, build: impl FnOnce(u32) -> Vec<u8>) -> Result<(), Error> {
        let seq = self.next_seq();
        self.send(&build(seq))?;
        self.collect(seq, false).map(|_| ())
    }

    pub fn links(&mut self) -> Result<Vec<LinkMsg>, Error> {
        Ok(self
            .dump(codec::RTM_GETLINK, codec::AF_UNSPEC)?
            .into_iter()
            .filter_map(|b| match b {
                Body::Link(l) => Some(l),
                _ => None,
            })
            .collect())
    }

    pub fn addrs(&mut self, family: u8) -> Result<Vec<AddrMsg>, Error> {
        Ok(self
            .dump(codec::RTM_GETADDR, family)?
            .into_iter()
            .filter_map(|b| match b {
                Body::Addr(a) if a.family == family => Some(a),
                _ => None,
            })
            .collect())
    }

    pub fn routes(&mut self, family: u8) -> Result<Vec<RouteMsg>, Error> {
        Ok(self
            .dump(codec::RTM_GETROUTE, family)?
            .into_iter()
            .filter_map(|b| match b {
                Body::Route(r) if r.family == family => Some(r),
                _ => None,
            })
            .collect())
    }

    /// Links, addresses and (when `with_routes`) routes of one family.
    pub fn snapshot(&mut self, family: u8, with_routes: bool) -> Result<Snapshot, Error> {
        Ok(Snapshot {
            links: self.links()?,
            addrs: self.addrs(family)?,
            routes: if with_routes {
                self.routes(family)?
            } else {
                Vec::new()
            },
        })
    }

    /// The current flags of one address, if it is present.
    pub fn addr_flags(&mut self, index: u32, ip: &IpAddr) -> Result<Option<u32>, Error> {
        Ok(self
            .addrs(codec::family_of(ip))?
            .iter()
            .find(|a| a.index == index && a.addr.as_ref() == Some(ip))
            .map(|a| a.flags))
    }
}
