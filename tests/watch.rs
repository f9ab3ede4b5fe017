//! Restart on file change (issue 6), with real inotify and real files.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;

fn starts(sup: &Supervised) -> u64 {
    sup.state().map_or(0, |s| s.starts)
}

/// Waits until no restart happened for a while after the debounce, then returns the
/// number of starts.
fn settled_starts(sup: &Supervised) -> u64 {
    let mut last = starts(sup);
    loop {
        std::thread::sleep(Duration::from_millis(800));
        let now = starts(sup);
        if now == last && sup.state().is_some_and(|s| s.pid != 0) {
            return now;
        }
        last = now;
    }
}

/// A sandbox with a content tree and a service watching it.
fn watched(extra_conf: &str) -> (Sandbox, PathBuf, Supervised) {
    let sb = Sandbox::new();
    let content = sb.path().join("content");
    fs::create_dir_all(content.join("sub")).unwrap();
    fs::write(content.join("index.html"), "v1").unwrap();
    sb.config(&format!(
        "[global]\nwatch : {}\nwatch_exclude : *.swp .git/\n{extra_conf}",
        content.display()
    ));
    let sup = sb.start("app", "sleep 1000");
    sup.wait_pid();
    (sb, content, sup)
}

#[test]
fn touching_a_watched_file_restarts_once() {
    let (_sb, content, sup) = watched("");
    let pid = sup.wait_pid();
    let before = starts(&sup);
    let out = run_bounded({
        let mut c = Command::new("touch");
        c.arg(content.join("index.html"));
        c
    });
    assert!(out.status.success());
    sup.wait_new_pid(pid);
    assert_eq!(settled_starts(&sup), before + 1);
    let index = content.join("index.html").display().to_string();
    assert!(
        sup.log()
            .contains(&format!("watch: {index} changed: restarting the service")),
        "{}",
        sup.log()
    );
    // svc shows the watch and the restart.
    let mut c = Command::new(common::bin(env!("CARGO_BIN_EXE_svc")));
    c.arg("status").arg(&sup.dir);
    let line = String::from_utf8_lossy(&run_bounded(c).stdout).into_owned();
    assert!(
        line.contains(&format!(", watching {}", content.display())),
        "{line}"
    );
    assert!(
        line.contains("restarted for a change ") && line.contains(&index),
        "{line}"
    );
    let last = sup.state().unwrap().last_exit.unwrap();
    assert_eq!(last.how.signal(), Some(libc::SIGTERM), "a graceful stop");
}

#[test]
fn a_burst_of_1000_files_restarts_once() {
    let (_sb, content, sup) = watched("");
    let pid = sup.wait_pid();
    let before = starts(&sup);
    for i in 0..1000 {
        fs::write(content.join(format!("sub/file{i}.txt")), format!("{i}")).unwrap();
    }
    sup.wait_new_pid(pid);
    assert_eq!(settled_starts(&sup), before + 1);
}

#[test]
fn an_excluded_file_restarts_nothing() {
    let (_sb, content, sup) = watched("");
    let pid = sup.wait_pid();
    fs::write(content.join(".index.html.swp"), "x").unwrap();
    fs::create_dir_all(content.join(".git/objects")).unwrap();
    fs::write(content.join(".git/objects/ab"), "x").unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(sup.status().unwrap().pid, pid);
    assert!(!sup.log().contains("changed: restarting"));
}

#[test]
fn a_new_subdirectory_is_watched() {
    let (_sb, content, sup) = watched("");
    let pid = sup.wait_pid();
    fs::create_dir_all(content.join("new/deeper")).unwrap();
    let pid = sup.wait_new_pid(pid);
    settled_starts(&sup);
    fs::write(content.join("new/deeper/page.html"), "x").unwrap();
    sup.wait_new_pid(pid);
}

#[test]
fn a_deleted_and_recreated_directory_keeps_working() {
    let (_sb, content, sup) = watched("");
    let pid = sup.wait_pid();
    fs::remove_dir_all(&content).unwrap();
    let pid = sup.wait_new_pid(pid);
    settled_starts(&sup);
    fs::create_dir_all(&content).unwrap();
    let pid = sup.wait_new_pid(pid);
    settled_starts(&sup);
    fs::write(content.join("back.html"), "x").unwrap();
    sup.wait_new_pid(pid);
}

#[test]
fn no_restart_while_down() {
    let (_sb, content, sup) = watched("");
    sup.send("d");
    sup.wait_down();
    let before = starts(&sup);
    fs::write(content.join("index.html"), "v2").unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(sup.status().unwrap().pid, 0);
    assert_eq!(starts(&sup), before);
}

#[test]
fn a_watched_path_that_does_not_exist_yet_is_picked_up() {
    let sb = Sandbox::new();
    let later = sb.path().join("later").join("conf.yml");
    let sup = sb.start_with(
        "app",
        &["--watch", later.to_str().unwrap(), "-f", "sleep 1000"],
    );
    let pid = sup.wait_pid();
    assert!(
        sup.log_wf().contains("does not exist yet"),
        "{}",
        sup.log_wf()
    );
    fs::create_dir(later.parent().unwrap()).unwrap();
    fs::write(&later, "a: 1").unwrap();
    let pid = sup.wait_new_pid(pid);
    settled_starts(&sup);
    // Saved the way editors do: a new file renamed over the old one.
    let tmp = later.with_extension("tmp");
    fs::write(&tmp, "a: 2").unwrap();
    fs::rename(&tmp, &later).unwrap();
    sup.wait_new_pid(pid);
}

#[test]
fn a_crash_looping_service_is_retried_at_once_on_a_change() {
    let sb = Sandbox::new();
    let conf = sb.path().join("conf");
    fs::create_dir(&conf).unwrap();
    let fixed = conf.join("fixed");
    let script = sb.script(
        "app.sh",
        &format!("[ -e {} ] || exit 1\nexec sleep 1000", fixed.display()),
    );
    sb.config(&format!(
        "[global]\nwatch : {}\nstart_success : 1\n",
        conf.display()
    ));
    let sup = sb.spawn_with("app", &["-f", script.to_str().unwrap()]);
    wait_until("backing off for a while", || {
        sup.state()
            .is_some_and(|s| s.backoff.is_some_and(|b| b >= Duration::from_secs(4)))
    });
    fs::write(&fixed, "").unwrap();
    // Far sooner than the backoff would allow.
    let t0 = std::time::Instant::now();
    sup.wait_pid();
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[test]
fn watching_a_tree_that_holds_the_status_directory_does_not_loop() {
    let sb = Sandbox::new();
    // The status directory is inside the watched tree: supervise's own writes there
    // must not count as changes.
    let sup = sb.start_with(
        "app",
        &["--watch", sb.path().to_str().unwrap(), "-f", "sleep 1000"],
    );
    let pid = sup.wait_pid();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sup.status().unwrap().pid, pid);
    fs::write(sb.path().join("real-change"), "x").unwrap();
    sup.wait_new_pid(pid);
    assert_eq!(settled_starts(&sup), 2);
}
