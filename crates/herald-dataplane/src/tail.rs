//! `GET /_herald/tail/<ns>/<broker>`: follows a Broker's log from its head and streams each new
//! event as one line of CloudEvents JSON (what `herald tail` prints). Tailing reads the log
//! without a cursor, so it never holds events back.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, header};

use crate::admit::TTL_EXTENSION;
use crate::dataplane::DataPlane;
use crate::envelope::Envelope;
use crate::plan::BrokerKey;
use crate::router::{READ_BATCH, READ_BYTES};

pub async fn tail(dp: &DataPlane, key: BrokerKey) -> Response {
    let Some(broker) = dp.shared.broker(&key) else {
        return (
            StatusCode::NOT_FOUND,
            format!("broker {key} does not exist\n"),
        )
            .into_response();
    };
    let log = broker.log.clone();
    let shutdown = dp.shared.shutdown.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let mut head_rx = log.watch_head();
        let mut next = log.head();
        // An immediate empty line: the client knows it is attached before events flow.
        if tx.send(Ok(Bytes::from_static(b"\n"))).await.is_err() {
            return;
        }
        loop {
            let head = *head_rx.borrow_and_update();
            if next >= head {
                tokio::select! {
                    r = head_rx.changed() => if r.is_err() { return },
                    _ = tx.closed() => return,
                    _ = shutdown.cancelled() => return,
                }
                continue;
            }
            let records = match log.read(next, READ_BATCH, READ_BYTES) {
                Ok(r) if !r.is_empty() => r,
                Ok(_) => {
                    next = head;
                    continue;
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            for r in records {
                next = r.offset + 1;
                let Ok(env) = Envelope::decode(&r.payload) else {
                    continue;
                };
                let mut event = env.event;
                event.remove_extension(TTL_EXTENSION);
                let mut line = herald_ce::to_json(&event);
                line.push(b'\n');
                if tx.send(Ok(Bytes::from(line))).await.is_err() {
                    return;
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}
