//! The [`Store`] handle: opening the database and the CRUD operations.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use redb::{Database, DatabaseError, Durability, ReadableDatabase, ReadableTable};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::db::{self, HISTORY, META, META_RV, NS_INDEX, OBJECTS, OWNERS, Txn, storage};
use crate::obj::{self, NAMESPACES, qualified};
use crate::watch::Watch;
use crate::{Deleted, Rv, StoreError, WatchEvent};

/// The database file inside the data dir.
const DB_FILE: &str = "herald.redb";

/// Tuning knobs; [`Store::open`] uses the defaults.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How many events the persisted watch history keeps (Kubernetes keeps ~5 minutes of etcd
    /// history; a count is simpler and bounds the file). Older `since` revisions get `Gone`.
    pub history_limit: u64,
    /// Capacity of the live broadcast; a watch that falls this far behind is ended.
    pub watch_buffer: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            history_limit: 10_000,
            watch_buffer: 4096,
        }
    }
}

pub(crate) struct Inner {
    pub db: Database,
    /// Held across commit + broadcast so live events go out in revision order, which the
    /// watch's "skip what history already replayed" rule relies on.
    write_lock: Mutex<()>,
    pub current: AtomicU64,
    pub live: broadcast::Sender<WatchEvent>,
    opts: StoreOptions,
    path: PathBuf,
}

/// The object store. Cheap to clone (shared handle).
///
/// Calls are synchronous and short; a write waits for its fsync (immediate durability), so an
/// `Ok` means the change survives `kill -9`.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("rv", &self.current_rv())
            .finish()
    }
}

fn not_found(resource: &str, name: &str) -> StoreError {
    StoreError::NotFound {
        resource: qualified(resource),
        name: name.to_string(),
    }
}

fn conflict(resource: &str, name: &str) -> StoreError {
    StoreError::Conflict {
        resource: qualified(resource),
        name: name.to_string(),
    }
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| StoreError::Storage(format!("chmod {:o} {}: {e}", mode, p.display())))
}

#[cfg(not(unix))]
fn set_mode(_p: &Path, _mode: u32) -> Result<(), StoreError> {
    Ok(())
}

/// Creates the database file 0600 before redb opens it, so Secrets are never world-readable,
/// not even between creation and a later chmod.
fn precreate(path: &Path) -> Result<(), StoreError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Storage(format!(
            "creating {}: {e}",
            path.display()
        ))),
    }
}

