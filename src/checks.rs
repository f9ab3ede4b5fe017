//! The service's readiness and health while it runs: the notification socket, the
//! readiness descriptor, the probes and the watchdog. This module owns their
//! descriptors and deadlines; the loop polls what [`Checks::poll_fds`] gives, calls
//! back when they are ready or due, and turns the [`Note`]s into machine events.
//!
//! Nothing here blocks: a notification is one non-blocking `recvmsg`, a probe is a
//! non-blocking socket or a child process ([`crate::probe`]), and every wait is a
//! deadline in the one `poll`. Once the service is ready and no health check or
//! watchdog is set, nothing here wakes supervise at all.
//!
//! A notification counts only from a process of the service: the sender's pid, which
//! the kernel vouches for (`SO_PASSCRED`), must be the main process or in the
//! service's process group (or the main process's own, after a daemon's `setsid`).
//! Anything else on the socket is dropped and said once in the log.

use std::fs::File;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime};

use nix::poll::PollFlags;
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, UnixCredentials, recvmsg, setsockopt, sockopt,
};
use nix::unistd::Pid;

use crate::child::Child;
use crate::exit::Exit;
use crate::probe::{Outcome, Probe};
use crate::ready::{Check, NOTIFY_MAX, Notice, Ready};
use crate::statusdir::open::Dir;

/// The name of the notification socket in the status directory.
pub const NOTIFY_NAME: &str = "notify";

/// The first readiness probe runs this long after the start; each next one waits
/// twice as long as the last, up to `ready_interval`: a service that is ready in
/// 30 ms is seen in 40, without polling one that takes a minute every 10 ms.
const FIRST_PROBE: Duration = Duration::from_millis(10);

/// What the checks learned, for the machine and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The service is ready; how supervise knows, for the log.
    Ready(String),
    /// It asked for more time to become ready.
    Extend(Duration),
    /// Its main process is now this one (`MAINPID=`).
    MainPid(Pid),
    /// Failed: its health check (what failed and what it said) or its watchdog.
    Unhealthy(String),
    /// Something worth a line in the log (a health check recovering, a notification
    /// of the service's state).
    Log(String),
    /// Something wrong worth a warning (a check failing, a foreign notification).
    Warn(String),
}

/// The last health check: whether it passed, what it said, and when (for a pass: the
/// first of the passes in a row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastCheck {
    pub at: SystemTime,
    pub passed: bool,
    pub said: String,
}

/// The check settings, from the config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub ready: Ready,
    pub ready_interval: Duration,
    pub probe_timeout: Duration,
    pub health: Option<Check>,
    pub health_interval: Duration,
    pub health_failures: u32,
    pub watchdog: Duration,
}

impl Settings {
    /// The notification socket is needed (`ready : notify` or a watchdog).
    pub fn wants_socket(&self) -> bool {
        self.ready == Ready::Notify || !self.watchdog.is_zero()
    }
}

/// Which check a probe is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Ready,
    Health,
}

/// The notification socket and the address the service is given.
#[derive(Debug)]
struct Socket {
    fd: OwnedFd,
    /// `NOTIFY_SOCKET`'s value: a path, or `@name` for an abstract address.
    address: String,
}

/// The running service, as the checks see it.
#[derive(Debug, Clone, Copy)]
struct Running {
    /// Its process group (the pid it was started as).
    pgid: Pid,
    /// Its main process.
    main: Pid,
    ready: bool,
}

/// Readiness and health at run time.
#[derive(Debug)]
pub struct Checks {
    settings: Settings,
    socket: Option<Socket>,
    /// The read end of the readiness pipe (`ready : fd N`) while not ready, and the
    /// write end until the service has it.
    pipe: Option<(File, Option<OwnedFd>)>,
    probe: Option<(Purpose, Probe)>,
    next_probe: Option<(Purpose, Instant)>,
    /// The wait before the next readiness probe.
    ready_wait: Duration,
    failures: u32,
    watchdog_at: Option<Instant>,
    service: Option<Running>,
    /// Foreign senders already said in the log (a bound: a flood says it once).
    foreign_said: bool,
    /// The last `STATUS=` text.
    pub status_text: String,
    /// The last health check.
    pub last_health: Option<LastCheck>,
}

