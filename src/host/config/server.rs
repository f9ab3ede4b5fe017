//! The sections about the daemon itself: `[supervisord]` (required, as in
//! supervisord), `[supervisorctl]`, `[unix_http_server]`, `[inet_http_server]` and
//! `[rpcinterface:x]`, with supervisord's defaults and checks.
//!
//! `[supervisorctl]` is read as supervisorctl reads it, but a problem there is only a
//! warning: supervisord itself never reads that section, so it cannot stop a config
//! that supervisord would run.

use super::datatypes::{self as dt, LogLevel};
use super::expand::{Names, expand};
use super::load::Loader;
use super::reader::Reader;
use super::shlex;
use super::store::Stored;
use crate::ini::LineError;
use std::path::PathBuf;

/// `[supervisord]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervisord {
    /// `logfile` (default `supervisord.log`, `~` expanded; `syslog` kept).
    pub logfile: String,
    /// `logfile_maxbytes` (default 50MB).
    pub logfile_maxbytes: i64,
    /// `logfile_backups` (default 10).
    pub logfile_backups: i64,
    /// `loglevel` (default info).
    pub loglevel: LogLevel,
    /// `pidfile` (default `supervisord.pid`).
    pub pidfile: String,
    /// `nodaemon`.
    pub nodaemon: bool,
    /// `silent`.
    pub silent: bool,
    /// `minfds` (default 1024).
    pub minfds: i64,
    /// `minprocs` (default 200).
    pub minprocs: i64,
    /// `umask` (default 022).
    pub umask: u32,
    /// `user`.
    pub user: Option<String>,
    /// `directory` (must exist).
    pub directory: Option<String>,
    /// `identifier` (default `supervisor`).
    pub identifier: String,
    /// `childlogdir` (default the temporary directory; must exist).
    pub childlogdir: String,
    /// `nocleanup`.
    pub nocleanup: bool,
    /// `strip_ansi`.
    pub strip_ansi: bool,
    /// `environment`, given to every process.
    pub environment: Vec<(String, String)>,
    /// `status_root` (this project's): where the status directories go.
    pub status_root: Option<String>,
    /// The section's file.
    pub file: PathBuf,
    /// The section's header line.
    pub line: usize,
}

/// `[supervisorctl]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervisorctl {
    /// `serverurl` (default `http://localhost:9001`; a `unix://` path normalized).
    pub serverurl: String,
    /// `prompt` (default `supervisor`).
    pub prompt: String,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `history_file`, normalized.
    pub history_file: Option<String>,
}

/// Where an HTTP server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `[inet_http_server] port=host:port`; an empty host is every interface.
    Inet {
        /// The host, lowercased.
        host: String,
        /// The port.
        port: u16,
    },
    /// `[unix_http_server] file=`.
    Unix {
        /// The socket's path, normalized.
        file: String,
        /// `chmod` (default 0700).
        chmod: u32,
        /// `chown`: uid, and gid if given.
        chown: Option<(u32, Option<u32>)>,
    },
}

/// An `[inet_http_server]` or `[unix_http_server]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpServer {
    /// The section's name.
    pub section: String,
    /// Where it listens.
    pub listen: Listen,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `read_only` (this project's): the web page, the JSON API and XML-RPC answer
    /// but change nothing.
    pub read_only: bool,
    /// The section's file.
    pub file: PathBuf,
    /// The section's header line.
    pub line: usize,
}

/// An `[rpcinterface:x]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcInterface {
    /// The `x`.
    pub name: String,
    /// `supervisor.rpcinterface_factory`.
    pub factory: String,
    /// Its other keys, expanded.
    pub extras: Vec<(String, String)>,
}

/// The keys supervisord reads in `[supervisord]`.
pub const SUPERVISORD_KEYS: &[&str] = &[
    "minfds",
    "minprocs",
    "directory",
    "user",
    "umask",
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "loglevel",
    "pidfile",
    "identifier",
    "nodaemon",
    "silent",
    "childlogdir",
    "nocleanup",
    "strip_ansi",
    "environment",
    "status_root",
];

const FACTORY: &str = "supervisor.rpcinterface_factory";

