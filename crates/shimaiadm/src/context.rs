//! Where shimaiadm finds its inputs: the configuration file, this node's
//! name, the runtime directory, and which resources a command names.
//!
//! The precedence is drbdadm's, extended the same way for each input: the
//! command-line option, then an environment variable, then the system
//! default. [`Settings::resolve`] takes the environment as a function so
//! that the rule is tested without touching the process environment.

use std::path::{Path, PathBuf};

use shimai_config::{Config, Resource};

use crate::error::AdmError;

pub const DEFAULT_CONFIG: &str = "/etc/shimai/shimai.conf";
pub const DEFAULT_RUN_DIR: &str = "/run/shimai";

/// The resolved global options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub config: PathBuf,
    pub node: String,
    pub run_dir: PathBuf,
}

impl Settings {
    /// Options first, then `SHIMAI_CONFIG` / `SHIMAI_NODE` /
    /// `SHIMAI_RUN_DIR`, then the defaults (`hostname` is `uname -n`).
    pub fn resolve(
        config: Option<PathBuf>,
        node: Option<String>,
        run_dir: Option<PathBuf>,
        env: impl Fn(&str) -> Option<String>,
        hostname: impl FnOnce() -> String,
    ) -> Settings {
        let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
        Settings {
            config: config
                .or_else(|| non_empty("SHIMAI_CONFIG").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG)),
            node: node
                .or_else(|| non_empty("SHIMAI_NODE"))
                .unwrap_or_else(hostname),
            run_dir: run_dir
                .or_else(|| non_empty("SHIMAI_RUN_DIR").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from(DEFAULT_RUN_DIR)),
        }
    }
}

/// `uname -n`: the kernel's node name, which is what DRBD matches `on`
/// sections against.
pub fn node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The configuration as loaded, with the name of its file for messages.
#[derive(Debug)]
pub struct Loaded {
    pub file: String,
    pub config: Config,
    pub warnings: Vec<shimai_config::Warning>,
}

impl Loaded {
    pub fn load(path: &Path) -> Result<Loaded, AdmError> {
        let parsed = shimai_config::load(path)?;
        Ok(Loaded {
            file: path.display().to_string(),
            config: parsed.config,
            warnings: parsed.warnings,
        })
    }

    /// The resources a command names: `all` is every resource with an
    /// `on NODE` section (in file order); a name must exist and have one.
    pub fn select(&self, name: &str, node: &str) -> Result<Vec<&Resource>, AdmError> {
        if name == "all" {
            let mine: Vec<&Resource> = self
                .config
                .resources
                .iter()
                .filter(|r| r.host_for(node).is_some())
                .collect();
            if mine.is_empty() {
                return Err(AdmError::NothingForThisNode {
                    file: self.file.clone(),
                    node: node.to_string(),
                });
            }
            return Ok(mine);
        }
        let Some(r) = self.config.resource(name) else {
            let known: Vec<&str> = self
                .config
                .resources
                .iter()
                .map(|r| r.name.as_str())
                .collect();
            return Err(AdmError::NoSuchResource {
                file: self.file.clone(),
                name: name.to_string(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        };
        if r.host_for(node).is_none() {
            let hosts: Vec<&str> = r.hosts.iter().map(|h| h.name()).collect();
            return Err(AdmError::NotOnThisNode {
                file: self.file.clone(),
                resource: r.name.clone(),
                node: node.to_string(),
                hosts: hosts.join(", "),
            });
        }
        Ok(vec![r])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn options_beat_environment_beats_defaults() {
        let env = env_of(&[
            ("SHIMAI_CONFIG", "/env.conf"),
            ("SHIMAI_NODE", "envnode"),
            ("SHIMAI_RUN_DIR", "/env/run"),
        ]);
        let s = Settings::resolve(
            Some("/opt.conf".into()),
            Some("optnode".into()),
            None,
            &env,
            || "uname".into(),
        );
        assert_eq!(s.config, PathBuf::from("/opt.conf"));
        assert_eq!(s.node, "optnode");
        assert_eq!(s.run_dir, PathBuf::from("/env/run"));

        let s = Settings::resolve(None, None, None, env_of(&[("SHIMAI_NODE", "")]), || {
            "uname".into()
        });
        assert_eq!(s.config, PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(s.node, "uname", "an empty SHIMAI_NODE counts as unset");
        assert_eq!(s.run_dir, PathBuf::from(DEFAULT_RUN_DIR));
    }

    fn loaded(text: &str) -> Loaded {
        let p = shimai_config::parse_str(text, "t.conf").unwrap();
        Loaded {
            file: "t.conf".into(),
            config: p.config,
            warnings: p.warnings,
        }
    }

    const TWO: &str = "
        resource a { on n1 { device /dev/drbd0; disk /d/a; address 127.0.0.1:7000; meta-disk internal; }
                     on n2 { device /dev/drbd0; disk /d/a; address 127.0.0.2:7000; meta-disk internal; } }
        resource b { on n2 { device /dev/drbd1; disk /d/b; address 127.0.0.2:7001; meta-disk internal; }
                     on n3 { device /dev/drbd1; disk /d/b; address 127.0.0.3:7001; meta-disk internal; } }";

    #[test]
    fn all_means_the_resources_of_this_node() {
        let l = loaded(TWO);
        let names = |v: Vec<&Resource>| v.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(l.select("all", "n1").unwrap()), ["a"]);
        assert_eq!(names(l.select("all", "n2").unwrap()), ["a", "b"]);
        let e = l.select("all", "n9").unwrap_err();
        assert_eq!(e.exit_code(), 10);
        assert!(e.to_string().contains("'on n9'"), "{e}");
    }

    #[test]
    fn unknown_names_and_foreign_resources_are_config_errors() {
        let l = loaded(TWO);
        let e = l.select("c", "n1").unwrap_err();
        assert_eq!(e.exit_code(), 10);
        assert_eq!(
            e.to_string(),
            "t.conf: no resource named 'c' (configured: a, b); check the name or use -c FILE"
        );
        let e = l.select("b", "n1").unwrap_err();
        assert_eq!(e.exit_code(), 10);
        assert!(e.to_string().contains("hosts: n2, n3"), "{e}");
    }
}
