//! Whether a live service left by a previous supervise may be taken over, decided
//! from what the status directory records and what `/proc` says, with no I/O here.
//!
//! Adopting a process means signalling it (and its whole group) later, as root
//! perhaps, on the word of two files in a directory someone else may write. So a
//! record is believed only when everything agrees with it being the previous
//! supervise's service: both files were written by supervise's own user (owned by
//! it, one name each); they name the same pid; that pid is not 1, not supervise, not
//! one of its ancestors; the process is alive, started at the recorded tick, leads
//! its own process group (as every service supervise starts does), and runs as the
//! service's user. Anything less is a fresh start, with the reason logged when a
//! record named a live process.

use std::time::SystemTime;

use crate::client;
use crate::status::{self, Want};

/// A file as read from the status directory: its bytes and who wrote it.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    /// Its content.
    pub bytes: &'a [u8],
    /// The uid that owns it.
    pub owner: u32,
    /// How many names it has.
    pub links: u64,
}

/// What `/proc` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    /// Alive (not a zombie).
    pub alive: bool,
    /// Start time, clock ticks after boot.
    pub start: u64,
    /// Its process group.
    pub pgid: u32,
    /// Its real user id.
    pub uid: u32,
}

/// Who is asking: this supervise.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    /// Our pid.
    pub me: u32,
    /// Our parent, its parent, ... up to 1.
    pub ancestors: &'a [u32],
    /// The uid supervise runs as (the only writer trusted for the records).
    pub euid: u32,
    /// The uid the service runs as.
    pub service_uid: u32,
}

/// A service to take over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// Its pid.
    pub pid: u32,
    /// Its start time.
    pub start: u64,
    /// What was wanted of it.
    pub want: Want,
    /// Whether it was paused.
    pub paused: bool,
    /// How many starts the previous supervise had made.
    pub starts: u64,
    /// When its pid last changed.
    pub since: SystemTime,
}

/// Why a record is not adopted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing to adopt: no record, no pid, or the process it names has ended (or its
    /// pid now belongs to another process). A plain start; nothing worth saying.
    Nothing,
    /// A file could not be decoded: which, and why.
    Unreadable(&'static str, String),
    /// A file was not written by supervise's user: which, and its owner.
    Foreign(&'static str, u32),
    /// A file has several names: which.
    HardLinked(&'static str),
    /// `status` and `state` name different pids.
    Disagree(u32, u32),
    /// The pid is 0 or 1.
    Reserved(u32),
    /// The pid is this supervise.
    Myself(u32),
    /// The pid is one of this supervise's ancestors.
    Ancestor(u32),
    /// The process does not lead its own group.
    NotLeader(u32, u32),
    /// The process runs as another user than the service: pid, its uid, the service's.
    OtherUser(u32, u32, u32),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Nothing => f.write_str("nothing to adopt"),
            Refusal::Unreadable(file, why) => write!(f, "{file} cannot be read: {why}"),
            Refusal::Foreign(file, uid) => write!(
                f,
                "{file} belongs to uid {uid}, not to supervise's user: not written by supervise"
            ),
            Refusal::HardLinked(file) => write!(f, "{file} has other names"),
            Refusal::Disagree(a, b) => write!(f, "status names pid {a} and state pid {b}"),
            Refusal::Reserved(pid) => write!(f, "it names pid {pid}"),
            Refusal::Myself(pid) => write!(f, "it names supervise itself (pid {pid})"),
            Refusal::Ancestor(pid) => write!(f, "it names pid {pid}, which started supervise"),
            Refusal::NotLeader(pid, pgid) => write!(
                f,
                "pid {pid} is in process group {pgid}, not leading its own as the service does"
            ),
            Refusal::OtherUser(pid, uid, want) => {
                write!(f, "pid {pid} runs as uid {uid}, the service as uid {want}")
            }
        }
    }
}

/// Checks that a record was written by supervise's own user.
fn trusted(file: &'static str, r: &Recorded<'_>, euid: u32) -> Result<(), Refusal> {
    if r.owner != euid {
        return Err(Refusal::Foreign(file, r.owner));
    }
    if r.links > 1 {
        return Err(Refusal::HardLinked(file));
    }
    Ok(())
}

/// What the records claim: pid, its start time, and the status they come with.
fn claim(
    status: &Recorded<'_>,
    state: &Recorded<'_>,
) -> Result<(status::Status, crate::statefile::Record, u64), Refusal> {
    let st = status::decode(status.bytes)
        .map_err(|e| Refusal::Unreadable("status", format!("it {e}")))?;
    if st.pid == 0 {
        return Err(Refusal::Nothing);
    }
    let rec = client::decode_state(state.bytes).map_err(|e| Refusal::Unreadable("state", e))?;
    if rec.pid != st.pid {
        return Err(Refusal::Disagree(st.pid, rec.pid));
    }
    let start = rec
        .pid_start
        .ok_or_else(|| Refusal::Unreadable("state", "it records no pid_start".into()))?;
    Ok((st, rec, start))
}

/// Checks that `pid` is one supervise may ever signal as its service.
fn allowed(pid: u32, asker: &Asker<'_>) -> Result<(), Refusal> {
    if pid <= 1 {
        return Err(Refusal::Reserved(pid));
    }
    if pid == asker.me {
        return Err(Refusal::Myself(pid));
    }
    if asker.ancestors.contains(&pid) {
        return Err(Refusal::Ancestor(pid));
    }
    Ok(())
}

