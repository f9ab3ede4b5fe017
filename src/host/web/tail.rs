//! `/logtail/NAME[/stdout|/stderr]` and `/mainlogtail`: a log followed, as
//! supervisord serves it to `supervisorctl tail -f` (its last 1024 bytes, then what is
//! added; a truncation said as `==> File truncated <==`), woken by inotify, never by
//! a timer, and ended as soon as the client goes away.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::host::http::{Body, Response};
use crate::host::hub::Hub;
use crate::statusdir::Dir;

/// How much of the end is sent first (supervisord's).
const HEAD: u64 = 1024;

/// `/mainlogtail`.
pub fn main(hub: &Hub) -> Response {
    match hub.snapshot().logfile.clone() {
        Some(p) => follow(p),
        None => Response::text(404, "no log file\n"),
    }
}

/// `/logtail/NAME[/CHANNEL]`.
pub fn process(hub: &Hub, rest: &str) -> Response {
    let rest = crate::host::http::request::percent_decode(rest);
    let (name, channel) = match rest.rsplit_once('/') {
        Some((n, c @ ("stdout" | "stderr"))) => (n.to_owned(), c),
        _ => (rest.clone(), "stdout"),
    };
    let snap = hub.snapshot();
    let found = snap.services.iter().find(|s| {
        s.name == name
            || (name
                .split_once(':')
                .is_some_and(|(g, p)| s.group == g && s.process == p))
    });
    let Some(s) = found else {
        return Response::text(404, "no such process\n");
    };
    let path = crate::host::control::log_path(s, channel == "stderr");
    if path.is_empty() || !Path::new(&path).exists() {
        return Response::text(404, "no log file\n");
    }
    follow(PathBuf::from(path))
}

fn open(path: &Path) -> Option<File> {
    let dir = Dir::open(path.parent()?).ok()?;
    dir.open_read(&path.file_name()?.to_string_lossy()).ok()
}

/// The most logs followed at once (each holds a thread, an inotify instance and a
/// few descriptors).
const MAX_FOLLOWED: usize = 32;

static FOLLOWED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts a followed log while it lives.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        use std::sync::atomic::Ordering;
        if FOLLOWED.fetch_add(1, Ordering::AcqRel) >= MAX_FOLLOWED {
            FOLLOWED.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        FOLLOWED.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The streamed response following `path`.
fn follow(path: PathBuf) -> Response {
    let Some(slot) = Slot::take() else {
        return Response::text(503, "too many logs followed at once\n");
    };
    let Some(file) = open(&path) else {
        return Response::text(404, "no log file\n");
    };
    Response {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "text/plain;charset=utf-8".into()),
            ("X-Accel-Buffering".into(), "no".into()),
        ],
        body: Body::Stream(Box::new(move |out, client| {
            let _slot = slot;
            stream(&path, file, out, client)
        })),
    }
}

/// One followed file: where it is read up to, and which file (inode) it is.
struct Followed {
    file: File,
    at: u64,
    ino: u64,
}

impl Followed {
    /// Writes what was added since the last look; a replaced file is read from its
    /// start, a truncated one said so.
    fn more(&mut self, path: &Path, out: &mut dyn Write) -> io::Result<()> {
        let ino = std::fs::metadata(path).map_or(self.ino, |m| m.ino());
        if ino != self.ino {
            if let Some(f) = open(path) {
                self.file = f;
                self.ino = ino;
                self.at = 0;
            }
        }
        let size = self.file.metadata()?.len();
        if size < self.at {
            self.at = 0;
            out.write_all(b"==> File truncated <==\n")?;
        }
        // In 64 kB pieces, each written before the next is read: memory stays
        // bounded whatever was added, and a slow client slows only this copy.
        self.file.seek(SeekFrom::Start(self.at))?;
        let mut buf = vec![0u8; 64 * 1024];
        while self.at < size {
            let want = usize::try_from(size - self.at)
                .unwrap_or(buf.len())
                .min(buf.len());
            let n = self.file.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            self.at += n as u64;
        }
        out.flush()
    }
}

fn stream(path: &Path, file: File, out: &mut dyn Write, client: BorrowedFd<'_>) -> io::Result<()> {
    let ino = file.metadata()?.ino();
    let size = file.metadata()?.len();
    let mut f = Followed {
        file,
        at: size.saturating_sub(HEAD),
        ino,
    };
    let watch = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    watch.add_watch(
        dir,
        AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_CREATE,
    )?;
    f.more(path, out)?;
    let mut sent_after = 0;
    loop {
        let mut fds = [
            PollFd::new(watch.as_fd(), PollFlags::POLLIN),
            PollFd::new(client, PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        if fds[1].any().unwrap_or(false) {
            // The client went away (end of file, an error), or sent something:
            // supervisorctl sends one more line end after its request, which is
            // let go; more than a little is a client that is not following.
            let mut junk = [0u8; 256];
            match nix::unistd::read(client, &mut junk) {
                Ok(n) if n > 0 && sent_after < junk.len() => sent_after += n,
                _ => return Ok(()),
            }
        }
        while matches!(watch.read_events(), Ok(ev) if !ev.is_empty()) {}
        f.more(path, out)?;
    }
}
