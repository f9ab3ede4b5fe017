//! The status directory (SPEC §3): its file names, and supervise's side of it — walked
//! to without trusting links others could have made ([`path`]), created if missing,
//! refused as root when another user owns it, locked for supervise's whole life, its
//! FIFOs made and held open, and the atomic `X.new` + rename writes of `status` and
//! `state`. Every file in it is opened through [`open`], the one place that does so.
//!
//! Every descriptor opened here is close-on-exec, so the service inherits none of them
//! and `fuser lock` names supervise alone.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::sys::stat::fstat;

pub mod open;
pub mod path;

pub use open::{Dir, FileError, Kind};

/// File names inside a status directory, shared by supervise and svc.
pub mod names {
    /// Held with `flock(LOCK_EX)` by supervise; holds supervise's pid as text.
    pub const LOCK: &str = "lock";
    /// FIFO of control letters.
    pub const CONTROL: &str = "control";
    /// FIFO held open for reading by supervise, so a non-blocking open for writing
    /// succeeds only while it runs.
    pub const OK: &str = "ok";
    /// The 20-byte legacy status.
    pub const STATUS: &str = "status";
    /// Where `status` is written before the rename.
    pub const STATUS_NEW: &str = "status.new";
    /// The richer state record ([`crate::statefile`]).
    pub const STATE: &str = "state";
    /// Where `state` is written before the rename.
    pub const STATE_NEW: &str = "state.new";
    /// The service's standard output.
    pub const STDOUT: &str = "__stdout";
    /// The service's standard error.
    pub const STDERR: &str = "__stderr";
    /// Supervise's NOTICE lines.
    pub const LOG: &str = "supervise.log";
    /// Supervise's WARNING and FATAL lines.
    pub const LOG_WF: &str = "supervise.log.wf";
}

/// The most bytes the lock file is read for a pid.
const LOCK_MAX: usize = 64;

/// Why the status directory could not be taken over.
#[derive(Debug)]
pub enum SetupError {
    /// Another supervise holds the lock; its pid when the lock file says it.
    Locked(Option<u32>),
    /// The walk to the directory stopped (an untrusted link, not a directory...).
    Walk(path::WalkError),
    /// Supervise runs as root and the directory belongs to another user who is not
    /// the service's: that user's files would be trusted as root's.
    Owner(PathBuf, u32),
    /// A file of the directory is not what it must be.
    File(PathBuf, FileError),
    /// A file system operation failed: what was being done, on which path.
    Io(String, PathBuf, io::Error),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Locked(Some(pid)) => {
                write!(
                    f,
                    "already supervised by supervise pid {pid} (it holds the lock)"
                )
            }
            SetupError::Locked(None) => {
                f.write_str("already supervised by another process (it holds the lock)")
            }
            SetupError::Walk(e) => e.fmt(f),
            SetupError::Owner(path, uid) => write!(
                f,
                "{} belongs to uid {uid}, who is not the service's user: a root supervise \
                 does not trust a directory another user controls (chown it to root, or \
                 set `user` to that user)",
                path.display()
            ),
            SetupError::File(path, e) => write!(f, "{}: {e}", path.display()),
            SetupError::Io(what, path, e) => write!(f, "cannot {what} {}: {e}", path.display()),
        }
    }
}

impl std::error::Error for SetupError {}

/// Who may own a status directory that a supervise running as `euid` takes, for a
/// service that runs as `service_uid`: root may take its own directories and the
/// service user's, never another user's; any other user, whatever the kernel lets it
/// open (it can give away nothing it does not have).
pub fn owner_allowed(owner: u32, euid: u32, service_uid: Option<u32>) -> bool {
    euid != 0 || owner == 0 || Some(owner) == service_uid
}

/// A watch on files supervise holds open, by their inodes rather than their names:
/// one moved, removed (or replaced by a rename over its name) or given another mode
/// or owner makes the watch readable. So what holds a file looks at its name again
/// only then, not before each use. Writes make no event.
#[derive(Debug)]
pub struct HeldWatch(Inotify);

impl HeldWatch {
    /// A new inotify instance.
    pub fn new() -> nix::Result<HeldWatch> {
        Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map(HeldWatch)
    }

