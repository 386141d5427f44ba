//! shimai's metadata against DRBD's, with drbd-utils' `drbdmeta` as the
//! oracle (it runs on a loop device without the DRBD kernel module):
//! the data area is DRBD's to the byte for v08 and v09 (one peer) on
//! several disk sizes; `convert-md` carries DRBD's generation identifiers
//! over and `convert-md --to drbd-v08|drbd-v09` gives back metadata that
//! `drbdmeta` reads with the same ones; an ext4 that fills DRBD's data
//! area comes up on shimai, passes `e2fsck -fn` and keeps its checksums
//! both ways; `create-md` names what it finds instead of overwriting it.

mod metadata_drbd_support;

use metadata_drbd_support::*;
use shimai_tests::TempDir;

const PORT: u16 = 7850;

/// `meta-disk internal;` for both nodes.
const INTERNAL: [&str; 2] = ["internal", "internal"];

/// The data area drbdmeta computes for `version` on `dev` (bytes), and its
/// metadata size in sectors.
fn drbd_layout(version: &str, dev: &str) -> (u64, u64) {
    let args: &[&str] = if version == "v09" {
        &["create-md", "1"]
    } else {
        &["create-md"]
    };
    ok(&mut drbdmeta(version, dev, "internal", &[], args));
    let dump = ok(&mut drbdmeta(version, dev, "internal", &[], &["dump-md"]));
    (
        dump_value(&dump, "bm_offset"),
        dump_value(&dump, "md_size_sect"),
    )
}

#[test]
fn the_data_area_is_drbds_to_the_byte() {
    if !have("metadata_drbd sizes", &[]) {
        return;
    }
    let dir = TempDir::new("mddrbd-sizes");
    // Aligned and unaligned sizes, small to large: the bitmap rounding
    // (whole sectors, 64-bit words, 4 KiB blocks) shows at the edges.
    let sizes: [u64; 6] = [
        64 << 20,
        (1 << 30) + 4096,
        1 << 30,
        (1 << 30) + 1536,
        (3 << 30) + (68 << 10) - 512,
        100 << 30,
    ];
    for (n, size) in sizes.iter().enumerate() {
        let disk = Loop::new(dir.path(), &format!("d{n}"), *size);
        let other = dir.join(&format!("peer{n}.img"));
        let setup = Setup::new(
            TempDir::new("mddrbd-sizes-conf"),
            [&disk.dev, &other.display().to_string()],
            INTERNAL,
            PORT,
            "",
        );
        for version in ["v08", "v09"] {
            let (capacity, md_sect) = drbd_layout(version, &disk.dev);
            let line = setup.adm_ok(0, &["convert-md", "r0"]);
            assert_eq!(
                kib_of_data(&line) * 1024,
                capacity,
                "{version} on {size} bytes: drbdmeta's data area {capacity}, shimai: {line}"
            );
            // Fresh metadata made by shimai itself has the same size.
            let line = setup.adm_ok(0, &["create-md", "--force", "r0"]);
            assert_eq!(kib_of_data(&line) * 1024, capacity, "{line}");
            // And converted back, drbdmeta finds its own layout.
            let to = format!("drbd-{version}");
            setup.adm_ok(0, &["convert-md", "--to", &to, "r0"]);
            let dump = ok(&mut drbdmeta(
                version,
                &disk.dev,
                "internal",
                &[],
                &["dump-md"],
            ));
            assert_eq!(dump_value(&dump, "bm_offset"), capacity, "{dump}");
            assert_eq!(dump_value(&dump, "md_size_sect"), md_sect, "{dump}");
        }
    }
    // The 1 GiB case of the issue, spelt out.
    let disk = Loop::new(dir.path(), "gib", 1 << 30);
    assert_eq!(drbd_layout("v08", &disk.dev), (1048508 << 10, 136));
}

