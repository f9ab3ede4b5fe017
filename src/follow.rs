//! The service's main process when it is not the process supervise started, and what
//! a service leaves behind.
//!
//! - A daemon that forks (systemd's `Type=forking`): with `pidfile`, the process
//!   supervise started is only a launcher. Once it exits 0, the pidfile is read
//!   (again and again, briefly: many daemons write it after the launcher is gone)
//!   until it names a process of the service: a child of supervise (the daemon,
//!   re-parented to it as a subreaper) or a member of the launcher's process group.
//!   That process is then the service: signalled, watched through a pidfd, reaped.
//! - `MAINPID=` from the service names its main process the same way: taken when the
//!   launcher exits 0 (while the launcher runs, it stays the main process, and its
//!   process group holds them both).
//! - A service adopted from a previous supervise: watched through a pidfd, as it is
//!   not our child.
//! - Strays: supervise is a subreaper, so a process the service left behind outside
//!   its process group (a daemon that forked and made its own session without a
//!   pidfile) becomes supervise's child. After each end of the service they are
//!   found, said in the log, stopped, and killed before the next start: never a
//!   second copy beside the next one.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::exit::Exit;
use crate::machine::Target;

/// The first look at a pidfile not yet written comes this long after the launcher's
/// exit; the wait doubles after each miss, up to [`PIDFILE_MAX_WAIT`].
const PIDFILE_FIRST_WAIT: Duration = Duration::from_millis(5);
const PIDFILE_MAX_WAIT: Duration = Duration::from_millis(500);

/// A pidfile is a few digits; anything longer is not one.
const PIDFILE_MAX: usize = 64;

/// The launcher exited 0 and the pidfile is being waited for.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    launcher: Pid,
    how: Exit,
    until: Instant,
    timeout: Duration,
    next: Instant,
    wait: Duration,
    /// A pidfile naming another process was said once.
    said: bool,
}

/// What came of waiting for the pidfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The main process, and the log line.
    Main(Pid, String),
    /// None in time: the launcher's exit stands as the service's, with the line.
    Nothing(Pid, Exit, String),
    /// Worth a line, and the wait goes on.
    Note(String),
}

/// Main-process tracking and strays.
#[derive(Debug, Default)]
pub struct Follow {
    pidfile: Option<PathBuf>,
    waiting: Option<Waiting>,
    /// A pidfd on the main process when supervise did not start it.
    main_fd: Option<(Pid, OwnedFd)>,
    /// Processes the service left behind, stopped, to be killed before a start.
    strays: Vec<Pid>,
    /// The main process the service named (`MAINPID=`), taken at the launcher's exit.
    told: Option<Pid>,
}

impl Follow {
    /// Sets the pidfile (from the config; `None` for a service that does not fork).
    pub fn set_pidfile(&mut self, pidfile: Option<PathBuf>) {
        self.pidfile = pidfile;
    }

    /// The pidfile, if the service forks.
    pub fn pidfile(&self) -> Option<&Path> {
        self.pidfile.as_deref()
    }

    /// The launcher (the process supervise started) ended: with a pidfile and exit
    /// 0, the wait for the pidfile begins and `true` says the exit is not the
    /// service's.
    pub fn launcher_exited(
        &mut self,
        launcher: Pid,
        how: Exit,
        timeout: Duration,
        now: Instant,
    ) -> bool {
        if (self.pidfile.is_none() && self.told.is_none()) || how != Exit::Code(0) {
            return false;
        }
        let timeout = if timeout.is_zero() {
            Duration::from_secs(10)
        } else {
            timeout
        };
        self.waiting = Some(Waiting {
            launcher,
            how,
            until: now + timeout,
            timeout,
            next: now,
            wait: PIDFILE_FIRST_WAIT,
            said: false,
        });
        true
    }

    /// Waiting for the pidfile.
    pub fn waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// The next look at the pidfile.
    pub fn deadline(&self) -> Option<Instant> {
        self.waiting.map(|w| w.next)
    }

    /// `MAINPID=`: the main process once the launcher exits.
    pub fn told(&mut self, pid: Pid) {
        self.told = Some(pid);
    }

