//! From what was written to the model: defaults, then `common`, then the
//! resource, then the host and volume levels, each applied on top of the
//! previous one; errors for values a typed option cannot take and for
//! things defined twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::catalog::Target;
use crate::error::{ConfigError, Location};
use crate::model::{
    Common, Config, Connection, ConnectionMesh, Host, MetaDisk, PeerVolume, Resource, Volume,
};
use crate::parser::{Collected, RawHost, RawResource, RawVolume, Setting};
use crate::sections::{
    DiskOptions, Global, Handlers, NetOptions, ResourceOptions, Section, StartupOptions,
};

type Result<T> = std::result::Result<T, ConfigError>;

/// `base` with the `settings` meant for `target` applied in order.
fn apply<S: Section>(base: &S, settings: &[Setting], target: Target) -> Result<S> {
    let mut section = base.clone();
    for s in settings.iter().filter(|s| s.target == target) {
        match section.set(s.key, s.value.as_deref()) {
            Some(Ok(())) => {}
            Some(Err(reason)) => {
                return Err(ConfigError::InvalidValue {
                    at: s.at.clone(),
                    option: s.written.clone(),
                    value: s.value.clone().unwrap_or_default(),
                    reason,
                })
            }
            None => section.set_extra(s.key, s.value.as_deref()),
        }
    }
    Ok(section)
}

pub(crate) fn resolve(collected: &Collected) -> Result<Config> {
    let global = apply(&Global::default(), &collected.global, Target::Global)?;
    let c = &collected.common;
    let common = Common {
        net: apply(&NetOptions::default(), c, Target::Net)?,
        disk: apply(&DiskOptions::default(), c, Target::Disk)?,
        startup: apply(&StartupOptions::default(), c, Target::Startup)?,
        options: apply(&ResourceOptions::default(), c, Target::Options)?,
        handlers: apply(&Handlers::default(), c, Target::Handlers)?,
    };
    let mut seen: HashMap<&str, &Location> = HashMap::new();
    let mut resources = Vec::new();
    for raw in &collected.resources {
        if let Some(first) = seen.insert(&raw.name, &raw.at) {
            return Err(ConfigError::Duplicate {
                at: raw.at.clone(),
                what: format!("resource '{}'", raw.name),
                first: first.clone(),
            });
        }
        resources.push(resource(raw, &common)?);
    }
    check_conflicts(&collected.resources, &resources)?;
    check_resync_after(collected, &resources)?;
    Ok(Config {
        global,
        common,
        resources,
    })
}

/// Warnings that depend on more than one option: `after-resync-target`
/// is run only with fencing configured (shimai's unfencing hook), where
/// DRBD runs it after every resync as SyncTarget.
pub(crate) fn conditional_warnings(collected: &Collected, config: &Config) -> Vec<crate::Warning> {
    use crate::value::Fencing;
    let mut out = Vec::new();
    let message = |s: &Setting| crate::Warning {
        at: s.at.clone(),
        message: format!(
            "'{}' is run by shimai only with fencing configured (resource-only or \
             resource-and-stonith); with 'fencing dont-care' it is never run",
            s.written
        ),
    };
    let is_handler = |s: &&Setting| s.target == Target::Handlers && s.key == "after-resync-target";
    for (raw, r) in collected.resources.iter().zip(&config.resources) {
        if r.disk.fencing == Fencing::DontCare {
            out.extend(raw.settings.iter().filter(is_handler).map(message));
        }
    }
    let inherited = config.resources.iter().any(|r| {
        r.disk.fencing == Fencing::DontCare
            && r.handlers.after_resync_target.is_some()
            && r.handlers.after_resync_target == config.common.handlers.after_resync_target
    });
    if inherited {
        out.extend(collected.common.iter().filter(is_handler).map(message));
    }
    out.sort_by(|a, b| {
        (&a.at.file, a.at.line, a.at.column).cmp(&(&b.at.file, b.at.line, b.at.column))
    });
    out
}

