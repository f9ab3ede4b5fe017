//! The HTTP scenario (issue 17), ours (supervisord 4.2 for scale where it serves the
//! same thing):
//!
//! - 1000 processes (`numprocs=1000` of `sleep N`) with an `[inet_http_server]` on
//!   127.0.0.1: `GET /api/processes`, XML-RPC `supervisor.getAllProcessInfo`, the web
//!   page `/` and `/metrics`, each timed from the harness with a raw HTTP/1.1 client
//!   (a fresh connection, `Connection: close`, from before `connect` to the server's
//!   close after the last byte): no client library's decoding is in the figure.
//! - A smaller host (100 `sleep` processes, 10 crash-looping `false`, and the
//!   service whose restarts are timed): 200 clients on kept-alive connections, each
//!   sending requests back to back (`/api/processes`, `getAllProcessInfo`,
//!   `getProcessInfo` in turn), switched on and off around each SIGKILL of the timed
//!   service, so that restarts with and without the load alternate in one run; the
//!   host's memory sampled every 100 ms throughout and after the clients are gone.
//! - The same host: 50 clients that send their request one byte a second, and a
//!   normal request timed while they trickle, against the same request without them.
//!
//! The helpers at the end (a host from a config, a service's settled pid, a SIGKILL
//! timed to the new pid) are shared with the events scenario.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{Bench, POLL, SETTLED, monotonic_ns, status_pid, sweep};
use crate::probe::{self, ChildrenPoller, ServiceCounter};
use crate::report::{median, summary};
use crate::tools::Tool;

/// Processes of the big host (issue 17's figure).
const BIG: usize = 1000;
/// The smaller host of the load and slow-client figures.
const SMALL: usize = 100;
const CRASHERS: usize = 10;
/// Concurrent clients of the load (the host serves 256 connections at once).
const CLIENTS: usize = 200;
/// Clients sending a byte a second.
const SLOW: usize = 50;
/// How long the clients run against the big host.
const BURST: Duration = Duration::from_secs(5);
/// How often the host's memory is read while the load runs.
const MEM_EVERY: Duration = Duration::from_millis(100);

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

/// The requests of the scenario, for a server on `port`.
struct Reqs {
    port: u16,
}

impl Reqs {
    fn get(&self, path: &str, close: bool) -> Vec<u8> {
        let c = if close { "Connection: close\r\n" } else { "" };
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{c}\r\n",
            self.port
        )
        .into_bytes()
    }

    /// An XML-RPC call with string parameters.
    fn rpc(&self, method: &str, params: &[&str], close: bool) -> Vec<u8> {
        let c = if close { "Connection: close\r\n" } else { "" };
        let params: String = params
            .iter()
            .map(|p| format!("<param><value><string>{p}</string></value></param>"))
            .collect();
        let body = format!(
            "<?xml version=\"1.0\"?>\n<methodCall><methodName>{method}</methodName>\
             <params>{params}</params></methodCall>\n"
        );
        format!(
            "POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: text/xml\r\n\
             Content-Length: {}\r\n{c}\r\n{body}",
            self.port,
            body.len()
        )
        .into_bytes()
    }
}

/// A response read from a kept-alive connection.
struct Resp {
    status: u16,
    body: Vec<u8>,
    close: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// One request on a kept-alive connection; the answer must have a Content-Length
/// (ours always does for these paths). `buf` keeps what was read past it.
fn exchange(s: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> io::Result<Resp> {
    s.write_all(req)?;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut more = |s: &mut TcpStream, buf: &mut Vec<u8>| -> io::Result<()> {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        Ok(())
    };
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        more(s, buf)?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other("no status"))?;
    let mut len = None;
    let mut close = false;
    for l in head.lines().skip(1) {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                len = v.parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                close = true;
            }
        }
    }
    let len = len.ok_or_else(|| io::Error::other("no Content-Length"))?;
    while buf.len() < head_end + len {
        more(s, buf)?;
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Ok(Resp {
        status,
        body,
        close,
    })
}

/// One request on a fresh connection that the server closes after answering: ms
/// from before `connect` to the close, the status, and everything received.
fn one_shot(port: u16, req: &[u8]) -> io::Result<(f64, u16, Vec<u8>)> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.write_all(req)?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let status = String::from_utf8_lossy(&all[..all.len().min(64)])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((ms, status, all))
}

