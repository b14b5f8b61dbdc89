//! What a RabbitmqSource's spec and connection Secret mean for the consumer: the AMQP address,
//! the queue setup, and the retry policy. Pure, table-tested.

use std::time::Duration;

use herald_api::meta::BackoffPolicy as ApiBackoff;
use herald_api::sources::rabbitmq::{RabbitmqDeliverySpec, RabbitmqSourceSpec, event_source};
use herald_api::validation::parse_iso8601_duration;
use herald_dataplane::DeliveryPolicy;
use herald_dataplane::delivery::BackoffPolicy;

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub vhost: String,
}

/// Why a connection URI is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("the connection URI is not a URL: {0}")]
    Parse(String),
    #[error("scheme {0:?} is not supported (use amqp://; amqps needs TLS, not in this build)")]
    Scheme(String),
    #[error("the connection URI has no host")]
    NoHost,
}

/// Parses `amqp://user:pass@host:port/vhost` (RabbitMQ's URI spec: guest/guest, port 5672 and
/// vhost `/` by default; user, password and vhost percent-decoded).
pub fn parse_uri(uri: &str) -> Result<Address, UriError> {
    let url = reqwest::Url::parse(uri.trim()).map_err(|e| UriError::Parse(e.to_string()))?;
    if url.scheme() != "amqp" {
        return Err(UriError::Scheme(url.scheme().to_string()));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(UriError::NoHost)?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let (user, password) = if url.username().is_empty() {
        ("guest".to_string(), "guest".to_string())
    } else {
        (
            pct_decode(url.username()),
            pct_decode(url.password().unwrap_or_default()),
        )
    };
    let path = url.path().strip_prefix('/').unwrap_or(url.path());
    let vhost = if path.is_empty() {
        "/".to_string()
    } else {
        pct_decode(path)
    };
    Ok(Address {
        host,
        port: url.port().unwrap_or(5672),
        user,
        password,
        vhost,
    })
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The consumer's settings from the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub queue: String,
    pub queue_type: String,
    pub exchange: String,
    pub predeclared: bool,
    /// Overrides the URI's vhost when set.
    pub vhost: Option<String>,
    /// Prefetch count and concurrent deliveries.
    pub parallelism: u16,
    /// The `source` attribute of wrapped events.
    pub source: String,
    /// Name of the connection Secret, if any.
    pub secret: Option<String>,
    /// `rabbitmqClusterReference.name` (unresolvable without an operator).
    pub cluster: String,
}

impl Settings {
    pub fn from_spec(spec: &RabbitmqSourceSpec, namespace: &str, name: &str) -> Settings {
        let rc = spec.rabbitmq_resources_config.clone().unwrap_or_default();
        let cr = spec.rabbitmq_cluster_reference.clone().unwrap_or_default();
        Settings {
            source: event_source(namespace, name, &rc.queue_name),
            queue: rc.queue_name,
            queue_type: if rc.queue_type.is_empty() {
                "quorum".into()
            } else {
                rc.queue_type
            },
            exchange: rc.exchange_name,
            predeclared: rc.predeclared,
            vhost: Some(rc.vhost).filter(|v| !v.is_empty()),
            parallelism: u16::try_from(rc.parallelism.clamp(1, 1000)).unwrap_or(1),
            secret: cr
                .connection_secret
                .map(|s| s.name)
                .filter(|n| !n.is_empty()),
            cluster: cr.name,
        }
    }
}

/// The emitter's retry policy: `spec.delivery` when given, else `default`.
pub fn policy(delivery: Option<&RabbitmqDeliverySpec>, default: DeliveryPolicy) -> DeliveryPolicy {
    let Some(d) = delivery else { return default };
    if d.retry.is_none() && d.backoff_policy.is_none() && d.backoff_delay.is_none() {
        return default;
    }
    DeliveryPolicy {
        retry: d
            .retry
            .map_or(default.retry, |r| u32::try_from(r).unwrap_or(0)),
        backoff_policy: match d.backoff_policy {
            Some(ApiBackoff::Linear) => BackoffPolicy::Linear,
            Some(ApiBackoff::Exponential) => BackoffPolicy::Exponential,
            None => default.backoff_policy,
        },
        backoff_delay: match d.backoff_delay.as_deref().map(parse_iso8601_duration) {
            Some(Ok(v)) => Some(v),
            _ => default.backoff_delay,
        },
        ..default
    }
}

/// Reconnect delays: 1 s doubling to 30 s.
#[derive(Debug, Default)]
pub struct Backoff {
    n: u32,
}

impl Backoff {
    pub fn next(&mut self) -> Duration {
        let d = Duration::from_secs(1u64 << self.n.min(5)).min(Duration::from_secs(30));
        self.n = self.n.saturating_add(1);
        d
    }

    pub fn reset(&mut self) {
        self.n = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        let ok = |host: &str, port, user: &str, pw: &str, vh: &str| Address {
            host: host.into(),
            port,
            user: user.into(),
            password: pw.into(),
            vhost: vh.into(),
        };
        let cases = [
            (
                "amqp://guest:guest@127.0.0.1:5672",
                Ok(ok("127.0.0.1", 5672, "guest", "guest", "/")),
            ),
            ("amqp://h", Ok(ok("h", 5672, "guest", "guest", "/"))),
            (
                "amqp://u%40x:p%2Fw@h:1/%2Fv",
                Ok(ok("h", 1, "u@x", "p/w", "/v")),
            ),
            ("amqp://u:p@h:5/vh", Ok(ok("h", 5, "u", "p", "vh"))),
            ("amqp://[::1]:5", Ok(ok("::1", 5, "guest", "guest", "/"))),
            ("amqps://h", Err(UriError::Scheme("amqps".into()))),
            ("http://h", Err(UriError::Scheme("http".into()))),
        ];
        for (uri, want) in cases {
            assert_eq!(parse_uri(uri), want, "{uri}");
        }
        assert!(matches!(parse_uri("nope"), Err(UriError::Parse(_))));
    }

    #[test]
    fn delivery_policy() {
        let def = DeliveryPolicy::broker_default();
        assert_eq!(policy(None, def.clone()), def);
        let d = RabbitmqDeliverySpec {
            retry: Some(2),
            backoff_policy: Some(ApiBackoff::Linear),
            backoff_delay: Some("PT0.5S".into()),
        };
        let p = policy(Some(&d), def.clone());
        assert_eq!(p.retry, 2);
        assert_eq!(p.backoff_policy, BackoffPolicy::Linear);
        assert_eq!(p.backoff_delay, Some(Duration::from_millis(500)));
    }

    #[test]
    fn backoff_grows_and_caps() {
        let mut b = Backoff::default();
        let s: Vec<u64> = (0..8).map(|_| b.next().as_secs()).collect();
        assert_eq!(s, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.next().as_secs(), 1);
    }
}
