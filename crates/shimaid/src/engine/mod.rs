//! The daemon's loop: one thread owns the [`Driver`] (the replication core and what is done
//! with its actions) and everything around it that only a daemon has: the export, the block
//! device, the control verbs, `events` subscribers. Every other thread (peer reader and
//! writer, disk workers, NBD connections, control clients, the timer) only sends [`Input`]s
//! here. The engine adds no replication logic, and performs no core action itself: the
//! driver does, through [`Daemon`], this process's implementation of the I/O boundary.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use shimai_metadata::Metadata;
use shimai_nbd::{Command, Completion, NbdErrno};
use shimai_replication::{
    wire, Core, DiskResult, Event, Handler, IoId, Level, MetaRecord, StateChange, TransportCmd,
};

use crate::control::Reply;
use crate::device::Device;
use crate::disk::Job;
use crate::driver::{DiskOp, Driver, Io};
use crate::nbd::{self, Export, Replier};
use crate::peer::{self, Link, Out, Transport};
use crate::report;
use crate::server;
use crate::setup::{self, MetaFile, Plan, Settings};

mod admin;

pub use crate::driver::MAX_REQUEST;

/// Everything that can happen to the daemon.
pub enum Input {
    /// A handler's exit (or an event given before the loop runs).
    Event(Event),
    Disk(crate::disk::Done),
    /// Time passes (every 100 ms).
    Tick,
    Peer(peer::Report),
    Nbd(nbd::Report),
    /// A block request from the FUSE server of the Primary's device.
    Fuse(crate::device::FuseRequest),
    Control(server::Report),
    /// Leave the loop (after `down` was answered, or on SIGTERM).
    Stop,
    /// SIGTERM/SIGINT: `down`, logged instead of answered.
    Signal(i32),
}

/// How other threads reach the engine: its channel, and with the io_uring backend a pipe
/// whose read end the ring polls, so one wait covers disk completions and inputs.
#[derive(Clone)]
pub struct Mailbox {
    tx: Sender<Input>,
    wake: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
}

impl Mailbox {
    pub fn new(tx: Sender<Input>, wake: Option<std::os::fd::OwnedFd>) -> Mailbox {
        Mailbox {
            tx,
            wake: wake.map(std::sync::Arc::new),
        }
    }

    /// Delivers an input; `false` once the engine is gone.
    pub fn send(&self, input: Input) -> bool {
        if self.tx.send(input).is_err() {
            return false;
        }
        if let Some(w) = &self.wake {
            // A full pipe already holds a wake-up: EAGAIN is fine.
            let _ = nix::unistd::write(w.as_ref(), &[1]);
        }
        true
    }

    /// An inbox for a thread that reports `R`s, wrapped into inputs by `wrap`.
    pub fn inbox<R: 'static>(&self, wrap: fn(R) -> Input) -> crate::inbox::Inbox<R> {
        let me = self.clone();
        std::sync::Arc::new(move |r| me.send(wrap(r)))
    }
}

/// How the data area's operations are performed.
pub enum DiskPath {
    /// A small pool of threads doing `pwrite`/`pread`/`fdatasync` (the fallback).
    Threads(Sender<Job>),
    /// The engine thread's own ring.
    Uring(Box<crate::uring::Uring>),
}

impl DiskPath {
    pub fn name(&self) -> &'static str {
        match self {
            DiskPath::Threads(_) => "threads",
            DiskPath::Uring(_) => "io_uring",
        }
    }
}

/// Where a client's answer goes.
pub enum Client {
    /// An NBD connection and the request's cookie.
    Nbd { reply: Replier, cookie: u64 },
    /// The FUSE server's request (answered straight to `/dev/fuse`).
    Fuse(shimai_fuse::Completer),
}

/// This process's side of the I/O boundary: the disk threads, the metadata, the peer link,
/// handlers and `events` subscribers.
pub struct Daemon {
    res: String,
    md: Metadata<MetaFile>,
    disk: DiskPath,
    /// Disk operations that completed at once (the io_uring backend's fallbacks).
    ready: Vec<crate::disk::Done>,
    transport: Transport,
    link: Option<Link>,
    subscribers: Vec<Sender<Reply>>,
    /// An unresolved split brain ended the last handshake (for the status).
    split_brain: bool,
    handlers: shimai_config::Handlers,
    fencing: shimai_replication::Fencing,
    env: crate::handlers::Env,
    peer_name: String,
    me: Mailbox,
}

impl Io for Daemon {
    type Client = Client;

    fn disk(&mut self, op: DiskOp) {
        match &mut self.disk {
            DiskPath::Threads(tx) => {
                if tx.send(op).is_err() {
                    log::error!("{}: the disk threads are gone", self.res);
                }
            }
            DiskPath::Uring(u) => {
                if let Some(done) = u.submit(op) {
                    self.ready.push(done);
                }
            }
        }
    }

