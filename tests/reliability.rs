//! Reliability (issue 7): no duplicate after supervise itself dies, no orphans, PID 1
//! and subreaper mode, faults around supervise.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

fn svc(args: &[&str]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_svc"));
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
