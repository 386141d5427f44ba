//! The link decoder (compressed batches, zero-block markers, plain frames) on arbitrary bytes:
//! corrupt compressed data or hostile sizes give an error value, never a panic or a huge
//! allocation.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shimai_replication::wire::link::fuzz_decode_link(data);
});
