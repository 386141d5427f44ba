//! `shimaid [-c FILE] [--node NAME] [--run-dir DIR] [--foreground] RES`: runs one replicated
//! resource (see the library docs). `shimaid --create-md RES` writes fresh metadata, as
//! `drbdmeta create-md` (used by tests and by hand; `shimaiadm create-md` is the verb).

use std::path::PathBuf;

use shimaid::daemon;
use shimaid::setup::{self, Settings};

const USAGE: &str =
    "usage: shimaid [-c FILE] [--node NAME] [--run-dir DIR] [--foreground] RES\n       \
                     shimaid [-c FILE] [--node NAME] --create-md RES";

struct Args {
    config: Option<PathBuf>,
    node: Option<String>,
    run_dir: Option<PathBuf>,
    foreground: bool,
    create_md: bool,
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
            "--foreground" | "-f" => a.foreground = true,
            "--create-md" => a.create_md = true,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if a.resource.is_empty() => a.resource = s.to_string(),
            s => return Err(format!("one resource only (got {} and {s})", a.resource)),
        }
    }
    if a.resource.is_empty() {
        return Err("which resource?".into());
    }
    a.forward.push(a.resource.clone());
    Ok(a)
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("shimaid: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(if e.is_empty() { 0 } else { 2 });
        }
    };
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
            eprintln!("shimaid {}: {e}", s.resource);
            std::process::exit(e.exit_code());
        }
    }
}
