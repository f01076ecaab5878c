//! Kubernetes objects in: a live watch (kube's watcher and reflector) or manifest files, both
//! published as complete snapshots. Nothing downstream sees a half-listed cache.

pub mod cluster;
pub mod kube_watch;
pub mod manifests;
pub mod projection;
pub mod selector;

use std::sync::Arc;

/// A complete view of the selected objects of one kind.
pub type Snapshot<K> = Arc<Vec<Arc<K>>>;
