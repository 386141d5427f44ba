//! Helpers for the shimaiadm suites: run the binary with a clean
//! environment (no SHIMAI_* from the caller) and look at what it said.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// One shimaiadm run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// A shimaiadm command with the SHIMAI_* variables of the caller removed.
pub fn command() -> Command {
    let mut c = Command::new(shimai_tests::bin("shimaiadm"));
    for v in ["SHIMAI_CONFIG", "SHIMAI_NODE", "SHIMAI_RUN_DIR"] {
        c.env_remove(v);
    }
    c.stdin(Stdio::null());
    c
}

/// Runs shimaiadm with `args`, stdin not a terminal.
pub fn adm(args: &[&str]) -> Run {
    Run::from(shimai_tests::run(command().args(args)))
}

/// Runs shimaiadm with `args` and `env`.
pub fn adm_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = command();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from(shimai_tests::run(&mut c))
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).expect("create file");
    f.write_all(text.as_bytes()).expect("write file");
    p.display().to_string()
}

/// A sparse file of `mib` MiB.
pub fn sparse(dir: &Path, name: &str, mib: u64) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .and_then(|f| f.set_len(mib << 20))
        .expect("sparse file");
    p
}

/// A two-node resource `name` on nodes `a` (127.0.0.1) and `b`
/// (127.0.0.2), backing files `DIR/name-a.img` and `DIR/name-b.img`.
pub fn two_node_resource(dir: &Path, name: &str, port: u16, extra: &str) -> String {
    let d = dir.display();
    format!(
        "resource {name} {{
  protocol C;
  {extra}
  on a {{ device /dev/drbd{port}; disk {d}/{name}-a.img; address 127.0.0.1:{port}; meta-disk internal; }}
  on b {{ device /dev/drbd{port}; disk {d}/{name}-b.img; address 127.0.0.2:{port}; meta-disk internal; }}
}}
"
    )
}
