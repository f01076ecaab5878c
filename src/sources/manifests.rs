//! Manifest files as a source: every `.yaml`, `.yml` and `.json` file under a directory,
//! multi-document, read as the objects a cluster would hold. This is how a GitOps user previews
//! a change and how cfgeo runs without a cluster.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Snapshot;
use super::selector::LabelSelector;

/// Errors reading manifests. Each names the file and document.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The directory or a file cannot be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        error: std::io::Error,
    },
    /// A file is not valid YAML or JSON.
    #[error("{path}: not valid YAML/JSON: {message}")]
    Parse {
        /// Path.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// An object of the right kind does not match the Kubernetes schema.
    #[error("{path}: document {index} ({kind} {name}): {message}")]
    Object {
        /// Path.
        path: PathBuf,
        /// 0-based document index.
        index: usize,
        /// Kind.
        kind: String,
        /// namespace/name.
        name: String,
        /// Decoder message naming the field.
        message: String,
    },
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let io = |error| ManifestError::Io {
        path: dir.to_path_buf(),
        error,
    };
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            files(&p, out)?;
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

/// Every document under `dir` (a file or a directory), flattening `List` kinds.
pub fn read_documents(dir: &Path) -> Result<Vec<(PathBuf, usize, Value)>, ManifestError> {
    let mut paths = Vec::new();
    files(dir, &mut paths)?;
    let mut out = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|error| ManifestError::Io {
            path: path.clone(),
            error,
        })?;
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&text).map_err(|e| ManifestError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
        for (i, d) in docs.into_iter().enumerate() {
            match d {
                Value::Null => {}
                Value::Object(ref m)
                    if m.get("kind")
                        .and_then(Value::as_str)
                        .is_some_and(|k| k.ends_with("List")) =>
                {
                    for item in m
                        .get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                    {
                        out.push((path.clone(), i, item));
                    }
                }
                d => out.push((path.clone(), i, d)),
            }
        }
    }
    Ok(out)
}

/// The objects of kind `K` under `dir` whose labels match `selector` (all when `None`).
/// Objects without a namespace get `default`, as `kubectl apply` would.
pub fn load<K>(dir: &Path, selector: Option<&LabelSelector>) -> Result<Snapshot<K>, ManifestError>
where
    K: k8s_openapi::Resource + DeserializeOwned,
{
    let mut out = Vec::new();
    for (path, index, mut doc) in read_documents(dir)? {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let api = doc
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if kind != K::KIND || api != K::API_VERSION {
            continue;
        }
        let meta = doc.get_mut("metadata").and_then(Value::as_object_mut);
        let name = meta
            .as_ref()
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        if let Some(m) = meta
            && !m.contains_key("namespace")
        {
            m.insert("namespace".into(), Value::String("default".into()));
        }
        let labels: std::collections::BTreeMap<String, String> = doc
            .pointer("/metadata/labels")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        if selector.is_some_and(|s| !s.matches(&labels)) {
            continue;
        }
        let obj: K = serde_json::from_value(doc).map_err(|e| ManifestError::Object {
            path: path.clone(),
            index,
            kind: kind.clone(),
            name: name.clone(),
            message: e.to_string(),
        })?;
        out.push(Arc::new(obj));
    }
    Ok(Arc::new(out))
}
/// Re-reads the manifests every period and publishes a snapshot when they change.
pub fn watch_files<K>(
    dir: PathBuf,
    sel: LabelSelector,
    period: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<tokio::sync::watch::Receiver<Option<Snapshot<K>>>, ManifestError>
where
    K: k8s_openapi::Resource + DeserializeOwned + PartialEq + Send + Sync + 'static,
{
    let first = load::<K>(&dir, Some(&sel))?;
    let (tx, rx) = tokio::sync::watch::channel(Some(first));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            match load::<K>(&dir, Some(&sel)) {
                Ok(s) => {
                    tx.send_if_modified(|cur| {
                        let changed = cur.as_ref().is_none_or(|c| **c != *s);
                        if changed {
                            *cur = Some(s.clone());
                        }
                        changed
                    });
                }
                // A broken file keeps the last good snapshot: nothing is removed by mistake.
                Err(e) => {
                    tracing::warn!(error = %e, "manifests unreadable; keeping the last good set")
                }
            }
        }
    });
    Ok(rx)
}
