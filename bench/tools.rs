//! The supervisors under comparison and how each one is set up, started, commanded
//! and asked for status, the way its users run it: daemontools `supervise`, runit
//! `runsv`, s6 `s6-supervise` on a service directory with a `#!/bin/sh` `run` script
//! (`svscan`, `runsvdir`, `s6-svscan` for many services); supervisord with one
//! `[program:x]` per service; ours with `supervise -p DIR -f CMD`, daemonized; and the
//! floor, a C program that forks, execs and waits.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Tool {
    Ours,
    Daemontools,
    Runit,
    S6,
    Supervisord,
    Floor,
}

impl Tool {
    pub const ALL: [Tool; 6] = [
        Tool::Ours,
        Tool::Daemontools,
        Tool::Runit,
        Tool::S6,
        Tool::Supervisord,
        Tool::Floor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Ours => "supervise (ours)",
            Tool::Daemontools => "daemontools",
            Tool::Runit => "runit",
            Tool::S6 => "s6",
            Tool::Supervisord => "supervisord",
            Tool::Floor => "C floor",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Tool::Ours => "ours",
            Tool::Daemontools => "daemontools",
            Tool::Runit => "runit",
            Tool::S6 => "s6",
            Tool::Supervisord => "supervisord",
            Tool::Floor => "floor",
        }
    }

    pub fn is_anchor(self) -> bool {
        !matches!(self, Tool::Ours | Tool::Floor)
    }
}

/// Where every program lives. Anchors are looked up in PATH; daemontools' own
/// `supervise` and `svc` are taken from the directory of its `svscan`, never ours.
pub struct Bins {
    pub supervise: PathBuf,
    pub svc: PathBuf,
    /// `supervise-host`, for the host scenario (ours is left out of it without one).
    pub host: Option<PathBuf>,
    pub me: PathBuf,
    pub sleep: PathBuf,
    pub floor: Option<PathBuf>,
    pub daemontools: Option<PathBuf>,
    pub runit: Option<PathBuf>,
    pub s6: Option<PathBuf>,
    pub supervisord: Option<PathBuf>,
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .and_then(|p| fs::canonicalize(p).ok())
}

/// The directory holding all of `names`, found through the first one.
fn suite(names: &[&str]) -> Option<PathBuf> {
    let dir = which(names[0])?.parent()?.to_path_buf();
    names.iter().all(|n| dir.join(n).is_file()).then_some(dir)
}

impl Bins {
    pub fn find(
        supervise: PathBuf,
        svc: PathBuf,
        host: Option<PathBuf>,
        floor: Option<PathBuf>,
    ) -> Bins {
        Bins {
            supervise,
            svc,
            host,
            me: std::env::current_exe().expect("own path"),
            sleep: which("sleep").expect("sleep in PATH"),
            floor,
            daemontools: suite(&["svscan", "supervise", "svc", "svstat", "multilog"]),
            runit: suite(&["runsv", "runsvdir", "sv", "svlogd"]),
            s6: suite(&["s6-svscan", "s6-supervise", "s6-svc", "s6-svstat", "s6-log"]),
            supervisord: suite(&["supervisord", "supervisorctl"]),
        }
    }

    pub fn has(&self, tool: Tool) -> bool {
        match tool {
            Tool::Ours => true,
            Tool::Daemontools => self.daemontools.is_some(),
            Tool::Runit => self.runit.is_some(),
            Tool::S6 => self.s6.is_some(),
            Tool::Supervisord => self.supervisord.is_some(),
            Tool::Floor => self.floor.is_some(),
        }
    }

    fn anchor(&self, tool: Tool, name: &str) -> PathBuf {
        let dir = match tool {
            Tool::Daemontools => &self.daemontools,
            Tool::Runit => &self.runit,
            Tool::S6 => &self.s6,
            Tool::Supervisord => &self.supervisord,
            Tool::Ours | Tool::Floor => &None,
        };
        dir.as_ref().expect("anchor installed").join(name)
    }
}

/// What runs under the supervisor: `exec` words (no shell syntax), optionally after
/// appending a line to a counter file, so that starts can be counted exactly.
#[derive(Clone)]
pub struct Service {
    pub exec: String,
    pub count_to: Option<PathBuf>,
}

