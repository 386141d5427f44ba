//! Whole-file tests: the real configurations of the scenarios, every
//! version's layout, includes, skip, defaults and error positions.

use std::net::IpAddr;

use crate::value::*;
use crate::*;

pub(crate) const SCENARIO2: &str = include_str!("../testdata/scenario2-mutual-backup.conf");
pub(crate) const SCENARIO5: &str = include_str!("../testdata/scenario5-heartbeat.conf");
pub(crate) const DRBD83: &str = include_str!("../testdata/drbd83.conf");
pub(crate) const DRBD84: &str = include_str!("../testdata/drbd84.conf");
pub(crate) const DRBD9: &str = include_str!("../testdata/drbd9.res");

pub(crate) const FIXTURES: &[(&str, &str)] = &[
    ("scenario2-mutual-backup.conf", SCENARIO2),
    ("scenario5-heartbeat.conf", SCENARIO5),
    ("drbd83.conf", DRBD83),
    ("drbd84.conf", DRBD84),
    ("drbd9.res", DRBD9),
];

fn parse(text: &str) -> Parsed {
    match parse_str_with(text, "t.conf", &MemFs::new()) {
        Ok(p) => p,
        Err(e) => panic!("{e}\n--- input ---\n{text}"),
    }
}

fn error(text: &str) -> ConfigError {
    match parse_str_with(text, "t.conf", &MemFs::new()) {
        Ok(_) => panic!("parsed but should not:\n{text}"),
        Err(e) => e,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const MINIMAL: &str =
    "resource r { on a { device /dev/drbd0; disk /dev/sda1; address 10.0.0.1:7788; } \
                       on b { device /dev/drbd0; disk /dev/sda1; address 10.0.0.2:7788; } }";

#[test]
fn scenario2_drbd07_mutual_backup_parses_unchanged() {
    let parsed = parse_str_with(SCENARIO2, "drbd.conf", &MemFs::new()).unwrap();
    let config = &parsed.config;
    assert_eq!(config.resources.len(), 2);

    let drbd0 = config.resource("drbd0").unwrap();
    assert_eq!(drbd0.protocol(), Protocol::B);
    assert_eq!(drbd0.disk.resync_rate, KibPerSec(200 * 1024));
    assert_eq!(drbd0.disk.on_io_error, OnIoError::PassOn);
    assert_eq!(drbd0.handlers.pri_on_incon_degr.as_deref(), Some("halt -f"));
    assert_eq!(
        drbd0.net.extra,
        vec![RawOption {
            key: "on-disconnect".into(),
            value: Some("reconnect".into())
        }]
    );
    let s1 = drbd0.host_for("s1.unoh.net").unwrap();
    let vol = &s1.volumes[0];
    assert_eq!((vol.number, vol.device.minor), (0, 0));
    assert_eq!(vol.disk.as_deref(), Some("/dev/sda3"));
    assert_eq!(vol.meta_disk, MetaDisk::Internal);
    assert_eq!(
        s1.address.as_ref().unwrap().socket_addr(),
        "10.1.0.1:7789".parse().unwrap()
    );
    let peer = drbd0.peer_of("s1.unoh.net").unwrap();
    assert_eq!(peer.name(), "s2.unoh.net");

    let drbd1 = config.resource("drbd1").unwrap();
    assert_eq!(drbd1.protocol(), Protocol::C, "DRBD's default");
    let on_s2 = drbd1.host_for("s2.unoh.net").unwrap();
    assert_eq!(on_s2.volumes[0].device.path(), "/dev/drbd1");
    assert_eq!(on_s2.volumes[0].disk.as_deref(), Some("/dev/sda4"));
    assert_eq!(on_s2.address.as_ref().unwrap().port, 7790);

    // The two 0.7 options are accepted and named, with their places.
    let messages: Vec<String> = parsed.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].starts_with("drbd.conf:3:3: warning: 'incon-degr-cmd'"));
    assert!(messages[1].starts_with("drbd.conf:6:9: warning: 'on-disconnect'"));
}

