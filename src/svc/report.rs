//! `svc status`: what a status directory says, as one line, as JSON, or as Prometheus
//! samples.
//!
//! [`inspect`] reads the directory once into a [`View`]; the three formatters are pure
//! functions of a view and the current time, so their output is tested exactly.
//! Directories written by a legacy supervise have no `state` file; their view is
//! built from the 20 bytes alone and the fields only `state` knows are left out.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::client::{self, Problem};
use crate::exit::{Exit, signal_name};
use crate::proc;
use crate::statefile::{self, LastExit};
use crate::status::Want;
use crate::statusdir::Dir;

/// Everything `svc status` shows about one directory.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// The directory as given.
    pub dir: String,
    /// The service name.
    pub service: String,
    /// Whether a supervise listens on the directory.
    pub supervise_running: bool,
    /// The pid in `lock`, if supervise runs.
    pub supervise_pid: Option<u32>,
    /// Where the service is: `up`, `down`, `waiting`, `stopping`.
    pub phase: statefile::Phase,
    /// The service's pid.
    pub pid: Option<u32>,
    /// When the pid last changed.
    pub since: SystemTime,
    /// What the operator wants.
    pub want: Want,
    /// Paused with `p`.
    pub paused: bool,
    /// Alarms on.
    pub alarms: bool,
    /// Starts so far (unknown for a legacy directory).
    pub starts: Option<u64>,
    /// How the last run ended.
    pub last_exit: Option<LastExit>,
    /// When a due start happens.
    pub next_start: Option<SystemTime>,
    /// Supervise is gone but the service process it started still runs.
    pub orphan: Option<u32>,
    /// Why the `state` file could not be read, if it could not.
    pub state_error: Option<String>,
    /// Exits in the current crash window, when windows are on.
    pub window_exits: Option<u64>,
    /// Why supervise stopped restarting the service, while that holds.
    pub gave_up: Option<String>,
    /// The current backoff delay.
    pub backoff: Option<Duration>,
    /// Watched paths.
    pub watch: Vec<String>,
    /// The last restart for a change: when, and the path.
    pub watch_restart: Option<(SystemTime, String)>,
    /// The running service was adopted from a previous supervise.
    pub adopted: bool,
    /// How readiness is told, when not at once.
    pub readiness: Option<String>,
    /// When the running service became ready (with `readiness`).
    pub ready_since: Option<SystemTime>,
    /// The service's last `STATUS=` text.
    pub status_text: Option<String>,
    /// The last health check: when, passed, what it said.
    pub health: Option<(SystemTime, bool, String)>,
    /// Why supervise last stopped the service itself.
    pub last_failure: Option<String>,
}

impl View {
    /// The service runs and is ready: up, and either ready at once or told so.
    pub fn ready(&self) -> bool {
        self.supervise_running
            && self.pid.is_some()
            && self.phase == statefile::Phase::Up
            && (self.readiness.is_none() || self.ready_since.is_some())
    }
}

/// A directory `svc status` could not read: as given, what is wrong, and whether that
/// means "cannot tell" (permission denied) rather than "broken" or "down".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The directory as given.
    pub dir: String,
    /// What is wrong.
    pub problem: String,
    /// The state cannot be told, which is not the same as down.
    pub unknown: bool,
}

impl Unreadable {
    fn new(dir: &Path, p: &Problem) -> Unreadable {
        Unreadable {
            dir: dir.display().to_string(),
            problem: p.to_string(),
            unknown: p.is_unknown(),
        }
    }
}

/// Directories per thread below which another thread costs more than it saves (a
/// directory takes a few microseconds, a thread some tens).
const DIRS_PER_THREAD: usize = 48;

/// The most threads a status of many reads with.
const MAX_THREADS: usize = 8;

