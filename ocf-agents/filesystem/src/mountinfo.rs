//! The mount table, read from `/proc/self/mountinfo`.
//!
//! mountinfo rather than `/proc/mounts` because it also gives each mount's
//! device number (how stop finds other mounts of the same filesystem and
//! the processes using it) and its root (bind mounts of subdirectories).
//! The kernel writes the file in pieces, so a read can mix two states when
//! mounts change meanwhile; [`read_stable`] reads until two reads agree, as
//! the reference agent does since resource-agents PR #1337.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    /// The filesystem's device number (`st_dev` of files on it).
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem that is mounted here (not "/" for
    /// bind mounts of a subdirectory).
    pub root: PathBuf,
    pub mountpoint: PathBuf,
    /// Per-mount options (rw, noatime, ...).
    pub mount_options: String,
    pub fstype: String,
    /// The mount source: a device path, `server:/export`, `tmpfs`...
    pub source: String,
    /// Per-superblock options.
    pub super_options: String,
}

/// A malformed mountinfo line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Decodes the kernel's octal escapes (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash). A backslash not followed by three octal
/// digits is kept as it is.
pub fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' {
            let digits = &field[i + 1..(i + 4).min(field.len())];
            if digits.len() == 3 && digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

fn path(field: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(field)))
}

fn text(field: &[u8]) -> String {
    String::from_utf8_lossy(&unescape(field)).into_owned()
}

fn number(field: &[u8], line: usize, reason: &'static str) -> Result<u32, ParseError> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ParseError { line, reason })
}

/// Parses one line (1-based `line` for errors).
pub fn parse_line(raw: &[u8], line: usize) -> Result<Mount, ParseError> {
    let fields: Vec<&[u8]> = raw.split(|&b| b == b' ').collect();
    // The separator comes after the six fixed fields (and any optional ones): a mount point
    // or root that is itself "-" is not it.
    let sep = fields
        .iter()
        .skip(6)
        .position(|f| *f == b"-")
        .map(|i| i + 6)
        .ok_or(ParseError {
            line,
            reason: "no \"-\" separator before the filesystem type",
        })?;
    if sep < 6 || fields.len() < sep + 3 {
        return Err(ParseError {
            line,
            reason: "too few fields",
        });
    }
    let (major, minor) = {
        let mm = fields[2];
        let colon = mm.iter().position(|&b| b == b':').ok_or(ParseError {
            line,
            reason: "device number is not major:minor",
        })?;
        (
            number(&mm[..colon], line, "bad major device number")?,
            number(&mm[colon + 1..], line, "bad minor device number")?,
        )
    };
    Ok(Mount {
        id: number(fields[0], line, "bad mount id")?,
        parent: number(fields[1], line, "bad parent id")?,
        major,
        minor,
        root: path(fields[3]),
        mountpoint: path(fields[4]),
        mount_options: text(fields[5]),
        fstype: text(fields[sep + 1]),
        source: text(fields[sep + 2]),
        super_options: fields.get(sep + 3).map(|f| text(f)).unwrap_or_default(),
    })
}

/// The mount table in kernel order (mounts made later come later).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountTable {
    pub mounts: Vec<Mount>,
}

impl MountTable {
    pub fn parse(content: &[u8]) -> Result<MountTable, ParseError> {
        let mounts = content
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(i, l)| parse_line(l, i + 1))
            .collect::<Result<_, _>>()?;
        Ok(MountTable { mounts })
    }

    /// The topmost mount at exactly `mountpoint`.
    pub fn at(&self, mountpoint: &Path) -> Option<&Mount> {
        self.mounts
            .iter()
            .rev()
            .find(|m| m.mountpoint == mountpoint)
    }

    /// Mounts strictly below `mountpoint`, in table order.
    pub fn below<'a>(&'a self, mountpoint: &'a Path) -> impl Iterator<Item = &'a Mount> + 'a {
        self.mounts
            .iter()
            .filter(move |m| m.mountpoint != mountpoint && m.mountpoint.starts_with(mountpoint))
    }
}

/// The mountinfo of this process's mount namespace.
pub const PROC_MOUNTINFO: &str = "/proc/self/mountinfo";

