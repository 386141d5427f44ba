//! One entry point that pushes arbitrary bytes through every decoder and through a
//! [`Session`], for `cargo fuzz` and the property tests.

use crate::abi::{self, InHeader, InitIn, InitOut};
use crate::session::{Action, Completion, Config, Session};

/// Decodes `data` with every decoder, then feeds it to a fresh session and to one past
/// INIT: first as one request, then cut into requests by the length in each header,
/// completing every block request it yields (alternately with data and with an error).
/// It must return without panicking whatever `data` is; its result is how many
/// actions the sessions produced.
///
/// A `cargo fuzz` target is three lines:
///
/// ```text
/// #![no_main]
/// libfuzzer_sys::fuzz_target!(|data: &[u8]| { shimai_fuse::fuzz_decode(data); });
/// ```
pub fn fuzz_decode(data: &[u8]) -> usize {
    let _ = InHeader::decode(data);
    let _ = InitIn::decode(data);
    let _ = InitOut::decode(data);
    let _ = abi::Attr::decode(data);
    let _ = abi::read_in(data);
    let _ = abi::write_in(data);

    let mut actions = 0;
    for ready in [false, true] {
        let Ok(mut s) = Session::new(Config {
            size: 1 << 20,
            max_write: 64 << 10,
            ..Config::new(1 << 20)
        }) else {
            return actions;
        };
        if ready {
            let mut init = InHeader {
                len: 0,
                opcode: abi::opcode::INIT,
                unique: 1,
                nodeid: 0,
                uid: 0,
                gid: 0,
                pid: 0,
            }
            .encode()
            .to_vec();
            init.extend_from_slice(
                &InitIn {
                    major: 7,
                    minor: 40,
                    max_readahead: 1 << 17,
                    flags: u32::MAX,
                    flags2: 0,
                }
                .encode(),
            );
            let len = init.len() as u32;
            init[..4].copy_from_slice(&len.to_ne_bytes());
            let _ = s.handle(&init);
        }
        actions += drive(&mut s, data);
        let mut rest = data;
        while let Some(h) = InHeader::decode(rest) {
            let n = (h.len as usize).clamp(abi::IN_HEADER_SIZE, rest.len());
            actions += drive(&mut s, &rest[..n]);
            rest = &rest[n..];
        }
    }
    actions
}

fn drive(s: &mut Session, msg: &[u8]) -> usize {
    let zeros = [0u8; 512];
    match s.handle(msg) {
        Ok(Action::Io(req)) => {
            let u = req.unique();
            let c = if u % 2 == 0 {
                Completion::Ok(&zeros)
            } else {
                Completion::Err(5)
            };
            let _ = s.complete(u, c).expect("a handed-out request completes");
            // a second completion of the same request is an error, not a panic
            assert!(s.complete(u, Completion::Err(5)).is_err());
            1
        }
        Ok(_) => 1,
        Err(_) => 0,
    }
}
