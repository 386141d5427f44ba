//! `create-md`: fresh metadata on the backing disk, offline.
//!
//! As `drbdmeta create-md`, the command refuses to destroy metadata by
//! surprise: when the place already holds shimai metadata (or something
//! that looks like damaged metadata), it asks on a terminal, refuses
//! without one, and overwrites only with `--force`. The checks come first
//! ([`plan`]), the write second ([`execute`]), so the refusal is decided
//! from what is on disk before anything is touched.
//!
//! It also names what else it finds: DRBD's metadata or shimai's first
//! layout, with a pointer to `convert-md` (which keeps the sync state that
//! `create-md` would forget), and a filesystem at the start of the data
//! area. Internal metadata takes the end of the disk; when the data area
//! it leaves is smaller than that filesystem, `create-md` refuses without
//! `--force` (a terminal's "yes" is not enough) and names both sizes.

use std::fs::{File, OpenOptions};
use std::io::Read;

use shimai_config::{MetaDisk, Resource};
use shimai_metadata::{create, probe, BlockIo, Found as MdFound, Layout, MetaDevice, Placement};

use crate::error::AdmError;

/// Where one volume's metadata goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdTarget {
    pub resource: String,
    pub volume: u32,
    /// The backing (data) device or file.
    pub data: String,
    /// The device holding the metadata (`data` when internal).
    pub md: String,
    pub placement: Placement,
    pub al_extents: u32,
}

/// The volumes of `resource` on `node` that have a backing disk.
pub fn targets(resource: &Resource, node: &str, file: &str) -> Result<Vec<MdTarget>, AdmError> {
    let incomplete = |what: String| AdmError::Incomplete {
        file: file.to_string(),
        resource: resource.name.clone(),
        what,
    };
    let host = resource
        .host_for(node)
        .ok_or_else(|| incomplete(format!("no 'on {node}' section")))?;
    let out: Vec<MdTarget> = host
        .volumes
        .iter()
        .filter_map(|v| {
            let data = v.disk.clone()?;
            let (md, placement) = match &v.meta_disk {
                MetaDisk::Internal => (data.clone(), Placement::Internal),
                MetaDisk::External { path, index } => (
                    path.clone(),
                    index.map_or(Placement::External, Placement::Indexed),
                ),
            };
            Some(MdTarget {
                resource: resource.name.clone(),
                volume: v.number,
                data,
                md,
                placement,
                al_extents: v.disk_options.al_extents,
            })
        })
        .collect();
    if out.is_empty() {
        return Err(incomplete(format!(
            "'on {node}' has no backing disk ('disk none'); there is no metadata to create"
        )));
    }
    Ok(out)
}

/// What is at the metadata's place now.
#[derive(Debug)]
pub enum Found {
    Nothing,
    /// Valid metadata, described for the question.
    Metadata(String),
    /// Something with shimai's or DRBD's magic that does not decode.
    Damaged(String),
    /// DRBD's metadata or shimai's first layout: `convert-md` keeps its
    /// state, `create-md` would forget it.
    Convertible(String),
}

/// A filesystem (or volume header) at the start of the data area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filesystem {
    /// "ext4", "xfs", ...
    pub kind: &'static str,
    /// Bytes it spans, when its superblock says.
    pub size: Option<u64>,
}

/// The checked plan for one volume.
#[derive(Debug)]
pub struct Plan {
    pub target: MdTarget,
    pub layout: Layout,
    pub found: Found,
    /// What the data area starts with.
    pub filesystem: Option<Filesystem>,
}

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn le64(b: &[u8], o: usize) -> u64 {
    u64::from(le32(b, o)) | (u64::from(le32(b, o + 4)) << 32)
}
fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn be64(b: &[u8], o: usize) -> u64 {
    (u64::from(be32(b, o)) << 32) | u64::from(be32(b, o + 4))
}