    /// Watches the file behind `held` (through `/proc/self/fd`: the inode, whatever
    /// its name leads to later).
    pub fn add(&self, held: BorrowedFd<'_>) -> nix::Result<WatchDescriptor> {
        let mask =
            AddWatchFlags::IN_ATTRIB | AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF;
        self.0.add_watch(&open::proc_path(held), mask)
    }

    /// Stops watching a file no longer held (one moved away stays, and would still
    /// report).
    pub fn remove(&self, wd: WatchDescriptor) {
        let _ = self.0.rm_watch(wd);
    }

    /// Reads every pending event; whether there was any.
    pub fn drain(&self) -> bool {
        let mut any = false;
        while matches!(self.0.read_events(), Ok(ev) if !ev.is_empty()) {
            any = true;
        }
        any
    }

    /// A second descriptor on the same instance.
    pub fn try_clone(&self) -> io::Result<HeldWatch> {
        let fd = self.0.as_fd().try_clone_to_owned()?;
        // SAFETY: `fd` is a duplicate of an inotify descriptor.
        Ok(HeldWatch(unsafe { Inotify::from_owned_fd(fd) }))
    }
}

impl AsFd for HeldWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// A status directory owned by this supervise.
#[derive(Debug)]
pub struct StatusDir {
    dir: Dir,
    // Held for their side effects: the flock, and the FIFO ends that make `ok` and
    // `control` answer while supervise lives.
    _lock: File,
    ok: File,
    control_writer: File,
    control: File,
    /// Watches on the two FIFOs' inodes: an unlink, a rename or a chmod of either
    /// shows up here, and [`StatusDir::repair`] puts things right. The logs and the
    /// output files are watched on the same instance ([`StatusDir::held_watch`]).
    fifo_watch: Option<HeldWatch>,
    /// Why there is no `fifo_watch`, for the log.
    fifo_watch_error: Option<nix::Error>,
}

impl StatusDir {
    /// Walks to `path` (creating what is missing, mode 0700; see [`path`]), checks
    /// who owns it, locks it, writes our pid into `lock`, and makes the two FIFOs.
    /// Fails without touching anything if another supervise holds the lock.
    pub fn take(path: &Path, service_uid: Option<u32>) -> Result<StatusDir, SetupError> {
        let dir = Dir::from_fd(path::walk(path).map_err(SetupError::Walk)?, path);
        let owner = dir
            .stat()
            .map_err(|e| SetupError::Io("inspect".into(), path.to_path_buf(), e))?
            .st_uid;
        if !owner_allowed(owner, nix::unistd::geteuid().as_raw(), service_uid) {
            return Err(SetupError::Owner(path.to_path_buf(), owner));
        }
        let lock = lock(&dir)?;
        let file_err = |name: &str| {
            let p = dir.join(name);
            move |e| SetupError::File(p, e)
        };
        // The reader first: a non-blocking open for writing fails without one.
        let control = dir
            .make_fifo(names::CONTROL)
            .map_err(file_err(names::CONTROL))?;
        let control_writer = dir
            .open_fifo(names::CONTROL, true)
            .map_err(file_err(names::CONTROL))?;
        let ok = dir.make_fifo(names::OK).map_err(file_err(names::OK))?;
        let watch = HeldWatch::new();
        let mut d = StatusDir {
            dir,
            _lock: lock,
            ok,
            control_writer,
            control,
            fifo_watch_error: watch.as_ref().err().copied(),
            fifo_watch: watch.ok(),
        };
        d.watch_fifos();
        Ok(d)
    }

    /// Watches the FIFOs supervise holds, through their descriptors (the inodes, not
    /// whatever their names point to later).
    fn watch_fifos(&mut self) {
        let Some(w) = &self.fifo_watch else {
            return;
        };
        for held in [&self.control, &self.ok] {
            if let Err(e) = w.add(held.as_fd()) {
                self.fifo_watch_error = Some(e);
            }
        }
    }

    /// Another handle on the watch of held files, for the logs and the output files
    /// to watch theirs on: its events come out of [`StatusDir::fifo_events`].
    pub fn held_watch(&self) -> Option<HeldWatch> {
        self.fifo_watch.as_ref().and_then(|w| w.try_clone().ok())
    }

