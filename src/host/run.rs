//! The host's loop: one `poll` over a signalfd, an inotify instance on the status
//! directories, and the pidfds of the supervise processes it took over, with one
//! deadline; nothing else wakes it, so an idle host makes no system call.
//!
//! - Start: the services' supervise processes are started a priority level at a
//!   time, lowest first; a level is done when each of its autostart services runs
//!   (its `status` names a pid: inotify) or a few seconds have passed. Then `READY=1`
//!   goes to `NOTIFY_SOCKET`, and a daemonizing host returns to its caller.
//! - A supervise taken over from a previous host (it holds its directory's lock) is
//!   kept, not started again, when its command line and settings are those of the
//!   config; so the host itself SIGKILLed and started again restarts no service.
//! - A supervise that dies is started again at once (it adopts its service); one that
//!   dies young waits a second, and after a few in a row waits for the next update.
//!   One that exits because it was asked (`svc -x`) is left, until the next update.
//! - SIGHUP: the config is read again; an error changes nothing and is logged with
//!   its `FILE:LINE`; otherwise [`super::plan`]'s plan is carried out: removed
//!   services stopped (`dx`), changed ones stopped and started with their new
//!   settings, added ones started; absent ones started again.
//! - SIGTERM, SIGINT, SIGQUIT: shutdown, highest priority first, a level at a time,
//!   each service with its own stop signal and timeout (its supervise's `dx`).
//! - A service with `exit_host_on_fatal` that gives up (FATAL) shuts the host down
//!   with exit code 1: a container's orchestrator restarts the pod.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;

mod asks;
mod events;

use super::config::{self, HostConfig};
use super::deps::Graph;
use super::fleet::{self, Fleet, Proc, Sup, Then};
use super::hub::{Ask, Hub};
use super::plan;
use super::service::{self, Layout, Service};
use crate::client;
use crate::log::Log;
use crate::statusdir::Dir;

/// The signals the host takes.
const SIGNALS: [Signal; 5] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
];

/// How long a start level may take before the next one starts anyway.
const LEVEL_PATIENCE: Duration = Duration::from_secs(5);

/// The program key that makes a service's giving up end the host.
pub const EXIT_ON_FATAL: &str = "exit_host_on_fatal";

/// The next thing a start or a stop does.
enum Step {
    /// Nothing now.
    Wait,
    /// Start this level.
    Start(Vec<String>),
    /// Stop this level.
    Stop(Vec<String>),
    /// The start is over.
    Started,
}

/// What the host is doing.
#[derive(Debug)]
enum Phase {
    /// Starting level `next` of `levels`; `waiting` for these to run, until `until`.
    Starting {
        levels: Vec<Vec<String>>,
        next: usize,
        waiting: BTreeSet<String>,
        until: Instant,
    },
    /// Everything started.
    Running,
    /// Stopping, highest level first; `waiting` for these supervise to end.
    Stopping {
        levels: Vec<Vec<String>>,
        next: usize,
        waiting: BTreeSet<String>,
    },
}

/// The services of a loaded config, with the warnings of their translation.
pub fn services(cfg: &HostConfig, layout: &Layout) -> Result<(Vec<Service>, Vec<String>), String> {
    let url = server_url(cfg);
    let mut out = Vec::new();
    let mut warnings: Vec<String> = cfg.warnings.iter().map(ToString::to_string).collect();
    for p in &cfg.processes {
        let (s, w) = service::service(p, layout, url.as_deref()).map_err(|e| e.to_string())?;
        if s.name.contains('/') || s.name.starts_with('.') {
            return Err(format!(
                "{}:{}: the process name {:?} cannot name a status directory",
                s.file.display(),
                s.line,
                s.name
            ));
        }
        warnings.extend(w.iter().map(ToString::to_string));
        out.push(s);
    }
    Graph::resolve(&out)?;
    Ok((out, warnings))
}

/// The URL of the host's own HTTP server, as supervisord gives it to processes.
pub fn server_url(cfg: &HostConfig) -> Option<String> {
    cfg.supervisorctl
        .as_ref()
        .map(|c| c.serverurl.clone())
        .filter(|_| !cfg.http_servers.is_empty())
}

