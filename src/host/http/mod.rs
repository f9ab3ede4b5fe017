//! The host's HTTP transport: the listeners supervisord's config names
//! (`[unix_http_server]`, `[inet_http_server]`), a thread per connection, and the
//! limits that keep a hostile or slow client to itself. What a request means is the
//! [`Handler`]'s business ([`crate::host::web`]); nothing here touches a process.
//!
//! Threads, not the host's loop: an accept thread per listener blocks in `accept`,
//! and each connection's thread blocks in `read` (see [`conn`]), so an idle server
//! makes no system call and a request that waits (a start with `wait`) holds only
//! its own thread. At most [`MAX_CONNECTIONS`] are served at once; the next gets a
//! 503 and is closed. No listener exists unless the config has one.
//!
//! Every HTTP thread runs at nice 19 (see [`yield_to_restarts`]): on a busy host the
//! per-service supervise processes, the host's loop and the services themselves get
//! the CPU first, so a flood of requests cannot delay a restart.

pub mod auth;
pub mod conn;
pub mod request;

use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::host::config::server::{HttpServer, Listen};
pub use request::Request;

/// The most connections served at once, over all listeners.
pub const MAX_CONNECTIONS: usize = 256;

/// A connection thread's stack: handlers are shallow (XML nesting is capped).
const STACK: usize = 256 * 1024;

/// Writes a streamed body; the descriptor is the connection's, to notice the
/// client leave.
pub type Streamer = Box<dyn FnOnce(&mut dyn Write, BorrowedFd<'_>) -> io::Result<()> + Send>;

/// A response's body.
pub enum Body {
    /// Known bytes.
    Bytes(Vec<u8>),
    /// Written as it comes (a log followed), then the connection closes.
    Stream(Streamer),
}

/// A response.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    /// A complete response of `content_type`.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Bytes(body.into()),
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::bytes(status, "text/plain; charset=utf-8", body.into())
    }

    /// Adds a header.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What answers requests.
pub trait Handler: Send + Sync {
    /// The response to `req`.
    fn handle(&self, req: &Request) -> Response;
}

/// A bound listener.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// Binds what `server` configures: a TCP port, or a Unix socket (a stale socket file
/// is replaced, one another server answers on is an error, and anything that is not a
/// socket is never removed), with its `chmod` and `chown`.
pub fn bind(server: &HttpServer) -> Result<Listener, String> {
    match &server.listen {
        Listen::Inet { host, port } => {
            let host = if host.is_empty() { "0.0.0.0" } else { host };
            TcpListener::bind((host, *port))
                .map(Listener::Tcp)
                .map_err(|e| format!("[{}]: cannot listen on {host}:{port}: {e}", server.section))
        }
        Listen::Unix { file, chmod, chown } => bind_unix(&server.section, file, *chmod, *chown),
    }
}

fn bind_unix(
    section: &str,
    file: &str,
    chmod: u32,
    chown: Option<(u32, Option<u32>)>,
) -> Result<Listener, String> {
    let path = PathBuf::from(file);
    let err = |what: &str, e: io::Error| format!("[{section}]: {what} {file}: {e}");
    if let Ok(m) = std::fs::symlink_metadata(&path) {
        if !m.file_type().is_socket() {
            return Err(format!(
                "[{section}]: {file} exists and is not a socket: not removed"
            ));
        }
        if UnixStream::connect(&path).is_ok() {
            return Err(format!(
                "[{section}]: another program is already listening on {file}"
            ));
        }
        std::fs::remove_file(&path).map_err(|e| err("cannot remove the stale", e))?;
    }
    // Made private (no window in which anyone may connect), then given its mode.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let bound = UnixListener::bind(&path);
    nix::sys::stat::umask(old);
    let l = bound.map_err(|e| err("cannot listen on", e))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(chmod))
        .map_err(|e| err("cannot chmod", e))?;
    if let Some((uid, gid)) = chown {
        std::os::unix::fs::lchown(&path, Some(uid), gid).map_err(|e| err("cannot chown", e))?;
    }
    Ok(Listener::Unix(l, path))
}

/// Serves `listener` with `handler` from a thread of its own; `active` counts the
/// connections of every listener together.
pub fn spawn(
    listener: Listener,
    handler: Arc<dyn Handler>,
    active: Arc<AtomicUsize>,
) -> io::Result<()> {
    share_arenas();
    std::thread::Builder::new()
        .name("http-accept".into())
        .stack_size(STACK)
        .spawn(move || {
            yield_to_restarts();
            serve_listener(listener, &handler, &active)
        })
        .map(|_| ())
}

/// Lowers the calling thread to nice 19; the connection threads it starts inherit
/// it (Linux keeps a nice value per thread). The host's loop and every `supervise`
/// keep theirs: whatever the HTTP side is asked, a service's restart waits for no
/// HTTP thread (docs/BENCHMARKS.md: restarts under 200 clients).
fn yield_to_restarts() {
    // Raising one's own nice value is always allowed; should it fail all the same
    // (a seccomp filter), the server works as before, only at the normal priority.
    // The thread's id by the system call: a static glibc does not define gettid()
    // (std refers to it weakly, so a call through libc::gettid jumps to address 0).
    // SAFETY: gettid and setpriority on the calling thread touch no memory.
    let _ = unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19)
    };
}

