//! The consumer-group offset requests `rskafka` does not provide: FindCoordinator (v0),
//! OffsetFetch (v1) and OffsetCommit (v2), hand-rolled over one TCP connection to the group
//! coordinator. Herald commits as a "simple" consumer (generation -1, no member id): one
//! consumer per source reads every partition, so no JoinGroup/SyncGroup rebalancing is needed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FIND_COORDINATOR: i16 = 10;
const OFFSET_FETCH: i16 = 9;
const OFFSET_COMMIT: i16 = 8;
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses larger than this are refused (ours are a few hundred bytes).
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

/// A connection to the coordinator of one group.
pub struct GroupClient {
    stream: TcpStream,
    group: String,
    correlation: i32,
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
        let mut body = Vec::new();
        put_str(&mut body, group);
        let resp = c.call(FIND_COORDINATOR, 0, &body).await?;
        let mut r = Reader(&resp);
        let code = r.i16()?;
        if code != 0 {
            return Err(GroupError::Kafka {
                request: "FindCoordinator",
                code,
            });
        }
        let _node = r.i32()?;
        let host = r.string()?;
        let port = r.i32()?;
        let addr = format!("{host}:{port}");
        if addr == bootstrap {
            return Ok(c);
        }
        Self::dial(&addr, group).await
    }

    async fn dial(addr: &str, group: &str) -> Result<Self, GroupError> {
        let connect = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr)).await;
        let stream = match connect {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(GroupError::Connect {
                    addr: addr.into(),
                    error: e.to_string(),
                });
            }
            Err(_) => {
                return Err(GroupError::Connect {
                    addr: addr.into(),
                    error: "i/o timeout".into(),
                });
            }
        };
        Ok(GroupClient {
            stream,
            group: group.into(),
            correlation: 0,
        })
    }

    /// The committed offset of each partition of `topic` (-1: none committed).
    pub async fn fetch(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Vec<(i32, i64)>, GroupError> {
        let mut body = Vec::new();
        put_str(&mut body, &self.group.clone());
        body.extend_from_slice(&1i32.to_be_bytes());
        put_str(&mut body, topic);
        body.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
        for p in partitions {
            body.extend_from_slice(&p.to_be_bytes());
        }
        let resp = self.call(OFFSET_FETCH, 1, &body).await?;
        let mut r = Reader(&resp);
        let mut out = Vec::new();
        for _ in 0..r.len()? {
            let _name = r.string()?;
            for _ in 0..r.len()? {
                let p = r.i32()?;
                let offset = r.i64()?;
                let _meta = r.nullable_string()?;
                let code = r.i16()?;
                if code != 0 {
                    return Err(GroupError::Kafka {
                        request: "OffsetFetch",
                        code,
                    });
                }
                out.push((p, offset));
            }
        }
        Ok(out)
    }

    /// Commits `offset` (the next offset to read) for one partition.
    pub async fn commit(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(), GroupError> {
        let mut body = Vec::new();
        put_str(&mut body, &self.group.clone());
        body.extend_from_slice(&(-1i32).to_be_bytes()); // generation: simple consumer
        put_str(&mut body, ""); // member id
        body.extend_from_slice(&(-1i64).to_be_bytes()); // retention: broker default
        body.extend_from_slice(&1i32.to_be_bytes());
        put_str(&mut body, topic);
        body.extend_from_slice(&1i32.to_be_bytes());
        body.extend_from_slice(&partition.to_be_bytes());
        body.extend_from_slice(&offset.to_be_bytes());
        body.extend_from_slice(&(-1i16).to_be_bytes()); // null metadata
        let resp = self.call(OFFSET_COMMIT, 2, &body).await?;
        let mut r = Reader(&resp);
        for _ in 0..r.len()? {
            let _name = r.string()?;
            for _ in 0..r.len()? {
                let _p = r.i32()?;
                let code = r.i16()?;
                if code != 0 {
                    return Err(GroupError::Kafka {
                        request: "OffsetCommit",
                        code,
                    });
                }
            }
        }
        Ok(())
    }

    /// Sends one request (header v1) and returns the response body after its correlation id.
    async fn call(
        &mut self,
        api_key: i16,
        version: i16,
        body: &[u8],
    ) -> Result<Vec<u8>, GroupError> {
        self.correlation = self.correlation.wrapping_add(1);
        let mut msg = Vec::with_capacity(body.len() + 32);
        msg.extend_from_slice(&api_key.to_be_bytes());
        msg.extend_from_slice(&version.to_be_bytes());
        msg.extend_from_slice(&self.correlation.to_be_bytes());
        put_str(&mut msg, "herald");
        msg.extend_from_slice(body);
        let mut frame = (msg.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&msg);
        let io = async {
            self.stream.write_all(&frame).await?;
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await?;
            let n = i32::from_be_bytes(len);
            let n = usize::try_from(n)
                .ok()
                .filter(|n| (4..=MAX_RESPONSE).contains(n));
            let Some(n) = n else {
                return Err(std::io::Error::other("bad response length"));
            };
            let mut buf = vec![0u8; n];
            self.stream.read_exact(&mut buf).await?;
            Ok(buf)
        };
        let buf = match tokio::time::timeout(IO_TIMEOUT, io).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return Err(GroupError::Io(e.to_string())),
            Err(_) => return Err(GroupError::Io("i/o timeout".into())),
        };
        let mut r = Reader(&buf);
        if r.i32()? != self.correlation {
            return Err(GroupError::Malformed);
        }
        Ok(r.0.to_vec())
    }
}

/// A Kafka STRING (i16 length); longer input is cut at the protocol's limit, not wrapped.
fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    out.extend_from_slice(&(b.len() as i16).to_be_bytes());
    out.extend_from_slice(b);
}

/// A bounds-checked big-endian reader.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], GroupError> {
        if self.0.len() < n {
            return Err(GroupError::Malformed);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn i16(&mut self) -> Result<i16, GroupError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, GroupError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, GroupError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn len(&mut self) -> Result<usize, GroupError> {
        usize::try_from(self.i32()?).map_err(|_| GroupError::Malformed)
    }
    fn string(&mut self) -> Result<String, GroupError> {
        Ok(self.nullable_string()?.unwrap_or_default())
    }
    fn nullable_string(&mut self) -> Result<Option<String>, GroupError> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(None);
        }
        let b = self.take(n as usize)?;
        Ok(Some(String::from_utf8_lossy(b).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_rejects_truncated_input() {
        assert!(Reader(&[0, 5, b'a']).string().is_err());
        assert!(Reader(&[0]).i16().is_err());
        assert_eq!(Reader(&[0xff, 0xff]).nullable_string().ok(), Some(None));
        assert_eq!(
            Reader(&[0, 2, b'h', b'i']).string().ok().as_deref(),
            Some("hi")
        );
    }
}
