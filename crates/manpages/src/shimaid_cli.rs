//! shimaid's command line, for its man page and completion. shimaid parses its arguments by
//! hand (crates/shimaid/src/main.rs); tests/tests/man_pages.rs checks that every option of
//! `shimaid --help` is here.

use clap::{Arg, ArgAction, Command};

use crate::roff;

pub fn command() -> Command {
    Command::new("shimaid")
        .version(env!("CARGO_PKG_VERSION"))
        .about("The shimai daemon: runs one replicated resource (what DRBD's kernel module does for one resource)")
        .long_about(
            "shimaid runs one replicated resource: it opens the backing disk and its metadata, \
             listens on the resource's address, connects to the peer, replicates writes with \
             DRBD's protocols and resyncs, and answers shimaiadm and the drbd agent on its \
             control socket. While Primary it exports the volume over NBD and attaches it as \
             the configured device.\n\n\
             Without --foreground it starts itself again detached (new session) and returns \
             once the new daemon answers on its control socket, with 0, or with the daemon's \
             exit code and the last lines it printed. shimaiadm up and the drbd agent start \
             it that way; the unit shimai@RES.service starts it with --foreground.",
        )
        .disable_version_flag(true)
        .disable_help_flag(true)
        .arg(
            Arg::new("config")
                .short('c')
                .long("config")
                .value_name("FILE")
                .help("Configuration file [default: $SHIMAI_CONFIG, else /etc/shimai/shimai.conf]"),
        )
        .arg(
            Arg::new("node")
                .long("node")
                .value_name("NAME")
                .help("This node's name in the `on NAME` sections [default: $SHIMAI_NODE, else uname -n]"),
        )
        .arg(
            Arg::new("run-dir")
                .long("run-dir")
                .value_name("DIR")
                .value_hint(clap::ValueHint::DirPath)
                .help("Directory of the control socket, pid file and device mounts [default: $SHIMAI_RUN_DIR, else /run/shimai]"),
        )
        .arg(
            Arg::new("log")
                .long("log")
                .value_name("DEST")
                .help("Where log lines go: journal, syslog, stderr, auto, or an absolute FILE")
                .long_help(
                    "Where log lines go. journal: systemd's journal, with the fields \
                     SYSLOG_IDENTIFIER=shimaid and SHIMAI_RESOURCE=RES (journalctl \
                     SHIMAI_RESOURCE=r0); syslog: /dev/log, facility daemon, tag shimaid, each \
                     line starting with the resource name; stderr; an absolute FILE, appended; \
                     journal:SOCKET and syslog:SOCKET name another socket. The default, auto, is \
                     stderr when stderr is a terminal or the journal stream systemd gives a unit \
                     (shimai@RES.service), else the journal when it runs (started by shimaiadm up \
                     or Pacemaker's drbd agent), else syslog when /dev/log exists, else stderr. \
                     The environment variable SHIMAI_LOG, when set, is used instead of auto \
                     (the test suites set SHIMAI_LOG=stderr in .cargo/config.toml, so that the \
                     lines they read stay in RES.log). RUST_LOG sets the level (default info).",
                ),
        )
        .arg(
            Arg::new("foreground")
                .short('f')
                .long("foreground")
                .action(ArgAction::SetTrue)
                .help("Stay in the foreground (systemd units); without it shimaid detaches"),
        )
        .arg(
            Arg::new("create-md")
                .long("create-md")
                .action(ArgAction::SetTrue)
                .help("Write fresh metadata on the backing disk and exit (as drbdmeta create-md; shimaiadm create-md asks first)"),
        )
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help("Print the version and exit"),
        )
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help("Print the usage and exit"),
        )
        .arg(
            Arg::new("RES")
                .value_name("RES")
                .help("The resource to run, as named in the configuration"),
        )
}

/// Exit status, signals, files.
pub fn extra() -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n");
    for (code, what) in [
        ("0", "stopped cleanly, or (detached) started"),
        ("1", "anything else: no metadata, store not readable, already running, address in use"),
        ("2", "usage"),
        ("10", "configuration error: bad file, unknown node or resource, a store too small for its metadata"),
    ] {
        s.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", roff::text(what)));
    }
    s.push_str(".SH SIGNALS\n.PP\n");
    s.push_str(&roff::text(
        "SIGTERM is handled as shimaiadm down: refused, and logged, while the device is mounted \
         or open.",
    ));
    s.push_str("\n.SH FILES\n");
    for (f, what) in [
        ("/run/shimai/RES.ctl", "control socket (mode 0600): one JSON request per line, one JSON reply per line"),
        ("/run/shimai/RES.pid", "the daemon's PID"),
        ("/run/shimai/RES.nbd", "the NBD export, only while Primary"),
        ("/run/shimai/RES.log", "what a detached daemon printed on stdout and stderr (start-up failures, crashes); its log lines go where --log says"),
        ("/run/shimai/RES.fuse/", "the nbdfuse mount behind the block device, only while Primary"),
    ] {
        s.push_str(&format!(".TP\n\\fI{}\\fR\n{}\n", roff::text(f), roff::text(what)));
    }
    s
}
