//! supervisord's events, as values: each type with its name and its payload written
//! byte for byte as supervisord 4.2 writes it, which events a subscription takes
//! (an abstract type takes its whole family), and the envelope a listener reads.
//! Pure; [`pool`] is the listener protocol, [`states`] the state transitions, and
//! the host's [`bus`] does the I/O.

pub mod bus;
pub mod pool;
pub mod states;

use crate::host::info::State;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `PROCESS_STATE_<TO>`.
    ProcessState {
        to: State,
        from: State,
        name: String,
        group: String,
        /// STARTING and BACKOFF: failed starts in a row.
        tries: u32,
        /// EXITED: the exit was one of `exitcodes`.
        expected: bool,
        /// RUNNING, STOPPING, STOPPED, EXITED: the process.
        pid: u32,
    },
    /// `PROCESS_LOG_STDOUT` / `PROCESS_LOG_STDERR`: output of a program with
    /// `*_events_enabled`.
    ProcessLog {
        stderr: bool,
        name: String,
        group: String,
        pid: u32,
        data: String,
    },
    /// `PROCESS_GROUP_ADDED` / `PROCESS_GROUP_REMOVED`.
    Group { added: bool, group: String },
    /// `SUPERVISOR_STATE_CHANGE_RUNNING` / `_STOPPING`.
    Supervisor { running: bool },
    /// `TICK_5`, `TICK_60`, `TICK_3600`: the start of the period's slice.
    Tick { period: u64, when: u64 },
    /// `REMOTE_COMMUNICATION` (`sendRemoteCommEvent`).
    Remote { kind: String, data: String },
}

/// Every type name a subscription may give, abstract ones included.
pub const TYPES: &[&str] = &[
    "EVENT",
    "PROCESS_STATE",
    "PROCESS_STATE_STOPPED",
    "PROCESS_STATE_EXITED",
    "PROCESS_STATE_STARTING",
    "PROCESS_STATE_STOPPING",
    "PROCESS_STATE_BACKOFF",
    "PROCESS_STATE_FATAL",
    "PROCESS_STATE_RUNNING",
    "PROCESS_STATE_UNKNOWN",
    "PROCESS_COMMUNICATION",
    "PROCESS_COMMUNICATION_STDOUT",
    "PROCESS_COMMUNICATION_STDERR",
    "PROCESS_LOG",
    "PROCESS_LOG_STDOUT",
    "PROCESS_LOG_STDERR",
    "REMOTE_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE",
    "SUPERVISOR_STATE_CHANGE_RUNNING",
    "SUPERVISOR_STATE_CHANGE_STOPPING",
    "TICK",
    "TICK_5",
    "TICK_60",
    "TICK_3600",
    "PROCESS_GROUP",
    "PROCESS_GROUP_ADDED",
    "PROCESS_GROUP_REMOVED",
];

impl Event {
    /// Its type's name, as the envelope gives it.
    pub fn name(&self) -> String {
        match self {
            Event::ProcessState { to, .. } => format!("PROCESS_STATE_{}", to.name()),
            Event::ProcessLog { stderr: false, .. } => "PROCESS_LOG_STDOUT".into(),
            Event::ProcessLog { stderr: true, .. } => "PROCESS_LOG_STDERR".into(),
            Event::Group { added: true, .. } => "PROCESS_GROUP_ADDED".into(),
            Event::Group { added: false, .. } => "PROCESS_GROUP_REMOVED".into(),
            Event::Supervisor { running: true } => "SUPERVISOR_STATE_CHANGE_RUNNING".into(),
            Event::Supervisor { running: false } => "SUPERVISOR_STATE_CHANGE_STOPPING".into(),
            Event::Tick { period, .. } => format!("TICK_{period}"),
            Event::Remote { .. } => "REMOTE_COMMUNICATION".into(),
        }
    }

    /// Whether a subscription to `kind` takes it: its own type, the family it
    /// belongs to, or `EVENT`.
    pub fn matches(&self, kind: &str) -> bool {
        let name = self.name();
        let family = match self {
            Event::ProcessState { .. } => "PROCESS_STATE",
            Event::ProcessLog { .. } => "PROCESS_LOG",
            Event::Group { .. } => "PROCESS_GROUP",
            Event::Supervisor { .. } => "SUPERVISOR_STATE_CHANGE",
            Event::Tick { .. } => "TICK",
            Event::Remote { .. } => "REMOTE_COMMUNICATION",
        };
        kind == name || kind == family || kind == "EVENT"
    }

