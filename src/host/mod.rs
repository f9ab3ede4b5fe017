//! The host level: one config, one `supervise` per process.
//!
//! A host reads one config in supervisord's format ([`config`]) and keeps one
//! `supervise` per process it names, each with its own status directory, so that a
//! supervisor's crash, hang or leak touches one service and every directory keeps the
//! legacy contract.
//!
//! ## Theory of operation
//!
//! - [`config`] reads supervisord's format exactly as supervisord does (pure, over a
//!   small file-system trait); [`service`] turns each process it names into one
//!   `supervise`: a status directory under the status root, a command line, and a
//!   config file in this project's syntax that the host writes for it (pure: the
//!   same settings give the same bytes).
//! - [`run`] is the host's one loop: `poll` over a signalfd, an inotify instance on
//!   the status directories and the pidfds of supervise processes taken over from a
//!   previous host, with one deadline; it starts supervise processes by priority,
//!   starts again one that dies, and stops them in reverse order. [`fleet`] is its
//!   bookkeeping.
//! - [`plan`] says what an update does (pure): only processes whose own settings
//!   changed are touched.
//! - The filesystem is the bus: the host asks a supervise to act with the same
//!   letters `svc` writes, and learns what happened from the `status` and `state`
//!   files it renames into place. So the host can die and come back (it takes the
//!   running supervise processes over: no service restarts), and `svc` works on the
//!   host's processes by name with no server between them.
//! - [`cli`] is `supervise-host`'s command line and its check mode.

pub mod cli;
pub mod config;
pub mod control;
pub mod deps;
pub mod events;
pub mod fleet;
pub mod http;
pub mod hub;
pub mod info;
pub mod plan;
pub mod rpc;
pub mod run;
pub mod service;
pub mod web;
