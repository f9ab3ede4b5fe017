//! The readers of what supervise writes: the 20-byte status (decode, and encode of
//! what decoded gives the same bytes) and the state file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supervise::{statefile, status};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = status::decode(data) {
        assert_eq!(&status::encode(&s)[..], data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = statefile::decode(text) {
            assert_eq!(statefile::decode(&statefile::encode(&r)), Ok(r));
        }
        let _ = supervise::alarm::Job::decode(text);
    }
});
