//! Core benchmark: what one idle supervise costs, and how fast it restarts.
//!
//! Run with `bench/run.sh` (it builds the release binaries first). Figures, taken the
//! way `../shared/BENCHMARKING.md` describes:
//! - memory of an idle supervise from `/proc/PID/smaps_rollup` (after `sync`);
//! - idle cost over a quiet window: system calls (strace -c), voluntary context
//!   switches and CPU ticks from /proc;
//! - SIGKILL of the service → new pid, as a new child in `/proc/<supervise>/task/*/children`
//!   and as the new pid in `status`, 20 runs, the service up at least 1.5 s before each
//!   kill so the 1 s throttle never applies;
//! - `svc -k` → new pid in `status`, 20 runs.
//!
//! The poller reads /proc and the status file every ~50 µs on the second core.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use supervise::status;

const RUNS: usize = 20;

/// Every supervise the benchmark started, for the panic hook: release builds abort on
/// panic, so destructors do not run, and nothing may be left behind.
static STARTED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn started(pid: u32) -> u32 {
    if let Ok(mut v) = STARTED.lock() {
        v.push(pid);
    }
    pid
}

fn stop_everything() {
    let pids = STARTED.lock().map(|v| v.clone()).unwrap_or_default();
    for &p in &pids {
        // SAFETY: signalling processes this benchmark started.
        unsafe { libc::kill(p as i32, libc::SIGTERM) };
    }
    std::thread::sleep(Duration::from_millis(500));
    for &p in &pids {
        // SAFETY: as above; a supervise that did not stop in time.
        unsafe { libc::kill(p as i32, libc::SIGKILL) };
    }
}

struct Args {
    supervise: PathBuf,
    svc: PathBuf,
    idle_secs: u64,
    log_mib: u64,
    watch: bool,
}

