//! The control verbs: each becomes an admin event for the core, plus what only the daemon
//! can do around it (the export and block device on `primary`, refusing `secondary` and
//! `down` while the device is in use, `adjust`).

use std::time::{Duration, Instant};

use shimai_replication::{AdminCmd, Role};

use super::{Engine, Input};
use crate::control::{Reply, Request};
use crate::device;
use crate::nbd::Export;
use crate::report::{self, Names};
use crate::setup;

impl Engine {
    fn admin(&mut self, cmd: AdminCmd) -> Reply {
        match self.drv.admin(cmd) {
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

    pub(super) fn control(&mut self, req: Request) -> Reply {
        if self.stopping {
            return self.refused("shimaid is going down".into());
        }
        match req {
            Request::Status => Reply::Status(Box::new(report::status_report(
                &self.drv.core().status(),
                &Names {
                    resource: self.res(),
                    node: &self.settings.node,
                    peer_node: &self.plan.peer_name,
                    device: self.device.as_ref().map(|d| d.path.display().to_string()),
                    minor: self.plan.minor,
                    size: self.size,
                    split_brain: self.drv.io.split_brain,
                    io_backend: self.drv.io.disk.name(),
                },
            ))),
            Request::Primary { force } => self.primary(force),
            Request::Secondary => self.secondary(),
            Request::Connect { discard_my_data } => {
                self.admin(AdminCmd::Connect { discard_my_data })
            }
            Request::Disconnect => self.admin(AdminCmd::Disconnect),
            Request::Attach => {
                let p = self.drv.io.md.persisted();
                self.admin(AdminCmd::Attach(p))
            }
            Request::Detach => {
                if self.drv.core().role() == Role::Primary {
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
        let was = self.drv.core().role();
        let r = self.admin(AdminCmd::Primary { force });
        if !matches!(r, Reply::Ok { .. }) || was == Role::Primary {
            return r;
        }
        if let Err(e) = self.make_device() {
            self.device = None;
            self.export = None;
            let _ = self.drv.admin(AdminCmd::Secondary);
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
            // The device thread is not an input: look at it at least every 10 ms.
            match self.step(Some(Duration::from_millis(10)), false) {
                super::Step::Input(i @ (Input::Control(_) | Input::Signal(_) | Input::Stop)) => {
                    self.deferred.push_back(i)
                }
                super::Step::Input(i) => self.input(i),
                _ => {}
            }
        }
        h.join().ok()
    }

    fn make_device(&mut self) -> Result<(), String> {
        let sock = self.settings.nbd_socket();
        let inbox = self.me.inbox(Input::Nbd);
        let export = Export::start(&sock, &self.settings.resource, self.size, inbox)
            .map_err(|e| format!("cannot listen on {}: {e}", sock.display()))?;
        self.export = Some(export);
        if let Some(how) = device::method(self.plan.attach) {
            let (res, run_dir) = (
                self.settings.resource.clone(),
                self.settings.run_dir.clone(),
            );
            let (path, size) = (std::path::PathBuf::from(&self.plan.device), self.size);
            let fuse = self.me.inbox(Input::Fuse);
            let dev = self
                .pump_while(move || device::create(how, &res, &sock, &run_dir, &path, size, fuse))
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
        if self.drv.core().role() == Role::Primary {
            if let Err(e) = self.release_device("secondary") {
                return self.refused(e);
            }
        }
        self.admin(AdminCmd::Secondary)
    }

    pub(super) fn down(&mut self) -> Reply {
        if self.drv.core().role() == Role::Primary {
            if let Err(e) = self.release_device("down") {
                return self.refused(e);
            }
            let _ = self.drv.admin(AdminCmd::Secondary);
        }
        let _ = self.drv.admin(AdminCmd::Disconnect);
        let _ = self.drv.admin(AdminCmd::Detach);
        Reply::Ok { message: None }
    }

    fn adjust(&mut self) -> Reply {
        match setup::plan(&self.settings) {
            Ok(p) => {
                let mut now = self.drv.core().config().clone();
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
