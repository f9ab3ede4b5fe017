//! The 20-byte `status` file, byte-compatible with the legacy C supervise (SPEC §5).
//!
//! Operators' scripts read this file with `od -An -j16 -N4 -tu4`, so its layout is a
//! contract, not an implementation detail. This module owns that layout as a pair of
//! pure functions, [`encode`] and [`decode`], and nothing else: writing the file is
//! [`crate::statusdir`]'s job, and everything the 20 bytes cannot say lives in the
//! separate `state` file ([`crate::statefile`]).
//!
//! | bytes | content |
//! |---|---|
//! | 0–7 | TAI64 label (2^62 + 10 + Unix seconds), big-endian, of the last change of pid |
//! | 8–11 | nanoseconds, big-endian |
//! | 12 | 1 if paused |
//! | 13 | want: `u`, `d`, or 0 for once |
//! | 14 | alarms: `o` on, `x` silenced |
//! | 15 | 0 |
//! | 16–19 | pid, unsigned 32-bit little-endian, 0 when down |

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of the status file; it never changes.
pub const STATUS_LEN: usize = 20;

/// TAI64 labels count from 2^62; TAI ran 10 s ahead of UTC in 1970.
const TAI_BASE: u64 = (1 << 62) + 10;

/// What the operator wants the service to do (status byte 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Keep it running: restart it whenever it exits.
    Up,
    /// Keep it stopped.
    Down,
    /// Run it once: start it if needed, never restart it.
    Once,
}

impl Want {
    /// The byte stored at offset 13.
    pub fn to_byte(self) -> u8 {
        match self {
            Want::Up => b'u',
            Want::Down => b'd',
            Want::Once => 0,
        }
    }

    /// The inverse of [`Want::to_byte`].
    pub fn from_byte(b: u8) -> Option<Want> {
        match b {
            b'u' => Some(Want::Up),
            b'd' => Some(Want::Down),
            0 => Some(Want::Once),
            _ => None,
        }
    }

    /// The word used in logs, `svc status` and the `state` file.
    pub fn name(self) -> &'static str {
        match self {
            Want::Up => "up",
            Want::Down => "down",
            Want::Once => "once",
        }
    }

    /// The inverse of [`Want::name`].
    pub fn from_name(s: &str) -> Option<Want> {
        match s {
            "up" => Some(Want::Up),
            "down" => Some(Want::Down),
            "once" => Some(Want::Once),
            _ => None,
        }
    }
}

/// A TAI64N moment: TAI64 label plus nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tai64n {
    /// The TAI64 label, 2^62 + 10 + Unix seconds for any time after 1970.
    pub label: u64,
    /// Nanoseconds, below 10^9.
    pub nanos: u32,
}

impl Tai64n {
    /// The TAI64N label of a wall-clock time. Times before 1970 clamp to the epoch.
    pub fn from_system_time(t: SystemTime) -> Tai64n {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Tai64n {
            label: TAI_BASE + d.as_secs(),
            nanos: d.subsec_nanos(),
        }
    }

    /// The wall-clock time of a label; labels before the Unix epoch clamp to it.
    pub fn to_system_time(self) -> SystemTime {
        let secs = self
            .label
            .saturating_sub(TAI_BASE)
            .min(crate::statefile::MAX_UNIX_SECONDS);
        UNIX_EPOCH + Duration::new(secs, self.nanos.min(999_999_999))
    }
}

/// Everything the 20 bytes hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// When the pid last changed (the service started or exited).
    pub since: Tai64n,
    /// The service was stopped with `p` and not yet continued.
    pub paused: bool,
    /// What the operator wants.
    pub want: Want,
    /// Alarms on (`n`, the default) or silenced (`s`).
    pub alarms: bool,
    /// The service's pid, 0 when it is not running.
    pub pid: u32,
}

