//! The host level: one config, one `supervise` per process.
//!
//! A host reads one config in supervisord's format ([`config`]) and keeps one
//! `supervise` per process it names, each with its own status directory, so that a
//! supervisor's crash, hang or leak touches one service and every directory keeps the
//! legacy contract. The loop that starts, watches and updates them comes later.

pub mod config;
pub mod plan;
pub mod service;
