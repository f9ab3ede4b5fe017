//! Readiness and health, as values: how a service says it is ready (`ready`), how
//! it is checked while it runs (`health`), and the systemd notification protocol's
//! messages. Pure: parsing and decoding only; running the probes is
//! [`crate::probe`]'s, and the loop's.

use std::net::SocketAddr;
use std::time::Duration;

/// How supervise learns that a started service is ready.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Ready {
    /// At once: up is ready (the default, and the legacy behaviour).
    #[default]
    Now,
    /// Once it has stayed up this long (supervisord's `startsecs`).
    After(Duration),
    /// The systemd protocol: `READY=1` on the socket named by `NOTIFY_SOCKET`.
    Notify,
    /// s6's: a newline written to this descriptor.
    Fd(i32),
    /// A probe that succeeds.
    Probe(Check),
}

impl std::fmt::Display for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ready::Now => f.write_str("none"),
            Ready::After(d) => write!(f, "startsecs {}", d.as_secs_f64()),
            Ready::Notify => f.write_str("notify"),
            Ready::Fd(n) => write!(f, "fd {n}"),
            Ready::Probe(c) => c.fmt(f),
        }
    }
}

/// A check run by supervise: a connection, a request, or a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// A TCP connection that opens.
    Tcp(SocketAddr),
    /// An HTTP request answered 2xx: the address, the Host header, the path.
    Http(SocketAddr, String, String),
    /// A command that exits 0 (split and run as `-f` runs one).
    Exec(String),
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Tcp(a) => write!(f, "tcp {a}"),
            Check::Http(a, host, path) => write!(f, "http http://{host}{path} ({a})"),
            Check::Exec(c) => write!(f, "exec {c}"),
        }
    }
}

/// `HOST:PORT` where HOST is an IP address or `localhost` (no name lookup: it could
/// block the loop, and a service checks itself on this host).
pub fn address(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port"))?;
    match host {
        "localhost" => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        _ => Err(format!(
            "{host:?} is not an IP address or localhost (no name is looked up)"
        )),
    }
}

/// `http://HOST:PORT/PATH` (plain HTTP; HOST an address or `localhost`).
fn http(url: &str) -> Result<Check, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok(Check::Http(
        address(&with_port)?,
        authority.to_owned(),
        path.to_owned(),
    ))
}

/// A check's words: `tcp HOST:PORT`, `http URL`, `exec COMMAND`.
pub fn check(v: &str) -> Result<Check, String> {
    let (kind, rest) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
    let rest = rest.trim();
    match kind {
        "tcp" => Ok(Check::Tcp(address(rest)?)),
        "http" => http(rest),
        "exec" if !rest.is_empty() => Ok(Check::Exec(rest.to_owned())),
        _ => Err(format!(
            "{v:?} is not tcp HOST:PORT, http URL or exec COMMAND"
        )),
    }
}

/// The `ready` key: `none`, `notify`, `fd N`, `startsecs SECS`, or a check.
pub fn ready(v: &str) -> Result<Ready, String> {
    let (kind, rest) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
    let rest = rest.trim();
    match kind {
        "" | "none" => Ok(Ready::Now),
        "notify" => Ok(Ready::Notify),
        "fd" => rest
            .parse::<i32>()
            .ok()
            .filter(|n| (3..=1024).contains(n))
            .map(Ready::Fd)
            .ok_or_else(|| format!("fd {rest:?}: a descriptor number from 3 to 1024")),
        "startsecs" => rest
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
            .map(|s| Ready::After(Duration::from_secs_f64(s)))
            .ok_or_else(|| format!("startsecs {rest:?}: a number of seconds")),
        _ => check(v).map(Ready::Probe),
    }
}

/// One field of a notification (`sd_notify(3)`); unknown ones are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `READY=1`.
    Ready,
    /// `RELOADING=1`.
    Reloading,
    /// `STOPPING=1`.
    Stopping,
    /// `STATUS=...`.
    Status(String),
    /// `MAINPID=N`.
    MainPid(u32),
    /// `WATCHDOG=1`.
    Watchdog,
    /// `WATCHDOG=trigger`: fail now.
    WatchdogTrigger,
    /// `EXTEND_TIMEOUT_USEC=N`.
    ExtendTimeout(Duration),
}

/// The most bytes a notification datagram is read for.
pub const NOTIFY_MAX: usize = 4096;

