//! The NBD handshake and transmission decoders, and two connections fed the bytes in uneven pieces: any input is answered or refused, never a panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = shimai_nbd::fuzz_decode(data);
});
