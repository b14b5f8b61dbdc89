//! The rskafka client both KafkaSource and KafkaSink use: bounded retries inside the client, so
//! a request to a dead broker fails within seconds instead of hanging.

use std::time::Duration;

use rskafka::BackoffConfig;
use rskafka::client::{Client, ClientBuilder};

/// How long connecting (and a metadata request) may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Connects to one of `bootstrap` as `client_id`; the error is the client's message.
pub(super) async fn connect(bootstrap: &[String], client_id: &str) -> Result<Client, String> {
    let backoff = BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(Duration::from_secs(5)),
    };
    let build = ClientBuilder::new(bootstrap.to_vec())
        .client_id(client_id)
        .backoff_config(backoff)
        .build();
    match tokio::time::timeout(CONNECT_TIMEOUT, build).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("i/o timeout".into()),
    }
}
