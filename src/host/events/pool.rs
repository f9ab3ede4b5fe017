//! An event listener pool (`[eventlistener:x]`) and supervisord's listener protocol,
//! without I/O: events buffered (at most `buffer_size`; a full buffer drops its
//! oldest with a warning), each sent to one listener that said `READY\n`, the
//! `RESULT N\n` and its N bytes read back (`OK` done; anything else, or a listener
//! that goes away while busy, puts the event back at the head of the buffer), and a
//! listener that breaks the protocol set aside (UNKNOWN) as supervisord does.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::{Event, envelope};

/// What the pool does with a listener's result (`result_handler`): supervisord's
/// own handler, or supervisor_stdout's (its Python cannot run here; what it does
/// is done instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `supervisor.dispatchers:default_handler`: `OK`, or the event is rejected.
    Default,
    /// `supervisor_stdout:event_handler`: the result is a PROCESS_LOG payload,
    /// printed to the host's stdout as `NAME CHANNEL | DATA`.
    Stdout,
}

impl Handler {
    /// The handler a `result_handler` names; `None` for one that cannot run here.
    pub fn named(spec: &str) -> Option<Handler> {
        match spec.trim() {
            "" | "supervisor.dispatchers:default_handler" => Some(Handler::Default),
            "supervisor_stdout:event_handler" => Some(Handler::Stdout),
            _ => None,
        }
    }
}

/// Where a listener is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connected; its `READY` is awaited.
    Acknowledged,
    /// Waiting for an event.
    Ready,
    /// Handling one; its `RESULT` is awaited.
    Busy,
    /// It broke the protocol: no more events until it restarts.
    Unknown,
}

/// An event in a pool's buffer, with its serials.
#[derive(Debug, Clone)]
struct Queued {
    event: Arc<Event>,
    serial: u64,
    pool_serial: u64,
}

#[derive(Debug)]
struct Listener {
    state: State,
    input: Vec<u8>,
    busy: Option<Queued>,
    /// The length a `RESULT` line announced, while its bytes are read.
    result_len: Option<usize>,
}

/// The most bytes a listener may send without completing a protocol token.
const MAX_INPUT: usize = 64 * 1024;

/// One pool.
#[derive(Debug)]
pub struct Pool {
    /// The pool's name (the section's `x`).
    pub name: String,
    events: Vec<String>,
    buffer_size: usize,
    buffer: VecDeque<Queued>,
    /// The next pool serial (supervisord's count from 0).
    next_serial: u64,
    listeners: BTreeMap<String, Listener>,
    handler: Handler,
    /// What the stdout handler printed, for the host to write.
    pub printed: Vec<u8>,
}

impl Pool {
    /// A pool subscribed to `events` (type names, abstract ones included).
    pub fn new(name: &str, events: Vec<String>, buffer_size: usize) -> Pool {
        Pool {
            name: name.to_owned(),
            events,
            buffer_size: buffer_size.max(1),
            buffer: VecDeque::new(),
            next_serial: 0,
            listeners: BTreeMap::new(),
            handler: Handler::Default,
            printed: Vec::new(),
        }
    }

    /// Sets what is done with results.
    pub fn set_handler(&mut self, h: Handler) {
        self.handler = h;
    }

    /// Whether it takes `e`.
    pub fn subscribes(&self, e: &Event) -> bool {
        self.events.iter().any(|k| e.matches(k))
    }

    /// Whether a subscription needs ticks of `period` seconds.
    pub fn wants_tick(&self, period: u64) -> bool {
        self.subscribes(&Event::Tick { period, when: 0 })
    }

    /// Takes `e` (global `serial`) into the buffer; a line for the log if the oldest
    /// had to go.
    pub fn accept(&mut self, e: Arc<Event>, serial: u64) -> Option<String> {
        let q = Queued {
            event: e,
            serial,
            pool_serial: self.next_serial,
        };
        self.next_serial += 1;
        self.push(q, false)
    }

    fn push(&mut self, q: Queued, head: bool) -> Option<String> {
        let mut said = None;
        if self.buffer.len() >= self.buffer_size {
            if let Some(old) = self.buffer.pop_front() {
                said = Some(format!(
                    "pool {} event buffer overflowed, discarding event {}",
                    self.name, old.serial
                ));
            }
        }
        if head {
            self.buffer.push_front(q);
        } else {
            self.buffer.push_back(q);
        }
        said
    }

