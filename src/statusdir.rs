//! The status directory (SPEC §3): its file names, and supervise's side of it — created
//! if missing, locked for supervise's whole life, its FIFOs made and held open, and
//! the atomic `X.new` + rename writes of `status` and `state`.
//!
//! Every descriptor opened here is close-on-exec, so the service inherits none of them
//! and `fuser lock` names supervise alone.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::stat::Mode;

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

/// Why the status directory could not be taken over.
#[derive(Debug)]
pub enum SetupError {
    /// Another supervise holds the lock; its pid when the lock file says it.
    Locked(Option<u32>),
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
            SetupError::Io(what, path, e) => write!(f, "cannot {what} {}: {e}", path.display()),
        }
    }
}

impl std::error::Error for SetupError {}

fn io_err(what: &str, path: &Path) -> impl FnOnce(io::Error) -> SetupError {
    let (what, path) = (what.to_owned(), path.to_path_buf());
    move |e| SetupError::Io(what, path, e)
}

/// A status directory owned by this supervise.
#[derive(Debug)]
pub struct StatusDir {
    path: PathBuf,
    dir: OwnedFd,
    // Held for their side effects: the flock, and the FIFO ends that make `ok` and
    // `control` answer while supervise lives.
    _lock: File,
    ok: File,
    control_writer: File,
    control: File,
    /// Watches on the two FIFOs' inodes: an unlink, a rename or a chmod of either
    /// shows up here, and [`StatusDir::repair`] puts things right.
    fifo_watch: Option<Inotify>,
    /// Why there is no `fifo_watch`, for the log.
    fifo_watch_error: Option<nix::Error>,
}

impl StatusDir {
    /// Creates (mode 0700) and locks `path`, writes our pid into `lock`, and makes the
    /// two FIFOs. Fails without touching anything if another supervise holds the lock.
    pub fn take(path: &Path) -> Result<StatusDir, SetupError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io_err("create directory", path))?;
        let lock = lock(&path.join(names::LOCK))?;
        let dir = open_dir(path).map_err(io_err("open directory", path))?;
        let control_path = path.join(names::CONTROL);
        let ok_path = path.join(names::OK);
        make_fifo(&control_path)?;
        make_fifo(&ok_path)?;
        // The reader first: a non-blocking open for writing fails without one.
        let control = open_fifo(&control_path, false)?;
        let watch = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC);
        let mut d = StatusDir {
            path: path.to_path_buf(),
            dir,
            _lock: lock,
            ok: open_fifo(&ok_path, false)?,
            control_writer: open_fifo(&control_path, true)?,
            control,
            fifo_watch_error: watch.as_ref().err().copied(),
            fifo_watch: watch.ok(),
        };
        d.watch_fifos();
        Ok(d)
    }

    fn watch_fifos(&mut self) {
        let Some(w) = &self.fifo_watch else {
            return;
        };
        for name in [names::CONTROL, names::OK] {
            let mask = AddWatchFlags::IN_ATTRIB
                | AddWatchFlags::IN_DELETE_SELF
                | AddWatchFlags::IN_MOVE_SELF;
            if let Err(e) = w.add_watch(&self.path.join(name), mask) {
                self.fifo_watch_error = Some(e);
            }
        }
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
            self.path.join(names::CONTROL).display(),
            self.path.join(names::OK).display()
        ))
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
            while matches!(w.read_events(), Ok(ev) if !ev.is_empty()) {}
        }
        let mut done = Vec::new();
        for name in [names::CONTROL, names::OK] {
            let path = self.path.join(name);
            let held = if name == names::CONTROL {
                &self.control
            } else {
                &self.ok
            };
            let ours = held.metadata().ok().map(|m| (m.dev(), m.ino()));
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_fifo() && Some((m.dev(), m.ino())) == ours => {
                    if m.permissions().mode() & 0o777 != 0o600 {
                        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
                        done.push(format!(
                            "{} had its mode changed: set back to 0600",
                            path.display()
                        ));
                    }
                }
                _ => match self.remake(name) {
                    Ok(()) => done.push(format!(
                        "{} was removed or replaced: made a new FIFO",
                        path.display()
                    )),
                    Err(e) => done.push(format!(
                        "{} was removed or replaced and cannot be made again: {e}; \
                         svc cannot reach this supervise until it is",
                        path.display()
                    )),
                },
            }
        }
        if !done.is_empty() {
            self.watch_fifos();
        }
        done
    }

    /// Replaces whatever is at `name` with a new FIFO and holds it open.
    fn remake(&mut self, name: &str) -> Result<(), SetupError> {
        let path = self.path.join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(SetupError::Io("remove".into(), path, e)),
        }
        make_fifo(&path)?;
        if name == names::CONTROL {
            self.control = open_fifo(&path, false)?;
            self.control_writer = open_fifo(&path, true)?;
        } else {
            self.ok = open_fifo(&path, false)?;
        }
        Ok(())
    }

    /// The directory as given on the command line.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory itself, for `openat` and `renameat`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
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
        let fd = openat(
            &self.dir,
            tmp,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )?;
        File::from(fd).write_all(bytes)?;
        renameat(&self.dir, tmp, &self.dir, name)?;
        Ok(())
    }

    /// Opens a file of the directory for appending, creating it (0644) if needed.
    pub fn open_append(&self, name: &str) -> io::Result<File> {
        open_append_at(self.dir.as_fd(), name)
    }
}

