//! XML-RPC on the wire: calls parsed into [`Value`]s, answers and faults written out,
//! byte for byte as supervisord writes them (it calls Python's `xmlrpc.client.dumps`),
//! so that `supervisorctl` and every other client of supervisord reads them unchanged.
//!
//! Pure: bytes in, values out, and back; no I/O. The HTTP layer bounds the body
//! (1 MiB); this module bounds what the body can do:
//!
//! - elements nest at most [`MAX_DEPTH`] deep (the parser recurses once per level,
//!   so a deeper body is an error, never a stack overflow);
//! - a `<!DOCTYPE>` is refused, so no entity can be declared, let alone expanded;
//!   the only references are the five predefined entities and character references;
//! - the body must be UTF-8 (a declaration naming another encoding is refused) and
//!   every character, literal or referenced, one XML 1.0 allows, as Python's expat
//!   demands;
//! - integers outside `i64` are errors, not wrapped or clamped.
//!
//! Writing follows Python's marshaller, newlines and all, with two changes that keep
//! the text intact where Python's output would not be: a carriage return is written
//! `&#13;` (a literal one reaches the client as a line feed, by XML's end-of-line
//! rule), and a character XML 1.0 forbids (U+0000–U+0008, U+000B, U+000C,
//! U+000E–U+001F, U+FFFE, U+FFFF), which Python writes as is and expat then
//! rejects along with the whole answer, becomes U+FFFD. Integers are written as
//! `<int>` whatever their size: Python reads any size, but refuses to write one
//! outside `i32`, and supervisord clamps its times to that range (`capped_int`)
//! before answering; callers that want that behaviour clamp too.

use quick_xml::Reader;
use quick_xml::events::{BytesDecl, BytesRef, Event};
use std::fmt::{self, Write};

/// How deep elements may nest. A `system.multicall` of calls whose parameters are
/// structs of arrays is 16 deep; 64 leaves room and stays far from any stack limit.
pub const MAX_DEPTH: usize = 64;

/// An XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>`, `<i4>` or `<i8>`.
    Int(i64),
    /// `<boolean>`: `0` or `1`.
    Bool(bool),
    /// `<string>`, or a `<value>` with no type element.
    String(String),
    /// `<double>`.
    Double(f64),
    /// `<dateTime.iso8601>`, its text as given (surrounding whitespace removed, as
    /// Python does), for example `20240102T03:04:05`.
    DateTime(String),
    /// `<base64>`, decoded.
    Base64(Vec<u8>),
    /// `<array><data>`.
    Array(Vec<Value>),
    /// `<struct>`: its members in document order, duplicates kept (Python keeps the
    /// last of a duplicated name).
    Struct(Vec<(String, Value)>),
    /// `<nil/>`, the common extension Python writes for `None` when allowed to.
    Nil,
}

/// A parsed `<methodCall>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The `<methodName>` text, as given.
    pub method: String,
    /// The parameters, in order; none when `<params>` is absent or empty.
    pub params: Vec<Value>,
}

/// Why a body is not XML-RPC we accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong, and where (a byte offset) when the parser knows.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid XML-RPC: {}", self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses a `<methodCall>` body.
pub fn parse_call(body: &[u8]) -> Result<Call, ParseError> {
    let mut p = Parser::new(body)?;
    p.expect_open("methodCall")?;
    p.expect_open("methodName")?;
    let method = p.text_content()?;
    let params = match p.open_or_close()? {
        None => Vec::new(),
        Some(tag) if tag == "params" => {
            let params = p.params()?;
            p.expect_close()?;
            params
        }
        Some(tag) => return Err(p.error(format!("<{tag}> where <params> belongs"))),
    };
    p.expect_end()?;
    Ok(Call { method, params })
}

/// Parses a `<methodResponse>` body: its one value, or its fault's code and string.
pub fn parse_response(body: &[u8]) -> Result<Result<Value, (i64, String)>, ParseError> {
    let mut p = Parser::new(body)?;
    p.expect_open("methodResponse")?;
    let answer = match p.open_or_close()? {
        Some(tag) if tag == "params" => Ok(p.one_param()?),
        Some(tag) if tag == "fault" => Err(p.fault()?),
        _ => return Err(p.error("a <methodResponse> holds <params> or <fault>")),
    };
    p.expect_close()?;
    p.expect_end()?;
    Ok(answer)
}

