//! A `[program:x]` section (and the program part of `[eventlistener:x]` and
//! `[fcgi-program:x]`) into one [`ProcessSpec`] per process, as supervisord's
//! `_processes_from_section` makes its `ProcessConfig`s.
//!
//! What supervisord does, kept here:
//! - the keys read once per section (priority ... process_name) may use `here`,
//!   `program_name`, `group_name`, `host_node_name` and `ENV_X`; the keys read per
//!   process (environment, directory, the log files, command) may also use
//!   `process_num`, `numprocs` and, after `environment`, the `ENV_X` it sets;
//! - `*_logfile` values are expanded twice (as supervisord does), `environment` and
//!   `process_name` once, per process;
//! - `numprocs > 1` needs `%(process_num)` in `process_name`; `stopasgroup` without
//!   `killasgroup` is refused; `killasgroup` defaults to `stopasgroup`;
//! - a section's processes are sorted by priority, then name;
//! - `[supervisord] environment` comes first in each process's environment, the
//!   program's own keys replacing its values.
//!
//! Keys that are not supervisord's are kept, with their place, for the project's own
//! checker; the ones it does not know either are reported once as warnings.

use super::datatypes::{self as dt, AutoRestart, LogName};
use super::expand::{Names, expand};
use super::load::Loader;
use super::reader::Reader;
use super::store::Stored;
use crate::ini::LineError;
use std::path::PathBuf;

/// Which kind of section a process comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[program:x]`.
    Program,
    /// `[eventlistener:x]`.
    EventListener,
    /// `[fcgi-program:x]`.
    FastCgi,
}

/// Where a channel's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logfile {
    /// `NONE`, or stderr with `redirect_stderr`: nowhere.
    None,
    /// `AUTO` (the default): a file named by supervisord in `childlogdir`.
    Auto,
    /// A path, `~` expanded (`/dev/stdout` kept as written).
    Path(String),
}

/// The settings of one output channel (`stdout_*` or `stderr_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// `*_logfile`.
    pub logfile: Logfile,
    /// `*_logfile_maxbytes` (default 50MB; 0: never rotate).
    pub maxbytes: i64,
    /// `*_logfile_backups` (default 10).
    pub backups: i64,
    /// `*_capture_maxbytes` (default 0: no capture mode).
    pub capture_maxbytes: i64,
    /// `*_events_enabled`.
    pub events_enabled: bool,
    /// `*_syslog` (or the deprecated `*_logfile=syslog`).
    pub syslog: bool,
}

/// A key as written in a section, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The key, lowercased.
    pub key: String,
    /// The value, unexpanded.
    pub value: String,
    /// Its file.
    pub file: PathBuf,
    /// Its line.
    pub line: usize,
}

/// An event listener pool's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// `events`: event type names, uppercased, each once, in the order written.
    pub events: Vec<String>,
    /// `buffer_size` (default 10).
    pub buffer_size: i64,
    /// `result_handler` (default `supervisor.dispatchers:default_handler`).
    pub result_handler: String,
}

/// One process, every supervisord setting typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Its name (`process_name` expanded).
    pub name: String,
    /// Its group's name.
    pub group: String,
    /// The `x` of its section.
    pub program: String,
    /// Its section, `program:x`.
    pub section: String,
    /// The kind of its section.
    pub kind: Kind,
    /// The file of its section.
    pub file: PathBuf,
    /// The line of its section's header.
    pub line: usize,
    /// `command`, expanded.
    pub command: String,
    /// `directory`, expanded.
    pub directory: Option<String>,
    /// `user`, as written.
    pub user: Option<String>,
    /// `user`, resolved.
    pub uid: Option<u32>,
    /// `umask`.
    pub umask: Option<u32>,
    /// `priority` (default 999).
    pub priority: i64,
    /// `autostart` (default true).
    pub autostart: bool,
    /// `autorestart` (default unexpected).
    pub autorestart: AutoRestart,
    /// `startsecs` (default 1).
    pub startsecs: i64,
    /// `startretries` (default 3).
    pub startretries: i64,
    /// `exitcodes` (default 0).
    pub exitcodes: Vec<i32>,
    /// `stopsignal`, as a number (default TERM).
    pub stopsignal: i32,
    /// `stopwaitsecs` (default 10).
    pub stopwaitsecs: i64,
    /// `stopasgroup`.
    pub stopasgroup: bool,
    /// `killasgroup` (default: `stopasgroup`).
    pub killasgroup: bool,
    /// `redirect_stderr`.
    pub redirect_stderr: bool,
    /// The `stdout_*` keys.
    pub stdout: Channel,
    /// The `stderr_*` keys.
    pub stderr: Channel,
    /// `[supervisord] environment`, then this program's `environment`.
    pub environment: Vec<(String, String)>,
    /// `serverurl` (`None` for unset or `AUTO`).
    pub serverurl: Option<String>,
    /// `numprocs` (default 1).
    pub numprocs: i64,
    /// `numprocs_start` (default 0).
    pub numprocs_start: i64,
    /// This process's `process_num`.
    pub process_num: i64,
    /// The pool's settings, for an event listener.
    pub listener: Option<Listener>,
    /// The supervisord keys its section sets.
    pub set: Vec<Located>,
    /// The keys of its section that are not supervisord's.
    pub extras: Vec<Located>,
}

