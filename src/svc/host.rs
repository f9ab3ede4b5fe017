//! `svc` by name: the processes of a host (`supervise-host`), named as supervisorctl
//! names them (`name`, `group:name`, `group:*`, `all`), with supervisorctl's output
//! and exit codes where a script may read them.
//!
//! There is no server in between: `svc` reads the host's config (`-c FILE`, else
//! where supervisord looks) for the status root and the names, then works on each
//! process's status directory as it does by directory (letters to `control`, the
//! `status`/`state` files), and signals the host itself (its pid is in the status
//! root's `.host/lock`) for `update` and `shutdown`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::client;
use crate::host::cli as host_cli;
use crate::host::control::{self, Fault, RpcError};
use crate::host::info::{self, Info, State};
use crate::host::plan;
use crate::host::run;
use crate::host::service::{Layout, Service};

/// A command on the host's processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// `status [NAME...]`.
    Status(Vec<String>),
    /// `start NAME...`.
    Start(Vec<String>),
    /// `stop NAME...`.
    Stop(Vec<String>),
    /// `restart NAME...`.
    Restart(Vec<String>),
    /// `signal SIG NAME...`.
    Signal(String, Vec<String>),
    /// `pid [NAME...]`.
    Pid(Vec<String>),
    /// `tail [-f] [-n LINES | -BYTES] NAME [stdout|stderr]`.
    Tail(Tail),
    /// `update`.
    Update,
    /// `reread`.
    Reread,
    /// `avail`.
    Avail,
    /// `shutdown`.
    Shutdown,
}

/// What `tail` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    /// Keep following.
    pub follow: bool,
    /// The last lines (`-n`), else the last bytes.
    pub lines: Option<usize>,
    /// The last bytes (supervisorctl's `-1600`, its default).
    pub bytes: usize,
    /// The process (or `all` with `-f`).
    pub name: String,
    /// stderr rather than stdout.
    pub stderr: bool,
}

/// The verbs only this form has (the others, `status` and `pid`, are this form
/// when their arguments are not status directories).
pub const VERBS: &[&str] = &[
    "start", "stop", "restart", "signal", "tail", "update", "reread", "avail", "shutdown",
];

/// supervisorctl's exit codes (LSB).
const EXIT_GENERIC: u8 = 1;
const EXIT_INVALID_ARGS: u8 = 2;
const EXIT_NOT_RUNNING: u8 = 3;
const EXIT_UNKNOWN: u8 = 4;

/// Parses a verb and its words.
pub fn parse(verb: &str, args: Vec<String>) -> Result<Verb, String> {
    let need = |what: &str, a: Vec<String>| {
        if a.is_empty() {
            Err(format!("{verb} requires {what}"))
        } else {
            Ok(a)
        }
    };
    Ok(match verb {
        "status" => Verb::Status(args),
        "pid" => Verb::Pid(args),
        "start" => Verb::Start(need("a process name", args)?),
        "stop" => Verb::Stop(need("a process name", args)?),
        "restart" => Verb::Restart(need("a process name", args)?),
        "signal" => {
            let mut it = args.into_iter();
            let sig = it.next().ok_or("signal requires a signal name")?;
            Verb::Signal(sig, need("a process name", it.collect())?)
        }
        "tail" => Verb::Tail(parse_tail(args)?),
        "update" => Verb::Update,
        "reread" => Verb::Reread,
        "avail" => Verb::Avail,
        "shutdown" => Verb::Shutdown,
        other => return Err(format!("unknown command {other:?}")),
    })
}

fn parse_tail(args: Vec<String>) -> Result<Tail, String> {
    let mut t = Tail {
        follow: false,
        lines: None,
        bytes: 1600,
        name: String::new(),
        stderr: false,
    };
    let mut words = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-f" => t.follow = true,
            "-n" => {
                let n = it.next().ok_or("-n needs a number of lines")?;
                t.lines = Some(
                    n.parse()
                        .map_err(|_| format!("{n:?} is not a number of lines"))?,
                );
            }
            s if s.starts_with('-')
                && s[1..].bytes().all(|b| b.is_ascii_digit())
                && s.len() > 1 =>
            {
                t.bytes = s[1..].parse().map_err(|_| format!("{s:?} is not a size"))?;
            }
            _ => words.push(a),
        }
    }
    let mut w = words.into_iter();
    t.name = w.next().ok_or("tail requires a process name")?;
    t.stderr = match w.next().as_deref() {
        None | Some("stdout") => false,
        Some("stderr") => true,
        Some(other) => return Err(format!("tail: {other:?} is neither stdout nor stderr")),
    };
    Ok(t)
}

