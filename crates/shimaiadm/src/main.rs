//! `shimaiadm`: parse the command line, resolve the settings, run the verb.

use std::io::{BufRead, IsTerminal, Write};

use clap::Parser;
use shimaiadm::cli::Cli;
use shimaiadm::context::{node_name, Settings};
use shimaiadm::verbs::{self, Console};

/// Asks on the terminal; only `yes` (as drbdmeta) confirms.
fn ask(question: &str) -> bool {
    let mut err = std::io::stderr();
    let _ = err.write_all(question.as_bytes());
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok() && answer.trim() == "yes"
}

fn main() {
    let args = match shimaiadm::cli::normalize_args(std::env::args().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("shimaiadm: {e}");
            std::process::exit(2);
        }
    };
    let cli = Cli::parse_from(args);
    let settings = Settings::resolve(
        cli.config,
        cli.node,
        cli.run_dir,
        |k| std::env::var(k).ok(),
        node_name,
    );
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let mut asker = ask;
    let terminal = std::io::stdin().is_terminal();
    let mut con = Console {
        out: &mut out,
        err: &mut err,
        ask: if terminal { Some(&mut asker) } else { None },
    };
    let code = verbs::run_with(&settings, &cli.verb, cli.dry_run, &mut con);
    std::process::exit(code);
}
