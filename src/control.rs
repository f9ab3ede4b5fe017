//! Control letters (SPEC §4): the one vocabulary shared by `supervise`, which reads
//! them from the `control` FIFO, and `svc`, which writes them.
//!
//! One enum with a `match` in each direction and a round-trip test over every byte,
//! so that adding a letter cannot leave one side behind (s6 once dropped a command
//! because four hand-kept facts drifted apart).

use nix::sys::signal::Signal;

/// One command to supervise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Letter {
    /// `u`: want the service up; start it if it is not running.
    Up,
    /// `d`: want it down; stop it and do not restart it.
    Down,
    /// `o`: start it if it is not running, never restart it.
    Once,
    /// `p`: send STOP and mark it paused.
    Pause,
    /// `c`: send CONT and clear the pause.
    Continue,
    /// `h`: send HUP.
    Hup,
    /// `a`: send ALRM.
    Alarm,
    /// `i`: send INT.
    Interrupt,
    /// `t`: send TERM (the service restarts if wanted up).
    Terminate,
    /// `k`: send KILL (the service restarts if wanted up).
    Kill,
    /// `q`: send QUIT.
    Quit,
    /// `1`: send USR1.
    User1,
    /// `2`: send USR2.
    User2,
    /// `x`: supervise exits once the service is down.
    Exit,
    /// `s`: silence alarms.
    Silence,
    /// `n`: turn alarms back on.
    Alarms,
    /// `r`: reload the config file.
    Reload,
}

impl Letter {
    /// Every letter, in the order of SPEC §4.
    pub const ALL: [Letter; 17] = [
        Letter::Up,
        Letter::Down,
        Letter::Once,
        Letter::Pause,
        Letter::Continue,
        Letter::Hup,
        Letter::Alarm,
        Letter::Interrupt,
        Letter::Terminate,
        Letter::Kill,
        Letter::Quit,
        Letter::User1,
        Letter::User2,
        Letter::Exit,
        Letter::Silence,
        Letter::Alarms,
        Letter::Reload,
    ];

    /// The byte written to the FIFO.
    pub fn to_byte(self) -> u8 {
        match self {
            Letter::Up => b'u',
            Letter::Down => b'd',
            Letter::Once => b'o',
            Letter::Pause => b'p',
            Letter::Continue => b'c',
            Letter::Hup => b'h',
            Letter::Alarm => b'a',
            Letter::Interrupt => b'i',
            Letter::Terminate => b't',
            Letter::Kill => b'k',
            Letter::Quit => b'q',
            Letter::User1 => b'1',
            Letter::User2 => b'2',
            Letter::Exit => b'x',
            Letter::Silence => b's',
            Letter::Alarms => b'n',
            Letter::Reload => b'r',
        }
    }

    /// The inverse of [`Letter::to_byte`].
    pub fn from_byte(b: u8) -> Option<Letter> {
        Some(match b {
            b'u' => Letter::Up,
            b'd' => Letter::Down,
            b'o' => Letter::Once,
            b'p' => Letter::Pause,
            b'c' => Letter::Continue,
            b'h' => Letter::Hup,
            b'a' => Letter::Alarm,
            b'i' => Letter::Interrupt,
            b't' => Letter::Terminate,
            b'k' => Letter::Kill,
            b'q' => Letter::Quit,
            b'1' => Letter::User1,
            b'2' => Letter::User2,
            b'x' => Letter::Exit,
            b's' => Letter::Silence,
            b'n' => Letter::Alarms,
            b'r' => Letter::Reload,
            _ => return None,
        })
    }

    /// The signal a letter sends to the service, for the letters that only signal.
    /// `d`, `p` and `c` also signal, but they change state too, so the state
    /// machine handles them itself.
    pub fn plain_signal(self) -> Option<Signal> {
        match self {
            Letter::Hup => Some(Signal::SIGHUP),
            Letter::Alarm => Some(Signal::SIGALRM),
            Letter::Interrupt => Some(Signal::SIGINT),
            Letter::Terminate => Some(Signal::SIGTERM),
            Letter::Kill => Some(Signal::SIGKILL),
            Letter::Quit => Some(Signal::SIGQUIT),
            Letter::User1 => Some(Signal::SIGUSR1),
            Letter::User2 => Some(Signal::SIGUSR2),
            Letter::Up
            | Letter::Down
            | Letter::Once
            | Letter::Pause
            | Letter::Continue
            | Letter::Exit
            | Letter::Silence
            | Letter::Alarms
            | Letter::Reload => None,
        }
    }
}

