//! The daemon's loop: one thread owns the replication core and the metadata. Every other
//! thread (peer reader and writer, disk workers, NBD connections, control clients, the timer)
//! only sends [`Input`]s here; the engine feeds them to the core as events and performs the
//! core's actions in order. The engine adds no replication logic: it routes, persists, and
//! manages what the core cannot know about (the export, the block device, handlers).

use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use shimai_metadata::Metadata;
use shimai_nbd::{Command, Completion, NbdErrno};
use shimai_replication::{
    wire, Action, AdminCmd, Core, DiskResult, Event, Handler, Level, ReqId, Role, StateChange,
    TransportCmd,
};

use crate::control::{Reply, Request};
use crate::device::{self, Device};
use crate::disk::Job;
use crate::nbd::{ConnMsg, Export};
use crate::peer::{Link, Out, Transport};
use crate::report::{self, Names};
use crate::setup::{self, Plan, Settings, SharedFile};

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

/// The largest request the core takes (its `MAX_REQUEST`); the export advertises it as
/// the maximum block size, and larger trims and zeroes are split.
pub const MAX_REQUEST: u64 = 1 << 20;

/// An NBD request split into core requests.
struct Group {
    reply: Sender<ConnMsg>,
    cookie: u64,
    left: u64,
    data: Vec<Option<Vec<u8>>>,
    error: Option<i32>,
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
                }
            }
            Input::Nbd {
                cookie,
                command,
                reply,
                ..
            } => self.nbd_request(cookie, command, reply),
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

    /// One NBD request becomes one or more core requests (the core takes at most
    /// [`MAX_REQUEST`] bytes each; trims and zeroes from a file system are often larger).
    fn nbd_request(&mut self, cookie: u64, command: Command, reply: Sender<ConnMsg>) {
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
        let parts = len.div_ceil(MAX_REQUEST).max(1);
        let first = self.new_group(reply, cookie, parts);
        for i in 0..parts {
            let id = first + i;
            let at = i * MAX_REQUEST;
            let n = (len - at.min(len)).min(MAX_REQUEST);
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
        self.groups.insert(
            first,
            Group {
                reply,
                cookie,
                left: parts,
                data: vec![None; parts as usize],
                error: None,
            },
        );
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
    fn part_done(&mut self, id: ReqId, result: Result<Option<Vec<u8>>, i32>) {
        let Some(first) = self.reqs.remove(&id) else {
            return;
        };
        let Some(g) = self.groups.get_mut(&first) else {
            return;
        };
        match result {
            Ok(Some(d)) => g.data[(id - first) as usize] = Some(d),
            Ok(None) => {}
            Err(errno) => g.error = g.error.or(Some(errno)),
        }
        g.left -= 1;
        if g.left > 0 {
            return;
        }
        let Some(g) = self.groups.remove(&first) else {
            return;
        };
        let c = match g.error {
            Some(errno) => Completion::error(
                g.cookie,
                NbdErrno::from_io(&std::io::Error::from_raw_os_error(errno)),
            ),
            None if g.data.iter().any(Option::is_some) => {
                Completion::data(g.cookie, g.data.into_iter().flatten().flatten().collect())
            }
            None => Completion::ok(g.cookie),
        };
        let _ = g.reply.send(ConnMsg::Done(c));
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
                            let _ = l.out.send(out);
                        }
                        Err(e) => log::error!("{res}: cannot encode a message for the peer: {e}"),
                    }
                }
            }
            Action::Reply { id, result } => self.part_done(id, result.map_err(|e| e.errno())),
            Action::PersistMeta(rec) => {
                if let Err(e) = self.md.persist_meta(&rec) {
                    log::error!("{res}: cannot write the metadata superblock: {e}");
                }
            }
            Action::PersistBitmap { first_word, words } => {
                if let Err(e) = self.md.persist_bitmap(first_word, &words) {
                    log::error!("{res}: cannot write the bitmap: {e}");
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
                }
            },
            Action::Notify(change) => {
                log::info!("{res}: {change}");
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

    fn disk_job(&mut self, job: Job) {
        if self.disk.send(job).is_err() {
            log::error!("{}: the disk threads are gone", self.res());
        }
    }

    fn call_handler(&mut self, h: Handler) {
        let hs = &self.plan.resource.handlers;
        let cmd = match h {
            Handler::InitialSplitBrain => hs.initial_split_brain.clone(),
            Handler::SplitBrain => hs.split_brain.clone(),
            Handler::PriLost => hs.pri_lost.clone(),
            Handler::PriLostAfterSb => hs.pri_lost_after_sb.clone(),
            Handler::FencePeer => hs.fence_peer.clone(),
            Handler::OutOfSync => hs.out_of_sync.clone(),
        };
        let res = self.res().to_string();
        let Some(cmd) = cmd else {
            if h == Handler::FencePeer {
                log::warn!("{res}: fencing is set but no fence-peer handler is configured");
                let _ = self.me.send(Input::Event(Event::HandlerDone {
                    handler: h,
                    exit_code: 1,
                }));
            }
            return;
        };
        log::info!("{res}: calling {} handler: {cmd}", h.name());
        let me = self.me.clone();
        let peer = self.plan.peer_addr;
        let _ = std::thread::Builder::new()
            .name("handler".into())
            .spawn(move || {
                let st = std::process::Command::new("/bin/sh")
                    .args(["-c", &cmd])
                    .env("DRBD_RESOURCE", &res)
                    .env("DRBD_PEER_ADDRESS", peer.ip().to_string())
                    .env("DRBD_PEER_AF", if peer.is_ipv4() { "ipv4" } else { "ipv6" })
                    .stdin(std::process::Stdio::null())
                    .status();
                let exit_code = match st {
                    Ok(s) => s.code().unwrap_or(1),
                    Err(e) => {
                        log::error!("{res}: cannot run handler {cmd}: {e}");
                        1
                    }
                };
                log::info!("{res}: {} handler exited with {exit_code}", h.name());
                let _ = me.send(Input::Event(Event::HandlerDone {
                    handler: h,
                    exit_code,
                }));
            });
    }

    fn admin(&mut self, cmd: AdminCmd) -> Reply {
        match self.core.handle(Event::Admin(cmd)) {
            Ok(()) => Reply::Ok { message: None },
            Err(e) => Reply::Refused {
                code: e.exit_code(),
                message: format!("{}: {e}", self.res()),
            },
        }
    }

    fn refused(&self, message: String) -> Reply {
        Reply::Refused {
            code: 1,
            message: format!("{}: {message}", self.res()),
        }
    }

    fn control(&mut self, req: Request) -> Reply {
        if self.stopping {
            return self.refused("shimaid is going down".into());
        }
        match req {
            Request::Status => Reply::Status(Box::new(report::status_report(
                &self.core.status(),
                &Names {
                    resource: self.res(),
                    node: &self.settings.node,
                    peer_node: &self.plan.peer_name,
                    device: self.device.as_ref().map(|d| d.path.display().to_string()),
                    minor: self.plan.minor,
                    size: self.size,
                    split_brain: self.split_brain,
                },
            ))),
            Request::Primary { force } => self.primary(force),
            Request::Secondary => self.secondary(),
            Request::Connect { discard_my_data } => {
                self.admin(AdminCmd::Connect { discard_my_data })
            }
            Request::Disconnect => self.admin(AdminCmd::Disconnect),
            Request::Attach => {
                let p = self.md.persisted();
                self.admin(AdminCmd::Attach(p))
            }
            Request::Detach => {
                if self.core.role() == Role::Primary {
                    return self.refused(
                        "detach refused while Primary: run `shimaiadm secondary` first".into(),
                    );
                }
                self.admin(AdminCmd::Detach)
            }
            Request::Invalidate => self.admin(AdminCmd::Invalidate),
            Request::InvalidateRemote => self.admin(AdminCmd::InvalidateRemote),
            Request::NewCurrentUuid { clear_bitmap } => {
                self.admin(AdminCmd::NewCurrentUuid { clear_bitmap })
            }
            Request::Outdate => self.admin(AdminCmd::Outdate),
            Request::Verify => self.admin(AdminCmd::Verify),
            Request::PauseSync => self.admin(AdminCmd::PauseSync),
            Request::ResumeSync => self.admin(AdminCmd::ResumeSync),
            Request::Adjust => self.adjust(),
            Request::Down => {
                let r = self.down();
                if matches!(r, Reply::Ok { .. }) {
                    self.stopping = true;
                }
                r
            }
            // Streams are served by the control server through Input::Subscribe.
            Request::Events { .. } => self.refused("events is a stream: subscribe".into()),
        }
    }

    fn primary(&mut self, force: bool) -> Reply {
        let was = self.core.role();
        let r = self.admin(AdminCmd::Primary { force });
        if !matches!(r, Reply::Ok { .. }) || was == Role::Primary {
            return r;
        }
        self.perform();
        if let Err(e) = self.make_device() {
            self.device = None;
            self.export = None;
            let _ = self.core.handle(Event::Admin(AdminCmd::Secondary));
            return self.refused(format!(
                "promoted, but the block device failed, so demoted again: {e}"
            ));
        }
        r
    }

    /// Keeps serving I/O while `job` runs on its own thread: creating or removing the block
    /// device makes the kernel read, write and flush through the export, which the engine
    /// must answer. Control requests wait until the job is done.
    fn pump_while<T: Send + 'static>(
        &mut self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let h = std::thread::Builder::new()
            .name("device".into())
            .spawn(job)
            .ok()?;
        while !h.is_finished() {
            match self.rx.recv_timeout(Duration::from_millis(10)) {
                Ok(i @ (Input::Control { .. } | Input::Signal(_) | Input::Stop)) => {
                    self.deferred.push_back(i)
                }
                Ok(i) => {
                    self.input(i);
                    self.perform();
                }
                Err(_) => {}
            }
        }
        h.join().ok()
    }

    fn make_device(&mut self) -> Result<(), String> {
        let sock = self.settings.nbd_socket();
        let export = Export::start(&sock, &self.settings.resource, self.size, self.me.clone())
            .map_err(|e| format!("cannot listen on {}: {e}", sock.display()))?;
        self.export = Some(export);
        if let Some(how) = device::method(self.plan.attach) {
            let (res, run_dir) = (
                self.settings.resource.clone(),
                self.settings.run_dir.clone(),
            );
            let (path, size) = (std::path::PathBuf::from(&self.plan.device), self.size);
            let dev = self
                .pump_while(move || device::create(how, &res, &sock, &run_dir, &path, size))
                .unwrap_or_else(|| Err("the device thread failed".into()))?;
            log::info!(
                "{}: block device {} -> {}",
                self.res(),
                self.plan.device,
                dev.block
            );
            self.device = Some(dev);
        }
        Ok(())
    }

    /// Removes the device and the export, refusing while anything uses them.
    fn release_device(&mut self, verb: &str) -> Result<(), String> {
        if let Some(dev) = &self.device {
            if let Some(users) = device::busy(dev) {
                return Err(format!(
                    "{verb} refused: {} ({}) is in use: {users}; unmount or close it first",
                    dev.path.display(),
                    dev.block
                ));
            }
        }
        if let Some(dev) = self.device.take() {
            if let Some(Err(e)) = self.pump_while(move || dev.teardown()) {
                log::warn!("{}: removing the block device: {e}", self.res());
            }
            // nbdfuse's connection closes asynchronously; give it a moment.
            let deadline = Instant::now() + Duration::from_secs(3);
            while !self.nbd_conns.is_empty() && Instant::now() < deadline {
                self.pump_while(|| std::thread::sleep(Duration::from_millis(20)));
            }
        }
        if !self.nbd_conns.is_empty() {
            return Err(format!(
                "{verb} refused: {} NBD client(s) still connected to {}; disconnect them first",
                self.nbd_conns.len(),
                self.settings.nbd_socket().display()
            ));
        }
        self.export = None;
        Ok(())
    }

    fn secondary(&mut self) -> Reply {
        if self.core.role() == Role::Primary {
            if let Err(e) = self.release_device("secondary") {
                return self.refused(e);
            }
        }
        self.admin(AdminCmd::Secondary)
    }

    fn down(&mut self) -> Reply {
        if self.core.role() == Role::Primary {
            if let Err(e) = self.release_device("down") {
                return self.refused(e);
            }
            let _ = self.core.handle(Event::Admin(AdminCmd::Secondary));
        }
        let _ = self.core.handle(Event::Admin(AdminCmd::Disconnect));
        self.perform();
        let _ = self.core.handle(Event::Admin(AdminCmd::Detach));
        Reply::Ok { message: None }
    }

    fn adjust(&mut self) -> Reply {
        match setup::plan(&self.settings) {
            Ok(p) => {
                let mut now = self.core.config().clone();
                now.size = 0;
                if p.core == now
                    && p.my_addr == self.plan.my_addr
                    && p.peer_addr == self.plan.peer_addr
                {
                    Reply::Ok {
                        message: Some("nothing to change".into()),
                    }
                } else {
                    self.refused(
                        "the configuration changed in ways this version applies only at start: \
                         run `shimaiadm down` and `up`"
                            .into(),
                    )
                }
            }
            Err(e) => Reply::Refused {
                code: e.exit_code(),
                message: e.to_string(),
            },
        }
    }
}
