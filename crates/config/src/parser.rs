//! Recursive descent over the tokens, into a lightly structured tree
//! ([`Collected`]) that still records where everything was written.
//!
//! The parser knows how many arguments each statement takes, so a missing
//! `;` is reported right after the statement it should end (`expected ';'
//! after 'protocol C'`), not at whatever word happens to follow. Meaning
//! (inheritance, defaults, value types) is applied later by `resolve`.

use std::path::Path;

use crate::catalog::{self, Block, Support, Target};
use crate::error::{ConfigError, Location, Warning};
use crate::fs::{self, FileSource};
use crate::lexer::{tokenize, Token, TokenKind};
use crate::model::{Address, AddressFamily, ConnectionHost, Device, MetaDisk};
use crate::value::is_bool_word;

/// Includes deeper than this are taken for a loop.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 16;

/// One option as written: where it goes in the model, and where it was.
#[derive(Debug, Clone)]
pub(crate) struct Setting {
    pub target: Target,
    pub key: &'static str,
    /// The word as written (`rate` for `resync-rate`), for messages.
    pub written: String,
    pub value: Option<String>,
    pub at: Location,
}

/// `device`, `disk`, `meta-disk` and per-volume `disk { }` as written at
/// one level (resource, host, or a `volume` block of either).
#[derive(Debug, Clone)]
pub(crate) struct RawVolume {
    /// `None` for statements written directly in a resource or host
    /// (volume 0).
    pub number: Option<u32>,
    pub at: Location,
    pub device: Option<Device>,
    /// `Some(None)` is `disk none`.
    pub disk: Option<Option<String>>,
    pub meta_disk: Option<MetaDisk>,
    pub settings: Vec<Setting>,
}

