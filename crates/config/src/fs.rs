//! Reading files for `include`, through a trait so that tests (and the
//! fuzzer) can use an in-memory tree, and the small glob matcher includes
//! need (`*` and `?`, as drbd.conf's `include "drbd.d/*.res"`).

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Where configuration files come from.
pub trait FileSource {
    /// The whole file as UTF-8.
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
    /// The names of the entries of a directory (any order).
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl FileSource for RealFs {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            // Names that are not UTF-8 cannot be written in a quoted include
            // pattern either, so they can never match.
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }
}

/// An in-memory tree of files, keyed by path; directories exist implicitly.
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    files: BTreeMap<PathBuf, String>,
}

impl MemFs {
    pub fn new() -> Self {
        MemFs::default()
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> &mut Self {
        self.files.insert(path.into(), text.into());
        self
    }
}

impl FileSource for MemFs {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|p| p.strip_prefix(dir).ok())
            .filter_map(|rest| rest.components().next())
            .filter_map(|c| match c {
                Component::Normal(name) => name.to_str().map(str::to_string),
                _ => None,
            })
            .collect();
        names.dedup();
        if names.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        Ok(names)
    }
}

/// Whether `name` matches `pattern` (`*` any run, `?` one character). As in
/// a shell, a wildcard does not match a leading `.`.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was and the name position it is retried from:
    // linear-time backtracking, so hostile patterns stay cheap.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some('?') => {
                pi += 1;
                ni += 1;
            }
            Some(c) if *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// The files an include pattern names, relative to `base_dir` unless
/// absolute. Without wildcards the one path is returned as is (reading it
/// reports a missing file); with wildcards, the sorted matches (possibly
/// none, as DRBD allows an empty `drbd.d`).
pub(crate) fn expand(fs: &dyn FileSource, base_dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = base_dir.join(pattern);
    if !has_wildcard(pattern) {
        return vec![full];
    }
    let mut candidates = vec![PathBuf::new()];
    let mut expanded = false;
    for component in full.components() {
        let text = component.as_os_str().to_string_lossy();
        if !has_wildcard(&text) {
            // After a wildcard, a literal name must exist in each matched
            // directory; `*/x.conf` names only the directories that have one.
            if expanded {
                candidates.retain(|c| {
                    fs.list_dir(c)
                        .is_ok_and(|names| names.iter().any(|n| **n == *text))
                });
            }
            for c in &mut candidates {
                c.push(component.as_os_str());
            }
            continue;
        }
        expanded = true;
        let mut next = Vec::new();
        for dir in &candidates {
            let listed = if dir.as_os_str().is_empty() {
                fs.list_dir(Path::new("."))
            } else {
                fs.list_dir(dir)
            };
            let Ok(mut names) = listed else { continue };
            names.sort();
            next.extend(
                names
                    .into_iter()
                    .filter(|name| wildcard_match(&text, name))
                    .map(|name| dir.join(name)),
            );
        }
        candidates = next;
    }
    candidates.sort();
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.res", "r0.res"));
        assert!(!wildcard_match("*.res", "r0.res.bak"));
        assert!(wildcard_match("r?.res", "r1.res"));
        assert!(!wildcard_match("r?.res", "r10.res"));
        assert!(wildcard_match("*a*b*", "xxaxxbxx"));
        assert!(!wildcard_match("*", ".hidden"));
        assert!(wildcard_match(".*", ".hidden"));
        assert!(wildcard_match("日*", "日本.res"));
        assert!(!wildcard_match(&"*a".repeat(50), &"a".repeat(40)));
    }

    #[test]
    fn expand_lists_sorted_matches_in_the_including_directory() {
        let mut fs = MemFs::new();
        fs.insert("/etc/shimai/shimai.d/b.res", "")
            .insert("/etc/shimai/shimai.d/a.res", "")
            .insert("/etc/shimai/shimai.d/a.res.orig", "")
            .insert("/etc/shimai/shimai.d/sub/c.res", "");
        assert_eq!(
            expand(&fs, Path::new("/etc/shimai"), "shimai.d/*.res"),
            vec![
                PathBuf::from("/etc/shimai/shimai.d/a.res"),
                PathBuf::from("/etc/shimai/shimai.d/b.res")
            ]
        );
        assert_eq!(
            expand(&fs, Path::new("/etc/shimai"), "*/*/c.res"),
            vec![PathBuf::from("/etc/shimai/shimai.d/sub/c.res")]
        );
        assert!(expand(&fs, Path::new("/nowhere"), "*.res").is_empty());
        assert_eq!(
            expand(&fs, Path::new("/etc"), "/abs/x.conf"),
            vec![PathBuf::from("/abs/x.conf")]
        );
    }
}
