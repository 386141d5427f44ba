//! Property tests: no input makes the parser panic, and whatever parses
//! prints to text that parses back to the same model.

use proptest::prelude::*;

use crate::catalog::{self, Block};
use crate::tests::FIXTURES;
use crate::{parse_str_with, MemFs};

/// Parses `text`; when it parses, checks the dump law.
fn check(text: &str) -> Result<(), TestCaseError> {
    let fs = MemFs::new();
    if let Ok(parsed) = parse_str_with(text, "p.conf", &fs) {
        let dump = parsed.config.dump();
        let again = parse_str_with(&dump, "dump", &fs);
        prop_assert!(
            again.is_ok(),
            "dump does not parse: {:?}\n{}",
            again.err(),
            dump
        );
        if let Ok(again) = again {
            prop_assert_eq!(
                &again.config,
                &parsed.config,
                "input:\n{}\ndump:\n{}",
                text,
                dump
            );
        }
    }
    Ok(())
}

/// Words the grammar uses, so that random token sequences reach deep into
/// it rather than failing at the first character.
fn vocabulary() -> Vec<String> {
    let mut words: Vec<String> = [
        "global",
        "common",
        "resource",
        "r0",
        "on",
        "alice",
        "bob",
        "floating",
        "volume",
        "0",
        "1",
        "device",
        "/dev/drbd0",
        "minor",
        "disk",
        "/dev/sda1",
        "none",
        "meta-disk",
        "flexible-meta-disk",
        "internal",
        "[0]",
        "/dev/md[1]",
        "address",
        "ipv6",
        "sdp",
        "10.0.0.1:7788",
        "[fd00::1]:7788",
        "10.0.0.1",
        "node-id",
        "connection",
        "connection-mesh",
        "hosts",
        "host",
        "path",
        "port",
        "7788",
        "via",
        "proxy",
        "skip",
        "include",
        "\"*.res\"",
        "net",
        "syncer",
        "startup",
        "options",
        "handlers",
        "protocol",
        "C",
        "yes",
        "no",
        "10M",
        "1G",
        "4294967296",
        "\"quoted \\\" string\"",
        "incon-degr-cmd",
        "{",
        "}",
        ";",
        ";",
        "}",
        "#comment\n",
        "日本",
        "\"\"",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for block in [
        Block::Global,
        Block::Net,
        Block::Disk,
        Block::Syncer,
        Block::Startup,
        Block::Options,
        Block::Handlers,
    ] {
        words.extend(catalog::words(block).into_iter().map(str::to_string));
    }
    words
}

/// One option line of a generated, valid configuration.
const OPTIONS: &[(&str, &str)] = &[
    ("net", "protocol A"),
    ("net", "protocol B"),
    ("net", "ko-count 0"),
    ("net", "timeout 600"),
    ("net", "ping-int 3"),
    ("net", "max-buffers 8000"),
    ("net", "sndbuf-size 1M"),
    ("net", "after-sb-0pri discard-node-alice"),
    ("net", "after-sb-1pri consensus"),
    ("net", "after-sb-2pri violently-as0p"),
    ("net", "rr-conflict retry-connect"),
    ("net", "allow-two-primaries"),
    ("net", "allow-two-primaries no"),
    ("net", "shared-secret \"a b;#{}\\\"\""),
    ("net", "cram-hmac-alg sha256"),
    ("net", "fencing resource-and-stonith"),
    ("net", "data-integrity-alg crc32c"),
    ("net", "discard-my-data"),
    ("net", "on-disconnect reconnect"),
    ("disk", "on-io-error call-local-io-error"),
    ("disk", "al-extents 7"),
    ("disk", "resync-rate 1G"),
    ("disk", "c-fill-target 1M"),
    ("disk", "no-disk-drain"),
    ("disk", "size 10G"),
    ("disk", "resync-after r0"),
    ("syncer", "rate 33M"),
    ("syncer", "group 2"),
    ("syncer", "verify-alg md5"),
    ("syncer", "use-rle no"),
    ("syncer", "cpu-mask 3"),
    ("startup", "wfc-timeout 30"),
    ("startup", "degr-wfc-timeout 120"),
    ("startup", "become-primary-on both"),
    ("options", "attach fuse"),
    ("options", "quorum 2"),
    ("options", "max-io-depth 8000"),
    (
        "handlers",
        "split-brain \"/usr/lib/drbd/notify-split-brain.sh root\"",
    ),
    ("handlers", "fence-peer \"日本 fence\""),
];

fn options_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(OPTIONS), 0..6).prop_map(|picked| {
        picked
            .into_iter()
            .map(|(block, line)| format!("  {block} {{ {line}; }}\n"))
            .collect()
    })
}

