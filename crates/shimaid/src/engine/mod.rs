//! The daemon's loop: one thread owns the replication core and the metadata. Every other
//! thread (peer reader and writer, disk workers, NBD connections, control clients, the timer)
//! only sends [`Input`]s here; the engine feeds them to the core as events and performs the
//! core's actions in order. The engine adds no replication logic: it routes, persists, and
//! manages what the core cannot know about (the export, the block device, handlers).

use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use shimai_metadata::Metadata;
use shimai_nbd::Command;
use shimai_replication::{
    wire, Action, Core, DiskResult, Event, Handler, Level, ReqId, StateChange, TransportCmd,
};

use crate::control::{Reply, Request};
use crate::device::Device;
use crate::disk::Job;
use crate::nbd::{ConnMsg, Export};
use crate::peer::{Link, Out, Transport};
use crate::report;
use crate::setup::{self, Plan, Settings, SharedFile};

mod admin;
mod client;

use client::Group;
pub use client::MAX_REQUEST;

/// Everything that can happen to the daemon.
pub enum Input {
    /// A disk completion or a handler's exit.
    Event(Event),
    /// Time passes (every 100 ms).
    Tick,
    Peer {
        gen: u64,
        msg: wire::Msg,
    },
    PeerUp {
        link: Link,
        resolve_conflicts: bool,
    },
    PeerLost {
        gen: u64,
        why: String,
    },
    /// The writer of connection `gen` made progress while client writes were held back.
    PeerDrained {
        gen: u64,
    },
    Nbd {
        conn: u64,
        cookie: u64,
        command: Command,
        reply: Sender<ConnMsg>,
    },
    NbdOpen {
        conn: u64,
    },
    NbdClosed {
        conn: u64,
    },
    Control {
        req: Request,
        reply: Sender<Reply>,
    },
    /// A client of `events`: the current state at once, then every change unless `now`.
    Subscribe {
        now: bool,
        tx: Sender<Reply>,
    },
    /// Leave the loop (after `down` was answered, or on SIGTERM).
    Stop,
    /// SIGTERM/SIGINT: `down`, logged instead of answered.
    Signal(i32),
}

pub struct Engine {
    core: Core,
    md: Metadata<SharedFile>,
    settings: Settings,
    plan: Plan,
    size: u64,
    disk: Sender<Job>,
    transport: Transport,
    link: Option<Link>,
    me: Sender<Input>,
    /// Core request id -> the first id of its NBD request's group.
    reqs: HashMap<ReqId, ReqId>,
    groups: HashMap<ReqId, Group>,
    next_req: ReqId,
    nbd_conns: BTreeSet<u64>,
    export: Option<Export>,
    device: Option<Device>,
    subscribers: Vec<Sender<Reply>>,
    start: Instant,
    stopping: bool,
    /// An unresolved split brain ended the last handshake (for the status).
    split_brain: bool,
    rx: Receiver<Input>,
    /// Control requests that arrived while a device command ran; answered after it.
    deferred: std::collections::VecDeque<Input>,
    /// Client writes held back while the send queue to the peer is over its bound (DRBD's
    /// `on-congestion block`): their clients wait for the reply.
    parked: std::collections::VecDeque<(u64, Command, Sender<ConnMsg>)>,
    /// The bound of the user-space send queue, bytes.
    send_bound: u64,
}

pub struct Parts {
    pub core: Core,
    pub md: Metadata<SharedFile>,
    pub settings: Settings,
    pub plan: Plan,
    pub disk: Sender<Job>,
    pub transport: Transport,
    pub me: Sender<Input>,
    pub rx: Receiver<Input>,
}

impl Engine {
    pub fn new(p: Parts) -> Engine {
        let size = p.core.config().size;
        let send_bound = send_bound(&p.plan);
        Engine {
            core: p.core,
            md: p.md,
            settings: p.settings,
            plan: p.plan,
            size,
            disk: p.disk,
            transport: p.transport,
            link: None,
            me: p.me,
            reqs: HashMap::new(),
            groups: HashMap::new(),
            next_req: 1,
            nbd_conns: BTreeSet::new(),
            export: None,
            device: None,
            subscribers: Vec::new(),
            start: Instant::now(),
            stopping: false,
            split_brain: false,
            rx: p.rx,
            deferred: Default::default(),
            parked: Default::default(),
            send_bound,
        }
    }

    /// An event before the loop runs (`up` connects).
    pub fn admin_on_start(&mut self, ev: Event) {
        self.feed(ev);
    }

    fn res(&self) -> &str {
        &self.settings.resource
    }

