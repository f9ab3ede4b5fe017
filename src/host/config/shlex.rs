//! The tokenizer under supervisord's `environment=` values: Python's `shlex.shlex` in
//! its default, non-POSIX mode, with `/.+-():` added to the word characters, which is
//! what `datatypes.dict_of_key_value_pairs` reads `KEY="val",KEY2=val` with.
//!
//! Non-POSIX mode has few rules and some surprises, all kept: a quoted string is one
//! token that keeps its quotes; a quote inside a word is just part of the word; any
//! other character that is not a word character (`,`, `=`, `@`, `*`, `é`...) is a token
//! of its own; `#` skips to the end of the line but does not end a word.

/// What the tokenizer is in the middle of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between tokens.
    Blank,
    /// In a word.
    Word,
    /// In a string opened by this quote.
    Quoted(char),
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_/.+-():".contains(c)
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The tokens of `s`, or `No closing quotation`.
pub fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut token = String::new();
    let mut state = State::Blank;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '#' && state != State::Blank && !matches!(state, State::Quoted(_)) {
            skip_line(&mut chars);
            continue;
        }
        state = step(state, c, &mut token, &mut out, &mut chars);
    }
    if let State::Quoted(_) = state {
        return Err("No closing quotation".into());
    }
    if !token.is_empty() {
        out.push(token);
    }
    Ok(out)
}

/// Drops the rest of the line, its newline included.
fn skip_line(chars: &mut std::str::Chars<'_>) {
    for c in chars.by_ref() {
        if c == '\n' {
            break;
        }
    }
}

/// One character in `state`; returns the next state.
fn step(
    state: State,
    c: char,
    token: &mut String,
    out: &mut Vec<String>,
    chars: &mut std::str::Chars<'_>,
) -> State {
    match state {
        State::Blank => blank(c, token, out, chars),
        State::Quoted(q) => {
            token.push(c);
            if c == q {
                out.push(std::mem::take(token));
                State::Blank
            } else {
                state
            }
        }
        State::Word if is_word(c) || c == '\'' || c == '"' => {
            token.push(c);
            State::Word
        }
        State::Word => {
            out.push(std::mem::take(token));
            if !is_blank(c) {
                out.push(c.to_string());
            }
            State::Blank
        }
    }
}

/// A character between tokens.
fn blank(
    c: char,
    token: &mut String,
    out: &mut Vec<String>,
    chars: &mut std::str::Chars<'_>,
) -> State {
    match c {
        c if is_blank(c) => State::Blank,
        '#' => {
            skip_line(chars);
            State::Blank
        }
        c if is_word(c) => {
            token.push(c);
            State::Word
        }
        '\'' | '"' => {
            token.push(c);
            State::Quoted(c)
        }
        c => {
            out.push(c.to_string());
            State::Blank
        }
    }
}

