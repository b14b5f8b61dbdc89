//! The slice of the NATS client protocol the source speaks, as pure functions: parsing server
//! operations (`INFO`, `MSG`, `HMSG` with headers and status, `PING`, `PONG`, `+OK`, `-ERR`)
//! out of a byte buffer, encoding client operations, and reading JetStream's ack subjects.

use bytes::{Buf, Bytes, BytesMut};

/// Longest control line accepted (subjects are short; anything longer is a broken stream).
const MAX_CONTROL_LINE: usize = 64 * 1024;
/// Largest message accepted (NATS' own default `max_payload` is 1 MiB; 64 MiB is its hard cap).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("protocol error: control line longer than {MAX_CONTROL_LINE} bytes")]
    LineTooLong,
    #[error("protocol error: malformed {0} line: {1}")]
    Malformed(&'static str, String),
    #[error("protocol error: unknown operation {0:?}")]
    Unknown(String),
}

/// NATS message headers (names compared case-insensitively, order kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub subject: String,
    pub reply: Option<String>,
    /// The status line of a status message (`404 No Messages`, `408 Request Timeout`…).
    pub status: Option<(u16, String)>,
    pub headers: Headers,
    pub payload: Bytes,
}

/// One operation sent by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    Info(String),
    Msg(Msg),
    Ping,
    Pong,
    Ok,
    Err(String),
}

/// Parses one operation from the front of `buf`, consuming it; `None` until it is complete.
pub fn parse(buf: &mut BytesMut) -> Result<Option<ServerOp>, ProtoError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() > MAX_CONTROL_LINE {
            return Err(ProtoError::LineTooLong);
        }
        return Ok(None);
    };
    let line = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut parts = line.split_ascii_whitespace();
    let op = parts.next().unwrap_or_default().to_ascii_uppercase();
    let args: Vec<&str> = parts.collect();
    let simple = |buf: &mut BytesMut, op| {
        buf.advance(end + 2);
        Ok(Some(op))
    };
    match op.as_str() {
        "PING" => simple(buf, ServerOp::Ping),
        "PONG" => simple(buf, ServerOp::Pong),
        "+OK" => simple(buf, ServerOp::Ok),
        "-ERR" => {
            let msg = line[4..].trim().trim_matches('\'').to_string();
            simple(buf, ServerOp::Err(msg))
        }
        "INFO" => {
            let json = line[4..].trim().to_string();
            simple(buf, ServerOp::Info(json))
        }
        "MSG" | "HMSG" => parse_msg(buf, end, &op, &args, &line),
        _ => Err(ProtoError::Unknown(op)),
    }
}

fn parse_msg(
    buf: &mut BytesMut,
    end: usize,
    op: &str,
    args: &[&str],
    line: &str,
) -> Result<Option<ServerOp>, ProtoError> {
    let name = if op == "MSG" { "MSG" } else { "HMSG" };
    let bad = || ProtoError::Malformed(name, line.to_string());
    let with_headers = op == "HMSG";
    let fixed = if with_headers { 4 } else { 3 };
    let (subject, reply, sizes) = match args.len() {
        n if n == fixed => (args[0], None, &args[2..]),
        n if n == fixed + 1 => (args[0], Some(args[2]), &args[3..]),
        _ => return Err(bad()),
    };
    let num = |s: &str| s.parse::<usize>().map_err(|_| bad());
    let (hdr_len, total) = if with_headers {
        (num(sizes[0])?, num(sizes[1])?)
    } else {
        (0, num(sizes[0])?)
    };
    if hdr_len > total || total > MAX_MESSAGE {
        return Err(bad());
    }
    let start = end + 2;
    if buf.len() < start + total + 2 {
        return Ok(None);
    }
    if &buf[start + total..start + total + 2] != b"\r\n" {
        return Err(bad());
    }
    let (status, headers) = if with_headers {
        parse_headers(&buf[start..start + hdr_len]).ok_or_else(bad)?
    } else {
        (None, Headers::default())
    };
    let msg = Msg {
        subject: subject.to_string(),
        reply: reply.map(str::to_string),
        status,
        headers,
        payload: Bytes::new(),
    };
    buf.advance(start + hdr_len);
    let payload = buf.split_to(total - hdr_len).freeze();
    buf.advance(2);
    Ok(Some(ServerOp::Msg(Msg { payload, ..msg })))
}

