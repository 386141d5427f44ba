//! The tgt implementation of both agents' actions.

use std::time::Duration;

use ocf::{Context, ExitCode, OcfError, Result};

use crate::config::{LuConfig, TargetConfig};
use crate::show::{self, Target};
use crate::tgt::{err, Client, Error, Mode, Op, Request};

/// The tgtd this resource talks to, with request timeouts bounded by the operation's deadline.
pub fn client(ctx: &Context, control_port: u16) -> Client {
    let base = std::env::var("TGT_IPC_SOCKET").ok();
    Client::new(
        Client::socket_path(base.as_deref(), control_port),
        Duration::from_secs(5),
    )
    .with_deadline(ctx.deadline())
}

fn fail(what: &str, e: &Error) -> OcfError {
    OcfError::generic(format!("{what}: {e}"))
}

/// Every target, from one show request.
pub fn targets(c: &Client) -> std::result::Result<Vec<Target>, Error> {
    c.call(&Request::new(Mode::Target, Op::Show))
        .map(|t| show::parse(&t))
}

/// Refuses a tgtd whose management protocol this agent does not know.
pub fn check_version(ctx: &Context, c: &Client) -> Result<()> {
    match c.daemon_version() {
        Ok(Some(v)) if crate::tgt::version_known(&v) => {
            ctx.log
                .debug(&format!("tgtd {v} on {}", c.socket.display()));
            Ok(())
        }
        Ok(Some(v)) => Err(OcfError::installed(format!(
            "tgtd {v} on {}: its management protocol is not one this agent knows \
             (tgt 1.0.85 to 1.0.97); install a tgt in that range",
            c.socket.display()
        ))),
        Ok(None) => Err(OcfError::installed(format!(
            "cannot tell the version of the tgtd on {} (its executable is not readable \
             through /proc); refusing a management protocol this agent does not know",
            c.socket.display()
        ))),
        Err(e) => Err(unreachable(&e)),
    }
}

fn unreachable(e: &Error) -> OcfError {
    match e {
        Error::Unreachable(s) => OcfError::generic(format!(
            "{s}: start tgtd (systemctl start tgt) before the resource"
        )),
        other => OcfError::generic(other.to_string()),
    }
}

// ---------------------------------------------------------------- target

pub fn target_monitor(ctx: &Context, c: &Client, cfg: &TargetConfig) -> Result<ExitCode> {
    let tid = cfg.tid.unwrap_or(0);
    let all = match targets(c) {
        Ok(t) => t,
        Err(Error::Unreachable(s)) => {
            ctx.log.debug(&s);
            return Ok(ExitCode::NotRunning);
        }
        Err(e) => return Err(fail("monitor", &e)),
    };
    let Some(t) = all.iter().find(|t| t.tid == tid) else {
        return Ok(ExitCode::NotRunning);
    };
    if t.iqn != cfg.iqn {
        ctx.log.warn(&format!(
            "tid {tid} belongs to another target ({}); {} is not running",
            t.iqn, cfg.iqn
        ));
        return Ok(ExitCode::NotRunning);
    }
    if t.state != "ready" {
        return Err(OcfError::generic(format!(
            "target {} (tid {tid}) is {} in tgtd: initiators cannot log in",
            cfg.iqn, t.state
        )));
    }
    Ok(ExitCode::Success)
}

pub fn target_start(ctx: &Context, c: &Client, cfg: &TargetConfig) -> Result<ExitCode> {
    let tid = cfg.tid.unwrap_or(0);
    check_version(ctx, c)?;
    let all = targets(c).map_err(|e| unreachable(&e))?;
    if let Some(t) = all.iter().find(|t| t.iqn == cfg.iqn && t.tid != tid) {
        return Err(OcfError::generic(format!(
            "{} already exists in tgtd with tid {}, not {tid}: remove it (tgtadm --op delete \
             --mode target --tid {}) or set tid={}",
            cfg.iqn, t.tid, t.tid, t.tid
        )));
    }
    let existing = all.iter().find(|t| t.tid == tid);
    match existing {
        Some(t) if t.iqn != cfg.iqn => {
            return Err(OcfError::generic(format!(
                "tid {tid} is used by another target ({}) in tgtd: choose another tid",
                t.iqn
            )))
        }
        Some(_) => ctx.log.info(&format!(
            "target {} (tid {tid}) exists; checking its settings",
            cfg.iqn
        )),
        None => {
            c.call(
                &Request::new(Mode::Target, Op::New)
                    .tid(tid)
                    .body(format!("targetname={}", cfg.iqn)),
            )
            .map_err(|e| fail(&format!("creating target {} (tid {tid})", cfg.iqn), &e))?;
        }
    }
    let created = existing.is_none();
    let others: Vec<&Target> = all.iter().filter(|t| t.tid != tid).collect();
    match configure_target(c, cfg, existing, &others) {
        Ok(()) => Ok(ExitCode::Success),
        Err(e) => {
            if created {
                let _ = c.call(&Request::new(Mode::Target, Op::Delete).tid(tid));
            }
            Err(e)
        }
    }
}

