//! `shimai-manpages OUTDIR`: writes shimai's man pages and bash completion, generated from the
//! command-line definitions the programs themselves parse with (shimaiadm's and
//! haresources2cib's clap definitions; shimaid's, which has no clap, is described in
//! [`shimaid_cli`] and checked against `shimaid --help` by tests/tests/man_pages.rs), and
//! shimai.conf(5) from the option table in [`conf`].
//!
//! Output layout, as installed under PREFIX/share:
//!
//! ```text
//! OUTDIR/man/man8/shimaiadm.8  shimaid.8  haresources2cib.8
//! OUTDIR/man/man5/shimai.conf.5
//! OUTDIR/bash-completion/completions/shimaiadm  shimaid  haresources2cib
//! ```
//!
//! Used by `scripts/install` and `scripts/package`; not installed itself.

mod conf;
mod roff;
mod shimaid_cli;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Command, CommandFactory};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.as_slice() {
        [flag] if flag == "-h" || flag == "--help" => {
            println!("usage: shimai-manpages OUTDIR\n\nWrites OUTDIR/man/man{{5,8}}/* and OUTDIR/bash-completion/completions/*.");
            return ExitCode::SUCCESS;
        }
        [dir] if !dir.starts_with('-') => PathBuf::from(dir),
        _ => {
            eprintln!("usage: shimai-manpages OUTDIR");
            return ExitCode::from(2);
        }
    };
    match generate(&out) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shimai-manpages: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The three programs' command definitions.
fn commands() -> [Command; 3] {
    [
        shimaiadm::cli::Cli::command(),
        shimaid_cli::command(),
        shimai_cib::cli::Cli::command(),
    ]
}

fn generate(out: &Path) -> Result<Vec<PathBuf>, String> {
    let man8 = out.join("man/man8");
    let man5 = out.join("man/man5");
    let bash = out.join("bash-completion/completions");
    for d in [&man8, &man5, &bash] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let mut written = Vec::new();
    let mut write = |path: PathBuf, bytes: Vec<u8>| -> Result<(), String> {
        std::fs::write(&path, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
        Ok(())
    };
    for cmd in commands() {
        let name = cmd.get_name().to_string();
        write(man8.join(format!("{name}.8")), man_page(cmd.clone())?)?;
        let mut completion = Vec::new();
        let mut c = cmd;
        clap_complete::generate(clap_complete::Shell::Bash, &mut c, &name, &mut completion);
        write(bash.join(&name), completion)?;
    }
    write(man5.join("shimai.conf.5"), conf::page().into_bytes())?;
    Ok(written)
}

fn io(e: std::io::Error) -> String {
    e.to_string()
}

/// A section-8 page: clap_mangen's title, name, synopsis, description and options, then each
/// verb with its own arguments and options, then exit status, files and see-also.
fn man_page(cmd: Command) -> Result<Vec<u8>, String> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let name = cmd.get_name().to_string();
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Administration")
        .source(format!("shimai {}", env!("CARGO_PKG_VERSION")));
    let mut w = Vec::new();
    man.render_title(&mut w).map_err(io)?;
    man.render_name_section(&mut w).map_err(io)?;
    man.render_synopsis_section(&mut w).map_err(io)?;
    man.render_description_section(&mut w).map_err(io)?;
    man.render_options_section(&mut w).map_err(io)?;
    let verbs: Vec<&Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if !verbs.is_empty() {
        writeln!(w, ".SH VERBS").map_err(io)?;
        for v in verbs {
            verb(&mut w, &name, v).map_err(io)?;
        }
    }
    if let Some(after) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        writeln!(w, ".SH \"EXIT STATUS AND ENVIRONMENT\"").map_err(io)?;
        for para in after.to_string().split('\n') {
            writeln!(w, ".PP\n{}", roff::text(para)).map_err(io)?;
        }
    }
    let extra = match name.as_str() {
        "shimaiadm" => shimaiadm_extra(),
        "shimaid" => shimaid_cli::extra(),
        _ => String::new(),
    };
    w.extend_from_slice(extra.as_bytes());
    writeln!(w, ".SH \"SEE ALSO\"").map_err(io)?;
    let see: Vec<&str> = [
        "shimaiadm(8)",
        "shimaid(8)",
        "haresources2cib(8)",
        "shimai.conf(5)",
    ]
    .into_iter()
    .filter(|s| !s.starts_with(&format!("{name}(")))
    .collect();
    let see: Vec<String> = see
        .iter()
        .map(|s| {
            let (n, sec) = s.split_once('(').unwrap_or((s, ""));
            format!("\\fB{}\\fR({}", roff::text(n), sec)
        })
        .collect();
    writeln!(w, "{}", see.join(",\n")).map_err(io)?;
    man.render_version_section(&mut w).map_err(io)?;
    Ok(w)
}

