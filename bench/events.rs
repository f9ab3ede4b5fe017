//! The events scenario (issue 18), ours only:
//!
//! - restart with a listener: two hosts side by side, each with one service (`sleep
//!   N`, `autorestart=true`, `startsecs=0`), one of them also with an
//!   `[eventlistener:l]` subscribed to PROCESS_STATE; the services are SIGKILLed in
//!   turn and timed to their new pid as the restart rows do. The listener (this
//!   program's `events-helper` mode) notes CLOCK_MONOTONIC as each event's header
//!   arrives, so the time from the service's new pid to the listener holding
//!   PROCESS_STATE_RUNNING is taken in the same run.
//! - idle with listeners: two hosts at once, 10 services each, a listener subscribed
//!   to PROCESS_STATE, and in the second also to TICK_5; wakeups and CPU of the host
//!   (and of the listener) over a window without strace, then every system call of
//!   the hosts over a window under `strace -f -ttt`, grouped into bursts.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::http::{conf_head, kill_and_time, settled_service};
use super::{Bench, monotonic_ns, status_pid, sweep};
use crate::probe;
use crate::report::{median, summary};
use crate::tools::Tool;

/// Services of each idle host.
const IDLE_SERVICES: usize = 10;

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

/// One event as the listener noted it.
#[derive(Clone, Debug)]
struct Noted {
    mono: u128,
    real: u128,
    name: String,
    /// The payload's `key:value` words.
    fields: Vec<(String, String)>,
}

impl Noted {
    fn field(&self, k: &str) -> Option<&str> {
        self.fields.iter().find(|f| f.0 == k).map(|f| f.1.as_str())
    }
}

/// The events in a listener's file, in order.
fn noted(file: &Path) -> Vec<Noted> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let mono = w.next()?.parse().ok()?;
            let real = w.next()?.parse().ok()?;
            let name = w.next()?.to_owned();
            let fields = w
                .filter_map(|kv| kv.split_once(':'))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            Some(Noted {
                mono,
                real,
                name,
                fields,
            })
        })
        .collect()
}