    fn persist_meta(&mut self, rec: &MetaRecord) -> Result<(), String> {
        self.md.persist_meta(rec).map_err(|e| e.to_string())
    }

    fn persist_bitmap(&mut self, first_word: u64, words: &[u64]) -> Result<(), String> {
        self.md
            .persist_bitmap(first_word, words)
            .map_err(|e| e.to_string())
    }

    fn persist_al(&mut self, _io: IoId, extents: &[u32]) -> Option<DiskResult> {
        // One 4 KiB transaction, written here in order rather than on a disk thread.
        Some(match self.md.persist_al(extents) {
            Ok(()) => DiskResult::Done,
            Err(e) => {
                log::error!("{}: cannot write the activity log: {e}", self.res);
                DiskResult::Failed(nix::errno::Errno::EIO as i32)
            }
        })
    }

    fn send(&mut self, msg: &wire::Msg) {
        let Some(l) = &self.link else { return };
        let mut b = Vec::new();
        match wire::encode(msg, &mut b) {
            Ok(()) => l.send(if matches!(msg, wire::Msg::Ping | wire::Msg::PingAck) {
                Out::Urgent(b)
            } else {
                Out::Data(b)
            }),
            Err(e) => log::error!("{}: cannot encode a message for the peer: {e}", self.res),
        }
    }

    fn send_queue(&self) -> u64 {
        self.link.as_ref().map_or(0, Link::queued)
    }

    fn hold_writes(&mut self) {
        if let Some(l) = &self.link {
            l.congested.store(true, Ordering::Release);
        }
    }

    fn reply(&mut self, to: Client, result: Result<Option<Vec<u8>>, i32>) {
        match to {
            Client::Nbd { reply, cookie } => reply.send(match result {
                Ok(Some(data)) => Completion::data(cookie, data),
                Ok(None) => Completion::ok(cookie),
                Err(errno) => Completion::error(
                    cookie,
                    NbdErrno::from_io(&std::io::Error::from_raw_os_error(errno)),
                ),
            }),
            Client::Fuse(done) => match result {
                Ok(Some(data)) => done.read(&data),
                Ok(None) => done.done(Ok(())),
                Err(errno) => done.done(Err(errno)),
            },
        }
    }

    fn transport(&mut self, cmd: TransportCmd) {
        match cmd {
            TransportCmd::Connect => self.transport.want(true),
            TransportCmd::Reconnect | TransportCmd::Shutdown => {
                let link = self.link.take();
                if let Some(l) = &link {
                    l.close();
                }
                self.transport
                    .closed(link.map(|l| l.gen), cmd == TransportCmd::Reconnect);
            }
        }
    }

    fn notify(&mut self, change: StateChange) {
        log::info!("{}: {change}", self.res);
        // The unfencing hooks DRBD runs when a resync makes a disk UpToDate.
        if let Some(call) = crate::handlers::for_change(&change, &self.handlers, self.fencing) {
            crate::handlers::spawn(call, &self.env, |_| {});
        }
        if let StateChange::Conn { to, .. } = change {
            if to.is_connected() {
                self.split_brain = false;
            }
        }
        let line = report::change(&change, &self.res, &self.peer_name);
        self.subscribers
            .retain(|s| s.send(Reply::Event(line.clone())).is_ok());
    }

    fn log(&mut self, level: Level, msg: String) {
        let res = &self.res;
        match level {
            Level::Info => log::info!("{res}: {msg}"),
            Level::Warn => log::warn!("{res}: {msg}"),
            Level::Error => log::error!("{res}: {msg}"),
        }
    }

    fn handler(&mut self, h: Handler) {
        if h == Handler::SplitBrain {
            self.split_brain = true;
        }
        let Some(call) = crate::handlers::for_core(h, &self.handlers) else {
            if h == Handler::FencePeer {
                log::warn!(
                    "{}: fencing is set but no fence-peer handler is configured",
                    self.res
                );
                let _ = self.me.send(Input::Event(Event::HandlerDone {
                    handler: h,
                    exit_code: 1,
                }));
            }
            return;
        };
        let me = self.me.clone();
        crate::handlers::spawn(call, &self.env, move |exit_code| {
            // Only fence-peer's answer changes the core's state; it ignores the others.
            let _ = me.send(Input::Event(Event::HandlerDone {
                handler: h,
                exit_code,
            }));
        });
    }
}

pub struct Engine {
    drv: Driver<Daemon>,
    settings: Settings,
    plan: Plan,
    size: u64,
    me: Mailbox,
    nbd_conns: std::collections::BTreeSet<u64>,
    export: Option<Export>,
    device: Option<Device>,
    start: Instant,
    stopping: bool,
    rx: Receiver<Input>,
    /// Control requests that arrived while a device command ran; answered after it.
    deferred: std::collections::VecDeque<Input>,
    watchdog: crate::notify::Watchdog,
}