type StatusAndHeaders = (Option<(u16, String)>, Headers);

/// `NATS/1.0[ <status> <description>]\r\n(Name: value\r\n)*\r\n`.
fn parse_headers(block: &[u8]) -> Option<StatusAndHeaders> {
    let text = std::str::from_utf8(block).ok()?;
    let mut lines = text.split("\r\n");
    let first = lines.next()?;
    let rest = first.strip_prefix("NATS/1.0")?.trim();
    let status = if rest.is_empty() {
        None
    } else {
        let (code, desc) = rest.split_once(' ').unwrap_or((rest, ""));
        Some((code.parse().ok()?, desc.trim().to_string()))
    };
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Some((status, Headers(headers)))
}

/// `PUB <subject> [reply] <n>\r\n<payload>\r\n`.
pub fn publish(subject: &str, reply: Option<&str>, payload: &[u8]) -> Vec<u8> {
    let mut out = match reply {
        Some(r) => format!("PUB {subject} {r} {}\r\n", payload.len()),
        None => format!("PUB {subject} {}\r\n", payload.len()),
    }
    .into_bytes();
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    out
}

/// `SUB <subject> <sid>\r\n`.
pub fn subscribe(subject: &str, sid: u64) -> Vec<u8> {
    format!("SUB {subject} {sid}\r\n").into_bytes()
}

/// Credentials sent in `CONNECT`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
}

/// `CONNECT {...}\r\nPING\r\n`: headers on, no echo of our own publishes, no `+OK`s.
pub fn connect(auth: &Auth) -> Vec<u8> {
    let mut o = serde_json::json!({
        "verbose": false, "pedantic": false, "tls_required": false, "headers": true,
        "no_responders": true, "echo": false, "lang": "rust-herald",
        "version": env!("CARGO_PKG_VERSION"), "protocol": 1,
    });
    for (k, v) in [
        ("user", &auth.user),
        ("pass", &auth.password),
        ("auth_token", &auth.token),
    ] {
        if let Some(v) = v {
            o[k] = serde_json::Value::String(v.clone());
        }
    }
    format!("CONNECT {o}\r\nPING\r\n").into_bytes()
}

/// What JetStream's ack subject of a delivered message says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckInfo {
    pub stream: String,
    pub consumer: String,
    pub delivered: u64,
    pub stream_seq: u64,
    pub consumer_seq: u64,
    /// Publication time, nanoseconds since the Unix epoch.
    pub timestamp_nanos: i128,
}

