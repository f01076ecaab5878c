//! What a projected watch (the geo engine's Ingresses, Gateways, routes, DNSEndpoints) keeps of
//! each object before it is stored: the labels a selector can read, the annotations a source or
//! filter can read, and the spec and status fields that are used. Everything else (other labels
//! and annotations, Ingress paths and backends, conditions) is dropped. The record
//! synchronizer's Ingress and Service watches keep endpoints instead (`watch_derived`).
//! docs/performance.md §3 measures the effect; docs/annotations.md lists what a filter can
//! still see.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::{
    Ingress, IngressLoadBalancerIngress, IngressRule, IngressSpec, IngressStatus, IngressTLS,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The labels and annotations a watch keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keep {
    /// Label keys some selector reads; `None` keeps every label.
    labels: Option<BTreeSet<String>>,
    /// Annotations whose key starts with one of these are kept.
    annotation_prefixes: Vec<String>,
    /// Annotations with exactly these keys are kept.
    annotation_keys: BTreeSet<String>,
}

impl Keep {
    /// Keeps every label and annotation (only the spec and status are projected).
    pub fn everything() -> Self {
        Self {
            labels: None,
            annotation_prefixes: vec![String::new()],
            annotation_keys: BTreeSet::new(),
        }
    }

    /// Keeps no label and no annotation until some are added.
    pub fn nothing() -> Self {
        Self {
            labels: Some(BTreeSet::new()),
            ..Self::default()
        }
    }

    /// Also keeps these label keys.
    pub fn labels<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if let Some(l) = self.labels.as_mut() {
            l.extend(keys.into_iter().map(Into::into));
        }
        self
    }

    /// Also keeps annotations under this prefix.
    pub fn annotation_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.annotation_prefixes.push(prefix.into());
        self
    }

    /// Also keeps these annotation keys.
    pub fn annotations<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.annotation_keys
            .extend(keys.into_iter().map(Into::into));
        self
    }

    fn keeps_annotation(&self, key: &str) -> bool {
        self.annotation_keys.contains(key)
            || self.annotation_prefixes.iter().any(|p| key.starts_with(p))
    }

    /// Keeps identity (name, namespace, uid, resourceVersion, generation, deletion time) and
    /// the selected labels and annotations; drops the rest of the metadata.
    pub fn metadata(&self, meta: &mut ObjectMeta) {
        let labels = meta.labels.take().map(|l| match &self.labels {
            None => l,
            Some(keep) => l.into_iter().filter(|(k, _)| keep.contains(k)).collect(),
        });
        let annotations = meta.annotations.take().map(|a| {
            a.into_iter()
                .filter(|(k, _)| self.keeps_annotation(k))
                .collect::<BTreeMap<_, _>>()
        });
        *meta = ObjectMeta {
            name: meta.name.take(),
            namespace: meta.namespace.take(),
            uid: meta.uid.take(),
            resource_version: meta.resource_version.take(),
            generation: meta.generation.take(),
            deletion_timestamp: meta.deletion_timestamp.take(),
            labels: labels.filter(|l| !l.is_empty()),
            annotations: annotations.filter(|a| !a.is_empty()),
            ..ObjectMeta::default()
        };
    }
}

/// An Ingress as the sources read it: class, rule and TLS hosts, and load balancer addresses.
pub fn ingress(ing: &mut Ingress, keep: &Keep) {
    keep.metadata(&mut ing.metadata);
    ing.spec = ing.spec.take().map(|s| IngressSpec {
        ingress_class_name: s.ingress_class_name,
        rules: s.rules.map(|rules| {
            rules
                .into_iter()
                .map(|r| IngressRule {
                    host: r.host,
                    http: None,
                })
                .collect()
        }),
        tls: s.tls.map(|tls| {
            tls.into_iter()
                .map(|t| IngressTLS {
                    hosts: t.hosts,
                    secret_name: None,
                })
                .collect()
        }),
        default_backend: None,
    });
    ing.status = ing.status.take().map(|st| IngressStatus {
        load_balancer: st.load_balancer.map(|lb| {
            k8s_openapi::api::networking::v1::IngressLoadBalancerStatus {
                ingress: lb.ingress.map(|v| {
                    v.into_iter()
                        .map(|e| IngressLoadBalancerIngress {
                            ip: e.ip,
                            hostname: e.hostname,
                            ports: None,
                        })
                        .collect()
                }),
            }
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ing() -> Ingress {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "7",
                "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
                "finalizers": ["x"], "ownerReferences": [{"apiVersion": "v1", "kind": "X",
                    "name": "o", "uid": "u0"}],
                "labels": {"app": "web", "helm.sh/chart": "web-1", "dns.external/geo-route": "true"},
                "annotations": {"external-dns.kubernetes.io/ttl": "60",
                    "external-dns.alpha.kubernetes.io/target": "t.example.net",
                    "kubernetes.io/ingress.class": "nginx",
                    "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                    "team": "a"}},
            "spec": {"ingressClassName": "nginx",
                "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
                "tls": [{"hosts": ["a.example.com"], "secretName": "s"}],
                "rules": [{"host": "a.example.com", "http": {"paths": [{"path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1",
                "ports": [{"port": 80, "protocol": "TCP"}]}]}}
        }))
        .unwrap()
    }

    #[test]
    fn ingress_keeps_what_the_sources_read() {
        let keep = Keep::nothing()
            .labels(["dns.external/geo-route"])
            .annotation_prefix("external-dns.kubernetes.io/")
            .annotation_prefix("external-dns.alpha.kubernetes.io/")
            .annotations(["kubernetes.io/ingress.class", "team"]);
        let mut i = ing();
        ingress(&mut i, &keep);
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "web", "namespace": "shop", "uid": "u1",
                    "resourceVersion": "7", "generation": 3,
                    "labels": {"dns.external/geo-route": "true"},
                    "annotations": {"external-dns.kubernetes.io/ttl": "60",
                        "external-dns.alpha.kubernetes.io/target": "t.example.net",
                        "kubernetes.io/ingress.class": "nginx", "team": "a"}},
                "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
                    "rules": [{"host": "a.example.com"}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}
            })
        );
    }

    #[test]
    fn everything_keeps_all_labels_and_annotations() {
        let mut i = ing();
        ingress(&mut i, &Keep::everything());
        let meta = &i.metadata;
        assert_eq!(meta.labels.as_ref().unwrap().len(), 3);
        assert_eq!(meta.annotations.as_ref().unwrap().len(), 5);
        assert!(meta.finalizers.is_none() && meta.owner_references.is_none());
    }

    #[test]
    fn nothing_leaves_no_empty_maps() {
        let mut i = ing();
        ingress(&mut i, &Keep::nothing());
        assert!(i.metadata.labels.is_none() && i.metadata.annotations.is_none());
    }
}
