//! ha.cf, Heartbeat's cluster-wide settings, parsed directive by directive.
//!
//! Order matters in ha.cf: `udpport` applies to the media lines after it, so
//! each medium records the port in force when it was read. Times follow
//! Heartbeat's `cl_get_msec`: a bare number is seconds (decimals allowed),
//! `ms` and `us` suffixes are the only units. Directives that have no
//! meaning any more are kept as warnings, never silently dropped.

use crate::error::{Error, Place};

/// How Heartbeat treated a group when its preferred node came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoFailback {
    /// Move back to the preferred node.
    On,
    /// Stay where it is.
    Off,
    /// Heartbeat's default: like `on`, with a warning in its log.
    Legacy,
}

/// One communication medium line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Medium {
    /// `bcast IF...`: broadcast on each interface.
    Bcast {
        /// Interfaces.
        ifaces: Vec<String>,
        /// udpport in force.
        port: u16,
    },
    /// `mcast IF GROUP PORT TTL LOOP` (or mcast6).
    Mcast {
        /// Interface.
        iface: String,
        /// Multicast group.
        group: String,
        /// Port.
        port: u16,
    },
    /// `ucast IF PEER`.
    Ucast {
        /// Interface.
        iface: String,
        /// Peer address or name.
        peer: String,
        /// udpport in force.
        port: u16,
    },
    /// `serial DEV`: no modern equivalent.
    Serial(String),
}

/// `stonith_host FROM TYPE PARAMS...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StonithHost {
    /// Where it was written.
    pub place: Place,
    /// The node that may run the device (`*` for any).
    pub from: String,
    /// The cluster-glue plugin type (`external/ipmi`).
    pub kind: String,
    /// Positional parameters.
    pub params: Vec<String>,
}

/// Everything ha.cf said that the conversion uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaCf {
    /// `cluster NAME`.
    pub cluster: Option<String>,
    /// `node` entries, lowercased, in order.
    pub nodes: Vec<String>,
    /// Timers in milliseconds (Heartbeat defaults applied).
    pub keepalive_ms: u64,
    /// Node death detection.
    pub deadtime_ms: u64,
    /// Late-heartbeat warning.
    pub warntime_ms: u64,
    /// Start-up wait.
    pub initdead_ms: u64,
    /// Ping node death time, when given.
    pub deadping_ms: Option<u64>,
    /// Media lines in order.
    pub media: Vec<Medium>,
    /// `auto_failback` (or the old `nice_failback`).
    pub auto_failback: AutoFailback,
    /// `ping` hosts, all lines together.
    pub ping: Vec<String>,
    /// `ping_group NAME HOST...`.
    pub ping_groups: Vec<(String, Vec<String>)>,
    /// `respawn USER PROGRAM ARGS` lines (user, command line).
    pub respawn: Vec<(String, Vec<String>)>,
    /// `watchdog DEVICE`.
    pub watchdog: Option<String>,
    /// `stonith TYPE CONFIGFILE`.
    pub stonith: Option<(String, String)>,
    /// `stonith_host` lines.
    pub stonith_hosts: Vec<StonithHost>,
    /// `logfacility`.
    pub logfacility: Option<String>,
    /// `logfile`.
    pub logfile: Option<String>,
    /// `debug N>0` (a `debugfile` alone did not turn debugging on).
    pub debug: bool,
    /// `compression zlib|bz2`.
    pub compression: Option<String>,
    /// `compression_threshold` in KB.
    pub compression_threshold_kb: Option<u32>,
    /// `crm on|respawn` / `pacemaker on`: haresources was not used.
    pub crm: bool,
    /// Things the user must know: ignored or unknown directives.
    pub warnings: Vec<String>,
}

const HA_PORT: u16 = 694;

/// Directives Heartbeat knew that have no Corosync/Pacemaker counterpart.
const DROPPED: &[&str] = &[
    "apiauth",
    "msgfmt",
    "realtime",
    "rtprio",
    "hbgenmethod",
    "uuidfrom",
    "coredumps",
    "coreroot",
    "hopfudge",
    "autojoin",
    "memreserve",
    "max_rexmit_delay",
    "traditional_compression",
    "record_config_changes",
    "record_pengine_inputs",
    "enable_config_writes",
    "env",
    "use_logd",
    "conn_logd_time",
    "baud",
    "hbaping",
    "quorum_server",
    "syslogmsgfmt",
    "generation",
];

