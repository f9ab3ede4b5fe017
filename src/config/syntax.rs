//! The legacy syntax, read as leniently as the legacy tool read it: one shared
//! `supervise.conf` serves a whole product line, so a stray line must never stop a
//! service. A line that cannot be read is a warning naming its line, and is skipped;
//! only a bad value for a key that applies to the service is an error (that is
//! [`super::Config::from_entries`]'s to say).
//!
//! - `[name]` in column 0 starts a section; text after the `]` is ignored (warned);
//!   a header without `]`, or with blanks in the name, starts a section no service
//!   has (legacy: any line starting with `[` ends the section before it).
//! - `key : value` in column 0; blanks around the `:`; a `#` or `;` after a blank
//!   starts a comment; an indented line, a line without `:`, a key of other characters
//!   than letters, digits and `_` are skipped with a warning, as is a key before any
//!   section.
//! - Lines starting with `#` or `;` (after blanks or not) are comments; blank lines and
//!   CRLF ends are fine.
//! - The file is bytes, not necessarily UTF-8 (old files are GBK): keys are ASCII,
//!   comments are skipped unread, and a value that is not UTF-8 keeps its bytes
//!   through [`decode`]/[`encode`] for the keys that only pass it on (`alarm_gsm`).

use crate::ini::{Entry, LineError, Section};

/// Sections, and the lines that were skipped with why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// The sections in file order.
    pub sections: Vec<Section>,
    /// One per skipped line (the file is named by the caller).
    pub warnings: Vec<LineError>,
}

/// Invalid UTF-8 bytes are kept in text as these private-use characters (byte `b` as
/// `U+F700 + b`), so that a value can be passed on byte for byte.
const BYTE_BASE: u32 = 0xF700;

/// Bytes as text: UTF-8 as it is, any other byte as a private-use character (and the
/// bytes of a character of that private range itself too, so that [`encode`] gives
/// back exactly the bytes read).
pub fn decode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let escape = |out: &mut String, b: u8| {
        out.push(char::from_u32(BYTE_BASE + u32::from(b)).unwrap_or('\u{fffd}'));
    };
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_escape(c) {
                c.encode_utf8(&mut [0; 4])
                    .bytes()
                    .for_each(|b| escape(&mut out, b));
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            escape(&mut out, b);
        }
    }
    out
}

/// A character that stands for a byte.
fn is_escape(c: char) -> bool {
    (BYTE_BASE + 0x80..=BYTE_BASE + 0xFF).contains(&u32::from(c))
}

/// The inverse of [`decode`].
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match u32::from(c).checked_sub(BYTE_BASE) {
            Some(b @ 0x80..=0xFF) => out.push(b as u8),
            _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// Whether [`decode`] gave this text from bytes that were not UTF-8.
pub fn has_raw_bytes(text: &str) -> bool {
    text.chars().any(is_escape)
}

fn warn(line: usize, message: impl Into<String>) -> LineError {
    LineError::new("", line, message)
}

/// The value of a `key : value` line: trimmed, a trailing comment cut off.
fn value(raw: &[u8]) -> String {
    let raw = raw.trim_ascii();
    let cut = raw
        .windows(2)
        .position(|w| w[0].is_ascii_whitespace() && (w[1] == b'#' || w[1] == b';'))
        .unwrap_or(raw.len());
    decode(raw[..cut].trim_ascii())
}

/// A `[...]` line: the section it starts, and a warning if it is not a clean header.
fn header(line: usize, text: &[u8]) -> (Section, Option<LineError>) {
    let section = |name: String| Section {
        name,
        line,
        entries: Vec::new(),
    };
    let Some(end) = text.iter().position(|&b| b == b']') else {
        let w = warn(line, "section header has no closing ]: no service reads it");
        return (section(decode(text)), Some(w));
    };
    let name = decode(&text[1..end]);
    let rest = text[end + 1..].trim_ascii();
    let w = if name.is_empty() || name.chars().any(char::is_whitespace) {
        Some(warn(
            line,
            "section name empty or with blanks: no service reads it",
        ))
    } else if !rest.is_empty() && !rest.starts_with(b"#") && !rest.starts_with(b";") {
        Some(warn(line, "text after the section header ignored"))
    } else {
        None
    };
    (section(name), w)
}

/// A `key : value` line, or why it is skipped.
fn entry(line: usize, text: &[u8]) -> Result<Entry, LineError> {
    if text[0].is_ascii_whitespace() {
        return Err(warn(line, "keys start in column 0: line ignored"));
    }
    let Some(colon) = text.iter().position(|&b| b == b':') else {
        return Err(warn(line, "not `key : value`: line ignored"));
    };
    let key = text[..colon].trim_ascii_end();
    if key.is_empty() || !key.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return Err(warn(
            line,
            "not a key (letters, digits and _ only): line ignored",
        ));
    }
    Ok(Entry {
        key: decode(key),
        value: value(&text[colon + 1..]),
        line,
    })
}

