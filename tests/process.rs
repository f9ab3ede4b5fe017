//! Production process control: stopping, restart policy, backoff, identity and
//! environment, output rotation (issue 5).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use supervise::statefile::Phase;
use supervise::status::Want;

fn svc_status(dir: &Path) -> String {
    let mut c = Command::new(common::bin(env!("CARGO_BIN_EXE_svc")));
    c.arg("status").arg(dir);
    String::from_utf8_lossy(&run_bounded(c).stdout).into_owned()
}

/// Every live process in process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() != Some(&"Z") && f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn a_service_that_ignores_term_is_killed_after_the_timeout_and_not_before() {
    let sb = Sandbox::new();
    sb.config("[global]\nstop_timeout : 2\n");
    let script = sb.script(
        "stubborn.sh",
        "trap '' TERM\necho ready\nwhile :; do sleep 0.1; done",
    );
    let sup = sb.start("app", script.to_str().unwrap());
    let pid = sup.wait_pid();
    wait_until("the trap", || sup.stdout().contains("ready"));
    let t0 = Instant::now();
    sup.send("d");
    wait_until("stopping", || {
        sup.state().is_some_and(|s| s.phase == Phase::Stopping)
    });
    assert!(
        svc_status(&sup.dir).contains(": stopping (pid "),
        "{}",
        svc_status(&sup.dir)
    );
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(t0.elapsed()));
    assert!(alive(pid), "killed before the stop timeout");
    sup.wait_down();
    let took = t0.elapsed();
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    // `state` is written just after `status`.
    let last = wait_for("the exit in state", || sup.state()?.last_exit);
    assert_eq!(last.how.signal(), Some(libc::SIGKILL));
}

#[test]
fn the_stop_signal_is_configurable() {
    let sb = Sandbox::new();
    sb.config("[global]\nstop_signal : INT\n");
    let script = sb.script(
        "int.sh",
        "trap 'echo got INT; exit 0' INT\necho ready\nwhile :; do sleep 0.1; done",
    );
    let sup = sb.start("app", script.to_str().unwrap());
    wait_until("the trap", || sup.stdout().contains("ready"));
    sup.send("d");
    sup.wait_down();
    assert!(sup.stdout().contains("got INT"));
}

#[test]
fn down_leaves_nothing_of_the_process_group() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sh -c 'sleep 1000 & sleep 1000'");
    let pid = sup.wait_pid();
    wait_until("both sleeps", || group_members(pid).len() >= 3);
    sup.send("d");
    sup.wait_down();
    wait_until("the group to be gone", || group_members(pid).is_empty());
}

#[test]
fn letters_go_to_the_group_when_configured() {
    let sb = Sandbox::new();
    sb.config("[global]\nsignal_group : yes\n");
    let sup = sb.start("app", "sh -c 'sleep 1000 & sleep 1000'");
    let pid = sup.wait_pid();
    wait_until("both sleeps", || group_members(pid).len() >= 3);
    sup.send("p");
    wait_until("the whole group stopped", || {
        let m = group_members(pid);
        !m.is_empty() && m.iter().all(|&p| state_of(p) == Some('T'))
    });
    sup.send("c");
    wait_until("the whole group running", || {
        group_members(pid).iter().all(|&p| state_of(p) != Some('T'))
    });
}

/// Start times a service recorded itself, in seconds.
fn starts(path: &Path) -> Vec<f64> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

