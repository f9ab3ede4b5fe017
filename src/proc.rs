//! What `/proc` says about a process: alive or not, and when it started.
//!
//! A pid alone is not an identity: the kernel reuses pids. The start time (field 22 of
//! `/proc/PID/stat`, clock ticks since boot) together with the pid is, so supervise
//! records it in `state` and readers compare it before believing a pid still names
//! the service.

use std::fs::File;
use std::io::Read;

/// A `/proc` file in one read: the kernel makes the whole text at the first read, so
/// a buffer larger than the file gets all of it (where `read_to_string` would stat
/// the file and read it in growing pieces). `None` if it cannot be read or did not
/// fit.
pub fn read_whole<'a>(path: &str, buf: &'a mut [u8]) -> Option<std::borrow::Cow<'a, str>> {
    let n = File::open(path).and_then(|mut f| f.read(buf)).ok()?;
    (n < buf.len()).then(|| String::from_utf8_lossy(&buf[..n]))
}

/// Reads `/proc/PID/stat` and hands `f` its fields after the command name, which may
/// itself hold spaces and parentheses (so split at the last `)`): the first is the
/// state, the second the parent, field n of proc(5) is the (n - 3)th. Borrowed from a
/// stack buffer: supervise reads this at every start, and allocates nothing for it.
fn with_stat_fields<T>(
    pid: u32,
    f: impl FnOnce(std::str::SplitWhitespace<'_>) -> Option<T>,
) -> Option<T> {
    // 52 numbers and a 16-byte name: under 700 bytes.
    let mut buf = [0u8; 1024];
    let text = read_whole(&format!("/proc/{pid}/stat"), &mut buf)?;
    let (_, rest) = text.rsplit_once(')')?;
    f(rest.split_whitespace())
}

/// The fields of `/proc/PID/stat` after the command name: `[0]` is the state, `[1]`
/// the parent, field n of proc(5) is index n - 3.
pub fn stat_fields(pid: u32) -> Option<Vec<String>> {
    with_stat_fields(pid, |fields| Some(fields.map(str::to_owned).collect()))
}

/// The process state letter (`R`, `S`, `T`, `Z`...).
pub fn state(pid: u32) -> Option<char> {
    with_stat_fields(pid, |mut fields| fields.next()?.chars().next())
}

/// When the process started, in clock ticks after boot.
pub fn start_time(pid: u32) -> Option<u64> {
    // Field 22 overall; the state letter is field 3, the first after the name.
    with_stat_fields(pid, |mut fields| fields.nth(22 - 3)?.parse().ok())
}

/// The boot-time clock now, in the ticks `/proc/PID/stat` gives start times in:
/// `CLOCK_BOOTTIME` (read through the vDSO, no system call) divided down to
/// `sysconf(_SC_CLK_TCK)` per second, as the kernel's `nsec_to_clock_t` does with a
/// process's `start_boottime`. A process created between two readings that agree
/// started at that tick.
pub fn boot_ticks() -> Option<u64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own; sysconf has no preconditions
    // (glibc answers this one from the auxiliary vector).
    let (r, hz) = unsafe {
        (
            libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now),
            libc::sysconf(libc::_SC_CLK_TCK),
        )
    };
    if r != 0 {
        return None;
    }
    let per_tick = 1_000_000_000u64.checked_div(u64::try_from(hz).ok()?)?;
    let ns = u64::try_from(now.tv_sec).ok()? * 1_000_000_000 + u64::try_from(now.tv_nsec).ok()?;
    Some(ns / per_tick)
}

/// Whether `pid` names a live process (a zombie is not alive) that, when `start` is
/// given, started at that tick.
pub fn alive(pid: u32, start: Option<u64>) -> bool {
    if pid == 0 {
        return false;
    }
    with_stat_fields(pid, |mut fields| {
        let state = fields.next()?;
        let running = state != "Z" && state != "X";
        // The start time is field 22, 19 after the state.
        let same = start.is_none_or(|t| fields.nth(22 - 4).and_then(|v| v.parse().ok()) == Some(t));
        Some(running && same)
    })
    .unwrap_or(false)
}

/// What adoption needs to know of a process: alive, start time, group and real uid.
pub fn process(pid: u32) -> Option<crate::adopt::Process> {
    let (alive, pgid, start) = with_stat_fields(pid, |mut f| {
        let state = f.next()?;
        let pgid = f.nth(1)?.parse().ok()?;
        // Field 22 overall, 18 after the group (field 5).
        let start = f.nth(22 - 6)?.parse().ok()?;
        Some((state != "Z" && state != "X", pgid, start))
    })?;
    let mut buf = [0u8; 4096];
    let status = read_whole(&format!("/proc/{pid}/status"), &mut buf)?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(crate::adopt::Process {
        alive,
        start,
        pgid,
        uid,
    })
}

/// The parent of `pid`, from `/proc/PID/stat`.
pub fn parent(pid: u32) -> Option<u32> {
    with_stat_fields(pid, |mut f| f.nth(1)?.parse().ok())
}

/// `pid`'s parent, its parent, and so on up to (and with) pid 1; bounded, in case
/// `/proc` is not what it should be.
pub fn ancestors(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut at = pid;
    while let Some(p) = parent(at).filter(|&p| p != 0 && out.len() < 4096) {
        out.push(p);
        if p == 1 {
            break;
        }
        at = p;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_ticks_around_a_fork_are_the_start_time_proc_gives() {
        let mut agreed = 0;
        for _ in 0..50 {
            let before = boot_ticks().unwrap();
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let after = boot_ticks().unwrap();
            // Reaped only after the look: a zombie still has its stat.
            let proc_says = start_time(child.id());
            child.wait().unwrap();
            if before == after {
                assert_eq!(proc_says, Some(before));
                agreed += 1;
            } else {
                let t = proc_says.unwrap();
                assert!(before <= t && t <= after, "{before} {t} {after}");
            }
        }
        assert!(agreed > 0);
    }

    #[test]
    fn a_proc_file_is_read_whole_or_not_at_all() {
        let mut big = [0u8; 4096];
        let text = read_whole("/proc/self/stat", &mut big).expect("our stat");
        assert!(text.starts_with(&format!("{} (", std::process::id())));
        let mut small = [0u8; 8];
        assert!(
            read_whole("/proc/self/stat", &mut small).is_none(),
            "cut short"
        );
        assert!(read_whole("/proc/0/stat", &mut big).is_none());
    }

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
    fn facts_for_adoption() {
        let me = std::process::id();
        let p = process(me).expect("our own process");
        assert!(p.alive);
        assert_eq!(Some(p.start), start_time(me));
        assert_eq!(p.pgid, nix::unistd::getpgrp().as_raw() as u32);
        assert_eq!(p.uid, nix::unistd::getuid().as_raw());
        let up = ancestors(me);
        assert_eq!(
            up.first().copied(),
            Some(nix::unistd::getppid().as_raw() as u32)
        );
        assert!(!up.contains(&me));
        assert_eq!(process(0), None);
    }

    #[test]
    fn a_zombie_is_not_alive_but_still_has_its_start_time() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while state(pid) != Some('Z') {
            assert!(
                std::time::Instant::now() < deadline,
                "never became a zombie"
            );
            std::thread::yield_now();
        }
        let start = start_time(pid).expect("a zombie keeps its stat");
        assert!(!alive(pid, None));
        assert!(!alive(pid, Some(start)));
        child.wait().unwrap();
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