/// A `<methodResponse>` carrying `v`.
pub fn response(v: &Value) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n");
    write_value(&mut out, v);
    out.push_str("</param>\n</params>\n</methodResponse>\n");
    out
}

/// A `<methodResponse>` carrying a fault, as supervisord writes an `RPCError`.
pub fn fault(code: i64, message: &str) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n");
    let detail = Value::Struct(vec![
        ("faultCode".to_string(), Value::Int(code)),
        ("faultString".to_string(), Value::String(message.to_string())),
    ]);
    write_value(&mut out, &detail);
    out.push_str("</fault>\n</methodResponse>\n");
    out
}

/// A `<methodCall>` of `method` with `params`. Unlike Python, the method name is
/// escaped too.
pub fn call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodCall>\n<methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName>\n<params>\n");
    for v in params {
        out.push_str("<param>\n");
        write_value(&mut out, v);
        out.push_str("</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

// ---- writing ----------------------------------------------------------------------

/// Appends `v` as Python's `Marshaller` writes it (`<nil/>` has no newline after it
/// there either).
fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Int(i) => scalar(out, "int", &i.to_string()),
        Value::Bool(b) => scalar(out, "boolean", if *b { "1" } else { "0" }),
        Value::String(s) => scalar(out, "string", s),
        Value::Double(d) => scalar(out, "double", &python_repr(*d)),
        Value::DateTime(s) => scalar(out, "dateTime.iso8601", s),
        Value::Base64(bytes) => {
            out.push_str("<value><base64>\n");
            out.push_str(&base64_lines(bytes));
            out.push_str("</base64></value>\n");
        }
        Value::Array(items) => {
            out.push_str("<value><array><data>\n");
            items.iter().for_each(|item| write_value(out, item));
            out.push_str("</data></array></value>\n");
        }
        Value::Struct(members) => {
            out.push_str("<value><struct>\n");
            members.iter().for_each(|(k, v)| write_member(out, k, v));
            out.push_str("</struct></value>\n");
        }
        Value::Nil => out.push_str("<value><nil/></value>"),
    }
}

fn scalar(out: &mut String, tag: &str, text: &str) {
    let _ = write!(out, "<value><{tag}>");
    escape_into(out, text);
    let _ = writeln!(out, "</{tag}></value>");
}

fn write_member(out: &mut String, name: &str, v: &Value) {
    out.push_str("<member>\n<name>");
    escape_into(out, name);
    out.push_str("</name>\n");
    write_value(out, v);
    out.push_str("</member>\n");
}