#[test]
fn backoff_grows_1_2_4_and_resets_after_a_long_run() {
    let sb = Sandbox::new();
    let log = sb.path().join("starts");
    // Dies at once, except on its 4th start, when it runs 1.5 s (past start_success).
    let script = sb.script(
        "crashy.sh",
        &format!(
            "date +%s.%N >> {log}\nn=$(wc -l < {log})\n[ \"$n\" -eq 4 ] && sleep 1.5\nexit 1",
            log = log.display()
        ),
    );
    sb.config("[global]\nstart_success : 1\n");
    let _sup = sb.spawn_with("app", &["-f", script.to_str().unwrap()]);
    let t = wait_for("six starts", || {
        let t = starts(&log);
        (t.len() >= 6).then_some(t)
    });
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    // Start gaps: 1, 2, 4 s of backoff after young deaths; the 4th run lasted 1.5 s,
    // so the backoff was reset and the next start came right after it (1.5 s + ~0);
    // then a young death: 1 s again.
    let expected = [1.0, 2.0, 4.0, 1.5, 1.0];
    for (g, e) in gaps.iter().zip(expected) {
        assert!((g - e).abs() < 0.4, "gaps {gaps:?}, expected {expected:?}");
    }
}

#[test]
fn svc_shows_the_backoff() {
    let sb = Sandbox::new();
    sb.config("[global]\nstart_success : 1\n");
    let sup = sb.spawn_with("app", &["-f", "sh -c 'exit 4'"]);
    wait_until("a backoff", || {
        sup.state().is_some_and(|s| s.phase == Phase::Backoff)
    });
    let line = svc_status(&sup.dir);
    assert!(line.contains("exited 4, backing off "), "{line}");
}

#[test]
fn on_failure_does_not_restart_after_success() {
    let sb = Sandbox::new();
    sb.config("[global]\nrestart : on-failure\nsuccess_exit_codes : 0 3\n");
    for (name, code, restarts) in [("ok", 0, false), ("three", 3, false), ("fail", 1, true)] {
        let sup = sb.spawn_with(name, &["-f", &format!("sh -c 'sleep 0.2; exit {code}'")]);
        wait_until("the first exit", || {
            sup.state().is_some_and(|s| s.last_exit.is_some())
        });
        if restarts {
            wait_until("a restart", || sup.state().is_some_and(|s| s.starts >= 2));
        } else {
            std::thread::sleep(Duration::from_millis(1500));
            let st = sup.state().unwrap();
            assert_eq!(st.starts, 1, "{name}");
            assert_eq!((st.phase, st.want), (Phase::Down, Want::Down), "{name}");
        }
    }
}

#[test]
fn restart_never_runs_once() {
    let sb = Sandbox::new();
    sb.config("[global]\nrestart : never\n");
    let sup = sb.spawn_with("app", &["-f", "sh -c 'exit 1'"]);
    wait_until("the exit", || {
        sup.state().is_some_and(|s| s.last_exit.is_some())
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sup.state().unwrap().starts, 1);
    sup.send("u");
    wait_until("a start on request", || {
        sup.state().is_some_and(|s| s.starts == 2)
    });
}

#[test]
fn directory_environment_umask_and_limits() {
    let sb = Sandbox::new();
    let work = sb.path().join("work");
    fs::create_dir(&work).unwrap();
    sb.config(&format!(
        "[global]\ndirectory : {}\nenv : GREETING=hello world\nenv_unset : SUPERVISE_TEST_SECRET\n\
         umask : 027\nlimit_nofile : 123\nlimit_core : 0\n",
        work.display()
    ));
    let mut c = sb.command();
    c.env("SUPERVISE_TEST_SECRET", "s3cret")
        .args(["-n", "-p", "status/app", "-f"])
        .arg("sh -c 'pwd; echo \"$GREETING\"; echo \"${SUPERVISE_TEST_SECRET-unset}\"; umask; ulimit -n; ulimit -c; exec sleep 1000'")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let sup = Supervised {
        dir: sb.dir("app"),
        process: Some(c.spawn().unwrap()),
        daemon_pid: None,
    };
    sup.wait_pid();
    wait_until("the report", || sup.stdout().lines().count() >= 6);
    let out = sup.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], fs::canonicalize(&work).unwrap().to_str().unwrap());
    assert_eq!(lines[1], "hello world");
    assert_eq!(lines[2], "unset");
    assert_eq!(lines[3], "0027");
    assert_eq!(lines[4], "123");
    assert_eq!(lines[5], "0");
}

