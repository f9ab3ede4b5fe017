//! The control letter parser: every byte is a letter, a blank or unknown, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supervise::control::{Letter, Parsed, parse};

fuzz_target!(|data: &[u8]| {
    let parsed: Vec<Parsed> = parse(data).collect();
    let non_blank = data
        .iter()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .count();
    assert_eq!(parsed.len(), non_blank);
    for p in parsed {
        if let Parsed::Letter(l) = p {
            assert_eq!(Letter::from_byte(l.to_byte()), Some(l));
        }
    }
});