/// A verb's own arguments: not hidden, not the global options, not clap's `--help`.
fn shown(a: &clap::Arg) -> bool {
    !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help"
}

/// One verb: `.TP` with its synopsis, its help, then its arguments and options indented.
fn verb(w: &mut Vec<u8>, program: &str, v: &Command) -> std::io::Result<()> {
    let mut synopsis = format!(
        "\\fB{} {}\\fR",
        roff::text(program),
        roff::text(v.get_name())
    );
    for a in v.get_arguments().filter(|a| shown(a)) {
        let shown = if let Some(long) = a.get_long() {
            let value = a
                .get_value_names()
                .map(|n| format!(" {}", n.join(" ")))
                .unwrap_or_default();
            let takes = a.get_num_args().map(|n| n.takes_values()).unwrap_or(false);
            format!(
                "[\\fB\\-\\-{}\\fR{}]",
                roff::text(long),
                if takes {
                    roff::text(&value)
                } else {
                    String::new()
                }
            )
        } else {
            let names = a
                .get_value_names()
                .map(|n| n.join(" "))
                .unwrap_or_else(|| a.get_id().to_string().to_uppercase());
            if a.is_required_set() {
                format!("\\fI{}\\fR", roff::text(&names))
            } else {
                format!("[\\fI{}\\fR]", roff::text(&names))
            }
        };
        synopsis.push(' ');
        synopsis.push_str(&shown);
    }
    writeln!(w, ".TP\n{synopsis}")?;
    let about = v
        .get_long_about()
        .or(v.get_about())
        .map(|s| s.to_string())
        .unwrap_or_default();
    writeln!(w, "{}", roff::text(&about))?;
    let args: Vec<_> = v.get_arguments().filter(|a| shown(a)).collect();
    if !args.is_empty() {
        writeln!(w, ".RS")?;
        for a in args {
            let head = match (a.get_short(), a.get_long()) {
                (Some(s), Some(l)) => format!("\\fB\\-{s}\\fR, \\fB\\-\\-{}\\fR", roff::text(l)),
                (None, Some(l)) => format!("\\fB\\-\\-{}\\fR", roff::text(l)),
                (Some(s), None) => format!("\\fB\\-{s}\\fR"),
                (None, None) => format!(
                    "\\fI{}\\fR",
                    roff::text(
                        &a.get_value_names()
                            .map(|n| n.join(" "))
                            .unwrap_or_else(|| a.get_id().to_string())
                    )
                ),
            };
            let help = a
                .get_long_help()
                .or(a.get_help())
                .map(|s| s.to_string())
                .unwrap_or_default();
            writeln!(w, ".TP\n{head}\n{}", roff::text(&help))?;
        }
        writeln!(w, ".RE")?;
    }
    Ok(())
}

fn shimaiadm_extra() -> String {
    let mut s = String::new();
    s.push_str(".SH FILES\n");
    for (f, what) in [
        ("/etc/shimai/shimai.conf", "the configuration (drbd.conf grammar; see shimai.conf(5)); /etc/drbd.conf is read when it is absent"),
        ("/run/shimai/RES.ctl", "a running shimaid's control socket"),
        ("/run/shimai/RES.pid", "a running shimaid's PID"),
        ("/run/shimai/RES.log", "what a detached shimaid printed on stdout and stderr (start-up failures, crashes); its log lines go where shimaid --log says, the journal by default"),
    ] {
        s.push_str(&format!(".TP\n\\fI{}\\fR\n{}\n", roff::text(f), roff::text(what)));
    }
    s.push_str(".SH NOTES\n.PP\n");
    s.push_str(&roff::text(
        "Verbs, exit codes and output layouts are drbdadm's (DRBD 8.4), so a runbook moves over by \
         renaming the command. The full reference, with the status --json schema, is \
         docs/shimaiadm.md in the source tree.",
    ));
    s.push('\n');
    s
}
