//! Starting the service: fork, then in the child only async-signal-safe system calls
//! on data prepared before the fork, then exec.
//!
//! The child gets a session and process group of its own, an empty signal mask and
//! default signal dispositions (supervise blocks signals for its signalfd, and Rust
//! ignores SIGPIPE), `/dev/null` on stdin, the two log files on stdout and stderr, and
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
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::unistd::Pid;

use crate::command::Program;

/// The step of the child's set-up that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `setsid`.
    Session,
    /// `dup2` of stdin, stdout or stderr.
    Stdio,
    /// `execve`.
    Exec,
}

impl Step {
    fn code(self) -> u32 {
        match self {
            Step::Session => 1,
            Step::Stdio => 2,
            Step::Exec => 3,
        }
    }

    fn from_code(c: u32) -> Option<Step> {
        match c {
            1 => Some(Step::Session),
            2 => Some(Step::Stdio),
            3 => Some(Step::Exec),
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
    // Owns the strings `argv_ptrs` points into.
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
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

impl Spec {
    /// Prepares the exec of a resolved program.
    pub fn new(program: &Program) -> Spec {
        let path = c_string(program.path.clone().into_os_string().into_vec());
        let argv: Vec<CString> = program
            .argv
            .iter()
            .map(|a| c_string(OsString::into_vec(a.clone())))
            .collect();
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        Spec {
            path,
            _argv: argv,
            argv_ptrs,
        }
    }

    /// The file that will be exec'd.
    pub fn path(&self) -> &Path {
        use std::os::unix::ffi::OsStrExt;
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
    let (report_r, report_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // SAFETY: supervise is single-threaded, and the child below makes only
    // async-signal-safe calls on memory prepared before the fork.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
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
        for (fd, target) in [(stdio.stdin, 0), (stdio.stdout, 1), (stdio.stderr, 2)] {
            if libc::dup2(fd.as_raw_fd(), target) < 0 {
                fail(report, Step::Stdio);
            }
        }
        libc::execv(spec.path.as_ptr(), spec.argv_ptrs.as_ptr());
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
