//! Supervise's own log: NOTICE lines to `supervise.log`, WARNING and FATAL lines to
//! `supervise.log.wf`, in the legacy format `[NOTICE] 2026-11-21 10:00:00 message`
//! (local time).
//!
//! Each line is one `write` to a file opened with `O_APPEND`, so lines never
//! interleave and an external `logrotate` with `copytruncate` keeps working. A line
//! that cannot be written is dropped: the log must never stop supervision.

use std::fmt::Display;
use std::fs::File;
use std::io::Write;

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

/// Formats one line, newline included.
pub fn format_line(level: Level, when: &str, msg: &dyn Display) -> String {
    format!("[{}] {when} {msg}\n", level.tag())
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

/// The two log files of a status directory.
#[derive(Debug)]
pub struct Log {
    notice: File,
    warn: File,
}

impl Log {
    /// Wraps the two files, already opened for appending.
    pub fn new(notice: File, warn: File) -> Log {
        Log { notice, warn }
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
        let line = format_line(level, &now_local(), msg);
        let mut file = match level {
            Level::Notice => &self.notice,
            Level::Warning | Level::Fatal => &self.warn,
        };
        // Dropping a line is the lesser evil: see the module doc.
        let _ = file.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_legacy_shape() {
        let line = format_line(Level::Notice, "2026-11-21 10:00:00", &"started pid 7");
        assert_eq!(line, "[NOTICE] 2026-11-21 10:00:00 started pid 7\n");
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
        let open = |n: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(tmp.path().join(n))
                .unwrap()
        };
        let log = Log::new(open("n"), open("w"));
        log.notice("hello");
        log.warn("careful");
        log.fatal("dead");
        let n = std::fs::read_to_string(tmp.path().join("n")).unwrap();
        let w = std::fs::read_to_string(tmp.path().join("w")).unwrap();
        assert!(n.starts_with("[NOTICE] ") && n.ends_with(" hello\n"), "{n}");
        assert_eq!(w.lines().count(), 2);
        assert!(w.contains("[WARNING] ") && w.contains("[FATAL] "), "{w}");
    }
}
