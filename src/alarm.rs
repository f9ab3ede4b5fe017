//! Alarm mail and SMS (SPEC §7): what they say, and sending them without ever
//! holding up supervision.
//!
//! Composing is pure ([`subject`], [`body`], [`sms_argv`]). Sending happens in a
//! separate short-lived program, `supervise-alarm` ([`helper_main`]), which supervise
//! starts like any child (close-on-exec everywhere, so it holds no lock) and hands the
//! [`Job`] on a pipe. It arms `alarm(2)` so that a dead or silent relay cannot keep it
//! past `alarm_timeout`, sends through lettre (SMTP relay, or the local sendmail with
//! an argument vector), runs the SMS command once per number (an argument vector too:
//! nothing passes through a shell), logs the outcome itself and exits. Supervise's
//! loop only starts it and later reaps it.
//!
//! Why a program of its own: lettre with its TLS stack is four times the size of the
//! rest of supervise, and a supervise that only forks would map and relocate all of
//! it, in every one of the hundreds of supervise processes of a host, to send a mail
//! now and then.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::exit::{Exit, signal_name};
use crate::log::{Log, local_time};
use crate::policy::Limit;
use crate::statefile;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SendmailTransport, SmtpTransport, Transport};

/// Lines of `__stderr` quoted in the mail.
pub const STDERR_LINES: usize = 20;

/// Why an alarm goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The service exited and this exit opened a crash window.
    Exited,
    /// Supervise stopped the running service: not ready in time, or unhealthy.
    Failed(crate::machine::Failure),
    /// Past a limit: supervise stopped restarting it.
    GaveUp {
        /// The limit passed.
        because: Limit,
        /// What supervise does next: exits, retries after the cool-down, or keeps the
        /// service down until asked.
        then: crate::config::GiveUp,
        /// The cool-down before the retry.
        cool_down: Duration,
    },
}

/// The facts of one alarm, as the state machine decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alarm {
    /// Why.
    pub kind: Kind,
    /// How the service ended.
    pub exit: Exit,
    /// Exits in the current window, this one included.
    pub exits: usize,
    /// Of which dumped core.
    pub cores: usize,
    /// From the window's first exit to this one.
    pub span: Duration,
}

/// Where the alarm comes from: the service and the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Host name.
    pub host: String,
    /// Service name.
    pub service: String,
    /// The status directory, absolute.
    pub dir: PathBuf,
    /// The command.
    pub command: String,
    /// When it happened.
    pub when: SystemTime,
}

/// The subject line, in the legacy form:
/// `2026-11-21 10:00:00 [Alarm: HOST] Service NAME exited with coredump!`.
pub fn subject(ctx: &Context, a: &Alarm) -> String {
    let what = match a.kind {
        Kind::GaveUp { .. } => crate::policy::gave_up_text(a.exits, a.span),
        Kind::Exited if a.exit.core_dumped() => "exited with coredump".to_owned(),
        Kind::Exited => "exited".to_owned(),
        Kind::Failed(crate::machine::Failure::NotReady) => "was not ready in time".to_owned(),
        Kind::Failed(crate::machine::Failure::Unhealthy) => "failed its health check".to_owned(),
    };
    format!(
        "{} [Alarm: {}] Service {} {what}!",
        local_time(ctx.when),
        ctx.host,
        ctx.service
    )
}

