//! The example NBD server against real clients: `nbdinfo` for the
//! handshake, `nbdcopy` for data over several connections, and a raw client
//! for the requests a well-behaved client never sends.

mod nbd_support;

use std::io::Read;

use nbd_support::*;

const MIB: u64 = 1 << 20;

#[test]
fn nbdinfo_reports_size_name_and_flags() {
    if !have("nbdinfo_reports_size_name_and_flags", &["nbdinfo"]) {
        return;
    }
    let srv = Server::start("r0", 8 * MIB, &["--description", "shimai test volume"]);
    let (ok, json, err) = run("nbdinfo", &["--json", &srv.uri()]);
    assert!(ok, "nbdinfo failed: {err}\nserver log:\n{}", srv.log());
    let field = |k| json_field(&json, k).unwrap_or_else(|| panic!("no {k} in {json}"));
    assert_eq!(field("export-name"), "\"r0\"");
    assert_eq!(field("export-size"), (8 * MIB).to_string());
    assert_eq!(field("description"), "\"shimai test volume\"");
    assert_eq!(field("protocol"), "\"newstyle-fixed\"");
    for (flag, value) in [
        ("is_read_only", "false"),
        ("can_flush", "true"),
        ("can_fua", "true"),
        ("can_trim", "true"),
        ("can_zero", "true"),
        ("can_multi_conn", "true"),
        ("block_size_minimum", "1"),
        ("block_size_preferred", "4096"),
        ("block_size_maximum", "33554432"),
    ] {
        assert_eq!(field(flag), value, "{flag} in {json}");
    }
}

