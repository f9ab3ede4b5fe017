//! Reliability (issue 7): no duplicate after supervise itself dies, no orphans, PID 1
//! and subreaper mode, faults around supervise.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

fn svc(args: &[&str]) -> std::process::Output {
    let mut c = Command::new(common::bin(env!("CARGO_BIN_EXE_svc")));
    c.args(args);
    run_bounded(c)
}

fn p(dir: &Path) -> &str {
    dir.to_str().expect("utf-8 path")
}

/// Live processes whose command line starts with these bytes.
fn copies_of(prefix: &[u8]) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(prefix))
                && alive(pid)
        })
        .collect()
}

#[test]
fn a_killed_supervise_started_again_adopts_its_service_instead_of_duplicating_it() {
    let sb = Sandbox::new();
    let mut first = sb.start("app", "sleep 31337");
    let service = first.wait_pid();
    wait_until("the exec", || comm(service) == "sleep");
    kill(first.supervise_pid(), libc::SIGKILL);
    first.wait_exit();
    assert!(alive(service), "the service outlives a killed supervise");

    let mut second = sb.start("app", "sleep 31337");
    assert_eq!(second.wait_pid(), service, "the same process, adopted");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        copies_of(b"sleep\x0031337"),
        vec![service],
        "exactly one copy"
    );
    let line = String::from_utf8_lossy(&svc(&["status", p(&second.dir)]).stdout).into_owned();
    assert!(
        line.contains(&format!("up (pid {service})")) && line.contains(", adopted"),
        "{line}"
    );
    assert!(second.log().contains(&format!("adopting pid {service}")));
    // Letters reach it, and dx stops both.
    let out = svc(&["-dx", "-wd", "-T", "10", p(&second.dir)]);
    assert!(out.status.success(), "{out:?}");
    assert!(second.wait_exit().success());
    wait_until("the service to be gone", || !alive(service));
    assert!(copies_of(b"sleep\x0031337").is_empty());
}

#[test]
fn when_the_adopted_service_ends_a_fresh_one_starts() {
    let sb = Sandbox::new();
    let first = sb.start("app", "sleep 31338");
    let service = first.wait_pid();
    kill(first.supervise_pid(), libc::SIGKILL);
    let mut first = first;
    first.wait_exit();
    let second = sb.start("app", "sleep 31338");
    assert_eq!(second.wait_pid(), service);
    kill(service, libc::SIGKILL);
    let fresh = second.wait_new_pid(service);
    assert_eq!(ppid(fresh), Some(second.supervise_pid()), "ours this time");
    let st = second.state().unwrap();
    assert!(!st.adopted);
    assert_eq!(st.last_exit.unwrap().how, supervise::exit::Exit::Unknown);
    assert!(
        second
            .log()
            .contains(&format!("adopted pid {service} ended"))
    );
}

#[test]
fn a_recycled_pid_is_never_taken_for_the_service() {
    let sb = Sandbox::new();
    let first = sb.start("app", "sleep 31339");
    let service = first.wait_pid();
    let mut first = first;
    first.send("dx");
    first.wait_exit();
    // Forge what a dead supervise could have left: a live pid (ours, the test's),
    // but with another start time than the one recorded.
    let me = std::process::id();
    let status_file = first.dir.join("status");
    let mut st = read_status(&first.dir).unwrap();
    st.pid = me;
    fs::write(&status_file, supervise::status::encode(&st)).unwrap();
    let state = fs::read_to_string(first.dir.join("state")).unwrap();
    let forged: String = state
        .lines()
        .filter(|l| !l.starts_with("pid=") && !l.starts_with("pid_start="))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + &format!("pid={me}\npid_start=1\n");
    fs::write(first.dir.join("state"), forged).unwrap();
    let second = sb.spawn_with("app", &["-f", "sleep 31339"]);
    let fresh = second.wait_new_pid(me);
    assert_ne!(fresh, service);
    assert!(!second.log().contains("adopting"));
}

