//! One process of the host's config as one `supervise`: its status directory, the
//! command line that starts that supervise, and the settings it reads, as a config
//! file in this project's own syntax that the host writes for it.
//!
//! Pure: the same process settings give the same bytes, which is how `update` knows
//! what changed (a changed file or command line is a changed process; anything else
//! keeps its pid). supervisord's keys become this project's:
//!
//! | supervisord | supervise |
//! |---|---|
//! | `command` (split as shlex does, no shell) | the words after `-u DIR` |
//! | `autostart=false` | `--down` |
//! | `autorestart` true / false / unexpected | `restart` always / never / on-failure |
//! | `exitcodes` | `success_exit_codes` |
//! | `startsecs`, `startretries` | `start_success`, `start_retries`, `backoff : linear`, `give_up : down` |
//! | `stopsignal`, `stopwaitsecs` | `stop_signal`, `stop_timeout` |
//! | `stopasgroup`, `killasgroup` | `stop_group`, `kill_group` |
//! | `user`, `directory`, `umask`, `environment` | `user`, `directory`, `umask`, `env` |
//! | `redirect_stderr` | `stderr_to_stdout` |
//! | `stdout_logfile` AUTO / NONE / path / `/dev/stdout` | `stdout_file` (AUTO is `__stdout` in the status directory) |
//! | `stdout_logfile_maxbytes`, `_backups` | `log_max_size`, `log_backups` |
//!
//! This project's own keys in a `[program:x]` section (alarms, limits, watch, ...)
//! are passed on as they are, each checked here so that an error names its own file
//! and line. supervisord keys with no equivalent here are named once, at load.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::host::config::{AutoRestart, Kind, Logfile, ProcessSpec, shlex};
use crate::ini::{Entry, LineError};

/// Where a host keeps its status directories and the files it writes for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The status root: one status directory per process under it.
    pub root: PathBuf,
}

/// The directory, under the status root, of the files the host writes.
pub const HOST_DIR: &str = ".host";

impl Layout {
    /// The status directory of the process named `name`.
    pub fn status_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The config file written for it.
    pub fn conf_path(&self, name: &str) -> PathBuf {
        self.root.join(HOST_DIR).join(format!("{name}.conf"))
    }

    /// The host's own files (lock, pid, generation).
    pub fn host_file(&self, file: &str) -> PathBuf {
        self.root.join(HOST_DIR).join(file)
    }
}

/// One process, ready to be supervised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its name as supervisorctl shows it: `name`, or `group:name` when its group is
    /// named otherwise. Its status directory is named so.
    pub name: String,
    /// Its group.
    pub group: String,
    /// Its name within the group.
    pub process: String,
    /// `priority`: lower starts first and stops last.
    pub priority: i64,
    /// `autostart`.
    pub autostart: bool,
    /// `startsecs`: up that long, it is RUNNING.
    pub startsecs: Duration,
    /// The program's words.
    pub command: Vec<String>,
    /// Its status directory.
    pub dir: PathBuf,
    /// Where its config file goes.
    pub conf_path: PathBuf,
    /// The config file's text.
    pub conf: String,
    /// An `[eventlistener:x]` pool member.
    pub listener: bool,
    /// The section it comes from.
    pub file: PathBuf,
    /// The section's header line.
    pub line: usize,
    /// `depends_on`: the words as written, and where.
    pub depends_on: Option<Dependencies>,
    /// `restart_dependents`: a restart of this one restarts what depends on it.
    pub restart_dependents: bool,
}

/// A `depends_on` as written: its words, its file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependencies {
    pub words: Vec<String>,
    pub file: PathBuf,
    pub line: usize,
}

/// Program keys of the host itself, not of the process's supervise: never written
/// to its config file.
pub const HOST_KEYS: [&str; 3] = ["depends_on", "restart_dependents", "exit_host_on_fatal"];

impl Service {
    /// The arguments of its `supervise` (the program name excluded).
    pub fn supervise_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec!["-n".into(), "-F".into()];
        args.push(self.conf_path.clone().into_os_string());
        if !self.autostart {
            args.push("--down".into());
        }
        args.push("-u".into());
        args.push(self.dir.clone().into_os_string());
        args.extend(self.command.iter().map(Into::into));
        args
    }

    /// Whether `other` runs differently: another command line or other settings.
    pub fn differs(&self, other: &Service) -> bool {
        self.supervise_args() != other.supervise_args() || self.conf != other.conf
    }
}

