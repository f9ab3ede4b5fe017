//! The scenarios: each one sets tools up, measures, and kills everything it started
//! before the next begins (see [`sweep`]).

use std::fs::{self, File};
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::Args;
use crate::probe::{self, ChildrenPoller, ServiceCounter};
use crate::report::{Better, Report, summary};
use crate::tools::{self, Bins, Fleet, Instance, Service, Tool};

// The host scenario (supervise-host against supervisord on one config, and the
// scanners on the same services): a child module, so that it sees `Bench`'s fields.
#[path = "host.rs"]
mod host;
// The readiness scenario (issue 16), ours only; `pub` for its service's mode.
#[path = "ready.rs"]
pub mod ready;
// The HTTP (issue 17) and event listener (issue 18) scenarios, ours only; `pub` for
// the listener's mode.
#[path = "events.rs"]
pub mod events;
#[path = "http.rs"]
mod http;

/// Restarts are timed only on a service up this long, so that no tool's one-second
/// throttle applies.
const SETTLED: Duration = Duration::from_millis(1500);
const POLL: Duration = Duration::from_micros(50);

pub struct Bench<'a> {
    args: &'a Args,
    bins: &'a Bins,
    tools: &'a [Tool],
    work: &'a Path,
    /// The first digits of every `sleep` argument this run uses, so that anything left
    /// behind can be found.
    pub tag_base: String,
    seq: u32,
    pub report: Report,
}

