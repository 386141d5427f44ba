//! The TCP link to the peer: connecting and accepting, one reader and one writer thread per
//! connection, and the byte framing of the core's messages.
//!
//! Both nodes listen on their configured address. Which connection survives when both dial
//! at once is decided by the addresses alone: the node with the lower address dials, the
//! other accepts (and breaks ties in the core, `resolve_conflicts`). There is therefore never
//! a crossed pair of connections to untangle. The dialer binds its own configured address as
//! the source, so the acceptor can refuse connections from anyone but the configured peer.
//!
//! Keep-alive messages (`Ping`, `PingAck`) carry no ordering meaning, so the writer sends
//! them ahead of queued bulk data (DRBD gives them a socket of their own for the same
//! reason): a link busy with a resync does not miss `ping-timeout`. Everything else keeps
//! the core's order.
//!
//! Every connection has a generation number; what a reader reports about an older connection
//! is dropped by the engine, so a message from a dead connection never reaches the core.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrStorage};
use shimai_replication::wire;

use crate::inbox::Inbox;

/// What the link reports to the engine.
pub enum Report {
    /// A connection is up (handed over with its writer's queue).
    Up { link: Link, resolve_conflicts: bool },
    /// A decoded message on connection `gen`.
    Msg { gen: u64, msg: wire::Msg },
    /// Connection `gen` broke.
    Lost { gen: u64, why: String },
    /// The writer of connection `gen` made progress while client writes were held back.
    Drained { gen: u64 },
}

/// What the engine holds of the current connection.
pub struct Link {
    pub gen: u64,
    pub out: Sender<Out>,
    pub stream: TcpStream,
    /// Bytes handed to the writer and not yet written to the socket: the user-space send
    /// queue, which the engine keeps under its bound.
    pub queued: Arc<AtomicU64>,
    /// The engine holds client writes back until the writer reports progress.
    pub congested: Arc<AtomicBool>,
}

/// Encoded messages for the writer.
pub enum Out {
    /// Keep-alive: may overtake queued data.
    Urgent(Vec<u8>),
    Data(Vec<u8>),
}

impl Link {
    /// Hands encoded bytes to the writer, counting them in the send queue.
    pub fn send(&self, out: Out) {
        let n = match &out {
            Out::Urgent(b) | Out::Data(b) => b.len() as u64,
        };
        self.queued.fetch_add(n, Ordering::AcqRel);
        let _ = self.out.send(out);
    }

    /// Bytes waiting in user space for the socket.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Acquire)
    }

    /// Closes the socket; reader and writer threads end on their own.
    pub fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

#[derive(Debug, Default)]
struct State {
    /// The core wants a connection (TransportCmd::Connect/Reconnect).
    want: bool,
    /// The generation of the connection handed to the engine, until it is lost.
    current: Option<u64>,
    next_gen: u64,
}

/// How the link is made: `connect-int` between attempts, `sndbuf-size` (0 = the kernel's).
struct LinkOpts {
    connect_int: Duration,
    sndbuf: usize,
}

/// Handle of the connecting/accepting thread.
#[derive(Clone)]
pub struct Transport {
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Transport {
    /// Starts listening on `me` and the thread that (re)establishes the link to `peer`.
    pub fn start(
        resource: String,
        me: SocketAddr,
        peer: SocketAddr,
        connect_int: Duration,
        sndbuf: usize,
        engine: Inbox<Report>,
    ) -> std::io::Result<Transport> {
        let listener = TcpListener::bind(me)?;
        listener.set_nonblocking(true)?;
        let t = Transport {
            state: Arc::new((Mutex::new(State::default()), Condvar::new())),
        };
        let t2 = t.clone();
        let _ = std::thread::Builder::new()
            .name("transport".into())
            .spawn(move || {
                let opts = LinkOpts {
                    connect_int,
                    sndbuf,
                };
                t2.run(resource, listener, me, peer, opts, engine)
            });
        Ok(t)
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let (m, cv) = &*self.state;
        let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut g);
        cv.notify_all();
        r
    }

    /// Keep a connection up (again).
    pub fn want(&self, on: bool) {
        self.with(|s| s.want = on);
    }

    /// Connection `gen` is gone; dial or accept again if wanted.
    pub fn lost(&self, gen: u64) {
        self.with(|s| {
            if s.current == Some(gen) {
                s.current = None;
            }
        });
    }

