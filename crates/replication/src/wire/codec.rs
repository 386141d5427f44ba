//! Encoding and decoding of [`Msg`]. Decoding is total: any byte string yields a message,
//! "need more bytes", or a [`WireError`], never a panic.

use super::msg::*;
use crate::config::{AfterSb0Pri, AfterSb1Pri, AfterSb2Pri, Protocol};
use crate::gi::GenerationIds;
use crate::state::{DiskState, Role};

/// Frame magic, "SH".
pub const MAGIC: u16 = 0x5348;
/// Bytes of the frame header.
pub const HEADER_LEN: usize = 8;
/// Largest payload: a 1 MiB write plus its fields.
pub const MAX_PAYLOAD: u32 = (1 << 20) + 64;

/// Why bytes from the peer are not a message. The connection drops; with a correct peer this
/// means corruption on the path or a version mismatch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The stream is not at a frame boundary or the peer is not shimai.
    #[error("bad frame magic {found:#06x} (expected {MAGIC:#06x}): peer is not shimai or the stream is corrupt")]
    BadMagic { found: u16 },
    /// A frame longer than any valid message.
    #[error("frame of {len} bytes exceeds the limit of {MAX_PAYLOAD}")]
    TooLarge { len: u64 },
    /// A known message type with a payload that does not parse.
    #[error("malformed message type {ty:#06x}: {what}")]
    Malformed { ty: u16, what: &'static str },
}

mod ty {
    pub const HELLO: u16 = 0x01;
    pub const AUTH_CHALLENGE: u16 = 0x02;
    pub const AUTH_RESPONSE: u16 = 0x03;
    pub const PARAMS: u16 = 0x04;
    pub const UUIDS: u16 = 0x05;
    pub const SIZES: u16 = 0x06;
    pub const STATE: u16 = 0x07;
    pub const SYNC_PARAMS: u16 = 0x08;
    pub const DATA: u16 = 0x10;
    pub const RECV_ACK: u16 = 0x11;
    pub const WRITE_ACK: u16 = 0x12;
    pub const NEG_ACK: u16 = 0x13;
    pub const BARRIER: u16 = 0x14;
    pub const BARRIER_ACK: u16 = 0x15;
    pub const DIGEST: u16 = 0x16;
    pub const BITMAP: u16 = 0x20;
    pub const SYNC_UUID: u16 = 0x21;
    pub const RS_REQUEST: u16 = 0x22;
    pub const RS_REPLY: u16 = 0x23;
    pub const RS_IN_SYNC: u16 = 0x24;
    pub const RS_WRITE_ACK: u16 = 0x25;
    pub const RS_FINISHED: u16 = 0x26;
    pub const CSUM_REQUEST: u16 = 0x27;
    pub const OV_REQUEST: u16 = 0x30;
    pub const OV_REPLY: u16 = 0x31;
    pub const OV_RESULT: u16 = 0x32;
    pub const OV_FINISHED: u16 = 0x33;
    pub const OUT_OF_SYNC: u16 = 0x34;
    pub const PING: u16 = 0x40;
    pub const PING_ACK: u16 = 0x41;
    pub const DISCONNECT: u16 = 0x42;
    pub const AHEAD: u16 = 0x43;
    pub const BECOME_SYNC_TARGET: u16 = 0x44;
    /// Link frames (`wire::link`): only `decode_link` expands them.
    pub const COMPRESSED: u16 = 0x50;
    pub const ZERO_DATA: u16 = 0x51;
    pub const ZERO_RS_REPLY: u16 = 0x52;
}

pub(super) use ty::{
    COMPRESSED as TY_COMPRESSED, ZERO_DATA as TY_ZERO_DATA, ZERO_RS_REPLY as TY_ZERO_RS_REPLY,
};

/// Whether a type number is one this version knows (others decode to `Msg::Unknown`).
pub fn is_known(t: u16) -> bool {
    matches!(
        t,
        0x01..=0x08 | 0x10..=0x16 | 0x20..=0x27 | 0x30..=0x34 | 0x40..=0x44 | 0x50..=0x52
    )
}

