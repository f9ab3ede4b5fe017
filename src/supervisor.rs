//! The event loop: the one place where supervise waits, and the edge where the
//! [`Machine`]'s decisions meet the system.
//!
//! One `poll` over the signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP) and the `control`
//! FIFO, with the machine's one deadline as the timeout. Each wake-up drains what is
//! ready, turns it into [`Event`]s in arrival order, carries out the resulting
//! [`Effect`]s, and then [`Supervisor::publish`]es: `status` and `state` are rewritten
//! only if what they say changed. With no deadline and nothing ready, `poll` sleeps
//! for ever: an idle supervise makes no system calls at all.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::{Instant, SystemTime};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;

use crate::adopt::{self, Orphan};
use crate::alarm::{self, Alarm};
use crate::checks::{self, Checks, Note};
use crate::child::{self, Child, Spec, Stdio};
use crate::cli::{self, CommandLine, EXIT_SETUP, EXIT_USAGE, Options};
use crate::command::Program;
use crate::config::{self, Config};
use crate::control::{self, Letter, Parsed};
use crate::daemon;
use crate::exit::Exit;
use crate::follow::{Follow, Found};
use crate::kill::{self, Sent};
use crate::launch;
use crate::log::Log;
use crate::machine::{
    Effect, Event, ExitCodes, GaveUp, Machine, Phase, Policy, Readiness, Target, Timing, Wait,
};
use crate::memory;
use crate::output::{self, ChildFds, Output};
use crate::policy::{self, Limits};
use crate::proc;
use crate::statefile::{self, LastExit, Record};
use crate::status::{self, Status, Tai64n};
use crate::statusdir::{SetupError, StatusDir, names};
use crate::watch::Watch;

/// A start-up failure: the message for stderr and the exit code.
#[derive(Debug)]
pub struct Fatal {
    /// Exit code ([`EXIT_USAGE`] or [`EXIT_SETUP`]).
    pub code: u8,
    /// One line saying what is wrong.
    pub message: String,
}

fn fatal(code: u8, message: impl Into<String>) -> Fatal {
    Fatal {
        code,
        message: message.into(),
    }
}

/// Runs `supervise` with its arguments (program name excluded); returns the exit code.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> u8 {
    match set_up(args.into_iter().collect()) {
        Ok(mut sup) => sup.run(),
        Err(code) => code,
    }
}

/// Everything before the loop: the arguments, the process, the supervisor and the
/// service's first start. Out of line, so that its locals (the options, the parser)
/// are below the loop's frames and let go with the stack at every idle wait, not
/// kept dirty above them in `main`'s frame for supervise's whole life.
#[inline(never)]
fn set_up(args: Vec<std::ffi::OsString>) -> Result<Box<Supervisor>, u8> {
    let mut opts = match cli::parse(args) {
        Ok(cli::Cli::Run(opts)) => opts,
        Ok(cli::Cli::Version) => {
            println!("supervise {}", env!("CARGO_PKG_VERSION"));
            return Err(0);
        }
        Ok(cli::Cli::Help) => {
            print!("{}", cli::USAGE);
            return Err(0);
        }
        Err(e) => {
            eprintln!("supervise: {e} (see supervise -h)");
            return Err(EXIT_USAGE);
        }
    };
    daemon::sanitize_process();
    let nofile = match daemon::ensure_descriptors() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("supervise: {e}");
            return Err(EXIT_SETUP);
        }
    };
    // As a container's init, or asked to: stay in front, take in orphans.
    if std::process::id() == 1 {
        opts.subreaper = true;
    }
    if opts.subreaper {
        opts.foreground = true;
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            eprintln!("supervise: cannot become a subreaper: {e}");
            return Err(EXIT_SETUP);
        }
    }
    let readiness = if opts.foreground {
        None
    } else {
        match daemon::daemonize() {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("supervise: cannot fork into the background: {e}");
                return Err(EXIT_SETUP);
            }
        }
    };
    let mut sup = match Supervisor::new(&opts, nofile) {
        Ok(s) => s,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("supervise: {}", f.message);
            }
            return Err(f.code);
        }
    };
    if let Err(f) = sup.start() {
        eprintln!("supervise: {}", f.message);
        return Err(f.code);
    }
    if let Some(r) = readiness {
        if let Err(e) = r.ready() {
            sup.log
                .warn(format_args!("cannot detach from the caller: {e}"));
        }
    }
    Ok(sup)
}

/// The signals supervise takes through its signalfd.
const HANDLED_SIGNALS: [Signal; 4] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
];

/// Monotonic deadlines shown as wall-clock times, through one fixed pairing taken at
/// start-up so that the same deadline always shows as the same time.
#[derive(Debug, Clone, Copy)]
struct Clock {
    mono: Instant,
    wall: SystemTime,
}

