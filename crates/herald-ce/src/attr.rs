//! Typed attribute values and the attribute naming rule.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A context attribute value in one of the CloudEvents type-system types.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    String(String),
    /// The spec's Integer is 32-bit; wider values are representable so that
    /// [`crate::Event::validate`] can reject them with a clear message.
    Integer(i64),
    Boolean(bool),
    Binary(Vec<u8>),
    Uri(String),
    UriRef(String),
    /// RFC 3339 text exactly as received, so re-encoding never changes it.
    Timestamp(String),
}

impl AttrValue {
    /// The canonical string form used by the HTTP binding and filters.
    pub fn to_canonical_string(&self) -> String {
        match self {
            AttrValue::String(s)
            | AttrValue::Uri(s)
            | AttrValue::UriRef(s)
            | AttrValue::Timestamp(s) => s.clone(),
            AttrValue::Integer(i) => i.to_string(),
            AttrValue::Boolean(b) => if *b { "true" } else { "false" }.to_owned(),
            AttrValue::Binary(b) => STANDARD.encode(b),
        }
    }

    /// The text of string-like values without copying; `None` for Integer, Boolean and Binary.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::String(s)
            | AttrValue::Uri(s)
            | AttrValue::UriRef(s)
            | AttrValue::Timestamp(s) => Some(s),
            _ => None,
        }
    }
}

/// Attribute names are non-empty and use only `a-z` and `0-9` (spec 1.0 §naming conventions).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

pub(crate) const NAME_RULE: &str =
    "attribute names must consist of lower-case letters a-z and digits 0-9";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_strings() {
        let cases = [
            (AttrValue::String("a b".into()), "a b"),
            (AttrValue::Integer(-42), "-42"),
            (AttrValue::Boolean(true), "true"),
            (AttrValue::Boolean(false), "false"),
            (AttrValue::Binary(vec![0, 1, 2, 255]), "AAEC/w=="),
            (AttrValue::Uri("https://x/y".into()), "https://x/y"),
            (AttrValue::UriRef("/y".into()), "/y"),
            (
                AttrValue::Timestamp("2020-01-01T00:00:00Z".into()),
                "2020-01-01T00:00:00Z",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(v.to_canonical_string(), want, "{v:?}");
        }
    }

    #[test]
    fn names() {
        for (n, ok) in [
            ("abc1", true),
            ("1", true),
            ("", false),
            ("aBc", false),
            ("a-b", false),
            ("a_b", false),
            ("é", false),
        ] {
            assert_eq!(is_valid_name(n), ok, "{n}");
        }
    }
}
