//! The host's events, with their I/O: state changes read from the status
//! directories turned into supervisord's PROCESS_STATE events (missed steps filled
//! in), the host's own events and ticks, fanned out to the pools that subscribe, and
//! the listeners' connections.
//!
//! A listener's stdin and stdout are a connection to the host's socket
//! (`STATUS_ROOT/.host/events.sock`), made by its supervise at each start (the
//! `stdio_socket` key): the kernel's credentials on the connection name the
//! supervise, hence the process and its pool. Everything is non-blocking, in the
//! host's one `poll`; a tick is a deadline only while a pool subscribes to it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::poll::PollFlags;

use super::pool::{Handler, Pool};
use super::{Event, states};
use crate::host::config::HostConfig;
use crate::host::config::program::Kind;
use crate::host::info::{Info, State};
use crate::host::service::Service;

/// The name of the socket in the host's directory.
pub const SOCKET: &str = "events.sock";

/// The tick periods supervisord has.
const TICKS: [u64; 3] = [5, 60, 3600];

/// The most bytes kept for a listener that does not read (its pool's events wait).
const MAX_OUT: usize = 4 * 1024 * 1024;

/// A listener's connection.
struct Conn {
    stream: UnixStream,
    out: Vec<u8>,
}

/// What the host last saw of a process.
#[derive(Debug, Clone, Copy)]
struct Seen {
    state: State,
    pid: u32,
    starts: u64,
}

/// What `poll` watches for the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A listener is connecting.
    Accept,
    /// A listener's connection.
    Conn(String),
    /// Output of a program with `*_events_enabled` grew.
    Logs,
}

/// The output of a program with `*_events_enabled`, followed for PROCESS_LOG.
struct Followed {
    name: String,
    group: String,
    process: String,
    stderr: bool,
    path: PathBuf,
    at: u64,
    ino: u64,
}

/// The most bytes of output one PROCESS_LOG event carries.
const LOG_CHUNK: usize = 4096;

