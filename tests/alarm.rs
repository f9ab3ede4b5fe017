//! Crash policy and alarms (SPEC §6–7) with real processes and a real SMTP server.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use smtp::{Silent, Smtp};

/// Writes the config, with the legacy restart cadence (a crash loop restarts once a
/// second, no backoff) unless the text sets its own.
fn write_conf(sb: &Sandbox, text: &str) -> PathBuf {
    let text = if text.contains("start_success") || !text.starts_with("[global]\n") {
        text.to_owned()
    } else {
        text.replacen("[global]\n", "[global]\nstart_success : 0\n", 1)
    };
    sb.config(&text)
}

fn svc_status(dir: &Path) -> String {
    let mut c = Command::new(common::bin(env!("CARGO_BIN_EXE_svc")));
    c.arg("status").arg(dir);
    String::from_utf8_lossy(&run_bounded(c).stdout).into_owned()
}

#[test]
fn a_crash_loop_with_max_tries_3_alarms_twice_and_gives_up() {
    let sb = Sandbox::new();
    let smtp = Smtp::start();
    write_conf(
        &sb,
        &format!(
            "[global]\nalarm_interval : 60\nalarm_mail : ops@example.com dev@example.com\n\
             max_tries : 3\nalarm_smtp : {}\nalarm_from : sup@example.com\n\
             [app]\nalarm_mail : owner@example.com\n",
            smtp.url()
        ),
    );
    let t0 = Instant::now();
    let mut sup = sb.spawn_with(
        "app",
        &["-f", "sh -c 'echo \"boom on stderr\" >&2; exit 3'"],
    );
    let status = sup.wait_exit();
    assert_eq!(status.code(), Some(1), "gave up: exit code 1");
    assert!(
        t0.elapsed() >= Duration::from_secs(3),
        "four starts a second apart"
    );
    let msgs = wait_for("two alarms", || {
        let m = smtp.messages();
        (m.len() >= 2).then_some(m)
    });
    assert_eq!(
        msgs.len(),
        2,
        "one first alarm, one give-up alarm: {msgs:#?}"
    );
    let first = &msgs[0];
    let mut to = first.to.clone();
    to.sort();
    assert_eq!(
        to,
        vec!["dev@example.com", "ops@example.com", "owner@example.com"]
    );
    assert_eq!(first.from, "sup@example.com");
    let subject = first.header("Subject").unwrap();
    assert!(
        subject.contains("[Alarm: ") && subject.ends_with("] Service app exited!"),
        "{subject}"
    );
    let body = first.body();
    let host = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let dir = fs::canonicalize(&sup.dir).unwrap();
    for needle in [
        format!("Host:           {host}"),
        "Service:        app".to_owned(),
        format!("Status dir:     {}", dir.display()),
        "Command:        sh -c 'echo \"boom on stderr\" >&2; exit 3'".to_owned(),
        "Exit:           exited 3".to_owned(),
        "Exit code:      3".to_owned(),
        "Core dump:      no".to_owned(),
        "Window:         1 exits".to_owned(),
        "  boom on stderr".to_owned(),
    ] {
        assert!(body.contains(&needle), "{needle:?} not in:\n{body}");
    }
    let last = &msgs[1];
    let subject = last.header("Subject").unwrap();
    // Four exits a second apart: a span of about three seconds.
    assert!(
        subject.ends_with("Service app gave up after 3 restarts in 3 seconds!")
            || subject.ends_with("Service app gave up after 3 restarts in 2 seconds!"),
        "{subject}"
    );
    assert!(
        last.body()
            .contains("supervise stopped restarting it and exited"),
        "{}",
        last.body()
    );
    // Status and svc say why.
    let st = sup.state().unwrap();
    assert_eq!(st.pid, 0);
    let gave_up = st.gave_up.unwrap();
    assert!(
        gave_up.starts_with("gave up after 3 restarts in ")
            && gave_up.ends_with(" seconds (max_tries)"),
        "{gave_up}"
    );
    let line = svc_status(&sup.dir);
    assert!(
        line.contains("supervise not running") && line.contains("gave up after 3 restarts"),
        "{line}"
    );
    assert!(sup.log_wf().contains("[FATAL] "), "{}", sup.log_wf());
}

