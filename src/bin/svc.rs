//! `svc`: parse, delegate, exit. The work is in [`supervise::svc`].
//!
//! `no_main`, like `supervise`: svc runs once per command, often in scripts, and
//! Rust's runtime set-up before `main` costs about twenty system calls it never needs.
//! Of that set-up it keeps the two parts that matter (descriptors 0–2 open, SIGPIPE
//! ignored, so a closed stdout is an error it reports).

#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
use std::io::Write;

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    supervise::daemon::sanitize_standard_fds();
    supervise::daemon::ignore_sigpipe();
    let code = supervise::svc::main(std::env::args_os().skip(1));
    let _ = std::io::stdout().flush();
    code.into()
}
