//! `scripts/install`, held to what it installs (issue 19): one staged install (`--from`
//! the binaries cargo built for the tests, into a temporary `DESTDIR`), then each
//! installed file used as a person would: manual pages rendered and linted, every
//! option of each program's `-h` found in its page, completions completing in their
//! shells, the programs run by name from a clean `PATH`, and each program finding its
//! helper beside it (`supervise` → `supervise-alarm`, `supervise-host` → `supervise`).
//! zsh, fish, mandoc and man are used when installed (scripts/test installs them),
//! and skipped with a line on stderr otherwise.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Not /usr/local, so that the units' rewritten paths are seen to be rewritten.
const PREFIX: &str = "/opt/supervise";

/// The programs, with the manual page each one's `-h` is held to.
const PROGRAMS: [(&str, &str); 4] = [
    ("supervise", "man8/supervise.8"),
    ("svc", "man8/svc.8"),
    ("supervise-host", "man8/supervise-host.8"),
    ("supervise-alarm", "man8/supervise-alarm.8"),
];

const PAGES: [&str; 5] = [
    "man8/supervise.8",
    "man8/svc.8",
    "man8/supervise-host.8",
    "man8/supervise-alarm.8",
    "man5/supervise.conf.5",
];

/// Bounds every command here: only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(20);

struct Installed {
    /// `$DESTDIR$PREFIX`.
    top: PathBuf,
    /// What the script printed.
    listing: String,
}

impl Installed {
    fn bin(&self, name: &str) -> PathBuf {
        self.top.join("bin").join(name)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.top.join(rel)
    }

    /// `PATH` with only the installed programs and the system's.
    fn clean_path(&self) -> String {
        format!("{}:/usr/bin:/bin", self.top.join("bin").display())
    }
}

/// The staged install, made once for all the tests of this file.
fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let destdir = scratch("destdir");
        // The release build when scripts/test names it (see tests/common's bin()).
        let built = Path::new(env!("CARGO_BIN_EXE_supervise")).parent().unwrap();
        let named = std::env::var_os("SUPERVISE_TEST_BINS").map(PathBuf::from);
        let bins = named.as_deref().unwrap_or(built);
        let out = run(Command::new("bash")
            .arg(Path::new(ROOT).join("scripts/install"))
            .arg("--from")
            .arg(bins)
            .arg("--destdir")
            .arg(&destdir)
            .args(["--prefix", PREFIX])
            .env_remove("DESTDIR")
            .env_remove("PREFIX"));
        assert!(out.status.success(), "scripts/install: {}", said(&out));
        Installed {
            top: destdir.join(PREFIX.trim_start_matches('/')),
            listing: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    })
}

/// A fresh directory under cargo's scratch space for integration tests.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("install-test")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// Runs a command to its end (stdin empty), within [`PATIENCE`].
fn run(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    finish(child, &format!("{cmd:?}"))
}

