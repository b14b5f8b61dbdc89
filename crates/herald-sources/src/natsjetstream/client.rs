//! A minimal NATS connection over tokio TCP: handshake, one inbox subscription for replies,
//! publishes, JetStream JSON API requests and pull requests. A reader task answers the
//! server's `PING`s and hands every message to the connection's owner.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use super::proto::{self, Auth, Msg, ServerOp};
use crate::tls::TlsSettings;

/// The connection's byte stream: plain TCP or TLS over it.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}
type Stream = Box<dyn Io>;
type Writer = WriteHalf<Stream>;

/// Why the connection or a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("dial tcp {addr}: {error}")]
    Dial { addr: String, error: String },
    #[error("NATS server refused the connection: {0}")]
    Refused(String),
    #[error("TLS handshake with {addr}: {error}")]
    Tls { addr: String, error: String },
    #[error("{0}")]
    TlsConfig(String),
    #[error("connection to {0} lost")]
    Closed(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Proto(#[from] proto::ProtoError),
    #[error("NATS server error: {0}")]
    Server(String),
    #[error("no reply to {0} within {1:?} (is JetStream enabled?)")]
    Timeout(String, Duration),
    #[error("no responders for {0} (is JetStream enabled?)")]
    NoResponders(String),
    #[error("invalid JetStream API reply to {0}: {1}")]
    BadReply(String, String),
}

/// A JetStream API error (`{"error": {"code", "err_code", "description"}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u64,
    pub err_code: u64,
    pub description: String,
}

impl ApiError {
    /// Reads the `error` member of an API reply, if any.
    pub fn of(reply: &Value) -> Option<ApiError> {
        let e = reply.get("error")?;
        Some(ApiError {
            code: e.get("code").and_then(Value::as_u64).unwrap_or_default(),
            err_code: e
                .get("err_code")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
            description: e
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .to_string(),
        })
    }
}

/// An I/O error as Go's net package words it (`connection refused`), without `(os error N)`.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or_default();
    s.to_lowercase()
}

type Incoming = Result<Msg, ClientError>;

