//! The service's standard output and error: straight into `__stdout`/`__stderr`, or
//! through supervise when they must be rotated or timestamped.
//!
//! **Direct** (the default, and the legacy behaviour): the child gets the files
//! themselves, opened for appending at every start. Supervise copies nothing.
//!
//! **Through supervise** (`log_max_size` or `log_timestamps` set): the child's
//! stdout and stderr are pipes that supervise creates once and keeps for its whole
//! life, so output written by a process of an earlier run still arrives. Supervise
//! polls the read ends with everything else and moves the bytes into the file with
//! `splice`, which copies nothing through user space, except around a rotation (to
//! cut at a line end) and with timestamps (which must see the lines). Rotation renames
//! `__stdout` to `__stdout.1` (and `.1` to `.2` ..., keeping `log_backups`) at the
//! first line end past `log_max_size`. The pipes hold 1 MB, and supervise drains
//! them whenever they have data, so the service does not block on its output.
//!
//! A write that fails (a full disk) is warned about once; from then on output is read
//! and dropped, so the service never blocks, until a write succeeds again, which is
//! tried with every new chunk and logged with the count of bytes lost.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;

use crate::log::Log;
use crate::statusdir::{Dir, HeldWatch};
use nix::sys::inotify::WatchDescriptor;

/// Where one of the service's output streams goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Sink {
    /// Its file in the status directory, `__stdout` or `__stderr` (the default;
    /// supervisord's `AUTO`).
    #[default]
    Status,
    /// A file elsewhere, as the config names it (supervisord's `stdout_logfile`).
    Path(std::path::PathBuf),
    /// Nowhere (`NONE`).
    Null,
    /// Supervise's own standard output (1) or error (2): `/dev/stdout`, as
    /// containers want, with no seek anywhere.
    Inherit(i32),
}

impl Sink {
    /// Reads `stdout_file`'s value.
    pub fn parse(v: &str) -> Sink {
        match v {
            "" | "AUTO" => Sink::Status,
            "NONE" => Sink::Null,
            "/dev/stdout" => Sink::Inherit(1),
            "/dev/stderr" => Sink::Inherit(2),
            p => Sink::Path(p.into()),
        }
    }

    /// Whether it is a file that can be rotated.
    fn rotates(&self) -> bool {
        matches!(self, Sink::Status | Sink::Path(_))
    }
}

/// How output is handled, from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Rotate past this size (0: never).
    pub max_size: u64,
    /// Rotated files to keep.
    pub backups: u32,
    /// Timestamp every line.
    pub timestamps: bool,
    /// One stream for both stdout and stderr, into `__stdout`.
    pub stderr_to_stdout: bool,
    /// The mode of the output files (`log_mode`).
    pub mode: u32,
    /// Where stdout goes.
    pub stdout: Sink,
    /// Where stderr goes.
    pub stderr: Sink,
    /// Text put before every line (`log_prefix`).
    pub prefix: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_size: 0,
            backups: 0,
            timestamps: false,
            stderr_to_stdout: false,
            mode: 0o600,
            stdout: Sink::Status,
            stderr: Sink::Status,
            prefix: None,
        }
    }
}

impl Settings {
    /// Whether output must pass through supervise.
    pub fn piped(&self) -> bool {
        self.max_size > 0 || self.timestamps || self.prefix.is_some()
    }

    /// Whether lines must be seen one by one (stamped or prefixed).
    fn by_line(&self) -> bool {
        self.timestamps || self.prefix.is_some()
    }
}

/// Most bytes moved per `splice` or read.
const CHUNK: usize = 64 * 1024;

/// Most chunks moved per wake-up: a service that writes without pause must not keep
/// the loop from signals, letters and deadlines; `poll` says at once that there is
/// more.
const CHUNKS_PER_TURN: usize = 16;

/// How big the pipes are made, so that a burst never blocks the service while
/// supervise is busy for a moment.
const PIPE_SIZE: i32 = 1 << 20;

