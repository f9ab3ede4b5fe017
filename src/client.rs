//! The other side of a status directory: sending letters to a supervise and reading
//! its state, for `svc` and any other tool, without ever blocking.
//!
//! Writing to a FIFO nobody reads blocks for ever, so every open is non-blocking: an
//! `ENXIO` from `control` or `ok` means no supervise is listening. Every file is
//! opened through [`crate::statusdir::open`] (no link followed, no FIFO where a file
//! is expected, bounded reads), so a status directory that someone else can write
//! cannot hang, crash or mislead a root `svc`. Errors name what is wrong with the
//! directory in words an operator can act on, and never quote a file's content.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use nix::errno::Errno;

use crate::statefile::{self, Record};
use crate::status::{self, Status};
use crate::statusdir::{Dir, FileError, names};

/// The most bytes `state` may hold (supervise writes a few hundred).
pub const STATE_MAX: usize = 64 * 1024;

/// The most bytes `/proc/locks` is read for (a line per lock on the host).
const PROC_LOCKS_MAX: usize = 4 << 20;

/// Why a status directory could not be used.
#[derive(Debug)]
pub enum Problem {
    /// The path does not exist.
    NoSuchDirectory,
    /// The path exists but is not a status directory (no `control` FIFO in it).
    NotStatusDir,
    /// It is a status directory, but no supervise listens on it.
    NotRunning,
    /// Whether a supervise listens cannot be told: why (permission denied).
    CannotTell(String),
    /// `status` cannot be read as 20 legacy bytes.
    BadStatus(String),
    /// A file of the directory is not what it must be (a link, the wrong kind).
    BadFile(&'static str, FileError),
    /// The control FIFO is full: supervise is alive but not reading it.
    Stuck,
    /// Anything else the system said.
    Io(String, io::Error),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoSuchDirectory => f.write_str("no such directory"),
            Problem::NotStatusDir => f.write_str("not a status directory (no control FIFO in it)"),
            Problem::NotRunning => f.write_str("supervise not running"),
            Problem::CannotTell(why) => write!(f, "cannot tell whether supervise runs: {why}"),
            Problem::BadStatus(why) => write!(f, "unreadable status file: {why}"),
            Problem::BadFile(name, e) => write!(f, "{name} {e}"),
            Problem::Stuck => f.write_str(
                "supervise is not reading its control FIFO (it is full): is it stopped or hung?",
            ),
            Problem::Io(what, e) => write!(f, "cannot {what}: {e}"),
        }
    }
}

impl std::error::Error for Problem {}

impl Problem {
    /// Whether this says "cannot tell" rather than "down" or "broken".
    pub fn is_unknown(&self) -> bool {
        matches!(self, Problem::CannotTell(_))
            || matches!(self, Problem::Io(_, e) if e.kind() == io::ErrorKind::PermissionDenied)
    }
}

/// Opens a status directory (a link to it is followed, as for any path on a command
/// line; nothing inside it is).
pub fn open(path: &Path) -> Result<Dir, Problem> {
    Dir::open(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => Problem::NoSuchDirectory,
        _ => Problem::Io(format!("open {}", path.display()), e),
    })
}

/// What a file problem means for a FIFO that should be there.
fn fifo_problem(dir: &Dir, name: &'static str, e: FileError) -> Problem {
    match e {
        FileError::Io(Errno::ENXIO) => Problem::NotRunning,
        FileError::Missing => Problem::NotStatusDir,
        FileError::Io(errno) => Problem::Io(
            format!("open {}", dir.join(name).display()),
            io::Error::from(errno),
        ),
        other => Problem::BadFile(name, other),
    }
}

/// Opens a FIFO of `dir` for writing without blocking.
fn open_fifo(dir: &Dir, name: &'static str) -> Result<File, Problem> {
    dir.open_fifo(name, true)
        .map_err(|e| fifo_problem(dir, name, e))
}

