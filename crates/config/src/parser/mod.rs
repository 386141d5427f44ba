//! Recursive descent over the tokens, into a lightly structured tree
//! ([`Collected`]) that still records where everything was written.
//!
//! The parser knows how many arguments each statement takes, so a missing
//! `;` is reported right after the statement it should end (`expected ';'
//! after 'protocol C'`), not at whatever word happens to follow. Meaning
//! (inheritance, defaults, value types) is applied later by `resolve`.

use std::path::Path;

use crate::catalog::{self, Block, Effect, Target};
use crate::error::{ConfigError, Location, Warning};
use crate::fs::{self, FileSource};
use crate::lexer::{tokenize, Token, TokenKind};
use crate::model::{Address, ConnectionHost, Device, MetaDisk};
use crate::value::is_bool_word;

mod resource;

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
    /// `proxy on NAMES { inside A; outside B; }` and where it was written.
    pub proxy: Option<(crate::model::HostProxy, Location)>,
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
        file: name.into(),
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
    file: std::sync::Arc<str>,
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
        Location::new(self.file.clone(), token.line, token.column)
    }

    /// Just after the last token consumed: where a missing `;` belongs.
    fn after_last(&self) -> Location {
        match self.pos.checked_sub(1).and_then(|i| self.tokens.get(i)) {
            Some(t) => Location::new(self.file.clone(), t.end_line, t.end_column),
            None => Location::new(self.file.clone(), 1, 1),
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
                hint: catalog::hint(word, context, expected),
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
            match catalog::effect(known.target, known.key, known.support) {
                Effect::Acted(_) => {}
                Effect::Instead(instead) => self.warn(
                    at.clone(),
                    format!(
                        "'{word}' in '{}' is not implemented by shimai: {instead}",
                        block.name()
                    ),
                ),
                Effect::NotYet(meanwhile) => self.warn(
                    at.clone(),
                    format!(
                        "'{word}' in '{}' is not implemented by this shimai yet (WAN work): {meanwhile}",
                        block.name()
                    ),
                ),
                Effect::Obsolete(what) => self.warn(
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
