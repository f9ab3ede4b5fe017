//! Supervise's own log: NOTICE lines to `supervise.log`, WARNING and FATAL lines to
//! `supervise.log.wf`, in the legacy format `[NOTICE] 2026-11-21 10:00:00 message`
//! (local time).
//!
//! Lines are written whole with one `write` to a file opened with `O_APPEND`, so they
//! never interleave and an external `logrotate` with `copytruncate` keeps working. In
//! a loop that calls [`Log::turn`] (supervise's), the lines of one turn go together in
//! one `write` when the turn ends ([`Log::flush`], before the loop waits again): a
//! restart's two lines cost one system call, not two. A line
//! that cannot be written (a full disk) is kept, up to [`PENDING`] lines, and written
//! before the next line that can be, with a count of any that had to be dropped: the
//! warning about a full disk is exactly the line a full disk would lose. The log never
//! stops supervision.

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;

use nix::sys::inotify::WatchDescriptor;

use crate::statusdir::HeldWatch;

/// Severity of a line; it decides the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Normal operation: starts, exits, letters.
    Notice,
    /// Something went wrong and supervise carries on.
    Warning,
    /// Supervise cannot carry on.
    Fatal,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Notice => "NOTICE",
            Level::Warning => "WARNING",
            Level::Fatal => "FATAL",
        }
    }
}

/// Formats one line, newline included: two spaces between the time and the message,
/// as the legacy tool writes them (monitoring greps for its exact lines).
pub fn format_line(level: Level, when: &str, msg: &dyn Display) -> String {
    format!("[{}] {when}  {msg}\n", level.tag())
}

/// The current local time as the log shows it.
pub fn now_local() -> String {
    local_time(std::time::SystemTime::now())
}

/// A wall-clock time as `YYYY-MM-DD HH:MM:SS` in the local time zone.
///
/// glibc's `localtime_r` rather than chrono: it is code every process on the host
/// already shares, where chrono's time-zone parser would add tens of kilobytes of
/// text that only supervise maps (see docs/BENCHMARKS.md).
pub fn local_time(t: std::time::SystemTime) -> String {
    let secs = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as libc::time_t,
        Err(_) => 0,
    };
    // SAFETY: localtime_r fills the zeroed tm we own; a null return leaves it zeroed.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Most unwritten lines kept per file.
pub const PENDING: usize = 32;

/// Lines that could not be written yet, and how many were dropped beyond [`PENDING`].
#[derive(Debug, Default)]
struct Backlog {
    lines: Vec<String>,
    dropped: u64,
}

/// A log file past this size is moved to `NAME.1` and started again (the legacy
/// tool's bound, below 2 GB for old 32-bit readers).
pub const ROTATE_AT: u64 = 1_800_000_000;

/// The file names of the two logs, NOTICE then WARNING.
const NAMES: [&str; 2] = [
    crate::statusdir::names::LOG,
    crate::statusdir::names::LOG_WF,
];

/// One open log file, which file it is (device and inode), and its watch if it has one.
#[derive(Debug)]
struct Sink {
    file: File,
    id: (u64, u64),
    watched: Option<WatchDescriptor>,
}

impl Sink {
    fn new(file: File) -> Sink {
        let id = nix::sys::stat::fstat(file.as_fd()).map_or((0, 0), |st| (st.st_dev, st.st_ino));
        Sink {
            file,
            id,
            watched: None,
        }
    }
}

/// Bytes written to a watched log between two looks at its size.
const LOOK_BYTES: u64 = 64 * 1024;

/// Where the logs are, to open them again when they are moved, removed or too big.
#[derive(Debug)]
struct Reopen {
    dir: crate::statusdir::Dir,
    mode: u32,
}

/// The two log files of a status directory.
#[derive(Debug)]
pub struct Log {
    sinks: RefCell<[Sink; 2]>,
    /// Which files were looked at this turn (see [`Log::turn`]); `None` until the
    /// first turn: every line looks.
    looked: Cell<Option<[bool; 2]>>,
    backlog: RefCell<[Backlog; 2]>,
    reopen: Option<Reopen>,
    /// Every line, of every level, is written here too (a foreground host's stdout).
    copy: Option<File>,
    /// In turns: this turn's lines for each file, written when it ends.
    pending: RefCell<[Vec<u8>; 2]>,
    /// The last second shown and how it was shown: a turn's lines share it.
    clock: RefCell<(i64, String)>,
    /// Watches on the files held ([`Log::watch_with`]): their names are looked at
    /// only when an event says the file was moved, removed or changed
    /// ([`Log::look_again`]), or every [`LOOK_BYTES`] written (for the size bound),
    /// instead of once a turn.
    watch: Option<HeldWatch>,
    /// Per file: an event came since the last look.
    stale: Cell<[bool; 2]>,
    /// Per file: bytes written since the last look.
    unlooked: Cell<[u64; 2]>,
}