#[test]
fn bad_identity_is_an_error_at_start_and_a_warning_at_reload() {
    let sb = Sandbox::new();
    for (conf, needle) in [
        (
            "[global]\nuser : no-such-user-xyz\n",
            "supervise.conf:2: user \"no-such-user-xyz\" is not in /etc/passwd",
        ),
        (
            "[global]\n\ndirectory : /no/such/dir\n",
            "supervise.conf:3: directory /no/such/dir: not an existing directory",
        ),
    ] {
        sb.config(conf);
        let out = run_bounded({
            let mut c = sb.command();
            c.args(["-p", "status/app", "-f", "sleep 1000"]);
            c
        });
        assert_eq!(out.status.code(), Some(100), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{out:?}"
        );
    }
    sb.config("[global]\n");
    let sup = sb.start("app", "sleep 1000");
    sb.config("[global]\nuser : no-such-user-xyz\n");
    sup.send("r");
    wait_until("the reload warning", || {
        sup.log_wf().contains(
            "config not reloaded, the previous one stays: supervise.conf:2: user \"no-such-user-xyz\" is not in /etc/passwd",
        )
    });
    let pid = sup.wait_pid();
    kill(pid, libc::SIGKILL);
    sup.wait_new_pid(pid);
}

#[test]
fn user_runs_the_service_with_its_groups_and_home() {
    let Some(user) = TestUser::create("u") else {
        return;
    };
    let sb = Sandbox::new();
    sb.config(&format!("[global]\nuser : {}\n", user.name));
    let sup = sb.start(
        "app",
        "sh -c 'id -un; id -gn; id -Gn; echo \"$HOME $USER $LOGNAME\"; exec sleep 1000'",
    );
    let pid = sup.wait_pid();
    wait_until("the report", || sup.stdout().lines().count() >= 4);
    let out = sup.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], user.name);
    assert_eq!(lines[1], user.name, "the user's primary group");
    assert!(
        lines[2].split(' ').any(|g| g == user.group),
        "supplementary: {}",
        lines[2]
    );
    assert_eq!(lines[3], format!("/tmp/{n}-home {n} {n}", n = user.name));
    let uid = proc_status_field(pid, "Uid").unwrap();
    assert!(!uid.starts_with("0\t"), "{uid}");
    drop(sup);
}

#[test]
fn rotation_keeps_exactly_n_backups_and_loses_no_line() {
    let sb = Sandbox::new();
    sb.config("[global]\nlog_max_size : 32k\nlog_backups : 5\n");
    // 30000 numbered lines, 168894 bytes: five full files of ~32 kB and a sixth.
    let sup = sb.start("app", "sh -c 'seq 1 30000; exec sleep 1000'");
    let files = |n: usize| -> Vec<String> {
        (0..=n)
            .map(|i| {
                let name = if i == 0 {
                    "__stdout".to_owned()
                } else {
                    format!("__stdout.{i}")
                };
                fs::read_to_string(sup.dir.join(name)).unwrap_or_default()
            })
            .collect()
    };
    wait_until("all the lines", || {
        files(6).iter().map(|f| f.lines().count()).sum::<usize>() == 30000
    });
    let f = files(6);
    assert!(f[6].is_empty(), "exactly 5 backups");
    for (i, text) in f.iter().enumerate().take(6).skip(1) {
        assert!(text.ends_with('\n'), "__stdout.{i} ends with a whole line");
        assert!(
            text.len() >= 32 * 1024 && text.len() < 33 * 1024,
            "__stdout.{i}: {} bytes",
            text.len()
        );
    }
    // Oldest first: .5, .4, ..., .1, then the current file: 1..=30000 in order.
    let all: Vec<u32> = f[1..6]
        .iter()
        .rev()
        .chain(std::iter::once(&f[0]))
        .flat_map(|t| t.lines().map(|l| l.parse::<u32>().unwrap()))
        .collect();
    assert_eq!(all, (1..=30000).collect::<Vec<u32>>());
}

