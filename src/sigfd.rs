//! Signals as a descriptor: the handled signals blocked and read from a signalfd in
//! the one `poll`, for supervise and the host alike.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Blocks `signals` and opens a non-blocking, close-on-exec signalfd for them.
pub fn open(signals: &[Signal]) -> nix::Result<SignalFd> {
    let mut set = SigSet::empty();
    for s in signals {
        set.add(*s);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// The signals waiting in `fd`, in one read of room for `N` records: a standard
/// signal is pending at most once for the process (and once more if sent to the
/// thread), so room for every signal taken nearly always drains it, and no second
/// read has to come back empty. Whatever is left keeps the fd readable: the next turn
/// of the loop reads it. Nothing is allocated.
pub fn pending<const N: usize>(fd: BorrowedFd<'_>) -> impl Iterator<Item = i32> + use<N> {
    let mut infos = [std::mem::MaybeUninit::<libc::signalfd_siginfo>::uninit(); N];
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: reading into a buffer of `N` records, each fully written by the kernel
    // for the `n / size` records it returns.
    let n = unsafe { libc::read(fd.as_raw_fd(), infos.as_mut_ptr().cast(), size * N) };
    let records = usize::try_from(n).unwrap_or(0) / size;
    let mut signos = [0; N];
    for (signo, info) in signos.iter_mut().zip(&infos[..records]) {
        // SAFETY: see above: these records were written.
        *signo = unsafe { info.assume_init_ref() }.ssi_signo as i32;
    }
    signos.into_iter().take(records)
}
