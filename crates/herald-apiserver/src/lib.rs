//! Kubernetes-compatible REST API (placeholder; implemented by the API server work).
