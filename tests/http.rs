//! The host over HTTP (issue 17) with the real clients: supervisord's own
//! `supervisorctl` (Debian's `supervisor` package) through the host's Unix socket and
//! TCP port, Python's `xmlrpc.client` for the methods supervisorctl does not call, and
//! raw sockets for what a hostile client does.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SUPERVISORCTL: &str = "/usr/bin/supervisorctl";
/// The system's Python, which has Debian's `supervisor` package.
const PYTHON: &str = "/usr/bin/python3";

fn have_clients() -> bool {
    let ok = std::path::Path::new(SUPERVISORCTL).exists() && std::path::Path::new(PYTHON).exists();
    if !ok {
        eprintln!("supervisorctl (Debian package supervisor) missing: skipped");
    }
    ok
}

/// A host with HTTP servers: the Unix socket supervisorctl uses, and a TCP port with
/// basic auth (password `123`, given as supervisord's `{SHA}`), plus `extra` text.
struct Web {
    sb: Sandbox,
    conf: PathBuf,
    port: u16,
    host: Option<Child>,
}

impl Web {
    fn new(programs: &str, inet_extra: &str) -> Web {
        let sb = Sandbox::new();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = sb.path().join("supervisord.conf");
        fs::write(
            &conf,
            format!(
                "[supervisord]\nlogfile=%(here)s/host.log\nstatus_root=%(here)s/status\n\
                 pidfile=%(here)s/supervisord.pid\nidentifier=testhost\n\
                 [unix_http_server]\nfile=%(here)s/sup.sock\n\
                 [inet_http_server]\nport=127.0.0.1:{port}\nusername=user\n\
                 password={{SHA}}40bd001563085fc35165329ea1ff5c5ecbdbbeef\n{inet_extra}\n\
                 [rpcinterface:supervisor]\n\
                 supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
                 [supervisorctl]\nserverurl=unix://%(here)s/sup.sock\n{programs}"
            ),
        )
        .unwrap();
        let mut w = Web {
            sb,
            conf,
            port,
            host: None,
        };
        w.start();
        w
    }