/// supervisorctl's name for a process: its name, `group:` first unless the group is
/// the program's own.
pub fn namespec(group: &str, process: &str) -> String {
    if group == process {
        process.to_owned()
    } else {
        format!("{group}:{process}")
    }
}

/// The supervisord keys that have no equivalent here, and what a value that needs
/// one looks like.
fn unsupported(spec: &ProcessSpec) -> Vec<(&'static str, bool)> {
    vec![
        ("stdout_capture_maxbytes", spec.stdout.capture_maxbytes != 0),
        ("stderr_capture_maxbytes", spec.stderr.capture_maxbytes != 0),
        ("stdout_syslog", spec.stdout.syslog),
        ("stderr_syslog", spec.stderr.syslog),
        (
            "stderr_logfile_maxbytes",
            !spec.redirect_stderr && spec.stderr.maxbytes != spec.stdout.maxbytes,
        ),
        (
            "stderr_logfile_backups",
            !spec.redirect_stderr && spec.stderr.backups != spec.stdout.backups,
        ),
    ]
}

/// Warnings for the keys set in the section that cannot be honoured.
fn unsupported_warnings(spec: &ProcessSpec) -> Vec<LineError> {
    let mut out = Vec::new();
    for (key, matters) in unsupported(spec) {
        let set = spec.set.iter().find(|l| l.key == key);
        if let (true, Some(l)) = (matters, set) {
            out.push(LineError::new(
                &l.file,
                l.line,
                format!("{key}: not supported here, ignored (README, \"Coming from supervisord\")"),
            ));
        }
    }
    out
}

/// `stdout_logfile`'s value as `stdout_file`'s.
fn sink(l: &Logfile) -> String {
    match l {
        Logfile::Auto => "AUTO".into(),
        Logfile::None => "NONE".into(),
        Logfile::Path(p) => p.clone(),
    }
}

/// The config file's text for `spec`, and the warnings it led to.
fn conf_text(
    spec: &ProcessSpec,
    server_url: Option<&str>,
    layout: &Layout,
) -> Result<String, LineError> {
    // Nothing here may depend on where the section sits in its file: moving it is no
    // change to the process.
    let mut lines: Vec<String> = vec![
        format!(
            "# Written by supervise-host from [{}]; written again at every start and",
            spec.section
        ),
        "# update: change the host's config, not this file.".into(),
        "[global]".into(),
    ];
    let mut kv = |k: &str, v: String| lines.push(format!("{k} : {v}"));
    kv(
        "restart",
        match spec.autorestart {
            AutoRestart::Always => "always",
            AutoRestart::Never => "never",
            AutoRestart::Unexpected => "on-failure",
        }
        .into(),
    );
    let codes: Vec<String> = spec.exitcodes.iter().map(i32::to_string).collect();
    kv("success_exit_codes", codes.join(" "));
    kv("start_success", spec.startsecs.to_string());
    // supervisord's RUNNING: up for startsecs, unless the program says how it is ready.
    if spec.startsecs > 0 && !spec.extras.iter().any(|e| e.key == "ready") {
        kv("ready", format!("startsecs {}", spec.startsecs));
    }
    kv("start_retries", spec.startretries.to_string());
    kv("backoff", "linear".into());
    kv("give_up", "down".into());
    kv("stop_signal", spec.stopsignal.to_string());
    kv("stop_timeout", spec.stopwaitsecs.to_string());
    kv("stop_group", yes(spec.stopasgroup));
    kv("kill_group", yes(spec.killasgroup));
    if let Some(u) = &spec.user {
        kv("user", u.clone());
    }
    if let Some(d) = &spec.directory {
        kv("directory", d.clone());
    }
    if let Some(m) = spec.umask {
        kv("umask", format!("{m:03o}"));
    }
    kv("stderr_to_stdout", yes(spec.redirect_stderr));
    kv("stdout_file", sink(&spec.stdout.logfile));
    if !spec.redirect_stderr {
        kv("stderr_file", sink(&spec.stderr.logfile));
    }
    kv("log_max_size", spec.stdout.maxbytes.max(0).to_string());
    kv("log_backups", spec.stdout.backups.max(0).to_string());
    for (k, v) in env(spec, server_url)? {
        kv("env", format!("{k}={v}"));
    }
    if spec.kind == Kind::EventListener {
        // The event listener protocol runs over its stdin and stdout.
        let socket = layout
            .root
            .join(HOST_DIR)
            .join(crate::host::events::bus::SOCKET);
        kv("stdio_socket", socket.display().to_string());
    }
    for e in spec
        .extras
        .iter()
        .filter(|e| !HOST_KEYS.contains(&e.key.as_str()))
    {
        check_extra(e)?;
        kv(&e.key, e.value.clone());
    }
    Ok(lines.join("\n") + "\n")
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// The environment supervisord gives a process: its own settings, then
/// `SUPERVISOR_ENABLED`, `SUPERVISOR_PROCESS_NAME`, `SUPERVISOR_GROUP_NAME` and, with
/// an HTTP server configured, `SUPERVISOR_SERVER_URL`.
fn env(spec: &ProcessSpec, server_url: Option<&str>) -> Result<Vec<(String, String)>, LineError> {
    let mut out = spec.environment.clone();
    out.push(("SUPERVISOR_ENABLED".into(), "1".into()));
    out.push(("SUPERVISOR_PROCESS_NAME".into(), spec.name.clone()));
    out.push(("SUPERVISOR_GROUP_NAME".into(), spec.group.clone()));
    if let Some(url) = server_url {
        out.push(("SUPERVISOR_SERVER_URL".into(), url.to_owned()));
    }
    for (k, v) in &out {
        if v.contains('\n')
            || k.is_empty()
            || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            let at = spec.set.iter().find(|l| l.key == "environment");
            return Err(LineError::new(
                at.map_or(&spec.file, |l| &l.file),
                at.map_or(spec.line, |l| l.line),
                format!(
                    "environment: {k}: a name of letters, digits and _, and a value on one line, are all that can be passed on"
                ),
            ));
        }
    }
    Ok(out)
}