/// `dict_of_key_value_pairs`: `KEY=val,KEY2="v, 2"` as pairs in order, a repeated key
/// keeping its first place and its last value. Each pair is three tokens `K = V`; the
/// token after it, whatever it is, is skipped as the separator; quotes are stripped
/// from both ends of a value (not of a key).
pub fn key_value_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let tokens = tokens(s)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for chunk in tokens.chunks(4) {
        let [k, eq, v, ..] = chunk else {
            return Err(format!("Unexpected end of key/value pairs in value '{s}'"));
        };
        if eq != "=" {
            return Err(format!("Unexpected end of key/value pairs in value '{s}'"));
        }
        let v = v.trim_matches(['\'', '"']).to_string();
        match pairs.iter_mut().find(|(key, _)| key == k) {
            Some(pair) => pair.1 = v,
            None => pairs.push((k.clone(), v)),
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        tokens(s).unwrap()
    }

    /// Rows printed by Python 3.11: `l = shlex.shlex(s); l.wordchars += '/.+-():';
    /// list(l)`.
    #[test]
    fn tokenizes_as_python_shlex() {
        let rows: &[(&str, &[&str])] = &[
            ("A=1,B=2", &["A", "=", "1", ",", "B", "=", "2"]),
            (
                "PATH=\"/usr/bin:/bin\",X='a b'",
                &["PATH", "=", "\"/usr/bin:/bin\"", ",", "X", "=", "'a b'"],
            ),
            ("A=x\"y z\"", &["A", "=", "x\"y", "z\""]),
            ("A=\"q\"r", &["A", "=", "\"q\"", "r"]),
            ("A=u@h", &["A", "=", "u", "@", "h"]),
            ("A=x#y\nB", &["A", "=", "xB"]),
            ("# c\nA=1", &["A", "=", "1"]),
            ("A=caf\u{e9}", &["A", "=", "caf", "\u{e9}"]),
            ("  A = 1 ,\n  B = 2", &["A", "=", "1", ",", "B", "=", "2"]),
            ("A=\"\"", &["A", "=", "\"\""]),
        ];
        for &(s, want) in rows {
            assert_eq!(toks(s), want, "{s:?}");
        }
        assert_eq!(tokens("A=\"open"), Err("No closing quotation".into()));
    }

    #[test]
    fn pairs_as_supervisord() {
        let got = key_value_pairs("A=1,B=\"x, y\",C='it',A=2").unwrap();
        let want = [("A", "2"), ("B", "x, y"), ("C", "it")];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(key_value_pairs("").unwrap(), vec![]);
        // Any token separates pairs, not only a comma.
        assert_eq!(key_value_pairs("A=1;B=2").unwrap().len(), 2);
        // The word after a value is taken for the separator and dropped.
        assert_eq!(
            key_value_pairs("A=hello world").unwrap(),
            [("A".into(), "hello".into())]
        );
        for bad in ["A=", "A", "A=1,B", "A 1", "U=u@h"] {
            assert_eq!(
                key_value_pairs(bad),
                Err(format!(
                    "Unexpected end of key/value pairs in value '{bad}'"
                )),
                "{bad:?}"
            );
        }
    }
}

/// `command=`'s words, as supervisord reads them with Python's `shlex.split`: POSIX
/// mode, no comments. Blanks separate words; `'...'` is literal; in `"..."` a
/// backslash escapes only `"` and `\`; outside quotes it escapes any character;
/// quoted and bare parts of one word join (`a"b c"d` is `ab cd`); `''` is an empty
/// word. Nothing else is special: no `$`, no `|`, no `#`.
pub fn split(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                word.push(chars.next().ok_or("No escaped character")?);
                in_word = true;
            }
            '\'' | '"' => {
                quoted(c, &mut chars, &mut word)?;
                in_word = true;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

/// The rest of a quoted part, its closing quote consumed.
fn quoted(quote: char, chars: &mut std::str::Chars<'_>, word: &mut String) -> Result<(), String> {
    loop {
        match chars.next().ok_or("No closing quotation")? {
            c if c == quote => return Ok(()),
            '\\' if quote == '"' => match chars.next().ok_or("No closing quotation")? {
                c @ ('"' | '\\') => word.push(c),
                c => {
                    word.push('\\');
                    word.push(c);
                }
            },
            c => word.push(c),
        }
    }
}

#[cfg(test)]
mod split_tests {
    use super::split;

    #[test]
    fn as_pythons_shlex_split() {
        let rows: &[(&str, &[&str])] = &[
            ("/bin/app --port 80", &["/bin/app", "--port", "80"]),
            ("a 'b c' \"d e\"", &["a", "b c", "d e"]),
            ("a\"b c\"d", &["ab cd"]),
            (
                "sh -c \"echo $HOME | cat\"",
                &["sh", "-c", "echo $HOME | cat"],
            ),
            ("x '' y", &["x", "", "y"]),
            ("a\\ b \"q\\\"q\" \"\\n\"", &["a b", "q\"q", "\\n"]),
            ("a #b", &["a", "#b"]),
            ("  ", &[]),
        ];
        for (s, want) in rows {
            assert_eq!(split(s).unwrap(), want.to_vec(), "{s}");
        }
        assert!(split("a 'b").is_err());
        assert!(split("a\\").is_err());
    }
}