fn configure_target(
    c: &Client,
    cfg: &TargetConfig,
    existing: Option<&Target>,
    others: &[&Target],
) -> Result<()> {
    let tid = cfg.tid.unwrap_or(0);
    for (k, v) in &cfg.additional {
        c.call(
            &Request::new(Mode::Target, Op::Update)
                .tid(tid)
                .body(format!("{k}={v}")),
        )
        .map_err(|e| fail(&format!("additional_parameters {k}={v}"), &e))?;
    }
    let bound: Vec<&str> = existing
        .map(|t| t.acls.iter().map(String::as_str).collect())
        .unwrap_or_default();
    // Bindings not in the configuration (left by an earlier configuration) go.
    if let Some(t) = existing {
        for acl in &t.acls {
            if !cfg.initiators.iter().any(|i| i.shown() == acl) {
                let body = match crate::config::Initiator::parse(acl) {
                    Ok(i) => i.body(),
                    Err(_) => format!("initiator-address={acl}"),
                };
                let _ = c.call(&Request::new(Mode::Target, Op::Unbind).tid(tid).body(body));
            }
        }
    }
    for i in &cfg.initiators {
        if bound.contains(&i.shown()) {
            continue;
        }
        match c.call(&Request::new(Mode::Target, Op::Bind).tid(tid).body(i.body())) {
            Ok(_) => {}
            Err(e) if e.is(err::ACL_EXIST) => {}
            Err(e) => return Err(fail(&format!("allowing initiator {}", i.shown()), &e)),
        }
    }
    if let Some((user, pass)) = &cfg.chap {
        match c.call(
            &Request::new(Mode::Account, Op::New).body(format!("user={user},password={pass}")),
        ) {
            Ok(_) => {}
            Err(e) if e.is(err::USER_EXIST) => {
                // Possibly with another password: replace it, unless a target (ours too) has it bound.
                let shared = others
                    .iter()
                    .chain(existing.iter())
                    .any(|o| o.accounts.iter().any(|a| a == user));
                if !shared {
                    let _ = c.call(
                        &Request::new(Mode::Account, Op::Delete).body(format!("user={user}")),
                    );
                    c.call(
                        &Request::new(Mode::Account, Op::New)
                            .body(format!("user={user},password={pass}")),
                    )
                    .map_err(|e| fail(&format!("creating CHAP account {user}"), &e))?;
                }
            }
            Err(e) => return Err(fail(&format!("creating CHAP account {user}"), &e)),
        }
        let already = existing.is_some_and(|t| t.accounts.iter().any(|a| a == user));
        if !already {
            c.call(
                &Request::new(Mode::Account, Op::Bind)
                    .tid(tid)
                    .body(format!("user={user}")),
            )
            .map_err(|e| fail(&format!("binding CHAP account {user}"), &e))?;
        }
    }
    if existing.is_some_and(|t| t.state != "ready") {
        c.call(
            &Request::new(Mode::Target, Op::Update)
                .tid(tid)
                .body("state=ready"),
        )
        .map_err(|e| fail("setting the target ready", &e))?;
    }
    Ok(())
}

