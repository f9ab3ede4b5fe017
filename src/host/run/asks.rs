//! The host's side of its HTTP servers: the listeners started with the host, the
//! snapshot of the processes they read, and the requests only the loop carries out
//! (XML-RPC's shutdown, restart, reloadConfig, addProcessGroup, removeProcessGroup).

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::{Host, Phase, config, services};
use crate::host::control::{Fault, RpcError};
use crate::host::fleet::{Proc, Then};
use crate::host::hub::{Ask, Hub, Mood, Snapshot};
use crate::host::plan::{self, Groups};
use crate::host::service::Service;
use crate::host::{http, web};

impl Host {
    /// Starts the configured HTTP servers (none configured: nothing at all).
    pub(super) fn serve(&mut self) -> Result<(), String> {
        if self.cfg.http_servers.is_empty() {
            return Ok(());
        }
        let (hub, asks) = Hub::new(self.snapshot()).map_err(|e| format!("eventfd: {e}"))?;
        for server in &self.cfg.http_servers {
            // Each server its own count: clients of the TCP port cannot crowd out the
            // local socket's.
            let active = Arc::new(AtomicUsize::new(0));
            let listener = http::bind(server)?;
            if let http::Listener::Unix(_, p) = &listener {
                self.sockets.push(p.clone());
            }
            let site: Arc<dyn http::Handler> = Arc::new(web::Site::new(hub.clone(), server));
            http::spawn(listener, site, active).map_err(|e| format!("thread: {e}"))?;
            self.log.notice(format_args!(
                "HTTP server [{}] listening{}",
                server.section,
                if server.read_only { " (read-only)" } else { "" }
            ));
        }
        self.hub = Some(hub);
        self.asks = Some(asks);
        Ok(())
    }

    /// What the HTTP side sees now.
    fn snapshot(&self) -> Snapshot {
        let names: std::collections::BTreeSet<&str> = self
            .procs
            .iter()
            .filter(|(_, p)| p.then != Then::Forget)
            .map(|(n, _)| n.as_str())
            .collect();
        let services: Vec<Service> = self
            .procs
            .values()
            .filter(|p| names.contains(p.svc.name.as_str()))
            .map(|p| p.svc.clone())
            .collect();
        let logfile = Some(std::path::PathBuf::from(&self.cfg.supervisord.logfile))
            .filter(|p| p.is_absolute() || p.exists());
        Snapshot {
            specs: self.cfg.processes.clone(),
            identifier: self.cfg.supervisord.identifier.clone(),
            logfile,
            services,
        }
    }

    /// Hands the HTTP side the processes in force, if it exists.
    pub(super) fn publish(&self) {
        if let Some(h) = &self.hub {
            h.publish(self.snapshot());
        }
    }

    /// Carries out what the HTTP side asked.
    pub(super) fn on_asks(&mut self) {
        let Some(hub) = self.hub.clone() else {
            return;
        };
        hub.drain();
        let mut asks = Vec::new();
        if let Some(rx) = &self.asks {
            while let Ok(a) = rx.try_recv() {
                asks.push(a);
            }
        }
        for a in asks {
            match a {
                Ask::Shutdown => {
                    self.log
                        .notice("shutdown asked over XML-RPC: stopping every service");
                    // A shutdown wins over a restart under way.
                    self.restart = false;
                    self.begin_stop();
                    hub.set_mood(Mood::Shutdown);
                }
                Ask::Restart if matches!(self.phase, Phase::Stopping { .. }) => {
                    self.log
                        .warn("restart asked over XML-RPC while stopping: ignored");
                }
                Ask::Restart => {
                    self.log.notice(
                        "restart asked over XML-RPC: stopping every service, then reading the \
                         config again and starting them",
                    );
                    self.restart = true;
                    self.begin_stop();
                    hub.set_mood(Mood::Restarting);
                }
                Ask::Reload(tx) => {
                    let _ = tx.send(self.reread());
                }
                Ask::AddGroup(g, tx) => {
                    let _ = tx.send(self.add_group(&g));
                }
                Ask::RemoveGroup(g, tx) => {
                    let _ = tx.send(self.remove_group(&g));
                }
                Ask::Remote(kind, data) => self.announce_remote(kind, data),
            }
        }
        self.publish();
    }

