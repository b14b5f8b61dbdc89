//! API errors and their Kubernetes `Status` bodies.
//!
//! kubectl prints `Error from server (<reason>): <message>` and branches on `reason`/`code`
//! (e.g. NotFound makes `apply` create), so messages and reasons follow kube-apiserver's wording.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_api::FieldErrors;
use herald_store::StoreError;
use serde_json::{Value, json};

/// Which resource an error is about, for messages like `brokers.eventing.knative.dev "x" not found`.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub group: String,
    pub plural: String,
    pub kind: String,
    pub name: String,
}

impl Target {
    /// `plural.group` (or just `plural` for the core group), as in kube-apiserver messages.
    pub fn qualified_resource(&self) -> String {
        qualify(&self.plural, &self.group)
    }
    /// `Kind.group`, used in "is invalid" messages.
    pub fn qualified_kind(&self) -> String {
        qualify(&self.kind, &self.group)
    }
    fn details(&self) -> Value {
        let mut d = json!({"name": self.name, "kind": self.plural});
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d
    }
}

fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

/// Every error the API answers with; each maps to one HTTP status and `Status.reason`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{message}")]
    Forbidden {
        message: String,
        details: Option<Value>,
    },
    #[error("{message}")]
    NotFound {
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{} \"{}\" already exists", .0.qualified_resource(), .0.name)]
    AlreadyExists(Target),
    #[error(
        "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
        .0.qualified_resource(), .0.name
    )]
    Conflict(Target),
    #[error("{0}")]
    Gone(String),
    #[error("{}", invalid_message(.target, .errors))]
    Invalid { target: Target, errors: FieldErrors },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Internal(String),
}

/// `Broker.eventing.knative.dev "x" is invalid: spec.a: msg` (one error) or
/// `...: [a: m1, b: m2]` (several), as `errors.NewInvalid` formats it.
fn invalid_message(target: &Target, errors: &FieldErrors) -> String {
    let parts: Vec<String> = errors
        .0
        .iter()
        .map(|e| {
            if e.path.is_empty() {
                e.message.clone()
            } else {
                format!("{}: {}", e.path, e.message)
            }
        })
        .collect();
    let joined = if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    };
    format!(
        "{} \"{}\" is invalid: {}",
        target.qualified_kind(),
        target.name,
        joined
    )
}

impl ApiError {
    /// A NotFound for a named object of a resource.
    pub fn not_found(target: Target) -> Self {
        ApiError::NotFound {
            message: format!(
                "{} \"{}\" not found",
                target.qualified_resource(),
                target.name
            ),
            details: Some(target.details()),
        }
    }

    /// A NotFound for a URL that names nothing Herald serves.
    pub fn no_route(message: impl Into<String>) -> Self {
        ApiError::NotFound {
            message: message.into(),
            details: None,
        }
    }

    /// Maps a store failure on `target`.
    pub fn from_store(e: StoreError, target: &Target) -> Self {
        match e {
            StoreError::AlreadyExists { .. } => ApiError::AlreadyExists(target.clone()),
            StoreError::NotFound { .. } => ApiError::not_found(target.clone()),
            StoreError::Conflict { .. } => ApiError::Conflict(target.clone()),
            StoreError::Gone { .. } => ApiError::Gone(e.to_string()),
            StoreError::Invalid(m) => ApiError::BadRequest(m),
            StoreError::Storage(m) => ApiError::Internal(format!("storage error: {m}")),
        }
    }

    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::AlreadyExists(_) | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `metav1.StatusReason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::NotFound { .. } => "NotFound",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict(_) => "Conflict",
            ApiError::Gone(_) => "Expired",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Internal(_) => "InternalError",
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::NotFound { details, .. } | ApiError::Forbidden { details, .. } => {
                details.clone()
            }
            ApiError::AlreadyExists(t) | ApiError::Conflict(t) => Some(t.details()),
            ApiError::Invalid { target, errors } => {
                let mut d = json!({"name": target.name, "kind": target.kind});
                if !target.group.is_empty() {
                    d["group"] = json!(target.group);
                }
                let causes: Vec<Value> = errors
                    .0
                    .iter()
                    .map(|e| {
                        json!({"reason": e.reason.as_cause(), "message": e.message, "field": e.path})
                    })
                    .collect();
                d["causes"] = Value::Array(causes);
                Some(d)
            }
            _ => None,
        }
    }

    /// The `Status` object (also used inside watch `ERROR` events).
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        if let Some(d) = self.details() {
            s["details"] = d;
        }
        s
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.status().to_string();
        let mut resp = (self.code(), body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use herald_api::FieldError;

    fn target() -> Target {
        Target {
            group: "eventing.knative.dev".into(),
            plural: "brokers".into(),
            kind: "Broker".into(),
            name: "b".into(),
        }
    }

    #[test]
    fn messages_follow_kube_apiserver() {
        let cases: Vec<(ApiError, u16, &str, &str)> = vec![
            (
                ApiError::not_found(target()),
                404,
                "NotFound",
                "brokers.eventing.knative.dev \"b\" not found",
            ),
            (
                ApiError::AlreadyExists(target()),
                409,
                "AlreadyExists",
                "brokers.eventing.knative.dev \"b\" already exists",
            ),
            (
                ApiError::Invalid {
                    target: target(),
                    errors: FieldError::invalid("spec.delivery.retry", "Invalid value: -1").into(),
                },
                422,
                "Invalid",
                "Broker.eventing.knative.dev \"b\" is invalid: spec.delivery.retry: Invalid value: -1",
            ),
        ];
        for (err, code, reason, msg) in cases {
            let s = err.status();
            assert_eq!(s["code"], json!(code));
            assert_eq!(s["reason"], json!(reason));
            assert_eq!(s["message"], json!(msg));
        }
        let inv = ApiError::Invalid {
            target: target(),
            errors: FieldErrors(vec![
                FieldError::required("spec.a"),
                FieldError::required("spec.b"),
            ]),
        };
        let s = inv.status();
        assert!(s["message"].as_str().is_some_and(|m| {
            m.ends_with("is invalid: [spec.a: Required value, spec.b: Required value]")
        }));
        assert_eq!(s["details"]["causes"][1]["field"], json!("spec.b"));
        assert_eq!(
            s["details"]["causes"][1]["reason"],
            json!("FieldValueRequired")
        );
    }
}
