//! What a host's process is, in supervisord's words: its state (STOPPED, STARTING,
//! RUNNING, BACKOFF, STOPPING, EXITED, FATAL, UNKNOWN, with supervisord's codes),
//! its start and stop times, its pid and the description supervisorctl shows. One
//! function, [`state`], maps what a `supervise` records to those states; `svc` by
//! name and the XML-RPC side both read processes through [`read`].

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client;
use crate::statefile::{Phase, Record};
use crate::status::Status;

use super::service::Service;

/// supervisord's process states, with their codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// 0.
    Stopped,
    /// 10.
    Starting,
    /// 20.
    Running,
    /// 30.
    Backoff,
    /// 40.
    Stopping,
    /// 100.
    Exited,
    /// 200.
    Fatal,
    /// 1000.
    Unknown,
}

impl State {
    /// Every state, in the order of their codes.
    pub const ALL: [State; 8] = [
        State::Stopped,
        State::Starting,
        State::Running,
        State::Backoff,
        State::Stopping,
        State::Exited,
        State::Fatal,
        State::Unknown,
    ];

    /// supervisord's code.
    pub fn code(self) -> i32 {
        match self {
            State::Stopped => 0,
            State::Starting => 10,
            State::Running => 20,
            State::Backoff => 30,
            State::Stopping => 40,
            State::Exited => 100,
            State::Fatal => 200,
            State::Unknown => 1000,
        }
    }

    /// supervisord's name.
    pub fn name(self) -> &'static str {
        match self {
            State::Stopped => "STOPPED",
            State::Starting => "STARTING",
            State::Running => "RUNNING",
            State::Backoff => "BACKOFF",
            State::Stopping => "STOPPING",
            State::Exited => "EXITED",
            State::Fatal => "FATAL",
            State::Unknown => "UNKNOWN",
        }
    }

    /// Not running: what supervisorctl's `status` exits 3 for.
    pub fn is_stopped(self) -> bool {
        matches!(
            self,
            State::Stopped | State::Exited | State::Fatal | State::Unknown
        )
    }
}

/// What supervise records of a service, as [`state`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// A supervise runs on the directory.
    pub supervised: bool,
    /// Where the process is.
    pub phase: Phase,
    /// It runs, and since how long.
    pub up_for: Option<Duration>,
    /// It has been started at least once.
    pub started: bool,
    /// The last exit was asked for.
    pub exit_asked: bool,
    /// supervise gave up on it.
    pub gave_up: bool,
    /// Whether it is ready, when supervise tells readiness (`ready`, `startsecs`).
    pub ready: Option<bool>,
}

/// supervisord's state for what supervise records, given `startsecs`: a process up
/// for less than that is STARTING, as in supervisord.
pub fn state(f: &Facts, startsecs: Duration) -> State {
    if !f.supervised {
        return if f.up_for.is_some() {
            State::Unknown
        } else {
            State::Stopped
        };
    }
    match f.phase {
        Phase::Up => match (f.ready, f.up_for) {
            (Some(true), _) => State::Running,
            (Some(false), _) => State::Starting,
            (None, Some(d)) if d < startsecs => State::Starting,
            (None, _) => State::Running,
        },
        Phase::Stopping => State::Stopping,
        Phase::Backoff | Phase::CoolDown => State::Backoff,
        Phase::Waiting => State::Starting,
        Phase::Down if f.gave_up => State::Fatal,
        Phase::Down if !f.started || f.exit_asked => State::Stopped,
        Phase::Down => State::Exited,
    }
}

/// Everything supervisord's `getProcessInfo` says of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Its name in its group.
    pub name: String,
    /// Its group.
    pub group: String,
    /// Its name as supervisorctl shows it.
    pub namespec: String,
    /// Unix time of its last start (0: never).
    pub start: i64,
    /// Unix time of its last stop (0: never).
    pub stop: i64,
    /// Now.
    pub now: i64,
    /// Its state.
    pub state: State,
    /// Why it could not start (BACKOFF, FATAL).
    pub spawnerr: String,
    /// Its last exit code.
    pub exitstatus: i32,
    /// Where its stdout goes.
    pub stdout_logfile: String,
    /// Where its stderr goes.
    pub stderr_logfile: String,
    /// Its pid (0: not running).
    pub pid: u32,
    /// supervisorctl's description.
    pub description: String,
    /// How many times its supervise started it (not supervisord's: it tells a new
    /// run from an old one).
    pub starts: u64,
    /// Failed starts in a row (supervisord's `backoff`, the `tries` of its events).
    pub tries: u32,
    /// `state` describes the pid `status` names (it is written just after: a read
    /// in between sees the old one).
    pub settled: bool,
    /// The pid of the last run that ended (0: not known).
    pub last_pid: u32,
    /// The supervise that wrote `state` (0: none).
    pub writer: u32,
}