/// The mail body: what a person on call needs, and the tail of `__stderr`.
pub fn body(ctx: &Context, a: &Alarm, limits: (u32, u32, Duration), stderr_tail: &str) -> String {
    let (max_tries, max_cores, interval) = limits;
    let mut s = String::new();
    let limit = |max: u32| {
        if max == 0 {
            "no limit".to_owned()
        } else {
            format!("at most {max}")
        }
    };
    let action = match a.kind {
        Kind::Exited => {
            "supervise restarts it (further exits in this window are only logged)".to_owned()
        }
        Kind::Failed(_) => "supervise stops it gracefully and starts it again".to_owned(),
        Kind::GaveUp {
            because,
            then,
            cool_down,
        } => {
            let which = because.key();
            if then == crate::config::GiveUp::Down {
                format!("past {which}: supervise keeps it down until it is started again (svc -u)")
            } else if then == crate::config::GiveUp::Exit {
                format!(
                    "past {which}: supervise stopped restarting it and exited; start it again by hand"
                )
            } else {
                format!(
                    "past {which}: supervise keeps it down and tries again in {} seconds",
                    cool_down.as_secs()
                )
            }
        }
    };
    let _ = writeln!(s, "Host:           {}", ctx.host);
    let _ = writeln!(s, "Service:        {}", ctx.service);
    let _ = writeln!(s, "Status dir:     {}", ctx.dir.display());
    let _ = writeln!(s, "Command:        {}", ctx.command);
    let _ = writeln!(s, "Time:           {}", local_time(ctx.when));
    let _ = writeln!(s, "Exit:           {}", a.exit);
    let _ = writeln!(
        s,
        "Exit code:      {}",
        a.exit.code().map_or("-".to_owned(), |c| c.to_string())
    );
    let _ = writeln!(
        s,
        "Signal:         {}",
        a.exit
            .signal()
            .map_or("-".to_owned(), |n| format!("{} ({n})", signal_name(n)))
    );
    let _ = writeln!(
        s,
        "Core dump:      {}",
        if a.exit.core_dumped() { "yes" } else { "no" }
    );
    let _ = writeln!(
        s,
        "Window:         {} exits ({} with core) in {} s; {} restarts allowed, {} with core, per {} s",
        a.exits,
        a.cores,
        a.span.as_secs(),
        limit(max_tries),
        limit(max_cores),
        interval.as_secs()
    );
    let _ = writeln!(s, "Action:         {action}");
    let _ = writeln!(s);
    let stderr = ctx.dir.join(crate::statusdir::names::STDERR);
    if stderr_tail.is_empty() {
        let _ = writeln!(s, "{} is empty.", stderr.display());
    } else {
        let _ = writeln!(s, "Last {STDERR_LINES} lines of {}:", stderr.display());
        for line in stderr_tail.lines() {
            let _ = writeln!(s, "  {line}");
        }
    }
    s
}

/// The most bytes of `__stderr` read for the mail.
pub const TAIL_MAX: usize = 64 * 1024;

/// The last `n` lines of a status directory's file, reading at most its last
/// [`TAIL_MAX`] bytes through the one place that opens those files (a link there is
/// not followed: a root supervise never mails what another file holds).
pub fn tail_lines(dir: &crate::statusdir::Dir, name: &str, n: usize) -> String {
    let Ok(bytes) = dir.read_tail(name, TAIL_MAX) else {
        return String::new();
    };
    let cut = bytes.len() == TAIL_MAX;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if cut && !lines.is_empty() {
        // The first line was cut by the window.
        lines.remove(0);
    }
    let from = lines.len().saturating_sub(n);
    lines[from..].join("\n")
}

/// The SMS command for one number: the template's words with `{number}` and
/// `{message}` replaced. The legacy default is `gsmsend-script NUMBER@MESSAGE`.
pub fn sms_argv(template: &[String], number: &str, message: &str) -> Vec<String> {
    template
        .iter()
        .map(|w| w.replace("{number}", number).replace("{message}", message))
        .collect()
}

/// The sender: `alarm_from`, else `supervise@HOST`.
fn from_address(cfg: &Config, host: &str) -> String {
    cfg.alarm_from
        .clone()
        .unwrap_or_else(|| format!("supervise@{host}"))
}

/// A recipient as the mail library takes it: a local alias `ops` is `ops@localhost`,
/// which a local mailer expands by its aliases.
fn mailbox(a: &str) -> Result<Mailbox, lettre::address::AddressError> {
    if crate::config::is_alias(a) {
        format!("{a}@localhost").parse()
    } else {
        a.parse()
    }
}

