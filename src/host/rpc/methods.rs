//! supervisord's XML-RPC methods (`supervisor.*`, `system.*`) over a host: each
//! call's parameters checked, the work done through [`crate::host::control`] (a
//! process) or the [`Hub`] (the host itself), and the answer built with
//! supervisord's structures, state codes and faults.
//!
//! A read-only server answers every reading method and refuses the others with
//! `FAILED: read-only`.

use std::time::SystemTime;

use super::xml::{Call, Value};
use crate::host::control::{self, Fault, RpcError};
use crate::host::hub::{Ask, Hub, Snapshot};
use crate::host::info::{self, Info, State};
use crate::host::service::Service;

/// The RPC API version supervisorctl expects.
pub const API_VERSION: &str = "3.0";

/// The methods, with their signatures (return type first) and help.
const METHODS: &[(&str, &[&str], &str)] = &[
    (
        "supervisor.getAPIVersion",
        &["string"],
        "Return the version of the RPC API used by supervisord",
    ),
    (
        "supervisor.getVersion",
        &["string"],
        "Return the version of the RPC API used by supervisord (deprecated)",
    ),
    (
        "supervisor.getSupervisorVersion",
        &["string"],
        "Return the version of the supervisor in use",
    ),
    (
        "supervisor.getIdentification",
        &["string"],
        "Return identifying string of supervisord",
    ),
    (
        "supervisor.getState",
        &["struct"],
        "Return current state of supervisord as a struct",
    ),
    (
        "supervisor.getPID",
        &["int"],
        "Return the PID of supervisord",
    ),
    (
        "supervisor.readLog",
        &["string", "int", "int"],
        "Read length bytes from the main log starting at offset",
    ),
    (
        "supervisor.readMainLog",
        &["string", "int", "int"],
        "Read length bytes from the main log starting at offset",
    ),
    ("supervisor.clearLog", &["boolean"], "Clear the main log."),
    (
        "supervisor.shutdown",
        &["boolean"],
        "Shut down the supervisor process",
    ),
    (
        "supervisor.restart",
        &["boolean"],
        "Restart the supervisor process",
    ),
    (
        "supervisor.reloadConfig",
        &["array"],
        "Reload the configuration",
    ),
    (
        "supervisor.addProcessGroup",
        &["boolean", "string"],
        "Update the config for a running process from config file.",
    ),
    (
        "supervisor.removeProcessGroup",
        &["boolean", "string"],
        "Remove a stopped process from the active configuration.",
    ),
    (
        "supervisor.startProcess",
        &["boolean", "string", "boolean"],
        "Start a process",
    ),
    (
        "supervisor.startProcessGroup",
        &["array", "string", "boolean"],
        "Start all processes in the group named 'name'",
    ),
    (
        "supervisor.startAllProcesses",
        &["array", "boolean"],
        "Start all processes listed in the configuration file",
    ),
    (
        "supervisor.stopProcess",
        &["boolean", "string", "boolean"],
        "Stop a process named by name",
    ),
    (
        "supervisor.stopProcessGroup",
        &["array", "string", "boolean"],
        "Stop all processes in the process group named 'name'",
    ),
    (
        "supervisor.stopAllProcesses",
        &["array", "boolean"],
        "Stop all processes in the process list",
    ),
    (
        "supervisor.signalProcess",
        &["boolean", "string", "string"],
        "Send an arbitrary UNIX signal to the process named by name",
    ),
    (
        "supervisor.signalProcessGroup",
        &["array", "string", "string"],
        "Send a signal to all processes in the group named 'name'",
    ),
    (
        "supervisor.signalAllProcesses",
        &["array", "string"],
        "Send a signal to all processes in the process list",
    ),
    (
        "supervisor.getAllConfigInfo",
        &["array"],
        "Get info about all available process configurations.",
    ),
    (
        "supervisor.getProcessInfo",
        &["struct", "string"],
        "Get info about a process named name",
    ),
    (
        "supervisor.getAllProcessInfo",
        &["array"],
        "Get info about all processes",
    ),
    (
        "supervisor.readProcessStdoutLog",
        &["string", "string", "int", "int"],
        "Read length bytes from name's stdout log starting at offset",
    ),
    (
        "supervisor.readProcessLog",
        &["string", "string", "int", "int"],
        "Read length bytes from name's stdout log starting at offset",
    ),
    (
        "supervisor.readProcessStderrLog",
        &["string", "string", "int", "int"],
        "Read length bytes from name's stderr log starting at offset",
    ),
    (
        "supervisor.tailProcessStdoutLog",
        &["array", "string", "int", "int"],
        "Tail the stdout log: [string bytes, int offset, bool overflow]",
    ),
    (
        "supervisor.tailProcessLog",
        &["array", "string", "int", "int"],
        "Tail the stdout log: [string bytes, int offset, bool overflow]",
    ),
    (
        "supervisor.tailProcessStderrLog",
        &["array", "string", "int", "int"],
        "Tail the stderr log: [string bytes, int offset, bool overflow]",
    ),
    (
        "supervisor.clearProcessLogs",
        &["boolean", "string"],
        "Clear the stdout and stderr logs for the named process",
    ),
    (
        "supervisor.clearProcessLog",
        &["boolean", "string"],
        "Clear the stdout and stderr logs for the named process",
    ),
    (
        "supervisor.clearAllProcessLogs",
        &["array"],
        "Clear all process log files",
    ),
    (
        "supervisor.sendProcessStdin",
        &["boolean", "string", "string"],
        "Not supported: a process's stdin is /dev/null under supervise",
    ),
    (
        "supervisor.sendRemoteCommEvent",
        &["boolean", "string", "string"],
        "Send an event to event listeners subscribed to REMOTE_COMMUNICATION",
    ),
    (
        "system.listMethods",
        &["array"],
        "Return an array listing the available method names",
    ),
    (
        "system.methodHelp",
        &["string", "string"],
        "Return a string showing the method's documentation",
    ),
    (
        "system.methodSignature",
        &["array", "string"],
        "Return an array describing the method signature",
    ),
    (
        "system.multicall",
        &["array", "array"],
        "Process an array of calls, and return an array of results",
    ),
];

