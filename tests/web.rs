//! The host's web page in a real browser: headless Chromium (Debian's `chromium`
//! package), driven over the DevTools protocol (CDP) on a websocket. It renders the
//! process table (checked in the DOM and captured as a PNG), its own script restarts
//! a process when its button is clicked, and a read-only server's page offers no
//! action and refuses one sent by hand.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use common::*;

/// `user:123`, the credentials of the host's TCP server, as basic auth.
const AUTH: &str = "Basic dXNlcjoxMjM=";
/// The page's viewport: the screenshot's size.
const WIDTH: u64 = 1100;
const HEIGHT: u64 = 640;

fn have_chromium() -> bool {
    let ok = has_command("chromium");
    if !ok {
        eprintln!("chromium (Debian package chromium) missing: browser test skipped");
    }
    ok
}

/// A host with a TCP HTTP server (user `user`, password `123` as supervisord's
/// `{SHA}`) and `programs`, as tests/http.rs starts one.
struct Web {
    sb: Sandbox,
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
                 pidfile=%(here)s/supervisord.pid\nidentifier=webtest\n\
                 [inet_http_server]\nport=127.0.0.1:{port}\nusername=user\n\
                 password={{SHA}}40bd001563085fc35165329ea1ff5c5ecbdbbeef\n{inet_extra}\n\
                 [rpcinterface:supervisor]\n\
                 supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
                 {programs}"
            ),
        )
        .unwrap();
        let child = Command::new(common::bin(env!("CARGO_BIN_EXE_supervise-host")))
            .args(["-n", "-s", "-c"])
            .arg(&conf)
            .current_dir(sb.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let w = Web {
            sb,
            port,
            host: Some(child),
        };
        wait_until("the host started", || {
            fs::read_to_string(w.sb.path().join("host.log"))
                .unwrap_or_default()
                .contains("started: ")
        });
        w
    }

    fn pid(&self, name: &str) -> u32 {
        read_status(&self.sb.path().join("status").join(name)).map_or(0, |s| s.pid)
    }

    /// One raw HTTP exchange with the TCP port.
    fn raw(&self, request: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let marker = self.sb.path().to_path_buf();
        common::stop_host_and_sweep(self.host.take(), &marker);
    }
}

/// One RUNNING program, one more, and one left STOPPED (`autostart=false`).
fn programs(tag: &str) -> String {
    format!(
        "[program:web]\ncommand=/bin/sh -c 'exec sleep 1000' {tag}\nstartsecs=0\n\
         [program:worker]\ncommand=/bin/sh -c 'exec sleep 1001' {tag}\nstartsecs=0\n\
         [program:idle]\ncommand=/bin/sh -c 'exec sleep 1002' {tag}\nautostart=false\n"
    )
}

/// Headless Chromium with its DevTools endpoint, killed (its whole process group)
/// when dropped.
struct Browser {
    child: Child,
    dir: PathBuf,
}

