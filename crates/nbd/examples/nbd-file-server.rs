//! Serves a file as an NBD export on a Unix socket, one thread per client.
//!
//! ```text
//! nbd-file-server --socket /tmp/disk.sock --export disk disk.img
//! nbdinfo 'nbd+unix:///disk?socket=/tmp/disk.sock'
//! ```
//!
//! It exists so the protocol code is exercised by real clients (`nbdinfo`,
//! `nbdcopy`, fio's nbd engine, the kernel) in the integration tests; the
//! shimai daemon drives `shimai_nbd::Connection` itself.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use shimai_nbd::{serve_connection, BlockSize, Export, FileBackend};

#[derive(Parser)]
#[command(about = "Serve a file as an NBD export on a Unix socket")]
struct Args {
    /// Unix socket to listen on (created with mode 0600; must not exist).
    #[arg(long)]
    socket: PathBuf,
    /// Export name clients select.
    #[arg(long, default_value = "")]
    export: String,
    /// Text shown by `nbdinfo --list`.
    #[arg(long, default_value = "")]
    description: String,
    /// Refuse writes.
    #[arg(long)]
    read_only: bool,
    /// Minimum block size to advertise (1, 512, 4096...).
    #[arg(long, default_value_t = 1)]
    min_block: u32,
    /// The file or block device to serve.
    file: PathBuf,
}

fn main() -> Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    let backend = FileBackend::open(&args.file, args.read_only)
        .with_context(|| format!("cannot open the file to serve, {}", args.file.display()))?;
    let preferred = 4096.max(args.min_block);
    let block_size = BlockSize::new(args.min_block, preferred, BlockSize::MAX_PAYLOAD)
        .context("--min-block must be a power of two between 1 and 65536")?;
    let export = Export {
        description: args.description.clone(),
        read_only: args.read_only,
        block_size,
        ..Export::new(args.export.clone(), backend)
    };
    export
        .info()
        .validate()
        .context("invalid --export or --description")?;
    let exports = Arc::new([export]);

    let listener = UnixListener::bind(&args.socket)
        .with_context(|| format!("cannot listen on --socket {}", args.socket.display()))?;
    std::fs::set_permissions(&args.socket, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot chmod 0600 {}", args.socket.display()))?;
    log::info!(
        "serving {} as export {:?} on {}",
        args.file.display(),
        args.export,
        args.socket.display()
    );

    for (n, stream) in listener.incoming().enumerate() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log::warn!("accept on {}: {e}", args.socket.display());
                continue;
            }
        };
        let exports = Arc::clone(&exports);
        std::thread::spawn(move || match serve_connection(stream, &exports[..]) {
            Ok(end) => log::debug!("client #{n}: {end:?}"),
            Err(e) => log::warn!("client #{n}: {e}"),
        });
    }
    Ok(())
}