/// The text of supervisord's spawn error for a process that keeps exiting early.
pub const TOO_QUICK: &str = "Exited too quickly (process log may have details)";

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A `timedelta` as Python prints it: `0:02:24`, `1 day, 2:03:04`, `3 days, 0:00:01`.
pub fn timedelta(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let hms = format!("{}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        d => format!("{d} days, {hms}"),
    }
}

/// `%b %d %I:%M %p` in local time, as supervisord shows a stop time.
pub fn stop_time(t: SystemTime) -> String {
    let secs = unix(t) as libc::time_t;
    // SAFETY: localtime_r fills the zeroed tm we own.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let hour12 = match tm.tm_hour % 12 {
        0 => 12,
        h => h,
    };
    format!(
        "{} {:02} {:02}:{:02} {}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        hour12,
        tm.tm_min,
        if tm.tm_hour < 12 { "AM" } else { "PM" }
    )
}

/// supervisorctl's description of a process.
fn description(i: &Info, up_for: Option<Duration>, stopped_at: Option<SystemTime>) -> String {
    match i.state {
        State::Running => format!(
            "pid {}, uptime {}",
            i.pid,
            timedelta(up_for.map_or(0, |d| d.as_secs()))
        ),
        State::Fatal | State::Backoff => i.spawnerr.clone(),
        State::Stopped | State::Exited => match stopped_at {
            Some(t) if i.start != 0 => stop_time(t),
            _ => "Not started".into(),
        },
        State::Unknown if i.pid != 0 => format!("pid {} (its supervise is not running)", i.pid),
        _ => String::new(),
    }
}

/// Where a sink of the service's config file points, as supervisord names it.
fn logfile(svc: &Service, key: &str, status_name: &str) -> String {
    let value = svc
        .conf
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(" : "))
        .unwrap_or("AUTO");
    match value {
        "AUTO" => svc.dir.join(status_name).display().to_string(),
        "NONE" => String::new(),
        p => p.to_owned(),
    }
}

/// Reads what the service's status directory says, at `now`.
pub fn read(svc: &Service, now: SystemTime) -> Info {
    let dir = client::open(&svc.dir).ok();
    let supervised = dir
        .as_ref()
        .and_then(|d| client::running(d).ok())
        .unwrap_or(false);
    let status: Option<Status> = dir.as_ref().and_then(|d| client::read_status(d).ok());
    let record: Option<Record> = dir
        .as_ref()
        .and_then(client::read_state)
        .and_then(Result::ok);
    build(svc, supervised, status, record.as_ref(), now)
}

/// [`read`]'s work on what was read.
pub fn build(
    svc: &Service,
    supervised: bool,
    status: Option<Status>,
    record: Option<&Record>,
    now: SystemTime,
) -> Info {
    let pid = status.map_or(0, |s| s.pid);
    let since = status.map(|s| s.since.to_system_time());
    let up_for = (pid != 0).then(|| {
        since
            .and_then(|s| now.duration_since(s).ok())
            .unwrap_or_default()
    });
    let last = record.and_then(|r| r.last_exit);
    let current = record.filter(|r| status.is_some_and(|s| r.describes(&s)));
    let facts = Facts {
        supervised,
        phase: match current {
            Some(r) => r.phase,
            _ if pid != 0 => Phase::Up,
            _ => Phase::Down,
        },
        up_for,
        started: record.is_some_and(|r| r.starts > 0),
        exit_asked: last.is_some_and(|e| e.asked),
        gave_up: record.is_some_and(|r| r.gave_up.is_some()),
        ready: current
            .filter(|r| r.readiness.is_some())
            .map(|r| r.ready_since.is_some()),
    };
    let state = state(&facts, svc.startsecs);
    let start = match (pid, since) {
        (p, Some(s)) if p != 0 => unix(s),
        _ if facts.started => last.map_or(0, |e| unix(e.at)).max(1),
        _ => 0,
    };
    let mut info = Info {
        name: svc.process.clone(),
        group: svc.group.clone(),
        namespec: svc.name.clone(),
        start,
        stop: last.map_or(0, |e| unix(e.at)),
        now: unix(now),
        state,
        spawnerr: if matches!(state, State::Fatal | State::Backoff) {
            TOO_QUICK.into()
        } else {
            String::new()
        },
        exitstatus: last.and_then(|e| e.how.code()).unwrap_or(0),
        stdout_logfile: logfile(svc, "stdout_file", crate::statusdir::names::STDOUT),
        stderr_logfile: logfile(svc, "stderr_file", crate::statusdir::names::STDERR),
        pid,
        description: String::new(),
        starts: record.map_or(0, |r| r.starts),
        tries: record.map_or(0, |r| r.failed_starts),
        settled: current.is_some(),
        last_pid: last.map_or(0, |e| e.pid),
        writer: record.map_or(0, |r| r.supervise_pid),
    };
    info.description = description(&info, up_for, last.map(|e| e.at));
    info
}

