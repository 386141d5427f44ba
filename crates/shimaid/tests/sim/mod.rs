//! A deterministic simulation of two shimai nodes: two [`Core`]s, each either driven
//! directly (core-level seeds) or through shimaid's own [`Driver`] over a simulated I/O
//! boundary (engine-level seeds: the driver that ships, nothing re-implemented), a simulated TCP link
//! (latency, in-order delivery, partitions, reconnects), simulated disks (a crash loses
//! unflushed writes at random; a metadata write can be torn and falls back to the previous
//! one), a simulated clock and a random workload of client writes, flushes, reads, role
//! changes, disconnects, crashes and restarts. Every choice comes from one seeded [`Rng`], so
//! a seed replays exactly.
//!
//! Invariants, checked as the run goes (see `check.rs` for the precise definitions):
//! 1. ack points: when a Primary answers a write, it is on its disk; and if the Primary was
//!    replicating to an UpToDate peer, A: the write was handed to the link, B: the peer received
//!    it, C: it is on the peer's disk;
//! 2. flushes: when a flush is answered, every write answered before the flush was issued is
//!    durable locally, and under B/C with an UpToDate peer also on the peer;
//! 3. promises: flushed data is never replaced by older data, unless the node's data was
//!    legitimately discarded (split-brain policy, --discard-my-data, invalidate, or a crash
//!    under protocol A, which promises only local durability);
//! 4. replicas are identical whenever both are Connected, UpToDate and idle, and the run ends
//!    with both converged after healing;
//! 5. a split brain is never resolved silently: it ends StandAlone with the split-brain
//!    handler, or a log line names the policy (which must be configured) or --discard-my-data.

pub mod check;
pub mod disk;
mod workload;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use shimai_nbd::Command;
use shimai_replication::{
    wire, Action, AdminCmd, AfterSb0Pri, AfterSb1Pri, AfterSb2Pri, Compression, Core, DiskResult,
    Error, Event, Fencing, Handler, IoId, Level, MetaRecord, OnCongestion, Protocol, ReqId,
    ResourceConfig, StateChange, TransportCmd,
};
use shimaid::driver::{DiskOp, Driver, DriverBugs, Io};

use self::disk::{payload, tags_of, Cell, Disk, Rng, BLOCKS, BS};

/// What a simulated disk operation does when it completes.
#[derive(Debug, Clone)]
enum Op {
    Write {
        offset: u64,
        data: Vec<u8>,
        fua: bool,
    },
    Read {
        offset: u64,
        len: u64,
    },
    Flush {
        snap: Vec<Cell>,
    },
    Al {
        extents: Vec<u32>,
    },
}

#[derive(Debug, Clone)]
struct PendingIo {
    io: IoId,
    at: u64,
    op: Op,
}

/// A client flush in flight, with what it must make durable.
#[derive(Debug, Clone)]
pub struct FlushRec {
    pub acked: BTreeMap<u64, u64>,
    pub conn_epoch: u64,
    pub replicating: bool,
    pub voids: u64,
}

/// A client's answer: read data, nothing, or an errno.
pub type Answer = Result<Option<Vec<u8>>, i32>;

/// The simulated side of shimaid's I/O boundary: every call becomes the action it stands for,
/// which the world then performs as it does for a bare core (scheduling disk operations,
/// carrying messages, checking replies). Metadata writes are synchronous in the driver's
/// contract; the world applies them before anything else happens, or tears them in a crash.
#[derive(Default)]
pub struct SimIo {
    out: Vec<Action>,
    /// The world's dice for metadata write errors: fail the write when set.
    pub fail_next_meta: bool,
    /// A metadata write failed (EIO) on this node since it started.
    pub meta_failed: bool,
    /// Client answers, as the daemon's clients see them (an errno for a failure).
    replies: Vec<(ReqId, Answer)>,
}

impl SimIo {
    /// A metadata write the world decided to fail: nothing reaches the disk.
    fn meta_error(&mut self) -> Result<(), String> {
        if std::mem::take(&mut self.fail_next_meta) {
            self.meta_failed = true;
            return Err("EIO (simulated)".into());
        }
        Ok(())
    }
}

