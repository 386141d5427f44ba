//! Running the configuration's `handlers { }` as DRBD runs them: `/bin/sh -c HANDLER` with
//! DRBD's environment, in a thread of its own so the engine keeps serving the peer and the
//! clients while a handler waits on the cluster (a fence-peer handler may take a minute).
//!
//! The core asks for `fence-peer`, `split-brain`, `pri-lost-after-sb`... with
//! `Action::CallHandler` and, for `fence-peer`, waits for the exit code in
//! `Event::HandlerDone` (with `fencing resource-and-stonith` it keeps client I/O frozen
//! until then). The daemon adds the two hooks that undo fencing, which DRBD also runs
//! from its state changes: `after-resync-target` when this node's disk becomes UpToDate
//! after a resync (8.4's unfencing hook), `unfence-peer` when the peer's does (DRBD 9's).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use shimai_config::Handlers;
use shimai_replication::{DiskState, Fencing, Handler, StateChange};

/// One handler run: which one, and its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// DRBD's name (`fence-peer`), for the logs.
    pub name: &'static str,
    pub command: String,
}

/// The command configured for a handler the core asks for, if any.
pub fn for_core(h: Handler, hs: &Handlers) -> Option<Call> {
    let command = match h {
        Handler::InitialSplitBrain => hs.initial_split_brain.clone(),
        Handler::SplitBrain => hs.split_brain.clone(),
        Handler::PriLost => hs.pri_lost.clone(),
        Handler::PriLostAfterSb => hs.pri_lost_after_sb.clone(),
        Handler::FencePeer => hs.fence_peer.clone(),
        Handler::OutOfSync => hs.out_of_sync.clone(),
        Handler::LocalIoError => hs.local_io_error.clone(),
    }?;
    Some(Call {
        name: h.name(),
        command,
    })
}

/// The unfencing hook a state change calls for: a resync that made a disk UpToDate, when
/// fencing is configured (without it nothing was fenced, as DRBD).
pub fn for_change(change: &StateChange, hs: &Handlers, fencing: Fencing) -> Option<Call> {
    if fencing == Fencing::DontCare {
        return None;
    }
    let resynced = |from: &DiskState, to: &DiskState| {
        *to == DiskState::UpToDate && matches!(from, DiskState::Inconsistent | DiskState::Outdated)
    };
    match change {
        StateChange::Disk { from, to } if resynced(from, to) => {
            hs.after_resync_target.clone().map(|command| Call {
                name: "after-resync-target",
                command,
            })
        }
        StateChange::PeerDisk { from, to } if resynced(from, to) => {
            hs.unfence_peer.clone().map(|command| Call {
                name: "unfence-peer",
                command,
            })
        }
        _ => None,
    }
}

/// What a handler is told about the resource, as DRBD's environment variables.
#[derive(Debug, Clone)]
pub struct Env {
    pub resource: String,
    pub node: String,
    pub peer: String,
    pub peer_addr: SocketAddr,
    pub minor: u32,
    pub backing_dev: String,
    pub device: String,
    pub config: PathBuf,
    pub run_dir: PathBuf,
}

impl Env {
    /// `DRBD_*` as drbdadm sets them (8.4 and 9 names), plus `SHIMAI_NODE`/`SHIMAI_RUN_DIR`
    /// so that shimai's own tools in a handler find this node.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let af = if self.peer_addr.is_ipv4() {
            "ipv4"
        } else {
            "ipv6"
        };
        vec![
            ("DRBD_RESOURCE", self.resource.clone()),
            ("DRBD_PEER", self.peer.clone()),
            ("DRBD_PEERS", self.peer.clone()),
            ("DRBD_PEER_ADDRESS", self.peer_addr.ip().to_string()),
            ("DRBD_PEER_AF", af.to_string()),
            ("DRBD_MINOR", self.minor.to_string()),
            (
                // drbdadm's per-volume spelling, volume 0.
                "DRBD_MINOR_0",
                self.minor.to_string(),
            ),
            ("DRBD_VOLUME", "0".to_string()),
            ("DRBD_BACKING_DEV", self.backing_dev.clone()),
            ("DRBD_BACKING_DEV_0", self.backing_dev.clone()),
            ("DRBD_DEVICE", self.device.clone()),
            ("DRBD_CONF", self.config.display().to_string()),
            ("DRBD_MY_NODE_ID", "0".to_string()),
            ("DRBD_PEER_NODE_ID", "1".to_string()),
            ("SHIMAI_NODE", self.node.clone()),
            ("SHIMAI_RUN_DIR", self.run_dir.display().to_string()),
            ("SHIMAI_CONFIG", self.config.display().to_string()),
        ]
    }
}

