//! The one place that sends signals.
//!
//! Whatever a caller asks, a signal never goes to pid 0 or 1 (`kill(0)` is our own
//! group, `kill(-1)` every process we may signal, pid 1 is init), and a group is
//! signalled only through a process that leads it: a pid whose process sits in
//! another group gets the signal alone, so a forged or stale pid can never widen a
//! signal to someone else's group.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpgid};

use crate::machine::Target;

/// What became of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Delivered to the process or the group.
    Delivered,
    /// The group was not the process's: the process alone got it.
    ProcessOnly,
    /// Nobody is left to get it (ESRCH).
    Gone,
    /// Not sent: the target is 0 or 1.
    Refused,
    /// The system refused (EPERM...).
    Failed(Errno),
}

fn outcome(r: nix::Result<()>, ok: Sent) -> Sent {
    match r {
        Ok(()) => ok,
        Err(Errno::ESRCH) => Sent::Gone,
        Err(e) => Sent::Failed(e),
    }
}

/// Sends `sig` to `target`, within the rules above.
pub fn send(target: Target, sig: Signal) -> Sent {
    send_knowing(target, sig, false)
}

/// [`send`], when the caller reaped the leader of a [`Target::Leftovers`] group
/// itself a moment ago (in the same turn of its loop): the kernel hands pid numbers
/// out in a cycle through all of `pid_max`, so that number cannot lead a new group
/// yet, and the look in `/proc` for one is skipped (a system call less per crash).
pub fn send_after_reap(target: Target, sig: Signal) -> Sent {
    send_knowing(target, sig, true)
}

fn send_knowing(target: Target, sig: Signal, just_reaped: bool) -> Sent {
    let pid = match target {
        Target::Process(p) | Target::Group(p) | Target::Leftovers(p) => p,
    };
    if pid.as_raw() <= 1 {
        return Sent::Refused;
    }
    match target {
        Target::Process(p) => outcome(kill(p, sig), Sent::Delivered),
        Target::Group(p) => match getpgid(Some(p)) {
            Ok(g) if g == p => outcome(kill(Pid::from_raw(-p.as_raw()), sig), Sent::Delivered),
            // A child that failed before making its group, or a process that left it.
            Ok(_) => outcome(kill(p, sig), Sent::ProcessOnly),
            Err(e) => outcome(Err(e), Sent::Delivered),
        },
        Target::Leftovers(pgid) if just_reaped => {
            outcome(kill(Pid::from_raw(-pgid.as_raw()), sig), Sent::Delivered)
        }
        Target::Leftovers(pgid) => leftovers(pgid, sig),
    }
}

/// The group of a leader that has ended. Its number cannot be handed out again while
/// the group has members; once it is empty it can, and a new process may lead a new
/// group of that number. So a live process with that pid (not the leader's zombie,
/// which an adopted service's parent may not have reaped yet) means the old group is
/// gone, and no signal (the stop signal after a long wait for a pidfile, the KILL a
/// stop timeout later) may reach the new one.
fn leftovers(pgid: Pid, sig: Signal) -> Sent {
    // Only ever sent after the leader ended: a live process of that number is
    // another one.
    if crate::proc::alive(pgid.as_raw().unsigned_abs(), None) {
        return Sent::Gone;
    }
    outcome(kill(Pid::from_raw(-pgid.as_raw()), sig), Sent::Delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_one_are_never_signalled() {
        for p in [0, 1, -1, -5] {
            let pid = Pid::from_raw(p);
            for t in [
                Target::Process(pid),
                Target::Group(pid),
                Target::Leftovers(pid),
            ] {
                assert_eq!(send(t, Signal::SIGKILL), Sent::Refused, "{t:?}");
            }
        }
    }

    #[test]
    fn a_group_goes_only_through_its_leader() {
        // A child in our own group: a group signal would reach us; the child alone
        // gets it.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        assert_eq!(send(Target::Group(pid), Signal::SIGKILL), Sent::ProcessOnly);
        assert!(!child.wait().unwrap().success());
        assert_eq!(send(Target::Process(pid), Signal::SIGTERM), Sent::Gone);
    }

    #[test]
    fn a_leader_gets_its_group_signalled() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        assert_eq!(send(Target::Group(pid), Signal::SIGKILL), Sent::Delivered);
        assert!(!child.wait().unwrap().success());
    }
}
