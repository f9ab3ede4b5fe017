//! Process groups, as supervisord's `process_groups_from_parser` makes them, in its
//! order: `[group:x]` sections first (each program they list joins that group and no
//! longer makes one of its own; naming an unknown program is an error), then each
//! remaining `[program:x]` as a group of its own, then `[eventlistener:x]` pools
//! (priority -1 unless set, `events` required, `redirect_stderr` refused), then
//! remaining `[fcgi-program:x]`. The groups are then sorted by priority, then name,
//! keeping that order among equals; each group's processes stay in the order built.

use super::datatypes as dt;
use super::expand::Names;
use super::load::Loader;
use super::program::{self, Kind, Listener, ProcessSpec};
use super::reader::Reader;
use super::store::Stored;
use crate::ini::LineError;
use std::path::PathBuf;

/// The kind of section that made a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// A `[program:x]` on its own (a "homogeneous" group).
    Program,
    /// `[group:x] programs=...` (a "heterogeneous" group).
    Group,
    /// An `[eventlistener:x]` pool.
    EventListener,
    /// An `[fcgi-program:x]`.
    FastCgi,
}

/// The socket of an `[fcgi-program:x]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcgiSocket {
    /// `unix:///abs/path` (normalized) or `tcp://host:port`.
    pub url: String,
    /// `socket_owner`, resolved: uid, and gid if given.
    pub owner: Option<(u32, Option<u32>)>,
    /// `socket_mode` (default 0700 for a Unix socket).
    pub mode: Option<u32>,
    /// `socket_backlog`.
    pub backlog: Option<i64>,
}

/// A process group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// Its name.
    pub name: String,
    /// Its priority (default 999, -1 for a listener pool).
    pub priority: i64,
    /// What made it.
    pub kind: GroupKind,
    /// Its processes' names, in order.
    pub processes: Vec<String>,
    /// Its section.
    pub section: String,
    /// Its section's file.
    pub file: PathBuf,
    /// Its section's header line.
    pub line: usize,
    /// A listener pool's settings.
    pub listener: Option<Listener>,
    /// An fcgi program's socket.
    pub socket: Option<FcgiSocket>,
}

/// The event types supervisord knows (`supervisor.events.EventTypes`).
pub const EVENT_TYPES: &[&str] = &[
    "EVENT",
    "PROCESS_COMMUNICATION",
    "PROCESS_COMMUNICATION_STDERR",
    "PROCESS_COMMUNICATION_STDOUT",
    "PROCESS_GROUP",
    "PROCESS_GROUP_ADDED",
    "PROCESS_GROUP_REMOVED",
    "PROCESS_LOG",
    "PROCESS_LOG_STDERR",
    "PROCESS_LOG_STDOUT",
    "PROCESS_STATE",
    "PROCESS_STATE_BACKOFF",
    "PROCESS_STATE_EXITED",
    "PROCESS_STATE_FATAL",
    "PROCESS_STATE_RUNNING",
    "PROCESS_STATE_STARTING",
    "PROCESS_STATE_STOPPED",
    "PROCESS_STATE_STOPPING",
    "PROCESS_STATE_UNKNOWN",
    "REMOTE_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE",
    "SUPERVISOR_STATE_CHANGE_RUNNING",
    "SUPERVISOR_STATE_CHANGE_STOPPING",
    "TICK",
    "TICK_3600",
    "TICK_5",
    "TICK_60",
];

/// A group and its processes.
pub type Built = (GroupSpec, Vec<ProcessSpec>);

/// Every group, sorted as supervisord sorts them.
pub fn groups(l: &Loader) -> Result<Vec<Built>, LineError> {
    let sections = l.store.sections();
    let with = |prefix: &'static str| sections.iter().filter(move |s| s.name.starts_with(prefix));
    let mut out = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    for s in with("group:") {
        out.push(heterogeneous(l, s, &mut taken)?);
    }
    for s in with("program:").filter(|s| !taken.contains(&s.name)) {
        out.push(homogeneous(l, s)?);
    }
    for s in with("eventlistener:") {
        out.push(pool(l, s)?);
    }
    for s in with("fcgi-program:").filter(|s| !taken.contains(&s.name)) {
        out.push(fcgi(l, s)?);
    }
    out.sort_by(|a, b| (a.0.priority, &a.0.name).cmp(&(b.0.priority, &b.0.name)));
    Ok(out)
}

