//! Kubernetes kinds that k8s-openapi does not ship: Gateway API objects and DNSEndpoint.
//!
//! The `gateway-api` crate pins an older kube/k8s-openapi, so these are minimal serde types
//! holding only the fields the record sources read; unknown fields are ignored. Each implements
//! `k8s_openapi::Resource` and `k8s_openapi::Metadata`, so kube's blanket `kube::Resource`
//! applies and `kube::Api<T>` and the manifest loader work with them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

/// The Gateway API group.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// Implements the k8s-openapi traits and a `Serialize` that writes `apiVersion` and `kind`
/// (as k8s-openapi's own types do, so a serialized object can be sent or loaded back).
macro_rules! k8s_kind {
    ($ty:ident, $group:literal, $version:literal, $kind:literal, $plural:literal) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = concat!($group, "/", $version);
            const GROUP: &'static str = $group;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::NamespaceResourceScope;
        }

        impl k8s_openapi::ListableResource for $ty {
            const LIST_KIND: &'static str = concat!($kind, "List");
        }

        impl k8s_openapi::Metadata for $ty {
            type Ty = ObjectMeta;
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use k8s_openapi::Resource;
                let mut st = s.serialize_struct($kind, 5)?;
                st.serialize_field("apiVersion", Self::API_VERSION)?;
                st.serialize_field("kind", Self::KIND)?;
                st.serialize_field("metadata", &self.metadata)?;
                st.serialize_field("spec", &self.spec)?;
                match &self.status {
                    Some(status) => st.serialize_field("status", status)?,
                    None => st.skip_field("status")?,
                }
                st.end()
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Gateway

/// `gateway.networking.k8s.io/v1` Gateway.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Gateway {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: GatewaySpec,
    /// Status.
    pub status: Option<GatewayStatus>,
}
k8s_kind!(
    Gateway,
    "gateway.networking.k8s.io",
    "v1",
    "Gateway",
    "gateways"
);

/// Gateway spec (the fields the sources read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewaySpec {
    /// `spec.gatewayClassName`.
    pub gateway_class_name: String,
    /// `spec.listeners`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<Listener>,
}

/// One Gateway listener.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Listener {
    /// Listener name (what a route's `sectionName` refers to).
    pub name: String,
    /// Hostname, possibly `*.` wildcard; absent = any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Port.
    pub port: i32,
    /// `HTTP`, `HTTPS`, `TLS`, `TCP`, `UDP`...
    pub protocol: String,
    /// Which routes may attach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_routes: Option<AllowedRoutes>,
}

/// `listeners[].allowedRoutes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AllowedRoutes {
    /// Namespaces routes may come from; absent = `Same`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<RouteNamespaces>,
    /// Route kinds allowed; empty = any the protocol allows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<RouteGroupKind>,
}

/// `allowedRoutes.namespaces`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteNamespaces {
    /// `All`, `Same` or `Selector`; absent = `Same`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Namespace selector for `Selector`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// `allowedRoutes.kinds[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteGroupKind {
    /// Group; absent = `gateway.networking.k8s.io`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind, e.g. `HTTPRoute`.
    pub kind: String,
}

/// Gateway status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewayStatus {
    /// Addresses the Gateway is reachable at.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<GatewayStatusAddress>,
}

/// `status.addresses[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewayStatusAddress {
    /// `IPAddress`, `Hostname` or an implementation-specific type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The address.
    pub value: String,
}

// ---------------------------------------------------------------------------------------------
// Routes

/// The spec shape the five route kinds share, as far as DNS is concerned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteSpec {
    /// `spec.hostnames` (absent on TCPRoute and UDPRoute).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    /// `spec.parentRefs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parent_refs: Vec<ParentReference>,
}

/// A route's reference to its parent (normally a Gateway).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ParentReference {
    /// Group; absent = `gateway.networking.k8s.io`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind; absent = `Gateway`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Namespace; absent = the route's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Listener name to attach to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    /// Listener port to attach to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// Route status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteStatus {
    /// One entry per parent the route was processed against.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<RouteParentStatus>,
}

/// `status.parents[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteParentStatus {
    /// The parent this entry is about.
    pub parent_ref: ParentReference,
    /// The controller that wrote the entry.
    pub controller_name: String,
    /// Conditions such as `Accepted`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A status condition. Minimal rather than k8s-openapi's `Condition`, whose required fields