    /// Connection `gen` was closed on the core's command; `again` says whether to dial or
    /// accept a new one. One update, so the thread never sees the link gone but still wanted
    /// when it is not.
    pub fn closed(&self, gen: Option<u64>, again: bool) {
        self.with(|s| {
            s.want = again;
            if gen.is_some() && s.current == gen {
                s.current = None;
            }
        });
    }

    /// Waits up to `d` for the state to change; returns whether a new connection is wanted.
    fn wait_wanted(&self, d: Duration) -> bool {
        let (m, cv) = &*self.state;
        let g = m.lock().unwrap_or_else(|e| e.into_inner());
        let ready = |s: &mut State| s.want && s.current.is_none();
        let (mut g, _) = cv
            .wait_timeout_while(g, d, |s| !ready(s))
            .unwrap_or_else(|e| e.into_inner());
        ready(&mut g)
    }

    fn run(
        self,
        resource: String,
        listener: TcpListener,
        me: SocketAddr,
        peer: SocketAddr,
        opts: LinkOpts,
        engine: Inbox<Report>,
    ) {
        let LinkOpts {
            connect_int,
            sndbuf,
        } = opts;
        let dialer = me < peer;
        let mut last_err = String::new();
        let mut listener = Some(listener);
        loop {
            if !self.wait_wanted(Duration::from_millis(200)) {
                if !self.with(|s| s.want) {
                    // StandAlone: stop listening, so the peer's attempts are refused and it
                    // waits connect-int instead of connecting to a node that will not talk.
                    listener = None;
                }
                if let Some(l) = &listener {
                    drain(l);
                }
                continue;
            }
            if listener.is_none() {
                match TcpListener::bind(me).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
                    Ok(l) => listener = Some(l),
                    Err(e) => {
                        log::warn!("{resource}: cannot listen on {me}: {e}");
                        std::thread::sleep(connect_int);
                        continue;
                    }
                }
            }
            let Some(l) = &listener else { continue };
            let got = if dialer {
                drain(l);
                dial(me, peer, connect_int.max(Duration::from_secs(1)))
            } else {
                accept(l, peer, connect_int)
            };
            match got {
                Ok(stream) => {
                    last_err.clear();
                    let gen = self.with(|s| {
                        s.next_gen += 1;
                        s.current = Some(s.next_gen);
                        s.next_gen
                    });
                    log::info!("{resource}: connection to {peer} established");
                    if let Err(e) = spawn_link(gen, stream, !dialer, sndbuf, &engine) {
                        log::warn!("{resource}: cannot use the connection to {peer}: {e}");
                        self.lost(gen);
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    if msg != last_err {
                        log::info!("{resource}: no connection to {peer} yet: {msg}");
                        last_err = msg;
                    }
                    if dialer {
                        // connect-int between attempts, cut short when the engine changes state.
                        let (m, cv) = &*self.state;
                        let g = m.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = cv.wait_timeout(g, connect_int);
                    }
                }
            }
        }
    }
}

fn drain(listener: &TcpListener) {
    while let Ok((s, _)) = listener.accept() {
        drop(s);
    }
}

/// Connects from our own address, so the peer can check who we are; gives up after
/// `within` (an unreachable WAN peer must not hold the attempt for minutes).
fn dial(me: SocketAddr, peer: SocketAddr, within: Duration) -> std::io::Result<TcpStream> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::socket::{getsockopt, sockopt};
    use std::os::fd::{AsFd, AsRawFd};
    let family = if peer.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let fd: OwnedFd = socket(family, SockType::Stream, flags, None)?;
    bind(
        fd.as_raw_fd(),
        &SockaddrStorage::from(SocketAddr::new(me.ip(), 0)),
    )?;
    match connect(fd.as_raw_fd(), &SockaddrStorage::from(peer)) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    let ms = u16::try_from(within.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
    if poll(&mut fds, PollTimeout::from(ms))? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connection attempt timed out",
        ));
    }
    let err = getsockopt(&fd, sockopt::SocketError)?;
    if err != 0 {
        return Err(std::io::Error::from_raw_os_error(err));
    }
    let s = TcpStream::from(fd);
    s.set_nonblocking(false)?;
    Ok(s)
}