/// A service that leaves an orphan behind: a grandchild whose parent exits at once,
/// which ends 0.5 s later with code 3.
const ORPHANING: &str = "sh -c '(sh -c \"sleep 0.5; exit 3\" &); exec sleep 1000'";

#[test]
fn a_subreaper_reaps_orphans_and_exits_with_the_service_code() {
    let sb = Sandbox::new();
    let mut sup = sb.start_with("app", &["--subreaper", "-f", ORPHANING]);
    wait_until("the orphan reaped", || {
        sup.log().contains("reaped orphan pid") && sup.log().contains("(exited 3)")
    });
    // No zombie left among supervise's children.
    let children = fs::read_to_string(format!("/proc/{0}/task/{0}/children", sup.supervise_pid()))
        .unwrap_or_default();
    for c in children
        .split_whitespace()
        .filter_map(|c| c.parse::<u32>().ok())
    {
        assert_ne!(state_of(c), Some('Z'), "zombie {c}");
    }
    kill(sup.supervise_pid(), libc::SIGTERM);
    let status = sup.wait_exit();
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGTERM),
        "the service died of TERM"
    );
}

/// `unshare --pid --fork --mount-proc supervise -p DIR -f COMMAND`: supervise as PID 1
/// of a pid namespace. Dropped while it runs, it ends supervise, and with it
/// everything in the namespace (a failing test leaves nothing behind).
///
/// (Not a `Supervised`: its clean-up would signal pids of the namespace's numbering
/// on the host.)
struct PidNamespace {
    unshare: std::process::Child,
    /// supervise's pid on the host.
    sup: u32,
}

impl PidNamespace {
    fn start(sb: &Sandbox, dir: &Path, command: &std::ffi::OsStr) -> PidNamespace {
        let unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc"])
            .arg(supervise_bin())
            .arg("-p")
            .arg(dir)
            .arg("-f")
            .arg(command)
            .current_dir(sb.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let id = unshare.id();
        let mut ns = PidNamespace { unshare, sup: 0 };
        ns.sup = wait_for("supervise under unshare", || {
            let c = fs::read_to_string(format!("/proc/{id}/task/{id}/children")).ok()?;
            c.split_whitespace().next()?.parse::<u32>().ok()
        });
        ns
    }

    /// How unshare ended (with supervise's status), once it has.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        wait_for("unshare to exit", || self.unshare.try_wait().ok().flatten())
    }
}

impl Drop for PidNamespace {
    fn drop(&mut self) {
        // Still running: supervise is alive, so its pid is still its own.
        if matches!(self.unshare.try_wait(), Ok(None)) {
            if self.sup != 0 {
                kill(self.sup, libc::SIGKILL);
            }
            let _ = self.unshare.kill();
            let _ = self.unshare.wait();
        }
    }
}

