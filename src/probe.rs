//! One run of a check (a TCP connection, an HTTP request, a command), driven by the
//! loop: it never blocks. A connection is a non-blocking socket polled for its
//! connect and its answer; a command is a child process whose end supervise reaps;
//! each has a deadline, past which it has failed (and a command is killed).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrStorage, sockopt};
use nix::unistd::Pid;

use crate::ready::{Check, http_ok};

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not yet.
    Pending,
    /// It succeeded.
    Passed,
    /// It failed, and why (what the command printed, for an `exec`).
    Failed(String),
}

/// The most bytes of a command's output or an HTTP answer kept.
const KEEP: usize = 4096;

/// A run under way.
#[derive(Debug)]
enum Run {
    /// A connection: being made until `connected`; then, for HTTP, the request
    /// written and the answer read.
    Connection {
        sock: File,
        connected: bool,
        request: Option<Vec<u8>>,
        answer: Vec<u8>,
    },
    /// A command running: its pid, and its output (until it closes it).
    Command {
        pid: Pid,
        out: Option<File>,
        printed: Vec<u8>,
    },
}

/// One run of a check.
#[derive(Debug)]
pub struct Probe {
    check: Check,
    run: Run,
    deadline: Instant,
}

fn errno_text(e: Errno) -> String {
    std::io::Error::from(e).to_string()
}