#[test]
fn nbdinfo_read_only_export_and_list() {
    if !have("nbdinfo_read_only_export_and_list", &["nbdinfo"]) {
        return;
    }
    let srv = Server::start(
        "vol-ro",
        MIB,
        &["--read-only", "--description", "read only"],
    );
    let (ok, json, err) = run("nbdinfo", &["--json", &srv.uri()]);
    assert!(ok, "{err}");
    assert_eq!(json_field(&json, "is_read_only"), Some("true"));
    assert_eq!(json_field(&json, "can_trim"), Some("false"));

    let any = format!("nbd+unix:///?socket={}", srv.socket.display());
    let (ok, list, err) = run("nbdinfo", &["--list", &any]);
    assert!(ok, "{err}");
    assert!(list.contains("export=\"vol-ro\""), "{list}");
    assert!(list.contains("description: read only"), "{list}");

    // A name the server does not have is refused politely (NBD_OPT_GO).
    let wrong = format!("nbd+unix:///nope?socket={}", srv.socket.display());
    let (ok, _, err) = run("nbdinfo", &[&wrong]);
    assert!(!ok, "nbdinfo accepted an unknown export");
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn nbdcopy_in_and_out_gives_identical_bytes() {
    if !have("nbdcopy_in_and_out_gives_identical_bytes", &["nbdcopy"]) {
        return;
    }
    let srv = Server::start("r0", 8 * MIB, &[]);
    let input = srv.dir.join("in.bin");
    let output = srv.dir.join("out.bin");
    let mut random = vec![0u8; 8 * MIB as usize];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .expect("read /dev/urandom");
    // Holes too: nbdcopy sends zero requests for them.
    random[MIB as usize..2 * MIB as usize].fill(0);
    std::fs::write(&input, &random).unwrap();

    let (ok, _, err) = run("nbdcopy", &[input.to_str().unwrap(), &srv.uri()]);
    assert!(ok, "nbdcopy in: {err}\nserver log:\n{}", srv.log());
    assert!(
        std::fs::read(&srv.file).unwrap() == random,
        "backing file differs from the input"
    );
    let (ok, _, err) = run("nbdcopy", &[&srv.uri(), output.to_str().unwrap()]);
    assert!(ok, "nbdcopy out: {err}");
    assert!(
        std::fs::read(&output).unwrap() == random,
        "copied out bytes differ from the input"
    );
}

#[test]
fn bad_requests_get_nbd_errors_and_the_server_lives_on() {
    let mut srv = Server::start("r0", MIB, &[]);
    let mut c = RawClient::connect(&srv.socket, "r0");
    assert_eq!(c.size, MIB);

    // Past the end: EINVAL for a read (and no data), ENOSPC for a write
    // (whose payload is consumed, so the stream stays in step).
    c.send(NBD_CMD_READ, 0, 1, MIB - 512, 1024, &[]);
    assert_eq!(c.reply(), (1, NBD_EINVAL));
    c.send(NBD_CMD_WRITE, 0, 2, MIB, 4, b"late");
    assert_eq!(c.reply(), (2, NBD_ENOSPC));
    c.send(NBD_CMD_READ, 0, 3, u64::MAX - 10, 100, &[]);
    assert_eq!(c.reply(), (3, NBD_EINVAL));
    // Unknown command, unknown flag, flush with an offset.
    c.send(0x42, 0, 4, 0, 0, &[]);
    assert_eq!(c.reply(), (4, NBD_EINVAL));
    c.send(NBD_CMD_READ, 1 << 14, 5, 0, 512, &[]);
    assert_eq!(c.reply(), (5, NBD_EINVAL));
    c.send(NBD_CMD_FLUSH, 0, 6, 512, 0, &[]);
    assert_eq!(c.reply(), (6, NBD_EINVAL));
    // A read larger than the 32 MiB maximum.
    c.send(NBD_CMD_READ, 0, 7, 0, (32 << 20) + 1, &[]);
    assert_eq!(c.reply(), (7, NBD_EINVAL));

    // Still in step: a good write and read.
    c.send(NBD_CMD_WRITE, 1, 8, 4096, 5, b"hello");
    assert_eq!(c.reply(), (8, 0));
    c.send(NBD_CMD_READ, 0, 9, 4095, 7, &[]);
    assert_eq!(c.reply(), (9, 0));
    assert_eq!(c.data(7), b"\0hello\0");
    c.disconnect();
    srv.assert_alive();

    let mut ro = Server::start("ro", MIB, &["--read-only"]);
    let mut c = RawClient::connect(&ro.socket, "ro");
    assert_eq!(c.flags & 2, 2, "READ_ONLY advertised");
    c.send(NBD_CMD_WRITE, 0, 1, 0, 3, b"abc");
    assert_eq!(c.reply(), (1, NBD_EPERM));
    c.disconnect();
    ro.assert_alive();
}

#[test]
fn misbehaving_clients_are_dropped_without_harm() {
    use std::io::Write;
    let mut srv = Server::start("r0", MIB, &[]);

    // NBD_OPT_EXPORT_NAME cannot be refused with a reply: the server hangs up.
    let mut s = greet(&srv.socket);
    s.write_all(&1u32.to_be_bytes()).unwrap();
    send_option(&mut s, 1, b"missing");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "got {} bytes instead of a hang-up",
        rest.len()
    );

    // Unknown options are refused with NBD_REP_ERR_UNSUP; haggling goes on.
    let mut s = greet(&srv.socket);
    s.write_all(&1u32.to_be_bytes()).unwrap();
    for option in [8u32, 9, 10, 5, 0x1234] {
        send_option(&mut s, option, &[]);
        let (o, kind, msg) = read_option_reply(&mut s);
        assert_eq!(
            (o, kind),
            (option, 0x8000_0001),
            "{}",
            String::from_utf8_lossy(&msg)
        );
    }
    send_option(&mut s, 2, &[]);
    assert_eq!(
        read_option_reply(&mut s).1,
        1,
        "NBD_OPT_ABORT is acknowledged"
    );

    // Garbage instead of client flags, then garbage instead of a request.
    let mut s = greet(&srv.socket);
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let _ = s.read_to_end(&mut rest);
    let mut c = RawClient::connect(&srv.socket, "r0");
    c.sock.write_all(&[0xff; 64]).unwrap();
    let _ = c.sock.read_to_end(&mut rest);

    srv.assert_alive();
    let mut c = RawClient::connect(&srv.socket, "");
    assert_eq!(c.size, MIB, "the empty name selects the default export");
    c.send(NBD_CMD_READ, 0, 1, 0, 16, &[]);
    assert_eq!(c.reply(), (1, 0));
    assert_eq!(c.data(16), [0u8; 16]);
    c.disconnect();
    let log = srv.log();
    assert!(
        log.contains("does not exist"),
        "log names the bad export:\n{log}"
    );
    assert!(
        log.contains("magic"),
        "log names the bad request magic:\n{log}"
    );
}
