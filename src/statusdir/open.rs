//! The one place that opens files in a status directory.
//!
//! A status directory is untrusted input: whoever can write to it (the service's own
//! user, when supervise runs as root for a service in that user's home) can put a
//! symbolic link, a FIFO, a hard link to someone else's file or a huge file under any
//! of its names. So every file is opened here, relative to the directory's descriptor
//! (a rename of the path cannot redirect us), with `O_NOFOLLOW` (a link is never
//! followed, for reading or writing, dangling or not), `O_NONBLOCK` (a FIFO never
//! blocks the open) and `O_CLOEXEC`, then checked with `fstat`: a regular file where
//! one is expected, a FIFO where one is expected, and for a file about to be written,
//! no other hard link (writing it would write them too). A reader that needs only the
//! bytes ([`Dir::read_bytes`], `svc`'s and the host's reads) asks `fstat` only when
//! its one read says something is off: a status of many costs three system calls a
//! file. Reads are bounded. Nothing
//! here deletes a file other than the squatters of names that are supervise's own by
//! contract (`status.new`, `state.new`, and non-FIFOs where a FIFO must be), and the
//! errors say what is wrong with a file without ever quoting what is in it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstat, fstatat};
use nix::unistd::mkfifoat;
use nix::unistd::{UnlinkatFlags, unlinkat};

/// What a file of the directory must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A FIFO.
    Fifo,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::File => "regular file",
            Kind::Fifo => "FIFO",
        }
    }

    fn of(st: &FileStat) -> Result<Kind, &'static str> {
        match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFREG => Ok(Kind::File),
            SFlag::S_IFIFO => Ok(Kind::Fifo),
            SFlag::S_IFDIR => Err("directory"),
            SFlag::S_IFLNK => Err("symbolic link"),
            SFlag::S_IFCHR => Err("character device"),
            SFlag::S_IFBLK => Err("block device"),
            SFlag::S_IFSOCK => Err("socket"),
            _ => Err("file of an unknown kind"),
        }
    }
}

/// Why a file of a status directory was not used.
#[derive(Debug)]
pub enum FileError {
    /// Nothing has that name.
    Missing,
    /// A symbolic link: never followed in a status directory.
    Link,
    /// Something else than what was expected: what it is, what was expected.
    WrongKind(&'static str, Kind),
    /// A regular file with more than one name: writing it would write the others.
    HardLinked(u64),
    /// Larger than this many bytes, the most that file may hold.
    TooBig(usize),
    /// What the system said.
    Io(Errno),
}

impl FileError {
    fn from_errno(e: Errno) -> FileError {
        match e {
            Errno::ENOENT => FileError::Missing,
            // O_NOFOLLOW on a link: ELOOP (EMLINK on some BSDs; this is Linux).
            Errno::ELOOP => FileError::Link,
            e => FileError::Io(e),
        }
    }

    /// The errno behind it, where there is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            FileError::Missing => Some(Errno::ENOENT),
            FileError::Io(e) => Some(*e),
            _ => None,
        }
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Missing => f.write_str("does not exist"),
            FileError::Link => {
                f.write_str("is a symbolic link (links are never followed in a status directory)")
            }
            FileError::WrongKind(what, want) => write!(f, "is a {what}, not a {}", want.name()),
            FileError::HardLinked(n) => write!(
                f,
                "has {n} hard links (writing it would write the other names too)"
            ),
            FileError::TooBig(max) => write!(f, "is larger than the {max} bytes it may hold"),
            FileError::Io(e) => write!(f, "{}", io::Error::from(*e)),
        }
    }
}

impl std::error::Error for FileError {}

