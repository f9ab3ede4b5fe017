//! Host mode (issue 15) with the real binaries: `supervise-host` on supervisord
//! configs, one `supervise` per process, `svc` by name.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

use common::*;

fn host_bin() -> &'static str {
    common::bin(env!("CARGO_BIN_EXE_supervise-host"))
}

/// A sandbox with a host config in it; services are scripts in the sandbox, so that
/// everything a test starts can be found (and killed) by the sandbox's path.
struct HostBox {
    sb: Sandbox,
    conf: PathBuf,
    host: Option<Child>,
}

impl HostBox {
    fn new(programs: &str) -> HostBox {
        let sb = Sandbox::new();
        let conf = sb.path().join("supervisord.conf");
        let b = HostBox {
            sb,
            conf,
            host: None,
        };
        b.write(programs);
        b
    }

    /// Writes the config: a [supervisord] section with the status root in the
    /// sandbox, then `programs`.
    fn write(&self, programs: &str) {
        let text = format!(
            "[supervisord]\nlogfile=%(here)s/host.log\nstatus_root=%(here)s/status\n{programs}"
        );
        fs::write(&self.conf, text).unwrap();
    }

    /// A script in the sandbox: `run` with `$1` its name, logging `start NAME` and
    /// `stop NAME` into `events`.
    fn service(&self) -> PathBuf {
        self.sb.script(
            "svc.sh",
            &format!(
                "echo \"start $1\" >> {ev}\ntrap 'echo \"stop $1\" >> {ev}; exit 0' TERM\n\
                 sleep 100000 &\nwait",
                ev = self.events_path().display()
            ),
        )
    }

    fn events_path(&self) -> PathBuf {
        self.sb.path().join("events")
    }

