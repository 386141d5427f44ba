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
                  an `on NODE` section for this node.",
    after_help = "Exit codes: 0 success, 1 refused or failed, 2 usage, 10 configuration error, \
                  11 daemon or peer not reachable, 17 would need --force (no up-to-date data).\n\
                  Environment: SHIMAI_CONFIG, SHIMAI_NODE, SHIMAI_RUN_DIR."
)]
pub struct Cli {
    /// Configuration file [default: $SHIMAI_CONFIG, else /etc/shimai/shimai.conf]
    #[arg(short = 'c', long = "config", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// This node's name as in the `on NAME` sections [default: $SHIMAI_NODE, else `uname -n`]
    #[arg(long, value_name = "NAME", global = true)]
    pub node: Option<String>,
    /// Runtime directory with the control sockets [default: $SHIMAI_RUN_DIR, else /run/shimai]
    #[arg(long = "run-dir", value_name = "DIR", global = true)]
    pub run_dir: Option<PathBuf>,
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
    /// Print the roles, local/peer: `Primary/Secondary`
    Role(Res),
    /// Print the connection state: `Connected`
    Cstate(Res),
    /// Print the disk states, local/peer: `UpToDate/UpToDate`
    Dstate(Res),
    /// Print the status in the layout of drbdadm 9 `status`
    Status {
        /// Print the status reports as a JSON array (stable; see docs/shimaiadm.md)
        #[arg(long, conflicts_with = "verbose")]
        json: bool,
        /// Add the counters (sizes, reads, writes, pending requests)
        #[arg(long, short = 'v')]
        verbose: bool,
        #[command(flatten)]
        target: ResOrAll,
    },
    /// Print the status in the layout of /proc/drbd (DRBD 8.4), with counters and resync progress
    Proc(ResOrAll),
    /// Follow state changes in the layout of `drbdsetup events2`
    Events {
        /// Print the current state and exit
        #[arg(long)]
        now: bool,
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
            Verb::Status { target, .. } | Verb::Events { target, .. } => &target.res,
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
            | Verb::ResumeSync(t) => &t.res,
        }
    }
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
