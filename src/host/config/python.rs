//! The few rules of Python's strings, numbers and paths that supervisord's behaviour
//! rests on: what `str.isspace`, `strip`, `split`, `int()` and `repr` do, and
//! `os.path`'s `normpath`, `join`, `dirname` and `expanduser`. Reproduced here so the
//! reader accepts exactly what supervisord accepts, and words its errors the same.

/// `str.isspace` for one character: Unicode white space, plus the four ASCII
/// separators (`\x1c`..`\x1f`) that Python counts and Rust does not.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// `str.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `str.rstrip()`.
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// `str.split()` with no argument: the words between runs of white space.
pub fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|w| !w.is_empty())
}

/// Whether `c` is printed as itself by `repr`: not a control, format or separator
/// character (an approximation of `str.isprintable` good for error messages).
fn printable(c: char) -> bool {
    let u = c as u32;
    !(u < 0x20
        || (0x7f..=0xa0).contains(&u)
        || u == 0xad
        || u == 0x1680
        || (0x2000..=0x200f).contains(&u)
        || (0x2028..=0x202f).contains(&u)
        || (0x205f..=0x206f).contains(&u)
        || u == 0x3000
        || u == 0xfeff)
}

/// `repr(s)`: single quotes unless `s` holds one and no double quote.
pub fn repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        push_escaped(&mut out, c, quote);
    }
    out.push(quote);
    out
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if printable(c) => out.push(c),
        c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// `ascii(s)`: `repr` with every non-ASCII character escaped.
pub fn ascii(s: &str) -> String {
    repr(s)
        .chars()
        .map(|c| match c as u32 {
            0..0x80 => c.to_string(),
            u @ 0x80..0x100 => format!("\\x{u:02x}"),
            u @ 0x100..0x10000 => format!("\\u{u:04x}"),
            u => format!("\\U{u:08x}"),
        })
        .collect()
}

/// `int(s, base)` for base 8 or 10: white space around, a sign, digits with single
/// underscores between them, and for base 8 an optional `0o` prefix. ASCII digits
/// only (Python also takes other scripts' digits).
pub fn int(s: &str, base: u32) -> Result<i64, String> {
    let bad = || format!("invalid literal for int() with base {base}: {}", repr(s));
    let t = strip(s);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let t = match base {
        8 => t
            .strip_prefix("0o")
            .or_else(|| t.strip_prefix("0O"))
            .map(|r| r.strip_prefix('_').unwrap_or(r))
            .unwrap_or(t),
        _ => t,
    };
    let n = digits(t, base).ok_or_else(bad)?;
    Ok(if negative { -n } else { n })
}

/// The value of `t`: digits of `base` with single underscores between them.
fn digits(t: &str, base: u32) -> Option<i64> {
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    t.chars().filter(|&c| c != '_').try_fold(0i64, |n, c| {
        let d = c.to_digit(base)?;
        n.checked_mul(i64::from(base))?.checked_add(i64::from(d))
    })
}

/// `os.path.normpath` (POSIX): no `.`, no `x/..`, no doubled `/`; exactly two leading
/// slashes are kept, as POSIX allows them a meaning.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let lead = match path {
        p if p.starts_with("//") && !p.starts_with("///") => "//",
        p if p.starts_with('/') => "/",
        _ => "",
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        match part {
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if !lead.is_empty() => {}
            _ => parts.push(part),
        }
    }
    let joined = lead.to_string() + &parts.join("/");
    if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// `os.path.join(a, b)` (POSIX): `b` if it is absolute, else `a/b`.
