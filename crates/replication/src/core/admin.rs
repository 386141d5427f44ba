//! Admin verbs with DRBD's state-change rules. A refusal is returned as a typed [`Error`] and
//! changes nothing.

use super::Core;
use crate::action::{Level, TransportCmd};
use crate::error::Error;
use crate::event::{AdminCmd, Persisted};
use crate::gi::{masked, UUID_JUST_CREATED};
use crate::meta::MdFlags;
use crate::state::{ConnState, DiskState, Role};
use crate::wire::{self, Msg};

impl Core {
    pub(super) fn admin(&mut self, cmd: AdminCmd) -> Result<(), Error> {
        let changes_data_state = matches!(
            cmd,
            AdminCmd::Primary { .. }
                | AdminCmd::Secondary
                | AdminCmd::Invalidate
                | AdminCmd::InvalidateRemote
                | AdminCmd::NewCurrentUuid { .. }
                | AdminCmd::Outdate
                | AdminCmd::Verify
        );
        if changes_data_state && self.conn.as_ref().is_some_and(|c| !c.decided) {
            // Both nodes decide from what they told each other: no changes in between.
            return Err(Error::WrongConnState {
                cs: self.cs,
                what: "the handshake is in progress; retry in a moment",
            });
        }
        match cmd {
            AdminCmd::Primary { force } => self.promote(force),
            AdminCmd::Secondary => self.demote(),
            AdminCmd::Connect { discard_my_data } => self.connect(discard_my_data),
            AdminCmd::Disconnect => {
                if self.cs == ConnState::StandAlone {
                    return Ok(());
                }
                if self.conn.is_some() {
                    self.send(Msg::Disconnect);
                }
                self.want_connect = false;
                if self.conn.is_some() {
                    self.connection_lost(ConnState::Disconnecting, "disconnect requested");
                } else {
                    self.set_cs(ConnState::StandAlone);
                    self.transport(TransportCmd::Shutdown);
                }
                Ok(())
            }
            AdminCmd::Invalidate => self.invalidate(),
            AdminCmd::InvalidateRemote => self.invalidate_remote(),
            AdminCmd::NewCurrentUuid { clear_bitmap } => self.new_current_uuid(clear_bitmap),
            AdminCmd::Outdate => self.outdate(),
            AdminCmd::Verify => self.verify(),
            AdminCmd::PauseSync | AdminCmd::ResumeSync => {
                self.sync.user_paused = cmd == AdminCmd::PauseSync;
                self.send_state();
                self.update_pause();
                Ok(())
            }
            AdminCmd::Attach(p) => self.admin_attach(p),
            AdminCmd::Detach => self.detach(),
        }
    }

    fn promote(&mut self, force: bool) -> Result<(), Error> {
        if self.role == Role::Primary {
            return Ok(());
        }
        if self.peer_role == Role::Primary && !self.cfg.allow_two_primaries {
            return Err(Error::PeerIsPrimary);
        }
        if self.disk < DiskState::Inconsistent {
            return Err(Error::WrongDiskState {
                disk: self.disk,
                what: "a Primary needs a local disk",
            });
        }
        if self.cs >= ConnState::WFReportParams && !self.established() {
            return Err(Error::WrongConnState {
                cs: self.cs,
                what: "wait until the handshake finished",
            });
        }
        if matches!(
            self.cs,
            ConnState::WFBitMapT
                | ConnState::WFSyncUUID
                | ConnState::SyncTarget
                | ConnState::PausedSyncT
        ) {
            return Err(Error::WrongConnState {
                cs: self.cs,
                what: "this node is receiving a resync",
            });
        }
        let forced = self.disk != DiskState::UpToDate;
        if forced && !force {
            return Err(Error::NeedsForce { disk: self.disk });
        }
        if forced && self.cs.is_connected() && self.cs != ConnState::Connected {
            return Err(Error::WrongConnState {
                cs: self.cs,
                what: "wait until the resync or verify finished",
            });
        }
        let connected = self.cs.is_connected();
        self.set_role(Role::Primary);
        self.flags.set(MdFlags::PRIMARY_IND, true);
        if (!connected && self.gi.bitmap == 0) || forced {
            self.open_generation();
        }
        self.gi.current |= 1;
        if forced {
            self.log(Level::Warn, "Forced to consider local data as UpToDate!");
            self.set_disk(DiskState::UpToDate);
        }
        self.persist_meta();
        if connected {
            if forced {
                self.renegotiate(0);
            } else {
                self.send_state();
            }
        }
        Ok(())
    }

    fn demote(&mut self) -> Result<(), Error> {
        if self.role != Role::Primary {
            return Ok(());
        }
        if self.reqs.values().any(|r| !r.replied) {
            return Err(Error::WrongRole {
                role: self.role,
                what: "client requests are still in flight",
            });
        }
        // Let the peer confirm the last epoch soon.
        self.close_epoch();
        self.set_role(Role::Secondary);
        self.flags.set(MdFlags::PRIMARY_IND, false);
        self.persist_meta();
        self.send_state();
        Ok(())
    }

    fn connect(&mut self, discard_my_data: bool) -> Result<(), Error> {
        if self.cs != ConnState::StandAlone {
            return Err(Error::WrongConnState {
                cs: self.cs,
                what: "already connecting or connected; disconnect first",
            });
        }
        self.discard_my_data = discard_my_data;
        self.want_connect = true;
        self.set_cs(ConnState::Unconnected);
        self.set_cs(ConnState::WFConnection);
        self.transport(TransportCmd::Connect);
        Ok(())
    }

