//! Starting the service: fork, then in the child only async-signal-safe system calls
//! on data prepared before the fork, then exec.
//!
//! The child gets a session and process group of its own, an empty signal mask and
//! default signal dispositions (supervise blocks signals for its signalfd, and Rust
//! ignores SIGPIPE), its resource limits and umask, its groups, group and user (in
//! that order: the user last, once nothing needs root any more), its working
//! directory, `/dev/null` on stdin, the log files or pipes on stdout and stderr, and
//! no other descriptor: supervise opens everything close-on-exec.
//!
//! An exec that fails cannot be told apart from a service that exits 127 by the exit
//! status alone, so the child writes what failed and its errno into a close-on-exec
//! pipe. Supervise does not wait on that pipe (a restart must not block on the new
//! process); it reads it when the process is reaped: a report means the exec failed,
//! end-of-file means it succeeded.

use std::ffi::{CString, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::unistd::Pid;

use crate::command::Program;
use crate::config::Rlimit;
use crate::launch::Launch;

/// The step of the child's set-up that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `setsid`.
    Session,
    /// `dup2` of stdin, stdout or stderr.
    Stdio,
    /// `setrlimit`.
    Limits,
    /// `setgroups`.
    Groups,
    /// `setgid`.
    Gid,
    /// `setuid`.
    Uid,
    /// `chdir`.
    Chdir,
    /// `execve`.
    Exec,
}

impl Step {
    fn code(self) -> u32 {
        match self {
            Step::Session => 1,
            Step::Stdio => 2,
            Step::Exec => 3,
            Step::Limits => 4,
            Step::Groups => 5,
            Step::Gid => 6,
            Step::Uid => 7,
            Step::Chdir => 8,
        }
    }

    fn from_code(c: u32) -> Option<Step> {
        match c {
            1 => Some(Step::Session),
            2 => Some(Step::Stdio),
            3 => Some(Step::Exec),
            4 => Some(Step::Limits),
            5 => Some(Step::Groups),
            6 => Some(Step::Gid),
            7 => Some(Step::Uid),
            8 => Some(Step::Chdir),
            _ => None,
        }
    }
}

/// What the child reported before dying instead of exec'ing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartFailure {
    /// The step that failed.
    pub step: Step,
    /// Its errno.
    pub errno: i32,
}

impl fmt::Display for StartFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.step {
            Step::Session => "setsid",
            Step::Stdio => "redirecting stdin/stdout/stderr",
            Step::Exec => "exec",
            Step::Limits => "setting resource limits",
            Step::Groups => "setting supplementary groups",
            Step::Gid => "setting the group",
            Step::Uid => "setting the user",
            Step::Chdir => "changing to the service's directory",
        };
        write!(
            f,
            "{what} failed: {}",
            io::Error::from_raw_os_error(self.errno)
        )
    }
}

/// Everything the child needs, prepared before the fork so the child allocates nothing.
#[derive(Debug)]
pub struct Spec {
    path: CString,
    // Own the strings the pointer arrays point into.
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    env_ptrs: Vec<*const libc::c_char>,
    dir: Option<CString>,
    umask: Option<libc::mode_t>,
    limits: Vec<(i32, libc::rlimit)>,
    ids: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
}

/// A C string from bytes that may hold a NUL: cut at the NUL (exec would too).
fn c_string(bytes: Vec<u8>) -> CString {
    match CString::new(bytes) {
        Ok(c) => c,
        Err(e) => {
            let at = e.nul_position();
            let mut v = e.into_vec();
            v.truncate(at);
            CString::new(v).unwrap_or_default()
        }
    }
}

/// A null-terminated array of pointers into `strings`.
fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    let mut p: Vec<*const libc::c_char> = strings.iter().map(|a| a.as_ptr()).collect();
    p.push(std::ptr::null());
    p
}

impl Spec {
    /// Prepares the exec of a program in supervise's own environment, as supervise.
    pub fn new(program: &Program) -> Spec {
        Spec::build(
            program,
            std::env::vars_os().collect(),
            None,
            None,
            &[],
            None,
        )
    }

    /// Prepares the start of the service as its launch says.
    pub fn for_launch(l: &Launch) -> Spec {
        let ids = l.ids.as_ref().map(|i| (i.uid, i.gid, i.groups.clone()));
        Spec::build(
            &l.program,
            l.env.clone(),
            l.dir.as_deref(),
            l.umask,
            &l.limits,
            ids,
        )
    }

    fn build(
        program: &Program,
        env: Vec<(OsString, OsString)>,
        dir: Option<&Path>,
        umask: Option<u32>,
        limits: &[Rlimit],
        ids: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
    ) -> Spec {
        let path = c_string(program.path.clone().into_os_string().into_vec());
        let argv: Vec<CString> = program
            .argv
            .iter()
            .map(|a| c_string(OsString::into_vec(a.clone())))
            .collect();
        let env: Vec<CString> = env
            .into_iter()
            .map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend(v.into_vec());
                c_string(kv)
            })
            .collect();
        let limits = limits
            .iter()
            .map(|l| {
                let v = l.value.unwrap_or(libc::RLIM_INFINITY);
                (
                    l.resource,
                    libc::rlimit {
                        rlim_cur: v,
                        rlim_max: v,
                    },
                )
            })
            .collect();
        Spec {
            path,
            argv_ptrs: pointers(&argv),
            _argv: argv,
            env_ptrs: pointers(&env),
            _env: env,
            dir: dir.map(|d| c_string(d.as_os_str().as_bytes().to_vec())),
            umask: umask.map(|m| m as libc::mode_t),
            limits,
            ids,
        }
    }

    /// The file that will be exec'd.
    pub fn path(&self) -> &Path {
        Path::new(std::ffi::OsStr::from_bytes(self.path.as_bytes()))
    }
}

