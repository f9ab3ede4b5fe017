//! Reading one section the way supervisord's `saneget` does: the value or a default,
//! expanded with the names the caller allows, then typed; any error names the file
//! and line of the key (of the section's header when the key is not set).
//!
//! Also the checks supervisord makes against the machine at load (a log file's
//! directory exists, a user exists), through [`System`], with `~` and relative paths
//! resolved as supervisord resolves them.

use super::expand::{Names, expand};
use super::python;
use super::store::{Store, Stored, Value};
use super::system::{Context, System};
use crate::ini::LineError;

/// One section, and what is needed to read it.
pub struct Reader<'a> {
    /// Every section read.
    pub store: &'a Store,
    /// This one.
    pub section: &'a Stored,
}

impl<'a> Reader<'a> {
    /// A reader of `section`.
    pub fn new(store: &'a Store, section: &'a Stored) -> Reader<'a> {
        Reader { store, section }
    }

    /// The value as read, unexpanded.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.store.get(self.section, key)
    }

    /// An error about `key`, at its line (the header's when it is not set).
    pub fn error(&self, key: &str, message: impl Into<String>) -> LineError {
        match self.raw(key) {
            Some(v) => LineError::new(self.store.file(v.file), v.line, message),
            None => self.error_here(message),
        }
    }

    /// An error about the section itself, at its header.
    pub fn error_here(&self, message: impl Into<String>) -> LineError {
        LineError::new(
            self.store.file(self.section.file),
            self.section.line,
            message,
        )
    }

    /// A type error: `[section] key: why`.
    pub fn type_error(&self, key: &str, why: &str) -> LineError {
        self.error(key, format!("[{}] {key}: {why}", self.section.name))
    }

    /// `saneget`: the value of `key` or `default`, expanded with `names` (as
    /// `section.key` in errors); `None` if neither is there.
    pub fn get(
        &self,
        key: &str,
        default: Option<&str>,
        names: &Names,
    ) -> Result<Option<String>, LineError> {
        let Some(text) = self.raw(key).map(|v| v.text.as_str()).or(default) else {
            return Ok(None);
        };
        if !text.contains('%') {
            return Ok(Some(text.to_string()));
        }
        let what = format!("{}.{key}", self.section.name);
        expand(text, names, &what)
            .map(Some)
            .map_err(|e| self.error(key, e))
    }

    /// The value of `key`, or `default`, unexpanded.
    pub fn get_raw(&self, key: &str, default: &str) -> String {
        self.raw(key)
            .map_or(default, |v| v.text.as_str())
            .to_string()
    }

    /// The value of `key` (or `default`), expanded, through `convert`.
    pub fn parse<T>(
        &self,
        key: &str,
        default: &str,
        names: &Names,
        convert: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, LineError> {
        let text = self.get(key, Some(default), names)?.unwrap_or_default();
        convert(&text).map_err(|why| self.type_error(key, &why))
    }

    /// The value of `key` if set (or `default` if given), expanded, through `convert`.
    pub fn parse_opt<T>(
        &self,
        key: &str,
        names: &Names,
        convert: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, LineError> {
        match self.get(key, None, names)? {
            Some(text) => convert(&text)
                .map(Some)
                .map_err(|why| self.type_error(key, &why)),
            None => Ok(None),
        }
    }
}

/// The machine-facing checks of `datatypes.py`, against a [`System`].
pub struct Checks<'a> {
    /// The process's facts.
    pub ctx: &'a Context,
    /// The machine.
    pub sys: &'a dyn System,
}

