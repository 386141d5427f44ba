//! The parameter and action tables: ocf:linbit:drbd 9.22's, so that a CIB moves over by
//! changing only the provider.

use ocf::{ActionSpec, AgentInfo, ParamSpec, ParamType};

/// The four promotion scores of `adjust_master_score` when the parameter is absent or bad.
pub const DEFAULT_SCORES: &str = "0 10 1000 10000";

pub static PARAMS: &[ParamSpec] = &[
    ParamSpec::new("drbd_resource", "shimai resource name")
        .required()
        .unique()
        .long("The name of the replicated resource in the configuration file (the `resource NAME` block). Characters are limited to [-%+./0-9:=@A-Z_a-z]."),
    ParamSpec::new("drbdconf", "Path to the configuration file")
        .default("/etc/shimai/shimai.conf")
        .long("Full path to the configuration file (drbd.conf grammar), given to shimaid as -c. When the parameter is not set, SHIMAI_CONFIG is used if set, else /etc/shimai/shimai.conf, else /etc/drbd.conf."),
    ParamSpec::new("stop_outdates_secondary", "Outdate the local disk on stop if the peer is promoted")
        .kind(ParamType::Boolean)
        .default("false")
        .long("On stop, and after a notification, mark the local disk Outdated when this node is disconnected Secondary and the notification variables say another node is (to be) promoted. The notification variables are not always reliable, hence the default."),
    ParamSpec::new("adjust_master_score", "Promotion scores")
        .default(DEFAULT_SCORES)
        .long("Four non-decreasing integers: the score for a local disk that is only Consistent; for a local disk that is not UpToDate while the peer's is; for an UpToDate local disk with the peer's state unknown; and for an UpToDate local disk with the peer known (as good as it gets). Scores of 0 or below remove the promotion score. A bad value falls back to the default."),
    ParamSpec::new("ignore_missing_notifications", "Run without clone notifications")
        .kind(ParamType::Boolean)
        .default("false")
        .long("Without this, start, promote, demote, notify and reload refuse to run unless the clone has notify=true, because the agent relies on notifications to connect and to recompute scores."),
    ParamSpec::new("wfc_timeout", "Seconds to wait for the connection on start")
        .default("5")
        .long("On start, wait up to this many seconds for the connection to the peer. Empty or not a number: do not wait."),
    ParamSpec::new("remove_master_score_if_peer_primary", "Remove the promotion score while the peer is Primary")
        .default("false")
        .long("true: remove the local promotion score while connected to an UpToDate Primary peer. unexpected: only when the notification variables do not name that peer as promoted. Anything else: never."),
    ParamSpec::new("fail_promote_early_if_peer_primary", "Fail promote at once if the peer is Primary")
        .kind(ParamType::Boolean)
        .default("false")
        .long("When promote finds the peer Primary, remove the promotion score and fail at once instead of retrying until the operation timeout."),
    ParamSpec::new("unfence_if_all_uptodate", "Run the unfence-peer handler when all disks are UpToDate")
        .kind(ParamType::Boolean)
        .default("false")
        .long("While Primary and connected to an UpToDate peer, run the configuration's unfence-peer handler (for example shimai-crm-unfence-peer) so that a stale fencing constraint goes away."),
    ParamSpec::new("unfence_extra_args", "Extra arguments for the unfence-peer handler")
        .default("--quiet --flock-required --flock-timeout 0 --unfence-only-if-owner-match")
        .long("Appended to the unfence-peer handler's command line when unfence_if_all_uptodate runs it."),
    ParamSpec::new("require_drbd_module_version_ge", "Accepted for compatibility; ignored")
        .default("8.0.0")
        .long("ocf:linbit:drbd checks the kernel module version. shimai has no kernel module: the value is accepted and ignored, with a log line."),
    ParamSpec::new("require_drbd_module_version_lt", "Accepted for compatibility; ignored")
        .default("10.0.0")
        .long("ocf:linbit:drbd checks the kernel module version. shimai has no kernel module: the value is accepted and ignored, with a log line."),
    ParamSpec::new("connect_only_after_promote", "Connect only after promotion")
        .kind(ParamType::Boolean)
        .default("false")
        .long("Start without connecting; connect after a promotion (post-promote notification). For stacked setups."),
];

pub static ACTIONS: &[ActionSpec] = &[
    ActionSpec::new("start", 240),
    ActionSpec::new("promote", 90),
    ActionSpec::new("demote", 90),
    ActionSpec::new("notify", 90),
    ActionSpec::new("stop", 100),
    ActionSpec::new("monitor", 20)
        .interval(20)
        .role("Unpromoted"),
    ActionSpec::new("monitor", 20).interval(10).role("Promoted"),
    ActionSpec::new("reload", 30),
    ActionSpec::new("meta-data", 5),
    ActionSpec::new("validate-all", 30),
];

pub static INFO: AgentInfo = AgentInfo {
    name: "drbd",
    version: "shimai 1.4",
    shortdesc: "Manages a shimai replicated device as a promotable clone",
    longdesc: "This resource agent manages a shimai replicated resource (the userspace replacement for DRBD) as a Pacemaker promotable clone: start runs shimaid and connects to the peer as Secondary, promote makes this node Primary, and the promotion score follows the local and peer disk states as ocf:linbit:drbd's does. It talks to shimaid over its control socket; the node's name, runtime directory and configuration come from SHIMAI_NODE, SHIMAI_RUN_DIR and SHIMAI_CONFIG (or drbdconf), as for shimaiadm.",
    params: PARAMS,
    actions: ACTIONS,
};
