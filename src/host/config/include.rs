//! Reading the files: the main one, then what its `[include] files=` names, into one
//! [`Store`], as supervisord 4.2's `read_config` does:
//!
//! - `files` holds several globs separated by white space, expanded with `here`,
//!   `host_node_name` and `ENV_X`, each relative to the main file's directory;
//! - each glob's matches are read in sorted order; a glob that matches nothing is a
//!   warning; a match that cannot be read (a directory) is skipped;
//! - `%(here)s` is replaced in the main file's values before any include is read, and
//!   in each included file's values, by that file's own directory, right after it is
//!   read;
//! - an included file's own `[include]` is not processed (supervisord 4.2 does not:
//!   "recursive includes from included files are not supported"), with a warning.

use super::expand::{Names, expand};
use super::glob::glob;
use super::lexer;
use super::python;
use super::store::Store;
use super::system::{Context, System};
use crate::ini::{LineError, Section};
use std::io::ErrorKind;
use std::path::Path;

/// The main file at `path` and its includes, and the warnings on the way.
pub fn read(
    path: &str,
    ctx: &Context,
    sys: &dyn System,
) -> Result<(Store, Vec<LineError>), LineError> {
    let mut store = Store::default();
    let mut warnings = Vec::new();
    let text = read_main(path, &python::abspath(&ctx.cwd, path), sys)?;
    store.add(Path::new(path), lexer::parse(&text, Path::new(path))?);
    if store.section("include").is_some() {
        let here = python::abspath(&ctx.cwd, python::dirname(path));
        store.expand_here(&here);
        for pattern in patterns(&store, ctx, &here)? {
            include(&mut store, sys, &pattern, &mut warnings)?;
        }
    }
    Ok((store, warnings))
}

/// The main file's text; `path` as given (for messages), `full` made absolute.
fn read_main(path: &str, full: &str, sys: &dyn System) -> Result<String, LineError> {
    sys.read(full).map_err(|e| {
        let why = match e.kind() {
            _ if !sys.exists(full) => format!("could not find config file {path}"),
            ErrorKind::InvalidData => "not UTF-8 text".to_string(),
            _ => format!("could not read config file {path}: {e}"),
        };
        LineError::new(path, 0, why)
    })
}

/// A glob of `files`, made absolute, and where it was written.
struct Pattern {
    glob: String,
    line: usize,
}

/// The globs of `[include] files`, expanded, each joined to the main file's directory.
fn patterns(store: &Store, ctx: &Context, here: &str) -> Result<Vec<Pattern>, LineError> {
    let Some(include) = store.section("include") else {
        return Ok(Vec::new());
    };
    let file = store.file(include.file);
    let Some(files) = store.get(include, "files") else {
        let why = ".ini file has [include] section, but no files setting";
        return Err(LineError::new(file, include.line, why));
    };
    let mut names = Names::default();
    names.set_env(&ctx.environ);
    names.set("here", here);
    names.set("host_node_name", &ctx.hostname);
    let at = |why: String| LineError::new(store.file(files.file), files.line, why);
    let text = expand(&files.text, &names, "include.files").map_err(at)?;
    let base =
        python::dirname(&python::abspath(&ctx.cwd, &store.file(0).to_string_lossy())).to_string();
    let globs = python::split(&text).map(|g| Pattern {
        glob: python::join(&base, g),
        line: files.line,
    });
    Ok(globs.collect())
}

/// Reads every file `pattern` matches, in sorted order.
fn include(
    store: &mut Store,
    sys: &dyn System,
    pattern: &Pattern,
    warnings: &mut Vec<LineError>,
) -> Result<(), LineError> {
    let mut found = glob(sys, &pattern.glob);
    if found.is_empty() {
        let why = format!("No file matches via include \"{}\"", pattern.glob);
        warnings.push(LineError::new(store.file(0), pattern.line, why));
        return Ok(());
    }
    found.sort();
    for name in found {
        let Some(sections) = read_included(sys, &name, warnings)? else {
            continue;
        };
        warn_nested(&name, &sections, warnings);
        store.add(Path::new(&name), sections);
        store.expand_here(&python::abspath("/", python::dirname(&name)));
    }
    Ok(())
}

/// The sections of an included file; `None` if it cannot be opened (skipped, as
/// supervisord skips it).
fn read_included(
    sys: &dyn System,
    name: &str,
    warnings: &mut Vec<LineError>,
) -> Result<Option<Vec<Section>>, LineError> {
    match sys.read(name) {
        Ok(text) => lexer::parse(&text, Path::new(name)).map(Some),
        Err(e) if e.kind() == ErrorKind::InvalidData => {
            Err(LineError::new(name, 0, "not UTF-8 text"))
        }
        Err(e) => {
            warnings.push(LineError::new(
                name,
                0,
                format!("included file skipped: {e}"),
            ));
            Ok(None)
        }
    }
}

