//! The supervision state machine: what supervise decides, with no I/O.
//!
//! [`Machine::handle`] takes one [`Event`] and the current monotonic time, updates the
//! state and pushes the [`Effect`]s the event loop must carry out (fork, signal,
//! alarm, reload, exit). Forking is an effect whose outcome comes back as another
//! event ([`Event::Spawned`] or [`Event::SpawnFailed`]), so every decision here is a
//! pure function of state and input and is tested as tables of (state, event) →
//! (state, effects). Every delay — restart throttle, stop escalation, cool-down — is a
//! value of [`Machine::deadline`]; nothing here or in the loop ever sleeps.
//!
//! Which exits count as crashes: an exit while the service is wanted up, that no one
//! asked for. Exits after `d`, `x` or SIGTERM to supervise, and exits that follow a
//! signal letter the operator sent (`k`, `t`, ...), restart the service (when wanted
//! up) but open no crash window, send no alarm and count toward no limit.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::alarm::{self, Alarm};
use crate::config::{Backoff, GiveUp, Restart};
use crate::control::Letter;
use crate::exit::Exit;
use crate::policy::{self, Fact, Limit, Limits, Tally, Verdict};
use crate::status::Want;

/// Why a start is due later rather than now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The one-second minimum between starts.
    Throttle,
    /// The service keeps dying within `start_success`: waiting 1, 2, 4... seconds.
    Backoff,
    /// Gave up on a crash loop; trying again after `give_up_cool_down`.
    CoolDown,
}

/// Where the service process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not running and not due to start.
    Down,
    /// Not running, due to start at `at`.
    Waiting {
        /// When the next start is due.
        at: Instant,
        /// Why not now.
        why: Wait,
    },
    /// Running.
    Up {
        /// The service's pid.
        pid: Pid,
    },
    /// Asked to stop; waiting for it to exit.
    Stopping {
        /// The service's pid.
        pid: Pid,
        /// When it gets KILL if still alive; `None` once KILL was sent.
        kill_at: Option<Instant>,
    },
}

/// Something that happened, fed to [`Machine::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A control letter arrived (SIGHUP arrives as [`Letter::Reload`]).
    Letter(Letter),
    /// The [`Effect::Spawn`] just carried out forked this pid.
    Spawned(Pid),
    /// The [`Effect::Spawn`] just carried out could not fork.
    SpawnFailed,
    /// A child was reaped.
    Exited(Pid, Exit),
    /// [`Machine::deadline`] has passed.
    Timer,
    /// SIGTERM or SIGINT reached supervise: stop the service, then exit (as `dx`).
    Terminate,
    /// A watched path changed.
    Changed,
    /// At start-up, a live service left by a previous supervise was found and is taken
    /// over instead of starting another: its pid, what was wanted, whether paused.
    Adopted(Pid, Want, bool),
    /// A signal to [`Target::Leftovers`] found the group empty: nothing is left to
    /// KILL later (and no deadline to wake up for).
    GroupGone(Pid),
    /// The running service said it is ready (a notification, its readiness fd, a
    /// probe that succeeded).
    Ready,
    /// The service asked for more time to become ready (`EXTEND_TIMEOUT_USEC`).
    ExtendReady(Duration),
    /// The running service failed its health check (or missed its watchdog): it is
    /// restarted, as after a crash.
    Unhealthy,
    /// The service's main process is now this one (a forking daemon's, from its
    /// pidfile or `MAINPID=`).
    MainPid(Pid),
}

/// How a started service becomes ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Readiness {
    /// At once (the legacy behaviour).
    #[default]
    Now,
    /// After staying up this long (supervisord's `startsecs`).
    After(Duration),
    /// When it says so ([`Event::Ready`]).
    Told,
}

/// Why supervise stopped a running service it had not been asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Not ready within `ready_timeout`.
    NotReady,
    /// Its health check failed (or its watchdog was missed).
    Unhealthy,
}

/// Who a signal goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The service's main process.
    Process(Pid),
    /// Its whole process group (it leads one: the pgid is its pid). Its main process
    /// is alive and not reaped, so if the group does not exist yet (the child has not
    /// reached `setsid`), the signal goes to the process itself.
    Group(Pid),
    /// What is left of the group of a main process that has exited and been reaped:
    /// the group only, never a pid that may have been reused.
    Leftovers(Pid),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Process(p) => write!(f, "pid {p}"),
            Target::Group(p) | Target::Leftovers(p) => write!(f, "process group {p}"),
        }
    }
}

/// Something the event loop must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Fork and exec the service, then report [`Event::Spawned`] or
    /// [`Event::SpawnFailed`].
    Spawn,
    /// Send a signal to the service.
    Signal(Target, Signal),
    /// Send an alarm.
    Alarm(Alarm),
    /// Run the `-r` script with this count.
    RestartScript(u64),
    /// Re-read the config file.
    Reload,
    /// Supervise is done; exit with [`Machine::exit_code`].
    Exit,
    /// A burst of changes settled and the service is being restarted for it (for the
    /// log and the state file; the stop and start are their own effects).
    ChangeRestart,
    /// Supervise is stopping the running service itself, for this failure (for the
    /// log and the state file; the stop is its own effect).
    Failed(Failure),
}

/// Timings the machine works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Minimum time between two starts (1 s, as in the legacy tool).
    pub throttle: Duration,
    /// How long a stopping service has between the stop signal and KILL.
    pub stop_timeout: Duration,
    /// A run shorter than this is a failed start: the next one backs off.
    pub start_success: Duration,
    /// The longest backoff.
    pub backoff_max: Duration,
    /// How the backoff grows.
    pub backoff: Backoff,
    /// How a start becomes ready.
    pub readiness: Readiness,
    /// A start not ready within this is failed (zero: no limit).
    pub ready_timeout: Duration,
    /// A burst of changes must be quiet this long before the restart.
    pub debounce: Duration,
}

/// A burst of changes that never settles still restarts the service this long after
/// it began.
pub const BURST_LIMIT: Duration = Duration::from_secs(10);

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            throttle: Duration::from_secs(1),
            stop_timeout: Duration::from_secs(10),
            start_success: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            backoff: Backoff::Double,
            readiness: Readiness::Now,
            ready_timeout: Duration::ZERO,
            debounce: Duration::from_millis(300),
        }
    }
}

/// A set of exit codes (0–255).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitCodes([u64; 4]);

impl ExitCodes {
    /// The set of these codes; codes outside 0–255 are ignored.
    pub fn of(codes: &[i32]) -> ExitCodes {
        let mut bits = [0u64; 4];
        for &c in codes {
            if let Ok(c) = u8::try_from(c) {
                bits[usize::from(c / 64)] |= 1 << (c % 64);
            }
        }
        ExitCodes(bits)
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: i32) -> bool {
        u8::try_from(code).is_ok_and(|c| self.0[usize::from(c / 64)] & (1 << (c % 64)) != 0)
    }
}

/// What happens after a crash: the config's limits, or the `-r` script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Windows and limits (all off when the interval is zero).
    pub limits: Limits,
    /// Past a limit: exit, or cool down and retry.
    pub give_up: GiveUp,
    /// The cool-down of [`GiveUp::CoolDown`].
    pub cool_down: Duration,
    /// `-r` given: run the script on every crash instead of alarms and limits, with
    /// `-t`'s reset time.
    pub restart_script: Option<Option<Duration>>,
    /// When to restart after an exit nobody asked for.
    pub restart: Restart,
    /// Exit codes that count as success.
    pub success: ExitCodes,
    /// The signal `d` sends.
    pub stop_signal: Signal,
    /// Plain signal letters, `p` and `c` go to the whole process group.
    pub signal_group: bool,
    /// A stop signals the whole group (else the main process).
    pub stop_group: bool,
    /// The KILL of a stop that timed out goes to the whole group.
    pub kill_group: bool,
    /// Give up after this many failed starts in a row.
    pub start_retries: Option<u32>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            limits: Limits::default(),
            give_up: GiveUp::Exit,
            cool_down: Duration::from_secs(600),
            restart_script: None,
            restart: Restart::Always,
            success: ExitCodes::of(&[0]),
            stop_signal: Signal::SIGTERM,
            signal_group: false,
            stop_group: true,
            kill_group: true,
            start_retries: None,
        }
    }
}

/// A give-up, for the state file and `svc status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaveUp {
    /// Exits in the window.
    pub exits: usize,
    /// From the window's first exit to the last.
    pub span: Duration,
    /// The limit passed.
    pub because: Limit,
}

/// Exit code of a supervise that gave up on a crash loop.
pub const EXIT_GAVE_UP: u8 = 1;

/// The whole decision state of one supervise.
#[derive(Debug, Clone)]
pub struct Machine {
    phase: Phase,
    want: Want,
    paused: bool,
    alarms: bool,
    exit_when_down: bool,
    exit_code: u8,
    last_start: Option<Instant>,
    starts: u64,
    last_exit: Option<Exit>,
    /// The operator sent `t`, `k`, `i` or `q` to the running process: an exit until
    /// then was asked for. (A service that catches the signal and carries on must not
    /// have its next real crash excused.)
    expect_exit_until: Option<Instant>,
    timing: Timing,
    policy: Policy,
    tally: Tally,
    script_count: Option<(u64, Instant)>,
    gave_up: Option<GaveUp>,
    /// The current backoff; zero when the last run lasted.
    backoff: Duration,
    /// Failed starts in a row (runs shorter than `start_success`).
    failed_starts: u32,
    /// The last exit was asked for (a stop, `x`, an operator's signal).
    last_exit_asked: bool,
    /// When the running service became ready.
    ready_since: Option<Instant>,
    /// When it becomes ready by time alone ([`Readiness::After`]).
    ready_at: Option<Instant>,
    /// When a start not yet ready fails.
    ready_deadline: Option<Instant>,
    /// Supervise is stopping the service because it failed: its exit is a crash.
    failing: Option<Failure>,
    /// The last failure of that kind, for the alarm and the state file.
    last_failure: Option<Failure>,
    /// The exit being handled follows such a failure.
    failing_exit: Option<Failure>,
    /// A burst of changes is under way: its first and latest event.
    pending_change: Option<(Instant, Instant)>,
    /// The group of the last main process that exited on its own, sent the stop
    /// signal, and when it gets KILL if anything of it is left.
    leftovers: Option<(Pid, Instant)>,
    /// The service is being stopped to restart it for a change.
    restart_after_stop: bool,
    /// The running service was adopted, not started by this supervise.
    adopted: bool,
}

