//! `Namespace` (core v1, cluster-scoped). Status (`phase`) is left to the API server.

use k8s_openapi::api::core::v1::Namespace;

use crate::field::{FieldError, FieldErrors};
use crate::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, Resource, ServedVersion, Typed, set_type,
};
use crate::schema::structural;
use crate::validation::is_dns1123_subdomain;

pub const KIND: &str = "Namespace";

/// True for a DNS-1123 label (namespace names).
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && !s.contains('.') && is_dns1123_subdomain(s)
}

impl Kind for Namespace {
    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if let Some(name) = self.metadata.name.as_deref()
            && !name.is_empty()
            && !is_dns1123_label(name)
        {
            errs.push(FieldError::invalid(
                "metadata.name",
                format!("invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"),
            ));
        }
        errs
    }
}

pub static COLUMNS: [PrinterColumn; 2] = [
    PrinterColumn {
        name: "Status",
        type_: "string",
        json_path: ".status.phase",
        priority: 0,
        description: "The phase of the namespace",
    },
    AGE_COLUMN,
];

/// The Namespace resource.
pub fn resource() -> Resource {
    Resource {
        group: "",
        plural: "namespaces",
        kind: KIND,
        namespaced: false,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: "",
            version: "v1",
            kind: KIND,
            plural: "namespaces",
            singular: "namespace",
            short_names: &["ns"],
            categories: &[],
            columns: &COLUMNS,
            deprecated: None,
            schema: || structural::<Namespace>(),
            to_storage: |v| Ok(set_type(v, "v1", KIND)),
            from_storage: |v| Ok(set_type(v, "v1", KIND)),
        }],
        hooks: Box::new(Typed::<Namespace>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::NoConfig;
    use serde_json::json;

    #[test]
    fn validation() {
        let r = resource();
        let ctx = Ctx { config: &NoConfig };
        let ok = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}});
        assert!(r.hooks.validate(&ok, None, &ctx).is_ok());
        let bad =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Bad.Name"}});
        let errs = r.hooks.validate(&bad, None, &ctx).err().unwrap_or_default();
        assert_eq!(errs.0[0].path, "metadata.name");
        assert!(!(r.versions[0].schema)().to_string().contains("$ref"));
    }
}
