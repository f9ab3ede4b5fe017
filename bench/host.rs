//! The host scenario: ours, `supervise-host`, against supervisord on one supervisord
//! config of N programs (`[program:pK]` with `command=sleep TAG-K`), and daemontools'
//! `svscan`, runit's `runsvdir` and s6's `s6-svscan` on the same N services laid out
//! as service directories. Figures: all up; status of all; an update that changes one
//! program (how long until it runs again, and how many services were restarted); the
//! host process idle; memory of the host and of the whole supervision tree.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Bench, POLL, status_pid, sweep};
use crate::probe::{self, ChildrenPoller, ServiceCounter};
use crate::report::{Better, median, summary};
use crate::tools::{self, Fleet, Tool};

/// How a changed config reaches the host.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Update {
    /// Ours: `kill -HUP` the host (its pid from `STATUS_ROOT/.host/lock`).
    Hup,
    /// Ours: `svc -c CONF update`.
    Svc,
    /// supervisord: `supervisorctl -c CONF update`.
    Supervisorctl,
}

/// Runs of the status command per tool and round.
const STATUS_RUNS: usize = 5;

fn fig(n: usize, what: &str) -> String {
    format!("host, {n} programs: {what}")
}

impl Bench<'_> {
    /// The host scenario, `n` programs; tools take turns, `rounds` times. Idle cost is
    /// taken in the first round only.
    pub(super) fn host(&mut self, n: usize) {
        let has_host = self.bins.host.is_some();
        if self.tools.contains(&Tool::Ours) && !has_host {
            eprintln!("supervise-host not found (--host PATH): ours left out of the host scenario");
        }
        let pool: Vec<Tool> = self
            .supervisors()
            .into_iter()
            .filter(|&t| t != Tool::Ours || has_host)
            .collect();
        let mut hup = Vec::new();
        let mut restarted = Vec::new();
        for round in 0..self.args.rounds {
            for tool in self.order(round, &pool) {
                eprintln!("   {} (round {})", tool.name(), round + 1);
                self.host_run(tool, n, round, &mut hup, &mut restarted);
            }
        }
        if pool.contains(&Tool::Ours) {
            self.host_targets(n, &hup, &restarted);
        }
        self.report.notes.push(format!(
            "Host: one supervisord config of {n} `[program:pK]` sections (`command=sleep N`, \
             defaults otherwise; `[supervisord]` with `nodaemon=true`, `logfile`, \
             `status_root`; `[unix_http_server]`, `[rpcinterface:supervisor]`, \
             `[supervisorctl]` for supervisorctl), the same text for ours (`supervise-host \
             -c FILE`: one supervise per program) and supervisord (`supervisord -c FILE`); \
             daemontools, runit and s6 run the same {n} services from service directories \
             under `svscan`, `runsvdir`, `s6-svscan -c N+16`. \"All up\": from before the \
             host (or scanner) is spawned to every `sleep` exec'd (/proc scanned every 10 \
             ms). Status: ours `svc -c FILE status`, supervisord `supervisorctl -c FILE \
             status`, the scanners as in the fleet rows; {STATUS_RUNS} runs a round, 2 s \
             after all up. Host process: supervise-host, supervisord, or the scanner; idle \
             over {} s (voluntary context switches, schedstat CPU), then `strace -c -f -p` \
             over {} s, first round only. Total PSS: every process of the tree but the \
             services. Update: one program's `command=` changed in the file (a different \
             program each time), then ours `kill -HUP` (timed to its new pid in the \
             program's `status`) or `svc -c FILE update`, supervisord `supervisorctl -c \
             FILE update` (timed from before the command is spawned to the new `sleep` \
             exec'd); 1.5 s later every service's pid is compared with the one before: \
             \"restarted\" counts the programs whose pid changed.",
            self.args.host_idle_secs, self.args.host_strace_secs
        ));
    }

    /// One tool in one round: start, all up, status, memory, idle (first round),
    /// updates (ours and supervisord); then everything is killed.
    fn host_run(
        &mut self,
        tool: Tool,
        n: usize,
        round: usize,
        hup: &mut Vec<f64>,
        restarted: &mut Vec<f64>,
    ) {
        let tag = self.tag();
        let work = self.fresh("host");
        fs::create_dir_all(&work).expect("work dir");
        let mut commands: Vec<String> = (1..=n).map(|k| format!("sleep {tag}{k:05}")).collect();
        let (dirs, conf) = match tool {
            Tool::Ours => {
                let dirs = (1..=n)
                    .map(|k| work.join("status").join(format!("p{k}")))
                    .collect();
                (dirs, Some(tools::host_conf(&work, &commands)))
            }
            Tool::Supervisord => (Vec::new(), Some(tools::host_conf(&work, &commands))),
            _ => tools::lay_out_fleet(tool, &work, n, &tag),
        };
        let mut counter = ServiceCounter::new(&self.bins.sleep, &tag);
        let deadline = Duration::from_secs(180);
        let t0 = Instant::now();
        let fleet = match tool {
            Tool::Ours => Fleet::start_host(self.bins, &work, conf.clone().expect("conf"), dirs),
            _ => Fleet::start(tool, self.bins, &work, dirs, conf.clone(), &tag, false),
        };
        let mut count = 0;
        while t0.elapsed() < deadline {
            count = counter.scan();
            if count >= n {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let elapsed = t0.elapsed();
        let up = fig(n, "all up, ms");
        if count < n {
            let why = format!("{count}/{n} up after {} s", deadline.as_secs());
            self.report.miss(&up, Better::Lower, tool, &why);
            sweep();
            return;
        }
        self.report
            .add(&up, Better::Lower, 0, tool, elapsed.as_secs_f64() * 1000.0);
        let host = fleet.starter.id();
        let mut odd = Vec::new();
        if tool == Tool::Ours {
            let lock = fs::read_to_string(work.join("status/.host/lock"))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok());
            if lock != Some(host) {
                odd.push(format!(
                    "STATUS_ROOT/.host/lock names {lock:?}, the host spawned is {host}"
                ));
            }
        }
        let at_up = service_pids(&self.bins.sleep, &tag);
        std::thread::sleep(Duration::from_secs(2));

        // Status of all.
        let status = fig(n, "status of all, ms");
        for _ in 0..STATUS_RUNS {
            let mut cmd = fleet.status_command(self.bins);
            let t0 = Instant::now();
            let out = cmd.output().expect("status command");
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            let text = String::from_utf8_lossy(&out.stdout);
            let lines = text.lines().count();
            if lines < n {
                let why = format!("{lines} lines for {n}");
                self.report.miss(&status, Better::Lower, tool, &why);
                continue;
            }
            self.report.add(&status, Better::Lower, 1, tool, ms);
            if matches!(tool, Tool::Ours | Tool::Supervisord) {
                let running = text.lines().filter(|l| l.contains(" RUNNING ")).count();
                if running != n {
                    odd.push(format!(
                        "status: {running} of {n} RUNNING, 2 s after all up"
                    ));
                }
            }
        }

        // Memory, with all n running.
        let m = probe::memory(host);
        let r = &mut self.report;
        r.add(
            &fig(n, "host process: RSS kB"),
            Better::Lower,
            0,
            tool,
            m.rss as f64,
        );
        r.add(
            &fig(n, "host process: PSS kB"),
            Better::Lower,
            0,
            tool,
            m.pss as f64,
        );
        r.add(
            &fig(n, "host process: USS kB"),
            Better::Lower,
            0,
            tool,
            m.uss as f64,
        );
        let mut total = probe::Mem::default();
        for p in probe::descendants(std::process::id()) {
            if probe::alive(p) && probe::exe(p).as_deref() != Some(&self.bins.sleep) {
                total += probe::memory(p);
            }
        }
        r.add(
            &fig(n, "total PSS of the host and its supervisors, MB"),
            Better::Lower,
            1,
            tool,
            total.pss as f64 / 1024.0,
        );

        // The host process idle, n services running.
        if round == 0 {
            let idle = self.args.host_idle_secs;
            let (w0, c0) = (probe::wakeups(host), probe::cpu_ns(host));
            std::thread::sleep(Duration::from_secs(idle));
            let (w1, c1) = (probe::wakeups(host), probe::cpu_ns(host));
            let r = &mut self.report;
            r.add(
                &fig(n, &format!("host idle: wakeups in {idle} s")),
                Better::Lower,
                0,
                tool,
                w1.saturating_sub(w0) as f64,
            );
            r.add(
                &fig(n, &format!("host idle: CPU ms in {idle} s")),
                Better::Lower,
                1,
                tool,
                c1.saturating_sub(c0) as f64 / 1e6,
            );
            let secs = self.args.host_strace_secs;
            let figure = fig(
                n,
                &format!("host idle: syscalls in {secs} s (strace -c -f)"),
            );
            match probe::syscalls(&[host], secs, &work)[0] {
                Some(c) => self.report.add(&figure, Better::Lower, 0, tool, c as f64),
                None => self
                    .report
                    .miss(&figure, Better::Lower, tool, "strace missing"),
            }
        }
        let now = service_pids(&self.bins.sleep, &tag);
        let moved = changed(&at_up, &now);
        if moved > 0 {
            odd.push(format!(
                "{moved} services changed pid between all up and the end of the idle window"
            ));
        }

        // Updates: one program changed each time, a different one.
        let k = (self.args.runs / 4).clamp(3, 5);
        let plan: Vec<Update> = match tool {
            Tool::Ours => (0..2 * k)
                .map(|u| if u % 2 == 0 { Update::Hup } else { Update::Svc })
                .collect(),
            Tool::Supervisord => vec![Update::Supervisorctl; k],
            _ => Vec::new(),
        };
        let conf = conf.unwrap_or_default();
        for (u, how) in plan.into_iter().enumerate() {
            let idx = (n / 2 + u * 97) % n;
            let new_arg = format!("{tag}{:05}{u:02}", idx + 1);
            let before = service_pids(&self.bins.sleep, &tag);
            let status_before: Vec<u32> = fleet.dirs.iter().map(|d| status_pid(d)).collect();
            commands[idx] = format!("sleep {new_arg}");
            tools::host_conf(&work, &commands);
            let ms = match how {
                Update::Hup | Update::Svc => {
                    let dir = &fleet.dirs[idx];
                    let old = status_pid(dir);
                    let t0 = Instant::now();
                    let child = if how == Update::Hup {
                        // SAFETY: the host the benchmark started.
                        unsafe { libc::kill(host as i32, libc::SIGHUP) };
                        None
                    } else {
                        let mut c = Command::new(&self.bins.svc);
                        c.arg("-c").arg(&conf).arg("update");
                        Some(quiet(c).spawn().expect("svc update"))
                    };
                    let ms = new_status_pid(dir, old, t0);
                    if let Some(mut c) = child {
                        let _ = c.wait();
                    }
                    ms
                }
                Update::Supervisorctl => {
                    let old: HashSet<u32> = probe::children(host).into_iter().collect();
                    let poller = ChildrenPoller::new(host);
                    let t0 = Instant::now();
                    let mut c = Command::new(
                        self.bins
                            .supervisord
                            .as_ref()
                            .expect("supervisord")
                            .join("supervisorctl"),
                    );
                    c.arg("-c").arg(&conf).arg("update");
                    let mut child = quiet(c).spawn().expect("supervisorctl update");
                    let ms = new_child_running(&poller, &old, &new_arg, t0);
                    let _ = child.wait();
                    ms
                }
            };
            let figure = match how {
                Update::Hup => None,
                Update::Svc | Update::Supervisorctl => Some(fig(
                    n,
                    "update, 1 program changed: `svc update` / `supervisorctl update` → its new \
                     pid, ms",
                )),
            };
            match (ms, &figure) {
                (Some(ms), Some(f)) => self.report.add(f, Better::Lower, 1, tool, ms),
                (Some(ms), None) => hup.push(ms),
                (None, _) => odd.push(format!(
                    "update {}: p{} not running again after 30 s",
                    u + 1,
                    idx + 1
                )),
            }
            std::thread::sleep(Duration::from_millis(1500));
            let after = service_pids(&self.bins.sleep, &tag);
            let n_restarted = changed(&before, &after);
            if tool == Tool::Ours {
                restarted.push(n_restarted as f64);
                let status_after: Vec<u32> = fleet.dirs.iter().map(|d| status_pid(d)).collect();
                let by_status = status_before
                    .iter()
                    .zip(&status_after)
                    .filter(|(a, b)| a != b)
                    .count();
                if by_status != n_restarted {
                    odd.push(format!(
                        "update {}: {by_status} pids changed in `status` files, {n_restarted} \
                         in /proc",
                        u + 1
                    ));
                }
            }
            let dups = after.values().filter(|v| v.len() > 1).count();
            if dups > 0 || after.len() != n {
                odd.push(format!(
                    "update {}: {} programs running ({dups} with more than one copy)",
                    u + 1,
                    after.len()
                ));
            }
            self.report.add(
                &fig(n, "update, 1 program changed: services restarted"),
                Better::Lower,
                0,
                tool,
                n_restarted as f64,
            );
        }
        for o in odd {
            let line = format!("Host, {} (round {}): {o}.", tool.name(), round + 1);
            eprintln!("   {line}");
            self.report.notes.push(line);
        }
        drop(fleet);
        sweep();
    }

    /// The median of a row's samples for a tool.
    fn median_of(&self, figure: &str, tool: Tool) -> Option<f64> {
        self.report
            .rows
            .iter()
            .find(|r| r.figure == figure)
            .and_then(|r| r.samples.get(&tool))
            .map(|v| median(v))
    }

    /// Ours' figures against the targets.
    fn host_targets(&mut self, n: usize, hup: &[f64], restarted: &[f64]) {
        let met = |ok: bool| if ok { "met" } else { "not met" };
        let up = fig(n, "all up, ms");
        let ours_up = self.median_of(&up, Tool::Ours);
        let mut rows = Vec::new();
        for (anchor, target) in [
            (Tool::S6, "< 1 (faster than s6-svscan)"),
            (Tool::Supervisord, "≤ 0.33 (3 × faster than supervisord)"),
        ] {
            if let (Some(a), Some(b)) = (ours_up, self.median_of(&up, anchor)) {
                let r = a / b;
                let ok = if anchor == Tool::S6 {
                    r < 1.0
                } else {
                    r * 3.0 <= 1.0
                };
                let whom = if anchor == Tool::S6 {
                    "s6-svscan"
                } else {
                    "supervisord"
                };
                rows.push((
                    fig(n, &format!("all up, ours ÷ {whom}")),
                    format!("{r:.2}"),
                    format!("{target}: {}", met(ok)),
                ));
            }
        }
        let status = fig(n, "status of all, ms");
        if let Some(v) = self.samples(&status, Tool::Ours) {
            rows.push((
                fig(n, "`svc -c FILE status`, ms"),
                summary(&v, 1),
                format!("< 50: {}", met(median(&v) < 50.0)),
            ));
        }
        if !hup.is_empty() {
            rows.push((
                fig(
                    n,
                    "update, 1 program changed: `kill -HUP` host → its new pid in `status`, ms",
                ),
                summary(hup, 1),
                format!("< 100: {}", met(median(hup) < 100.0)),
            ));
        }
        if !restarted.is_empty() {
            let all_one = restarted.iter().all(|&r| r == 1.0);
            let lo = restarted.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = restarted.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            rows.push((
                fig(
                    n,
                    &format!(
                        "update, 1 program changed: services restarted, {} updates",
                        restarted.len()
                    ),
                ),
                if lo == hi {
                    format!("{lo} every time")
                } else {
                    format!("{lo}–{hi}")
                },
                format!("exactly 1: {}", met(all_one)),
            ));
        }
        let idle = self.args.host_idle_secs;
        let secs = self.args.host_strace_secs;
        let w = self.median_of(
            &fig(n, &format!("host idle: wakeups in {idle} s")),
            Tool::Ours,
        );
        let s = self.median_of(
            &fig(
                n,
                &format!("host idle: syscalls in {secs} s (strace -c -f)"),
            ),
            Tool::Ours,
        );
        if let (Some(w), Some(s)) = (w, s) {
            rows.push((
                fig(
                    n,
                    &format!("host idle: wakeups in {idle} s / syscalls in {secs} s"),
                ),
                format!("{w} / {s}"),
                format!("0 / 0: {}", met(w == 0.0 && s == 0.0)),
            ));
        }
        self.report.ours_only.extend(rows);
    }

    fn samples(&self, figure: &str, tool: Tool) -> Option<Vec<f64>> {
        self.report
            .rows
            .iter()
            .find(|r| r.figure == figure)
            .and_then(|r| r.samples.get(&tool))
            .cloned()
    }
}

