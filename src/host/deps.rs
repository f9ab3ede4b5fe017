//! Dependencies between a host's services (`depends_on`), as a pure graph: the words
//! resolved to services, unknown names and cycles refused with the file and line
//! that cause them, and the orders they impose.
//!
//! A word names a service (`name` or `group:name`), a group (every service in it),
//! or `group:*`. A service starts once each service it depends on is ready, and
//! stops before them; [`Graph::stop_levels`] puts each dependent in a level above
//! everything it depends on, within supervisord's priority order.

use std::collections::{BTreeMap, BTreeSet};

use super::service::Service;

/// Who depends on whom.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// Each service's dependencies, by name.
    deps: BTreeMap<String, Vec<String>>,
}

/// The services a `depends_on` word names.
fn named<'a>(services: &'a [Service], word: &str) -> Vec<&'a str> {
    let group = word.strip_suffix(":*").unwrap_or(word);
    let exact: Vec<&str> = services
        .iter()
        .filter(|s| s.name == word)
        .map(|s| s.name.as_str())
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    services
        .iter()
        .filter(|s| s.group == group)
        .map(|s| s.name.as_str())
        .collect()
}

impl Graph {
    /// Resolves every `depends_on`; an unknown name or a cycle is an error naming the
    /// file and line of the `depends_on` at fault.
    pub fn resolve(services: &[Service]) -> Result<Graph, String> {
        let mut deps = BTreeMap::new();
        for s in services {
            let Some(d) = &s.depends_on else { continue };
            let mut names: Vec<String> = Vec::new();
            for w in &d.words {
                let found = named(services, w);
                if found.is_empty() {
                    return Err(format!(
                        "{}:{}: depends_on: no program or group named {w:?}",
                        d.file.display(),
                        d.line
                    ));
                }
                for n in found {
                    if n == s.name {
                        return Err(format!(
                            "{}:{}: depends_on: {} cannot depend on itself",
                            d.file.display(),
                            d.line,
                            s.name
                        ));
                    }
                    if !names.iter().any(|x| x == n) {
                        names.push(n.to_owned());
                    }
                }
            }
            deps.insert(s.name.clone(), names);
        }
        let g = Graph { deps };
        if let Some(cycle) = g.cycle() {
            let at = services
                .iter()
                .find(|s| s.name == cycle[0])
                .and_then(|s| s.depends_on.as_ref());
            let place = at.map_or_else(String::new, |d| {
                format!("{}:{}: ", d.file.display(), d.line)
            });
            return Err(format!(
                "{place}depends_on: a cycle: {}",
                cycle.join(" -> ")
            ));
        }
        Ok(g)
    }

    /// What `name` depends on.
    pub fn deps(&self, name: &str) -> &[String] {
        self.deps.get(name).map_or(&[], Vec::as_slice)
    }

