//! What the agent needs to know about a filesystem type: whether it lives
//! on a block device, whether fsck is useful, whether it is safe to mount
//! on several nodes, and whether the kernel supports it.
//!
//! The lists are those of resource-agents 4.12, so that a resource behaves
//! the same after switching agents.

/// Types that never sit on a local block device (`set_blockdevice_var`).
pub fn is_not_block(fstype: &str) -> bool {
    matches!(
        fstype,
        "nfs4"
            | "nfs"
            | "efs"
            | "smbfs"
            | "cifs"
            | "none"
            | "glusterfs"
            | "ceph"
            | "tmpfs"
            | "overlay"
            | "overlayfs"
            | "rozofs"
            | "zfs"
            | "cvfs"
            | "lustre"
    )
}

/// Network filesystems, unmounted with `umount -f` so a dead server does
/// not hang the stop.
pub fn is_network(fstype: &str) -> bool {
    matches!(fstype, "nfs4" | "nfs" | "efs" | "cifs" | "smbfs")
}

/// Types for which `run_fsck=auto` skips fsck: journalled, network,
/// cluster or virtual filesystems recover on their own.
pub fn fsck_skipped(fstype: &str) -> bool {
    matches!(
        fstype,
        "ext4"
            | "ext4dev"
            | "ext3"
            | "reiserfs"
            | "reiser4"
            | "nss"
            | "xfs"
            | "jfs"
            | "vfat"
            | "fat"
            | "nfs4"
            | "nfs"
            | "efs"
            | "cifs"
            | "smbfs"
            | "ocfs2"
            | "gfs2"
            | "none"
            | "lustre"
            | "glusterfs"
            | "ceph"
            | "tmpfs"
            | "overlay"
            | "overlayfs"
            | "rozofs"
            | "zfs"
            | "cvfs"
    )
}

/// Whether a filesystem may be mounted by every instance of a clone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneSafety {
    /// Network or cluster filesystems: made for it.
    Safe,
    /// Not cluster-aware, but the user vouched for it (`force_clones`) or
    /// mounts it read-only: allowed with a warning.
    Tolerated,
    /// Not cluster-aware: concurrent mounts corrupt it.
    Refused,
}

/// The clone guard. Journalled local filesystems are refused even with
/// `ro`, because mounting them replays the journal, which writes; an
/// unknown type is tolerated only read-only.
pub fn clone_safety(fstype: &str, read_only: bool, force_clones: bool) -> CloneSafety {
    match fstype {
        "nfs4" | "nfs" | "efs" | "smbfs" | "cifs" | "none" | "gfs2" | "glusterfs" | "ceph"
        | "ocfs2" | "overlay" | "overlayfs" | "tmpfs" | "cvfs" | "lustre" => CloneSafety::Safe,
        "ext4" | "ext4dev" | "ext3" | "reiserfs" | "reiser4" | "xfs" | "jfs" => {
            if force_clones {
                CloneSafety::Tolerated
            } else {
                CloneSafety::Refused
            }
        }
        _ if read_only => CloneSafety::Tolerated,
        _ => CloneSafety::Refused,
    }
}

/// The name under which the kernel lists support for `fstype` in
/// `/proc/filesystems` (FUSE-based types appear as `fuse`, EFS is NFSv4).
pub fn kernel_name(fstype: &str) -> &str {
    if fstype.starts_with("fuse.") || fstype == "glusterfs" || fstype == "rozofs" {
        "fuse"
    } else if fstype == "efs" {
        "nfs4"
    } else {
        fstype
    }
}

/// Whether `/proc/filesystems` (its text) lists `fstype`. An empty type
/// and `none` need no kernel support of their own.
pub fn kernel_supports(proc_filesystems: &str, fstype: &str) -> bool {
    if fstype.is_empty() || fstype == "none" {
        return true;
    }
    let want = kernel_name(fstype);
    proc_filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_guard_matches_the_reference_table() {
        assert_eq!(clone_safety("ext4", false, false), CloneSafety::Refused);
        assert_eq!(clone_safety("ext4", true, false), CloneSafety::Refused);
        assert_eq!(clone_safety("xfs", false, true), CloneSafety::Tolerated);
        assert_eq!(clone_safety("gfs2", false, false), CloneSafety::Safe);
        assert_eq!(clone_safety("nfs", false, false), CloneSafety::Safe);
        assert_eq!(clone_safety("btrfs", false, false), CloneSafety::Refused);
        assert_eq!(clone_safety("btrfs", true, false), CloneSafety::Tolerated);
        assert_eq!(clone_safety("", false, true), CloneSafety::Refused);
    }

    #[test]
    fn proc_filesystems_lookup() {
        let pf = "nodev\tsysfs\nnodev\ttmpfs\n\text3\n\text4\nnodev\tfuse\nnodev\tnfs4\n";
        assert!(kernel_supports(pf, "ext4"));
        assert!(kernel_supports(pf, "tmpfs"));
        assert!(kernel_supports(pf, "fuse.sshfs"));
        assert!(kernel_supports(pf, "efs"));
        assert!(kernel_supports(pf, ""));
        assert!(kernel_supports(pf, "none"));
        assert!(!kernel_supports(pf, "xfs"));
        assert!(!kernel_supports(pf, "ext"));
    }

    #[test]
    fn fsck_and_block_lists() {
        assert!(fsck_skipped("ext4") && fsck_skipped("xfs") && fsck_skipped("none"));
        assert!(!fsck_skipped("ext2") && !fsck_skipped("") && !fsck_skipped("btrfs"));
        assert!(is_not_block("nfs") && is_not_block("tmpfs") && !is_not_block("ext4"));
        assert!(is_network("cifs") && !is_network("glusterfs"));
    }
}
