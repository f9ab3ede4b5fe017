//! `supervise`: parse, delegate, exit. The work is in [`supervise::supervisor`].
//!
//! `no_main`: Rust's runtime set-up before `main` (a stack-overflow handler with its
//! own signal stack, found by parsing `/proc/self/maps`; about twenty system calls)
//! is skipped, because operators start supervise in loops, once per service, and it
//! stays resident for life. What of it matters is done by
//! [`supervise::daemon::sanitize_process`]. Arguments still come through
//! `std::env::args_os`, which glibc hands to Rust before `main`.

#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
use std::io::Write;

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let code = supervise::supervisor::main(std::env::args_os().skip(1));
    // Rust's runtime would flush stdout on the way out; nothing else will.
    let _ = std::io::stdout().flush();
    code.into()
}
