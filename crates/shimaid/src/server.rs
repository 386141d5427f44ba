//! The control socket `RUN_DIR/RES.ctl` (mode 0600): one thread per client, each request
//! handed to the engine and its reply written back; `events` streams until the client leaves.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use crate::control::{decode_request, encode_reply, Reply, Request};
use crate::inbox::Inbox;

/// What the control socket reports to the engine.
pub enum Report {
    /// A request; its reply goes to `reply`.
    Request {
        req: Request,
        reply: std::sync::mpsc::Sender<Reply>,
    },
    /// A client of `events`: the current state at once, then every change unless `now`.
    Subscribe {
        now: bool,
        tx: std::sync::mpsc::Sender<Reply>,
    },
    /// `down` was answered: leave the loop.
    Stop,
}

/// Binds the socket and serves it on a thread.
pub fn start(path: &Path, engine: Inbox<Report>) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for s in listener.incoming().flatten() {
                let e = engine.clone();
                let _ = std::thread::Builder::new()
                    .name("control-client".into())
                    .spawn(move || client(s, e));
            }
        })?;
    Ok(())
}

fn client(s: UnixStream, engine: Inbox<Report>) {
    let Ok(mut out) = s.try_clone() else { return };
    let mut lines = BufReader::new(s);
    let mut line = String::new();
    while matches!(lines.read_line(&mut line), Ok(n) if n > 0) {
        let req = match decode_request(&line) {
            Ok(r) => r,
            Err(e) => {
                let r = Reply::Refused {
                    code: 2,
                    message: format!("not a control request: {e}"),
                };
                let _ = out.write_all(encode_reply(&r).as_bytes());
                return;
            }
        };
        line.clear();
        let (tx, rx) = std::sync::mpsc::channel();
        if let Request::Events { now } = req {
            if !engine(Report::Subscribe { now, tx }) {
                return;
            }
            for r in rx {
                if out.write_all(encode_reply(&r).as_bytes()).is_err() {
                    return;
                }
            }
            return;
        }
        let down = req == Request::Down;
        if !engine(Report::Request { req, reply: tx }) {
            return;
        }
        let Ok(r) = rx.recv() else { return };
        let ok = matches!(r, Reply::Ok { .. });
        let _ = out.write_all(encode_reply(&r).as_bytes());
        if down && ok {
            let _ = out.flush();
            engine(Report::Stop);
            return;
        }
    }
}