/// Runs `call` in a new thread; `done` gets the exit code (1 when it could not run or was
/// killed by a signal, which DRBD also counts as a failure).
pub fn spawn(call: Call, env: &Env, done: impl FnOnce(i32) + Send + 'static) {
    let res = env.resource.clone();
    let vars = env.vars();
    log::info!("{res}: calling {} handler: {}", call.name, call.command);
    let spawned = std::thread::Builder::new()
        .name(format!("handler {}", call.name))
        .spawn(move || {
            let st = Command::new("/bin/sh")
                .args(["-c", &call.command])
                .envs(vars)
                .stdin(Stdio::null())
                .status();
            let code = match st {
                Ok(s) => s.code().unwrap_or(1),
                Err(e) => {
                    log::error!(
                        "{res}: cannot run {} handler {}: {e}",
                        call.name,
                        call.command
                    );
                    1
                }
            };
            log::info!("{res}: {} handler exited with {code}", call.name);
            done(code);
        });
    if let Err(e) = spawned {
        log::error!("{}: cannot start a thread for a handler: {e}", env.resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn env() -> Env {
        Env {
            resource: "r0".into(),
            node: "alpha".into(),
            peer: "beta".into(),
            peer_addr: "10.77.0.2:7789".parse().unwrap(),
            minor: 3,
            backing_dev: "/dev/vg/r0".into(),
            device: "/dev/drbd3".into(),
            config: "/etc/shimai/shimai.conf".into(),
            run_dir: "/run/shimai".into(),
        }
    }

    #[test]
    fn handler_sees_drbds_environment_and_its_exit_code_comes_back() {
        let (tx, rx) = mpsc::channel();
        let call = Call {
            name: "fence-peer",
            command: r#"test "$DRBD_RESOURCE/$DRBD_PEER/$DRBD_PEER_ADDRESS/$DRBD_MINOR/$DRBD_BACKING_DEV/$SHIMAI_NODE" = r0/beta/10.77.0.2/3//dev/vg/r0/alpha && exit 7; exit 1"#.into(),
        };
        spawn(call, &env(), move |code| {
            let _ = tx.send(code);
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(7));
    }

    #[test]
    fn a_handler_that_cannot_run_counts_as_failed() {
        let (tx, rx) = mpsc::channel();
        let call = Call {
            name: "split-brain",
            command: "kill -9 $$".into(),
        };
        spawn(call, &env(), move |code| {
            let _ = tx.send(code);
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(1));
    }

    #[test]
    fn resync_ends_call_the_unfencing_hooks() {
        let hs = Handlers {
            after_resync_target: Some("unfence-a".into()),
            unfence_peer: Some("unfence-b".into()),
            ..Handlers::default()
        };
        let local = StateChange::Disk {
            from: DiskState::Inconsistent,
            to: DiskState::UpToDate,
        };
        let peer = StateChange::PeerDisk {
            from: DiskState::Outdated,
            to: DiskState::UpToDate,
        };
        let attach = StateChange::Disk {
            from: DiskState::Attaching,
            to: DiskState::UpToDate,
        };
        let f = Fencing::ResourceOnly;
        assert_eq!(
            for_change(&local, &hs, f).unwrap().name,
            "after-resync-target"
        );
        assert_eq!(for_change(&peer, &hs, f).unwrap().command, "unfence-b");
        assert_eq!(for_change(&attach, &hs, f), None);
        assert_eq!(for_change(&local, &Handlers::default(), f), None);
        assert_eq!(for_change(&peer, &hs, Fencing::DontCare), None);
        let fp = Handlers {
            fence_peer: Some("shimai-crm-fence-peer".into()),
            ..Handlers::default()
        };
        assert_eq!(
            for_core(Handler::FencePeer, &fp).unwrap().command,
            "shimai-crm-fence-peer"
        );
        assert_eq!(for_core(Handler::SplitBrain, &fp), None);
    }
}
