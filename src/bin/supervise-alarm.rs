//! `supervise-alarm`: sends one alarm described on stdin; started by supervise.
//! The work is in [`supervise::alarm::helper_main`].

use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("-v" | "--version") => {
            println!("supervise-alarm {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("-h" | "--help") => {
            print!(
                "usage: supervise-alarm < JOB\n\n\
                 Sends one alarm (mail, SMS) for supervise, which starts it with the job on\n\
                 its stdin; not meant to be run by hand. Exit codes: 0 sent, 1 not sent to\n\
                 everyone, 2 a bad job.\n"
            );
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let mut job = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut job) {
        eprintln!("supervise-alarm: cannot read the job from stdin: {e}");
        return ExitCode::from(2);
    }
    ExitCode::from(supervise::alarm::helper_main(&job) as u8)
}
