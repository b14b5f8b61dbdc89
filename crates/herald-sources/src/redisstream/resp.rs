//! A minimal Redis client: RESP2 encoding and parsing plus one TCP connection. Hand-rolled
//! because the source needs five commands (AUTH, XGROUP, XREADGROUP, XACK, PING) and a full
//! client crate would add dozens of crates to the build for them.

use std::time::Duration;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest bulk string accepted (Redis' own `proto-max-bulk-len` default).
const MAX_BULK: usize = 512 * 1024 * 1024;
/// Array elements preallocated at most, whatever length the peer announces.
const MAX_PREALLOC: usize = 1024;
/// Nesting accepted in replies (XREADGROUP needs 4).
const MAX_DEPTH: usize = 16;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    /// A bulk string; `None` is the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// An array; `None` is the null array (e.g. XREADGROUP that timed out).
    Array(Option<Vec<Reply>>),
}

/// Why a reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("unknown RESP type byte {0:#04x}")]
    UnknownType(u8),
    #[error("invalid RESP length or integer {0:?}")]
    BadNumber(String),
    #[error("bulk string of {0} bytes is too large")]
    TooLarge(usize),
    #[error("bulk string not terminated by CRLF")]
    Unterminated,
    #[error("reply nested too deeply")]
    TooDeep,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("dial tcp {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("dial tcp {0}: timed out")]
    ConnectTimeout(String),
    #[error("connection to Redis lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection to Redis closed by the server")]
    Closed,
    #[error("Redis protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("TLS handshake with {0}")]
    Tls(String),
    #[error("AUTH failed: {0}")]
    Auth(String),
    #[error("unexpected reply from Redis: {0}")]
    Unexpected(String),
    /// The server answered with an error reply (`ERR …`, `NOGROUP …`, `WRONGTYPE …`).
    #[error("{0}")]
    Server(String),
}

impl RedisError {
    /// Whether the connection is unusable afterwards (an error reply leaves it fine).
    pub fn is_connection(&self) -> bool {
        !matches!(self, RedisError::Server(_) | RedisError::Auth(_))
    }

    /// The readiness reason this error gives the source.
    pub fn reason(&self) -> &'static str {
        match self {
            RedisError::Auth(_) => "AuthenticationFailed",
            RedisError::Tls(_) => "TLSHandshakeFailed",
            RedisError::Server(_) => "RedisError",
            _ => "ConnectionFailed",
        }
    }

    /// The error code of a server error reply (`NOGROUP`, `BUSYGROUP`…).
    pub fn code(&self) -> Option<&str> {
        match self {
            RedisError::Server(m) => m.split_whitespace().next(),
            _ => None,
        }
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses one reply from the start of `buf`: `Ok(None)` when more bytes are needed, else the
/// reply and how many bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Reply, usize)>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError::TooDeep);
    }
    let Some(&ty) = buf.get(pos) else {
        return Ok(None);
    };
    let Some(line_end) = find_crlf(buf, pos + 1) else {
        return Ok(None);
    };
    let line = &buf[pos + 1..line_end];
    let next = line_end + 2;
    let text = || String::from_utf8_lossy(line).into_owned();
    match ty {
        b'+' => Ok(Some((Reply::Simple(text()), next))),
        b'-' => Ok(Some((Reply::Error(text()), next))),
        b':' => Ok(Some((Reply::Int(number(line)?), next))),
        b'$' => {
            let n = number(line)?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), next)));
            }
            let n = usize::try_from(n).map_err(|_| ProtocolError::BadNumber(text()))?;
            if n > MAX_BULK {
                return Err(ProtocolError::TooLarge(n));
            }
            if buf.len() < next + n + 2 {
                return Ok(None);
            }
            if &buf[next + n..next + n + 2] != b"\r\n" {
                return Err(ProtocolError::Unterminated);
            }
            Ok(Some((
                Reply::Bulk(Some(buf[next..next + n].to_vec())),
                next + n + 2,
            )))
        }
        b'*' => {
            let n = number(line)?;
            if n < 0 {
                return Ok(Some((Reply::Array(None), next)));
            }
            let n = usize::try_from(n).map_err(|_| ProtocolError::BadNumber(text()))?;
            let mut items = Vec::with_capacity(n.min(MAX_PREALLOC));
            let mut at = next;
            for _ in 0..n {
                match parse_at(buf, at, depth + 1)? {
                    Some((r, end)) => {
                        items.push(r);
                        at = end;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), at)))
        }
        other => Err(ProtocolError::UnknownType(other)),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

fn number(line: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ProtocolError::BadNumber(String::from_utf8_lossy(line).into_owned()))
}

/// A byte stream to Redis: plain TCP or TLS over it.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// How to reach Redis.
pub struct Dial<'a> {
    pub address: &'a str,
    pub password: Option<&'a str>,
    /// TLS client configuration and the name the server's certificate must carry.
    pub tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    pub timeout: Duration,
}

