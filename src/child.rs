//! Starting the service: a child that shares supervise's memory until it execs, runs
//! only async-signal-safe system calls on data prepared beforehand, then execs.
//!
//! The service gets a process group of its own in supervise's session (as in the
//! legacy tool: its `svc` script finds the service's processes by supervise's
//! session); a helper (alarm sender, `-r` script) a session of its own, out of that
//! list. Each gets an empty signal mask and
//! default signal dispositions (supervise blocks signals for its signalfd, and Rust
//! ignores SIGPIPE), its resource limits and umask, its groups, group and user (in
//! that order: the user last, once nothing needs root any more), its working
//! directory, `/dev/null` on stdin, the log files or pipes on stdout and stderr, and
//! no other descriptor: supervise opens everything close-on-exec.
//!
//! The child is made with `clone(CLONE_VM | CLONE_VFORK)`, as `posix_spawn` does: no
//! page tables are copied and no page of supervise is copied on write afterwards,
//! which is most of what a `fork` costs a process that restarts its service in a
//! loop. Supervise is suspended until the child has exec'd or died, so when
//! [`spawn`] returns it already knows whether the exec worked: a child that fails
//! writes the failed step and its errno into memory both share, and `_exit`s 127.
//! (An exec that fails cannot be told apart from a service that exits 127 by the
//! exit status alone.) The price is that a child stuck before its exec (a `chdir` or
//! an exec on a hung network file system) stalls supervise with it; a fork would
//! only have moved that wait to the child's first restart. Where `CLONE_VM` is turned
//! into a plain fork (valgrind does this), the report never reaches supervise: a
//! failed exec then shows only as exit 127.
//!
//! Sharing memory is safe because supervise installs no signal handlers (a handler
//! run in the child would run on supervise's data), and because the child calls
//! only wrappers that are plain system calls: the set-id calls are made raw, since
//! glibc's wrappers in a threaded process (the test harness) would signal the
//! parent's threads to change their ids too.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::unistd::Pid;

use crate::command::Program;
use crate::config::Rlimit;
use crate::launch::Launch;

/// The step of the child's set-up that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `setsid` (a helper's own session).
    Session,
    /// `setpgid` (the service's own process group, in supervise's session).
    Group,
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
            Step::Group => 9,
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
            9 => Some(Step::Group),
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
            Step::Group => "setpgid",
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

/// Everything the child needs, prepared beforehand so the child allocates nothing.
#[derive(Debug)]
pub struct Spec {
    path: CString,
    argv: Packed,
    env: Packed,
    dir: Option<CString>,
    umask: Option<libc::mode_t>,
    limits: Vec<(i32, libc::rlimit)>,
    ids: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
    /// A session of its own (a helper), or only a process group of its own in
    /// supervise's session (the service, as in the legacy tool, whose `svc` script
    /// finds the service's processes by supervise's session).
    own_session: bool,
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

/// Borrowed name-value pairs of an owned environment.
pub fn pairs(env: &[(OsString, OsString)]) -> impl Iterator<Item = (&OsStr, &OsStr)> {
    env.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()))
}

/// C strings in one buffer, and the null-terminated array of pointers to them that
/// exec takes: two allocations for an environment instead of one per variable (they
/// stay in supervise's heap for its whole life, as many as supervise has services).
#[derive(Debug)]
struct Packed {
    // What the pointers point into: never changed (nor reborrowed) after they are
    // taken; a Vec, whose moves leave its buffer and the pointers into it alone.
    _bytes: Vec<u8>,
    pointers: Vec<*const libc::c_char>,
}

impl Packed {
    /// Each string made of its pieces, cut at a NUL as exec would.
    fn new<'a, S>(strings: impl IntoIterator<Item = S>) -> Packed
    where
        S: IntoIterator<Item = &'a [u8]>,
    {
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        for pieces in strings {
            starts.push(bytes.len());
            let mut cut = false;
            for piece in pieces {
                if cut {
                    continue;
                }
                match piece.iter().position(|&b| b == 0) {
                    Some(at) => {
                        bytes.extend_from_slice(&piece[..at]);
                        cut = true;
                    }
                    None => bytes.extend_from_slice(piece),
                }
            }
            bytes.push(0);
        }
        // Exactly its size (it stays for supervise's life), before any pointer into it.
        bytes.shrink_to_fit();
        let base = bytes.as_ptr();
        let pointers = starts
            .into_iter()
            // SAFETY: every start is an offset inside `bytes`.
            .map(|at| unsafe { base.add(at) }.cast::<libc::c_char>())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        Packed {
            _bytes: bytes,
            pointers,
        }
    }

