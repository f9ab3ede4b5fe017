//! `supervise-host`: one config in supervisord's format, one `supervise` per process.
//! The work is in [`supervise::host`].

fn main() -> std::process::ExitCode {
    let code = supervise::host::cli::main(std::env::args_os().skip(1));
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