/// One item of a control write: a letter, or a byte that is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A known letter.
    Letter(Letter),
    /// An unknown byte, to be logged and skipped.
    Unknown(u8),
}

/// Splits bytes read from `control` into letters, in order. Spaces, tabs and line
/// ends carry no meaning (`echo k > control` writes a newline) and are skipped.
pub fn parse(bytes: &[u8]) -> impl Iterator<Item = Parsed> + '_ {
    bytes
        .iter()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .map(|&b| Letter::from_byte(b).map_or(Parsed::Unknown(b), Parsed::Letter))
}

/// Rate limit for "unknown letter" warnings: garbage written to `control` (a
/// megabyte of it, say) must not turn into a megabyte of log. At most [`NOISE_LINES`]
/// lines per [`NOISE_WINDOW`]; what is held back is counted and reported in one line
/// when the window ends.
#[derive(Debug, Clone, Default)]
pub struct Noise {
    window: Option<std::time::Instant>,
    lines: u32,
    held: u64,
}

/// Lines per window.
pub const NOISE_LINES: u32 = 5;
/// The window.
pub const NOISE_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

impl Noise {
    /// An unknown byte arrived: the line to log, if one may be logged now.
    pub fn note(&mut self, byte: u8, now: std::time::Instant) -> Option<String> {
        if self.window.is_none_or(|start| now >= start + NOISE_WINDOW) {
            self.window = Some(now);
            self.lines = 0;
        }
        if self.lines < NOISE_LINES {
            self.lines += 1;
            Some(format!(
                "unknown control letter {:?} ignored",
                char::from(byte)
            ))
        } else {
            self.held += 1;
            None
        }
    }

    /// When the held-back count is due to be reported.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        match (self.held, self.window) {
            (0, _) | (_, None) => None,
            (_, Some(start)) => Some(start + NOISE_WINDOW),
        }
    }

    /// The summary line once the window is over, if anything was held back.
    pub fn flush(&mut self, now: std::time::Instant) -> Option<String> {
        if self.deadline().is_some_and(|d| d <= now) {
            let held = std::mem::take(&mut self.held);
            self.window = None;
            return Some(format!("{held} more unknown control letters ignored"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_letter_round_trips() {
        for l in Letter::ALL {
            assert_eq!(Letter::from_byte(l.to_byte()), Some(l));
        }
    }

    #[test]
    fn every_byte_is_a_letter_at_most_once() {
        let known: Vec<u8> = (0..=255u8)
            .filter(|&b| Letter::from_byte(b).is_some())
            .collect();
        assert_eq!(known.len(), Letter::ALL.len());
        for b in known {
            assert_eq!(Letter::from_byte(b).map(Letter::to_byte), Some(b));
        }
    }

    #[test]
    fn spec_letters_are_exactly_these() {
        let spec = b"udopchaitkq12xsnr";
        let ours: Vec<u8> = Letter::ALL.iter().map(|l| l.to_byte()).collect();
        assert_eq!(ours, spec);
    }

    #[test]
    fn parse_keeps_order_and_skips_blanks() {
        let got: Vec<Parsed> = parse(b"d x\n\tk?").collect();
        assert_eq!(
            got,
            vec![
                Parsed::Letter(Letter::Down),
                Parsed::Letter(Letter::Exit),
                Parsed::Letter(Letter::Kill),
                Parsed::Unknown(b'?'),
            ]
        );
    }

    #[test]
    fn signal_letters() {
        assert_eq!(Letter::Kill.plain_signal(), Some(Signal::SIGKILL));
        assert_eq!(Letter::User2.plain_signal(), Some(Signal::SIGUSR2));
        assert_eq!(Letter::Down.plain_signal(), None);
        let signalling = Letter::ALL
            .iter()
            .filter(|l| l.plain_signal().is_some())
            .count();
        assert_eq!(signalling, 8, "h a i t k q 1 2");
    }

    #[test]
    fn noise_is_rate_limited_and_summed_up() {
        let t0 = std::time::Instant::now();
        let mut n = Noise::default();
        let logged = (0..1000).filter_map(|_| n.note(b'?', t0)).count();
        assert_eq!(logged, NOISE_LINES as usize);
        assert_eq!(n.deadline(), Some(t0 + NOISE_WINDOW));
        assert_eq!(n.flush(t0 + NOISE_WINDOW / 2), None);
        assert_eq!(
            n.flush(t0 + NOISE_WINDOW).as_deref(),
            Some("995 more unknown control letters ignored")
        );
        assert_eq!(n.deadline(), None);
        assert!(n.note(b'?', t0 + NOISE_WINDOW).is_some(), "a new window");
    }
}