/// Without a relay and without sendmail, what the legacy tool did: `mail -s SUBJECT
/// RCPT...` (mailx, configured on such hosts), the body on its standard input; an
/// argument vector, never a shell.
pub fn mailx(cfg: &Config, subject: &str, body: &str) -> Delivery {
    use std::io::Write;
    let mut d = Delivery::default();
    let child = Command::new("mail")
        .arg("-s")
        .arg(subject)
        .args(&cfg.alarm_mail)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let result = child.and_then(|mut c| {
        if let Some(mut i) = c.stdin.take() {
            i.write_all(body.as_bytes())?;
        }
        c.wait()
    });
    match result {
        Ok(st) if st.success() => d.sent.extend(cfg.alarm_mail.iter().cloned()),
        Ok(st) => d.errors.push(format!("mail {st}")),
        Err(e) => d.errors.push(format!(
            "no alarm_smtp, {} is not there, and `mail` cannot be run: {e}",
            cfg.alarm_sendmail.display()
        )),
    }
    d
}

/// Builds the message for `to`.
pub fn message(
    cfg: &Config,
    ctx: &Context,
    to: &[Mailbox],
    subject: &str,
    body: String,
) -> Result<Message, String> {
    let from: Mailbox = from_address(cfg, &ctx.host)
        .parse()
        .map_err(|e| format!("alarm_from: {e}"))?;
    let mut b = Message::builder().from(from).subject(subject);
    for mb in to {
        b = b.to(mb.clone());
    }
    b.header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("cannot build the mail: {e}"))
}

/// What became of one alarm mail: who got it, and what went wrong for the others.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Recipients the mail was handed over for.
    pub sent: Vec<String>,
    /// One line per recipient (or for all) it could not be sent to.
    pub errors: Vec<String>,
}

/// Sends the mail to every recipient it can reach: all at once, and when that fails,
/// one by one, so that an address the relay refuses costs only that address.
pub fn send_mail(cfg: &Config, ctx: &Context, subject: &str, body: &str) -> Delivery {
    if cfg.alarm_smtp.is_none() && !crate::command::is_executable(&cfg.alarm_sendmail) {
        return mailx(cfg, subject, body);
    }
    let mut d = Delivery::default();
    let mut to = Vec::new();
    for a in &cfg.alarm_mail {
        match mailbox(a) {
            Ok(mb) => to.push((a.clone(), mb)),
            Err(e) => d.errors.push(format!("alarm_mail {a:?}: {e}")),
        }
    }
    let send = |group: &[(String, Mailbox)]| {
        let boxes: Vec<Mailbox> = group.iter().map(|(_, m)| m.clone()).collect();
        message(cfg, ctx, &boxes, subject, body.to_owned()).and_then(|m| deliver(cfg, ctx, &m))
    };
    if to.is_empty() {
        return d;
    }
    match send(&to) {
        Ok(()) => d.sent.extend(to.iter().map(|(a, _)| a.clone())),
        Err(e) if to.len() == 1 => d.errors.push(e),
        Err(_) => {
            for one in to.chunks(1) {
                match send(one) {
                    Ok(()) => d.sent.push(one[0].0.clone()),
                    Err(e) => d.errors.push(format!("to {}: {e}", one[0].0)),
                }
            }
        }
    }
    d
}

/// The SMTP transport for `alarm_smtp`, with the timeout and extra root certificate.
fn smtp(cfg: &Config, url: &str, host: &str) -> Result<SmtpTransport, String> {
    let mut b = SmtpTransport::from_url(url).map_err(|e| format!("alarm_smtp {url:?}: {e}"))?;
    b = b
        .timeout(Some(cfg.alarm_timeout))
        .hello_name(ClientId::Domain(host.to_owned()));
    if let Some(ca) = &cfg.alarm_smtp_ca {
        let pem = std::fs::read(ca).map_err(|e| format!("alarm_smtp_ca {}: {e}", ca.display()))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| format!("alarm_smtp_ca {}: {e}", ca.display()))?;
        let params = TlsParameters::builder(url_host(url).to_owned())
            .add_root_certificate(cert)
            .build()
            .map_err(|e| format!("TLS settings for {url:?}: {e}"))?;
        let tls = if url.starts_with("smtps://") {
            Tls::Wrapper(params)
        } else if url.contains("tls=required") {
            Tls::Required(params)
        } else {
            Tls::Opportunistic(params)
        };
        b = b.tls(tls);
    }
    Ok(b.build())
}

/// The host of `smtp[s]://[user:pass@]host[:port][?...]`.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let end = rest.find([':', '/', '?']).unwrap_or(rest.len());
    &rest[..end]
}