/// The keys supervisord reads in `[program:x]`.
pub const PROGRAM_KEYS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
];

/// The keys `[eventlistener:x]` adds.
pub const LISTENER_KEYS: &[&str] = &["buffer_size", "events", "result_handler"];

/// The keys `[fcgi-program:x]` adds.
pub const FCGI_KEYS: &[&str] = &["socket", "socket_backlog", "socket_owner", "socket_mode"];

/// What a section says once for all its processes.
struct Common {
    program: String,
    priority: i64,
    autostart: bool,
    autorestart: AutoRestart,
    startsecs: i64,
    startretries: i64,
    stopsignal: i32,
    stopwaitsecs: i64,
    stopasgroup: bool,
    /// As set; unset, it is `stopasgroup`.
    killasgroup: Option<bool>,
    exitcodes: Vec<i32>,
    redirect_stderr: bool,
    numprocs: i64,
    numprocs_start: i64,
    environment: String,
    capture: [(i64, bool); 2],
    serverurl: Option<String>,
    user: Option<(String, u32)>,
    umask: Option<u32>,
    process_name: String,
}

impl Common {
    fn killasgroup(&self) -> bool {
        self.killasgroup.unwrap_or(self.stopasgroup)
    }
}

/// The processes of `section`, in group `group`.
pub fn processes(
    l: &Loader,
    section: &Stored,
    group: &str,
    kind: Kind,
) -> Result<Vec<ProcessSpec>, LineError> {
    let r = l.reader(section);
    let program = program_name(&r)?;
    let mut names = l.names_here();
    names.set("program_name", &program);
    names.set("host_node_name", &l.checks.ctx.hostname);
    names.set("group_name", group);
    let common = read_common(l, &r, &names, program)?;
    check_common(&r, &common)?;
    let (set, extras) = classify(l, &r);
    let first = common.numprocs_start;
    let mut out = Vec::new();
    for num in first..first.saturating_add(common.numprocs) {
        let mut p = one(l, &r, &common, &mut names, num)?;
        (p.kind, p.group, p.set, p.extras) = (kind, group.into(), set.clone(), extras.clone());
        out.push(p);
    }
    out.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    Ok(out)
}

/// The `x` of `[program:x]`, checked.
pub fn program_name(r: &Reader) -> Result<String, LineError> {
    let tail = r.section.name.split_once(':').map_or("", |(_, t)| t);
    dt::process_or_group_name(tail).map_err(|e| r.error_here(format!("[{}] {e}", r.section.name)))
}

/// The keys read once, in supervisord's order (so the first error is its first).
fn read_common(l: &Loader, r: &Reader, n: &Names, program: String) -> Result<Common, LineError> {
    Ok(Common {
        priority: r.parse("priority", "999", n, dt::integer)?,
        autostart: r.parse("autostart", "true", n, dt::boolean)?,
        autorestart: r.parse("autorestart", "unexpected", n, dt::auto_restart)?,
        startsecs: r.parse("startsecs", "1", n, dt::integer)?,
        startretries: r.parse("startretries", "3", n, dt::integer)?,
        stopsignal: r.parse("stopsignal", "TERM", n, dt::signal_number)?,
        stopwaitsecs: r.parse("stopwaitsecs", "10", n, dt::integer)?,
        stopasgroup: r.parse("stopasgroup", "false", n, dt::boolean)?,
        killasgroup: r.parse_opt("killasgroup", n, dt::boolean)?,
        exitcodes: r.parse("exitcodes", "0", n, dt::exitcodes)?,
        redirect_stderr: r.parse("redirect_stderr", "false", n, dt::boolean)?,
        numprocs: r.parse("numprocs", "1", n, dt::integer)?,
        numprocs_start: r.parse("numprocs_start", "0", n, dt::integer)?,
        environment: r.get_raw("environment", ""),
        capture: [capture(r, n, "stdout")?, capture(r, n, "stderr")?],
        serverurl: r.get("serverurl", None, n)?.filter(|u| !is_auto(u)),
        user: user(l, r, n)?,
        umask: r.parse_opt("umask", n, dt::octal)?,
        process_name: dt::process_or_group_name(&r.get_raw("process_name", "%(program_name)s"))
            .map_err(|e| r.type_error("process_name", &e))?,
        program,
    })
}

