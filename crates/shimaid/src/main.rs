//! `shimaid [-c FILE] [--node NAME] [--run-dir DIR] [--log DEST] [--foreground] RES`: runs one
//! replicated resource (see the library docs). `shimaid --create-md RES` writes fresh metadata,
//! as `drbdmeta create-md` (used by tests and by hand; `shimaiadm create-md` is the verb).
//!
//! Where the log goes (`--log`, [`LogDest`]): by default to stderr when that is a terminal or
//! systemd's journal stream (a unit), else to the journal with the resource name as a field
//! (started by `shimaiadm up` or Pacemaker's agent), else to syslog; to a file only when asked.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use shimaid::daemon;
use shimaid::setup::{self, Settings};

const USAGE: &str = "usage: shimaid [-c FILE] [--node NAME] [--run-dir DIR] [--log DEST] [--foreground] RES
       shimaid [-c FILE] [--node NAME] --create-md RES
       shimaid --version

  -c, --config FILE  configuration [default: $SHIMAI_CONFIG, else /etc/shimai/shimai.conf]
      --node NAME    this node's name in the `on NAME` sections [default: $SHIMAI_NODE, else uname -n]
      --run-dir DIR  control socket, pid file and device mounts [default: $SHIMAI_RUN_DIR, else /run/shimai]
      --log DEST     where log lines go: journal, syslog, stderr, or an absolute FILE (appended);
                     journal:SOCKET and syslog:SOCKET name another socket [default: stderr on a
                     terminal or under systemd, else the journal, else syslog, else stderr;
                     $SHIMAI_LOG, when set, replaces auto]
  -f, --foreground   stay in the foreground (systemd); without it shimaid starts itself
                     detached and returns once the daemon answers on its control socket
      --create-md    write fresh metadata on the backing disk and exit
  -V, --version      print the version and exit
  -h, --help         print this help and exit";

/// The journal's native socket and the syslog socket.
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
const SYSLOG_SOCKET: &str = "/dev/log";

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LogDest {
    /// Chosen at start: see [`LogDest::resolve`].
    Auto,
    Stderr,
    /// systemd-journald's native protocol, with `SHIMAI_RESOURCE=RES`.
    Journal(PathBuf),
    /// RFC 3164 datagrams, facility daemon, tag `shimaid`.
    Syslog(PathBuf),
    /// Appended to this file.
    File(PathBuf),
}

impl LogDest {
    fn parse(v: &str) -> Result<LogDest, String> {
        match v {
            "auto" => Ok(LogDest::Auto),
            "stderr" => Ok(LogDest::Stderr),
            "journal" => Ok(LogDest::Journal(JOURNAL_SOCKET.into())),
            "syslog" => Ok(LogDest::Syslog(SYSLOG_SOCKET.into())),
            _ => {
                if let Some(sock) = v.strip_prefix("journal:") {
                    Ok(LogDest::Journal(sock.into()))
                } else if let Some(sock) = v.strip_prefix("syslog:") {
                    Ok(LogDest::Syslog(sock.into()))
                } else if v.starts_with('/') {
                    Ok(LogDest::File(v.into()))
                } else {
                    Err(format!(
                        "--log {v}: expected journal, syslog, stderr, auto or an absolute file path"
                    ))
                }
            }
        }
    }

    /// `Auto` made concrete: stderr when someone reads it (a terminal, or the journal stream
    /// systemd gave a unit), else the journal, else syslog, else stderr.
    fn resolve(self) -> LogDest {
        if self != LogDest::Auto {
            return self;
        }
        if std::io::stderr().is_terminal() || stderr_is_journal_stream() {
            LogDest::Stderr
        } else if Path::new(JOURNAL_SOCKET).exists() {
            LogDest::Journal(JOURNAL_SOCKET.into())
        } else if Path::new(SYSLOG_SOCKET).exists() {
            LogDest::Syslog(SYSLOG_SOCKET.into())
        } else {
            LogDest::Stderr
        }
    }
}

/// systemd sets `JOURNAL_STREAM=DEV:INO` for a unit whose stderr is the journal; a child
/// whose stderr was redirected elsewhere inherits the variable, hence the comparison.
fn stderr_is_journal_stream() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(m) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    v == format!("{}:{}", m.dev(), m.ino())
}

/// Log records as datagrams to the journal or syslog. A record the socket refuses (the
/// journal restarting) goes to stderr instead, so nothing is lost silently.
struct DatagramLogger {
    filter: env_logger::Logger,
    socket: Mutex<Option<UnixDatagram>>,
    path: PathBuf,
    journal: bool,
    resource: String,
}

impl DatagramLogger {
    fn payload(&self, record: &log::Record<'_>) -> Vec<u8> {
        // syslog severities: err 3, warning 4, info 6, debug 7.
        let severity = match record.level() {
            log::Level::Error => 3,
            log::Level::Warn => 4,
            log::Level::Info => 6,
            log::Level::Debug | log::Level::Trace => 7,
        };
        let text = record.args().to_string();
        let prefix = format!("{}: ", self.resource);
        let message = if text.starts_with(&prefix) {
            text
        } else {
            format!("{prefix}{text}")
        };
        if self.journal {
            let mut p = format!(
                "PRIORITY={severity}\nSYSLOG_IDENTIFIER=shimaid\nSYSLOG_FACILITY=3\nSYSLOG_PID={}\nSHIMAI_RESOURCE={}\nMESSAGE\n",
                std::process::id(),
                self.resource
            )
            .into_bytes();
            // The binary form: the message may hold newlines.
            p.extend_from_slice(&(message.len() as u64).to_le_bytes());
            p.extend_from_slice(message.as_bytes());
            p.push(b'\n');
            p
        } else {
            format!(
                "<{}>shimaid[{}]: {message}",
                3 * 8 + severity,
                std::process::id()
            )
            .into_bytes()
        }
    }
}