impl Machine {
    /// A machine with the service down (supervise's initial state; the caller feeds
    /// [`Letter::Up`] to start it).
    pub fn new(timing: Timing, policy: Policy) -> Machine {
        Machine {
            phase: Phase::Down,
            want: Want::Down,
            paused: false,
            alarms: true,
            exit_when_down: false,
            exit_code: 0,
            last_start: None,
            starts: 0,
            last_exit: None,
            expect_exit_until: None,
            timing,
            policy,
            tally: Tally::default(),
            script_count: None,
            gave_up: None,
            backoff: Duration::ZERO,
            failed_starts: 0,
            last_exit_asked: false,
            ready_since: None,
            ready_at: None,
            ready_deadline: None,
            failing: None,
            last_failure: None,
            failing_exit: None,
            pending_change: None,
            leftovers: None,
            restart_after_stop: false,
            adopted: false,
        }
    }

    /// Puts new settings in force (config reload); the current window, backoff and
    /// any deadline already set are kept.
    pub fn configure(&mut self, timing: Timing, policy: Policy) {
        self.timing = timing;
        self.policy = policy;
    }

    /// The current backoff delay, zero when none.
    pub fn backoff(&self) -> Duration {
        self.backoff
    }

    /// Where the service process is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// What the operator wants.
    pub fn want(&self) -> Want {
        self.want
    }

    /// Whether `p` paused the service.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Whether alarms are on.
    pub fn alarms(&self) -> bool {
        self.alarms
    }

    /// Whether `x` (or SIGTERM) asked supervise to exit once the service is down.
    /// Whether the last exit was asked for (a stop, `x`, an operator's signal), as
    /// supervisord tells STOPPED from EXITED.
    pub fn last_exit_asked(&self) -> bool {
        self.last_exit_asked
    }

    /// Failed starts in a row.
    pub fn failed_starts(&self) -> u32 {
        self.failed_starts
    }

    /// When the running service became ready.
    pub fn ready_since(&self) -> Option<Instant> {
        self.ready_since
    }

    /// The last failure supervise stopped the service for.
    pub fn last_failure(&self) -> Option<Failure> {
        self.last_failure
    }

    pub fn exiting(&self) -> bool {
        self.exit_when_down
    }

    /// The exit code supervise leaves with: 0, or [`EXIT_GAVE_UP`].
    pub fn exit_code(&self) -> u8 {
        self.exit_code
    }

    /// How many times the service was started.
    pub fn starts(&self) -> u64 {
        self.starts
    }

    /// Carries the start count over from the previous supervise of an adopted service.
    pub fn restore_starts(&mut self, starts: u64) {
        self.starts = starts;
    }

    /// Whether the running service was adopted rather than started here.
    pub fn adopted(&self) -> bool {
        self.adopted && self.pid().is_some()
    }

    /// How the last run ended.
    pub fn last_exit(&self) -> Option<Exit> {
        self.last_exit
    }

    /// The give-up in force, if supervise gave up on a crash loop.
    pub fn gave_up(&self) -> Option<GaveUp> {
        self.gave_up
    }

    /// Exits in the current crash window.
    pub fn window_exits(&self) -> usize {
        self.tally.exits()
    }

    /// The running service's pid.
    pub fn pid(&self) -> Option<Pid> {
        match self.phase {
            Phase::Up { pid } | Phase::Stopping { pid, .. } => Some(pid),
            Phase::Down | Phase::Waiting { .. } => None,
        }
    }

    /// The next moment at which [`Event::Timer`] must be fed, if any.
    pub fn deadline(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Waiting { at, .. } => Some(at),
            Phase::Stopping { kill_at, .. } => kill_at,
            Phase::Down | Phase::Up { .. } => None,
        };
        // Readiness deadlines belong to a running service only.
        let up = matches!(self.phase, Phase::Up { .. });
        [
            phase,
            self.change_due(),
            self.leftovers.map(|(_, at)| at),
            self.ready_at.filter(|_| up),
            self.ready_deadline.filter(|_| up),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// When the pending burst of changes counts as settled.
    fn change_due(&self) -> Option<Instant> {
        self.pending_change
            .map(|(first, last)| (last + self.timing.debounce).min(first + BURST_LIMIT))
    }

    /// Applies one event and pushes what must be done onto `out`.
    pub fn handle(&mut self, event: Event, now: Instant, out: &mut Vec<Effect>) {
        match event {
            Event::Letter(l) => self.on_letter(l, now, out),
            Event::Spawned(pid) => self.on_spawned(pid, now),
            Event::SpawnFailed => self.on_spawn_failed(now),
            Event::Exited(pid, how) => self.on_exit(pid, how, now, out),
            Event::Timer => self.on_timer(now, out),
            Event::Terminate => {
                self.on_letter(Letter::Down, now, out);
                self.on_letter(Letter::Exit, now, out);
            }
            Event::Changed => self.on_change(now),
            Event::Adopted(pid, want, paused) => self.on_adopted(pid, want, paused, now, out),
            Event::GroupGone(pgid) => {
                if self.leftovers.is_some_and(|(p, _)| p == pgid) {
                    self.leftovers = None;
                }
            }
            Event::Ready => self.on_ready(now),
            Event::ExtendReady(d) => {
                if self.ready_deadline.is_some() {
                    self.ready_deadline = Some(now + d.min(Duration::from_secs(1 << 30)));
                }
            }
            Event::Unhealthy => self.fail(Failure::Unhealthy, now, out),
            Event::MainPid(pid) => match self.phase {
                Phase::Up { .. } => self.phase = Phase::Up { pid },
                // Asked to stop before the main process was known: it is stopped now,
                // and killed if it outlasts the stop timeout.
                Phase::Stopping { kill_at, .. } => {
                    let kill_at = kill_at.or(Some(now + self.timing.stop_timeout));
                    self.phase = Phase::Stopping { pid, kill_at };
                    self.send_stop(pid, out);
                }
                _ => {}
            },
        }
        if self.exit_when_down && self.pid().is_none() && !out.contains(&Effect::Exit) {
            out.push(Effect::Exit);
        }
    }

    fn on_letter(&mut self, letter: Letter, now: Instant, out: &mut Vec<Effect>) {
        match letter {
            Letter::Up => self.set_want(Want::Up, now, out),
            Letter::Once => self.set_want(Want::Once, now, out),
            Letter::Down => self.stop(now, out),
            Letter::Pause => self.pause(out),
            Letter::Continue => self.resume(out),
            Letter::Exit => self.exit_when_down(),
            Letter::Silence => self.alarms = false,
            Letter::Alarms => self.alarms = true,
            Letter::Reload => out.push(Effect::Reload),
            Letter::Hup
            | Letter::Alarm
            | Letter::Interrupt
            | Letter::Terminate
            | Letter::Kill
            | Letter::Quit
            | Letter::User1
            | Letter::User2 => {
                if let Some(sig) = letter.plain_signal() {
                    self.signal(sig, now, out);
                }
            }
        }
    }

    /// `u` / `o`: record the wish and start the service if nothing runs or is due.
    /// A cool-down is the operator's to cut short: it starts a fresh window.
    fn set_want(&mut self, want: Want, now: Instant, out: &mut Vec<Effect>) {
        self.want = want;
        match self.phase {
            Phase::Down => {
                // After a give-up that kept it down, asking for it starts afresh.
                if self.gave_up.take().is_some() {
                    self.tally.clear();
                    self.failed_starts = 0;
                    self.backoff = Duration::ZERO;
                }
                self.schedule_start(now, out)
            }
            Phase::Waiting {
                why: Wait::CoolDown,
                ..
            } => {
                self.tally.clear();
                self.gave_up = None;
                self.backoff = Duration::ZERO;
                self.schedule_start(now, out);
            }
            Phase::Waiting {
                why: Wait::Backoff, ..
            } => {
                self.backoff = Duration::ZERO;
                self.schedule_start(now, out);
            }
            Phase::Waiting {
                why: Wait::Throttle,
                ..
            }
            | Phase::Up { .. }
            | Phase::Stopping { .. } => {}
        }
    }

    /// `d`: TERM then CONT (a stopped process cannot act on TERM), and a KILL deadline.
    /// Repeating `d` repeats the signals but keeps the first deadline.
    fn stop(&mut self, now: Instant, out: &mut Vec<Effect>) {
        self.want = Want::Down;
        self.restart_after_stop = false;
        self.pending_change = None;
        match self.phase {
            Phase::Down => {}
            Phase::Waiting { .. } => {
                // Nothing runs: the operator's stop is what ends it (supervisord's
                // STOPPED, not EXITED).
                self.phase = Phase::Down;
                self.last_exit_asked = true;
            }
            Phase::Up { pid } => {
                self.send_stop(pid, out);
                self.phase = Phase::Stopping {
                    pid,
                    kill_at: Some(now + self.timing.stop_timeout),
                };
            }
            Phase::Stopping { pid, .. } => self.send_stop(pid, out),
        }
    }

    /// The stop signal, then CONT, to the whole group: nothing the service started
    /// outlives it.
    fn send_stop(&mut self, pid: Pid, out: &mut Vec<Effect>) {
        let target = if self.policy.stop_group {
            Target::Group(pid)
        } else {
            Target::Process(pid)
        };
        out.push(Effect::Signal(target, self.policy.stop_signal));
        out.push(Effect::Signal(target, Signal::SIGCONT));
        self.paused = false;
    }

    /// Where the plain letters go.
    fn letter_target(&self, pid: Pid) -> Target {
        if self.policy.signal_group {
            Target::Group(pid)
        } else {
            Target::Process(pid)
        }
    }

    fn pause(&mut self, out: &mut Vec<Effect>) {
        if let Some(pid) = self.pid() {
            out.push(Effect::Signal(self.letter_target(pid), Signal::SIGSTOP));
            self.paused = true;
        }
    }

    fn resume(&mut self, out: &mut Vec<Effect>) {
        if let Some(pid) = self.pid() {
            out.push(Effect::Signal(self.letter_target(pid), Signal::SIGCONT));
            self.paused = false;
        }
    }

    /// A signal letter. After `t`, `k`, `i` or `q` the process is expected to end, and
    /// its end is no crash; HUP, ALRM and USR1/2 usually ask a service to do
    /// something, so an exit after them still counts.
    fn signal(&mut self, sig: Signal, now: Instant, out: &mut Vec<Effect>) {
        if let Some(pid) = self.pid() {
            out.push(Effect::Signal(self.letter_target(pid), sig));
            if matches!(
                sig,
                Signal::SIGTERM | Signal::SIGKILL | Signal::SIGINT | Signal::SIGQUIT
            ) {
                self.expect_exit_until = Some(now + self.timing.stop_timeout);
            }
        }
    }

    /// `x`: a pending start is cancelled; a running service keeps running and is not
    /// restarted when it exits.
    fn exit_when_down(&mut self) {
        self.exit_when_down = true;
        match self.phase {
            Phase::Waiting { .. } => self.phase = Phase::Down,
            Phase::Down | Phase::Up { .. } | Phase::Stopping { .. } => {}
        }
    }

    /// Starts now if the throttle allows, else sets the deadline to when it does.
    fn schedule_start(&mut self, now: Instant, out: &mut Vec<Effect>) {
        self.schedule_start_after(Duration::ZERO, now, out);
    }

    /// Starts once both the throttle and `delay` from now allow.
    fn schedule_start_after(&mut self, delay: Duration, now: Instant, out: &mut Vec<Effect>) {
        let throttled = self.last_start.map_or(now, |t| t + self.timing.throttle);
        let backed_off = now + delay;
        let (at, why) = if backed_off > throttled && !delay.is_zero() {
            (backed_off, Wait::Backoff)
        } else {
            (throttled.max(now), Wait::Throttle)
        };
        self.phase = Phase::Waiting { at, why };
        if at <= now {
            out.push(Effect::Spawn);
        }
    }

    /// After an exit nobody asked for: a run shorter than `start_success` is a failed
    /// start, and grows the backoff (1 s first, then doubled or one more second,
    /// `backoff_max` at most); a longer one resets both.
    fn update_backoff(&mut self, now: Instant) {
        let ran = self
            .last_start
            .map_or(Duration::MAX, |t| now.saturating_duration_since(t));
        if ran >= self.timing.start_success {
            self.failed_starts = 0;
            self.backoff = Duration::ZERO;
            return;
        }
        self.failed_start();
    }

    /// One more failed start: the backoff grows.
    fn failed_start(&mut self) {
        self.failed_starts = self.failed_starts.saturating_add(1);
        let next = match (self.timing.backoff, self.backoff.is_zero()) {
            (_, true) => Duration::from_secs(1),
            (Backoff::Double, false) => self.backoff.saturating_mul(2),
            (Backoff::Linear, false) => self.backoff.saturating_add(Duration::from_secs(1)),
        };
        self.backoff = next.min(self.timing.backoff_max);
    }

    fn on_spawned(&mut self, pid: Pid, now: Instant) {
        self.adopted = false;
        self.phase = Phase::Up { pid };
        self.last_start = Some(now);
        self.starts = self.starts.saturating_add(1);
        self.paused = false;
        self.expect_exit_until = None;
        self.ready_since = None;
        self.ready_at = None;
        self.ready_deadline = None;
        match self.timing.readiness {
            Readiness::Now => self.ready_since = Some(now),
            Readiness::After(d) => self.ready_at = Some(now + d),
            Readiness::Told => {
                let t = self.timing.ready_timeout;
                self.ready_deadline = (!t.is_zero()).then(|| now + t);
            }
        }
    }

    /// The service said it is ready.
    fn on_ready(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Up { .. }) && self.ready_since.is_none() {
            self.ready_since = Some(now);
            self.ready_deadline = None;
            self.ready_at = None;
        }
    }

