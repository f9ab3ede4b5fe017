//! A status directory is untrusted input (issue 13): each attack of the hardening
//! report, replayed with the real binaries, as root, with an unprivileged user made by
//! the test where the attacker needs one. Each test names the finding it pins.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use common::*;
use supervise::statefile::{self, Phase, Record};
use supervise::status::{self, Status, Tai64n, Want};

fn root() -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return true;
    }
    eprintln!("not root: the attack needs a root supervise; skipped");
    false
}

fn svc_bin() -> &'static str {
    common::bin(env!("CARGO_BIN_EXE_svc"))
}

fn svc(args: &[&str]) -> Output {
    let mut c = Command::new(svc_bin());
    c.args(args);
    run_bounded(c)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A root-only file the attacker would like root to write, and its content.
struct Victim {
    path: PathBuf,
}

impl Victim {
    fn new(sb: &Sandbox) -> Victim {
        let d = sb.path().join("root-only");
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        let path = d.join("victim");
        fs::write(&path, "root:$6$secret-hash:19000:0:99999:7:::\n").unwrap();
        Victim { path }
    }

    fn untouched(&self) -> bool {
        fs::read(&self.path).is_ok_and(|b| b == b"root:$6$secret-hash:19000:0:99999:7:::\n")
    }
}

/// `<sandbox>/status/NAME`, made and owned by `user`, with a config that runs the
/// service as that user (the legitimate reason for root to work in it).
fn user_dir(sb: &Sandbox, user: &TestUser, name: &str) -> PathBuf {
    let (uid, gid) = user.ids();
    fs::create_dir_all(sb.path().join("status")).unwrap();
    let dir = sb.dir(name);
    fs::create_dir(&dir).unwrap();
    lchown(&dir, Some(uid), Some(gid)).unwrap();
    // The user's own service traverses the sandbox.
    fs::set_permissions(sb.path(), fs::Permissions::from_mode(0o755)).unwrap();
    sb.config(&format!(
        "[global]\nuser : {}\nstart_success : 0\nstop_timeout : 2\n",
        user.name
    ));
    dir
}

/// Something the attacker made: owned by `user`, not followed when it is a link.
fn as_user(path: &Path, user: &TestUser) {
    let (uid, gid) = user.ids();
    lchown(path, Some(uid), Some(gid)).unwrap();
}

/// `supervise -p DIR -f CMD` as the legacy way, daemonizing, bounded.
fn supervise_daemon(sb: &Sandbox, dir: &Path, cmd: &str) -> Output {
    let mut c = sb.command();
    c.arg("-p").arg(dir).args(["-f", cmd]);
    run_bounded(c)
}

/// Stops whatever supervise runs on `dir` (daemonized), if one does.
fn stop_daemon(dir: &Path) {
    if let Some(pid) = read_lock_pid(dir).filter(|&p| alive(p) && comm(p) == "supervise") {
        drop(Supervised {
            dir: dir.to_path_buf(),
            process: None,
            daemon_pid: Some(pid),
        });
    }
}

/// A forged `status` + `state` pair naming `pid` with start time `start`.
fn forge(dir: &Path, pid: u32, start: u64, want: Want) {
    let since = SystemTime::now();
    let st = status::encode(&Status {
        since: Tai64n::from_system_time(since),
        paused: false,
        want,
        alarms: true,
        pid,
    });
    let rec = Record {
        supervise_pid: 99_999,
        service: "app".into(),
        command: "sleep 100".into(),
        phase: Phase::Up,
        want,
        pid,
        pid_start: Some(start),
        since,
        starts: 1,
        next_start: None,
        last_exit: None,
        window_exits: None,
        gave_up: None,
        backoff: None,
        adopted: false,
        watch: Vec::new(),
        watch_restart: None,
        readiness: None,
        ready_since: None,
        status_text: None,
        health: None,
        last_failure: None,
        failed_starts: 0,
    };
    fs::write(dir.join("status"), st).unwrap();
    fs::write(dir.join("state"), statefile::encode(&rec)).unwrap();
}

/// A child the test started, killed (and reaped) when dropped, failing or not.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_time(pid: u32) -> u64 {
    supervise::proc::start_time(pid).expect("a start time")
}

