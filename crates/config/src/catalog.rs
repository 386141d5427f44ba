//! Which words each option block accepts, and where each one lands.
//!
//! drbd.conf moved options between sections across versions (8.3's
//! `syncer` was split into `disk` and `net`, `fencing` moved from `disk` to
//! `net` in 9). The model keeps one place per option (8.4's); this table
//! maps every accepted spelling to that place, and lists the options DRBD
//! has that shimai keeps without acting on them.

use crate::sections::{
    DiskOptions, Global, Handlers, NetOptions, ResourceOptions, Section, StartupOptions,
};

/// The model section an option ends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Global,
    Net,
    Disk,
    Startup,
    Options,
    Handlers,
}

/// An option block as written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    Global,
    Net,
    Disk,
    Syncer,
    Startup,
    Options,
    Handlers,
}

impl Block {
    pub fn name(self) -> &'static str {
        match self {
            Block::Global => "global",
            Block::Net => "net",
            Block::Disk => "disk",
            Block::Syncer => "syncer",
            Block::Startup => "startup",
            Block::Options => "options",
            Block::Handlers => "handlers",
        }
    }

    /// The section most of this block's options land in.
    fn home(self) -> Target {
        match self {
            Block::Global => Target::Global,
            Block::Net => Target::Net,
            Block::Disk | Block::Syncer => Target::Disk,
            Block::Startup => Target::Startup,
            Block::Options => Target::Options,
            Block::Handlers => Target::Handlers,
        }
    }
}

/// How shimai treats an accepted option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Support {
    /// A typed field of the model.
    Typed,
    /// Kept as a raw option, with a warning that shimai ignores it.
    Ignored,
    /// From an old DRBD version; kept raw, with a warning saying so.
    Obsolete(&'static str),
}

/// What the parser needs to know about one accepted word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Known {
    pub target: Target,
    /// The model's keyword (differs from the written word for aliases).
    pub key: &'static str,
    /// May be written without an argument.
    pub bare: bool,
    /// The argument an alias implies (`no-disk-flushes` is `disk-flushes
    /// no`); such words take no argument.
    pub fixed: Option<&'static str>,
    pub support: Support,
}

fn typed_bare(target: Target, key: &str) -> Option<bool> {
    match target {
        Target::Global => Global::bare(key),
        Target::Net => NetOptions::bare(key),
        Target::Disk => DiskOptions::bare(key),
        Target::Startup => StartupOptions::bare(key),
        Target::Options => ResourceOptions::bare(key),
        Target::Handlers => Handlers::bare(key),
    }
}

fn typed_keys(target: Target) -> &'static [&'static str] {
    match target {
        Target::Global => Global::keys(),
        Target::Net => NetOptions::keys(),
        Target::Disk => DiskOptions::keys(),
        Target::Startup => StartupOptions::keys(),
        Target::Options => ResourceOptions::keys(),
        Target::Handlers => Handlers::keys(),
    }
}

