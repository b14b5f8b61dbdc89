//! What the ingress does to every event before it is stored (pure): the `knativebrokerttl`
//! loop guard (DP-20) and `knativearrivaltime` (DP-21).

use herald_ce::{AttrValue, Event};

/// Extension holding the remaining hops of an event through brokers.
pub const TTL_EXTENSION: &str = "knativebrokerttl";
/// Extension recording when the broker accepted the event.
pub const ARRIVAL_EXTENSION: &str = "knativearrivaltime";
/// Knative's default TTL (`MAX_TTL`).
pub const DEFAULT_TTL: i64 = 255;

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error(
        "event {id:?} from {origin:?} exhausted its knativebrokerttl: it has looped through brokers too many times"
    )]
    TtlExhausted { id: String, origin: String },
}

/// The TTL an event carries, if it carries a usable one.
pub fn ttl_of(event: &Event) -> Option<i64> {
    match event.extensions.get(TTL_EXTENSION)? {
        AttrValue::Integer(i) => Some(*i),
        AttrValue::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Sets or decrements the TTL (an unusable value restarts at `default_ttl`) and stamps the
/// arrival time. A TTL that reaches zero refuses the event.
pub fn admit(event: &mut Event, default_ttl: i64, now: &str) -> Result<(), AdmitError> {
    let ttl = match event.extensions.contains_key(TTL_EXTENSION) {
        false => default_ttl,
        true => ttl_of(event).map_or(default_ttl, |t| t - 1),
    };
    if ttl <= 0 {
        return Err(AdmitError::TtlExhausted {
            id: event.id.clone(),
            origin: event.source.clone(),
        });
    }
    event.set_extension(TTL_EXTENSION, AttrValue::Integer(ttl));
    event.set_extension(ARRIVAL_EXTENSION, AttrValue::Timestamp(now.to_string()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_ce::SpecVersion;

    fn ev(ttl: Option<AttrValue>) -> Event {
        let mut e = Event {
            specversion: SpecVersion::V10,
            id: "1".into(),
            source: "/s".into(),
            ty: "t".into(),
            datacontenttype: None,
            dataschema: None,
            subject: None,
            time: None,
            extensions: Default::default(),
            data: None,
        };
        if let Some(t) = ttl {
            e.set_extension(TTL_EXTENSION, t);
        }
        e
    }

    #[test]
    fn ttl_rules() {
        let cases = [
            (None, Some(255)),
            (Some(AttrValue::String("10".into())), Some(9)),
            (Some(AttrValue::Integer(2)), Some(1)),
            (Some(AttrValue::String("garbage".into())), Some(255)),
            (Some(AttrValue::String("1".into())), None),
            (Some(AttrValue::Integer(0)), None),
        ];
        for (given, want) in cases {
            let mut e = ev(given.clone());
            let r = admit(&mut e, DEFAULT_TTL, "2026-11-29T00:00:00Z");
            match want {
                Some(t) => {
                    assert!(r.is_ok(), "{given:?}");
                    assert_eq!(ttl_of(&e), Some(t), "{given:?}");
                    assert!(e.extensions.contains_key(ARRIVAL_EXTENSION));
                }
                None => assert!(r.is_err(), "{given:?}"),
            }
        }
    }
}