    /// The running service failed (not ready in time, unhealthy): stopped gracefully,
    /// and its exit taken as a crash.
    fn fail(&mut self, why: Failure, now: Instant, out: &mut Vec<Effect>) {
        let Phase::Up { pid } = self.phase else {
            return;
        };
        self.failing = Some(why);
        self.last_failure = Some(why);
        self.ready_deadline = None;
        out.push(Effect::Failed(why));
        if self.alarms && !self.policy.limits.interval.is_zero() {
            let a = self.alarm(
                alarm::Kind::Failed(why),
                self.last_exit.unwrap_or(Exit::Unknown),
            );
            out.push(Effect::Alarm(a));
        }
        self.send_stop(pid, out);
        self.phase = Phase::Stopping {
            pid,
            kill_at: Some(now + self.timing.stop_timeout),
        };
    }

    /// Fork failed: try again once the throttle allows, never in a hot loop.
    fn on_spawn_failed(&mut self, now: Instant) {
        self.last_start = Some(now);
        self.phase = Phase::Waiting {
            at: now + self.timing.throttle,
            why: Wait::Throttle,
        };
    }

    fn on_exit(&mut self, pid: Pid, how: Exit, now: Instant, out: &mut Vec<Effect>) {
        if self.pid() != Some(pid) {
            return;
        }
        let for_change = std::mem::take(&mut self.restart_after_stop);
        let failed = self.failing.take();
        self.failing_exit = failed;
        let stopping = matches!(self.phase, Phase::Stopping { .. }) && failed.is_none();
        let asked = stopping || self.expect_exit_until.is_some_and(|t| now <= t);
        self.ready_since = None;
        self.ready_deadline = None;
        self.ready_at = None;
        self.last_exit = Some(how);
        self.last_exit_asked = asked;
        self.paused = false;
        self.phase = Phase::Down;
        self.clean_up_group(pid, stopping, now, out);
        if let Some(time_limit) = self.policy.restart_script {
            // The legacy hook: every exit, counted, whatever caused it.
            let n = policy::restart_count(self.script_count, now, time_limit);
            self.script_count = Some((n, now));
            out.push(Effect::RestartScript(n));
        }
        if self.exit_when_down {
            return;
        }
        match self.want {
            Want::Up | Want::Once if for_change => self.schedule_start(now, out),
            Want::Up if asked => self.schedule_start(now, out),
            Want::Up if failed == Some(Failure::NotReady) => {
                // Never ready: a failed start, however long it ran.
                self.failed_start();
                self.on_crash(how, now, out);
            }
            Want::Up => self.on_unasked_exit(how, now, out),
            Want::Down | Want::Once => {}
        }
    }

    /// Takes over a live service: up as it is, wanted as it was (a stop that the
    /// previous supervise did not finish is finished now).
    fn on_adopted(
        &mut self,
        pid: Pid,
        want: Want,
        paused: bool,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        self.phase = Phase::Up { pid };
        self.adopted = true;
        // Whatever it was waiting for happened under the previous supervise.
        self.ready_since = Some(now);
        self.paused = paused;
        self.want = want;
        if want == Want::Down {
            self.stop(now, out);
        }
    }

    /// A watched path changed: note it; the restart waits for the burst to settle.
    fn on_change(&mut self, now: Instant) {
        if self.want == Want::Down || self.exit_when_down {
            return;
        }
        let first = self.pending_change.map_or(now, |(first, _)| first);
        self.pending_change = Some((first, now));
    }

    /// The burst settled: restart gracefully (stop signal, timeout, KILL, start), or
    /// start at once what is only waiting for a backoff or cool-down.
    fn restart_for_change(&mut self, now: Instant, out: &mut Vec<Effect>) {
        match self.phase {
            Phase::Up { pid } => {
                out.push(Effect::ChangeRestart);
                self.send_stop(pid, out);
                self.restart_after_stop = true;
                self.phase = Phase::Stopping {
                    pid,
                    kill_at: Some(now + self.timing.stop_timeout),
                };
            }
            Phase::Stopping { .. } => self.restart_after_stop = true,
            Phase::Waiting {
                why: Wait::Backoff | Wait::CoolDown,
                ..
            } => {
                out.push(Effect::ChangeRestart);
                self.tally.clear();
                self.gave_up = None;
                self.backoff = Duration::ZERO;
                self.schedule_start(now, out);
            }
            Phase::Waiting {
                why: Wait::Throttle,
                ..
            }
            | Phase::Down => {}
        }
    }

    /// Nothing the service started outlives it. After a stop, what ignored the stop
    /// signal had its time and gets KILL now; after any other exit (a crash, `k`), the
    /// rest of the group gets the stop signal, and KILL after the stop timeout, while
    /// the new instance starts: the old children never run beside the new ones for
    /// longer than that.
    fn clean_up_group(&mut self, pid: Pid, stopped: bool, now: Instant, out: &mut Vec<Effect>) {
        if stopped {
            out.push(Effect::Signal(Target::Leftovers(pid), Signal::SIGKILL));
            return;
        }
        if let Some((older, _)) = self.leftovers.take() {
            out.push(Effect::Signal(Target::Leftovers(older), Signal::SIGKILL));
        }
        out.push(Effect::Signal(
            Target::Leftovers(pid),
            self.policy.stop_signal,
        ));
        out.push(Effect::Signal(Target::Leftovers(pid), Signal::SIGCONT));
        self.leftovers = Some((pid, now + self.timing.stop_timeout));
    }

    /// An exit nobody asked for, of a service wanted up: the restart policy decides
    /// whether it restarts, the crash policy how.
    fn on_unasked_exit(&mut self, how: Exit, now: Instant, out: &mut Vec<Effect>) {
        let success = how.code().is_some_and(|c| self.policy.success.contains(c));
        let restart = match self.policy.restart {
            Restart::Always => true,
            Restart::OnFailure => !success,
            Restart::Never => false,
        };
        if !restart {
            // It is done: down, and wanted down until someone says `u`.
            self.want = Want::Down;
            return;
        }
        self.update_backoff(now);
        self.on_crash(how, now, out);
    }

