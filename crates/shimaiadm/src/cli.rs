//! The command line: drbdadm's verbs and options, parsed by clap. Usage
//! errors exit with 2 (clap's code, which is also drbdadm's habit).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "shimaiadm",
    version,
    about = "Administer shimai replicated block devices (drbdadm's verbs and meaning)",
    long_about = "Administer shimai replicated block devices. The verbs, their meaning and the \
                  output layouts are drbdadm's (DRBD 8.4), so runbooks work with the command renamed.\n\n\
                  RES is a resource name from the configuration, or `all` for every resource that has \
                  an `on NODE` section for this node.\n\n\
                  drbdadm's `--` pass-through is read: `shimaiadm -- --overwrite-data-of-peer primary r0` \
                  (or 0.7's `--do-what-I-say`) is `primary --force r0`; `--discard-my-data` goes with \
                  connect, `--clear-bitmap` with new-current-uuid.",
    after_help = "Exit codes: 0 success, 1 refused or failed, 2 usage, 10 configuration error, \
                  11 daemon or peer not reachable, 17 would need --force (no up-to-date data).\n\
                  Environment: SHIMAI_CONFIG, SHIMAI_NODE, SHIMAI_RUN_DIR."
)]
pub struct Cli {
    /// Configuration file [default: $SHIMAI_CONFIG, else /etc/shimai/shimai.conf]
    #[arg(
        short = 'c',
        long = "config",
        visible_alias = "config-file",
        value_name = "FILE",
        global = true
    )]
    pub config: Option<PathBuf>,
    /// This node's name as in the `on NAME` sections [default: $SHIMAI_NODE, else `uname -n`]
    #[arg(long, value_name = "NAME", global = true)]
    pub node: Option<String>,
    /// Runtime directory with the control sockets [default: $SHIMAI_RUN_DIR, else /run/shimai]
    #[arg(long = "run-dir", value_name = "DIR", global = true)]
    pub run_dir: Option<PathBuf>,
    /// Print what the verb would do (the request, the daemon start, the metadata write) and do nothing
    #[arg(short = 'd', long = "dry-run", global = true)]
    pub dry_run: bool,
    #[command(subcommand)]
    pub verb: Verb,
}

/// One resource name or `all`.
#[derive(Debug, Clone, Args)]
pub struct Res {
    /// Resource name, or `all`
    #[arg(value_name = "RES|all")]
    pub res: String,
}

/// A resource name or `all`, defaulting to `all`.
#[derive(Debug, Clone, Args)]
pub struct ResOrAll {
    /// Resource name, or `all` (the default)
    #[arg(value_name = "RES|all", default_value = "all")]
    pub res: String,
}

