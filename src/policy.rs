//! Crash policy: the facts about recent exits, and the pure decision made from them.
//!
//! Facts ([`Tally`]) record each exit of the current window: when, and whether it
//! dumped core. The decision ([`judge`]) is a function of the limits and the tally
//! alone, so it is tested as a table. The rules are the legacy tool's (SPEC §6):
//! the first exit after the last window closed opens a new window of
//! `alarm_interval` and sends an alarm; later exits in it are only logged; more than
//! `max_tries` exits in one window (or more than `max_tries_if_coredumped` that dumped
//! core) and supervise gives up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The limits from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// The window; zero turns windows, alarms and limits off.
    pub interval: Duration,
    /// Exits allowed in a window before giving up (0: no limit).
    pub max_tries: u32,
    /// Core-dumping exits allowed in a window (0: no limit).
    pub max_cores: u32,
}

/// One exit, as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fact {
    /// When it was reaped.
    pub at: Instant,
    /// Whether it dumped core.
    pub core: bool,
}

/// The exits of the current window: the first and the latest [`KEEP`] of them, and
/// counts of all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    exits: VecDeque<Fact>,
    count: usize,
    cores: usize,
}

/// The most exits a tally keeps in detail; memory must not grow with a crash loop.
/// The counts, which limits are checked against, are kept whole.
const KEEP: usize = 64;

impl Tally {
    /// Records an exit; returns true if it opened a new window (the window it was in
    /// had closed, or there was none).
    pub fn record(&mut self, fact: Fact, interval: Duration) -> bool {
        let opens = self
            .exits
            .front()
            .is_none_or(|first| fact.at.saturating_duration_since(first.at) >= interval);
        if opens {
            self.clear();
        }
        if self.exits.len() == KEEP {
            // Keep the first (it dates the window); drop the oldest after it.
            self.exits.remove(1);
        }
        self.exits.push_back(fact);
        self.count += 1;
        self.cores += usize::from(fact.core);
        opens
    }

    /// Forgets everything: a fresh start (after a cool-down, or an operator's `u`).
    pub fn clear(&mut self) {
        self.exits.clear();
        self.count = 0;
        self.cores = 0;
    }

    /// Exits in the window.
    pub fn exits(&self) -> usize {
        self.count
    }

    /// Exits in the window that dumped core.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// From the window's first exit to its last.
    pub fn span(&self) -> Duration {
        match (self.exits.front(), self.exits.back()) {
            (Some(a), Some(b)) => b.at.saturating_duration_since(a.at),
            _ => Duration::ZERO,
        }
    }
}

/// What to do after an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Restart; `alarm` when this exit opened a window.
    Restart {
        /// Send an alarm for this exit.
        alarm: bool,
    },
    /// Past a limit: stop restarting.
    GiveUp {
        /// Exits in the window.
        exits: usize,
        /// Of which dumped core.
        cores: usize,
        /// Which limit was passed.
        because: Limit,
    },
}

/// The limit a give-up passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `max_tries`.
    Tries,
    /// `max_tries_if_coredumped`.
    Cores,
    /// `start_retries`: failed starts in a row.
    Retries,
}

impl Limit {
    /// The config key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            Limit::Tries => "max_tries",
            Limit::Cores => "max_tries_if_coredumped",
            Limit::Retries => "start_retries",
        }
    }

    /// The inverse of [`Limit::key`].
    pub fn from_key(key: &str) -> Option<Limit> {
        match key {
            "max_tries" => Some(Limit::Tries),
            "max_tries_if_coredumped" => Some(Limit::Cores),
            "start_retries" => Some(Limit::Retries),
            _ => None,
        }
    }
}

/// "gave up after 3 restarts in 2 seconds": the one wording of a give-up, for the
/// alarm, the log and the state file.
pub fn gave_up_text(exits: usize, span: Duration) -> String {
    format!(
        "gave up after {} restarts in {} seconds",
        exits.saturating_sub(1),
        span.as_secs()
    )
}

/// Records `fact` and decides. With the interval at zero nothing is recorded and the
/// answer is always a silent restart.
pub fn judge(limits: &Limits, tally: &mut Tally, fact: Fact) -> Verdict {
    if limits.interval.is_zero() {
        return Verdict::Restart { alarm: false };
    }
    let opened = tally.record(fact, limits.interval);
    let (exits, cores) = (tally.exits(), tally.cores());
    let over = |n: usize, max: u32| max > 0 && n > max as usize;
    if over(exits, limits.max_tries) {
        Verdict::GiveUp {
            exits,
            cores,
            because: Limit::Tries,
        }
    } else if over(cores, limits.max_cores) {
        Verdict::GiveUp {
            exits,
            cores,
            because: Limit::Cores,
        }
    } else {
        Verdict::Restart { alarm: opened }
    }
}

