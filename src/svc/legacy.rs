//! `svc STATUSDIR VERB [on|off]`: the legacy tool's `svc` script, for the scripts that
//! call it (its `control` wrapper runs `svc $STATUS restart` and `svc $STATUS exit`).
//! Both are named `svc`; whichever comes first on PATH is the one they get, so this
//! form keeps the script's verbs, checks, messages (on standard output) and exit
//! codes, and differs where the script was broken (README, "Coming from the legacy
//! supervise"): it waits for the state it asked for instead of sleeping fixed times,
//! tells a supervise that is gone from one that runs (the script blocked for ever on
//! the FIFO), a successful `restart` exits 0 (the script's exited 1), `alarm` checks
//! that the change happened, and `status` shows the real start time.
//!
//! The service's processes are its process group (the script took every process of
//! supervise's session but supervise): a KILL goes to the group through
//! [`crate::kill`], never to supervise.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::client;
use crate::control::Letter;
use crate::kill;
use crate::machine::Target;
use crate::status::Status;
use crate::statusdir::Dir;

use super::wait::{self, Goal, Outcome};

/// The verbs of the legacy script.
pub const VERBS: &[&str] = &[
    "restart", "stop", "start", "exit", "status", "alarm", "reconf",
];

/// How long a verb waits for the state it asked for (the script slept 2 s).
const PATIENCE: Duration = Duration::from_secs(5);

/// How long `stop` waits for the service to stop by itself before the KILL (as the
/// script's sleep before its `kill -9`).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The usage text of this form (exit 1 without a verb, 0 for an unknown one).
pub const USAGE: &str = "\
Usage: svc STATUSDIR COMMAND [on|off]   (the legacy svc's form)

COMMAND is one of:
  status        show the service's pid, start time and alarm switch
  start         start the service stopped by stop
  stop          stop the service; supervise does not restart it until start
  restart       kill the service; supervise starts it again
  exit          stop the service and its supervise
  reconf        reload supervise's config file
  alarm on|off  turn alarms on or off
";

/// Where the verbs write (standard output, as the script did) and the directory.
struct Run<'a, W: Write> {
    out: &'a mut W,
    path: &'a Path,
    dir: Dir,
    name: String,
}

/// Runs `verb` on `path`, writing what the script wrote to `out`; the exit code.
pub fn run(path: &Path, verb: Option<&str>, arg: Option<&str>, out: &mut impl Write) -> u8 {
    let Some(verb) = verb else {
        let _ = out.write_all(USAGE.as_bytes());
        return 1;
    };
    let mut r = match open(path, out) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match verb {
        "status" => r.status(),
        "reconf" => r.reconf(),
        "alarm" => r.alarm(arg),
        "restart" => r.restart(),
        "stop" => r.stop(),
        "start" => r.start(),
        "exit" => r.exit(),
        _ => {
            let _ = r.out.write_all(USAGE.as_bytes());
            0
        }
    }
}

/// The script's checks, in its order, with its messages and codes.
fn open<'a, W: Write>(path: &'a Path, out: &'a mut W) -> Result<Run<'a, W>, u8> {
    let mut say = |code: u8, text: String| {
        let _ = writeln!(out, "{text}");
        Err(code)
    };
    let Ok(dir) = client::open(path) else {
        return say(
            2,
            format!(
                "Error: \"{}\" is not a valid status directory.",
                path.display()
            ),
        );
    };
    match client::running(&dir) {
        Ok(true) => {}
        _ => {
            return say(
                4,
                "Error: \"supervise\" is not alive! I can do nothing except to quit.".into(),
            );
        }
    }
    if let Err(e) = dir.open_fifo(crate::statusdir::names::CONTROL, true) {
        return match e.errno() {
            Some(nix::errno::Errno::EACCES) => say(
                4,
                "Error: I have no privilege to operate this service, quit now!".into(),
            ),
            _ => say(
                6,
                format!(
                    "Error: Control pipe \"{}/control\" doesn't exist!",
                    path.display()
                ),
            ),
        };
    }
    if client::read_status(&dir).is_err() {
        return say(
            5,
            format!(
                "Error: File \"{}/status\" doesn't exist or is empty!",
                path.display()
            ),
        );
    }
    let name = crate::cli::service_name(Path::new(path.file_name().unwrap_or(path.as_os_str())));
    Ok(Run {
        out,
        path,
        dir,
        name,
    })
}

