//! The command line of `haresources2cib`, in the library so that the man page and the shell
//! completion are generated from the same definitions (crates/manpages).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

pub const ABOUT: &str = "Convert a Heartbeat v1 cluster (haresources, ha.cf, authkeys) into a Pacemaker CIB, a crm shell script and a corosync.conf";

pub const LONG_ABOUT: &str = "\
Convert a Heartbeat v1 cluster (haresources, ha.cf, authkeys) into a Pacemaker
CIB (XML), the same configuration as a crm shell script, and a corosync.conf
for Corosync 3.

Each haresources line becomes a group (in line order) with a location score of
100 on its node; auto_failback becomes resource-stickiness; drbddisk::R becomes
a promotable clone of the drbd agent that the group follows; ha.cf ping hosts
become an ocf:pacemaker:ping clone; timers and media become totem settings.
Everything that behaves differently under Pacemaker is reported on stderr and
written as comments into the output.

Typical use:
  haresources2cib --stdout -c /etc/ha.d/ha.cf /etc/ha.d/haresources > cib.xml
  crm_verify -V -x cib.xml
  haresources2cib -f crm -o cluster.crm --corosync corosync.conf
  crm configure load update cluster.crm

Exit status: 0 on success, 65 when an input is wrong (the message names
file:line and what to change), 66 when an input cannot be read, 73 when an
output exists and --force was not given.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// CIB XML (for crm_verify, cibadmin --replace)
    Xml,
    /// crm shell script (for crm configure load update)
    Crm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    /// shimai's own agents (Filesystem, IPaddr2, iSCSITarget, iSCSILogicalUnit)
    Shimai,
    /// resource-agents' agents
    Heartbeat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrbdProvider {
    /// shimai's drbd agent (ocf:shimai:drbd)
    Shimai,
    /// LINBIT's drbd agent (ocf:linbit:drbd)
    Linbit,
}

#[derive(Debug, Parser)]
#[command(name = "haresources2cib", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// The haresources file [default: /etc/ha.d/haresources]
    pub haresources: Option<PathBuf>,

    /// Write to standard output (the default unless -o is given; kept from the old tool)
    #[arg(long)]
    pub stdout: bool,

    /// ha.cf to read [default: /etc/ha.d/ha.cf, when it exists]; authkeys is read from the same directory
    #[arg(short = 'c', long = "config", value_name = "HA.CF")]
    pub config: Option<PathBuf>,

    /// authkeys to read [default: authkeys beside ha.cf]
    #[arg(long, value_name = "FILE")]
    pub authkeys: Option<PathBuf>,

    /// Accepted from the old tool; the heartbeat class no longer runs, so OCF agents are still used
    #[arg(long)]
    pub no_ocf: bool,

    /// Leave out recurring monitors, as Heartbeat never monitored (DRBD keeps its monitors)
    #[arg(long)]
    pub no_monitor: bool,

    /// Output format
    #[arg(short = 'f', long, value_enum, default_value = "xml")]
    pub format: Format,

    /// Write the CIB or crm script to FILE instead of standard output
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Overwrite existing output files
    #[arg(long)]
    pub force: bool,

    /// Also write a corosync.conf to FILE
    #[arg(long, value_name = "FILE")]
    pub corosync: Option<PathBuf>,

    /// Provider of the Filesystem, IPaddr2 and iSCSI agents
    #[arg(long, value_enum, default_value = "shimai")]
    pub provider: Provider,

    /// Provider of the drbd agent that replaces drbddisk
    #[arg(long, value_enum, default_value = "shimai")]
    pub drbd_provider: DrbdProvider,

    /// fstype for Filesystem resources that give none when blkid cannot tell
    #[arg(long, value_name = "TYPE")]
    pub default_fstype: Option<String>,

    /// DRBD resources a bare `drbddisk` stands for [default: those in /etc/drbd.conf and /etc/drbd.d/*.res]
    #[arg(long = "drbd-resource", value_name = "NAME")]
    pub drbd_resources: Vec<String>,

    /// Rewrite a Heartbeat 2.x cib.xml (pre-1.0 syntax) for the current schema instead; with --corosync, ha.cf (-c) gives the corosync.conf
    #[arg(long, value_name = "OLD.XML")]
    pub upgrade_cib: Option<PathBuf>,

    /// Root under which /etc/init.d, /etc/ha.d/resource.d, DRBD files and devices are looked up
    #[arg(long, hide = true, default_value = "/")]
    pub root: PathBuf,

    /// validate-with schema [default: newest pacemaker-3.x in /usr/share/pacemaker]
    #[arg(long, hide = true)]
    pub schema: Option<String>,
}
