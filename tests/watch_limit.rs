//! Running out of inotify watches is a warning, never a crash (issue 6).
//!
//! A test binary of its own: it lowers the system's `fs.inotify.max_user_watches`
//! for a moment, and cargo runs test binaries one after another, so no other test
//! competes for watches meanwhile. Root only; skipped otherwise.

mod common;

use std::fs;
use std::time::Duration;

use common::*;

const LIMIT: &str = "/proc/sys/fs/inotify/max_user_watches";

/// Restores the limit, whatever happens.
struct Restore(String);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = fs::write(LIMIT, &self.0);
    }
}

/// inotify watches in use by every process (an upper bound for root's).
fn watches_in_use() -> usize {
    let mut n = 0;
    for p in fs::read_dir("/proc").into_iter().flatten().flatten() {
        for fd in fs::read_dir(p.path().join("fdinfo"))
            .into_iter()
            .flatten()
            .flatten()
        {
            n += fs::read_to_string(fd.path()).map_or(0, |t| {
                t.lines().filter(|l| l.starts_with("inotify ")).count()
            });
        }
    }
    n
}

#[test]
fn running_out_of_watches_is_a_warning_and_supervise_goes_on() {
    let Ok(old) = fs::read_to_string(LIMIT) else {
        eprintln!("no {LIMIT}: skipped");
        return;
    };
    if fs::write(LIMIT, old.trim()).is_err() {
        eprintln!("cannot write {LIMIT} (not root?): skipped");
        return;
    }
    let sb = Sandbox::new();
    let tree = sb.path().join("tree");
    for i in 0..300 {
        fs::create_dir_all(tree.join(format!("d{i:03}"))).unwrap();
    }
    let restore = Restore(old.trim().to_owned());
    // Room for 100 more watches than the whole system uses now.
    fs::write(LIMIT, (watches_in_use() + 100).to_string()).unwrap();
    let sup = sb.start_with(
        "app",
        &["--watch", tree.to_str().unwrap(), "-f", "sleep 1000"],
    );
    let pid = sup.wait_pid();
    drop(restore);
    wait_until("the warning", || {
        sup.log_wf()
            .contains("the limit of inotify watches is reached")
    });
    assert_eq!(
        sup.log_wf().matches("limit of inotify watches").count(),
        1,
        "warned once"
    );
    assert!(alive(sup.supervise_pid()));
    // What it could watch still works.
    fs::write(tree.join("top-level-file"), "x").unwrap();
    sup.wait_new_pid(pid);
    std::thread::sleep(Duration::from_millis(100));
    assert!(alive(sup.supervise_pid()));
}