/// Opens `name` in directory `dir` for appending (close-on-exec), creating it (0644).
pub fn open_append_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<File> {
    let fd = openat(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )?;
    Ok(File::from(fd))
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)?;
    Ok(f.into())
}

/// Takes the lock without blocking and records our pid in it.
fn lock(path: &Path) -> Result<File, SetupError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)
        .map_err(io_err("open", path))?;
    if let Err(e) = fs2::FileExt::try_lock_exclusive(&file) {
        if e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(SetupError::Locked(read_pid(&mut file)));
        }
        return Err(SetupError::Io("lock".into(), path.to_path_buf(), e));
    }
    record_pid(&mut file).map_err(io_err("write pid into", path))?;
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

/// The pid a lock file names, if it names one.
pub fn read_pid(file: &mut impl Read) -> Option<u32> {
    let mut s = String::new();
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok().filter(|&p| p > 0)
}

/// Makes `path` a FIFO with mode 0600 unless it already is one.
fn make_fifo(path: &Path) -> Result<(), SetupError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => {
            // Something else squats the name; we hold the lock, so it is ours to fix.
            fs::remove_file(path).map_err(io_err("remove non-FIFO", path))?;
            mkfifo(path)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => mkfifo(path)?,
        Err(e) => return Err(SetupError::Io("inspect".into(), path.to_path_buf(), e)),
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(io_err("set mode 0600 on", path))
}

/// Opens a FIFO without blocking: for reading, or for writing (which succeeds only
/// because we already hold a reader).
fn open_fifo(path: &Path, write: bool) -> Result<File, SetupError> {
    OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_err("open FIFO", path))
}

fn mkfifo(path: &Path) -> Result<(), SetupError> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600))
        .map_err(|e| SetupError::Io("create FIFO".into(), path.to_path_buf(), e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_builds_the_directory_and_a_second_take_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("status").join("app");
        let dir = StatusDir::take(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        for name in [names::CONTROL, names::OK] {
            let m = fs::symlink_metadata(path.join(name)).unwrap();
            assert!(m.file_type().is_fifo(), "{name}");
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{name}");
        }
        let pid = read_pid(&mut File::open(path.join(names::LOCK)).unwrap());
        assert_eq!(pid, Some(std::process::id()));
        match StatusDir::take(&path) {
            Err(SetupError::Locked(Some(p))) => assert_eq!(p, std::process::id()),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(dir);
        StatusDir::take(&path).expect("free again once dropped");
    }

    #[test]
    fn no_fifo_watch_is_explained() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dir = StatusDir::take(&tmp.path().join("app")).unwrap();
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
        let dir = StatusDir::take(tmp.path()).unwrap();
        dir.write_atomic(names::STATUS_NEW, names::STATUS, b"one")
            .unwrap();
        dir.write_atomic(names::STATUS_NEW, names::STATUS, b"two")
            .unwrap();
        assert_eq!(fs::read(tmp.path().join(names::STATUS)).unwrap(), b"two");
        assert!(!tmp.path().join(names::STATUS_NEW).exists());
    }

    #[test]
    fn a_squatting_regular_file_is_replaced_by_a_fifo() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(names::CONTROL), "junk").unwrap();
        let _dir = StatusDir::take(tmp.path()).unwrap();
        let m = fs::symlink_metadata(tmp.path().join(names::CONTROL)).unwrap();
        assert!(m.file_type().is_fifo());
    }

    #[test]
    fn control_reads_letters_and_reports_nothing_waiting() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StatusDir::take(tmp.path()).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(dir.read_control(&mut buf).unwrap(), 0);
        let mut w = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(tmp.path().join(names::CONTROL))
            .unwrap();
        w.write_all(b"dx").unwrap();
        assert_eq!(dir.read_control(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"dx");
    }

    #[test]
    fn an_uncreatable_directory_names_the_path() {
        let err = StatusDir::take(Path::new("/proc/self/nope/status/app")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("cannot create directory /proc/self/nope/status/app: "),
            "{msg}"
        );
    }

    #[test]
    fn a_removed_or_replaced_fifo_is_made_again() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dir = StatusDir::take(tmp.path()).unwrap();
        assert!(dir.repair().is_empty(), "nothing wrong");
        fs::remove_file(tmp.path().join(names::CONTROL)).unwrap();
        fs::remove_file(tmp.path().join(names::OK)).unwrap();
        fs::write(tmp.path().join(names::OK), "squatter").unwrap();
        let done = dir.repair();
        assert_eq!(done.len(), 2, "{done:?}");
        for name in [names::CONTROL, names::OK] {
            let m = fs::symlink_metadata(tmp.path().join(name)).unwrap();
            assert!(m.file_type().is_fifo(), "{name}");
        }
        crate::client::send(tmp.path(), b"u").expect("control works again");
        let mut buf = [0u8; 4];
        assert_eq!(dir.read_control(&mut buf).unwrap(), 1);
        assert!(
            crate::client::running(tmp.path()).unwrap(),
            "ok works again"
        );
        fs::set_permissions(
            tmp.path().join(names::CONTROL),
            fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        assert_eq!(dir.repair().len(), 1);
        let mode = fs::metadata(tmp.path().join(names::CONTROL))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
