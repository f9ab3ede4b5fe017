//! supervisord's event listeners under the host (issue 18), judged with the real
//! ones: superlance's crashmail, fatalmailbatch, memmon and httpok, supervisor-stdout
//! and supervisord-dependent-startup from PyPI (a venv scripts/test makes:
//! `SUPERVISE_TEST_VENV`, else `test-venv` in the target directory), a shell
//! stop-the-container script, and the events themselves compared with supervisord
//! 4.2's (Debian's `/usr/bin/supervisord`) byte for byte.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use smtp::Smtp;

const SUPERVISORD: &str = "/usr/bin/supervisord";
/// Debian's Python, the same for the recording listener under both hosts.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// The venv with the listeners from PyPI, if it has `needs` (names in its `bin`).
fn venv(needs: &[&str]) -> Option<PathBuf> {
    let dir = std::env::var_os("SUPERVISE_TEST_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            // The target directory, where scripts/test makes it by default.
            let exe = Path::new(common::bin(env!("CARGO_BIN_EXE_supervise-host")));
            Some(exe.parent()?.parent()?.join("test-venv"))
        })?;
    let missing: Vec<&str> = ["python3"]
        .iter()
        .chain(needs)
        .copied()
        .filter(|n| !dir.join("bin").join(n).exists())
        .collect();
    if missing.is_empty() {
        return Some(dir);
    }
    eprintln!(
        "no venv with the PyPI listeners at {} (missing bin/{}): skipped; scripts/test makes it \
         (pip install superlance supervisor-stdout supervisord-dependent-startup) and sets \
         SUPERVISE_TEST_VENV",
        dir.display(),
        missing.join(", bin/")
    );
    None
}

/// Polls `f` until it returns `Some`, for at most `secs` (TICK_5 listeners need more
/// than the usual patience).
fn wait_long<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out ({secs} s) waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The sections every host of these tests has: its files in the sandbox, and the
/// HTTP server that gives listeners `SUPERVISOR_SERVER_URL` (memmon, httpok and
/// dependent-startup call XML-RPC; crashmail and the mail batches insist on it).
const HEAD: &str = "[supervisord]\nlogfile=%(here)s/host.log\npidfile=%(here)s/supervisord.pid\n\
                    status_root=%(here)s/status\n\
                    [unix_http_server]\nfile=%(here)s/sup.sock\n\
                    [supervisorctl]\nserverurl=unix://%(here)s/sup.sock\n\
                    [rpcinterface:supervisor]\n\
                    supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n";