pub struct Parts {
    pub core: Core,
    pub md: Metadata<MetaFile>,
    pub settings: Settings,
    pub plan: Plan,
    pub disk: DiskPath,
    pub transport: Transport,
    pub me: Mailbox,
    pub rx: Receiver<Input>,
}

impl Engine {
    pub fn new(p: Parts) -> Engine {
        let size = p.core.config().size;
        let env = crate::handlers::Env {
            resource: p.settings.resource.clone(),
            node: p.settings.node.clone(),
            peer: p.plan.peer_name.clone(),
            peer_addr: p.plan.peer_addr,
            minor: p.plan.minor,
            backing_dev: p.plan.disk.clone(),
            device: p.plan.device.clone(),
            config: p.settings.config.clone(),
            run_dir: p.settings.run_dir.clone(),
        };
        let daemon = Daemon {
            res: p.settings.resource.clone(),
            md: p.md,
            disk: p.disk,
            ready: Vec::new(),
            transport: p.transport,
            link: None,
            subscribers: Vec::new(),
            split_brain: false,
            handlers: p.plan.resource.handlers.clone(),
            fencing: p.plan.core.fencing,
            env,
            peer_name: p.plan.peer_name.clone(),
            me: p.me.clone(),
        };
        let send_bound = send_bound(&p.plan);
        Engine {
            drv: Driver::new(p.core, daemon, send_bound),
            settings: p.settings,
            plan: p.plan,
            size,
            me: p.me,
            nbd_conns: Default::default(),
            export: None,
            device: None,
            start: Instant::now(),
            stopping: false,
            rx: p.rx,
            deferred: Default::default(),
            watchdog: crate::notify::Watchdog::from_env(),
        }
    }

    /// An event before the loop runs (`up` connects).
    pub fn admin_on_start(&mut self, ev: Event) {
        self.drv.feed(ev);
    }

    fn res(&self) -> &str {
        &self.settings.resource
    }

    /// Runs until `down` (or a signal) stops the daemon.
    pub fn run(mut self) {
        log::info!(
            "{}: disk I/O backend: {}",
            self.res(),
            self.drv.io.disk.name()
        );
        self.drv.perform();
        loop {
            let wait = self.stopping.then_some(Duration::from_secs(2));
            match self.step(wait, true) {
                Step::Input(i) => {
                    if matches!(i, Input::Stop | Input::Control(server::Report::Stop)) {
                        break;
                    }
                    self.input(i);
                }
                Step::Progress => {}
                Step::Idle | Step::Gone => break,
            }
        }
        if let Some(l) = self.drv.io.link.take() {
            l.close();
        }
        self.export = None;
        log::info!("{}: stopped", self.res());
    }

    /// Completions that were known at once go to the core.
    fn drain_ready(&mut self) {
        while !self.drv.io.ready.is_empty() {
            let ready = std::mem::take(&mut self.drv.io.ready);
            for d in ready {
                self.drv.feed(Event::DiskDone {
                    io: d.io,
                    result: d.result,
                });
            }
        }
    }

    /// The next thing to do: a queued input (deferred ones first, if `take_deferred`), or
    /// else waits for one (and, with io_uring, for disk completions, which it feeds to the core
    /// itself), at most `wait` if given.
    fn step(&mut self, wait: Option<Duration>, take_deferred: bool) -> Step {
        self.drain_ready();
        if take_deferred {
            if let Some(i) = self.deferred.pop_front() {
                return Step::Input(i);
            }
        }
        if let Ok(i) = self.rx.try_recv() {
            return Step::Input(i);
        }
        match &mut self.drv.io.disk {
            DiskPath::Threads(_) => {
                let got = if let Some(d) = wait {
                    self.rx.recv_timeout(d)
                } else {
                    self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                };
                match got {
                    Ok(i) => Step::Input(i),
                    Err(RecvTimeoutError::Timeout) => Step::Idle,
                    Err(RecvTimeoutError::Disconnected) => Step::Gone,
                }
            }
            DiskPath::Uring(u) => match u.wait(wait) {
                Ok(w) => {
                    let timed_out = w.timed_out && !w.inputs && w.done.is_empty();
                    for d in w.done {
                        self.drv.feed(Event::DiskDone {
                            io: d.io,
                            result: d.result,
                        });
                    }
                    if timed_out {
                        Step::Idle
                    } else {
                        Step::Progress
                    }
                }
                Err(e) => {
                    log::error!("{}: io_uring wait failed: {e}", self.res());
                    Step::Gone
                }
            },
        }
    }