    /// Our identifiers or disk changed on a live connection: ask for a new decision.
    fn renegotiate(&mut self, flags: u32) {
        if let Some(c) = self.conn.as_mut() {
            // Undecided until the peer answered: no other state change meanwhile, and client
            // writes wait (the decision uses the bitmap weights).
            c.renegotiating = true;
            c.decided = false;
            c.sent_uuid_flags = flags;
        }
        self.send_state();
        self.send_uuids(flags);
    }

    fn require_idle_connection(&self, what: &'static str) -> Result<(), Error> {
        if self.cs != ConnState::Connected {
            return Err(Error::WrongConnState { cs: self.cs, what });
        }
        Ok(())
    }

    fn invalidate(&mut self) -> Result<(), Error> {
        if self.role == Role::Primary {
            return Err(Error::WrongRole {
                role: self.role,
                what: "invalidate the Secondary, or use invalidate-remote here",
            });
        }
        if self.disk < DiskState::Inconsistent {
            return Err(Error::WrongDiskState {
                disk: self.disk,
                what: "nothing to invalidate without a disk",
            });
        }
        if self.cs.is_connected() {
            self.require_idle_connection("wait for the running resync or verify")?;
            if self.pdsk != DiskState::UpToDate {
                return Err(Error::WrongDiskState {
                    disk: self.pdsk,
                    what: "the peer has no up-to-date data to sync from",
                });
            }
        }
        self.bitmap.set_all();
        self.persist_bitmap_all();
        self.set_disk(DiskState::Inconsistent);
        if self.cs.is_connected() {
            self.renegotiate(0);
        }
        Ok(())
    }

    fn invalidate_remote(&mut self) -> Result<(), Error> {
        self.require_idle_connection("invalidate-remote needs a connected peer")?;
        if self.disk != DiskState::UpToDate {
            return Err(Error::WrongDiskState {
                disk: self.disk,
                what: "only up-to-date data can overwrite the peer",
            });
        }
        if self.peer_role == Role::Primary {
            return Err(Error::PeerIsPrimary);
        }
        self.bitmap.set_all();
        self.persist_bitmap_all();
        self.renegotiate(wire::UUID_FLAG_INVALIDATE_PEER);
        Ok(())
    }

    fn new_current_uuid(&mut self, clear_bitmap: bool) -> Result<(), Error> {
        if self.disk < DiskState::Inconsistent {
            return Err(Error::WrongDiskState {
                disk: self.disk,
                what: "new-current-uuid needs a local disk",
            });
        }
        let just_created = masked(self.gi.current) == UUID_JUST_CREATED;
        if clear_bitmap && self.cs.is_connected() {
            self.require_idle_connection("wait for the running resync")?;
            let peer_fresh = self.pdsk == DiskState::Inconsistent;
            if !(just_created && self.disk == DiskState::Inconsistent && peer_fresh) {
                return Err(Error::WrongDiskState {
                    disk: self.disk,
                    what:
                        "--clear-bitmap while connected skips only the initial sync of new metadata",
                });
            }
        }
        self.open_generation();
        if clear_bitmap {
            self.gi.bitmap = 0;
            self.bitmap.clear_all();
            self.persist_bitmap_all();
            if just_created && self.disk == DiskState::Inconsistent {
                self.set_disk(DiskState::UpToDate);
            }
        }
        self.persist_meta();
        if self.cs == ConnState::Connected {
            if clear_bitmap {
                self.send_uuids(wire::UUID_FLAG_SKIP_INITIAL_SYNC);
                self.set_pdsk(DiskState::UpToDate);
            } else {
                self.send_uuids(0);
            }
        }
        Ok(())
    }

    fn outdate(&mut self) -> Result<(), Error> {
        if self.role == Role::Primary {
            return Err(Error::WrongRole {
                role: self.role,
                what: "a Primary's data cannot be outdated",
            });
        }
        if self.cs.is_connected() {
            return Err(Error::WrongConnState {
                cs: self.cs,
                what: "outdate applies to a disconnected node",
            });
        }
        if self.disk < DiskState::Outdated {
            return Err(Error::WrongDiskState {
                disk: self.disk,
                what: "only consistent data can be marked outdated",
            });
        }
        self.set_disk(DiskState::Outdated);
        self.persist_meta();
        Ok(())
    }

    fn verify(&mut self) -> Result<(), Error> {
        if self.cfg.verify_alg.is_none() {
            return Err(Error::NoVerifyAlg);
        }
        self.require_idle_connection("online verify needs an idle connection")?;
        if self.disk != DiskState::UpToDate || self.pdsk != DiskState::UpToDate {
            return Err(Error::WrongDiskState {
                disk: self.disk.min(self.pdsk),
                what: "online verify needs up-to-date data on both nodes",
            });
        }
        self.start_verify();
        Ok(())
    }

    fn admin_attach(&mut self, p: Persisted) -> Result<(), Error> {
        if self.disk != DiskState::Diskless {
            return Err(Error::WrongDiskState {
                disk: self.disk,
                what: "already attached",
            });
        }
        self.attach(p);
        Ok(())
    }

    fn detach(&mut self) -> Result<(), Error> {
        if self.role == Role::Primary {
            return Err(Error::WrongRole {
                role: self.role,
                what: "demote before detaching (shimai does not serve I/O from the peer)",
            });
        }
        if self.disk == DiskState::Diskless {
            return Ok(());
        }
        if !self.ios.is_empty() {
            return Err(Error::WrongDiskState {
                disk: self.disk,
                what: "disk operations are still in flight",
            });
        }
        if self.cs >= ConnState::WFReportParams {
            return Err(Error::WrongConnState {
                cs: self.cs,
                what: "disconnect before detaching",
            });
        }
        // A clean detach: the bitmap and an idle activity log are on disk.
        self.persist_bitmap_all();
        self.flags.set(MdFlags::AL_CLEAN, true);
        self.persist_meta();
        self.set_disk(DiskState::Diskless);
        Ok(())
    }
}
