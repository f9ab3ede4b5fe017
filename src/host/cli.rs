//! `supervise-host`: its command line (supervisord's options where they mean
//! something here, so unit files and Dockerfiles only change the program's name),
//! the config search, the check mode, and the start.

use std::ffi::OsString;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::config::{self, HostConfig};
use super::run::{self, Host};
use super::service::Service;
use crate::log::Log;

/// Exit code of a bad command line or config, as supervisord's.
pub const EXIT_CONFIG: i32 = 2;

/// The `-h` text.
pub const USAGE: &str = "\
usage: supervise-host [-c FILE] [-n] [-s]
       supervise-host [-c FILE] --check [--json]

Reads a supervisord config and keeps one supervise per process it names, each
with its own status directory under the status root ([supervisord]
status_root; default /run/supervise as root, else status/ beside the config).
Control it with svc (svc status, svc start NAME, svc update, ...).

  -c, --configuration FILE
                 the config (default: the first of supervisord.conf,
                 etc/supervisord.conf, /etc/supervisord.conf,
                 /etc/supervisor/supervisord.conf)
  -n, --nodaemon stay in the foreground (systemd, containers); also
                 [supervisord] nodaemon=true, and implied as PID 1
  -s, --silent   no log lines on stdout in the foreground
  --check        read the config, say every error as FILE:LINE: what and exit
                 2, or list the processes and their settings and exit 0
  --json         with --check: one JSON array, supervisord's key names
  -v, --version  print the version
  -h, --help     print this help

Signals: HUP rereads the config and applies what changed; TERM, INT, QUIT
stop every service (highest priority first), then the host.
Exit codes: 0 stopped as asked; 1 a service with exit_host_on_fatal gave up;
2 bad command line or config; 111 cannot set up (status root, lock).
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// `-c FILE`.
    pub config: Option<PathBuf>,
    /// `-n`.
    pub foreground: bool,
    /// `-s`.
    pub silent: bool,
    /// `--check`.
    pub check: bool,
    /// `--json`.
    pub json: bool,
    /// `-v`.
    pub version: bool,
    /// `-h`.
    pub help: bool,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Options, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut o = Options::default();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('c') | Long("configuration") => {
                o.config = Some(p.value().map_err(|e| e.to_string())?.into());
            }
            Short('n') | Long("nodaemon") => o.foreground = true,
            Short('s') | Long("silent") => o.silent = true,
            Long("check") => o.check = true,
            Long("json") => o.json = true,
            Short('v') | Long("version") => o.version = true,
            Short('h') | Long("help") => o.help = true,
            other => return Err(other.unexpected().to_string()),
        }
    }
    if o.json && !o.check {
        return Err("--json goes with --check".into());
    }
    Ok(o)
}

/// Where supervisord looks for its config, in order, when `-c` is not given.
pub fn search_paths() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(here) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent().map(Path::to_path_buf))
    {
        out.push(here.join("etc/supervisord.conf"));
        out.push(here.join("supervisord.conf"));
    }
    for p in [
        "supervisord.conf",
        "etc/supervisord.conf",
        "/etc/supervisord.conf",
        "/etc/supervisor/supervisord.conf",
    ] {
        out.push(PathBuf::from(p));
    }
    out
}

/// The config to read: `-c`'s, else the first of [`search_paths`] that exists.
pub fn find_config(given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    search_paths()
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "no config file: give -c FILE, or put supervisord.conf where supervisord looks \
             (see supervise-host -h)"
                .to_owned()
        })
}

/// Reads the config and its services; an error is `FILE:LINE: what`.
pub fn load(path: &Path) -> Result<(HostConfig, Vec<Service>, Vec<String>), String> {
    let cfg = config::load_file(path).map_err(|e| e.to_string())?;
    let layout = run::layout_of(&cfg);
    let (services, warnings) = run::services(&cfg, &layout)?;
    Ok((cfg, services, warnings))
}

/// The check mode's listing: one block per process with its effective settings.
pub fn check_text(cfg: &HostConfig, services: &[Service]) -> String {
    let mut s = String::new();
    let root = run::layout_of(cfg).root;
    let _ = writeln!(s, "status root: {}", root.display());
    for (p, svc) in cfg.processes.iter().zip(services) {
        let _ = writeln!(
            s,
            "\n{} (group {}, priority {})",
            svc.name, svc.group, svc.priority
        );
        let _ = writeln!(s, "  command: {}", svc.command.join(" "));
        let _ = writeln!(s, "  from: {}:{}", p.file.display(), p.line);
        let _ = writeln!(s, "  status directory: {}", svc.dir.display());
        for line in svc
            .conf
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        {
            let _ = writeln!(s, "  {line}");
        }
    }
    let _ = writeln!(s, "\n{} processes", services.len());
    s
}

