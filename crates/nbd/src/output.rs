//! The bytes a connection owes its client, as a queue of segments.
//!
//! Reply headers and handshake messages are small and are appended to a
//! shared segment; read data of some size is queued as its own segment,
//! the very buffer the backend filled, and sent with vectored writes. A
//! read's payload is thus never copied between the disk and the socket.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Read data below this size is copied into the shared segment: one more
/// copy of a few KiB is cheaper than one more I/O vector.
const OWN_SEGMENT: usize = 16 * 1024;

/// At most this many segments go into one `writev`.
const MAX_IOVECS: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Output {
    segments: VecDeque<Vec<u8>>,
    /// Bytes of the front segment already sent.
    sent: usize,
    /// Total bytes not yet sent.
    len: usize,
    /// The back segment holds read data: small appends need a new one.
    back_is_data: bool,
}

impl Output {
    /// Appends small bytes through `f`.
    pub(crate) fn append(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        if self.back_is_data || self.segments.is_empty() {
            self.segments.push_back(Vec::new());
            self.back_is_data = false;
        }
        if let Some(back) = self.segments.back_mut() {
            let before = back.len();
            f(back);
            self.len += back.len() - before;
        }
    }

    /// Queues read data, without copying it when it is large.
    pub(crate) fn push_data(&mut self, data: Vec<u8>) {
        if data.len() < OWN_SEGMENT {
            self.append(|out| out.extend_from_slice(&data));
        } else if !data.is_empty() {
            self.len += data.len();
            self.segments.push_back(data);
            self.back_is_data = true;
        }
    }

    /// The next contiguous bytes to send (possibly not all of them).
    pub(crate) fn front(&self) -> &[u8] {
        self.segments
            .front()
            .and_then(|s| s.get(self.sent..))
            .unwrap_or(&[])
    }

    /// Marks `n` bytes as sent.
    pub(crate) fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.segments.front() else {
                break;
            };
            let rest = front.len() - self.sent;
            if n < rest {
                self.sent += n;
                self.len -= n;
                return;
            }
            n -= rest;
            self.len -= rest;
            self.sent = 0;
            self.segments.pop_front();
        }
        if self.segments.is_empty() {
            self.back_is_data = false;
        }
    }

    /// Bytes not yet sent.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Sends everything with vectored writes.
    pub(crate) fn write_to<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        while self.len > 0 {
            let mut slices = Vec::with_capacity(MAX_IOVECS.min(self.segments.len()));
            for (i, s) in self.segments.iter().take(MAX_IOVECS).enumerate() {
                let skip = if i == 0 { self.sent } else { 0 };
                slices.push(IoSlice::new(s.get(skip..).unwrap_or(&[])));
            }
            match w.write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.consume(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Everything not yet sent, as one buffer, and the queue emptied.
    pub(crate) fn take_all(&mut self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.len);
        for (i, s) in self.segments.iter().enumerate() {
            let skip = if i == 0 { self.sent } else { 0 };
            all.extend_from_slice(s.get(skip..).unwrap_or(&[]));
        }
        self.consume(self.len);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_keep_order_and_count_bytes() {
        let mut o = Output::default();
        o.append(|b| b.extend_from_slice(b"ab"));
        o.push_data(vec![1; OWN_SEGMENT]);
        o.append(|b| b.extend_from_slice(b"cd"));
        o.push_data(vec![2; 3]);
        assert_eq!(o.len(), OWN_SEGMENT + 7);
        assert_eq!(o.front(), b"ab");
        o.consume(1);
        assert_eq!(o.front(), b"b");
        o.consume(2);
        assert_eq!(o.front().len(), OWN_SEGMENT - 1);
        let rest = o.take_all();
        assert_eq!(rest.len(), OWN_SEGMENT + 4);
        assert_eq!(&rest[OWN_SEGMENT - 1..], &[b'c', b'd', 2, 2, 2]);
        assert_eq!(o.len(), 0);
        assert!(o.front().is_empty());
    }

    /// A writer that accepts at most 5 bytes per call, to exercise
    /// partial vectored writes.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(5);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_send_everything_once() {
        let mut o = Output::default();
        let big: Vec<u8> = (0..OWN_SEGMENT as u32 * 2).map(|i| i as u8).collect();
        o.append(|b| b.extend_from_slice(b"header"));
        o.push_data(big.clone());
        o.append(|b| b.extend_from_slice(b"tail"));
        let mut w = Trickle(Vec::new());
        o.write_to(&mut w).unwrap();
        let mut expected = b"header".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"tail");
        assert!(w.0 == expected);
        assert_eq!(o.len(), 0);
    }
}