/// The methods that change something (refused by a read-only server).
const WRITES: &[&str] = &[
    "clearLog",
    "shutdown",
    "restart",
    "reloadConfig",
    "addProcessGroup",
    "removeProcessGroup",
    "startProcess",
    "startProcessGroup",
    "startAllProcesses",
    "stopProcess",
    "stopProcessGroup",
    "stopAllProcesses",
    "signalProcess",
    "signalProcessGroup",
    "signalAllProcesses",
    "clearProcessLogs",
    "clearProcessLog",
    "clearAllProcessLogs",
    "sendProcessStdin",
    "sendRemoteCommEvent",
];

/// The most calls one `system.multicall` carries.
const MAX_CALLS: usize = 256;

/// The most bytes of results one `system.multicall` gathers (reads are 1 MB each).
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// About how many bytes a value takes once encoded.
fn size(v: &Value) -> usize {
    match v {
        Value::String(s) | Value::DateTime(s) => s.len() + 32,
        Value::Base64(b) => b.len() * 4 / 3 + 32,
        Value::Array(a) => a.iter().map(size).sum::<usize>() + 32,
        Value::Struct(f) => f.iter().map(|(k, v)| k.len() + size(v) + 48).sum::<usize>() + 32,
        _ => 40,
    }
}

/// Carries out a call.
pub fn dispatch(hub: &Hub, read_only: bool, call: &Call) -> Result<Value, RpcError> {
    let Some((ns, name)) = call.method.split_once('.') else {
        return Err(RpcError::bare(Fault::UnknownMethod));
    };
    if name.contains('.') || name.starts_with('_') {
        return Err(RpcError::bare(Fault::UnknownMethod));
    }
    let p = Params(&call.params);
    match ns {
        "system" => system(hub, read_only, name, &p),
        "supervisor" => {
            // As supervisord's `_update`: nothing while it shuts down or restarts.
            if hub.mood() != crate::host::hub::Mood::Running {
                return Err(RpcError::bare(Fault::ShutdownState));
            }
            if read_only && WRITES.contains(&name) {
                return Err(RpcError::new(Fault::Failed, "read-only"));
            }
            supervisor(hub, name, &p)
        }
        _ => Err(RpcError::bare(Fault::UnknownMethod)),
    }
}

