//! What the host's HTTP server answers ([`Site`], one per configured server):
//!
//! | path | what |
//! |---|---|
//! | `POST /RPC2` | supervisord's XML-RPC ([`crate::host::rpc`]) |
//! | `GET /` | the web page ([`page`]) |
//! | `GET /api/processes`, `/api/processes/NAME` | JSON, the fields of `svc status --json` and supervisord's |
//! | `POST /api/processes/NAME/start\|stop\|restart\|signal` | an action; `signal` takes `?signal=HUP` |
//! | `GET /metrics` | Prometheus text, the families of `svc status --prom` |
//! | `GET /logtail/NAME[/stdout\|/stderr]`, `/mainlogtail` | a log followed, as supervisorctl's `tail -f` reads it |
//!
//! Everything is behind the server's basic auth when it has a username. A read-only
//! server answers reads and refuses every change (403, or `FAILED: read-only` over
//! XML-RPC). Changes come only by POST, and only from a client that could not have
//! been tricked by another site: XML-RPC needs `Content-Type: text/xml` and the JSON
//! API the `X-Requested-With: supervise` header, neither of which a cross-site form
//! can send without the browser asking first (which is never answered); and a
//! request whose `Origin` is not this server's is refused.

pub mod api;
pub mod page;
pub mod tail;

use std::sync::Arc;

use super::http::auth::Credentials;
use super::http::{Handler, Request, Response};
use super::hub::Hub;
use super::rpc::{methods, xml};

/// The header the page's script sends with every change.
pub const CSRF_HEADER: &str = "x-requested-with";
/// Its value.
pub const CSRF_VALUE: &str = "supervise";

/// One configured server: its credentials and mode, over the host's hub.
pub struct Site {
    hub: Arc<Hub>,
    credentials: Option<Credentials>,
    read_only: bool,
    /// A Unix socket: no browser reaches it, so no name can be rebound to it.
    local: bool,
}

impl Site {
    /// A site for `server`.
    pub fn new(hub: Arc<Hub>, server: &super::config::server::HttpServer) -> Site {
        let credentials = match (&server.username, &server.password) {
            (Some(u), Some(p)) => Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }),
            _ => None,
        };
        Site {
            hub,
            credentials,
            read_only: server.read_only,
            local: matches!(server.listen, super::config::server::Listen::Unix { .. }),
        }
    }

    fn route(&self, req: &Request) -> Response {
        let path = req.path.as_str();
        match (req.method.as_str(), path) {
            ("POST", "/RPC2") => self.rpc(req),
            (_, "/RPC2") => Response::text(405, "XML-RPC is POST\n").with("Allow", "POST"),
            ("GET" | "HEAD", "/") => page::page(&self.hub, self.read_only),
            ("GET", "/metrics") => api::metrics(&self.hub),
            ("GET", "/mainlogtail") => tail::main(&self.hub),
            ("GET", p) if p.starts_with("/logtail/") => {
                tail::process(&self.hub, &p["/logtail/".len()..])
            }
            ("GET", "/api/processes") => api::list(&self.hub),
            ("GET", p) if p.starts_with("/api/processes/") => {
                api::one(&self.hub, &p["/api/processes/".len()..])
            }
            ("POST", p) if p.starts_with("/api/processes/") => {
                self.action(req, &p["/api/processes/".len()..])
            }
            (_, "/" | "/metrics" | "/mainlogtail" | "/api/processes") => {
                Response::text(405, "method not allowed\n").with("Allow", "GET")
            }
            _ => Response::text(404, "not found\n"),
        }
    }

    /// A change asked through the JSON API (or the page).
    fn action(&self, req: &Request, rest: &str) -> Response {
        if self.read_only {
            return api::error(403, "this server is read-only");
        }
        if !req
            .header(CSRF_HEADER)
            .is_some_and(|v| v.eq_ignore_ascii_case(CSRF_VALUE))
        {
            return api::error(403, "a change needs the X-Requested-With: supervise header");
        }
        api::act(&self.hub, req, rest)
    }

    fn rpc(&self, req: &Request) -> Response {
        let xml_type = req
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/xml"));
        if !xml_type {
            return Response::text(415, "XML-RPC needs Content-Type: text/xml\n");
        }
        let body = match xml::parse_call(&req.body) {
            Ok(call) => match methods::dispatch(&self.hub, self.read_only, &call) {
                Ok(v) => xml::response(&v),
                Err(e) => xml::fault(e.code(), &e.text()),
            },
            Err(e) => return Response::text(400, format!("not an XML-RPC call: {e}\n")),
        };
        Response::bytes(200, "text/xml", body)
    }
}

/// Whether a browser's `Origin` (if any) is this server itself.
fn same_origin(req: &Request) -> bool {
    let Some(origin) = req.header("origin") else {
        return true;
    };
    let host = req.header("host").unwrap_or("");
    let bare = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or(origin);
    !host.is_empty() && bare.eq_ignore_ascii_case(host)
}

/// Whether the request was addressed to an IP address or `localhost` (a page on
/// another site that made its own name point at us says its own name here).
fn addressed_by_ip(req: &Request) -> bool {
    let host = req.header("host").unwrap_or("localhost");
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

impl Handler for Site {
    fn handle(&self, req: &Request) -> Response {
        match &self.credentials {
            Some(c) if !c.accepts(req.header("authorization")) => {
                return Response::text(401, "401 Unauthorized\n")
                    .with("WWW-Authenticate", "Basic realm=\"supervise\"");
            }
            // Without a password, a name that is not ours could be DNS rebinding.
            None if !self.local && !addressed_by_ip(req) => {
                return Response::text(
                    403,
                    "without credentials, address this server by IP or localhost\n",
                );
            }
            _ => {}
        }
        if req.method != "GET" && req.method != "HEAD" && !same_origin(req) {
            return Response::text(403, "cross-origin request refused\n");
        }
        self.route(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            path: "/RPC2".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            http11: true,
            ..Request::default()
        }
    }

    #[test]
    fn rebinding_names_are_refused_without_credentials() {
        for (h, ok) in [
            ("127.0.0.1:9001", true),
            ("localhost:9001", true),
            ("[::1]:9001", true),
            ("10.0.0.5", true),
            ("attacker.example:9001", false),
            ("localhost.attacker.example", false),
        ] {
            assert_eq!(addressed_by_ip(&req("GET", &[("host", h)])), ok, "{h}");
        }
    }

    #[test]
    fn origins() {
        assert!(same_origin(&req("POST", &[("host", "h:9001")])));
        assert!(same_origin(&req(
            "POST",
            &[("host", "h:9001"), ("origin", "http://h:9001")]
        )));
        assert!(!same_origin(&req(
            "POST",
            &[("host", "h:9001"), ("origin", "http://evil.example")]
        )));
        assert!(!same_origin(&req("POST", &[("origin", "http://h:9001")])));
    }
}
