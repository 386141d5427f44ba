//! Disk completions: each `DiskDone` is routed to what the operation was for.

use super::io::{Io, ReqKind};
use super::Core;
use crate::action::Level;
use crate::error::Error;
use crate::event::{DiskResult, IoId};

impl Core {
    pub(super) fn disk_done(&mut self, io: IoId, result: DiskResult) {
        let Some(what) = self.ios.remove(&io) else {
            return self.log(
                Level::Warn,
                format!("completion for unknown disk operation {io}"),
            );
        };
        let err = match &result {
            DiskResult::Failed(e) => Some(*e),
            _ => None,
        };
        self.flush_completed(io, err.is_none());
        match what {
            Io::App(id) => {
                let range = self.reqs.get(&id).and_then(|r| match r.kind {
                    ReqKind::Write { offset, len, .. } | ReqKind::Trim { offset, len } => {
                        Some((offset, len))
                    }
                    _ => None,
                });
                if let Some((o, l)) = range {
                    self.local_write_finished(o, l);
                    if err.is_some() {
                        // The peer may have it, we do not: resync must fix our copy.
                        self.bitmap.set_range(o, l);
                    }
                }
                if let Some(r) = self.reqs.get_mut(&id) {
                    r.local_pending = false;
                    r.local_err = err;
                }
                self.try_complete(id);
                self.sync_pump();
            }
            Io::AppRead(id) => match result {
                DiskResult::Data(d) => self.reply(id, Ok(Some(d))),
                DiskResult::Failed(e) => self.reply(id, Err(Error::DiskIo(e))),
                DiskResult::Done => self.reply(id, Ok(Some(Vec::new()))),
            },
            Io::AlTx => self.al_tx_done(io, err),
            Io::PeerWrite {
                gen,
                seq,
                serial,
                offset,
                len,
            } => self.peer_write_done(gen, seq, serial, offset, len, err),
            Io::BarrierFlush { gen, serial } => self.barrier_flushed(gen, serial),
            Io::RsRead {
                gen,
                sector,
                size,
                dirty,
            } => self.rs_read_done(gen, sector, size, dirty, result),
            Io::RsWrite { gen, sector, size } => self.rs_write_done(gen, sector, size, err),
            Io::RsEndFlush { gen } => self.rs_end_flush_done(gen),
            Io::CsumRead { gen, sector, size } => self.csum_read_done(gen, sector, size, result),
            Io::PlainFlush => {}
            Io::VerifyRead {
                gen,
                sector,
                size,
                peer_digest,
            } => self.verify_read_done(gen, sector, size, peer_digest, result),
        }
    }
}