impl Io for SimIo {
    type Client = ReqId;
    fn disk(&mut self, op: DiskOp) {
        self.out.push(match op {
            DiskOp::Write {
                io,
                offset,
                data,
                fua,
            } => Action::Write {
                io,
                offset,
                data,
                fua,
            },
            DiskOp::Read { io, offset, len } => Action::Read { io, offset, len },
            DiskOp::Trim { io, offset, len } => Action::Trim { io, offset, len },
            DiskOp::Flush { io } => Action::Flush { io },
        });
    }
    fn persist_meta(&mut self, rec: &MetaRecord) -> Result<(), String> {
        self.meta_error()?;
        self.out.push(Action::PersistMeta(*rec));
        Ok(())
    }
    fn persist_bitmap(&mut self, first_word: u64, words: &[u64]) -> Result<(), String> {
        self.meta_error()?;
        self.out.push(Action::PersistBitmap {
            first_word,
            words: words.to_vec(),
        });
        Ok(())
    }
    fn persist_al(&mut self, io: IoId, extents: &[u32]) -> Option<DiskResult> {
        self.out.push(Action::PersistAl {
            io,
            tr_number: 0,
            extents: extents.to_vec(),
        });
        None
    }
    fn send(&mut self, msg: &wire::Msg) {
        self.out.push(Action::Send(msg.clone()));
    }
    fn send_queue(&self) -> u64 {
        0
    }
    fn hold_writes(&mut self) {}
    fn reply(&mut self, to: ReqId, result: Result<Option<Vec<u8>>, i32>) {
        self.replies.push((to, result));
    }
    fn transport(&mut self, cmd: TransportCmd) {
        self.out.push(Action::Transport(cmd));
    }
    fn notify(&mut self, change: StateChange) {
        self.out.push(Action::Notify(change));
    }
    fn log(&mut self, level: Level, msg: String) {
        self.out.push(Action::Log { level, msg });
    }
    fn handler(&mut self, h: Handler) {
        self.out.push(Action::CallHandler(h));
    }
}

/// What runs a node: the bare core, or the core inside shimaid's driver.
pub enum Rt {
    Core(Box<Core>),
    Engine(Box<Driver<SimIo>>),
}

/// What a node did, in order: the actions to perform (a reply as the client sees it).
pub enum Out {
    Act(Action),
    Reply(ReqId, Result<Option<Vec<u8>>, i32>),
}

impl Rt {
    /// The simulated I/O of an engine-level node.
    pub fn io(&mut self) -> Option<&mut SimIo> {
        match self {
            Rt::Core(_) => None,
            Rt::Engine(d) => Some(&mut d.io),
        }
    }

    pub fn core(&self) -> &Core {
        match self {
            Rt::Core(c) => c,
            Rt::Engine(d) => d.core(),
        }
    }

    /// Feeds an event: client requests go to the driver as a daemon's clients send them.
    pub fn handle(&mut self, ev: Event) -> Result<(), Error> {
        let d = match self {
            Rt::Core(c) => return c.handle(ev),
            Rt::Engine(d) => d,
        };
        match ev {
            Event::Write {
                id,
                offset,
                data,
                fua,
            } => d.client(id, Command::Write { offset, data, fua }),
            Event::Read { id, offset, len } => d.client(
                id,
                Command::Read {
                    offset,
                    length: len as u32,
                },
            ),
            Event::Trim { id, offset, len } => d.client(
                id,
                Command::Trim {
                    offset,
                    length: len as u32,
                    fua: false,
                },
            ),
            Event::Flush { id } => d.client(id, Command::Flush),
            Event::Admin(cmd) => return d.admin(cmd),
            ev => d.feed(ev),
        }
        Ok(())
    }

    /// What the node did since the last call, in order.
    pub fn drain(&mut self) -> Vec<Out> {
        match self {
            Rt::Core(c) => {
                let mut v = Vec::new();
                while let Some(a) = c.poll_action() {
                    v.push(match a {
                        Action::Reply { id, result } => {
                            Out::Reply(id, result.map_err(|e| e.errno()))
                        }
                        a => Out::Act(a),
                    });
                }
                v
            }
            Rt::Engine(d) => {
                // Replies are interleaved with actions as the driver made them: the driver
                // answers a client only from a core Reply, which comes after what it waited
                // for, so putting replies last changes nothing the checks look at.
                let mut v: Vec<Out> = d.io.out.drain(..).map(Out::Act).collect();
                v.extend(d.io.replies.drain(..).map(|(id, r)| Out::Reply(id, r)));
                v
            }
        }
    }
}