impl From<FileError> for io::Error {
    fn from(e: FileError) -> io::Error {
        match e {
            FileError::Missing => io::Error::from(io::ErrorKind::NotFound),
            FileError::Io(errno) => io::Error::from(errno),
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// A file read whole, with who owns it and how many names it has.
#[derive(Debug)]
pub struct Contents {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The owner's uid.
    pub owner: u32,
    /// Its number of hard links.
    pub links: u64,
}

/// The flags of every open here.
fn base_flags() -> OFlag {
    OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY
}

/// Checks that `fd` is a `want`, and returns its metadata.
fn expect(fd: BorrowedFd<'_>, want: Kind) -> Result<FileStat, FileError> {
    let st = fstat(fd).map_err(FileError::Io)?;
    match Kind::of(&st) {
        Ok(k) if k == want => Ok(st),
        Ok(k) => Err(FileError::WrongKind(k.name(), want)),
        Err(what) => Err(FileError::WrongKind(what, want)),
    }
}

fn io_errno(e: &io::Error) -> FileError {
    FileError::Io(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// Reads at most `max` bytes; more is an error. `size` is the file's size as `fstat`
/// gave it: once that many bytes are in, the file is taken as read without a last
/// `read` to see its end (one system call less per file; a file that grew since is
/// read as it was, as it would be a moment earlier). Files whose size says nothing
/// (`/proc`'s, size 0) are read to their end.
fn read_bounded(file: &mut impl Read, max: usize, size: i64) -> Result<Vec<u8>, FileError> {
    // Room for one byte past the bound, to tell "exactly max" from "more".
    let mut buf = vec![0u8; (max + 1).min(4096)];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if len > max {
                return Err(FileError::TooBig(max));
            }
            buf.resize((buf.len() * 2).min(max + 1), 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if size > 0 && len as i64 == size && len < buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_errno(&e)),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// The effective uid, asked once per call site that needs it.
fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// A status directory, held by its descriptor, or only named ([`Dir::named`]).
#[derive(Debug)]
pub struct Dir {
    fd: Option<OwnedFd>,
    path: PathBuf,
}

impl Dir {
    /// Opens `path` for a reader (`svc`, the alarm sender): a link to the directory is
    /// followed, as any command-line path is; what is inside is opened only here.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = openat(
            nix::fcntl::AT_FDCWD,
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir::from_fd(fd, path))
    }

    /// `path` for a reader of many directories (`svc status`), without a descriptor:
    /// each file is opened as `path/name`, the last component never followed, with
    /// the same checks, so two system calls fewer a directory. The directories on the
    /// way are looked up at each open, as any command-line path is; what this gives
    /// is only ever read. A failure says less about its cause than through
    /// [`Dir::open`] (a missing directory looks like a missing file): read again
    /// through that to tell.
    pub fn named(path: &Path) -> Dir {
        Dir {
            fd: None,
            path: path.to_path_buf(),
        }
    }

    /// A directory opened elsewhere (supervise's careful walk, [`super::path`]).
    pub fn from_fd(fd: OwnedFd, path: &Path) -> Dir {
        Dir {
            fd: Some(fd),
            path: path.to_path_buf(),
        }
    }

    /// Another handle on the same directory (a new descriptor, close-on-exec).
    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir {
            fd: self.fd.as_ref().map(|f| f.try_clone()).transpose()?,
            path: self.path.clone(),
        })
    }

    /// The directory's descriptor (the current directory's for a named one, to which
    /// [`Dir::at`] names are relative).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().map_or(nix::fcntl::AT_FDCWD, |f| f.as_fd())
    }

    /// `name` as the system calls take it with [`Dir::fd`].
    fn at<'a>(&self, name: &'a str) -> std::borrow::Cow<'a, Path> {
        match self.fd {
            Some(_) => std::borrow::Cow::Borrowed(Path::new(name)),
            None => std::borrow::Cow::Owned(self.path.join(name)),
        }
    }

    /// The path it was opened by, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path/name`, for messages.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The directory's own metadata.
    pub fn stat(&self) -> io::Result<FileStat> {
        match &self.fd {
            Some(fd) => Ok(fstat(fd.as_fd())?),
            None => Ok(nix::sys::stat::stat(&self.path)?),
        }
    }

    /// Metadata of `name` itself (a link is not followed).
    pub fn stat_of(&self, name: &str) -> Result<FileStat, FileError> {
        fstatat(self.fd(), &*self.at(name), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(FileError::from_errno)
    }

    fn open_raw(&self, name: &str, flags: OFlag, mode: u32) -> Result<File, FileError> {
        let fd = openat(
            self.fd(),
            &*self.at(name),
            flags | base_flags(),
            Mode::from_bits_truncate(mode),
        )
        .map_err(FileError::from_errno)?;
        Ok(File::from(fd))
    }

    /// A FIFO nobody reads refuses a non-blocking open for writing with ENXIO: say
    /// what the file is instead.
    fn explain(&self, name: &str, e: FileError) -> FileError {
        match e {
            FileError::Io(Errno::ENXIO) => match self.stat_of(name) {
                Ok(st) => match Kind::of(&st) {
                    Ok(k) => FileError::WrongKind(k.name(), Kind::File),
                    Err(what) => FileError::WrongKind(what, Kind::File),
                },
                Err(_) => e,
            },
            e => e,
        }
    }

    /// Reads the regular file `name`, at most `max` bytes.
    pub fn read(&self, name: &str, max: usize) -> Result<Contents, FileError> {
        let mut file = self.open_raw(name, OFlag::O_RDONLY, 0)?;
        let st = expect(file.as_fd(), Kind::File)?;
        Ok(Contents {
            bytes: read_bounded(&mut file, max, st.st_size)?,
            owner: st.st_uid,
            links: links(&st),
        })
    }

    /// The bytes of the regular file `name`, at most `max`, for a reader that needs
    /// nothing else (`svc`, the host): one open, one read and one close when the file
    /// is shorter than the first read, as every file supervise writes is. `fstat` is
    /// asked only when that read says something is off (nothing read, an error, a
    /// full buffer), to name a FIFO, a device or a directory for what it is. A FIFO
    /// or device that hands over a short first read is taken as those bytes: the
    /// open never blocks nor follows a link, the read is bounded, and the bytes are
    /// decoded as hostile input whatever file they came from. Adoption, which weighs
    /// the owner and the links, reads with [`Dir::read`].
    pub fn read_bytes(&self, name: &str, max: usize) -> Result<Vec<u8>, FileError> {
        let mut file = self.open_raw(name, OFlag::O_RDONLY, 0)?;
        let mut first = [0u8; 1024];
        let room = max.saturating_add(1).min(first.len());
        if let Ok(n @ 1..) = file.read(&mut first[..room])
            && n < room
        {
            return Ok(first[..n].to_vec());
        }
        let st = expect(file.as_fd(), Kind::File)?;
        file.seek(SeekFrom::Start(0)).map_err(|e| io_errno(&e))?;
        read_bounded(&mut file, max, st.st_size)
    }

    /// Whether the FIFO `name` has a reader: a non-blocking open for writing succeeds
    /// (`Ok(true)`) or says `ENXIO` (`Ok(false)`). The file's kind is not asked:
    /// whoever can put a regular file there can as well hold a FIFO of theirs open for
    /// reading, so a kind check would prove nothing; nothing is written.
    pub fn has_reader(&self, name: &str) -> Result<bool, FileError> {
        match self.open_raw(name, OFlag::O_WRONLY, 0) {
            Ok(_) => Ok(true),
            Err(FileError::Io(Errno::ENXIO)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Opens the regular file `name` for reading (a reader that follows it).
    pub fn open_read(&self, name: &str) -> Result<File, FileError> {
        let file = self.open_raw(name, OFlag::O_RDONLY, 0)?;
        expect(file.as_fd(), Kind::File)?;
        Ok(file)
    }

    /// The last `max` bytes (at most) of the regular file `name`.
    pub fn read_tail(&self, name: &str, max: usize) -> Result<Vec<u8>, FileError> {
        let mut file = self.open_raw(name, OFlag::O_RDONLY, 0)?;
        let st = expect(file.as_fd(), Kind::File)?;
        let start = u64::try_from(st.st_size)
            .unwrap_or(0)
            .saturating_sub(max as u64);
        file.seek(SeekFrom::Start(start))
            .map_err(|e| io_errno(&e))?;
        read_bounded(&mut file.take(max as u64), max, st.st_size - start as i64)
    }

    /// Opens the regular file `name` for writing (appending, or at its start),
    /// creating it with `mode`. A file with other hard links is refused; a file
    /// supervise owns is given `mode` (narrower or wider) if it has another.
    pub fn open_write(&self, name: &str, append: bool, mode: u32) -> Result<File, FileError> {
        let append = if append {
            OFlag::O_APPEND
        } else {
            OFlag::empty()
        };
        let file = self
            .open_raw(name, OFlag::O_WRONLY | OFlag::O_CREAT | append, mode)
            .map_err(|e| self.explain(name, e))?;
        own_mode(&file, mode)?;
        Ok(file)
    }

    /// Empties the regular file `name` (a service's output, cleared on request): never
    /// created, never through a link, never a file with another name.
    pub fn truncate(&self, name: &str) -> Result<(), FileError> {
        let file = self
            .open_raw(name, OFlag::O_WRONLY, 0)
            .map_err(|e| self.explain(name, e))?;
        let st = expect(file.as_fd(), Kind::File)?;
        single_name(&st)?;
        file.set_len(0).map_err(|e| io_errno(&e))
    }

    /// Opens the regular file `name` for reading and writing (the lock), creating it.
    pub fn open_lock(&self, name: &str, mode: u32) -> Result<File, FileError> {
        let file = self
            .open_raw(name, OFlag::O_RDWR | OFlag::O_CREAT, mode)
            .map_err(|e| self.explain(name, e))?;
        let st = expect(file.as_fd(), Kind::File)?;
        single_name(&st)?;
        Ok(file)
    }

    /// Opens the FIFO `name` without blocking, for reading or for writing (which fails
    /// with ENXIO when nobody reads it).
    pub fn open_fifo(&self, name: &str, write: bool) -> Result<File, FileError> {
        let access = if write {
            OFlag::O_WRONLY
        } else {
            OFlag::O_RDONLY
        };
        let file = self.open_raw(name, access, 0)?;
        expect(file.as_fd(), Kind::Fifo)?;
        Ok(file)
    }

    /// Makes `name` a FIFO of supervise's with mode 0600 and returns its read end:
    /// one that is there and ours is kept, anything else under that name (a file, a
    /// link, someone else's FIFO) is replaced. The mode is set on the open FIFO, never
    /// through the name, which could have been swapped for a link meanwhile.
    pub fn make_fifo(&self, name: &str) -> Result<File, FileError> {
        match self.stat_of(name) {
            Ok(st) if Kind::of(&st) == Ok(Kind::Fifo) && st.st_uid == euid() => {}
            Ok(_) => {
                self.unlink(name)?;
                mkfifoat(self.fd(), &*self.at(name), Mode::from_bits_truncate(0o600))
                    .map_err(FileError::Io)?;
            }
            Err(FileError::Missing) => {
                mkfifoat(self.fd(), &*self.at(name), Mode::from_bits_truncate(0o600))
                    .map_err(FileError::Io)?;
            }
            Err(e) => return Err(e),
        }
        let fifo = self.open_fifo(name, false)?;
        if fstat(fifo.as_fd()).map_err(FileError::Io)?.st_mode & 0o7777 != 0o600 {
            fchmod(fifo.as_fd(), Mode::from_bits_truncate(0o600)).map_err(FileError::Io)?;
        }
        Ok(fifo)
    }

    /// Binds a datagram socket (close-on-exec, non-blocking) as `name`, replacing
    /// whatever had the name: the systemd notification socket. Made with mode 0600
    /// (the umask is set around the bind: supervise has no other thread) and given to
    /// `owner` when that is another user (the service's), who must be able to send.
    /// `bind` never follows a link: a name taken again in between makes it fail.
    pub fn bind_datagram(&self, name: &str, owner: Option<u32>) -> Result<OwnedFd, FileError> {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, socket};
        self.unlink(name)?;
        let sock = socket(
            AddressFamily::Unix,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(FileError::Io)?;
        let addr = match &self.fd {
            Some(fd) => UnixAddr::new(&proc_path(fd.as_fd()).join(name)),
            None => UnixAddr::new(&*self.at(name)),
        }
        .map_err(FileError::Io)?;
        let old = nix::sys::stat::umask(Mode::from_bits_truncate(0o177));
        let bound = bind(sock.as_raw_fd(), &addr);
        nix::sys::stat::umask(old);
        bound.map_err(FileError::Io)?;
        if let Some(uid) = owner.filter(|&u| u != euid()) {
            nix::unistd::fchownat(
                self.fd(),
                &*self.at(name),
                Some(nix::unistd::Uid::from_raw(uid)),
                None,
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(FileError::Io)?;
        }
        Ok(sock)
    }

    /// Removes the name `name` (a link is removed, never what it points to).
    pub fn unlink(&self, name: &str) -> Result<(), FileError> {
        match unlinkat(self.fd(), &*self.at(name), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(FileError::Io(e)),
        }
    }

    /// Renames `from` to `to` within the directory.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), FileError> {
        renameat(self.fd(), &*self.at(from), self.fd(), &*self.at(to))
            .map_err(FileError::from_errno)
    }

    /// Replaces `name` with `bytes` atomically: a new file `tmp` (whatever squats that
    /// name, supervise's own by contract, is removed first), then a rename over
    /// `name`. A reader sees the old file or the new one, never a part.
    pub fn write_atomic(&self, tmp: &str, name: &str, bytes: &[u8]) -> Result<(), FileError> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
        let mut file = match self.open_raw(tmp, flags, 0o644) {
            Err(FileError::Io(Errno::EEXIST)) => {
                self.unlink(tmp)?;
                self.open_raw(tmp, flags, 0o644)?
            }
            other => other?,
        };
        file.write_all(bytes).map_err(|e| io_errno(&e))?;
        drop(file);
        self.rename(tmp, name)
    }
}

/// Reads a regular file the operator named (a config file): a link to it is followed,
/// but a FIFO or a device is refused without blocking, and at most `max` bytes are
/// read.
pub fn read_named(path: &Path, max: usize) -> Result<Vec<u8>, FileError> {
    let fd = openat(
        nix::fcntl::AT_FDCWD,
        path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map_err(FileError::from_errno)?;
    let mut file = File::from(fd);
    let st = expect(file.as_fd(), Kind::File)?;
    read_bounded(&mut file, max, st.st_size)
}

/// Reads a regular file the service may control (a forking daemon's pidfile): the
/// last component is never followed (`O_PATH | O_NOFOLLOW`), the file is checked with
/// `fstat` before it is opened for reading (a device or a FIFO is never opened at all),
/// it must belong to one of `owners`, and at most `max` bytes are read.
pub fn read_owned(path: &Path, owners: &[u32], max: usize) -> Result<Vec<u8>, FileError> {
    let handle = openat(
        nix::fcntl::AT_FDCWD,
        path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(FileError::from_errno)?;
    let st = expect(handle.as_fd(), Kind::File)?;
    if !owners.contains(&st.st_uid) {
        return Err(FileError::Io(Errno::EPERM));
    }
    let fd = openat(
        nix::fcntl::AT_FDCWD,
        &proc_path(handle.as_fd()),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map_err(FileError::from_errno)?;
    let mut file = File::from(fd);
    let st = expect(file.as_fd(), Kind::File)?;
    read_bounded(&mut file, max, st.st_size)
}

/// How many names a file has (`nlink_t` is 32 bits on some targets).
#[allow(clippy::useless_conversion)]
fn links(st: &FileStat) -> u64 {
    u64::from(st.st_nlink)
}

/// Refuses a file with more than one name.
fn single_name(st: &FileStat) -> Result<(), FileError> {
    match links(st) {
        0 | 1 => Ok(()),
        n => Err(FileError::HardLinked(n)),
    }
}

/// Checks a file opened for writing (regular, one name) and gives it `mode` if it is
/// supervise's own and has another one.
fn own_mode(file: &File, mode: u32) -> Result<(), FileError> {
    let st = expect(file.as_fd(), Kind::File)?;
    single_name(&st)?;
    if st.st_uid == euid() && st.st_mode & 0o7777 != mode {
        fchmod(file.as_fd(), Mode::from_bits_truncate(mode)).map_err(FileError::Io)?;
    }
    Ok(())
}

/// The raw descriptor number of `fd`, for `/proc/self/fd/N` paths.
pub fn proc_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    fn dir() -> (tempfile::TempDir, Dir) {
        let tmp = tempfile::tempdir().unwrap();
        let d = Dir::open(tmp.path()).unwrap();
        (tmp, d)
    }

    #[test]
    fn a_readers_read_is_whole_bounded_and_names_what_is_not_a_file() {
        let (tmp, d) = dir();
        // Short files come in one read; at and past the first read's room, and at the
        // bound, the file is still read whole and exactly.
        for len in [0, 1, 20, 1023, 1024, 1025, 4096, 10_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(tmp.path().join("f"), &data).unwrap();
            assert_eq!(d.read_bytes("f", 10_000).unwrap(), data, "{len}");
        }
        assert!(matches!(
            d.read_bytes("f", 9_999),
            Err(FileError::TooBig(9_999))
        ));
        std::fs::write(tmp.path().join("s"), [7u8; 21]).unwrap();
        assert!(matches!(d.read_bytes("s", 20), Err(FileError::TooBig(20))));
        assert!(matches!(d.read_bytes("nope", 10), Err(FileError::Missing)));
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        assert!(matches!(
            d.read_bytes("sub", 10),
            Err(FileError::WrongKind("directory", Kind::File))
        ));
        nix::unistd::mkfifo(&tmp.path().join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(
            d.read_bytes("fifo", 10),
            Err(FileError::WrongKind("FIFO", Kind::File))
        ));
        // A FIFO whose writer stays, with nothing in it: still no block.
        let w = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(tmp.path().join("fifo"))
            .unwrap();
        assert!(matches!(
            d.read_bytes("fifo", 10),
            Err(FileError::WrongKind("FIFO", Kind::File))
        ));
        drop(w);
        symlink(tmp.path().join("f"), tmp.path().join("l")).unwrap();
        assert!(matches!(d.read_bytes("l", 10), Err(FileError::Link)));
    }

    #[test]
    fn a_fifo_has_a_reader_or_not() {
        let (tmp, d) = dir();
        assert!(matches!(d.has_reader("ok"), Err(FileError::Missing)));
        nix::unistd::mkfifo(&tmp.path().join("ok"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(!d.has_reader("ok").unwrap());
        let r = d.open_fifo("ok", false).unwrap();
        assert!(d.has_reader("ok").unwrap());
        drop(r);
        assert!(!d.has_reader("ok").unwrap());
        symlink(tmp.path().join("ok"), tmp.path().join("l")).unwrap();
        assert!(matches!(d.has_reader("l"), Err(FileError::Link)));
    }

    #[test]
    fn reads_are_bounded_and_exact_at_the_bound() {
        let (tmp, d) = dir();
        for len in [0, 20, 4095, 4096, 4097, 10_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(tmp.path().join("f"), &data).unwrap();
            assert_eq!(d.read("f", 10_000).unwrap().bytes, data, "{len}");
        }
        assert!(matches!(d.read("f", 9_999), Err(FileError::TooBig(9_999))));
        assert!(matches!(d.read("nope", 10), Err(FileError::Missing)));
        // A file whose size says nothing (0 in /proc) is read to its end.
        let maps = read_named(Path::new("/proc/self/smaps"), 1 << 22).unwrap();
        assert!(
            maps.len() > 3 * 4096 && maps.ends_with(b"\n"),
            "{}",
            maps.len()
        );
    }

    #[test]
    fn a_tail_is_the_end_of_the_file() {
        let (tmp, d) = dir();
        std::fs::write(tmp.path().join("f"), "0123456789").unwrap();
        assert_eq!(d.read_tail("f", 4).unwrap(), b"6789");
        assert_eq!(d.read_tail("f", 40).unwrap(), b"0123456789");
        symlink(tmp.path().join("f"), tmp.path().join("l")).unwrap();
        assert!(matches!(d.read_tail("l", 4), Err(FileError::Link)));
    }

    #[test]
    fn links_are_never_followed() {
        let (tmp, d) = dir();
        std::fs::write(tmp.path().join("secret"), "root:x").unwrap();
        symlink(tmp.path().join("secret"), tmp.path().join("state")).unwrap();
        symlink(tmp.path().join("nowhere"), tmp.path().join("dangling")).unwrap();
        assert!(matches!(d.read("state", 100), Err(FileError::Link)));
        assert!(matches!(
            d.open_write("state", true, 0o600),
            Err(FileError::Link)
        ));
        assert!(matches!(
            d.open_write("dangling", true, 0o600),
            Err(FileError::Link)
        ));
        assert!(!tmp.path().join("nowhere").exists(), "no file made");
        assert!(matches!(d.open_lock("state", 0o644), Err(FileError::Link)));
        let err = d.read("state", 100).unwrap_err().to_string();
        assert!(!err.contains("root"), "{err}");
        assert_eq!(std::fs::read(tmp.path().join("secret")).unwrap(), b"root:x");
    }

    #[test]
    fn fifos_never_block_and_are_refused_where_a_file_is_wanted() {
        let (tmp, d) = dir();
        nix::unistd::mkfifo(&tmp.path().join("state"), Mode::from_bits_truncate(0o600)).unwrap();
        let err = d.read("state", 100).unwrap_err();
        assert!(
            matches!(err, FileError::WrongKind("FIFO", Kind::File)),
            "{err:?}"
        );
        assert!(matches!(
            d.open_write("state", true, 0o600),
            Err(FileError::WrongKind("FIFO", Kind::File))
        ));
        // A squatting FIFO at a temporary name is replaced, not opened.
        nix::unistd::mkfifo(&tmp.path().join("s.new"), Mode::from_bits_truncate(0o600)).unwrap();
        d.write_atomic("s.new", "s", b"x").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("s")).unwrap(), b"x");
    }

    #[test]
    fn hard_links_are_not_written() {
        let (tmp, d) = dir();
        std::fs::write(tmp.path().join("other"), "keep").unwrap();
        std::fs::hard_link(tmp.path().join("other"), tmp.path().join("supervise.log")).unwrap();
        assert!(matches!(
            d.open_write("supervise.log", true, 0o600),
            Err(FileError::HardLinked(2))
        ));
        assert!(matches!(
            d.open_lock("supervise.log", 0o644),
            Err(FileError::HardLinked(2))
        ));
        assert_eq!(std::fs::read(tmp.path().join("other")).unwrap(), b"keep");
    }

    #[test]
    fn written_files_get_the_mode_asked() {
        let (tmp, d) = dir();
        let p = tmp.path().join("__stdout");
        std::fs::write(&p, "").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        d.open_write("__stdout", true, 0o600).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        d.open_write("__stdout", true, 0o640).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o640);
    }

    #[test]
    fn fifos_are_made_ours_with_mode_0600() {
        let (tmp, d) = dir();
        std::fs::write(tmp.path().join("control"), "junk").unwrap();
        let _r = d.make_fifo("control").unwrap();
        let m = std::fs::symlink_metadata(tmp.path().join("control")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()));
        assert_eq!(m.mode() & 0o777, 0o600);
        symlink("/etc/passwd", tmp.path().join("ok")).unwrap();
        let _ok = d.make_fifo("ok").unwrap();
        let m = std::fs::symlink_metadata(tmp.path().join("ok")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()));
    }

    #[test]
    fn atomic_write_replaces_whatever_squats_the_temporary_name() {
        let (tmp, d) = dir();
        std::fs::write(tmp.path().join("victim"), "keep").unwrap();
        symlink(tmp.path().join("victim"), tmp.path().join("status.new")).unwrap();
        d.write_atomic("status.new", "status", b"new").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("victim")).unwrap(), b"keep");
        assert_eq!(std::fs::read(tmp.path().join("status")).unwrap(), b"new");
        std::fs::hard_link(tmp.path().join("victim"), tmp.path().join("status.new")).unwrap();
        d.write_atomic("status.new", "status", b"two").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("victim")).unwrap(), b"keep");
    }

    #[test]
    fn a_named_dir_reads_as_a_held_one_and_follows_no_last_link() {
        let tmp = tempfile::tempdir().unwrap();
        let d = Dir::named(tmp.path());
        let p = |n: &str| tmp.path().join(n);
        std::fs::write(p("status"), b"twenty bytes here...").unwrap();
        assert_eq!(d.read_bytes("status", 20).unwrap(), b"twenty bytes here...");
        assert!(matches!(
            d.read_bytes("status", 4),
            Err(FileError::TooBig(_))
        ));
        assert!(matches!(d.read_bytes("none", 20), Err(FileError::Missing)));
        std::fs::write(p("victim"), b"secret").unwrap();
        symlink(p("victim"), p("state")).unwrap();
        assert!(d.read_bytes("state", 64).is_err(), "a link is not followed");
        assert!(d.stat_of("state").is_ok_and(|st| Kind::of(&st).is_err()));
        nix::unistd::mkfifo(&p("ok"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(!d.has_reader("ok").unwrap());
        let _reader = Dir::open(tmp.path())
            .unwrap()
            .open_fifo("ok", false)
            .unwrap();
        assert!(d.has_reader("ok").unwrap());
        assert_eq!(
            d.stat().unwrap().st_ino,
            std::fs::metadata(tmp.path()).unwrap().ino()
        );
        // Missing, the directory and the file look alike: Dir::open tells them apart.
        let gone = Dir::named(&tmp.path().join("gone"));
        assert!(matches!(
            gone.read_bytes("status", 20),
            Err(FileError::Missing)
        ));
    }
}
