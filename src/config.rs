//! The config file (SPEC §6): syntax, the legacy section rules, and typed values.
//!
//! Reading happens in three pure steps, each tested on its own:
//! 1. [`parse`]: text → sections of `key : value` lines, or the first malformed line;
//! 2. [`select`]: the legacy rules pick which lines apply to a service — its own
//!    section alone if it comes before `[global]`, else `[global]` with a later own
//!    section overriding it key by key and adding to `alarm_mail`;
//! 3. [`Config::from_entries`]: typed values, with a warning for each unknown key.
//!
//! [`load`] does the I/O around them. Every error names the file and the line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One `key : value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value, trimmed.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// A `[name]` section and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name between the brackets.
    pub name: String,
    /// Line of the header.
    pub line: usize,
    /// Its entries in file order.
    pub entries: Vec<Entry>,
}

/// A problem at a line (0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> LineError {
    LineError {
        line,
        message: message.into(),
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits the text into sections. Blank lines and lines starting with `#` are skipped;
/// anything else must be a `[name]` header or a `key : value` line starting in column 0.
pub fn parse(text: &str) -> Result<Vec<Section>, LineError> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim_end();
        if trimmed.trim_start().is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| err(line, format!("section header {trimmed:?} has no closing ]")))?;
            if name.is_empty()
                || name
                    .chars()
                    .any(|c| c.is_whitespace() || c == '[' || c == ']')
            {
                return Err(err(
                    line,
                    format!("section header {trimmed:?}: the name must be one word with no spaces"),
                ));
            }
            sections.push(Section {
                name: name.to_owned(),
                line,
                entries: Vec::new(),
            });
            continue;
        }
        if trimmed.starts_with(char::is_whitespace) {
            return Err(err(line, format!("{trimmed:?}: keys start in column 0")));
        }
        let (key, value) = trimmed
            .split_once(':')
            .ok_or_else(|| err(line, format!("{trimmed:?} is not `key : value`")))?;
        let key = key.trim_end();
        if key.is_empty() || !key.chars().all(is_key_char) {
            return Err(err(
                line,
                format!("{key:?} is not a key (letters, digits, _)"),
            ));
        }
        let section = sections
            .last_mut()
            .ok_or_else(|| err(line, format!("key {key:?} comes before any [section]")))?;
        section.entries.push(Entry {
            key: key.to_owned(),
            value: value.trim().to_owned(),
            line,
        });
    }
    Ok(sections)
}

/// The key whose values add up instead of overriding.
const APPENDING_KEY: &str = "alarm_mail";

/// The entries that apply to `service`, by the legacy rules, later ones winning.
pub fn select(sections: &[Section], service: &str) -> Vec<Entry> {
    let own = sections.iter().position(|s| s.name == service);
    let global = sections.iter().position(|s| s.name == "global");
    match (own, global) {
        (Some(o), Some(g)) if o < g => sections[o].entries.clone(),
        (Some(o), None) => sections[o].entries.clone(),
        (None, None) => Vec::new(),
        (None, Some(g)) => sections[g].entries.clone(),
        (Some(o), Some(g)) => {
            let mut merged = sections[g].entries.clone();
            for e in &sections[o].entries {
                if e.key == APPENDING_KEY {
                    // Added to the global list: keep both lines, in order.
                    merged.push(e.clone());
                } else {
                    merged.retain(|m| m.key != e.key);
                    merged.push(e.clone());
                }
            }
            merged
        }
    }
}

/// What supervise does once a crash loop passes a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// Send the final alarm and exit (the legacy behaviour).
    Exit,
    /// Send the final alarm, keep the service down for `give_up_cool_down`, then try
    /// again with a fresh window.
    CoolDown,
}