/// Splits the file into sections, skipping (with a warning) what cannot be read.
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut p = Parsed::default();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let text = raw.trim_ascii_end();
        let first = text.iter().find(|b| !b.is_ascii_whitespace());
        if matches!(first, None | Some(b'#' | b';')) {
            continue;
        }
        if text[0] == b'[' {
            let (section, w) = header(line, text);
            p.sections.push(section);
            p.warnings.extend(w);
            continue;
        }
        match (entry(line, text), p.sections.last_mut()) {
            (Ok(e), Some(s)) => s.entries.push(e),
            (Ok(_), None) => p
                .warnings
                .push(warn(line, "a key before any [section]: line ignored")),
            (Err(w), _) => p.warnings.push(w),
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_warned(text: &[u8]) -> Vec<usize> {
        parse(text).warnings.iter().map(|w| w.line).collect()
    }

    #[test]
    fn what_cannot_be_read_is_skipped_with_its_line() {
        let text = b"# comment\n; also\n\n[global]\nmax_tries : 3 # three\n  indented : 1\n\
                     junk\nmax tries : 4\n[x] trailing\nalarm_mail : a@b ; note\n[ y ]\n[global\n";
        let p = parse(text);
        assert_eq!(lines_warned(text), vec![6, 7, 8, 9, 11, 12]);
        assert_eq!(p.sections[0].name, "global");
        assert_eq!(p.sections[0].entries.len(), 1);
        assert_eq!(p.sections[0].entries[0].value, "3");
        assert_eq!(p.sections[1].name, "x");
        assert_eq!(p.sections[1].entries[0].value, "a@b");
        assert_eq!(p.sections[2].name, " y ");
        assert_eq!(p.sections[3].name, "[global");
    }

    #[test]
    fn crlf_blanks_and_keys_before_sections() {
        let p = parse(b"max_tries : 1\r\n[global]\r\n   \r\nmax_tries:2\r\n");
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(p.warnings[0].line, 1);
        assert_eq!(p.sections[0].entries[0].value, "2");
    }

    #[test]
    fn bytes_that_are_not_utf8_survive() {
        // GBK: a comment, and a value passed on as it is.
        let gbk_comment = b"# \xc5\xe4\xd6\xc3\n[global]\nalarm_gsm : 1 \xd7\xe9\n";
        let p = parse(gbk_comment);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let v = &p.sections[0].entries[0].value;
        assert!(has_raw_bytes(v));
        assert_eq!(encode(v), b"1 \xd7\xe9");
        assert_eq!(encode("plain é"), "plain é".as_bytes());
        assert!(!has_raw_bytes("plain é"));
        // A character of the escape range itself round-trips too.
        let pua = "a\u{F7A0}b".as_bytes();
        assert_eq!(encode(&decode(pua)), pua);
    }
}
