//! The whole load, in supervisord's order: files (with includes), `[supervisord]`
//! (whose `environment` then joins the `ENV_X` names every later section may use),
//! `[rpcinterface:x]`, the process groups, the HTTP servers; `[supervisorctl]` last,
//! as supervisorctl reads it. The first error stops it, as in supervisord.

use super::HostConfig;
use super::expand::Names;
use super::include;
use super::reader::{Checks, Reader};
use super::store::{Store, Stored};
use super::system::{Context, System};
use super::{groups, server};
use crate::ini::LineError;
use std::cell::RefCell;
use std::path::Path;

/// What every section's reading needs.
pub struct Loader<'a> {
    /// Every section read.
    pub store: Store,
    /// The machine and the process's facts.
    pub checks: Checks<'a>,
    /// The main file's directory: `%(here)s`.
    pub here: String,
    /// supervisord's `environ_expansions`: `ENV_X` for the environment, then for
    /// `[supervisord] environment`.
    pub env: Names,
    /// `[supervisord] environment`, which every process inherits.
    pub supervisord_env: Vec<(String, String)>,
    /// Warnings so far.
    pub warnings: RefCell<Vec<LineError>>,
}

impl<'a> Loader<'a> {
    /// A loader of what `store` holds, the main file at `path`; `ENV_X` for the
    /// environment.
    pub fn new(store: Store, warnings: Vec<LineError>, checks: Checks<'a>, path: &str) -> Self {
        let mut env = Names::default();
        env.set_env(&checks.ctx.environ);
        let env = env.frozen();
        Loader {
            store,
            here: super::python::abspath(&checks.ctx.cwd, super::python::dirname(path)),
            checks,
            env,
            supervisord_env: Vec::new(),
            warnings: RefCell::new(warnings),
        }
    }

    /// A reader of `section`.
    pub fn reader<'s>(&'s self, section: &'s Stored) -> Reader<'s> {
        Reader::new(&self.store, section)
    }

    /// The names most keys may use: `here` and `ENV_X`.
    pub fn names_here(&self) -> Names {
        let mut names = self.env.clone();
        names.set("here", &self.here);
        names
    }

    /// Records a warning, once.
    pub fn warn(&self, warning: LineError) {
        let mut warnings = self.warnings.borrow_mut();
        if !warnings.contains(&warning) {
            warnings.push(warning);
        }
    }

    /// Warns about each key of `r`'s section that is not in `known`.
    pub fn warn_unknown(&self, r: &Reader, known: &[&str]) {
        for v in r
            .section
            .values
            .iter()
            .filter(|v| !known.contains(&v.key.as_str()))
        {
            let why = format!("unknown key {:?} in [{}] ignored", v.key, r.section.name);
            self.warn(LineError::new(self.store.file(v.file), v.line, why));
        }
    }
}

/// Reads the config at `path`.
pub fn load(path: &Path, ctx: &Context, sys: &dyn System) -> Result<HostConfig, LineError> {
    let text_path = path
        .to_str()
        .ok_or_else(|| LineError::new(path, 0, "the path is not UTF-8"))?;
    let (store, warnings) = include::read(text_path, ctx, sys)?;
    let mut l = Loader::new(store, warnings, Checks { ctx, sys }, text_path);
    let supervisord = server::supervisord(&l)?;
    l.env.set_env(&supervisord.environment);
    l.env = l.env.frozen();
    l.supervisord_env = supervisord.environment.clone();
    warn_unknown_sections(&l);
    warn_reopened(&l);
    if let Some(include) = l.store.section("include") {
        l.warn_unknown(&l.reader(include), &["files"]);
    }
    let rpcinterfaces = server::rpcinterfaces(&l)?;
    let (groups, processes): (Vec<_>, Vec<_>) = groups::groups(&l)?.into_iter().unzip();
    Ok(HostConfig {
        file: path.to_path_buf(),
        files: l.store.files.clone(),
        here: l.here.clone(),
        http_servers: server::http_servers(&l)?,
        supervisorctl: server::supervisorctl(&l),
        supervisord,
        rpcinterfaces,
        groups,
        processes: processes.into_iter().flatten().collect(),
        warnings: l.warnings.into_inner(),
    })
}

