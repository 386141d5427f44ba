//! The typed model a parsed configuration becomes.
//!
//! Everything here is resolved: defaults filled in, `common` merged into
//! each resource, resource-level `device`/`disk`/`meta-disk` and `volume`
//! blocks merged into each host, 8.3 `syncer` options moved to their 8.4
//! places. Code that runs a resource reads one `Resource` and one `Host`
//! and never has to know which DRBD version the file was written for.

use std::fmt;
use std::net::IpAddr;

use crate::sections::{DiskOptions, Global, Handlers, NetOptions, ResourceOptions, StartupOptions};
use crate::value::Protocol;

/// A whole configuration: `global`, `common` and the resources, with
/// included files merged in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub global: Global,
    /// What resources inherit (already merged into each resource; kept so
    /// that a dump can show it).
    pub common: Common,
    /// In file order.
    pub resources: Vec<Resource>,
}

impl Config {
    /// The resource called `name`.
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name == name)
    }
}

/// The `common { }` section: defaults for every resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Common {
    pub net: NetOptions,
    pub disk: DiskOptions,
    pub startup: StartupOptions,
    pub options: ResourceOptions,
    pub handlers: Handlers,
}

/// One replicated resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub name: String,
    /// Includes `protocol`, wherever the file wrote it.
    pub net: NetOptions,
    /// Includes 8.3 `syncer` options (`rate` is `resync_rate`) and
    /// `fencing`.
    pub disk: DiskOptions,
    pub startup: StartupOptions,
    pub options: ResourceOptions,
    pub handlers: Handlers,
    /// `on` and `floating` blocks, in file order.
    pub hosts: Vec<Host>,
    /// DRBD 9 `connection` blocks.
    pub connections: Vec<Connection>,
    /// DRBD 9 `connection-mesh` blocks.
    pub meshes: Vec<ConnectionMesh>,
}

impl Resource {
    /// The replication protocol.
    pub fn protocol(&self) -> Protocol {
        self.net.protocol
    }

    /// The `on` block naming `node` (shimai's identity is `uname -n`).
    pub fn host_for(&self, node: &str) -> Option<&Host> {
        self.hosts
            .iter()
            .find(|h| !h.floating && h.names.iter().any(|n| n == node))
    }

    /// The `floating` block whose address is `ip`, for files that match
    /// nodes by address.
    pub fn host_for_address(&self, ip: IpAddr) -> Option<&Host> {
        self.hosts
            .iter()
            .find(|h| h.floating && h.address.as_ref().is_some_and(|a| a.ip == ip))
    }

    /// The other node of the pair when `node` is one of exactly two hosts.
    /// `None` when `node` is not in this resource or the resource does not
    /// have exactly two hosts (shimai replicates between two nodes).
    pub fn peer_of(&self, node: &str) -> Option<&Host> {
        if self.hosts.len() != 2 {
            return None;
        }
        let me = self
            .hosts
            .iter()
            .position(|h| h.names.iter().any(|n| n == node))?;
        self.hosts.get(1 - me)
    }
}

/// An `on HOST…` or `floating ADDR` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Host names (several in `on a b { }`); empty for `floating`.
    pub names: Vec<String>,
    /// Matched by local address rather than by name.
    pub floating: bool,
    /// DRBD 9 `node-id`.
    pub node_id: Option<u32>,
    /// Where this node listens; may be absent in DRBD 9 files that give
    /// addresses in `connection` blocks.
    pub address: Option<Address>,
    /// At least one; ordered by number. Files without `volume` blocks have
    /// volume 0.
    pub volumes: Vec<Volume>,
    /// `proxy on NAME { inside A; outside B; }` (DRBD Proxy). shimai runs no
    /// proxy: it replicates directly, so [`Host::address`] is then the
    /// proxy's `outside` address and the written one is kept here.
    pub proxy: Option<HostProxy>,
}

