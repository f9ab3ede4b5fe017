//! What the reader asks of the machine, behind one small trait so that everything
//! else stays pure: reading a file, listing a directory (for `[include]` globs),
//! whether a path exists or is a directory (supervisord checks log directories at
//! load), and the user database (`user=`, `chown=`, `~user`). [`RealSystem`] asks the
//! machine; [`MemSystem`] answers from memory, for tests.
//!
//! The facts of the running process that supervisord reads once (working directory,
//! host name, environment, temporary directory) are plain data: [`Context`].

use std::collections::BTreeMap;
use std::io;

/// The machine, as the reader sees it. Paths are text, as in supervisord.
pub trait System {
    /// The text of a file (`InvalidData` if it is not UTF-8).
    fn read(&self, path: &str) -> io::Result<String>;
    /// The names in a directory, each with whether it is a directory (symbolic links
    /// followed); `None` if it cannot be listed.
    fn list_dir(&self, dir: &str) -> Option<Vec<(String, bool)>>;
    /// Whether something, even a dangling link, is at `path`.
    fn exists(&self, path: &str) -> bool;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &str) -> bool;
    /// The home directory of `user`, or of the current user for `None`.
    fn home(&self, user: Option<&str>) -> Option<String>;
    /// The uid of the user called `name`.
    fn uid_of(&self, name: &str) -> Option<u32>;
    /// Whether a user has this uid.
    fn uid_exists(&self, uid: u32) -> bool;
    /// The gid of the group called `name`.
    fn gid_of(&self, name: &str) -> Option<u32>;
    /// Whether a group has this gid.
    fn gid_exists(&self, gid: u32) -> bool;
}

/// The facts of the process that supervisord reads as it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The working directory, absolute: relative paths are resolved against it.
    pub cwd: String,
    /// `platform.node()`: `%(host_node_name)s`.
    pub hostname: String,
    /// The environment: `%(ENV_X)s`, and `HOME` for `~`.
    pub environ: Vec<(String, String)>,
    /// `tempfile.gettempdir()`: the default `childlogdir`.
    pub tempdir: String,
}

impl Context {
    /// This process's facts.
    pub fn from_process() -> Context {
        let environ: Vec<(String, String)> = std::env::vars().collect();
        let cwd = std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".into());
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tempdir = tempdir(&environ, &cwd);
        Context {
            cwd,
            hostname,
            environ,
            tempdir,
        }
    }

    /// The value of environment variable `name`.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.environ
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `tempfile.gettempdir()`, save that a candidate only has to be a directory:
/// `TMPDIR`, `TEMP`, `TMP`, then `/tmp`, `/var/tmp`, `/usr/tmp`, then `cwd`.
fn tempdir(environ: &[(String, String)], cwd: &str) -> String {
    let from_env = ["TMPDIR", "TEMP", "TMP"].iter().filter_map(|name| {
        environ
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    });
    let fixed = ["/tmp", "/var/tmp", "/usr/tmp"]
        .iter()
        .map(|s| s.to_string());
    from_env
        .chain(fixed)
        .map(|d| super::python::abspath(cwd, &d))
        .find(|d| std::path::Path::new(d).is_dir())
        .unwrap_or_else(|| cwd.to_string())
}

/// The machine itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealSystem;

impl System for RealSystem {
    fn read(&self, path: &str) -> io::Result<String> {
        let bytes = std::fs::read(path)?;
        String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    fn list_dir(&self, dir: &str) -> Option<Vec<(String, bool)>> {
        let dir = if dir.is_empty() { "." } else { dir };
        let entries = std::fs::read_dir(dir).ok()?;
        let named = entries.filter_map(Result::ok).filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((name, e.path().is_dir()))
        });
        Some(named.collect())
    }

    fn exists(&self, path: &str) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }

    fn is_dir(&self, path: &str) -> bool {
        std::path::Path::new(path).is_dir()
    }

    fn home(&self, user: Option<&str>) -> Option<String> {
        let user = match user {
            Some(name) => crate::users::user(name).ok()?,
            None => crate::users::user_by_uid(nix::unistd::getuid().as_raw())?,
        };
        Some(user.dir.to_string_lossy().into_owned())
    }

    fn uid_of(&self, name: &str) -> Option<u32> {
        crate::users::user(name).ok().map(|u| u.uid)
    }

    fn uid_exists(&self, uid: u32) -> bool {
        crate::users::user_by_uid(uid).is_some()
    }

    fn gid_of(&self, name: &str) -> Option<u32> {
        crate::users::group(name).ok()
    }

    fn gid_exists(&self, gid: u32) -> bool {
        crate::users::group_exists(gid)
    }
}

