//! What the benchmark reads from `/proc`: process trees, memory, CPU time, wakeups,
//! and system calls through strace. Nothing here starts a supervisor; it only looks.

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use supervise::proc::stat_fields;

/// Every process's parent, from `/proc/*/stat`.
fn parents() -> HashMap<u32, u32> {
    let mut map = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return map;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1).and_then(|s| s.parse().ok())) {
            map.insert(pid, ppid);
        }
    }
    map
}

/// True if `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    supervise::proc::alive(pid, None)
}

/// All descendants of `root`, not `root` itself.
pub fn descendants(root: u32) -> Vec<u32> {
    let parents = parents();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &ppid) in &parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

/// The children of every thread of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(s) = fs::read_to_string(t.path().join("children")) {
            out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

/// Reads `/proc/PID/task/*/children` quickly: the task files are found once.
pub struct ChildrenPoller {
    files: Vec<PathBuf>,
}

impl ChildrenPoller {
    pub fn new(pid: u32) -> ChildrenPoller {
        let files = fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.flatten().map(|t| t.path().join("children")).collect())
            .unwrap_or_default();
        ChildrenPoller { files }
    }

    /// The children other than `old`.
    pub fn new_children(&self, old: u32) -> Vec<u32> {
        let mut out = Vec::new();
        for f in &self.files {
            if let Ok(s) = fs::read_to_string(f) {
                out.extend(
                    s.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok())
                        .filter(|&p| p != old),
                );
            }
        }
        out
    }
}

pub fn exe(pid: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// The command line as words.
pub fn cmdline(pid: u32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every live process whose command line has `word` as one of its words.
pub fn with_word(word: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|&pid| cmdline(pid).iter().any(|w| w == word) && alive(pid))
        .collect()
}

/// Counts the running services of a scenario: processes whose executable is `sleep`
/// with an argument starting with `tag`. Services found are remembered (a process's
/// executable only changes by exec, and a service never execs again), so each scan
/// reads only the processes it has not yet placed, with one `readlink` each.
pub struct ServiceCounter {
    sleep: PathBuf,
    tag: String,
    found: std::collections::HashSet<u32>,
}

impl ServiceCounter {
    pub fn new(sleep: &Path, tag: &str) -> ServiceCounter {
        ServiceCounter {
            sleep: sleep.to_path_buf(),
            tag: tag.to_owned(),
            found: Default::default(),
        }
    }

    pub fn scan(&mut self) -> usize {
        let Ok(entries) = fs::read_dir("/proc") else {
            return self.found.len();
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if !name.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                continue;
            }
            let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if self.found.contains(&pid) || exe(pid).as_deref() != Some(&self.sleep) {
                continue;
            }
            if cmdline(pid)
                .get(1)
                .is_some_and(|a| a.starts_with(&self.tag))
            {
                self.found.insert(pid);
            }
        }
        self.found.len()
    }
}

/// Memory from `/proc/PID/smaps_rollup`, in kB.
#[derive(Clone, Copy, Default)]
pub struct Mem {
    pub rss: u64,
    pub pss: u64,
    pub uss: u64,
    pub dirty: u64,
}

impl std::ops::AddAssign for Mem {
    fn add_assign(&mut self, o: Mem) {
        self.rss += o.rss;
        self.pss += o.pss;
        self.uss += o.uss;
        self.dirty += o.dirty;
    }
}

pub fn memory(pid: u32) -> Mem {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
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

/// The sum over all threads of `pid` of a number read from `/proc/PID/task/*/FILE`.
fn sum_over_threads(pid: u32, file: &str, number: impl Fn(&str) -> Option<u64>) -> u64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join(file)).ok())
        .filter_map(|s| number(&s))
        .sum()
}

/// Time on CPU of all threads of `pid`, in ns (`/proc/PID/task/*/schedstat`):
/// exact, where utime and stime count in 10 ms ticks.
pub fn cpu_ns(pid: u32) -> u64 {
    sum_over_threads(pid, "schedstat", |s| {
        s.split_whitespace().next()?.parse().ok()
    })
}

/// Voluntary context switches of all threads of `pid`: how often it went to sleep
/// and was woken.
pub fn wakeups(pid: u32) -> u64 {
    sum_over_threads(pid, "status", |s| {
        s.lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?
            .trim()
            .parse()
            .ok()
    })
}

/// Seconds the process has been running, from its start time in `/proc/PID/stat`.
pub fn age(pid: u32) -> Option<Duration> {
    let start: u64 = stat_fields(pid)?.get(19)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let uptime: f64 = fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let secs = uptime - start as f64 / hz as f64;
    Some(Duration::from_secs_f64(secs.max(0.0)))
}

/// System calls made by each of `pids` over `secs` seconds, all traced at once with
/// `strace -c -f`; `None` where strace is missing or failed.
pub fn syscalls(pids: &[u32], secs: u64, work: &Path) -> Vec<Option<u64>> {
    let mut tracers = Vec::new();
    for (i, &pid) in pids.iter().enumerate() {
        let out = work.join(format!("strace-{i}"));
        let child = Command::new("strace")
            .args(["-c", "-f", "-o"])
            .arg(&out)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        tracers.push((child, out));
    }
    std::thread::sleep(Duration::from_secs(secs));
    tracers
        .into_iter()
        .map(|(child, out)| {
            let mut child = child?;
            // SAFETY: SIGINT makes our own strace detach and print its summary.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let _ = child.wait();
            let text = fs::read_to_string(&out).ok()?;
            // The "total" line: "100.00 0.000000 0 N [errors] total"; none: no calls.
            let total = text
                .lines()
                .find(|l| l.trim_end().ends_with("total"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse().ok());
            Some(total.unwrap_or(0))
        })
        .collect()
}

/// `strace -f -ttt` output as (time, call name), one per call made (a leading pid
/// is skipped). Left out: signals and exits, the second half of a call strace split,
/// and the `restart_syscall` of the wait under way when strace attached.
pub fn parse_strace(text: &str) -> Vec<(f64, String)> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace().peekable();
            if words.peek().is_some_and(|w| !w.contains('.')) {
                words.next();
            }
            let at: f64 = words.next()?.parse().ok()?;
            let call = words.next()?;
            if call.starts_with("---")
                || call.starts_with("+++")
                || call.starts_with("<...")
                || call.starts_with("restart_syscall")
            {
                return None;
            }
            Some((at, call.split('(').next()?.to_owned()))
        })
        .collect()
}

/// Calls grouped into bursts: a gap of more than a second starts a new one.
pub fn bursts(calls: &[(f64, String)]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for (at, name) in calls {
        if at - last > 1.0 || out.is_empty() {
            out.push(Vec::new());
        }
        out.last_mut().expect("a burst").push(name.clone());
        last = *at;
    }
    out
}
