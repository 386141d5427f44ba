//! `haresources2cib`: Heartbeat v1 configuration to Pacemaker and Corosync.
//!
//! A thin edge over `shimai_cib`: read the files, ask the machine what
//! Heartbeat would have asked it, convert, and write only when everything
//! converted, so a failed run leaves nothing half written.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use shimai_cib::cli::{Cli, DrbdProvider, Format, Provider};
use shimai_cib::{convert, corosync, crm, host, upgrade, xml, Inputs, Options, SystemHost};

/// An error with the exit status it deserves.
struct Failure(u8, anyhow::Error);

fn input(e: anyhow::Error) -> Failure {
    Failure(66, e)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, e)) => {
            eprintln!("haresources2cib: error: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(input)
}

fn warn(w: &str) {
    eprintln!("haresources2cib: warning: {w}");
}

fn schema(cli: &Cli) -> String {
    cli.schema.clone().unwrap_or_else(|| {
        host::newest_schema(Path::new("/usr/share/pacemaker"))
            .unwrap_or_else(|| shimai_cib::FALLBACK_SCHEMA.to_string())
    })
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let mut outputs: Vec<(&Path, String)> = Vec::new();
    let mut stdout = String::new();
    if let Some(old) = &cli.upgrade_cib {
        let text = read(old)?;
        let name = old.display().to_string();
        let provider = match cli.drbd_provider {
            DrbdProvider::Shimai => "shimai",
            DrbdProvider::Linbit => "linbit",
        };
        let (new, warnings) = upgrade::upgrade(&name, &text, &schema(cli), provider)
            .map_err(|e| Failure(e.exit_code() as u8, e.into()))?;
        warnings.iter().for_each(|w| warn(w));
        match &cli.output {
            Some(o) => outputs.push((o, new)),
            None => stdout = new,
        }
        if let Some(c) = &cli.corosync {
            // The cluster's corosync.conf comes from its ha.cf, as for R1.
            let hacf_path = cli
                .config
                .clone()
                .unwrap_or_else(|| cli.root.join("etc/ha.d/ha.cf"));
            let hacf_text = read(&hacf_path).map_err(|Failure(code, e)| {
                Failure(
                    code,
                    e.context("--corosync with --upgrade-cib writes corosync.conf from ha.cf; give it with -c"),
                )
            })?;
            let auth_path = cli.authkeys.clone().or_else(|| {
                let p = hacf_path.parent()?.join("authkeys");
                p.exists().then_some(p)
            });
            let auth_text = match &auth_path {
                Some(p) => Some(read(p)?),
                None => None,
            };
            let names = (
                hacf_path.display().to_string(),
                auth_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            let (conf, warnings) = upgrade::corosync(
                (&names.0, &hacf_text),
                auth_text.as_deref().map(|t| (names.1.as_str(), t)),
                (&name, &text),
            )
            .map_err(|e| Failure(e.exit_code() as u8, e.into()))?;
            warnings.iter().for_each(|w| warn(w));
            outputs.push((c, conf));
        }
        return emit(cli, outputs, stdout);
    }
    let hr_path = cli
        .haresources
        .clone()
        .unwrap_or_else(|| cli.root.join("etc/ha.d/haresources"));
    let hr_text = read(&hr_path)?;
    let hacf_path = cli.config.clone().or_else(|| {
        let p = cli.root.join("etc/ha.d/ha.cf");
        p.exists().then_some(p)
    });
    let hacf_text = match &hacf_path {
        Some(p) => Some(read(p)?),
        None => None,
    };
    let auth_path = cli.authkeys.clone().or_else(|| {
        let p = hacf_path.as_ref()?.parent()?.join("authkeys");
        p.exists().then_some(p)
    });
    let auth_text = match &auth_path {
        Some(p) => match fs::read_to_string(p) {
            Ok(t) => Some(t),
            Err(e) if cli.authkeys.is_none() => {
                warn(&format!(
                    "cannot read {} ({e}); the authentication method is not reported",
                    p.display()
                ));
                None
            }
            Err(e) => return Err(input(anyhow!("cannot read {}: {e}", p.display()))),
        },
        None => None,
    };
    let names = (
        hr_path.display().to_string(),
        hacf_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        auth_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    let drbd_resources = if cli.drbd_resources.is_empty() {
        host::drbd_resources(&cli.root)
    } else {
        cli.drbd_resources.clone()
    };
    let opts = Options {
        provider: match cli.provider {
            Provider::Shimai => "shimai",
            Provider::Heartbeat => "heartbeat",
        }
        .into(),
        drbd_provider: match cli.drbd_provider {
            DrbdProvider::Shimai => "shimai",
            DrbdProvider::Linbit => "linbit",
        }
        .into(),
        default_fstype: cli.default_fstype.clone(),
        monitor: !cli.no_monitor,
        no_ocf: cli.no_ocf,
        schema: schema(cli),
        drbd_resources,
    };
    let inputs = Inputs {
        haresources: (&names.0, &hr_text),
        hacf: hacf_text.as_deref().map(|t| (names.1.as_str(), t)),
        authkeys: auth_text.as_deref().map(|t| (names.2.as_str(), t)),
    };
    let host = SystemHost {
        root: cli.root.clone(),
    };
    let conv =
        convert(&inputs, &opts, &host).map_err(|e| Failure(e.exit_code() as u8, e.into()))?;
    conv.warnings.iter().for_each(|w| warn(w));
    let main = match cli.format {
        Format::Xml => xml::write(&conv.cluster),
        Format::Crm => crm::write(&conv.cluster),
    };
    match &cli.output {
        Some(o) => outputs.push((o, main)),
        None => stdout = main,
    }
    if let Some(c) = &cli.corosync {
        outputs.push((c, corosync::write(&conv.cluster)));
    }
    emit(cli, outputs, stdout)
}

/// Checks every output first, so that nothing is written when one exists.
fn emit(cli: &Cli, outputs: Vec<(&Path, String)>, stdout: String) -> Result<(), Failure> {
    if !cli.force {
        if let Some((p, _)) = outputs.iter().find(|(p, _)| p.exists()) {
            return Err(Failure(
                73,
                anyhow!("{} exists; pass --force to overwrite it", p.display()),
            ));
        }
    }
    for (path, text) in outputs {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))
            .map_err(|e| Failure(73, e))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(|e| Failure(74, e))?;
    }
    if !stdout.is_empty() {
        let mut out = std::io::stdout().lock();
        out.write_all(stdout.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write to standard output")
            .map_err(|e| Failure(74, e))?;
    }
    Ok(())
}
