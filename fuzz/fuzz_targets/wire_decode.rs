//! The peer protocol decoder on arbitrary bytes: a hostile or broken peer gets an error value, never a panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shimai_replication::wire::fuzz_decode(data);
});