impl Clock {
    fn now() -> Clock {
        Clock {
            mono: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    fn wall(&self, at: Instant) -> SystemTime {
        match at.checked_duration_since(self.mono) {
            Some(d) => self.wall.checked_add(d).unwrap_or(self.wall),
            None => self
                .wall
                .checked_sub(self.mono.duration_since(at))
                .unwrap_or(self.wall),
        }
    }
}

/// What was last written, so unchanged files are not rewritten.
#[derive(Debug, Default)]
struct Published {
    pid: Option<Pid>,
    status: Option<[u8; status::STATUS_LEN]>,
    state: String,
    /// Writes of `status` (0) and `state` (1) that failed and were warned about;
    /// cleared when one succeeds.
    failing: [bool; 2],
    /// When to try a failed write again (nothing else may change for a long time).
    retry_at: Option<Instant>,
    /// When the `state` of a process just started is written, if it is still the
    /// one running then ([`STATE_AFTER_START`]).
    state_due: Option<Instant>,
}

/// How long after a start its `state` waits. `status` names the new pid at once (what
/// scripts and `svc -w` wait on); the richer record follows this much later, or not at
/// all if the process has ended by then and the record of its end replaces it. A
/// crash loop's process usually ends within this, so each of its restarts writes
/// `state` once instead of twice (two system calls of four fewer per restart each
/// way); a reader meanwhile sees a record for the previous pid, which every reader
/// already takes as not about the running process.
const STATE_AFTER_START: std::time::Duration = std::time::Duration::from_millis(10);

/// How long after a failed `status` or `state` write it is tried again.
const WRITE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// At most this many output streams (stdout and stderr).
const MAX_STREAMS: usize = 2;

/// Turns of output draining before supervise exits (16 × 16 × 64 kB: 16 MB, well
/// past what the pipes hold).
const FINAL_DRAIN_TURNS: usize = 16;

/// What `poll` found ready.
#[derive(Debug, Default, Clone, Copy)]
struct Ready {
    signals: bool,
    control: bool,
    watch: bool,
    /// The main process supervise did not start ended.
    main: bool,
    /// Bit i: the i-th descriptor of the checks.
    checks: u8,
    /// Someone touched the FIFOs.
    fifos: bool,
    /// Bit i: output stream i has data.
    streams: u8,
}

impl Ready {
    fn streams(self) -> impl Iterator<Item = usize> {
        (0..MAX_STREAMS).filter(move |i| self.streams & (1 << i) != 0)
    }
}

/// The watcher for the command line's and the config's paths; an unchanged set keeps
/// the one in force (and its state), no path means none.
fn start_watch(
    cli: &[std::path::PathBuf],
    cfg: &Config,
    old: Option<Watch>,
    status_dir: &std::path::Path,
    log: &Log,
) -> Option<Watch> {
    let paths: Vec<std::path::PathBuf> = cli.iter().chain(&cfg.watch).cloned().collect();
    if paths.is_empty() {
        return None;
    }
    if let Some(w) = old {
        if w.configured(&paths, &cfg.watch_exclude) {
            return Some(w);
        }
    }
    match Watch::new(&paths, &cfg.watch_exclude, Some(status_dir), log) {
        Ok(w) => {
            log.notice(format_args!(
                "watch: {} paths, {} inotify watches",
                paths.len(),
                w.watches()
            ));
            Some(w)
        }
        Err(e) => {
            log.warn(format_args!(
                "watch: cannot start inotify: {e}; changes go unseen"
            ));
            None
        }
    }
}

/// The output settings from the config.
/// Output handling whose held files are watched on the status directory's watch.
fn watched_output(dir: &StatusDir, settings: output::Settings) -> Output {
    let mut output = Output::new(settings);
    if let Some(w) = dir.held_watch() {
        output.watch_with(w);
    }
    output
}

fn output_settings(cfg: &Config) -> output::Settings {
    output::Settings {
        max_size: cfg.log_max_size,
        backups: cfg.log_backups,
        timestamps: cfg.log_timestamps,
        stderr_to_stdout: cfg.stderr_to_stdout,
        mode: cfg.log_mode,
        stdout: cfg.stdout_file.clone(),
        stderr: cfg.stderr_file.clone(),
        prefix: cfg.log_prefix.clone(),
    }
}

/// A service a previous supervise left running, if the status directory's records
/// name one that may be taken over ([`adopt::decide`]); a refusal worth saying (a
/// record naming a live process that is not ours to take) comes back as the line to
/// log.
fn find_orphan(dir: &StatusDir, service_uid: u32) -> Result<Orphan, Option<String>> {
    let read = |name: &str, max: usize| dir.dir().read(name, max).map_err(|_| None);
    let status = read(names::STATUS, status::STATUS_LEN)?;
    let state = read(names::STATE, crate::client::STATE_MAX)?;
    let me = std::process::id();
    let ancestors = proc::ancestors(me);
    let asker = adopt::Asker {
        me,
        ancestors: &ancestors,
        euid: nix::unistd::geteuid().as_raw(),
        service_uid,
    };
    adopt::decide(&recorded(&status), &recorded(&state), &asker, proc::process).map_err(|r| {
        (r != adopt::Refusal::Nothing).then(|| {
            format!("not adopting what the status directory records: {r}; starting the service")
        })
    })
}

/// A file's bytes and owner, as adoption weighs them.
fn recorded(c: &crate::statusdir::open::Contents) -> adopt::Recorded<'_> {
    adopt::Recorded {
        bytes: &c.bytes,
        owner: c.owner,
        links: c.links,
    }
}

/// A child of supervise that is not the service.
#[derive(Debug)]
enum Helper {
    /// `supervise-alarm` sending one, with its subject.
    Alarm(Child, String),
    /// The `-r` script with its count.
    Script(Child, u64),
    /// The `on_change` command.
    Hook(Child),
}

impl Helper {
    fn pid(&self) -> Pid {
        match self {
            Helper::Alarm(c, _) | Helper::Script(c, _) | Helper::Hook(c) => c.pid,
        }
    }
}

/// The machine's timings and policy from the config and the command line.
fn settings(
    cfg: &Config,
    script: bool,
    time_limit: Option<std::time::Duration>,
) -> (Timing, Policy) {
    let timing = Timing {
        throttle: cfg.restart_throttle,
        stop_timeout: cfg.stop_timeout,
        start_success: cfg.start_success,
        backoff_max: cfg.backoff_max,
        backoff: cfg.backoff,
        readiness: match cfg.ready {
            // A forking daemon is ready once its pidfile names it.
            crate::ready::Ready::Now if cfg.pidfile.is_some() => Readiness::Told,
            crate::ready::Ready::Now => Readiness::Now,
            crate::ready::Ready::After(d) => Readiness::After(d),
            _ => Readiness::Told,
        },
        ready_timeout: cfg.ready_timeout,
        debounce: cfg.watch_debounce,
    };
    let policy = Policy {
        limits: Limits {
            interval: cfg.alarm_interval,
            max_tries: cfg.max_tries,
            max_cores: cfg.max_tries_if_coredumped,
        },
        give_up: cfg.give_up,
        cool_down: cfg.give_up_cool_down,
        restart_script: script.then_some(time_limit),
        restart: cfg.restart,
        success: ExitCodes::of(&cfg.success_exit_codes),
        stop_signal: Signal::try_from(cfg.stop_signal).unwrap_or(Signal::SIGTERM),
        signal_group: cfg.signal_group,
        stop_group: cfg.stop_group,
        kill_group: cfg.kill_group,
        start_retries: cfg.start_retries,
    };
    (timing, policy)
}

/// The legacy tool's line for a config read (monitoring greps for it).
const LOADED: &str = "Finished loading configurations!";

/// One running supervise.
#[derive(Debug)]
pub struct Supervisor {
    /// Our own pid (after daemonizing), asked once: it goes into every state write.
    me: u32,
    /// The descriptor limit supervise was started with, when it had to raise it: the
    /// service gets it back.
    nofile: Option<u64>,
    dir: StatusDir,
    log: Log,
    /// Processes reaped in this turn of the loop (see [`kill::send_after_reap`]).
    reaped: Vec<Pid>,
    machine: Machine,
    spec: Spec,
    /// The command as given, resolved again at every reload.
    command_line: CommandLine,
    /// `/dev/null`, read and write.
    stdin: File,
    signals: SignalFd,
    child: Option<Child>,
    /// Children other than the service: alarm senders and `-r` scripts.
    helpers: Vec<Helper>,
    name: String,
    command: String,
    /// The status directory, absolute, for alarms.
    abs_dir: std::path::PathBuf,
    host: String,
    config_path: std::path::PathBuf,
    config: Config,
    restart_script: Option<Program>,
    time_limit: Option<std::time::Duration>,
    /// `supervise-alarm`, found at start-up.
    alarm_helper: Option<Program>,
    /// The service's stdout and stderr.
    output: Output,
    /// Rate limit for unknown-letter warnings.
    noise: control::Noise,
    /// Subreaper (or PID 1): exit with the service's code.
    subreaper: bool,
    /// `--down`: the service waits for `u`.
    start_down: bool,
    /// The last failed check: which, and what it said (for the alarm).
    check_detail: String,
    /// `--watch` paths from the command line (the config adds its own).
    cli_watch: Vec<std::path::PathBuf>,
    /// The watcher, when something is watched.
    watch: Option<Watch>,
    /// A live service a previous supervise left, to adopt at start.
    orphan: Option<Orphan>,
    /// The main process when supervise did not start it, pidfiles, strays.
    follow: Follow,
    /// The service's user (who may own its pidfile).
    service_uid: u32,
    /// Readiness and health checks while the service runs.
    checks: Checks,
    /// The service's launch: exec probes run as the service does.
    launch: launch::Launch,
    /// Why supervise last stopped the service itself, for the state file.
    last_failure: Option<String>,
    /// The `on_change` command's runs.
    hook: crate::hook::Hook,
    /// The latest path a watch saw change.
    last_change: Option<std::path::PathBuf>,
    /// The last restart for a change: when, and the path.
    watch_restart: Option<(SystemTime, String)>,
    /// The service exited and a restart is due: the next start announces itself.
    restart_due: bool,
    /// `x` arrived while the service ran: once it ends and supervise leaves, the
    /// legacy tool's "refused to restart" line is due.
    exit_after_service: bool,
    clock: Clock,
    since: SystemTime,
    pid_start: Option<u64>,
    last_exit: Option<LastExit>,
    published: Published,
    exit: bool,
}

impl Supervisor {
    /// Everything that can fail before the service starts: the command, the status
    /// directory, the logs, the signalfd. Boxed: a supervisor is some kilobytes, and
    /// in `main`'s frame (twice, with the `Result`) they would be stack that stays
    /// dirty above every wait (the idle release frees only what is below).
    pub fn new(opts: &Options, nofile: Option<u64>) -> Result<Box<Supervisor>, Fatal> {
        let loaded = config::load(&opts.config, &opts.name, opts.config_named)
            .map_err(|e| fatal(EXIT_USAGE, e.to_string()))?;
        let launch = launch::prepare(&opts.command, &loaded.config)
            .map_err(|e| fatal(EXIT_USAGE, launch_error(&opts.config, &loaded, e)))?;
        let restart_script = match &opts.restart_script {
            Some(script) => Some(
                Program::from_words(vec![script.clone()], std::env::var_os("PATH").as_deref())
                    .map_err(|e| fatal(EXIT_USAGE, format!("-r: {e}")))?,
            ),
            None => None,
        };
        let service_uid = launch
            .ids
            .as_ref()
            .map_or_else(|| nix::unistd::geteuid().as_raw(), |i| i.uid);
        let dir = StatusDir::take(&opts.dir, Some(service_uid)).map_err(|e| match e {
            SetupError::Locked(pid) => already_supervised(opts, pid),
            e => fatal(EXIT_SETUP, e.to_string()),
        })?;
        // The lock is ours: whatever supervise wrote these files is gone. Its service
        // may not be.
        let orphan = find_orphan(&dir, service_uid);
        let mode = loaded.config.log_mode;
        let open = |name: &str| {
            dir.open_append(name, mode).map_err(|e| {
                fatal(
                    EXIT_SETUP,
                    format!("{}: {e}", dir.dir().join(name).display()),
                )
            })
        };
        let mut log = Log::in_dir(dir.dir(), mode).map_err(|(name, e)| {
            fatal(
                EXIT_SETUP,
                format!("{}: {e}", dir.dir().join(name).display()),
            )
        })?;
        if let Some(w) = dir.held_watch() {
            log.watch_with(w);
        }
        let output = watched_output(&dir, output_settings(&loaded.config));
        for why in [dir.unwatched(), dir.exposure()].into_iter().flatten() {
            log.warn(why);
        }
        let orphan = match orphan {
            Ok(o) => Some(o),
            Err(why) => {
                if let Some(why) = why {
                    log.warn(why);
                }
                None
            }
        };
        // The service's output files exist from the start, as in the legacy tool.
        open(names::STDOUT)?;
        open(names::STDERR)?;
        // Read and write: the service's stdin, and where its output goes when its
        // files cannot be opened.
        let stdin = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| fatal(EXIT_SETUP, format!("cannot open /dev/null: {e}")))?;
        let signals = crate::sigfd::open(&HANDLED_SIGNALS).map_err(|e| {
            fatal(
                EXIT_SETUP,
                format!("cannot take signals through a signalfd: {e}"),
            )
        })?;
        let command = opts.command.display();
        // The caller sees them too: a misspelt key is best caught now. (A default
        // config file that is not there is no news to the caller.)
        for w in &loaded.warnings {
            if !loaded.missing {
                eprintln!("supervise: warning: {w}");
            }
            log.warn(w);
        }
        if !opts.ignored.is_empty() {
            let words: Vec<_> = opts.ignored.iter().map(|w| w.to_string_lossy()).collect();
            let w = format!(
                "words not taken as the command (it is given by -f or -u): {}",
                words.join(" ")
            );
            eprintln!("supervise: warning: {w}");
            log.warn(w);
        }
        if !loaded.missing {
            log.notice(LOADED);
        }
        let time_limit = opts.time_limit.map(std::time::Duration::from_secs);
        // Where the directory really is (the path it was taken by may be relative).
        let abs_dir = std::fs::read_link(crate::statusdir::open::proc_path(dir.dir().fd()))
            .unwrap_or_else(|_| opts.dir.clone());
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into());
        let clock = Clock::now();
        let watch = start_watch(&opts.watch, &loaded.config, None, &abs_dir, &log);
        let checks = Checks::new(
            check_settings(&loaded.config),
            dir.dir(),
            &abs_dir,
            Some(service_uid),
        )
        .map_err(|e| {
            fatal(
                EXIT_SETUP,
                format!("{}: {e}", dir.dir().join(checks::NOTIFY_NAME).display()),
            )
        })?;
        // Whatever the service leaves behind comes back to supervise, to be stopped.
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            log.warn(format_args!(
                "cannot become a subreaper ({e}): what the service leaves behind goes unseen"
            ));
        }
        let mut follow = Follow::default();
        follow.set_pidfile(loaded.config.pidfile.clone());
        Ok(Box::new(Supervisor {
            dir,
            log,
            machine: {
                let (timing, policy) =
                    settings(&loaded.config, restart_script.is_some(), time_limit);
                Machine::new(timing, policy)
            },
            spec: service_spec(&launch, nofile, &checks),
            launch: for_probes(launch, checks.settings()),
            checks,
            follow,
            service_uid,
            last_failure: None,
            hook: crate::hook::Hook::default(),
            reaped: Vec::new(),
            nofile,
            command_line: opts.command.clone(),
            stdin,
            signals,
            child: None,
            helpers: Vec::new(),
            name: opts.name.clone(),
            command,
            abs_dir,
            host,
            config_path: opts.config.clone(),
            output,
            noise: control::Noise::default(),
            subreaper: opts.subreaper,
            start_down: opts.down,
            check_detail: String::new(),
            watch,
            orphan,
            cli_watch: opts.watch.clone(),
            last_change: None,
            watch_restart: None,
            restart_due: false,
            exit_after_service: false,
            config: loaded.config,
            restart_script,
            time_limit,
            alarm_helper: alarm::helper_path().map(|path| Program {
                argv: vec![alarm::HELPER.into()],
                path,
            }),
            clock,
            since: clock.wall,
            pid_start: None,
            last_exit: None,
            published: Published::default(),
            exit: false,
            me: std::process::id(),
        }))
    }

    /// Wants the service up and starts it. The start returns once the service has
    /// exec'd, so a program that cannot be exec'd is reported to the caller like every
    /// other start-up error, instead of being retried in the background for ever.
    pub fn start(&mut self) -> Result<(), Fatal> {
        self.log.notice(format_args!(
            "supervise pid {} supervising {}: {}",
            self.me, self.name, self.command
        ));
        match self.orphan.take() {
            Some(o) if crate::follow::pidfd(Pid::from_raw(o.pid as i32)).is_some() => {
                self.log.notice(format_args!(
                    "adopting pid {}, left running by a previous supervise; when it ends, \
                     its exit status goes to its parent, not to us",
                    o.pid
                ));
                self.follow.watch(Pid::from_raw(o.pid as i32));
                self.checks
                    .adopted(Pid::from_raw(o.pid as i32), Instant::now());
                self.since = o.since;
                self.published.pid = Some(Pid::from_raw(o.pid as i32));
                self.pid_start = Some(o.start);
                self.machine.restore_starts(o.starts);
                self.dispatch(Event::Adopted(
                    Pid::from_raw(o.pid as i32),
                    o.want,
                    o.paused,
                ));
                self.publish();
                return Ok(());
            }
            _ if self.start_down => self.dispatch(Event::Letter(Letter::Down)),
            _ => {
                // Down first, on record: whoever sees the new pid in `status` finds a
                // `state` that says how this supervise tells readiness.
                self.publish();
                self.observe_for_hook();
                self.dispatch(Event::Letter(Letter::Up));
            }
        }
        self.publish();
        self.observe_for_hook();
        // "Text file busy" passes (a file still open for writing somewhere, as a
        // deploy that just copied it): retried on the throttle like a later failure.
        let failure = self
            .child
            .as_ref()
            .and_then(Child::failure)
            .filter(|f| f.errno != libc::ETXTBSY);
        if let Some(f) = failure {
            let message = format!("cannot start {}: {f}", self.spec.path().display());
            self.log.fatal(&message);
            self.stop_for_good();
            return Err(fatal(EXIT_USAGE, message));
        }
        Ok(())
    }

    /// Leaves nothing behind after a failed start: the child is reaped and the status
    /// says down, wanted down.
    fn stop_for_good(&mut self) {
        self.dispatch(Event::Letter(Letter::Down));
        if let Some(c) = self.child.take() {
            let mut raw = 0;
            // SAFETY: waiting for our own child, which has already failed.
            unsafe { libc::waitpid(c.pid.as_raw(), &mut raw, 0) };
            let how = Exit::from_wait_status(raw).unwrap_or(Exit::Code(127));
            self.dispatch(Event::Exited(c.pid, how));
        }
        self.publish();
    }

    /// The loop; returns supervise's exit code.
    pub fn run(&mut self) -> u8 {
        memory::release_start_up();
        while !self.exit {
            let ready = match self.wait() {
                Ok(ready) => ready,
                Err(e) => {
                    // poll fails only on resource exhaustion; let the next turn retry
                    // rather than spin.
                    self.log.warn(format_args!("poll failed: {e}"));
                    Ready::default()
                }
            };
            self.log.turn();
            self.reaped.clear();
            // Output first: it was written before whatever exit is being reported.
            for i in ready.streams() {
                // A bounded turn; what is left makes the next poll return at once.
                let _ = self.output.drain(i, self.dir.dir(), &self.log);
            }
            if ready.signals {
                self.on_signals();
            }
            if ready.main {
                self.on_main_end();
            }
            if ready.checks != 0 && !self.exit {
                let mut notes = Vec::new();
                self.checks.on_fds(ready.checks, Instant::now(), &mut notes);
                self.on_notes(notes);
            }
            if ready.fifos {
                // Something held was moved, removed or changed: the FIFOs are put
                // right now, the logs and output files looked at before their next use.
                self.log.look_again();
                self.output.look_again();
                for line in self.dir.repair() {
                    self.log.warn(line);
                }
            }
            if ready.control && !self.exit {
                self.on_control();
            }
            if ready.watch && !self.exit {
                self.on_watch();
            }
            if self
                .machine
                .deadline()
                .is_some_and(|at| at <= Instant::now())
                && !self.exit
            {
                self.dispatch(Event::Timer);
            }
            if !self.exit {
                self.on_check_time();
            }
            if let Some(pid) = self.hook.overdue(Instant::now()) {
                self.log.warn(format_args!(
                    "on_change still running after on_change_timeout ({} s): killed",
                    self.config.on_change_timeout.as_secs_f64()
                ));
                let _ = kill::send(Target::Group(pid), Signal::SIGKILL);
            }
            if let Some(line) = self.noise.flush(Instant::now()) {
                self.log.warn(line);
            }
            self.publish();
            self.observe_for_hook();
        }
        // Nothing the service left behind outlives supervise (a next one would start
        // a second copy beside it).
        self.follow.kill_strays();
        // What the service wrote last is not lost with supervise; a bound, though, as
        // a leftover process may still be writing.
        for i in 0..self.output.streams() {
            let mut turns = 0;
            while self.output.drain(i, self.dir.dir(), &self.log) && turns < FINAL_DRAIN_TURNS {
                turns += 1;
            }
        }
        let code = match (self.subreaper, self.machine.gave_up(), self.last_exit) {
            // A container's init leaves with what its service left with.
            (true, None, Some(e)) => match e.how {
                Exit::Code(c) => c as u8,
                Exit::Signal { signal, .. } => (128 + signal) as u8,
                Exit::Unknown => 0,
            },
            _ => self.machine.exit_code(),
        };
        if self.machine.gave_up().is_some() || self.exit_after_service {
            self.log.notice(format_args!(
                "supervise refused to restart {} any more and exited itself!",
                self.name
            ));
        }
        match self.machine.gave_up() {
            Some(g) => self.log.fatal(format_args!(
                "{}: supervise pid {} exiting",
                describe_give_up(&g),
                self.me
            )),
            None => self
                .log
                .notice(format_args!("supervise pid {} exiting", self.me)),
        }
        self.log.flush();
        code
    }

    /// Blocks until a descriptor is ready or the deadline passes.
    fn wait(&self) -> nix::Result<Ready> {
        // The turn's log lines, together, before the wait.
        self.log.flush();
        let mut fds = Vec::with_capacity(3 + MAX_STREAMS);
        fds.push(PollFd::new(self.signals.as_fd(), PollFlags::POLLIN));
        fds.push(PollFd::new(self.dir.control(), PollFlags::POLLIN));
        let watch_at = fds.len();
        if let Some(w) = &self.watch {
            fds.push(PollFd::new(w.fd(), PollFlags::POLLIN));
        }
        let main_at = fds.len();
        if let Some(fd) = self.follow.fd() {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let checks_at = fds.len();
        fds.extend(self.checks.poll_fds().map(|(fd, f)| PollFd::new(fd, f)));
        let fifos_at = fds.len();
        if let Some(fd) = self.dir.fifo_events() {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let streams_at = fds.len();
        fds.extend(
            self.output
                .poll_fds()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
        );
        let ready = |f: &PollFd| f.any().unwrap_or(false);
        let bits = |fds: &[PollFd]| {
            fds.iter()
                .enumerate()
                .fold(0u8, |b, (i, f)| if ready(f) { b | 1 << i } else { b })
        };
        let deadline = self.deadline();
        let polled = match deadline {
            // Idle: let go of what the wait does not need, then wait.
            None => {
                // SAFETY: nix's PollFd is a transparent wrapper of libc's pollfd.
                let raw = unsafe {
                    std::slice::from_raw_parts_mut(
                        fds.as_mut_ptr().cast::<libc::pollfd>(),
                        fds.len(),
                    )
                };
                memory::release_and_wait(raw)
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL)))
            }
            Some(_) => poll(&mut fds, timeout_until(deadline)).map(|n| n as usize),
        };
        match polled {
            Ok(_) => Ok(Ready {
                signals: ready(&fds[0]),
                control: ready(&fds[1]),
                watch: main_at > watch_at && ready(&fds[watch_at]),
                main: checks_at > main_at && ready(&fds[main_at]),
                checks: bits(&fds[checks_at..fifos_at]),
                fifos: streams_at > fifos_at && ready(&fds[fifos_at]),
                streams: bits(&fds[streams_at..]),
            }),
            Err(Errno::EINTR) => Ok(Ready::default()),
            Err(e) => Err(e),
        }
    }

    /// The next thing due, if anything is.
    fn deadline(&self) -> Option<Instant> {
        [
            self.machine.deadline(),
            self.published.retry_at,
            self.published.state_due,
            self.noise.deadline(),
            self.hook.deadline(),
            self.checks.deadline(),
            self.follow.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Drains the signalfd, then acts: several SIGCHLDs may have merged into one.
    #[inline(never)]
    fn on_signals(&mut self) {
        let mut reap = false;
        let mut events = Vec::new();
        for signo in crate::sigfd::pending::<{ HANDLED_SIGNALS.len() }>(self.signals.as_fd()) {
            match Signal::try_from(signo) {
                Ok(Signal::SIGCHLD) => reap = true,
                Ok(Signal::SIGTERM | Signal::SIGINT) => events.push(Event::Terminate),
                Ok(Signal::SIGHUP) => events.push(Event::Letter(Letter::Reload)),
                Ok(_) | Err(_) => {}
            }
        }
        if reap {
            self.reap();
        }
        for e in events {
            if self.exit {
                break;
            }
            if e == Event::Terminate {
                self.log
                    .notice("received a termination signal: stopping the service, then exiting");
            }
            self.dispatch(e);
        }
    }

    /// Collects every exited child.
    fn reap(&mut self) {
        loop {
            let mut raw = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            let pid = Pid::from_raw(pid);
            let Some(how) = Exit::from_wait_status(raw) else {
                continue;
            };
            self.reaped.push(pid);
            match self.child.take_if(|c| c.pid == pid) {
                Some(c) => self.reaped_service(c, how),
                // A daemon the service started, re-parented to supervise.
                None if self.machine.pid() == Some(pid) => {
                    self.log_exit(how);
                    self.log.notice(format_args!("pid {pid} {how}"));
                    self.service_exited(pid, how);
                }
                None => {
                    let mut notes = Vec::new();
                    if self.checks.on_exit(pid, how, Instant::now(), &mut notes) {
                        self.on_notes(notes);
                    } else if !self.follow.reaped(pid) {
                        self.reaped_helper(pid, how);
                    }
                }
            }
        }
    }

    /// supervise's children that are not the service: helpers, the probe under way,
    /// and the process it started if that is no longer the main one.
    fn known_children(&self) -> Vec<Pid> {
        let mut known: Vec<Pid> = self.helpers.iter().map(Helper::pid).collect();
        known.extend(self.checks.probe_pid());
        known.extend(self.child.as_ref().map(|c| c.pid));
        known
    }

    /// The process supervise started ended: the service, or a forking daemon's
    /// launcher whose pidfile (or `MAINPID=`) names the main process now.
    fn reaped_service(&mut self, c: Child, how: Exit) {
        let pid = c.pid;
        if let Some(f) = c.failure() {
            self.log.warn(format_args!(
                "unable to start {}: {f}",
                self.spec.path().display()
            ));
        }
        let launcher = c.failure().is_none()
            && self.machine.pid() == Some(pid)
            && matches!(self.machine.phase(), Phase::Up { .. });
        if launcher
            && self
                .follow
                .launcher_exited(pid, how, self.config.ready_timeout, Instant::now())
        {
            self.log.notice(format_args!(
                "pid {pid} {how}: the main process is {}",
                self.follow.pidfile().map_or_else(
                    || "the one MAINPID= named".to_owned(),
                    |p| format!("in {}", p.display())
                )
            ));
            return self.on_follow_time();
        }
        if self.machine.pid() != Some(pid) {
            // Not the main process any more: its end is not the service's.
            self.log.notice(format_args!("pid {pid} {how}"));
            return;
        }
        self.log_exit(how);
        if c.failure().is_none() {
            self.log.notice(format_args!("pid {pid} {how}"));
        }
        self.service_exited(pid, how);
    }

    /// Looks at the pidfile, if it is time.
    fn on_follow_time(&mut self) {
        let known = self.known_children();
        match self
            .follow
            .on_time(Instant::now(), &known, self.service_uid)
        {
            None => {}
            Some(Found::Note(line)) => self.log.warn(line),
            Some(Found::Main(pid, line)) => {
                self.log.notice(line);
                self.take_main(pid);
                if self.config.ready == crate::ready::Ready::Now {
                    self.dispatch(Event::Ready);
                }
            }
            Some(Found::Nothing(launcher, how, line)) => {
                self.log.warn(line);
                self.log_exit(how);
                self.service_exited(launcher, how);
            }
        }
    }

    /// `pid` is the service's main process from now on.
    fn take_main(&mut self, pid: Pid) {
        if self.child.as_ref().is_none_or(|c| c.pid != pid) {
            self.follow.watch(pid);
        }
        self.checks.main_pid(pid);
        self.dispatch(Event::MainPid(pid));
    }

    /// What the checks found: readiness, failure, a new main process, lines.
    #[inline(never)]
    fn on_notes(&mut self, notes: Vec<Note>) {
        for note in notes {
            if self.exit {
                return;
            }
            match note {
                Note::Ready(how) => {
                    if self.machine.pid().is_some() && self.machine.ready_since().is_none() {
                        self.log.notice(format_args!("ready: {how}"));
                        self.dispatch(Event::Ready);
                    }
                }
                Note::Extend(d) => self.dispatch(Event::ExtendReady(d)),
                Note::MainPid(pid) => self.main_pid_told(pid),
                Note::Unhealthy(why) => {
                    self.check_detail = why;
                    self.dispatch(Event::Unhealthy);
                }
                Note::Log(line) => self.log.notice(line),
                Note::Warn(line) => self.log.warn(line),
            }
        }
    }

    /// `MAINPID=`: noted if it names a live process of the service, and taken as the
    /// main process when the process supervise started exits 0.
    fn main_pid_told(&mut self, pid: Pid) {
        let (Some(current), Some(started)) =
            (self.machine.pid(), self.child.as_ref().map(|c| c.pid))
        else {
            return;
        };
        if pid == current {
            return;
        }
        let known: Vec<Pid> = self
            .helpers
            .iter()
            .map(Helper::pid)
            .chain(self.checks.probe_pid())
            .collect();
        if crate::follow::of_service(pid, started, current, &known) {
            self.log.notice(format_args!(
                "MAINPID={pid}: the main process once pid {started} exits"
            ));
            self.follow.told(pid);
        } else {
            self.log.warn(format_args!(
                "notify: MAINPID={pid} ignored: not a live process of the service"
            ));
        }
    }

    /// Deadlines of the checks and the pidfile wait.
    #[inline(never)]
    fn on_check_time(&mut self) {
        let now = Instant::now();
        if self.follow.deadline().is_some_and(|t| t <= now) {
            self.on_follow_time();
        }
        if self.checks.deadline().is_none_or(|t| t > now) {
            return;
        }
        let mut notes = Vec::new();
        let (launch, stdin, nofile) = (&self.launch, &self.stdin, self.nofile);
        self.checks.on_time(
            now,
            |cmd, out| spawn_probe(launch, nofile, stdin, cmd, out),
            &mut notes,
        );
        self.on_notes(notes);
    }

    /// Keeps the checks in step with the machine: checks run while the service is
    /// up, readiness ones until it is ready, health ones after.
    fn sync_checks(&mut self) {
        match self.machine.phase() {
            Phase::Up { .. } => {
                if self.machine.ready_since().is_some() {
                    self.checks.now_ready(Instant::now());
                }
            }
            _ => self.checks.stopped(),
        }
    }

    /// The main process supervise did not start ended (an adopted service, a
    /// forking daemon); its exit status is known only if it was our child.
    #[inline(never)]
    fn on_main_end(&mut self) {
        let Some((pid, how)) = self.follow.ended() else {
            return;
        };
        if self.machine.pid() != Some(pid) {
            return;
        }
        self.log_exit(how);
        if self.machine.adopted() {
            self.log.notice(format_args!("adopted pid {pid} ended"));
        } else {
            self.log.notice(format_args!("pid {pid} {how}"));
        }
        self.service_exited(pid, how);
    }

    /// The legacy tool's lines for an exit of the service, which monitoring greps for
    /// (not with `-r`, as there).
    fn log_exit(&self, how: Exit) {
        if self.restart_script.is_none() {
            self.log.notice(if how.core_dumped() {
                "service exited with coredump!"
            } else {
                "service exited!"
            });
        }
    }

    /// Records an exit of the service and hands it to the machine; a restart that
    /// follows (now or after a wait) is announced as the legacy tool announced it.
    fn service_exited(&mut self, pid: Pid, how: Exit) {
        let at = SystemTime::now();
        // supervise's other children, the probe under way among them, are no strays.
        let mut known = self.known_children();
        known.extend(self.machine.pid());
        self.follow.forget(pid);
        self.checks.stopped();
        // A launcher that daemonized exits 0; a crash loop pays nothing for this.
        if how == Exit::Code(0) || self.follow.pidfile().is_some() {
            let stop = Signal::try_from(self.config.stop_signal).unwrap_or(Signal::SIGTERM);
            if let Some(line) = self.follow.round_up_strays(&known, stop) {
                self.log.warn(line);
            }
        }
        self.restart_due = true;
        self.dispatch(Event::Exited(pid, how));
        self.last_exit = Some(LastExit {
            how,
            at,
            pid: pid.as_raw().unsigned_abs(),
            asked: self.machine.last_exit_asked(),
        });
        if !matches!(self.machine.phase(), Phase::Waiting { .. }) {
            // Restarted already (the flag was used), or not to be restarted.
            self.restart_due = false;
        }
    }

    /// Reads the watcher; a relevant change starts or extends the debounce.
    #[inline(never)]
    fn on_watch(&mut self) {
        let Some(w) = &mut self.watch else {
            return;
        };
        if let Some(path) = w.read(&self.log) {
            self.last_change = Some(path);
            self.dispatch(Event::Changed);
        }
    }

    /// Reads and applies control letters, in order.
    #[inline(never)]
    fn on_control(&mut self) {
        let mut buf = [0u8; 1024];
        loop {
            let n = match self.dir.read_control(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.log.warn(format_args!("cannot read control: {e}"));
                    return;
                }
            };
            for item in control::parse(&buf[..n]) {
                if self.exit {
                    return;
                }
                match item {
                    Parsed::Letter(l) => {
                        if l == Letter::Exit && self.machine.pid().is_some() {
                            self.exit_after_service = true;
                        }
                        self.dispatch(Event::Letter(l));
                    }
                    Parsed::Unknown(b) => {
                        if let Some(line) = self.noise.note(b, Instant::now()) {
                            self.log.warn(line);
                        }
                    }
                }
            }
        }
    }

    /// Feeds one event to the machine and carries out its effects.
    #[inline(never)]
    fn dispatch(&mut self, event: Event) {
        let mut effects = Vec::new();
        self.machine.handle(event, Instant::now(), &mut effects);
        let mut gone = Vec::new();
        for effect in effects {
            match effect {
                Effect::Spawn => {
                    let outcome = self.spawn();
                    self.dispatch(outcome);
                }
                Effect::Signal(target, _) if self.follow.holds_back(target) => {}
                Effect::Signal(target, sig) => {
                    // One look at an empty group is enough: the rest of its signals
                    // and its KILL deadline are skipped.
                    if let Target::Leftovers(pgid) = target {
                        if gone.contains(&pgid) {
                            continue;
                        }
                        if self.signal(target, sig) == Sent::Gone {
                            gone.push(pgid);
                            self.dispatch(Event::GroupGone(pgid));
                        }
                    } else {
                        // Already logged if it matters.
                        let _ = self.signal(target, sig);
                    }
                }
                Effect::Alarm(a) => self.send_alarm(a),
                Effect::RestartScript(n) => self.run_restart_script(n),
                Effect::Reload => self.reload(),
                Effect::ChangeRestart => {
                    let what = self
                        .last_change
                        .as_ref()
                        .map_or_else(|| "a watched path".to_owned(), |p| p.display().to_string());
                    self.log.notice(format_args!(
                        "watch: {what} changed: restarting the service"
                    ));
                    self.watch_restart = Some((SystemTime::now(), what));
                }
                Effect::Failed(why) => self.on_failed(why),
                Effect::Exit => self.exit = true,
            }
        }
        self.sync_checks();
    }

    /// Starts the service; the outcome is the next event.
    fn spawn(&mut self) -> Event {
        if std::mem::take(&mut self.restart_due) {
            self.log.notice(format_args!(
                "supervise is trying to restart {}...",
                self.name
            ));
        }
        // Without its output files (a read-only or full status directory) the service
        // still runs: its output goes nowhere until the next start can open them.
        let fds = match self.output.for_child(self.dir.dir(), &self.log) {
            Ok(fds) => fds,
            Err(e) => {
                self.log.warn(format_args!(
                    "cannot set up the service's output in {}: {e}; this run's output goes \
                     to /dev/null",
                    self.dir.path().display()
                ));
                // Held open from the start: this needs no descriptor of its own.
                (self.stdin.as_fd(), self.stdin.as_fd())
            }
        };
        let (stdout, stderr): ChildFds<'_> = fds;
        // Never a second copy beside what the last run left behind.
        self.follow.kill_strays();
        let extra = match self.checks.before_spawn() {
            Ok(extra) => extra,
            Err(e) => {
                self.log.warn(format_args!(
                    "cannot make the readiness pipe: {e}; trying again in a second"
                ));
                return Event::SpawnFailed;
            }
        };
        // An event listener's stdin and stdout: a connection to its host.
        let conn = self.config.stdio_socket.as_ref().and_then(|p| {
            connect_unix(p)
                .map_err(|e| {
                    self.log.warn(format_args!(
                        "stdio_socket {}: cannot connect ({e}); stdin and stdout are /dev/null",
                        p.display()
                    ))
                })
                .ok()
        });
        let (stdin, stdout) = match &conn {
            Some(c) => (c.as_fd(), c.as_fd()),
            None => (self.stdin.as_fd(), stdout),
        };
        let stdio = Stdio {
            stdin,
            stdout,
            stderr,
            extra,
        };
        let spawned = child::spawn(&self.spec, stdio);
        drop(conn);
        match spawned {
            Ok(c) => {
                let pid = c.pid;
                self.child = Some(c);
                self.checks.started(pid, Instant::now());
                self.log.notice(format_args!("started pid {pid}"));
                Event::Spawned(pid)
            }
            Err(e) => {
                self.log.warn(format_args!(
                    "cannot start the service: {e}; trying again in a second"
                ));
                Event::SpawnFailed
            }
        }
    }

    /// Sends `sig`; a failure other than "no such process" is logged. The result says
    /// which it was, for [`Target::Leftovers`]: ESRCH means the group is gone.
    fn signal(&self, target: Target, sig: Signal) -> Sent {
        let sent = match target {
            Target::Leftovers(pgid) if self.reaped.contains(&pgid) => {
                kill::send_after_reap(target, sig)
            }
            _ => kill::send(target, sig),
        };
        match sent {
            Sent::Delivered | Sent::ProcessOnly | Sent::Gone => {}
            Sent::Refused => self.log.warn(format_args!(
                "refused to send {sig} to {target}: never to pid 0 or 1"
            )),
            Sent::Failed(e) => self
                .log
                .warn(format_args!("cannot send {sig} to {target}: {e}")),
        }
        sent
    }

    /// Re-reads the config; a bad file leaves the one in force untouched.
    fn reload(&mut self) {
        let prepared = config::load(&self.config_path, &self.name, false).and_then(|loaded| {
            match launch::prepare(&self.command_line, &loaded.config) {
                Ok(l) => Ok((loaded, l)),
                Err(e) => Err(config::LoadError(launch_error(
                    &self.config_path,
                    &loaded,
                    e,
                ))),
            }
        });
        match prepared {
            // As the legacy tool: a file that cannot be opened changes nothing.
            Ok((loaded, _)) if loaded.missing => {
                for w in &loaded.warnings {
                    self.log.warn(w);
                }
            }
            Ok((loaded, launch)) => {
                if let Err(e) = self.checks.reconfigure(
                    check_settings(&loaded.config),
                    self.dir.dir(),
                    &self.abs_dir,
                    Some(
                        launch
                            .ids
                            .as_ref()
                            .map_or_else(|| nix::unistd::geteuid().as_raw(), |i| i.uid),
                    ),
                ) {
                    self.log.warn(format_args!(
                        "cannot make the notification socket: {e}; the service cannot notify"
                    ));
                }
                self.follow.set_pidfile(loaded.config.pidfile.clone());
                self.spec = service_spec(&launch, self.nofile, &self.checks);
                self.launch = for_probes(launch, self.checks.settings());
                self.watch = start_watch(
                    &self.cli_watch,
                    &loaded.config,
                    self.watch.take(),
                    &self.abs_dir,
                    &self.log,
                );
                self.output.configure(output_settings(&loaded.config));
                self.output.reopen(self.dir.dir(), &self.log);
                for w in &loaded.warnings {
                    self.log.warn(w);
                }
                let (timing, policy) = settings(
                    &loaded.config,
                    self.restart_script.is_some(),
                    self.time_limit,
                );
                self.machine.configure(timing, policy);
                self.config = loaded.config;
                self.log.notice(LOADED);
                self.log.notice(format_args!(
                    "config reloaded from {}",
                    self.config_path.display()
                ));
            }
            Err(e) => self.log.warn(format_args!(
                "config not reloaded, the previous one stays: {e}"
            )),
        }
        // Reading and checking the config is start-up work run again.
        memory::release_start_up();
    }

    /// Starts the alarm sender, or says why there is nobody to tell.
    fn send_alarm(&mut self, a: Alarm) {
        let context = alarm::Context {
            host: self.host.clone(),
            service: self.name.clone(),
            dir: self.abs_dir.clone(),
            command: self.command.clone(),
            when: SystemTime::now(),
        };
        let subject = alarm::subject(&context, &a);
        if self.config.alarm_mail.is_empty() && self.config.alarm_gsm.is_empty() {
            self.log.warn(format_args!(
                "alarm with no alarm_mail or alarm_gsm to send it to: {subject}"
            ));
            return;
        }
        let Some(helper) = &self.alarm_helper else {
            self.log.warn(format_args!(
                "cannot send the alarm: {} is neither beside supervise nor on PATH: {subject}",
                alarm::HELPER
            ));
            return;
        };
        let job = alarm::Job {
            config: self.config.clone(),
            context,
            alarm: a,
            stderr_tail: alarm::tail_lines(self.dir.dir(), names::STDERR, alarm::STDERR_LINES),
            detail: match a.kind {
                alarm::Kind::Failed(crate::machine::Failure::Unhealthy) => {
                    self.check_detail.clone()
                }
                alarm::Kind::Failed(crate::machine::Failure::NotReady) => self.not_ready_text(),
                _ => String::new(),
            },
        };
        match self.spawn_helper(&Spec::new(helper), Some(job.encode().as_bytes()), false) {
            Ok(c) => {
                self.log
                    .notice(format_args!("alarm: {subject} (sending as pid {})", c.pid));
                self.helpers.push(Helper::Alarm(c, subject));
            }
            Err(e) => self.log.warn(format_args!(
                "cannot start {}: {e}: {subject}",
                alarm::HELPER
            )),
        }
    }

    /// Starts a helper (not the service): `input` on its stdin (a memfd, filled before
    /// the start: any size, and no pipe to wait on) or `/dev/null`; its standard output
    /// on `supervise.log` and its standard error on `supervise.log.wf`, or both on
    /// `supervise.log` when `one_log`.
    fn spawn_helper(&self, spec: &Spec, input: Option<&[u8]>, one_log: bool) -> io::Result<Child> {
        let memfd = input.map(memfd_with).transpose()?;
        let stdin = memfd.as_ref().map_or(self.stdin.as_fd(), |m| m.as_fd());
        let (out, err) = self.log.fds()?;
        child::spawn(
            spec,
            Stdio {
                stdin,
                stdout: out.as_fd(),
                stderr: if one_log { out.as_fd() } else { err.as_fd() },
                extra: None,
            },
        )
    }

    /// Starts `-r SCRIPT N` in the background, its output into supervise.log.
    fn run_restart_script(&mut self, n: u64) {
        let Some(script) = &self.restart_script else {
            return;
        };
        let program = Program {
            path: script.path.clone(),
            argv: vec![script.argv[0].clone(), n.to_string().into()],
        };
        match self.spawn_helper(&Spec::new(&program), None, true) {
            Ok(c) => {
                self.log.notice(format_args!(
                    "restart_cmd: {} {n} is called.",
                    script.argv[0].to_string_lossy()
                ));
                self.log.notice(format_args!(
                    "running restart script {} {n} (pid {})",
                    program.path.display(),
                    c.pid
                ));
                self.helpers.push(Helper::Script(c, n));
            }
            Err(e) => self.log.warn(format_args!(
                "cannot start the restart script {}: {e}",
                program.path.display()
            )),
        }
    }

    /// A helper ended: say so if it went wrong (an alarm sender logs its own errors).
    fn reaped_helper(&mut self, pid: Pid, how: Exit) {
        let Some(i) = self.helpers.iter().position(|h| h.pid() == pid) else {
            self.log
                .notice(format_args!("reaped orphan pid {pid} ({how})"));
            return;
        };
        match self.helpers.swap_remove(i) {
            Helper::Alarm(c, subject) => {
                if let Some(f) = c.failure() {
                    self.log.warn(format_args!(
                        "cannot start {}: {f}: {subject}",
                        alarm::HELPER
                    ));
                } else if how.signal() == Some(libc::SIGALRM) {
                    self.log.warn(format_args!(
                        "alarm not sent within alarm_timeout ({} s), abandoned: {subject}",
                        self.config.alarm_timeout.as_secs()
                    ));
                } else if how != Exit::Code(0) && how != Exit::Code(1) {
                    self.log.warn(format_args!("alarm sender {how}: {subject}"));
                }
            }
            Helper::Hook(c) => {
                match c.failure() {
                    Some(f) => self.log.warn(format_args!("on_change: {f}")),
                    None if how != Exit::Code(0) => self.log.warn(format_args!("on_change {how}")),
                    None => {}
                }
                if let Some(run) = self.hook.ended() {
                    self.run_hook(run);
                }
            }
            Helper::Script(c, n) => match c.failure() {
                Some(f) => self.log.warn(format_args!("restart script {n}: {f}")),
                None if how != Exit::Code(0) => {
                    self.log.warn(format_args!("restart script {n} {how}"))
                }
                None => {}
            },
        }
    }

    /// Rewrites `status`, then `state`, if what they say changed. Also stamps the
    /// time of a pid change, which is what `status` records.
    #[inline(never)]
    fn publish(&mut self) {
        let pid = self.machine.pid();
        let pid_changed = pid != self.published.pid;
        if pid_changed {
            self.since = SystemTime::now();
            self.published.pid = pid;
        }
        let bytes = status::encode(&Status {
            since: Tai64n::from_system_time(self.since),
            paused: self.machine.paused(),
            want: self.machine.want(),
            alarms: self.machine.alarms(),
            pid: pid.map_or(0, |p| p.as_raw().unsigned_abs()),
        });
        if self.published.status != Some(bytes) {
            let written = self
                .dir
                .write_atomic(names::STATUS_NEW, names::STATUS, &bytes);
            if self.note_write(0, names::STATUS, written) {
                self.published.status = Some(bytes);
            }
        }
        // After `status`: scripts wait on the pid there, the start time can wait.
        if pid_changed {
            let known = self
                .child
                .as_ref()
                .filter(|c| Some(c.pid) == pid)
                .and_then(Child::start_ticks);
            self.pid_start =
                known.or_else(|| pid.and_then(|p| proc::start_time(p.as_raw().unsigned_abs())));
        }
        if pid_changed {
            // A start defers the record (not past the first deferral's time: restarts
            // back to back still get it written); an end writes it now.
            let due = self.published.state_due;
            self.published.state_due = (pid.is_some() && !self.exit)
                .then(|| due.unwrap_or_else(|| Instant::now() + STATE_AFTER_START));
        }
        if self
            .published
            .state_due
            .is_some_and(|at| at > Instant::now() && !self.exit)
        {
            return self.schedule_retry();
        }
        self.published.state_due = None;
        let state = statefile::encode(&self.record());
        if self.published.state != state {
            let written = self
                .dir
                .write_atomic(names::STATE_NEW, names::STATE, state.as_bytes());
            if self.note_write(1, names::STATE, written) {
                self.published.state = state;
            }
        }
        self.schedule_retry();
    }

    fn schedule_retry(&mut self) {
        self.published.retry_at = self
            .published
            .failing
            .contains(&true)
            .then(|| Instant::now() + WRITE_RETRY);
    }

    /// The state as `on_change` is told it.
    fn hook_facts(&self) -> crate::hook::Facts {
        let state = match self.machine.phase() {
            Phase::Down if self.machine.gave_up().is_some() => "gave_up",
            Phase::Down => "down",
            Phase::Waiting {
                why: Wait::Throttle,
                ..
            } => "waiting",
            Phase::Waiting {
                why: Wait::Backoff, ..
            } => "backoff",
            Phase::Waiting {
                why: Wait::CoolDown,
                ..
            } => "cooldown",
            Phase::Up { .. } if self.machine.ready_since().is_none() => "starting",
            Phase::Up { .. } => "up",
            Phase::Stopping { .. } => "stopping",
        };
        crate::hook::Facts {
            state,
            pid: self.machine.pid().map(|p| p.as_raw().unsigned_abs()),
            exit: self.last_exit.map(|e| e.how),
            restarts: self.machine.starts().saturating_sub(1),
        }
    }

    /// Tells `on_change` of a change, if there is one and the command is set.
    fn observe_for_hook(&mut self) {
        if self.config.on_change.is_none() {
            return;
        }
        if let Some(run) = self.hook.observe(self.hook_facts()) {
            self.run_hook(run);
        }
    }

    /// Starts the `on_change` command for `run`, its output into `supervise.log`.
    fn run_hook(&mut self, run: crate::hook::Run) {
        let Some(cmd) = self.config.on_change.clone() else {
            return;
        };
        let program = crate::command::plan(&cmd)
            .map_err(|e| e.to_string())
            .and_then(|p| {
                Program::from_plan(p, std::env::var_os("PATH").as_deref())
                    .map_err(|e| e.to_string())
            });
        let program = match program {
            Ok(p) => p,
            Err(e) => {
                self.log.warn(format_args!("on_change: {e}"));
                return;
            }
        };
        let env = run
            .env(&self.name, &self.abs_dir.display().to_string())
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        match self.spawn_helper(&Spec::with_env(&program, env), None, true) {
            Ok(c) => {
                self.hook
                    .started(c.pid, Instant::now() + self.config.on_change_timeout);
                self.helpers.push(Helper::Hook(c));
            }
            Err(e) => {
                self.hook.failed_to_start();
                self.log
                    .warn(format_args!("on_change: cannot start it: {e}"));
            }
        }
    }

    /// Warns once per run of failures; says when writing works again.
    fn note_write(&mut self, which: usize, name: &str, result: io::Result<()>) -> bool {
        match result {
            Ok(()) => {
                if std::mem::take(&mut self.published.failing[which]) {
                    self.log.notice(format_args!("writing {name} works again"));
                }
                true
            }
            Err(e) => {
                if !std::mem::replace(&mut self.published.failing[which], true) {
                    self.log.warn(format_args!(
                        "cannot write {}: {e}; the service keeps running",
                        self.dir.path().join(name).display()
                    ));
                }
                false
            }
        }
    }

    fn record(&self) -> Record {
        let (phase, next_start) = match self.machine.phase() {
            Phase::Down => (statefile::Phase::Down, None),
            Phase::Waiting {
                at,
                why: Wait::Throttle,
            } => (statefile::Phase::Waiting, Some(self.clock.wall(at))),
            Phase::Waiting {
                at,
                why: Wait::CoolDown,
            } => (statefile::Phase::CoolDown, Some(self.clock.wall(at))),
            Phase::Waiting {
                at,
                why: Wait::Backoff,
            } => (statefile::Phase::Backoff, Some(self.clock.wall(at))),
            Phase::Up { .. } => (statefile::Phase::Up, None),
            Phase::Stopping { .. } => (statefile::Phase::Stopping, None),
        };
        Record {
            supervise_pid: self.me,
            service: self.name.clone(),
            command: self.command.clone(),
            phase,
            want: self.machine.want(),
            pid: self.machine.pid().map_or(0, |p| p.as_raw().unsigned_abs()),
            pid_start: self.pid_start,
            since: self.since,
            starts: self.machine.starts(),
            next_start,
            last_exit: self.last_exit.map(|e| LastExit {
                asked: self.machine.last_exit_asked(),
                ..e
            }),
            window_exits: self
                .config
                .alarms_enabled()
                .then(|| self.machine.window_exits() as u64),
            gave_up: self.machine.gave_up().map(|g| describe_give_up(&g)),
            backoff: (!self.machine.backoff().is_zero()).then(|| self.machine.backoff()),
            adopted: self.machine.adopted(),
            watch: self
                .watch
                .as_ref()
                .map(|w| w.paths().map(|p| p.display().to_string()).collect())
                .unwrap_or_default(),
            watch_restart: self.watch_restart.clone(),
            readiness: self.readiness(),
            ready_since: self
                .machine
                .ready_since()
                .filter(|_| self.readiness().is_some())
                .map(|t| self.clock.wall(t)),
            status_text: Some(self.checks.status_text.clone()).filter(|t| !t.is_empty()),
            health: self
                .checks
                .last_health
                .as_ref()
                .map(|h| (h.at, h.passed, h.said.clone())),
            last_failure: self.last_failure.clone(),
            failed_starts: self.machine.failed_starts(),
        }
    }

    /// Supervise is stopping the service itself: said in the log and the state.
    fn on_failed(&mut self, why: crate::machine::Failure) {
        let line = match why {
            crate::machine::Failure::NotReady => self.not_ready_text(),
            crate::machine::Failure::Unhealthy => format!("unhealthy: {}", self.check_detail),
        };
        self.log
            .warn(format_args!("{line}: stopping it, to start again"));
        self.last_failure = Some(line);
    }

    fn not_ready_text(&self) -> String {
        format!(
            "not ready within ready_timeout ({} s; ready: {})",
            self.config.ready_timeout.as_secs(),
            self.readiness().unwrap_or_else(|| "none".into())
        )
    }

    /// How readiness is told, when not at once: the `ready` key, or a forking
    /// daemon's pidfile.
    fn readiness(&self) -> Option<String> {
        match (&self.config.ready, &self.config.pidfile) {
            (crate::ready::Ready::Now, Some(p)) => Some(format!("pidfile {}", p.display())),
            (crate::ready::Ready::Now, None) => None,
            (r, _) => Some(r.to_string()),
        }
    }
}