fn finish(mut child: Child, what: &str) -> Output {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn said(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn every_file_goes_where_it_belongs() {
    let inst = installed();
    let mut expected = vec![
        "share/man/man5/supervise.conf.5".to_owned(),
        "share/doc/supervise/README.md".to_owned(),
        "share/doc/supervise/INSTALL.md".to_owned(),
        "share/doc/supervise/examples/supervise.conf".to_owned(),
        "share/doc/supervise/examples/supervisord.conf".to_owned(),
        "lib/systemd/system/supervise-host.service".to_owned(),
        "lib/systemd/system/supervise@.service".to_owned(),
    ];
    for (program, page) in PROGRAMS {
        expected.push(format!("bin/{program}"));
        expected.push(format!("share/man/{page}"));
    }
    for cmd in ["supervise", "svc", "supervise-host"] {
        expected.push(format!("share/bash-completion/completions/{cmd}"));
        expected.push(format!("share/zsh/site-functions/_{cmd}"));
        expected.push(format!("share/fish/vendor_completions.d/{cmd}.fish"));
    }
    for rel in &expected {
        let p = inst.path(rel);
        let meta = fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let mode = meta.permissions().mode() & 0o777;
        let want = if rel.starts_with("bin/") {
            0o755
        } else {
            0o644
        };
        assert_eq!(mode, want, "mode of {rel}");
        assert!(
            inst.listing.contains(&p.display().to_string()),
            "scripts/install names {rel} in what it printed:\n{}",
            inst.listing
        );
    }
    // The units name the programs where this prefix puts them.
    let host = fs::read_to_string(inst.path("lib/systemd/system/supervise-host.service")).unwrap();
    assert!(
        host.contains(&format!("\nExecStart={PREFIX}/bin/supervise-host -n ")),
        "{host}"
    );
    assert!(!host.contains("/usr/local/bin"), "{host}");
    let one = fs::read_to_string(inst.path("lib/systemd/system/supervise@.service")).unwrap();
    assert!(
        one.contains(&format!("\nExecStart={PREFIX}/bin/supervise -n ")),
        "{one}"
    );
}

#[test]
fn the_install_script_refuses_what_it_cannot_do() {
    let script = Path::new(ROOT).join("scripts/install");
    let out = run(Command::new("bash").arg(&script).arg("--bogus"));
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    let empty = scratch("no-binaries");
    let out = run(Command::new("bash")
        .arg(&script)
        .arg("--from")
        .arg(&empty)
        .arg("--destdir")
        .arg(empty.join("dest")));
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("supervise is missing"),
        "{}",
        said(&out)
    );
    assert!(!empty.join("dest").exists(), "nothing installed");
    let out = run(Command::new("bash").arg(&script).arg("-h"));
    assert!(out.status.success() && text(&out).contains("--from DIR"));
}

/// A page as text: `mandoc -T ascii` (no hyphenation), else `man -l`; overstrikes
/// removed. `None` when neither is installed.
fn rendered(page: &Path) -> Option<String> {
    let out = if which("mandoc").is_some() {
        run(Command::new("mandoc").args(["-T", "ascii"]).arg(page))
    } else if which("man").is_some() {
        run(Command::new("man")
            .arg("-l")
            .arg(page)
            .env("LC_ALL", "C")
            .env("MANWIDTH", "250")
            .env_remove("MAN_KEEP_FORMATTING"))
    } else {
        return None;
    };
    assert!(out.status.success(), "{}: {}", page.display(), said(&out));
    let mut plain = String::new();
    for c in String::from_utf8_lossy(&out.stdout).chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    Some(plain)
}

#[test]
fn manual_pages_render_without_a_warning() {
    let inst = installed();
    let mandir = inst.path("share/man");
    let (mandoc, man) = (which("mandoc").is_some(), which("man").is_some());
    if !mandoc && !man {
        eprintln!("neither mandoc nor man is installed: manual pages not checked");
        return;
    }
    for rel in PAGES {
        let page = mandir.join(rel);
        if mandoc {
            let out = run(Command::new("mandoc")
                .args(["-T", "lint", "-W", "warning"])
                .arg(&page));
            assert!(
                out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
                "mandoc -T lint {rel}: {}",
                said(&out)
            );
        }
        if man {
            let out = run(Command::new("man")
                .arg("-l")
                .arg(&page)
                .env("LC_ALL", "C")
                .env("MANWIDTH", "80"));
            assert!(out.status.success(), "man -l {rel}: {}", said(&out));
            assert!(out.stderr.is_empty(), "man -l {rel}: {}", said(&out));
            let t = text(&out);
            assert!(t.contains("NAME") && t.contains("SEE ALSO"), "{rel}: {t}");
        }
    }
    if man {
        // Found by name in the installed tree, as `man svc` would.
        for (name, rel) in [
            ("svc", "man8/svc.8"),
            ("supervise.conf", "man5/supervise.conf.5"),
        ] {
            let out = run(Command::new("man")
                .arg("-M")
                .arg(&mandir)
                .args(["-w", name]));
            assert_eq!(
                text(&out).trim(),
                mandir.join(rel).display().to_string(),
                "man -w {name}: {}",
                said(&out)
            );
        }
    }
}

/// The options a usage text names: every word that starts with `-` and a letter or
/// digit (`-p`, `--watch`, `-LETTERS`, `-wu`), in the option lines and the examples.
fn options_in(usage: &str) -> BTreeSet<String> {
    usage
        .split(|c: char| c.is_whitespace() || "[](){}|,;:\"'=".contains(c))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| {
            let body = w.trim_start_matches('-');
            w.starts_with('-')
                && w.len() - body.len() <= 2
                && body
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                && body.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
        .collect()
}

/// Whether `word` stands alone in `text` (not inside `-wu` or `--nodaemon`).
fn has_word(text: &str, word: &str) -> bool {
    let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-'));
    text.match_indices(word).any(|(i, _)| {
        boundary(text[..i].chars().next_back()) && boundary(text[i + word.len()..].chars().next())
    })
}

#[test]
fn every_option_of_each_help_is_in_its_manual_page() {
    let inst = installed();
    for (program, rel) in PROGRAMS {
        let Some(page) = rendered(&inst.path("share/man").join(rel)) else {
            eprintln!("neither mandoc nor man is installed: options not checked");
            return;
        };
        let out = run(Command::new(inst.bin(program)).arg("-h"));
        if !out.status.success() {
            // supervise-alarm reads a job on stdin and has no usage text.
            eprintln!("{program} -h: {}", said(&out).lines().next().unwrap_or(""));
            continue;
        }
        let usage = text(&out);
        let options = options_in(&usage);
        // supervise-alarm's help is a line of usage and what it is for: no options.
        assert!(
            options.len() >= 5 || program == "supervise-alarm",
            "{program} -h names options: {options:?}"
        );
        let missing: Vec<&String> = options.iter().filter(|o| !has_word(&page, o)).collect();
        assert!(
            missing.is_empty(),
            "{rel} lacks {missing:?}, which {program} -h names:\n{usage}"
        );
    }
    assert_eq!(
        options_in("  -T, --timeout SECS [-w up|down] svc -dx d -BYTES]").len(),
        5
    );
    assert!(has_word("a -w b", "-w") && !has_word("-wu --nodaemon", "-w"));
}

#[test]
fn every_key_of_the_shipped_config_is_in_supervise_conf_5() {
    let inst = installed();
    let Some(page) = rendered(&inst.path("share/man/man5/supervise.conf.5")) else {
        eprintln!("neither mandoc nor man is installed: keys not checked");
        return;
    };
    let conf = fs::read_to_string(Path::new(ROOT).join("conf/supervise.conf")).unwrap();
    let mut section = String::new();
    let mut keys = BTreeSet::new();
    for line in conf.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        // `key : value`, and the keys shown commented out (`# env : LANG=C.UTF-8`).
        let l = line.strip_prefix("# ").unwrap_or(line);
        if let Some((key, _)) = l.split_once(" :") {
            if section == "global"
                && !key.is_empty()
                && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            {
                keys.insert(key.to_owned());
            }
        }
    }
    assert!(keys.len() > 40, "{keys:?}");
    let missing: Vec<&String> = keys.iter().filter(|k| !has_word(&page, k)).collect();
    assert!(missing.is_empty(), "supervise.conf(5) lacks {missing:?}");
}

/// A host config with a program and a group of two, never started: `svc status`
/// names them (STOPPED) all the same.
fn host_config(dir: &Path) -> PathBuf {
    let conf = dir.join("supervisord.conf");
    fs::write(
        &conf,
        format!(
            "[supervisord]\nstatus_root={}\n\n[program:web]\ncommand=sleep 1000\n\n\
             [program:worker]\ncommand=sleep 1000\nnumprocs=2\n\
             process_name=%(program_name)s_%(process_num)02d\n\n[group:grp]\nprograms=worker\n",
            dir.join("st").display()
        ),
    )
    .unwrap();
    conf
}

const BASH_HARNESS: &str = r#"
# complete LINE FUNCTION: sets what bash sets for a completion, prints COMPREPLY.
complete_line() {
    COMP_LINE=$1
    COMP_POINT=${#1}
    read -ra COMP_WORDS <<<"$1"
    [[ $1 == *' ' ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    "$2"
    printf '%s\n' "${COMPREPLY[@]}"
}
"#;

#[test]
fn bash_completion_completes() {
    let inst = installed();
    let dir = scratch("bash");
    let conf = host_config(&dir);
    let completions = inst.path("share/bash-completion/completions");
    let cases: [(&str, &str, &str, &[&str]); 7] = [
        ("svc", "_svc", "svc -d", &["-dx", "-du", "-dw"]),
        (
            "svc",
            "_svc",
            "svc ",
            &["status", "wait", "restart", "shutdown"],
        ),
        (
            "svc",
            "_svc",
            "svc -c CONF restart ",
            &["web", "grp:*", "grp:worker_00", "all"],
        ),
        (
            "svc",
            "_svc",
            "svc -c CONF tail web ",
            &["stdout", "stderr"],
        ),
        (
            "svc",
            "_svc",
            "svc -dx -w ",
            &["up", "down", "restart", "ready"],
        ),
        ("supervise", "_supervise", "supervise --s", &["--subreaper"]),
        (
            "supervise-host",
            "_supervise_host",
            "supervise-host --ch",
            &["--check"],
        ),
    ];
    for (file, function, line, want) in cases {
        let line = line.replace("CONF", &conf.display().to_string());
        let script = format!(
            "{BASH_HARNESS}\nsource {}\ncomplete -p {file} >/dev/null || exit 3\n\
             complete_line '{line}' {function}",
            completions.join(file).display()
        );
        let out = run(Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &script])
            .env("PATH", inst.clean_path())
            .current_dir(&dir));
        assert!(out.status.success(), "{line}: {}", said(&out));
        assert!(out.stderr.is_empty(), "{line}: silent: {}", said(&out));
        let got: BTreeSet<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        for w in want {
            assert!(got.contains(w), "{line:?} offers {w}: {got:?}");
        }
    }
    // After the colon, bash replaces only what follows it.
    let line = format!("svc -c {} stop grp:w", conf.display());
    let script = format!(
        "{BASH_HARNESS}\nsource {}\ncomplete_line '{line}' _svc",
        completions.join("svc").display()
    );
    let out = run(Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .env("PATH", inst.clean_path()));
    let got: BTreeSet<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(
        got,
        BTreeSet::from(["worker_00", "worker_01"]),
        "{}",
        said(&out)
    );
    // A config that cannot be read: no names, and not a word on the terminal.
    let script = format!(
        "{BASH_HARNESS}\nsource {}\ncomplete_line 'svc -c /nonexistent.conf start ' _svc",
        completions.join("svc").display()
    );
    let out = run(Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .env("PATH", inst.clean_path()));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        said(&out)
    );
    assert_eq!(text(&out).trim(), "", "{}", said(&out));
}

/// Drives an interactive zsh through zsh/zpty: puts LINE in the line editor's
/// buffer when it starts (zle-line-init, so no typed key races the editor's start),
/// completes it, and prints every match the completion system was given. The
/// markers are split in the typed text so that the terminal's echo of it never
/// matches.
const ZSH_CAPTURE: &str = r#"
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PROMPT=''; RPROMPT=''; unsetopt beep; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd() { local -a __h; builtin compadd -A __h "$@"; (( $#__h )) && print -rl -- "<<""match>>"${^__h}; builtin compadd "$@" }'
zpty -w z 'zle-line-init() { [[ -n $__line ]] || return 0; BUFFER=$__line; CURSOR=$#BUFFER; __line=; zle complete-word; print -r -- "<<""done>>"; exit }; zle -N zle-line-init'
zpty -w z "zstyle ':completion:*' menu no; __line=${(q)2}"
local line
while zpty -r z line; do
  [[ $line == *'<<done>>'* ]] && break
  [[ $line == *'<<match>>'* ]] && print -r -- ${${line##*<<match>>}%%[[:space:]]#}
done
zpty -d z
"#;

#[test]
fn zsh_completion_completes() {
    if which("zsh").is_none() {
        eprintln!("zsh is not installed: zsh completion not checked");
        return;
    }
    let inst = installed();
    let dir = scratch("zsh");
    let conf = host_config(&dir);
    let functions = inst.path("share/zsh/site-functions");
    for name in ["_supervise", "_svc", "_supervise-host"] {
        let out = run(Command::new("zsh").arg("-n").arg(functions.join(name)));
        assert!(out.status.success(), "zsh -n {name}: {}", said(&out));
    }
    let capture = dir.join("capture.zsh");
    fs::write(&capture, ZSH_CAPTURE).unwrap();
    let cases: [(String, &[&str]); 4] = [
        (
            format!("svc -c {} restart ", conf.display()),
            &["web", "grp:worker_00", "all"],
        ),
        (
            format!("svc -c {} stop grp:w", conf.display()),
            &["grp:worker_00", "grp:worker_01"],
        ),
        ("svc -d".to_owned(), &["-dx", "-du"]),
        ("supervise --sub".to_owned(), &["--subreaper"]),
    ];
    // One interactive zsh each, side by side.
    let children: Vec<(String, &[&str], Child)> = cases
        .into_iter()
        .map(|(line, want)| {
            let child = Command::new("zsh")
                .arg("-f")
                .arg(&capture)
                .arg(&functions)
                .arg(&line)
                .env("PATH", inst.clean_path())
                .env("HOME", &dir)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (line, want, child)
        })
        .collect();
    for (line, want, child) in children {
        let out = finish(child, &format!("zsh completing {line:?}"));
        if out.status.code() == Some(3) {
            eprintln!("zsh has no zsh/zpty module: zsh completion not driven");
            return;
        }
        let got: BTreeSet<String> = text(&out)
            .lines()
            .map(|l| l.trim_end_matches('\r').to_owned())
            .collect();
        for w in want {
            assert!(
                got.contains(*w),
                "zsh: {line:?} offers {w}: {got:?}\n{}",
                said(&out)
            );
        }
    }
}

#[test]
fn fish_completion_completes() {
    if which("fish").is_none() {
        eprintln!("fish is not installed: fish completion not checked");
        return;
    }
    let inst = installed();
    let dir = scratch("fish");
    let conf = host_config(&dir);
    let completions = inst.path("share/fish/vendor_completions.d");
    let cases: [(String, &[&str]); 5] = [
        (
            format!("svc -c {} restart ", conf.display()),
            &["web", "grp:*", "grp:worker_01", "all"],
        ),
        ("svc -d".to_owned(), &["-dx", "-du"]),
        ("svc ".to_owned(), &["status", "wait", "update"]),
        ("supervise --sub".to_owned(), &["--subreaper"]),
        ("supervise-host --ch".to_owned(), &["--check"]),
    ];
    let mut script = String::new();
    for f in ["supervise.fish", "svc.fish", "supervise-host.fish"] {
        script += &format!("source {}\n", completions.join(f).display());
    }
    for (line, _) in &cases {
        script += &format!("echo '<<case>>'; complete -C '{line}'\n");
    }
    let out = run(Command::new("fish")
        .args(["--no-config", "-c", &script])
        .env("PATH", inst.clean_path())
        .env("HOME", &dir)
        .current_dir(&dir));
    assert!(out.status.success(), "{}", said(&out));
    assert!(out.stderr.is_empty(), "silent: {}", said(&out));
    let stdout = text(&out);
    let answers: Vec<&str> = stdout.split("<<case>>\n").skip(1).collect();
    assert_eq!(answers.len(), cases.len(), "{stdout}");
    for ((line, want), answer) in cases.iter().zip(answers) {
        let got: BTreeSet<&str> = answer
            .lines()
            .map(|l| l.split('\t').next().unwrap_or(""))
            .collect();
        for w in *want {
            assert!(got.contains(w), "fish: {line:?} offers {w}: {got:?}");
        }
    }
}

#[test]
fn the_installed_programs_run_by_name_from_a_clean_path() {
    let inst = installed();
    let version = env!("CARGO_PKG_VERSION");
    for (program, _) in PROGRAMS {
        let out = run(Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .env("PATH", inst.clean_path()));
        assert_eq!(text(&out).trim(), inst.bin(program).display().to_string());
    }
    for (program, args, want) in [
        ("supervise", &["-v"][..], format!("supervise {version}\n")),
        ("svc", &["-v"][..], format!("svc {version}\n")),
        (
            "supervise-host",
            &["-v"][..],
            format!("supervise-host {version}\n"),
        ),
    ] {
        let out = run(Command::new(program)
            .args(args)
            .env("PATH", inst.clean_path()));
        assert!(out.status.success(), "{program}: {}", said(&out));
        assert_eq!(text(&out), want);
    }
    for program in ["supervise", "svc", "supervise-host"] {
        let out = run(Command::new(program)
            .arg("-h")
            .env("PATH", inst.clean_path()));
        assert!(out.status.success(), "{program} -h: {}", said(&out));
        assert!(
            text(&out).starts_with("usage: "),
            "{program} -h: {}",
            said(&out)
        );
    }
    // The installed container config is a valid one.
    let example = inst.path("share/doc/supervise/examples/supervisord.conf");
    let out = run(Command::new("supervise-host")
        .arg("--check")
        .arg("-c")
        .arg(&example)
        .env("PATH", inst.clean_path()));
    assert!(out.status.success(), "{}", said(&out));
}

/// Stops a supervise (or kills a host) left running by a failed assertion.
struct Cleanup(Box<dyn FnMut()>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        (self.0)();
    }
}

#[test]
fn supervise_finds_the_alarm_sender_beside_it() {
    let inst = installed();
    let dir = scratch("alarm");
    let sms = dir.join("sms.sh");
    let sent = dir.join("sms.out");
    fs::write(
        &sms,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", sent.display()),
    )
    .unwrap();
    fs::set_permissions(&sms, fs::Permissions::from_mode(0o755)).unwrap();
    let conf = dir.join("supervise.conf");
    fs::write(
        &conf,
        format!(
            "[global]\nalarm_interval : 60\nalarm_gsm : 42\n\
             alarm_gsm_command : {} {{number}} {{message}}\n",
            sms.display()
        ),
    )
    .unwrap();
    let status = dir.join("status/crashy");
    // By absolute path, with PATH lacking the installed directory: the sender can be
    // found only beside supervise.
    let out = run(Command::new(inst.bin("supervise"))
        .arg("-p")
        .arg(&status)
        .arg("-F")
        .arg(&conf)
        .args(["-f", "sh -c 'exit 3'"])
        .env("PATH", "/usr/bin:/bin")
        .current_dir(&dir));
    assert!(out.status.success(), "{}", said(&out));
    let svc = inst.bin("svc");
    let stop_dir = status.clone();
    let stop_svc = svc.clone();
    let _stop = Cleanup(Box::new(move || {
        let _ = Command::new(&stop_svc)
            .arg("-dx")
            .arg(&stop_dir)
            .stderr(Stdio::null())
            .status();
    }));
    wait_until("the SMS command to run", || {
        fs::read_to_string(&sent).is_ok_and(|s| s.starts_with("42 "))
    });
    let log = status.join("supervise.log");
    wait_until("supervise-alarm to log its SMS", || {
        fs::read_to_string(&log).is_ok_and(|s| s.contains("gsm sent: "))
    });
    let warnings = fs::read_to_string(status.join("supervise.log.wf")).unwrap_or_default();
    assert!(!warnings.contains("neither beside supervise"), "{warnings}");
    let out = run(Command::new(&svc).arg("-dx").arg(&status));
    assert!(out.status.success(), "{}", said(&out));
    wait_until("supervise to exit", || {
        !run(Command::new(&svc).arg("ok").arg(&status))
            .status
            .success()
    });
}

#[test]
fn supervise_host_finds_supervise_beside_it() {
    let inst = installed();
    let dir = scratch("host");
    let conf = dir.join("supervisord.conf");
    fs::write(
        &conf,
        format!(
            "[supervisord]\nstatus_root={}\nlogfile={}\n\n[program:web]\ncommand=sleep 1000\n",
            dir.join("st").display(),
            dir.join("host.log").display()
        ),
    )
    .unwrap();
    // PATH without the installed directory (Debian's daemontools has a
    // /usr/bin/supervise of its own, which would not do).
    let mut host = Command::new(inst.bin("supervise-host"))
        .args(["-n", "-s", "-c"])
        .arg(&conf)
        .env("PATH", "/usr/bin:/bin")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = host.id() as i32;
    let _kill = Cleanup(Box::new(move || {
        // SAFETY: signalling the host this test started (a no-op once it is gone
        // and reaped below).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }));
    let svc = inst.bin("svc");
    let status = || text(&run(Command::new(&svc).arg("-c").arg(&conf).arg("status")));
    wait_until("web to run under the installed supervise", || {
        status().contains("pid ")
    });
    let sup = fs::read_to_string(dir.join("st/web/lock")).unwrap();
    let exe = fs::read_link(format!("/proc/{}/exe", sup.trim())).unwrap();
    assert_eq!(exe, fs::canonicalize(inst.bin("supervise")).unwrap());
    // SAFETY: as above.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + PATIENCE;
    let code = loop {
        if let Some(s) = host.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "supervise-host did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    let _ = host.stderr.take().unwrap().read_to_string(&mut err);
    assert!(code.success(), "supervise-host: {code}: {err}");
}
