//! The load generator: `connections` tasks, each posting binary-mode CloudEvents over its own
//! keep-alive connection, for the warm-up plus the measured window.
//!
//! Closed loop (default): a task sends its next event when the previous one is answered, which
//! finds the throughput at this concurrency. Open loop (`--rate`): a task sends on a fixed
//! schedule and, when it is behind because an answer was slow, measures latency from the
//! *scheduled* time, so a stalled server is charged for the events it delayed (no coordinated
//! omission, the trap Knative's benchmark notes describe).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use tokio::task::JoinSet;

use crate::clock::Clock;

/// Every event's `ce-id` is this prefix and a number unique in the process, so the sink can tell
/// which accepted event it is and whether one never arrived.
pub const ID_PREFIX: &str = "bench-";
/// Extension attribute carrying the send time (unix nanoseconds, decimal).
pub const SENT_HEADER: &str = "ce-benchsent";

/// A failed request is retried after this pause, so a dead target does not turn the generator
/// into a busy loop on connection errors.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub target: String,
    pub connections: u32,
    pub size: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub rate: Option<f64>,
    /// Stop after this many events in all (the backlog's fill), whatever the duration left.
    pub count: Option<u64>,
}

/// One request and its answer.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub id: u64,
    /// Request (open loop when behind schedule: its scheduled time) to the end of the answer.
    pub latency_ns: u64,
    /// HTTP status; 0 when no answer came (connection error, timeout).
    pub status: u16,
    /// Sent inside the measured window (not during the warm-up).
    pub measured: bool,
}

/// Event numbers are unique across modes, so a late delivery from one run can never be mistaken
/// for an event of another.
pub struct Ids(AtomicU64);

impl Ids {
    pub fn new() -> Self {
        Self(AtomicU64::new(1))
    }
}

pub fn client(connections: u32) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections as usize)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .context("building the HTTP client")
}

/// Runs the load from `start` until `start + warmup + duration` and returns every request.
pub async fn run(
    cfg: &LoadConfig,
    client: &reqwest::Client,
    clock: Clock,
    ids: &Arc<Ids>,
    start: Instant,
) -> Vec<Sent> {
    let measure_from = start + cfg.warmup;
    let end = measure_from + cfg.duration;
    let body = Bytes::from(vec![b'x'; cfg.size]);
    // Each connection's share of the rate, and a stagger so they do not fire in lockstep.
    let interval = cfg
        .rate
        .map(|r| Duration::from_secs_f64(f64::from(cfg.connections) / r));
    let budget = cfg.count.map(|n| Arc::new(AtomicU64::new(n)));
    let mut tasks = JoinSet::new();
    for n in 0..cfg.connections {
        let task = Task {
            target: cfg.target.clone(),
            client: client.clone(),
            body: body.clone(),
            ids: ids.clone(),
            clock,
            first: start
                + interval.map_or(Duration::ZERO, |iv| {
                    iv.mul_f64(f64::from(n) / f64::from(cfg.connections))
                }),
            interval,
            measure_from,
            end,
            budget: budget.clone(),
        };
        tasks.spawn(task.run());
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(sent) => all.extend(sent),
            Err(e) => eprintln!("herald-bench: a sender task failed: {e}"),
        }
    }
    all
}

struct Task {
    target: String,
    client: reqwest::Client,
    body: Bytes,
    ids: Arc<Ids>,
    clock: Clock,
    first: Instant,
    interval: Option<Duration>,
    measure_from: Instant,
    end: Instant,
    budget: Option<Arc<AtomicU64>>,
}

impl Task {
    async fn run(self) -> Vec<Sent> {
        let mut sent = Vec::with_capacity(64 * 1024);
        let mut k: u32 = 0;
        tokio::time::sleep_until(self.first.into()).await;
        loop {
            let origin = match self.interval {
                Some(iv) => {
                    let at = self.first + iv.mul_f64(f64::from(k));
                    k = k.saturating_add(1);
                    if at >= self.end {
                        break;
                    }
                    if Instant::now() < at {
                        // On time: the origin is when the timer actually fired, so tokio's 1 ms
                        // timer granularity is not charged to the server.
                        tokio::time::sleep_until(at.into()).await;
                        Instant::now()
                    } else {
                        // Late because the previous answer was slow: charge it from the schedule.
                        at
                    }
                }
                None => Instant::now(),
            };
            if origin >= self.end || !self.take_one() {
                break;
            }
            let id = self.ids.0.fetch_add(1, Ordering::Relaxed);
            let status = self.post(id, self.clock.unix_ns(origin)).await;
            let latency = origin.elapsed();
            sent.push(Sent {
                id,
                latency_ns: u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX),
                status,
                measured: origin >= self.measure_from,
            });
            if status == 0 {
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
        sent
    }

    /// One event off the budget, if there is one; false when it is spent.
    fn take_one(&self) -> bool {
        self.budget.as_ref().is_none_or(|b| {
            b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        })
    }

    async fn post(&self, id: u64, sent_ns: u64) -> u16 {
        let result = self
            .client
            .post(&self.target)
            .header("ce-specversion", "1.0")
            .header("ce-id", format!("{ID_PREFIX}{id}"))
            .header("ce-type", "bench.event")
            .header("ce-source", "/bench")
            .header(SENT_HEADER, sent_ns.to_string())
            .header("content-type", "application/octet-stream")
            .body(self.body.clone())
            .send()
            .await;
        match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                // Read the answer to the end so the connection goes back to the pool.
                let _ = resp.bytes().await;
                status
            }
            Err(_) => 0,
        }
    }
}