#[test]
fn external_metadata_is_where_drbd_puts_it() {
    if !have("metadata_drbd external", &[]) {
        return;
    }
    let dir = TempDir::new("mddrbd-ext");
    let data = Loop::new(dir.path(), "data", 256 << 20);
    let md = Loop::new(dir.path(), "md", 16 << 20);
    let other = dir.join("peer.img").display().to_string();
    let meta = md.dev.clone();
    let setup = Setup::new(
        TempDir::new("mddrbd-ext-conf"),
        [&data.dev, &other],
        [&meta, "internal"],
        PORT,
        "",
    );
    for version in ["v08", "v09"] {
        let args: &[&str] = if version == "v09" {
            &["create-md", "1"]
        } else {
            &["create-md"]
        };
        ok(&mut drbdmeta(version, &md.dev, "flex-external", &[], args));
        ok(&mut drbdmeta(
            version,
            &md.dev,
            "flex-external",
            &["--node-id", "1"],
            &["set-gi", "0x5A5A5A5A5A5A5A58:0:0x100:0x200"],
        ));
        let want = ok(&mut drbdmeta(
            version,
            &md.dev,
            "flex-external",
            &["--node-id", "1"],
            &["get-gi"],
        ));
        // convert-md refuses offsets that differ from its own, so
        // converting at all shows the superblock, log and bitmap coincide.
        let line = setup.adm_ok(0, &["convert-md", "r0"]);
        assert_eq!(kib_of_data(&line), 256 << 10, "{line}");
        assert_eq!(gi4(&setup.adm_ok(0, &["get-gi", "r0"])), gi4(&want));
        setup.adm_ok(0, &["convert-md", "--to", &format!("drbd-{version}"), "r0"]);
        let got = ok(&mut drbdmeta(
            version,
            &md.dev,
            "flex-external",
            &["--node-id", "1"],
            &["get-gi"],
        ));
        assert_eq!(gi4(&got), gi4(&want));
    }
}