/// utime + stime of a process, its dead threads included, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    supervise::proc::stat_fields(pid)
        .map(|f| {
            f.get(11..13)
                .unwrap_or(&[])
                .iter()
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether something accepts on `port` within `timeout`.
fn serving(port: u16, timeout: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The `[supervisord]` head of the scenarios' configs, files under `work`; an
/// `[inet_http_server]` on `port` when given.
pub(super) fn conf_head(work: &Path, port: Option<u16>) -> String {
    let w = work.display();
    let mut s = format!(
        "[supervisord]\nnodaemon=true\nlogfile={w}/host.log\npidfile={w}/host.pid\n\
         childlogdir={w}\nstatus_root={w}/status\n\n"
    );
    if let Some(port) = port {
        s.push_str(&format!(
            "[inet_http_server]\nport=127.0.0.1:{port}\n\n[rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        ));
    }
    s
}

/// Host memory and threads at one moment.
#[derive(Clone, Copy, Default)]
struct MemAt {
    rss: u64,
    uss: u64,
    threads: u64,
}

fn mem_at(pid: u32) -> MemAt {
    let m = probe::memory(pid);
    let threads = fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0);
    MemAt {
        rss: m.rss,
        uss: m.uss,
        threads,
    }
}

/// The load's switch: clients wait on it (no CPU) while it is off.
#[derive(Default)]
struct Gate {
    /// (on, stop)
    state: Mutex<(bool, bool)>,
    cv: Condvar,
}

impl Gate {
    fn set(&self, on: bool, stop: bool) {
        *self.state.lock().expect("gate") = (on, stop);
        self.cv.notify_all();
    }

    /// Blocks while off; false once stopped.
    fn pass(&self) -> bool {
        let mut g = self.state.lock().expect("gate");
        while !g.0 && !g.1 {
            g = self.cv.wait(g).expect("gate");
        }
        !g.1
    }
}

/// What the clients of the load counted.
#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    /// Answers other than 200 (503: over the connection cap).
    refused: AtomicU64,
    /// Connections that failed or were cut.
    errors: AtomicU64,
}

impl Bench<'_> {
    pub(super) fn http(&mut self) {
        if !self.tools.contains(&Tool::Ours) || self.bins.host.is_none() {
            eprintln!("   needs ours and supervise-host (--host PATH): left out");
            return;
        }
        let anchors: Vec<Tool> = if self.tools.contains(&Tool::Supervisord) {
            vec![Tool::Ours, Tool::Supervisord]
        } else {
            vec![Tool::Ours]
        };
        for tool in anchors {
            eprintln!("   {BIG} processes: the listing ({})", tool.name());
            self.http_big(tool);
        }
        eprintln!(
            "   {CLIENTS} clients against {SMALL} processes + {CRASHERS} crash-looping, \
             restarts timed"
        );
        self.http_load();
        self.report.notes.push(format!(
            "HTTP (issue 17): `supervise-host -n -c FILE` with `[inet_http_server] \
             port=127.0.0.1:PORT` (no credentials). Listing: `[program:p]` `numprocs={BIG}` of \
             `sleep N`, 2 s after all {BIG} have exec'd; each request on a fresh connection \
             with `Connection: close`, timed by the harness from before `connect` to the \
             server's close after the last byte, the endpoints in turn, {} rounds; an answer \
             counts only if it is a 200 naming all {BIG} processes. supervisord 4.2 on the same \
             file for scale (its `/` is its own page). Load: a host of {SMALL} `sleep` \
             processes, {CRASHERS} `false` with `autorestart=true` `startsecs=0` (restarted \
             once a second each), and the timed service (`sleep N`); {CLIENTS} client threads \
             of the harness, each on its own kept-alive connection, sending requests back to \
             back (`GET /api/processes`, `supervisor.getAllProcessInfo`, \
             `supervisor.getProcessInfo('s:s_001')` in turn); they are switched on or off 300 \
             ms before each SIGKILL of the timed service (the service up {:.1} s), alternating, \
             so restarts with and without the load are taken in one run; restart timed as in \
             the restart rows (the service's supervise's children polled every 50 µs). Host \
             memory (smaps_rollup) every {} ms throughout. Slow clients: {SLOW} connections \
             each sending `GET /api/processes` one byte a second (opened again when the \
             server answers 408 after its 10 s head deadline); a normal request (fresh \
             connection) timed while they trickle, and without them before and after.",
            self.args.runs,
            SETTLED.as_secs_f64(),
            MEM_EVERY.as_millis()
        ));
    }

    /// Starts `tool`'s host on `conf`: ours `supervise-host -n -c CONF`, supervisord
    /// `supervisord -c CONF` (the config says `nodaemon`).
    pub(super) fn spawn_host(&self, tool: Tool, work: &Path, conf: &Path) -> Child {
        let mut c = match tool {
            Tool::Supervisord => {
                let dir = self.bins.supervisord.as_ref().expect("supervisord");
                let mut c = Command::new(dir.join("supervisord"));
                c.arg("-c").arg(conf);
                c
            }
            _ => {
                let mut c = Command::new(self.bins.host.as_ref().expect("supervise-host"));
                c.arg("-n").arg("-c").arg(conf);
                c
            }
        };
        c.current_dir(work)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the host")
    }

    /// (a): the listing of 1000 processes, four ways.
    fn http_big(&mut self, tool: Tool) {
        let tag = self.tag();
        let work = self.fresh(&format!("http-big-{}", tool.key()));
        fs::create_dir_all(&work).expect("work dir");
        let port = free_port();
        let conf = work.join("supervisord.conf");
        let text = format!(
            "{}[program:p]\ncommand=sleep {tag}\nprocess_name=%(program_name)s_%(process_num)04d\n\
             numprocs={BIG}\n",
            conf_head(&work, Some(port))
        );
        fs::write(&conf, text).expect("supervisord.conf");
        let mut counter = ServiceCounter::new(&self.bins.sleep, &tag);
        let t0 = Instant::now();
        let mut host = self.spawn_host(tool, &work, &conf);
        let mut up = 0;
        while t0.elapsed() < Duration::from_secs(180) {
            up = counter.scan();
            if up >= BIG {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let name = tool.name();
        if up < BIG || !serving(port, Duration::from_secs(10)) {
            self.report.ours_only.push((
                format!("{name}, {BIG} processes: listing"),
                format!("{up}/{BIG} up after 180 s, or no server on {port}"),
                "-".into(),
            ));
            sweep();
            let _ = host.wait();
            return;
        }
        std::thread::sleep(Duration::from_secs(2));
        let r = Reqs { port };
        let mut ends: Vec<(&str, Vec<u8>, &[u8])> = vec![
            (
                "XML-RPC `supervisor.getAllProcessInfo`",
                r.rpc("supervisor.getAllProcessInfo", &[], true),
                b"<name>statename</name>",
            ),
            ("the web page `GET /`", r.get("/", true), b"p_0"),
        ];
        if tool == Tool::Ours {
            ends.insert(
                0,
                (
                    "`GET /api/processes`",
                    r.get("/api/processes", true),
                    b"\"statename\"",
                ),
            );
            ends.push(("`GET /metrics`", r.get("/metrics", true), b"p_0"));
        }
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); ends.len()];
        let mut sizes: Vec<usize> = vec![0; ends.len()];
        let mut odd = Vec::new();
        for round in 0..self.args.runs {
            for (i, (what, req, marker)) in ends.iter().enumerate() {
                match one_shot(port, req) {
                    Ok((ms, 200, body)) => {
                        // The page and the metrics name each process at least once
                        // (`p_0001`...), the lists once each.
                        let n = count(&body, marker);
                        let enough = if i == 0 || what.starts_with("XML") {
                            n == BIG
                        } else {
                            n >= BIG
                        };
                        if enough {
                            times[i].push(ms);
                            sizes[i] = body.len();
                        } else {
                            odd.push(format!("round {round}, {what}: {n} processes named"));
                        }
                    }
                    Ok((_, status, _)) => odd.push(format!("round {round}, {what}: {status}")),
                    Err(e) => odd.push(format!("round {round}, {what}: {e}")),
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let m = probe::memory(host.id());
        // The same clients as the load below, on this host, for a few seconds: what
        // answers this large cost in memory at once.
        let mut burst = None;
        if tool == Tool::Ours {
            let hpid = host.id();
            let before = mem_at(hpid);
            let load = Load::start(port, hpid, "p:p_0001");
            load.set(true);
            std::thread::sleep(BURST);
            let served = load.counts.ok.load(Ordering::SeqCst);
            let (samples, lat) = load.stop();
            std::thread::sleep(Duration::from_secs(2));
            burst = Some((before, peaks(&samples, 1)[0], mem_at(hpid), served, lat));
        }
        sweep();
        let _ = host.wait();
        for o in odd.iter().take(5) {
            self.report
                .notes
                .push(format!("HTTP, {name}, {BIG} processes: {o}."));
        }
        for (i, (what, _, _)) in ends.iter().enumerate() {
            let v = &times[i];
            if v.is_empty() {
                continue;
            }
            let target = match (tool, i) {
                (Tool::Ours, 0 | 1) => format!("< 50: {}", met(median(v) < 50.0)),
                (Tool::Ours, _) => "for scale".into(),
                _ => "for scale".into(),
            };
            self.report.ours_only.push((
                format!(
                    "{name}, {BIG} processes: {what}, ms ({} requests, {} kB answer)",
                    v.len(),
                    sizes[i] / 1024
                ),
                summary(v, 2),
                target,
            ));
        }
        self.report.ours_only.push((
            format!("{name}, {BIG} processes: host process after the requests, RSS / USS kB"),
            format!("{} / {}", m.rss, m.uss),
            "-".into(),
        ));
        if let Some((before, peak, after, served, lat)) = burst {
            let f = |m: MemAt| format!("{} / {} / {}", m.rss, m.uss, m.threads);
            self.report.ours_only.push((
                format!(
                    "{name}, {BIG} processes, {CLIENTS} clients for {} s (the load's mix): \
                     answers; one as a client sees it, ms",
                    BURST.as_secs()
                ),
                format!("{served}; {}", summary(&lat, 0)),
                "for scale".into(),
            ));
            self.report.ours_only.push((
                format!(
                    "{name}, {BIG} processes, {CLIENTS} clients: host RSS kB / USS kB / \
                     threads before; peak; 2 s after"
                ),
                format!("{}; {}; {}", f(before), f(peak), f(after)),
                "for scale".into(),
            ));
        }
    }

    /// (b) and (c): the smaller host under 200 clients, with the timed restarts and
    /// the host's memory; then the slow clients.
    fn http_load(&mut self) {
        let tag = self.tag();
        let work = self.fresh("http-load");
        fs::create_dir_all(&work).expect("work dir");
        let port = free_port();
        let conf = work.join("supervisord.conf");
        let text = format!(
            "{}[program:s]\ncommand=sleep {tag}1\nprocess_name=%(program_name)s_%(process_num)03d\n\
             numprocs={SMALL}\n\n\
             [program:crash]\ncommand=false\nprocess_name=%(program_name)s_%(process_num)02d\n\
             numprocs={CRASHERS}\nautorestart=true\nstartsecs=0\n\n\
             [program:victim]\ncommand=sleep {tag}2\nautorestart=true\n",
            conf_head(&work, Some(port))
        );
        fs::write(&conf, text).expect("supervisord.conf");
        let mut host = self.spawn_host(Tool::Ours, &work, &conf);
        let hpid = host.id();
        let victim = work.join("status/victim");
        let mut counter = ServiceCounter::new(&self.bins.sleep, &tag);
        let t0 = Instant::now();
        while counter.scan() < SMALL + 1 && t0.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if counter.scan() < SMALL + 1 || !serving(port, Duration::from_secs(10)) {
            self.report.ours_only.push((
                "HTTP load".into(),
                format!("{} of {} up after 60 s", counter.scan(), SMALL + 1),
                "not met".into(),
            ));
            sweep();
            let _ = host.wait();
            return;
        }
        std::thread::sleep(Duration::from_secs(2));
        let before = mem_at(hpid);

        // Restarts with and without the load, alternating.
        let load = Load::start(port, hpid, "s:s_001");
        let mut lat: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut exec: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut waited: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut gaps: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut on_secs = 0.0;
        let phase = Instant::now();
        let cpu0 = (cpu_ticks(hpid), cpu_ticks(std::process::id()));
        let mut odd = Vec::new();
        let ok0 = load.counts.ok.load(Ordering::SeqCst);
        for run in 0..self.args.runs {
            let modes = if run % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for on in modes {
                let since = Instant::now();
                load.set(on);
                std::thread::sleep(Duration::from_millis(300));
                let Some(old) = settled_service(&victim, &self.bins.sleep) else {
                    odd.push(format!("run {run}: the timed service is not up"));
                    continue;
                };
                match kill_and_time(&victim, old, &self.bins.sleep) {
                    Some(k) => {
                        lat[on as usize].push(k.child_ms);
                        exec[on as usize].push(k.exec_ms);
                        waited[on as usize].push(k.run_delay_ms);
                        gaps[on as usize].push(k.max_gap_ms);
                    }
                    None => odd.push(format!("run {run}: no restart within 10 s")),
                }
                if on {
                    on_secs += since.elapsed().as_secs_f64();
                }
            }
        }
        let served = load.counts.ok.load(Ordering::SeqCst) - ok0;
        let cpu1 = (cpu_ticks(hpid), cpu_ticks(std::process::id()));
        let phase = phase.elapsed().as_secs_f64();
        let (refused, errors) = (
            load.counts.refused.load(Ordering::SeqCst),
            load.counts.errors.load(Ordering::SeqCst),
        );
        let (samples, client_lat) = load.stop();
        std::thread::sleep(Duration::from_secs(2));
        let after = mem_at(hpid);

        // A second burst, the load on throughout: restarts under it again, and does
        // memory come back to the same level after it? The nice value of the host's
        // HTTP threads is read while they run (the host lowers them to 19 itself).
        let load = Load::start(port, hpid, "s:s_001");
        load.set(true);
        let mut lat_nice = Vec::new();
        let mut niced = String::new();
        for run in 0..self.args.runs.div_ceil(2) {
            std::thread::sleep(Duration::from_millis(300));
            if run == 0 {
                niced = thread_nice(hpid);
            }
            let Some(old) = settled_service(&victim, &self.bins.sleep) else {
                odd.push(format!(
                    "second burst run {run}: the timed service is not up"
                ));
                continue;
            };
            match kill_and_time(&victim, old, &self.bins.sleep) {
                Some(k) => lat_nice.push(k.child_ms),
                None => odd.push(format!("second burst run {run}: no restart within 10 s")),
            }
        }
        let (samples2, _) = load.stop();
        std::thread::sleep(Duration::from_secs(2));
        let after2 = mem_at(hpid);

        // (c) The slow clients, the load gone.
        eprintln!("   {SLOW} slow clients");
        let slow = self.slow_clients(port, hpid);

        sweep();
        let _ = host.wait();
        for o in odd {
            self.report.notes.push(format!("HTTP load: {o}."));
        }
        let rows = &mut self.report.ours_only;
        for (on, what) in [(false, "without load"), (true, "with the load")] {
            if !lat[on as usize].is_empty() {
                rows.push((
                    format!(
                        "{SMALL}+{CRASHERS}+1 processes: SIGKILL → new pid, {what}, ms ({} runs)",
                        lat[on as usize].len()
                    ),
                    summary(&lat[on as usize], 2),
                    "-".into(),
                ));
                rows.push((
                    format!("{SMALL}+{CRASHERS}+1 processes: SIGKILL → service exec'd, {what}, ms"),
                    summary(&exec[on as usize], 2),
                    "-".into(),
                ));
                rows.push((
                    format!(
                        "{what}: the service's supervise waiting for a CPU between the kill and \
                         the new pid (schedstat run delay), ms; the harness's longest gap \
                         between two looks, ms"
                    ),
                    format!(
                        "{}; {}",
                        summary(&waited[on as usize], 2),
                        summary(&gaps[on as usize], 2)
                    ),
                    "-".into(),
                ));
            }
        }
        if !lat[0].is_empty() && !lat[1].is_empty() {
            let (a, b) = (median(&lat[0]), median(&lat[1]));
            rows.push((
                format!("SIGKILL → new pid: with ÷ without {CLIENTS} clients (medians)"),
                format!("{:.2} ({:+.2} ms)", b / a, b - a),
                format!("unchanged: {}", met(b - a < 1.0)),
            ));
        }
        if !lat_nice.is_empty() {
            rows.push((
                format!(
                    "second burst, the load on throughout: SIGKILL → new pid, ms ({} runs); \
                     the host's threads by nice value",
                    lat_nice.len()
                ),
                format!("{}; {niced}", summary(&lat_nice, 2)),
                "-".into(),
            ));
        }
        rows.push((
            format!(
                "{CLIENTS} clients: requests answered 200 / refused / connection errors; per \
                 s while on"
            ),
            format!(
                "{served} / {refused} / {errors}; {:.0}",
                served as f64 / on_secs.max(0.001)
            ),
            "-".into(),
        ));
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        rows.push((
            "CPU over the alternating phase: host s / harness s / wall s (load on for)".into(),
            format!(
                "{:.1} / {:.1} / {phase:.0} ({on_secs:.0})",
                cpu1.0.saturating_sub(cpu0.0) as f64 / hz,
                cpu1.1.saturating_sub(cpu0.1) as f64 / hz,
            ),
            "-".into(),
        ));
        if !client_lat.is_empty() {
            rows.push((
                format!("{CLIENTS} clients: one request as a client sees it under the load, ms"),
                summary(&client_lat, 1),
                "-".into(),
            ));
        }
        let f = |m: MemAt| format!("{} / {} / {}", m.rss, m.uss, m.threads);
        rows.push((
            "host memory, RSS kB / USS kB / threads: before the load".into(),
            f(before),
            "-".into(),
        ));
        let halves = peaks(&samples, 2);
        let top = peaks(&samples, 1)[0];
        let top2 = peaks(&samples2, 1)[0];
        // Bounded: no growth while the same load goes on (the second half's peak within
        // a quarter of the first's), a thread per connection and no more, and a second
        // burst leaving the host where the first left it (within 1 MB).
        let bounded = halves[1].rss <= halves[0].rss * 5 / 4
            && top.threads.max(top2.threads) as usize <= CLIENTS + 10
            && after2.rss <= after.rss + 1024;
        rows.push((
            "host memory: peak under the load (RSS kB / USS kB / threads); peak RSS in each \
             half of the alternating phase"
                .into(),
            format!("{}; {} / {}", f(top), halves[0].rss, halves[1].rss),
            format!("bounded: {}", met(bounded)),
        ));
        rows.push((
            "host memory: 2 s after the clients closed".into(),
            f(after),
            format!(
                "{:+} kB RSS, {:+} threads against before",
                after.rss as i64 - before.rss as i64,
                after.threads as i64 - before.threads as i64
            ),
        ));
        rows.push((
            "host memory: the second burst: peak; 2 s after".into(),
            format!("{}; {}", f(top2), f(after2)),
            format!(
                "{:+} kB RSS after, against after the first",
                after2.rss as i64 - after.rss as i64
            ),
        ));
        rows.extend(slow);
    }

    /// (c): normal requests with and without `SLOW` clients trickling.
    fn slow_clients(&mut self, port: u16, hpid: u32) -> Vec<(String, String, String)> {
        let r = Reqs { port };
        let kinds: [(&str, Vec<u8>); 2] = [
            ("`GET /api/processes`", r.get("/api/processes", true)),
            (
                "`getProcessInfo`",
                r.rpc("supervisor.getProcessInfo", &["victim"], true),
            ),
        ];
        let slow_req = r.get("/api/processes", false);
        let n = self.args.runs;
        let mut plain: [Vec<f64>; 2] = Default::default();
        let mut during: [Vec<f64>; 2] = Default::default();
        let mut odd = Vec::new();
        let time = |into: &mut [Vec<f64>; 2], odd: &mut Vec<String>| {
            for _ in 0..n / 2 {
                for (i, (what, req)) in kinds.iter().enumerate() {
                    match one_shot(port, req) {
                        Ok((ms, 200, _)) => into[i].push(ms),
                        Ok((_, st, _)) => odd.push(format!("{what}: {st}")),
                        Err(e) => odd.push(format!("{what}: {e}")),
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
            }
        };
        time(&mut plain, &mut odd);
        let stop = Arc::new(AtomicBool::new(false));
        let lives: Arc<Mutex<Vec<(f64, u16)>>> = Arc::default();
        let began = Instant::now();
        let trickler = {
            let (stop, lives) = (stop.clone(), lives.clone());
            std::thread::spawn(move || trickle(port, &slow_req, &stop, &lives))
        };
        std::thread::sleep(Duration::from_secs(3));
        time(&mut during, &mut odd);
        let threads = mem_at(hpid).threads;
        // Long enough for the first connections to meet the head deadline.
        let enough = Duration::from_millis(11_500);
        if began.elapsed() < enough {
            std::thread::sleep(enough - began.elapsed());
        }
        stop.store(true, Ordering::SeqCst);
        let opened = trickler.join().unwrap_or(0);
        time(&mut plain, &mut odd);
        for o in odd.iter().take(5) {
            self.report.notes.push(format!("HTTP slow clients: {o}."));
        }
        let mut rows = Vec::new();
        for (i, (what, _)) in kinds.iter().enumerate() {
            if plain[i].is_empty() || during[i].is_empty() {
                continue;
            }
            let (a, b) = (median(&plain[i]), median(&during[i]));
            rows.push((
                format!("{what}, {SMALL}+{CRASHERS}+1 processes, no slow client, ms"),
                summary(&plain[i], 2),
                "-".into(),
            ));
            rows.push((
                format!("{what}, while {SLOW} clients send a byte a second, ms"),
                summary(&during[i], 2),
                format!(
                    "held up by nothing: {} ({:+.2} ms)",
                    met(b < a * 1.5 + 1.0),
                    b - a
                ),
            ));
        }
        let lives = lives.lock().expect("lives").clone();
        let secs: Vec<f64> = lives.iter().map(|l| l.0).collect();
        let mut statuses: Vec<u16> = lives.iter().map(|l| l.1).collect();
        statuses.sort_unstable();
        statuses.dedup();
        if !secs.is_empty() {
            rows.push((
                format!(
                    "slow clients: connections opened / answered by the server; s until its \
                     answer ({:?})",
                    statuses
                ),
                format!("{opened} / {}; {}", secs.len(), summary(&secs, 1)),
                "10 s head deadline".into(),
            ));
            rows.push((
                "slow clients: the host's threads while they trickle".into(),
                threads.to_string(),
                "-".into(),
            ));
        }
        rows
    }
}

/// `CLIENTS` client threads (off until switched on) and a sampler of the host's
/// memory every [`MEM_EVERY`].
struct Load {
    gate: Arc<Gate>,
    counts: Arc<Counts>,
    lat: Arc<Mutex<Vec<f64>>>,
    clients: Vec<std::thread::JoinHandle<()>>,
    sampling: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(bool, MemAt)>>>,
    sampler: std::thread::JoinHandle<()>,
}

impl Load {
    /// The clients of a server on `port` (`one`: the process `getProcessInfo` asks
    /// for), and the sampler of the host `hpid`.
    fn start(port: u16, hpid: u32, one: &str) -> Load {
        let gate = Arc::new(Gate::default());
        let counts = Arc::new(Counts::default());
        let lat: Arc<Mutex<Vec<f64>>> = Arc::default();
        let clients = (0..CLIENTS)
            .map(|i| {
                let (gate, counts, lat) = (gate.clone(), counts.clone(), lat.clone());
                let one = one.to_owned();
                std::thread::spawn(move || client(i, port, &one, &gate, &counts, &lat))
            })
            .collect();
        let sampling = Arc::new(AtomicBool::new(true));
        let samples: Arc<Mutex<Vec<(bool, MemAt)>>> = Arc::default();
        let sampler = {
            let (sampling, samples, gate) = (sampling.clone(), samples.clone(), gate.clone());
            std::thread::spawn(move || {
                while sampling.load(Ordering::SeqCst) {
                    let on = gate.state.lock().expect("gate").0;
                    samples.lock().expect("samples").push((on, mem_at(hpid)));
                    std::thread::sleep(MEM_EVERY);
                }
            })
        };
        Load {
            gate,
            counts,
            lat,
            clients,
            sampling,
            samples,
            sampler,
        }
    }

    fn set(&self, on: bool) {
        self.gate.set(on, false);
    }

    /// Stops and joins everything (the clients close their connections): the memory
    /// samples (load on, memory) and the sampled client-side latencies.
    fn stop(self) -> (Vec<(bool, MemAt)>, Vec<f64>) {
        self.gate.set(false, true);
        for c in self.clients {
            let _ = c.join();
        }
        self.sampling.store(false, Ordering::SeqCst);
        let _ = self.sampler.join();
        let samples = self.samples.lock().expect("samples").clone();
        let lat = self.lat.lock().expect("latencies").clone();
        (samples, lat)
    }
}

/// The peak (each field on its own) of the samples taken with the load on, over each
/// of `parts` equal stretches of all the samples.
fn peaks(samples: &[(bool, MemAt)], parts: usize) -> Vec<MemAt> {
    let n = samples.len().max(1);
    (0..parts)
        .map(|q| {
            samples
                .iter()
                .enumerate()
                .filter(|(i, (on, _))| *on && i * parts / n == q)
                .map(|(_, (_, m))| *m)
                .fold(MemAt::default(), |a, m| MemAt {
                    rss: a.rss.max(m.rss),
                    uss: a.uss.max(m.uss),
                    threads: a.threads.max(m.threads),
                })
        })
        .collect()
}

/// The threads of `pid` counted by nice value: `nice 0: 1, nice 19: 201`.
fn thread_nice(pid: u32) -> String {
    let mut by: std::collections::BTreeMap<i64, usize> = Default::default();
    let tasks = fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten();
    for t in tasks {
        // Field 19 of stat, counted after the command's closing parenthesis.
        let Ok(stat) = fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let nice = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(16))
            .and_then(|n| n.parse::<i64>().ok());
        if let Some(n) = nice {
            *by.entry(n).or_default() += 1;
        }
    }
    by.iter()
        .map(|(n, c)| format!("nice {n}: {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A client of the load: requests back to back on one kept-alive connection while
/// the gate is on.
fn client(i: usize, port: u16, one: &str, gate: &Gate, counts: &Counts, on_lat: &Mutex<Vec<f64>>) {
    // The clients stand for programs on other machines: at nice 19, as the host's
    // HTTP threads are, they do not take the CPU from the harness's own looks at the
    // restarted service (its supervise's wait for a CPU has a row of its own).
    // SAFETY: setpriority on this thread.
    // (gettid by the system call: the static glibc has no gettid().)
    let _ = unsafe {
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::syscall(libc::SYS_gettid) as libc::id_t,
            19,
        )
    };
    let r = Reqs { port };
    let reqs = [
        r.get("/api/processes", false),
        r.rpc("supervisor.getAllProcessInfo", &[], false),
        r.rpc("supervisor.getProcessInfo", &[one], false),
    ];
    let mut k = i;
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::new();
    let mut lat = Vec::new();
    while gate.pass() {
        let s = match conn.as_mut() {
            Some(s) => s,
            None => match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                    buf.clear();
                    conn.insert(s)
                }
                Err(_) => {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        let t0 = Instant::now();
        match exchange(s, &reqs[k % reqs.len()], &mut buf) {
            Ok(resp) => {
                if resp.status == 200 && !resp.body.is_empty() {
                    counts.ok.fetch_add(1, Ordering::Relaxed);
                    lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                } else {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                }
                if resp.close {
                    conn = None;
                }
            }
            Err(_) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                conn = None;
            }
        }
        k += 1;
    }
    on_lat.lock().expect("latencies").extend(lat);
}

/// `SLOW` connections, each sent one more byte of `req` a second; one the server
/// answers (or closes) is noted (seconds it lived, status) and opened again.
/// Returns how many were opened.
fn trickle(port: u16, req: &[u8], stop: &AtomicBool, lives: &Mutex<Vec<(f64, u16)>>) -> usize {
    let open = || -> Option<TcpStream> {
        let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_nonblocking(true).ok()?;
        Some(s)
    };
    let mut conns: Vec<(Option<TcpStream>, usize, Instant)> = Vec::new();
    let mut opened = 0;
    while !stop.load(Ordering::SeqCst) {
        while conns.len() < SLOW {
            opened += 1;
            conns.push((open(), 0, Instant::now()));
        }
        for c in conns.iter_mut() {
            let Some(s) = c.0.as_mut() else {
                opened += 1;
                *c = (open(), 0, Instant::now());
                continue;
            };
            let mut got = [0u8; 256];
            let answered = match s.read(&mut got) {
                Ok(0) => Some(0),
                Ok(n) => Some(
                    String::from_utf8_lossy(&got[..n])
                        .split_whitespace()
                        .nth(1)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0),
                ),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                Err(_) => Some(0),
            };
            if let Some(status) = answered {
                lives
                    .lock()
                    .expect("lives")
                    .push((c.2.elapsed().as_secs_f64(), status));
                opened += 1;
                *c = (open(), 0, Instant::now());
                continue;
            }
            // The last byte is never sent: the request never completes.
            if c.1 + 1 < req.len() && s.write_all(&req[c.1..c.1 + 1]).is_ok() {
                c.1 += 1;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    opened
}

/// The pid in `dir`'s `status` once it has exec'd `sleep` and been up [`SETTLED`];
/// None after 15 s.
pub(super) fn settled_service(dir: &Path, sleep: &PathBuf) -> Option<u32> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(15) {
        let p = status_pid(dir);
        if p != 0 && probe::exe(p).as_ref() == Some(sleep) && probe::alive(p) {
            let age = probe::age(p).unwrap_or_default();
            if age < SETTLED {
                std::thread::sleep(SETTLED - age);
            }
            if status_pid(dir) == p {
                return Some(p);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// A SIGKILL of a service, timed.
pub(super) struct Killed {
    /// ms from just before `kill` to its supervise's new child first seen.
    pub child_ms: f64,
    /// ... to that child having exec'd `sleep`.
    pub exec_ms: f64,
    /// CLOCK_MONOTONIC ns just before `kill`.
    pub at_ns: u128,
    pub new_pid: u32,
    /// ms the service's supervise waited for a CPU (schedstat's run delay) between
    /// the kill and the new child seen.
    pub run_delay_ms: f64,
    /// The longest gap between two looks of the poller, ms: how late the "seen"
    /// time may be.
    pub max_gap_ms: f64,
}

/// A task's time waiting on a run queue, ns (`/proc/PID/schedstat`, second field).
fn run_delay(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// SIGKILLs `old`, the service in status directory `dir`, and polls its supervise's
/// children every [`POLL`] as the restart rows do, until the new one has exec'd
/// `sleep` and `status` names it.
pub(super) fn kill_and_time(dir: &Path, old: u32, sleep: &PathBuf) -> Option<Killed> {
    let sup: u32 = supervise::proc::stat_fields(old)
        .and_then(|f| f.get(1).and_then(|p| p.parse().ok()))
        .filter(|&p: &u32| p > 1)?;
    let poller = ChildrenPoller::new(sup);
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let delay0 = run_delay(sup);
    let mut delay1 = None;
    let mut last_look = 0.0f64;
    let mut max_gap_ms = 0.0f64;
    let at_ns = monotonic_ns();
    let t0 = Instant::now();
    // SAFETY: killing the service the benchmark started (a pid, never 0).
    unsafe { libc::kill(old as i32, libc::SIGKILL) };
    let mut seen: Vec<(u32, f64)> = Vec::new();
    let mut found: Option<(u32, f64, f64)> = None;
    let mut status = false;
    loop {
        let now = ms(t0);
        if found.is_none() {
            max_gap_ms = max_gap_ms.max(now - last_look);
            last_look = now;
            for p in poller.new_children(old) {
                if !seen.iter().any(|s| s.0 == p) {
                    seen.push((p, ms(t0)));
                }
            }
            found = seen
                .iter()
                .find(|s| probe::exe(s.0).as_ref() == Some(sleep))
                .map(|s| (s.0, s.1, ms(t0)));
            if !seen.is_empty() && delay1.is_none() {
                delay1 = Some(run_delay(sup));
            }
        }
        if !status {
            let p = status_pid(dir);
            status = p != 0 && p != old;
        }
        if let (Some((new_pid, child_ms, exec_ms)), true) = (found, status) {
            return Some(Killed {
                child_ms,
                exec_ms,
                at_ns,
                new_pid,
                run_delay_ms: delay1.unwrap_or(delay0).saturating_sub(delay0) as f64 / 1e6,
                max_gap_ms,
            });
        }
        if t0.elapsed() > Duration::from_secs(10) {
            return None;
        }
        std::thread::sleep(POLL);
    }
}