/// One node: its core (None while crashed), disk and client bookkeeping.
pub struct Node {
    pub core: Option<Rt>,
    pub disk: Disk,
    ios: Vec<PendingIo>,
    pub wants_link: bool,
    pub conn: Option<u64>,
    restart_at: Option<u64>,
    next_req: ReqId,
    /// Writes in flight: request -> (first block, tags).
    pub writes: BTreeMap<ReqId, (u64, Vec<u64>)>,
    pub busy_blocks: BTreeSet<u64>,
    pub flushes: BTreeMap<ReqId, FlushRec>,
    pub reads: BTreeSet<ReqId>,
    /// Latest answered write per block.
    pub acked: BTreeMap<u64, u64>,
    /// Per block, the newest tag this node promised durable (0 = none).
    pub promise: Vec<u64>,
    /// Bumped whenever this node's data is legitimately discarded.
    pub voids: u64,
    pub conn_epoch: u64,
    /// Tags of Data messages this node handed to the link / received from it.
    pub emitted: BTreeSet<u64>,
    pub received: BTreeSet<u64>,
    /// The last handshake ended in an unresolved split brain.
    pub split_brain: bool,
    /// This node connected with --discard-my-data since the nodes last converged.
    pub discard_flag: bool,
    /// The peer was promoted by force from data that was not UpToDate: until the two nodes
    /// are reconciled, this node's writes may be legitimately discarded (operator's choice).
    pub overruled: bool,
    /// The last handshake refused to make this Primary a SyncTarget (`rr-conflict`).
    pub rr_conflict: bool,
    /// Crash at the next metadata write, tearing it.
    tear_next_meta: bool,
    /// The last handshake found no common ancestor after an operator's override.
    pub unrelated: bool,
}

impl Node {
    fn new() -> Node {
        Node {
            core: None,
            disk: Disk::new(),
            ios: Vec::new(),
            wants_link: false,
            conn: None,
            restart_at: None,
            next_req: 1,
            writes: BTreeMap::new(),
            busy_blocks: BTreeSet::new(),
            flushes: BTreeMap::new(),
            reads: BTreeSet::new(),
            acked: BTreeMap::new(),
            promise: vec![0; BLOCKS as usize],
            voids: 0,
            conn_epoch: 0,
            emitted: BTreeSet::new(),
            received: BTreeSet::new(),
            split_brain: false,
            discard_flag: false,
            overruled: false,
            rr_conflict: false,
            tear_next_meta: false,
            unrelated: false,
        }
    }

    pub fn void(&mut self) {
        self.voids += 1;
        self.acked.clear();
        self.promise.iter_mut().for_each(|p| *p = 0);
    }
}

/// A message (or the close of the connection: `None`) on its way.
type InFlight = (u64, u64, Option<wire::Msg>);

/// Options of one run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub steps: u32,
    /// Enable the deliberately broken ack rule.
    pub bug_ack_on_receive: bool,
    /// Run every node through shimaid's driver (engine-level seeds), with at least one crash
    /// and one partition per seed.
    pub engine: bool,
    /// Deliberately broken driver rules (engine-level self-test).
    pub driver_bugs: DriverBugs,
}

/// The simulated world.
pub struct Sim {
    pub now: u64,
    pub rng: Rng,
    pub nodes: [Node; 2],
    /// Messages from node i to the other.
    links: [VecDeque<InFlight>; 2],
    partitioned: bool,
    /// Connections broken by a partition or crash: nothing more gets through on them.
    dead: BTreeSet<u64>,
    conn_seq: u64,
    connect_at: Option<u64>,
    /// Scheduled connection losses: (at, node, conn).
    losses: Vec<(u64, usize, u64)>,
    /// Scheduled handler exits: (at, node, handler, code).
    handlers: Vec<(u64, usize, Handler, i32)>,
    pub cfg: ResourceConfig,
    next_tag: u64,
    next_tick: u64,
    trace: VecDeque<String>,
    pub keep_trace: bool,
    pub opts: Options,
    pub failure: Option<String>,
    /// Crashes and partitions so far.
    pub crashes: u32,
    pub partitions: u32,
}

