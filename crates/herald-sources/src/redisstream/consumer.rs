//! The I/O side of the RedisStreamSource: one task per consumer, each with its own connection,
//! reading its pending entries first, then new ones, emitting and acknowledging in order.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::resp::{Conn, Dial, RedisError, Reply};
use super::{Config, Entry, to_event};
use crate::emitter::EmitError;
use crate::runtime::SourceContext;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one XREADGROUP waits for new entries (the loop re-checks its pending list between).
const BLOCK_MS: &[u8] = b"2000";
/// Entries read per XREADGROUP.
const COUNT: &[u8] = b"16";
/// How soon entries whose delivery failed are read again from the pending list.
const PENDING_RETRY: Duration = Duration::from_secs(30);
/// Entries pending this long with another consumer are taken over (XAUTOCLAIM): longer than the
/// emitter's whole retry window (about 3.4 minutes), so a live consumer still delivering keeps
/// its entries, while those of a consumer that is gone (`consumers` lowered, another instance
/// crashed for good) are delivered.
const ORPHAN_IDLE_MS: &[u8] = b"300000";
/// How often a consumer looks for such entries.
const ORPHAN_SCAN: Duration = Duration::from_secs(30);
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Runs `config.consumers` consumers until the source is cancelled.
pub async fn run(ctx: SourceContext, config: Config) {
    let tls = match config
        .tls
        .as_ref()
        .map(|t| tls_of(t, &config.dial))
        .transpose()
    {
        Ok(t) => t,
        Err(e) => {
            ctx.failed("InvalidTLSConfig", e.to_string());
            ctx.cancel.cancelled().await;
            return;
        }
    };
    let config = Arc::new(Session { config, tls });
    let health = Arc::new(Health::new(config.consumers));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..config.consumers {
        tasks.spawn(consume(ctx.clone(), config.clone(), health.clone(), i));
    }
    ctx.cancel.cancelled().await;
    // Dropping the set aborts the consumers (they also watch the token).
    drop(tasks);
}

/// One consumer's state, aggregated into the source's readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Starting,
    Ready,
    Down {
        reason: &'static str,
        message: String,
    },
}

struct Health {
    states: Mutex<Vec<State>>,
}

impl Health {
    fn new(n: usize) -> Health {
        Health {
            states: Mutex::new(vec![State::Starting; n]),
        }
    }

    /// Records consumer `i`'s state; the source is Ready when every consumer is, not Ready
    /// (with the first failing consumer's reason) when any is down.
    fn set(&self, ctx: &SourceContext, i: usize, state: State) {
        let Ok(mut states) = self.states.lock() else {
            return;
        };
        if let Some(s) = states.get_mut(i) {
            *s = state;
        }
        match states.iter().find(|s| matches!(s, State::Down { .. })) {
            Some(State::Down { reason, message }) => ctx.failed(*reason, message.clone()),
            _ if states.iter().all(|s| *s == State::Ready) => ctx.ready(),
            _ => {}
        }
    }
}

/// Exponential backoff between reconnects.
struct Backoff(Duration);

impl Backoff {
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        d
    }

    fn reset(&mut self) {
        self.0 = BACKOFF_START;
    }
}

type TlsDial = (
    Arc<rustls::ClientConfig>,
    rustls::pki_types::ServerName<'static>,
);

fn tls_of(s: &super::TlsSettings, dial: &str) -> Result<TlsDial, crate::tls::TlsError> {
    Ok((
        crate::tls::client_config(s, "spec.dialOptions")?,
        crate::tls::server_name(dial)?,
    ))
}

/// A source's config plus what is built from it once.
struct Session {
    config: Config,
    tls: Option<TlsDial>,
}

impl std::ops::Deref for Session {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.config
    }
}

async fn consume(ctx: SourceContext, config: Arc<Session>, health: Arc<Health>, i: usize) {
    let name = config.consumer(i);
    let mut backoff = Backoff(BACKOFF_START);
    loop {
        if ctx.cancel.is_cancelled() {
            return;
        }
        let err = match session(&ctx, &config, &health, i, &name, &mut backoff).await {
            Ok(()) => return,
            Err(e) => e,
        };
        let reason = err.reason();
        tracing::warn!(source = %ctx.key(), consumer = %name, "{reason}: {err}");
        health.set(
            &ctx,
            i,
            State::Down {
                reason,
                message: err.to_string(),
            },
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff.next()) => {}
            _ = ctx.cancel.cancelled() => return,
        }
    }
}

/// Where the next read starts: after `id` in this consumer's pending list, or new entries.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cursor {
    Pending(String),
    New,
}

