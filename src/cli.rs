//! The `supervise` command line (SPEC §2), legacy options first.
//!
//! ```text
//! supervise -p STATUS_DIR -f COMMAND_STR [-F CONF] [-r RESTART_SH] [-t TIME_LIMIT] [-n]
//! supervise [-F CONF] [-r RESTART_SH] [-t TIME_LIMIT] [-n] -u STATUS_DIR COMMAND [ARG...]
//! ```
//!
//! Options are read as the legacy tool's GNU `getopt` reads them, permuting: an
//! option may come after a word that is not one (`-p status/app ./bin/app arg` runs
//! `./bin/app arg`), until `--`; after `-u DIR` everything is the command, even words
//! that start with `-`. Short options cluster (`-nv`) and take their value attached
//! or separate (`-pDIR`, `-p DIR`).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// Exit code for bad usage, fixed by the legacy tool.
pub const EXIT_USAGE: u8 = 100;

/// Exit code when supervise cannot set up (directory, lock, FIFOs).
pub const EXIT_SETUP: u8 = 111;

/// The usage text of `-h`.
pub const USAGE: &str = "\
usage: supervise -p STATUS_DIR -f COMMAND_STR [OPTIONS]
       supervise [OPTIONS] -u STATUS_DIR COMMAND [ARG...]

Runs COMMAND as its direct child, restarts it when it exits, and exposes its
state in STATUS_DIR (lock, control, ok, status, state, __stdout, __stderr,
supervise.log, supervise.log.wf). Returns once the service is started and
supervises in the background, unless -n is given.

  -p DIR         the status directory; the service name is everything after
                 status/ (else the last component); created with mode 0700 if
                 missing
  -f STR         the command as one string, split like a shell would; strings
                 with shell syntax run under /bin/sh -c; without -f, the words
                 that are not options are the command
  -u DIR CMD...  the status directory, then the command as separate words
  -F PATH        config file (default: supervise.conf in the working directory)
  -r SCRIPT      run SCRIPT N each time the service exits, N counting the exits
                 less than -t seconds apart (without -t, N is always 1)
  -t SECS        exits at least SECS apart start the count N again at 1
  -n, --foreground
                 stay attached: do not daemonize (systemd, containers, tests)
  --watch PATH   restart the service when PATH changes (a directory: anything
                 under it); repeatable, adds to the config's watch key
  --down         start with the service wanted down (as daemontools' down file):
                 supervise runs and answers, the service waits for u
  --subreaper    stay in the foreground and exit with the service's exit code
                 once asked to stop (128 + signal if a signal ended it); implied
                 as PID 1 (supervise always reaps what the service leaves)
  -v, --version  print the version
  -h, --help     print this help

Control: write letters to STATUS_DIR/control, or use svc:
  u up   d down   o once   p pause   c continue   x exit when down
  h a i t k q 1 2   send HUP ALRM INT TERM KILL QUIT USR1 USR2
  s silence alarms   n alarms on   r reload config

Exit codes: 0 stopped as asked (with --subreaper or as PID 1: the service's
code); 1 gave up on a crash loop (max_tries); 100 bad usage, bad config or
command not found; 111 cannot set up the status directory (unwritable, or
already supervised).
";

/// The command to supervise, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// `-f STR`: one string, split by [`crate::command::plan`].
    String(String),
    /// `-u DIR CMD ARG...`: separate words.
    Words(Vec<OsString>),
}