/// The names of the services whose giving up ends the host.
fn fatal_exits(cfg: &HostConfig, services: &[Service]) -> BTreeSet<String> {
    cfg.processes
        .iter()
        .zip(services)
        .filter(|(p, _)| {
            p.extras
                .iter()
                .any(|e| e.key == EXIT_ON_FATAL && matches!(e.value.as_str(), "true" | "yes" | "1"))
        })
        .map(|(_, s)| s.name.clone())
        .collect()
}

/// The status root of a loaded config.
pub fn layout_of(cfg: &HostConfig) -> Layout {
    Layout {
        root: service::default_root(
            cfg.supervisord.status_root.as_deref(),
            Path::new(&cfg.here),
            nix::unistd::geteuid().is_root(),
        ),
    }
}

/// What to do once the start is over (tell a waiting caller).
pub type OnReady = Box<dyn FnOnce(&Log)>;

/// The running host.
pub struct Host {
    config_path: PathBuf,
    layout: Layout,
    procs: Fleet,
    signals: SignalFd,
    watch: Inotify,
    watched: HashMap<WatchDescriptor, String>,
    host_dir: Dir,
    log: Log,
    phase: Phase,
    supervise: PathBuf,
    fatal_exits: BTreeSet<String>,
    /// `depends_on` between the services.
    graph: Graph,
    /// Services not started yet because something they depend on is not ready.
    deferred: BTreeSet<String>,
    /// Services stopped because a dependency with `restart_dependents` restarted:
    /// started again once it is ready.
    held: BTreeSet<String>,
    /// The pid each service's status named last (a change is a restart).
    pids: HashMap<String, u32>,
    /// The HTTP side's view of the host, when the config has a server.
    hub: Option<std::sync::Arc<Hub>>,
    /// The requests of the HTTP side.
    asks: Option<std::sync::mpsc::Receiver<Ask>>,
    /// The config last read by XML-RPC's `reloadConfig`, and its services: what
    /// `addProcessGroup` adds from.
    reread: Option<(HostConfig, Vec<Service>)>,
    /// The config in force (for `getAllConfigInfo`, the identifier, the log).
    cfg: HostConfig,
    /// Once everything is stopped, start again (XML-RPC's `restart`).
    restart: bool,
    /// The Unix sockets of the HTTP servers, removed at exit.
    sockets: Vec<PathBuf>,
    /// supervisord's events, when the config has an event listener pool.
    bus: Option<super::events::bus::Bus>,
    generation: u64,
    exit_code: i32,
    /// Set until the start is over: then the caller is told.
    on_ready: Option<OnReady>,
    /// Held for its lock: one host per status root.
    _lock: File,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("root", &self.layout.root)
            .field("procs", &self.procs.len())
            .field("phase", &self.phase)
            .finish()
    }
}

/// The `supervise` program: beside this one, else on PATH.
pub fn supervise_program() -> Option<PathBuf> {
    let beside = std::env::current_exe().ok()?.with_file_name("supervise");
    if beside.is_file() {
        return Some(beside);
    }
    crate::command::resolve("supervise".as_ref(), std::env::var_os("PATH").as_deref()).ok()
}

impl Host {
    /// Takes the status root (one host per root), and everything the loop needs.
    pub fn new(
        config_path: &Path,
        cfg: &HostConfig,
        services: Vec<Service>,
        log: Log,
        on_ready: OnReady,
    ) -> Result<Host, String> {
        let layout = layout_of(cfg);
        let host_dir = Dir::from_fd(
            crate::statusdir::path::walk(&layout.root.join(service::HOST_DIR))
                .map_err(|e| e.to_string())?,
            &layout.root.join(service::HOST_DIR),
        );
        let lock = take_lock(&host_dir)?;
        let supervise =
            supervise_program().ok_or("cannot find supervise beside supervise-host nor on PATH")?;
        let signals = crate::sigfd::open(&SIGNALS).map_err(|e| format!("signalfd: {e}"))?;
        let watch = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(|e| format!("inotify: {e}"))?;
        let graph = Graph::resolve(&services)?;
        let mut host = Host {
            config_path: config_path.to_path_buf(),
            fatal_exits: fatal_exits(cfg, &services),
            graph,
            deferred: BTreeSet::new(),
            held: BTreeSet::new(),
            pids: HashMap::new(),
            procs: services
                .into_iter()
                .map(|s| (s.name.clone(), Proc::new(s)))
                .collect(),
            layout,
            signals,
            watch,
            watched: HashMap::new(),
            host_dir,
            log,
            phase: Phase::Running,
            supervise,
            generation: 0,
            exit_code: 0,
            on_ready: Some(on_ready),
            _lock: lock,
            hub: None,
            asks: None,
            reread: None,
            cfg: cfg.clone(),
            restart: false,
            sockets: Vec::new(),
            bus: None,
        };
        let in_force: Vec<Service> = host.procs.values().map(|p| p.svc.clone()).collect();
        host.bus =
            super::events::bus::Bus::new(cfg, &in_force, &host.layout.root.join(service::HOST_DIR))
                .map_err(|e| format!("events socket: {e}"))?;
        host.serve()?;
        Ok(host)
    }