    /// `reloadConfig`: reads the config, applies nothing; the groups an update touches.
    fn reread(&mut self) -> Result<Groups, RpcError> {
        let cfg = config::load_file(&self.config_path)
            .map_err(|e| RpcError::new(Fault::CantReread, e.to_string()))?;
        let (new, _) =
            services(&cfg, &self.layout).map_err(|e| RpcError::new(Fault::CantReread, e))?;
        let old: Vec<Service> = self.procs.values().map(|p| p.svc.clone()).collect();
        let groups = plan::plan(&old, &new).groups(&old, &new);
        self.reread = Some((cfg, new));
        Ok(groups)
    }

    /// `addProcessGroup`: the group from the config last read put in force, and its
    /// autostart processes started.
    fn add_group(&mut self, group: &str) -> Result<(), RpcError> {
        if self
            .procs
            .values()
            .any(|p| p.svc.group == group && p.then != Then::Forget)
        {
            return Err(RpcError::new(Fault::AlreadyAdded, group));
        }
        let (cfg, new) = match &self.reread {
            Some((c, n)) => (c.clone(), n.clone()),
            None => (self.cfg.clone(), Vec::new()),
        };
        let members: Vec<Service> = new.into_iter().filter(|s| s.group == group).collect();
        if members.is_empty() {
            return Err(RpcError::new(Fault::BadName, group));
        }
        self.cfg = cfg;
        self.graph = crate::host::deps::Graph::resolve(
            &self
                .procs
                .values()
                .map(|p| p.svc.clone())
                .chain(members.iter().cloned())
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default();
        let names: Vec<String> = members.iter().map(|s| s.name.clone()).collect();
        for s in members {
            self.log
                .notice(format_args!("{}: added process group {group}", s.name));
            self.procs.insert(s.name.clone(), Proc::new(s));
        }
        // The bus first: a listener of the group connects as it starts.
        self.reconfigure_bus();
        self.announce_group(group, true);
        for name in names {
            self.watch_dir(&name);
            if !self.defer(&name) {
                self.spawn(&name);
            }
        }
        Ok(())
    }

    /// `removeProcessGroup`: a group whose processes are all stopped taken out of
    /// force (their supervise exits).
    fn remove_group(&mut self, group: &str) -> Result<(), RpcError> {
        let names: Vec<String> = self
            .procs
            .iter()
            .filter(|(_, p)| p.svc.group == group && p.then != Then::Forget)
            .map(|(n, _)| n.clone())
            .collect();
        if names.is_empty() {
            return Err(RpcError::new(Fault::BadName, group));
        }
        let running = names.iter().any(|n| {
            crate::client::open(&self.procs[n].svc.dir)
                .and_then(|d| crate::client::read_status(&d))
                .is_ok_and(|s| s.pid != 0)
        });
        if running {
            return Err(RpcError::new(Fault::StillRunning, group));
        }
        for name in names {
            self.log
                .notice(format_args!("{name}: removed process group {group}"));
            if let Some(p) = self.procs.get_mut(&name) {
                p.then = Then::Forget;
            }
            super::stop(&mut self.procs, &name, &self.log);
            if self.procs.get(&name).is_some_and(|p| p.sup.is_none()) {
                self.procs.remove(&name);
                let _ = self.host_dir.unlink(&format!("{name}.conf"));
            }
        }
        Ok(())
    }

    /// After a restart's stop: the config read again (an error keeps the one in
    /// force) and everything started.
    pub(super) fn start_again(&mut self) {
        match config::load_file(&self.config_path)
            .map_err(|e| e.to_string())
            .and_then(|cfg| Ok((services(&cfg, &self.layout)?, cfg)))
        {
            Ok(((new, warnings), cfg)) => {
                for w in warnings {
                    self.log.warn(w);
                }
                self.graph = crate::host::deps::Graph::resolve(&new).unwrap_or_default();
                self.fatal_exits = super::fatal_exits(&cfg, &new);
                self.procs = new
                    .into_iter()
                    .map(|s| (s.name.clone(), Proc::new(s)))
                    .collect();
                self.cfg = cfg;
            }
            Err(e) => self.log.warn(format_args!(
                "config not read again, the one in force stays: {e}"
            )),
        }
        self.reread = None;
        self.reconfigure_bus();
        if let Some(h) = &self.hub {
            h.set_mood(Mood::Running);
        }
        self.phase = Phase::Running;
        self.begin_start();
        self.publish();
    }
}
