//! Black-box tests of the durable log, including on-disk damage.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use herald_log::{ChannelLog, LogError, Offset, SegmentLog, SegmentLogOptions};

const SEGMENT_HEADER: usize = 16;
const RECORD_HEADER: usize = 20;

fn small(segment_bytes: u64) -> SegmentLogOptions {
    SegmentLogOptions {
        segment_bytes,
        ..SegmentLogOptions::default()
    }
}

fn payload(i: u64) -> Bytes {
    Bytes::from(format!("event-{i:04}"))
}

fn read_all(log: &dyn ChannelLog) -> Vec<(Offset, Bytes)> {
    let mut out = Vec::new();
    let mut from = 0;
    loop {
        let batch = log.read(from, 7, 1 << 20).unwrap();
        let Some(last) = batch.last() else { return out };
        from = last.offset + 1;
        out.extend(batch.into_iter().map(|r| (r.offset, r.payload)));
    }
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

/// Byte positions of each record in a segment file (trusting the file is intact).
fn record_positions(file: &Path) -> Vec<usize> {
    let bytes = fs::read(file).unwrap();
    let mut pos = SEGMENT_HEADER;
    let mut out = Vec::new();
    while pos + RECORD_HEADER <= bytes.len() {
        out.push(pos);
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += RECORD_HEADER + len;
    }
    out
}

async fn fill(log: &SegmentLog, count: u64) {
    for i in 0..count {
        let at = log.append(vec![payload(i)]).await.unwrap();
        assert_eq!(at, i);
    }
}

async fn until(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn round_trip_across_rolls_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), small(200)).unwrap();
    log.set_cursor("hold", 0).unwrap();
    let mut head_rx = log.watch_head();
    assert_eq!((log.head(), log.first()), (0, 0));
    assert_eq!(log.append(vec![]).await.unwrap(), 0);

    let first = log.append((0..5).map(payload).collect()).await.unwrap();
    assert_eq!(first, 0);
    assert!(head_rx.has_changed().unwrap());
    assert_eq!(*head_rx.borrow_and_update(), 5);
    for i in 5..40 {
        assert_eq!(log.append(vec![payload(i)]).await.unwrap(), i);
    }
    let want: Vec<_> = (0..40).map(|i| (i, payload(i))).collect();
    assert_eq!(read_all(&*log), want);
    let stats = log.stats();
    assert!(stats.segments > 5, "{stats:?}");
    assert_eq!((stats.head, stats.appended), (40, 40));
    // Limits: at least one record even if it exceeds max_bytes; `from` mid-segment works.
    assert_eq!(log.read(17, 100, 1).unwrap().len(), 1);
    assert_eq!(
        log.read(17, 3, 1 << 20)
            .unwrap()
            .iter()
            .map(|r| r.offset)
            .collect::<Vec<_>>(),
        [17, 18, 19]
    );
    assert!(log.read(40, 10, 100).unwrap().is_empty());
    log.close().await.unwrap();
    assert!(matches!(
        log.append(vec![payload(0)]).await,
        Err(LogError::Closed)
    ));
    drop(log);

    let log = SegmentLog::open(dir.path(), small(200)).unwrap();
    assert_eq!(log.head(), 40);
    assert_eq!(read_all(&*log), want, "from disk after reopen");
    assert_eq!(log.append(vec![payload(40)]).await.unwrap(), 40);
    assert_eq!(log.stats().corrupt_records + log.stats().truncated_bytes, 0);
}

