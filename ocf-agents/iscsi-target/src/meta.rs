//! The parameter and action tables of both agents: the meta-data, the
//! environment parsing and docs/agents/iscsi.md come from here.
//!
//! Names, defaults and timeouts are those of resource-agents 4.12's
//! `ocf:heartbeat:iSCSITarget` and `ocf:heartbeat:iSCSILogicalUnit`, so a
//! CIB switches by changing only the provider.

use ocf::{ActionSpec, AgentInfo, ParamSpec, ParamType};

const IMPLEMENTATION: ParamSpec = ParamSpec::new("implementation", "iSCSI target implementation")
    .default("tgt")
    .long(
        "The iSCSI target daemon to configure: \"tgt\" (tgtd, spoken to over its \
         management socket) or \"lio-t\" (LIO through targetcli and configfs). \
         \"iet\" is refused: IET was removed from Debian; use tgt. \"lio\" (lio_node) \
         is refused too; use lio-t. Unset: tgt when tgtd is installed, else \
         lio-t when targetcli is (the default shown is what a node with tgt gets).",
    );

const CONTROL_PORT: ParamSpec = ParamSpec::new("tgt_control_port", "tgtd control port")
    .kind(ParamType::Integer)
    .default("0")
    .long(
        "tgt only, not in the reference agent: the control port of the tgtd to \
         configure (tgtd -C N, tgtadm -C N), which names its management socket \
         /var/run/tgtd/socket.N (TGT_IPC_SOCKET in the agent's environment replaces \
         /var/run/tgtd/socket, as for tgtd and tgtadm).",
    );

const ADDITIONAL: ParamSpec = ParamSpec::new("additional_parameters", "additional parameters");

pub static TARGET_PARAMS: &[ParamSpec] = &[
    IMPLEMENTATION,
    ParamSpec::new("iqn", "iSCSI target IQN")
        .required()
        .unique()
        .long(
            "The target's iSCSI Qualified Name, e.g. iqn.2026-01.com.example:storage. \
         tgt accepts letters, digits, '.', '-' and ':' only.",
        ),
    ParamSpec::new("tid", "iSCSI target ID")
        .unique()
        .kind(ParamType::Integer)
        .long(
            "The target ID, a positive integer, required for tgt. Use the same value on \
         every node: initiators (Windows in particular) identify a disk by VPD page \
         0x83, which tgt derives from the tid and the LUN.",
        ),
    ParamSpec::new("portals", "iSCSI portal addresses")
        .default("0.0.0.0:3260")
        .long(
            "Space-separated ip:port portals (lio-t). tgt listens on the portals tgtd \
             was started with, for all its targets; the agent only warns when this is \
             changed. The default, every address on port 3260, works behind a \
             floating IP.",
        ),
    ParamSpec::new("iser_portals", "iSER portal addresses")
        .long("Portals on which iSER is enabled (lio-t only; ignored with a warning by tgt)."),
    ParamSpec::new(
        "allowed_initiators",
        "List of iSCSI initiators allowed to connect",
    )
    .long(
        "Space-separated initiators allowed to log in. Each entry is an initiator \
             name (iqn..., eui..., naa...), bound as such, or an address (IPv4, IPv6, \
             address/prefix, or ALL). Empty: every initiator may log in.",
    ),
    ParamSpec::new("incoming_username", "Incoming account username")
        .unique()
        .long(
            "CHAP user name an initiator must log in with (requires incoming_password). \
             tgt's accounts are daemon-wide; stop deletes the account only when no \
             other target still uses it.",
        ),
    ParamSpec::new("incoming_password", "Incoming account password").long(
        "CHAP secret for incoming_username (tgt: 12 to 16 characters for Windows initiators).",
    ),
    ADDITIONAL.long(
        "Space-separated name=value pairs of iSCSI parameters for the target, e.g. \
         MaxRecvDataSegmentLength=262144 (tgt: one update request each; values \
         cannot contain commas).",
    ),
    CONTROL_PORT,
];

