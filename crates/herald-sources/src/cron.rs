//! A cron schedule evaluator with the syntax Knative's PingSource takes (robfig/cron with
//! `SecondOptional` and descriptors): 5 fields (minute hour day-of-month month day-of-week) or 6
//! with a leading seconds field; `*`, `?`, values, names (`JAN`, `mon`), ranges, `/step` and
//! comma lists; `@yearly`/`@annually`/`@monthly`/`@weekly`/`@daily`/`@midnight`/`@hourly`;
//! `@every <Go duration>`; and an optional `CRON_TZ=<zone> ` or `TZ=<zone> ` prefix.
//!
//! The accepted set is exactly herald-api's [`validate_cron`] (it is checked first), so whatever
//! admission lets in evaluates here.
//!
//! Day semantics follow robfig/cron: when both day-of-month and day-of-week are restricted
//! (neither starts with `*` or `?`), a day matches if *either* matches; otherwise both must.
//! Day-of-week `7` is Sunday, like `0`.
//!
//! Time zone changes (DST), evaluated in the schedule's zone:
//! - A wall-clock time skipped by a forward jump (e.g. 02:30 on a spring-forward night) fires
//!   once, at the instant of the jump (03:00 new time), like Vixie cron — a daily job is not lost.
//! - A wall-clock time repeated by a backward jump fires once (on its first occurrence) when the
//!   hour field is restricted; schedules whose hour field is `*` keep firing through the repeated
//!   hour, so per-second and per-minute schedules never pause for an hour.
//!
//! [`validate_cron`]: herald_api::sources::ping::validate_cron

use herald_api::sources::ping::validate_cron;
use herald_api::sources::support::parse_go_duration;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// Why a schedule cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("invalid schedule {schedule:?}: {reason}")]
    Invalid { schedule: String, reason: String },
    #[error("unknown time zone {name:?}: {reason}")]
    TimeZone { name: String, reason: String },
}

/// Years searched for a match before giving up (robfig/cron's limit too): `0 0 30 2 *` never
/// fires.
const YEAR_LIMIT: i16 = 5;

/// A parsed schedule and the zone it is evaluated in.
#[derive(Debug, Clone)]
pub struct Schedule {
    rule: Rule,
    tz: TimeZone,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Fields(Fields),
    /// `@every`: a fixed number of whole seconds after the previous tick.
    Every(i64),
}

/// One bit per allowed value.
#[derive(Debug, Clone, PartialEq)]
struct Fields {
    second: u64,
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// Day-of-month or day-of-week started with `*`/`?` (without a step > 1): days must match
    /// both fields, not either.
    day_star: bool,
}

/// The range and names of one field.
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: Bounds = SECOND;
const HOUR: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

impl Bounds {
    fn value(&self, s: &str) -> Result<u32, String> {
        let upper = s.to_ascii_uppercase();
        if let Some(i) = self.names.iter().position(|n| *n == upper) {
            return Ok(i as u32 + self.min);
        }
        match s.parse::<u32>() {
            Ok(n) if (self.min..=self.max).contains(&n) => Ok(n),
            _ => Err(format!("invalid value {s:?}")),
        }
    }

    /// The bits of a comma list, and whether it counts as `*` for the day rule.
    fn parse(&self, field: &str) -> Result<(u64, bool), String> {
        let mut bits = 0u64;
        let mut star = false;
        for item in field.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (item, None),
            };
            let step = match step {
                None => 1,
                Some(s) => match s.parse::<u32>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("invalid step {s:?}")),
                },
            };
            let (lo, hi) = if range == "*" || range == "?" {
                star |= step == 1;
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                (self.value(a)?, self.value(b)?)
            } else {
                let v = self.value(range)?;
                // `5/15` means from 5 to the end, every 15 (robfig/cron).
                (v, if step > 1 { self.max } else { v })
            };
            if lo > hi {
                return Err(format!("range {range:?} ends before it begins"));
            }
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok((bits, star))
    }
}

fn has(bits: u64, v: i8) -> bool {
    (0..64).contains(&v) && bits & (1 << v) != 0
}