/// `work` over `dirs` cut in consecutive chunks, one per CPU this process may run on
/// as far as the directories are worth it, the first on the calling thread; the
/// results in the order of `dirs`. Reading a status directory is a handful of system
/// calls, so a status of many is bound by them, and they run in parallel.
pub fn in_chunks<T: Send>(dirs: &[PathBuf], work: impl Fn(&[PathBuf]) -> T + Sync) -> Vec<T> {
    let threads = (dirs.len() / DIRS_PER_THREAD).clamp(1, MAX_THREADS.min(cpus()));
    if threads == 1 {
        return vec![work(dirs)];
    }
    let size = dirs.len().div_ceil(threads);
    let mut chunks = dirs.chunks(size);
    let first = chunks.next().unwrap_or(&[]);
    let work = &work;
    std::thread::scope(|scope| {
        // A thread the system refuses (a pids cgroup, RLIMIT_NPROC) leaves its chunk
        // to this one.
        let others: Vec<_> = chunks
            .map(|c| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, move || work(c))
                    .map_err(|_| c)
            })
            .collect();
        let mut all = vec![work(first)];
        all.extend(others.into_iter().map(|t| match t {
            Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            Err(c) => work(c),
        }));
        all
    })
}

/// The CPUs this process may run on (1 when that cannot be told).
fn cpus() -> usize {
    // SAFETY: a zeroed cpu_set_t is an empty set; the call writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) != 0 {
            return 1;
        }
        usize::try_from(libc::CPU_COUNT(&set)).map_or(1, |n| n.max(1))
    }
}

/// Reads a status directory into a view.
pub fn inspect(path: &Path) -> Result<View, Unreadable> {
    inspect_raw(path).map(|(v, _)| v)
}

/// What a status directory says, read once: the view, and the status and state
/// records it was made of (for a caller that describes the service another way too).
pub type Raw = (crate::status::Status, Option<statefile::Record>);

/// [`inspect`], with the records read.
///
/// Read first through the path alone ([`Dir::named`]: no descriptor for the directory
/// to open and close, a fifth fewer system calls for `svc status` of many); anything
/// that fails is read again through the directory's descriptor, which tells what is
/// wrong as precisely as before (no such directory, not a status directory...).
pub fn inspect_raw(path: &Path) -> Result<(View, Raw), Unreadable> {
    if let Ok(read) = read_view(path, &Dir::named(path)) {
        return Ok(read);
    }
    let dir = client::open(path).map_err(|p| Unreadable::new(path, &p))?;
    read_view(path, &dir).map_err(|p| Unreadable::new(path, &p))
}

fn read_view(path: &Path, dir: &Dir) -> Result<(View, Raw), Problem> {
    let running = client::running(dir)?;
    let status = client::read_status(dir)?;
    let (state, state_error) = match client::read_state(dir) {
        None => (None, None),
        Some(Ok(r)) => (Some(r), None),
        Some(Err(e)) => (None, Some(e)),
    };
    let view = build_view(path, dir, running, &status, &state, state_error);
    Ok((view, (status, state)))
}

fn build_view(
    path: &Path,
    dir: &Dir,
    running: bool,
    status: &crate::status::Status,
    state: &Option<statefile::Record>,
    state_error: Option<String>,
) -> View {
    let pid = (status.pid != 0).then_some(status.pid);
    let current = state.as_ref().filter(|r| r.describes(status));
    let phase = match (current, pid) {
        (Some(r), _) => r.phase,
        (_, Some(_)) => statefile::Phase::Up,
        (_, None) => statefile::Phase::Down,
    };
    let orphan = match pid {
        Some(p) if !running => {
            let start = state.as_ref().and_then(|r| r.pid_start);
            proc::alive(p, start).then_some(p)
        }
        _ => None,
    };
    View {
        dir: path.display().to_string(),
        service: state
            .as_ref()
            .map_or_else(|| crate::cli::service_name(path), |r| r.service.clone()),
        supervise_running: running,
        // The record names its writer; the lock file is read only when there is none
        // (a file less per directory for a status of many).
        supervise_pid: match state {
            _ if !running => None,
            Some(r) if r.supervise_pid != 0 => Some(r.supervise_pid),
            _ => client::lock_pid(dir),
        },
        phase,
        pid,
        since: status.since.to_system_time(),
        want: status.want,
        paused: status.paused,
        alarms: status.alarms,
        starts: state.as_ref().map(|r| r.starts),
        last_exit: state.as_ref().and_then(|r| r.last_exit),
        next_start: state.as_ref().and_then(|r| r.next_start),
        orphan,
        state_error,
        window_exits: state.as_ref().and_then(|r| r.window_exits),
        gave_up: state.as_ref().and_then(|r| r.gave_up.clone()),
        backoff: state.as_ref().and_then(|r| r.backoff),
        watch: state.as_ref().map(|r| r.watch.clone()).unwrap_or_default(),
        watch_restart: state.as_ref().and_then(|r| r.watch_restart.clone()),
        adopted: current.is_some_and(|r| r.adopted),
        readiness: state.as_ref().and_then(|r| r.readiness.clone()),
        ready_since: current.and_then(|r| r.ready_since),
        status_text: state.as_ref().and_then(|r| r.status_text.clone()),
        health: state.as_ref().and_then(|r| r.health.clone()),
        last_failure: state.as_ref().and_then(|r| r.last_failure.clone()),
    }
}