/// Parses ha.cf. `file` is only used in messages.
pub fn parse(file: &str, text: &str) -> Result<HaCf, Error> {
    let mut cf = HaCf {
        cluster: None,
        nodes: Vec::new(),
        keepalive_ms: 1000,
        deadtime_ms: 30_000,
        warntime_ms: 0,
        initdead_ms: 0,
        deadping_ms: None,
        media: Vec::new(),
        auto_failback: AutoFailback::Legacy,
        ping: Vec::new(),
        ping_groups: Vec::new(),
        respawn: Vec::new(),
        watchdog: None,
        stonith: None,
        stonith_hosts: Vec::new(),
        logfacility: None,
        logfile: None,
        debug: false,
        compression: None,
        compression_threshold_kb: None,
        crm: false,
        warnings: Vec::new(),
    };
    let mut port = HA_PORT;
    let (mut warntime, mut initdead) = (None, None);
    let mut saw_auto_failback = false;
    let mut debugfile: Option<(Place, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let place = Place::new(file, i + 1);
        let line = match raw.find('#') {
            Some(at) => &raw[..at],
            None => raw,
        };
        let mut words = line.split_whitespace();
        let Some(directive) = words.next() else {
            continue;
        };
        let args: Vec<&str> = words.collect();
        // Values end up in corosync.conf, where braces open sections.
        if let Some(bad) = args
            .iter()
            .find(|a| a.contains(['{', '}']) || a.contains(char::is_control))
        {
            return Err(Error::HaCf {
                place,
                what: format!("`{directive}`: `{bad}` contains a brace or control character"),
                fix: "remove it; no ha.cf value needs one".into(),
            });
        }
        let need = |n: usize, usage: &str| -> Result<(), Error> {
            if args.len() < n {
                Err(Error::HaCf {
                    place: place.clone(),
                    what: format!("`{directive}` needs {n} value(s)"),
                    fix: format!("write `{usage}`"),
                })
            } else {
                Ok(())
            }
        };
        match directive.to_ascii_lowercase().as_str() {
            "cluster" => {
                need(1, "cluster NAME")?;
                cf.cluster = Some(args[0].to_string());
            }
            "node" => {
                need(1, "node NAME...")?;
                for n in &args {
                    if !n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
                        return Err(bad_value(&place, directive, n, "a host name as `uname -n` prints it"));
                    }
                    let n = n.to_lowercase();
                    if !cf.nodes.contains(&n) {
                        cf.nodes.push(n);
                    }
                }
            }
            "keepalive" => cf.keepalive_ms = time(&place, directive, &args)?,
            "deadtime" => cf.deadtime_ms = time(&place, directive, &args)?,
            "warntime" => warntime = Some(time(&place, directive, &args)?),
            "initdead" => initdead = Some(time(&place, directive, &args)?),
            "deadping" => cf.deadping_ms = Some(time(&place, directive, &args)?),
            "udpport" => {
                need(1, "udpport PORT")?;
                port = parse_port(&place, args[0])?;
            }
            "bcast" => {
                need(1, "bcast INTERFACE...")?;
                cf.media.push(Medium::Bcast {
                    ifaces: args.iter().map(|s| s.to_string()).collect(),
                    port,
                });
            }
            "mcast" | "mcast6" => {
                need(3, "mcast INTERFACE GROUP PORT TTL LOOP")?;
                cf.media.push(Medium::Mcast {
                    iface: args[0].to_string(),
                    group: args[1].to_string(),
                    port: parse_port(&place, args[2])?,
                });
            }
            "ucast" | "ucast6" => {
                need(2, "ucast INTERFACE PEER")?;
                for peer in &args[1..] {
                    cf.media.push(Medium::Ucast {
                        iface: args[0].to_string(),
                        peer: peer.to_string(),
                        port,
                    });
                }
            }
            "serial" => {
                need(1, "serial DEVICE")?;
                for dev in &args {
                    cf.media.push(Medium::Serial(dev.to_string()));
                }
            }
            "auto_failback" => {
                need(1, "auto_failback on|off|legacy")?;
                saw_auto_failback = true;
                cf.auto_failback = match args[0].to_ascii_lowercase().as_str() {
                    "legacy" => AutoFailback::Legacy,
                    other => match boolean(other) {
                        Some(true) => AutoFailback::On,
                        Some(false) => AutoFailback::Off,
                        None => return Err(bad_value(&place, directive, args[0], "on, off or legacy")),
                    },
                };
            }
            "nice_failback" => {
                need(1, "nice_failback on|off")?;
                let on = boolean(args[0])
                    .ok_or_else(|| bad_value(&place, directive, args[0], "on or off"))?;
                if !saw_auto_failback {
                    cf.auto_failback = if on { AutoFailback::Off } else { AutoFailback::On };
                }
                cf.warnings.push(format!(
                    "{place}: nice_failback is the old name of auto_failback (nice_failback on = auto_failback off)"
                ));
            }
            "ping" => {
                need(1, "ping HOST...")?;
                cf.ping.extend(args.iter().map(|s| s.to_string()));
            }
            "ping_group" => {
                need(2, "ping_group NAME HOST...")?;
                cf.ping_groups.push((
                    args[0].to_string(),
                    args[1..].iter().map(|s| s.to_string()).collect(),
                ));
            }
            "respawn" => {
                need(2, "respawn USER PROGRAM [ARGS]")?;
                cf.respawn.push((
                    args[0].to_string(),
                    args[1..].iter().map(|s| s.to_string()).collect(),
                ));
            }
            "watchdog" => {
                need(1, "watchdog DEVICE")?;
                cf.watchdog = Some(args[0].to_string());
            }
            "stonith" => {
                need(2, "stonith TYPE CONFIGFILE")?;
                cf.stonith = Some((args[0].to_string(), args[1].to_string()));
            }
            "stonith_host" => {
                need(2, "stonith_host FROM-NODE TYPE PARAMS...")?;
                cf.stonith_hosts.push(StonithHost {
                    place: place.clone(),
                    from: args[0].to_lowercase(),
                    kind: args[1].to_string(),
                    params: args[2..].iter().map(|s| s.to_string()).collect(),
                });
            }
            "logfacility" => {
                need(1, "logfacility FACILITY")?;
                cf.logfacility = Some(args[0].to_string());
            }
            "logfile" => {
                need(1, "logfile FILE")?;
                cf.logfile = Some(args[0].to_string());
            }
            "debugfile" => {
                need(1, "debugfile FILE")?;
                debugfile = Some((place.clone(), args[0].to_string()));
            }
            "debug" => {
                need(1, "debug LEVEL")?;
                let level: u32 = args[0]
                    .parse()
                    .map_err(|_| bad_value(&place, directive, args[0], "a level 0..255"))?;
                cf.debug |= level > 0;
            }
            "compression" => {
                need(1, "compression zlib|bz2")?;
                cf.compression = Some(args[0].to_string());
            }
            "compression_threshold" => {
                need(1, "compression_threshold KB")?;
                cf.compression_threshold_kb = Some(
                    args[0]
                        .parse()
                        .map_err(|_| bad_value(&place, directive, args[0], "a size in KB"))?,
                );
            }
            "crm" | "pacemaker" => {
                need(1, "crm on|off|respawn")?;
                let v = args[0].to_ascii_lowercase();
                cf.crm = v == "respawn" || boolean(&v) == Some(true);
            }
            d if DROPPED.contains(&d) => cf.warnings.push(format!(
                "{place}: `{directive}` has no Corosync or Pacemaker equivalent and is dropped"
            )),
            _ => cf.warnings.push(format!(
                "{place}: unknown directive `{directive}` ignored (Heartbeat would have refused to start)"
            )),
        }
    }
    match &debugfile {
        // Heartbeat wrote debug messages only at a debug level above 0; the
        // file alone only said where they would go.
        Some((place, f)) if !cf.debug => cf.warnings.push(format!(
            "{place}: `debugfile {f}` without a `debug` level above 0 wrote no debug messages in Heartbeat, so corosync's debug logging stays off (`debug: on` in its logging section turns it on)"
        )),
        Some((place, f)) => cf.warnings.push(format!(
            "{place}: `debugfile {f}`: corosync has no separate debug file; with `debug` on, its debug messages go to the log file or syslog"
        )),
        None => {}
    }
    let end = Place::new(file, text.lines().count().max(1));
    if cf.deadtime_ms <= 2 * cf.keepalive_ms {
        return Err(Error::HaCf {
            place: end,
            what: format!(
                "deadtime ({} ms) must be more than twice keepalive ({} ms)",
                cf.deadtime_ms, cf.keepalive_ms
            ),
            fix: "raise deadtime or lower keepalive, as Heartbeat required".into(),
        });
    }
    cf.warntime_ms = warntime.unwrap_or(cf.deadtime_ms / 2);
    cf.initdead_ms = initdead.unwrap_or(if cf.deadtime_ms > 10_000 {
        cf.deadtime_ms
    } else if cf.deadtime_ms < 6_000 {
        12_000
    } else {
        2 * cf.deadtime_ms
    });
    if cf.auto_failback == AutoFailback::Legacy && !saw_auto_failback {
        cf.warnings.push(format!(
            "{file}: no auto_failback line; Heartbeat's default `legacy` fails back like `on`"
        ));
    }
    Ok(cf)
}