impl<'a> Bench<'a> {
    pub fn new(args: &'a Args, bins: &'a Bins, tools: &'a [Tool], work: &'a Path) -> Bench<'a> {
        Bench {
            args,
            bins,
            tools,
            work,
            tag_base: format!("9{:07}", std::process::id() % 10_000_000),
            seq: 0,
            report: Report::default(),
        }
    }

    pub fn run_all(&mut self) {
        self.report.notes.push(
            "The service: ours `supervise -p DIR -f \"sleep N\"` (daemonized; the string has no \
             shell syntax, so sleep is exec'd directly); daemontools, runit, s6: a `run` script \
             `#!/bin/sh` + `exec sleep N`; supervisord: `command=sleep N`; the floor: \
             `floor sleep N`."
                .into(),
        );
        self.report.notes.push(format!(
            "Every status directory, service directory and log is under {} (a tmpfs unless \
             `--work` says otherwise), so that disk latency is not what is measured.",
            self.work.display()
        ));
        let on = |name: &str| {
            self.args
                .only
                .as_ref()
                .is_none_or(|o| o.iter().any(|x| x == name))
        };
        if on("memory") {
            eprintln!("== memory of one idle instance");
            self.one_instance_memory();
        }
        if on("restart") {
            eprintln!("== idle cost and restart latency");
            self.single_instances(true);
        } else if on("idle") {
            eprintln!("== idle cost");
            self.single_instances(false);
        }
        if on("crash") && self.args.crash_secs > 0 {
            eprintln!("== crash loop");
            self.crash_loop();
        }
        if on("killed") {
            eprintln!("== supervisor killed and started again");
            self.supervisor_killed();
        }
        if on("fleet") {
            for &n in &self.args.fleets.clone() {
                eprintln!("== {n} services");
                self.fleet(n);
            }
        }
        if on("host") {
            let n = self.args.host_programs;
            eprintln!("== host: {n} programs from one config");
            self.host(n);
        }
        if on("log") && self.args.log_mib > 0 {
            eprintln!("== log throughput");
            self.log_throughput();
        }
        if on("ready") {
            eprintln!("== readiness and health (ours)");
            self.ready();
        }
        if on("http") {
            eprintln!("== HTTP server (ours; supervisord for scale)");
            self.http();
        }
        if on("events") {
            eprintln!("== event listeners (ours)");
            self.events();
        }
        if on("watch") && self.args.watch && self.tools.contains(&Tool::Ours) {
            eprintln!("== file watch (ours)");
            self.watch();
        }
    }

    fn tag(&mut self) -> String {
        self.seq += 1;
        format!("{}{:03}", self.tag_base, self.seq)
    }

    /// The tools of `pool` in the order of this round: rotated, so that none always
    /// goes first.
    fn order(&self, round: usize, pool: &[Tool]) -> Vec<Tool> {
        let mut v = pool.to_vec();
        if !v.is_empty() {
            let k = round % v.len();
            v.rotate_left(k);
        }
        v
    }

    fn supervisors(&self) -> Vec<Tool> {
        self.tools
            .iter()
            .copied()
            .filter(|&t| t != Tool::Floor)
            .collect()
    }

    fn fresh(&self, name: &str) -> PathBuf {
        let d = self.work.join(name);
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn one_instance_memory(&mut self) {
        // Freshly written binary pages would count as dirty (BENCHMARKING.md).
        let _ = Command::new("sync").status();
        for round in 0..self.args.mem_rounds {
            for tool in self.order(round, self.tools) {
                let tag = self.tag();
                let work = self.fresh(&format!("mem-{}", tool.key()));
                let inst = tools::start_one(tool, self.bins, &work, &Service::sleep(&tag));
                wait_up(&inst, self.bins);
                std::thread::sleep(Duration::from_secs(1));
                let m = probe::memory(inst.sup);
                sweep();
                let r = &mut self.report;
                r.add(
                    "one idle instance: RSS kB",
                    Better::Lower,
                    0,
                    tool,
                    m.rss as f64,
                );
                r.add(
                    "one idle instance: PSS kB",
                    Better::Lower,
                    0,
                    tool,
                    m.pss as f64,
                );
                r.add(
                    "one idle instance: USS kB",
                    Better::Lower,
                    0,
                    tool,
                    m.uss as f64,
                );
                r.add(
                    "one idle instance: Private_Dirty kB",
                    Better::Lower,
                    0,
                    tool,
                    m.dirty as f64,
                );
            }
        }
    }

    /// One instance of every tool, all running: idle cost, then (with `latency`)
    /// restarts after a SIGKILL of the service and after the tool's own kill command.
    fn single_instances(&mut self, latency: bool) {
        let tag = self.tag();
        let insts: Vec<Instance> = self
            .tools
            .iter()
            .map(|&t| {
                let work = self.fresh(&format!("one-{}", t.key()));
                tools::start_one(t, self.bins, &work, &Service::sleep(&tag))
            })
            .collect();
        for i in &insts {
            wait_up(i, self.bins);
        }
        std::thread::sleep(Duration::from_secs(2));
        let before: Vec<(u64, u64)> = insts
            .iter()
            .map(|i| (probe::wakeups(i.sup), probe::cpu_ns(i.sup)))
            .collect();
        std::thread::sleep(Duration::from_secs(self.args.idle_secs));
        let idle = self.args.idle_secs;
        for (i, (w0, c0)) in insts.iter().zip(before) {
            let (w1, c1) = (probe::wakeups(i.sup), probe::cpu_ns(i.sup));
            let r = &mut self.report;
            r.add(
                &format!("idle: wakeups in {idle} s"),
                Better::Lower,
                0,
                i.tool,
                w1.saturating_sub(w0) as f64,
            );
            r.add(
                &format!("idle: CPU ms in {idle} s"),
                Better::Lower,
                1,
                i.tool,
                c1.saturating_sub(c0) as f64 / 1e6,
            );
        }
        let pids: Vec<u32> = insts.iter().map(|i| i.sup).collect();
        let secs = self.args.strace_secs;
        let counts = probe::syscalls(&pids, secs, self.work);
        for (i, n) in insts.iter().zip(counts) {
            let figure = format!("idle: syscalls in {secs} s (strace -c)");
            match n {
                Some(n) => self.report.add(&figure, Better::Lower, 0, i.tool, n as f64),
                None => self
                    .report
                    .miss(&figure, Better::Lower, i.tool, "strace missing"),
            }
        }
        if !latency {
            sweep();
            return;
        }

        let mut ours_status = Vec::new();
        for run in 0..self.args.runs {
            for inst in self.order(run, &insts.iter().map(|i| i.tool).collect::<Vec<_>>()) {
                let inst = insts.iter().find(|i| i.tool == inst).expect("instance");
                let old = wait_settled(inst, self.bins);
                let t0 = Instant::now();
                // SAFETY: killing the service the benchmark started.
                unsafe { libc::kill(old as i32, libc::SIGKILL) };
                let t = time_restart(inst, self.bins, old, t0);
                let r = &mut self.report;
                r.add(
                    "SIGKILL of service → new pid, ms",
                    Better::Lower,
                    2,
                    inst.tool,
                    t.child,
                );
                r.add(
                    "SIGKILL of service → service exec'd, ms",
                    Better::Lower,
                    2,
                    inst.tool,
                    t.exec,
                );
                ours_status.extend(t.status);
            }
        }
        if !ours_status.is_empty() {
            self.report.ours_only.push((
                "SIGKILL of service → new pid in `status`, ms".into(),
                summary(&ours_status, 2),
                "what scripts reading `status` see".into(),
            ));
        }

        let mut ours_status = Vec::new();
        for run in 0..self.args.runs {
            for inst in self.order(run, &insts.iter().map(|i| i.tool).collect::<Vec<_>>()) {
                let inst = insts.iter().find(|i| i.tool == inst).expect("instance");
                let Some(mut cmd) = tools::kill_command(inst, self.bins) else {
                    continue;
                };
                let old = wait_settled(inst, self.bins);
                let t0 = Instant::now();
                let mut child = cmd.spawn().expect("kill command");
                let t = time_restart(inst, self.bins, old, t0);
                let _ = child.wait();
                let r = &mut self.report;
                r.add(
                    "control kill command → new pid, ms",
                    Better::Lower,
                    2,
                    inst.tool,
                    t.child,
                );
                ours_status.extend(t.status);
            }
        }
        if !ours_status.is_empty() {
            self.report.ours_only.push((
                "`svc -k` → new pid in `status`, ms (svc's own start included)".into(),
                summary(&ours_status, 2),
                "< 3".into(),
            ));
        }
        // Memory again, now that every tool has been through the restarts above: what
        // a supervisor that has done its job (not one that has only started) holds,
        // once idle again (2 s: ours lets its code go when nothing is due, and the last
        // restart timed may have been its own a moment ago).
        std::thread::sleep(Duration::from_secs(2));
        for inst in &insts {
            let m = probe::memory(inst.sup);
            let r = &mut self.report;
            let figure = "after the restarts above: USS kB";
            r.add(figure, Better::Lower, 0, inst.tool, m.uss as f64);
            let figure = "after the restarts above: Private_Dirty kB";
            r.add(figure, Better::Lower, 0, inst.tool, m.dirty as f64);
        }
        self.report.notes.push(
            "Control kill command: ours `svc -k DIR`, daemontools `svc -k DIR`, runit \
             `sv kill DIR`, s6 `s6-svc -k DIR`, supervisord `supervisorctl signal KILL svc`; \
             timed from just before the command is spawned, so its own start-up counts."
                .into(),
        );
        sweep();
    }

    /// A service that exits at once, under every supervisor at the same time: how
    /// often each restarts it and what that costs the supervisor itself.
    fn crash_loop(&mut self) {
        let tools = self.supervisors();
        let insts: Vec<(Instance, PathBuf)> = tools
            .iter()
            .map(|&t| {
                let work = self.fresh(&format!("crash-{}", t.key()));
                fs::create_dir_all(&work).expect("work");
                let count = work.join("starts");
                if t == Tool::Ours {
                    // The anchors restart once a second; ours backs off (1, 2, 4 ...
                    // s) by default. Capped at 1 s, ours restarts at the same rate,
                    // so the CPU per restart compares like with like.
                    fs::write(work.join("supervise.conf"), "[global]\nbackoff_max : 1\n")
                        .expect("supervise.conf");
                }
                let service = Service {
                    exec: "false".into(),
                    count_to: Some(count.clone()),
                };
                (tools::start_one(t, self.bins, &work, &service), count)
            })
            .collect();
        let starts = |p: &Path| fs::metadata(p).map_or(0, |m| m.len());
        std::thread::sleep(Duration::from_secs(2));
        let before: Vec<(u64, u64)> = insts
            .iter()
            .map(|(i, c)| (probe::cpu_ns(i.sup), starts(c)))
            .collect();
        let secs = self.args.crash_secs;
        std::thread::sleep(Duration::from_secs(secs));
        for ((inst, count), (c0, s0)) in insts.iter().zip(before) {
            let cpu_ms = probe::cpu_ns(inst.sup).saturating_sub(c0) as f64 / 1e6;
            let n = starts(count).saturating_sub(s0);
            let r = &mut self.report;
            r.add(
                &format!("crash loop: restarts in {secs} s"),
                Better::Lower,
                0,
                inst.tool,
                n as f64,
            );
            r.add(
                &format!("crash loop: supervisor CPU ms in {secs} s"),
                Better::Lower,
                2,
                inst.tool,
                cpu_ms,
            );
            if n > 0 {
                r.add(
                    "crash loop: supervisor CPU µs per restart",
                    Better::Lower,
                    0,
                    inst.tool,
                    cpu_ms * 1000.0 / n as f64,
                );
            } else {
                r.miss(
                    "crash loop: supervisor CPU µs per restart",
                    Better::Lower,
                    inst.tool,
                    "no restart",
                );
            }
        }
        self.report.notes.push(format!(
            "Crash loop: the service is `false` (after appending a line to a counter file, to \
             count starts exactly), measured over {secs} s after 2 s; CPU is the supervisor \
             process's own time on CPU (/proc/PID/task/*/schedstat), not the service's. Each \
             tool runs with its defaults but ours: daemontools, runit and s6 restart once a \
             second; ours, which by default backs off (1, 2, 4 ... 60 s) and so restarts far \
             less, runs with `backoff_max : 1` to restart at the same rate; supervisord gives \
             up after `startretries` (3)."
        ));
        sweep();
    }

    /// SIGKILL of the supervisor, then the supervisor started again the same way: how
    /// many copies of the service run afterwards.
    fn supervisor_killed(&mut self) {
        for tool in self.supervisors() {
            let tag = self.tag();
            let work = self.fresh(&format!("killed-{}", tool.key()));
            let inst = tools::start_one(tool, self.bins, &work, &Service::sleep(&tag));
            wait_settled(&inst, self.bins);
            // SAFETY: killing the supervisor the benchmark started; it is our child
            // (or, daemonized, reparented to us as subreaper), so waitpid reaps it.
            unsafe {
                libc::kill(inst.sup as i32, libc::SIGKILL);
                libc::waitpid(inst.sup as i32, std::ptr::null_mut(), 0);
            }
            tools::restart_supervisor(&inst, self.bins);
            std::thread::sleep(Duration::from_millis(2500));
            let copies = probe::with_word(&tag)
                .into_iter()
                .filter(|&p| probe::exe(p).as_deref() == Some(&self.bins.sleep))
                .count();
            self.report.add(
                "supervisor SIGKILLed and started again: copies of the service",
                Better::Lower,
                0,
                tool,
                copies as f64,
            );
            sweep();
        }
    }

    /// `n` services: time until every one has exec'd, memory of the supervision tree,
    /// and the tool's status command over all of them.
    fn fleet(&mut self, n: usize) {
        let tools = self.supervisors();
        let up = format!("{n} services: all up, ms");
        let pss = format!("{n} services: total PSS of the supervisors, MB");
        let private = format!("{n} services: private kB per service");
        let status = format!("{n} services: status of all, ms");
        let up_parallel = format!("{n} services: all up, ms, ours started by a parallel loop");
        for round in 0..self.args.rounds {
            // Ours twice: by the serial loop of operators' scripts, and by the same loop
            // with `&` (each supervise -p waits for its own service only).
            let runs: Vec<(Tool, bool)> = self
                .order(round, &tools)
                .into_iter()
                .flat_map(|t| {
                    let twice = t == Tool::Ours;
                    std::iter::once((t, false)).chain(twice.then_some((t, true)))
                })
                .collect();
            for (tool, parallel) in runs {
                let tag = self.tag();
                let work = self.fresh(&format!("fleet-{}", tool.key()));
                let (dirs, conf) = tools::lay_out_fleet(tool, &work, n, &tag);
                let mut counter = ServiceCounter::new(&self.bins.sleep, &tag);
                let deadline = Duration::from_secs(120);
                let up = if parallel { &up_parallel } else { &up };
                let t0 = Instant::now();
                let fleet = Fleet::start(tool, self.bins, &work, dirs, conf, &tag, parallel);
                let mut count = 0;
                while t0.elapsed() < deadline {
                    count = counter.scan();
                    if count >= n {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                let elapsed = t0.elapsed();
                if count < n {
                    let why = format!("{count}/{n} up after {} s", deadline.as_secs());
                    self.report.miss(up, Better::Lower, tool, &why);
                    sweep();
                    continue;
                }
                self.report
                    .add(up, Better::Lower, 0, tool, elapsed.as_secs_f64() * 1000.0);
                if parallel {
                    drop(fleet);
                    sweep();
                    continue;
                }
                std::thread::sleep(Duration::from_secs(1));
                let mut total = probe::Mem::default();
                for p in probe::descendants(std::process::id()) {
                    if probe::alive(p) && probe::exe(p).as_deref() != Some(&self.bins.sleep) {
                        total += probe::memory(p);
                    }
                }
                self.report
                    .add(&pss, Better::Lower, 1, tool, total.pss as f64 / 1024.0);
                self.report.add(
                    &private,
                    Better::Lower,
                    0,
                    tool,
                    total.uss as f64 / n as f64,
                );
                for _ in 0..3 {
                    let mut cmd = fleet.status_command(self.bins);
                    let t0 = Instant::now();
                    let out = cmd.output().expect("status command");
                    let ms = t0.elapsed().as_secs_f64() * 1000.0;
                    let lines = out.stdout.iter().filter(|&&b| b == b'\n').count();
                    if lines >= n {
                        self.report.add(&status, Better::Lower, 1, tool, ms);
                    } else {
                        let why = format!("{lines} lines for {n}");
                        self.report.miss(&status, Better::Lower, tool, &why);
                    }
                }
                drop(fleet);
                sweep();
            }
        }
        if n == *self.args.fleets.iter().max().unwrap_or(&n) {
            self.report.notes.push(
                "Many services: ours are started by a shell loop of `supervise -p status/sI -f \
                 \"sleep N\"` (each returns once its service is started; a second row runs \
                 the same loop with `&` and `wait`), daemontools by \
                 `svscan`, runit by `runsvdir`, s6 by `s6-svscan -c N+16`, supervisord with one \
                 `[program:sI]` each. \"All up\": from before the start to every `sleep` exec'd \
                 (/proc scanned every 10 ms). Memory: every process of the supervision tree, \
                 services left out. Status: ours `svc status DIR...`, daemontools `svstat DIR...`, \
                 runit `sv status DIR...`, s6 a shell loop of `s6-svstat DIR` (it takes one), \
                 supervisord `supervisorctl status`; output to a pipe."
                    .into(),
            );
        }
    }

    fn log_throughput(&mut self) {
        let bytes = self.args.log_mib << 20;
        let rotated = "log_max_size : 16M\nlog_backups : 10\n";
        let mut runs: Vec<(Tool, &str, &str)> = self
            .supervisors()
            .into_iter()
            .map(|t| (t, "logger", rotated))
            .collect();
        if self.tools.contains(&Tool::Ours) {
            runs.push((Tool::Ours, "direct", ""));
            runs.push((
                Tool::Ours,
                "timestamped",
                "log_timestamps : yes\nlog_max_size : 16M\nlog_backups : 10\n",
            ));
        }
        let figure = format!(
            "log: {} MiB through the logger, rotating at 16 MiB: throughput ÷ direct write",
            self.args.log_mib
        );
        let mut base_all = Vec::new();
        let mut extra: Vec<(&str, Vec<f64>)> =
            vec![("direct", Vec::new()), ("timestamped", Vec::new())];
        for round in 0..self.args.rounds {
            let base = self.direct_write(bytes);
            base_all.push(base);
            let k = round % runs.len();
            let mut order = runs.clone();
            order.rotate_left(k);
            for (tool, mode, config) in order {
                let t = self.logged_write(tool, bytes, config);
                if mode == "logger" {
                    self.report.add(&figure, Better::Higher, 2, tool, base / t);
                } else if let Some(e) = extra.iter_mut().find(|e| e.0 == mode) {
                    e.1.push(base / t);
                }
            }
        }
        let mib = self.args.log_mib as f64;
        let rates: Vec<f64> = base_all.iter().map(|t| mib / t).collect();
        self.report.ours_only.push((
            format!(
                "log: {} MiB of 100-byte lines straight to a file, MiB/s",
                self.args.log_mib
            ),
            summary(&rates, 0),
            "the baseline".into(),
        ));
        for (mode, v) in extra {
            if v.is_empty() {
                continue;
            }
            let what = if mode == "direct" {
                "direct to `__stdout` (the default: the file is the service's stdout)"
            } else {
                "timestamped and rotated (through a pipe)"
            };
            self.report.ours_only.push((
                format!("log: {what}: throughput ÷ direct write"),
                summary(&v, 2),
                "≥ 0.8".into(),
            ));
        }
        self.report.notes.push(
            "Log throughput: the service is a small program (this benchmark's `produce` mode) \
             writing 100-byte lines in 64 KiB writes; the time is its own, from its first write \
             to its last returning (CLOCK_MONOTONIC), so the tool's start-up does not count and \
             the logger has taken all but a pipe's worth by then. Baseline: the same program \
             with its stdout on a file. \
             Loggers: daemontools `multilog s16777215 n10`, runit `svlogd` (s16777215, n10), \
             s6 `s6-log n10 s16777215`, each under its scanner; supervisord \
             `stdout_logfile_maxbytes=16MB`; ours `log_max_size : 16M`, `log_backups : 10`."
                .into(),
        );
    }

    /// Seconds for the producer to write `bytes` to a file, no supervisor.
    fn direct_write(&mut self, bytes: u64) -> f64 {
        let out = self.work.join("direct.out");
        let timefile = self.work.join("direct.time");
        let file = File::create(&out).expect("direct.out");
        let st = Command::new(&self.bins.me)
            .arg("produce")
            .arg(bytes.to_string())
            .arg(&timefile)
            .stdout(file)
            .status()
            .expect("producer");
        assert!(st.success(), "the producer failed");
        let t = produced_in(&timefile);
        let _ = fs::remove_file(out);
        t
    }

    /// Seconds the producer, run as `tool`'s service, took to write `bytes` through
    /// the tool's logging; it is blocked whenever the logger falls behind by a pipe.
    fn logged_write(&mut self, tool: Tool, bytes: u64, ours_config: &str) -> f64 {
        let tag = self.tag();
        let work = self.fresh(&format!("log-{}", tool.key()));
        fs::create_dir_all(&work).expect("work");
        let timefile = work.join("produce.time");
        let service = Service {
            exec: format!(
                "{} produce {bytes} {} {tag}",
                self.bins.me.display(),
                timefile.display()
            ),
            count_to: None,
        };
        let mut counter = ServiceCounter::new(&self.bins.sleep, &tag);
        let t0 = Instant::now();
        tools::start_logged(tool, self.bins, &work, &service, ours_config);
        while counter.scan() == 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(600),
                "{}: the producer did not finish in 600 s",
                tool.name()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let t = produced_in(&timefile);
        // What reached the files: all of it, or all the rotation keeps.
        std::thread::sleep(Duration::from_millis(200));
        let kept = bytes_under(&work);
        let expect = bytes.min(150 << 20) * 9 / 10;
        assert!(
            kept >= expect,
            "{}: only {kept} bytes logged under {} (expected at least {expect})",
            tool.name(),
            work.display()
        );
        sweep();
        let _ = fs::remove_dir_all(&work);
        t
    }

    /// Ours only: the idle cost of watching a 10 000-file tree, and a file write →
    /// the new pid in `status`.
    fn watch(&mut self) {
        let tree = self.work.join("tree");
        for d in 0..100 {
            let sub = tree.join(format!("d{d:03}"));
            fs::create_dir_all(&sub).expect("tree");
            for f in 0..100 {
                fs::write(sub.join(format!("f{f:03}")), b"x").expect("file");
            }
        }
        for (label, debounce) in [("default 0.3 s debounce", "0.3"), ("watch_debounce 0", "0")] {
            let work = self.fresh("watch");
            fs::create_dir_all(&work).expect("work");
            let conf = work.join("watch.conf");
            let text = format!(
                "[global]\nwatch : {}\nwatch_debounce : {debounce}\n",
                tree.display()
            );
            fs::write(&conf, text).expect("config");
            let ok = Command::new(&self.bins.supervise)
                .current_dir(&work)
                .arg("-F")
                .arg(&conf)
                .args(["-p", "status/w", "-f", &format!("sleep {}", self.tag())])
                .status()
                .expect("supervise");
            assert!(ok.success());
            let dir = work.join("status/w");
            let sup: u32 = fs::read_to_string(dir.join("lock"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .expect("pid in lock");
            if debounce != "0" {
                std::thread::sleep(Duration::from_secs(1));
                let secs = self.args.strace_secs;
                let (w0, c0) = (probe::wakeups(sup), probe::cpu_ns(sup));
                std::thread::sleep(Duration::from_secs(secs));
                let (w1, c1) = (probe::wakeups(sup), probe::cpu_ns(sup));
                let calls = probe::syscalls(&[sup], secs, self.work);
                self.report.ours_only.push((
                    format!(
                        "idle, 10 000-file tree watched, {secs} s: syscalls / wakeups / CPU µs"
                    ),
                    format!(
                        "{} / {} / {}",
                        calls[0].map_or("-".into(), |n| n.to_string()),
                        w1.saturating_sub(w0),
                        c1.saturating_sub(c0) / 1000
                    ),
                    "0 / 0 / 0".into(),
                ));
            }
            let mut lat = Vec::new();
            for i in 0..self.args.runs {
                // Past the 1 s restart throttle (since the start or the last restart),
                // which would otherwise be measured.
                std::thread::sleep(Duration::from_millis(1100));
                let old = status_pid(&dir);
                let t0 = Instant::now();
                fs::write(
                    tree.join(format!("d{:03}/f{:03}", i % 100, i % 100)),
                    b"changed",
                )
                .expect("write");
                while status_pid(&dir) == old || status_pid(&dir) == 0 {
                    assert!(
                        t0.elapsed() < Duration::from_secs(5),
                        "no restart on a write"
                    );
                    std::thread::sleep(POLL);
                }
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            self.report.ours_only.push((
                format!("file write → new pid in `status`, ms, {label}"),
                summary(&lat, 1),
                "-".into(),
            ));
            sweep();
        }
    }
}

fn status_pid(dir: &Path) -> u32 {
    fs::read(dir.join("status"))
        .ok()
        .and_then(|b| supervise::status::decode(&b).ok())
        .map_or(0, |s| s.pid)
}

fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// The running service of `inst`: a child of the supervisor that has exec'd `sleep`.
fn wait_up(inst: &Instance, bins: &Bins) -> u32 {
    let t0 = Instant::now();
    loop {
        if let Some(p) = probe::children(inst.sup)
            .into_iter()
            .find(|&c| probe::exe(c).as_deref() == Some(&bins.sleep) && probe::alive(c))
        {
            return p;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "{}: no service after 15 s (supervisor {}, {})",
            inst.tool.name(),
            inst.sup,
            inst.dir.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The service's pid once it has been up for [`SETTLED`].
fn wait_settled(inst: &Instance, bins: &Bins) -> u32 {
    let pid = wait_up(inst, bins);
    let age = probe::age(pid).unwrap_or_default();
    if age < SETTLED {
        std::thread::sleep(SETTLED - age);
    }
    pid
}

struct Restart {
    child: f64,
    exec: f64,
    /// Ours: the new pid in `status`.
    status: Option<f64>,
}

/// Polls until the supervisor has a new child that has exec'd `sleep`, and (ours)
/// until `status` names it; ms since `t0`. "New pid" is when that child was first
/// seen: a supervisor may fork other short-lived children first (s6 runs `finish`).
fn time_restart(inst: &Instance, bins: &Bins, old: u32, t0: Instant) -> Restart {
    let poller = ChildrenPoller::new(inst.sup);
    let want_status = inst.tool == Tool::Ours;
    let mut seen: Vec<(u32, f64)> = Vec::new();
    let (mut found, mut status) = (None, None);
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    loop {
        if found.is_none() {
            for p in poller.new_children(old) {
                if !seen.iter().any(|s| s.0 == p) {
                    seen.push((p, ms(t0)));
                }
            }
            found = seen
                .iter()
                .find(|s| probe::exe(s.0).as_deref() == Some(&bins.sleep))
                .map(|s| (s.1, ms(t0)));
        }
        if want_status && status.is_none() {
            let p = status_pid(&inst.dir);
            if p != 0 && p != old {
                status = Some(ms(t0));
            }
        }
        if let Some((child, exec)) = found {
            if !want_status || status.is_some() {
                return Restart {
                    child,
                    exec,
                    status,
                };
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{}: no restart within 10 s (supervisor {} alive: {}; its children: {:?}, old {old})",
            inst.tool.name(),
            inst.sup,
            probe::alive(inst.sup),
            probe::children(inst.sup)
                .into_iter()
                .map(|c| (c, probe::exe(c)))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(POLL);
    }
}

/// Kills every descendant of this process (we are their subreaper, so that is
/// everything any tool started, daemonized or orphaned) and reaps them.
pub fn sweep() {
    let me = std::process::id();
    for _ in 0..500 {
        reap();
        let left = probe::descendants(me);
        if left.is_empty() {
            return;
        }
        for p in left {
            // SAFETY: every descendant of the benchmark is ours to stop.
            unsafe { libc::kill(p as i32, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn reap() {
    // SAFETY: waitpid with WNOHANG on any child; no std::process::Child of ours is
    // waited on by anyone else while a sweep runs.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

/// After the last sweep: anything still alive that this run started (a process with
/// the run's tag, or a descendant). Kills what it finds.
pub fn left_behind(tag_base: &str) -> Vec<u32> {
    sweep();
    let mut left = probe::descendants(std::process::id());
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if probe::alive(pid) && probe::cmdline(pid).iter().any(|w| w.starts_with(tag_base)) {
                left.push(pid);
            }
        }
    }
    for &p in &left {
        // SAFETY: a process this run started and failed to stop.
        unsafe { libc::kill(p as i32, libc::SIGKILL) };
    }
    left
}

/// The log benchmark's service: writes `bytes` of 100-byte lines to stdout in 64 KiB
/// writes, records when it began and ended writing (CLOCK_MONOTONIC, ns) in
/// `timefile`, then execs `sleep TAG` (or exits without a tag).
pub fn produce(args: &[String]) -> ! {
    let (Some(bytes), Some(timefile)) = (
        args.first().and_then(|b| b.parse::<u64>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: bench-compare produce BYTES TIMEFILE [TAG]");
        std::process::exit(100)
    };
    let mut line = Vec::with_capacity(100);
    while line.len() < 99 {
        line.push(b'0' + (line.len() % 10) as u8);
    }
    line.push(b'\n');
    let chunk: Vec<u8> = line.repeat(655);
    // SAFETY: fd 1 is our stdout for the life of the process; ManuallyDrop keeps it
    // open. Raw writes: no line buffering between us and the pipe or file.
    let out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let start = monotonic_ns();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        if (&*out).write_all(&chunk[..n]).is_err() {
            std::process::exit(1);
        }
        left -= n as u64;
    }
    let end = monotonic_ns();
    if fs::write(timefile, format!("{start} {end}\n")).is_err() {
        std::process::exit(1);
    }
    match args.get(2) {
        Some(tag) => {
            let e = Command::new("sleep").arg(tag).exec();
            eprintln!("produce: exec sleep: {e}");
            std::process::exit(127)
        }
        None => std::process::exit(0),
    }
}

fn monotonic_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// Seconds the producer spent writing, from its time file.
fn produced_in(timefile: &Path) -> f64 {
    let text = fs::read_to_string(timefile).expect("the producer's time file");
    let v: Vec<u128> = text
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(v.len(), 2, "bad time file {}", timefile.display());
    (v[1] - v[0]) as f64 / 1e9
}
