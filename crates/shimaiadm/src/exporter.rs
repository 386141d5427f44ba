//! `shimaiadm exporter`: a host-wide Prometheus endpoint, as drbd-reactor's
//! prometheus plugin is for DRBD.
//!
//! Every scrape of `GET /metrics` re-reads the configuration, asks each
//! resource of this node for its [`StatusReport`] over its control socket
//! (the same report `shimaiadm status --json` prints), and renders the
//! reports with the `prometheus-client` crate's text encoder (Prometheus
//! text format 0.0.4).
//!
//! Names and labels are drbd-reactor's (`drbd_resource_role{name}`,
//! `drbd_connection_state{name,conn_name,peer_node_id}`,
//! `drbd_peerdevice_outofsync_bytes{...,volume}`,
//! `drbd_device_written_bytes_total{name,volume,minor}`, ...), its enums
//! always on (one sample per state, 1 for the current one), plus what
//! drbd-reactor lacks: `drbd_resource_up`, replication and peer-disk
//! states, resync rate, remaining bytes and ETA, the split-brain flag.
//! A resource whose daemon does not answer is `drbd_resource_up 0`, never a
//! failed scrape. The reference is docs/metrics.md.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use shimai_config::Resource;
use shimaid::control::{self, Reply, Request, StatusReport};

use crate::context::{Loaded, Settings};
use crate::error::AdmError;
use crate::format::states::{connection_9, replication_9, replication_states_9};

/// drbd-reactor's port.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9942";
/// How long one resource's daemon may take to answer a scrape's status
/// request (Prometheus' default scrape timeout is 10 s; resources are asked
/// in parallel).
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a client may take to send its request head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REQUEST_HEAD: usize = 8192;
/// Connections served at once; more are answered 503 (a scrape asks every daemon, so a
/// flood of clients must not become a flood of threads and control requests).
const MAX_CONNECTIONS: usize = 8;

const ROLES: &[&str] = &["Primary", "Secondary", "Unknown"];
/// DRBD 9's connection states (drbd-reactor's enum values).
const CONNECTION_STATES: &[&str] = &[
    "StandAlone",
    "Disconnecting",
    "Unconnected",
    "Timeout",
    "BrokenPipe",
    "NetworkFailure",
    "ProtocolError",
    "TearDown",
    "Connecting",
    "Connected",
];
const DISK_STATES: &[&str] = &[
    "Diskless",
    "Attaching",
    "Detaching",
    "Failed",
    "Negotiating",
    "Inconsistent",
    "Outdated",
    "DUnknown",
    "Consistent",
    "UpToDate",
];

/// One resource of this node at scrape time.
#[derive(Debug, Clone)]
pub struct Scraped {
    pub name: String,
    /// The peer's `on` name in the configuration (the connection's name).
    pub peer: String,
    /// The peer's `node-id`, or its position among the `on` sections (what
    /// drbdadm assigns to a two-node file without node ids).
    pub peer_node_id: u32,
    /// The daemon's report, or why there is none.
    pub report: Result<StatusReport, String>,
}

type Labels = Vec<(String, String)>;
type Gauges = Family<Labels, Gauge>;
type Counters = Family<Labels, Counter>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A gauge family registered under `name`.
fn gauge(reg: &mut Registry, name: &str, help: &str) -> Gauges {
    let f = Gauges::default();
    reg.register(name, help, f.clone());
    f
}

/// A counter family; the encoder adds `_total` to `name`.
fn counter(reg: &mut Registry, name: &str, help: &str) -> Counters {
    let f = Counters::default();
    reg.register(name, help, f.clone());
    f
}

fn set(f: &Gauges, l: &Labels, v: u64) {
    f.get_or_create(l).set(i64::try_from(v).unwrap_or(i64::MAX));
}

fn bool_gauge(f: &Gauges, l: &Labels, v: bool) {
    set(f, l, u64::from(v));
}

/// drbd-reactor's enum layout: one sample per known state, labelled with the
/// metric's own name, 1 for `current` (listed too when unknown to `states`).
fn enum_gauge(f: &Gauges, base: &Labels, key: &str, states: &[&str], current: &str) {
    let mut all: Vec<&str> = states.to_vec();
    if !all.contains(&current) {
        all.push(current);
    }
    for s in all {
        let mut l = base.clone();
        l.push((key.to_string(), s.to_string()));
        bool_gauge(f, &l, s == current);
    }
}