    fn events(&self) -> Vec<String> {
        fs::read_to_string(self.events_path())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn root(&self) -> PathBuf {
        self.sb.path().join("status")
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }

    /// Starts `supervise-host -n`, and waits until it has started everything.
    fn start(&mut self) {
        let before = self.log().matches("started: ").count();
        let child = Command::new(host_bin())
            .args(["-n", "-s", "-c"])
            .arg(&self.conf)
            .current_dir(self.sb.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.host = Some(child);
        wait_until("the host started", || {
            self.log().matches("started: ").count() > before
        });
    }

    fn log(&self) -> String {
        fs::read_to_string(self.sb.path().join("host.log")).unwrap_or_default()
    }

    fn host_pid(&self) -> u32 {
        read_lock_pid(&self.root().join(".host")).expect("the host's lock")
    }

    fn svc(&self, args: &[&str]) -> Output {
        let mut c = Command::new(common::bin(env!("CARGO_BIN_EXE_svc")));
        c.arg("-c").arg(&self.conf).args(args);
        run_bounded(c)
    }

    /// The running service pid of each status directory.
    fn pids(&self) -> Vec<(String, u32)> {
        let mut out: Vec<(String, u32)> = fs::read_dir(self.root())
            .map(|d| {
                d.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .map(|e| {
                        let pid = read_status(&e.path()).map_or(0, |s| s.pid);
                        (e.file_name().to_string_lossy().into_owned(), pid)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    fn wait_pid(&self, name: &str) -> u32 {
        wait_for("the service to run", || {
            read_status(&self.dir(name))
                .map(|s| s.pid)
                .filter(|&p| p != 0 && alive(p))
        })
    }
}

impl Drop for HostBox {
    fn drop(&mut self) {
        let marker = self.sb.path().to_path_buf();
        common::stop_host_and_sweep(self.host.take(), &marker);
    }
}

/// Include globs, numprocs, groups, priorities and %(ENV_X)s: exactly the right
/// processes, in the right order, each under its own supervise.
#[test]
fn a_config_runs_exactly_its_processes_in_priority_order() {
    let mut b = HostBox::new("");
    let svc = b.service();
    let conf_d = b.sb.path().join("conf.d");
    fs::create_dir(&conf_d).unwrap();
    fs::write(
        conf_d.join("web.conf"),
        format!(
            "[program:web]\ncommand={} web-%(ENV_HOST_TEST_TAG)s\npriority=10\n",
            svc.display()
        ),
    )
    .unwrap();
    fs::write(
        conf_d.join("workers.conf"),
        format!(
            "[program:worker]\ncommand={} w%(process_num)d\nnumprocs=3\n\
             process_name=%(program_name)s_%(process_num)02d\npriority=20\n\
             [group:pool]\nprograms=worker\n",
            svc.display()
        ),
    )
    .unwrap();
    fs::write(conf_d.join("ignored.txt"), "[program:nope]\ncommand=nope\n").unwrap();
    b.write("[include]\nfiles = conf.d/*.conf\n");
    // SAFETY: the test's own environment, set before the host starts (inherited).
    unsafe { std::env::set_var("HOST_TEST_TAG", "blue") };
    b.start();
    let names: Vec<String> = b.pids().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec!["pool:worker_00", "pool:worker_01", "pool:worker_02", "web"]
    );
    wait_until("four starts", || b.events().len() == 4);
    let mut ev = b.events();
    ev.sort();
    assert_eq!(ev, ["start w0", "start w1", "start w2", "start web-blue"]);
    // web's level first: each worker was started after web's status named its pid.
    // (Not the order of the lines above: once exec'd, the scripts race to write.)
    let since = |name: &str| read_status(&b.dir(name)).map(|s| s.since);
    let web = since("web").expect("web's status");
    for w in ["pool:worker_00", "pool:worker_01", "pool:worker_02"] {
        assert!(since(w).is_some_and(|t| t > web), "{w} started before web");
    }
    // Each under its own supervise, itself the host's child.
    let host = b.host.as_ref().unwrap().id();
    for (name, pid) in b.pids() {
        let sup = ppid(pid).unwrap();
        assert_eq!(comm(sup), "supervise", "{name}");
        assert_eq!(ppid(sup), Some(host), "{name}");
    }
}

/// Shutdown stops in reverse priority: the high one first.
#[test]
fn shutdown_follows_priority_backwards() {
    let mut b = HostBox::new("");
    let svc = b.service();
    b.write(&format!(
        "[program:db]\ncommand={s} db\npriority=1\n[program:app]\ncommand={s} app\npriority=50\n\
         [program:proxy]\ncommand={s} proxy\npriority=100\n",
        s = svc.display()
    ));
    b.start();
    wait_until("three starts", || b.events().len() == 3);
    // Started in priority order: each supervise notes when it started its service
    // (the services' own lines may land in any order: a shell's echo after the exec
    // can be slower than the next one's).
    let since = |name: &str| read_status(&b.dir(name)).map(|s| s.since);
    let started: Vec<_> = ["db", "app", "proxy"].map(since).to_vec();
    assert!(
        started.windows(2).all(|w| w[0] < w[1]),
        "{started:?}, events {:?}",
        b.events()
    );
    // supervisord's pidfile, for the scripts that signal the host.
    let pidfile = b.sb.path().join("supervisord.pid");
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap().trim(),
        b.host_pid().to_string()
    );
    let out = b.svc(&["shutdown"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Shut down\n");
    let mut h = b.host.take().unwrap();
    let status = wait_for("the host to exit", || h.try_wait().ok().flatten());
    assert_eq!(status.code(), Some(0));
    assert!(!pidfile.exists(), "the pidfile is removed at exit");
    assert_eq!(
        b.events()[3..],
        ["stop proxy", "stop app", "stop db"],
        "{:?}",
        b.events()
    );
}

/// The host SIGKILLed and started again takes its supervise processes over: no
/// service restarts. One supervise SIGKILLed is started again and adopts its service.
#[test]
fn host_and_supervise_crashes_restart_no_service() {
    let mut b = HostBox::new("");
    let svc = b.service();
    b.write(&format!(
        "[program:a]\ncommand={s} a\n[program:b]\ncommand={s} b\nnumprocs=2\nprocess_name=b%(process_num)d\n",
        s = svc.display()
    ));
    b.start();
    let before = b.pids();
    assert!(before.iter().all(|(_, p)| *p != 0), "{before:?}");
    let mut h = b.host.take().unwrap();
    kill(h.id(), libc::SIGKILL);
    let _ = h.wait();
    b.start();
    assert_eq!(b.pids(), before, "a service was restarted");
    assert!(
        b.log().contains("took over the supervise of a"),
        "{}",
        b.log()
    );
    // One supervise killed: a new one, the same service.
    let a = b.wait_pid("a");
    let sup = read_lock_pid(&b.dir("a")).unwrap();
    kill(sup, libc::SIGKILL);
    wait_until("a new supervise", || {
        read_lock_pid(&b.dir("a")).is_some_and(|p| p != sup && alive(p))
    });
    let adopted = || read_state(&b.dir("a")).is_some_and(|r| r.adopted && r.pid == a);
    let deadline = std::time::Instant::now() + PATIENCE;
    while !adopted() {
        // Said in full if it fails: what the directory records and what supervise said.
        assert!(
            std::time::Instant::now() < deadline,
            "not adopted in {PATIENCE:?}: state {:?}\nstatus {:?}\nsupervise.log:\n{}",
            read_state(&b.dir("a")),
            read_status(&b.dir("a")),
            fs::read_to_string(b.dir("a").join("supervise.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(b.pids(), before);
    assert_eq!(
        b.events().len(),
        3,
        "no service started twice: {:?}",
        b.events()
    );
}

/// Update touches exactly what changed; numprocs up and down keep the others' pids;
/// a bad config changes nothing.
#[test]
fn update_restarts_exactly_the_changed_processes() {
    let mut b = HostBox::new("");
    let svc = b.service();
    let base = |n: usize, a_arg: &str, with_c: bool| {
        let mut t = format!(
            "[program:a]\ncommand={s} a{a_arg}\n[program:b]\ncommand={s} b\n\
             [program:w]\ncommand={s} w%(process_num)d\nnumprocs={n}\nprocess_name=w%(process_num)d\n",
            s = svc.display()
        );
        if with_c {
            t.push_str(&format!("[program:c]\ncommand={} c\n", svc.display()));
        }
        t
    };
    b.write(&base(4, "", false));
    b.start();
    let before = b.pids();
    // a changes, c is added, b removed, w goes from 4 to 6.
    b.write(
        &base(6, " --changed", true)
            .replace(&format!("[program:b]\ncommand={} b\n", svc.display()), ""),
    );
    let out = b.svc(&["update"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("a: updated process group") && text.contains("b: removed process group"),
        "{text}"
    );
    assert!(text.contains("c: added process group"), "{text}");
    wait_until("the update applied", || {
        let p = b.pids();
        p.iter()
            .filter(|(n, pid)| n.starts_with("w:") && *pid != 0)
            .count()
            == 6
            && p.iter().any(|(n, pid)| n == "c" && *pid != 0)
            && p.iter().any(|(n, pid)| {
                n == "a"
                    && *pid != 0
                    && Some(*pid) != before.iter().find(|(m, _)| m == "a").map(|x| x.1)
            })
    });
    let after = b.pids();
    for w in ["w:w0", "w:w1", "w:w2", "w:w3"] {
        let pid = |v: &Vec<(String, u32)>| v.iter().find(|(n, _)| n == w).map(|x| x.1);
        assert_eq!(pid(&after), pid(&before), "{w} was restarted");
    }
    wait_until("b stopped", || {
        read_status(&b.dir("b")).is_some_and(|s| s.pid == 0)
    });
    // Down from 6 to 4: two stop, the rest keep their pids.
    b.write(
        &base(4, " --changed", true)
            .replace(&format!("[program:b]\ncommand={} b\n", svc.display()), ""),
    );
    let kept = b.pids();
    b.svc(&["update"]);
    wait_until("w4 and w5 stopped", || {
        ["w:w4", "w:w5"]
            .iter()
            .all(|n| read_status(&b.dir(n)).is_some_and(|s| s.pid == 0))
    });
    let now = b.pids();
    for (n, pid) in &kept {
        if !n.ends_with("w4") && !n.ends_with("w5") && n != "b" {
            assert_eq!(
                now.iter().find(|(m, _)| m == n).map(|x| x.1),
                Some(*pid),
                "{n}"
            );
        }
    }
    // A bad config: nothing changes, the error names file and line.
    fs::write(
        &b.conf,
        fs::read_to_string(&b.conf).unwrap() + "[program:bad]\nautostart=perhaps\n",
    )
    .unwrap();
    let out = b.svc(&["reread"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("supervisord.conf:"),
        "{out:?}"
    );
    kill(b.host_pid(), libc::SIGHUP);
    wait_until("the refusal logged", || {
        b.log().contains("config not reloaded, nothing changed")
    });
    assert_eq!(b.pids(), now);
}

/// Every svc verb by name, group and all, with supervisorctl's output and codes.
#[test]
fn svc_by_name_speaks_supervisorctl() {
    let mut b = HostBox::new("");
    let svc = b.service();
    b.write(&format!(
        "[program:web]\ncommand={s} web\nstartsecs=0\n\
         [program:w]\ncommand={s} w%(process_num)d\nnumprocs=2\nprocess_name=w%(process_num)d\nstartsecs=0\n\
         [program:off]\ncommand={s} off\nautostart=false\nstartsecs=0\n",
        s = svc.display()
    ));
    b.start();
    b.wait_pid("web");
    let out = b.svc(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "off is not running: {text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with(&format!("{:<33}STOPPED", "off")),
        "by group name: {text}"
    );
    assert!(
        lines[3].starts_with(&format!("{:<33}RUNNING   pid ", "web")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{:<33}STOPPED   Not started", "off"))),
        "{text}"
    );
    let out = b.svc(&["status", "web", "w:*"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let out = b.svc(&["status", "nope"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("nope: ERROR (no such process)"));
    let out = b.svc(&["start", "off"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "off: started\n",
        "{out:?}"
    );
    let out = b.svc(&["start", "off"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "off: ERROR (already started)\n"
    );
    let out = b.svc(&["stop", "w:*"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("w:w0: stopped\n") && text.contains("w:w1: stopped\n"),
        "{text}"
    );
    let out = b.svc(&["restart", "all"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("web: stopped\nweb: started\n") && text.contains("w:w0: started"),
        "{text}"
    );
    let web = b.wait_pid("web");
    let out = b.svc(&["pid", "web"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{web}\n"));
    let out = b.svc(&["signal", "HUP", "web"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "web: signalled\n");
    let out = b.svc(&["tail", "web", "stderr"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = b.svc(&["avail"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!(
            "{:<32} {:<9} {:<9} 999:999",
            "off", "in use", "manual"
        )),
        "{text}"
    );
    let out = b.svc(&["reread"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "No config updates to processes\n"
    );
    let out = b.svc(&["pid"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", b.host_pid())
    );
}

/// `svc tail -f all` follows every process, each line after its name.
#[test]
fn tail_follows_every_process() {
    let mut b = HostBox::new("");
    let talk =
        b.sb.script("talk.sh", "while :; do echo \"line $1\"; sleep 0.2; done");
    b.write(&format!(
        "[program:x]\ncommand={t} x\n[program:y]\ncommand={t} y\n",
        t = talk.display()
    ));
    b.start();
    let mut c = Command::new(common::bin(env!("CARGO_BIN_EXE_svc")))
        .arg("-c")
        .arg(&b.conf)
        .args(["tail", "-f", "all"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = c.stdout.take().unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 256];
    let t0 = Instant::now();
    while !(got.contains("x: line x") && got.contains("y: line y")) && t0.elapsed() < PATIENCE {
        let n = std::io::Read::read(&mut out, &mut buf).unwrap_or(0);
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let _ = c.kill();
    let _ = c.wait();
    assert!(
        got.contains("x: line x") && got.contains("y: line y"),
        "{got}"
    );
}

/// As PID 1 of a pid namespace: it runs everything, reaps, and a TERM stops it all.
#[test]
fn as_pid_1_in_a_pid_namespace() {
    if !nix::unistd::Uid::effective().is_root() || !has_command("unshare") {
        eprintln!("not root or no unshare: skipped");
        return;
    }
    let b = HostBox::new("");
    let svc = b.service();
    b.write(&format!(
        "[program:a]\ncommand={s} a\n[program:orphaner]\ncommand=sh -c 'sleep 0.1 & exec {s} orphaner'\n",
        s = svc.display()
    ));
    let mut ns = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(host_bin())
        .arg("-c")
        .arg(&b.conf)
        .current_dir(b.sb.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("both started", || b.events().len() == 2);
    assert_eq!(b.host_pid(), 1, "PID 1 inside");
    let host = wait_for("the host, seen from outside", || {
        let c = fs::read_to_string(format!("/proc/{0}/task/{0}/children", ns.id())).ok()?;
        c.split_whitespace().next()?.parse::<u32>().ok()
    });
    kill(host, libc::SIGTERM);
    let status = wait_for("unshare to exit", || ns.try_wait().ok().flatten());
    assert_eq!(status.code(), Some(0), "{}", b.log());
    let mut stops: Vec<String> = b
        .events()
        .into_iter()
        .filter(|e| e.starts_with("stop"))
        .collect();
    stops.sort();
    assert_eq!(stops, vec!["stop a", "stop orphaner"]);
}

/// A program with exit_host_on_fatal that gives up ends the host with code 1.
#[test]
fn a_fatal_program_can_end_the_host() {
    let mut b = HostBox::new(
        "[program:doomed]\ncommand=false\nstartretries=1\nstartsecs=1\nexit_host_on_fatal=true\n",
    );
    let child = Command::new(host_bin())
        .args(["-n", "-s", "-c"])
        .arg(&b.conf)
        .current_dir(b.sb.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    b.host = Some(child);
    let h = b.host.as_mut().unwrap();
    let status = wait_for("the host to exit", || h.try_wait().ok().flatten());
    assert_eq!(status.code(), Some(1), "{}", b.log());
    assert!(b.log().contains("doomed gave up"), "{}", b.log());
}

/// --check lists the processes, --check --json in supervisord's key names; an error
/// is FILE:LINE and exit 2.
#[test]
fn check_mode() {
    let b = HostBox::new(
        "[program:a]\ncommand=/bin/sleep 1\nnumprocs=2\nprocess_name=a%(process_num)d\n",
    );
    let out = run_bounded({
        let mut c = Command::new(host_bin());
        c.args(["--check", "--json", "-c"]).arg(&b.conf);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 2);
    assert_eq!(j[1]["name"], "a1");
    assert_eq!(j[0]["command"], "/bin/sleep 1");
    assert_eq!(j[0]["autorestart"], "unexpected");
    fs::write(
        &b.conf,
        "[supervisord]\n[program:a]\ncommand=x\nstartsecs=soon\n",
    )
    .unwrap();
    let out = run_bounded({
        let mut c = Command::new(host_bin());
        c.args(["--check", "-c"]).arg(&b.conf);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:4:", b.conf.display())), "{err}");
    let _ = Path::new("");
}

/// `depends_on`: a dependent starts once what it depends on is ready (whatever the
/// priorities say), stops before it, and with `restart_dependents` is stopped while
/// its dependency restarts; `svc start` starts what a process needs first; a cycle
/// is refused at load with its file and line.
#[test]
fn dependencies_start_once_ready_and_stop_in_reverse() {
    let mut b = HostBox::new("");
    let svc = b.service();
    let ev = b.events_path();
    // Ready half a second after it starts, on its readiness descriptor.
    let slow = b.sb.script(
        "slow.sh",
        &format!(
            "echo \"start $1\" >> {ev}\ntrap 'echo \"stop $1\" >> {ev}; exit 0' TERM\n\
             sleep 0.5\necho \"ready $1\" >> {ev}\necho >&3\nsleep 100000 &\nwait",
            ev = ev.display()
        ),
    );
    b.write(&format!(
        "[program:db]\ncommand={slow} db\nready = fd 3\npriority = 10\nrestart_dependents = true\n\
         [program:web]\ncommand={s} web\ndepends_on = db\npriority = 1\nstartsecs = 0\n\
         [program:cron]\ncommand={s} cron\ndepends_on = web\nstartsecs = 0\n\
         [program:x]\ncommand={slow} x\nready = fd 3\nautostart = false\n\
         [program:y]\ncommand={s} y\ndepends_on = x\nautostart = false\nstartsecs = 0\n",
        slow = slow.display(),
        s = svc.display()
    ));
    b.start();
    wait_until("three started", || b.events().len() == 4);
    assert_eq!(
        b.events(),
        ["start db", "ready db", "start web", "start cron"]
    );
    assert!(
        b.log().contains("web: waiting for db to be ready"),
        "{}",
        b.log()
    );
    // supervisorctl's RUNNING means ready: web's startsecs is 0, db's readiness fd.
    let out = b.svc(&["status", "db"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("RUNNING"),
        "{out:?}"
    );

    // db restarts: web (restart_dependents) is stopped, and started again once db is
    // ready; cron, which depends on web only, keeps running.
    let db = b.wait_pid("db");
    kill(db, libc::SIGKILL);
    wait_until("web back", || b.events().len() == 8);
    assert_eq!(
        b.events()[4..],
        ["stop web", "start db", "ready db", "start web"],
        "{:?}",
        b.events()
    );

    // svc start y starts x first and waits until it is ready.
    let out = b.svc(&["start", "y"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "x: started\ny: started\n",
        "{out:?}"
    );
    wait_until("y wrote", || b.events().len() == 11);
    assert_eq!(b.events()[8..], ["start x", "ready x", "start y"]);

    // Shutdown: each before what it depends on, whatever the priorities.
    let out = b.svc(&["shutdown"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Shut down\n");
    let mut h = b.host.take().unwrap();
    wait_for("the host to exit", || h.try_wait().ok().flatten());
    let stops: Vec<String> = b.events()[11..].to_vec();
    let at = |n: &str| {
        stops
            .iter()
            .position(|e| e == &format!("stop {n}"))
            .unwrap()
    };
    assert!(
        at("cron") < at("web") && at("web") < at("db") && at("y") < at("x"),
        "{stops:?}"
    );

    // A cycle is refused at load, where it is written.
    b.write("[program:a]\ncommand=/bin/true\ndepends_on = b\n[program:b]\ncommand=/bin/true\ndepends_on = a\n");
    let out = run_bounded({
        let mut c = Command::new(host_bin());
        c.args(["--check", "-c"]).arg(&b.conf);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:6: depends_on: a cycle: a -> b -> a",
            b.conf.display()
        )),
        "{err}"
    );
}
