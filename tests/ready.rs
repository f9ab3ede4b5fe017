//! Readiness, health checks and forking daemons (issue 16) with real programs:
//! `systemd-notify`, a service writing to its readiness descriptor, probes against
//! listeners this test runs, a real SMTP server for the alarm, and Debian's
//! `redis-server` daemonizing with a pidfile.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use smtp::Smtp;

fn svc(args: &[&str], dir: &Path) -> (i32, String) {
    let mut c = Command::new(common::bin(env!("CARGO_BIN_EXE_svc")));
    c.args(args).arg(dir);
    let out = run_bounded(c);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn ready_since(s: &Supervised) -> Option<std::time::SystemTime> {
    s.state().and_then(|r| r.ready_since)
}

/// The processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) && state_of(pid).is_some_and(|s| s != 'Z') {
            out.push(pid);
        }
    }
    out
}

#[test]
fn systemd_notify_makes_it_ready_with_its_status_text() {
    if !has_command("systemd-notify") {
        eprintln!("systemd-notify missing (Debian package systemd): skipped");
        return;
    }
    let sb = Sandbox::new();
    sb.config("[app]\nready : notify\nready_timeout : 30\n");
    let gate = sb.path().join("go");
    let script = sb.script(
        "app.sh",
        &format!(
            "echo \"socket=$NOTIFY_SOCKET\"\nwhile [ ! -e {} ]; do sleep 0.05; done\n\
             systemd-notify --ready --status=\"serving 3 clients\"\nexec sleep 1000",
            gate.display()
        ),
    );
    let sup = sb.start_with("app", &["-f", script.to_str().unwrap()]);
    let pid = sup.wait_pid();
    wait_until("the socket named", || sup.stdout().contains("socket="));
    assert!(
        sup.stdout()
            .contains(&format!("socket={}", sup.dir.join("notify").display())),
        "{}",
        sup.stdout()
    );
    // Up, not ready: svc says so, and a wait for ready times out.
    let (code, line) = svc(&["status"], &sup.dir);
    assert_eq!(code, 0);
    assert!(
        line.contains(&format!("up (pid {pid})")) && line.contains(", not ready (notify)"),
        "{line}"
    );
    let (code, out) = svc(&["wait", "ready", "-T", "0.3"], &sup.dir);
    assert_eq!(code, 2, "{out}");
    std::fs::write(&gate, "").unwrap();
    let (code, out) = svc(&["wait", "ready", "-T", "20"], &sup.dir);
    assert_eq!(code, 0, "{out}");
    let st = sup.state().unwrap();
    assert!(st.ready_since.is_some());
    assert_eq!(st.status_text.as_deref(), Some("serving 3 clients"));
    assert_eq!(sup.status().unwrap().pid, pid, "ready is the same run");
    let (_, line) = svc(&["status"], &sup.dir);
    assert!(
        line.contains(", ready 0 seconds") || line.contains(", ready 1 second,"),
        "{line}"
    );
    assert!(line.contains("status \"serving 3 clients\""), "{line}");
    let (_, json) = svc(&["status", "--json"], &sup.dir);
    assert!(
        json.contains("\"ready\":true") && json.contains("\"readiness\":\"notify\""),
        "{json}"
    );
    let (_, prom) = svc(&["status", "--prom"], &sup.dir);
    assert!(
        prom.contains("supervise_service_ready{service=\"app\""),
        "{prom}"
    );
    assert!(
        prom.lines()
            .any(|l| l.starts_with("supervise_service_ready{") && l.ends_with(" 1")),
        "{prom}"
    );
    assert!(
        sup.log().contains("ready: READY=1 from pid"),
        "{}",
        sup.log()
    );
}

