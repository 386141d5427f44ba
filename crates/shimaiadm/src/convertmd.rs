//! `convert-md`: DRBD 8.4 (`v08`) or DRBD 9 (`v09`, one peer) metadata
//! to shimai's in place, shimai's first layout to the current one, and
//! (`--to drbd-v08|drbd-v09`) shimai's back to DRBD's. Offline, like
//! `create-md`. The generation identifiers, flags, bitmap and activity
//! log are kept ([`shimai_metadata::convert`]), so a pair converted on
//! both nodes reconnects without a full sync; the data area does not
//! move, since both formats size the metadata the same.

use std::fs::{File, OpenOptions};

use shimai_config::Resource;
use shimai_metadata::{
    probe_for, to_drbd, to_shimai, BlockIo, DrbdVersion, Found, MetaDevice, NodeIds, Placement,
};

use crate::createmd::MdTarget;
use crate::error::AdmError;

/// Which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToShimai,
    ToDrbd(DrbdVersion),
}

impl Direction {
    /// The `--to` value: `shimai`, `drbd-v08`, `drbd-v09`.
    pub fn parse(to: &str) -> Option<Direction> {
        match to {
            "shimai" => Some(Direction::ToShimai),
            "drbd-v08" => Some(Direction::ToDrbd(DrbdVersion::V08)),
            "drbd-v09" => Some(Direction::ToDrbd(DrbdVersion::V09)),
            _ => None,
        }
    }
}

/// DRBD 9's node ids of this node and its peer: `node-id` from the
/// configuration, else the hosts' order in the resource.
pub fn node_ids(resource: &Resource, node: &str) -> NodeIds {
    let me = resource
        .hosts
        .iter()
        .position(|h| h.names.iter().any(|n| n == node))
        .unwrap_or(0);
    let own = resource
        .hosts
        .get(me)
        .and_then(|h| h.node_id)
        .unwrap_or(me as u32);
    let peer = resource
        .peer_of(node)
        .and_then(|h| h.node_id)
        .unwrap_or(if own == 0 { 1 } else { 0 });
    NodeIds { own, peer }
}

fn device_err(path: &str) -> impl FnOnce(std::io::Error) -> AdmError + '_ {
    move |source| AdmError::Device {
        path: path.to_string(),
        source,
    }
}

/// The `drbdmeta` arguments that name this metadata (for messages).
fn drbdmeta_args(t: &MdTarget, version: DrbdVersion) -> String {
    let v = match version {
        DrbdVersion::V08 => "v08",
        DrbdVersion::V09 => "v09",
    };
    let index = match t.placement {
        Placement::Internal => "internal".to_string(),
        Placement::External => "flex-external".to_string(),
        Placement::Indexed(i) => i.to_string(),
    };
    format!("{v} {} {index}", t.md)
}

/// Converts one volume's metadata; returns the line to print.
pub fn convert(t: &MdTarget, direction: Direction, ids: NodeIds) -> Result<String, AdmError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.md)
        .map_err(device_err(&t.md))?;
    let data_size = File::open(&t.data)
        .and_then(|f| f.size())
        .map_err(device_err(&t.data))?;
    let dev = MetaDevice::new(file, t.md.as_str(), t.resource.as_str());
    // Already in the wanted format: nothing to do, and a runbook that
    // converts twice still succeeds.
    let found = probe_for(&dev, t.placement, Some(ids.peer as usize))?;
    let already = match (&found, direction) {
        (Found::Shimai(_), Direction::ToShimai) => true,
        (Found::Drbd(d), Direction::ToDrbd(v)) if d.version == v => true,
        (Found::Drbd(d), Direction::ToDrbd(v)) => {
            return Err(AdmError::Refused {
                code: 1,
                message: format!(
                    "{}: {} holds DRBD {} metadata, not shimai's; convert it to shimai's first \
                     (`shimaiadm convert-md {}`), or between DRBD versions with drbdmeta \
                     (`drbdmeta ... {} create-md` offers to convert)",
                    t.resource,
                    t.md,
                    d.version,
                    t.resource,
                    match v {
                        DrbdVersion::V08 => "v08",
                        DrbdVersion::V09 => "v09",
                    }
                ),
            })
        }
        _ => false,
    };
    if already {
        return Ok(format!(
            "{}: {} already holds {}; nothing to convert (volume {})",
            t.resource,
            t.md,
            found.describe(),
            t.volume
        ));
    }
    match direction {
        Direction::ToShimai => {
            let c = to_shimai(dev, t.placement, data_size, t.al_extents, ids)?;
            let sb = &c.superblock;
            Ok(format!(
                "{}: converted {} metadata on {} to shimai's ({}, {} KiB of data, volume {}): \
                 current generation {:016X}, {} KiB out of sync, {} activity-log extents kept",
                t.resource,
                c.from,
                t.md,
                t.placement,
                sb.data_size / 1024,
                t.volume,
                sb.gi.current,
                c.out_of_sync_blocks * 4,
                c.hot_extents.len()
            ))
        }
        Direction::ToDrbd(version) => {
            let c = to_drbd(dev, t.placement, version, ids)?;
            let node = match version {
                DrbdVersion::V09 => format!(" --node-id {}", ids.peer),
                DrbdVersion::V08 => String::new(),
            };
            Ok(format!(
                "{}: converted shimai metadata on {} to {} ({}, {} KiB of data, volume {}): \
                 current generation {:016X}, {} KiB out of sync{}; check with \
                 `drbdmeta --force{node} 0 {} get-gi`",
                t.resource,
                t.md,
                c.to,
                t.placement,
                c.superblock.data_size / 1024,
                t.volume,
                c.superblock.gi.current,
                c.out_of_sync_blocks * 4,
                if c.hot_extents.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({} hot activity-log extents marked out of sync)",
                        c.hot_extents.len()
                    )
                },
                drbdmeta_args(t, version)
            ))
        }
    }
}