impl Sim {
    pub fn new(seed: u64, opts: Options) -> Sim {
        let mut rng = Rng::new(seed);
        let mut cfg = ResourceConfig::new(BLOCKS * BS);
        cfg.protocol = rng.pick(&[Protocol::A, Protocol::B, Protocol::C]);
        cfg.after_sb_0pri = rng.pick(&[
            AfterSb0Pri::Disconnect,
            AfterSb0Pri::Disconnect,
            AfterSb0Pri::DiscardZeroChanges,
            AfterSb0Pri::DiscardLeastChanges,
            AfterSb0Pri::DiscardYoungerPrimary,
            AfterSb0Pri::DiscardOlderPrimary,
        ]);
        cfg.after_sb_1pri = rng.pick(&[
            AfterSb1Pri::Disconnect,
            AfterSb1Pri::DiscardSecondary,
            AfterSb1Pri::Consensus,
        ]);
        cfg.after_sb_2pri = rng.pick(&[AfterSb2Pri::Disconnect, AfterSb2Pri::ViolentlyAs0p]);
        cfg.max_epoch_size = rng.pick(&[2, 4, 2048]);
        cfg.al_extents = 7;
        cfg.resync_rate_kib = rng.pick(&[2048, 8192, 100_000]);
        cfg.c_plan_ahead_ds = rng.pick(&[0, 20]);
        cfg.c_fill_target_bytes = rng.pick(&[0, 51_200, 8 << 20]);
        cfg.c_min_rate_kib = rng.pick(&[0, 250, 4096]);
        // The WAN options: digests, compression and congestion (issue 13).
        let algs = ["crc32c", "sha1", "sha256", "md5"];
        cfg.verify_alg = Some(rng.pick(&algs).into());
        if rng.chance(400) {
            cfg.csums_alg = Some(rng.pick(&algs).into());
            cfg.csums_after_crash_only = rng.chance(300);
        }
        if rng.chance(250) {
            cfg.data_integrity_alg = Some(rng.pick(&algs).into());
        }
        // Compression costs simulation time (one zstd context per message): a fifth of seeds.
        cfg.compression = rng.pick(&[
            Compression::None,
            Compression::None,
            Compression::None,
            Compression::None,
            Compression::None,
            Compression::None,
            Compression::None,
            Compression::None,
            Compression::Lz4,
            Compression::Zstd,
        ]);
        if cfg.protocol == Protocol::A && rng.chance(500) {
            cfg.on_congestion = rng.pick(&[
                OnCongestion::PullAhead,
                OnCongestion::PullAhead,
                OnCongestion::Disconnect,
            ]);
            cfg.congestion_fill = rng.pick(&[4096, 16384, 65536]);
        }
        cfg.ping_int_ms = 1000;
        cfg.ping_timeout_ms = 500;
        if rng.chance(300) {
            cfg.shared_secret = Some(b"sim secret".to_vec());
        }
        cfg.fencing = rng.pick(&[
            Fencing::DontCare,
            Fencing::DontCare,
            Fencing::ResourceOnly,
            Fencing::ResourceAndStonith,
        ]);
        let mut sim = Sim {
            now: 0,
            rng,
            nodes: [Node::new(), Node::new()],
            links: [VecDeque::new(), VecDeque::new()],
            partitioned: false,
            dead: BTreeSet::new(),
            conn_seq: 0,
            connect_at: None,
            losses: Vec::new(),
            handlers: Vec::new(),
            cfg,
            next_tag: 1,
            next_tick: 0,
            trace: VecDeque::new(),
            keep_trace: false,
            opts,
            failure: None,
            crashes: 0,
            partitions: 0,
        };
        for n in 0..2 {
            sim.start_node(n);
        }
        sim
    }

    pub fn note(&mut self, line: impl FnOnce() -> String) {
        if self.keep_trace {
            let l = format!("{:>6}ms {}", self.now, line());
            self.trace.push_back(l);
            if self.trace.len() > 20_000 {
                self.trace.pop_front();
            }
        }
    }