/// Recognises a filesystem or volume header from the first 68 KiB of a
/// device by its superblock magic, as blkid does, with the size it spans
/// where the superblock gives it (ext2/3/4, XFS, btrfs).
pub fn identify_filesystem(head: &[u8]) -> Option<Filesystem> {
    let at = |o: usize, magic: &[u8]| head.get(o..o + magic.len()) == Some(magic);
    if head.len() >= 2048 && le16(head, 1024 + 0x38) == 0xEF53 {
        let sb = 1024;
        let incompat = le32(head, sb + 0x60);
        let compat = le32(head, sb + 0x5c);
        let ro_compat = le32(head, sb + 0x64);
        let mut blocks = u64::from(le32(head, sb + 4));
        if incompat & 0x80 != 0 {
            blocks |= u64::from(le32(head, sb + 0x150)) << 32;
        }
        let log = le32(head, sb + 24).min(16);
        let kind = if incompat & 0x2c0 != 0 || ro_compat & 0x8 != 0 {
            "ext4" // extents, 64bit, flex_bg or huge_file
        } else if compat & 0x4 != 0 {
            "ext3" // has_journal
        } else {
            "ext2"
        };
        return Some(Filesystem {
            kind,
            size: Some(blocks.saturating_mul(1024 << log)),
        });
    }
    if at(0, b"XFSB") && head.len() >= 16 {
        return Some(Filesystem {
            kind: "xfs",
            size: Some(u64::from(be32(head, 4)).saturating_mul(be64(head, 8))),
        });
    }
    if at(65536 + 64, b"_BHRfS_M") && head.len() >= 65536 + 0x78 {
        return Some(Filesystem {
            kind: "btrfs",
            size: Some(le64(head, 65536 + 0x70)),
        });
    }
    let others: [(usize, &[u8], &'static str); 6] = [
        (0, b"LUKS\xba\xbe", "LUKS encrypted volume"),
        (512, b"LABELONE", "LVM physical volume"),
        (4096 - 10, b"SWAPSPACE2", "swap area"),
        (4096 - 10, b"SWAP-SPACE", "swap area"),
        (0x52, b"FAT32   ", "vfat filesystem"),
        (0x36, b"FAT16   ", "vfat filesystem"),
    ];
    others
        .iter()
        .find(|(o, m, _)| at(*o, m))
        .map(|(_, _, kind)| Filesystem { kind, size: None })
}

fn open_rw(path: &str) -> Result<File, AdmError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|source| AdmError::Device {
            path: path.to_string(),
            source,
        })
}

fn size_of(path: &str) -> Result<u64, AdmError> {
    let f = File::open(path).map_err(|source| AdmError::Device {
        path: path.to_string(),
        source,
    })?;
    f.size().map_err(|source| AdmError::Device {
        path: path.to_string(),
        source,
    })
}

/// Computes the layout from the devices' sizes and looks at what is there.
pub fn plan(target: &MdTarget) -> Result<Plan, AdmError> {
    let data_size = size_of(&target.data)?;
    let layout = match target.placement {
        Placement::Internal => Layout::internal(&target.data, data_size, target.al_extents)?,
        Placement::External | Placement::Indexed(_) => {
            let index = match target.placement {
                Placement::Indexed(i) => Some(i),
                _ => None,
            };
            Layout::external(
                &target.md,
                size_of(&target.md)?,
                data_size,
                target.al_extents,
                index,
            )?
        }
    };
    let file = File::open(&target.md).map_err(|source| AdmError::Device {
        path: target.md.clone(),
        source,
    })?;
    let dev = MetaDevice::new(&file, target.md.as_str(), target.resource.as_str());
    let found = match probe(&dev, target.placement)? {
        MdFound::Nothing => Found::Nothing,
        f @ MdFound::Shimai(_) => Found::Metadata(f.describe()),
        f @ (MdFound::Drbd(_) | MdFound::Legacy(_)) => Found::Convertible(f.describe()),
        MdFound::Damaged(e) => Found::Damaged(e.to_string()),
    };
    let data = File::open(&target.data).map_err(|source| AdmError::Device {
        path: target.data.clone(),
        source,
    })?;
    let mut head = vec![0u8; (68 << 10).min(data_size as usize)];
    data.read_at(&mut head, 0)
        .map_err(|source| AdmError::Device {
            path: target.data.clone(),
            source,
        })?;
    Ok(Plan {
        target: target.clone(),
        layout,
        found,
        filesystem: identify_filesystem(&head),
    })
}

/// How to treat existing metadata.
pub enum Overwrite<'a> {
    /// `--force`.
    Yes,
    /// A terminal: ask with this function.
    Ask(&'a mut dyn FnMut(&str) -> bool),
    /// No terminal and no `--force`.
    Refuse,
}

