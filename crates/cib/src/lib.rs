//! Heartbeat v1 to Pacemaker: the library behind `haresources2cib`.
//!
//! Sites that ran Heartbeat in "R1" mode described their cluster in three
//! files: `haresources` (one resource group per line, the preferred node
//! first), `ha.cf` (nodes, media, timers, failback) and `authkeys`. This
//! crate reads them exactly as Heartbeat did and produces what a Pacemaker
//! and Corosync 3 cluster needs: a CIB (XML), the same configuration as a
//! `crm configure` script, and a `corosync.conf`.
//!
//! The conversion is a pure function of the input texts, [`Options`] and a
//! [`Host`] that answers the few questions Heartbeat answered at run time
//! (does `/etc/init.d/NAME` exist, what filesystem is on a device). Tests
//! give a fixed `Host`, so the golden outputs are byte-for-byte stable.
//!
//! Where Pacemaker behaves differently from Heartbeat (it monitors
//! resources, it starts a group only after its DRBD device is promoted, it
//! wants fencing), the outputs say so in comments, and [`Conversion`]
//! carries the same notes as warnings for stderr.
//!
//! ```
//! let out = shimai_cib::convert(
//!     &shimai_cib::Inputs {
//!         haresources: ("haresources", "node1 IPaddr2::10.0.0.10/24/eth0 httpd\n"),
//!         hacf: Some(("ha.cf", "node node1 node2\nbcast eth1\nauto_failback on\n")),
//!         authkeys: None,
//!     },
//!     &shimai_cib::Options::default(),
//!     &shimai_cib::NoHost,
//! )
//! .unwrap();
//! let xml = shimai_cib::xml::write(&out.cluster);
//! assert!(xml.contains(r#"name="cidr_netmask" value="24""#));
//! ```

#![forbid(unsafe_code)]

pub mod address;
pub mod authkeys;
mod build;
pub mod cli;
pub mod corosync;
pub mod crm;
mod error;
mod fencing;
pub mod hacf;
pub mod haresources;
pub mod host;
pub mod mapping;
pub mod model;
mod ping;
mod totem;
pub mod upgrade;
pub mod xml;

pub use error::{Error, Place};
pub use host::{Host, NoHost, SystemHost};

/// The schema used when the installed Pacemaker cannot be inspected.
pub const FALLBACK_SCHEMA: &str = "pacemaker-3.9";

/// How the conversion is done; the command line fills this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Provider of the agents shimai ships (`Filesystem`, `IPaddr2`,
    /// `iSCSITarget`, `iSCSILogicalUnit`): `shimai` or `heartbeat`.
    pub provider: String,
    /// Provider of the `drbd` agent: `shimai` or `linbit`.
    pub drbd_provider: String,
    /// fstype for Filesystem resources that have none and cannot be probed.
    pub default_fstype: Option<String>,
    /// Emit recurring monitor operations (Heartbeat had none).
    pub monitor: bool,
    /// `--no-ocf` was given (kept for compatibility; see the warning).
    pub no_ocf: bool,
    /// The `validate-with` value, e.g. `pacemaker-3.9`.
    pub schema: String,
    /// DRBD resources that a bare `drbddisk` stands for.
    pub drbd_resources: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            provider: "shimai".into(),
            drbd_provider: "shimai".into(),
            default_fstype: None,
            monitor: true,
            no_ocf: false,
            schema: FALLBACK_SCHEMA.into(),
            drbd_resources: Vec::new(),
        }
    }
}

/// The input texts, each with the name used in messages.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// haresources (required).
    pub haresources: (&'a str, &'a str),
    /// ha.cf, when available.
    pub hacf: Option<(&'a str, &'a str)>,
    /// authkeys, when available.
    pub authkeys: Option<(&'a str, &'a str)>,
}

/// The result: the model for the writers, and what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// The converted cluster.
    pub cluster: model::Cluster,
    /// Warnings, each starting with the file and line it concerns.
    pub warnings: Vec<String>,
}

/// Converts Heartbeat's files into the cluster model.
pub fn convert(inputs: &Inputs, opts: &Options, host: &dyn Host) -> Result<Conversion, Error> {
    build::build(inputs, opts, host)
}

/// Fuzz entry: haresources parsing and mapping must never panic.
pub fn fuzz_haresources(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let inputs = Inputs {
        haresources: ("fuzz", &text),
        hacf: None,
        authkeys: None,
    };
    let opts = Options {
        drbd_resources: vec!["r0".into()],
        default_fstype: Some("ext4".into()),
        ..Options::default()
    };
    if let Ok(c) = convert(&inputs, &opts, &NoHost) {
        let _ = xml::write(&c.cluster);
        let _ = crm::write(&c.cluster);
        let _ = corosync::write(&c.cluster);
    }
}

/// Fuzz entry: ha.cf and authkeys parsing must never panic.
pub fn fuzz_hacf(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = hacf::parse("fuzz", &text);
    let _ = authkeys::parse("fuzz", &text);
    let inputs = Inputs {
        haresources: ("fuzz", "node1 IPaddr2::10.0.0.1\n"),
        hacf: Some(("fuzz", &text)),
        authkeys: Some(("fuzz", &text)),
    };
    if let Ok(c) = convert(&inputs, &Options::default(), &NoHost) {
        let _ = corosync::write(&c.cluster);
    }
}

/// Fuzz entry: reading an old cib.xml must never panic.
pub fn fuzz_upgrade(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = upgrade::upgrade("fuzz", &text, FALLBACK_SCHEMA, "shimai");
}
