//! `on_change : COMMAND`: a command run after each change of the service's state,
//! with the facts in its environment (the legacy `-r` script, generalised). Pure: the
//! loop tells it what the state is now and when the command ends, and starts (or
//! kills) what it says.
//!
//! At most one runs at a time. Changes while it runs are coalesced: when it ends, it
//! runs once more with the latest state (and the state it last reported as where it
//! came from), so the last state is always delivered and a burst of changes costs a
//! bounded number of runs. Each run has `on_change_timeout`; past it, it is killed.

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::exit::Exit;

/// What a run is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The state: `down`, `starting` (up, not yet ready), `up`, `stopping`,
    /// `waiting` (a start is due), `backoff`, `cooldown`, `gave_up`.
    pub state: &'static str,
    /// The running process, if any.
    pub pid: Option<u32>,
    /// How the last run ended, if one did.
    pub exit: Option<Exit>,
    /// Restarts so far (starts minus one).
    pub restarts: u64,
}

/// The hook's bookkeeping.
#[derive(Debug, Default)]
pub struct Hook {
    /// The command run now, and when it is killed.
    running: Option<(Pid, Instant)>,
    /// The latest state not yet delivered (while a run is under way).
    pending: Option<Facts>,
    /// The state and pid last seen (a change is a difference from them).
    seen: Option<(&'static str, Option<u32>)>,
    /// The state last delivered (the next run's `from`).
    delivered: &'static str,
}

/// A run to start: the facts and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub facts: Facts,
    pub from: &'static str,
}

impl Run {
    /// The environment of the command (names as the README gives them).
    pub fn env(&self, service: &str, dir: &str) -> Vec<(String, String)> {
        let num = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
        let f = &self.facts;
        vec![
            ("SUPERVISE_SERVICE".into(), service.into()),
            ("SUPERVISE_DIR".into(), dir.into()),
            ("SUPERVISE_STATE".into(), f.state.into()),
            ("SUPERVISE_FROM_STATE".into(), self.from.into()),
            (
                "SUPERVISE_PID".into(),
                f.pid.map(|p| p.to_string()).unwrap_or_default(),
            ),
            (
                "SUPERVISE_EXIT_CODE".into(),
                num(f.exit.and_then(|e| e.code())),
            ),
            (
                "SUPERVISE_EXIT_SIGNAL".into(),
                num(f.exit.and_then(|e| e.signal())),
            ),
            (
                "SUPERVISE_CORE".into(),
                u8::from(f.exit.is_some_and(|e| e.core_dumped())).to_string(),
            ),
            ("SUPERVISE_RESTARTS".into(), f.restarts.to_string()),
        ]
    }
}

impl Hook {
    /// The state now; a run to start if it changed (a new state, or a new pid in
    /// the same one) and none is running.
    pub fn observe(&mut self, facts: Facts) -> Option<Run> {
        let key = (facts.state, facts.pid);
        if self.seen == Some(key) {
            return None;
        }
        let first = self.seen.is_none();
        self.seen = Some(key);
        if first {
            // The state supervise starts in is where the first change comes from.
            self.delivered = facts.state;
            return None;
        }
        if self.running.is_some() {
            self.pending = Some(facts);
            return None;
        }
        Some(self.deliver(facts))
    }

    fn deliver(&mut self, facts: Facts) -> Run {
        let from = std::mem::replace(&mut self.delivered, facts.state);
        Run { facts, from }
    }

    /// The run started as `pid`, to be killed at `deadline`.
    pub fn started(&mut self, pid: Pid, deadline: Instant) {
        self.running = Some((pid, deadline));
    }

    /// A run could not start: the next change tries again.
    pub fn failed_to_start(&mut self) {
        self.running = None;
    }

    /// Whether `pid` is the run under way.
    pub fn is_running(&self, pid: Pid) -> bool {
        self.running.is_some_and(|(p, _)| p == pid)
    }

