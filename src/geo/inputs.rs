//! The geo engine's Ingresses: the --manifests files or the labelled Ingresses of the cluster,
//! watched (a run) or listed once (`--once`, `plan`, the owner-id lookup). Mirrors
//! [`crate::records::inputs`]; the wiring always passes one of the two sources.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::sources::manifests::{self, ManifestError};
use crate::sources::selector::{LabelSelector, SelectorError};
use crate::sources::{Snapshot, kube_watch};

/// The geo engine's Ingress channel; `None` inside until the first list is complete.
pub type Rx = watch::Receiver<Option<Snapshot<Ingress>>>;

/// Why the Ingresses cannot be read. Each variant is its cause's own text, unchanged.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// LABEL_SELECTOR does not parse.
    #[error(transparent)]
    Selector(SelectorError),
    /// A manifest file cannot be read or parsed.
    #[error(transparent)]
    Manifest(ManifestError),
    /// The API server refused or failed the list.
    #[error(transparent)]
    Kube(kube::Error),
}

impl From<SelectorError> for InputError {
    fn from(e: SelectorError) -> Self {
        Self::Selector(e)
    }
}

impl From<ManifestError> for InputError {
    fn from(e: ManifestError) -> Self {
        Self::Manifest(e)
    }
}

impl From<kube::Error> for InputError {
    fn from(e: kube::Error) -> Self {
        Self::Kube(e)
    }
}

/// Watches the Ingresses `selector` selects: the files under `manifests`, read again every
/// `resync`, else the cluster's, each cut to what the geo engine reads.
pub fn watch(
    manifests: Option<&Path>,
    client: Option<&kube::Client>,
    selector: &str,
    resync: Duration,
    shutdown: CancellationToken,
) -> Result<Rx, InputError> {
    Ok(match (manifests, client) {
        (Some(dir), _) => manifests::watch_files::<Ingress>(
            dir.to_path_buf(),
            LabelSelector::parse(selector)?,
            resync,
            shutdown,
        )?,
        (None, Some(k)) => {
            let keep = crate::geo::settings::watch_keep(&LabelSelector::parse(selector)?);
            kube_watch::watch_projected(
                kube::Api::<Ingress>::all(k.clone()),
                watcher::Config::default().labels(selector),
                move |o: &mut Ingress| crate::sources::projection::ingress(o, &keep),
                shutdown,
            )
        }
        (None, None) => unreachable!("a source is always set"),
    })
}

/// The Ingresses `selector` selects, read once: from the files under `manifests`, else one
/// list of the cluster's.
pub async fn snapshot(
    manifests: Option<&Path>,
    client: Option<&kube::Client>,
    selector: &str,
) -> Result<Snapshot<Ingress>, InputError> {
    Ok(match (manifests, client) {
        (Some(dir), _) => manifests::load::<Ingress>(dir, Some(&LabelSelector::parse(selector)?))?,
        (None, Some(k)) => {
            let api = kube::Api::<Ingress>::all(k.clone());
            let list = api
                .list(&kube::api::ListParams::default().labels(selector))
                .await?;
            Arc::new(list.items.into_iter().map(Arc::new).collect())
        }
        (None, None) => unreachable!("a source is always set"),
    })
}