pub fn target_stop(ctx: &Context, c: &Client, cfg: &TargetConfig) -> Result<ExitCode> {
    let tid = cfg.tid.unwrap_or(0);
    let deadline = ctx.deadline();
    let all = match targets(c) {
        Ok(t) => t,
        Err(Error::Unreachable(s)) => {
            ctx.log
                .info(&format!("{s}; target {} is not running", cfg.iqn));
            return Ok(ExitCode::Success);
        }
        Err(e) => return Err(fail("stop", &e)),
    };
    let Some(t) = all.iter().find(|t| t.tid == tid) else {
        return Ok(ExitCode::Success);
    };
    if t.iqn != cfg.iqn {
        ctx.log.warn(&format!(
            "tid {tid} belongs to {}, not {}; leaving it",
            t.iqn, cfg.iqn
        ));
        return Ok(ExitCode::Success);
    }
    // Offline first: tgtd then refuses logins to it, so a re-logging initiator cannot
    // keep it busy while its connections are dropped.
    match c.call(
        &Request::new(Mode::Target, Op::Update)
            .tid(tid)
            .body("state=offline"),
    ) {
        Ok(_) => {}
        Err(e) if e.is(err::NO_TARGET) => return Ok(ExitCode::Success),
        Err(e) => return Err(fail("taking the target offline", &e)),
    }
    let mut last_block;
    loop {
        let all = targets(c).map_err(|e| fail("stop", &e))?;
        let Some(t) = all.iter().find(|t| t.tid == tid) else {
            break;
        };
        for n in &t.nexuses {
            for conn in &n.connections {
                let mut r = Request::new(Mode::Connection, Op::Delete).tid(tid);
                r.sid = n.sid;
                r.cid = conn.cid;
                match c.call(&r) {
                    Ok(_) => {}
                    Err(e) if e.is(err::NO_CONNECTION) || e.is(err::INVALID_REQUEST) => {}
                    Err(e) => ctx.log.warn(&format!(
                        "dropping connection {} of session {}: {e}",
                        conn.cid, n.sid
                    )),
                }
            }
        }
        match c.call(&Request::new(Mode::Target, Op::Delete).tid(tid)) {
            Ok(_) => break,
            Err(e) if e.is(err::NO_TARGET) => break,
            Err(e) if e.is(err::TARGET_ACTIVE) => {
                last_block = format!(
                    "target {} (tid {tid}) still has sessions: {}",
                    cfg.iqn,
                    if t.connection_count() > 0 {
                        t.describe_connections()
                    } else {
                        "closing".into()
                    }
                );
            }
            Err(e) if e.is(err::LUN_ACTIVE) => {
                last_block = format!(
                    "target {} (tid {tid}): a logical unit still has SCSI commands in progress",
                    cfg.iqn
                );
            }
            Err(e) => return Err(fail(&format!("deleting target {}", cfg.iqn), &e)),
        }
        if !deadline.sleep(Duration::from_millis(100)) {
            return Err(OcfError::generic(format!(
                "{last_block}; gave up before the stop timeout (the target stays offline)"
            )));
        }
    }
    if let Some((user, _)) = &cfg.chap {
        let others = all
            .iter()
            .any(|o| o.tid != tid && o.accounts.iter().any(|a| a == user));
        if !others {
            match c.call(&Request::new(Mode::Account, Op::Delete).body(format!("user={user}"))) {
                Ok(_) => {}
                Err(e) if e.is(err::NO_USER) => {}
                Err(e) => ctx.log.warn(&format!("deleting CHAP account {user}: {e}")),
            }
        }
    }
    Ok(ExitCode::Success)
}

// ---------------------------------------------------------------- logical unit

fn find_target<'a>(all: &'a [Target], iqn: &str) -> Option<&'a Target> {
    all.iter().find(|t| t.iqn == iqn)
}

fn identity_matches(l: &show::Lun, cfg: &LuConfig) -> bool {
    l.scsi_id == cfg.scsi_id && l.scsi_sn == cfg.scsi_sn
}

pub fn lu_monitor(ctx: &Context, c: &Client, cfg: &LuConfig) -> Result<ExitCode> {
    let all = match targets(c) {
        Ok(t) => t,
        Err(Error::Unreachable(s)) => {
            ctx.log.debug(&s);
            return Ok(ExitCode::NotRunning);
        }
        Err(e) => return Err(fail("monitor", &e)),
    };
    let Some(t) = find_target(&all, &cfg.target_iqn) else {
        return Ok(ExitCode::NotRunning);
    };
    let Some(l) = t.lun(cfg.lun) else {
        return Ok(ExitCode::NotRunning);
    };
    if l.path != cfg.path {
        ctx.log.warn(&format!(
            "LUN {} of {} is backed by {}, not {}",
            cfg.lun, cfg.target_iqn, l.path, cfg.path
        ));
        return Ok(ExitCode::NotRunning);
    }
    if !identity_matches(l, cfg) {
        return Err(OcfError::generic(format!(
            "LUN {} of {} has SCSI ID '{}' and serial '{}', not '{}' and '{}'",
            cfg.lun, cfg.target_iqn, l.scsi_id, l.scsi_sn, cfg.scsi_id, cfg.scsi_sn
        )));
    }
    if cfg.needs_path() && !std::path::Path::new(&cfg.path).exists() {
        return Err(OcfError::generic(format!(
            "LUN {} is exported but its backing store {} has disappeared",
            cfg.lun, cfg.path
        )));
    }
    Ok(ExitCode::Success)
}