/// `[supervisord]`, in supervisord's order of reading.
pub fn supervisord(l: &Loader) -> Result<Supervisord, LineError> {
    let s = l.store.section("supervisord").ok_or_else(|| {
        LineError::new(
            l.store.file(0),
            0,
            ".ini file does not include supervisord section",
        )
    })?;
    let r = l.reader(s);
    let n = l.names_here();
    l.warn_unknown(&r, SUPERVISORD_KEYS);
    let dir = |p: &str| l.checks.existing_directory(p);
    let dirpath = |p: &str| l.checks.existing_dirpath(p);
    Ok(Supervisord {
        minfds: r.parse("minfds", "1024", &n, dt::integer)?,
        minprocs: r.parse("minprocs", "200", &n, dt::integer)?,
        directory: r.parse_opt("directory", &n, dir)?,
        user: r.get("user", None, &n)?,
        umask: r.parse("umask", "022", &n, dt::octal)?,
        logfile: r.parse("logfile", "supervisord.log", &n, dirpath)?,
        logfile_maxbytes: r.parse("logfile_maxbytes", "50MB", &n, dt::byte_size)?,
        logfile_backups: r.parse("logfile_backups", "10", &n, dt::integer)?,
        loglevel: r.parse("loglevel", "info", &n, dt::logging_level)?,
        pidfile: r.parse("pidfile", "supervisord.pid", &n, dirpath)?,
        identifier: r
            .get("identifier", Some("supervisor"), &n)?
            .unwrap_or_default(),
        nodaemon: r.parse("nodaemon", "false", &n, dt::boolean)?,
        silent: r.parse("silent", "false", &n, dt::boolean)?,
        childlogdir: r.parse("childlogdir", &l.checks.ctx.tempdir, &n, dir)?,
        nocleanup: r.parse("nocleanup", "false", &n, dt::boolean)?,
        strip_ansi: r.parse("strip_ansi", "false", &n, dt::boolean)?,
        environment: environment(l, &r, &n)?,
        status_root: r.get("status_root", None, &n)?,
        file: l.store.file(s.file).to_path_buf(),
        line: s.line,
    })
}

/// `[supervisord] environment`: expanded twice, as supervisord does (the second time
/// with `host_node_name` too).
fn environment(l: &Loader, r: &Reader, n: &Names) -> Result<Vec<(String, String)>, LineError> {
    let once = r.get("environment", Some(""), n)?.unwrap_or_default();
    let mut names = n.clone();
    names.set("host_node_name", &l.checks.ctx.hostname);
    let twice = expand(&once, &names, "environment").map_err(|e| r.error("environment", e))?;
    shlex::key_value_pairs(&twice).map_err(|e| r.type_error("environment", &e))
}

/// `[supervisorctl]` as supervisorctl reads it; a problem is a warning.
pub fn supervisorctl(l: &Loader) -> Option<Supervisorctl> {
    let s = l.store.section("supervisorctl")?;
    let r = l.reader(s);
    l.warn_unknown(
        &r,
        &[
            "serverurl",
            "username",
            "password",
            "prompt",
            "history_file",
        ],
    );
    read_ctl(l, &r).map_err(|e| l.warn(e)).ok()
}

fn read_ctl(l: &Loader, r: &Reader) -> Result<Supervisorctl, LineError> {
    let here = l.names_here();
    let env = &l.env;
    let url = r
        .get("serverurl", Some("http://localhost:9001"), &here)?
        .unwrap_or_default();
    let serverurl = match url.strip_prefix("unix://") {
        Some(path) => format!("unix://{}", l.checks.normalize_path(path)),
        None => url,
    };
    let history = r
        .get("history_file", None, &here)?
        .filter(|h| !h.is_empty());
    Ok(Supervisorctl {
        serverurl,
        prompt: r
            .get("prompt", Some("supervisor"), env)?
            .unwrap_or_default(),
        username: r.get("username", None, env)?,
        password: r.get("password", None, env)?,
        history_file: history.map(|h| l.checks.normalize_path(&h)),
    })
}

/// The HTTP servers: every section whose name starts with `inet_http_server`, then
/// every one starting with `unix_http_server`, as supervisord matches them.
pub fn http_servers(l: &Loader) -> Result<Vec<HttpServer>, LineError> {
    let sections = l.store.sections();
    let inet = sections
        .iter()
        .filter(|s| s.name.starts_with("inet_http_server"));
    let unix = sections
        .iter()
        .filter(|s| s.name.starts_with("unix_http_server"));
    let mut out = Vec::new();
    for s in inet {
        out.push(inet_server(l, s)?);
    }
    for s in unix {
        out.push(unix_server(l, s)?);
    }
    Ok(out)
}

fn inet_server(l: &Loader, s: &Stored) -> Result<HttpServer, LineError> {
    let r = l.reader(s);
    l.warn_unknown(&r, &["port", "username", "password", "read_only"]);
    let (username, password) = credentials(l, &r)?;
    let Some(port) = r.get("port", None, &l.env)? else {
        return Err(r.error_here(format!("section [{}] has no port value", s.name)));
    };
    let (host, port) = dt::inet_address(&port).map_err(|e| r.type_error("port", &e))?;
    let read_only = read_only(l, &r)?;
    Ok(server(
        l,
        s,
        Listen::Inet { host, port },
        (username, password),
        read_only,
    ))
}