/// Finding 1: a forged record naming pid 1 (its real start time, want down) made
/// supervise adopt init and `kill(-1)`. In a pid namespace of its own, so that a
/// regression kills only the namespace.
#[test]
fn finding_1_a_forged_record_naming_pid_1_is_not_adopted() {
    if !root() || !has_command("unshare") || !has_command("nsenter") {
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.dir("app");
    fs::create_dir_all(&dir).unwrap();
    sb.config("[global]\nstop_timeout : 1\n");
    // The namespace's init, and a bystander in it: a `kill(-1)` from inside reaches
    // every process there but init (which ignores what it has no handler for).
    let init = Guard(
        Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                "sh",
                "-c",
            ])
            .arg("sleep 1001 & exec sleep 1000")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let uid = init.0.id();
    let ns_init = wait_for("the namespace's init", || {
        let c = fs::read_to_string(format!("/proc/{uid}/task/{uid}/children")).ok()?;
        c.split_whitespace().next()?.parse::<u32>().ok()
    });
    let bystander = wait_for("the bystander", || {
        let c = fs::read_to_string(format!("/proc/{ns_init}/task/{ns_init}/children")).ok()?;
        c.split_whitespace().next()?.parse::<u32>().ok()
    });
    wait_until("init exec'd", || comm(ns_init) == "sleep");
    forge(&dir, 1, start_time(ns_init), Want::Down);
    let sup = Guard(
        Command::new("nsenter")
            .args(["-t", &ns_init.to_string(), "-p", "-m"])
            .arg(supervise_bin())
            .arg("-n")
            .arg("-F")
            .arg(sb.path().join("supervise.conf"))
            .arg("-p")
            .arg(&dir)
            .args(["-f", "sleep 100"])
            .current_dir(sb.path())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let log = || fs::read_to_string(dir.join("supervise.log.wf")).unwrap_or_default();
    // Past the stop timeout a `d` of an adopted init would have run to its KILL.
    std::thread::sleep(Duration::from_millis(2500));
    let bystander_alive = alive(bystander);
    let pid = read_status(&dir).map_or(0, |s| s.pid);
    // Killing the namespace's init ends everything in it.
    drop(sup);
    drop(init);
    assert!(bystander_alive, "pid 1 was adopted and -1 signalled");
    assert!(
        log().contains("not adopting") && log().contains("it names pid 1"),
        "{}",
        log()
    );
    assert!(pid > 1, "a service of its own runs");
}

/// Finding 1: naming another live process (here a root daemon leading its own group,
/// its start time copied) adopted it, or killed it on `d`.
#[test]
fn finding_1_a_forged_record_naming_another_process_is_not_adopted() {
    if !root() {
        return;
    }
    let Some(user) = TestUser::create("ad") else {
        return;
    };
    let sb = Sandbox::new();
    let dir = user_dir(&sb, &user, "app");
    let canary = Guard({
        use std::os::unix::process::CommandExt;
        Command::new("sleep")
            .arg("1000")
            .process_group(0)
            .spawn()
            .unwrap()
    });
    let cpid = canary.0.id();
    // The user forges the pair in the directory they own.
    forge(&dir, cpid, start_time(cpid), Want::Down);
    for f in ["status", "state"] {
        as_user(&dir.join(f), &user);
    }
    let mut sup = sb.spawn_with("app", &["-f", "sleep 100"]);
    let me = sup.supervise_pid();
    let pid = wait_for("a service, or the forged process dead", || {
        let ours = read_state(&dir).filter(|r| r.supervise_pid == me && r.pid != 0);
        match ours {
            Some(r) => Some(r.pid),
            None => (!alive(cpid)).then_some(0),
        }
    });
    assert!(alive(cpid), "the forged process was signalled");
    assert_ne!(pid, cpid, "adopted the forged process");
    assert!(sup.log_wf().contains("not adopting"), "{}", sup.log_wf());
    assert!(sup.log_wf().contains("belongs to uid"), "{}", sup.log_wf());
    sup.send("d");
    sup.wait_down();
    assert!(alive(cpid), "the forged process was signalled");
    // The same pair written by root (moved from elsewhere): the process runs as root,
    // not as the service's user.
    sup.send("x");
    sup.wait_exit();
    forge(&dir, cpid, start_time(cpid), Want::Down);
    let sup = sb.start("app", "sleep 100");
    assert_ne!(sup.wait_pid(), cpid);
    assert!(sup.log_wf().contains("runs as uid 0"), "{}", sup.log_wf());
    drop(sup);
    assert!(alive(cpid), "the forged process was signalled");
    drop(canary);
}

/// Finding 2: links in the status directory were followed for writing.
#[test]
fn finding_2_links_in_the_status_directory_are_never_written_through() {
    if !root() {
        return;
    }
    let Some(user) = TestUser::create("ln") else {
        return;
    };
    for name in [
        "__stdout",
        "__stderr",
        "supervise.log",
        "supervise.log.wf",
        "lock",
        "status.new",
        "state.new",
    ] {
        let sb = Sandbox::new();
        let victim = Victim::new(&sb);
        let dir = user_dir(&sb, &user, "app");
        let link = dir.join(name);
        symlink(&victim.path, &link).unwrap();
        as_user(&link, &user);
        let out = supervise_daemon(
            &sb,
            &dir,
            "sh -c 'echo pwned; echo pwned >&2; exec sleep 100'",
        );
        let err = text(&out.stderr);
        if out.status.success() {
            // Supervise runs: a restart, and a stop, write everything again.
            let sup = Supervised::daemon(dir.clone());
            let first = sup.wait_pid();
            sup.send("k");
            sup.wait_new_pid(first);
        } else {
            assert_eq!(out.status.code(), Some(111), "{name}: {out:?}");
            assert!(
                err.contains(name) && err.contains("symbolic link"),
                "{name}: {err}"
            );
        }
        stop_daemon(&dir);
        assert!(victim.untouched(), "{name}: written through the link");
    }
}

/// Finding 2: a dangling `__stdout` link made root create its target.
#[test]
fn finding_2_a_dangling_link_creates_nothing() {
    if !root() {
        return;
    }
    let Some(user) = TestUser::create("dg") else {
        return;
    };
    let sb = Sandbox::new();
    let dir = user_dir(&sb, &user, "app");
    let target = sb.path().join("root-only-target");
    symlink(&target, dir.join("__stdout")).unwrap();
    as_user(&dir.join("__stdout"), &user);
    let out = supervise_daemon(&sb, &dir, "sh -c 'echo pwned; exec sleep 100'");
    stop_daemon(&dir);
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    assert!(!target.exists(), "the link's target was created");
}

/// Finding 2: a status directory, or a parent of it, that is a link into a root-only
/// directory: supervise wrote nine files there and deleted `control` and `ok`.
#[test]
fn finding_2_a_linked_status_directory_or_parent_is_refused() {
    if !root() {
        return;
    }
    let Some(user) = TestUser::create("lp") else {
        return;
    };
    let sb = Sandbox::new();
    let (uid, gid) = user.ids();
    let secret = sb.path().join("root-only");
    fs::create_dir(&secret).unwrap();
    fs::write(secret.join("control"), "keep").unwrap();
    // The status directory itself a link.
    let home = sb.path().join("home");
    fs::create_dir(&home).unwrap();
    lchown(&home, Some(uid), Some(gid)).unwrap();
    symlink(&secret, home.join("app")).unwrap();
    as_user(&home.join("app"), &user);
    let out = supervise_daemon(&sb, &home.join("app"), "sleep 100");
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    assert!(text(&out.stderr).contains("symbolic link"), "{out:?}");
    // A parent made a link by the user.
    symlink(&secret, home.join("status")).unwrap();
    as_user(&home.join("status"), &user);
    let out = supervise_daemon(&sb, &home.join("status/app"), "sleep 100");
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    assert!(text(&out.stderr).contains("not followed"), "{out:?}");
    let left: Vec<_> = fs::read_dir(&secret)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("control")], "{left:?}");
    assert_eq!(fs::read(secret.join("control")).unwrap(), b"keep");
}

