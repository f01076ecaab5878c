//! Facts about the cluster itself: the kube-system namespace's UID, a stable and unique
//! default owner id per cluster.

use k8s_openapi::api::core::v1::Namespace;

/// Why the kube-system UID cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The namespace cannot be read (the cause follows as `source`).
    #[error("reading namespace kube-system for the default owner id (set CFGEO_OWNER_ID to skip)")]
    Read(#[source] kube::Error),
    /// The namespace came back without a UID.
    #[error("namespace kube-system has no uid; set CFGEO_OWNER_ID")]
    NoUid,
}

/// The UID of the kube-system namespace.
pub async fn kube_system_uid(client: kube::Client) -> Result<String, ClusterError> {
    let api = kube::Api::<Namespace>::all(client);
    let ns = api.get("kube-system").await.map_err(ClusterError::Read)?;
    ns.metadata.uid.ok_or(ClusterError::NoUid)
}
