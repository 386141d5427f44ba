//! The ha.cf and authkeys parsers on arbitrary text.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shimai_cib::fuzz_hacf(data);
});