/// Written word, model section, model key, implied value.
type Alias = (&'static str, Target, &'static str, Option<&'static str>);

const ALIASES: &[(Block, Alias)] = &[
    (Block::Net, ("fencing", Target::Disk, "fencing", None)),
    (
        Block::Net,
        ("no-tcp-cork", Target::Net, "tcp-cork", Some("no")),
    ),
    (
        Block::Disk,
        ("no-disk-barrier", Target::Disk, "disk-barrier", Some("no")),
    ),
    (
        Block::Disk,
        ("no-disk-flushes", Target::Disk, "disk-flushes", Some("no")),
    ),
    (
        Block::Disk,
        ("no-disk-drain", Target::Disk, "disk-drain", Some("no")),
    ),
    (
        Block::Disk,
        ("no-md-flushes", Target::Disk, "md-flushes", Some("no")),
    ),
    (Block::Syncer, ("rate", Target::Disk, "resync-rate", None)),
    (Block::Syncer, ("after", Target::Disk, "resync-after", None)),
    (
        Block::Syncer,
        ("al-extents", Target::Disk, "al-extents", None),
    ),
    (
        Block::Syncer,
        ("c-plan-ahead", Target::Disk, "c-plan-ahead", None),
    ),
    (
        Block::Syncer,
        ("c-fill-target", Target::Disk, "c-fill-target", None),
    ),
    (
        Block::Syncer,
        ("c-delay-target", Target::Disk, "c-delay-target", None),
    ),
    (
        Block::Syncer,
        ("c-max-rate", Target::Disk, "c-max-rate", None),
    ),
    (
        Block::Syncer,
        ("c-min-rate", Target::Disk, "c-min-rate", None),
    ),
    (Block::Syncer, ("use-rle", Target::Net, "use-rle", None)),
    (
        Block::Syncer,
        ("verify-alg", Target::Net, "verify-alg", None),
    ),
    (Block::Syncer, ("csums-alg", Target::Net, "csums-alg", None)),
];

/// Written word, bare allowed, support.
type Untyped = (&'static str, bool, Support);

const OBSOLETE_07: Support = Support::Obsolete("a DRBD 0.7 option");
const OBSOLETE_83: Support = Support::Obsolete("a DRBD 8.3 option");

const UNTYPED: &[(Block, Untyped)] = &[
    (
        Block::Global,
        ("udev-always-use-vnr", true, Support::Ignored),
    ),
    (
        Block::Global,
        ("cmd-timeout-short", false, Support::Ignored),
    ),
    (
        Block::Global,
        ("cmd-timeout-medium", false, Support::Ignored),
    ),
    (Block::Global, ("cmd-timeout-long", false, Support::Ignored)),
    (Block::Global, ("disable-io-hints", true, OBSOLETE_07)),
    (Block::Net, ("data-integrity-alg", false, Support::Ignored)),
    (Block::Net, ("unplug-watermark", false, Support::Ignored)),
    (
        Block::Net,
        ("csums-after-crash-only", true, Support::Ignored),
    ),
    (Block::Net, ("discard-my-data", true, Support::Ignored)),
    (Block::Net, ("transport", false, Support::Ignored)),
    (Block::Net, ("tls", true, Support::Ignored)),
    (Block::Net, ("load-balance-paths", true, Support::Ignored)),
    (Block::Net, ("allow-remote-read", true, Support::Ignored)),
    (
        Block::Net,
        ("socket-check-timeout", false, Support::Ignored),
    ),
    (Block::Net, ("on-disconnect", false, OBSOLETE_07)),
    (Block::Disk, ("size", false, Support::Ignored)),
    (Block::Disk, ("read-balancing", false, Support::Ignored)),
    (
        Block::Disk,
        ("discard-zeroes-if-aligned", true, Support::Ignored),
    ),
    (
        Block::Disk,
        ("rs-discard-granularity", false, Support::Ignored),
    ),
    (Block::Disk, ("disable-write-same", true, Support::Ignored)),
    (Block::Disk, ("max-bio-bvecs", false, Support::Ignored)),
    (Block::Disk, ("bitmap", true, Support::Ignored)),
    (Block::Disk, ("block-size", false, Support::Ignored)),
    (Block::Disk, ("use-bmbv", true, OBSOLETE_83)),
    (Block::Syncer, ("group", false, OBSOLETE_07)),
    (Block::Syncer, ("cpu-mask", false, Support::Ignored)),
    (
        Block::Syncer,
        ("on-no-data-accessible", false, Support::Ignored),
    ),
    (Block::Syncer, ("delay-probe-volume", false, OBSOLETE_83)),
    (Block::Syncer, ("delay-probe-interval", false, OBSOLETE_83)),
    (Block::Syncer, ("throttle-threshold", false, OBSOLETE_83)),
    (Block::Syncer, ("hold-off-threshold", false, OBSOLETE_83)),
    (Block::Startup, ("wait-after-sb", true, Support::Ignored)),
    (Block::Startup, ("stacked-timeouts", true, Support::Ignored)),
    (
        Block::Startup,
        ("become-primary-on", false, Support::Ignored),
    ),
    (Block::Options, ("cpu-mask", false, Support::Ignored)),
    (
        Block::Options,
        ("on-no-data-accessible", false, Support::Ignored),
    ),
    (Block::Options, ("max-io-depth", false, Support::Ignored)),
    (
        Block::Options,
        ("quorum-minimum-redundancy", false, Support::Ignored),
    ),
    (
        Block::Options,
        ("on-suspended-primary-outdated", false, Support::Ignored),
    ),
    (
        Block::Options,
        ("twopc-retry-timeout", false, Support::Ignored),
    ),
    (Block::Options, ("nr-requests", false, Support::Ignored)),
];

/// What shimai does with an option it accepts: the one table the parser's
/// warnings, the man page shimai.conf(5) and docs/shimaiadm.md (`shimai_config::option_table`)
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// shimai acts on it (the note says how, when it differs from DRBD).
    Acted(&'static str),
    /// Not acted on: one warning per place it is written, saying what
    /// shimai does instead.
    Instead(&'static str),
    /// Owned by the WAN work and not implemented by this shimai yet: one
    /// warning per place it is written, saying what happens meanwhile.
    NotYet(&'static str),
    /// From an old DRBD version: one warning saying so.
    Obsolete(&'static str),
}

const NO_EFFECT: &str = "it has no effect in shimai";

/// Model section, model key, effect. Every typed option is listed; an
/// untyped (kept raw) option not listed gets [`NO_EFFECT`].
const EFFECTS: &[(Target, &str, Effect)] = &[
    // global
    (Target::Global, "usage-count", Effect::Acted("shimai never reports usage anywhere, whatever the value")),
    (Target::Global, "minor-count", Effect::Instead("shimai has no limit on the number of devices; ignored")),
    (Target::Global, "dialog-refresh", Effect::Instead("wait-connect and wait-sync print no progress lines; ignored")),
    (Target::Global, "disable-ip-verification", Effect::Instead("shimaid does not check the address against local interfaces; binding to it fails if it is not local")),
    // net
    (Target::Net, "protocol", Effect::Acted("")),
    (Target::Net, "timeout", Effect::Acted("")),
    (Target::Net, "connect-int", Effect::Acted("")),
    (Target::Net, "ping-int", Effect::Acted("")),
    (Target::Net, "ping-timeout", Effect::Acted("")),
    (Target::Net, "ko-count", Effect::Acted("")),
    (Target::Net, "max-buffers", Effect::Acted("")),
    (Target::Net, "max-epoch-size", Effect::Acted("")),
    (Target::Net, "sndbuf-size", Effect::Acted("")),
    (Target::Net, "rcvbuf-size", Effect::Instead("the kernel autotunes the TCP receive buffer; ignored")),
    (Target::Net, "after-sb-0pri", Effect::Acted("discard-node-NAME (DRBD 9) disconnects, as 8.4 would")),
    (Target::Net, "after-sb-1pri", Effect::Acted("")),
    (Target::Net, "after-sb-2pri", Effect::Acted("")),
    (Target::Net, "always-asbp", Effect::Acted("")),
    (Target::Net, "rr-conflict", Effect::Acted("DRBD 9's retry-connect and auto-discard disconnect, as 8.4's default")),
    (Target::Net, "allow-two-primaries", Effect::Acted("")),
    (Target::Net, "cram-hmac-alg", Effect::Instead("peers authenticate with HMAC-SHA256 over the shared-secret whatever digest is named")),
    (Target::Net, "shared-secret", Effect::Acted("")),
    (Target::Net, "verify-alg", Effect::Acted("online verify uses it (crc32c, sha1, sha256, md5); unset, verify is refused")),
    (Target::Net, "csums-alg", Effect::NotYet("a resync sends every out-of-sync block whole")),
    (Target::Net, "data-integrity-alg", Effect::NotYet("data packets are protected by TCP's checksum only")),
    (Target::Net, "on-congestion", Effect::NotYet("writes wait for the link (on-congestion block)")),
    (Target::Net, "congestion-fill", Effect::NotYet("writes wait for the link (on-congestion block)")),
    (Target::Net, "congestion-extents", Effect::NotYet("writes wait for the link (on-congestion block)")),
    (Target::Net, "use-rle", Effect::Instead("the bitmap exchange has shimai's own encoding; ignored")),
    (Target::Net, "tcp-cork", Effect::Instead("shimaid does not set TCP_CORK; ignored")),
    (Target::Net, "discard-my-data", Effect::Instead("use `shimaiadm connect --discard-my-data RES` (or `shimaiadm -- --discard-my-data connect RES`); ignored in the file")),
    // disk (with the 8.3 syncer options)
    (Target::Disk, "on-io-error", Effect::Acted("")),
    (Target::Disk, "fencing", Effect::Acted("")),
    (Target::Disk, "al-extents", Effect::Acted("")),
    (Target::Disk, "al-updates", Effect::Instead("the activity log is always written; ignored")),
    (Target::Disk, "disk-barrier", Effect::Instead("write ordering uses flushes (write-ordering flush); ignored")),
    (Target::Disk, "disk-flushes", Effect::Acted("no: the device's write cache is trusted, never flushed (data is written with O_DIRECT)")),
    (Target::Disk, "disk-drain", Effect::Instead("write ordering uses flushes; ignored")),
    (Target::Disk, "md-flushes", Effect::Acted("no: metadata pages are written back (sync_file_range) without flushing the device's cache")),
    (Target::Disk, "resync-rate", Effect::Acted("")),
    (Target::Disk, "resync-after", Effect::Instead("resources resync independently, at the same time; the named resource must exist")),
    (Target::Disk, "c-plan-ahead", Effect::Acted("")),
    (Target::Disk, "c-fill-target", Effect::Acted("")),
    (Target::Disk, "c-delay-target", Effect::Acted("")),
    (Target::Disk, "c-max-rate", Effect::Acted("")),
    (Target::Disk, "c-min-rate", Effect::Acted("")),
    (Target::Disk, "disk-timeout", Effect::Instead("a hung backing device is not detected by a timer; ignored")),
    (Target::Disk, "size", Effect::Instead("the whole backing device (less the metadata) is used; ignored")),
    // startup
    (Target::Startup, "wfc-timeout", Effect::Acted("used by shimaiadm wait-connect / wait-sync")),
    (Target::Startup, "degr-wfc-timeout", Effect::Acted("used by shimaiadm wait-connect / wait-sync")),
    (Target::Startup, "outdated-wfc-timeout", Effect::Acted("used by shimaiadm wait-connect / wait-sync")),
    (Target::Startup, "become-primary-on", Effect::Instead("promote with `shimaiadm primary` or the OCF agent; ignored")),
    // options
    (Target::Options, "attach", Effect::Acted("")),
    (Target::Options, "auto-promote", Effect::Instead("shimai does not promote on open; promote with `shimaiadm primary`")),
    (Target::Options, "auto-promote-timeout", Effect::Instead("shimai does not promote on open; ignored")),
    (Target::Options, "quorum", Effect::Instead("a two-node pair has no quorum; I/O continues without the peer (use fencing to protect it)")),
    (Target::Options, "on-no-quorum", Effect::Instead("a two-node pair has no quorum, so I/O is never suspended or failed for it")),
    (Target::Options, "twopc-timeout", Effect::Instead("a two-node pair uses no two-phase commit; ignored")),
    (Target::Options, "peer-ack-window", Effect::Instead("writes are acknowledged one by one; ignored")),
    (Target::Options, "peer-ack-delay", Effect::Instead("writes are acknowledged one by one; ignored")),
    // handlers
    (Target::Handlers, "pri-on-incon-degr", Effect::Instead("the handler is not run; shimaid logs the state instead")),
    (Target::Handlers, "pri-lost-after-sb", Effect::Acted("")),
    (Target::Handlers, "pri-lost", Effect::Acted("")),
    (Target::Handlers, "fence-peer", Effect::Acted("")),
    (Target::Handlers, "unfence-peer", Effect::Acted("run when the peer's disk becomes UpToDate after a resync, with fencing configured")),
    (Target::Handlers, "local-io-error", Effect::Acted("")),
    (Target::Handlers, "initial-split-brain", Effect::Acted("")),
    (Target::Handlers, "split-brain", Effect::Acted("")),
    (Target::Handlers, "before-resync-target", Effect::Instead("the handler is not run; take a snapshot of the SyncTarget by hand before connecting")),
    (Target::Handlers, "after-resync-target", Effect::Acted("run when this disk becomes UpToDate after a resync, with fencing configured")),
    (Target::Handlers, "before-resync-source", Effect::Instead("the handler is not run")),
    (Target::Handlers, "out-of-sync", Effect::Acted("")),
    (Target::Handlers, "quorum-lost", Effect::Instead("a two-node pair has no quorum; the handler is never run")),
    (Target::Handlers, "disconnected", Effect::Instead("the handler is not run; follow `shimaiadm events2` instead")),
];

/// What shimai does with the option `(target, key)` as the catalogue
/// accepts it (`support` from [`lookup`]).
pub(crate) fn effect(target: Target, key: &str, support: Support) -> Effect {
    if let Support::Obsolete(what) = support {
        return Effect::Obsolete(what);
    }
    EFFECTS
        .iter()
        .find(|(t, k, _)| *t == target && *k == key)
        .map(|(_, _, e)| *e)
        .unwrap_or(Effect::Instead(NO_EFFECT))
}

/// Every accepted word of every block with its effect, in block order.
pub(crate) fn all_words() -> Vec<(Block, &'static str, Known, Effect)> {
    let mut out = Vec::new();
    for block in [
        Block::Global,
        Block::Net,
        Block::Disk,
        Block::Syncer,
        Block::Startup,
        Block::Options,
        Block::Handlers,
    ] {
        for word in words(block) {
            if let Some(k) = lookup(block, word) {
                out.push((block, word, k, effect(k.target, k.key, k.support)));
            }
        }
    }
    out
}

/// Where the untyped options of a block are kept (syncer's go to the
/// section that now holds their kind of option).
fn untyped_target(block: Block, word: &str) -> Target {
    match (block, word) {
        (Block::Syncer, "cpu-mask" | "on-no-data-accessible") => Target::Options,
        _ => block.home(),
    }
}

/// What `word` means inside `block`, or `None` when it is not accepted
/// there.
pub(crate) fn lookup(block: Block, word: &str) -> Option<Known> {
    if let Some((_, (_, target, key, fixed))) = ALIASES
        .iter()
        .find(|(b, (w, ..))| *b == block && *w == word)
    {
        return Some(Known {
            target: *target,
            key,
            bare: fixed.is_some() || typed_bare(*target, key).unwrap_or(false),
            fixed: *fixed,
            support: Support::Typed,
        });
    }
    if block != Block::Syncer {
        if let Some(bare) = typed_bare(block.home(), word) {
            let key = typed_keys(block.home()).iter().find(|k| **k == word)?;
            return Some(Known {
                target: block.home(),
                key,
                bare,
                fixed: None,
                support: Support::Typed,
            });
        }
    }
    UNTYPED
        .iter()
        .find(|(b, (w, ..))| *b == block && *w == word)
        .map(|(_, (key, bare, support))| Known {
            target: untyped_target(block, key),
            key,
            bare: *bare,
            fixed: None,
            support: *support,
        })
}

/// Every word `block` accepts, for "expected one of" messages.
pub(crate) fn words(block: Block) -> Vec<&'static str> {
    let mut words: Vec<&'static str> = if block == Block::Syncer {
        Vec::new()
    } else {
        typed_keys(block.home()).to_vec()
    };
    words.extend(
        ALIASES
            .iter()
            .filter(|(b, _)| *b == block)
            .map(|(_, (w, ..))| *w),
    );
    words.extend(
        UNTYPED
            .iter()
            .filter(|(b, _)| *b == block)
            .map(|(_, (w, ..))| *w),
    );
    words
}

/// The block a dump writes the model option `(target, key)` in: its home
/// block when that accepts it, else `syncer` (DRBD 0.7/8.3-only options).
pub(crate) fn print_block(target: Target, key: &str) -> Option<Block> {
    let home = match target {
        Target::Global => Block::Global,
        Target::Net => Block::Net,
        Target::Disk => Block::Disk,
        Target::Startup => Block::Startup,
        Target::Options => Block::Options,
        Target::Handlers => Block::Handlers,
    };
    [home, Block::Syncer, Block::Net]
        .into_iter()
        .find(|block| matches!(lookup(*block, key), Some(k) if k.target == target && k.key == key && k.fixed.is_none()))
}

/// Edit distance, for "did you mean" hints (words are short).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(current).min(row[j])
            };
            previous = current;
        }
    }
    row[b.len()]
}

