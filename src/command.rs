//! From the operator's command (`-f "STR"` or `-u DIR CMD ARG...`) to the program and
//! argument vector supervise execs.
//!
//! The legacy contract (SPEC §2): a plain `-f` string is split into words the way a
//! POSIX shell splits them (quotes, backslashes) and exec'd directly, so that the pid
//! in `status` is the program itself. A string with shell syntax runs under
//! `/bin/sh -c`. We prepend `exec` to such a string only when it is one simple
//! command (`python app.py > out.log`, `$HOME/bin/app`): there `exec` keeps the pid
//! the program's. For a list (`cd /srv && ./app`, `a; b`) or a compound command,
//! `exec` would cut the list short or be a syntax error, so the shell stays as the
//! service process; stop signals reach the rest through the process group. Leading
//! assignments (`PORT=80 ./app`) keep their place before `exec`, where POSIX shells
//! export them to the program.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The default search path when `PATH` is unset, as glibc's `execvp` uses.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The shell for strings with shell syntax.
pub const SHELL: &str = "/bin/sh";

/// How to run a command string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Exec these words directly, the first looked up in PATH.
    Direct(Vec<String>),
    /// Run `/bin/sh -c SCRIPT`.
    Shell(String),
}

/// Why a command string cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but blanks.
    Empty,
    /// A quote opened at this byte offset is never closed.
    UnclosedQuote(char, usize),
    /// The string ends with a lone backslash.
    TrailingBackslash,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("the command is empty"),
            ParseError::UnclosedQuote(q, at) => {
                write!(
                    f,
                    "the {q} quote at offset {at} of the command is never closed"
                )
            }
            ParseError::TrailingBackslash => f.write_str("the command ends with a lone backslash"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Words that only mean something to a shell in command position: reserved words
/// and the special built-ins. `exec` cannot precede them.
const SHELL_WORDS: &[&str] = &[
    "!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while",
    "until", "for", "in", ".", ":", "break", "cd", "continue", "eval", "exec", "exit", "export",
    "readonly", "return", "set", "shift", "source", "times", "trap", "ulimit", "umask", "unset",
    "wait",
];

/// One word as the scanner saw it.
#[derive(Debug)]
struct Word {
    /// The word after quote removal.
    text: String,
    /// Byte offset where it starts in the original string.
    start: usize,
    /// Unquoted `NAME=` prefix: a shell variable assignment in command position.
    assignment: bool,
    /// Part of a redirection: its target (`out.log` in `>out.log`), or the descriptor
    /// number before the operator (`2` in `2>&1`).
    redirect: bool,
}

/// What the scanner found besides words.
#[derive(Debug, Default)]
struct Scan {
    words: Vec<Word>,
    /// Anything only a shell can do: expansions, redirections, globs, operators.
    shell: bool,
    /// A list or compound command (`;`, `&&`, `||`, `&`, newline, parentheses), where
    /// a leading `exec` would change the meaning.
    compound: bool,
}

/// Decides how to run `-f`'s string.
pub fn plan(cmd: &str) -> Result<Plan, ParseError> {
    let scan = scan(cmd)?;
    let first_command = scan.words.iter().position(|w| !w.assignment && !w.redirect);
    if scan.words.is_empty() {
        return Err(ParseError::Empty);
    }
    let leading_assignments = first_command != Some(0);
    let shell_word_first =
        first_command.is_some_and(|i| SHELL_WORDS.contains(&scan.words[i].text.as_str()));
    if !scan.shell && !leading_assignments && !shell_word_first {
        let words = scan.words.into_iter().map(|w| w.text).collect();
        return Ok(Plan::Direct(words));
    }
    let script = match first_command.map(|i| &scan.words[i]) {
        Some(w) if !scan.compound && !SHELL_WORDS.contains(&w.text.as_str()) => {
            format!("{}exec {}", &cmd[..w.start], &cmd[w.start..])
        }
        _ => cmd.to_owned(),
    };
    Ok(Plan::Shell(script))
}

fn scan(cmd: &str) -> Result<Scan, ParseError> {
    let mut scan = Scan::default();
    let bytes = cmd.as_bytes();
    let mut i = 0;
    // The word being built: its text, start, and whether an unquoted `=` follows a
    // valid name so far.
    let mut cur: Option<Word> = None;
    let mut name_so_far = true;

    // The next word is a redirection's target.
    let mut target_next = false;

    macro_rules! word {
        () => {
            cur.get_or_insert_with(|| {
                name_so_far = true;
                Word {
                    text: String::new(),
                    start: i,
                    assignment: false,
                    redirect: std::mem::take(&mut target_next),
                }
            })
        };
    }

    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' => {
                if let Some(w) = cur.take() {
                    scan.words.push(w);
                }
                i += 1;
            }
            b'\'' => {
                let w = word!();
                name_so_far = false;
                let end = cmd[i + 1..]
                    .find('\'')
                    .ok_or(ParseError::UnclosedQuote('\'', i))?;
                w.text.push_str(&cmd[i + 1..i + 1 + end]);
                i += end + 2;
            }
            b'"' => {
                let open = i;
                word!();
                name_so_far = false;
                i += 1;
                loop {
                    let Some(&d) = bytes.get(i) else {
                        return Err(ParseError::UnclosedQuote('"', open));
                    };
                    match d {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' if matches!(bytes.get(i + 1), Some(b'$' | b'`' | b'"' | b'\\')) => {
                            push_char(cmd, i + 1, word!());
                            i += 2;
                        }
                        b'\\' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
                        b'$' | b'`' => {
                            scan.shell = true;
                            push_char(cmd, i, word!());
                            i += 1;
                        }
                        _ => i += push_char(cmd, i, word!()),
                    }
                }
            }
            b'\\' => match bytes.get(i + 1) {
                None => return Err(ParseError::TrailingBackslash),
                Some(b'\n') => i += 2,
                Some(_) => {
                    let w = word!();
                    name_so_far = false;
                    i += 1 + push_char(cmd, i + 1, w);
                }
            },
            b'\n' | b';' | b'&' | b'|' | b'(' | b')' => {
                scan.shell = true;
                // A single `|` is a pipeline, where a leading `exec` is harmless.
                let pipe = c == b'|' && bytes.get(i + 1) != Some(&b'|');
                scan.compound |= !pipe;
                if let Some(w) = cur.take() {
                    scan.words.push(w);
                }
                i += 1;
            }
            b'<' | b'>' => {
                // A redirection operator: `>`, `>>`, `>&`, `>|`, `<`, `<&`, `<>`. Its
                // `&` or `|` is not a list or pipe operator.
                scan.shell = true;
                if let Some(mut w) = cur.take() {
                    // `2>`: the digits just before the operator name a descriptor.
                    w.redirect |= !w.text.is_empty() && w.text.bytes().all(|b| b.is_ascii_digit());
                    scan.words.push(w);
                }
                i += 1;
                if matches!(bytes.get(i), Some(b'&' | b'|' | b'>' | b'<')) {
                    i += 1;
                }
                target_next = true;
            }
            b'$' | b'`' | b'*' | b'?' | b'[' => {
                scan.shell = true;
                let w = word!();
                name_so_far = false;
                i += push_char(cmd, i, w);
            }
            b'#' | b'~' if cur.is_none() => {
                scan.shell = true;
                let w = word!();
                name_so_far = false;
                i += push_char(cmd, i, w);
            }
            b'=' if name_so_far && cur.as_ref().is_some_and(|w| !w.text.is_empty()) => {
                // Only words before the command word are assignments.
                let in_command_position = scan.words.iter().all(|w| w.assignment || w.redirect);
                let w = word!();
                w.assignment = in_command_position;
                name_so_far = false;
                w.text.push('=');
                i += 1;
            }
            _ => {
                let ok_in_name = c == b'_' || c.is_ascii_alphanumeric();
                let first = cur.as_ref().is_none_or(|w| w.text.is_empty());
                let w = word!();
                if !ok_in_name || (first && c.is_ascii_digit()) {
                    name_so_far = false;
                }
                i += push_char(cmd, i, w);
            }
        }
    }
    if let Some(w) = cur.take() {
        scan.words.push(w);
    }
    Ok(scan)
}