/// Reads and parses the mount table until two consecutive reads are
/// identical (at most a few times; the last read is used when the table
/// keeps changing).
pub fn read_stable(file: &Path) -> Result<MountTable, String> {
    let read = || std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()));
    let mut previous = read()?;
    for _ in 0..10 {
        let current = read()?;
        if current == previous {
            break;
        }
        previous = current;
    }
    MountTable::parse(&previous).map_err(|e| format!("{}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"\
22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda rw,errors=remount-ro
35 22 0:31 / /tmp rw,nosuid,nodev shared:15 - tmpfs tmpfs rw,size=1024k
100 22 7:3 / /srv/my\\040data rw,noatime shared:50 - ext4 /dev/loop3 rw
101 100 0:40 / /srv/my\\040data/sub rw - tmpfs none rw
102 22 7:3 /dir /srv/other\\011tab rw - ext4 /dev/loop3 rw
103 22 0:55 / /mnt/back\\134slash rw master:3 propagate_from:1 - nfs4 srv:/e\\040x rw,vers=4.2
";

    #[test]
    fn parses_fields_and_escapes() {
        let t = MountTable::parse(SAMPLE).unwrap();
        assert_eq!(t.mounts.len(), 6);
        let m = &t.mounts[2];
        assert_eq!((m.id, m.parent, m.major, m.minor), (100, 22, 7, 3));
        assert_eq!(m.mountpoint, Path::new("/srv/my data"));
        assert_eq!(m.mount_options, "rw,noatime");
        assert_eq!(
            (m.fstype.as_str(), m.source.as_str()),
            ("ext4", "/dev/loop3")
        );
        assert_eq!(t.mounts[4].root, Path::new("/dir"));
        assert_eq!(t.mounts[4].mountpoint, Path::new("/srv/other\ttab"));
        let nfs = &t.mounts[5];
        assert_eq!(nfs.mountpoint, Path::new("/mnt/back\\slash"));
        assert_eq!(nfs.source, "srv:/e x");
        assert_eq!(nfs.fstype, "nfs4");
        assert_eq!(nfs.super_options, "rw,vers=4.2");
    }

    #[test]
    fn lookups() {
        let t = MountTable::parse(SAMPLE).unwrap();
        assert_eq!(t.at(Path::new("/srv/my data")).unwrap().id, 100);
        assert!(t.at(Path::new("/srv/my")).is_none());
        let below: Vec<u32> = t.below(Path::new("/srv/my data")).map(|m| m.id).collect();
        assert_eq!(below, [101]);
        // A sibling whose name merely starts with the same text is not below.
        assert_eq!(t.below(Path::new("/srv/my")).count(), 0);
    }

    #[test]
    fn unescape_edge_cases() {
        assert_eq!(unescape(b"a\\040b"), b"a b");
        assert_eq!(unescape(b"a\\012"), b"a\n");
        assert_eq!(unescape(b"trailing\\"), b"trailing\\");
        assert_eq!(unescape(b"\\04"), b"\\04");
        assert_eq!(unescape(b"\\089"), b"\\089");
        assert_eq!(unescape(b"\\777x"), b"\\777x");
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let e = MountTable::parse(b"22 1 253:1 / / rw - ext4 /dev/vda rw\nbad line\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = MountTable::parse(b"x 1 253:1 / / rw - ext4 /dev/vda rw\n").unwrap_err();
        assert_eq!(e.reason, "bad mount id");
        let e = MountTable::parse(b"1 1 2531 / / rw - ext4 /dev/vda rw\n").unwrap_err();
        assert!(e.to_string().contains("major:minor"));
    }

    /// The kernel's escaping (fs/proc_namespace.c `mangle`).
    fn mangle(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &c in b {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\\') {
                out.extend(format!("\\{c:03o}").bytes());
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn a_mount_point_named_dash_is_not_the_separator() {
        let m = parse_line(b"7 1 8:1 / - rw shared:1 - ext4 /dev/sda1 rw", 1).unwrap();
        assert_eq!(m.mountpoint, std::path::PathBuf::from("-"));
        assert_eq!(m.fstype, "ext4");
    }

    proptest::proptest! {
        #[test]
        fn unescape_inverts_the_kernel_escaping(path in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert_eq!(unescape(&mangle(&path)), path);
        }

        #[test]
        fn any_mount_point_survives_a_round_trip(path in proptest::collection::vec(1u8..=255, 1..64)) {
            let mut line = b"7 1 8:1 / ".to_vec();
            line.extend(mangle(&path));
            line.extend(b" rw shared:1 - ext4 /dev/sda1 rw");
            let m = parse_line(&line, 1).unwrap();
            proptest::prop_assert_eq!(m.mountpoint.into_os_string().into_vec(), path);
            proptest::prop_assert_eq!(m.fstype, "ext4");
        }

        #[test]
        fn parsing_never_panics(text in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = MountTable::parse(&text);
        }
    }

    #[test]
    fn reads_this_process_table() {
        let t = read_stable(Path::new(PROC_MOUNTINFO)).unwrap();
        assert!(t.at(Path::new("/")).is_some());
    }
}
