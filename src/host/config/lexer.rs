//! One file's text into [`Section`]s, by the rules of the parser supervisord reads
//! with (Python 3's `RawConfigParser` with `inline_comment_prefixes=(';', '#')` and
//! `strict=False`):
//!
//! - a line whose first non-blank character is `#` or `;` is a comment; elsewhere `;`
//!   or `#` starts a comment when it begins the line or follows white space (found the
//!   way Python finds it, one occurrence of each prefix per round);
//! - `[name]` opens a section (the name is everything up to the last `]`, as
//!   written); anything else before the first header is an error;
//! - `key = value` or `key: value`, split at the first `=` or `:`; the key lowercased;
//! - a line indented deeper than its key's line continues the value, joined with a
//!   newline; a blank line inside a value is kept as an empty line there, and trailing
//!   ones are dropped;
//! - lines end at `\n`, `\r\n` or `\r` ([`ini::lines`]).
//!
//! A repeated section or key is returned as it appears: merging them (the later key
//! wins) is the store's job ([`super::store`]), as it spans files.

use super::python::{self, is_space, repr};
use crate::ini::{self, Entry, LineError, Section};
use std::path::Path;

/// The sections of one file, in order, a header that repeats appearing again.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Section>, LineError> {
    let mut lexer = Lexer::default();
    for (n, line) in ini::lines(text) {
        lexer
            .line(n, line)
            .map_err(|message| LineError::new(file, n, message))?;
    }
    Ok(lexer.finish())
}

/// The parser's state between lines.
#[derive(Default)]
struct Lexer {
    sections: Vec<Section>,
    /// Whether the last entry of the last section is still open to continuation.
    open: bool,
    /// Indentation of the last line that was not a continuation.
    indent: usize,
}

impl Lexer {
    fn line(&mut self, n: usize, line: &str) -> Result<(), String> {
        let comment = comment_start(line);
        let value = python::strip(&line[..comment.unwrap_or(line.len())]);
        if value.is_empty() {
            if comment.is_none() {
                self.append("");
            }
            return Ok(());
        }
        let indent = line.chars().take_while(|&c| is_space(c)).count();
        if self.open && indent > self.indent {
            self.append(value);
            return Ok(());
        }
        self.indent = indent;
        self.statement(n, line, value)
    }

    /// A header or a `key = value` line.
    fn statement(&mut self, n: usize, line: &str, value: &str) -> Result<(), String> {
        if let Some(name) = header(value) {
            self.sections.push(Section {
                name: name.to_string(),
                line: n,
                entries: Vec::new(),
            });
            self.open = false;
            return Ok(());
        }
        let section = self
            .sections
            .last_mut()
            .ok_or_else(|| format!("file contains no section headers: {}", repr(line)))?;
        let (key, value) = option(value).ok_or_else(|| {
            format!(
                "parsing error: {} is not a [section] header or a key = value line",
                repr(line)
            )
        })?;
        section.entries.push(Entry {
            key,
            value: value.to_string(),
            line: n,
        });
        self.open = true;
        Ok(())
    }

    /// Continues the open value with one more line.
    fn append(&mut self, text: &str) {
        let entry = self.sections.last_mut().and_then(|s| s.entries.last_mut());
        if let (true, Some(entry)) = (self.open, entry) {
            entry.value.push('\n');
            entry.value.push_str(text);
        }
    }

    fn finish(mut self) -> Vec<Section> {
        for entry in self.sections.iter_mut().flat_map(|s| s.entries.iter_mut()) {
            let len = python::rstrip(&entry.value).len();
            entry.value.truncate(len);
        }
        self.sections
    }
}

/// Where a comment starts in `line`, as Python finds it: a full-line comment at 0;
/// else, round by round, the next `;` and the next `#`, the first round where one of
/// them begins the line or follows white space deciding (so a later round's earlier
/// match never counts).
fn comment_start(line: &str) -> Option<usize> {
    let stripped = python::strip(line);
    if stripped.starts_with('#') || stripped.starts_with(';') {
        return Some(0);
    }
    let mut last: Vec<(char, Option<usize>)> = vec![(';', None), ('#', None)];
    while !last.is_empty() {
        let mut found = None;
        let mut next = Vec::new();
        for (prefix, prev) in last {
            let from = prev.map_or(0, |i| i + 1);
            let Some(i) = line[from..].find(prefix).map(|i| i + from) else {
                continue;
            };
            next.push((prefix, Some(i)));
            let after_space = line[..i].chars().next_back().is_none_or(is_space);
            if after_space {
                found = Some(found.map_or(i, |f: usize| f.min(i)));
            }
        }
        if found.is_some() {
            return found;
        }
        last = next;
    }
    None
}

