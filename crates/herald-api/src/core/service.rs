//! `Service` (core v1). Herald runs no pods, so a Service is an address book entry: it
//! resolves to its `herald.dev/url` annotation, or, for `type: ExternalName`, to
//! `http://<externalName>[:<first port>]`.

use k8s_openapi::api::core::v1::Service;

use crate::field::{FieldError, FieldErrors};
use crate::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, Resource, ServedVersion, Typed, set_type,
};
use crate::schema::structural;

use super::{url_annotation, validate_url_annotation};

pub const KIND: &str = "Service";

const TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];

/// The URL a Service resolves to, if any.
pub fn service_url(svc: &Service) -> Option<String> {
    if let Some(u) = url_annotation(&svc.metadata) {
        return Some(u.to_string());
    }
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() != Some("ExternalName") {
        return None;
    }
    let host = spec.external_name.as_deref().filter(|h| !h.is_empty())?;
    Some(match spec.ports.as_ref().and_then(|p| p.first()) {
        Some(p) => format!("http://{host}:{}", p.port),
        None => format!("http://{host}"),
    })
}

impl Kind for Service {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let spec = self.spec.get_or_insert_with(Default::default);
        if spec.type_.as_deref().unwrap_or("").is_empty() {
            spec.type_ = Some("ClusterIP".into());
        }
        for p in spec.ports.iter_mut().flatten() {
            if p.protocol.is_none() {
                p.protocol = Some("TCP".into());
            }
        }
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = validate_url_annotation(&self.metadata);
        let Some(spec) = &self.spec else {
            return errs;
        };
        let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
        if !TYPES.contains(&type_) {
            errs.push(FieldError::not_supported("spec.type", type_, TYPES));
        }
        if type_ == "ExternalName" && spec.external_name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required("spec.externalName"));
        }
        for (i, p) in spec.ports.iter().flatten().enumerate() {
            if !(1..=65535).contains(&p.port) {
                errs.push(FieldError::invalid(
                    format!("spec.ports[{i}].port"),
                    format!(
                        "invalid value: {}: must be between 1 and 65535, inclusive",
                        p.port
                    ),
                ));
            }
        }
        errs
    }
}

pub static COLUMNS: [PrinterColumn; 4] = [
    PrinterColumn {
        name: "Type",
        type_: "string",
        json_path: ".spec.type",
        priority: 0,
        description: "",
    },
    PrinterColumn {
        name: "External-Name",
        type_: "string",
        json_path: ".spec.externalName",
        priority: 0,
        description: "",
    },
    PrinterColumn {
        name: "URL",
        type_: "string",
        json_path: ".metadata.annotations.herald\\.dev/url",
        priority: 0,
        description: "The URL Herald delivers to",
    },
    AGE_COLUMN,
];

/// The core Service resource.
pub fn resource() -> Resource {
    Resource {
        group: "",
        plural: "services",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: "",
            version: "v1",
            kind: KIND,
            plural: "services",
            singular: "service",
            short_names: &["svc"],
            categories: &["all"],
            columns: &COLUMNS,
            deprecated: None,
            schema: || structural::<Service>(),
            to_storage: |v| Ok(set_type(v, "v1", KIND)),
            from_storage: |v| Ok(set_type(v, "v1", KIND)),
        }],
        hooks: Box::new(Typed::<Service>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{NoConfig, decode};
    use serde_json::{Value, json};

    fn svc(v: Value) -> Service {
        decode(&v).unwrap_or_default()
    }

    #[test]
    fn urls() {
        let cases = [
            (
                json!({"metadata": {"annotations": {"herald.dev/url": "http://127.0.0.1:9000/x"}}}),
                Some("http://127.0.0.1:9000/x"),
            ),
            (
                json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}),
                Some("http://example.com"),
            ),
            (
                json!({"spec": {"type": "ExternalName", "externalName": "example.com", "ports": [{"port": 8080}]}}),
                Some("http://example.com:8080"),
            ),
            (json!({"spec": {"type": "ClusterIP"}}), None),
        ];
        for (v, want) in cases {
            assert_eq!(service_url(&svc(v.clone())).as_deref(), want, "{v}");
        }
    }

    #[test]
    fn defaults_and_validation() {
        let ctx = Ctx { config: &NoConfig };
        let mut s = svc(json!({"spec": {"ports": [{"port": 80}]}}));
        s.set_defaults(&ctx);
        let spec = s.spec.clone().unwrap_or_default();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!({"metadata": {"annotations": {"herald.dev/url": "https://x"}}}),
                vec![],
            ),
            (
                json!({"metadata": {"annotations": {"herald.dev/url": "x"}}}),
                vec!["metadata.annotations.herald.dev/url"],
            ),
            (
                json!({"spec": {"type": "ExternalName"}}),
                vec!["spec.externalName"],
            ),
            (
                json!({"spec": {"type": "Weird", "ports": [{"port": 0}]}}),
                vec!["spec.type", "spec.ports[0].port"],
            ),
        ];
        for (v, want) in cases {
            let errs = svc(v.clone()).validate(&ctx);
            let got: Vec<_> = errs.0.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(got, want, "{v}");
        }
        assert!(
            !(resource().versions[0].schema)()
                .to_string()
                .contains("$ref")
        );
    }
}
