//! `scripts/cluster`: the Pacemaker test bed for humans.
//!
//! ```text
//! cluster up [--nodes N] [--web]   start N nodes (default 2), optionally the web group
//! cluster status                   crm_mon -1 and the nodes' namespaces
//! cluster exec NODE CMD [ARG...]   run a command on a node (crm, crm_mon, ip, ...)
//! cluster kill NODE                power loss of NODE
//! cluster start NODE               power NODE on again
//! cluster cut NODE | restore NODE  pull / plug NODE's network cable
//! cluster get                      fetch the web page from the virtual IP
//! cluster down                     stop everything
//! ```
//! Files live in `$SHIMAI_CLUSTER_DIR` (default /tmp/shimai-cluster);
//! namespaces are named shimai-cl-hub, shimai-cl-node1, ...

use shimai_tests::cluster::{web, Cluster, ClusterOptions, Error, Provider, Result, WebStack};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// `print!` that ignores a closed stdout (`scripts/cluster status | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `println!` that ignores a closed stdout.
macro_rules! sayln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

const USAGE: &str = "usage: cluster up [--nodes N] [--web] | status | exec NODE CMD [ARG...] | \
                     kill NODE | start NODE | cut NODE | restore NODE | get | down";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::env::var_os("SHIMAI_CLUSTER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/shimai-cluster"));
    match run(&dir, &args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cluster: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn usage(msg: &str) -> Error {
    Error::Usage(format!("{msg}\n{USAGE}"))
}

fn run(dir: &Path, args: &[String]) -> Result<ExitCode> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["up", rest @ ..] => up(dir, rest),
        ["down"] => down(dir),
        ["status"] => {
            let c = Cluster::attach(dir)?;
            for n in c.nodes() {
                sayln!(
                    "{}: {} netns {} init {}",
                    n.name,
                    n.addr,
                    n.netns,
                    if n.is_up() {
                        n.init.map(|p| p.to_string()).unwrap_or_default()
                    } else {
                        "down".into()
                    }
                );
            }
            match c.nodes().iter().position(|n| n.is_up()) {
                Some(i) => say!("\n{}", c.crm_mon_text(i)?),
                None => sayln!("every node is down"),
            }
            Ok(ExitCode::SUCCESS)
        }
        ["exec", node, cmd, rest @ ..] => {
            let c = Cluster::attach(dir)?;
            let i = c.index_of(node)?;
            let status = c
                .node(i)
                .command(cmd)?
                .args(rest)
                .status()
                .map_err(|e| Error::Usage(format!("cannot run {cmd} on {node}: {e}")))?;
            Ok(ExitCode::from(status.code().unwrap_or(1) as u8))
        }
        ["kill", node] => {
            let mut c = Cluster::attach(dir)?;
            let i = c.index_of(node)?;
            c.kill_node(i);
            c.persist()?;
            sayln!("{node} powered off");
            Ok(ExitCode::SUCCESS)
        }
        ["start", node] => {
            let mut c = Cluster::attach(dir)?;
            let i = c.index_of(node)?;
            c.restart_node(i)?;
            c.persist()?;
            sayln!("{node} powered on, corosync and pacemakerd started");
            Ok(ExitCode::SUCCESS)
        }
        ["cut", node] => {
            let c = Cluster::attach(dir)?;
            c.cut_link(c.index_of(node)?)?;
            sayln!("{node}: cable pulled");
            Ok(ExitCode::SUCCESS)
        }
        ["restore", node] => {
            let c = Cluster::attach(dir)?;
            c.restore_link(c.index_of(node)?)?;
            sayln!("{node}: cable plugged in");
            Ok(ExitCode::SUCCESS)
        }
        ["get"] => {
            let c = Cluster::attach(dir)?;
            say!(
                "{}",
                c.http_get(&format!("http://{}/", web::vip()), Duration::from_secs(3))?
            );
            Ok(ExitCode::SUCCESS)
        }
        [] => Err(usage("no command given")),
        _ => Err(usage(&format!("unknown command: {}", words.join(" ")))),
    }
}

fn up(dir: &Path, rest: &[&str]) -> Result<ExitCode> {
    let mut opts = ClusterOptions::default();
    let mut with_web = false;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match *a {
            "--web" => with_web = true,
            "--nodes" => {
                let n = it.next().ok_or_else(|| usage("--nodes needs a number"))?;
                opts.nodes = n
                    .parse()
                    .map_err(|_| usage(&format!("--nodes: {n} is not a number")))?;
            }
            other => return Err(usage(&format!("unknown option {other}"))),
        }
    }
    let cluster = Cluster::start_at(opts, dir, "shimai-cl")?;
    if with_web {
        let provider = Provider::from_env();
        match WebStack::install(&cluster, &provider, "node1") {
            Ok(stack) => {
                // The disk must outlive this process: `down` detaches it.
                std::fs::write(dir.join("web.disk"), format!("{}\n", stack.disk.path())).map_err(
                    |e| Error::Usage(format!("{}: {e}", dir.join("web.disk").display())),
                )?;
                std::mem::forget(stack);
                sayln!(
                    "web group running on node1: http://{}/ (from the hub: scripts/cluster get)",
                    web::vip()
                );
            }
            Err(e) => {
                let mut c = cluster;
                c.destroy();
                return Err(e);
            }
        }
    }
    say!("{}", cluster.crm_mon_text(0)?);
    cluster.keep();
    Ok(ExitCode::SUCCESS)
}

fn down(dir: &Path) -> Result<ExitCode> {
    let mut c = Cluster::attach(dir)?;
    c.release();
    c.destroy();
    if let Ok(dev) = std::fs::read_to_string(dir.join("web.disk")) {
        // The loop device's backing file was under a temporary directory
        // that `up` left behind; detaching frees both.
        let dev = dev.trim();
        if let Some(file) = backing_file(dev) {
            let _ = Command::new("losetup").args(["-d", dev]).status();
            if let Some(parent) = Path::new(&file).parent() {
                let _ = std::fs::remove_dir_all(parent);
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    sayln!("cluster stopped, {} removed", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn backing_file(dev: &str) -> Option<String> {
    let name = Path::new(dev).file_name()?.to_string_lossy().into_owned();
    std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file"))
        .ok()
        .map(|s| s.trim().to_string())
}
