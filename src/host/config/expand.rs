//! Expansions: Python's `%` operator with a mapping (`'%(name)s' % names`), which is
//! how supervisord expands `%(here)s`, `%(program_name)s`, `%(process_num)02d`,
//! `%(ENV_X)s` and `%%` in a value.
//!
//! The whole conversion grammar is here (flags `#0- +`, width, precision, `h l L`,
//! and `d i u o x X e E f F g G c r s a`), since a value is an error in supervisord
//! exactly when Python cannot format it. Which names a key may use is the caller's
//! business ([`Names`]); the error messages are supervisord's own.

use super::python;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// A value a name expands to: supervisord's names are strings or integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// `here`, `program_name`, `ENV_X`...
    Str(String),
    /// `process_num`, `numprocs`.
    Int(i64),
}

/// The names a value may use. A shared part (the environment's `ENV_X`, the same for
/// every section) is behind an `Rc`, so that each section and process copies only
/// the few names of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    shared: Rc<BTreeMap<String, Val>>,
    own: BTreeMap<String, Val>,
}

impl Names {
    /// Sets a string name.
    pub fn set(&mut self, name: &str, value: &str) {
        self.own
            .insert(name.to_string(), Val::Str(value.to_string()));
    }

    /// Sets an integer name.
    pub fn set_int(&mut self, name: &str, value: i64) {
        self.own.insert(name.to_string(), Val::Int(value));
    }

    /// Sets `ENV_K` for each `(K, v)`.
    pub fn set_env<'a>(&mut self, vars: impl IntoIterator<Item = &'a (String, String)>) {
        for (k, v) in vars {
            self.set(&format!("ENV_{k}"), v);
        }
    }

    /// The same names, all of them shared, so that copies are cheap.
    pub fn frozen(&self) -> Names {
        let mut all = (*self.shared).clone();
        all.extend(self.own.iter().map(|(k, v)| (k.clone(), v.clone())));
        Names {
            shared: Rc::new(all),
            own: BTreeMap::new(),
        }
    }

    /// Gives back to every shared name its shared value (what supervisord's
    /// `expansions.update(environ_expansions)` does before each process).
    pub fn restore_shared(&mut self) {
        let shared = &self.shared;
        self.own.retain(|k, _| !shared.contains_key(k));
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Val> {
        self.own.get(name).or_else(|| self.shared.get(name))
    }

    /// The names as supervisord's message lists them, sorted, the environment's as one
    /// `ENV_*`.
    fn available(&self) -> String {
        let all: BTreeSet<&String> = self.own.keys().chain(self.shared.keys()).collect();
        let env = all.iter().any(|k| k.starts_with("ENV_"));
        let rest = all.iter().filter(|k| !k.starts_with("ENV_"));
        let mut list: Vec<&str> = env.then_some("ENV_*").into_iter().collect();
        list.extend(rest.map(|k| k.as_str()));
        list.join(", ")
    }
}

/// Expands `s` as `s % names`; `what` names the value in errors, as supervisord does
/// (`program:web.command`, `environment`...).
pub fn expand(s: &str, names: &Names, what: &str) -> Result<String, String> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    format(s, names).map_err(|e| match e {
        Fail::Missing(name) => format!(
            "Format string {} for {} contains names ({}) which cannot be expanded. \
             Available names: {}",
            python::repr(s),
            python::repr(what),
            python::repr(&name),
            names.available()
        ),
        Fail::Bad(why) => format!(
            "Format string {} for {} is badly formatted: {why}",
            python::repr(s),
            python::repr(what)
        ),
    })
}

/// Why a format failed: Python's `KeyError`, or any other exception.
#[derive(Debug, PartialEq, Eq)]
enum Fail {
    Missing(String),
    Bad(String),
}

/// One conversion, `%(name)#05.2d`.
#[derive(Debug, Default)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alt: bool,
    width: usize,
    precision: Option<usize>,
    kind: char,
}

/// `s % names`.
fn format(s: &str, names: &Names) -> Result<String, Fail> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'%') {
            out.push('%');
            i += 2;
            continue;
        }
        // Python looks the name up before it reads the rest of the conversion.
        let (name, after) = parse_name(&chars, i + 1)?;
        let Some(name) = name else {
            let (spec, next) = parse_spec(&chars, after)?;
            return Err(unnamed(&spec, next - 1));
        };
        let value = names.get(&name).ok_or(Fail::Missing(name))?;
        let (spec, next) = parse_spec(&chars, after)?;
        out.push_str(&convert(value, &spec, next - 1)?);
        i = next;
    }
    Ok(out)
}

