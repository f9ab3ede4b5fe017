//! How the service is started: the program, its environment, user, group, working
//! directory, umask and resource limits, resolved from the command line and the config
//! in one place, before any fork.
//!
//! Everything that can be wrong is found here, where it can be said clearly: a user or
//! group that does not exist, a directory that is not one, a program not on the PATH
//! the service will have, a limit above what a non-root supervise may grant. At start
//! that stops supervise (exit 100); at reload the error goes to `supervise.log.wf` and
//! the launch in force stays.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};

use crate::users::{self, User};

use crate::cli::CommandLine;
use crate::command::{self, Program};
use crate::config::{Config, Rlimit};

/// The user and groups the service runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// Why a launch cannot be prepared, and the config key that caused it (so the message
/// can name the file and line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchError {
    /// The config key at fault, if one is.
    pub key: Option<&'static str>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn keyed(key: &'static str) -> impl FnOnce(String) -> LaunchError {
    move |message| LaunchError {
        key: Some(key),
        message,
    }
}

/// A service ready to fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// What to exec.
    pub program: Program,
    /// Its whole environment, in order.
    pub env: Vec<(OsString, OsString)>,
    /// Its working directory (`None`: supervise's).
    pub dir: Option<PathBuf>,
    /// Its umask (`None`: supervise's).
    pub umask: Option<u32>,
    /// Its resource limits.
    pub limits: Vec<Rlimit>,
    /// Who it runs as (`None`: as supervise).
    pub ids: Option<Ids>,
}

/// Resolves the launch from the command and the config, with supervise's own
/// environment as the base.
pub fn prepare(cmd: &CommandLine, cfg: &Config) -> Result<Launch, LaunchError> {
    prepare_with(
        cmd,
        cfg,
        std::env::vars_os().collect(),
        Uid::effective().is_root(),
    )
}

/// [`prepare`] with the base environment and privilege given, for tests.
pub fn prepare_with(
    cmd: &CommandLine,
    cfg: &Config,
    base_env: Vec<(OsString, OsString)>,
    root: bool,
) -> Result<Launch, LaunchError> {
    let user = match &cfg.user {
        Some(name) => Some(find_user(name).map_err(keyed("user"))?),
        None => None,
    };
    let group = match &cfg.group {
        Some(name) => Some(find_group(name).map_err(keyed("group"))?),
        None => None,
    };
    let ids = match (&user, group) {
        (None, None) => None,
        (Some(u), g) => {
            let gid = g.unwrap_or(Gid::from_raw(u.gid));
            let groups = supplementary_groups(u, gid).map_err(keyed("user"))?;
            Some(Ids {
                uid: u.uid,
                gid: gid.as_raw(),
                groups,
            })
        }
        (None, Some(g)) => Some(Ids {
            uid: Uid::effective().as_raw(),
            gid: g.as_raw(),
            groups: Vec::new(),
        }),
    };
    // Without root, asking for the user and group supervise already runs as is fine
    // (and needs no switching: setgroups would fail); anything else is not possible.
    let ids = match ids {
        Some(i) if !root => {
            if i.uid == Uid::effective().as_raw() && i.gid == Gid::effective().as_raw() {
                None
            } else {
                let key = if cfg.user.is_some() { "user" } else { "group" };
                return Err(keyed(key)(format!(
                    "cannot run the service as {}: supervise is not running as root",
                    cfg.user
                        .as_deref()
                        .or(cfg.group.as_deref())
                        .unwrap_or("another user")
                )));
            }
        }
        other => other,
    };
    if let Some(dir) = &cfg.directory {
        if !dir.is_dir() {
            return Err(keyed("directory")(format!(
                "directory {}: not an existing directory",
                dir.display()
            )));
        }
    }
    if !root {
        check_limits(&cfg.limits)?;
    }
    let env = environment(base_env, cfg, user.as_ref());
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let program = resolve(cmd, path, cfg.directory.as_deref())
        .map_err(|message| LaunchError { key: None, message })?;
    Ok(Launch {
        program,
        env,
        dir: cfg.directory.clone().map(absolute),
        umask: cfg.umask,
        limits: cfg.limits.clone(),
        ids,
    })
}

