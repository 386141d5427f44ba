//! The link layer over the message codec: compression and zero-block markers, as pure
//! functions (DRBD Proxy's job, done in the daemon's send path instead of a separate process).
//!
//! The sender groups messages into batches with [`encode_link`]. Inside a batch:
//! - a `Data` write or a `ResyncReply` whose payload is all zeros becomes a zero marker (its
//!   address and size only) when [`LinkOpts::zero_markers`] is on;
//! - the batch (at most one frame's worth, [`MAX_PAYLOAD`]) is compressed with lz4 or zstd and
//!   sent as one `COMPRESSED` frame **only when that shrinks it**; otherwise its plain frames
//!   go out as they are (incompressible blocks cost nothing extra).
//!
//! The receiver decodes with [`decode_link`], which also takes plain frames, so a node that
//! uses it talks to any shimai. Which options a sender may use is negotiated by the core
//! (`Hello` feature bits `FEATURE_LZ4`, `FEATURE_ZSTD`, `FEATURE_ZERO_MARKERS`; see
//! [`crate::Core::link_opts`]): a peer that lacks an algorithm gets the stream uncompressed.
//!
//! Decoding is total: corrupt or hostile input yields a [`WireError`], never a panic, and a
//! compressed frame never expands beyond its declared size, itself bounded by one frame.

use super::codec::{decode, encode, TY_COMPRESSED, TY_ZERO_DATA, TY_ZERO_RS_REPLY};
use super::{DataFlags, Msg, WireError, HEADER_LEN, MAGIC, MAX_PAYLOAD};
use crate::config::Compression;

/// What the sender may use on this connection (from [`crate::Core::link_opts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkOpts {
    pub compression: Compression,
    /// zstd level 1-22 (clamped); lz4 has none.
    pub level: i32,
    /// Send all-zero blocks as markers.
    pub zero_markers: bool,
}

impl LinkOpts {
    /// Plain frames only: what any peer understands.
    pub const PLAIN: LinkOpts = LinkOpts {
        compression: Compression::None,
        level: 0,
        zero_markers: false,
    };
}

/// Byte counters of one direction of a link, for `status`: `data` is what the frames carry
/// uncompressed (zero blocks counted at full size), `wire` what crossed the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    pub data_bytes: u64,
    pub wire_bytes: u64,
}

impl LinkStats {
    pub fn add(&mut self, other: LinkStats) {
        self.data_bytes += other.data_bytes;
        self.wire_bytes += other.wire_bytes;
    }
}

/// Largest uncompressed batch (plain frames) inside one compressed frame.
pub const MAX_BATCH: usize = MAX_PAYLOAD as usize + HEADER_LEN;
/// Batches smaller than this are not worth compressing.
const MIN_COMPRESS: usize = 128;

const ALG_LZ4: u8 = 1;
const ALG_ZSTD: u8 = 2;

fn is_zero(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|&x| x == 0)
}

