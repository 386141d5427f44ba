//! One entry point that pushes arbitrary bytes through every decoder and
//! through a [`Connection`], for `cargo fuzz` and the property tests.

use crate::connection::Connection;
use crate::event::{Command, Completion, Event};
use crate::export::{BlockSize, ExportInfo};
use crate::handshake::{
    ClientFlags, ClientOption, ExportNameReply, OptionHeader, OptionReply, ServerGreeting,
};
use crate::transmission::{RequestHeader, SimpleReply};

/// Runs every decoder on `data`, then feeds `data` to a connection in
/// uneven pieces (first as a fresh handshake, then as the transmission
/// phase after a valid `NBD_OPT_GO`), completing every request it yields.
/// It must return without panicking whatever `data` is; its result is
/// whether the connection survived.
///
/// A `cargo fuzz` target is three lines:
///
/// ```text
/// #![no_main]
/// libfuzzer_sys::fuzz_target!(|data: &[u8]| { shimai_nbd::fuzz_decode(data); });
/// ```
pub fn fuzz_decode(data: &[u8]) -> bool {
    let _ = ServerGreeting::decode(data);
    let _ = ClientFlags::decode(data);
    let _ = OptionHeader::decode(data);
    let _ = ClientOption::decode(data);
    if let Some(code) = data.get(..4) {
        let code = u32::from_be_bytes([code[0], code[1], code[2], code[3]]);
        let _ = ClientOption::parse(code, &data[4..]);
    }
    let _ = OptionReply::decode(data);
    let _ = ExportNameReply::decode(data, true);
    let _ = ExportNameReply::decode(data, false);
    let _ = RequestHeader::decode(data);
    let _ = SimpleReply::decode(data);

    let handshake_ok = drive(Connection::new(exports()), data);

    let mut conn = Connection::new(exports());
    let mut go = Vec::new();
    ClientFlags(3).encode(&mut go);
    ClientOption::Go(crate::handshake::InfoRequest {
        name: "a".into(),
        requests: vec![],
    })
    .encode(&mut go);
    conn.receive(&go);
    let transmission_ok = drive(conn, data);
    handshake_ok && transmission_ok
}

fn exports() -> Vec<ExportInfo> {
    let mut a = ExportInfo::new("a", 1 << 20);
    a.block_size = BlockSize::new(1, 4096, 1 << 17).unwrap_or_default();
    let mut b = ExportInfo::new("b", 12345);
    b.read_only = true;
    vec![a, b]
}

fn drive(mut conn: Connection, data: &[u8]) -> bool {
    let mut rest = data;
    let mut step = 1;
    loop {
        loop {
            match conn.next_event() {
                Ok(Some(Event::Request(req))) => {
                    let c = match req.command {
                        Command::Read { length, .. } => {
                            Completion::data(req.cookie, vec![0; length as usize])
                        }
                        _ => Completion::ok(req.cookie),
                    };
                    if conn.complete(c).is_err() {
                        return false;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return false,
            }
        }
        conn.consume_output(conn.output_len());
        if rest.is_empty() {
            return true;
        }
        let n = step.min(rest.len());
        conn.receive(&rest[..n]);
        rest = &rest[n..];
        step = step * 3 + 1;
    }
}

#[cfg(test)]
mod tests;
