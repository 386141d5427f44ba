//! Reading a resource's metadata without changing it, for `get-gi` and
//! `dump-md`. The device is opened read-only, so this is safe while the
//! daemon runs (it then shows what was last persisted).

use std::fs::File;

use shimai_metadata::{open, MetaDevice, Superblock};

use crate::createmd::MdTarget;
use crate::error::AdmError;
use crate::format::gi::MdExtra;

/// The superblock, the bitmap's count and the activity log's hot extents.
pub fn read(target: &MdTarget) -> Result<(Superblock, MdExtra), AdmError> {
    let file = File::open(&target.md).map_err(|source| AdmError::Device {
        path: target.md.clone(),
        source,
    })?;
    let dev = MetaDevice::new(&file, target.md.as_str(), target.resource.as_str());
    let md = open(dev, target.placement)?;
    Ok((
        md.superblock().clone(),
        MdExtra {
            out_of_sync_blocks: md.bitmap().count(),
            hot_extents: md.activity_log().hot_extents(),
        },
    ))
}
