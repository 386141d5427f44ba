//! What the NBD suites share: the example file server as a child process,
//! and a raw NBD client written from the protocol document, independent of
//! the codec under test.

#![allow(dead_code)] // each suite uses its own subset

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shimai_tests::TempDir;

/// Programs the suites drive; a test skips (or fails under CI=true) when one
/// is missing.
pub fn have(test: &str, programs: &[&str]) -> bool {
    programs.iter().all(|p| shimai_tests::have_program(test, p))
}

/// The example server binary: `SHIMAI_BIN_DIR/nbd-file-server`, else
/// `target/{debug,release}/examples/`, else built once with cargo.
pub fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(dir) = std::env::var("SHIMAI_BIN_DIR") {
            let p = Path::new(&dir).join("nbd-file-server");
            if p.is_file() {
                return p;
            }
        }
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| shimai_tests::workspace().join("target"));
        let find = || {
            ["debug", "release"]
                .iter()
                .map(|profile| target.join(profile).join("examples/nbd-file-server"))
                .find(|p| p.is_file())
        };
        if let Some(p) = find() {
            return p;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "shimai-nbd",
                "--example",
                "nbd-file-server",
            ])
            .current_dir(shimai_tests::workspace())
            .status()
            .expect("run cargo to build the nbd-file-server example");
        assert!(
            status.success(),
            "cargo build --example nbd-file-server failed"
        );
        find().expect("nbd-file-server built but not found under the target directory")
    })
    .clone()
}

/// A running `nbd-file-server`, killed by PID and its directory removed on drop.
pub struct Server {
    child: Child,
    pub socket: PathBuf,
    pub file: PathBuf,
    pub export: String,
    log: PathBuf,
    /// Removed after `drop` has killed the child.
    pub dir: TempDir,
}

impl Server {
    /// Serves a new zero-filled file of `size` bytes as `export`.
    pub fn start(export: &str, size: u64, extra: &[&str]) -> Server {
        let dir = TempDir::new("nbd");
        let file = dir.join("disk.img");
        std::fs::File::create(&file)
            .and_then(|f| f.set_len(size))
            .expect("create the backing file");
        Server::start_on(dir, file, export, extra)
    }

    /// Serves an existing file inside `dir`.
    pub fn start_on(dir: TempDir, file: PathBuf, export: &str, extra: &[&str]) -> Server {
        let socket = dir.join("nbd.sock");
        let log = dir.join("server.log");
        let child = Command::new(server_binary())
            .arg("--socket")
            .arg(&socket)
            .args(["--export", export])
            .args(extra)
            .arg(&file)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create server log"))
            .spawn()
            .expect("start nbd-file-server");
        let server = Server {
            child,
            socket,
            file,
            export: export.into(),
            log,
            dir,
        };
        server.wait_listening();
        server
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "nbd-file-server did not listen on {} within 10 s; log:\n{}",
            self.socket.display(),
            self.log()
        );
    }

    /// `nbd+unix:///EXPORT?socket=PATH`
    pub fn uri(&self) -> String {
        format!(
            "nbd+unix:///{}?socket={}",
            self.export,
            self.socket.display()
        )
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) unless the server process is still running.
    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("nbd-file-server exited ({status}); log:\n{}", self.log());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a program; returns (success, stdout, stderr).
