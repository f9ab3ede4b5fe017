//! Becoming a clean background process, and reporting start-up errors before that.
//!
//! The legacy tool daemonizes, and operators' scripts rely on `supervise -p ... -f ...`
//! returning. They also need to see why it failed (lock held, bad config, command not
//! found). So the parent forks at once and waits on a pipe: the child does every
//! check with the caller's stderr still attached, starts the service, then detaches
//! its stdio and writes one byte. The parent exits 0 on that byte, or with the child's
//! exit code if the child died first. The child's own pid is the one that takes the
//! lock, so `lock` and `fuser` name the process that really supervises.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;

/// The child's half of the start-up pipe.
#[derive(Debug)]
pub struct Readiness(File);

impl Readiness {
    /// Detaches stdio (to `/dev/null`) and tells the waiting parent to return 0. The
    /// parent is told even if detaching failed: it must never wait for ever.
    pub fn ready(self) -> io::Result<()> {
        let detached = detach_stdio();
        let mut f = self.0;
        f.write_all(b"R")?;
        detached
    }
}

/// Forks. In the parent this never returns: it exits with 0 once the child calls
/// [`Readiness::ready`], or with the child's exit status. In the child it returns the
/// readiness handle, in a new session.
pub fn daemonize() -> io::Result<Readiness> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // SAFETY: single-threaded; both sides go on with ordinary Rust code.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(r);
            nix::unistd::setsid()?;
            Ok(Readiness(File::from(w)))
        }
        child => {
            drop(w);
            std::process::exit(wait_for_child(r, child))
        }
    }
}

fn wait_for_child(r: OwnedFd, child: libc::pid_t) -> i32 {
    let mut byte = [0u8; 1];
    if matches!(File::from(r).read(&mut byte), Ok(1)) {
        return 0;
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let rc = unsafe { libc::waitpid(child, &mut status, 0) };
        if rc == child {
            break;
        }
        if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return 111;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        111
    }
}

/// The descriptors supervise may hold at once, with every feature in use: the three
/// standard ones, the directory, the lock, both ends of `control`, `ok`, two
/// inotify instances, the signalfd, two logs, a pidfd, two pipes and two output
/// files, a helper's input, and the few a start or a walk opens for a moment; twice
/// that, for room.
pub const DESCRIPTORS_NEEDED: u64 = 48;

/// Makes sure supervise can open the descriptors it needs: a soft limit below
/// [`DESCRIPTORS_NEEDED`] is raised (to at most 256, within the hard limit), and the
/// original soft limit is returned so the service can be given it back. A hard limit
/// below the need is an error, said at start rather than as a service that is
/// silently never restarted.
pub fn ensure_descriptors() -> Result<Option<u64>, String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| format!("cannot read the descriptor limit: {e}"))?;
    if soft >= DESCRIPTORS_NEEDED {
        return Ok(None);
    }
    if hard < DESCRIPTORS_NEEDED {
        return Err(format!(
            "the descriptor limit is {hard} (ulimit -n), below the {DESCRIPTORS_NEEDED} \
             supervise needs"
        ));
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard.min(256), hard)
        .map_err(|e| format!("cannot raise the descriptor limit from {soft}: {e}"))?;
    Ok(Some(soft))
}

/// Points stdin, stdout and stderr at `/dev/null`.
pub fn detach_stdio() -> io::Result<()> {
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors.
        if unsafe { libc::dup2(null.as_raw_fd(), target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Puts the process in a known state before anything else: descriptors 0–2 open (so
/// nothing we open later lands on them and is handed to the service by accident),
/// every inherited descriptor above 2 closed, SIGPIPE ignored (a write to a helper
/// that died must be an error, not our death; the child resets it) and no other
/// signal ignored.
///
/// A shell that starts us with `&` sets SIGINT and SIGQUIT to ignored, and ignored
/// dispositions survive exec: without this the service could not be interrupted.
pub fn sanitize_process() {
    sanitize_standard_fds();
    close_inherited_descriptors();
    ignore_sigpipe();
    for sig in ignored_signals() {
        if sig != libc::SIGPIPE {
            unignore(sig);
        }
    }
}

/// Opens `/dev/null` on whichever of descriptors 0–2 is closed, so that the next
/// file opened does not become someone's stdout.
pub fn sanitize_standard_fds() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only inspects; the open (without O_CLOEXEC, like any
        // standard descriptor) lands on the lowest free number, which is `fd`.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) < 0 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}

/// What Rust's runtime does before `main`, for the binaries that skip it.
pub fn ignore_sigpipe() {
    // SAFETY: setting a disposition to SIG_IGN installs no handler.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// The signals this process ignores, from the SigIgn mask of `/proc/self/status`
/// (one read instead of 64 system calls); every signal, to be checked one by one,
/// where `/proc` cannot be read.
fn ignored_signals() -> Vec<libc::c_int> {
    // About 1.5 kB; room to spare for fields later kernels add.
    let mut buf = [0u8; 4096];
    let mask = crate::proc::read_whole("/proc/self/status", &mut buf)
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    (1..=64).filter(|s| mask & (1u64 << (s - 1)) != 0).collect()
}

/// Sets `sig` back to its default if it is ignored. Handlers need no reset (exec
/// drops them), only ignored dispositions survive exec. The raw system call reaches
/// the signals glibc reserves for itself (32, 33), which `sigaction(3)` refuses.
fn unignore(sig: libc::c_int) {
    // Large enough for the kernel's `struct sigaction` on every architecture; all
    // zeros is SIG_DFL with no flags and an empty mask.
    let mut old = [0u64; 8];
    let new = [0u64; 8];
    let sigset_size = 8usize;
    // SAFETY: rt_sigaction reads and writes kernel-sized sigaction records in the
    // buffers above, which are larger than that record.
    unsafe {
        let rc = libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            std::ptr::null::<u64>(),
            old.as_mut_ptr(),
            sigset_size,
        );
        if rc == 0 && old[0] == libc::SIG_IGN as u64 {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                new.as_ptr(),
                std::ptr::null_mut::<u64>(),
                sigset_size,
            );
        }
    }
}

fn close_inherited_descriptors() {
    // SAFETY: close_range closes descriptors nobody in this process refers to yet.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc == 0 {
        return;
    }
    // Kernels before 5.9: close what /proc lists.
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2)
            .collect(),
        Err(_) => return,
    };
    for fd in fds {
        // SAFETY: as above; the read_dir descriptor is already closed.
        unsafe { libc::close(fd) };
    }
}
