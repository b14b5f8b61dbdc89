#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use herald_store::{Deleted, EventType, Rv, Store, StoreError, StoreOptions, Watch, WatchEvent};
use serde_json::{Value, json};

const BROKERS: &str = "eventing.knative.dev/brokers";
const TRIGGERS: &str = "eventing.knative.dev/triggers";
const NAMESPACES: &str = "core/namespaces";
const CONFIGMAPS: &str = "core/configmaps";

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    (dir, store)
}

fn obj(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
           "metadata": {"namespace": ns, "name": name}, "spec": {}})
}

fn meta<'a>(o: &'a Value, f: &str) -> &'a str {
    o["metadata"][f].as_str().unwrap_or("")
}

fn rv_of(o: &Value) -> Rv {
    meta(o, "resourceVersion").parse().unwrap()
}

fn uid_of(o: &Value) -> String {
    meta(o, "uid").to_string()
}

fn owned(ns: &str, name: &str, owner: &Value) -> Value {
    json!({"metadata": {"namespace": ns, "name": name,
        "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": meta(owner, "name"), "uid": uid_of(owner)}]}})
}

async fn next(w: &mut Watch) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .expect("watch event in time")
        .expect("watch still open")
}

#[test]
fn crud_and_revisions() {
    let (_d, s) = open();
    assert_eq!(s.current_rv(), 0);
    let a = s.create(BROKERS, obj("default", "a")).unwrap();
    assert_eq!(meta(&a, "resourceVersion"), "1");
    assert_eq!(meta(&a, "uid").len(), 36);
    let ts = meta(&a, "creationTimestamp");
    assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    let b = s.create(BROKERS, obj("default", "b")).unwrap();
    s.create(BROKERS, obj("another", "c")).unwrap();
    s.create(TRIGGERS, obj("default", "t")).unwrap();
    assert_eq!(rv_of(&b), 2);
    assert_eq!(s.current_rv(), 4);

    assert!(matches!(
        s.create(BROKERS, obj("default", "a")),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(s.get(BROKERS, "default", "a").unwrap().unwrap(), a);
    assert!(s.get(BROKERS, "default", "zz").unwrap().is_none());

    let (all, rv) = s.list(BROKERS, None).unwrap();
    assert_eq!(rv, 4);
    let names: Vec<_> = all.iter().map(|o| meta(o, "name").to_string()).collect();
    assert_eq!(names, ["c", "a", "b"], "sorted by namespace, name");
    let (def, _) = s.list(BROKERS, Some("default")).unwrap();
    assert_eq!(def.len(), 2);
    assert!(s.list(BROKERS, Some("none")).unwrap().0.is_empty());
    assert_eq!(s.list(TRIGGERS, None).unwrap().0.len(), 1);

    let mut a2 = a.clone();
    a2["spec"]["x"] = json!(1);
    a2["metadata"]["uid"] = json!("forged");
    let a2 = s.update(BROKERS, a2).unwrap();
    assert_eq!(rv_of(&a2), 5);
    assert_eq!(uid_of(&a2), uid_of(&a));
    assert_eq!(
        meta(&a2, "creationTimestamp"),
        meta(&a, "creationTimestamp")
    );
    assert_eq!(a2["spec"]["x"], 1);

    // A no-op update writes nothing.
    let same = s.update(BROKERS, a2.clone()).unwrap();
    assert_eq!(same, a2);
    assert_eq!(s.current_rv(), 5);

    assert!(matches!(
        s.update(BROKERS, obj("default", "missing")),
        Err(StoreError::NotFound { .. })
    ));

    match s.delete(BROKERS, "default", "a", None, None).unwrap() {
        Deleted::Gone(last) => assert_eq!(rv_of(&last), 6),
        other => panic!("{other:?}"),
    }
    assert!(s.get(BROKERS, "default", "a").unwrap().is_none());
    assert!(matches!(
        s.delete(BROKERS, "default", "a", None, None),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn conflicts_and_preconditions() {
    let (_d, s) = open();
    let a = s.create(BROKERS, obj("default", "a")).unwrap();
    let mut fresh = a.clone();
    fresh["spec"]["v"] = json!(1);
    s.update(BROKERS, fresh).unwrap();
    let mut stale = a.clone();
    stale["spec"]["v"] = json!(2);
    let err = s.update(BROKERS, stale.clone()).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("brokers.eventing.knative.dev \"a\"")
    );
    // Without a resourceVersion the update is unconditional.
    stale["metadata"]["resourceVersion"] = json!("");
    assert_eq!(s.update(BROKERS, stale).unwrap()["spec"]["v"], 2);

    assert!(matches!(
        s.delete(BROKERS, "default", "a", Some("other-uid"), None),
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.delete(BROKERS, "default", "a", None, Some("1")),
        Err(StoreError::Conflict { .. })
    ));
    let cur = s.get(BROKERS, "default", "a").unwrap().unwrap();
    assert!(matches!(
        s.delete(
            BROKERS,
            "default",
            "a",
            Some(&uid_of(&cur)),
            Some(meta(&cur, "resourceVersion"))
        ),
        Ok(Deleted::Gone(_))
    ));
}

#[test]
fn generate_name_and_invalid_input() {
    let (_d, s) = open();
    let o = s
        .create(
            BROKERS,
            json!({"metadata": {"namespace": "default", "generateName": "br-"}}),
        )
        .unwrap();
    let name = meta(&o, "name");
    assert_eq!(name.len(), 8);
    assert!(name.starts_with("br-"));
    assert!(
        name[3..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    assert!(s.get(BROKERS, "default", name).unwrap().is_some());

    match s.create(BROKERS, json!({"metadata": {"namespace": "default"}})) {
        Err(StoreError::Invalid(m)) => assert_eq!(m, "name or generateName is required"),
        other => panic!("{other:?}"),
    }
    for bad in [
        json!([1]),
        json!("x"),
        json!({"metadata": 3}),
        json!({"spec": {}}),
    ] {
        assert!(
            matches!(s.create(BROKERS, bad.clone()), Err(StoreError::Invalid(_))),
            "{bad}"
        );
        assert!(
            matches!(s.update(BROKERS, bad.clone()), Err(StoreError::Invalid(_))),
            "{bad}"
        );
    }
    assert_eq!(s.current_rv(), 1);
}

#[test]
fn finalizers_hold_deletion_until_removed() {
    let (_d, s) = open();
    let mut o = obj("default", "a");
    o["metadata"]["finalizers"] = json!(["herald.dev/x"]);
    let a = s.create(BROKERS, o).unwrap();

    let pending = match s.delete(BROKERS, "default", "a", None, None).unwrap() {
        Deleted::Pending(p) => p,
        other => panic!("{other:?}"),
    };
    assert!(!meta(&pending, "deletionTimestamp").is_empty());
    assert_eq!(pending["metadata"]["deletionGracePeriodSeconds"], 0);
    assert_eq!(rv_of(&pending), 2);
    // Deleting again changes nothing.
    assert!(matches!(
        s.delete(BROKERS, "default", "a", None, None),
        Ok(Deleted::Pending(_))
    ));
    assert_eq!(s.current_rv(), 2);

    // The deletionTimestamp cannot be removed by an update.
    let mut tamper = pending.clone();
    tamper["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("deletionTimestamp");
    tamper["spec"]["y"] = json!(true);
    let kept = s.update(BROKERS, tamper).unwrap();
    assert_eq!(
        meta(&kept, "deletionTimestamp"),
        meta(&pending, "deletionTimestamp")
    );
    assert_eq!(uid_of(&kept), uid_of(&a));

    // Removing the last finalizer completes the deletion.
    let mut done = kept.clone();
    done["metadata"]["finalizers"] = json!([]);
    let last = s.update(BROKERS, done).unwrap();
    assert_eq!(rv_of(&last), 4);
    assert!(s.get(BROKERS, "default", "a").unwrap().is_none());
    assert_eq!(s.current_rv(), 4);
}

#[test]
fn owner_references_cascade_two_levels() {
    let (_d, s) = open();
    let root = s.create(BROKERS, obj("default", "root")).unwrap();
    let child = s
        .create(TRIGGERS, owned("default", "child", &root))
        .unwrap();
    let grandchild = s
        .create(CONFIGMAPS, owned("default", "gc", &child))
        .unwrap();
    let mut held = owned("default", "held", &child);
    held["metadata"]["finalizers"] = json!(["f"]);
    let held = s.create(CONFIGMAPS, held).unwrap();
    let bystander = s.create(TRIGGERS, obj("default", "other")).unwrap();
    // Cluster-scoped dependents of a namespaced owner are collected too.
    s.create("rbac/clusterroles", owned("", "cr", &grandchild))
        .unwrap();

    let before = s.current_rv();
    assert!(matches!(
        s.delete(BROKERS, "default", "root", None, None),
        Ok(Deleted::Gone(_))
    ));
    assert!(s.get(TRIGGERS, "default", "child").unwrap().is_none());
    assert!(s.get(CONFIGMAPS, "default", "gc").unwrap().is_none());
    assert!(s.get("rbac/clusterroles", "", "cr").unwrap().is_none());
    let held_now = s.get(CONFIGMAPS, "default", "held").unwrap().unwrap();
    assert!(!meta(&held_now, "deletionTimestamp").is_empty());
    assert_eq!(uid_of(&held_now), uid_of(&held));
    assert!(s.get(TRIGGERS, "default", "other").unwrap().is_some());
    assert_eq!(uid_of(&bystander).len(), 36);
    // root, child, gc, cr deleted + held modified: one revision each.
    assert_eq!(s.current_rv(), before + 5);

    // An owner change drops the old dependency.
    let keep = s.create(BROKERS, obj("default", "keep")).unwrap();
    let mut dep = s.create(TRIGGERS, owned("default", "dep", &keep)).unwrap();
    dep["metadata"]["ownerReferences"] = json!([]);
    s.update(TRIGGERS, dep).unwrap();
    s.delete(BROKERS, "default", "keep", None, None).unwrap();
    assert!(s.get(TRIGGERS, "default", "dep").unwrap().is_some());
}

#[test]
fn owner_reference_cycle_terminates() {
    let (_d, s) = open();
    let a = s.create(BROKERS, obj("default", "a")).unwrap();
    let b = s.create(BROKERS, owned("default", "b", &a)).unwrap();
    let mut a2 = a.clone();
    a2["metadata"]["ownerReferences"] = json!([{"uid": uid_of(&b), "name": "b"}]);
    s.update(BROKERS, a2).unwrap();
    s.delete(BROKERS, "default", "a", None, None).unwrap();
    assert!(s.list(BROKERS, None).unwrap().0.is_empty());
}

#[tokio::test]
async fn namespace_cascade_with_terminating_phase() {
    let (_d, s) = open();
    s.create(NAMESPACES, json!({"metadata": {"name": "team"}}))
        .unwrap();
    s.create(NAMESPACES, json!({"metadata": {"name": "other"}}))
        .unwrap();
    s.create(BROKERS, obj("team", "b1")).unwrap();
    let mut f = obj("team", "held");
    f["metadata"]["finalizers"] = json!(["f"]);
    s.create(TRIGGERS, f).unwrap();
    s.create(BROKERS, obj("other", "b2")).unwrap();
    let mut w = s.watch(None, None, None).unwrap();

    let ns = match s.delete(NAMESPACES, "", "team", None, None).unwrap() {
        Deleted::Pending(ns) => ns,
        other => panic!("{other:?}"),
    };
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(!meta(&ns, "deletionTimestamp").is_empty());
    assert!(s.get(BROKERS, "team", "b1").unwrap().is_none());
    let held = s.get(TRIGGERS, "team", "held").unwrap().unwrap();
    assert!(!meta(&held, "deletionTimestamp").is_empty());
    assert!(s.get(BROKERS, "other", "b2").unwrap().is_some());

    // A writer cannot clear Terminating; such an update is a no-op.
    let mut cleared = ns.clone();
    cleared["status"] = json!({});
    assert_eq!(s.update(NAMESPACES, cleared).unwrap(), ns);

    // New content in a terminating namespace is refused.
    assert!(matches!(
        s.create(BROKERS, obj("team", "late")),
        Err(StoreError::Invalid(_))
    ));

    let evs: Vec<_> = [next(&mut w).await, next(&mut w).await, next(&mut w).await]
        .into_iter()
        .map(|e| (e.type_, e.name))
        .collect();
    assert_eq!(
        evs,
        [
            (EventType::Deleted, "b1".to_string()),
            (EventType::Modified, "held".to_string()),
            (EventType::Modified, "team".to_string())
        ]
    );

    // Releasing the last finalizer removes the object, then the namespace.
    let mut release = held.clone();
    release["metadata"]["finalizers"] = json!(null);
    s.update(TRIGGERS, release).unwrap();
    assert!(s.get(TRIGGERS, "team", "held").unwrap().is_none());
    assert!(s.get(NAMESPACES, "", "team").unwrap().is_none());
    let e1 = next(&mut w).await;
    let e2 = next(&mut w).await;
    assert_eq!((e1.type_, e1.name.as_str()), (EventType::Deleted, "held"));
    assert_eq!((e2.type_, e2.name.as_str()), (EventType::Deleted, "team"));
    assert_eq!(e2.rv, e1.rv + 1);

    // An empty namespace goes at once.
    assert!(matches!(
        s.delete(NAMESPACES, "", "other", None, None),
        Ok(Deleted::Gone(_))
    ));
    assert!(s.list(BROKERS, None).unwrap().0.is_empty());
}

#[test]
fn namespace_delete_with_pending_child_removed_by_delete() {
    // The namespace also finishes when its last object goes through delete() (no finalizers
    // left after an update elsewhere) and when deleted twice.
    let (_d, s) = open();
    s.create(NAMESPACES, json!({"metadata": {"name": "n"}}))
        .unwrap();
    let mut f = obj("n", "a");
    f["metadata"]["finalizers"] = json!(["f"]);
    s.create(BROKERS, f).unwrap();
    assert!(matches!(
        s.delete(NAMESPACES, "", "n", None, None),
        Ok(Deleted::Pending(_))
    ));
    assert!(matches!(
        s.delete(NAMESPACES, "", "n", None, None),
        Ok(Deleted::Pending(_))
    ));
    let mut a = s.get(BROKERS, "n", "a").unwrap().unwrap();
    a["metadata"]["finalizers"] = json!([]);
    s.update(BROKERS, a).unwrap();
    assert!(s.get(NAMESPACES, "", "n").unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_replays_without_gap_or_duplicate_under_concurrent_writes() {
    let (_d, s) = open();
    // More than one replay page (512) before the watches start.
    for i in 0..700 {
        s.create(BROKERS, obj("default", &format!("pre-{i}")))
            .unwrap();
    }
    let since = 10;
    let writer = {
        let s = s.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..300 {
                s.create(BROKERS, obj("default", &format!("live-{i}")))
                    .unwrap();
            }
        })
    };
    // Start watches while the writer runs, at different moments.
    let mut watches = Vec::new();
    for _ in 0..4 {
        watches.push(s.watch(None, None, Some(since)).unwrap());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    writer.await.unwrap();
    let total = s.current_rv();
    assert_eq!(total, 1000);
    for mut w in watches {
        let mut expect = since + 1;
        while expect <= total {
            let e = next(&mut w).await;
            assert_eq!(e.rv, expect, "no gap, no duplicate");
            assert_eq!(rv_of(&e.object), e.rv);
            assert_eq!(e.type_, EventType::Added);
            expect += 1;
        }
    }
}

#[tokio::test]
async fn watch_since_none_sees_only_future() {
    let (_d, s) = open();
    s.create(BROKERS, obj("default", "old")).unwrap();
    let mut w = s.watch(None, None, None).unwrap();
    s.create(BROKERS, obj("default", "new")).unwrap();
    let e = next(&mut w).await;
    assert_eq!(e.name, "new");
    assert_eq!(e.rv, 2);
    assert_eq!(w.rv(), 2);
}

#[tokio::test]
async fn watch_filters_by_resource_and_namespace() {
    let (_d, s) = open();
    s.create(BROKERS, obj("a", "b1")).unwrap();
    s.create(TRIGGERS, obj("a", "t1")).unwrap();
    s.create(BROKERS, obj("b", "b2")).unwrap();
    s.create(NAMESPACES, json!({"metadata": {"name": "a"}}))
        .unwrap();
    let mut by_res = s.watch(Some(BROKERS), None, Some(0)).unwrap();
    let mut by_ns = s.watch(None, Some("a"), Some(0)).unwrap();
    let mut both = s.watch(Some(BROKERS), Some("b"), Some(0)).unwrap();
    let mut cluster = s.watch(Some(NAMESPACES), Some(""), Some(0)).unwrap();
    s.create(BROKERS, obj("a", "b3")).unwrap();
    s.create(BROKERS, obj("b", "b4")).unwrap();

    async fn take(w: &mut Watch, n: usize) -> Vec<String> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(next(w).await.name);
        }
        v
    }
    assert_eq!(take(&mut by_res, 4).await, ["b1", "b2", "b3", "b4"]);
    assert_eq!(take(&mut by_ns, 3).await, ["b1", "t1", "b3"]);
    assert_eq!(take(&mut both, 2).await, ["b2", "b4"]);
    assert_eq!(take(&mut cluster, 1).await, ["a"]);
    // Nothing else arrives on the filtered watches.
    s.create(TRIGGERS, obj("c", "unrelated")).unwrap();
    for w in [&mut by_res, &mut by_ns, &mut both, &mut cluster] {
        assert!(
            tokio::time::timeout(Duration::from_millis(50), w.next())
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn watch_from_trimmed_history_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_with(
        dir.path(),
        StoreOptions {
            history_limit: 5,
            ..Default::default()
        },
    )
    .unwrap();
    for i in 0..20 {
        s.create(BROKERS, obj("default", &format!("o{i}"))).unwrap();
    }
    // History holds revisions 16..=20: watching from 15 works, from 14 is Gone.
    let mut w = s.watch(None, None, Some(15)).unwrap();
    assert_eq!(next(&mut w).await.rv, 16);
    match s.watch(None, None, Some(14)) {
        Err(StoreError::Gone { requested, oldest }) => assert_eq!((requested, oldest), (14, 15)),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(matches!(
        s.watch(None, None, Some(0)),
        Err(StoreError::Gone { .. })
    ));
    // The current revision (and beyond) never needs history.
    let mut w = s.watch(None, None, Some(20)).unwrap();
    let mut future = s.watch(None, None, Some(100)).unwrap();
    s.create(BROKERS, obj("default", "x")).unwrap();
    assert_eq!(next(&mut w).await.rv, 21);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), future.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn reopen_keeps_objects_revision_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let uid;
    {
        let s = Store::open(&path).unwrap();
        let a = s.create(BROKERS, obj("default", "a")).unwrap();
        uid = uid_of(&a);
        s.create(BROKERS, obj("default", "b")).unwrap();
        s.delete(BROKERS, "default", "b", None, None).unwrap();
        let mut w = s.watch(None, None, None).unwrap();
        drop(s);
        // Dropping the store ends its watches.
        assert!(w.next().await.is_none());
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.current_rv(), 3);
    assert_eq!(
        uid_of(&s.get(BROKERS, "default", "a").unwrap().unwrap()),
        uid
    );
    let mut w = s.watch(Some(BROKERS), None, Some(1)).unwrap();
    let e = next(&mut w).await;
    assert_eq!((e.type_, e.name.as_str(), e.rv), (EventType::Added, "b", 2));
    let e = next(&mut w).await;
    assert_eq!(
        (e.type_, e.name.as_str(), e.rv),
        (EventType::Deleted, "b", 3)
    );
    s.create(BROKERS, obj("default", "c")).unwrap();
    assert_eq!(next(&mut w).await.rv, 4);
}

#[test]
fn second_open_of_a_locked_database_fails_clearly() {
    let (d, _s) = open();
    match Store::open(&d.path().join("data")) {
        Err(StoreError::Storage(m)) => {
            assert!(m.contains("herald.redb") && m.contains("locked"), "{m}")
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[cfg(unix)]
#[test]
fn data_dir_and_file_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (d, _s) = open();
    let dir = d.path().join("data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("herald.redb")), 0o600);
}

#[tokio::test]
async fn lagging_watch_ends() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_with(
        dir.path(),
        StoreOptions {
            watch_buffer: 4,
            ..Default::default()
        },
    )
    .unwrap();
    let mut w = s.watch(None, None, None).unwrap();
    for i in 0..10 {
        s.create(BROKERS, obj("default", &format!("o{i}"))).unwrap();
    }
    assert!(w.next().await.is_none());
    // A replaying watch resubscribes per page, so a small buffer does not stop a replay.
    let mut w = s.watch(None, None, Some(0)).unwrap();
    let mut seen = HashSet::new();
    for _ in 0..10 {
        seen.insert(next(&mut w).await.rv);
    }
    assert_eq!(seen.len(), 10);
}

#[test]
fn store_and_watch_are_send_sync() {
    fn send_sync<T: Send + Sync + Clone + 'static>() {}
    fn send<T: Send + 'static>() {}
    send_sync::<Store>();
    send::<Watch>();
}

/// Child side of `acknowledged_writes_survive_kill_9`: writes until killed, printing each
/// acknowledged name.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("HERALD_STORE_CRASH_DIR") else {
        return;
    };
    use std::io::Write;
    let s = Store::open(std::path::Path::new(&dir)).unwrap();
    let mut out = std::io::stdout().lock();
    // Bounded, so a child whose parent died cannot run forever.
    for i in 0..20_000 {
        s.create(BROKERS, obj("default", &format!("o{i}"))).unwrap();
        writeln!(out, "ACK o{i}").unwrap();
        out.flush().unwrap();
    }
}

#[cfg(unix)]
#[test]
fn acknowledged_writes_survive_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("HERALD_STORE_CRASH_DIR", &data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    /// Kills the child even if an assertion below fails.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let mut child = Reap(child);
    let mut acked = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    while acked.len() < 200 {
        let line = lines.next().unwrap().unwrap();
        if let Some(name) = line.strip_prefix("ACK ") {
            acked.push(name.to_string());
        }
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let s = Store::open(&data).unwrap();
    for name in &acked {
        assert!(
            s.get(BROKERS, "default", name).unwrap().is_some(),
            "{name} lost"
        );
    }
    assert!(s.current_rv() >= 200);
    // History survived too: a watch from before the crash replays.
    assert!(s.watch(None, None, Some(100)).is_ok());
}