/// Checks one of this project's keys as supervise will read it.
fn check_extra(l: &crate::host::config::Located) -> Result<(), LineError> {
    let entry = Entry {
        key: l.key.clone(),
        value: l.value.clone(),
        line: l.line,
    };
    crate::config::Config::from_entries(&[entry])
        .map(|_| ())
        .map_err(|e| LineError::new(&l.file, l.line, e.message))
}

/// `spec` as a service under `layout`, with the warnings for what it sets that
/// cannot be honoured. `server_url` is the host's HTTP server, if one is configured.
pub fn service(
    spec: &ProcessSpec,
    layout: &Layout,
    server_url: Option<&str>,
) -> Result<(Service, Vec<LineError>), LineError> {
    let command = shlex::split(&spec.command)
        .ok()
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            let at = spec.set.iter().find(|l| l.key == "command");
            LineError::new(
                at.map_or(&spec.file, |l| &l.file),
                at.map_or(spec.line, |l| l.line),
                "command: not a command line (empty, or an unclosed quote)",
            )
        })?;
    let name = namespec(&spec.group, &spec.name);
    let svc = Service {
        dir: layout.status_dir(&name),
        conf_path: layout.conf_path(&name),
        conf: conf_text(spec, server_url, layout)?,
        group: spec.group.clone(),
        process: spec.name.clone(),
        priority: spec.priority,
        autostart: spec.autostart,
        startsecs: Duration::from_secs(spec.startsecs.max(0).unsigned_abs()),
        command,
        listener: spec.kind == Kind::EventListener,
        file: spec.file.clone(),
        line: spec.line,
        depends_on: spec
            .extras
            .iter()
            .find(|e| e.key == "depends_on")
            .map(|e| Dependencies {
                words: e.value.split_whitespace().map(str::to_owned).collect(),
                file: e.file.clone(),
                line: e.line,
            }),
        restart_dependents: host_flag(spec, "restart_dependents")?,
        name,
    };
    Ok((svc, unsupported_warnings(spec)))
}

/// A yes/no host key of the section (supervisord's boolean words).
pub fn host_flag(spec: &ProcessSpec, key: &str) -> Result<bool, LineError> {
    let Some(e) = spec.extras.iter().find(|e| e.key == key) else {
        return Ok(false);
    };
    match e.value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        v => Err(LineError::new(
            &e.file,
            e.line,
            format!("{key}: {v:?} is not a boolean (true or false)"),
        )),
    }
}