#[test]
fn rotation_beyond_the_backups_keeps_the_newest_lines_whole() {
    let sb = Sandbox::new();
    sb.config("[global]\nlog_max_size : 16k\nlog_backups : 2\nstderr_to_stdout : yes\n");
    let sup = sb.start("app", "sh -c 'seq 1 50000 >&2; echo done; exec sleep 1000'");
    wait_until("the end", || sup.stdout().contains("done"));
    let read = |n: &str| fs::read_to_string(sup.dir.join(n)).unwrap_or_default();
    assert!(read("__stdout.3").is_empty());
    let lines: Vec<String> = [read("__stdout.2"), read("__stdout.1"), read("__stdout")]
        .iter()
        .flat_map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert_eq!(lines.last().map(String::as_str), Some("done"));
    let nums: Vec<u32> = lines[..lines.len() - 1]
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(*nums.last().unwrap(), 50000);
    for w in nums.windows(2) {
        assert_eq!(w[0] + 1, w[1], "no line lost inside what is kept");
    }
    assert!(read("__stderr").is_empty(), "stderr went to __stdout");
}

#[test]
fn timestamps_prefix_every_line() {
    let sb = Sandbox::new();
    sb.config("[global]\nlog_timestamps : yes\n");
    let sup = sb.start("app", "sh -c 'echo one; echo two >&2; exec sleep 1000'");
    wait_until("output", || sup.stdout().ends_with("one\n"));
    let err = || fs::read_to_string(sup.dir.join("__stderr")).unwrap_or_default();
    wait_until("error output", || err().ends_with("two\n"));
    let line = sup.stdout();
    // 2026-11-21 10:00:00.123456 one
    assert_eq!(line.len(), 27 + 4, "{line:?}");
    assert_eq!(&line[4..5], "-");
    assert_eq!(&line[19..20], ".");
}

#[test]
fn output_written_just_before_exit_is_kept() {
    let sb = Sandbox::new();
    sb.config("[global]\nlog_max_size : 1M\n");
    let mut sup = sb.start("app", "sh -c 'seq 1 20000; exec sleep 1000'");
    let pid = sup.wait_pid();
    // All of it written (into the pipe at least): the shell has moved on to sleep.
    wait_until("seq to be done", || comm(pid) == "sleep");
    sup.send("dx");
    assert!(sup.wait_exit().success());
    assert_eq!(sup.stdout().lines().count(), 20000);
}

