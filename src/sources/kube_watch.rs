//! Live objects from the API server through kube's watcher and reflector: backoff, resume by
//! resourceVersion, a re-list after 410 Gone, reconnection after dropped streams. A snapshot is
//! published only once the first full list has arrived, and after every change.
//!
//! What a watch stores is small: [`watch_derived`] keeps only what a function makes of each
//! object (the record sources keep each Ingress's and Service's endpoints), and
//! [`watch_projected`] keeps a projection of each object, with `metadata.managedFields` and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation always dropped (external-dns
//! does the same since v0.21, PR #6240). See docs/performance.md §3.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Snapshot;

/// The annotation `kubectl apply` writes: a copy of the whole object as last applied.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what cfgeo never reads but every object carries: managedFields and kubectl's
/// last-applied copy of the object.
pub fn trim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// Watches the API server currently refuses (401/403), by kind, with its message. Process-wide,
/// like the watches themselves: readiness reads it, each watch keeps its own entry current.
static REFUSED: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// The kinds whose watch the API server refuses now, with the server's message (which names
/// the resource, the verb and the user).
pub fn refused_watches() -> Vec<(String, String)> {
    REFUSED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn set_refused(kind: &str, message: Option<String>) {
    let mut m = REFUSED.lock().unwrap_or_else(|e| e.into_inner());
    match message {
        Some(msg) => {
            m.insert(kind.to_string(), msg);
        }
        None => {
            m.remove(kind);
        }
    }
}

/// The API server's answer when it refused the request for lack of permission.
fn refusal(e: &watcher::Error) -> Option<String> {
    let status = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s,
        watcher::Error::WatchError(s) => s,
        _ => return None,
    };
    matches!(status.code, 401 | 403).then(|| status.message.clone())
}

/// Starts watching `api` with `config`; the receiver holds `None` until the first list is
/// complete.
pub fn watch_objects<K>(
    api: Api<K>,
    config: watcher::Config,
    shutdown: CancellationToken,
) -> watch::Receiver<Option<Snapshot<K>>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    watch_projected(api, config, |_: &mut K| {}, shutdown)
}

/// [`watch_objects`], with `project` applied to each object before it is stored (see
/// [`super::projection`]): what it drops is never held.
pub fn watch_projected<K>(
    api: Api<K>,
    config: watcher::Config,
    project: impl Fn(&mut K) + Send + Sync + 'static,
    shutdown: CancellationToken,
) -> watch::Receiver<Option<Snapshot<K>>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (tx, rx) = watch::channel(None);
    let kind = K::kind(&Default::default()).to_string();
    tokio::spawn(pump(
        (api, Default::default()),
        config,
        shutdown,
        tx,
        kind,
        project,
        |o: &Arc<K>| Some(o.clone()),
    ));
    rx
}

