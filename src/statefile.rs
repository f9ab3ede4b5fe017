//! The `state` file: what the 20-byte `status` cannot hold, for `svc` and for people.
//!
//! Written beside `status` with the same `state.new` + rename, after `status`, on every
//! change. It is text, one `key=value` per line, so `cat status/app/state` is useful
//! on its own; readers ignore keys they do not know, so fields can be added without
//! breaking older `svc`s. Values escape `\` as `\\` and line ends as `\n`.
//!
//! | key | meaning |
//! |---|---|
//! | `format` | `1` |
//! | `supervise_pid` | pid of the supervise process |
//! | `service` | the service's name |
//! | `command` | the command as given |
//! | `phase` | `down`, `waiting` (a start is due), `backoff` (a start is due after a backoff), `cooldown` (gave up, retrying later), `up`, `stopping` |
//! | `want` | `up`, `down`, `once` |
//! | `pid` | the service's pid, 0 when not running |
//! | `pid_start` | its start time in clock ticks after boot (`/proc/PID/stat` field 22): with the pid, an identity the kernel never reuses |
//! | `since` | Unix time (`secs.nanos`) of the last change of pid |
//! | `starts` | how many times supervise started the service |
//! | `next_start` | when a due start happens (phase `waiting` only) |
//! | `last_exit` | how the last run ended, in words (`exited 1`, `killed by SIGKILL`) |
//! | `last_exit_code`, `last_exit_signal` | the number, the other one empty (both empty: an adopted service ended, its status unknown) |
//! | `adopted` | `1` while the service is one a previous supervise started |
//! | `last_core` | `1` if it dumped core |
//! | `last_exit_time` | Unix time of that exit |
//! | `last_exit_pid` | the pid that ended |
//! | `window_exits` | exits in the current crash window (only with alarms on) |
//! | `gave_up` | why supervise stopped restarting it, while that holds |
//! | `backoff` | the current backoff delay in seconds, while the service keeps dying young |
//! | `watch` | a watched path; one line per path |
//! | `watch_restart_time`, `watch_restart_path` | the last restart for a change: when, and the path that changed |
//! | `readiness` | how readiness is told (`notify`, `fd 3`, `tcp 127.0.0.1:80`, ...), when it is not at once |
//! | `ready_since` | Unix time the running service became ready (with `readiness` only) |
//! | `status_text` | the service's last `STATUS=` notification |
//! | `health_time`, `health_passed`, `health_said` | the health checks: since when (for passes, the first of those in a row: a passing check rewrites nothing), `1` or `0`, what the last said |
//! | `last_failure` | why supervise last stopped the service itself (not ready in time, unhealthy), with what the check said |
//! | `failed_starts` | starts in a row that failed (ran shorter than `start_success`, or never became ready) |

use std::fmt::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exit::Exit;
use crate::status::Want;

/// The version written in `format=`.
pub const FORMAT: u32 = 1;

/// Where the service process is, as the state file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not running, not due to start.
    Down,
    /// Not running, a start is due at `next_start`.
    Waiting,
    /// Gave up on a crash loop; a fresh try is due at `next_start`.
    CoolDown,
    /// Dying young; the next start is delayed to `next_start`.
    Backoff,
    /// Running.
    Up,
    /// Asked to stop, not yet gone.
    Stopping,
}

impl Phase {
    /// The word in the file.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Down => "down",
            Phase::Waiting => "waiting",
            Phase::CoolDown => "cooldown",
            Phase::Backoff => "backoff",
            Phase::Up => "up",
            Phase::Stopping => "stopping",
        }
    }

    /// The inverse of [`Phase::name`].
    pub fn from_name(s: &str) -> Option<Phase> {
        match s {
            "down" => Some(Phase::Down),
            "waiting" => Some(Phase::Waiting),
            "cooldown" => Some(Phase::CoolDown),
            "backoff" => Some(Phase::Backoff),
            "up" => Some(Phase::Up),
            "stopping" => Some(Phase::Stopping),
            _ => None,
        }
    }
}

/// One ended run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastExit {
    /// How it ended.
    pub how: Exit,
    /// When supervise reaped it.
    pub at: SystemTime,
    /// It was asked for (a stop, `x`, an operator's signal): supervisord's STOPPED
    /// rather than EXITED.
    pub asked: bool,
    /// The pid that ended (0: not known).
    pub pid: u32,
}