#[test]
fn as_pid_1_in_a_pid_namespace() {
    if !nix::unistd::Uid::effective().is_root() || !has_command("unshare") {
        eprintln!("not root or no unshare: PID 1 test skipped");
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.dir("app");
    // supervise is PID 1 inside; it stays in front though not given -n.
    let mut ns = PidNamespace::start(&sb, &dir, ORPHANING.as_ref());
    let log = || fs::read_to_string(dir.join("supervise.log")).unwrap_or_default();
    wait_until("the service", || {
        read_status(&dir).is_some_and(|s| s.pid != 0)
    });
    assert_eq!(
        fs::read_to_string(dir.join("lock")).unwrap().trim(),
        "1",
        "PID 1 inside"
    );
    wait_until("the orphan reaped", || log().contains("reaped orphan pid"));
    kill(ns.sup, libc::SIGTERM);
    let status = ns.wait_exit();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{}", log());
}

#[test]
fn a_megabyte_of_garbage_in_control_is_survived_and_barely_logged() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    // Bytes that are no letter (nor a blank): 0x80..=0xff and '?'.
    let garbage: Vec<u8> = (0..1 << 20)
        .map(|i| {
            if i % 7 == 0 {
                b'?'
            } else {
                0x80 | (i % 128) as u8
            }
        })
        .collect();
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(sup.dir.join("control"))
            .unwrap();
        let mut rest = &garbage[..];
        let deadline = std::time::Instant::now() + PATIENCE;
        while !rest.is_empty() {
            match f.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "supervise stopped reading"
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    // Still there, still supervising, and it answers (once it has read the rest).
    wait_until("room in the FIFO", || {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(sup.dir.join("control"))
            .is_ok_and(|mut f| f.write_all(b"s").is_ok())
    });
    wait_until("s applied", || sup.status().is_some_and(|s| !s.alarms));
    assert_eq!(sup.status().unwrap().pid, pid);
    let wf = sup.log_wf();
    let lines = wf
        .lines()
        .filter(|l| l.contains("unknown control letter"))
        .count();
    assert!(lines <= 5, "{lines} lines for a megabyte of garbage");
    assert!(wf.len() < 4096, "{} bytes of log", wf.len());
}

#[test]
fn a_deleted_or_replaced_control_fifo_is_made_again() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    fs::remove_file(sup.dir.join("control")).unwrap();
    wait_until("a new control FIFO", || {
        fs::symlink_metadata(sup.dir.join("control")).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_fifo()
        })
    });
    // supervise makes the FIFO, then says so: the line may follow the FIFO.
    wait_until("the line saying so", || {
        sup.log_wf()
            .contains("control was removed or replaced: made a new FIFO")
    });
    // A regular file put in its place is replaced too.
    let tmp = sup.dir.join("junk");
    fs::write(&tmp, "not a fifo").unwrap();
    fs::rename(&tmp, sup.dir.join("control")).unwrap();
    wait_until("the squatter replaced", || {
        fs::symlink_metadata(sup.dir.join("control")).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_fifo()
        })
    });
    // svc reaches supervise through it.
    let out = svc(&["-k", "-wr", "-T", "10", p(&sup.dir)]);
    assert!(out.status.success(), "{out:?}");
    assert_ne!(sup.wait_pid(), pid);
}

#[test]
fn an_unwritable_status_directory_keeps_the_service_running() {
    if !nix::unistd::Uid::effective().is_root() || !has_command("chattr") {
        eprintln!("not root or no chattr: unwritable status directory test skipped");
        return;
    }
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    let chattr = |flag: &str| {
        let mut c = Command::new("chattr");
        c.arg(flag).arg(&sup.dir);
        run_bounded(c).status.success()
    };
    /// Lifts the immutable flag whatever happens, or the temp dir stays forever.
    struct Mutable(std::path::PathBuf);
    impl Drop for Mutable {
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-i").arg(&self.0).output();
        }
    }
    let _mutable = Mutable(sup.dir.clone());
    wait_until("past the throttle", || {
        sup.status().is_some_and(|s| {
            s.since.to_system_time().elapsed().unwrap_or_default() > Duration::from_millis(1100)
        })
    });
    // Immutable: nothing can be created or renamed in it (status.new, status).
    if !chattr("+i") {
        eprintln!("chattr +i not supported here: skipped");
        return;
    }
    kill(pid, libc::SIGKILL);
    let children = || {
        fs::read_to_string(format!("/proc/{0}/task/{0}/children", sup.supervise_pid()))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
            .filter(|&c| c != pid && alive(c))
            .collect::<Vec<_>>()
    };
    let new = wait_for("a new service although nothing can be written", || {
        children().first().copied()
    });
    assert_eq!(
        read_status(&sup.dir).unwrap().pid,
        pid,
        "status could not be written"
    );
    assert!(alive(sup.supervise_pid()));
    assert!(chattr("-i"));
    wait_until("status to catch up", || {
        read_status(&sup.dir).is_some_and(|s| s.pid == new)
    });
    wait_until("the warning", || sup.log_wf().contains("cannot write"));
    wait_until("the all-clear", || sup.log().contains("works again"));
}

