//! The processes as one JSON array, an object per process, with supervisord's key
//! names and its values' shapes (what `--check --json` prints): `autorestart` is
//! `true`, `false` or `"unexpected"`, `stopsignal` and `umask` are numbers, a log file
//! is `"AUTO"`, `"NONE"` or a path, `environment` is an object.
//!
//! Written by hand (a value type, an escaper and a printer) so the library needs no
//! serializer.

use super::datatypes::AutoRestart;
use super::program::{Channel, Logfile, ProcessSpec};
use std::fmt::Write;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, its keys in order.
    Object(Vec<(String, Json)>),
}

impl Json {
    fn str(s: &str) -> Json {
        Json::Str(s.to_string())
    }

    fn opt(s: &Option<String>) -> Json {
        s.as_deref().map_or(Json::Null, Json::str)
    }
}

/// `s` as a JSON string, quotes included.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `value` printed, objects and arrays over several lines indented by two spaces,
/// the innermost ones (with no array or object inside) on one line.
pub fn render(value: &Json, indent: usize) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Int(n) => n.to_string(),
        Json::Str(s) => escape(s),
        Json::Array(items) => {
            let items: Vec<String> = items.iter().map(|v| render(v, indent + 2)).collect();
            block('[', ']', &items, indent, value)
        }
        Json::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}: {}", escape(k), render(v, indent + 2)))
                .collect();
            block('{', '}', &fields, indent, value)
        }
    }
}

fn block(open: char, close: char, items: &[String], indent: usize, value: &Json) -> String {
    let flat = match value {
        Json::Array(v) => v
            .iter()
            .all(|x| !matches!(x, Json::Array(_) | Json::Object(_))),
        Json::Object(v) => v
            .iter()
            .all(|(_, x)| !matches!(x, Json::Array(_) | Json::Object(_))),
        _ => true,
    };
    if items.is_empty() || (flat && indent > 0) {
        return format!("{open}{}{close}", items.join(", "));
    }
    let pad = " ".repeat(indent + 2);
    let body: Vec<String> = items.iter().map(|i| format!("{pad}{i}")).collect();
    format!(
        "{open}\n{}\n{}{close}",
        body.join(",\n"),
        " ".repeat(indent)
    )
}

/// The processes as a JSON array, one object per process, and a final newline.
pub fn to_json(processes: &[ProcessSpec]) -> String {
    let array = Json::Array(processes.iter().map(process).collect());
    render(&array, 0) + "\n"
}

/// One process with supervisord's key names.
pub fn process(p: &ProcessSpec) -> Json {
    let mut f = identity(p);
    f.extend(running(p));
    channel(&mut f, "stdout", &p.stdout);
    channel(&mut f, "stderr", &p.stderr);
    rest(&mut f, p);
    Json::Object(f)
}

fn field(key: &str, value: Json) -> (String, Json) {
    (key.to_string(), value)
}

/// What and where it runs, as whom.
fn identity(p: &ProcessSpec) -> Vec<(String, Json)> {
    vec![
        field("name", Json::str(&p.name)),
        field("group", Json::str(&p.group)),
        field("program", Json::str(&p.program)),
        field("command", Json::str(&p.command)),
        field("directory", Json::opt(&p.directory)),
        field("user", Json::opt(&p.user)),
        field("uid", p.uid.map_or(Json::Null, |u| Json::Int(u.into()))),
        field("umask", p.umask.map_or(Json::Null, |u| Json::Int(u.into()))),
    ]
}