/// Everything in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Pid of the supervise process.
    pub supervise_pid: u32,
    /// Service name.
    pub service: String,
    /// The command as the operator gave it.
    pub command: String,
    /// Where the process is.
    pub phase: Phase,
    /// What the operator wants.
    pub want: Want,
    /// The service's pid, 0 when not running.
    pub pid: u32,
    /// The service's start time in clock ticks after boot, when known.
    pub pid_start: Option<u64>,
    /// When the pid last changed.
    pub since: SystemTime,
    /// How many starts so far.
    pub starts: u64,
    /// When a due start happens.
    pub next_start: Option<SystemTime>,
    /// How the last run ended.
    pub last_exit: Option<LastExit>,
    /// Exits in the current crash window, when windows are on.
    pub window_exits: Option<u64>,
    /// Why supervise stopped restarting the service, while that holds.
    pub gave_up: Option<String>,
    /// The current backoff delay, while the service keeps dying young.
    pub backoff: Option<Duration>,
    /// The running service was started by a previous supervise and adopted.
    pub adopted: bool,
    /// Watched paths.
    pub watch: Vec<String>,
    /// The last restart for a change: when, and the path.
    pub watch_restart: Option<(SystemTime, String)>,
    /// How readiness is told, when not at once.
    pub readiness: Option<String>,
    /// When the running service became ready (with `readiness`).
    pub ready_since: Option<SystemTime>,
    /// The last `STATUS=` text.
    pub status_text: Option<String>,
    /// The last health check: when, passed, what it said.
    pub health: Option<(SystemTime, bool, String)>,
    /// Why supervise last stopped the service itself.
    pub last_failure: Option<String>,
    /// Starts in a row that failed.
    pub failed_starts: u32,
}

impl Record {
    /// Whether this record is about what `status` says: the same pid since the same
    /// moment. `state` follows `status` (at once, or 10 ms after a start), so one
    /// naming another pid, or the same pid 0 from before a start or a stop, is about
    /// to be replaced and says nothing of the process `status` names.
    pub fn describes(&self, status: &crate::status::Status) -> bool {
        self.pid == status.pid && self.since == status.since.to_system_time()
    }
}

/// Why a state file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// 1-based line, 0 for the file as a whole.
    pub line: usize,
    /// What is wrong there.
    pub reason: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.reason)
        } else {
            write!(f, "line {}: {}", self.line, self.reason)
        }
    }
}

impl std::error::Error for DecodeError {}

/// `secs.nanos` since the Unix epoch.
pub fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// The latest time a record may hold: the year 10000 and more, far from where
/// arithmetic on a clock could overflow, and far past any real record.
pub const MAX_UNIX_SECONDS: u64 = 1 << 38;

/// The inverse of [`format_time`]; `None` for anything else, and for a time past
/// [`MAX_UNIX_SECONDS`] (a forged record must not overflow a clock later).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    parse_duration(s).map(|d| UNIX_EPOCH + d)
}

/// `secs.nanos` as a duration, with the same bounds as [`parse_time`].
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (secs, nanos) = s.split_once('.').unwrap_or((s, "0"));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = secs.parse().ok().filter(|&n| n <= MAX_UNIX_SECONDS)?;
    if nanos.is_empty() || nanos.len() > 9 || !nanos.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: u32 = nanos.parse().ok()?;
    // "5" is 500000000 ns: the digits are the first ones of nine.
    let nanos = digits * 10u32.pow(9 - nanos.len() as u32);
    Some(Duration::new(secs, nanos))
}

