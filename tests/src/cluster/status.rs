//! The cluster state as `crm_mon --output-as=xml` reports it: which nodes
//! are online, who is DC and has quorum, where each resource runs, and the
//! operation history (with the agents' execution times).

use super::error::Result;
use super::xml::{tags, TagKind};
use std::fmt;

/// One node as `crm_mon` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    pub name: String,
    pub online: bool,
    pub unclean: bool,
    pub standby: bool,
}

/// One primitive resource (group members are listed one by one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceState {
    pub id: String,
    /// `class:provider:type`, e.g. `ocf:heartbeat:IPaddr2`.
    pub agent: String,
    pub role: String,
    pub active: bool,
    pub failed: bool,
    /// The group it belongs to, if any.
    pub group: Option<String>,
    /// The nodes it runs on (more than one during a split brain).
    pub nodes: Vec<String>,
}

/// One entry of a node's operation history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub node: String,
    pub resource: String,
    pub task: String,
    pub call: i64,
    pub rc: i32,
    /// How long the agent ran, in milliseconds (`exec-time`).
    pub exec_ms: u64,
    /// How long the operation waited in the executor's queue, in ms.
    pub queue_ms: u64,
    /// When the result last changed, as Pacemaker prints it (1 s resolution).
    pub last_rc_change: String,
}

/// A parsed `crm_mon -1 --output-as=xml` snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterStatus {
    /// The designated controller, if one is elected.
    pub dc: Option<String>,
    /// Whether the partition this snapshot was taken in has quorum.
    pub quorum: bool,
    pub nodes: Vec<NodeState>,
    pub resources: Vec<ResourceState>,
    pub operations: Vec<Operation>,
}

impl ClusterStatus {
    /// Parses `crm_mon --output-as=xml` output (with or without `--include`).
    pub fn parse(xml: &str) -> Result<ClusterStatus> {
        let mut st = ClusterStatus::default();
        // The element path matters: <node> appears under <nodes>, under a
        // <resource> (where it runs) and under <node_history>.
        let mut path: Vec<String> = Vec::new();
        let mut group: Option<String> = None;
        let mut history_node = String::new();
        let mut history_rsc = String::new();
        for t in tags(xml, "crm_mon --output-as=xml")? {
            let parent = path.last().map(String::as_str).unwrap_or("");
            if t.kind == TagKind::End {
                if t.name == "group" {
                    group = None;
                }
                path.pop();
                continue;
            }
            match (t.name.as_str(), parent) {
                ("current_dc", _) => {
                    if t.flag("present") {
                        st.dc = t.attr("name").map(str::to_string);
                    }
                    st.quorum = t.flag("with_quorum");
                }
                ("node", "nodes") => st.nodes.push(NodeState {
                    name: t.attr("name").unwrap_or_default().to_string(),
                    online: t.flag("online"),
                    unclean: t.flag("unclean"),
                    standby: t.flag("standby"),
                }),
                ("group", _) => group = t.attr("id").map(str::to_string),
                ("resource", _) => st.resources.push(ResourceState {
                    id: t.attr("id").unwrap_or_default().to_string(),
                    agent: t.attr("resource_agent").unwrap_or_default().to_string(),
                    role: t.attr("role").unwrap_or_default().to_string(),
                    active: t.flag("active"),
                    failed: t.flag("failed"),
                    group: group.clone(),
                    nodes: Vec::new(),
                }),
                ("node", "resource") => {
                    if let (Some(r), Some(n)) = (st.resources.last_mut(), t.attr("name")) {
                        r.nodes.push(n.to_string());
                    }
                }
                ("node", "node_history") => {
                    history_node = t.attr("name").unwrap_or_default().to_string()
                }
                ("resource_history", _) => {
                    history_rsc = t.attr("id").unwrap_or_default().to_string()
                }
                ("operation_history", _) => st.operations.push(Operation {
                    node: history_node.clone(),
                    resource: history_rsc.clone(),
                    task: t.attr("task").unwrap_or_default().to_string(),
                    call: t.attr("call").and_then(|c| c.parse().ok()).unwrap_or(-1),
                    rc: t.attr("rc").and_then(|c| c.parse().ok()).unwrap_or(-1),
                    exec_ms: millis(t.attr("exec-time")),
                    queue_ms: millis(t.attr("queue-time")),
                    last_rc_change: t.attr("last-rc-change").unwrap_or_default().to_string(),
                }),
                _ => {}
            }
            if t.kind == TagKind::Start {
                path.push(t.name);
            }
        }
        Ok(st)
    }