#[test]
fn scenario5_heartbeat_era_file_parses_unchanged() {
    let parsed = parse(SCENARIO5);
    // shimai authenticates with HMAC-SHA256 whatever digest is named.
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].message.starts_with("'cram-hmac-alg'"));
    let config = &parsed.config;
    assert_eq!(config.global.usage_count, UsageCount::Yes);
    assert_eq!(config.common.disk.resync_rate, KibPerSec(10 * 1024));
    let r0 = config.resource("r0").unwrap();
    assert_eq!(r0.disk.resync_rate, KibPerSec(10 * 1024), "from common");
    assert_eq!(r0.protocol(), Protocol::C);
    assert_eq!(r0.startup.degr_wfc_timeout, Seconds(120));
    assert_eq!(r0.startup.wfc_timeout, Seconds(0));
    assert_eq!(r0.net.cram_hmac_alg.as_deref(), Some("sha1"));
    assert_eq!(r0.net.shared_secret.as_deref(), Some("FooFunFactory"));
    let host02 = r0.host_for("host02.example.ac.jp").unwrap();
    assert_eq!(host02.address.as_ref().unwrap().ip, ip("192.168.1.200"));
    assert_eq!(
        host02.volumes[0].disk.as_deref(),
        Some("/dev/VolGroup00/lvol0")
    );
    assert_eq!(
        r0.peer_of("host02.example.ac.jp").unwrap().name(),
        "host01.example.ac.jp"
    );
    assert!(r0.peer_of("host03").is_none());
}

#[test]
fn scenario5_dump_is_the_canonical_text() {
    let dump = parse(SCENARIO5).config.dump();
    let expected = "\
global {
    usage-count yes;
}
common {
    disk {
        resync-rate 10M;
    }
}

resource r0 {
    net {
        cram-hmac-alg sha1;
        shared-secret \"FooFunFactory\";
    }
    startup {
        degr-wfc-timeout 120;
    }
    on host01.example.ac.jp {
        address 192.168.1.100:7789;
        device /dev/drbd0;
        disk /dev/VolGroup00/lvol0;
        meta-disk internal;
    }
    on host02.example.ac.jp {
        address 192.168.1.200:7789;
        device /dev/drbd0;
        disk /dev/VolGroup00/lvol0;
        meta-disk internal;
    }
}
";
    assert_eq!(dump, expected);
}

#[test]
fn the_83_and_84_layouts_give_the_same_options() {
    let r83 = parse(DRBD83).config.resources.remove(0);
    let r84 = parse(DRBD84).config.resources.remove(0);
    assert_eq!(r83.net, r84.net);
    assert_eq!(r83.disk, r84.disk);
    assert_eq!(r83.handlers, r84.handlers);
    assert_eq!(r83.disk.fencing, Fencing::ResourceOnly);
    assert_eq!(r83.disk.al_extents, 3389);
    assert_eq!(r83.disk.resync_rate, KibPerSec(40 * 1024));
    assert_eq!(r83.net.verify_alg.as_deref(), Some("sha1"));
    assert_eq!(r83.net.after_sb_0pri, AfterSb0Pri::DiscardZeroChanges);
    assert_eq!(r83.net.after_sb_1pri, AfterSb1Pri::DiscardSecondary);
    assert_eq!(r83.net.after_sb_2pri, AfterSb2Pri::Disconnect);
    assert_eq!(
        r84.handlers.after_resync_target.as_deref(),
        Some("/usr/lib/drbd/crm-unfence-peer.sh")
    );
    // 8.4: device, disk and meta-disk at resource level reach both hosts.
    for host in &r84.hosts {
        assert_eq!(host.volumes.len(), 1);
        assert_eq!(host.volumes[0].disk.as_deref(), Some("/dev/vg/lv0"));
        assert_eq!(host.volumes[0].device.minor, 0);
    }
}