/// Writes the metadata when the plan allows it; returns the line to print.
///
/// Refused without `--force` (never asked): a data area smaller than the
/// filesystem it starts with. Asked on a terminal, refused without one:
/// metadata already there (DRBD's, with a pointer to `convert-md`).
pub fn execute(plan: &Plan, overwrite: &mut Overwrite<'_>) -> Result<String, AdmError> {
    let t = &plan.target;
    let forced = matches!(overwrite, Overwrite::Yes);
    let mut fs_note = String::new();
    if let Some(fs) = &plan.filesystem {
        let capacity = plan.layout.capacity;
        let shrinks = match fs.size {
            Some(size) => size > capacity,
            // Unknown extent: it may reach the end of the device.
            None => t.placement == Placement::Internal,
        };
        let spans = fs.size.map_or("of unknown size".to_string(), |s| {
            format!("of {} KiB", s / 1024)
        });
        if shrinks && !forced {
            return Err(AdmError::WouldOverwrite(format!(
                "{}: {} holds {} {} {spans}, larger than the {} KiB of data the metadata would \
                 leave: its end would be overwritten; {}shrink the filesystem to at most {} KiB \
                 first, or use external metadata (`meta-disk DEVICE;`); \
                 `shimaiadm create-md --force {}` overwrites anyway",
                t.resource,
                t.data,
                article(fs.kind),
                fs.kind,
                capacity / 1024,
                convert_hint(&plan.found, &t.resource, "; "),
                capacity / 1024,
                t.resource
            )));
        }
        fs_note = format!(
            "; {} {} {spans} starts the data area{}",
            article(fs.kind),
            fs.kind,
            if shrinks {
                " and was cut short (--force)"
            } else {
                " and is kept"
            }
        );
    }
    let existing = match &plan.found {
        Found::Nothing => None,
        Found::Metadata(what) | Found::Damaged(what) | Found::Convertible(what) => {
            Some(what.clone())
        }
    };
    if let Some(what) = existing {
        let hint = convert_hint(&plan.found, &t.resource, "; ");
        let mut line = convert_hint(&plan.found, &t.resource, ".\n");
        if let Some(first) = line.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        let question = format!(
            "{}: {} already holds {what}.\n{line}Do you want to overwrite? [yes/no] ",
            t.resource, t.md
        );
        let go = match overwrite {
            Overwrite::Yes => true,
            Overwrite::Ask(ask) => ask(&question),
            Overwrite::Refuse => {
                return Err(AdmError::WouldOverwrite(format!(
                    "{}: {} already holds {what}; {hint}refusing to overwrite it without a terminal to confirm; use `shimaiadm create-md --force {}` to overwrite",
                    t.resource, t.md, t.resource
                )))
            }
        };
        if !go {
            return Err(AdmError::WouldOverwrite(format!(
                "{}: kept the existing metadata on {} (not confirmed)",
                t.resource, t.md
            )));
        }
    }
    let file = open_rw(&t.md)?;
    let dev = MetaDevice::new(file, t.md.as_str(), t.resource.as_str());
    create(dev, plan.layout, random_u64())?;
    Ok(format!(
        "{}: new metadata on {} ({}, {} KiB of data, volume {}): Inconsistent, just-created generation{fs_note}",
        t.resource,
        t.md,
        t.placement,
        plan.layout.capacity / 1024,
        t.volume
    ))
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u', 'L', 'x']) {
        "an"
    } else {
        "a"
    }
}

/// "run convert-md" when the metadata found can be converted; empty
/// otherwise. Ends with `end` (". " or "; ").
fn convert_hint(found: &Found, resource: &str, end: &str) -> String {
    match found {
        Found::Convertible(_) => format!(
            "run `shimaiadm convert-md {resource}` instead to keep its generation identifiers \
             and bitmap (no full sync){end}"
        ),
        _ => String::new(),
    }
}

