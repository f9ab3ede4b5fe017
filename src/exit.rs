//! How a service process ended: the fact that restarts, alarms, logs and `svc status`
//! all talk about, decoded once from the raw `wait` status.

use std::fmt;

use nix::sys::signal::Signal;

/// The end of one run of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It called `exit` with this code.
    Code(i32),
    /// A signal killed it; `core` if the kernel wrote a core dump.
    Signal {
        /// The signal number.
        signal: i32,
        /// A core dump was written.
        core: bool,
    },
    /// It ended, but it was not supervise's child (a service adopted after supervise
    /// itself was restarted): its exit status went to its parent, not to us.
    Unknown,
}

impl Exit {
    /// Decodes a raw status from `waitpid`; `None` for stop/continue reports.
    pub fn from_wait_status(raw: i32) -> Option<Exit> {
        if libc::WIFEXITED(raw) {
            Some(Exit::Code(libc::WEXITSTATUS(raw)))
        } else if libc::WIFSIGNALED(raw) {
            Some(Exit::Signal {
                signal: libc::WTERMSIG(raw),
                core: libc::WCOREDUMP(raw),
            })
        } else {
            None
        }
    }

    /// Whether the kernel dumped core.
    pub fn core_dumped(self) -> bool {
        matches!(self, Exit::Signal { core: true, .. })
    }

    /// The exit code, if it exited rather than being killed.
    pub fn code(self) -> Option<i32> {
        match self {
            Exit::Code(c) => Some(c),
            Exit::Signal { .. } | Exit::Unknown => None,
        }
    }

    /// The signal number, if a signal killed it.
    pub fn signal(self) -> Option<i32> {
        match self {
            Exit::Code(_) | Exit::Unknown => None,
            Exit::Signal { signal, .. } => Some(signal),
        }
    }
}

/// The name of a signal number, `SIGKILL` style, or `signal 42` for one without a name.
pub fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(s) => s.as_str().to_owned(),
        Err(_) => format!("signal {signal}"),
    }
}

impl fmt::Display for Exit {
    /// `exited 1`, `killed by SIGKILL`, `killed by SIGSEGV (core dumped)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Exit::Code(c) => write!(f, "exited {c}"),
            Exit::Unknown => f.write_str("ended (exit status unknown: adopted)"),
            Exit::Signal { signal, core } => {
                write!(f, "killed by {}", signal_name(signal))?;
                if core {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_wait_statuses() {
        // Layouts from <bits/waitstatus.h>: exit code in the second byte, signal in
        // the low 7 bits, 0x80 for a core dump, 0x7f for a stop.
        assert_eq!(Exit::from_wait_status(3 << 8), Some(Exit::Code(3)));
        assert_eq!(Exit::from_wait_status(0), Some(Exit::Code(0)));
        assert_eq!(
            Exit::from_wait_status(9),
            Some(Exit::Signal {
                signal: 9,
                core: false
            })
        );
        assert_eq!(
            Exit::from_wait_status(11 | 0x80),
            Some(Exit::Signal {
                signal: 11,
                core: true
            })
        );
        assert_eq!(Exit::from_wait_status((19 << 8) | 0x7f), None);
    }

    #[test]
    fn describes_itself() {
        assert_eq!(Exit::Code(1).to_string(), "exited 1");
        let segv = Exit::Signal {
            signal: 11,
            core: true,
        };
        assert_eq!(segv.to_string(), "killed by SIGSEGV (core dumped)");
        assert!(segv.core_dumped());
        assert_eq!(segv.signal(), Some(11));
        assert_eq!(segv.code(), None);
        assert_eq!(signal_name(64), "signal 64");
    }
}
