//! supervisord 4.2's config format, read exactly as supervisord reads it.
//!
//! Reading is pure but for one thin layer: the files, directories and users are asked
//! of a [`System`] (the machine, or memory in tests), and the process's facts (working
//! directory, host name, environment) come in a [`Context`]. The steps, each tested on
//! its own:
//!
//! 1. [`lexer`]: one file's text into sections, by the rules of Python's
//!    `ConfigParser` as supervisord configures it (comments, continuation lines, CRLF);
//! 2. [`include`]: the main file and the files its `[include]` names into one
//!    [`store`], where a section met again is merged and `%(here)s` is each file's own
//!    directory;
//! 3. [`reader`] and [`expand`]: a key's value, expanded with exactly the names
//!    supervisord allows for that key (`%(program_name)s`, `%(process_num)02d`,
//!    `%(ENV_X)s`...), typed by [`datatypes`];
//! 4. [`server`], [`program`] and [`groups`]: the sections into typed values, processes
//!    expanded by `numprocs` and ordered as supervisord orders them.
//!
//! [`load`] runs them; [`json`] renders the processes with supervisord's key names.
//! Every error is an [`ini::LineError`](crate::ini::LineError): `FILE:LINE: what`, the
//! line of the key at fault (of the section's header when the key is not set), the
//! message supervisord's own (prefixed with `[section] key:` for a value's type).
//!
//! `tests/host_config.rs` holds this to supervisord itself: real-world configs read by
//! both must give the same processes, field by field and in the same order.
//!
//! ## Where this differs from supervisord, on purpose
//!
//! - A conversion without a name (`%s`, `%d`) is refused: Python would format the
//!   whole mapping of names into the value, which no config means.
//! - Numbers are ASCII digits within 64 bits; a negative `umask` is refused at load
//!   (supervisord accepts it and fails at spawn).
//! - `result_handler` and `supervisor.rpcinterface_factory` are kept as text, not
//!   imported, and event types that a Python plugin would register are unknown.
//! - The default `childlogdir` is the first of `TMPDIR`, `TEMP`, `TMP`, `/tmp`,
//!   `/var/tmp`, `/usr/tmp` that is a directory (Python also tries to write there).
//! - `[supervisorctl]` is read from the whole config (supervisorctl reads the main file
//!   only), and a problem there is a warning, since supervisord never reads it.
//! - supervisord's per-process warnings are given once per section; unknown keys and
//!   sections, and an included file's `[include]`, are warned about (supervisord is
//!   silent).
//! - An `[fcgi-program:x]` Unix socket's owner is what `socket_owner` says;
//!   supervisord's run-time default (the program's user) is left to the caller.

pub mod datatypes;
pub mod expand;
pub mod glob;
pub mod groups;
pub mod include;
pub mod json;
pub mod lexer;
pub mod load;
pub mod program;
pub mod python;
pub mod reader;
pub mod server;
pub mod shlex;
pub mod store;
pub mod system;

pub use datatypes::{AutoRestart, LogLevel};
pub use groups::{FcgiSocket, GroupKind, GroupSpec};
pub use json::to_json;
pub use load::load;
pub use program::{Channel, Kind, Listener, Located, Logfile, ProcessSpec};
pub use server::{HttpServer, Listen, RpcInterface, Supervisorctl, Supervisord};
pub use system::{Context, MemSystem, RealSystem, System};

use crate::ini::LineError;
use std::path::{Path, PathBuf};

/// A whole config, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The main file, as given.
    pub file: PathBuf,
    /// Every file read, the main one first, then the included ones in reading order.
    pub files: Vec<PathBuf>,
    /// The main file's directory: `%(here)s`.
    pub here: String,
    /// `[supervisord]`.
    pub supervisord: Supervisord,
    /// `[supervisorctl]`, if present and readable.
    pub supervisorctl: Option<Supervisorctl>,
    /// `[inet_http_server]` then `[unix_http_server]` sections.
    pub http_servers: Vec<HttpServer>,
    /// `[rpcinterface:x]` sections.
    pub rpcinterfaces: Vec<RpcInterface>,
    /// The process groups, by priority then name.
    pub groups: Vec<GroupSpec>,
    /// Every process, group by group, in supervisord's order.
    pub processes: Vec<ProcessSpec>,
    /// What was worth a warning: unknown keys and sections, globs that match nothing,
    /// supervisord's own warnings.
    pub warnings: Vec<LineError>,
}

/// Reads the config at `path` from this machine, in this process's context.
pub fn load_file(path: &Path) -> Result<HostConfig, LineError> {
    load(path, &Context::from_process(), &RealSystem)
}

/// Loading from memory, for the tests of each step.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// The main file's path in [`load_text`].
    pub const MAIN: &str = "/etc/supervisor/supervisord.conf";

    /// A context: cwd `/`, host `box`, `HOME=/root`, `APP=demo`.
    pub fn ctx() -> Context {
        Context {
            cwd: "/".into(),
            hostname: "box".into(),
            environ: vec![
                ("HOME".into(), "/root".into()),
                ("APP".into(), "demo".into()),
            ],
            tempdir: "/tmp".into(),
        }
    }

    /// A machine with `files`, `/var/log`, and the user `www-data` (33).
    pub fn system(files: &[(&str, &str)]) -> MemSystem {
        let mut sys = MemSystem::new().user("www-data", 33);
        sys.dirs.push("/var/log".into());
        for (path, text) in files {
            sys = sys.file(path, text);
        }
        sys
    }

    /// `text` loaded as [`MAIN`], with `others` beside it.
    pub fn load_with(text: &str, others: &[(&str, &str)]) -> Result<HostConfig, LineError> {
        let mut files = vec![(MAIN, text)];
        files.extend_from_slice(others);
        load(Path::new(MAIN), &ctx(), &system(&files))
    }

    /// `text` loaded as [`MAIN`].
    pub fn load_text(text: &str) -> Result<HostConfig, LineError> {
        load_with(text, &[])
    }

    /// `text` loaded as [`MAIN`], which must succeed.
    pub fn loaded(text: &str) -> HostConfig {
        load_text(text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The error `text` loads with, as `FILE:LINE: what`.
    pub fn error(text: &str) -> String {
        match load_text(text) {
            Ok(_) => panic!("loaded:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    /// The names of the processes, in order.
    pub fn names(cfg: &HostConfig) -> Vec<&str> {
        cfg.processes.iter().map(|p| p.name.as_str()).collect()
    }
}