/// The sections supervisord (or supervisorctl) reads, by name or prefix.
const SECTIONS: &[&str] = &[
    "supervisord",
    "supervisorctl",
    "include",
    "unix_http_server",
    "inet_http_server",
    "program:",
    "group:",
    "eventlistener:",
    "fcgi-program:",
    "rpcinterface:",
    "ctlplugin:",
];

/// A section opened again is merged, as supervisord merges it, but is often a
/// mistake (two files defining the same program): worth a warning.
fn warn_reopened(l: &Loader) {
    for &(index, file, line) in &l.store.reopened {
        let first = &l.store.sections()[index];
        let why = format!(
            "[{}] opened again (first at {}:{}): its keys are merged, the later ones winning",
            first.name,
            l.store.file(first.file).display(),
            first.line
        );
        l.warn(LineError::new(l.store.file(file), line, why));
    }
}

fn warn_unknown_sections(l: &Loader) {
    for s in l.store.sections() {
        if !SECTIONS.iter().any(|p| s.name.starts_with(p)) {
            let why = format!("unknown section [{}] ignored", s.name);
            l.warn(LineError::new(l.store.file(s.file), s.line, why));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::host::config::testing::{load_with, loaded, names};

    #[test]
    fn a_whole_config_across_files() {
        let main = "[supervisord]\nenvironment=STAGE=prod\n[include]\nfiles=conf.d/*.conf\n\
                    [program:main]\ncommand=%(here)s/main %(ENV_STAGE)s\n[oddity]\nk=v\n";
        let others = [
            (
                "/etc/supervisor/conf.d/b.conf",
                "[program:b]\ncommand=%(here)s/b\npriority=1\n",
            ),
            ("/etc/supervisor/conf.d/a.conf", "[program:a]\ncommand=a\n"),
        ];
        let cfg = load_with(main, &others).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&cfg), ["b", "a", "main"]);
        assert_eq!(cfg.processes[0].command, "/etc/supervisor/conf.d/b");
        assert_eq!(cfg.processes[2].command, "/etc/supervisor/main prod");
        assert_eq!(
            cfg.processes[0].file.to_str(),
            Some("/etc/supervisor/conf.d/b.conf")
        );
        assert_eq!(cfg.files.len(), 3);
        assert_eq!(cfg.here, "/etc/supervisor");
        let w: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            ["/etc/supervisor/supervisord.conf:7: unknown section [oddity] ignored"]
        );
    }

    #[test]
    fn a_section_opened_again_is_merged_with_a_warning() {
        let main =
            "[supervisord]\n[include]\nfiles=*.inc\n[program:x]\ncommand=main\nautostart=false\n";
        let others = [("/etc/supervisor/x.inc", "[program:x]\ncommand=included\n")];
        let cfg = load_with(main, &others).unwrap_or_else(|e| panic!("{e}"));
        let p = &cfg.processes[0];
        assert_eq!((p.command.as_str(), p.autostart), ("included", false));
        assert_eq!(
            cfg.warnings[0].to_string(),
            "/etc/supervisor/x.inc:1: [program:x] opened again (first at \
             /etc/supervisor/supervisord.conf:4): its keys are merged, the later ones winning"
        );
    }

    #[test]
    fn unknown_supervisord_keys_are_warnings() {
        let cfg = loaded("[supervisord]\nnodaemon=true\nserverurl=x\n");
        assert_eq!(
            cfg.warnings[0].to_string(),
            "/etc/supervisor/supervisord.conf:3: unknown key \"serverurl\" in [supervisord] ignored"
        );
    }
}
