//! The memory log honours the same trait contract, bounded instead of durable.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use herald_log::{ChannelLog, LogError, MemoryLog, MemoryLogOptions};

fn p(n: usize) -> Bytes {
    Bytes::from(vec![b'x'; n])
}

fn offsets(log: &MemoryLog, from: u64) -> Vec<u64> {
    log.read(from, 1000, 1 << 20)
        .unwrap()
        .iter()
        .map(|r| r.offset)
        .collect()
}

#[tokio::test]
async fn full_with_lagging_cursor_then_frees() {
    let log = MemoryLog::new(MemoryLogOptions {
        max_records: 4,
        max_bytes: 1000,
    });
    log.set_cursor("t", 0).unwrap();
    assert_eq!(log.append(vec![p(1), p(1), p(1)]).await.unwrap(), 0);
    assert_eq!(log.append(vec![p(1)]).await.unwrap(), 3);
    assert!(matches!(log.append(vec![p(1)]).await, Err(LogError::Full)));
    assert_eq!(
        offsets(&log, 0),
        [0, 1, 2, 3],
        "nothing a cursor needs is dropped"
    );

    log.set_cursor("t", 2).unwrap();
    assert_eq!(log.first(), 2);
    assert_eq!(log.append(vec![p(1), p(1)]).await.unwrap(), 4);
    assert_eq!(
        offsets(&log, 0),
        [2, 3, 4, 5],
        "reads below first start at first"
    );
    assert_eq!(log.head(), 6);
}

#[tokio::test]
async fn byte_bound_and_limits() {
    let log = MemoryLog::new(MemoryLogOptions {
        max_records: 100,
        max_bytes: 10,
    });
    log.set_cursor("t", 0).unwrap();
    let cases: Vec<(Vec<Bytes>, Result<u64, &str>)> = vec![
        (vec![], Ok(0)),
        (vec![p(11)], Err("too large")),
        (vec![p(6)], Ok(0)),
        (vec![p(5)], Err("full")),
        (vec![p(4)], Ok(1)),
        (vec![], Ok(2)),
    ];
    for (payloads, want) in cases {
        let got = log.append(payloads).await.map_err(|e| match e {
            LogError::Full => "full",
            LogError::TooLarge { .. } => "too large",
            _ => "other",
        });
        assert_eq!(got, want);
    }
    assert_eq!(log.read(0, 10, 1).unwrap().len(), 1, "at least one record");
    assert_eq!(log.read(0, 1, 100).unwrap().len(), 1);
    assert_eq!(log.stats().bytes, 10);
}

#[tokio::test]
async fn without_cursors_old_records_make_room() {
    let log = MemoryLog::new(MemoryLogOptions {
        max_records: 3,
        max_bytes: 1000,
    });
    let mut head = log.watch_head();
    for i in 0..10 {
        assert_eq!(log.append(vec![p(1)]).await.unwrap(), i);
    }
    assert!(head.has_changed().unwrap());
    assert_eq!(*head.borrow_and_update(), 10);
    assert_eq!(offsets(&log, 0), [7, 8, 9]);
    log.set_cursor("a", 8).unwrap();
    assert_eq!(log.cursors(), vec![("a".to_owned(), 8)]);
    assert_eq!(log.cursor("a").unwrap(), Some(8));
    assert_eq!(offsets(&log, 0), [8, 9]);
    log.remove_cursor("a").unwrap();
    assert_eq!(log.cursor("a").unwrap(), None);
    log.close().await.unwrap();
    assert!(matches!(
        log.append(vec![p(1)]).await,
        Err(LogError::Closed)
    ));
}