/// A machine in memory, for tests: files (their directories exist), extra
/// directories, users and groups.
#[derive(Debug, Clone, Default)]
pub struct MemSystem {
    /// Path to text.
    pub files: BTreeMap<String, String>,
    /// Directories that hold no file.
    pub dirs: Vec<String>,
    /// `(name, uid, home)`; the first is the current user.
    pub users: Vec<(String, u32, String)>,
    /// `(name, gid)`.
    pub groups: Vec<(String, u32)>,
}

impl MemSystem {
    /// A machine with `root` (uid 0, home `/root`), group `root`, and `/tmp`.
    pub fn new() -> MemSystem {
        MemSystem {
            users: vec![("root".into(), 0, "/root".into())],
            groups: vec![("root".into(), 0)],
            dirs: vec!["/tmp".into(), "/root".into()],
            ..MemSystem::default()
        }
    }

    /// Adds a file.
    pub fn file(mut self, path: &str, text: &str) -> MemSystem {
        self.files.insert(path.into(), text.into());
        self
    }

    /// Adds a user and its same-named group.
    pub fn user(mut self, name: &str, id: u32) -> MemSystem {
        self.users.push((name.into(), id, format!("/home/{name}")));
        self.groups.push((name.into(), id));
        self
    }

    /// Whether `dir` holds (at any depth) a file or a listed directory, or is one.
    fn holds(&self, dir: &str) -> bool {
        let prefix = if dir.ends_with('/') {
            dir.to_string()
        } else {
            format!("{dir}/")
        };
        dir == "/"
            || self.dirs.iter().any(|d| d == dir || d.starts_with(&prefix))
            || self.files.keys().any(|f| f.starts_with(&prefix))
    }
}

impl System for MemSystem {
    fn read(&self, path: &str) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn list_dir(&self, dir: &str) -> Option<Vec<(String, bool)>> {
        if !self.is_dir(dir) {
            return None;
        }
        let prefix = if dir.ends_with('/') {
            dir.to_string()
        } else {
            format!("{dir}/")
        };
        let paths = self.files.keys().chain(self.dirs.iter());
        let mut names: Vec<(String, bool)> = Vec::new();
        for rest in paths.filter_map(|p| p.strip_prefix(&prefix)) {
            let (name, deeper) = rest
                .split_once('/')
                .map_or((rest, false), |(n, _)| (n, true));
            let is_dir = deeper || self.dirs.iter().any(|d| *d == format!("{prefix}{name}"));
            if !name.is_empty() && !names.iter().any(|(n, _)| n == name) {
                names.push((name.to_string(), is_dir));
            }
        }
        Some(names)
    }

    fn exists(&self, path: &str) -> bool {
        self.files.contains_key(path) || self.is_dir(path)
    }

    fn is_dir(&self, path: &str) -> bool {
        let path = match path.trim_end_matches('/') {
            "" => "/",
            p => p,
        };
        self.holds(path)
    }

    fn home(&self, user: Option<&str>) -> Option<String> {
        let found = match user {
            Some(name) => self.users.iter().find(|u| u.0 == name),
            None => self.users.first(),
        };
        found.map(|u| u.2.clone())
    }

    fn uid_of(&self, name: &str) -> Option<u32> {
        self.users.iter().find(|u| u.0 == name).map(|u| u.1)
    }

    fn uid_exists(&self, uid: u32) -> bool {
        self.users.iter().any(|u| u.1 == uid)
    }

    fn gid_of(&self, name: &str) -> Option<u32> {
        self.groups.iter().find(|g| g.0 == name).map(|g| g.1)
    }

    fn gid_exists(&self, gid: u32) -> bool {
        self.groups.iter().any(|g| g.1 == gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_directories_come_from_files() {
        let sys = MemSystem::new()
            .file("/etc/supervisor/supervisord.conf", "")
            .file("/etc/supervisor/conf.d/a.conf", "");
        assert!(sys.is_dir("/etc") && sys.is_dir("/etc/supervisor/") && sys.is_dir("/"));
        assert!(!sys.is_dir("/etc/supervisor/supervisord.conf"));
        assert!(sys.exists("/etc/supervisor/conf.d/a.conf"));
        let mut names = sys.list_dir("/etc/supervisor").unwrap();
        names.sort();
        assert_eq!(
            names,
            [
                ("conf.d".to_string(), true),
                ("supervisord.conf".to_string(), false)
            ]
        );
        assert!(sys.list_dir("/nope").is_none());
    }

    #[test]
    fn the_real_system_answers() {
        let sys = RealSystem;
        assert!(sys.is_dir("/") && sys.exists("/"));
        assert_eq!(sys.uid_of("root"), Some(0));
        assert!(sys.uid_exists(0) && sys.gid_exists(0));
        assert!(sys.uid_of("no-such-user-here").is_none());
        let ctx = Context::from_process();
        assert!(ctx.cwd.starts_with('/'));
        assert!(sys.is_dir(&ctx.tempdir));
    }
}