fn serve_listener(listener: Listener, handler: &Arc<dyn Handler>, active: &Arc<AtomicUsize>) -> ! {
    match listener {
        Listener::Tcp(l) => loop {
            match l.accept() {
                Ok((s, _)) => {
                    let _ = s.set_nodelay(true);
                    keepalive(&s);
                    start(s, handler, active);
                }
                Err(e) => back_off(&e),
            }
        },
        Listener::Unix(l, _) => loop {
            match l.accept() {
                Ok((s, _)) => start(s, handler, active),
                Err(e) => back_off(&e),
            }
        },
    }
}

/// Out of descriptors (or memory): accept fails at once until some are freed, so
/// wait a little rather than spin. (The only sleep of the HTTP side: a thread of its
/// own that has nothing else to do.)
fn back_off(e: &io::Error) {
    if matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    ) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A client that vanished without a word (a NAT that forgot it, a laptop shut) is
/// noticed in about 90 s: a followed log's thread does not wait for ever.
fn keepalive(s: &std::net::TcpStream) {
    use nix::sys::socket::{setsockopt, sockopt};
    let _ = setsockopt(s, sockopt::KeepAlive, &true);
    let _ = setsockopt(s, sockopt::TcpKeepIdle, &60);
    let _ = setsockopt(s, sockopt::TcpKeepInterval, &10);
    let _ = setsockopt(s, sockopt::TcpKeepCount, &3);
}

/// Serves one connection in its own thread, or refuses it when too many are open.
fn start<S: conn::Socket + 'static>(
    mut sock: S,
    handler: &Arc<dyn Handler>,
    active: &Arc<AtomicUsize>,
) {
    if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
        active.fetch_sub(1, Ordering::AcqRel);
        let _ = sock.write_timeout(std::time::Duration::from_secs(1));
        let _ = conn::write_simple(&mut sock, 503);
        return;
    }
    let (h, a) = (handler.clone(), active.clone());
    let spawned = std::thread::Builder::new()
        .name("http".into())
        .stack_size(STACK)
        .spawn(move || {
            conn::serve(sock, h.as_ref());
            if a.fetch_sub(1, Ordering::AcqRel) == 1 {
                give_back();
            }
        });
    if spawned.is_err() {
        active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// glibc gives each thread that allocates at once an arena of its own, up to eight per
/// core, and keeps what they free: 200 connection threads would leave their answers'
/// memory scattered over many arenas. Two are plenty for the HTTP side.
fn share_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt sets an allocator parameter; M_ARENA_MAX only caps new arenas.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// The last connection gone: the memory its answers took goes back to the system
/// (a burst of clients leaves the host as it found it, give or take the allocator's
/// bookkeeping).
fn give_back() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free memory of the allocator to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Removes a Unix listener's socket file (at exit).
pub fn unbind(path: &std::path::Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    struct Echo;
    impl Handler for Echo {
        fn handle(&self, req: &Request) -> Response {
            Response::text(
                200,
                format!("{} {} {}", req.method, req.path, req.body.len()),
            )
        }
    }

    fn listen() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let active = Arc::new(AtomicUsize::new(0));
        spawn(Listener::Tcp(l), Arc::new(Echo), active.clone()).unwrap();
        (addr, active)
    }

    fn exchange(addr: std::net::SocketAddr, raw: &[u8]) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        s.write_all(raw).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn keep_alive_requests_then_close() {
        let (addr, _) = listen();
        let out = exchange(
            addr,
            b"POST /RPC2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /x HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert!(
            out.contains("Content-Length: 12\r\n\r\nPOST /RPC2 3"),
            "{out}"
        );
        assert!(out.ends_with("Connection: close\r\n\r\nGET /x 0"), "{out}");
    }

    #[test]
    fn bad_requests_get_4xx_and_a_close() {
        let (addr, _) = listen();
        let out = exchange(addr, b"GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 413 "), "{out}");
        let out = exchange(addr, b"\x16\x03\x01 tls hello\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    }

    #[test]
    fn a_stale_socket_is_replaced_a_live_one_refused_a_file_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.sock");
        let server = |f: &std::path::Path| HttpServer {
            section: "unix_http_server".into(),
            listen: Listen::Unix {
                file: f.display().to_string(),
                chmod: 0o700,
                chown: None,
            },
            username: None,
            password: None,
            read_only: false,
            file: PathBuf::new(),
            line: 1,
        };
        drop(UnixListener::bind(&file).unwrap());
        let live = bind(&server(&file)).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(
            bind(&server(&file))
                .unwrap_err()
                .contains("already listening")
        );
        drop(live);
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "keep").unwrap();
        assert!(bind(&server(&plain)).unwrap_err().contains("not a socket"));
        assert_eq!(std::fs::read_to_string(&plain).unwrap(), "keep");
    }
}
