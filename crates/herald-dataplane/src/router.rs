//! The Broker's router: reads each event from the log once, decodes it once, asks the
//! [`TriggerIndex`] which Triggers match, and hands the event to those Triggers' queues. With
//! many Triggers an event costs a few hash lookups plus the candidates' filters, not one decode
//! and one filter per Trigger.
//!
//! A Trigger whose queue is full (a slow subscriber) is marked *lagging* at the first offset it
//! missed: the router stops feeding it and the Trigger reads the log itself, with its own filter,
//! until it reaches the router's position, then rejoins. So a slow Trigger never slows the
//! router or the other Triggers, and its backlog stays in the log, not in memory. New Triggers and
//! every Trigger after a restart start lagging from their cursor and join the same way.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_filter::TriggerIndex;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::envelope::Envelope;
use crate::metrics::inc;
use crate::plan::TriggerPlan;
use crate::shared::Shared;

/// Events queued per Trigger before it is switched to reading the log itself.
pub const QUEUE: usize = 256;
/// Records (and at most these bytes) read from the log per batch, by the router and by lagging
/// dispatchers.
pub const READ_BATCH: usize = 256;
pub const READ_BYTES: usize = 4 * 1024 * 1024;

/// An event routed to a Trigger: its log offset and the decoded envelope (shared).
pub type Item = (u64, Arc<Envelope>);

/// One Trigger as the router sees it.
pub struct Slot {
    pub plan: watch::Sender<Arc<TriggerPlan>>,
    tx: mpsc::Sender<Item>,
    /// `Some(offset)`: not fed by the router from `offset` on; the Trigger reads the log.
    lag_from: Mutex<Option<u64>>,
    /// Wakes the Trigger when it is switched to lagging.
    pub lagged: tokio::sync::Notify,
}

impl Slot {
    pub fn lag_from(&self) -> Option<u64> {
        self.lag_from.lock().ok().and_then(|l| *l)
    }
}

#[derive(Default)]
struct State {
    slots: HashMap<String, Arc<Slot>>,
    index: Option<TriggerIndex<String>>,
    /// Trigger names the current index was built with.
    indexed: HashSet<String>,
}

pub struct Router {
    state: Mutex<State>,
    /// The next offset the router will route; everything before it has been routed.
    position: watch::Sender<u64>,
    pub cancel: CancellationToken,
}

impl Router {
    pub fn new(start: u64, cancel: CancellationToken) -> Arc<Router> {
        Arc::new(Router {
            state: Mutex::new(State::default()),
            position: watch::channel(start).0,
            cancel,
        })
    }

    pub fn position(&self) -> u64 {
        *self.position.borrow()
    }

    pub fn watch_position(&self) -> watch::Receiver<u64> {
        self.position.subscribe()
    }

    /// Registers a Trigger, lagging from `cursor`; returns its slot and queue.
    pub fn add(
        &self,
        name: &str,
        plan: Arc<TriggerPlan>,
        cursor: u64,
    ) -> (Arc<Slot>, mpsc::Receiver<Item>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let slot = Arc::new(Slot {
            plan: watch::channel(plan).0,
            tx,
            lag_from: Mutex::new(Some(cursor)),
            lagged: tokio::sync::Notify::new(),
        });
        if let Ok(mut st) = self.state.lock() {
            st.slots.insert(name.to_string(), slot.clone());
        }
        (slot, rx)
    }

    /// Unregisters a Trigger's slot, unless a newer slot took its name meanwhile.
    pub fn remove_slot(&self, name: &str, slot: &Arc<Slot>) {
        if let Ok(mut st) = self.state.lock()
            && st.slots.get(name).is_some_and(|s| Arc::ptr_eq(s, slot))
        {
            st.slots.remove(name);
        }
    }

    /// Rebuilds the index from the current slots and their plans (once per applied Plan).
    pub fn rebuild_index(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let entries: Vec<(String, Arc<herald_filter::Filter>)> = st
            .slots
            .iter()
            .map(|(n, s)| (n.clone(), s.plan.borrow().filter.clone()))
            .collect();
        st.indexed = entries.iter().map(|(n, _)| n.clone()).collect();
        st.index = Some(TriggerIndex::build(entries));
    }

    /// A lagging Trigger that has read everything before `next` rejoins if the router is
    /// exactly there (and the index knows it). Returns whether it rejoined.
    pub fn try_rejoin(&self, name: &str, slot: &Slot, next: u64) -> bool {
        let Ok(st) = self.state.lock() else {
            return false;
        };
        if *self.position.borrow() != next || !st.indexed.contains(name) {
            return false;
        }
        if let Ok(mut l) = slot.lag_from.lock() {
            *l = None;
        }
        true
    }

    /// Routes one batch: under the lock, so joins, index changes and routing are ordered.
    fn route(&self, shared: &Shared, batch: &[(u64, Option<Arc<Envelope>>)], next: u64) {
        let Ok(st) = self.state.lock() else { return };
        let mut matched = Vec::new();
        for (offset, env) in batch {
            let Some(env) = env else { continue };
            matched.clear();
            if let Some(index) = &st.index {
                index.matches(&env.event, &mut matched);
            }
            if matched.is_empty() {
                inc(&shared.metrics.filtered);
            }
            for name in &matched {
                let Some(slot) = st.slots.get(name) else {
                    continue;
                };
                let Ok(mut lag) = slot.lag_from.lock() else {
                    continue;
                };
                if lag.is_some() {
                    continue;
                }
                match slot.tx.try_send((*offset, env.clone())) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        *lag = Some(*offset);
                        drop(lag);
                        slot.lagged.notify_one();
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        self.position.send_replace(next);
    }
}

/// The router's loop: follows the log's head until cancelled.
pub async fn run(shared: Arc<Shared>, broker: Arc<crate::broker::BrokerRuntime>) {
    let router = broker.router.clone();
    let log = broker.log.clone();
    let mut head_rx = log.watch_head();
    let mut next = router.position();
    loop {
        let head = *head_rx.borrow_and_update();
        if next >= head {
            tokio::select! {
                r = head_rx.changed() => if r.is_err() { return },
                _ = router.cancel.cancelled() => return,
            }
            continue;
        }
        let records = match log.read(next, READ_BATCH, READ_BYTES) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(broker = %broker.key, "router cannot read the log at {next}: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    _ = router.cancel.cancelled() => return,
                }
            }
        };
        let Some(last) = records.last().map(|r| r.offset) else {
            // Everything up to head was lost to corruption (the log counted it).
            next = head.max(log.first());
            router.route(&shared, &[], next);
            continue;
        };
        let batch: Vec<(u64, Option<Arc<Envelope>>)> = records
            .iter()
            .map(|r| match Envelope::decode(&r.payload) {
                Ok(e) => (r.offset, Some(Arc::new(e))),
                Err(e) => {
                    inc(&shared.metrics.undecodable);
                    tracing::error!(broker = %broker.key, offset = r.offset, "skipping an undecodable log record: {e}");
                    (r.offset, None)
                }
            })
            .collect();
        next = last + 1;
        router.route(&shared, &batch, next);
    }
}