impl RawVolume {
    fn new(number: Option<u32>, at: Location) -> Self {
        RawVolume {
            number,
            at,
            device: None,
            disk: None,
            meta_disk: None,
            settings: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.device.is_none()
            && self.disk.is_none()
            && self.meta_disk.is_none()
            && self.settings.is_empty()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RawHost {
    pub names: Vec<String>,
    pub floating: bool,
    pub at: Location,
    pub address: Option<Address>,
    pub node_id: Option<u32>,
    pub flat: RawVolume,
    pub volumes: Vec<RawVolume>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawConnection {
    pub name: Option<String>,
    pub hosts: Vec<ConnectionHost>,
    pub paths: Vec<Vec<ConnectionHost>>,
    pub settings: Vec<Setting>,
    pub volumes: Vec<(u32, Location, Vec<Setting>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawMesh {
    pub hosts: Vec<String>,
    pub settings: Vec<Setting>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawResource {
    pub name: String,
    pub at: Location,
    pub settings: Vec<Setting>,
    pub flat: RawVolume,
    pub volumes: Vec<RawVolume>,
    pub hosts: Vec<RawHost>,
    pub connections: Vec<RawConnection>,
    pub meshes: Vec<RawMesh>,
}

/// Everything read from a file and its includes, in order.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub global: Vec<Setting>,
    pub common: Vec<Setting>,
    pub resources: Vec<RawResource>,
    pub warnings: Vec<Warning>,
}

/// Parses one file (and, recursively, what it includes) into `out`.
pub(crate) fn parse_file(
    text: &str,
    file: &Path,
    fs: &dyn FileSource,
    depth: usize,
    out: &mut Collected,
) -> Result<()> {
    let name = file.display().to_string();
    let tokens = tokenize(text, &name)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        file: name,
        dir: file.parent().unwrap_or(Path::new("")).to_path_buf(),
        fs,
        depth,
        out,
    };
    parser.top_level()
}

type Result<T> = std::result::Result<T, ConfigError>;

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    file: String,
    dir: std::path::PathBuf,
    fs: &'a dyn FileSource,
    depth: usize,
    out: &'a mut Collected,
}

impl Parser<'_> {
    // ---- token access -------------------------------------------------

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    fn loc(&self, token: &Token) -> Location {
        Location::new(&self.file, token.line, token.column)
    }

    /// Just after the last token consumed: where a missing `;` belongs.
    fn after_last(&self) -> Location {
        match self.pos.checked_sub(1).and_then(|i| self.tokens.get(i)) {
            Some(t) => Location::new(&self.file, t.end_line, t.end_column),
            None => Location::new(&self.file, 1, 1),
        }
    }

    fn found(&self) -> String {
        self.peek()
            .map(Token::describe)
            .unwrap_or_else(|| "end of file".into())
    }

    /// Where an unexpected token is: at it, or after the last token at the
    /// end of the file.
    fn here(&self) -> Location {
        match self.peek() {
            Some(t) => self.loc(t),
            None => self.after_last(),
        }
    }

    fn syntax(&self, at: Location, message: String) -> ConfigError {
        ConfigError::Syntax { at, message }
    }

    fn warn(&mut self, at: Location, message: String) {
        self.out.warnings.push(Warning { at, message });
    }

    // ---- small grammar pieces -------------------------------------------

    fn expect_semi(&mut self, statement: &str) -> Result<()> {
        match self.peek() {
            Some(t) if t.kind == TokenKind::Semi => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.syntax(
                self.after_last(),
                format!("expected ';' after '{statement}', found {}", self.found()),
            )),
        }
    }

    fn expect_lbrace(&mut self, opener: &str) -> Result<Location> {
        match self.peek() {
            Some(t) if t.kind == TokenKind::LBrace => {
                let at = self.loc(t);
                self.pos += 1;
                Ok(at)
            }
            _ => Err(self.syntax(
                self.here(),
                format!("expected '{{' after '{opener}', found {}", self.found()),
            )),
        }
    }

    /// A word or quoted string.
    fn value(&mut self, what: &str, after: &str) -> Result<(String, Location)> {
        match self.peek() {
            Some(t) if t.text().is_some() => {
                let at = self.loc(t);
                let text = t.text().unwrap_or_default().to_string();
                self.pos += 1;
                Ok((text, at))
            }
            _ => Err(self.syntax(
                self.here(),
                format!("expected {what} after '{after}', found {}", self.found()),
            )),
        }
    }

    fn number<T: std::str::FromStr>(&mut self, what: &str, after: &str) -> Result<(T, Location)> {
        let (text, at) = self.value(what, after)?;
        match text.parse() {
            Ok(n) => Ok((n, at)),
            Err(_) => Err(ConfigError::InvalidValue {
                at,
                option: after.to_string(),
                value: text,
                reason: format!("expected {what}"),
            }),
        }
    }

    /// The next token, which must exist: the end of the file here means a
    /// block was never closed.
    fn next_in_block(&mut self, opener: &str, opened: &Location) -> Result<Token> {
        match self.next() {
            Some(t) => Ok(t),
            None => Err(self.syntax(
                self.after_last(),
                format!("expected '}}' to close '{opener}' opened at {opened}, found end of file"),
            )),
        }
    }

    fn unknown(&self, token: &Token, context: &str, expected: &[&str]) -> ConfigError {
        match &token.kind {
            TokenKind::Word(word) => ConfigError::UnknownKeyword {
                at: self.loc(token),
                word: word.clone(),
                context: context.to_string(),
                expected: expected.join(", "),
            },
            _ => self.syntax(
                self.loc(token),
                format!(
                    "expected a keyword ({}) in {context}, found {}",
                    expected.join(", "),
                    token.describe()
                ),
            ),
        }
    }

    /// After `skip`: drops one statement (up to `;`) or one block (up to
    /// its matching `}`), whatever it contains.
    fn skip(&mut self, skip_at: Location) -> Result<()> {
        let mut depth = 0usize;
        loop {
            let Some(token) = self.next() else {
                return Err(self.syntax(
                    skip_at,
                    "'skip' runs to the end of the file: the skipped block is not closed".into(),
                ));
            };
            match token.kind {
                TokenKind::Semi if depth == 0 => return Ok(()),
                TokenKind::LBrace => depth += 1,
                TokenKind::RBrace if depth == 0 => {
                    return Err(self.syntax(self.loc(&token), "'skip' has nothing to skip".into()))
                }
                TokenKind::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    // ---- top level ----------------------------------------------------------

    fn top_level(&mut self) -> Result<()> {
        const EXPECTED: &[&str] = &["global", "common", "resource", "include", "skip"];
        while let Some(token) = self.next() {
            let at = self.loc(&token);
            let word = match &token.kind {
                TokenKind::Word(w) => w.clone(),
                _ => return Err(self.unknown(&token, "the top level", EXPECTED)),
            };
            match word.as_str() {
                "global" => {
                    let mut settings = Vec::new();
                    self.option_block(Block::Global, &mut settings)?;
                    self.out.global.extend(settings);
                }
                "common" => {
                    let mut settings = Vec::new();
                    self.common(&mut settings)?;
                    self.out.common.extend(settings);
                }
                "resource" => {
                    let (name, _) = self.value("a resource name", "resource")?;
                    let resource = self.resource(name, at)?;
                    self.out.resources.push(resource);
                }
                "include" => {
                    let (pattern, _) = self.value("a quoted file pattern", "include")?;
                    self.expect_semi(&format!("include \"{pattern}\""))?;
                    self.include(&pattern, at)?;
                }
                "skip" => self.skip(at)?,
                w if w.starts_with("require-drbd-module-version-") => {
                    let (version, _) = self.value("a version", w)?;
                    self.expect_semi(&format!("{w} {version}"))?;
                    self.warn(
                        at,
                        format!("'{w}' is ignored: shimai does not use the DRBD kernel module"),
                    );
                }
                _ => return Err(self.unknown(&token, "the top level", EXPECTED)),
            }
        }
        Ok(())
    }

    fn include(&mut self, pattern: &str, at: Location) -> Result<()> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::IncludeDepth {
                at,
                limit: MAX_INCLUDE_DEPTH,
            });
        }
        for path in fs::expand(self.fs, &self.dir, pattern) {
            let text = self
                .fs
                .read_to_string(&path)
                .map_err(|source| ConfigError::Io {
                    path: path.clone(),
                    source,
                })?;
            parse_file(&text, &path, self.fs, self.depth + 1, self.out)?;
        }
        Ok(())
    }

    /// `common { … }`: the resource's option blocks and `protocol`.
    fn common(&mut self, settings: &mut Vec<Setting>) -> Result<()> {
        const EXPECTED: &[&str] = &[
            "protocol", "net", "disk", "syncer", "startup", "options", "handlers", "skip",
        ];
        let opened = self.expect_lbrace("common")?;
        loop {
            let token = self.next_in_block("common", &opened)?;
            if token.kind == TokenKind::RBrace {
                return Ok(());
            }
            let word = token.text().unwrap_or_default().to_string();
            if matches!(token.kind, TokenKind::Word(_)) {
                if let Some(block) = block_named(&word) {
                    self.option_block(block, settings)?;
                    continue;
                }
                match word.as_str() {
                    "protocol" => {
                        self.protocol(settings, &token)?;
                        continue;
                    }
                    "skip" => {
                        self.skip(self.loc(&token))?;
                        continue;
                    }
                    _ => {}
                }
            }
            return Err(self.unknown(&token, "'common'", EXPECTED));
        }
    }

    fn protocol(&mut self, settings: &mut Vec<Setting>, token: &Token) -> Result<()> {
        let (value, _) = self.value("A, B or C", "protocol")?;
        self.expect_semi(&format!("protocol {value}"))?;
        settings.push(Setting {
            target: Target::Net,
            key: "protocol",
            written: "protocol".into(),
            value: Some(value),
            at: self.loc(token),
        });
        Ok(())
    }

    /// `net { … }` and the other option blocks (the keyword is consumed).
    fn option_block(&mut self, block: Block, settings: &mut Vec<Setting>) -> Result<()> {
        let opened = self.expect_lbrace(block.name())?;
        loop {
            let token = self.next_in_block(block.name(), &opened)?;
            let word = match &token.kind {
                TokenKind::RBrace => return Ok(()),
                TokenKind::Word(w) if w == "skip" => {
                    self.skip(self.loc(&token))?;
                    continue;
                }
                TokenKind::Word(w) => w.clone(),
                _ => {
                    return Err(self.unknown(
                        &token,
                        &format!("'{}'", block.name()),
                        &catalog::words(block),
                    ))
                }
            };
            let Some(known) = catalog::lookup(block, &word) else {
                return Err(self.unknown(
                    &token,
                    &format!("'{}'", block.name()),
                    &catalog::words(block),
                ));
            };
            let at = self.loc(&token);
            let value = if let Some(fixed) = known.fixed {
                Some(fixed.to_string())
            } else if known.bare {
                // A bare flag takes an argument only if it reads as a
                // boolean; any other word means the `;` is missing.
                match self.peek().and_then(Token::text) {
                    Some(w) if is_bool_word(w) => {
                        let w = w.to_string();
                        self.pos += 1;
                        Some(w)
                    }
                    _ => None,
                }
            } else {
                Some(self.value("a value", &word)?.0)
            };
            let statement = match (&value, known.fixed) {
                (Some(_), None) => {
                    let shown = self
                        .tokens
                        .get(self.pos - 1)
                        .map(Token::as_written)
                        .unwrap_or_default();
                    format!("{word} {shown}")
                }
                _ => word.clone(),
            };
            self.expect_semi(&statement)?;
            match known.support {
                Support::Typed => {}
                Support::Ignored => self.warn(
                    at.clone(),
                    format!(
                        "'{word}' in '{}' is not implemented by shimai and is ignored",
                        block.name()
                    ),
                ),
                Support::Obsolete(what) => self.warn(
                    at.clone(),
                    format!("'{word}' is {what}, obsolete, and is ignored"),
                ),
            }
            settings.push(Setting {
                target: known.target,
                key: known.key,
                written: word,
                value,
                at,
            });
        }
    }

    // ---- resources -------------------------------------------------------

    fn resource(&mut self, name: String, at: Location) -> Result<RawResource> {
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
                        "'incon-degr-cmd' is a DRBD 0.7 option, obsolete; it is used as \
                         handler 'pri-on-incon-degr'"
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
                "stacked-on-top-of" | "proxy" => {
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
                    self.warn(
                        at.clone(),
                        "'proxy' (DRBD Proxy) is not implemented by shimai; ignored".into(),
                    );
                    self.skip(at)?;
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
                        "'via proxy' (DRBD Proxy) is not implemented by shimai; ignored".into(),
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

fn block_named(word: &str) -> Option<Block> {
    Some(match word {
        "net" => Block::Net,
        "disk" => Block::Disk,
        "syncer" => Block::Syncer,
        "startup" => Block::Startup,
        "options" => Block::Options,
        "handlers" => Block::Handlers,
        _ => return None,
    })
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