    /// A listener of the pool connected (its process started).
    pub fn connected(&mut self, name: &str) {
        self.listeners.insert(
            name.to_owned(),
            Listener {
                state: State::Acknowledged,
                input: Vec::new(),
                busy: None,
                result_len: None,
            },
        );
    }

    /// A listener went away: the event it had goes back to the head of the buffer.
    pub fn disconnected(&mut self, name: &str) -> Option<String> {
        let l = self.listeners.remove(name)?;
        self.push(l.busy?, true)
    }

    /// Where `name` is in the protocol.
    pub fn state(&self, name: &str) -> Option<State> {
        self.listeners.get(name).map(|l| l.state)
    }

    /// What listener `name` wrote; lines for the log.
    pub fn on_data(&mut self, name: &str, bytes: &[u8]) -> Vec<String> {
        let mut log = Vec::new();
        let Some(l) = self.listeners.get_mut(name) else {
            return log;
        };
        l.input.extend_from_slice(bytes);
        let mut requeue = None;
        let handler = self.handler;
        loop {
            let before = l.input.len();
            match step(l, name, handler, &mut self.printed, &mut log) {
                Step::Again => {}
                Step::Wait => break,
                Step::Rejected(q) => requeue = Some(q),
            }
            if l.input.is_empty() || l.input.len() == before && l.state != State::Busy {
                break;
            }
        }
        if l.input.len() > MAX_INPUT {
            l.input.clear();
            l.state = State::Unknown;
            log.push(unknown(name));
        }
        if let Some(q) = requeue {
            log.extend(self.push(q, true));
        }
        log
    }

    /// Sends buffered events to ready listeners: what to write to whom.
    pub fn dispatch(&mut self, server: &str) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(q) = self.buffer.front() {
            let Some((name, l)) = self
                .listeners
                .iter_mut()
                .find(|(_, l)| l.state == State::Ready)
            else {
                break;
            };
            let text = envelope(server, q.serial, &self.name, q.pool_serial, &q.event);
            out.push((name.clone(), text.into_bytes()));
            l.state = State::Busy;
            l.busy = self.buffer.pop_front();
        }
        out
    }
}

enum Step {
    /// Something was consumed: look again.
    Again,
    /// More bytes are needed.
    Wait,
    /// The event was not handled (`FAIL`, a bad result): back to the buffer.
    Rejected(Queued),
}

fn unknown(name: &str) -> String {
    format!(
        "{name}: has entered the UNKNOWN state and will no longer receive events, this \
         usually indicates the process violated the eventlistener protocol"
    )
}

/// One step of supervisord's `handle_listener_state_change`.
fn step(
    l: &mut Listener,
    name: &str,
    handler: Handler,
    printed: &mut Vec<u8>,
    log: &mut Vec<String>,
) -> Step {
    const READY: &[u8] = b"READY\n";
    match l.state {
        State::Unknown => {
            l.input.clear();
            Step::Wait
        }
        State::Acknowledged => {
            if l.input.len() < READY.len() {
                return Step::Wait;
            }
            if l.input.starts_with(READY) {
                l.input.drain(..READY.len());
                l.state = State::Ready;
                Step::Again
            } else {
                l.input.clear();
                l.state = State::Unknown;
                log.push(unknown(name));
                Step::Wait
            }
        }
        State::Ready => {
            // Anything said while nothing was asked breaks the protocol.
            l.input.clear();
            l.state = State::Unknown;
            log.push(unknown(name));
            Step::Wait
        }
        State::Busy => busy_step(l, name, handler, printed, log),
    }
}