fn quiet(mut c: Command) -> Command {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// The pids of the scenario's services, by program number (the 5 digits after the
/// tag in `sleep TAGKKKKK`); a program with two copies has two pids.
fn service_pids(sleep: &Path, tag: &str) -> BTreeMap<usize, Vec<u32>> {
    let mut out: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if probe::exe(pid).as_deref() != Some(sleep) || !probe::alive(pid) {
            continue;
        }
        let k = probe::cmdline(pid)
            .get(1)
            .and_then(|a| a.strip_prefix(tag).map(str::to_owned))
            .and_then(|rest| rest.get(..5).and_then(|d| d.parse::<usize>().ok()));
        if let Some(k) = k {
            out.entry(k).or_default().push(pid);
        }
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    out
}

/// How many programs run with other pids (or not at all, or newly) in `b` than in `a`.
fn changed(a: &BTreeMap<usize, Vec<u32>>, b: &BTreeMap<usize, Vec<u32>>) -> usize {
    let keys: HashSet<usize> = a.keys().chain(b.keys()).copied().collect();
    keys.into_iter().filter(|k| a.get(k) != b.get(k)).count()
}

/// ms from `t0` until `dir`'s `status` names a running pid other than `old`; None
/// after 30 s.
fn new_status_pid(dir: &Path, old: u32, t0: Instant) -> Option<f64> {
    loop {
        let p = status_pid(dir);
        if p != 0 && p != old {
            return Some(t0.elapsed().as_secs_f64() * 1000.0);
        }
        if t0.elapsed() > Duration::from_secs(30) {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// ms from `t0` until a child of the polled process not in `old` has exec'd `sleep
/// ARG`; None after 30 s.
fn new_child_running(
    poller: &ChildrenPoller,
    old: &HashSet<u32>,
    arg: &str,
    t0: Instant,
) -> Option<f64> {
    loop {
        let found = poller
            .new_children(0)
            .into_iter()
            .filter(|c| !old.contains(c))
            .any(|c| probe::cmdline(c).get(1).map(String::as_str) == Some(arg));
        if found {
            return Some(t0.elapsed().as_secs_f64() * 1000.0);
        }
        if t0.elapsed() > Duration::from_secs(30) {
            return None;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}
