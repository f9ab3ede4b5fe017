//! The config file (SPEC §6): syntax, the legacy section rules, and typed values.
//!
//! Reading happens in three pure steps, each tested on its own:
//! 1. [`syntax::parse`]: bytes → sections of `key : value` lines, leniently: a line
//!    that cannot be read is a warning, never fatal;
//! 2. [`select::select`]: the legacy rules pick which lines apply to a service — its
//!    own section alone if it comes before `[global]`, else `[global]` with a later
//!    own section overriding it key by key (an empty value or a legacy count of 0
//!    keeps the global one; mail and gsm lists add up);
//! 3. [`Config::from_entries`]: typed values, with a warning for each unknown key; a
//!    bad value for a key that applies is the only error.
//!
//! [`load`] does the I/O around them. Every error and warning names the file and the
//! line. The vocabulary (sections, entries, errors) is [`crate::ini`]'s, shared with
//! the supervisord reader of the host level.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod select;
pub mod syntax;

pub use crate::ini::{Entry, LineError, Section};
pub use select::{APPENDING_KEYS, select};
pub use syntax::parse;

/// An error or warning at `line`; [`load`] names the file.
fn err(line: usize, message: impl Into<String>) -> LineError {
    LineError::new("", line, message)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// What supervise does once a crash loop passes a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// Send the final alarm and exit (the legacy behaviour).
    Exit,
    /// Send the final alarm, keep the service down for `give_up_cool_down`, then try
    /// again with a fresh window.
    CoolDown,
    /// Send the final alarm and keep the service down until `u` (supervisord's FATAL:
    /// supervise stays, to be asked).
    Down,
}

impl GiveUp {
    /// The word in the config and the alarm job.
    pub fn name(self) -> &'static str {
        match self {
            GiveUp::Exit => "exit",
            GiveUp::CoolDown => "cool_down",
            GiveUp::Down => "down",
        }
    }

    /// The inverse of [`GiveUp::name`].
    pub fn from_name(s: &str) -> Option<GiveUp> {
        [GiveUp::Exit, GiveUp::CoolDown, GiveUp::Down]
            .into_iter()
            .find(|g| g.name() == s)
    }
}

/// How the wait between failed starts grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// 1, 2, 4, 8 ... seconds.
    Double,
    /// 1, 2, 3, 4 ... seconds (supervisord's).
    Linear,
}

/// When to restart a service that exited on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always (the legacy behaviour).
    Always,
    /// Only if it failed: an exit code not in `success_exit_codes`, or a signal.
    OnFailure,
    /// Never: run it once per `u`.
    Never,
}

/// A resource limit the service starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// The `RLIMIT_*` resource.
    pub resource: i32,
    /// The soft and hard value; `None` for unlimited.
    pub value: Option<u64>,
}

/// The `limit_*` keys and their resources.
pub const LIMIT_KEYS: &[(&str, i32)] = &[
    ("limit_nofile", libc::RLIMIT_NOFILE as i32),
    ("limit_core", libc::RLIMIT_CORE as i32),
    ("limit_nproc", libc::RLIMIT_NPROC as i32),
    ("limit_as", libc::RLIMIT_AS as i32),
    ("limit_data", libc::RLIMIT_DATA as i32),
    ("limit_stack", libc::RLIMIT_STACK as i32),
    ("limit_memlock", libc::RLIMIT_MEMLOCK as i32),
    ("limit_fsize", libc::RLIMIT_FSIZE as i32),
    ("limit_cpu", libc::RLIMIT_CPU as i32),
];