#[tokio::test]
async fn rejects_oversized_and_bounds_pending() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SegmentLogOptions {
        max_record_bytes: 10,
        ..SegmentLogOptions::default()
    };
    let log = SegmentLog::open(dir.path(), opts).unwrap();
    let err = log
        .append(vec![Bytes::from_static(b"ok"), Bytes::from(vec![0u8; 11])])
        .await;
    assert!(
        matches!(err, Err(LogError::TooLarge { size: 11, max: 10 })),
        "{err:?}"
    );
    assert_eq!(log.head(), 0, "nothing of a rejected batch is written");
    assert_eq!(
        log.append(vec![Bytes::new()]).await.unwrap(),
        0,
        "empty payloads are records too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_shares_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), SegmentLogOptions::default()).unwrap();
    let mut tasks = Vec::new();
    for t in 0..50u64 {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let appends: Vec<_> = (0..20)
                .map(|i| log.append(vec![payload(t * 100 + i)]))
                .collect();
            let mut offsets = Vec::new();
            for append in appends {
                offsets.push(append.await.unwrap());
            }
            offsets
        }));
    }
    let mut offsets = Vec::new();
    for task in tasks {
        let mine = task.await.unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "one task's appends keep their order"
        );
        offsets.extend(mine);
    }
    offsets.sort_unstable();
    assert_eq!(offsets, (0..1000).collect::<Vec<_>>());
    let stats = log.stats();
    assert_eq!(stats.appended, 1000);
    assert!(stats.fsyncs < stats.appended / 4, "{stats:?}");
}

#[tokio::test]
async fn torn_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), SegmentLogOptions::default()).unwrap();
    fill(&log, 10).await;
    log.close().await.unwrap();
    drop(log);
    let file = &segment_files(dir.path())[0];
    let len = fs::metadata(file).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .set_len(len - 5)
        .unwrap();

    let log = SegmentLog::open(dir.path(), SegmentLogOptions::default()).unwrap();
    assert_eq!(log.head(), 9);
    assert_eq!(
        read_all(&*log),
        (0..9).map(|i| (i, payload(i))).collect::<Vec<_>>()
    );
    let stats = log.stats();
    assert_eq!(
        stats.truncated_bytes,
        (RECORD_HEADER + payload(9).len() - 5) as u64
    );
    assert_eq!(log.append(vec![payload(99)]).await.unwrap(), 9);
    assert_eq!(log.read(9, 1, 100).unwrap()[0].payload, payload(99));
}

#[tokio::test]
async fn garbage_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), SegmentLogOptions::default()).unwrap();
    fill(&log, 10).await;
    log.close().await.unwrap();
    drop(log);
    let file = &segment_files(dir.path())[0];
    let mut bytes = fs::read(file).unwrap();
    let clean = bytes.len();
    bytes.extend((0..100u8).map(|b| b.wrapping_mul(37)));
    fs::write(file, bytes).unwrap();

    let log = SegmentLog::open(dir.path(), SegmentLogOptions::default()).unwrap();
    assert_eq!(log.stats().truncated_bytes, 100);
    assert_eq!(fs::metadata(file).unwrap().len(), clean as u64);
    assert_eq!(read_all(&*log).len(), 10);
    assert_eq!(log.append(vec![payload(10)]).await.unwrap(), 10);
}

#[tokio::test]
async fn corrupt_payload_in_middle_segment_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), small(200)).unwrap();
    log.set_cursor("hold", 0).unwrap();
    fill(&log, 30).await;
    log.close().await.unwrap();
    drop(log);
    let files = segment_files(dir.path());
    assert!(files.len() >= 3);
    let middle = &files[1];
    let base: Offset = middle
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let positions = record_positions(middle);
    let mut bytes = fs::read(middle).unwrap();
    bytes[positions[1] + RECORD_HEADER + 2] ^= 0x01;
    fs::write(middle, bytes).unwrap();

    let log = SegmentLog::open(dir.path(), small(200)).unwrap();
    let bad = base + 1;
    let want: Vec<_> = (0..30)
        .filter(|&i| i != bad)
        .map(|i| (i, payload(i)))
        .collect();
    assert_eq!(read_all(&*log), want);
    assert_eq!(read_all(&*log), want, "reading twice does not recount");
    let stats = log.stats();
    assert_eq!(
        (stats.corrupt_records, stats.truncated_bytes, stats.head),
        (1, 0, 30)
    );
}

