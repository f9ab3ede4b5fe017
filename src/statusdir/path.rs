//! Supervise's walk to its status directory: one component at a time, each opened
//! relative to the one before, so the directory it ends up holding is the one the
//! path named when it was walked, whatever is renamed afterwards.
//!
//! The decision (README, "Security model"): a symbolic link on the way is followed
//! only if nobody but root or supervise's own user could have put it there (the link
//! is owned by one of them, and so is the directory holding it, which nobody else may
//! write unless it is sticky). The status directory itself is never a link. A
//! component that is missing is created with mode 0700. What the directory's owner
//! may be is checked by the caller ([`super::StatusDir::take`]), once it is open.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat, mkdirat};

/// The most links followed in one walk, as the kernel's own bound.
const MAX_LINKS: usize = 40;

/// Why the walk stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum WalkError {
    /// The status directory itself is a symbolic link.
    FinalLink(PathBuf),
    /// A link on the way that someone else could have put there: its owner.
    UntrustedLink(PathBuf, u32),
    /// More than [`MAX_LINKS`] links.
    TooManyLinks(PathBuf),
    /// A component that exists and is not a directory.
    NotDirectory(PathBuf),
    /// The system refused: what was done, where.
    Io(&'static str, PathBuf, Errno),
}

impl std::fmt::Display for WalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalkError::FinalLink(p) => write!(
                f,
                "{} is a symbolic link: supervise takes its status directory only as a real \
                 directory (give the path it points to)",
                p.display()
            ),
            WalkError::UntrustedLink(p, uid) => write!(
                f,
                "{} is a symbolic link that uid {uid} could have made (it or its directory is \
                 not root's or supervise's own, or others may write there): not followed",
                p.display()
            ),
            WalkError::TooManyLinks(p) => {
                write!(f, "{}: more than {MAX_LINKS} symbolic links", p.display())
            }
            WalkError::NotDirectory(p) => write!(f, "{} is not a directory", p.display()),
            WalkError::Io(what, p, e) => {
                write!(
                    f,
                    "cannot {what} {}: {}",
                    p.display(),
                    std::io::Error::from(*e)
                )
            }
        }
    }
}

impl std::error::Error for WalkError {}

fn is_dir(st: &FileStat) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits()
}

fn is_link(st: &FileStat) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFLNK.bits()
}

/// Whether a link owned by `link_uid` in a directory described by `dir` can only have
/// been put there by root or by `euid`.
pub fn trusted_link(link_uid: u32, dir: &FileStat, euid: u32) -> bool {
    let ours = |uid: u32| uid == 0 || uid == euid;
    let others_write = dir.st_mode & 0o022 != 0;
    let sticky = dir.st_mode & 0o1000 != 0;
    ours(link_uid) && ours(dir.st_uid) && (!others_write || sticky)
}