    /// The node called `name`, if configured.
    pub fn node(&self, name: &str) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// True when `name` is online (and not unclean).
    pub fn is_online(&self, name: &str) -> bool {
        self.node(name).is_some_and(|n| n.online && !n.unclean)
    }

    /// Names of the online nodes.
    pub fn online(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| n.online && !n.unclean)
            .map(|n| n.name.as_str())
            .collect()
    }

    /// The resource `id`, if configured.
    pub fn resource(&self, id: &str) -> Option<&ResourceState> {
        self.resources.iter().find(|r| r.id == id)
    }

    /// The members of group `id`, in order.
    pub fn members(&self, group: &str) -> Vec<&ResourceState> {
        self.resources
            .iter()
            .filter(|r| r.group.as_deref() == Some(group))
            .collect()
    }

    /// The single node where every member of `group` (or the primitive of
    /// that id) is started, or None while it is stopped, moving, failed, or
    /// running on more than one node.
    pub fn placed_on(&self, group: &str) -> Option<&str> {
        let mut members = self.members(group);
        if members.is_empty() {
            members = self.resources.iter().filter(|r| r.id == group).collect();
        }
        let first = members.first()?;
        let node = match first.nodes.as_slice() {
            [n] => n.as_str(),
            _ => return None,
        };
        members
            .iter()
            .all(|r| r.active && !r.failed && r.role == "Started" && r.nodes == [node])
            .then_some(node)
    }

    /// True when no member of `group` runs anywhere.
    pub fn stopped(&self, group: &str) -> bool {
        let members = self.members(group);
        !members.is_empty() && members.iter().all(|r| r.nodes.is_empty())
    }
}

impl fmt::Display for ClusterStatus {
    /// A compact summary for test messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dc={} quorum={} online=[{}]",
            self.dc.as_deref().unwrap_or("none"),
            self.quorum,
            self.online().join(" ")
        )?;
        for r in &self.resources {
            write!(f, " {}:{}@[{}]", r.id, r.role, r.nodes.join(","))?;
            if r.failed {
                f.write_str("(failed)")?;
            }
        }
        Ok(())
    }
}

fn millis(v: Option<&str>) -> u64 {
    v.and_then(|s| s.trim_end_matches("ms").parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("testdata/crm_mon.xml");

    #[test]
    fn reads_nodes_dc_quorum_and_placement() {
        let st = ClusterStatus::parse(SAMPLE).unwrap();
        assert_eq!(st.dc.as_deref(), Some("node2"));
        assert!(st.quorum);
        assert_eq!(st.online(), ["node1", "node2"]);
        assert_eq!(st.placed_on("web"), Some("node1"));
        assert_eq!(st.members("web").len(), 3);
        assert_eq!(
            st.resource("web-ip").map(|r| r.agent.as_str()),
            Some("ocf:heartbeat:IPaddr2")
        );
    }

    #[test]
    fn reads_the_operation_history() {
        let st = ClusterStatus::parse(SAMPLE).unwrap();
        let start = st
            .operations
            .iter()
            .find(|o| o.resource == "web-server" && o.task == "start")
            .unwrap();
        assert_eq!(start.node, "node1");
        assert_eq!(start.rc, 0);
        assert!(start.exec_ms > 0);
    }

    #[test]
    fn a_group_on_two_nodes_is_not_placed() {
        let xml = SAMPLE.replace(
            "<node name=\"node1\" id=\"1\" cached=\"true\"/>",
            "<node name=\"node1\" id=\"1\" cached=\"true\"/><node name=\"node2\" id=\"2\" cached=\"true\"/>",
        );
        let st = ClusterStatus::parse(&xml).unwrap();
        assert_eq!(st.placed_on("web"), None);
        assert_eq!(st.resource("web-ip").unwrap().nodes, ["node1", "node2"]);
    }
}