    /// `NAME=value` strings.
    fn env<'a>(vars: impl IntoIterator<Item = (&'a OsStr, &'a OsStr)>) -> Packed {
        Packed::new(
            vars.into_iter()
                .map(|(k, v)| [k.as_bytes(), b"=".as_slice(), v.as_bytes()]),
        )
    }

    fn as_ptr(&self) -> *const *const libc::c_char {
        self.pointers.as_ptr()
    }

    /// The strings as exec sees them: through the pointers, up to the null one.
    #[cfg(test)]
    fn strings(&self) -> Vec<&std::ffi::CStr> {
        self.pointers
            .iter()
            .take_while(|p| !p.is_null())
            // SAFETY: each pointer is to a NUL-terminated string in `_bytes`.
            .map(|&p| unsafe { std::ffi::CStr::from_ptr(p) })
            .collect()
    }
}

impl Spec {
    /// Prepares the exec of a helper program in supervise's own environment, as
    /// supervise, in a session of its own.
    pub fn new(program: &Program) -> Spec {
        let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        let mut spec = Spec::build(program, Packed::env(pairs(&env)), None, None, &[], None);
        spec.own_session = true;
        spec
    }

    /// [`Spec::new`] with `extra` added to supervise's environment (a hook's facts).
    pub fn with_env(program: &Program, extra: Vec<(OsString, OsString)>) -> Spec {
        let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .collect();
        env.extend(extra);
        let mut spec = Spec::build(program, Packed::env(pairs(&env)), None, None, &[], None);
        spec.own_session = true;
        spec
    }

    /// Prepares the start of the service as its launch says, with `env` (read once,
    /// straight into the strings exec takes) for the launch's environment: its own
    /// process group, in supervise's session.
    pub fn for_launch<'a>(
        l: &Launch,
        env: impl IntoIterator<Item = (&'a OsStr, &'a OsStr)>,
    ) -> Spec {
        let ids = l.ids.as_ref().map(|i| (i.uid, i.gid, i.groups.clone()));
        Spec::build(
            &l.program,
            Packed::env(env),
            l.dir.as_deref(),
            l.umask,
            &l.limits,
            ids,
        )
    }

    fn build(
        program: &Program,
        env: Packed,
        dir: Option<&Path>,
        umask: Option<u32>,
        limits: &[Rlimit],
        ids: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
    ) -> Spec {
        let path = c_string(program.path.clone().into_os_string().into_vec());
        let argv = Packed::new(program.argv.iter().map(|a| [a.as_bytes()]));
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
            argv,
            env,
            dir: dir.map(|d| c_string(d.as_os_str().as_bytes().to_vec())),
            umask: umask.map(|m| m as libc::mode_t),
            limits,
            ids,
            own_session: false,
        }
    }

    /// Gives the service `soft` as its descriptor limit (supervise raised its own, see
    /// [`crate::daemon::ensure_descriptors`]), unless the config sets one.
    pub fn restore_nofile(&mut self, soft: u64) {
        let nofile = libc::RLIMIT_NOFILE as i32;
        if self.limits.iter().any(|(r, _)| *r == nofile) {
            return;
        }
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) } == 0 {
            self.limits.push((
                nofile,
                libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: current.rlim_max,
                },
            ));
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
    /// Given to the child as this descriptor number too (s6's readiness fd).
    pub extra: Option<(BorrowedFd<'a>, i32)>,
}

/// A started child, and what went wrong if it never exec'd.
#[derive(Debug)]
pub struct Child {
    /// Its pid.
    pub pid: Pid,
    failure: Option<StartFailure>,
    /// Its start time as `/proc/PID/stat` gives it, when the clock said so for sure.
    start_ticks: Option<u64>,
}

impl Child {
    /// A process that became supervise's child without being started by it (a
    /// forking daemon re-parented to supervise, its subreaper).
    pub fn taken(pid: Pid) -> Child {
        Child {
            pid,
            failure: None,
            start_ticks: None,
        }
    }

    /// Its start time in clock ticks since boot (field 22 of `/proc/PID/stat`), known
    /// without reading it when the clock was on the same tick before `clone` and after
    /// it returned: the kernel stamps the new process between the two
    /// ([`crate::proc::boot_ticks`]). `None` in the rare start that straddles a tick.
    pub fn start_ticks(&self) -> Option<u64> {
        self.start_ticks
    }

    /// Why the child died instead of exec'ing; `None` means the exec succeeded.
    pub fn failure(&self) -> Option<StartFailure> {
        self.failure
    }
}