#[test]
fn a_foreign_ready_is_ignored_and_a_never_ready_start_fails_after_its_timeout() {
    let sb = Sandbox::new();
    sb.config("[app]\nready : notify\nready_timeout : 1\nstart_success : 0\n");
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    // The test process is not the service: its READY=1 (a real sd_notify datagram
    // with credentials) must not count.
    let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sock.send_to(b"READY=1\nSTATUS=forged", sup.dir.join("notify"))
        .unwrap();
    wait_until("the foreign datagram said", || {
        sup.log_wf().contains("ignored a notification from pid")
    });
    assert_eq!(ready_since(&sup), None);
    assert_eq!(sup.state().unwrap().status_text, None);
    // Never ready: stopped after a second and started again, counted as failed.
    let t0 = Instant::now();
    let next = sup.wait_new_pid(pid);
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(!alive(pid) || state_of(pid) == Some('Z'));
    let st = sup.state().unwrap();
    assert!(
        st.last_failure
            .as_deref()
            .is_some_and(|f| f.contains("not ready within ready_timeout (1 s; ready: notify)")),
        "{st:?}"
    );
    assert!(
        sup.log_wf().contains("not ready within ready_timeout"),
        "{}",
        sup.log_wf()
    );
    assert_ne!(next, pid);
}

#[test]
fn a_newline_on_the_readiness_descriptor_is_ready() {
    let sb = Sandbox::new();
    sb.config("[app]\nready : fd 5\n");
    let script = sb.script("app.sh", "sleep 0.2\necho >&5\nexec sleep 1000");
    let sup = sb.start_with("app", &["-f", script.to_str().unwrap()]);
    let (code, out) = svc(&["wait", "ready", "-T", "20"], &sup.dir);
    assert_eq!(code, 0, "{out}");
    assert!(
        sup.log().contains("ready: a newline on descriptor 5"),
        "{}",
        sup.log()
    );
}

/// A tiny HTTP server on a thread: answers every request with `status`.
fn http_server(status: &'static str) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        for c in l.incoming() {
            let Ok(mut c) = c else { break };
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ =
                c.write_all(format!("HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
            if Instant::now() > until || buf.starts_with(b"QUIT") {
                break;
            }
        }
    });
    (addr, h)
}