    /// Starts everything and runs until shut down; the exit code.
    pub fn run(&mut self) -> i32 {
        self.begin_start();
        loop {
            if let Phase::Stopping {
                levels,
                next,
                waiting,
            } = &self.phase
            {
                if *next >= levels.len() && waiting.is_empty() {
                    if !std::mem::take(&mut self.restart) {
                        break;
                    }
                    self.start_again();
                }
            }
            self.turn();
        }
        for s in &self.sockets {
            super::http::unbind(s);
        }
        self.log.notice("supervise-host exiting");
        self.exit_code
    }

    /// One turn: wait, then handle what is ready and what is due.
    fn turn(&mut self) {
        let hub = self.hub.clone();
        let mut fds = vec![
            PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.watch.as_fd(), PollFlags::POLLIN),
        ];
        if let Some(h) = &hub {
            fds.push(PollFd::new(h.wake_fd(), PollFlags::POLLIN));
        }
        let bus_at = fds.len();
        let tokens: Vec<super::events::bus::Token> = match &self.bus {
            Some(b) => b
                .poll_fds()
                .into_iter()
                .map(|(fd, f, t)| {
                    fds.push(PollFd::new(fd, f));
                    t
                })
                .collect(),
            None => Vec::new(),
        };
        let first_sup = fds.len();
        let adopted: Vec<(String, &OwnedFd)> = self
            .procs
            .iter()
            .filter_map(|(n, p)| Some((n.clone(), p.sup.as_ref()?.pidfd.as_ref()?)))
            .collect();
        fds.extend(
            adopted
                .iter()
                .map(|(_, fd)| PollFd::new(fd.as_fd(), PollFlags::POLLIN)),
        );
        let _ = poll(&mut fds, timeout_until(self.deadline()));
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        let ended: Vec<String> = adopted
            .iter()
            .zip(&ready[first_sup..])
            .filter(|(_, r)| **r)
            .map(|((n, _), _)| n.clone())
            .collect();
        drop(fds);
        if ready[0] {
            self.on_signals();
        }
        if ready[1] {
            self.on_status_changes();
        }
        if bus_at > 2 && ready[2] {
            self.on_asks();
        }
        let bus_ready: Vec<super::events::bus::Token> = tokens
            .into_iter()
            .zip(&ready[bus_at..first_sup])
            .filter(|(_, r)| **r)
            .map(|(t, _)| t)
            .collect();
        self.on_bus(bus_ready);
        for name in ended {
            self.log
                .notice(format_args!("supervise of {name} (taken over) ended"));
            self.sup_ended(&name, false);
        }
        self.on_time();
    }

    /// The earliest deadline: a due supervise start, or the end of a start level.
    fn deadline(&self) -> Option<Instant> {
        let due = self.procs.values().filter_map(|p| p.due).min();
        let level = match &self.phase {
            Phase::Starting { until, .. } => Some(*until),
            _ => None,
        };
        let tick = self.bus.as_ref().and_then(|b| b.deadline());
        due.into_iter().chain(level).chain(tick).min()
    }

    fn on_signals(&mut self) {
        for signo in crate::sigfd::pending::<{ SIGNALS.len() }>(self.signals.as_fd()) {
            match Signal::try_from(signo) {
                Ok(Signal::SIGCHLD) => self.reap(),
                Ok(Signal::SIGHUP) => self.update(),
                Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => {
                    // A stop signal wins over a restart under way.
                    self.restart = false;
                    if let Some(h) = &self.hub {
                        h.set_mood(super::hub::Mood::Shutdown);
                    }
                    self.log.notice(format_args!(
                        "received {}: stopping every service, highest priority first",
                        crate::exit::signal_name(signo)
                    ));
                    self.begin_stop();
                }
                _ => {}
            }
        }
    }

    /// Reaps every child: our supervise processes, and orphans when the host is
    /// PID 1.
    fn reap(&mut self) {
        loop {
            let mut raw = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            let name = self
                .procs
                .iter()
                .find(|(_, p)| p.sup.as_ref().is_some_and(|s| s.pid.as_raw() == pid))
                .map(|(n, _)| n.clone());
            if let Some(name) = name {
                let asked = libc::WIFEXITED(raw) && libc::WEXITSTATUS(raw) == 0;
                let how = crate::exit::Exit::from_wait_status(raw)
                    .map_or_else(|| "ended".to_owned(), |e| e.to_string());
                self.log
                    .notice(format_args!("supervise of {name} (pid {pid}) {how}"));
                self.sup_ended(&name, asked);
            }
        }
    }

    /// A service's supervise ended: what was planned for it, or a new one.
    fn sup_ended(&mut self, name: &str, asked: bool) {
        let now = Instant::now();
        let Some(p) = self.procs.get_mut(name) else {
            return;
        };
        let since = p.sup.as_ref().map_or(now, |s| s.since);
        let next = p.ended(now, since, asked);
        let forget = p.then == Then::Forget;
        p.due = next;
        if next.is_none() && !forget && !asked {
            self.log.warn(format_args!(
                "supervise of {name} keeps dying at once: not started again until the next update"
            ));
        }
        if let Phase::Stopping { waiting, .. } | Phase::Starting { waiting, .. } = &mut self.phase {
            waiting.remove(name);
        }
        if forget && !matches!(self.phase, Phase::Stopping { .. }) {
            self.procs.remove(name);
            let _ = self.host_dir.unlink(&format!("{name}.conf"));
            self.publish();
        }
    }

    /// Starts the supervise processes that are due, and moves the phase on.
    fn on_time(&mut self) {
        self.on_ticks();
        let now = Instant::now();
        let due: Vec<String> = self
            .procs
            .iter()
            .filter(|(_, p)| p.due.is_some_and(|t| t <= now) && p.sup.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            self.spawn(&name);
        }
        self.advance(now);
    }

    /// Moves a start or a stop on to its next level when the current one is done.
    fn advance(&mut self, now: Instant) {
        loop {
            match self.next_step(now) {
                Step::Wait => return,
                Step::Started => {
                    self.phase = Phase::Running;
                    self.started();
                    return;
                }
                Step::Start(level) => {
                    let w = self.start_level(&level);
                    if let Phase::Starting { waiting, until, .. } = &mut self.phase {
                        *waiting = w;
                        *until = now + LEVEL_PATIENCE;
                    }
                }
                Step::Stop(level) => {
                    let w = self.stop_level(&level);
                    if let Phase::Stopping { waiting, .. } = &mut self.phase {
                        *waiting = w;
                    }
                }
            }
        }
    }

    /// What the phase wants done now.
    fn next_step(&mut self, now: Instant) -> Step {
        match &mut self.phase {
            Phase::Starting {
                levels,
                next,
                waiting,
                until,
            } => {
                if !waiting.is_empty() && *until > now {
                    Step::Wait
                } else if *next >= levels.len() {
                    Step::Started
                } else {
                    *next += 1;
                    Step::Start(levels[*next - 1].clone())
                }
            }
            Phase::Stopping {
                levels,
                next,
                waiting,
            } => {
                if !waiting.is_empty() || *next >= levels.len() {
                    Step::Wait
                } else {
                    *next += 1;
                    Step::Stop(levels[*next - 1].clone())
                }
            }
            Phase::Running => Step::Wait,
        }
    }

    /// Asks the supervise of each service of a level to stop it and exit; the ones to
    /// wait for.
    fn stop_level(&mut self, level: &[String]) -> BTreeSet<String> {
        let mut waiting = BTreeSet::new();
        for name in level {
            if let Some(p) = self.procs.get_mut(name) {
                p.then = Then::Forget;
                if p.sup.is_some() {
                    waiting.insert(name.clone());
                }
            }
            stop(&mut self.procs, name, &self.log);
        }
        waiting
    }

    /// Starts (or takes over) the supervise of each service of a level; the ones to
    /// wait for: autostart services whose supervise now runs.
    fn start_level(&mut self, level: &[String]) -> BTreeSet<String> {
        let mut waiting = BTreeSet::new();
        for name in level {
            self.watch_dir(name);
            if !self.take_over(name) && !self.defer(name) {
                self.spawn(name);
            }
            let p = &self.procs[name];
            if p.svc.autostart && p.sup.is_some() && !self.runs(name) {
                waiting.insert(name.clone());
            }
        }
        waiting
    }

    /// The start is over: the caller is told, and systemd.
    fn started(&mut self) {
        self.log.notice(format_args!(
            "started: {} services under {}",
            self.procs.len(),
            self.layout.root.display()
        ));
        if let Some(f) = self.on_ready.take() {
            f(&self.log);
        }
        notify_ready();
    }

    fn begin_start(&mut self) {
        // As supervisord: RUNNING is announced before the first process starts.
        self.announce_host(true);
        let services: Vec<Service> = self.procs.values().map(|p| p.svc.clone()).collect();
        self.phase = Phase::Starting {
            levels: fleet::levels(&services),
            next: 0,
            waiting: BTreeSet::new(),
            until: Instant::now(),
        };
        self.advance(Instant::now());
        self.publish();
    }

    fn begin_stop(&mut self) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            return;
        }
        if let Some(h) = &self.hub {
            h.set_mood(if self.restart {
                super::hub::Mood::Restarting
            } else {
                super::hub::Mood::Shutdown
            });
        }
        self.deferred.clear();
        self.held.clear();
        self.announce_host(false);
        let services: Vec<Service> = self.procs.values().map(|p| p.svc.clone()).collect();
        let levels = self.graph.stop_levels(&services);
        self.phase = Phase::Stopping {
            levels,
            next: 0,
            waiting: BTreeSet::new(),
        };
        self.advance(Instant::now());
    }

    /// Whether the service of `name` runs (its status names a pid).
    fn runs(&self, name: &str) -> bool {
        let dir = &self.procs[name].svc.dir;
        client::open(dir)
            .and_then(|d| client::read_status(&d))
            .is_ok_and(|s| s.pid != 0)
    }

    /// Watches a status directory (made now if missing) for its `status` and `state`.
    fn watch_dir(&mut self, name: &str) {
        let dir = self.procs[name].svc.dir.clone();
        if crate::statusdir::path::walk(&dir).is_err() {
            return;
        }
        if let Ok(wd) = self.watch.add_watch(&dir, AddWatchFlags::IN_MOVED_TO) {
            self.watched.insert(wd, name.to_owned());
        }
    }

    /// Takes over a supervise a previous host left running on this service, if it
    /// runs it with the same command line and settings; one that runs it otherwise is
    /// asked to stop, and replaced.
    fn take_over(&mut self, name: &str) -> bool {
        let p = &self.procs[name];
        let Some(pid) = running_supervise(&p.svc.dir) else {
            return false;
        };
        let same_args = cmdline_args(pid).is_some_and(|a| a == p.svc.supervise_args());
        let same_conf = std::fs::read_to_string(&p.svc.conf_path).is_ok_and(|c| c == p.svc.conf);
        let pidfd = pidfd(pid);
        let p = self.procs.get_mut(name).unwrap_or_else(|| unreachable!());
        p.sup = Some(Sup {
            pid: Pid::from_raw(pid as i32),
            pidfd,
            since: Instant::now(),
        });
        if same_args && same_conf {
            self.log.notice(format_args!(
                "took over the supervise of {name} (pid {pid})"
            ));
            if p.svc.listener {
                // Its stdin and stdout were a connection to the host that died: it
                // starts again, and connects to this one.
                self.log
                    .notice(format_args!("{name}: an event listener: restarted"));
                let _ = client::open(&p.svc.dir).and_then(|d| client::send(&d, b"t"));
            }
        } else {
            self.log.notice(format_args!(
                "the supervise of {name} (pid {pid}) runs other settings: replacing it"
            ));
            p.then = Then::Replace(Box::new(p.svc.clone()));
            let _ = client::open(&p.svc.dir).and_then(|d| client::send(&d, b"dx"));
        }
        true
    }

    /// Writes the service's config file and starts its supervise.
    fn spawn(&mut self, name: &str) {
        let Some(p) = self.procs.get_mut(name) else {
            return;
        };
        p.due = None;
        let file = format!("{name}.conf");
        if let Err(e) =
            self.host_dir
                .write_atomic(&format!("{file}.new"), &file, p.svc.conf.as_bytes())
        {
            self.log.warn(format_args!(
                "cannot write {}: {e}",
                p.svc.conf_path.display()
            ));
            return;
        }
        let child = std::process::Command::new(&self.supervise)
            .args(p.svc.supervise_args())
            .stdin(std::process::Stdio::null())
            .spawn();
        match child {
            Ok(c) => {
                p.sup = Some(Sup {
                    pid: Pid::from_raw(c.id() as i32),
                    pidfd: None,
                    since: Instant::now(),
                });
                p.then = Then::Respawn;
            }
            Err(e) => {
                self.log
                    .warn(format_args!("cannot start the supervise of {name}: {e}"));
                p.due = Some(Instant::now() + fleet::QUICK);
            }
        }
    }

    /// Reads inotify: the services whose status changed.
    fn on_status_changes(&mut self) {
        let mut names = BTreeSet::new();
        while let Ok(events) = self.watch.read_events() {
            if events.is_empty() {
                break;
            }
            for e in events {
                if let Some(n) = self.watched.get(&e.wd) {
                    names.insert(n.clone());
                }
            }
        }
        for name in names {
            self.status_changed(&name);
        }
    }

    /// Whether `name` runs and is ready (as its `ready` key says).
    fn ready(&self, name: &str) -> bool {
        self.procs
            .get(name)
            .is_some_and(|p| crate::svc::report::inspect(&p.svc.dir).is_ok_and(|v| v.ready()))
    }

    /// Defers the start of `name` while something it depends on is not ready;
    /// `true` if it was deferred. A dependency that does not start by itself
    /// (`autostart=false`) is started for it.
    fn defer(&mut self, name: &str) -> bool {
        let waiting: Vec<String> = self
            .graph
            .deps(name)
            .iter()
            .filter(|d| !self.ready(d))
            .cloned()
            .collect();
        if waiting.is_empty() {
            return false;
        }
        if self.procs.get(name).is_some_and(|p| !p.svc.autostart) {
            // Not started by the host anyway: no need to wait.
            return false;
        }
        for d in &waiting {
            if let Some(p) = self
                .procs
                .get(d)
                .filter(|p| !p.svc.autostart && p.sup.is_some())
            {
                self.log
                    .notice(format_args!("{d}: started for {name}, which depends on it"));
                let _ = client::open(&p.svc.dir).and_then(|h| client::send(&h, b"u"));
            }
        }
        self.log.notice(format_args!(
            "{name}: waiting for {} to be ready",
            waiting.join(", ")
        ));
        self.deferred.insert(name.to_owned());
        true
    }

    /// A service's status changed: a dependency that became ready lets what waits
    /// for it start; one with `restart_dependents` that went down or restarted stops
    /// what depends on it, until it is ready again.
    fn dependencies_changed(&mut self, name: &str) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            return;
        }
        let pid = self.procs.get(name).map_or(0, |p| {
            client::open(&p.svc.dir)
                .and_then(|d| client::read_status(&d))
                .map_or(0, |s| s.pid)
        });
        let old = self.pids.insert(name.to_owned(), pid).unwrap_or(0);
        let bound = self
            .procs
            .get(name)
            .is_some_and(|p| p.svc.restart_dependents);
        if bound && old != 0 && pid != old {
            for d in self.graph.dependents(name) {
                let Some(p) = self.procs.get(&d) else {
                    continue;
                };
                if self.held.insert(d.clone()) {
                    self.log.notice(format_args!(
                        "{d}: stopped while {name}, which it depends on, restarts"
                    ));
                    let _ = client::open(&p.svc.dir).and_then(|h| client::send(&h, b"d"));
                }
            }
        }
        if !self.ready(name) {
            return;
        }
        let dependents = self.graph.dependents(name);
        for d in dependents {
            if !self.graph.deps(&d).iter().all(|x| self.ready(x)) {
                continue;
            }
            if self.deferred.remove(&d) {
                self.log
                    .notice(format_args!("{d}: what it depends on is ready"));
                self.spawn(&d);
            } else if self.held.remove(&d) {
                self.log
                    .notice(format_args!("{d}: what it depends on is ready again"));
                if let Some(p) = self.procs.get(&d) {
                    let _ = client::open(&p.svc.dir).and_then(|h| client::send(&h, b"u"));
                }
            }
        }
    }

    fn status_changed(&mut self, name: &str) {
        self.dependencies_changed(name);
        self.announce(name);
        if let Phase::Starting { waiting, .. } = &mut self.phase {
            if waiting.contains(name) && self.procs.contains_key(name) {
                let runs = client::open(&self.procs[name].svc.dir)
                    .and_then(|d| client::read_status(&d))
                    .is_ok_and(|s| s.pid != 0);
                if runs {
                    waiting.remove(name);
                }
            }
        }
        if self.fatal_exits.contains(name) && self.gave_up(name) {
            self.log.warn(format_args!(
                "{name} gave up ({EXIT_ON_FATAL}): stopping everything, exit code 1"
            ));
            self.exit_code = 1;
            self.begin_stop();
        }
    }

    /// Whether the service gave up and stays down (supervisord's FATAL).
    fn gave_up(&self, name: &str) -> bool {
        let Some(p) = self.procs.get(name) else {
            return false;
        };
        client::open(&p.svc.dir)
            .ok()
            .and_then(|d| client::read_state(&d))
            .and_then(Result::ok)
            .is_some_and(|r| r.gave_up.is_some() && r.pid == 0)
    }

    /// SIGHUP: reads the config again and carries out what changed.
    fn update(&mut self) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            return;
        }
        let loaded = config::load_file(&self.config_path)
            .map_err(|e| e.to_string())
            .and_then(|cfg| Ok((services(&cfg, &self.layout)?, cfg)));
        let (new, cfg) = match loaded {
            Ok(((s, warnings), cfg)) => {
                for w in warnings {
                    self.log.warn(w);
                }
                (s, cfg)
            }
            Err(e) => {
                self.log
                    .warn(format_args!("config not reloaded, nothing changed: {e}"));
                return;
            }
        };
        let old: Vec<Service> = self.procs.values().map(|p| p.svc.clone()).collect();
        let plan = plan::plan(&old, &new);
        let groups = plan.groups(&old, &new);
        self.graph = Graph::resolve(&new).unwrap_or_default();
        self.fatal_exits = fatal_exits(&cfg, &new);
        self.cfg = cfg;
        self.reread = None;
        self.apply(plan);
        self.publish();
        self.reconfigure_bus();
        for g in &groups.removed {
            self.announce_group(g, false);
        }
        for g in &groups.added {
            self.announce_group(g, true);
        }
        self.generation += 1;
        let _ = self.host_dir.write_atomic(
            "generation.new",
            "generation",
            format!("{}\n", self.generation).as_bytes(),
        );
        self.log.notice(format_args!(
            "config reloaded from {} (generation {})",
            self.config_path.display(),
            self.generation
        ));
    }

    fn apply(&mut self, plan: plan::Plan) {
        for name in &plan.removed {
            self.log.notice(format_args!("{name}: removed"));
            if let Some(p) = self.procs.get_mut(name) {
                p.then = Then::Forget;
            }
            stop(&mut self.procs, name, &self.log);
            if self.procs.get(name).is_some_and(|p| p.sup.is_none()) {
                self.procs.remove(name);
                let _ = self.host_dir.unlink(&format!("{name}.conf"));
            }
        }
        for s in plan.changed {
            self.log
                .notice(format_args!("{}: changed, restarting it", s.name));
            let name = s.name.clone();
            match self.procs.get_mut(&name) {
                Some(p) if p.sup.is_some() => {
                    p.then = Then::Replace(Box::new(s));
                    stop(&mut self.procs, &name, &self.log);
                }
                Some(p) => {
                    p.svc = s;
                    p.due = Some(Instant::now());
                }
                None => {}
            }
        }
        for s in plan.added {
            self.log.notice(format_args!("{}: added", s.name));
            let name = s.name.clone();
            self.procs.insert(name.clone(), Proc::new(s));
            self.watch_dir(&name);
            if !self.defer(&name) {
                if let Some(p) = self.procs.get_mut(&name) {
                    p.due = Some(Instant::now());
                }
            }
        }
        // Services left without a supervise (asked to exit, or given up on) start again.
        for (name, p) in self.procs.iter_mut() {
            if p.sup.is_none()
                && p.due.is_none()
                && p.then != Then::Forget
                && !self.deferred.contains(name)
            {
                p.quick_deaths = 0;
                p.due = Some(Instant::now());
            }
        }
    }
}