/// Decodes one frame from the front of `buf`: `Ok(None)` = need more bytes; `Ok(Some((msg,
/// used)))` = a message and the bytes it took.
pub fn decode(buf: &[u8]) -> Result<Option<(Msg, usize)>, WireError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let magic = u16::from_be_bytes([buf[0], buf[1]]);
    if magic != MAGIC {
        return Err(WireError::BadMagic { found: magic });
    }
    let t = u16::from_be_bytes([buf[2], buf[3]]);
    let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len > MAX_PAYLOAD {
        return Err(WireError::TooLarge {
            len: u64::from(len),
        });
    }
    let total = HEADER_LEN + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let payload = &buf[HEADER_LEN..total];
    let msg = if is_known(t) {
        let mut r = Reader { b: payload, t };
        let m = parse(t, &mut r)?;
        if !r.b.is_empty() {
            return Err(WireError::Malformed {
                ty: t,
                what: "trailing bytes",
            });
        }
        m
    } else {
        Msg::Unknown { ty: t, len }
    };
    Ok(Some((msg, total)))
}

/// For a cargo-fuzz target: decodes a stream of frames until it ends or errs.
pub fn fuzz_decode(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some((_, used))) = decode(rest) {
        rest = &rest[used..];
    }
}

struct Reader<'a> {
    b: &'a [u8],
    t: u16,
}

impl<'a> Reader<'a> {
    fn err(&self, what: &'static str) -> WireError {
        WireError::Malformed { ty: self.t, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.b.len() < n {
            return Err(self.err("payload too short"));
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }
    fn rest(&mut self) -> Vec<u8> {
        let v = self.b.to_vec();
        self.b = &[];
        v
    }
    fn name(&mut self) -> Result<String, WireError> {
        let n = usize::from(self.u8()?);
        if n > MAX_ALG_NAME {
            return Err(self.err("algorithm name too long"));
        }
        let b = self.take(n)?;
        if !b.iter().all(|c| c.is_ascii_graphic()) {
            return Err(self.err("algorithm name is not printable ASCII"));
        }
        Ok(String::from_utf8_lossy(b).into_owned())
    }
    fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.err("boolean is not 0 or 1")),
        }
    }
    fn vli(&mut self) -> Result<u64, WireError> {
        let mut v = 0u64;
        for i in 0..10 {
            let byte = self.u8()?;
            let part = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err(self.err("run length overflows 64 bits"));
            }
            v |= part << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("run length overflows 64 bits"))
    }
}