/// Appends `s` as character data: `&`, `<`, `>` escaped as Python does, a carriage
/// return as a reference so it survives, and characters XML 1.0 forbids as U+FFFD.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// Whether XML 1.0 allows `c` in a document (its production `Char`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// `d` as Python's `repr` writes it: the shortest text that reads back as `d`, fixed
/// notation with at least one decimal for exponents -4 to 15, else `1.5e+16`;
/// `inf`, `-inf`, `nan`.
fn python_repr(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    // Rust's `{:e}` gives the same shortest digits: `-1.2345e-5`, `1e100`, `0e0`.
    let sci = format!("{d:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        format!("{sign}{}", fixed(&digits, exp))
    } else {
        format!("{sign}{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

/// `0.digits × 10^(exp+1)` in fixed notation, `.0` added when it is whole.
fn fixed(digits: &str, exp: i32) -> String {
    let point = exp + 1;
    if point <= 0 {
        return format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize));
    }
    let point = point as usize;
    if digits.len() <= point {
        format!("{digits}{}.0", "0".repeat(point - digits.len()))
    } else {
        format!("{}.{}", &digits[..point], &digits[point..])
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` as Python's `base64.encodebytes` writes them: lines of at most 76
/// characters, each ending in a newline; nothing for no bytes.
fn base64_lines(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.chunks(57) {
        for group in line.chunks(3) {
            base64_group(&mut out, group);
        }
        out.push('\n');
    }
    out
}

fn base64_group(out: &mut String, group: &[u8]) {
    let b = [0, 1, 2].map(|i| group.get(i).copied().unwrap_or(0));
    let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
    for i in 0..4 {
        if i <= group.len() {
            out.push(char::from(BASE64[(n >> (18 - 6 * i) & 63) as usize]));
        } else {
            out.push('=');
        }
    }
}

// ---- reading ----------------------------------------------------------------------

/// Decodes base64 text: whitespace anywhere is skipped, padding is optional, any
/// other character outside the alphabet is an error.
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let body = text.trim_end_matches(|c: char| c == '=' || is_xml_space(c));
    let mut sextets = Vec::with_capacity(body.len());
    for c in body.chars().filter(|c| !is_xml_space(*c)) {
        let at = BASE64.iter().position(|b| char::from(*b) == c);
        sextets.push(at.ok_or_else(|| format!("{c:?} is not base64"))? as u32);
    }
    if sextets.len() % 4 == 1 {
        return Err("base64 text ends in a lone character".to_string());
    }
    let mut out = Vec::with_capacity(sextets.len() / 4 * 3 + 2);
    for quad in sextets.chunks(4) {
        let n = quad.iter().enumerate().fold(0, |n, (i, s)| n | s << (18 - 6 * i));
        out.extend(n.to_be_bytes()[1..quad.len()].iter());
    }
    Ok(out)
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_blank(s: &str) -> bool {
    s.chars().all(is_xml_space)
}

/// What the parser sees: markup reduced to element boundaries and decoded text.
#[derive(Debug)]
enum Ev {
    /// A start tag, by name (an empty element is a start and an end).
    Open(String),
    /// The end tag of the innermost open element (the reader checks the names).
    Close,
    /// A run of character data: text, CDATA or a reference, decoded, line ends
    /// normalized.
    Text(String),
    Eof,
}

/// A recursive-descent reader over the events of one body.
struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// Checks the body is UTF-8 made of XML characters, and starts reading it.
    fn new(body: &'a [u8]) -> Result<Self, ParseError> {
        let text = std::str::from_utf8(body).map_err(|e| ParseError {
            message: format!("not UTF-8 at byte {}", e.valid_up_to()),
        })?;
        if let Some((at, c)) = text.char_indices().find(|(_, c)| !is_xml_char(*c)) {
            return Err(ParseError {
                message: format!("at byte {at}: character U+{:04X} is not allowed in XML", c as u32),
            });
        }
        let mut reader = Reader::from_str(text);
        reader.config_mut().expand_empty_elements = true;
        Ok(Parser { reader, depth: 0 })
    }

    fn error(&self, message: impl fmt::Display) -> ParseError {
        ParseError {
            message: format!("at byte {}: {message}", self.reader.buffer_position()),
        }
    }

    /// The next event, skipping comments, processing instructions and the
    /// declaration.
    fn next(&mut self) -> Result<Ev, ParseError> {
        loop {
            let event = self.reader.read_event().map_err(|e| ParseError {
                message: format!("at byte {}: {e}", self.reader.error_position()),
            })?;
            let ev = match event {
                Event::Start(e) => self.open(e.name().0)?,
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    Ev::Close
                }
                Event::Empty(e) => self.open(e.name().0)?, // not with expand_empty_elements
                Event::Text(t) => Ev::Text(t.xml10_content().into_owned()),
                Event::CData(t) => Ev::Text(t.xml10_content().into_owned()),
                Event::GeneralRef(r) => Ev::Text(self.reference(&r)?),
                Event::Decl(d) => {
                    self.declaration(&d)?;
                    continue;
                }
                Event::Comment(_) | Event::PI(_) => continue,
                Event::DocType(_) => return Err(self.error("a DOCTYPE is not allowed")),
                Event::Eof => Ev::Eof,
            };
            return Ok(ev);
        }
    }

    fn open(&mut self, name: &str) -> Result<Ev, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("elements nest deeper than {MAX_DEPTH}")));
        }
        Ok(Ev::Open(name.to_string()))
    }

    /// The text of `&name;`: a character reference or one of the five predefined
    /// entities (no others can exist: a DOCTYPE is refused).
    fn reference(&self, r: &BytesRef<'_>) -> Result<String, ParseError> {
        let c = match r.resolve_char_ref() {
            Ok(Some(c)) => Some(c).filter(|c| is_xml_char(*c)),
            Ok(None) => predefined(r),
            Err(e) => return Err(self.error(e)),
        };
        c.map(String::from)
            .ok_or_else(|| self.error(format!("&{}; is not a character XML allows", &**r)))
    }

    fn declaration(&self, d: &BytesDecl<'_>) -> Result<(), ParseError> {
        let Some(encoding) = d.encoding() else { return Ok(()) };
        let encoding = encoding.map_err(|e| self.error(e))?;
        match encoding.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" | "us-ascii" | "ascii" => Ok(()),
            other => Err(self.error(format!("encoding {other:?} is not supported, only UTF-8"))),
        }
    }

    /// The text up to the next markup, and that markup.
    fn text_then(&mut self) -> Result<(String, Ev), ParseError> {
        let mut text = String::new();
        loop {
            match self.next()? {
                Ev::Text(t) => text.push_str(&t),
                ev => return Ok((text, ev)),
            }
        }
    }

    /// Past whitespace, the next start tag (`Some`) or end tag (`None`).
    fn open_or_close(&mut self) -> Result<Option<String>, ParseError> {
        match self.text_then()? {
            (text, _) if !is_blank(&text) => {
                Err(self.error(format!("unexpected text {:?}", excerpt(&text))))
            }
            (_, Ev::Open(tag)) => Ok(Some(tag)),
            (_, Ev::Close) => Ok(None),
            (_, _) => Err(self.error("the document ends too soon")),
        }
    }

    fn expect_open(&mut self, name: &str) -> Result<(), ParseError> {
        match self.open_or_close()? {
            Some(tag) if tag == name => Ok(()),
            Some(tag) => Err(self.error(format!("<{tag}> where <{name}> belongs"))),
            None => Err(self.error(format!("an end tag where <{name}> belongs"))),
        }
    }

    fn expect_close(&mut self) -> Result<(), ParseError> {
        match self.open_or_close()? {
            None => Ok(()),
            Some(tag) => Err(self.error(format!("unexpected <{tag}>"))),
        }
    }

    /// Past whitespace, the end of the document.
    fn expect_end(&mut self) -> Result<(), ParseError> {
        match self.text_then()? {
            (text, Ev::Eof) if is_blank(&text) => Ok(()),
            _ => Err(self.error("content after the root element")),
        }
    }

    /// The text of an element holding only text, through its end tag.
    fn text_content(&mut self) -> Result<String, ParseError> {
        match self.text_then()? {
            (text, Ev::Close) => Ok(text),
            (_, Ev::Open(tag)) => Err(self.error(format!("unexpected <{tag}> in text"))),
            (_, _) => Err(self.error("the document ends too soon")),
        }
    }

    /// The values of `<param>`s, through `</params>`.
    fn params(&mut self) -> Result<Vec<Value>, ParseError> {
        let mut params = Vec::new();
        while let Some(tag) = self.open_or_close()? {
            if tag != "param" {
                return Err(self.error(format!("<{tag}> where <param> belongs")));
            }
            params.push(self.param()?);
        }
        Ok(params)
    }

    /// The value of a `<param>`, through its end tag.
    fn param(&mut self) -> Result<Value, ParseError> {
        self.expect_open("value")?;
        let v = self.value()?;
        self.expect_close()?;
        Ok(v)
    }

    /// A response's one parameter, through `</params>`.
    fn one_param(&mut self) -> Result<Value, ParseError> {
        let mut params = self.params()?;
        match params.len() {
            1 => Ok(params.remove(0)),
            n => Err(self.error(format!("a response holds one value, not {n}"))),
        }
    }

    /// A fault's code and string, through `</fault>`.
    fn fault(&mut self) -> Result<(i64, String), ParseError> {
        let detail = self.param()?;
        let Value::Struct(members) = detail else {
            return Err(self.error("a fault holds a struct"));
        };
        let member = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        match (member("faultCode"), member("faultString")) {
            (Some(Value::Int(code)), Some(Value::String(s))) => Ok((*code, s.clone())),
            _ => Err(self.error("a fault holds faultCode (int) and faultString (string)")),
        }
    }

    /// A `<value>`'s content, through `</value>`: bare text is a string.
    fn value(&mut self) -> Result<Value, ParseError> {
        match self.text_then()? {
            (text, Ev::Close) => Ok(Value::String(text)),
            (text, Ev::Open(tag)) if is_blank(&text) => {
                let v = self.typed(&tag)?;
                self.expect_close()?;
                Ok(v)
            }
            (_, Ev::Open(tag)) => Err(self.error(format!("text beside <{tag}> in a <value>"))),
            (_, _) => Err(self.error("the document ends too soon")),
        }
    }

    /// The value of a type element named `tag`, through its end tag.
    fn typed(&mut self, tag: &str) -> Result<Value, ParseError> {
        let v = match tag {
            "int" | "i4" | "i8" => Value::Int(self.scalar(tag, parse_int)?),
            "boolean" => Value::Bool(self.scalar(tag, parse_bool)?),
            "double" => Value::Double(self.scalar(tag, parse_double)?),
            "base64" => Value::Base64(self.scalar(tag, base64_decode)?),
            "string" => Value::String(self.text_content()?),
            "dateTime.iso8601" => Value::DateTime(self.text_content()?.trim().to_string()),
            "nil" => self.scalar(tag, |t| is_blank(t).then_some(Value::Nil).ok_or("<nil/> holds nothing"))?,
            "array" => Value::Array(self.array()?),
            "struct" => Value::Struct(self.members()?),
            _ => return Err(self.error(format!("<{tag}> is not an XML-RPC type"))),
        };
        Ok(v)
    }

    /// The text of element `tag`, converted by `parse`.
    fn scalar<T, E: fmt::Display>(
        &mut self,
        tag: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, ParseError> {
        let text = self.text_content()?;
        parse(&text).map_err(|e| self.error(format!("<{tag}>{}</{tag}>: {e}", excerpt(&text))))
    }

    /// An `<array>`'s values, through `</array>`.
    fn array(&mut self) -> Result<Vec<Value>, ParseError> {
        self.expect_open("data")?;
        let mut items = Vec::new();
        while let Some(tag) = self.open_or_close()? {
            if tag != "value" {
                return Err(self.error(format!("<{tag}> where <value> belongs")));
            }
            items.push(self.value()?);
        }
        self.expect_close()?;
        Ok(items)
    }

    /// A `<struct>`'s members, through `</struct>`.
    fn members(&mut self) -> Result<Vec<(String, Value)>, ParseError> {
        let mut members = Vec::new();
        while let Some(tag) = self.open_or_close()? {
            if tag != "member" {
                return Err(self.error(format!("<{tag}> where <member> belongs")));
            }
            self.expect_open("name")?;
            let name = self.text_content()?;
            members.push((name, self.param()?));
        }
        Ok(members)
    }
}

/// At most the first 40 characters of `text`, for an error message.
fn excerpt(text: &str) -> &str {
    text.char_indices().nth(40).map_or(text, |(at, _)| &text[..at])
}

fn predefined(r: &BytesRef<'_>) -> Option<char> {
    match &**r {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

/// An integer as Python's `int()` reads one from XML-RPC (whitespace around it
/// allowed), but within `i64`.
fn parse_int(text: &str) -> Result<i64, String> {
    text.trim().parse().map_err(|e| format!("not a 64-bit integer ({e})"))
}

/// `0` or `1`, exactly, as Python's client insists.
fn parse_bool(text: &str) -> Result<bool, &'static str> {
    match text {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err("a boolean is 0 or 1"),
    }
}

/// A float as Python's `float()` reads one, `inf` and `nan` included.
fn parse_double(text: &str) -> Result<f64, String> {
    text.trim().parse().map_err(|e| format!("not a number ({e})"))
}