/// Appends the (possibly multi-byte) character at byte `at`; returns its length.
fn push_char(s: &str, at: usize, w: &mut Word) -> usize {
    match s[at..].chars().next() {
        Some(ch) => {
            w.text.push(ch);
            ch.len_utf8()
        }
        None => 1,
    }
}

/// Why a program cannot be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// No directory of PATH holds an executable of that name.
    NotInPath {
        /// The name looked up.
        name: String,
        /// The search path used.
        path: String,
    },
    /// A path with a slash that does not exist.
    Missing(PathBuf),
    /// It exists but is not an executable file.
    NotExecutable(PathBuf),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::NotInPath { name, path } => {
                write!(f, "{name}: command not found in PATH ({path})")
            }
            ResolveError::Missing(p) => write!(f, "{}: no such file", p.display()),
            ResolveError::NotExecutable(p) => {
                write!(f, "{}: not an executable file", p.display())
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// Finds the file `execvp` would run for `name`, searching `path` (PATH's value) when
/// the name has no slash.
pub fn resolve(name: &OsStr, path: Option<&OsStr>) -> Result<PathBuf, ResolveError> {
    if name.as_bytes().contains(&b'/') {
        let p = PathBuf::from(name);
        return match executable(&p) {
            Some(true) => Ok(p),
            Some(false) => Err(ResolveError::NotExecutable(p)),
            None => Err(ResolveError::Missing(p)),
        };
    }
    let search = path.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut found_unexecutable = None;
    for dir in search.as_bytes().split(|&b| b == b':') {
        // An empty PATH entry means the current directory.
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(name);
        match executable(&candidate) {
            Some(true) => return Ok(candidate),
            Some(false) => {
                found_unexecutable.get_or_insert(candidate);
            }
            None => {}
        }
    }
    match found_unexecutable {
        Some(p) => Err(ResolveError::NotExecutable(p)),
        None => Err(ResolveError::NotInPath {
            name: name.to_string_lossy().into_owned(),
            path: search.to_string_lossy().into_owned(),
        }),
    }
}

/// Whether `p` is an executable regular file.
pub fn is_executable(p: &Path) -> bool {
    executable(p) == Some(true)
}

/// `Some(true)` for an executable regular file, `Some(false)` for something else that
/// exists, `None` if nothing is there.
fn executable(p: &Path) -> Option<bool> {
    let meta = std::fs::metadata(p).ok()?;
    if !meta.is_file() {
        return Some(false);
    }
    Some(nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok())
}

/// A command ready to exec: the file, and the argument vector (argv\[0\] included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The file to exec.
    pub path: PathBuf,
    /// The argument vector, argv\[0\] first.
    pub argv: Vec<OsString>,
}

