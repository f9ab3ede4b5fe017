//! `svc wait`: block until services reach a state, woken by the kernel, never by a
//! sleep loop.
//!
//! Supervise replaces `status` by renaming `status.new` over it, so an inotify watch
//! for `IN_MOVED_TO` on each directory fires on every change. A pidfd per supervise
//! wakes us if it dies, so a wait on a service whose supervise is gone ends at once
//! instead of at the timeout. Watches and pidfds are set up before the first look at
//! `status`, so a change between that look and the `poll` is never missed.

use std::fmt;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::client;
use crate::proc;
use crate::status::Status;

use super::report;

/// The state to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The service runs.
    Up,
    /// The service does not run.
    Down,
    /// The service runs with a pid other than the one it had when the wait began.
    Restart,
    /// The service runs and is ready (as its `ready` key says; at once without one).
    Ready,
}

impl Goal {
    /// Parses `up`, `down`, `restart` (or their first letters, as in `-wu`).
    pub fn parse(s: &str) -> Option<Goal> {
        match s {
            "up" | "u" => Some(Goal::Up),
            "down" | "d" => Some(Goal::Down),
            "restart" | "r" => Some(Goal::Restart),
            "ready" => Some(Goal::Ready),
            _ => None,
        }
    }
}

impl fmt::Display for Goal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Goal::Up => "up",
            Goal::Down => "down",
            Goal::Restart => "a restart",
            Goal::Ready => "ready",
        })
    }
}

/// One directory to wait on, with the pid it had when the wait began.
#[derive(Debug, Clone)]
pub struct Target {
    /// The status directory.
    pub dir: PathBuf,
    /// Its pid at the start (for [`Goal::Restart`]).
    pub from: Option<u32>,
}

impl Target {
    /// Notes the current pid of `dir`, for a wait that begins now.
    pub fn now(dir: &Path) -> Target {
        Target {
            dir: dir.to_path_buf(),
            from: client::open(dir)
                .and_then(|h| client::read_status(&h))
                .ok()
                .and_then(|s| (s.pid != 0).then_some(s.pid)),
        }
    }
}

/// How the wait on one directory ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The goal was reached.
    Reached,
    /// It cannot be reached: supervise is not running, or the directory is unusable.
    Failed(String),
    /// The timeout passed first; what the directory says now.
    TimedOut(String),
}

fn reached(goal: Goal, s: &Status, from: Option<u32>) -> bool {
    match goal {
        Goal::Up => s.pid != 0,
        Goal::Down => s.pid == 0,
        Goal::Restart => s.pid != 0 && Some(s.pid) != from,
        // Told by the state file: see `check`.
        Goal::Ready => s.pid != 0,
    }
}

/// Looks once: `Some` when the wait on this target is over.
///
/// Without a supervise, `status` is a stale record: only "down" can still be true,
/// and only if the process it names is gone.
fn check(goal: Goal, t: &Target) -> Option<Outcome> {
    let who = t.dir.display();
    let dir = match client::open(&t.dir) {
        Ok(d) => d,
        Err(p) => return Some(Outcome::Failed(format!("{who}: {p}"))),
    };
    let status = match client::read_status(&dir) {
        Ok(s) => s,
        Err(p) => return Some(Outcome::Failed(format!("{who}: {p}"))),
    };
    match client::running(&dir) {
        Ok(true) if goal == Goal::Ready => report::inspect(&t.dir)
            .is_ok_and(|v| v.ready())
            .then_some(Outcome::Reached),
        Ok(true) => reached(goal, &status, t.from).then_some(Outcome::Reached),
        Ok(false) if goal == Goal::Down && !proc::alive(status.pid, None) => Some(Outcome::Reached),
        Ok(false) => Some(Outcome::Failed(format!(
            "{who}: supervise not running, so it will not be {goal}"
        ))),
        Err(p) => Some(Outcome::Failed(format!("{who}: {p}"))),
    }
}

