//! shimai.conf(5): the drbd.conf grammar as shimai reads it, every option with its DRBD
//! meaning and what shimai does with it. The option list follows crates/config (sections.rs
//! for the typed options, catalog.rs for the accepted-but-ignored ones and the aliases);
//! tests/tests/man_pages.rs fails when an option there is missing here.

use crate::roff;

/// What shimai does with an option.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// shimaid acts on it.
    Acts,
    /// Parsed and range-checked with DRBD's type; shimaid does not act on it (yet): a warning
    /// names it.
    Checked,
    /// Accepted and kept so a drbd.conf loads; ignored with a warning.
    Ignored,
    /// From an old DRBD; accepted and kept with a warning.
    Obsolete(&'static str),
}

/// (keyword, argument and default, DRBD meaning, use)
type Opt = (&'static str, &'static str, &'static str, Use);

const GLOBAL: &[Opt] = &[
    ("usage-count", "yes|no|ask, default ask", "Whether drbdadm reports the installation to LINBIT's usage counter. shimai never reports anything; kept for the dump.", Use::Checked),
    ("minor-count", "1-255, default 32", "How many devices the kernel module may create.", Use::Checked),
    ("dialog-refresh", "seconds, default 1", "Seconds between the progress lines printed while waiting for the peer at boot (0: none).", Use::Checked),
    ("disable-ip-verification", "flag", "Accept an address that is on no local interface.", Use::Checked),
    ("udev-always-use-vnr", "flag", "Make udev name devices by volume number even for single-volume resources.", Use::Ignored),
    ("cmd-timeout-short", "seconds", "drbdadm's timeout for short drbdsetup calls.", Use::Ignored),
    ("cmd-timeout-medium", "seconds", "drbdadm's timeout for medium drbdsetup calls.", Use::Ignored),
    ("cmd-timeout-long", "seconds", "drbdadm's timeout for long drbdsetup calls.", Use::Ignored),
    ("disable-io-hints", "flag", "DRBD 0.7: do not pass I/O hints down.", Use::Obsolete("DRBD 0.7")),
];

const NET: &[Opt] = &[
    ("protocol", "A|B|C, default C", "When a write is complete: A when it is on the local disk and in the TCP send buffer, B when the peer has received it, C when it is on both disks. Also written at resource level.", Use::Acts),
    ("timeout", "tenths of a second, 1-600, default 60", "The peer must answer a request within this time, or the connection is considered lost.", Use::Acts),
    ("connect-int", "seconds, 1-120, default 10", "Seconds between connection attempts while the peer cannot be reached.", Use::Acts),
    ("ping-int", "seconds, 1-120, default 10", "Seconds of an idle link before a keep-alive ping.", Use::Acts),
    ("ping-timeout", "tenths of a second, 1-300, default 5", "Time the peer has to answer a ping.", Use::Acts),
    ("ko-count", "0-200, default 7", "A peer that fails to complete one write within ko-count times timeout is expelled (0: never).", Use::Checked),
    ("max-buffers", "32-131072, default 2048", "Buffers for data in flight on the receiving side.", Use::Checked),
    ("max-epoch-size", "1-20000, default 2048", "Writes between two write barriers (epochs).", Use::Acts),
    ("sndbuf-size", "bytes, 0-10M, default 0", "TCP send buffer size (0: kernel autotuning).", Use::Checked),
    ("rcvbuf-size", "bytes, 0-10M, default 0", "TCP receive buffer size (0: kernel autotuning).", Use::Checked),
    ("after-sb-0pri", "disconnect|discard-younger-primary|discard-older-primary|discard-zero-changes|discard-least-changes|discard-local|discard-remote, default disconnect", "Automatic split-brain recovery when neither node is Primary.", Use::Acts),
    ("after-sb-1pri", "disconnect|consensus|discard-secondary|call-pri-lost-after-sb|violently-as0p, default disconnect", "Automatic split-brain recovery when one node is Primary.", Use::Acts),
    ("after-sb-2pri", "disconnect|violently-as0p|call-pri-lost-after-sb, default disconnect", "Automatic split-brain recovery when both nodes are Primary.", Use::Acts),
    ("always-asbp", "flag", "Apply the after-sb policies even when the generation identifiers suggest a third node was involved.", Use::Acts),
    ("rr-conflict", "disconnect|call-pri-lost|violently|retry-connect|auto-discard, default disconnect", "What to do when the resync direction found at connect contradicts the roles (the Primary would become sync target).", Use::Acts),
    ("allow-two-primaries", "flag", "Allow both nodes to be Primary at once (for cluster filesystems only).", Use::Acts),
    ("cram-hmac-alg", "digest name", "Digest for the peer authentication challenge. shimai always uses HMAC-SHA-256 whatever it names.", Use::Checked),
    ("shared-secret", "string", "Secret for the challenge/response between the peers; unset: no authentication. Peers whose secrets differ never exchange data.", Use::Acts),
    ("verify-alg", "digest name", "Digest used by online verify; unset: verify is refused.", Use::Acts),
    ("csums-alg", "digest name", "During resync, the sync target sends a digest per block and the source sends the data only when it differs.", Use::Checked),
    ("on-congestion", "block|pull-ahead|disconnect, default block", "What to do when the link cannot keep up with protocol A: wait, go Ahead (stop sending, mark blocks out of sync, resync later), or disconnect.", Use::Checked),
    ("congestion-fill", "sectors, 0-10G, default 0", "Data in flight that counts as congestion (0: off).", Use::Checked),
    ("congestion-extents", "7-65534, default 1237", "Active activity-log extents that count as congestion.", Use::Checked),
    ("use-rle", "yes|no, default yes", "Compress the bitmap exchanged at connect with run-length encoding.", Use::Checked),
    ("tcp-cork", "yes|no, default yes", "Let TCP merge small packets (no-tcp-cork is the same as tcp-cork no).", Use::Checked),
    ("no-tcp-cork", "flag", "Alias of tcp-cork no.", Use::Checked),
    ("data-integrity-alg", "digest name", "Digest of every replicated data packet, checked by the receiver.", Use::Ignored),
    ("unplug-watermark", "number", "Requests queued before the backing device is unplugged.", Use::Ignored),
    ("csums-after-crash-only", "flag", "Use csums-alg only for the resync after a Primary crash.", Use::Ignored),
    ("discard-my-data", "flag", "Be the split-brain victim at the next connect (shimaiadm connect --discard-my-data is the supported way).", Use::Ignored),
    ("transport", "tcp|rdma", "DRBD 9: the transport module.", Use::Ignored),
    ("tls", "flag", "DRBD 9.2: encrypt the link with kernel TLS.", Use::Ignored),
    ("load-balance-paths", "flag", "DRBD 9: spread traffic over several paths.", Use::Ignored),
    ("allow-remote-read", "flag", "DRBD 9: let a diskless node read from this peer.", Use::Ignored),
    ("socket-check-timeout", "tenths of a second", "DRBD 9: time to wait for both sockets of a new connection.", Use::Ignored),
    ("on-disconnect", "word", "DRBD 0.7: what to do on disconnect.", Use::Obsolete("DRBD 0.7")),
    ("fencing", "dont-care|resource-only|resource-and-stonith", "DRBD 9 files write fencing here; the same as in disk.", Use::Acts),
];

const DISK: &[Opt] = &[
    ("on-io-error", "detach|pass_on|call-local-io-error, default detach", "Reaction to an I/O error of the backing device: become Diskless, pass the error up, or run the local-io-error handler.", Use::Checked),
    ("fencing", "dont-care|resource-only|resource-and-stonith, default dont-care", "Fencing policy: with resource-only a node that loses its peer runs fence-peer; with resource-and-stonith a Primary also freezes I/O until fence-peer returns.", Use::Acts),
    ("al-extents", "7-65534, default 1237", "Activity-log size in 4 MiB extents: the area resynced after a Primary crash.", Use::Acts),
    ("al-updates", "yes|no, default yes", "Write the activity log (no: a full resync after a Primary crash).", Use::Checked),
    ("disk-barrier", "yes|no, default no", "Use barriers for write ordering on the backing device.", Use::Checked),
    ("disk-flushes", "yes|no, default yes", "Flush the backing device for write ordering.", Use::Checked),
    ("disk-drain", "yes|no, default yes", "Drain the request queue for write ordering.", Use::Checked),
    ("md-flushes", "yes|no, default yes", "Flush after metadata writes.", Use::Checked),
    ("no-disk-barrier", "flag", "Alias of disk-barrier no.", Use::Checked),
    ("no-disk-flushes", "flag", "Alias of disk-flushes no.", Use::Checked),
    ("no-disk-drain", "flag", "Alias of disk-drain no.", Use::Checked),
    ("no-md-flushes", "flag", "Alias of md-flushes no.", Use::Checked),
    ("resync-rate", "KiB/s (suffixes K, M, G), default 250K", "Fixed resync rate, used when c-plan-ahead is 0. The 8.3 syncer { rate } is the same.", Use::Acts),
    ("resync-after", "resource name", "Start this resource's resync only after that resource finished its own.", Use::Checked),
    ("c-plan-ahead", "tenths of a second, 0-300, default 20", "Look-ahead of the dynamic resync controller (0: fixed rate).", Use::Checked),
    ("c-fill-target", "sectors, default 100", "Resync data the controller keeps in flight.", Use::Checked),
    ("c-delay-target", "tenths of a second, default 10", "Resync delay the controller aims at when c-fill-target is 0.", Use::Checked),
    ("c-max-rate", "KiB/s, default 102400", "Upper bound of the dynamic resync rate.", Use::Acts),
    ("c-min-rate", "KiB/s, default 250", "Rate below which the resync is not throttled in favour of application I/O (not a floor).", Use::Checked),
    ("disk-timeout", "tenths of a second, default 0", "A backing-device request that takes longer fails the disk (0: off).", Use::Checked),
    ("size", "bytes", "Use only this much of the backing device.", Use::Ignored),
    ("read-balancing", "prefer-local|prefer-remote|round-robin|...", "Where a Primary reads from.", Use::Ignored),
    ("discard-zeroes-if-aligned", "flag", "Treat aligned discards as writing zeroes.", Use::Ignored),
    ("rs-discard-granularity", "bytes", "Use discards for resync of zeroed areas of this granularity.", Use::Ignored),
    ("disable-write-same", "flag", "Do not pass WRITE SAME requests down.", Use::Ignored),
    ("max-bio-bvecs", "number", "Largest bio DRBD submits.", Use::Ignored),
    ("bitmap", "flag", "DRBD 9: keep a bitmap for this peer.", Use::Ignored),
    ("block-size", "bytes", "DRBD 9.2: the device's logical block size.", Use::Ignored),
    ("use-bmbv", "flag", "DRBD 8.3: use the backing device's bvec merge.", Use::Obsolete("DRBD 8.3")),
];

const SYNCER: &[Opt] = &[
    (
        "rate",
        "KiB/s",
        "DRBD 8.3: the resync rate; read as disk { resync-rate }.",
        Use::Acts,
    ),
    (
        "after",
        "resource name",
        "DRBD 8.3: read as disk { resync-after }.",
        Use::Checked,
    ),
    (
        "al-extents",
        "7-65534",
        "DRBD 8.3: read as disk { al-extents }.",
        Use::Acts,
    ),
    (
        "c-plan-ahead",
        "tenths of a second",
        "DRBD 8.3: read as disk { c-plan-ahead }.",
        Use::Checked,
    ),
    (
        "c-fill-target",
        "sectors",
        "DRBD 8.3: read as disk { c-fill-target }.",
        Use::Checked,
    ),
    (
        "c-delay-target",
        "tenths of a second",
        "DRBD 8.3: read as disk { c-delay-target }.",
        Use::Checked,
    ),
    (
        "c-max-rate",
        "KiB/s",
        "DRBD 8.3: read as disk { c-max-rate }.",
        Use::Acts,
    ),
    (
        "c-min-rate",
        "KiB/s",
        "DRBD 8.3: read as disk { c-min-rate }.",
        Use::Checked,
    ),
    (
        "use-rle",
        "yes|no",
        "DRBD 8.3: read as net { use-rle }.",
        Use::Checked,
    ),
    (
        "verify-alg",
        "digest name",
        "DRBD 8.3: read as net { verify-alg }.",
        Use::Acts,
    ),
    (
        "csums-alg",
        "digest name",
        "DRBD 8.3: read as net { csums-alg }.",
        Use::Checked,
    ),
    (
        "cpu-mask",
        "hex mask",
        "CPUs DRBD's kernel threads may run on (read as options { cpu-mask }).",
        Use::Ignored,
    ),
    (
        "on-no-data-accessible",
        "io-error|suspend-io",
        "What I/O does when no node has up-to-date data (read as options).",
        Use::Ignored,
    ),
    (
        "group",
        "number",
        "DRBD 0.7: resync group.",
        Use::Obsolete("DRBD 0.7"),
    ),
    (
        "delay-probe-volume",
        "bytes",
        "DRBD 8.3 resync controller setting.",
        Use::Obsolete("DRBD 8.3"),
    ),
    (
        "delay-probe-interval",
        "tenths of a second",
        "DRBD 8.3 resync controller setting.",
        Use::Obsolete("DRBD 8.3"),
    ),
    (
        "throttle-threshold",
        "tenths of a second",
        "DRBD 8.3 resync controller setting.",
        Use::Obsolete("DRBD 8.3"),
    ),
    (
        "hold-off-threshold",
        "tenths of a second",
        "DRBD 8.3 resync controller setting.",
        Use::Obsolete("DRBD 8.3"),
    ),
];

const STARTUP: &[Opt] = &[
    (
        "wfc-timeout",
        "seconds, default 0",
        "How long shimaiadm wait-connect waits for the peer at boot (0: forever).",
        Use::Acts,
    ),
    (
        "degr-wfc-timeout",
        "seconds, default 0",
        "The same, when this node was part of a degraded cluster before it went down.",
        Use::Acts,
    ),
    (
        "outdated-wfc-timeout",
        "seconds, default 0",
        "The same, when the peer was outdated.",
        Use::Acts,
    ),
    (
        "wait-after-sb",
        "flag",
        "Keep waiting for the peer after a split brain was detected.",
        Use::Ignored,
    ),
    (
        "stacked-timeouts",
        "flag",
        "Use the stacked resource's timeouts.",
        Use::Ignored,
    ),
    (
        "become-primary-on",
        "host name|both",
        "Promote at boot on that node. Under Pacemaker the cluster promotes.",
        Use::Ignored,
    ),
];

const OPTIONS: &[Opt] = &[
    ("attach", "auto|nbd|fuse|none, default auto", "shimai's own: how the Primary's block device is made: the kernel's nbd client, nbdfuse plus a loop device, either (auto), or none (only the NBD export).", Use::Acts),
    ("auto-promote", "yes|no, default yes", "DRBD 9: promote when the device is opened for writing, demote on the last close.", Use::Checked),
    ("auto-promote-timeout", "tenths of a second, default 20", "DRBD 9: how long auto-promote waits for the peer.", Use::Checked),
    ("quorum", "off|majority|all|N, default off", "DRBD 9: the number of nodes that must be reachable to write.", Use::Checked),
    ("on-no-quorum", "suspend-io|io-error, default suspend-io", "DRBD 9: what I/O does without quorum.", Use::Checked),
    ("twopc-timeout", "tenths of a second, default 300", "DRBD 9: two-phase-commit timeout.", Use::Checked),
    ("peer-ack-window", "sectors, default 4096", "DRBD 9: writes between peer acknowledgements.", Use::Checked),
    ("peer-ack-delay", "milliseconds, default 100", "DRBD 9: longest wait before a peer acknowledgement.", Use::Checked),
    ("cpu-mask", "hex mask", "CPUs DRBD's kernel threads may run on.", Use::Ignored),
    ("on-no-data-accessible", "io-error|suspend-io", "What I/O does when no node has up-to-date data.", Use::Ignored),
    ("max-io-depth", "number", "DRBD 9: requests in flight to the backing device.", Use::Ignored),
    ("quorum-minimum-redundancy", "number", "DRBD 9: up-to-date nodes needed for quorum.", Use::Ignored),
    ("on-suspended-primary-outdated", "disconnect|force-secondary", "DRBD 9: a suspended Primary that becomes outdated.", Use::Ignored),
    ("twopc-retry-timeout", "tenths of a second", "DRBD 9: delay before a failed two-phase commit is retried.", Use::Ignored),
    ("nr-requests", "number", "DRBD 9: the device's request queue depth.", Use::Ignored),
];

const HANDLERS: &[Opt] = &[
    ("pri-on-incon-degr", "command", "A Primary found inconsistent and degraded (0.7 incon-degr-cmd).", Use::Checked),
    ("pri-lost-after-sb", "command", "This Primary lost automatic split-brain recovery (it is to be discarded).", Use::Acts),
    ("pri-lost", "command", "This Primary is to be discarded (rr-conflict call-pri-lost).", Use::Acts),
    ("fence-peer", "command", "Fence the peer, per the fencing policy; its exit code says what happened (3 peer inconsistent, 4 outdated, 5 down, 6 Primary, 7 fenced by STONITH). shimai-crm-fence-peer is crm-fence-peer.9.sh's equivalent.", Use::Acts),
    ("unfence-peer", "command", "Undo fencing once both disks are up to date (shimai-crm-unfence-peer).", Use::Checked),
    ("local-io-error", "command", "An I/O error of the backing device with on-io-error call-local-io-error.", Use::Checked),
    ("initial-split-brain", "command", "A split brain was seen at connect, before any recovery.", Use::Acts),
    ("split-brain", "command", "A split brain that was not recovered automatically.", Use::Acts),
    ("before-resync-target", "command", "Before this node becomes sync target (a snapshot of the consistent data).", Use::Checked),
    ("after-resync-target", "command", "After a resync as sync target (DRBD 8.4 unfencing).", Use::Checked),
    ("before-resync-source", "command", "Before this node becomes sync source.", Use::Checked),
    ("out-of-sync", "command", "Online verify found blocks that differ.", Use::Acts),
    ("quorum-lost", "command", "DRBD 9: quorum was lost.", Use::Checked),
    ("disconnected", "command", "DRBD 9: the connection was lost.", Use::Checked),
];

/// The structure keywords of resource and `on` sections.
const STRUCTURE: &[(&str, &str)] = &[
    ("global { ... }", "Node-wide settings; at most one."),
    ("common { ... }", "Option blocks every resource inherits (a resource's own blocks override them)."),
    ("include \"PATTERN\";", "Reads the files matching the glob, relative to this file's directory (drbd.conf's include \"drbd.d/*.res\")."),
    ("resource NAME { ... }", "One replicated resource: option blocks, and an on section per node."),
    ("on HOST { ... }", "One node's half: device, disk, address, meta-disk (and volume sections). HOST is matched against uname -n, --node or SHIMAI_NODE."),
    ("floating ADDRESS { ... }", "A node half selected by its address instead of its host name."),
    ("volume N { ... }", "One volume of a multi-volume resource (DRBD 8.4)."),
    ("device PATH [minor N];", "Where the Primary's block device appears (a symlink to a loop or nbd device). The minor is read from /dev/drbdN names; other paths need minor N."),
    ("disk PATH;", "The backing store: a block device or a file."),
    ("address [ipv4|ipv6] ADDR:PORT;", "Where this node listens and the peer connects."),
    ("meta-disk internal|PATH [INDEX];", "Where the metadata is: at the end of the disk, or on another device (external and indexed layouts)."),
    ("flexible-meta-disk PATH;", "DRBD 8.x spelling of an external meta-disk."),
    ("node-id N;", "DRBD 9: the node's number."),
    ("connection, connection-mesh, stacked-on-top-of", "DRBD 9 and stacked-resource sections: parsed, not used by shimai."),
    ("proxy { ... }; proxy on HOST { inside ADDR; outside ADDR; }", "DRBD Proxy: shimai runs no proxy. The resource-level section is skipped with a warning; a host's proxy on section is read, and shimai replicates directly between the outside addresses (a warning says so)."),
    ("skip { ... }", "A block that is read and discarded (drbd.conf's way of commenting out)."),
];

fn use_text(u: Use) -> String {
    match u {
        Use::Acts => "shimaid acts on it.".into(),
        Use::Checked => {
            "Parsed and range-checked; shimaid does not act on it yet (a warning says so).".into()
        }
        Use::Ignored => "Accepted so that a drbd.conf loads; ignored, with a warning.".into(),
        Use::Obsolete(v) => format!("An option of {v}; accepted and ignored, with a warning."),
    }
}

/// What shimai does with `key` in `block`, from crates/config's table (the one the
/// parser's warnings come from); this file's own column only when the table lacks it.
fn effect_text(block: &str, key: &str, u: Use) -> String {
    use shimai_config::Effect;
    let found = shimai_config::option_table()
        .into_iter()
        .find(|(b, k, _)| *b == block && *k == key);
    match found {
        Some((.., Effect::Acted(""))) => "shimaid acts on it.".into(),
        Some((.., Effect::Acted(note))) => format!("shimaid acts on it: {note}."),
        Some((.., Effect::Instead(instead))) => {
            format!("Not implemented by shimai (a warning names its place): {instead}.")
        }
        Some((.., Effect::NotYet(meanwhile))) => format!(
            "Not implemented by shimai yet (a warning names its place); meanwhile {meanwhile}."
        ),
        Some((.., Effect::Obsolete(what))) => {
            format!("{what}; accepted and ignored, with a warning.")
        }
        None => use_text(u),
    }
}

fn section(out: &mut String, name: &str, intro: &str, opts: &[Opt]) {
    out.push_str(&format!(
        ".SS \"{name} {{ ... }}\"\n.PP\n{}\n",
        roff::text(intro)
    ));
    for (key, arg, meaning, u) in opts {
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR \\fI{}\\fR\n{} {}\n",
            roff::text(key),
            roff::text(arg),
            roff::text(meaning),
            roff::text(&effect_text(name, key, *u))
        ));
    }
}