impl Store {
    /// Opens (or creates) the store in `dir` (created with mode 0700; the database file is
    /// 0600 because it holds Secrets).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// [`Store::open`] with explicit options.
    pub fn open_with(dir: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Storage(format!("creating {}: {e}", dir.display())))?;
        set_mode(dir, 0o700)?;
        let path = dir.join(DB_FILE);
        precreate(&path)?;
        let db = Database::create(&path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::Storage(format!(
                "{}: the database is locked by another process (is another herald using this data dir?)",
                path.display()
            )),
            e => StoreError::Storage(format!("opening {}: {e}", path.display())),
        })?;
        set_mode(&path, 0o600)?;

        // Create every table up front so readers never meet a missing one.
        let w = db.begin_write().map_err(storage)?;
        let rv = {
            w.open_table(OBJECTS).map_err(storage)?;
            w.open_multimap_table(OWNERS).map_err(storage)?;
            w.open_table(NS_INDEX).map_err(storage)?;
            w.open_table(HISTORY).map_err(storage)?;
            let meta = w.open_table(META).map_err(storage)?;
            meta.get(META_RV)
                .map_err(storage)?
                .map(|g| g.value())
                .unwrap_or(0)
        };
        w.commit().map_err(storage)?;

        let (live, _) = broadcast::channel(opts.watch_buffer.max(1));
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                write_lock: Mutex::new(()),
                current: AtomicU64::new(rv),
                live,
                opts,
                path,
            }),
        })
    }

    /// The current global revision.
    pub fn current_rv(&self) -> Rv {
        self.inner.current.load(Ordering::SeqCst)
    }

    /// One object, or `None`.
    pub fn get(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, StoreError> {
        let r = self.inner.db.begin_read().map_err(storage)?;
        let t = r.open_table(OBJECTS).map_err(storage)?;
        match t.get((resource, namespace, name)).map_err(storage)? {
            Some(g) => Ok(Some(db::decode(g.value())?)),
            None => Ok(None),
        }
    }

    /// All objects of a resource, in one namespace or all (`None`), sorted by namespace then
    /// name, with the revision the list is consistent at.
    pub fn list(
        &self,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<(Vec<Value>, Rv), StoreError> {
        let r = self.inner.db.begin_read().map_err(storage)?;
        let rv = r
            .open_table(META)
            .map_err(storage)?
            .get(META_RV)
            .map_err(storage)?
            .map(|g| g.value())
            .unwrap_or(0);
        let t = r.open_table(OBJECTS).map_err(storage)?;
        let mut out = Vec::new();
        for e in t
            .range((resource, namespace.unwrap_or(""), "")..)
            .map_err(storage)?
        {
            let (k, v) = e.map_err(storage)?;
            let (kr, kns, _) = k.value();
            if kr != resource || namespace.is_some_and(|n| n != kns) {
                break;
            }
            out.push(db::decode(v.value())?);
        }
        Ok((out, rv))
    }

    /// Runs `f` in one write transaction; commits (immediate durability) and broadcasts its
    /// events if it changed anything.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let inner = &*self.inner;
        let _guard = inner
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut w = inner.db.begin_write().map_err(storage)?;
        w.set_durability(Durability::Immediate).map_err(storage)?;
        let (out, events, rv) = {
            let mut t = Txn::open(&w)?;
            let out = f(&mut t)?;
            if !t.events.is_empty() {
                t.finish(inner.opts.history_limit.max(1))?;
            }
            let events = std::mem::take(&mut t.events);
            (out, events, t.rv)
        };
        if events.is_empty() {
            w.abort().map_err(storage)?;
            return Ok(out);
        }
        w.commit().map_err(storage)?;
        inner.current.store(rv, Ordering::SeqCst);
        for ev in events {
            // No receivers is fine: nobody is watching.
            let _ = inner.live.send(ev);
        }
        Ok(out)
    }

    /// Creates an object. The store sets `metadata.uid`, `creationTimestamp` and
    /// `resourceVersion` (and generates `metadata.name` from `generateName` when needed);
    /// every other field is stored as given.
    pub fn create(&self, resource: &str, obj: Value) -> Result<Value, StoreError> {
        let mut obj = obj;
        let m = obj::meta(&obj)?;
        let ns = obj::str_field(m, "namespace").to_string();
        let given = obj::str_field(m, "name").to_string();
        let generate = obj::str_field(m, "generateName").to_string();
        if given.is_empty() && generate.is_empty() {
            return Err(StoreError::Invalid(
                "name or generateName is required".into(),
            ));
        }
        self.write(|t| {
            // The API server checks this too; here it is race-free against the namespace
            // cascade, which would otherwise leave the new object behind.
            if !ns.is_empty()
                && let Some(nso) = t.get(NAMESPACES, "", &ns)?
                && obj::is_deleting(&nso)
            {
                return Err(StoreError::Invalid(format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                )));
            }
            let name = if given.is_empty() {
                // Retry a few suffixes on collision, as Kubernetes does since 1.30.
                let mut found = None;
                for _ in 0..8 {
                    let candidate = format!("{generate}{}", obj::random_suffix());
                    if t.get(resource, &ns, &candidate)?.is_none() {
                        found = Some(candidate);
                        break;
                    }
                }
                found.ok_or_else(|| StoreError::AlreadyExists {
                    resource: qualified(resource),
                    name: generate.clone(),
                })?
            } else {
                if t.get(resource, &ns, &given)?.is_some() {
                    return Err(StoreError::AlreadyExists {
                        resource: qualified(resource),
                        name: given.clone(),
                    });
                }
                given.clone()
            };
            let m = obj::meta_mut(&mut obj)?;
            m.insert("name".into(), Value::String(name.clone()));
            m.insert(
                "uid".into(),
                Value::String(uuid::Uuid::new_v4().to_string()),
            );
            m.insert("creationTimestamp".into(), Value::String(obj::now()));
            // Deletion state is the store's, never the creator's.
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            t.put(resource, &ns, &name, std::mem::take(&mut obj), None)
        })
    }

    /// Replaces an object. If `metadata.resourceVersion` is set it must equal the stored one
    /// (else Conflict). `uid` and `creationTimestamp` are kept from the stored object. If the
    /// object has a `deletionTimestamp` and no finalizers left, it is deleted instead.
    ///
    /// `deletionTimestamp`/`deletionGracePeriodSeconds` are always the stored ones (read-only,
    /// as in Kubernetes). An update that changes nothing writes nothing and keeps the revision
    /// (like etcd3's GuaranteedUpdate), so status writers cannot loop on their own events.
    pub fn update(&self, resource: &str, obj: Value) -> Result<Value, StoreError> {
        let mut obj = obj;
        let m = obj::meta(&obj)?;
        let ns = obj::str_field(m, "namespace").to_string();
        let name = obj::str_field(m, "name").to_string();
        let want_rv = obj::str_field(m, "resourceVersion").to_string();
        if name.is_empty() {
            return Err(StoreError::Invalid("metadata.name is required".into()));
        }
        self.write(|t| {
            let old = t
                .get(resource, &ns, &name)?
                .ok_or_else(|| not_found(resource, &name))?;
            let old_rv = obj::obj_str(&old, "resourceVersion");
            if !want_rv.is_empty() && want_rv != old_rv {
                return Err(conflict(resource, &name));
            }
            let m = obj::meta_mut(&mut obj)?;
            m.insert("resourceVersion".into(), Value::String(old_rv.to_string()));
            for field in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                match old.get("metadata").and_then(|om| om.get(field)) {
                    Some(v) => m.insert(field.into(), v.clone()),
                    None => m.remove(field),
                };
            }
            if resource == NAMESPACES && obj::is_deleting(&obj) {
                // Terminating is the store's verdict, not the writer's.
                obj::set_terminating(&mut obj);
            }
            if obj == old {
                return Ok(old);
            }
            let obj = std::mem::take(&mut obj);
            if obj::is_deleting(&obj) && !obj::has_finalizers(&obj) {
                t.finish_deletion(resource, &ns, &name, obj, &old)
            } else {
                t.put(resource, &ns, &name, obj, Some(&old))
            }
        })
    }

    /// Deletes an object. With finalizers it only gets a `deletionTimestamp`. Deleting cascades:
    /// objects whose `ownerReferences` name the deleted uid are deleted too, and deleting a
    /// Namespace deletes everything in it (the namespace stays `Terminating` while objects
    /// with finalizers remain). `uid`/`rv` are optional preconditions.
    pub fn delete(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        uid: Option<&str>,
        rv: Option<&str>,
    ) -> Result<Deleted, StoreError> {
        self.write(|t| {
            let old = t
                .get(resource, namespace, name)?
                .ok_or_else(|| not_found(resource, name))?;
            if let Some(uid) = uid.filter(|u| !u.is_empty())
                && uid != obj::obj_str(&old, "uid")
            {
                return Err(conflict(resource, name));
            }
            if let Some(rv) = rv.filter(|r| !r.is_empty())
                && rv != obj::obj_str(&old, "resourceVersion")
            {
                return Err(conflict(resource, name));
            }
            t.delete(resource, namespace, name, old)
        })
    }

    /// Watches changes with revision > `since` (or only future changes for `None`), filtered
    /// by resource and namespace when given. `Gone` when `since` is older than the history.
    pub fn watch(
        &self,
        resource: Option<&str>,
        namespace: Option<&str>,
        since: Option<Rv>,
    ) -> Result<Watch, StoreError> {
        Watch::start(self, resource, namespace, since)
    }
}
