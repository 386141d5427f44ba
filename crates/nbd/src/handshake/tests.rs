use super::*;

/// Every strict prefix of a message decodes to "need more bytes".
fn assert_prefixes_incomplete<T: std::fmt::Debug>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Decoded<T>,
) {
    for i in 0..bytes.len() {
        match decode(&bytes[..i]) {
            Ok(None) => {}
            other => panic!("prefix of {i}/{} bytes gave {other:?}", bytes.len()),
        }
    }
}

#[test]
fn greeting_is_nbdmagic_ihaveopt_and_both_flags() {
    let mut out = Vec::new();
    ServerGreeting::ours().encode(&mut out);
    assert_eq!(&out[..16], b"NBDMAGICIHAVEOPT");
    assert_eq!(&out[16..], &[0, 3]);
    assert_eq!(
        ServerGreeting::decode(&out).unwrap(),
        Some((ServerGreeting::ours(), 18))
    );
    assert_prefixes_incomplete(&out, ServerGreeting::decode);
    out[3] ^= 1;
    assert!(matches!(
        ServerGreeting::decode(&out),
        Err(NbdError::BadMagic { .. })
    ));
}

#[test]
fn client_flags_beyond_the_offer_are_refused() {
    let offered = ServerGreeting::ours().flags;
    for f in 0..4 {
        assert!(ClientFlags(f).check(offered).is_ok(), "{f}");
    }
    assert!(matches!(
        ClientFlags(4).check(offered),
        Err(NbdError::ClientFlags { flags: 4 })
    ));
    // NO_ZEROES is only legal when the server offered it.
    assert!(ClientFlags(2).check(wire::FLAG_FIXED_NEWSTYLE).is_err());
    assert!(ClientFlags(3).no_zeroes());
    assert!(!ClientFlags(1).no_zeroes());
    assert_eq!(ClientFlags::decode(&[0, 0, 0]).unwrap(), None);
    assert_eq!(
        ClientFlags::decode(&[0, 0, 0, 1, 9]).unwrap(),
        Some((ClientFlags(1), 4))
    );
}

fn sample_options() -> Vec<ClientOption> {
    vec![
        ClientOption::ExportName { name: "r0".into() },
        ClientOption::ExportName {
            name: String::new(),
        },
        ClientOption::Abort,
        ClientOption::List,
        ClientOption::Info(InfoRequest {
            name: "r0".into(),
            requests: vec![info::NAME, info::BLOCK_SIZE],
        }),
        ClientOption::Go(InfoRequest {
            name: "vol".into(),
            requests: vec![],
        }),
        ClientOption::StructuredReply,
        ClientOption::Other {
            option: opt::SET_META_CONTEXT,
            data: b"\0\0\0\x02r0\0\0\0\x01\0\0\0\x0fbase:allocation".to_vec(),
        },
        ClientOption::Other {
            option: 0xdead_beef,
            data: vec![1, 2, 3],
        },
    ]
}

#[test]
fn options_round_trip_and_prefixes_need_more() {
    for o in sample_options() {
        let mut b = Vec::new();
        o.encode(&mut b);
        assert_eq!(
            ClientOption::decode(&b).unwrap(),
            Some((o.clone(), b.len()))
        );
        assert_prefixes_incomplete(&b, ClientOption::decode);
        // Trailing bytes belong to the next message.
        b.extend_from_slice(b"IHAVEOPT");
        assert_eq!(ClientOption::decode(&b).unwrap().unwrap().1, b.len() - 8);
    }
}

#[test]
fn go_wire_format_matches_the_spec() {
    let mut b = Vec::new();
    ClientOption::Go(InfoRequest {
        name: "ab".into(),
        requests: vec![3],
    })
    .encode(&mut b);
    let expected: &[u8] = b"IHAVEOPT\0\0\0\x07\0\0\0\x0a\0\0\0\x02ab\0\x01\0\x03";
    assert_eq!(b, expected);
}

#[test]
fn option_with_wrong_magic_is_an_error() {
    let mut b = Vec::new();
    ClientOption::List.encode(&mut b);
    b[0] = b'X';
    assert!(matches!(
        ClientOption::decode(&b),
        Err(NbdError::BadMagic {
            what: "option request",
            ..
        })
    ));
}

#[test]
fn malformed_option_data_is_a_value() {
    let m = |o, d: &[u8]| match ClientOption::parse(o, d) {
        ClientOption::Malformed { option, reason } => (option, reason),
        other => panic!("{other:?}"),
    };
    assert_eq!(m(opt::LIST, b"x").0, opt::LIST);
    assert!(m(opt::GO, b"\0\0\0\x09ab\0\0").1.contains("name length"));
    assert!(m(opt::INFO, b"\0\0\0\x02ab\0\x02\0\x01")
        .1
        .contains("count"));
    assert!(m(opt::INFO, b"\0\0").1.contains("shorter"));
    assert!(m(opt::GO, b"\0\0\0\x01\xff\0\0").1.contains("UTF-8"));
    assert!(m(opt::EXPORT_NAME, b"\xc3").1.contains("UTF-8"));
    // Abort ignores data, as the spec tells servers to.
    assert_eq!(
        ClientOption::parse(opt::ABORT, b"junk"),
        ClientOption::Abort
    );
}

