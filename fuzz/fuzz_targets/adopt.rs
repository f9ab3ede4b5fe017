//! Adoption: any bytes as `status` and `state`, any owner, links and process facts;
//! `adopt::decide` must never panic, and whatever it adopts must pass every rule
//! (never pid 0 or 1, never supervise or an ancestor, records written by supervise's
//! user, a live process with the recorded start, leading its group, as the service's
//! user).
#![no_main]

use libfuzzer_sys::fuzz_target;
use supervise::adopt::{self, Asker, Process, Recorded};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (head, rest) = data.split_at(8);
    let cut = (head[0] as usize % 25).min(rest.len());
    let (status, state) = rest.split_at(cut);
    let euid = 0;
    let service_uid = 1000;
    let me = u32::from(u16::from_le_bytes([head[5], head[6]]));
    let ancestors = [me.wrapping_sub(1), 1];
    let owner = |b: u8| if b % 3 == 0 { euid } else { 1000 };
    let status = Recorded {
        bytes: status,
        owner: owner(head[1]),
        links: u64::from(head[2] % 3),
    };
    let state = Recorded {
        bytes: state,
        owner: owner(head[1] >> 2),
        links: u64::from((head[2] >> 2) % 3),
    };
    let asker = Asker {
        me,
        ancestors: &ancestors,
        euid,
        service_uid,
    };
    let claimed = supervise::client::decode_state(state.bytes)
        .ok()
        .and_then(|r| r.pid_start);
    let flags = head[3];
    let look = |pid: u32| {
        (flags & 1 != 0).then(|| Process {
            alive: flags & 2 != 0,
            start: match (flags & 4 != 0, claimed) {
                (true, Some(s)) => s,
                _ => u64::from(head[7]),
            },
            pgid: if flags & 8 != 0 {
                pid
            } else {
                pid.wrapping_add(1)
            },
            uid: if flags & 16 != 0 {
                service_uid
            } else {
                u32::from(head[4])
            },
        })
    };
    if let Ok(o) = adopt::decide(&status, &state, &asker, look) {
        assert!(o.pid > 1 && o.pid != me && !ancestors.contains(&o.pid));
        assert!(status.owner == euid && state.owner == euid);
        assert!(status.links <= 1 && state.links <= 1);
        let p = look(o.pid).expect("a process was looked at");
        assert!(p.alive && Some(p.start) == claimed && p.pgid == o.pid && p.uid == service_uid);
    }
});