/// `serverurl=AUTO`, in any case and spacing: the default.
fn is_auto(url: &str) -> bool {
    super::python::strip(url).to_uppercase() == "AUTO"
}

/// `*_capture_maxbytes` and `*_events_enabled`.
fn capture(r: &Reader, n: &Names, channel: &str) -> Result<(i64, bool), LineError> {
    let bytes = r.parse(
        &format!("{channel}_capture_maxbytes"),
        "0",
        n,
        dt::byte_size,
    )?;
    let events = r.parse(
        &format!("{channel}_events_enabled"),
        "false",
        n,
        dt::boolean,
    )?;
    Ok((bytes, events))
}

/// `user`, as written and resolved.
fn user(l: &Loader, r: &Reader, n: &Names) -> Result<Option<(String, u32)>, LineError> {
    let Some(name) = r.get("user", None, n)? else {
        return Ok(None);
    };
    let uid = l
        .checks
        .name_to_uid(&name)
        .map_err(|e| r.type_error("user", &e))?;
    Ok(Some((name, uid)))
}

/// supervisord's two refusals that span keys.
fn check_common(r: &Reader, c: &Common) -> Result<(), LineError> {
    if c.numprocs > 1 && !c.process_name.contains("%(process_num)") {
        let key = if r.raw("process_name").is_some() {
            "process_name"
        } else {
            "numprocs"
        };
        return Err(r.error(
            key,
            format!(
                "[{}] %(process_num) must be present within process_name when numprocs > 1",
                r.section.name
            ),
        ));
    }
    if c.stopasgroup && !c.killasgroup() {
        let message = format!(
            "[{}] Cannot set stopasgroup=true and killasgroup=false",
            r.section.name
        );
        return Err(r.error("killasgroup", message));
    }
    Ok(())
}

/// The section's keys: supervisord's, and the others (warning about those that are
/// not this project's either).
fn classify(l: &Loader, r: &Reader) -> (Vec<Located>, Vec<Located>) {
    let known = section_keys(&r.section.name);
    let (mut set, mut extras) = (Vec::new(), Vec::new());
    for v in &r.section.values {
        let located = Located {
            key: v.key.clone(),
            value: v.text.clone(),
            file: l.store.file(v.file).to_path_buf(),
            line: v.line,
        };
        if known.contains(&v.key.as_str()) {
            set.push(located);
            continue;
        }
        if !crate::config::KEYS.contains(&v.key.as_str())
            && !crate::host::service::HOST_KEYS.contains(&v.key.as_str())
        {
            let message = format!("unknown key {:?} in [{}] ignored", v.key, r.section.name);
            l.warn(LineError::new(&located.file, v.line, message));
        }
        extras.push(located);
    }
    (set, extras)
}

/// The supervisord keys of a section, by its kind.
fn section_keys(name: &str) -> Vec<&'static str> {
    let mut keys = PROGRAM_KEYS.to_vec();
    if name.starts_with("eventlistener:") {
        keys.extend(LISTENER_KEYS);
    }
    if name.starts_with("fcgi-program:") {
        keys.extend(FCGI_KEYS);
    }
    keys
}

/// Process number `num` of the section.
fn one(
    l: &Loader,
    r: &Reader,
    c: &Common,
    names: &mut Names,
    num: i64,
) -> Result<ProcessSpec, LineError> {
    let env = environment(r, c, names, num)?;
    let directory = r.get("directory", None, names)?;
    let stdout = channel(l, r, names, "stdout", c.capture[0])?;
    let stderr = redirected(l, r, c, channel(l, r, names, "stderr", c.capture[1])?);
    let command = command(r, names)?;
    let name =
        expand(&c.process_name, names, "process_name").map_err(|e| r.error("process_name", e))?;
    let run = Run {
        name,
        command,
        directory,
        stdout,
        stderr,
        env,
        num,
    };
    Ok(spec(l, r, c, run))
}

