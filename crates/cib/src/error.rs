//! The one error type of the crate.
//!
//! Every variant that comes from an input file carries a [`Place`], so the
//! message starts with `file:line:` the way compilers and editors expect, then
//! says what is wrong and what to change. Nothing here is ever a panic: the
//! parsers return these for any byte sequence.

use std::fmt;

/// Where in an input file something was found (1-based line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file name as the user gave it (or the default path).
    pub file: String,
    /// 1-based line number of the (first physical line of the) logical line.
    pub line: usize,
}

impl Place {
    /// A place in `file` at 1-based `line`.
    pub fn new(file: &str, line: usize) -> Place {
        Place {
            file: file.to_string(),
            line,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Everything that can stop a conversion.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A haresources token (or ha.cf/authkeys field) that cannot be read at
    /// all: bad characters, empty `::` fields, a line with only a node name.
    /// The user's input is at fault.
    #[error("{place}: {what}; {fix}")]
    Syntax {
        /// Where.
        place: Place,
        /// What is wrong, quoting the offending text.
        what: String,
        /// What to change.
        fix: String,
    },
    /// An IP address, netmask, prefix or broadcast that does not parse.
    #[error("{place}: invalid address in `{token}`: {why}")]
    Address {
        /// Where.
        place: Place,
        /// The whole resource token.
        token: String,
        /// The bad field, why it was refused and the expected shape.
        why: String,
    },
    /// A legacy resource without the arguments its agent requires, or with
    /// more than its wrapper accepted.
    #[error("{place}: `{token}` {problem}; the form is {usage}")]
    Arguments {
        /// Where.
        place: Place,
        /// The whole resource token.
        token: String,
        /// "needs 2 arguments, got 1" and the like.
        problem: String,
        /// The legacy usage line, e.g. `Filesystem::DEVICE::DIR[::FSTYPE[::OPTIONS]]`.
        usage: String,
    },
    /// Two haresources lines start with the same resource. Heartbeat uses
    /// the first resource as the group's key, so it refused this too.
    #[error("{place}: resource `{key}` already starts the group of line {first_line}; each line's first resource names its group, so make them differ or merge the lines")]
    DuplicateGroupKey {
        /// The second occurrence.
        place: Place,
        /// The repeated first resource.
        key: String,
        /// Line of the first occurrence.
        first_line: usize,
    },
    /// `drbddisk` without a resource name, and no DRBD resource is known.
    #[error("{place}: `drbddisk` without a resource means every DRBD resource, but none is known; write drbddisk::NAME or pass --drbd-resource NAME")]
    NoDrbdResources {
        /// Where.
        place: Place,
    },
    /// A bad ha.cf directive value (a time, a port, a boolean...).
    #[error("{place}: {what}; {fix}")]
    HaCf {
        /// Where.
        place: Place,
        /// What is wrong.
        what: String,
        /// What to change.
        fix: String,
    },
    /// Nothing to convert: no resources, or no nodes at all.
    #[error("{file}: {what}; {fix}")]
    Empty {
        /// The file that should have had content.
        file: String,
        /// What is missing.
        what: String,
        /// What to do.
        fix: String,
    },
    /// An old cib.xml that is not well-formed or not a CIB.
    #[error("{file}: {what}; {fix}")]
    OldCib {
        /// The file.
        file: String,
        /// What is wrong (with the byte offset when known).
        what: String,
        /// What to do.
        fix: String,
    },
}

impl Error {
    /// The process exit status for this error: `EX_DATAERR` (65) for bad
    /// input content, as sysexits.h defines it.
    pub fn exit_code(&self) -> i32 {
        65
    }

    pub(crate) fn syntax(place: Place, what: impl Into<String>, fix: impl Into<String>) -> Error {
        Error::Syntax {
            place,
            what: what.into(),
            fix: fix.into(),
        }
    }
}