/// The status root: `[supervisord] status_root`, else `/run/supervise` for root and
/// `status` beside the config file for anyone else.
pub fn default_root(configured: Option<&str>, here: &Path, root_user: bool) -> PathBuf {
    match configured {
        Some(r) if Path::new(r).is_absolute() => PathBuf::from(r),
        Some(r) => here.join(r),
        None if root_user => PathBuf::from("/run/supervise"),
        None => here.join("status"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::config::testing::loaded;

    fn services(text: &str) -> Vec<Service> {
        let cfg = loaded(text);
        let layout = Layout {
            root: "/run/supervise".into(),
        };
        cfg.processes
            .iter()
            .map(|p| service(p, &layout, None).unwrap().0)
            .collect()
    }

    #[test]
    fn a_program_becomes_a_supervise_with_its_settings() {
        let s = &services(
            "[supervisord]\n[program:web]\ncommand=/usr/bin/app --port 80 'a b'\n\
             autorestart=unexpected\nexitcodes=0,2\nstopsignal=INT\nstopwaitsecs=5\n\
             stopasgroup=true\nuser=www-data\nenvironment=A=\"1\",B=two\nautostart=false\n",
        )[0];
        assert_eq!(s.name, "web");
        assert_eq!(s.dir, PathBuf::from("/run/supervise/web"));
        assert_eq!(s.command, vec!["/usr/bin/app", "--port", "80", "a b"]);
        let args: Vec<String> = s
            .supervise_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args[..6],
            [
                "-n",
                "-F",
                "/run/supervise/.host/web.conf",
                "--down",
                "-u",
                "/run/supervise/web"
            ]
        );
        for line in [
            "restart : on-failure",
            "success_exit_codes : 0 2",
            "start_success : 1",
            "start_retries : 3",
            "stop_signal : 2",
            "stop_timeout : 5",
            "stop_group : yes",
            "kill_group : yes",
            "user : www-data",
            "env : A=1",
            "env : B=two",
            "env : SUPERVISOR_PROCESS_NAME=web",
            "stdout_file : AUTO",
            "log_max_size : 52428800",
        ] {
            assert!(
                s.conf.lines().any(|l| l == line),
                "{line:?} not in\n{}",
                s.conf
            );
        }
        // The file reads back as supervise reads it.
        let parsed = crate::config::parse(s.conf.as_bytes());
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let entries = crate::config::select(&parsed.sections, "web");
        let (c, warnings) = crate::config::Config::from_entries(&entries).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.start_retries, Some(3));
        assert_eq!(c.stop_signal, libc::SIGINT);
    }

    #[test]
    fn groups_name_their_processes_and_numprocs_expand() {
        let s = services(
            "[supervisord]\n[program:w]\ncommand=w %(process_num)d\nnumprocs=2\n\
             process_name=%(program_name)s_%(process_num)02d\n[group:pool]\nprograms=w\n",
        );
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["pool:w_00", "pool:w_01"]);
        assert_eq!(s[1].command, vec!["w", "1"]);
        assert!(s[0].differs(&s[1]));
        assert!(!s[0].differs(&s[0].clone()));
    }

    #[test]
    fn our_own_keys_pass_through_and_are_checked_where_written() {
        let s = &services(
            "[supervisord]\n[program:a]\ncommand=a\nalarm_mail=ops@example.com\nmax_tries=3\n",
        )[0];
        assert!(s.conf.contains("\nalarm_mail : ops@example.com\n"));
        let cfg = loaded("[supervisord]\n[program:a]\ncommand=a\nmax_tries=lots\n");
        let layout = Layout { root: "/r".into() };
        let e = service(&cfg.processes[0], &layout, None).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.to_string().contains("max_tries"), "{e}");
    }

    #[test]
    fn unsupported_keys_are_named_with_their_line() {
        let cfg = loaded(
            "[supervisord]\n[program:a]\ncommand=a\nstdout_capture_maxbytes=1MB\nstdout_syslog=true\n",
        );
        let layout = Layout { root: "/r".into() };
        let (_, w) = service(&cfg.processes[0], &layout, None).unwrap();
        let lines: Vec<usize> = w.iter().map(|w| w.line).collect();
        assert_eq!(lines, vec![4, 5], "{w:?}");
    }

    #[test]
    fn roots() {
        let here = Path::new("/etc/supervisor");
        assert_eq!(
            default_root(None, here, true),
            PathBuf::from("/run/supervise")
        );
        assert_eq!(default_root(None, here, false), here.join("status"));
        assert_eq!(default_root(Some("st"), here, true), here.join("st"));
        assert_eq!(default_root(Some("/x"), here, false), PathBuf::from("/x"));
    }
}