/// Why 20 bytes are not a status record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The file is not exactly 20 bytes long (a truncated or foreign file).
    Length(usize),
    /// Bytes 0–7 are not a TAI64 label of a time between 1970 and the year 10000.
    Label(u64),
    /// Bytes 8–11 hold 10^9 or more.
    Nanos(u32),
    /// Byte 12 is neither 0 nor 1.
    Paused(u8),
    /// Byte 13 is none of `u`, `d`, 0.
    Want(u8),
    /// Byte 14 is neither `o` nor `x`.
    Alarms(u8),
    /// Byte 15 is not 0.
    Reserved(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Length(n) => write!(f, "is {n} bytes long, expected {STATUS_LEN}"),
            DecodeError::Label(l) => write!(f, "holds an impossible TAI64 label {l:#x}"),
            DecodeError::Nanos(n) => write!(f, "holds {n} nanoseconds, above 999999999"),
            DecodeError::Paused(b) => write!(f, "has paused byte {b:#04x}, expected 0 or 1"),
            DecodeError::Want(b) => write!(f, "has want byte {b:#04x}, expected 'u', 'd' or 0"),
            DecodeError::Alarms(b) => write!(f, "has alarms byte {b:#04x}, expected 'o' or 'x'"),
            DecodeError::Reserved(b) => write!(f, "has byte 15 = {b:#04x}, expected 0"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Packs a status record into its 20 bytes.
pub fn encode(s: &Status) -> [u8; STATUS_LEN] {
    let mut b = [0u8; STATUS_LEN];
    b[0..8].copy_from_slice(&s.since.label.to_be_bytes());
    b[8..12].copy_from_slice(&s.since.nanos.to_be_bytes());
    b[12] = u8::from(s.paused);
    b[13] = s.want.to_byte();
    b[14] = if s.alarms { b'o' } else { b'x' };
    b[15] = 0;
    b[16..20].copy_from_slice(&s.pid.to_le_bytes());
    b
}

/// Unpacks 20 bytes, refusing anything [`encode`] could not have written.
pub fn decode(b: &[u8]) -> Result<Status, DecodeError> {
    let b: &[u8; STATUS_LEN] = b.try_into().map_err(|_| DecodeError::Length(b.len()))?;
    let label = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    if !(TAI_BASE..=TAI_BASE + crate::statefile::MAX_UNIX_SECONDS).contains(&label) {
        return Err(DecodeError::Label(label));
    }
    let nanos = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
    if nanos >= 1_000_000_000 {
        return Err(DecodeError::Nanos(nanos));
    }
    let paused = match b[12] {
        0 => false,
        1 => true,
        other => return Err(DecodeError::Paused(other)),
    };
    let want = Want::from_byte(b[13]).ok_or(DecodeError::Want(b[13]))?;
    let alarms = match b[14] {
        b'o' => true,
        b'x' => false,
        other => return Err(DecodeError::Alarms(other)),
    };
    if b[15] != 0 {
        return Err(DecodeError::Reserved(b[15]));
    }
    Ok(Status {
        since: Tai64n { label, nanos },
        paused,
        want,
        alarms,
        pid: u32::from_le_bytes([b[16], b[17], b[18], b[19]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            // 2026-11-21 10:00:00 UTC = 1795255200
            since: Tai64n::from_system_time(UNIX_EPOCH + Duration::new(1_795_255_200, 5)),
            paused: false,
            want: Want::Up,
            alarms: true,
            pid: 4242,
        }
    }

    #[test]
    fn golden_bytes() {
        let bytes = encode(&sample());
        let expected: [u8; 20] = [
            0x40, 0, 0, 0, 0x6b, 0x01, 0x6b, 0xaa, // 2^62 + 10 + 1795255200
            0, 0, 0, 5,    // nanoseconds
            0,    // not paused
            b'u', // want up
            b'o', // alarms on
            0,    // reserved
            0x92, 0x10, 0, 0, // 4242 little-endian
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn every_flag_lands_in_its_byte() {
        let s = Status {
            paused: true,
            want: Want::Once,
            alarms: false,
            pid: 0xdead_beef,
            ..sample()
        };
        let b = encode(&s);
        assert_eq!(&b[12..16], &[1, 0, b'x', 0]);
        assert_eq!(&b[16..20], &[0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(
            encode(&Status {
                want: Want::Down,
                ..s
            })[13],
            b'd'
        );
    }

    #[test]
    fn round_trip() {
        for want in [Want::Up, Want::Down, Want::Once] {
            for paused in [false, true] {
                for alarms in [false, true] {
                    for pid in [0, 1, 4242, u32::MAX] {
                        let s = Status {
                            paused,
                            want,
                            alarms,
                            pid,
                            ..sample()
                        };
                        assert_eq!(decode(&encode(&s)), Ok(s));
                    }
                }
            }
        }
    }

    #[test]
    fn time_round_trip() {
        let t = UNIX_EPOCH + Duration::new(1_795_255_200, 999_999_999);
        assert_eq!(Tai64n::from_system_time(t).to_system_time(), t);
    }

    #[test]
    fn want_bytes_and_names_round_trip() {
        for w in [Want::Up, Want::Down, Want::Once] {
            assert_eq!(Want::from_byte(w.to_byte()), Some(w));
            assert_eq!(Want::from_name(w.name()), Some(w));
        }
        assert_eq!(Want::from_byte(b'x'), None);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let good = encode(&sample());
        assert_eq!(decode(&good[..19]), Err(DecodeError::Length(19)));
        assert_eq!(decode(&[]), Err(DecodeError::Length(0)));
        let bad = |at: usize, v: u8| {
            let mut b = good;
            b[at] = v;
            decode(&b)
        };
        assert_eq!(bad(12, 2), Err(DecodeError::Paused(2)));
        assert_eq!(bad(13, b'?'), Err(DecodeError::Want(b'?')));
        assert_eq!(bad(14, 0), Err(DecodeError::Alarms(0)));
        assert_eq!(bad(15, 1), Err(DecodeError::Reserved(1)));
        assert!(matches!(bad(0, 0), Err(DecodeError::Label(_))));
        assert!(
            matches!(bad(1, 0xff), Err(DecodeError::Label(_))),
            "far future"
        );
        let far = Tai64n {
            label: u64::MAX,
            nanos: u32::MAX,
        };
        assert!(far.to_system_time() > UNIX_EPOCH, "clamped, no panic");
        assert!(matches!(bad(8, 0xff), Err(DecodeError::Nanos(_))));
        assert_eq!(
            DecodeError::Length(3).to_string(),
            "is 3 bytes long, expected 20"
        );
    }
}
