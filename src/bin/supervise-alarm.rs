//! `supervise-alarm`: sends one alarm described on stdin; started by supervise.
//! The work is in [`supervise::alarm::helper_main`].

use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut job = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut job) {
        eprintln!("supervise-alarm: cannot read the job from stdin: {e}");
        return ExitCode::from(2);
    }
    ExitCode::from(supervise::alarm::helper_main(&job) as u8)
}