/// A call's parameters, read by position.
struct Params<'a>(&'a [Value]);

impl Params<'_> {
    fn count(&self, min: usize, max: usize) -> Result<(), RpcError> {
        if (min..=max).contains(&self.0.len()) {
            Ok(())
        } else {
            Err(RpcError::bare(Fault::IncorrectParameters))
        }
    }

    fn str(&self, i: usize) -> Result<&str, RpcError> {
        match self.0.get(i) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(RpcError::bare(Fault::IncorrectParameters)),
        }
    }

    /// A string, or an int as Python's str() would give it (signals, offsets).
    fn text(&self, i: usize) -> Result<String, RpcError> {
        match self.0.get(i) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Int(n)) => Ok(n.to_string()),
            _ => Err(RpcError::bare(Fault::IncorrectParameters)),
        }
    }

    fn int(&self, i: usize) -> Result<i64, RpcError> {
        match self.0.get(i) {
            Some(Value::Int(n)) => Ok(*n),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| RpcError::bare(Fault::IncorrectParameters)),
            _ => Err(RpcError::bare(Fault::IncorrectParameters)),
        }
    }

    /// An optional boolean (`wait`), true when absent.
    fn wait(&self, i: usize) -> Result<bool, RpcError> {
        match self.0.get(i) {
            None => Ok(true),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Int(n)) => Ok(*n != 0),
            _ => Err(RpcError::bare(Fault::IncorrectParameters)),
        }
    }
}

fn system(hub: &Hub, read_only: bool, name: &str, p: &Params) -> Result<Value, RpcError> {
    match name {
        "listMethods" => {
            p.count(0, 0)?;
            let mut names: Vec<&str> = METHODS.iter().map(|(n, _, _)| *n).collect();
            names.sort_unstable();
            Ok(Value::Array(
                names.into_iter().map(|n| Value::String(n.into())).collect(),
            ))
        }
        "methodHelp" => {
            p.count(1, 1)?;
            let m = find_method(p.str(0)?)?;
            Ok(Value::String(m.2.into()))
        }
        "methodSignature" => {
            p.count(1, 1)?;
            let m = find_method(p.str(0)?)?;
            let sig = m.1.iter().map(|t| Value::String((*t).into())).collect();
            Ok(Value::Array(vec![Value::Array(sig)]))
        }
        "multicall" => {
            p.count(1, 1)?;
            let Some(Value::Array(calls)) = p.0.first() else {
                return Err(RpcError::bare(Fault::IncorrectParameters));
            };
            if calls.len() > MAX_CALLS {
                return Err(RpcError::new(
                    Fault::IncorrectParameters,
                    format!("at most {MAX_CALLS} calls in a multicall"),
                ));
            }
            // A bound on the answer: past it, each further call is a fault.
            let mut budget = MAX_ANSWER;
            let mut out = Vec::with_capacity(calls.len());
            for c in calls {
                let r = match budget {
                    0 => fault_struct(&RpcError::new(Fault::Failed, "multicall answer too large")),
                    _ => one_of_many(hub, read_only, c),
                };
                budget = budget.saturating_sub(size(&r));
                out.push(r);
            }
            Ok(Value::Array(out))
        }
        _ => Err(RpcError::bare(Fault::UnknownMethod)),
    }
}

fn find_method(
    name: &str,
) -> Result<&'static (&'static str, &'static [&'static str], &'static str), RpcError> {
    METHODS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| RpcError::new(Fault::SignatureUnsupported, name))
}

