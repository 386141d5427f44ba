//! Setting the promotion score node attribute, forking `crm_attribute` only when the value
//! changes.
//!
//! The last value set is cached in `$HA_RSCTMP` (a tmpfs cleared at boot, as the
//! attribute's `reboot` lifetime is). The cache is trusted for [`REFRESH`] only, so an
//! attribute lost some other way (Pacemaker restarted, a `crm_attribute -D` by hand) comes
//! back within minutes. Without a running cluster (ocf-tester, tests) `crm_attribute`
//! fails: that is logged and is never fatal, as in the linbit agent.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use ocf::command::{find_binary, run, Deadline};
use ocf::{Logger, OcfEnv};

use crate::score::Score;

/// How long a cached value is trusted before it is set again.
pub const REFRESH: Duration = Duration::from_secs(300);

/// The promotion score attribute of one resource on this node.
pub struct PromotionAttr<'a> {
    pub env: &'a OcfEnv,
    pub log: &'a Logger,
    pub deadline: Deadline,
}

impl PromotionAttr<'_> {
    /// The resource whose promotion score this is: the instance without a clone suffix.
    fn resource(&self) -> &str {
        self.env.instance_base()
    }

    fn cache_file(&self) -> PathBuf {
        let dir = self.env.var("HA_RSCTMP").unwrap_or("/run/resource-agents");
        PathBuf::from(dir).join(format!("shimai-drbd-{}.score", self.resource()))
    }

    fn cached(&self) -> Option<String> {
        let f = self.cache_file();
        let fresh = std::fs::metadata(&f)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < REFRESH);
        fresh
            .then(|| std::fs::read_to_string(&f).ok())
            .flatten()
            .map(|s| s.trim().to_string())
    }

    fn remember(&self, value: &str) {
        let f = self.cache_file();
        if let Some(dir) = f.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(&f, value) {
            self.log.debug(&format!(
                "cannot cache the promotion score in {}: {e}",
                f.display()
            ));
        }
    }

    /// Forgets the cache, so that the next update runs `crm_attribute` whatever the value.
    pub fn forget(&self) {
        let _ = std::fs::remove_file(self.cache_file());
    }

    /// Applies `score`. Returns whether `crm_attribute` was run.
    pub fn apply(&self, score: Score) -> bool {
        let value = match score {
            Score::Keep => return false,
            Score::Set(v) => v.to_string(),
            Score::Remove => "removed".to_string(),
        };
        if self.cached().as_deref() == Some(value.as_str()) {
            return false;
        }
        let mut cmd = self.command();
        match score {
            Score::Set(v) => cmd.args(["-v", &v.to_string()]),
            _ => cmd.arg("-D"),
        };
        match run(&mut cmd, &self.deadline) {
            Ok(out) if out.success() => {
                self.log.info(&format!(
                    "promotion score of {} on this node: {value}",
                    self.resource()
                ));
                self.remember(&value);
            }
            Ok(out) => self.log.warn(&format!(
                "could not set the promotion score of {} to {value} (is the cluster running?): {}",
                self.resource(),
                out.one_line()
            )),
            Err(e) => self.log.warn(&format!(
                "could not set the promotion score of {}: {e}",
                self.resource()
            )),
        }
        true
    }

    /// `crm_attribute --promotion` on Pacemaker 2.1+ (feature set 3.10.0 and later), or
    /// the deprecated `crm_master -l reboot` before, as ocf-shellfuncs'
    /// `ocf_promotion_score` chooses.
    fn command(&self) -> Command {
        let modern = self
            .env
            .reskey("crm_feature_set")
            .is_none_or(|v| feature_set_at_least(v, [3, 10, 0]));
        let mut cmd;
        if modern || find_binary(self.env, "crm_master").is_none() {
            cmd = Command::new("crm_attribute");
            cmd.args(["--promotion", "-q"]);
        } else {
            cmd = Command::new("crm_master");
            cmd.args(["-l", "reboot", "-q"]);
        }
        cmd.env("OCF_RESOURCE_INSTANCE", self.resource());
        cmd
    }
}

/// Compares a dotted feature set with `want`; an unparsable one counts as new.
fn feature_set_at_least(v: &str, want: [u32; 3]) -> bool {
    let parts: Vec<u32> = v
        .trim()
        .split('.')
        .map(|p| p.parse().unwrap_or(u32::MAX))
        .collect();
    let got = [0, 1, 2].map(|i| parts.get(i).copied().unwrap_or(0));
    got >= want
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_sets_compare_numerically() {
        assert!(feature_set_at_least("3.16.1", [3, 10, 0]));
        assert!(feature_set_at_least("3.10.0", [3, 10, 0]));
        assert!(!feature_set_at_least("3.9.12", [3, 10, 0]));
        assert!(!feature_set_at_least("2.0", [3, 10, 0]));
    }

    #[test]
    fn unchanged_value_forks_nothing() {
        let dir = std::env::temp_dir().join(format!("shimai-drbd-attr-{}", std::process::id()));
        let env = OcfEnv::from_vars([
            ("HA_RSCTMP", dir.to_str().unwrap()),
            ("OCF_RESOURCE_INSTANCE", "p_drbd:1"),
            // No crm_attribute on this PATH: any fork would fail and not be cached.
            ("PATH", "/nonexistent"),
        ]);
        let log = Logger::silent();
        let a = PromotionAttr {
            env: &env,
            log: &log,
            deadline: Deadline::after(Duration::from_secs(5)),
        };
        assert!(a.cache_file().ends_with("shimai-drbd-p_drbd.score"));
        a.remember("10000");
        assert!(!a.apply(Score::Set(10000)), "cached value must not fork");
        assert!(!a.apply(Score::Keep));
        assert!(a.apply(Score::Set(1000)), "a new value must be set");
        // The failed set was not cached: it is tried again next time.
        assert_eq!(a.cached().as_deref(), Some("10000"));
        a.forget();
        assert!(a.apply(Score::Set(10000)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
