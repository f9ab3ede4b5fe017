//! `svc`: control and status for any number of status directories (SPEC §8).
//!
//! Nothing here can hang: letters go through a non-blocking open of `control` (no
//! reader means "supervise not running", at once), and waits are driven by inotify
//! with an optional timeout ([`wait`]).

pub mod host;
pub mod legacy;
pub mod report;
pub mod tail;
pub mod wait;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::client;
use crate::control::Letter;
use wait::{Goal, Outcome, Target};

/// Every directory did what was asked.
pub const EXIT_OK: u8 = 0;
/// At least one directory failed (not running, not a status directory, unreadable).
pub const EXIT_FAILED: u8 = 1;
/// A wait timed out (and nothing failed).
pub const EXIT_TIMEOUT: u8 = 2;
/// Whether supervise runs could not be told for some directory (permission denied),
/// and nothing failed outright: as LSB's "status unknown".
pub const EXIT_UNKNOWN: u8 = 4;
/// Bad usage.
pub const EXIT_USAGE: u8 = 100;

/// The `svc -h` text.
pub const USAGE: &str = "\
usage: svc -LETTERS [-w up|down|restart|ready] [-T SECS] DIR...
       svc status [--json | --prom] DIR...
       svc pid DIR
       svc ok DIR...
       svc wait up|down|restart|ready [-T SECS] DIR...
       svc DIR status|start|stop|restart|exit|reconf|alarm on|off
       svc [-c FILE] status [NAME|GROUP:*|all]...
       svc [-c FILE] start|stop|restart NAME|GROUP:*|all...
       svc [-c FILE] signal SIG NAME...
       svc [-c FILE] pid [NAME|all]
       svc [-c FILE] tail [-f] [-n LINES | -BYTES] NAME|all [stdout|stderr]
       svc [-c FILE] update|reread|avail|shutdown

  -LETTERS     send control letters to each DIR's supervise, in order:
                 u up  d down  o once  p pause  c continue  x exit when down
                 h a i t k q 1 2: send HUP ALRM INT TERM KILL QUIT USR1 USR2
                 s silence alarms   n alarms on   r reload config
               e.g. svc -dx status/app, svc -k status/*
  -w STATE     then wait until each service is up, down, restarted (a pid other
               than the one before the letters) or ready (up, and ready as its
               ready key says); -wu -wd -wr for short
  -T, --timeout SECS
               give up waiting after SECS seconds (may be fractional)
  status       one line per DIR; --json: one JSON object per line; --prom:
               Prometheus text format (node_exporter textfile collector)
  pid          print the service's pid; fails if it is not running
  ok           succeed if supervise runs on every DIR (quiet)
  wait         wait for a state, woken by inotify; no timeout unless -T
  DIR VERB     the legacy svc script's form, its messages and exit codes (see
               the README, \"Coming from the legacy supervise\")
  NAME         a process of supervise-host's config (-c FILE, else where
               supervisord looks), as supervisorctl names it; output and exit
               codes as supervisorctl's (status: 3 when one is not running)

Exit codes: 0 all done; 1 some DIR failed (supervise not running, not a status
directory, unreadable status, service not running for pid); 2 a wait timed out;
4 whether supervise runs could not be told (permission denied); 100 bad usage.
svc never blocks on a directory whose supervise is gone.
";

/// Output form of `svc status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One line per directory.
    Line,
    /// One JSON object per line.
    Json,
    /// Prometheus text exposition.
    Prom,
}

/// A parsed `svc` command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `svc -LETTERS [-w STATE] [-T SECS] DIR...`.
    Letters {
        /// Letters to send, in order.
        letters: Vec<Letter>,
        /// State to wait for afterwards.
        wait: Option<Goal>,
        /// Bound on that wait.
        timeout: Option<Duration>,
        /// The directories.
        dirs: Vec<PathBuf>,
    },
    /// `svc status`.
    Status {
        /// Output form.
        format: Format,
        /// The directories.
        dirs: Vec<PathBuf>,
    },
    /// `svc pid DIR`.
    Pid(PathBuf),
    /// `svc ok DIR...`.
    Ok(Vec<PathBuf>),
    /// `svc wait STATE DIR...`.
    Wait {
        /// The state.
        goal: Goal,
        /// Bound on the wait.
        timeout: Option<Duration>,
        /// The directories.
        dirs: Vec<PathBuf>,
    },
    /// `svc [-c FILE] VERB NAME...`: the host's processes by name.
    Host {
        /// The host's config, if given.
        config: Option<PathBuf>,
        /// What to do.
        verb: host::Verb,
    },
    /// `svc STATUSDIR VERB [on|off]`: the legacy script's form.
    Legacy {
        /// The status directory.
        dir: PathBuf,
        /// The verb, if given.
        verb: Option<String>,
        /// `on` or `off` after `alarm`.
        arg: Option<String>,
    },
    /// `-h`.
    Help,
    /// `--version`.
    Version,
}

fn parse_timeout(v: Option<OsString>) -> Result<Duration, String> {
    let v = v.ok_or("-T needs a number of seconds")?;
    let s = v.to_string_lossy();
    s.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("timeout {s:?} is not a number of seconds"))
}

fn parse_goal(s: &str) -> Result<Goal, String> {
    Goal::parse(s).ok_or_else(|| format!("cannot wait for {s:?}: say up, down, restart or ready"))
}

/// `svc`'s own commands (a first word that is one of them is never a directory).
pub const SUBCOMMANDS: &[&str] = &[
    "status", "pid", "ok", "wait", "help", "start", "stop", "restart", "signal", "tail", "update",
    "reread", "avail", "shutdown",
];

/// Whether `status`/`pid` with these words is by name (the host's processes): no
/// word is a path (a process name has no `/`) or an existing directory, nor an option
/// of the directory form.
fn by_name(rest: &[OsString]) -> bool {
    !rest.iter().any(|a| {
        let s = a.to_string_lossy();
        s.starts_with('-') || s.contains('/') || std::path::Path::new(a).is_dir()
    })
}

/// `svc [-c FILE] VERB ARGS...` on the host's processes.
fn parse_host(
    config: Option<PathBuf>,
    mut rest: std::vec::IntoIter<OsString>,
) -> Result<Command, String> {
    let verb = rest
        .next()
        .map(|v| v.to_string_lossy().into_owned())
        .ok_or("-c FILE must be followed by a command (status, start NAME, update, ...)")?;
    let args = rest.map(|a| a.to_string_lossy().into_owned()).collect();
    Ok(Command::Host {
        config,
        verb: host::parse(&verb, args)?,
    })
}

/// Parses the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<Command, String> {
    if matches!(
        args.first().and_then(|a| a.to_str()),
        Some("-c" | "--configuration")
    ) {
        let mut it = args.into_iter().skip(1);
        let file = it.next().ok_or("-c needs the host's config file")?;
        return parse_host(Some(file.into()), it.collect::<Vec<_>>().into_iter());
    }
    let first = args.first().and_then(|a| a.to_str()).unwrap_or("");
    if host::VERBS.contains(&first) || (matches!(first, "status" | "pid") && by_name(&args[1..])) {
        return parse_host(None, args.into_iter());
    }
    if legacy::is_legacy(&args) {
        let word = |i: usize| args.get(i).map(|a| a.to_string_lossy().into_owned());
        return Ok(Command::Legacy {
            dir: PathBuf::from(&args[0]),
            verb: word(1),
            arg: word(2),
        });
    }
    let mut it = args.into_iter();
    let Some(first) = it.next() else {
        return Err(
            "nothing to do: give -LETTERS DIR..., status, pid, ok or wait with DIRs, or \
             status, start, stop, restart, signal, tail, update... by name"
                .into(),
        );
    };
    match first.to_str() {
        Some("-h" | "--help" | "help") => Ok(Command::Help),
        Some("-v" | "-V" | "--version") => Ok(Command::Version),
        Some("status") => parse_status(it),
        Some("pid") => {
            let dirs = dirs_only(it)?;
            match <[PathBuf; 1]>::try_from(dirs) {
                Ok([d]) => Ok(Command::Pid(d)),
                Err(_) => Err("pid takes exactly one directory".into()),
            }
        }
        Some("ok") => Ok(Command::Ok(need_dirs(dirs_only(it)?)?)),
        Some("wait") => parse_wait(it),
        Some(s) if s.starts_with('-') => parse_letters(std::iter::once(first).chain(it)),
        _ => Err(format!(
            "unknown command {first:?}: give -LETTERS DIR..., or status, pid, ok, wait"
        )),
    }
}

fn need_dirs(dirs: Vec<PathBuf>) -> Result<Vec<PathBuf>, String> {
    if dirs.is_empty() {
        Err("no status directory given".into())
    } else {
        Ok(dirs)
    }
}

fn dirs_only(it: impl Iterator<Item = OsString>) -> Result<Vec<PathBuf>, String> {
    let mut dirs = Vec::new();
    let mut options_done = false;
    for a in it {
        if !options_done && a == "--" {
            options_done = true;
        } else if !options_done && a.to_string_lossy().starts_with('-') {
            return Err(format!("unknown option {a:?}"));
        } else {
            dirs.push(PathBuf::from(a));
        }
    }
    Ok(dirs)
}

fn parse_status(it: impl Iterator<Item = OsString>) -> Result<Command, String> {
    let mut format = Format::Line;
    let mut rest = Vec::new();
    for a in it {
        match a.to_str() {
            Some("--json") => format = Format::Json,
            Some("--prom") => format = Format::Prom,
            _ => rest.push(a),
        }
    }
    Ok(Command::Status {
        format,
        dirs: need_dirs(dirs_only(rest.into_iter())?)?,
    })
}

fn parse_wait(mut it: impl Iterator<Item = OsString>) -> Result<Command, String> {
    let goal = it
        .next()
        .ok_or("wait needs a state: up, down, restart or ready")?;
    let goal = parse_goal(&goal.to_string_lossy())?;
    let mut timeout = None;
    let mut rest = Vec::new();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("-T" | "--timeout") => timeout = Some(parse_timeout(it.next())?),
            Some(s) if s.starts_with("--timeout=") => {
                timeout = Some(parse_timeout(Some(s["--timeout=".len()..].into()))?);
            }
            _ => rest.push(a),
        }
    }
    Ok(Command::Wait {
        goal,
        timeout,
        dirs: need_dirs(dirs_only(rest.into_iter())?)?,
    })
}

fn parse_letters(mut it: impl Iterator<Item = OsString>) -> Result<Command, String> {
    let mut letters = Vec::new();
    let mut wait = None;
    let mut timeout = None;
    let mut dirs = Vec::new();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy().into_owned();
        if s == "--" {
            dirs.extend(it.by_ref().map(PathBuf::from));
            break;
        }
        if s == "--timeout" {
            timeout = Some(parse_timeout(it.next())?);
            continue;
        }
        if let Some(v) = s.strip_prefix("--timeout=") {
            timeout = Some(parse_timeout(Some(v.into()))?);
            continue;
        }
        if s == "--wait" {
            let g = it.next().ok_or("--wait needs a state")?;
            wait = Some(parse_goal(&g.to_string_lossy())?);
            continue;
        }
        let Some(cluster) = s.strip_prefix('-').filter(|c| !c.is_empty()) else {
            dirs.push(PathBuf::from(a));
            dirs.extend(it.by_ref().map(PathBuf::from));
            break;
        };
        let mut chars = cluster.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                'w' => {
                    // -wu, or -w up / -w u as a separate word.
                    let rest = &cluster[i + 1..];
                    let goal = if rest.is_empty() {
                        it.next()
                            .map(|g| g.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    } else {
                        rest.chars().next().map(String::from).unwrap_or_default()
                    };
                    wait = Some(parse_goal(&goal)?);
                    if !rest.is_empty() {
                        chars.next();
                    }
                }
                'T' => {
                    let rest = &cluster[i + 1..];
                    let v = if rest.is_empty() {
                        it.next()
                    } else {
                        Some(rest.into())
                    };
                    timeout = Some(parse_timeout(v)?);
                    break;
                }
                c => {
                    let letter = u8::try_from(c)
                        .ok()
                        .and_then(Letter::from_byte)
                        .ok_or_else(|| format!("unknown letter {c:?} in {s:?}"))?;
                    letters.push(letter);
                }
            }
        }
    }
    if letters.is_empty() && wait.is_none() {
        return Err("no letters given".into());
    }
    Ok(Command::Letters {
        letters,
        wait,
        timeout,
        dirs: need_dirs(dirs)?,
    })
}

/// Runs `svc` with its arguments (program name excluded); returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> u8 {
    let cmd = match parse(args.into_iter().collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("svc: {e} (see svc -h)");
            return EXIT_USAGE;
        }
    };
    match cmd {
        Command::Help => {
            print!("{USAGE}");
            EXIT_OK
        }
        Command::Version => {
            println!("svc {}", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        Command::Letters {
            letters,
            wait,
            timeout,
            dirs,
        } => send_letters(&letters, wait, timeout, &dirs),
        Command::Status { format, dirs } => status(format, &dirs),
        Command::Pid(dir) => pid(&dir),
        Command::Host { config, verb } => {
            host::run(config.as_deref(), &verb, &mut std::io::stdout().lock())
        }
        Command::Legacy { dir, verb, arg } => legacy::run(
            &dir,
            verb.as_deref(),
            arg.as_deref(),
            &mut std::io::stdout().lock(),
        ),
        Command::Ok(dirs) => ok(&dirs),
        Command::Wait {
            goal,
            timeout,
            dirs,
        } => {
            // A plain wait for up on a service wanted down would wait for ever: say so
            // at once. (After letters, `-w`, the letters may be about to change that.)
            let mut code = EXIT_OK;
            let mut targets = Vec::new();
            for d in &dirs {
                match client::open(d).and_then(|h| client::read_status(&h)) {
                    Ok(s)
                        if goal != Goal::Down
                            && s.pid == 0
                            && s.want == crate::status::Want::Down =>
                    {
                        eprintln!(
                            "{}: down and wanted down: it will not be {goal} until asked (svc -u)",
                            d.display()
                        );
                        code = EXIT_FAILED;
                    }
                    _ => targets.push(Target::now(d)),
                }
            }
            finish_wait(&targets, goal, timeout, code)
        }
    }
}

fn send_letters(
    letters: &[Letter],
    wait: Option<Goal>,
    timeout: Option<Duration>,
    dirs: &[PathBuf],
) -> u8 {
    let bytes: Vec<u8> = letters.iter().map(|l| l.to_byte()).collect();
    let mut code = EXIT_OK;
    let mut sent = Vec::new();
    for dir in dirs {
        // The pid before the letters, for -wr; without a wait, nothing to read.
        let target = wait.map(|_| Target::now(dir));
        if !bytes.is_empty() {
            if let Err(p) = client::open(dir).and_then(|h| client::send(&h, &bytes)) {
                eprintln!("{}: {p}", dir.display());
                code = EXIT_FAILED;
                continue;
            }
        }
        sent.extend(target);
    }
    match wait {
        Some(goal) => finish_wait(&sent, goal, timeout, code),
        None => code,
    }
}

fn finish_wait(targets: &[Target], goal: Goal, timeout: Option<Duration>, mut code: u8) -> u8 {
    let mut timed_out = false;
    for outcome in wait::wait(targets, goal, timeout) {
        match outcome {
            Outcome::Reached => {}
            Outcome::Failed(m) => {
                eprintln!("{m}");
                code = EXIT_FAILED;
            }
            Outcome::TimedOut(m) => {
                eprintln!("{m}");
                timed_out = true;
            }
        }
    }
    if code == EXIT_OK && timed_out {
        EXIT_TIMEOUT
    } else {
        code
    }
}

fn status(format: Format, dirs: &[PathBuf]) -> u8 {
    let now = SystemTime::now();
    let stdout = std::io::stdout();
    if format == Format::Prom {
        let views: Vec<_> = report::in_chunks(dirs, |chunk| {
            chunk.iter().map(|d| report::inspect(d)).collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
        let mut out = stdout.lock();
        let _ = out.write_all(report::prom(&views, now).as_bytes());
        let _ = out.flush();
        return views.iter().fold(Told::default(), Told::add).code();
    }
    // A terminal gets each line as it comes (between the errors on stderr); a pipe or
    // a file gets them in one write, read by as many threads as the directories are
    // worth (report::in_chunks), in the order given.
    if std::io::IsTerminal::is_terminal(&stdout) {
        let mut told = Told::default();
        for d in dirs {
            let (out, err, t) = told_of(format, std::slice::from_ref(d), now);
            let _ = stdout.lock().write_all(out.as_bytes());
            eprint!("{err}");
            told = told.merge(t);
        }
        return told.code();
    }
    let parts = report::in_chunks(dirs, |chunk| told_of(format, chunk, now));
    let mut told = Told::default();
    let mut out = stdout.lock();
    for (text, err, t) in parts {
        eprint!("{err}");
        let _ = out.write_all(text.as_bytes());
        told = told.merge(t);
    }
    let _ = out.flush();
    told.code()
}

/// What `svc status` prints for `dirs` (lines for stdout, lines for stderr) and what
/// they add to its exit code.
fn told_of(format: Format, dirs: &[PathBuf], now: SystemTime) -> (String, String, Told) {
    use std::fmt::Write as _;
    let (mut out, mut err) = (String::with_capacity(128 * dirs.len()), String::new());
    let mut told = Told::default();
    // Lines or JSON: the Prometheus text is made of all the views at once.
    let json = format == Format::Json;
    for d in dirs {
        let v = report::inspect(d);
        match (json, &v) {
            (false, Ok(v)) => report::line_into(v, now, &mut out),
            (true, Ok(v)) => out.push_str(&report::json(v, now)),
            (true, Err(u)) => out.push_str(&report::json_error(u)),
            (false, Err(u)) => {
                let _ = writeln!(err, "{}: {}", u.dir, u.problem);
                told = told.add(&v);
                continue;
            }
        }
        out.push('\n');
        told = told.add(&v);
    }
    (out, err, told)
}

/// What the directories of a status said, for its exit code.
#[derive(Debug, Default, Clone, Copy)]
struct Told {
    /// A directory failed.
    failed: bool,
    /// Whether supervise runs could not be told for a directory.
    unknown: bool,
}

impl Told {
    fn add(self, v: &Result<report::View, report::Unreadable>) -> Told {
        match v {
            Ok(_) => self,
            Err(u) => self.merge(Told {
                failed: !u.unknown,
                unknown: u.unknown,
            }),
        }
    }

    fn merge(self, o: Told) -> Told {
        Told {
            failed: self.failed || o.failed,
            unknown: self.unknown || o.unknown,
        }
    }

    /// 1 if a directory failed, else 4 if one could not be told, else 0.
    fn code(self) -> u8 {
        match (self.failed, self.unknown) {
            (true, _) => EXIT_FAILED,
            (false, true) => EXIT_UNKNOWN,
            (false, false) => EXIT_OK,
        }
    }
}

fn pid(dir: &std::path::Path) -> u8 {
    let found =
        client::open(dir).and_then(|h| Ok((client::read_status(&h)?, client::running(&h)?)));
    let (problem, code) = match found {
        Ok((s, true)) if s.pid != 0 => {
            println!("{}", s.pid);
            return EXIT_OK;
        }
        Ok((_, true)) => ("the service is not running".to_owned(), EXIT_FAILED),
        Ok((_, false)) => ("supervise not running".to_owned(), EXIT_FAILED),
        Err(p) if p.is_unknown() => (p.to_string(), EXIT_UNKNOWN),
        Err(p) => (p.to_string(), EXIT_FAILED),
    };
    eprintln!("{}: {problem}", dir.display());
    code
}

fn ok(dirs: &[PathBuf]) -> u8 {
    let mut code = EXIT_OK;
    for dir in dirs {
        match client::open(dir).and_then(|h| client::running(&h)) {
            Ok(true) => {}
            Ok(false) => code = EXIT_FAILED,
            Err(p) => {
                eprintln!("{}: {p}", dir.display());
                if p.is_unknown() && code == EXIT_OK {
                    code = EXIT_UNKNOWN;
                } else if !p.is_unknown() {
                    code = EXIT_FAILED;
                }
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from).collect())
    }

    fn dirs(d: &[&str]) -> Vec<PathBuf> {
        d.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn letters() {
        assert_eq!(
            p(&["-dx", "status/a", "status/b"]),
            Ok(Command::Letters {
                letters: vec![Letter::Down, Letter::Exit],
                wait: None,
                timeout: None,
                dirs: dirs(&["status/a", "status/b"]),
            })
        );
        assert_eq!(
            p(&["-k", "-wr", "-T", "2.5", "status/a"]),
            Ok(Command::Letters {
                letters: vec![Letter::Kill],
                wait: Some(Goal::Restart),
                timeout: Some(Duration::from_millis(2500)),
                dirs: dirs(&["status/a"]),
            })
        );
        assert_eq!(
            p(&["-uwuT3", "d"]),
            Ok(Command::Letters {
                letters: vec![Letter::Up],
                wait: Some(Goal::Up),
                timeout: Some(Duration::from_secs(3)),
                dirs: dirs(&["d"]),
            })
        );
        assert_eq!(
            p(&["-d", "--wait", "down", "--timeout", "1", "--", "-odd-dir"]),
            Ok(Command::Letters {
                letters: vec![Letter::Down],
                wait: Some(Goal::Down),
                timeout: Some(Duration::from_secs(1)),
                dirs: dirs(&["-odd-dir"]),
            })
        );
        let all: String = Letter::ALL
            .iter()
            .map(|l| char::from(l.to_byte()))
            .collect();
        match p(&[&format!("-{all}"), "d"]) {
            Ok(Command::Letters { letters, .. }) => assert_eq!(letters, Letter::ALL.to_vec()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn subcommands() {
        assert_eq!(
            p(&["status", "--json", "a", "b"]),
            Ok(Command::Status {
                format: Format::Json,
                dirs: dirs(&["a", "b"])
            })
        );
        assert_eq!(
            p(&["status", "a", "--prom"]),
            Ok(Command::Status {
                format: Format::Prom,
                dirs: dirs(&["a"])
            })
        );
        let tmp = tempfile::tempdir().unwrap();
        let sd = tmp.path().join("a");
        std::fs::create_dir(&sd).unwrap();
        std::fs::write(sd.join("control"), "").unwrap();
        let a = sd.to_str().unwrap();
        assert_eq!(p(&["pid", a]), Ok(Command::Pid(a.into())));
        assert!(
            matches!(p(&["pid", "web"]), Ok(Command::Host { .. })),
            "by name"
        );
        assert!(
            matches!(p(&["status"]), Ok(Command::Host { .. })),
            "all by name"
        );
        assert!(matches!(
            p(&["-c", "/etc/s.conf", "restart", "g:*"]),
            Ok(Command::Host {
                config: Some(_),
                ..
            })
        ));
        assert_eq!(p(&["ok", "a", "b"]), Ok(Command::Ok(dirs(&["a", "b"]))));
        assert_eq!(
            p(&["wait", "restart", "a", "--timeout=0.5"]),
            Ok(Command::Wait {
                goal: Goal::Restart,
                timeout: Some(Duration::from_millis(500)),
                dirs: dirs(&["a"])
            })
        );
        assert_eq!(p(&["-h"]), Ok(Command::Help));
        assert_eq!(p(&["--version"]), Ok(Command::Version));
        assert_eq!(p(&["-v"]), Ok(Command::Version), "as supervise -v");
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        let err = |a: &[&str]| p(a).unwrap_err();
        assert!(err(&[]).starts_with("nothing to do"));
        assert_eq!(err(&["-Z", "d"]), "unknown letter 'Z' in \"-Z\"");
        assert_eq!(err(&["-k"]), "no status directory given");
        let tmp = tempfile::tempdir().unwrap();
        for d in ["a", "b"] {
            std::fs::create_dir(tmp.path().join(d)).unwrap();
            std::fs::write(tmp.path().join(d).join("control"), "").unwrap();
        }
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        assert_eq!(
            err(&["pid", a.to_str().unwrap(), b.to_str().unwrap()]),
            "pid takes exactly one directory"
        );
        assert!(err(&["wait", "sideways", "a"]).contains("say up, down, restart or ready"));
        assert!(err(&["wait", "up", "a", "-T", "soon"]).contains("not a number"));
        assert!(err(&["frobnicate", "a"]).starts_with("unknown command"));
        assert_eq!(
            err(&["-wx", "d"]),
            "cannot wait for \"x\": say up, down, restart or ready"
        );
    }
}
