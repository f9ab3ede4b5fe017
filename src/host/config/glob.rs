//! Python's `glob.glob` (not recursive) over a [`System`], as supervisord expands the
//! patterns of `[include] files=`: `*`, `?` and `[...]` within one path component,
//! names starting with `.` matched only by a pattern starting with `.`, a pattern
//! with no magic character returned as it is if something is there. The order is the
//! directory's; supervisord sorts the result.

use super::python;
use super::system::System;

/// The paths that match `pattern`.
pub fn glob(sys: &dyn System, pattern: &str) -> Vec<String> {
    iglob(sys, pattern, false)
}

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// `os.path.split`: the directory part (as [`python::dirname`]) and the last part.
fn split(path: &str) -> (&str, &str) {
    let tail = path.rfind('/').map_or(path, |i| &path[i + 1..]);
    (python::dirname(path), tail)
}

fn iglob(sys: &dyn System, pattern: &str, dir_only: bool) -> Vec<String> {
    let (dir, base) = split(pattern);
    if !has_magic(pattern) {
        return present(sys, dir, base)
            .then(|| pattern.to_string())
            .into_iter()
            .collect();
    }
    let dirs = if !dir.is_empty() && dir != pattern && has_magic(dir) {
        iglob(sys, dir, true)
    } else {
        vec![dir.to_string()]
    };
    let mut out = Vec::new();
    for d in dirs {
        let joined = names_in(sys, &d, base, dir_only)
            .into_iter()
            .map(|name| match d.as_str() {
                "" => name,
                d => python::join(d, &name),
            });
        out.extend(joined);
    }
    out
}

/// Whether `base` is in `dir` (with no magic in `base`): something there, or for an
/// empty `base` (a pattern ending in `/`), `dir` is a directory.
fn present(sys: &dyn System, dir: &str, base: &str) -> bool {
    match base {
        "" => sys.is_dir(dir),
        _ => sys.exists(&python::join(dir, base)),
    }
}

/// The names in `dir` that `base` matches: by pattern if it has magic, else itself
/// if something is there. Names starting with `.` only match a pattern that does.
fn names_in(sys: &dyn System, dir: &str, base: &str, dir_only: bool) -> Vec<String> {
    if !has_magic(base) {
        return present(sys, dir, base)
            .then(|| base.to_string())
            .into_iter()
            .collect();
    }
    let hidden_ok = base.starts_with('.');
    let listed = sys.list_dir(dir).unwrap_or_default().into_iter();
    listed
        .filter(|(name, is_dir)| (!dir_only || *is_dir) && (hidden_ok || !name.starts_with('.')))
        .filter(|(name, _)| fnmatch(name, base))
        .map(|(name, _)| name)
        .collect()
}

/// One element of a translated pattern.
#[derive(Debug, PartialEq, Eq)]
enum Tok {
    /// `*`: any run of characters.
    Star,
    /// `?`: one character.
    One,
    /// `[...]` or `[!...]`: one character in (or not in) the ranges.
    Class(bool, Vec<(char, char)>),
    /// Itself.
    Lit(char),
}

/// `fnmatch.fnmatchcase(name, pattern)`.
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    let toks = translate(pattern);
    let name: Vec<char> = name.chars().collect();
    matches(&toks, &name)
}

fn translate(pattern: &str) -> Vec<Tok> {
    let p: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let (tok, next) = match p[i] {
            '*' => (Tok::Star, i + 1),
            '?' => (Tok::One, i + 1),
            '[' => class(&p, i + 1).unwrap_or((Tok::Lit('['), i + 1)),
            c => (Tok::Lit(c), i + 1),
        };
        if !(tok == Tok::Star && toks.last() == Some(&Tok::Star)) {
            toks.push(tok);
        }
        i = next;
    }
    toks
}

/// The class whose body starts at `p[start]` (after the `[`), and where it ends;
/// `None` if no `]` closes it (the `[` is then literal). A `]` first in the body is
/// part of it; a range whose ends are reversed matches nothing.
fn class(p: &[char], start: usize) -> Option<(Tok, usize)> {
    let negate = p.get(start) == Some(&'!');
    let body = start + usize::from(negate);
    let first_end = body + usize::from(p.get(body) == Some(&']'));
    let end = (first_end..p.len()).find(|&j| p[j] == ']')?;
    let mut ranges = Vec::new();
    let mut j = body;
    while j < end {
        if j + 2 < end && p[j + 1] == '-' {
            if p[j] <= p[j + 2] {
                ranges.push((p[j], p[j + 2]));
            }
            j += 3;
        } else {
            ranges.push((p[j], p[j]));
            j += 1;
        }
    }
    Some((Tok::Class(negate, ranges), end + 1))
}

/// Whether `toks` match all of `name`, backtracking over the last `*` only (enough,
/// as every other token takes exactly one character).
fn matches(toks: &[Tok], name: &[char]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match toks.get(t) {
            Some(Tok::Star) => {
                star = Some((t, n));
                t += 1;
            }
            Some(tok) if one(tok, name[n]) => {
                t += 1;
                n += 1;
            }
            _ => match star {
                Some((st, sn)) => {
                    star = Some((st, sn + 1));
                    t = st + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    toks[t..].iter().all(|tok| *tok == Tok::Star)
}

fn one(tok: &Tok, c: char) -> bool {
    match tok {
        Tok::One => true,
        Tok::Lit(l) => *l == c,
        Tok::Class(negate, ranges) => ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negate,
        Tok::Star => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::config::system::MemSystem;

    #[test]
    fn fnmatch_as_python() {
        let rows = [
            ("a.conf", "*.conf", true),
            (".hidden.conf", "*.conf", true),
            ("a.conf", "?.conf", true),
            ("ab.conf", "?.conf", false),
            ("a1", "a[0-9]", true),
            ("ax", "a[!0-9]", true),
            ("a1", "a[!0-9]", false),
            ("a]", "a[]]", true),
            ("a[", "a[", true),
            ("b", "[z-a]", false),
            ("abc", "a*c", true),
            ("abcbc", "a*bc", true),
            ("ab", "a**b", true),
            ("x.ini", "*.conf", false),
            ("", "*", true),
        ];
        for (name, pattern, want) in rows {
            assert_eq!(fnmatch(name, pattern), want, "{name} {pattern}");
        }
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn globs_over_a_directory_tree() {
        let sys = MemSystem::new()
            .file("/etc/s/conf.d/b.conf", "")
            .file("/etc/s/conf.d/a.conf", "")
            .file("/etc/s/conf.d/.hidden.conf", "")
            .file("/etc/s/conf.d/notes.txt", "")
            .file("/etc/s/extra/x.conf", "")
            .file("/etc/s/one.conf", "");
        assert_eq!(
            sorted(glob(&sys, "/etc/s/conf.d/*.conf")),
            ["/etc/s/conf.d/a.conf", "/etc/s/conf.d/b.conf"]
        );
        assert_eq!(
            glob(&sys, "/etc/s/conf.d/.*.conf"),
            ["/etc/s/conf.d/.hidden.conf"]
        );
        assert_eq!(
            sorted(glob(&sys, "/etc/s/*/?.conf")),
            [
                "/etc/s/conf.d/a.conf",
                "/etc/s/conf.d/b.conf",
                "/etc/s/extra/x.conf"
            ]
        );
        assert_eq!(glob(&sys, "/etc/s/one.conf"), ["/etc/s/one.conf"]);
        assert!(glob(&sys, "/etc/s/missing.conf").is_empty());
        assert!(glob(&sys, "/etc/nope/*.conf").is_empty());
    }
}