/// Everything the config file sets, with defaults for what it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The crash window; zero turns alarms and limits off.
    pub alarm_interval: Duration,
    /// Mail recipients.
    pub alarm_mail: Vec<String>,
    /// Phone numbers for SMS alarms.
    pub alarm_gsm: Vec<String>,
    /// Restarts allowed in a window (0: no limit).
    pub max_tries: u32,
    /// Core-dumping exits allowed in a window (0: no limit).
    pub max_tries_if_coredumped: u32,
    /// The SMTP relay URL; `None` uses the local sendmail.
    pub alarm_smtp: Option<String>,
    /// A PEM file of extra root certificates to trust for the relay.
    pub alarm_smtp_ca: Option<PathBuf>,
    /// The sender address; `None` means `supervise@HOSTNAME`.
    pub alarm_from: Option<String>,
    /// The sendmail program when no relay is set.
    pub alarm_sendmail: PathBuf,
    /// The SMS command as a word template: `{number}` and `{message}` are replaced.
    pub alarm_gsm_command: Vec<String>,
    /// How long an alarm may take to send before it is abandoned.
    pub alarm_timeout: Duration,
    /// What to do past a limit.
    pub give_up: GiveUp,
    /// How long a gave-up service stays down in [`GiveUp::CoolDown`].
    pub give_up_cool_down: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            alarm_interval: Duration::ZERO,
            alarm_mail: Vec::new(),
            alarm_gsm: Vec::new(),
            max_tries: 0,
            max_tries_if_coredumped: 0,
            alarm_smtp: None,
            alarm_smtp_ca: None,
            alarm_from: None,
            alarm_sendmail: PathBuf::from("/usr/sbin/sendmail"),
            alarm_gsm_command: vec!["gsmsend-script".into(), "{number}@{message}".into()],
            alarm_timeout: Duration::from_secs(30),
            give_up: GiveUp::Exit,
            give_up_cool_down: Duration::from_secs(600),
        }
    }
}

/// Every key this version knows.
pub const KEYS: &[&str] = &[
    "alarm_interval",
    "alarm_mail",
    "alarm_gsm",
    "max_tries",
    "max_tries_if_coredumped",
    "alarm_smtp",
    "alarm_smtp_ca",
    "alarm_from",
    "alarm_sendmail",
    "alarm_gsm_command",
    "alarm_timeout",
    "give_up",
    "give_up_cool_down",
];

/// Most phone numbers `alarm_gsm` takes, as in the legacy tool.
pub const MAX_GSM: usize = 10;

fn whole(e: &Entry) -> Result<u64, LineError> {
    if e.value.is_empty() {
        return Ok(0);
    }
    e.value.parse().map_err(|_| {
        err(
            e.line,
            format!("{}: {:?} is not a whole number", e.key, e.value),
        )
    })
}

fn seconds(e: &Entry) -> Result<Duration, LineError> {
    whole(e).map(Duration::from_secs)
}

fn count(e: &Entry) -> Result<u32, LineError> {
    let n = whole(e)?;
    u32::try_from(n).map_err(|_| err(e.line, format!("{}: {n} is too large", e.key)))
}

fn words(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
}

/// A plausible mail address: one `@` with something on both sides, no blanks.
fn check_address(e: &Entry, a: &str) -> Result<(), LineError> {
    match a.split_once('@') {
        Some((user, host)) if !user.is_empty() && !host.is_empty() && !host.contains('@') => Ok(()),
        _ => Err(err(
            e.line,
            format!("{}: {a:?} is not a mail address", e.key),
        )),
    }
}