/// Everything the config file sets, with defaults for what it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The crash window; zero turns alarms and limits off.
    pub alarm_interval: Duration,
    /// Mail recipients.
    pub alarm_mail: Vec<String>,
    /// Phone numbers for SMS alarms.
    pub alarm_gsm: Vec<String>,
    /// Restarts allowed in a window (0: no limit).
    pub max_tries: u32,
    /// Core-dumping exits allowed in a window (0: no limit).
    pub max_tries_if_coredumped: u32,
    /// The SMTP relay URL; `None` uses the local sendmail.
    pub alarm_smtp: Option<String>,
    /// A PEM file of extra root certificates to trust for the relay.
    pub alarm_smtp_ca: Option<PathBuf>,
    /// The sender address; `None` means `supervise@HOSTNAME`.
    pub alarm_from: Option<String>,
    /// The sendmail program when no relay is set.
    pub alarm_sendmail: PathBuf,
    /// The SMS command as a word template: `{number}` and `{message}` are replaced.
    pub alarm_gsm_command: Vec<String>,
    /// How long an alarm may take to send before it is abandoned.
    pub alarm_timeout: Duration,
    /// What to do past a limit.
    pub give_up: GiveUp,
    /// How long a gave-up service stays down in [`GiveUp::CoolDown`].
    pub give_up_cool_down: Duration,
    /// Give up after this many failed starts in a row (runs shorter than
    /// `start_success`), whatever the windows say; `None`: never.
    pub start_retries: Option<u32>,
    /// How the wait between failed starts grows.
    pub backoff: Backoff,
    /// The stop signal goes to the service's whole process group (else to its main
    /// process only).
    pub stop_group: bool,
    /// The KILL after `stop_timeout` goes to the whole group (else to the main process).
    pub kill_group: bool,
    /// The signal that asks the service to stop (`d`, `x`, SIGTERM to supervise).
    pub stop_signal: i32,
    /// How long a stopping service has before KILL.
    pub stop_timeout: Duration,
    /// Whether the plain signal letters (`h a i t k q 1 2`, `p`, `c`) go to the
    /// service's whole process group rather than its main process.
    pub signal_group: bool,
    /// When to restart.
    pub restart: Restart,
    /// Exit codes that count as success.
    pub success_exit_codes: Vec<i32>,
    /// The least time between two starts (the legacy tool's one second).
    pub restart_throttle: Duration,
    /// A run shorter than this is a failed start, and the next waits longer.
    pub start_success: Duration,
    /// The longest wait between failed starts.
    pub backoff_max: Duration,
    /// The user to run the service as.
    pub user: Option<String>,
    /// The group to run it as (default: the user's).
    pub group: Option<String>,
    /// Its working directory.
    pub directory: Option<PathBuf>,
    /// Variables to set, in order.
    pub env: Vec<(String, String)>,
    /// Variables to remove.
    pub env_unset: Vec<String>,
    /// Its umask.
    pub umask: Option<u32>,
    /// Its resource limits.
    pub limits: Vec<Rlimit>,
    /// Rotate `__stdout` and `__stderr` when they pass this many bytes (0: never).
    pub log_max_size: u64,
    /// How many rotated files to keep (`__stdout.1` ...).
    pub log_backups: u32,
    /// Send the service's stderr to `__stdout` too.
    pub stderr_to_stdout: bool,
    /// Put a timestamp before every line of output.
    pub log_timestamps: bool,
    /// The mode of `__stdout`, `__stderr` and supervise's two logs.
    pub log_mode: u32,
    /// Where the service's stdout goes (default: `__stdout`).
    pub stdout_file: crate::output::Sink,
    /// Where its stderr goes (default: `__stderr`).
    pub stderr_file: crate::output::Sink,
    /// Text put before every line of output.
    pub log_prefix: Option<String>,
    /// How readiness is learnt.
    pub ready: crate::ready::Ready,
    /// A start not ready within this is a failed start (zero: no limit).
    pub ready_timeout: Duration,
    /// How often a readiness probe is tried until it succeeds.
    pub ready_interval: Duration,
    /// How long one probe (readiness or health) may take.
    pub probe_timeout: Duration,
    /// `notify`: the keep-alive interval (`WATCHDOG=1`); zero: none.
    pub watchdog: Duration,
    /// The health check while the service runs.
    pub health: Option<crate::ready::Check>,
    /// How often it runs.
    pub health_interval: Duration,
    /// This many failures in a row restart the service.
    pub health_failures: u32,
    /// A daemon that forks: where it writes its main pid.
    pub pidfile: Option<PathBuf>,
    /// A command run after each change of the service's state.
    pub on_change: Option<String>,
    /// How long it may run before it is killed.
    pub on_change_timeout: Duration,
    /// A Unix socket the service's stdin and stdout are connected to at each start
    /// (supervise-host's event listeners speak supervisord's protocol through it).
    pub stdio_socket: Option<PathBuf>,
    /// Paths whose changes restart the service.
    pub watch: Vec<PathBuf>,
    /// Glob patterns of paths a watch ignores.
    pub watch_exclude: Vec<String>,
    /// How long a burst of changes must be quiet before the restart.
    pub watch_debounce: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            alarm_interval: Duration::ZERO,
            alarm_mail: Vec::new(),
            alarm_gsm: Vec::new(),
            max_tries: 0,
            max_tries_if_coredumped: 0,
            alarm_smtp: None,
            alarm_smtp_ca: None,
            alarm_from: None,
            alarm_sendmail: PathBuf::from("/usr/sbin/sendmail"),
            alarm_gsm_command: vec!["gsmsend-script".into(), "{number}@{message}".into()],
            alarm_timeout: Duration::from_secs(30),
            give_up: GiveUp::Exit,
            give_up_cool_down: Duration::from_secs(600),
            start_retries: None,
            backoff: Backoff::Double,
            stop_group: true,
            kill_group: true,
            stop_signal: libc::SIGTERM,
            stop_timeout: Duration::from_secs(10),
            signal_group: false,
            restart: Restart::Always,
            success_exit_codes: vec![0],
            restart_throttle: Duration::from_secs(1),
            // The legacy pacing: a start a second after the last, for ever.
            start_success: Duration::ZERO,
            backoff_max: Duration::from_secs(60),
            user: None,
            group: None,
            directory: None,
            env: Vec::new(),
            env_unset: Vec::new(),
            umask: None,
            limits: Vec::new(),
            log_max_size: 0,
            log_backups: 5,
            stderr_to_stdout: false,
            log_timestamps: false,
            log_mode: 0o600,
            stdout_file: crate::output::Sink::Status,
            stderr_file: crate::output::Sink::Status,
            log_prefix: None,
            ready: crate::ready::Ready::Now,
            ready_timeout: Duration::from_secs(60),
            ready_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(2),
            watchdog: Duration::ZERO,
            health: None,
            health_interval: Duration::from_secs(10),
            health_failures: 3,
            pidfile: None,
            on_change: None,
            on_change_timeout: Duration::from_secs(10),
            stdio_socket: None,
            watch: Vec::new(),
            watch_exclude: Vec::new(),
            watch_debounce: Duration::from_millis(300),
        }
    }
}

/// Every key this version knows.
pub const KEYS: &[&str] = &[
    "alarm_interval",
    "alarm_mail",
    "alarm_gsm",
    "max_tries",
    "max_tries_if_coredumped",
    "alarm_smtp",
    "alarm_smtp_ca",
    "alarm_from",
    "alarm_sendmail",
    "alarm_gsm_command",
    "alarm_timeout",
    "give_up",
    "give_up_cool_down",
    "start_retries",
    "backoff",
    "stop_group",
    "kill_group",
    "stop_signal",
    "stop_timeout",
    "signal_group",
    "restart",
    "success_exit_codes",
    "restart_throttle",
    "start_success",
    "backoff_max",
    "user",
    "group",
    "directory",
    "env",
    "env_unset",
    "umask",
    "limit_nofile",
    "limit_core",
    "limit_nproc",
    "limit_as",
    "limit_data",
    "limit_stack",
    "limit_memlock",
    "limit_fsize",
    "limit_cpu",
    "log_max_size",
    "log_backups",
    "stderr_to_stdout",
    "log_timestamps",
    "log_mode",
    "stdout_file",
    "stderr_file",
    "log_prefix",
    "ready",
    "ready_timeout",
    "ready_interval",
    "probe_timeout",
    "watchdog",
    "health",
    "health_interval",
    "health_failures",
    "pidfile",
    "on_change",
    "on_change_timeout",
    "stdio_socket",
    "watch",
    "watch_exclude",
    "watch_debounce",
];