/// One connection's life: returns `Ok` when cancelled, the error that ended it otherwise.
async fn session(
    ctx: &SourceContext,
    config: &Session,
    health: &Health,
    i: usize,
    name: &str,
    backoff: &mut Backoff,
) -> Result<(), RedisError> {
    let mut conn = tokio::select! {
        c = Conn::connect(Dial {
            address: &config.dial,
            password: config.password.as_deref(),
            tls: config.tls.clone(),
            timeout: CONNECT_TIMEOUT,
        }) => c?,
        _ = ctx.cancel.cancelled() => return Ok(()),
    };
    ensure_group(&mut conn, config).await?;
    health.set(ctx, i, State::Ready);
    backoff.reset();
    let source = config.source();
    // A restart first reads what this consumer had been given but not acknowledged.
    let mut cursor = Cursor::Pending("0".into());
    let mut retry_pending_at: Option<Instant> = None;
    let mut next_orphan_scan = Instant::now();
    loop {
        if cursor == Cursor::New && retry_pending_at.is_some_and(|t| Instant::now() >= t) {
            cursor = Cursor::Pending("0".into());
            retry_pending_at = None;
        }
        if cursor == Cursor::New && Instant::now() >= next_orphan_scan {
            next_orphan_scan = Instant::now() + ORPHAN_SCAN;
            if claim_orphans(&mut conn, config, name).await? {
                cursor = Cursor::Pending("0".into());
            }
        }
        let mut args: Vec<&[u8]> = vec![
            b"XREADGROUP",
            b"GROUP",
            config.group.as_bytes(),
            name.as_bytes(),
            b"COUNT",
            COUNT,
        ];
        let start = match &cursor {
            Cursor::Pending(id) => id.as_bytes(),
            Cursor::New => {
                args.extend_from_slice(&[b"BLOCK", BLOCK_MS]);
                b">"
            }
        };
        args.extend_from_slice(&[b"STREAMS", config.stream.as_bytes(), start]);
        let reply = tokio::select! {
            r = conn.cmd(&args) => r,
            _ = ctx.cancel.cancelled() => return Ok(()),
        };
        let reply = match reply {
            // The stream (or the group) was deleted: recreate it, as Knative's adapter does.
            Err(e) if e.code() == Some("NOGROUP") => {
                tracing::info!(source = %ctx.key(), "recreating consumer group: {e}");
                ensure_group(&mut conn, config).await?;
                cursor = Cursor::Pending("0".into());
                continue;
            }
            r => r?,
        };
        let entries = parse_entries(reply)?;
        if entries.is_empty() {
            cursor = Cursor::New;
            continue;
        }
        for entry in entries {
            if let Cursor::Pending(_) = cursor {
                cursor = Cursor::Pending(entry.id.clone());
            }
            let Some(fields) = entry.fields else {
                // Pending but gone from the stream: nothing left to deliver.
                tracing::warn!(source = %ctx.key(), id = %entry.id,
                    "pending entry was deleted from the stream; acknowledging it");
                ack(&mut conn, config, &entry.id).await?;
                continue;
            };
            match ctx
                .emitter
                .emit(to_event(&source, &entry.id, &fields), &ctx.cancel)
                .await
            {
                Ok(()) => ack(&mut conn, config, &entry.id).await?,
                Err(EmitError::Cancelled) => return Ok(()),
                Err(e) => {
                    tracing::warn!(source = %ctx.key(), id = %entry.id,
                        "not delivered, left pending for a later retry: {e}");
                    retry_pending_at.get_or_insert(Instant::now() + PENDING_RETRY);
                }
            }
        }
    }
}

/// Creates the group at the end of the stream (and the stream if missing), like Knative's
/// adapter; an existing group is reused with its position and pending entries.
async fn ensure_group(conn: &mut Conn, config: &Config) -> Result<(), RedisError> {
    let r = conn
        .cmd(&[
            b"XGROUP",
            b"CREATE",
            config.stream.as_bytes(),
            config.group.as_bytes(),
            b"$",
            b"MKSTREAM",
        ])
        .await;
    match r {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        r => r.map(|_| ()),
    }
}