/// Writes control letters; fails at once if no supervise listens.
pub fn send(dir: &Dir, letters: &[u8]) -> Result<(), Problem> {
    let mut fifo = open_fifo(dir, names::CONTROL)?;
    fifo.write_all(letters).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => Problem::Stuck,
        _ => Problem::Io(
            format!("write to {}", dir.join(names::CONTROL).display()),
            e,
        ),
    })
}

/// Whether a supervise runs on `dir`: its `ok` FIFO has a reader. A user who may not
/// open `ok` (a root supervise's, mode 0600) asks the kernel who holds `lock`
/// instead; only when neither can be read is the answer "cannot tell".
pub fn running(dir: &Dir) -> Result<bool, Problem> {
    match dir
        .has_reader(names::OK)
        .map_err(|e| fifo_problem(dir, names::OK, e))
    {
        Ok(r) => Ok(r),
        Err(Problem::Io(_, e)) if e.kind() == io::ErrorKind::PermissionDenied => {
            match lock_holder(dir) {
                Some(holder) => Ok(holder.is_some()),
                None => Err(Problem::CannotTell(format!(
                    "permission denied on {}, and /proc/locks does not say",
                    dir.join(names::OK).display()
                ))),
            }
        }
        Err(e) => Err(e),
    }
}

/// Who holds the flock on `lock`, from `/proc/locks`: `Some(Some(pid))` held,
/// `Some(None)` not held, `None` when it cannot be told.
pub fn lock_holder(dir: &Dir) -> Option<Option<u32>> {
    let st = dir.stat_of(names::LOCK).ok()?;
    let locks = Dir::open(Path::new("/proc"))
        .ok()?
        .read("locks", PROC_LOCKS_MAX)
        .ok()?;
    // Not read_bytes: /proc hands a file over in pieces, so a short read is no end.
    Some(flock_holder(
        &String::from_utf8_lossy(&locks.bytes),
        st.st_ino,
    ))
}

/// In `/proc/locks` text, the pid holding a write flock on inode `ino` (the device is
/// not compared: some file systems report another number to `stat`).
pub fn flock_holder(text: &str, ino: u64) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut f = line.split_whitespace().skip(1);
        let (kind, _, access, pid, id) = (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
        let same = id.rsplit(':').next()?.parse::<u64>().ok()? == ino;
        (kind == "FLOCK" && access == "WRITE" && same)
            .then(|| pid.parse().ok())
            .flatten()
    })
}

/// Reads and decodes `status`.
pub fn read_status(dir: &Dir) -> Result<Status, Problem> {
    let bytes = dir
        .read_bytes(names::STATUS, status::STATUS_LEN)
        .map_err(|e| match e {
            FileError::Missing => match dir.stat_of(names::CONTROL) {
                Ok(_) => Problem::BadStatus("there is no status file yet".into()),
                Err(_) => Problem::NotStatusDir,
            },
            FileError::TooBig(_) => {
                Problem::BadStatus(format!("it is longer than {} bytes", status::STATUS_LEN))
            }
            FileError::Io(errno) => Problem::Io(
                format!("read {}", dir.join(names::STATUS).display()),
                io::Error::from(errno),
            ),
            other => Problem::BadFile(names::STATUS, other),
        })?;
    status::decode(&bytes).map_err(|e| Problem::BadStatus(format!("it {e}")))
}

/// Reads `state`: `None` when there is none (a legacy supervise writes only `status`),
/// `Some(Err)` when it is there but unreadable.
pub fn read_state(dir: &Dir) -> Option<Result<Record, String>> {
    match dir.read_bytes(names::STATE, STATE_MAX) {
        Ok(bytes) => Some(decode_state(&bytes)),
        Err(FileError::Missing) => None,
        Err(e) => Some(Err(format!("state {e}"))),
    }
}

/// Decodes the bytes of a `state` file.
pub fn decode_state(bytes: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "state is not UTF-8 text".to_owned())?;
    statefile::decode(text).map_err(|e| e.to_string())
}