/// would make a hand-written manifest without `lastTransitionTime` fail to load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    /// Condition type, e.g. `Accepted`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What the record sources need from any Gateway API route kind.
pub trait GatewayRoute: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> {
    /// Lower-case kind used in external-dns's `resource` label (`httproute`...).
    const RESOURCE_KIND: &'static str;
    /// The protocol the route attaches with, as external-dns compares it to listeners.
    const PROTOCOL: &'static str;
    /// Whether the kind has `spec.hostnames` (TCPRoute and UDPRoute do not).
    const HAS_HOSTNAMES: bool;
    /// The spec.
    fn route_spec(&self) -> &RouteSpec;
    /// The status, when written.
    fn route_status(&self) -> Option<&RouteStatus>;
}

macro_rules! route_kind {
    ($(#[$m:meta])* $ty:ident, $version:literal, $kind:literal, $plural:literal, $res:literal, $proto:literal, $hosts:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
        #[serde(rename_all = "camelCase", default)]
        pub struct $ty {
            /// Metadata.
            pub metadata: ObjectMeta,
            /// Spec.
            pub spec: RouteSpec,
            /// Status.
            pub status: Option<RouteStatus>,
        }
        k8s_kind!($ty, "gateway.networking.k8s.io", $version, $kind, $plural);

        impl GatewayRoute for $ty {
            const RESOURCE_KIND: &'static str = $res;
            const PROTOCOL: &'static str = $proto;
            const HAS_HOSTNAMES: bool = $hosts;
            fn route_spec(&self) -> &RouteSpec {
                &self.spec
            }
            fn route_status(&self) -> Option<&RouteStatus> {
                self.status.as_ref()
            }
        }
    };
}

route_kind!(
    /// `gateway.networking.k8s.io/v1` HTTPRoute.
    HTTPRoute, "v1", "HTTPRoute", "httproutes", "httproute", "HTTP", true
);
route_kind!(
    /// `gateway.networking.k8s.io/v1` GRPCRoute (attaches to HTTP/HTTPS listeners).
    GRPCRoute, "v1", "GRPCRoute", "grpcroutes", "grpcroute", "HTTP", true
);
route_kind!(
    /// `gateway.networking.k8s.io/v1alpha2` TLSRoute.
    TLSRoute, "v1alpha2", "TLSRoute", "tlsroutes", "tlsroute", "TLS", true
);
route_kind!(
    /// `gateway.networking.k8s.io/v1alpha2` TCPRoute.
    TCPRoute, "v1alpha2", "TCPRoute", "tcproutes", "tcproute", "TCP", false
);
route_kind!(
    /// `gateway.networking.k8s.io/v1alpha2` UDPRoute.
    UDPRoute, "v1alpha2", "UDPRoute", "udproutes", "udproute", "UDP", false
);

// ---------------------------------------------------------------------------------------------
// DNSEndpoint

/// `externaldns.k8s.io/v1alpha1` DNSEndpoint: records spelled out verbatim.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DNSEndpoint {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: DNSEndpointSpec,
    /// Status.
    pub status: Option<DNSEndpointStatus>,
}
k8s_kind!(
    DNSEndpoint,
    "externaldns.k8s.io",
    "v1alpha1",
    "DNSEndpoint",
    "dnsendpoints"
);

/// DNSEndpoint spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DNSEndpointSpec {
    /// The records.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<DNSEndpointEntry>,
}

/// `spec.endpoints[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DNSEndpointEntry {
    /// Record name.
    pub dns_name: String,
    /// Targets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Record type; empty = derived from the first target.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub record_type: String,
    /// external-dns set identifier (Cloudflare ignores it).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub set_identifier: String,
    /// TTL in seconds; 0 or absent = automatic.
    #[serde(rename = "recordTTL", skip_serializing_if = "Option::is_none")]
    pub record_ttl: Option<i64>,
    /// Labels external-dns keeps on the endpoint.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Provider properties, e.g. `external-dns.kubernetes.io/cloudflare-proxied`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub provider_specific: Vec<ProviderSpecificProperty>,
}

/// `providerSpecific[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProviderSpecificProperty {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// DNSEndpoint status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DNSEndpointStatus {
    /// The generation last processed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn httproute_deserializes_from_yaml_and_ignores_unknown_fields() {
        let yaml = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  hostnames: ["shop.example.com"]
  parentRefs:
    - {name: gw, namespace: infra, sectionName: https}
  rules:
    - backendRefs: [{name: web, port: 80}]
status:
  parents:
    - parentRef: {group: gateway.networking.k8s.io, kind: Gateway, name: gw, namespace: infra}
      controllerName: example.com/gw
      conditions:
        - {type: Accepted, status: "True", reason: Accepted, lastTransitionTime: "2024-01-01T00:00:00Z"}