/// A connection to the Unix socket at `path` that never blocks supervise (a host
/// with a full backlog is a failure, not a wait), handed over blocking, as a
/// service's stdin and stdout expect.
fn connect_unix(path: &std::path::Path) -> io::Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &UnixAddr::new(path)?)?;
    nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )?;
    Ok(fd)
}

/// supervise's own notification settings (systemd's, when it runs under systemd):
/// never the service's or a probe's.
const NOT_PASSED_ON: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// The launch's environment without supervise's own notification settings.
fn passed_on(launch: &launch::Launch) -> impl Iterator<Item = (&OsStr, &OsStr)> {
    child::pairs(&launch.env).filter(|(k, _)| !NOT_PASSED_ON.iter().any(|o| k == o))
}

/// What of the launch supervise keeps after the service's start is made from it:
/// all of it for `exec` probes, which run as the service does; without one in the
/// checks in force (after a reload whose checks could not be set up, the old ones),
/// not the environment, which the start holds already (a copy less for supervise's
/// life).
fn for_probes(mut launch: launch::Launch, checks: &checks::Settings) -> launch::Launch {
    let exec = |c: &crate::ready::Check| matches!(c, crate::ready::Check::Exec(_));
    let ready = matches!(&checks.ready, crate::ready::Ready::Probe(c) if exec(c));
    if !ready && !checks.health.as_ref().is_some_and(exec) {
        launch.env = Vec::new();
    }
    launch
}