/// A turn's lines for one file past this size are written at once.
const TURN_BYTES: usize = 4096;

impl Log {
    /// Wraps the two files, already opened for appending.
    pub fn new(notice: File, warn: File) -> Log {
        Log {
            sinks: RefCell::new([Sink::new(notice), Sink::new(warn)]),
            looked: Cell::new(None),
            backlog: RefCell::new([Backlog::default(), Backlog::default()]),
            reopen: None,
            copy: None,
            pending: RefCell::new([Vec::new(), Vec::new()]),
            clock: RefCell::new((i64::MIN, String::new())),
            watch: None,
            stale: Cell::new([false; 2]),
            unlooked: Cell::new([0; 2]),
        }
    }

    /// Watches the files held on `watch` (supervise's watch of the files it holds):
    /// from then on their names are looked at only when [`Log::look_again`] says to,
    /// or every [`LOOK_BYTES`]. A file that cannot be watched is looked at once a turn.
    pub fn watch_with(&mut self, watch: HeldWatch) {
        for sink in self.sinks.get_mut().iter_mut() {
            sink.watched = watch.add(sink.file.as_fd()).ok();
        }
        self.watch = Some(watch);
    }

    /// An event came on the watch: look at both names before their next lines.
    pub fn look_again(&self) {
        self.stale.set([true; 2]);
    }

    /// Whether the file held is known to be still the one its name leads to, and
    /// small enough, without looking.
    fn known(&self, which: usize) -> bool {
        self.sinks.borrow()[which].watched.is_some()
            && !self.stale.get()[which]
            && self.unlooked.get()[which] < LOOK_BYTES
    }

    /// After a look at file `which`: nothing new is known to have happened to it.
    fn looked_at(&self, which: usize) {
        let mut stale = self.stale.get();
        stale[which] = false;
        self.stale.set(stale);
        let mut unlooked = self.unlooked.get();
        unlooked[which] = 0;
        self.unlooked.set(unlooked);
    }

    /// One file for every level, and every line written to `copy` as well.
    pub fn tee(file: File, copy: File) -> std::io::Result<Log> {
        let mut log = Log::new(file.try_clone()?, file);
        log.copy = Some(copy);
        Ok(log)
    }

    /// Opens (creating, with `mode`) `supervise.log` and `supervise.log.wf` in a
    /// status directory for appending, and opens them again before a line whenever
    /// the name no longer leads to the file held (removed, or moved away by a log
    /// rotator, with or without a new file put in its place) or the file passed
    /// [`ROTATE_AT`] bytes. The error names the file that could not be opened.
    pub fn in_dir(
        dir: &crate::statusdir::Dir,
        mode: u32,
    ) -> Result<Log, (&'static str, crate::statusdir::FileError)> {
        let open = |name: &'static str| dir.open_write(name, true, mode).map_err(|e| (name, e));
        let mut log = Log::new(open(NAMES[0])?, open(NAMES[1])?);
        log.reopen = dir.try_clone().ok().map(|dir| Reopen { dir, mode });
        Ok(log)
    }

    /// [`Log::in_dir`], for tests and tools that only need an `io::Result`.
    pub fn open_in(dir: &crate::statusdir::Dir, mode: u32) -> std::io::Result<Log> {
        Log::in_dir(dir, mode).map_err(|(_, e)| e.into())
    }

    /// NOTICE lines to standard output and the others to standard error: for a
    /// helper whose parent made those the two log files.
    pub fn stdio() -> std::io::Result<Log> {
        use std::os::fd::AsFd;
        Ok(Log::new(
            File::from(std::io::stdout().as_fd().try_clone_to_owned()?),
            File::from(std::io::stderr().as_fd().try_clone_to_owned()?),
        ))
    }