fn find_user(name: &str) -> Result<User, String> {
    users::user(name)
}

fn find_group(name: &str) -> Result<Gid, String> {
    users::group(name).map(Gid::from_raw)
}

/// The user's groups from the group file, as `initgroups` would set them.
fn supplementary_groups(u: &User, gid: Gid) -> Result<Vec<u32>, String> {
    users::groups_of(&u.name, gid.as_raw())
}

/// The service's environment: supervise's, minus `env_unset`, with HOME, USER,
/// LOGNAME and SHELL of the `user` as a login sets them, then `env` on top.
pub fn environment(
    base: Vec<(OsString, OsString)>,
    cfg: &Config,
    user: Option<&User>,
) -> Vec<(OsString, OsString)> {
    let mut env = base;
    let set = |env: &mut Vec<(OsString, OsString)>, k: &OsStr, v: &OsStr| match env
        .iter_mut()
        .find(|(name, _)| name == k)
    {
        Some(slot) => slot.1 = v.to_owned(),
        None => env.push((k.to_owned(), v.to_owned())),
    };
    env.retain(|(k, _)| !cfg.env_unset.iter().any(|u| OsStr::new(u) == k));
    if let Some(u) = user {
        set(&mut env, OsStr::new("HOME"), u.dir.as_os_str());
        set(&mut env, OsStr::new("USER"), OsStr::new(&u.name));
        set(&mut env, OsStr::new("LOGNAME"), OsStr::new(&u.name));
        set(&mut env, OsStr::new("SHELL"), u.shell.as_os_str());
    }
    for (k, v) in &cfg.env {
        set(&mut env, OsStr::new(k), OsStr::new(v));
    }
    env
}

/// The program, found on the service's own PATH; a relative path with a slash is
/// taken from the service's directory.
fn resolve(cmd: &CommandLine, path: Option<&OsStr>, dir: Option<&Path>) -> Result<Program, String> {
    let words = match cmd {
        CommandLine::String(s) => {
            let plan = command::plan(s).map_err(|e| format!("-f {s:?}: {e}"))?;
            match plan {
                command::Plan::Direct(w) => w.into_iter().map(OsString::from).collect(),
                shell @ command::Plan::Shell(_) => {
                    return Program::from_plan(shell, path).map_err(|e| e.to_string());
                }
            }
        }
        CommandLine::Words(w) => w.clone(),
    };
    let first = words.first().cloned().unwrap_or_default();
    // A relative path with a slash is relative to the service's directory.
    let lookup = match dir {
        Some(d) if first.as_bytes().contains(&b'/') && Path::new(&first).is_relative() => {
            d.join(&first).into_os_string()
        }
        _ => first,
    };
    command::resolve(&lookup, path)
        .map(|p| Program {
            path: absolute(p),
            argv: words,
        })
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.display()))
}

/// The child changes directory before it execs: a relative path must not depend on
/// which directory that is.
fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        return p;
    }
    std::env::current_dir().map_or(p.clone(), |cwd| cwd.join(p))
}