/// Starts watching `api`, keeping of each object only what `derive` makes of it (`None`
/// keeps nothing); the object itself is dropped as soon as it is read. The snapshot lists the
/// kept values in (namespace, name) order. It is published after the first full list and
/// whenever a kept value changes, but not for an event that leaves every kept value as it
/// was (a status write that moves no address, say).
pub fn watch_derived<K, T>(
    api: Api<K>,
    config: watcher::Config,
    derive: impl Fn(&K) -> Option<T> + Send + 'static,
    shutdown: CancellationToken,
) -> watch::Receiver<Option<Snapshot<T>>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
    T: PartialEq + Send + Sync + 'static,
{
    let (tx, rx) = watch::channel(None);
    let kind = K::kind(&Default::default()).to_string();
    tokio::spawn(async move {
        // One string per object, `namespace name`: sorts as (namespace, name), since a space
        // sorts before every character a namespace may hold.
        type Store<T> = BTreeMap<String, Arc<T>>;
        let key = |o: &K| {
            let m = o.meta();
            let (ns, name) = (m.namespace.as_deref(), m.name.as_deref());
            format!("{} {}", ns.unwrap_or_default(), name.unwrap_or_default())
        };
        let stream = watcher(api, config).default_backoff();
        futures::pin_mut!(stream);
        let mut store: Store<T> = BTreeMap::new();
        let mut relisting: Option<Store<T>> = None;
        let mut synced = false;
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                n = stream.next() => n,
            };
            let changed = match next {
                None => return,
                Some(Err(e)) => {
                    watch_failed(&kind, &e);
                    continue;
                }
                Some(Ok(ev)) => {
                    set_refused(&kind, None);
                    match ev {
                        watcher::Event::Init => {
                            relisting = Some(BTreeMap::new());
                            false
                        }
                        watcher::Event::InitApply(o) => {
                            if let (Some(r), Some(v)) = (relisting.as_mut(), derive(&o)) {
                                let k = key(&o);
                                // An unchanged value keeps its allocation.
                                let v = match store.get(&k) {
                                    Some(old) if **old == v => old.clone(),
                                    _ => Arc::new(v),
                                };
                                r.insert(k, v);
                            }
                            false
                        }
                        watcher::Event::InitDone => {
                            let fresh = relisting.take().unwrap_or_default();
                            let changed = !synced
                                || fresh.len() != store.len()
                                || fresh
                                    .iter()
                                    .zip(store.iter())
                                    .any(|((k1, v1), (k2, v2))| k1 != k2 || !Arc::ptr_eq(v1, v2));
                            store = fresh;
                            if !synced {
                                tracing::info!(kind = %kind, kept = store.len(), "initial list complete");
                            }
                            synced = true;
                            changed
                        }
                        watcher::Event::Apply(o) => {
                            let k = key(&o);
                            match derive(&o) {
                                Some(v) if store.get(&k).is_some_and(|old| **old == v) => false,
                                Some(v) => {
                                    store.insert(k, Arc::new(v));
                                    synced
                                }
                                None => store.remove(&k).is_some() && synced,
                            }
                        }
                        watcher::Event::Delete(o) => store.remove(&key(&o)).is_some() && synced,
                    }
                }
            };
            if changed {
                tx.send_replace(Some(Arc::new(store.values().cloned().collect())));
            }
        }
    });
    rx
}

/// Watches a kind that the server may serve under any of `versions` (Gateway API moved
/// TLSRoute, TCPRoute and UDPRoute from v1alpha2 to v1, and its standard channel serves only
/// v1): the first version the server answers for is watched, and each object is read into `K`,
/// whose fields are the same in every version.
pub fn watch_any_version<K>(
    client: kube::Client,
    namespace: Option<&str>,
    versions: &'static [&'static str],
    config: watcher::Config,
    keep: super::projection::Keep,
    shutdown: CancellationToken,
) -> watch::Receiver<Option<Snapshot<K>>>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (tx, rx) = watch::channel(None);
    let kind = K::kind(&()).to_string();
    let namespace = namespace.map(str::to_string);
    tokio::spawn(async move {
        let api_resource = |v: &str| kube::discovery::ApiResource {
            group: K::group(&()).to_string(),
            version: v.to_string(),
            api_version: format!("{}/{v}", K::group(&())),
            kind: K::kind(&()).to_string(),
            plural: K::plural(&()).to_string(),
        };
        let api_for = |v: &str| {
            let ar = api_resource(v);
            let api: Api<kube::api::DynamicObject> = match &namespace {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                None => Api::all_with(client.clone(), &ar),
            };
            api
        };
        let mut delay = std::time::Duration::from_secs(1);
        let chosen = 'pick: loop {
            for v in versions {
                let api = api_for(v);
                match api.list(&kube::api::ListParams::default().limit(1)).await {
                    Ok(_) => break 'pick (api, *v, api_resource(v)),
                    Err(kube::Error::Api(s)) if s.code == 404 => continue,
                    Err(kube::Error::Api(s)) if matches!(s.code, 401 | 403) => {
                        tracing::error!(kind = %kind, "Forbidden: {}", s.message);
                        set_refused(&kind, Some(s.message.clone()));
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(kind = %kind, version = v, error = %e, "probing the served version failed; retrying");
                        break;
                    }
                }
            }
            tracing::debug!(kind = %kind, versions = ?versions, "no version served yet; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(std::time::Duration::from_secs(30));
        };
        let (api, version, ar) = chosen;
        tracing::info!(kind = %kind, version, "watching");
        let k = kind.clone();
        pump(
            (api, ar),
            config,
            shutdown,
            tx,
            kind,
            move |o: &mut kube::api::DynamicObject| keep.metadata(&mut o.metadata),
            move |o: &Arc<kube::api::DynamicObject>| {
                let v = serde_json::to_value(o.as_ref()).ok()?;
                match serde_json::from_value::<K>(v) {
                    Ok(obj) => Some(Arc::new(obj)),
                    Err(e) => {
                        tracing::warn!(kind = %k, error = %e, "object skipped: it does not decode");
                        None
                    }
                }
            },
        )
        .await;
    });
    rx
}