pub fn lu_start(ctx: &Context, c: &Client, cfg: &LuConfig) -> Result<ExitCode> {
    check_version(ctx, c)?;
    let all = targets(c).map_err(|e| unreachable(&e))?;
    let Some(t) = find_target(&all, &cfg.target_iqn) else {
        return Err(OcfError::generic(format!(
            "target {} does not exist in tgtd: start its iSCSITarget resource first (order it before this one)",
            cfg.target_iqn
        )));
    };
    let tid = t.tid;
    if let Some(l) = t.lun(cfg.lun) {
        if l.path != cfg.path {
            return Err(OcfError::generic(format!(
                "LUN {} of {} is already backed by {}: choose another lun",
                cfg.lun, cfg.target_iqn, l.path
            )));
        }
        if !identity_matches(l, cfg) {
            c.call(
                &Request::new(Mode::Device, Op::Update)
                    .tid(tid)
                    .lun(cfg.lun)
                    .body(cfg.identity_body()),
            )
            .map_err(|e| fail("setting the SCSI identity", &e))?;
        }
        return Ok(ExitCode::Success);
    }
    // tgtd's creation request takes no identity. With no session on the target, hold it
    // offline (logins refused) from creation until the identity is set, so no initiator
    // ever sees the LUN with tgtd's default IDs.
    let hold = t.nexuses.is_empty() && t.state == "ready";
    let state = |s: &str| {
        c.call(
            &Request::new(Mode::Target, Op::Update)
                .tid(tid)
                .body(format!("state={s}")),
        )
    };
    if hold {
        state("offline").map_err(|e| fail("holding the target offline", &e))?;
    }
    let mut req = Request::new(Mode::Device, Op::New)
        .tid(tid)
        .lun(cfg.lun)
        .body(cfg.create_body());
    req.device_type = cfg.device_type;
    let result = c
        .call(&req)
        .map_err(|e| {
            fail(
                &format!(
                    "creating LUN {} on {} backed by {}",
                    cfg.lun, cfg.target_iqn, cfg.path
                ),
                &e,
            )
        })
        .and_then(|_| {
            c.call(
                &Request::new(Mode::Device, Op::Update)
                    .tid(tid)
                    .lun(cfg.lun)
                    .body(cfg.identity_body()),
            )
            .map_err(|e| {
                let _ = c.call(&Request::new(Mode::Device, Op::Delete).tid(tid).lun(cfg.lun));
                fail(
                    &format!("setting the SCSI identity ({})", cfg.identity_body()),
                    &e,
                )
            })
        });
    if hold {
        if let Err(e) = state("ready") {
            return Err(fail("setting the target ready again", &e));
        }
    }
    result.map(|_| ExitCode::Success)
}

pub fn lu_stop(ctx: &Context, c: &Client, cfg: &LuConfig) -> Result<ExitCode> {
    let deadline = ctx.deadline();
    let mut last_block;
    loop {
        let all = match targets(c) {
            Ok(t) => t,
            Err(Error::Unreachable(s)) => {
                ctx.log
                    .info(&format!("{s}; LUN {} is not exported", cfg.lun));
                return Ok(ExitCode::Success);
            }
            Err(e) => return Err(fail("stop", &e)),
        };
        let Some(t) = find_target(&all, &cfg.target_iqn) else {
            return Ok(ExitCode::Success);
        };
        let Some(l) = t.lun(cfg.lun) else {
            return Ok(ExitCode::Success);
        };
        if l.path != cfg.path {
            ctx.log.warn(&format!(
                "LUN {} of {} is backed by {}, not {}: not ours, leaving it",
                cfg.lun, cfg.target_iqn, l.path, cfg.path
            ));
            return Ok(ExitCode::Success);
        }
        match c.call(
            &Request::new(Mode::Device, Op::Delete)
                .tid(t.tid)
                .lun(cfg.lun),
        ) {
            Ok(_) => return Ok(ExitCode::Success),
            Err(e) if e.is(err::NO_LUN) || e.is(err::NO_TARGET) => return Ok(ExitCode::Success),
            Err(e) if e.is(err::LUN_ACTIVE) => {
                last_block = format!(
                    "LUN {} of {} still has SCSI commands in progress (sessions: {})",
                    cfg.lun,
                    cfg.target_iqn,
                    if t.connection_count() > 0 {
                        t.describe_connections()
                    } else {
                        "none".into()
                    }
                );
            }
            Err(e) => return Err(fail(&format!("deleting LUN {}", cfg.lun), &e)),
        }
        if !deadline.sleep(Duration::from_millis(100)) {
            return Err(OcfError::generic(format!(
                "{last_block}; gave up before the stop timeout: stop the iSCSITarget to drop its sessions"
            )));
        }
    }
}