/// A pidfd for the supervise of `dir`: readable once it exits.
fn supervise_pidfd(dir: &Path) -> Option<OwnedFd> {
    let pid = client::lock_pid(&client::open(dir).ok()?)?;
    // SAFETY: pidfd_open returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh descriptor we now own.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits until every target reaches `goal`, fails, or `timeout` passes.
pub fn wait(targets: &[Target], goal: Goal, timeout: Option<Duration>) -> Vec<Outcome> {
    let outcomes = wait_with(targets, timeout, |t| check(goal, t));
    let waited = timeout.unwrap_or_default();
    targets
        .iter()
        .zip(outcomes)
        .map(|(t, o)| {
            o.unwrap_or_else(|| {
                let now = match report::inspect(&t.dir) {
                    Ok(v) => report::line(&v, SystemTime::now()),
                    Err(u) => format!("{}: {}", u.dir, u.problem),
                };
                Outcome::TimedOut(format!(
                    "timed out after {} s waiting for {goal}; now {now}",
                    waited.as_secs_f64()
                ))
            })
        })
        .collect()
}

/// Waits until `check` has said something of every target, or `timeout` passes (then
/// `None` for the targets it had not): looks again whenever a target's `status` is
/// replaced or its supervise exits.
pub fn wait_with(
    targets: &[Target],
    timeout: Option<Duration>,
    check: impl Fn(&Target) -> Option<Outcome>,
) -> Vec<Option<Outcome>> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; targets.len()];
    let deadline = timeout.map(|t| Instant::now() + t);
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC);
    let mut pidfds: Vec<OwnedFd> = Vec::new();
    if let Ok(ino) = &inotify {
        for t in targets {
            // A directory that cannot be watched is reported by `check` below.
            let _ = ino.add_watch(
                &t.dir,
                AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE,
            );
            pidfds.extend(supervise_pidfd(&t.dir));
        }
    }
    let mut recheck = true;
    loop {
        if recheck {
            for (t, o) in targets.iter().zip(outcomes.iter_mut()) {
                if o.is_none() {
                    *o = check(t);
                }
            }
        }
        if outcomes.iter().all(Option::is_some) {
            break;
        }
        let left = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => break,
            },
            None => None,
        };
        let Ok(ino) = &inotify else {
            // No inotify (out of instances): fall back to looking every 100 ms.
            std::thread::sleep(
                left.unwrap_or(Duration::from_millis(100))
                    .min(Duration::from_millis(100)),
            );
            continue;
        };
        let mut fds = vec![PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
        fds.extend(
            pidfds
                .iter()
                .map(|p| PollFd::new(p.as_fd(), PollFlags::POLLIN)),
        );
        let timeout = left.map_or(PollTimeout::NONE, |d| {
            let ms = d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        });
        let _ = poll(&mut fds, timeout);
        // Drain; the events only say "look again", but not those of the FIFOs and
        // the lock: the checks themselves open `ok`, whose close would wake us for
        // ever.
        let mut news = false;
        while let Ok(ev) = ino.read_events() {
            if ev.is_empty() {
                break;
            }
            news |= ev.iter().any(|e| {
                !e.name
                    .as_deref()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n == "ok" || n == "control" || n == "lock")
            });
        }
        let ended = fds[1..].iter().any(|f| f.any().unwrap_or(false));
        recheck = news || ended || !fds[0].any().unwrap_or(false);
        // An exited supervise stays readable: stop polling its pidfd.
        let dead: Vec<bool> = fds[1..].iter().map(|f| f.any().unwrap_or(false)).collect();
        let mut i = 0;
        pidfds.retain(|_| {
            let keep = !dead[i];
            i += 1;
            keep
        });
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{Tai64n, Want};

    #[test]
    fn goals() {
        let s = |pid| Status {
            since: Tai64n::from_system_time(SystemTime::now()),
            paused: false,
            want: Want::Up,
            alarms: true,
            pid,
        };
        assert!(reached(Goal::Up, &s(5), None));
        assert!(!reached(Goal::Up, &s(0), None));
        assert!(reached(Goal::Down, &s(0), Some(5)));
        assert!(!reached(Goal::Restart, &s(5), Some(5)));
        assert!(reached(Goal::Restart, &s(6), Some(5)));
        assert!(reached(Goal::Restart, &s(6), None));
        assert!(!reached(Goal::Restart, &s(0), Some(5)));
        assert_eq!(Goal::parse("u"), Some(Goal::Up));
        assert_eq!(Goal::parse("restart"), Some(Goal::Restart));
        assert_eq!(Goal::parse("sideways"), None);
    }

    #[test]
    fn a_directory_without_supervise_fails_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let t0 = Instant::now();
        let out = wait(
            &[Target::now(tmp.path())],
            Goal::Up,
            Some(Duration::from_secs(30)),
        );
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert!(
            matches!(&out[0], Outcome::Failed(m) if m.contains("no such directory") || m.contains("not a status directory")),
            "{out:?}"
        );
    }
}