/// The service's start, with the descriptor limit supervise was given when it raised
/// its own.
fn service_spec(launch: &launch::Launch, nofile: Option<u64>, checks: &Checks) -> Spec {
    // supervise's own notification socket (systemd's, when it runs under systemd) is
    // not the service's: only the service's own, if it has one.
    let own = checks.env();
    let env = passed_on(launch).chain(own.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))));
    let mut spec = Spec::for_launch(launch, env);
    if let Some(soft) = nofile {
        spec.restore_nofile(soft);
    }
    spec
}

/// The check settings from the config.
fn check_settings(cfg: &Config) -> checks::Settings {
    checks::Settings {
        ready: cfg.ready.clone(),
        ready_interval: cfg.ready_interval,
        probe_timeout: cfg.probe_timeout,
        health: cfg.health.clone(),
        health_interval: cfg.health_interval,
        health_failures: cfg.health_failures,
        watchdog: cfg.watchdog,
    }
}

/// Starts an `exec` probe as the service starts (its user, environment, directory
/// and limits), its output on `out`.
fn spawn_probe(
    launch: &launch::Launch,
    nofile: Option<u64>,
    stdin: &File,
    cmd: &str,
    out: std::os::fd::BorrowedFd<'_>,
) -> io::Result<Child> {
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
    let plan = crate::command::plan(cmd).map_err(|e| invalid(e.to_string()))?;
    let path = launch
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let program = Program::from_plan(plan, path).map_err(|e| invalid(e.to_string()))?;
    let probe = launch::Launch {
        program,
        env: Vec::new(),
        dir: launch.dir.clone(),
        umask: launch.umask,
        limits: launch.limits.clone(),
        ids: launch.ids.clone(),
    };
    let mut spec = Spec::for_launch(&probe, passed_on(launch));
    if let Some(soft) = nofile {
        spec.restore_nofile(soft);
    }
    child::spawn(
        &spec,
        Stdio {
            stdin: stdin.as_fd(),
            stdout: out,
            stderr: out,
            extra: None,
        },
    )
}