/// Most phone numbers `alarm_gsm` takes, as in the legacy tool.
pub const MAX_GSM: usize = 10;

fn whole(e: &Entry) -> Result<u64, LineError> {
    if e.value.is_empty() {
        return Ok(0);
    }
    e.value.parse().map_err(|_| {
        err(
            e.line,
            format!("{}: {:?} is not a whole number", e.key, e.value),
        )
    })
}

/// The longest duration a key may give: long past any sensible setting, far from
/// where adding it to a clock could overflow.
pub const MAX_SECONDS: u64 = 1_000_000_000;

fn seconds(e: &Entry) -> Result<Duration, LineError> {
    let n = whole(e)?;
    if n > MAX_SECONDS {
        return Err(err(
            e.line,
            format!("{}: {n} is more than {MAX_SECONDS} seconds", e.key),
        ));
    }
    Ok(Duration::from_secs(n))
}

/// A count of the legacy keys: `-1` (which the legacy tool read as 2^32 - 1) is the
/// largest.
fn legacy_count(e: &Entry) -> Result<u32, LineError> {
    if e.value == "-1" {
        return Ok(u32::MAX);
    }
    count(e)
}

fn count(e: &Entry) -> Result<u32, LineError> {
    let n = whole(e)?;
    u32::try_from(n).map_err(|_| err(e.line, format!("{}: {n} is too large", e.key)))
}

/// Seconds with an optional fraction (`0.3`), for the sub-second keys.
fn fraction_seconds(e: &Entry) -> Result<Duration, LineError> {
    e.value
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0 && *x <= MAX_SECONDS as f64)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            err(
                e.line,
                format!("{}: {:?} is not a number of seconds", e.key, e.value),
            )
        })
}

/// Seconds above zero (an interval).
fn positive_seconds(e: &Entry) -> Result<Duration, LineError> {
    let d = fraction_seconds(e)?;
    if d < Duration::from_millis(10) {
        return Err(err(e.line, format!("{}: at least 0.01 seconds", e.key)));
    }
    Ok(d)
}

fn boolean(e: &Entry) -> Result<bool, LineError> {
    match e.value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" | "" => Ok(false),
        _ => Err(err(
            e.line,
            format!("{}: {:?} is neither yes nor no", e.key, e.value),
        )),
    }
}

