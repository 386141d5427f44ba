//! Finding the block device behind `UUID=`/`LABEL=` (and `-U`, `-L`,
//! `--uuid=`, `--label=`) without forking blkid.
//!
//! udev's `/dev/disk/by-uuid` and `/dev/disk/by-label` links are used when
//! they exist. Containers and minimal hosts have no udev, so the fallback
//! reads the superblocks of the block devices listed in `/proc/partitions`
//! for the filesystems whose identity layout is simple and stable (ext2/3/4,
//! XFS, Btrfs). Anything else is left to `mount`, which asks libblkid.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::config::TagKind;

/// A filesystem's identity as read from its superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub fstype: &'static str,
    /// Lower-case, hyphenated.
    pub uuid: String,
    pub label: String,
}

/// Filesystem types whose identity [`identify`] can read.
pub fn scannable(fstype: &str) -> bool {
    matches!(
        fstype,
        "ext2" | "ext3" | "ext4" | "ext4dev" | "xfs" | "btrfs"
    )
}

fn format_uuid(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Reads the identity from the first 68 KiB of a device (`head`), which
/// covers the ext, XFS and Btrfs superblocks.
pub fn identify(head: &[u8]) -> Option<Identity> {
    let get = |off: usize, len: usize| head.get(off..off + len);
    // ext2/3/4: superblock at 1024, magic 0xEF53 at 0x38.
    if get(1024 + 0x38, 2) == Some(&[0x53, 0xef]) {
        let compat_journal = get(1024 + 0x5c, 4).is_some_and(|f| f[0] & 0x04 != 0);
        let incompat =
            get(1024 + 0x60, 4).map_or(0, |f| u32::from_le_bytes([f[0], f[1], f[2], f[3]]));
        let fstype = if incompat & 0x2c0 != 0 {
            "ext4" // extents, 64bit or flex_bg
        } else if compat_journal {
            "ext3"
        } else {
            "ext2"
        };
        return Some(Identity {
            fstype,
            uuid: format_uuid(get(1024 + 0x68, 16)?),
            label: c_string(get(1024 + 0x78, 16)?),
        });
    }
    if get(0, 4) == Some(b"XFSB") {
        return Some(Identity {
            fstype: "xfs",
            uuid: format_uuid(get(32, 16)?),
            label: c_string(get(108, 12)?),
        });
    }
    if get(0x10040, 8) == Some(b"_BHRfS_M") {
        return Some(Identity {
            fstype: "btrfs",
            uuid: format_uuid(get(0x10020, 16)?),
            label: c_string(get(0x1012b, 256)?),
        });
    }
    None
}

/// Whether an identity carries the tag.
pub fn matches(id: &Identity, kind: TagKind, value: &str) -> bool {
    match kind {
        TagKind::Uuid => id.uuid.eq_ignore_ascii_case(value),
        TagKind::Label => id.label == value,
    }
}

/// The block device names listed in `/proc/partitions` (its text).
pub fn partition_names(proc_partitions: &str) -> Vec<String> {
    proc_partitions
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().nth(3))
        .map(str::to_string)
        .collect()
}

fn is_block(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_block_device())
}

fn read_head(dev: &Path) -> Option<Vec<u8>> {
    let mut f = File::open(dev).ok()?;
    let mut buf = vec![0u8; 0x10000 + 0x1000];
    f.seek(SeekFrom::Start(0)).ok()?;
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf.truncate(got);
    Some(buf)
}

/// Finds the device carrying the tag: the udev link first, then a scan.
pub fn resolve(kind: TagKind, value: &str) -> Option<PathBuf> {
    let dir = match kind {
        TagKind::Uuid => "/dev/disk/by-uuid",
        TagKind::Label => "/dev/disk/by-label",
    };
    let link = Path::new(dir).join(value);
    if is_block(&link) {
        return Some(link);
    }
    let partitions = std::fs::read_to_string("/proc/partitions").ok()?;
    partition_names(&partitions)
        .into_iter()
        .map(|n| Path::new("/dev").join(n))
        .filter(|p| is_block(p))
        .find(|p| {
            read_head(p)
                .and_then(|h| identify(&h))
                .is_some_and(|id| matches(&id, kind, value))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(size: usize, writes: &[(usize, &[u8])]) -> Vec<u8> {
        let mut v = vec![0u8; size];
        for (off, b) in writes {
            v[*off..*off + b.len()].copy_from_slice(b);
        }
        v
    }

    const UUID: [u8; 16] = [
        0x57, 0xfc, 0xdd, 0xb2, 0xff, 0x16, 0x43, 0x0d, 0x91, 0xbb, 0x27, 0x8b, 0x9f, 0x72, 0xb4,
        0x9f,
    ];

    #[test]
    fn ext4_superblock() {
        let head = image(
            4096,
            &[
                (1024 + 0x38, &[0x53, 0xef]),
                (1024 + 0x60, &[0xc2, 0x02, 0, 0]),
                (1024 + 0x68, &UUID),
                (1024 + 0x78, b"data\0"),
            ],
        );
        let id = identify(&head).unwrap();
        assert_eq!(id.fstype, "ext4");
        assert_eq!(id.uuid, "57fcddb2-ff16-430d-91bb-278b9f72b49f");
        assert_eq!(id.label, "data");
        assert!(matches(
            &id,
            TagKind::Uuid,
            "57FCDDB2-FF16-430D-91BB-278B9F72B49F"
        ));
        assert!(matches(&id, TagKind::Label, "data"));
        assert!(!matches(&id, TagKind::Label, "Data"));
    }

    #[test]
    fn xfs_and_btrfs_superblocks() {
        let xfs = image(4096, &[(0, b"XFSB"), (32, &UUID), (108, b"xlabel\0")]);
        let id = identify(&xfs).unwrap();
        assert_eq!((id.fstype, id.label.as_str()), ("xfs", "xlabel"));
        let btrfs = image(
            0x11000,
            &[(0x10040, b"_BHRfS_M"), (0x10020, &UUID), (0x1012b, b"b\0")],
        );
        let id = identify(&btrfs).unwrap();
        assert_eq!((id.fstype, id.label.as_str()), ("btrfs", "b"));
        assert_eq!(id.uuid, "57fcddb2-ff16-430d-91bb-278b9f72b49f");
    }

    #[test]
    fn unknown_and_short_images() {
        assert_eq!(identify(&[0u8; 4096]), None);
        assert_eq!(identify(b"XFSB"), None);
        assert_eq!(identify(&[]), None);
    }

    #[test]
    fn proc_partitions_names() {
        let text = "major minor  #blocks  name\n\n 253        0  268435456 vda\n   7        0      65536 loop0\n";
        assert_eq!(partition_names(text), ["vda", "loop0"]);
    }
}