#[test]
fn drbd9_volumes_connections_and_mesh() {
    let parsed = parse(DRBD9);
    // Each option shimai does not act on is named once, with its place.
    let warned: Vec<&str> = parsed
        .warnings
        .iter()
        .map(|w| w.message.split('\'').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        warned,
        ["auto-promote", "quorum", "on-no-quorum", "csums-alg"],
        "{:?}",
        parsed.warnings
    );
    let r = parsed.config.resource("r9").unwrap();
    assert_eq!(r.options.attach, Attach::Nbd);
    assert!(!r.options.auto_promote);
    assert_eq!(r.options.quorum, Quorum::Majority);
    assert_eq!(r.options.on_no_quorum, OnNoQuorum::IoError);
    assert_eq!(r.disk.fencing, Fencing::ResourceOnly, "written in net");
    assert_eq!(r.disk.c_max_rate, KibPerSec(400 * 1024));
    assert_eq!(
        r.handlers.unfence_peer.as_deref(),
        Some("/usr/lib/drbd/crm-unfence-peer.9.sh")
    );

    let alice = r.host_for("alice").unwrap();
    let bob = r.host_for("bob").unwrap();
    assert_eq!((alice.node_id, bob.node_id), (Some(0), Some(1)));
    assert_eq!(alice.volumes.len(), 2);
    let a1 = alice.volume(1).unwrap();
    assert_eq!(
        a1.device,
        Device {
            path: None,
            minor: 1
        }
    );
    assert_eq!(a1.device.path(), "/dev/drbd1");
    assert_eq!(
        a1.meta_disk,
        MetaDisk::External {
            path: "/dev/vg/md1".into(),
            index: Some(0)
        }
    );
    assert_eq!(a1.disk_options.al_extents, 6007);
    assert_eq!(alice.volume(0).unwrap().disk_options.al_extents, 3833);
    assert_eq!(
        bob.volume(1).unwrap().disk.as_deref(),
        Some("/dev/vg/other1")
    );
    assert_eq!(bob.volume(0).unwrap().disk.as_deref(), Some("/dev/vg/lv0"));
    let bob_addr = bob.address.as_ref().unwrap();
    assert_eq!(
        (bob_addr.family, bob_addr.ip),
        (AddressFamily::Ipv6, ip("fd00::2"))
    );
    assert_eq!(bob_addr.to_string(), "ipv6 [fd00::2]:7788");

    let c = &r.connections[0];
    assert_eq!(c.paths.len(), 1);
    assert_eq!(c.paths[0][1].name, "bob");
    assert_eq!(c.hosts[0].port, Some(7788));
    assert_eq!(c.net.ping_timeout, Deciseconds(10));
    assert_eq!(c.net.verify_alg.as_deref(), Some("sha256"), "inherited");
    assert_eq!(c.volumes[0].disk.c_max_rate, KibPerSec(100 * 1024));
    let mesh = &r.meshes[0];
    assert_eq!(mesh.hosts, ["alice", "bob"]);
    assert_eq!(mesh.net.protocol, Protocol::A);
}