/// Sends the mail through the relay or sendmail.
pub fn deliver(cfg: &Config, ctx: &Context, msg: &Message) -> Result<(), String> {
    match &cfg.alarm_smtp {
        Some(url) => smtp(cfg, url, &ctx.host)?
            .send(msg)
            .map(|_| ())
            .map_err(|e| format!("SMTP {url}: {e}")),
        None => SendmailTransport::new_with_command(cfg.alarm_sendmail.as_os_str())
            .send(msg)
            .map_err(|e| format!("{}: {e}", cfg.alarm_sendmail.display())),
    }
}

/// Runs the SMS command once per `alarm_gsm` entry (bytes passed as they are in the
/// config); for each, the command as run, or what went wrong.
pub fn send_sms(cfg: &Config, message: &str) -> Vec<Result<String, String>> {
    let mut out = Vec::new();
    for number in &cfg.alarm_gsm {
        let argv = sms_argv(&cfg.alarm_gsm_command, number, message);
        let Some((prog, args)) = argv.split_first() else {
            continue;
        };
        let bytes = |w: &String| {
            std::os::unix::ffi::OsStringExt::from_vec(crate::config::syntax::encode(w))
        };
        let args: Vec<std::ffi::OsString> = args.iter().map(bytes).collect();
        let result = Command::new(bytes(prog))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        out.push(match result {
            Ok(st) if st.success() => Ok(argv.join(" ")),
            Ok(st) => Err(format!("SMS to {number}: {prog} {st}")),
            Err(e) => Err(format!("SMS to {number}: cannot run {prog}: {e}")),
        });
    }
    out
}

/// Everything the sender needs, handed to `supervise-alarm` on its standard input.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The config in force (not the file on disk, which may have changed since).
    pub config: Config,
    /// Where from.
    pub context: Context,
    /// What happened.
    pub alarm: Alarm,
    /// The last lines of `__stderr`, read by supervise (the sender opens nothing in
    /// the status directory).
    pub stderr_tail: String,
    /// For a failed check: which, and what it said.
    pub detail: String,
}

impl Job {
    /// The job as `key=value` lines (values escaped as in the `state` file).
    pub fn encode(&self) -> String {
        let c = &self.config;
        let a = &self.alarm;
        let mut lines: Vec<(&str, String)> = vec![
            ("host", self.context.host.clone()),
            ("service", self.context.service.clone()),
            ("dir", self.context.dir.display().to_string()),
            ("command", self.context.command.clone()),
            ("when", statefile::format_time(self.context.when)),
            ("exits", a.exits.to_string()),
            ("cores", a.cores.to_string()),
            (
                "span",
                statefile::format_time(std::time::UNIX_EPOCH + a.span),
            ),
            ("alarm_interval", c.alarm_interval.as_secs().to_string()),
            ("max_tries", c.max_tries.to_string()),
            (
                "max_tries_if_coredumped",
                c.max_tries_if_coredumped.to_string(),
            ),
            ("alarm_mail", c.alarm_mail.join(" ")),
            ("alarm_gsm", c.alarm_gsm.join(" ")),
            ("alarm_sendmail", c.alarm_sendmail.display().to_string()),
            ("alarm_gsm_command", c.alarm_gsm_command.join(" ")),
            ("alarm_timeout", c.alarm_timeout.as_secs().to_string()),
            ("stderr_tail", self.stderr_tail.clone()),
            ("detail", self.detail.clone()),
        ];
        match a.exit {
            Exit::Code(n) => lines.push(("exit_code", n.to_string())),
            Exit::Signal { signal, core } => {
                lines.push(("exit_signal", signal.to_string()));
                lines.push(("core", u8::from(core).to_string()));
            }
            // Neither key: an adopted service's end.
            Exit::Unknown => {}
        }
        match a.kind {
            Kind::Exited => lines.push(("kind", "exited".into())),
            Kind::Failed(crate::machine::Failure::NotReady) => {
                lines.push(("kind", "not-ready".into()))
            }
            Kind::Failed(crate::machine::Failure::Unhealthy) => {
                lines.push(("kind", "unhealthy".into()))
            }
            Kind::GaveUp {
                because,
                then,
                cool_down,
            } => {
                lines.push(("kind", "gave-up".into()));
                lines.push(("because", because.key().into()));
                lines.push(("then", then.name().into()));
                lines.push(("cool_down", cool_down.as_secs().to_string()));
            }
        }
        if let Some(v) = &c.alarm_smtp {
            lines.push(("alarm_smtp", v.clone()));
        }
        if let Some(v) = &c.alarm_smtp_ca {
            lines.push(("alarm_smtp_ca", v.display().to_string()));
        }
        if let Some(v) = &c.alarm_from {
            lines.push(("alarm_from", v.clone()));
        }
        lines
            .into_iter()
            .map(|(k, v)| format!("{k}={}\n", statefile::escape(&v)))
            .collect()
    }

