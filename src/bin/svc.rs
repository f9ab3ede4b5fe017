//! `svc`: parse, delegate, exit. The work is in [`supervise::svc`].

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(supervise::svc::main(std::env::args_os().skip(1)))
}