fn kib(v: u64) -> u64 {
    v.saturating_mul(1024)
}

/// The metrics of `resources` in the Prometheus text format.
pub fn render(resources: &[Scraped]) -> String {
    let mut reg = Registry::default();
    let r = &mut reg;
    let reactor_up = gauge(
        r,
        "drbdreactor_up",
        "Always 1 while the exporter answers (drbd-reactor's name, kept for its dashboards)",
    );
    let count = gauge(
        r,
        "drbd_resource_resources",
        "Number of resources of this node in the configuration",
    );
    let up = gauge(
        r,
        "drbd_resource_up",
        "1 when the resource's shimaid answered on its control socket, 0 when it is down",
    );
    let role = gauge(r, "drbd_resource_role", "Role of the resource on this node");
    let suspended = gauge(
        r,
        "drbd_resource_suspended",
        "Boolean whether client I/O is frozen (fencing resource-and-stonith)",
    );
    let maypromote = gauge(
        r,
        "drbd_resource_maypromote",
        "Boolean whether the resource may be promoted here (UpToDate, not Primary, peer not Primary)",
    );
    let splitbrain = gauge(
        r,
        "drbd_resource_splitbrain",
        "Boolean whether the last handshake found a split brain that no policy resolved (cleared on the next connection)",
    );
    let cstate = gauge(
        r,
        "drbd_connection_state",
        "Connection state (DRBD 9 names)",
    );
    let peer_role = gauge(
        r,
        "drbd_connection_peer_role",
        "Role of the peer as last reported over the connection",
    );
    let oos = gauge(
        r,
        "drbd_peerdevice_outofsync_bytes",
        "Number of bytes currently out of sync with this peer, according to the bitmap",
    );
    let sent = gauge(
        r,
        "drbd_peerdevice_sent_bytes",
        "Bytes sent to the peer since the daemon started (application and resync data; drbd-reactor's name, a counter without _total)",
    );
    let received = gauge(
        r,
        "drbd_peerdevice_received_bytes",
        "Bytes received from the peer since the daemon started (drbd-reactor's name, a counter without _total)",
    );
    let repl = gauge(
        r,
        "drbd_peerdevice_replication_state",
        "Replication state with this peer (DRBD 9 names; Off while not connected)",
    );
    let pdsk = gauge(
        r,
        "drbd_peerdevice_peer_disk_state",
        "Disk state of the peer (DUnknown while not connected)",
    );
    let pending = gauge(
        r,
        "drbd_peerdevice_pending",
        "Requests sent to the peer and not yet answered",
    );
    let unacked = gauge(
        r,
        "drbd_peerdevice_unacked",
        "Peer requests received and not yet acknowledged",
    );
    let rs_rate = gauge(
        r,
        "drbd_peerdevice_resync_rate_bytes_per_second",
        "Average rate of the running resync or verify since it started (0 when none runs)",
    );
    let rs_left = gauge(
        r,
        "drbd_peerdevice_resync_remaining_bytes",
        "Bytes the running resync or verify still has to do (0 when none runs)",
    );
    let rs_total = gauge(
        r,
        "drbd_peerdevice_resync_total_bytes",
        "Bytes the running resync or verify covers in all (0 when none runs)",
    );
    let rs_eta = gauge(
        r,
        "drbd_peerdevice_resync_eta_seconds",
        "Estimated seconds until the running resync or verify ends (0 when none runs or the rate is still 0)",
    );
    let rs_paused = gauge(
        r,
        "drbd_peerdevice_resync_suspended",
        "Boolean whether the resync is paused, by reason (user: pause-sync here, peer: pause-sync on the peer)",
    );
    let verify_oos = gauge(
        r,
        "drbd_peerdevice_verify_outofsync_bytes",
        "Bytes the last online verify found different",
    );
    let dstate = gauge(r, "drbd_device_state", "Disk state of the local device");
    let client = gauge(
        r,
        "drbd_device_client",
        "Boolean whether this device is intentionally diskless (always 0: shimai has no diskless clients)",
    );
    let unintentional = gauge(
        r,
        "drbd_device_unintentionaldiskless",
        "Boolean whether the device lost its disk (Diskless)",
    );
    let size = gauge(
        r,
        "drbd_device_size_bytes",
        "Usable size of the device in bytes",
    );
    let read = counter(
        r,
        "drbd_device_read_bytes",
        "Net data read from the local disk, in bytes",
    );
    let written = counter(
        r,
        "drbd_device_written_bytes",
        "Net data written to the local disk, in bytes",
    );
    let alwrites = counter(
        r,
        "drbd_device_alwrites",
        "Number of updates of the activity log area of the metadata",
    );
    let bmwrites = counter(
        r,
        "drbd_device_bmwrites",
        "Number of updates of the bitmap area of the metadata",
    );
    let upper = gauge(
        r,
        "drbd_device_upperpending",
        "Application requests submitted to the device and not yet answered",
    );
    let lower = gauge(
        r,
        "drbd_device_lowerpending",
        "Requests to the local disk not yet completed",
    );

    set(&reactor_up, &Vec::new(), 1);
    set(&count, &Vec::new(), resources.len() as u64);
    for res in resources {
        let name = res.name.as_str();
        let rl = labels(&[("name", name)]);
        let s = match &res.report {
            Ok(s) => s,
            Err(_) => {
                set(&up, &rl, 0);
                continue;
            }
        };
        set(&up, &rl, 1);
        enum_gauge(&role, &rl, "drbd_resource_role", ROLES, &s.role);
        bool_gauge(&suspended, &rl, s.suspended);
        bool_gauge(
            &maypromote,
            &rl,
            s.role != "Primary" && s.disk == "UpToDate" && s.peer_role != "Primary",
        );
        bool_gauge(&splitbrain, &rl, s.split_brain);

        let peer_id = res.peer_node_id.to_string();
        let conn_name = if s.peer_node.is_empty() {
            res.peer.as_str()
        } else {
            s.peer_node.as_str()
        };
        let cl = labels(&[
            ("name", name),
            ("conn_name", conn_name),
            ("peer_node_id", &peer_id),
        ]);
        enum_gauge(
            &cstate,
            &cl,
            "drbd_connection_state",
            CONNECTION_STATES,
            connection_9(&s.connection),
        );
        enum_gauge(
            &peer_role,
            &cl,
            "drbd_connection_peer_role",
            ROLES,
            &s.peer_role,
        );

        let mut pl = cl.clone();
        pl.push(("volume".into(), "0".into()));
        let c = &s.counters;
        set(&oos, &pl, kib(c.oos));
        set(&sent, &pl, kib(c.ns));
        set(&received, &pl, kib(c.nr));
        enum_gauge(
            &repl,
            &pl,
            "drbd_peerdevice_replication_state",
            &replication_states_9(),
            replication_9(&s.connection).unwrap_or("Off"),
        );
        enum_gauge(
            &pdsk,
            &pl,
            "drbd_peerdevice_peer_disk_state",
            DISK_STATES,
            &s.peer_disk,
        );
        set(&pending, &pl, c.pe);
        set(&unacked, &pl, c.ua);
        let (rate, left, total, eta) = s.resync.as_ref().map_or((0, 0, 0, 0), |p| {
            (p.rate_kib_s, p.left_kib, p.total_kib, p.eta_s)
        });
        set(&rs_rate, &pl, kib(rate));
        set(&rs_left, &pl, kib(left));
        set(&rs_total, &pl, kib(total));
        set(&rs_eta, &pl, eta);
        for (reason, on) in [("user", s.user_paused), ("peer", s.peer_paused)] {
            let mut l = pl.clone();
            l.push(("reason".into(), reason.into()));
            bool_gauge(&rs_paused, &l, on);
        }
        set(&verify_oos, &pl, kib(s.verify_oos_kib));

        let minor = s.minor.to_string();
        let dl = labels(&[("name", name), ("volume", "0"), ("minor", &minor)]);
        enum_gauge(&dstate, &dl, "drbd_device_state", DISK_STATES, &s.disk);
        set(&client, &dl, 0);
        bool_gauge(&unintentional, &dl, s.disk == "Diskless");
        set(&size, &dl, kib(s.size_kib));
        read.get_or_create(&dl).inc_by(kib(c.dr));
        written.get_or_create(&dl).inc_by(kib(c.dw));
        alwrites.get_or_create(&dl).inc_by(c.al);
        bmwrites.get_or_create(&dl).inc_by(c.bm);
        set(&upper, &dl, c.ap);
        set(&lower, &dl, c.lo);
    }
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_text::encode(&mut text, &reg);
    text
}