/// The process's own `environment`, after which `names` gain `process_num`,
/// `numprocs` and an `ENV_X` for each of its variables.
fn environment(
    r: &Reader,
    c: &Common,
    names: &mut Names,
    num: i64,
) -> Result<Vec<(String, String)>, LineError> {
    names.set_int("process_num", num);
    names.set_int("numprocs", c.numprocs);
    names.restore_shared();
    let text =
        expand(&c.environment, names, "environment").map_err(|e| r.error("environment", e))?;
    let env = super::shlex::key_value_pairs(&text).map_err(|e| r.type_error("environment", &e))?;
    names.set_env(&env);
    Ok(env)
}

/// `command`: required.
fn command(r: &Reader, names: &Names) -> Result<String, LineError> {
    let command = r.get("command", None, names)?;
    command.ok_or_else(|| {
        let name = &r.section.name;
        r.error_here(format!("program section {name} does not specify a command"))
    })
}

/// With `redirect_stderr`, stderr has no log file (a path set for it is ignored, with
/// a warning).
fn redirected(l: &Loader, r: &Reader, c: &Common, mut stderr: Channel) -> Channel {
    if !c.redirect_stderr {
        return stderr;
    }
    if let Logfile::Path(_) = stderr.logfile {
        l.warn(r.error(
            "stderr_logfile",
            format!(
                "For [{}], redirect_stderr=true but stderr_logfile has also been set to a \
                 filename, the filename has been ignored",
                r.section.name
            ),
        ));
    }
    stderr.logfile = Logfile::None;
    stderr
}

/// One channel's log file settings (its capture settings read once, given).
fn channel(
    l: &Loader,
    r: &Reader,
    n: &Names,
    ch: &str,
    capture: (i64, bool),
) -> Result<Channel, LineError> {
    let key = format!("{ch}_logfile");
    let logfile = logfile(l, r, n, &key)?;
    let backups = r.parse(&format!("{ch}_logfile_backups"), "10", n, dt::integer)?;
    let maxbytes = r.parse(&format!("{ch}_logfile_maxbytes"), "50MB", n, dt::byte_size)?;
    let syslog = r.parse(&format!("{ch}_syslog"), "false", n, dt::boolean)?;
    let (capture_maxbytes, events_enabled) = capture;
    let mut c = Channel {
        logfile: Logfile::Auto,
        maxbytes,
        backups,
        capture_maxbytes,
        events_enabled,
        syslog,
    };
    c.logfile = match logfile {
        LogName::None => Logfile::None,
        LogName::Auto => auto_log(l, r, &key, maxbytes),
        LogName::Path(p) => Logfile::Path(p),
        LogName::Syslog => deprecated_syslog(l, r, &key, &mut c),
    };
    Ok(c)
}

/// `*_logfile`: expanded twice, as supervisord does; a path's directory must exist.
fn logfile(l: &Loader, r: &Reader, n: &Names, key: &str) -> Result<LogName, LineError> {
    let Some(once) = r.get(key, None, n)? else {
        return Ok(LogName::Auto);
    };
    let twice = expand(&once, n, key).map_err(|e| r.error(key, e))?;
    match dt::logfile_name(&twice) {
        LogName::Path(p) => {
            let p = l
                .checks
                .existing_dirpath(&p)
                .map_err(|e| r.type_error(key, &e))?;
            Ok(LogName::Path(p))
        }
        other => Ok(other),
    }
}

fn auto_log(l: &Loader, r: &Reader, key: &str, maxbytes: i64) -> Logfile {
    if maxbytes == 0 {
        l.warn(r.error(
            key,
            format!(
                "For [{}], AUTO logging used for {key} without rollover, set maxbytes > 0 to \
                 avoid filling up filesystem unintentionally",
                r.section.name
            ),
        ));
    }
    Logfile::Auto
}

fn deprecated_syslog(l: &Loader, r: &Reader, key: &str, c: &mut Channel) -> Logfile {
    let syslog_key = key.replace("_logfile", "_syslog");
    l.warn(r.error(
        key,
        format!(
            "For [{}], {key}=syslog but this is deprecated and will be removed.  Use \
             {syslog_key}=true to enable syslog instead.",
            r.section.name
        ),
    ));
    c.syslog = true;
    Logfile::None
}