    /// Runs until `down` (or a signal) stops the daemon.
    pub fn run(mut self) {
        self.perform();
        loop {
            let input = if let Some(i) = self.deferred.pop_front() {
                i
            } else if self.stopping {
                match self.rx.recv_timeout(Duration::from_secs(2)) {
                    Ok(i) => i,
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match self.rx.recv() {
                    Ok(i) => i,
                    Err(_) => break,
                }
            };
            if matches!(input, Input::Stop) {
                break;
            }
            self.input(input);
            self.perform();
        }
        if let Some(l) = self.link.take() {
            l.close();
        }
        self.export = None;
        log::info!("{}: stopped", self.res());
    }

    fn feed(&mut self, ev: Event) {
        if let Err(e) = self.core.handle(ev) {
            log::warn!("{}: {e}", self.res());
        }
    }

    fn input(&mut self, input: Input) {
        match input {
            Input::Event(ev) => self.feed(ev),
            Input::Tick => {
                let now_ms = self.start.elapsed().as_millis() as u64;
                self.feed(Event::Tick {
                    now_ms,
                    entropy: setup::entropy(),
                });
            }
            Input::Peer { gen, msg } => {
                if self.link.as_ref().is_some_and(|l| l.gen == gen) {
                    self.feed(Event::Received(msg));
                }
            }
            Input::PeerUp {
                link,
                resolve_conflicts,
            } => {
                use shimai_replication::ConnState;
                if self.link.is_none() && self.core.conn_state() == ConnState::WFConnection {
                    self.link = Some(link);
                    let mut challenge = Vec::with_capacity(32);
                    for _ in 0..4 {
                        challenge.extend_from_slice(&setup::entropy().to_le_bytes());
                    }
                    self.feed(Event::Connected {
                        resolve_conflicts,
                        challenge,
                    });
                } else {
                    link.close();
                    self.transport.lost(link.gen);
                }
            }
            Input::PeerLost { gen, why } => {
                if self.link.as_ref().is_some_and(|l| l.gen == gen) {
                    if let Some(l) = self.link.take() {
                        l.close();
                    }
                    log::info!(
                        "{}: connection to {} lost: {why}",
                        self.res(),
                        self.plan.peer_addr
                    );
                    self.feed(Event::ConnectionLost);
                    // The core's Reconnect or Shutdown first, so the transport thread sees
                    // whether to try again together with the link being gone.
                    self.perform();
                    self.transport.lost(gen);
                    self.unpark();
                }
            }
            Input::PeerDrained { gen } => {
                // From the current link's writer, or the link is gone: held writes may go.
                if self.link.as_ref().is_none_or(|l| l.gen == gen) {
                    self.unpark();
                }
            }
            Input::Nbd {
                cookie,
                command,
                reply,
                ..
            } => {
                let write = matches!(
                    command,
                    Command::Write { .. } | Command::WriteZeroes { .. } | Command::Trim { .. }
                );
                if write && (!self.parked.is_empty() || self.congested()) {
                    self.parked.push_back((cookie, command, reply));
                    if let Some(l) = &self.link {
                        l.congested
                            .store(true, std::sync::atomic::Ordering::Release);
                    }
                } else {
                    self.nbd_request(cookie, command, reply);
                }
            }
            Input::NbdOpen { conn } => {
                self.nbd_conns.insert(conn);
            }
            Input::NbdClosed { conn } => {
                self.nbd_conns.remove(&conn);
            }
            Input::Control { req, reply } => {
                let r = self.control(req);
                self.perform();
                let _ = reply.send(r);
            }
            Input::Subscribe { now, tx } => {
                let s = self.core.status();
                for l in report::exists(&s, self.res(), &self.plan.peer_name) {
                    let _ = tx.send(Reply::Event(l));
                }
                if !now {
                    self.subscribers.push(tx);
                }
            }
            Input::Signal(sig) => {
                log::info!("{}: signal {sig}: going down", self.res());
                match self.down() {
                    Reply::Refused { message, .. } => {
                        log::error!("{}: not going down: {message}", self.res())
                    }
                    _ => {
                        self.perform();
                        let _ = self.me.send(Input::Stop);
                    }
                }
            }
            Input::Stop => {}
        }
    }

    /// Performs the core's actions in order.
    fn perform(&mut self) {
        while let Some(a) = self.core.poll_action() {
            self.action(a);
        }
    }

    fn action(&mut self, a: Action) {
        let res = self.settings.resource.clone();
        match a {
            Action::Write {
                io,
                offset,
                data,
                fua,
            } => self.disk_job(Job::Write {
                io,
                offset,
                data,
                fua,
            }),
            Action::Read { io, offset, len } => self.disk_job(Job::Read { io, offset, len }),
            Action::Trim { io, offset, len } => self.disk_job(Job::Trim { io, offset, len }),
            Action::Flush { io } => self.disk_job(Job::Flush { io }),
            Action::Send(msg) => {
                if let Some(l) = &self.link {
                    let mut b = Vec::new();
                    match wire::encode(&msg, &mut b) {
                        Ok(()) => {
                            let out = if matches!(msg, wire::Msg::Ping | wire::Msg::PingAck) {
                                Out::Urgent(b)
                            } else {
                                Out::Data(b)
                            };
                            l.send(out);
                        }
                        Err(e) => log::error!("{res}: cannot encode a message for the peer: {e}"),
                    }
                }
            }
            Action::Reply { id, result } => self.part_done(id, result.map_err(|e| e.errno())),
            // Synchronous: a failure reaches the core before any later action is performed.
            Action::PersistMeta(rec) => {
                if let Err(e) = self.md.persist_meta(&rec) {
                    log::error!("{res}: cannot write the metadata superblock: {e}");
                    self.feed(Event::MetaWriteFailed { errno: EIO });
                }
            }
            Action::PersistBitmap { first_word, words } => {
                if let Err(e) = self.md.persist_bitmap(first_word, &words) {
                    log::error!("{res}: cannot write the bitmap: {e}");
                    self.feed(Event::MetaWriteFailed { errno: EIO });
                }
            }
            Action::PersistAl { io, extents, .. } => {
                // One 4 KiB transaction: done here, in order, rather than on a disk thread.
                let result = match self.md.persist_al(&extents) {
                    Ok(()) => DiskResult::Done,
                    Err(e) => {
                        log::error!("{res}: cannot write the activity log: {e}");
                        DiskResult::Failed(nix::errno::Errno::EIO as i32)
                    }
                };
                self.feed(Event::DiskDone { io, result });
            }
            Action::Transport(cmd) => match cmd {
                TransportCmd::Connect => self.transport.want(true),
                TransportCmd::Reconnect | TransportCmd::Shutdown => {
                    let link = self.link.take();
                    if let Some(l) = &link {
                        l.close();
                    }
                    self.transport
                        .closed(link.map(|l| l.gen), cmd == TransportCmd::Reconnect);
                    // Without a link nothing is congested: the held writes go on locally.
                    if !self.parked.is_empty() {
                        let _ = self.me.send(Input::PeerDrained { gen: 0 });
                    }
                }
            },
            Action::Notify(change) => {
                log::info!("{res}: {change}");
                self.call_change_hook(&change);
                if let StateChange::Conn { to, .. } = change {
                    if to.is_connected() {
                        self.split_brain = false;
                    }
                }
                let line = report::change(&change, &res, &self.plan.peer_name);
                self.subscribers
                    .retain(|s| s.send(Reply::Event(line.clone())).is_ok());
            }
            Action::Log { level, msg } => match level {
                Level::Info => log::info!("{res}: {msg}"),
                Level::Warn => log::warn!("{res}: {msg}"),
                Level::Error => log::error!("{res}: {msg}"),
            },
            Action::CallHandler(h) => {
                if h == Handler::SplitBrain {
                    self.split_brain = true;
                }
                self.call_handler(h)
            }
        }
    }

    /// Whether the send queue to the peer is over its bound.
    fn congested(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.queued() > self.send_bound)
    }