    /// An exit nobody asked for, of a service wanted up.
    fn on_crash(&mut self, how: Exit, now: Instant, out: &mut Vec<Effect>) {
        if self.policy.restart_script.is_some() || !self.alarms {
            // With -r the script replaces alarms and limits, as in the legacy tool;
            // and as there, exits while alarms are silenced (`s`, a maintenance
            // window) count toward nothing: no alarm, no limit, no give-up.
            return self.schedule_start_after(self.backoff, now, out);
        }
        if let Some(retries) = self.policy.start_retries {
            if self.failed_starts > retries {
                let gave = GaveUp {
                    exits: self.failed_starts as usize + 1,
                    span: self.tally.span(),
                    because: Limit::Retries,
                };
                return self.give_up(gave, how, now, out);
            }
        }
        let fact = Fact {
            at: now,
            core: how.core_dumped(),
        };
        match policy::judge(&self.policy.limits, &mut self.tally, fact) {
            Verdict::Restart { alarm: opened } => {
                // A failure supervise stopped the service for was alarmed already.
                if opened && self.alarms && self.failing_exit.is_none() {
                    out.push(Effect::Alarm(self.alarm(alarm::Kind::Exited, how)));
                }
                self.schedule_start_after(self.backoff, now, out);
            }
            Verdict::GiveUp { exits, because, .. } => {
                let gave = GaveUp {
                    exits,
                    span: self.tally.span(),
                    because,
                };
                self.give_up(gave, how, now, out);
            }
        }
    }

    /// Past a limit: the last alarm, then as `give_up` says: exit once down, keep
    /// down for the cool-down, or keep down until asked.
    fn give_up(&mut self, gave: GaveUp, how: Exit, now: Instant, out: &mut Vec<Effect>) {
        self.gave_up = Some(gave);
        if self.alarms {
            let kind = alarm::Kind::GaveUp {
                because: gave.because,
                then: self.policy.give_up,
                cool_down: self.policy.cool_down,
            };
            out.push(Effect::Alarm(self.alarm(kind, how)));
        }
        match self.policy.give_up {
            GiveUp::Exit => {
                self.exit_when_down = true;
                self.exit_code = EXIT_GAVE_UP;
            }
            GiveUp::CoolDown => {
                self.phase = Phase::Waiting {
                    at: now + self.policy.cool_down,
                    why: Wait::CoolDown,
                };
            }
            GiveUp::Down => self.want = Want::Down,
        }
    }

