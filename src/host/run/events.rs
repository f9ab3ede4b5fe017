//! The host's side of its event bus: what the loop hands it (connections, status
//! changes, ticks, its own state, groups) and the lines it has for the log.

use super::Host;
use crate::host::events::Event;
use crate::host::events::bus::Token;

impl Host {
    /// The bus's descriptors that `poll` found ready.
    pub(super) fn on_bus(&mut self, ready: Vec<Token>) {
        if ready.is_empty() {
            return;
        }
        let sups: Vec<(u32, String)> = self
            .procs
            .iter()
            .filter_map(|(n, p)| Some((p.sup.as_ref()?.pid.as_raw().unsigned_abs(), n.clone())))
            .collect();
        let Some(bus) = &mut self.bus else {
            return;
        };
        let mut log = Vec::new();
        for t in ready {
            match t {
                Token::Accept => log.extend(
                    bus.accept(|pid| sups.iter().find(|(p, _)| *p == pid).map(|(_, n)| n.clone())),
                ),
                Token::Conn(name) => log.extend(bus.on_conn(&name)),
                Token::Logs => log.extend(bus.on_logs()),
            }
        }
        let printed = std::mem::take(&mut bus.printed);
        if !printed.is_empty() {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&printed);
            let _ = out.flush();
        }
        for l in log {
            self.log.warn(l);
        }
    }

    /// A process's status changed: its PROCESS_STATE events.
    pub(super) fn announce(&mut self, name: &str) {
        let Some(p) = self.procs.get(name) else {
            return;
        };
        if self.bus.is_none() {
            return;
        }
        let info = crate::host::info::read(&p.svc, std::time::SystemTime::now());
        // Only what the supervise holding the directory now wrote: a state file left
        // by a previous run (a FATAL of yesterday) says nothing of this one.
        let holder = crate::client::open(&p.svc.dir)
            .ok()
            .and_then(|d| crate::client::lock_pid(&d));
        if holder != Some(info.writer) {
            return;
        }
        let exitcodes: Vec<i32> = self
            .cfg
            .processes
            .iter()
            .find(|s| s.group == p.svc.group && s.name == p.svc.process)
            .map(|s| s.exitcodes.clone())
            .unwrap_or_else(|| vec![0]);
        let (group, process) = (p.svc.group.clone(), p.svc.process.clone());
        let Some(bus) = &mut self.bus else {
            return;
        };
        bus.watch_logs_of(name);
        let log = bus.process_changed(name, &group, &process, &info, &exitcodes);
        for l in log {
            self.log.warn(l);
        }
    }

    /// The host is running (its start is over), or stopping. Running, as
    /// supervisord: each group added first, the listeners' groups first, the others by
    /// name.
    pub(super) fn announce_host(&mut self, running: bool) {
        if running {
            let mut groups: Vec<(bool, String)> = self
                .procs
                .values()
                .map(|p| (!p.svc.listener, p.svc.group.clone()))
                .collect();
            groups.sort();
            groups.dedup();
            for (_, g) in groups {
                self.announce_group(&g, true);
            }
        }
        self.publish_event(Event::Supervisor { running });
    }

    /// A group put in force or taken out.
    pub(super) fn announce_group(&mut self, group: &str, added: bool) {
        self.publish_event(Event::Group {
            added,
            group: group.to_owned(),
        });
    }

    /// `sendRemoteCommEvent`.
    pub(super) fn announce_remote(&mut self, kind: String, data: String) {
        self.publish_event(Event::Remote { kind, data });
    }

    fn publish_event(&mut self, e: Event) {
        let Some(bus) = &mut self.bus else {
            return;
        };
        for l in bus.publish(e) {
            self.log.warn(l);
        }
    }

    /// The config in force changed: the bus follows it (made if a first pool
    /// appeared).
    pub(super) fn reconfigure_bus(&mut self) {
        let in_force: Vec<crate::host::service::Service> =
            self.procs.values().map(|p| p.svc.clone()).collect();
        let lines = match &mut self.bus {
            Some(b) => b.configure(&self.cfg, &in_force),
            None => {
                let dir = self.layout.root.join(crate::host::service::HOST_DIR);
                match crate::host::events::bus::Bus::new(&self.cfg, &in_force, &dir) {
                    Ok(b) => {
                        self.bus = b;
                        Vec::new()
                    }
                    Err(e) => vec![format!("events socket: {e}")],
                }
            }
        };
        for l in lines {
            self.log.warn(l);
        }
    }

    /// Ticks due.
    pub(super) fn on_ticks(&mut self) {
        let Some(bus) = &mut self.bus else {
            return;
        };
        for l in bus.on_time() {
            self.log.warn(l);
        }
    }
}
