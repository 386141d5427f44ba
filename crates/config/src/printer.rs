//! The canonical text of a model: what `shimaiadm dump` prints.
//!
//! It is close to `drbdadm dump` on DRBD 8.4: options sit in their 8.4
//! sections, each level shows only what differs from the level it inherits
//! from (`common` from the defaults, a resource from `common`, a volume or
//! connection from its resource), and hosts list their volumes. Parsing the
//! output gives back the same model; the tests check that law.

use std::fmt::Write as _;

use crate::catalog::{print_block, Block, Target};
use crate::lexer::escape;
use crate::model::{
    Config, Connection, ConnectionHost, ConnectionMesh, Device, Host, MetaDisk, Resource, Volume,
};
use crate::sections::{DiskOptions, Section};

const INDENT: &str = "    ";

/// A value as one token: bare when the lexer would read it back as one
/// word, quoted otherwise. Commands and secrets are always quoted.
fn token(value: &str, always_quote: bool) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| !(c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"' | '#' | '\\')));
    if plain && !always_quote {
        value.to_string()
    } else {
        format!("\"{}\"", escape(value))
    }
}

/// The lines of one section that differ from `base`, tagged with the block
/// each is written in.
fn diff<S: Section>(current: &S, base: &S, target: Target) -> Vec<(Block, String)> {
    let mut lines = Vec::new();
    let quote_all = target == Target::Handlers;
    let mut push = |key: &str, value: Option<&str>| {
        let Some(block) = print_block(target, key) else {
            return;
        };
        let line = match value {
            Some(v) => format!("{key} {};", token(v, quote_all || key == "shared-secret")),
            None => format!("{key};"),
        };
        lines.push((block, line));
    };
    for ((key, value), (_, base_value)) in current.entries().into_iter().zip(base.entries()) {
        if value != base_value {
            if let Some(v) = &value {
                push(key, Some(v));
            }
        }
    }
    for option in current.extra() {
        if !base.extra().contains(option) {
            push(&option.key, option.value.as_deref());
        }
    }
    lines
}

/// Writes `name { lines }` at `depth`, nothing when there are no lines.
fn block(out: &mut String, depth: usize, name: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let pad = INDENT.repeat(depth);
    let _ = writeln!(out, "{pad}{name} {{");
    for line in lines {
        let _ = writeln!(out, "{pad}{INDENT}{line}");
    }
    let _ = writeln!(out, "{pad}}}");
}

/// Writes the option blocks in a fixed order.
fn blocks(out: &mut String, depth: usize, lines: &[(Block, String)]) {
    for b in [
        Block::Global,
        Block::Options,
        Block::Net,
        Block::Disk,
        Block::Syncer,
        Block::Startup,
        Block::Handlers,
    ] {
        let mine: Vec<String> = lines
            .iter()
            .filter(|(lb, _)| *lb == b)
            .map(|(_, l)| l.clone())
            .collect();
        block(out, depth, b.name(), &mine);
    }
}

pub(crate) fn dump(config: &Config) -> String {
    let mut out = String::new();
    let defaults = Config::default();
    let global = diff(&config.global, &defaults.global, Target::Global);
    blocks(&mut out, 0, &global);

    let (c, d) = (&config.common, &defaults.common);
    let mut common = diff(&c.options, &d.options, Target::Options);
    common.extend(diff(&c.net, &d.net, Target::Net));
    common.extend(diff(&c.disk, &d.disk, Target::Disk));
    common.extend(diff(&c.startup, &d.startup, Target::Startup));
    common.extend(diff(&c.handlers, &d.handlers, Target::Handlers));
    if !common.is_empty() {
        out.push_str("common {\n");
        blocks(&mut out, 1, &common);
        out.push_str("}\n");
    }

    for resource in &config.resources {
        if !out.is_empty() {
            out.push('\n');
        }
        print_resource(&mut out, resource, config);
    }
    out
}

fn print_resource(out: &mut String, r: &Resource, config: &Config) {
    let c = &config.common;
    let _ = writeln!(out, "resource {} {{", token(&r.name, false));
    let mut lines = diff(&r.options, &c.options, Target::Options);
    lines.extend(diff(&r.net, &c.net, Target::Net));
    lines.extend(diff(&r.disk, &c.disk, Target::Disk));
    lines.extend(diff(&r.startup, &c.startup, Target::Startup));
    lines.extend(diff(&r.handlers, &c.handlers, Target::Handlers));
    blocks(out, 1, &lines);
    for host in &r.hosts {
        print_host(out, host, &r.disk);
    }
    for connection in &r.connections {
        print_connection(out, connection, r);
    }
    for mesh in &r.meshes {
        print_mesh(out, mesh, r);
    }
    out.push_str("}\n");
}

fn device_line(device: &Device) -> String {
    match &device.path {
        None => format!("device minor {};", device.minor),
        Some(p) if *p == format!("/dev/drbd{}", device.minor) => format!("device {p};"),
        Some(p) => format!("device {} minor {};", token(p, false), device.minor),
    }
}

