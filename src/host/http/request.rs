//! HTTP/1.1 requests and responses as values: the head of a request parsed (with
//! `httparse`) within the limits, and a response written out. Pure: the connection
//! and its timeouts are [`super::conn`]'s.

use std::fmt::Write as _;

/// The most bytes a request's head may take.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most headers a request may have.
pub const MAX_HEADERS: usize = 64;
/// The largest body accepted (a `system.multicall` of many calls fits).
pub const MAX_BODY: usize = 1024 * 1024;

/// A request, head and body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// What follows `?`, undecoded.
    pub query: String,
    /// Headers in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// HTTP/1.1 (else 1.0).
    pub http11: bool,
}

impl Request {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The connection stays open after the response.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        if self.http11 {
            !conn.contains("close")
        } else {
            conn.contains("keep-alive")
        }
    }

    /// The value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }
}

/// `%XX` and `+` decoded; invalid escapes kept as they are.
pub fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = (b[i] == b'%')
            .then(|| Some(hex(*b.get(i + 1)?)? * 16 + hex(*b.get(i + 2)?)?))
            .flatten();
        match (b[i], escaped) {
            (_, Some(v)) => {
                out.push(v as u8);
                i += 3;
                continue;
            }
            (b'+', None) => out.push(b' '),
            (c, None) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a request is refused, as its status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal(pub u16);

/// The head of a request in `buf`: `Ok(None)` if incomplete; else the request
/// (without its body), the head's length, and the body's length.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize, usize)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(Refusal(431)),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal(431)),
        Err(_) => return Err(Refusal(400)),
    };
    if len > MAX_HEAD {
        return Err(Refusal(431));
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut r = Request {
        method: req.method.unwrap_or("GET").to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers: Vec::with_capacity(req.headers.len()),
        body: Vec::new(),
        http11: req.version == Some(1),
    };
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| Refusal(400))?;
        r.headers
            .push((h.name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    if r.header("transfer-encoding").is_some() {
        // Chunked request bodies: no client of ours sends one.
        return Err(Refusal(411));
    }
    let body = match r.header("content-length") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| Refusal(400))?,
    };
    if body > MAX_BODY {
        return Err(Refusal(413));
    }
    Ok(Some((r, len, body)))
}

/// The reason phrase of a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A response's head: status line and headers, `Content-Length` when the length is
/// known, `Connection: close` when the connection ends after it.
pub fn head(
    status: u16,
    headers: &[(String, String)],
    length: Option<usize>,
    close: bool,
) -> String {
    let mut s = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        let _ = write!(s, "{k}: {v}\r\n");
    }
    if let Some(n) = length {
        let _ = write!(s, "Content-Length: {n}\r\n");
    }
    if close {
        s.push_str("Connection: close\r\n");
    }
    s.push_str("\r\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_with_their_body_length() {
        let raw =
            b"POST /RPC2?x=1&name=a%3Ab+c HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\
                    Authorization: Basic dXNlcjpwYXNz\r\n\r\nhello";
        let (r, len, body) = parse_head(raw).unwrap().unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/RPC2"));
        assert_eq!(r.query_param("name").as_deref(), Some("a:b c"));
        assert_eq!(r.header("authorization"), Some("Basic dXNlcjpwYXNz"));
        assert_eq!(&raw[len..len + body], b"hello");
        assert!(r.keep_alive());
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap(), None);
    }

    #[test]
    fn hostile_heads_are_refused() {
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse_head(huge.as_bytes()), Err(Refusal(431)));
        let many: String = (0..100).map(|i| format!("H{i}: v\r\n")).collect();
        assert_eq!(
            parse_head(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            Err(Refusal(431))
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"),
            Err(Refusal(413))
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Err(Refusal(400))
        );
        assert_eq!(
            parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Refusal(411))
        );
        assert_eq!(parse_head(b"\x00\x01 garbage\r\n\r\n"), Err(Refusal(400)));
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
        assert_eq!(percent_decode("group%3A%2A"), "group:*");
    }

    #[test]
    fn response_heads() {
        assert_eq!(
            head(
                200,
                &[("Content-Type".into(), "text/xml".into())],
                Some(3),
                false
            ),
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 3\r\n\r\n"
        );
        assert!(head(401, &[], Some(0), true).ends_with("Connection: close\r\n\r\n"));
    }
}