/// As root, a directory owned by another user who is not the service's is refused.
#[test]
fn finding_2_another_users_directory_is_refused_as_root() {
    if !root() {
        return;
    }
    let Some(user) = TestUser::create("ow") else {
        return;
    };
    let sb = Sandbox::new();
    let dir = user_dir(&sb, &user, "app");
    sb.config("[global]\n"); // the service would run as root
    let out = supervise_daemon(&sb, &dir, "sleep 100");
    stop_daemon(&dir);
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("belongs to uid") && err.contains("not the service's user"),
        "{err}"
    );
}

/// Finding 3: a FIFO under any name blocked `supervise -p` for ever (and `svc status`).
#[test]
fn finding_3_fifos_never_block() {
    if !root() {
        return;
    }
    for name in [
        "status.new",
        "state.new",
        "supervise.log",
        "supervise.log.wf",
        "__stdout",
        "__stderr",
        "status",
        "state",
    ] {
        let sb = Sandbox::new();
        let dir = sb.dir("app");
        fs::create_dir_all(&dir).unwrap();
        nix::unistd::mkfifo(
            &dir.join(name),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        if name == "status" || name == "state" {
            let out = svc(&["status", dir.to_str().unwrap()]);
            assert!(
                text(&out.stderr).contains("FIFO") || text(&out.stderr).contains("not a status"),
                "{name}: {out:?}"
            );
        }
        // run_bounded fails the test if this does not return.
        let out = supervise_daemon(&sb, &dir, "sleep 100");
        match out.status.code() {
            Some(0) => {
                let sup = Supervised::daemon(dir.clone());
                sup.wait_pid();
                let s = svc(&["status", dir.to_str().unwrap()]);
                assert!(text(&s.stdout).contains(": up (pid"), "{name}: {s:?}");
            }
            Some(111) => assert!(text(&out.stderr).contains("FIFO"), "{name}: {out:?}"),
            _ => panic!("{name}: {out:?}"),
        }
        stop_daemon(&dir);
    }
}

/// Finding 3: a config file that is a FIFO blocked the loop at `r`.
#[test]
fn finding_3_a_fifo_config_is_refused_and_never_blocks_a_reload() {
    let sb = Sandbox::new();
    let conf = sb.path().join("fifo.conf");
    nix::unistd::mkfifo(&conf, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let out = run_bounded({
        let mut c = sb.command();
        c.args(["-n", "-F"])
            .arg(&conf)
            .arg("-p")
            .arg(sb.dir("app"))
            .args(["-f", "sleep 100"]);
        c
    });
    assert_eq!(out.status.code(), Some(100), "{out:?}");
    assert!(text(&out.stderr).contains("FIFO"), "{out:?}");
    fs::remove_file(&conf).unwrap();
    fs::write(&conf, "[global]\n").unwrap();
    let sup = sb.start_with("app", &["-F", conf.to_str().unwrap(), "-f", "sleep 100"]);
    let first = sup.wait_pid();
    fs::remove_file(&conf).unwrap();
    nix::unistd::mkfifo(&conf, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    sup.send("r");
    wait_until("the reload refused", || sup.log_wf().contains("FIFO"));
    sup.send("k");
    sup.wait_new_pid(first);
}

/// Finding 4: a `state` that is huge, or holds times of 2^63, crashed svc and made
/// supervise die at every start.
#[test]
fn finding_4_huge_and_hostile_values_neither_crash_nor_hang() {
    let sb = Sandbox::new();
    let dir = sb.dir("app");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("state"), vec![b'x'; 8 << 20]).unwrap();
    let out = svc(&["status", "--json", dir.to_str().unwrap()]);
    assert!(!text(&out.stderr).contains("panicked"), "{out:?}");
    let sup = sb.start("app", "sleep 100");
    sup.wait_pid();
    drop(sup);
    for key in ["since", "last_exit_time", "next_start", "backoff"] {
        let huge = "9223372036854775808";
        let mut t = String::from(
            "format=1\nsupervise_pid=9\nservice=app\ncommand=x\nphase=waiting\nwant=up\n\
             pid=0\nsince=1.0\nstarts=18446744073709551615\nnext_start=2.0\nlast_exit=exited 1\n\
             last_exit_code=1\nlast_exit_signal=\nlast_core=0\nlast_exit_time=3.0\nbackoff=4.0\n",
        );
        let old = t
            .lines()
            .find(|l| l.starts_with(&format!("{key}=")))
            .unwrap()
            .to_owned();
        t = t.replace(&old, &format!("{key}={huge}"));
        fs::write(dir.join("state"), &t).unwrap();
        let out = svc(&["status", dir.to_str().unwrap()]);
        assert!(!text(&out.stderr).contains("panicked"), "{key}: {out:?}");
        let sup = sb.start("app", "sleep 100");
        sup.wait_pid();
        let out = svc(&["status", "--json", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{key}: {out:?}");
        drop(sup);
    }
}

/// Finding 5: errors quoted the content of a linked file.
#[test]
fn finding_5_errors_never_quote_a_file() {
    let sb = Sandbox::new();
    let victim = Victim::new(&sb);
    let dir = sb.dir("app");
    let sup = sb.start("app", "sleep 100");
    sup.wait_pid();
    fs::remove_file(dir.join("state")).unwrap();
    symlink(&victim.path, dir.join("state")).unwrap();
    for form in [
        &["status"][..],
        &["status", "--json"],
        &["status", "--prom"],
    ] {
        let mut args = form.to_vec();
        args.push(dir.to_str().unwrap());
        let out = svc(&args);
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(
            !all.contains("secret-hash") && !all.contains("root:"),
            "{all}"
        );
        assert!(
            all.contains("symbolic link") || form.contains(&"--prom"),
            "{all}"
        );
    }
    // A state that is not key=value is named by line, not quoted.
    fs::remove_file(dir.join("state")).unwrap();
    fs::write(dir.join("state"), "root:$6$secret-hash\n").unwrap();
    let out = svc(&["status", dir.to_str().unwrap()]);
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(!all.contains("secret-hash"), "{all}");
}

/// Finding 6: output and logs were created 0644 in a pre-existing 0755 directory.
#[test]
fn finding_6_output_and_logs_are_private_unless_widened() {
    let sb = Sandbox::new();
    let dir = sb.dir("app");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    // One left 0644 by an earlier version is narrowed too.
    fs::write(dir.join("__stdout"), "").unwrap();
    fs::set_permissions(dir.join("__stdout"), fs::Permissions::from_mode(0o644)).unwrap();
    let mode = |n: &str| fs::metadata(dir.join(n)).unwrap().mode() & 0o777;
    let sup = sb.start("app", "sh -c 'echo token=abc; exec sleep 100'");
    sup.wait_pid();
    for n in ["__stdout", "__stderr", "supervise.log", "supervise.log.wf"] {
        assert_eq!(mode(n), 0o600, "{n}");
    }
    for n in ["status", "state", "lock"] {
        assert_eq!(mode(n) & 0o044, 0o044, "{n} stays readable");
    }
    drop(sup);
    sb.config("[global]\nlog_mode : 0640\n");
    let sup = sb.start("app", "sleep 100");
    sup.wait_pid();
    for n in ["__stdout", "__stderr", "supervise.log", "supervise.log.wf"] {
        assert_eq!(mode(n), 0o640, "{n}");
    }
    drop(sup);
    sb.config("[global]\nlog_mode : 0666\n");
    let out = supervise_daemon(&sb, &dir, "sleep 100");
    assert_eq!(out.status.code(), Some(100), "{out:?}");
    assert!(
        text(&out.stderr).contains("supervise.conf:2: log_mode"),
        "{out:?}"
    );
}

/// Finding 7: an address that passed the config check but that the mail library
/// refused at send time meant no recipient got the mail.
#[test]
fn finding_7_a_bad_address_is_a_config_error_with_its_line() {
    let sb = Sandbox::new();
    sb.config(
        "[global]\nalarm_interval : 60\nalarm_mail : ops@example.com x$(touch${IFS}f)@example.com\n",
    );
    let out = supervise_daemon(&sb, &sb.dir("app"), "sleep 100");
    assert_eq!(out.status.code(), Some(100), "{out:?}");
    let err = text(&out.stderr);
    assert!(err.contains("supervise.conf:3: alarm_mail"), "{err}");
    assert!(!sb.path().join("f").exists());
}

/// Finding 7: at send time, each recipient that can be reached gets the mail, and an
/// alarm larger than a pipe still goes out.
#[test]
fn finding_7_every_reachable_recipient_gets_even_a_large_alarm() {
    let sb = Sandbox::new();
    let smtp = smtp::Smtp::start();
    sb.config(&format!(
        "[global]\nalarm_interval : 60\nstart_success : 0\n\
         alarm_mail : ok@example.com refused@example.com also@example.com\n\
         alarm_smtp : {}\nalarm_from : sup@example.com\n",
        smtp.url()
    ));
    // A 100 kB command line: the job handed to the sender is larger than a pipe.
    let pad = "x".repeat(100_000);
    let sup = sb.start("app", &format!("sh -c 'exec sleep 100' {pad}"));
    let pid = sup.wait_pid();
    kill(pid, libc::SIGSEGV);
    // Refused all at once, then sent one by one: two mails.
    let msgs = wait_for("the alarm to both reachable recipients", || {
        let m = smtp.messages();
        (m.len() >= 2).then_some(m)
    });
    let to: Vec<String> = msgs.iter().flat_map(|m| m.to.clone()).collect();
    assert!(to.iter().any(|t| t.contains("ok@example.com")), "{to:?}");
    assert!(to.iter().any(|t| t.contains("also@example.com")), "{to:?}");
    assert!(!to.iter().any(|t| t.contains("refused")), "{to:?}");
    wait_until("the refusal logged", || {
        sup.log_wf().contains("refused@example.com")
    });
    wait_until("the delivery logged", || sup.log().contains("mail sent: "));
}

/// Finding 8: under a low descriptor limit supervise started, then never restarted
/// the service.
#[test]
fn finding_8_a_low_descriptor_limit_is_raised_or_refused_at_start() {
    let sb = Sandbox::new();
    let dir = sb.dir("app");
    // Hard limit too low: said at start.
    let out = run_bounded({
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "ulimit -n 14 && exec {} -p {} -f 'sleep 100'",
                supervise_bin(),
                dir.display()
            ))
            .current_dir(sb.path());
        c
    });
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    assert!(
        text(&out.stderr).contains("descriptor limit is 14"),
        "{out:?}"
    );
    // Soft limit too low, hard limit fine: raised for supervise, the service gets 14.
    let out = run_bounded({
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "ulimit -S -n 14 && exec {} -p {} -f 'sleep 100'",
                supervise_bin(),
                dir.display()
            ))
            .current_dir(sb.path());
        c
    });
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let sup = Supervised::daemon(dir.clone());
    let mut pid = sup.wait_pid();
    for _ in 0..3 {
        sup.send("k");
        pid = sup.wait_new_pid(pid);
    }
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(open.split_whitespace().nth(3) == Some("14"), "{open}");
}