/// Whether `dir` is a status directory a host made.
pub fn is_host_dir(dir: &Path) -> bool {
    dir.parent()
        .is_some_and(|root| root.join(super::service::HOST_DIR).is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn facts(phase: Phase) -> Facts {
        Facts {
            supervised: true,
            phase,
            up_for: None,
            started: true,
            exit_asked: false,
            gave_up: false,
            ready: None,
        }
    }

    #[test]
    fn states_from_what_supervise_records() {
        let up = |d| Facts {
            up_for: Some(d),
            ..facts(Phase::Up)
        };
        let rows: Vec<(Facts, State)> = vec![
            (up(S / 2), State::Starting),
            (up(5 * S), State::Running),
            // Told readiness wins over time: not ready after an hour is STARTING.
            (
                Facts {
                    ready: Some(false),
                    ..up(3600 * S)
                },
                State::Starting,
            ),
            (
                Facts {
                    ready: Some(true),
                    ..up(S / 2)
                },
                State::Running,
            ),
            (facts(Phase::Stopping), State::Stopping),
            (facts(Phase::Backoff), State::Backoff),
            (facts(Phase::CoolDown), State::Backoff),
            (facts(Phase::Waiting), State::Starting),
            (
                Facts {
                    gave_up: true,
                    ..facts(Phase::Down)
                },
                State::Fatal,
            ),
            (
                Facts {
                    exit_asked: true,
                    ..facts(Phase::Down)
                },
                State::Stopped,
            ),
            (
                Facts {
                    started: false,
                    ..facts(Phase::Down)
                },
                State::Stopped,
            ),
            (facts(Phase::Down), State::Exited),
            (
                Facts {
                    supervised: false,
                    ..facts(Phase::Down)
                },
                State::Stopped,
            ),
            (
                Facts {
                    supervised: false,
                    ..up(5 * S)
                },
                State::Unknown,
            ),
        ];
        for (f, want) in rows {
            assert_eq!(state(&f, S), want, "{f:?}");
        }
        let codes: Vec<i32> = State::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(codes, vec![0, 10, 20, 30, 40, 100, 200, 1000]);
    }

    #[test]
    fn a_record_is_settled_only_for_the_same_pid_since_the_same_moment() {
        use crate::host::config::testing::loaded;
        use crate::host::service::{Layout, service};
        let spec = &loaded("[supervisord]\n[program:web]\ncommand=web\n").processes[0];
        let svc = service(spec, &Layout { root: "/r".into() }, None)
            .unwrap()
            .0;
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        let status = |pid, secs| crate::status::Status {
            pid,
            since: crate::status::Tai64n::from_system_time(at(secs)),
            paused: false,
            want: crate::status::Want::Up,
            alarms: true,
        };
        let record = |pid, secs, starts| Record {
            pid,
            since: at(secs),
            starts,
            ..crate::statefile::decode(
                "format=1\nsupervise_pid=9\nservice=web\ncommand=web\nphase=down\n\
                 want=up\npid=0\nsince=0\nstarts=0\n",
            )
            .unwrap()
        };
        let now = at(2_000_000_000);
        // Down before the first start and down after a stop: both pid 0, but the
        // record of before the start is not the stop's (its since is older).
        let stale = record(0, 1_000, 0);
        assert!(!build(&svc, true, Some(status(0, 1_100)), Some(&stale), now).settled);
        let fresh = record(0, 1_100, 1);
        assert!(build(&svc, true, Some(status(0, 1_100)), Some(&fresh), now).settled);
        let other = record(41, 1_100, 1);
        assert!(!build(&svc, true, Some(status(42, 1_100)), Some(&other), now).settled);
        assert!(!build(&svc, true, Some(status(0, 1_100)), None, now).settled);
    }

    #[test]
    fn descriptions_as_supervisorctl_shows_them() {
        assert_eq!(timedelta(144), "0:02:24");
        assert_eq!(timedelta(86_400 + 3 * 3600 + 61), "1 day, 3:01:01");
        assert_eq!(timedelta(3 * 86_400 + 1), "3 days, 0:00:01");
        let t = stop_time(SystemTime::now());
        assert_eq!(t.len(), 15, "{t}");
        assert!(t.ends_with(" AM") || t.ends_with(" PM"), "{t}");
    }
}
