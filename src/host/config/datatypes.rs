//! supervisord's value types (`supervisor/datatypes.py`): what each kind of value
//! accepts and how it words a refusal. Pure functions of the text; the ones that ask
//! the system (does this user exist, is this a directory) are in [`super::system`].

use super::python::{self, repr, strip};

/// `autorestart`: when supervisord restarts a process that exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoRestart {
    /// `false`: never.
    Never,
    /// `unexpected`: when the exit code is not in `exitcodes`.
    Unexpected,
    /// `true`: always.
    Always,
}

/// `loglevel`, from the most to the least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `critical` (50).
    Critical,
    /// `error` (40).
    Error,
    /// `warn` (30).
    Warn,
    /// `info` (20).
    Info,
    /// `debug` (10).
    Debug,
    /// `trace` (5).
    Trace,
    /// `blather` (3).
    Blather,
}

/// The levels by the name supervisord reads.
pub const LOG_LEVELS: &[(&str, LogLevel)] = &[
    ("critical", LogLevel::Critical),
    ("error", LogLevel::Error),
    ("warn", LogLevel::Warn),
    ("info", LogLevel::Info),
    ("debug", LogLevel::Debug),
    ("trace", LogLevel::Trace),
    ("blather", LogLevel::Blather),
];

/// What a `*_logfile` value names, before a path is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogName {
    /// `NONE` or `OFF`: no log file.
    None,
    /// `AUTO`: a file supervisord names in `childlogdir`.
    Auto,
    /// `SYSLOG`: deprecated, read as no file and `*_syslog=true`.
    Syslog,
    /// Anything else: a path.
    Path(String),
}

const TRUTHY: &[&str] = &["yes", "true", "on", "1"];
const FALSY: &[&str] = &["no", "false", "off", "0"];

/// `boolean`: `yes true on 1` or `no false off 0`, in any case.
pub fn boolean(s: &str) -> Result<bool, String> {
    let lower = s.to_lowercase();
    if TRUTHY.contains(&lower.as_str()) {
        Ok(true)
    } else if FALSY.contains(&lower.as_str()) {
        Ok(false)
    } else {
        Err(format!("not a valid boolean value: {}", repr(s)))
    }
}

/// `integer`: Python's `int()`.
pub fn integer(s: &str) -> Result<i64, String> {
    python::int(s, 10)
}

/// `byte_size`: a whole number with an optional `KB`, `MB` or `GB` (any case).
pub fn byte_size(s: &str) -> Result<i64, String> {
    let v = s.to_lowercase();
    let units = [("kb", 1i64 << 10), ("mb", 1 << 20), ("gb", 1 << 30)];
    let (digits, unit) = units
        .iter()
        .find_map(|&(suffix, m)| Some((v.strip_suffix(suffix)?, m)))
        .unwrap_or((v.as_str(), 1));
    python::int(digits, 10)?
        .checked_mul(unit)
        .ok_or_else(|| format!("{} is too large", repr(s)))
}

/// `octal_type`: Python's `int(s, 8)`. A negative value, which supervisord accepts
/// here and fails on later, is refused here.
pub fn octal(s: &str) -> Result<u32, String> {
    python::int(s, 8)
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("{s} can not be converted to an octal type"))
}

/// `signal_number`: a number Python's `signal` module knows, or a name with or without
/// `SIG`, in any case (Python's own names, `SIG_DFL` and kin included).
pub fn signal_number(s: &str) -> Result<i32, String> {
    if let Ok(n) = python::int(s, 10) {
        return match i32::try_from(n)
            .ok()
            .filter(|n| signals().iter().any(|&(_, m)| m == *n))
        {
            Some(n) => Ok(n),
            None => Err(format!("value {} is not a valid signal number", repr(s))),
        };
    }
    let upper = strip(s).to_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    signals()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, num)| num)
        .ok_or_else(|| format!("value {} is not a valid signal name", repr(s)))
}