impl<W: Write> Run<'_, W> {
    fn say(&mut self, text: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{text}");
    }

    fn status_now(&self) -> Option<Status> {
        client::read_status(&self.dir).ok()
    }

    fn pid(&self) -> u32 {
        self.status_now().map_or(0, |s| s.pid)
    }

    fn send(&mut self, letters: &[Letter]) -> bool {
        let bytes: Vec<u8> = letters.iter().map(|l| l.to_byte()).collect();
        client::send(&self.dir, &bytes).is_ok()
    }

    /// Waits (bounded) for `goal`; whether it was reached.
    fn wait(&self, goal: Goal, from: Option<u32>, within: Duration) -> bool {
        let target = wait::Target {
            dir: self.path.to_path_buf(),
            from,
        };
        matches!(
            wait::wait(&[target], goal, Some(within)).first(),
            Some(Outcome::Reached)
        )
    }

    /// KILL to the service's process group (whatever it is now).
    fn kill_service(&self) {
        let pid = self.pid();
        if pid > 1 {
            let target = Target::Group(nix::unistd::Pid::from_raw(pid as i32));
            let _ = kill::send(target, nix::sys::signal::Signal::SIGKILL);
        }
    }

    fn status(&mut self) -> u8 {
        let s = self.status_now();
        self.say("showing status...");
        self.say(format!("pid: {}", s.map_or(0, |s| s.pid)));
        let start = s.map_or_else(String::new, |s| {
            let t = s.since.to_system_time();
            crate::log::local_time(t).replace('-', "")
        });
        self.say(format!("start time: {start}"));
        let alarm = match s.map(|s| s.alarms) {
            Some(true) => "ON",
            Some(false) => "OFF",
            None => "UNKNOWN",
        };
        self.say(format!("alarm: {alarm}"));
        0
    }

    fn reconf(&mut self) -> u8 {
        self.send(&[Letter::Reload]);
        self.say("Reload configuration finished, please check supervise.log");
        0
    }

    fn alarm(&mut self, arg: Option<&str>) -> u8 {
        let (on, word, letter) = match arg {
            Some("on") => (true, "ON", Letter::Alarms),
            Some("off") => (false, "OFF", Letter::Silence),
            _ => {
                self.say(
                    "Error: The 3rd argument should be \"on\" or \"off\" if the 2nd argument is \"alarm\".",
                );
                return 0;
            }
        };
        if self.status_now().is_some_and(|s| s.alarms == on) {
            self.say(if on {
                "Warning: alarm is already on, nothing has been done"
            } else {
                "Warning: alarm is already off, nothing has been done."
            });
            return 7;
        }
        self.send(&[letter]);
        if self.alarms_become(on) {
            self.say(format!("Succeed to turn alarm function {word}."));
            0
        } else {
            self.say(format!("Error: Fail to turn alarm function {word}."));
            1
        }
    }

    /// Waits (bounded) until status byte 14 says `on`.
    fn alarms_become(&self, on: bool) -> bool {
        let target = wait::Target {
            dir: self.path.to_path_buf(),
            from: None,
        };
        let check = |_: &wait::Target| {
            self.status_now()
                .is_some_and(|s| s.alarms == on)
                .then_some(Outcome::Reached)
        };
        matches!(
            wait::wait_with(&[target], Some(PATIENCE), check).first(),
            Some(Some(Outcome::Reached))
        )
    }

    fn restart(&mut self) -> u8 {
        let old = self.pid();
        if old == 0 {
            self.say(format!(
                "Error: service \"{}\" is stoped and \"restart\" command is not available, try \"start\" command to start it.",
                self.name
            ));
            return 7;
        }
        self.say("Turn off alarm...");
        self.send(&[Letter::Silence]);
        self.say(format!("Restart service \"{}\"...", self.name));
        self.kill_service();
        let restarted = self.wait(Goal::Restart, Some(old), PATIENCE);
        self.say("Turn on alarm...");
        self.send(&[Letter::Alarms]);
        if restarted {
            0
        } else {
            self.say("Error: New pid of service is same as the old one, restart service failed.");
            1
        }
    }

    fn stop(&mut self) -> u8 {
        if self.pid() == 0 {
            self.say("Warning: service has already been stoped.");
            return 7;
        }
        self.say("Turn off alarm...");
        self.send(&[Letter::Silence]);
        self.say(format!("Stop service \"{}\"...", self.name));
        self.send(&[Letter::Down]);
        if !self.wait(Goal::Down, None, STOP_GRACE) {
            self.kill_service();
            self.wait(Goal::Down, None, PATIENCE);
        }
        self.say("Turn on alarm...");
        self.send(&[Letter::Alarms]);
        if self.pid() != 0 {
            self.say("Error: Stop service failed!");
        } else {
            self.say(format!("Stop service \"{}\" successfully.", self.name));
        }
        0
    }

    fn start(&mut self) -> u8 {
        if self.pid() != 0 {
            self.say("Warning: service is already started, nothing has been done.");
            return 6;
        }
        self.say(format!("Start service \"{}\"...", self.name));
        self.send(&[Letter::Up]);
        if self.wait(Goal::Up, None, PATIENCE) {
            self.say(format!("Start service \"{}\" sucessfully.", self.name));
        } else {
            self.say("Error: Start service failed!");
        }
        0
    }

    fn exit(&mut self) -> u8 {
        self.say("Turn off alarm...");
        self.send(&[Letter::Silence]);
        self.say(format!("Stop service \"{}\" and supervise...", self.name));
        self.send(&[Letter::Exit]);
        self.kill_service();
        let supervise = client::lock_pid(&self.dir);
        let gone = self.wait(Goal::Down, None, PATIENCE)
            && supervise.is_none_or(|p| wait_gone(p, PATIENCE));
        if gone {
            self.say(format!(
                "Service \"{}\" and its supervise stoped.",
                self.name
            ));
        } else {
            self.say("Error: Stop service failed!");
            self.say(
                "Notice: from now on, if the service stop, supervise will not restart it and quit itself.",
            );
        }
        0
    }
}

