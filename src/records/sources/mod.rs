//! Record sources: Kubernetes objects to desired endpoints. Pure functions over snapshots.
//!
//! Each source follows external-dns's (v0.22) derivation of hostnames and targets; see
//! `shared/research/external-dns.md` §2.2–2.3. Problems with one object become notices naming
//! the object and the field; the object's other records and the other objects still come out.

mod crd;
mod gateway;
mod ingress;
mod service;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::cloudflare::types::RecordType;
use crate::model::{Notice, ObjectRef, Severity};
use crate::sources::selector::LabelSelector;

use super::annotations::{default_prefixes, parse_hostname, parse_target};
use super::endpoint::{CfProps, Endpoint, suitable_type, target_cmp};

pub use crd::from_dns_endpoints;
pub use gateway::from_routes;
#[cfg(test)]
pub use ingress::from_ingresses;
pub use ingress::ingress_output;
#[cfg(test)]
pub use service::from_services;
pub use service::{merge_services, service_output};

/// A record source (`--source`); each needs its own RBAC rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    /// Ingresses (hosts, TLS hosts and the hostname annotation).
    Ingress,
    /// Services of type LoadBalancer, ClusterIP (internal-hostname) and ExternalName.
    Service,
    /// Gateway API HTTPRoutes.
    GatewayHttproute,
    /// Gateway API GRPCRoutes.
    GatewayGrpcroute,
    /// Gateway API TLSRoutes.
    GatewayTlsroute,
    /// Gateway API TCPRoutes.
    GatewayTcproute,
    /// Gateway API UDPRoutes.
    GatewayUdproute,
    /// external-dns DNSEndpoint objects (externaldns.k8s.io/v1alpha1).
    Crd,
}

impl SourceKind {
    /// The flag value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Service => "service",
            Self::GatewayHttproute => "gateway-httproute",
            Self::GatewayGrpcroute => "gateway-grpcroute",
            Self::GatewayTlsroute => "gateway-tlsroute",
            Self::GatewayTcproute => "gateway-tcproute",
            Self::GatewayUdproute => "gateway-udproute",
            Self::Crd => "crd",
        }
    }

    /// True for the Gateway API route sources (which also watch Gateways).
    pub fn is_gateway(&self) -> bool {
        matches!(
            self,
            Self::GatewayHttproute
                | Self::GatewayGrpcroute
                | Self::GatewayTlsroute
                | Self::GatewayTcproute
                | Self::GatewayUdproute
        )
    }
}

/// What the sources select and how they read annotations.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Annotation prefixes, lowest priority first (default: alpha, then current).
    pub annotation_prefixes: Vec<String>,
    /// `--label-filter` (objects).
    pub label_filter: Option<LabelSelector>,
    /// `--annotation-filter`: selector syntax over annotations.
    pub annotation_filter: Option<LabelSelector>,
    /// `--namespace` (`None` = all).
    pub namespace: Option<String>,
    /// `--ingress-class` (empty = any).
    pub ingress_classes: Vec<String>,
    /// `--gateway-label-filter` (Gateways).
    pub gateway_label_filter: Option<LabelSelector>,
    /// Ingresses matching this belong to the geo engine and are never record sources.
    pub geo_selector: Option<LabelSelector>,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            annotation_prefixes: default_prefixes(),
            label_filter: None,
            annotation_filter: None,
            namespace: None,
            ingress_classes: Vec::new(),
            gateway_label_filter: None,
            geo_selector: None,
        }
    }
}

impl SourceSettings {
    /// What the record watches keep of each object: the labels the label, geo and Gateway
    /// filters read, and the annotations under the annotation prefixes, the keys the annotation
    /// filter reads, and the legacy Ingress class annotation.
    pub fn keep(&self) -> crate::sources::projection::Keep {
        let selectors = [
            &self.label_filter,
            &self.geo_selector,
            &self.gateway_label_filter,
        ];
        let mut keep = crate::sources::projection::Keep::nothing()
            .labels(selectors.into_iter().flatten().flat_map(|s| s.keys()))
            .annotations([crate::records::annotations::INGRESS_CLASS_ANNOTATION])
            .annotations(self.annotation_filter.iter().flat_map(|s| s.keys()));
        for p in &self.annotation_prefixes {
            keep = keep.annotation_prefix(p.clone());
        }
        keep
    }
}

/// One object's share of the desired state: what a record watch keeps of each object instead
/// of the object itself, derived once when the object arrives (docs/performance.md §3).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectOutput {
    /// Its endpoints (shared with the desired state of each pass, never copied). Boxed slices:
    /// kept for as long as the object is watched, they never grow.
    pub endpoints: Box<[Arc<Endpoint>]>,
    /// Its notices.
    pub notices: Box<[Notice]>,
}

