//! Every conversion of a decoded number into a time or a duration: `secs.nanos`
//! texts, TAI64N labels, and whole `state` records whose times are then used as
//! supervise and svc use them. None may panic (overflow), whatever the input.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use supervise::statefile;
use supervise::status::{self, Tai64n};

fn use_time(t: SystemTime) {
    let now = SystemTime::now();
    let _ = now.duration_since(t);
    let _ = t.duration_since(now);
    let back = Tai64n::from_system_time(t).to_system_time();
    assert_eq!(back, t, "a decoded time survives the status file");
    let _ = statefile::format_time(t);
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= 12 {
        let label = u64::from_be_bytes(data[..8].try_into().unwrap());
        let nanos = u32::from_be_bytes(data[8..12].try_into().unwrap());
        let _ = Tai64n { label, nanos }.to_system_time();
    }
    if let Ok(s) = status::decode(data) {
        use_time(s.since.to_system_time());
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(t) = statefile::parse_time(text) {
        use_time(t);
    }
    if let Some(d) = statefile::parse_duration(text) {
        let _ = UNIX_EPOCH + d;
        let _ = d.as_secs_f64();
    }
    if let Ok(r) = statefile::decode(text) {
        use_time(r.since);
        r.next_start.into_iter().for_each(use_time);
        if let Some(e) = r.last_exit {
            use_time(e.at);
        }
        if let Some(b) = r.backoff {
            let _ = UNIX_EPOCH + b;
            let _ = b.as_secs_f64() + Duration::from_secs(1).as_secs_f64();
        }
    }
});