impl Browser {
    /// Starts Chromium with its profile (and its stderr, `chromium.log`) in `dir`.
    fn launch(dir: &Path) -> Browser {
        fs::create_dir_all(dir).unwrap();
        let log = fs::File::create(dir.join("chromium.log")).unwrap();
        let child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-crash-reporter",
                "--disable-breakpad",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                &format!("--window-size={WIDTH},{HEIGHT}"),
            ])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg("about:blank")
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn chromium");
        Browser {
            child,
            dir: dir.to_owned(),
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("chromium.log")).unwrap_or_default()
    }

    /// The DevTools port, from `DevToolsActivePort` in the profile (its first line).
    fn devtools_port(&mut self) -> u16 {
        let file = self.dir.join("profile").join("DevToolsActivePort");
        let mut exited = None;
        let port = wait_for("chromium's DevToolsActivePort", || {
            if let Ok(Some(st)) = self.child.try_wait() {
                exited = Some(st);
                return Some(0);
            }
            // Whole: the port, then the browser's path (not a port cut short).
            let text = fs::read_to_string(&file).ok()?;
            let (port, path) = text.split_once('\n')?;
            path.starts_with("/devtools/browser/")
                .then(|| port.trim().parse().ok())?
        });
        if let Some(st) = exited {
            panic!("chromium exited ({st}) before listening:\n{}", self.log());
        }
        port
    }

    /// A CDP session on the browser's page (its first tab).
    fn page(&mut self) -> Cdp {
        let port = self.devtools_port();
        let ws_url = wait_for("chromium's page target in /json/list", || {
            let list: Value = serde_json::from_str(&http_get(port, "/json/list")?).ok()?;
            list.as_array()?.iter().find(|t| t["type"] == "page")?["webSocketDebuggerUrl"]
                .as_str()
                .map(str::to_owned)
        });
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let (ws, _) = tungstenite::client::client(ws_url.as_str(), stream)
            .unwrap_or_else(|e| panic!("websocket to {ws_url}: {e}"));
        Cdp { ws, id: 0 }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The browser and every helper it forked share its process group.
        kill(-(self.child.id() as i32) as u32, libc::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` from the DevTools HTTP endpoint: the body, if it answered 200. (It
/// keeps the connection open whatever the request says: the body is read by its
/// `Content-Length`.)
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(PATIENCE)).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .ok()?;
    let mut got = Vec::new();
    let mut buf = [0; 8192];
    loop {
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })?;
            if body.len() >= len {
                return head.starts_with("HTTP/1.1 200 ").then(|| body.to_owned());
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A DevTools protocol session over a websocket.
struct Cdp {
    ws: WebSocket<TcpStream>,
    id: u64,
}

impl Cdp {
    /// Calls `method` and returns its result (events in between are ignored).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let id = self.id;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws
            .send(Message::text(msg))
            .unwrap_or_else(|e| panic!("CDP {method}: {e}"));
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(Instant::now() < deadline, "CDP {method}: no answer");
            let msg = self
                .ws
                .read()
                .unwrap_or_else(|e| panic!("CDP {method}: {e}"));
            let Message::Text(text) = msg else {
                continue;
            };
            let v: Value = serde_json::from_str(text.as_str()).unwrap();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("CDP {method}: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page (a promise is awaited).
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("{expr}: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Opens the host's page in a `WIDTH` x `HEIGHT` viewport, and waits for its
    /// table. The credentials go in the URL (`http://user:123@...`, as a user would
    /// type it), or `by_header`: an `Authorization` header on every request of the page.
    fn open(&mut self, w: &Web, by_header: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": false }),
        );
        let url = if by_header {
            self.call("Network.enable", json!({}));
            self.call(
                "Network.setExtraHTTPHeaders",
                json!({ "headers": { "Authorization": AUTH } }),
            );
            format!("http://127.0.0.1:{}/", w.port)
        } else {
            format!("http://user:123@127.0.0.1:{}/", w.port)
        };
        let r = self.call("Page.navigate", json!({ "url": url }));
        assert!(r.get("errorText").is_none(), "open {url}: {r}");
        wait_until("the page's table", || {
            self.eval("document.readyState === 'complete' && !!document.querySelector('#rows')")
                == true
        });
    }

    /// Waits until the page's own script has redrawn the table from the JSON API
    /// (it says when: `updated HH:MM:SS`).
    fn wait_refreshed(&mut self) {
        wait_until("the page's script refreshed the table", || {
            self.eval("document.querySelector('#updated').textContent")
                .as_str()
                .is_some_and(|t| t.starts_with("updated "))
        });
    }

    /// `#rows`'s text: one line per process, its name then its state first.
    fn rows(&mut self) -> String {
        self.eval("document.querySelector('#rows').innerText")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the table shows each `(name, state)`; its text then.
    fn wait_states(&mut self, expected: &[(&str, &str)]) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let rows = self.rows();
            if expected
                .iter()
                .all(|&(name, state)| state_in(&rows, name).as_deref() == Some(state))
            {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "the table never showed {expected:?}:\n{rows}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The state the table shows for `name`, from its text.
fn state_in(rows: &str, name: &str) -> Option<String> {
    rows.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some(name)).then(|| w.next().unwrap_or_default().to_owned())
    })
}

/// Standard base64, as CDP sends binary data.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {:?}", c as char),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// A PNG's width and height, after checking its signature, its first chunk (IHDR)
/// and its last (IEND).
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 33, "too short for a PNG: {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "the PNG signature");
    assert_eq!(&png[12..16], b"IHDR", "the PNG's first chunk");
    assert!(
        png.ends_with(b"IEND\xae\x42\x60\x82"),
        "the PNG's IEND chunk"
    );
    let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