/// When it starts, restarts and stops.
fn running(p: &ProcessSpec) -> Vec<(String, Json)> {
    let exitcodes = p.exitcodes.iter().map(|&c| Json::Int(c.into())).collect();
    vec![
        field("priority", Json::Int(p.priority)),
        field("autostart", Json::Bool(p.autostart)),
        field("autorestart", autorestart(p.autorestart)),
        field("startsecs", Json::Int(p.startsecs)),
        field("startretries", Json::Int(p.startretries)),
        field("exitcodes", Json::Array(exitcodes)),
        field("stopsignal", Json::Int(p.stopsignal.into())),
        field("stopwaitsecs", Json::Int(p.stopwaitsecs)),
        field("stopasgroup", Json::Bool(p.stopasgroup)),
        field("killasgroup", Json::Bool(p.killasgroup)),
        field("redirect_stderr", Json::Bool(p.redirect_stderr)),
    ]
}

fn autorestart(a: AutoRestart) -> Json {
    match a {
        AutoRestart::Never => Json::Bool(false),
        AutoRestart::Always => Json::Bool(true),
        AutoRestart::Unexpected => Json::str("unexpected"),
    }
}

/// The `stdout_*` or `stderr_*` keys.
fn channel(f: &mut Vec<(String, Json)>, name: &str, c: &Channel) {
    let logfile = match &c.logfile {
        Logfile::None => Json::str("NONE"),
        Logfile::Auto => Json::str("AUTO"),
        Logfile::Path(p) => Json::str(p),
    };
    f.push((format!("{name}_logfile"), logfile));
    f.push((format!("{name}_logfile_maxbytes"), Json::Int(c.maxbytes)));
    f.push((format!("{name}_logfile_backups"), Json::Int(c.backups)));
    f.push((
        format!("{name}_capture_maxbytes"),
        Json::Int(c.capture_maxbytes),
    ));
    f.push((
        format!("{name}_events_enabled"),
        Json::Bool(c.events_enabled),
    ));
    f.push((format!("{name}_syslog"), Json::Bool(c.syslog)));
}

/// Environment, numbers of processes, listener settings, where it was read.
fn rest(f: &mut Vec<(String, Json)>, p: &ProcessSpec) {
    let env = p.environment.iter().map(|(k, v)| (k.clone(), Json::str(v)));
    f.push(("environment".into(), Json::Object(env.collect())));
    f.push(("serverurl".into(), Json::opt(&p.serverurl)));
    f.push(("numprocs".into(), Json::Int(p.numprocs)));
    f.push(("numprocs_start".into(), Json::Int(p.numprocs_start)));
    f.push(("process_num".into(), Json::Int(p.process_num)));
    f.push(("eventlistener".into(), Json::Bool(p.listener.is_some())));
    if let Some(l) = &p.listener {
        let events = l.events.iter().map(|e| Json::str(e)).collect();
        f.push(("events".into(), Json::Array(events)));
        f.push(("buffer_size".into(), Json::Int(l.buffer_size)));
        f.push(("result_handler".into(), Json::str(&l.result_handler)));
    }
    f.push(("file".into(), Json::str(&p.file.to_string_lossy())));
    f.push(("line".into(), Json::Int(p.line as i64)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(
            escape("a\"b\\c\nd\te\u{1}\u{7f}é"),
            "\"a\\\"b\\\\c\\nd\\te\\u0001\\u007fé\""
        );
        let back: String = serde_json::from_str(&escape("x\u{1f}\"\\\r/é")).unwrap();
        assert_eq!(back, "x\u{1f}\"\\\r/é");
    }

    #[test]
    fn values_render_as_json() {
        let v = Json::Array(vec![Json::Object(vec![
            ("a".into(), Json::Int(-1)),
            ("b".into(), Json::Array(vec![Json::Int(0), Json::Int(2)])),
            ("c".into(), Json::Object(vec![])),
            ("d".into(), Json::Null),
            ("e".into(), Json::Bool(true)),
        ])]);
        let text = render(&v, 0);
        assert_eq!(
            text,
            "[\n  {\n    \"a\": -1,\n    \"b\": [0, 2],\n    \"c\": {},\n    \"d\": null,\n    \"e\": true\n  }\n]"
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed[0]["b"][1], 2);
    }
}