/// The fields of a datagram, `NAME=value` lines; malformed and unknown lines are
/// skipped, a `STATUS=` kept to 512 bytes.
pub fn notices(datagram: &[u8]) -> Vec<Notice> {
    let text = String::from_utf8_lossy(datagram);
    text.lines().filter_map(notice).collect()
}

fn notice(line: &str) -> Option<Notice> {
    let (k, v) = line.split_once('=')?;
    Some(match (k, v) {
        ("READY", "1") => Notice::Ready,
        ("RELOADING", "1") => Notice::Reloading,
        ("STOPPING", "1") => Notice::Stopping,
        ("STATUS", s) => Notice::Status(s.chars().take(512).collect()),
        ("MAINPID", n) => Notice::MainPid(n.parse().ok().filter(|&p| p > 1)?),
        ("WATCHDOG", "1") => Notice::Watchdog,
        ("WATCHDOG", "trigger") => Notice::WatchdogTrigger,
        ("EXTEND_TIMEOUT_USEC", n) => Notice::ExtendTimeout(Duration::from_micros(
            n.parse::<u64>().ok()?.min(1_000_000_000_000_000),
        )),
        _ => return None,
    })
}

/// The status line of an HTTP response is 2xx.
pub fn http_ok(response: &[u8]) -> bool {
    let line = response.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let proto = words.next().unwrap_or_default();
    let code = words.next().unwrap_or_default();
    proto.starts_with(b"HTTP/")
        && code.len() == 3
        && code[0] == b'2'
        && code.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_values() {
        assert_eq!(ready("none"), Ok(Ready::Now));
        assert_eq!(ready("notify"), Ok(Ready::Notify));
        assert_eq!(ready("fd 3"), Ok(Ready::Fd(3)));
        assert!(ready("fd 1").is_err(), "stdout is not free");
        assert_eq!(
            ready("startsecs 1.5"),
            Ok(Ready::After(Duration::from_millis(1500)))
        );
        assert_eq!(
            ready("tcp 127.0.0.1:6379"),
            Ok(Ready::Probe(Check::Tcp("127.0.0.1:6379".parse().unwrap())))
        );
        assert_eq!(
            ready("tcp localhost:80"),
            Ok(Ready::Probe(Check::Tcp("127.0.0.1:80".parse().unwrap())))
        );
        assert_eq!(
            ready("http http://localhost:8080/healthz"),
            Ok(Ready::Probe(Check::Http(
                "127.0.0.1:8080".parse().unwrap(),
                "localhost:8080".into(),
                "/healthz".into()
            )))
        );
        assert_eq!(
            ready("http http://[::1]/"),
            Ok(Ready::Probe(Check::Http(
                "[::1]:80".parse().unwrap(),
                "[::1]".into(),
                "/".into()
            )))
        );
        assert_eq!(
            ready("exec pg_isready -q"),
            Ok(Ready::Probe(Check::Exec("pg_isready -q".into())))
        );
        assert!(
            ready("tcp db.example.com:5432")
                .unwrap_err()
                .contains("no name is looked up")
        );
        assert!(ready("https https://x/").is_err());
        assert!(ready("exec").is_err());
    }

    #[test]
    fn notifications() {
        let n = notices(b"READY=1\nSTATUS=Processing requests\nMAINPID=4242\nX=y\nWATCHDOG=1\njunk\nEXTEND_TIMEOUT_USEC=5000000\n");
        assert_eq!(
            n,
            vec![
                Notice::Ready,
                Notice::Status("Processing requests".into()),
                Notice::MainPid(4242),
                Notice::Watchdog,
                Notice::ExtendTimeout(Duration::from_secs(5)),
            ]
        );
        assert_eq!(notices(b"MAINPID=1\nMAINPID=x"), vec![], "never pid 1");
        assert_eq!(
            notices(b"STOPPING=1\nRELOADING=1"),
            vec![Notice::Stopping, Notice::Reloading]
        );
    }

    #[test]
    fn http_status_lines() {
        assert!(http_ok(b"HTTP/1.1 200 OK\r\n"));
        assert!(http_ok(b"HTTP/1.0 204 No Content\r\n\r\n"));
        assert!(!http_ok(b"HTTP/1.1 503 Unavailable\r\n"));
        assert!(!http_ok(b"garbage"));
        assert!(!http_ok(b""));
    }
}
