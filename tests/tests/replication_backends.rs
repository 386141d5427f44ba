//! The engine's two disk I/O backends, forced one after the other with `SHIMAI_ENGINE_IO`
//! (io_uring where the kernel allows it, a pool of threads otherwise): each shows in
//! `status --json`, and on each fio's verify over the NBD export (many requests in flight,
//! flushes) passes and the two backing files end identical. One test in this binary, so
//! setting the variable for the daemons it starts races with nothing.

mod replication_support;

use replication_support::*;

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