/// A device UUID: it only has to differ between disks, so the kernel's
/// random source is plenty; without it, time and pid still differ.
fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_le_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shimai_metadata::{detect, Detected};

    fn resource(dir: &std::path::Path, meta: &str) -> Resource {
        let text = format!(
            "resource r0 {{
               on a {{ device /dev/drbd0; disk {d}/data; address 127.0.0.1:7000; meta-disk {meta}; }}
               on b {{ device /dev/drbd0; disk {d}/data; address 127.0.0.2:7000; meta-disk internal; }} }}",
            d = dir.display()
        );
        let p = shimai_config::parse_str(&text, "t.conf").unwrap();
        p.config.resource("r0").unwrap().clone()
    }

    fn sparse(path: &std::path::Path, size: u64) {
        File::create(path).unwrap().set_len(size).unwrap();
    }

    #[test]
    fn internal_metadata_is_created_then_found_and_not_overwritten_silently() {
        let dir = tempfile::tempdir().unwrap();
        sparse(&dir.path().join("data"), 64 << 20);
        let r = resource(dir.path(), "internal");
        let t = targets(&r, "a", "t.conf").unwrap();
        assert_eq!(t.len(), 1);
        let p = plan(&t[0]).unwrap();
        assert!(matches!(p.found, Found::Nothing));
        let line = execute(&p, &mut Overwrite::Refuse).unwrap();
        assert!(line.contains("new metadata"), "{line}");

        let file = File::open(dir.path().join("data")).unwrap();
        let dev = MetaDevice::new(&file, "data", "r0");
        assert!(matches!(
            detect(&dev, Placement::Internal).unwrap(),
            Detected::Present(_)
        ));

        let p = plan(&t[0]).unwrap();
        assert!(matches!(p.found, Found::Metadata(_)));
        let e = execute(&p, &mut Overwrite::Refuse).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("--force"), "{e}");
        let mut asked = String::new();
        let mut no = |q: &str| {
            asked = q.to_string();
            false
        };
        let e = execute(&p, &mut Overwrite::Ask(&mut no)).unwrap_err();
        assert!(e.to_string().contains("not confirmed"), "{e}");
        assert!(asked.contains("Do you want to overwrite? [yes/no]"));
        assert!(execute(&p, &mut Overwrite::Yes).is_ok());
    }

    #[test]
    fn external_metadata_goes_to_its_own_device() {
        let dir = tempfile::tempdir().unwrap();
        sparse(&dir.path().join("data"), 64 << 20);
        sparse(&dir.path().join("md"), 8 << 20);
        let meta = format!("{}/md", dir.path().display());
        let r = resource(dir.path(), &meta);
        let t = targets(&r, "a", "t.conf").unwrap();
        assert_eq!(t[0].placement, Placement::External);
        let p = plan(&t[0]).unwrap();
        assert_eq!(
            p.layout.capacity,
            64 << 20,
            "external metadata takes no data space"
        );
        execute(&p, &mut Overwrite::Refuse).unwrap();
        let file = File::open(dir.path().join("md")).unwrap();
        let dev = MetaDevice::new(&file, "md", "r0");
        assert!(matches!(
            detect(&dev, Placement::External).unwrap(),
            Detected::Present(_)
        ));
    }

    #[test]
    fn a_missing_or_tiny_disk_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let r = resource(dir.path(), "internal");
        let t = targets(&r, "a", "t.conf").unwrap();
        let e = plan(&t[0]).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("/data"), "{e}");
        sparse(&dir.path().join("data"), 1 << 20);
        let e = plan(&t[0]).unwrap_err();
        assert_eq!(
            e.exit_code(),
            10,
            "too small for the configured device: {e}"
        );
    }

    /// An ext2 superblock spanning `blocks` 1 KiB blocks.
    fn ext2_head(blocks: u32) -> Vec<u8> {
        let mut b = vec![0u8; 68 << 10];
        b[1024 + 4..1024 + 8].copy_from_slice(&blocks.to_le_bytes());
        b[1024 + 0x38..1024 + 0x3a].copy_from_slice(&0xEF53u16.to_le_bytes());
        b
    }

    #[test]
    fn filesystems_are_named_with_their_size() {
        assert_eq!(
            identify_filesystem(&ext2_head(65536)),
            Some(Filesystem {
                kind: "ext2",
                size: Some(64 << 20)
            })
        );
        let mut xfs = vec![0u8; 4096];
        xfs[0..4].copy_from_slice(b"XFSB");
        xfs[4..8].copy_from_slice(&4096u32.to_be_bytes());
        xfs[8..16].copy_from_slice(&1000u64.to_be_bytes());
        assert_eq!(identify_filesystem(&xfs).unwrap().size, Some(4096 * 1000));
        assert_eq!(identify_filesystem(&vec![0u8; 68 << 10]), None);
    }

    #[test]
    fn a_filesystem_that_fills_the_disk_is_not_cut_short_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        sparse(&path, 64 << 20);
        std::fs::write(&path, ext2_head(65536)).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        let r = resource(dir.path(), "internal");
        let t = targets(&r, "a", "t.conf").unwrap();
        let p = plan(&t[0]).unwrap();
        let mut yes = |_: &str| true;
        let e = execute(&p, &mut Overwrite::Ask(&mut yes)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("an ext2 of 65536 KiB"), "{msg}");
        assert!(
            msg.contains(&format!("{} KiB", p.layout.capacity / 1024)),
            "{msg}"
        );
        assert!(msg.contains("--force"), "{msg}");
        let line = execute(&p, &mut Overwrite::Yes).unwrap();
        assert!(line.contains("cut short (--force)"), "{line}");
    }
}