#[test]
fn a_silent_smtp_server_does_not_delay_restarts() {
    let sb = Sandbox::new();
    let silent = Silent::start();
    write_conf(
        &sb,
        &format!(
            "[global]\nalarm_interval : 60\nalarm_mail : ops@example.com\nalarm_smtp : smtp://{}\nalarm_timeout : 3\n",
            silent.addr
        ),
    );
    let sup = sb.start("app", "sleep 1000");
    let up_a_second = || {
        wait_until("a second of uptime", || {
            sup.status().is_some_and(|s| {
                s.since.to_system_time().elapsed().unwrap_or_default() > Duration::from_millis(1100)
            })
        })
    };
    let mut pid = sup.wait_pid();
    for round in 0..3 {
        up_a_second();
        let t0 = Instant::now();
        kill(pid, libc::SIGKILL);
        pid = sup.wait_new_pid(pid);
        let took = t0.elapsed();
        assert!(
            took < Duration::from_millis(300),
            "round {round}: restart took {took:?}"
        );
    }
    // The alarm really went to the dead relay, and was abandoned on time.
    assert!(silent.connections() >= 1);
    wait_until("the abandoned alarm in the log", || {
        let wf = sup.log_wf();
        wf.contains("alarm mail not sent") || wf.contains("alarm not sent within alarm_timeout")
    });
    assert!(alive(sup.supervise_pid()));
}

#[test]
fn core_dumps_count_against_their_own_limit() {
    let sb = Sandbox::new();
    let smtp = Smtp::start();
    write_conf(
        &sb,
        &format!(
            "[global]\nalarm_interval : 60\nalarm_mail : ops@example.com\nmax_tries_if_coredumped : 1\nalarm_smtp : {}\n",
            smtp.url()
        ),
    );
    let mut sup = sb.spawn_with("app", &["-f", "sh -c 'ulimit -c unlimited; kill -SEGV $$'"]);
    assert_eq!(sup.wait_exit().code(), Some(1));
    let msgs = wait_for("two alarms", || {
        let m = smtp.messages();
        (m.len() >= 2).then_some(m)
    });
    let subject = msgs[0].header("Subject").unwrap();
    assert!(
        subject.ends_with("Service app exited with coredump!"),
        "{subject}"
    );
    let body = msgs[0].body();
    assert!(
        body.contains("Exit:           killed by SIGSEGV (core dumped)"),
        "{body}"
    );
    assert!(body.contains("Signal:         SIGSEGV (11)"), "{body}");
    assert!(body.contains("Core dump:      yes"), "{body}");
    let gave_up = sup.state().unwrap().gave_up.unwrap();
    assert!(
        gave_up.starts_with("gave up after 1 restarts in "),
        "{gave_up}"
    );
    assert!(gave_up.ends_with("(max_tries_if_coredumped)"), "{gave_up}");
}

#[test]
fn cool_down_keeps_supervise_alive_and_svc_says_so() {
    let sb = Sandbox::new();
    write_conf(
        &sb,
        "[global]\nalarm_interval : 60\nmax_tries : 1\ngive_up : cool_down\ngive_up_cool_down : 3600\n",
    );
    let sup = sb.spawn_with("app", &["-f", "sh -c 'exit 2'"]);
    wait_until("the cool-down", || {
        sup.state()
            .is_some_and(|s| s.phase == supervise::statefile::Phase::CoolDown)
    });
    let line = svc_status(&sup.dir);
    assert!(line.contains("gave up after 1 restarts"), "{line}");
    assert!(line.contains("retrying in 3"), "{line}");
    assert!(alive(sup.supervise_pid()));
    // The operator cuts it short.
    sup.send("u");
    wait_until("a new start", || {
        sup.state()
            .is_some_and(|s| s.gave_up.is_none() && s.starts >= 3)
    });
}

#[test]
fn silenced_alarms_send_nothing() {
    let sb = Sandbox::new();
    let smtp = Smtp::start();
    write_conf(
        &sb,
        &format!(
            "[global]\nalarm_interval : 60\nalarm_mail : ops@example.com\nalarm_smtp : {}\n",
            smtp.url()
        ),
    );
    let sup = sb.start("app", "sleep 1000");
    sup.send("s");
    wait_until("silenced", || sup.status().is_some_and(|s| !s.alarms));
    let pid = sup.wait_pid();
    kill(pid, libc::SIGKILL);
    sup.wait_new_pid(pid);
    std::thread::sleep(Duration::from_millis(500));
    assert!(smtp.messages().is_empty());
    assert!(!sup.log().contains("alarm:"), "{}", sup.log());
}