/// Asks the supervise of `name` to stop its service and exit (`dx`); it is not
/// started again unless something was planned for it.
fn stop(procs: &mut Fleet, name: &str, log: &Log) {
    let Some(p) = procs.get_mut(name) else {
        return;
    };
    if p.then == Then::Respawn {
        p.then = Then::Forget;
    }
    p.due = None;
    if p.sup.is_none() {
        return;
    }
    if let Err(e) = client::open(&p.svc.dir).and_then(|d| client::send(&d, b"dx")) {
        log.warn(format_args!("cannot stop {name}: {e}"));
    }
}

/// The pid of the supervise running on `dir`, if one does.
fn running_supervise(dir: &Path) -> Option<u32> {
    let d = client::open(dir).ok()?;
    if !client::running(&d).ok()? {
        return None;
    }
    client::lock_pid(&d)
}

/// A process's arguments after its program name.
fn cmdline_args(pid: u32) -> Option<Vec<OsString>> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    use std::os::unix::ffi::OsStringExt;
    let mut args: Vec<OsString> = bytes
        .split(|&b| b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    if args.last().is_some_and(|a| a.is_empty()) {
        args.pop();
    }
    (!args.is_empty()).then(|| args.split_off(1))
}

fn pidfd(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open returns a new descriptor (close-on-exec) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a fresh descriptor we now own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Takes the host's lock on its status root, writing its pid in it.
fn take_lock(host_dir: &Dir) -> Result<File, String> {
    let mut f = host_dir
        .open_lock("lock", 0o644)
        .map_err(|e| format!("{}: {e}", host_dir.join("lock").display()))?;
    if fs2::FileExt::try_lock_exclusive(&f).is_err() {
        let pid = crate::statusdir::read_pid(&mut f);
        return Err(format!(
            "another supervise-host{} runs on {}",
            pid.map_or_else(String::new, |p| format!(" (pid {p})")),
            host_dir
                .path()
                .parent()
                .unwrap_or(host_dir.path())
                .display()
        ));
    }
    let line = format!("{}\n", std::process::id());
    let _ = f.set_len(0);
    let _ = std::io::Seek::rewind(&mut f);
    let _ = f.write_all(line.as_bytes());
    Ok(f)
}

/// Tells systemd (`NOTIFY_SOCKET`) that the host is ready.
pub fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_bytes();
    let _ = match bytes.strip_prefix(b"@") {
        Some(abstract_name) => {
            <std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(
                abstract_name,
            )
            .and_then(|a| sock.send_to_addr(b"READY=1", &a))
        }
        None => sock.send_to(b"READY=1", Path::new(&path)),
    };
}

fn timeout_until(deadline: Option<Instant>) -> PollTimeout {
    let Some(at) = deadline else {
        return PollTimeout::NONE;
    };
    let ms = at
        .saturating_duration_since(Instant::now())
        .as_micros()
        .div_ceil(1000);
    PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
}
