//! Benchmark: supervise against daemontools, runit, s6, supervisord and a C floor,
//! on this machine, in one run. Run it through `bench/run.sh`, which installs the
//! anchors, builds everything and then runs this; `--help` lists the knobs.
//!
//! Timings come from this program watching `/proc` (never from the tools' output):
//! a supervisor's children every 50 µs for restarts, every process's executable every
//! 10 ms for many services coming up. Tools take turns (the order rotates every
//! round) and figures are medians with min and max. This process is a child
//! subreaper, so everything any tool starts or daemonizes stays below it; after each
//! scenario it kills its whole tree, and at the end it checks that nothing is left.
//! How each figure is taken: docs/BENCHMARKS.md and ../shared/BENCHMARKING.md.

mod probe;
mod report;
mod scenarios;
mod tools;

use std::fs;
use std::path::{Path, PathBuf};

use tools::{Bins, Tool};

pub struct Args {
    pub supervise: PathBuf,
    pub svc: PathBuf,
    /// `supervise-host`; default: beside `supervise`.
    pub host: Option<PathBuf>,
    pub floor: Option<PathBuf>,
    pub tools: Vec<Tool>,
    pub runs: usize,
    pub rounds: usize,
    pub mem_rounds: usize,
    pub idle_secs: u64,
    pub strace_secs: u64,
    pub crash_secs: u64,
    pub fleets: Vec<usize>,
    /// Programs in the host scenario's config.
    pub host_programs: usize,
    /// The host scenario's idle window for wakeups and CPU; strace gets
    /// `host_strace_secs`.
    pub host_idle_secs: u64,
    pub host_strace_secs: u64,
    pub log_mib: u64,
    pub watch: bool,
    pub work: Option<PathBuf>,
    /// Scenarios to run; all when `None`.
    pub only: Option<Vec<String>>,
}

const HELP: &str = "\
usage: bench-compare [OPTIONS]      (normally through bench/run.sh)
  --supervise PATH --svc PATH --host PATH --floor PATH
                     binaries (default target/release/...; bench/run.sh passes
                     them from $CARGO_TARGET_DIR)
  --tools LIST       comma-separated: ours,daemontools,runit,s6,supervisord,floor
  --runs N           restarts timed per tool (20)
  --rounds N         rounds of the fleet and log scenarios (3)
  --idle SECS        idle window for wakeups and CPU (30); strace gets a third
  --crash SECS       crash-loop window (30)
  --fleets LIST      fleet sizes, comma-separated (200,1000); 0 skips
  --host-programs N  programs in the host scenario's config (1000)
  --host-idle SECS   the host scenario's idle window (30); strace gets 10 s
  --log-mib N        bytes through the loggers, MiB (1024); 0 skips
  --no-watch         skip ours' file-watch figures
  --only LIST        scenarios to run, comma-separated (default all): memory,
                     restart (idle cost, then restart latency), idle (idle cost
                     only), crash, killed, fleet, host, log, watch, ready
                     (readiness and health, ours only), http (HTTP server under
                     1000 processes, 200 clients, slow clients), events (event
                     listeners: restart, idle)
  --work DIR         where status and service directories go (default: /dev/shm
                     when it is a tmpfs, so that disk latency is not measured)
  --quick            --runs 5 --rounds 1 --idle 6 --crash 10 --fleets 200 --log-mib 256
                     --host-programs 200 --host-idle 10
";

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("produce") {
        scenarios::produce(&argv[2..]);
    }
    if argv.get(1).map(String::as_str) == Some("ready-helper") {
        scenarios::ready::helper(&argv[2..]);
    }
    if argv.get(1).map(String::as_str) == Some("events-helper") {
        scenarios::events::helper(&argv[2..]);
    }
    let args = parse_args(&argv[1..]);
    // SAFETY: prctl with these arguments only sets a flag on this process.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(r, 0, "cannot become a child subreaper");
    let base = args.work.clone().unwrap_or_else(default_work);
    let work = base.join(format!("supervise-bench-{}", std::process::id()));
    fs::create_dir_all(&work).expect("work dir");
    {
        let work = work.clone();
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            scenarios::sweep();
            let _ = fs::remove_dir_all(&work);
            default_hook(info);
        }));
    }
    let bins = Bins::find(
        args.supervise.clone(),
        args.svc.clone(),
        args.host.clone(),
        args.floor.clone(),
    );
    let tools: Vec<Tool> = args
        .tools
        .iter()
        .copied()
        .filter(|&t| bins.has(t))
        .collect();
    for t in &args.tools {
        if !bins.has(*t) {
            eprintln!(
                "{}: not installed, left out (bench/run.sh installs it)",
                t.name()
            );
        }
    }
    let mut b = scenarios::Bench::new(&args, &bins, &tools, &work);
    b.run_all();
    let _ = fs::remove_dir_all(&work);
    let left = scenarios::left_behind(&b.tag_base);
    b.report.print(&tools);
    if left.is_empty() {
        println!("\nLeft behind: nothing (no descendant, no process with the run's tag).");
    } else {
        println!("\nLeft behind and killed now: {left:?}");
        std::process::exit(1);
    }
}

