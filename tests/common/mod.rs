//! Shared harness for the integration tests: real binaries, real processes, a temp
//! dir per test, predicates waited on with generous deadlines (never fixed sleeps),
//! and cleanup of everything a test started, even when it fails.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use supervise::statefile::{self, Record};
use supervise::status::{self, Status};

/// The bound on any wait in the tests: generous, so only a hang fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A program of this package: the one cargo built for this test run, or, when
/// `SUPERVISE_TEST_BINS` names a directory (scripts/test sets it to the release
/// build: what is measured and installed is what is tested), the one there.
pub fn bin(built: &'static str) -> &'static str {
    match std::env::var_os("SUPERVISE_TEST_BINS") {
        Some(dir) => {
            let name = Path::new(built).file_name().expect("a program's name");
            let path = Path::new(&dir).join(name);
            Box::leak(path.display().to_string().into_boxed_str())
        }
        None => built,
    }
}

pub fn supervise_bin() -> &'static str {
    bin(env!("CARGO_BIN_EXE_supervise"))
}

/// Polls `f` every few milliseconds until it returns `Some`, or panics naming `what`.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Like [`wait_for`] for a condition.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    wait_for(what, || f().then_some(()))
}

pub fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; it is not alive for our purposes.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => proc_state(&s) != Some('Z'),
        Err(_) => false,
    }
}