/// The whole page.
pub fn page() -> String {
    let mut s = format!(
        ".TH SHIMAI.CONF 5 \"\" \"shimai {}\" \"File Formats\"\n",
        env!("CARGO_PKG_VERSION")
    );
    s.push_str(".SH NAME\nshimai.conf \\- configuration of shimai's replicated block devices (drbd.conf grammar)\n");
    s.push_str(".SH SYNOPSIS\n/etc/shimai/shimai.conf\n.br\n/etc/drbd.conf (read when /etc/shimai/shimai.conf does not exist)\n");
    s.push_str(".SH DESCRIPTION\n.PP\n");
    s.push_str(&roff::text(
        "shimai reads DRBD's configuration grammar and option names (DRBD 8.4, with 8.3 and 9 \
         spellings accepted), so an existing drbd.conf with its include \"drbd.d/*.res\" is used \
         as it is. shimaiadm, shimaid and the drbd agent read /etc/shimai/shimai.conf, or the \
         file named by -c or SHIMAI_CONFIG. A word drbd.conf does not know is an error naming \
         its file:line:column; an option shimai accepts without acting on it is logged as a \
         warning with its place. shimaiadm dump prints the file as shimai understood it.",
    ));
    s.push_str("\n.PP\nEach option below gives its argument and DRBD's default, its meaning in DRBD, and what shimai does with it.\n");
    s.push_str(".SH EXAMPLE\n.nf\n");
    s.push_str(&roff::text(
        "resource r0 {\n  protocol C;\n  net {\n    shared-secret \"change-me\";\n    connect-int 10;\n  }\n  disk { resync-rate 100M; al-extents 1237; }\n  options { attach auto; }\n  on alpha { device /dev/drbd0; disk /dev/vg/r0; address 10.0.0.1:7789; meta-disk internal; }\n  on beta  { device /dev/drbd0; disk /dev/vg/r0; address 10.0.0.2:7789; meta-disk internal; }\n}",
    ));
    s.push_str("\n.fi\n.SH STRUCTURE\n");
    for (what, meaning) in STRUCTURE {
        s.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            roff::text(what),
            roff::text(meaning)
        ));
    }
    s.push_str(".SH OPTIONS\n.PP\n");
    s.push_str(&roff::text(
        "Option blocks may appear in common and in a resource (and disk options in a volume). \
         Sizes take the suffixes K, M and G; flags are written bare (allow-two-primaries;) or \
         with yes or no.",
    ));
    s.push('\n');
    section(
        &mut s,
        "global",
        "Settings for the whole node, outside any resource.",
        GLOBAL,
    );
    section(&mut s, "net", "The replication link and the split-brain policies. protocol may also be written at resource level.", NET);
    section(
        &mut s,
        "disk",
        "The backing device, the activity log and the resync.",
        DISK,
    );
    section(
        &mut s,
        "syncer",
        "DRBD 8.3's block; each option is read into disk, net or options as DRBD 8.4 does.",
        SYNCER,
    );
    section(
        &mut s,
        "startup",
        "How long shimaiadm wait-connect (and wait-sync) wait at boot when no --timeout is given.",
        STARTUP,
    );
    section(
        &mut s,
        "options",
        "Resource-wide options, including shimai's own attach.",
        OPTIONS,
    );
    section(&mut s, "handlers", "Commands run on events through /bin/sh -c, as DRBD does, with DRBD_RESOURCE, DRBD_PEER_ADDRESS and DRBD_PEER_AF set. Unset: nothing runs.", HANDLERS);
    s.push_str(".SH FILES\n.TP\n\\fI/etc/shimai/shimai.conf\\fR\nThe configuration.\n.TP\n\\fI/etc/shimai/shimai.conf.example\\fR\nAn example installed by the package.\n");
    s.push_str(
        ".SH \"SEE ALSO\"\n\\fBshimaiadm\\fR(8), \\fBshimaid\\fR(8), \\fBdrbd.conf\\fR(5)\n",
    );
    s
}
