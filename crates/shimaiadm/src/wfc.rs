//! Which `startup` timeout `wait-connect` and `wait-sync` use, as DRBD
//! chooses it at boot: `outdated-wfc-timeout` when this node knows its
//! peer is outdated, `degr-wfc-timeout` when the pair was degraded (this
//! node was not connected when it last went down), else `wfc-timeout`.
//! 0 means forever for `wfc-timeout`; for the other two it means "not
//! set" and `wfc-timeout` applies.

use std::time::Duration;

use shimai_config::StartupOptions;
use shimai_metadata::MdFlags;

/// The timeout, `None` for forever. `flags` are the local metadata's
/// (absent when it cannot be read: the plain `wfc-timeout` applies).
pub fn choose(startup: &StartupOptions, flags: Option<MdFlags>) -> Option<Duration> {
    let secs = |s: u32| (s > 0).then(|| Duration::from_secs(u64::from(s)));
    if let Some(f) = flags {
        if f.contains(MdFlags::PEER_OUT_DATED) {
            if let Some(d) = secs(startup.outdated_wfc_timeout.0) {
                return Some(d);
            }
        }
        if !f.contains(MdFlags::CONNECTED_IND) {
            if let Some(d) = secs(startup.degr_wfc_timeout.0) {
                return Some(d);
            }
        }
    }
    secs(startup.wfc_timeout.0)
}

/// `--timeout SECONDS` wins; 0 there means forever.
pub fn with_override(option: Option<u32>, chosen: Option<Duration>) -> Option<Duration> {
    match option {
        Some(0) => None,
        Some(s) => Some(Duration::from_secs(u64::from(s))),
        None => chosen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup(wfc: u32, degr: u32, outdated: u32) -> StartupOptions {
        let text = format!(
            "resource r {{ startup {{ wfc-timeout {wfc}; degr-wfc-timeout {degr}; outdated-wfc-timeout {outdated}; }}
               on a {{ device /dev/drbd0; disk /x; address 127.0.0.1:1; meta-disk internal; }}
               on b {{ device /dev/drbd0; disk /x; address 127.0.0.2:1; meta-disk internal; }} }}"
        );
        let p = shimai_config::parse_str(&text, "t").unwrap();
        p.config.resources[0].startup.clone()
    }

    fn flags(list: &[MdFlags]) -> Option<MdFlags> {
        let mut f = MdFlags::empty();
        for x in list {
            f.insert(*x);
        }
        Some(f)
    }

    #[test]
    fn drbds_choice_of_timeout() {
        let s = startup(30, 120, 15);
        let sec = |n| Some(Duration::from_secs(n));
        // Was connected: the normal timeout.
        assert_eq!(choose(&s, flags(&[MdFlags::CONNECTED_IND])), sec(30));
        // Went down degraded.
        assert_eq!(choose(&s, flags(&[])), sec(120));
        // Knows its peer is outdated.
        assert_eq!(
            choose(
                &s,
                flags(&[MdFlags::CONNECTED_IND, MdFlags::PEER_OUT_DATED])
            ),
            sec(15)
        );
        // Metadata unreadable: the plain one.
        assert_eq!(choose(&s, None), sec(30));
        // Scenario 5 sets only degr-wfc-timeout: forever unless degraded.
        let s5 = startup(0, 120, 0);
        assert_eq!(choose(&s5, flags(&[MdFlags::CONNECTED_IND])), None);
        assert_eq!(choose(&s5, flags(&[])), sec(120));
        assert_eq!(choose(&s5, flags(&[MdFlags::PEER_OUT_DATED])), sec(120));
    }

    #[test]
    fn the_option_overrides_and_zero_is_forever() {
        let d = Some(Duration::from_secs(5));
        assert_eq!(with_override(None, d), d);
        assert_eq!(with_override(Some(0), d), None);
        assert_eq!(with_override(Some(7), None), Some(Duration::from_secs(7)));
    }
}
