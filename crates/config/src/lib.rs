//! The drbd.conf grammar and the typed model shimai runs from.
//!
//! shimai replaces DRBD without asking administrators to rewrite their
//! configuration: `/etc/drbd.conf` files written for DRBD 0.7, 8.3, 8.4 or
//! 9 must load as they are, runbooks keep working with the command name
//! changed, and `shimaiadm dump` prints what shimai understood. This crate
//! is that promise:
//!
//! * **Parsing** ([`parse_str`], [`load`]): the whole grammar (`global`,
//!   `common`, `resource`, `on`/`floating`, `volume`, `connection`,
//!   `connection-mesh`, `include "glob"`, `skip`, 0.7 and 8.3 spellings),
//!   with errors that name `file:line:column` and what was expected there.
//! * **A resolved model** ([`Config`], [`Resource`], [`Host`], [`Volume`]):
//!   DRBD's defaults filled in, `common` merged into resources, resource-level
//!   `device`/`disk`/`meta-disk` merged into hosts, 8.3 `syncer` options and
//!   resource-level `protocol` moved to their 8.4 places. Options shimai
//!   implements are typed fields; options DRBD has but shimai does not act
//!   on are kept as [`RawOption`]s and reported as [`Warning`]s; words DRBD
//!   does not know are errors.
//! * **A canonical printer** ([`Config::dump`]) whose output parses back to
//!   the same model.
//!
//! Nothing here panics on any input; the parser is fuzzed
//! (`scripts/fuzz config_parse`).
//!
//! ```
//! use shimai_config::{parse_str, value::Protocol};
//!
//! let text = r#"
//!     resource r0 {
//!       protocol B;
//!       syncer { rate 10M; }   # 8.3 style: becomes disk.resync_rate
//!       on alice { device /dev/drbd0; disk /dev/sda7; address 10.0.0.1:7789; meta-disk internal; }
//!       on bob   { device /dev/drbd0; disk /dev/sda7; address 10.0.0.2:7789; meta-disk internal; }
//!     }
//! "#;
//! let parsed = parse_str(text, "/etc/shimai/shimai.conf").unwrap();
//! let r0 = parsed.config.resource("r0").unwrap();
//! assert_eq!(r0.protocol(), Protocol::B);
//! assert_eq!(r0.disk.resync_rate.0, 10 * 1024); // KiB/s
//! assert_eq!(r0.net.ko_count, 7);               // DRBD's default
//! let peer = r0.peer_of("alice").unwrap();
//! assert_eq!(peer.address.as_ref().unwrap().to_string(), "10.0.0.2:7789");
//!
//! // What `shimaiadm dump` prints parses back to the same model.
//! let again = parse_str(&parsed.config.dump(), "dump").unwrap();
//! assert_eq!(again.config, parsed.config);
//! ```
//!
//! Errors map to the command-line exit code 10 ([`ConfigError::exit_code`]):
//!
//! ```
//! let err = shimai_config::parse_str("resource r0 {\n  protocol C\n}", "shimai.conf").unwrap_err();
//! assert_eq!(err.to_string(), "shimai.conf:2:13: expected ';' after 'protocol C', found '}'");
//! assert_eq!(err.exit_code(), 10);
//! ```

#![forbid(unsafe_code)]

mod catalog;
mod error;
mod fs;
mod lexer;
mod model;
mod parser;
mod printer;
mod resolve;
mod sections;
pub mod value;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use catalog::Effect;
pub use error::{ConfigError, Location, Warning};
pub use fs::{FileSource, MemFs, RealFs};
pub use model::{
    Address, AddressFamily, Common, Config, Connection, ConnectionHost, ConnectionMesh, Device,
    Host, HostProxy, MetaDisk, PeerVolume, Resource, Volume,
};
pub use sections::{
    DiskOptions, Global, Handlers, NetOptions, RawOption, ResourceOptions, StartupOptions,
};

/// A parsed configuration and what the administrator should be told about
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub config: Config,
    /// In file order: options shimai ignores, obsolete options, ignored
    /// sections. Print them (they name `file:line:column`).
    pub warnings: Vec<Warning>,
}

/// Parses `text` as the file `file_name`; relative `include`s are read from
/// the real file system, relative to `file_name`'s directory.
pub fn parse_str(text: &str, file_name: &str) -> Result<Parsed, ConfigError> {
    parse_str_with(text, file_name, &RealFs)
}

/// [`parse_str`] with includes read through `fs` (tests use [`MemFs`]).
pub fn parse_str_with(
    text: &str,
    file_name: &str,
    fs: &dyn FileSource,
) -> Result<Parsed, ConfigError> {
    let mut collected = parser::Collected::default();
    parser::parse_file(text, Path::new(file_name), fs, 0, &mut collected)?;
    let config = resolve::resolve(&collected)?;
    let mut warnings = collected.warnings.clone();
    warnings.extend(resolve::conditional_warnings(&collected, &config));
    Ok(Parsed { config, warnings })
}

/// Every option word drbd.conf blocks accept (`global`, `net`, `disk`,
/// `syncer`, `startup`, `options`, `handlers`), with what shimai does with
/// it: acted on, or warned about once per place it is written (what shimai
/// does instead, the WAN work not implemented yet, or obsolete). The
/// parser's warnings and the man page shimai.conf(5) read this one
/// table.
pub fn option_table() -> Vec<(&'static str, &'static str, Effect)> {
    catalog::all_words()
        .into_iter()
        .map(|(block, word, _, effect)| (block.name(), word, effect))
        .collect()
}

/// Reads and parses the file at `path` (and what it includes).
pub fn load(path: impl AsRef<Path>) -> Result<Parsed, ConfigError> {
    load_with(path, &RealFs)
}

/// [`load`] through `fs`.
pub fn load_with(path: impl AsRef<Path>, fs: &dyn FileSource) -> Result<Parsed, ConfigError> {
    let path = path.as_ref();
    let text = fs.read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str_with(&text, &path.display().to_string(), fs)
}

impl Config {
    /// The canonical text (`shimaiadm dump`): 8.4 layout, each level showing
    /// what differs from what it inherits. Parses back to `self`.
    pub fn dump(&self) -> String {
        printer::dump(self)
    }
}
