//! One connection: requests read within their limits and deadlines, handed to the
//! handler, answered; kept alive as HTTP/1.1 says, closed after an error, an idle
//! spell, or a streamed answer.
//!
//! A connection is a thread blocked in `read` with a receive timeout: a client that
//! sends a byte a second holds its own thread until the head deadline, nothing else;
//! an idle keep-alive connection wakes once, at its idle timeout, to close.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::request::{self, Refusal, Request};
use super::{Body, Handler, Response};

/// Time to receive a whole request head (and its body) once it has begun.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a kept-alive connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time a response may take to be written.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// A stream with settable timeouts (a TCP or a Unix socket).
pub trait Socket: Read + Write + Send + AsFd {
    /// Sets the receive timeout.
    fn read_timeout(&self, t: Duration) -> io::Result<()>;
    /// Sets the send timeout.
    fn write_timeout(&self, t: Duration) -> io::Result<()>;
}

impl Socket for std::net::TcpStream {
    fn read_timeout(&self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))
    }
    fn write_timeout(&self, t: Duration) -> io::Result<()> {
        self.set_write_timeout(Some(t))
    }
}

impl Socket for std::os::unix::net::UnixStream {
    fn read_timeout(&self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))
    }
    fn write_timeout(&self, t: Duration) -> io::Result<()> {
        self.set_write_timeout(Some(t))
    }
}

/// Serves requests on `sock` until it closes.
pub fn serve(mut sock: impl Socket, handler: &dyn Handler) {
    let _ = sock.write_timeout(WRITE_TIMEOUT);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    // A connection that says nothing has the head's time, not the idle time.
    let mut first = true;
    loop {
        let idle = if first { HEAD_TIMEOUT } else { IDLE_TIMEOUT };
        first = false;
        let req = match read_request(&mut sock, &mut buf, idle) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(Refusal(status)) => {
                let _ = write_simple(&mut sock, status);
                return;
            }
        };
        let keep = req.keep_alive();
        let head_only = req.method == "HEAD";
        let resp = handler.handle(&req);
        match write_response(&mut sock, resp, keep, head_only) {
            Ok(true) => {}
            Ok(false) | Err(_) => return,
        }
    }
}

/// Reads one request: `Ok(None)` when the client closed or went idle between
/// requests; a refusal for a malformed, oversized or too slow one.
fn read_request(
    sock: &mut impl Socket,
    buf: &mut Vec<u8>,
    idle: Duration,
) -> Result<Option<Request>, Refusal> {
    let mut deadline: Option<Instant> = None;
    loop {
        if !buf.is_empty() {
            if let Some((mut req, head, body)) = request::parse_head(buf)? {
                let start = deadline.unwrap_or_else(|| Instant::now() + HEAD_TIMEOUT);
                read_body(sock, buf, head + body, start)?;
                req.body = buf[head..head + body].to_vec();
                buf.drain(..head + body);
                return Ok(Some(req));
            }
        }
        let wait = match deadline {
            // Between requests: the idle timeout; once one has begun, its deadline.
            None if buf.is_empty() => idle,
            None => {
                deadline = Some(Instant::now() + HEAD_TIMEOUT);
                HEAD_TIMEOUT
            }
            Some(d) => d
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or(Refusal(408))?,
        };
        match fill(sock, buf, wait) {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(Refusal(400)),
            Ok(_) => {
                deadline.get_or_insert_with(|| Instant::now() + HEAD_TIMEOUT);
            }
            Err(e) if timed_out(&e) && buf.is_empty() && deadline.is_none() => return Ok(None),
            Err(e) if timed_out(&e) => return Err(Refusal(408)),
            Err(_) => return Ok(None),
        }
    }
}

/// Reads until `buf` holds `want` bytes, by `deadline`.
fn read_body(
    sock: &mut impl Socket,
    buf: &mut Vec<u8>,
    want: usize,
    deadline: Instant,
) -> Result<(), Refusal> {
    while buf.len() < want {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(Refusal(408))?;
        match fill(sock, buf, left) {
            Ok(0) => return Err(Refusal(400)),
            Ok(_) => {}
            Err(e) if timed_out(&e) => return Err(Refusal(408)),
            Err(_) => return Err(Refusal(400)),
        }
    }
    Ok(())
}

/// One read into `buf`, waiting at most `wait`.
fn fill(sock: &mut impl Socket, buf: &mut Vec<u8>, wait: Duration) -> io::Result<usize> {
    sock.read_timeout(wait)?;
    let mut chunk = [0u8; 8192];
    loop {
        match sock.read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A bare response for a refused request (the connection closes after it).
pub fn write_simple(sock: &mut impl Write, status: u16) -> io::Result<()> {
    let body = format!("{status} {}\n", request::reason(status));
    let head = request::head(
        status,
        &[("Content-Type".into(), "text/plain".into())],
        Some(body.len()),
        true,
    );
    sock.write_all(head.as_bytes())?;
    sock.write_all(body.as_bytes())?;
    sock.flush()
}

/// Writes a response; `Ok(true)` if the connection goes on.
fn write_response(
    sock: &mut impl Socket,
    resp: Response,
    keep: bool,
    head_only: bool,
) -> io::Result<bool> {
    match resp.body {
        Body::Bytes(bytes) => {
            let head = request::head(resp.status, &resp.headers, Some(bytes.len()), !keep);
            let mut out = head.into_bytes();
            // HEAD: the length the body would have, and no body.
            if !head_only {
                out.extend_from_slice(&bytes);
            }
            sock.write_all(&out)?;
            sock.flush()?;
            Ok(keep)
        }
        Body::Stream(stream) => {
            let head = request::head(resp.status, &resp.headers, None, true);
            sock.write_all(head.as_bytes())?;
            sock.flush()?;
            if head_only {
                return Ok(false);
            }
            let fd = sock.as_fd().try_clone_to_owned()?;
            stream(sock, fd.as_fd())?;
            Ok(false)
        }
    }
}
