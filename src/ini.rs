//! The vocabulary both config readers share: a file is a list of `[name]` sections of
//! `key`/value entries, and every problem is a [`LineError`] that names the file and
//! the line, shown as `FILE:LINE: what`.
//!
//! The readers keep their own rules on top (the legacy `supervise.conf` of
//! [`crate::config`], supervisord's format in [`crate::host::config`]): two readers
//! with one vocabulary, not one reader with a flag per dialect.

use std::fmt;
use std::path::PathBuf;

/// One `key = value` line (with its continuation lines, if the dialect has them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, as the dialect spells it (supervisord's: lowercased).
    pub key: String,
    /// The value, trimmed.
    pub value: String,
    /// 1-based line number of the key.
    pub line: usize,
}

/// A `[name]` section and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name between the brackets, as written.
    pub name: String,
    /// Line of the header.
    pub line: usize,
    /// Its entries in file order.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The entry for `key`, the last one when the key is repeated.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }
}

/// A problem at a line of a file (line 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The file, as the reader named it.
    pub file: PathBuf,
    /// 1-based line number, 0 for the whole file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl LineError {
    /// An error at `line` of `file`.
    pub fn new(file: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> LineError {
        LineError {
            file: file.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file.display(), self.message),
            n => write!(f, "{}:{n}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for LineError {}

/// The lines of `text` with their 1-based numbers, split as Python's text files split
/// them ("universal newlines"): at `\n`, `\r\n` and a lone `\r`. The terminator is not
/// part of the line.
pub fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text;
    let mut n = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = rest.get(end + skip..).unwrap_or("");
        n += 1;
        Some((n, line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_every_kind_of_newline() {
        let got: Vec<_> = lines("a\nb\r\nc\rd\n\ne").collect();
        assert_eq!(
            got,
            vec![(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, ""), (6, "e")]
        );
        assert_eq!(lines("x\r\n").collect::<Vec<_>>(), vec![(1, "x")]);
        assert_eq!(lines("").count(), 0);
    }

    #[test]
    fn errors_show_file_and_line() {
        let e = LineError::new("/etc/x.conf", 7, "bad");
        assert_eq!(e.to_string(), "/etc/x.conf:7: bad");
        assert_eq!(LineError::new("x", 0, "gone").to_string(), "x: gone");
    }

    #[test]
    fn the_last_repeated_key_wins() {
        let entry = |key: &str, value: &str, line| Entry {
            key: key.into(),
            value: value.into(),
            line,
        };
        let s = Section {
            name: "a".into(),
            line: 1,
            entries: vec![entry("k", "1", 2), entry("k", "2", 3)],
        };
        assert_eq!(s.get("k").map(|e| e.value.as_str()), Some("2"));
        assert!(s.get("j").is_none());
    }
}
