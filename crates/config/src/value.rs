//! Option values: how each kind of value is read from its one argument and
//! written back in the canonical form `shimaiadm dump` prints.
//!
//! Every type here obeys one law, checked by the round-trip tests:
//! `parse(render(v)) == v`. Sizes and rates are stored in the unit DRBD uses
//! when no suffix is given, so `rate 200M` and `resync-rate 204800` are the
//! same model.

use std::fmt;

/// A value an option can hold.
pub(crate) trait OptionValue: Sized {
    /// Whether the option may be written without an argument
    /// (`allow-two-primaries;`).
    const BARE: bool = false;
    /// Reads the argument (`None` when the option was written bare).
    fn parse(arg: Option<&str>) -> Result<Self, String>;
    /// The canonical argument; `None` means "not set, print nothing".
    fn render(&self) -> Option<String>;
    /// The value as a number, for range checks; `None` for non-numbers.
    fn number(&self) -> Option<u64> {
        None
    }
}

fn need(arg: Option<&str>) -> Result<&str, String> {
    arg.ok_or_else(|| "a value is required".to_string())
}

impl OptionValue for bool {
    const BARE: bool = true;
    fn parse(arg: Option<&str>) -> Result<Self, String> {
        match arg {
            None | Some("yes") | Some("on") | Some("true") => Ok(true),
            Some("no") | Some("off") | Some("false") => Ok(false),
            Some(_) => Err("expected 'yes' or 'no'".into()),
        }
    }
    fn render(&self) -> Option<String> {
        Some(if *self { "yes" } else { "no" }.into())
    }
}

/// Whether `word` is something a bare boolean option could take as its
/// argument; anything else after such an option means a missing `;`.
pub(crate) fn is_bool_word(word: &str) -> bool {
    matches!(word, "yes" | "no" | "on" | "off" | "true" | "false")
}

impl OptionValue for u32 {
    fn parse(arg: Option<&str>) -> Result<Self, String> {
        let text = need(arg)?;
        text.parse()
            .map_err(|_| format!("expected a whole number from 0 to {}", u32::MAX))
    }
    fn render(&self) -> Option<String> {
        Some(self.to_string())
    }
    fn number(&self) -> Option<u64> {
        Some(u64::from(*self))
    }
}

