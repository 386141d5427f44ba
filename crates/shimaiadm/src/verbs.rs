//! Running a verb on the resources it names.
//!
//! Each verb is carried out per resource, in configuration order; with
//! `all`, a failure on one resource is reported and the others still run
//! (as `drbdadm up all` on a mutual-backup pair must start the healthy
//! resource), and the exit code is the first failure's.

use std::io::Write;
use std::sync::mpsc;

use shimai_config::{Config, Resource};
use shimai_metadata::{detect, Detected, MdFlags, MetaDevice, Placement};
use shimaid::control::{Request, StatusReport};

use crate::cli::{Verb, Wait};
use crate::context::{Loaded, Settings};
use crate::convertmd;
use crate::createmd::{self, Overwrite};
use crate::daemon::{self, WaitFor};
use crate::error::AdmError;
use crate::format::{self, proc::Minor};
use crate::metaview;
use crate::wfc;

/// Where a verb writes, and how it asks a question (`None`: no terminal).
pub struct Console<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub ask: Option<&'a mut dyn FnMut(&str) -> bool>,
}

impl Console<'_> {
    fn fail(&mut self, e: &AdmError) -> i32 {
        let _ = writeln!(self.err, "shimaiadm: {e}");
        e.exit_code()
    }

    fn print(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

/// Runs `verb`; returns the exit code.
pub fn run(settings: &Settings, verb: &Verb, con: &mut Console<'_>) -> i32 {
    run_with(settings, verb, false, con)
}

/// Runs `verb`, or with `dry_run` prints what it would do (`-d`).
pub fn run_with(settings: &Settings, verb: &Verb, dry_run: bool, con: &mut Console<'_>) -> i32 {
    let loaded = match Loaded::load(&settings.config) {
        Ok(l) => l,
        Err(e) => return con.fail(&e),
    };
    if matches!(
        verb,
        Verb::Dump(_)
            | Verb::Up(_)
            | Verb::Adjust(_)
            | Verb::CreateMd { .. }
            | Verb::ConvertMd { .. }
    ) {
        for w in &loaded.warnings {
            let _ = writeln!(con.err, "shimaiadm: {w}");
        }
    }
    if let Verb::Exporter { listen } = verb {
        if dry_run {
            con.print(&format!("would serve metrics on http://{listen}/metrics\n"));
            return 0;
        }
        return crate::exporter::serve(settings, *listen, con.err);
    }
    if let Verb::Dump(t) = verb {
        return dump(&loaded, &t.res, con);
    }
    let resources = match loaded.select(verb.target(), &settings.node) {
        Ok(r) => r,
        Err(e) => return con.fail(&e),
    };
    if let Verb::Sh { what, .. } = verb {
        return sh(settings, &resources, *what, con);
    }
    if dry_run {
        for r in &resources {
            con.print(&format!("{}\n", dry_run_line(settings, r, verb)));
        }
        return 0;
    }
    match verb {
        Verb::Proc(_) => return proc(settings, &resources, con),
        Verb::Status { json: true, .. } => return status_json(settings, &resources, con),
        Verb::Events {
            now,
            timestamps,
            statistics,
            ..
        } => {
            let how = EventsHow {
                now: *now,
                timestamps: *timestamps,
                statistics: *statistics,
            };
            return events(settings, &resources, how, con);
        }
        _ => {}
    }
    let mut code = 0;
    for r in resources {
        if let Err(e) = one(settings, &loaded, r, verb, con) {
            let c = con.fail(&e);
            if code == 0 {
                code = c;
            }
        }
    }
    code
}

/// A verb on one resource.
fn one(
    settings: &Settings,
    loaded: &Loaded,
    r: &Resource,
    verb: &Verb,
    con: &mut Console<'_>,
) -> Result<(), AdmError> {
    let name = r.name.as_str();
    let simple = |req: Request| daemon::command(settings, name, &req);
    let said = match verb {
        Verb::CreateMd { force, .. } => return create_md(settings, loaded, r, *force, con),
        Verb::ConvertMd { to, .. } => return convert_md(settings, loaded, r, to, con),
        Verb::GetGi(_) | Verb::DumpMd(_) => return show_md(settings, loaded, r, verb, con),
        Verb::Up(_) => return daemon::start(settings, name),
        Verb::Down(_) => return daemon::stop(settings, name),
        Verb::Adjust(_) => {
            if daemon::is_up(settings, name) {
                simple(Request::Adjust)?
            } else {
                return daemon::start(settings, name);
            }
        }
        Verb::Role(_) => return show(con, &daemon::status(settings, name)?, format::legacy::role),
        Verb::Cstate(_) => {
            return show(
                con,
                &daemon::status(settings, name)?,
                format::legacy::cstate,
            )
        }
        Verb::Dstate(_) => {
            return show(
                con,
                &daemon::status(settings, name)?,
                format::legacy::dstate,
            )
        }
        Verb::Status {
            verbose,
            statistics,
            ..
        } => {
            let s = daemon::status(settings, name)?;
            con.print(&format::status::status_text_with(&s, *verbose, *statistics));
            return Ok(());
        }
        Verb::Resize { .. } | Verb::SuspendIo(_) | Verb::ResumeIo(_) => {
            return Err(not_supported_yet(name, verb))
        }
        Verb::WaitConnect(w) => return wait(settings, r, w, WaitFor::Connection),
        Verb::WaitSync(w) => return wait(settings, r, w, WaitFor::Sync),
        Verb::Attach(_) => simple(Request::Attach)?,
        Verb::Detach(_) => simple(Request::Detach)?,
        Verb::Connect {
            discard_my_data, ..
        } => simple(Request::Connect {
            discard_my_data: *discard_my_data,
        })?,
        Verb::Disconnect(_) => simple(Request::Disconnect)?,
        Verb::Primary { force, .. } => simple(Request::Primary { force: *force })?,
        Verb::Secondary(_) => simple(Request::Secondary)?,
        Verb::Verify(_) => simple(Request::Verify)?,
        Verb::Invalidate(_) => simple(Request::Invalidate)?,
        Verb::InvalidateRemote(_) => simple(Request::InvalidateRemote)?,
        Verb::NewCurrentUuid { clear_bitmap, .. } => simple(Request::NewCurrentUuid {
            clear_bitmap: *clear_bitmap,
        })?,
        Verb::Outdate(_) => simple(Request::Outdate)?,
        Verb::PauseSync(_) => simple(Request::PauseSync)?,
        Verb::ResumeSync(_) => simple(Request::ResumeSync)?,
        // Handled for all resources at once in `run`.
        Verb::Proc(_)
        | Verb::Events { .. }
        | Verb::Dump(_)
        | Verb::Exporter { .. }
        | Verb::Sh { .. } => None,
    };
    if let Some(msg) = said {
        con.print(&format!("{}\n", daemon::about(name, &msg)));
    }
    Ok(())
}

fn show(
    con: &mut Console<'_>,
    s: &StatusReport,
    f: fn(&StatusReport) -> String,
) -> Result<(), AdmError> {
    con.print(&f(s));
    Ok(())
}

/// `dump`: the canonical text of the whole file, or of one resource
/// (with the file's `global` and `common`). Not limited to this node.
fn dump(loaded: &Loaded, name: &str, con: &mut Console<'_>) -> i32 {
    if name == "all" {
        con.print(&loaded.config.dump());
        return 0;
    }
    let Some(r) = loaded.config.resource(name) else {
        // Reuse the message that lists the configured names.
        return match loaded.select(name, "") {
            Err(e) => con.fail(&e),
            Ok(_) => 0,
        };
    };
    let one = Config {
        resources: vec![r.clone()],
        ..loaded.config.clone()
    };
    con.print(&one.dump());
    0
}

/// The minor number /proc/drbd shows for a resource that is down.
fn minor_of(r: &Resource, node: &str) -> u32 {
    r.host_for(node)
        .and_then(|h| h.volumes.first())
        .map_or(0, |v| v.device.minor)
}

fn proc(settings: &Settings, resources: &[&Resource], con: &mut Console<'_>) -> i32 {
    let mut code = 0;
    let mut reports = Vec::new();
    let mut down = Vec::new();
    for r in resources {
        match daemon::status(settings, &r.name) {
            Ok(s) => reports.push(s),
            // /proc/drbd shows a configured minor that is down this way.
            Err(AdmError::NotRunning { .. }) => down.push(minor_of(r, &settings.node)),
            Err(e) => {
                let c = con.fail(&e);
                if code == 0 {
                    code = c;
                }
            }
        }
    }
    let mut minors: Vec<Minor<'_>> = reports.iter().map(Minor::Up).collect();
    minors.extend(down.into_iter().map(|minor| Minor::Down { minor }));
    con.print(&format::proc::proc_file(&minors));
    code
}

fn status_json(settings: &Settings, resources: &[&Resource], con: &mut Console<'_>) -> i32 {
    let mut code = 0;
    let mut reports = Vec::new();
    for r in resources {
        match daemon::status(settings, &r.name) {
            Ok(s) => reports.push(s),
            Err(e) => {
                let c = con.fail(&e);
                if code == 0 {
                    code = c;
                }
            }
        }
    }
    let refs: Vec<&StatusReport> = reports.iter().collect();
    con.print(&format::json(&refs));
    code
}

/// The options of `events`/`events2`.
#[derive(Debug, Clone, Copy)]
struct EventsHow {
    now: bool,
    timestamps: bool,
    statistics: bool,
}

/// The peer's node id as drbdsetup names it: its `node-id`, else its place
/// among the `on` sections (DRBD 8.4 files have no node ids).
fn peer_node_id(r: &Resource, node: &str) -> u32 {
    let Some(peer) = r.peer_of(node) else {
        return 1;
    };
    peer.node_id.unwrap_or_else(|| {
        r.hosts
            .iter()
            .position(|h| std::ptr::eq(h, peer))
            .map_or(1, |i| i as u32)
    })
}

/// This node's id: its `node-id`, else its place among the `on` sections.
fn own_node_id(r: &Resource, node: &str) -> Option<u32> {
    let i = r
        .hosts
        .iter()
        .position(|h| !h.floating && h.names.iter().any(|n| n == node))?;
    Some(r.hosts[i].node_id.unwrap_or(i as u32))
}

/// `resize`, `suspend-io`, `resume-io`: the control protocol has no request
/// for them yet, so nothing is sent.
fn not_supported_yet(name: &str, verb: &Verb) -> AdmError {
    let word = match verb {
        Verb::Resize { .. } => "resize",
        Verb::SuspendIo(_) => "suspend-io",
        _ => "resume-io",
    };
    AdmError::Refused {
        code: 1,
        message: format!(
            "{name}: {word} is not supported by this shimaid yet (issue 14: it acts inside the \
             replication engine); nothing was changed"
        ),
    }
}

/// `sh-*`: values from the configuration, one line per volume (as drbdadm).
fn sh(
    settings: &Settings,
    resources: &[&Resource],
    what: crate::cli::ShWhat,
    con: &mut Console<'_>,
) -> i32 {
    use crate::cli::ShWhat;
    use shimai_config::MetaDisk;
    match what {
        ShWhat::Nop => return 0,
        ShWhat::Resources => {
            let names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
            con.print(&format!("{}\n", names.join(" ")));
            return 0;
        }
        _ => {}
    }
    let mut code = 0;
    for r in resources {
        let Some(host) = r.host_for(&settings.node) else {
            continue;
        };
        match what {
            ShWhat::Ip => match &host.address {
                Some(a) => con.print(&format!("{}\n", a.ip)),
                None => {
                    let _ = writeln!(
                        con.err,
                        "shimaiadm: {}: no address for {} in the `on` section",
                        r.name, settings.node
                    );
                    code = 10;
                }
            },
            ShWhat::NodeId => {
                if let Some(id) = own_node_id(r, &settings.node) {
                    con.print(&format!("{id}\n"));
                }
            }
            _ => {
                for v in &host.volumes {
                    let line = match what {
                        ShWhat::Dev => v.device.path(),
                        ShWhat::Minor => v.device.minor.to_string(),
                        ShWhat::LlDev => v.disk.clone().unwrap_or_else(|| "none".into()),
                        ShWhat::MdDev => match &v.meta_disk {
                            MetaDisk::Internal => v.disk.clone().unwrap_or_else(|| "none".into()),
                            MetaDisk::External { path, .. } => path.clone(),
                        },
                        ShWhat::MdIdx => match &v.meta_disk {
                            MetaDisk::Internal => "internal".into(),
                            MetaDisk::External { index: None, .. } => "flexible".into(),
                            MetaDisk::External { index: Some(i), .. } => i.to_string(),
                        },
                        _ => continue,
                    };
                    con.print(&format!("{line}\n"));
                }
            }
        }
    }
    code
}

/// What `-d` prints for `verb` on `r`: the request that would be sent, or
/// the daemon or metadata action that would be taken.
fn dry_run_line(settings: &Settings, r: &Resource, verb: &Verb) -> String {
    let name = r.name.as_str();
    let sock = daemon::socket(settings, name);
    let send = |req: Request| {
        let json = serde_json::to_string(&req).unwrap_or_default();
        format!("{name}: would send {json} to {}", sock.display())
    };
    match verb {
        Verb::Up(_) => format!(
            "{name}: would start shimaid -c {} --node {} --run-dir {} {name}",
            settings.config.display(),
            settings.node,
            settings.run_dir.display()
        ),
        Verb::Adjust(_) => format!(
            "{name}: would send {{\"cmd\":\"adjust\"}} to {} (or start shimaid if it is not running)",
            sock.display()
        ),
        Verb::Down(_) => send(Request::Down),
        Verb::CreateMd { force, .. } => format!(
            "{name}: would write fresh metadata on this node's disks{}",
            if *force { " (--force: without asking)" } else { "" }
        ),
        Verb::ConvertMd { to, .. } => {
            format!("{name}: would convert the metadata on this node's disks to {to}")
        }
        Verb::GetGi(_) | Verb::DumpMd(_) => {
            format!("{name}: would read the metadata on this node's disks")
        }
        Verb::Attach(_) => send(Request::Attach),
        Verb::Detach(_) => send(Request::Detach),
        Verb::Connect {
            discard_my_data, ..
        } => send(Request::Connect {
            discard_my_data: *discard_my_data,
        }),
        Verb::Disconnect(_) => send(Request::Disconnect),
        Verb::Primary { force, .. } => send(Request::Primary { force: *force }),
        Verb::Secondary(_) => send(Request::Secondary),
        Verb::Verify(_) => send(Request::Verify),
        Verb::Invalidate(_) => send(Request::Invalidate),
        Verb::InvalidateRemote(_) => send(Request::InvalidateRemote),
        Verb::NewCurrentUuid { clear_bitmap, .. } => send(Request::NewCurrentUuid {
            clear_bitmap: *clear_bitmap,
        }),
        Verb::Outdate(_) => send(Request::Outdate),
        Verb::PauseSync(_) => send(Request::PauseSync),
        Verb::ResumeSync(_) => send(Request::ResumeSync),
        Verb::Events { now, .. } => send(Request::Events { now: *now }),
        Verb::Resize { .. } | Verb::SuspendIo(_) | Verb::ResumeIo(_) => {
            format!("{}; would send nothing", not_supported_yet(name, verb))
        }
        Verb::WaitConnect(_) | Verb::WaitSync(_) => format!(
            "{name}: would poll {} with {{\"cmd\":\"status\"}} until the wait is over",
            sock.display()
        ),
        Verb::Role(_)
        | Verb::Cstate(_)
        | Verb::Dstate(_)
        | Verb::Status { .. }
        | Verb::Proc(_)
        | Verb::Dump(_)
        | Verb::Sh { .. }
        | Verb::Exporter { .. } => send(Request::Status),
    }
}

/// What an event reader sends to the writing thread.
enum EventMsg {
    Line(String),
    /// This resource's initial state is complete (its `exists -`, or the
    /// end of its stream).
    InitialDone,
    /// This resource's reader failed before its initial state was complete.
    Failed,
}

/// `events`: one reader thread per resource; the lines come back over a
/// channel and are written whole, in arrival order, by this thread. As
/// `drbdsetup events2`, one `exists -` follows the initial state of all
/// the resources together.
fn events(
    settings: &Settings,
    resources: &[&Resource],
    how: EventsHow,
    con: &mut Console<'_>,
) -> i32 {
    let now = how.now;
    let (tx, rx) = mpsc::channel::<EventMsg>();
    let results: Vec<Result<(), AdmError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = resources
            .iter()
            .map(|r| {
                let tx = tx.clone();
                let name = r.name.clone();
                let ids = format::events::Ids {
                    peer_node_id: peer_node_id(r, &settings.node),
                    minor: minor_of(r, &settings.node),
                };
                scope.spawn(move || {
                    let mut done = false;
                    let result = daemon::events(settings, &name, now, &mut |e| {
                        if format::events::ends_initial_state(e) {
                            if !done {
                                done = true;
                                let _ = tx.send(EventMsg::InitialDone);
                            }
                        } else {
                            // A change ends the initial state even when the
                            // daemon sent no `exists -` before it.
                            if !done && e.kind != "exists" {
                                done = true;
                                let _ = tx.send(EventMsg::InitialDone);
                            }
                            let stats = if how.statistics && e.object != "resource" {
                                daemon::status(settings, &name).ok()
                            } else {
                                None
                            };
                            let mut text = format::events::event_line_drbd(e, &ids, stats.as_ref());
                            if how.timestamps {
                                text = format!(
                                    "{} {text}",
                                    format::events::timestamp(std::time::SystemTime::now())
                                );
                            }
                            let _ = tx.send(EventMsg::Line(text));
                        }
                    });
                    if !done {
                        let _ = tx.send(if result.is_ok() {
                            EventMsg::InitialDone
                        } else {
                            EventMsg::Failed
                        });
                    }
                    result
                })
            })
            .collect();
        // The loop ends when every reader has finished and dropped its sender.
        drop(tx);
        let mut pending = resources.len();
        let mut complete = 0;
        for msg in rx {
            match msg {
                EventMsg::Line(line) => con.print(&line),
                EventMsg::InitialDone | EventMsg::Failed => {
                    if matches!(msg, EventMsg::InitialDone) {
                        complete += 1;
                    }
                    pending -= 1;
                    if pending == 0 && complete > 0 {
                        if how.timestamps {
                            let t = format::events::timestamp(std::time::SystemTime::now());
                            con.print(&format!("{t} exists -\n"));
                        } else {
                            con.print("exists -\n");
                        }
                    }
                }
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(AdmError::Daemon {
                        code: 1,
                        message: "an event reader failed".into(),
                    })
                })
            })
            .collect()
    });
    let mut code = 0;
    for r in results {
        if let Err(e) = r {
            let c = con.fail(&e);
            if code == 0 {
                code = c;
            }
        }
    }
    code
}

