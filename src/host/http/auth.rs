//! Basic authentication as supervisord does it: `username` and `password` from the
//! server's section, the password in clear or as `{SHA}` and the hex SHA-1 of it.
//! Compared in constant time; never logged.

/// The credentials a server requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    /// As configured: clear, or `{SHA}` + 40 hex digits.
    pub password: String,
}

/// Equal, in a time that depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(!x);
    }
    diff == 0
}

/// The hex SHA-1 of `s`.
pub fn sha1_hex(s: &[u8]) -> String {
    sha1_smol::Sha1::from(s).digest().to_string()
}

impl Credentials {
    /// Whether an `Authorization` header's value proves these credentials.
    pub fn accepts(&self, header: Option<&str>) -> bool {
        let Some(encoded) = header.and_then(|h| h.strip_prefix("Basic ")) else {
            return false;
        };
        let Some(decoded) = base64_decode(encoded.trim()) else {
            return false;
        };
        let (user, pass) = match decoded.iter().position(|&b| b == b':') {
            Some(i) => (&decoded[..i], &decoded[i + 1..]),
            None => return false,
        };
        let user_ok = constant_time_eq(user, self.username.as_bytes());
        let pass_ok = match self.password.strip_prefix("{SHA}") {
            Some(hex) => constant_time_eq(
                sha1_hex(pass).as_bytes(),
                hex.to_ascii_lowercase().as_bytes(),
            ),
            None => constant_time_eq(pass, self.password.as_bytes()),
        };
        user_ok & pass_ok
    }
}

/// Standard base64 (padding optional); `None` for anything else.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    if s.len() % 4 == 1 || s.len() > 4096 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(p: &str) -> Credentials {
        Credentials {
            username: "user".into(),
            password: p.into(),
        }
    }

    #[test]
    fn clear_and_sha_passwords() {
        // "user:123" and "user:wrong", as Python's base64 writes them.
        let good = Some("Basic dXNlcjoxMjM=");
        let bad = Some("Basic dXNlcjp3cm9uZw==");
        assert!(creds("123").accepts(good));
        assert!(!creds("123").accepts(bad));
        let sha = format!("{{SHA}}{}", sha1_hex(b"123"));
        assert_eq!(sha, "{SHA}40bd001563085fc35165329ea1ff5c5ecbdbbeef");
        assert!(creds(&sha).accepts(good));
        assert!(!creds(&sha).accepts(bad));
        for h in [
            None,
            Some("Bearer x"),
            Some("Basic !!!"),
            Some("Basic dXNlcg=="),
        ] {
            assert!(!creds("123").accepts(h), "{h:?}");
        }
    }

    #[test]
    fn base64_and_comparison() {
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert_eq!(base64_decode("Y"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