#[tokio::test]
async fn broken_framing_in_middle_segment_keeps_what_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), small(200)).unwrap();
    log.set_cursor("hold", 0).unwrap();
    fill(&log, 30).await;
    log.close().await.unwrap();
    drop(log);
    let files = segment_files(dir.path());
    let middle = &files[1];
    let base: Offset = middle
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let next_base: Offset = files[2]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let positions = record_positions(middle);
    assert!(positions.len() >= 3);
    let mut bytes = fs::read(middle).unwrap();
    bytes[positions[2] + 5] ^= 0xff; // inside the offset field of the third record
    fs::write(middle, bytes).unwrap();

    let log = SegmentLog::open(dir.path(), small(200)).unwrap();
    let want: Vec<_> = (0..30)
        .filter(|&i| i < base + 2 || i >= next_base)
        .map(|i| (i, payload(i)))
        .collect();
    assert_eq!(read_all(&*log), want);
    assert_eq!(log.head(), 30);
    assert!(log.stats().truncated_bytes > 0);
}

#[tokio::test]
async fn cursors_persist_reload_and_survive_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), SegmentLogOptions::default()).unwrap();
    let odd = "trigger/../../etc ü \n uid";
    for n in 0..500 {
        log.set_cursor("t1", n).unwrap();
    }
    log.set_cursor(odd, 7).unwrap();
    log.set_cursor("gone", 3).unwrap();
    log.remove_cursor("gone").unwrap();
    assert_eq!(log.cursor("t1").unwrap(), Some(499));
    assert_eq!(log.cursor("gone").unwrap(), None);
    log.close().await.unwrap();
    assert!(matches!(log.set_cursor("t1", 1), Err(LogError::Closed)));
    drop(log);

    let log = SegmentLog::open(dir.path(), SegmentLogOptions::default()).unwrap();
    assert_eq!(
        log.cursors(),
        vec![("t1".to_owned(), 499), (odd.to_owned(), 7)]
    );
    // Persisted in the background without close.
    log.set_cursor("t2", 42).unwrap();
    let path = dir.path().join("cursors");
    until(|| fs::read(&path).unwrap().windows(2).any(|w| w == b"t2")).await;
    drop(log);

    let mut bytes = fs::read(&path).unwrap();
    bytes[12] ^= 0x40;
    fs::write(&path, bytes).unwrap();
    let log = SegmentLog::open(dir.path(), SegmentLogOptions::default()).unwrap();
    assert_eq!(
        log.cursor("t1").unwrap(),
        None,
        "corrupt cursor file reads as absent"
    );
    assert!(log.cursors().is_empty());
}

#[tokio::test]
async fn retention_follows_the_slowest_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), small(200)).unwrap();
    log.set_cursor("slow", 0).unwrap();
    log.set_cursor("fast", 0).unwrap();
    fill(&log, 40).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let before = log.stats();
    assert_eq!(before.first, 0, "a lagging cursor holds every segment");
    assert_eq!(before.segments as usize, segment_files(dir.path()).len());

    log.set_cursor("fast", 40).unwrap();
    log.set_cursor("slow", 20).unwrap();
    until(|| log.first() > 0).await;
    let first = log.first();
    assert!(first <= 20, "never past the slowest cursor: {first}");
    assert!(log.stats().segments < before.segments);
    // Files are deleted right after they leave the index.
    until(|| segment_files(dir.path()).len() as u64 == log.stats().segments).await;
    // Reads below first start at first.
    assert_eq!(log.read(0, 1, 100).unwrap()[0].offset, first);
    assert_eq!(read_all(&*log).len() as u64, 40 - first);

    log.remove_cursor("slow").unwrap();
    log.set_cursor("fast", 40).unwrap();
    until(|| log.stats().segments == 1).await;
    assert_eq!(
        log.read(0, 100, 1 << 20).unwrap().len() as u64,
        40 - log.first()
    );
    log.close().await.unwrap();
    drop(log);
    let log = SegmentLog::open(dir.path(), small(200)).unwrap();
    assert_eq!(
        log.head(),
        40,
        "offsets survive retention of everything but the active segment"
    );
}

#[tokio::test]
async fn no_cursors_means_closed_segments_go_on_roll() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), small(200)).unwrap();
    fill(&log, 40).await;
    let stats = log.stats();
    assert!(stats.segments <= 2, "{stats:?}");
    assert!(stats.first > 30, "{stats:?}");
}