impl CommandLine {
    /// The command as a person would type it, for logs and `svc status`.
    pub fn display(&self) -> String {
        match self {
            CommandLine::String(s) => s.clone(),
            CommandLine::Words(w) => w
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// A parsed command line that runs a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The status directory.
    pub dir: PathBuf,
    /// The service's name, derived from `dir`.
    pub name: String,
    /// The command.
    pub command: CommandLine,
    /// The config file.
    pub config: PathBuf,
    /// `-F` was given: the file must be there.
    pub config_named: bool,
    /// Words that are not options, left over because `-f` or `-u` gave the command
    /// (the legacy tool ignored them; supervise says so).
    pub ignored: Vec<OsString>,
    /// `-r`: the script run after every exit.
    pub restart_script: Option<OsString>,
    /// `-t`: seconds between exits after which the `-r` count starts again.
    pub time_limit: Option<u64>,
    /// `-n`: do not daemonize.
    pub foreground: bool,
    /// `--watch PATH`, repeatable: paths whose changes restart the service.
    pub watch: Vec<PathBuf>,
    /// `--subreaper`: adopt and reap orphaned descendants, exit with the service's
    /// code (implied when supervise runs as PID 1).
    pub subreaper: bool,
    /// `--down`: start with the service wanted down.
    pub down: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    /// Supervise a service.
    Run(Options),
    /// `-v`.
    Version,
    /// `-h`.
    Help,
}

/// Bad usage, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> UsageError {
        UsageError(e.to_string())
    }
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, UsageError> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut dir: Option<PathBuf> = None;
    let mut string: Option<String> = None;
    let mut words: Option<Vec<OsString>> = None;
    let mut config: Option<PathBuf> = None;
    let mut restart_script = None;
    let mut time_limit = None;
    let mut foreground = false;
    let mut watch = Vec::new();
    let mut subreaper = false;
    let mut down = false;
    let mut u_dir = false;
    let mut positional = Vec::new();
    while let Some(arg) = p.next()? {
        match arg {
            Short('p') => set_once(&mut dir, p.value()?.into(), "-p")?,
            Short('u') => {
                set_once(&mut dir, p.value()?.into(), "-u")?;
                u_dir = true;
            }
            Short('f') => {
                let v = p.value()?.into_string().map_err(|v| {
                    usage(format!(
                        "-f: the command {v:?} is not valid UTF-8; use -u DIR CMD ARG..."
                    ))
                })?;
                set_once(&mut string, v, "-f")?;
            }
            Short('F') => set_once(&mut config, p.value()?.into(), "-F")?,
            Short('r') => set_once(&mut restart_script, p.value()?, "-r")?,
            Short('t') => {
                let v = p.value()?;
                let secs = v
                    .to_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| usage(format!("-t: {v:?} is not a whole number of seconds")))?;
                set_once(&mut time_limit, secs, "-t")?;
            }
            Short('n') | Long("foreground") => foreground = true,
            Long("watch") => watch.push(PathBuf::from(p.value()?)),
            Long("subreaper") => subreaper = true,
            Long("down") => down = true,
            Short('v') | Long("version") => return Ok(Cli::Version),
            Short('h') | Long("help") => return Ok(Cli::Help),
            Value(first) if u_dir => {
                let mut w = vec![first];
                w.extend(p.raw_args()?);
                words = Some(w);
            }
            Value(v) => positional.push(v),
            other => return Err(other.unexpected().into()),
        }
    }
    let dir = dir.ok_or_else(|| usage("no status directory: give -p DIR or -u DIR"))?;
    if dir.as_os_str().is_empty() {
        return Err(usage("the status directory is an empty string"));
    }
    let (command, ignored) = match (u_dir, string) {
        (true, Some(_)) => {
            return Err(usage("give the command with -f or after -u DIR, not both"));
        }
        (true, None) => (
            CommandLine::Words(
                words.ok_or_else(|| usage("-u DIR must be followed by the command"))?,
            ),
            positional,
        ),
        (false, Some(s)) => (CommandLine::String(s), positional),
        (false, None) if !positional.is_empty() => (CommandLine::Words(positional), Vec::new()),
        (false, None) => {
            return Err(usage(
                "no command: give -f \"CMD\", or the command's words, with -p DIR",
            ));
        }
    };
    let name = service_name(&dir);
    Ok(Cli::Run(Options {
        name,
        dir,
        command,
        config_named: config.is_some(),
        ignored,
        config: config.unwrap_or_else(|| PathBuf::from("supervise.conf")),
        restart_script,
        time_limit,
        foreground,
        watch,
        subreaper,
        down,
    }))
}

fn set_once<T>(slot: &mut Option<T>, v: T, opt: &str) -> Result<(), UsageError> {
    if slot.is_some() {
        let what = if opt == "-u" || opt == "-p" {
            "-p/-u"
        } else {
            opt
        };
        return Err(usage(format!("{what} given twice")));
    }
    *slot = Some(v);
    Ok(())
}

