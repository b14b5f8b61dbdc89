//! Content-type classification (case-insensitive, parameters ignored).

/// The media type without parameters, trimmed.
pub fn essence(ct: &str) -> &str {
    ct.split_once(';').map_or(ct, |(m, _)| m).trim()
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// JSON data per the JSON event format: absent, `application/json`, `text/json` or `*+json`.
pub fn is_json(ct: Option<&str>) -> bool {
    let Some(ct) = ct else { return true };
    let m = essence(ct);
    m.eq_ignore_ascii_case("application/json")
        || m.eq_ignore_ascii_case("text/json")
        || ends_with_ci(m, "+json")
}

/// Textual data that can travel as a JSON string: `text/*` and XML types.
pub fn is_text(ct: Option<&str>) -> bool {
    let Some(ct) = ct else { return false };
    let m = essence(ct);
    starts_with_ci(m, "text/") || ends_with_ci(m, "/xml") || ends_with_ci(m, "+xml")
}

/// How an HTTP content type relates to CloudEvents.
#[derive(Debug, PartialEq, Eq)]
pub enum CeFormat {
    Structured,
    Batch,
    /// A CloudEvents media type in a format Herald does not speak (avro, protobuf, ...).
    Unsupported,
    NotCe,
}

pub fn ce_format(ct: &str) -> CeFormat {
    let m = essence(ct);
    if m.eq_ignore_ascii_case("application/cloudevents+json") {
        CeFormat::Structured
    } else if m.eq_ignore_ascii_case("application/cloudevents-batch+json") {
        CeFormat::Batch
    } else if starts_with_ci(m, "application/cloudevents") {
        CeFormat::Unsupported
    } else {
        CeFormat::NotCe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let cases: &[(Option<&str>, bool, bool)] = &[
            (None, true, false),
            (Some("application/json"), true, false),
            (Some("Application/JSON; charset=utf-8"), true, false),
            (Some("text/json"), true, true),
            (Some("application/vnd.foo+json"), true, false),
            (Some("text/plain"), false, true),
            (Some("TEXT/html;charset=utf-8"), false, true),
            (Some("application/xml"), false, true),
            (Some("application/atom+xml"), false, true),
            (Some("application/octet-stream"), false, false),
            (Some("json"), false, false),
        ];
        for (ct, json, text) in cases {
            assert_eq!(is_json(*ct), *json, "{ct:?}");
            assert_eq!(is_text(*ct), *text, "{ct:?}");
        }
    }

    #[test]
    fn formats() {
        let cases = [
            ("application/cloudevents+json", CeFormat::Structured),
            (
                "Application/CloudEvents+JSON ; charset=UTF-8",
                CeFormat::Structured,
            ),
            ("application/cloudevents-batch+json", CeFormat::Batch),
            ("application/cloudevents+avro", CeFormat::Unsupported),
            ("application/cloudevents+protobuf", CeFormat::Unsupported),
            ("application/cloudevents-batch+avro", CeFormat::Unsupported),
            ("application/json", CeFormat::NotCe),
            ("", CeFormat::NotCe),
        ];
        for (ct, want) in cases {
            assert_eq!(ce_format(ct), want, "{ct}");
        }
    }
}