    /// What depends on `name`, directly.
    pub fn dependents(&self, name: &str) -> Vec<String> {
        self.deps
            .iter()
            .filter(|(_, d)| d.iter().any(|x| x == name))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// A cycle, as the names along it (the first repeated at the end), if any.
    fn cycle(&self) -> Option<Vec<String>> {
        // Depth-first; `path` is the current chain.
        fn visit<'a>(
            g: &'a Graph,
            n: &'a str,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|p| *p == n) {
                let mut c: Vec<String> = path[i..].iter().map(|s| s.to_string()).collect();
                c.push(n.to_owned());
                return Some(c);
            }
            if done.contains(n) {
                return None;
            }
            path.push(n);
            for d in g.deps(n) {
                if let Some(c) = visit(g, d, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            done.insert(n);
            None
        }
        let mut done = BTreeSet::new();
        self.deps
            .keys()
            .find_map(|n| visit(self, n, &mut Vec::new(), &mut done))
    }

    /// `names` and everything they need, dependencies first (each once).
    pub fn with_dependencies(&self, names: &[String]) -> Vec<String> {
        fn add(g: &Graph, n: &str, out: &mut Vec<String>) {
            if out.iter().any(|x| x == n) {
                return;
            }
            for d in g.deps(n) {
                add(g, d, out);
            }
            out.push(n.to_owned());
        }
        let mut out = Vec::new();
        for n in names {
            add(self, n, &mut out);
        }
        out
    }

    /// The stop order, a level at a time: supervisord's priority order reversed, and
    /// within it every service stopped in a level before those it depends on.
    pub fn stop_levels(&self, services: &[Service]) -> Vec<Vec<String>> {
        let levels = super::fleet::levels(services);
        let mut rank: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, level) in levels.iter().enumerate() {
            for n in level {
                rank.insert(n, i * (services.len() + 1));
            }
        }
        // Raise each dependent above its dependencies until nothing moves (no cycles:
        // at most one pass per service).
        for _ in 0..=services.len() {
            let mut moved = false;
            for s in services {
                let need = self
                    .deps(&s.name)
                    .iter()
                    .filter_map(|d| rank.get(d.as_str()).map(|r| r + 1))
                    .max()
                    .unwrap_or(0);
                if let Some(r) = rank.get_mut(s.name.as_str()) {
                    if *r < need {
                        *r = need;
                        moved = true;
                    }
                }
            }
            if !moved {
                break;
            }
        }
        let mut by: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for s in services {
            by.entry(rank[s.name.as_str()])
                .or_default()
                .push(s.name.clone());
        }
        by.into_values().rev().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::config::testing::loaded;
    use crate::host::service::{Layout, service};

    fn svcs(text: &str) -> Vec<Service> {
        let layout = Layout { root: "/r".into() };
        loaded(&format!("[supervisord]\n{text}"))
            .processes
            .iter()
            .map(|p| service(p, &layout, None).unwrap().0)
            .collect()
    }

    #[test]
    fn words_name_services_and_groups() {
        let s = svcs(
            "[program:db]\ncommand=db\n[program:web]\ncommand=web\nnumprocs=2\n\
             process_name=%(program_name)s_%(process_num)s\n\
             [program:lb]\ncommand=lb\ndepends_on = web db\n\
             [program:cron]\ncommand=c\ndepends_on = web:web_1\n",
        );
        let g = Graph::resolve(&s).unwrap();
        assert_eq!(g.deps("web:web_0"), &[] as &[String]);
        assert_eq!(g.deps("lb"), ["web:web_0", "web:web_1", "db"]);
        assert_eq!(g.deps("cron"), ["web:web_1"]);
        assert_eq!(g.dependents("db"), ["lb"]);
        assert_eq!(
            g.with_dependencies(&["lb".into(), "cron".into()]),
            ["web:web_0", "web:web_1", "db", "lb", "cron"]
        );
    }

    #[test]
    fn unknown_names_and_cycles_are_refused_where_they_are_written() {
        let e = Graph::resolve(&svcs("[program:a]\ncommand=a\ndepends_on = nope\n")).unwrap_err();
        assert!(
            e.ends_with(":4: depends_on: no program or group named \"nope\""),
            "{e}"
        );
        let e = Graph::resolve(&svcs(
            "[program:a]\ncommand=a\ndepends_on = b\n[program:b]\ncommand=b\ndepends_on = c\n\
             [program:c]\ncommand=c\ndepends_on = a\n",
        ))
        .unwrap_err();
        assert!(
            e.ends_with(":4: depends_on: a cycle: a -> b -> c -> a"),
            "{e}"
        );
        let e = Graph::resolve(&svcs("[program:a]\ncommand=a\ndepends_on = a\n")).unwrap_err();
        assert!(e.contains("a cannot depend on itself"), "{e}");
    }

    #[test]
    fn dependents_stop_first_even_against_priority() {
        // b depends on a but has the lower priority: it still stops before a.
        let s = svcs(
            "[program:a]\ncommand=a\npriority=10\n[program:b]\ncommand=b\npriority=5\ndepends_on=a\n\
             [program:c]\ncommand=c\npriority=1\n",
        );
        let g = Graph::resolve(&s).unwrap();
        assert_eq!(g.stop_levels(&s), [vec!["b"], vec!["a"], vec!["c"]]);
    }
}