/// Checks that the live process is the one recorded, and looks like our service.
fn matches(pid: u32, start: u64, p: Option<Process>, service_uid: u32) -> Result<(), Refusal> {
    let p = p.filter(|p| p.alive && p.start == start);
    let p = p.ok_or(Refusal::Nothing)?;
    if p.pgid != pid {
        return Err(Refusal::NotLeader(pid, p.pgid));
    }
    if p.uid != service_uid {
        return Err(Refusal::OtherUser(pid, p.uid, service_uid));
    }
    Ok(())
}

/// Decides whether the records name a service to adopt; `look` reads `/proc` for
/// the pid they name (called at most once, and only for a pid that may be adopted).
pub fn decide(
    status: &Recorded<'_>,
    state: &Recorded<'_>,
    asker: &Asker<'_>,
    look: impl FnOnce(u32) -> Option<Process>,
) -> Result<Orphan, Refusal> {
    trusted("status", status, asker.euid)?;
    trusted("state", state, asker.euid)?;
    let (st, rec, start) = claim(status, state)?;
    allowed(st.pid, asker)?;
    matches(st.pid, start, look(st.pid), asker.service_uid)?;
    Ok(Orphan {
        pid: st.pid,
        start,
        want: st.want,
        paused: st.paused,
        starts: rec.starts,
        since: st.since.to_system_time(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statefile::{self, Phase, Record};
    use crate::status::{Status, Tai64n};
    use std::time::{Duration, UNIX_EPOCH};

    const ME: u32 = 500;
    const EUID: u32 = 0;
    const SVC_UID: u32 = 1000;

    fn files(pid: u32, start: Option<u64>) -> (Vec<u8>, String) {
        let since = UNIX_EPOCH + Duration::from_secs(1_795_255_200);
        let st = status::encode(&Status {
            since: Tai64n::from_system_time(since),
            paused: false,
            want: Want::Down,
            alarms: true,
            pid,
        });
        let rec = Record {
            supervise_pid: 400,
            service: "app".into(),
            command: "app".into(),
            phase: Phase::Up,
            want: Want::Down,
            pid,
            pid_start: start,
            since,
            starts: 3,
            next_start: None,
            last_exit: None,
            window_exits: None,
            gave_up: None,
            backoff: None,
            adopted: false,
            watch: Vec::new(),
            watch_restart: None,
            readiness: None,
            ready_since: None,
            status_text: None,
            health: None,
            last_failure: None,
            failed_starts: 0,
        };
        (st.to_vec(), statefile::encode(&rec))
    }

    fn ours(b: &[u8]) -> Recorded<'_> {
        Recorded {
            bytes: b,
            owner: EUID,
            links: 1,
        }
    }

    fn service(pid: u32) -> Option<Process> {
        Some(Process {
            alive: true,
            start: 777,
            pgid: pid,
            uid: SVC_UID,
        })
    }

    fn decide_for(pid: u32, owner: u32, p: Option<Process>) -> Result<Orphan, Refusal> {
        let (st, state) = files(pid, Some(777));
        let asker = Asker {
            me: ME,
            ancestors: &[499, 1],
            euid: EUID,
            service_uid: SVC_UID,
        };
        let status = Recorded { owner, ..ours(&st) };
        decide(&status, &ours(state.as_bytes()), &asker, |_| p)
    }

    #[test]
    fn the_previous_service_is_adopted() {
        let o = decide_for(4242, EUID, service(4242)).unwrap();
        assert_eq!(
            (o.pid, o.start, o.starts, o.want),
            (4242, 777, 3, Want::Down)
        );
    }

    #[test]
    fn every_forgery_is_refused() {
        let rows: Vec<(u32, u32, Option<Process>, Refusal)> = vec![
            (1, EUID, service(1), Refusal::Reserved(1)),
            (ME, EUID, service(ME), Refusal::Myself(ME)),
            (499, EUID, service(499), Refusal::Ancestor(499)),
            (4242, 1000, service(4242), Refusal::Foreign("status", 1000)),
            (
                4242,
                EUID,
                Some(Process {
                    pgid: 4000,
                    ..service(4242).unwrap()
                }),
                Refusal::NotLeader(4242, 4000),
            ),
            (
                4242,
                EUID,
                Some(Process {
                    uid: 0,
                    ..service(4242).unwrap()
                }),
                Refusal::OtherUser(4242, 0, SVC_UID),
            ),
            (
                4242,
                EUID,
                Some(Process {
                    start: 778,
                    ..service(4242).unwrap()
                }),
                Refusal::Nothing,
            ),
            (
                4242,
                EUID,
                Some(Process {
                    alive: false,
                    ..service(4242).unwrap()
                }),
                Refusal::Nothing,
            ),
            (4242, EUID, None, Refusal::Nothing),
            (0, EUID, None, Refusal::Nothing),
        ];
        for (pid, owner, p, want) in rows {
            assert_eq!(decide_for(pid, owner, p), Err(want), "pid {pid}");
        }
    }

    #[test]
    fn records_that_disagree_or_lack_a_start_are_refused() {
        let (st, _) = files(4242, Some(777));
        let (_, other) = files(4343, Some(777));
        let (_, nostart) = files(4242, None);
        let asker = Asker {
            me: ME,
            ancestors: &[],
            euid: EUID,
            service_uid: SVC_UID,
        };
        let d = |state: &str| decide(&ours(&st), &ours(state.as_bytes()), &asker, service);
        assert_eq!(d(&other), Err(Refusal::Disagree(4242, 4343)));
        assert!(matches!(d(&nostart), Err(Refusal::Unreadable("state", _))));
        assert!(matches!(d("junk"), Err(Refusal::Unreadable("state", _))));
        let linked = Recorded {
            links: 2,
            ..ours(other.as_bytes())
        };
        assert_eq!(
            decide(&ours(&st), &linked, &asker, service),
            Err(Refusal::HardLinked("state"))
        );
    }
}