/// One connection to Redis; commands run one at a time.
pub struct Conn {
    stream: Box<dyn Io>,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects (TLS if asked) and authenticates with the password if given.
    pub async fn connect(d: Dial<'_>) -> Result<Conn, RedisError> {
        let (address, password, timeout) = (d.address, d.password, d.timeout);
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Err(_) => return Err(RedisError::ConnectTimeout(address.to_string())),
            Ok(Err(source)) => {
                return Err(RedisError::Connect {
                    address: address.to_string(),
                    source,
                });
            }
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        let stream: Box<dyn Io> = match d.tls {
            None => Box::new(stream),
            Some((config, name)) => {
                let tls = tokio_rustls::TlsConnector::from(config).connect(name, stream);
                match tokio::time::timeout(timeout, tls).await {
                    Err(_) => return Err(RedisError::Tls(format!("{address}: timed out"))),
                    Ok(Err(e)) => return Err(RedisError::Tls(format!("{address}: {e}"))),
                    Ok(Ok(s)) => Box::new(s),
                }
            }
        };
        let mut conn = Conn {
            stream,
            buf: Vec::with_capacity(4096),
        };
        if let Some(p) = password {
            match conn.cmd(&[b"AUTH", p.as_bytes()]).await {
                Err(RedisError::Server(m)) => return Err(RedisError::Auth(m)),
                r => r?,
            };
        }
        Ok(conn)
    }

    /// Sends one command and reads its reply; an error reply becomes [`RedisError::Server`].
    pub async fn cmd(&mut self, args: &[&[u8]]) -> Result<Reply, RedisError> {
        self.stream.write_all(&encode(args)).await?;
        let reply = self.read_reply().await?;
        match reply {
            Reply::Error(e) => Err(RedisError::Server(e)),
            r => Ok(r),
        }
    }

    async fn read_reply(&mut self) -> Result<Reply, RedisError> {
        loop {
            if let Some((reply, used)) = parse(&self.buf)? {
                self.buf.drain(..used);
                return Ok(reply);
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(RedisError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }

    #[test]
    fn encodes_commands() {
        assert_eq!(
            encode(&[b"XACK", b"s", b"g", b"1-0"]),
            b"*4\r\n$4\r\nXACK\r\n$1\r\ns\r\n$1\r\ng\r\n$3\r\n1-0\r\n".to_vec()
        );
        assert_eq!(
            encode(&[b"A", b""]),
            b"*2\r\n$1\r\nA\r\n$0\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn parses_replies() {
        type Parsed = Option<(Reply, usize)>;
        let cases: &[(&[u8], Parsed)] = &[
            (b"+OK\r\n", Some((Reply::Simple("OK".into()), 5))),
            (b"-ERR x y\r\n", Some((Reply::Error("ERR x y".into()), 10))),
            (b":42\r\n", Some((Reply::Int(42), 5))),
            (b"$3\r\nabc\r\n", Some((bulk("abc"), 9))),
            (
                b"$3\r\na\r\n\r\n",
                Some((Reply::Bulk(Some(b"a\r\n".to_vec())), 9)),
            ),
            (b"$-1\r\n", Some((Reply::Bulk(None), 5))),
            (b"*-1\r\n", Some((Reply::Array(None), 5))),
            (b"*0\r\n", Some((Reply::Array(Some(vec![])), 4))),
            (
                b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n+rest",
                Some((
                    Reply::Array(Some(vec![
                        bulk("a"),
                        Reply::Array(Some(vec![Reply::Int(1)])),
                    ])),
                    19,
                )),
            ),
            // Incomplete input asks for more.
            (b"", None),
            (b"+OK", None),
            (b"$3\r\nab", None),
            (b"*2\r\n:1\r\n", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse(input).as_ref(),
                Ok(want),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"?x\r\n", ProtocolError::UnknownType(b'?')),
            (b":x\r\n", ProtocolError::BadNumber("x".into())),
            (b"$3\r\nabcd\r\n", ProtocolError::Unterminated),
            (
                b"$999999999999\r\n",
                ProtocolError::TooLarge(999_999_999_999),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).as_ref(), Err(want));
        }
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2);
        assert_eq!(parse(deep.as_bytes()), Err(ProtocolError::TooDeep));
    }

    #[test]
    fn server_error_codes() {
        let e = RedisError::Server("NOGROUP No such key".into());
        assert_eq!(e.code(), Some("NOGROUP"));
        assert!(!e.is_connection());
        assert!(RedisError::Closed.is_connection());
        assert_eq!(e.reason(), "RedisError");
        assert_eq!(
            RedisError::Auth("WRONGPASS".into()).reason(),
            "AuthenticationFailed"
        );
        assert_eq!(RedisError::Closed.reason(), "ConnectionFailed");
    }
}
