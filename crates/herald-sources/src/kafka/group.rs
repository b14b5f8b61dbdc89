//! One member's connection to its group coordinator: finds the coordinator, joins the group
//! (JoinGroup/SyncGroup), heartbeats, fetches and commits offsets as that member, and leaves.
//! The requests are encoded and decoded by `wire` (pure); this module only does the I/O.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::wire::{self, JoinRequest, Joined};

const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses larger than this are refused (a JoinGroup response lists every member).
const MAX_RESPONSE: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("dial tcp {addr}: {error}")]
    Connect { addr: String, error: String },
    #[error("group coordinator i/o: {0}")]
    Io(String),
    #[error("malformed response from the group coordinator")]
    Malformed,
    #[error("{request} failed with Kafka error code {code}")]
    Kafka { request: &'static str, code: i16 },
}

impl GroupError {
    /// The group moved on (a rebalance, or this member was evicted): rejoin, do not reconnect.
    pub fn is_rebalance(&self) -> bool {
        matches!(
            self,
            GroupError::Kafka {
                code: wire::REBALANCE_IN_PROGRESS
                    | wire::ILLEGAL_GENERATION
                    | wire::UNKNOWN_MEMBER_ID,
                ..
            }
        )
    }
}

/// A connection to the coordinator of one group, as one member (or, before [`join`], as a
/// consumer outside the group protocol: generation -1, no member id).
///
/// [`join`]: GroupClient::join
pub struct GroupClient {
    stream: TcpStream,
    group: String,
    correlation: i32,
    generation: i32,
    member: String,
}

impl GroupClient {
    /// Finds the group's coordinator through one of `bootstrap` and connects to it.
    pub async fn connect(bootstrap: &[String], group: &str) -> Result<Self, GroupError> {
        let mut last = GroupError::Connect {
            addr: "<none>".into(),
            error: "no bootstrap servers".into(),
        };
        for addr in bootstrap {
            match Self::find(addr, group).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn find(bootstrap: &str, group: &str) -> Result<Self, GroupError> {
        let mut c = Self::dial(bootstrap, group).await?;
        let resp = c
            .call(
                wire::FIND_COORDINATOR,
                0,
                &wire::find_coordinator(group),
                IO_TIMEOUT,
            )
            .await?;
        let addr = wire::find_coordinator_response(&resp)?;
        if addr == bootstrap {
            return Ok(c);
        }
        Self::dial(&addr, group).await
    }

    async fn dial(addr: &str, group: &str) -> Result<Self, GroupError> {
        let err = |error: String| GroupError::Connect {
            addr: addr.into(),
            error,
        };
        let stream = match tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(err(e.to_string())),
            Err(_) => return Err(err("i/o timeout".into())),
        };
        Ok(GroupClient {
            stream,
            group: group.into(),
            correlation: 0,
            generation: -1,
            member: String::new(),
        })
    }

    /// Joins (or rejoins) the group. A coordinator that wants a member id first
    /// (MEMBER_ID_REQUIRED) gets one more join with it; an unknown member id (evicted after a
    /// session timeout) is dropped and the join retried as a new member. Kafka answers once the
    /// rebalance completed, which may take up to `rebalance`.
    pub async fn join(
        &mut self,
        session: Duration,
        rebalance: Duration,
        protocols: &[(&str, Vec<u8>)],
    ) -> Result<Joined, GroupError> {
        for _ in 0..3 {
            let member = self.member.clone();
            let body = wire::join_group(&JoinRequest {
                group: &self.group,
                session_timeout_ms: millis(session),
                rebalance_timeout_ms: millis(rebalance),
                member: &member,
                protocol_type: super::assignor::PROTOCOL_TYPE,
                protocols,
            });
            let resp = self
                .call(wire::JOIN_GROUP, 1, &body, rebalance + IO_TIMEOUT)
                .await?;
            let j = wire::join_group_response(&resp)?;
            match j.error {
                0 => {
                    self.generation = j.generation;
                    self.member = j.member.clone();
                    return Ok(j);
                }
                wire::MEMBER_ID_REQUIRED if !j.member.is_empty() => self.member = j.member,
                wire::UNKNOWN_MEMBER_ID if !self.member.is_empty() => self.member.clear(),
                code => wire::check(code, "JoinGroup")?,
            }
        }
        Err(GroupError::Kafka {
            request: "JoinGroup",
            code: wire::UNKNOWN_MEMBER_ID,
        })
    }

    /// Completes a join: the leader hands in every member's assignment; returns this member's.
    pub async fn sync(&mut self, assignments: &[(String, Vec<u8>)]) -> Result<Vec<u8>, GroupError> {
        let body = wire::sync_group(&self.group, self.generation, &self.member, assignments);
        let resp = self.call(wire::SYNC_GROUP, 0, &body, IO_TIMEOUT).await?;
        wire::sync_group_response(&resp)
    }

    pub async fn heartbeat(&mut self) -> Result<(), GroupError> {
        let body = wire::heartbeat(&self.group, self.generation, &self.member);
        let resp = self.call(wire::HEARTBEAT, 0, &body, IO_TIMEOUT).await?;
        wire::error_only_response(&resp, "Heartbeat")
    }

    /// Leaves the group so the others take over this member's partitions at once.
    pub async fn leave(&mut self) -> Result<(), GroupError> {
        if self.member.is_empty() {
            return Ok(());
        }
        let body = wire::leave_group(&self.group, &self.member);
        let resp = self.call(wire::LEAVE_GROUP, 0, &body, IO_TIMEOUT).await?;
        self.member.clear();
        self.generation = -1;
        wire::error_only_response(&resp, "LeaveGroup")
    }

    /// The committed offset of each partition of `topic` (-1: none committed).
    pub async fn fetch(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Vec<(i32, i64)>, GroupError> {
        let body = wire::offset_fetch(&self.group, topic, partitions);
        let resp = self.call(wire::OFFSET_FETCH, 1, &body, IO_TIMEOUT).await?;
        wire::offset_fetch_response(&resp)
    }

    /// Commits `offset` (the next offset to read) for one partition, as this member of its
    /// generation: the coordinator refuses commits of a member that lost the partition.
    pub async fn commit(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(), GroupError> {
        let body = wire::offset_commit(
            &self.group,
            self.generation,
            &self.member,
            topic,
            partition,
            offset,
        );
        let resp = self.call(wire::OFFSET_COMMIT, 2, &body, IO_TIMEOUT).await?;
        wire::offset_commit_response(&resp)
    }

    /// Sends one request and returns the response body after its correlation id.
    async fn call(
        &mut self,
        api_key: i16,
        version: i16,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, GroupError> {
        self.correlation = self.correlation.wrapping_add(1);
        let frame = wire::frame(api_key, version, self.correlation, body);
        let io = async {
            self.stream.write_all(&frame).await?;
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await?;
            let n = usize::try_from(i32::from_be_bytes(len))
                .ok()
                .filter(|n| (4..=MAX_RESPONSE).contains(n));
            let Some(n) = n else {
                return Err(std::io::Error::other("bad response length"));
            };
            let mut buf = vec![0u8; n];
            self.stream.read_exact(&mut buf).await?;
            Ok(buf)
        };
        let buf = match tokio::time::timeout(timeout, io).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return Err(GroupError::Io(e.to_string())),
            Err(_) => return Err(GroupError::Io("i/o timeout".into())),
        };
        let mut r = wire::Reader(&buf);
        if r.i32()? != self.correlation {
            return Err(GroupError::Malformed);
        }
        Ok(r.0.to_vec())
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