#[test]
fn sms_and_sendmail_get_argument_vectors_not_shell_lines() {
    let sb = Sandbox::new();
    let record = sb.path().join("record");
    let sms = sb.script(
        "sms.sh",
        &format!(
            "printf '%s|' \"$@\" >> {} && echo >> {}",
            record.display(),
            record.display()
        ),
    );
    let mail = sb.script(
        "sendmail.sh",
        &format!(
            "printf 'ARGS %s|' \"$@\" >> {r} && echo >> {r} && cat >> {r}",
            r = record.display()
        ),
    );
    write_conf(
        &sb,
        &format!(
            "[global]\nalarm_interval : 60\nalarm_mail : ops@example.com\nalarm_gsm : 13800000000 +8613900000000\n\
             alarm_gsm_command : {} --to {{number}} {{message}}\nalarm_sendmail : {}\n",
            sms.display(),
            mail.display()
        ),
    );
    // A service name full of shell syntax: it must reach the commands as plain text.
    let name = "a;touch${IFS}pwned";
    let sup = sb.start(name, "sleep 1000");
    let pid = sup.wait_pid();
    kill(pid, libc::SIGKILL);
    wait_until("two SMS and one mail", || {
        let r = fs::read_to_string(&record).unwrap_or_default();
        r.matches("--to|").count() == 2 && r.contains("ARGS ")
    });
    let r = fs::read_to_string(&record).unwrap();
    assert!(r.contains("--to|13800000000|"), "{r}");
    assert!(r.contains("--to|+8613900000000|"), "{r}");
    assert!(r.contains(&format!("Service {name} exited!|")), "{r}");
    assert!(
        r.contains("ARGS -i|") && r.contains("ops@example.com|"),
        "{r}"
    );
    assert!(
        r.contains("Subject: "),
        "the message on sendmail's stdin: {r}"
    );
    assert!(!sb.path().join("pwned").exists() && !Path::new("pwned").exists());
}

#[test]
fn restart_script_gets_the_exit_count() {
    let sb = Sandbox::new();
    let counts = sb.path().join("counts");
    let script = sb.script("hook.sh", &format!("echo \"$1\" >> {}", counts.display()));
    let _sup = sb.spawn_with(
        "app",
        &[
            "-r",
            script.to_str().unwrap(),
            "-t",
            "100",
            "-f",
            "sh -c 'exit 1'",
        ],
    );
    let got = wait_for("three runs of the script", || {
        let t = fs::read_to_string(&counts).ok()?;
        let v: Vec<String> = t.lines().map(str::to_owned).collect();
        (v.len() >= 3).then_some(v)
    });
    assert_eq!(&got[..3], &["1", "2", "3"]);
}

#[test]
fn a_bad_config_stops_the_start_with_file_and_line() {
    let sb = Sandbox::new();
    let conf = sb.config("[global]\nalarm_interval : 60\nmax_tries : plenty\n");
    let out = run_bounded({
        let mut c = sb.command();
        c.args(["-p", "status/app", "-f", "sleep 1000"]);
        c
    });
    assert_eq!(out.status.code(), Some(100), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:3: max_tries: \"plenty\" is not a whole number",
            "supervise.conf"
        )) || err.contains(&format!("{}:3:", conf.display())),
        "{err}"
    );
    // -F with another file.
    let other = sb.path().join("other.conf");
    fs::write(&other, "[global]\nstop_signal : TREM\n").unwrap();
    let out = run_bounded({
        let mut c = sb.command();
        c.arg("-F")
            .arg(&other)
            .args(["-p", "status/app", "-f", "sleep 1000"]);
        c
    });
    assert_eq!(out.status.code(), Some(100));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{}:2: ", other.display())));
    // -F naming a file that is not there: an error, not "no limits".
    let out = run_bounded({
        let mut c = sb.command();
        c.args(["-F", "nope.conf", "-p", "status/app", "-f", "sleep 1000"]);
        c
    });
    assert_eq!(out.status.code(), Some(100), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.conf: does not exist"));
}

#[test]
fn a_line_that_cannot_be_read_is_a_warning_not_a_stop() {
    let sb = Sandbox::new();
    sb.config(
        "[global]\n  max_tries : 3\nalarm_interval : 60 # a minute\njunk\nmax_tris : 4\n\
         [other]\nmax_tries : plenty\n",
    );
    let out = run_bounded({
        let mut c = sb.command();
        c.args(["-p", "status/app", "-f", "sleep 1000"]);
        c
    });
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let sup = Supervised::daemon(sb.dir("app"));
    sup.wait_pid();
    for (line, what) in [
        (2, "keys start in column 0"),
        (4, "not `key : value`"),
        (5, "unknown key \"max_tris\""),
    ] {
        let needle = format!("supervise.conf:{line}: {what}");
        assert!(err.contains(&needle), "stderr lacks {needle:?}: {err}");
        assert!(sup.log_wf().contains(&needle), "log lacks {needle:?}");
    }
    assert!(
        !err.contains("plenty"),
        "another service's section is not judged"
    );
    assert!(
        sup.state().unwrap().window_exits.is_some(),
        "alarm_interval read"
    );
}