/// The timestamp before each line: local time with microseconds.
pub fn timestamp(t: std::time::SystemTime) -> String {
    let micros = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros());
    format!("{}.{micros:06} ", crate::log::local_time(t))
}

/// One piped stream: its pipe and its file.
#[derive(Debug)]
pub struct Stream {
    /// The file's name in its directory (`__stdout`, `__stderr`, or the configured
    /// file's), for messages and rotation.
    name: String,
    /// Where it goes.
    sink: Sink,
    /// The directory of a configured file ([`Sink::Path`]), once opened.
    place: Option<Dir>,
    read: File,
    write: OwnedFd,
    file: Option<File>,
    size: u64,
    /// The last byte written ended a line (for timestamps).
    at_line_start: bool,
    /// Past `max_size`: the next line end rotates.
    rotate_pending: bool,
    /// Bytes dropped since writes started failing.
    dropped: Option<u64>,
}

impl Stream {
    fn new(status_name: &'static str, sink: Sink) -> io::Result<Stream> {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        // SAFETY: F_SETPIPE_SZ on our own pipe; failure (a lower system maximum) is fine.
        unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
        nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        let name = match &sink {
            Sink::Path(p) => p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            _ => status_name.to_owned(),
        };
        Ok(Stream {
            name,
            sink,
            place: None,
            read: File::from(r),
            write: w,
            file: None,
            size: 0,
            at_line_start: true,
            rotate_pending: false,
            dropped: None,
        })
    }

    /// The read end, for the poll loop.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

/// The service's output handling for one status directory.
#[derive(Debug)]
pub struct Output {
    settings: Settings,
    /// Piped streams: stdout, then stderr unless merged.
    streams: Vec<Stream>,
    /// Direct output's files, stdout then stderr, kept from one start to the next.
    held: [Option<Held>; 2],
    /// The watch the held files are on ([`Output::watch_with`]); a file on it is kept
    /// without looking at its name until [`Output::look_again`].
    watch: Option<HeldWatch>,
    /// An event came on the watch since the held files were last looked at.
    stale: [bool; 2],
}

/// A file of direct output, and what it is (device and inode) when it is a name in
/// the status directory: kept while that name still leads to it, so that a start
/// costs one `fstatat` per stream instead of an open, its checks and a close, and
/// nothing while the file is watched and no event came. A file moved away (a log
/// rotator), removed or replaced is opened again at the next start, as the legacy
/// tool opened it at every start.
#[derive(Debug)]
struct Held {
    file: File,
    id: Option<(u64, u64)>,
    watched: Option<WatchDescriptor>,
}

/// The two descriptors a child gets as stdout and stderr.
pub type ChildFds<'a> = (BorrowedFd<'a>, BorrowedFd<'a>);

impl Output {
    /// Output handling with these settings; pipes are made on first use.
    pub fn new(settings: Settings) -> Output {
        Output {
            settings,
            streams: Vec::new(),
            held: [None, None],
            watch: None,
            stale: [false; 2],
        }
    }

    /// Puts new settings in force (reload). Switching to direct output leaves the
    /// pipes in place for what earlier processes still write into them.
    pub fn configure(&mut self, settings: Settings) {
        self.settings = settings;
        self.let_go(0);
        self.let_go(1);
    }

    /// The read ends to poll.
    pub fn poll_fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.streams.iter().map(Stream::fd)
    }