/// A host (ours, or supervisord) in a sandbox, run in the foreground; its stdout is
/// kept.
struct Host {
    sb: Sandbox,
    child: Option<Child>,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Host {
    fn new() -> Host {
        Host {
            sb: Sandbox::new(),
            child: None,
            out: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn path(&self) -> &Path {
        self.sb.path()
    }

    /// Writes `supervisord.conf` (the sandbox is `%(here)s`).
    fn config(&self, text: &str) -> PathBuf {
        let conf = self.path().join("supervisord.conf");
        fs::write(&conf, text).unwrap();
        conf
    }

    /// Writes a file in the sandbox, executable.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path().join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Our host on `HEAD` and `sections`: `supervise-host -n -s -c CONF`.
    fn start(&mut self, sections: &str) {
        let conf = self.config(&format!("{HEAD}{sections}"));
        let mut c = Command::new(common::bin(env!("CARGO_BIN_EXE_supervise-host")));
        c.args(["-n", "-s", "-c"]).arg(conf);
        self.spawn(c);
    }

    fn spawn(&mut self, mut c: Command) {
        let mut child = c
            .current_dir(self.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let out = self.out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        self.child = Some(child);
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path().join("host.log")).unwrap_or_default()
    }

    /// The pid of a process of ours (0 when down).
    fn pid(&self, name: &str) -> u32 {
        read_status(&self.path().join("status").join(name)).map_or(0, |s| s.pid)
    }

    /// What a process of ours wrote on stderr (`stderr_logfile=AUTO`).
    fn stderr_of(&self, name: &str) -> String {
        fs::read_to_string(self.path().join("status").join(name).join("__stderr"))
            .unwrap_or_default()
    }

    /// The host's exit, if it came within `secs`.
    fn exit_within(&mut self, secs: u64) -> Option<ExitStatus> {
        let c = self.child.as_mut()?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Some(s) = c.try_wait().ok().flatten() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}: host log:\n{}", self.path().display(), self.log());
        }
        let marker = self.path().to_path_buf();
        common::stop_host_and_sweep(self.child.take(), &marker);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET on 127.0.0.1:`port` answered with 200, within a second.
fn http_ok(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_secs(1),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.0 200")
}

/// crashmail (superlance): a program that exits unexpectedly from RUNNING is mailed
/// about, through a sendmail command that relays to the SMTP server with smtplib;
/// fatalmailbatch, which talks SMTP itself (`--smtpHost`), mails about a program that
/// went FATAL at the next TICK_5.
#[test]
fn crashmail_and_fatalmailbatch_mail_a_real_smtp_server() {
    let Some(venv) = venv(&["crashmail", "fatalmailbatch"]) else {
        return;
    };
    let smtp = Smtp::start();
    let (ip, port) = (smtp.addr.ip(), smtp.addr.port());
    let py = venv.join("bin/python3");
    let mut h = Host::new();
    // sendmail -t: the recipients are the message's To.
    h.file(
        "sendmail.py",
        "import email, smtplib, sys\n\
         text = sys.stdin.read()\n\
         msg = email.message_from_string(text)\n\
         with smtplib.SMTP(sys.argv[1], int(sys.argv[2])) as s:\n\
         \x20   s.sendmail(sys.argv[3], [msg['To']], text)\n",
    );
    let v = venv.display();
    h.start(&format!(
        "[eventlistener:crashmail]\n\
         command={v}/bin/crashmail -p crasher -m ops@example.com \
         -s \"{py} %(here)s/sendmail.py {ip} {port} crashmail@example.com\"\n\
         events=PROCESS_STATE_EXITED\n\
         [eventlistener:fatalmail]\n\
         command={v}/bin/fatalmailbatch --toEmail=ops@example.com \
         --fromEmail=fatal@example.com --smtpHost={ip}:{port} --tickEvent=TICK_5 --interval=0.05\n\
         events=PROCESS_STATE_FATAL,TICK_5\n\
         [program:crasher]\n\
         command=/bin/sh -c 'echo $$ > %(here)s/crasher.pid; sleep 1.5; exit 3' %(here)s\n\
         startsecs=1\nautorestart=false\n\
         [program:doomed]\n\
         command=/bin/sh -c 'exit 4' %(here)s\n\
         startretries=1\n",
        py = py.display()
    ));
    let crash = wait_long("crashmail's mail", 10, || {
        smtp.messages()
            .into_iter()
            .find(|m| m.from == "crashmail@example.com")
    });
    assert_eq!(crash.to, ["ops@example.com"]);
    let crasher = fs::read_to_string(h.path().join("crasher.pid")).unwrap();
    let crasher = crasher.trim();
    let subject = crash.header("Subject").unwrap_or_default();
    assert!(subject.starts_with(" crasher crashed at "), "{subject:?}");
    assert_eq!(
        crash.body().trim_end(),
        format!(
            "Process crasher in group crasher exited unexpectedly (pid {crasher}) from state RUNNING"
        ),
        "the EXITED event's payload, as crashmail read it"
    );
    // The next TICK_5 after the FATAL sends the batch.
    let fatal = wait_long("fatalmailbatch's mail", 15, || {
        smtp.messages()
            .into_iter()
            .find(|m| m.from == "fatal@example.com")
    });
    assert_eq!(fatal.to, ["ops@example.com"]);
    assert_eq!(
        fatal.header("Subject").as_deref(),
        Some("Fatal start alert from supervisord")
    );
    assert!(
        fatal
            .body()
            .contains(" -- Process doomed:doomed failed to start too many times"),
        "{}",
        fatal.body()
    );
    // doomed never ran: its ends were BACKOFFs, no EXITED for crashmail.
    let crashes = smtp
        .messages()
        .iter()
        .filter(|m| m.from == "crashmail@example.com")
        .count();
    assert_eq!(crashes, 1, "{:#?}", smtp.messages());
}

/// memmon (superlance) on TICK_5, through XML-RPC: a program over its limit is
/// restarted (stopProcess, startProcess: a new pid), one under it is left alone.
#[test]
fn memmon_restarts_a_program_over_its_memory_limit() {
    let Some(venv) = venv(&["memmon"]) else {
        return;
    };
    let v = venv.display();
    let mut h = Host::new();
    h.start(&format!(
        "[eventlistener:memmon]\n\
         command={v}/bin/memmon -p hog=20MB -p calm=20MB\n\
         events=TICK_5\n\
         [program:hog]\n\
         command={v}/bin/python3 -c \"import time; b = b'x' * (60 << 20); time.sleep(1000)\" %(here)s\n\
         [program:calm]\n\
         command=/bin/sh -c 'exec sleep 1000' %(here)s\n"
    ));
    let (hog, calm) = wait_for("both to run", || {
        let (a, b) = (h.pid("hog"), h.pid("calm"));
        (a != 0 && b != 0).then_some((a, b))
    });
    let again = wait_long("memmon to restart hog", 15, || {
        Some(h.pid("hog")).filter(|&p| p != 0 && p != hog)
    });
    assert!(!alive(hog), "the old hog is gone");
    assert!(alive(again));
    let said = h.stderr_of("memmon");
    assert!(
        said.contains("RSS of hog:hog is ") && said.contains("Restarting hog:hog"),
        "{said}"
    );
    assert!(said.contains("RSS of calm:calm is "), "{said}");
    assert!(!said.contains("Restarting calm"), "{said}");
    assert_eq!(h.pid("calm"), calm, "under its limit: not restarted");
}

/// httpok (superlance) on TICK_5: the URL stops answering (its server is
/// SIGSTOPped) and the program is restarted through XML-RPC: a new pid that answers.
#[test]
fn httpok_restarts_a_program_whose_url_stops_answering() {
    let Some(venv) = venv(&["httpok"]) else {
        return;
    };
    let v = venv.display();
    let port = free_port();
    let mut h = Host::new();
    h.start(&format!(
        "[eventlistener:httpok]\n\
         command={v}/bin/httpok -p web -t 2 http://127.0.0.1:{port}/\n\
         events=TICK_5\n\
         [program:web]\n\
         command={v}/bin/python3 -m http.server {port} --bind 127.0.0.1 --directory %(here)s\n\
         stopwaitsecs=2\n"
    ));
    let web = wait_for("web to answer", || {
        let pid = h.pid("web");
        (pid != 0 && http_ok(port)).then_some(pid)
    });
    kill(web, libc::SIGSTOP);
    // The next tick (at most 5 s), 2 s of timeout, then the restart.
    let again = wait_long("httpok to restart web", 15, || {
        Some(h.pid("web")).filter(|&p| p != 0 && p != web)
    });
    assert!(!alive(web), "the stopped server is gone");
    wait_until("the new web to answer", || http_ok(port));
    assert_eq!(h.pid("web"), again);
    // startProcess returns once the new one is RUNNING.
    let said = wait_long("httpok to say it restarted web", 5, || {
        let said = h.stderr_of("httpok");
        said.contains("web restarted").then_some(said)
    });
    assert!(
        said.contains("web is in RUNNING state, restarting"),
        "{said}"
    );
}

/// The usual stop-the-container listener, in shell (bash: dash's `kill` takes no
/// `-SIGQUIT`): on PROCESS_STATE_FATAL it sends SIGQUIT to the pid in the host's
/// pidfile. Started with a program that goes FATAL (it exits at once, one retry) and
/// one that runs.
fn start_exit_on_fatal(h: &mut Host) {
    let pidfile = h.path().join("supervisord.pid");
    h.file(
        "exit_on_fatal.sh",
        &format!(
            "#!/bin/bash\n\
             printf 'READY\\n'\n\
             while read -r header; do\n\
             \x20 len=$(printf '%s\\n' \"$header\" | sed -n 's/.*len:\\([0-9]*\\).*/\\1/p')\n\
             \x20 payload=$(head -c \"$len\")\n\
             \x20 echo \"event: $header $payload\" >&2\n\
             \x20 case \"$header\" in\n\
             \x20   *eventname:PROCESS_STATE_FATAL*) kill -SIGQUIT $(cat {}) ;;\n\
             \x20 esac\n\
             \x20 printf 'RESULT 2\\nOK'\n\
             \x20 printf 'READY\\n'\n\
             done\n",
            pidfile.display()
        ),
    );
    h.start(
        "[eventlistener:exit_on_fatal]\n\
         command=%(here)s/exit_on_fatal.sh\n\
         events=PROCESS_STATE_FATAL\n\
         [program:doomed]\n\
         command=/bin/sh -c 'exit 4' %(here)s\n\
         startretries=1\n\
         [program:bystander]\n\
         command=/bin/sh -c 'echo $$ > %(here)s/bystander.pid; exec sleep 1000' %(here)s\n",
    );
}

/// The FATAL ends the host: everything stopped, exit code 0 (stopped as asked).
#[test]
fn a_shell_listener_ends_the_host_when_a_program_goes_fatal() {
    let mut h = Host::new();
    let t0 = Instant::now();
    start_exit_on_fatal(&mut h);
    let status = h.exit_within(15).expect("the host exits");
    assert_eq!(status.code(), Some(0), "{}", h.log());
    let bystander: u32 = fs::read_to_string(h.path().join("bystander.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(bystander), "everything was stopped");
    assert!(h.log().contains("received SIGQUIT"), "{}", h.log());
    let said = h.stderr_of("exit_on_fatal");
    assert!(
        said.contains(
            "eventname:PROCESS_STATE_FATAL len:54 processname:doomed groupname:doomed \
             from_state:BACKOFF"
        ),
        "{said}"
    );
    eprintln!("start to the host's exit: {:?}", t0.elapsed());
}

/// The container started again on the status root the last run left (the default
/// one, `status/` beside the config, persists): the FATAL of the last run is no
/// event of this one. doomed needs two failed starts a second apart (its backoff)
/// before it is FATAL again, so the host cannot rightly end sooner. (What goes wrong
/// is a race at each start, hence three of them.)
#[test]
fn a_fatal_left_by_the_last_run_does_not_end_the_next_one() {
    let mut h = Host::new();
    start_exit_on_fatal(&mut h);
    h.exit_within(15).expect("the first run ends");
    for run in 2..=4 {
        h.child = None;
        let t0 = Instant::now();
        start_exit_on_fatal(&mut h);
        h.exit_within(15).expect("the next run ends");
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_secs(1),
            "run {run} ended after {took:?}, before doomed could fail twice again; \
             the listener read:\n{}",
            h.stderr_of("exit_on_fatal")
        );
    }
}

/// supervisor-stdout: its listener loop (the package's own `main`, run by python3
/// with the one Python 2 line of its result handler neutralised: that handler runs
/// inside supervisord, and the host does its job natively) echoes each PROCESS_LOG
/// event; the host prints `NAME CHANNEL | DATA` on its stdout.
#[test]
fn supervisor_stdout_prints_program_output_on_the_hosts_stdout() {
    let Some(venv) = venv(&["supervisor_stdout"]) else {
        return;
    };
    let mut h = Host::new();
    h.file(
        "stdout_listener.py",
        "import importlib.util\n\
         path = importlib.util.find_spec('supervisor_stdout').origin\n\
         py2 = \"print '%s %s | %s'%(headers['processname'], headers['channel'], data),\"\n\
         src = open(path).read()\n\
         assert py2 in src, path\n\
         ns = {'__name__': 'supervisor_stdout'}\n\
         exec(compile(src.replace(py2, 'pass'), path, 'exec'), ns)\n\
         ns['main']()\n",
    );
    h.start(&format!(
        "[eventlistener:stdout]\n\
         command={}/bin/python3 %(here)s/stdout_listener.py\n\
         buffer_size=100\n\
         events=PROCESS_LOG\n\
         result_handler=supervisor_stdout:event_handler\n\
         [program:talker]\n\
         command=/bin/sh -c 'sleep 1; echo line one; sleep 0.5; echo line two; \
         echo not an event >&2; exec sleep 1000' %(here)s\n\
         stdout_events_enabled=true\n",
        venv.display()
    ));
    let want = "talker stdout | line one\ntalker stdout | line two\n";
    let got = wait_long("the lines on the host's stdout", 10, || {
        let out = h.stdout();
        out.contains(want).then_some(out)
    });
    assert_eq!(
        got, want,
        "only the events' lines, as supervisor_stdout prints them"
    );
    assert!(
        h.stdout()
            .lines()
            .all(|l| l.starts_with("talker stdout | "))
    );
}

/// supervisord-dependent-startup, configured as its README says: programs with
/// `autostart=false`, `dependent_startup=true` and `dependent_startup_wait_for`
/// start one after the other, each once the one it waits for is RUNNING (against
/// their names' order).
#[test]
fn dependent_startup_starts_programs_in_their_order() {
    let Some(venv) = venv(&["supervisord-dependent-startup"]) else {
        return;
    };
    let mut h = Host::new();
    let program = |name: &str, wait: &str| {
        format!(
            "[program:{name}]\n\
             command=/bin/sh -c 'echo {name} $(cut -d\" \" -f1 /proc/uptime) >> %(here)s/order; \
             exec sleep 1000' %(here)s\n\
             autostart=false\ndependent_startup=true\n{wait}"
        )
    };
    h.start(&format!(
        "[eventlistener:dependentstartup]\n\
         command={}/bin/python3 -m supervisord_dependent_startup -c %(here)s/supervisord.conf\n\
         autostart=true\nautorestart=unexpected\nstartretries=0\nexitcodes=0,3\n\
         events=PROCESS_STATE\n{}{}{}",
        venv.display(),
        program("alpha", "dependent_startup_wait_for=mid:running\n"),
        program("mid", "dependent_startup_wait_for=zeta:running\n"),
        program("zeta", ""),
    ));
    let (started, order) = wait_long("the three to run", 15, || {
        let pids: Vec<u32> = ["zeta", "mid", "alpha"].map(|n| h.pid(n)).to_vec();
        let order = fs::read_to_string(h.path().join("order")).unwrap_or_default();
        (pids.iter().all(|&p| p != 0) && order.lines().count() >= 3).then_some((pids, order))
    });
    let rows: Vec<(String, f64)> = order
        .lines()
        .map(|l| {
            let (n, t) = l.split_once(' ').unwrap();
            (n.to_owned(), t.parse().unwrap())
        })
        .collect();
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["zeta", "mid", "alpha"], "{order}");
    // Each after the one before it was RUNNING (startsecs=1).
    for w in rows.windows(2) {
        assert!(w[1].1 - w[0].1 >= 0.9, "{order}");
    }
    for (name, pid) in ["zeta", "mid", "alpha"].iter().zip(started) {
        assert_eq!(h.pid(name), pid, "{name} started once");
    }
    // Its work done once the last is RUNNING.
    wait_long("dependent-startup to be done", 5, || {
        h.stderr_of("dependentstartup")
            .contains("No more processes to start for initial startup")
            .then_some(())
    });
}

/// One event as a listener read it: the header line and the payload.
#[derive(Debug, Clone)]
struct Got {
    header: String,
    payload: String,
}

/// The events in what the recording listener kept (the bytes it read, as read);
/// an event not yet complete is left out.
fn events(stream: &str) -> Vec<Got> {
    let mut out = Vec::new();
    let mut rest = stream;
    while let Some((line, after)) = rest.split_once('\n') {
        let Some(len) = line
            .split(' ')
            .find_map(|kv| kv.strip_prefix("len:"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            panic!("a header without len: {line:?}");
        };
        // len counts characters, as Python reads them.
        let Some((end, _)) = after
            .char_indices()
            .nth(len)
            .or_else(|| (after.chars().count() == len).then_some((after.len(), ' ')))
        else {
            break;
        };
        out.push(Got {
            header: format!("{line}\n"),
            payload: after[..end].to_owned(),
        });
        rest = &after[end..];
    }
    out
}

fn eventname(g: &Got) -> &str {
    g.header
        .split(' ')
        .find_map(|kv| kv.strip_prefix("eventname:"))
        .unwrap_or("")
}

fn processname(g: &Got) -> Option<&str> {
    g.payload
        .split([' ', '\n'])
        .find_map(|kv| kv.strip_prefix("processname:"))
}

/// A recording's events, by process (`(no process)` for the others), with what
/// differs from run to run normalised: serials and `len` (which counts a pid's
/// digits) once checked, and each pid other than 0 named by the order in which it
/// first appears in its process's events (`pid:#1`, `pid:#2`...), so that an event
/// naming another run's pid differs.
fn normalised(all: &[Got], who: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut pids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, g) in all.iter().enumerate() {
        let key = processname(g).unwrap_or("(no process)").to_owned();
        let seen = pids.entry(key.clone()).or_default();
        let mut header = Vec::new();
        for kv in g.header.trim_end().split(' ') {
            let (k, v) = kv.split_once(':').unwrap_or((kv, ""));
            header.push(match k {
                "serial" | "poolserial" => {
                    // One pool: both count its events from 0.
                    assert_eq!(v, i.to_string(), "{who}: {k} of event {i}: {}", g.header);
                    format!("{k}:N")
                }
                "len" => {
                    assert_eq!(
                        v,
                        g.payload.chars().count().to_string(),
                        "{who}: len of {g:?}"
                    );
                    "len:L".to_owned()
                }
                _ => kv.to_owned(),
            });
        }
        let payload = g
            .payload
            .split(' ')
            .map(|kv| match kv.strip_prefix("pid:") {
                Some(p) if p != "0" => {
                    let n = match seen.iter().position(|s| s == p) {
                        Some(n) => n,
                        None => {
                            seen.push(p.to_owned());
                            seen.len() - 1
                        }
                    };
                    format!("pid:#{}", n + 1)
                }
                _ => kv.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ");
        out.entry(key)
            .or_default()
            .push((header.join(" ") + "\n", payload));
    }
    out
}

/// The same config, the same recording listener, under supervisord 4.2 and under
/// the host, up to the point where every process has settled (before any stop):
/// each process's sequence of events (header and payload; serials, lengths and pids
/// normalised, a pid by which of its process's runs it is), the events that are no
/// process's (PROCESS_GROUP, SUPERVISOR_STATE_CHANGE) in their order, and
/// SUPERVISOR_STATE_CHANGE_RUNNING before any PROCESS_STATE, must be the same. The
/// order across processes is not compared (supervisord's is its loop's), nor the
/// stop (what a listener being stopped still gets is a race in both).
#[test]
fn events_are_supervisords_byte_for_byte() {
    if !Path::new(SUPERVISORD).exists() || !Path::new(SYSTEM_PYTHON).exists() {
        eprintln!("{SUPERVISORD} (Debian package supervisor) missing: skipped");
        return;
    }
    // The bytes it reads, as read; RESULT 2 OK to each.
    let recorder = "import sys\n\
                    out = open(sys.argv[1], 'a')\n\
                    while True:\n\
                    \x20   sys.stdout.write('READY\\n'); sys.stdout.flush()\n\
                    \x20   line = sys.stdin.readline()\n\
                    \x20   if not line:\n\
                    \x20       break\n\
                    \x20   h = dict(x.split(':', 1) for x in line.split())\n\
                    \x20   payload = sys.stdin.read(int(h['len']))\n\
                    \x20   out.write(line + payload); out.flush()\n\
                    \x20   sys.stdout.write('RESULT 2\\nOK'); sys.stdout.flush()\n";
    // supervisord 4.2 notices a child's exit only when its poll wakes (SIGCHLD does
    // not wake it; its timeout is a second), so a crash loop's states would depend on
    // when something else happens to wake it: `ticker`'s output wakes it every 50 ms.
    // buffer_size: supervisord sends nothing to a listener before it is RUNNING
    // (startsecs), and the default 10 would overflow by then.
    let programs = format!(
        "[eventlistener:rec]\n\
         command={SYSTEM_PYTHON} %(here)s/rec.py %(here)s/events\n\
         events=PROCESS_STATE,SUPERVISOR_STATE_CHANGE,PROCESS_GROUP\n\
         buffer_size=100\n\
         [program:ticker]\n\
         command=/bin/sh -c \"while sleep 0.05; do echo tick; done\"\n\
         [program:running]\n\
         command=/bin/sleep 1000\n\
         [program:fatal]\n\
         command=/bin/sh -c \"sleep 0.2; exit 3\"\n\
         startretries=1\nstartsecs=1\n\
         [program:cycler]\n\
         command=/bin/sh -c \"n=$(cat %(here)s/runs 2>/dev/null || echo 0); echo $((n + 1)) > %(here)s/runs; \
         if [ $n -ge 2 ]; then exec sleep 1000; fi; sleep 1.2; exit 3\"\n\
         startsecs=1\n\
         [program:exit_ok]\n\
         command=/bin/sh -c \"exit 0\"\n\
         startsecs=0\nautorestart=false\n\
         [program:exit_bad]\n\
         command=/bin/sh -c \"exit 3\"\n\
         startsecs=0\nautorestart=false\n"
    );
    let mut theirs = Host::new();
    theirs.file("rec.py", recorder);
    let conf = theirs.config(&format!(
        "[supervisord]\nlogfile=%(here)s/supervisord.log\npidfile=%(here)s/supervisord.pid\n\
         childlogdir=%(here)s\nnodaemon=true\n{programs}"
    ));
    let mut c = Command::new(SUPERVISORD);
    c.arg("-n").arg("-c").arg(conf);
    theirs.spawn(c);
    let mut ours = Host::new();
    ours.file("rec.py", recorder);
    let conf = ours.config(&format!(
        "[supervisord]\nlogfile=%(here)s/host.log\npidfile=%(here)s/supervisord.pid\n\
         status_root=%(here)s/status\n{programs}"
    ));
    let mut c = Command::new(common::bin(env!("CARGO_BIN_EXE_supervise-host")));
    c.args(["-n", "-s", "-c"]).arg(conf);
    ours.spawn(c);

    // Where each ends up before any stop (the events that get it there, counted):
    // FATAL, EXITED twice, RUNNING for the others, cycler's third run.
    let settled = [
        ("fatal", "PROCESS_STATE_FATAL", 1),
        ("exit_ok", "PROCESS_STATE_EXITED", 1),
        ("exit_bad", "PROCESS_STATE_EXITED", 1),
        ("running", "PROCESS_STATE_RUNNING", 1),
        ("ticker", "PROCESS_STATE_RUNNING", 1),
        ("rec", "PROCESS_STATE_RUNNING", 1),
        ("cycler", "PROCESS_STATE_RUNNING", 3),
    ];
    let record = |h: &Host, who: &str| {
        wait_long(&format!("{who}'s events to settle"), 20, || {
            let got = events(&fs::read_to_string(h.path().join("events")).unwrap_or_default());
            settled
                .iter()
                .all(|&(p, e, n)| {
                    got.iter()
                        .filter(|g| processname(g) == Some(p) && eventname(g) == e)
                        .count()
                        >= n
                })
                .then_some(got)
        })
    };
    let theirs_got = record(&theirs, "supervisord");
    let ours_got = record(&ours, "supervise-host");
    drop(theirs);
    drop(ours);

    let mut diffs = Vec::new();
    for (who, got) in [("supervisord", &theirs_got), ("supervise-host", &ours_got)] {
        let first_process = got.iter().position(|g| processname(g).is_some());
        let running = got
            .iter()
            .position(|g| eventname(g) == "SUPERVISOR_STATE_CHANGE_RUNNING");
        if running.is_none() || running > first_process {
            diffs.push(format!(
                "{who}: SUPERVISOR_STATE_CHANGE_RUNNING at {running:?}, the first \
                 PROCESS_STATE at {first_process:?}"
            ));
        }
    }
    let (t, o) = (
        normalised(&theirs_got, "supervisord"),
        normalised(&ours_got, "supervise-host"),
    );
    let keys: std::collections::BTreeSet<&String> = t.keys().chain(o.keys()).collect();
    for k in keys {
        let (a, b) = (
            t.get(k).cloned().unwrap_or_default(),
            o.get(k).cloned().unwrap_or_default(),
        );
        if a != b {
            let show = |v: &[(String, String)]| {
                v.iter()
                    .map(|(h, p)| format!("    {}{p:?}", h.replace('\n', "\\n ")))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            diffs.push(format!(
                "{k}:\n  supervisord:\n{}\n  supervise-host:\n{}",
                show(&a),
                show(&b)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "events differ from supervisord 4.2's:\n{}",
        diffs.join("\n")
    );
}