fn secs_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// `n word` or `n words`.
struct Plural<'a>(u64, &'a str);

impl std::fmt::Display for Plural<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = if self.0 == 1 { "" } else { "s" };
        write!(f, "{} {}{s}", self.0, self.1)
    }
}

fn plural(n: u64, word: &str) -> Plural<'_> {
    Plural(n, word)
}

/// What the operator wants, as svstat says it: `normally up` when the want agrees
/// with where the service is, `want up` / `want down` when it does not (a change is
/// under way), `once` for a service run once.
fn wish(want: Want, running: bool, s: &mut String) {
    match (want, running) {
        (Want::Up, true) => s.push_str(", normally up"),
        (Want::Down, false) => s.push_str(", normally down"),
        (Want::Once, _) => s.push_str(", once"),
        (w, _) => {
            let _ = write!(s, ", want {}", w.name());
        }
    }
}

/// The human line: `status/app: up (pid 4242) 3600 seconds, normally up, alarms on, 2 restarts`.
pub fn line(v: &View, now: SystemTime) -> String {
    let mut s = String::with_capacity(128);
    line_into(v, now, &mut s);
    s
}

/// [`line`], added to `s`.
pub fn line_into(v: &View, now: SystemTime, s: &mut String) {
    s.push_str(&v.dir);
    s.push_str(": ");
    let secs = secs_between(v.since, now) as u64;
    if !v.supervise_running {
        return unsupervised_line(v, secs, s);
    }
    match (v.phase, v.pid) {
        (statefile::Phase::Stopping, Some(p)) => {
            let _ = write!(s, "stopping (pid {p}) {}", plural(secs, "second"));
        }
        (_, Some(p)) => {
            let _ = write!(s, "up (pid {p}) {}", plural(secs, "second"));
            match (&v.readiness, v.ready_since) {
                (Some(_), Some(t)) => {
                    let _ = write!(
                        s,
                        ", ready {}",
                        plural(secs_between(t, now) as u64, "second")
                    );
                }
                (Some(how), None) => {
                    let _ = write!(s, ", not ready ({how})");
                }
                _ => {}
            }
            if v.adopted {
                s.push_str(", adopted");
            }
        }
        (_, None) => {
            let _ = write!(s, "down {}", plural(secs, "second"));
        }
    }
    if v.paused {
        s.push_str(", paused");
    }
    wish(v.want, v.pid.is_some(), s);
    s.push_str(if v.alarms {
        ", alarms on"
    } else {
        ", alarms off"
    });
    if let Some(starts) = v.starts {
        let _ = write!(s, ", {}", plural(starts.saturating_sub(1), "restart"));
    }
    if let Some(e) = v.last_exit {
        match v.pid {
            Some(_) => {
                let _ = write!(s, ", last {}", e.how);
            }
            None => {
                let _ = write!(s, ", {}", e.how);
            }
        }
    }
    if let Some(g) = &v.gave_up {
        let _ = write!(s, ", {g}");
    }
    match (v.phase, v.next_start) {
        (statefile::Phase::Waiting, Some(at)) => {
            let _ = write!(s, ", starting in {:.1} s", secs_between(now, at));
        }
        (statefile::Phase::Backoff, Some(at)) => {
            let delay = v.backoff.map_or(0.0, |b| b.as_secs_f64());
            let _ = write!(
                s,
                ", backing off {delay} s, starting in {:.1} s",
                secs_between(now, at)
            );
        }
        (statefile::Phase::CoolDown, Some(at)) => {
            let _ = write!(s, ", retrying in {} s", secs_between(now, at).ceil() as u64);
        }
        _ => {}
    }
    if !v.watch.is_empty() {
        let _ = write!(s, ", watching {}", v.watch.join(" "));
        if let Some((t, p)) = &v.watch_restart {
            let _ = write!(
                s,
                ", restarted for a change {} ago ({p})",
                plural(secs_between(*t, now) as u64, "second")
            );
        }
    }
    checks_line(v, now, s);
    if let Some(e) = &v.state_error {
        let _ = write!(s, " (state file unreadable: {e})");
    }
}

