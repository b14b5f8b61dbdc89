//! Percent-encoding of binary-mode header values (HTTP binding §3.1.3.2).

use std::borrow::Cow;

/// Bytes that must be escaped: space, `"`, `%` and everything outside printable ASCII.
fn needs_escape(b: u8) -> bool {
    !(0x21..=0x7e).contains(&b) || b == b'"' || b == b'%'
}

/// Encodes a value for a `ce-` header; borrows when nothing needs escaping (the common case).
pub fn encode(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    let Some(first) = bytes.iter().position(|&b| needs_escape(b)) else {
        return Cow::Borrowed(s);
    };
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for &b in &bytes[first..] {
        if needs_escape(b) {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push(char::from(b));
        }
    }
    Cow::Owned(out)
}

/// Why a header value could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    BadEscape,
    NotUtf8,
}

impl DecodeError {
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::BadEscape => "invalid percent-encoding",
            DecodeError::NotUtf8 => "value is not valid UTF-8 after percent-decoding",
        }
    }
}

/// Decodes a header value: `%XX` escapes, result must be UTF-8.
pub fn decode(raw: &[u8]) -> Result<String, DecodeError> {
    if !raw.contains(&b'%') {
        return std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::NotUtf8);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hi = raw.get(i + 1).and_then(|&c| hex(c));
            let lo = raw.get(i + 2).and_then(|&c| hex(c));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(DecodeError::BadEscape);
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_table() {
        let cases = [
            ("plain-value_1.0/x?y=z", "plain-value_1.0/x?y=z"),
            ("", ""),
            ("a b", "a%20b"),
            ("say \"hi\"", "say%20%22hi%22"),
            ("100%", "100%25"),
            ("€uro", "%E2%82%ACuro"),
            ("tab\tnl\n", "tab%09nl%0A"),
            ("del\u{7f}", "del%7F"),
        ];
        for (plain, enc) in cases {
            assert_eq!(encode(plain), enc, "{plain:?}");
            assert_eq!(decode(enc.as_bytes()).as_deref(), Ok(plain), "{enc:?}");
        }
    }

    #[test]
    fn decode_table() {
        let cases: &[(&[u8], Result<&str, DecodeError>)] = &[
            (b"%e2%82%ac", Ok("€")),
            (b"a+b", Ok("a+b")),
            (b"%", Err(DecodeError::BadEscape)),
            (b"%4", Err(DecodeError::BadEscape)),
            (b"%zz", Err(DecodeError::BadEscape)),
            (b"%FF", Err(DecodeError::NotUtf8)),
            (b"\xff", Err(DecodeError::NotUtf8)),
            ("ünï".as_bytes(), Ok("ünï")),
        ];
        for (raw, want) in cases {
            assert_eq!(
                decode(raw).as_deref().map_err(|e| e.reason()),
                want.as_ref().map(|s| *s).map_err(|e| e.reason()),
                "{raw:?}"
            );
        }
    }
}