/// Reads the `(name)` after a `%`, which starts at `chars[i]`, if there is one.
fn parse_name(chars: &[char], i: usize) -> Result<(Option<String>, usize), Fail> {
    match chars.get(i) {
        Some('(') => parse_key(chars, i + 1).map(|(name, next)| (Some(name), next)),
        Some(_) => Ok((None, i)),
        None => Err(Fail::Bad("incomplete format".into())),
    }
}

/// A conversion without a name: Python applies it to the whole mapping, which only
/// `%s` (the mapping's text, never useful) survives; refused here.
fn unnamed(spec: &Spec, at: usize) -> Fail {
    match convert(&Val::Str(String::new()), spec, at) {
        Err(Fail::Bad(why)) => Fail::Bad(why.replace("not str", "not dict")),
        _ => Fail::Bad("format requires a mapping key, %(name)".into()),
    }
}

/// Reads the rest of a conversion from `chars[i]`: the spec and where it ends.
fn parse_spec(chars: &[char], i: usize) -> Result<(Spec, usize), Fail> {
    let mut i = i;
    let mut spec = Spec::default();
    i = parse_flags(chars, i, &mut spec);
    let (width, j) = number(chars, i)?;
    spec.width = width.unwrap_or(0);
    i = j;
    if chars.get(i) == Some(&'.') {
        let (p, j) = number(chars, i + 1)?;
        spec.precision = Some(p.unwrap_or(0));
        i = j;
    }
    while matches!(chars.get(i), Some('h' | 'l' | 'L')) {
        i += 1;
    }
    spec.kind = *chars
        .get(i)
        .ok_or_else(|| Fail::Bad("incomplete format".into()))?;
    Ok((spec, i + 1))
}

/// The key up to the `)` that closes the `(` before `i`; parentheses nest.
fn parse_key(chars: &[char], start: usize) -> Result<(String, usize), Fail> {
    let mut depth = 1;
    for (j, &c) in chars.iter().enumerate().skip(start) {
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        if depth == 0 {
            return Ok((chars[start..j].iter().collect(), j + 1));
        }
    }
    Err(Fail::Bad("incomplete format key".into()))
}

fn parse_flags(chars: &[char], mut i: usize, spec: &mut Spec) -> usize {
    while let Some(&c) = chars.get(i) {
        match c {
            '-' => spec.left = true,
            '0' => spec.zero = true,
            '+' => spec.plus = true,
            ' ' => spec.space = true,
            '#' => spec.alt = true,
            _ => break,
        }
        i += 1;
    }
    i
}

/// Decimal digits at `i`; `*` takes an argument, and a mapping has none to give.
fn number(chars: &[char], mut i: usize) -> Result<(Option<usize>, usize), Fail> {
    if chars.get(i) == Some(&'*') {
        return Err(Fail::Bad("not enough arguments for format string".into()));
    }
    let mut n: Option<usize> = None;
    while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
        let v = n
            .unwrap_or(0)
            .checked_mul(10)
            .and_then(|v| v.checked_add(d as usize));
        n = Some(v.ok_or_else(|| Fail::Bad("width too big".into()))?);
        i += 1;
    }
    Ok((n, i))
}

/// One value through one conversion, whose letter is at index `at`.
fn convert(value: &Val, spec: &Spec, at: usize) -> Result<String, Fail> {
    match (spec.kind, value) {
        ('s', _) | ('r', Val::Int(_)) | ('a', Val::Int(_)) => Ok(pad_text(&text(value), spec)),
        ('r', Val::Str(s)) => Ok(pad_text(&python::repr(s), spec)),
        ('a', Val::Str(s)) => Ok(pad_text(&python::ascii(s), spec)),
        ('c', v) => character(v, spec),
        ('d' | 'i' | 'u' | 'o' | 'x' | 'X', Val::Int(n)) => Ok(integer(*n, spec)),
        ('e' | 'E' | 'f' | 'F' | 'g' | 'G', Val::Int(n)) => Ok(float(*n, spec)),
        ('d' | 'i' | 'u', Val::Str(_)) => Err(Fail::Bad(format!(
            "%{} format: a real number is required, not str",
            spec.kind
        ))),
        ('o' | 'x' | 'X', Val::Str(_)) => Err(Fail::Bad(format!(
            "%{} format: an integer is required, not str",
            spec.kind
        ))),
        ('e' | 'E' | 'f' | 'F' | 'g' | 'G', Val::Str(_)) => {
            Err(Fail::Bad("must be real number, not str".into()))
        }
        (c, _) => Err(Fail::Bad(format!(
            "unsupported format character {} (0x{:x}) at index {at}",
            python::repr(&c.to_string()),
            c as u32
        ))),
    }
}

fn text(value: &Val) -> String {
    match value {
        Val::Str(s) => s.clone(),
        Val::Int(n) => n.to_string(),
    }
}