/// The host's config, its status root, and its services.
pub struct Host {
    /// The config file.
    pub path: PathBuf,
    /// Its status root.
    pub layout: Layout,
    /// Its processes, in the config's order.
    pub services: Vec<Service>,
}

/// Reads the host's config.
pub fn load(config: Option<&Path>) -> Result<Host, String> {
    let path = host_cli::find_config(config)?;
    let cfg = crate::host::config::load_file(&path).map_err(|e| e.to_string())?;
    let layout = run::layout_of(&cfg);
    let (services, _) = run::services(&cfg, &layout)?;
    Ok(Host {
        path,
        layout,
        services,
    })
}

/// supervisorctl's `group:name` → (group, Some(name)); `group:*` → (group, None);
/// `name` → (name, Some(name)).
pub fn split_namespec(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((g, "*")) => (g, None),
        Some((g, n)) => (g, Some(n)),
        None => (spec, Some(spec)),
    }
}

/// The services `names` select (`all` or none: every one), and the names that
/// select nothing, as supervisorctl's error lines.
fn select<'a>(services: &'a [Service], names: &[String]) -> (Vec<&'a Service>, Vec<String>) {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return (services.iter().collect(), Vec::new());
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        let (group, process) = split_namespec(name);
        let found: Vec<&Service> = services
            .iter()
            .filter(|s| s.group == group && process.is_none_or(|p| s.process == p))
            .collect();
        if found.is_empty() {
            errors.push(match process {
                None => format!("{group}: ERROR (no such group)"),
                Some(_) => format!("{name}: ERROR (no such process)"),
            });
        }
        out.extend(found);
    }
    (out, errors)
}

/// supervisorctl's status lines: the name padded to the longest (at least 30) plus
/// 3, the state padded to 10, the description.
pub fn status_lines(infos: &[Info]) -> Vec<String> {
    let width = infos
        .iter()
        .map(|i| i.namespec.len())
        .max()
        .unwrap_or(0)
        .max(30)
        + 3;
    infos
        .iter()
        .map(|i| {
            format!(
                "{:<width$}{:<10}{}",
                i.namespec,
                i.state.name(),
                i.description
            )
            .trim_end()
            .to_owned()
        })
        .collect()
}

/// Runs a verb on the host of `config`; the exit code.
pub fn run(config: Option<&Path>, verb: &Verb, out: &mut impl Write) -> u8 {
    let host = match load(config) {
        Ok(h) => h,
        Err(e) => {
            let _ = writeln!(out, "Error: {e}");
            return EXIT_UNKNOWN;
        }
    };
    match verb {
        Verb::Status(names) => status(&host, names, out),
        Verb::Pid(names) => pid(&host, names, out),
        Verb::Start(names) => start_all(&host, names, out),
        Verb::Stop(names) => act(&host, names, out, true, stop),
        Verb::Restart(names) => act(&host, names, out, false, |s, o| {
            let code = stop(s, o);
            code.max(start(s, o))
        }),
        Verb::Signal(sig, names) => match crate::config::parse_signal(sig) {
            Some(_) => act(&host, names, out, false, |s, o| signal(s, sig, o)),
            None => {
                for n in names {
                    let _ = writeln!(out, "{n}: ERROR (bad signal name)");
                }
                EXIT_GENERIC
            }
        },
        Verb::Tail(t) => super::tail::run(&host, t, out),
        Verb::Update => update(&host, out),
        Verb::Reread => reread(&host, out),
        Verb::Avail => avail(&host, out),
        Verb::Shutdown => shutdown(&host, out),
    }
}

fn status(host: &Host, names: &[String], out: &mut impl Write) -> u8 {
    let (selected, errors) = select(&host.services, names);
    let mut code = 0;
    for e in &errors {
        let _ = writeln!(out, "{e}");
        code = EXIT_UNKNOWN;
    }
    let now = SystemTime::now();
    // supervisord lists processes by group name, then name.
    let mut selected = selected;
    selected.sort_by(|a, b| (&a.group, &a.process).cmp(&(&b.group, &b.process)));
    selected.dedup_by(|a, b| a.name == b.name);
    let infos: Vec<Info> = selected.iter().map(|s| info::read(s, now)).collect();
    for line in status_lines(&infos) {
        let _ = writeln!(out, "{line}");
    }
    if infos.iter().any(|i| i.state.is_stopped()) {
        code = EXIT_NOT_RUNNING;
    }
    code
}