/// The three descriptors the child gets as 0, 1 and 2.
#[derive(Debug, Clone, Copy)]
pub struct Stdio<'a> {
    /// Becomes stdin.
    pub stdin: BorrowedFd<'a>,
    /// Becomes stdout.
    pub stdout: BorrowedFd<'a>,
    /// Becomes stderr.
    pub stderr: BorrowedFd<'a>,
}

/// A forked child and the read end of its failure report.
#[derive(Debug)]
pub struct Child {
    /// Its pid.
    pub pid: Pid,
    report: File,
}

impl Child {
    /// Waits up to `limit` for the child to exec or fail to; `Some` if it failed.
    /// (The report pipe closes at a successful exec, or carries the failure.)
    pub fn wait_exec(&mut self, limit: std::time::Duration) -> Option<StartFailure> {
        use std::os::fd::AsFd;
        let mut fds = [nix::poll::PollFd::new(
            self.report.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = u16::try_from(limit.as_millis()).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut fds, ms) {
            Ok(n) if n > 0 => self.failure(),
            _ => None,
        }
    }

    /// Reads the failure report; call once the child has been reaped. `None` means
    /// the exec succeeded.
    pub fn failure(&mut self) -> Option<StartFailure> {
        let mut buf = [0u8; 8];
        let mut got = 0;
        while got < buf.len() {
            match self.report.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if got < buf.len() {
            return None;
        }
        let step = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
        Some(StartFailure {
            step: Step::from_code(step)?,
            errno,
        })
    }
}

/// Forks and execs the service. Returns once the fork is done, without waiting for
/// the exec.
pub fn spawn(spec: &Spec, stdio: Stdio<'_>) -> io::Result<Child> {
    let (report_r, report_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("cannot create a pipe: {e}"),
        )
    })?;
    // SAFETY: supervise is single-threaded, and the child below makes only
    // async-signal-safe calls on memory prepared before the fork.
    match unsafe { libc::fork() } {
        -1 => {
            let e = io::Error::last_os_error();
            Err(io::Error::new(e.kind(), format!("cannot fork: {e}")))
        }
        0 => in_child(spec, stdio, &report_w),
        pid => {
            drop(report_w);
            Ok(Child {
                pid: Pid::from_raw(pid),
                report: File::from(report_r),
            })
        }
    }
}

fn in_child(spec: &Spec, stdio: Stdio<'_>, report: &OwnedFd) -> ! {
    // SAFETY: plain system calls on valid descriptors and prepared C strings; the
    // child never returns into Rust code that could allocate or unwind.
    unsafe {
        if libc::setsid() < 0 {
            fail(report, Step::Session);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        // Supervise resets every other disposition at start-up; Rust's runtime set
        // SIGPIPE to ignored, and ignored dispositions survive exec.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        for (resource, limit) in &spec.limits {
            if libc::setrlimit(*resource as _, limit) < 0 {
                fail(report, Step::Limits);
            }
        }
        if let Some(mask) = spec.umask {
            libc::umask(mask);
        }
        if let Some((uid, gid, groups)) = &spec.ids {
            if libc::setgroups(groups.len(), groups.as_ptr()) < 0 {
                fail(report, Step::Groups);
            }
            if libc::setgid(*gid) < 0 {
                fail(report, Step::Gid);
            }
            if libc::setuid(*uid) < 0 {
                fail(report, Step::Uid);
            }
        }
        if let Some(dir) = &spec.dir {
            if libc::chdir(dir.as_ptr()) < 0 {
                fail(report, Step::Chdir);
            }
        }
        // stdin/stdout/stderr last: a failure before could still be reported anywhere.
        for (fd, target) in [(stdio.stdin, 0), (stdio.stdout, 1), (stdio.stderr, 2)] {
            if libc::dup2(fd.as_raw_fd(), target) < 0 {
                fail(report, Step::Stdio);
            }
        }
        libc::execve(
            spec.path.as_ptr(),
            spec.argv_ptrs.as_ptr(),
            spec.env_ptrs.as_ptr(),
        );
        fail(report, Step::Exec)
    }
}

/// Reports the failed step and errno to supervise and dies.
fn fail(report: &OwnedFd, step: Step) -> ! {
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&step.code().to_ne_bytes());
    buf[4..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: write and _exit are async-signal-safe.
    unsafe {
        libc::write(report.as_raw_fd(), buf.as_ptr().cast(), buf.len());
        libc::_exit(127)
    }
}