#[test]
fn a_full_disk_drops_output_and_recovers() {
    if !nix::unistd::Uid::effective().is_root() || !has_command("mount") {
        eprintln!("not root: full-disk test skipped");
        return;
    }
    let sb = Sandbox::new();
    let mnt = sb.path().join("small");
    fs::create_dir(&mnt).unwrap();
    let out = run_bounded({
        let mut c = Command::new("mount");
        c.args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
            .arg(&mnt);
        c
    });
    if !out.status.success() {
        eprintln!("cannot mount a tmpfs here: {out:?}; skipped");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).output();
        }
    }
    let _unmount = Unmount(mnt.clone());
    sb.config("[global]\nlog_max_size : 100M\n");
    let dir = mnt.join("status").join("app");
    let mut c = sb.command();
    c.args(["-n", "-p"])
        .arg(&dir)
        .args(["-f", "sh -c 'while :; do seq 1 2000; sleep 0.05; done'"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let sup = Supervised {
        dir: dir.clone(),
        process: Some(c.spawn().unwrap()),
        daemon_pid: None,
    };
    sup.wait_pid();
    wait_until("the disk to fill up", || {
        nix::sys::statvfs::statvfs(&mnt).is_ok_and(|v| v.blocks_available() == 0)
    });
    // Full for a while: the service keeps writing, supervise keeps draining.
    std::thread::sleep(Duration::from_millis(500));
    let pid = sup.status().unwrap().pid;
    assert!(alive(pid) && alive(sup.supervise_pid()));
    assert_eq!(state_of(pid).map(|s| s != 'T'), Some(true));
    // Free the space: the service's output gets written again, and the warning that
    // the full disk kept out of the log arrives too.
    fs::write(dir.join("__stdout"), b"").unwrap();
    wait_until("recovery", || {
        sup.log().contains("writing __stdout works again")
    });
    let deadline = Instant::now() + PATIENCE;
    while !sup
        .log_wf()
        .contains("cannot write __stdout: No space left on device")
    {
        assert!(
            Instant::now() < deadline,
            "no held-back warning; log:\n{}\nwf:\n{}",
            sup.log(),
            sup.log_wf()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Supervise still supervises.
    kill(pid, libc::SIGKILL);
    sup.wait_new_pid(pid);
}

#[test]
fn a_restart_leaves_no_second_copy_of_what_the_service_started() {
    let sb = Sandbox::new();
    // The shell stays as the service (a list), with sleep as its child.
    let sup = sb.start("app", "sleep 7771; true");
    let pid = sup.wait_pid();
    wait_until("the sleep", || group_members(pid).len() >= 2);
    let sleeper = group_members(pid).into_iter().find(|&p| p != pid).unwrap();
    wait_until("past the throttle", || {
        sup.status().is_some_and(|s| {
            s.since.to_system_time().elapsed().unwrap_or_default() > Duration::from_millis(1100)
        })
    });
    sup.send("k");
    let new = sup.wait_new_pid(pid);
    wait_until("the old sleep to be stopped", || !alive(sleeper));
    wait_until("the new sleep", || group_members(new).len() >= 2);
    let copies = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            fs::read(e.path().join("cmdline")).is_ok_and(|c| c.starts_with(b"sleep\x007771"))
                && e.file_name()
                    .to_str()
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_some_and(alive)
        })
        .count();
    assert_eq!(copies, 1, "exactly one sleep 7771");
}

#[test]
fn a_service_that_never_stops_writing_does_not_hold_up_the_loop() {
    let sb = Sandbox::new();
    sb.config("[global]\nlog_timestamps : yes\nlog_max_size : 1M\nlog_backups : 1\n");
    let sup = sb.start("app", "yes");
    let pid = sup.wait_pid();
    wait_until("some output", || sup.dir.join("__stdout.1").exists());
    let t0 = std::time::Instant::now();
    sup.send("d");
    sup.wait_down();
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "d took {:?}",
        t0.elapsed()
    );
    assert!(!alive(pid));
}

#[test]
fn output_to_a_named_file_nowhere_or_supervises_stdout_with_a_prefix() {
    let sb = Sandbox::new();
    let logs = sb.path().join("logs");
    fs::create_dir(&logs).unwrap();
    sb.config(&format!(
        "[global]\nstdout_file : {}/app.log\nstderr_file : NONE\n",
        logs.display()
    ));
    let sup = sb.start("app", "sh -c 'echo out; echo err >&2; exec sleep 1000'");
    wait_until("the named file", || {
        fs::read_to_string(logs.join("app.log")).is_ok_and(|t| t == "out\n")
    });
    assert_eq!(sup.stdout(), "", "not in __stdout");
    drop(sup);
    // supervisord's stdout_logfile=/dev/stdout, each line prefixed with the name.
    sb.config("[global]\nstdout_file : /dev/stdout\nlog_prefix : app:\\s\nlog_max_size : 1k\n");
    let mut child = sb
        .command()
        .args(["-n", "-p"])
        .arg(sb.dir("pre"))
        .args(["-f", "sh -c 'echo one; echo two; exec sleep 1000'"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let sup = Supervised {
        dir: sb.dir("pre"),
        process: Some(child),
        daemon_pid: None,
    };
    sup.wait_pid();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while !String::from_utf8_lossy(&got).contains("app: two\n") {
        let n = std::io::Read::read(&mut out, &mut buf).unwrap();
        assert!(
            n > 0,
            "supervise's stdout closed: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&got).starts_with("app: one\n"));
}
