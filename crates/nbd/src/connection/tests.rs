use super::*;
use crate::export::BlockSize;
use crate::handshake::Decoded;
use crate::wire::rep;

fn exports() -> Vec<ExportInfo> {
    let mut r0 = ExportInfo::new("r0", 1 << 20);
    r0.description = "first".into();
    let mut ro = ExportInfo::new("ro", 8192);
    ro.read_only = true;
    vec![r0, ro]
}

/// A connection past the client flags, with the greeting drained.
fn options_phase(flags: u32) -> Connection {
    let mut c = Connection::new(exports());
    let out = c.take_output();
    assert_eq!(
        ServerGreeting::decode(&out).unwrap().unwrap().0,
        ServerGreeting::ours()
    );
    let mut b = Vec::new();
    ClientFlags(flags).encode(&mut b);
    c.receive(&b);
    assert_eq!(c.next_event().unwrap(), None);
    c
}

fn send_option(c: &mut Connection, o: ClientOption) -> Option<Event> {
    let mut b = Vec::new();
    o.encode(&mut b);
    c.receive(&b);
    c.next_event().unwrap()
}

/// Drains the output as a sequence of messages of one kind.
fn drain<T>(c: &mut Connection, decode: impl Fn(&[u8]) -> Decoded<T>) -> Vec<T> {
    let mut out = Vec::new();
    let all = c.take_output();
    let mut buf = &all[..];
    while let Some((msg, n)) = decode(buf).unwrap() {
        out.push(msg);
        buf = &buf[n..];
    }
    assert!(buf.is_empty(), "{} undecoded bytes", buf.len());
    out
}

fn bodies(c: &mut Connection) -> Vec<ReplyBody> {
    drain(c, OptionReply::decode)
        .into_iter()
        .map(|r| r.body)
        .collect()
}

fn go(name: &str) -> ClientOption {
    ClientOption::Go(InfoRequest {
        name: name.into(),
        requests: vec![info::NAME, info::DESCRIPTION, info::BLOCK_SIZE],
    })
}

fn transmission(export: &str) -> Connection {
    let mut c = options_phase(3);
    assert!(matches!(
        send_option(&mut c, go(export)),
        Some(Event::Ready { .. })
    ));
    c.take_output();
    c
}

fn request(kind: CommandKind, flags: u16, cookie: u64, offset: u64, length: u32) -> Vec<u8> {
    let mut b = Vec::new();
    RequestHeader {
        flags,
        kind,
        cookie,
        offset,
        length,
    }
    .encode(&mut b);
    b
}

fn replies(c: &mut Connection) -> Vec<(u64, Option<NbdErrno>)> {
    drain(c, SimpleReply::decode)
        .into_iter()
        .map(|r| (r.cookie, r.error))
        .collect()
}

#[test]
fn list_names_every_export_then_acks() {
    let mut c = options_phase(3);
    assert_eq!(send_option(&mut c, ClientOption::List), None);
    assert_eq!(
        bodies(&mut c),
        [
            ReplyBody::Server {
                name: "r0".into(),
                description: "first".into()
            },
            ReplyBody::Server {
                name: "ro".into(),
                description: String::new()
            },
            ReplyBody::Ack,
        ]
    );
}

#[test]
fn info_describes_and_stays_in_option_haggling() {
    let mut c = options_phase(3);
    let info = ClientOption::Info(InfoRequest {
        name: "ro".into(),
        requests: vec![info::NAME],
    });
    assert_eq!(send_option(&mut c, info), None);
    let b = bodies(&mut c);
    let flags = exports()[1].flags().0;
    assert_eq!(
        b,
        [
            ReplyBody::Info(InfoItem::Export { size: 8192, flags }),
            ReplyBody::Info(InfoItem::Name("ro".into())),
            ReplyBody::Info(InfoItem::BlockSize {
                min: 1,
                preferred: 4096,
                max: 1 << 25
            }),
            ReplyBody::Ack,
        ]
    );
    assert!(flags & crate::wire::tflag::READ_ONLY != 0);
    // Still haggling: another option is answered.
    assert_eq!(send_option(&mut c, ClientOption::List), None);
    assert_eq!(bodies(&mut c).len(), 3);
}

