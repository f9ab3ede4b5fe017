//! The JSON API and `/metrics`: the same fields as `svc status --json` and the same
//! families as `svc status --prom` (one description of a service, whoever asks),
//! plus supervisord's name, group, state and description for each process.

use std::time::SystemTime;

use crate::host::control;
use crate::host::http::{Request, Response};
use crate::host::hub::Hub;
use crate::host::info;
use crate::host::service::Service;
use crate::svc::report;

/// A JSON error: `{"error": "..."}` with `status`.
pub fn error(status: u16, message: &str) -> Response {
    Response::bytes(
        status,
        "application/json",
        format!("{{\"error\":{}}}\n", report::json_str(message)),
    )
}

/// A process read once: supervisord's description of it, and `svc status`'s.
pub fn read(
    s: &Service,
    now: SystemTime,
) -> (info::Info, Result<report::View, report::Unreadable>) {
    match report::inspect_raw(&s.dir) {
        Ok((view, (status, record))) => (
            info::build(
                s,
                view.supervise_running,
                Some(status),
                record.as_ref(),
                now,
            ),
            Ok(view),
        ),
        Err(u) => (info::read(s, now), Err(u)),
    }
}

/// One process as JSON.
fn process_json(s: &Service, now: SystemTime) -> String {
    let (i, view) = read(s, now);
    let head = format!(
        "{{\"name\":{},\"group\":{},\"process\":{},\"statename\":{},\"statecode\":{},\"description\":{},",
        report::json_str(&s.name),
        report::json_str(&s.group),
        report::json_str(&s.process),
        report::json_str(i.state.name()),
        i.state.code(),
        report::json_str(&i.description),
    );
    let body = match view {
        Ok(v) => report::json(&v, now),
        Err(u) => report::json_error(&u),
    };
    format!("{head}{}", body.strip_prefix('{').unwrap_or(&body))
}

/// `GET /api/processes`: every process, by group then name.
pub fn list(hub: &Hub) -> Response {
    let snap = hub.snapshot();
    let mut v: Vec<&Service> = snap.services.iter().collect();
    v.sort_by(|a, b| (&a.group, &a.process).cmp(&(&b.group, &b.process)));
    let now = SystemTime::now();
    let items: Vec<String> = v.into_iter().map(|s| process_json(s, now)).collect();
    Response::bytes(200, "application/json", format!("[{}]\n", items.join(",")))
}

fn find<'a>(snap: &'a crate::host::hub::Snapshot, name: &str) -> Option<&'a Service> {
    let name = crate::host::http::request::percent_decode(name);
    snap.services.iter().find(|s| s.name == name)
}

/// `GET /api/processes/NAME`.
pub fn one(hub: &Hub, name: &str) -> Response {
    let snap = hub.snapshot();
    match find(&snap, name) {
        Some(s) => Response::bytes(
            200,
            "application/json",
            process_json(s, SystemTime::now()) + "\n",
        ),
        None => error(404, "no such process"),
    }
}

/// `POST /api/processes/NAME/ACTION`.
pub fn act(hub: &Hub, req: &Request, rest: &str) -> Response {
    let Some((name, action)) = rest.rsplit_once('/') else {
        return error(
            404,
            "say /api/processes/NAME/start, stop, restart or signal",
        );
    };
    let snap = hub.snapshot();
    let Some(s) = find(&snap, name) else {
        return error(404, "no such process");
    };
    let outcome = match action {
        "start" => control::start(s, true),
        "stop" => control::stop(s, true),
        "restart" => match control::stop(s, true) {
            Ok(())
            | Err(control::RpcError {
                fault: control::Fault::NotRunning,
                ..
            }) => control::start(s, true),
            Err(e) => Err(e),
        },
        "signal" => match req.query_param("signal") {
            Some(sig) => control::signal(s, &sig),
            None => return error(400, "signal needs ?signal=NAME"),
        },
        _ => return error(404, "say start, stop, restart or signal"),
    };
    match outcome {
        Ok(()) => Response::bytes(
            200,
            "application/json",
            process_json(s, SystemTime::now()) + "\n",
        ),
        Err(e) => Response::bytes(
            409,
            "application/json",
            format!(
                "{{\"error\":{},\"fault\":{},\"faultString\":{}}}\n",
                report::json_str(&e.text()),
                e.code(),
                report::json_str(&e.text())
            ),
        ),
    }
}

/// `GET /metrics`: `svc status --prom` for every process.
pub fn metrics(hub: &Hub) -> Response {
    let snap = hub.snapshot();
    let views: Vec<_> = snap
        .services
        .iter()
        .map(|s| report::inspect(&s.dir))
        .collect();
    Response::bytes(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        report::prom(&views, SystemTime::now()),
    )
}