#[test]
fn a_minimal_resource_has_every_drbd_default() {
    let config = parse(MINIMAL).config;
    assert_eq!(config.global.minor_count, 32);
    let r = &config.resources[0];
    let n = &r.net;
    assert_eq!(n.protocol, Protocol::C);
    assert_eq!(n.timeout, Deciseconds(60));
    assert_eq!(n.timeout.as_duration().as_secs(), 6);
    assert_eq!(n.connect_int, Seconds(10));
    assert_eq!(n.ping_int, Seconds(10));
    assert_eq!(n.ping_timeout, Deciseconds(5));
    assert_eq!(n.ko_count, 7);
    assert_eq!((n.max_buffers, n.max_epoch_size), (2048, 2048));
    assert_eq!((n.sndbuf_size, n.rcvbuf_size), (Bytes(0), Bytes(0)));
    assert_eq!(n.after_sb_0pri, AfterSb0Pri::Disconnect);
    assert_eq!(n.after_sb_1pri, AfterSb1Pri::Disconnect);
    assert_eq!(n.after_sb_2pri, AfterSb2Pri::Disconnect);
    assert_eq!(n.rr_conflict, RrConflict::Disconnect);
    assert_eq!(n.on_congestion, OnCongestion::Block);
    assert!(n.use_rle && n.tcp_cork && !n.allow_two_primaries && !n.always_asbp);
    assert_eq!((&n.shared_secret, &n.verify_alg), (&None, &None));
    let d = &r.disk;
    assert_eq!(d.al_extents, 1237);
    assert_eq!(d.resync_rate, KibPerSec(250));
    assert_eq!(d.c_plan_ahead, Deciseconds(20));
    assert_eq!(d.c_fill_target, Sectors(100));
    assert_eq!(d.c_delay_target, Deciseconds(10));
    assert_eq!(d.c_max_rate, KibPerSec(102_400));
    assert_eq!(d.c_min_rate, KibPerSec(250));
    assert_eq!(d.on_io_error, OnIoError::Detach);
    assert_eq!(d.fencing, Fencing::DontCare);
    assert!(!d.disk_barrier && d.disk_flushes && d.disk_drain && d.md_flushes);
    assert!(d.al_updates);
    let o = &r.options;
    assert!(o.auto_promote);
    assert_eq!(o.auto_promote_timeout, Deciseconds(20));
    assert_eq!(o.quorum, Quorum::Off);
    assert_eq!(o.on_no_quorum, OnNoQuorum::SuspendIo);
    assert_eq!(o.twopc_timeout, Deciseconds(300));
    assert_eq!(o.peer_ack_window, Sectors(4096));
    assert_eq!(o.peer_ack_delay, Milliseconds(100));
    assert_eq!(o.attach, Attach::Auto);
    assert_eq!(r.startup, StartupOptions::default());
    assert_eq!(r.startup.wfc_timeout, Seconds(0));
    assert_eq!(r.handlers, Handlers::default());
    assert_eq!(r.handlers.fence_peer, None);
    assert_eq!(r.hosts[0].volumes[0].meta_disk, MetaDisk::Internal);
    // Nothing differs from the defaults, so the dump shows hosts only.
    assert!(!config.dump().contains("net {"));
}

#[test]
fn include_globs_are_relative_to_the_including_file() {
    let mut fs = MemFs::new();
    fs.insert(
        "/etc/drbd.conf",
        "include \"drbd.d/global_common.conf\";\ninclude \"drbd.d/*.res\";\n",
    )
    .insert(
        "/etc/drbd.d/global_common.conf",
        "global { usage-count no; }\ncommon { net { protocol A; } }\n",
    )
    .insert(
        "/etc/drbd.d/b.res",
        MINIMAL
            .replace("resource r", "resource b")
            .replace("drbd0", "drbd1")
            .replace(":7788", ":7789"),
    )
    .insert(
        "/etc/drbd.d/a.res",
        MINIMAL.replace("resource r", "resource a"),
    )
    .insert("/etc/drbd.d/a.res.bak", "this is not drbd.conf")
    .insert("/etc/drbd.d/sub/inner.conf", "this is not drbd.conf");
    let config = load_with("/etc/drbd.conf", &fs).unwrap().config;
    let names: Vec<&str> = config.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["a", "b"],
        "sorted matches, non-matching files left out"
    );
    assert_eq!(config.global.usage_count, UsageCount::No);
    assert!(config.resources.iter().all(|r| r.protocol() == Protocol::A));

    // An empty directory is fine (DRBD allows it); a missing named file is not.
    assert!(parse_str_with("include \"none.d/*.res\";", "/etc/x.conf", &fs).is_ok());
    let err = parse_str_with("include \"missing.conf\";", "/etc/x.conf", &fs).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/etc/missing.conf: cannot read"),
        "{err}"
    );

    // An error in an included file names that file.
    fs.insert("/etc/drbd.d/c.res", "resource c {\n  protocol Q;\n}");
    let err = load_with("/etc/drbd.conf", &fs).unwrap_err();
    assert!(
        err.to_string().starts_with("/etc/drbd.d/c.res:2:3:"),
        "{err}"
    );
}

#[test]
fn an_include_loop_is_an_error_not_a_stack_overflow() {
    let mut fs = MemFs::new();
    fs.insert("/etc/loop.conf", "include \"loop.conf\";");
    let err = load_with("/etc/loop.conf", &fs).unwrap_err();
    assert!(matches!(err, ConfigError::IncludeDepth { .. }), "{err}");
}

