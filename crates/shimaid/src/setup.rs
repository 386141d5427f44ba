//! From the command line, the environment and the configuration file to what the daemon runs:
//! this node's and the peer's addresses, the backing store, the metadata and the core's
//! [`ResourceConfig`].

use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use shimai_config::value::{self, Attach};
use shimai_config::{MetaDisk, Resource};
use shimai_metadata::{BlockIo, Layout, MetaDevice, Metadata, Placement};
use shimai_replication::{
    AfterSb0Pri, AfterSb1Pri, AfterSb2Pri, Fencing, OnIoError, Protocol, ResourceConfig, RrConflict,
};

use crate::error::DaemonError;

/// Where the daemon finds its configuration and puts its runtime files.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: PathBuf,
    pub node: String,
    pub run_dir: PathBuf,
    pub resource: String,
}

impl Settings {
    /// `-c`/`SHIMAI_CONFIG`/`/etc/shimai/shimai.conf`, `--node`/`SHIMAI_NODE`/`uname -n`,
    /// `--run-dir`/`SHIMAI_RUN_DIR`/`/run/shimai`: the command line wins over the environment.
    pub fn resolve(
        config: Option<PathBuf>,
        node: Option<String>,
        run_dir: Option<PathBuf>,
        resource: String,
    ) -> Settings {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Settings {
            config: config
                .or_else(|| env("SHIMAI_CONFIG").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("/etc/shimai/shimai.conf")),
            node: node
                .or_else(|| env("SHIMAI_NODE").map(|v| v.to_string_lossy().into_owned()))
                .unwrap_or_else(|| {
                    nix::sys::utsname::uname()
                        .map(|u| u.nodename().to_string_lossy().into_owned())
                        .unwrap_or_default()
                }),
            run_dir: run_dir
                .or_else(|| env("SHIMAI_RUN_DIR").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("/run/shimai")),
            resource,
        }
    }

    pub fn pid_file(&self) -> PathBuf {
        self.run_dir.join(format!("{}.pid", self.resource))
    }
    pub fn ctl_socket(&self) -> PathBuf {
        crate::control::socket_path(&self.run_dir, &self.resource)
    }
    pub fn nbd_socket(&self) -> PathBuf {
        self.run_dir.join(format!("{}.nbd", self.resource))
    }
    pub fn log_file(&self) -> PathBuf {
        self.run_dir.join(format!("{}.log", self.resource))
    }
}

/// The backing file shared by the metadata store and the disk threads.
#[derive(Debug, Clone)]
pub struct SharedFile(pub Arc<File>);

impl BlockIo for SharedFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<()> {
        self.0.as_ref().read_at(buf, off)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> std::io::Result<()> {
        self.0.as_ref().write_at(buf, off)
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.as_ref().flush()
    }
    fn size(&self) -> std::io::Result<u64> {
        self.0.as_ref().size()
    }
}

/// The metadata area's file: `md-flushes no` writes its pages back without flushing the
/// device's cache, as DRBD does.
#[derive(Debug, Clone)]
pub struct MetaFile {
    pub file: SharedFile,
    pub flushes: bool,
}

impl BlockIo for MetaFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<()> {
        self.file.read_at(buf, off)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> std::io::Result<()> {
        self.file.write_at(buf, off)
    }
    fn flush(&self) -> std::io::Result<()> {
        if self.flushes {
            self.file.flush()
        } else {
            crate::sys::write_back(&self.file.0)
        }
    }
    fn size(&self) -> std::io::Result<u64> {
        self.file.size()
    }
}

/// Everything the configuration says about this node's resource.
#[derive(Debug, Clone)]
pub struct Plan {
    pub resource: Resource,
    pub my_addr: SocketAddr,
    pub peer_addr: SocketAddr,
    pub peer_name: String,
    pub disk: String,
    pub meta: MetaDisk,
    pub device: String,
    pub minor: u32,
    pub attach: Attach,
    pub core: ResourceConfig,
}

