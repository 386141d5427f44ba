//! The converted cluster, independent of any output syntax.
//!
//! The three writers (CIB XML, crm shell, corosync.conf) render this one
//! model, so the XML and the crm text cannot disagree. Comments attached to
//! elements carry the places where Pacemaker behaves differently from
//! Heartbeat; they appear in every output.

/// A resource agent class, with the provider for OCF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// `ocf:PROVIDER:TYPE`.
    Ocf(String),
    /// An LSB init script in /etc/init.d.
    Lsb,
    /// A systemd unit.
    Systemd,
    /// A fence device (cluster-glue plugin or fence_* agent).
    Stonith,
}

/// Promotable clone roles, spelled for the target schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Primary (`Promoted`, or `Master` before schema 3.7).
    Promoted,
    /// Secondary (`Unpromoted`, or `Slave` before schema 3.7).
    Unpromoted,
}

/// One operation of a primitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// `monitor`, `start`, `stop`, `promote`...
    pub name: &'static str,
    /// Interval (`0s` for non-recurring).
    pub interval: String,
    /// Timeout.
    pub timeout: String,
    /// Role the monitor applies to.
    pub role: Option<Role>,
}

/// A primitive resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primitive {
    /// Its id.
    pub id: String,
    /// Class (and provider).
    pub class: Class,
    /// Agent type (`IPaddr2`, `httpd`).
    pub kind: String,
    /// Instance parameters in the agent's order.
    pub params: Vec<(String, String)>,
    /// Operations.
    pub ops: Vec<Op>,
    /// Comment lines shown above it.
    pub comments: Vec<String>,
}

/// A top-level resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A primitive on its own (fence devices).
    Primitive(Primitive),
    /// A group: ordered and colocated members.
    Group {
        /// Its id.
        id: String,
        /// Members in start order.
        members: Vec<Primitive>,
        /// Comment lines shown above it.
        comments: Vec<String>,
    },
    /// A clone, promotable or not.
    Clone {
        /// Its id.
        id: String,
        /// Meta attributes.
        meta: Vec<(String, String)>,
        /// The cloned primitive.
        child: Primitive,
        /// Comment lines shown above it.
        comments: Vec<String>,
    },
}

/// A constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// Prefer (or avoid) a node.
    Location {
        /// Id.
        id: String,
        /// Resource.
        rsc: String,
        /// Only this role (promotable clones).
        role: Option<Role>,
        /// Score (`100`, `-INFINITY`).
        score: String,
        /// Node.
        node: String,
    },
    /// Prefer nodes by the value of a node attribute (ping connectivity):
    /// a rule with `score-attribute`, applying where the attribute is defined.
    ScoreAttribute {
        /// Id.
        id: String,
        /// Resource.
        rsc: String,
        /// Node attribute name.
        attribute: String,
    },
    /// `rsc` runs where `with` runs (in `with_role`).
    Colocation {
        /// Id.
        id: String,
        /// Dependent resource.
        rsc: String,
        /// Resource it follows.
        with: String,
        /// Role of `with`.
        with_role: Option<Role>,
    },
    /// `first` `first_action`, then `then` start.
    Order {
        /// Id.
        id: String,
        /// First resource.
        first: String,
        /// Its action (`promote`, `start`).
        first_action: &'static str,
        /// Then this one starts.
        then: String,
    },
}

/// Corosync settings derived from ha.cf and authkeys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Corosync {
    /// totem.token in ms.
    pub token_ms: u64,
    /// totem.token_warning in percent, when ha.cf set warntime.
    pub token_warning: Option<u64>,
    /// knet ping interval and timeout in ms (from keepalive).
    pub knet_ping: Option<(u64, u64)>,
    /// Links: (port, comment) per linknumber.
    pub links: Vec<Link>,
    /// Node names with their per-link addresses.
    pub nodes: Vec<(String, Vec<String>)>,
    /// knet compression model and threshold in bytes.
    pub compression: Option<(String, Option<u32>)>,
    /// Logging.
    pub logfile: Option<String>,
    /// syslog facility; `Some("none")` turns syslog off.
    pub syslog_facility: Option<String>,
    /// Debug logging.
    pub debug: bool,
    /// Comments written at the top of the file.
    pub comments: Vec<String>,
}

/// One knet link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// UDP port (mcastport).
    pub port: u16,
    /// Where it came from in ha.cf.
    pub comment: String,
}

/// The whole result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Cluster name (corosync cluster_name and property cluster-name).
    pub name: String,
    /// The `validate-with` schema, e.g. `pacemaker-3.9`.
    pub schema: String,
    /// True when the schema predates Promoted/Unpromoted (3.7).
    pub legacy_roles: bool,
    /// Node names; their ids are their 1-based positions.
    pub nodes: Vec<String>,
    /// crm_config properties.
    pub properties: Vec<(String, String)>,
    /// rsc_defaults.
    pub rsc_defaults: Vec<(String, String)>,
    /// op_defaults.
    pub op_defaults: Vec<(String, String)>,
    /// Resources in output order.
    pub resources: Vec<Resource>,
    /// Constraints in output order.
    pub constraints: Vec<Constraint>,
    /// Comment lines at the top of the configuration.
    pub comments: Vec<String>,
    /// Corosync part.
    pub corosync: Corosync,
}

impl Role {
    /// The spelling for the schema in use.
    pub fn name(self, legacy: bool) -> &'static str {
        match (self, legacy) {
            (Role::Promoted, false) => "Promoted",
            (Role::Unpromoted, false) => "Unpromoted",
            (Role::Promoted, true) => "Master",
            (Role::Unpromoted, true) => "Slave",
        }
    }
}

/// A CIB id from arbitrary text, with pcs's rules: the first character must
/// be a letter or `_`, the rest letters, digits, `_`, `.`, `-`. Anything else
/// becomes `_` so that different addresses stay different ids.
pub fn sanitize_id(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}