/// Escapes `\\` and line ends, so a value stays on its line.
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The inverse of [`escape`].
pub fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('n')) => {
                out.push('\n');
                chars.next();
            }
            ('\\', Some('\\')) => {
                out.push('\\');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// Writes the record as text.
pub fn encode(r: &Record) -> String {
    let mut s = String::with_capacity(256);
    // Writing to a String cannot fail.
    let _ = (|| -> fmt::Result {
        writeln!(s, "format={FORMAT}")?;
        writeln!(s, "supervise_pid={}", r.supervise_pid)?;
        writeln!(s, "service={}", escape(&r.service))?;
        writeln!(s, "command={}", escape(&r.command))?;
        writeln!(s, "phase={}", r.phase.name())?;
        writeln!(s, "want={}", r.want.name())?;
        writeln!(s, "pid={}", r.pid)?;
        if let Some(t) = r.pid_start {
            writeln!(s, "pid_start={t}")?;
        }
        writeln!(s, "since={}", format_time(r.since))?;
        writeln!(s, "starts={}", r.starts)?;
        if let Some(t) = r.next_start {
            writeln!(s, "next_start={}", format_time(t))?;
        }
        if let Some(e) = r.last_exit {
            writeln!(s, "last_exit={}", e.how)?;
            let num = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_default();
            writeln!(s, "last_exit_code={}", num(e.how.code()))?;
            writeln!(s, "last_exit_signal={}", num(e.how.signal()))?;
            writeln!(s, "last_core={}", u8::from(e.how.core_dumped()))?;
            writeln!(s, "last_exit_time={}", format_time(e.at))?;
            if e.asked {
                writeln!(s, "last_exit_asked=1")?;
            }
            if e.pid != 0 {
                writeln!(s, "last_exit_pid={}", e.pid)?;
            }
        }
        if let Some(n) = r.window_exits {
            writeln!(s, "window_exits={n}")?;
        }
        if let Some(g) = &r.gave_up {
            writeln!(s, "gave_up={}", escape(g))?;
        }
        if let Some(b) = r.backoff {
            writeln!(s, "backoff={}.{:09}", b.as_secs(), b.subsec_nanos())?;
        }
        if r.adopted {
            writeln!(s, "adopted=1")?;
        }
        for w in &r.watch {
            writeln!(s, "watch={}", escape(w))?;
        }
        if let Some((t, p)) = &r.watch_restart {
            writeln!(s, "watch_restart_time={}", format_time(*t))?;
            writeln!(s, "watch_restart_path={}", escape(p))?;
        }
        if let Some(r) = &r.readiness {
            writeln!(s, "readiness={}", escape(r))?;
        }
        if let Some(t) = r.ready_since {
            writeln!(s, "ready_since={}", format_time(t))?;
        }
        if let Some(t) = &r.status_text {
            writeln!(s, "status_text={}", escape(t))?;
        }
        if let Some((t, passed, said)) = &r.health {
            writeln!(s, "health_time={}", format_time(*t))?;
            writeln!(s, "health_passed={}", u8::from(*passed))?;
            writeln!(s, "health_said={}", escape(said))?;
        }
        if let Some(f) = &r.last_failure {
            writeln!(s, "last_failure={}", escape(f))?;
        }
        if r.failed_starts > 0 {
            writeln!(s, "failed_starts={}", r.failed_starts)?;
        }
        Ok(())
    })();
    s
}

/// Reads the record back; unknown keys are skipped.
pub fn decode(text: &str) -> Result<Record, DecodeError> {
    // Room for every key supervise writes, so that the list is made once.
    let mut fields: Vec<(usize, &str, &str)> = Vec::with_capacity(40);
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| DecodeError {
            line: i + 1,
            reason: "it is not key=value".into(),
        })?;
        fields.push((i + 1, k, v));
    }
    let get = |key: &str| {
        fields
            .iter()
            .find(|(_, k, _)| *k == key)
            .map(|&(l, _, v)| (l, v))
    };
    let need = |key: &str| {
        get(key).ok_or_else(|| DecodeError {
            line: 0,
            reason: format!("the key {key} is missing"),
        })
    };
    fn parse<T>(
        line: usize,
        key: &str,
        v: &str,
        f: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, DecodeError> {
        f(v).ok_or_else(|| DecodeError {
            line,
            reason: format!("the value of {key} is not valid"),
        })
    }
    let field = |key: &str| -> Result<(usize, &str), DecodeError> { need(key) };
    let (l, v) = field("format")?;
    let format: u32 = parse(l, "format", v, |v| v.parse().ok())?;
    if format != FORMAT {
        return Err(DecodeError {
            line: l,
            reason: format!("format {format} is not {FORMAT}: written by another version"),
        });
    }
    let num = |key: &str| -> Result<u64, DecodeError> {
        let (l, v) = field(key)?;
        parse(l, key, v, |v| v.parse().ok())
    };
    let time = |key: &str| -> Result<Option<SystemTime>, DecodeError> {
        match get(key) {
            None => Ok(None),
            Some((l, v)) => parse(l, key, v, parse_time).map(Some),
        }
    };
    let (pl, pv) = field("phase")?;
    let (wl, wv) = field("want")?;
    let last_exit = match get("last_exit_code") {
        None => None,
        Some((l, code)) => {
            let how = if code.is_empty() {
                let (sl, sig) = field("last_exit_signal")?;
                if sig.is_empty() {
                    // Neither a code nor a signal: an adopted service's end.
                    Exit::Unknown
                } else {
                    Exit::Signal {
                        signal: parse(sl, "last_exit_signal", sig, |v| v.parse().ok())?,
                        core: get("last_core").is_some_and(|(_, v)| v == "1"),
                    }
                }
            } else {
                Exit::Code(parse(l, "last_exit_code", code, |v| v.parse().ok())?)
            };
            let at = time("last_exit_time")?.unwrap_or(UNIX_EPOCH);
            let asked = get("last_exit_asked").is_some_and(|(_, v)| v == "1");
            let pid = match get("last_exit_pid") {
                None => 0,
                Some((l, v)) => parse(l, "last_exit_pid", v, |v| v.parse().ok())?,
            };
            Some(LastExit {
                how,
                at,
                asked,
                pid,
            })
        }
    };
    Ok(Record {
        supervise_pid: u32::try_from(num("supervise_pid")?).unwrap_or(0),
        service: unescape(field("service")?.1),
        command: unescape(field("command")?.1),
        phase: parse(pl, "phase", pv, Phase::from_name)?,
        want: parse(wl, "want", wv, Want::from_name)?,
        pid: u32::try_from(num("pid")?).unwrap_or(0),
        pid_start: match get("pid_start") {
            None => None,
            Some((l, v)) => Some(parse(l, "pid_start", v, |v| v.parse().ok())?),
        },
        since: time("since")?.ok_or_else(|| DecodeError {
            line: 0,
            reason: "the key since is missing".into(),
        })?,
        starts: num("starts")?,
        next_start: time("next_start")?,
        last_exit,
        window_exits: match get("window_exits") {
            None => None,
            Some((l, v)) => Some(parse(l, "window_exits", v, |v| v.parse().ok())?),
        },
        gave_up: get("gave_up").map(|(_, v)| unescape(v)),
        backoff: match get("backoff") {
            None => None,
            Some((l, v)) => Some(parse(l, "backoff", v, parse_duration)?),
        },
        adopted: get("adopted").is_some_and(|(_, v)| v == "1"),
        watch: fields
            .iter()
            .filter(|(_, k, _)| *k == "watch")
            .map(|(_, _, v)| unescape(v))
            .collect(),
        watch_restart: match (time("watch_restart_time")?, get("watch_restart_path")) {
            (Some(t), Some((_, p))) => Some((t, unescape(p))),
            _ => None,
        },
        readiness: get("readiness").map(|(_, v)| unescape(v)),
        ready_since: time("ready_since")?,
        status_text: get("status_text").map(|(_, v)| unescape(v)),
        health: time("health_time")?.map(|t| {
            (
                t,
                get("health_passed").is_some_and(|(_, v)| v == "1"),
                get("health_said")
                    .map(|(_, v)| unescape(v))
                    .unwrap_or_default(),
            )
        }),
        last_failure: get("last_failure").map(|(_, v)| unescape(v)),
        failed_starts: match get("failed_starts") {
            None => 0,
            Some((l, v)) => parse(l, "failed_starts", v, |v| v.parse().ok())?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            supervise_pid: 100,
            service: "app".into(),
            command: "python 'app.py'\nsecond \\ line".into(),
            phase: Phase::Waiting,
            want: Want::Up,
            pid: 0,
            pid_start: None,
            since: UNIX_EPOCH + Duration::new(1_795_255_200, 123),
            starts: 3,
            next_start: Some(UNIX_EPOCH + Duration::new(1_795_255_201, 0)),
            last_exit: Some(LastExit {
                how: Exit::Signal {
                    signal: 11,
                    core: true,
                },
                at: UNIX_EPOCH + Duration::new(1_795_255_200, 5),
                asked: false,
                pid: 0,
            }),
            window_exits: Some(2),
            gave_up: Some("gave up after 3 restarts in 2 seconds (max_tries)".into()),
            backoff: Some(Duration::from_secs(4)),
            adopted: true,
            watch: vec!["/srv/content".into(), "/etc/app.conf".into()],
            watch_restart: Some((
                UNIX_EPOCH + Duration::new(1_795_255_100, 0),
                "/srv/content/a b".into(),
            )),
            readiness: Some("http http://localhost/health (127.0.0.1:80)".into()),
            ready_since: Some(UNIX_EPOCH + Duration::new(1_795_255_202, 7)),
            status_text: Some("serving\n3 clients".into()),
            health: Some((
                UNIX_EPOCH + Duration::new(1_795_255_203, 0),
                false,
                "exited 1: no".into(),
            )),
            last_failure: Some("unhealthy: exited 1".into()),
            failed_starts: 2,
        }
    }

    #[test]
    fn a_record_describes_the_status_of_its_pid_since_its_moment_only() {
        let r = Record {
            pid: 42,
            ..sample()
        };
        let status = |pid, since| crate::status::Status {
            pid,
            since: crate::status::Tai64n::from_system_time(since),
            paused: false,
            want: Want::Up,
            alarms: true,
        };
        assert!(
            r.describes(&status(42, r.since)),
            "nanoseconds survive TAI64N"
        );
        assert!(!r.describes(&status(43, r.since)));
        assert!(!r.describes(&status(42, r.since + Duration::from_nanos(1))));
        let down = Record {
            pid: 0,
            ..r.clone()
        };
        assert!(
            !down.describes(&status(0, r.since + Duration::from_secs(1))),
            "pid 0 of another moment (before a start, after a stop)"
        );
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(decode(&encode(&r)), Ok(r.clone()));
        let plain = Record {
            phase: Phase::Up,
            pid: 42,
            pid_start: Some(987_654),
            next_start: None,
            last_exit: Some(LastExit {
                how: Exit::Code(3),
                at: UNIX_EPOCH,
                asked: true,
                pid: 0,
            }),
            ..r.clone()
        };
        assert_eq!(decode(&encode(&plain)), Ok(plain));
        let unknown = Record {
            last_exit: Some(LastExit {
                how: Exit::Unknown,
                at: UNIX_EPOCH,
                asked: false,
                pid: 0,
            }),
            ..r.clone()
        };
        assert_eq!(decode(&encode(&unknown)), Ok(unknown));
        let fresh = Record {
            last_exit: None,
            next_start: None,
            ..r
        };
        assert_eq!(decode(&encode(&fresh)), Ok(fresh));
    }

    #[test]
    fn text_is_readable() {
        let text = encode(&sample());
        assert!(text.contains("\nphase=waiting\n"), "{text}");
        assert!(
            text.contains("\nlast_exit=killed by SIGSEGV (core dumped)\n"),
            "{text}"
        );
        assert!(
            text.contains("\ncommand=python 'app.py'\\nsecond \\\\ line\n"),
            "{text}"
        );
        assert!(text.contains("\nsince=1795255200.000000123\n"), "{text}");
    }

    #[test]
    fn unknown_keys_are_skipped() {
        let text = encode(&sample()) + "future_key=whatever\n";
        assert_eq!(decode(&text), Ok(sample()));
    }

    #[test]
    fn damage_is_reported_with_the_line() {
        let text = encode(&sample()).replace("phase=waiting", "phase=dancing");
        let err = decode(&text).unwrap_err();
        assert_eq!(err.to_string(), "line 5: the value of phase is not valid");
        assert!(
            !err.to_string().contains("dancing"),
            "content is never quoted"
        );
        let err = decode("format=1\nno equals sign\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = decode("").unwrap_err();
        assert_eq!(err.to_string(), "the key format is missing");
        let err = decode("format=7\n").unwrap_err();
        assert!(err.reason.contains("another version"));
        let truncated: String = encode(&sample())
            .lines()
            .take(4)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(decode(&truncated).is_err());
    }

    #[test]
    fn huge_times_are_errors_not_panics() {
        for key in ["since", "last_exit_time", "next_start", "backoff"] {
            let text = encode(&sample());
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{key}=")))
                .unwrap()
                .to_owned();
            let forged = text.replace(&line, &format!("{key}=9223372036854775808"));
            let e = decode(&forged).unwrap_err();
            assert!(e.reason.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn times_parse_strictly() {
        assert_eq!(
            parse_time("5.5"),
            Some(UNIX_EPOCH + Duration::new(5, 500_000_000))
        );
        assert_eq!(parse_time("5"), Some(UNIX_EPOCH + Duration::new(5, 0)));
        assert_eq!(parse_time("5."), None);
        assert_eq!(parse_time("x.1"), None);
        assert_eq!(parse_time("1.1234567890"), None);
        assert_eq!(parse_time("-1"), None);
        assert_eq!(parse_time("+1"), None);
        assert_eq!(parse_time("9223372036854775808"), None, "2^63: no overflow");
        assert_eq!(parse_time("18446744073709551615.999999999"), None);
        assert!(parse_time(&MAX_UNIX_SECONDS.to_string()).is_some());
        assert_eq!(parse_time(&(MAX_UNIX_SECONDS + 1).to_string()), None);
    }
}