    /// The run ended; the coalesced latest state, if one waits.
    pub fn ended(&mut self) -> Option<Run> {
        self.running = None;
        let facts = self.pending.take()?;
        Some(self.deliver(facts))
    }

    /// When the run under way is killed.
    pub fn deadline(&self) -> Option<Instant> {
        self.running.map(|(_, at)| at)
    }

    /// The run to kill, if its time is up (once: its end comes through `ended`).
    pub fn overdue(&mut self, now: Instant) -> Option<Pid> {
        match self.running {
            Some((pid, at)) if at <= now => {
                // Killed once; its end is awaited without a deadline.
                self.running = Some((pid, now + Duration::from_secs(1 << 30)));
                Some(pid)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(state: &'static str, pid: Option<u32>) -> Facts {
        Facts {
            state,
            pid,
            exit: None,
            restarts: 0,
        }
    }

    #[test]
    fn each_change_runs_once_with_where_it_came_from() {
        let mut h = Hook::default();
        assert_eq!(
            h.observe(facts("down", None)),
            None,
            "the start is no change"
        );
        let r = h.observe(facts("up", Some(5))).unwrap();
        assert_eq!((r.from, r.facts.state), ("down", "up"));
        h.started(Pid::from_raw(100), Instant::now());
        assert!(h.is_running(Pid::from_raw(100)));
        assert_eq!(h.ended(), None, "nothing waits");
        assert_eq!(h.observe(facts("up", Some(5))), None, "no change");
    }

    #[test]
    fn a_burst_while_running_is_coalesced_and_the_last_delivered() {
        let mut h = Hook::default();
        h.observe(facts("down", None));
        let r = h.observe(facts("up", Some(5))).unwrap();
        h.started(Pid::from_raw(100), Instant::now());
        assert_eq!(r.facts.state, "up");
        for (s, p) in [
            ("waiting", None),
            ("up", Some(6)),
            ("waiting", None),
            ("up", Some(7)),
            ("stopping", Some(7)),
            ("down", None),
        ] {
            assert_eq!(h.observe(facts(s, p)), None);
        }
        let r = h.ended().unwrap();
        assert_eq!(
            (r.from, r.facts.state),
            ("up", "down"),
            "the last, from what was last told"
        );
        h.started(Pid::from_raw(101), Instant::now());
        assert_eq!(h.ended(), None);
    }

    #[test]
    fn a_slow_run_is_killed_once_at_its_deadline() {
        let mut h = Hook::default();
        let t0 = Instant::now();
        h.observe(facts("down", None));
        h.observe(facts("up", Some(1))).unwrap();
        h.started(Pid::from_raw(100), t0 + Duration::from_secs(10));
        assert_eq!(h.deadline(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(h.overdue(t0), None);
        assert_eq!(
            h.overdue(t0 + Duration::from_secs(10)),
            Some(Pid::from_raw(100))
        );
        assert_eq!(h.overdue(t0 + Duration::from_secs(11)), None, "once");
    }

    #[test]
    fn the_environment_names_every_fact() {
        let r = Run {
            facts: Facts {
                state: "waiting",
                pid: None,
                exit: Some(Exit::Signal {
                    signal: 11,
                    core: true,
                }),
                restarts: 4,
            },
            from: "up",
        };
        let env = r.env("app", "/srv/status/app");
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("SUPERVISE_STATE"), Some("waiting"));
        assert_eq!(get("SUPERVISE_FROM_STATE"), Some("up"));
        assert_eq!(get("SUPERVISE_PID"), Some(""));
        assert_eq!(get("SUPERVISE_EXIT_CODE"), Some(""));
        assert_eq!(get("SUPERVISE_EXIT_SIGNAL"), Some("11"));
        assert_eq!(get("SUPERVISE_CORE"), Some("1"));
        assert_eq!(get("SUPERVISE_RESTARTS"), Some("4"));
        assert_eq!(get("SUPERVISE_DIR"), Some("/srv/status/app"));
    }
}