/// The peer's name and node id for `r` on `node` (the first other `on` section).
fn peer_of(r: &Resource, node: &str) -> (String, u32) {
    r.hosts
        .iter()
        .enumerate()
        .find(|(_, h)| !h.floating && !h.names.iter().any(|n| n == node))
        .map(|(i, h)| (h.name().to_string(), h.node_id.unwrap_or(i as u32)))
        .unwrap_or_default()
}

/// Asks one daemon for its status.
fn ask(run_dir: &Path, resource: &str) -> Result<StatusReport, String> {
    let path = control::socket_path(run_dir, resource);
    match control::call(&path, &Request::Status, STATUS_TIMEOUT) {
        Ok(Reply::Status(s)) => Ok(*s),
        Ok(other) => Err(format!("unexpected answer {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Reads the configuration and asks every resource of this node, in parallel.
pub fn scrape(settings: &Settings) -> Result<Vec<Scraped>, AdmError> {
    let loaded = Loaded::load(&settings.config)?;
    let mine: Vec<&Resource> = loaded
        .config
        .resources
        .iter()
        .filter(|r| r.host_for(&settings.node).is_some())
        .collect();
    let reports: Vec<Result<StatusReport, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = mine
            .iter()
            .map(|r| scope.spawn(|| ask(&settings.run_dir, &r.name)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("status request failed".into()))
            })
            .collect()
    });
    Ok(mine
        .iter()
        .zip(reports)
        .map(|(r, report)| {
            let (peer, peer_node_id) = peer_of(r, &settings.node);
            Scraped {
                name: r.name.clone(),
                peer,
                peer_node_id,
                report,
            }
        })
        .collect())
}

/// An HTTP response with a body.
fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

/// The request line's method and path, once the head is complete.
fn read_request(stream: &mut TcpStream, timeout: Duration) -> Option<(String, String)> {
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > MAX_REQUEST_HEAD {
            return None;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next()?.split_whitespace();
    let method = words.next()?.to_string();
    let target = words.next()?.to_string();
    Some((method, target))
}

/// One connection: `GET /metrics`, or a short page at `/`.
fn handle(settings: &Settings, mut stream: TcpStream) {
    let Some((method, target)) = read_request(&mut stream, REQUEST_TIMEOUT) else {
        respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            "bad request\n",
        );
        return;
    };
    if method != "GET" {
        respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "only GET is served\n",
        );
        return;
    }
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/metrics" => match scrape(settings) {
            Ok(resources) => respond(
                &mut stream,
                "200 OK",
                prometheus_text::CONTENT_TYPE,
                &render(&resources),
            ),
            Err(e) => {
                eprintln!("shimaiadm exporter: {e}");
                respond(
                    &mut stream,
                    "500 Internal Server Error",
                    "text/plain",
                    &format!("{e}\n"),
                );
            }
        },
        "/" => respond(
            &mut stream,
            "200 OK",
            "text/html",
            "<html><body><h1>shimai exporter</h1><p><a href=\"/metrics\">/metrics</a></p></body></html>\n",
        ),
        _ => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "not found: the metrics are at /metrics\n",
        ),
    }
}