    /// The inverse of [`Job::encode`].
    pub fn decode(text: &str) -> Result<Job, String> {
        let mut map = std::collections::HashMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("{line:?} is not key=value"))?;
            map.insert(k.to_owned(), statefile::unescape(v));
        }
        let get = |k: &str| {
            map.get(k)
                .cloned()
                .ok_or_else(|| format!("the key {k} is missing"))
        };
        let num = |k: &str| -> Result<u64, String> {
            get(k)?.parse().map_err(|_| format!("{k} is not a number"))
        };
        let secs = |k: &str| num(k).map(Duration::from_secs);
        let time = |k: &str| {
            get(k)
                .and_then(|v| statefile::parse_time(&v).ok_or_else(|| format!("{k} is not a time")))
        };
        let words = |k: &str| -> Vec<String> {
            map.get(k)
                .map(|v| {
                    v.split(' ')
                        .filter(|w| !w.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let exit = match (map.get("exit_code"), map.get("exit_signal")) {
            (Some(c), _) => Exit::Code(c.parse().map_err(|_| "exit_code is not a number")?),
            (None, Some(s)) => Exit::Signal {
                signal: s.parse().map_err(|_| "exit_signal is not a number")?,
                core: map.get("core").is_some_and(|c| c == "1"),
            },
            (None, None) => Exit::Unknown,
        };
        let kind = match get("kind")?.as_str() {
            "exited" => Kind::Exited,
            "not-ready" => Kind::Failed(crate::machine::Failure::NotReady),
            "unhealthy" => Kind::Failed(crate::machine::Failure::Unhealthy),
            "gave-up" => Kind::GaveUp {
                because: Limit::from_key(&get("because")?).ok_or("because is not a limit")?,
                then: crate::config::GiveUp::from_name(&get("then")?)
                    .ok_or("then is not exit, cool_down or down")?,
                cool_down: secs("cool_down")?,
            },
            other => return Err(format!("kind {other:?} is unknown")),
        };
        let span = time("span")?
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let config = Config {
            alarm_interval: secs("alarm_interval")?,
            alarm_mail: words("alarm_mail"),
            alarm_gsm: words("alarm_gsm"),
            max_tries: num("max_tries")? as u32,
            max_tries_if_coredumped: num("max_tries_if_coredumped")? as u32,
            alarm_smtp: map.get("alarm_smtp").cloned(),
            alarm_smtp_ca: map.get("alarm_smtp_ca").map(PathBuf::from),
            alarm_from: map.get("alarm_from").cloned(),
            alarm_sendmail: PathBuf::from(get("alarm_sendmail")?),
            alarm_gsm_command: words("alarm_gsm_command"),
            alarm_timeout: secs("alarm_timeout")?,
            ..Config::default()
        };
        Ok(Job {
            config,
            context: Context {
                host: get("host")?,
                service: get("service")?,
                dir: PathBuf::from(get("dir")?),
                command: get("command")?,
                when: time("when")?,
            },
            alarm: Alarm {
                kind,
                exit,
                exits: num("exits")? as usize,
                cores: num("cores")? as usize,
                span,
            },
            stderr_tail: map.get("stderr_tail").cloned().unwrap_or_default(),
            detail: map.get("detail").cloned().unwrap_or_default(),
        })
    }
}

/// The `supervise-alarm` program: reads a [`Job`] from `input`, sends it, logs the
/// outcome (NOTICE lines on its standard output, the others on its standard error,
/// which supervise made the service's two logs), and returns the exit code (0 sent,
/// 1 not). `alarm(2)` bounds it: a silent relay cannot keep it past `alarm_timeout`.
pub fn helper_main(input: &str) -> i32 {
    let job = match Job::decode(input) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("supervise-alarm: bad job on stdin: {e}");
            return 2;
        }
    };
    // SAFETY: arming the process's own timer.
    unsafe {
        libc::alarm(job.config.alarm_timeout.as_secs().max(1) as libc::c_uint);
    }
    let Ok(log) = Log::stdio() else {
        return 1;
    };
    let cfg = &job.config;
    let subject = subject(&job.context, &job.alarm);
    let mut failed = false;
    if !cfg.alarm_mail.is_empty() {
        let limits = (
            cfg.max_tries,
            cfg.max_tries_if_coredumped,
            cfg.alarm_interval,
        );
        let mut body = body(&job.context, &job.alarm, limits, &job.stderr_tail);
        if !job.detail.is_empty() {
            body = format!("Check:          {}\n{body}", job.detail);
        }
        let d = send_mail(cfg, &job.context, &subject, &body);
        if !d.sent.is_empty() {
            log.notice(format_args!(
                "mail sent: \"{subject}\" to {}",
                d.sent.join(" ")
            ));
        }
        for e in &d.errors {
            log.warn(format_args!("alarm mail not sent: {e}"));
        }
        failed = !d.errors.is_empty();
    }
    for r in send_sms(cfg, &subject) {
        match r {
            Ok(command) => log.notice(format_args!("gsm sent: {command}")),
            Err(e) => {
                log.warn(format_args!("alarm {e}"));
                failed = true;
            }
        }
    }
    i32::from(failed)
}