/// One call of a `system.multicall`: its result in a one-element array, or its fault
/// as a struct (as Python's `MultiCall` expects).
fn one_of_many(hub: &Hub, read_only: bool, c: &Value) -> Value {
    let Value::Struct(fields) = c else {
        return fault_struct(&RpcError::bare(Fault::IncorrectParameters));
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    let (Some(Value::String(method)), params) = (get("methodName"), get("params")) else {
        return fault_struct(&RpcError::bare(Fault::IncorrectParameters));
    };
    if method == "system.multicall" {
        return fault_struct(&RpcError::new(
            Fault::IncorrectParameters,
            "recursive multicall",
        ));
    }
    let params = match params {
        Some(Value::Array(a)) => a.clone(),
        None => Vec::new(),
        Some(_) => return fault_struct(&RpcError::bare(Fault::IncorrectParameters)),
    };
    let call = Call {
        method: method.clone(),
        params,
    };
    match dispatch(hub, read_only, &call) {
        Ok(v) => Value::Array(vec![v]),
        Err(e) => fault_struct(&e),
    }
}

fn fault_struct(e: &RpcError) -> Value {
    Value::Struct(vec![
        ("faultCode".into(), Value::Int(e.code())),
        ("faultString".into(), Value::String(e.text())),
    ])
}

fn supervisor(hub: &Hub, name: &str, p: &Params) -> Result<Value, RpcError> {
    let snap = hub.snapshot();
    match name {
        "getAPIVersion" | "getVersion" => Ok(Value::String(API_VERSION.into())),
        "getSupervisorVersion" => Ok(Value::String(env!("CARGO_PKG_VERSION").into())),
        "getIdentification" => Ok(Value::String(snap.identifier.clone())),
        "getState" => {
            let m = hub.mood();
            Ok(Value::Struct(vec![
                ("statecode".into(), Value::Int(m as i64)),
                ("statename".into(), Value::String(m.name().into())),
            ]))
        }
        "getPID" => Ok(Value::Int(i64::from(std::process::id()))),
        "readLog" | "readMainLog" => main_log(&snap, p),
        "clearLog" => clear_main_log(&snap),
        "shutdown" => hub.ask(Ask::Shutdown).map(|()| Value::Bool(true)),
        "restart" => hub.ask(Ask::Restart).map(|()| Value::Bool(true)),
        "reloadConfig" => {
            let g = hub.ask_and_wait(Ask::Reload)?;
            let names = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
            Ok(Value::Array(vec![Value::Array(vec![
                names(g.added),
                names(g.changed),
                names(g.removed),
            ])]))
        }
        "addProcessGroup" => {
            let g = p.str(0)?.to_owned();
            hub.ask_and_wait(|tx| Ask::AddGroup(g, tx))
                .map(|()| Value::Bool(true))
        }
        "sendRemoteCommEvent" => {
            let (kind, data) = (p.text(0)?, p.text(1)?);
            hub.ask(Ask::Remote(kind, data)).map(|()| Value::Bool(true))
        }
        "removeProcessGroup" => {
            let g = p.str(0)?.to_owned();
            hub.ask_and_wait(|tx| Ask::RemoveGroup(g, tx))
                .map(|()| Value::Bool(true))
        }
        _ => processes(&snap, name, p),
    }
}

fn processes(snap: &Snapshot, name: &str, p: &Params) -> Result<Value, RpcError> {
    match name {
        "getProcessInfo" => Ok(info_struct(&info::read(
            one(snap, p.str(0)?)?,
            SystemTime::now(),
        ))),
        "getAllProcessInfo" => Ok(all_info(snap)),
        "getAllConfigInfo" => Ok(config_info(snap)),
        "startProcess" => on_one_or_group(snap, p.str(0)?, p.wait(1)?, Action::Start),
        "stopProcess" => on_one_or_group(snap, p.str(0)?, p.wait(1)?, Action::Stop),
        "signalProcess" => on_one_or_group(snap, p.str(0)?, false, Action::Signal(p.text(1)?)),
        "startProcessGroup" => on_group(snap, p.str(0)?, p.wait(1)?, Action::Start),
        "stopProcessGroup" => on_group(snap, p.str(0)?, p.wait(1)?, Action::Stop),
        "signalProcessGroup" => on_group(snap, p.str(0)?, false, Action::Signal(p.text(1)?)),
        "startAllProcesses" => Ok(on_all(by_priority(snap, None), p.wait(0)?, &Action::Start)),
        // In priority order, as supervisord's RPC does (only its own shutdown goes in
        // reverse).
        "stopAllProcesses" => Ok(on_all(by_priority(snap, None), p.wait(0)?, &Action::Stop)),
        "signalAllProcesses" => Ok(on_all(
            by_priority(snap, None),
            false,
            &Action::Signal(p.text(0)?),
        )),
        "readProcessStdoutLog" | "readProcessLog" | "readProcessStderrLog" => {
            let s = one(snap, p.str(0)?)?;
            let path = control::log_path(s, name == "readProcessStderrLog");
            let data = control::read_log(&path, p.int(1)?, p.int(2)?)?;
            Ok(Value::String(String::from_utf8_lossy(&data).into_owned()))
        }
        "tailProcessStdoutLog" | "tailProcessLog" | "tailProcessStderrLog" => {
            let s = one(snap, p.str(0)?)?;
            let path = control::log_path(s, name == "tailProcessStderrLog");
            let (data, offset, overflow) = control::tail_log(&path, p.int(1)?, p.int(2)?);
            Ok(Value::Array(vec![
                Value::String(String::from_utf8_lossy(&data).into_owned()),
                Value::Int(offset),
                Value::Bool(overflow),
            ]))
        }
        "clearProcessLogs" | "clearProcessLog" => {
            control::clear_logs(one(snap, p.str(0)?)?).map(|()| Value::Bool(true))
        }
        "clearAllProcessLogs" => Ok(on_all(by_priority(snap, None), false, &Action::Clear)),
        "sendProcessStdin" => {
            let s = one(snap, p.str(0)?)?;
            p.str(1)?;
            Err(RpcError::new(
                Fault::NoFile,
                format!("{}: stdin is /dev/null under supervise", s.name),
            ))
        }
        _ => Err(RpcError::bare(Fault::UnknownMethod)),
    }
}

/// What is done to processes.
enum Action {
    Start,
    Stop,
    Signal(String),
    Clear,
}

impl Action {
    fn run(&self, s: &Service, wait: bool) -> Result<(), RpcError> {
        match self {
            Action::Start => control::start(s, wait),
            Action::Stop => control::stop(s, wait),
            Action::Signal(sig) => control::signal(s, sig),
            Action::Clear => control::clear_logs(s),
        }
    }

    /// Whether it applies to a process in this state (supervisord skips the others
    /// in a group or `all` action).
    fn applies(&self, state: State) -> bool {
        match self {
            Action::Start => !matches!(state, State::Running | State::Starting | State::Backoff),
            Action::Stop => matches!(state, State::Running | State::Starting | State::Backoff),
            Action::Signal(_) => {
                matches!(state, State::Running | State::Starting | State::Stopping)
            }
            Action::Clear => true,
        }
    }
}

/// supervisord's `split_namespec`: `group:name`, `group:*` (None), or `name` (its own
/// group).
fn split(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((g, "*")) => (g, None),
        Some((g, n)) => (g, Some(n)),
        None => (spec, Some(spec)),
    }
}

