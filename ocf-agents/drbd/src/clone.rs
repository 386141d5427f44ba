//! What Pacemaker tells the agent about the clone: its meta attributes (checked as the
//! linbit agent checks them) and, during notify, who starts, stops and is promoted.

use ocf::{Action, OcfEnv, OcfError, Result};

/// The meta attributes a two-node replicated resource needs. An unset attribute is an
/// error, as in the linbit agent: the agent only makes sense as a promotable clone.
pub fn check_meta(env: &OcfEnv) -> Result<()> {
    let num = |names: &[&str]| -> Option<(String, Option<i64>)> {
        names.iter().find_map(|n| {
            env.meta(n)
                .map(|v| (n.to_string(), v.trim().parse::<i64>().ok()))
        })
    };
    let expect = |names: &[&str], ok: fn(i64) -> bool, want: &str| -> Result<()> {
        match num(names) {
            Some((_, Some(v))) if ok(v) => Ok(()),
            found => Err(OcfError::configured(format!(
                "meta parameter misconfigured, expected {} {want}, but found {}; run this agent as a promotable clone with clone-max=2 clone-node-max=1 promoted-max=1 promoted-node-max=1 notify=true",
                names[0].replace('_', "-"),
                match found {
                    Some((_, Some(v))) => v.to_string(),
                    Some((n, None)) => format!("a non-number in {n}"),
                    None => "unset".into(),
                }
            ))),
        }
    };
    expect(&["clone_max"], |v| v <= 2, "<= 2")?;
    expect(&["clone_node_max"], |v| v == 1, "= 1")?;
    expect(&["promoted_node_max", "master_node_max"], |v| v == 1, "= 1")?;
    expect(&["promoted_max", "master_max"], |v| v <= 2, "<= 2")?;
    Ok(())
}

/// `promoted-max` (or its old name), 1 when unset.
pub fn promoted_max(env: &OcfEnv) -> i64 {
    env.meta("promoted_max")
        .or_else(|| env.meta("master_max"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
}

/// The actions that rely on notifications being enabled.
pub fn needs_notify(action: &Action) -> bool {
    matches!(
        action,
        Action::Start | Action::Promote | Action::Demote | Action::Notify | Action::Reload
    )
}

/// One notification, from `OCF_RESKEY_CRM_meta_notify_*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    /// `pre` or `post`.
    pub kind: String,
    /// `start`, `stop`, `promote`, `demote`.
    pub operation: String,
    /// Nodes currently promoted (`notify_promoted_uname`, old `notify_master_uname`).
    pub promoted: Vec<String>,
    /// Nodes about to be promoted.
    pub promote: Vec<String>,
    /// Nodes about to be demoted.
    pub demote: Vec<String>,
    /// Nodes about to be stopped.
    pub stop: Vec<String>,
}

impl Notice {
    pub fn from_env(env: &OcfEnv) -> Notice {
        let list = |names: &[&str]| -> Vec<String> {
            names
                .iter()
                .find_map(|n| env.meta(n))
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        Notice {
            kind: env.meta("notify_type").unwrap_or_default().to_string(),
            operation: env.meta("notify_operation").unwrap_or_default().to_string(),
            promoted: list(&["notify_promoted_uname", "notify_master_uname"]),
            promote: list(&["notify_promote_uname"]),
            demote: list(&["notify_demote_uname"]),
            stop: list(&["notify_stop_uname"]),
        }
    }

    /// Whether a node other than `me` is, or after this transition will be, promoted.
    pub fn other_promoted(&self, me: &str) -> bool {
        let after_post = self.kind == "post";
        self.promoted
            .iter()
            .chain(self.promote.iter())
            .filter(|n| n.as_str() != me)
            // After a demote or stop the demoted/stopped nodes are promoted no longer.
            .any(|n| !(after_post && (self.demote.contains(n) || self.stop.contains(n))))
    }

    /// Whether `node` is named as promoted (now or about to be).
    pub fn names_promoted(&self, node: &str) -> bool {
        self.promoted
            .iter()
            .chain(self.promote.iter())
            .any(|n| n == node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &[(&str, &str)]) -> OcfEnv {
        OcfEnv::from_vars(
            v.iter()
                .map(|(k, v)| (format!("OCF_RESKEY_CRM_meta_{k}"), *v)),
        )
    }

    #[test]
    fn meta_of_a_two_node_promotable_clone_passes() {
        let e = env(&[
            ("clone_max", "2"),
            ("clone_node_max", "1"),
            ("promoted_node_max", "1"),
            ("promoted_max", "1"),
        ]);
        assert!(check_meta(&e).is_ok());
        // Pacemaker before 2.1 spells it master.
        let e = env(&[
            ("clone_max", "2"),
            ("clone_node_max", "1"),
            ("master_node_max", "1"),
            ("master_max", "2"),
        ]);
        assert!(check_meta(&e).is_ok());
        assert_eq!(promoted_max(&e), 2);
    }

    #[test]
    fn bad_or_missing_meta_is_not_configured() {
        let e = check_meta(&env(&[])).unwrap_err();
        assert_eq!(e.exit_code(), ocf::ExitCode::ErrConfigured);
        assert!(
            e.reason().contains("clone-max <= 2, but found unset"),
            "{e}"
        );
        let e = check_meta(&env(&[
            ("clone_max", "2"),
            ("clone_node_max", "2"),
            ("promoted_node_max", "1"),
            ("promoted_max", "1"),
        ]))
        .unwrap_err();
        assert!(
            e.reason().contains("clone-node-max = 1, but found 2"),
            "{e}"
        );
        let e = check_meta(&env(&[
            ("clone_max", "3"),
            ("clone_node_max", "1"),
            ("promoted_node_max", "1"),
            ("promoted_max", "1"),
        ]))
        .unwrap_err();
        assert!(e.reason().contains("found 3"), "{e}");
    }

    #[test]
    fn notice_lists() {
        let e = env(&[
            ("notify_type", "post"),
            ("notify_operation", "promote"),
            ("notify_promoted_uname", "beta "),
            ("notify_promote_uname", "beta"),
        ]);
        let n = Notice::from_env(&e);
        assert_eq!(n.kind, "post");
        assert!(n.other_promoted("alpha"));
        assert!(!n.other_promoted("beta"));
        assert!(n.names_promoted("beta"));
        // post-demote: the demoted node is no longer promoted.
        let e = env(&[
            ("notify_type", "post"),
            ("notify_operation", "demote"),
            ("notify_master_uname", "beta"),
            ("notify_demote_uname", "beta"),
        ]);
        assert!(!Notice::from_env(&e).other_promoted("alpha"));
    }
}
