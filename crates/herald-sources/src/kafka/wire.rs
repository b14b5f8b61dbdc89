//! The consumer-group requests `rskafka` lacks, as pure encoders and decoders (no I/O):
//! FindCoordinator v0, OffsetFetch v1, OffsetCommit v2, JoinGroup v1, SyncGroup v0,
//! Heartbeat v0 and LeaveGroup v0 — old versions every Kafka-protocol broker accepts, with
//! non-flexible (pre-KIP-482) encodings. Bodies exclude the request header.

use super::group::GroupError;

pub const OFFSET_COMMIT: i16 = 8;
pub const OFFSET_FETCH: i16 = 9;
pub const FIND_COORDINATOR: i16 = 10;
pub const JOIN_GROUP: i16 = 11;
pub const HEARTBEAT: i16 = 12;
pub const LEAVE_GROUP: i16 = 13;
pub const SYNC_GROUP: i16 = 14;

/// Kafka error codes that mean "this member must (re)join the group".
pub const ILLEGAL_GENERATION: i16 = 22;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
/// JoinGroup: join again with the member id in the answer (Kafka from v4, tansu always).
pub const MEMBER_ID_REQUIRED: i16 = 79;

/// The request header (v1) followed by `body`, framed with its length.
pub fn frame(api_key: i16, version: i16, correlation: i32, body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(body.len() + 32);
    msg.extend_from_slice(&api_key.to_be_bytes());
    msg.extend_from_slice(&version.to_be_bytes());
    msg.extend_from_slice(&correlation.to_be_bytes());
    put_str(&mut msg, "herald");
    msg.extend_from_slice(body);
    let mut out = i32::try_from(msg.len())
        .unwrap_or(i32::MAX)
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(&msg);
    out
}

pub fn find_coordinator(group: &str) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, group);
    b
}

/// The coordinator's `host:port`.
pub fn find_coordinator_response(resp: &[u8]) -> Result<String, GroupError> {
    let mut r = Reader(resp);
    check(r.i16()?, "FindCoordinator")?;
    let _node = r.i32()?;
    let host = r.string()?;
    let port = r.i32()?;
    Ok(format!("{host}:{port}"))
}

pub fn offset_fetch(group: &str, topic: &str, partitions: &[i32]) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, group);
    put_len(&mut b, 1);
    put_str(&mut b, topic);
    put_len(&mut b, partitions.len());
    for p in partitions {
        b.extend_from_slice(&p.to_be_bytes());
    }
    b
}

/// `(partition, committed offset)`; -1 when none is committed.
pub fn offset_fetch_response(resp: &[u8]) -> Result<Vec<(i32, i64)>, GroupError> {
    let mut r = Reader(resp);
    let mut out = Vec::new();
    for _ in 0..r.len()? {
        let _name = r.string()?;
        for _ in 0..r.len()? {
            let p = r.i32()?;
            let offset = r.i64()?;
            let _meta = r.nullable_string()?;
            check(r.i16()?, "OffsetFetch")?;
            out.push((p, offset));
        }
    }
    Ok(out)
}

/// Commits `offset` for one partition as member `member` of `generation` (-1 and "" for a
/// consumer outside the group protocol).
pub fn offset_commit(
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, group);
    b.extend_from_slice(&generation.to_be_bytes());
    put_str(&mut b, member);
    b.extend_from_slice(&(-1i64).to_be_bytes()); // retention: the broker's default
    put_len(&mut b, 1);
    put_str(&mut b, topic);
    put_len(&mut b, 1);
    b.extend_from_slice(&partition.to_be_bytes());
    b.extend_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes()); // null metadata
    b
}

pub fn offset_commit_response(resp: &[u8]) -> Result<(), GroupError> {
    let mut r = Reader(resp);
    for _ in 0..r.len()? {
        let _name = r.string()?;
        for _ in 0..r.len()? {
            let _p = r.i32()?;
            check(r.i16()?, "OffsetCommit")?;
        }
    }
    Ok(())
}

/// What a JoinGroup asks for.
pub struct JoinRequest<'a> {
    pub group: &'a str,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// Empty on the first join; the coordinator assigns one.
    pub member: &'a str,
    pub protocol_type: &'a str,
    /// `(assignor name, its subscription metadata)`.
    pub protocols: &'a [(&'a str, Vec<u8>)],
}