    /// Why `control` and `ok` are not (both) watched, as a line for the log; `None`
    /// when they are. The latest failure is kept: a repair that watches them again
    /// does not clear it, the log line having been written at start-up.
    pub fn unwatched(&self) -> Option<String> {
        let e = self.fifo_watch_error?;
        let hint = match e {
            nix::Error::EMFILE => {
                " (probably fs.inotify.max_user_instances: each supervise takes one, two \
                 with a watch; raise it with sysctl for a large fleet)"
            }
            nix::Error::ENOSPC => " (fs.inotify.max_user_watches reached)",
            _ => "",
        };
        Some(format!(
            "cannot watch {} and {} for removal: {e}{hint}; a removed or replaced FIFO \
             is not made again until supervise restarts",
            self.dir.join(names::CONTROL).display(),
            self.dir.join(names::OK).display()
        ))
    }

    /// A warning when others than the owner may write the directory (and it is not
    /// sticky): they cannot make supervise follow a link or block, but they can
    /// rename its files away.
    pub fn exposure(&self) -> Option<String> {
        let st = self.dir.stat().ok()?;
        (st.st_mode & 0o022 != 0 && st.st_mode & 0o1000 == 0).then(|| {
            format!(
                "{} may be written by users other than its owner (mode {:o}): they can \
                 remove or rename supervise's files; chmod go-w it",
                self.dir.path().display(),
                st.st_mode & 0o7777
            )
        })
    }

    /// The descriptor that becomes readable when a FIFO is tampered with.
    pub fn fifo_events(&self) -> Option<BorrowedFd<'_>> {
        self.fifo_watch.as_ref().map(|w| w.as_fd())
    }

    /// After [`StatusDir::fifo_events`]: makes `control` and `ok` what they must be
    /// again (the FIFOs supervise holds, mode 0600), recreating one that was removed
    /// or replaced. Returns what was done, for the log.
    pub fn repair(&mut self) -> Vec<String> {
        if let Some(w) = &self.fifo_watch {
            w.drain();
        }
        let mut done = Vec::new();
        for name in [names::CONTROL, names::OK] {
            if let Some(line) = self.check_fifo(name) {
                done.push(line);
            }
        }
        if !done.is_empty() {
            self.watch_fifos();
        }
        done
    }

    /// Whether `name` is still the FIFO supervise holds, with mode 0600; puts it
    /// right if not, and says what it did.
    fn check_fifo(&mut self, name: &str) -> Option<String> {
        let path = self.dir.join(name);
        let held = if name == names::CONTROL {
            &self.control
        } else {
            &self.ok
        };
        let ours = fstat(held.as_fd()).ok()?;
        match self.dir.stat_of(name) {
            Ok(st) if st.st_dev == ours.st_dev && st.st_ino == ours.st_ino => {
                if ours.st_mode & 0o7777 == 0o600 {
                    return None;
                }
                // On the descriptor, never through the name.
                let _ = nix::sys::stat::fchmod(
                    held.as_fd(),
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                );
                Some(format!(
                    "{} had its mode changed: set back to 0600",
                    path.display()
                ))
            }
            _ => Some(match self.remake(name) {
                Ok(()) => format!(
                    "{} was removed or replaced: made a new FIFO",
                    path.display()
                ),
                Err(e) => format!(
                    "{} was removed or replaced and cannot be made again: {e}; svc cannot \
                     reach this supervise until it is",
                    path.display()
                ),
            }),
        }
    }

    /// Replaces whatever is at `name` with a new FIFO and holds it open.
    fn remake(&mut self, name: &str) -> Result<(), FileError> {
        self.dir.unlink(name)?;
        let reader = self.dir.make_fifo(name)?;
        if name == names::CONTROL {
            self.control_writer = self.dir.open_fifo(name, true)?;
            self.control = reader;
        } else {
            self.ok = reader;
        }
        Ok(())
    }

    /// The directory as given on the command line.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The directory, for opening its files.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// The read end of `control`, non-blocking, for the poll loop.
    pub fn control(&self) -> BorrowedFd<'_> {
        self.control.as_fd()
    }

    /// Reads what is waiting in `control`; 0 when nothing is.
    pub fn read_control(&self, buf: &mut [u8]) -> io::Result<usize> {
        match (&self.control).read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            other => other,
        }
    }

    /// Replaces `name` with `bytes` atomically: write `tmp`, rename over `name`.
    pub fn write_atomic(&self, tmp: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
        Ok(self.dir.write_atomic(tmp, name, bytes)?)
    }

    /// Opens a file of the directory for appending, creating it with `mode`.
    pub fn open_append(&self, name: &str, mode: u32) -> Result<File, FileError> {
        self.dir.open_write(name, true, mode)
    }
}

