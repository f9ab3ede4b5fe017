//! What can be done to one of a host's processes, as supervisord's RPC interface
//! defines it, faults included, over the process's status directory: the same
//! letters `svc` writes, the same `status` and `state` files read back. `svc` by name
//! and the HTTP side ([`crate::host::web`]) both act through here, so a start means
//! the same everywhere (it waits for RUNNING, which honours readiness).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::info::{self, Info, State};
use super::service::Service;
use crate::client;
use crate::statusdir::Dir;

/// supervisord's fault codes (`supervisor.xmlrpc.Faults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    UnknownMethod = 1,
    IncorrectParameters = 2,
    BadArguments = 3,
    SignatureUnsupported = 4,
    ShutdownState = 6,
    BadName = 10,
    BadSignal = 11,
    NoFile = 20,
    NotExecutable = 21,
    Failed = 30,
    AbnormalTermination = 40,
    SpawnError = 50,
    AlreadyStarted = 60,
    NotRunning = 70,
    Success = 80,
    AlreadyAdded = 90,
    StillRunning = 91,
    CantReread = 92,
}

impl Fault {
    /// The name supervisord gives it (`getFaultDescription`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::UnknownMethod => "UNKNOWN_METHOD",
            Fault::IncorrectParameters => "INCORRECT_PARAMETERS",
            Fault::BadArguments => "BAD_ARGUMENTS",
            Fault::SignatureUnsupported => "SIGNATURE_UNSUPPORTED",
            Fault::ShutdownState => "SHUTDOWN_STATE",
            Fault::BadName => "BAD_NAME",
            Fault::BadSignal => "BAD_SIGNAL",
            Fault::NoFile => "NO_FILE",
            Fault::NotExecutable => "NOT_EXECUTABLE",
            Fault::Failed => "FAILED",
            Fault::AbnormalTermination => "ABNORMAL_TERMINATION",
            Fault::SpawnError => "SPAWN_ERROR",
            Fault::AlreadyStarted => "ALREADY_STARTED",
            Fault::NotRunning => "NOT_RUNNING",
            Fault::Success => "SUCCESS",
            Fault::AlreadyAdded => "ALREADY_ADDED",
            Fault::StillRunning => "STILL_RUNNING",
            Fault::CantReread => "CANT_REREAD",
        }
    }
}

/// A fault with what it is about (`RPCError(code, extra)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub fault: Fault,
    pub extra: Option<String>,
}

impl RpcError {
    /// A fault about `extra`.
    pub fn new(fault: Fault, extra: impl Into<String>) -> RpcError {
        RpcError {
            fault,
            extra: Some(extra.into()),
        }
    }

    /// A fault about nothing in particular.
    pub fn bare(fault: Fault) -> RpcError {
        RpcError { fault, extra: None }
    }

    /// The code.
    pub fn code(&self) -> i64 {
        self.fault as i64
    }

    /// supervisord's text: `BAD_NAME: web`.
    pub fn text(&self) -> String {
        match &self.extra {
            Some(e) => format!("{}: {e}", self.fault.name()),
            None => self.fault.name().to_owned(),
        }
    }
}

/// The longest a start waits for RUNNING after its start, beyond `startsecs` (a
/// service with a readiness check has its own `ready_timeout`, after which it fails).
const START_PATIENCE: Duration = Duration::from_secs(60);

/// The longest a stop waits (past that the process is taken as stuck).
const STOP_PATIENCE: Duration = Duration::from_secs(3600);

fn send(s: &Service, letters: &[u8]) -> Result<(), RpcError> {
    client::open(&s.dir)
        .and_then(|d| client::send(&d, letters))
        .map_err(|e| RpcError::new(Fault::Failed, format!("{}: {e}", s.name)))
}

/// Waits (bounded) until `done` says so of the process's info, woken by changes of
/// its status directory; the info then.
pub fn wait_until(s: &Service, within: Duration, done: impl Fn(&Info) -> bool) -> Info {
    let target = crate::svc::wait::Target {
        dir: s.dir.clone(),
        from: None,
    };
    let check = |_: &crate::svc::wait::Target| {
        done(&info::read(s, SystemTime::now())).then_some(crate::svc::wait::Outcome::Reached)
    };
    crate::svc::wait::wait_with(&[target], Some(within), check);
    info::read(s, SystemTime::now())
}

/// `startProcess`: `u`; with `wait`, until RUNNING (up `startsecs`, or ready as its
/// `ready` key says) or the start fails; without, until it has been started.
pub fn start(s: &Service, wait: bool) -> Result<(), RpcError> {
    start_many(&[s], wait).pop().unwrap_or(Ok(()))
}