/// Another supervise holds the directory. Running the same command there is what
/// was asked, so it is success, silently (a cron line or a `set -e` deploy script
/// that makes sure a service runs); another command is an error that names the pid
/// and what it runs, and leaves the legacy tool's line in `supervise.log.wf`.
fn already_supervised(opts: &Options, pid: Option<u32>) -> Fatal {
    let running = crate::client::open(&opts.dir)
        .ok()
        .and_then(|d| crate::client::read_state(&d))
        .and_then(Result::ok)
        .filter(|r| pid.is_none_or(|p| p == r.supervise_pid));
    let wanted = opts.command.display();
    match running {
        Some(r) if r.command == wanted => fatal(0, ""),
        other => {
            let what = other.map_or_else(String::new, |r| format!(" running {}", r.command));
            let who = pid.map_or_else(
                || "another process".to_owned(),
                |p| format!("supervise pid {p}"),
            );
            let lock = opts.dir.join(names::LOCK);
            if let Ok(d) = crate::client::open(&opts.dir) {
                // Its mode is the other supervise's to set.
                let mode = d
                    .stat_of(names::LOG_WF)
                    .map_or(0o600, |st| st.st_mode & 0o777);
                if let Ok(mut wf) = d.open_write(names::LOG_WF, true, mode) {
                    let line = crate::log::format_line(
                        crate::log::Level::Fatal,
                        &crate::log::now_local(),
                        &format_args!(
                            "Unable to acquier {} ({who}{what} holds it)",
                            lock.display()
                        ),
                    );
                    let _ = wf.write_all(line.as_bytes());
                }
            }
            fatal(
                EXIT_SETUP,
                format!(
                    "{}: already supervised by {who}{what} (it holds the lock)",
                    opts.dir.display()
                ),
            )
        }
    }
}