#[derive(Debug, Clone, Args)]
pub struct Wait {
    /// Seconds to wait (0: forever) [default: startup { wfc-timeout } or
    /// { degr-wfc-timeout } / { outdated-wfc-timeout } as DRBD chooses]
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u32>,
    #[command(flatten)]
    pub target: Res,
}

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Write fresh metadata on the backing disk (offline; asks before overwriting)
    #[command(name = "create-md")]
    CreateMd {
        /// Overwrite existing metadata without asking
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: Res,
    },
    /// Convert DRBD 8.4/9 metadata (or shimai's first layout) to shimai's in place, keeping the sync state; `--to drbd-v08|drbd-v09` converts back (offline)
    #[command(name = "convert-md")]
    ConvertMd {
        /// Target format
        #[arg(long, value_name = "FORMAT", default_value = "shimai",
              value_parser = ["shimai", "drbd-v08", "drbd-v09"])]
        to: String,
        #[command(flatten)]
        target: Res,
    },
    /// Print the generation identifiers and flags from the metadata on disk (drbdmeta layout)
    #[command(name = "get-gi")]
    GetGi(Res),
    /// Print the metadata on disk: superblock, layout, bitmap and activity-log summary
    #[command(name = "dump-md")]
    DumpMd(Res),
    /// Start the resource's daemon: attach the disk and connect to the peer
    Up(Res),
    /// Stop the resource's daemon cleanly (refused while the device is in use)
    Down(Res),
    /// Attach the backing disk
    Attach(Res),
    /// Detach the backing disk (the node becomes Diskless)
    Detach(Res),
    /// Connect to the peer
    Connect {
        /// Be the split-brain victim: discard this node's changes and resync from the peer
        #[arg(long = "discard-my-data")]
        discard_my_data: bool,
        #[command(flatten)]
        target: Res,
    },
    /// Disconnect from the peer (StandAlone)
    Disconnect(Res),
    /// Promote to Primary (the device becomes usable here)
    Primary {
        /// Promote even without up-to-date data (initial sync, disaster recovery)
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: Res,
    },
    /// Demote to Secondary (refused while the device is open or mounted)
    Secondary(Res),
    /// Print the roles, local/peer: `Primary/Secondary` (`state` is drbdadm 8's name for it)
    #[command(alias = "state")]
    Role(Res),
    /// Print the connection state: `Connected`
    Cstate(Res),
    /// Print the disk states, local/peer: `UpToDate/UpToDate`
    Dstate(Res),
    /// Print the status in the layout of drbdadm 9 `status`
    Status {
        /// Print the status reports as a JSON array (stable; see docs/shimaiadm.md)
        #[arg(long, conflicts_with_all = ["verbose", "statistics"])]
        json: bool,
        /// Show every state field, not only the abnormal ones (drbdadm 9 `--verbose`)
        #[arg(long, short = 'v')]
        verbose: bool,
        /// Add the counters: sizes, reads, writes, pending requests (drbdadm 9 `--statistics`)
        #[arg(long, short = 's')]
        statistics: bool,
        #[command(flatten)]
        target: ResOrAll,
    },
    /// Print the status in the layout of /proc/drbd (DRBD 8.4), with counters and resync progress
    Proc(ResOrAll),
    /// Follow state changes in the layout of `drbdsetup events2` (also spelled `events2`)
    #[command(alias = "events2")]
    Events {
        /// Print the current state and exit
        #[arg(long)]
        now: bool,
        /// Lead each line with the time it was printed (ISO 8601, microseconds, UTC)
        #[arg(long, short = 't')]
        timestamps: bool,
        /// Add the counters to device, connection and peer-device lines
        #[arg(long, short = 's')]
        statistics: bool,
        #[command(flatten)]
        target: ResOrAll,
    },
    /// Print the configuration as shimai understood it (canonical drbd.conf text)
    Dump(ResOrAll),
    /// Apply configuration changes to a running resource (or bring it up)
    Adjust(Res),
    /// Wait until the peers are connected
    #[command(name = "wait-connect")]
    WaitConnect(Wait),
    /// Wait until connected and no resync is running
    #[command(name = "wait-sync")]
    WaitSync(Wait),
    /// Start an online verify against the peer
    Verify(Res),
    /// Discard local data: full resync from the peer
    Invalidate(Res),
    /// Discard the peer's data: full resync to the peer
    #[command(name = "invalidate-remote")]
    InvalidateRemote(Res),
    /// Start a new data generation
    #[command(name = "new-current-uuid")]
    NewCurrentUuid {
        /// Also clear the bitmap: skip the initial sync of just-created metadata (both become UpToDate)
        #[arg(long = "clear-bitmap")]
        clear_bitmap: bool,
        #[command(flatten)]
        target: Res,
    },
    /// Mark the local data Outdated (refused while Primary)
    Outdate(Res),
    /// Pause the resync on this node
    #[command(name = "pause-sync")]
    PauseSync(Res),
    /// Resume a resync paused on this node
    #[command(name = "resume-sync")]
    ResumeSync(Res),
    /// Not supported by this shimaid yet (issue 14): grow the device after the backing disk grew
    Resize {
        /// New size (refused: not supported yet)
        #[arg(long, value_name = "SIZE")]
        size: Option<String>,
        /// Accepted for drbdadm compatibility (refused: not supported yet)
        #[arg(long = "assume-peer-has-space")]
        assume_peer_has_space: bool,
        /// Accepted for drbdadm compatibility (refused: not supported yet)
        #[arg(long = "assume-clean")]
        assume_clean: bool,
        #[command(flatten)]
        target: Res,
    },
    /// Not supported by this shimaid yet (issue 14): freeze application I/O
    #[command(name = "suspend-io")]
    SuspendIo(Res),
    /// Not supported by this shimaid yet (issue 14): thaw application I/O
    #[command(name = "resume-io")]
    ResumeIo(Res),
    /// Print a value from the configuration, for scripts: `sh dev r0` (also written `sh-dev r0`,
    /// as drbdadm): resources, dev, minor, ll-dev, md-dev, md-idx, ip, node-id, nop
    Sh {
        /// What to print
        #[arg(value_enum)]
        what: ShWhat,
        #[command(flatten)]
        target: ResOrAll,
    },
    /// Serve Prometheus metrics of every resource of this node at http://ADDR:PORT/metrics (drbd-reactor's names; see docs/metrics.md)
    Exporter {
        /// IP address and port to listen on (IPv6 in brackets: [::]:9942)
        #[arg(long, value_name = "ADDR:PORT", default_value = crate::exporter::DEFAULT_LISTEN)]
        listen: SocketAddr,
    },
}

