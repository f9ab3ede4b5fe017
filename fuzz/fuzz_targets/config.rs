//! The config reader: any bytes, any service name, never a panic; every line is
//! either read or warned about, and what is read selects and builds without a panic
//! either; a value's bytes survive the text they are kept in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supervise::config::{Config, parse, select, syntax};

fuzz_target!(|data: &[u8]| {
    // The service name: the first line, the rest is the file.
    let (service, file) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (String::from_utf8_lossy(&data[..i]).into_owned(), &data[i + 1..]),
        None => ("app".to_owned(), data),
    };
    let parsed = parse(file);
    let entries = select(&parsed.sections, &service);
    let _ = Config::from_entries(&entries);
    assert_eq!(syntax::encode(&syntax::decode(file)), file);
});