    pub fn trace(&self) -> String {
        self.trace.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Engine-level faults of the disks' metadata area: now and then a metadata write fails
    /// with EIO. The node must give its disk up at once (Diskless); the operator then repairs
    /// it: new metadata (`create-md`) and a full sync from its peer.
    fn metadata_faults(&mut self) {
        for n in 0..2 {
            let arm = self.rng.chance(2);
            if let Some(io) = self.nodes[n].core.as_mut().and_then(Rt::io) {
                io.fail_next_meta = arm;
            }
        }
    }

    /// A node whose metadata write failed must have given its disk up; the operator repairs
    /// it (new metadata, then a full sync from the peer).
    fn repair_meta_failures(&mut self) {
        for n in 0..2 {
            let Some(io) = self.nodes[n].core.as_mut().and_then(Rt::io) else {
                continue;
            };
            if !io.meta_failed {
                continue;
            }
            let disk = self.core(n).map(|c| c.disk_state());
            if disk != Some(shimai_replication::DiskState::Diskless) {
                return self.fail(format!(
                    "node{n}: a metadata write failed, yet the node still acts on its disk ({disk:?})"
                ));
            }
            // Its on-disk identifiers and bitmap cannot be trusted any more: the operator
            // replaces the metadata (create-md), and the node syncs fully from its peer.
            self.note(|| format!("node{n}: metadata EIO handled: Diskless; metadata re-created"));
            self.recreate_metadata(n);
        }
    }

    /// `down`, `create-md` and `up` on node `n`, as an operator does after "Unrelated data":
    /// its data stays on the disk but counts for nothing until a full sync.
    pub fn recreate_metadata(&mut self, n: usize) {
        self.note(|| format!("node{n}: operator re-creates the metadata"));
        if self.nodes[n].core.is_some() {
            self.crash(n);
        }
        let fresh = shimai_replication::Persisted::just_created(BLOCKS * BS);
        let d = &mut self.nodes[n].disk;
        d.gi = fresh.gi;
        d.flags = fresh.flags;
        d.bitmap.iter_mut().for_each(|w| *w = 0);
        d.al.clear();
        self.nodes[n].void();
        self.nodes[n].restart_at = Some(self.now + 1);
    }

    /// Forces the faults every engine-level seed must see at least once.
    fn force_faults(&mut self, step: u32) {
        if step == self.opts.steps / 3 && self.crashes == 0 {
            let n = self.rng.below(2) as usize;
            if self.nodes[n].core.is_some() {
                self.crash(n);
            } else if self.nodes[1 - n].core.is_some() {
                self.crash(1 - n);
            }
        }
        if step == self.opts.steps / 2 && self.partitions == 0 && !self.partitioned {
            self.partition();
        }
    }

    pub fn fail(&mut self, what: String) {
        if self.failure.is_none() {
            self.note(|| format!("INVARIANT VIOLATED: {what}"));
            self.failure = Some(format!("at {}ms: {what}", self.now));
        }
    }

    fn start_node(&mut self, n: usize) {
        let entropy = self.rng.next();
        let p = self.nodes[n].disk.persisted();
        let mut core = Core::new(self.cfg.clone(), Some(p), entropy);
        // Test builds enable `sim-bug` (see Cargo.toml), which adds this switch.
        core.bugs.write_ack_on_receive = self.opts.bug_ack_on_receive;
        self.nodes[n].core = Some(if self.opts.engine {
            let mut d = Driver::new(core, SimIo::default(), u64::MAX);
            d.bugs = self.opts.driver_bugs;
            Rt::Engine(Box::new(d))
        } else {
            Rt::Core(Box::new(core))
        });
        self.nodes[n].restart_at = None;
        self.pump(n);
        self.admin(
            n,
            AdminCmd::Connect {
                discard_my_data: false,
            },
        );
    }

    /// Feeds an event to node `n` and performs the resulting actions.
    pub fn feed(&mut self, n: usize, ev: Event) {
        let Some(core) = self.nodes[n].core.as_mut() else {
            return;
        };
        let r = core.handle(ev);
        debug_assert!(r.is_ok());
        self.pump(n);
    }

    /// Runs an admin command; refusals are normal in a random workload.
    pub fn admin(&mut self, n: usize, cmd: AdminCmd) -> bool {
        let Some(core) = self.nodes[n].core.as_mut() else {
            return false;
        };
        let label = format!("{cmd:?}");
        let ok = core.handle(Event::Admin(cmd)).is_ok();
        self.note(|| {
            format!(
                "node{n}: admin {label} -> {}",
                if ok { "ok" } else { "refused" }
            )
        });
        self.pump(n);
        ok
    }

    fn pump(&mut self, n: usize) {
        let batch = self.nodes[n]
            .core
            .as_mut()
            .map(Rt::drain)
            .unwrap_or_default();
        let mut sb_compare = false;
        let mut sb_outcome: Option<String> = None;
        for out in batch {
            if self.nodes[n].core.is_none() {
                break; // crashed in the middle of the batch
            }
            let a = match out {
                Out::Reply(id, result) => {
                    check::on_reply(self, n, id, result);
                    continue;
                }
                Out::Act(a) => a,
            };
            match a {
                Action::Write {
                    io,
                    offset,
                    data,
                    fua,
                } => self.schedule(n, io, Op::Write { offset, data, fua }),
                Action::Trim { io, offset, len } => self.schedule(
                    n,
                    io,
                    Op::Write {
                        offset,
                        data: payload(&vec![0; (len / BS) as usize]),
                        fua: false,
                    },
                ),
                Action::Read { io, offset, len } => self.schedule(n, io, Op::Read { offset, len }),
                Action::Flush { io } => {
                    let snap = self.nodes[n].disk.cur.clone();
                    self.schedule(n, io, Op::Flush { snap });
                }
                Action::PersistAl { io, extents, .. } => self.schedule(n, io, Op::Al { extents }),
                Action::PersistMeta(rec) => {
                    self.note(|| {
                        format!(
                            "node{n}: md {:x}:{:x}:{:x}:{:x} flags {:#x}",
                            rec.gi.current,
                            rec.gi.bitmap,
                            rec.gi.history[0],
                            rec.gi.history[1],
                            rec.flags.0
                        )
                    });
                    if self.nodes[n].tear_next_meta {
                        self.note(|| format!("node{n}: crash tears a metadata write"));
                        self.crash(n);
                        break;
                    }
                    self.nodes[n].disk.gi = rec.gi;
                    self.nodes[n].disk.flags = rec.flags;
                }
                Action::PersistBitmap { first_word, words } => {
                    let bm = &mut self.nodes[n].disk.bitmap;
                    for (i, w) in words.into_iter().enumerate() {
                        if let Some(slot) = bm.get_mut(first_word as usize + i) {
                            *slot = w;
                        }
                    }
                }
                Action::Send(msg) => self.send(n, msg),
                Action::Reply { id, result } => {
                    check::on_reply(self, n, id, result.map_err(|e| e.errno()))
                }
                Action::Transport(cmd) => self.transport(n, cmd),
                Action::Notify(ch) => self.note(|| format!("node{n}: {ch}")),
                Action::Log { msg, .. } => {
                    if msg.starts_with("uuid_compare()=100 ")
                        || msg.starts_with("uuid_compare()=-100 ")
                    {
                        sb_compare = true;
                    }
                    if msg.starts_with("Split-Brain detected, resolved by") {
                        if msg.ends_with("discarded") {
                            self.nodes[n].void();
                        }
                        sb_outcome = Some(msg.clone());
                    }
                    if msg.starts_with("I shall become SyncTarget, but I am primary!") {
                        self.nodes[n].rr_conflict = true;
                    }
                    if msg.starts_with("Unrelated data") {
                        if self.nodes.iter().any(|x| x.overruled) {
                            // An operator forced a node's data that was not UpToDate; the two
                            // lineages then moved on apart until DRBD's two history slots no
                            // longer hold a common ancestor: DRBD says the same, and the
                            // operator re-creates one side's metadata (see `settle`).
                            self.nodes[n].unrelated = true;
                        } else {
                            self.fail(format!("node{n}: {msg}"));
                        }
                    }
                    self.note(|| format!("node{n}: log {msg}"));
                }
                Action::CallHandler(h) => {
                    self.note(|| format!("node{n}: handler {}", h.name()));
                    match h {
                        Handler::SplitBrain => {
                            self.nodes[n].split_brain = true;
                            sb_outcome = Some("handler".into());
                        }
                        Handler::FencePeer => self.handlers.push((self.now + 5, n, h, 4)),
                        _ => {}
                    }
                }
            }
        }
        if sb_compare {
            check::split_brain_outcome(self, n, sb_outcome);
        }
    }

    fn schedule(&mut self, n: usize, io: IoId, op: Op) {
        let at = self.now + self.rng.below(4);
        self.nodes[n].ios.push(PendingIo { io, at, op });
    }

    fn send(&mut self, n: usize, msg: wire::Msg) {
        if let wire::Msg::Data { payload, .. } = &msg {
            // Handed to the transport (the socket's send buffer): protocol A's ack point.
            let tags = tags_of(payload);
            self.nodes[n].emitted.extend(tags);
        }
        let Some(conn) = self.nodes[n].conn else {
            return;
        };
        if self.dead.contains(&conn) {
            return;
        }
        // Every message goes through the link codec with what the sender negotiated
        // (compression, zero markers), as on a real link.
        let opts = self
            .core(n)
            .map_or(wire::LinkOpts::PLAIN, |c| c.link_opts());
        let mut bytes = Vec::new();
        if let Err(e) = wire::encode_link(std::slice::from_ref(&msg), opts, &mut bytes) {
            return self.fail(format!("node{n}: cannot encode {msg:?}: {e}"));
        }
        let mut got = Vec::new();
        let msg = match wire::decode_link(&bytes, &mut got) {
            Ok(Some(d)) if d.used == bytes.len() && got.len() == 1 => got.remove(0),
            other => return self.fail(format!("codec round trip failed: {other:?}")),
        };

        let last = self.links[n].back().map_or(0, |m| m.0);
        let at = (self.now + self.rng.below(3)).max(last);
        self.links[n].push_back((at, conn, Some(msg)));
    }

    fn transport(&mut self, n: usize, cmd: TransportCmd) {
        if matches!(cmd, TransportCmd::Reconnect | TransportCmd::Shutdown) {
            if let Some(conn) = self.nodes[n].conn.take() {
                let last = self.links[n].back().map_or(0, |m| m.0);
                self.links[n].push_back((self.now.max(last), conn, None));
            }
        }
        self.nodes[n].wants_link = cmd != TransportCmd::Shutdown;
    }

    /// Node `n` loses power.
    pub fn crash(&mut self, n: usize) {
        self.crashes += 1;
        self.note(|| format!("node{n}: CRASH"));
        let node = &mut self.nodes[n];
        node.core = None;
        node.tear_next_meta = false;
        for p in std::mem::take(&mut node.ios) {
            if self.rng.chance(500) {
                match p.op {
                    Op::Write { offset, data, .. } => node.disk.write(offset, &data, false),
                    Op::Al { extents } => node.disk.al = extents,
                    _ => {}
                }
            }
        }
        node.disk.crash(&mut self.rng);
        node.writes.clear();
        // Answered but unflushed writes may be gone: only flushed ones (promises) must stay.
        node.acked.clear();
        node.busy_blocks.clear();
        node.flushes.clear();
        node.reads.clear();
        node.wants_link = false;
        if self.cfg.protocol == Protocol::A {
            // Protocol A promises local durability only: a failover may lose it.
            node.void();
        }
        if let Some(conn) = node.conn.take() {
            self.dead.insert(conn);
            self.links[0].retain(|m| m.1 != conn);
            self.links[1].retain(|m| m.1 != conn);
            let delay = self.rng.below(20);
            self.losses.push((self.now + delay, 1 - n, conn));
        }
        self.nodes[n].restart_at = Some(self.now + 20 + self.rng.below(200));
    }

    fn partition(&mut self) {
        self.partitions += 1;
        self.note(|| "PARTITION".into());
        self.partitioned = true;
        for n in 0..2 {
            if let Some(conn) = self.nodes[n].conn {
                self.dead.insert(conn);
                self.links[0].retain(|m| m.1 != conn);
                self.links[1].retain(|m| m.1 != conn);
                let delay = self.rng.below(30);
                self.losses.push((self.now + delay, n, conn));
            }
        }
    }

    /// One step of simulated time: deliveries, completions, ticks, connects.
    pub fn advance(&mut self) {
        self.now += 1 + self.rng.below(3);
        for from in 0..2 {
            let to = 1 - from;
            while self.links[from].front().is_some_and(|m| m.0 <= self.now) {
                let (_, conn, msg) = self.links[from].pop_front().expect("front");

                if self.nodes[to].conn != Some(conn) || self.nodes[to].core.is_none() {
                    continue;
                }
                match msg {
                    Some(m) => {
                        if let wire::Msg::Data { payload, .. } = &m {
                            let tags = tags_of(payload);
                            self.nodes[to].received.extend(tags);
                        }
                        self.feed(to, Event::Received(m));
                    }
                    None => {
                        self.nodes[to].conn = None;
                        self.feed(to, Event::ConnectionLost);
                    }
                }
            }
        }
        let due: Vec<(u64, usize, u64)> = self
            .losses
            .iter()
            .copied()
            .filter(|l| l.0 <= self.now)
            .collect();
        self.losses.retain(|l| l.0 > self.now);
        for (_, n, conn) in due {
            if self.nodes[n].conn == Some(conn) {
                self.nodes[n].conn = None;
                self.feed(n, Event::ConnectionLost);
            }
        }
        let hdone: Vec<_> = self
            .handlers
            .iter()
            .copied()
            .filter(|h| h.0 <= self.now)
            .collect();
        self.handlers.retain(|h| h.0 > self.now);
        for (_, n, h, code) in hdone {
            self.feed(
                n,
                Event::HandlerDone {
                    handler: h,
                    exit_code: code,
                },
            );
        }
        for n in 0..2 {
            self.complete_ios(n);
        }
        if self.now >= self.next_tick {
            self.next_tick = self.now + 10;
            for n in 0..2 {
                // The daemon reports its send queue (here: what the link still holds).
                let bytes: u64 = self.links[n]
                    .iter()
                    .filter_map(|m| m.2.as_ref())
                    .map(|m| match m {
                        // About a frame: header and fields plus the payload (no encoding
                        // here, it would cost every tick).
                        wire::Msg::Data { payload, .. }
                        | wire::Msg::ResyncReply { payload, .. } => 32 + payload.len() as u64,
                        _ => 32,
                    })
                    .sum();
                self.feed(n, Event::SendQueue { bytes });
                let entropy = self.rng.next();
                self.feed(
                    n,
                    Event::Tick {
                        now_ms: self.now,
                        entropy,
                    },
                );
            }
        }
        for n in 0..2 {
            if self.nodes[n].restart_at.is_some_and(|t| t <= self.now) {
                self.note(|| format!("node{n}: restart"));
                self.start_node(n);
            }
        }
        self.maybe_connect();
        if self.opts.engine {
            self.repair_meta_failures();
        }
        check::after_step(self);
    }

    fn complete_ios(&mut self, n: usize) {
        loop {
            let Some(pos) = self.nodes[n]
                .ios
                .iter()
                .enumerate()
                .filter(|(_, p)| p.at <= self.now)
                .min_by_key(|(_, p)| (p.at, p.io))
                .map(|(i, _)| i)
            else {
                return;
            };
            let p = self.nodes[n].ios.remove(pos);
            let disk = &mut self.nodes[n].disk;
            let result = match p.op {
                Op::Write { offset, data, fua } => {
                    disk.write(offset, &data, fua);
                    DiskResult::Done
                }
                Op::Read { offset, len } => DiskResult::Data(disk.read(offset, len)),
                Op::Flush { snap } => {
                    disk.flushed(&snap);
                    DiskResult::Done
                }
                Op::Al { extents } => {
                    disk.al = extents;
                    DiskResult::Done
                }
            };
            self.feed(n, Event::DiskDone { io: p.io, result });
            if self.nodes[n].core.is_none() {
                return;
            }
        }
    }

    fn maybe_connect(&mut self) {
        let ready = !self.partitioned
            && self
                .nodes
                .iter()
                .all(|n| n.core.is_some() && n.wants_link && n.conn.is_none())
            && self.links.iter().all(|l| l.is_empty());
        if !ready {
            self.connect_at = None;
            return;
        }
        let at = *self.connect_at.get_or_insert(self.now + 5);
        if self.now < at {
            return;
        }
        self.connect_at = None;
        self.conn_seq += 1;
        let conn = self.conn_seq;
        self.note(|| format!("TRANSPORT UP (connection {conn})"));
        for n in 0..2 {
            self.nodes[n].conn = Some(conn);
            self.nodes[n].conn_epoch += 1;
            self.nodes[n].received.clear();
            self.nodes[n].emitted.clear();
        }
        for n in 0..2 {
            let challenge = self.rng.next().to_le_bytes().repeat(4);
            self.feed(
                n,
                Event::Connected {
                    resolve_conflicts: n == 0,
                    challenge,
                },
            );
        }
    }

    /// Node `n`'s connection was broken by a crash or partition.
    pub fn link_dead(&self, n: usize) -> bool {
        self.nodes[n].conn.is_some_and(|c| self.dead.contains(&c))
    }

    /// A broken connection that a node has not noticed yet.
    pub fn loss_pending(&self) -> bool {
        !self.losses.is_empty()
    }

    pub fn core(&self, n: usize) -> Option<&Core> {
        self.nodes[n].core.as_ref().map(Rt::core)
    }
}

/// Runs one seed: a workload of `steps`, then healing and the final checks.
pub fn run_seed(seed: u64, opts: Options, keep_trace: bool) -> Result<(), (String, String)> {
    let mut sim = Sim::new(seed, opts);
    sim.keep_trace = keep_trace;
    sim.initial_setup();
    for step in 0..opts.steps {
        if sim.failure.is_some() {
            break;
        }
        if opts.engine {
            sim.force_faults(step);
            sim.metadata_faults();
        }
        sim.workload();
        sim.advance();
    }
    if sim.failure.is_none() {
        sim.settle();
    }
    match sim.failure.take() {
        None => Ok(()),
        Some(f) => Err((
            format!(
                "{}seed {seed} (protocol {}, 0pri {:?}, 1pri {:?}, 2pri {:?}): {f}",
                if opts.engine { "engine-level " } else { "" },
                sim.cfg.protocol,
                sim.cfg.after_sb_0pri,
                sim.cfg.after_sb_1pri,
                sim.cfg.after_sb_2pri
            ),
            sim.trace(),
        )),
    }
}

impl Sim {
    /// Connects the fresh nodes and makes node 0's data the good copy: either a forced
    /// primary (full sync) or skipping the initial sync of fresh metadata.
    pub fn initial_setup(&mut self) {
        let sim = self;
        for _ in 0..20 {
            sim.advance();
        }
        if sim.rng.chance(500) {
            sim.admin(0, AdminCmd::Primary { force: true });
        } else {
            sim.admin(0, AdminCmd::NewCurrentUuid { clear_bitmap: true });
        }
        // Let the initial setup land before the workload races it (a concurrent forced promotion
        // of the other fresh node would make the data legitimately unrelated).
        for _ in 0..10 {
            sim.advance();
        }
    }
}