/// The local metadata flags, read without writing (the daemon may be
/// running); `None` when they cannot be read.
fn local_flags(r: &Resource, node: &str) -> Option<MdFlags> {
    let v = r.host_for(node)?.volumes.first()?;
    let (path, placement) = match &v.meta_disk {
        shimai_config::MetaDisk::Internal => (v.disk.clone()?, Placement::Internal),
        shimai_config::MetaDisk::External { path, index } => (
            path.clone(),
            index.map_or(Placement::External, Placement::Indexed),
        ),
    };
    let file = daemon::open_ro(&path)?;
    match detect(
        &MetaDevice::new(&file, path.as_str(), r.name.as_str()),
        placement,
    ) {
        Ok(Detected::Present(sb)) => Some(sb.flags),
        _ => None,
    }
}

fn wait(settings: &Settings, r: &Resource, w: &Wait, what: WaitFor) -> Result<(), AdmError> {
    let chosen = if w.timeout.is_some() {
        None
    } else {
        wfc::choose(&r.startup, local_flags(r, &settings.node))
    };
    let timeout = wfc::with_override(w.timeout, chosen);
    daemon::wait(settings, &r.name, what, timeout)
}

/// `get-gi` and `dump-md`, for every volume with a disk.
fn show_md(
    settings: &Settings,
    loaded: &Loaded,
    r: &Resource,
    verb: &Verb,
    con: &mut Console<'_>,
) -> Result<(), AdmError> {
    for t in createmd::targets(r, &settings.node, &loaded.file)? {
        let (sb, extra) = metaview::read(&t)?;
        let text = match verb {
            Verb::DumpMd(_) => format::gi::dump_md(&r.name, &t.md, &sb, &extra),
            _ => format::gi::get_gi(&sb),
        };
        con.print(&text);
    }
    Ok(())
}