fn parse(t: u16, r: &mut Reader<'_>) -> Result<Msg, WireError> {
    Ok(match t {
        ty::HELLO => Msg::Hello {
            min_version: r.u16()?,
            max_version: r.u16()?,
            features: r.u32()?,
        },
        ty::AUTH_CHALLENGE => Msg::AuthChallenge { nonce: r.rest() },
        ty::AUTH_RESPONSE => Msg::AuthResponse { mac: r.rest() },
        ty::PARAMS => {
            let protocol = match r.u8()? {
                1 => Protocol::A,
                2 => Protocol::B,
                3 => Protocol::C,
                _ => return Err(r.err("unknown replication protocol")),
            };
            let a0 = asb0_from(r.u8()?).ok_or_else(|| r.err("unknown after-sb-0pri"))?;
            let a1 = asb1_from(r.u8()?).ok_or_else(|| r.err("unknown after-sb-1pri"))?;
            let a2 = asb2_from(r.u8()?).ok_or_else(|| r.err("unknown after-sb-2pri"))?;
            let flags = r.u8()?;
            if flags & !3 != 0 {
                return Err(r.err("unknown parameter flags"));
            }
            Msg::Params(Params {
                protocol,
                after_sb_0pri: a0,
                after_sb_1pri: a1,
                after_sb_2pri: a2,
                two_primaries: flags & 1 != 0,
                discard_my_data: flags & 2 != 0,
            })
        }
        ty::UUIDS => Msg::Uuids {
            gi: GenerationIds {
                current: r.u64()?,
                bitmap: r.u64()?,
                history: [r.u64()?, r.u64()?],
            },
            bits_set: r.u64()?,
            flags: r.u32()?,
        },
        ty::SIZES => Msg::Sizes { size: r.u64()? },
        ty::SYNC_PARAMS => {
            let verify_alg = r.name()?;
            let csums_alg = r.name()?;
            let integrity_alg = r.name()?;
            let flags = r.u8()?;
            if flags & !1 != 0 {
                return Err(r.err("unknown sync parameter flags"));
            }
            Msg::SyncParams {
                verify_alg,
                csums_alg,
                integrity_alg,
                csums_after_crash_only: flags & 1 != 0,
            }
        }
        ty::DIGEST => Msg::Digest { digest: r.rest() },
        ty::CSUM_REQUEST => Msg::CsumRequest {
            sector: r.u64()?,
            size: r.u32()?,
            digest: r.rest(),
        },
        ty::COMPRESSED | ty::ZERO_DATA | ty::ZERO_RS_REPLY => {
            return Err(r.err("compressed or zero-marker link frame: decode with wire::decode_link"))
        }
        ty::STATE => Msg::State {
            role: role_from(r.u8()?).ok_or_else(|| r.err("unknown role"))?,
            disk: disk_from(r.u8()?).ok_or_else(|| r.err("unknown disk state"))?,
            sync_paused: r.bool()?,
        },
        ty::DATA => {
            let sector = r.u64()?;
            let seq = r.u64()?;
            let flags = r.u8()?;
            if flags & !DataFlags::ALL != 0 {
                return Err(r.err("unknown data flags"));
            }
            let size = r.u32()?;
            let payload = r.rest();
            let trim = flags & DataFlags::TRIM != 0;
            if (trim && !payload.is_empty()) || (!trim && payload.len() as u64 != u64::from(size)) {
                return Err(r.err("payload length differs from size"));
            }
            Msg::Data {
                sector,
                seq,
                flags: DataFlags(flags),
                size,
                payload,
            }
        }
        ty::RECV_ACK => Msg::RecvAck { seq: r.u64()? },
        ty::WRITE_ACK => Msg::WriteAck { seq: r.u64()? },
        ty::NEG_ACK => Msg::NegAck { seq: r.u64()? },
        ty::BARRIER => Msg::Barrier { nr: r.u32()? },
        ty::BARRIER_ACK => Msg::BarrierAck {
            nr: r.u32()?,
            set_size: r.u32()?,
        },
        ty::BITMAP => {
            let first_bit = r.u64()?;
            let last = r.bool()?;
            let mut runs = Vec::new();
            while !r.b.is_empty() {
                runs.push(r.vli()?);
            }
            Msg::Bitmap {
                first_bit,
                runs,
                last,
            }
        }
        ty::SYNC_UUID => Msg::SyncUuid { uuid: r.u64()? },
        ty::RS_REQUEST => Msg::ResyncRequest {
            sector: r.u64()?,
            size: r.u32()?,
        },
        ty::RS_REPLY => Msg::ResyncReply {
            sector: r.u64()?,
            payload: r.rest(),
        },
        ty::RS_IN_SYNC => Msg::ResyncInSync {
            sector: r.u64()?,
            size: r.u32()?,
        },
        ty::RS_WRITE_ACK => Msg::ResyncWriteAck {
            sector: r.u64()?,
            size: r.u32()?,
        },
        ty::RS_FINISHED => Msg::ResyncFinished,
        ty::OV_REQUEST => Msg::VerifyRequest {
            sector: r.u64()?,
            size: r.u32()?,
        },
        ty::OV_REPLY => Msg::VerifyReply {
            sector: r.u64()?,
            size: r.u32()?,
            digest: r.rest(),
        },
        ty::OV_RESULT => Msg::VerifyResult {
            sector: r.u64()?,
            size: r.u32()?,
            in_sync: r.bool()?,
        },
        ty::OV_FINISHED => Msg::VerifyFinished,
        ty::OUT_OF_SYNC => Msg::OutOfSync {
            sector: r.u64()?,
            size: r.u32()?,
        },
        ty::PING => Msg::Ping,
        ty::PING_ACK => Msg::PingAck,
        ty::DISCONNECT => Msg::Disconnect,
        ty::AHEAD => Msg::Ahead,
        ty::BECOME_SYNC_TARGET => Msg::BecomeSyncTarget {
            gi: GenerationIds {
                current: r.u64()?,
                bitmap: r.u64()?,
                history: [r.u64()?, r.u64()?],
            },
        },
        _ => return Err(r.err("type number reserved")),
    })
}