    /// Descriptors for the next start of the service.
    pub fn for_child(&mut self, dir: &Dir, log: &Log) -> io::Result<ChildFds<'_>> {
        use crate::statusdir::names::{STDERR, STDOUT};
        let mode = self.settings.mode;
        if !self.settings.piped() {
            let merged = self.settings.stderr_to_stdout;
            self.hold(0, dir)?;
            if !merged {
                self.hold(1, dir)?;
            }
            let [out, err] = &self.held;
            let out = held_fd(out)?;
            let err = if merged { out } else { held_fd(err)? };
            return Ok((out, err));
        }
        let wanted = if self.settings.stderr_to_stdout { 1 } else { 2 };
        while self.streams.len() < wanted {
            let (name, sink) = if self.streams.is_empty() {
                (STDOUT, self.settings.stdout.clone())
            } else {
                (STDERR, self.settings.stderr.clone())
            };
            let mut s = Stream::new(name, sink).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot create the pipe for {name}: {e}"))
            })?;
            reopen(&mut s, dir, mode, log);
            self.streams.push(s);
        }
        let out = self.streams[0].write.as_fd();
        let err = if self.settings.stderr_to_stdout {
            out
        } else {
            self.streams[1].write.as_fd()
        };
        Ok((out, err))
    }

    /// Direct output: keeps the file of stream `i` (0 stdout, 1 stderr) if its name
    /// still leads to it, else opens it again.
    fn hold(&mut self, i: usize, dir: &Dir) -> io::Result<()> {
        use crate::statusdir::names::{STDERR, STDOUT};
        let (sink, name) = match i {
            0 => (&self.settings.stdout, STDOUT),
            _ => (&self.settings.stderr, STDERR),
        };
        let stale = std::mem::take(&mut self.stale[i]);
        let kept = self.held[i].as_ref().is_some_and(|h| match (sink, h.id) {
            (Sink::Status, Some(_)) if h.watched.is_some() && !stale => true,
            (Sink::Status, Some(id)) => dir
                .stat_of(name)
                .is_ok_and(|st| (st.st_dev, st.st_ino) == id),
            (Sink::Null | Sink::Inherit(_), _) => true,
            // A configured file is opened at every start, as before.
            _ => false,
        });
        if kept {
            return Ok(());
        }
        let sink = sink.clone();
        self.let_go(i);
        let file = open_sink(&sink, name, dir, true, self.settings.mode)?.0;
        let id = match sink {
            Sink::Status => nix::sys::stat::fstat(file.as_fd())
                .ok()
                .map(|st| (st.st_dev, st.st_ino)),
            _ => None,
        };
        let watched = self
            .watch
            .as_ref()
            .filter(|_| id.is_some())
            .and_then(|w| w.add(file.as_fd()).ok());
        self.held[i] = Some(Held { file, id, watched });
        Ok(())
    }

    /// Closes the held file of stream `i`, and stops watching it.
    fn let_go(&mut self, i: usize) {
        let held = self.held[i].take();
        if let (Some(w), Some(wd)) = (&self.watch, held.and_then(|h| h.watched)) {
            w.remove(wd);
        }
    }

    /// Watches the held files on `watch` (supervise's watch of the files it holds).
    pub fn watch_with(&mut self, watch: HeldWatch) {
        self.watch = Some(watch);
    }

    /// An event came on the watch: look at the names of the held files before the
    /// next start.
    pub fn look_again(&mut self) {
        self.stale = [true; 2];
    }

    /// Moves what is waiting in stream `i` into its file, up to
    /// [`CHUNKS_PER_TURN`] chunks; returns whether more may be waiting.
    pub fn drain(&mut self, i: usize, dir: &Dir, log: &Log) -> bool {
        let settings = &self.settings;
        let Some(s) = self.streams.get_mut(i) else {
            return false;
        };
        let mut buf = Vec::new();
        for _ in 0..CHUNKS_PER_TURN {
            let moved = if settings.by_line()
                || s.rotate_pending
                || s.dropped.is_some()
                || s.file.is_none()
            {
                copy_chunk(s, settings, &mut buf, dir, log)
            } else {
                splice_chunk(s, settings, &mut buf, dir, log)
            };
            if !moved {
                return false;
            }
        }
        true
    }

    /// How many streams there are.
    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    /// Reopens the files (external logrotate moved them away).
    pub fn reopen(&mut self, dir: &Dir, log: &Log) {
        self.let_go(0);
        self.let_go(1);
        for s in &mut self.streams {
            reopen(s, dir, self.settings.mode, log);
        }
    }
}