/// A host block; the volume statements sit in it or (when `shared`) are
/// left to the resource level.
/// Resource `r` uses port 7788+r and minors from 10×r, as a real file
/// must (the parser refuses shared minors and addresses).
fn host_text(name: &'static str, octet: u8, r: u32, shared: bool, volumes: u32) -> String {
    let mut body = format!("address 10.0.0.{octet}:{}; ", 7788 + r);
    if !shared {
        if volumes == 0 {
            body.push_str(&format!(
                "device /dev/drbd{}; disk /dev/sda1; meta-disk internal; ",
                10 * r
            ));
        } else {
            for v in 0..volumes {
                body.push_str(&format!(
                    "volume {v} {{ device minor {}; disk /dev/vg/{name}{v}; \
                     meta-disk /dev/md{v} [{v}]; disk {{ al-extents {}; }} }} ",
                    10 * r + v,
                    100 + v
                ));
            }
        }
    }
    format!("  on {name} {{ {body}}}\n")
}

fn config_text() -> impl Strategy<Value = String> {
    let resource = (options_text(), any::<bool>(), 0u32..3, any::<bool>());
    (
        any::<bool>(),
        options_text(),
        prop::collection::vec(resource, 1..3),
    )
        .prop_map(|(global, common, resources)| {
            let mut text = String::new();
            if global {
                text.push_str("global { usage-count no; minor-count 64; }\n");
            }
            text.push_str(&format!("common {{\n{common}}}\n"));
            for (i, (options, shared, volumes, mesh)) in resources.into_iter().enumerate() {
                text.push_str(&format!("resource r{i} {{\n{options}"));
                let r = u32::try_from(i).unwrap_or(0);
                if shared {
                    text.push_str(&format!(
                        "  device /dev/drbd{}; disk /dev/vg/lv; meta-disk internal;\n",
                        10 * r
                    ));
                }
                text.push_str(&host_text("alice", 1, r, shared, volumes));
                text.push_str(&host_text("bob", 2, r, shared, volumes));
                if mesh {
                    text.push_str("  connection { host alice port 7000; net { ko-count 1; } }\n");
                    text.push_str(
                        "  connection-mesh { hosts alice bob; net { fencing resource-only; } }\n",
                    );
                }
                text.push_str("}\n");
            }
            text
        })
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> String {
    for &(at, kind, byte) in edits {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let at = at % bytes.len();
        match kind % 4 {
            0 => bytes[at] ^= 1 << (byte % 8),
            1 => bytes.insert(at, byte),
            2 => {
                bytes.remove(at);
            }
            _ => bytes[at] = b";{}\" #\n"[usize::from(byte) % 7],
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}") {
        check(&text)?;
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn random_token_soup_never_panics(picks in prop::collection::vec(any::<prop::sample::Index>(), 0..80)) {
        let words = vocabulary();
        let text: Vec<&str> = picks.iter().map(|i| words[i.index(words.len())].as_str()).collect();
        check(&text.join(" "))?;
    }

    #[test]
    fn mutated_scenario_files_never_panic(
        which in 0..FIXTURES.len(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
    ) {
        let text = mutate(FIXTURES[which].1.as_bytes().to_vec(), &edits);
        check(&text)?;
    }

    #[test]
    fn generated_configs_parse_and_round_trip(text in config_text()) {
        let parsed = parse_str_with(&text, "gen.conf", &MemFs::new());
        prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), text);
        check(&text)?;
    }
}
