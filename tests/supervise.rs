//! The supervise core against the legacy contract (SPEC §1–5), with the real binary.

mod common;

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use supervise::statefile::Phase;
use supervise::status::Want;

#[test]
fn daemonizes_and_returns_with_the_service_running() {
    let sb = Sandbox::new();
    let out = run_bounded({
        let mut c = sb.command();
        c.args(["-p", "./status/app", "-f", "sleep 1000"]);
        c
    });
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let dir = sb.dir("app");
    let sup = Supervised::daemon(dir.clone());
    let daemon = sup.supervise_pid();
    // The parent returned only after the service was started.
    let pid = read_status(&dir)
        .expect("status written before returning")
        .pid;
    assert_ne!(pid, 0);
    assert!(alive(pid) && alive(daemon));
    assert_eq!(
        ppid(pid),
        Some(daemon),
        "the service is supervise's direct child"
    );
    assert_ne!(
        ppid(daemon),
        Some(std::process::id()),
        "supervise left its caller"
    );
    assert_eq!(comm(pid), "sleep", "the pid is the program, not a shell");
    // Detached: its own session, stdio on /dev/null.
    assert_eq!(
        proc_status_field(daemon, "NSsid").as_deref(),
        Some(&*daemon.to_string())
    );
    for fd in 0..3 {
        let l = fs::read_link(format!("/proc/{daemon}/fd/{fd}")).unwrap();
        assert_eq!(l, std::path::Path::new("/dev/null"));
    }
}

#[test]
fn status_directory_has_every_file_with_the_right_type() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let mode = |n: &str| fs::symlink_metadata(sup.dir.join(n)).unwrap();
    assert_eq!(
        fs::metadata(&sup.dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for fifo in ["control", "ok"] {
        assert!(mode(fifo).file_type().is_fifo(), "{fifo}");
        assert_eq!(mode(fifo).permissions().mode() & 0o777, 0o600, "{fifo}");
    }
    for file in [
        "lock",
        "status",
        "state",
        "__stdout",
        "__stderr",
        "supervise.log",
        "supervise.log.wf",
    ] {
        assert!(mode(file).is_file(), "{file}");
    }
    assert_eq!(mode("status").len(), 20);
    assert!(!sup.dir.join("status.new").exists());
    // `ok` accepts a non-blocking writer only while supervise runs.
    let ok = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(sup.dir.join("ok"));
    assert!(ok.is_ok());
}

#[test]
fn status_bytes_are_the_legacy_layout() {
    let sb = Sandbox::new();
    let before = SystemTime::now();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    let bytes = fs::read(sup.dir.join("status")).unwrap();
    assert_eq!(bytes.len(), 20);
    let label = u64::from_be_bytes(bytes[0..8].try_into().unwrap());
    let unix = before
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let secs = label - (1 << 62) - 10;
    assert!((unix..unix + 10).contains(&secs), "TAI64 label {label:#x}");
    assert!(u32::from_be_bytes(bytes[8..12].try_into().unwrap()) < 1_000_000_000);
    assert_eq!(&bytes[12..16], &[0, b'u', b'o', 0]);
    assert_eq!(&bytes[16..20], &pid.to_le_bytes());
    // The operators' way to read the pid.
    let out = run_bounded({
        let mut c = Command::new("od");
        c.args(["-An", "-j16", "-N4", "-tu4"])
            .arg(sup.dir.join("status"));
        c
    });
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pid.to_string());
}

#[test]
fn only_supervise_holds_the_lock_and_the_service_has_only_stdio() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    // The pid is in status as soon as the fork is done; the exec follows.
    wait_until("the exec", || comm(pid) == "sleep");
    assert_eq!(open_fds(pid), vec![0, 1, 2]);
    let link = |fd: u32| fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
    assert_eq!(link(0), std::path::Path::new("/dev/null"));
    assert_eq!(link(1), fs::canonicalize(sup.dir.join("__stdout")).unwrap());
    assert_eq!(link(2), fs::canonicalize(sup.dir.join("__stderr")).unwrap());
    assert_eq!(holders_of(&sup.dir.join("lock")), vec![sup.supervise_pid()]);
    // And what operators actually run, where it is installed (scripts/test installs it).
    if !has_command("fuser") {
        eprintln!("fuser not installed: checked through /proc only");
        return;
    }
    let out = run_bounded({
        let mut c = Command::new("fuser");
        c.arg(sup.dir.join("lock"));
        c
    });
    let pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(pids, vec![sup.supervise_pid()]);
}