    /// An alarm about `how`, with the current window's counts.
    fn alarm(&self, kind: alarm::Kind, how: Exit) -> Alarm {
        Alarm {
            kind,
            exit: how,
            exits: self.tally.exits(),
            cores: self.tally.cores(),
            span: self.tally.span(),
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Effect>) {
        let up = matches!(self.phase, Phase::Up { .. });
        if up && self.ready_at.is_some_and(|t| t <= now) {
            self.on_ready(now);
        }
        if up && self.ready_deadline.is_some_and(|t| t <= now) {
            self.fail(Failure::NotReady, now, out);
        }
        if let Some((pgid, at)) = self.leftovers {
            if at <= now {
                self.leftovers = None;
                out.push(Effect::Signal(Target::Leftovers(pgid), Signal::SIGKILL));
            }
        }
        if self.change_due().is_some_and(|due| due <= now) {
            // One thing per timer: a deadline of the phase that is due too is still in
            // the past at the next look, which comes at once.
            self.pending_change = None;
            return self.restart_for_change(now, out);
        }
        match self.phase {
            Phase::Waiting { at, why } if at <= now => {
                if why == Wait::CoolDown {
                    // The cool-down is over: a fresh window, as if newly started.
                    self.tally.clear();
                    self.gave_up = None;
                }
                out.push(Effect::Spawn);
            }
            Phase::Stopping {
                pid,
                kill_at: Some(t),
            } if t <= now => {
                let target = if self.policy.kill_group {
                    Target::Group(pid)
                } else {
                    Target::Process(pid)
                };
                out.push(Effect::Signal(target, Signal::SIGKILL));
                self.phase = Phase::Stopping { pid, kill_at: None };
            }
            Phase::Down | Phase::Waiting { .. } | Phase::Up { .. } | Phase::Stopping { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Limits;

    const SEC: Duration = Duration::from_secs(1);

    fn pid(n: i32) -> Pid {
        Pid::from_raw(n)
    }

    /// The legacy timing: no backoff, only the one-second throttle.
    fn legacy() -> Timing {
        Timing {
            start_success: Duration::ZERO,
            ..Timing::default()
        }
    }

    /// A machine with one service started at `t0` as pid 10.
    fn started(timing: Timing, policy: Policy, t0: Instant) -> Machine {
        let mut m = Machine::new(timing, policy);
        let mut out = Vec::new();
        m.handle(Event::Letter(Letter::Up), t0, &mut out);
        assert_eq!(out, vec![Effect::Spawn]);
        m.handle(Event::Spawned(pid(10)), t0, &mut Vec::new());
        m
    }

    /// [`started`] under the legacy timing and the default policy.
    fn running(t0: Instant) -> Machine {
        started(legacy(), Policy::default(), t0)
    }

    /// How a process killed with SIGKILL ends.
    const KILLED: Exit = Exit::Signal {
        signal: 9,
        core: false,
    };

    /// Feeds an event; returns the effects, leaving out the clean-up of an exited
    /// group's leftovers (tested on its own, with [`step_all`]).
    fn step(m: &mut Machine, e: Event, now: Instant) -> Vec<Effect> {
        step_all(m, e, now)
            .into_iter()
            .filter(|e| !matches!(e, Effect::Signal(Target::Leftovers(_), _)))
            .collect()
    }

    /// Feeds an event; returns every effect.
    fn step_all(m: &mut Machine, e: Event, now: Instant) -> Vec<Effect> {
        let mut out = Vec::new();
        m.handle(e, now, &mut out);
        out
    }

    #[test]
    fn first_up_starts_at_once() {
        let t0 = Instant::now();
        let m = running(t0);
        assert_eq!(m.phase(), Phase::Up { pid: pid(10) });
        assert_eq!(m.want(), Want::Up);
        assert_eq!(m.starts(), 1);
        assert_eq!(m.deadline(), None);
    }

    #[test]
    fn restart_is_immediate_after_a_second_and_throttled_before() {
        let t0 = Instant::now();
        // (time of death after start, expected effects, expected phase)
        let rows = [
            (
                2 * SEC,
                vec![Effect::Spawn],
                Phase::Waiting {
                    at: t0 + 2 * SEC,
                    why: Wait::Throttle,
                },
            ),
            (
                SEC,
                vec![Effect::Spawn],
                Phase::Waiting {
                    at: t0 + SEC,
                    why: Wait::Throttle,
                },
            ),
            (
                SEC / 4,
                vec![],
                Phase::Waiting {
                    at: t0 + SEC,
                    why: Wait::Throttle,
                },
            ),
        ];
        for (after, effects, phase) in rows {
            let mut m = running(t0);
            let out = step(&mut m, Event::Exited(pid(10), Exit::Code(1)), t0 + after);
            assert_eq!(out, effects, "death after {after:?}");
            assert_eq!(m.phase(), phase, "death after {after:?}");
            assert_eq!(m.last_exit(), Some(Exit::Code(1)));
        }
    }

    #[test]
    fn throttled_start_fires_on_the_deadline_not_before() {
        let t0 = Instant::now();
        let mut m = running(t0);
        step(&mut m, Event::Exited(pid(10), Exit::Code(0)), t0 + SEC / 10);
        assert_eq!(m.deadline(), Some(t0 + SEC));
        assert_eq!(step(&mut m, Event::Timer, t0 + SEC / 2), vec![]);
        assert_eq!(step(&mut m, Event::Timer, t0 + SEC), vec![Effect::Spawn]);
        step(&mut m, Event::Spawned(pid(11)), t0 + SEC);
        assert_eq!(m.phase(), Phase::Up { pid: pid(11) });
        assert_eq!(m.starts(), 2);
    }

    #[test]
    fn letters_while_up() {
        let t0 = Instant::now();
        let p = pid(10);
        use Letter as L;
        use Signal as S;
        // (letter, effects, phase after, want after)
        let rows: Vec<(Letter, Vec<Effect>, Phase, Want)> = vec![
            (L::Up, vec![], Phase::Up { pid: p }, Want::Up),
            (L::Once, vec![], Phase::Up { pid: p }, Want::Once),
            (
                L::Down,
                vec![
                    Effect::Signal(Target::Group(p), S::SIGTERM),
                    Effect::Signal(Target::Group(p), S::SIGCONT),
                ],
                Phase::Stopping {
                    pid: p,
                    kill_at: Some(t0 + 10 * SEC),
                },
                Want::Down,
            ),
            (
                L::Pause,
                vec![Effect::Signal(Target::Process(p), S::SIGSTOP)],
                Phase::Up { pid: p },
                Want::Up,
            ),
            (
                L::Continue,
                vec![Effect::Signal(Target::Process(p), S::SIGCONT)],
                Phase::Up { pid: p },
                Want::Up,
            ),
            (
                L::Hup,
                vec![Effect::Signal(Target::Process(p), S::SIGHUP)],
                Phase::Up { pid: p },
                Want::Up,
            ),
            (
                L::Alarm,
                vec![Effect::Signal(Target::Process(p), S::SIGALRM)],
                Phase::Up { pid: p },
                Want::Up,
            ),
            (
                L::Interrupt,
                vec![Effect::Signal(Target::Process(p), S::SIGINT)],
                Phase::Up { pid: p },
                Want::Up,
            ),
            (
                L::Terminate,
                vec![Effect::Signal(Target::Process(p), S::SIGTERM)],
                Phase::Up { pid: p },
                Want::Up,
            ),
            (
                L::Kill,
                vec![Effect::Signal(Target::Process(p), S::SIGKILL)],
                Phase::Up { pid: p },
                Want::Up,
            ),
            (
                L::Quit,
                vec![Effect::Signal(Target::Process(p), S::SIGQUIT)],
                Phase::Up { pid: p },
                Want::Up,
            ),
            (
                L::User1,
                vec![Effect::Signal(Target::Process(p), S::SIGUSR1)],
                Phase::Up { pid: p },
                Want::Up,
            ),
            (
                L::User2,
                vec![Effect::Signal(Target::Process(p), S::SIGUSR2)],
                Phase::Up { pid: p },
                Want::Up,
            ),
            (L::Exit, vec![], Phase::Up { pid: p }, Want::Up),
            (L::Silence, vec![], Phase::Up { pid: p }, Want::Up),
            (L::Alarms, vec![], Phase::Up { pid: p }, Want::Up),
            (
                L::Reload,
                vec![Effect::Reload],
                Phase::Up { pid: p },
                Want::Up,
            ),
        ];
        assert_eq!(rows.len(), Letter::ALL.len(), "one row per letter");
        for (letter, effects, phase, want) in rows {
            let mut m = running(t0);
            assert_eq!(
                step(&mut m, Event::Letter(letter), t0),
                effects,
                "{letter:?}"
            );
            assert_eq!(m.phase(), phase, "{letter:?}");
            assert_eq!(m.want(), want, "{letter:?}");
        }
    }

    #[test]
    fn letters_while_down() {
        let t0 = Instant::now();
        use Letter as L;
        // From down (after `d` and the exit): only u and o start; x exits; signals
        // have nobody to go to.
        for letter in Letter::ALL {
            let mut m = running(t0);
            step(&mut m, Event::Letter(L::Down), t0);
            step(
                &mut m,
                Event::Exited(
                    pid(10),
                    Exit::Signal {
                        signal: 15,
                        core: false,
                    },
                ),
                t0,
            );
            assert_eq!(m.phase(), Phase::Down);
            let later = t0 + 5 * SEC;
            let out = step(&mut m, Event::Letter(letter), later);
            let expected = match letter {
                L::Up | L::Once => vec![Effect::Spawn],
                L::Exit => vec![Effect::Exit],
                L::Reload => vec![Effect::Reload],
                _ => vec![],
            };
            assert_eq!(out, expected, "{letter:?}");
        }
    }

    #[test]
    fn pause_and_continue_track_the_flag() {
        let t0 = Instant::now();
        let mut m = running(t0);
        step(&mut m, Event::Letter(Letter::Pause), t0);
        assert!(m.paused());
        step(&mut m, Event::Letter(Letter::Continue), t0);
        assert!(!m.paused());
        step(&mut m, Event::Letter(Letter::Pause), t0);
        step(&mut m, Event::Letter(Letter::Down), t0);
        assert!(!m.paused(), "d sends CONT");
        let mut m = running(t0);
        step(&mut m, Event::Letter(Letter::Pause), t0);
        step(&mut m, Event::Exited(pid(10), Exit::Code(0)), t0 + 2 * SEC);
        assert!(!m.paused(), "a dead process is not paused");
    }

    #[test]
    fn down_does_not_restart_and_kills_after_the_timeout() {
        let t0 = Instant::now();
        let mut m = running(t0);
        step(&mut m, Event::Letter(Letter::Down), t0);
        assert_eq!(m.deadline(), Some(t0 + 10 * SEC));
        assert_eq!(step(&mut m, Event::Timer, t0 + 9 * SEC), vec![]);
        assert_eq!(
            step(&mut m, Event::Timer, t0 + 10 * SEC),
            vec![Effect::Signal(Target::Group(pid(10)), Signal::SIGKILL)]
        );
        assert_eq!(m.deadline(), None, "KILL is sent once");
        let out = step(&mut m, Event::Exited(pid(10), KILLED), t0 + 11 * SEC);
        assert_eq!(out, vec![]);
        assert_eq!(m.phase(), Phase::Down);
    }

    #[test]
    fn repeated_down_resends_but_keeps_the_deadline() {
        let t0 = Instant::now();
        let mut m = running(t0);
        step(&mut m, Event::Letter(Letter::Down), t0);
        let out = step(&mut m, Event::Letter(Letter::Down), t0 + 3 * SEC);
        assert_eq!(out.len(), 2);
        assert_eq!(m.deadline(), Some(t0 + 10 * SEC));
    }

    #[test]
    fn up_while_stopping_restarts_after_the_exit() {
        let t0 = Instant::now();
        let mut m = running(t0);
        step(&mut m, Event::Letter(Letter::Down), t0 + 2 * SEC);
        assert_eq!(
            step(&mut m, Event::Letter(Letter::Up), t0 + 2 * SEC),
            vec![]
        );
        let out = step(&mut m, Event::Exited(pid(10), Exit::Code(0)), t0 + 3 * SEC);
        assert_eq!(out, vec![Effect::Spawn]);
    }

    #[test]
    fn once_is_not_restarted() {
        let t0 = Instant::now();
        let mut m = Machine::new(Timing::default(), Policy::default());
        assert_eq!(
            step(&mut m, Event::Letter(Letter::Once), t0),
            vec![Effect::Spawn]
        );
        step(&mut m, Event::Spawned(pid(7)), t0);
        assert_eq!(
            step(&mut m, Event::Exited(pid(7), Exit::Code(0)), t0 + 5 * SEC),
            vec![]
        );
        assert_eq!(m.phase(), Phase::Down);
        assert_eq!(m.want(), Want::Once);
    }

    #[test]
    fn exit_waits_for_the_service_and_suppresses_the_restart() {
        let t0 = Instant::now();
        let mut m = running(t0);
        assert_eq!(step(&mut m, Event::Letter(Letter::Exit), t0), vec![]);
        let out = step(&mut m, Event::Exited(pid(10), Exit::Code(3)), t0 + 5 * SEC);
        assert_eq!(out, vec![Effect::Exit]);
    }

    #[test]
    fn exit_while_waiting_cancels_the_start() {
        let t0 = Instant::now();
        let mut m = running(t0);
        step(&mut m, Event::Exited(pid(10), Exit::Code(1)), t0);
        assert!(matches!(m.phase(), Phase::Waiting { .. }));
        assert_eq!(
            step(&mut m, Event::Letter(Letter::Exit), t0),
            vec![Effect::Exit]
        );
        assert_eq!(m.phase(), Phase::Down);
    }

    #[test]
    fn terminate_is_down_then_exit() {
        let t0 = Instant::now();
        let mut m = running(t0);
        let out = step(&mut m, Event::Terminate, t0);
        assert_eq!(
            out,
            vec![
                Effect::Signal(Target::Group(pid(10)), Signal::SIGTERM),
                Effect::Signal(Target::Group(pid(10)), Signal::SIGCONT)
            ]
        );
        let out = step(
            &mut m,
            Event::Exited(
                pid(10),
                Exit::Signal {
                    signal: 15,
                    core: false,
                },
            ),
            t0,
        );
        assert_eq!(out, vec![Effect::Exit]);
    }

    #[test]
    fn spawn_failure_retries_on_the_throttle() {
        let t0 = Instant::now();
        let mut m = Machine::new(Timing::default(), Policy::default());
        step(&mut m, Event::Letter(Letter::Up), t0);
        step(&mut m, Event::SpawnFailed, t0);
        assert_eq!(
            m.phase(),
            Phase::Waiting {
                at: t0 + SEC,
                why: Wait::Throttle
            }
        );
        assert_eq!(step(&mut m, Event::Timer, t0 + SEC / 2), vec![]);
        assert_eq!(step(&mut m, Event::Timer, t0 + SEC), vec![Effect::Spawn]);
    }

    #[test]
    fn strangers_are_ignored() {
        let t0 = Instant::now();
        let mut m = running(t0);
        assert_eq!(
            step(&mut m, Event::Exited(pid(99), Exit::Code(0)), t0),
            vec![]
        );
        assert_eq!(m.phase(), Phase::Up { pid: pid(10) });
    }

    #[test]
    fn silence_and_alarms_toggle() {
        let t0 = Instant::now();
        let mut m = running(t0);
        assert!(m.alarms());
        step(&mut m, Event::Letter(Letter::Silence), t0);
        assert!(!m.alarms());
        step(&mut m, Event::Letter(Letter::Alarms), t0);
        assert!(m.alarms());
    }

    fn with_policy(policy: Policy, t0: Instant) -> Machine {
        started(Timing::default(), policy, t0)
    }

    fn limits(tries: u32) -> Policy {
        Policy {
            limits: Limits {
                interval: Duration::from_secs(60),
                max_tries: tries,
                max_cores: 0,
            },
            ..Policy::default()
        }
    }

    /// Crashes the running service at `at` and, if a start follows, starts pid `next`.
    fn crash(m: &mut Machine, at: Instant, how: Exit, next: i32) -> Vec<Effect> {
        let p = m.pid().expect("running");
        let mut out = step(m, Event::Exited(p, how), at);
        if let Phase::Waiting {
            at: due,
            why: Wait::Throttle,
        } = m.phase()
        {
            out.extend(step(m, Event::Timer, due));
            step(m, Event::Spawned(pid(next)), due);
        }
        out
    }

    fn alarms(out: &[Effect]) -> Vec<alarm::Kind> {
        out.iter()
            .filter_map(|e| match e {
                Effect::Alarm(a) => Some(a.kind),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_crash_loop_alarms_once_then_gives_up_and_exits() {
        let t0 = Instant::now();
        let mut m = with_policy(limits(3), t0);
        let first = crash(&mut m, t0 + 2 * SEC, Exit::Code(1), 11);
        assert_eq!(alarms(&first), vec![alarm::Kind::Exited]);
        assert!(first.contains(&Effect::Spawn));
        for (i, t) in [4u32, 6].into_iter().enumerate() {
            let out = crash(&mut m, t0 + t * SEC, Exit::Code(1), 12 + i as i32);
            assert!(
                alarms(&out).is_empty(),
                "later exits in the window are only logged"
            );
            assert!(out.contains(&Effect::Spawn));
        }
        let out = crash(&mut m, t0 + 8 * SEC, Exit::Code(1), 99);
        assert_eq!(
            alarms(&out),
            vec![alarm::Kind::GaveUp {
                because: Limit::Tries,
                then: GiveUp::Exit,
                cool_down: Duration::from_secs(600)
            }]
        );
        assert!(!out.contains(&Effect::Spawn));
        assert!(out.contains(&Effect::Exit));
        assert_eq!(m.exit_code(), EXIT_GAVE_UP);
        let g = m.gave_up().unwrap();
        assert_eq!((g.exits, g.span), (4, 6 * SEC));
        assert_eq!(m.phase(), Phase::Down);
    }

    #[test]
    fn cool_down_keeps_supervise_and_retries_with_a_fresh_window() {
        let t0 = Instant::now();
        let policy = Policy {
            give_up: GiveUp::CoolDown,
            cool_down: Duration::from_secs(30),
            ..limits(1)
        };
        let mut m = with_policy(policy, t0);
        crash(&mut m, t0 + 2 * SEC, Exit::Code(1), 11);
        let out = crash(&mut m, t0 + 4 * SEC, Exit::Code(1), 0);
        assert!(!out.contains(&Effect::Exit));
        assert_eq!(
            m.phase(),
            Phase::Waiting {
                at: t0 + 34 * SEC,
                why: Wait::CoolDown
            }
        );
        assert_eq!(m.want(), Want::Up);
        assert!(m.gave_up().is_some());
        assert_eq!(step(&mut m, Event::Timer, t0 + 20 * SEC), vec![]);
        assert_eq!(
            step(&mut m, Event::Timer, t0 + 34 * SEC),
            vec![Effect::Spawn]
        );
        step(&mut m, Event::Spawned(pid(12)), t0 + 34 * SEC);
        assert_eq!(m.gave_up(), None);
        assert_eq!(m.window_exits(), 0);
        let out = crash(&mut m, t0 + 36 * SEC, Exit::Code(1), 13);
        assert_eq!(alarms(&out), vec![alarm::Kind::Exited], "a fresh window");
    }

    #[test]
    fn up_cuts_a_cool_down_short() {
        let t0 = Instant::now();
        let policy = Policy {
            give_up: GiveUp::CoolDown,
            ..limits(1)
        };
        let mut m = with_policy(policy, t0);
        crash(&mut m, t0 + 2 * SEC, Exit::Code(1), 11);
        crash(&mut m, t0 + 4 * SEC, Exit::Code(1), 0);
        let out = step(&mut m, Event::Letter(Letter::Up), t0 + 10 * SEC);
        assert_eq!(out, vec![Effect::Spawn]);
        assert_eq!(m.gave_up(), None);
    }

    #[test]
    fn core_dumps_have_their_own_limit() {
        let t0 = Instant::now();
        let policy = Policy {
            limits: Limits {
                interval: Duration::from_secs(60),
                max_tries: 0,
                max_cores: 1,
            },
            ..Policy::default()
        };
        let mut m = with_policy(policy, t0);
        let segv = Exit::Signal {
            signal: 11,
            core: true,
        };
        crash(&mut m, t0 + 2 * SEC, Exit::Code(1), 11);
        crash(&mut m, t0 + 4 * SEC, segv, 12);
        let out = crash(&mut m, t0 + 6 * SEC, segv, 0);
        assert!(out.contains(&Effect::Exit));
        assert_eq!(m.gave_up().unwrap().because, Limit::Cores);
    }

    #[test]
    fn exits_the_operator_asked_for_are_no_crashes() {
        let t0 = Instant::now();
        let mut m = with_policy(limits(1), t0);
        for (i, letter) in [
            Letter::Kill,
            Letter::Terminate,
            Letter::Interrupt,
            Letter::Quit,
        ]
        .into_iter()
        .enumerate()
        {
            let at = t0 + (2 + 2 * i as u32) * SEC;
            step(&mut m, Event::Letter(letter), at);
            let out = crash(&mut m, at, KILLED, 20 + i as i32);
            assert!(alarms(&out).is_empty(), "{letter:?}");
            assert!(out.contains(&Effect::Spawn), "{letter:?}");
        }
        assert_eq!(m.window_exits(), 0);
        // HUP asks the service to do something; dying of it is a crash.
        step(&mut m, Event::Letter(Letter::Hup), t0 + 20 * SEC);
        let out = crash(
            &mut m,
            t0 + 20 * SEC,
            Exit::Signal {
                signal: 1,
                core: false,
            },
            30,
        );
        assert_eq!(alarms(&out), vec![alarm::Kind::Exited]);
        // A stop is no crash either.
        step(&mut m, Event::Letter(Letter::Down), t0 + 30 * SEC);
        let out = step(&mut m, Event::Exited(pid(30), Exit::Code(0)), t0 + 30 * SEC);
        assert!(alarms(&out).is_empty());
    }

    /// supervisord's rules: a start is failed if it ends before `start_success`; the
    /// waits grow 1, 2, 3 s; past `start_retries` failed starts in a row it gives up
    /// and keeps the service down until `u`.
    #[test]
    fn start_retries_with_linear_backoff_then_down_until_asked() {
        let t0 = Instant::now();
        let timing = Timing {
            start_success: SEC,
            backoff: Backoff::Linear,
            ..Timing::default()
        };
        let policy = Policy {
            start_retries: Some(3),
            give_up: GiveUp::Down,
            restart: Restart::OnFailure,
            ..Policy::default()
        };
        let mut m = started(timing, policy, t0);
        let mut at = t0 + SEC / 10;
        let mut waits = Vec::new();
        for n in 0..4 {
            let running = m.pid().unwrap();
            let out = step(&mut m, Event::Exited(running, Exit::Code(1)), at);
            match m.phase() {
                Phase::Waiting {
                    at: due,
                    why: Wait::Backoff,
                } => {
                    waits.push((due - at).as_secs());
                    step(&mut m, Event::Timer, due);
                    step(&mut m, Event::Spawned(pid(20 + n)), due);
                    at = due + SEC / 10;
                }
                other => {
                    assert_eq!(n, 3, "gave up early: {other:?}");
                    assert_eq!(other, Phase::Down);
                    assert_eq!(m.want(), Want::Down);
                    assert!(!out.contains(&Effect::Exit));
                    let g = m.gave_up().expect("gave up");
                    assert_eq!(g.because, Limit::Retries);
                }
            }
        }
        assert_eq!(waits, vec![1, 2, 3]);
        // `u` starts it afresh.
        let out = step(&mut m, Event::Letter(Letter::Up), at + 10 * SEC);
        assert!(out.contains(&Effect::Spawn));
        assert!(m.gave_up().is_none());
        // A run that lasts resets the count.
        step(&mut m, Event::Spawned(pid(40)), at + 10 * SEC);
        let out = step(&mut m, Event::Exited(pid(40), Exit::Code(1)), at + 20 * SEC);
        assert_eq!(m.failed_starts(), 0, "{out:?}");
    }

    #[test]
    fn readiness_when_told_after_a_time_or_never() {
        let t0 = Instant::now();
        let told = Timing {
            readiness: Readiness::Told,
            ready_timeout: 5 * SEC,
            ..legacy()
        };
        let mut m = started(told, Policy::default(), t0);
        assert_eq!(m.ready_since(), None);
        assert_eq!(m.deadline(), Some(t0 + 5 * SEC));
        step(&mut m, Event::Ready, t0 + 2 * SEC);
        assert_eq!(m.ready_since(), Some(t0 + 2 * SEC));
        assert_eq!(m.deadline(), None, "no timeout once ready");
        // Never ready: stopped at the timeout, its exit a failed start.
        let mut m = started(told, limits(10), t0);
        let out = step(&mut m, Event::Timer, t0 + 5 * SEC);
        assert!(out.contains(&Effect::Signal(Target::Group(pid(10)), Signal::SIGTERM)));
        assert!(alarms(&out).contains(&alarm::Kind::Failed(Failure::NotReady)));
        let out = step(
            &mut m,
            Event::Exited(
                pid(10),
                Exit::Signal {
                    signal: 15,
                    core: false,
                },
            ),
            t0 + 5 * SEC,
        );
        assert!(alarms(&out).is_empty(), "alarmed once: {out:?}");
        assert_eq!(m.failed_starts(), 1);
        assert!(
            matches!(m.phase(), Phase::Waiting { .. } | Phase::Up { .. }),
            "restarted"
        );
        // By time alone.
        let after = Timing {
            readiness: Readiness::After(SEC),
            ..legacy()
        };
        let mut m = started(after, Policy::default(), t0);
        assert_eq!(m.deadline(), Some(t0 + SEC));
        step(&mut m, Event::Timer, t0 + SEC);
        assert_eq!(m.ready_since(), Some(t0 + SEC));
        // Stopped before it was ready: its readiness deadline is no deadline any more
        // (else the loop would wake at once, for ever, until the KILL).
        let mut m = started(after, Policy::default(), t0);
        step(&mut m, Event::Letter(Letter::Down), t0 + SEC / 4);
        let kill_at = t0 + SEC / 4 + legacy().stop_timeout;
        assert_eq!(m.deadline(), Some(kill_at));
        step(&mut m, Event::Timer, t0 + 2 * SEC);
        assert_eq!(m.deadline(), Some(kill_at));
    }

    #[test]
    fn a_main_pid_known_while_stopping_is_stopped_then_killed() {
        let t0 = Instant::now();
        let told = Timing {
            readiness: Readiness::Told,
            ..legacy()
        };
        let mut m = started(told, Policy::default(), t0);
        step(&mut m, Event::Letter(Letter::Down), t0);
        // The KILL deadline passes (the launcher is long gone); then the pidfile names
        // the daemon.
        step(&mut m, Event::Timer, t0 + legacy().stop_timeout);
        let out = step(&mut m, Event::MainPid(pid(77)), t0 + 20 * SEC);
        assert!(
            out.contains(&Effect::Signal(Target::Group(pid(77)), Signal::SIGTERM)),
            "{out:?}"
        );
        assert_eq!(m.deadline(), Some(t0 + 20 * SEC + legacy().stop_timeout));
        let out = step(&mut m, Event::Timer, t0 + 20 * SEC + legacy().stop_timeout);
        assert!(
            out.contains(&Effect::Signal(Target::Group(pid(77)), Signal::SIGKILL)),
            "{out:?}"
        );
    }

    #[test]
    fn an_unhealthy_service_is_restarted_gracefully() {
        let t0 = Instant::now();
        let mut m = started(legacy(), limits(10), t0);
        let out = step(&mut m, Event::Unhealthy, t0 + 20 * SEC);
        assert!(out.contains(&Effect::Signal(Target::Group(pid(10)), Signal::SIGTERM)));
        assert!(alarms(&out).contains(&alarm::Kind::Failed(Failure::Unhealthy)));
        let out = step(&mut m, Event::Exited(pid(10), Exit::Code(0)), t0 + 20 * SEC);
        assert!(out.contains(&Effect::Spawn), "{out:?}");
        assert!(!m.last_exit_asked(), "a failure, not a stop");
        assert_eq!(m.window_exits(), 1, "it counts");
    }

    #[test]
    fn stops_and_kills_go_to_the_process_alone_when_asked() {
        let t0 = Instant::now();
        let policy = Policy {
            stop_group: false,
            kill_group: false,
            ..Policy::default()
        };
        let mut m = started(legacy(), policy, t0);
        let out = step(&mut m, Event::Letter(Letter::Down), t0 + SEC);
        assert!(out.contains(&Effect::Signal(Target::Process(pid(10)), Signal::SIGTERM)));
        let out = step(&mut m, Event::Timer, t0 + 12 * SEC);
        assert!(out.contains(&Effect::Signal(Target::Process(pid(10)), Signal::SIGKILL)));
        let out = step(&mut m, Event::Exited(pid(10), KILLED), t0 + 12 * SEC);
        assert!(m.last_exit_asked(), "{out:?}");
    }

    #[test]
    fn silenced_exits_count_toward_nothing() {
        // As the legacy tool: a maintenance window (`s`) never makes supervise give up.
        let t0 = Instant::now();
        let mut m = with_policy(limits(1), t0);
        step(&mut m, Event::Letter(Letter::Silence), t0);
        for i in 0..5 {
            let out = crash(&mut m, t0 + (2 + 2 * i) * SEC, Exit::Code(1), 11 + i as i32);
            assert!(alarms(&out).is_empty());
            assert!(!out.contains(&Effect::Exit), "crash {i}: {out:?}");
        }
        assert_eq!(m.window_exits(), 0);
        // Alarms back on: counting starts from nothing.
        step(&mut m, Event::Letter(Letter::Alarms), t0 + 20 * SEC);
        let out = crash(&mut m, t0 + 22 * SEC, Exit::Code(1), 30);
        assert_eq!(alarms(&out), vec![alarm::Kind::Exited]);
        let out = crash(&mut m, t0 + 24 * SEC, Exit::Code(1), 0);
        assert!(out.contains(&Effect::Exit), "{out:?}");
    }

    #[test]
    fn restart_script_replaces_alarms_and_counts_exits() {
        let t0 = Instant::now();
        let policy = Policy {
            restart_script: Some(Some(Duration::from_secs(10))),
            ..limits(1)
        };
        let mut m = with_policy(policy, t0);
        let counts = |out: &[Effect]| -> Vec<u64> {
            out.iter()
                .filter_map(|e| match e {
                    Effect::RestartScript(n) => Some(*n),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            counts(&crash(&mut m, t0 + 2 * SEC, Exit::Code(1), 11)),
            vec![1]
        );
        assert_eq!(
            counts(&crash(&mut m, t0 + 4 * SEC, Exit::Code(1), 12)),
            vec![2]
        );
        let out = crash(&mut m, t0 + 6 * SEC, Exit::Code(1), 13);
        assert_eq!(counts(&out), vec![3]);
        assert!(
            alarms(&out).is_empty() && !out.contains(&Effect::Exit),
            "no limits with -r"
        );
        assert_eq!(
            counts(&crash(&mut m, t0 + 20 * SEC, Exit::Code(1), 14)),
            vec![1]
        );
    }

    /// Runs pid `first` and then, at each given death time (seconds after t0), records
    /// where the next start lands; returns the delays from each death to that start.
    fn backoff_delays(timing: Timing, deaths: &[f64]) -> Vec<f64> {
        let t0 = Instant::now();
        let mut m = started(timing, Policy::default(), t0);
        let mut delays = Vec::new();
        for (i, &d) in deaths.iter().enumerate() {
            let at = t0 + Duration::from_secs_f64(d);
            let p = m.pid().expect("running");
            let out = step(&mut m, Event::Exited(p, Exit::Code(1)), at);
            let start = if out.contains(&Effect::Spawn) {
                at
            } else {
                let due = m.deadline().expect("a start is due");
                assert_eq!(step(&mut m, Event::Timer, due), vec![Effect::Spawn]);
                due
            };
            step(&mut m, Event::Spawned(pid(20 + i as i32)), start);
            delays.push((start - at).as_secs_f64());
        }
        delays
    }

    #[test]
    fn backoff_doubles_for_young_deaths_and_resets_after_a_long_run() {
        // Each death 0.1 s after the previous start: 1, 2, 4, 8 s; then a run of 20 s
        // resets, and the next young death waits 1 s again.
        let mut deaths = Vec::new();
        let mut t = 0.1;
        let mut delays_expected = Vec::new();
        for d in [1.0, 2.0, 4.0, 8.0] {
            deaths.push(t);
            delays_expected.push(d);
            t += d + 0.1;
        }
        let long = t + 19.9;
        deaths.push(long);
        delays_expected.push(0.0);
        deaths.push(long + 0.1);
        delays_expected.push(1.0);
        let got = backoff_delays(Timing::default(), &deaths);
        for (g, e) in got.iter().zip(&delays_expected) {
            assert!((g - e).abs() < 1e-6, "{got:?} vs {delays_expected:?}");
        }
    }

    #[test]
    fn backoff_stops_at_its_cap() {
        let timing = Timing {
            backoff_max: Duration::from_secs(3),
            ..Timing::default()
        };
        let mut deaths = Vec::new();
        let mut t = 0.1;
        for d in [1.0, 2.0, 3.0, 3.0] {
            deaths.push(t);
            t += d + 0.1;
        }
        let got = backoff_delays(timing, &deaths);
        assert_eq!(
            got.iter().map(|d| d.round() as u64).collect::<Vec<_>>(),
            vec![1, 2, 3, 3]
        );
    }

    #[test]
    fn up_cuts_a_backoff_short_and_resets_it() {
        let t0 = Instant::now();
        let mut m = started(Timing::default(), Policy::default(), t0);
        // Young deaths until the backoff is at 4 s.
        let mut now = t0;
        for (i, d) in [1, 2].into_iter().enumerate() {
            now += SEC / 10;
            let p = m.pid().unwrap();
            step(&mut m, Event::Exited(p, Exit::Code(1)), now);
            now += d * SEC;
            step(&mut m, Event::Timer, now);
            step(&mut m, Event::Spawned(pid(11 + i as i32)), now);
        }
        now += SEC / 10;
        let p = m.pid().unwrap();
        step(&mut m, Event::Exited(p, Exit::Code(1)), now);
        assert!(matches!(
            m.phase(),
            Phase::Waiting {
                why: Wait::Backoff,
                ..
            }
        ));
        assert_eq!(m.backoff(), 4 * SEC);
        now += 2 * SEC;
        assert_eq!(
            step(&mut m, Event::Letter(Letter::Up), now),
            vec![Effect::Spawn]
        );
        assert_eq!(m.backoff(), Duration::ZERO);
    }

    #[test]
    fn kill_letter_restarts_without_backoff() {
        let t0 = Instant::now();
        let mut m = started(Timing::default(), Policy::default(), t0);
        step(&mut m, Event::Letter(Letter::Kill), t0 + 2 * SEC);
        let out = step(&mut m, Event::Exited(pid(10), KILLED), t0 + 2 * SEC);
        assert_eq!(out, vec![Effect::Spawn]);
        assert_eq!(m.backoff(), Duration::ZERO);
    }

    #[test]
    fn restart_policies() {
        let t0 = Instant::now();
        // (policy, success codes, exit, restarted, want after)
        let rows = [
            (Restart::Always, vec![0], Exit::Code(0), true, Want::Up),
            (
                Restart::OnFailure,
                vec![0],
                Exit::Code(0),
                false,
                Want::Down,
            ),
            (Restart::OnFailure, vec![0], Exit::Code(1), true, Want::Up),
            (
                Restart::OnFailure,
                vec![0, 3],
                Exit::Code(3),
                false,
                Want::Down,
            ),
            (
                Restart::OnFailure,
                vec![0],
                Exit::Signal {
                    signal: 11,
                    core: false,
                },
                true,
                Want::Up,
            ),
            (Restart::Never, vec![0], Exit::Code(1), false, Want::Down),
        ];
        for (restart, codes, how, restarted, want) in rows {
            let policy = Policy {
                restart,
                success: ExitCodes::of(&codes),
                ..Policy::default()
            };
            let mut m = started(legacy(), policy, t0);
            let out = step(&mut m, Event::Exited(pid(10), how), t0 + 5 * SEC);
            assert_eq!(
                out.contains(&Effect::Spawn),
                restarted,
                "{restart:?} {how:?}"
            );
            assert_eq!(m.want(), want, "{restart:?} {how:?}");
        }
    }

    #[test]
    fn stop_signal_and_group_letters_are_configurable() {
        let t0 = Instant::now();
        let policy = Policy {
            stop_signal: Signal::SIGINT,
            signal_group: true,
            ..Policy::default()
        };
        let mut m = started(legacy(), policy, t0);
        let g = Target::Group(pid(10));
        assert_eq!(
            step(&mut m, Event::Letter(Letter::Hup), t0),
            vec![Effect::Signal(g, Signal::SIGHUP)]
        );
        assert_eq!(
            step(&mut m, Event::Letter(Letter::Pause), t0),
            vec![Effect::Signal(g, Signal::SIGSTOP)]
        );
        assert_eq!(
            step(&mut m, Event::Letter(Letter::Down), t0),
            vec![
                Effect::Signal(g, Signal::SIGINT),
                Effect::Signal(g, Signal::SIGCONT)
            ]
        );
    }

    #[test]
    fn exit_code_sets() {
        let set = ExitCodes::of(&[0, 3, 64, 255, 300, -1]);
        for c in [0, 3, 64, 255] {
            assert!(set.contains(c), "{c}");
        }
        for c in [1, 63, 65, 254, 256, -1] {
            assert!(!set.contains(c), "{c}");
        }
    }

    #[test]
    fn a_burst_of_changes_restarts_once_after_it_settles() {
        let t0 = Instant::now();
        let mut m = running(t0);
        let ms = |n: u64| Duration::from_millis(n);
        for i in 0..10 {
            assert_eq!(step(&mut m, Event::Changed, t0 + ms(100 * i)), vec![]);
        }
        assert_eq!(
            m.deadline(),
            Some(t0 + ms(900 + 300)),
            "300 ms after the last change"
        );
        assert_eq!(step(&mut m, Event::Timer, t0 + ms(1100)), vec![]);
        let out = step(&mut m, Event::Timer, t0 + ms(1200));
        let g = Target::Group(pid(10));
        assert_eq!(
            out,
            vec![
                Effect::ChangeRestart,
                Effect::Signal(g, Signal::SIGTERM),
                Effect::Signal(g, Signal::SIGCONT)
            ]
        );
        assert_eq!(m.want(), Want::Up);
        let out = step(
            &mut m,
            Event::Exited(
                pid(10),
                Exit::Signal {
                    signal: 15,
                    core: false,
                },
            ),
            t0 + ms(1300),
        );
        assert_eq!(out, vec![Effect::Spawn]);
        assert_eq!(m.window_exits(), 0, "no crash");
    }

    #[test]
    fn an_endless_burst_still_restarts_at_the_burst_limit() {
        let t0 = Instant::now();
        let mut m = running(t0);
        let mut t = t0;
        while t < t0 + BURST_LIMIT {
            step(&mut m, Event::Changed, t);
            t += Duration::from_millis(100);
        }
        assert_eq!(m.deadline(), Some(t0 + BURST_LIMIT));
    }

    #[test]
    fn changes_do_not_start_a_service_wanted_down() {
        let t0 = Instant::now();
        let mut m = running(t0);
        step(&mut m, Event::Letter(Letter::Down), t0);
        step(&mut m, Event::Exited(pid(10), Exit::Code(0)), t0);
        step(&mut m, Event::Changed, t0 + SEC);
        assert_eq!(m.deadline(), None);
        assert_eq!(step(&mut m, Event::Timer, t0 + 5 * SEC), vec![]);
        assert_eq!(m.phase(), Phase::Down);
    }

    #[test]
    fn down_cancels_a_pending_change_restart() {
        let t0 = Instant::now();
        let mut m = running(t0);
        step(&mut m, Event::Changed, t0);
        step(&mut m, Event::Letter(Letter::Down), t0 + SEC / 10);
        let out = step(&mut m, Event::Exited(pid(10), Exit::Code(0)), t0 + SEC);
        assert!(!out.contains(&Effect::Spawn));
        assert_eq!(m.deadline(), None);
    }

    #[test]
    fn a_change_ends_a_backoff() {
        let t0 = Instant::now();
        let mut m = started(Timing::default(), Policy::default(), t0);
        step(&mut m, Event::Exited(pid(10), Exit::Code(1)), t0 + SEC / 10);
        assert!(matches!(
            m.phase(),
            Phase::Waiting {
                why: Wait::Backoff,
                ..
            }
        ));
        step(&mut m, Event::Changed, t0 + SEC / 2);
        let out = step(
            &mut m,
            Event::Timer,
            t0 + SEC / 2 + Duration::from_millis(300),
        );
        assert_eq!(out, vec![Effect::ChangeRestart]);
        assert_eq!(m.backoff(), Duration::ZERO);
        assert_eq!(
            m.deadline(),
            Some(t0 + SEC),
            "the one-second throttle still holds"
        );
    }

    #[test]
    fn the_group_of_an_exited_service_is_cleaned_up() {
        let t0 = Instant::now();
        let l = Target::Leftovers(pid(10));
        // After a stop: KILL at once, the leftovers had their time.
        let mut m = running(t0);
        step(&mut m, Event::Letter(Letter::Down), t0);
        let out = step_all(&mut m, Event::Exited(pid(10), Exit::Code(0)), t0 + SEC);
        assert_eq!(out, vec![Effect::Signal(l, Signal::SIGKILL)]);
        // After a crash: the stop signal now, KILL after the stop timeout, and the new
        // instance starts meanwhile.
        let mut m = running(t0);
        let out = step_all(&mut m, Event::Exited(pid(10), Exit::Code(1)), t0 + 2 * SEC);
        assert_eq!(
            out,
            vec![
                Effect::Signal(l, Signal::SIGTERM),
                Effect::Signal(l, Signal::SIGCONT),
                Effect::Spawn
            ]
        );
        step(&mut m, Event::Spawned(pid(11)), t0 + 2 * SEC);
        assert_eq!(m.deadline(), Some(t0 + 12 * SEC));
        assert_eq!(step_all(&mut m, Event::Timer, t0 + 11 * SEC), vec![]);
        assert_eq!(
            step_all(&mut m, Event::Timer, t0 + 12 * SEC),
            vec![Effect::Signal(l, Signal::SIGKILL)]
        );
        assert_eq!(m.deadline(), None);
        // A second exit before that deadline: the older leftovers get KILL at once.
        let mut m = running(t0);
        step(&mut m, Event::Exited(pid(10), Exit::Code(1)), t0 + 2 * SEC);
        step(&mut m, Event::Spawned(pid(11)), t0 + 2 * SEC);
        let out = step_all(&mut m, Event::Exited(pid(11), Exit::Code(1)), t0 + 4 * SEC);
        assert_eq!(out[0], Effect::Signal(l, Signal::SIGKILL));
        assert_eq!(
            out[1],
            Effect::Signal(Target::Leftovers(pid(11)), Signal::SIGTERM)
        );
    }

    #[test]
    fn an_empty_group_needs_no_kill_deadline() {
        let t0 = Instant::now();
        let mut m = running(t0);
        step(&mut m, Event::Exited(pid(10), Exit::Code(1)), t0 + 2 * SEC);
        step(&mut m, Event::Spawned(pid(11)), t0 + 2 * SEC);
        // Another group's news changes nothing.
        step(&mut m, Event::GroupGone(pid(9)), t0 + 2 * SEC);
        assert_eq!(m.deadline(), Some(t0 + 12 * SEC));
        step(&mut m, Event::GroupGone(pid(10)), t0 + 2 * SEC);
        assert_eq!(m.deadline(), None, "nothing left to wake up for");
        // The next crash has no older group to KILL.
        let out = step_all(&mut m, Event::Exited(pid(11), Exit::Code(1)), t0 + 4 * SEC);
        assert_eq!(
            out[0],
            Effect::Signal(Target::Leftovers(pid(11)), Signal::SIGTERM)
        );
    }

    #[test]
    fn an_expected_exit_expires() {
        let t0 = Instant::now();
        let mut m = started(legacy(), limits(5), t0);
        // The service catches TERM and carries on; much later it crashes for real.
        step(&mut m, Event::Letter(Letter::Terminate), t0 + SEC);
        let out = step(&mut m, Event::Exited(pid(10), Exit::Code(1)), t0 + 60 * SEC);
        assert_eq!(
            alarms(&out),
            vec![alarm::Kind::Exited],
            "a crash, not the asked exit"
        );
    }

    #[test]
    fn restart_script_runs_for_every_exit() {
        let t0 = Instant::now();
        let policy = Policy {
            restart_script: Some(Some(Duration::from_secs(10))),
            ..Policy::default()
        };
        let mut m = started(legacy(), policy, t0);
        step(&mut m, Event::Letter(Letter::Kill), t0 + 2 * SEC);
        let out = step(&mut m, Event::Exited(pid(10), KILLED), t0 + 2 * SEC);
        assert!(
            out.contains(&Effect::RestartScript(1)),
            "an asked-for exit: {out:?}"
        );
        step(&mut m, Event::Spawned(pid(11)), t0 + 2 * SEC);
        step(&mut m, Event::Letter(Letter::Down), t0 + 4 * SEC);
        let out = step(&mut m, Event::Exited(pid(11), Exit::Code(0)), t0 + 4 * SEC);
        assert!(out.contains(&Effect::RestartScript(2)), "a stop: {out:?}");
    }

    #[test]
    fn an_adopted_service_is_up_and_restarted_when_it_ends() {
        let t0 = Instant::now();
        let mut m = Machine::new(legacy(), Policy::default());
        m.restore_starts(7);
        assert_eq!(
            step(&mut m, Event::Adopted(pid(42), Want::Up, false), t0),
            vec![]
        );
        assert_eq!(m.phase(), Phase::Up { pid: pid(42) });
        assert!(m.adopted());
        assert_eq!(
            step(&mut m, Event::Letter(Letter::Hup), t0),
            vec![Effect::Signal(Target::Process(pid(42)), Signal::SIGHUP)]
        );
        let out = step(&mut m, Event::Exited(pid(42), Exit::Unknown), t0 + SEC);
        assert_eq!(
            out,
            vec![Effect::Spawn],
            "no start of ours to throttle against"
        );
        step(&mut m, Event::Spawned(pid(43)), t0 + SEC);
        assert!(!m.adopted());
        assert_eq!(m.starts(), 8);
    }

    #[test]
    fn an_adopted_service_wanted_down_is_stopped() {
        let t0 = Instant::now();
        let mut m = Machine::new(legacy(), Policy::default());
        let out = step(&mut m, Event::Adopted(pid(42), Want::Down, false), t0);
        assert_eq!(
            out,
            vec![
                Effect::Signal(Target::Group(pid(42)), Signal::SIGTERM),
                Effect::Signal(Target::Group(pid(42)), Signal::SIGCONT)
            ]
        );
    }
}
