use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use super::*;
use crate::handshake::{ClientFlags, ClientOption, InfoRequest, OptionReply, ReplyBody};
use crate::transmission::{CommandKind, RequestHeader, SimpleReply};

/// Memory-backed storage whose writes fail with a chosen errno past `fail_from`.
struct MemBackend {
    data: Mutex<Vec<u8>>,
    fail_from: u64,
    flushes: Mutex<u32>,
}

impl MemBackend {
    fn new(size: usize, fail_from: u64) -> MemBackend {
        MemBackend {
            data: Mutex::new(vec![0; size]),
            fail_from,
            flushes: Mutex::new(0),
        }
    }
}

impl Backend for MemBackend {
    fn size(&self) -> u64 {
        self.data.lock().unwrap().len() as u64
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let d = self.data.lock().unwrap();
        buf.copy_from_slice(&d[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8], _fua: bool) -> io::Result<()> {
        if offset >= self.fail_from {
            return Err(io::Error::from_raw_os_error(122)); // EDQUOT
        }
        let mut d = self.data.lock().unwrap();
        d[offset as usize..offset as usize + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn flush(&self) -> io::Result<()> {
        *self.flushes.lock().unwrap() += 1;
        Ok(())
    }
    fn trim(&self, _offset: u64, _length: u32, _fua: bool) -> io::Result<()> {
        Ok(())
    }
    fn write_zeroes(&self, offset: u64, length: u32, _no_hole: bool, _fua: bool) -> io::Result<()> {
        let mut d = self.data.lock().unwrap();
        d[offset as usize..offset as usize + length as usize].fill(0);
        Ok(())
    }
}

fn read_exact(s: &mut UnixStream, n: usize) -> Vec<u8> {
    let mut b = vec![0; n];
    s.read_exact(&mut b).unwrap();
    b
}

fn read_option_replies(s: &mut UnixStream) -> Vec<ReplyBody> {
    let mut bodies = Vec::new();
    loop {
        let mut b = read_exact(s, 20);
        let len = u32::from_be_bytes([b[16], b[17], b[18], b[19]]) as usize;
        b.extend(read_exact(s, len));
        let (r, _) = OptionReply::decode(&b).unwrap().unwrap();
        let last = !matches!(r.body, ReplyBody::Info(_) | ReplyBody::Server { .. });
        bodies.push(r.body);
        if last {
            return bodies;
        }
    }
}

fn send_request(s: &mut UnixStream, kind: CommandKind, cookie: u64, offset: u64, length: u32) {
    let mut b = Vec::new();
    RequestHeader {
        flags: 0,
        kind,
        cookie,
        offset,
        length,
    }
    .encode(&mut b);
    s.write_all(&b).unwrap();
}

fn read_reply(s: &mut UnixStream) -> SimpleReply {
    SimpleReply::decode(&read_exact(s, 16)).unwrap().unwrap().0
}

#[test]
fn a_whole_session_over_a_socket() {
    let (mut client, server) = UnixStream::pair().unwrap();
    let exports = [Export::new("mem", MemBackend::new(1 << 16, 1 << 15))];
    std::thread::scope(|scope| {
        let srv = scope.spawn(|| serve_connection(server, &exports));

        assert_eq!(&read_exact(&mut client, 18)[..16], b"NBDMAGICIHAVEOPT");
        let mut b = Vec::new();
        ClientFlags(3).encode(&mut b);
        ClientOption::Go(InfoRequest {
            name: "mem".into(),
            requests: vec![],
        })
        .encode(&mut b);
        client.write_all(&b).unwrap();
        let bodies = read_option_replies(&mut client);
        assert_eq!(bodies.last(), Some(&ReplyBody::Ack));

        // Pipeline: write, read it back, a write the backend refuses, flush.
        send_request(&mut client, CommandKind::Write, 1, 100, 4);
        client.write_all(b"ABCD").unwrap();
        send_request(&mut client, CommandKind::Read, 2, 99, 6);
        send_request(&mut client, CommandKind::Write, 3, 1 << 15, 1);
        client.write_all(b"x").unwrap();
        send_request(&mut client, CommandKind::Flush, 4, 0, 0);

        assert_eq!((read_reply(&mut client).cookie), 1);
        let r = read_reply(&mut client);
        assert_eq!((r.cookie, r.error), (2, None));
        assert_eq!(read_exact(&mut client, 6), b"\0ABCD\0");
        let r = read_reply(&mut client);
        assert_eq!(
            (r.cookie, r.error),
            (3, Some(NbdErrno::NoSpc)),
            "EDQUOT maps to ENOSPC"
        );
        assert_eq!(read_reply(&mut client).cookie, 4);

        send_request(&mut client, CommandKind::Disc, 5, 0, 0);
        let end = srv.join().unwrap().unwrap();
        assert_eq!(
            end,
            SessionEnd {
                export: Some("mem".into()),
                requests: 4,
                clean: true
            }
        );
        // The server closed its end: the client sees EOF.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    });
    assert_eq!(*exports[0].backend.flushes.lock().unwrap(), 1);
}

#[test]
fn a_client_that_vanishes_mid_request_is_reported() {
    let (mut client, server) = UnixStream::pair().unwrap();
    let exports = [Export::new("mem", MemBackend::new(4096, 4096))];
    std::thread::scope(|scope| {
        let srv = scope.spawn(|| serve_connection(server, &exports));
        read_exact(&mut client, 18);
        let mut b = Vec::new();
        ClientFlags(1).encode(&mut b);
        ClientOption::ExportName { name: "mem".into() }.encode(&mut b);
        client.write_all(&b).unwrap();
        read_exact(&mut client, 134);
        send_request(&mut client, CommandKind::Write, 1, 0, 512);
        client.write_all(&[1; 100]).unwrap();
        drop(client);
        let err = srv.join().unwrap().unwrap_err();
        assert!(
            matches!(err, NbdError::UnexpectedEof { buffered: 128 }),
            "{err}"
        );
    });
}

#[test]
fn a_client_speaking_something_else_is_dropped() {
    let (mut client, server) = UnixStream::pair().unwrap();
    let exports = [Export::new("mem", MemBackend::new(4096, 4096))];
    std::thread::scope(|scope| {
        let srv = scope.spawn(|| serve_connection(server, &exports));
        read_exact(&mut client, 18);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let err = srv.join().unwrap().unwrap_err();
        assert!(err.is_peer_fault(), "{err}");
    });
}
