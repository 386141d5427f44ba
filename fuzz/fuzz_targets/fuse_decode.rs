//! The FUSE request decoders and two sessions (before and after INIT) fed the bytes whole and cut by their headers' lengths: any input is answered, refused or handed out and completed once, never a panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = shimai_fuse::fuzz_decode(data);
});