fn volume_lines(volume: &Volume, resource_disk: &DiskOptions) -> Vec<String> {
    let mut lines = vec![device_line(&volume.device)];
    lines.push(match &volume.disk {
        Some(d) => format!("disk {};", token(d, false)),
        None => "disk none;".to_string(),
    });
    // A bare path ending in `[N]` would read back as path and index.
    let md_path = |p: &str| token(p, p.contains('['));
    lines.push(match &volume.meta_disk {
        MetaDisk::Internal => "meta-disk internal;".to_string(),
        MetaDisk::External { path, index: None } => format!("meta-disk {};", md_path(path)),
        MetaDisk::External {
            path,
            index: Some(i),
        } => format!("meta-disk {} [{i}];", md_path(path)),
    });
    let own: Vec<String> = diff(&volume.disk_options, resource_disk, Target::Disk)
        .into_iter()
        .filter(|(b, _)| *b == Block::Disk)
        .map(|(_, l)| l)
        .collect();
    if !own.is_empty() {
        let mut nested = String::new();
        block(&mut nested, 0, "disk", &own);
        lines.extend(nested.lines().map(str::to_string));
    }
    lines
}

fn print_host(out: &mut String, host: &Host, resource_disk: &DiskOptions) {
    let mut lines = Vec::new();
    let header = if host.floating {
        match &host.address {
            Some(a) => format!("floating {a}"),
            None => "floating".to_string(),
        }
    } else {
        // With a proxy section the model's address is its `outside` one;
        // the file's own address is printed back.
        let written = match &host.proxy {
            Some(p) => p.address.as_ref(),
            None => host.address.as_ref(),
        };
        if let Some(a) = written {
            lines.push(format!("address {a};"));
        }
        if let Some(p) = &host.proxy {
            let names: Vec<String> = p.names.iter().map(|n| token(n, false)).collect();
            lines.push(format!("proxy on {} {{", names.join(" ")));
            lines.push(format!("{INDENT}inside {};", p.inside));
            lines.push(format!("{INDENT}outside {};", p.outside));
            lines.push("}".to_string());
        }
        let names: Vec<String> = host.names.iter().map(|n| token(n, false)).collect();
        format!("on {}", names.join(" "))
    };
    if let Some(id) = host.node_id {
        lines.insert(0, format!("node-id {id};"));
    }
    let flat = matches!(host.volumes.as_slice(),
        [only] if only.number == 0 && only.disk_options == *resource_disk);
    for volume in &host.volumes {
        let vl = volume_lines(volume, resource_disk);
        if flat {
            lines.extend(vl);
        } else {
            lines.push(format!("volume {} {{", volume.number));
            lines.extend(vl.into_iter().map(|l| format!("{INDENT}{l}")));
            lines.push("}".to_string());
        }
    }
    block(out, 1, &header, &lines);
}

fn connection_host(h: &ConnectionHost) -> String {
    let mut line = format!("host {}", token(&h.name, false));
    if let Some(a) = &h.address {
        let _ = write!(line, " address {a}");
    }
    if let Some(p) = h.port {
        let _ = write!(line, " port {p}");
    }
    line.push(';');
    line
}

fn print_connection(out: &mut String, c: &Connection, r: &Resource) {
    let mut lines: Vec<String> = c.hosts.iter().map(connection_host).collect();
    for path in &c.paths {
        lines.push("path {".to_string());
        lines.extend(
            path.iter()
                .map(|h| format!("{INDENT}{}", connection_host(h))),
        );
        lines.push("}".to_string());
    }
    let mut own = diff(&c.net, &r.net, Target::Net);
    own.extend(diff(&c.disk, &r.disk, Target::Disk));
    let mut nested = String::new();
    blocks(&mut nested, 0, &own);
    for v in &c.volumes {
        let disk: Vec<String> = diff(&v.disk, &c.disk, Target::Disk)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        let _ = writeln!(nested, "volume {} {{", v.number);
        block(&mut nested, 1, "disk", &disk);
        nested.push_str("}\n");
    }
    lines.extend(nested.lines().map(str::to_string));
    let header = match &c.name {
        Some(n) => format!("connection {}", token(n, false)),
        None => "connection".to_string(),
    };
    // An empty connection is still a connection: write its braces.
    if lines.is_empty() {
        let _ = writeln!(out, "{INDENT}{header} {{\n{INDENT}}}");
    } else {
        block(out, 1, &header, &lines);
    }
}

fn print_mesh(out: &mut String, m: &ConnectionMesh, r: &Resource) {
    let mut lines = Vec::new();
    if !m.hosts.is_empty() {
        let hosts: Vec<String> = m.hosts.iter().map(|h| token(h, false)).collect();
        lines.push(format!("hosts {};", hosts.join(" ")));
    }
    // The only disk option a mesh can carry is `fencing`, written in its net.
    let mut net: Vec<String> = diff(&m.net, &r.net, Target::Net)
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    net.extend(
        diff(&m.disk, &r.disk, Target::Disk)
            .into_iter()
            .map(|(_, l)| l),
    );
    let mut nested = String::new();
    block(&mut nested, 0, "net", &net);
    lines.extend(nested.lines().map(str::to_string));
    if lines.is_empty() {
        let _ = writeln!(out, "{INDENT}connection-mesh {{\n{INDENT}}}");
    } else {
        block(out, 1, "connection-mesh", &lines);
    }
}