/// The service's name, as the legacy tool names it: everything after `status/` in
/// the path (`status/grp/app` is `grp/app`, its config section `[grp/app]`), trailing
/// slashes aside; without `status/`, the last component.
pub fn service_name(dir: &Path) -> String {
    let text = dir.to_string_lossy();
    let text = text.trim_end_matches('/');
    if let Some((_, rest)) = text.split_once("status/") {
        let rest = rest.trim_start_matches('/');
        if !rest.is_empty() {
            return rest.to_owned();
        }
    }
    use std::path::Component;
    dir.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .next_back()
        .unwrap_or_else(|| "service".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    fn run(s: &[&str]) -> Options {
        match parse(args(s)) {
            Ok(Cli::Run(o)) => o,
            other => panic!("{s:?} gave {other:?}"),
        }
    }

    fn err(s: &[&str]) -> String {
        match parse(args(s)) {
            Err(e) => e.0,
            other => panic!("{s:?} gave {other:?}"),
        }
    }

    #[test]
    fn the_help_fits_an_80_column_terminal() {
        for line in USAGE.lines() {
            assert!(line.chars().count() <= 80, "{line:?}");
        }
    }

    #[test]
    fn legacy_p_f() {
        let o = run(&["-p", "./status/app", "-f", "python app.py"]);
        assert_eq!(o.dir, PathBuf::from("./status/app"));
        assert_eq!(o.name, "app");
        assert_eq!(o.command, CommandLine::String("python app.py".into()));
        assert_eq!(o.config, PathBuf::from("supervise.conf"));
        assert!(!o.foreground);
        assert_eq!(o.restart_script, None);
    }

    #[test]
    fn legacy_u_takes_the_rest_verbatim() {
        let o = run(&[
            "-F",
            "x.conf",
            "-u",
            "status/db",
            "redis-server",
            "-p",
            "6379",
            "--",
            "-n",
        ]);
        assert_eq!(o.name, "db");
        assert_eq!(o.config, PathBuf::from("x.conf"));
        assert_eq!(
            o.command,
            CommandLine::Words(args(&["redis-server", "-p", "6379", "--", "-n"]))
        );
        assert!(!o.foreground, "-n after the command belongs to the command");
        let o = run(&["-u", "status/db", "-n", "sleep", "1"]);
        assert!(o.foreground, "options before the command are ours");
        assert_eq!(o.command, CommandLine::Words(args(&["sleep", "1"])));
    }

    #[test]
    fn attached_values_and_clusters() {
        let o = run(&["-nps/status/x/", "-fsleep 1", "-r./r.sh", "-t", "30"]);
        assert!(o.foreground);
        assert_eq!(o.dir, PathBuf::from("s/status/x/"));
        assert_eq!(o.name, "x");
        assert_eq!(o.restart_script, Some(OsString::from("./r.sh")));
        assert_eq!(o.time_limit, Some(30));
        assert!(run(&["--foreground", "-p", "d", "-f", "x"]).foreground);
        assert!(run(&["--subreaper", "-p", "d", "-f", "x"]).subreaper);
        assert!(run(&["--down", "-p", "d", "-f", "x"]).down);
        let o = run(&["--watch", "conf", "--watch=content/", "-p", "d", "-f", "x"]);
        assert_eq!(
            o.watch,
            vec![PathBuf::from("conf"), PathBuf::from("content/")]
        );
    }

    #[test]
    fn options_permute_as_gnu_getopt_does() {
        let o = run(&["-p", "status/app", "./bin/app", "arg"]);
        assert_eq!(o.command, CommandLine::Words(args(&["./bin/app", "arg"])));
        let o = run(&["./bin/app", "a", "-p", "status/app", "b"]);
        assert_eq!(
            o.command,
            CommandLine::Words(args(&["./bin/app", "a", "b"]))
        );
        let o = run(&["-p", "status/app", "--", "./app", "--port", "80"]);
        assert_eq!(
            o.command,
            CommandLine::Words(args(&["./app", "--port", "80"]))
        );
        let o = run(&["-p", "status/app", "-f", "./app x", "extra"]);
        assert_eq!(o.command, CommandLine::String("./app x".into()));
        assert_eq!(o.ignored, args(&["extra"]));
        let o = run(&["pre", "-u", "status/p", "./args.sh", "q"]);
        assert_eq!(o.command, CommandLine::Words(args(&["./args.sh", "q"])));
        assert_eq!(o.ignored, args(&["pre"]));
        assert!(!o.config_named);
        assert!(run(&["-F", "c", "-p", "d", "x"]).config_named);
    }

    #[test]
    fn version_and_help() {
        assert_eq!(parse(args(&["-v"])), Ok(Cli::Version));
        assert_eq!(parse(args(&["-h"])), Ok(Cli::Help));
        assert_eq!(parse(args(&["-p", "x", "--help"])), Ok(Cli::Help));
    }

    #[test]
    fn bad_usage_says_what_is_wrong() {
        assert_eq!(err(&[]), "no status directory: give -p DIR or -u DIR");
        assert_eq!(err(&["-u", "d"]), "-u DIR must be followed by the command");
        assert_eq!(err(&["-p", "d", "-u", "e", "x"]), "-p/-u given twice");
        assert_eq!(
            err(&["-f", "a", "-u", "e", "x"]),
            "give the command with -f or after -u DIR, not both"
        );
        assert!(err(&["-p", "d", "-f", "x", "-t", "soon"]).contains("not a whole number"));
        assert!(err(&["-p", "d", "-f", "x", "-Z"]).contains("-Z"));
        assert!(
            err(&["-p"]).contains("-p"),
            "missing value names the option"
        );
        assert_eq!(
            err(&["-p", "d"]),
            "no command: give -f \"CMD\", or the command's words, with -p DIR"
        );
        assert_eq!(
            err(&["-p", "", "-f", "x"]),
            "the status directory is an empty string"
        );
    }

    #[test]
    fn service_names() {
        let rows = [
            ("./status/app", "app"),
            ("status/app/", "app"),
            ("/var/run/status/redis", "redis"),
            ("/srv/status/web/extra", "web/extra"),
            ("status/grp/app", "grp/app"),
            ("status//app", "app"),
            ("mystatus/m", "m"),
            ("/srv/services/web", "web"),
            ("status", "status"),
            ("status/", "status"),
            ("web", "web"),
            ("/", "service"),
        ];
        for (dir, name) in rows {
            assert_eq!(service_name(Path::new(dir)), name, "{dir}");
        }
    }
}
