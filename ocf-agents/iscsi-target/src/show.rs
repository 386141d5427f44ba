//! Parsing tgtd's `show` text for targets (the same text `tgtadm --mode
//! target --op show` prints). Lines are matched exactly by their
//! indentation level and key, and targets by their numeric tid.

/// One connection of an I_T nexus.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connection {
    pub cid: u32,
    pub address: String,
}

/// One I_T nexus (an iSCSI session).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nexus {
    pub sid: u64,
    pub initiator: String,
    pub connections: Vec<Connection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lun {
    pub lun: u64,
    pub kind: String,
    pub scsi_id: String,
    pub scsi_sn: String,
    pub online: bool,
    pub bstype: String,
    pub path: String,
    pub bsoflags: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    pub tid: i32,
    pub iqn: String,
    pub state: String,
    pub nexuses: Vec<Nexus>,
    pub luns: Vec<Lun>,
    pub accounts: Vec<String>,
    pub acls: Vec<String>,
}

impl Target {
    pub fn lun(&self, n: u64) -> Option<&Lun> {
        self.luns.iter().find(|l| l.lun == n)
    }
    pub fn connection_count(&self) -> usize {
        self.nexuses.iter().map(|n| n.connections.len()).sum()
    }
    /// "iqn... from 10.0.0.5:51234" for each connection, for exit reasons.
    pub fn describe_connections(&self) -> String {
        let v: Vec<String> = self
            .nexuses
            .iter()
            .flat_map(|n| {
                n.connections.iter().map(move |c| {
                    format!(
                        "{} ({})",
                        n.initiator,
                        c.address.trim_start_matches("IP Address: ")
                    )
                })
            })
            .collect();
        v.join(", ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    System,
    Nexus,
    Luns,
    Accounts,
    Acls,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Parses the whole `show` output. Lines it does not know are skipped.
pub fn parse(text: &str) -> Vec<Target> {
    let mut targets: Vec<Target> = Vec::new();
    let mut section = Section::None;
    for line in text.lines() {
        let depth = indent(line);
        let l = line.trim();
        if depth == 0 {
            section = Section::None;
            if let Some(rest) = l.strip_prefix("Target ") {
                if let Some((tid, iqn)) = rest.split_once(": ") {
                    if let Ok(tid) = tid.parse() {
                        targets.push(Target {
                            tid,
                            iqn: iqn.to_string(),
                            ..Target::default()
                        });
                    }
                }
            }
            continue;
        }
        let Some(t) = targets.last_mut() else {
            continue;
        };
        if depth == 4 {
            section = match l {
                "System information:" => Section::System,
                "I_T nexus information:" => Section::Nexus,
                "LUN information:" => Section::Luns,
                "Account information:" => Section::Accounts,
                "ACL information:" => Section::Acls,
                _ => Section::None,
            };
            continue;
        }
        match section {
            Section::System => {
                if let Some(s) = l.strip_prefix("State: ") {
                    t.state = s.to_string();
                }
            }
            Section::Nexus => {
                if let Some(n) = l.strip_prefix("I_T nexus: ") {
                    t.nexuses.push(Nexus {
                        sid: n.parse().unwrap_or(0),
                        ..Nexus::default()
                    });
                } else if let Some(nx) = t.nexuses.last_mut() {
                    if let Some(i) = l.strip_prefix("Initiator: ") {
                        let name = i.split(" alias: ").next().unwrap_or(i);
                        nx.initiator = name.to_string();
                    } else if let Some(c) = l.strip_prefix("Connection: ") {
                        nx.connections.push(Connection {
                            cid: c.parse().unwrap_or(0),
                            address: String::new(),
                        });
                    } else if let Some(c) = nx.connections.last_mut() {
                        if c.address.is_empty() {
                            c.address = l.to_string();
                        }
                    }
                }
            }
            Section::Luns => {
                if let Some(n) = l.strip_prefix("LUN: ") {
                    t.luns.push(Lun {
                        lun: n.parse().unwrap_or(u64::MAX),
                        ..Lun::default()
                    });
                } else if let Some(u) = t.luns.last_mut() {
                    let raw = line.trim_start();
                    if let Some(v) = raw.strip_prefix("Type: ") {
                        u.kind = v.to_string();
                    } else if let Some(v) = raw.strip_prefix("SCSI ID: ") {
                        u.scsi_id = v.to_string();
                    } else if let Some(v) = raw.strip_prefix("SCSI SN: ") {
                        u.scsi_sn = v.to_string();
                    } else if let Some(v) = raw.strip_prefix("Online: ") {
                        u.online = v == "Yes";
                    } else if let Some(v) = raw.strip_prefix("Backing store type: ") {
                        u.bstype = v.to_string();
                    } else if let Some(v) = raw.strip_prefix("Backing store path: ") {
                        u.path = v.to_string();
                    } else if let Some(v) = raw.strip_prefix("Backing store flags:") {
                        u.bsoflags = v.trim().to_string();
                    }
                }
            }
            Section::Accounts => t.accounts.push(l.to_string()),
            Section::Acls => t.acls.push(l.to_string()),
            Section::None => {}
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const SAMPLE: &str = "Target 1: iqn.2026-01.test:t1
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 3
            Initiator: iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-ls alias: none
            Connection: 0
                IP Address: 127.0.0.1
    LUN information:
        LUN: 0
            Type: controller
            SCSI ID: IET     00010000
            SCSI SN: beaf10
            Size: 0 MB, Block size: 1
            Online: Yes
            Backing store type: null
            Backing store path: None
            Backing store flags: 
        LUN: 1
            Type: disk
            SCSI ID: p_lu1
            SCSI SN: 1234abcd
            Size: 67 MB, Block size: 512
            Online: Yes
            Backing store type: rdwr
            Backing store path: /tmp/lu1.img
            Backing store flags: 
    Account information:
        alice
    ACL information:
        ALL
        iqn.1994-05.com.redhat:client
Target 12: iqn.2026-01.test:t1.x
    System information:
        Driver: iscsi
        State: offline
    I_T nexus information:
    LUN information:
    Account information:
    ACL information:
";

    #[test]
    fn parses_targets_nexuses_luns_acls() {
        let t = parse(SAMPLE);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].tid, 1);
        assert_eq!(t[0].iqn, "iqn.2026-01.test:t1");
        assert_eq!(t[0].state, "ready");
        assert_eq!(t[0].nexuses.len(), 1);
        assert_eq!(t[0].nexuses[0].sid, 3);
        assert_eq!(
            t[0].nexuses[0].initiator,
            "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-ls"
        );
        assert_eq!(t[0].nexuses[0].connections[0].cid, 0);
        assert_eq!(t[0].connection_count(), 1);
        assert!(t[0].describe_connections().contains("(127.0.0.1)"));
        let l = t[0].lun(1).unwrap();
        assert_eq!(l.scsi_id, "p_lu1");
        assert_eq!(l.scsi_sn, "1234abcd");
        assert_eq!(l.path, "/tmp/lu1.img");
        assert_eq!(l.bstype, "rdwr");
        assert_eq!(t[0].lun(0).unwrap().scsi_id, "IET     00010000");
        assert_eq!(t[0].accounts, vec!["alice"]);
        assert_eq!(t[0].acls, vec!["ALL", "iqn.1994-05.com.redhat:client"]);
        assert_eq!(t[1].tid, 12);
        assert_eq!(t[1].state, "offline");
        assert!(t[1].luns.is_empty());
    }

    #[test]
    fn garbage_does_not_panic() {
        assert!(parse("").is_empty());
        assert!(parse("Target x: y\n    LUN information:\n        LUN: z\n").is_empty());
        let t =
            parse("Target 2: a\n    LUN information:\n        LUN: q\n            SCSI ID: s\n");
        assert_eq!(t[0].luns[0].lun, u64::MAX);
    }
}