fn group(
    l: &Loader,
    r: &Reader,
    name: String,
    priority: i64,
    kind: GroupKind,
    procs: &[ProcessSpec],
) -> GroupSpec {
    GroupSpec {
        name,
        priority,
        kind,
        processes: procs.iter().map(|p| p.name.clone()).collect(),
        section: r.section.name.clone(),
        file: l.store.file(r.section.file).to_path_buf(),
        line: r.section.line,
        listener: None,
        socket: None,
    }
}

/// `[group:x]`: its programs' processes, in the order listed.
fn heterogeneous(l: &Loader, s: &Stored, taken: &mut Vec<String>) -> Result<Built, LineError> {
    let r = l.reader(s);
    l.warn_unknown(&r, &["programs", "priority"]);
    let names = l.names_here();
    let name = program::program_name(&r)?;
    let programs = r
        .get("programs", None, &names)?
        .map_or_else(Vec::new, |p| dt::list_of_strings(&p));
    let priority = r.parse("priority", "999", &names, dt::integer)?;
    let mut procs = Vec::new();
    for program in programs {
        let member = member(l, &r, &program)?;
        taken.push(member.name.clone());
        procs.extend(program::processes(l, member, &name, Kind::Program)?);
    }
    Ok((
        group(l, &r, name, priority, GroupKind::Group, &procs),
        procs,
    ))
}

/// The section a `[group:x]` names: `[program:p]` or `[fcgi-program:p]`, not both.
fn member<'a>(l: &'a Loader, r: &Reader, program: &str) -> Result<&'a Stored, LineError> {
    let plain = l.store.section(&format!("program:{program}"));
    let fcgi = l.store.section(&format!("fcgi-program:{program}"));
    let why = match (plain, fcgi) {
        (Some(s), None) | (None, Some(s)) => return Ok(s),
        (None, None) => format!(
            "[{}] names unknown program or fcgi-program {program}",
            r.section.name
        ),
        (Some(_), Some(_)) => format!(
            "[{}] name {program} is ambiguous (exists as program and fcgi-program)",
            r.section.name
        ),
    };
    Err(r.error("programs", why))
}

/// A `[program:x]` no group took: a group of its own.
fn homogeneous(l: &Loader, s: &Stored) -> Result<Built, LineError> {
    let r = l.reader(s);
    let name = program::program_name(&r)?;
    let priority = r.parse("priority", "999", &l.names_here(), dt::integer)?;
    let procs = program::processes(l, s, &name, Kind::Program)?;
    Ok((
        group(l, &r, name, priority, GroupKind::Program, &procs),
        procs,
    ))
}

/// `[eventlistener:x]`: a pool (its name is not checked or stripped, as in
/// supervisord).
fn pool(l: &Loader, s: &Stored) -> Result<Built, LineError> {
    let r = l.reader(s);
    let names = l.names_here();
    let name = s.name.split_once(':').map_or("", |(_, n)| n).to_string();
    let priority = r.parse("priority", "-1", &names, dt::integer)?;
    let listener = listener(&r, &names)?;
    if r.parse("redirect_stderr", "false", &names, dt::boolean)? {
        return Err(r.error(
            "redirect_stderr",
            format!(
                "[{}] section sets redirect_stderr=true but this is not allowed because it \
                 will interfere with the eventlistener protocol",
                s.name
            ),
        ));
    }
    let mut procs = program::processes(l, s, &name, Kind::EventListener)?;
    for p in &mut procs {
        p.listener = Some(listener.clone());
    }
    let mut g = group(l, &r, name, priority, GroupKind::EventListener, &procs);
    g.listener = Some(listener);
    Ok((g, procs))
}

/// `buffer_size`, `result_handler` and `events` of a pool.
fn listener(r: &Reader, names: &Names) -> Result<Listener, LineError> {
    let buffer_size = r.parse("buffer_size", "10", names, dt::integer)?;
    if buffer_size < 1 {
        let why = format!(
            "[{}] section sets invalid buffer_size ({buffer_size})",
            r.section.name
        );
        return Err(r.error("buffer_size", why));
    }
    let result_handler = r
        .get(
            "result_handler",
            Some("supervisor.dispatchers:default_handler"),
            names,
        )?
        .unwrap_or_default();
    let events = events(r, names)?;
    Ok(Listener {
        events,
        buffer_size,
        result_handler,
    })
}

