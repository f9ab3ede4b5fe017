//! Restart on file change: inotify watches inside supervise's one event loop.
//!
//! A watched directory is watched recursively: every directory under it gets an
//! inotify watch, and directories created later get one when their creation is seen
//! (with whatever was already put inside them counted as a change). A watched file is
//! watched through its parent directory, filtered by name, so that an editor's save
//! (write a new file, rename it over the old one) is seen like any write. A path that
//! does not exist yet is warned about and its nearest existing ancestor is watched
//! until it appears; a watched directory that is deleted goes back to that state, so
//! deleting and recreating it keeps working.
//!
//! This module only says "something relevant changed, e.g. this path"; the debounce
//! (one restart after a burst settles) is the event loop's deadline, and the restart
//! itself the state machine's. Nothing here polls: with nothing changing, the inotify
//! descriptor stays silent and supervise makes no system call.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};

use crate::log::Log;

/// Events that mean a change.
fn change_mask() -> AddWatchFlags {
    AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
}

/// An exclude pattern (`*.swp`, `.git/`, `build/*.o`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exclude {
    pattern: CString,
    /// Ends with `/`: matches directories only.
    dir_only: bool,
    /// Contains `/`: matched against the path relative to the watched root.
    anchored: bool,
}

impl Exclude {
    fn new(p: &str) -> Option<Exclude> {
        let dir_only = p.ends_with('/');
        let body = p.trim_end_matches('/');
        if body.is_empty() {
            return None;
        }
        Some(Exclude {
            pattern: CString::new(body).ok()?,
            dir_only,
            anchored: body.contains('/'),
        })
    }
}

fn fnmatch(pattern: &CString, s: &OsStr, pathname: bool) -> bool {
    let Ok(s) = CString::new(s.as_bytes()) else {
        return false;
    };
    let flags = if pathname { libc::FNM_PATHNAME } else { 0 };
    // SAFETY: two valid C strings.
    unsafe { libc::fnmatch(pattern.as_ptr(), s.as_ptr(), flags) == 0 }
}

/// Whether `rel` (a path relative to its root; `is_dir` for its last component) is
/// excluded: a pattern without a slash matches any component by name (a trailing
/// slash: any directory component), one with a slash the whole relative path.
pub fn excluded(patterns: &[String], rel: &Path, is_dir: bool) -> bool {
    let ex: Vec<Exclude> = patterns.iter().filter_map(|p| Exclude::new(p)).collect();
    is_excluded(&ex, rel, is_dir)
}

fn is_excluded(ex: &[Exclude], rel: &Path, is_dir: bool) -> bool {
    let parts: Vec<&OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect();
    ex.iter().any(|e| {
        if e.anchored {
            return (!e.dir_only || is_dir) && fnmatch(&e.pattern, rel.as_os_str(), true);
        }
        parts.iter().enumerate().any(|(i, part)| {
            let last = i + 1 == parts.len();
            let a_dir = !last || is_dir;
            (!e.dir_only || a_dir) && fnmatch(&e.pattern, part, false)
        })
    })
}

/// What a watch descriptor stands for.
#[derive(Debug, Clone)]
struct Watched {
    /// The directory.
    dir: PathBuf,
    /// Which configured path it serves.
    root: usize,
    /// Only these names in it matter (a watched file, or the next component of a
    /// missing path); `None`: everything in it, recursively.
    only: Option<Vec<OsString>>,
}

/// One configured path.
#[derive(Debug, Clone)]
struct Root {
    path: PathBuf,
    /// Watched as itself (or, for a file, through its parent); false while it is
    /// missing and an ancestor is watched for it.
    attached: bool,
}

/// The watcher.
#[derive(Debug)]
pub struct Watch {
    inotify: Inotify,
    roots: Vec<Root>,
    excludes: Vec<Exclude>,
    watched: HashMap<WatchDescriptor, Watched>,
    limit_warned: bool,
    /// Supervise's own status directory: its writes there are never changes.
    ignore: Option<PathBuf>,
}