/// `%s`: cut to the precision, then padded with spaces to the width.
fn pad_text(s: &str, spec: &Spec) -> String {
    let cut: String = match spec.precision {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    };
    pad(String::new(), cut, spec.width, spec.left, false)
}

/// `%c`: a one-character string, or an integer as a code point.
fn character(value: &Val, spec: &Spec) -> Result<String, Fail> {
    let c = match value {
        Val::Str(s) if s.chars().count() == 1 => s.clone(),
        Val::Int(n) => u32::try_from(*n)
            .ok()
            .and_then(char::from_u32)
            .map(String::from)
            .ok_or_else(|| Fail::Bad("%c arg not in range(0x110000)".into()))?,
        Val::Str(_) => return Err(Fail::Bad("%c requires int or char".into())),
    };
    Ok(pad(String::new(), c, spec.width, spec.left, false))
}

/// `sign` and `body` joined to `width`: spaces on the left (or right for `-`), or
/// zeros between sign and body.
fn pad(sign: String, body: String, width: usize, left: bool, zero: bool) -> String {
    let len = sign.chars().count() + body.chars().count();
    let fill = width.saturating_sub(len);
    match (left, zero) {
        (true, _) => sign + &body + &" ".repeat(fill),
        (false, true) => sign + &"0".repeat(fill) + &body,
        (false, false) => " ".repeat(fill) + &sign + &body,
    }
}

fn sign(negative: bool, spec: &Spec) -> &'static str {
    match (negative, spec.plus, spec.space) {
        (true, _, _) => "-",
        (false, true, _) => "+",
        (false, false, true) => " ",
        _ => "",
    }
}

/// `%d %o %x %X`: sign, `0o`/`0x` prefix with `#`, digits at least `precision` long.
fn integer(n: i64, spec: &Spec) -> String {
    let m = n.unsigned_abs();
    let (digits, prefix) = match spec.kind {
        'o' => (format!("{m:o}"), "0o"),
        'x' => (format!("{m:x}"), "0x"),
        'X' => (format!("{m:X}"), "0X"),
        _ => (m.to_string(), ""),
    };
    let min = spec.precision.unwrap_or(0);
    let digits = "0".repeat(min.saturating_sub(digits.len())) + &digits;
    let prefix = if spec.alt { prefix } else { "" };
    let head = sign(n < 0, spec).to_string() + prefix;
    pad(head, digits, spec.width, spec.left, spec.zero)
}

/// `%e %f %g` of an integer, as Python prints a float.
fn float(n: i64, spec: &Spec) -> String {
    let x = (n as f64).abs();
    let p = spec.precision.unwrap_or(6);
    let body = match spec.kind.to_ascii_lowercase() {
        'f' => fixed(x, p, spec.alt),
        'e' => scientific(x, p, spec.alt),
        _ => general(x, p, spec.alt),
    };
    let body = if spec.kind.is_ascii_uppercase() {
        body.to_uppercase()
    } else {
        body
    };
    pad(
        sign(n < 0, spec).into(),
        body,
        spec.width,
        spec.left,
        spec.zero,
    )
}

fn fixed(x: f64, p: usize, alt: bool) -> String {
    let s = format!("{x:.p$}");
    if alt && p == 0 { s + "." } else { s }
}

fn scientific(x: f64, p: usize, alt: bool) -> String {
    let s = format!("{x:.p$e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let dot = if alt && p == 0 { "." } else { "" };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}{dot}e{sign}{:02}", exp.abs())
}

/// `%g`: fixed or scientific by the exponent, trailing zeros dropped unless `#`.
fn general(x: f64, p: usize, alt: bool) -> String {
    let p = p.max(1);
    let sci = scientific(x, p - 1, false);
    let exp: i32 = sci
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    let s = if exp < -4 || exp >= p as i32 {
        sci
    } else {
        fixed(x, (p as i32 - 1 - exp) as usize, false)
    };
    if alt {
        return if s.contains('.') || s.contains('e') {
            s
        } else {
            s + "."
        };
    }
    drop_zeros(&s)
}