impl Checks {
    /// Sets up what the settings need: the notification socket in `dir` (owned by
    /// `owner`, the service's user), or an abstract one when `abs_dir`'s path is too
    /// long for a socket address.
    pub fn new(
        settings: Settings,
        dir: &Dir,
        abs_dir: &std::path::Path,
        owner: Option<u32>,
    ) -> std::io::Result<Checks> {
        let socket = if settings.wants_socket() {
            Some(notify_socket(dir, abs_dir, owner)?)
        } else {
            None
        };
        Ok(Checks {
            settings,
            socket,
            pipe: None,
            probe: None,
            next_probe: None,
            ready_wait: FIRST_PROBE,
            failures: 0,
            watchdog_at: None,
            service: None,
            foreign_said: false,
            status_text: String::new(),
            last_health: None,
        })
    }

    /// New settings (a reload): the socket is kept if still needed, made if newly
    /// needed; a running service's checks go on under the new settings from their
    /// next run.
    pub fn reconfigure(
        &mut self,
        settings: Settings,
        dir: &Dir,
        abs_dir: &std::path::Path,
        owner: Option<u32>,
    ) -> std::io::Result<()> {
        if settings.wants_socket() && self.socket.is_none() {
            self.socket = Some(notify_socket(dir, abs_dir, owner)?);
        } else if !settings.wants_socket() {
            self.socket = None;
        }
        self.settings = settings;
        Ok(())
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What the service's environment gets: `NOTIFY_SOCKET`, `WATCHDOG_USEC`.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(s) = &self.socket {
            env.push(("NOTIFY_SOCKET".to_owned(), s.address.clone()));
        }
        if !self.settings.watchdog.is_zero() {
            env.push((
                "WATCHDOG_USEC".to_owned(),
                self.settings.watchdog.as_micros().to_string(),
            ));
        }
        env
    }

    /// Before a start: the readiness pipe's write end, and the descriptor number the
    /// service gets it as.
    pub fn before_spawn(&mut self) -> std::io::Result<Option<(BorrowedFd<'_>, i32)>> {
        self.pipe = None;
        let Ready::Fd(n) = self.settings.ready else {
            return Ok(None);
        };
        let (r, w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
        // Only the read end is non-blocking: the service's write end is its own.
        nix::fcntl::fcntl(
            &w,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
        )?;
        self.pipe = Some((File::from(r), Some(w)));
        Ok(self
            .pipe
            .as_ref()
            .and_then(|(_, w)| w.as_ref())
            .map(|w| (w.as_fd(), n)))
    }

    /// The service started as `pid`: its checks begin.
    pub fn started(&mut self, pid: Pid, now: Instant) {
        if let Some((_, w)) = &mut self.pipe {
            *w = None;
        }
        self.service = Some(Running {
            pgid: pid,
            main: pid,
            ready: false,
        });
        self.status_text.clear();
        self.failures = 0;
        self.watchdog_at = None;
        self.ready_wait = FIRST_PROBE;
        self.next_probe = matches!(self.settings.ready, Ready::Probe(_))
            .then_some((Purpose::Ready, now + FIRST_PROBE));
    }

    /// A service taken over at start-up (its checks are not known to have passed):
    /// taken as ready, its health checked from now.
    pub fn adopted(&mut self, pid: Pid, now: Instant) {
        self.service = Some(Running {
            pgid: pid,
            main: pid,
            ready: false,
        });
        self.now_ready(now);
    }

    /// The main process changed (a forking daemon's, from its pidfile).
    pub fn main_pid(&mut self, pid: Pid) {
        if let Some(s) = &mut self.service {
            s.main = pid;
        }
    }

    /// The machine took the service as ready: readiness checks end, health checks
    /// and the watchdog begin.
    pub fn now_ready(&mut self, now: Instant) {
        let Some(s) = &mut self.service else {
            return;
        };
        if s.ready {
            return;
        }
        s.ready = true;
        self.pipe = None;
        if self
            .probe
            .as_ref()
            .is_some_and(|(p, _)| *p == Purpose::Ready)
        {
            self.end_probe();
        }
        self.next_probe = self
            .settings
            .health
            .as_ref()
            .map(|_| (Purpose::Health, now + self.settings.health_interval));
        self.watchdog_at =
            (!self.settings.watchdog.is_zero()).then(|| now + self.settings.watchdog);
    }

    /// The service ended (or is being stopped): every check stops.
    pub fn stopped(&mut self) {
        self.service = None;
        self.pipe = None;
        self.next_probe = None;
        self.watchdog_at = None;
        self.end_probe();
    }

    fn end_probe(&mut self) {
        if let Some((_, mut p)) = self.probe.take() {
            // A command is killed; its end is reaped like any child's.
            let _ = p.on_timeout();
        }
    }

    /// The pid of a command probe running now.
    pub fn probe_pid(&self) -> Option<Pid> {
        self.probe.as_ref().and_then(|(_, p)| p.pid())
    }

    /// The descriptors to poll.
    pub fn poll_fds(&self) -> impl Iterator<Item = (BorrowedFd<'_>, PollFlags)> {
        let socket = self
            .socket
            .as_ref()
            .map(|s| (s.fd.as_fd(), PollFlags::POLLIN));
        let pipe = self
            .pipe
            .as_ref()
            .map(|(r, _)| (r.as_fd(), PollFlags::POLLIN));
        let probe = self.probe.as_ref().and_then(|(_, p)| p.fd());
        socket.into_iter().chain(pipe).chain(probe)
    }

    /// The earliest deadline.
    pub fn deadline(&self) -> Option<Instant> {
        [
            self.next_probe.map(|(_, at)| at),
            self.probe.as_ref().map(|(_, p)| p.deadline()),
            self.watchdog_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The descriptors [`Checks::poll_fds`] gave, in that order, were ready (bit i:
    /// the i-th).
    pub fn on_fds(&mut self, ready: u8, now: Instant, out: &mut Vec<Note>) {
        let mut i = 0;
        let mut hit = || {
            let r = ready & (1 << i) != 0;
            i += 1;
            r
        };
        let (socket, pipe, probe) = (
            self.socket.is_some() && hit(),
            self.pipe.is_some() && hit(),
            self.probe.as_ref().is_some_and(|(_, p)| p.fd().is_some()) && hit(),
        );
        if socket {
            self.read_notifications(now, out);
        }
        if pipe {
            self.read_pipe(out);
        }
        if probe {
            if let Some((purpose, p)) = &mut self.probe {
                let (purpose, outcome) = (*purpose, p.on_ready());
                self.probe_outcome(purpose, outcome, now, out);
            }
        }
    }

    /// Deadlines that passed: a probe due, a probe late, a watchdog missed.
    pub fn on_time(
        &mut self,
        now: Instant,
        spawn: impl FnOnce(&str, BorrowedFd<'_>) -> std::io::Result<Child>,
        out: &mut Vec<Note>,
    ) {
        if self.watchdog_at.is_some_and(|t| t <= now) {
            self.watchdog_at = None;
            out.push(Note::Unhealthy(format!(
                "watchdog: no WATCHDOG=1 within {} ms",
                self.settings.watchdog.as_millis()
            )));
            return;
        }
        if let Some((purpose, p)) = &mut self.probe {
            if p.deadline() <= now {
                let (purpose, outcome) = (*purpose, p.on_timeout());
                self.probe_outcome(purpose, outcome, now, out);
            }
        }
        if let Some((purpose, at)) = self.next_probe {
            if at <= now && self.probe.is_none() {
                self.next_probe = None;
                self.run_probe(purpose, now, spawn, out);
            }
        }
    }

    /// A child ended: if it was a command probe, its outcome. `false`: not ours.
    pub fn on_exit(&mut self, pid: Pid, how: Exit, now: Instant, out: &mut Vec<Note>) -> bool {
        let Some((purpose, p)) = &mut self.probe else {
            return false;
        };
        if p.pid() != Some(pid) {
            return false;
        }
        let (purpose, outcome) = (*purpose, p.on_exit(how.code()));
        self.probe_outcome(purpose, outcome, now, out);
        true
    }

    fn run_probe(
        &mut self,
        purpose: Purpose,
        now: Instant,
        spawn: impl FnOnce(&str, BorrowedFd<'_>) -> std::io::Result<Child>,
        out: &mut Vec<Note>,
    ) {
        let check = match (purpose, &self.settings.ready, &self.settings.health) {
            (Purpose::Ready, Ready::Probe(c), _) | (Purpose::Health, _, Some(c)) => c.clone(),
            _ => return,
        };
        let spawn = |cmd: &str, fd: BorrowedFd<'_>| spawn(cmd, fd).map(|c| c.pid);
        match Probe::start(&check, self.settings.probe_timeout, now, spawn) {
            Ok(p) => self.probe = Some((purpose, p)),
            Err(e) => self.probe_outcome(purpose, Outcome::Failed(e), now, out),
        }
    }

    fn probe_outcome(
        &mut self,
        purpose: Purpose,
        outcome: Outcome,
        now: Instant,
        out: &mut Vec<Note>,
    ) {
        if outcome == Outcome::Pending {
            return;
        }
        let check = self.probe.take().map(|(_, p)| p.check().to_string());
        let check = check.unwrap_or_else(|| self.check_name(purpose));
        match purpose {
            Purpose::Ready => self.ready_outcome(check, outcome, now, out),
            Purpose::Health => self.health_outcome(check, outcome, now, out),
        }
    }

    fn check_name(&self, purpose: Purpose) -> String {
        match (purpose, &self.settings.ready, &self.settings.health) {
            (Purpose::Ready, Ready::Probe(c), _) | (Purpose::Health, _, Some(c)) => c.to_string(),
            _ => String::new(),
        }
    }

    fn ready_outcome(
        &mut self,
        check: String,
        outcome: Outcome,
        now: Instant,
        out: &mut Vec<Note>,
    ) {
        if self.service.is_none_or(|s| s.ready) {
            return;
        }
        if outcome == Outcome::Passed {
            out.push(Note::Ready(check));
            return;
        }
        self.ready_wait = (self.ready_wait * 2).min(self.settings.ready_interval.max(FIRST_PROBE));
        self.next_probe = Some((Purpose::Ready, now + self.ready_wait));
    }

    fn health_outcome(
        &mut self,
        check: String,
        outcome: Outcome,
        now: Instant,
        out: &mut Vec<Note>,
    ) {
        if self.service.is_none_or(|s| !s.ready) {
            return;
        }
        self.next_probe = Some((Purpose::Health, now + self.settings.health_interval));
        let said = match outcome {
            Outcome::Failed(said) => said,
            _ => {
                if self.failures > 0 {
                    out.push(Note::Log(format!("health check passed again: {check}")));
                }
                self.failures = 0;
                // Passing since the first pass: nothing to write while it keeps
                // passing (no wakeup of the host or of a `svc wait`, per probe).
                if !self.last_health.as_ref().is_some_and(|h| h.passed) {
                    self.last_health = Some(LastCheck {
                        at: SystemTime::now(),
                        passed: true,
                        said: String::new(),
                    });
                }
                return;
            }
        };
        self.failures += 1;
        let of = self.settings.health_failures.max(1);
        self.last_health = Some(LastCheck {
            at: SystemTime::now(),
            passed: false,
            said: said.clone(),
        });
        out.push(Note::Log(format!(
            "health check failed ({} of {of}): {check}: {said}",
            self.failures
        )));
        if self.failures >= of {
            self.next_probe = None;
            out.push(Note::Unhealthy(format!(
                "health check failed {of} times in a row: {check}: {said}"
            )));
        }
    }

    fn read_pipe(&mut self, out: &mut Vec<Note>) {
        let Some((r, _)) = &mut self.pipe else {
            return;
        };
        let mut buf = [0u8; 512];
        // Bounded: a flood of bytes without a newline cannot hold the loop.
        for _ in 0..128 {
            match r.read(&mut buf) {
                Ok(0) => {
                    // Closed without a newline: it will not say; stop listening.
                    self.pipe = None;
                    return;
                }
                Ok(n) if buf[..n].contains(&b'\n') => {
                    self.pipe = None;
                    out.push(Note::Ready(format!(
                        "a newline on descriptor {}",
                        match self.settings.ready {
                            Ready::Fd(n) => n,
                            _ => -1,
                        }
                    )));
                    return;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Reads every waiting notification (bounded: a flood is read in turns).
    fn read_notifications(&mut self, now: Instant, out: &mut Vec<Note>) {
        for _ in 0..64 {
            let Some(fd) = self.socket.as_ref().map(|s| s.fd.as_raw_fd()) else {
                return;
            };
            let Some((sender, bytes, _barrier)) = receive(fd) else {
                return;
            };
            // `_barrier` is dropped at the end of the turn: after the sender was
            // looked at (it waits for the close, so it is still there to be seen).
            match self.service {
                Some(s) if from_service(sender, s) => self.apply(&bytes, sender, now, out),
                _ if !self.foreign_said => {
                    self.foreign_said = true;
                    out.push(Note::Warn(format!(
                        "notify: ignored a notification from pid {}, not a process of the \
                         service (said once)",
                        sender.map_or_else(|| "unknown".to_owned(), |p| p.to_string())
                    )));
                }
                _ => {}
            }
        }
    }

    fn apply(&mut self, datagram: &[u8], sender: Option<Pid>, now: Instant, out: &mut Vec<Note>) {
        let Some(s) = self.service else {
            return;
        };
        for n in crate::ready::notices(datagram) {
            match n {
                Notice::Ready if self.settings.ready == Ready::Notify && !s.ready => {
                    let by = sender.map_or_else(String::new, |p| format!(" from pid {p}"));
                    out.push(Note::Ready(format!("READY=1{by}")));
                }
                Notice::Status(text) => self.status_text = text,
                Notice::MainPid(p) => out.push(Note::MainPid(Pid::from_raw(p as i32))),
                Notice::Watchdog if s.ready && !self.settings.watchdog.is_zero() => {
                    self.watchdog_at = Some(now + self.settings.watchdog);
                }
                Notice::WatchdogTrigger => {
                    out.push(Note::Unhealthy("watchdog: WATCHDOG=trigger".to_owned()))
                }
                Notice::ExtendTimeout(d) if !s.ready => out.push(Note::Extend(d)),
                Notice::Reloading => out.push(Note::Log("notify: RELOADING=1".to_owned())),
                Notice::Stopping => out.push(Note::Log("notify: STOPPING=1".to_owned())),
                _ => {}
            }
        }
    }
}

/// Makes the notification socket: `status/notify` if its path fits in a socket
/// address, else an abstract address named after supervise's pid and the
/// directory's inode.
fn notify_socket(
    dir: &Dir,
    abs_dir: &std::path::Path,
    owner: Option<u32>,
) -> std::io::Result<Socket> {
    let path = abs_dir.join(NOTIFY_NAME);
    let fits = path.as_os_str().len() < 108;
    let (fd, address) = if fits {
        let fd = dir.bind_datagram(NOTIFY_NAME, owner)?;
        (fd, path.to_string_lossy().into_owned())
    } else {
        // Unguessable: nobody can take the name first, or aim at it by its name.
        let name = format!("supervise/notify/{}", random_hex()?);
        (abstract_socket(&name)?, format!("@{name}"))
    };
    setsockopt(&fd, sockopt::PassCred, &true)?;
    Ok(Socket { fd, address })
}

fn abstract_socket(name: &str) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, socket};
    let fd = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    bind(fd.as_raw_fd(), &UnixAddr::new_abstract(name.as_bytes())?)?;
    Ok(fd)
}

/// 16 random bytes, in hex.
fn random_hex() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    // SAFETY: getrandom fills the buffer we own, at most its length.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        return Err(std::io::Error::last_os_error());
    }
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The most descriptors one message can carry (the kernel's `SCM_MAX_FD`): a control
/// buffer this size is never truncated, so every descriptor received is closed.
const SCM_MAX_FD: usize = 253;

/// One datagram: its sender's pid (as the kernel says), its bytes, and the
/// descriptors passed with it (`BARRIER=1`'s), which the caller drops (closing them
/// is the answer the barrier waits for) once it has looked at the sender.
fn receive(fd: i32) -> Option<(Option<Pid>, Vec<u8>, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; NOTIFY_MAX];
    let mut cmsg = nix::cmsg_space!(UnixCredentials, [std::os::fd::RawFd; SCM_MAX_FD]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        fd,
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_TRUNC,
    );
    let msg = match msg {
        Ok(m) => m,
        Err(_) => return None,
    };
    let mut sender = None;
    let mut passed = Vec::new();
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::ScmCredentials(cred) if cred.pid() > 0 => {
                    sender = Some(Pid::from_raw(cred.pid()))
                }
                ControlMessageOwned::ScmRights(fds) => {
                    // SAFETY: received with the message, so ours to close.
                    passed.extend(fds.into_iter().map(|f| unsafe { OwnedFd::from_raw_fd(f) }));
                }
                _ => {}
            }
        }
    }
    let n = msg.bytes.min(NOTIFY_MAX);
    buf.truncate(n);
    Some((sender, buf, passed))
}

/// A sender is the service's if it is the main process or in the service's process
/// group, or in the main process's (a daemon that made its own session).
fn from_service(sender: Option<Pid>, s: Running) -> bool {
    sender.is_some_and(|pid| crate::follow::of_service(pid, s.pgid, s.main, &[]))
}