/// The `-r RESTART_SH` count: N for this exit given the last exit's N and time.
/// N starts again at 1 when exits are at least `time_limit` apart; without `-t` the
/// limit is 0, as in the legacy tool, so N is always 1.
pub fn restart_count(
    last: Option<(u64, Instant)>,
    now: Instant,
    time_limit: Option<Duration>,
) -> u64 {
    match (last, time_limit) {
        (None, _) => 1,
        (Some(_), None) => 1,
        (Some((_, at)), Some(limit)) if now.saturating_duration_since(at) >= limit => 1,
        (Some((n, _)), _) => n.saturating_add(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn limits(interval: u64, tries: u32, cores: u32) -> Limits {
        Limits {
            interval: Duration::from_secs(interval),
            max_tries: tries,
            max_cores: cores,
        }
    }

    /// Feeds exits at the given seconds (negative: core dump) and returns the verdicts.
    fn run(l: Limits, exits: &[i64]) -> Vec<Verdict> {
        let t0 = Instant::now();
        let mut tally = Tally::default();
        exits
            .iter()
            .map(|&s| {
                let fact = Fact {
                    at: t0 + Duration::from_secs(s.unsigned_abs()),
                    core: s < 0,
                };
                judge(&l, &mut tally, fact)
            })
            .collect()
    }

    const R: Verdict = Verdict::Restart { alarm: false };
    const A: Verdict = Verdict::Restart { alarm: true };

    fn gave_up(exits: usize, cores: usize, because: Limit) -> Verdict {
        Verdict::GiveUp {
            exits,
            cores,
            because,
        }
    }

    #[test]
    fn table() {
        let rows: Vec<(&str, Limits, Vec<i64>, Vec<Verdict>)> = vec![
            (
                "off: nothing counts",
                limits(0, 1, 1),
                vec![1, 2, 3, -4],
                vec![R, R, R, R],
            ),
            (
                "first exit of a window alarms",
                limits(60, 0, 0),
                vec![1, 2, 3],
                vec![A, R, R],
            ),
            (
                "max_tries 3: the 4th exit gives up",
                limits(60, 3, 0),
                vec![1, 2, 3, 4],
                vec![A, R, R, gave_up(4, 0, Limit::Tries)],
            ),
            (
                "the window resets after the interval",
                limits(60, 3, 0),
                vec![1, 2, 3, 61, 62, 63],
                vec![A, R, R, A, R, R],
            ),
            (
                "exactly the interval later is a new window",
                limits(60, 1, 0),
                vec![0, 60],
                vec![A, A],
            ),
            (
                "cores counted apart",
                limits(60, 0, 2),
                vec![-1, 2, -3, 4, -5],
                vec![A, R, R, R, gave_up(5, 3, Limit::Cores)],
            ),
            (
                "tries checked before cores",
                limits(60, 2, 2),
                vec![-1, -2, -3],
                vec![A, R, gave_up(3, 3, Limit::Tries)],
            ),
            (
                "no limits: alarms only",
                limits(60, 0, 0),
                vec![1, 100, 101],
                vec![A, A, R],
            ),
        ];
        for (what, l, exits, expected) in rows {
            assert_eq!(run(l, &exits), expected, "{what}");
        }
    }

    #[test]
    fn a_large_limit_still_trips() {
        let got = run(limits(100_000, 5000, 0), &(1..=5001).collect::<Vec<i64>>());
        assert_eq!(got[0], A);
        assert!(got[1..5000].iter().all(|v| *v == R));
        assert_eq!(got[5000], gave_up(5001, 0, Limit::Tries));
    }

    #[test]
    fn limit_keys_round_trip() {
        for l in [Limit::Tries, Limit::Cores] {
            assert_eq!(Limit::from_key(l.key()), Some(l));
        }
        assert_eq!(Limit::from_key("max_fun"), None);
    }

    #[test]
    fn span_and_clear() {
        let t0 = Instant::now();
        let mut t = Tally::default();
        t.record(
            Fact {
                at: t0,
                core: false,
            },
            60 * S,
        );
        t.record(
            Fact {
                at: t0 + 3 * S,
                core: true,
            },
            60 * S,
        );
        assert_eq!((t.exits(), t.cores(), t.span()), (2, 1, 3 * S));
        t.clear();
        assert_eq!(t.exits(), 0);
    }

    #[test]
    fn the_tally_is_bounded() {
        let t0 = Instant::now();
        let mut t = Tally::default();
        for i in 0..10_000u32 {
            t.record(
                Fact {
                    at: t0 + Duration::from_millis(u64::from(i)),
                    core: false,
                },
                3600 * S,
            );
        }
        assert_eq!(t.exits.len(), KEEP, "the detail is bounded");
        assert_eq!(t.exits(), 10_000, "the count is not");
        assert_eq!(
            t.span(),
            Duration::from_millis(9_999),
            "the window keeps its first exit"
        );
    }

    #[test]
    fn restart_counts() {
        let t0 = Instant::now();
        assert_eq!(restart_count(None, t0, Some(10 * S)), 1);
        assert_eq!(restart_count(Some((1, t0)), t0 + 3 * S, Some(10 * S)), 2);
        assert_eq!(restart_count(Some((5, t0)), t0 + 10 * S, Some(10 * S)), 1);
        assert_eq!(
            restart_count(Some((5, t0)), t0 + S / 10, None),
            1,
            "no -t: always 1"
        );
    }
}
