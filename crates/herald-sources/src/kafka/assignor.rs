//! The consumer group protocol (protocol type `consumer`) with Kafka's `range` assignor, pure:
//! the subscription a member sends in JoinGroup, the assignment the leader computes for every
//! member and sends in SyncGroup, and their encodings (ConsumerProtocolSubscription and
//! ConsumerProtocolAssignment v0; later versions only append fields, which are ignored), so a
//! Herald shares a group with any Kafka client that offers `range`.

use std::collections::BTreeMap;

use super::group::GroupError;
use super::wire::{Reader, put_bytes, put_len, put_str};

pub const PROTOCOL_TYPE: &str = "consumer";
pub const RANGE: &str = "range";

/// A member's subscription: the topics it reads.
pub fn encode_subscription(topics: &[String]) -> Vec<u8> {
    let mut b = 0i16.to_be_bytes().to_vec();
    put_len(&mut b, topics.len());
    for t in topics {
        put_str(&mut b, t);
    }
    put_bytes(&mut b, &[]); // user data
    b
}

pub fn decode_subscription(b: &[u8]) -> Result<Vec<String>, GroupError> {
    let mut r = Reader(b);
    let _version = r.i16()?;
    (0..r.len()?).map(|_| r.string()).collect()
}

/// Topic → partitions assigned to one member.
pub type Assignment = BTreeMap<String, Vec<i32>>;

pub fn encode_assignment(a: &Assignment) -> Vec<u8> {
    let mut b = 0i16.to_be_bytes().to_vec();
    put_len(&mut b, a.len());
    for (topic, parts) in a {
        put_str(&mut b, topic);
        put_len(&mut b, parts.len());
        for p in parts {
            b.extend_from_slice(&p.to_be_bytes());
        }
    }
    put_bytes(&mut b, &[]);
    b
}

/// An empty assignment (a member that got nothing may be sent zero bytes) decodes as empty.
pub fn decode_assignment(b: &[u8]) -> Result<Assignment, GroupError> {
    let mut out = Assignment::new();
    if b.is_empty() {
        return Ok(out);
    }
    let mut r = Reader(b);
    let _version = r.i16()?;
    for _ in 0..r.len()? {
        let topic = r.string()?;
        let parts: Result<Vec<i32>, _> = (0..r.len()?).map(|_| r.i32()).collect();
        out.entry(topic).or_default().extend(parts?);
    }
    Ok(out)
}

/// Kafka's range assignor: for each topic, its partitions in order are cut into consecutive
/// ranges over the members subscribed to it (sorted by member id), the first
/// `partitions % members` of them getting one extra. `members` maps member id → topics;
/// `partitions` topic → partition ids. Every member gets an entry, possibly empty.
pub fn range(
    members: &BTreeMap<String, Vec<String>>,
    partitions: &BTreeMap<String, Vec<i32>>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for (topic, parts) in partitions {
        let subscribed: Vec<&String> = members
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(m, _)| m)
            .collect();
        if subscribed.is_empty() {
            continue;
        }
        let mut parts = parts.clone();
        parts.sort_unstable();
        let (each, extra) = (
            parts.len() / subscribed.len(),
            parts.len() % subscribed.len(),
        );
        let mut rest = parts.as_slice();
        for (i, m) in subscribed.into_iter().enumerate() {
            let n = each + usize::from(i < extra);
            let (mine, tail) = rest.split_at(n);
            rest = tail;
            if !mine.is_empty()
                && let Some(a) = out.get_mut(m)
            {
                a.insert(topic.clone(), mine.to_vec());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        list.iter()
            .map(|(m, t)| (m.to_string(), t.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn range_spreads_partitions_in_consecutive_ranges() {
        let m = members(&[("b", &["t", "u"]), ("a", &["t"]), ("c", &["t"])]);
        let p = BTreeMap::from([
            ("t".to_string(), vec![4, 0, 1, 2, 3, 5, 6]),
            ("u".into(), vec![0]),
        ]);
        let got = range(&m, &p);
        assert_eq!(got["a"]["t"], vec![0, 1, 2]);
        assert_eq!(got["b"]["t"], vec![3, 4]);
        assert_eq!(got["c"]["t"], vec![5, 6]);
        assert_eq!(got["b"]["u"], vec![0]);
        assert!(!got["a"].contains_key("u"));
    }

    #[test]
    fn more_members_than_partitions_leaves_some_idle() {
        let m = members(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
        let p = BTreeMap::from([("t".to_string(), vec![0, 1])]);
        let got = range(&m, &p);
        assert_eq!(got["a"]["t"], vec![0]);
        assert_eq!(got["b"]["t"], vec![1]);
        assert!(got["c"].is_empty());
    }

    #[test]
    fn subscription_and_assignment_round_trip() {
        let topics = vec!["t".to_string(), "u".to_string()];
        let b = encode_subscription(&topics);
        assert_eq!(decode_subscription(&b).ok(), Some(topics));
        let a = Assignment::from([("t".to_string(), vec![0, 2])]);
        assert_eq!(decode_assignment(&encode_assignment(&a)).ok(), Some(a));
        assert_eq!(decode_assignment(&[]).ok(), Some(Assignment::new()));
        assert!(decode_assignment(&[0, 0, 0, 0, 0, 1, 0]).is_err());
    }

    #[test]
    fn later_versions_with_appended_fields_decode() {
        // ConsumerProtocolSubscription v1 appends owned partitions after user data.
        let mut b = 1i16.to_be_bytes().to_vec();
        put_len(&mut b, 1);
        put_str(&mut b, "t");
        put_bytes(&mut b, &[]);
        put_len(&mut b, 0);
        assert_eq!(decode_subscription(&b).ok(), Some(vec!["t".to_string()]));
    }
}