impl Service {
    pub fn sleep(tag: &str) -> Service {
        Service {
            exec: format!("sleep {tag}"),
            count_to: None,
        }
    }

    fn run_script(&self) -> String {
        match &self.count_to {
            Some(c) => format!("#!/bin/sh\necho >> {}\nexec {}\n", c.display(), self.exec),
            None => format!("#!/bin/sh\nexec {}\n", self.exec),
        }
    }

    /// For `supervise -f` and supervisord's `command=`.
    fn command_string(&self, shell_quote: bool) -> String {
        match &self.count_to {
            Some(c) => {
                let script = format!("echo >> {}; exec {}", c.display(), self.exec);
                if shell_quote {
                    format!("/bin/sh -c \"{script}\"")
                } else {
                    script
                }
            }
            None => self.exec.clone(),
        }
    }
}

fn write_run(dir: &Path, content: &str) {
    fs::create_dir_all(dir).expect("service dir");
    let run = dir.join("run");
    fs::write(&run, content).expect("run script");
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).expect("chmod run");
}

fn quiet(mut c: Command) -> Command {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn spawn(c: Command) -> Child {
    let mut c = quiet(c);
    c.spawn().expect("start a supervisor")
}

/// supervisord's configuration with one `[program:NAME]` per (name, service, extra).
fn supervisord_conf(work: &Path, programs: &[(String, String, String)]) -> PathBuf {
    let w = work.display();
    let mut s = format!(
        "[supervisord]\nnodaemon=true\nlogfile={w}/supervisord.log\npidfile={w}/supervisord.pid\n\
         childlogdir={w}\n\n[unix_http_server]\nfile={w}/supervisor.sock\n\n\
         [rpcinterface:supervisor]\n\
         supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
         [supervisorctl]\nserverurl=unix://{w}/supervisor.sock\n"
    );
    for (name, command, extra) in programs {
        s.push_str(&format!(
            "\n[program:{name}]\ncommand={command}\nautorestart=true\n{extra}"
        ));
    }
    let conf = work.join("supervisord.conf");
    fs::write(&conf, s).expect("supervisord.conf");
    conf
}

/// The host scenario's config: one supervisord file that both `supervise-host` and
/// supervisord run, `[program:pK]` with `command=` the K-th of `commands`. supervisord
/// needs `[unix_http_server]`, `[rpcinterface:supervisor]` and `[supervisorctl]` for
/// `supervisorctl`; supervise-host reads and checks them and uses `status_root`, which
/// supervisord ignores. `nodaemon=true`: both stay in the foreground, children of the
/// benchmark, so the host's pid is the one it spawned.
pub fn host_conf(work: &Path, commands: &[String]) -> PathBuf {
    let w = work.display();
    let mut s = format!(
        "[supervisord]\nnodaemon=true\nlogfile={w}/host.log\npidfile={w}/host.pid\n\
         childlogdir={w}\nstatus_root={w}/status\n\n[unix_http_server]\nfile={w}/supervisor.sock\n\n\
         [rpcinterface:supervisor]\n\
         supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
         [supervisorctl]\nserverurl=unix://{w}/supervisor.sock\n"
    );
    for (i, command) in commands.iter().enumerate() {
        s.push_str(&format!("\n[program:p{}]\ncommand={command}\n", i + 1));
    }
    let conf = work.join("supervisord.conf");
    // Written beside and renamed: a host reading it on SIGHUP never sees half a file.
    let new = work.join("supervisord.conf.new");
    fs::write(&new, s).expect("supervisord.conf");
    fs::rename(&new, &conf).expect("supervisord.conf");
    conf
}

/// One service under one supervisor.
pub struct Instance {
    pub tool: Tool,
    /// The supervisor process: the one that forks the service.
    pub sup: u32,
    /// Ours: the status directory. Anchors: the service directory. supervisord: its
    /// configuration file.
    pub dir: PathBuf,
    /// Ours: the `-f` string, to start supervise again the same way.
    command: String,
}

/// Starts `service` under `tool` in `work` (created), and returns once the supervisor
/// runs; ours returns once the service has been started, as `supervise` does.
pub fn start_one(tool: Tool, bins: &Bins, work: &Path, service: &Service) -> Instance {
    fs::create_dir_all(work).expect("work dir");
    match tool {
        Tool::Ours => {
            let dir = work.join("status").join("svc");
            let ok = quiet(Command::new(&bins.supervise))
                .current_dir(work)
                .arg("-p")
                .arg(&dir)
                .arg("-f")
                .arg(service.command_string(false))
                .status()
                .expect("run supervise");
            assert!(ok.success(), "supervise -p {} failed", dir.display());
            let sup = fs::read_to_string(dir.join("lock"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .expect("supervise's pid in lock");
            Instance {
                tool,
                sup,
                dir,
                command: service.command_string(false),
            }
        }
        Tool::Daemontools | Tool::Runit | Tool::S6 => {
            let dir = work.join("svc");
            write_run(&dir, &service.run_script());
            let prog = match tool {
                Tool::Daemontools => "supervise",
                Tool::Runit => "runsv",
                _ => "s6-supervise",
            };
            let mut c = Command::new(bins.anchor(tool, prog));
            c.arg(&dir).current_dir(work);
            let sup = spawn(c).id();
            Instance {
                tool,
                sup,
                dir,
                command: String::new(),
            }
        }
        Tool::Supervisord => {
            let conf = supervisord_conf(
                work,
                &[("svc".into(), service.command_string(true), String::new())],
            );
            let mut c = Command::new(bins.anchor(tool, "supervisord"));
            c.arg("-c").arg(&conf).current_dir(work);
            let sup = spawn(c).id();
            Instance {
                tool,
                sup,
                dir: conf,
                command: String::new(),
            }
        }
        Tool::Floor => {
            assert!(service.count_to.is_none(), "the floor cannot count starts");
            let mut c = Command::new(bins.floor.as_ref().expect("floor built"));
            c.args(service.exec.split_whitespace()).current_dir(work);
            let sup = spawn(c).id();
            Instance {
                tool,
                sup,
                dir: work.to_path_buf(),
                command: String::new(),
            }
        }
    }
}

/// Starts the same supervisor again on the same directory, as an operator would after
/// it died. Returns its pid.
pub fn restart_supervisor(inst: &Instance, bins: &Bins) -> u32 {
    match inst.tool {
        Tool::Ours => {
            let ok = quiet(Command::new(&bins.supervise))
                .arg("-p")
                .arg(&inst.dir)
                .arg("-f")
                .arg(&inst.command)
                .status()
                .expect("run supervise");
            assert!(ok.success());
            fs::read_to_string(inst.dir.join("lock"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .expect("pid in lock")
        }
        Tool::Daemontools | Tool::Runit | Tool::S6 => {
            let prog = match inst.tool {
                Tool::Daemontools => "supervise",
                Tool::Runit => "runsv",
                _ => "s6-supervise",
            };
            let mut c = Command::new(bins.anchor(inst.tool, prog));
            c.arg(&inst.dir);
            spawn(c).id()
        }
        Tool::Supervisord => {
            let mut c = Command::new(bins.anchor(inst.tool, "supervisord"));
            c.arg("-c").arg(&inst.dir);
            spawn(c).id()
        }
        Tool::Floor => unreachable!("the floor has no state to come back to"),
    }
}

/// The tool's own command to SIGKILL the service, or None (the floor has none).
pub fn kill_command(inst: &Instance, bins: &Bins) -> Option<Command> {
    let mut c;
    match inst.tool {
        Tool::Ours => {
            c = Command::new(&bins.svc);
            c.arg("-k").arg(&inst.dir);
        }
        Tool::Daemontools => {
            c = Command::new(bins.anchor(inst.tool, "svc"));
            c.arg("-k").arg(&inst.dir);
        }
        Tool::Runit => {
            c = Command::new(bins.anchor(inst.tool, "sv"));
            c.arg("kill").arg(&inst.dir);
        }
        Tool::S6 => {
            c = Command::new(bins.anchor(inst.tool, "s6-svc"));
            c.arg("-k").arg(&inst.dir);
        }
        Tool::Supervisord => {
            c = Command::new(bins.anchor(inst.tool, "supervisorctl"));
            c.arg("-c").arg(&inst.dir).args(["signal", "KILL", "svc"]);
        }
        Tool::Floor => return None,
    }
    Some(quiet(c))
}

/// Many services under one tool.
pub struct Fleet {
    pub tool: Tool,
    /// Status directories (ours) or service directories (anchors); supervisord: none.
    pub dirs: Vec<PathBuf>,
    pub conf: Option<PathBuf>,
    /// The scanner, starting loop or host the benchmark launched.
    pub starter: Child,
}

/// Lays out `n` services of `sleep TAG-i` for `tool` under `work`, without starting
/// anything; [`Fleet::start`] is what gets timed.
pub fn lay_out_fleet(
    tool: Tool,
    work: &Path,
    n: usize,
    tag: &str,
) -> (Vec<PathBuf>, Option<PathBuf>) {
    fs::create_dir_all(work).expect("work dir");
    match tool {
        Tool::Ours => {
            let dirs = (1..=n)
                .map(|i| work.join("status").join(format!("s{i}")))
                .collect();
            (dirs, None)
        }
        Tool::Daemontools | Tool::Runit | Tool::S6 => {
            let dirs: Vec<PathBuf> = (1..=n)
                .map(|i| {
                    let d = work.join("scan").join(format!("s{i}"));
                    write_run(&d, &Service::sleep(&format!("{tag}{i:05}")).run_script());
                    d
                })
                .collect();
            (dirs, None)
        }
        Tool::Supervisord => {
            let programs: Vec<(String, String, String)> = (1..=n)
                .map(|i| (format!("s{i}"), format!("sleep {tag}{i:05}"), String::new()))
                .collect();
            (Vec::new(), Some(supervisord_conf(work, &programs)))
        }
        Tool::Floor => unreachable!("the floor runs one service"),
    }
}

impl Fleet {
    /// Starts every service: ours by a shell loop of `supervise -p` (with `&` when
    /// `parallel`), the others by their scanner or supervisord.
    pub fn start(
        tool: Tool,
        bins: &Bins,
        work: &Path,
        dirs: Vec<PathBuf>,
        conf: Option<PathBuf>,
        tag: &str,
        parallel: bool,
    ) -> Fleet {
        let starter = match tool {
            Tool::Ours => {
                let serial = r#"sup=$1 tag=$2 n=$3 i=1
while [ "$i" -le "$n" ]; do
  "$sup" -p "status/s$i" -f "sleep $tag$i" || exit 1
  i=$((i + 1))
done"#;
                let parallel_loop = r#"sup=$1 tag=$2 n=$3 i=1
while [ "$i" -le "$n" ]; do
  "$sup" -p "status/s$i" -f "sleep $tag$i" &
  i=$((i + 1))
done
wait"#;
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg(if parallel { parallel_loop } else { serial })
                    .arg("loop")
                    .arg(&bins.supervise)
                    .arg(tag)
                    .arg(dirs.len().to_string())
                    .current_dir(work);
                spawn(c)
            }
            Tool::Daemontools => {
                let mut c = Command::new(bins.anchor(tool, "svscan"));
                c.arg(work.join("scan"));
                spawn(c)
            }
            Tool::Runit => {
                let mut c = Command::new(bins.anchor(tool, "runsvdir"));
                c.arg(work.join("scan"));
                spawn(c)
            }
            Tool::S6 => {
                let mut c = Command::new(bins.anchor(tool, "s6-svscan"));
                c.args(["-c", &(dirs.len() + 16).to_string()])
                    .arg(work.join("scan"));
                spawn(c)
            }
            Tool::Supervisord => {
                let mut c = Command::new(bins.anchor(tool, "supervisord"));
                c.arg("-c").arg(conf.as_ref().expect("conf"));
                spawn(c)
            }
            Tool::Floor => unreachable!(),
        };
        Fleet {
            tool,
            dirs,
            conf,
            starter,
        }
    }

    /// Ours in host mode: `supervise-host -c CONF` (in the foreground: the config says
    /// `nodaemon=true`), which starts one supervise per program of CONF; `dirs` are the
    /// status directories it makes.
    pub fn start_host(bins: &Bins, work: &Path, conf: PathBuf, dirs: Vec<PathBuf>) -> Fleet {
        let mut c = Command::new(bins.host.as_ref().expect("supervise-host built"));
        c.arg("-c").arg(&conf).current_dir(work);
        Fleet {
            tool: Tool::Ours,
            dirs,
            conf: Some(conf),
            starter: spawn(c),
        }
    }

    /// The tool's own status command over every service.
    pub fn status_command(&self, bins: &Bins) -> Command {
        let mut c;
        match self.tool {
            Tool::Ours => {
                c = Command::new(&bins.svc);
                match &self.conf {
                    // Host mode: by name, as supervisorctl.
                    Some(conf) => c.arg("-c").arg(conf).arg("status"),
                    None => c.arg("status").args(&self.dirs),
                };
            }
            Tool::Daemontools => {
                c = Command::new(bins.anchor(self.tool, "svstat"));
                c.args(&self.dirs);
            }
            Tool::Runit => {
                c = Command::new(bins.anchor(self.tool, "sv"));
                c.arg("status").args(&self.dirs);
            }
            Tool::S6 => {
                // s6-svstat takes one directory: its users loop.
                c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg(format!(
                        "for d; do {} \"$d\" || exit 1; done",
                        bins.anchor(self.tool, "s6-svstat").display()
                    ))
                    .arg("loop")
                    .args(&self.dirs);
            }
            Tool::Supervisord => {
                c = Command::new(bins.anchor(self.tool, "supervisorctl"));
                c.arg("-c")
                    .arg(self.conf.as_ref().expect("conf"))
                    .arg("status");
            }
            Tool::Floor => unreachable!(),
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c
    }
}

/// Sets up `service` with the tool's usual logger rotating at 16 MiB, keeping 10
/// files, no timestamps, and starts it: daemontools `multilog`, runit `svlogd`, s6
/// `s6-log` (each in `log/`, under the scanner that pipes it), supervisord's
/// `stdout_logfile`; ours `log_max_size : 16M`, `log_backups : 10` through `-F`,
/// or `ours_config` for another mode of ours. Returns the pid of what it started (the
/// sweep after the scenario reaps it).
pub fn start_logged(
    tool: Tool,
    bins: &Bins,
    work: &Path,
    service: &Service,
    ours_config: &str,
) -> u32 {
    fs::create_dir_all(work).expect("work dir");
    match tool {
        Tool::Ours => {
            let conf = work.join("supervise.conf");
            fs::write(&conf, format!("[global]\n{ours_config}")).expect("config");
            let mut c = Command::new(&bins.supervise);
            c.arg("-F")
                .arg(&conf)
                .args(["-p", "status/log", "-f", &service.command_string(false)])
                .current_dir(work);
            spawn(c).id()
        }
        Tool::Daemontools | Tool::Runit | Tool::S6 => {
            let dir = work.join("scan").join("log");
            write_run(&dir, &service.run_script());
            let logger = match tool {
                Tool::Daemontools => "exec multilog s16777215 n10 ./main".to_owned(),
                Tool::Runit => {
                    fs::create_dir_all(dir.join("log/main")).expect("log dir");
                    fs::write(dir.join("log/main/config"), "s16777215\nn10\n").expect("config");
                    "exec svlogd ./main".to_owned()
                }
                _ => "exec s6-log n10 s16777215 ./main".to_owned(),
            };
            write_run(&dir.join("log"), &format!("#!/bin/sh\n{logger}\n"));
            let scanner = match tool {
                Tool::Daemontools => "svscan",
                Tool::Runit => "runsvdir",
                _ => "s6-svscan",
            };
            let mut c = Command::new(bins.anchor(tool, scanner));
            c.arg(work.join("scan"));
            spawn(c).id()
        }
        Tool::Supervisord => {
            let extra = format!(
                "stdout_logfile={}/out.log\nstdout_logfile_maxbytes=16MB\nstdout_logfile_backups=10\n",
                work.display()
            );
            let conf =
                supervisord_conf(work, &[("log".into(), service.command_string(true), extra)]);
            let mut c = Command::new(bins.anchor(tool, "supervisord"));
            c.arg("-c").arg(&conf);
            spawn(c).id()
        }
        Tool::Floor => unreachable!(),
    }
}