#[test]
fn the_service_gets_a_clean_process_state() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    wait_until("the exec", || comm(pid) == "sleep");
    assert_eq!(
        proc_status_field(pid, "SigBlk").as_deref(),
        Some("0000000000000000")
    );
    assert_eq!(
        proc_status_field(pid, "SigIgn").as_deref(),
        Some("0000000000000000")
    );
    // Its own process group, in supervise's session (as the legacy tool's).
    assert_eq!(
        proc_status_field(pid, "NSsid"),
        proc_status_field(sup.supervise_pid(), "NSsid")
    );
    assert_eq!(proc_status_field(pid, "NSpgid"), Some(pid.to_string()));
    assert_eq!(ppid(pid), Some(sup.supervise_pid()));
}

#[test]
fn a_second_supervise_is_refused_and_the_first_is_untouched() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    for foreground in [true, false] {
        // The same command already supervised there: what was asked, silently.
        let out = run_bounded({
            let mut c = sb.command();
            if foreground {
                c.arg("-n");
            }
            c.arg("-p").arg(&sup.dir).args(["-f", "sleep 1000"]);
            c
        });
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
        // Another command: an error naming the pid and what it runs.
        let out = run_bounded({
            let mut c = sb.command();
            if foreground {
                c.arg("-n");
            }
            c.arg("-p").arg(&sup.dir).args(["-f", "sleep 2000"]);
            c
        });
        assert_eq!(out.status.code(), Some(111), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "already supervised by supervise pid {} running sleep 1000",
                sup.supervise_pid()
            )),
            "{err}"
        );
    }
    assert!(
        sup.log_wf().contains("Unable to acquier"),
        "{}",
        sup.log_wf()
    );
    assert_eq!(sup.status().unwrap().pid, pid);
    assert!(alive(pid) && alive(sup.supervise_pid()));
    assert_eq!(holders_of(&sup.dir.join("lock")), vec![sup.supervise_pid()]);
}

#[test]
fn restarts_at_once_after_sigkill() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    // Past the one-second throttle, so the restart must be immediate.
    wait_until("the service to be up for a second", || {
        sup.status().is_some_and(|s| {
            s.since.to_system_time().elapsed().unwrap_or_default() > Duration::from_millis(1100)
        })
    });
    let t0 = Instant::now();
    kill(pid, libc::SIGKILL);
    let new = sup.wait_new_pid(pid);
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "restart took {:?}",
        t0.elapsed()
    );
    assert_eq!(ppid(new), Some(sup.supervise_pid()));
    let state = sup.state().unwrap();
    assert_eq!(state.starts, 2);
    assert_eq!(state.phase, Phase::Up);
    let last = state.last_exit.unwrap();
    assert_eq!(last.how.signal(), Some(libc::SIGKILL));
    assert!(sup.log().contains(&format!("pid {pid} killed by SIGKILL")));
}