fn main() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        stop_everything();
        default_hook(info);
    }));
    let args = parse_args();
    let work = tempdir();
    // Memory, idle, of a supervise alone (another would share its clean pages). The
    // clean part moves by ±40 kB with where the random load address puts the
    // kernel's 64 kB fault-around windows, so the figure is the median of five
    // instances, one after the other. `sync` first: freshly written binary pages would
    // count as dirty.
    let _ = Command::new("sync").status();
    let mut mems: Vec<Mem> = (0..5)
        .map(|i| idle_instance_memory(&args.supervise, &work, i))
        .collect();
    mems.sort_by_key(|m| m.uss);
    let mem = mems.swap_remove(2);
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let dir = work.join("status").join("bench");
    let ok = Command::new(&args.supervise)
        .current_dir(&work)
        .args(["-p", "status/bench", "-f", "sleep 100000"])
        .status()
        .expect("run supervise");
    assert!(ok.success(), "supervise failed to start");
    let sup: u32 = fs::read_to_string(dir.join("lock"))
        .expect("lock")
        .trim()
        .parse()
        .map(started)
        .expect("pid in lock");
    let guard = Cleanup {
        sup,
        dir: dir.clone(),
        work: dir.clone(),
    };

    rows.push((
        "idle supervise RSS / PSS / USS kB (median of 5)".into(),
        format!("{} / {} / {}", mem.rss, mem.pss, mem.uss),
        "USS < 350 (s6 344, daemontools 116)".into(),
    ));
    rows.push((
        "idle supervise Private_Dirty kB".into(),
        mem.dirty.to_string(),
        "-".into(),
    ));

    // Idle cost: wakeups first, without strace (attaching ptrace wakes the process).
    let (ctx0, cpu0) = (ctx_switches(sup), cpu_ticks(sup));
    std::thread::sleep(Duration::from_secs(args.idle_secs));
    let (ctx1, cpu1) = (ctx_switches(sup), cpu_ticks(sup));
    let syscalls = strace_count(sup, args.idle_secs);
    rows.push((
        format!("idle syscalls in {} s (strace -c)", args.idle_secs),
        syscalls.map_or("strace not installed".into(), |n| n.to_string()),
        "0".into(),
    ));
    rows.push((
        format!("idle wakeups / CPU ticks in {} s", args.idle_secs),
        format!(
            "{} / {}",
            ctx1.saturating_sub(ctx0),
            cpu1.saturating_sub(cpu0)
        ),
        "0 / 0".into(),
    ));

    // SIGKILL of the service → new pid.
    let mut as_child = Vec::new();
    let mut in_status = Vec::new();
    for _ in 0..RUNS {
        let old = wait_settled(&dir);
        let t0 = Instant::now();
        // SAFETY: signalling the service we started.
        unsafe { libc::kill(old as i32, libc::SIGKILL) };
        let (c, s) = poll_new_pid(sup, &dir, old, t0);
        as_child.push(c);
        in_status.push(s);
    }
    rows.push((
        "SIGKILL → new child (ms)".into(),
        summary(&mut as_child),
        "daemontools 1.68".into(),
    ));
    rows.push((
        "SIGKILL → new pid in status (ms)".into(),
        summary(&mut in_status),
        "< 2".into(),
    ));

    // svc -k → new pid.
    if args.svc.exists() {
        let mut svc_k = Vec::new();
        for _ in 0..RUNS {
            let old = wait_settled(&dir);
            let t0 = Instant::now();
            let st = Command::new(&args.svc)
                .arg("-k")
                .arg(&dir)
                .status()
                .expect("svc");
            assert!(st.success());
            let (_, s) = poll_new_pid(sup, &dir, old, t0);
            svc_k.push(s);
        }
        rows.push((
            "svc -k → new pid in status (ms)".into(),
            summary(&mut svc_k),
            "< 3 (daemontools 2.80)".into(),
        ));
    }

    drop(guard);

    // Watch: idle cost with a 10 000-file tree watched, and file write → new pid.
    if args.watch {
        let tree = work.join("tree");
        for d in 0..100 {
            let sub = tree.join(format!("d{d:03}"));
            fs::create_dir_all(&sub).expect("tree");
            for f in 0..100 {
                fs::write(sub.join(format!("f{f:03}")), b"x").expect("file");
            }
        }
        for (label, debounce) in [("default 0.3 s debounce", "0.3"), ("watch_debounce 0", "0")] {
            let conf = work.join("watch.conf");
            fs::write(
                &conf,
                format!(
                    "[global]\nwatch : {}\nwatch_debounce : {debounce}\n",
                    tree.display()
                ),
            )
            .expect("config");
            let dir = work.join("status").join("watchbench");
            let ok = Command::new(&args.supervise)
                .current_dir(&work)
                .arg("-F")
                .arg(&conf)
                .args(["-p", "status/watchbench", "-f", "sleep 100000"])
                .status()
                .expect("supervise");
            assert!(ok.success());
            let sup: u32 = fs::read_to_string(dir.join("lock"))
                .expect("lock")
                .trim()
                .parse()
                .map(started)
                .expect("pid");
            let guard = Cleanup {
                sup,
                dir: dir.clone(),
                work: dir.clone(),
            };
            if debounce != "0" {
                std::thread::sleep(Duration::from_secs(1));
                let (ctx0, cpu0) = (ctx_switches(sup), cpu_ticks(sup));
                std::thread::sleep(Duration::from_secs(args.idle_secs));
                let (ctx1, cpu1) = (ctx_switches(sup), cpu_ticks(sup));
                let syscalls = strace_count(sup, args.idle_secs);
                rows.push((
                    format!(
                        "idle with a 10 000-file tree watched, {} s: syscalls / wakeups / ticks",
                        args.idle_secs
                    ),
                    format!(
                        "{} / {} / {}",
                        syscalls.map_or("-".into(), |n| n.to_string()),
                        ctx1.saturating_sub(ctx0),
                        cpu1.saturating_sub(cpu0)
                    ),
                    "0 / 0 / 0".into(),
                ));
            }
            let mut lat = Vec::new();
            for i in 0..RUNS {
                let old = wait_settled(&dir);
                let t0 = Instant::now();
                fs::write(tree.join(format!("d{:03}/f{:03}", i % 100, i)), b"changed")
                    .expect("write");
                let (_, s) = poll_new_pid(sup, &dir, old, t0);
                lat.push(s);
            }
            rows.push((
                format!("file write → new pid in status (ms), {label}"),
                summary(&mut lat),
                "-".into(),
            ));
            drop(guard);
        }
    }

    // Log throughput: 1 GiB of 101-byte lines to stdout, straight into a file, then
    // through supervise in each output mode; runs alternate, medians compared.
    if args.log_mib > 0 {
        let modes = [
            ("direct (default)", ""),
            (
                "through supervise, rotated at 100M",
                "log_max_size : 100M\nlog_backups : 2\n",
            ),
            (
                "through supervise, timestamped",
                "log_timestamps : yes\nlog_max_size : 100M\nlog_backups : 2\n",
            ),
        ];
        let mut base = Vec::new();
        let mut under: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
        for _ in 0..3 {
            base.push(write_direct(&work, args.log_mib));
            for (i, (_, conf)) in modes.iter().enumerate() {
                under[i].push(write_under_supervise(
                    &args.supervise,
                    &work,
                    args.log_mib,
                    conf,
                ));
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let b = median(&mut base);
        let mib = args.log_mib as f64;
        rows.push((
            format!("{} MiB to stdout, straight to a file (s)", args.log_mib),
            format!("{b:.2} ({:.0} MiB/s)", mib / b),
            "baseline".into(),
        ));
        for (i, (name, _)) in modes.iter().enumerate() {
            let t = median(&mut under[i]);
            rows.push((
                format!("  same under supervise, {name}: ratio"),
                format!("{:.2} ({:.0} MiB/s)", b / t, mib / t),
                "≥ 0.8".into(),
            ));
        }
    }
    let _ = fs::remove_dir_all(&work);
    print_table(&rows);
}

/// The writer: 101-byte lines, `mib` MiB of them.
fn writer_command(mib: u64) -> String {
    format!(
        "yes 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789 | head -c {}",
        mib << 20
    )
}

/// Seconds for the writer with its stdout on a file.
fn write_direct(work: &Path, mib: u64) -> f64 {
    let out = work.join("direct.out");
    let t0 = Instant::now();
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("{} > {}", writer_command(mib), out.display()))
        .status()
        .expect("sh");
    let t = t0.elapsed().as_secs_f64();
    assert!(st.success());
    let _ = fs::remove_file(out);
    t
}