/// Reads `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` and the newer
/// `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]`.
pub fn ack_info(reply: &str) -> Option<AckInfo> {
    let t: Vec<&str> = reply.split('.').collect();
    if t.len() < 9 || t[0] != "$JS" || t[1] != "ACK" {
        return None;
    }
    let o = match t.len() {
        9 => 2,
        n if n >= 11 => 4,
        _ => return None,
    };
    Some(AckInfo {
        stream: t[o].to_string(),
        consumer: t[o + 1].to_string(),
        delivered: t[o + 2].parse().ok()?,
        stream_seq: t[o + 3].parse().ok()?,
        consumer_seq: t[o + 4].parse().ok()?,
        timestamp_nanos: t[o + 5].parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> (Vec<ServerOp>, usize) {
        let mut buf = BytesMut::from(input);
        let mut ops = Vec::new();
        while let Some(op) = parse(&mut buf).unwrap_or_else(|e| panic!("{e}")) {
            ops.push(op);
        }
        (ops, buf.len())
    }

    #[test]
    fn simple_ops() {
        let (ops, rest) =
            all(b"PING\r\nPONG\r\n+OK\r\n-ERR 'Authorization Violation'\r\nINFO {\"a\":1}\r\nPI");
        assert_eq!(
            ops,
            vec![
                ServerOp::Ping,
                ServerOp::Pong,
                ServerOp::Ok,
                ServerOp::Err("Authorization Violation".into()),
                ServerOp::Info("{\"a\":1}".into()),
            ]
        );
        assert_eq!(rest, 2);
    }

    #[test]
    fn messages() {
        let hdr = b"NATS/1.0\r\nContent-Type: text/plain\r\nce-id: 1\r\n\r\n";
        let mut input = b"MSG a.b 1 5\r\nhello\r\n".to_vec();
        input.extend(
            format!(
                "HMSG _INBOX.x.1 1 $JS.ACK.S.C.1.2.3.4.0 {} {}\r\n",
                hdr.len(),
                hdr.len() + 2
            )
            .bytes(),
        );
        input.extend_from_slice(hdr);
        input.extend_from_slice(
            b"hi\r\nHMSG _INBOX.x.1 1 28 28\r\nNATS/1.0 404 No Messages\r\n\r\n\r\n",
        );
        let (ops, rest) = all(&input);
        assert_eq!(rest, 0);
        let ServerOp::Msg(m) = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(
            (m.subject.as_str(), m.reply.as_deref(), &m.payload[..]),
            ("a.b", None, &b"hello"[..])
        );
        let ServerOp::Msg(m) = &ops[1] else {
            panic!("{ops:?}")
        };
        assert_eq!(m.reply.as_deref(), Some("$JS.ACK.S.C.1.2.3.4.0"));
        assert_eq!(m.headers.get("content-type"), Some("text/plain"));
        assert_eq!(m.headers.get("CE-ID"), Some("1"));
        assert_eq!((&m.payload[..], &m.status), (&b"hi"[..], &None));
        let ServerOp::Msg(m) = &ops[2] else {
            panic!("{ops:?}")
        };
        assert_eq!(m.status, Some((404, "No Messages".into())));
        assert!(m.payload.is_empty());
    }

    #[test]
    fn partial_message_waits() {
        let mut buf = BytesMut::from(&b"MSG a 1 5\r\nhel"[..]);
        assert_eq!(parse(&mut buf), Ok(None));
        buf.extend_from_slice(b"lo\r\n");
        assert!(matches!(parse(&mut buf), Ok(Some(ServerOp::Msg(_)))));
    }

    #[test]
    fn malformed() {
        for input in [
            &b"MSG a 1 x\r\n"[..],
            b"MSG a 1 2\r\nabcd\r\n",
            b"HMSG a 1 9 3\r\n",
            b"WHAT\r\n",
            b"MSG\r\n",
        ] {
            assert!(
                parse(&mut BytesMut::from(input)).is_err(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            parse(&mut BytesMut::from(&vec![b'a'; MAX_CONTROL_LINE + 1][..])),
            Err(ProtoError::LineTooLong)
        );
    }

    #[test]
    fn ack_subjects() {
        let v1 = ack_info("$JS.ACK.ORDERS.c1.2.17.9.1700000000123456789.4");
        assert_eq!(
            v1,
            Some(AckInfo {
                stream: "ORDERS".into(),
                consumer: "c1".into(),
                delivered: 2,
                stream_seq: 17,
                consumer_seq: 9,
                timestamp_nanos: 1_700_000_000_123_456_789
            })
        );
        let v2 = ack_info("$JS.ACK.hub.ACCHASH.ORDERS.c1.2.17.9.1700000000123456789.4.rand");
        assert_eq!(v2, v1);
        for bad in [
            "_INBOX.x",
            "$JS.ACK.S.C.x.1.1.1.0",
            "$JS.ACK.S.C.1.1.1.1",
            "$JS.ACK.a.b.S.C.1.2.3.4",
        ] {
            assert_eq!(ack_info(bad), None, "{bad}");
        }
    }

    #[test]
    fn encodings() {
        assert_eq!(publish("a", Some("r"), b"+ACK"), b"PUB a r 4\r\n+ACK\r\n");
        assert_eq!(publish("a", None, b""), b"PUB a 0\r\n\r\n");
        let c = String::from_utf8(connect(&Auth {
            token: Some("t".into()),
            ..Auth::default()
        }))
        .unwrap_or_default();
        assert!(
            c.starts_with("CONNECT {") && c.ends_with("}\r\nPING\r\n"),
            "{c}"
        );
        assert!(
            c.contains("\"auth_token\":\"t\"")
                && c.contains("\"headers\":true")
                && !c.contains("\"user\""),
            "{c}"
        );
    }
}