/// The line of a directory whose supervise is gone.
fn unsupervised_line(v: &View, secs: u64, s: &mut String) {
    s.push_str("supervise not running");
    match v.orphan {
        Some(p) => {
            let _ = write!(s, "; its service pid {p} is still running, unsupervised");
        }
        None => {
            let _ = write!(s, "; service down {}", plural(secs, "second"));
        }
    }
    if let Some(g) = &v.gave_up {
        let _ = write!(s, ", {g}");
    }
    if let Some(e) = v.last_exit {
        let _ = write!(s, ", last {}", e.how);
    }
}

/// The checks' part of the line: the service's own status, the last health check,
/// the last failure supervise acted on.
fn checks_line(v: &View, now: SystemTime, s: &mut String) {
    if let (Some(text), Some(_)) = (&v.status_text, v.pid) {
        let _ = write!(s, ", status {text:?}");
    }
    if let (Some((at, passed, said)), Some(_)) = (&v.health, v.pid) {
        let ago = secs_between(*at, now) as u64;
        match passed {
            true => {
                let _ = write!(s, ", health checks passing for {}", plural(ago, "second"));
            }
            false => {
                let _ = write!(
                    s,
                    ", health check failed {} ago: {said}",
                    plural(ago, "second")
                );
            }
        }
    }
    if let Some(f) = &v.last_failure {
        let _ = write!(s, ", last failure: {f}");
    }
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "null".to_owned(), |x| x.to_string())
}

fn json_secs(x: f64) -> String {
    format!("{:.3}", x.max(0.0))
}

