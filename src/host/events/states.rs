//! supervisord's process state machine, for events: the host sees a process's state
//! through its files, so it can miss a step (a start that was RUNNING before the host
//! looked); the events it sends still follow the path supervisord itself would have
//! taken, so a listener sees STARTING before RUNNING, and EXITED before a new
//! STARTING when the pid changed under a RUNNING it saw.

use crate::host::info::State;

/// The states supervisord goes to from `s`.
fn next(s: State) -> &'static [State] {
    match s {
        State::Stopped => &[State::Starting],
        State::Starting => &[State::Running, State::Backoff, State::Stopping],
        State::Running => &[State::Stopping, State::Exited],
        State::Backoff => &[State::Starting, State::Fatal, State::Stopped],
        State::Stopping => &[State::Stopped],
        State::Exited => &[State::Starting],
        State::Fatal => &[State::Starting],
        State::Unknown => &[],
    }
}

/// The states to announce, in order, going from `from` to `to` (`to` last); `to`
/// alone when no path leads there (UNKNOWN, or a state supervisord cannot reach).
pub fn path(from: State, to: State) -> Vec<State> {
    if from == to {
        return Vec::new();
    }
    // Breadth-first over eight states.
    let all = State::ALL;
    let index = |s: State| all.iter().position(|x| *x == s).unwrap_or(7);
    let mut came: [Option<State>; 8] = [None; 8];
    let mut queue = std::collections::VecDeque::from([from]);
    while let Some(s) = queue.pop_front() {
        if s == to {
            let mut out = vec![to];
            let mut at = to;
            while let Some(prev) = came[index(at)] {
                if prev == from {
                    break;
                }
                out.push(prev);
                at = prev;
            }
            out.reverse();
            return out;
        }
        for &n in next(s) {
            if n != from && came[index(n)].is_none() {
                came[index(n)] = Some(s);
                queue.push_back(n);
            }
        }
    }
    vec![to]
}

/// A restart the host only saw as a new pid: RUNNING to RUNNING through EXITED and
/// STARTING.
pub fn restart() -> Vec<State> {
    vec![State::Exited, State::Starting, State::Running]
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    #[test]
    fn missed_steps_are_filled_in() {
        assert_eq!(path(Stopped, Running), [Starting, Running]);
        assert_eq!(path(Stopped, Starting), [Starting]);
        assert_eq!(path(Running, Stopped), [Stopping, Stopped]);
        assert_eq!(path(Exited, Running), [Starting, Running]);
        assert_eq!(path(Starting, Fatal), [Backoff, Fatal]);
        // Stopped while backing off: straight to STOPPED, as supervisord does.
        assert_eq!(path(Backoff, Stopped), [Stopped]);
        assert_eq!(path(Running, Starting), [Exited, Starting]);
        assert_eq!(path(Running, Backoff), [Exited, Starting, Backoff]);
        assert_eq!(path(Running, Running), Vec::<State>::new());
        assert_eq!(path(Running, Unknown), [Unknown]);
        assert_eq!(path(Unknown, Running), [Running]);
    }
}
