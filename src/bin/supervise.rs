//! `supervise`: parse, delegate, exit. The work is in [`supervise::supervisor`].

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(supervise::supervisor::main(std::env::args_os().skip(1)))
}