/// `stopProcess`: `d`; with `wait`, until it is down.
pub fn stop(s: &Service, wait: bool) -> Result<(), RpcError> {
    stop_many(&[s], wait).pop().unwrap_or(Ok(()))
}

/// How long a reader waits for `state` to catch up with `status` (supervise writes it
/// right after, or 10 ms after a start).
const SETTLE_PATIENCE: Duration = Duration::from_secs(1);

/// The process's info once `state` agrees with `status` (or as it is, past
/// [`SETTLE_PATIENCE`]): what a start is measured from, so that the record of an
/// earlier change, landing after the letter, is not taken for this start's outcome.
fn settled(s: &Service, now: SystemTime) -> Info {
    let i = info::read(s, now);
    if i.settled {
        return i;
    }
    wait_until(s, SETTLE_PATIENCE, |i| i.settled)
}

/// What a start of `s` that began from `before` has come to, if anything yet. A
/// state is believed only once supervise has acted (a new start), so a FATAL or
/// EXITED from before the `u` is not taken for this start's failure.
fn start_outcome(s: &Service, before: &Info, i: &Info, wait: bool) -> Option<Result<(), RpcError>> {
    let new = i.starts > before.starts || (i.pid != 0 && i.pid != before.pid);
    if !i.settled {
        // Between `status` and `state`: readiness is not known yet.
        return None;
    }
    match i.state {
        State::Running if new || before.pid == 0 => Some(Ok(())),
        State::Starting if !wait && i.pid != 0 => Some(Ok(())),
        State::Fatal | State::Backoff if new => {
            Some(Err(RpcError::new(Fault::SpawnError, &s.name)))
        }
        State::Exited | State::Stopped if i.starts > before.starts => {
            Some(Err(RpcError::new(Fault::AbnormalTermination, &s.name)))
        }
        _ => None,
    }
}

/// Starts each (all the letters first, then one wait on all of them): a group or
/// `all` takes as long as its slowest, not as the sum.
pub fn start_many(list: &[&Service], wait: bool) -> Vec<Result<(), RpcError>> {
    let now = SystemTime::now();
    let mut out: Vec<Option<Result<(), RpcError>>> = Vec::with_capacity(list.len());
    let mut before: Vec<Info> = Vec::with_capacity(list.len());
    for s in list {
        let b = settled(s, now);
        let refused = match b.state {
            State::Running | State::Starting | State::Stopping | State::Backoff => {
                Some(Err(RpcError::new(Fault::AlreadyStarted, &s.name)))
            }
            State::Unknown => Some(Err(RpcError::new(
                Fault::Failed,
                format!("{} is in an unknown process state", s.name),
            ))),
            _ => send(s, b"u").err().map(Err),
        };
        out.push(refused);
        before.push(b);
    }
    let longest = list.iter().map(|s| s.startsecs).max().unwrap_or_default();
    let decided = wait_all(list, &out, longest + START_PATIENCE, |i, k| {
        start_outcome(list[k], &before[k], i, wait)
    });
    out.into_iter()
        .zip(decided)
        .zip(list)
        .map(|((o, d), s)| {
            o.or(d)
                .unwrap_or_else(|| Err(RpcError::new(Fault::AbnormalTermination, &s.name)))
        })
        .collect()
}

/// Stops each (all the letters first, then one wait on all of them).
pub fn stop_many(list: &[&Service], wait: bool) -> Vec<Result<(), RpcError>> {
    let now = SystemTime::now();
    let out: Vec<Option<Result<(), RpcError>>> = list
        .iter()
        .map(|s| match info::read(s, now).state {
            State::Running | State::Starting | State::Backoff => {
                send(s, b"d").err().map(Err).or((!wait).then_some(Ok(())))
            }
            _ => Some(Err(RpcError::new(Fault::NotRunning, &s.name))),
        })
        .collect();
    let stopped = |i: &Info| matches!(i.state, State::Stopped | State::Exited | State::Fatal);
    let decided = wait_all(list, &out, STOP_PATIENCE, |i, _| {
        stopped(i).then_some(Ok(()))
    });
    // A start right after must read the stop's own record: wait (bounded) for it.
    for (s, d) in list.iter().zip(&decided) {
        if matches!(d, Some(Ok(()))) {
            settled(s, SystemTime::now());
        }
    }
    out.into_iter()
        .zip(decided)
        .zip(list)
        .map(|((o, d), s)| {
            o.or(d).unwrap_or_else(|| {
                Err(RpcError::new(
                    Fault::Failed,
                    format!("{}: failed to stop", s.name),
                ))
            })
        })
        .collect()
}