fn sample_replies() -> Vec<OptionReply> {
    let r = |option, body| OptionReply { option, body };
    vec![
        r(opt::LIST, ReplyBody::Ack),
        r(
            opt::LIST,
            ReplyBody::Server {
                name: "r0".into(),
                description: "shimai resource r0".into(),
            },
        ),
        r(
            opt::GO,
            ReplyBody::Info(InfoItem::Export {
                size: 1 << 40,
                flags: 0x0169,
            }),
        ),
        r(opt::GO, ReplyBody::Info(InfoItem::Name("r0".into()))),
        r(opt::GO, ReplyBody::Info(InfoItem::Description("d".into()))),
        r(
            opt::INFO,
            ReplyBody::Info(InfoItem::BlockSize {
                min: 1,
                preferred: 4096,
                max: 1 << 25,
            }),
        ),
        r(
            opt::INFO,
            ReplyBody::Info(InfoItem::Other {
                kind: 77,
                data: vec![9],
            }),
        ),
        r(
            opt::STRUCTURED_REPLY,
            ReplyBody::Error {
                kind: RepError::Unsup,
                message: "no".into(),
            },
        ),
        r(
            opt::GO,
            ReplyBody::Error {
                kind: RepError::Other(rep::ERR_BIT | 0x77),
                message: String::new(),
            },
        ),
        r(
            opt::LIST_META_CONTEXT,
            ReplyBody::Other {
                reply_type: rep::META_CONTEXT,
                data: b"\0\0\0\x01base:allocation".to_vec(),
            },
        ),
    ]
}

#[test]
fn option_replies_round_trip() {
    for r in sample_replies() {
        let mut b = Vec::new();
        r.encode(&mut b);
        assert_eq!(OptionReply::decode(&b).unwrap(), Some((r.clone(), b.len())));
        assert_prefixes_incomplete(&b, OptionReply::decode);
    }
}

#[test]
fn info_export_reply_wire_format() {
    let mut b = Vec::new();
    OptionReply {
        option: opt::GO,
        body: ReplyBody::Info(InfoItem::Export {
            size: 0x0102,
            flags: 0x0001,
        }),
    }
    .encode(&mut b);
    let mut expected = vec![0, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9];
    expected.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 12, 0, 0]);
    expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2, 0, 1]);
    assert_eq!(b, expected);
}

#[test]
fn inconsistent_replies_are_errors_not_panics() {
    let frame = |reply_type: u32, data: &[u8]| {
        let mut b = OPTION_REPLY_MAGIC.to_be_bytes().to_vec();
        b.extend_from_slice(&opt::GO.to_be_bytes());
        b.extend_from_slice(&reply_type.to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(data);
        b
    };
    for (t, d) in [
        (rep::ACK, &b"x"[..]),
        (rep::SERVER, b"\0\0\0\x09ab"),
        (rep::SERVER, b"\0\0"),
        (rep::INFO, b"\0"),
        (rep::INFO, b"\0\0\0\0\0\0\0\0\0\0\0"),
        (rep::INFO, b"\0\x03\0\0\0\x01"),
        (rep::INFO, b"\0\x01\xff"),
    ] {
        assert!(
            matches!(
                OptionReply::decode(&frame(t, d)),
                Err(NbdError::Malformed { .. })
            ),
            "type {t:#x} data {d:?}"
        );
    }
}

#[test]
fn export_name_reply_has_zeroes_unless_negotiated_away() {
    let r = ExportNameReply {
        size: 4096,
        flags: 0x0003,
    };
    for (no_zeroes, len) in [(true, 10), (false, 134)] {
        let mut b = Vec::new();
        r.encode(no_zeroes, &mut b);
        assert_eq!(b.len(), len);
        assert_eq!(&b[..10], &[0, 0, 0, 0, 0, 0, 0x10, 0, 0, 3]);
        assert_eq!(
            ExportNameReply::decode(&b, no_zeroes).unwrap(),
            Some((r, len))
        );
        assert_prefixes_incomplete(&b, |x| ExportNameReply::decode(x, no_zeroes));
    }
}

#[test]
fn option_names_for_messages() {
    assert_eq!(option_name(opt::GO), "NBD_OPT_GO");
    assert_eq!(
        option_name(opt::SET_META_CONTEXT),
        "NBD_OPT_SET_META_CONTEXT"
    );
    assert_eq!(option_name(999), "unknown option");
}