/// /dev/shm if it is a writable tmpfs: status directories and logs in memory, so
/// that the figures are the tools' and not the disk's (on this machine's ext4, with
/// `discard`, a file creation sometimes takes over a millisecond).
fn default_work() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    let tmpfs = fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/dev/shm") && l.contains(" tmpfs "))
    });
    if tmpfs && fs::metadata(&shm).is_ok_and(|m| !m.permissions().readonly()) {
        shm
    } else {
        std::env::temp_dir()
    }
}

fn parse_args(argv: &[String]) -> Args {
    let mut a = Args {
        supervise: PathBuf::from("target/release/supervise"),
        svc: PathBuf::from("target/release/svc"),
        host: None,
        floor: Some(PathBuf::from("target/release/floor")),
        tools: Tool::ALL.to_vec(),
        runs: 20,
        rounds: 3,
        mem_rounds: 5,
        idle_secs: 30,
        strace_secs: 10,
        crash_secs: 30,
        fleets: vec![200, 1000],
        host_programs: 1000,
        host_idle_secs: 30,
        host_strace_secs: 10,
        log_mib: 1024,
        watch: true,
        work: None,
        only: None,
    };
    let mut it = argv.iter();
    let fail = |m: String| -> ! {
        eprintln!("bench-compare: {m}\n{HELP}");
        std::process::exit(100)
    };
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| fail(format!("{flag} needs a value")))
        };
        let num = |v: String| -> u64 {
            v.parse()
                .unwrap_or_else(|_| fail(format!("{flag}: not a number: {v}")))
        };
        match flag.as_str() {
            "--supervise" => a.supervise = value().into(),
            "--svc" => a.svc = value().into(),
            "--host" => a.host = Some(value().into()),
            "--floor" => a.floor = Some(value().into()),
            "--tools" => {
                a.tools = value()
                    .split(',')
                    .map(|k| {
                        Tool::ALL
                            .into_iter()
                            .find(|t| t.key() == k)
                            .unwrap_or_else(|| fail(format!("--tools: unknown tool {k}")))
                    })
                    .collect();
            }
            "--runs" => a.runs = num(value()).max(1) as usize,
            "--rounds" => a.rounds = num(value()).max(1) as usize,
            "--idle" => {
                a.idle_secs = num(value()).max(1);
                a.strace_secs = (a.idle_secs / 3).max(1);
            }
            "--crash" => a.crash_secs = num(value()),
            "--fleets" => {
                a.fleets = value()
                    .split(',')
                    .map(|n| num(n.to_owned()) as usize)
                    .filter(|&n| n > 0)
                    .collect();
            }
            "--host-programs" => a.host_programs = num(value()).max(1) as usize,
            "--host-idle" => a.host_idle_secs = num(value()).max(1),
            "--log-mib" => a.log_mib = num(value()),
            "--no-watch" => a.watch = false,
            "--work" => a.work = Some(value().into()),
            "--only" => {
                const ALL: [&str; 12] = [
                    "memory", "restart", "idle", "crash", "killed", "fleet", "host", "log",
                    "watch", "ready", "http", "events",
                ];
                let list: Vec<String> = value().split(',').map(str::to_owned).collect();
                if let Some(bad) = list.iter().find(|x| !ALL.contains(&x.as_str())) {
                    fail(format!("--only: unknown scenario {bad}"));
                }
                a.only = Some(list);
            }
            "--quick" => {
                a.runs = 5;
                a.rounds = 1;
                a.mem_rounds = 3;
                a.idle_secs = 6;
                a.strace_secs = 2;
                a.crash_secs = 10;
                a.fleets = vec![200];
                a.host_programs = 200;
                a.host_idle_secs = 10;
                a.log_mib = 256;
            }
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => fail(format!("unknown argument {other}")),
        }
    }
    let must_exist = |p: &Path, what: &str| -> PathBuf {
        fs::canonicalize(p).unwrap_or_else(|e| {
            fail(format!(
                "{what} {}: {e} (cargo build --release first)",
                p.display()
            ))
        })
    };
    a.supervise = must_exist(&a.supervise, "supervise");
    a.svc = must_exist(&a.svc, "svc");
    let host = a
        .host
        .take()
        .unwrap_or_else(|| a.supervise.with_file_name("supervise-host"));
    a.host = fs::canonicalize(host).ok();
    a.floor = a.floor.and_then(|p| fs::canonicalize(p).ok());
    a
}