"#;
        let r: HTTPRoute = serde_saphyr::from_str(yaml).expect("HTTPRoute parses");
        assert_eq!(r.metadata.name.as_deref(), Some("web"));
        assert_eq!(r.spec.hostnames, ["shop.example.com"]);
        assert_eq!(
            r.spec.parent_refs,
            [ParentReference {
                namespace: Some("infra".into()),
                name: "gw".into(),
                section_name: Some("https".into()),
                ..Default::default()
            }]
        );
        let st = r.status.as_ref().expect("status");
        assert_eq!(st.parents[0].controller_name, "example.com/gw");
        assert_eq!(st.parents[0].conditions[0].type_, "Accepted");
        assert_eq!(st.parents[0].conditions[0].status, "True");

        // Round trip keeps apiVersion and kind, as k8s-openapi types do.
        let v = serde_json::to_value(&r).expect("serializes");
        assert_eq!(v["apiVersion"], "gateway.networking.k8s.io/v1");
        assert_eq!(v["kind"], "HTTPRoute");
        let back: HTTPRoute = serde_json::from_value(v).expect("reparses");
        assert_eq!(back, r);
    }

    #[test]
    fn dnsendpoint_deserializes_from_json() {
        let json = r#"{
          "apiVersion": "externaldns.k8s.io/v1alpha1", "kind": "DNSEndpoint",
          "metadata": {"name": "rec", "namespace": "default", "generation": 3},
          "spec": {"endpoints": [{
            "dnsName": "a.example.com", "recordType": "A", "targets": ["192.0.2.1"],
            "recordTTL": 300, "setIdentifier": "x", "labels": {"k": "v"},
            "providerSpecific": [{"name": "external-dns.kubernetes.io/cloudflare-proxied", "value": "true"}]
          }, {"dnsName": "b.example.com"}]},
          "status": {"observedGeneration": 2}
        }"#;
        let d: DNSEndpoint = serde_json::from_str(json).expect("DNSEndpoint parses");
        assert_eq!(
            d.spec.endpoints[0],
            DNSEndpointEntry {
                dns_name: "a.example.com".into(),
                targets: vec!["192.0.2.1".into()],
                record_type: "A".into(),
                set_identifier: "x".into(),
                record_ttl: Some(300),
                labels: [("k".to_string(), "v".to_string())].into(),
                provider_specific: vec![ProviderSpecificProperty {
                    name: "external-dns.kubernetes.io/cloudflare-proxied".into(),
                    value: "true".into(),
                }],
            }
        );
        assert_eq!(
            d.spec.endpoints[1],
            DNSEndpointEntry {
                dns_name: "b.example.com".into(),
                ..Default::default()
            }
        );
        assert_eq!(d.status.and_then(|s| s.observed_generation), Some(2));
    }

    #[test]
    fn gateway_deserializes_and_kinds_are_wired() {
        let yaml = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: eg
  listeners:
    - name: https
      hostname: "*.example.com"
      port: 443
      protocol: HTTPS
      tls: {mode: Terminate}
      allowedRoutes:
        namespaces: {from: Selector, selector: {matchLabels: {team: a}}}
        kinds: [{kind: HTTPRoute}]
status:
  addresses: [{type: IPAddress, value: 192.0.2.10}]
"#;
        let g: Gateway = serde_saphyr::from_str(yaml).expect("Gateway parses");
        let l = &g.spec.listeners[0];
        assert_eq!(l.hostname.as_deref(), Some("*.example.com"));
        assert_eq!((l.port, l.protocol.as_str()), (443, "HTTPS"));
        let ar = l.allowed_routes.as_ref().expect("allowedRoutes");
        assert_eq!(
            ar.namespaces.as_ref().and_then(|n| n.from.as_deref()),
            Some("Selector")
        );
        assert_eq!(ar.kinds[0].kind, "HTTPRoute");
        assert_eq!(
            g.status.as_ref().map(|s| s.addresses[0].value.as_str()),
            Some("192.0.2.10")
        );

        use k8s_openapi::Resource;
        assert_eq!(TCPRoute::API_VERSION, "gateway.networking.k8s.io/v1alpha2");
        assert_eq!(DNSEndpoint::API_VERSION, "externaldns.k8s.io/v1alpha1");
        assert_eq!(<GRPCRoute as kube::Resource>::plural(&()), "grpcroutes");
        assert_eq!(<Gateway as kube::Resource>::kind(&()), "Gateway");
    }
}