#[test]
fn skip_drops_the_next_statement_or_block() {
    let text = format!(
        "skip resource old {{ this {{ is }} not parsed; }}\n\
         skip global {{ nonsense; }}\n\
         {}",
        MINIMAL.replace(
            "resource r {",
            "resource r { net { skip { bogus 1; } skip ping-int 99; ko-count 3; } skip on c { } "
        )
    );
    let config = parse(&text).config;
    assert_eq!(config.resources.len(), 1);
    let r = &config.resources[0];
    assert_eq!(r.net.ko_count, 3);
    assert_eq!(r.net.ping_int, Seconds(10));
    assert_eq!(r.hosts.len(), 2);
    assert!(error("skip resource r {").to_string().contains("'skip'"));
}

#[test]
fn missing_semicolon_is_reported_where_it_belongs() {
    let text = "resource r0 {\n  protocol C\n  startup { degr-wfc-timeout 120; }\n}";
    let err = error(text);
    assert_eq!(
        err.to_string(),
        "t.conf:2:13: expected ';' after 'protocol C', found 'startup'"
    );
    let loc = err.location().unwrap();
    assert_eq!((loc.line, loc.column), (2, 13));

    // On a long line, in a nested block, after a bare flag, after an address.
    let cases = [
        (
            "resource r { net { cram-hmac-alg sha1; shared-secret \"s\" } }",
            1,
            57,
            "expected ';' after 'shared-secret \"s\"', found '}'",
        ),
        (
            "resource r {\n net {\n  allow-two-primaries\n  ko-count 3;\n }\n}",
            3,
            22,
            "expected ';' after 'allow-two-primaries', found 'ko-count'",
        ),
        (
            "resource r {\n on a { address 10.0.0.1:7788 disk /dev/x; } }",
            2,
            30,
            "expected ';' after 'address 10.0.0.1:7788', found 'disk'",
        ),
        (
            "# 日本語\nresource r { device /dev/drbd0 }",
            2,
            31,
            "expected ';' after 'device /dev/drbd0', found '}'",
        ),
        (
            "resource r { net { protocol C",
            1,
            30,
            "expected ';' after 'protocol C', found end of file",
        ),
    ];
    for (text, line, column, message) in cases {
        let err = error(text);
        assert_eq!(
            err.to_string(),
            format!("t.conf:{line}:{column}: {message}"),
            "{text}"
        );
    }
}