/// `events`: required, each a known event type (any case).
fn events(r: &Reader, names: &Names) -> Result<Vec<String>, LineError> {
    let text = r.get("events", Some(""), names)?.unwrap_or_default();
    let mut events: Vec<String> = Vec::new();
    for e in dt::list_of_strings(&text).iter().map(|e| e.to_uppercase()) {
        if !events.contains(&e) {
            events.push(e);
        }
    }
    if events.is_empty() {
        return Err(r.error(
            "events",
            format!("[{}] section requires an \"events\" line", r.section.name),
        ));
    }
    match events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        Some(bad) => Err(r.error(
            "events",
            format!("Unknown event type {bad} in [{}] events", r.section.name),
        )),
        None => Ok(events),
    }
}

/// An `[fcgi-program:x]` no group took.
fn fcgi(l: &Loader, s: &Stored) -> Result<Built, LineError> {
    let r = l.reader(s);
    let name = program::program_name(&r)?;
    let names = l.names_here();
    let priority = r.parse("priority", "999", &names, dt::integer)?;
    if let Some(user) = r.get("user", None, &names)? {
        l.checks
            .name_to_uid(&user)
            .map_err(|e| r.type_error("user", &e))?;
    }
    let socket = fcgi_socket(l, &r, &names, &name)?;
    let procs = program::processes(l, s, &name, Kind::FastCgi)?;
    let mut g = group(l, &r, name, priority, GroupKind::FastCgi, &procs);
    g.socket = Some(socket);
    Ok((g, procs))
}

/// `socket_backlog`, `socket_owner`, `socket_mode`, `socket`, in supervisord's order.
fn fcgi_socket(
    l: &Loader,
    r: &Reader,
    names: &Names,
    program: &str,
) -> Result<FcgiSocket, LineError> {
    let (backlog, owner, mode) = socket_options(l, r, names)?;
    let section = &r.section.name;
    let mut with_name = names.clone();
    with_name.set("program_name", program);
    let Some(text) = r.get("socket", None, &with_name)? else {
        return Err(r.error_here(format!("[{section}] section requires a \"socket\" line")));
    };
    let url = socket_url(l, &text, owner.is_some() || mode.is_some())
        .map_err(|e| r.error("socket", format!("{e} in [{section}] socket")))?;
    let mode = mode.or(url.starts_with("unix://").then_some(0o700));
    Ok(FcgiSocket {
        url,
        owner,
        mode,
        backlog,
    })
}

/// A socket's backlog (1 to 65535), owner and mode.
type SocketOptions = (Option<i64>, Option<(u32, Option<u32>)>, Option<u32>);

fn socket_options(l: &Loader, r: &Reader, names: &Names) -> Result<SocketOptions, LineError> {
    let backlog = r.parse_opt("socket_backlog", names, |b| match dt::integer(b)? {
        n if (1..=65535).contains(&n) => Ok(n),
        n => Err(format!("Invalid socket_backlog value {n}")),
    })?;
    let owner = r.parse_opt("socket_owner", names, |o| {
        let user_group = l.checks.user_group(o);
        user_group.map_err(|_| format!("Invalid socket_owner value {o}"))
    })?;
    let mode = r.parse_opt("socket_mode", names, |m| {
        dt::octal(m).map_err(|_| format!("Invalid socket_mode value {m}"))
    })?;
    Ok((backlog, owner, mode))
}