impl Program {
    /// Resolves a plan against a search path.
    pub fn from_plan(plan: Plan, path: Option<&OsStr>) -> Result<Program, ResolveError> {
        match plan {
            Plan::Direct(words) => {
                Program::from_words(words.into_iter().map(OsString::from).collect(), path)
            }
            Plan::Shell(script) => Ok(Program {
                path: PathBuf::from(SHELL),
                argv: vec!["sh".into(), "-c".into(), script.into()],
            }),
        }
    }

    /// Resolves an argument vector (`-u DIR CMD ARG...`); the first word is the program.
    pub fn from_words(argv: Vec<OsString>, path: Option<&OsStr>) -> Result<Program, ResolveError> {
        let first = argv.first().cloned().unwrap_or_default();
        Ok(Program {
            path: resolve(&first, path)?,
            argv,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(words: &[&str]) -> Plan {
        Plan::Direct(words.iter().map(|w| w.to_string()).collect())
    }

    fn shell(s: &str) -> Plan {
        Plan::Shell(s.to_owned())
    }

    #[test]
    fn plain_commands_are_split_like_a_shell_would() {
        let rows = [
            ("python app.py", direct(&["python", "app.py"])),
            ("  sleep\t100  ", direct(&["sleep", "100"])),
            (
                r#"echo 'a b' "c d" e\ f"#,
                direct(&["echo", "a b", "c d", "e f"]),
            ),
            (
                r#"echo "a \"q\" \\ \x""#,
                direct(&["echo", r#"a "q" \ \x"#]),
            ),
            ("echo 'it''s'", direct(&["echo", "its"])),
            (r#"echo ''"#, direct(&["echo", ""])),
            (
                "python -c 'print(1); print(2)'",
                direct(&["python", "-c", "print(1); print(2)"]),
            ),
            ("app --opt=value", direct(&["app", "--opt=value"])),
            ("a\\\nb", direct(&["ab"])),
            ("naïve ünïcode", direct(&["naïve", "ünïcode"])),
            ("app a#b", direct(&["app", "a#b"])),
        ];
        for (cmd, expected) in rows {
            assert_eq!(plan(cmd), Ok(expected), "{cmd:?}");
        }
    }

    #[test]
    fn shell_syntax_goes_through_sh_with_exec_when_it_is_one_command() {
        let rows = [
            (
                "python app.py > out.log",
                shell("exec python app.py > out.log"),
            ),
            ("app >out 2>&1", shell("exec app >out 2>&1")),
            ("app 2>&1 >>log <in", shell("exec app 2>&1 >>log <in")),
            ("app >| f <> g <&0", shell("exec app >| f <> g <&0")),
            (">out.log sleep 100", shell(">out.log exec sleep 100")),
            ("2>/dev/null app x", shell("2>/dev/null exec app x")),
            ("< in.txt A=1 app", shell("< in.txt A=1 exec app")),
            ("$HOME/bin/app", shell("exec $HOME/bin/app")),
            ("app \"$PORT\"", shell("exec app \"$PORT\"")),
            ("ls *.txt", shell("exec ls *.txt")),
            ("cat ~/x", shell("exec cat ~/x")),
            ("a | b", shell("exec a | b")),
            ("PORT=80 ./app", shell("PORT=80 exec ./app")),
            ("A=1 B='x y' app", shell("A=1 B='x y' exec app")),
            ("app `date`", shell("exec app `date`")),
        ];
        for (cmd, expected) in rows {
            assert_eq!(plan(cmd), Ok(expected), "{cmd:?}");
        }
    }

    #[test]
    fn lists_and_shell_words_run_without_exec() {
        for cmd in [
            "cd /srv && ./app",
            "a; b",
            "a || b",
            "a &",
            "a\nb",
            "(a)",
            "exec app",
            "if true; then app; fi",
            "ulimit -n 4096 > /dev/null",
            "FOO=bar",
        ] {
            assert_eq!(plan(cmd), Ok(shell(cmd)), "{cmd:?}");
        }
    }

    #[test]
    fn quoted_metacharacters_are_just_text() {
        assert_eq!(plan("echo 'a|b;c>d'"), Ok(direct(&["echo", "a|b;c>d"])));
        assert_eq!(plan(r"echo a\;b \$x"), Ok(direct(&["echo", "a;b", "$x"])));
        assert_eq!(plan("echo '$HOME'"), Ok(direct(&["echo", "$HOME"])));
        assert_eq!(plan("'A=1' app"), Ok(direct(&["A=1", "app"])));
        assert_eq!(plan("app X=1"), Ok(direct(&["app", "X=1"])));
        assert_eq!(plan("1A=2 app"), Ok(direct(&["1A=2", "app"])));
    }

    #[test]
    fn bad_strings_say_what_is_wrong() {
        assert_eq!(plan(""), Err(ParseError::Empty));
        assert_eq!(plan(" \t "), Err(ParseError::Empty));
        assert_eq!(plan("echo 'abc"), Err(ParseError::UnclosedQuote('\'', 5)));
        assert_eq!(plan("echo \"abc"), Err(ParseError::UnclosedQuote('"', 5)));
        assert_eq!(plan("echo \\"), Err(ParseError::TrailingBackslash));
        assert_eq!(
            plan("echo 'abc").unwrap_err().to_string(),
            "the ' quote at offset 5 of the command is never closed"
        );
    }

    #[test]
    fn resolve_searches_path_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("tool"), "").unwrap(); // not executable
        std::fs::write(b.join("tool"), "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = OsString::from(format!("{}:{}", a.display(), b.display()));
        assert_eq!(resolve(OsStr::new("tool"), Some(&path)), Ok(b.join("tool")));
        let only_a = OsString::from(a.display().to_string());
        assert_eq!(
            resolve(OsStr::new("tool"), Some(&only_a)),
            Err(ResolveError::NotExecutable(a.join("tool")))
        );
        let err = resolve(OsStr::new("nope"), Some(&path)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("nope: command not found in PATH (")
        );
        assert_eq!(
            resolve(OsStr::new("/no/such/file"), None),
            Err(ResolveError::Missing("/no/such/file".into()))
        );
        assert_eq!(
            resolve(dir.path().as_os_str(), None),
            Err(ResolveError::NotExecutable(dir.path().to_path_buf()))
        );
    }

    #[test]
    fn shell_plans_run_bin_sh() {
        let p = Program::from_plan(shell("exec a > b"), None).unwrap();
        assert_eq!(p.path, PathBuf::from("/bin/sh"));
        assert_eq!(
            p.argv,
            vec![OsString::from("sh"), "-c".into(), "exec a > b".into()]
        );
    }
}
