//! The environment Pacemaker (or ocf-tester, or crm_resource) gives an agent.
//!
//! Everything is read once into an [`OcfEnv`] so that agents and tests work on
//! plain values: `OcfEnv::from_vars` builds one from any list of variables.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Action;

/// Pacemaker's default operation timeout, used when `CRM_meta_timeout` is absent.
pub const DEFAULT_TIMEOUT_MS: u64 = 20_000;

#[derive(Debug, Clone, Default)]
pub struct OcfEnv {
    vars: BTreeMap<String, String>,
}

impl OcfEnv {
    /// The environment of this process.
    pub fn from_process() -> OcfEnv {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| {
            // Non-UTF-8 variables cannot be OCF parameters we understand; a
            // parameter with such a value is reported as missing, not a panic.
            Some((k.into_string().ok()?, v.into_string().ok()?))
        }))
    }

    pub fn from_vars<I, K, V>(vars: I) -> OcfEnv
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        OcfEnv {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Any variable.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// An instance parameter (`OCF_RESKEY_<name>`), as given.
    pub fn reskey(&self, name: &str) -> Option<&str> {
        self.var(&format!("OCF_RESKEY_{name}"))
    }

    /// A resource or operation meta attribute (`OCF_RESKEY_CRM_meta_<name>`).
    /// Dashes in the attribute name become underscores, as Pacemaker does.
    pub fn meta(&self, name: &str) -> Option<&str> {
        self.var(&format!("OCF_RESKEY_CRM_meta_{}", name.replace('-', "_")))
    }

    /// `OCF_ROOT`, defaulting to `/usr/lib/ocf`.
    pub fn root(&self) -> &str {
        self.var("OCF_ROOT").unwrap_or("/usr/lib/ocf")
    }

    /// `OCF_RESOURCE_INSTANCE`; ocf-shellfuncs uses `default` when unset.
    pub fn instance(&self) -> &str {
        self.var("OCF_RESOURCE_INSTANCE")
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
    }

    /// The instance name without the `:N` suffix of globally-unique clones.
    pub fn instance_base(&self) -> &str {
        let i = self.instance();
        i.split_once(':').map_or(i, |(base, _)| base)
    }

    /// `OCF_RESOURCE_TYPE`, if Pacemaker said it.
    pub fn resource_type(&self) -> Option<&str> {
        self.var("OCF_RESOURCE_TYPE")
    }

    /// The operation interval in milliseconds; 0 for one-shot operations and probes.
    pub fn interval_ms(&self) -> u64 {
        self.meta("interval")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The operation timeout Pacemaker will enforce with SIGKILL.
    pub fn timeout(&self) -> Duration {
        let ms = self
            .meta("timeout")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .unwrap_or(DEFAULT_TIMEOUT_MS);
        Duration::from_millis(ms)
    }

    /// A probe is a monitor with interval 0 (ocf_is_probe). The legacy
    /// `status` action is never a probe, as in ocf-shellfuncs.
    pub fn is_probe(&self, action: &Action) -> bool {
        *action == Action::Monitor && self.interval_ms() == 0
    }

    /// `OCF_CHECK_LEVEL` (or the `OCF_RESKEY_OCF_CHECK_LEVEL` spelling), 0 when unset.
    /// A value that is not a number is returned as `Err` with the raw text.
    pub fn check_level(&self) -> Result<u32, String> {
        let raw = self
            .var("OCF_CHECK_LEVEL")
            .or_else(|| self.reskey("OCF_CHECK_LEVEL"))
            .unwrap_or("0")
            .trim();
        if raw.is_empty() {
            return Ok(0);
        }
        raw.parse().map_err(|_| raw.to_string())
    }

    /// Running as a clone (ocf_is_clone).
    pub fn is_clone(&self) -> bool {
        self.meta("clone_max").is_some()
    }

    /// The clone instance number (`CRM_meta_clone`), if any.
    pub fn clone_id(&self) -> Option<u32> {
        self.meta("clone").and_then(|v| v.trim().parse().ok())
    }

    /// A promotable clone (ocf_is_ms).
    pub fn is_promotable(&self) -> bool {
        self.meta("promotable").is_some_and(crate::is_true)
            || self
                .meta("promoted_max")
                .or_else(|| self.meta("master_max"))
                .and_then(|v| v.trim().parse::<u32>().ok())
                .is_some_and(|n| n > 0)
    }

    pub fn is_globally_unique(&self) -> bool {
        self.meta("globally_unique").is_some_and(crate::is_true)
    }

    /// ocf-tester sets this to check that meta-data works without any binaries.
    pub fn tester_fails_binaries(&self) -> bool {
        self.var("OCF_TESTER_FAIL_HAVE_BINARY") == Some("1")
    }

    /// `OCF_EXIT_REASON_PREFIX`, defaulting to `ocf-exit-reason:`.
    pub fn exit_reason_prefix(&self) -> &str {
        self.var("OCF_EXIT_REASON_PREFIX")
            .unwrap_or("ocf-exit-reason:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &[(&str, &str)]) -> OcfEnv {
        OcfEnv::from_vars(v.iter().copied())
    }

    #[test]
    fn probe_is_monitor_with_zero_interval() {
        let e = env(&[("OCF_RESKEY_CRM_meta_interval", "0")]);
        assert!(e.is_probe(&Action::Monitor));
        assert!(!e.is_probe(&Action::Start));
        let e = env(&[("OCF_RESKEY_CRM_meta_interval", "10000")]);
        assert!(!e.is_probe(&Action::Monitor));
        assert!(env(&[]).is_probe(&Action::Monitor));
        assert!(!env(&[]).is_probe(&Action::Status));
    }

    #[test]
    fn timeout_defaults_and_parses() {
        assert_eq!(env(&[]).timeout(), Duration::from_secs(20));
        let e = env(&[("OCF_RESKEY_CRM_meta_timeout", "60000")]);
        assert_eq!(e.timeout(), Duration::from_secs(60));
        let e = env(&[("OCF_RESKEY_CRM_meta_timeout", "junk")]);
        assert_eq!(e.timeout(), Duration::from_secs(20));
    }

    #[test]
    fn check_level_spellings() {
        assert_eq!(env(&[]).check_level(), Ok(0));
        assert_eq!(env(&[("OCF_CHECK_LEVEL", "20")]).check_level(), Ok(20));
        assert_eq!(
            env(&[("OCF_RESKEY_OCF_CHECK_LEVEL", "10")]).check_level(),
            Ok(10)
        );
        assert_eq!(
            env(&[("OCF_CHECK_LEVEL", "x")]).check_level(),
            Err("x".to_string())
        );
    }

    #[test]
    fn instance_and_clone() {
        let e = env(&[
            ("OCF_RESOURCE_INSTANCE", "fs:2"),
            ("OCF_RESKEY_CRM_meta_clone_max", "2"),
            ("OCF_RESKEY_CRM_meta_clone", "1"),
            ("OCF_RESKEY_CRM_meta_promotable", "true"),
        ]);
        assert_eq!(e.instance_base(), "fs");
        assert!(e.is_clone());
        assert_eq!(e.clone_id(), Some(1));
        assert!(e.is_promotable());
        assert_eq!(env(&[]).instance(), "default");
    }
}