    /// The payload, as supervisord 4.2 writes it.
    pub fn payload(&self) -> String {
        match self {
            Event::ProcessState {
                to,
                from,
                name,
                group,
                tries,
                expected,
                pid,
            } => {
                let mut s = format!(
                    "processname:{name} groupname:{group} from_state:{}",
                    from.name()
                );
                match to {
                    State::Starting | State::Backoff => s.push_str(&format!(" tries:{tries}")),
                    State::Exited => {
                        s.push_str(&format!(" expected:{} pid:{pid}", u8::from(*expected)))
                    }
                    State::Running | State::Stopping | State::Stopped => {
                        s.push_str(&format!(" pid:{pid}"))
                    }
                    State::Fatal | State::Unknown => {}
                }
                s
            }
            Event::ProcessLog {
                stderr,
                name,
                group,
                pid,
                data,
            } => format!(
                "processname:{name} groupname:{group} pid:{pid} channel:{}\n{data}",
                if *stderr { "stderr" } else { "stdout" }
            ),
            Event::Group { group, .. } => format!("groupname:{group}\n"),
            Event::Supervisor { .. } => String::new(),
            Event::Tick { when, .. } => format!("when:{when}"),
            Event::Remote { kind, data } => format!("type:{kind}\n{data}"),
        }
    }
}

/// The envelope a listener reads: the header line, then the payload. `len` counts
/// characters, as supervisord's Python does (its payload is text).
pub fn envelope(server: &str, serial: u64, pool: &str, pool_serial: u64, event: &Event) -> String {
    let payload = event.payload();
    format!(
        "ver:3.0 server:{server} serial:{serial} pool:{pool} poolserial:{pool_serial} \
         eventname:{} len:{}\n{payload}",
        event.name(),
        payload.chars().count()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(to: State, from: State) -> Event {
        Event::ProcessState {
            to,
            from,
            name: "cat".into(),
            group: "cat".into(),
            tries: 0,
            expected: true,
            pid: 4242,
        }
    }

    /// Each payload as supervisord 4.2's events.py writes it for the same facts.
    #[test]
    fn payloads_are_supervisords() {
        let rows = [
            (
                state(State::Starting, State::Stopped),
                "processname:cat groupname:cat from_state:STOPPED tries:0",
            ),
            (
                state(State::Running, State::Starting),
                "processname:cat groupname:cat from_state:STARTING pid:4242",
            ),
            (
                state(State::Backoff, State::Starting),
                "processname:cat groupname:cat from_state:STARTING tries:0",
            ),
            (
                state(State::Stopping, State::Running),
                "processname:cat groupname:cat from_state:RUNNING pid:4242",
            ),
            (
                state(State::Exited, State::Running),
                "processname:cat groupname:cat from_state:RUNNING expected:1 pid:4242",
            ),
            (
                state(State::Stopped, State::Stopping),
                "processname:cat groupname:cat from_state:STOPPING pid:4242",
            ),
            (
                state(State::Fatal, State::Backoff),
                "processname:cat groupname:cat from_state:BACKOFF",
            ),
            (
                state(State::Unknown, State::Running),
                "processname:cat groupname:cat from_state:RUNNING",
            ),
        ];
        for (e, want) in rows {
            assert_eq!(e.payload(), want, "{}", e.name());
        }
        let log = Event::ProcessLog {
            stderr: false,
            name: "foo".into(),
            group: "bar".into(),
            pid: 7,
            data: "hi\n".into(),
        };
        assert_eq!(
            log.payload(),
            "processname:foo groupname:bar pid:7 channel:stdout\nhi\n"
        );
        assert_eq!(
            Event::Group {
                added: true,
                group: "g".into()
            }
            .payload(),
            "groupname:g\n"
        );
        assert_eq!(
            Event::Tick {
                period: 5,
                when: 1_201_063_880
            }
            .payload(),
            "when:1201063880"
        );
        assert_eq!(Event::Supervisor { running: true }.payload(), "");
    }

    #[test]
    fn envelopes_and_subscriptions() {
        let e = state(State::Running, State::Starting);
        assert_eq!(
            envelope("supervisor", 21, "listener", 10, &e),
            "ver:3.0 server:supervisor serial:21 pool:listener poolserial:10 \
             eventname:PROCESS_STATE_RUNNING len:58\nprocessname:cat groupname:cat from_state:STARTING pid:4242"
        );
        assert!(
            e.matches("PROCESS_STATE") && e.matches("EVENT") && e.matches("PROCESS_STATE_RUNNING")
        );
        assert!(!e.matches("PROCESS_STATE_FATAL") && !e.matches("TICK"));
        let t = Event::Tick {
            period: 60,
            when: 60,
        };
        assert!(t.matches("TICK") && t.matches("TICK_60") && !t.matches("TICK_5"));
        // Characters, not bytes, as Python's len() of the text.
        let u = Event::Remote {
            kind: "x".into(),
            data: "é".into(),
        };
        assert!(envelope("s", 0, "p", 0, &u).contains("len:8\n"));
    }
}