pub static LU_PARAMS: &[ParamSpec] = &[
    IMPLEMENTATION,
    ParamSpec::new("target_iqn", "iSCSI target IQN")
        .required()
        .long(
            "The IQN of the target this logical unit belongs to (an iSCSITarget resource \
         ordered before this one).",
        ),
    ParamSpec::new("lun", "Logical Unit number (LUN)")
        .required()
        .kind(ParamType::Integer)
        .long("The LUN, 1 or more for tgt (LUN 0 is tgtd's controller). Same on every node."),
    ParamSpec::new("path", "Block device (or file) path")
        .required()
        .long("The block device or file exported as this LUN, e.g. the replicated device."),
    ParamSpec::new("scsi_id", "SCSI ID").unique().long(
        "The SCSI ID (VPD page 0x83 designator) of the LUN, at most 36 characters. \
         Default: the first 16 characters of the resource name, which is the same on \
         every node.",
    ),
    ParamSpec::new("scsi_sn", "SCSI serial number")
        .unique()
        .long(
            "The SCSI serial number (VPD page 0x80), at most 36 characters. Default: the \
         first 8 hex digits of md5(resource name).",
        ),
    ParamSpec::new("vendor_id", "SCSI vendor ID")
        .long("The vendor in INQUIRY data (tgt: up to 8 characters; longer is cut by tgtd)."),
    ParamSpec::new("product_id", "SCSI product ID")
        .long("The product in INQUIRY data (up to 16 characters; longer is cut by tgtd)."),
    ParamSpec::new("tgt_bstype", "TGT backing store type").long(
        "tgt backing store: rdwr (tgtd's default: buffered I/O; SYNCHRONIZE CACHE and \
         FUA writes become fdatasync), aio, rbd, ... \"rbd\" skips the path check.",
    ),
    ParamSpec::new("tgt_bsoflags", "TGT backing store open flags")
        .long("tgt backing store open flags: \"direct\", \"sync\" or \"direct:sync\"."),
    ParamSpec::new("tgt_bsopts", "TGT backing store options")
        .long("tgt backing store options, passed to the backing store (e.g. for rbd)."),
    ParamSpec::new("tgt_device_type", "TGT device type")
        .long("tgt device type: disk (default), tape, ssc, cd, changer, osd or pt."),
    ParamSpec::new("emulate_tpu", "Enable TPU emulation")
        .kind(ParamType::Integer)
        .long("lio-t only: thin provisioning UNMAP (emulate_tpu attribute)."),
    ParamSpec::new("emulate_3pc", "Enable 3PC emulation")
        .kind(ParamType::Integer)
        .long("lio-t only: third-party copy (emulate_3pc attribute)."),
    ParamSpec::new("emulate_caw", "Enable Compare and Write emulation")
        .kind(ParamType::Integer)
        .long("lio-t only: COMPARE AND WRITE (emulate_caw attribute)."),
    ADDITIONAL.long(
        "Space-separated name=value LU parameters, sent in the identity request \
         (tgt: e.g. readonly=1 thin_provisioning=1 removable=0; no commas).",
    ),
    ParamSpec::new(
        "allowed_initiators",
        "List of iSCSI initiators allowed to connect to this lun",
    )
    .long("lio-t only: initiator names given an ACL mapping this LUN."),
    ParamSpec::new("lio_iblock", "LIO iblock device name")
        .kind(ParamType::Integer)
        .default("0")
        .long("lio (refused) only; accepted and ignored for compatibility."),
    ParamSpec::new("liot_bstype", "LIO-T backing store type")
        .default("block")
        .long("lio-t backstore: block, fileio or pscsi."),
    CONTROL_PORT,
];

static ACTIONS: &[ActionSpec] = &[
    ActionSpec::new("start", 10),
    ActionSpec::new("stop", 10),
    ActionSpec::new("status", 10).interval(10).depth(0),
    ActionSpec::new("monitor", 10).interval(10).depth(0),
    ActionSpec::new("meta-data", 5),
    ActionSpec::new("validate-all", 10),
];

pub static TARGET: AgentInfo = AgentInfo {
    name: "iSCSITarget",
    version: "1.0",
    shortdesc: "iSCSI target export agent",
    longdesc: "Manages an iSCSI target on tgtd (over its management socket; monitor \
               forks nothing) or LIO (lio-t, through targetcli). The parameters are \
               those of resource-agents' ocf:heartbeat:iSCSITarget.",
    params: TARGET_PARAMS,
    actions: ACTIONS,
};

pub static LU: AgentInfo = AgentInfo {
    name: "iSCSILogicalUnit",
    version: "1.0",
    shortdesc: "Manages iSCSI Logical Units (LUs)",
    longdesc: "Manages an iSCSI logical unit of a target on tgtd (over its management \
               socket, with its SCSI identity set before any initiator can see it) or \
               LIO (lio-t). The parameters are those of resource-agents' \
               ocf:heartbeat:iSCSILogicalUnit.",
    params: LU_PARAMS,
    actions: ACTIONS,
};