#[test]
fn a_failing_fork_is_warned_about_and_retried_and_supervise_stays() {
    let Some(user) = TestUser::create("f") else {
        return;
    };
    if !has_command("prlimit") || !has_command("setpriv") {
        eprintln!("no prlimit or setpriv: skipped");
        return;
    }
    let sb = Sandbox::new();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(sb.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let home = sb.path().join("home");
    fs::create_dir(&home).unwrap();
    let (uid, gid) = user.ids();
    nix::unistd::chown(&home, Some(uid.into()), Some(gid.into())).unwrap();
    let dir = home.join("status").join("app");
    let as_user = |c: &mut Command| {
        c.arg("setpriv")
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups");
    };
    // The user's process budget: 2, taken by a blocker and supervise. Every fork fails.
    let mut blocker = {
        let mut c = Command::new("prlimit");
        c.args(["--nproc=2:2", "--"]);
        as_user(&mut c);
        c.args(["sleep", "1000"]).spawn().unwrap()
    };
    // The blocker counts only once it runs as the user: until then supervise's first
    // fork would find room (a start, and no failure to see, under load).
    let blocker_pid = blocker.id();
    wait_until("the blocker to run as the user", || {
        fs::read_to_string(format!("/proc/{blocker_pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    let mut c = Command::new("prlimit");
    c.args(["--nproc=2:2", "--"]);
    as_user(&mut c);
    let child = c
        .arg(supervise_bin())
        .args(["-n", "-p"])
        .arg(&dir)
        .args(["-f", "sleep 1000"])
        .current_dir(&home)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sup = Supervised {
        dir: dir.clone(),
        process: Some(child),
        daemon_pid: None,
    };
    let deadline = std::time::Instant::now() + PATIENCE;
    while !sup
        .log_wf()
        .contains("cannot fork: Resource temporarily unavailable")
    {
        // Said in full if it fails: what supervise logged, and whether it still runs.
        assert!(
            std::time::Instant::now() < deadline,
            "no fork failure logged in {PATIENCE:?}; supervise.log.wf:\n{}\nsupervise.log:\n{}",
            sup.log_wf(),
            fs::read_to_string(dir.join("supervise.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(2500));
    let wf = sup.log_wf();
    let tries = wf.matches("cannot fork").count();
    assert!(
        (2..=5).contains(&tries),
        "retried about once a second, not in a loop: {tries}"
    );
    assert!(alive(sup.supervise_pid()));
    assert_eq!(sup.state().unwrap().starts, 0);
    // Room again: the next try starts the service.
    let _ = blocker.kill();
    let _ = blocker.wait();
    sup.wait_pid();
}

/// Open descriptors and anonymous resident memory (kB: heap, stack, written data) of
/// a process that restarts its service all the time: a descriptor or two comes and
/// goes with each start, so the fewest open and the most resident over a few
/// samples. Not VmRSS: that counts code pages too, and a path the warm-up did not
/// take (the logs looked at after 64 kB of lines) faults in code that is no leak.
fn fds_and_anon(pid: u32) -> (usize, u64) {
    let sample = || {
        let fds = fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
        let rss: u64 = proc_status_field(pid, "RssAnon")
            .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        (fds, rss)
    };
    let samples: Vec<(usize, u64)> = (0..20)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(5));
            sample()
        })
        .collect();
    (
        samples.iter().map(|s| s.0).min().unwrap_or(0),
        samples.iter().map(|s| s.1).max().unwrap_or(0),
    )
}

#[test]
fn ten_thousand_crash_restart_cycles_leak_nothing() {
    let cycles: u64 = std::env::var("SUPERVISE_ENDURANCE_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sb = Sandbox::new();
    // No throttle, no backoff: a service that exits at once comes back at once.
    sb.config("[global]\nrestart_throttle : 0\nstart_success : 0\n");
    let sup = sb.spawn_with("app", &["-f", "true"]);
    let starts = || sup.state().map_or(0, |s| s.starts);
    wait_until("the warm-up", || starts() >= 100);
    let before = fds_and_anon(sup.supervise_pid());
    let from = starts();
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    while starts() < from + cycles {
        assert!(
            std::time::Instant::now() < deadline,
            "{} cycles only",
            starts() - from
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = fds_and_anon(sup.supervise_pid());
    eprintln!(
        "endurance: {cycles} cycles; supervise fds {} -> {}, anonymous {} kB -> {} kB",
        before.0, after.0, before.1, after.1
    );
    assert_eq!(after.0, before.0, "descriptors leak");
    assert!(
        after.1 <= before.1 + 64,
        "memory grows: {} -> {} kB",
        before.1,
        after.1
    );
}

/// A host process whose command line is exactly `words`, if one runs.
fn host_pid_of(words: &[&str]) -> Option<u32> {
    let want: Vec<u8> = words
        .iter()
        .flat_map(|w| [w.as_bytes(), b"\0"].concat())
        .collect();
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        (fs::read(format!("/proc/{pid}/cmdline")).ok()? == want && alive(pid)).then_some(pid)
    })
}

#[test]
fn the_late_kill_of_leftovers_spares_a_new_group_that_took_their_number() {
    if !nix::unistd::Uid::effective().is_root()
        || !has_command("unshare")
        || !has_command("nsenter")
    {
        eprintln!("not root or no unshare/nsenter: pid-reuse test skipped");
        return;
    }
    // In a pid namespace of its own, where `ns_last_pid` picks the next pid: the
    // service's leader dies, its leftover (which ignores TERM) ends on its own, and a
    // new process is made to take the leader's number and lead a group of it, before
    // the KILL due a stop timeout after the leader's death.
    let sb = Sandbox::new();
    let dir = sb.dir("app");
    sb.config("[global]\nstop_timeout : 3\n");
    let service = sb.script(
        "svc.sh",
        "(trap '' TERM; exec sleep 1.5) &\nexec sleep 1000",
    );
    let ns = PidNamespace::start(&sb, &dir, service.as_os_str());
    let sup = ns.sup;
    let leader = wait_for("the service", || {
        read_status(&dir).map(|s| s.pid).filter(|&p| p != 0)
    });
    let host_leader = wait_for("the service, seen from the host", || {
        let c = fs::read_to_string(format!("/proc/{sup}/task/{sup}/children")).ok()?;
        c.split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .find(|&p| {
                fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.starts_with(b"sleep\x001000"))
            })
    });
    let t0 = std::time::Instant::now();
    kill(host_leader, libc::SIGKILL);
    let tag = format!("100.{}", std::process::id());
    // The leftover's `sleep 1.5` is over; the KILL is due 3 s after the leader's death.
    std::thread::sleep(Duration::from_millis(2000).saturating_sub(t0.elapsed()));
    let taker = Command::new("nsenter")
        .args(["-t", &sup.to_string(), "-p", "-m", "sh", "-c"])
        .arg(format!(
            "echo {} > /proc/sys/kernel/ns_last_pid; setsid sleep {tag} >/dev/null 2>&1 & echo $!",
            leader - 1
        ))
        .output()
        .unwrap();
    let taken: u32 = String::from_utf8_lossy(&taker.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let host_taker = wait_for("the new group's leader", || host_pid_of(&["sleep", &tag]));
    assert_eq!(
        taken, leader,
        "the new process has the dead leader's number"
    );
    std::thread::sleep(Duration::from_millis(4500).saturating_sub(t0.elapsed()));
    let survived = alive(host_taker);
    drop(ns);
    assert!(
        survived,
        "the late KILL reached a group that only had the leftovers' number"
    );
}