/// The `SIG*` names of Python's `signal` module on Linux, with their numbers.
pub fn signals() -> Vec<(&'static str, i32)> {
    use libc::*;
    vec![
        ("SIGABRT", SIGABRT),
        ("SIGALRM", SIGALRM),
        ("SIGBUS", SIGBUS),
        ("SIGCHLD", SIGCHLD),
        ("SIGCLD", SIGCHLD),
        ("SIGCONT", SIGCONT),
        ("SIGFPE", SIGFPE),
        ("SIGHUP", SIGHUP),
        ("SIGILL", SIGILL),
        ("SIGINT", SIGINT),
        ("SIGIO", SIGIO),
        ("SIGIOT", SIGIOT),
        ("SIGKILL", SIGKILL),
        ("SIGPIPE", SIGPIPE),
        ("SIGPOLL", SIGPOLL),
        ("SIGPROF", SIGPROF),
        ("SIGPWR", SIGPWR),
        ("SIGQUIT", SIGQUIT),
        ("SIGRTMAX", SIGRTMAX()),
        ("SIGRTMIN", SIGRTMIN()),
        ("SIGSEGV", SIGSEGV),
        ("SIGSTKFLT", SIGSTKFLT),
        ("SIGSTOP", SIGSTOP),
        ("SIGSYS", SIGSYS),
        ("SIGTERM", SIGTERM),
        ("SIGTRAP", SIGTRAP),
        ("SIGTSTP", SIGTSTP),
        ("SIGTTIN", SIGTTIN),
        ("SIGTTOU", SIGTTOU),
        ("SIGURG", SIGURG),
        ("SIGUSR1", SIGUSR1),
        ("SIGUSR2", SIGUSR2),
        ("SIGVTALRM", SIGVTALRM),
        ("SIGWINCH", SIGWINCH),
        ("SIGXCPU", SIGXCPU),
        ("SIGXFSZ", SIGXFSZ),
        ("SIG_BLOCK", SIG_BLOCK),
        ("SIG_DFL", 0),
        ("SIG_IGN", 1),
        ("SIG_SETMASK", SIG_SETMASK),
        ("SIG_UNBLOCK", SIG_UNBLOCK),
    ]
}

/// `list_of_exitcodes`: comma-separated integers from 0 to 255; empty is none.
pub fn exitcodes(s: &str) -> Result<Vec<i32>, String> {
    let bad = || format!("not a valid list of exit codes: {}", repr(s));
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|part| {
            let n = python::int(part, 10).map_err(|_| bad())?;
            i32::try_from(n)
                .ok()
                .filter(|n| (0..=255).contains(n))
                .ok_or_else(bad)
        })
        .collect()
}

/// `auto_restart`: a boolean, or `unexpected`.
pub fn auto_restart(s: &str) -> Result<AutoRestart, String> {
    let lower = s.to_lowercase();
    match boolean(&lower) {
        Ok(true) => Ok(AutoRestart::Always),
        Ok(false) => Ok(AutoRestart::Never),
        Err(_) if lower == "unexpected" => Ok(AutoRestart::Unexpected),
        Err(_) => Err(format!("invalid 'autorestart' value {}", repr(&lower))),
    }
}

/// `list_of_strings`: comma-separated, each stripped; empty is none.
pub fn list_of_strings(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',').map(|x| strip(x).to_string()).collect()
}

/// `process_or_group_name`: stripped, and without a space, `:` or `/`.
pub fn process_or_group_name(s: &str) -> Result<String, String> {
    let name = strip(s);
    match [' ', ':', '/'].into_iter().find(|&c| name.contains(c)) {
        Some(c) => Err(format!(
            "Invalid name: {} because of character: {}",
            repr(s),
            repr(&c.to_string())
        )),
        None => Ok(name.to_string()),
    }
}

/// `logging_level`: one of [`LOG_LEVELS`], in any case.
pub fn logging_level(s: &str) -> Result<LogLevel, String> {
    let lower = s.to_lowercase();
    LOG_LEVELS
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|&(_, level)| level)
        .ok_or_else(|| format!("bad logging level name {}", repr(s)))
}

/// `logfile_name`, before a path's directory is checked: `NONE`/`OFF`, `AUTO`,
/// `SYSLOG` (any case) or a path.
pub fn logfile_name(s: &str) -> LogName {
    match s.to_lowercase().as_str() {
        "none" | "off" => LogName::None,
        "auto" => LogName::Auto,
        "syslog" => LogName::Syslog,
        _ => LogName::Path(s.to_string()),
    }
}

/// `port_number`: an integer from 1 to 65535.
pub fn port_number(s: &str) -> Result<u16, String> {
    let n = integer(s)?;
    match n {
        n if n < 1 => Err(format!("{n} is below lower bound (1)")),
        n if n > 0xffff => Err(format!("{n} is above upper bound (65535)")),
        n => Ok(n as u16),
    }
}