/// The one process `spec` names.
fn one<'a>(snap: &'a Snapshot, spec: &str) -> Result<&'a Service, RpcError> {
    match split(spec) {
        (g, Some(n)) => snap
            .services
            .iter()
            .find(|s| s.group == g && s.process == n)
            .ok_or_else(|| RpcError::new(Fault::BadName, spec)),
        _ => Err(RpcError::new(Fault::BadName, spec)),
    }
}

/// A process (`startProcess`), or a group for `group:*`.
fn on_one_or_group(snap: &Snapshot, spec: &str, wait: bool, a: Action) -> Result<Value, RpcError> {
    if let (g, None) = split(spec) {
        return on_group(snap, g, wait, a);
    }
    let group = split(spec).0;
    if !snap.services.iter().any(|s| s.group == group) {
        return Err(RpcError::new(Fault::BadName, spec));
    }
    a.run(one(snap, spec)?, wait).map(|()| Value::Bool(true))
}

fn on_group(snap: &Snapshot, group: &str, wait: bool, a: Action) -> Result<Value, RpcError> {
    let members = by_priority(snap, Some(group));
    if members.is_empty() {
        return Err(RpcError::new(Fault::BadName, group));
    }
    Ok(on_all(members, wait, &a))
}

/// The processes (of `group`, or all) in priority order.
fn by_priority<'a>(snap: &'a Snapshot, group: Option<&str>) -> Vec<&'a Service> {
    let mut v: Vec<&Service> = snap
        .services
        .iter()
        .filter(|s| group.is_none_or(|g| s.group == g))
        .collect();
    v.sort_by_key(|s| s.priority);
    v
}

