//! Logging as ocf-shellfuncs does it, so that cluster logs read the same.
//!
//! Destination, in ocf-shellfuncs' order: a terminal on stdin means plain
//! stderr; `HA_LOGFACILITY` (or Pacemaker's `HA_logfacility`) other than
//! `none` means syslog; `HA_LOGFILE` means that file; with neither, stderr
//! with a date, which pacemaker-execd captures into its own log. Syslog is
//! written directly to `/dev/log`: no `logger` process is forked.

use std::io::{IsTerminal, Write};
use std::os::unix::net::UnixDatagram;

use crate::OcfEnv;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Crit,
    Err,
    Warn,
    Info,
    Debug,
}

impl Level {
    fn prefix(self) -> &'static str {
        match self {
            Level::Crit => "CRIT",
            Level::Err => "ERROR",
            Level::Warn => "WARNING",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
    fn syslog_severity(self) -> u8 {
        match self {
            Level::Crit => 2,
            Level::Err => 3,
            Level::Warn => 4,
            Level::Info => 6,
            Level::Debug => 7,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Logger {
    tag: String,
    on_tty: bool,
    facility: Option<u8>,
    logfile: Option<String>,
    debug: bool,
}

/// Syslog facility numbers by name.
fn facility_code(name: &str) -> Option<u8> {
    let n = match name {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    };
    Some(n)
}

impl Logger {
    pub fn from_env(agent: &str, env: &OcfEnv) -> Logger {
        let tag = match env.var("HA_LOGTAG") {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => match env.var("OCF_RESOURCE_INSTANCE") {
                Some(i) if !i.is_empty() => format!("{agent}({i})[{}]", std::process::id()),
                _ => format!("{agent}[{}]", std::process::id()),
            },
        };
        let facility = env
            .var("HA_LOGFACILITY")
            .or_else(|| env.var("HA_logfacility"))
            .filter(|f| !f.is_empty() && *f != "none")
            .map(|f| facility_code(f).unwrap_or(3));
        Logger {
            tag,
            on_tty: std::io::stdin().is_terminal(),
            facility,
            logfile: env
                .var("HA_LOGFILE")
                .filter(|f| !f.is_empty())
                .map(str::to_string),
            debug: env
                .var("HA_debug")
                .is_some_and(|d| !d.is_empty() && d != "0"),
        }
    }

    /// A logger that writes nothing (for tests and dry runs).
    pub fn silent() -> Logger {
        Logger {
            tag: String::new(),
            on_tty: false,
            facility: None,
            logfile: Some("/dev/null".into()),
            debug: false,
        }
    }

    pub fn log(&self, level: Level, msg: &str) {
        self.emit(level, msg, false);
    }

    /// Logs an error that was already printed as the exit reason: not repeated on stderr.
    pub(crate) fn log_reason(&self, msg: &str) {
        self.emit(Level::Err, msg, true);
    }

    fn emit(&self, level: Level, msg: &str, already_on_stderr: bool) {
        if level == Level::Debug && !self.debug {
            return;
        }
        let text = format!("{}: {msg}", level.prefix());
        if self.on_tty {
            if !already_on_stderr {
                eprintln!("{}: {text}", self.tag);
            }
            return;
        }
        if let Some(fac) = self.facility {
            self.syslog(fac, level, &text);
        }
        if let Some(file) = &self.logfile {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(file)
            {
                let _ = writeln!(
                    f,
                    "{} {}:    {text}",
                    crate::sys::local_timestamp(),
                    self.tag
                );
            }
        }
        if self.facility.is_none() && self.logfile.is_none() && !already_on_stderr {
            eprintln!("{}{text}", crate::sys::local_timestamp());
        }
    }

    fn syslog(&self, facility: u8, level: Level, text: &str) {
        let pri = u16::from(facility) * 8 + u16::from(level.syslog_severity());
        let line = format!(
            "<{pri}>{}{}: {text}",
            crate::sys::local_timestamp(),
            self.tag
        );
        if let Ok(sock) = UnixDatagram::unbound() {
            let _ = sock.send_to(line.as_bytes(), "/dev/log");
        }
    }

    pub fn crit(&self, msg: &str) {
        self.log(Level::Crit, msg)
    }
    pub fn err(&self, msg: &str) {
        self.log(Level::Err, msg)
    }
    pub fn warn(&self, msg: &str) {
        self.log(Level::Warn, msg)
    }
    pub fn info(&self, msg: &str) {
        self.log(Level::Info, msg)
    }
    pub fn debug(&self, msg: &str) {
        self.log(Level::Debug, msg)
    }
}