    /// Looks at the pidfile (or at the pid the service told) if it is time; `known`
    /// are supervise's other children (helpers, probes), never the service; `owner`
    /// the service's user, who may own the pidfile.
    pub fn on_time(&mut self, now: Instant, known: &[Pid], owner: u32) -> Option<Found> {
        let mut w = self.waiting.filter(|w| w.next <= now)?;
        if let Some(pid) = self.told.take() {
            if of_service(pid, w.launcher, pid, known) {
                self.waiting = None;
                return Some(Found::Main(pid, format!("main pid {pid}, from MAINPID=")));
            }
        }
        let Some(path) = self.pidfile.clone() else {
            self.waiting = None;
            return Some(Found::Nothing(
                w.launcher,
                w.how,
                "the process MAINPID= named is gone: taking the service as exited".into(),
            ));
        };
        let known: Vec<Pid> = known.iter().chain(&self.strays).copied().collect();
        match read_pidfile(&path, owner) {
            Some(pid) if of_service(pid, w.launcher, pid, &known) => {
                self.waiting = None;
                return Some(Found::Main(
                    pid,
                    format!("main pid {pid}, from {}", path.display()),
                ));
            }
            Some(pid) if !w.said => {
                w.said = true;
                self.waiting = Some(w);
                return Some(Found::Note(format!(
                    "{} names pid {pid}, not a process of the service: waiting for it to \
                     be rewritten",
                    path.display()
                )));
            }
            _ => {}
        }
        if now >= w.until {
            self.waiting = None;
            return Some(Found::Nothing(
                w.launcher,
                w.how,
                format!(
                    "{} named no process of the service within {} s of the start command's \
                     exit: taking the service as exited",
                    path.display(),
                    w.timeout.as_secs()
                ),
            ));
        }
        w.next = (now + w.wait).min(w.until);
        w.wait = (w.wait * 2).min(PIDFILE_MAX_WAIT);
        self.waiting = Some(w);
        None
    }

    /// A signal the machine sends to a launcher that is gone (while the pidfile is
    /// awaited) is not sent: its pid may already be someone else's.
    pub fn holds_back(&self, target: Target) -> bool {
        let pid = match target {
            Target::Process(p) | Target::Group(p) => p,
            Target::Leftovers(_) => return false,
        };
        self.waiting.is_some_and(|w| w.launcher == pid)
    }

    /// Watches `pid` (not necessarily a child of supervise) through a pidfd.
    pub fn watch(&mut self, pid: Pid) {
        self.main_fd = pidfd(pid).map(|fd| (pid, fd));
    }

    /// The pidfd to poll.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.main_fd.as_ref().map(|(_, fd)| fd.as_fd())
    }

    /// The watched process ended (its pidfd was readable): its pid, and how it
    /// ended if it was supervise's child (reaped here), else [`Exit::Unknown`].
    pub fn ended(&mut self) -> Option<(Pid, Exit)> {
        let (pid, _) = self.main_fd.take()?;
        self.reaped(pid);
        let mut raw = 0;
        // SAFETY: waitpid on one pid with a valid status pointer; not our child is
        // ECHILD, which leaves the status unknown.
        let got = unsafe { libc::waitpid(pid.as_raw(), &mut raw, libc::WNOHANG) };
        let how = if got == pid.as_raw() {
            Exit::from_wait_status(raw).unwrap_or(Exit::Unknown)
        } else {
            Exit::Unknown
        };
        Some((pid, how))
    }

    /// The service's process `pid` ended (reaped elsewhere): stop watching it, and
    /// stop waiting for a pidfile if it was the launcher.
    pub fn forget(&mut self, pid: Pid) {
        self.told = None;
        self.reaped(pid);
        if self.main_fd.as_ref().is_some_and(|(p, _)| *p == pid) {
            self.main_fd = None;
        }
        if self.waiting.is_some_and(|w| w.launcher == pid) {
            self.waiting = None;
        }
    }

    /// After the service ended: supervise's children other than `known` are what it
    /// left behind. They get `sig` now (and KILL before the next start); the line
    /// for the log names them.
    pub fn round_up_strays(&mut self, known: &[Pid], sig: Signal) -> Option<String> {
        let found: Vec<Pid> = children()
            .into_iter()
            .filter(|p| !known.contains(p) && !self.strays.contains(p))
            .collect();
        if found.is_empty() {
            return None;
        }
        let named: Vec<String> = found
            .iter()
            .map(|p| format!("{p} ({})", comm(*p)))
            .collect();
        for &p in &found {
            let _ = crate::kill::send(Target::Process(p), sig);
            let _ = crate::kill::send(Target::Process(p), Signal::SIGCONT);
        }
        self.strays.extend(found);
        Some(format!(
            "the service left processes running outside its process group: pid {}; it \
             forks into the background (set pidfile so that supervise follows the \
             daemon); they are stopped now, and killed before the next start",
            named.join(", ")
        ))
    }

    /// Before a start: every stray still there is killed (they are supervise's
    /// unreaped children, so their pids are still theirs).
    pub fn kill_strays(&mut self) {
        for p in self.strays.drain(..) {
            let _ = crate::kill::send(Target::Process(p), Signal::SIGKILL);
        }
    }

    /// A child was reaped: no longer a stray. `true` if it was one.
    pub fn reaped(&mut self, pid: Pid) -> bool {
        let before = self.strays.len();
        self.strays.retain(|&p| p != pid);
        self.strays.len() != before
    }
}

/// A pidfd on `pid`; `None` if it is gone.
pub fn pidfd(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open returns a new descriptor (close-on-exec) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh descriptor we now own.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The pid a pidfile holds: decimal digits, surrounding whitespace allowed, above 1.
pub fn parse_pidfile(bytes: &[u8]) -> Option<Pid> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 10 {
        return None;
    }
    let n: i32 = text.parse().ok()?;
    (n > 1).then(|| Pid::from_raw(n))
}

