//! Condition sets: `Ready` derived from a kind's dependent conditions, as Knative's
//! `apis.NewLivingConditionSet` does. Pure: the caller passes the current time.

use crate::meta::{Condition, ConditionStatus};

/// The summary condition type of long-running resources.
pub const READY: &str = "Ready";

/// The dependent condition types of one kind; `Ready` is the happy condition.
#[derive(Debug, Clone, Copy)]
pub struct ConditionSet {
    pub dependents: &'static [&'static str],
}

impl ConditionSet {
    pub const fn new(dependents: &'static [&'static str]) -> Self {
        ConditionSet { dependents }
    }

    /// Adds every missing condition (Ready and dependents) as `Unknown`.
    pub fn initialize(&self, conditions: &mut Vec<Condition>, now: &str) {
        for t in std::iter::once(&READY).chain(self.dependents.iter()) {
            if !conditions.iter().any(|c| c.type_ == *t) {
                conditions.push(Condition {
                    type_: t.to_string(),
                    status: ConditionStatus::Unknown,
                    last_transition_time: Some(now.to_string()),
                    ..Default::default()
                });
            }
        }
        self.recompute(conditions, now);
    }

    pub fn mark_true(&self, conditions: &mut Vec<Condition>, t: &str, now: &str) {
        set(conditions, t, ConditionStatus::True, None, None, now);
        self.recompute(conditions, now);
    }

    /// Marks `t` True with a reason (e.g. `DeadLetterSinkNotConfigured`).
    pub fn mark_true_with_reason(
        &self,
        conditions: &mut Vec<Condition>,
        t: &str,
        reason: &str,
        message: &str,
        now: &str,
    ) {
        set(
            conditions,
            t,
            ConditionStatus::True,
            Some(reason),
            Some(message),
            now,
        );
        self.recompute(conditions, now);
    }

    pub fn mark_false(
        &self,
        conditions: &mut Vec<Condition>,
        t: &str,
        reason: &str,
        message: &str,
        now: &str,
    ) {
        set(
            conditions,
            t,
            ConditionStatus::False,
            Some(reason),
            Some(message),
            now,
        );
        self.recompute(conditions, now);
    }

    pub fn mark_unknown(
        &self,
        conditions: &mut Vec<Condition>,
        t: &str,
        reason: &str,
        message: &str,
        now: &str,
    ) {
        set(
            conditions,
            t,
            ConditionStatus::Unknown,
            Some(reason),
            Some(message),
            now,
        );
        self.recompute(conditions, now);
    }

    /// Derives `Ready` from the dependents: any error-severity False makes it False (with that
    /// condition's reason), else any Unknown makes it Unknown, else True.
    pub fn recompute(&self, conditions: &mut Vec<Condition>, now: &str) {
        let deps: Vec<&Condition> = conditions
            .iter()
            .filter(|c| self.dependents.contains(&c.type_.as_str()) && c.severity.is_empty())
            .collect();
        let missing = self
            .dependents
            .iter()
            .any(|d| !conditions.iter().any(|c| c.type_ == *d));
        let (status, reason, message) =
            if let Some(c) = deps.iter().find(|c| c.status == ConditionStatus::False) {
                (ConditionStatus::False, c.reason.clone(), c.message.clone())
            } else if let Some(c) = deps.iter().find(|c| c.status == ConditionStatus::Unknown) {
                (
                    ConditionStatus::Unknown,
                    c.reason.clone(),
                    c.message.clone(),
                )
            } else if missing {
                (ConditionStatus::Unknown, None, None)
            } else {
                (ConditionStatus::True, None, None)
            };
        set(
            conditions,
            READY,
            status,
            reason.as_deref(),
            message.as_deref(),
            now,
        );
    }

    /// True when `Ready` is True.
    pub fn is_ready(conditions: &[Condition]) -> bool {
        get(conditions, READY).is_some_and(|c| c.status == ConditionStatus::True)
    }
}

/// Finds a condition by type.
pub fn get<'a>(conditions: &'a [Condition], t: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == t)
}

/// Sets a condition, keeping `lastTransitionTime` when the status does not change.
fn set(
    conditions: &mut Vec<Condition>,
    t: &str,
    status: ConditionStatus,
    reason: Option<&str>,
    message: Option<&str>,
    now: &str,
) {
    let reason = reason.filter(|r| !r.is_empty()).map(str::to_string);
    let message = message.filter(|m| !m.is_empty()).map(str::to_string);
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == t) {
        if c.status != status {
            c.last_transition_time = Some(now.to_string());
        }
        c.status = status;
        c.reason = reason;
        c.message = message;
    } else {
        conditions.push(Condition {
            type_: t.to_string(),
            status,
            severity: String::new(),
            last_transition_time: Some(now.to_string()),
            reason,
            message,
        });
    }
    // Ready first, the rest sorted, so status output is stable.
    conditions.sort_by(|a, b| (a.type_ != READY, &a.type_).cmp(&(b.type_ != READY, &b.type_)));
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: ConditionSet = ConditionSet::new(&["A", "B"]);

    #[test]
    fn ready_follows_dependents() {
        let mut c = Vec::new();
        SET.initialize(&mut c, "t0");
        assert_eq!(
            get(&c, READY).map(|c| c.status),
            Some(ConditionStatus::Unknown)
        );
        SET.mark_true(&mut c, "A", "t1");
        SET.mark_false(&mut c, "B", "Broken", "b is broken", "t1");
        let ready = get(&c, READY).cloned().unwrap_or_default();
        assert_eq!(ready.status, ConditionStatus::False);
        assert_eq!(ready.reason.as_deref(), Some("Broken"));
        SET.mark_true(&mut c, "B", "t2");
        assert!(ConditionSet::is_ready(&c));
        assert_eq!(c[0].type_, READY);
        assert_eq!(
            get(&c, "A")
                .and_then(|c| c.last_transition_time.clone())
                .as_deref(),
            Some("t1")
        );
    }
}