/// `resync-after` (8.3 `syncer { after }`) must name a resource of the
/// file (DRBD refuses the configuration otherwise).
fn check_resync_after(collected: &Collected, resources: &[Resource]) -> Result<()> {
    let names: BTreeSet<&str> = resources.iter().map(|r| r.name.as_str()).collect();
    let mut settings: Vec<&Setting> = collected.common.iter().collect();
    for raw in &collected.resources {
        settings.extend(&raw.settings);
        settings.extend(&raw.flat.settings);
        for v in &raw.volumes {
            settings.extend(&v.settings);
        }
        for h in &raw.hosts {
            settings.extend(&h.flat.settings);
            for v in &h.volumes {
                settings.extend(&v.settings);
            }
        }
    }
    for s in settings {
        if s.target != Target::Disk || s.key != "resync-after" {
            continue;
        }
        let value = s.value.clone().unwrap_or_default();
        // DRBD 9 writes `resync-after RES/VOLUME`.
        let named = value.split('/').next().unwrap_or_default();
        if value != "-1" && !names.contains(named) {
            let known: Vec<&str> = names.iter().copied().collect();
            return Err(ConfigError::InvalidValue {
                at: s.at.clone(),
                option: s.written.clone(),
                value: value.clone(),
                reason: format!(
                    "no resource named '{named}' in the configuration (configured: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            });
        }
    }
    Ok(())
}

fn resource(raw: &RawResource, common: &Common) -> Result<Resource> {
    let s = &raw.settings;
    let net = apply(&common.net, s, Target::Net)?;
    let disk = apply(&common.disk, s, Target::Disk)?;
    check_unique_volumes(&raw.volumes)?;
    let mut hosts = Vec::new();
    let mut names: HashMap<&str, &Location> = HashMap::new();
    for host in &raw.hosts {
        for name in &host.names {
            if let Some(first) = names.insert(name, &host.at) {
                return Err(ConfigError::Duplicate {
                    at: host.at.clone(),
                    what: format!("host '{name}' in resource '{}'", raw.name),
                    first: first.clone(),
                });
            }
        }
        hosts.push(self::host(raw, host, &disk)?);
    }
    let mut connections = Vec::new();
    for c in &raw.connections {
        let c_net = apply(&net, &c.settings, Target::Net)?;
        let c_disk = apply(&disk, &c.settings, Target::Disk)?;
        let mut volumes = Vec::new();
        for (number, _, settings) in &c.volumes {
            volumes.push(PeerVolume {
                number: *number,
                disk: apply(&c_disk, settings, Target::Disk)?,
            });
        }
        connections.push(Connection {
            name: c.name.clone(),
            hosts: c.hosts.clone(),
            paths: c.paths.clone(),
            net: c_net,
            disk: c_disk,
            volumes,
        });
    }
    let mut meshes = Vec::new();
    for m in &raw.meshes {
        meshes.push(ConnectionMesh {
            hosts: m.hosts.clone(),
            net: apply(&net, &m.settings, Target::Net)?,
            disk: apply(&disk, &m.settings, Target::Disk)?,
        });
    }
    Ok(Resource {
        name: raw.name.clone(),
        startup: apply(&common.startup, s, Target::Startup)?,
        options: apply(&common.options, s, Target::Options)?,
        handlers: apply(&common.handlers, s, Target::Handlers)?,
        net,
        disk,
        hosts,
        connections,
        meshes,
    })
}

/// What drbdadm also refuses: one node using a device minor, or any two
/// hosts using an address, twice. Either would make two resources fight over
/// one device or one listening socket at run time.
fn check_conflicts(raws: &[RawResource], resources: &[Resource]) -> Result<()> {
    let mut minors: HashMap<(&str, u32), (&str, &Location)> = HashMap::new();
    let mut addresses: HashMap<std::net::SocketAddr, (&str, &Location)> = HashMap::new();
    for (raw, resource) in raws.iter().zip(resources) {
        for (raw_host, host) in raw.hosts.iter().zip(&resource.hosts) {
            for name in &host.names {
                for volume in &host.volumes {
                    let key = (name.as_str(), volume.device.minor);
                    if let Some((other, first)) = minors.insert(key, (&raw.name, &raw_host.at)) {
                        return Err(ConfigError::Duplicate {
                            at: raw_host.at.clone(),
                            what: format!(
                                "device minor {} on host '{name}' (resources '{other}' and '{}')",
                                volume.device.minor, raw.name
                            ),
                            first: first.clone(),
                        });
                    }
                }
            }
            if let Some(address) = &host.address {
                let key = address.socket_addr();
                if let Some((other, first)) = addresses.insert(key, (&raw.name, &raw_host.at)) {
                    return Err(ConfigError::Duplicate {
                        at: raw_host.at.clone(),
                        what: format!("address {key} (resources '{other}' and '{}')", raw.name),
                        first: first.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn check_unique_volumes(volumes: &[RawVolume]) -> Result<()> {
    let mut seen: BTreeMap<u32, &Location> = BTreeMap::new();
    for v in volumes {
        if let Some(n) = v.number {
            if let Some(first) = seen.insert(n, &v.at) {
                return Err(ConfigError::Duplicate {
                    at: v.at.clone(),
                    what: format!("volume {n}"),
                    first: first.clone(),
                });
            }
        }
    }
    Ok(())
}

/// One host's volumes: for volume N, the resource's statements for N
/// (volume 0 includes those written directly in the resource), then the
/// host's, the later level winning field by field.
fn host(res: &RawResource, host: &RawHost, disk: &DiskOptions) -> Result<Host> {
    check_unique_volumes(&host.volumes)?;
    let layers_for = |n: u32| -> Vec<&RawVolume> {
        let flat = |v: &'_ RawVolume| n == 0 && !v.is_empty();
        let mut layers = Vec::new();
        if flat(&res.flat) {
            layers.push(&res.flat);
        }
        layers.extend(res.volumes.iter().filter(|v| v.number == Some(n)));
        if flat(&host.flat) {
            layers.push(&host.flat);
        }
        layers.extend(host.volumes.iter().filter(|v| v.number == Some(n)));
        layers
    };
    let mut numbers: BTreeSet<u32> = res
        .volumes
        .iter()
        .chain(&host.volumes)
        .filter_map(|v| v.number)
        .collect();
    if !res.flat.is_empty() || !host.flat.is_empty() {
        numbers.insert(0);
    }
    let who = match host.names.first() {
        Some(name) => format!("host '{name}'"),
        None => "the floating host".to_string(),
    };
    if numbers.is_empty() {
        return Err(ConfigError::Invalid {
            at: host.at.clone(),
            message: format!(
                "{who} of resource '{}' has no device: add 'device', 'disk' and 'meta-disk' \
                 to the resource or to this block",
                res.name
            ),
        });
    }
    let mut volumes = Vec::new();
    for n in numbers {
        let layers = layers_for(n);
        let last = |f: &dyn Fn(&RawVolume) -> bool| layers.iter().rev().find(|v| f(v)).copied();
        let missing = |what: &str, example: &str| ConfigError::Invalid {
            at: host.at.clone(),
            message: format!(
                "volume {n} of {who} in resource '{}' has no '{what}': add '{example}'",
                res.name
            ),
        };
        let device = last(&|v| v.device.is_some())
            .and_then(|v| v.device.clone())
            .ok_or_else(|| missing("device", "device /dev/drbdN;"))?;
        let backing = last(&|v| v.disk.is_some())
            .and_then(|v| v.disk.clone())
            .ok_or_else(|| missing("disk", "disk /dev/DEVICE;' or 'disk none;"))?;
        let meta_disk = last(&|v| v.meta_disk.is_some())
            .and_then(|v| v.meta_disk.clone())
            .unwrap_or(MetaDisk::Internal);
        let settings: Vec<Setting> = layers
            .iter()
            .flat_map(|v| v.settings.iter().cloned())
            .collect();
        volumes.push(Volume {
            number: n,
            device,
            disk: backing,
            meta_disk,
            disk_options: apply(disk, &settings, Target::Disk)?,
        });
    }
    let proxy = host.proxy.as_ref().map(|(p, _)| crate::model::HostProxy {
        address: host.address.clone(),
        ..p.clone()
    });
    Ok(Host {
        names: host.names.clone(),
        floating: host.floating,
        node_id: host.node_id,
        // No proxy runs: the pair replicates between the outside addresses.
        address: proxy
            .as_ref()
            .map(|p| p.outside.clone())
            .or_else(|| host.address.clone()),
        volumes,
        proxy,
    })
}
