//! The supervisord config reader against supervisord itself, on real-world configs.
//!
//! Each `tests/data/supervisord/*.conf` is read twice: by supervisord 4.2's own parser
//! (`dump.py`, which runs `supervisor.options.ServerOptions` from Debian's
//! `supervisor` package) and by `supervise::host::config`. Every process must come out
//! the same, field by field and in the same order, as must `[supervisord]`, the HTTP
//! servers and supervisord's warnings. Each `errors/*.conf` must be refused by both,
//! ours at the line its first comment names.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use supervise::host::config::{self, Context, HostConfig, Listen, RealSystem};
use supervise::ini::LineError;

/// Environment variables the configs use as `%(ENV_X)s`, set for both readers.
const VARS: &[(&str, &str)] = &[
    ("CELERY_CONCURRENCY", "4"),
    ("APP_HOME", "/srv/app"),
    ("APP_ENV", "production"),
    ("PHP_VERSION", "8.2"),
    ("SUPERVISOR_PASSWORD", "s3cret"),
];

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/supervisord")
}

/// A Python that can import supervisord's modules: `python3` on the `PATH`, else the
/// system's (Debian's package installs into `/usr/lib/python3`, which a `python3` from
/// pyenv or a virtualenv does not see).
fn python() -> &'static str {
    static FOUND: OnceLock<&'static str> = OnceLock::new();
    FOUND.get_or_init(|| {
        ["python3", "/usr/bin/python3"]
            .into_iter()
            .find(|py| {
                Command::new(py)
                    .args(["-c", "import supervisor.options"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .unwrap_or_else(|| {
                panic!(
                    "these tests compare with supervisord's own parser: install Debian's \
                     `supervisor` package (apt-get install supervisor) so that \
                     `python3 -c 'import supervisor.options'` works"
                )
            })
    })
}

/// What supervisord reads: `{"processes", "supervisord", "servers", "warnings"}`, or
/// its error message.
fn supervisord_reads(path: &Path) -> Result<Value, String> {
    let out = Command::new(python())
        .arg(data().join("dump.py"))
        .arg(path)
        .arg("--all")
        .envs(VARS.iter().copied())
        .output()
        .expect("run dump.py");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(serde_json::from_slice(&out.stdout).expect("dump.py prints JSON")),
        Some(2) => Err(stderr),
        _ => panic!("dump.py failed on {}: {stderr}", path.display()),
    }
}

fn we_read(path: &Path) -> Result<HostConfig, LineError> {
    let mut ctx = Context::from_process();
    ctx.environ
        .extend(VARS.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    config::load(path, &ctx, &RealSystem)
}

/// Our processes as `--check --json` prints them, listener events sorted as the dump
/// sorts them.
fn our_processes(cfg: &HostConfig) -> Vec<Value> {
    let parsed: Value = serde_json::from_str(&config::to_json(&cfg.processes)).expect("JSON");
    let mut list = parsed.as_array().cloned().unwrap_or_default();
    for p in &mut list {
        if let Some(events) = p.get_mut("events").and_then(Value::as_array_mut) {
            events.sort_by_key(|e| e.as_str().unwrap_or_default().to_string());
        }
    }
    list
}

fn our_supervisord(cfg: &HostConfig) -> Value {
    let s = &cfg.supervisord;
    let env: serde_json::Map<String, Value> = s
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let level = format!("{:?}", s.loglevel).to_lowercase();
    json!({
        "logfile": s.logfile, "logfile_maxbytes": s.logfile_maxbytes,
        "logfile_backups": s.logfile_backups, "pidfile": s.pidfile, "nodaemon": s.nodaemon,
        "silent": s.silent, "minfds": s.minfds, "minprocs": s.minprocs, "umask": s.umask,
        "user": s.user, "directory": s.directory, "identifier": s.identifier,
        "childlogdir": s.childlogdir, "nocleanup": s.nocleanup, "strip_ansi": s.strip_ansi,
        "environment": env, "loglevel": level,
    })
}

fn our_servers(cfg: &HostConfig) -> Vec<Value> {
    let server = |s: &config::HttpServer| match &s.listen {
        Listen::Inet { host, port } => json!({
            "host": host, "port": port, "username": s.username, "password": s.password,
        }),
        Listen::Unix { file, chmod, chown } => json!({
            "file": file, "chmod": chmod, "username": s.username, "password": s.password,
            "chown": chown.map_or(json!([-1, -1]), |(u, g)| json!([u, g.map_or(-1, i64::from)])),
        }),
    };
    cfg.http_servers.iter().map(server).collect()
}

/// Every field of `theirs` that `ours` does not match, as `what.field: theirs != ours`.
fn differences(what: &str, theirs: &Value, ours: &Value) -> Vec<String> {
    let Some(fields) = theirs.as_object() else {
        return vec![format!("{what}: not an object")];
    };
    fields
        .iter()
        .filter(|(k, v)| ours.get(k.as_str()) != Some(v))
        .map(|(k, v)| {
            format!(
                "{what}.{k}: supervisord {v} != ours {}",
                ours.get(k.as_str()).unwrap_or(&Value::Null)
            )
        })
        .collect()
}

/// Everything that differs between the two readings of `path`.
fn compare(path: &Path) -> Vec<String> {
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let theirs = match supervisord_reads(path) {
        Ok(v) => v,
        Err(e) => return vec![format!("{name}: supervisord refuses it: {e}")],
    };
    let cfg = match we_read(path) {
        Ok(c) => c,
        Err(e) => return vec![format!("{name}: we refuse it: {e}")],
    };
    let mut diffs = Vec::new();
    let (their_procs, our_procs) = (
        theirs["processes"].as_array().cloned().unwrap_or_default(),
        our_processes(&cfg),
    );
    let names = |l: &[Value]| {
        l.iter()
            .map(|p| p["name"].to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if their_procs.len() != our_procs.len() {
        diffs.push(format!(
            "{name}: processes: supervisord [{}] != ours [{}]",
            names(&their_procs),
            names(&our_procs)
        ));
    }
    for (t, o) in their_procs.iter().zip(&our_procs) {
        diffs.extend(differences(&format!("{name}[{}]", t["name"]), t, o));
    }
    diffs.extend(differences(
        &format!("{name} [supervisord]"),
        &theirs["supervisord"],
        &our_supervisord(&cfg),
    ));
    let their_servers = theirs["servers"].as_array().cloned().unwrap_or_default();
    let our_servers = our_servers(&cfg);
    if their_servers.len() != our_servers.len() {
        diffs.push(format!(
            "{name}: {} servers != ours {}",
            their_servers.len(),
            our_servers.len()
        ));
    }
    for (t, o) in their_servers.iter().zip(&our_servers) {
        diffs.extend(differences(&format!("{name} server"), t, o));
    }
    diffs.extend(missing_warnings(&name, &theirs["warnings"], &cfg));
    diffs
}

/// supervisord's warnings that we did not give (ours may say more).
fn missing_warnings(name: &str, theirs: &Value, cfg: &HostConfig) -> Vec<String> {
    let ours: Vec<&str> = cfg.warnings.iter().map(|w| w.message.as_str()).collect();
    let theirs = theirs.as_array().cloned().unwrap_or_default();
    theirs
        .iter()
        .filter_map(Value::as_str)
        .filter(|w| !ours.contains(w))
        .map(|w| format!("{name}: supervisord warns {w:?}; we do not (ours: {ours:?})"))
        .collect()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("test data")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    files
}

#[test]
fn configs_read_as_supervisord_reads_them() {
    let configs = files_in(&data());
    assert!(configs.len() >= 15, "{} configs", configs.len());
    let diffs: Vec<String> = configs.iter().flat_map(|c| compare(c)).collect();
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// `; expect line N: TEXT` or `; expect line N of FILE: TEXT`, the first line of an
/// error config.
fn expectation(path: &Path) -> (usize, Option<PathBuf>, String) {
    let text = std::fs::read_to_string(path).expect("read");
    let first = text.lines().next().unwrap_or_default();
    let rest = first
        .strip_prefix("; expect line ")
        .expect("an `; expect line` comment");
    let (place, message) = rest.split_once(": ").expect("`: ` after the line");
    let (line, file) = match place.split_once(" of ") {
        Some((line, file)) => (
            line,
            Some(path.parent().unwrap_or(Path::new("")).join(file)),
        ),
        None => (place, None),
    };
    (
        line.parse().expect("a line number"),
        file,
        message.to_string(),
    )
}

#[test]
fn bad_configs_are_refused_by_both_at_the_right_line() {
    let configs = files_in(&data().join("errors"));
    assert!(configs.len() >= 10, "{} configs", configs.len());
    let mut problems = Vec::new();
    for path in &configs {
        let (line, file, message) = expectation(path);
        if let Ok(v) = supervisord_reads(path) {
            problems.push(format!("{}: supervisord accepts it: {v}", path.display()));
        }
        let e = match we_read(path) {
            Ok(_) => {
                problems.push(format!("{}: we accept it", path.display()));
                continue;
            }
            Err(e) => e,
        };
        let file = file.unwrap_or_else(|| path.clone());
        let same_file = e.file == file || e.file == file.canonicalize().unwrap_or_default();
        let same_file =
            same_file || Path::new(&e.file).ends_with(file.file_name().unwrap_or_default());
        if e.line != line || !same_file || !e.message.contains(&message) {
            problems.push(format!(
                "{}: expected line {line} and {message:?}, got {e}",
                path.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn check_json_is_one_array_with_supervisords_key_names() {
    let cfg = we_read(&data().join("celery.conf")).expect("celery.conf");
    let parsed: Value = serde_json::from_str(&config::to_json(&cfg.processes)).expect("JSON");
    let first = &parsed[0];
    for key in [
        "name",
        "group",
        "command",
        "directory",
        "user",
        "umask",
        "autostart",
        "autorestart",
        "priority",
        "startsecs",
        "startretries",
        "exitcodes",
        "stopsignal",
        "stopwaitsecs",
        "stopasgroup",
        "killasgroup",
        "redirect_stderr",
        "stdout_logfile",
        "stderr_logfile",
        "stdout_logfile_maxbytes",
        "stdout_logfile_backups",
        "environment",
        "numprocs",
        "eventlistener",
    ] {
        assert!(first.get(key).is_some(), "no {key} in {first}");
    }
    assert_eq!(first["name"], "celery-worker_00");
    assert_eq!(first["group"], "celery");
    assert_eq!(first["user"], "nobody");
    assert_eq!(
        first["environment"]["DJANGO_SETTINGS_MODULE"],
        "proj.settings"
    );
}

#[test]
fn the_line_ending_configs_kept_their_bytes() {
    let crlf = std::fs::read(data().join("crlf.conf")).expect("crlf.conf");
    assert!(
        crlf.windows(2).any(|w| w == b"\r\n"),
        "crlf.conf lost its CRLF"
    );
    let cr = std::fs::read(data().join("edge.conf")).expect("edge.conf");
    assert!(
        cr.contains(&b'\r') && !cr.contains(&b'\n'),
        "edge.conf lost its lone CRs"
    );
}