    fn start(&mut self) {
        let child = Command::new(common::bin(env!("CARGO_BIN_EXE_supervise-host")))
            .args(["-n", "-s", "-c"])
            .arg(&self.conf)
            .current_dir(self.sb.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.host = Some(child);
        wait_until("the host started", || self.log().contains("started: "));
    }

    fn log(&self) -> String {
        fs::read_to_string(self.sb.path().join("host.log")).unwrap_or_default()
    }

    /// `supervisorctl -c CONF ARGS...`: its exit code and output.
    fn ctl(&self, args: &[&str]) -> (i32, String) {
        let mut c = Command::new(SUPERVISORCTL);
        c.arg("-c").arg(&self.conf).args(args);
        said(run_bounded(c))
    }

    /// Python code run with `s`, an `xmlrpc.client.ServerProxy` on the TCP port.
    fn python(&self, code: &str) -> (i32, String) {
        let script = format!(
            "import xmlrpc.client as x\n\
             s = x.ServerProxy('http://user:123@127.0.0.1:{}/RPC2')\n{code}\n",
            self.port
        );
        let mut c = Command::new(PYTHON);
        c.arg("-c").arg(script);
        said(run_bounded(c))
    }

    /// One raw HTTP exchange with the TCP port.
    fn raw(&self, request: &[u8]) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(request).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn pid(&self, name: &str) -> u32 {
        read_status(&self.sb.path().join("status").join(name)).map_or(0, |s| s.pid)
    }
}

fn said(out: Output) -> (i32, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

impl Drop for Web {
    fn drop(&mut self) {
        let marker = self.sb.path().to_path_buf();
        common::stop_host_and_sweep(self.host.take(), &marker);
    }
}

fn programs(sb_marker: &str) -> String {
    format!(
        "[program:web]\ncommand=/bin/sh -c 'echo web says hi; exec sleep 1000' {sb_marker}\nstartsecs=0\n\
         [program:worker]\ncommand=/bin/sh -c 'exec sleep 1000' {sb_marker}-%(process_num)d\n\
         numprocs=2\nprocess_name=%(program_name)s_%(process_num)d\nstartsecs=0\n"
    )
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn supervisorctl_one_shot_commands() {
    if !have_clients() {
        return;
    }
    let tag = format!("ctl{}", std::process::id());
    let w = Web::new(&programs(&tag), "");
    let (code, out) = w.ctl(&["status"]);
    assert_eq!(code, 0, "{out}");
    let l = lines(&out);
    assert_eq!(l.len(), 3, "{out}");
    assert!(
        l[0].starts_with("web RUNNING pid ") && l[0].contains(", uptime 0:00:0"),
        "{out}"
    );
    assert!(
        l[1].starts_with("worker:worker_0 RUNNING") && l[2].starts_with("worker:worker_1 RUNNING")
    );
    assert_eq!(
        w.ctl(&["status", "nope"]),
        (4, "nope: ERROR (no such process)\n".into())
    );
    assert_eq!(w.ctl(&["stop", "web"]), (0, "web: stopped\n".into()));
    let (code, out) = w.ctl(&["status", "web"]);
    assert_eq!(code, 3, "{out}");
    assert!(lines(&out)[0].starts_with("web STOPPED"), "{out}");
    // supervisorctl's own rule: these two faults are no failure.
    assert_eq!(
        w.ctl(&["stop", "web"]),
        (0, "web: ERROR (not running)\n".into())
    );
    assert_eq!(w.ctl(&["start", "web"]), (0, "web: started\n".into()));
    assert_eq!(
        w.ctl(&["start", "web"]),
        (0, "web: ERROR (already started)\n".into())
    );
    let before = w.pid("worker:worker_0");
    let (code, out) = w.ctl(&["restart", "worker:*"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        lines(&out),
        [
            "worker:worker_0: stopped",
            "worker:worker_1: stopped",
            "worker:worker_0: started",
            "worker:worker_1: started"
        ]
    );
    assert_ne!(w.pid("worker:worker_0"), before);
    assert_eq!(
        w.ctl(&["signal", "HUP", "worker:worker_1"]),
        (0, "worker:worker_1: signalled\n".into())
    );
    assert_eq!(
        w.ctl(&["signal", "BOGUS", "web"]),
        (1, "web: ERROR (bad signal name)\n".into())
    );
    let (_, pid) = w.ctl(&["pid", "web"]);
    assert_eq!(pid.trim(), w.pid("web").to_string());
    let (_, host_pid) = w.ctl(&["pid"]);
    assert_eq!(host_pid.trim(), w.host.as_ref().unwrap().id().to_string());
    let (code, out) = w.ctl(&["tail", "web"]);
    assert_eq!(code, 0);
    assert!(out.contains("web says hi"), "{out}");
    assert_eq!(w.ctl(&["clear", "web"]), (0, "web: cleared\n".into()));
    assert_eq!(
        w.ctl(&["tail", "web"]).1,
        "\n",
        "nothing left: an empty line, as supervisorctl prints it"
    );
    let (_, out) = w.ctl(&["avail"]);
    assert_eq!(lines(&out)[0], "web in use auto 999:999");
    let (_, out) = w.ctl(&["version"]);
    assert_eq!(out.trim(), env!("CARGO_PKG_VERSION"));
    let (_, out) = w.ctl(&["maintail"]);
    assert!(
        out.contains("HTTP server [unix_http_server] listening"),
        "{out}"
    );
    // A program added, numprocs raised: reread says so, update does it.
    let text = fs::read_to_string(&w.conf)
        .unwrap()
        .replace("numprocs=2", "numprocs=3")
        + "[program:extra]\ncommand=/bin/sleep 1000\nstartsecs=0\n";
    fs::write(&w.conf, text).unwrap();
    assert_eq!(
        w.ctl(&["reread"]),
        (0, "extra: available\nworker: changed\n".into())
    );
    let (code, out) = w.ctl(&["update"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        lines(&out),
        [
            "worker: stopped",
            "worker: updated process group",
            "extra: added process group"
        ]
    );
    assert_eq!(lines(&w.ctl(&["status"]).1).len(), 5);
    assert_eq!(
        w.ctl(&["remove", "extra"]),
        (1, "ERROR: process/group still running: extra\n".into())
    );
    assert_eq!(w.ctl(&["stop", "extra"]).1, "extra: stopped\n");
    assert_eq!(
        w.ctl(&["remove", "extra"]),
        (0, "extra: removed process group\n".into())
    );
    assert_eq!(lines(&w.ctl(&["status"]).1).len(), 4);
    assert_eq!(
        w.ctl(&["add", "extra"]),
        (0, "extra: added process group\n".into())
    );
    wait_until("extra runs", || w.pid("extra") != 0);
}

#[test]
fn supervisorctl_tail_f_interactive_reload_and_shutdown() {
    if !have_clients() {
        return;
    }
    let tag = format!("int{}", std::process::id());
    let mut w = Web::new(&programs(&tag), "");
    // tail -f follows what is written after it began.
    let mut tail = Command::new(SUPERVISORCTL)
        .arg("-c")
        .arg(&w.conf)
        .args(["tail", "-f", "web"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out_file = w.sb.path().join("status").join("web").join("__stdout");
    std::thread::sleep(Duration::from_millis(300));
    fs::OpenOptions::new()
        .append(true)
        .open(&out_file)
        .unwrap()
        .write_all(b"followed line\n")
        .unwrap();
    let mut got = Vec::new();
    let mut stdout = tail.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&got).contains("followed line") {
                        break;
                    }
                }
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    });
    let seen = reader.join().unwrap();
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(
        seen.contains("==> Press Ctrl-C to exit <==") && seen.contains("followed line"),
        "{seen}"
    );
    // Interactive: the status first, then each command's answer.
    let mut c = Command::new(SUPERVISORCTL);
    c.arg("-c").arg(&w.conf).stdin(Stdio::piped());
    let mut child = c.stdout(Stdio::piped()).spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"stop web\nstatus web\nstart web\nquit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("supervisor> web: stopped"), "{text}");
    assert!(
        text.contains("STOPPED") && text.contains("supervisor> web: started"),
        "{text}"
    );
    // reload: everything stopped, the config read again, everything started.
    let before = w.pid("web");
    assert_eq!(w.ctl(&["reload"]), (0, "Restarted supervisord\n".into()));
    wait_until("web restarted", || {
        let p = w.pid("web");
        p != 0 && p != before
    });
    assert_eq!(w.ctl(&["shutdown"]), (0, "Shut down\n".into()));
    let mut h = w.host.take().unwrap();
    let status = wait_for("the host to exit", || h.try_wait().ok().flatten());
    assert_eq!(status.code(), Some(0));
    assert!(
        !w.sb.path().join("sup.sock").exists(),
        "the socket is removed at exit"
    );
}

#[test]
fn xmlrpc_methods_auth_and_read_only() {
    if !have_clients() {
        return;
    }
    let tag = format!("rpc{}", std::process::id());
    let w = Web::new(&programs(&tag), "");
    let (code, out) = w.python(
        r#"
print(s.supervisor.getAPIVersion(), s.supervisor.getIdentification(), s.supervisor.getState())
m = s.system.listMethods(); print(len(m), 'supervisor.startProcess' in m)
print(s.system.methodSignature('supervisor.startProcess'))
print(s.system.methodHelp('supervisor.getPID'))
i = s.supervisor.getProcessInfo('web'); print(i['statename'], i['state'], i['group'], i['pid'] > 0)
c = s.supervisor.getAllConfigInfo(); print([x['name'] for x in c], c[0]['inuse'], c[0]['startsecs'])
r = s.system.multicall([{'methodName': 'supervisor.getPID', 'params': []},
                        {'methodName': 'supervisor.nope', 'params': []}])
print(type(r[0][0]).__name__, r[1]['faultCode'])
print(s.supervisor.tailProcessStdoutLog('web', 0, 100))
print(s.supervisor.readProcessStdoutLog('web', 0, 4))
print(s.supervisor.readLog(0, 0)[:1])
for call in [lambda: s.supervisor.nope(), lambda: s.supervisor.getProcessInfo(),
             lambda: s.supervisor.getProcessInfo('nope'), lambda: s.supervisor.startProcess('web'),
             lambda: s.supervisor.sendProcessStdin('web', 'x')]:
    try: call()
    except x.Fault as f: print(f.faultCode, f.faultString)
"#,
    );
    assert_eq!(code, 0, "{out}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l[0],
        "3.0 testhost {'statecode': 1, 'statename': 'RUNNING'}"
    );
    assert!(l[1].ends_with(" True"), "{out}");
    assert_eq!(l[2], "[['boolean', 'string', 'boolean']]");
    assert_eq!(l[4], "RUNNING 20 web True");
    assert_eq!(l[5], "['web', 'worker_0', 'worker_1'] True 0");
    assert_eq!(l[6], "int 1");
    assert_eq!(l[7], "['web says hi\\n', 12, False]");
    assert_eq!(l[8], "web ");
    assert_eq!(l[9], "[", "{out}");
    assert_eq!(l[10], "1 UNKNOWN_METHOD");
    assert_eq!(l[11], "2 INCORRECT_PARAMETERS");
    assert_eq!(l[12], "10 BAD_NAME: nope");
    assert_eq!(l[13], "60 ALREADY_STARTED: web");
    assert!(l[14].starts_with("20 NO_FILE"), "{out}");
    // Wrong credentials: 401, and supervisorctl says so.
    let (code, out) = {
        let mut c = Command::new(SUPERVISORCTL);
        c.args([
            "-s",
            &format!("http://127.0.0.1:{}", w.port),
            "-u",
            "user",
            "-p",
            "wrong",
            "status",
        ]);
        said(run_bounded(c))
    };
    assert_ne!(code, 0);
    assert!(out.contains("Server requires authentication"), "{out}");
    assert!(
        w.raw(b"GET /api/processes HTTP/1.1\r\nHost: x\r\n\r\n")
            .starts_with("HTTP/1.1 401 ")
    );
    // A read-only server answers reads and changes nothing.
    drop(w);
    let ro = Web::new(&programs(&tag), "read_only=true");
    let mut c = Command::new(SUPERVISORCTL);
    let url = format!("http://127.0.0.1:{}", ro.port);
    c.args(["-s", &url, "-u", "user", "-p", "123", "stop", "web"]);
    let (_, out) = said(run_bounded(c));
    assert_eq!(out, "FAILED: read-only\n");
    assert_ne!(ro.pid("web"), 0, "still running");
    let mut c = Command::new(SUPERVISORCTL);
    c.args(["-s", &url, "-u", "user", "-p", "123", "status", "web"]);
    assert_eq!(said(run_bounded(c)).0, 0);
}

#[test]
fn json_api_metrics_and_hostile_requests() {
    if !have_clients() {
        return;
    }
    let tag = format!("api{}", std::process::id());
    let w = Web::new(&programs(&tag), "");
    let auth = "Authorization: Basic dXNlcjoxMjM=\r\n";
    let get = |path: &str| {
        w.raw(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
        )
    };
    let body = |r: &str| {
        r.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    };
    let r = get("/api/processes");
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    let j: serde_json::Value = serde_json::from_str(&body(&r)).unwrap();
    let web = &j.as_array().unwrap()[0];
    assert_eq!(web["name"], "web");
    assert_eq!(web["statename"], "RUNNING");
    assert_eq!(web["state"], "up", "svc status --json's field");
    assert_eq!(web["pid"], w.pid("web"));
    let r = get("/api/processes/worker%3Aworker_1");
    let one: serde_json::Value = serde_json::from_str(&body(&r)).unwrap();
    assert_eq!(one["process"], "worker_1");
    let m = body(&get("/metrics"));
    assert!(m.contains("supervise_service_up{service=\"web\""), "{m}");
    // A change needs the header (a cross-site form cannot send it), and POST.
    let post = |path: &str, extra: &str| {
        w.raw(format!("POST {path} HTTP/1.1\r\nHost: x\r\n{auth}{extra}Content-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
    };
    assert!(post("/api/processes/web/restart", "").starts_with("HTTP/1.1 403 "));
    assert!(
        post(
            "/api/processes/web/restart",
            "Origin: http://evil.example\r\nX-Requested-With: supervise\r\n"
        )
        .starts_with("HTTP/1.1 403 ")
    );
    let before = w.pid("web");
    let r = post(
        "/api/processes/web/restart",
        "X-Requested-With: supervise\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    assert_ne!(w.pid("web"), before);
    // XML-RPC only as text/xml: a form cannot post to it.
    let r = w.raw(format!("POST /RPC2 HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n").as_bytes());
    assert!(r.starts_with("HTTP/1.1 415 "), "{r}");
    // Hostile: too big, too deep, garbage; each a 4xx, and the host answers on.
    let r =
        w.raw(format!("POST /RPC2 HTTP/1.1\r\n{auth}Content-Length: 99999999\r\n\r\n").as_bytes());
    assert!(r.starts_with("HTTP/1.1 413 "), "{r}");
    let deep = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>x</methodName><params><param>{}</param></params></methodCall>",
        "<value><array><data>".repeat(500)
    );
    let r = w.raw(format!("POST /RPC2 HTTP/1.1\r\n{auth}Content-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{deep}", deep.len()).as_bytes());
    assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
    assert!(
        w.raw(b"\x16\x03\x01\x02\x00 not http\r\n\r\n")
            .starts_with("HTTP/1.1 400 ")
    );
    // A client sending a byte a second holds nothing up.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", w.port)).unwrap();
    slow.write_all(b"GET /api/pro").unwrap();
    let t0 = Instant::now();
    assert_eq!(w.ctl(&["status", "web"]).0, 0);
    assert!(get("/api/processes").starts_with("HTTP/1.1 200 "));
    assert!(t0.elapsed() < Duration::from_secs(3));
    drop(slow);
}