#[test]
fn tcp_http_and_exec_probes_tell_readiness() {
    let sb = Sandbox::new();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let (http, _server) = http_server("200 OK");
    let flag = sb.path().join("flag");
    for (name, ready) in [
        ("tcp", format!("tcp {}", tcp.local_addr().unwrap())),
        ("http", format!("http http://{http}/healthz")),
        ("exec", format!("exec test -e {}", flag.display())),
    ] {
        std::fs::write(
            sb.path().join(format!("{name}.conf")),
            format!("[{name}]\nready : {ready}\n"),
        )
        .unwrap();
    }
    let start = |name: &str| {
        let conf = sb.path().join(format!("{name}.conf"));
        sb.start_with(name, &["-F", conf.to_str().unwrap(), "-f", "sleep 1000"])
    };
    let (t, h, e) = (start("tcp"), start("http"), start("exec"));
    for s in [&t, &h] {
        let (code, out) = svc(&["wait", "ready", "-T", "20"], &s.dir);
        assert_eq!(code, 0, "{out}");
    }
    assert!(h.log().contains("ready: http http://"), "{}", h.log());
    // The exec probe fails until the file exists.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ready_since(&e), None);
    std::fs::write(&flag, "").unwrap();
    let (code, out) = svc(&["wait", "ready", "-T", "20"], &e.dir);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_hung_service_is_restarted_after_its_failed_checks_and_the_alarm_says_which() {
    let sb = Sandbox::new();
    let smtp = Smtp::start();
    let port = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = port.local_addr().unwrap();
    sb.config(&format!(
        "[global]\nalarm_interval : 60\nalarm_mail : ops@example.com\nalarm_smtp : {}\n\
         [app]\nhealth : tcp {addr}\nhealth_interval : 0.2\nprobe_timeout : 1\nhealth_failures : 3\n",
        smtp.url()
    ));
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    wait_until("a passing check", || {
        sup.state().and_then(|r| r.health).is_some_and(|h| h.1)
    });
    let (_, line) = svc(&["status"], &sup.dir);
    assert!(line.contains("health checks passing for"), "{line}");
    // The port closes; the process stays alive: three failures, then a restart.
    drop(port);
    let next = sup.wait_new_pid(pid);
    assert_ne!(next, pid);
    let wf = sup.log_wf();
    assert!(
        wf.contains("unhealthy: health check failed 3 times in a row: tcp"),
        "{wf}"
    );
    let log = sup.log();
    assert!(
        log.contains("health check failed (1 of 3)")
            && log.contains("health check failed (3 of 3)"),
        "{log}"
    );
    let m = wait_for("the alarm", || smtp.messages().into_iter().next());
    let body = m.body();
    assert!(
        m.header("Subject")
            .unwrap_or_default()
            .contains("failed its health check"),
        "{:?}",
        m.header("Subject")
    );
    assert!(
        body.contains("Check:") && body.contains("Connection refused"),
        "{body}"
    );
}

#[test]
fn an_exec_health_check_says_what_it_printed() {
    let sb = Sandbox::new();
    let bad = sb.path().join("bad");
    sb.config(&format!(
        "[app]\nhealth : exec sh -c 'if [ -e {} ]; then echo database unreachable; exit 2; fi'\n\
         health_interval : 0.2\nhealth_failures : 2\n",
        bad.display()
    ));
    let sup = sb.start("app", "sleep 1000");
    let pid = sup.wait_pid();
    wait_until("a passing check", || {
        sup.state().and_then(|r| r.health).is_some_and(|h| h.1)
    });
    std::fs::write(&bad, "").unwrap();
    sup.wait_new_pid(pid);
    let st = sup.state().unwrap();
    assert!(
        st.last_failure
            .as_deref()
            .is_some_and(|f| f.contains("exited 2: database unreachable")),
        "{st:?}"
    );
}

#[test]
fn a_missed_watchdog_restarts_the_service() {
    if !has_command("systemd-notify") {
        eprintln!("systemd-notify missing (Debian package systemd): skipped");
        return;
    }
    let sb = Sandbox::new();
    sb.config("[app]\nready : notify\nwatchdog : 0.5\n");
    let script = sb.script(
        "app.sh",
        "echo \"usec=$WATCHDOG_USEC\"\nsystemd-notify --ready\nexec sleep 1000",
    );
    let sup = sb.start_with("app", &["-f", script.to_str().unwrap()]);
    let pid = sup.wait_pid();
    let next = sup.wait_new_pid(pid);
    assert_ne!(pid, next);
    assert!(sup.stdout().contains("usec=500000"), "{}", sup.stdout());
    assert!(
        sup.log_wf()
            .contains("watchdog: no WATCHDOG=1 within 500 ms"),
        "{}",
        sup.log_wf()
    );
}

#[test]
fn a_service_forking_into_the_background_without_a_pidfile_is_said_and_never_doubled() {
    let sb = Sandbox::new();
    sb.config("[app]\nstart_success : 0\n");
    let marker = format!("stray-{}", std::process::id());
    // A daemon that leaves its process group and session, as daemonize() does.
    let script = sb.script(
        "app.sh",
        &format!(
            "setsid bash -c 'trap \"\" TERM; exec -a {marker} sleep 1000' </dev/null >/dev/null 2>&1 &\nexit 0"
        ),
    );
    let sup = sb.spawn_with("app", &["-f", script.to_str().unwrap()]);
    wait_until("the stray said", || {
        sup.log_wf()
            .contains("left processes running outside its process group")
    });
    // Several restarts later there is never more than one copy.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(2500) {
        let n = processes_with(&marker).len();
        assert!(n <= 1, "{n} copies of the stray");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(sup.log_wf().contains("set pidfile"), "{}", sup.log_wf());
    // It ignores the stop signal; supervise leaving kills it: no copy outlives it.
    sup.send("dx");
    let mut sup = sup;
    sup.wait_exit();
    wait_until("no stray left", || processes_with(&marker).is_empty());
}

#[test]
fn redis_server_daemonizing_with_a_pidfile_is_followed_and_restarted_alone() {
    if !has_command("redis-server") {
        eprintln!("redis-server missing (Debian package redis-server): skipped");
        return;
    }
    let sb = Sandbox::new();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let pidfile = sb.path().join("redis.pid");
    sb.config(&format!(
        "[redis]\npidfile : {}\nhealth : tcp 127.0.0.1:{port}\nhealth_interval : 1\n",
        pidfile.display()
    ));
    let needle = format!("127.0.0.1:{port}");
    let cmd = format!(
        "redis-server --daemonize yes --pidfile {} --port {port} --bind 127.0.0.1 --save '' \
         --appendonly no --dir {}",
        pidfile.display(),
        sb.path().display()
    );
    let sup = sb.start_with("redis", &["-f", &cmd]);
    let main = wait_for("the daemon followed", || {
        let pid = sup.status()?.pid;
        let from_file: u32 = std::fs::read_to_string(&pidfile)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (pid == from_file && comm(pid).starts_with("redis-server")).then_some(pid)
    });
    assert_eq!(
        ppid(main),
        Some(sup.supervise_pid()),
        "re-parented to supervise"
    );
    assert_eq!(processes_with(&needle), vec![main]);
    let (code, _) = svc(&["wait", "ready", "-T", "20"], &sup.dir);
    assert_eq!(code, 0);
    // Killed: restarted, one copy at any time.
    kill(main, libc::SIGKILL);
    let t0 = Instant::now();
    let next = loop {
        let copies = processes_with(&needle);
        assert!(copies.len() <= 1, "two redis-servers: {copies:?}");
        if let Some(p) = sup.status().map(|s| s.pid).filter(|&p| p != 0 && p != main) {
            if comm(p).starts_with("redis-server") && copies == vec![p] {
                break p;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no restart");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        sup.log()
            .contains(&format!("main pid {next}, from {}", pidfile.display())),
        "{}",
        sup.log()
    );
    // Stopped: the daemon (not the launcher, long gone) gets the signal.
    sup.send("d");
    sup.wait_down();
    wait_until("redis gone", || processes_with(&needle).is_empty());
    sup.send("u");
    wait_until("one copy again, followed", || {
        let pid = sup.status().map_or(0, |s| s.pid);
        pid != 0 && processes_with(&needle) == vec![pid]
    });
}

#[test]
fn descriptors_passed_to_the_notify_socket_are_all_closed() {
    use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
    use std::os::fd::AsRawFd;
    let sb = Sandbox::new();
    sb.config("[app]\nready : notify\n");
    let sup = sb.start("app", "sleep 1000");
    let spid = sup.supervise_pid();
    let before = open_fds(spid).len();
    let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
    let addr = UnixAddr::new(&sup.dir.join("notify")).unwrap();
    let files: Vec<std::fs::File> = (0..40)
        .map(|_| std::fs::File::open("/dev/null").unwrap())
        .collect();
    let fds: Vec<i32> = files.iter().map(|f| f.as_raw_fd()).collect();
    for _ in 0..10 {
        let iov = [std::io::IoSlice::new(b"READY=1\nBARRIER=1")];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg(
            sock.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::empty(),
            Some(&addr),
        )
        .unwrap();
    }
    wait_until("the datagrams read", || {
        sup.log_wf().contains("ignored a notification")
    });
    std::thread::sleep(Duration::from_millis(100));
    let after = open_fds(spid).len();
    assert!(
        after <= before + 1,
        "supervise kept descriptors: {before} -> {after}"
    );
}

#[test]
fn mainpid_names_the_main_process_once_the_launcher_exits() {
    if !has_command("systemd-notify") {
        eprintln!("systemd-notify missing (Debian package systemd): skipped");
        return;
    }
    let sb = Sandbox::new();
    sb.config("[app]\nready : notify\nstart_success : 0\n");
    let marker = format!("mainpid-{}", std::process::id());
    let script = sb.script(
        "app.sh",
        &format!(
            "bash -c 'exec -a {marker} sleep 1000' &\nsystemd-notify --ready --pid=$!\nexit 0"
        ),
    );
    let sup = sb.spawn_with("app", &["-f", script.to_str().unwrap()]);
    let main = wait_for("the main process followed", || {
        let p = sup.status()?.pid;
        (p != 0 && processes_with(&marker) == vec![p]).then_some(p)
    });
    // It stays: not taken for a stray, not restarted.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sup.status().unwrap().pid, main);
    assert!(alive(main));
    assert!(
        !sup.log_wf().contains("left processes running"),
        "{}",
        sup.log_wf()
    );
    assert!(
        sup.log()
            .contains(&format!("main pid {main}, from MAINPID=")),
        "{}",
        sup.log()
    );
    // Killed: restarted once, never beside the first.
    kill(main, libc::SIGKILL);
    wait_until("a new main", || {
        let p = sup.status().map_or(0, |s| s.pid);
        p != 0 && p != main && processes_with(&marker) == vec![p]
    });
}
