//! The instance parameters, parsed once into typed values.
//!
//! Parsing is pure apart from one question it must ask the system (is the
//! device a directory, i.e. a bind-mount source?), which the caller answers
//! through a closure so that the rules are unit-tested without a system.

use std::path::{Path, PathBuf};

use ocf::{OcfError, Params, Result};

use crate::fstype;

/// How the filesystem to mount is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// A path that should be a block device (`/dev/null` included, as the
    /// reference agent allows it).
    Block(String),
    /// A filesystem UUID or label, resolved to a device before mounting.
    Tag {
        kind: TagKind,
        value: String,
        /// How `mount` is given the tag when the agent cannot resolve it
        /// itself: `["-U", v]`, `["--label", v]`, `["UUID=v"]`...
        mount_args: Vec<String>,
    },
    /// Not a block device: a bind-mount source directory, a network export,
    /// a loop-mounted file, a virtual filesystem's name.
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Uuid,
    Label,
}

impl TagKind {
    pub fn name(self) -> &'static str {
        match self {
            TagKind::Uuid => "UUID",
            TagKind::Label => "LABEL",
        }
    }
}

impl DeviceSpec {
    /// Classifies the `device` parameter the way `mount` and the reference
    /// agent read it.
    pub fn classify(
        device: &str,
        fstype: &str,
        options: &str,
        is_dir: impl Fn(&str) -> bool,
    ) -> DeviceSpec {
        if fstype::is_not_block(fstype) || has_option(options, "loop") {
            return DeviceSpec::Other(device.to_string());
        }
        if let Some(tag) = parse_tag(device) {
            return tag;
        }
        if device == "/dev/null" || !is_dir(device) {
            DeviceSpec::Block(device.to_string())
        } else {
            DeviceSpec::Other(device.to_string())
        }
    }

    /// The device as the user wrote it, for messages.
    pub fn display(&self) -> String {
        match self {
            DeviceSpec::Block(p) | DeviceSpec::Other(p) => p.clone(),
            DeviceSpec::Tag { kind, value, .. } => format!("{}={value}", kind.name()),
        }
    }
}

fn parse_tag(device: &str) -> Option<DeviceSpec> {
    let tag = |kind, value: &str, mount_args: Vec<String>| DeviceSpec::Tag {
        kind,
        value: value.to_string(),
        mount_args,
    };
    for (long, kind) in [("--uuid", TagKind::Uuid), ("--label", TagKind::Label)] {
        if let Some(rest) = device.strip_prefix(long) {
            let value = rest
                .strip_prefix('=')
                .unwrap_or(rest)
                .trim_start_matches([' ', '\t']);
            if rest.starts_with(['=', ' ', '\t']) {
                return Some(tag(kind, value, vec![long.into(), value.into()]));
            }
        }
    }
    for (short, kind) in [("-U", TagKind::Uuid), ("-L", TagKind::Label)] {
        if let Some(rest) = device.strip_prefix(short) {
            let value = rest.trim_start_matches([' ', '\t']);
            return Some(tag(kind, value, vec![short.into(), value.into()]));
        }
    }
    for (prefix, kind) in [("UUID=", TagKind::Uuid), ("LABEL=", TagKind::Label)] {
        if let Some(value) = device.strip_prefix(prefix) {
            return Some(tag(kind, value, vec![device.to_string()]));
        }
    }
    None
}

/// Whether a comma-separated mount option list contains `word` as a whole
/// option or a whole word of one (the reference uses `grep -w`).
pub fn has_option(options: &str, word: &str) -> bool {
    options
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == word)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsckMode {
    Auto,
    Force,
    Never,
}

/// Who stop may signal when the filesystem is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForceUnmount {
    /// Every process using the filesystem (matched by device number).
    All,
    /// Processes using paths below the mount point, found without stat().
    Safe,
    /// Nobody.
    Never,
}

/// The typed parameters of one invocation.
#[derive(Debug, Clone)]
pub struct Config {
    pub device: DeviceSpec,
    /// The mount point as configured, trailing slashes removed; `None` when
    /// the parameter is empty.
    pub directory: Option<PathBuf>,
    pub fstype: String,
    pub options: String,
    pub fsck: FsckMode,
    /// Set when `run_fsck` had a value the agent does not know.
    pub fsck_warning: Option<String>,
    pub force_unmount: ForceUnmount,
    pub fast_stop: bool,
    pub force_clones: bool,
    pub statusfile_prefix: String,
}