/// Waits (bounded) until `outcome` says something of each process not yet `done`,
/// woken by changes of their status directories; what it said of each.
fn wait_all(
    list: &[&Service],
    done: &[Option<Result<(), RpcError>>],
    within: Duration,
    outcome: impl Fn(&Info, usize) -> Option<Result<(), RpcError>>,
) -> Vec<Option<Result<(), RpcError>>> {
    let pending: Vec<usize> = (0..list.len()).filter(|&k| done[k].is_none()).collect();
    let targets: Vec<crate::svc::wait::Target> = pending
        .iter()
        .map(|&k| crate::svc::wait::Target {
            dir: list[k].dir.clone(),
            from: None,
        })
        .collect();
    let results = std::cell::RefCell::new(vec![None; list.len()]);
    let check = |t: &crate::svc::wait::Target| {
        let k = *pending.iter().find(|&&k| list[k].dir == t.dir)?;
        let r = outcome(&info::read(list[k], SystemTime::now()), k)?;
        results.borrow_mut()[k] = Some(r);
        Some(crate::svc::wait::Outcome::Reached)
    };
    if !targets.is_empty() {
        crate::svc::wait::wait_with(&targets, Some(within), check);
    }
    results.into_inner()
}

/// `signalProcess`: the signal (a name, `HUP` or `SIGHUP`, or a number) to the
/// process, through the one place that signals.
pub fn signal(s: &Service, sig: &str) -> Result<(), RpcError> {
    use nix::sys::signal::Signal;
    let signal = crate::config::parse_signal(sig)
        .and_then(|n| Signal::try_from(n).ok())
        .ok_or_else(|| RpcError::new(Fault::BadSignal, sig))?;
    let i = info::read(s, SystemTime::now());
    if i.pid == 0 || !matches!(i.state, State::Running | State::Starting | State::Stopping) {
        return Err(RpcError::new(Fault::NotRunning, &s.name));
    }
    // Through its supervise when a letter says it: supervise knows its own child,
    // whatever `status` (writable by the service's user) names.
    let letter = match signal {
        Signal::SIGHUP => Some(b'h'),
        Signal::SIGALRM => Some(b'a'),
        Signal::SIGINT => Some(b'i'),
        Signal::SIGTERM => Some(b't'),
        Signal::SIGKILL => Some(b'k'),
        Signal::SIGQUIT => Some(b'q'),
        Signal::SIGUSR1 => Some(b'1'),
        Signal::SIGUSR2 => Some(b'2'),
        Signal::SIGSTOP => Some(b'p'),
        Signal::SIGCONT => Some(b'c'),
        _ => None,
    };
    if let Some(l) = letter {
        return send(s, &[l]);
    }
    // Another signal: only to a process whose parent is the supervise holding the
    // directory's lock (its own child, not whatever pid `status` was made to say).
    let sup = client::open(&s.dir).ok().and_then(|d| client::lock_pid(&d));
    if sup.is_none() || crate::proc::parent(i.pid) != sup {
        return Err(RpcError::new(
            Fault::Failed,
            format!("{}: pid {} is not its supervise's child", s.name, i.pid),
        ));
    }
    let target = crate::machine::Target::Process(nix::unistd::Pid::from_raw(i.pid as i32));
    match crate::kill::send(target, signal) {
        crate::kill::Sent::Delivered | crate::kill::Sent::ProcessOnly => Ok(()),
        other => Err(RpcError::new(
            Fault::Failed,
            format!("{}: {other:?}", s.name),
        )),
    }
}

/// Where a process's output goes: `stdout` or `stderr` (empty when nowhere).
pub fn log_path(s: &Service, stderr: bool) -> String {
    let i = info::read(s, SystemTime::now());
    if stderr {
        i.stderr_logfile
    } else {
        i.stdout_logfile
    }
}

/// Opens a log by the status-directory rules (no link followed, a FIFO refused).
fn open_log(path: &str) -> Option<File> {
    let p = Path::new(path);
    let dir = Dir::open(p.parent()?).ok()?;
    dir.open_read(&p.file_name()?.to_string_lossy()).ok()
}

/// The most bytes one read or tail returns (a client asking for more gets this).
pub const MAX_READ: u64 = 1024 * 1024;

/// `readProcessStdoutLog`: supervisord's `readFile`: `length` bytes from `offset`, or
/// with a negative offset its magnitude from the end (then `length` must be 0); a
/// length of 0 is to the end.
pub fn read_log(path: &str, offset: i64, length: i64) -> Result<Vec<u8>, RpcError> {
    if path.is_empty() {
        return Err(RpcError::new(Fault::NoFile, "none"));
    }
    let mut f = open_log(path).ok_or_else(|| RpcError::new(Fault::NoFile, path))?;
    let size = f
        .metadata()
        .map_err(|_| RpcError::bare(Fault::Failed))?
        .len();
    let (from, want) = if offset < 0 {
        if length != 0 {
            return Err(RpcError::bare(Fault::BadArguments));
        }
        let back = offset.unsigned_abs();
        (size.saturating_sub(back), back)
    } else {
        if length < 0 {
            return Err(RpcError::bare(Fault::BadArguments));
        }
        let off = offset as u64;
        let want = if length == 0 {
            size.saturating_sub(off)
        } else {
            length as u64
        };
        (off, want)
    };
    read_at(&mut f, from, want.min(MAX_READ)).map_err(|_| RpcError::bare(Fault::Failed))
}

