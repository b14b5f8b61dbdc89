//! The Subscriptions API dialects, compiled to a tree evaluated with three-valued logic.

use herald_ce::Event;

use crate::attribute::lookup;
use crate::{FilterError, SubscriptionsApiFilter};

/// The result of one filter on one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// The filter does not apply (it could not be built); parents skip it.
    NoFilter,
}

/// A compiled filter node.
#[derive(Debug, Clone)]
pub enum Compiled {
    NoFilter,
    /// Legacy `filter.attributes`.
    Attributes(Vec<(String, String)>),
    Exact(Vec<(String, String)>),
    Prefix(Vec<(String, String)>),
    Suffix(Vec<(String, String)>),
    All(Vec<Compiled>),
    Any(Vec<Compiled>),
    Not(Box<Compiled>),
    /// CESQL: passes only on a Boolean true without error (spec §1.2).
    Cesql(std::sync::Arc<herald_cesql::Expression>),
}

impl Compiled {
    /// `all` over children, dropping no-filters; a single child collapses to itself.
    pub fn all(children: Vec<Compiled>) -> Compiled {
        Self::combine(children, Compiled::All)
    }

    fn combine(children: Vec<Compiled>, make: fn(Vec<Compiled>) -> Compiled) -> Compiled {
        let mut children: Vec<Compiled> = children
            .into_iter()
            .filter(|c| !matches!(c, Compiled::NoFilter))
            .collect();
        match children.len() {
            0 => Compiled::NoFilter,
            1 => children.pop().unwrap_or(Compiled::NoFilter),
            _ => make(children),
        }
    }

    pub fn eval(&self, event: &Event) -> Verdict {
        let verdict = |ok: bool| if ok { Verdict::Pass } else { Verdict::Fail };
        match self {
            Compiled::NoFilter => Verdict::NoFilter,
            Compiled::Attributes(pairs) => {
                verdict(pairs.iter().all(|(k, want)| match lookup(event, k) {
                    None => false,
                    Some(v) if want.is_empty() => !v.is_empty(),
                    Some(v) => v == want.as_str(),
                }))
            }
            Compiled::Exact(pairs) => verdict(
                pairs
                    .iter()
                    .all(|(k, want)| lookup(event, k).is_some_and(|v| v == want.as_str())),
            ),
            Compiled::Prefix(pairs) => {
                verdict(pairs.iter().all(|(k, want)| {
                    lookup(event, k).is_some_and(|v| v.starts_with(want.as_str()))
                }))
            }
            Compiled::Suffix(pairs) => verdict(
                pairs
                    .iter()
                    .all(|(k, want)| lookup(event, k).is_some_and(|v| v.ends_with(want.as_str()))),
            ),
            Compiled::All(children) => {
                for c in children {
                    if c.eval(event) == Verdict::Fail {
                        return Verdict::Fail;
                    }
                }
                Verdict::Pass
            }
            Compiled::Any(children) => {
                let mut seen = false;
                for c in children {
                    match c.eval(event) {
                        Verdict::Pass => return Verdict::Pass,
                        Verdict::Fail => seen = true,
                        Verdict::NoFilter => {}
                    }
                }
                if seen {
                    Verdict::Fail
                } else {
                    Verdict::NoFilter
                }
            }
            Compiled::Cesql(expr) => verdict(expr.matches(event)),
            Compiled::Not(inner) => match inner.eval(event) {
                Verdict::Pass => Verdict::Fail,
                Verdict::Fail => Verdict::Pass,
                Verdict::NoFilter => Verdict::NoFilter,
            },
        }
    }
}

/// Pairs of a map dialect; an empty key or value makes the whole dialect a no-filter, as
/// Knative skips filters it fails to build.
fn pairs(map: &std::collections::BTreeMap<String, String>) -> Option<Vec<(String, String)>> {
    if map.iter().any(|(k, v)| k.is_empty() || v.is_empty()) {
        return None;
    }
    Some(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Compiles one filter object. Admission already rejects objects with several dialects; if one
/// slips through, every dialect present must pass (the strictest reading).
pub fn compile(f: &SubscriptionsApiFilter, path: &str) -> Result<Compiled, FilterError> {
    let mut parts = Vec::new();
    // An empty expression is a filter that cannot be built: skipped, like an empty `exact`.
    if let Some(sql) = f.cesql.as_deref().filter(|s| !s.trim().is_empty()) {
        let expr = herald_cesql::Expression::parse(sql).map_err(|e| FilterError::Cesql {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        parts.push(Compiled::Cesql(std::sync::Arc::new(expr)));
    }
    if !f.exact.is_empty() {
        parts.push(pairs(&f.exact).map_or(Compiled::NoFilter, Compiled::Exact));
    }
    if !f.prefix.is_empty() {
        parts.push(pairs(&f.prefix).map_or(Compiled::NoFilter, Compiled::Prefix));
    }
    if !f.suffix.is_empty() {
        parts.push(pairs(&f.suffix).map_or(Compiled::NoFilter, Compiled::Suffix));
    }
    if !f.all.is_empty() {
        let children = f
            .all
            .iter()
            .enumerate()
            .map(|(i, c)| compile(c, &format!("{path}.all[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        parts.push(Compiled::all(children));
    }
    if !f.any.is_empty() {
        let children = f
            .any
            .iter()
            .enumerate()
            .map(|(i, c)| compile(c, &format!("{path}.any[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        parts.push(Compiled::combine(children, Compiled::Any));
    }
    if let Some(inner) = &f.not {
        let inner = compile(inner, &format!("{path}.not"))?;
        parts.push(match inner {
            Compiled::NoFilter => Compiled::NoFilter,
            other => Compiled::Not(Box::new(other)),
        });
    }
    Ok(Compiled::all(parts))
}
