//! `svc` against real supervise processes (SPEC §8).

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn svc_bin() -> &'static str {
    common::bin(env!("CARGO_BIN_EXE_svc"))
}

fn svc(args: &[&str]) -> Output {
    let mut c = Command::new(svc_bin());
    c.args(args);
    run_bounded(c)
}

fn svc_in(dir: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(svc_bin());
    c.current_dir(dir).args(args);
    run_bounded(c)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(dir: &Path) -> &str {
    dir.to_str().expect("utf-8 temp path")
}

/// A status directory with FIFOs but no supervise, as a crashed one leaves it.
fn dead_dir(sb: &Sandbox, name: &str) -> std::path::PathBuf {
    let dir = sb.dir(name);
    fs::create_dir_all(&dir).unwrap();
    for f in ["control", "ok"] {
        nix::unistd::mkfifo(&dir.join(f), nix::sys::stat::Mode::S_IRWXU).unwrap();
    }
    dir
}

#[test]
fn letters_reach_every_directory_and_a_dead_one_is_named() {
    let sb = Sandbox::new();
    let a = sb.start("a", "sleep 1000");
    let b = sb.start("b", "sleep 1000");
    let dead = dead_dir(&sb, "dead");
    let (pa, pb) = (a.wait_pid(), b.wait_pid());
    let t0 = Instant::now();
    let out = svc_in(
        sb.path(),
        &["-d", "status/a", "status/dead", "status/b", "status/nope"],
    );
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "svc blocked for {:?}",
        t0.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("status/dead: supervise not running"), "{err}");
    assert!(err.contains("status/nope: no such directory"), "{err}");
    a.wait_down();
    b.wait_down();
    assert!(!alive(pa) && !alive(pb));
    let _ = dead;
}