fn pid(host: &Host, names: &[String], out: &mut impl Write) -> u8 {
    if names.is_empty() {
        return match host_pid(&host.layout) {
            Some(p) => {
                let _ = writeln!(out, "{p}");
                0
            }
            None => EXIT_GENERIC,
        };
    }
    let (selected, errors) = select(&host.services, names);
    let mut code = 0;
    for n in &errors {
        let name = n.split(':').next().unwrap_or(n);
        let _ = writeln!(out, "No such process {name}");
        code = EXIT_GENERIC;
    }
    for s in selected {
        let i = info::read(s, SystemTime::now());
        let _ = writeln!(out, "{}", i.pid);
        if i.pid == 0 {
            code = 7;
        }
    }
    code
}

/// Each selected process through `f`, in priority order (`stop`: the reverse, as
/// supervisord stops); bad names said as supervisorctl says them.
fn act(
    host: &Host,
    names: &[String],
    out: &mut impl Write,
    reverse: bool,
    f: impl Fn(&Service, &mut dyn Write) -> u8,
) -> u8 {
    let (mut selected, errors) = select(&host.services, names);
    selected.sort_by_key(|s| s.priority);
    if reverse {
        selected.reverse();
    }
    let mut code = 0;
    for e in &errors {
        let _ = writeln!(out, "{e}");
        code = EXIT_INVALID_ARGS;
    }
    for s in selected {
        code = code.max(f(s, out));
    }
    code
}

/// `start`: in priority order, each after what it depends on (`depends_on`), which
/// is started first if it does not run, and waited for until it is ready.
fn start_all(host: &Host, names: &[String], out: &mut impl Write) -> u8 {
    let (mut selected, errors) = select(&host.services, names);
    selected.sort_by_key(|s| s.priority);
    let mut code = 0;
    for e in &errors {
        let _ = writeln!(out, "{e}");
        code = EXIT_INVALID_ARGS;
    }
    let graph = crate::host::deps::Graph::resolve(&host.services).unwrap_or_default();
    let chosen: Vec<String> = selected.iter().map(|s| s.name.clone()).collect();
    let mut failed: Vec<String> = Vec::new();
    for name in graph.with_dependencies(&chosen) {
        let Some(s) = host.services.iter().find(|s| s.name == name) else {
            continue;
        };
        if let Some(d) = graph.deps(&name).iter().find(|d| failed.contains(d)) {
            let _ = writeln!(
                out,
                "{name}: ERROR ({d}, which it depends on, did not start)"
            );
            failed.push(name);
            code = EXIT_GENERIC;
            continue;
        }
        let c = if chosen.contains(&name) {
            start(s, out)
        } else {
            start_dependency(s, out)
        };
        if c != 0 {
            failed.push(name);
        }
        code = code.max(c);
    }
    code
}

/// A dependency of what is started: left as it is if it runs, waited for if it is
/// starting, started otherwise.
fn start_dependency(s: &Service, out: &mut dyn Write) -> u8 {
    let i = info::read(s, SystemTime::now());
    match i.state {
        State::Running => 0,
        State::Starting => {
            let within = s.startsecs + Duration::from_secs(60);
            let i = control::wait_until(s, within, |i| i.state != State::Starting);
            if i.state == State::Running {
                0
            } else {
                let _ = writeln!(out, "{}: ERROR (not ready: {})", s.name, i.state.name());
                EXIT_GENERIC
            }
        }
        _ => start(s, out),
    }
}