#[test]
fn a_service_that_exits_at_once_is_restarted_once_a_second() {
    let sb = Sandbox::new();
    sb.legacy_timing();
    let mut sup = sb.spawn_with("app", &["-f", "sh -c 'exit 3'"]);
    wait_until("three starts", || {
        sup.state().is_some_and(|s| s.starts >= 3)
    });
    let t0 = Instant::now();
    let starts0 = sup.state().unwrap().starts;
    // While it waits between starts, supervise answers at once.
    wait_until("a throttled wait", || {
        sup.state().is_some_and(|s| s.phase == Phase::Waiting)
    });
    let st = sup.state().unwrap();
    assert_eq!(st.last_exit.unwrap().how.code(), Some(3));
    assert!(st.next_start.is_some());
    let asked = Instant::now();
    sup.send("d");
    wait_until("want down", || {
        sup.status().is_some_and(|s| s.want == Want::Down)
    });
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "control answered in {:?}",
        asked.elapsed()
    );
    let starts = sup.state().unwrap().starts;
    let elapsed = t0.elapsed().as_secs_f64();
    assert!(
        (starts - starts0) as f64 <= elapsed + 1.0,
        "{} starts in {elapsed:.2} s: the throttle is not holding",
        starts - starts0
    );
    // Down means down: no more starts.
    let settled = sup.state().unwrap().starts;
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(sup.state().unwrap().starts, settled);
    sup.send("x");
    assert!(sup.wait_exit().success());
}

#[test]
fn the_throttle_spaces_starts_by_a_second() {
    let sb = Sandbox::new();
    sb.legacy_timing();
    // The service notes the moment it starts, then exits at once.
    let starts = sb.path().join("starts");
    let cmd = format!("date +%s.%N >> {}", starts.display());
    let _sup = sb.spawn_with("app", &["-f", &cmd]);
    let times = wait_for("four starts", || {
        let text = fs::read_to_string(&starts).ok()?;
        let t: Vec<f64> = text.lines().filter_map(|l| l.parse().ok()).collect();
        (t.len() >= 4).then_some(t)
    });
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= 0.95, "starts {gap:.3} s apart: {times:?}");
    }
}

#[test]
fn down_and_up() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    sup.send("d");
    sup.wait_down();
    assert!(!alive(pid));
    let s = sup.status().unwrap();
    assert_eq!((s.want, s.pid, s.paused), (Want::Down, 0, false));
    assert_eq!(sup.state().unwrap().phase, Phase::Down);
    assert_eq!(
        sup.state().unwrap().last_exit.unwrap().how.signal(),
        Some(libc::SIGTERM)
    );
    sup.send("u");
    let new = sup.wait_new_pid(pid);
    assert_eq!(sup.status().unwrap().want, Want::Up);
    assert!(alive(new));
}

#[test]
fn once_runs_without_restarting() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    sup.send("o");
    wait_until("want once", || {
        sup.status().is_some_and(|s| s.want == Want::Once)
    });
    assert_eq!(fs::read(sup.dir.join("status")).unwrap()[13], 0);
    kill(pid, libc::SIGKILL);
    sup.wait_down();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(sup.status().unwrap().pid, 0, "once is not restarted");
    sup.send("o");
    let new = sup.wait_new_pid(pid);
    assert!(alive(new));
}

#[test]
fn pause_and_continue() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    sup.send("p");
    wait_until("paused", || sup.status().is_some_and(|s| s.paused));
    wait_until("stopped", || state_of(pid) == Some('T'));
    assert_eq!(fs::read(sup.dir.join("status")).unwrap()[12], 1);
    sup.send("c");
    wait_until("continued", || sup.status().is_some_and(|s| !s.paused));
    wait_until("running", || state_of(pid) == Some('S'));
    // `d` on a paused service still stops it: TERM then CONT.
    sup.send("p");
    wait_until("stopped again", || state_of(pid) == Some('T'));
    sup.send("d");
    sup.wait_down();
    assert!(!sup.status().unwrap().paused);
}

#[test]
fn signal_letters_reach_the_service() {
    let sb = Sandbox::new();
    let script = sb.script(
        "traps.sh",
        r#"for s in HUP ALRM INT TERM QUIT USR1 USR2; do trap "echo got $s" $s; done
echo ready
while :; do sleep 0.05; done"#,
    );
    let sup = sb.start("app", script.to_str().unwrap());
    let pid = sup.wait_pid();
    wait_until("the traps to be set", || sup.stdout().contains("ready"));
    for (letter, name) in [
        ("h", "HUP"),
        ("a", "ALRM"),
        ("i", "INT"),
        ("t", "TERM"),
        ("q", "QUIT"),
        ("1", "USR1"),
        ("2", "USR2"),
    ] {
        sup.send(letter);
        wait_until(&format!("{name} from {letter}"), || {
            sup.stdout().contains(&format!("got {name}"))
        });
    }
    assert_eq!(
        sup.status().unwrap().pid,
        pid,
        "trapped signals do not restart it"
    );
    sup.send("k");
    let new = sup.wait_new_pid(pid);
    assert_ne!(new, pid);
    assert_eq!(
        sup.state().unwrap().last_exit.unwrap().how.signal(),
        Some(libc::SIGKILL)
    );
}