/// Each process the action applies to, in order: its result struct.
fn on_all(order: Vec<&Service>, wait: bool, a: &Action) -> Value {
    let now = SystemTime::now();
    let list: Vec<&Service> = order
        .into_iter()
        .filter(|s| a.applies(info::read(s, now).state))
        .collect();
    // Starts and stops go out together and are waited for together.
    let results = match a {
        Action::Start => control::start_many(&list, wait),
        Action::Stop => control::stop_many(&list, wait),
        _ => list.iter().map(|s| a.run(s, wait)).collect(),
    };
    let out = list
        .iter()
        .zip(results)
        .map(|(s, r)| {
            let (status, description) = match r {
                Ok(()) => (Fault::Success as i64, "OK".to_owned()),
                Err(e) => (e.code(), e.text()),
            };
            Value::Struct(vec![
                ("name".into(), Value::String(s.process.clone())),
                ("group".into(), Value::String(s.group.clone())),
                ("status".into(), Value::Int(status)),
                ("description".into(), Value::String(description)),
            ])
        })
        .collect();
    Value::Array(out)
}

/// `getProcessInfo`'s struct.
pub fn info_struct(i: &Info) -> Value {
    let s = |v: &str| Value::String(v.to_owned());
    Value::Struct(vec![
        ("name".into(), s(&i.name)),
        ("group".into(), s(&i.group)),
        ("start".into(), Value::Int(capped(i.start))),
        ("stop".into(), Value::Int(capped(i.stop))),
        ("now".into(), Value::Int(capped(i.now))),
        ("state".into(), Value::Int(i64::from(i.state.code()))),
        ("statename".into(), s(i.state.name())),
        ("spawnerr".into(), s(&i.spawnerr)),
        ("exitstatus".into(), Value::Int(i64::from(i.exitstatus))),
        ("logfile".into(), s(&i.stdout_logfile)),
        ("stdout_logfile".into(), s(&i.stdout_logfile)),
        ("stderr_logfile".into(), s(&i.stderr_logfile)),
        ("pid".into(), Value::Int(i64::from(i.pid))),
        ("description".into(), s(&i.description)),
    ])
}