/// Finding 9: a user who may not open `ok` was told `supervise_running: false`.
#[test]
fn finding_9_cannot_tell_is_not_down() {
    if !root() || !has_command("runuser") {
        return;
    }
    let Some(user) = TestUser::create("ct") else {
        return;
    };
    let sb = Sandbox::new();
    fs::set_permissions(sb.path(), fs::Permissions::from_mode(0o755)).unwrap();
    // A readable directory (made 0755 beforehand): the kernel's lock table says.
    let open_dir = sb.dir("open");
    fs::create_dir_all(&open_dir).unwrap();
    fs::set_permissions(sb.path().join("status"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o755)).unwrap();
    let a = sb.start("open", "sleep 100");
    a.wait_pid();
    // A private one (0700, the default): nothing can be told.
    let b = sb.start("private", "sleep 100");
    b.wait_pid();
    let as_user = |args: &[&str]| {
        let mut c = Command::new("runuser");
        c.args(["-u", &user.name, "--", svc_bin()]).args(args);
        run_bounded(c)
    };
    let out = as_user(&["status", "--json", open_dir.to_str().unwrap()]);
    assert!(
        text(&out.stdout).contains("\"supervise_running\":true"),
        "{out:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let private = sb.dir("private");
    let out = as_user(&["status", "--json", private.to_str().unwrap()]);
    let j = text(&out.stdout);
    assert!(
        j.contains("\"supervise_running\":null") && j.contains("\"error\""),
        "{j}"
    );
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let out = as_user(&["status", "--prom", private.to_str().unwrap()]);
    assert!(!text(&out.stdout).contains("supervise_running{"), "{out:?}");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let out = as_user(&["status", private.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("ermission denied"), "{out:?}");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
}
