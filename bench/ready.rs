//! The readiness scenario (issue 16), ours only:
//!
//! - ready → dependent exec'd: `supervise-host` with `[program:db]` (`ready = fd 3` or
//!   `ready = notify`, `restart_dependents = true`) and `[program:web]` (`depends_on =
//!   db`); db's service SIGKILLed: its supervise starts it again at once, and the host
//!   stops web while db restarts and starts it again once db says it is ready. db's command (this program's `ready-helper` mode) notes
//!   the time just before it writes the newline to fd 3 or sends `READY=1`; web's
//!   command notes the time as its first action. Both are CLOCK_MONOTONIC, so the
//!   figure is the difference, whatever the harness's own polling.
//! - ready → `svc wait ready` returns: one supervise, its service killed, the wait
//!   started while the new instance is not ready yet.
//! - idle once ready, no health check: wakeups, CPU, and system calls (strace).
//! - a tcp health check every 10 s: probes counted by the listener the harness opens,
//!   and every system call of supervise listed by strace, grouped into bursts: one
//!   burst per probe and nothing in between is the target.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Bench, SETTLED, monotonic_ns, status_pid, sweep};
use crate::probe;
use crate::report::{median, summary};
use crate::tools::Tool;

/// db's readiness comes this long after its start: time enough for web to have
/// stopped, as a real database takes a while to be ready.
const DB_DELAY_MS: u64 = 100;
/// The same for `svc wait ready`: time enough for the wait to be watching.
const WAIT_DELAY_MS: u64 = 300;
/// The health check's interval, and how many of them a window covers.
const HEALTH_INTERVAL: u64 = 10;
const HEALTH_PROBES: u64 = 3;

/// How the service says it is ready.
#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    Fd,
    Notify,
}

impl How {
    const BOTH: [How; 2] = [How::Fd, How::Notify];

    /// The `ready` key's value.
    fn value(self) -> &'static str {
        match self {
            How::Fd => "fd 3",
            How::Notify => "notify",
        }
    }

    /// The helper's words.
    fn helper(self) -> &'static str {
        match self {
            How::Fd => "fd 3",
            How::Notify => "notify",
        }
    }

    fn key(self) -> &'static str {
        match self {
            How::Fd => "fd",
            How::Notify => "notify",
        }
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