#[test]
fn reload_keeps_the_old_config_when_the_new_one_is_bad() {
    let sb = Sandbox::new();
    let conf = sb.config("[global]\nalarm_interval : 60\nfuture_key : 1\n");
    let sup = sb.start("app", "sleep 1000");
    assert!(
        sup.log_wf().contains("unknown key \"future_key\" ignored"),
        "{}",
        sup.log_wf()
    );
    fs::write(&conf, "[global]\nalarm_interval : soon\n").unwrap();
    sup.send("r");
    wait_until("the reload error", || {
        sup.log_wf()
            .contains("config not reloaded, the previous one stays:")
            && sup
                .log_wf()
                .contains("supervise.conf:2: alarm_interval: \"soon\" is not a whole number")
    });
    assert!(alive(sup.supervise_pid()));
    // Still the old config: alarms on, so the state file counts the window.
    assert!(sup.state().unwrap().window_exits.is_some());
    fs::write(&conf, "[global]\nalarm_interval : 0\n").unwrap();
    kill(sup.supervise_pid(), libc::SIGHUP);
    wait_until("the reload", || sup.log().contains("config reloaded from"));
    wait_until("alarms off", || {
        sup.state().is_some_and(|s| s.window_exits.is_none())
    });
}

#[test]
fn a_missing_config_file_means_no_limits_and_a_warning() {
    let sb = Sandbox::new();
    let sup = sb.start("app", "sleep 1000");
    assert!(sup.log_wf().contains(
        "Cannot open config file. Old configurations unchanged. (supervise.conf not found: running without alarms or limits)"
    ));
}

#[test]
fn starttls_with_a_private_ca_and_refusal_without_it() {
    if !has_command("openssl") {
        eprintln!("openssl not installed (scripts/test installs it): skipped");
        return;
    }
    let sb = Sandbox::new();
    // A private CA, and a server certificate for localhost signed by it.
    let p = |n: &str| sb.path().join(n);
    let (ca, ca_key, cert, key, csr, ext) = (
        p("ca.pem"),
        p("ca.key"),
        p("cert.pem"),
        p("key.pem"),
        p("leaf.csr"),
        p("leaf.ext"),
    );
    fs::write(
        &ext,
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: Vec<&std::ffi::OsStr>| {
        let out = run_bounded({
            let mut c = Command::new("openssl");
            c.args(args);
            c
        });
        assert!(out.status.success(), "{out:?}");
    };
    let o = |s: &'static str| std::ffi::OsStr::new(s);
    openssl(vec![
        o("req"),
        o("-x509"),
        o("-newkey"),
        o("rsa:2048"),
        o("-nodes"),
        o("-days"),
        o("1"),
        o("-subj"),
        o("/CN=test-ca"),
        o("-keyout"),
        ca_key.as_os_str(),
        o("-out"),
        ca.as_os_str(),
    ]);
    openssl(vec![
        o("req"),
        o("-newkey"),
        o("rsa:2048"),
        o("-nodes"),
        o("-subj"),
        o("/CN=localhost"),
        o("-keyout"),
        key.as_os_str(),
        o("-out"),
        csr.as_os_str(),
    ]);
    openssl(vec![
        o("x509"),
        o("-req"),
        o("-days"),
        o("1"),
        o("-in"),
        csr.as_os_str(),
        o("-CA"),
        ca.as_os_str(),
        o("-CAkey"),
        ca_key.as_os_str(),
        o("-CAcreateserial"),
        o("-extfile"),
        ext.as_os_str(),
        o("-out"),
        cert.as_os_str(),
    ]);
    let smtp = Smtp::start_tls(&cert, &key);
    let url = format!("smtp://localhost:{}?tls=required", smtp.addr.port());
    for (name, ca) in [("trusting", Some(&ca)), ("refusing", None)] {
        let mut conf = format!(
            "[global]\nalarm_interval : 60\nalarm_mail : ops@example.com\nalarm_smtp : {url}\n"
        );
        if let Some(ca) = ca {
            conf.push_str(&format!("alarm_smtp_ca : {}\n", ca.display()));
        }
        write_conf(&sb, &conf);
        let sup = sb.start(name, "sleep 1000");
        let pid = sup.wait_pid();
        let before = smtp.messages().len();
        kill(pid, libc::SIGKILL);
        if ca.is_some() {
            let m = (0..1000)
                .find_map(|_| {
                    std::thread::sleep(Duration::from_millis(10));
                    smtp.messages().get(before).cloned()
                })
                .unwrap_or_else(|| panic!("no mail over TLS; supervise.log.wf:\n{}", sup.log_wf()));
            assert!(
                m.header("Subject")
                    .unwrap()
                    .ends_with(&format!("Service {name} exited!"))
            );
        } else {
            wait_until("the TLS refusal in the log", || {
                sup.log_wf().contains("alarm mail not sent")
            });
            assert_eq!(
                smtp.messages().len(),
                before,
                "nothing sent to an untrusted server"
            );
        }
    }
}