    /// Copies of the two files, NOTICE then WARNING: what a helper's stdout and
    /// stderr become.
    pub fn fds(&self) -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
        // What the helper writes comes after what is already said.
        self.flush();
        let sinks = self.sinks.borrow();
        Ok((
            sinks[0].file.as_fd().try_clone_to_owned()?,
            sinks[1].file.as_fd().try_clone_to_owned()?,
        ))
    }

    /// A new turn of a loop (supervise's, after each `poll`): each file is looked at
    /// before its first line of the turn only, not before every line. The lines of
    /// one turn are microseconds apart; one that a rotator's move overtakes goes to
    /// the moved file, as any appender's would. From the first call on, lines wait for
    /// the end of their turn ([`Log::flush`]); until then each is written at once and
    /// every line looks.
    pub fn turn(&self) {
        self.flush();
        self.looked.set(Some([false; 2]));
    }

    /// Writes the lines of this turn: the loop calls it before it waits, and before
    /// anything that must come after them (a helper given the log, an exit).
    pub fn flush(&self) {
        for which in 0..NAMES.len() {
            let mut lines = std::mem::take(&mut self.pending.borrow_mut()[which]);
            if !lines.is_empty() {
                self.emit(which, &lines);
                lines.clear();
            }
            // The buffer back, for the next turn's lines.
            self.pending.borrow_mut()[which] = lines;
        }
    }

    /// Before a line: opens the file again if its name leads elsewhere now, or moves
    /// it to `NAME.1` first if it is too big. Any failure keeps the file held.
    fn follow(&self, which: usize) {
        let Some(r) = &self.reopen else {
            return;
        };
        if self.known(which) {
            return;
        }
        if let Some(mut looked) = self.looked.get() {
            if looked[which] {
                return;
            }
            looked[which] = true;
            self.looked.set(Some(looked));
        }
        self.looked_at(which);
        let name = NAMES[which];
        let id = self.sinks.borrow()[which].id;
        match r.dir.stat_of(name) {
            Ok(st) if (st.st_dev, st.st_ino) == id => {
                if u64::try_from(st.st_size).unwrap_or(0) <= ROTATE_AT {
                    return;
                }
                if r.dir.rename(name, &format!("{name}.1")).is_err() {
                    return;
                }
            }
            _ => {}
        }
        if let Ok(file) = r.dir.open_write(name, true, r.mode) {
            let mut sink = Sink::new(file);
            if let Some(w) = &self.watch {
                sink.watched = w.add(sink.file.as_fd()).ok();
            }
            let new = sink.watched;
            let old = std::mem::replace(&mut self.sinks.borrow_mut()[which], sink);
            // (The same inode would have the same watch.)
            if let (Some(w), Some(wd)) = (&self.watch, old.watched.filter(|&o| Some(o) != new)) {
                w.remove(wd);
            }
        }
    }

    /// Writes a NOTICE line.
    pub fn notice(&self, msg: impl Display) {
        self.write(Level::Notice, &msg);
    }

    /// Writes a WARNING line.
    pub fn warn(&self, msg: impl Display) {
        self.write(Level::Warning, &msg);
    }

    /// Writes a FATAL line.
    pub fn fatal(&self, msg: impl Display) {
        self.write(Level::Fatal, &msg);
    }

    fn write(&self, level: Level, msg: &dyn Display) {
        let line = format_line(level, &self.stamp(), msg);
        let which = match level {
            Level::Notice => 0,
            Level::Warning | Level::Fatal => 1,
        };
        if self.looked.get().is_none() {
            self.emit(which, line.as_bytes());
            return;
        }
        let full = {
            let mut pending = self.pending.borrow_mut();
            pending[which].extend_from_slice(line.as_bytes());
            pending[which].len() >= TURN_BYTES
        };
        if full {
            self.flush();
        }
    }

    /// The current time as lines show it, formatted once a second.
    fn stamp(&self) -> String {
        let now = std::time::SystemTime::now();
        let secs = match now.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        };
        let mut clock = self.clock.borrow_mut();
        if clock.0 != secs {
            *clock = (secs, local_time(now));
        }
        clock.1.clone()
    }

    /// Writes whole lines to one file, after any it could not write before; what
    /// cannot be written now waits in the backlog.
    fn emit(&self, which: usize, lines: &[u8]) {
        self.follow(which);
        let mut unlooked = self.unlooked.get();
        unlooked[which] = unlooked[which].saturating_add(lines.len() as u64);
        self.unlooked.set(unlooked);
        if let Some(mut c) = self.copy.as_ref() {
            let _ = c.write_all(lines);
        }
        self.flush_backlog();
        let sinks = self.sinks.borrow();
        let mut file = &sinks[which].file;
        if file.write_all(lines).is_err() {
            let mut backlog = self.backlog.borrow_mut();
            let b = &mut backlog[which];
            for line in lines.split_inclusive(|&c| c == b'\n') {
                if b.lines.len() < PENDING {
                    b.lines.push(String::from_utf8_lossy(line).into_owned());
                } else {
                    b.dropped += 1;
                }
            }
        }
    }

    /// Writes what could not be written before, oldest first, while writes succeed.
    fn flush_backlog(&self) {
        let mut backlog = self.backlog.borrow_mut();
        let sinks = self.sinks.borrow();
        for (which, b) in backlog.iter_mut().enumerate() {
            let mut file = &sinks[which].file;
            while let Some(line) = b.lines.first() {
                if file.write_all(line.as_bytes()).is_err() {
                    return;
                }
                b.lines.remove(0);
            }
            if b.dropped > 0 {
                let note = format_line(
                    Level::Warning,
                    &self.stamp(),
                    &format_args!(
                        "{} log lines were lost while the log could not be written",
                        b.dropped
                    ),
                );
                if file.write_all(note.as_bytes()).is_ok() {
                    b.dropped = 0;
                }
            }
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_legacy_shape() {
        let line = format_line(Level::Notice, "2026-11-21 10:00:00", &"started pid 7");
        assert_eq!(line, "[NOTICE] 2026-11-21 10:00:00  started pid 7\n");
        let line = format_line(Level::Warning, "2026-11-21 10:00:00", &"x");
        assert!(line.starts_with("[WARNING] "));
    }

    #[test]
    fn local_time_has_the_log_shape() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_255_200);
        let s = local_time(t);
        assert_eq!(s.len(), 19, "{s}");
        // Whatever the zone, 2026-11-21 10:00 UTC is still 20, 21 or 22 November.
        assert!(s.starts_with("2026-11-2"), "{s}");
    }

    #[test]
    fn local_time_is_seconds_precise() {
        let t = now_local();
        assert_eq!(t.len(), 19, "{t}");
        assert_eq!(&t[4..5], "-");
        assert_eq!(&t[10..11], " ");
    }

    #[test]
    fn levels_go_to_their_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::statusdir::Dir::open(tmp.path()).unwrap();
        let log = Log::open_in(&dir, 0o600).unwrap();
        log.notice("hello");
        log.warn("careful");
        log.fatal("dead");
        let n = std::fs::read_to_string(tmp.path().join(crate::statusdir::names::LOG)).unwrap();
        let w = std::fs::read_to_string(tmp.path().join(crate::statusdir::names::LOG_WF)).unwrap();
        assert!(n.starts_with("[NOTICE] ") && n.ends_with(" hello\n"), "{n}");
        assert_eq!(w.lines().count(), 2);
        assert!(w.contains("[WARNING] ") && w.contains("[FATAL] "), "{w}");
    }

    #[test]
    fn a_log_moved_or_removed_is_opened_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::statusdir::Dir::open(tmp.path()).unwrap();
        let log = Log::open_in(&dir, 0o600).unwrap();
        let p = |n: &str| tmp.path().join(n);
        log.notice("one");
        // logrotate's default: rename, then a new empty file at the name.
        std::fs::rename(p(NAMES[0]), p("supervise.log.1")).unwrap();
        std::fs::write(p(NAMES[0]), "").unwrap();
        log.notice("two");
        std::fs::remove_file(p(NAMES[0])).unwrap();
        log.notice("three");
        let old = std::fs::read_to_string(p("supervise.log.1")).unwrap();
        let now = std::fs::read_to_string(p(NAMES[0])).unwrap();
        assert!(old.ends_with("  one\n") && !old.contains("two"), "{old}");
        assert!(now.ends_with("  three\n") && !now.contains("two"), "{now}");
        let meta = std::fs::metadata(p(NAMES[0])).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
    }

    #[test]
    fn in_turns_each_file_is_looked_at_once_a_turn() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::statusdir::Dir::open(tmp.path()).unwrap();
        let log = Log::open_in(&dir, 0o600).unwrap();
        let p = |n: &str| tmp.path().join(n);
        log.turn();
        log.notice("one");
        log.flush();
        std::fs::rename(p(NAMES[0]), p("supervise.log.1")).unwrap();
        // Same turn: the moved file still gets the line.
        log.notice("two");
        log.turn();
        log.notice("three");
        log.flush();
        let old = std::fs::read_to_string(p("supervise.log.1")).unwrap();
        let now = std::fs::read_to_string(p(NAMES[0])).unwrap();
        assert!(old.contains("  one\n") && old.ends_with("  two\n"), "{old}");
        assert!(now.ends_with("  three\n") && !now.contains("two"), "{now}");
    }

    #[test]
    fn a_turns_lines_are_written_together_when_it_ends() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::statusdir::Dir::open(tmp.path()).unwrap();
        let log = Log::open_in(&dir, 0o600).unwrap();
        let read = |n: &str| std::fs::read_to_string(tmp.path().join(n)).unwrap();
        log.notice("at once");
        assert!(
            read(NAMES[0]).ends_with("  at once\n"),
            "before the first turn"
        );
        log.turn();
        log.notice("first");
        log.warn("careful");
        log.notice("second");
        assert_eq!(
            read(NAMES[0]).lines().count(),
            1,
            "written before the turn ended"
        );
        assert_eq!(read(NAMES[1]), "");
        log.flush();
        let n = read(NAMES[0]);
        assert_eq!(n.lines().count(), 3, "{n}");
        assert!(n.contains("  first\n") && n.ends_with("  second\n"), "{n}");
        assert!(read(NAMES[1]).ends_with("  careful\n"));
        // A turn with more than a write's worth is not held back.
        log.turn();
        let long = "x".repeat(TURN_BYTES);
        log.notice(&long);
        assert!(read(NAMES[0]).ends_with(&format!("{long}\n")));
        // What a turn left is written when the log goes.
        log.notice("last");
        drop(log);
        assert!(read(NAMES[0]).ends_with("  last\n"));
    }

    #[test]
    fn a_log_past_the_bound_is_moved_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::statusdir::Dir::open(tmp.path()).unwrap();
        let log = Log::open_in(&dir, 0o600).unwrap();
        log.warn("before");
        // Sparse: past the bound without writing 1.8 GB.
        std::fs::OpenOptions::new()
            .write(true)
            .open(tmp.path().join(NAMES[1]))
            .unwrap()
            .set_len(ROTATE_AT + 1)
            .unwrap();
        log.warn("after");
        let now = std::fs::read_to_string(tmp.path().join(NAMES[1])).unwrap();
        assert!(
            now.starts_with("[WARNING] ") && now.ends_with("  after\n"),
            "{now}"
        );
        let moved = std::fs::metadata(tmp.path().join("supervise.log.wf.1")).unwrap();
        assert_eq!(moved.len(), ROTATE_AT + 1);
    }

    #[test]
    fn a_watched_log_is_looked_at_after_an_event_or_a_bound() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::statusdir::Dir::open(tmp.path()).unwrap();
        let mut log = Log::open_in(&dir, 0o600).unwrap();
        let watch = HeldWatch::new().unwrap();
        log.watch_with(watch.try_clone().unwrap());
        let p = |n: &str| tmp.path().join(n);
        let read = |n: &str| std::fs::read_to_string(p(n)).unwrap();
        log.turn();
        log.notice("one");
        log.turn();
        assert!(!watch.drain(), "writing makes no event");
        std::fs::rename(p(NAMES[0]), p("moved")).unwrap();
        log.notice("two");
        log.turn();
        assert!(
            read("moved").ends_with("  two\n"),
            "no look without an event"
        );
        assert!(watch.drain());
        log.look_again();
        log.notice("three");
        log.turn();
        assert!(read(NAMES[0]).ends_with("  three\n") && !read(NAMES[0]).contains("two"));
        // Replaced by a rename over its name: an event too.
        std::fs::write(p("new"), "").unwrap();
        std::fs::rename(p("new"), p(NAMES[0])).unwrap();
        assert!(watch.drain(), "a rename over the name is seen");
        log.look_again();
        log.notice("four");
        log.turn();
        assert!(read(NAMES[0]).ends_with("  four\n") && !read(NAMES[0]).contains("three"));
        // Past the size bound, without an event: looked at after LOOK_BYTES.
        std::fs::OpenOptions::new()
            .write(true)
            .open(p(NAMES[0]))
            .unwrap()
            .set_len(ROTATE_AT + 1)
            .unwrap();
        let _ = watch.drain();
        let long = "y".repeat(LOOK_BYTES as usize);
        log.notice(&long);
        log.turn();
        log.notice("five");
        log.turn();
        assert_eq!(
            read(NAMES[0]).lines().last().map(|l| l.ends_with("  five")),
            Some(true)
        );
        assert!(read(NAMES[0]).len() < 100, "a new file after the bound");
    }
}
