//! JSON event format, writing side: hand-rolled into a byte buffer, `data` emitted verbatim
//! whenever that keeps the bytes identical.

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::value::RawValue;

use crate::{AttrValue, Data, Event, SpecVersion, media};

/// Serializes `ev` in the JSON event format.
pub fn to_json(ev: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + ev.data.as_ref().map_or(0, |d| d.as_bytes().len()));
    write_event(ev, &mut out);
    out
}

/// Appends `ev` as a JSON object to `out`.
pub fn write_event(ev: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"specversion\":");
    write_str(out, ev.specversion.as_str());
    member(out, "id", &ev.id);
    member(out, "source", &ev.source);
    member(out, "type", &ev.ty);
    let opt = [
        ("datacontenttype", &ev.datacontenttype),
        (ev.specversion.dataschema_name(), &ev.dataschema),
        ("subject", &ev.subject),
        ("time", &ev.time),
    ];
    for (name, v) in opt {
        if let Some(v) = v {
            member(out, name, v);
        }
    }
    for (name, v) in &ev.extensions {
        key(out, name);
        match v {
            AttrValue::Integer(i) => {
                let _ = write!(out, "{i}");
            }
            AttrValue::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            AttrValue::Binary(b) => write_str(out, &STANDARD.encode(b)),
            AttrValue::String(s)
            | AttrValue::Uri(s)
            | AttrValue::UriRef(s)
            | AttrValue::Timestamp(s) => {
                write_str(out, s);
            }
        }
    }
    if let Some(d) = &ev.data {
        write_data(ev.specversion, ev.datacontenttype.as_deref(), d, out);
    }
    out.push(b'}');
}

/// Emits data so that reading it back yields the same bytes:
/// exact JSON stays raw, text under a textual type becomes a string, anything else base64.
fn write_data(sv: SpecVersion, ct: Option<&str>, data: &Data, out: &mut Vec<u8>) {
    let json_ct = media::is_json(ct);
    match data {
        Data::Json(raw) if !raw.is_empty() => {
            key(out, "data");
            out.extend_from_slice(raw.as_bytes());
            return;
        }
        Data::Text(s) if !json_ct => {
            member(out, "data", s);
            return;
        }
        _ => {}
    }
    let bytes = data.as_bytes();
    let text = std::str::from_utf8(bytes).ok();
    match text {
        // JSON around which a producer left whitespace (a trailing newline) is still JSON:
        // embed the value; the outer whitespace cannot survive structured mode.
        Some(t) if json_ct && is_exact_json(t.trim_matches(JSON_WS)) => {
            key(out, "data");
            out.extend_from_slice(t.trim_matches(JSON_WS).as_bytes());
        }
        Some(t) if media::is_text(ct) => member(out, "data", t),
        _ => {
            let b64 = STANDARD.encode(bytes);
            match sv {
                SpecVersion::V10 => member(out, "data_base64", &b64),
                SpecVersion::V03 => {
                    member(out, "datacontentencoding", "base64");
                    member(out, "data", &b64);
                }
            }
        }
    }
}

/// JSON's insignificant whitespace (RFC 8259 §2).
const JSON_WS: &[char] = &[' ', '\t', '\n', '\r'];

/// True if `s` is one JSON value with no surrounding whitespace, so reading it back as raw
/// `data` reproduces it byte for byte.
fn is_exact_json(s: &str) -> bool {
    serde_json::from_str::<&RawValue>(s).is_ok_and(|r| r.get().len() == s.len())
}

fn key(out: &mut Vec<u8>, name: &str) {
    out.push(b',');
    write_str(out, name);
    out.push(b':');
}

fn member(out: &mut Vec<u8>, name: &str, value: &str) {
    key(out, name);
    write_str(out, value);
}

/// Writes a JSON string literal, escaping only what JSON requires.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..0x20 => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_escaping_round_trips() {
        let cases = [
            "",
            "plain",
            "q\"b\\s",
            "nl\ncr\rtab\t",
            "\u{0}\u{1f}\u{8}\u{c}",
            "ünï€😀",
            "\u{7f}",
        ];
        for s in cases {
            let mut out = Vec::new();
            write_str(&mut out, s);
            let back: String =
                serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(back, s);
        }
    }

    #[test]
    fn exact_json() {
        for (s, ok) in [
            ("{}", true),
            ("[1, 2]", true),
            ("\"x\"", true),
            ("1", true),
            (" {}", false),
            ("{} ", false),
            ("{", false),
            ("", false),
            ("1 2", false),
        ] {
            assert_eq!(is_exact_json(s), ok, "{s:?}");
        }
    }
}
