//! fio's nbd engine (libnbd, pipelined at depth 16) writes and verifies
//! data through the example server, over one and over two connections.

mod nbd_support;

use nbd_support::*;

fn fio(srv: &Server, extra: &[&str]) -> String {
    let uri = format!("--uri={}", srv.uri());
    let mut args = vec![
        "--name=verify",
        "--ioengine=nbd",
        uri.as_str(),
        "--rw=randwrite",
        "--bs=4k",
        "--iodepth=16",
        "--verify=crc32c",
        "--verify_fatal=1",
        // Otherwise fio leaves *-verify.state files in the working directory.
        "--verify_state_save=0",
    ];
    args.extend_from_slice(extra);
    let (ok, out, err) = run("fio", &args);
    assert!(
        ok,
        "fio {args:?} failed:\n{out}\n{err}\nserver log:\n{}",
        srv.log()
    );
    assert!(out.contains("err= 0"), "{out}");
    out
}

#[test]
fn fio_randwrite_verifies_over_one_connection() {
    if !have("fio_randwrite_verifies_over_one_connection", &["fio"]) {
        return;
    }
    let mut srv = Server::start("r0", 16 << 20, &[]);
    fio(&srv, &["--size=16M"]);
    srv.assert_alive();
}

#[test]
fn fio_randwrite_verifies_over_two_connections() {
    if !have("fio_randwrite_verifies_over_two_connections", &["fio"]) {
        return;
    }
    let mut srv = Server::start("r0", 16 << 20, &[]);
    // Two jobs, two connections, disjoint halves (each job verifies its own).
    let out = fio(
        &srv,
        &[
            "--size=8M",
            "--offset_increment=8M",
            "--numjobs=2",
            "--group_reporting",
        ],
    );
    assert!(out.contains("jobs=2"), "{out}");
    srv.assert_alive();
    let clients = srv.log().matches("client #").count();
    assert!(
        clients >= 2,
        "expected two connections in the log:\n{}",
        srv.log()
    );
}
