//! Property tests of the link codec (`wire::encode_link` / `wire::decode_link`): any batch of
//! messages round-trips under every option (lz4, zstd, zero markers), the byte counters add
//! up, compression never makes a batch larger than its plain frames, and arbitrary bytes
//! never panic the decoder.

use proptest::prelude::*;
use shimai_replication::wire::{self, DataFlags, LinkOpts, Msg};
use shimai_replication::Compression;

/// Payloads as replication sees them: zeros, repetitive text, random bytes.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    let len = prop::sample::select(vec![512usize, 4096, 65536]);
    prop_oneof![
        len.clone().prop_map(|n| vec![0u8; n]),
        (len.clone(), any::<u8>()).prop_map(|(n, b)| {
            b"abc def "
                .iter()
                .map(|c| c ^ (b & 1))
                .cycle()
                .take(n)
                .collect()
        }),
        (len, any::<u64>()).prop_map(|(n, seed)| {
            let mut x = seed | 1;
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        }),
    ]
}

fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        (any::<u64>(), any::<u64>(), 0u8..4, payload()).prop_map(|(sector, seq, f, p)| {
            Msg::Data {
                sector,
                seq,
                flags: DataFlags(f & (DataFlags::FUA | DataFlags::FLUSH)),
                size: p.len() as u32,
                payload: p,
            }
        }),
        (any::<u64>(), payload())
            .prop_map(|(sector, payload)| Msg::ResyncReply { sector, payload }),
        (any::<u64>(), any::<u32>()).prop_map(|(sector, size)| Msg::CsumRequest {
            sector,
            size,
            digest: vec![7; 20],
        }),
        any::<u32>().prop_map(|nr| Msg::Barrier { nr }),
        Just(Msg::Ahead),
    ]
}

fn opts() -> impl Strategy<Value = LinkOpts> {
    (
        prop::sample::select(vec![Compression::None, Compression::Lz4, Compression::Zstd]),
        1i32..6,
        any::<bool>(),
    )
        .prop_map(|(compression, level, zero_markers)| LinkOpts {
            compression,
            level,
            zero_markers,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn batches_round_trip_and_never_grow(msgs in prop::collection::vec(msg(), 1..24), o in opts()) {
        let mut out = Vec::new();
        let stats = wire::encode_link(&msgs, o, &mut out).unwrap();
        prop_assert_eq!(stats.wire_bytes, out.len() as u64);
        let mut plain = Vec::new();
        for m in &msgs {
            wire::encode(m, &mut plain).unwrap();
        }
        prop_assert_eq!(stats.data_bytes, plain.len() as u64);
        prop_assert!(stats.wire_bytes <= stats.data_bytes);
        let mut got = Vec::new();
        let mut rest = &out[..];
        let mut data = 0;
        while !rest.is_empty() {
            let d = wire::decode_link(rest, &mut got).unwrap().unwrap();
            rest = &rest[d.used..];
            data += d.data;
        }
        prop_assert_eq!(data, stats.data_bytes);
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn a_cut_stream_needs_more_bytes_or_decodes(msgs in prop::collection::vec(msg(), 1..4), o in opts(), cut in any::<prop::sample::Index>()) {
        let mut out = Vec::new();
        wire::encode_link(&msgs, o, &mut out).unwrap();
        let at = cut.index(out.len());
        let mut got = Vec::new();
        if let Some(d) = wire::decode_link(&out[..at], &mut got).unwrap() {
            prop_assert!(d.used <= at);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), ty in 0x50u16..0x53) {
        wire::link::fuzz_decode_link(&bytes);
        // The same bytes behind a valid link-frame header.
        let mut framed = vec![0x53, 0x48];
        framed.extend_from_slice(&ty.to_be_bytes());
        framed.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        framed.extend_from_slice(&bytes);
        wire::link::fuzz_decode_link(&framed);
    }
}