/// The host's events.
pub struct Bus {
    server: String,
    serial: u64,
    pools: Vec<Pool>,
    /// Each listener process (by name as supervisorctl names it): its pool.
    members: HashMap<String, usize>,
    socket: UnixListener,
    path: PathBuf,
    conns: HashMap<String, Conn>,
    seen: HashMap<String, Seen>,
    /// Each tick period subscribed to, and the slice last announced.
    ticks: Vec<(u64, u64)>,
    /// Outputs followed for PROCESS_LOG, and the watch that says they grew.
    logs: Vec<Followed>,
    log_watch: Option<nix::sys::inotify::Inotify>,
    /// The directories the log watch holds (one made later is added then).
    log_dirs: Vec<PathBuf>,
    /// What pools' handlers printed, for the host's stdout.
    pub printed: Vec<u8>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Bus {
    /// The bus of `cfg`, listening in `host_dir`; `None` without a listener pool.
    pub fn new(
        cfg: &HostConfig,
        services: &[Service],
        host_dir: &Path,
    ) -> std::io::Result<Option<Bus>> {
        let pools = pools(cfg);
        if pools.is_empty() {
            return Ok(None);
        }
        let path = host_dir.join(SOCKET);
        let _ = std::fs::remove_file(&path);
        let socket = UnixListener::bind(&path)?;
        socket.set_nonblocking(true)?;
        let mut bus = Bus {
            server: cfg.supervisord.identifier.clone(),
            serial: 0,
            pools,
            members: HashMap::new(),
            socket,
            path,
            conns: HashMap::new(),
            seen: HashMap::new(),
            ticks: Vec::new(),
            logs: Vec::new(),
            log_watch: None,
            log_dirs: Vec::new(),
            printed: Vec::new(),
        };
        bus.configure(cfg, services);
        Ok(Some(bus))
    }

    /// Takes a config read again: pools added and removed (a kept pool keeps its
    /// buffer), members and ticks as it says.
    pub fn configure(&mut self, cfg: &HostConfig, services: &[Service]) -> Vec<String> {
        let mut log = Vec::new();
        let fresh = pools(cfg);
        let mut kept: Vec<Pool> = Vec::new();
        for p in fresh {
            match self.pools.iter().position(|o| o.name == p.name) {
                Some(i) => kept.push(self.pools.swap_remove(i)),
                None => kept.push(p),
            }
        }
        self.pools = kept;
        self.members = cfg
            .processes
            .iter()
            .filter(|p| p.kind == Kind::EventListener)
            .filter_map(|p| {
                let i = self.pools.iter().position(|x| x.name == p.group)?;
                Some((crate::host::service::namespec(&p.group, &p.name), i))
            })
            .collect();
        let now = now_secs();
        self.ticks = TICKS
            .iter()
            .filter(|&&t| self.pools.iter().any(|p| p.wants_tick(t)))
            .map(|&t| (t, now - now % t))
            .collect();
        for p in &cfg.processes {
            let Some(l) = &p.listener else { continue };
            let Some(pool) = self.pools.iter_mut().find(|x| x.name == p.group) else {
                continue;
            };
            match Handler::named(&l.result_handler) {
                Some(h) => pool.set_handler(h),
                None => log.push(format!(
                    "[eventlistener:{}] result_handler {} cannot run here (it is Python):                      supervisord's default handler is used",
                    p.group, l.result_handler
                )),
            }
        }
        self.follow_logs(cfg, services);
        log
    }

    /// Follows the output of each program with `*_events_enabled` from its end now.
    fn follow_logs(&mut self, cfg: &HostConfig, services: &[Service]) {
        let mut logs = Vec::new();
        for s in services {
            let Some(p) = cfg
                .processes
                .iter()
                .find(|p| p.group == s.group && p.name == s.process)
            else {
                continue;
            };
            for (stderr, on) in [
                (false, p.stdout.events_enabled),
                (true, p.stderr.events_enabled),
            ] {
                let path = crate::host::control::log_path(s, stderr);
                if !on || path.is_empty() {
                    continue;
                }
                let path = PathBuf::from(path);
                let kept = self
                    .logs
                    .iter()
                    .position(|f| f.path == path && f.stderr == stderr);
                let (at, ino) = match kept {
                    Some(i) => (self.logs[i].at, self.logs[i].ino),
                    None => std::fs::metadata(&path).map_or((0, 0), |m| {
                        use std::os::unix::fs::MetadataExt;
                        (m.len(), m.ino())
                    }),
                };
                logs.push(Followed {
                    name: s.name.clone(),
                    group: s.group.clone(),
                    process: s.process.clone(),
                    stderr,
                    path,
                    at,
                    ino,
                });
            }
        }
        self.logs = logs;
        self.log_watch = None;
        self.log_dirs.clear();
        if self.logs.is_empty() {
            return;
        }
        use nix::sys::inotify::{InitFlags, Inotify};
        self.log_watch = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
        let names: Vec<String> = self.logs.iter().map(|f| f.name.clone()).collect();
        for n in names {
            self.watch_logs_of(&n);
        }
    }

    /// Watches the directories of `name`'s followed outputs, once they exist (a
    /// status directory is made by its supervise, after the bus was).
    pub fn watch_logs_of(&mut self, name: &str) {
        use nix::sys::inotify::AddWatchFlags;
        let Some(w) = &self.log_watch else {
            return;
        };
        let flags =
            AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO;
        for f in self.logs.iter().filter(|f| f.name == name) {
            let Some(dir) = f.path.parent() else { continue };
            if !self.log_dirs.iter().any(|d| d == dir) && w.add_watch(dir, flags).is_ok() {
                self.log_dirs.push(dir.to_path_buf());
            }
        }
    }

    /// Output grew: PROCESS_LOG events for what was added.
    pub fn on_logs(&mut self) -> Vec<String> {
        if let Some(w) = &self.log_watch {
            while matches!(w.read_events(), Ok(ev) if !ev.is_empty()) {}
        }
        let mut events = Vec::new();
        for f in &mut self.logs {
            let pid = self.seen.get(&f.name).map_or(0, |s| s.pid);
            for data in grown(f) {
                events.push(Event::ProcessLog {
                    stderr: f.stderr,
                    name: f.process.clone(),
                    group: f.group.clone(),
                    pid,
                    data,
                });
            }
        }
        events.into_iter().flat_map(|e| self.publish(e)).collect()
    }

    /// The socket's path (the `stdio_socket` of a listener's supervise).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptors to poll, with what each is.
    pub fn poll_fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags, Token)> {
        let mut v = vec![(self.socket.as_fd(), PollFlags::POLLIN, Token::Accept)];
        if let Some(w) = &self.log_watch {
            v.push((w.as_fd(), PollFlags::POLLIN, Token::Logs));
        }
        for (name, c) in &self.conns {
            // A listener set aside for breaking the protocol is not read any more:
            // whatever it writes costs the host nothing.
            let unknown = self
                .members
                .get(name)
                .and_then(|&i| self.pools[i].state(name))
                == Some(super::pool::State::Unknown);
            if unknown && c.out.is_empty() {
                continue;
            }
            let mut f = PollFlags::POLLIN;
            if !c.out.is_empty() {
                f |= PollFlags::POLLOUT;
            }
            v.push((c.stream.as_fd(), f, Token::Conn(name.clone())));
        }
        v
    }