/// Runs `supervise-host` with its arguments; the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("supervise-host: {e} (see supervise-host -h)");
            return EXIT_CONFIG;
        }
    };
    if o.help {
        print!("{USAGE}");
        return 0;
    }
    if o.version {
        println!("supervise-host {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let loaded = find_config(o.config.as_deref()).and_then(|p| Ok((load(&p)?, p)));
    let ((cfg, services, warnings), path) = match loaded {
        Ok(l) => l,
        Err(e) => {
            eprintln!("supervise-host: {e}");
            return EXIT_CONFIG;
        }
    };
    for w in &warnings {
        eprintln!("supervise-host: warning: {w}");
    }
    if o.check {
        if o.json {
            println!("{}", config::to_json(&cfg.processes));
        } else {
            print!("{}", check_text(&cfg, &services));
        }
        return 0;
    }
    start(&o, &path, &cfg, services, &warnings)
}

/// Daemonizes unless in the foreground, opens the log, and runs the host.
fn start(
    o: &Options,
    path: &Path,
    cfg: &HostConfig,
    services: Vec<Service>,
    warnings: &[String],
) -> i32 {
    crate::daemon::sanitize_process();
    let foreground = o.foreground || cfg.supervisord.nodaemon || std::process::id() == 1;
    let readiness = if foreground {
        None
    } else {
        match crate::daemon::daemonize() {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("supervise-host: cannot fork into the background: {e}");
                return 111;
            }
        }
    };
    let log = match open_log(
        &cfg.supervisord.logfile,
        foreground && !o.silent && !cfg.supervisord.silent,
    ) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "supervise-host: cannot open {}: {e}",
                cfg.supervisord.logfile
            );
            return 111;
        }
    };
    for w in warnings {
        log.warn(w);
    }
    if let Err(e) = apply_settings(cfg) {
        log.warn(&e);
        eprintln!("supervise-host: {e}");
        return 111;
    }
    let on_ready: run::OnReady = Box::new(move |log: &Log| {
        if let Some(r) = readiness {
            if let Err(e) = r.ready() {
                log.warn(format_args!("cannot detach from the caller: {e}"));
            }
        }
    });
    if std::process::id() == 1 {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    let mut host = match Host::new(path, cfg, services, log, on_ready) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("supervise-host: {e}");
            return 111;
        }
    };
    let pidfile = write_pidfile(&cfg.supervisord.pidfile);
    let code = host.run();
    if let Some(p) = pidfile {
        let _ = std::fs::remove_file(p);
    }
    code
}

/// `[supervisord] pidfile`: the host's pid, for the scripts that signal it (an event
/// listener that stops the container reads it); removed at exit.
fn write_pidfile(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    let tmp = p.with_extension("pid.new");
    std::fs::write(&tmp, format!("{}\n", std::process::id())).ok()?;
    std::fs::rename(&tmp, &p).ok()?;
    Some(p)
}

/// `[supervisord] umask`, `directory` and `minfds` (the descriptor limit raised to
/// it, as supervisord does) before anything starts.
fn apply_settings(cfg: &HostConfig) -> Result<(), String> {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        cfg.supervisord.umask as _,
    ));
    if let Some(d) = &cfg.supervisord.directory {
        std::env::set_current_dir(d).map_err(|e| format!("[supervisord] directory {d}: {e}"))?;
    }
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let want = u64::try_from(cfg.supervisord.minfds).unwrap_or(0);
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < want {
            setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard).map_err(|e| {
                format!("[supervisord] minfds {want}: cannot raise the descriptor limit: {e}")
            })?;
        }
    }
    Ok(())
}

/// The host's log: `[supervisord] logfile`, and also standard output in the
/// foreground unless silent (as supervisord's `nodaemon`).
fn open_log(path: &str, tee: bool) -> std::io::Result<Log> {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    let to_stdout = tee && !matches!(path, "/dev/stdout" | "/dev/stderr");
    if to_stdout {
        use std::os::fd::AsFd;
        let stdout = std::io::stdout().as_fd().try_clone_to_owned()?;
        return Log::tee(file, std::fs::File::from(stdout));
    }
    Ok(Log::new(file.try_clone()?, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Options, String> {
        parse(a.iter().map(OsString::from))
    }

    #[test]
    fn options() {
        let o = p(&["-c", "/etc/s.conf", "-n"]).unwrap();
        assert_eq!(o.config, Some(PathBuf::from("/etc/s.conf")));
        assert!(o.foreground);
        assert!(p(&["--configuration=/x", "--nodaemon"]).unwrap().foreground);
        let o = p(&["--check", "--json"]).unwrap();
        assert!(o.check && o.json);
        assert!(p(&["--json"]).is_err());
        assert!(p(&["-Z"]).is_err());
    }

    #[test]
    fn the_config_is_found_where_supervisord_looks() {
        assert_eq!(
            find_config(Some(Path::new("/x.conf"))),
            Ok(PathBuf::from("/x.conf"))
        );
        let paths = search_paths();
        assert_eq!(
            paths.last(),
            Some(&PathBuf::from("/etc/supervisor/supervisord.conf"))
        );
    }
}