/// Without root, a limit can only go up to the current hard limit.
fn check_limits(limits: &[Rlimit]) -> Result<(), LaunchError> {
    for l in limits {
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct we own.
        if unsafe { libc::getrlimit(l.resource as _, &mut cur) } != 0 {
            continue;
        }
        let want = l.value.unwrap_or(libc::RLIM_INFINITY);
        if want > cur.rlim_max {
            let name = crate::config::LIMIT_KEYS
                .iter()
                .find(|(_, r)| *r == l.resource)
                .map_or("limit", |(k, _)| k);
            return Err(keyed(name)(format!(
                "{name} {}: above the hard limit {} that a non-root supervise can grant",
                l.value.map_or("unlimited".to_owned(), |v| v.to_string()),
                cur.rlim_max
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(k: &str, v: &str) -> (OsString, OsString) {
        (k.into(), v.into())
    }

    #[test]
    fn environment_layers() {
        let base = vec![os("PATH", "/bin"), os("SECRET", "x"), os("HOME", "/root")];
        let cfg = Config {
            env: vec![
                ("A".into(), "1".into()),
                ("PATH".into(), "/opt/bin:/bin".into()),
            ],
            env_unset: vec!["SECRET".into()],
            ..Config::default()
        };
        let root = users::user_by_uid(0).unwrap();
        let env = environment(base, &cfg, Some(&root));
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("PATH"), Some("/opt/bin:/bin".into()));
        assert_eq!(get("SECRET"), None);
        assert_eq!(get("A"), Some("1".into()));
        assert_eq!(get("USER"), Some(root.name.clone().into()));
        assert_eq!(get("LOGNAME"), Some(root.name.clone().into()));
        assert_eq!(get("HOME"), Some(root.dir.clone().into_os_string()));
    }

    #[test]
    fn unknown_user_group_and_directory_are_clear_errors() {
        let cmd = CommandLine::String("sleep 1".into());
        let bad = |cfg: Config| {
            prepare_with(&cmd, &cfg, vec![os("PATH", "/bin:/usr/bin")], true)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad(Config {
                user: Some("no-such-user-xyz".into()),
                ..Config::default()
            }),
            "user \"no-such-user-xyz\" is not in /etc/passwd (users and groups are read from \
             /etc/passwd and /etc/group only, not through NSS: for one known only to LDAP, \
             sssd or systemd, add it there)"
        );
        assert_eq!(
            bad(Config {
                group: Some("no-such-group-xyz".into()),
                ..Config::default()
            }),
            "group \"no-such-group-xyz\" is not in /etc/group (users and groups are read from \
             /etc/passwd and /etc/group only, not through NSS: for one known only to LDAP, \
             sssd or systemd, add it there or give its number)"
        );
        assert_eq!(
            bad(Config {
                directory: Some("/no/such/dir".into()),
                ..Config::default()
            }),
            "directory /no/such/dir: not an existing directory"
        );
        let e = prepare_with(
            &CommandLine::String("nope-xyz".into()),
            &Config::default(),
            vec![os("PATH", "/bin")],
            true,
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("nope-xyz: command not found in PATH (/bin)"),
            "{e}"
        );
    }

    #[test]
    fn not_root_can_name_itself() {
        let me = users::user_by_uid(Uid::effective().as_raw()).unwrap();
        let cfg = Config {
            user: Some(me.name.clone()),
            ..Config::default()
        };
        let cmd = CommandLine::String("sleep 1".into());
        if me.gid == Gid::effective().as_raw() {
            let l = prepare_with(&cmd, &cfg, vec![os("PATH", "/bin:/usr/bin")], false).unwrap();
            assert_eq!(l.ids, None, "nothing to switch");
        }
    }

    #[test]
    fn not_root_cannot_switch_users() {
        let cmd = CommandLine::String("sleep 1".into());
        let cfg = Config {
            user: Some("0".into()),
            ..Config::default()
        };
        if Uid::effective().is_root() {
            let e = prepare_with(
                &cmd,
                &Config {
                    user: Some("1".into()),
                    ..cfg
                },
                vec![os("PATH", "/bin")],
                false,
            )
            .unwrap_err();
            assert!(e.message.contains("not running as root"), "{e}");
            assert_eq!(e.key, Some("user"));
        }
    }

    #[test]
    fn the_service_path_finds_the_program_and_the_directory_anchors_relative_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let prog = bin.join("tool");
        std::fs::write(&prog, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cfg = Config {
            env: vec![("PATH".into(), bin.display().to_string())],
            ..Config::default()
        };
        let l = prepare_with(&CommandLine::String("tool x".into()), &cfg, vec![], true).unwrap();
        assert_eq!(l.program.path, prog);
        let cfg = Config {
            directory: Some(tmp.path().to_path_buf()),
            ..Config::default()
        };
        let l = prepare_with(
            &CommandLine::String("./bin/tool".into()),
            &cfg,
            vec![os("PATH", "/bin")],
            true,
        )
        .unwrap();
        assert_eq!(l.program.path, tmp.path().join("./bin/tool"));
        assert!(l.program.path.is_absolute());
    }
}
