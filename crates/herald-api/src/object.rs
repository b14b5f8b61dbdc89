//! The typed shape shared by Knative kinds: `apiVersion`, `kind`, `metadata`, `spec`, `status`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;

/// A typed resource object. `S` is the spec, `St` the status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Object<S: Default, St> {
    /// APIVersion defines the versioned schema of this representation of an object.
    #[serde(default)]
    pub api_version: String,
    /// Kind is a string value representing the REST resource this object represents.
    #[serde(default)]
    pub kind: String,
    /// Standard object's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec defines the desired state of the resource.
    #[serde(default)]
    pub spec: S,
    /// Status represents the current state of the resource (written by Herald).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<St>,
}

impl<S: Default, St> Object<S, St> {
    /// The object's namespace, or `""` for cluster-scoped objects.
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("")
    }
    /// The object's name.
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }
}
