//! Finding the processes that keep a mount busy, from `/proc` alone.
//!
//! The reference agent forks `fuser -m` (which can block on a dead NFS
//! server and has missed users, resource-agents #1426) or, with
//! `force_unmount=safe`, a `find | grep | awk` pipeline. Here one pass over
//! `/proc/<pid>/{cwd,root,exe,fd/*,maps}` does both:
//! - by device (`force_unmount=true`): a link whose target lies on the
//!   filesystem's device, or a mapping of a file on it; this stat()s the
//!   links, like fuser;
//! - by path (`safe`): a link whose target path is the mount point or below
//!   it, read with readlink only, so nothing can block on the filesystem.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What to look for.
#[derive(Debug, Clone)]
pub struct Target {
    pub mountpoint: PathBuf,
    /// Match by device number too (`major`, `minor`).
    pub dev: Option<(u32, u32)>,
}

/// One process using the target, and the first thing found that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub pid: i32,
    pub via: String,
    pub command: String,
}

/// Splits a Linux `dev_t` into (major, minor).
pub fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// Whether `path` is `dir` or lies below it (component-wise).
pub fn path_within(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
}

/// Whether a `/proc/<pid>/maps` line maps a file of the target.
pub fn maps_line_uses(line: &str, target: &Target) -> bool {
    let mut f = line.split_ascii_whitespace();
    let (Some(_), Some(_), Some(_), Some(dev), Some(inode)) =
        (f.next(), f.next(), f.next(), f.next(), f.next())
    else {
        return false;
    };
    if inode == "0" {
        return false;
    }
    if let (Some(want), Some((maj, min))) = (target.dev, dev.split_once(':')) {
        if let (Ok(maj), Ok(min)) = (u32::from_str_radix(maj, 16), u32::from_str_radix(min, 16)) {
            if (maj, min) == want {
                return true;
            }
        }
    }
    // The path is the rest of the line after the inode column.
    let path = line
        .splitn(6, |c: char| c.is_ascii_whitespace())
        .nth(5)
        .map(str::trim_start)
        .unwrap_or("");
    path.starts_with('/') && path_within(Path::new(path), &target.mountpoint)
}

fn link_uses(link: &Path, target: &Target) -> bool {
    if let Ok(dest) = std::fs::read_link(link) {
        if path_within(&dest, &target.mountpoint) {
            return true;
        }
    }
    match target.dev {
        Some(want) => std::fs::metadata(link).is_ok_and(|m| split_dev(m.dev()) == want),
        None => false,
    }
}

fn command_of(proc_dir: &Path) -> String {
    let raw = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let mut s: String = String::from_utf8_lossy(&raw)
        .split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if s.is_empty() {
        s = std::fs::read_to_string(proc_dir.join("comm"))
            .map(|c| format!("[{}]", c.trim()))
            .unwrap_or_default();
    }
    s.chars().take(120).collect()
}

/// Why process `dir` (a `/proc/<pid>` directory) uses the target, if it does.
fn uses(dir: &Path, target: &Target) -> Option<String> {
    for what in ["cwd", "root", "exe"] {
        if link_uses(&dir.join(what), target) {
            return Some(what.to_string());
        }
    }
    if let Ok(fds) = std::fs::read_dir(dir.join("fd")) {
        for fd in fds.flatten() {
            if link_uses(&fd.path(), target) {
                return Some(format!("fd {}", fd.file_name().to_string_lossy()));
            }
        }
    }
    let maps = std::fs::read_to_string(dir.join("maps")).unwrap_or_default();
    maps.lines()
        .any(|l| maps_line_uses(l, target))
        .then(|| "a memory mapping".to_string())
}

/// Every process under `proc_root` using the target, except `exclude`
/// (the agent itself) and pid 1, which must never be signalled.
pub fn find_users(proc_root: &Path, target: &Target, exclude: &[i32]) -> Vec<User> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut users: Vec<User> = entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            if pid <= 1 || exclude.contains(&pid) {
                return None;
            }
            let dir = e.path();
            let via = uses(&dir, target)?;
            Some(User {
                pid,
                via,
                command: command_of(&dir),
            })
        })
        .collect();
    users.sort_by_key(|u| u.pid);
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dev: Option<(u32, u32)>) -> Target {
        Target {
            mountpoint: PathBuf::from("/mnt/d"),
            dev,
        }
    }

    #[test]
    fn dev_split_matches_kernel_encoding() {
        assert_eq!(split_dev(0x0703), (7, 3));
        assert_eq!(split_dev(0xfd01), (253, 1));
        // Large minor numbers use the high bits.
        assert_eq!(split_dev((259 << 8) | 0x12 | (0x345 << 20)), (259, 0x34512));
    }

    #[test]
    fn maps_lines() {
        let by_path = target(None);
        let l = "7f00-7f10 r--p 00000000 07:03 12 /mnt/d/lib/x.so";
        assert!(maps_line_uses(l, &by_path));
        let l = "7f00-7f10 r--p 00000000 07:03 12 /mnt/data/x.so";
        assert!(!maps_line_uses(l, &by_path));
        let l = "7f00-7f10 r--p 00000000 07:03 12 /other/x.so";
        assert!(maps_line_uses(l, &target(Some((7, 3)))));
        assert!(!maps_line_uses(l, &by_path));
        let anon = "7f00-7f10 rw-p 00000000 00:00 0 ";
        assert!(!maps_line_uses(anon, &target(Some((0, 0)))));
        let spaced = "7f00-7f10 r--p 00000000 07:03 12      /mnt/d/a b (deleted)";
        assert!(maps_line_uses(spaced, &by_path));
        assert!(!maps_line_uses("garbage", &by_path));
    }

    #[test]
    fn finds_a_child_with_its_cwd_below_a_directory() {
        let dir = std::env::temp_dir().join(format!("ocf-fs-procs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&dir)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let t = Target {
            mountpoint: dir.clone(),
            dev: None,
        };
        let found = find_users(Path::new("/proc"), &t, &[]);
        let excluded = find_users(Path::new("/proc"), &t, &[pid]);
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir(&dir);
        let me = found.iter().find(|u| u.pid == pid).expect("child found");
        assert_eq!(me.via, "cwd");
        // Right after exec the kernel may not show the new command line yet,
        // and the walk then names the process by its comm: "[sleep]".
        assert!(me.command.contains("sleep"), "{me:?}");
        assert!(excluded.iter().all(|u| u.pid != pid));
    }
}