/// Loads the configuration, prints its warnings, and finds this node's part of `resource`.
pub fn plan(s: &Settings) -> Result<Plan, DaemonError> {
    let parsed = shimai_config::load(&s.config)?;
    for w in &parsed.warnings {
        log::warn!("{}: {w}", s.resource);
    }
    let bad = |what: String| DaemonError::Setup {
        file: s.config.clone(),
        what,
    };
    let res = parsed
        .config
        .resource(&s.resource)
        .ok_or_else(|| bad(format!("no resource {} (check the name)", s.resource)))?
        .clone();
    let me = res.host_for(&s.node).ok_or_else(|| {
        bad(format!(
            "resource {} has no `on {}` section; set --node or SHIMAI_NODE to this node's name",
            s.resource, s.node
        ))
    })?;
    let peer = res.peer_of(&s.node).ok_or_else(|| {
        bad(format!(
            "resource {} names no peer of {}",
            s.resource, s.node
        ))
    })?;
    let addr = |h: &shimai_config::Host| {
        h.address.as_ref().map(|a| a.socket_addr()).ok_or_else(|| {
            bad(format!(
                "`on {}` of {} has no address",
                h.name(),
                s.resource
            ))
        })
    };
    let vol = me.volume(0).or(me.volumes.first()).ok_or_else(|| {
        bad(format!(
            "`on {}` of {} has no device/disk",
            me.name(),
            s.resource
        ))
    })?;
    let disk = vol.disk.clone().ok_or_else(|| {
        bad(format!(
            "`on {}` of {} has no `disk`",
            me.name(),
            s.resource
        ))
    })?;
    let mut core = ResourceConfig::new(0);
    map_options(&res, &mut core);
    Ok(Plan {
        my_addr: addr(me)?,
        peer_addr: addr(peer)?,
        peer_name: peer.name().to_string(),
        disk,
        meta: vol.meta_disk.clone(),
        device: vol.device.path(),
        minor: vol.device.minor,
        attach: res.options.attach,
        core,
        resource: res,
    })
}

/// drbd.conf options into the core's configuration (the size comes from the metadata).
pub fn map_options(r: &Resource, c: &mut ResourceConfig) {
    let n = &r.net;
    c.protocol = match r.protocol() {
        value::Protocol::A => Protocol::A,
        value::Protocol::B => Protocol::B,
        value::Protocol::C => Protocol::C,
    };
    c.after_sb_0pri = match &n.after_sb_0pri {
        value::AfterSb0Pri::Disconnect => AfterSb0Pri::Disconnect,
        value::AfterSb0Pri::DiscardYoungerPrimary => AfterSb0Pri::DiscardYoungerPrimary,
        value::AfterSb0Pri::DiscardOlderPrimary => AfterSb0Pri::DiscardOlderPrimary,
        value::AfterSb0Pri::DiscardZeroChanges => AfterSb0Pri::DiscardZeroChanges,
        value::AfterSb0Pri::DiscardLeastChanges => AfterSb0Pri::DiscardLeastChanges,
        value::AfterSb0Pri::DiscardLocal => AfterSb0Pri::DiscardLocal,
        value::AfterSb0Pri::DiscardRemote => AfterSb0Pri::DiscardRemote,
        // DRBD 9's node-named policy needs node ids; a two-node 8.4 setup disconnects.
        value::AfterSb0Pri::DiscardNode(_) => AfterSb0Pri::Disconnect,
    };
    c.after_sb_1pri = match n.after_sb_1pri {
        value::AfterSb1Pri::Disconnect => AfterSb1Pri::Disconnect,
        value::AfterSb1Pri::Consensus => AfterSb1Pri::Consensus,
        value::AfterSb1Pri::DiscardSecondary => AfterSb1Pri::DiscardSecondary,
        value::AfterSb1Pri::CallPriLostAfterSb => AfterSb1Pri::CallPriLostAfterSb,
        value::AfterSb1Pri::ViolentlyAs0p => AfterSb1Pri::ViolentlyAs0p,
    };
    c.after_sb_2pri = match n.after_sb_2pri {
        value::AfterSb2Pri::Disconnect => AfterSb2Pri::Disconnect,
        value::AfterSb2Pri::ViolentlyAs0p => AfterSb2Pri::ViolentlyAs0p,
        value::AfterSb2Pri::CallPriLostAfterSb => AfterSb2Pri::CallPriLostAfterSb,
    };
    c.always_asbp = n.always_asbp;
    c.rr_conflict = match n.rr_conflict {
        value::RrConflict::CallPriLost => RrConflict::CallPriLost,
        value::RrConflict::Violently => RrConflict::Violently,
        // DRBD 9 additions: the safe choice of 8.4.
        value::RrConflict::Disconnect
        | value::RrConflict::RetryConnect
        | value::RrConflict::AutoDiscard => RrConflict::Disconnect,
    };
    c.allow_two_primaries = n.allow_two_primaries;
    c.al_extents = r.disk.al_extents;
    c.max_epoch_size = n.max_epoch_size;
    c.resync_rate_kib = u32::try_from(r.disk.resync_rate.0).unwrap_or(u32::MAX);
    c.c_max_rate_kib = u32::try_from(r.disk.c_max_rate.0).unwrap_or(u32::MAX);
    c.c_plan_ahead_ds = r.disk.c_plan_ahead.0;
    c.c_fill_target_bytes = r.disk.c_fill_target.0.saturating_mul(512);
    c.c_delay_target_ds = r.disk.c_delay_target.0;
    c.c_min_rate_kib = u32::try_from(r.disk.c_min_rate.0).unwrap_or(u32::MAX);
    c.verify_alg = n.verify_alg.clone();
    c.shared_secret = n.shared_secret.as_ref().map(|s| s.as_bytes().to_vec());
    c.ping_int_ms = n.ping_int.as_duration().as_millis() as u64;
    c.ping_timeout_ms = n.ping_timeout.as_duration().as_millis() as u64;
    c.timeout_ms = n.timeout.as_duration().as_millis() as u64;
    c.ko_count = n.ko_count;
    c.on_io_error = match r.disk.on_io_error {
        value::OnIoError::Detach => OnIoError::Detach,
        value::OnIoError::PassOn => OnIoError::PassOn,
        value::OnIoError::CallLocalIoError => OnIoError::CallLocalIoError,
    };
    c.fencing = match r.disk.fencing {
        value::Fencing::DontCare => Fencing::DontCare,
        value::Fencing::ResourceOnly => Fencing::ResourceOnly,
        value::Fencing::ResourceAndStonith => Fencing::ResourceAndStonith,
    };
}