#[test]
fn a_path_that_is_not_a_status_directory_says_so() {
    let sb = Sandbox::new();
    let out = svc(&["-u", p(sb.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a status directory"), "{out:?}");
    let out = svc(&["status", p(sb.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a status directory"), "{out:?}");
}

#[test]
fn kill_and_wait_for_the_restart() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    let out = svc(&["-k", "-wr", "-T", "10", p(&sup.dir)]);
    assert!(out.status.success(), "{out:?}");
    // When -wr returns, status already names the new process.
    let now = sup.status().unwrap().pid;
    assert!(now != 0 && now != pid && alive(now));
}

#[test]
fn dx_with_wait_down_returns_once_both_are_gone() {
    let sb = Sandbox::new();
    let mut sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    let out = svc(&["-dx", "-wd", p(&sup.dir)]);
    assert!(out.status.success(), "{out:?}");
    assert!(!alive(pid));
    assert!(sup.wait_exit().success());
}

#[test]
fn svc_against_a_killed_supervise_returns_at_once() {
    let sb = Sandbox::new();
    let mut sup = sb.start("app", "sleep 1000");
    let service = sup.wait_pid();
    kill(sup.supervise_pid(), libc::SIGKILL);
    sup.wait_exit();
    let t0 = Instant::now();
    let out = svc(&["-u", p(&sup.dir)]);
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("supervise not running"), "{out:?}");
    // The orphan is named, in words and in JSON.
    let line = stdout(&svc(&["status", p(&sup.dir)]));
    assert!(
        line.contains(&format!(
            "supervise not running; its service pid {service} is still running, unsupervised"
        )),
        "{line}"
    );
    let j: Value =
        serde_json::from_str(stdout(&svc(&["status", "--json", p(&sup.dir)])).trim()).unwrap();
    assert_eq!(j["supervise_running"], false);
    assert_eq!(j["unsupervised_pid"], service);
    assert_eq!(j["state"], "unsupervised");
    kill(service, libc::SIGKILL);
    wait_until("the orphan to die", || !alive(service));
    let line = stdout(&svc(&["status", p(&sup.dir)]));
    assert!(
        line.contains("supervise not running; service down"),
        "{line}"
    );
    let t0 = Instant::now();
    let out = svc(&["wait", "up", "-T", "30", p(&sup.dir)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "wait on a dead supervise ends at once"
    );
}

#[test]
fn status_line_json_and_prom_for_every_kind_of_service() {
    let sb = Sandbox::new();
    // Backoff on, for the crashing one.
    sb.config("[global]\nstart_success : 1\n");
    let up = sb.start("up", "sleep 1000");
    let down = sb.start("down", "sleep 1000");
    let paused = sb.start("paused", "sleep 1000");
    let once = sb.start("once", "sleep 1000");
    let crashing = sb.spawn_with("crashing", &["-f", "sh -c 'exit 7'"]);
    let gone = dead_dir(&sb, "gone");
    down.send("d");
    paused.send("p");
    once.send("o");
    up.wait_pid();
    down.wait_down();
    wait_until("paused", || paused.status().is_some_and(|s| s.paused));
    wait_until("once", || {
        once.status()
            .is_some_and(|s| s.want == supervise::status::Want::Once)
    });
    wait_until("crashing to back off", || {
        crashing
            .state()
            .is_some_and(|s| s.phase == supervise::statefile::Phase::Backoff)
    });
    fs::write(
        gone.join("status"),
        supervise::status::encode(&supervise::status::Status {
            since: supervise::status::Tai64n::from_system_time(std::time::SystemTime::now()),
            paused: false,
            want: supervise::status::Want::Up,
            alarms: true,
            pid: 0,
        }),
    )
    .unwrap();

    let names = ["up", "down", "paused", "once", "crashing", "gone"];
    let dirs: Vec<String> = names.iter().map(|n| format!("status/{n}")).collect();
    let mut args = vec!["status"];
    args.extend(dirs.iter().map(String::as_str));

    // Lines.
    let out = svc_in(sb.path(), &args);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    let up_pid = up.status().unwrap().pid;
    assert!(
        lines[0].starts_with(&format!("status/up: up (pid {up_pid}) ")),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(" seconds, normally up, alarms on, 0 restarts"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("status/down: down "), "{}", lines[1]);
    assert!(
        lines[1].contains("normally down") && lines[1].contains("killed by SIGTERM"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains(", paused, normally up"), "{}", lines[2]);
    assert!(lines[3].contains(", once, "), "{}", lines[3]);
    assert!(
        lines[4].starts_with("status/crashing: down "),
        "{}",
        lines[4]
    );
    assert!(lines[4].contains("exited 7, backing off "), "{}", lines[4]);
    assert!(lines[4].contains(" s, starting in "), "{}", lines[4]);
    assert!(
        lines[5].starts_with("status/gone: supervise not running"),
        "{}",
        lines[5]
    );

    // JSON, parsed back field by field.
    args.insert(1, "--json");
    let out = svc_in(sb.path(), &args);
    assert!(out.status.success(), "{out:?}");
    let objs: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objs.len(), 6);
    let o = &objs[0];
    assert_eq!(o["dir"], "status/up");
    assert_eq!(o["service"], "up");
    assert_eq!(o["supervise_running"], true);
    assert_eq!(o["supervise_pid"], up.supervise_pid());
    assert_eq!(o["state"], "up");
    assert_eq!(o["pid"], up_pid);
    assert!(o["seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(o["want"], "up");
    assert_eq!(o["paused"], false);
    assert_eq!(o["alarms"], true);
    assert_eq!(o["starts"], 1);
    assert_eq!(o["restarts"], 0);
    assert!(o["last_exit"].is_null());
    assert!(o["error"].is_null());
    let d = &objs[1];
    assert_eq!(d["state"], "down");
    assert!(d["pid"].is_null());
    assert_eq!(d["want"], "down");
    assert_eq!(d["last_exit"], "killed by SIGTERM");
    assert_eq!(d["last_exit_signal"], 15);
    assert_eq!(d["last_exit_signal_name"], "SIGTERM");
    assert!(d["last_exit_code"].is_null());
    assert_eq!(d["last_exit_core"], false);
    assert_eq!(objs[2]["paused"], true);
    assert_eq!(objs[3]["want"], "once");
    let c = &objs[4];
    assert_eq!(c["state"], "backoff");
    assert_eq!(c["last_exit_code"], 7);
    let backoff = c["backoff_seconds"].as_f64().unwrap();
    assert!(backoff >= 1.0, "{backoff}");
    let next = c["next_start_in"].as_f64().unwrap();
    assert!((0.0..=backoff).contains(&next), "{next} of {backoff}");
    let g = &objs[5];
    assert_eq!(g["supervise_running"], false);
    assert_eq!(g["state"], "unsupervised");
    assert!(g["unsupervised_pid"].is_null());

    // Prometheus: every line a comment or `name{labels} value`.
    args[1] = "--prom";
    let out = svc_in(sb.path(), &args);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let mut families = Vec::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let mut w = rest.split(' ');
            families.push(w.next().unwrap().to_owned());
            assert!(matches!(w.next(), Some("gauge" | "counter")), "{l}");
            continue;
        }
        if l.starts_with("# HELP ") {
            continue;
        }
        let (name, rest) = l
            .split_once('{')
            .unwrap_or_else(|| panic!("no labels: {l}"));
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{l}"
        );
        assert_eq!(
            families.last().map(String::as_str),
            Some(name),
            "samples follow their TYPE: {l}"
        );
        let (labels, value) = rest.rsplit_once("} ").unwrap_or_else(|| panic!("{l}"));
        assert!(
            labels.starts_with("service=\"") && labels.contains("\",dir=\""),
            "{l}"
        );
        assert!(value.parse::<f64>().is_ok(), "{l}");
    }
    assert!(
        text.contains("supervise_service_up{service=\"up\",dir=\"status/up\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("supervise_service_up{service=\"down\",dir=\"status/down\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("supervise_running{service=\"gone\",dir=\"status/gone\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("supervise_service_paused{service=\"paused\",dir=\"status/paused\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "supervise_service_last_exit_code{service=\"crashing\",dir=\"status/crashing\"} 7\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "supervise_service_last_exit_code{service=\"down\",dir=\"status/down\"} 143\n"
        ),
        "{text}"
    );
}

#[test]
fn garbage_or_truncated_status_is_a_clear_error() {
    let sb = Sandbox::new();
    let dir = dead_dir(&sb, "bad");
    let rows: &[(&[u8], &str)] = &[
        (
            b"short",
            "unreadable status file: it is 5 bytes long, expected 20",
        ),
        (
            &[0xffu8; 20],
            "unreadable status file: it holds an impossible TAI64 label",
        ),
        (
            &[0u8; 0],
            "unreadable status file: it is 0 bytes long, expected 20",
        ),
    ];
    for (bytes, needle) in rows {
        fs::write(dir.join("status"), bytes).unwrap();
        for args in [
            vec!["status"],
            vec!["status", "--json"],
            vec!["pid"],
            vec!["wait", "up"],
        ] {
            let mut a = args.clone();
            a.push(p(&dir));
            let out = svc(&a);
            assert_eq!(out.status.code(), Some(1), "{a:?}: {out:?}");
            let all = stdout(&out) + &stderr(&out);
            assert!(all.contains(needle), "{a:?}: {all}");
            assert!(!all.contains("panicked"), "{all}");
        }
    }
    let bad_state = sb.start("app", "sleep 1000");
    fs::write(bad_state.dir.join("state"), "format=1\nno equals\n").unwrap();
    let out = svc(&["status", p(&bad_state.dir)]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("(state file unreadable: line 2"),
        "{out:?}"
    );
}

#[test]
fn pid_and_ok() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    let out = svc(&["pid", p(&sup.dir)]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), pid.to_string());
    assert!(svc(&["ok", p(&sup.dir)]).status.success());
    let dead = dead_dir(&sb, "dead");
    let out = svc(&["ok", p(&sup.dir), p(&dead)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "ok is quiet: {out:?}"
    );
    sup.send("d");
    sup.wait_down();
    let out = svc(&["pid", p(&sup.dir)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the service is not running"));
}

#[test]
fn wait_returns_on_the_change_and_times_out_with_code_2() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    sup.wait_pid();
    // Already up: at once.
    let t0 = Instant::now();
    assert!(svc(&["wait", "up", p(&sup.dir)]).status.success());
    assert!(t0.elapsed() < Duration::from_secs(1));
    // Down in a second, from another thread; the wait returns soon after.
    let dir = sup.dir.clone();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        send(&dir, "d");
        Instant::now()
    });
    let out = svc(&["wait", "down", "--timeout", "20", p(&sup.dir)]);
    let returned = Instant::now();
    let sent = sender.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        returned.duration_since(sent) < Duration::from_secs(2),
        "wait lagged"
    );
    // A restart never comes: timeout, code 2, a message saying where it is.
    sup.send("u");
    sup.wait_pid();
    let t0 = Instant::now();
    let out = svc(&["wait", "restart", "-T", "0.5", p(&sup.dir)]);
    let took = t0.elapsed();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("timed out after 0.5 s waiting for a restart; now"),
        "{err}"
    );
    assert!(err.contains(": up (pid "), "{err}");
}

#[test]
fn usage_and_help() {
    let out = svc(&["-h"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("Exit codes"));
    let out = svc(&["-Z", "x"]);
    assert_eq!(out.status.code(), Some(100));
    assert!(
        stderr(&out).starts_with("svc: unknown letter 'Z'"),
        "{out:?}"
    );
    let out = svc(&[]);
    assert_eq!(out.status.code(), Some(100));
}

#[test]
fn waiting_for_up_on_a_service_wanted_down_fails_at_once() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    sup.send("d");
    sup.wait_down();
    let t0 = Instant::now();
    let out = svc(&["wait", "up", p(&sup.dir)]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(stderr(&out).contains("down and wanted down"), "{out:?}");
    // With the letter first, it works.
    let out = svc(&["-u", "-wu", "-T", "10", p(&sup.dir)]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_stopped_supervise_with_a_full_fifo_is_named_not_waited_for() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    kill(sup.supervise_pid(), libc::SIGSTOP);
    // Fill the FIFO with harmless letters until it takes no more.
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(sup.dir.join("control"))
            .unwrap();
        let chunk = [b'n'; 4096];
        while f.write(&chunk).is_ok_and(|n| n > 0) {}
    }
    let t0 = Instant::now();
    let out = svc(&["-u", p(&sup.dir)]);
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not reading its control FIFO"),
        "{out:?}"
    );
    kill(sup.supervise_pid(), libc::SIGCONT);
    sup.wait_pid();
}

/// A wait sleeps: the checks it makes (they open `ok`) do not wake it again.
#[test]
fn a_wait_costs_no_cpu_while_it_waits() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, with its usage
    let child = Command::new(common::bin(env!("CARGO_BIN_EXE_svc")))
        .args(["wait", "restart", "-T", "1"])
        .arg(&sup.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // This child's own usage (other tests' children run in this process too).
    let mut status = 0;
    // SAFETY: waiting for our child with valid pointers; the struct is ours.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut r) };
    assert_eq!(got, child.id() as i32);
    assert_eq!(libc::WEXITSTATUS(status), 2, "timed out, as asked");
    let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    let spent = us(r.ru_utime) + us(r.ru_stime);
    assert!(spent < 200_000, "svc wait used {spent} µs of CPU in 1 s");
}

/// A status of many is read by several threads: the lines and the errors still come
/// in the order given, every directory once, and the exit code is the worst of them.
#[test]
fn a_status_of_many_keeps_the_order_given() {
    let sb = Sandbox::new();
    let a = sb.start("a", "sleep 1000");
    let b = sb.start("b", "sleep 1000");
    let (pa, pb) = (a.wait_pid(), b.wait_pid());
    let mut args = vec!["status".to_owned(), "status/a".to_owned()];
    for i in 0..150 {
        // Crashed before its first status: an error, on stderr.
        dead_dir(&sb, &format!("dead{i:03}"));
        args.push(format!("status/dead{i:03}"));
        if i == 75 {
            args.push("status/b".to_owned());
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = svc_in(sb.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!("status/a: up (pid {pa})")),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!("status/b: up (pid {pb})")),
        "{text}"
    );
    let err = stderr(&out);
    let named: Vec<&str> = err.lines().map(|l| &l[..l.find(':').unwrap()]).collect();
    let want: Vec<String> = (0..150).map(|i| format!("status/dead{i:03}")).collect();
    assert_eq!(named, want, "{err}");
    // All readable: exit 0, the JSON lines in order too.
    let mut args = vec!["status".to_owned(), "--json".to_owned()];
    for i in 0..120 {
        args.push(if i % 2 == 0 { "status/a" } else { "status/b" }.to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = svc_in(sb.path(), &args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let pids: Vec<u64> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["pid"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let want: Vec<u64> = (0..120)
        .map(|i| u64::from(if i % 2 == 0 { pa } else { pb }))
        .collect();
    assert_eq!(pids, want);
}