pub fn join_group(j: &JoinRequest<'_>) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, j.group);
    b.extend_from_slice(&j.session_timeout_ms.to_be_bytes());
    b.extend_from_slice(&j.rebalance_timeout_ms.to_be_bytes());
    put_str(&mut b, j.member);
    put_str(&mut b, j.protocol_type);
    put_len(&mut b, j.protocols.len());
    for (name, meta) in j.protocols {
        put_str(&mut b, name);
        put_bytes(&mut b, meta);
    }
    b
}

/// A JoinGroup answer: this member's generation and id, and (for the leader only) every
/// member with its subscription metadata. `error` is kept with the fields: a
/// MEMBER_ID_REQUIRED answer carries the member id to join with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub error: i16,
    pub generation: i32,
    pub protocol: String,
    pub leader: String,
    pub member: String,
    pub members: Vec<(String, Vec<u8>)>,
}

impl Joined {
    pub fn is_leader(&self) -> bool {
        self.leader == self.member
    }
}

pub fn join_group_response(resp: &[u8]) -> Result<Joined, GroupError> {
    let mut r = Reader(resp);
    let error = r.i16()?;
    let generation = r.i32()?;
    let protocol = r.string()?;
    let leader = r.string()?;
    let member = r.string()?;
    let mut members = Vec::new();
    for _ in 0..r.len()? {
        let id = r.string()?;
        let meta = r.bytes()?;
        members.push((id, meta));
    }
    Ok(Joined {
        error,
        generation,
        protocol,
        leader,
        member,
        members,
    })
}

/// SyncGroup: the leader sends every member's assignment, the others none.
pub fn sync_group(
    group: &str,
    generation: i32,
    member: &str,
    assignments: &[(String, Vec<u8>)],
) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, group);
    b.extend_from_slice(&generation.to_be_bytes());
    put_str(&mut b, member);
    put_len(&mut b, assignments.len());
    for (m, a) in assignments {
        put_str(&mut b, m);
        put_bytes(&mut b, a);
    }
    b
}

/// This member's assignment (consumer protocol bytes).
pub fn sync_group_response(resp: &[u8]) -> Result<Vec<u8>, GroupError> {
    let mut r = Reader(resp);
    check(r.i16()?, "SyncGroup")?;
    r.bytes()
}

pub fn heartbeat(group: &str, generation: i32, member: &str) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, group);
    b.extend_from_slice(&generation.to_be_bytes());
    put_str(&mut b, member);
    b
}

pub fn leave_group(group: &str, member: &str) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, group);
    put_str(&mut b, member);
    b
}

/// Heartbeat and LeaveGroup answer only an error code.
pub fn error_only_response(resp: &[u8], request: &'static str) -> Result<(), GroupError> {
    check(Reader(resp).i16()?, request)
}

pub fn check(code: i16, request: &'static str) -> Result<(), GroupError> {
    match code {
        0 => Ok(()),
        code => Err(GroupError::Kafka { request, code }),
    }
}

/// A Kafka STRING (i16 length); longer input is cut at the protocol's limit, not wrapped.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    out.extend_from_slice(&(b.len() as i16).to_be_bytes());
    out.extend_from_slice(b);
}

/// Kafka BYTES (i32 length).
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len());
    out.extend_from_slice(b);
}

/// An ARRAY or BYTES length.
pub fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&i32::try_from(n).unwrap_or(i32::MAX).to_be_bytes());
}