impl Verb {
    /// The `RES|all` argument.
    pub fn target(&self) -> &str {
        match self {
            Verb::CreateMd { target, .. }
            | Verb::ConvertMd { target, .. }
            | Verb::Connect { target, .. }
            | Verb::Primary { target, .. }
            | Verb::NewCurrentUuid { target, .. }
            | Verb::WaitConnect(Wait { target, .. })
            | Verb::WaitSync(Wait { target, .. }) => &target.res,
            Verb::Resize { target, .. } => &target.res,
            Verb::Status { target, .. } | Verb::Events { target, .. } | Verb::Sh { target, .. } => {
                &target.res
            }
            Verb::Proc(t) | Verb::Dump(t) => &t.res,
            Verb::Exporter { .. } => "all",
            Verb::Up(t)
            | Verb::GetGi(t)
            | Verb::DumpMd(t)
            | Verb::Down(t)
            | Verb::Attach(t)
            | Verb::Detach(t)
            | Verb::Disconnect(t)
            | Verb::Secondary(t)
            | Verb::Role(t)
            | Verb::Cstate(t)
            | Verb::Dstate(t)
            | Verb::Adjust(t)
            | Verb::Verify(t)
            | Verb::Invalidate(t)
            | Verb::InvalidateRemote(t)
            | Verb::Outdate(t)
            | Verb::PauseSync(t)
            | Verb::ResumeSync(t)
            | Verb::SuspendIo(t)
            | Verb::ResumeIo(t) => &t.res,
        }
    }
}

/// The `sh-*` queries: values from the configuration, for shell scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShWhat {
    /// The resource names with an `on` section for this node, on one line
    Resources,
    /// The device node of each volume (`/dev/drbd0`)
    Dev,
    /// The minor number of each volume
    Minor,
    /// The backing disk of each volume (`none` when diskless)
    #[value(name = "ll-dev")]
    LlDev,
    /// The metadata device of each volume (the backing disk when internal)
    #[value(name = "md-dev")]
    MdDev,
    /// The metadata index: `internal`, `flexible` or the slot number
    #[value(name = "md-idx")]
    MdIdx,
    /// This node's replication address
    Ip,
    /// This node's `node-id` (DRBD 9; 0 or 1 from the section order when not written)
    #[value(name = "node-id")]
    NodeId,
    /// Nothing (drbdadm's check that the configuration parses)
    Nop,
}

/// The pass-through options of drbdadm (`drbdadm -- --OPTION VERB RES`),
/// as 0.7, 8.3 and 8.4 runbooks write them: option, the verbs it applies
/// to, and the shimaiadm option it becomes.
pub const PASS_THROUGH: &[(&str, &[&str], &str)] = &[
    ("--overwrite-data-of-peer", &["primary"], "--force"),
    ("--do-what-I-say", &["primary"], "--force"),
    ("--force", &["primary", "create-md"], "--force"),
    ("--discard-my-data", &["connect"], "--discard-my-data"),
    ("--clear-bitmap", &["new-current-uuid"], "--clear-bitmap"),
    (
        "--assume-peer-has-space",
        &["resize"],
        "--assume-peer-has-space",
    ),
    ("--assume-clean", &["resize"], "--assume-clean"),
];