/// The smallest allowed value ≥ `from`.
fn next_bit(bits: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = bits >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

impl Fields {
    fn parse(fields: &[&str]) -> Result<Fields, String> {
        let (second, rest) = match fields.len() {
            5 => ("0", fields),
            6 => (fields[0], &fields[1..]),
            n => return Err(format!("expected 5 or 6 fields, found {n}")),
        };
        let [minute, hour, dom, month, dow] = rest else {
            return Err("expected 5 or 6 fields".into());
        };
        let (second, _) = SECOND.parse(second)?;
        let (minute, _) = MINUTE.parse(minute)?;
        let (hour, _) = HOUR.parse(hour)?;
        let (dom, dom_star) = DOM.parse(dom)?;
        let (month, _) = MONTH.parse(month)?;
        let (mut dow, dow_star) = DOW.parse(dow)?;
        if dow & (1 << 7) != 0 {
            dow = (dow & !(1 << 7)) | 1;
        }
        Ok(Fields {
            second,
            minute,
            hour,
            dom,
            month,
            dow,
            day_star: dom_star || dow_star,
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = has(self.dom, d.day());
        let dow = has(self.dow, d.weekday().to_sunday_zero_offset());
        if self.day_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The earliest allowed time of day ≥ `from`.
    fn time_at_or_after(&self, from: Time) -> Option<Time> {
        let (h0, m0, s0) = (
            from.hour() as u32,
            from.minute() as u32,
            from.second() as u32,
        );
        let mut h = next_bit(self.hour, h0)?;
        loop {
            let mut m = next_bit(self.minute, if h == h0 { m0 } else { 0 });
            while let Some(mm) = m {
                let s_from = if h == h0 && mm == m0 { s0 } else { 0 };
                if let Some(s) = next_bit(self.second, s_from) {
                    return Time::new(h as i8, mm as i8, s as i8, 0).ok();
                }
                m = next_bit(self.minute, mm + 1);
            }
            h = next_bit(self.hour, h + 1)?;
        }
    }

    /// The earliest matching wall-clock time ≥ `from` (whole seconds), within [`YEAR_LIMIT`].
    fn next_civil(&self, from: DateTime) -> Option<DateTime> {
        let limit = from.year().saturating_add(YEAR_LIMIT);
        let mut date = from.date();
        let mut time = from.time().with().subsec_nanosecond(0).build().ok()?;
        loop {
            if date.year() > limit {
                return None;
            }
            if !has(self.month, date.month()) {
                date = date.last_of_month().tomorrow().ok()?;
                time = Time::midnight();
                continue;
            }
            if self.day_matches(date)
                && let Some(t) = self.time_at_or_after(time)
            {
                return Some(date.to_datetime(t));
            }
            date = date.tomorrow().ok()?;
            time = Time::midnight();
        }
    }

    fn every_hour(&self) -> bool {
        self.hour == (1 << 24) - 1
    }
}

/// The fields a descriptor stands for (robfig/cron).
fn descriptor(s: &str) -> Option<&'static str> {
    Some(match s {
        "@yearly" | "@annually" => "0 0 0 1 1 *",
        "@monthly" => "0 0 0 1 * *",
        "@weekly" => "0 0 0 * * 0",
        "@daily" | "@midnight" => "0 0 0 * * *",
        "@hourly" => "0 0 * * * *",
        _ => return None,
    })
}

fn zone(name: &str) -> Result<TimeZone, CronError> {
    TimeZone::get(name).map_err(|e| CronError::TimeZone {
        name: name.into(),
        reason: e.to_string(),
    })
}

impl Schedule {
    /// Parses `schedule`. The zone is the schedule's own `CRON_TZ=`/`TZ=` prefix if it has one,
    /// else `timezone` (PingSource `spec.timezone`) if not empty, else the system zone.
    pub fn parse(schedule: &str, timezone: &str) -> Result<Schedule, CronError> {
        let invalid = |reason: String| CronError::Invalid {
            schedule: schedule.into(),
            reason,
        };
        validate_cron(schedule).map_err(invalid)?;
        let mut s = schedule.trim();
        let mut tz = None;
        for prefix in ["CRON_TZ=", "TZ="] {
            if let Some(rest) = s.strip_prefix(prefix) {
                let (name, rest) = rest
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| invalid("missing schedule after the time zone".into()))?;
                tz = Some(zone(name)?);
                s = rest.trim();
                break;
            }
        }
        let tz = match tz {
            Some(tz) => tz,
            None if !timezone.is_empty() => zone(timezone)?,
            None => TimeZone::system(),
        };
        let rule = if let Some(d) = s.strip_prefix("@every") {
            let secs = parse_go_duration(d.trim())
                .ok_or_else(|| invalid(format!("bad duration {d:?}")))?;
            // robfig/cron: whole seconds, at least one.
            Rule::Every((secs.floor() as i64).max(1))
        } else {
            let fields = descriptor(s).unwrap_or(s);
            let fields: Vec<&str> = fields.split_whitespace().collect();
            Rule::Fields(Fields::parse(&fields).map_err(invalid)?)
        };
        Ok(Schedule { rule, tz })
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The first tick strictly after `t`, or `None` if the schedule never fires again (within
    /// five years, e.g. `0 0 30 2 *`).
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let whole = Timestamp::from_second(t.as_second()).ok()?;
        match &self.rule {
            Rule::Every(secs) => whole.checked_add(SignedDuration::from_secs(*secs)).ok(),
            Rule::Fields(f) => {
                self.next_fields(f, whole.checked_add(SignedDuration::from_secs(1)).ok()?)
            }
        }
    }

    /// The first matching instant ≥ `from`, walking the zone's constant-offset stretches.
    fn next_fields(&self, f: &Fields, mut from: Timestamp) -> Option<Timestamp> {
        // Each round ends at a match or moves `from` past a transition (or a skipped repeat);
        // a generous bound keeps a pathological zone from looping.
        for _ in 0..1000 {
            let offset = self.tz.to_offset(from);
            let change = self
                .tz
                .following(from)
                .find(|tr| tr.timestamp() > from)
                .map(|tr| (tr.timestamp(), tr.offset()));
            let wall = offset.to_datetime(from);
            let found = f.next_civil(wall)?;
            let at = offset.to_timestamp(found).ok()?;
            match change {
                Some((when, _)) if at >= when => {}
                _ => {
                    if !f.every_hour() && self.is_repeat(found, offset) {
                        from = at.checked_add(SignedDuration::from_secs(1)).ok()?;
                        continue;
                    }
                    return Some(at);
                }
            }
            let (when, after) = change?;
            if after.seconds() > offset.seconds() {
                // Clocks jump forward: fire at the jump if a skipped wall time matches.
                let gap_start = offset.to_datetime(when);
                let gap_end = after.to_datetime(when);
                if f.next_civil(gap_start).is_some_and(|d| d < gap_end) {
                    return Some(when);
                }
            }
            from = when;
        }
        None
    }

    /// Whether `wall` at `offset` is the second occurrence of a wall time clocks went back over.
    fn is_repeat(&self, wall: DateTime, offset: jiff::tz::Offset) -> bool {
        matches!(
            self.tz.to_ambiguous_timestamp(wall).offset(),
            AmbiguousOffset::Fold { after, .. } if after == offset
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The next `n` ticks after `start`, as RFC 3339 instants.
    fn ticks(schedule: &str, tz: &str, start: &str, n: usize) -> Vec<String> {
        let s = Schedule::parse(schedule, tz).unwrap();
        let mut t = ts(start);
        let mut out = vec![];
        for _ in 0..n {
            t = s.next_after(t).unwrap();
            out.push(t.to_string());
        }
        out
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            (
                "* * * * *",
                "UTC",
                "2024-01-01T10:00:30.5Z",
                &["2024-01-01T10:01:00Z", "2024-01-01T10:02:00Z"],
            ),
            (
                "* * * * * *",
                "UTC",
                "2024-01-01T10:00:30.5Z",
                &["2024-01-01T10:00:31Z", "2024-01-01T10:00:32Z"],
            ),
            (
                "*/15 * * * * *",
                "UTC",
                "2024-01-01T10:00:50Z",
                &["2024-01-01T10:01:00Z", "2024-01-01T10:01:15Z"],
            ),
            (
                "5/20 * * * *",
                "UTC",
                "2024-01-01T10:00:00Z",
                &[
                    "2024-01-01T10:05:00Z",
                    "2024-01-01T10:25:00Z",
                    "2024-01-01T10:45:00Z",
                    "2024-01-01T11:05:00Z",
                ],
            ),
            (
                "0 9-17/4 * * *",
                "UTC",
                "2024-01-01T10:00:00Z",
                &[
                    "2024-01-01T13:00:00Z",
                    "2024-01-01T17:00:00Z",
                    "2024-01-02T09:00:00Z",
                ],
            ),
            (
                "0 0 1,15 * *",
                "UTC",
                "2024-01-01T00:00:00Z",
                &["2024-01-15T00:00:00Z", "2024-02-01T00:00:00Z"],
            ),
            // 2024-01-05 is a Friday.
            (
                "30 8 * * mon-FRI",
                "UTC",
                "2024-01-05T09:00:00Z",
                &["2024-01-08T08:30:00Z", "2024-01-09T08:30:00Z"],
            ),
            // Day-of-week 7 is Sunday (2024-01-07).
            (
                "0 0 * * 7",
                "UTC",
                "2024-01-01T00:00:00Z",
                &["2024-01-07T00:00:00Z"],
            ),
            // Both day fields restricted: either matches (the 13th, or a Friday).
            (
                "0 0 13 * FRI",
                "UTC",
                "2024-01-01T00:00:00Z",
                &[
                    "2024-01-05T00:00:00Z",
                    "2024-01-12T00:00:00Z",
                    "2024-01-13T00:00:00Z",
                ],
            ),
            // One day field `?`: both must match.
            (
                "0 0 13 * ?",
                "UTC",
                "2024-01-01T00:00:00Z",
                &["2024-01-13T00:00:00Z"],
            ),
            // A stepped star is a restriction: the 1st, 3rd… or a Monday.
            (
                "0 0 */2 * MON",
                "UTC",
                "2024-01-01T00:00:00Z",
                &[
                    "2024-01-03T00:00:00Z",
                    "2024-01-05T00:00:00Z",
                    "2024-01-07T00:00:00Z",
                    "2024-01-08T00:00:00Z",
                ],
            ),
            (
                "0 12 29 FEB *",
                "UTC",
                "2024-03-01T00:00:00Z",
                &["2028-02-29T12:00:00Z"],
            ),
            (
                "0 0 1 jan,Jul *",
                "UTC",
                "2024-02-01T00:00:00Z",
                &["2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z"],
            ),
            (
                "@hourly",
                "UTC",
                "2024-01-01T10:59:59Z",
                &["2024-01-01T11:00:00Z", "2024-01-01T12:00:00Z"],
            ),
            (
                "@daily",
                "UTC",
                "2024-01-01T10:00:00Z",
                &["2024-01-02T00:00:00Z"],
            ),
            (
                "@weekly",
                "UTC",
                "2024-01-01T10:00:00Z",
                &["2024-01-07T00:00:00Z"],
            ),
            (
                "@monthly",
                "UTC",
                "2024-01-01T10:00:00Z",
                &["2024-02-01T00:00:00Z"],
            ),
            (
                "@yearly",
                "UTC",
                "2024-01-01T10:00:00Z",
                &["2025-01-01T00:00:00Z"],
            ),
            (
                "@every 1m30s",
                "UTC",
                "2024-01-01T10:00:00.7Z",
                &["2024-01-01T10:01:30Z", "2024-01-01T10:03:00Z"],
            ),
            (
                "@every 100ms",
                "UTC",
                "2024-01-01T10:00:00Z",
                &["2024-01-01T10:00:01Z"],
            ),
            // Time zones: a prefix, or the `timezone` field; the prefix wins.
            (
                "0 9 * * *",
                "Asia/Tokyo",
                "2024-01-01T00:00:00Z",
                &["2024-01-02T00:00:00Z"],
            ),
            (
                "CRON_TZ=Asia/Tokyo 0 9 * * *",
                "",
                "2024-01-01T00:00:00Z",
                &["2024-01-02T00:00:00Z"],
            ),
            (
                "TZ=Asia/Tokyo 0 9 * * *",
                "America/New_York",
                "2024-01-01T00:00:00Z",
                &["2024-01-02T00:00:00Z"],
            ),
            (
                "TZ=UTC @daily",
                "Asia/Tokyo",
                "2024-01-01T10:00:00Z",
                &["2024-01-02T00:00:00Z"],
            ),
            // New York, spring forward 2024-03-10 02:00 EST -> 03:00 EDT.
            (
                "0 9 * * *",
                "America/New_York",
                "2024-03-09T00:00:00Z",
                &["2024-03-09T14:00:00Z", "2024-03-10T13:00:00Z"],
            ),
            // 02:30 does not exist that night: it fires at the jump (03:00 EDT = 07:00Z).
            (
                "30 2 * * *",
                "America/New_York",
                "2024-03-09T12:00:00Z",
                &["2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z"],
            ),
            // Per-minute across the jump: 01:59 EST, then 03:00 EDT.
            (
                "* * * * *",
                "America/New_York",
                "2024-03-10T06:58:30Z",
                &[
                    "2024-03-10T06:59:00Z",
                    "2024-03-10T07:00:00Z",
                    "2024-03-10T07:01:00Z",
                ],
            ),
            // Fall back 2024-11-03 02:00 EDT -> 01:00 EST: 01:30 fires once.
            (
                "30 1 * * *",
                "America/New_York",
                "2024-11-03T04:00:00Z",
                &["2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"],
            ),
            // Every 30 minutes through the repeated hour: both 01:xx hours fire.
            (
                "*/30 * * * *",
                "America/New_York",
                "2024-11-03T05:00:00Z",
                &[
                    "2024-11-03T05:30:00Z",
                    "2024-11-03T06:00:00Z",
                    "2024-11-03T06:30:00Z",
                    "2024-11-03T07:00:00Z",
                ],
            ),
        ];
        for (schedule, tz, start, want) in cases {
            assert_eq!(
                ticks(schedule, tz, start, want.len()),
                *want,
                "{schedule:?} in {tz:?} after {start}"
            );
        }
    }

    #[test]
    fn never_fires() {
        let s = Schedule::parse("0 0 30 2 *", "UTC").unwrap();
        assert_eq!(s.next_after(ts("2024-01-01T00:00:00Z")), None);
    }

    #[test]
    fn accepts_what_admission_accepts() {
        let ok = [
            "* * * * *",
            "*/2 * * * *",
            "0 0 1,15 * MON-FRI",
            "0 9-17/2 * JAN-MAR ?",
            "30 0 0 * * *",
            "@hourly",
            "@annually",
            "@midnight",
            "@every 1h30m",
            "@every 10s",
            "CRON_TZ=Europe/Paris 0 9 * * *",
            "TZ=UTC @daily",
            "0 0 * * 7",
            "0 0 * * 5-7",
        ];
        for s in ok {
            let sched = Schedule::parse(s, "UTC").unwrap_or_else(|e| panic!("{s}: {e}"));
            assert!(
                sched.next_after(ts("2024-01-01T00:00:00Z")).is_some(),
                "{s}"
            );
        }
        let bad = [
            "",
            "* * * *",
            "* * * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "a * * * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "@often",
            "@every",
            "@every 10",
            "CRON_TZ=Nowhere/City * * * * *",
            "CRON_TZ=UTC",
            "? * * * *",
            "1,,2 * * * *",
        ];
        for s in bad {
            assert!(
                matches!(Schedule::parse(s, "UTC"), Err(CronError::Invalid { .. })),
                "{s:?} should be rejected"
            );
        }
        assert!(matches!(
            Schedule::parse("* * * * *", "Mars/Olympus"),
            Err(CronError::TimeZone { .. })
        ));
    }
}