impl Config {
    /// Reads the parameters. Only an empty `device` is an error here; what
    /// an empty `directory` means depends on the action.
    pub fn from_params(p: &Params, is_dir: impl Fn(&str) -> bool) -> Result<Config> {
        let device = p.str("device");
        if device.is_empty() {
            return Err(OcfError::configured(
                "parameter device is not set: set it to the block device, tag or export to mount",
            ));
        }
        let fstype = p.str("fstype").to_string();
        let options = p.str("options").to_string();
        let (fsck, fsck_warning) = match p.str("run_fsck") {
            "" | "auto" => (FsckMode::Auto, None),
            "force" => (FsckMode::Force, None),
            "no" => (FsckMode::Never, None),
            other => (
                FsckMode::Auto,
                Some(format!(
                    "Invalid parameter value for run_fsck: '{other}'; using 'auto'"
                )),
            ),
        };
        let force_unmount = match p.str("force_unmount") {
            "" => ForceUnmount::All,
            "safe" => ForceUnmount::Safe,
            v if ocf::is_true(v) => ForceUnmount::All,
            _ => ForceUnmount::Never,
        };
        let prefix = p.str("statusfile_prefix");
        Ok(Config {
            device: DeviceSpec::classify(device, &fstype, &options, is_dir),
            directory: normalize_directory(p.str("directory")),
            fsck,
            fsck_warning,
            force_unmount,
            fast_stop: p.bool("fast_stop"),
            force_clones: p.bool("force_clones"),
            statusfile_prefix: if prefix.is_empty() {
                ".Filesystem_status/".to_string()
            } else {
                prefix.to_string()
            },
            fstype,
            options,
        })
    }

    /// A bind mount: the option `bind` (with any fstype).
    pub fn is_bind(&self) -> bool {
        has_option(&self.options, "bind")
    }

    pub fn is_block(&self) -> bool {
        !matches!(self.device, DeviceSpec::Other(_))
    }

    pub fn read_only(&self) -> bool {
        has_option(&self.options, "ro")
    }
}

/// Removes trailing slashes ("/" stays "/"); empty means unset.
pub fn normalize_directory(dir: &str) -> Option<PathBuf> {
    if dir.is_empty() {
        return None;
    }
    let trimmed = dir.trim_end_matches('/');
    Some(PathBuf::from(if trimmed.is_empty() {
        "/"
    } else {
        trimmed
    }))
}