fn drop_zeros(s: &str) -> String {
    let (num, exp) = match s.find('e') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let num = if num.contains('.') {
        num.trim_end_matches('0').trim_end_matches('.')
    } else {
        num
    };
    format!("{num}{exp}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let mut n = Names::default();
        n.set("a", "x");
        n.set_int("n", 3);
        n.set_int("m", -42);
        n.set_int("b", 1234567);
        n.set_int("z", 0);
        n
    }

    /// Rows printed by Python 3.11 for `fmt % {'a': 'x', 'n': 3, 'm': -42, 'b':
    /// 1234567, 'z': 0}`.
    #[test]
    fn formats_as_python() {
        let rows = [
            ("%(n)05d", "00003"),
            ("%(n)-5d|", "3    |"),
            ("%(n)+d", "+3"),
            ("%(n) d", " 3"),
            ("%(n)#x", "0x3"),
            ("%(n)#o", "0o3"),
            ("%(n).3d", "003"),
            ("%(a).0s", ""),
            ("%(n)5.1f", "  3.0"),
            ("%(n)e", "3.000000e+00"),
            ("%(n)g", "3"),
            ("%(n)c", "\x03"),
            ("%(n)r", "3"),
            ("%(a)r", "'x'"),
            ("%%", "%"),
            ("%(n)ld", "3"),
            ("%(n)i%(n)u", "33"),
            ("%(a)10s|", "         x|"),
            ("%(n)s", "3"),
            ("%(a)c", "x"),
            ("%(n)05.3d", "00003"),
            ("%(a)05s", "    x"),
            ("%(m)05d", "-0042"),
            ("%(n)#05x", "0x003"),
            ("%(m)#x", "-0x2a"),
            ("%(z)#o", "0o0"),
            ("%(n)-05d|", "3    |"),
            ("%(b)g", "1.23457e+06"),
            ("%(b).3g", "1.23e+06"),
            ("%(n)#.3g", "3.00"),
            ("%(z)g", "0"),
            ("%(b)G", "1.23457E+06"),
            ("%(b)E", "1.234567E+06"),
            ("%(m).2e", "-4.20e+01"),
            ("%(m)08.2f", "-0042.00"),
            ("%(n)+.1f", "+3.0"),
            ("%(n)#.0f", "3."),
            ("%(n)#.0e", "3.e+00"),
            ("%(z).0x", "0"),
            ("%(n)5c|", "    \x03|"),
            ("a%%(n)s", "a%(n)s"),
        ];
        for (f, want) in rows {
            assert_eq!(format(f, &names()), Ok(want.to_string()), "{f}");
        }
    }

    #[test]
    fn malformed_formats_fail_as_python() {
        let rows = [
            ("%(a)s%", "incomplete format"),
            ("%(a)", "incomplete format"),
            ("%(a", "incomplete format key"),
            ("%(a)d", "%d format: a real number is required, not str"),
            (
                "%(a)y",
                "unsupported format character 'y' (0x79) at index 4",
            ),
            (
                "%(n)%",
                "unsupported format character '%' (0x25) at index 4",
            ),
            ("%(n)*d", "not enough arguments for format string"),
            ("%s", "format requires a mapping key, %(name)"),
            ("50%", "incomplete format"),
            (
                "100%!",
                "unsupported format character '!' (0x21) at index 4",
            ),
            ("50% off", "%o format: an integer is required, not dict"),
        ];
        for (f, why) in rows {
            assert_eq!(format(f, &names()), Err(Fail::Bad(why.into())), "{f}");
        }
        assert_eq!(
            format("%(b)s %(q)s", &names()),
            Err(Fail::Missing("q".into()))
        );
        assert_eq!(
            format("%((a))s", &names()),
            Err(Fail::Missing("(a)".into()))
        );
        // The name is looked up before the conversion is read.
        assert_eq!(format("%(q)y", &names()), Err(Fail::Missing("q".into())));
    }

    #[test]
    fn shared_names_come_back_after_a_process_sets_them() {
        let mut env = Names::default();
        env.set("ENV_A", "shared");
        let mut names = env.frozen();
        names.set("ENV_A", "own");
        names.set("ENV_B", "own");
        assert_eq!(names.get("ENV_A"), Some(&Val::Str("own".into())));
        names.restore_shared();
        assert_eq!(names.get("ENV_A"), Some(&Val::Str("shared".into())));
        // A name only the process had stays, as in supervisord.
        assert_eq!(names.get("ENV_B"), Some(&Val::Str("own".into())));
        assert_eq!(names.available(), "ENV_*");
    }

    #[test]
    fn errors_are_worded_as_supervisords() {
        let mut n = Names::default();
        n.set("here", "/etc");
        n.set("ENV_HOME", "/root");
        n.set_int("process_num", 0);
        assert_eq!(
            expand("run %(prog)s", &n, "program:web.command"),
            Err(
                "Format string 'run %(prog)s' for 'program:web.command' contains names \
                 ('prog') which cannot be expanded. Available names: ENV_*, here, process_num"
                    .into()
            )
        );
        assert_eq!(
            expand("50%", &n, "environment"),
            Err(
                "Format string '50%' for 'environment' is badly formatted: incomplete format"
                    .into()
            )
        );
        assert_eq!(
            expand("%(here)s/x %(ENV_HOME)s %(process_num)02d", &n, "k"),
            Ok("/etc/x /root 00".into())
        );
    }
}
