//! The engine's two disk I/O backends, forced one after the other with `SHIMAI_ENGINE_IO`
//! (io_uring where the kernel allows it, a pool of threads otherwise): each shows in
//! `status --json`, and on each fio's verify over the NBD export (many requests in flight,
//! flushes) passes and the two backing files end identical. One test in this binary, so
//! setting the variable for the daemons it starts races with nothing.

mod replication_support;

use replication_support::*;

fn fio_verify(p: &Pair) {
    let out = p.dir.join("fio.json");
    let sock = p.run_dir(0).join("r0.nbd");
    let r = shimai_tests::run(std::process::Command::new("fio").args([
        "--name=verify",
        "--ioengine=nbd",
        &format!("--uri=nbd+unix:///r0?socket={}", sock.display()),
        "--rw=randwrite",
        "--bs=4k,64k",
        "--bssplit=4k/50:64k/50",
        "--iodepth=16",
        "--numjobs=2",
        "--size=8M",
        "--offset_increment=16M",
        "--verify=crc32c",
        "--verify_fatal=1",
        "--verify_state_save=0",
        "--fsync=32",
        "--output-format=json",
        &format!("--output={}", out.display()),
    ]));
    let json = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        r.status.success() && json.contains("\"error\" : 0"),
        "fio failed: {}{}\n{json}\nlog:\n{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr),
        p.log(0)
    );
}

#[test]
fn both_disk_backends_replicate_and_verify() {
    let test = "both_disk_backends_replicate_and_verify";
    if !have(test, &["fio"]) {
        return;
    }
    for backend in ["threads", "io_uring"] {
        std::env::set_var("SHIMAI_ENGINE_IO", backend);
        let mut p = Pair::new(
            &format!("repl-io-{backend}"),
            64,
            "  options { attach none; }",
        );
        p.up_skip_sync();
        p.ok(0, r#"{"cmd":"primary"}"#);
        for i in 0..2 {
            assert_eq!(p.field(i, "io_backend"), backend, "node {i}");
        }
        assert!(
            p.log(0).contains(&format!("disk I/O backend: {backend}")),
            "the log names the backend:\n{}",
            p.log(0)
        );
        fio_verify(&p);
        p.ok(0, r#"{"cmd":"secondary"}"#);
        assert!(
            p.data(0) == p.data(1),
            "{backend}: both backing files identical"
        );
    }
    std::env::remove_var("SHIMAI_ENGINE_IO");
}