impl log::Log for DatagramLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.filter.matches(record) {
            return;
        }
        let payload = self.payload(record);
        let mut guard = self.socket.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = UnixDatagram::unbound().ok();
        }
        let sent = guard
            .as_ref()
            .map(|s| s.send_to(&payload, &self.path).is_ok())
            .unwrap_or(false);
        if !sent {
            *guard = None;
            let _ = writeln!(
                std::io::stderr(),
                "[{} {}] {}: {}",
                record.level(),
                self.path.display(),
                self.resource,
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Installs the logger for `dest` (already resolved); `resource` names the records.
fn init_logging(dest: &LogDest, resource: &str) -> Result<(), String> {
    let env = env_logger::Env::default().default_filter_or("info");
    let mut builder = env_logger::Builder::from_env(env);
    builder.format_target(false);
    let (path, journal) = match dest {
        LogDest::Auto | LogDest::Stderr => {
            builder.init();
            return Ok(());
        }
        LogDest::File(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--log {}: cannot open: {e}", path.display()))?;
            builder
                .target(env_logger::Target::Pipe(Box::new(f)))
                .write_style(env_logger::WriteStyle::Never)
                .init();
            return Ok(());
        }
        LogDest::Journal(p) => (p.clone(), true),
        LogDest::Syslog(p) => (p.clone(), false),
    };
    let filter = builder.build();
    let max = filter.filter();
    let logger = DatagramLogger {
        filter,
        socket: Mutex::new(UnixDatagram::unbound().ok()),
        path,
        journal,
        resource: resource.to_string(),
    };
    log::set_boxed_logger(Box::new(logger)).map_err(|e| e.to_string())?;
    log::set_max_level(max);
    Ok(())
}

struct Args {
    config: Option<PathBuf>,
    node: Option<String>,
    run_dir: Option<PathBuf>,
    foreground: bool,
    create_md: bool,
    version: bool,
    log: LogDest,
    /// `--log` was given (it wins over `SHIMAI_LOG`).
    log_set: bool,
    resource: String,
    /// What to pass on to the detached child.
    forward: Vec<String>,
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        config: None,
        node: None,
        run_dir: None,
        foreground: false,
        create_md: false,
        version: false,
        log: LogDest::Auto,
        log_set: false,
        resource: String::new(),
        forward: Vec::new(),
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "-c" | "--config" => {
                let v = value(arg)?;
                a.forward.extend(["-c".into(), v.clone()]);
                a.config = Some(PathBuf::from(v));
            }
            "--node" => {
                let v = value(arg)?;
                a.forward.extend(["--node".into(), v.clone()]);
                a.node = Some(v);
            }
            "--run-dir" => {
                let v = value(arg)?;
                a.forward.extend(["--run-dir".into(), v.clone()]);
                a.run_dir = Some(PathBuf::from(v));
            }
            "--log" => {
                let v = value(arg)?;
                a.log = LogDest::parse(&v)?;
                a.log_set = true;
                a.forward.extend(["--log".into(), v]);
            }
            "--foreground" | "-f" => a.foreground = true,
            "-V" | "--version" => a.version = true,
            "--create-md" => a.create_md = true,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if a.resource.is_empty() => a.resource = s.to_string(),
            s => return Err(format!("one resource only (got {} and {s})", a.resource)),
        }
    }
    if a.version {
        return Ok(a);
    }
    if a.resource.is_empty() {
        return Err("which resource?".into());
    }
    a.forward.push(a.resource.clone());
    Ok(a)
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                std::process::exit(0);
            }
            eprintln!("shimaid: {e}");
            for line in USAGE.lines().take(3) {
                eprintln!("{line}");
            }
            eprintln!("(shimaid --help lists the options)");
            std::process::exit(2);
        }
    };
    if args.version {
        println!("shimaid {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let chosen = match std::env::var("SHIMAI_LOG") {
        Ok(v) if !args.log_set && !v.is_empty() => match LogDest::parse(&v) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("shimaid {}: SHIMAI_LOG: {e}", args.resource);
                std::process::exit(2);
            }
        },
        _ => args.log.clone(),
    };
    let dest = chosen.resolve();
    if let Err(e) = init_logging(&dest, &args.resource) {
        eprintln!("shimaid {}: {e}", args.resource);
        std::process::exit(2);
    }
    let s = Settings::resolve(args.config, args.node, args.run_dir, args.resource);
    let result = if args.create_md {
        setup::plan(&s).and_then(|p| {
            let size = setup::create_md(&p, &s.resource, setup::entropy())?;
            println!(
                "{}: new metadata on {}, {} KiB of data",
                s.resource,
                p.disk,
                size / 1024
            );
            Ok(0)
        })
    } else if args.foreground {
        daemon::run(s.clone()).map(|()| 0)
    } else {
        daemon::spawn_detached(&s, &args.forward)
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // stderr is what `shimaiadm up` and the agent report; the log keeps it too.
            if dest != LogDest::Stderr {
                log::error!("{e}");
            }
            eprintln!("shimaid {}: {e}", s.resource);
            std::process::exit(e.exit_code());
        }
    }
}