impl Probe {
    /// Starts a run; `spawn` starts a command's process with its output on the
    /// given descriptor (the loop owns processes). An immediate failure is an `Err`.
    pub fn start(
        check: &Check,
        timeout: Duration,
        now: Instant,
        spawn: impl FnOnce(&str, BorrowedFd<'_>) -> std::io::Result<Pid>,
    ) -> Result<Probe, String> {
        let run = match check {
            Check::Tcp(addr) => connect(addr, None)?,
            Check::Http(addr, host, path) => {
                let request = format!(
                    "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: supervise\r\nConnection: close\r\n\r\n"
                );
                connect(addr, Some(request.into_bytes()))?
            }
            Check::Exec(command) => {
                let (r, w) = nix::unistd::pipe2(
                    nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK,
                )
                .map_err(errno_text)?;
                let pid = spawn(command, w.as_fd()).map_err(|e| format!("cannot run it: {e}"))?;
                Run::Command {
                    pid,
                    out: Some(File::from(r)),
                    printed: Vec::new(),
                }
            }
        };
        Ok(Probe {
            check: check.clone(),
            run,
            deadline: now + timeout,
        })
    }

    /// The descriptor to poll, and for what (none: a command that closed its output
    /// is waited for by its exit, or its deadline).
    pub fn fd(&self) -> Option<(BorrowedFd<'_>, PollFlags)> {
        Some(match &self.run {
            Run::Connection {
                sock,
                connected: false,
                ..
            } => (sock.as_fd(), PollFlags::POLLOUT),
            Run::Connection { sock, .. } => (sock.as_fd(), PollFlags::POLLIN),
            Run::Command { out, .. } => (out.as_ref()?.as_fd(), PollFlags::POLLIN),
        })
    }

    /// When it has failed if it has not ended.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The pid of a command's process.
    pub fn pid(&self) -> Option<Pid> {
        match &self.run {
            Run::Command { pid, .. } => Some(*pid),
            _ => None,
        }
    }

    /// What the check is, for messages.
    pub fn check(&self) -> &Check {
        &self.check
    }

    /// Its descriptor is ready.
    pub fn on_ready(&mut self) -> Outcome {
        match &mut self.run {
            Run::Connection {
                sock,
                connected: connected @ false,
                request,
                ..
            } => {
                let err = socket::getsockopt(&*sock, sockopt::SocketError).unwrap_or(libc::EIO);
                if err != 0 {
                    return Outcome::Failed(format!(
                        "connect: {}",
                        errno_text(Errno::from_raw(err))
                    ));
                }
                *connected = true;
                match request.take() {
                    None => Outcome::Passed,
                    // Small: one write into a fresh socket's buffer.
                    Some(r) => match sock.write_all(&r) {
                        Ok(()) => Outcome::Pending,
                        Err(e) => Outcome::Failed(format!("cannot send the request: {e}")),
                    },
                }
            }
            Run::Connection { sock, answer, .. } => read_answer(sock, answer),
            Run::Command { out, printed, .. } => {
                if out.as_mut().is_none_or(|f| read_some(f, printed)) {
                    *out = None;
                }
                Outcome::Pending
            }
        }
    }

    /// A command's process ended with `code` (None: killed by a signal).
    pub fn on_exit(&mut self, code: Option<i32>) -> Outcome {
        let Run::Command { out, printed, .. } = &mut self.run else {
            return Outcome::Pending;
        };
        if let Some(f) = out {
            let _ = read_some(f, printed);
        }
        let said = one_line(&String::from_utf8_lossy(printed));
        match code {
            Some(0) => Outcome::Passed,
            Some(c) => Outcome::Failed(format!("exited {c}{}", said_suffix(&said))),
            None => Outcome::Failed(format!("killed by a signal{}", said_suffix(&said))),
        }
    }

    /// The deadline passed: failed (a command is killed, its end reaped later).
    pub fn on_timeout(&mut self) -> Outcome {
        if let Run::Command { pid, .. } = &self.run {
            let _ = crate::kill::send(
                crate::machine::Target::Group(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        Outcome::Failed(format!(
            "no answer within the probe timeout ({})",
            self.check
        ))
    }
}

fn said_suffix(said: &str) -> String {
    if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    }
}

/// Starts a non-blocking connection.
fn connect(addr: &std::net::SocketAddr, request: Option<Vec<u8>>) -> Result<Run, String> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let sock = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(errno_text)?;
    let sa = SockaddrStorage::from(*addr);
    match socket::connect(std::os::fd::AsRawFd::as_raw_fd(&sock), &sa) {
        Ok(()) | Err(Errno::EINPROGRESS) => Ok(Run::Connection {
            sock: File::from(sock),
            connected: false,
            request,
            answer: Vec::new(),
        }),
        Err(e) => Err(format!("connect: {}", errno_text(e))),
    }
}

/// What a service or a check printed, as one line safe for a log or a terminal:
/// trimmed, line ends shown as ` | `, other control characters escaped.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, line) in s.trim().lines().enumerate() {
        if i > 0 {
            out.push_str(" | ");
        }
        for c in line.chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// Reads what is there (at most 64 kB a turn: a flood cannot hold the loop),
/// keeping the last [`KEEP`] bytes; `true` at the end.
fn read_some(f: &mut File, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 1024];
    for _ in 0..64 {
        match f.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => {
                into.extend_from_slice(&buf[..n]);
                if into.len() > KEEP {
                    into.drain(..into.len() - KEEP);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    false
}

fn read_answer(sock: &mut File, answer: &mut Vec<u8>) -> Outcome {
    let ended = read_some(sock, answer);
    if answer.contains(&b'\n') || ended {
        return if http_ok(answer) {
            Outcome::Passed
        } else {
            let line = answer.split(|&b| b == b'\n').next().unwrap_or_default();
            Outcome::Failed(format!(
                "answered {:?}",
                one_line(&String::from_utf8_lossy(line))
            ))
        };
    }
    Outcome::Pending
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn drive(p: &mut Probe) -> Outcome {
        loop {
            let (fd, flags) = p.fd().unwrap();
            let mut fds = [nix::poll::PollFd::new(fd, flags)];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(2000u16));
            match p.on_ready() {
                Outcome::Pending => continue,
                o => return o,
            }
        }
    }

    #[test]
    fn tcp_open_and_closed() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let now = Instant::now();
        let no_spawn = |_: &str, _: BorrowedFd<'_>| -> std::io::Result<Pid> { unreachable!() };
        let mut p = Probe::start(&Check::Tcp(addr), Duration::from_secs(2), now, no_spawn).unwrap();
        assert_eq!(drive(&mut p), Outcome::Passed);
        drop(l);
        let closed = match Probe::start(&Check::Tcp(addr), Duration::from_secs(2), now, no_spawn) {
            Ok(mut p) => drive(&mut p),
            Err(e) => Outcome::Failed(e),
        };
        assert!(
            matches!(closed, Outcome::Failed(ref m) if m.contains("refused")),
            "{closed:?}"
        );
    }

    #[test]
    fn http_answers() {
        for (answer, ok) in [
            ("HTTP/1.1 200 OK\r\n\r\nhi", true),
            ("HTTP/1.1 503 Busy\r\n\r\n", false),
        ] {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let server = std::thread::spawn(move || {
                let (mut c, _) = l.accept().unwrap();
                let mut req = [0u8; 512];
                let n = c.read(&mut req).unwrap();
                assert!(String::from_utf8_lossy(&req[..n]).starts_with("GET /health HTTP/1.0\r\n"));
                c.write_all(answer.as_bytes()).unwrap();
            });
            let check = Check::Http(addr, "localhost".into(), "/health".into());
            let no_spawn = |_: &str, _: BorrowedFd<'_>| -> std::io::Result<Pid> { unreachable!() };
            let mut p =
                Probe::start(&check, Duration::from_secs(2), Instant::now(), no_spawn).unwrap();
            let o = drive(&mut p);
            server.join().unwrap();
            assert_eq!(o == Outcome::Passed, ok, "{answer}: {o:?}");
        }
    }
}