fn read_at(f: &mut File, from: u64, want: u64) -> std::io::Result<Vec<u8>> {
    f.seek(SeekFrom::Start(from))?;
    let mut out = Vec::new();
    f.take(want).read_to_end(&mut out)?;
    Ok(out)
}

/// `tailProcessStdoutLog`: supervisord's `tailFile`: up to `length` bytes from
/// `offset`; if the log has grown past `offset + length`, its last `length` bytes
/// and the overflow flag. The offset returned is the log's size.
pub fn tail_log(path: &str, offset: i64, length: i64) -> (Vec<u8>, i64, bool) {
    let length = length.clamp(0, MAX_READ as i64);
    let Some(mut f) = (!path.is_empty()).then(|| open_log(path)).flatten() else {
        return (Vec::new(), offset, false);
    };
    let size = f.metadata().map_or(0, |m| m.len()) as i64;
    let (mut offset, mut length, mut overflow) = (offset, length, false);
    if size > offset.saturating_add(length) {
        overflow = true;
        offset = size - 1;
    }
    if offset.saturating_add(length) > size {
        if offset > size - 1 {
            length = 0;
        }
        offset = size - length;
    }
    offset = offset.max(0);
    let data = if length <= 0 {
        Vec::new()
    } else {
        read_at(&mut f, offset as u64, length as u64).unwrap_or_default()
    };
    (data, size, overflow)
}

/// `clearProcessLogs`: empties the process's output files.
pub fn clear_logs(s: &Service) -> Result<(), RpcError> {
    for stderr in [false, true] {
        let path = log_path(s, stderr);
        if path.is_empty() {
            continue;
        }
        let p = Path::new(&path);
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
            continue;
        };
        let Ok(dir) = Dir::open(parent) else {
            continue;
        };
        match dir.truncate(&name.to_string_lossy()) {
            Ok(()) | Err(crate::statusdir::open::FileError::Missing) => {}
            Err(_) => return Err(RpcError::new(Fault::Failed, &s.name)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(content: &[u8]) -> (tempfile::TempDir, String) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("__stdout");
        std::fs::write(&p, content).unwrap();
        let s = p.display().to_string();
        (d, s)
    }

    #[test]
    fn read_log_is_supervisords_read_file() {
        let (_d, p) = log(b"0123456789");
        assert_eq!(read_log(&p, 2, 3).unwrap(), b"234");
        assert_eq!(read_log(&p, 7, 0).unwrap(), b"789");
        assert_eq!(read_log(&p, -4, 0).unwrap(), b"6789");
        assert_eq!(read_log(&p, -40, 0).unwrap(), b"0123456789");
        assert_eq!(read_log(&p, 20, 5).unwrap(), b"");
        assert_eq!(read_log(&p, -4, 2).unwrap_err().fault, Fault::BadArguments);
        assert_eq!(read_log(&p, 0, -2).unwrap_err().fault, Fault::BadArguments);
        let missing = read_log("/nonexistent/x", 0, 0).unwrap_err();
        assert_eq!(missing.text(), "NO_FILE: /nonexistent/x");
    }

    #[test]
    fn tail_log_is_supervisords_tail_file() {
        let (_d, p) = log(b"0123456789");
        // From the start, room for all: everything, offset = size.
        assert_eq!(tail_log(&p, 0, 100), (b"0123456789".to_vec(), 10, false));
        // Grown past offset + length: the last bytes, overflow.
        assert_eq!(tail_log(&p, 0, 4), (b"6789".to_vec(), 10, true));
        // Caught up: nothing new.
        assert_eq!(tail_log(&p, 10, 4), (Vec::new(), 10, false));
        // As Python's tailFile: the window ends at the end of the file.
        assert_eq!(tail_log(&p, 8, 4), (b"6789".to_vec(), 10, false));
        assert_eq!(tail_log(&p, 5, 0), (Vec::new(), 10, true));
        assert_eq!(tail_log("/nonexistent/x", 5, 4), (Vec::new(), 5, false));
    }

    #[test]
    fn fault_texts_are_supervisords() {
        assert_eq!(RpcError::new(Fault::BadName, "web").text(), "BAD_NAME: web");
        assert_eq!(RpcError::bare(Fault::Failed).text(), "FAILED");
        assert_eq!(Fault::CantReread as i64, 92);
    }
}
