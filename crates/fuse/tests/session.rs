//! The session against requests built byte by byte as the kernel lays them out.

use proptest::prelude::*;
use shimai_fuse::abi::{self, init_flags, opcode, InHeader, InitIn, InitOut};
use shimai_fuse::session::{errno, FILE_ID};
use shimai_fuse::{Action, Completion, Config, Request, Session};

fn msg(op: u32, unique: u64, nodeid: u64, body: &[u8]) -> Vec<u8> {
    let mut v = InHeader {
        len: (abi::IN_HEADER_SIZE + body.len()) as u32,
        opcode: op,
        unique,
        nodeid,
        uid: 0,
        gid: 0,
        pid: 1,
    }
    .encode()
    .to_vec();
    v.extend_from_slice(body);
    v
}

/// Splits a reply into (len, error, unique, body).
fn parse(reply: &[u8]) -> (u32, i32, u64, &[u8]) {
    let len = u32::from_ne_bytes(reply[0..4].try_into().unwrap());
    let err = i32::from_ne_bytes(reply[4..8].try_into().unwrap());
    let unique = u64::from_ne_bytes(reply[8..16].try_into().unwrap());
    assert_eq!(len as usize, reply.len(), "out header length");
    (len, err, unique, &reply[16..])
}

fn reply_of(a: Action<'_>) -> Vec<u8> {
    match a {
        Action::Reply(v) => v,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn init_body(minor: u32, flags: u32) -> Vec<u8> {
    InitIn {
        major: 7,
        minor,
        max_readahead: 128 << 10,
        flags,
        flags2: 0,
    }
    .encode()
    .to_vec()
}

fn ready(size: u64) -> Session {
    let mut s = Session::new(Config::new(size)).unwrap();
    let all = u32::MAX;
    let r = reply_of(
        s.handle(&msg(opcode::INIT, 1, 0, &init_body(44, all)))
            .unwrap(),
    );
    assert_eq!(parse(&r).1, 0);
    assert!(s.is_ready());
    s
}

fn rw_in(offset: u64, size: u32) -> Vec<u8> {
    let mut b = vec![0u8; abi::WRITE_IN_SIZE];
    b[8..16].copy_from_slice(&offset.to_ne_bytes());
    b[16..20].copy_from_slice(&size.to_ne_bytes());
    b
}

#[test]
fn init_asks_for_parallel_direct_io_and_no_writeback_cache() {
    let mut s = Session::new(Config::new(1 << 30)).unwrap();
    let r = reply_of(
        s.handle(&msg(opcode::INIT, 7, 0, &init_body(44, u32::MAX)))
            .unwrap(),
    );
    let (_, err, unique, body) = parse(&r);
    assert_eq!((err, unique), (0, 7));
    assert_eq!(body.len(), abi::INIT_OUT_SIZE);
    let out = InitOut::decode(body).unwrap();
    assert_eq!((out.major, out.minor), (7, abi::KERNEL_MINOR_VERSION));
    assert_eq!(out.max_write, 1 << 20);
    assert_eq!(out.max_pages, 256);
    assert_eq!((out.max_background, out.congestion_threshold), (64, 48));
    assert_eq!(out.max_readahead, 128 << 10);
    assert_ne!(out.flags & init_flags::ASYNC_DIO, 0);
    assert_ne!(out.flags & init_flags::MAX_PAGES, 0);
    assert_eq!(out.flags & init_flags::WRITEBACK_CACHE, 0);
    // Only flags the kernel offered are taken.
    let mut s = Session::new(Config::new(1 << 30)).unwrap();
    let r = reply_of(
        s.handle(&msg(
            opcode::INIT,
            8,
            0,
            &init_body(31, init_flags::ASYNC_DIO),
        ))
        .unwrap(),
    );
    let out = InitOut::decode(parse(&r).3).unwrap();
    assert_eq!(out.flags, init_flags::ASYNC_DIO);
    assert_eq!(out.minor, 31);
}

#[test]
fn init_refuses_old_kernels_and_answers_newer_majors() {
    let mut s = Session::new(Config::new(4096)).unwrap();
    let r = reply_of(
        s.handle(&msg(opcode::INIT, 1, 0, &init_body(26, 0)))
            .unwrap(),
    );
    assert_eq!(parse(&r).1, -errno::EPROTO);
    assert!(!s.is_ready());
    let mut b = init_body(0, 0);
    b[0..4].copy_from_slice(&8u32.to_ne_bytes());
    let r = reply_of(s.handle(&msg(opcode::INIT, 2, 0, &b)).unwrap());
    let out = InitOut::decode(parse(&r).3).unwrap();
    assert_eq!(out.major, 7, "a newer major is answered with ours");
    assert!(!s.is_ready());
    // Before INIT everything else fails with EIO.
    let r = reply_of(s.handle(&msg(opcode::GETATTR, 3, 1, &[0; 16])).unwrap());
    assert_eq!(parse(&r).1, -errno::EIO);
}

#[test]
fn exposes_one_file_named_data() {
    let mut s = ready(10 << 20);
    let r = reply_of(s.handle(&msg(opcode::LOOKUP, 2, 1, b"data\0")).unwrap());
    let (_, err, _, body) = parse(&r);
    assert_eq!(err, 0);
    assert_eq!(body.len(), abi::ENTRY_OUT_SIZE);
    let attr = abi::Attr::decode(&body[40..]).unwrap();
    assert_eq!(
        (attr.ino, attr.size, attr.mode),
        (FILE_ID, 10 << 20, 0o100600)
    );
    let r = reply_of(s.handle(&msg(opcode::LOOKUP, 3, 1, b"other\0")).unwrap());
    assert_eq!(parse(&r).1, -errno::ENOENT);
    let r = reply_of(s.handle(&msg(opcode::GETATTR, 4, 1, &[0; 16])).unwrap());
    assert_eq!(
        abi::Attr::decode(&parse(&r).3[16..]).unwrap().mode,
        0o040755
    );
    // OPEN: direct I/O, no page cache.
    let r = reply_of(
        s.handle(&msg(opcode::OPEN, 5, FILE_ID, &[2, 0, 0, 0, 0, 0, 0, 0]))
            .unwrap(),
    );
    let body = parse(&r).3;
    assert_eq!(body.len(), abi::OPEN_OUT_SIZE);
    assert_eq!(
        abi::FOPEN_DIRECT_IO & u32::from_ne_bytes(body[8..12].try_into().unwrap()),
        1
    );
    // O_TRUNC is refused: the size is fixed.
    let r = reply_of(
        s.handle(&msg(
            opcode::OPEN,
            6,
            FILE_ID,
            &0o1002u32.to_ne_bytes().repeat(2),
        ))
        .unwrap(),
    );
    assert_eq!(parse(&r).1, -errno::EPERM);
    // READDIR lists ., .. and data.
    let mut rd = vec![0u8; abi::READ_IN_SIZE];
    rd[16..20].copy_from_slice(&4096u32.to_ne_bytes());
    let r = reply_of(s.handle(&msg(opcode::READDIR, 7, 1, &rd)).unwrap());
    let body = parse(&r).3;
    assert!(body.windows(4).any(|w| w == b"data"));
    assert_eq!(body.len(), 32 * 3);
    for (op, body) in [
        (opcode::STATFS, vec![]),
        (opcode::ACCESS, vec![0; 8]),
        (opcode::RELEASE, vec![0; 24]),
    ] {
        let r = reply_of(s.handle(&msg(op, 8, FILE_ID, &body)).unwrap());
        assert_eq!(parse(&r).1, 0, "opcode {op}");
    }
    assert_eq!(
        s.handle(&msg(opcode::FORGET, 9, FILE_ID, &[0; 8])).unwrap(),
        Action::None
    );
    let r = reply_of(
        s.handle(&msg(opcode::GETXATTR, 10, FILE_ID, &[0; 8]))
            .unwrap(),
    );
    assert_eq!(parse(&r).1, -errno::ENOSYS);
}

#[test]
fn block_requests_complete_in_any_order() {
    let mut s = ready(1 << 20);
    let mut w = rw_in(4096, 512);
    w.extend_from_slice(&[0xab; 512]);
    let write = msg(opcode::WRITE, 10, FILE_ID, &w);
    match s.handle(&write).unwrap() {
        Action::Io(Request::Write {
            unique: 10,
            offset: 4096,
            data,
        }) => {
            assert_eq!(data, &[0xab; 512][..])
        }
        other => panic!("{other:?}"),
    }
    let read = msg(opcode::READ, 11, FILE_ID, &rw_in(4096, 512));
    assert_eq!(
        s.handle(&read).unwrap(),
        Action::Io(Request::Read {
            unique: 11,
            offset: 4096,
            len: 512
        })
    );
    let mut f = vec![0u8; abi::FSYNC_IN_SIZE];
    f[8] = 1;
    assert_eq!(
        s.handle(&msg(opcode::FSYNC, 12, FILE_ID, &f)).unwrap(),
        Action::Io(Request::Fsync {
            unique: 12,
            datasync: true
        })
    );
    assert_eq!(
        s.handle(&msg(opcode::FLUSH, 13, FILE_ID, &[0; 24]))
            .unwrap(),
        Action::Io(Request::Flush { unique: 13 })
    );
    assert_eq!(s.pending(), 4);
    // Completed backwards.
    let r = s.complete(13, Completion::Ok(&[])).unwrap();
    assert_eq!(parse(&r), (16, 0, 13, &[][..]));
    let r = s.complete(12, Completion::Err(errno::EIO)).unwrap();
    assert_eq!(parse(&r).1, -errno::EIO);
    let r = s.complete(11, Completion::Ok(&[0xab; 512])).unwrap();
    assert_eq!(parse(&r).3, &[0xab; 512][..]);
    let r = s.complete(10, Completion::Ok(&[])).unwrap();
    assert_eq!(parse(&r).3, &abi::write_out(512)[..]);
    assert_eq!(s.pending(), 0);
    assert!(s.complete(10, Completion::Ok(&[])).is_err(), "twice");
    let st = s.stats();
    assert_eq!((st.reads, st.writes, st.fsyncs, st.flushes), (1, 1, 1, 1));
}

#[test]
fn io_outside_the_file_is_refused_or_clipped() {
    let mut s = ready(8192);
    let mut w = rw_in(8192 - 100, 512);
    w.extend_from_slice(&[0; 512]);
    let r = reply_of(s.handle(&msg(opcode::WRITE, 1, FILE_ID, &w)).unwrap());
    assert_eq!(parse(&r).1, -errno::ENOSPC);
    let mut w = rw_in(u64::MAX - 10, 512);
    w.extend_from_slice(&[0; 512]);
    let r = reply_of(s.handle(&msg(opcode::WRITE, 2, FILE_ID, &w)).unwrap());
    assert_eq!(parse(&r).1, -errno::ENOSPC);
    // size field disagreeing with the data
    let mut w = rw_in(0, 4096);
    w.extend_from_slice(&[0; 512]);
    let r = reply_of(s.handle(&msg(opcode::WRITE, 3, FILE_ID, &w)).unwrap());
    assert_eq!(parse(&r).1, -errno::EINVAL);
    // a read across the end is clipped, one past it is empty
    assert_eq!(
        s.handle(&msg(opcode::READ, 4, FILE_ID, &rw_in(4096, 65536)))
            .unwrap(),
        Action::Io(Request::Read {
            unique: 4,
            offset: 4096,
            len: 4096
        })
    );
    let r = reply_of(
        s.handle(&msg(opcode::READ, 5, FILE_ID, &rw_in(8192, 4096)))
            .unwrap(),
    );
    assert_eq!(parse(&r), (16, 0, 5, &[][..]));
    // a header whose length disagrees with the read is not a request
    let mut bad = msg(opcode::READ, 6, FILE_ID, &rw_in(0, 4096));
    bad.push(0);
    assert!(s.handle(&bad).is_err());
    assert!(s.handle(&bad[..20]).is_err());
}

#[test]
fn destroy_ends_the_session() {
    let mut s = ready(4096);
    match s.handle(&msg(opcode::DESTROY, 3, 0, &[])).unwrap() {
        Action::Destroy(r) => assert_eq!(parse(&r).1, 0),
        other => panic!("{other:?}"),
    }
    assert!(s.is_destroyed());
    let r = reply_of(
        s.handle(&msg(opcode::READ, 4, FILE_ID, &rw_in(0, 512)))
            .unwrap(),
    );
    assert_eq!(parse(&r).1, -errno::EIO);
}

#[test]
fn bad_configurations_are_refused() {
    for name in ["", "a/b", ".", "..", "a\0b"] {
        let cfg = Config {
            name: name.into(),
            ..Config::new(4096)
        };
        assert!(Session::new(cfg).is_err(), "{name:?}");
    }
    assert!(Session::new(Config {
        max_write: 1000,
        ..Config::new(4096)
    })
    .is_err());
    assert!(Session::new(Config {
        congestion_threshold: 65,
        ..Config::new(4096)
    })
    .is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never panic the decoders or a session.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        shimai_fuse::fuzz_decode(&data);
    }

    /// Well-formed headers with arbitrary opcodes and bodies never panic, and every
    /// request is either answered or handed out exactly once.
    #[test]
    fn arbitrary_requests_are_answered(
        reqs in proptest::collection::vec(
            (0u32..60, 0u64..4, proptest::collection::vec(any::<u8>(), 0..200)), 0..20)
    ) {
        let mut s = ready(1 << 20);
        for (i, (op, node, body)) in reqs.iter().enumerate() {
            let unique = 100 + i as u64;
            match s.handle(&msg(*op, unique, *node, body)) {
                Ok(Action::Reply(r)) => prop_assert_eq!(parse(&r).2, unique),
                Ok(Action::Io(req)) => {
                    prop_assert_eq!(req.unique(), unique);
                    let r = s.complete(unique, Completion::Ok(&[])).unwrap();
                    prop_assert_eq!(parse(&r).2, unique);
                }
                Ok(Action::None) | Ok(Action::Destroy(_)) => {}
                Err(e) => prop_assert!(false, "well-formed request refused: {e}"),
            }
        }
        prop_assert_eq!(s.pending(), 0);
    }
}

#[test]
fn io_uring_is_accepted_only_when_offered_and_wanted() {
    let ext = init_flags::INIT_EXT | init_flags::ASYNC_DIO;
    let offer = |flags2| {
        let mut b = InitIn {
            major: 7,
            minor: 44,
            max_readahead: 0,
            flags: ext,
            flags2,
        }
        .encode()
        .to_vec();
        b.truncate(abi::INIT_IN_SIZE);
        b
    };
    // Offered and wanted: INIT_EXT and flags2 bit 9 (FUSE_OVER_IO_URING, bit 41) set.
    let mut s = Session::new(Config::new(4096)).unwrap();
    let r = reply_of(
        s.handle(&msg(
            opcode::INIT,
            1,
            0,
            &offer(init_flags::OVER_IO_URING_FLAGS2),
        ))
        .unwrap(),
    );
    let out = InitOut::decode(parse(&r).3).unwrap();
    assert!(s.uring());
    assert_ne!(out.flags & init_flags::INIT_EXT, 0);
    assert_eq!(out.flags2, 1 << 9);
    // Not offered (enable_uring off).
    let mut s = Session::new(Config::new(4096)).unwrap();
    let r = reply_of(s.handle(&msg(opcode::INIT, 1, 0, &offer(0))).unwrap());
    assert!(!s.uring());
    assert_eq!(InitOut::decode(parse(&r).3).unwrap().flags2, 0);
    // Offered, not wanted.
    let cfg = Config {
        uring: false,
        ..Config::new(4096)
    };
    let mut s = Session::new(cfg).unwrap();
    let r = reply_of(
        s.handle(&msg(
            opcode::INIT,
            1,
            0,
            &offer(init_flags::OVER_IO_URING_FLAGS2),
        ))
        .unwrap(),
    );
    assert!(!s.uring());
    assert_eq!(InitOut::decode(parse(&r).3).unwrap().flags2, 0);
}