/// supervisorctl's line for the outcome of an action on `s` (`success` when done),
/// and its exit code: a failure but for `harmless` (supervisorctl's
/// `set_exitstatus_from_xmlrpc_fault`: starting what runs, stopping what does not).
fn said(
    s: &Service,
    outcome: Result<(), RpcError>,
    (success, harmless): (&str, Option<Fault>),
    out: &mut dyn Write,
) -> u8 {
    let text = match &outcome {
        Ok(()) => success.to_owned(),
        Err(e) => match e.fault {
            Fault::BadName => "ERROR (no such process)".to_owned(),
            Fault::NoFile => "ERROR (no such file)".to_owned(),
            Fault::NotExecutable => "ERROR (file is not executable)".to_owned(),
            Fault::AlreadyStarted => "ERROR (already started)".to_owned(),
            Fault::SpawnError => "ERROR (spawn error)".to_owned(),
            Fault::AbnormalTermination => "ERROR (abnormal termination)".to_owned(),
            Fault::NotRunning => "ERROR (not running)".to_owned(),
            Fault::BadSignal => "ERROR (bad signal name)".to_owned(),
            _ => format!("ERROR ({})", e.text()),
        },
    };
    let _ = writeln!(out, "{}: {text}", s.name);
    match outcome {
        Err(e) if Some(e.fault) != harmless => EXIT_GENERIC,
        _ => 0,
    }
}

/// `start`: `u`, then waits as supervisorctl does for RUNNING.
fn start(s: &Service, out: &mut dyn Write) -> u8 {
    said(
        s,
        control::start(s, true),
        ("started", Some(Fault::AlreadyStarted)),
        out,
    )
}

/// `stop`: `d`, then waits for it to be down.
fn stop(s: &Service, out: &mut dyn Write) -> u8 {
    said(
        s,
        control::stop(s, true),
        ("stopped", Some(Fault::NotRunning)),
        out,
    )
}

/// `signal`: to the service's process.
fn signal(s: &Service, sig: &str, out: &mut dyn Write) -> u8 {
    said(s, control::signal(s, sig), ("signalled", None), out)
}

/// The host's pid, from its lock on the status root, if it runs.
pub fn host_pid(layout: &Layout) -> Option<u32> {
    let dir = client::open(&layout.root.join(crate::host::service::HOST_DIR)).ok()?;
    client::lock_holder(&dir)?
}

/// The services the host runs now: those whose config file it wrote.
fn running_services(host: &Host) -> Vec<Service> {
    let mut out = Vec::new();
    let dir = host.layout.root.join(crate::host::service::HOST_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return out;
    };
    let known: BTreeMap<&str, &Service> =
        host.services.iter().map(|s| (s.name.as_str(), s)).collect();
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(name) = file.strip_suffix(".conf") else {
            continue;
        };
        let conf = std::fs::read_to_string(e.path()).unwrap_or_default();
        let mut s = known
            .get(name)
            .map_or_else(|| placeholder(host, name), |s| (*s).clone());
        s.conf = conf;
        // The command line of the running supervise, if it runs.
        if let Some(args) = running_args(&s.dir) {
            s.command = args;
        }
        out.push(s);
    }
    out
}

/// A service known only from the host's files (removed from the config since).
fn placeholder(host: &Host, name: &str) -> Service {
    let (group, process) = split_namespec(name);
    Service {
        name: name.to_owned(),
        group: group.to_owned(),
        process: process.unwrap_or(group).to_owned(),
        priority: 999,
        autostart: true,
        startsecs: Duration::ZERO,
        command: Vec::new(),
        dir: host.layout.status_dir(name),
        conf_path: host.layout.conf_path(name),
        conf: String::new(),
        listener: false,
        file: host.path.clone(),
        line: 0,
        depends_on: None,
        restart_dependents: false,
    }
}

/// The program words of the supervise running on `dir`.
fn running_args(dir: &Path) -> Option<Vec<String>> {
    let d = client::open(dir).ok()?;
    let pid = client::lock_pid(&d)?;
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<String> = bytes
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let at = words.iter().position(|w| w == "-u")?;
    Some(words.get(at + 2..)?.to_vec())
}

fn reread(host: &Host, out: &mut impl Write) -> u8 {
    let old = running_services(host);
    let p = plan::plan(&old, &host.services);
    for line in p.reread_lines(&old, &host.services) {
        let _ = writeln!(out, "{line}");
    }
    0
}

fn update(host: &Host, out: &mut impl Write) -> u8 {
    let Some(pid) = host_pid(&host.layout) else {
        let _ = writeln!(
            out,
            "Error: supervise-host is not running on {}",
            host.layout.root.display()
        );
        return EXIT_GENERIC;
    };
    let old = running_services(host);
    let p = plan::plan(&old, &host.services);
    let before = generation(&host.layout);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGHUP,
    );
    // The host renames `generation` into place once it has read the config.
    let target = super::wait::Target {
        dir: host.layout.root.join(crate::host::service::HOST_DIR),
        from: None,
    };
    let check = |_: &super::wait::Target| {
        (generation(&host.layout) != before).then_some(super::wait::Outcome::Reached)
    };
    super::wait::wait_with(&[target], Some(Duration::from_secs(30)), check);
    for line in update_lines(&p, &old) {
        let _ = writeln!(out, "{line}");
    }
    0
}