impl Bench<'_> {
    pub(super) fn ready(&mut self) {
        if !self.tools.contains(&Tool::Ours) {
            eprintln!("   ours is not among --tools: the readiness scenario is ours only");
            return;
        }
        eprintln!("   the stamp helper's own start");
        self.helper_start();
        if self.bins.host.is_some() {
            for how in How::BOTH {
                eprintln!("   host: db (ready = {}) → web", how.value());
                self.ready_dependent(how);
            }
        } else {
            eprintln!("   supervise-host not found (--host PATH): ready → dependent left out");
        }
        for how in How::BOTH {
            eprintln!("   svc wait ready (ready : {})", how.value());
            self.ready_wait(how);
        }
        eprintln!("   idle once ready");
        self.ready_idle();
        eprintln!("   tcp health check every {HEALTH_INTERVAL} s");
        self.health();
        self.report.notes.push(format!(
            "Readiness: the services are this benchmark's `ready-helper` mode. db: after \
             {DB_DELAY_MS} ms it reads CLOCK_MONOTONIC, writes `\\n` to fd 3 (`ready = fd 3`) \
             or sends `READY=1` to `$NOTIFY_SOCKET` (`ready = notify`), appends the time to a \
             file, and execs `sleep N`; web: reads CLOCK_MONOTONIC first thing in `main`, \
             appends it, execs `sleep N`. Host: `supervise-host -n -c FILE`, `[program:db]` \
             with `restart_dependents = true`, `[program:web]` with `depends_on = db`, both \
             `startsecs = 0`; each run SIGKILLs db's service once web has been up {:.1} s \
             (db's supervise starts it again at once, the host stops web until the new db \
             is ready); the figure is web's time minus db's. `svc wait ready`: one supervise \
             (`-F` with `ready : ...`), its service SIGKILLed, `svc wait ready -T 10 DIR` \
             spawned once `status` names the new pid (the new instance signals readiness \
             {WAIT_DELAY_MS} ms after its start), timed from the service's readiness to the \
             wait's exit as the harness's `waitpid` sees it. Idle: as the idle rows, once \
             `svc wait ready` has returned. Health: `health : tcp 127.0.0.1:PORT` on a \
             listener of the harness (whose accepts count the probes), `health_interval : \
             {HEALTH_INTERVAL}`, the service `sleep N`; two windows of {} s, each starting 1 \
             s after a probe: wakeups and CPU without strace, then `strace -f -ttt -p` \
             (every call, grouped into bursts: a gap over 1 s starts a new one).",
            SETTLED.as_secs_f64(),
            HEALTH_INTERVAL * HEALTH_PROBES
        ));
    }

    /// For scale: the web side's figure includes web's own exec and start-up up to
    /// `main`. This is that cost plus a spawn, from the harness.
    fn helper_start(&mut self) {
        let work = self.fresh("ready-spawn");
        fs::create_dir_all(&work).expect("work dir");
        let file = work.join("stamps");
        let mut lat = Vec::new();
        for _ in 0..self.args.runs {
            let n = stamps(&file).len();
            let t0 = monotonic_ns();
            let ok = quiet(Command::new(&self.bins.me))
                .args(["ready-helper", "stamp"])
                .arg(&file)
                .status()
                .is_ok_and(|s| s.success());
            if let (true, Some(&t)) = (ok, stamps(&file).get(n)) {
                lat.push(t.saturating_sub(t0) as f64 / 1e6);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !lat.is_empty() {
            self.report.ours_only.push((
                "for scale: spawn of the stamp helper → its first action (its exec and \
                 start-up, which web's figures below include), ms"
                    .into(),
                summary(&lat, 2),
                "-".into(),
            ));
        }
    }

    /// Host mode: db ready → web exec'd, once per restart of db after a SIGKILL.
    fn ready_dependent(&mut self, how: How) {
        let figure = format!(
            "ready → dependent exec'd (host, `ready = {}`, `restart_dependents`), ms",
            how.value()
        );
        let tag = self.tag();
        let work = self.fresh(&format!("ready-host-{}", how.key()));
        fs::create_dir_all(&work).expect("work dir");
        let (dbt, webt) = (work.join("db.stamps"), work.join("web.stamps"));
        let me = self.bins.me.display();
        let w = work.display();
        let conf = work.join("supervisord.conf");
        let db_dir = work.join("status/db");
        let text = format!(
            "[supervisord]\nnodaemon=true\nlogfile={w}/host.log\npidfile={w}/host.pid\n\
             childlogdir={w}\nstatus_root={w}/status\n\n\
             [program:db]\ncommand={me} ready-helper {} {DB_DELAY_MS} {} {tag}1\n\
             ready = {}\nrestart_dependents = true\nstartsecs = 0\n\n\
             [program:web]\ncommand={me} ready-helper stamp {} {tag}2\n\
             depends_on = db\nstartsecs = 0\n",
            how.helper(),
            dbt.display(),
            how.value(),
            webt.display()
        );
        fs::write(&conf, text).expect("supervisord.conf");
        let mut host = Command::new(self.bins.host.as_ref().expect("supervise-host"));
        host.arg("-n").arg("-c").arg(&conf).current_dir(&work);
        let mut host = quiet(host).spawn().expect("supervise-host");
        if wait_stamps(&webt, 1, Duration::from_secs(20)).is_none() {
            self.report.ours_only.push((
                figure,
                "web not started within 20 s".into(),
                "< 5: not met".into(),
            ));
            sweep();
            let _ = host.wait();
            return;
        }
        let mut lat = Vec::new();
        let mut odd = Vec::new();
        for run in 1..=self.args.runs {
            let web_before = stamps(&webt);
            settle_after(*web_before.last().expect("a web start"));
            let (nd, nw) = (stamps(&dbt).len(), stamps(&webt).len());
            if nw != web_before.len() {
                odd.push(format!("run {run}: web started again on its own"));
            }
            // db's service killed: its supervise starts it again at once, and the host
            // stops web until the new db is ready. (`svc -c FILE restart db` would do
            // the same, but its stop and start race: see docs/BENCHMARKS.md.)
            let old = status_pid(&db_dir);
            if old == 0 {
                odd.push(format!("run {run}: db not running"));
                continue;
            }
            // SAFETY: killing the service the benchmark started (a pid, never 0).
            unsafe { libc::kill(old as i32, libc::SIGKILL) };
            let got = wait_stamps(&dbt, nd + 1, Duration::from_secs(10)).zip(wait_stamps(
                &webt,
                nw + 1,
                Duration::from_secs(10),
            ));
            let Some((d, w)) = got else {
                odd.push(format!(
                    "run {run}: db or web not started again within 10 s"
                ));
                continue;
            };
            let (d, w) = (d[nd], w[nw]);
            if w < d {
                odd.push(format!(
                    "run {run}: web started {:.2} ms before db was ready",
                    (d - w) as f64 / 1e6
                ));
                continue;
            }
            lat.push((w - d) as f64 / 1e6);
        }
        std::thread::sleep(Duration::from_millis(300));
        let (nd, nw) = (stamps(&dbt).len(), stamps(&webt).len());
        if nd != nw {
            odd.push(format!("db started {nd} times, web {nw}"));
        }
        sweep();
        // Reaped by the sweep already: this only lets go of the handle.
        let _ = host.wait();
        self.note_odd(&format!("ready → dependent ({})", how.value()), odd);
        if lat.is_empty() {
            self.report
                .ours_only
                .push((figure, "no run".into(), "< 5: not met".into()));
            return;
        }
        let m = median(&lat);
        self.report.ours_only.push((
            format!("{figure}, {} runs", lat.len()),
            summary(&lat, 2),
            format!("< 5: {}", met(m < 5.0)),
        ));
    }

    /// One supervise: the service SIGKILLed, `svc wait ready` spawned while the new
    /// instance is not ready yet; from its readiness to the wait's end.
    fn ready_wait(&mut self, how: How) {
        let tag = self.tag();
        let work = self.fresh(&format!("ready-wait-{}", how.key()));
        let (dir, stampf, _) = self.start_ready(&work, how, WAIT_DELAY_MS, &tag);
        let mut lat = Vec::new();
        let mut odd = Vec::new();
        if wait_stamps(&stampf, 1, Duration::from_secs(10)).is_none() {
            odd.push("not ready within 10 s of its start".into());
        } else {
            for run in 1..=self.args.runs {
                let before = stamps(&stampf);
                settle_after(*before.last().expect("a start"));
                let old = status_pid(&dir);
                if old == 0 {
                    odd.push(format!("run {run}: the service is not running"));
                    continue;
                }
                // SAFETY: killing the service the benchmark started (a pid, never 0).
                unsafe { libc::kill(old as i32, libc::SIGKILL) };
                let t0 = std::time::Instant::now();
                while matches!(status_pid(&dir), 0) || status_pid(&dir) == old {
                    if t0.elapsed() > Duration::from_secs(10) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                let spawned = monotonic_ns();
                let mut c = Command::new(&self.bins.svc);
                c.args(["wait", "ready", "-T", "10"]).arg(&dir);
                let st = quiet(c).status();
                let end = monotonic_ns();
                let ok = st.is_ok_and(|s| s.success());
                let Some(&ready) = stamps(&stampf).get(before.len()) else {
                    odd.push(format!("run {run}: no readiness within the wait"));
                    continue;
                };
                if !ok {
                    odd.push(format!("run {run}: svc wait ready failed"));
                } else if ready < spawned {
                    odd.push(format!(
                        "run {run}: ready before the wait was spawned (left out)"
                    ));
                } else if end < ready {
                    odd.push(format!(
                        "run {run}: svc wait ready returned {:.2} ms before the service was \
                         ready",
                        (ready - end) as f64 / 1e6
                    ));
                } else {
                    lat.push((end - ready) as f64 / 1e6);
                }
            }
        }
        sweep();
        self.note_odd(&format!("svc wait ready ({})", how.value()), odd);
        if !lat.is_empty() {
            self.report.ours_only.push((
                format!(
                    "ready → `svc wait ready` returns (`ready : {}`), ms, {} runs",
                    how.value(),
                    lat.len()
                ),
                summary(&lat, 2),
                "-".into(),
            ));
        }
    }

    /// Both kinds of readiness at once, once ready: nothing may run.
    fn ready_idle(&mut self) {
        let mut insts = Vec::new();
        for how in How::BOTH {
            let tag = self.tag();
            let work = self.fresh(&format!("ready-idle-{}", how.key()));
            let (dir, _, sup) = self.start_ready(&work, how, 0, &tag);
            let mut c = Command::new(&self.bins.svc);
            c.args(["wait", "ready", "-T", "10"]).arg(&dir);
            let ready = quiet(c).status().is_ok_and(|s| s.success());
            insts.push((how, sup, ready));
        }
        std::thread::sleep(Duration::from_secs(2));
        let before: Vec<(u64, u64)> = insts
            .iter()
            .map(|&(_, p, _)| (probe::wakeups(p), probe::cpu_ns(p)))
            .collect();
        let idle = self.args.idle_secs;
        std::thread::sleep(Duration::from_secs(idle));
        let after: Vec<(u64, u64)> = insts
            .iter()
            .map(|&(_, p, _)| (probe::wakeups(p), probe::cpu_ns(p)))
            .collect();
        let pids: Vec<u32> = insts.iter().map(|i| i.1).collect();
        let secs = self.args.strace_secs;
        let calls = probe::syscalls(&pids, secs, self.work);
        for (((how, _, ready), (w0, c0)), ((w1, c1), n)) in insts
            .into_iter()
            .zip(before)
            .zip(after.into_iter().zip(calls))
        {
            let (w, cpu) = (w1.saturating_sub(w0), c1.saturating_sub(c0) / 1000);
            let n = n.map_or("-".into(), |n| n.to_string());
            let zero = n == "0" && w == 0;
            self.report.ours_only.push((
                format!(
                    "idle once ready (`ready : {}`), no health check: syscalls in {secs} s \
                     (strace -c -f) / wakeups in {idle} s / CPU µs",
                    how.value()
                ),
                format!(
                    "{n} / {w} / {cpu}{}",
                    if ready { "" } else { " (never ready)" }
                ),
                format!("0 / 0: {}", met(zero && ready)),
            ));
        }
        sweep();
    }

    /// A tcp health check every [`HEALTH_INTERVAL`] s on a listener of ours.
    fn health(&mut self) {
        let tag = self.tag();
        let work = self.fresh("ready-health");
        fs::create_dir_all(&work).expect("work dir");
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let port = listener.local_addr().expect("port").port();
        let accepts: Arc<Mutex<Vec<u128>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (accepts, stop) = (accepts.clone(), stop.clone());
            std::thread::spawn(move || {
                for s in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    accepts.lock().expect("accepts").push(monotonic_ns());
                    drop(s);
                }
            })
        };
        let count = || accepts.lock().expect("accepts").len();
        let conf = work.join("supervise.conf");
        fs::write(
            &conf,
            format!(
                "[global]\nhealth : tcp 127.0.0.1:{port}\nhealth_interval : {HEALTH_INTERVAL}\n"
            ),
        )
        .expect("config");
        let ok = quiet(Command::new(&self.bins.supervise))
            .current_dir(&work)
            .arg("-F")
            .arg(&conf)
            .args(["-p", "status/h", "-f", &format!("sleep {tag}")])
            .status()
            .is_ok_and(|s| s.success());
        let sup: Option<u32> = fs::read_to_string(work.join("status/h/lock"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let window = HEALTH_INTERVAL * HEALTH_PROBES;
        let mut rows = Vec::new();
        let first = wait_until(Duration::from_secs(HEALTH_INTERVAL + 5), || count() > 0);
        match (ok, sup, first) {
            (true, Some(sup), true) => {
                // Each window starts 1 s after a probe.
                std::thread::sleep(Duration::from_secs(1));
                let (a0, w0, c0) = (count(), probe::wakeups(sup), probe::cpu_ns(sup));
                std::thread::sleep(Duration::from_secs(window));
                let (a1, w1, c1) = (count(), probe::wakeups(sup), probe::cpu_ns(sup));
                let n1 = a1 - a0;
                let out = work.join("strace.txt");
                let tracer = Command::new("strace")
                    .args(["-f", "-ttt", "-o"])
                    .arg(&out)
                    .args(["-p", &sup.to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn();
                std::thread::sleep(Duration::from_secs(window));
                let a2 = count();
                let n2 = a2 - a1;
                let calls = match tracer {
                    Ok(mut t) => {
                        // SAFETY: SIGINT makes our own strace detach.
                        unsafe { libc::kill(t.id() as i32, libc::SIGINT) };
                        let _ = t.wait();
                        fs::read_to_string(&out)
                            .ok()
                            .map(|s| probe::parse_strace(&s))
                    }
                    Err(_) => None,
                };
                let gaps: Vec<f64> = {
                    let a = accepts.lock().expect("accepts");
                    a.windows(2).map(|p| (p[1] - p[0]) as f64 / 1e9).collect()
                };
                rows.push((
                    format!(
                        "tcp health check every {HEALTH_INTERVAL} s: interval between probes, s"
                    ),
                    summary(&gaps, 3),
                    format!("{HEALTH_INTERVAL}"),
                ));
                let per = |x: u64, n: usize| {
                    if n == 0 {
                        "-".to_owned()
                    } else {
                        format!("{:.1}", x as f64 / n as f64)
                    }
                };
                rows.push((
                    format!(
                        "tcp health check every {HEALTH_INTERVAL} s, {window} s without strace: \
                         probes / wakeups / wakeups per probe / CPU µs per probe"
                    ),
                    format!(
                        "{n1} / {} / {} / {}",
                        w1 - w0,
                        per(w1 - w0, n1),
                        per((c1 - c0) / 1000, n1)
                    ),
                    format!(
                        "{HEALTH_PROBES} probes, 1 wakeup each: {}",
                        met(n1 as u64 == HEALTH_PROBES && w1 - w0 <= n1 as u64)
                    ),
                ));
                match calls {
                    Some(calls) => {
                        let bursts = probe::bursts(&calls);
                        let listing = bursts
                            .get(1)
                            .or(bursts.first())
                            .map(|b| b.join(" "))
                            .unwrap_or_default();
                        let uniform = bursts.windows(2).all(|p| p[0] == p[1]);
                        rows.push((
                            format!(
                                "tcp health check every {HEALTH_INTERVAL} s, {window} s under \
                                 strace: probes / bursts of system calls / system calls / per \
                                 probe"
                            ),
                            format!(
                                "{n2} / {} / {} / {}",
                                bursts.len(),
                                calls.len(),
                                per(calls.len() as u64, n2)
                            ),
                            format!(
                                "one burst per probe, nothing between: {}",
                                met(n2 as u64 == HEALTH_PROBES && bursts.len() == n2 && uniform)
                            ),
                        ));
                        rows.push((
                            "tcp health check: the system calls of one probe".into(),
                            listing,
                            "-".into(),
                        ));
                    }
                    None => rows.push((
                        "tcp health check under strace".into(),
                        "strace missing or failed".into(),
                        "-".into(),
                    )),
                }
            }
            _ => rows.push((
                format!("tcp health check every {HEALTH_INTERVAL} s"),
                format!(
                    "supervise started: {ok}, pid {sup:?}, a first probe within {} s: {first}",
                    HEALTH_INTERVAL + 5
                ),
                "not met".into(),
            )),
        }
        stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", port));
        let _ = acceptor.join();
        sweep();
        self.report.ours_only.extend(rows);
    }

    /// `supervise -F CONF -p WORK/status/r` with `ready : HOW`, the service the helper
    /// signalling after `delay_ms`: the status directory, the stamps file, and
    /// supervise's pid.
    fn start_ready(
        &self,
        work: &Path,
        how: How,
        delay_ms: u64,
        tag: &str,
    ) -> (PathBuf, PathBuf, u32) {
        fs::create_dir_all(work).expect("work dir");
        let conf = work.join("supervise.conf");
        fs::write(&conf, format!("[global]\nready : {}\n", how.value())).expect("config");
        let stampf = work.join("stamps");
        let cmd = format!(
            "{} ready-helper {} {delay_ms} {} {tag}",
            self.bins.me.display(),
            how.helper(),
            stampf.display()
        );
        let ok = quiet(Command::new(&self.bins.supervise))
            .current_dir(work)
            .arg("-F")
            .arg(&conf)
            .args(["-p", "status/r", "-f", &cmd])
            .status()
            .expect("run supervise");
        assert!(ok.success(), "supervise -F {} failed", conf.display());
        let dir = work.join("status/r");
        let sup = fs::read_to_string(dir.join("lock"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .expect("supervise's pid in lock");
        (dir, stampf, sup)
    }

    fn note_odd(&mut self, what: &str, odd: Vec<String>) {
        for o in odd {
            let line = format!("Readiness, {what}: {o}.");
            eprintln!("   {line}");
            self.report.notes.push(line);
        }
    }
}

fn quiet(mut c: Command) -> Command {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// The times in a stamps file, in order.
fn stamps(file: &Path) -> Vec<u128> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The stamps once there are at least `n`; None after `timeout`.
fn wait_stamps(file: &Path, n: usize, timeout: Duration) -> Option<Vec<u128>> {
    let mut found = None;
    wait_until(timeout, || {
        let v = stamps(file);
        let enough = v.len() >= n;
        if enough {
            found = Some(v);
        }
        enough
    });
    found
}

/// Polls `cond` every 2 ms (no timing rests on this); whether it came true in time.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = std::time::Instant::now();
    loop {
        if cond() {
            return true;
        }
        if t0.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sleeps until [`SETTLED`] after `stamp` (CLOCK_MONOTONIC ns): no restart throttle
/// applies then.
fn settle_after(stamp: u128) {
    let since = Duration::from_nanos(monotonic_ns().saturating_sub(stamp) as u64);
    if since < SETTLED {
        std::thread::sleep(SETTLED - since);
    }
}

/// `bench-compare ready-helper ...`, the services of this scenario:
///
/// - `stamp FILE [TAG]`: appends CLOCK_MONOTONIC ns to FILE first thing, then execs
///   `sleep TAG` (exits without a tag);
/// - `fd N DELAY_MS FILE TAG`: after DELAY_MS, reads the clock, writes `\n` to fd N
///   (readiness), appends the time to FILE, execs `sleep TAG`;
/// - `notify DELAY_MS FILE TAG`: the same with `READY=1` to `$NOTIFY_SOCKET`.
pub fn helper(args: &[String]) -> ! {
    let now = monotonic_ns();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let (at, file, tag) = match words.as_slice() {
        ["stamp", file, rest @ ..] => (now, *file, rest.first().copied()),
        ["fd", n, delay, file, tag] => {
            let fd: i32 = n.parse().unwrap_or_else(|_| fail("fd N"));
            let at = after(delay);
            // SAFETY: one byte from a static buffer to the descriptor the supervisor
            // handed us, then closed; nothing else in this process uses it.
            let r = unsafe { libc::write(fd, b"\n".as_ptr().cast(), 1) };
            if r != 1 {
                fail("cannot write to the readiness fd");
            }
            // SAFETY: as above.
            unsafe { libc::close(fd) };
            (at, *file, Some(*tag))
        }
        ["notify", delay, file, tag] => {
            let at = after(delay);
            if let Err(e) = notify_ready() {
                fail(&format!("READY=1: {e}"));
            }
            (at, *file, Some(*tag))
        }
        _ => fail("usage: stamp FILE [TAG] | fd N DELAY_MS FILE TAG | notify DELAY_MS FILE TAG"),
    };
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap_or_else(|e| fail(&format!("{file}: {e}")));
    if writeln!(f, "{at}").is_err() {
        fail("cannot write the time");
    }
    drop(f);
    match tag {
        Some(tag) => {
            let e = Command::new("sleep").arg(tag).exec();
            fail(&format!("exec sleep: {e}"))
        }
        None => std::process::exit(0),
    }
}

fn fail(why: &str) -> ! {
    eprintln!("ready-helper: {why}");
    std::process::exit(100)
}

/// Sleeps `delay` ms, then reads the clock.
fn after(delay: &str) -> u128 {
    match delay.parse::<u64>() {
        Ok(ms) => {
            std::thread::sleep(Duration::from_millis(ms));
            monotonic_ns()
        }
        Err(_) => fail("DELAY_MS"),
    }
}

/// `READY=1` to `$NOTIFY_SOCKET` (a path, or `@name` for an abstract address).
fn notify_ready() -> std::io::Result<()> {
    let addr =
        std::env::var("NOTIFY_SOCKET").map_err(|_| std::io::Error::other("no NOTIFY_SOCKET"))?;
    let sock = UnixDatagram::unbound()?;
    match addr.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(b"READY=1", &a)?;
        }
        None => {
            sock.send_to(b"READY=1", &addr)?;
        }
    }
    Ok(())
}