/// Takes the lock without blocking and records our pid in it.
fn lock(dir: &Dir) -> Result<File, SetupError> {
    let path = dir.join(names::LOCK);
    let mut file = dir
        .open_lock(names::LOCK, 0o644)
        .map_err(|e| SetupError::File(path.clone(), e))?;
    if let Err(e) = fs2::FileExt::try_lock_exclusive(&file) {
        if e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(SetupError::Locked(read_pid(&mut file)));
        }
        return Err(SetupError::Io("lock".into(), path, e));
    }
    record_pid(&mut file).map_err(|e| SetupError::Io("write pid into".into(), path, e))?;
    Ok(file)
}

fn record_pid(file: &mut File) -> io::Result<()> {
    // Written over what was there, then cut to length: a reader never sees the file
    // empty, nor the pid without its newline.
    let line = format!("{}\n", std::process::id());
    file.rewind()?;
    file.write_all(line.as_bytes())?;
    file.set_len(line.len() as u64)
}

/// The pid a lock file names, if it names one (at most [`LOCK_MAX`] bytes read).
pub fn read_pid(file: &mut impl Read) -> Option<u32> {
    let mut buf = [0u8; LOCK_MAX];
    let n = file.read(&mut buf).ok()?;
    parse_pid(&buf[..n])
}

