//! The questions about the machine that Heartbeat answered at run time.
//!
//! Keeping them behind a trait keeps the conversion itself a pure function:
//! the command line passes a [`SystemHost`] rooted at `/` (or at a test
//! directory), the golden tests and the fuzz entries pass fixed answers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the conversion may ask about the machine.
pub trait Host {
    /// `/etc/init.d/NAME` exists (the resource becomes `lsb:NAME`).
    fn init_script(&self, name: &str) -> bool;
    /// `/etc/ha.d/resource.d/NAME` exists (a Heartbeat-class script).
    fn heartbeat_script(&self, name: &str) -> bool;
    /// The filesystem type on `device`, when it exists and can be probed.
    fn probe_fstype(&self, device: &str) -> Option<String>;
}

/// A machine with nothing on it: no scripts, no devices.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHost;

impl Host for NoHost {
    fn init_script(&self, _: &str) -> bool {
        false
    }
    fn heartbeat_script(&self, _: &str) -> bool {
        false
    }
    fn probe_fstype(&self, _: &str) -> Option<String> {
        None
    }
}

/// This machine, seen from `root` (normally `/`).
#[derive(Debug, Clone)]
pub struct SystemHost {
    /// Prefix for /etc/init.d, /etc/ha.d/resource.d and devices.
    pub root: PathBuf,
}

impl SystemHost {
    fn under(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

/// A script name that cannot climb out of its directory.
fn plain(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

impl Host for SystemHost {
    fn init_script(&self, name: &str) -> bool {
        plain(name) && self.under("/etc/init.d").join(name).is_file()
    }
    fn heartbeat_script(&self, name: &str) -> bool {
        plain(name) && self.under("/etc/ha.d/resource.d").join(name).is_file()
    }
    fn probe_fstype(&self, device: &str) -> Option<String> {
        let path = self.under(device);
        if !path.exists() {
            return None;
        }
        let out = Command::new("blkid")
            .args(["-o", "value", "-s", "TYPE"])
            .arg(&path)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !t.is_empty() && !t.contains(char::is_whitespace)).then_some(t)
    }
}

/// The newest `pacemaker-3.N` schema in `dir` (normally /usr/share/pacemaker).
pub fn newest_schema(dir: &Path) -> Option<String> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let minor = name.strip_prefix("pacemaker-3.")?.strip_suffix(".rng")?;
            minor.parse::<u32>().ok()
        })
        .max()
        .map(|m| format!("pacemaker-3.{m}"))
}

/// DRBD resource names declared in drbd.conf-style text (`resource NAME {`),
/// for a bare `drbddisk`, which Heartbeat applied to every resource.
pub fn drbd_resource_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() == Some("resource") {
            if let Some(name) = words.next() {
                let name = name.trim_end_matches('{');
                if !name.is_empty() && !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
        }
    }
    names
}

/// The DRBD resources configured under `root`: /etc/drbd.conf and
/// /etc/drbd.d/*.res, sorted for a stable result.
pub fn drbd_resources(root: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    if let Ok(t) = std::fs::read_to_string(root.join("etc/drbd.conf")) {
        texts.push(t);
    }
    if let Ok(dir) = std::fs::read_dir(root.join("etc/drbd.d")) {
        let mut files: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "res"))
            .collect();
        files.sort();
        texts.extend(files.iter().filter_map(|f| std::fs::read_to_string(f).ok()));
    }
    let mut names: Vec<String> = Vec::new();
    for t in &texts {
        for n in drbd_resource_names(t) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drbd_names() {
        let t = "global { usage-count yes; }\nresource r0 {\n on a { }\n}\nresource r1{\n";
        assert_eq!(drbd_resource_names(t), vec!["r0", "r1"]);
    }

    #[test]
    fn schema_of_this_machine_or_none() {
        let dir = std::env::temp_dir().join(format!("cib-schema-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "pacemaker-3.9.rng",
            "pacemaker-3.10.rng",
            "pacemaker-2.10.rng",
            "pacemaker-next.rng",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        assert_eq!(newest_schema(&dir).as_deref(), Some("pacemaker-3.10"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(newest_schema(Path::new("/nonexistent")), None);
    }
}