fn held_fd(h: &Option<Held>) -> io::Result<BorrowedFd<'_>> {
    h.as_ref()
        .map(|h| h.file.as_fd())
        .ok_or_else(|| io::Error::other("output file not open"))
}

/// Opens where a stream goes: its file in the status directory, a configured file
/// (the directory it is in, too, for rotation), `/dev/null`, or a copy of
/// supervise's own stdout or stderr.
fn open_sink(
    sink: &Sink,
    status_name: &str,
    dir: &Dir,
    append: bool,
    mode: u32,
) -> io::Result<(File, Option<Dir>)> {
    let named = |name: &str, e: crate::statusdir::FileError| {
        let kind = io::Error::from(e.errno().unwrap_or(nix::errno::Errno::EINVAL)).kind();
        io::Error::new(kind, format!("{name} {e}"))
    };
    match sink {
        Sink::Status => Ok((
            dir.open_write(status_name, append, mode)
                .map_err(|e| named(status_name, e))?,
            None,
        )),
        Sink::Path(p) => {
            let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
            let place = Dir::open(parent.unwrap_or(std::path::Path::new(".")))?;
            let name = p
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let f = place
                .open_write(&name, append, mode)
                .map_err(|e| named(&p.display().to_string(), e))?;
            Ok((f, Some(place)))
        }
        Sink::Null => Ok((
            std::fs::OpenOptions::new().write(true).open("/dev/null")?,
            None,
        )),
        Sink::Inherit(fd) => {
            // SAFETY: 1 and 2 are open for the whole life of the process.
            let borrowed = unsafe { BorrowedFd::borrow_raw(*fd) };
            Ok((File::from(borrowed.try_clone_to_owned()?), None))
        }
    }
}

/// Opens the stream's file for writing at its end (without O_APPEND: splice refuses
/// it, and supervise is the file's only writer).
fn reopen(s: &mut Stream, dir: &Dir, mode: u32, log: &Log) {
    let opened = open_sink(&s.sink, &s.name, dir, false, mode).map(|(mut f, place)| {
        // A pipe or a terminal has no end to seek to.
        let end = f.seek(SeekFrom::End(0)).unwrap_or(0);
        (f, end, place)
    });
    match opened {
        Ok((f, end, place)) => {
            s.file = Some(f);
            s.size = end;
            s.place = place;
        }
        Err(e) => {
            if s.dropped.is_none() {
                log.warn(format_args!(
                    "cannot open {}: {e}; its output is dropped until it can",
                    s.name
                ));
                s.dropped = Some(0);
            }
            s.file = None;
        }
    }
}

/// Splices one chunk, up to the rotation size; false when the pipe is empty.
fn splice_chunk(
    s: &mut Stream,
    settings: &Settings,
    buf: &mut Vec<u8>,
    dir: &Dir,
    log: &Log,
) -> bool {
    follow_end(s);
    let Some(file) = &s.file else {
        return copy_chunk(s, settings, buf, dir, log);
    };
    let room = if settings.max_size > 0 {
        settings.max_size.saturating_sub(s.size)
    } else {
        u64::MAX
    };
    if room == 0 {
        s.rotate_pending = true;
        return copy_chunk(s, settings, buf, dir, log);
    }
    let len = room.min(CHUNK as u64) as usize;
    // SAFETY: splice between two descriptors we own, offsets from the descriptors.
    let n = unsafe {
        libc::splice(
            s.read.as_raw_fd(),
            std::ptr::null_mut(),
            file.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
        )
    };
    if n > 0 {
        s.size += n as u64;
        return true;
    }
    if n == 0 {
        return false;
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock => false,
        io::ErrorKind::Interrupted => true,
        // A full disk, or the file cannot take a splice: copying handles both.
        _ => copy_chunk(s, settings, buf, dir, log),
    }
}