/// The pid in a lock file's bytes.
pub fn parse_pid(bytes: &[u8]) -> Option<u32> {
    std::str::from_utf8(bytes)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    fn take(path: &Path) -> Result<StatusDir, SetupError> {
        StatusDir::take(path, None)
    }

    #[test]
    fn take_builds_the_directory_and_a_second_take_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("status").join("app");
        let dir = take(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        for name in [names::CONTROL, names::OK] {
            let m = fs::symlink_metadata(path.join(name)).unwrap();
            assert!(m.file_type().is_fifo(), "{name}");
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{name}");
        }
        let pid = read_pid(&mut File::open(path.join(names::LOCK)).unwrap());
        assert_eq!(pid, Some(std::process::id()));
        match take(&path) {
            Err(SetupError::Locked(Some(p))) => assert_eq!(p, std::process::id()),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(dir);
        take(&path).expect("free again once dropped");
    }

    #[test]
    fn owners_root_may_trust() {
        assert!(owner_allowed(0, 0, None));
        assert!(owner_allowed(1000, 0, Some(1000)), "the service's user");
        assert!(!owner_allowed(1000, 0, None), "another user");
        assert!(!owner_allowed(1000, 0, Some(1001)), "another user");
        assert!(
            owner_allowed(1000, 1001, None),
            "not root: the kernel decides"
        );
    }

    #[test]
    fn a_lock_that_is_a_link_or_a_hard_link_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("victim"), "keep").unwrap();
        let app = tmp.path().join("app");
        fs::create_dir(&app).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("victim"), app.join(names::LOCK)).unwrap();
        let e = take(&app).unwrap_err().to_string();
        assert!(e.contains("lock: is a symbolic link"), "{e}");
        fs::remove_file(app.join(names::LOCK)).unwrap();
        fs::hard_link(tmp.path().join("victim"), app.join(names::LOCK)).unwrap();
        let e = take(&app).unwrap_err().to_string();
        assert!(e.contains("hard links"), "{e}");
        assert_eq!(fs::read(tmp.path().join("victim")).unwrap(), b"keep");
    }

    #[test]
    fn no_fifo_watch_is_explained() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dir = take(&tmp.path().join("app")).unwrap();
        assert_eq!(dir.unwatched(), None, "watched when inotify works");
        dir.fifo_watch = None;
        dir.fifo_watch_error = Some(nix::Error::EMFILE);
        let line = dir.unwatched().expect("a warning");
        assert!(line.contains("app/control"), "{line}");
        assert!(line.contains("max_user_instances"), "{line}");
        dir.fifo_watch_error = Some(nix::Error::ENOSYS);
        let line = dir.unwatched().expect("a warning");
        assert!(!line.contains("max_user_instances"), "{line}");
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = take(&tmp.path().join("app")).unwrap();
        dir.write_atomic(names::STATUS_NEW, names::STATUS, b"one")
            .unwrap();
        dir.write_atomic(names::STATUS_NEW, names::STATUS, b"two")
            .unwrap();
        let p = tmp.path().join("app");
        assert_eq!(fs::read(p.join(names::STATUS)).unwrap(), b"two");
        assert!(!p.join(names::STATUS_NEW).exists());
    }

    #[test]
    fn a_squatting_regular_file_is_replaced_by_a_fifo() {
        let tmp = tempfile::tempdir().unwrap();
        let app = tmp.path().join("app");
        fs::create_dir(&app).unwrap();
        fs::write(app.join(names::CONTROL), "junk").unwrap();
        let _dir = take(&app).unwrap();
        let m = fs::symlink_metadata(app.join(names::CONTROL)).unwrap();
        assert!(m.file_type().is_fifo());
    }

    #[test]
    fn control_reads_letters_and_reports_nothing_waiting() {
        let tmp = tempfile::tempdir().unwrap();
        let app = tmp.path().join("app");
        let dir = take(&app).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(dir.read_control(&mut buf).unwrap(), 0);
        let mut w = dir.dir().open_fifo(names::CONTROL, true).unwrap();
        w.write_all(b"dx").unwrap();
        assert_eq!(dir.read_control(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"dx");
    }

    #[test]
    fn an_uncreatable_directory_names_the_path() {
        let err = take(Path::new("/proc/self/nope/status/app")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("cannot create directory /proc/") && msg.contains("/nope: "),
            "{msg}"
        );
    }

    #[test]
    fn a_removed_or_replaced_fifo_is_made_again() {
        let tmp = tempfile::tempdir().unwrap();
        let app = tmp.path().join("app");
        let mut dir = take(&app).unwrap();
        assert!(dir.repair().is_empty(), "nothing wrong");
        fs::remove_file(app.join(names::CONTROL)).unwrap();
        fs::remove_file(app.join(names::OK)).unwrap();
        fs::write(app.join(names::OK), "squatter").unwrap();
        let done = dir.repair();
        assert_eq!(done.len(), 2, "{done:?}");
        for name in [names::CONTROL, names::OK] {
            let m = fs::symlink_metadata(app.join(name)).unwrap();
            assert!(m.file_type().is_fifo(), "{name}");
        }
        let d = Dir::open(&app).unwrap();
        crate::client::send(&d, b"u").expect("control works again");
        let mut buf = [0u8; 4];
        assert_eq!(dir.read_control(&mut buf).unwrap(), 1);
        assert!(crate::client::running(&d).unwrap(), "ok works again");
        fs::set_permissions(app.join(names::CONTROL), fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(dir.repair().len(), 1);
        let mode = fs::metadata(app.join(names::CONTROL))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_held_watch_sees_moves_removals_and_replacements_not_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let w = HeldWatch::new().unwrap();
        let p = |n: &str| tmp.path().join(n);
        let held = |n: &str| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p(n))
                .unwrap()
        };
        let mut a = held("a");
        w.add(a.as_fd()).unwrap();
        a.write_all(b"data").unwrap();
        assert!(!w.drain(), "a write");
        fs::rename(p("a"), p("a.1")).unwrap();
        assert!(w.drain(), "a move");
        let b = held("b");
        w.add(b.as_fd()).unwrap();
        fs::remove_file(p("b")).unwrap();
        assert!(w.drain(), "a removal while held");
        let c = held("c");
        let wd = w.add(c.as_fd()).unwrap();
        fs::write(p("other"), "").unwrap();
        fs::rename(p("other"), p("c")).unwrap();
        assert!(w.drain(), "a rename over its name");
        w.remove(wd);
        let d = held("d");
        w.add(d.as_fd()).unwrap();
        fs::set_permissions(p("d"), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(w.drain(), "a chmod");
        // A second handle reads the same events.
        let w2 = w.try_clone().unwrap();
        fs::rename(p("d"), p("d.1")).unwrap();
        assert!(w2.drain() && !w.drain());
    }
}