/// Moves entries idle for [`ORPHAN_IDLE_MS`] in other consumers' pending lists into this one's
/// (read from there next); true when it took any. A Redis without XAUTOCLAIM (< 6.2) is left
/// alone.
async fn claim_orphans(conn: &mut Conn, config: &Config, name: &str) -> Result<bool, RedisError> {
    let r = conn
        .cmd(&[
            b"XAUTOCLAIM",
            config.stream.as_bytes(),
            config.group.as_bytes(),
            name.as_bytes(),
            ORPHAN_IDLE_MS,
            b"0-0",
            b"COUNT",
            b"100",
            b"JUSTID",
        ])
        .await;
    match r {
        Ok(reply) => Ok(claimed_any(&reply)),
        Err(e) if !e.is_connection() => {
            tracing::debug!(stream = %config.stream, "XAUTOCLAIM: {e}");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Whether an XAUTOCLAIM reply (`[next, [ids…], …]`) claimed anything.
fn claimed_any(reply: &Reply) -> bool {
    match reply {
        Reply::Array(Some(parts)) => {
            matches!(parts.get(1), Some(Reply::Array(Some(ids))) if !ids.is_empty())
        }
        _ => false,
    }
}

async fn ack(conn: &mut Conn, config: &Config, id: &str) -> Result<(), RedisError> {
    conn.cmd(&[
        b"XACK",
        config.stream.as_bytes(),
        config.group.as_bytes(),
        id.as_bytes(),
    ])
    .await
    .map(|_| ())
}

/// The entries of an XREADGROUP reply for one stream: `[[stream, [[id, [f, v, …] | nil], …]]]`,
/// or nil when BLOCK timed out.
fn parse_entries(reply: Reply) -> Result<Vec<Entry>, RedisError> {
    let bad = |what: &str| RedisError::Unexpected(format!("XREADGROUP reply: {what}"));
    let streams = match reply {
        Reply::Array(None) => return Ok(Vec::new()),
        Reply::Array(Some(s)) => s,
        _ => return Err(bad("not an array")),
    };
    let mut out = Vec::new();
    for stream in streams {
        let Reply::Array(Some(pair)) = stream else {
            return Err(bad("stream is not an array"));
        };
        let Some(Reply::Array(Some(items))) = pair.into_iter().nth(1) else {
            return Err(bad("stream has no entry list"));
        };
        for item in items {
            let Reply::Array(Some(mut parts)) = item else {
                return Err(bad("entry is not an array"));
            };
            if parts.len() != 2 {
                return Err(bad("entry is not [id, fields]"));
            }
            let fields = parts.pop();
            let Some(Reply::Bulk(Some(id))) = parts.pop() else {
                return Err(bad("entry id is not a string"));
            };
            let id = String::from_utf8(id).map_err(|_| bad("entry id is not UTF-8"))?;
            let fields = match fields {
                Some(Reply::Array(None) | Reply::Bulk(None)) => None,
                Some(Reply::Array(Some(fv))) => Some(
                    fv.into_iter()
                        .map(|f| match f {
                            Reply::Bulk(Some(b)) => Ok(b),
                            _ => Err(bad("field is not a string")),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                _ => return Err(bad("entry fields are not an array")),
            };
            out.push(Entry { id, fields });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }

    fn arr(items: Vec<Reply>) -> Reply {
        Reply::Array(Some(items))
    }

    #[test]
    fn parses_xreadgroup_replies() {
        let reply = arr(vec![arr(vec![
            bulk("s"),
            arr(vec![
                arr(vec![bulk("1-0"), arr(vec![bulk("a"), bulk("1")])]),
                arr(vec![bulk("2-0"), Reply::Array(None)]),
            ]),
        ])]);
        assert_eq!(
            parse_entries(reply).unwrap_or_else(|e| panic!("{e}")),
            vec![
                Entry {
                    id: "1-0".into(),
                    fields: Some(vec![b"a".to_vec(), b"1".to_vec()])
                },
                Entry {
                    id: "2-0".into(),
                    fields: None
                },
            ]
        );
        assert_eq!(
            parse_entries(Reply::Array(None)).unwrap_or_else(|e| panic!("{e}")),
            vec![]
        );
        let empty = arr(vec![arr(vec![bulk("s"), arr(vec![])])]);
        assert_eq!(
            parse_entries(empty).unwrap_or_else(|e| panic!("{e}")),
            vec![]
        );
        for bad in [
            Reply::Int(1),
            arr(vec![Reply::Int(1)]),
            arr(vec![arr(vec![bulk("s")])]),
            arr(vec![arr(vec![
                bulk("s"),
                arr(vec![arr(vec![bulk("1-0")])]),
            ])]),
            arr(vec![arr(vec![
                bulk("s"),
                arr(vec![arr(vec![Reply::Int(1), arr(vec![])])]),
            ])]),
            arr(vec![arr(vec![
                bulk("s"),
                arr(vec![arr(vec![bulk("1-0"), arr(vec![Reply::Int(1)])])]),
            ])]),
        ] {
            assert!(parse_entries(bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn xautoclaim_replies() {
        let claimed = arr(vec![bulk("0-0"), arr(vec![bulk("1-0")]), arr(vec![])]);
        let none = arr(vec![bulk("0-0"), arr(vec![]), arr(vec![])]);
        assert!(claimed_any(&claimed));
        assert!(!claimed_any(&none));
        assert!(!claimed_any(&Reply::Array(None)));
        assert!(!claimed_any(&Reply::Int(0)));
    }

    #[test]
    fn backoff_grows_to_a_cap_and_resets() {
        let mut b = Backoff(BACKOFF_START);
        let waits: Vec<Duration> = (0..7).map(|_| b.next()).collect();
        assert_eq!(waits[0], BACKOFF_START);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(waits[6], BACKOFF_MAX);
        b.reset();
        assert_eq!(b.next(), BACKOFF_START);
    }
}