    fn input(&mut self, input: Input) {
        match input {
            Input::Event(ev) => self.drv.feed(ev),
            Input::Disk(d) => self.drv.feed(Event::DiskDone {
                io: d.io,
                result: d.result,
            }),
            Input::Tick => {
                // The loop turns: tell systemd's watchdog.
                self.watchdog.tick();
                let now_ms = self.start.elapsed().as_millis() as u64;
                self.drv.feed(Event::Tick {
                    now_ms,
                    entropy: setup::entropy(),
                });
            }
            Input::Peer(peer::Report::Msg { gen, msg }) => {
                if self.drv.io.link.as_ref().is_some_and(|l| l.gen == gen) {
                    self.drv.feed(Event::Received(msg));
                }
            }
            Input::Peer(peer::Report::Up {
                link,
                resolve_conflicts,
            }) => {
                use shimai_replication::ConnState;
                if self.drv.io.link.is_none()
                    && self.drv.core().conn_state() == ConnState::WFConnection
                {
                    self.drv.io.link = Some(link);
                    let mut challenge = Vec::with_capacity(32);
                    for _ in 0..4 {
                        challenge.extend_from_slice(&setup::entropy().to_le_bytes());
                    }
                    self.drv.feed(Event::Connected {
                        resolve_conflicts,
                        challenge,
                    });
                } else {
                    link.close();
                    self.drv.io.transport.lost(link.gen);
                }
            }
            Input::Peer(peer::Report::Lost { gen, why }) => {
                if self.drv.io.link.as_ref().is_some_and(|l| l.gen == gen) {
                    if let Some(l) = self.drv.io.link.take() {
                        l.close();
                    }
                    log::info!(
                        "{}: connection to {} lost: {why}",
                        self.res(),
                        self.plan.peer_addr
                    );
                    // The core's Reconnect or Shutdown first, so the transport thread sees
                    // whether to try again together with the link being gone.
                    self.drv.feed(Event::ConnectionLost);
                    self.drv.io.transport.lost(gen);
                }
            }
            Input::Peer(peer::Report::Drained { gen }) => {
                // From the current link's writer, or the link is gone: held writes may go.
                if self.drv.io.link.as_ref().is_none_or(|l| l.gen == gen) {
                    self.drv.unpark();
                }
            }
            Input::Nbd(nbd::Report::Request {
                cookie,
                command,
                reply,
            }) => self.drv.client(Client::Nbd { reply, cookie }, command),
            Input::Fuse(crate::device::FuseRequest { req, done }) => {
                let command = match req {
                    shimai_fuse::BlockRequest::Read { offset, len } => Command::Read {
                        offset,
                        length: len,
                    },
                    // FUSE has no FUA: durability comes from the flushes that follow.
                    shimai_fuse::BlockRequest::Write { offset, data } => Command::Write {
                        offset,
                        data,
                        fua: false,
                    },
                    shimai_fuse::BlockRequest::Flush => Command::Flush,
                };
                self.drv.client(Client::Fuse(done), command);
            }
            Input::Nbd(nbd::Report::Open { conn }) => {
                self.nbd_conns.insert(conn);
            }
            Input::Nbd(nbd::Report::Closed { conn }) => {
                self.nbd_conns.remove(&conn);
            }
            Input::Control(server::Report::Stop) => {}
            Input::Control(server::Report::Request { req, reply }) => {
                let r = self.control(req);
                self.drv.perform();
                let _ = reply.send(r);
            }
            Input::Control(server::Report::Subscribe { now, tx }) => {
                let s = self.drv.core().status();
                for l in report::exists(&s, self.res(), &self.plan.peer_name) {
                    let _ = tx.send(Reply::Event(l));
                }
                if !now {
                    self.drv.io.subscribers.push(tx);
                }
            }
            Input::Signal(sig) => {
                log::info!("{}: signal {sig}: going down", self.res());
                match self.down() {
                    Reply::Refused { message, .. } => {
                        log::error!("{}: not going down: {message}", self.res())
                    }
                    _ => {
                        self.drv.perform();
                        let _ = self.me.send(Input::Stop);
                    }
                }
            }
            Input::Stop => {}
        }
    }
}

/// What one turn of the loop found.
pub(super) enum Step {
    Input(Input),
    /// Disk completions were handled (io_uring); look again.
    Progress,
    /// Quiet for 2 s while stopping.
    Idle,
    /// Nobody can reach the engine any more.
    Gone,
}

/// The bound of the user-space send queue: `max-buffers` pages of 4 KiB (8 MiB with DRBD's
/// default of 2048), the memory DRBD lets a connection's requests hold. Past it, client writes
/// wait; the kernel's socket buffer (`sndbuf-size`) comes on top.
pub fn send_bound(plan: &Plan) -> u64 {
    u64::from(plan.resource.net.max_buffers).max(32) * 4096
}