pub fn run(program: &str, args: &[&str]) -> (bool, String, String) {
    let out = shimai_tests::run(Command::new(program).args(args));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text after `"key": ` in nbdinfo's JSON, up to the comma or line end.
pub fn json_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{key}\": "))? + key.len() + 4;
    let rest = &json[start..];
    let end = rest.find([',', '\n']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

// ---- A raw client, from proto.md, sharing no code with the server. ----

pub const NBD_CMD_READ: u16 = 0;
pub const NBD_CMD_WRITE: u16 = 1;
pub const NBD_CMD_DISC: u16 = 2;
pub const NBD_CMD_FLUSH: u16 = 3;
pub const NBD_EPERM: u32 = 1;
pub const NBD_EINVAL: u32 = 22;
pub const NBD_ENOSPC: u32 = 28;

/// A client past the handshake, in the transmission phase.
pub struct RawClient {
    pub sock: UnixStream,
    pub size: u64,
    pub flags: u16,
}

/// Connects and reads the 18-byte greeting, checking its magic numbers.
pub fn greet(socket: &Path) -> UnixStream {
    let mut s = UnixStream::connect(socket).expect("connect to the NBD socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut g = [0u8; 18];
    s.read_exact(&mut g).expect("read the greeting");
    assert_eq!(&g[..16], b"NBDMAGICIHAVEOPT", "greeting magic");
    assert_eq!(
        u16::from_be_bytes([g[16], g[17]]) & 1,
        1,
        "FIXED_NEWSTYLE offered"
    );
    s
}

/// Sends one option (after the client flags, which the caller sent).
pub fn send_option(s: &mut UnixStream, option: u32, data: &[u8]) {
    let mut b = b"IHAVEOPT".to_vec();
    b.extend_from_slice(&option.to_be_bytes());
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    b.extend_from_slice(data);
    s.write_all(&b).unwrap();
}

/// Reads one option reply: (option, reply type, data).
pub fn read_option_reply(s: &mut UnixStream) -> (u32, u32, Vec<u8>) {
    let mut h = [0u8; 20];
    s.read_exact(&mut h).expect("read an option reply header");
    assert_eq!(
        &h[..8],
        &0x0003_e889_0455_65a9u64.to_be_bytes(),
        "option reply magic"
    );
    let option = u32::from_be_bytes(h[8..12].try_into().unwrap());
    let kind = u32::from_be_bytes(h[12..16].try_into().unwrap());
    let len = u32::from_be_bytes(h[16..20].try_into().unwrap()) as usize;
    let mut data = vec![0; len];
    s.read_exact(&mut data).unwrap();
    (option, kind, data)
}

impl RawClient {
    /// Handshake with `NBD_OPT_GO` for `export`.
    pub fn connect(socket: &Path, export: &str) -> RawClient {
        let mut sock = greet(socket);
        sock.write_all(&3u32.to_be_bytes()).unwrap();
        let mut data = (export.len() as u32).to_be_bytes().to_vec();
        data.extend_from_slice(export.as_bytes());
        data.extend_from_slice(&0u16.to_be_bytes());
        send_option(&mut sock, 7, &data);
        let (mut size, mut flags) = (None, 0);
        loop {
            let (option, kind, data) = read_option_reply(&mut sock);
            assert_eq!(option, 7);
            match kind {
                1 => break,
                3 if data[..2] == [0, 0] => {
                    size = Some(u64::from_be_bytes(data[2..10].try_into().unwrap()));
                    flags = u16::from_be_bytes([data[10], data[11]]);
                }
                3 => {}
                other => panic!(
                    "NBD_OPT_GO {export:?} answered {other:#x}: {}",
                    String::from_utf8_lossy(&data)
                ),
            }
        }
        RawClient {
            sock,
            size: size.expect("NBD_INFO_EXPORT before the ACK"),
            flags,
        }
    }

    /// Sends a request header (and payload).
    pub fn send(
        &mut self,
        kind: u16,
        flags: u16,
        cookie: u64,
        offset: u64,
        length: u32,
        payload: &[u8],
    ) {
        let mut b = 0x2560_9513u32.to_be_bytes().to_vec();
        b.extend_from_slice(&flags.to_be_bytes());
        b.extend_from_slice(&kind.to_be_bytes());
        b.extend_from_slice(&cookie.to_be_bytes());
        b.extend_from_slice(&offset.to_be_bytes());
        b.extend_from_slice(&length.to_be_bytes());
        b.extend_from_slice(payload);
        self.sock.write_all(&b).unwrap();
    }

    /// Reads a simple reply header: (cookie, error).
    pub fn reply(&mut self) -> (u64, u32) {
        let mut h = [0u8; 16];
        self.sock.read_exact(&mut h).expect("read a simple reply");
        assert_eq!(&h[..4], &0x6744_6698u32.to_be_bytes(), "simple reply magic");
        (
            u64::from_be_bytes(h[8..16].try_into().unwrap()),
            u32::from_be_bytes(h[4..8].try_into().unwrap()),
        )
    }

    /// Reads `n` bytes of read data.
    pub fn data(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        self.sock.read_exact(&mut b).unwrap();
        b
    }

    /// Sends `NBD_CMD_DISC` and waits for the server to close.
    pub fn disconnect(mut self) {
        self.send(NBD_CMD_DISC, 0, u64::MAX, 0, 0, &[]);
        let mut rest = Vec::new();
        self.sock
            .read_to_end(&mut rest)
            .expect("server closes after NBD_CMD_DISC");
        assert!(rest.is_empty(), "no reply to NBD_CMD_DISC");
    }
}