impl Watch {
    /// Watches `paths` (made absolute against the working directory), ignoring what
    /// matches `excludes` and what is under `ignore` (the status directory, whose
    /// every update would otherwise restart the service in a loop).
    pub fn new(
        paths: &[PathBuf],
        excludes: &[String],
        ignore: Option<&Path>,
        log: &Log,
    ) -> nix::Result<Watch> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let cwd = std::env::current_dir().unwrap_or_default();
        let mut w = Watch {
            inotify,
            roots: paths
                .iter()
                .map(|p| Root {
                    path: normalize(&cwd.join(p)),
                    attached: false,
                })
                .collect(),
            excludes: excludes.iter().filter_map(|p| Exclude::new(p)).collect(),
            watched: HashMap::new(),
            limit_warned: false,
            ignore: ignore.map(|p| normalize(&cwd.join(p))),
        };
        for i in 0..w.roots.len() {
            w.attach(i, log, true);
        }
        Ok(w)
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// The configured paths.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.roots.iter().map(|r| r.path.as_path())
    }

    /// Whether this watcher watches exactly these paths with these excludes.
    pub fn configured(&self, paths: &[PathBuf], excludes: &[String]) -> bool {
        let cwd = std::env::current_dir().unwrap_or_default();
        let wanted: Vec<PathBuf> = paths.iter().map(|p| normalize(&cwd.join(p))).collect();
        let ex: Vec<Exclude> = excludes.iter().filter_map(|p| Exclude::new(p)).collect();
        wanted.iter().eq(self.roots.iter().map(|r| &r.path)) && ex == self.excludes
    }

    /// How many inotify watches are in use.
    pub fn watches(&self) -> usize {
        self.watched.len()
    }

    /// Sets up root `i`: the path itself if it exists, else its nearest existing
    /// ancestor, watched for the next component.
    fn attach(&mut self, i: usize, log: &Log, first: bool) {
        let path = self.roots[i].path.clone();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => {
                self.roots[i].attached = true;
                self.add_tree(&path, i, log);
            }
            Ok(_) => {
                self.roots[i].attached = true;
                let (parent, name) = split(&path);
                self.add(&parent, i, Some(name), log);
            }
            Err(_) => {
                self.roots[i].attached = false;
                if first {
                    log.warn(format_args!(
                        "watch: {} does not exist yet; it will be watched once it appears",
                        path.display()
                    ));
                }
                let mut p = path.as_path();
                while let Some(parent) = p.parent() {
                    if parent.is_dir() {
                        let name = p.file_name().map(OsStr::to_owned).unwrap_or_default();
                        self.add(parent, i, Some(name), log);
                        break;
                    }
                    p = parent;
                }
            }
        }
    }

    /// Watches `dir` and every directory under it that is not excluded.
    fn add_tree(&mut self, dir: &Path, root: usize, log: &Log) {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            if !self.add(&d, root, None, log) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                if is_dir && !self.excluded(root, &e.path(), true) {
                    stack.push(e.path());
                }
            }
        }
    }

    /// Adds one watch; false when it could not be added.
    fn add(&mut self, dir: &Path, root: usize, only: Option<OsString>, log: &Log) -> bool {
        match self
            .inotify
            .add_watch(dir, change_mask() | AddWatchFlags::IN_ONLYDIR)
        {
            Ok(wd) => {
                let entry = self.watched.entry(wd).or_insert_with(|| Watched {
                    dir: dir.to_path_buf(),
                    root,
                    only: Some(Vec::new()),
                });
                match (&mut entry.only, only) {
                    (Some(names), Some(n)) => {
                        if !names.contains(&n) {
                            names.push(n);
                        }
                    }
                    (slot, None) => {
                        *slot = None;
                        entry.root = root;
                    }
                    (None, Some(_)) => {}
                }
                true
            }
            Err(Errno::ENOSPC) => {
                if !self.limit_warned {
                    self.limit_warned = true;
                    log.warn(format_args!(
                        "watch: cannot watch {}: the limit of inotify watches is reached \
                         (raise fs.inotify.max_user_watches); changes there go unseen",
                        dir.display()
                    ));
                }
                false
            }
            Err(e) => {
                log.warn(format_args!("watch: cannot watch {}: {e}", dir.display()));
                false
            }
        }
    }

    fn excluded(&self, root: usize, path: &Path, is_dir: bool) -> bool {
        if self.ignore.as_deref().is_some_and(|i| path.starts_with(i)) {
            return true;
        }
        let base = &self.roots[root].path;
        let rel = path.strip_prefix(base).unwrap_or(path);
        is_excluded(&self.excludes, rel, is_dir)
    }

    /// Reads what inotify has; returns a path that changed, if anything relevant did.
    pub fn read(&mut self, log: &Log) -> Option<PathBuf> {
        let mut changed = None;
        loop {
            let events = match self.inotify.read_events() {
                Ok(ev) if !ev.is_empty() => ev,
                _ => break,
            };
            for ev in events {
                if let Some(p) = self.event(ev, log) {
                    changed.get_or_insert(p);
                }
            }
        }
        changed
    }

    fn event(&mut self, ev: InotifyEvent, log: &Log) -> Option<PathBuf> {
        if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            // Events were lost: count it as a change and look at the trees afresh.
            for i in 0..self.roots.len() {
                self.attach(i, log, false);
            }
            return self.roots.first().map(|r| r.path.clone());
        }
        let w = self.watched.get(&ev.wd)?.clone();
        if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
            // The directory is gone: its root may need watching from above again.
            self.watched.remove(&ev.wd);
            if w.dir == self.roots[w.root].path || !w.dir.exists() {
                self.attach(w.root, log, false);
            }
            return None;
        }
        let is_dir = ev.mask.contains(AddWatchFlags::IN_ISDIR);
        let path = match &ev.name {
            Some(n) => w.dir.join(n),
            None => w.dir.clone(),
        };
        if let (Some(names), Some(n)) = (&w.only, &ev.name) {
            if !names.contains(n) {
                return None;
            }
            if !self.roots[w.root].attached {
                // A component of a missing path appeared: go one level deeper, or
                // attach if it was the path itself.
                self.attach(w.root, log, false);
                if self.roots[w.root].attached {
                    log.notice(format_args!(
                        "watch: {} appeared; watching it",
                        self.roots[w.root].path.display()
                    ));
                    return Some(self.roots[w.root].path.clone());
                }
                return None;
            }
        }
        if w.only.is_none() && self.excluded(w.root, &path, is_dir) {
            return None;
        }
        let created_dir = is_dir
            && (ev.mask.contains(AddWatchFlags::IN_CREATE)
                || ev.mask.contains(AddWatchFlags::IN_MOVED_TO));
        if created_dir && w.only.is_none() {
            self.add_tree(&path, w.root, log);
        }
        // A directory deleted or moved away is a change too; its IN_IGNORED follows and
        // re-attaches its root from above.
        Some(path)
    }
}