/// Logs a failed watch request and keeps the refused-watch registry current.
fn watch_failed(kind: &str, e: &watcher::Error) {
    match refusal(e) {
        Some(msg) => {
            // Not ready until the permission is back; the watch keeps retrying.
            tracing::error!(kind = %kind, "Forbidden: {msg}; cfgeo is not ready until its ServiceAccount may list and watch this resource (see docs/operations.md for the RBAC each source needs)");
            set_refused(kind, Some(msg));
        }
        None => tracing::warn!(kind = %kind, error = %e, "watch error; kube's backoff retries"),
    }
}

/// Runs one watch until `shutdown`: publishes a snapshot (each stored object mapped by `map`)
/// after the first full list and after every change, and keeps the refused-watch registry
/// current for readiness.
async fn pump<K, T>(
    (api, dyntype): (Api<K>, K::DynamicType),
    config: watcher::Config,
    shutdown: CancellationToken,
    tx: watch::Sender<Option<Snapshot<T>>>,
    kind: String,
    project: impl Fn(&mut K) + Send + Sync + 'static,
    map: impl Fn(&Arc<K>) -> Option<Arc<T>>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let writer = reflector::store::Writer::new(dyntype);
    let reader = writer.as_reader();
    let stream = reflector(
        writer,
        watcher(api, config).default_backoff().modify(move |o| {
            trim(o);
            project(o);
        }),
    );
    futures::pin_mut!(stream);
    let mut synced = false;
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return,
            n = stream.next() => n,
        };
        match next {
            None => return,
            Some(Ok(ev)) => {
                set_refused(&kind, None);
                let publish = match ev {
                    watcher::Event::Init | watcher::Event::InitApply(_) => false,
                    watcher::Event::InitDone => {
                        if !synced {
                            tracing::info!(kind = %kind, objects = reader.len(), "initial list complete");
                        }
                        synced = true;
                        true
                    }
                    watcher::Event::Apply(_) | watcher::Event::Delete(_) => synced,
                };
                if publish {
                    let snap: Snapshot<T> =
                        Arc::new(reader.state().iter().filter_map(&map).collect());
                    tx.send_replace(Some(snap));
                }
            }
            Some(Err(e)) => watch_failed(&kind, &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::networking::v1::Ingress;

    use super::*;

    #[test]
    fn trim_drops_managed_fields_and_last_applied_only() {
        let mut ing: Ingress = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "web",
                "labels": {"app": "web"},
                "annotations": {
                    LAST_APPLIED: "{\"kind\":\"Ingress\"}\n",
                    "external-dns.alpha.kubernetes.io/hostname": "web.example.com",
                },
                "managedFields": [{"manager": "kubectl", "operation": "Update"}],
            },
            "spec": {"rules": [{"host": "web.example.com"}]},
        }))
        .unwrap();
        let mut expected = ing.clone();
        trim(&mut ing);
        assert_eq!(ing.metadata.managed_fields, None);
        expected.metadata.managed_fields = None;
        expected
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove(LAST_APPLIED);
        assert_eq!(ing, expected);
        assert_eq!(
            ing.metadata.annotations.unwrap().len(),
            1,
            "other annotations are kept"
        );
    }
}