    /// Lets held client writes go while the send queue has room (or the link is gone).
    fn unpark(&mut self) {
        while !self.parked.is_empty() {
            if self.congested() {
                if let Some(l) = &self.link {
                    l.congested
                        .store(true, std::sync::atomic::Ordering::Release);
                }
                return;
            }
            let Some((cookie, command, reply)) = self.parked.pop_front() else {
                return;
            };
            self.nbd_request(cookie, command, reply);
            self.perform();
        }
    }

    fn disk_job(&mut self, job: Job) {
        if self.disk.send(job).is_err() {
            log::error!("{}: the disk threads are gone", self.res());
        }
    }

    fn call_handler(&mut self, h: Handler) {
        let Some(call) = crate::handlers::for_core(h, &self.plan.resource.handlers) else {
            if h == Handler::FencePeer {
                log::warn!(
                    "{}: fencing is set but no fence-peer handler is configured",
                    self.res()
                );
                let _ = self.me.send(Input::Event(Event::HandlerDone {
                    handler: h,
                    exit_code: 1,
                }));
            }
            return;
        };
        let me = self.me.clone();
        crate::handlers::spawn(call, &self.handler_env(), move |exit_code| {
            // Only fence-peer's answer changes the core's state; it ignores the others.
            let _ = me.send(Input::Event(Event::HandlerDone {
                handler: h,
                exit_code,
            }));
        });
    }

    /// The unfencing hooks DRBD runs when a resync makes a disk UpToDate.
    fn call_change_hook(&self, change: &StateChange) {
        let hs = &self.plan.resource.handlers;
        if let Some(call) = crate::handlers::for_change(change, hs, self.plan.core.fencing) {
            crate::handlers::spawn(call, &self.handler_env(), |_| {});
        }
    }

    fn handler_env(&self) -> crate::handlers::Env {
        crate::handlers::Env {
            resource: self.res().to_string(),
            node: self.settings.node.clone(),
            peer: self.plan.peer_name.clone(),
            peer_addr: self.plan.peer_addr,
            minor: self.plan.minor,
            backing_dev: self.plan.disk.clone(),
            device: self.plan.device.clone(),
            config: self.settings.config.clone(),
            run_dir: self.settings.run_dir.clone(),
        }
    }
}

/// The bound of the user-space send queue: `max-buffers` pages of 4 KiB (8 MiB with DRBD's
/// default of 2048), the memory DRBD lets a connection's requests hold. Past it, client writes
/// wait; the kernel's socket buffer (`sndbuf-size`) comes on top.
pub fn send_bound(plan: &Plan) -> u64 {
    u64::from(plan.resource.net.max_buffers).max(32) * 4096
}

const EIO: i32 = nix::errno::Errno::EIO as i32;