/// Reads a pidfile by the rules of a file the service may control: never through a
/// link, never a device or a FIFO (not even opened), owned by root or `owner`.
fn read_pidfile(path: &Path, owner: u32) -> Option<Pid> {
    let bytes = crate::statusdir::open::read_owned(path, &[0, owner], PIDFILE_MAX).ok()?;
    parse_pidfile(&bytes)
}

/// The one test of "a process of the service": `pid` is alive (not a zombie), not
/// one of supervise's `known` other children, and the service's main process, a
/// member of its process `group` or of the `main` process's, or a child of supervise
/// (a daemon re-parented to it).
pub fn of_service(pid: Pid, group: Pid, main: Pid, known: &[Pid]) -> bool {
    if known.contains(&pid) || pid.as_raw() <= 1 {
        return false;
    }
    let Some(f) = crate::proc::stat_fields(pid.as_raw().unsigned_abs()) else {
        return false;
    };
    let alive = f.first().is_some_and(|s| s != "Z" && s != "X");
    let parent = f.get(1).and_then(|v| v.parse::<u32>().ok());
    let pgid = f.get(2).and_then(|v| v.parse::<i32>().ok());
    alive
        && (pid == main
            || pgid == Some(group.as_raw())
            || pgid == Some(main.as_raw())
            || parent == Some(std::process::id()))
}

/// supervise's children, from `/proc/self/task/TID/children` (the main thread's:
/// supervise has no other).
fn children() -> Vec<Pid> {
    let me = std::process::id();
    let mut buf = [0u8; 4096];
    crate::proc::read_whole(&format!("/proc/{me}/task/{me}/children"), &mut buf)
        .map(|t| {
            t.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .map(Pid::from_raw)
                .collect()
        })
        .unwrap_or_default()
}

/// A process's command name, for the log.
fn comm(pid: Pid) -> String {
    let mut buf = [0u8; 64];
    crate::proc::read_whole(&format!("/proc/{pid}/comm"), &mut buf)
        .map(|t| crate::probe::one_line(&t))
        .unwrap_or_else(|| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfiles_are_digits_above_one() {
        assert_eq!(parse_pidfile(b"4242\n"), Some(Pid::from_raw(4242)));
        assert_eq!(parse_pidfile(b"  17  "), Some(Pid::from_raw(17)));
        for bad in [
            &b""[..],
            b"1",
            b"0",
            b"-5",
            b"12 13",
            b"abc",
            b"99999999999",
            b"\xff",
        ] {
            assert_eq!(parse_pidfile(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_missing_pidfile_is_waited_for_then_given_up() {
        let dir = std::env::temp_dir().join(format!("follow-{}", std::process::id()));
        let mut f = Follow::default();
        f.set_pidfile(Some(dir.join("none.pid")));
        let t0 = Instant::now();
        let launcher = Pid::from_raw(999_999);
        assert!(f.launcher_exited(launcher, Exit::Code(0), Duration::from_secs(1), t0));
        assert!(f.holds_back(Target::Process(launcher)));
        let mut looks = 0;
        let mut now = t0;
        let end = loop {
            looks += 1;
            if let Some(found) = f.on_time(now, &[], 0) {
                break found;
            }
            now = f.deadline().unwrap();
        };
        assert!(
            matches!(end, Found::Nothing(p, Exit::Code(0), _) if p == launcher),
            "{end:?}"
        );
        // 5, 10, 20 ... 500 ms: a handful of looks in a second, not a busy wait.
        assert!((5..=12).contains(&looks), "{looks}");
        assert!(!f.waiting());
        // A launcher that failed is the service's exit.
        assert!(!f.launcher_exited(launcher, Exit::Code(1), Duration::from_secs(1), t0));
    }

    #[test]
    fn a_pidfile_naming_our_child_is_the_main_process() {
        let dir = std::env::temp_dir().join(format!("follow-main-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d.pid");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        std::fs::write(&path, format!("{}\n", child.id())).unwrap();
        let mut f = Follow::default();
        f.set_pidfile(Some(path.clone()));
        let now = Instant::now();
        assert!(f.launcher_exited(
            Pid::from_raw(999_998),
            Exit::Code(0),
            Duration::from_secs(1),
            now
        ));
        let me = nix::unistd::geteuid().as_raw();
        let found = f.on_time(now, &[], me);
        assert!(
            matches!(found, Some(Found::Main(p, _)) if p.as_raw() as u32 == child.id()),
            "{found:?}"
        );
        // Pid 1 is never one.
        std::fs::write(&path, "1\n").unwrap();
        assert!(f.launcher_exited(
            Pid::from_raw(999_998),
            Exit::Code(0),
            Duration::from_secs(1),
            now
        ));
        assert_eq!(f.on_time(now, &[], me), None);
        std::fs::write(&path, format!("{}\n", child.id())).unwrap();
        let helper = [Pid::from_raw(child.id() as i32)];
        assert!(f.launcher_exited(
            Pid::from_raw(999_998),
            Exit::Code(0),
            Duration::from_secs(1),
            now
        ));
        assert!(matches!(f.on_time(now, &helper, me), Some(Found::Note(_))));
        // Never through a link.
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        assert_eq!(read_pidfile(&path, me), None);
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