/// The opened backing store and its metadata.
pub struct Storage {
    /// The data area starts at byte 0 of this file.
    pub data: SharedFile,
    /// The same file opened with `O_DIRECT`, unless the file system refuses it or
    /// `SHIMAI_DISK_IO=buffered` asks for the page cache.
    pub direct: Option<SharedFile>,
    pub meta: Metadata<MetaFile>,
}

fn open_rw(path: &str) -> Result<SharedFile, DaemonError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(|f| SharedFile(Arc::new(f)))
        .map_err(|e| DaemonError::io("cannot open backing store", path, e))
}

fn placement(meta: &MetaDisk) -> Placement {
    match meta {
        MetaDisk::Internal => Placement::Internal,
        MetaDisk::External { index: None, .. } => Placement::External,
        MetaDisk::External { index: Some(i), .. } => Placement::Indexed(*i),
    }
}

/// Opens the backing store and reads its metadata (attach).
pub fn open_storage(p: &Plan, resource: &str) -> Result<Storage, DaemonError> {
    let data = open_rw(&p.disk)?;
    let md_dev = match &p.meta {
        MetaDisk::Internal => data.clone(),
        MetaDisk::External { path, .. } => open_rw(path)?,
    };
    let md_path = match &p.meta {
        MetaDisk::Internal => p.disk.clone(),
        MetaDisk::External { path, .. } => path.clone(),
    };
    let meta = shimai_metadata::open(
        MetaDevice::new(
            MetaFile {
                file: md_dev,
                flushes: p.resource.disk.md_flushes,
            },
            md_path,
            resource,
        ),
        placement(&p.meta),
    )?;
    if let MetaDisk::External { .. } = p.meta {
        let size = data
            .size()
            .map_err(|e| DaemonError::io("cannot size", &p.disk, e))?;
        meta.check_data_device(&p.disk, size)?;
    }
    let direct = open_direct(&p.disk, resource);
    Ok(Storage { data, meta, direct })
}

/// Opens the data area for direct I/O, as DRBD writes its backing device; says in the log
/// which way the data goes.
fn open_direct(path: &str, resource: &str) -> Option<SharedFile> {
    use std::os::unix::fs::OpenOptionsExt;
    if std::env::var("SHIMAI_DISK_IO").is_ok_and(|v| v == "buffered") {
        log::info!("{resource}: data I/O through the page cache (SHIMAI_DISK_IO=buffered)");
        return None;
    }
    match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_DIRECT.bits())
        .open(path)
    {
        Ok(f) => {
            log::info!("{resource}: data I/O with O_DIRECT on {path}");
            Some(SharedFile(Arc::new(f)))
        }
        Err(e) => {
            log::warn!(
                "{resource}: {path} refuses O_DIRECT ({e}): data I/O goes through the page cache"
            );
            None
        }
    }
}

/// `create-md`: writes fresh metadata for this node's backing store.
pub fn create_md(p: &Plan, resource: &str, device_uuid: u64) -> Result<u64, DaemonError> {
    let data = open_rw(&p.disk)?;
    let data_size = data
        .size()
        .map_err(|e| DaemonError::io("cannot size", &p.disk, e))?;
    let (dev, layout) = match &p.meta {
        MetaDisk::Internal => {
            let layout = Layout::internal(&p.disk, data_size, p.core.al_extents)?;
            (MetaDevice::new(data, p.disk.clone(), resource), layout)
        }
        MetaDisk::External { path, index } => {
            let md = open_rw(path)?;
            let md_size = md
                .size()
                .map_err(|e| DaemonError::io("cannot size", path, e))?;
            let layout = Layout::external(path, md_size, data_size, p.core.al_extents, *index)?;
            (MetaDevice::new(md, path.clone(), resource), layout)
        }
    };
    let md = shimai_metadata::create(dev, layout, device_uuid)?;
    Ok(md.superblock().data_size)
}