/// Serves until killed; returns an exit code only when it cannot start.
pub fn serve(settings: &Settings, listen: SocketAddr, err: &mut dyn Write) -> i32 {
    let listener = match TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(
                err,
                "shimaiadm: exporter: cannot listen on {listen}: {e}; choose another address with --listen ADDR:PORT"
            );
            return crate::error::EXIT_FAILED;
        }
    };
    let shown = listener.local_addr().unwrap_or(listen);
    let _ = writeln!(
        err,
        "shimaiadm: exporter: serving http://{shown}/metrics for the resources of node {} in {}",
        settings.node,
        settings.config.display()
    );
    let _ = err.flush();
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        match stream {
            Ok(mut s) => {
                if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::SeqCst);
                    // Read the request first (briefly): closing a socket with unread data
                    // resets the connection, and the client would see no answer at all.
                    let _ = read_request(&mut s, Duration::from_millis(500));
                    respond(
                        &mut s,
                        "503 Service Unavailable",
                        "text/plain",
                        "too many scrapes at once\n",
                    );
                    continue;
                }
                let settings = settings.clone();
                let count = Arc::clone(&active);
                let spawned = std::thread::Builder::new()
                    .name("scrape".into())
                    .spawn(move || {
                        handle(&settings, s);
                        count.fetch_sub(1, Ordering::SeqCst);
                    });
                if let Err(e) = spawned {
                    active.fetch_sub(1, Ordering::SeqCst);
                    let _ = writeln!(err, "shimaiadm: exporter: cannot start a thread: {e}");
                }
            }
            Err(e) => {
                let _ = writeln!(err, "shimaiadm: exporter: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(json: &str) -> StatusReport {
        serde_json::from_str(json).unwrap()
    }

    const PRIMARY: &str = r#"{"resource":"r0","node":"alpha","peer_node":"beta","role":"Primary",
        "peer_role":"Unknown","connection":"WFConnection","disk":"UpToDate","peer_disk":"DUnknown",
        "protocol":"C","device":"/dev/drbd0","minor":0,"size_kib":1024,"suspended":false,
        "user_paused":false,"peer_paused":false,
        "generation":{"current":"0","bitmap":"0","history":["0","0"]},
        "counters":{"ns":1,"nr":2,"dw":3,"dr":4,"al":5,"bm":6,"lo":0,"pe":0,"ua":0,"ap":0,"ep":1,"oos":64},
        "write_ordering":"f","resync":null,"verify_oos_kib":0}"#;

    #[test]
    fn reactor_names_labels_and_enums() {
        let text = render(&[Scraped {
            name: "r0".into(),
            peer: "beta".into(),
            peer_node_id: 1,
            report: Ok(report(PRIMARY)),
        }]);
        for line in [
            "drbd_resource_up{name=\"r0\"} 1",
            "drbd_resource_role{name=\"r0\",drbd_resource_role=\"Primary\"} 1",
            "drbd_resource_role{name=\"r0\",drbd_resource_role=\"Secondary\"} 0",
            "drbd_connection_state{name=\"r0\",conn_name=\"beta\",peer_node_id=\"1\",drbd_connection_state=\"Connecting\"} 1",
            "drbd_peerdevice_outofsync_bytes{name=\"r0\",conn_name=\"beta\",peer_node_id=\"1\",volume=\"0\"} 65536",
            "drbd_peerdevice_replication_state{name=\"r0\",conn_name=\"beta\",peer_node_id=\"1\",volume=\"0\",drbd_peerdevice_replication_state=\"Off\"} 1",
            "drbd_device_written_bytes_total{name=\"r0\",volume=\"0\",minor=\"0\"} 3072",
            "drbd_device_read_bytes_total{name=\"r0\",volume=\"0\",minor=\"0\"} 4096",
            "drbd_device_alwrites_total{name=\"r0\",volume=\"0\",minor=\"0\"} 5",
            "# TYPE drbd_device_written_bytes_total counter",
            "drbd_peerdevice_sent_bytes{name=\"r0\",conn_name=\"beta\",peer_node_id=\"1\",volume=\"0\"} 1024",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\nnot in\n{text}");
        }
    }

    #[test]
    fn a_resource_that_is_down_is_up_0_and_nothing_else() {
        let text = render(&[Scraped {
            name: "r1".into(),
            peer: "beta".into(),
            peer_node_id: 1,
            report: Err("not running".into()),
        }]);
        assert!(text.lines().any(|l| l == "drbd_resource_up{name=\"r1\"} 0"));
        assert!(text.lines().any(|l| l == "drbd_resource_resources 1"));
        assert!(!text.contains("drbd_resource_role{"), "{text}");
    }

    #[test]
    fn a_state_unknown_to_the_enum_is_still_shown() {
        let mut s = report(PRIMARY);
        s.disk = "Frobnicated".into();
        let text = render(&[Scraped {
            name: "r0".into(),
            peer: "beta".into(),
            peer_node_id: 1,
            report: Ok(s),
        }]);
        assert!(
            text.contains("drbd_device_state=\"Frobnicated\"} 1"),
            "{text}"
        );
    }
}