/// Where `supervise-alarm` is: beside the running `supervise`, else on PATH.
pub fn helper_path() -> Option<PathBuf> {
    let beside = std::env::current_exe().ok()?.with_file_name(HELPER);
    if beside.is_file() {
        return Some(beside);
    }
    crate::command::resolve(
        std::ffi::OsStr::new(HELPER),
        std::env::var_os("PATH").as_deref(),
    )
    .ok()
}

/// The name of the sending program.
pub const HELPER: &str = "supervise-alarm";

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn ctx() -> Context {
        Context {
            host: "web1".into(),
            service: "app".into(),
            dir: "/srv/status/app".into(),
            command: "python app.py".into(),
            when: UNIX_EPOCH + Duration::from_secs(1_795_255_200),
        }
    }

    fn segv() -> Alarm {
        Alarm {
            kind: Kind::Exited,
            exit: Exit::Signal {
                signal: 11,
                core: true,
            },
            exits: 1,
            cores: 1,
            span: Duration::ZERO,
        }
    }

    #[test]
    fn subjects_have_the_legacy_shape() {
        let s = subject(&ctx(), &segv());
        let time = local_time(ctx().when);
        assert_eq!(
            s,
            format!("{time} [Alarm: web1] Service app exited with coredump!")
        );
        let plain = Alarm {
            exit: Exit::Code(1),
            cores: 0,
            ..segv()
        };
        assert!(subject(&ctx(), &plain).ends_with("] Service app exited!"));
        let gave_up = Alarm {
            kind: Kind::GaveUp {
                because: Limit::Tries,
                then: crate::config::GiveUp::Exit,
                cool_down: Duration::ZERO,
            },
            exits: 4,
            span: Duration::from_secs(3),
            ..plain
        };
        assert!(
            subject(&ctx(), &gave_up)
                .ends_with("Service app gave up after 3 restarts in 3 seconds!")
        );
    }

    #[test]
    fn the_body_says_what_broke() {
        let b = body(
            &ctx(),
            &segv(),
            (10, 2, Duration::from_secs(60)),
            "boom\nsegfault at 0x0",
        );
        for needle in [
            "Host:           web1",
            "Service:        app",
            "Status dir:     /srv/status/app",
            "Command:        python app.py",
            "Exit:           killed by SIGSEGV (core dumped)",
            "Exit code:      -",
            "Signal:         SIGSEGV (11)",
            "Core dump:      yes",
            "Window:         1 exits (1 with core) in 0 s; at most 10 restarts allowed, at most 2 with core, per 60 s",
            "Last 20 lines of /srv/status/app/__stderr:\n  boom\n  segfault at 0x0\n",
        ] {
            assert!(b.contains(needle), "{needle:?} not in\n{b}");
        }
        let empty = body(&ctx(), &segv(), (0, 0, Duration::from_secs(60)), "");
        assert!(empty.contains("__stderr is empty."));
        assert!(empty.contains("no limit restarts allowed"));
    }

    #[test]
    fn tail_reads_only_the_end() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::statusdir::Dir::open(tmp.path()).unwrap();
        let p = tmp.path().join("err");
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, &text).unwrap();
        let t = tail_lines(&dir, "err", 3);
        assert_eq!(t, "line 98\nline 99\nline 100");
        let big: String = (0..20_000).map(|i| format!("{i:08}\n")).collect();
        std::fs::write(&p, &big).unwrap();
        let t = tail_lines(&dir, "err", 2);
        assert_eq!(t, "00019998\n00019999");
        assert_eq!(tail_lines(&dir, "none", 5), "");
        std::fs::write(tmp.path().join("secret"), "root:hash\n").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), tmp.path().join("__stderr")).unwrap();
        assert_eq!(
            tail_lines(&dir, "__stderr", 5),
            "",
            "a link is not followed"
        );
    }

    #[test]
    fn sms_words_are_substituted_not_shelled() {
        let tpl: Vec<String> = vec!["gsmsend-script".into(), "{number}@{message}".into()];
        assert_eq!(
            sms_argv(&tpl, "13800000000", "app exited; rm -rf /"),
            vec!["gsmsend-script", "13800000000@app exited; rm -rf /"]
        );
    }

    #[test]
    fn jobs_round_trip() {
        let job = Job {
            config: Config {
                alarm_interval: Duration::from_secs(60),
                alarm_mail: vec!["a@x".into(), "b@y".into()],
                alarm_gsm: vec!["+1".into()],
                max_tries: 3,
                alarm_smtp: Some("smtp://u:p@h:25?tls=required".into()),
                alarm_smtp_ca: Some("/ca.pem".into()),
                alarm_from: Some("me@x".into()),
                ..Config::default()
            },
            context: Context {
                command: "sh -c 'a\nb = c'".into(),
                ..ctx()
            },
            alarm: Alarm {
                kind: Kind::GaveUp {
                    because: Limit::Cores,
                    then: crate::config::GiveUp::CoolDown,
                    cool_down: Duration::from_secs(30),
                },
                span: Duration::new(3, 500),
                ..segv()
            },
            stderr_tail: "panic: boom\n  at main.rs:3 \\ x".into(),
            detail: "http http://localhost/health: 503".into(),
        };
        assert_eq!(Job::decode(&job.encode()), Ok(job.clone()));
        let plain = Job {
            config: Config::default(),
            alarm: Alarm {
                kind: Kind::Exited,
                exit: Exit::Code(3),
                ..segv()
            },
            ..job
        };
        assert_eq!(Job::decode(&plain.encode()), Ok(plain));
        assert!(Job::decode("host=x\n").is_err());
        assert!(Job::decode("garbage").is_err());
    }

    #[test]
    fn relay_hosts() {
        assert_eq!(url_host("smtp://mail.example.com"), "mail.example.com");
        assert_eq!(url_host("smtps://u:p@ss@relay:465?tls=required"), "relay");
        assert_eq!(url_host("smtp://127.0.0.1:2525/"), "127.0.0.1");
    }

    #[test]
    fn messages_carry_every_recipient() {
        let cfg = Config {
            alarm_mail: vec!["a@example.com".into(), "b@example.com".into()],
            ..Config::default()
        };
        let to: Vec<Mailbox> = cfg.alarm_mail.iter().map(|a| a.parse().unwrap()).collect();
        let m = message(&cfg, &ctx(), &to, "subj", "body".into()).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains("To: a@example.com, b@example.com"), "{raw}");
        assert!(raw.contains("From: supervise@web1"), "{raw}");
        assert!(raw.contains("Subject: subj"), "{raw}");
    }
}
