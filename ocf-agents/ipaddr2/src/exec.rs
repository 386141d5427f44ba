//! Doing what a [`crate::plan`] decided, over rtnetlink and packet sockets.
#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ocf::command::Deadline;
use ocf::{Logger, OcfError, Result};

use crate::announce::{self, Job};
use crate::netlink::codec::{self, NewAddr, ARPHRD_ETHER, IFA_F_DADFAILED, IFA_F_TENTATIVE};
use crate::netlink::{Rtnl, Snapshot};
use crate::packet::ether_mac;
use crate::plan::Step;

/// How often the DAD state is polled: short, so start returns soon after
/// the kernel finishes (the shell agent sleeps whole seconds).
const DAD_POLL: Duration = Duration::from_millis(20);
/// The shell agent gives DAD ten one-second polls before going on with a warning.
const DAD_LIMIT: Duration = Duration::from_secs(10);
/// How long the duplicate-address probe listens for an answer.
const PROBE_WAIT: Duration = Duration::from_millis(1000);

pub struct Executor<'a> {
    pub rtnl: &'a mut Rtnl,
    pub snap: &'a Snapshot,
    pub log: &'a Logger,
    pub deadline: Deadline,
    pub ip_text: &'a str,
}

fn loopback_file(ip: &IpAddr) -> PathBuf {
    announce::state_dir().join(format!("shimai-IPaddr2-lo-{}-{ip}", announce::netns_id()))
}