fn unix_server(l: &Loader, s: &Stored) -> Result<HttpServer, LineError> {
    let r = l.reader(s);
    l.warn_unknown(
        &r,
        &[
            "file",
            "chmod",
            "chown",
            "username",
            "password",
            "read_only",
        ],
    );
    let Some(file) = r.get("file", None, &l.names_here())? else {
        return Err(r.error_here(format!("section [{}] has no file value", s.name)));
    };
    let file = l.checks.normalize_path(super::python::strip(&file));
    let (username, password) = credentials(l, &r)?;
    let chown = r.parse_opt("chown", &l.env, |c| {
        l.checks
            .user_group(c)
            .map_err(|_| format!("Invalid sockchown value {c}"))
    })?;
    let chmod = r.parse_opt("chmod", &l.env, |c| {
        dt::octal(c).map_err(|_| format!("Invalid chmod value {c}"))
    })?;
    let listen = Listen::Unix {
        file,
        chmod: chmod.unwrap_or(0o700),
        chown,
    };
    let read_only = read_only(l, &r)?;
    Ok(server(l, s, listen, (username, password), read_only))
}

/// `read_only`, a supervisord boolean (default false).
fn read_only(l: &Loader, r: &Reader) -> Result<bool, LineError> {
    Ok(r.parse_opt("read_only", &l.env, dt::boolean)?
        .unwrap_or(false))
}

fn server(
    l: &Loader,
    s: &Stored,
    listen: Listen,
    (username, password): (Option<String>, Option<String>),
    read_only: bool,
) -> HttpServer {
    HttpServer {
        section: s.name.clone(),
        listen,
        username,
        password,
        read_only,
        file: l.store.file(s.file).to_path_buf(),
        line: s.line,
    }
}

/// `username` and `password`: both or neither.
fn credentials(l: &Loader, r: &Reader) -> Result<(Option<String>, Option<String>), LineError> {
    let username = r.get("username", None, &l.env)?;
    let password = r.get("password", None, &l.env)?;
    if username.is_some() != password.is_some() {
        return Err(r.error_here(format!(
            "Section [{}] contains incomplete authentication: If a username or a password is \
             specified, both the username and password must be specified",
            r.section.name
        )));
    }
    Ok((username, password))
}

/// Every `[rpcinterface:x]`: its factory is required (and kept as text: there is no
/// Python to import it into).
pub fn rpcinterfaces(l: &Loader) -> Result<Vec<RpcInterface>, LineError> {
    let sections = l.store.sections().iter();
    sections
        .filter(|s| s.name.starts_with("rpcinterface:"))
        .map(|s| rpcinterface(l, s))
        .collect()
}