pub fn join(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        b.to_string()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// `os.path.dirname` (POSIX): everything before the last `/`, trailing slashes
/// removed unless it is all slashes.
pub fn dirname(path: &str) -> &str {
    let head = path.rfind('/').map_or("", |i| &path[..=i]);
    match head.trim_end_matches('/') {
        "" => head,
        trimmed => trimmed,
    }
}

/// `os.path.abspath`: `path` made absolute against `cwd`, then normalized.
pub fn abspath(cwd: &str, path: &str) -> String {
    normpath(&join(cwd, path))
}

/// `os.path.expanduser`: a leading `~` or `~user` replaced by the home directory that
/// `home` gives (`None` asks for the current user's); unchanged if it has none.
pub fn expanduser(path: &str, home: impl Fn(Option<&str>) -> Option<String>) -> String {
    let Some(rest) = path.strip_prefix('~') else {
        return path.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let user = (end > 0).then(|| &rest[..end]);
    match home(user) {
        Some(h) => {
            let joined = h.trim_end_matches('/').to_string() + &rest[end..];
            if joined.is_empty() {
                "/".into()
            } else {
                joined
            }
        }
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_space_is_pythons() {
        assert!(is_space('\x1c') && is_space('\u{3000}') && is_space('\t'));
        assert!(!is_space('x') && !is_space('\u{200b}'));
        assert_eq!(strip("\x1f a b \n"), "a b");
        assert_eq!(split(" a \tb\n c ").collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn repr_quotes_and_escapes_as_python() {
        // Expected values printed by Python 3.11.
        assert_eq!(repr("x"), "'x'");
        assert_eq!(repr("it's"), "\"it's\"");
        assert_eq!(repr("it's \"q\""), "'it\\'s \"q\"'");
        assert_eq!(
            repr("a\nb\x01\x7f\u{e9}\u{2028}\t"),
            "'a\\nb\\x01\\x7f\u{e9}\\u2028\\t'"
        );
        assert_eq!(ascii("\u{e9}\u{2028}"), "'\\xe9\\u2028'");
    }

    #[test]
    fn int_accepts_what_python_accepts() {
        let ok: &[(&str, u32, i64)] = &[
            (" 12 ", 10, 12),
            ("+5", 10, 5),
            ("-5", 10, -5),
            ("1_000", 10, 1000),
            ("0010", 10, 10),
            ("022", 8, 18),
            ("0o22", 8, 18),
            ("-7", 8, -7),
        ];
        for &(s, base, n) in ok {
            assert_eq!(int(s, base), Ok(n), "{s:?}");
        }
        for s in ["", "_1", "1__0", "1_", "1.5", "0x10", "ten", "- 1"] {
            assert!(int(s, 10).is_err(), "{s:?}");
        }
        assert_eq!(
            int("8", 8),
            Err("invalid literal for int() with base 8: '8'".into())
        );
        assert_eq!(
            int("abc", 10),
            Err("invalid literal for int() with base 10: 'abc'".into())
        );
    }

    #[test]
    fn paths_as_os_path() {
        let rows = [
            ("", "."),
            ("/a/./b//c/", "/a/b/c"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("//a", "//a"),
            ("///a", "/a"),
            ("a/b/../c", "a/c"),
        ];
        for (p, want) in rows {
            assert_eq!(normpath(p), want, "{p:?}");
        }
        assert_eq!(join("/etc", "x.conf"), "/etc/x.conf");
        assert_eq!(join("/etc/", "x"), "/etc/x");
        assert_eq!(join("/etc", "/abs"), "/abs");
        assert_eq!(dirname("/etc/x.conf"), "/etc");
        assert_eq!(dirname("x.conf"), "");
        assert_eq!(dirname("/x"), "/");
        assert_eq!(dirname("a//b"), "a");
        assert_eq!(abspath("/srv", "../etc/./s.conf"), "/etc/s.conf");
    }

    #[test]
    fn expanduser_replaces_a_leading_tilde() {
        let home = |u: Option<&str>| match u {
            None => Some("/root/".to_string()),
            Some("bob") => Some("/home/bob".to_string()),
            Some(_) => None,
        };
        assert_eq!(expanduser("~/log", home), "/root/log");
        assert_eq!(expanduser("~bob/x", home), "/home/bob/x");
        assert_eq!(expanduser("~nobody/x", home), "~nobody/x");
        assert_eq!(expanduser("/a/~", home), "/a/~");
        assert_eq!(expanduser("~", |_| Some("/".into())), "/");
    }
}