/// A host's DRBD Proxy section, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostProxy {
    /// The names after `proxy on`.
    pub names: Vec<String>,
    /// The host's `address` as written (DRBD's end of the proxy hop).
    pub address: Option<Address>,
    /// Where the proxy meets DRBD.
    pub inside: Address,
    /// Where the proxy meets the peer's proxy: shimai's replication address.
    pub outside: Address,
}

impl Host {
    /// The first host name (what a dump and messages show).
    pub fn name(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or("")
    }

    /// Volume `number`.
    pub fn volume(&self, number: u32) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.number == number)
    }
}

/// One replicated device of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub number: u32,
    pub device: Device,
    /// Backing device; `None` for `disk none` (diskless).
    pub disk: Option<String>,
    pub meta_disk: MetaDisk,
    /// The resource's disk options with this volume's own `disk { }`
    /// settings applied.
    pub disk_options: DiskOptions,
}

/// `device /dev/drbdN`, `device minor N` or `device PATH minor N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// As written; `None` for `device minor N`.
    pub path: Option<String>,
    pub minor: u32,
}

impl Device {
    /// The device node: the written path, or `/dev/drbdN`.
    pub fn path(&self) -> String {
        self.path
            .clone()
            .unwrap_or_else(|| format!("/dev/drbd{}", self.minor))
    }
}

/// Where the metadata lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaDisk {
    /// At the end of the backing device (the default).
    Internal,
    /// On another device: with an index, the fixed-size 128 MiB slot
    /// `index` (`meta-disk DEV [N]`); without, sized to the data
    /// (`flexible-meta-disk DEV`, or `meta-disk DEV` in 8.4+).
    External { path: String, index: Option<u32> },
}

/// The address families drbd.conf names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    Ipv4,
    Ipv6,
    /// Dolphin SuperSockets (kept for the dump; shimai speaks TCP).
    Ssocks,
    /// Sockets Direct Protocol (kept for the dump; shimai speaks TCP).
    Sdp,
}

impl AddressFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressFamily::Ipv4 => "ipv4",
            AddressFamily::Ipv6 => "ipv6",
            AddressFamily::Ssocks => "ssocks",
            AddressFamily::Sdp => "sdp",
        }
    }

    pub(crate) fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "ipv4" => AddressFamily::Ipv4,
            "ipv6" => AddressFamily::Ipv6,
            "ssocks" => AddressFamily::Ssocks,
            "sdp" => AddressFamily::Sdp,
            _ => return None,
        })
    }
}

/// `address [FAMILY] IP:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    pub family: AddressFamily,
    pub ip: IpAddr,
    pub port: u16,
}

impl Address {
    /// The socket address to bind or connect to.
    pub fn socket_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.ip, self.port)
    }
}

/// The drbd.conf form: `10.0.0.1:7788`, `ipv6 [fd00::1]:7788`.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain_v4 = self.family == AddressFamily::Ipv4;
        if !plain_v4 {
            write!(f, "{} ", self.family.as_str())?;
        }
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// A DRBD 9 `connection` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub name: Option<String>,
    /// `host NAME [address …] [port N];` lines.
    pub hosts: Vec<ConnectionHost>,
    /// `path { host …; host …; }` blocks.
    pub paths: Vec<Vec<ConnectionHost>>,
    /// The resource's net options with this connection's applied.
    pub net: NetOptions,
    /// Peer-device options (the resource's disk options with this
    /// connection's applied).
    pub disk: DiskOptions,
    /// Per-volume peer-device options.
    pub volumes: Vec<PeerVolume>,
}

/// `volume N { disk { … } }` inside a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerVolume {
    pub number: u32,
    pub disk: DiskOptions,
}

/// `host NAME [address [FAMILY] IP:PORT] [port N]` in a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionHost {
    pub name: String,
    pub address: Option<Address>,
    pub port: Option<u16>,
}

/// A DRBD 9 `connection-mesh` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionMesh {
    pub hosts: Vec<String>,
    pub net: NetOptions,
    /// Only `fencing` (written in the mesh's `net`) can differ from the
    /// resource here.
    pub disk: DiskOptions,
}
