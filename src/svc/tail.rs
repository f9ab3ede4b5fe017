//! `svc tail [-f] [-n LINES | -BYTES] NAME [stdout|stderr]`: the end of a host
//! process's output, as supervisorctl's `tail` shows it (the last 1600 bytes by
//! default), and with `-f` what comes after, woken by inotify; `tail -f all` follows
//! every process at once, each line after its name.
//!
//! Files are opened as every status-directory file is (no link followed, a FIFO never
//! blocks), whether in a status directory or where the config sends the output.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::host::{Host, Tail, split_namespec};
use crate::host::info;
use crate::statusdir::Dir;

/// Opens `path` for reading, by the status-directory rules.
fn open(path: &Path) -> Option<File> {
    let dir = Dir::open(path.parent()?).ok()?;
    dir.open_read(&path.file_name()?.to_string_lossy()).ok()
}

/// The end of `bytes`: its last `lines` lines, else its last `max` bytes.
pub fn tail_of(bytes: &[u8], lines: Option<usize>, max: usize) -> &[u8] {
    match lines {
        Some(n) => {
            let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
            let start = body
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, b)| **b == b'\n')
                .nth(n.saturating_sub(1))
                .map_or(0, |(i, _)| i + 1);
            if n == 0 {
                &bytes[bytes.len()..]
            } else {
                &bytes[start..]
            }
        }
        None => &bytes[bytes.len().saturating_sub(max)..],
    }
}

/// One followed file.
struct Followed {
    name: String,
    path: PathBuf,
    file: Option<File>,
    at: u64,
    ino: u64,
}

impl Followed {
    /// Writes what was added since the last look (from the start of a new file).
    fn more(&mut self, prefix: bool, out: &mut impl Write) {
        let ino = std::fs::metadata(&self.path).map_or(0, |m| m.ino());
        if ino != self.ino || self.file.is_none() {
            self.file = open(&self.path);
            self.ino = ino;
            self.at = 0;
        }
        let Some(f) = &mut self.file else {
            return;
        };
        let len = f.metadata().map_or(0, |m| m.len());
        if len < self.at {
            self.at = 0;
        }
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(self.at)).is_ok() && f.read_to_end(&mut buf).is_ok() {
            self.at += buf.len() as u64;
            write_lines(&self.name, &buf, prefix, out);
        }
    }
}

fn write_lines(name: &str, buf: &[u8], prefix: bool, out: &mut impl Write) {
    if !prefix {
        let _ = out.write_all(buf);
    } else {
        for line in buf.split_inclusive(|&b| b == b'\n') {
            let _ = write!(out, "{name}: ");
            let _ = out.write_all(line);
        }
    }
    let _ = out.flush();
}

/// Runs `tail`; the exit code.
pub fn run(host: &Host, t: &Tail, out: &mut impl Write) -> u8 {
    let all = t.name == "all";
    let (group, process) = split_namespec(&t.name);
    let chosen: Vec<_> = host
        .services
        .iter()
        .filter(|s| all || (s.group == group && process.is_none_or(|p| s.process == p)))
        .collect();
    if chosen.is_empty() || (all && !t.follow) {
        let _ = writeln!(out, "{}: ERROR (no such process name)", t.name);
        return 2;
    }
    let mut followed = Vec::new();
    for s in chosen {
        let i = info::read(s, SystemTime::now());
        let path = if t.stderr {
            i.stderr_logfile
        } else {
            i.stdout_logfile
        };
        if path.is_empty() {
            let _ = writeln!(out, "{}: ERROR (no log file)", s.name);
            continue;
        }
        let path = PathBuf::from(path);
        let mut bytes = Vec::new();
        let file = open(&path);
        if let Some(mut f) = file.as_ref().and_then(|f| f.try_clone().ok()) {
            let _ = f.read_to_end(&mut bytes);
        }
        write_lines(&s.name, tail_of(&bytes, t.lines, t.bytes), all, out);
        let ino = std::fs::metadata(&path).map_or(0, |m| m.ino());
        followed.push(Followed {
            name: s.name.clone(),
            at: bytes.len() as u64,
            path,
            file,
            ino,
        });
    }
    if !t.follow || followed.is_empty() {
        return if followed.is_empty() { 1 } else { 0 };
    }
    follow(&mut followed, all, out)
}

/// Follows the files for ever (until killed), woken by inotify on their
/// directories: a write, or a rotation that puts a new file in place.
fn follow(files: &mut [Followed], prefix: bool, out: &mut impl Write) -> u8 {
    let Ok(ino) = Inotify::init(InitFlags::IN_CLOEXEC) else {
        return 1;
    };
    let mut by_dir: HashMap<_, Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        let dir = f.path.parent().unwrap_or(Path::new("/"));
        let mask = AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO;
        if let Ok(wd) = ino.add_watch(dir, mask) {
            by_dir.entry(wd).or_default().push(i);
        }
    }
    loop {
        let Ok(events) = ino.read_events() else {
            return 1;
        };
        let mut touched: Vec<usize> = events
            .iter()
            .filter_map(|e| by_dir.get(&e.wd))
            .flatten()
            .copied()
            .collect();
        touched.sort_unstable();
        touched.dedup();
        for i in touched {
            files[i].more(prefix, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_by_lines_or_bytes() {
        let text = b"one\ntwo\nthree\n";
        assert_eq!(tail_of(text, Some(2), 0), b"two\nthree\n");
        assert_eq!(tail_of(text, Some(9), 0), text);
        assert_eq!(tail_of(b"a\nb", Some(1), 0), b"b");
        assert_eq!(tail_of(text, None, 6), b"three\n");
        assert_eq!(tail_of(text, None, 1600), text);
    }
}