fn proc_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The one-letter state of a process (`S`, `T`, `Z`...).
pub fn state_of(pid: u32) -> Option<char> {
    proc_state(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// A field of /proc/PID/status, such as `PPid`.
pub fn proc_status_field(pid: u32, field: &str) -> Option<String> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

pub fn ppid(pid: u32) -> Option<u32> {
    proc_status_field(pid, "PPid")?.parse().ok()
}

pub fn kill(pid: u32, sig: i32) {
    // SAFETY: sending a signal.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// A temp dir with a `status/<name>` directory path inside.
pub struct Sandbox {
    pub tmp: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            tmp: tempfile::Builder::new()
                .prefix("supervise-test-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// `<tmp>/status/<name>`.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.tmp.path().join("status").join(name)
    }

    /// Writes an executable script into the sandbox and returns its path.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    /// Writes `supervise.conf` in the sandbox.
    pub fn config(&self, text: &str) -> PathBuf {
        let p = self.tmp.path().join("supervise.conf");
        fs::write(&p, text).expect("write config");
        p
    }

    /// The legacy restart timing, no backoff: a restart a second after the last start.
    pub fn legacy_timing(&self) {
        self.config("[global]\nstart_success : 0\n");
    }

    /// A `supervise` command running in the sandbox directory.
    pub fn command(&self) -> Command {
        let mut c = Command::new(supervise_bin());
        c.current_dir(self.tmp.path());
        c
    }

    /// Starts `supervise -n -p DIR -f CMD` and waits until the service runs.
    pub fn start(&self, name: &str, cmd: &str) -> Supervised {
        self.start_with(name, &["-f", cmd])
    }

    /// Starts `supervise -n -p DIR EXTRA...` and waits until the service runs.
    pub fn start_with(&self, name: &str, extra: &[&str]) -> Supervised {
        let s = self.spawn_with(name, extra);
        s.wait_pid();
        s
    }

    /// Starts `supervise -n -p DIR EXTRA...` without waiting for anything.
    pub fn spawn_with(&self, name: &str, extra: &[&str]) -> Supervised {
        let dir = self.dir(name);
        let child = self
            .command()
            .arg("-n")
            .arg("-p")
            .arg(&dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn supervise");
        Supervised {
            dir,
            process: Some(child),
            daemon_pid: None,
        }
    }
}

/// A supervise under test: foreground (our child) or daemonized (found by its lock).
pub struct Supervised {
    pub dir: PathBuf,
    pub process: Option<Child>,
    pub daemon_pid: Option<u32>,
}

impl Supervised {
    /// Adopts a daemonized supervise on `dir` for cleanup.
    pub fn daemon(dir: PathBuf) -> Supervised {
        let pid = read_lock_pid(&dir).expect("lock names the daemon");
        Supervised {
            dir,
            process: None,
            daemon_pid: Some(pid),
        }
    }

    pub fn supervise_pid(&self) -> u32 {
        match &self.process {
            Some(c) => c.id(),
            None => self.daemon_pid.unwrap_or(0),
        }
    }

    pub fn status(&self) -> Option<Status> {
        read_status(&self.dir)
    }

    pub fn state(&self) -> Option<Record> {
        read_state(&self.dir)
    }

    /// The pid `status` names, once `state` (written just after it) says the same and
    /// both come from this supervise (not from one that ran on the directory before).
    fn settled_pid(&self) -> Option<u32> {
        let pid = self.status()?.pid;
        let state = self.state()?;
        let ours = self.process.is_none() && self.daemon_pid.is_none()
            || state.supervise_pid == self.supervise_pid();
        (ours && state.pid == pid).then_some(pid)
    }

    /// The service's pid once it runs.
    pub fn wait_pid(&self) -> u32 {
        wait_for("the service to run", || {
            let pid = self.settled_pid()?;
            (pid != 0 && alive(pid)).then_some(pid)
        })
    }

    /// A running service pid different from `old`.
    pub fn wait_new_pid(&self, old: u32) -> u32 {
        wait_for("a new service pid", || {
            let pid = self.settled_pid()?;
            (pid != 0 && pid != old && alive(pid)).then_some(pid)
        })
    }

    /// Waits until `status` (and `state`) say the service is down.
    pub fn wait_down(&self) {
        wait_until("the service to be down", || self.settled_pid() == Some(0))
    }

    /// Writes letters to `control`.
    pub fn send(&self, letters: &str) {
        send(&self.dir, letters)
    }

    /// Waits for a foreground supervise to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        if let Some(c) = self.process.as_mut() {
            let status = wait_for("supervise to exit", || c.try_wait().ok().flatten());
            self.process = None;
            return status;
        }
        let pid = self.daemon_pid.take().unwrap_or(0);
        wait_until("the daemon to exit", || !alive(pid));
        std::os::unix::process::ExitStatusExt::from_raw(0)
    }

    /// Collects a foreground supervise's stderr after it exited.
    pub fn stderr(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(c) = self.process.as_mut() {
            if let Some(e) = c.stderr.as_mut() {
                let _ = e.read_to_string(&mut s);
            }
        }
        s
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("supervise.log")).unwrap_or_default()
    }

    pub fn log_wf(&self) -> String {
        fs::read_to_string(self.dir.join("supervise.log.wf")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(self.dir.join("__stdout")).unwrap_or_default()
    }
}

impl Drop for Supervised {
    /// Stops the service and supervise: SIGTERM first (supervise stops the service),
    /// then KILL for whatever is left, the service's whole process group included.
    fn drop(&mut self) {
        let service = self.status().map(|s| s.pid).filter(|&p| p != 0);
        let sup = match &self.process {
            Some(c) => Some(c.id()),
            None => self.daemon_pid,
        };
        if let Some(pid) = sup {
            kill(pid, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < deadline {
                if let Some(c) = self.process.as_mut() {
                    if c.try_wait().ok().flatten().is_some() {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            kill(pid, libc::SIGKILL);
            if let Some(mut c) = self.process.take() {
                let _ = c.wait();
            }
        }
        if let Some(pid) = service {
            if alive(pid) {
                kill(-(pid as i32) as u32, libc::SIGKILL);
                kill(pid, libc::SIGKILL);
            }
        }
    }
}

pub fn read_status(dir: &Path) -> Option<Status> {
    status::decode(&fs::read(dir.join("status")).ok()?).ok()
}

pub fn read_state(dir: &Path) -> Option<Record> {
    statefile::decode(&fs::read_to_string(dir.join("state")).ok()?).ok()
}

pub fn read_lock_pid(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join("lock"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Writes letters to a status directory's control FIFO without blocking.
pub fn send(dir: &Path, letters: &str) {
    let mut f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join("control"))
        .expect("open control: is supervise running?");
    f.write_all(letters.as_bytes()).expect("write control");
}

/// Runs a command to completion with a bound, returning its output.
pub fn run_bounded(mut cmd: Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            kill(pid, libc::SIGKILL);
            panic!("command did not finish in {PATIENCE:?}");
        }
    }
}

/// Every process whose open descriptors include `path`, like `fuser path`.
pub fn holders_of(path: &Path) -> Vec<u32> {
    let target = fs::canonicalize(path).expect("canonical path");
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l == target))
        {
            pids.push(pid);
        }
    }
    pids
}

/// The descriptors a process has open, by number.
pub fn open_fds(pid: u32) -> Vec<u32> {
    let mut fds: Vec<u32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds
}

pub fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Whether a program is on PATH.
pub fn has_command(name: &str) -> bool {
    supervise::command::resolve(OsStr::new(name), std::env::var_os("PATH").as_deref()).is_ok()
}

/// Creates a user with a supplementary group for the test, and removes both after.
pub struct TestUser {
    pub name: String,
    pub group: String,
}

impl TestUser {
    pub fn create(tag: &str) -> Option<TestUser> {
        if !nix::unistd::Uid::effective().is_root() || !has_command("useradd") {
            eprintln!("not root or no useradd: user test skipped");
            return None;
        }
        let name = format!("sv{tag}{}", std::process::id() % 100_000);
        let group = format!("{name}x");
        // Left over by a run that was killed: start clean.
        let _ = Command::new("userdel").args(["-r", &name]).output();
        let _ = Command::new("groupdel").arg(&group).output();
        let ok = |mut c: Command| {
            run_bounded({
                c.stdout(std::process::Stdio::null());
                c
            })
            .status
            .success()
        };
        let mut g = Command::new("groupadd");
        g.arg(&group);
        assert!(ok(g), "groupadd");
        let mut u = Command::new("useradd");
        u.args([
            "-m",
            "-d",
            &format!("/tmp/{name}-home"),
            "-G",
            &group,
            &name,
        ]);
        assert!(ok(u), "useradd");
        Some(TestUser { name, group })
    }

    /// The user's uid and gid.
    pub fn ids(&self) -> (u32, u32) {
        let u = supervise::users::user(&self.name).expect("the test user exists");
        (u.uid, u.gid)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").args(["-r", &self.name]).output();
        let _ = Command::new("groupdel").arg(&self.group).output();
    }
}

/// Ends a host this test started (SIGTERM, its ordered shutdown given up to 10 s, then
/// SIGKILL), then whatever is left whose command line names `marker` (the sandbox):
/// what a failed test may have left, a SIGSTOPped process included.
pub fn stop_host_and_sweep(host: Option<Child>, marker: &Path) {
    if let Some(mut h) = host {
        kill(h.id(), libc::SIGTERM);
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline && h.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = h.kill();
        let _ = h.wait();
    }
    let marker = marker.to_string_lossy().into_owned();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(&marker) && pid != std::process::id() {
            kill(pid, libc::SIGKILL);
        }
    }
}