/// Waits (bounded) for process `pid` to end, through a pidfd.
fn wait_gone(pid: u32, within: Duration) -> bool {
    // SAFETY: pidfd_open returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return true;
    }
    // SAFETY: a fresh descriptor we now own.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    let mut fds = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&fd),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = i32::try_from(within.as_millis()).unwrap_or(i32::MAX);
    let timeout = nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX);
    matches!(nix::poll::poll(&mut fds, timeout), Ok(1))
}

/// Whether `args` (after the program name) are the legacy form: a status directory
/// (or any word that is not an option nor one of `svc`'s own commands), then one of
/// [`VERBS`]; or an existing directory alone or with another word.
pub fn is_legacy(args: &[std::ffi::OsString]) -> bool {
    let Some(first) = args.first().and_then(|a| a.to_str()) else {
        return false;
    };
    if first.starts_with('-') || super::SUBCOMMANDS.contains(&first) {
        return false;
    }
    let verb = args.get(1).and_then(|a| a.to_str());
    verb.is_some_and(|v| VERBS.contains(&v))
        || (Path::new(first).is_dir() && verb.is_none_or(|v| !v.starts_with('-')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn a(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_legacy_form_is_told_apart() {
        assert!(is_legacy(&a(&["status/app", "restart"])));
        assert!(is_legacy(&a(&["status/app", "alarm", "off"])));
        assert!(!is_legacy(&a(&["status", "status/app"])), "ours");
        assert!(!is_legacy(&a(&["-k", "status/app"])));
        assert!(!is_legacy(&a(&["wait", "up", "d"])));
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().to_str().unwrap();
        assert!(is_legacy(&a(&[d])), "a directory alone: the script's usage");
        assert!(is_legacy(&a(&[d, "frobnicate"])));
        assert!(!is_legacy(&a(&["nowhere", "frobnicate"])));
    }

    #[test]
    fn checks_come_in_the_scripts_order_with_its_codes() {
        let tmp = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        assert_eq!(run(tmp.path(), None, None, &mut out), 1);
        assert!(String::from_utf8_lossy(&out).starts_with("Usage: svc STATUSDIR"));
        let mut out = Vec::new();
        let nowhere = tmp.path().join("nowhere");
        assert_eq!(run(&nowhere, Some("status"), None, &mut out), 2);
        assert_eq!(
            String::from_utf8_lossy(&out),
            format!(
                "Error: \"{}\" is not a valid status directory.\n",
                nowhere.display()
            )
        );
        let mut out = Vec::new();
        assert_eq!(run(tmp.path(), Some("restart"), None, &mut out), 4);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "Error: \"supervise\" is not alive! I can do nothing except to quit.\n"
        );
    }
}