/// `inet_address`: `host:port`, `:port`, `*:port` or `port`; the host lowercased, and
/// empty for all interfaces.
pub fn inet_address(s: &str) -> Result<(String, u16), String> {
    let Some((host, port)) = s.rsplit_once(':') else {
        let port = port_number(s).map_err(|_| format!("not a valid port number: {} ", repr(s)))?;
        return Ok((String::new(), port));
    };
    if port.is_empty() {
        return Err("no port number specified in ''".into());
    }
    let port = port_number(port)?;
    let host = host.to_lowercase();
    Ok((if host == "*" { String::new() } else { host }, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for s in ["yes", "TRUE", "On", "1"] {
            assert_eq!(boolean(s), Ok(true), "{s}");
        }
        for s in ["no", "False", "OFF", "0"] {
            assert_eq!(boolean(s), Ok(false), "{s}");
        }
        assert_eq!(boolean("y"), Err("not a valid boolean value: 'y'".into()));
        assert_eq!(
            boolean(" true"),
            Err("not a valid boolean value: ' true'".into())
        );
    }

    #[test]
    fn byte_sizes() {
        let rows = [
            ("50MB", 50 << 20),
            ("1kb", 1024),
            ("2GB", 2 << 30),
            ("0", 0),
            ("100", 100),
            ("50 MB", 50 << 20),
            ("-1", -1),
        ];
        for (s, n) in rows {
            assert_eq!(byte_size(s), Ok(n), "{s}");
        }
        assert_eq!(
            byte_size("50XB"),
            Err("invalid literal for int() with base 10: '50xb'".into())
        );
        assert_eq!(
            byte_size("kb"),
            Err("invalid literal for int() with base 10: ''".into())
        );
        assert!(byte_size("1.5MB").is_err());
    }

    #[test]
    fn octals() {
        assert_eq!(octal("022"), Ok(0o22));
        assert_eq!(octal("0o700"), Ok(0o700));
        assert_eq!(
            octal("8"),
            Err("8 can not be converted to an octal type".into())
        );
    }

    #[test]
    fn signals_by_name_or_number() {
        let rows = [
            ("TERM", 15),
            ("sigkill", 9),
            (" hup ", 1),
            ("15", 15),
            ("QUIT", 3),
            ("USR1", libc::SIGUSR1),
            ("_DFL", 0),
            ("0", 0),
            ("64", 64),
        ];
        for (s, n) in rows {
            assert_eq!(signal_number(s), Ok(n), "{s}");
        }
        assert_eq!(
            signal_number("BOGUS"),
            Err("value 'BOGUS' is not a valid signal name".into())
        );
        assert_eq!(
            signal_number("33"),
            Err("value '33' is not a valid signal number".into())
        );
    }

    #[test]
    fn exit_code_lists() {
        assert_eq!(exitcodes("0,2"), Ok(vec![0, 2]));
        assert_eq!(exitcodes(" 0 , 255"), Ok(vec![0, 255]));
        assert_eq!(exitcodes(""), Ok(vec![]));
        for bad in ["256", "0,,2", "a", "-1"] {
            assert_eq!(
                exitcodes(bad),
                Err(format!("not a valid list of exit codes: {}", repr(bad)))
            );
        }
    }

    #[test]
    fn autorestart_values() {
        assert_eq!(auto_restart("true"), Ok(AutoRestart::Always));
        assert_eq!(auto_restart("OFF"), Ok(AutoRestart::Never));
        assert_eq!(auto_restart("Unexpected"), Ok(AutoRestart::Unexpected));
        assert_eq!(
            auto_restart("Maybe"),
            Err("invalid 'autorestart' value 'maybe'".into())
        );
    }

    #[test]
    fn names_lists_levels_logfiles() {
        assert_eq!(process_or_group_name(" web "), Ok("web".into()));
        assert_eq!(
            process_or_group_name("a b"),
            Err("Invalid name: 'a b' because of character: ' '".into())
        );
        assert_eq!(
            process_or_group_name("a:b/c"),
            Err("Invalid name: 'a:b/c' because of character: ':'".into())
        );
        assert_eq!(list_of_strings("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(list_of_strings("a,"), ["a", ""]);
        assert!(list_of_strings("").is_empty());
        assert_eq!(logging_level("DEBUG"), Ok(LogLevel::Debug));
        assert_eq!(
            logging_level("warning"),
            Err("bad logging level name 'warning'".into())
        );
        assert_eq!(logfile_name("Auto"), LogName::Auto);
        assert_eq!(logfile_name("NONE"), LogName::None);
        assert_eq!(logfile_name("off"), LogName::None);
        assert_eq!(logfile_name("syslog"), LogName::Syslog);
        assert_eq!(
            logfile_name("/dev/stdout"),
            LogName::Path("/dev/stdout".into())
        );
    }

    #[test]
    fn inet_addresses() {
        assert_eq!(
            inet_address("127.0.0.1:9001"),
            Ok(("127.0.0.1".into(), 9001))
        );
        assert_eq!(inet_address(":9001"), Ok((String::new(), 9001)));
        assert_eq!(inet_address("*:9001"), Ok((String::new(), 9001)));
        assert_eq!(inet_address("LocalHost:80"), Ok(("localhost".into(), 80)));
        assert_eq!(inet_address("9001"), Ok((String::new(), 9001)));
        assert_eq!(
            inet_address("h:"),
            Err("no port number specified in ''".into())
        );
        assert_eq!(
            inet_address("h:0"),
            Err("0 is below lower bound (1)".into())
        );
        assert_eq!(
            inet_address("h:70000"),
            Err("70000 is above upper bound (65535)".into())
        );
        assert_eq!(
            inet_address("x"),
            Err("not a valid port number: 'x' ".into())
        );
    }
}
