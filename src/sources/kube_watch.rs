//! Live objects from the API server through kube's watcher and reflector: backoff, resume by
//! resourceVersion, a re-list after 410 Gone, reconnection after dropped streams. A snapshot is
//! published only once the first full list has arrived, and after every change.

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Snapshot;

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
    let (tx, rx) = watch::channel(None);
    let (reader, writer) = reflector::store::<K>();
    let kind = K::kind(&Default::default()).to_string();
    tokio::spawn(async move {
        let stream = reflector(writer, watcher(api, config).default_backoff());
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
                        let snap: Snapshot<K> = Arc::new(reader.state());
                        tx.send_replace(Some(snap));
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(kind = %kind, error = %e, "watch error; kube's backoff retries")
                }
            }
        }
    });
    rx
}