/// One NATS connection.
pub struct Client {
    addr: String,
    writer: Arc<Mutex<Writer>>,
    rx: mpsc::UnboundedReceiver<Incoming>,
    inbox: String,
    next: u64,
    reader: JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Client {
    /// Connects to `addr` (`host:port`) and completes the handshake within `timeout`. TLS is
    /// used when `tls` is given or the server's INFO requires it (with the system's roots).
    pub async fn connect(
        addr: &str,
        auth: &Auth,
        tls: Option<&TlsSettings>,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        match tokio::time::timeout(timeout, Self::connect_inner(addr, auth, tls)).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Dial {
                addr: addr.to_string(),
                error: format!("i/o timeout after {timeout:?}"),
            }),
        }
    }

    async fn connect_inner(
        addr: &str,
        auth: &Auth,
        tls: Option<&TlsSettings>,
    ) -> Result<Client, ClientError> {
        let dial = |e: std::io::Error| ClientError::Dial {
            addr: addr.to_string(),
            error: io_reason(&e),
        };
        let mut tcp = TcpStream::connect(addr).await.map_err(dial)?;
        let _ = tcp.set_nodelay(true);
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let closed = || ClientError::Closed(addr.to_string());
        // The server speaks first, in plain text: INFO says whether it requires TLS.
        let info = loop {
            match proto::parse(&mut buf)? {
                Some(ServerOp::Info(info)) => break info,
                Some(ServerOp::Err(e)) => return Err(ClientError::Refused(e)),
                Some(_) => {}
                None => {
                    if tcp.read_buf(&mut buf).await.map_err(dial)? == 0 {
                        return Err(closed());
                    }
                }
            }
        };
        let required = serde_json::from_str::<Value>(&info)
            .ok()
            .and_then(|v| v.get("tls_required").and_then(Value::as_bool))
            .unwrap_or(false);
        let stream: Stream = match (tls, required) {
            (None, false) => Box::new(tcp),
            (Some(settings), _) => Box::new(upgrade(addr, tcp, settings).await?),
            (None, true) => Box::new(upgrade(addr, tcp, &TlsSettings::default()).await?),
        };
        let (mut rd, mut wr) = tokio::io::split(stream);
        wr.write_all(&proto::connect(auth)).await.map_err(dial)?;
        // PONG to our PING means the CONNECT was accepted.
        loop {
            while let Some(op) = proto::parse(&mut buf)? {
                match op {
                    ServerOp::Err(e) => return Err(ClientError::Refused(e)),
                    ServerOp::Pong => return Self::start(addr, rd, wr, buf).await,
                    ServerOp::Ping => wr.write_all(b"PONG\r\n").await.map_err(dial)?,
                    _ => {}
                }
            }
            if rd.read_buf(&mut buf).await.map_err(dial)? == 0 {
                return Err(closed());
            }
        }
    }

    async fn start(
        addr: &str,
        mut rd: ReadHalf<Stream>,
        mut wr: Writer,
        mut buf: BytesMut,
    ) -> Result<Client, ClientError> {
        let inbox = format!("_INBOX.{}", uuid::Uuid::new_v4().simple());
        wr.write_all(&proto::subscribe(&format!("{inbox}.>"), 1))
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let writer = Arc::new(Mutex::new(wr));
        let (tx, rx) = mpsc::unbounded_channel();
        let (w, a) = (writer.clone(), addr.to_string());
        let reader = tokio::spawn(async move {
            let end = loop {
                match proto::parse(&mut buf) {
                    Ok(Some(ServerOp::Msg(m))) => {
                        if tx.send(Ok(m)).is_err() {
                            return;
                        }
                    }
                    Ok(Some(ServerOp::Ping)) => {
                        if w.lock().await.write_all(b"PONG\r\n").await.is_err() {
                            break ClientError::Closed(a.clone());
                        }
                    }
                    Ok(Some(ServerOp::Err(e))) => break ClientError::Server(e),
                    Ok(Some(_)) => {}
                    Ok(None) => match rd.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => break ClientError::Closed(a.clone()),
                        Ok(_) => {}
                    },
                    Err(e) => break e.into(),
                }
            };
            let _ = tx.send(Err(end));
        });
        Ok(Client {
            addr: addr.to_string(),
            writer,
            rx,
            inbox,
            next: 0,
            reader,
        })
    }

    /// A fresh reply subject under this connection's inbox.
    pub fn reply_subject(&mut self) -> String {
        self.next += 1;
        format!("{}.{}", self.inbox, self.next)
    }

    pub async fn publish(
        &self,
        subject: &str,
        reply: Option<&str>,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        let mut w = self.writer.lock().await;
        w.write_all(&proto::publish(subject, reply, payload))
            .await
            .map_err(|_| ClientError::Closed(self.addr.clone()))
    }

    /// The next message for this connection, or `None` if `timeout` passes first.
    pub async fn next_msg(&mut self, timeout: Duration) -> Result<Option<Msg>, ClientError> {
        match tokio::time::timeout(timeout, self.rx.recv()).await {
            Err(_) => Ok(None),
            Ok(None) => Err(ClientError::Closed(self.addr.clone())),
            Ok(Some(r)) => r.map(Some),
        }
    }

    /// Sends a JetStream API request and returns its JSON reply.
    pub async fn api(
        &mut self,
        subject: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let reply = self.reply_subject();
        self.publish(subject, Some(&reply), body.to_string().as_bytes())
            .await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(m) = self.next_msg(left).await? else {
                return Err(ClientError::Timeout(subject.to_string(), timeout));
            };
            if m.subject != reply {
                continue; // A late message for an earlier pull: it will be redelivered.
            }
            if m.status.as_ref().is_some_and(|(c, _)| *c == 503) {
                return Err(ClientError::NoResponders(subject.to_string()));
            }
            return serde_json::from_slice(&m.payload)
                .map_err(|e| ClientError::BadReply(subject.to_string(), e.to_string()));
        }
    }
}

/// The TLS handshake on an open connection, verifying the server as `settings` say.
async fn upgrade(
    addr: &str,
    tcp: TcpStream,
    settings: &TlsSettings,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
    let tls_err = |error: String| ClientError::Tls {
        addr: addr.to_string(),
        error,
    };
    let config = crate::tls::client_config(settings, "spec.tls")
        .map_err(|e| ClientError::TlsConfig(e.to_string()))?;
    let name = crate::tls::server_name(addr).map_err(|e| ClientError::TlsConfig(e.to_string()))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| tls_err(e.to_string()))
}