/// Eight random bytes from the kernel (identifiers, challenges).
pub fn entropy() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if let Ok(mut f) = File::open("/dev/urandom") {
        if f.read_exact(&mut b).is_ok() {
            return u64::from_le_bytes(b);
        }
    }
    // No /dev/urandom: time and pid still differ between nodes and runs.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"
resource r0 {
  protocol B;
  net { shared-secret "s3"; ping-timeout 7; after-sb-0pri discard-zero-changes; connect-int 2; }
  disk { resync-rate 10M; al-extents 257; }
  options { attach none; }
  on alpha { device /dev/drbd0; disk /srv/a.img; address 127.0.0.1:7789; meta-disk internal; }
  on beta  { device /dev/drbd0; disk /srv/b.img; address 127.0.0.2:7789; meta-disk internal; }
}
"#;

    fn settings(dir: &std::path::Path, node: &str) -> Settings {
        let conf = dir.join("shimai.conf");
        std::fs::write(&conf, CONF).unwrap();
        Settings::resolve(Some(conf), Some(node.into()), Some(dir.into()), "r0".into())
    }

    #[test]
    fn drbd_options_reach_the_core() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(&settings(dir.path(), "beta")).unwrap();
        assert_eq!(p.core.protocol, Protocol::B);
        assert_eq!(p.core.shared_secret.as_deref(), Some(&b"s3"[..]));
        assert_eq!(p.core.ping_timeout_ms, 700);
        assert_eq!(p.core.after_sb_0pri, AfterSb0Pri::DiscardZeroChanges);
        assert_eq!(p.core.resync_rate_kib, 10 * 1024);
        assert_eq!(p.core.al_extents, 257);
        assert_eq!(p.attach, Attach::None);
        assert_eq!(p.my_addr.to_string(), "127.0.0.2:7789");
        assert_eq!(p.peer_addr.to_string(), "127.0.0.1:7789");
        assert_eq!(p.peer_name, "alpha");
        assert_eq!(p.disk, "/srv/b.img");
    }

    #[test]
    fn an_unknown_node_is_told_how_to_name_itself() {
        let dir = tempfile::tempdir().unwrap();
        let e = plan(&settings(dir.path(), "gamma")).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::EXIT_CONFIG);
        let msg = e.to_string();
        assert!(
            msg.contains("no `on gamma`") && msg.contains("--node"),
            "{msg}"
        );
    }

    #[test]
    fn missing_metadata_says_to_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("a.img");
        std::fs::File::create(&img)
            .unwrap()
            .set_len(16 << 20)
            .unwrap();
        let mut p = plan(&settings(dir.path(), "alpha")).unwrap();
        p.disk = img.display().to_string();
        let e = open_storage(&p, "r0").err().expect("no metadata yet");
        assert!(e.to_string().contains("create-md r0"), "{e}");
        // After create-md the same store opens, with the data area the metadata leaves.
        let size = create_md(&p, "r0", 7).unwrap();
        let s = open_storage(&p, "r0").unwrap();
        assert_eq!(s.meta.superblock().data_size, size);
        assert!((15 << 20..16 << 20).contains(&size), "{size}");
    }

    #[test]
    fn external_metadata_leaves_the_whole_store_for_data() {
        let dir = tempfile::tempdir().unwrap();
        let (img, md) = (dir.path().join("a.img"), dir.path().join("a.md"));
        for (f, size) in [(&img, 16u64 << 20), (&md, 4 << 20)] {
            std::fs::File::create(f).unwrap().set_len(size).unwrap();
        }
        let mut p = plan(&settings(dir.path(), "alpha")).unwrap();
        p.disk = img.display().to_string();
        p.meta = MetaDisk::External {
            path: md.display().to_string(),
            index: None,
        };
        assert_eq!(create_md(&p, "r0", 9).unwrap(), 16 << 20);
        let s = open_storage(&p, "r0").unwrap();
        assert_eq!(s.meta.superblock().data_size, 16 << 20);
        // The metadata is on its own device; the store holds no superblock.
        p.meta = MetaDisk::Internal;
        assert!(open_storage(&p, "r0").is_err());
    }

    #[test]
    fn the_command_line_wins_over_the_environment() {
        let s = Settings::resolve(
            Some("/x.conf".into()),
            Some("n1".into()),
            Some("/r".into()),
            "r9".into(),
        );
        assert_eq!(s.pid_file(), PathBuf::from("/r/r9.pid"));
        assert_eq!(s.ctl_socket(), PathBuf::from("/r/r9.ctl"));
        assert_eq!(s.nbd_socket(), PathBuf::from("/r/r9.nbd"));
        assert_eq!(s.node, "n1");
    }
}
