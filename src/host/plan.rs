//! What an update does: the services in force and the services the config now names
//! give the processes to stop, to restart and to start, and those left alone. Pure,
//! and the heart of `update` (only what changed is touched: supervisord restarts a
//! whole group for a change in one of its programs, or in `numprocs`; here a process
//! whose own settings are the same keeps its pid) and of `svc reread`.

use std::collections::BTreeMap;

use super::service::Service;

/// What an update does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// No longer in the config: stopped, with their supervise.
    pub removed: Vec<String>,
    /// Running differently: stopped, then started with their new settings.
    pub changed: Vec<Service>,
    /// New in the config: started.
    pub added: Vec<Service>,
    /// Left alone.
    pub kept: Vec<String>,
}

impl Plan {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.changed.is_empty() && self.added.is_empty()
    }

    /// The groups it touches, as supervisord's `reloadConfig` names them: added (all
    /// their processes new), changed, removed (all gone).
    pub fn groups(&self, old: &[Service], new: &[Service]) -> Groups {
        let groups = |s: &[Service]| -> BTreeMap<String, usize> {
            let mut m = BTreeMap::new();
            for x in s {
                *m.entry(x.group.clone()).or_insert(0) += 1;
            }
            m
        };
        let (before, after) = (groups(old), groups(new));
        let touched = |g: &str| {
            self.changed.iter().any(|s| s.group == g)
                || self.added.iter().any(|s| s.group == g)
                || self
                    .removed
                    .iter()
                    .any(|n| old.iter().any(|s| &s.name == n && s.group == g))
        };
        let mut out = Groups {
            removed: before
                .keys()
                .filter(|g| !after.contains_key(*g))
                .cloned()
                .collect(),
            ..Groups::default()
        };
        for g in after.keys() {
            if !before.contains_key(g) {
                out.added.push(g.clone());
            } else if touched(g) {
                out.changed.push(g.clone());
            }
        }
        out
    }

    /// supervisorctl's `reread` lines, one per group: `GROUP: changed`,
    /// `GROUP: available` (all its processes new), `GROUP: disappeared` (all gone);
    /// `No config updates to processes` when nothing changes.
    pub fn reread_lines(&self, old: &[Service], new: &[Service]) -> Vec<String> {
        if self.is_empty() {
            return vec!["No config updates to processes".into()];
        }
        let g = self.groups(old, new);
        let mut lines: Vec<String> = g
            .removed
            .iter()
            .map(|g| format!("{g}: disappeared"))
            .collect();
        let mut rest: Vec<(String, &str)> = g
            .added
            .iter()
            .map(|n| (n.clone(), "available"))
            .chain(g.changed.iter().map(|n| (n.clone(), "changed")))
            .collect();
        rest.sort();
        lines.extend(rest.into_iter().map(|(n, what)| format!("{n}: {what}")));
        lines
    }
}

/// Groups by what an update does to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

/// The plan from the services in force (`old`) to those of the config (`new`).
pub fn plan(old: &[Service], new: &[Service]) -> Plan {
    let before: BTreeMap<&str, &Service> = old.iter().map(|s| (s.name.as_str(), s)).collect();
    let names: std::collections::BTreeSet<&str> = new.iter().map(|s| s.name.as_str()).collect();
    let mut p = Plan {
        removed: old
            .iter()
            .filter(|s| !names.contains(s.name.as_str()))
            .map(|s| s.name.clone())
            .collect(),
        ..Plan::default()
    };
    for s in new {
        match before.get(s.name.as_str()) {
            None => p.added.push(s.clone()),
            Some(o) if o.differs(s) => p.changed.push(s.clone()),
            Some(_) => p.kept.push(s.name.clone()),
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::config::testing::loaded;
    use crate::host::service::{Layout, service};

    fn services(text: &str) -> Vec<Service> {
        let layout = Layout { root: "/r".into() };
        loaded(text)
            .processes
            .iter()
            .map(|p| service(p, &layout, None).unwrap().0)
            .collect()
    }

    fn names(v: &[Service]) -> Vec<&str> {
        v.iter().map(|s| s.name.as_str()).collect()
    }

    const BASE: &str = "[supervisord]\n[program:a]\ncommand=a\n[program:b]\ncommand=b\n\
                        [program:w]\ncommand=w %(process_num)d\nnumprocs=4\n\
                        process_name=w%(process_num)d\n";

    #[test]
    fn only_what_changed_is_touched() {
        let old = services(BASE);
        // a changes, b goes, c comes, w grows from 4 to 6.
        let new = services(
            "[supervisord]\n[program:a]\ncommand=a --new\n[program:c]\ncommand=c\n\
             [program:w]\ncommand=w %(process_num)d\nnumprocs=6\nprocess_name=w%(process_num)d\n",
        );
        let p = plan(&old, &new);
        assert_eq!(p.removed, vec!["b"]);
        assert_eq!(names(&p.changed), vec!["a"]);
        assert_eq!(names(&p.added), vec!["c", "w:w4", "w:w5"]);
        assert_eq!(p.kept, vec!["w:w0", "w:w1", "w:w2", "w:w3"]);
        assert_eq!(
            p.reread_lines(&old, &new),
            vec!["b: disappeared", "a: changed", "c: available", "w: changed"]
        );
        // And back down from 6 to 4: two stop, the rest keep their pids.
        let p = plan(
            &new,
            &services(BASE.replace("[program:b]\ncommand=b\n", "").as_str()),
        );
        assert_eq!(p.removed, vec!["c", "w:w4", "w:w5"]);
        assert_eq!(p.kept.len(), 4);
    }

    #[test]
    fn the_same_config_changes_nothing() {
        let s = services(BASE);
        let p = plan(&s, &s);
        assert!(p.is_empty());
        assert_eq!(p.kept.len(), 6);
        assert_eq!(
            p.reread_lines(&s, &s),
            vec!["No config updates to processes"]
        );
    }

    #[test]
    fn a_setting_change_is_a_change() {
        let old = services("[supervisord]\n[program:a]\ncommand=a\n");
        for changed in [
            "stopwaitsecs=3",
            "autostart=false",
            "environment=X=1",
            "user=www-data",
            "max_tries=3",
        ] {
            let new = services(&format!(
                "[supervisord]\n[program:a]\ncommand=a\n{changed}\n"
            ));
            assert_eq!(names(&plan(&old, &new).changed), vec!["a"], "{changed}");
        }
        let new = services("[supervisord]\n[program:a]\ncommand=a\npriority=5\n");
        assert!(
            plan(&old, &new).is_empty(),
            "priority orders; it changes no process"
        );
    }
}
