//! `create-md`: fresh metadata on the backing disk, offline.
//!
//! As `drbdmeta create-md`, the command refuses to destroy metadata by
//! surprise: when the place already holds shimai metadata (or something
//! that looks like damaged metadata), it asks on a terminal, refuses
//! without one, and overwrites only with `--force`. The checks come first
//! ([`plan`]), the write second ([`execute`]), so the refusal is decided
//! from what is on disk before anything is touched.

use std::fs::{File, OpenOptions};
use std::io::Read;

use shimai_config::{MetaDisk, Resource};
use shimai_metadata::{create, detect, Detected, Layout, MetaDevice, Placement};

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
    /// Something with shimai's magic that does not decode.
    Damaged(String),
}

/// The checked plan for one volume.
#[derive(Debug)]
pub struct Plan {
    pub target: MdTarget,
    pub layout: Layout,
    pub found: Found,
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
    use shimai_metadata::BlockIo;
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
    let found = match detect(&dev, target.placement)? {
        Detected::Absent => Found::Nothing,
        Detected::Present(sb) => Found::Metadata(format!(
            "shimai metadata ({}, {} KiB of data, current generation {:016X})",
            sb.layout.placement,
            sb.data_size / 1024,
            sb.gi.current
        )),
        Detected::Damaged(e) => Found::Damaged(e.to_string()),
    };
    Ok(Plan {
        target: target.clone(),
        layout,
        found,
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
pub fn execute(plan: &Plan, overwrite: &mut Overwrite<'_>) -> Result<String, AdmError> {
    let t = &plan.target;
    let existing = match &plan.found {
        Found::Nothing => None,
        Found::Metadata(what) | Found::Damaged(what) => Some(what.clone()),
    };
    if let Some(what) = existing {
        let question = format!(
            "{}: {} already holds {what}.\nDo you want to overwrite? [yes/no] ",
            t.resource, t.md
        );
        let go = match overwrite {
            Overwrite::Yes => true,
            Overwrite::Ask(ask) => ask(&question),
            Overwrite::Refuse => {
                return Err(AdmError::WouldOverwrite(format!(
                    "{}: {} already holds {what}; refusing to overwrite it without a terminal to confirm; use `shimaiadm create-md --force {}` to overwrite",
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
        "{}: new metadata on {} ({}, {} KiB of data, volume {}): Inconsistent, just-created generation",
        t.resource,
        t.md,
        t.placement,
        plan.layout.capacity / 1024,
        t.volume
    ))
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
}