fn create_md(
    settings: &Settings,
    loaded: &Loaded,
    r: &Resource,
    force: bool,
    con: &mut Console<'_>,
) -> Result<(), AdmError> {
    if daemon::is_up(settings, &r.name) {
        return Err(AdmError::Refused {
            code: 1,
            message: format!(
                "{}: shimaid is running and owns the disk; run `shimaiadm down {}` first (create-md works offline)",
                r.name, r.name
            ),
        });
    }
    let targets = createmd::targets(r, &settings.node, &loaded.file)?;
    // Check every volume before writing any.
    let plans = targets
        .iter()
        .map(createmd::plan)
        .collect::<Result<Vec<_>, _>>()?;
    for plan in &plans {
        let line = {
            let mut overwrite = if force {
                Overwrite::Yes
            } else if let Some(ask) = con.ask.as_mut() {
                Overwrite::Ask(&mut **ask)
            } else {
                Overwrite::Refuse
            };
            createmd::execute(plan, &mut overwrite)?
        };
        con.print(&format!("{line}\n"));
    }
    Ok(())
}

/// `convert-md`, for every volume with a disk, offline.
fn convert_md(
    settings: &Settings,
    loaded: &Loaded,
    r: &Resource,
    to: &str,
    con: &mut Console<'_>,
) -> Result<(), AdmError> {
    if daemon::is_up(settings, &r.name) {
        return Err(AdmError::Refused {
            code: 1,
            message: format!(
                "{}: shimaid is running and owns the disk; run `shimaiadm down {}` first (convert-md works offline)",
                r.name, r.name
            ),
        });
    }
    let direction = convertmd::Direction::parse(to).ok_or_else(|| AdmError::Refused {
        code: 2,
        message: format!("convert-md --to {to}: use shimai, drbd-v08 or drbd-v09"),
    })?;
    let ids = convertmd::node_ids(r, &settings.node);
    for t in createmd::targets(r, &settings.node, &loaded.file)? {
        let line = convertmd::convert(&t, direction, ids)?;
        con.print(&format!("{line}\n"));
    }
    Ok(())
}
