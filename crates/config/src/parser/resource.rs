//! The statements inside `resource { }`: hosts, volumes, devices,
//! addresses and the DRBD 9 connection blocks.

use super::block_named;
use super::{Parser, RawConnection, RawHost, RawMesh, RawResource, RawVolume, Result, Setting};
use crate::catalog::{Block, Target};
use crate::error::{ConfigError, Location};
use crate::lexer::{Token, TokenKind};
use crate::model::{Address, AddressFamily, ConnectionHost, Device, MetaDisk};

impl Parser<'_> {
    pub(super) fn resource(&mut self, name: String, at: Location) -> Result<RawResource> {
        const EXPECTED: &[&str] = &[
            "protocol",
            "net",
            "disk",
            "syncer",
            "startup",
            "options",
            "handlers",
            "device",
            "meta-disk",
            "flexible-meta-disk",
            "on",
            "floating",
            "volume",
            "connection",
            "connection-mesh",
            "incon-degr-cmd",
            "stacked-on-top-of",
            "proxy",
            "skip",
        ];
        let opener = format!("resource {name}");
        let opened = self.expect_lbrace(&opener)?;
        let mut res = RawResource {
            name,
            flat: RawVolume::new(None, at.clone()),
            at,
            settings: Vec::new(),
            volumes: Vec::new(),
            hosts: Vec::new(),
            connections: Vec::new(),
            meshes: Vec::new(),
        };
        loop {
            let token = self.next_in_block(&opener, &opened)?;
            let at = self.loc(&token);
            let word = match &token.kind {
                TokenKind::RBrace => return Ok(res),
                TokenKind::Word(w) => w.clone(),
                _ => return Err(self.unknown(&token, &format!("'{opener}'"), EXPECTED)),
            };
            match word.as_str() {
                "protocol" => self.protocol(&mut res.settings, &token)?,
                "disk" if self.next_is_lbrace() => {
                    self.option_block(Block::Disk, &mut res.settings)?
                }
                w if w != "disk" && block_named(w).is_some() => {
                    let block = block_named(w).unwrap_or(Block::Net);
                    self.option_block(block, &mut res.settings)?;
                }
                "device" | "disk" | "meta-disk" | "flexible-meta-disk" => {
                    self.volume_statement(&word, &mut res.flat)?
                }
                "on" => {
                    let mut names = Vec::new();
                    while self.peek().and_then(Token::text).is_some() {
                        names.push(self.value("a host name", "on")?.0);
                    }
                    if names.is_empty() {
                        return Err(self.syntax(
                            self.here(),
                            format!("expected a host name after 'on', found {}", self.found()),
                        ));
                    }
                    let host = self.host(names, None, at)?;
                    res.hosts.push(host);
                }
                "floating" => {
                    let address = self.address_args("floating")?;
                    let host = self.host(Vec::new(), Some(address), at)?;
                    res.hosts.push(host);
                }
                "volume" => {
                    let (n, _) = self.number("a volume number", "volume")?;
                    let volume = self.volume(n, at)?;
                    res.volumes.push(volume);
                }
                "connection" => {
                    let name = if self.next_is_lbrace() {
                        None
                    } else {
                        Some(self.value("a connection name or '{'", "connection")?.0)
                    };
                    let connection = self.connection(name)?;
                    res.connections.push(connection);
                }
                "connection-mesh" => {
                    let mesh = self.mesh()?;
                    res.meshes.push(mesh);
                }
                "incon-degr-cmd" => {
                    let (command, _) = self.value("a quoted command", "incon-degr-cmd")?;
                    self.expect_semi(&format!("incon-degr-cmd \"{command}\""))?;
                    self.warn(
                        at.clone(),
                        "'incon-degr-cmd' is a DRBD 0.7 option, obsolete; it is read as \
                         handler 'pri-on-incon-degr', which shimai does not run"
                            .into(),
                    );
                    res.settings.push(Setting {
                        target: Target::Handlers,
                        key: "pri-on-incon-degr",
                        written: word,
                        value: Some(command),
                        at,
                    });
                }
                "proxy" => {
                    self.warn(
                        at.clone(),
                        "'proxy' (DRBD Proxy settings) is not implemented by shimai: the \
                         section is skipped and shimai connects directly to the peer's address"
                            .into(),
                    );
                    self.skip(at)?;
                }
                "stacked-on-top-of" => {
                    self.warn(
                        at.clone(),
                        format!("'{word}' is not implemented by shimai; the section is ignored"),
                    );
                    self.skip(at)?;
                }
                "skip" => self.skip(at)?,
                _ => return Err(self.unknown(&token, &format!("'{opener}'"), EXPECTED)),
            }
        }
    }

    fn next_is_lbrace(&self) -> bool {
        matches!(self.peek(), Some(t) if t.kind == TokenKind::LBrace)
    }

    /// `device`, `disk VALUE`, `meta-disk`, `flexible-meta-disk` (the
    /// keyword is consumed).
    fn volume_statement(&mut self, word: &str, into: &mut RawVolume) -> Result<()> {
        match word {
            "device" => into.device = Some(self.device()?),
            "disk" => {
                let (disk, _) = self.value("a backing device or 'none'", "disk")?;
                self.expect_semi(&format!("disk {disk}"))?;
                into.disk = Some(if disk == "none" { None } else { Some(disk) });
            }
            _ => into.meta_disk = Some(self.meta_disk(word)?),
        }
        Ok(())
    }

    fn device(&mut self) -> Result<Device> {
        let (first, first_at) = self.value("a device path or 'minor N'", "device")?;
        let device = if first == "minor" {
            let (minor, _) = self.number("a minor number", "device minor")?;
            self.expect_semi(&format!("device minor {minor}"))?;
            Device { path: None, minor }
        } else if matches!(self.peek(), Some(t) if t.is_word("minor")) {
            self.pos += 1;
            let (minor, _) = self.number("a minor number", "minor")?;
            self.expect_semi(&format!("device {first} minor {minor}"))?;
            Device {
                path: Some(first),
                minor,
            }
        } else {
            self.expect_semi(&format!("device {first}"))?;
            let minor = first
                .strip_prefix("/dev/drbd")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| ConfigError::InvalidValue {
                    at: first_at,
                    option: "device".into(),
                    value: first.clone(),
                    reason: "the minor number cannot be read from this name; write \
                             'device PATH minor N;'"
                        .into(),
                })?;
            Device {
                path: Some(first),
                minor,
            }
        };
        Ok(device)
    }

    fn meta_disk(&mut self, word: &str) -> Result<MetaDisk> {
        let quoted = matches!(self.peek(), Some(t) if matches!(t.kind, TokenKind::Quoted(_)));
        let (path, at) = self.value("'internal' or a device", word)?;
        if path == "internal" {
            self.expect_semi(&format!("{word} internal"))?;
            return Ok(MetaDisk::Internal);
        }
        let index_of = |text: &str| -> Option<std::result::Result<u32, ()>> {
            let inner = text.strip_suffix(']')?;
            let (_, n) = inner.rsplit_once('[')?;
            Some(n.parse().map_err(|_| ()))
        };
        let bad_index = |text: &str, at: Location| ConfigError::InvalidValue {
            at,
            option: word.to_string(),
            value: text.to_string(),
            reason: "the index in '[N]' must be a whole number".into(),
        };
        let (path, mut index) = match (quoted, index_of(&path)) {
            (false, Some(Ok(n))) if !path.starts_with('[') => {
                let cut = path.rfind('[').unwrap_or(path.len());
                (path[..cut].to_string(), Some(n))
            }
            (false, Some(Err(()))) => return Err(bad_index(&path, at)),
            _ => (path, None),
        };
        if index.is_none() {
            if let Some(t) = self.peek().cloned() {
                if let (TokenKind::Word(w), true) = (&t.kind, t.text().is_some()) {
                    if w.starts_with('[') {
                        match index_of(w) {
                            Some(Ok(n)) if w.len() > 2 && w.rfind('[') == Some(0) => {
                                index = Some(n);
                                self.pos += 1;
                            }
                            _ => return Err(bad_index(w, self.loc(&t))),
                        }
                    }
                }
            }
        }
        if path == "internal" {
            return Err(ConfigError::InvalidValue {
                at,
                option: word.to_string(),
                value: format!("{path}[{}]", index.unwrap_or_default()),
                reason: "internal metadata has no index; write 'meta-disk internal;'".into(),
            });
        }
        let statement = match index {
            Some(i) => format!("{word} {path} [{i}]"),
            None => format!("{word} {path}"),
        };
        self.expect_semi(&statement)?;
        if word == "flexible-meta-disk" {
            index = None;
        }
        Ok(MetaDisk::External { path, index })
    }

    /// `[FAMILY] IP:PORT` after `address` or `floating`.
    /// `on NAMES { inside ADDR; outside ADDR; ... }` after `proxy` (the
    /// proxy's own options are skipped: shimai runs no proxy).
    fn host_proxy(&mut self) -> Result<crate::model::HostProxy> {
        let (on, on_at) = self.value("'on'", "proxy")?;
        if on != "on" {
            return Err(self.syntax(on_at, format!("expected 'on' after 'proxy', found '{on}'")));
        }
        let mut names = Vec::new();
        while !self.next_is_lbrace() {
            names.push(self.value("a host name or '{'", "proxy on")?.0);
        }
        let opener = format!("proxy on {}", names.join(" "));
        let opened = self.expect_lbrace(&opener)?;
        let (mut inside, mut outside) = (None, None);
        loop {
            let token = self.next_in_block(&opener, &opened)?;
            let at = self.loc(&token);
            match &token.kind {
                TokenKind::RBrace => break,
                TokenKind::Word(w) if w == "inside" || w == "outside" => {
                    let w = w.clone();
                    let a = self.address_args(&w)?;
                    self.expect_semi(&format!("{w} {a}"))?;
                    if w == "inside" {
                        inside = Some(a);
                    } else {
                        outside = Some(a);
                    }
                }
                TokenKind::Word(_) => self.skip(at)?,
                _ => {
                    return Err(self.unknown(
                        &token,
                        &format!("'{opener}'"),
                        &["inside", "outside", "options"],
                    ))
                }
            }
        }
        match (inside, outside) {
            (Some(inside), Some(outside)) => Ok(crate::model::HostProxy {
                names,
                address: None,
                inside,
                outside,
            }),
            _ => Err(self.syntax(
                opened,
                format!("'{opener}' needs both 'inside' and 'outside' addresses"),
            )),
        }
    }

    fn address_args(&mut self, after: &str) -> Result<Address> {
        let (first, at) = self.value("an address IP:PORT", after)?;
        let (family, text, at) = match AddressFamily::from_word(&first) {
            Some(family) => {
                let (text, at) = self.value("an address IP:PORT", &first)?;
                (Some(family), text, at)
            }
            None => (None, first, at),
        };
        parse_address(family, &text).map_err(|reason| ConfigError::InvalidValue {
            at,
            option: after.to_string(),
            value: text.clone(),
            reason,
        })
    }

    fn host(
        &mut self,
        names: Vec<String>,
        floating: Option<Address>,
        at: Location,
    ) -> Result<RawHost> {
        const EXPECTED: &[&str] = &[
            "address",
            "node-id",
            "device",
            "disk",
            "meta-disk",
            "flexible-meta-disk",
            "volume",
            "proxy",
            "skip",
        ];
        let opener = match &floating {
            Some(a) => format!("floating {a}"),
            None => format!("on {}", names.join(" ")),
        };
        let opened = self.expect_lbrace(&opener)?;
        let mut host = RawHost {
            names,
            floating: floating.is_some(),
            address: floating,
            node_id: None,
            flat: RawVolume::new(None, at.clone()),
            volumes: Vec::new(),
            proxy: None,
            at,
        };
        loop {
            let token = self.next_in_block(&opener, &opened)?;
            let at = self.loc(&token);
            let word = match &token.kind {
                TokenKind::RBrace => return Ok(host),
                TokenKind::Word(w) => w.clone(),
                _ => return Err(self.unknown(&token, &format!("'{opener}'"), EXPECTED)),
            };
            match word.as_str() {
                "address" => {
                    let address = self.address_args("address")?;
                    self.expect_semi(&format!("address {address}"))?;
                    host.address = Some(address);
                }
                "node-id" => {
                    let (id, _) = self.number("a node id", "node-id")?;
                    self.expect_semi(&format!("node-id {id}"))?;
                    host.node_id = Some(id);
                }
                "device" | "disk" | "meta-disk" | "flexible-meta-disk" => {
                    self.volume_statement(&word, &mut host.flat)?
                }
                "volume" => {
                    let (n, _) = self.number("a volume number", "volume")?;
                    let volume = self.volume(n, at)?;
                    host.volumes.push(volume);
                }
                "proxy" => {
                    let proxy = self.host_proxy()?;
                    self.warn(
                        at.clone(),
                        format!(
                            "'proxy on' (DRBD Proxy) is not implemented by shimai: shimai connects \
                             directly, listening on the proxy's outside address {}",
                            proxy.outside
                        ),
                    );
                    if let Some((_, first)) = &host.proxy {
                        return Err(ConfigError::Duplicate {
                            at,
                            what: "'proxy on' section".into(),
                            first: first.clone(),
                        });
                    }
                    host.proxy = Some((proxy, at));
                }
                "skip" => self.skip(at)?,
                _ => return Err(self.unknown(&token, &format!("'{opener}'"), EXPECTED)),
            }
        }
    }

    fn volume(&mut self, number: u32, at: Location) -> Result<RawVolume> {
        const EXPECTED: &[&str] = &["device", "disk", "meta-disk", "flexible-meta-disk", "skip"];
        let opener = format!("volume {number}");
        let opened = self.expect_lbrace(&opener)?;
        let mut volume = RawVolume::new(Some(number), at);
        loop {
            let token = self.next_in_block(&opener, &opened)?;
            let word = match &token.kind {
                TokenKind::RBrace => return Ok(volume),
                TokenKind::Word(w) => w.clone(),
                _ => return Err(self.unknown(&token, &format!("'{opener}'"), EXPECTED)),
            };
            match word.as_str() {
                "disk" if self.next_is_lbrace() => {
                    self.option_block(Block::Disk, &mut volume.settings)?
                }
                "device" | "disk" | "meta-disk" | "flexible-meta-disk" => {
                    self.volume_statement(&word, &mut volume)?
                }
                "skip" => self.skip(self.loc(&token))?,
                _ => return Err(self.unknown(&token, &format!("'{opener}'"), EXPECTED)),
            }
        }
    }

    /// `host NAME [address [FAMILY] IP:PORT] [port N];` (keyword consumed).
    fn connection_host(&mut self) -> Result<ConnectionHost> {
        let (name, _) = self.value("a host name", "host")?;
        let mut host = ConnectionHost {
            name,
            address: None,
            port: None,
        };
        let mut statement = format!("host {}", host.name);
        loop {
            match self.peek() {
                Some(t) if t.is_word("address") => {
                    self.pos += 1;
                    let address = self.address_args("address")?;
                    statement = format!("{statement} address {address}");
                    host.address = Some(address);
                }
                Some(t) if t.is_word("port") => {
                    self.pos += 1;
                    let (port, at) = self.number::<u16>("a port number", "port")?;
                    if port == 0 {
                        return Err(ConfigError::InvalidValue {
                            at,
                            option: "port".into(),
                            value: "0".into(),
                            reason: "ports run from 1 to 65535".into(),
                        });
                    }
                    statement = format!("{statement} port {port}");
                    host.port = Some(port);
                }
                Some(t) if t.is_word("via") => {
                    let at = self.loc(t);
                    self.warn(
                        at,
                        "'via proxy' (DRBD Proxy) is not implemented by shimai: shimai connects \
                         directly to the peer's address"
                            .into(),
                    );
                    while self.peek().and_then(Token::text).is_some() {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        self.expect_semi(&statement)?;
        Ok(host)
    }

    fn connection(&mut self, name: Option<String>) -> Result<RawConnection> {
        const EXPECTED: &[&str] = &["host", "path", "net", "disk", "volume", "skip"];
        let opener = match &name {
            Some(n) => format!("connection {n}"),
            None => "connection".into(),
        };
        let opened = self.expect_lbrace(&opener)?;
        let mut conn = RawConnection {
            name,
            hosts: Vec::new(),
            paths: Vec::new(),
            settings: Vec::new(),
            volumes: Vec::new(),
        };
        loop {
            let token = self.next_in_block(&opener, &opened)?;
            let at = self.loc(&token);
            let word = match &token.kind {
                TokenKind::RBrace => return Ok(conn),
                TokenKind::Word(w) => w.clone(),
                _ => return Err(self.unknown(&token, &format!("'{opener}'"), EXPECTED)),
            };
            match word.as_str() {
                "host" => {
                    let host = self.connection_host()?;
                    conn.hosts.push(host);
                }
                "path" => {
                    let opened = self.expect_lbrace("path")?;
                    let mut path = Vec::new();
                    loop {
                        let token = self.next_in_block("path", &opened)?;
                        match &token.kind {
                            TokenKind::RBrace => break,
                            TokenKind::Word(w) if w == "host" => path.push(self.connection_host()?),
                            TokenKind::Word(w) if w == "skip" => self.skip(self.loc(&token))?,
                            _ => return Err(self.unknown(&token, "'path'", &["host", "skip"])),
                        }
                    }
                    conn.paths.push(path);
                }
                "net" => self.option_block(Block::Net, &mut conn.settings)?,
                "disk" => self.option_block(Block::Disk, &mut conn.settings)?,
                "volume" => {
                    let (n, _) = self.number::<u32>("a volume number", "volume")?;
                    let opener = format!("volume {n}");
                    let opened = self.expect_lbrace(&opener)?;
                    let mut settings = Vec::new();
                    loop {
                        let token = self.next_in_block(&opener, &opened)?;
                        match &token.kind {
                            TokenKind::RBrace => break,
                            TokenKind::Word(w) if w == "disk" => {
                                self.option_block(Block::Disk, &mut settings)?
                            }
                            TokenKind::Word(w) if w == "skip" => self.skip(self.loc(&token))?,
                            _ => {
                                return Err(self.unknown(
                                    &token,
                                    &format!("'{opener}' of a connection"),
                                    &["disk", "skip"],
                                ))
                            }
                        }
                    }
                    conn.volumes.push((n, at, settings));
                }
                "skip" => self.skip(at)?,
                _ => return Err(self.unknown(&token, &format!("'{opener}'"), EXPECTED)),
            }
        }
    }

    fn mesh(&mut self) -> Result<RawMesh> {
        const EXPECTED: &[&str] = &["hosts", "net", "skip"];
        let opened = self.expect_lbrace("connection-mesh")?;
        let mut mesh = RawMesh {
            hosts: Vec::new(),
            settings: Vec::new(),
        };
        loop {
            let token = self.next_in_block("connection-mesh", &opened)?;
            match &token.kind {
                TokenKind::RBrace => return Ok(mesh),
                TokenKind::Word(w) if w == "hosts" => {
                    while self.peek().and_then(Token::text).is_some() {
                        mesh.hosts.push(self.value("a host name", "hosts")?.0);
                    }
                    if mesh.hosts.is_empty() {
                        return Err(self.syntax(
                            self.here(),
                            format!("expected host names after 'hosts', found {}", self.found()),
                        ));
                    }
                    self.expect_semi(&format!("hosts {}", mesh.hosts.join(" ")))?;
                }
                TokenKind::Word(w) if w == "net" => {
                    self.option_block(Block::Net, &mut mesh.settings)?
                }
                TokenKind::Word(w) if w == "skip" => self.skip(self.loc(&token))?,
                _ => return Err(self.unknown(&token, "'connection-mesh'", EXPECTED)),
            }
        }
    }
}

/// `IP:PORT` or `[IPV6]:PORT`, checked against the family if one was given.
pub(crate) fn parse_address(
    family: Option<AddressFamily>,
    text: &str,
) -> std::result::Result<Address, String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or("expected '[IPV6]:PORT'".to_string())?;
        (host, port)
    } else {
        text.rsplit_once(':')
            .ok_or("expected IP:PORT (the port is required)".to_string())?
    };
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| format!("'{host}' is not an IP address"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("'{port}' is not a port from 1 to 65535"))?;
    let family = match (family, ip) {
        (None, std::net::IpAddr::V4(_)) => AddressFamily::Ipv4,
        (None, std::net::IpAddr::V6(_)) => AddressFamily::Ipv6,
        (Some(AddressFamily::Ipv4), std::net::IpAddr::V6(_)) => {
            return Err("an IPv6 address needs 'ipv6' before it".into())
        }
        (Some(AddressFamily::Ipv6), std::net::IpAddr::V4(_)) => {
            return Err("'ipv6' given but this is an IPv4 address".into())
        }
        (Some(f), _) => f,
    };
    Ok(Address { family, ip, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        let a = parse_address(None, "10.1.0.1:7789").unwrap();
        assert_eq!((a.family, a.port), (AddressFamily::Ipv4, 7789));
        let a = parse_address(None, "[fd00::1]:7788").unwrap();
        assert_eq!(a.family, AddressFamily::Ipv6);
        let a = parse_address(Some(AddressFamily::Sdp), "[fd00::1]:7788").unwrap();
        assert_eq!(a.to_string(), "sdp [fd00::1]:7788");
        assert!(parse_address(Some(AddressFamily::Ipv6), "10.0.0.1:1").is_err());
        assert!(parse_address(Some(AddressFamily::Ipv4), "[::1]:1").is_err());
        assert!(parse_address(None, "10.0.0.1:0").is_err());
        assert!(parse_address(None, "10.0.0.1:65536").is_err());
        assert!(parse_address(None, "host.example:7788").is_err());
        assert!(parse_address(None, "[fd00::1]").is_err());
    }
}