/// Reads one chunk and writes it (timestamps, rotation at a line end, dropping while
/// writes fail); false when the pipe is empty.
fn copy_chunk(
    s: &mut Stream,
    settings: &Settings,
    buf: &mut Vec<u8>,
    dir: &Dir,
    log: &Log,
) -> bool {
    if s.file.is_none() {
        // Try again with every chunk: the directory may be writable again.
        reopen(s, dir, settings.mode, log);
    }
    buf.resize(CHUNK, 0);
    let n = match s.read.read(buf) {
        Ok(0) => return false,
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return true,
        Err(_) => return false,
    };
    let data = &buf[..n];
    let data = if settings.by_line() {
        let mut head = String::new();
        if settings.timestamps {
            head.push_str(&timestamp(std::time::SystemTime::now()));
        }
        if let Some(p) = &settings.prefix {
            head.push_str(p);
        }
        stamp(data, &mut s.at_line_start, &head)
    } else {
        data.to_vec()
    };
    write_rotating(s, settings, &data, dir, log);
    true
}

/// Puts `head` (the time, a prefix) before every line start.
fn stamp(data: &[u8], at_line_start: &mut bool, head: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    for &b in data {
        if *at_line_start {
            out.extend_from_slice(head.as_bytes());
        }
        out.push(b);
        *at_line_start = b == b'\n';
    }
    out
}

/// Writes `data`, rotating at the first line end once the file is past the size.
fn write_rotating(s: &mut Stream, settings: &Settings, data: &[u8], dir: &Dir, log: &Log) {
    let mut rest = data;
    while !rest.is_empty() {
        let past = settings.max_size > 0
            && s.sink.rotates()
            && (s.rotate_pending || s.size + rest.len() as u64 > settings.max_size);
        if !past {
            write_or_drop(s, rest, log);
            return;
        }
        // Fill up to the limit, then to the next line end, then rotate.
        let room = settings.max_size.saturating_sub(s.size) as usize;
        let search_from = room.min(rest.len());
        let cut = match rest[search_from..].iter().position(|&b| b == b'\n') {
            Some(p) => search_from + p + 1,
            // No line end yet: a line longer than a chunk past the limit is cut.
            None if s.size + rest.len() as u64 > settings.max_size + CHUNK as u64 => rest.len(),
            None => {
                write_or_drop(s, rest, log);
                s.rotate_pending = true;
                return;
            }
        };
        write_or_drop(s, &rest[..cut], log);
        rotate(s, settings, dir, log);
        rest = &rest[cut..];
    }
}

/// Writes go to the end of the file as it is now, as with `O_APPEND` (which splice
/// refuses): an external `logrotate` with `copytruncate` truncates it under us.
fn follow_end(s: &mut Stream) {
    if let Some(f) = &mut s.file {
        if let Ok(end) = f.seek(SeekFrom::End(0)) {
            s.size = end;
        }
    }
}

fn write_or_drop(s: &mut Stream, data: &[u8], log: &Log) {
    follow_end(s);
    let result = match &mut s.file {
        Some(f) => f.write_all(data),
        None => Err(io::Error::other("the file is not open")),
    };
    match result {
        Ok(()) => {
            s.size += data.len() as u64;
            if let Some(lost) = s.dropped.take() {
                log.notice(format_args!(
                    "writing {} works again; {lost} bytes of output were lost",
                    s.name
                ));
            }
        }
        Err(e) => {
            if s.dropped.is_none() {
                log.warn(format_args!(
                    "cannot write {}: {e}; dropping the service's output until it can",
                    s.name
                ));
            }
            *s.dropped.get_or_insert(0) += data.len() as u64;
        }
    }
    if let Some(&last) = data.last() {
        s.at_line_start = last == b'\n';
    }
}