/// A size in bytes with an optional k, M or G suffix (powers of 1024).
fn size(e: &Entry) -> Result<u64, LineError> {
    let v = e.value.trim();
    let (digits, mult) = match v.char_indices().last() {
        Some((i, 'k' | 'K')) => (&v[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&v[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&v[..i], 1 << 30),
        _ => (v, 1),
    };
    if v.is_empty() {
        return Ok(0);
    }
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| {
            err(
                e.line,
                format!(
                    "{}: {:?} is not a size (bytes, or with k, M, G)",
                    e.key, e.value
                ),
            )
        })
}

/// An octal mode for the output files and logs: the owner must keep read and write
/// (supervise writes them), and only reading may be given to others.
fn log_mode(e: &Entry) -> Result<u32, LineError> {
    u32::from_str_radix(&e.value, 8)
        .ok()
        .filter(|m| m & !0o644 == 0 && m & 0o600 == 0o600)
        .ok_or_else(|| {
            err(
                e.line,
                format!(
                    "log_mode: {:?} is not an octal mode between 0600 and 0644 (owner \
                     read-write, others read at most)",
                    e.value
                ),
            )
        })
}

/// A signal by name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

fn words(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
}

/// A mail address as the mail library that sends it reads one, or a local alias
/// (`ops`: letters, digits, `.`, `_`, `+`, `-`; delivered as `ops@localhost`, which a
/// local mailer expands as its aliases say): checked here, at load, so that one bad
/// address is a config error with its line rather than a mail that reaches nobody.
fn check_address(e: &Entry, a: &str) -> Result<(), LineError> {
    if is_alias(a) {
        return Ok(());
    }
    a.parse::<lettre::Address>().map(|_| ()).map_err(|why| {
        err(
            e.line,
            format!("{}: {a:?} is not a mail address ({why})", e.key),
        )
    })
}

/// A local mail alias: a word a local mailer knows, with no `@`.
pub fn is_alias(a: &str) -> bool {
    !a.is_empty()
        && !a.starts_with(['-', '.'])
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
}

impl Config {
    /// Builds the config from the selected entries; unknown keys become warnings.
    pub fn from_entries(entries: &[Entry]) -> Result<(Config, Vec<LineError>), LineError> {
        let mut c = Config::default();
        let mut warnings = Vec::new();
        for e in entries {
            match e.key.as_str() {
                "alarm_interval" => {
                    let secs = if e.value == "-1" {
                        Duration::from_secs(MAX_SECONDS)
                    } else {
                        seconds(e)?
                    };
                    // The legacy tool counts anything below a minute as a minute.
                    c.alarm_interval = if secs.is_zero() {
                        secs
                    } else {
                        secs.max(Duration::from_secs(60))
                    };
                }
                "alarm_mail" => {
                    for a in words(&e.value) {
                        check_address(e, &a)?;
                        if !c.alarm_mail.contains(&a) {
                            c.alarm_mail.push(a);
                        }
                    }
                }
                "alarm_gsm" => {
                    // Each entry goes to the SMS command as it is (numbers, group
                    // names, bytes); lines add up, to at most MAX_GSM.
                    for n in words(&e.value) {
                        if c.alarm_gsm.len() == MAX_GSM {
                            warnings.push(err(
                                e.line,
                                format!("alarm_gsm: more than {MAX_GSM} entries; the rest ignored"),
                            ));
                            break;
                        }
                        c.alarm_gsm.push(n);
                    }
                }
                "max_tries" => c.max_tries = legacy_count(e)?,
                "max_tries_if_coredumped" => c.max_tries_if_coredumped = legacy_count(e)?,
                "alarm_smtp" => {
                    c.alarm_smtp = if e.value.is_empty() {
                        None
                    } else if e.value.starts_with("smtp://") || e.value.starts_with("smtps://") {
                        Some(e.value.clone())
                    } else {
                        return Err(err(
                            e.line,
                            format!(
                                "alarm_smtp: {:?} is not smtp://[user:pass@]host[:port] or smtps://...",
                                e.value
                            ),
                        ));
                    };
                }
                "alarm_smtp_ca" => {
                    c.alarm_smtp_ca = (!e.value.is_empty()).then(|| PathBuf::from(&e.value));
                }
                "alarm_from" => {
                    c.alarm_from = if e.value.is_empty() {
                        None
                    } else {
                        check_address(e, &e.value)?;
                        Some(e.value.clone())
                    };
                }
                "alarm_sendmail" => {
                    if e.value.is_empty() {
                        return Err(err(
                            e.line,
                            "alarm_sendmail: empty; give the sendmail program",
                        ));
                    }
                    c.alarm_sendmail = PathBuf::from(&e.value);
                }
                "alarm_gsm_command" => {
                    let w: Vec<String> = words(&e.value).collect();
                    if w.is_empty() {
                        return Err(err(
                            e.line,
                            "alarm_gsm_command: empty; give a program and its arguments",
                        ));
                    }
                    c.alarm_gsm_command = w;
                }
                "alarm_timeout" => {
                    c.alarm_timeout = seconds(e)?;
                    if c.alarm_timeout.is_zero() {
                        return Err(err(e.line, "alarm_timeout: must be at least 1 second"));
                    }
                }
                "give_up" => {
                    c.give_up = GiveUp::from_name(&e.value).ok_or_else(|| {
                        err(
                            e.line,
                            format!("give_up: {:?} is not exit, cool_down or down", e.value),
                        )
                    })?;
                }
                // Empty: no limit, as the shipped example says.
                "start_retries" => {
                    c.start_retries = (!e.value.is_empty()).then(|| count(e)).transpose()?
                }
                "backoff" => {
                    c.backoff = match e.value.as_str() {
                        "double" => Backoff::Double,
                        "linear" => Backoff::Linear,
                        other => {
                            return Err(err(
                                e.line,
                                format!("backoff: {other:?} is neither double nor linear"),
                            ));
                        }
                    }
                }
                "stop_group" => c.stop_group = boolean(e)?,
                "kill_group" => c.kill_group = boolean(e)?,
                "give_up_cool_down" => c.give_up_cool_down = seconds(e)?,
                "stop_signal" => {
                    c.stop_signal = parse_signal(&e.value).ok_or_else(|| {
                        err(
                            e.line,
                            format!("stop_signal: {:?} is not a signal", e.value),
                        )
                    })?;
                }
                "stop_timeout" => c.stop_timeout = fraction_seconds(e)?,
                "signal_group" => c.signal_group = boolean(e)?,
                "restart" => {
                    c.restart = match e.value.as_str() {
                        "always" => Restart::Always,
                        "on-failure" | "on_failure" => Restart::OnFailure,
                        "never" => Restart::Never,
                        other => {
                            return Err(err(
                                e.line,
                                format!("restart: {other:?} is not always, on-failure or never"),
                            ));
                        }
                    }
                }
                "success_exit_codes" => {
                    c.success_exit_codes = words(&e.value)
                        .map(|w| {
                            w.parse::<i32>()
                                .ok()
                                .filter(|n| (0..=255).contains(n))
                                .ok_or_else(|| {
                                    err(
                                        e.line,
                                        format!("success_exit_codes: {w:?} is not an exit code"),
                                    )
                                })
                        })
                        .collect::<Result<_, _>>()?;
                }
                "restart_throttle" => c.restart_throttle = fraction_seconds(e)?,
                "start_success" => c.start_success = fraction_seconds(e)?,
                "backoff_max" => c.backoff_max = fraction_seconds(e)?,
                "user" => c.user = (!e.value.is_empty()).then(|| e.value.clone()),
                "group" => c.group = (!e.value.is_empty()).then(|| e.value.clone()),
                "directory" => c.directory = (!e.value.is_empty()).then(|| PathBuf::from(&e.value)),
                "env" => {
                    let (k, v) = e.value.split_once('=').ok_or_else(|| {
                        err(e.line, format!("env: {:?} is not NAME=VALUE", e.value))
                    })?;
                    if k.is_empty() || !k.chars().all(is_key_char) {
                        return Err(err(e.line, format!("env: {k:?} is not a variable name")));
                    }
                    c.env.retain(|(name, _)| name != k);
                    c.env.push((k.to_owned(), v.to_owned()));
                }
                "env_unset" => c.env_unset.extend(words(&e.value)),
                "umask" => {
                    c.umask = if e.value.is_empty() {
                        None
                    } else {
                        Some(
                            u32::from_str_radix(&e.value, 8)
                                .ok()
                                .filter(|m| *m <= 0o777)
                                .ok_or_else(|| {
                                    err(
                                        e.line,
                                        format!("umask: {:?} is not an octal mask", e.value),
                                    )
                                })?,
                        )
                    };
                }
                key if key.starts_with("limit_") && LIMIT_KEYS.iter().any(|(k, _)| *k == key) => {
                    let resource = LIMIT_KEYS
                        .iter()
                        .find(|(k, _)| *k == key)
                        .map_or(0, |(_, r)| *r);
                    let value = if e.value == "unlimited" || e.value == "infinity" {
                        None
                    } else {
                        Some(size(e)?)
                    };
                    c.limits.retain(|l| l.resource != resource);
                    c.limits.push(Rlimit { resource, value });
                }
                "log_max_size" => c.log_max_size = size(e)?,
                "log_backups" => c.log_backups = count(e)?,
                "stderr_to_stdout" => c.stderr_to_stdout = boolean(e)?,
                "log_timestamps" => c.log_timestamps = boolean(e)?,
                "log_mode" => c.log_mode = log_mode(e)?,
                "stdout_file" => c.stdout_file = crate::output::Sink::parse(&e.value),
                "stderr_file" => c.stderr_file = crate::output::Sink::parse(&e.value),
                "ready" => {
                    c.ready = crate::ready::ready(&e.value)
                        .map_err(|why| err(e.line, format!("ready: {why}")))?;
                }
                "ready_timeout" => c.ready_timeout = fraction_seconds(e)?,
                "ready_interval" => c.ready_interval = positive_seconds(e)?,
                "probe_timeout" => c.probe_timeout = positive_seconds(e)?,
                "watchdog" => c.watchdog = fraction_seconds(e)?,
                "health" => {
                    c.health = if e.value.is_empty() || e.value == "none" {
                        None
                    } else {
                        Some(
                            crate::ready::check(&e.value)
                                .map_err(|why| err(e.line, format!("health: {why}")))?,
                        )
                    };
                }
                "health_interval" => c.health_interval = positive_seconds(e)?,
                "health_failures" => {
                    c.health_failures = count(e)?.max(1);
                }
                "pidfile" => c.pidfile = (!e.value.is_empty()).then(|| PathBuf::from(&e.value)),
                "on_change" => {
                    if !e.value.is_empty() {
                        crate::command::plan(&e.value)
                            .map_err(|why| err(e.line, format!("on_change: {why}")))?;
                    }
                    c.on_change = (!e.value.is_empty()).then(|| e.value.clone());
                }
                "on_change_timeout" => c.on_change_timeout = positive_seconds(e)?,
                "stdio_socket" => {
                    c.stdio_socket = (!e.value.is_empty()).then(|| PathBuf::from(&e.value))
                }
                "log_prefix" => {
                    // A trailing blank is written `\s` (values are trimmed).
                    c.log_prefix = (!e.value.is_empty()).then(|| e.value.replace("\\s", " "));
                }
                "watch" => c.watch.extend(words(&e.value).map(PathBuf::from)),
                "watch_exclude" => c.watch_exclude.extend(words(&e.value)),
                "watch_debounce" => c.watch_debounce = fraction_seconds(e)?,

                other => warnings.push(err(e.line, format!("unknown key {other:?} ignored"))),
            }
        }
        Ok((c, warnings))
    }

    /// Whether crash windows, alarms and limits are on.
    pub fn alarms_enabled(&self) -> bool {
        !self.alarm_interval.is_zero()
    }
}

/// A config ready to use, and what was worth a warning on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// Warnings: unknown keys, a missing file.
    pub warnings: Vec<String>,
    /// Where each key in force was set: key and line.
    pub lines: Vec<(String, usize)>,
    /// The (default) file was not there: these are the defaults.
    pub missing: bool,
}

