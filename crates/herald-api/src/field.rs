//! Field errors with paths, the way Knative's `apis.FieldError` reports them, so an invalid
//! object yields a 422 `Status` whose causes name `spec.filters[0].cesql` and friends.

use std::fmt;

/// What went wrong at one field. The reason mirrors Kubernetes' `CauseType` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldReason {
    /// `FieldValueRequired`
    Required,
    /// `FieldValueInvalid`
    Invalid,
    /// `FieldValueNotSupported` (enum values)
    NotSupported,
    /// `FieldValueForbidden` (immutable fields, disallowed combinations)
    Forbidden,
    /// `FieldValueDuplicate`
    Duplicate,
    /// `FieldValueTypeInvalid` (wrong JSON type)
    TypeInvalid,
}

impl FieldReason {
    /// The Kubernetes `StatusCause.reason` string.
    pub fn as_cause(&self) -> &'static str {
        match self {
            FieldReason::Required => "FieldValueRequired",
            FieldReason::Invalid => "FieldValueInvalid",
            FieldReason::NotSupported => "FieldValueNotSupported",
            FieldReason::Forbidden => "FieldValueForbidden",
            FieldReason::Duplicate => "FieldValueDuplicate",
            FieldReason::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

/// One invalid field: a dotted path (`spec.filters[0].cesql`) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub reason: FieldReason,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, reason: FieldReason, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            reason,
            message: message.into(),
        }
    }
    pub fn required(path: impl Into<String>) -> Self {
        Self::new(path, FieldReason::Required, "Required value")
    }
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(path, FieldReason::Invalid, message)
    }
    pub fn forbidden(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(path, FieldReason::Forbidden, message)
    }
    pub fn not_supported(path: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list = supported
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        Self::new(
            path,
            FieldReason::NotSupported,
            format!("Unsupported value: \"{value}\": supported values: {list}"),
        )
    }
    /// An immutable field changed; the message follows Knative's webhook wording.
    pub fn immutable(path: impl Into<String>) -> Self {
        Self::new(
            path,
            FieldReason::Forbidden,
            "Immutable fields changed (-old +new)",
        )
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A list of field errors; empty means valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }
    pub fn extend(&mut self, other: FieldErrors) {
        self.0.extend(other.0);
    }
    /// Adds `other`'s errors with `prefix` prepended to their paths (`prefix.path`).
    pub fn extend_at(&mut self, prefix: &str, other: FieldErrors) {
        for mut e in other.0 {
            e.path = join_path(prefix, &e.path);
            self.0.push(e);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl From<FieldError> for FieldErrors {
    fn from(e: FieldError) -> Self {
        FieldErrors(vec![e])
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|e| e.to_string()).collect();
        write!(f, "{}", parts.join(", "))
    }
}

impl std::error::Error for FieldErrors {}

/// Joins two path parts: `join_path("spec", "filters[0]") == "spec.filters[0]"`,
/// `join_path("spec.filters", "[0]") == "spec.filters[0]"`.
pub fn join_path(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else if rest.is_empty() {
        prefix.to_string()
    } else if rest.starts_with('[') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}.{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join() {
        assert_eq!(join_path("spec", "filters[0]"), "spec.filters[0]");
        assert_eq!(join_path("spec.filters", "[0]"), "spec.filters[0]");
        assert_eq!(join_path("", "spec"), "spec");
        let mut errs = FieldErrors::new();
        errs.extend_at("spec", FieldError::required("subscriber").into());
        assert_eq!(errs.to_string(), "spec.subscriber: Required value");
    }
}