fn busy_step(
    l: &mut Listener,
    name: &str,
    handler: Handler,
    printed: &mut Vec<u8>,
    log: &mut Vec<String>,
) -> Step {
    let Some(len) = l.result_len else {
        let Some(pos) = l.input.iter().position(|&b| b == b'\n') else {
            return Step::Wait;
        };
        let line: Vec<u8> = l.input.drain(..=pos).collect();
        let line = &line[..line.len() - 1];
        let len = line
            .strip_prefix(b"RESULT ")
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.trim().parse::<usize>().ok())
            .filter(|&n| n <= MAX_INPUT);
        return match len {
            Some(n) => {
                l.result_len = Some(n);
                Step::Again
            }
            None => {
                log.push(format!(
                    "{name}: bad result line: '{}'",
                    String::from_utf8_lossy(line)
                ));
                l.state = State::Unknown;
                l.input.clear();
                l.busy.take().map_or(Step::Wait, Step::Rejected)
            }
        };
    };
    if l.input.len() < len {
        return Step::Wait;
    }
    let result: Vec<u8> = l.input.drain(..len).collect();
    l.result_len = None;
    l.state = State::Acknowledged;
    let event = l.busy.take();
    if handler == Handler::Stdout {
        // supervisor_stdout's event_handler: `NAME CHANNEL | DATA`, no newline added.
        if let Some(pos) = result.iter().position(|&b| b == b'\n') {
            let head = String::from_utf8_lossy(&result[..pos]);
            let field = |k: &str| {
                head.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix(':'))
                    .unwrap_or("")
                    .to_owned()
            };
            printed.extend_from_slice(
                format!("{} {} | ", field("processname"), field("channel")).as_bytes(),
            );
            printed.extend_from_slice(&result[pos + 1..]);
        }
        return Step::Again;
    }
    if result == b"OK" {
        return Step::Again;
    }
    log.push(format!("{name}: event was rejected"));
    event.map_or(Step::Again, Step::Rejected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::info;

    fn ev(n: u32) -> Arc<Event> {
        Arc::new(Event::ProcessState {
            to: info::State::Running,
            from: info::State::Starting,
            name: "cat".into(),
            group: "cat".into(),
            tries: 0,
            expected: true,
            pid: n,
        })
    }

    fn pool() -> Pool {
        Pool::new("listener", vec!["PROCESS_STATE".into()], 3)
    }

    #[test]
    fn ready_event_result_ready() {
        let mut p = pool();
        p.connected("l0");
        assert!(p.accept(ev(1), 7).is_none());
        assert!(p.dispatch("supervisor").is_empty(), "not ready yet");
        assert!(p.on_data("l0", b"READ").is_empty());
        assert!(p.on_data("l0", b"Y\n").is_empty());
        let out = p.dispatch("supervisor");
        assert_eq!(out.len(), 1);
        let text = String::from_utf8(out[0].1.clone()).unwrap();
        assert!(text.starts_with("ver:3.0 server:supervisor serial:7 pool:listener poolserial:0 eventname:PROCESS_STATE_RUNNING len:"), "{text}");
        assert_eq!(p.state("l0"), Some(State::Busy));
        // The result and the next READY in one write.
        assert!(p.on_data("l0", b"RESULT 2\nOKREADY\n").is_empty());
        assert_eq!(p.state("l0"), Some(State::Ready));
    }

    #[test]
    fn fail_and_a_dead_listener_put_the_event_back_first() {
        let mut p = pool();
        p.connected("l0");
        p.on_data("l0", b"READY\n");
        p.accept(ev(1), 0);
        p.accept(ev(2), 1);
        p.dispatch("s");
        let log = p.on_data("l0", b"RESULT 4\nFAILREADY\n");
        assert_eq!(log, ["l0: event was rejected"]);
        let again = p.dispatch("s");
        assert!(
            String::from_utf8_lossy(&again[0].1).contains("serial:0 "),
            "the rejected one first"
        );
        p.disconnected("l0");
        p.connected("l1");
        p.on_data("l1", b"READY\n");
        let again = p.dispatch("s");
        assert!(
            String::from_utf8_lossy(&again[0].1).contains("serial:0 "),
            "and again after a death"
        );
    }

    #[test]
    fn a_full_buffer_drops_its_oldest_and_a_rude_listener_is_set_aside() {
        let mut p = pool();
        for i in 0..3 {
            assert!(p.accept(ev(i), u64::from(i)).is_none());
        }
        assert_eq!(
            p.accept(ev(3), 3).as_deref(),
            Some("pool listener event buffer overflowed, discarding event 0")
        );
        p.connected("l0");
        let log = p.on_data("l0", b"HELLO!\n");
        assert!(log[0].contains("has entered the UNKNOWN state"), "{log:?}");
        assert!(p.dispatch("s").is_empty());
        p.connected("l1");
        p.on_data("l1", b"READY\n");
        p.dispatch("s");
        let log = p.on_data("l1", b"RESULT x\n");
        assert_eq!(log[0], "l1: bad result line: 'RESULT x'");
        assert_eq!(p.state("l1"), Some(State::Unknown));
    }
}