impl OptionValue for String {
    fn parse(arg: Option<&str>) -> Result<Self, String> {
        need(arg).map(str::to_string)
    }
    fn render(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl OptionValue for Option<String> {
    fn parse(arg: Option<&str>) -> Result<Self, String> {
        need(arg).map(|s| Some(s.to_string()))
    }
    fn render(&self) -> Option<String> {
        self.clone()
    }
}

/// Reads `NUMBER[SUFFIX]` into a count of `unit` bytes. Suffixes are DRBD's:
/// `s` (512-byte sectors), `K`, `M`, `G`, `T` (powers of 1024), either case.
/// The result must be a whole number of units.
pub(crate) fn parse_scaled(text: &str, unit: u64) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let number: u128 = digits
        .parse()
        .map_err(|_| "expected a number with an optional unit (s, K, M, G, T)".to_string())?;
    let scale: u128 = match suffix {
        "" => u128::from(unit),
        "s" | "S" => 512,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        "t" | "T" => 1 << 40,
        other => return Err(format!("unknown unit '{other}' (use s, K, M, G or T)")),
    };
    let bytes = number
        .checked_mul(scale)
        .ok_or_else(|| "number too large".to_string())?;
    let unit = u128::from(unit);
    if bytes % unit != 0 {
        return Err(format!("not a whole number of {unit}-byte units"));
    }
    u64::try_from(bytes / unit).map_err(|_| "number too large".to_string())
}

/// Declares a `u64` newtype stored in a fixed unit, read with DRBD's suffixes.
macro_rules! scaled {
    ($(#[$m:meta])* $name:ident, $unit:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);
        impl OptionValue for $name {
            fn parse(arg: Option<&str>) -> Result<Self, String> {
                parse_scaled(need(arg)?, $unit).map($name)
            }
            fn render(&self) -> Option<String> {
                Some(self.0.to_string())
            }
            fn number(&self) -> Option<u64> {
                Some(self.0)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

scaled!(
    /// A size in bytes (socket buffers); suffixes multiply.
    Bytes,
    1
);
scaled!(
    /// A size in 512-byte sectors (`c-fill-target`, `peer-ack-window`).
    Sectors,
    512
);
/// A rate in KiB/s (`resync-rate`, `c-max-rate`): `10M` is 10240.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KibPerSec(pub u64);

impl OptionValue for KibPerSec {
    fn parse(arg: Option<&str>) -> Result<Self, String> {
        parse_scaled(need(arg)?, 1024).map(KibPerSec)
    }
    /// With the largest exact suffix, as administrators write rates
    /// (`200M`, not `204800`).
    fn render(&self) -> Option<String> {
        let v = self.0;
        Some(match v {
            0 => "0".into(),
            v if v % (1 << 20) == 0 => format!("{}G", v >> 20),
            v if v % (1 << 10) == 0 => format!("{}M", v >> 10),
            v => v.to_string(),
        })
    }
    fn number(&self) -> Option<u64> {
        Some(self.0)
    }
}

/// Declares a plain-integer duration in a fixed unit; DRBD takes no suffix here.
macro_rules! duration {
    ($(#[$m:meta])* $name:ident, $millis:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);
        impl $name {
            /// The same span as a `Duration`.
            pub fn as_duration(self) -> std::time::Duration {
                std::time::Duration::from_millis(u64::from(self.0) * $millis)
            }
        }
        impl OptionValue for $name {
            fn parse(arg: Option<&str>) -> Result<Self, String> {
                u32::parse(arg).map($name)
            }
            fn render(&self) -> Option<String> {
                Some(self.0.to_string())
            }
            fn number(&self) -> Option<u64> {
                Some(u64::from(self.0))
            }
        }
    };
}

duration!(
    /// Seconds (`connect-int`, `ping-int`, `wfc-timeout`).
    Seconds,
    1000
);
duration!(
    /// Tenths of a second (`timeout`, `ping-timeout`, `c-plan-ahead`).
    Deciseconds,
    100
);
duration!(
    /// Milliseconds (`peer-ack-delay`).
    Milliseconds,
    1
);

/// Declares an enum of keywords.
macro_rules! keywords {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }
        impl $name {
            /// The drbd.conf keyword.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
            const WORDS: &'static [&'static str] = &[$($word),+];
            fn from_word(word: &str) -> Option<Self> {
                match word { $($word => Some($name::$variant),)+ _ => None }
            }
        }
        impl OptionValue for $name {
            fn parse(arg: Option<&str>) -> Result<Self, String> {
                let word = need(arg)?;
                $name::from_word(word)
                    .ok_or_else(|| format!("expected one of: {}", $name::WORDS.join(", ")))
            }
            fn render(&self) -> Option<String> {
                Some(self.as_str().to_string())
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keywords!(
    /// When a write counts as complete (drbd.md §1.5).
    Protocol {
        /// Local disk done and the write queued for the peer.
        A = "A",
        /// Local disk done and the peer received it.
        B = "B",
        /// Both disks done.
        C = "C",
    }
);

keywords!(
    /// Split-brain policy when one node is Primary.
    AfterSb1Pri {
        Disconnect = "disconnect",
        Consensus = "consensus",
        DiscardSecondary = "discard-secondary",
        CallPriLostAfterSb = "call-pri-lost-after-sb",
        ViolentlyAs0p = "violently-as0p",
    }
);

keywords!(
    /// Split-brain policy when both nodes are Primary.
    AfterSb2Pri {
        Disconnect = "disconnect",
        ViolentlyAs0p = "violently-as0p",
        CallPriLostAfterSb = "call-pri-lost-after-sb",
    }
);

keywords!(
    /// What to do when the resync direction contradicts the roles.
    RrConflict {
        Disconnect = "disconnect",
        CallPriLost = "call-pri-lost",
        Violently = "violently",
        RetryConnect = "retry-connect",
        AutoDiscard = "auto-discard",
    }
);

keywords!(
    /// Fencing policy (drbd.md §1.11).
    Fencing {
        DontCare = "dont-care",
        ResourceOnly = "resource-only",
        ResourceAndStonith = "resource-and-stonith",
    }
);

keywords!(
    /// Reaction to a lower-level I/O error.
    OnIoError {
        Detach = "detach",
        PassOn = "pass_on",
        CallLocalIoError = "call-local-io-error",
    }
);

keywords!(
    /// Reaction to a congested replication link.
    OnCongestion {
        Block = "block",
        PullAhead = "pull-ahead",
        Disconnect = "disconnect",
    }
);

keywords!(
    /// shimai's own `options { attach …; }`: how the Primary's block
    /// device is made.
    Attach {
        /// The best available of `nbd` and `fuse`.
        Auto = "auto",
        /// The kernel NBD client on `/dev/nbdN`.
        Nbd = "nbd",
        /// A FUSE file.
        Fuse = "fuse",
        /// Only the NBD Unix socket.
        None = "none",
    }
);

keywords!(
    /// `global { usage-count …; }`. shimai never reports usage; the value
    /// is kept so that a dump shows what the file says.
    UsageCount {
        Yes = "yes",
        No = "no",
        Ask = "ask",
    }
);

keywords!(
    /// What a node without quorum does with I/O (DRBD 9).
    OnNoQuorum {
        SuspendIo = "suspend-io",
        IoError = "io-error",
    }
);

/// Split-brain policy when neither node is Primary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AfterSb0Pri {
    Disconnect,
    DiscardYoungerPrimary,
    DiscardOlderPrimary,
    DiscardZeroChanges,
    DiscardLeastChanges,
    DiscardLocal,
    DiscardRemote,
    /// `discard-node-NAME`: the named node's changes are discarded.
    DiscardNode(String),
}

impl OptionValue for AfterSb0Pri {
    fn parse(arg: Option<&str>) -> Result<Self, String> {
        Ok(match need(arg)? {
            "disconnect" => AfterSb0Pri::Disconnect,
            "discard-younger-primary" => AfterSb0Pri::DiscardYoungerPrimary,
            "discard-older-primary" => AfterSb0Pri::DiscardOlderPrimary,
            "discard-zero-changes" => AfterSb0Pri::DiscardZeroChanges,
            "discard-least-changes" => AfterSb0Pri::DiscardLeastChanges,
            "discard-local" => AfterSb0Pri::DiscardLocal,
            "discard-remote" => AfterSb0Pri::DiscardRemote,
            other => match other.strip_prefix("discard-node-") {
                Some(node) if !node.is_empty() => AfterSb0Pri::DiscardNode(node.to_string()),
                _ => {
                    return Err("expected one of: disconnect, discard-younger-primary, \
                         discard-older-primary, discard-zero-changes, discard-least-changes, \
                         discard-local, discard-remote, discard-node-NODENAME"
                        .into())
                }
            },
        })
    }
    fn render(&self) -> Option<String> {
        Some(
            match self {
                AfterSb0Pri::Disconnect => "disconnect",
                AfterSb0Pri::DiscardYoungerPrimary => "discard-younger-primary",
                AfterSb0Pri::DiscardOlderPrimary => "discard-older-primary",
                AfterSb0Pri::DiscardZeroChanges => "discard-zero-changes",
                AfterSb0Pri::DiscardLeastChanges => "discard-least-changes",
                AfterSb0Pri::DiscardLocal => "discard-local",
                AfterSb0Pri::DiscardRemote => "discard-remote",
                AfterSb0Pri::DiscardNode(node) => return Some(format!("discard-node-{node}")),
            }
            .to_string(),
        )
    }
}

/// DRBD 9 quorum: `off`, `majority`, `all` or a node count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quorum {
    Off,
    Majority,
    All,
    Nodes(u32),
}

impl OptionValue for Quorum {
    fn parse(arg: Option<&str>) -> Result<Self, String> {
        match need(arg)? {
            "off" => Ok(Quorum::Off),
            "majority" => Ok(Quorum::Majority),
            "all" => Ok(Quorum::All),
            n => n
                .parse()
                .map(Quorum::Nodes)
                .map_err(|_| "expected off, majority, all or a number of nodes".into()),
        }
    }
    fn render(&self) -> Option<String> {
        Some(match self {
            Quorum::Off => "off".into(),
            Quorum::Majority => "majority".into(),
            Quorum::All => "all".into(),
            Quorum::Nodes(n) => n.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_scale_to_the_option_unit() {
        assert_eq!(KibPerSec::parse(Some("200M")), Ok(KibPerSec(204_800)));
        assert_eq!(KibPerSec::parse(Some("250")), Ok(KibPerSec(250)));
        assert_eq!(KibPerSec::parse(Some("1G")), Ok(KibPerSec(1 << 20)));
        assert_eq!(Sectors::parse(Some("1M")), Ok(Sectors(2048)));
        assert_eq!(Sectors::parse(Some("100")), Ok(Sectors(100)));
        assert_eq!(Bytes::parse(Some("128k")), Ok(Bytes(131_072)));
        assert_eq!(Bytes::parse(Some("2s")), Ok(Bytes(1024)));
    }

    #[test]
    fn bad_numbers_are_errors_not_panics() {
        assert!(KibPerSec::parse(Some("1s")).is_err(), "half a KiB");
        assert!(KibPerSec::parse(Some("10X")).is_err());
        assert!(KibPerSec::parse(Some("M")).is_err());
        assert!(Bytes::parse(Some("99999999999999999999999T")).is_err());
        assert!(u32::parse(Some("-1")).is_err());
        assert!(u32::parse(None).is_err());
    }

    #[test]
    fn booleans_may_be_bare() {
        assert_eq!(bool::parse(None), Ok(true));
        assert_eq!(bool::parse(Some("no")), Ok(false));
        assert!(bool::parse(Some("maybe")).is_err());
    }

    #[test]
    fn keywords_round_trip() {
        for word in ["disconnect", "discard-zero-changes", "discard-node-alice"] {
            let v = AfterSb0Pri::parse(Some(word)).unwrap();
            assert_eq!(v.render().as_deref(), Some(word));
        }
        assert!(AfterSb0Pri::parse(Some("discard-node-")).is_err());
        assert_eq!(Protocol::parse(Some("B")), Ok(Protocol::B));
        assert!(Protocol::parse(Some("D")).unwrap_err().contains("A, B, C"));
        assert_eq!(Quorum::parse(Some("2")), Ok(Quorum::Nodes(2)));
    }

    #[test]
    fn rates_print_with_the_largest_exact_suffix() {
        for (value, text) in [(204_800, "200M"), (250, "250"), (1 << 20, "1G"), (0, "0")] {
            assert_eq!(KibPerSec(value).render().as_deref(), Some(text));
            assert_eq!(KibPerSec::parse(Some(text)), Ok(KibPerSec(value)));
        }
    }

    #[test]
    fn durations_convert() {
        assert_eq!(
            Deciseconds(60).as_duration(),
            std::time::Duration::from_secs(6)
        );
        assert_eq!(
            Seconds(10).as_duration(),
            std::time::Duration::from_secs(10)
        );
    }
}