impl ObjectOutput {
    /// True when the object contributes nothing (it need not be kept).
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty() && self.notices.is_empty()
    }
}

impl From<SourceOutput> for ObjectOutput {
    fn from(o: SourceOutput) -> Self {
        // Collected into a fresh buffer: `collect` would reuse the source's, sized for
        // endpoints rather than pointers, and keep it for as long as the object is watched.
        let mut endpoints = Vec::with_capacity(o.endpoints.len());
        endpoints.extend(o.endpoints.into_iter().map(Arc::new));
        Self {
            endpoints: endpoints.into_boxed_slice(),
            notices: o.notices.into_boxed_slice(),
        }
    }
}

/// Desired endpoints and what to tell object owners.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceOutput {
    /// Sorted by name, type, resource.
    pub endpoints: Vec<Endpoint>,
    /// Notices, grouped by object.
    pub notices: Vec<Notice>,
}

impl SourceOutput {
    /// Appends another source's output, keeping the order deterministic.
    pub fn merge(&mut self, other: SourceOutput) {
        self.endpoints.extend(other.endpoints);
        self.notices.extend(other.notices);
        self.finish();
    }

    fn finish(&mut self) {
        self.endpoints.sort_by(|a, b| {
            (a.name.as_str(), a.record_type.as_str(), &*a.resource)
                .cmp(&(b.name.as_str(), b.record_type.as_str(), &*b.resource))
                .then_with(|| a.targets.cmp(&b.targets))
        });
        // Stable: within one object, notices keep the order they were found in.
        self.notices.sort_by(|a, b| a.object.cmp(&b.object));
        self.notices.dedup();
    }
}

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

fn labels(meta: &ObjectMeta) -> &BTreeMap<String, String> {
    meta.labels.as_ref().unwrap_or(&EMPTY)
}

fn annotations(meta: &ObjectMeta) -> &BTreeMap<String, String> {
    meta.annotations.as_ref().unwrap_or(&EMPTY)
}

fn object_ref<K>(k: &K) -> ObjectRef
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let m = k.metadata();
    ObjectRef {
        kind: K::KIND.to_string(),
        namespace: m.namespace.clone().unwrap_or_default(),
        name: m.name.clone().unwrap_or_default(),
        uid: m.uid.clone(),
    }
}

/// external-dns's `resource` label: `<kind>/<ns>/<name>`.
fn resource_label(kind: &str, obj: &ObjectRef) -> String {
    format!("{kind}/{}/{}", obj.namespace, obj.name)
}

/// `--namespace`, `--label-filter` and `--annotation-filter`.
fn selected(meta: &ObjectMeta, s: &SourceSettings) -> bool {
    s.namespace
        .as_deref()
        .is_none_or(|ns| meta.namespace.as_deref() == Some(ns))
        && s.label_filter
            .as_ref()
            .is_none_or(|f| f.matches(labels(meta)))
        && s.annotation_filter
            .as_ref()
            .is_none_or(|f| f.matches(annotations(meta)))
}

/// Objects by namespace and name, so output and notices do not depend on cache order.
fn sorted<K>(items: &[Arc<K>]) -> Vec<&K>
where
    K: k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let mut v: Vec<&K> = items.iter().map(Arc::as_ref).collect();
    v.sort_by(|a, b| {
        let (a, b) = (a.metadata(), b.metadata());
        (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name))
    });
    v
}

fn warn(obj: &ObjectRef, reason: &str, message: String) -> Notice {
    Notice {
        object: obj.clone(),
        severity: Severity::Warning,
        reason: reason.into(),
        message,
    }
}

/// A record name from a spec field, or a notice naming the field.
fn valid_host(
    field: &str,
    raw: &str,
    obj: &ObjectRef,
    notices: &mut Vec<Notice>,
) -> Option<String> {
    match parse_hostname(field, raw) {
        Ok(h) => Some(h),
        Err(e) => {
            notices.push(warn(
                obj,
                "InvalidHostname",
                format!("{obj}: {e}; this name is skipped"),
            ));
            None
        }
    }
}

/// A target from a spec or status field, or a notice naming the field.
fn valid_target(
    field: &str,
    raw: &str,
    obj: &ObjectRef,
    notices: &mut Vec<Notice>,
) -> Option<String> {
    match parse_target(field, raw) {
        Ok(t) => Some(t),
        Err(e) => {
            notices.push(warn(
                obj,
                "InvalidTarget",
                format!("{obj}: {e}; this target is skipped"),
            ));
            None
        }
    }
}