fn frame(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Encodes one message as plain frames (a zero marker when allowed); returns the data bytes
/// it stands for.
fn encode_one(msg: &Msg, zero_markers: bool, out: &mut Vec<u8>) -> Result<u64, WireError> {
    if zero_markers {
        match msg {
            Msg::Data {
                sector,
                seq,
                flags,
                size,
                payload,
            } if !flags.trim() && is_zero(payload) => {
                let mut p = Vec::with_capacity(21);
                p.extend_from_slice(&sector.to_be_bytes());
                p.extend_from_slice(&seq.to_be_bytes());
                p.push(flags.0);
                p.extend_from_slice(&size.to_be_bytes());
                frame(out, TY_ZERO_DATA, &p);
                return Ok(HEADER_LEN as u64 + 21 + u64::from(*size));
            }
            Msg::ResyncReply { sector, payload } if is_zero(payload) => {
                let mut p = Vec::with_capacity(12);
                p.extend_from_slice(&sector.to_be_bytes());
                p.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                frame(out, TY_ZERO_RS_REPLY, &p);
                return Ok(HEADER_LEN as u64 + 8 + payload.len() as u64);
            }
            _ => {}
        }
    }
    let start = out.len();
    encode(msg, out)?;
    Ok((out.len() - start) as u64)
}

fn compress(alg: Compression, level: i32, raw: &[u8]) -> Option<(u8, Vec<u8>)> {
    match alg {
        Compression::None => None,
        Compression::Lz4 => Some((ALG_LZ4, lz4_flex::block::compress(raw))),
        Compression::Zstd => zstd::bulk::compress(raw, level.clamp(1, 22))
            .ok()
            .map(|c| (ALG_ZSTD, c)),
    }
}

/// Appends `msgs` to `out` as link frames and returns what they cost. Messages are grouped
/// into batches of at most [`MAX_BATCH`] plain bytes; each batch is compressed when that
/// shrinks it. A message too large for one frame is an error (nothing of it is appended).
pub fn encode_link(
    msgs: &[Msg],
    opts: LinkOpts,
    out: &mut Vec<u8>,
) -> Result<LinkStats, WireError> {
    let mut stats = LinkStats::default();
    let mut batch = Vec::new();
    let mut batch_data = 0u64;
    for m in msgs {
        let mut one = Vec::new();
        let data = encode_one(m, opts.zero_markers, &mut one)?;
        if !batch.is_empty() && batch.len() + one.len() > MAX_BATCH {
            flush_batch(&batch, batch_data, opts, out, &mut stats);
            batch.clear();
            batch_data = 0;
        }
        batch.extend_from_slice(&one);
        batch_data += data;
    }
    if !batch.is_empty() {
        flush_batch(&batch, batch_data, opts, out, &mut stats);
    }
    Ok(stats)
}

fn flush_batch(raw: &[u8], data: u64, opts: LinkOpts, out: &mut Vec<u8>, stats: &mut LinkStats) {
    stats.data_bytes += data;
    if raw.len() >= MIN_COMPRESS {
        if let Some((alg, c)) = compress(opts.compression, opts.level, raw) {
            let framed = HEADER_LEN + 5 + c.len();
            if framed < raw.len() {
                let mut p = Vec::with_capacity(5 + c.len());
                p.push(alg);
                p.extend_from_slice(&(raw.len() as u32).to_be_bytes());
                p.extend_from_slice(&c);
                frame(out, TY_COMPRESSED, &p);
                stats.wire_bytes += framed as u64;
                return;
            }
        }
    }
    out.extend_from_slice(raw);
    stats.wire_bytes += raw.len() as u64;
}

/// One outer frame decoded by [`decode_link`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkDecoded {
    /// Bytes of `buf` the frame took (wire bytes).
    pub used: usize,
    /// Bytes the frame stands for uncompressed (data bytes).
    pub data: u64,
}

fn malformed(ty: u16, what: &'static str) -> WireError {
    WireError::Malformed { ty, what }
}

/// Decodes one frame from the front of `buf` (plain, zero marker or compressed batch) and
/// appends the messages it carries to `msgs`. `Ok(None)` = need more bytes.
pub fn decode_link(buf: &[u8], msgs: &mut Vec<Msg>) -> Result<Option<LinkDecoded>, WireError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let t = u16::from_be_bytes([buf[2], buf[3]]);
    if u16::from_be_bytes([buf[0], buf[1]]) != MAGIC
        || !matches!(t, TY_COMPRESSED | TY_ZERO_DATA | TY_ZERO_RS_REPLY)
    {
        return Ok(decode(buf)?.map(|(m, used)| {
            msgs.push(m);
            LinkDecoded {
                used,
                data: used as u64,
            }
        }));
    }
    let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len > MAX_PAYLOAD {
        return Err(WireError::TooLarge {
            len: u64::from(len),
        });
    }
    let used = HEADER_LEN + len as usize;
    if buf.len() < used {
        return Ok(None);
    }
    let p = &buf[HEADER_LEN..used];
    let data = match t {
        TY_COMPRESSED => {
            let (&alg, rest) = p
                .split_first()
                .ok_or(malformed(t, "empty compressed frame"))?;
            if rest.len() < 4 {
                return Err(malformed(t, "compressed frame too short"));
            }
            let raw_len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if raw_len > MAX_BATCH {
                return Err(malformed(t, "compressed batch larger than one frame"));
            }
            let c = &rest[4..];
            let raw = match alg {
                ALG_LZ4 => {
                    let mut raw = vec![0u8; raw_len];
                    match lz4_flex::block::decompress_into(c, &mut raw) {
                        Ok(n) if n == raw_len => raw,
                        _ => return Err(malformed(t, "lz4 data corrupt")),
                    }
                }
                ALG_ZSTD => match zstd::bulk::decompress(c, raw_len) {
                    Ok(raw) if raw.len() == raw_len => raw,
                    _ => return Err(malformed(t, "zstd data corrupt")),
                },
                _ => return Err(malformed(t, "unknown compression algorithm")),
            };
            let mut rest = &raw[..];
            let mut data = 0u64;
            while !rest.is_empty() {
                let rt = (rest.len() >= 4).then(|| u16::from_be_bytes([rest[2], rest[3]]));
                if rt == Some(TY_COMPRESSED) {
                    return Err(malformed(t, "compressed frame inside a compressed frame"));
                }
                match decode_link(rest, msgs)? {
                    Some(d) => {
                        rest = &rest[d.used..];
                        data += d.data;
                    }
                    None => return Err(malformed(t, "compressed batch ends mid-frame")),
                }
            }
            data
        }
        TY_ZERO_DATA => {
            if p.len() != 21 {
                return Err(malformed(t, "zero marker of wrong length"));
            }
            let u64_at = |i: usize| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&p[i..i + 8]);
                u64::from_be_bytes(a)
            };
            let flags = p[16];
            let size = u32::from_be_bytes([p[17], p[18], p[19], p[20]]);
            if flags & !DataFlags::ALL != 0 || flags & DataFlags::TRIM != 0 {
                return Err(malformed(t, "zero marker with bad flags"));
            }
            if size == 0 || size > MAX_PAYLOAD - 64 {
                return Err(malformed(t, "zero marker size out of range"));
            }
            msgs.push(Msg::Data {
                sector: u64_at(0),
                seq: u64_at(8),
                flags: DataFlags(flags),
                size,
                payload: vec![0; size as usize],
            });
            (used + size as usize) as u64
        }
        _ => {
            if p.len() != 12 {
                return Err(malformed(t, "zero marker of wrong length"));
            }
            let mut a = [0u8; 8];
            a.copy_from_slice(&p[..8]);
            let size = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
            if size == 0 || size > MAX_PAYLOAD - 64 {
                return Err(malformed(t, "zero marker size out of range"));
            }
            msgs.push(Msg::ResyncReply {
                sector: u64::from_be_bytes(a),
                payload: vec![0; size as usize],
            });
            // The plain frame it stands for: header, sector, payload.
            (HEADER_LEN + 8 + size as usize) as u64
        }
    };
    Ok(Some(LinkDecoded { used, data }))
}