/// The depth-20 status file: `<mountpoint>/<prefix><instance>[_<clone>]_<node>`.
pub fn status_file(
    mountpoint: &Path,
    prefix: &str,
    instance: &str,
    clone: Option<&str>,
    node: &str,
) -> PathBuf {
    let mut name = format!("{prefix}{instance}");
    if let Some(c) = clone.filter(|c| !c.is_empty()) {
        name.push('_');
        name.push_str(c);
    }
    name.push('_');
    name.push_str(node);
    mountpoint.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocf::OcfEnv;

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        let env = OcfEnv::from_vars(vars.iter().copied());
        let p = Params::from_env(crate::meta::PARAMS, &env);
        Config::from_params(&p, |d| d == "/srv/data")
    }

    #[test]
    fn defaults() {
        let c = config(&[
            ("OCF_RESKEY_device", "/dev/sdb1"),
            ("OCF_RESKEY_directory", "/mnt/x//"),
        ])
        .unwrap();
        assert_eq!(c.device, DeviceSpec::Block("/dev/sdb1".into()));
        assert_eq!(c.directory, Some(PathBuf::from("/mnt/x")));
        assert_eq!(c.fsck, FsckMode::Auto);
        assert_eq!(c.force_unmount, ForceUnmount::All);
        assert!(!c.fast_stop && !c.force_clones && !c.is_bind());
        assert_eq!(c.statusfile_prefix, ".Filesystem_status/");
    }

    #[test]
    fn empty_device_is_not_configured() {
        let e = config(&[("OCF_RESKEY_directory", "/mnt")]).unwrap_err();
        assert_eq!(e.exit_code(), ocf::ExitCode::ErrConfigured);
        assert!(e.reason().contains("device"));
    }

    #[test]
    fn value_spellings() {
        let c = config(&[
            ("OCF_RESKEY_device", "/dev/sdb1"),
            ("OCF_RESKEY_run_fsck", "sometimes"),
            ("OCF_RESKEY_force_unmount", "safe"),
            ("OCF_RESKEY_fast_stop", "yes"),
            ("OCF_RESKEY_statusfile_prefix", ""),
        ])
        .unwrap();
        assert_eq!(c.fsck, FsckMode::Auto);
        assert!(c.fsck_warning.unwrap().contains("sometimes"));
        assert_eq!(c.force_unmount, ForceUnmount::Safe);
        assert!(c.fast_stop);
        assert_eq!(c.statusfile_prefix, ".Filesystem_status/");
        assert_eq!(c.directory, None);
        for (v, want) in [
            ("false", ForceUnmount::Never),
            ("no", ForceUnmount::Never),
            ("yes", ForceUnmount::All),
        ] {
            let c = config(&[
                ("OCF_RESKEY_device", "/dev/sdb1"),
                ("OCF_RESKEY_force_unmount", v),
            ])
            .unwrap();
            assert_eq!(c.force_unmount, want, "{v}");
        }
    }

    #[test]
    fn device_forms() {
        let no_dir = |_: &str| false;
        let tag = |k, v: &str, args: &[&str]| DeviceSpec::Tag {
            kind: k,
            value: v.into(),
            mount_args: args.iter().map(|s| s.to_string()).collect(),
        };
        let c = |d| DeviceSpec::classify(d, "ext4", "", no_dir);
        assert_eq!(c("-U abc"), tag(TagKind::Uuid, "abc", &["-U", "abc"]));
        assert_eq!(c("-Uabc"), tag(TagKind::Uuid, "abc", &["-U", "abc"]));
        assert_eq!(c("-L data"), tag(TagKind::Label, "data", &["-L", "data"]));
        assert_eq!(
            c("--uuid=abc"),
            tag(TagKind::Uuid, "abc", &["--uuid", "abc"])
        );
        assert_eq!(
            c("--label data"),
            tag(TagKind::Label, "data", &["--label", "data"])
        );
        assert_eq!(c("UUID=abc"), tag(TagKind::Uuid, "abc", &["UUID=abc"]));
        assert_eq!(c("LABEL=x y"), tag(TagKind::Label, "x y", &["LABEL=x y"]));
        assert_eq!(c("/dev/null"), DeviceSpec::Block("/dev/null".into()));
        assert_eq!(
            DeviceSpec::classify("/srv/data", "", "bind", |d| d == "/srv/data"),
            DeviceSpec::Other("/srv/data".into())
        );
        assert_eq!(
            DeviceSpec::classify("srv:/export", "nfs", "", no_dir),
            DeviceSpec::Other("srv:/export".into())
        );
        assert_eq!(
            DeviceSpec::classify("/img/file", "ext4", "loop,ro", no_dir),
            DeviceSpec::Other("/img/file".into())
        );
        assert_eq!(c("UUID=abc").display(), "UUID=abc");
    }

    #[test]
    fn options_are_matched_as_words() {
        assert!(has_option("bind,ro", "bind"));
        assert!(has_option("bind,ro", "ro"));
        assert!(!has_option("rbind", "bind"));
        assert!(!has_option("errors=remount-ro", "rw"));
        assert!(!has_option("noatime", "ro"));
    }

    #[test]
    fn directory_and_status_file() {
        assert_eq!(normalize_directory("///"), Some(PathBuf::from("/")));
        assert_eq!(normalize_directory(""), None);
        let f = status_file(
            Path::new("/mnt/x"),
            ".Filesystem_status/",
            "fs1",
            Some("2"),
            "n1",
        );
        assert_eq!(f, PathBuf::from("/mnt/x/.Filesystem_status/fs1_2_n1"));
        let f = status_file(Path::new("/"), "st-", "fs1", None, "n1");
        assert_eq!(f, PathBuf::from("/st-fs1_n1"));
    }
}
