//! Cheap RFC 3986 syntax checks for URI and URI-reference attributes (no allocation, no regex).
//!
//! Deliberately lenient where real senders are sloppy: non-ASCII characters (IRIs) pass; what is
//! rejected can never appear in a URI: controls, space, `"<>\^`{|}` and broken percent escapes.

/// Checks a URI-reference; returns a reason on failure.
pub fn check_uri_ref(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let ok =
                    i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
                if !ok {
                    return Err("invalid percent-encoding");
                }
                i += 3;
                continue;
            }
            0..=0x20 | 0x7f => return Err("contains a control character or space"),
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}' => {
                return Err("contains a character not allowed in a URI");
            }
            _ => {}
        }
        i += 1;
    }
    match scheme_end(s) {
        Some(0) => Err("empty scheme"),
        Some(n) if !is_scheme(&s[..n]) => Err("invalid scheme"),
        _ => Ok(()),
    }
}

/// Checks an absolute URI: a valid URI-reference that has a scheme.
pub fn check_absolute_uri(s: &str) -> Result<(), &'static str> {
    check_uri_ref(s)?;
    match scheme_end(s) {
        Some(_) => Ok(()),
        None => Err("must be an absolute URI (with a scheme)"),
    }
}

/// Position of the scheme's `:`, if a `:` comes before any `/`, `?` or `#`.
fn scheme_end(s: &str) -> Option<usize> {
    for (i, b) in s.bytes().enumerate() {
        match b {
            b':' => return Some(i),
            b'/' | b'?' | b'#' => return None,
            _ => {}
        }
    }
    None
}

fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_refs() {
        let cases = [
            ("https://example.com/a?b=c#d", true, true),
            ("/apis/v1/namespaces/default/pingsources/p", true, false),
            ("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", true, true),
            ("mailto:a@b.c", true, true),
            ("a%20b", true, false),
            ("relative", true, false),
            ("", true, false),
            ("ünicode/päth", true, false),
            ("a b", false, false),
            ("a%2", false, false),
            ("a%zz", false, false),
            ("%", false, false),
            ("1http://x", false, false),
            (":nothing", false, false),
            ("a<b", false, false),
            ("line\nbreak", false, false),
        ];
        for (s, is_ref, is_abs) in cases {
            assert_eq!(check_uri_ref(s).is_ok(), is_ref, "ref {s:?}");
            assert_eq!(check_absolute_uri(s).is_ok(), is_abs, "abs {s:?}");
        }
    }
}
