//! A client on the test bed's LAN that notices the service coming back
//! within a few tens of milliseconds, for the failover benchmark.
//!
//! `Hub::http_get` forks `ip netns exec ... curl` per attempt, which costs
//! tens of milliseconds and, while the address has no owner, waits for the
//! whole connect timeout. Here one thread enters the hub's network
//! namespace (`setns` changes only the calling thread) and asks plain
//! HTTP/1.0 questions with a short connect timeout, so the first good
//! answer is timed to about the polling interval.

use super::error::{Error, Result};
use super::net::Hub;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

/// How long one attempt may wait for the TCP handshake: while the address
/// moves, a SYN goes unanswered and is not retried within the attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// The pause after a failed attempt.
const RETRY_AFTER: Duration = Duration::from_millis(20);

/// The first good answer of a [`first_good_response`] watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// When the answer had been read in full (wall clock, comparable with
    /// the daemons' log times).
    pub at: SystemTime,
    /// How many requests were made, the good one included.
    pub attempts: u32,
}

/// Asks `GET /` of `addr` (port 80) from the hub namespace until the body
/// is exactly `expected`, and returns when that first happened. Fails after
/// `timeout` with the last error seen.
pub fn first_good_response(
    hub: &Hub,
    addr: &str,
    expected: &str,
    timeout: Duration,
) -> Result<Answer> {
    let target: SocketAddr = format!("{addr}:80").parse().map_err(|_| Error::Parse {
        source: "the service address".into(),
        detail: format!("{addr:?} is not an IP address"),
    })?;
    let ns_path = format!("/run/netns/{}", hub.name());
    let expected = expected.to_string();
    let host = addr.to_string();
    let worker = std::thread::spawn(move || -> Result<Answer> {
        let ns = std::fs::File::open(&ns_path).map_err(|e| Error::io(&ns_path, e))?;
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            Error::Usage(format!(
                "cannot enter network namespace {ns_path}: {e} (the client needs root)"
            ))
        })?;
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let last = match get(target, &host) {
                Ok(body) if body == expected => {
                    return Ok(Answer {
                        at: SystemTime::now(),
                        attempts,
                    })
                }
                Ok(body) => format!("served {body:?}, not the expected page"),
                Err(e) => e.to_string(),
            };
            if start.elapsed() > timeout {
                return Err(Error::Timeout {
                    what: format!("a good answer from http://{host}/"),
                    waited: start.elapsed(),
                    last,
                });
            }
            std::thread::sleep(RETRY_AFTER);
        }
    });
    worker.join().unwrap_or_else(|_| {
        Err(Error::Command {
            command: format!("the LAN client asking http://{addr}/"),
            status: None,
            output: "its thread panicked".into(),
        })
    })
}

/// One `GET /` over HTTP/1.0; the body of a 200 answer.
fn get(target: SocketAddr, host: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET / HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no end of headers"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("answered {status:?}"),
        ));
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server on loopback that answers `reply` to one request.
    fn serve(reply: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            // Read the whole request before answering: a client that writes it
            // in pieces must not find the connection closed under it.
            let mut req = Vec::new();
            let mut buf = [0u8; 512];
            while !req.ends_with(b"\r\n\r\n") {
                let n = c.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            assert!(String::from_utf8_lossy(&req).starts_with("GET / HTTP/1.0\r\n"));
            c.write_all(reply.as_bytes()).unwrap();
        });
        addr
    }

    #[test]
    fn a_200_answer_gives_its_body() {
        let addr = serve("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\npage\n");
        assert_eq!(get(addr, "10.77.0.100").unwrap(), "page\n");
    }

    #[test]
    fn other_answers_are_errors() {
        let addr = serve("HTTP/1.1 503 Service Unavailable\r\n\r\nbusy");
        let e = get(addr, "10.77.0.100").unwrap_err();
        assert!(e.to_string().contains("503"), "{e}");
        let addr = serve("HTTP/1.1 200 OK\r\nTruncated");
        assert!(get(addr, "10.77.0.100").is_err());
    }

    #[test]
    fn a_closed_port_is_an_error_not_a_wait() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let start = Instant::now();
        assert!(get(addr, "127.0.0.1").is_err());
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