/// For a cargo-fuzz target: decodes a stream of link frames until it ends or errs.
pub fn fuzz_decode_link(data: &[u8]) {
    let mut rest = data;
    let mut msgs = Vec::new();
    while let Ok(Some(d)) = decode_link(rest, &mut msgs) {
        rest = &rest[d.used..];
        msgs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(seq: u64, payload: Vec<u8>) -> Msg {
        Msg::Data {
            sector: seq * 8,
            seq,
            flags: DataFlags(0),
            size: payload.len() as u32,
            payload,
        }
    }

    fn roundtrip(msgs: &[Msg], opts: LinkOpts) -> (Vec<Msg>, LinkStats) {
        let mut out = Vec::new();
        let stats = encode_link(msgs, opts, &mut out).unwrap();
        assert_eq!(stats.wire_bytes, out.len() as u64);
        let mut got = Vec::new();
        let mut rest = &out[..];
        let mut data = 0;
        while !rest.is_empty() {
            let d = decode_link(rest, &mut got).unwrap().unwrap();
            rest = &rest[d.used..];
            data += d.data;
        }
        assert_eq!(data, stats.data_bytes);
        (got, stats)
    }

    #[test]
    fn text_shrinks_random_does_not_grow_zeros_become_markers() {
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog. "
            .iter()
            .cycle()
            .take(65536)
            .copied()
            .collect();
        let mut x = 0x1234_5678_9abc_def0u64;
        let random: Vec<u8> = (0..65536)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for compression in [Compression::Lz4, Compression::Zstd] {
            let opts = LinkOpts {
                compression,
                level: 3,
                zero_markers: true,
            };
            let msgs = [data(1, text.clone())];
            let (got, s) = roundtrip(&msgs, opts);
            assert_eq!(got, msgs);
            assert!(s.wire_bytes * 10 < s.data_bytes, "{compression:?}: {s:?}");
            let msgs = [data(2, random.clone())];
            let (got, s) = roundtrip(&msgs, opts);
            assert_eq!(got, msgs);
            assert_eq!(s.wire_bytes, s.data_bytes, "random data is sent as it is");
            let msgs = [
                data(3, vec![0; 4096]),
                Msg::ResyncReply {
                    sector: 16,
                    payload: vec![0; 4096],
                },
            ];
            let (got, s) = roundtrip(&msgs, opts);
            assert_eq!(got, msgs);
            assert!(s.wire_bytes < 80, "{s:?}");
        }
    }

    #[test]
    fn plain_decoder_refuses_link_frames() {
        let mut out = Vec::new();
        let opts = LinkOpts {
            compression: Compression::None,
            level: 0,
            zero_markers: true,
        };
        encode_link(&[data(1, vec![0; 512])], opts, &mut out).unwrap();
        assert!(matches!(decode(&out), Err(WireError::Malformed { .. })));
    }
}
