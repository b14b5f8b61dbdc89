//! Cold start and idle memory: `herald serve` on an empty data directory, timed from spawn until
//! the API's `/readyz` and the ingress answer, then left idle for a second before its RSS is read.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::herald::{Herald, Launch};
use crate::procfs;

/// How long `herald serve` idles before its RSS counts as the idle RSS.
const IDLE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Startup {
    /// Spawn to ready, one per start, in order.
    pub ready: Vec<Duration>,
    /// `VmRSS` after the last start idled for [`IDLE`].
    pub idle_rss_kib: u64,
}

impl Startup {
    pub fn median(&self) -> Duration {
        let mut v = self.ready.clone();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or_default()
    }
}

pub async fn measure(
    launch: &Launch,
    parent: &Path,
    starts: u32,
    client: &reqwest::Client,
) -> Result<Startup> {
    let mut ready = Vec::new();
    let mut idle_rss_kib = 0;
    for i in 0..starts {
        let t = Instant::now();
        let h = tokio::task::block_in_place(|| Herald::start(launch, parent))?;
        h.wait_ready(client, false).await?;
        ready.push(t.elapsed());
        if i + 1 == starts {
            tokio::time::sleep(IDLE).await;
            idle_rss_kib = procfs::rss_kib(&h.pid).unwrap_or(0);
        }
        h.stop().await?;
    }
    Ok(Startup {
        ready,
        idle_rss_kib,
    })
}