impl Loaded {
    /// The line that set `key`, if the file set it.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.lines
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|&(_, l)| l)
    }
}

/// Why a config could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// The largest config file read (a shared one serves a whole product line, and is
/// still far below this).
pub const MAX_CONFIG: usize = 4 << 20;

/// The legacy tool's words for a config file it cannot open (monitoring greps for
/// them), and ours after them.
pub const CANNOT_OPEN: &str = "Cannot open config file. Old configurations unchanged.";

/// Reads the config for `service` from `path`. A missing file is an error when the
/// operator named it (`-F`); the default `supervise.conf` missing means no limits,
/// with a warning. Lines that cannot be read are warnings; a bad value for a key that
/// applies is the error.
pub fn load(path: &Path, service: &str, named: bool) -> Result<Loaded, LoadError> {
    let bytes = match crate::statusdir::open::read_named(path, MAX_CONFIG) {
        Ok(bytes) => bytes,
        Err(crate::statusdir::FileError::Missing) if !named => {
            return Ok(Loaded {
                config: Config::default(),
                lines: Vec::new(),
                warnings: vec![format!(
                    "{CANNOT_OPEN} ({} not found: running without alarms or limits)",
                    path.display()
                )],
                missing: true,
            });
        }
        Err(e) => return Err(LoadError(format!("cannot read {}: {e}", path.display()))),
    };
    let named_at = |mut e: LineError| {
        e.file = path.to_path_buf();
        e
    };
    let parsed = parse(&bytes);
    let entries = select(&parsed.sections, service);
    let (config, warnings) =
        Config::from_entries(&entries).map_err(|e| LoadError(named_at(e).to_string()))?;
    Ok(Loaded {
        config,
        lines: entries.iter().map(|e| (e.key.clone(), e.line)).collect(),
        warnings: parsed
            .warnings
            .into_iter()
            .chain(warnings)
            .map(|w| named_at(w).to_string())
            .collect(),
        missing: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(text: &str) -> Vec<Section> {
        parse(text.as_bytes()).sections
    }

    fn cfg(text: &str, service: &str) -> Config {
        Config::from_entries(&select(&sections(text), service))
            .unwrap()
            .0
    }

    const SHIPPED: &str = include_str!("../../conf/supervise.conf");

    /// The legacy tool's own sample config (its content, rewritten here: Chinese
    /// comments in GBK, a gsm group name, an empty own value, `:` without a blank).
    const LEGACY_SAMPLE: &[u8] = b"# \xc5\xe4\xd6\xc3\xce\xc4\xbc\xfe\n\n\
        [someModuleThatNoNeedNewFunction]\n\n[global]\nalarm_interval : 60\n\
        alarm_mail :  somegroup@163.com \nalarm_gsm : 13800000000 someMobileGroup\n\
        max_tries : 0\nmax_tries_if_coredumped : 0\n\n[redis]\nalarm_interval : 120\n\
        alarm_mail : somebody@hotmail.com\nalarm_gsm : 98633333\nmax_tries : 3\n\
        max_tries_if_coredumped: 7\n\n[someOtherModuleName]\nalarm_interval :\n\
        alarm_mail : meetbill@163.com\nalarm_gsm : 13900000000\nmax_tries : 8\n\
        max_tries_if_coredumped : 3\n";

    #[test]
    fn the_shipped_example_documents_every_key() {
        let word = |b: Option<&u8>| b.is_some_and(|c| c.is_ascii_lowercase() || *c == b'_');
        for key in KEYS {
            let named = SHIPPED.match_indices(key).any(|(at, _)| {
                let bytes = SHIPPED.as_bytes();
                !word(at.checked_sub(1).and_then(|i| bytes.get(i)))
                    && !word(bytes.get(at + key.len()))
            });
            assert!(named, "conf/supervise.conf does not document {key}");
        }
    }

    #[test]
    fn the_shipped_example_parses_for_any_service() {
        let redis = cfg(SHIPPED, "redis");
        assert_eq!(redis.alarm_interval, Duration::from_secs(60));
        assert_eq!(
            redis.alarm_mail,
            vec![
                "ops@example.com",
                "dev@example.com",
                "redis-owner@example.com"
            ]
        );
        assert_eq!(redis.max_tries, 10);
        let other = cfg(SHIPPED, "web");
        assert_eq!(other.alarm_mail, vec!["ops@example.com", "dev@example.com"]);
        let (_, warnings) = Config::from_entries(&select(&sections(SHIPPED), "redis")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(parse(SHIPPED.as_bytes()).warnings.is_empty());
    }

    #[test]
    fn the_legacy_sample_reads_as_the_legacy_tool_reads_it() {
        let p = parse(LEGACY_SAMPLE);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let c = |service| {
            Config::from_entries(&select(&p.sections, service))
                .unwrap()
                .0
        };
        let redis = c("redis");
        assert_eq!(redis.alarm_interval, Duration::from_secs(120));
        assert_eq!(redis.max_tries, 3);
        assert_eq!(redis.max_tries_if_coredumped, 7);
        assert_eq!(
            redis.alarm_mail,
            vec!["somegroup@163.com", "somebody@hotmail.com"]
        );
        assert_eq!(
            redis.alarm_gsm,
            vec!["13800000000", "someMobileGroup", "98633333"]
        );
        let other = c("someOtherModuleName");
        assert_eq!(other.alarm_interval, Duration::from_secs(60), "empty keeps");
        assert_eq!((other.max_tries, other.max_tries_if_coredumped), (8, 3));
        assert_eq!(
            other.alarm_gsm,
            vec!["13800000000", "someMobileGroup", "13900000000"]
        );
        let first = c("someModuleThatNoNeedNewFunction");
        assert!(
            !first.alarms_enabled(),
            "its own empty section stands alone"
        );
        let unknown = c("web");
        assert_eq!(unknown.alarm_interval, Duration::from_secs(60));
        assert_eq!((unknown.max_tries, unknown.max_tries_if_coredumped), (0, 0));
        assert_eq!(unknown.alarm_mail, vec!["somegroup@163.com"]);
    }

    #[test]
    fn section_rules() {
        // (file, service, expected max_tries, expected recipients)
        let rows: &[(&str, &str, u32, &[&str])] = &[
            // Own section before [global]: only it applies.
            (
                "[app]\nmax_tries : 3\n[global]\nmax_tries : 9\nalarm_mail : g@x\n",
                "app",
                3,
                &[],
            ),
            // [global], then an own section that overrides and appends.
            (
                "[global]\nmax_tries : 9\nalarm_mail : g@x\n[app]\nmax_tries : 3\nalarm_mail : a@x\n",
                "app",
                3,
                &["g@x", "a@x"],
            ),
            // Own section after [global] without the key: global's value stays.
            (
                "[global]\nmax_tries : 9\nalarm_mail : g@x\n[app]\n",
                "app",
                9,
                &["g@x"],
            ),
            // No own section: [global].
            (
                "[global]\nmax_tries : 9\n[other]\nmax_tries : 1\n",
                "app",
                9,
                &[],
            ),
            // Neither: defaults.
            ("[other]\nmax_tries : 1\n", "app", 0, &[]),
            // Own section only.
            ("[app]\nmax_tries : 4\n", "app", 4, &[]),
            // The same recipient twice is mailed once.
            (
                "[global]\nalarm_mail : g@x\n[app]\nalarm_mail : g@x b@x\n",
                "app",
                0,
                &["g@x", "b@x"],
            ),
            // Within one section a later key wins, mail included.
            ("[global]\nmax_tries : 1\nmax_tries : 2\n", "app", 2, &[]),
            (
                "[global]\nalarm_mail : a@x\nalarm_mail : b@x\n",
                "app",
                0,
                &["b@x"],
            ),
            // An own 0 or empty value keeps the global one; above 0 overrides.
            (
                "[global]\nmax_tries : 9\n[app]\nmax_tries : 0\n",
                "app",
                9,
                &[],
            ),
            (
                "[global]\nmax_tries : 9\n[app]\nmax_tries :\n",
                "app",
                9,
                &[],
            ),
            // -1 is the largest, as the legacy tool read it.
            ("[global]\nmax_tries : -1\n", "app", u32::MAX, &[]),
        ];
        for (text, service, tries, mail) in rows {
            let c = cfg(text, service);
            assert_eq!(c.max_tries, *tries, "{text}");
            assert_eq!(c.alarm_mail, mail.to_vec(), "{text}");
        }
    }

    #[test]
    fn values() {
        let c = cfg(
            "[global]\nalarm_interval : 5\nmax_tries :\nalarm_gsm : 13800000000 +8613900000000\n",
            "x",
        );
        assert_eq!(
            c.alarm_interval,
            Duration::from_secs(60),
            "1-59 count as 60"
        );
        assert_eq!(c.max_tries, 0);
        assert_eq!(c.alarm_gsm.len(), 2);
        assert!(c.alarms_enabled());
        let c = cfg("[global]\nalarm_interval : 0\n", "x");
        assert!(!c.alarms_enabled());
        let c = cfg(
            "[global]\nalarm_interval : 300\ngive_up : cool_down\ngive_up_cool_down : 30\n",
            "x",
        );
        assert_eq!(c.alarm_interval, Duration::from_secs(300));
        assert_eq!(c.give_up, GiveUp::CoolDown);
        assert_eq!(c.give_up_cool_down, Duration::from_secs(30));
        let c = cfg(
            "[global]\nalarm_mail : a@x\tb@y   c@z\nalarm_smtp : smtp://u:p@127.0.0.1:2525\n",
            "x",
        );
        assert_eq!(c.alarm_mail, vec!["a@x", "b@y", "c@z"]);
        assert_eq!(c.alarm_smtp.as_deref(), Some("smtp://u:p@127.0.0.1:2525"));
        let c = cfg(
            "[global]\nalarm_gsm_command : /bin/sms --to {number} {message}\n",
            "x",
        );
        assert_eq!(
            c.alarm_gsm_command,
            vec!["/bin/sms", "--to", "{number}", "{message}"]
        );
    }

    #[test]
    fn process_control_values() {
        let c = cfg(
            "[global]\nstop_signal : INT\nstop_timeout : 2.5\nrestart : on-failure\n\
             success_exit_codes : 0 3\nstart_success : 0.5\nbackoff_max : 30\nuser : nobody\n\
             directory : /srv\nenv : A=1\nenv : GREETING=hello world=yes\nenv : A=2\n\
             env_unset : SECRET TOKEN\numask : 027\nlimit_nofile : 4096\nlimit_core : unlimited\n\
             log_max_size : 10M\nlog_backups : 3\nstderr_to_stdout : yes\nlog_timestamps : on\n",
            "x",
        );
        assert_eq!(c.stop_signal, libc::SIGINT);
        assert_eq!(c.stop_timeout, Duration::from_millis(2500));
        assert_eq!(c.restart, Restart::OnFailure);
        assert_eq!(c.success_exit_codes, vec![0, 3]);
        assert_eq!(c.start_success, Duration::from_millis(500));
        assert_eq!(c.backoff_max, Duration::from_secs(30));
        assert_eq!(c.user.as_deref(), Some("nobody"));
        assert_eq!(c.directory, Some(PathBuf::from("/srv")));
        assert_eq!(
            c.env,
            vec![
                ("GREETING".into(), "hello world=yes".into()),
                ("A".into(), "2".into())
            ]
        );
        assert_eq!(c.env_unset, vec!["SECRET", "TOKEN"]);
        assert_eq!(c.umask, Some(0o027));
        assert_eq!(
            c.limits,
            vec![
                Rlimit {
                    resource: libc::RLIMIT_NOFILE as i32,
                    value: Some(4096)
                },
                Rlimit {
                    resource: libc::RLIMIT_CORE as i32,
                    value: None
                },
            ]
        );
        assert_eq!(c.log_max_size, 10 << 20);
        assert_eq!(c.log_backups, 3);
        assert!(c.stderr_to_stdout && c.log_timestamps);
        // env adds up across [global] and the service's section.
        let c = cfg("[global]\nenv : A=1\n[x]\nenv : B=2\n", "x");
        assert_eq!(c.env.len(), 2);
        assert_eq!(parse_signal("SIGKILL"), Some(9));
        assert_eq!(parse_signal("usr1"), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("15"), Some(15));
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal("0"), None);
    }

    #[test]
    fn process_control_errors() {
        let bad = |text: &str| {
            Config::from_entries(&select(&sections(text), "app"))
                .unwrap_err()
                .message
        };
        assert!(bad("[global]\nstop_signal : NOPE\n").contains("is not a signal"));
        assert!(bad("[global]\nrestart : sometimes\n").contains("not always, on-failure or never"));
        assert!(
            bad("[global]\nsuccess_exit_codes : 0 300\n").contains("\"300\" is not an exit code")
        );
        assert!(bad("[global]\nenv : NOEQUALS\n").contains("is not NAME=VALUE"));
        assert!(bad("[global]\nenv : A-B=1\n").contains("is not a variable name"));
        assert!(bad("[global]\numask : 999\n").contains("not an octal mask"));
        assert!(bad("[global]\nlimit_nofile : lots\n").contains("is not a size"));
        assert!(bad("[global]\nlog_max_size : 10X\n").contains("is not a size"));
        assert!(bad("[global]\nstderr_to_stdout : perhaps\n").contains("neither yes nor no"));
        assert!(bad("[global]\nstop_timeout : -1\n").contains("not a number of seconds"));
        assert!(bad("[global]\ngive_up_cool_down : 18446744073709551615\n").contains("more than"));
        assert!(bad("[global]\nalarm_timeout : 4294967296\n").contains("more than"));
        assert!(bad("[global]\nbackoff_max : 1e300\n").contains("not a number of seconds"));
    }

    #[test]
    fn lines_that_cannot_be_read_are_warnings_with_their_line() {
        let rows = [
            ("[global]\n  max_tries : 3\n", 2, "column 0"),
            ("[global]\nmax_tries 3\n", 2, "not `key : value`"),
            ("[ global ]\n", 1, "blanks"),
            ("[global\n", 1, "no closing ]"),
            ("max_tries : 3\n[global]\n", 1, "before any [section]"),
            ("[global]\nmax tries : 3\n", 2, "not a key"),
            (
                "# comment\n\n[global]\n\nbad line\n",
                5,
                "not `key : value`",
            ),
        ];
        for (text, line, needle) in rows {
            let p = parse(text.as_bytes());
            let w = &p.warnings[0];
            assert_eq!(w.line, line, "{text:?}");
            assert!(w.message.contains(needle), "{text:?}: {}", w.message);
        }
        // A comment after a value, a bad line elsewhere: the value in force is read.
        let c = cfg(
            "[other]\njunk junk\nmax_tries : zz\n[global]\nmax_tries : 6 # six\n",
            "app",
        );
        assert_eq!(c.max_tries, 6);
    }

    #[test]
    fn value_errors_name_the_line_and_unknown_keys_warn() {
        let bad = |text: &str| Config::from_entries(&select(&sections(text), "app")).unwrap_err();
        let e = bad("[global]\nmax_tries : ten\n");
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "max_tries: \"ten\" is not a whole number")
        );
        assert!(
            bad("[global]\nalarm_mail : x$(touch${IFS}f)@example.com\n")
                .message
                .contains("not a mail address")
        );
        assert!(
            bad("[global]\nalarm_mail : -oops\n")
                .message
                .contains("not a mail address")
        );
        assert_eq!(
            cfg("[global]\nalarm_mail : ops\n", "app").alarm_mail,
            vec!["ops"]
        );
        assert!(
            bad("[global]\nalarm_smtp : mail.example.com\n")
                .message
                .contains("smtp://")
        );
        assert!(
            bad("[global]\ngive_up : sulk\n")
                .message
                .contains("not exit, cool_down or down")
        );
        let (c, warnings) = Config::from_entries(&select(
            &sections("[global]\nalarm_gsm : 1 2 3 4 5 6 7 8 9 10 11\n"),
            "app",
        ))
        .unwrap();
        assert_eq!(c.alarm_gsm.len(), 10);
        assert!(
            warnings[0].message.contains("the rest ignored"),
            "{warnings:?}"
        );
        assert_eq!(
            cfg("[global]\nalarm_gsm : call-me\n", "app").alarm_gsm,
            vec!["call-me"]
        );
        let (_, warnings) =
            Config::from_entries(&select(&sections("[global]\nfrobnicate : 1\n"), "app")).unwrap();
        assert_eq!(warnings, vec![err(2, "unknown key \"frobnicate\" ignored")]);
        // Keys of sections that do not apply are not ours to judge.
        let (_, warnings) =
            Config::from_entries(&select(&sections("[other]\nfrobnicate : 1\n"), "app")).unwrap();
        assert!(warnings.is_empty());
    }

    #[test]
    fn load_names_the_file_and_treats_missing_as_no_limits() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = load(&tmp.path().join("nope.conf"), "app", false).unwrap();
        assert_eq!(missing.config, Config::default());
        assert!(missing.missing);
        assert!(missing.warnings[0].starts_with(CANNOT_OPEN));
        assert!(missing.warnings[0].contains("not found"));
        let named = load(&tmp.path().join("nope.conf"), "app", true).unwrap_err();
        assert!(named.0.contains("nope.conf: does not exist"), "{named}");
        let p = tmp.path().join("s.conf");
        std::fs::write(&p, "[global]\nmax_tries : x\n").unwrap();
        let e = load(&p, "app", true).unwrap_err();
        assert_eq!(
            e.0,
            format!("{}:2: max_tries: \"x\" is not a whole number", p.display())
        );
        std::fs::write(&p, "[global]\nwhat : 1\n junk\n").unwrap();
        let ok = load(&p, "app", true).unwrap();
        assert_eq!(
            ok.warnings,
            vec![
                format!("{}:3: keys start in column 0: line ignored", p.display()),
                format!("{}:2: unknown key \"what\" ignored", p.display())
            ]
        );
    }

    #[test]
    fn every_known_key_is_accepted() {
        let text: String = std::iter::once("[global]\n".to_owned())
            .chain(KEYS.iter().map(|k| {
                let v = match *k {
                    "alarm_mail" | "alarm_from" => "a@b",
                    "alarm_smtp" => "smtp://h",
                    "give_up" => "exit",
                    "backoff" => "linear",
                    "stop_group" | "kill_group" => "no",
                    "alarm_gsm" => "1",
                    "alarm_smtp_ca" | "alarm_sendmail" | "alarm_gsm_command" | "user" | "group"
                    | "directory" | "env_unset" | "watch" | "watch_exclude" => "/x",
                    "stop_signal" => "TERM",
                    "restart" => "on-failure",
                    "env" => "A=b",
                    "signal_group" | "stderr_to_stdout" | "log_timestamps" => "yes",
                    "log_mode" => "0640",
                    "stdout_file" | "stderr_file" => "AUTO",
                    "log_prefix" => "app:\\s",
                    "ready" => "notify",
                    "health" => "tcp 127.0.0.1:80",
                    "pidfile" => "/run/x.pid",
                    _ => "1",
                };
                format!("{k} : {v}\n")
            }))
            .collect();
        let (_, warnings) = Config::from_entries(&select(&sections(&text), "x")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
