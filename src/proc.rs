//! What `/proc` says about a process: alive or not, and when it started.
//!
//! A pid alone is not an identity: the kernel reuses pids. The start time (field 22 of
//! `/proc/PID/stat`, clock ticks since boot) together with the pid is, so supervise
//! records it in `state` and readers compare it before believing a pid still names
//! the service.

use std::fs::File;
use std::io::Read;

/// The fields of `/proc/PID/stat` after the command name, which may itself hold
/// spaces and parentheses (so split at the last `)`).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    // The kernel makes the whole line at the first read, so one read into a buffer
    // larger than any stat line (52 numbers and a 16-byte name: under 700 bytes) gets
    // it all; `read_to_string` would stat the file and read it in growing pieces.
    let mut buf = [0u8; 1024];
    let n = File::open(format!("/proc/{pid}/stat"))
        .and_then(|mut f| f.read(&mut buf))
        .ok()?;
    let text = String::from_utf8_lossy(buf.get(..n)?);
    let (_, rest) = text.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The process state letter (`R`, `S`, `T`, `Z`...).
pub fn state(pid: u32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// When the process started, in clock ticks after boot.
pub fn start_time(pid: u32) -> Option<u64> {
    // Field 22 overall; the state letter is field 3, the first after the name.
    stat_fields(pid)?.get(22 - 3)?.parse().ok()
}

/// Whether `pid` names a live process (a zombie is not alive) that, when `start` is
/// given, started at that tick.
pub fn alive(pid: u32, start: Option<u64>) -> bool {
    if pid == 0 {
        return false;
    }
    let Some(fields) = stat_fields(pid) else {
        return false;
    };
    let running = fields.first().is_some_and(|s| s != "Z" && s != "X");
    let same = match start {
        Some(t) => fields.get(22 - 3).and_then(|v| v.parse::<u64>().ok()) == Some(t),
        None => true,
    };
    running && same
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process() {
        let me = std::process::id();
        let start = start_time(me).expect("a start time");
        assert!(alive(me, Some(start)));
        assert!(alive(me, None));
        assert!(
            !alive(me, Some(start + 1)),
            "another start time is another process"
        );
        assert!(state(me).is_some_and(|c| c != 'Z'));
        assert!(!alive(0, None));
    }

    #[test]
    fn a_reaped_child_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!alive(pid, None));
        assert_eq!(start_time(pid), None);
    }
}