/// A time as supervisord sends it: at most the largest XML-RPC int (`capped_int`).
fn capped(t: i64) -> i64 {
    t.clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

/// `getAllProcessInfo`: every process, by group name then name.
pub fn all_info(snap: &Snapshot) -> Value {
    let mut v: Vec<&Service> = snap.services.iter().collect();
    v.sort_by(|a, b| (&a.group, &a.process).cmp(&(&b.group, &b.process)));
    let now = SystemTime::now();
    Value::Array(
        v.into_iter()
            .map(|s| info_struct(&info::read(s, now)))
            .collect(),
    )
}

/// `getAllConfigInfo`: each process's settings, sorted by name.
fn config_info(snap: &Snapshot) -> Value {
    let active: std::collections::BTreeSet<&str> =
        snap.services.iter().map(|s| s.group.as_str()).collect();
    let mut rows: Vec<(String, Value)> = snap
        .specs
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                spec_struct(p, active.contains(p.group.as_str())),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Array(rows.into_iter().map(|(_, v)| v).collect())
}

fn spec_struct(p: &crate::host::config::program::ProcessSpec, inuse: bool) -> Value {
    use crate::host::config::program::Logfile;
    let s = |v: &str| Value::String(v.to_owned());
    let log = |l: &Logfile| match l {
        Logfile::Auto => s("auto"),
        Logfile::None => s("none"),
        Logfile::Path(p) => s(p),
    };
    let opt = |v: &Option<String>| v.as_deref().map_or_else(|| s("none"), s);
    Value::Struct(vec![
        ("autostart".into(), Value::Bool(p.autostart)),
        ("directory".into(), opt(&p.directory)),
        (
            "uid".into(),
            p.uid
                .map_or_else(|| s("none"), |u| Value::Int(i64::from(u))),
        ),
        ("command".into(), s(&p.command)),
        (
            "exitcodes".into(),
            Value::Array(
                p.exitcodes
                    .iter()
                    .map(|c| Value::Int(i64::from(*c)))
                    .collect(),
            ),
        ),
        ("group".into(), s(&p.group)),
        ("group_prio".into(), Value::Int(p.priority)),
        ("inuse".into(), Value::Bool(inuse)),
        ("killasgroup".into(), Value::Bool(p.killasgroup)),
        ("name".into(), s(&p.name)),
        ("process_prio".into(), Value::Int(p.priority)),
        ("redirect_stderr".into(), Value::Bool(p.redirect_stderr)),
        ("startretries".into(), Value::Int(p.startretries)),
        ("startsecs".into(), Value::Int(p.startsecs)),
        (
            "stdout_capture_maxbytes".into(),
            Value::Int(p.stdout.capture_maxbytes),
        ),
        (
            "stdout_events_enabled".into(),
            Value::Bool(p.stdout.events_enabled),
        ),
        ("stdout_logfile".into(), log(&p.stdout.logfile)),
        (
            "stdout_logfile_backups".into(),
            Value::Int(p.stdout.backups),
        ),
        (
            "stdout_logfile_maxbytes".into(),
            Value::Int(p.stdout.maxbytes),
        ),
        ("stdout_syslog".into(), Value::Bool(p.stdout.syslog)),
        ("stopsignal".into(), Value::Int(i64::from(p.stopsignal))),
        ("stopwaitsecs".into(), Value::Int(p.stopwaitsecs)),
        (
            "stderr_capture_maxbytes".into(),
            Value::Int(p.stderr.capture_maxbytes),
        ),
        (
            "stderr_events_enabled".into(),
            Value::Bool(p.stderr.events_enabled),
        ),
        ("stderr_logfile".into(), log(&p.stderr.logfile)),
        (
            "stderr_logfile_backups".into(),
            Value::Int(p.stderr.backups),
        ),
        (
            "stderr_logfile_maxbytes".into(),
            Value::Int(p.stderr.maxbytes),
        ),
        ("stderr_syslog".into(), Value::Bool(p.stderr.syslog)),
        (
            "serverurl".into(),
            p.serverurl.as_deref().map_or_else(|| s("auto"), s),
        ),
    ])
}

/// `readLog`: the host's own log, by supervisord's `readFile` rules.
fn main_log(snap: &Snapshot, p: &Params) -> Result<Value, RpcError> {
    let path = snap
        .logfile
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let data = control::read_log(&path, p.int(0)?, p.int(1)?)?;
    Ok(Value::String(String::from_utf8_lossy(&data).into_owned()))
}

/// `clearLog`: empties the host's own log (never through a link, never a FIFO).
fn clear_main_log(snap: &Snapshot) -> Result<Value, RpcError> {
    let path = snap
        .logfile
        .as_ref()
        .ok_or_else(|| RpcError::bare(Fault::NoFile))?;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(RpcError::bare(Fault::NoFile));
    };
    crate::statusdir::Dir::open(dir)
        .map_err(|_| RpcError::bare(Fault::NoFile))?
        .truncate(&name.to_string_lossy())
        .map(|()| Value::Bool(true))
        .map_err(|_| RpcError::bare(Fault::Failed))
}