/// `/a/b/../c/./d` → `/a/c/d`, without touching the file system (the path may not
/// exist yet).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A path's parent and last component.
fn split(p: &Path) -> (PathBuf, OsString) {
    (
        p.parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
        p.file_name().map(OsStr::to_owned).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_patterns() {
        let pats: Vec<String> = ["*.swp", ".git/", "build/*.o", "tmp"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rows = [
            ("notes.txt", false, false),
            ("a/.notes.txt.swp", false, true),
            (".git", true, true),
            (".git/objects/ab", false, true),
            ("src/.git", false, false), // a file named .git: only directories match `.git/`
            ("build/main.o", false, true),
            ("build/sub/main.o", false, false), // * does not cross / in anchored patterns
            ("deep/tmp/file", false, true),
            ("template", false, false),
        ];
        for (rel, is_dir, expected) in rows {
            assert_eq!(excluded(&pats, Path::new(rel), is_dir), expected, "{rel}");
        }
    }

    #[test]
    fn normalizes_without_the_file_system() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(normalize(Path::new("/srv/app/")), PathBuf::from("/srv/app"));
    }

    fn log(dir: &Path) -> Log {
        Log::open_in(&crate::statusdir::Dir::open(dir).unwrap(), 0o600).unwrap()
    }

    /// Reads until a change shows up, or gives up after a second.
    fn next_change(w: &mut Watch, log: &Log) -> Option<PathBuf> {
        for _ in 0..100 {
            if let Some(p) = w.read(log) {
                return Some(p);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        None
    }

    #[test]
    fn sees_files_new_subdirectories_and_ignores_excluded() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("a")).unwrap();
        let l = log(tmp.path());
        let mut w = Watch::new(std::slice::from_ref(&root), &["*.swp".into()], None, &l).unwrap();
        assert_eq!(w.watches(), 2);
        std::fs::write(root.join("a/x.swp"), "").unwrap();
        assert_eq!(next_change(&mut w, &l), None, "excluded");
        std::fs::create_dir_all(root.join("new/deeper")).unwrap();
        assert!(next_change(&mut w, &l).is_some());
        assert_eq!(w.watches(), 4, "new directories are watched");
        std::fs::write(root.join("new/deeper/f"), "x").unwrap();
        assert_eq!(next_change(&mut w, &l), Some(root.join("new/deeper/f")));
    }

    #[test]
    fn a_file_is_watched_through_its_directory_and_survives_replacement() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("conf.yml");
        std::fs::write(&file, "a").unwrap();
        let l = log(tmp.path());
        let mut w = Watch::new(std::slice::from_ref(&file), &[], None, &l).unwrap();
        std::fs::write(tmp.path().join("other"), "x").unwrap();
        assert_eq!(
            next_change(&mut w, &l),
            None,
            "another file in the same directory"
        );
        std::fs::write(tmp.path().join(".conf.yml.tmp"), "b").unwrap();
        let _ = next_change(&mut w, &l);
        std::fs::rename(tmp.path().join(".conf.yml.tmp"), &file).unwrap();
        assert_eq!(next_change(&mut w, &l), Some(file));
    }

    #[test]
    fn a_missing_path_is_picked_up_when_it_appears() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("later/inner");
        let l = log(tmp.path());
        let mut w = Watch::new(std::slice::from_ref(&target), &[], None, &l).unwrap();
        assert!(
            std::fs::read_to_string(tmp.path().join(crate::statusdir::names::LOG_WF))
                .unwrap()
                .contains("does not exist yet")
        );
        std::fs::create_dir(tmp.path().join("later")).unwrap();
        let _ = next_change(&mut w, &l);
        std::fs::create_dir(&target).unwrap();
        assert_eq!(next_change(&mut w, &l), Some(target.clone()));
        std::fs::write(target.join("f"), "x").unwrap();
        assert_eq!(next_change(&mut w, &l), Some(target.join("f")));
        // Deleted and recreated: still watched.
        std::fs::remove_dir_all(&target).unwrap();
        let _ = next_change(&mut w, &l);
        std::fs::create_dir(&target).unwrap();
        let _ = next_change(&mut w, &l);
        std::fs::write(target.join("g"), "x").unwrap();
        assert_eq!(next_change(&mut w, &l), Some(target.join("g")));
    }
}