impl Executor<'_> {
    fn mac(&self, index: u32) -> Option<[u8; 6]> {
        self.snap
            .links
            .iter()
            .find(|l| l.index == index && l.link_type == ARPHRD_ETHER)
            .and_then(|l| ether_mac(&l.mac))
    }

    pub fn run(&mut self, steps: &[Step]) -> Result<()> {
        for s in steps {
            self.log.debug(&format!("{s}"));
            self.step(s)?;
        }
        Ok(())
    }

    fn step(&mut self, step: &Step) -> Result<()> {
        let ip_text = self.ip_text;
        let failed_add = |e: crate::error::Error| e.into_ocf(&format!("Failed to add {ip_text}"));
        match step {
            Step::RemoveLoopback { index, ip } => {
                self.log.info("Removing conflicting loopback lo.");
                let _ = std::fs::create_dir_all(announce::state_dir());
                if std::fs::write(loopback_file(ip), format!("{ip} 32 255.255.255.255 lo\n"))
                    .is_err()
                {
                    self.log
                        .err("Could not save conflicting loopback lo. it will not be restored.");
                }
                self.rtnl
                    .request(|seq| codec::encode_del_addr(*index, ip, 32, seq))
                    .map_err(|e| e.into_ocf(&format!("removing {ip}/32 from lo")))?;
                // Like `ip route delete IP dev lo`: usually there is no such route.
                let _ = self
                    .rtnl
                    .request(|seq| codec::encode_del_host_route(*index, ip, seq));
            }
            Step::ProbeDuplicate { index, ip } => {
                let Some(mac) = self.mac(*index) else {
                    self.log.warn(&format!(
                        "not an Ethernet interface: skipping the duplicate check for {ip}"
                    ));
                    return Ok(());
                };
                let wait = PROBE_WAIT.min(self.deadline.remaining());
                match announce::probe_duplicate(*index, mac, *ip, wait).map_err(failed_add)? {
                    None => {}
                    Some(m) => {
                        let m: Vec<String> = m.iter().map(|b| format!("{b:02x}")).collect();
                        return Err(OcfError::generic(format!(
                            "IPv4 address collision {ip} [DAD]: {} answered for it; not adding it",
                            m.join(":")
                        )));
                    }
                }
            }
            Step::AddAddrLabel { ip, value } => {
                if let IpAddr::V6(v6) = ip {
                    if let Err(e) = self
                        .rtnl
                        .request(|seq| codec::encode_addrlabel(true, v6, *value, seq))
                    {
                        self.log.warn(&format!(
                            "ip addrlabel add prefix {ip} label {value} failed: {e}"
                        ));
                    }
                }
            }
            Step::AddAddress(a) => {
                self.log.info(&describe_add(a));
                self.rtnl
                    .request(|seq| codec::encode_new_addr(a, seq))
                    .map_err(failed_add)?;
            }
            Step::LinkUp { index, nic } => {
                self.rtnl
                    .request(|seq| codec::encode_link_up(*index, seq))
                    .map_err(|e| {
                        e.into_ocf(&format!("Failed to add {ip_text}: bringing {nic} up"))
                    })?;
            }
            Step::WaitDad { index, ip, prefix } => self.wait_dad(*index, ip, *prefix)?,
            Step::Announce {
                index,
                ip,
                count,
                interval_ms,
                background,
            } => {
                let Some(mac) = self.mac(*index) else {
                    self.log.warn(&format!(
                        "not an Ethernet interface: no gratuitous ARP / neighbour advertisement for {ip}"
                    ));
                    return Ok(());
                };
                let interval = Duration::from_millis(*interval_ms);
                let mut count = *count;
                if !*background {
                    // In the foreground, stop announcing before the operation times out.
                    let fits = self.deadline.remaining().as_millis() / interval.as_millis().max(1);
                    let fits = u32::try_from(fits).unwrap_or(u32::MAX).max(1);
                    if fits < count {
                        self.log.warn(&format!(
                            "sending only {fits} of {count} announcements for {ip}: the operation timeout is near"
                        ));
                        count = fits;
                    }
                }
                let job = Job {
                    index: *index,
                    mac,
                    ip: *ip,
                    count,
                    interval,
                };
                let res = if *background {
                    announce::kill_background(ip_text);
                    announce::spawn(job, ip_text)
                } else {
                    announce::send(&job)
                };
                if let Err(e) = res {
                    match ip {
                        // The shell agent only logs a failed send_arp ...
                        IpAddr::V4(_) => self
                            .log
                            .err(&format!("Could not send gratuitous arps: {e}")),
                        // ... but fails the start when send_ua fails.
                        IpAddr::V6(_) => {
                            return Err(e.into_ocf(&format!(
                                "Could not send ICMPv6 Unsolicited Neighbor Advertisements for {ip}"
                            )))
                        }
                    }
                }
            }
            Step::KillAnnouncer { ip } => {
                if announce::kill_background(ip) {
                    self.log
                        .info(&format!("killed previously running send_arp for {ip}"));
                }
            }
            Step::DeleteAddress {
                index,
                nic,
                ip,
                prefix,
            } => {
                self.rtnl
                    .request(|seq| codec::encode_del_addr(*index, ip, *prefix, seq))
                    .map_err(|e| {
                        e.into_ocf(&format!(
                            "Unable to remove IP [{ip}] from interface [{nic}]"
                        ))
                    })?;
            }
            Step::FlushRouteCache => {
                // What `ip route flush cache` does: the kernel's flush knobs.
                for fam in ["ipv4", "ipv6"] {
                    let _ = std::fs::write(format!("/proc/sys/net/{fam}/route/flush"), "-1");
                }
            }
            Step::DeleteAddrLabel { ip, value } => {
                if let IpAddr::V6(v6) = ip {
                    let _ = self
                        .rtnl
                        .request(|seq| codec::encode_addrlabel(false, v6, *value, seq));
                }
            }
            Step::RestoreLoopback { ip } => {
                let file = loopback_file(ip);
                if file.exists() {
                    self.log
                        .info(&format!("Restoring loopback IP Address {ip}/32 on lo."));
                    let lo = self.snap.link_by_name("lo").map(|l| l.index);
                    if let (Some(lo), IpAddr::V4(_)) = (lo, ip) {
                        let a = NewAddr {
                            index: lo,
                            addr: *ip,
                            prefix_len: 32,
                            broadcast: Some(std::net::Ipv4Addr::BROADCAST),
                            label: None,
                            flags: 0,
                            preferred_lft: None,
                        };
                        if let Err(e) = self.rtnl.request(|seq| codec::encode_new_addr(&a, seq)) {
                            self.log
                                .err(&format!("Could not restore {ip}/32 on lo: {e}"));
                        }
                    }
                    let _ = std::fs::remove_file(file);
                }
            }
        }
        Ok(())
    }

    fn wait_dad(&mut self, index: u32, ip: &IpAddr, prefix: u8) -> Result<()> {
        let limit = Deadline::after(DAD_LIMIT.min(self.deadline.remaining()));
        loop {
            let flags = self
                .rtnl
                .addr_flags(index, ip)
                .map_err(|e| e.into_ocf("reading the address state"))?;
            match flags {
                Some(f) if f & IFA_F_DADFAILED != 0 => {
                    if let Err(e) = self
                        .rtnl
                        .request(|seq| codec::encode_del_addr(index, ip, prefix, seq))
                    {
                        self.log.err(&format!("Could not delete IPv6 address: {e}"));
                    }
                    return Err(OcfError::generic(format!(
                        "IPv6 address collision {ip} [DAD]: another node on the link has it; removed it again"
                    )));
                }
                Some(f) if f & IFA_F_TENTATIVE != 0 => {
                    if !limit.sleep(DAD_POLL) {
                        self.log.warn("IPv6 address : DAD is still in tentative");
                        return Ok(());
                    }
                }
                _ => return Ok(()),
            }
        }
    }
}

fn describe_add(a: &NewAddr) -> String {
    let fam = if a.addr.is_ipv4() { "inet" } else { "inet6" };
    match a.broadcast {
        Some(b) => format!(
            "Adding {fam} address {}/{} with broadcast address {b} to device #{}",
            a.addr, a.prefix_len, a.index
        ),
        None => format!(
            "Adding {fam} address {}/{} to device #{}",
            a.addr, a.prefix_len, a.index
        ),
    }
}