impl Config {
    /// Builds the config from the selected entries; unknown keys become warnings.
    pub fn from_entries(entries: &[Entry]) -> Result<(Config, Vec<LineError>), LineError> {
        let mut c = Config::default();
        let mut warnings = Vec::new();
        let mut mail_seen = false;
        for e in entries {
            match e.key.as_str() {
                "alarm_interval" => {
                    let secs = seconds(e)?;
                    // The legacy tool counts anything below a minute as a minute.
                    c.alarm_interval = if secs.is_zero() {
                        secs
                    } else {
                        secs.max(Duration::from_secs(60))
                    };
                }
                "alarm_mail" => {
                    if !mail_seen {
                        c.alarm_mail.clear();
                        mail_seen = true;
                    }
                    for a in words(&e.value) {
                        check_address(e, &a)?;
                        if !c.alarm_mail.contains(&a) {
                            c.alarm_mail.push(a);
                        }
                    }
                }
                "alarm_gsm" => {
                    c.alarm_gsm = words(&e.value).collect();
                    if c.alarm_gsm.len() > MAX_GSM {
                        return Err(err(
                            e.line,
                            format!(
                                "alarm_gsm: {} numbers, at most {MAX_GSM}",
                                c.alarm_gsm.len()
                            ),
                        ));
                    }
                    for n in &c.alarm_gsm {
                        let digits = n.strip_prefix('+').unwrap_or(n);
                        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                            return Err(err(
                                e.line,
                                format!("alarm_gsm: {n:?} is not a phone number"),
                            ));
                        }
                    }
                }
                "max_tries" => c.max_tries = count(e)?,
                "max_tries_if_coredumped" => c.max_tries_if_coredumped = count(e)?,
                "alarm_smtp" => {
                    c.alarm_smtp = if e.value.is_empty() {
                        None
                    } else if e.value.starts_with("smtp://") || e.value.starts_with("smtps://") {
                        Some(e.value.clone())
                    } else {
                        return Err(err(
                            e.line,
                            format!(
                                "alarm_smtp: {:?} is not smtp://[user:pass@]host[:port] or smtps://...",
                                e.value
                            ),
                        ));
                    };
                }
                "alarm_smtp_ca" => {
                    c.alarm_smtp_ca = (!e.value.is_empty()).then(|| PathBuf::from(&e.value));
                }
                "alarm_from" => {
                    c.alarm_from = if e.value.is_empty() {
                        None
                    } else {
                        check_address(e, &e.value)?;
                        Some(e.value.clone())
                    };
                }
                "alarm_sendmail" => {
                    if e.value.is_empty() {
                        return Err(err(
                            e.line,
                            "alarm_sendmail: empty; give the sendmail program",
                        ));
                    }
                    c.alarm_sendmail = PathBuf::from(&e.value);
                }
                "alarm_gsm_command" => {
                    let w: Vec<String> = words(&e.value).collect();
                    if w.is_empty() {
                        return Err(err(
                            e.line,
                            "alarm_gsm_command: empty; give a program and its arguments",
                        ));
                    }
                    c.alarm_gsm_command = w;
                }
                "alarm_timeout" => {
                    c.alarm_timeout = seconds(e)?;
                    if c.alarm_timeout.is_zero() {
                        return Err(err(e.line, "alarm_timeout: must be at least 1 second"));
                    }
                }
                "give_up" => {
                    c.give_up = match e.value.as_str() {
                        "exit" => GiveUp::Exit,
                        "cool_down" => GiveUp::CoolDown,
                        other => {
                            return Err(err(
                                e.line,
                                format!("give_up: {other:?} is neither exit nor cool_down"),
                            ));
                        }
                    }
                }
                "give_up_cool_down" => c.give_up_cool_down = seconds(e)?,
                other => warnings.push(err(e.line, format!("unknown key {other:?} ignored"))),
            }
        }
        Ok((c, warnings))
    }

    /// Whether crash windows, alarms and limits are on.
    pub fn alarms_enabled(&self) -> bool {
        !self.alarm_interval.is_zero()
    }
}

/// A config ready to use, and what was worth a warning on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// Warnings: unknown keys, a missing file.
    pub warnings: Vec<String>,
}