/// Room for the child's frames until it execs: a few hundred bytes of its own and
/// libc's system call wrappers, in any build profile (musl's posix_spawn makes do
/// with about 5 kB). It lives in `spawn`'s frame, on stack pages supervise has used
/// before, rather than on the heap, where it would dirty pages of its own.
const CHILD_STACK: usize = 8 * 1024;

/// What the child reads and what it writes back, in memory it shares with supervise.
struct Shared<'a> {
    spec: &'a Spec,
    stdio: Stdio<'a>,
    /// Step code in the high half, errno in the low half; 0 until the child fails.
    report: AtomicU64,
}

/// Starts the service and returns once it has exec'd, or failed to: then
/// [`Child::failure`] says why, and the child is dying with status 127.
///
/// Never inlined: the child's stack is in this frame, which must be below the loop's
/// and gone when the loop waits, so that its pages are let go with the rest of the
/// stack below the waiting frame ([`crate::memory::release_and_wait`]).
#[inline(never)]
pub fn spawn(spec: &Spec, stdio: Stdio<'_>) -> io::Result<Child> {
    let shared = Shared {
        spec,
        stdio,
        report: AtomicU64::new(0),
    };
    let mut stack = std::mem::MaybeUninit::<[u8; CHILD_STACK]>::uninit();
    // Stacks grow down, from a 16-byte aligned top.
    let end = stack.as_mut_ptr().cast::<u8>().wrapping_add(CHILD_STACK);
    let top = end.wrapping_sub(end.addr() % 16);
    // A child that changes its ids marks the memory it shares with us not dumpable
    // (so that its new user cannot ptrace its way into ours); once it has exec'd,
    // nothing is shared and supervise's own setting is put back.
    let dumpable = spec.ids.is_some().then(|| {
        // SAFETY: PR_GET_DUMPABLE only reads a flag of this process.
        unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }
    });
    // SAFETY: the child runs on its own stack and only reads `shared` (apart from the
    // atomic report, and errno in the thread-local storage it shares with this
    // thread, read here only when clone fails) until it execs or exits; CLONE_VFORK
    // keeps this thread suspended until then, so `shared` and `stack` outlive every
    // use the child makes of them.
    let before = crate::proc::boot_ticks();
    let pid = unsafe {
        libc::clone(
            in_child,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(&shared).cast_mut().cast(),
        )
    };
    let clone_error = (pid < 0).then(io::Error::last_os_error);
    let after = crate::proc::boot_ticks();
    if let Some(flag) = dumpable.filter(|&f| f >= 0) {
        // SAFETY: PR_SET_DUMPABLE with the value PR_GET_DUMPABLE returned.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, flag as libc::c_ulong) };
    }
    if let Some(e) = clone_error {
        return Err(io::Error::new(e.kind(), format!("cannot fork: {e}")));
    }
    Ok(Child {
        pid: Pid::from_raw(pid),
        failure: decode_report(shared.report.load(Ordering::Acquire)),
        start_ticks: before.filter(|_| before == after),
    })
}

fn encode_report(step: Step, errno: i32) -> u64 {
    (u64::from(step.code()) << 32) | u64::from(errno as u32)
}

fn decode_report(report: u64) -> Option<StartFailure> {
    Some(StartFailure {
        step: Step::from_code((report >> 32) as u32)?,
        errno: report as u32 as i32,
    })
}

