//! Drop-in fidelity (issue 14): what people running the legacy supervise have (its
//! `svc` script's way of finding the service, its sample config, the log lines
//! monitoring greps for, its command line, its pacing) works unchanged. Each test
//! names the item of the issue it pins. The legacy tool itself is never needed: each
//! behaviour is encoded here directly.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

fn svc(args: &[&str]) -> Output {
    let mut c = Command::new(common::bin(env!("CARGO_BIN_EXE_svc")));
    c.args(args);
    run_bounded(c)
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `supervise -p status/NAME ARGS...` daemonized, as the legacy `control` script runs
/// it; the daemon, for clean-up.
fn daemon(sb: &Sandbox, name: &str, args: &[&str]) -> Supervised {
    let o = run_bounded({
        let mut c = sb.command();
        c.arg("-p").arg(format!("status/{name}")).args(args);
        c
    });
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let s = Supervised::daemon(sb.dir(name));
    s.wait_pid();
    s
}

/// A script that does what the legacy `svc` script does, in its steps: the pid from
/// bytes 16-19 of `status` (`od`), supervise's pid as the service's parent, the
/// service's processes as every process of supervise's session but supervise
/// (`pgrep -s`), letters echoed into `control`, fixed sleeps, `kill -9`.
const LEGACY_SVC: &str = r#"
dir=$1; verb=$2
cd "$dir" || exit 3
pid=$(od -An -j16 -N4 -tu4 status | awk '{print $NF}')
ourpids=
if [ "$pid" != 0 ]; then
  sid=$(awk '/^PPid:/ {print $2}' /proc/$pid/status)
  ourpids=$(pgrep -d ' ' -s "$sid" | sed "s/^$sid //; s/ $sid / /; s/ $sid\$//")
fi
case $verb in
restart)
  [ "$pid" = 0 ] && exit 7
  echo s > control; sleep 0.5
  kill -9 $ourpids
  sleep 2
  echo n > control
  new=$(od -An -j16 -N4 -tu4 status | awk '{print $NF}')
  [ "$new" != "$pid" ] && [ "$new" != 0 ] ;;
stop)
  echo s > control; sleep 0.5
  echo d > control; sleep 2
  kill -9 $ourpids 2>/dev/null
  echo n > control; sleep 1
  [ "$(od -An -j16 -N4 -tu4 status | awk '{print $NF}')" = 0 ] ;;
start)
  echo u > control; sleep 2
  [ "$(od -An -j16 -N4 -tu4 status | awk '{print $NF}')" != 0 ] ;;
exit)
  echo s > control; sleep 0.5
  echo x > control
  [ -n "$ourpids" ] && kill -9 $ourpids
  sleep 1
  [ "$(od -An -j16 -N4 -tu4 status | awk '{print $NF}')" = 0 ] ;;
esac
"#;

fn legacy_svc(sb: &Sandbox, dir: &Path, verb: &str) -> Output {
    let script = sb.script("legacy-svc", LEGACY_SVC);
    let mut c = Command::new(script);
    c.arg(dir).arg(verb);
    run_bounded(c)
}

/// Item 1: the legacy `svc` script finds the service through supervise's session and
/// kills it, not supervise; restart, stop, start and exit work unchanged.
#[test]
fn item_1_the_legacy_svc_scripts_way_works() {
    if !has_command("pgrep") {
        eprintln!("no pgrep: skipped");
        return;
    }
    let sb = Sandbox::new();
    let sup = daemon(&sb, "app", &["-f", "sh -c 'sleep 3001 & exec sleep 3000'"]);
    let me = sup.supervise_pid();
    let first = sup.wait_pid();
    let o = legacy_svc(&sb, &sup.dir, "restart");
    assert!(o.status.success(), "{o:?}");
    assert!(alive(me), "the script killed supervise");
    let second = sup.wait_new_pid(first);
    let o = legacy_svc(&sb, &sup.dir, "stop");
    assert!(o.status.success(), "{o:?}");
    assert!(alive(me) && !alive(second));
    let o = legacy_svc(&sb, &sup.dir, "start");
    assert!(o.status.success(), "{o:?}");
    sup.wait_pid();
    let o = legacy_svc(&sb, &sup.dir, "exit");
    assert!(o.status.success(), "{o:?}");
    wait_until("supervise gone", || !alive(me));
}