/// Why a config could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// Reads the config for `service` from `path`. A missing file is not an error: it
/// means no limits, with a warning.
pub fn load(path: &Path, service: &str) -> Result<Loaded, LoadError> {
    let at = |e: LineError| LoadError(format!("{}:{}: {}", path.display(), e.line, e.message));
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|e| LoadError(format!("{}: not UTF-8 text ({e})", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded {
                config: Config::default(),
                warnings: vec![format!(
                    "config file {} not found: running without alarms or limits",
                    path.display()
                )],
            });
        }
        Err(e) => return Err(LoadError(format!("cannot read {}: {e}", path.display()))),
    };
    let sections = parse(&text).map_err(at)?;
    let (config, warnings) = Config::from_entries(&select(&sections, service)).map_err(at)?;
    Ok(Loaded {
        config,
        warnings: warnings
            .into_iter()
            .map(|w| format!("{}:{}: {}", path.display(), w.line, w.message))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str, service: &str) -> Config {
        let sections = parse(text).unwrap();
        Config::from_entries(&select(&sections, service)).unwrap().0
    }

    const SHIPPED: &str = include_str!("../conf/supervise.conf");

    #[test]
    fn the_shipped_example_parses_for_any_service() {
        let redis = cfg(SHIPPED, "redis");
        assert_eq!(redis.alarm_interval, Duration::from_secs(60));
        assert_eq!(
            redis.alarm_mail,
            vec![
                "ops@example.com",
                "dev@example.com",
                "redis-owner@example.com"
            ]
        );
        assert_eq!(redis.max_tries, 10);
        let other = cfg(SHIPPED, "web");
        assert_eq!(other.alarm_mail, vec!["ops@example.com", "dev@example.com"]);
        let (_, warnings) =
            Config::from_entries(&select(&parse(SHIPPED).unwrap(), "redis")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn section_rules() {
        // (file, service, expected max_tries, expected recipients)
        let rows: &[(&str, &str, u32, &[&str])] = &[
            // Own section before [global]: only it applies.
            (
                "[app]\nmax_tries : 3\n[global]\nmax_tries : 9\nalarm_mail : g@x\n",
                "app",
                3,
                &[],
            ),
            // [global], then an own section that overrides and appends.
            (
                "[global]\nmax_tries : 9\nalarm_mail : g@x\n[app]\nmax_tries : 3\nalarm_mail : a@x\n",
                "app",
                3,
                &["g@x", "a@x"],
            ),
            // Own section after [global] without the key: global's value stays.
            (
                "[global]\nmax_tries : 9\nalarm_mail : g@x\n[app]\n",
                "app",
                9,
                &["g@x"],
            ),
            // No own section: [global].
            (
                "[global]\nmax_tries : 9\n[other]\nmax_tries : 1\n",
                "app",
                9,
                &[],
            ),
            // Neither: defaults.
            ("[other]\nmax_tries : 1\n", "app", 0, &[]),
            // Own section only.
            ("[app]\nmax_tries : 4\n", "app", 4, &[]),
            // The same recipient twice is mailed once.
            (
                "[global]\nalarm_mail : g@x\n[app]\nalarm_mail : g@x b@x\n",
                "app",
                0,
                &["g@x", "b@x"],
            ),
            // Within one section a later key wins.
            ("[global]\nmax_tries : 1\nmax_tries : 2\n", "app", 2, &[]),
        ];
        for (text, service, tries, mail) in rows {
            let c = cfg(text, service);
            assert_eq!(c.max_tries, *tries, "{text}");
            assert_eq!(c.alarm_mail, mail.to_vec(), "{text}");
        }
    }

    #[test]
    fn values() {
        let c = cfg(
            "[global]\nalarm_interval : 5\nmax_tries :\nalarm_gsm : 13800000000 +8613900000000\n",
            "x",
        );
        assert_eq!(
            c.alarm_interval,
            Duration::from_secs(60),
            "1-59 count as 60"
        );
        assert_eq!(c.max_tries, 0);
        assert_eq!(c.alarm_gsm.len(), 2);
        assert!(c.alarms_enabled());
        let c = cfg("[global]\nalarm_interval : 0\n", "x");
        assert!(!c.alarms_enabled());
        let c = cfg(
            "[global]\nalarm_interval : 300\ngive_up : cool_down\ngive_up_cool_down : 30\n",
            "x",
        );
        assert_eq!(c.alarm_interval, Duration::from_secs(300));
        assert_eq!(c.give_up, GiveUp::CoolDown);
        assert_eq!(c.give_up_cool_down, Duration::from_secs(30));
        let c = cfg(
            "[global]\nalarm_mail : a@x\tb@y   c@z\nalarm_smtp : smtp://u:p@127.0.0.1:2525\n",
            "x",
        );
        assert_eq!(c.alarm_mail, vec!["a@x", "b@y", "c@z"]);
        assert_eq!(c.alarm_smtp.as_deref(), Some("smtp://u:p@127.0.0.1:2525"));
        let c = cfg(
            "[global]\nalarm_gsm_command : /bin/sms --to {number} {message}\n",
            "x",
        );
        assert_eq!(
            c.alarm_gsm_command,
            vec!["/bin/sms", "--to", "{number}", "{message}"]
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let rows = [
            ("[global]\n  max_tries : 3\n", 2, "column 0"),
            ("[global]\nmax_tries 3\n", 2, "not `key : value`"),
            ("[ global ]\n", 1, "no spaces"),
            ("[global\n", 1, "no closing ]"),
            ("max_tries : 3\n[global]\n", 1, "before any [section]"),
            ("[global]\nmax tries : 3\n", 2, "is not a key"),
            (
                "# comment\n\n[global]\n\nbad line\n",
                5,
                "not `key : value`",
            ),
        ];
        for (text, line, needle) in rows {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}");
            assert!(e.message.contains(needle), "{text:?}: {}", e.message);
        }
    }

    #[test]
    fn value_errors_name_the_line_and_unknown_keys_warn() {
        let bad =
            |text: &str| Config::from_entries(&select(&parse(text).unwrap(), "app")).unwrap_err();
        let e = bad("[global]\nmax_tries : ten\n");
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "max_tries: \"ten\" is not a whole number")
        );
        assert!(
            bad("[global]\nalarm_mail : nobody\n")
                .message
                .contains("not a mail address")
        );
        assert!(
            bad("[global]\nalarm_smtp : mail.example.com\n")
                .message
                .contains("smtp://")
        );
        assert!(
            bad("[global]\ngive_up : sulk\n")
                .message
                .contains("neither exit nor cool_down")
        );
        assert!(
            bad("[global]\nalarm_gsm : 1 2 3 4 5 6 7 8 9 10 11\n")
                .message
                .contains("at most 10")
        );
        assert!(
            bad("[global]\nalarm_gsm : call-me\n")
                .message
                .contains("not a phone number")
        );
        let (_, warnings) = Config::from_entries(&select(
            &parse("[global]\nfrobnicate : 1\n").unwrap(),
            "app",
        ))
        .unwrap();
        assert_eq!(warnings, vec![err(2, "unknown key \"frobnicate\" ignored")]);
        // Keys of sections that do not apply are not ours to judge.
        let (_, warnings) =
            Config::from_entries(&select(&parse("[other]\nfrobnicate : 1\n").unwrap(), "app"))
                .unwrap();
        assert!(warnings.is_empty());
    }

    #[test]
    fn load_names_the_file_and_treats_missing_as_no_limits() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = load(&tmp.path().join("nope.conf"), "app").unwrap();
        assert_eq!(missing.config, Config::default());
        assert!(missing.warnings[0].contains("not found"));
        let p = tmp.path().join("s.conf");
        std::fs::write(&p, "[global]\nmax_tries : x\n").unwrap();
        let e = load(&p, "app").unwrap_err();
        assert_eq!(
            e.0,
            format!("{}:2: max_tries: \"x\" is not a whole number", p.display())
        );
        std::fs::write(&p, "[global]\nwhat : 1\n").unwrap();
        let ok = load(&p, "app").unwrap();
        assert_eq!(
            ok.warnings,
            vec![format!("{}:2: unknown key \"what\" ignored", p.display())]
        );
    }

    #[test]
    fn every_known_key_is_accepted() {
        let text: String = std::iter::once("[global]\n".to_owned())
            .chain(KEYS.iter().map(|k| {
                let v = match *k {
                    "alarm_mail" | "alarm_from" => "a@b",
                    "alarm_smtp" => "smtp://h",
                    "give_up" => "exit",
                    "alarm_gsm" => "1",
                    "alarm_smtp_ca" | "alarm_sendmail" | "alarm_gsm_command" => "/x",
                    _ => "1",
                };
                format!("{k} : {v}\n")
            }))
            .collect();
        let (_, warnings) = Config::from_entries(&select(&parse(&text).unwrap(), "x")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
