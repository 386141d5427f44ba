//! Property tests of the wire codec: every message round-trips, arbitrary bytes never panic
//! the decoder, and a frame split anywhere decodes once the rest arrives.

use proptest::prelude::*;
use shimai_replication::wire::{self, DataFlags, Msg, Params};
use shimai_replication::{
    AfterSb0Pri, AfterSb1Pri, AfterSb2Pri, DiskState, GenerationIds, Protocol, Role,
};

fn gi() -> impl Strategy<Value = GenerationIds> {
    (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(c, b, h0, h1)| {
        GenerationIds {
            current: c,
            bitmap: b,
            history: [h0, h1],
        }
    })
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop::sample::select(vec![Protocol::A, Protocol::B, Protocol::C]),
        prop::sample::select(vec![
            AfterSb0Pri::Disconnect,
            AfterSb0Pri::DiscardYoungerPrimary,
            AfterSb0Pri::DiscardOlderPrimary,
            AfterSb0Pri::DiscardZeroChanges,
            AfterSb0Pri::DiscardLeastChanges,
            AfterSb0Pri::DiscardLocal,
            AfterSb0Pri::DiscardRemote,
        ]),
        prop::sample::select(vec![
            AfterSb1Pri::Disconnect,
            AfterSb1Pri::Consensus,
            AfterSb1Pri::DiscardSecondary,
            AfterSb1Pri::CallPriLostAfterSb,
            AfterSb1Pri::ViolentlyAs0p,
        ]),
        prop::sample::select(vec![
            AfterSb2Pri::Disconnect,
            AfterSb2Pri::ViolentlyAs0p,
            AfterSb2Pri::CallPriLostAfterSb,
        ]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(protocol, a0, a1, a2, two, discard)| Params {
            protocol,
            after_sb_0pri: a0,
            after_sb_1pri: a1,
            after_sb_2pri: a2,
            two_primaries: two,
            discard_my_data: discard,
        })
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn msg() -> impl Strategy<Value = Msg> {
    let role = prop::sample::select(vec![Role::Primary, Role::Secondary, Role::Unknown]);
    let disk = prop::sample::select(vec![
        DiskState::Diskless,
        DiskState::Attaching,
        DiskState::Failed,
        DiskState::Negotiating,
        DiskState::Inconsistent,
        DiskState::Outdated,
        DiskState::DUnknown,
        DiskState::Consistent,
        DiskState::UpToDate,
    ]);
    let data = (any::<u64>(), any::<u64>(), 0u8..8, bytes(600)).prop_map(|(sector, seq, f, p)| {
        let flags = DataFlags(f);
        if flags.trim() {
            Msg::Data {
                sector,
                seq,
                flags,
                size: p.len() as u32 * 512,
                payload: Vec::new(),
            }
        } else {
            Msg::Data {
                sector,
                seq,
                flags,
                size: p.len() as u32,
                payload: p,
            }
        }
    });
    prop_oneof![
        (any::<u16>(), any::<u16>(), any::<u32>()).prop_map(|(a, b, f)| Msg::Hello {
            min_version: a,
            max_version: b,
            features: f
        }),
        bytes(80).prop_map(|nonce| Msg::AuthChallenge { nonce }),
        bytes(80).prop_map(|mac| Msg::AuthResponse { mac }),
        params().prop_map(Msg::Params),
        (gi(), any::<u64>(), any::<u32>()).prop_map(|(gi, bits_set, flags)| Msg::Uuids {
            gi,
            bits_set,
            flags
        }),
        any::<u64>().prop_map(|size| Msg::Sizes { size }),
        (role, disk, any::<bool>()).prop_map(|(role, disk, sync_paused)| Msg::State {
            role,
            disk,
            sync_paused
        }),
        data,
        any::<u64>().prop_map(|seq| Msg::RecvAck { seq }),
        any::<u64>().prop_map(|seq| Msg::WriteAck { seq }),
        any::<u64>().prop_map(|seq| Msg::NegAck { seq }),
        any::<u32>().prop_map(|nr| Msg::Barrier { nr }),
        (any::<u32>(), any::<u32>()).prop_map(|(nr, set_size)| Msg::BarrierAck { nr, set_size }),
        (
            any::<u64>(),
            prop::collection::vec(any::<u64>(), 0..50),
            any::<bool>()
        )
            .prop_map(|(first_bit, runs, last)| Msg::Bitmap {
                first_bit,
                runs,
                last
            }),
        any::<u64>().prop_map(|uuid| Msg::SyncUuid { uuid }),
        (any::<u64>(), any::<u32>()).prop_map(|(sector, size)| Msg::ResyncRequest { sector, size }),
        (any::<u64>(), bytes(600))
            .prop_map(|(sector, payload)| Msg::ResyncReply { sector, payload }),
        (any::<u64>(), any::<u32>()).prop_map(|(sector, size)| Msg::ResyncInSync { sector, size }),
        (any::<u64>(), any::<u32>())
            .prop_map(|(sector, size)| Msg::ResyncWriteAck { sector, size }),
        Just(Msg::ResyncFinished),
        (any::<u64>(), any::<u32>()).prop_map(|(sector, size)| Msg::VerifyRequest { sector, size }),
        (any::<u64>(), any::<u32>(), bytes(40)).prop_map(|(sector, size, digest)| {
            Msg::VerifyReply {
                sector,
                size,
                digest,
            }
        }),
        (any::<u64>(), any::<u32>(), any::<bool>()).prop_map(|(sector, size, in_sync)| {
            Msg::VerifyResult {
                sector,
                size,
                in_sync,
            }
        }),
        Just(Msg::VerifyFinished),
        (any::<u64>(), any::<u32>()).prop_map(|(sector, size)| Msg::OutOfSync { sector, size }),
        Just(Msg::Ping),
        Just(Msg::PingAck),
        Just(Msg::Disconnect),
        // Issue 13: digests, checksum resync, pull-ahead.
        (
            "[a-z0-9]{0,12}",
            "[a-z0-9]{0,12}",
            "[a-z0-9]{0,12}",
            any::<bool>()
        )
            .prop_map(|(v, c, i, after)| Msg::SyncParams {
                verify_alg: v,
                csums_alg: c,
                integrity_alg: i,
                csums_after_crash_only: after,
            }),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|digest| Msg::Digest { digest }),
        (
            any::<u64>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(sector, size, digest)| Msg::CsumRequest {
                sector,
                size,
                digest
            }),
        Just(Msg::Ahead),
        gi().prop_map(|gi| Msg::BecomeSyncTarget { gi }),
        (0x1000u16..0xffff, 0u32..100).prop_map(|(ty, len)| Msg::Unknown { ty, len }),
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips(m in msg()) {
        let mut buf = Vec::new();
        wire::encode(&m, &mut buf).unwrap();
        let (back, used) = wire::decode(&buf).unwrap().unwrap();
        prop_assert_eq!(used, buf.len());
        prop_assert_eq!(back, m);
    }

    #[test]
    fn a_stream_of_messages_decodes_in_order(ms in prop::collection::vec(msg(), 1..6), cut in any::<prop::sample::Index>()) {
        let mut buf = Vec::new();
        for m in &ms {
            wire::encode(m, &mut buf).unwrap();
        }
        // Bytes arrive in two pieces, split anywhere.
        let cut = cut.index(buf.len() + 1);
        let mut got = Vec::new();
        let mut pending = buf[..cut].to_vec();
        let mut rest = &buf[cut..];
        loop {
            match wire::decode(&pending).unwrap() {
                Some((m, used)) => {
                    got.push(m);
                    pending.drain(..used);
                }
                None if !rest.is_empty() => {
                    pending.extend_from_slice(rest);
                    rest = &[];
                }
                None => break,
            }
        }
        prop_assert!(pending.is_empty());
        prop_assert_eq!(got, ms);
    }

    #[test]
    fn decode_never_panics(data in bytes(300)) {
        wire::fuzz_decode(&data);
        if let Ok(Some((_, used))) = wire::decode(&data) {
            prop_assert!(used <= data.len() && used >= wire::HEADER_LEN);
        }
    }

    #[test]
    fn decode_never_panics_on_valid_headers(t in any::<u16>(), body in bytes(200)) {
        let mut frame = wire::MAGIC.to_be_bytes().to_vec();
        frame.extend_from_slice(&t.to_be_bytes());
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(&body);
        // Known types either parse or report malformed; unknown ones are values.
        match wire::decode(&frame) {
            Ok(Some((_, used))) => prop_assert_eq!(used, frame.len()),
            Ok(None) => prop_assert!(false, "a complete frame needs no more bytes"),
            Err(wire::WireError::Malformed { ty, .. }) => prop_assert_eq!(ty, t),
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }
}

/// A connected core (handshake done, both just created) fed arbitrary peer messages and disk
/// completions: whatever arrives, it answers with actions or drops the connection, and never
/// panics.
mod core_fuzz {
    use super::*;
    use shimai_replication::{AdminCmd, Core, DiskResult, Event, Persisted, ResourceConfig};

    const SIZE: u64 = 1 << 20;

    fn connected_core() -> Core {
        let cfg = ResourceConfig::new(SIZE);
        let mut c = Core::new(cfg.clone(), Some(Persisted::just_created(SIZE)), 9);
        c.handle(Event::Admin(AdminCmd::Connect {
            discard_my_data: false,
        }))
        .unwrap();
        c.handle(Event::Connected {
            resolve_conflicts: true,
            challenge: vec![1; 32],
        })
        .unwrap();
        let peer = [
            Msg::Hello {
                min_version: 1,
                max_version: 1,
                features: wire::FEATURES,
            },
            Msg::Params(Params {
                protocol: cfg.protocol,
                after_sb_0pri: cfg.after_sb_0pri,
                after_sb_1pri: cfg.after_sb_1pri,
                after_sb_2pri: cfg.after_sb_2pri,
                two_primaries: false,
                discard_my_data: false,
            }),
            Msg::Sizes { size: SIZE },
            Msg::Uuids {
                gi: GenerationIds::just_created(),
                bits_set: 0,
                flags: 0,
            },
            Msg::State {
                role: Role::Secondary,
                disk: DiskState::Inconsistent,
                sync_paused: false,
            },
        ];
        for m in peer {
            c.handle(Event::Received(m)).unwrap();
        }
        c.drain_actions();
        c
    }

    proptest! {
        #[test]
        fn core_survives_arbitrary_peer_input(
            ms in prop::collection::vec(msg(), 1..30),
            ios in prop::collection::vec((0u64..64, any::<bool>()), 0..10),
        ) {
            let mut c = connected_core();
            for m in ms {
                c.handle(Event::Received(m)).unwrap();
                c.drain_actions();
                if !c.conn_state().is_connected() {
                    // The message broke the protocol and the connection dropped: start over so
                    // the next one meets a live connection again.
                    c = connected_core();
                }
            }
            for (io, ok) in ios {
                let result = if ok { DiskResult::Data(vec![0; 4096]) } else { DiskResult::Failed(5) };
                c.handle(Event::DiskDone { io, result }).unwrap();
                c.drain_actions();
            }
            c.handle(Event::Tick { now_ms: 1_000_000, entropy: 1 }).unwrap();
            c.drain_actions();
        }
    }
}