/// `parse_fcgi_socket`: `unix:///absolute/path` or `tcp://host:port`.
fn socket_url(l: &Loader, text: &str, unix_only_keys: bool) -> Result<String, String> {
    if let Some(path) = text.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(format!("Unix socket path {path} is not an absolute path"));
        }
        return Ok(format!("unix://{}", l.checks.normalize_path(path)));
    }
    if unix_only_keys {
        return Err(
            "socket_owner and socket_mode params should only be used with a Unix domain socket"
                .into(),
        );
    }
    let bad = || format!("Bad socket format {text}");
    let (host, port) = text
        .strip_prefix("tcp://")
        .and_then(|hp| hp.split_once(':'))
        .ok_or_else(bad)?;
    let host_ok = !host.is_empty() && !host.chars().any(|c| c == ':' || super::python::is_space(c));
    let port_ok = !port.is_empty() && port.chars().all(|c| c.is_ascii_digit());
    if !host_ok || !port_ok {
        return Err(bad());
    }
    let port = dt::port_number(port)?;
    Ok(format!("tcp://{}:{port}", host.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::config::testing::{error, loaded, names};

    #[test]
    fn groups_take_their_programs_and_sort_by_priority_then_name() {
        let cfg = loaded(
            "[supervisord]\n[group:web]\nprograms=b, a\npriority=10\n[group:jobs]\nprograms=c\npriority=10\n\
             [program:a]\ncommand=a\npriority=1\n[program:b]\ncommand=b %(group_name)s\npriority=500\n\
             [program:c]\ncommand=c\n[program:solo]\ncommand=solo\npriority=5\n",
        );
        let groups: Vec<(&str, i64, GroupKind)> = cfg
            .groups
            .iter()
            .map(|g| (g.name.as_str(), g.priority, g.kind))
            .collect();
        assert_eq!(
            groups,
            [
                ("solo", 5, GroupKind::Program),
                ("jobs", 10, GroupKind::Group),
                ("web", 10, GroupKind::Group)
            ]
        );
        // Within a group: the programs in the order listed, not by priority.
        assert_eq!(names(&cfg), ["solo", "c", "b", "a"]);
        assert_eq!(cfg.processes[2].command, "b web");
        assert_eq!(cfg.groups[2].processes, ["b", "a"]);
    }

    #[test]
    fn a_group_naming_an_unknown_program_is_an_error() {
        let e =
            error("[supervisord]\n[group:g]\nprograms=there,gone\n[program:there]\ncommand=x\n");
        assert_eq!(
            e,
            "/etc/supervisor/supervisord.conf:3: [group:g] names unknown program or fcgi-program gone"
        );
        let cfg = loaded("[supervisord]\n[group:empty]\n");
        assert_eq!((cfg.groups.len(), cfg.processes.len()), (1, 0));
    }

    #[test]
    fn listener_pools() {
        let cfg = loaded(
            "[supervisord]\n[program:app]\ncommand=app\n[eventlistener:mon]\ncommand=mon\n\
             events=process_state_exited, TICK_60,PROCESS_STATE_EXITED\nbuffer_size=20\n",
        );
        let (pool, p) = (&cfg.groups[0], &cfg.processes[0]);
        assert_eq!(
            (pool.name.as_str(), pool.priority, pool.kind),
            ("mon", -1, GroupKind::EventListener)
        );
        assert_eq!((p.kind, p.priority), (Kind::EventListener, 999));
        let l = p.listener.as_ref().expect("listener");
        assert_eq!(l.events, ["PROCESS_STATE_EXITED", "TICK_60"]);
        assert_eq!(
            (l.buffer_size, l.result_handler.as_str()),
            (20, "supervisor.dispatchers:default_handler")
        );
        let rows = [
            (
                "",
                ":4: [eventlistener:l] section requires an \"events\" line",
            ),
            (
                "events=TICK_7",
                ":6: Unknown event type TICK_7 in [eventlistener:l] events",
            ),
            (
                "events=TICK_5\nbuffer_size=0",
                ":7: [eventlistener:l] section sets invalid buffer_size (0)",
            ),
            (
                "events=TICK_5\nredirect_stderr=true",
                ":7: [eventlistener:l] section sets redirect_stderr=true but this is not allowed",
            ),
        ];
        for (keys, want) in rows {
            let e = error(&format!(
                "[supervisord]\n\n\n[eventlistener:l]\ncommand=l\n{keys}\n"
            ));
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn fcgi_sockets() {
        let cfg = loaded(
            "[supervisord]\n[fcgi-program:php]\ncommand=php-cgi\nsocket=unix:///run/../tmp/%(program_name)s.sock\n\
             socket_owner=www-data\n[fcgi-program:py]\ncommand=py\nsocket=tcp://LocalHost:9000\nsocket_backlog=5\n",
        );
        let php = cfg
            .groups
            .iter()
            .find(|g| g.name == "php")
            .and_then(|g| g.socket.clone());
        let want = FcgiSocket {
            url: "unix:///tmp/php.sock".into(),
            owner: Some((33, None)),
            mode: Some(0o700),
            backlog: None,
        };
        assert_eq!(php, Some(want));
        let py = cfg
            .groups
            .iter()
            .find(|g| g.name == "py")
            .and_then(|g| g.socket.clone());
        assert_eq!(
            py.map(|s| (s.url, s.mode, s.backlog)),
            Some(("tcp://localhost:9000".into(), None, Some(5)))
        );
        let e = error("[supervisord]\n[fcgi-program:x]\ncommand=x\nsocket=tcp://h\n");
        assert!(
            e.ends_with(":4: Bad socket format tcp://h in [fcgi-program:x] socket"),
            "{e}"
        );
    }
}
