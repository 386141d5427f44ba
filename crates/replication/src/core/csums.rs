//! Checksum-based resync (`csums-alg`, `reference/drbd.md` §1.9): the SyncTarget reads its own
//! copy of a block and sends its digest (`CsumRequest`) instead of a plain request; the
//! SyncSource reads its copy, answers `ResyncInSync` when the digests are equal and the block
//! otherwise, so only differing blocks cross the link. With `csums-after-crash-only` the
//! digests are used only for the resync after a Primary crash (either node's flag).

use super::io::Io;
use super::Core;
use crate::action::Action;
use crate::bitmap::BM_BLOCK_SIZE;
use crate::digest::DigestAlg;
use crate::event::DiskResult;
use crate::meta::MdFlags;
use crate::wire::{self, Msg};

impl Core {
    /// The digest this resync uses, decided when it starts (target side).
    pub(super) fn csums_for_this_resync(&self) -> Option<DigestAlg> {
        let c = self.conn.as_ref()?;
        let alg = c.csums?;
        let crashed = self.flags.has(MdFlags::CRASHED_PRIMARY)
            || c.peer_uuid_flags & wire::UUID_FLAG_CRASHED_PRIMARY != 0;
        (!self.cfg.csums_after_crash_only || crashed).then_some(alg)
    }

    /// Target: asks the source for one block, with our digest when `csums-alg` is on.
    pub(super) fn request_block(&mut self, sector: u64, size: u32) {
        if self.sync.csums.is_none() || self.disk <= crate::DiskState::Failed {
            return self.send(Msg::ResyncRequest { sector, size });
        }
        let io = self.alloc_io();
        self.ios.insert(
            io,
            Io::CsumRead {
                gen: self.conn_gen,
                sector,
                size,
            },
        );
        self.counters.dr += u64::from(size) / 1024;
        self.emit(Action::Read {
            io,
            offset: sector * 512,
            len: u64::from(size),
        });
    }

    pub(super) fn csum_read_done(&mut self, gen: u64, sector: u64, size: u32, r: DiskResult) {
        if gen != self.conn_gen {
            return;
        }
        match (r, self.sync.csums) {
            (DiskResult::Data(d), Some(alg)) if d.len() == size as usize => {
                let digest = alg.digest(&d);
                self.send(Msg::CsumRequest {
                    sector,
                    size,
                    digest,
                });
            }
            // Our copy is unreadable: it needs the source's data anyway.
            _ => self.send(Msg::ResyncRequest { sector, size }),
        }
    }

    /// Source: a `CsumRequest` is a resync request that carries the target's digest.
    pub(super) fn on_csum_request(&mut self, sector: u64, size: u32, digest: Vec<u8>) {
        let alg = self.conn.as_ref().and_then(|c| c.csums);
        match alg {
            Some(a) if digest.len() == a.digest_len() => {
                self.sync.csum_digests.insert(sector, digest);
                self.on_rs_request(sector, size);
            }
            Some(_) => self.protocol_error("checksum of the wrong length"),
            None => self.protocol_error("checksum request without csums-alg"),
        }
    }

    /// Source, after reading a requested block: when the target sent a digest equal to ours,
    /// answers "in sync" (and clears our bit) and returns true.
    pub(super) fn csum_equal(&mut self, sector: u64, size: u32, data: &[u8]) -> bool {
        let Some(theirs) = self.sync.csum_digests.remove(&sector) else {
            return false;
        };
        let Some(alg) = self.conn.as_ref().and_then(|c| c.csums) else {
            return false;
        };
        if alg.digest(data) != theirs {
            return false;
        }
        self.sync.csums_equal += u64::from(size) / BM_BLOCK_SIZE;
        self.bitmap.clear_range(sector * 512, u64::from(size));
        self.send(Msg::ResyncInSync { sector, size });
        true
    }
}