#[test]
fn other_errors_name_the_place_and_what_was_expected() {
    let err = error("resource r {\n  net { pingint 5; }\n}");
    assert!(matches!(err, ConfigError::UnknownKeyword { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "t.conf:2:9: unknown keyword 'pingint' in 'net' (did you mean 'ping-int'?); \
             expected one of:"
        ),
        "{msg}"
    );
    assert!(msg.contains("ping-int"));

    let err = error("resource r {\n  net { ko-count many; }\n}");
    assert_eq!(
        err.to_string(),
        "t.conf:2:9: invalid value 'many' for 'ko-count': expected a whole number from 0 to 4294967295"
    );
    let err = error("resource r { syncer { rate 10X; } }");
    assert!(err
        .to_string()
        .starts_with("t.conf:1:23: invalid value '10X' for 'rate'"));
    let err = error("resource r {\n  on a {\n    device /dev/drbd0;");
    assert_eq!(
        err.to_string(),
        "t.conf:3:23: expected '}' to close 'on a' opened at t.conf:2:8, found end of file"
    );
    let err = error("resource r { on a { address 10.0.0.300:7788; } }");
    assert!(err.to_string().contains("not an IP address"), "{err}");
    let err = error("resource r { on a { address 10.0.0.1; } }");
    assert!(err.to_string().contains("port is required"), "{err}");
    let err = error("resource r { on a { device /dev/foo; } }");
    assert!(err.to_string().contains("minor N"), "{err}");
    let err = error(&format!("{MINIMAL}\n{MINIMAL}"));
    assert!(matches!(err, ConfigError::Duplicate { .. }), "{err}");
    let err = error("resource r { on a { address 10.0.0.1:1; } }");
    assert!(err.to_string().contains("has no device"), "{err}");
    let err = error("resource r { on a { device /dev/drbd0; } }");
    assert!(err.to_string().contains("has no 'disk'"), "{err}");
    let err = error("rsource r { }");
    assert!(err.to_string().starts_with(
        "t.conf:1:1: unknown keyword 'rsource' in the top level (did you mean 'resource'?)"
    ));
    let err = error("resource r { net { on-io-error detach; } }");
    assert!(
        err.to_string()
            .contains("('on-io-error' belongs in 'disk')"),
        "{err}"
    );
    assert_eq!(err.exit_code(), 10);
    let err = error("resource r { net { timeout 0; } }");
    assert!(err.to_string().contains("between 1 and 600"), "{err}");
}

#[test]
fn known_but_unimplemented_options_are_kept_and_named() {
    let text = MINIMAL.replace(
        "resource r {",
        "resource r { net { data-integrity-alg crc32c; discard-my-data; } \
         startup { become-primary-on both; } syncer { group 1; cpu-mask ff; }",
    );
    let parsed = parse(&text);
    let r = &parsed.config.resources[0];
    assert_eq!(r.net.extra.len(), 2);
    assert_eq!(r.net.extra[0].key, "data-integrity-alg");
    assert_eq!(r.net.extra[1].value, None);
    assert_eq!(r.startup.extra[0].key, "become-primary-on");
    assert_eq!(r.disk.extra[0].key, "group");
    assert_eq!(r.options.extra[0].key, "cpu-mask");
    let names: Vec<&str> = parsed
        .warnings
        .iter()
        .map(|w| w.message.split('\'').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "data-integrity-alg",
            "discard-my-data",
            "become-primary-on",
            "group",
            "cpu-mask"
        ]
    );
    // The dump writes each where it is accepted (group only exists in syncer).
    let dump = parsed.config.dump();
    assert!(dump.contains("syncer {\n        group 1;"), "{dump}");
    assert_eq!(parse(&dump).config, parsed.config);
}

#[test]
fn statement_forms_of_every_version() {
    let text = "resource r {
        disk { no-disk-flushes; no-md-flushes; al-updates no; }
        net { allow-two-primaries; sndbuf-size 512k; after-sb-0pri discard-node-a; }
        on a b {
            device /dev/drbd7 minor 3;
            disk none;
            flexible-meta-disk /dev/md0;
            address ssocks 10.0.0.1:7788;
        }
        on c {
            device \"/dev/drbd/by-res/r\" minor 4;
            disk \"/dev/disk/by-id/x y\";
            meta-disk /dev/md1[2];
            address [fe80::1]:7788;
        }
        floating sdp 10.9.9.9:7000 {
            device minor 5; disk /dev/sdz; meta-disk /dev/md2 [1];
        }
    }";
    let parsed = parse(text);
    let r = &parsed.config.resources[0];
    assert!(!r.disk.disk_flushes && !r.disk.md_flushes && !r.disk.al_updates);
    assert!(r.disk.disk_drain);
    assert!(r.net.allow_two_primaries);
    assert_eq!(r.net.sndbuf_size, Bytes(512 * 1024));
    assert_eq!(r.net.after_sb_0pri, AfterSb0Pri::DiscardNode("a".into()));
    let ab = r.host_for("b").unwrap();
    assert_eq!(ab.names, ["a", "b"]);
    assert_eq!(ab.volumes[0].device.minor, 3);
    assert_eq!(ab.volumes[0].disk, None);
    assert_eq!(
        ab.volumes[0].meta_disk,
        MetaDisk::External {
            path: "/dev/md0".into(),
            index: None
        }
    );
    assert_eq!(ab.address.as_ref().unwrap().family, AddressFamily::Ssocks);
    let c = r.host_for("c").unwrap();
    assert_eq!(c.volumes[0].disk.as_deref(), Some("/dev/disk/by-id/x y"));
    assert_eq!(
        c.volumes[0].meta_disk,
        MetaDisk::External {
            path: "/dev/md1".into(),
            index: Some(2)
        }
    );
    assert_eq!(c.address.as_ref().unwrap().family, AddressFamily::Ipv6);
    let floating = r.host_for_address(ip("10.9.9.9")).unwrap();
    assert!(floating.floating && floating.names.is_empty());
    assert_eq!(floating.volumes[0].device.minor, 5);
    assert!(r.host_for("10.9.9.9").is_none());
    assert!(r.peer_of("a").is_none(), "three hosts: no single peer");
    assert_eq!(parse(&parsed.config.dump()).config, parsed.config);
}

