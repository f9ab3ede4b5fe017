//! The other side of a status directory: sending letters to a supervise and reading
//! its state, for `svc` and any other tool, without ever blocking.
//!
//! Writing to a FIFO nobody reads blocks for ever, so every open is non-blocking: an
//! `ENXIO` from `control` or `ok` means no supervise is listening. Errors name what is
//! wrong with the directory in words an operator can act on.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::statefile::{self, Record};
use crate::status::{self, Status};
use crate::statusdir::names;

/// Why a status directory could not be used.
#[derive(Debug)]
pub enum Problem {
    /// The path does not exist.
    NoSuchDirectory,
    /// The path exists but is not a status directory (no `control` FIFO).
    NotStatusDir,
    /// It is a status directory, but no supervise listens on it.
    NotRunning,
    /// `status` cannot be read as 20 legacy bytes.
    BadStatus(String),
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
            Problem::BadStatus(why) => write!(f, "unreadable status file: {why}"),
            Problem::Stuck => f.write_str(
                "supervise is not reading its control FIFO (it is full): is it stopped or hung?",
            ),
            Problem::Io(what, e) => write!(f, "cannot {what}: {e}"),
        }
    }
}

impl std::error::Error for Problem {}

/// Tells apart "nothing there" from "not a status directory" for a missing FIFO.
fn missing(dir: &Path) -> Problem {
    if dir.is_dir() {
        Problem::NotStatusDir
    } else {
        Problem::NoSuchDirectory
    }
}

/// Opens a FIFO of `dir` for writing without blocking.
fn open_fifo(dir: &Path, name: &str) -> Result<fs::File, Problem> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join(name))
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => Problem::NotRunning,
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => missing(dir),
            _ => Problem::Io(format!("open {}", dir.join(name).display()), e),
        })
}

/// Writes control letters; fails at once if no supervise listens.
pub fn send(dir: &Path, letters: &[u8]) -> Result<(), Problem> {
    let mut fifo = open_fifo(dir, names::CONTROL)?;
    fifo.write_all(letters).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => Problem::Stuck,
        _ => Problem::Io(
            format!("write to {}", dir.join(names::CONTROL).display()),
            e,
        ),
    })
}

/// Whether a supervise runs on `dir`: its `ok` FIFO has a reader.
pub fn running(dir: &Path) -> Result<bool, Problem> {
    match open_fifo(dir, names::OK) {
        Ok(_) => Ok(true),
        Err(Problem::NotRunning) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads and decodes `status`.
pub fn read_status(dir: &Path) -> Result<Status, Problem> {
    let bytes = read_small(&dir.join(names::STATUS)).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound if dir.join(names::CONTROL).exists() => {
            Problem::BadStatus("there is no status file yet".into())
        }
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => missing(dir),
        _ => Problem::Io(format!("read {}", dir.join(names::STATUS).display()), e),
    })?;
    status::decode(&bytes).map_err(|e| Problem::BadStatus(format!("it {e}")))
}

/// Reads `state`: `None` when there is none (a legacy supervise writes only `status`),
/// `Some(Err)` when it is there but unreadable.
pub fn read_state(dir: &Path) -> Option<Result<Record, String>> {
    let text = read_small(&dir.join(names::STATE)).and_then(|b| {
        String::from_utf8(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    });
    match text {
        Ok(text) => Some(statefile::decode(&text).map_err(|e| e.to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(e.to_string())),
    }
}

/// The pid recorded in `lock`.
pub fn lock_pid(dir: &Path) -> Option<u32> {
    let bytes = read_small(&dir.join(names::LOCK)).ok()?;
    crate::statusdir::read_pid(&mut bytes.as_slice())
}

/// Reads one of a status directory's small files in three system calls: open, read,
/// close. A regular file on a local file system reads short only at its end (and
/// these are replaced by rename, never seen half-written), so the read that does not
/// fill the buffer is the last; `fs::read` would add a `statx` for the size and a read
/// that returns 0, which over a thousand directories is most of `svc status`.
fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = fs::File::open(path)?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        match file.read(&mut buf[len..]) {
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if len < buf.len() {
            buf.truncate(len);
            return Ok(buf);
        }
        buf.resize(buf.len() * 2, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_file_is_read_whole_whatever_its_size() {
        let tmp = tempfile::tempdir().unwrap();
        for len in [0, 20, 4095, 4096, 4097, 10_000] {
            let path = tmp.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            fs::write(&path, &data).unwrap();
            assert_eq!(read_small(&path).unwrap(), data, "{len} bytes");
        }
        let err = read_small(&tmp.path().join("nope")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn problems_are_told_apart() {
        let tmp = tempfile::tempdir().unwrap();
        let nowhere = tmp.path().join("nope");
        assert!(matches!(
            send(&nowhere, b"u"),
            Err(Problem::NoSuchDirectory)
        ));
        assert!(matches!(send(tmp.path(), b"u"), Err(Problem::NotStatusDir)));
        let file = tmp.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(matches!(send(&file, b"u"), Err(Problem::NoSuchDirectory)));
        nix::unistd::mkfifo(&tmp.path().join("control"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        nix::unistd::mkfifo(&tmp.path().join("ok"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(send(tmp.path(), b"u"), Err(Problem::NotRunning)));
        assert!(!running(tmp.path()).unwrap());
        assert!(matches!(
            read_status(tmp.path()),
            Err(Problem::BadStatus(_))
        ));
        assert!(read_state(tmp.path()).is_none());
    }

    #[test]
    fn a_listening_directory_takes_letters() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::statusdir::StatusDir::take(tmp.path()).unwrap();
        assert!(running(tmp.path()).unwrap());
        send(tmp.path(), b"dx").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(dir.read_control(&mut buf).unwrap(), 2);
        assert_eq!(lock_pid(tmp.path()), Some(std::process::id()));
    }

    #[test]
    fn truncated_status_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("status"), [0u8; 7]).unwrap();
        let e = read_status(tmp.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unreadable status file: it is 7 bytes long, expected 20"
        );
    }
}