fn bad_value(place: &Place, directive: &str, value: &str, expected: &str) -> Error {
    Error::HaCf {
        place: place.clone(),
        what: format!("`{directive} {value}`: `{value}` is not valid"),
        fix: format!("use {expected}"),
    }
}

/// Heartbeat's boolean words.
pub fn boolean(word: &str) -> Option<bool> {
    match word.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "y" | "1" => Some(true),
        "false" | "off" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

fn parse_port(place: &Place, s: &str) -> Result<u16, Error> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(bad_value(place, "port", s, "a UDP port 1..65535")),
    }
}

fn time(place: &Place, directive: &str, args: &[&str]) -> Result<u64, Error> {
    let Some(value) = args.first() else {
        return Err(Error::HaCf {
            place: place.clone(),
            what: format!("`{directive}` needs a time"),
            fix: format!("write `{directive} 30` (seconds) or `{directive} 500ms`"),
        });
    };
    parse_time(value).ok_or_else(|| {
        bad_value(
            place,
            directive,
            value,
            "seconds (`30`, `0.5`) or `NNNms`/`NNNus`; Heartbeat accepted no other unit",
        )
    })
}

/// `cl_get_msec`: seconds by default, `ms` or `us` suffixes; result in ms.
pub fn parse_time(s: &str) -> Option<u64> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else {
        (s, 1000.0)
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    let ms = v * scale;
    if !ms.is_finite() || ms > 1e12 {
        return None;
    }
    Some(ms.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_ha_cf() {
        let text = "keepalive 2\ndeadtime 30\nwarntime 10\ninitdead 120\nudpport 694\n\
            bcast eth1\nauto_failback on\nwatchdog /dev/watchdog\n\
            node host01.example.ac.jp\nnode host02.example.ac.jp\n\
            respawn root /usr/lib/heartbeat/pingd -m 100 -d 5s -a default_ping_set\n";
        let cf = parse("ha.cf", text).unwrap();
        assert_eq!(cf.keepalive_ms, 2000);
        assert_eq!(cf.deadtime_ms, 30_000);
        assert_eq!(cf.warntime_ms, 10_000);
        assert_eq!(cf.initdead_ms, 120_000);
        assert_eq!(cf.nodes.len(), 2);
        assert_eq!(cf.auto_failback, AutoFailback::On);
        assert_eq!(
            cf.media,
            vec![Medium::Bcast {
                ifaces: vec!["eth1".into()],
                port: 694
            }]
        );
        assert!(cf.warnings.is_empty(), "{:?}", cf.warnings);
    }

    #[test]
    fn defaults_and_units() {
        let cf = parse("ha.cf", "node a b\nbcast eth0\n").unwrap();
        assert_eq!(cf.warntime_ms, 15_000);
        assert_eq!(cf.initdead_ms, 30_000);
        assert_eq!(cf.auto_failback, AutoFailback::Legacy);
        assert_eq!(parse_time("500ms"), Some(500));
        assert_eq!(parse_time("0.5"), Some(500));
        assert_eq!(parse_time("5s"), None);
        let e = parse("ha.cf", "deadtime 5s\n").unwrap_err();
        assert!(e.to_string().starts_with("ha.cf:1: "), "{e}");
        let e = parse("ha.cf", "keepalive 2\ndeadtime 3\n").unwrap_err();
        assert!(e.to_string().contains("twice keepalive"), "{e}");
    }

    #[test]
    fn debugfile_alone_does_not_turn_debug_on() {
        let cf = parse(
            "ha.cf",
            "node a b\nbcast eth0\ndebugfile /var/log/ha-debug\n",
        )
        .unwrap();
        assert!(!cf.debug);
        assert!(
            cf.warnings
                .iter()
                .any(|w| w.starts_with("ha.cf:3: `debugfile /var/log/ha-debug` without")),
            "{:?}",
            cf.warnings
        );
        let cf = parse("ha.cf", "node a b\nbcast eth0\ndebugfile /d\ndebug 1\n").unwrap();
        assert!(cf.debug);
        assert!(cf
            .warnings
            .iter()
            .any(|w| w.contains("no separate debug file")));
    }

    #[test]
    fn udpport_applies_to_later_media_and_unknown_is_warned() {
        let cf = parse(
            "ha.cf",
            "bcast eth0\nudpport 700\nucast eth1 10.0.0.2\nfrobnicate 1\n",
        )
        .unwrap();
        assert!(matches!(cf.media[0], Medium::Bcast { port: 694, .. }));
        assert!(matches!(cf.media[1], Medium::Ucast { port: 700, .. }));
        assert!(cf.warnings.iter().any(|w| w.contains("frobnicate")));
    }
}
