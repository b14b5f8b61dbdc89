//! Core (`""` group, `v1`) kinds Herald stores: Namespace, ConfigMap, Secret and Service.
//!
//! The typed objects are k8s-openapi's types. Herald runs no pods: a core Service is only an
//! address book entry, resolvable through the `herald.dev/url` annotation or `ExternalName`.

use crate::field::{FieldError, FieldErrors};
use crate::meta::ObjectMeta;
use crate::registry::Resource;

pub mod configmap;
pub mod namespace;
pub mod secret;
pub mod service;

/// Annotation giving the absolute URL of a Service (core or Knative Serving) to Herald.
pub const URL_ANNOTATION: &str = "herald.dev/url";

/// Every resource of this group family.
pub fn resources() -> Vec<Resource> {
    vec![
        namespace::resource(),
        configmap::resource(),
        secret::resource(),
        service::resource(),
    ]
}

/// True for an absolute `http`/`https` URL with a host.
pub fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"));
    match rest {
        Some(r) => {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !host.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// The `herald.dev/url` annotation, if present.
pub fn url_annotation(meta: &ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()?
        .get(URL_ANNOTATION)
        .map(String::as_str)
}

/// Validates `herald.dev/url`, if present: an absolute http(s) URL.
pub fn validate_url_annotation(meta: &ObjectMeta) -> FieldErrors {
    let mut errs = FieldErrors::new();
    if let Some(u) = url_annotation(meta)
        && !is_http_url(u)
    {
        errs.push(FieldError::invalid(
            format!("metadata.annotations.{URL_ANNOTATION}"),
            format!("invalid value: {u}: must be an absolute http or https URL"),
        ));
    }
    errs
}

/// True for a ConfigMap/Secret data key (`[-._a-zA-Z0-9]+`, not `.` or `..`).
pub(crate) fn is_config_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Validates data keys (`<field>.<key>`), reporting keys present in more than one map.
pub(crate) fn validate_keys(maps: &[(&str, Vec<&String>)]) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let mut seen = std::collections::BTreeSet::new();
    for (field, keys) in maps {
        for k in keys {
            let path = format!("{field}.{k}");
            if !is_config_key(k) {
                errs.push(FieldError::invalid(
                    path,
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                ));
            } else if !seen.insert(k.as_str()) {
                errs.push(FieldError::new(
                    path,
                    crate::field::FieldReason::Duplicate,
                    format!("Duplicate value: {k:?}"),
                ));
            }
        }
    }
    errs
}

/// The `kubectl get` columns of kinds that show only their age.
pub static AGE_ONLY: [crate::registry::PrinterColumn; 1] = [crate::registry::AGE_COLUMN];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in ["http://a", "https://a.b:8080/p?q"] {
            assert!(is_http_url(ok), "{ok}");
        }
        for bad in ["", "a.b", "ftp://a", "http://", "http:///p", "/rel"] {
            assert!(!is_http_url(bad), "{bad}");
        }
        assert!(is_config_key("a.b-c_d"));
        assert!(!is_config_key("a/b"));
        assert!(!is_config_key(".."));
    }
}