/// One JSON object per directory, on one line. Field names are stable; see the README.
pub fn json(v: &View, now: SystemTime) -> String {
    let last = v.last_exit;
    let code = last.and_then(|e| e.how.code());
    let signal = last.and_then(|e| e.how.signal());
    let fields: Vec<(&str, String)> = vec![
        ("dir", json_str(&v.dir)),
        ("service", json_str(&v.service)),
        ("supervise_running", v.supervise_running.to_string()),
        ("supervise_pid", json_opt(v.supervise_pid)),
        (
            "state",
            json_str(if v.supervise_running {
                v.phase.name()
            } else {
                "unsupervised"
            }),
        ),
        ("pid", json_opt(v.pid)),
        ("seconds", json_secs(secs_between(v.since, now))),
        ("want", json_str(v.want.name())),
        ("paused", v.paused.to_string()),
        ("alarms", v.alarms.to_string()),
        ("starts", json_opt(v.starts)),
        ("restarts", json_opt(v.starts.map(|s| s.saturating_sub(1)))),
        (
            "last_exit",
            json_opt(last.map(|e| json_str(&e.how.to_string()))),
        ),
        ("last_exit_code", json_opt(code)),
        ("last_exit_signal", json_opt(signal)),
        (
            "last_exit_signal_name",
            json_opt(signal.map(|s| json_str(&signal_name(s)))),
        ),
        (
            "last_exit_core",
            json_opt(last.map(|e| e.how.core_dumped())),
        ),
        (
            "last_exit_seconds_ago",
            json_opt(last.map(|e| json_secs(secs_between(e.at, now)))),
        ),
        (
            "next_start_in",
            json_opt(v.next_start.map(|t| json_secs(secs_between(now, t)))),
        ),
        ("unsupervised_pid", json_opt(v.orphan)),
        ("adopted", v.adopted.to_string()),
        ("window_exits", json_opt(v.window_exits)),
        ("gave_up", json_opt(v.gave_up.as_deref().map(json_str))),
        (
            "backoff_seconds",
            json_opt(v.backoff.map(|b| json_secs(b.as_secs_f64()))),
        ),
        (
            "watch",
            format!(
                "[{}]",
                v.watch
                    .iter()
                    .map(|w| json_str(w))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ),
        (
            "watch_restart_seconds_ago",
            json_opt(
                v.watch_restart
                    .as_ref()
                    .map(|(t, _)| json_secs(secs_between(*t, now))),
            ),
        ),
        (
            "watch_restart_path",
            json_opt(v.watch_restart.as_ref().map(|(_, p)| json_str(p))),
        ),
        ("readiness", json_opt(v.readiness.as_deref().map(json_str))),
        ("ready", v.ready().to_string()),
        (
            "ready_seconds",
            json_opt(
                v.ready_since
                    .filter(|_| v.ready())
                    .map(|t| json_secs(secs_between(t, now))),
            ),
        ),
        (
            "status_text",
            json_opt(v.status_text.as_deref().map(json_str)),
        ),
        ("health_passed", json_opt(v.health.as_ref().map(|h| h.1))),
        (
            "health_said",
            json_opt(v.health.as_ref().map(|h| json_str(&h.2))),
        ),
        (
            "health_seconds_ago",
            json_opt(v.health.as_ref().map(|h| json_secs(secs_between(h.0, now)))),
        ),
        (
            "last_failure",
            json_opt(v.last_failure.as_deref().map(json_str)),
        ),
        ("error", json_opt(v.state_error.as_deref().map(json_str))),
    ];
    let body: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| format!("{}:{v}", json_str(k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// The JSON object for a directory that could not be read: `supervise_running` is
/// `false` when it is known not to run, `null` when that cannot be told.
pub fn json_error(u: &Unreadable) -> String {
    format!(
        "{{\"dir\":{},\"supervise_running\":{},\"error\":{}}}",
        json_str(&u.dir),
        if u.unknown { "null" } else { "false" },
        json_str(&u.problem)
    )
}

/// A Prometheus label value.
fn prom_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family: name, type, help.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

const FAMILIES: [Family; 9] = [
    Family {
        name: "supervise_running",
        kind: "gauge",
        help: "1 if a supervise process runs on the status directory",
    },
    Family {
        name: "supervise_service_up",
        kind: "gauge",
        help: "1 if the service process is running",
    },
    Family {
        name: "supervise_service_uptime_seconds",
        kind: "gauge",
        help: "Seconds since the service started, 0 when it is down",
    },
    Family {
        name: "supervise_service_want_up",
        kind: "gauge",
        help: "1 if the service is wanted up",
    },
    Family {
        name: "supervise_service_restarts_total",
        kind: "counter",
        help: "Restarts since this supervise started",
    },
    Family {
        name: "supervise_service_last_exit_code",
        kind: "gauge",
        help: "Exit code of the last run, or 128 + signal number if a signal ended it",
    },
    Family {
        name: "supervise_service_paused",
        kind: "gauge",
        help: "1 if the service is paused",
    },
    Family {
        name: "supervise_service_gave_up",
        kind: "gauge",
        help: "1 if supervise stopped restarting a crash-looping service",
    },
    Family {
        name: "supervise_service_ready",
        kind: "gauge",
        help: "1 if the service is up and ready (told so, or ready at once)",
    },
];

/// The value of family `i` for a view, if it has one.
fn prom_value(i: usize, v: &View, now: SystemTime) -> Option<String> {
    let b = |x: bool| Some(u8::from(x).to_string());
    let up = v.supervise_running && v.pid.is_some() || v.orphan.is_some();
    match i {
        0 => b(v.supervise_running),
        1 => b(up),
        2 => Some(if up {
            format!("{:.3}", secs_between(v.since, now))
        } else {
            "0".into()
        }),
        3 => b(v.want == Want::Up),
        4 => v.starts.map(|s| s.saturating_sub(1).to_string()),
        5 => v.last_exit.and_then(|e| match e.how {
            Exit::Code(c) => Some(c.to_string()),
            Exit::Signal { signal, .. } => Some((128 + signal).to_string()),
            Exit::Unknown => None,
        }),
        6 => b(v.paused),
        7 => b(v.gave_up.is_some()),
        8 => b(v.ready()),
        _ => None,
    }
}

/// Prometheus text exposition for all directories, each family's samples together
/// (the format requires it), suitable for node_exporter's textfile collector.
/// Directories that could not be read appear only in `supervise_running` as 0, and
/// not at all when whether supervise runs cannot be told (a 0 would page someone).
pub fn prom(views: &[Result<View, Unreadable>], now: SystemTime) -> String {
    let mut out = String::new();
    for (i, fam) in FAMILIES.iter().enumerate() {
        let _ = writeln!(out, "# HELP {} {}", fam.name, fam.help);
        let _ = writeln!(out, "# TYPE {} {}", fam.name, fam.kind);
        for v in views {
            match v {
                Ok(v) => {
                    if let Some(val) = prom_value(i, v, now) {
                        let _ = writeln!(
                            out,
                            "{}{{service=\"{}\",dir=\"{}\"}} {val}",
                            fam.name,
                            prom_label(&v.service),
                            prom_label(&v.dir)
                        );
                    }
                }
                Err(u) if i == 0 && !u.unknown => {
                    let dir = &u.dir;
                    let service = crate::cli::service_name(Path::new(dir));
                    let _ = writeln!(
                        out,
                        "{}{{service=\"{}\",dir=\"{}\"}} 0",
                        fam.name,
                        prom_label(&service),
                        prom_label(dir)
                    );
                }
                Err(_) => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn up() -> View {
        View {
            dir: "status/app".into(),
            service: "app".into(),
            supervise_running: true,
            supervise_pid: Some(100),
            phase: statefile::Phase::Up,
            pid: Some(4242),
            since: t(1000),
            want: Want::Up,
            paused: false,
            alarms: true,
            starts: Some(3),
            last_exit: Some(LastExit {
                how: Exit::Signal {
                    signal: 9,
                    core: false,
                },
                at: t(999),
                asked: false,
                pid: 0,
            }),
            next_start: None,
            orphan: None,
            state_error: None,
            window_exits: None,
            gave_up: None,
            backoff: None,
            watch: Vec::new(),
            watch_restart: None,
            adopted: false,
            readiness: None,
            ready_since: None,
            status_text: None,
            health: None,
            last_failure: None,
        }
    }

    #[test]
    fn chunks_keep_the_order_and_cover_every_directory() {
        for n in [0, 1, 47, 48, 97, 200, 1000] {
            let dirs: Vec<PathBuf> = (0..n).map(|i| PathBuf::from(i.to_string())).collect();
            let parts = in_chunks(&dirs, |c| c.to_vec());
            assert!(parts.len() <= MAX_THREADS && !parts.is_empty(), "{n}");
            if n >= 2 * DIRS_PER_THREAD && cpus() > 1 {
                assert!(parts.len() > 1, "{n} directories on {} CPUs", cpus());
            }
            assert_eq!(parts.concat(), dirs, "{n}");
        }
    }

    #[test]
    fn one_second_is_singular() {
        let v = View {
            since: t(4599),
            ..up()
        };
        assert!(
            line(&v, t(4600)).contains("up (pid 4242) 1 second,"),
            "{}",
            line(&v, t(4600))
        );
    }

    #[test]
    fn lines() {
        let now = t(4600);
        assert_eq!(
            line(&up(), now),
            "status/app: up (pid 4242) 3600 seconds, normally up, alarms on, 2 restarts, last killed by SIGKILL"
        );
        let down = View {
            phase: statefile::Phase::Waiting,
            pid: None,
            since: t(4588),
            last_exit: Some(LastExit {
                how: Exit::Code(1),
                at: t(4588),
                asked: false,
                pid: 0,
            }),
            next_start: Some(t(4600) + Duration::from_millis(400)),
            starts: Some(1),
            ..up()
        };
        assert_eq!(
            line(&down, now),
            "status/app: down 12 seconds, want up, alarms on, 0 restarts, exited 1, starting in 0.4 s"
        );
        let paused = View {
            paused: true,
            alarms: false,
            want: Want::Once,
            starts: Some(2),
            last_exit: None,
            ..up()
        };
        assert_eq!(
            line(&paused, now),
            "status/app: up (pid 4242) 3600 seconds, paused, once, alarms off, 1 restart"
        );
        let stopping = View {
            phase: statefile::Phase::Stopping,
            want: Want::Down,
            ..up()
        };
        assert!(
            line(&stopping, now)
                .starts_with("status/app: stopping (pid 4242) 3600 seconds, want down")
        );
        let legacy = View {
            starts: None,
            last_exit: None,
            ..up()
        };
        assert_eq!(
            line(&legacy, now),
            "status/app: up (pid 4242) 3600 seconds, normally up, alarms on"
        );
    }

    #[test]
    fn dead_supervise() {
        let now = t(4600);
        let gone = View {
            supervise_running: false,
            supervise_pid: None,
            pid: None,
            ..up()
        };
        assert_eq!(
            line(&gone, now),
            "status/app: supervise not running; service down 3600 seconds, last killed by SIGKILL"
        );
        let orphan = View {
            supervise_running: false,
            orphan: Some(4242),
            ..up()
        };
        assert_eq!(
            line(&orphan, now),
            "status/app: supervise not running; its service pid 4242 is still running, unsupervised, last killed by SIGKILL"
        );
    }

    #[test]
    fn json_escapes_and_nulls() {
        let v = View {
            dir: "we\"ird\n".into(),
            last_exit: None,
            starts: None,
            ..up()
        };
        let j = json(&v, t(1001));
        assert!(
            j.starts_with("{\"dir\":\"we\\\"ird\\n\",\"service\":\"app\","),
            "{j}"
        );
        assert!(j.contains("\"last_exit\":null"), "{j}");
        assert!(j.contains("\"seconds\":1.000"), "{j}");
        assert!(j.contains("\"restarts\":null"), "{j}");
        assert_eq!(json_str("\u{1}"), "\"\\u0001\"");
    }

    #[test]
    fn prom_groups_families_and_escapes_labels() {
        let views = vec![
            Ok(up()),
            Err(Unreadable {
                dir: "status/\"x\"".to_string(),
                problem: "supervise not running".to_string(),
                unknown: false,
            }),
            Err(Unreadable {
                dir: "status/hidden".to_string(),
                problem: "cannot tell whether supervise runs: permission denied".to_string(),
                unknown: true,
            }),
        ];
        let text = prom(&views, t(1010));
        let mut seen_types = Vec::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                seen_types.push(rest.split(' ').next().unwrap().to_owned());
            }
        }
        assert_eq!(seen_types.len(), FAMILIES.len());
        assert!(text.contains("supervise_running{service=\"app\",dir=\"status/app\"} 1\n"));
        assert!(
            text.contains("supervise_running{service=\"\\\"x\\\"\",dir=\"status/\\\"x\\\"\"} 0\n"),
            "{text}"
        );
        assert!(
            !text.contains("hidden"),
            "no sample when it cannot be told: {text}"
        );
        assert!(text.contains(
            "supervise_service_uptime_seconds{service=\"app\",dir=\"status/app\"} 10.000\n"
        ));
        assert!(text.contains(
            "supervise_service_last_exit_code{service=\"app\",dir=\"status/app\"} 137\n"
        ));
        assert!(
            text.contains(
                "supervise_service_restarts_total{service=\"app\",dir=\"status/app\"} 2\n"
            )
        );
    }
}