/// A field that must hold an IP address (`status...ip`, `spec.externalIPs`, `spec.clusterIPs`):
/// anything else is refused with a notice, never turned into a CNAME.
fn valid_ip(field: &str, raw: &str, obj: &ObjectRef, notices: &mut Vec<Notice>) -> Option<String> {
    match raw.trim().parse::<std::net::IpAddr>() {
        Ok(ip) => Some(ip.to_string()),
        Err(_) => {
            notices.push(warn(
                obj,
                "InvalidTarget",
                format!("{obj}: {field}: {raw:?} is not an IP address; this target is skipped"),
            ));
            None
        }
    }
}

/// The targets in `status.loadBalancer.ingress` (Ingress and Service alike), given as each
/// entry's (ip, hostname): an `ip` must be an IP address, a `hostname` becomes a CNAME target.
fn lb_targets<'e>(
    entries: impl Iterator<Item = (Option<&'e str>, Option<&'e str>)>,
    obj: &ObjectRef,
    notices: &mut Vec<Notice>,
) -> Vec<String> {
    let mut t = Vec::new();
    for (i, (ip, hostname)) in entries.enumerate() {
        if let Some(ip) = ip.filter(|v| !v.is_empty()) {
            let field = format!("status.loadBalancer.ingress[{i}].ip");
            t.extend(valid_ip(&field, ip, obj, notices));
        }
        if let Some(h) = hostname.filter(|v| !v.is_empty()) {
            let field = format!("status.loadBalancer.ingress[{i}].hostname");
            t.extend(valid_target(&field, h, obj, notices));
        }
    }
    t
}

/// One object's endpoints, one per (name, type), as external-dns's `EndpointsForHostname`.
struct ObjectRecords {
    kind: &'static str,
    uid: Option<Box<str>>,
    resource: Box<str>,
    ttl: Option<u32>,
    props: CfProps,
    map: BTreeMap<(String, RecordType), Endpoint>,
}

impl ObjectRecords {
    /// The records of `obj`, a `K`, whose `resource` label starts with `label` (`ingress`...).
    fn new<K: k8s_openapi::Resource>(
        label: &str,
        obj: &ObjectRef,
        ttl: Option<u32>,
        props: CfProps,
    ) -> Self {
        Self {
            kind: K::KIND,
            uid: obj.uid.as_deref().map(Into::into),
            resource: resource_label(label, obj).into(),
            ttl,
            props,
            map: BTreeMap::new(),
        }
    }

    /// `host` → `targets`, grouped by the type each target calls for.
    fn add(&mut self, host: &str, targets: &[String]) {
        for t in targets {
            self.add_typed(host, suitable_type(t), std::slice::from_ref(t));
        }
    }

    fn add_typed(&mut self, host: &str, rt: RecordType, targets: &[String]) {
        let ep = self
            .map
            .entry((host.to_string(), rt.clone()))
            .or_insert_with(|| Endpoint {
                name: host.to_string(),
                record_type: rt,
                targets: Vec::new(),
                ttl: self.ttl,
                props: self.props.clone(),
                resource: self.resource.clone(),
                kind: self.kind,
                uid: self.uid.clone(),
            });
        ep.targets.extend(targets.iter().cloned());
    }

    fn into_endpoints(self) -> impl Iterator<Item = Endpoint> {
        self.map.into_values().map(|mut ep| {
            canonicalize(&mut ep);
            ep
        })
    }
}

/// Canonical targets; TXT/CAA/unknown contents are case-sensitive text, so only sorted there.
fn canonicalize(ep: &mut Endpoint) {
    match ep.record_type {
        RecordType::Txt | RecordType::Caa | RecordType::Other(_) => {
            ep.targets.sort_by(|a, b| target_cmp(a, b));
            ep.targets.dedup();
        }
        _ => ep.canonicalize_targets(),
    }
    // Kept for as long as the object is watched: no spare room.
    ep.targets.shrink_to_fit();
}

#[cfg(test)]
mod testutil {
    //! Shared builders for the source tests.

    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use crate::cloudflare::types::RecordType;
    use crate::records::endpoint::{CfProps, Endpoint};

    pub fn meta(ns: &str, name: &str, labels: &[(&str, &str)], ann: &[(&str, &str)]) -> ObjectMeta {
        let m = |kv: &[(&str, &str)]| -> Option<BTreeMap<String, String>> {
            (!kv.is_empty()).then(|| {
                kv.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
        };
        ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            labels: m(labels),
            annotations: m(ann),
            ..Default::default()
        }
    }

    /// An endpoint with no ttl/props; `kind` is the ObjectRef kind, `res` the label kind.
    pub fn ep(
        name: &str,
        rt: &str,
        targets: &[&str],
        kind: &'static str,
        res: &str,
        ns: &str,
        obj: &str,
    ) -> Endpoint {
        Endpoint {
            name: name.into(),
            record_type: RecordType::from(rt),
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ttl: None,
            props: CfProps::default(),
            resource: format!("{res}/{ns}/{obj}").into(),
            kind,
            uid: None,
        }
    }
}
