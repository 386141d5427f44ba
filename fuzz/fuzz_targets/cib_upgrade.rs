//! The Heartbeat 2 cib.xml upgrade on arbitrary XML.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shimai_cib::fuzz_upgrade(data);
});
