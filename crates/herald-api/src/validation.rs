//! Validation helpers shared by many kinds: destinations, references, delivery specs,
//! ISO-8601 durations, CloudEvent overrides. Messages follow Knative's webhook wording.

use std::time::Duration;

use crate::field::{FieldError, FieldErrors};
use crate::meta::{CloudEventOverrides, DeliverySpec, Destination, KReference};

/// Parses an ISO-8601 duration as Knative accepts them (`PT0.2S`, `PT1M`, `P1DT2H`).
/// Years and months are rejected because their length is ambiguous.
pub fn parse_iso8601_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("invalid ISO-8601 duration {s:?}");
    let rest = s.strip_prefix('P').ok_or_else(err)?;
    if rest.is_empty() {
        return Err(err());
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return Err(err());
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    let mut total = 0f64;
    let mut parse_part = |part: &str, units: &[(char, f64)]| -> Result<(), String> {
        let mut num = String::new();
        let mut last_unit = 0usize;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                num.push(if c == ',' { '.' } else { c });
                continue;
            }
            let idx = units.iter().position(|(u, _)| *u == c).ok_or_else(err)?;
            if idx < last_unit || num.is_empty() {
                return Err(err());
            }
            last_unit = idx + 1;
            let n: f64 = num.parse().map_err(|_| err())?;
            total += n * units[idx].1;
            num.clear();
        }
        if !num.is_empty() { Err(err()) } else { Ok(()) }
    };
    parse_part(date, &[('W', 604_800.0), ('D', 86_400.0)])?;
    if let Some(t) = time {
        parse_part(t, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    if !total.is_finite() || total < 0.0 {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(total))
}

/// True for a DNS-1123 subdomain (object names).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// True for an absolute URI with a scheme (`http://…`).
pub fn is_absolute_uri(s: &str) -> bool {
    match s.split_once("://") {
        Some((scheme, rest)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !rest.is_empty()
        }
        None => false,
    }
}

/// Validates a KReference: kind, name and apiVersion are required.
pub fn validate_kreference(r: &KReference) -> FieldErrors {
    let mut errs = FieldErrors::new();
    if r.kind.is_empty() {
        errs.push(FieldError::required("kind"));
    }
    if r.name.is_empty() {
        errs.push(FieldError::required("name"));
    }
    if r.api_version.is_empty() {
        errs.push(FieldError::required("apiVersion"));
    }
    errs
}

/// Validates a Destination: a `ref` or an absolute `uri` (a relative `uri` needs a `ref`).
pub fn validate_destination(d: &Destination) -> FieldErrors {
    let mut errs = FieldErrors::new();
    match (&d.ref_, &d.uri) {
        (None, None) => errs.push(FieldError::invalid(
            "",
            "expected at least one, got neither: ref, uri",
        )),
        (Some(r), _) => errs.extend_at("ref", validate_kreference(r)),
        (None, Some(u)) => {
            if !is_absolute_uri(u) {
                errs.push(FieldError::invalid(
                    "uri",
                    format!("invalid value: {u}: URI must be absolute when ref is not set"),
                ));
            }
        }
    }
    errs
}

/// Validates a DeliverySpec (Knative's `DeliverySpec.Validate`).
pub fn validate_delivery(d: &DeliverySpec) -> FieldErrors {
    let mut errs = FieldErrors::new();
    if let Some(dls) = &d.dead_letter_sink {
        errs.extend_at("deadLetterSink", validate_destination(dls));
    }
    if let Some(r) = d.retry.filter(|r| *r < 0) {
        errs.push(FieldError::invalid(
            "retry",
            format!("invalid value: {r}: must be >= 0"),
        ));
    }
    if let Some(Err(e)) = d.backoff_delay.as_deref().map(parse_iso8601_duration) {
        errs.push(FieldError::invalid("backoffDelay", e));
    }
    if let Some(t) = &d.timeout {
        match parse_iso8601_duration(t) {
            Ok(v) if v.is_zero() => errs.push(FieldError::invalid(
                "timeout",
                "timeout must be greater than 0",
            )),
            Ok(_) => {}
            Err(e) => errs.push(FieldError::invalid("timeout", e)),
        }
    }
    if let Some(Err(e)) = d.retry_after_max.as_deref().map(parse_iso8601_duration) {
        errs.push(FieldError::invalid("retryAfterMax", e));
    }
    errs
}

/// CloudEvents attributes a source may not override through `ceOverrides`.
pub const RESERVED_CE_ATTRIBUTES: &[&str] = &[
    "specversion",
    "type",
    "source",
    "id",
    "time",
    "subject",
    "datacontenttype",
    "dataschema",
    "data",
    "data_base64",
];

/// Validates `ceOverrides`: extension names are lower-case alphanumeric and are not required
/// or optional CloudEvents attributes.
pub fn validate_ce_overrides(o: &CloudEventOverrides) -> FieldErrors {
    let mut errs = FieldErrors::new();
    for k in o.extensions.keys() {
        let path = format!("extensions.{k}");
        if RESERVED_CE_ATTRIBUTES.contains(&k.as_str()) {
            errs.push(FieldError::invalid(
                path,
                format!("{k} is a CloudEvents attribute and cannot be overridden"),
            ));
        } else if !is_attribute_name(k) {
            errs.push(FieldError::invalid(path, "CloudEvents attribute names must consist of lower-case letters ('a' to 'z') or digits ('0' to '9')"));
        }
    }
    errs
}

/// True for a valid CloudEvents attribute name as Knative's trigger filters accept
/// (`^[a-z][a-z0-9]*$`).
pub fn is_attribute_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_iso8601_duration("PT0.2S"),
            Ok(Duration::from_millis(200))
        );
        assert_eq!(
            parse_iso8601_duration("PT1M30S"),
            Ok(Duration::from_secs(90))
        );
        assert_eq!(
            parse_iso8601_duration("P1DT1H"),
            Ok(Duration::from_secs(90_000))
        );
        for bad in ["", "P", "PT", "1S", "PT1X", "PTS", "P1M", "PT1S1M"] {
            assert!(parse_iso8601_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(is_attribute_name("type"));
        assert!(!is_attribute_name("SOURCE"));
        assert!(!is_attribute_name("s-pace"));
        assert!(!is_attribute_name("123"));
        assert!(is_dns1123_subdomain("my-broker.x"));
        assert!(!is_dns1123_subdomain("My"));
    }

    #[test]
    fn destination_needs_ref_or_uri() {
        assert!(!validate_destination(&Destination::default()).is_empty());
        let d = Destination {
            uri: Some("/relative".into()),
            ..Default::default()
        };
        assert_eq!(validate_destination(&d).0[0].path, "uri");
    }
}