/// A bounds-checked big-endian reader.
pub struct Reader<'a>(pub &'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], GroupError> {
        if self.0.len() < n {
            return Err(GroupError::Malformed);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    pub fn i16(&mut self) -> Result<i16, GroupError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    pub fn i32(&mut self) -> Result<i32, GroupError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn i64(&mut self) -> Result<i64, GroupError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    /// An ARRAY length; a null array (-1) reads as empty.
    pub fn len(&mut self) -> Result<usize, GroupError> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(0);
        }
        let n = usize::try_from(n).map_err(|_| GroupError::Malformed)?;
        // Every element takes at least one byte: a larger count is a lie.
        if n > self.0.len() {
            return Err(GroupError::Malformed);
        }
        Ok(n)
    }
    pub fn string(&mut self) -> Result<String, GroupError> {
        Ok(self.nullable_string()?.unwrap_or_default())
    }
    pub fn nullable_string(&mut self) -> Result<Option<String>, GroupError> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(None);
        }
        let b = self.take(n as usize)?;
        Ok(Some(String::from_utf8_lossy(b).into_owned()))
    }
    /// BYTES; null reads as empty.
    pub fn bytes(&mut self) -> Result<Vec<u8>, GroupError> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(Vec::new());
        }
        let n = usize::try_from(n).map_err(|_| GroupError::Malformed)?;
        Ok(self.take(n)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_rejects_truncated_input() {
        assert!(Reader(&[0, 5, b'a']).string().is_err());
        assert!(Reader(&[0]).i16().is_err());
        assert!(Reader(&[0, 0, 0, 9, 1]).bytes().is_err());
        assert!(Reader(&[0x7f, 0, 0, 0]).len().is_err());
        assert_eq!(Reader(&[0xff, 0xff]).nullable_string().ok(), Some(None));
        assert_eq!(
            Reader(&[0, 2, b'h', b'i']).string().ok().as_deref(),
            Some("hi")
        );
    }

    #[test]
    fn join_group_request_layout() {
        let b = join_group(&JoinRequest {
            group: "g",
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 20_000,
            member: "",
            protocol_type: "consumer",
            protocols: &[("range", vec![9, 9])],
        });
        let mut want = vec![0, 1, b'g'];
        want.extend_from_slice(&10_000i32.to_be_bytes());
        want.extend_from_slice(&20_000i32.to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&[0, 8]);
        want.extend_from_slice(b"consumer");
        want.extend_from_slice(&[0, 0, 0, 1, 0, 5]);
        want.extend_from_slice(b"range");
        want.extend_from_slice(&[0, 0, 0, 2, 9, 9]);
        assert_eq!(b, want);
    }

    #[test]
    fn join_group_response_decodes_members_and_errors() {
        let mut b = vec![0, 0];
        b.extend_from_slice(&3i32.to_be_bytes());
        for s in ["range", "m1", "m1"] {
            put_str(&mut b, s);
        }
        put_len(&mut b, 2);
        put_str(&mut b, "m1");
        put_bytes(&mut b, &[1]);
        put_str(&mut b, "m2");
        b.extend_from_slice(&(-1i32).to_be_bytes());
        let j = join_group_response(&b).ok();
        let j = j.as_ref();
        assert_eq!(j.map(|j| j.generation), Some(3));
        assert_eq!(j.map(Joined::is_leader), Some(true));
        assert_eq!(
            j.map(|j| j.members.clone()),
            Some(vec![("m1".into(), vec![1]), ("m2".into(), vec![])])
        );
        assert!(join_group_response(&[0, 27]).is_err(), "truncated");
        let mut b = MEMBER_ID_REQUIRED.to_be_bytes().to_vec();
        b.extend_from_slice(&(-1i32).to_be_bytes());
        for s in ["", "", "herald-1"] {
            put_str(&mut b, s);
        }
        put_len(&mut b, 0);
        let j = join_group_response(&b).ok();
        assert_eq!(j.as_ref().map(|j| j.error), Some(MEMBER_ID_REQUIRED));
        assert_eq!(j.map(|j| j.member).as_deref(), Some("herald-1"));
    }

    #[test]
    fn sync_and_commit_round_trip_their_fields() {
        let b = sync_group("g", 2, "m", &[("m".into(), vec![7])]);
        let mut r = Reader(&b);
        assert_eq!(r.string().ok().as_deref(), Some("g"));
        assert_eq!(r.i32().ok(), Some(2));
        assert_eq!(r.string().ok().as_deref(), Some("m"));
        assert_eq!(r.len().ok(), Some(1));
        let mut resp = vec![0, 0];
        put_bytes(&mut resp, &[4, 2]);
        assert_eq!(sync_group_response(&resp).ok(), Some(vec![4, 2]));

        let c = offset_commit("g", 5, "m", "t", 1, 42);
        let mut r = Reader(&c);
        assert_eq!(r.string().ok().as_deref(), Some("g"));
        assert_eq!(r.i32().ok(), Some(5));
        assert_eq!(r.string().ok().as_deref(), Some("m"));
        let mut resp = Vec::new();
        put_len(&mut resp, 1);
        put_str(&mut resp, "t");
        put_len(&mut resp, 1);
        resp.extend_from_slice(&1i32.to_be_bytes());
        resp.extend_from_slice(&22i16.to_be_bytes());
        assert!(matches!(
            offset_commit_response(&resp),
            Err(GroupError::Kafka { code: 22, .. })
        ));
    }
}