#[test]
fn exit_letter_waits_for_the_service_and_does_not_restart_it() {
    let sb = Sandbox::new();
    let mut sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    sup.send("x");
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(pid), "x alone leaves the service running");
    assert!(sup.process.as_mut().unwrap().try_wait().unwrap().is_none());
    kill(pid, libc::SIGKILL);
    let status = sup.wait_exit();
    assert!(status.success(), "{status:?}");
    assert_eq!(sup.status().unwrap().pid, 0);
}

#[test]
fn dx_stops_both() {
    let sb = Sandbox::new();
    let mut sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    sup.send("dx");
    let status = sup.wait_exit();
    assert!(status.success(), "{status:?}");
    assert!(!alive(pid));
    let s = sup.status().unwrap();
    assert_eq!((s.pid, s.want), (0, Want::Down));
    // Nobody listens any more: a non-blocking writer is refused.
    let ok = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(sup.dir.join("ok"));
    assert_eq!(ok.unwrap_err().raw_os_error(), Some(libc::ENXIO));
}

#[test]
fn sigterm_and_sigint_stop_the_service_then_supervise() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let sb = Sandbox::new();
        let mut sup = sb.start("app", "sleep 1000");
        let pid = sup.wait_pid();
        kill(sup.supervise_pid(), sig);
        let status = sup.wait_exit();
        assert!(status.success(), "signal {sig}: {status:?}");
        assert!(!alive(pid), "signal {sig}: the service was stopped");
        assert_eq!(sup.status().unwrap().pid, 0);
    }
}

#[test]
fn sigterm_to_a_daemonized_supervise() {
    let sb = Sandbox::new();
    let out = run_bounded({
        let mut c = sb.command();
        c.args(["-p", "status/app", "-f", "sleep 1000"]);
        c
    });
    assert!(out.status.success(), "{out:?}");
    let mut sup = Supervised::daemon(sb.dir("app"));
    let pid = sup.wait_pid();
    kill(sup.supervise_pid(), libc::SIGTERM);
    sup.wait_exit();
    assert!(!alive(pid));
}

#[test]
fn silence_and_alarms_set_byte_14() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    sup.send("s");
    wait_until("alarms silenced", || {
        sup.status().is_some_and(|s| !s.alarms)
    });
    assert_eq!(fs::read(sup.dir.join("status")).unwrap()[14], b'x');
    sup.send("n");
    wait_until("alarms on", || sup.status().is_some_and(|s| s.alarms));
    assert_eq!(fs::read(sup.dir.join("status")).unwrap()[14], b'o');
}

#[test]
fn reload_letter_and_sighup_are_logged() {
    let sb = Sandbox::new();
    sb.config("[global]\n");
    let sup = sb.start("app", "sleep 1000");
    sup.send("r");
    wait_until("a reload line", || sup.log().matches("reload").count() >= 1);
    kill(sup.supervise_pid(), libc::SIGHUP);
    wait_until("a second reload line", || {
        sup.log().matches("reload").count() >= 2
    });
    assert!(alive(sup.supervise_pid()));
}

#[test]
fn unknown_letters_are_logged_and_ignored() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    sup.send("Z \n s");
    wait_until("the warning", || {
        sup.log_wf().contains("unknown control letter 'Z'")
    });
    // The letter after the unknown one was still applied, in order.
    wait_until("s applied", || sup.status().is_some_and(|s| !s.alarms));
    assert_eq!(sup.status().unwrap().pid, pid);
    assert!(sup.log_wf().lines().all(|l| l.starts_with("[WARNING] ")));
}