/// supervisorctl's `update` lines, by group.
fn update_lines(p: &plan::Plan, old: &[Service]) -> Vec<String> {
    let mut removed: Vec<String> = p
        .removed
        .iter()
        .filter_map(|n| old.iter().find(|s| &s.name == n).map(|s| s.group.clone()))
        .collect();
    removed.dedup();
    let mut changed: Vec<String> = p.changed.iter().map(|s| s.group.clone()).collect();
    changed.dedup();
    let mut added: Vec<String> = p.added.iter().map(|s| s.group.clone()).collect();
    added.dedup();
    let mut lines = Vec::new();
    for g in &removed {
        lines.push(format!("{g}: stopped"));
        lines.push(format!("{g}: removed process group"));
    }
    for g in &changed {
        lines.push(format!("{g}: stopped"));
        lines.push(format!("{g}: updated process group"));
    }
    for g in &added {
        lines.push(format!("{g}: added process group"));
    }
    lines
}

fn generation(layout: &Layout) -> Option<String> {
    std::fs::read_to_string(layout.host_file("generation")).ok()
}

fn avail(host: &Host, out: &mut impl Write) -> u8 {
    let running = running_services(host);
    for s in &host.services {
        let in_use = running.iter().any(|r| r.name == s.name);
        let _ = writeln!(
            out,
            "{:<32} {:<9} {:<9} {}:{}",
            s.name,
            if in_use { "in use" } else { "avail" },
            if s.autostart { "auto" } else { "manual" },
            s.priority,
            s.priority
        );
    }
    0
}

fn shutdown(host: &Host, out: &mut impl Write) -> u8 {
    let Some(pid) = host_pid(&host.layout) else {
        let _ = writeln!(
            out,
            "ERROR: supervise-host is not running on {} (already shut down?)",
            host.layout.root.display()
        );
        return EXIT_GENERIC;
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = writeln!(out, "Shut down");
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn verbs() {
        assert_eq!(
            parse("start", w(&["a", "g:*"])),
            Ok(Verb::Start(w(&["a", "g:*"])))
        );
        assert!(parse("start", vec![]).is_err());
        assert_eq!(
            parse("signal", w(&["HUP", "a"])),
            Ok(Verb::Signal("HUP".into(), w(&["a"])))
        );
        let Verb::Tail(t) = parse("tail", w(&["-f", "-n", "5", "a", "stderr"])).unwrap() else {
            panic!()
        };
        assert!(t.follow && t.stderr && t.lines == Some(5) && t.name == "a");
        let Verb::Tail(t) = parse("tail", w(&["-100", "a"])).unwrap() else {
            panic!()
        };
        assert_eq!((t.bytes, t.lines), (100, None));
    }

    #[test]
    fn namespecs() {
        assert_eq!(split_namespec("web"), ("web", Some("web")));
        assert_eq!(split_namespec("g:*"), ("g", None));
        assert_eq!(split_namespec("g:w_01"), ("g", Some("w_01")));
    }

    #[test]
    fn status_lines_line_up_as_supervisorctls() {
        let info = |n: &str, st: State, d: &str| Info {
            name: n.into(),
            group: n.into(),
            namespec: n.into(),
            start: 0,
            stop: 0,
            now: 0,
            state: st,
            spawnerr: String::new(),
            exitstatus: 0,
            stdout_logfile: String::new(),
            stderr_logfile: String::new(),
            pid: 0,
            description: d.into(),
            starts: 0,
            tries: 0,
            settled: true,
            last_pid: 0,
            writer: 0,
        };
        let lines = status_lines(&[
            info("web", State::Running, "pid 123, uptime 0:02:24"),
            info("worker", State::Stopping, ""),
        ]);
        assert_eq!(
            lines[0],
            format!(
                "{:<33}{:<10}{}",
                "web", "RUNNING", "pid 123, uptime 0:02:24"
            )
        );
        assert_eq!(lines[1], format!("{:<33}STOPPING", "worker"));
    }
}