fn warn_nested(name: &str, sections: &[Section], warnings: &mut Vec<LineError>) {
    for s in sections.iter().filter(|s| s.name == "include") {
        let why =
            "[include] in an included file is not processed (supervisord 4.2 does not either)";
        warnings.push(LineError::new(name, s.line, why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::config::system::MemSystem;

    fn ctx() -> Context {
        Context {
            cwd: "/".into(),
            hostname: "box".into(),
            environ: vec![("CONF".into(), "conf.d".into())],
            tempdir: "/tmp".into(),
        }
    }

    fn value(store: &Store, section: &str, key: &str) -> (String, String, usize) {
        let s = store.section(section).unwrap();
        let v = store.get(s, key).unwrap();
        (
            v.text.clone(),
            store.file(v.file).display().to_string(),
            v.line,
        )
    }

    #[test]
    fn includes_are_relative_to_the_main_file_and_sorted() {
        let sys = MemSystem::new()
            .file(
                "/etc/sv/main.conf",
                "[supervisord]\n[include]\nfiles = %(ENV_CONF)s/*.conf extra/one.ini none/*.x\n\
                 [program:m]\ncommand=%(here)s/m\n",
            )
            .file("/etc/sv/conf.d/b.conf", "[program:b]\ncommand=%(here)s/b\n")
            .file(
                "/etc/sv/conf.d/a.conf",
                "\n[program:a]\ncommand=a\n[include]\nfiles=*\n",
            )
            .file(
                "/etc/sv/extra/one.ini",
                "[program:a]\ncommand=%(here)s/override\n",
            );
        let (store, warnings) = read("/etc/sv/main.conf", &ctx(), &sys).unwrap();
        let names: Vec<_> = store.sections().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "supervisord",
                "include",
                "program:m",
                "program:a",
                "program:b"
            ]
        );
        assert_eq!(value(&store, "program:m", "command").0, "/etc/sv/m");
        assert_eq!(value(&store, "program:b", "command").0, "/etc/sv/conf.d/b");
        // The later file wins the key; the section stays the first file's.
        assert_eq!(
            value(&store, "program:a", "command"),
            (
                "/etc/sv/extra/override".into(),
                "/etc/sv/extra/one.ini".into(),
                2
            )
        );
        assert_eq!(store.section("program:a").unwrap().line, 2);
        let w: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            w,
            [
                "/etc/sv/conf.d/a.conf:4: [include] in an included file is not processed \
                 (supervisord 4.2 does not either)",
                "/etc/sv/main.conf:3: No file matches via include \"/etc/sv/none/*.x\"",
            ]
        );
    }

    #[test]
    fn a_relative_main_file_is_resolved_against_the_working_directory() {
        let sys = MemSystem::new()
            .file("/srv/app/s.conf", "[include]\nfiles=c/*.conf\n")
            .file("/srv/app/c/x.conf", "[program:x]\ncommand=%(here)s\n");
        let mut c = ctx();
        c.cwd = "/srv".into();
        let (store, _) = read("app/s.conf", &c, &sys).unwrap();
        assert_eq!(value(&store, "program:x", "command").0, "/srv/app/c");
        assert_eq!(store.files[1], Path::new("/srv/app/c/x.conf"));
    }

    #[test]
    fn errors_name_the_file_that_has_them() {
        let sys = MemSystem::new()
            .file("/e/main.conf", "[include]\nfiles=*.inc\n")
            .file("/e/bad.inc", "[program:x]\ncommand=x\n  \nnot a key\n");
        let e = read("/e/main.conf", &ctx(), &sys).unwrap_err();
        assert_eq!(
            (e.file.display().to_string(), e.line),
            ("/e/bad.inc".into(), 4)
        );
        let e = read("/e/missing.conf", &ctx(), &sys).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/e/missing.conf: could not find config file /e/missing.conf"
        );
        let sys = MemSystem::new().file("/e/main.conf", "[include]\nfile=x\n");
        let e = read("/e/main.conf", &ctx(), &sys).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/e/main.conf:1: .ini file has [include] section, but no files setting"
        );
        let sys = MemSystem::new().file("/e/main.conf", "[include]\nfiles=%(nope)s\n");
        let e = read("/e/main.conf", &ctx(), &sys).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("'include.files'"), "{e}");
    }
}