/// Global options that take a value (so the word after them is not the verb).
const VALUED_GLOBALS: &[&str] = &["-c", "--config", "--config-file", "--node", "--run-dir"];

/// Rewrites drbdadm's argument forms to shimaiadm's before clap sees them:
/// `-- --overwrite-data-of-peer primary r0` becomes `primary --force r0`
/// (the `--` pass-through of drbdadm 0.7 to 8.4, see [`PASS_THROUGH`]) and
/// `sh-dev r0` becomes `sh dev r0`. `Err` is a usage message.
pub fn normalize_args(args: Vec<String>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(args.len());
    let mut passed: Vec<String> = Vec::new();
    let mut iter = args.into_iter();
    if let Some(program) = iter.next() {
        out.push(program);
    }
    let rest: Vec<String> = iter.collect();
    let mut i = 0;
    while i < rest.len() {
        if rest[i] == "--" {
            i += 1;
            while i < rest.len() && rest[i].starts_with("--") && rest[i] != "--" {
                passed.push(rest[i].clone());
                i += 1;
            }
            continue;
        }
        out.push(rest[i].clone());
        i += 1;
    }
    // The verb: the first word that is neither an option nor an option's value.
    let mut verb_at = None;
    let mut k = 1;
    while k < out.len() {
        let w = out[k].as_str();
        if VALUED_GLOBALS.contains(&w) {
            k += 2;
            continue;
        }
        if !w.starts_with('-') {
            verb_at = Some(k);
            break;
        }
        k += 1;
    }
    if let Some(at) = verb_at {
        if let Some(what) = out[at].strip_prefix("sh-") {
            let what = what.to_string();
            out[at] = "sh".into();
            out.insert(at + 1, what);
        }
    }
    if passed.is_empty() {
        return Ok(out);
    }
    let Some(at) = verb_at else {
        return Err(format!(
            "pass-through option {} given without a verb: write `shimaiadm -- {} VERB RES`",
            passed[0], passed[0]
        ));
    };
    let verb = out[at].clone();
    let mut mapped: Vec<String> = Vec::new();
    for p in &passed {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (p.as_str(), None),
        };
        if name == "--size" && verb == "resize" {
            mapped.push(format!("--size={}", value.unwrap_or_default()));
            continue;
        }
        let Some((_, verbs, to)) = PASS_THROUGH.iter().find(|(n, ..)| *n == name) else {
            let known: Vec<&str> = PASS_THROUGH.iter().map(|(n, ..)| *n).collect();
            return Err(format!(
                "pass-through option {p} is not known to shimaiadm (known: {}, --size for resize)",
                known.join(", ")
            ));
        };
        if !verbs.contains(&verb.as_str()) {
            return Err(format!(
                "pass-through option {name} applies to {} only, not to {verb}",
                verbs.join(", ")
            ));
        }
        if !mapped.iter().any(|m| m == to) {
            mapped.push((*to).to_string());
        }
    }
    for (n, m) in mapped.into_iter().enumerate() {
        out.insert(at + 1 + n, m);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_or_after_the_verb() {
        let c = Cli::try_parse_from(["shimaiadm", "-c", "/x.conf", "primary", "--force", "r0"])
            .unwrap();
        assert_eq!(c.config, Some(PathBuf::from("/x.conf")));
        assert!(matches!(c.verb, Verb::Primary { force: true, .. }));
        assert_eq!(c.verb.target(), "r0");
        let c = Cli::try_parse_from(["shimaiadm", "status", "--node", "b"]).unwrap();
        assert_eq!(c.node.as_deref(), Some("b"));
        assert_eq!(c.verb.target(), "all");
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn parse(words: &[&str]) -> Cli {
        let args = normalize_args(argv(words)).unwrap();
        Cli::try_parse_from(args).unwrap()
    }

    #[test]
    fn drbdadm_pass_through_options_become_shimaiadm_options() {
        for words in [
            &[
                "shimaiadm",
                "--",
                "--overwrite-data-of-peer",
                "primary",
                "r0",
            ][..],
            &["shimaiadm", "--", "--do-what-I-say", "primary", "drbd0"],
            &[
                "shimaiadm",
                "-c",
                "/x.conf",
                "--",
                "--do-what-I-say",
                "primary",
                "drbd0",
            ],
            &[
                "shimaiadm",
                "primary",
                "--",
                "--overwrite-data-of-peer",
                "r0",
            ],
        ] {
            let c = parse(words);
            assert!(
                matches!(c.verb, Verb::Primary { force: true, .. }),
                "{words:?}"
            );
        }
        let c = parse(&[
            "shimaiadm",
            "--config-file",
            "/x.conf",
            "--",
            "--do-what-I-say",
            "primary",
            "r0",
        ]);
        assert_eq!(c.config, Some(PathBuf::from("/x.conf")));
        assert!(matches!(c.verb, Verb::Primary { force: true, .. }));
        let c = parse(&["shimaiadm", "--", "--discard-my-data", "connect", "r0"]);
        assert!(matches!(
            c.verb,
            Verb::Connect {
                discard_my_data: true,
                ..
            }
        ));
        let c = parse(&["shimaiadm", "--", "--size=10G", "resize", "r0"]);
        assert!(matches!(c.verb, Verb::Resize { size: Some(ref s), .. } if s == "10G"));
        let e = normalize_args(argv(&[
            "shimaiadm",
            "--",
            "--discard-my-data",
            "primary",
            "r0",
        ]))
        .unwrap_err();
        assert!(e.contains("applies to connect only"), "{e}");
        let e = normalize_args(argv(&["shimaiadm", "--", "--bogus", "primary", "r0"])).unwrap_err();
        assert!(
            e.contains("--bogus") && e.contains("--overwrite-data-of-peer"),
            "{e}"
        );
        assert!(normalize_args(argv(&["shimaiadm", "--", "--force"])).is_err());
    }

    #[test]
    fn drbdadm_spellings_of_verbs_are_accepted() {
        let c = parse(&["shimaiadm", "sh-md-dev", "r0"]);
        assert!(matches!(
            c.verb,
            Verb::Sh {
                what: ShWhat::MdDev,
                ..
            }
        ));
        let c = parse(&["shimaiadm", "sh-resources"]);
        assert!(matches!(
            c.verb,
            Verb::Sh {
                what: ShWhat::Resources,
                ..
            }
        ));
        assert_eq!(c.verb.target(), "all");
        assert!(matches!(
            parse(&["shimaiadm", "state", "r0"]).verb,
            Verb::Role(_)
        ));
        let c = parse(&[
            "shimaiadm",
            "-d",
            "events2",
            "--timestamps",
            "--statistics",
            "--now",
        ]);
        assert!(c.dry_run);
        assert!(matches!(
            c.verb,
            Verb::Events {
                now: true,
                timestamps: true,
                statistics: true,
                ..
            }
        ));
        let c = parse(&["shimaiadm", "status", "--verbose", "--statistics", "r0"]);
        assert!(matches!(
            c.verb,
            Verb::Status {
                verbose: true,
                statistics: true,
                ..
            }
        ));
        assert!(matches!(
            parse(&["shimaiadm", "primary", "r0", "--dry-run"]),
            Cli { dry_run: true, .. }
        ));
        let e =
            Cli::try_parse_from(normalize_args(argv(&["shimaiadm", "sh-bogus", "r0"])).unwrap())
                .unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn missing_resources_and_unknown_verbs_are_usage_errors() {
        for argv in [
            &["shimaiadm", "primary"][..],
            &["shimaiadm", "promote", "r0"],
            &["shimaiadm", "connect", "--discard", "r0", "x"],
            &["shimaiadm", "status", "--json", "--verbose"],
        ] {
            let e = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{argv:?}");
        }
    }
}
