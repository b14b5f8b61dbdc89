//! Reconcilers and runner (placeholder; implemented by the controller work).
