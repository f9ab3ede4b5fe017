//! What the HTTP side shares with the host's loop: a snapshot of the processes in
//! force (replaced whole by the loop whenever they change), the host's state, and
//! the requests only the loop can carry out (shutdown, restart, reading the config
//! again, adding and removing groups), each answered on a channel of its own.
//!
//! The loop polls [`Hub::wake_fd`]: a request writes to that eventfd, so the loop
//! sleeps until one comes, as it does for everything else.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI8, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::config::program::ProcessSpec;
use super::control::{Fault, RpcError};
use super::plan::Groups;
use super::service::Service;

/// supervisord's own states (`SupervisorStates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum Mood {
    Fatal = 2,
    Running = 1,
    Restarting = 0,
    Shutdown = -1,
}

impl Mood {
    /// The name supervisord gives it.
    pub fn name(self) -> &'static str {
        match self {
            Mood::Fatal => "FATAL",
            Mood::Running => "RUNNING",
            Mood::Restarting => "RESTARTING",
            Mood::Shutdown => "SHUTDOWN",
        }
    }

    fn from_i8(v: i8) -> Mood {
        match v {
            2 => Mood::Fatal,
            1 => Mood::Running,
            0 => Mood::Restarting,
            _ => Mood::Shutdown,
        }
    }
}

/// The processes in force and what describes the host.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The processes, in the config's order.
    pub services: Vec<Service>,
    /// Their settings as supervisord reads them (`getAllConfigInfo`), same order.
    pub specs: Vec<ProcessSpec>,
    /// `[supervisord] identifier`.
    pub identifier: String,
    /// The host's log, if it writes one to a file.
    pub logfile: Option<std::path::PathBuf>,
}

/// What only the loop can do.
#[derive(Debug)]
pub enum Ask {
    /// Stop everything and exit.
    Shutdown,
    /// Stop everything, read the config again, start everything.
    Restart,
    /// Read the config again, apply nothing: the groups an update would touch.
    Reload(Sender<Result<Groups, RpcError>>),
    /// Put a group of the config last read in force (and start it).
    AddGroup(String, Sender<Result<(), RpcError>>),
    /// Take a stopped group out of force.
    RemoveGroup(String, Sender<Result<(), RpcError>>),
    /// `sendRemoteCommEvent`: a REMOTE_COMMUNICATION event, its type and data.
    Remote(String, String),
}

/// Shared by the loop and the HTTP threads.
#[derive(Debug)]
pub struct Hub {
    snapshot: RwLock<Arc<Snapshot>>,
    mood: AtomicI8,
    asks: Mutex<Sender<Ask>>,
    wake: OwnedFd,
}

/// How long an HTTP thread waits for the loop to answer (it answers at once unless
/// it is stuck, which is a bug; the client then gets a fault rather than a hang).
const ANSWER_PATIENCE: Duration = Duration::from_secs(30);

impl Hub {
    /// A hub, and the receiving end of its requests for the loop.
    pub fn new(snapshot: Snapshot) -> std::io::Result<(Arc<Hub>, Receiver<Ask>)> {
        // SAFETY: eventfd returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let (tx, rx) = channel();
        let hub = Hub {
            snapshot: RwLock::new(Arc::new(snapshot)),
            mood: AtomicI8::new(Mood::Running as i8),
            asks: Mutex::new(tx),
            // SAFETY: a fresh descriptor we now own.
            wake: unsafe { OwnedFd::from_raw_fd(fd) },
        };
        Ok((Arc::new(hub), rx))
    }

    /// The processes in force now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Replaces the snapshot (the loop, when the processes in force change).
    pub fn publish(&self, snapshot: Snapshot) {
        let new = Arc::new(snapshot);
        match self.snapshot.write() {
            Ok(mut s) => *s = new,
            Err(p) => *p.into_inner() = new,
        }
    }

    /// The host's state.
    pub fn mood(&self) -> Mood {
        Mood::from_i8(self.mood.load(Ordering::Acquire))
    }

    /// Sets the host's state (the loop).
    pub fn set_mood(&self, m: Mood) {
        self.mood.store(m as i8, Ordering::Release);
    }

    /// The descriptor the loop polls.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Empties the eventfd (the loop, before reading the requests).
    pub fn drain(&self) {
        let mut b = [0u8; 8];
        // SAFETY: reading 8 bytes into our buffer from our eventfd.
        let _ = unsafe {
            libc::read(
                std::os::fd::AsRawFd::as_raw_fd(&self.wake),
                b.as_mut_ptr().cast(),
                8,
            )
        };
    }

    /// Hands a request to the loop.
    pub fn ask(&self, a: Ask) -> Result<(), RpcError> {
        let sent = self
            .asks
            .lock()
            .map_err(|_| RpcError::bare(Fault::Failed))?
            .send(a);
        sent.map_err(|_| RpcError::bare(Fault::ShutdownState))?;
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from our value to our eventfd.
        let _ = unsafe {
            libc::write(
                std::os::fd::AsRawFd::as_raw_fd(&self.wake),
                (&one as *const u64).cast(),
                8,
            )
        };
        Ok(())
    }

    /// Hands a request to the loop and waits for its answer.
    pub fn ask_and_wait<T>(
        &self,
        make: impl FnOnce(Sender<Result<T, RpcError>>) -> Ask,
    ) -> Result<T, RpcError> {
        let (tx, rx) = channel();
        self.ask(make(tx))?;
        rx.recv_timeout(ANSWER_PATIENCE)
            .map_err(|_| RpcError::new(Fault::Failed, "the host did not answer"))?
    }
}