/// What differs between the processes of a section.
struct Run {
    name: String,
    command: String,
    directory: Option<String>,
    stdout: Channel,
    stderr: Channel,
    env: Vec<(String, String)>,
    num: i64,
}

fn spec(l: &Loader, r: &Reader, c: &Common, run: Run) -> ProcessSpec {
    let mut environment = l.supervisord_env.clone();
    for (k, v) in run.env {
        match environment.iter_mut().find(|(key, _)| *key == k) {
            Some(pair) => pair.1 = v,
            None => environment.push((k, v)),
        }
    }
    ProcessSpec {
        name: run.name,
        group: String::new(),
        program: c.program.clone(),
        section: r.section.name.clone(),
        kind: Kind::Program,
        file: l.store.file(r.section.file).to_path_buf(),
        line: r.section.line,
        command: run.command,
        directory: run.directory,
        user: c.user.as_ref().map(|(name, _)| name.clone()),
        uid: c.user.as_ref().map(|&(_, uid)| uid),
        umask: c.umask,
        priority: c.priority,
        autostart: c.autostart,
        autorestart: c.autorestart,
        startsecs: c.startsecs,
        startretries: c.startretries,
        exitcodes: c.exitcodes.clone(),
        stopsignal: c.stopsignal,
        stopwaitsecs: c.stopwaitsecs,
        stopasgroup: c.stopasgroup,
        killasgroup: c.killasgroup(),
        redirect_stderr: c.redirect_stderr,
        stdout: run.stdout,
        stderr: run.stderr,
        environment,
        serverurl: c.serverurl.clone(),
        numprocs: c.numprocs,
        numprocs_start: c.numprocs_start,
        process_num: run.num,
        listener: None,
        set: Vec::new(),
        extras: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::config::testing::{error, load_with, loaded, names};

    const HEAD: &str = "[supervisord]\n";

    fn one(program: &str) -> ProcessSpec {
        let cfg = loaded(&format!("{HEAD}{program}"));
        cfg.processes.into_iter().next().expect("a process")
    }

    #[test]
    fn defaults_are_supervisords() {
        let p = one("[program:x]\ncommand=/bin/x\n");
        assert_eq!(
            (p.name.as_str(), p.group.as_str(), p.section.as_str()),
            ("x", "x", "program:x")
        );
        assert_eq!(
            (p.priority, p.autostart, p.autorestart),
            (999, true, AutoRestart::Unexpected)
        );
        assert_eq!((p.startsecs, p.startretries, p.stopwaitsecs), (1, 3, 10));
        assert_eq!((p.exitcodes, p.stopsignal), (vec![0], libc::SIGTERM));
        assert!(!p.stopasgroup && !p.killasgroup && !p.redirect_stderr);
        let auto = Channel {
            logfile: Logfile::Auto,
            maxbytes: 50 << 20,
            backups: 10,
            capture_maxbytes: 0,
            events_enabled: false,
            syslog: false,
        };
        assert_eq!((&p.stdout, &p.stderr), (&auto, &auto));
        assert_eq!(
            (p.directory, p.user, p.umask, p.serverurl),
            (None, None, None, None)
        );
        assert_eq!((p.numprocs, p.numprocs_start, p.process_num), (1, 0, 0));
        assert_eq!((p.kind, p.line), (Kind::Program, 2));
        assert!(p.environment.is_empty() && p.listener.is_none());
    }

    #[test]
    fn every_key_typed() {
        let p = one(
            "[program:x]\ncommand=/bin/x\ndirectory=/srv\nuser=www-data\numask=022\npriority=-3\n\
             autostart=no\nautorestart=true\nstartsecs=0\nstartretries=7\nexitcodes=0,2\n\
             stopsignal=quit\nstopwaitsecs=60\nstopasgroup=true\nredirect_stderr=true\n\
             stdout_logfile=/var/log/x.log\nstdout_logfile_maxbytes=1KB\nstdout_logfile_backups=2\n\
             stdout_capture_maxbytes=1MB\nstdout_events_enabled=1\nstderr_syslog=on\n\
             serverurl=AUTO\n",
        );
        assert_eq!(
            (p.directory.as_deref(), p.user.as_deref(), p.uid),
            (Some("/srv"), Some("www-data"), Some(33))
        );
        assert_eq!((p.umask, p.priority, p.autostart), (Some(0o22), -3, false));
        assert_eq!(
            (p.autorestart, p.startsecs, p.startretries),
            (AutoRestart::Always, 0, 7)
        );
        assert_eq!(
            (p.exitcodes, p.stopsignal, p.stopwaitsecs),
            (vec![0, 2], libc::SIGQUIT, 60)
        );
        assert!(
            p.stopasgroup && p.killasgroup,
            "killasgroup defaults to stopasgroup"
        );
        assert_eq!(p.stdout.logfile, Logfile::Path("/var/log/x.log".into()));
        assert_eq!((p.stdout.maxbytes, p.stdout.backups), (1024, 2));
        assert_eq!(
            (p.stdout.capture_maxbytes, p.stdout.events_enabled),
            (1 << 20, true)
        );
        assert_eq!(
            (p.stderr.logfile.clone(), p.stderr.syslog),
            (Logfile::None, true)
        );
        assert_eq!(p.serverurl, None);
        let keys: Vec<&str> = p.set.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(keys.len(), 21);
        assert_eq!((keys[0], p.set[0].line), ("command", 3));
    }

    #[test]
    fn numprocs_names_each_process_and_sorts_by_name() {
        let cfg = loaded(&format!(
            "{HEAD}[program:w]\ncommand=/bin/w %(process_num)02d/%(numprocs)d %(group_name)s \
             %(host_node_name)s %(ENV_APP)s\nprocess_name=%(program_name)s-%(process_num)d\n\
             numprocs=11\nnumprocs_start=1\n"
        ));
        assert_eq!(
            names(&cfg),
            [
                "w-1", "w-10", "w-11", "w-2", "w-3", "w-4", "w-5", "w-6", "w-7", "w-8", "w-9"
            ]
        );
        let p = &cfg.processes[1];
        assert_eq!(p.command, "/bin/w 10/11 w box demo");
        assert_eq!((p.process_num, p.numprocs, p.numprocs_start), (10, 11, 1));
    }

    #[test]
    fn numprocs_needs_process_num_in_the_name() {
        let e = error(&format!("{HEAD}[program:w]\ncommand=/bin/w\nnumprocs=2\n"));
        assert_eq!(
            e,
            "/etc/supervisor/supervisord.conf:4: [program:w] %(process_num) must be present \
             within process_name when numprocs > 1"
        );
        assert!(
            loaded(&format!("{HEAD}[program:w]\ncommand=/bin/w\nnumprocs=0\n"))
                .processes
                .is_empty()
        );
    }

    #[test]
    fn keys_read_once_cannot_use_per_process_names() {
        let e = error(&format!(
            "{HEAD}[program:w]\ncommand=/bin/w\nautostart=%(process_num)d\n"
        ));
        assert!(e.starts_with("/etc/supervisor/supervisord.conf:4: Format string '%(process_num)d' for 'program:w.autostart' contains names ('process_num')"), "{e}");
        assert!(
            e.ends_with("Available names: ENV_*, group_name, here, host_node_name, program_name"),
            "{e}"
        );
        // A homogeneous group reads `priority` first, with `here` alone.
        let e = error(&format!(
            "{HEAD}[program:w]\ncommand=/bin/w\npriority=%(program_name)s\n"
        ));
        assert!(e.ends_with("Available names: ENV_*, here"), "{e}");
    }

    #[test]
    fn the_environment_feeds_later_keys_and_follows_supervisords() {
        let p = one(
            "environment=TZ=UTC,LANG=C\n[program:x]\nenvironment=TZ=\"Europe/Paris\",SLOT=%(process_num)d\n\
             command=/bin/x %(ENV_TZ)s %(ENV_SLOT)s %(ENV_LANG)s\n",
        );
        assert_eq!(p.command, "/bin/x Europe/Paris 0 C");
        let env: Vec<(&str, &str)> = p
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, [("TZ", "Europe/Paris"), ("LANG", "C"), ("SLOT", "0")]);
    }

    #[test]
    fn log_files_are_expanded_twice_and_checked() {
        let p = one("[program:x]\ncommand=/bin/x\nstdout_logfile=/var/log/%%(program_name)s.log\n");
        assert_eq!(p.stdout.logfile, Logfile::Path("/var/log/x.log".into()));
        let e = error(&format!(
            "{HEAD}[program:x]\ncommand=/bin/x\nstderr_logfile=/nope/x.log\n"
        ));
        assert_eq!(
            e,
            "/etc/supervisor/supervisord.conf:4: [program:x] stderr_logfile: The directory named \
             as part of the path /nope/x.log does not exist"
        );
        assert_eq!(
            one("[program:x]\ncommand=x\nstdout_logfile=~/x.log\n")
                .stdout
                .logfile,
            Logfile::Path("/root/x.log".into())
        );
    }

    #[test]
    fn supervisords_warnings_are_kept() {
        let cfg = loaded(&format!(
            "{HEAD}[program:x]\ncommand=/bin/x\nredirect_stderr=true\nstderr_logfile=/tmp/e.log\n\
             stdout_logfile_maxbytes=0\nstdout_logfile=syslog\n"
        ));
        let p = &cfg.processes[0];
        assert_eq!(
            (
                p.stderr.logfile.clone(),
                p.stdout.logfile.clone(),
                p.stdout.syslog
            ),
            (Logfile::None, Logfile::None, true)
        );
        let w: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
        assert!(w[0].starts_with("/etc/supervisor/supervisord.conf:7: For [program:x], stdout_logfile=syslog but this is deprecated"), "{w:?}");
        assert!(w[1].starts_with("/etc/supervisor/supervisord.conf:5: For [program:x], redirect_stderr=true but stderr_logfile has also been set"), "{w:?}");
        assert_eq!(w.len(), 2, "{w:?}");
        let auto = loaded(&format!(
            "{HEAD}[program:x]\ncommand=/bin/x\nstdout_logfile_maxbytes=0\n"
        ));
        let w = auto.warnings[0].to_string();
        assert!(w.starts_with("/etc/supervisor/supervisord.conf:2: For [program:x], AUTO logging used for stdout_logfile without rollover"), "{w}");
    }

    #[test]
    fn other_keys_are_kept_and_unknown_ones_warned_once() {
        let cfg = loaded(&format!(
            "{HEAD}[program:w]\ncommand=/bin/w\nmax_tries=3\nbogus=1\nprocess_name=w%(process_num)d\nnumprocs=2\n"
        ));
        let p = &cfg.processes[1];
        let extras: Vec<(&str, &str, usize)> = p
            .extras
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect();
        assert_eq!(extras, [("max_tries", "3", 4), ("bogus", "1", 5)]);
        let w: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            ["/etc/supervisor/supervisord.conf:5: unknown key \"bogus\" in [program:w] ignored"]
        );
    }

    #[test]
    fn type_errors_name_file_line_and_key() {
        let files = [(
            "/etc/supervisor/conf.d/x.conf",
            "[program:x]\ncommand=/bin/x\n\nstartsecs=soon\n",
        )];
        let e = load_with(&format!("{HEAD}[include]\nfiles=conf.d/*.conf\n"), &files).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/supervisor/conf.d/x.conf:4: [program:x] startsecs: invalid literal for int() with base 10: 'soon'"
        );
        let rows = [
            (
                "autorestart=sometimes",
                ":4: [program:x] autorestart: invalid 'autorestart' value 'sometimes'",
            ),
            (
                "user=nobody-here",
                ":4: [program:x] user: Invalid user name nobody-here",
            ),
            (
                "umask=9",
                ":4: [program:x] umask: 9 can not be converted to an octal type",
            ),
            (
                "stopasgroup=true\nkillasgroup=false",
                ":5: [program:x] Cannot set stopasgroup=true and killasgroup=false",
            ),
            (
                "environment=A",
                ":4: [program:x] environment: Unexpected end of key/value pairs in value 'A'",
            ),
        ];
        for (line, want) in rows {
            let e = error(&format!("{HEAD}[program:x]\ncommand=/bin/x\n{line}\n"));
            assert!(e.ends_with(want), "{e}");
        }
        let e = error(&format!("{HEAD}[program:x]\nautostart=false\n"));
        assert_eq!(
            e,
            "/etc/supervisor/supervisord.conf:2: program section program:x does not specify a command"
        );
        let e = error(&format!("{HEAD}[program:a b]\ncommand=x\n"));
        assert_eq!(
            e,
            "/etc/supervisor/supervisord.conf:2: [program:a b] Invalid name: 'a b' because of character: ' '"
        );
    }
}