#[test]
fn several_letters_in_one_write_apply_in_order() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    // Down, then up again: the old process is stopped and a new one started.
    sup.send("du");
    let new = sup.wait_new_pid(pid);
    assert!(!alive(pid));
    assert_eq!(sup.status().unwrap().want, Want::Up);
    assert!(alive(new));
}

#[test]
fn a_command_that_does_not_exist_is_refused_before_daemonizing() {
    let sb = Sandbox::new();
    for foreground in [false, true] {
        let out = run_bounded({
            let mut c = sb.command();
            if foreground {
                c.arg("-n");
            }
            c.args(["-p", "status/app", "-f", "no-such-program-xyz --flag"]);
            c
        });
        assert_eq!(out.status.code(), Some(100), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no-such-program-xyz: command not found in PATH"),
            "{err}"
        );
    }
    assert!(!sb.dir("app").join("lock").exists(), "nothing was set up");
}

#[test]
fn a_program_that_cannot_be_execd_is_refused_at_start() {
    let sb = Sandbox::new();
    // Executable, but neither a binary nor a script: execve says ENOEXEC.
    let bad = sb.path().join("not-a-program");
    fs::write(&bad, "just text\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o755)).unwrap();
    for foreground in [false, true] {
        let out = run_bounded({
            let mut c = sb.command();
            if foreground {
                c.arg("-n");
            }
            c.args(["-p", "status/app", "-f"]).arg(&bad);
            c
        });
        assert_eq!(out.status.code(), Some(100), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("exec failed: Exec format error"), "{err}");
        let st = read_status(&sb.dir("app")).unwrap();
        assert_eq!((st.pid, st.want), (0, Want::Down));
    }
}

#[test]
fn a_failing_exec_is_logged_and_retried_on_the_throttle() {
    let sb = Sandbox::new();
    sb.legacy_timing();
    let script = sb.script("app.sh", "exec sleep 1000");
    let sup = sb.start("app", script.to_str().unwrap());
    let pid = sup.wait_pid();
    // Make the exec fail from now on.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    kill(pid, libc::SIGKILL);
    wait_until("the exec failure in the log", || {
        sup.log_wf().contains("exec failed: Permission denied")
    });
    let t0 = Instant::now();
    let starts0 = sup.state().unwrap().starts;
    std::thread::sleep(Duration::from_millis(2500));
    let tries = sup.state().unwrap().starts - starts0;
    assert!(
        tries as f64 <= t0.elapsed().as_secs_f64() + 1.0,
        "{tries} attempts: a hot loop"
    );
    assert!(tries >= 1, "it keeps retrying");
    // Fix it and the next retry succeeds.
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    wait_until("the service to run again", || {
        sup.status()
            .is_some_and(|s| s.pid != 0 && comm(s.pid) == "sleep")
    });
}

#[test]
fn bad_usage_exits_100_with_a_message() {
    let sb = Sandbox::new();
    let rows: &[(&[&str], &str)] = &[
        (&[], "no status directory"),
        (&["-p", "status/app"], "no command"),
        (&["-p", "status/app", "-f", "sleep 1", "-Q"], "-Q"),
        (
            &["-p", "status/app", "-f", "echo 'unclosed"],
            "never closed",
        ),
        (&["-p", "status/app", "-f", "   "], "the command is empty"),
    ];
    for (args, needle) in rows {
        let out = run_bounded({
            let mut c = sb.command();
            c.args(*args);
            c
        });
        assert_eq!(out.status.code(), Some(100), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("supervise: ") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    let out = run_bounded({
        let mut c = sb.command();
        c.arg("-v");
        c
    });
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("supervise "));
    let out = run_bounded({
        let mut c = sb.command();
        c.arg("-h");
        c
    });
    assert!(String::from_utf8_lossy(&out.stdout).contains("-p DIR"));
}

#[test]
fn an_unwritable_place_for_the_directory_exits_111() {
    let sb = Sandbox::new();
    let blocker = sb.path().join("file");
    fs::write(&blocker, "").unwrap();
    let out = run_bounded({
        let mut c = sb.command();
        c.arg("-p")
            .arg(blocker.join("status/app"))
            .args(["-f", "sleep 1"]);
        c
    });
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("file is not a directory"), "{err}");
}

#[test]
fn u_form_passes_arguments_verbatim() {
    let sb = Sandbox::new();
    let dir = sb.dir("words");
    let child = sb
        .command()
        .args(["-n", "-u"])
        .arg(&dir)
        .args(["sh", "-c", "echo \"$0|$1\"; exec sleep 1000", "a b", "-x"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sup = Supervised {
        dir,
        process: Some(child),
        daemon_pid: None,
    };
    sup.wait_pid();
    wait_until("the echo", || sup.stdout().contains("a b|-x"));
    assert_eq!(
        sup.state().unwrap().command,
        "sh -c echo \"$0|$1\"; exec sleep 1000 a b -x"
    );
}

#[test]
fn shell_syntax_runs_under_sh_and_the_pid_is_the_program() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000 > /dev/null 2>&1");
    let pid = sup.wait_pid();
    wait_until("sh to exec the program in place", || comm(pid) == "sleep");
    assert_eq!(ppid(pid), Some(sup.supervise_pid()));
    let sb2 = Sandbox::new();
    let sup2 = sb2.start("app", "echo \"home=$HOME\"; exec sleep 1000");
    sup2.wait_pid();
    wait_until("the expansion", || sup2.stdout().starts_with("home=/"));
}

#[test]
fn output_goes_to_the_two_files_appending() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sh -c 'echo out; echo err >&2; exec sleep 1000'");
    let pid = sup.wait_pid();
    wait_until("output", || sup.stdout() == "out\n");
    let err = || fs::read_to_string(sup.dir.join("__stderr")).unwrap();
    wait_until("error output", || err() == "err\n");
    wait_until("past the throttle", || {
        sup.status().is_some_and(|s| {
            s.since.to_system_time().elapsed().unwrap_or_default() > Duration::from_millis(1100)
        })
    });
    kill(pid, libc::SIGKILL);
    sup.wait_new_pid(pid);
    wait_until("appended output", || sup.stdout() == "out\nout\n");
    wait_until("appended error output", || err() == "err\nerr\n");
}

#[test]
fn idle_supervise_sleeps_in_poll_without_a_timeout() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.supervise_pid();
    // The kernel tells where it sleeps and how often it woke: no timeout, no wakeups.
    wait_until("supervise to sleep in poll", || {
        fs::read_to_string(format!("/proc/{pid}/wchan")).is_ok_and(|w| w.contains("poll"))
    });
    let switches = || -> u64 {
        proc_status_field(pid, "voluntary_ctxt_switches")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    // Start-up may still be finishing as the first window opens; any quiet window of
    // 1.5 s shows the idle loop, and three in a row with wakeups would be a real one.
    let quiet = (0..3).any(|_| {
        let before = switches();
        std::thread::sleep(Duration::from_millis(1500));
        switches() == before
    });
    assert!(quiet, "supervise woke up while nothing happened");
}

#[test]
fn a_failed_status_write_is_retried_until_it_works() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    // A directory where status.new should go makes every write of status fail.
    fs::create_dir(sup.dir.join("status.new")).unwrap();
    sup.send("d");
    wait_until("the warning", || sup.log_wf().contains("cannot write"));
    assert!(!alive(pid) || sup.status().unwrap().pid == pid);
    assert_eq!(sup.status().unwrap().pid, pid, "stale while writes fail");
    fs::remove_dir(sup.dir.join("status.new")).unwrap();
    // No other event comes: only the retry can bring status up to date.
    wait_until("status to say down", || {
        sup.status().is_some_and(|s| s.pid == 0)
    });
    assert_eq!(
        sup.log_wf().matches("cannot write").count(),
        1,
        "warned once"
    );
    wait_until("the all-clear", || {
        sup.log().contains("writing status works again")
    });
}
