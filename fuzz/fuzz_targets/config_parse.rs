//! The drbd.conf parser on arbitrary text: it must return, never panic, and
//! whatever parses must dump to text that parses back to the same model.
//! Includes go to an empty in-memory tree, so the fuzzer never reads files.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shimai_config::{parse_str_with, MemFs};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fs = MemFs::new();
    if let Ok(parsed) = parse_str_with(text, "fuzz.conf", &fs) {
        let dump = parsed.config.dump();
        let again = parse_str_with(&dump, "dump", &fs).expect("a dump must parse");
        assert_eq!(
            again.config, parsed.config,
            "dump changed the model:\n{dump}"
        );
    }
});
