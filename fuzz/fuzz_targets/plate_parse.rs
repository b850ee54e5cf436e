//! Plate text comes from readers and from CSV imports: any bytes must parse or be refused
//! without a panic, and whatever parses must be a fixed point of the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use menwei_core::plate::{PlateNumber, distance};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(p) = PlateNumber::parse(text) {
        let again = PlateNumber::parse(p.as_str()).expect("a parsed plate parses again");
        assert_eq!(again, p);
        let _ = p.kind();
        assert_eq!(distance(text, p.as_str()), 0.0);
    }
});