    /// The next tick, if a pool subscribes to one.
    /// The boundary itself, to the microsecond, as supervisord's `when:` names it (not
    /// whole seconds from now, which would put each tick up to a second late).
    pub fn deadline(&self) -> Option<std::time::Instant> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let next = self.ticks.iter().map(|(p, slice)| slice + p).min()?;
        let left = std::time::Duration::from_secs(next).saturating_sub(now);
        Some(std::time::Instant::now() + left)
    }

    /// Ticks whose slice rolled over.
    pub fn on_time(&mut self) -> Vec<String> {
        let now = now_secs();
        let mut due = Vec::new();
        for (period, slice) in &mut self.ticks {
            let this = now - now % *period;
            if this != *slice {
                *slice = this;
                due.push(Event::Tick {
                    period: *period,
                    when: this,
                });
            }
        }
        due.into_iter().flat_map(|e| self.publish(e)).collect()
    }

    /// Accepts connecting listeners; `who` names the process whose supervise has
    /// this pid.
    pub fn accept(&mut self, who: impl Fn(u32) -> Option<String>) -> Vec<String> {
        let mut log = Vec::new();
        while let Ok((stream, _)) = self.socket.accept() {
            let pid =
                nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)
                    .map(|c| c.pid())
                    .unwrap_or(0);
            let Some(name) = u32::try_from(pid).ok().and_then(&who) else {
                log.push(format!(
                    "events: a connection from pid {pid}, not a listener's supervise: closed"
                ));
                continue;
            };
            let Some(&pool) = self.members.get(&name) else {
                log.push(format!(
                    "events: {name} is not in an event listener pool: closed"
                ));
                continue;
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            log.extend(self.drop_conn(&name));
            self.pools[pool].connected(&name);
            self.conns.insert(
                name,
                Conn {
                    stream,
                    out: Vec::new(),
                },
            );
        }
        log
    }

    fn drop_conn(&mut self, name: &str) -> Vec<String> {
        self.conns.remove(name);
        let Some(&pool) = self.members.get(name) else {
            return Vec::new();
        };
        self.pools[pool].disconnected(name).into_iter().collect()
    }

    /// A listener's connection is ready: reads what it said, writes what waits.
    pub fn on_conn(&mut self, name: &str) -> Vec<String> {
        let Some(c) = self.conns.get_mut(name) else {
            return Vec::new();
        };
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let mut closed = false;
        for _ in 0..16 {
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        let mut log = Vec::new();
        if let Some(&pool) = self.members.get(name) {
            if !got.is_empty() {
                log.extend(self.pools[pool].on_data(name, &got));
                let printed = std::mem::take(&mut self.pools[pool].printed);
                self.printed.extend(printed);
            }
        }
        if closed {
            log.extend(self.drop_conn(name));
        }
        self.dispatch();
        log
    }

    /// Announces `e` to every pool that subscribes; lines for the log.
    pub fn publish(&mut self, e: Event) -> Vec<String> {
        let subscribed: Vec<usize> = (0..self.pools.len())
            .filter(|&i| self.pools[i].subscribes(&e))
            .collect();
        if subscribed.is_empty() {
            return Vec::new();
        }
        let serial = self.serial;
        self.serial += 1;
        let e = Arc::new(e);
        let log: Vec<String> = subscribed
            .into_iter()
            .filter_map(|i| self.pools[i].accept(e.clone(), serial))
            .collect();
        self.dispatch();
        log
    }

    /// Sends what the pools have for ready listeners, as far as each takes it.
    fn dispatch(&mut self) {
        for pool in &mut self.pools {
            for (name, bytes) in pool.dispatch(&self.server) {
                if let Some(c) = self.conns.get_mut(&name) {
                    if c.out.len() + bytes.len() <= MAX_OUT {
                        c.out.extend_from_slice(&bytes);
                    }
                }
            }
        }
        for c in self.conns.values_mut() {
            while !c.out.is_empty() {
                match c.stream.write(&c.out) {
                    Ok(0) => break,
                    Ok(n) => {
                        c.out.drain(..n);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
    }

    /// A process's state as its files say now: the PROCESS_STATE events from what
    /// was seen last (supervisord's path, a missed restart included).
    pub fn process_changed(
        &mut self,
        name: &str,
        group: &str,
        process: &str,
        info: &Info,
        exitcodes: &[i32],
    ) -> Vec<String> {
        if !info.settled {
            // Between the two writes: the state file's rename comes next, and with
            // it the look that counts.
            return Vec::new();
        }
        let now = Seen {
            state: info.state,
            pid: info.pid,
            starts: info.starts,
        };
        // First sight (the host's start): STOPPED is where every process begins.
        let before = self.seen.insert(name.to_owned(), now).unwrap_or(Seen {
            state: State::Stopped,
            pid: 0,
            starts: 0,
        });
        let restarted = now.starts > before.starts && now.state == before.state;
        if before.state == now.state && !restarted {
            return Vec::new();
        }
        let path = if restarted && now.state == State::Running {
            states::restart()
        } else {
            states::path(before.state, now.state)
        };
        // The run that ended is the one seen before (or the last the state file
        // names); the one running now is in `status`.
        let ended = if before.pid != 0 {
            before.pid
        } else {
            info.last_pid
        };
        let running = if info.pid != 0 { info.pid } else { ended };
        let mut log = Vec::new();
        let mut from = before.state;
        for to in path {
            let pid = match to {
                State::Stopping | State::Stopped | State::Exited => ended,
                _ => running,
            };
            log.extend(self.publish(Event::ProcessState {
                to,
                from,
                name: process.to_owned(),
                group: group.to_owned(),
                tries: info.tries,
                expected: exitcodes.contains(&info.exitstatus),
                pid,
            }));
            from = to;
        }
        log
    }

    /// A process no longer in force: forgotten.
    pub fn forget(&mut self, name: &str) {
        self.seen.remove(name);
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What was added to a followed output since the last look, in chunks (a file
/// replaced or truncated is read from its start).
fn grown(f: &mut Followed) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(&f.path) else {
        return Vec::new();
    };
    if m.ino() != f.ino || m.len() < f.at {
        f.ino = m.ino();
        f.at = 0;
    }
    if m.len() == f.at {
        return Vec::new();
    }
    let Some(dir) = f
        .path
        .parent()
        .and_then(|d| crate::statusdir::Dir::open(d).ok())
    else {
        return Vec::new();
    };
    let name = f
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(mut file) = dir.open_read(&name) else {
        return Vec::new();
    };
    use std::io::Seek;
    let want = (m.len() - f.at).min(64 * 1024);
    let mut buf = Vec::new();
    if file.seek(std::io::SeekFrom::Start(f.at)).is_err()
        || file.take(want).read_to_end(&mut buf).is_err()
    {
        return Vec::new();
    }
    f.at += buf.len() as u64;
    buf.chunks(LOG_CHUNK)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// The pools of a config: one per `[eventlistener:x]`.
fn pools(cfg: &HostConfig) -> Vec<Pool> {
    let mut out: Vec<Pool> = Vec::new();
    for p in &cfg.processes {
        let Some(l) = &p.listener else { continue };
        if out.iter().any(|x| x.name == p.group) {
            continue;
        }
        out.push(Pool::new(
            &p.group,
            l.events.clone(),
            usize::try_from(l.buffer_size).unwrap_or(10),
        ));
    }
    out
}