/// Seconds from starting supervise with the writer as its service to the writer's
/// exit being recorded (all its output is in the files by then: supervise drains the
/// pipes before it handles the exit).
fn write_under_supervise(supervise: &Path, work: &Path, mib: u64, conf: &str) -> f64 {
    let dir = work.join("status").join("logbench");
    let _ = fs::remove_dir_all(&dir);
    let conf_path = work.join("logbench.conf");
    fs::write(&conf_path, format!("[global]\nrestart : never\n{conf}")).expect("config");
    let t0 = Instant::now();
    let ok = Command::new(supervise)
        .current_dir(work)
        .arg("-F")
        .arg(&conf_path)
        .args(["-p", "status/logbench", "-f", &writer_command(mib)])
        .status()
        .expect("supervise");
    assert!(ok.success());
    let sup: u32 = fs::read_to_string(dir.join("lock"))
        .expect("lock")
        .trim()
        .parse()
        .map(started)
        .expect("pid");
    let guard = Cleanup {
        sup,
        dir: dir.clone(),
        work: dir.clone(),
    };
    let state = dir.join("state");
    loop {
        let text = fs::read_to_string(&state).unwrap_or_default();
        if text.contains("\nlast_exit=") {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let t = t0.elapsed().as_secs_f64();
    drop(guard);
    t
}

fn parse_args() -> Args {
    let mut a = Args {
        supervise: PathBuf::from("target/release/supervise"),
        svc: PathBuf::from("target/release/svc"),
        idle_secs: 10,
        log_mib: 1024,
        watch: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--supervise" => a.supervise = it.next().expect("path").into(),
            "--svc" => a.svc = it.next().expect("path").into(),
            "--idle" => a.idle_secs = it.next().and_then(|s| s.parse().ok()).expect("seconds"),
            "--log-mib" => a.log_mib = it.next().and_then(|s| s.parse().ok()).expect("MiB"),
            "--no-watch" => a.watch = false,
            other => panic!("unknown argument {other}"),
        }
    }
    a.supervise = fs::canonicalize(&a.supervise).expect("supervise binary (build --release first)");
    a
}

fn tempdir() -> PathBuf {
    let p = std::env::temp_dir().join(format!("supervise-bench-{}", std::process::id()));
    fs::create_dir_all(&p).expect("temp dir");
    p
}

/// Stops supervise and the service, removes the work dir, even on panic.
struct Cleanup {
    sup: u32,
    dir: PathBuf,
    work: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let service = read_pid(&self.dir);
        // SAFETY: signalling our own processes.
        unsafe { libc::kill(self.sup as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{}", self.sup)).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(pid) = service.filter(|&p| p != 0) {
            // SAFETY: as above; harmless if it is gone.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = fs::remove_dir_all(&self.work);
    }
}

fn read_pid(dir: &Path) -> Option<u32> {
    status::decode(&fs::read(dir.join("status")).ok()?)
        .ok()
        .map(|s| s.pid)
}

/// Waits until the service has been up for 1.5 s; returns its pid.
fn wait_settled(dir: &Path) -> u32 {
    loop {
        if let Some(s) = fs::read(dir.join("status"))
            .ok()
            .and_then(|b| status::decode(&b).ok())
        {
            let up_for = SystemTime::now()
                .duration_since(s.since.to_system_time())
                .unwrap_or_default();
            if s.pid != 0 && up_for >= Duration::from_millis(1500) {
                return s.pid;
            }
            if s.pid != 0 {
                std::thread::sleep(Duration::from_millis(1500) - up_for);
                continue;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls until a new child of supervise exists and until `status` names it; returns
/// both delays in ms.
fn poll_new_pid(sup: u32, dir: &Path, old: u32, t0: Instant) -> (f64, f64) {
    let children = format!("/proc/{sup}/task/{sup}/children");
    let (mut child, mut stat) = (None, None);
    let give_up = t0 + Duration::from_secs(5);
    while child.is_none() || stat.is_none() {
        if child.is_none() {
            if let Ok(c) = fs::read_to_string(&children) {
                if c.split_whitespace()
                    .any(|p| p.parse::<u32>().is_ok_and(|p| p != old))
                {
                    child = Some(t0.elapsed());
                }
            }
        }
        if stat.is_none() && read_pid(dir).is_some_and(|p| p != 0 && p != old) {
            stat = Some(t0.elapsed());
        }
        assert!(
            Instant::now() < give_up,
            "no new pid within 5 s; {}:\n{}",
            dir.display(),
            fs::read_to_string(dir.join("supervise.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_micros(50));
    }
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    (ms(child), ms(stat))
}

fn summary(v: &mut [f64]) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    let median = if v.len() % 2 == 0 {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    } else {
        v[v.len() / 2]
    };
    format!("{median:.2} (min {:.2}, max {:.2})", v[0], v[v.len() - 1])
}

struct Mem {
    rss: u64,
    pss: u64,
    uss: u64,
    dirty: u64,
}

fn smaps_rollup(pid: u32) -> Mem {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).expect("smaps_rollup");
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let (clean, dirty) = (field("Private_Clean:"), field("Private_Dirty:"));
    Mem {
        rss: field("Rss:"),
        pss: field("Pss:"),
        uss: clean + dirty,
        dirty,
    }
}

/// Starts one more idle supervise, reads its memory after a second, stops it.
fn idle_instance_memory(supervise: &Path, work: &Path, i: usize) -> Mem {
    let name = format!("status/mem{i}");
    let ok = Command::new(supervise)
        .current_dir(work)
        .args(["-p", &name, "-f", "sleep 100000"])
        .status()
        .expect("run supervise");
    assert!(ok.success());
    let dir = work.join(&name);
    let pid: u32 = fs::read_to_string(dir.join("lock"))
        .expect("lock")
        .trim()
        .parse()
        .map(started)
        .expect("pid");
    let guard = Cleanup {
        sup: pid,
        dir: dir.clone(),
        work: dir,
    };
    std::thread::sleep(Duration::from_secs(1));
    let m = smaps_rollup(pid);
    drop(guard);
    m
}

fn ctx_switches(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<u64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15; after the comm, numeric fields start at 4.
    f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0)
}

/// System calls made by `pid` over `secs` seconds, from `strace -c`.
fn strace_count(pid: u32, secs: u64) -> Option<u64> {
    let out = std::env::temp_dir().join(format!("supervise-bench-strace-{}", std::process::id()));
    let mut child = Command::new("strace")
        .args(["-c", "-f", "-o"])
        .arg(&out)
        .args(["-p", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_secs(secs));
    // SAFETY: interrupting our own strace makes it detach and print its summary.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
    let text = fs::read_to_string(&out).ok()?;
    let _ = fs::remove_file(&out);
    // The "total" line: "100.00 0.000000 0 N [errors] total"; no line means no calls.
    let total = text
        .lines()
        .find(|l| l.trim_end().ends_with("total"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok());
    Some(total.unwrap_or(0))
}

fn print_table(rows: &[(String, String, String)]) {
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    println!(
        "| {:w0$} | {:w1$} | target / anchor |",
        "figure", "supervise"
    );
    println!("|{}|{}|---|", "-".repeat(w0 + 2), "-".repeat(w1 + 2));
    for (a, b, c) in rows {
        println!("| {a:w0$} | {b:w1$} | {c} |");
    }
}