fn rpcinterface(l: &Loader, s: &Stored) -> Result<RpcInterface, LineError> {
    let r = l.reader(s);
    let Some(factory) = r.get(FACTORY, None, &l.env)? else {
        return Err(r.error_here(format!("section [{}] does not specify a {FACTORY}", s.name)));
    };
    let mut extras = Vec::new();
    for v in s.values.iter().filter(|v| v.key != FACTORY) {
        extras.push((
            v.key.clone(),
            r.get(&v.key, None, &l.env)?.unwrap_or_default(),
        ));
    }
    let name = s.name.split_once(':').map_or("", |(_, n)| n).to_string();
    Ok(RpcInterface {
        name,
        factory,
        extras,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::config::testing::{error, loaded};

    #[test]
    fn supervisord_defaults() {
        let s = loaded("[supervisord]\n").supervisord;
        assert_eq!(
            (s.logfile.as_str(), s.pidfile.as_str()),
            ("supervisord.log", "supervisord.pid")
        );
        assert_eq!(
            (s.logfile_maxbytes, s.logfile_backups, s.loglevel),
            (50 << 20, 10, LogLevel::Info)
        );
        assert_eq!((s.minfds, s.minprocs, s.umask), (1024, 200, 0o22));
        assert_eq!(
            (s.identifier.as_str(), s.childlogdir.as_str()),
            ("supervisor", "/tmp")
        );
        assert!(!s.nodaemon && !s.silent && !s.nocleanup && !s.strip_ansi);
        assert_eq!((s.user, s.directory), (None, None));
        assert!(s.environment.is_empty());
    }

    #[test]
    fn supervisord_keys() {
        let s = loaded(
            "[supervisord]\nlogfile=~/s.log\nloglevel=DEBUG\nnodaemon=true\numask=077\nminfds=4096\n\
             directory=/tmp\nenvironment=HOST=\"%%(host_node_name)s\",A=%(ENV_APP)s\n",
        )
        .supervisord;
        assert_eq!(
            (s.logfile.as_str(), s.loglevel, s.nodaemon),
            ("/root/s.log", LogLevel::Debug, true)
        );
        assert_eq!(
            (s.umask, s.minfds, s.directory.as_deref()),
            (0o77, 4096, Some("/tmp"))
        );
        assert_eq!(
            s.environment,
            [("HOST".into(), "box".into()), ("A".into(), "demo".into())]
        );
        // Expanded twice: `host_node_name` only the second time, as in supervisord.
        let e = error("[supervisord]\nenvironment=H=%(host_node_name)s\n");
        assert!(e.contains("contains names ('host_node_name')"), "{e}");
        let e = error("[supervisord]\nchildlogdir=/nope\n");
        assert_eq!(
            e,
            "/etc/supervisor/supervisord.conf:2: [supervisord] childlogdir: /nope is not an existing directory"
        );
        let e = error("[supervisord]\nloglevel=loud\n");
        assert!(
            e.ends_with(":2: [supervisord] loglevel: bad logging level name 'loud'"),
            "{e}"
        );
        let e = error("[program:x]\ncommand=x\n");
        assert_eq!(
            e,
            "/etc/supervisor/supervisord.conf: .ini file does not include supervisord section"
        );
    }

    #[test]
    fn supervisorctl_as_supervisorctl_reads_it() {
        let c = loaded("[supervisord]\n[supervisorctl]\n")
            .supervisorctl
            .expect("section");
        assert_eq!(
            (c.serverurl.as_str(), c.prompt.as_str()),
            ("http://localhost:9001", "supervisor")
        );
        let c = loaded(
            "[supervisord]\n[supervisorctl]\nserverurl=unix://%(here)s/../run/s.sock\nusername=u\n",
        )
        .supervisorctl
        .expect("section");
        assert_eq!(
            (c.serverurl.as_str(), c.username.as_deref()),
            ("unix:///etc/run/s.sock", Some("u"))
        );
        let cfg = loaded("[supervisord]\n[supervisorctl]\nprompt=%(nope)s\n");
        assert!(cfg.supervisorctl.is_none());
        assert_eq!(
            cfg.warnings[0].line, 3,
            "a problem in [supervisorctl] is a warning"
        );
        assert!(loaded("[supervisord]\n").supervisorctl.is_none());
    }

    #[test]
    fn http_servers() {
        let cfg = loaded(
            "[supervisord]\n[unix_http_server]\nfile=/run/../tmp/s.sock\nchmod=0770\nchown=www-data:root\n\
             [inet_http_server]\nport=*:9001\nusername=u\npassword=p\n",
        );
        let inet = Listen::Inet {
            host: String::new(),
            port: 9001,
        };
        let unix = Listen::Unix {
            file: "/tmp/s.sock".into(),
            chmod: 0o770,
            chown: Some((33, Some(0))),
        };
        let got: Vec<&Listen> = cfg.http_servers.iter().map(|s| &s.listen).collect();
        assert_eq!(got, [&inet, &unix]);
        assert_eq!(cfg.http_servers[0].username.as_deref(), Some("u"));
        let rows = [
            (
                "[inet_http_server]\n",
                ":2: section [inet_http_server] has no port value",
            ),
            (
                "[inet_http_server]\nport=h:0\n",
                ":3: [inet_http_server] port: 0 is below lower bound (1)",
            ),
            (
                "[unix_http_server]\nfile=/tmp/s\nusername=u\n",
                ":2: Section [unix_http_server] contains incomplete authentication",
            ),
            (
                "[unix_http_server]\nfile=/tmp/s\nchmod=rw\n",
                ":4: [unix_http_server] chmod: Invalid chmod value rw",
            ),
            (
                "[unix_http_server]\nfile=/tmp/s\nchown=nobody-here\n",
                ":4: [unix_http_server] chown: Invalid sockchown value nobody-here",
            ),
        ];
        for (section, want) in rows {
            let e = error(&format!("[supervisord]\n{section}"));
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn rpcinterfaces_need_a_factory() {
        let cfg = loaded(
            "[supervisord]\n[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = \
             supervisor.rpcinterface:make_main_rpcinterface\nretries=%(ENV_APP)s\n",
        );
        let want = RpcInterface {
            name: "supervisor".into(),
            factory: "supervisor.rpcinterface:make_main_rpcinterface".into(),
            extras: vec![("retries".into(), "demo".into())],
        };
        assert_eq!(cfg.rpcinterfaces, [want]);
        let e = error("[supervisord]\n[rpcinterface:x]\nk=v\n");
        assert!(
            e.ends_with(
                ":2: section [rpcinterface:x] does not specify a supervisor.rpcinterface_factory"
            ),
            "{e}"
        );
    }
}