/// `__stdout` → `__stdout.1` → ... → `__stdout.N`, the oldest removed, and a new file.
fn rotate(s: &mut Stream, settings: &Settings, dir: &Dir, log: &Log) {
    s.rotate_pending = false;
    let backups = settings.backups;
    if backups == 0 {
        if let Some(f) = &mut s.file {
            if let Err(e) = f
                .set_len(0)
                .and_then(|_| f.seek(SeekFrom::Start(0)).map(|_| ()))
            {
                log.warn(format_args!("cannot truncate {}: {e}", s.name));
            }
        }
        s.size = 0;
        return;
    }
    // A configured file rotates in its own directory.
    let place = s.place.take();
    let home = place.as_ref().unwrap_or(dir);
    let _ = home.unlink(&format!("{}.{backups}", s.name));
    for i in (1..backups).rev() {
        let from = format!("{}.{i}", s.name);
        let to = format!("{}.{}", s.name, i + 1);
        match home.rename(&from, &to) {
            Ok(()) | Err(crate::statusdir::FileError::Missing) => {}
            Err(e) => log.warn(format_args!("cannot rename {from} to {to}: {e}")),
        }
    }
    let first = format!("{}.1", s.name);
    if let Err(e) = home.rename(&s.name, &first) {
        log.warn(format_args!("cannot rotate {}: {e}", s.name));
    }
    reopen(s, dir, settings.mode, log);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_every_line_start_across_chunks() {
        let mut start = true;
        let ts = timestamp(std::time::SystemTime::now());
        let a = stamp(b"one\ntw", &mut start, &ts);
        let b = stamp(b"o\nthree\n", &mut start, &ts);
        let text = String::from_utf8(a).unwrap() + &String::from_utf8(b).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        for (l, word) in lines.iter().zip(["one", "two", "three"]) {
            assert!(l.ends_with(word), "{l}");
            assert_eq!(l.len(), 27 + word.len(), "{l}");
        }
        assert!(start);
    }

    #[test]
    fn piped_only_when_needed() {
        assert!(!Settings::default().piped());
        assert!(
            !Settings {
                stderr_to_stdout: true,
                ..Settings::default()
            }
            .piped()
        );
        assert!(
            Settings {
                max_size: 1,
                ..Settings::default()
            }
            .piped()
        );
        assert!(
            Settings {
                timestamps: true,
                ..Settings::default()
            }
            .piped()
        );
    }

    fn setup(settings: Settings) -> (tempfile::TempDir, Dir, Output, Log) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        let log = Log::open_in(&dir, 0o600).unwrap();
        (tmp, dir, Output::new(settings), log)
    }

    fn child_stdout(out: &mut Output, dir: &Dir, log: &Log) -> File {
        let (o, _) = out.for_child(dir, log).unwrap();
        File::from(o.try_clone_to_owned().unwrap())
    }

    #[test]
    fn rotation_keeps_n_backups_and_cuts_at_line_ends() {
        let settings = Settings {
            max_size: 1000,
            backups: 2,
            ..Settings::default()
        };
        let (tmp, dir, mut out, log) = setup(settings);
        let mut w = child_stdout(&mut out, &dir, &log);
        let mut written = 0;
        for i in 0..200 {
            let line = format!("line {i:05} {}\n", "x".repeat(i % 37));
            w.write_all(line.as_bytes()).unwrap();
            written += 1;
            out.drain(0, &dir, &log);
        }
        let read = |n: &str| std::fs::read_to_string(tmp.path().join(n)).unwrap_or_default();
        let (cur, one, two, three) = (
            read("__stdout"),
            read("__stdout.1"),
            read("__stdout.2"),
            read("__stdout.3"),
        );
        assert!(three.is_empty(), "only two backups");
        for f in [&one, &two] {
            assert!(
                f.ends_with('\n') && f.len() as u64 >= 1000 && f.len() < 1100,
                "{}",
                f.len()
            );
        }
        // The newest lines are all there, whole and in order.
        let all: Vec<&str> = two.lines().chain(one.lines()).chain(cur.lines()).collect();
        let last = all.last().unwrap();
        assert!(last.starts_with("line 00199 "), "{last}");
        for pair in all.windows(2) {
            let n = |l: &str| l[5..10].parse::<u32>().unwrap();
            assert_eq!(n(pair[0]) + 1, n(pair[1]));
        }
        assert!(all.len() < written);
    }

    #[test]
    fn splice_moves_bytes_without_rotation() {
        let (tmp, dir, mut out, log) = setup(Settings {
            max_size: 1 << 30,
            ..Settings::default()
        });
        let mut w = child_stdout(&mut out, &dir, &log);
        let data = vec![b'a'; 300_000];
        let writer = std::thread::spawn(move || w.write_all(&data).unwrap());
        let mut got = 0;
        while got < 300_000 {
            out.drain(0, &dir, &log);
            got = std::fs::metadata(tmp.path().join("__stdout"))
                .unwrap()
                .len();
        }
        writer.join().unwrap();
        assert_eq!(got, 300_000);
    }

    #[test]
    fn reopen_follows_an_external_rotation() {
        let (tmp, dir, mut out, log) = setup(Settings {
            timestamps: true,
            ..Settings::default()
        });
        let mut w = child_stdout(&mut out, &dir, &log);
        w.write_all(b"before\n").unwrap();
        out.drain(0, &dir, &log);
        std::fs::rename(tmp.path().join("__stdout"), tmp.path().join("moved")).unwrap();
        out.reopen(&dir, &log);
        w.write_all(b"after\n").unwrap();
        out.drain(0, &dir, &log);
        let moved = std::fs::read_to_string(tmp.path().join("moved")).unwrap();
        let now = std::fs::read_to_string(tmp.path().join("__stdout")).unwrap();
        assert!(
            moved.ends_with(" before\n") && now.ends_with(" after\n"),
            "{moved:?} {now:?}"
        );
    }

    #[test]
    fn an_external_truncation_is_followed() {
        let (tmp, dir, mut out, log) = setup(Settings {
            max_size: 1 << 20,
            ..Settings::default()
        });
        let mut w = child_stdout(&mut out, &dir, &log);
        w.write_all(&[b'a'; 5000]).unwrap();
        out.drain(0, &dir, &log);
        // logrotate's copytruncate.
        std::fs::OpenOptions::new()
            .write(true)
            .open(tmp.path().join("__stdout"))
            .unwrap()
            .set_len(0)
            .unwrap();
        w.write_all(b"after\n").unwrap();
        out.drain(0, &dir, &log);
        assert_eq!(
            std::fs::read(tmp.path().join("__stdout")).unwrap(),
            b"after\n",
            "no hole"
        );
    }

    #[test]
    fn watched_direct_output_is_looked_at_after_an_event_only() {
        let (tmp, dir, mut out, log) = setup(Settings::default());
        let watch = HeldWatch::new().unwrap();
        out.watch_with(watch.try_clone().unwrap());
        let p = |n: &str| tmp.path().join(n);
        let start = |out: &mut Output, line: &[u8]| {
            child_stdout(out, &dir, &log).write_all(line).unwrap();
        };
        start(&mut out, b"one\n");
        std::fs::rename(p("__stdout"), p("moved")).unwrap();
        // Known to be moved only through the watch: until its event is taken, the
        // next start gets the file held, wherever it is now.
        start(&mut out, b"two\n");
        assert!(watch.drain(), "the move made an event");
        out.look_again();
        start(&mut out, b"three\n");
        assert_eq!(std::fs::read_to_string(p("moved")).unwrap(), "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(p("__stdout")).unwrap(), "three\n");
        // The file let go is no longer watched (its watch's removal says IN_IGNORED,
        // once); the new one is.
        let _ = watch.drain();
        std::fs::write(p("moved"), "x").unwrap();
        std::fs::remove_file(p("moved")).unwrap();
        assert!(!watch.drain(), "the old file is not watched any more");
        std::fs::remove_file(p("__stdout")).unwrap();
        assert!(watch.drain(), "the new one is");
        out.look_again();
        start(&mut out, b"four\n");
        assert_eq!(std::fs::read_to_string(p("__stdout")).unwrap(), "four\n");
    }
}
