//! # supervise
//!
//! A per-service process supervisor in the daemontools line, and a drop-in for the
//! legacy C `supervise`: one small `supervise` process per service forks and execs it,
//! restarts it when it dies, and exposes its state through a status directory that
//! operators' scripts already read (`status`, `control`, `lock`, `ok`, see
//! `SPEC.md`).
//!
//! ## Theory of operation
//!
//! Start-up ([`supervisor::main`]) parses the command line ([`cli`]), resolves the
//! command ([`command`]), forks into the background while keeping the caller's stderr
//! until the service runs ([`daemon`]), takes the status directory ([`statusdir`]):
//! lock, FIFOs, log files. From then on supervise is one loop
//! ([`supervisor::Supervisor::run`]):
//!
//! 1. `poll` over a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP) and the `control`
//!    FIFO, with one timeout: the [`machine::Machine`]'s deadline (the restart
//!    throttle, the stop escalation). With no deadline `poll` waits for ever, so an
//!    idle supervise makes no system call.
//! 2. What is ready is drained and turned into [`machine::Event`]s, in order: signals
//!    first (all exited children reaped with `waitpid(WNOHANG)` until none is left),
//!    then control letters in the order they were written, then the deadline.
//! 3. Each event goes through [`machine::Machine::handle`], a pure function of state
//!    and input that returns [`machine::Effect`]s; the loop carries them out (fork
//!    through [`child`], `kill`, reload, exit) and feeds the outcome of a fork back as
//!    an event.
//! 4. After the batch, [`supervisor::Supervisor::publish`] rewrites `status` (the
//!    20-byte legacy record, [`status`]) and then `state` (the richer record,
//!    [`statefile`]) if what they say changed, each as `X.new` + rename.
//!
//! Nothing sleeps and no thread is started: every delay is the deadline of step 1.

pub mod adopt;
pub mod alarm;
pub mod checks;
pub mod child;
pub mod cli;
pub mod client;
pub mod command;
pub mod config;
pub mod control;
pub mod daemon;
pub mod exit;
pub mod follow;
pub mod hook;
pub mod host;
pub mod ini;
pub mod kill;
pub mod launch;
pub mod log;
pub mod machine;
pub mod memory;
pub mod output;
pub mod policy;
pub mod probe;
pub mod proc;
pub mod ready;
pub mod sigfd;
pub mod statefile;
pub mod status;
pub mod statusdir;
pub mod supervisor;
pub mod svc;
pub mod users;
pub mod watch;
