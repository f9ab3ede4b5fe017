//! Which lines of a legacy config apply to a service, by the legacy tool's rules.
//!
//! - The service's own section `[name]` before `[global]`: that section alone.
//! - Otherwise `[global]`, then the service's own section after it (the first one),
//!   which overrides it key by key, except that an empty value keeps the global one,
//!   a count of the legacy keys (`alarm_interval`, `max_tries`,
//!   `max_tries_if_coredumped`) of 0 keeps the global one (it overrides only when
//!   above 0), and `alarm_mail`, `alarm_gsm` and the list keys add to the global list.
//! - Within one section a repeated key takes the later value, but `alarm_gsm` and the
//!   list keys add up.

use crate::ini::{Entry, Section};

/// Keys whose lines add up: within a section, and from `[global]` to the service's
/// own section.
pub const APPENDING_KEYS: &[&str] = &["alarm_gsm", "env", "env_unset", "watch", "watch_exclude"];

/// Keys that add to `[global]`'s list from the service's own section, but of which
/// one section keeps its last line.
const OVERRIDE_APPENDS: &[&str] = &["alarm_mail"];

/// The legacy counts: a service's own 0 keeps the global value.
const LEGACY_COUNTS: &[&str] = &["alarm_interval", "max_tries", "max_tries_if_coredumped"];

/// The entries that apply to `service`, in the order [`super::Config::from_entries`]
/// applies them (later ones win).
pub fn select(sections: &[Section], service: &str) -> Vec<Entry> {
    let own = sections.iter().position(|s| s.name == service);
    let global = sections.iter().position(|s| s.name == "global");
    match (own, global) {
        (Some(o), Some(g)) if o > g => merge(&sections[g], &sections[o]),
        (Some(only), _) | (None, Some(only)) => one_section(&sections[only]),
        (None, None) => Vec::new(),
    }
}

/// A section read alone: of a key that one section keeps once, the last line.
fn one_section(s: &Section) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(s.entries.len());
    for e in &s.entries {
        if OVERRIDE_APPENDS.contains(&e.key.as_str()) {
            out.retain(|m| m.key != e.key);
        }
        out.push(e.clone());
    }
    out
}

/// `[global]` overridden by the service's own section after it.
fn merge(global: &Section, own: &Section) -> Vec<Entry> {
    let mut merged = one_section(global);
    for e in &own.entries {
        let key = e.key.as_str();
        if e.value.is_empty() || (LEGACY_COUNTS.contains(&key) && is_zero(&e.value)) {
            continue;
        }
        if !APPENDING_KEYS.contains(&key) && !OVERRIDE_APPENDS.contains(&key) {
            merged.retain(|m| m.key != e.key);
        }
        merged.push(e.clone());
    }
    merged
}

fn is_zero(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(text: &str) -> Vec<Section> {
        super::super::syntax::parse(text.as_bytes()).sections
    }

    fn values(text: &str, service: &str, key: &str) -> Vec<String> {
        select(&sections(text), service)
            .into_iter()
            .filter(|e| e.key == key)
            .map(|e| e.value)
            .collect()
    }

    #[test]
    fn own_section_after_global_overrides_by_the_legacy_rules() {
        let text = "[global]\nalarm_interval : 60\nmax_tries : 5\nalarm_mail : g@x\n\
                    alarm_gsm : 111\nstop_timeout : 3\n\
                    [app]\nalarm_interval :\nmax_tries : 0\nalarm_mail : a@x\nalarm_gsm : 222\n\
                    stop_timeout : 0\n";
        assert_eq!(
            values(text, "app", "alarm_interval"),
            vec!["60"],
            "empty keeps"
        );
        assert_eq!(values(text, "app", "max_tries"), vec!["5"], "0 keeps");
        assert_eq!(values(text, "app", "alarm_mail"), vec!["g@x", "a@x"]);
        assert_eq!(values(text, "app", "alarm_gsm"), vec!["111", "222"]);
        assert_eq!(
            values(text, "app", "stop_timeout"),
            vec!["0"],
            "ours: 0 is 0"
        );
    }

    #[test]
    fn one_section_keeps_its_last_mail_line_and_adds_up_gsm() {
        let text = "[global]\nalarm_mail : a@x\nalarm_mail : b@x\nalarm_gsm : 1\nalarm_gsm : 2\n";
        assert_eq!(values(text, "app", "alarm_mail"), vec!["b@x"]);
        assert_eq!(values(text, "app", "alarm_gsm"), vec!["1", "2"]);
    }

    #[test]
    fn own_section_first_stands_alone() {
        let text = "[app]\nmax_tries : 0\n[global]\nmax_tries : 9\n";
        assert_eq!(values(text, "app", "max_tries"), vec!["0"]);
        assert_eq!(values(text, "other", "max_tries"), vec!["9"]);
        assert!(values("[other]\nmax_tries : 1\n", "app", "max_tries").is_empty());
    }
}