/// Polls `file` every 2 ms until an event after the first `skip` satisfies `want`;
/// its index. None after `timeout`.
fn wait_noted(
    file: &Path,
    skip: usize,
    timeout: Duration,
    want: impl Fn(&Noted) -> bool,
) -> Option<(usize, Vec<Noted>)> {
    let t0 = Instant::now();
    loop {
        let v = noted(file);
        if let Some(i) = v.iter().skip(skip).position(&want) {
            return Some((skip + i, v));
        }
        if t0.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn running_of(pid: u32) -> impl Fn(&Noted) -> bool {
    move |e: &Noted| {
        e.name == "PROCESS_STATE_RUNNING" && e.field("pid") == Some(pid.to_string().as_str())
    }
}

impl Bench<'_> {
    pub(super) fn events(&mut self) {
        if !self.tools.contains(&Tool::Ours) || self.bins.host.is_none() {
            eprintln!("   needs ours and supervise-host (--host PATH): left out");
            return;
        }
        eprintln!("   restarts with and without a listener pool");
        self.events_restart();
        eprintln!("   idle with listeners (state events; state events and TICK_5)");
        self.events_idle();
        self.report.notes.push(format!(
            "Events (issue 18): the listener is this benchmark's `events-helper` mode, a \
             loop as supervisord's `childutils` writes it: `READY\\n`, the header line read, \
             CLOCK_MONOTONIC and the wall clock noted, the payload read, the event appended \
             to a file (one write), `RESULT 2\\nOK` (one write), and again. Restart: two \
             `supervise-host -n -c FILE` side by side, each with `[program:svc]` (`sleep N`, \
             `autorestart=true`, `startsecs=0`), one also with `[eventlistener:l]` \
             `events=PROCESS_STATE`; the two services SIGKILLed in turn (order alternating, \
             each up 1.5 s first), {} times each, timed to the new pid as the restart rows \
             are; the listener's figure is its time of the header of PROCESS_STATE_RUNNING \
             naming the new pid minus the time the harness first saw that pid. Idle: two \
             hosts at once, each with {IDLE_SERVICES} `sleep` programs and \
             `[eventlistener:l]`, `events=PROCESS_STATE` and `events=PROCESS_STATE,TICK_5`; 3 \
             s after every listener has had the services' RUNNING, voluntary context \
             switches and schedstat CPU over {} s, then `strace -f -ttt -p HOST` over {} s, \
             calls grouped into bursts (a gap over 1 s starts a new one).",
            self.args.runs, self.args.idle_secs, self.args.idle_secs
        ));
    }

    /// (d): restarts of a service on a host with a listener pool subscribed, and on
    /// one without, alternating.
    fn events_restart(&mut self) {
        struct H {
            with: bool,
            dir: PathBuf,
            stamps: PathBuf,
            child: std::process::Child,
        }
        let me = self.bins.me.display().to_string();
        let mut hosts = Vec::new();
        for with in [true, false] {
            let tag = self.tag();
            let work = self.fresh(if with {
                "events-with"
            } else {
                "events-without"
            });
            fs::create_dir_all(&work).expect("work dir");
            let stamps = work.join("listener.events");
            let mut text = format!(
                "{}[program:svc]\ncommand=sleep {tag}\nautorestart=true\nstartsecs=0\n",
                conf_head(&work, None)
            );
            if with {
                text.push_str(&format!(
                    "\n[eventlistener:l]\ncommand={me} events-helper {}\nevents=PROCESS_STATE\n",
                    stamps.display()
                ));
            }
            let conf = work.join("supervisord.conf");
            fs::write(&conf, text).expect("supervisord.conf");
            let child = self.spawn_host(Tool::Ours, &work, &conf);
            hosts.push(H {
                with,
                dir: work.join("status/svc"),
                stamps,
                child,
            });
        }
        let mut odd = Vec::new();
        for h in &hosts {
            let Some(pid) = settled_service(&h.dir, &self.bins.sleep) else {
                odd.push(format!("with listener {}: svc not up", h.with));
                continue;
            };
            if h.with
                && wait_noted(&h.stamps, 0, Duration::from_secs(10), running_of(pid)).is_none()
            {
                odd.push("the listener never had svc's RUNNING".into());
            }
        }
        let mut child: [Vec<f64>; 2] = Default::default();
        let mut exec: [Vec<f64>; 2] = Default::default();
        let mut to_listener = Vec::new();
        let mut kill_to_listener = Vec::new();
        let mut seqs: Vec<String> = Vec::new();
        if odd.is_empty() {
            for run in 0..self.args.runs {
                let order: Vec<usize> = if run % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
                for i in order {
                    let h = &hosts[i];
                    let Some(old) = settled_service(&h.dir, &self.bins.sleep) else {
                        odd.push(format!("run {run}: svc not up"));
                        continue;
                    };
                    let skip = noted(&h.stamps).len();
                    let Some(k) = kill_and_time(&h.dir, old, &self.bins.sleep) else {
                        odd.push(format!("run {run}: no restart within 10 s"));
                        continue;
                    };
                    let w = h.with as usize;
                    child[w].push(k.child_ms);
                    exec[w].push(k.exec_ms);
                    if !h.with {
                        continue;
                    }
                    let got = wait_noted(
                        &h.stamps,
                        skip,
                        Duration::from_secs(5),
                        running_of(k.new_pid),
                    );
                    let Some((at, v)) = got else {
                        odd.push(format!(
                            "run {run}: the listener had no RUNNING for pid {} within 5 s",
                            k.new_pid
                        ));
                        continue;
                    };
                    let e = &v[at];
                    let seen = k.at_ns + (k.child_ms * 1e6) as u128;
                    to_listener.push(e.mono.saturating_sub(seen) as f64 / 1e6);
                    kill_to_listener.push(e.mono.saturating_sub(k.at_ns) as f64 / 1e6);
                    let seq: Vec<&str> = v[skip..=at]
                        .iter()
                        .map(|e| {
                            e.name
                                .strip_prefix("PROCESS_STATE_")
                                .unwrap_or(e.name.as_str())
                        })
                        .collect();
                    seqs.push(seq.join(" "));
                }
            }
        }
        sweep();
        for h in &mut hosts {
            let _ = h.child.wait();
        }
        for o in odd {
            self.report.notes.push(format!("Events, restart: {o}."));
        }
        let rows = &mut self.report.ours_only;
        for (w, what) in [(1, "with a listener pool"), (0, "without a listener")] {
            if child[w].is_empty() {
                continue;
            }
            rows.push((
                format!(
                    "host, 1 service, {what}: SIGKILL → new pid, ms ({} runs)",
                    child[w].len()
                ),
                summary(&child[w], 2),
                "-".into(),
            ));
            rows.push((
                format!("host, 1 service, {what}: SIGKILL → service exec'd, ms"),
                summary(&exec[w], 2),
                "-".into(),
            ));
        }
        if !child[0].is_empty() && !child[1].is_empty() {
            let d = median(&child[1]) - median(&child[0]);
            let e = median(&exec[1]) - median(&exec[0]);
            rows.push((
                "a listener pool subscribed to PROCESS_STATE adds to a restart (difference \
                 of medians: new pid; exec'd), ms"
                    .into(),
                format!("{d:+.2}; {e:+.2}"),
                format!("< 1: {}", met(d < 1.0 && e < 1.0)),
            ));
        }
        if !to_listener.is_empty() {
            rows.push((
                format!(
                    "new pid → the listener has its PROCESS_STATE_RUNNING, ms ({} restarts)",
                    to_listener.len()
                ),
                summary(&to_listener, 2),
                "for scale".into(),
            ));
            rows.push((
                "SIGKILL → the listener has PROCESS_STATE_RUNNING, ms".into(),
                summary(&kill_to_listener, 2),
                "for scale".into(),
            ));
            let mut kinds = seqs.clone();
            kinds.sort();
            kinds.dedup();
            let listing: Vec<String> = kinds
                .iter()
                .map(|k| format!("{k} ({}×)", seqs.iter().filter(|s| *s == k).count()))
                .collect();
            rows.push((
                "events the listener had per restart, up to RUNNING".into(),
                listing.join("; "),
                "EXITED STARTING RUNNING".into(),
            ));
        }
    }

    /// (e): hosts idle with listeners subscribed.
    fn events_idle(&mut self) {
        struct H {
            ticks: bool,
            work: PathBuf,
            stamps: PathBuf,
            child: std::process::Child,
        }
        let me = self.bins.me.display().to_string();
        let mut hosts = Vec::new();
        for ticks in [false, true] {
            let tag = self.tag();
            let work = self.fresh(if ticks {
                "events-idle-tick"
            } else {
                "events-idle"
            });
            fs::create_dir_all(&work).expect("work dir");
            let stamps = work.join("listener.events");
            let events = if ticks {
                "PROCESS_STATE,TICK_5"
            } else {
                "PROCESS_STATE"
            };
            let text = format!(
                "{}[program:s]\ncommand=sleep {tag}\nprocess_name=%(program_name)s_%(process_num)02d\n\
                 numprocs={IDLE_SERVICES}\n\n\
                 [eventlistener:l]\ncommand={me} events-helper {}\nevents={events}\n",
                conf_head(&work, None),
                stamps.display()
            );
            let conf = work.join("supervisord.conf");
            fs::write(&conf, text).expect("supervisord.conf");
            let child = self.spawn_host(Tool::Ours, &work, &conf);
            hosts.push(H {
                ticks,
                work,
                stamps,
                child,
            });
        }
        let mut odd = Vec::new();
        for h in &hosts {
            let all = wait_noted(&h.stamps, 0, Duration::from_secs(20), |_| {
                noted(&h.stamps)
                    .iter()
                    .filter(|e| e.name == "PROCESS_STATE_RUNNING")
                    .filter(|e| e.field("groupname") == Some("s"))
                    .count()
                    >= IDLE_SERVICES
            });
            if all.is_none() {
                odd.push(format!(
                    "ticks {}: the listener did not have every RUNNING within 20 s",
                    h.ticks
                ));
            }
        }
        std::thread::sleep(Duration::from_secs(3));
        // The host, the listener, and the listener's supervise.
        let pids: Vec<[u32; 3]> = hosts
            .iter()
            .map(|h| {
                let l = status_pid(&h.work.join("status/l"));
                let sup = supervise::proc::stat_fields(l)
                    .and_then(|f| f.get(1).and_then(|p| p.parse().ok()))
                    .unwrap_or(0);
                [h.child.id(), l, sup]
            })
            .collect();
        let read = |p: &[u32; 3]| p.map(|x| (probe::wakeups(x), probe::cpu_ns(x)));
        let idle = self.args.idle_secs;
        let t0 = monotonic_ns();
        let before: Vec<[(u64, u64); 3]> = pids.iter().map(read).collect();
        std::thread::sleep(Duration::from_secs(idle));
        let after: Vec<[(u64, u64); 3]> = pids.iter().map(read).collect();
        let t1 = monotonic_ns();
        // Under strace.
        let outs: Vec<PathBuf> = hosts.iter().map(|h| h.work.join("strace.txt")).collect();
        let tracers: Vec<_> = pids
            .iter()
            .zip(&outs)
            .map(|(p, out)| {
                Command::new("strace")
                    .args(["-f", "-ttt", "-o"])
                    .arg(out)
                    .args(["-p", &p[0].to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .ok()
            })
            .collect();
        let t2 = monotonic_ns();
        std::thread::sleep(Duration::from_secs(idle));
        let t3 = monotonic_ns();
        let calls: Vec<Option<Vec<(f64, String)>>> = tracers
            .into_iter()
            .zip(&outs)
            .map(|(t, out)| {
                let mut t = t?;
                // SAFETY: SIGINT makes our own strace detach.
                unsafe { libc::kill(t.id() as i32, libc::SIGINT) };
                let _ = t.wait();
                fs::read_to_string(out)
                    .ok()
                    .map(|s| probe::parse_strace(&s))
            })
            .collect();
        let events: Vec<Vec<Noted>> = hosts.iter().map(|h| noted(&h.stamps)).collect();
        sweep();
        for h in &mut hosts {
            let _ = h.child.wait();
        }
        for o in odd {
            self.report.notes.push(format!("Events, idle: {o}."));
        }
        let rows = &mut self.report.ours_only;
        for (i, h) in hosts.iter().enumerate() {
            let what = if h.ticks {
                "PROCESS_STATE and TICK_5"
            } else {
                "PROCESS_STATE"
            };
            let ticks_in = |a: u128, b: u128| {
                events[i]
                    .iter()
                    .filter(|e| e.name == "TICK_5" && e.mono >= a && e.mono < b)
                    .count()
            };
            let others_in = |a: u128, b: u128| {
                events[i]
                    .iter()
                    .filter(|e| e.name != "TICK_5" && e.mono >= a && e.mono < b)
                    .count()
            };
            let (n1, n2) = (ticks_in(t0, t1), ticks_in(t2, t3));
            let d = |k: usize| {
                (
                    after[i][k].0.saturating_sub(before[i][k].0),
                    after[i][k].1.saturating_sub(before[i][k].1) / 1000,
                )
            };
            let ((hw, hc), (lw, lc), (sw, sc)) = (d(0), d(1), d(2));
            let target = if h.ticks {
                let per = if n1 > 0 {
                    hw as f64 / n1 as f64
                } else {
                    f64::NAN
                };
                // Two per tick: the timer that sends it, and the listener's RESULT to
                // read (supervisord's protocol; the next tick waits for it).
                format!(
                    "two wakeups per tick (send, RESULT): {} ({per:.1} per tick)",
                    met(n1 > 0 && hw as usize <= 2 * n1)
                )
            } else {
                format!("0: {}", met(hw == 0))
            };
            rows.push((
                format!(
                    "idle, {IDLE_SERVICES} services, listener on {what}, {idle} s: ticks the \
                     listener had / other events / host wakeups / host CPU µs"
                ),
                format!("{n1} / {} / {hw} / {hc}", others_in(t0, t1)),
                target,
            ));
            rows.push((
                format!(
                    "idle, listener on {what}, {idle} s: the listener's wakeups / CPU µs; its \
                     supervise's wakeups / CPU µs"
                ),
                format!("{lw} / {lc}; {sw} / {sc}"),
                "-".into(),
            ));
            match &calls[i] {
                Some(c) => {
                    let b = probe::bursts(c);
                    let listing = b
                        .get(1)
                        .or(b.first())
                        .map(|b| b.join(" "))
                        .unwrap_or_default();
                    let target = if h.ticks {
                        format!(
                            "one burst per tick: {}",
                            met(n2 > 0 && b.len() <= n2 && b.len() + 1 >= n2)
                        )
                    } else {
                        format!("0: {}", met(c.is_empty()))
                    };
                    rows.push((
                        format!(
                            "idle, listener on {what}, {idle} s under strace -f: ticks / bursts \
                             / system calls of the host"
                        ),
                        format!("{n2} / {} / {}", b.len(), c.len()),
                        target,
                    ));
                    if !listing.is_empty() {
                        rows.push((
                            format!("idle, listener on {what}: the host's calls of one burst"),
                            listing,
                            "-".into(),
                        ));
                    }
                }
                None => rows.push((
                    format!("idle, listener on {what}, under strace"),
                    "strace missing or failed".into(),
                    "-".into(),
                )),
            }
            if h.ticks {
                let late: Vec<f64> = events[i]
                    .iter()
                    .filter(|e| e.name == "TICK_5")
                    .filter_map(|e| {
                        let when: u128 = e.field("when")?.parse().ok()?;
                        Some((e.real as f64 / 1e9) - when as f64)
                    })
                    .collect();
                let gaps: Vec<f64> = events[i]
                    .iter()
                    .filter(|e| e.name == "TICK_5")
                    .map(|e| e.mono as f64 / 1e9)
                    .collect::<Vec<_>>()
                    .windows(2)
                    .map(|p| p[1] - p[0])
                    .collect();
                if !late.is_empty() {
                    rows.push((
                        format!(
                            "TICK_5: the listener has it, s after the 5 s boundary it names; s \
                             between ticks ({} ticks)",
                            late.len()
                        ),
                        format!("{}; {}", summary(&late, 3), summary(&gaps, 3)),
                        "-".into(),
                    ));
                }
            }
        }
    }
}

/// `bench-compare events-helper FILE`: an event listener, as supervisord's
/// `childutils` loop is written: `READY\n`; the header line (CLOCK_MONOTONIC and the
/// wall clock noted as it arrives); the payload; a line `MONO_NS REAL_NS EVENTNAME
/// PAYLOAD` appended to FILE (newlines of the payload made blanks); `RESULT 2\nOK`;
/// again. Exits when the host closes its end.
pub fn helper(args: &[String]) -> ! {
    let Some(file) = args.first() else {
        eprintln!("usage: bench-compare events-helper FILE");
        std::process::exit(100)
    };
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap_or_else(|e| {
            eprintln!("events-helper: {file}: {e}");
            std::process::exit(100)
        });
    // SAFETY: fd 1 is our stdout (the connection to the host) for the life of the
    // process; ManuallyDrop keeps it open. Raw writes: each message one `write`.
    let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let stdin = std::io::stdin();
    let mut inp = stdin.lock();
    let mut header = String::new();
    loop {
        if out.write_all(b"READY\n").is_err() {
            std::process::exit(0);
        }
        header.clear();
        match inp.read_line(&mut header) {
            Ok(0) | Err(_) => std::process::exit(0),
            Ok(_) => {}
        }
        let mono = monotonic_ns();
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut name = "?";
        let mut len = 0usize;
        for w in header.split_whitespace() {
            if let Some(v) = w.strip_prefix("eventname:") {
                name = v;
            } else if let Some(v) = w.strip_prefix("len:") {
                len = v.parse().unwrap_or(0);
            }
        }
        let mut payload = vec![0u8; len];
        if inp.read_exact(&mut payload).is_err() {
            std::process::exit(0);
        }
        let line = format!(
            "{mono} {real} {name} {}\n",
            String::from_utf8_lossy(&payload).replace('\n', " ")
        );
        let _ = log.write_all(line.as_bytes());
        if out.write_all(b"RESULT 2\nOK").is_err() {
            std::process::exit(0);
        }
    }
}