/// A hint for an unknown `word` met in `context` where `expected` words
/// were allowed: the option block it belongs in, or a near spelling.
pub(crate) fn hint(word: &str, context: &str, expected: &[&str]) -> Option<String> {
    const BLOCKS: [Block; 7] = [
        Block::Global,
        Block::Net,
        Block::Disk,
        Block::Syncer,
        Block::Startup,
        Block::Options,
        Block::Handlers,
    ];
    let home = BLOCKS
        .into_iter()
        .find(|b| format!("'{}'", b.name()) != context && lookup(*b, word).is_some());
    if let Some(block) = home {
        return Some(format!("'{word}' belongs in '{}'", block.name()));
    }
    let (best, d) = expected
        .iter()
        .map(|e| (*e, distance(word, e)))
        .min_by_key(|(_, d)| *d)?;
    (d > 0 && d <= 2.max(word.chars().count() / 4)).then(|| format!("did you mean '{best}'?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncer_options_land_in_their_84_places() {
        let rate = lookup(Block::Syncer, "rate").unwrap();
        assert_eq!((rate.target, rate.key), (Target::Disk, "resync-rate"));
        let verify = lookup(Block::Syncer, "verify-alg").unwrap();
        assert_eq!(verify.target, Target::Net);
        assert!(lookup(Block::Syncer, "resync-rate").is_none());
    }

    #[test]
    fn fencing_is_accepted_in_net_and_disk() {
        assert_eq!(lookup(Block::Net, "fencing").unwrap().target, Target::Disk);
        assert_eq!(lookup(Block::Disk, "fencing").unwrap().target, Target::Disk);
    }

    #[test]
    fn every_listed_word_is_accepted() {
        for block in [
            Block::Global,
            Block::Net,
            Block::Disk,
            Block::Syncer,
            Block::Startup,
            Block::Options,
            Block::Handlers,
        ] {
            for word in words(block) {
                assert!(lookup(block, word).is_some(), "{} {word}", block.name());
            }
        }
    }

    #[test]
    fn hints_point_to_the_right_block_or_spelling() {
        let net = words(Block::Net);
        assert_eq!(
            hint("on-io-error", "'net'", &net).as_deref(),
            Some("'on-io-error' belongs in 'disk'")
        );
        assert_eq!(
            hint("pingint", "'net'", &net).as_deref(),
            Some("did you mean 'ping-int'?")
        );
        assert_eq!(hint("zzzzzz", "'net'", &net), None);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn obsolete_and_ignored_are_told_apart() {
        assert!(matches!(
            lookup(Block::Net, "on-disconnect").unwrap().support,
            Support::Obsolete(_)
        ));
        assert_eq!(
            lookup(Block::Net, "data-integrity-alg").unwrap().support,
            Support::Ignored
        );
        assert!(lookup(Block::Net, "on-io-error").is_none());
    }
}
