//! Client requests from NBD connections: one NBD request becomes one or more core requests
//! (the core takes at most [`MAX_REQUEST`] bytes at once), and the reply goes back to the
//! connection when the last part is answered, in whatever order replication finishes them.

use std::sync::mpsc::Sender;

use shimai_nbd::{Command, Completion, NbdErrno};
use shimai_replication::{Event, ReqId};

use super::Engine;
use crate::nbd::ConnMsg;

/// The largest request the core takes (its `MAX_REQUEST`); the export advertises it as
/// the maximum block size, and larger trims and zeroes are split.
pub const MAX_REQUEST: u64 = 1 << 20;

/// The pieces `(start within the request, length)` a request of `len` bytes is cut into.
fn pieces(len: u64) -> impl Iterator<Item = (u64, u64)> {
    let parts = len.div_ceil(MAX_REQUEST).max(1);
    (0..parts).map(move |i| {
        let at = i * MAX_REQUEST;
        (at, (len - at.min(len)).min(MAX_REQUEST))
    })
}

/// An NBD request split into core requests.
pub(super) struct Group {
    reply: Sender<ConnMsg>,
    cookie: u64,
    left: u64,
    data: Vec<Option<Vec<u8>>>,
    error: Option<i32>,
}

impl Group {
    fn new(reply: Sender<ConnMsg>, cookie: u64, parts: u64) -> Group {
        Group {
            reply,
            cookie,
            left: parts,
            data: vec![None; parts as usize],
            error: None,
        }
    }

    /// Part `index` finished. Once all have, the completion: the first error, or the read
    /// data in request order, or plain success.
    fn part(&mut self, index: usize, result: Result<Option<Vec<u8>>, i32>) -> Option<Completion> {
        match result {
            Ok(Some(d)) => {
                if let Some(slot) = self.data.get_mut(index) {
                    *slot = Some(d);
                }
            }
            Ok(None) => {}
            Err(errno) => self.error = self.error.or(Some(errno)),
        }
        self.left = self.left.saturating_sub(1);
        if self.left > 0 {
            return None;
        }
        Some(match self.error {
            Some(errno) => Completion::error(
                self.cookie,
                NbdErrno::from_io(&std::io::Error::from_raw_os_error(errno)),
            ),
            None if self.data.iter().any(Option::is_some) => Completion::data(
                self.cookie,
                std::mem::take(&mut self.data)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .collect(),
            ),
            None => Completion::ok(self.cookie),
        })
    }
}

impl Engine {
    /// One NBD request becomes one or more core requests (the core takes at most
    /// [`MAX_REQUEST`] bytes each; trims and zeroes from a file system are often larger).
    pub(super) fn nbd_request(&mut self, cookie: u64, command: Command, reply: Sender<ConnMsg>) {
        enum Kind {
            Read,
            Write(Vec<u8>, bool),
            Zero(bool),
            Trim,
        }
        let (kind, offset, len) = match command {
            Command::Read { offset, length } => (Kind::Read, offset, u64::from(length)),
            Command::Write { offset, data, fua } => {
                let len = data.len() as u64;
                (Kind::Write(data, fua), offset, len)
            }
            Command::WriteZeroes {
                offset,
                length,
                fua,
                ..
            } => (Kind::Zero(fua), offset, u64::from(length)),
            Command::Trim { offset, length, .. } => (Kind::Trim, offset, u64::from(length)),
            Command::Flush => {
                let id = self.new_group(reply, cookie, 1);
                return self.client(id, Event::Flush { id });
            }
            Command::Cache { .. } => {
                let _ = reply.send(ConnMsg::Done(Completion::ok(cookie)));
                return;
            }
        };
        let first = self.new_group(reply, cookie, pieces(len).count() as u64);
        for (id, (at, n)) in (first..).zip(pieces(len)) {
            let off = offset + at;
            let ev = match &kind {
                Kind::Read => Event::Read {
                    id,
                    offset: off,
                    len: n,
                },
                Kind::Write(data, fua) => Event::Write {
                    id,
                    offset: off,
                    data: data[at as usize..(at + n) as usize].to_vec(),
                    fua: *fua,
                },
                Kind::Zero(fua) => Event::Write {
                    id,
                    offset: off,
                    data: vec![0; n as usize],
                    fua: *fua,
                },
                Kind::Trim => Event::Trim {
                    id,
                    offset: off,
                    len: n,
                },
            };
            self.client(id, ev);
        }
    }

    /// Reserves `parts` consecutive request ids for one NBD request; returns the first.
    fn new_group(&mut self, reply: Sender<ConnMsg>, cookie: u64, parts: u64) -> ReqId {
        let first = self.next_req;
        self.next_req += parts;
        self.groups.insert(first, Group::new(reply, cookie, parts));
        for i in 0..parts {
            self.reqs.insert(first + i, first);
        }
        first
    }

    fn client(&mut self, id: ReqId, ev: Event) {
        if let Err(e) = self.core.handle(ev) {
            self.part_done(id, Err(e.errno()));
        }
    }

    /// One part of an NBD request finished; the reply goes out with the last part.
    pub(super) fn part_done(&mut self, id: ReqId, result: Result<Option<Vec<u8>>, i32>) {
        let Some(first) = self.reqs.remove(&id) else {
            return;
        };
        let Some(g) = self.groups.get_mut(&first) else {
            return;
        };
        if let Some(c) = g.part((id - first) as usize, result) {
            if let Some(g) = self.groups.remove(&first) {
                let _ = g.reply.send(ConnMsg::Done(c));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_requests_are_cut_at_the_cores_limit() {
        let p: Vec<_> = pieces(MAX_REQUEST * 2 + 4096).collect();
        assert_eq!(
            p,
            vec![
                (0, MAX_REQUEST),
                (MAX_REQUEST, MAX_REQUEST),
                (2 * MAX_REQUEST, 4096)
            ]
        );
        assert_eq!(pieces(512).collect::<Vec<_>>(), vec![(0, 512)]);
        assert_eq!(pieces(MAX_REQUEST).count(), 1);
    }

    #[test]
    fn split_reads_come_back_in_request_order_whatever_order_parts_finish() {
        let (tx, _rx) = std::sync::mpsc::channel();
        let mut g = Group::new(tx, 9, 3);
        assert_eq!(g.part(2, Ok(Some(vec![3]))), None);
        assert_eq!(g.part(0, Ok(Some(vec![1]))), None);
        assert_eq!(
            g.part(1, Ok(Some(vec![2]))),
            Some(Completion::data(9, vec![1, 2, 3]))
        );
    }

    #[test]
    fn one_failed_part_fails_the_request() {
        let (tx, _rx) = std::sync::mpsc::channel();
        let mut g = Group::new(tx, 4, 2);
        assert_eq!(g.part(0, Err(30)), None); // EROFS: not Primary
        assert_eq!(
            g.part(1, Ok(None)),
            Some(Completion::error(4, NbdErrno::Perm))
        );
    }
}