extern "C" fn in_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Shared` that `spawn` keeps alive while this runs.
    let shared = unsafe { &*arg.cast::<Shared<'_>>() };
    run_child(shared.spec, shared.stdio, &shared.report)
}

fn run_child(spec: &Spec, stdio: Stdio<'_>, report: &AtomicU64) -> ! {
    // SAFETY: plain system calls on valid descriptors and prepared C strings; the
    // child never returns into Rust code that could allocate or unwind.
    unsafe {
        if spec.own_session {
            if libc::setsid() < 0 {
                fail(report, Step::Session);
            }
        } else if libc::setpgid(0, 0) < 0 {
            fail(report, Step::Group);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        // Supervise resets every other disposition at start-up; Rust's runtime set
        // SIGPIPE to ignored, and ignored dispositions survive exec.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        // The descriptors before the limits: a readiness descriptor numbered above a
        // lowered descriptor limit is still given (the limit binds only new ones).
        for (fd, target) in [(stdio.stdin, 0), (stdio.stdout, 1), (stdio.stderr, 2)] {
            if libc::dup2(fd.as_raw_fd(), target) < 0 {
                fail(report, Step::Stdio);
            }
        }
        if let Some((fd, target)) = stdio.extra {
            // dup2 onto itself keeps close-on-exec; clear it instead.
            let ok = if fd.as_raw_fd() == target {
                libc::fcntl(target, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(fd.as_raw_fd(), target) >= 0
            };
            if !ok {
                fail(report, Step::Stdio);
            }
        }
        for (resource, limit) in &spec.limits {
            if libc::setrlimit(*resource as _, limit) < 0 {
                fail(report, Step::Limits);
            }
        }
        if let Some(mask) = spec.umask {
            libc::umask(mask);
        }
        if let Some((uid, gid, groups)) = &spec.ids {
            if libc::syscall(SYS_SETGROUPS, groups.len(), groups.as_ptr()) < 0 {
                fail(report, Step::Groups);
            }
            if libc::syscall(SYS_SETGID, *gid) < 0 {
                fail(report, Step::Gid);
            }
            if libc::syscall(SYS_SETUID, *uid) < 0 {
                fail(report, Step::Uid);
            }
        }
        if let Some(dir) = &spec.dir {
            if libc::chdir(dir.as_ptr()) < 0 {
                fail(report, Step::Chdir);
            }
        }
        libc::execve(spec.path.as_ptr(), spec.argv.as_ptr(), spec.env.as_ptr());
        fail(report, Step::Exec)
    }
}

/// Reports the failed step and errno to supervise and dies.
fn fail(report: &AtomicU64, step: Step) -> ! {
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    report.store(encode_report(step, errno), Ordering::Release);
    // SAFETY: _exit ends only this child, without running supervise's exit handlers.
    unsafe { libc::_exit(127) }
}

// The set-id system calls that take 32-bit ids (the plain ones are 16-bit there).
#[cfg(any(target_arch = "x86", target_arch = "arm"))]
const SYS_SETGROUPS: libc::c_long = libc::SYS_setgroups32;
#[cfg(any(target_arch = "x86", target_arch = "arm"))]
const SYS_SETGID: libc::c_long = libc::SYS_setgid32;
#[cfg(any(target_arch = "x86", target_arch = "arm"))]
const SYS_SETUID: libc::c_long = libc::SYS_setuid32;
#[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
const SYS_SETGROUPS: libc::c_long = libc::SYS_setgroups;
#[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
const SYS_SETGID: libc::c_long = libc::SYS_setgid;
#[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
const SYS_SETUID: libc::c_long = libc::SYS_setuid;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::path::PathBuf;

    fn program(path: &str, args: &[&str]) -> Program {
        Program {
            path: PathBuf::from(path),
            argv: std::iter::once(path)
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect(),
        }
    }

    /// Spawns with /dev/null on all three descriptors, and reaps the child.
    fn run(spec: &Spec) -> (Child, i32) {
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .unwrap();
        let stdio = Stdio {
            stdin: null.as_fd(),
            stdout: null.as_fd(),
            stderr: null.as_fd(),
            extra: None,
        };
        let child = spawn(spec, stdio).unwrap();
        let mut status = 0;
        // SAFETY: waiting for the child just started.
        let got = unsafe { libc::waitpid(child.pid.as_raw(), &mut status, 0) };
        assert_eq!(got, child.pid.as_raw());
        (child, status)
    }

    #[test]
    fn packed_strings_are_what_exec_gets_and_survive_a_move() {
        let strings = ["A=1", "", "PATH=/bin:/usr/bin", "x=y=z"];
        let packed = Packed::new(strings.iter().map(|s| [s.as_bytes()]));
        let moved = Box::new(packed);
        let got: Vec<&str> = moved
            .strings()
            .iter()
            .map(|c| c.to_str().unwrap())
            .collect();
        assert_eq!(got, strings);
        let none: [[&[u8]; 1]; 0] = [];
        assert!(Packed::new(none).strings().is_empty());
        let cut = Packed::new([[b"A=x\0y".as_slice(), b"z".as_slice()]]);
        assert_eq!(cut.strings(), [c"A=x"], "cut at the NUL, as exec would");
        // The service sees the environment it was given, through the packed pointers.
        let out = tempfile::NamedTempFile::new().unwrap();
        let cmd = format!("echo \"$A:$B\" > {}", out.path().display());
        let spec = Spec::with_env(
            &program("/bin/sh", &["-c", &cmd]),
            vec![("A".into(), "one".into()), ("B".into(), "two words".into())],
        );
        let (_, status) = run(&spec);
        assert_eq!(libc::WEXITSTATUS(status), 0);
        assert_eq!(
            std::fs::read_to_string(out.path()).unwrap(),
            "one:two words\n"
        );
    }

    #[test]
    fn a_child_that_execs_reports_nothing_and_is_the_program() {
        let (child, status) = run(&Spec::new(&program("/bin/sh", &["-c", "exit 7"])));
        assert_eq!(child.failure(), None);
        assert!(libc::WIFEXITED(status));
        assert_eq!(libc::WEXITSTATUS(status), 7);
    }

    #[test]
    fn a_failed_exec_is_known_when_spawn_returns() {
        let (child, status) = run(&Spec::new(&program("/nonexistent/program", &[])));
        assert_eq!(
            child.failure(),
            Some(StartFailure {
                step: Step::Exec,
                errno: libc::ENOENT
            })
        );
        assert_eq!(libc::WEXITSTATUS(status), 127);
    }

    #[test]
    fn a_failed_step_before_the_exec_is_named() {
        let mut spec = Spec::new(&program("/bin/true", &[]));
        spec.dir = Some(c_string(b"/nonexistent/dir".to_vec()));
        let (child, _) = run(&spec);
        let failure = child.failure().unwrap();
        assert_eq!(failure.step, Step::Chdir);
        assert_eq!(failure.errno, libc::ENOENT);
        assert!(
            failure
                .to_string()
                .starts_with("changing to the service's directory failed")
        );
    }

    #[test]
    fn a_child_that_changes_user_leaves_supervise_dumpable() {
        // SAFETY: geteuid only reads.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root to change the child's user");
            return;
        }
        // SAFETY: PR_GET_DUMPABLE only reads a flag of this process.
        let before = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
        let mut spec = Spec::new(&program("/bin/true", &[]));
        spec.ids = Some((65534, 65534, vec![65534]));
        let (child, status) = run(&spec);
        assert_eq!(child.failure(), None);
        assert_eq!(libc::WEXITSTATUS(status), 0);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }, before);
    }

    #[test]
    fn the_report_round_trips_every_step_and_an_errno() {
        for code in 1..=8 {
            let step = Step::from_code(code).unwrap();
            let f = decode_report(encode_report(step, libc::EACCES)).unwrap();
            assert_eq!((f.step, f.errno), (step, libc::EACCES));
        }
        assert_eq!(decode_report(0), None);
    }

    #[test]
    fn the_child_gets_its_own_session_and_the_given_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let out = std::fs::File::create(dir.path().join("out")).unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let spec = Spec::new(&program(
            "/bin/sh",
            &[
                "-c",
                "echo $$; cat /proc/self/stat; for f in /proc/self/fd/*; do readlink $f; done",
            ],
        ));
        let stdio = Stdio {
            stdin: null.as_fd(),
            stdout: out.as_fd(),
            stderr: out.as_fd(),
            extra: None,
        };
        let child = spawn(&spec, stdio).unwrap();
        let mut status = 0;
        // SAFETY: waiting for the child just started.
        unsafe { libc::waitpid(child.pid.as_raw(), &mut status, 0) };
        let text = std::fs::read_to_string(dir.path().join("out")).unwrap();
        let mut lines = text.lines();
        let pid = lines.next().unwrap();
        assert_eq!(pid, child.pid.to_string());
        // `cat`'s stat: its process group and session are the shell's pid.
        let stat: Vec<&str> = lines.next().unwrap().split(' ').collect();
        assert_eq!((stat[4], stat[5]), (pid, pid));
        // The output file is open as stdout and stderr, and not also under its own
        // number (what the test harness leaves open is its own: supervise closes that).
        let out_path = dir.path().join("out");
        let targets: Vec<&str> = lines.collect();
        let open_as_out = targets
            .iter()
            .filter(|t| std::path::Path::new(t) == out_path)
            .count();
        assert_eq!(open_as_out, 2, "{targets:?}");
    }

    #[test]
    fn the_service_leads_a_group_in_our_session() {
        let dir = tempfile::tempdir().unwrap();
        let out = std::fs::File::create(dir.path().join("out")).unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let mut spec = Spec::new(&program("/bin/sh", &["-c", "echo $$; cat /proc/self/stat"]));
        spec.own_session = false;
        let stdio = Stdio {
            stdin: null.as_fd(),
            stdout: out.as_fd(),
            stderr: out.as_fd(),
            extra: None,
        };
        let child = spawn(&spec, stdio).unwrap();
        let mut status = 0;
        // SAFETY: waiting for the child just started.
        unsafe { libc::waitpid(child.pid.as_raw(), &mut status, 0) };
        let text = std::fs::read_to_string(dir.path().join("out")).unwrap();
        let mut lines = text.lines();
        let pid = lines.next().unwrap();
        let stat: Vec<&str> = lines.next().unwrap().split(' ').collect();
        let our_session = nix::unistd::getsid(None).unwrap().to_string();
        assert_eq!((stat[4], stat[5]), (pid, our_session.as_str()));
    }
}