/// The walk-through: a 1 GiB disk with DRBD 8.4 metadata and an
/// ext4 that fills its data area is converted, comes up, mounts, passes
/// `e2fsck -fn`, and converts back to metadata drbdmeta accepts with the
/// same generation identifiers; the files' checksums survive both ways.
#[test]
fn an_ext4_on_drbd_84_metadata_moves_over_and_back() {
    if !have(
        "metadata_drbd ext4",
        &["mkfs.ext4", "e2fsck", "sha256sum", "mount"],
    ) {
        return;
    }
    let dir = TempDir::new("mddrbd-ext4");
    let disk = Loop::new(dir.path(), "disk", 1 << 30);
    let (capacity, _) = drbd_layout("v08", &disk.dev);
    ok(&mut drbdmeta(
        "v08",
        &disk.dev,
        "internal",
        &[],
        &[
            "set-gi",
            "0x8C1E5D2A7F3B9E40:0:0x1F2E3D4C5B6A7988:0:1:1:0:0:0:0:0",
        ],
    ));
    let drbd_gi = ok(&mut drbdmeta(
        "v08",
        &disk.dev,
        "internal",
        &[],
        &["get-gi"],
    ));

    // The filesystem DRBD's /dev/drbd0 would have held: exactly the data area.
    let view = disk.view(capacity);
    ok(std::process::Command::new("mkfs.ext4").args(["-F", "-q", &view.dev]));
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = mnt.display().to_string();
    shimai_tests::sh(&format!(
        "mount {} {m} && head -c 24M /dev/urandom > {m}/big && seq 1 100000 > {m}/small \
         && mkdir {m}/d && cp {m}/small {m}/d/copy && cd {m} && sha256sum big small d/copy > {}/sums \
         && cd / && umount {m}",
        view.dev,
        dir.path().display()
    ));
    drop(view);
    let sums = dir.join("sums").display().to_string();

    let other = dir.join("peer.img").display().to_string();
    let mut setup = Setup::new(
        TempDir::new("mddrbd-ext4-conf"),
        [&disk.dev, &other],
        INTERNAL,
        PORT + 1,
        "",
    );
    // create-md sees DRBD's metadata and sends the operator to convert-md.
    let (code, out) = setup.adm_any(0, &["create-md", "r0"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("DRBD 8.4 (v08) metadata"), "{out}");
    assert!(out.contains("shimaiadm convert-md r0"), "{out}");

    // So does the daemon, which will not start on it.
    let (code, out) = setup.adm_any(0, &["up", "r0"]);
    let said = format!("{out}{}", setup.log(0));
    assert_ne!(code, 0, "{said}");
    assert!(said.contains("holds DRBD 8.4 (v08) metadata"), "{said}");
    assert!(said.contains("shimaiadm convert-md r0"), "{said}");

    let line = setup.adm_ok(0, &["convert-md", "r0"]);
    assert!(line.contains("converted DRBD 8.4 (v08) metadata"), "{line}");
    assert_eq!(
        setup.adm_ok(0, &["get-gi", "r0"]),
        drbd_gi,
        "GIs as drbdmeta read them"
    );

    setup.up(0);
    assert_eq!(
        setup.status(0)["size_kib"].as_u64(),
        Some(capacity / 1024),
        "the device is DRBD's size"
    );
    setup.adm_ok(0, &["primary", "--force", "r0"]);
    let dev = setup.device(0).display().to_string();
    shimai_tests::sh(&format!(
        "mount {dev} {m} && cd {m} && sha256sum -c --quiet {sums} && echo new > {m}/written-by-shimai \
         && cd / && umount {m}"
    ));
    setup.adm_ok(0, &["secondary", "r0"]);
    setup.adm_ok(0, &["down", "r0"]);

    let view = disk.view(capacity);
    ok(std::process::Command::new("e2fsck").args(["-fn", &view.dev]));
    let before_back = shimai_tests::sh(&format!("sha256sum < {}", view.dev));
    let shimai_gi = setup.adm_ok(0, &["get-gi", "r0"]);

    let line = setup.adm_ok(0, &["convert-md", "--to", "drbd-v08", "r0"]);
    assert!(line.contains("DRBD 8.4 (v08)"), "{line}");
    let back = ok(&mut drbdmeta(
        "v08",
        &disk.dev,
        "internal",
        &[],
        &["get-gi"],
    ));
    assert_eq!(back, shimai_gi, "drbdmeta reads shimai's identifiers");
    ok(&mut drbdmeta(
        "v08",
        &disk.dev,
        "internal",
        &[],
        &["dump-md"],
    ));
    assert_eq!(
        shimai_tests::sh(&format!("sha256sum < {}", view.dev)),
        before_back,
        "converting the metadata does not touch the data area"
    );
    ok(std::process::Command::new("e2fsck").args(["-fn", &view.dev]));
    shimai_tests::sh(&format!(
        "mount -o ro {} {m} && cd {m} && sha256sum -c --quiet {sums} && grep -q new written-by-shimai \
         && cd / && umount {m}",
        view.dev
    ));
}

#[test]
fn drbd_9_identifiers_go_over_and_back() {
    if !have("metadata_drbd v09", &[]) {
        return;
    }
    let dir = TempDir::new("mddrbd-v09");
    let disk = Loop::new(dir.path(), "disk", 256 << 20);
    drbd_layout("v09", &disk.dev);
    let peer = ["--node-id", "1"];
    ok(&mut drbdmeta(
        "v09",
        &disk.dev,
        "internal",
        &peer,
        // current:bitmap:history:history, consistent, was-up-to-date, not
        // primary, not crashed, al-clean, ..., peer connected
        &[
            "set-gi",
            "0x3C3C3C3C3C3C3C3C:0x7E7E7E7E7E7E7E7E:0x11:0x22:1:1:0:0:1:0:0:1",
        ],
    ));
    let want = ok(&mut drbdmeta(
        "v09",
        &disk.dev,
        "internal",
        &peer,
        &["get-gi"],
    ));
    let other = dir.join("peer.img").display().to_string();
    let setup = Setup::new(
        TempDir::new("mddrbd-v09-conf"),
        [&disk.dev, &other],
        INTERNAL,
        PORT + 2,
        "",
    );
    let line = setup.adm_ok(0, &["convert-md", "r0"]);
    assert!(line.contains("DRBD 9 (v09)"), "{line}");
    let gi = setup.adm_ok(0, &["get-gi", "r0"]);
    assert_eq!(gi4(&gi), gi4(&want), "{line}");
    // Converting twice is harmless (runbooks may repeat a step).
    let again = setup.adm_ok(0, &["convert-md", "r0"]);
    assert!(again.contains("nothing to convert"), "{again}");
    // consistent, was-up-to-date, not primary, connected (8.4's flag order)
    assert!(gi.trim().ends_with(":1:1:0:1:0:0:0"), "{gi}");
    setup.adm_ok(0, &["convert-md", "--to", "drbd-v09", "r0"]);
    let got = ok(&mut drbdmeta(
        "v09",
        &disk.dev,
        "internal",
        &peer,
        &["get-gi"],
    ));
    assert_eq!(gi4(&got), gi4(&want));
    // Between DRBD versions is drbdmeta's business.
    let (code, out) = setup.adm_any(0, &["convert-md", "--to", "drbd-v08", "r0"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("convert it to shimai's first"), "{out}");
    // The node flags and the peer's connected flag came back too.
    let f: Vec<&str> = got.trim().split(':').collect();
    let w: Vec<&str> = want.trim().split(':').collect();
    assert_eq!(
        (f[4], f[5], f[6], f[11]),
        (w[4], w[5], w[6], w[11]),
        "{got} vs {want}"
    );
}

#[test]
fn create_md_does_not_cut_a_filesystem_short() {
    if !have("metadata_drbd create-md", &["mkfs.ext4"]) {
        return;
    }
    let dir = TempDir::new("mddrbd-fs");
    let disk = Loop::new(dir.path(), "disk", 128 << 20);
    ok(std::process::Command::new("mkfs.ext4").args(["-F", "-q", &disk.dev]));
    let other = dir.join("peer.img").display().to_string();
    let setup = Setup::new(
        TempDir::new("mddrbd-fs-conf"),
        [&disk.dev, &other],
        INTERNAL,
        PORT + 3,
        "",
    );
    let (code, out) = setup.adm_any(0, &["create-md", "r0"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("an ext4 of 131072 KiB"), "{out}");
    assert!(out.contains("131032 KiB of data"), "{out}");
    assert!(out.contains("--force"), "{out}");
    // Not even a "yes" on a terminal: only --force.
    let (code, _) = setup.adm_any(0, &["create-md", "r0"]);
    assert_eq!(code, 1);
    // Nothing was written: the filesystem still checks clean.
    ok(std::process::Command::new("e2fsck").args(["-fn", &disk.dev]));
}

/// CRC32C as DRBD's activity log uses it: seed 0, no final inversion
/// (drbd-utils' table implementation), written here independently of
/// shimai's.
fn drbd_crc32c(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// One DRBD 8.4 activity-log update transaction (`struct
/// al_transaction_on_disk`): slots 0.. hold `extents`.
fn al_transaction(tr_number: u32, context_size: u16, extents: &[u32]) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    b[0..4].copy_from_slice(&0x69cb_65a2u32.to_be_bytes());
    b[4..8].copy_from_slice(&tr_number.to_be_bytes());
    b[14..16].copy_from_slice(&(extents.len() as u16).to_be_bytes());
    b[16..18].copy_from_slice(&context_size.to_be_bytes());
    for i in 0..64 {
        let (slot, extent) = match extents.get(i) {
            Some(e) => (i as u16, *e),
            None => (0xffff, u32::MAX),
        };
        b[36 + 2 * i..38 + 2 * i].copy_from_slice(&slot.to_be_bytes());
        b[164 + 4 * i..168 + 4 * i].copy_from_slice(&extent.to_be_bytes());
    }
    for i in 0..919 {
        let e = extents.get(i).copied().unwrap_or(u32::MAX);
        b[420 + 4 * i..424 + 4 * i].copy_from_slice(&e.to_be_bytes());
    }
    let crc = drbd_crc32c(&b);
    b[8..12].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A DRBD activity log left unclean (a crashed Primary) means the same
/// to drbdmeta's `apply-al` and to convert-md: the same extents out of
/// sync; and the way back hands DRBD a clean log with them in the bitmap.
#[test]
fn an_unclean_drbd_activity_log_is_read_as_drbdmeta_reads_it() {
    use std::os::unix::fs::FileExt;
    if !have("metadata_drbd activity log", &["cp"]) {
        return;
    }
    let dir = TempDir::new("mddrbd-al");
    let a = Loop::new(dir.path(), "a", 256 << 20);
    let v08 = |dev: &str, args: &[&str]| ok(&mut drbdmeta("v08", dev, "internal", &[], args));
    v08(&a.dev, &["create-md"]);
    v08(&a.dev, &["apply-al"]);
    // An agreed size, so that the bitmap covers the data (restore-md
    // leaves the log unclean, as an attached kernel would).
    let dump = v08(&a.dev, &["dump-md"]).replace(
        "la-size-sect 0;",
        &format!("la-size-sect {};", dump_value_bm(&a.dev) / 512),
    );
    let dump_file = dir.join("dump");
    std::fs::write(&dump_file, dump).unwrap();
    v08(&a.dev, &["restore-md", &dump_file.display().to_string()]);
    // It crashed as Primary: only then does an activity log count.
    v08(
        &a.dev,
        &["set-gi", "0x6B6B6B6B6B6B6B6A:0:0x10:0:1:1:1:0:0:0:0"],
    );
    let dump = v08(&a.dev, &["dump-md"]);
    let al_offset = dump_value(&dump, "al_offset");
    let tr = al_transaction(1, 1237, &[3, 17]);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&a.dev)
        .unwrap();
    f.write_all_at(&tr, al_offset).unwrap();
    f.sync_all().unwrap();
    drop(f);
    // The same disk twice: one for drbdmeta, one for shimai.
    let b_file = dir.join("b.img");
    shimai_tests::sh(&format!(
        "cp --sparse=always {} {}",
        a.file.display(),
        b_file.display()
    ));
    let b = Loop {
        dev: shimai_tests::sh(&format!("losetup -f --show {}", b_file.display()))
            .trim()
            .to_string(),
        file: b_file,
    };

    v08(&a.dev, &["apply-al"]);
    let applied = v08(&a.dev, &["dump-md"]);
    assert!(
        applied.contains("# bits-set 2048;"),
        "two 4 MiB extents:\n{applied}"
    );

    let other = dir.join("peer.img").display().to_string();
    let setup = Setup::new(
        TempDir::new("mddrbd-al-conf"),
        [&b.dev, &other],
        INTERNAL,
        PORT + 4,
        "",
    );
    let line = setup.adm_ok(0, &["convert-md", "r0"]);
    assert!(
        line.contains("8192 KiB out of sync, 2 activity-log extents kept"),
        "{line}"
    );
    let md = setup.adm_ok(0, &["dump-md", "r0"]);
    assert!(md.contains("hot-extents 3,17;"), "{md}");
    setup.adm_ok(0, &["convert-md", "--to", "drbd-v08", "r0"]);
    let back = v08(&b.dev, &["dump-md"]);
    assert!(back.contains("# bits-set 2048;"), "{back}");
    assert!(!back.contains("unclean"), "a clean log for DRBD:\n{back}");
}

/// The data area drbdmeta reports for the v08 metadata on `dev`.
fn dump_value_bm(dev: &str) -> u64 {
    let dump = ok(&mut drbdmeta("v08", dev, "internal", &[], &["dump-md"]));
    dump_value(&dump, "bm_offset")
}
