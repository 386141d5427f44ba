//! Property tests: no input makes a decoder or the connection panic, every
//! message survives encode → decode, and every request gets one reply.

use proptest::prelude::*;

use super::*;
use crate::error::NbdErrno;
use crate::handshake::{Decoded, InfoItem, InfoRequest, RepError, ReplyBody};
use crate::transmission::CommandKind;
use crate::wire::rep;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9/._-]{0,24}"
}

fn client_option() -> impl Strategy<Value = ClientOption> {
    let info = || {
        (name(), prop::collection::vec(any::<u16>(), 0..6))
            .prop_map(|(name, requests)| InfoRequest { name, requests })
    };
    prop_oneof![
        name().prop_map(|name| ClientOption::ExportName { name }),
        Just(ClientOption::Abort),
        Just(ClientOption::List),
        info().prop_map(ClientOption::Info),
        info().prop_map(ClientOption::Go),
        Just(ClientOption::StructuredReply),
        (9u32.., prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(option, data)| ClientOption::Other { option, data }),
    ]
}

fn option_reply() -> impl Strategy<Value = OptionReply> {
    let item = prop_oneof![
        (any::<u64>(), any::<u16>()).prop_map(|(size, flags)| InfoItem::Export { size, flags }),
        name().prop_map(InfoItem::Name),
        name().prop_map(InfoItem::Description),
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(min, preferred, max)| {
            InfoItem::BlockSize {
                min,
                preferred,
                max,
            }
        }),
        (4u16.., prop::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(kind, data)| InfoItem::Other { kind, data }),
    ];
    let error_kind = prop_oneof![
        Just(RepError::Unsup),
        Just(RepError::Policy),
        Just(RepError::Invalid),
        Just(RepError::Platform),
        Just(RepError::TlsReqd),
        Just(RepError::Unknown),
        Just(RepError::Shutdown),
        Just(RepError::BlockSizeReqd),
        Just(RepError::TooBig),
        (10u32..1000).prop_map(|c| RepError::Other(rep::ERR_BIT | c)),
    ];
    let body = prop_oneof![
        Just(ReplyBody::Ack),
        (name(), name()).prop_map(|(name, description)| ReplyBody::Server { name, description }),
        item.prop_map(ReplyBody::Info),
        (error_kind, name()).prop_map(|(kind, message)| ReplyBody::Error { kind, message }),
        (4u32..0x8000_0000, prop::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(reply_type, data)| ReplyBody::Other { reply_type, data }),
    ];
    (any::<u32>(), body).prop_map(|(option, body)| OptionReply { option, body })
}

fn request_header() -> impl Strategy<Value = RequestHeader> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
    )
        .prop_map(|(flags, kind, cookie, offset, length)| RequestHeader {
            flags,
            kind: CommandKind::from_code(kind),
            cookie,
            offset,
            length,
        })
}

/// Decodes an encoding whole, and finds every strict prefix incomplete.
fn round_trip<T: PartialEq + std::fmt::Debug>(
    msg: &T,
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Decoded<T>,
) -> Result<(), TestCaseError> {
    let (back, used) = decode(bytes)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .ok_or_else(|| TestCaseError::fail("whole message reported incomplete"))?;
    prop_assert_eq!(&back, msg);
    prop_assert_eq!(used, bytes.len());
    for i in 0..bytes.len() {
        prop_assert!(matches!(decode(&bytes[..i]), Ok(None)), "prefix {}", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decoders_and_connection_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        fuzz_decode(&data);
    }

    #[test]
    fn client_options_round_trip(o in client_option()) {
        let mut b = Vec::new();
        o.encode(&mut b);
        round_trip(&o, &b, ClientOption::decode)?;
    }

    #[test]
    fn option_replies_round_trip(r in option_reply()) {
        let mut b = Vec::new();
        r.encode(&mut b);
        round_trip(&r, &b, OptionReply::decode)?;
    }

    #[test]
    fn request_headers_round_trip(h in request_header()) {
        let mut b = Vec::new();
        h.encode(&mut b);
        round_trip(&h, &b, RequestHeader::decode)?;
    }

    #[test]
    fn simple_replies_round_trip(cookie in any::<u64>(), e in prop::option::of(prop::sample::select(NbdErrno::ALL.to_vec()))) {
        let r = SimpleReply { cookie, error: e };
        let mut b = Vec::new();
        r.encode(&mut b);
        round_trip(&r, &b, SimpleReply::decode)?;
    }

    /// Whatever type, flags, offset and length a client sends, each request
    /// before `NBD_CMD_DISC` gets exactly one reply with its cookie, and the
    /// stream stays in step (write payloads included, oversized or not).
    #[test]
    fn every_request_gets_exactly_one_reply(
        reqs in prop::collection::vec(
            (0u16..12, any::<u16>(), prop_oneof![0u64..(1 << 21), any::<u64>()], prop_oneof![0u32..70_000, any::<u32>()]),
            1..24,
        ),
        chunk in 1usize..5000,
    ) {
        let mut conn = Connection::new(exports());
        let mut hello = Vec::new();
        ClientFlags(3).encode(&mut hello);
        ClientOption::Go(InfoRequest { name: "a".into(), requests: vec![] }).encode(&mut hello);
        conn.receive(&hello);
        prop_assert_eq!(conn.next_event().ok().flatten(), Some(Event::Ready { export: 0 }));
        conn.take_output();

        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (i, &(kind, flags, offset, length)) in reqs.iter().enumerate() {
            let kind = CommandKind::from_code(kind);
            // Keep payloads small enough to generate: huge writes become reads.
            let kind = if kind == CommandKind::Write && length > 70_000 { CommandKind::Read } else { kind };
            let h = RequestHeader { flags, kind, cookie: i as u64, offset, length };
            h.encode(&mut wire);
            wire.extend(std::iter::repeat(i as u8).take(h.payload_len() as usize));
            if kind == CommandKind::Disc {
                break;
            }
            expected.push(i as u64);
        }
        let mut answered = Vec::new();
        for piece in wire.chunks(chunk) {
            conn.receive(piece);
            while let Some(event) = conn.next_event().map_err(|e| TestCaseError::fail(e.to_string()))? {
                if let Event::Request(r) = event {
                    let c = match r.command {
                        Command::Read { length, .. } => Completion::data(r.cookie, vec![0; length as usize]),
                        _ => Completion::ok(r.cookie),
                    };
                    conn.complete(c).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
            }
        }
        let out = conn.take_output();
        let mut rest = &out[..];
        while let Some((r, n)) = SimpleReply::decode(rest).map_err(|e| TestCaseError::fail(e.to_string()))? {
            answered.push(r.cookie);
            rest = &rest[n..];
            let req = &reqs[r.cookie as usize];
            let is_read = CommandKind::from_code(req.0) == CommandKind::Read
                || (CommandKind::from_code(req.0) == CommandKind::Write && req.3 > 70_000);
            if r.error.is_none() && is_read {
                rest = &rest[req.3 as usize..];
            }
        }
        prop_assert!(rest.is_empty(), "{} bytes left over", rest.len());
        answered.sort_unstable();
        prop_assert_eq!(answered, expected);
        prop_assert_eq!(conn.in_flight(), 0);
    }
}