impl Checks<'_> {
    /// `os.path.expanduser`, `HOME` first for a bare `~`.
    pub fn expanduser(&self, path: &str) -> String {
        python::expanduser(path, |user| match user {
            None => self
                .ctx
                .var("HOME")
                .map(str::to_string)
                .or_else(|| self.sys.home(None)),
            Some(name) => self.sys.home(Some(name)),
        })
    }

    /// `normalize_path`: `~` expanded, made absolute, normalized.
    pub fn normalize_path(&self, path: &str) -> String {
        python::abspath(&self.ctx.cwd, &self.expanduser(path))
    }

    fn is_dir(&self, path: &str) -> bool {
        self.sys.is_dir(&python::abspath(&self.ctx.cwd, path))
    }

    /// `existing_directory`: `~` expanded, and it must be a directory.
    pub fn existing_directory(&self, path: &str) -> Result<String, String> {
        let expanded = self.expanduser(path);
        match self.is_dir(&expanded) {
            true => Ok(expanded),
            false => Err(format!("{path} is not an existing directory")),
        }
    }

    /// `existing_dirpath`: `~` expanded, and its directory, if it names one, must
    /// exist.
    pub fn existing_dirpath(&self, path: &str) -> Result<String, String> {
        let expanded = self.expanduser(path);
        let dir = python::dirname(&expanded);
        match dir.is_empty() || self.is_dir(dir) {
            true => Ok(expanded),
            false => Err(format!(
                "The directory named as part of the path {path} does not exist"
            )),
        }
    }

    /// `name_to_uid`: a user name, or a number that is some user's uid.
    pub fn name_to_uid(&self, name: &str) -> Result<u32, String> {
        match python::int(name, 10) {
            Ok(n) => u32::try_from(n)
                .ok()
                .filter(|&uid| self.sys.uid_exists(uid))
                .ok_or_else(|| format!("Invalid user id {name}")),
            Err(_) => self
                .sys
                .uid_of(name)
                .ok_or_else(|| format!("Invalid user name {name}")),
        }
    }

    /// `name_to_gid`: a group name, or a number that is some group's gid.
    pub fn name_to_gid(&self, name: &str) -> Result<u32, String> {
        match python::int(name, 10) {
            Ok(n) => u32::try_from(n)
                .ok()
                .filter(|&gid| self.sys.gid_exists(gid))
                .ok_or_else(|| format!("Invalid group id {name}")),
            Err(_) => self
                .sys
                .gid_of(name)
                .ok_or_else(|| format!("Invalid group name {name}")),
        }
    }

    /// `colon_separated_user_group`: `user` or `user:group`, both resolved.
    pub fn user_group(&self, spec: &str) -> Result<(u32, Option<u32>), String> {
        let bad = || format!("Invalid user:group definition {spec}");
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let uid = self.name_to_uid(user).map_err(|_| bad())?;
        let gid = group
            .map(|g| self.name_to_gid(g))
            .transpose()
            .map_err(|_| bad())?;
        Ok((uid, gid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::config::lexer;
    use crate::host::config::system::MemSystem;
    use std::path::Path;

    fn store(text: &str) -> Store {
        let mut s = Store::default();
        s.add(
            Path::new("/etc/s.conf"),
            lexer::parse(text, Path::new("/etc/s.conf")).unwrap(),
        );
        s
    }

    #[test]
    fn errors_land_on_the_keys_line() {
        let s = store("[program:x]\n\nstartsecs = soon\n");
        let r = Reader::new(&s, s.section("program:x").unwrap());
        let e = r
            .parse("startsecs", "1", &Names::default(), python_int)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/s.conf:3: [program:x] startsecs: invalid literal for int() with base 10: 'soon'"
        );
        let e = r
            .parse("stopwaitsecs", "x", &Names::default(), python_int)
            .unwrap_err();
        assert_eq!(e.line, 1, "an unset key's error is at the header");
        let e = r.error("command", "missing");
        assert_eq!(e.to_string(), "/etc/s.conf:1: missing");
    }

    fn python_int(s: &str) -> Result<i64, String> {
        python::int(s, 10)
    }

    #[test]
    fn values_are_expanded_with_the_names_given() {
        let s = store("[program:x]\ncommand = run %(program_name)s %%\nbad = %(nope)s\n");
        let r = Reader::new(&s, s.section("program:x").unwrap());
        let mut names = Names::default();
        names.set("program_name", "x");
        assert_eq!(
            r.get("command", None, &names).unwrap(),
            Some("run x %".into())
        );
        assert_eq!(r.get("missing", None, &names).unwrap(), None);
        assert_eq!(
            r.get("missing", Some("d"), &names).unwrap(),
            Some("d".into())
        );
        let e = r.get("bad", None, &names).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("'program:x.bad'"), "{e}");
        assert_eq!(r.get_raw("bad", ""), "%(nope)s");
    }

    #[test]
    fn machine_checks() {
        let sys = MemSystem::new()
            .file("/var/log/app/old.log", "")
            .user("www-data", 33);
        let ctx = Context {
            cwd: "/srv".into(),
            hostname: "h".into(),
            environ: vec![("HOME".into(), "/home/me".into())],
            tempdir: "/tmp".into(),
        };
        let c = Checks {
            ctx: &ctx,
            sys: &sys,
        };
        assert_eq!(c.expanduser("~/x"), "/home/me/x");
        assert_eq!(c.expanduser("~www-data/x"), "/home/www-data/x");
        assert_eq!(c.normalize_path("run/../s.sock"), "/srv/s.sock");
        assert_eq!(
            c.existing_dirpath("/var/log/app/a.log"),
            Ok("/var/log/app/a.log".into())
        );
        assert_eq!(c.existing_dirpath("a.log"), Ok("a.log".into()));
        assert_eq!(
            c.existing_dirpath("/var/log/none/a.log"),
            Err(
                "The directory named as part of the path /var/log/none/a.log does not exist".into()
            )
        );
        assert_eq!(c.existing_directory("/tmp"), Ok("/tmp".into()));
        assert_eq!(
            c.existing_directory("/nope"),
            Err("/nope is not an existing directory".into())
        );
        assert_eq!(c.name_to_uid("www-data"), Ok(33));
        assert_eq!(c.name_to_uid("33"), Ok(33));
        assert_eq!(c.name_to_uid("34"), Err("Invalid user id 34".into()));
        assert_eq!(c.name_to_uid("bob"), Err("Invalid user name bob".into()));
        assert_eq!(c.user_group("www-data:root"), Ok((33, Some(0))));
        assert_eq!(c.user_group("root"), Ok((0, None)));
        assert_eq!(
            c.user_group("root:nope"),
            Err("Invalid user:group definition root:nope".into())
        );
    }
}