fn open_dir_at(at: &OwnedFd, name: &Path) -> Result<OwnedFd, Errno> {
    openat(
        at,
        name,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// The walk's state: where it is, what is left, how many links it followed.
struct Walk {
    at: OwnedFd,
    /// The path walked so far, for messages.
    done: PathBuf,
    /// Components still to walk, the next one last.
    todo: Vec<OsString>,
    links: usize,
    euid: u32,
}

impl Walk {
    fn start(path: &Path) -> Result<Walk, WalkError> {
        let root = if path.is_absolute() { "/" } else { "." };
        let at = openat(
            AT_FDCWD,
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| WalkError::Io("open", root.into(), e))?;
        let mut w = Walk {
            at,
            done: PathBuf::from(if path.is_absolute() { "/" } else { "" }),
            todo: Vec::new(),
            links: 0,
            euid: nix::unistd::geteuid().as_raw(),
        };
        w.push_front(path);
        Ok(w)
    }

    /// Puts `path`'s components before what is left.
    fn push_front(&mut self, path: &Path) {
        for c in path.components().rev() {
            match c {
                Component::Normal(n) => self.todo.push(n.to_owned()),
                Component::ParentDir => self.todo.push("..".into()),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
    }

    /// One step: opens (or creates) the next component, or follows it if it is a
    /// trusted link.
    fn step(&mut self, name: OsString) -> Result<(), WalkError> {
        let here = self.done.join(&name);
        let last = self.todo.is_empty();
        match open_dir_at(&self.at, Path::new(&name)) {
            Ok(fd) => {
                self.at = fd;
                self.done = here;
                Ok(())
            }
            Err(Errno::ENOENT) => self.create(name, here),
            Err(Errno::ENOTDIR | Errno::ELOOP) => self.follow(name, here, last),
            Err(e) => Err(WalkError::Io("open", here, e)),
        }
    }

    fn create(&mut self, name: OsString, here: PathBuf) -> Result<(), WalkError> {
        match mkdirat(&self.at, Path::new(&name), Mode::from_bits_truncate(0o700)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(WalkError::Io("create directory", here, e)),
        }
        self.at = open_dir_at(&self.at, Path::new(&name))
            .map_err(|e| WalkError::Io("open", here.clone(), e))?;
        self.done = here;
        Ok(())
    }

    fn follow(&mut self, name: OsString, here: PathBuf, last: bool) -> Result<(), WalkError> {
        let st = fstatat(&self.at, Path::new(&name), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| WalkError::Io("inspect", here.clone(), e))?;
        if !is_link(&st) {
            return Err(WalkError::NotDirectory(here));
        }
        if last {
            return Err(WalkError::FinalLink(here));
        }
        let dir = fstat(self.at.as_fd()).map_err(|e| WalkError::Io("inspect", here.clone(), e))?;
        if !trusted_link(st.st_uid, &dir, self.euid) {
            return Err(WalkError::UntrustedLink(here, st.st_uid));
        }
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(WalkError::TooManyLinks(here));
        }
        let target = readlinkat(&self.at, Path::new(&name))
            .map_err(|e| WalkError::Io("read link", here.clone(), e))?;
        let target = PathBuf::from(target);
        if target.is_absolute() {
            self.at = openat(
                AT_FDCWD,
                "/",
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| WalkError::Io("open", "/".into(), e))?;
            self.done = PathBuf::from("/");
        }
        self.push_front(&target);
        Ok(())
    }
}

/// Walks to `path`, creating what is missing, and returns the directory's descriptor
/// (`O_PATH`: enough for every `*at` call, and no read permission needed).
pub fn walk(path: &Path) -> Result<OwnedFd, WalkError> {
    if path.as_os_str().as_bytes().is_empty() {
        return Err(WalkError::NotDirectory(path.to_path_buf()));
    }
    let mut w = Walk::start(path)?;
    while let Some(name) = w.todo.pop() {
        w.step(name)?;
    }
    let st = fstat(w.at.as_fd()).map_err(|e| WalkError::Io("inspect", w.done.clone(), e))?;
    if !is_dir(&st) {
        return Err(WalkError::NotDirectory(w.done));
    }
    Ok(w.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    #[test]
    fn missing_components_are_made_0700() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("status").join("app");
        walk(&p).unwrap();
        for d in [tmp.path().join("status"), p] {
            assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        }
    }

    #[test]
    fn the_directory_itself_is_never_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("real")).unwrap();
        symlink(tmp.path().join("real"), tmp.path().join("app")).unwrap();
        let e = walk(&tmp.path().join("app")).unwrap_err();
        assert!(matches!(e, WalkError::FinalLink(_)), "{e}");
        let e = walk(&tmp.path().join("app/")).unwrap_err();
        assert!(matches!(e, WalkError::FinalLink(_)), "{e}");
    }

    #[test]
    fn links_on_the_way_are_followed_only_when_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("real")).unwrap();
        symlink(tmp.path().join("real"), tmp.path().join("status")).unwrap();
        // Ours, in a directory only we write: followed.
        walk(&tmp.path().join("status/app")).unwrap();
        assert!(tmp.path().join("real/app").is_dir());
        // The same link in a directory others may write (not sticky): refused.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = walk(&tmp.path().join("status/other")).unwrap_err();
        assert!(matches!(e, WalkError::UntrustedLink(..)), "{e}");
        assert!(!tmp.path().join("real/other").exists());
        // Sticky, as /tmp is: others cannot replace our link, so it is followed.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        walk(&tmp.path().join("status/third")).unwrap();
    }

    #[test]
    fn trust_rules() {
        let mut dir: FileStat = unsafe { std::mem::zeroed() };
        dir.st_uid = 0;
        dir.st_mode = 0o755;
        assert!(trusted_link(0, &dir, 1000));
        assert!(trusted_link(1000, &dir, 1000));
        assert!(!trusted_link(1001, &dir, 0), "someone else's link");
        dir.st_uid = 1001;
        assert!(!trusted_link(0, &dir, 0), "in someone else's directory");
        dir.st_uid = 0;
        dir.st_mode = 0o775;
        assert!(!trusted_link(0, &dir, 0), "group may replace it");
        dir.st_mode = 0o1777;
        assert!(trusted_link(0, &dir, 0), "sticky: only its owner may");
    }

    #[test]
    fn a_file_on_the_way_is_not_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), "").unwrap();
        let e = walk(&tmp.path().join("f/app")).unwrap_err();
        assert!(matches!(e, WalkError::NotDirectory(_)), "{e}");
    }
}