fn the_process_table_renders_and_is_captured() {
    if !have_chromium() {
        return;
    }
    let w = Web::new(&programs(&format!("shot{}", std::process::id())), "");
    wait_until("web and worker running", || {
        w.pid("web") != 0 && w.pid("worker") != 0
    });
    let mut b = Browser::launch(&w.sb.path().join("chromium"));
    let mut page = b.page();
    page.open(&w, false);
    assert_eq!(page.eval("document.title"), "webtest · supervise");
    // The table as served, then as the page's own script redraws it from the JSON
    // API.
    let expected = [
        ("idle", "STOPPED"),
        ("web", "RUNNING"),
        ("worker", "RUNNING"),
    ];
    page.wait_states(&expected);
    page.wait_refreshed();
    let rows = page.wait_states(&expected);
    let web_pid = w.pid("web");
    assert!(rows.contains(&format!("pid {web_pid}, uptime ")), "{rows}");
    assert!(rows.contains("Not started"), "idle's description: {rows}");
    assert_eq!(page.eval("document.querySelector('#msg').textContent"), "");

    let shot = page.call("Page.captureScreenshot", json!({ "format": "png" }));
    let png = base64(shot["data"].as_str().expect("screenshot data"));
    let (width, height) = png_size(&png);
    assert_eq!(
        (u64::from(width), u64::from(height)),
        (WIDTH, HEIGHT),
        "the viewport's size"
    );
    // A blank page of that size packs into a few KiB; text, colours and buttons
    // take more.
    assert!(
        (8_000..4_000_000).contains(&png.len()),
        "a {}-byte screenshot",
        png.len()
    );
    let path = w.sb.path().join("process-table.png");
    fs::write(&path, &png).unwrap();
    eprintln!(
        "screenshot of the process table: {} ({width}x{height}, {} bytes)",
        path.display(),
        png.len()
    );
    // The temp dir goes with the test: a directory named here keeps a copy.
    if let Some(keep) = std::env::var_os("SUPERVISE_SCREENSHOTS") {
        let to = Path::new(&keep).join("process-table.png");
        fs::create_dir_all(&keep).unwrap();
        fs::copy(&path, &to).unwrap();
        eprintln!("copied to {}", to.display());
    }
}

#[test]
fn the_restart_button_restarts_the_process() {
    if !have_chromium() {
        return;
    }
    let w = Web::new(&programs(&format!("click{}", std::process::id())), "");
    let before = wait_for("web running", || Some(w.pid("web")).filter(|&p| p != 0));
    let worker = w.pid("worker");
    let mut b = Browser::launch(&w.sb.path().join("chromium"));
    let mut page = b.page();
    page.open(&w, false);
    page.wait_states(&[("web", "RUNNING")]);
    // A real click: the page's own listener POSTs the action with its header.
    page.eval("document.querySelector('button[data-act=restart][data-name=web]').click()");
    let after = wait_for("web restarted with a new pid", || {
        Some(w.pid("web")).filter(|&p| p != 0 && p != before)
    });
    assert!(!alive(before), "the old process is gone");
    assert_eq!(w.pid("worker"), worker, "only web was restarted");
    // The table, redrawn once the action is done, shows the new process running.
    let rows = wait_for("the table showing web's new pid", || {
        let rows = page.rows();
        rows.contains(&format!("pid {after}, ")).then_some(rows)
    });
    assert_eq!(state_in(&rows, "web").as_deref(), Some("RUNNING"), "{rows}");
    assert_eq!(
        page.eval("document.querySelector('#msg').textContent"),
        "",
        "no error reported by the page"
    );
}

#[test]
fn a_read_only_page_has_no_actions_and_changes_are_refused() {
    if !have_chromium() {
        return;
    }
    let w = Web::new(
        &programs(&format!("ro{}", std::process::id())),
        "read_only=true",
    );
    let before = wait_for("web running", || Some(w.pid("web")).filter(|&p| p != 0));
    let mut b = Browser::launch(&w.sb.path().join("chromium"));
    let mut page = b.page();
    page.open(&w, true);
    page.wait_states(&[("web", "RUNNING")]);
    assert_eq!(
        page.eval("document.querySelector('header .mode').textContent"),
        "read-only"
    );
    assert_eq!(
        page.eval("document.querySelectorAll('[data-act]').length"),
        0,
        "no start, stop or restart button"
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#rows button[data-tail]').length"),
        3,
        "a tail button per process"
    );
    // Still none once the page's script has redrawn the table.
    page.wait_refreshed();
    assert_eq!(
        page.eval("document.querySelectorAll('[data-act]').length"),
        0
    );

    // Sent by hand, with the header the page would send: refused.
    let r = w.raw(&format!(
        "POST /api/processes/web/restart HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
         Authorization: {AUTH}\r\nX-Requested-With: supervise\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
        w.port
    ));
    assert!(r.starts_with("HTTP/1.1 403 "), "{r}");
    assert!(r.contains("read-only"), "{r}");
    // And from the page itself, as its script would send it.
    assert_eq!(
        page.eval(
            "fetch('api/processes/web/restart', {method: 'POST', \
             headers: {'X-Requested-With': 'supervise'}}).then(r => r.status)"
        ),
        403
    );
    assert_eq!(w.pid("web"), before, "not restarted");
    // Wrong credentials, or none: 401, with the challenge a browser answers.
    for auth in ["Authorization: Basic dXNlcjp3cm9uZw==\r\n", ""] {
        let r = w.raw(&format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{auth}Connection: close\r\n\r\n",
            w.port
        ));
        assert!(r.starts_with("HTTP/1.1 401 "), "{r}");
        assert!(r.contains("WWW-Authenticate: Basic"), "{r}");
    }
}
