//! Every on-disk metadata decoder (superblock, activity-log transaction, bitmap block) on arbitrary bytes, as a damaged disk would give them.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shimai_metadata::fuzz_decode(data);
});