/// Item 1: our `svc` takes the script's form with its messages and exit codes.
#[test]
fn item_1_svc_dir_verb_speaks_as_the_script() {
    let sb = Sandbox::new();
    let sup = daemon(&sb, "app", &["-f", "sleep 3000"]);
    let d = sup.dir.to_str().unwrap();
    let o = svc(&[d, "status"]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(text.starts_with("showing status...\npid: "), "{text}");
    assert!(
        text.contains("\nstart time: 20") && text.ends_with("alarm: ON\n"),
        "{text}"
    );
    let o = svc(&[d, "start"]);
    assert_eq!(o.status.code(), Some(6));
    assert_eq!(
        out(&o),
        "Warning: service is already started, nothing has been done.\n"
    );
    let o = svc(&[d, "alarm", "off"]);
    assert_eq!(
        (o.status.code(), out(&o).as_str()),
        (Some(0), "Succeed to turn alarm function OFF.\n")
    );
    let o = svc(&[d, "alarm", "off"]);
    assert_eq!(o.status.code(), Some(7));
    let o = svc(&[d, "alarm", "on"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = svc(&[d, "alarm", "maybe"]);
    assert!(out(&o).starts_with("Error: The 3rd argument should be \"on\" or \"off\""));
    let before = sup.wait_pid();
    let o = svc(&[d, "restart"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        out(&o),
        "Turn off alarm...\nRestart service \"app\"...\nTurn on alarm...\n"
    );
    assert_ne!(sup.wait_pid(), before);
    let o = svc(&[d, "stop"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        out(&o).ends_with("Stop service \"app\" successfully.\n"),
        "{o:?}"
    );
    let o = svc(&[d, "stop"]);
    assert_eq!(
        (o.status.code(), out(&o).as_str()),
        (Some(7), "Warning: service has already been stoped.\n")
    );
    let o = svc(&[d, "restart"]);
    assert_eq!(o.status.code(), Some(7));
    let o = svc(&[d, "start"]);
    assert!(
        out(&o).ends_with("Start service \"app\" sucessfully.\n"),
        "{o:?}"
    );
    let o = svc(&[d, "reconf"]);
    assert_eq!(
        out(&o),
        "Reload configuration finished, please check supervise.log\n"
    );
    let o = svc(&[d, "frobnicate"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(out(&o).starts_with("Usage: svc STATUSDIR"));
    let me = sup.supervise_pid();
    let o = svc(&[d, "exit"]);
    assert!(
        out(&o).ends_with("Service \"app\" and its supervise stoped.\n"),
        "{o:?}"
    );
    assert!(!alive(me));
    let o = svc(&[d, "status"]);
    assert_eq!(o.status.code(), Some(4), "gone, said at once: {o:?}");
    let o = svc(&["/nonexistent/status/x", "restart"]);
    assert_eq!(o.status.code(), Some(2));
}

/// The legacy tool's own sample config, in substance (GBK comments, a gsm group
/// name, a local mail alias, an empty own value).
const SAMPLE: &[u8] =
    b"# \xc5\xe4\xd6\xc3\xce\xc4\xbc\xfe\n\n[someModuleThatNoNeedNewFunction]\n\n\
[global]\nalarm_interval : 60\nalarm_mail :  ops \nalarm_gsm : 13800000000 someMobileGroup\n\
max_tries : 0\nmax_tries_if_coredumped : 0\n\n[redis]\nalarm_interval : 120\n\
alarm_mail : somebody@example.com\nalarm_gsm : 98633333\nmax_tries : 3\n\
max_tries_if_coredumped: 7\n\n[other]\nalarm_interval :\nalarm_mail : other@example.com\n";

/// Item 2: the sample config is accepted, and each gsm entry reaches the SMS command
/// as it is.
#[test]
fn item_2_the_legacy_sample_config_runs() {
    let sb = Sandbox::new();
    let got = sb.path().join("sms");
    let sms = sb.script("sms.sh", &format!("echo \"$1\" >> {}", got.display()));
    let mut conf = SAMPLE.to_vec();
    conf.extend(
        format!(
            "[web]\nalarm_gsm_command : {} {{number}}@{{message}}\n",
            sms.display()
        )
        .bytes(),
    );
    fs::write(sb.path().join("supervise.conf"), &conf).unwrap();
    let sup = daemon(&sb, "web", &["-f", "sleep 3000"]);
    kill(sup.wait_pid(), libc::SIGKILL);
    let lines = wait_for("two SMS", || {
        let t = fs::read_to_string(&got).ok()?;
        (t.lines().count() >= 2).then_some(t)
    });
    assert!(lines.starts_with("13800000000@"), "{lines}");
    assert!(
        lines.contains("\nsomeMobileGroup@") && lines.contains("Service web exited!"),
        "{lines}"
    );
    for name in ["redis", "other", "someModuleThatNoNeedNewFunction"] {
        let s = daemon(&sb, name, &["-f", "sleep 3000"]);
        assert!(
            s.log_wf().is_empty() || !s.log_wf().contains("supervise.conf:"),
            "{}",
            s.log_wf()
        );
    }
}

/// Item 3: in the service's own section after `[global]`, an own `max_tries : 0`
/// keeps the global limit (it overrides only above 0).
#[test]
fn item_3_an_own_zero_keeps_the_global_limit() {
    let sb = Sandbox::new();
    sb.config(
        "[global]\nalarm_interval : 60\nmax_tries : 1\n[app]\nmax_tries : 0\nalarm_interval :\n",
    );
    let mut sup = sb.spawn_with("app", &["-f", "sh -c 'exit 3'"]);
    let status = sup.wait_exit();
    assert_eq!(status.code(), Some(1), "gave up on the global limit");
    assert!(
        sup.log()
            .contains("supervise refused to restart app any more and exited itself!")
    );
}

/// Item 5: the log lines monitoring greps for, with the legacy spacing.
#[test]
fn item_5_the_legacy_log_lines() {
    let sb = Sandbox::new();
    let smtp = smtp::Smtp::start();
    sb.config(&format!(
        "[global]\nalarm_interval : 60\nmax_tries : 2\nalarm_mail : ops@example.com\n\
         alarm_smtp : {}\nlimit_core : unlimited\n",
        smtp.url()
    ));
    let mut sup = sb.spawn_with("app", &["-f", "sleep 3000"]);
    let pid = sup.wait_pid();
    kill(pid, libc::SIGSEGV);
    let pid = sup.wait_new_pid(pid);
    kill(pid, libc::SIGTERM);
    let pid = sup.wait_new_pid(pid);
    kill(pid, libc::SIGKILL);
    sup.wait_exit();
    wait_until("the mail logged", || sup.log().contains("mail sent: "));
    let log = sup.log();
    let two_spaces = |text: &str| {
        log.lines().any(|l| {
            l.starts_with("[NOTICE] ")
                && l.len() > 30
                && &l[28..30] == "  "
                && &l[30..31] != " "
                && l.ends_with(text)
        })
    };
    for text in [
        "Finished loading configurations!",
        "service exited!",
        "supervise is trying to restart app...",
        "supervise refused to restart app any more and exited itself!",
    ] {
        assert!(two_spaces(text), "no `{text}` line in\n{log}");
    }
    // A core dump, where the kernel writes one.
    let core_pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if !core_pattern.starts_with('|') {
        assert!(two_spaces("service exited with coredump!"), "{log}");
    }
}

/// Item 5: `-r SCRIPT` logs its legacy line.
#[test]
fn item_5_and_8_restart_cmd_lines_and_n_without_t() {
    let sb = Sandbox::new();
    let counts = sb.path().join("counts");
    let script = sb.script("hook.sh", &format!("echo \"$1\" >> {}", counts.display()));
    let sup = sb.spawn_with(
        "app",
        &["-r", script.to_str().unwrap(), "-f", "sh -c 'exit 1'"],
    );
    let got = wait_for("three runs of the script", || {
        let t = fs::read_to_string(&counts).ok()?;
        (t.lines().count() >= 3).then_some(t)
    });
    // Item 8: without -t, every call is SCRIPT 1, as in the legacy tool.
    assert_eq!(got.lines().take(3).collect::<Vec<_>>(), vec!["1", "1", "1"]);
    let line = format!("restart_cmd: {} 1 is called.", script.display());
    assert!(sup.log().contains(&line), "{}", sup.log());
    assert!(!sup.log().contains("service exited!"), "not with -r");
}

/// Item 6: a log moved away by logrotate (rename, then a new file) is followed.
#[test]
fn item_6_a_rotated_log_is_opened_again() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 3000");
    let pid = sup.wait_pid();
    let log = sup.dir.join("supervise.log");
    fs::rename(&log, sup.dir.join("supervise.log.1")).unwrap();
    fs::write(&log, "").unwrap();
    sup.send("k");
    let new = sup.wait_new_pid(pid);
    wait_until("the restart in the new file", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains(&format!("started pid {new}")))
    });
    fs::remove_file(&log).unwrap();
    sup.send("k");
    sup.wait_new_pid(new);
    wait_until("a new file", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("started pid"))
    });
}

/// Item 7: options permute as GNU getopt does, and the name is all after `status/`.
#[test]
fn item_7_permuted_options_and_nested_names() {
    let sb = Sandbox::new();
    let args = sb.path().join("args");
    let app = sb.script(
        "app.sh",
        &format!("echo \"$@\" > {}\nexec sleep 3000", args.display()),
    );
    sb.config("[grp/app]\nalarm_interval : 60\n");
    let o = run_bounded({
        let mut c = sb.command();
        c.args(["-p", "status/grp/app"])
            .arg(&app)
            .args(["one", "two"]);
        c
    });
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let sup = Supervised::daemon(sb.dir("grp/app"));
    sup.wait_pid();
    wait_until("the arguments", || {
        fs::read_to_string(&args).is_ok_and(|a| a == "one two\n")
    });
    let state = sup.state().unwrap();
    assert_eq!(state.service, "grp/app");
    assert!(
        state.window_exits.is_some(),
        "its config section [grp/app] applies"
    );
}

/// Item 9: exits while alarms are silenced count toward nothing: no give-up.
#[test]
fn item_9_a_maintenance_window_never_gives_up() {
    let sb = Sandbox::new();
    let flag = sb.path().join("crash");
    let app = sb.script(
        "app.sh",
        &format!("[ -e {} ] && exit 1\nexec sleep 3000", flag.display()),
    );
    sb.config("[global]\nalarm_interval : 60\nmax_tries : 1\nrestart_throttle : 0.2\n");
    let sup = sb.start_with("app", &["-f", app.to_str().unwrap()]);
    sup.wait_pid();
    sup.send("s");
    wait_until("silenced", || sup.status().is_some_and(|s| !s.alarms));
    fs::write(&flag, "").unwrap();
    sup.send("k");
    wait_until("five exits", || sup.state().is_some_and(|s| s.starts >= 6));
    assert!(alive(sup.supervise_pid()), "gave up during maintenance");
    fs::remove_file(&flag).unwrap();
    sup.wait_pid();
    sup.send("n");
}

/// Item 10: a crash loop is restarted once a second for ever, no backoff, so
/// `max_tries : 3` gives up at its 4th exit, after 4 starts a second apart.
#[test]
fn item_10_one_second_pacing_by_default() {
    let sb = Sandbox::new();
    let starts = sb.path().join("starts");
    let app = sb.script(
        "app.sh",
        &format!("date +%s.%N >> {}\nexit 1", starts.display()),
    );
    sb.config("[global]\nalarm_interval : 60\nmax_tries : 3\n");
    let t0 = Instant::now();
    let mut sup = sb.spawn_with("app", &["-f", app.to_str().unwrap()]);
    assert_eq!(sup.wait_exit().code(), Some(1));
    let t: Vec<f64> = fs::read_to_string(&starts)
        .unwrap()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    assert_eq!(t.len(), 4, "{t:?}");
    for w in t.windows(2) {
        assert!((w[1] - w[0] - 1.0).abs() < 0.3, "{t:?}");
    }
    assert!(t0.elapsed() < Duration::from_secs(8));
}

/// Item 12: without a relay and without sendmail, `mail -s SUBJECT RCPT...`, the body
/// on its standard input, no shell.
#[test]
fn item_12_mail_without_a_relay() {
    let sb = Sandbox::new();
    let bin = sb.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let got = sb.path().join("mail-args");
    let mail = bin.join("mail");
    fs::write(
        &mail,
        format!(
            "#!/bin/sh\nprintf '%s|' \"$@\" > {g}\ncat >> {g}\n",
            g = got.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&mail, fs::Permissions::from_mode(0o755)).unwrap();
    sb.config(
        "[global]\nalarm_interval : 60\nalarm_mail : ops dev@example.com\n\
         alarm_sendmail : /nonexistent/sendmail\n",
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = sb
        .command()
        .env("PATH", path)
        .args(["-n", "-p", "status/app", "-f", "sleep 3000"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sup = Supervised {
        dir: sb.dir("app"),
        process: Some(child),
        daemon_pid: None,
    };
    kill(sup.wait_pid(), libc::SIGKILL);
    let text = wait_for("mail run", || {
        fs::read_to_string(&got)
            .ok()
            .filter(|t| t.contains("Host:"))
    });
    assert!(text.starts_with("-s|"), "{text}");
    assert!(
        text.contains("Service app exited!|ops|dev@example.com|"),
        "{text}"
    );
    wait_until("logged", || sup.log().contains("mail sent: "));
}
