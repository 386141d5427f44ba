//! The one error type of this crate, and warnings.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A place in a configuration file: `file:line:column`, 1-based, columns
/// counted in characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// Shared: every token of a file points at the same name.
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
}

impl Location {
    pub fn new(file: impl Into<Arc<str>>, line: u32, column: u32) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Why a configuration could not be used. Every variant that comes from the
/// text names the place; all of them are the administrator's to fix (the
/// file is wrong, or cannot be read), never a bug of the program.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file (the main one or an included one) could not be read or listed.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text does not follow the grammar: a missing `;`, `{` or `}`, an
    /// unterminated string, a section that ends too early.
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// A word that is no drbd.conf keyword where it stands (a typo, or an
    /// option placed in the wrong section).
    #[error(
        "{at}: unknown keyword '{word}' in {context}{}; expected one of: {expected}",
        .hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    UnknownKeyword {
        at: Location,
        word: String,
        context: String,
        expected: String,
        /// "did you mean …?" or "… belongs in 'disk'", when one is likely.
        hint: Option<String>,
    },
    /// A known option with a value it cannot take.
    #[error("{at}: invalid value '{value}' for '{option}': {reason}")]
    InvalidValue {
        at: Location,
        option: String,
        value: String,
        reason: String,
    },
    /// Something that may appear once appears twice (a resource name, a
    /// host name, a volume number).
    #[error("{at}: {what} is defined twice (first at {first})")]
    Duplicate {
        at: Location,
        what: String,
        first: Location,
    },
    /// The statements parse but do not describe a usable resource.
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String },
    /// Includes nest deeper than any sane layout does (usually a file that
    /// includes itself).
    #[error("{at}: includes nest deeper than {limit} levels; does a file include itself?")]
    IncludeDepth { at: Location, limit: usize },
}

impl ConfigError {
    /// The exit code a command-line tool reports for this error: 10, "config
    /// error", as `shimaiadm` documents it.
    pub fn exit_code(&self) -> i32 {
        10
    }

    /// The place the error points at, when it comes from the text.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Syntax { at, .. }
            | ConfigError::UnknownKeyword { at, .. }
            | ConfigError::InvalidValue { at, .. }
            | ConfigError::Duplicate { at, .. }
            | ConfigError::Invalid { at, .. }
            | ConfigError::IncludeDepth { at, .. } => Some(at),
        }
    }
}

/// Something accepted but worth telling the administrator: a DRBD option
/// shimai does not implement, an obsolete 0.7 option, an ignored section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub at: Location,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: warning: {}", self.at, self.message)
    }
}