/// A memory file holding `bytes`, read from its start: a helper's input of any size.
fn memfd_with(bytes: &[u8]) -> io::Result<File> {
    // SAFETY: memfd_create with a constant name returns a new descriptor or -1.
    let fd = unsafe { libc::memfd_create(c"supervise-job".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we now own.
    let mut f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    f.write_all(bytes)?;
    std::io::Seek::rewind(&mut f)?;
    Ok(f)
}

/// The poll timeout for a deadline, rounded up so that we never wake just before it.
fn timeout_until(deadline: Option<Instant>) -> PollTimeout {
    let Some(at) = deadline else {
        return PollTimeout::NONE;
    };
    let left = at.saturating_duration_since(Instant::now());
    let ms = left.as_micros().div_ceil(1000);
    PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
}

/// A launch error, with the file and line of the config key behind it when there is
/// one: `supervise.conf:7: user "bob" does not exist`.
fn launch_error(path: &std::path::Path, loaded: &config::Loaded, e: launch::LaunchError) -> String {
    match e.key.and_then(|k| loaded.line_of(k)) {
        Some(line) => format!("{}:{line}: {}", path.display(), e.message),
        None => e.message,
    }
}

/// "gave up after 3 restarts in 2 seconds (max_tries)".
fn describe_give_up(g: &GaveUp) -> String {
    format!(
        "{} ({})",
        policy::gave_up_text(g.exits, g.span),
        g.because.key()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timeouts_round_up_and_none_waits_for_ever() {
        assert_eq!(timeout_until(None), PollTimeout::NONE);
        let soon = Instant::now() + Duration::from_micros(1500);
        let t: i32 = timeout_until(Some(soon)).into();
        assert!((1..=2).contains(&t), "{t}");
        let past = Instant::now() - Duration::from_secs(1);
        assert_eq!(i32::from(timeout_until(Some(past))), 0);
    }

    #[test]
    fn clock_maps_deadlines_consistently() {
        let c = Clock::now();
        let at = c.mono + Duration::from_secs(3);
        assert_eq!(c.wall(at), c.wall + Duration::from_secs(3));
        assert_eq!(c.wall(at), c.wall(at));
    }
}
