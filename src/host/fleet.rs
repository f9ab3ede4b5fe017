//! The running picture: each service's `supervise` (its pid, whether it is the host's
//! child or one taken over from a previous host), what is to become of it, and when
//! one that died is started again. Only bookkeeping: starting, signalling and
//! reading status directories is the loop's ([`super::run`]).

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::service::Service;

/// A running `supervise`.
#[derive(Debug)]
pub struct Sup {
    /// Its pid.
    pub pid: Pid,
    /// A pidfd when it is not the host's child (taken over after a host restart):
    /// readable once it has ended. The host's own children are reaped on SIGCHLD.
    pub pidfd: Option<OwnedFd>,
    /// When it was started (or taken over).
    pub since: Instant,
}

/// What happens when a service's supervise ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// Start it again at once (it died: the new one adopts the running service).
    Respawn,
    /// Start one with these settings (an update changed them).
    Replace(Box<Service>),
    /// Nothing: it was stopped for good (removed, or the host shuts down).
    Forget,
}

/// One service and its supervise.
#[derive(Debug)]
pub struct Proc {
    /// Its settings in force.
    pub svc: Service,
    /// Its supervise, while one runs.
    pub sup: Option<Sup>,
    /// What to do when it ends.
    pub then: Then,
    /// A start of its supervise that is due (one that died young waits a second).
    pub due: Option<Instant>,
    /// Its supervise died quickly this many times in a row.
    pub quick_deaths: u32,
}

/// How long a supervise must have run for its death not to count as quick.
pub const QUICK: Duration = Duration::from_secs(1);

/// After this many quick deaths in a row, a service's supervise is not started again
/// until the next update (it cannot start: a bad setting, a missing program).
pub const MAX_QUICK_DEATHS: u32 = 5;

impl Proc {
    /// A service with no supervise yet.
    pub fn new(svc: Service) -> Proc {
        Proc {
            svc,
            sup: None,
            then: Then::Respawn,
            due: None,
            quick_deaths: 0,
        }
    }

    /// Its supervise ended at `now` after running since `since`: when to start the
    /// next one (`None`: not now, nor later by itself).
    pub fn ended(&mut self, now: Instant, since: Instant, asked_to_exit: bool) -> Option<Instant> {
        self.sup = None;
        match std::mem::replace(&mut self.then, Then::Respawn) {
            Then::Forget => {
                self.then = Then::Forget;
                None
            }
            Then::Replace(svc) => {
                self.svc = *svc;
                self.quick_deaths = 0;
                Some(now)
            }
            Then::Respawn if asked_to_exit => None,
            Then::Respawn => self.respawn_after_death(now, since),
        }
    }

    fn respawn_after_death(&mut self, now: Instant, since: Instant) -> Option<Instant> {
        if now.saturating_duration_since(since) >= QUICK {
            self.quick_deaths = 0;
            return Some(now);
        }
        self.quick_deaths += 1;
        (self.quick_deaths <= MAX_QUICK_DEATHS).then(|| now + QUICK)
    }
}

/// Every service, by name.
pub type Fleet = BTreeMap<String, Proc>;

/// The priority levels, lowest first, each with its services' names in config order.
pub fn levels(services: &[Service]) -> Vec<Vec<String>> {
    let mut by: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for s in services {
        by.entry(s.priority).or_default().push(s.name.clone());
    }
    by.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::config::testing::loaded;
    use crate::host::service::{Layout, service};

    fn svc(text: &str) -> Vec<Service> {
        let layout = Layout { root: "/r".into() };
        loaded(text)
            .processes
            .iter()
            .map(|p| service(p, &layout, None).unwrap().0)
            .collect()
    }

    #[test]
    fn levels_by_priority_lowest_first() {
        let s = svc(
            "[supervisord]\n[program:c]\ncommand=c\npriority=20\n[program:a]\ncommand=a\n\
             priority=10\n[program:b]\ncommand=b\npriority=10\n",
        );
        assert_eq!(levels(&s), vec![vec!["a", "b"], vec!["c"]]);
    }

    #[test]
    fn a_dead_supervise_is_started_again_and_a_crash_loop_is_paced_then_left() {
        let s = svc("[supervisord]\n[program:a]\ncommand=a\n").remove(0);
        let mut p = Proc::new(s.clone());
        let t0 = Instant::now();
        assert_eq!(
            p.ended(t0 + QUICK * 5, t0, false),
            Some(t0 + QUICK * 5),
            "at once"
        );
        let mut at = t0 + QUICK * 10;
        for _ in 0..MAX_QUICK_DEATHS {
            assert_eq!(p.ended(at, at, false), Some(at + QUICK), "a second later");
            at += QUICK;
        }
        assert_eq!(p.ended(at, at, false), None, "left until the next update");
        assert_eq!(
            Proc::new(s.clone()).ended(at, t0, true),
            None,
            "asked to exit"
        );
        let mut q = Proc::new(s.clone());
        q.then = Then::Forget;
        assert_eq!(q.ended(at, t0, false), None);
        let mut r = Proc::new(s.clone());
        let mut changed = s.clone();
        changed.command.push("--new".into());
        r.then = Then::Replace(Box::new(changed.clone()));
        assert_eq!(r.ended(at, t0, true), Some(at));
        assert_eq!(r.svc, changed);
    }
}
