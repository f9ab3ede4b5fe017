//! `on_change` (issue 18): a command run after each state change, with the facts in
//! its environment; never in the way of a restart; a burst coalesced.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;

/// A hook script that appends one line of its environment to `out`, after `delay`.
fn recorder(sb: &Sandbox, delay: &str) -> std::path::PathBuf {
    let out = sb.path().join("hook.out");
    sb.script(
        "hook.sh",
        &format!(
            "sleep {delay}\necho \"state=$SUPERVISE_STATE from=$SUPERVISE_FROM_STATE pid=$SUPERVISE_PID \
             code=$SUPERVISE_EXIT_CODE signal=$SUPERVISE_EXIT_SIGNAL core=$SUPERVISE_CORE \
             restarts=$SUPERVISE_RESTARTS service=$SUPERVISE_SERVICE dir=$SUPERVISE_DIR\" >> {}",
            out.display()
        ),
    )
}

fn runs(sb: &Sandbox) -> Vec<String> {
    fs::read_to_string(sb.path().join("hook.out"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_fact_reaches_the_hook() {
    let sb = Sandbox::new();
    let hook = recorder(&sb, "0");
    sb.config(&format!(
        "[app]\non_change : {}\nstart_success : 0\n",
        hook.display()
    ));
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    let dir = fs::canonicalize(&sup.dir).unwrap();
    wait_until("the start told", || !runs(&sb).is_empty());
    assert_eq!(
        runs(&sb)[0],
        format!(
            "state=up from=down pid={pid} code= signal= core=0 restarts=0 service=app dir={}",
            dir.display()
        )
    );
    // Killed: the exit's signal, then the restart.
    kill(pid, libc::SIGKILL);
    let next = sup.wait_new_pid(pid);
    wait_until("the restart told", || {
        runs(&sb).iter().any(|l| l.contains(&format!("pid={next}")))
    });
    let all = runs(&sb).join("\n");
    assert!(all.contains("signal=9 core=0"), "{all}");
    assert!(
        all.contains(&format!(
            "state=up from=waiting pid={next} code= signal=9 core=0 restarts=1"
        )) || all.contains(&format!(
            "state=up from=up pid={next} code= signal=9 core=0 restarts=1"
        )),
        "{all}"
    );
    // An exit code, and down.
    sup.send("d");
    sup.wait_down();
    wait_until("down told", || {
        runs(&sb)
            .last()
            .is_some_and(|l| l.starts_with("state=down"))
    });
    let last = runs(&sb).last().cloned().unwrap();
    assert!(
        last.starts_with("state=down from=") && last.contains("pid= code= signal=15"),
        "{last}"
    );
}

#[test]
fn a_slow_hook_delays_no_restart_and_is_killed_at_its_timeout() {
    let sb = Sandbox::new();
    let hook = recorder(&sb, "30");
    sb.config(&format!(
        "[app]\non_change : {}\non_change_timeout : 1\nstart_success : 0\n",
        hook.display()
    ));
    let sup = sb.spawn_with("app", &["-f", "sh -c 'sleep 0.05; exit 1'"]);
    // A crash loop restarts once a second whatever the hook does.
    let t0 = Instant::now();
    let mut pids = std::collections::BTreeSet::new();
    while t0.elapsed() < Duration::from_millis(3500) {
        if let Some(p) = sup.status().map(|s| s.pid).filter(|&p| p != 0) {
            pids.insert(p);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(pids.len() >= 3, "restarts kept their pace: {pids:?}");
    wait_until("the hook killed", || {
        sup.log_wf()
            .contains("on_change still running after on_change_timeout (1 s): killed")
    });
}

#[test]
fn a_burst_gives_few_runs_and_the_last_state() {
    let sb = Sandbox::new();
    let hook = recorder(&sb, "0.3");
    sb.config(&format!("[app]\non_change : {}\n", hook.display()));
    let sup = sb.start("app", "sleep 1000");
    wait_until("the start told", || runs(&sb).len() == 1);
    for _ in 0..15 {
        sup.send("d");
        sup.send("u");
    }
    sup.send("d");
    sup.wait_down();
    // One run under way at a time, the rest coalesced: a handful, ending with down.
    wait_until("the last state told", || {
        runs(&sb)
            .last()
            .is_some_and(|l| l.starts_with("state=down"))
    });
    std::thread::sleep(Duration::from_millis(800));
    let r = runs(&sb);
    assert!(r.len() <= 5, "{r:#?}");
    assert!(r.last().unwrap().starts_with("state=down"), "{r:#?}");
}