/// The name of a `[name]` header: from after the `[` to the last `]`, at least one
/// character long.
fn header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// `key = value` or `key: value`: split at the first `=` or `:`, the key lowercased
/// and not empty.
fn option(value: &str) -> Option<(String, &str)> {
    let at = value.find(['=', ':'])?;
    let key = python::rstrip(&value[..at]);
    if key.is_empty() {
        return None;
    }
    Some((key.to_lowercase(), python::strip(&value[at + 1..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Vec<Section> {
        parse(text, Path::new("t.conf")).unwrap()
    }

    /// `(section, key, value, line)` for every entry.
    fn flat(text: &str) -> Vec<(String, String, String, usize)> {
        parse_ok(text)
            .into_iter()
            .flat_map(|s| {
                s.entries
                    .into_iter()
                    .map(move |e| (s.name.clone(), e.key, e.value, e.line))
            })
            .collect()
    }

    fn values(text: &str) -> Vec<String> {
        flat(text).into_iter().map(|(_, _, v, _)| v).collect()
    }

    #[test]
    fn keys_values_and_delimiters() {
        let text = "[program:web]\ncommand = python app.py\nAutoStart: true\n\
                    environment=A=\"1\",B=2\nurl = http://x:80/\n";
        let got = flat(text);
        assert_eq!(
            got[0],
            (
                "program:web".into(),
                "command".into(),
                "python app.py".into(),
                2
            )
        );
        assert_eq!(got[1].1, "autostart");
        assert_eq!(got[1].2, "true");
        assert_eq!(got[2].2, "A=\"1\",B=2");
        assert_eq!(got[3].2, "http://x:80/");
    }

    #[test]
    fn comments_start_after_white_space_only() {
        let text = "; top\n# also\n[a]\nk = v ; c\nl = v;not\nm = v # c\nn = v#not\n  ; indented\n\
                    o = a;b ;x #c\n";
        // The last row is Python's round-by-round search: the `#` found in the first
        // round wins over the earlier `;` found in the second.
        assert_eq!(values(text), ["v", "v;not", "v", "v#not", "a;b ;x"]);
    }

    #[test]
    fn continuation_lines_join_with_newlines() {
        let text = "[a]\nk = one\n  two\n\n    three\n\nl = x\n   ; c\n   y\n\n\n[b]\nm = z\n";
        assert_eq!(values(text), ["one\ntwo\n\nthree", "x\ny", "z"]);
    }

    #[test]
    fn a_header_is_never_continued() {
        let text = "[a]\n  k = 1\n  [b]\nl = 2\n";
        let got = flat(text);
        // `  [b]` is indented like `  k = 1`, not deeper: a header.
        assert_eq!(got[0], ("a".into(), "k".into(), "1".into(), 2));
        assert_eq!(got[1], ("b".into(), "l".into(), "2".into(), 4));
    }

    #[test]
    fn crlf_and_lone_cr() {
        assert_eq!(values("[a]\r\nk = v\r\nl = w\rm = x"), ["v", "w", "x"]);
    }

    #[test]
    fn repeated_sections_and_keys_are_returned_in_order() {
        let s = parse_ok("[a]\nk=1\nk=2\n[b]\n[a]\nk=3\n");
        let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "a"]);
        assert_eq!(s[0].entries.len(), 2);
    }

    #[test]
    fn headers_as_python_reads_them() {
        assert_eq!(header("[program:x]"), Some("program:x"));
        assert_eq!(header("[a]b]"), Some("a]b"));
        assert_eq!(header("[a] trailing"), Some("a"));
        assert_eq!(header("[]]"), Some("]"));
        assert_eq!(header("[]"), None);
        assert_eq!(header("[a"), None);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = parse("k = v\n", Path::new("/etc/s.conf")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/s.conf:1: file contains no section headers: 'k = v'"
        );
        let e = parse("[a]\nk = v\njunk\n", Path::new("s.conf")).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("'junk'"), "{e}");
        let e = parse("[a]\n= v\n", Path::new("s.conf")).unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("; c\n\n[]\n", Path::new("s.conf")).unwrap_err();
        assert_eq!(e.line, 3);
    }
}