#[test]
fn host_statements_override_resource_level_ones() {
    let text = "resource r {
        device /dev/drbd0; disk /dev/vg/lv0; meta-disk internal;
        on a { address 10.0.0.1:7788; }
        on b { address 10.0.0.2:7788; disk /dev/vg/elsewhere; }
    }";
    let r = parse(text).config.resources.remove(0);
    assert_eq!(r.hosts[0].volumes[0].disk.as_deref(), Some("/dev/vg/lv0"));
    assert_eq!(
        r.hosts[1].volumes[0].disk.as_deref(),
        Some("/dev/vg/elsewhere")
    );
    assert_eq!(r.hosts[1].volumes[0].device.minor, 0);
}

#[test]
fn common_is_inherited_and_resources_override_it() {
    let text = format!(
        "common {{ protocol A; net {{ ko-count 2; }} handlers {{ split-brain \"notify\"; }} \
                  disk {{ size 10G; }} }}\n{}",
        MINIMAL.replace(
            "resource r {",
            "resource r { net { protocol C; } disk { size 20G; }"
        )
    );
    let config = parse(&text).config;
    let r = &config.resources[0];
    assert_eq!(r.protocol(), Protocol::C);
    assert_eq!(r.net.ko_count, 2);
    assert_eq!(r.handlers.split_brain.as_deref(), Some("notify"));
    assert_eq!(r.disk.extra[0].value.as_deref(), Some("20G"));
    assert_eq!(config.common.net.protocol, Protocol::A);
    // Written back at the level that differs, and read back the same.
    let dump = config.dump();
    assert!(
        dump.contains("protocol A;") && dump.contains("protocol C;"),
        "{dump}"
    );
    assert_eq!(parse(&dump).config, config);
}

#[test]
fn dump_round_trips_every_fixture() {
    for (name, text) in FIXTURES {
        let first = parse_str_with(text, name, &MemFs::new()).unwrap().config;
        let dump = first.dump();
        let second = parse_str_with(&dump, "dump", &MemFs::new())
            .unwrap_or_else(|e| panic!("{name}: {e}\n{dump}"))
            .config;
        assert_eq!(first, second, "{name}\n{dump}");
        assert_eq!(second.dump(), dump, "{name}: the dump is a fixed point");
    }
}

#[test]
fn load_reads_the_real_file_system() {
    let dir = std::env::temp_dir().join(format!("shimai-config-test-{}", std::process::id()));
    let sub = dir.join("shimai.d");
    std::fs::create_dir_all(&sub).unwrap();
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    std::fs::write(dir.join("shimai.conf"), "include \"shimai.d/*.res\";\n").unwrap();
    std::fs::write(
        sub.join("r0.res"),
        SCENARIO5.replace("global { usage-count yes; }", ""),
    )
    .unwrap();
    let parsed = load(dir.join("shimai.conf")).unwrap();
    assert_eq!(parsed.config.resources[0].name, "r0");
    let err = load(dir.join("absent.conf")).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert_eq!(err.exit_code(), 10);
}

