//! The agent's parameter and action tables: the single source of the
//! meta-data, the environment parsing and `docs/agents/Filesystem.md`.
//!
//! Names, defaults, types and timeouts are those of resource-agents 4.12
//! `ocf:heartbeat:Filesystem` (Debian defaults), so a CIB switches to this
//! agent by changing only the provider.

use ocf::{ActionSpec, AgentInfo, ParamSpec, ParamType};

pub static PARAMS: &[ParamSpec] = &[
    ParamSpec::new("device", "block device").required().long(
        "What to mount: a block device path (/dev/disk/by-uuid/... names are \
             the most stable), a filesystem tag (UUID=..., LABEL=..., -U ..., -L ..., \
             --uuid=..., --label=...), a directory for a bind mount, or a network \
             filesystem specification such as server:/export.",
    ),
    ParamSpec::new("directory", "mount point")
        .required()
        .long("The mount point. It is created when missing; trailing slashes are ignored."),
    ParamSpec::new("fstype", "filesystem type").required().long(
        "The filesystem type passed to mount -t. Empty lets mount detect it; \
             \"none\" together with the option \"bind\" makes a bind mount.",
    ),
    ParamSpec::new("options", "options").long(
        "Options passed to mount -o. For a bind mount use \"bind\" with fstype \
         \"none\"; \"bind,ro\" is mounted and then remounted read-only, since the \
         kernel ignores ro on the first bind mount.",
    ),
    ParamSpec::new("statusfile_prefix", "status file prefix")
        .default(".Filesystem_status/")
        .long(
            "Where the depth-20 monitor writes its status file, relative to the \
             mount point: <directory>/<prefix><instance>[_<clone>]_<node name>. \
             The default puts the files into a separate directory.",
        ),
    ParamSpec::new("run_fsck", "run_fsck").default("auto").long(
        "Whether start runs \"fsck -p\" on a block device first. \"auto\": only for \
         filesystem types without a journal or their own recovery (not ext3/ext4, \
         xfs, network or cluster filesystems, ...); \"force\": always; \"no\": never.",
    ),
    ParamSpec::new("fast_stop", "fast stop")
        .kind(ParamType::Boolean)
        .default("no")
        .long(
            "When true, stop gives each busy mount 6 seconds (half with SIGTERM, half \
             with SIGKILL to its users) and then fails, so fencing starts sooner. \
             When false, it uses the whole stop operation timeout.",
        ),
    ParamSpec::new(
        "force_clones",
        "allow running as a clone, regardless of filesystem type",
    )
    .kind(ParamType::Boolean)
    .default("false")
    .long(
        "Local filesystems (ext3/ext4, xfs, jfs, reiserfs) must not be mounted on \
         several nodes at once, so starting them as a clone is refused. Set this to \
         true only when every clone instance has its own device (for example the \
         bricks of a GlusterFS volume).",
    ),
    ParamSpec::new("force_unmount", "Kill processes before unmount")
        .kind(ParamType::Boolean)
        .default("true")
        .long(
            "What stop does to processes that keep the filesystem busy. \"true\": \
             signal every process with a file open on the filesystem; \"safe\": only \
             processes whose cwd, root, executable, open files or mappings lie below \
             the mount point, found from path names alone (nothing is stat()ed, so a \
             dead NFS server cannot block the search); \"false\": signal nobody.",
        ),
];

pub static ACTIONS: &[ActionSpec] = &[
    ActionSpec::new("start", 60),
    ActionSpec::new("stop", 60),
    ActionSpec::new("monitor", 40).interval(20).depth(0),
    ActionSpec::new("validate-all", 5),
    ActionSpec::new("meta-data", 5),
];

pub static INFO: AgentInfo = AgentInfo {
    name: "Filesystem",
    version: "1.1",
    shortdesc: "Manages filesystem mounts",
    longdesc: "Mounts a filesystem on start and unmounts it on stop, for storage that \
               moves between nodes (shared disks, replicated devices such as shimai or \
               DRBD, network filesystems, bind mounts).\n\n\
               The monitor at depth 0 (also the probe) checks the mount table. Deeper \
               checks are chosen with OCF_CHECK_LEVEL: 10 reads one 4 KiB block of the \
               device with O_DIRECT (nothing to do for network filesystems and bind \
               mounts); 20 writes a status file with O_DIRECT and O_SYNC and reads it \
               back. The status file must be writable by root, which NFS root_squash \
               prevents; use depth 10 there. Other levels run the next lower level.",
    params: PARAMS,
    actions: ACTIONS,
};
