//! A DRBD 8.4 pair moves to shimai in place: two disks with identical
//! data and DRBD metadata whose generation identifiers say they were
//! connected and in sync (`drbdmeta set-gi`), converted with `convert-md`
//! on both nodes, come up UpToDate/UpToDate and connect without any
//! resync; then they replicate.

mod metadata_drbd_support;

use metadata_drbd_support::*;
use shimai_tests::TempDir;

const PORT: u16 = 7855;
const CURRENT: &str = "4D5E6F708192A3B4";

#[test]
fn a_connected_drbd_pair_converts_and_connects_without_a_resync() {
    if !have("metadata_drbd_pair", &["dd", "cmp"]) {
        return;
    }
    let dir = TempDir::new("mddrbd-pair");
    let disks = [
        Loop::new(dir.path(), "alpha", 256 << 20),
        Loop::new(dir.path(), "beta", 256 << 20),
    ];
    let payload = dir.join("payload");
    shimai_tests::sh(&format!("head -c 8M /dev/urandom > {}", payload.display()));
    // Their last state under DRBD: connected, in sync, both Secondary.
    let gi = format!("0x{CURRENT}:0:0x0123456789ABCDEE:0:1:1:0:1:0:0:0");
    for d in &disks {
        ok(&mut drbdmeta(
            "v08",
            &d.dev,
            "internal",
            &[],
            &["create-md"],
        ));
        ok(&mut drbdmeta(
            "v08",
            &d.dev,
            "internal",
            &[],
            &["set-gi", &gi],
        ));
        shimai_tests::sh(&format!(
            "dd if={} of={} bs=1M conv=fsync status=none",
            payload.display(),
            d.dev
        ));
    }
    let mut setup = Setup::new(
        TempDir::new("mddrbd-pair-conf"),
        [&disks[0].dev, &disks[1].dev],
        ["internal", "internal"],
        PORT,
        "",
    );
    for i in 0..2 {
        let line = setup.adm_ok(i, &["convert-md", "r0"]);
        assert!(line.contains("0 KiB out of sync"), "{line}");
        let gi = setup.adm_ok(i, &["get-gi", "r0"]);
        assert!(
            gi.starts_with(&format!("{CURRENT}:0000000000000000:")),
            "{gi}"
        );
    }
    setup.up(0);
    setup.up(1);
    for i in 0..2 {
        setup.wait(i, "connection", "Connected", 20);
        setup.wait(i, "disk", "UpToDate", 10);
        setup.wait(i, "peer_disk", "UpToDate", 10);
    }
    for i in 0..2 {
        let s = setup.status(i);
        assert_eq!(s["generation"]["current"].as_str(), Some(CURRENT), "{s}");
        assert_eq!(
            s["generation"]["bitmap"].as_str(),
            Some("0000000000000000"),
            "{s}"
        );
        assert!(s["resync"].is_null(), "no resync ran: {s}");
        let log = setup.log(i);
        assert!(log.contains("uuid_compare()=0 by rule 40"), "{log}");
        assert!(
            !log.contains("Began resync"),
            "not even an empty one:\n{log}"
        );
        for c in ["ns", "nr", "oos"] {
            assert_eq!(
                s["counters"][c].as_u64(),
                Some(0),
                "{c}: nothing was sent: {s}"
            );
        }
    }
    // The pair replicates: a write on the Primary reaches the other disk.
    setup.adm_ok(0, &["primary", "r0"]);
    let block = dir.join("block");
    shimai_tests::sh(&format!(
        "head -c 64K /dev/urandom > {b} && dd if={b} of={dev} bs=64K seek=16 conv=fsync,notrunc status=none",
        b = block.display(),
        dev = setup.device(0).display()
    ));
    setup.adm_ok(0, &["secondary", "r0"]);
    shimai_tests::sh(&format!(
        "cmp -n 65536 {} {} 0 1048576",
        block.display(),
        disks[1].dev
    ));
}