#[test]
fn go_enters_transmission_and_empty_name_is_the_default_export() {
    let mut c = options_phase(3);
    let e = send_option(&mut c, go(""));
    assert_eq!(e, Some(Event::Ready { export: 0 }));
    let b = bodies(&mut c);
    assert!(b.contains(&ReplyBody::Info(InfoItem::Description("first".into()))));
    assert_eq!(b.last(), Some(&ReplyBody::Ack));
    assert_eq!(c.export().map(|e| e.name.as_str()), Some("r0"));
}

#[test]
fn go_for_a_missing_export_is_err_unknown_naming_the_exports() {
    let mut c = options_phase(3);
    assert_eq!(send_option(&mut c, go("nope")), None);
    match &bodies(&mut c)[..] {
        [ReplyBody::Error {
            kind: RepError::Unknown,
            message,
        }] => {
            assert!(message.contains("\"nope\""), "{message}");
            assert!(message.contains("\"r0\", \"ro\""), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(c.export().is_none());
}

#[test]
fn export_name_sends_size_and_flags_with_or_without_zeroes() {
    for (flags, len) in [(3, 10), (1, 134)] {
        let mut c = options_phase(flags);
        let e = send_option(&mut c, ClientOption::ExportName { name: "ro".into() });
        assert_eq!(e, Some(Event::Ready { export: 1 }));
        let no_zeroes = flags & 2 != 0;
        let out = c.take_output();
        let (r, n) = ExportNameReply::decode(&out, no_zeroes).unwrap().unwrap();
        assert_eq!(
            (r.size, r.flags, n, out.len()),
            (8192, exports()[1].flags().0, len, len)
        );
    }
}

#[test]
fn export_name_for_a_missing_export_must_disconnect() {
    let mut c = options_phase(3);
    let mut b = Vec::new();
    ClientOption::ExportName { name: "x".into() }.encode(&mut b);
    c.receive(&b);
    let err = c.next_event().unwrap_err();
    assert!(err.to_string().contains("\"x\""), "{err}");
    assert!(c.is_finished());
}

#[test]
fn abort_is_acked_then_the_session_ends() {
    let mut c = options_phase(3);
    assert_eq!(
        send_option(&mut c, ClientOption::Abort),
        Some(Event::Disconnect)
    );
    assert_eq!(bodies(&mut c), [ReplyBody::Ack]);
    assert!(c.is_finished());
    c.receive(b"anything after abort is ignored");
    assert_eq!(c.next_event().unwrap(), None);
}

#[test]
fn unsupported_options_get_err_unsup_and_haggling_continues() {
    let mut c = options_phase(3);
    for o in [
        ClientOption::StructuredReply,
        ClientOption::Other {
            option: opt::SET_META_CONTEXT,
            data: vec![0; 12],
        },
        ClientOption::Other {
            option: opt::LIST_META_CONTEXT,
            data: vec![],
        },
        ClientOption::Other {
            option: opt::STARTTLS,
            data: vec![],
        },
        ClientOption::Other {
            option: 0x4242,
            data: vec![1; 100],
        },
    ] {
        let code = o.code();
        assert_eq!(send_option(&mut c, o), None);
        let r = drain(&mut c, OptionReply::decode);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].option, code);
        assert!(
            matches!(
                r[0].body,
                ReplyBody::Error {
                    kind: RepError::Unsup,
                    ..
                }
            ),
            "{r:?}"
        );
    }
    assert!(matches!(
        send_option(&mut c, go("r0")),
        Some(Event::Ready { export: 0 })
    ));
}

#[test]
fn malformed_options_get_err_invalid() {
    let mut c = options_phase(3);
    let mut b = IHAVEOPT_BYTES.to_vec();
    b.extend_from_slice(&opt::GO.to_be_bytes());
    b.extend_from_slice(&3u32.to_be_bytes());
    b.extend_from_slice(&[0, 0, 9]);
    c.receive(&b);
    assert_eq!(c.next_event().unwrap(), None);
    let r = drain(&mut c, OptionReply::decode);
    assert!(
        matches!(&r[0].body, ReplyBody::Error { kind: RepError::Invalid, message } if message.contains("NBD_OPT_GO"))
    );
}

const IHAVEOPT_BYTES: &[u8] = b"IHAVEOPT";

#[test]
fn oversized_options_are_skipped_and_refused_with_too_big() {
    let mut c = options_phase(3);
    let len = MAX_OPTION_DATA + 1;
    let mut b = IHAVEOPT_BYTES.to_vec();
    b.extend_from_slice(&opt::INFO.to_be_bytes());
    b.extend_from_slice(&len.to_be_bytes());
    c.receive(&b);
    // The data arrives in pieces and is never buffered whole.
    for _ in 0..len / 1000 {
        c.receive(&[0xee; 1000]);
        assert_eq!(c.next_event().unwrap(), None);
        assert_eq!(c.output_len(), 0);
    }
    c.receive(&vec![0xee; (len % 1000) as usize]);
    assert_eq!(c.next_event().unwrap(), None);
    let r = drain(&mut c, OptionReply::decode);
    assert!(matches!(
        r[0].body,
        ReplyBody::Error {
            kind: RepError::TooBig,
            ..
        }
    ));
    assert!(matches!(
        send_option(&mut c, go("r0")),
        Some(Event::Ready { .. })
    ));
}

#[test]
fn unknown_client_flags_close_the_connection() {
    let mut c = Connection::new(exports());
    c.receive(&[0, 0, 0, 4]);
    assert!(matches!(
        c.next_event(),
        Err(NbdError::ClientFlags { flags: 4 })
    ));
    c.consume_output(usize::MAX);
    assert!(c.is_finished());
}

#[test]
fn wrong_option_magic_closes_the_connection() {
    let mut c = options_phase(3);
    c.receive(b"IHAVEOPX\0\0\0\x03\0\0\0\0");
    assert!(matches!(c.next_event(), Err(NbdError::BadMagic { .. })));
}

#[test]
fn pipelined_requests_come_out_in_order_and_replies_follow_completion_order() {
    let mut c = transmission("r0");
    let mut wire = request(CommandKind::Write, cflag::FUA, 1, 4096, 3);
    wire.extend_from_slice(b"abc");
    wire.extend(request(CommandKind::Read, 0, 2, 0, 5));
    wire.extend(request(CommandKind::Flush, 0, 3, 0, 0));
    wire.extend(request(CommandKind::Trim, 0, 4, 0, 4096));
    wire.extend(request(CommandKind::WriteZeroes, cflag::NO_HOLE, 5, 0, 512));
    wire.extend(request(CommandKind::Cache, 0, 6, 0, 512));
    // Byte by byte, to prove framing does not depend on read boundaries.
    let mut events = Vec::new();
    for byte in wire {
        c.receive(&[byte]);
        while let Some(e) = c.next_event().unwrap() {
            events.push(e);
        }
    }
    let commands: Vec<Command> = events
        .into_iter()
        .map(|e| match e {
            Event::Request(r) => r.command,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        commands,
        [
            Command::Write {
                offset: 4096,
                data: b"abc".to_vec(),
                fua: true
            },
            Command::Read {
                offset: 0,
                length: 5
            },
            Command::Flush,
            Command::Trim {
                offset: 0,
                length: 4096,
                fua: false
            },
            Command::WriteZeroes {
                offset: 0,
                length: 512,
                no_hole: true,
                fua: false
            },
            Command::Cache {
                offset: 0,
                length: 512
            },
        ]
    );
    assert_eq!(c.in_flight(), 6);
    c.complete(Completion::data(2, b"hello".to_vec())).unwrap();
    c.complete(Completion::error(1, NbdErrno::Io)).unwrap();
    for cookie in [6, 5, 4, 3] {
        c.complete(Completion::ok(cookie)).unwrap();
    }
    let out = c.take_output();
    let (first, n) = SimpleReply::decode(&out).unwrap().unwrap();
    assert_eq!((first.cookie, first.error), (2, None));
    assert_eq!(&out[n..n + 5], b"hello");
    let rest: Vec<(u64, Option<NbdErrno>)> = out[n + 5..]
        .chunks(SimpleReply::LEN)
        .map(|r| {
            let (r, _) = SimpleReply::decode(r).unwrap().unwrap();
            (r.cookie, r.error)
        })
        .collect();
    assert_eq!(
        rest,
        [
            (1, Some(NbdErrno::Io)),
            (6, None),
            (5, None),
            (4, None),
            (3, None)
        ]
    );
    assert_eq!(c.in_flight(), 0);
}

#[test]
fn invalid_requests_are_answered_inside_and_never_reach_the_caller() {
    let mut c = transmission("ro");
    let mut wire = request(CommandKind::Write, 0, 1, 0, 4);
    wire.extend_from_slice(b"data");
    wire.extend(request(CommandKind::Read, 0, 2, 8192, 1));
    wire.extend(request(CommandKind::Unknown(77), 0, 3, 0, 0));
    wire.extend(request(CommandKind::BlockStatus, 0, 4, 0, 512));
    wire.extend(request(CommandKind::Read, 0, 5, 0, 512));
    c.receive(&wire);
    match c.next_event().unwrap() {
        Some(Event::Request(Request { cookie: 5, .. })) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        replies(&mut c),
        [
            (1, Some(NbdErrno::Perm)),
            (2, Some(NbdErrno::Inval)),
            (3, Some(NbdErrno::Inval)),
            (4, Some(NbdErrno::Inval)),
        ]
    );
}

#[test]
fn oversized_write_payload_is_skipped_then_refused() {
    let mut e = exports();
    e[0].block_size = BlockSize::new(1, 4096, 8192).unwrap();
    let mut c = Connection::new(e);
    let mut b = Vec::new();
    ClientFlags(3).encode(&mut b);
    go("r0").encode(&mut b);
    c.receive(&b);
    assert!(matches!(c.next_event().unwrap(), Some(Event::Ready { .. })));
    c.consume_output(usize::MAX);
    c.receive(&request(CommandKind::Write, 0, 9, 0, 10_000));
    for _ in 0..10 {
        c.receive(&[1; 1000]);
        assert_eq!(c.next_event().unwrap(), None);
    }
    assert_eq!(replies(&mut c), [(9, Some(NbdErrno::Inval))]);
    // The stream is still in step.
    c.receive(&request(CommandKind::Flush, 0, 10, 0, 0));
    assert!(matches!(
        c.next_event().unwrap(),
        Some(Event::Request(Request { cookie: 10, .. }))
    ));
}

#[test]
fn large_write_payloads_arriving_in_pieces_are_assembled() {
    let mut c = transmission("r0");
    let len = 100_000u32;
    let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    c.receive(&request(CommandKind::Write, 0, 1, 4096, len));
    c.receive(&payload[..10]);
    assert_eq!(c.next_event().unwrap(), None);
    let mut sent = 10;
    for piece in payload[10..].chunks(999) {
        assert_eq!(c.partial_input(), 28 + sent as u64);
        c.receive(piece);
        sent += piece.len();
        if let Some(event) = c.next_event().unwrap() {
            let expected = Event::Request(Request {
                cookie: 1,
                command: Command::Write {
                    offset: 4096,
                    data: payload.clone(),
                    fua: false,
                },
            });
            assert_eq!(event, expected);
            assert_eq!(c.partial_input(), 0);
            return;
        }
    }
    panic!("the write never completed");
}

#[test]
fn refused_write_payloads_are_skipped_not_buffered() {
    let mut c = transmission("ro");
    c.receive(&request(CommandKind::Write, 0, 7, 0, 200_000));
    for _ in 0..200 {
        c.receive(&[3; 1000]);
        assert_eq!(c.next_event().unwrap(), None);
    }
    assert_eq!(replies(&mut c), [(7, Some(NbdErrno::Perm))]);
    c.receive(&request(CommandKind::Read, 0, 8, 0, 16));
    assert!(matches!(
        c.next_event().unwrap(),
        Some(Event::Request(Request { cookie: 8, .. }))
    ));
}

#[test]
fn large_read_data_follows_its_header_in_completion_order() {
    let mut c = transmission("r0");
    let mut wire = request(CommandKind::Read, 0, 1, 0, 65536);
    wire.extend(request(CommandKind::Read, 0, 2, 0, 3));
    c.receive(&wire);
    while c.next_event().unwrap().is_some() {}
    let big: Vec<u8> = (0..65536u32).map(|i| (i / 256) as u8).collect();
    c.complete(Completion::data(1, big.clone())).unwrap();
    c.complete(Completion::data(2, vec![9, 9, 9])).unwrap();
    assert_eq!(c.output_len(), 16 + 65536 + 16 + 3);
    let mut sent = Vec::new();
    c.write_to(&mut sent).unwrap();
    assert_eq!(SimpleReply::decode(&sent).unwrap().unwrap().0.cookie, 1);
    assert!(sent[16..16 + 65536] == big[..]);
    let tail = &sent[16 + 65536..];
    assert_eq!(SimpleReply::decode(tail).unwrap().unwrap().0.cookie, 2);
    assert_eq!(&tail[16..], &[9, 9, 9]);
}

#[test]
fn completions_are_checked() {
    let mut c = transmission("r0");
    c.receive(&request(CommandKind::Read, 0, 1, 0, 4));
    assert!(c.next_event().unwrap().is_some());
    assert!(matches!(
        c.complete(Completion::ok(99)),
        Err(NbdError::UnknownCookie { cookie: 99 })
    ));
    assert!(matches!(
        c.complete(Completion::data(1, vec![0; 3])),
        Err(NbdError::ReplyLength {
            expected: 4,
            got: 3,
            ..
        })
    ));
    assert_eq!(replies(&mut c), [(1, Some(NbdErrno::Io))]);
    assert!(matches!(
        c.complete(Completion::ok(1)),
        Err(NbdError::UnknownCookie { .. })
    ));
}

#[test]
fn disconnect_waits_for_requests_in_flight() {
    let mut c = transmission("r0");
    let mut wire = request(CommandKind::Read, 0, 1, 0, 1);
    wire.extend(request(CommandKind::Disc, 0, 2, 0, 0));
    wire.extend(request(CommandKind::Read, 0, 3, 0, 1));
    c.receive(&wire);
    assert!(matches!(c.next_event().unwrap(), Some(Event::Request(_))));
    assert_eq!(c.next_event().unwrap(), Some(Event::Disconnect));
    assert_eq!(c.next_event().unwrap(), None);
    assert!(!c.is_finished());
    c.complete(Completion::data(1, vec![7])).unwrap();
    assert!(!c.is_finished(), "reply not yet sent");
    let mut sent = Vec::new();
    c.write_to(&mut sent).unwrap();
    assert_eq!(sent.len(), 17);
    assert!(c.is_finished());
    assert_eq!(c.partial_input(), 0);
}

#[test]
fn bad_request_magic_closes_the_connection() {
    let mut c = transmission("r0");
    let mut b = request(CommandKind::Read, 0, 1, 0, 1);
    b[3] = 0;
    c.receive(&b);
    assert!(matches!(
        c.next_event(),
        Err(NbdError::BadMagic {
            what: "request",
            ..
        })
    ));
    assert!(c.is_finished());
}

#[test]
fn shutdown_refuses_new_work() {
    let mut c = options_phase(3);
    c.shutdown();
    assert_eq!(send_option(&mut c, go("r0")), None);
    let r = drain(&mut c, OptionReply::decode);
    assert!(matches!(
        r[0].body,
        ReplyBody::Error {
            kind: RepError::Shutdown,
            ..
        }
    ));
    assert_eq!(r[0].body_code(), rep::ERR_SHUTDOWN);

    let mut c = transmission("r0");
    c.shutdown();
    let mut wire = request(CommandKind::Read, 0, 1, 0, 1);
    wire.extend(request(CommandKind::Disc, 0, 2, 0, 0));
    c.receive(&wire);
    assert_eq!(c.next_event().unwrap(), Some(Event::Disconnect));
    assert_eq!(replies(&mut c), [(1, Some(NbdErrno::Shutdown))]);
    assert!(c.is_finished());
}

#[test]
fn eof_mid_message_is_visible() {
    let mut c = transmission("r0");
    let wire = request(CommandKind::Read, 0, 1, 0, 1);
    c.receive(&wire[..10]);
    assert_eq!(c.next_event().unwrap(), None);
    assert_eq!(c.partial_input(), 10);
}

#[test]
fn read_from_fills_a_whole_large_write() {
    let mut c = transmission("r0");
    let mut wire = request(CommandKind::Write, 0, 1, 0, 1 << 20);
    wire.extend(vec![0xab; 1 << 20]);
    let mut src = &wire[..];
    let mut event = None;
    while event.is_none() {
        assert!(c.read_from(&mut src).unwrap() > 0);
        event = c.next_event().unwrap();
    }
    match event {
        Some(Event::Request(Request {
            command: Command::Write { data, .. },
            ..
        })) => assert!(data.len() == 1 << 20 && data.iter().all(|&b| b == 0xab)),
        other => panic!("{other:?}"),
    }
}

impl OptionReply {
    fn body_code(&self) -> u32 {
        match &self.body {
            ReplyBody::Error { kind, .. } => kind.code(),
            _ => 0,
        }
    }
}
