//! One Broker's runtime: its log and the publish path shared by the ingress, replies and
//! (later) in-process sources.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use herald_ce::Event;
use herald_log::{ChannelLog, LogError};

use crate::admit::{self, AdmitError};
use crate::dispatcher::DispatcherHandle;
use crate::envelope::Envelope;
use crate::plan::{BrokerKey, Storage};

/// Why events could not be published; each maps to one ingress status code.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// 400: the event itself is refused.
    #[error("{0}")]
    Admit(#[from] AdmitError),
    /// 429: the log is at capacity; try again later.
    #[error("the broker's log is full; retry later")]
    Full,
    /// 413: one event is larger than a log record may be.
    #[error("event of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    /// 503: the log cannot store anything now.
    #[error("the broker's log is unavailable: {0}")]
    Unavailable(String),
    /// The log was superseded and is draining: publish the (returned) events to the Broker's
    /// current log instead.
    #[error("the broker's log was replaced; retry on the current one")]
    Sealed(Vec<Event>),
}

impl From<LogError> for PublishError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Full => PublishError::Full,
            LogError::TooLarge { size, max } => PublishError::TooLarge { size, max },
            other => PublishError::Unavailable(other.to_string()),
        }
    }
}

pub struct BrokerRuntime {
    pub key: BrokerKey,
    pub uid: String,
    pub storage: Storage,
    pub log: Arc<dyn ChannelLog>,
    /// Running dispatchers by Trigger name.
    pub dispatchers: Mutex<HashMap<String, DispatcherHandle>>,
    /// Reads the log once and hands events to the matching Triggers.
    pub router: Arc<crate::router::Router>,
    /// The Broker's address, the `knativeerrordest` of a failed reply.
    pub address: String,
    /// The durable log's directory (None for a memory log).
    pub dir: Option<std::path::PathBuf>,
    /// Brokers stamp `knativebrokerttl`/`knativearrivaltime`; Channels pass events unchanged
    /// (DP-25: a channel delivers attributes as received).
    pub admit: bool,
    /// Counts accepted (type, source) pairs for the event registry.
    pub observer: Arc<crate::observe::TypeObserver>,
    /// True once the log is draining. Every append holds a read guard, so sealing (the write
    /// guard) waits for appends in flight: after it, the head is final and "every cursor at the
    /// head" really means drained (no event acknowledged into a log about to be deleted).
    pub sealed: tokio::sync::RwLock<bool>,
}

impl BrokerRuntime {
    /// Refuses further appends, once those in flight are done (see `sealed`).
    pub async fn seal(&self) {
        *self.sealed.write().await = true;
    }

    /// Admits every event (all or none: one refused event refuses the request) and appends
    /// them; resolves once the log has them (durably, for a durable broker).
    pub async fn publish(
        &self,
        events: Vec<Event>,
        headers: &[(String, String)],
        default_ttl: i64,
    ) -> Result<usize, PublishError> {
        if events.is_empty() {
            return Ok(0);
        }
        let sealed = self.sealed.read().await;
        if *sealed {
            return Err(PublishError::Sealed(events));
        }
        let now = jiff::Timestamp::now().to_string();
        let mut payloads = Vec::with_capacity(events.len());
        let mut accepted = Vec::with_capacity(events.len());
        for mut event in events {
            if self.admit {
                admit::admit(&mut event, default_ttl, &now)?;
            }
            let env = Envelope {
                headers: headers.to_vec(),
                event,
            };
            payloads.push(env.encode());
            accepted.push(env.event);
        }
        let n = payloads.len();
        self.log.append(payloads).await?;
        drop(sealed);
        self.observer.observe(
            &self.key,
            accepted.iter().map(|e| (e.ty.as_str(), e.source.as_str())),
        );
        Ok(n)
    }
}