/// The pid recorded in `lock`.
pub fn lock_pid(dir: &Dir) -> Option<u32> {
    let bytes = dir.read_bytes(names::LOCK, 64).ok()?;
    crate::statusdir::parse_pid(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn open_ok(p: &Path) -> Dir {
        open(p).unwrap()
    }

    #[test]
    fn problems_are_told_apart() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            open(&tmp.path().join("nope")),
            Err(Problem::NoSuchDirectory)
        ));
        let file = tmp.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(matches!(open(&file), Err(Problem::NoSuchDirectory)));
        let d = open_ok(tmp.path());
        assert!(matches!(send(&d, b"u"), Err(Problem::NotStatusDir)));
        nix::unistd::mkfifo(&tmp.path().join("control"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        nix::unistd::mkfifo(&tmp.path().join("ok"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(send(&d, b"u"), Err(Problem::NotRunning)));
        assert!(!running(&d).unwrap());
        assert!(matches!(read_status(&d), Err(Problem::BadStatus(_))));
        assert!(read_state(&d).is_none());
    }

    #[test]
    fn a_listening_directory_takes_letters() {
        let tmp = tempfile::tempdir().unwrap();
        let sd = crate::statusdir::StatusDir::take(&tmp.path().join("app"), None).unwrap();
        let d = open_ok(&tmp.path().join("app"));
        assert!(running(&d).unwrap());
        send(&d, b"dx").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(sd.read_control(&mut buf).unwrap(), 2);
        assert_eq!(lock_pid(&d), Some(std::process::id()));
        assert_eq!(lock_holder(&d), Some(Some(std::process::id())));
        drop(sd);
        assert_eq!(lock_holder(&d), Some(None));
    }

    #[test]
    fn truncated_or_long_status_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let d = open_ok(tmp.path());
        fs::write(tmp.path().join("status"), [0u8; 7]).unwrap();
        let e = read_status(&d).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unreadable status file: it is 7 bytes long, expected 20"
        );
        fs::write(tmp.path().join("status"), [0u8; 21]).unwrap();
        let e = read_status(&d).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unreadable status file: it is longer than 20 bytes"
        );
    }

    #[test]
    fn hostile_files_neither_block_nor_leak() {
        let tmp = tempfile::tempdir().unwrap();
        let d = open_ok(tmp.path());
        fs::write(tmp.path().join("secret"), "root:$6$hash:1:2\n").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), tmp.path().join("state")).unwrap();
        let e = read_state(&d).unwrap().unwrap_err();
        assert!(e.contains("symbolic link") && !e.contains("root"), "{e}");
        fs::remove_file(tmp.path().join("state")).unwrap();
        nix::unistd::mkfifo(&tmp.path().join("state"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        nix::unistd::mkfifo(&tmp.path().join("status"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = read_state(&d).unwrap().unwrap_err();
        assert!(e.contains("FIFO"), "{e}");
        assert!(read_status(&d).unwrap_err().to_string().contains("FIFO"));
        fs::remove_file(tmp.path().join("state")).unwrap();
        fs::write(tmp.path().join("state"), vec![b'a'; STATE_MAX + 1]).unwrap();
        let e = read_state(&d).unwrap().unwrap_err();
        assert!(e.contains("larger than"), "{e}");
        fs::write(tmp.path().join("state"), "root:$6$hash\n").unwrap();
        let e = read_state(&d).unwrap().unwrap_err();
        assert!(!e.contains("root") && !e.contains("hash"), "{e}");
    }

    #[test]
    fn proc_locks_lines() {
        let text = "1: POSIX  ADVISORY  WRITE 77 08:01:99 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 4242 00:1f:1234 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 4343 00:1f:1234 0 EOF\n\
                    3: FLOCK  ADVISORY  READ 55 00:1f:777 0 EOF\n";
        assert_eq!(flock_holder(text, 1234), Some(4242));
        assert_eq!(flock_holder(text, 99), None, "a POSIX lock is not ours");
        assert_eq!(flock_holder(text, 777), None, "a shared lock is not ours");
        assert_eq!(flock_holder(text, 5), None);
        assert_eq!(flock_holder("garbage\n\n1:\n", 5), None);
    }
}