/// Appends the frame of `msg` to `out`.
pub fn encode(msg: &Msg, out: &mut Vec<u8>) -> Result<(), WireError> {
    let start = out.len();
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&[0; 6]);
    let t = write_payload(msg, out);
    let len = out.len() - start - HEADER_LEN;
    let len = match msg {
        Msg::Unknown { len, .. } => {
            out.resize(start + HEADER_LEN + *len as usize, 0);
            *len as usize
        }
        _ => len,
    };
    if len > MAX_PAYLOAD as usize {
        out.truncate(start);
        return Err(WireError::TooLarge { len: len as u64 });
    }
    out[start + 2..start + 4].copy_from_slice(&t.to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

fn write_payload(msg: &Msg, o: &mut Vec<u8>) -> u16 {
    let u64b = |o: &mut Vec<u8>, v: u64| o.extend_from_slice(&v.to_be_bytes());
    let u32b = |o: &mut Vec<u8>, v: u32| o.extend_from_slice(&v.to_be_bytes());
    match msg {
        Msg::Hello {
            min_version,
            max_version,
            features,
        } => {
            o.extend_from_slice(&min_version.to_be_bytes());
            o.extend_from_slice(&max_version.to_be_bytes());
            u32b(o, *features);
            ty::HELLO
        }
        Msg::AuthChallenge { nonce } => {
            o.extend_from_slice(nonce);
            ty::AUTH_CHALLENGE
        }
        Msg::AuthResponse { mac } => {
            o.extend_from_slice(mac);
            ty::AUTH_RESPONSE
        }
        Msg::Params(p) => {
            o.push(match p.protocol {
                Protocol::A => 1,
                Protocol::B => 2,
                Protocol::C => 3,
            });
            o.push(asb0_to(p.after_sb_0pri));
            o.push(asb1_to(p.after_sb_1pri));
            o.push(asb2_to(p.after_sb_2pri));
            o.push(u8::from(p.two_primaries) | (u8::from(p.discard_my_data) << 1));
            ty::PARAMS
        }
        Msg::Uuids {
            gi,
            bits_set,
            flags,
        } => {
            for v in [
                gi.current,
                gi.bitmap,
                gi.history[0],
                gi.history[1],
                *bits_set,
            ] {
                u64b(o, v);
            }
            u32b(o, *flags);
            ty::UUIDS
        }
        Msg::Sizes { size } => {
            u64b(o, *size);
            ty::SIZES
        }
        Msg::SyncParams {
            verify_alg,
            csums_alg,
            integrity_alg,
            csums_after_crash_only,
        } => {
            for n in [verify_alg, csums_alg, integrity_alg] {
                // Longer or non-ASCII names cannot come from a valid configuration; they are
                // cut so the frame stays decodable (the peer then sees a mismatch).
                let b: Vec<u8> = n
                    .bytes()
                    .filter(u8::is_ascii_graphic)
                    .take(MAX_ALG_NAME)
                    .collect();
                o.push(b.len() as u8);
                o.extend_from_slice(&b);
            }
            o.push(u8::from(*csums_after_crash_only));
            ty::SYNC_PARAMS
        }
        Msg::Digest { digest } => {
            o.extend_from_slice(digest);
            ty::DIGEST
        }
        Msg::CsumRequest {
            sector,
            size,
            digest,
        } => {
            u64b(o, *sector);
            u32b(o, *size);
            o.extend_from_slice(digest);
            ty::CSUM_REQUEST
        }
        Msg::State {
            role,
            disk,
            sync_paused,
        } => {
            o.push(role_to(*role));
            o.push(disk_to(*disk));
            o.push(u8::from(*sync_paused));
            ty::STATE
        }
        Msg::Data {
            sector,
            seq,
            flags,
            size,
            payload,
        } => {
            u64b(o, *sector);
            u64b(o, *seq);
            o.push(flags.0);
            u32b(o, *size);
            o.extend_from_slice(payload);
            ty::DATA
        }
        Msg::RecvAck { seq } => {
            u64b(o, *seq);
            ty::RECV_ACK
        }
        Msg::WriteAck { seq } => {
            u64b(o, *seq);
            ty::WRITE_ACK
        }
        Msg::NegAck { seq } => {
            u64b(o, *seq);
            ty::NEG_ACK
        }
        Msg::Barrier { nr } => {
            u32b(o, *nr);
            ty::BARRIER
        }
        Msg::BarrierAck { nr, set_size } => {
            u32b(o, *nr);
            u32b(o, *set_size);
            ty::BARRIER_ACK
        }
        Msg::Bitmap {
            first_bit,
            runs,
            last,
        } => {
            u64b(o, *first_bit);
            o.push(u8::from(*last));
            for &r in runs {
                let mut v = r;
                loop {
                    let byte = (v & 0x7f) as u8;
                    v >>= 7;
                    if v == 0 {
                        o.push(byte);
                        break;
                    }
                    o.push(byte | 0x80);
                }
            }
            ty::BITMAP
        }
        Msg::SyncUuid { uuid } => {
            u64b(o, *uuid);
            ty::SYNC_UUID
        }
        Msg::ResyncRequest { sector, size } => {
            u64b(o, *sector);
            u32b(o, *size);
            ty::RS_REQUEST
        }
        Msg::ResyncReply { sector, payload } => {
            u64b(o, *sector);
            o.extend_from_slice(payload);
            ty::RS_REPLY
        }
        Msg::ResyncInSync { sector, size } => {
            u64b(o, *sector);
            u32b(o, *size);
            ty::RS_IN_SYNC
        }
        Msg::ResyncWriteAck { sector, size } => {
            u64b(o, *sector);
            u32b(o, *size);
            ty::RS_WRITE_ACK
        }
        Msg::ResyncFinished => ty::RS_FINISHED,
        Msg::VerifyRequest { sector, size } => {
            u64b(o, *sector);
            u32b(o, *size);
            ty::OV_REQUEST
        }
        Msg::VerifyReply {
            sector,
            size,
            digest,
        } => {
            u64b(o, *sector);
            u32b(o, *size);
            o.extend_from_slice(digest);
            ty::OV_REPLY
        }
        Msg::VerifyResult {
            sector,
            size,
            in_sync,
        } => {
            u64b(o, *sector);
            u32b(o, *size);
            o.push(u8::from(*in_sync));
            ty::OV_RESULT
        }
        Msg::VerifyFinished => ty::OV_FINISHED,
        Msg::OutOfSync { sector, size } => {
            u64b(o, *sector);
            u32b(o, *size);
            ty::OUT_OF_SYNC
        }
        Msg::Ping => ty::PING,
        Msg::PingAck => ty::PING_ACK,
        Msg::Disconnect => ty::DISCONNECT,
        Msg::Ahead => ty::AHEAD,
        Msg::BecomeSyncTarget { gi } => {
            for v in [gi.current, gi.bitmap, gi.history[0], gi.history[1]] {
                u64b(o, v);
            }
            ty::BECOME_SYNC_TARGET
        }
        Msg::Unknown { ty, .. } => *ty,
    }
}

const ASB0: [AfterSb0Pri; 7] = [
    AfterSb0Pri::Disconnect,
    AfterSb0Pri::DiscardYoungerPrimary,
    AfterSb0Pri::DiscardOlderPrimary,
    AfterSb0Pri::DiscardZeroChanges,
    AfterSb0Pri::DiscardLeastChanges,
    AfterSb0Pri::DiscardLocal,
    AfterSb0Pri::DiscardRemote,
];
const ASB1: [AfterSb1Pri; 5] = [
    AfterSb1Pri::Disconnect,
    AfterSb1Pri::Consensus,
    AfterSb1Pri::DiscardSecondary,
    AfterSb1Pri::CallPriLostAfterSb,
    AfterSb1Pri::ViolentlyAs0p,
];
const ASB2: [AfterSb2Pri; 3] = [
    AfterSb2Pri::Disconnect,
    AfterSb2Pri::ViolentlyAs0p,
    AfterSb2Pri::CallPriLostAfterSb,
];
const ROLES: [Role; 3] = [Role::Unknown, Role::Primary, Role::Secondary];
const DISKS: [DiskState; 9] = [
    DiskState::Diskless,
    DiskState::Attaching,
    DiskState::Failed,
    DiskState::Negotiating,
    DiskState::Inconsistent,
    DiskState::Outdated,
    DiskState::DUnknown,
    DiskState::Consistent,
    DiskState::UpToDate,
];

fn index_of<T: PartialEq>(table: &[T], v: T) -> u8 {
    table.iter().position(|x| *x == v).unwrap_or(0) as u8
}
fn asb0_from(b: u8) -> Option<AfterSb0Pri> {
    ASB0.get(usize::from(b)).copied()
}
fn asb0_to(v: AfterSb0Pri) -> u8 {
    index_of(&ASB0, v)
}
fn asb1_from(b: u8) -> Option<AfterSb1Pri> {
    ASB1.get(usize::from(b)).copied()
}
fn asb1_to(v: AfterSb1Pri) -> u8 {
    index_of(&ASB1, v)
}
fn asb2_from(b: u8) -> Option<AfterSb2Pri> {
    ASB2.get(usize::from(b)).copied()
}
fn asb2_to(v: AfterSb2Pri) -> u8 {
    index_of(&ASB2, v)
}
fn role_from(b: u8) -> Option<Role> {
    ROLES.get(usize::from(b)).copied()
}
fn role_to(v: Role) -> u8 {
    index_of(&ROLES, v)
}
fn disk_from(b: u8) -> Option<DiskState> {
    DISKS.get(usize::from(b)).copied()
}
fn disk_to(v: DiskState) -> u8 {
    index_of(&DISKS, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_frames_need_more_bytes() {
        let mut buf = Vec::new();
        encode(&Msg::Barrier { nr: 7 }, &mut buf).unwrap();
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(decode(&buf), Ok(Some((Msg::Barrier { nr: 7 }, buf.len()))));
    }

    #[test]
    fn unknown_types_are_values_and_bad_frames_are_errors() {
        let frame = [0x53, 0x48, 0x7f, 0x00, 0, 0, 0, 2, 0xaa, 0xbb];
        assert_eq!(
            decode(&frame),
            Ok(Some((Msg::Unknown { ty: 0x7f00, len: 2 }, 10)))
        );
        assert!(matches!(
            decode(&[0, 0, 0, 1, 0, 0, 0, 0]),
            Err(WireError::BadMagic { .. })
        ));
        assert!(matches!(
            decode(&[0x53, 0x48, 0, 1, 0xff, 0xff, 0xff, 0xff]),
            Err(WireError::TooLarge { .. })
        ));
        // A barrier with a short payload.
        assert!(matches!(
            decode(&[0x53, 0x48, 0, 0x14, 0, 0, 0, 2, 0, 1]),
            Err(WireError::Malformed { ty: 0x14, .. })
        ));
    }
}
