//! The config reader: any text, any service name, never a panic; what parses must
//! select and build without one either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supervise::config::{Config, parse, select};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The service name: the first line, the rest is the file.
    let (service, file) = text.split_once('\n').unwrap_or(("app", text));
    if let Ok(sections) = parse(file) {
        let entries = select(&sections, service);
        let _ = Config::from_entries(&entries);
    }
});
