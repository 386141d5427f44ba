use super::*;
use crate::export::BlockSize;

fn header(kind: CommandKind, flags: u16, offset: u64, length: u32) -> RequestHeader {
    RequestHeader {
        flags,
        kind,
        cookie: 0x1122_3344_5566_7788,
        offset,
        length,
    }
}

#[test]
fn request_wire_format_and_round_trip() {
    let h = header(CommandKind::Write, cflag::FUA, 0x1000, 0x200);
    let mut b = Vec::new();
    h.encode(&mut b);
    let expected: &[u8] = &[
        0x25, 0x60, 0x95, 0x13, 0, 1, 0, 1, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0, 0,
        0, 0, 0, 0, 0x10, 0, 0, 0, 2, 0,
    ];
    assert_eq!(b, expected);
    assert_eq!(RequestHeader::decode(&b).unwrap(), Some((h, 28)));
    for i in 0..b.len() {
        assert_eq!(RequestHeader::decode(&b[..i]).unwrap(), None, "prefix {i}");
    }
    assert_eq!(h.payload_len(), 0x200);
    assert!(h.fua());
    assert_eq!(header(CommandKind::Read, 0, 0, 0x200).payload_len(), 0);
}

#[test]
fn every_type_decodes_unknown_ones_as_values() {
    for code in 0..=20u16 {
        assert_eq!(CommandKind::from_code(code).code(), code);
    }
    let mut b = Vec::new();
    header(CommandKind::Unknown(0x99), 0, 0, 0).encode(&mut b);
    let (h, _) = RequestHeader::decode(&b).unwrap().unwrap();
    assert_eq!(h.kind, CommandKind::Unknown(0x99));
    assert_eq!(h.check(&ExportInfo::new("e", 4096)), Err(NbdErrno::Inval));
}

#[test]
fn bad_request_magic_is_an_error() {
    let mut b = Vec::new();
    header(CommandKind::Read, 0, 0, 1).encode(&mut b);
    b[0] = 0x12;
    assert!(matches!(
        RequestHeader::decode(&b),
        Err(NbdError::BadMagic {
            what: "request",
            ..
        })
    ));
}

#[test]
fn check_answers_with_the_errors_the_protocol_names() {
    use CommandKind as K;
    let e = ExportInfo::new("e", 1 << 20);
    let end = 1u64 << 20;
    type Case = (CommandKind, u16, u64, u32, Result<(), NbdErrno>);
    let cases: &[Case] = &[
        (K::Read, 0, 0, 4096, Ok(())),
        (K::Read, 0, end - 1, 1, Ok(())),
        (K::Read, 0, end, 0, Ok(())),
        (K::Read, 0, end - 1, 2, Err(NbdErrno::Inval)),
        (K::Read, 0, u64::MAX, 2, Err(NbdErrno::Inval)),
        (K::Write, 0, end, 1, Err(NbdErrno::NoSpc)),
        (K::WriteZeroes, 0, end - 512, 1024, Err(NbdErrno::NoSpc)),
        (K::Trim, 0, end, 1, Err(NbdErrno::Inval)),
        (K::Cache, 0, end, 1, Err(NbdErrno::Inval)),
        (K::Read, 0, 0, (1 << 25) + 1, Err(NbdErrno::Inval)),
        (K::Write, cflag::FUA, 0, 512, Ok(())),
        (K::Write, cflag::NO_HOLE, 0, 512, Err(NbdErrno::Inval)),
        (K::WriteZeroes, cflag::NO_HOLE | cflag::FUA, 0, 512, Ok(())),
        (
            K::WriteZeroes,
            cflag::FAST_ZERO,
            0,
            512,
            Err(NbdErrno::Inval),
        ),
        (K::Read, cflag::DF, 0, 512, Err(NbdErrno::Inval)),
        (K::Read, 1 << 15, 0, 512, Err(NbdErrno::Inval)),
        (K::Flush, 0, 0, 0, Ok(())),
        (K::Flush, cflag::FUA, 0, 0, Ok(())),
        (K::Flush, 0, 512, 0, Err(NbdErrno::Inval)),
        (K::Disc, 0, 0, 0, Ok(())),
        (K::Disc, 0xffff, 7, 7, Ok(())),
        (K::BlockStatus, 0, 0, 512, Err(NbdErrno::Inval)),
        (K::Resize, 0, 0, 0, Err(NbdErrno::Inval)),
    ];
    for &(kind, flags, offset, length, expected) in cases {
        assert_eq!(
            header(kind, flags, offset, length).check(&e),
            expected,
            "{kind:?} flags={flags:#x} offset={offset} length={length}"
        );
    }
}

#[test]
fn read_only_exports_refuse_changes_with_eperm() {
    let mut e = ExportInfo::new("e", 1 << 20);
    e.read_only = true;
    for kind in [
        CommandKind::Write,
        CommandKind::Trim,
        CommandKind::WriteZeroes,
    ] {
        assert_eq!(
            header(kind, 0, 0, 512).check(&e),
            Err(NbdErrno::Perm),
            "{kind:?}"
        );
    }
    assert_eq!(header(CommandKind::Read, 0, 0, 512).check(&e), Ok(()));
    assert_eq!(header(CommandKind::Flush, 0, 0, 0).check(&e), Ok(()));
}

#[test]
fn alignment_and_maximum_follow_the_block_sizes() {
    let mut e = ExportInfo::new("e", 1 << 20);
    e.block_size = BlockSize::new(512, 4096, 1 << 16).unwrap();
    assert_eq!(header(CommandKind::Read, 0, 512, 1024).check(&e), Ok(()));
    assert_eq!(
        header(CommandKind::Read, 0, 100, 512).check(&e),
        Err(NbdErrno::Inval)
    );
    assert_eq!(
        header(CommandKind::Write, 0, 0, 100).check(&e),
        Err(NbdErrno::Inval)
    );
    assert_eq!(
        header(CommandKind::Read, 0, 0, 1 << 17).check(&e),
        Err(NbdErrno::Inval)
    );
    // No payload, no memory: trims and zeroes may exceed the maximum.
    assert_eq!(header(CommandKind::Trim, 0, 0, 1 << 17).check(&e), Ok(()));
    assert_eq!(
        header(CommandKind::WriteZeroes, 0, 0, 1 << 17).check(&e),
        Ok(())
    );
}

#[test]
fn simple_replies_round_trip_with_every_errno() {
    let mut b = Vec::new();
    SimpleReply {
        cookie: 7,
        error: Some(NbdErrno::NoSpc),
    }
    .encode(&mut b);
    assert_eq!(
        b,
        [0x67, 0x44, 0x66, 0x98, 0, 0, 0, 28, 0, 0, 0, 0, 0, 0, 0, 7]
    );
    let errors = std::iter::once(None).chain(NbdErrno::ALL.into_iter().map(Some));
    for error in errors {
        let r = SimpleReply { cookie: 42, error };
        let mut b = Vec::new();
        r.encode(&mut b);
        assert_eq!(SimpleReply::decode(&b).unwrap(), Some((r, 16)));
        for i in 0..b.len() {
            assert_eq!(SimpleReply::decode(&b[..i]).unwrap(), None);
        }
    }
    b[0] = 0;
    assert!(SimpleReply::decode(&b).is_err());
}