#[test]
fn the_stock_debian_layout_loads() {
    // drbd-utils' /etc/drbd.conf and drbd.d/global_common.conf: tabs, comments
    // after values, empty sections.
    let mut fs = MemFs::new();
    fs.insert(
        "/etc/drbd.conf",
        "# You can find an example in  /usr/share/doc/drbd.../drbd.conf.example\n\n\
         include \"drbd.d/global_common.conf\";\ninclude \"drbd.d/*.res\";\n",
    )
    .insert(
        "/etc/drbd.d/global_common.conf",
        "global {\n\tusage-count yes;\n\tudev-always-use-vnr; # treat implicit the same as explicit volumes\n\
         \t# minor-count dialog-refresh disable-ip-verification\n}\n\
         common {\n\thandlers {\n\t\t# fence-peer \"/usr/lib/drbd/crm-fence-peer.sh\";\n\t}\n\
         \tstartup {\n\t}\n\toptions {\n\t\t# quorum majority;\n\t}\n\tdisk {\n\t}\n\tnet {\n\t}\n}\n",
    )
    .insert("/etc/drbd.d/r0.res", DRBD84);
    let parsed = load_with("/etc/drbd.conf", &fs).unwrap();
    assert_eq!(parsed.config.resources.len(), 1);
    // udev-always-use-vnr, and r0's cram-hmac-alg (shimai uses HMAC-SHA256).
    assert_eq!(parsed.warnings.len(), 2, "{:?}", parsed.warnings);
    assert!(parsed.warnings[1].message.starts_with("'cram-hmac-alg'"));
    assert_eq!(
        parsed.warnings[0].to_string(),
        "/etc/drbd.d/global_common.conf:3:2: warning: 'udev-always-use-vnr' in 'global' \
         is not implemented by shimai: it has no effect in shimai"
    );
}

#[test]
fn drbd83_negative_flags_are_read_as_booleans() {
    let text = MINIMAL.replace(
        "resource r {",
        "resource r { net { no-tcp-cork; } disk { no-disk-barrier; no-disk-flushes; no-disk-drain; } ",
    );
    let r = parse(&text).config.resources.remove(0);
    assert!(!r.net.tcp_cork);
    assert!(!r.disk.disk_barrier && !r.disk.disk_flushes && !r.disk.disk_drain);
    assert!(r.disk.md_flushes);
}

#[test]
fn meta_disk_paths_with_brackets_survive_the_dump() {
    let text = MINIMAL.replace(
        "disk /dev/sda1; address 10.0.0.1:7788;",
        "disk /dev/sda1; meta-disk \"/dev/md[3]\"; address 10.0.0.1:7788;",
    );
    let config = parse(&text).config;
    assert_eq!(
        config.resources[0].hosts[0].volumes[0].meta_disk,
        MetaDisk::External {
            path: "/dev/md[3]".into(),
            index: None
        }
    );
    assert_eq!(parse(&config.dump()).config, config);
}

#[test]
fn internal_meta_disk_takes_no_index() {
    // Found by the fuzzer: `internal[0]` was read as an external device
    // named "internal", which the dump could not write back.
    let with = |form: &str| {
        MINIMAL.replace(
            "disk /dev/sda1;",
            &format!("disk /dev/sda1; meta-disk {form};"),
        )
    };
    let err = error(&with("internal[0]"));
    assert!(
        err.to_string().contains("internal metadata has no index"),
        "{err}"
    );
    let err = error(&with("internal [0]"));
    assert!(
        err.to_string()
            .contains("expected ';' after 'meta-disk internal'"),
        "{err}"
    );
    assert!(parse_str_with(&with("\"internal\""), "t.conf", &MemFs::new()).is_ok());
}

#[test]
fn a_minor_or_an_address_used_twice_is_refused() {
    let r2 = MINIMAL
        .replace("resource r", "resource r2")
        .replace(":7788", ":7789");
    let err = error(&format!("{MINIMAL}\n{r2}"));
    assert_eq!(
        err.to_string(),
        "t.conf:2:15: device minor 0 on host 'a' (resources 'r' and 'r2') is defined twice \
         (first at t.conf:1:14)"
    );
    let r2 = MINIMAL
        .replace("resource r", "resource r2")
        .replace("drbd0", "drbd1");
    let err = error(&format!("{MINIMAL}\n{r2}"));
    assert!(err.to_string().contains("address 10.0.0.1:7788"), "{err}");
    // Scenario 2 shares hosts between resources, with distinct minors and ports.
    assert_eq!(parse(SCENARIO2).config.resources.len(), 2);
}
