//! Explaining a filter decision: which sub-filter decided it (used by `herald eval`).