/// Waits up to `within` for the peer to connect; others are refused.
fn accept(
    listener: &TcpListener,
    peer: SocketAddr,
    within: Duration,
) -> std::io::Result<TcpStream> {
    let end = std::time::Instant::now() + within;
    loop {
        match listener.accept() {
            Ok((s, from)) if from.ip() == peer.ip() => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Ok((_, from)) => {
                log::warn!("refused a connection from {from}: not the configured peer {peer}");
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() >= end {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "waiting for the peer to connect",
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

fn spawn_link(
    gen: u64,
    stream: TcpStream,
    resolve_conflicts: bool,
    sndbuf: usize,
    engine: &Inbox<Report>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    if sndbuf > 0 {
        // `sndbuf-size` as in DRBD: a fixed socket send buffer instead of autotuning.
        nix::sys::socket::setsockopt(&stream, nix::sys::socket::sockopt::SndBuf, &sndbuf)?;
    }
    let reader = stream.try_clone()?;
    let writer = stream.try_clone()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let queued = Arc::new(AtomicU64::new(0));
    let congested = Arc::new(AtomicBool::new(false));
    let e1 = engine.clone();
    std::thread::Builder::new()
        .name(format!("peer-recv{gen}"))
        .spawn(move || receive(gen, reader, e1))?;
    let e2 = engine.clone();
    let progress = Progress {
        queued: queued.clone(),
        congested: congested.clone(),
    };
    std::thread::Builder::new()
        .name(format!("peer-send{gen}"))
        .spawn(move || send(gen, writer, rx, progress, e2))?;
    engine(Report::Up {
        link: Link {
            gen,
            out: tx,
            stream,
            queued,
            congested,
        },
        resolve_conflicts,
    });
    Ok(())
}

/// The writer's side of the send-queue accounting.
struct Progress {
    queued: Arc<AtomicU64>,
    congested: Arc<AtomicBool>,
}

/// Decodes messages as they arrive; a decode error ends the connection (ProtocolError is the
/// core's to report, the daemon only says why the bytes made no sense).
fn receive(gen: u64, mut s: TcpStream, engine: Inbox<Report>) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 256 << 10];
    let why = loop {
        match s.read(&mut chunk) {
            Ok(0) => break "the peer closed the connection".to_string(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break e.to_string(),
        }
        let mut used = 0;
        loop {
            match wire::decode(&buf[used..]) {
                Ok(Some((msg, n))) => {
                    used += n;
                    if !engine(Report::Msg { gen, msg }) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    engine(Report::Lost {
                        gen,
                        why: format!("undecodable message from the peer: {e}"),
                    });
                    let _ = s.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
        buf.drain(..used);
    };
    engine(Report::Lost { gen, why });
}

/// Writes queued messages in order (keep-alives first), coalescing what is queued into one
/// write. After each write it takes the bytes off the queue and, when the engine is holding
/// client writes back, tells it that the queue moved.
fn send(gen: u64, mut s: TcpStream, rx: Receiver<Out>, progress: Progress, engine: Inbox<Report>) {
    let mut urgent = Vec::new();
    let mut data = Vec::new();
    let put = |o: Out, urgent: &mut Vec<u8>, data: &mut Vec<u8>| match o {
        Out::Urgent(b) => urgent.extend_from_slice(&b),
        Out::Data(b) => data.extend_from_slice(&b),
    };
    while let Ok(first) = rx.recv() {
        put(first, &mut urgent, &mut data);
        while data.len() < (1 << 20) {
            match rx.try_recv() {
                Ok(more) => put(more, &mut urgent, &mut data),
                Err(_) => break,
            }
        }
        urgent.append(&mut data);
        if let Err(e) = s.write_all(&urgent) {
            engine(Report::Lost {
                gen,
                why: e.to_string(),
            });
            let _ = s.shutdown(Shutdown::Both);
            return;
        }
        progress
            .queued
            .fetch_sub(urgent.len() as u64, Ordering::AcqRel);
        urgent.clear();
        if progress.congested.swap(false, Ordering::AcqRel) && !engine(Report::Drained { gen }) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alives_overtake_queued_data_and_data_keeps_its_order() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let out = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut inp, _) = l.accept().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (etx, _erx) = std::sync::mpsc::channel::<Report>();
        let etx = crate::inbox::to(&etx, |r| r);
        tx.send(Out::Data(b"d1".to_vec())).unwrap();
        tx.send(Out::Data(b"d2".to_vec())).unwrap();
        tx.send(Out::Urgent(b"P".to_vec())).unwrap();
        drop(tx);
        let queued = Arc::new(AtomicU64::new(5));
        let progress = Progress {
            queued: queued.clone(),
            congested: Arc::new(AtomicBool::new(false)),
        };
        send(1, out, rx, progress, etx);
        assert_eq!(
            queued.load(Ordering::Acquire),
            0,
            "written bytes leave the queue"
        );
        let mut got = Vec::new();
        inp.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"Pd1d2");
    }
}
