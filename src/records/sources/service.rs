//! Service source (external-dns `source/service.go`): the `hostname` annotation points at the
//! load balancer (or ExternalName), `internal-hostname` at the cluster IP.
//!
//! NodePort (node addresses, SRV records) and headless Services (per-pod records from
//! EndpointSlices) are not supported: they need Node/EndpointSlice watches cfgeo does not run.
//! Such a Service with a hostname annotation gets a Warning notice instead of silence.

use std::collections::hash_map::{Entry, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;

use super::{
    ObjectRecords, SourceOutput, SourceSettings, annotations, lb_targets, object_ref, selected,
    valid_ip, valid_target, warn,
};
use crate::cloudflare::types::RecordType;
use crate::model::{Notice, ObjectRef};
use crate::records::annotations::Annotations;
use crate::records::endpoint::Endpoint;

fn status_targets(svc: &Service, obj: &ObjectRef, notices: &mut Vec<Notice>) -> Vec<String> {
    let lb = svc
        .status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    let entries = lb.into_iter().flatten();
    lb_targets(
        entries.map(|e| (e.ip.as_deref(), e.hostname.as_deref())),
        obj,
        notices,
    )
}

fn external_ips(svc: &Service, obj: &ObjectRef, notices: &mut Vec<Notice>) -> Vec<String> {
    let ips = svc.spec.as_ref().and_then(|s| s.external_ips.as_ref());
    ips.into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, ip)| !ip.is_empty())
        .filter_map(|(i, ip)| valid_ip(&format!("spec.externalIPs[{i}]"), ip, obj, notices))
        .collect()
}

/// `spec.clusterIPs` (dual-stack), else `spec.clusterIP`; never `None` (headless).
fn cluster_ips(svc: &Service, obj: &ObjectRef, notices: &mut Vec<Notice>) -> Vec<String> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let (field, ips): (&str, Vec<&String>) = match spec.cluster_ips.as_ref() {
        Some(v) if !v.is_empty() => ("spec.clusterIPs", v.iter().collect()),
        _ => ("spec.clusterIP", spec.cluster_ip.iter().collect()),
    };
    ips.into_iter()
        .enumerate()
        .filter(|(_, ip)| !ip.is_empty() && ip.as_str() != "None")
        .filter_map(|(i, ip)| {
            let f = if field == "spec.clusterIPs" {
                format!("{field}[{i}]")
            } else {
                field.to_string()
            };
            valid_ip(&f, ip, obj, notices)
        })
        .collect()
}

fn unsupported(obj: &ObjectRef, what: &str, key: &str) -> Notice {
    warn(
        obj,
        "UnsupportedService",
        format!(
            "{obj}: {what} Services are not supported by cfgeo's record source; the {key} \
             annotation is ignored (set a target annotation to publish a fixed address)"
        ),
    )
}

/// Desired endpoints of Services from a whole snapshot (the tests' form; a watch keeps
/// [`service_output`] per object and `records::inputs` joins them with [`merge_services`]).
/// Non-CNAME endpoints that several Services claim are merged into the first Service by
/// `resource`, as external-dns does.
#[cfg(test)]
pub fn from_services(items: &[Arc<Service>], s: &SourceSettings) -> SourceOutput {
    let mut out = SourceOutput::default();
    let mut all: Vec<Endpoint> = Vec::new();
    for svc in super::sorted(items) {
        let one = service_output(svc, s);
        all.extend(one.endpoints);
        out.notices.extend(one.notices);
    }
    out.endpoints = merge(all);
    out.finish();
    out
}

/// The endpoints and notices of one Service, before the cross-Service merge
/// ([`merge_services`]): what its watch keeps of it.
pub fn service_output(svc: &Service, s: &SourceSettings) -> SourceOutput {
    let mut out = SourceOutput::default();
    let meta = &svc.metadata;
    if !selected(meta, s) {
        return out;
    }
    let obj = object_ref(svc);
    let notices = &mut out.notices;
    let Some(ann) = Annotations::read(annotations(meta), &s.annotation_prefixes, &obj, notices)
    else {
        return out;
    };
    if ann.hostnames.is_empty() && ann.internal_hostnames.is_empty() {
        return out;
    }
    let spec = svc.spec.as_ref();
    let ty = spec.and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP");
    let headless = spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None");

    let (external, internal) = if !ann.targets.is_empty() {
        (ann.targets.clone(), ann.targets.clone())
    } else {
        match ty {
            "LoadBalancer" => {
                let ext = external_ips(svc, &obj, notices);
                let ext = if ext.is_empty() {
                    status_targets(svc, &obj, notices)
                } else {
                    ext
                };
                (ext, cluster_ips(svc, &obj, notices))
            }
            "ExternalName" => {
                // external-dns uses the external name for both annotations.
                let mut ext = external_ips(svc, &obj, notices);
                if ext.is_empty()
                    && let Some(n) = spec
                        .and_then(|s| s.external_name.as_deref())
                        .filter(|n| !n.is_empty())
                {
                    ext.extend(valid_target("spec.externalName", n, &obj, notices));
                }
                (ext.clone(), ext)
            }
            _ if headless => {
                let key = if ann.hostnames.is_empty() {
                    "internal-hostname"
                } else {
                    "hostname"
                };
                notices.push(unsupported(&obj, "headless (spec.clusterIP None)", key));
                return out;
            }
            "NodePort" => {
                if !ann.hostnames.is_empty() {
                    notices.push(unsupported(&obj, "spec.type NodePort", "hostname"));
                }
                (Vec::new(), cluster_ips(svc, &obj, notices))
            }
            // ClusterIP: only internal names (external-dns's --publish-internal-services
            // is not offered).
            _ => (Vec::new(), cluster_ips(svc, &obj, notices)),
        }
    };

    let mut rec = ObjectRecords::new::<Service>("service", &obj, ann.ttl, ann.props);
    for h in &ann.hostnames {
        rec.add(h, &external);
    }
    for h in &ann.internal_hostnames {
        rec.add(h, &internal);
    }
    out.endpoints.extend(rec.into_endpoints());
    out
}

/// external-dns's cross-Service merge: by resource order, the first Service owning a
/// non-CNAME (name, type) absorbs the targets of later ones; CNAMEs stay separate.
#[cfg(test)]
fn merge(eps: Vec<Endpoint>) -> Vec<Endpoint> {
    merge_services(eps.into_iter().map(Arc::new).collect())
        .into_iter()
        .map(Arc::unwrap_or_clone)
        .collect()
}

/// [`merge`] over shared endpoints: only an endpoint that absorbs another is copied.
pub fn merge_services(mut eps: Vec<Arc<Endpoint>>) -> Vec<Arc<Endpoint>> {
    eps.sort_by(|a, b| a.resource.cmp(&b.resource));
    let mut merged: Vec<Arc<Endpoint>> = Vec::with_capacity(eps.len());
    let mut index: HashMap<(String, RecordType), usize> = HashMap::new();
    for ep in eps {
        if ep.record_type == RecordType::Cname {
            merged.push(ep);
            continue;
        }
        match index.entry((ep.name.clone(), ep.record_type.clone())) {
            Entry::Occupied(e) => {
                let first = Arc::make_mut(&mut merged[*e.get()]);
                first.targets.extend(ep.targets.iter().cloned());
                first.canonicalize_targets();
            }
            Entry::Vacant(e) => {
                e.insert(merged.len());
                merged.push(ep);
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, ServiceSpec, ServiceStatus,
    };

    use super::*;
    use crate::records::sources::testutil::{ep, meta};

    const H: &str = "external-dns.alpha.kubernetes.io/hostname";
    const IH: &str = "external-dns.kubernetes.io/internal-hostname";
    const T: &str = "external-dns.kubernetes.io/target";

    #[derive(Clone, Copy)]
    struct Svc<'a> {
        name: &'a str,
        ty: &'a str,
        ann: &'a [(&'a str, &'a str)],
        cluster_ip: &'a str,
        external_ips: &'a [&'a str],
        external_name: &'a str,
        lb: &'a [(&'a str, &'a str)],
    }

    const LB: Svc<'static> = Svc {
        name: "api",
        ty: "LoadBalancer",
        ann: &[(H, "api.example.com"), (IH, "api.internal.example.com")],
        cluster_ip: "10.96.0.10",
        external_ips: &[],
        external_name: "",
        lb: &[("192.0.2.1", ""), ("", "lb.example.net")],
    };

    fn build(v: &Svc) -> Arc<Service> {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Arc::new(Service {
            metadata: meta("apps", v.name, &[], v.ann),
            spec: Some(ServiceSpec {
                type_: opt(v.ty),
                cluster_ip: opt(v.cluster_ip),
                external_ips: (!v.external_ips.is_empty())
                    .then(|| v.external_ips.iter().map(|s| s.to_string()).collect()),
                external_name: opt(v.external_name),
                ..Default::default()
            }),
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: Some(
                        v.lb.iter()
                            .map(|(ip, h)| LoadBalancerIngress {
                                ip: opt(ip),
                                hostname: opt(h),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                }),
                conditions: None,
            }),
        })
    }

    fn svc_ep(name: &str, rt: &str, t: &[&str], obj: &str) -> Endpoint {
        ep(name, rt, t, "Service", "service", "apps", obj)
    }

    fn run(items: &[Svc]) -> SourceOutput {
        let v: Vec<Arc<Service>> = items.iter().map(build).collect();
        from_services(&v, &SourceSettings::default())
    }

    #[test]
    fn by_type() {
        let cases: Vec<(&str, Svc, Vec<Endpoint>)> = vec![
            (
                "load balancer: status ip and hostname; internal: cluster ip",
                LB,
                vec![
                    svc_ep("api.example.com", "A", &["192.0.2.1"], "api"),
                    svc_ep("api.example.com", "CNAME", &["lb.example.net"], "api"),
                    svc_ep("api.internal.example.com", "A", &["10.96.0.10"], "api"),
                ],
            ),
            (
                "load balancer: externalIPs win over status",
                Svc {
                    external_ips: &["198.51.100.7"],
                    ..LB
                },
                vec![
                    svc_ep("api.example.com", "A", &["198.51.100.7"], "api"),
                    svc_ep("api.internal.example.com", "A", &["10.96.0.10"], "api"),
                ],
            ),
            (
                "target annotation overrides both",
                Svc {
                    ann: &[
                        (H, "api.example.com"),
                        (IH, "api.internal.example.com"),
                        (T, "203.0.113.5"),
                    ],
                    ..LB
                },
                vec![
                    svc_ep("api.example.com", "A", &["203.0.113.5"], "api"),
                    svc_ep("api.internal.example.com", "A", &["203.0.113.5"], "api"),
                ],
            ),
            (
                "cluster ip: only internal-hostname",
                Svc {
                    ty: "ClusterIP",
                    lb: &[],
                    ..LB
                },
                vec![svc_ep(
                    "api.internal.example.com",
                    "A",
                    &["10.96.0.10"],
                    "api",
                )],
            ),
            (
                "type defaults to ClusterIP",
                Svc {
                    ty: "",
                    lb: &[],
                    ..LB
                },
                vec![svc_ep(
                    "api.internal.example.com",
                    "A",
                    &["10.96.0.10"],
                    "api",
                )],
            ),
            (
                "external name: CNAME",
                Svc {
                    ty: "ExternalName",
                    ann: &[(H, "db.example.com")],
                    cluster_ip: "",
                    external_name: "DB.provider.example.",
                    lb: &[],
                    ..LB
                },
                vec![svc_ep(
                    "db.example.com",
                    "CNAME",
                    &["db.provider.example"],
                    "api",
                )],
            ),
            ("no annotations: nothing", Svc { ann: &[], ..LB }, vec![]),
            (
                "another controller's",
                Svc {
                    ann: &[
                        (H, "api.example.com"),
                        ("external-dns.kubernetes.io/controller", "x"),
                    ],
                    ..LB
                },
                vec![],
            ),
        ];
        for (what, svc, want) in cases {
            let out = run(&[svc]);
            assert_eq!(out.endpoints, want, "{what}");
            assert_eq!(out.notices, vec![], "{what}");
        }
    }

    #[test]
    fn headless_and_nodeport_are_reported() {
        let out = run(&[
            Svc {
                name: "headless",
                ty: "ClusterIP",
                cluster_ip: "None",
                ..LB
            },
            Svc {
                name: "np",
                ty: "NodePort",
                ..LB
            },
        ]);
        assert_eq!(
            out.endpoints,
            [svc_ep(
                "api.internal.example.com",
                "A",
                &["10.96.0.10"],
                "np"
            )]
        );
        let msgs: Vec<(&str, &str)> = out
            .notices
            .iter()
            .map(|n| (n.object.name.as_str(), n.reason.as_str()))
            .collect();
        assert_eq!(
            msgs,
            [
                ("headless", "UnsupportedService"),
                ("np", "UnsupportedService")
            ]
        );
        assert!(out.notices[1].message.contains("spec.type NodePort"));
    }

    #[test]
    fn services_sharing_a_name_merge_into_the_first() {
        let a = Svc {
            name: "b-second",
            ann: &[(H, "api.example.com")],
            ..LB
        };
        let b = Svc {
            name: "a-first",
            ann: &[(H, "api.example.com")],
            lb: &[("192.0.2.2", ""), ("", "other-lb.example.net")],
            ..LB
        };
        let out = run(&[a, b]);
        assert_eq!(
            out.endpoints,
            [
                svc_ep(
                    "api.example.com",
                    "A",
                    &["192.0.2.1", "192.0.2.2"],
                    "a-first"
                ),
                svc_ep(
                    "api.example.com",
                    "CNAME",
                    &["other-lb.example.net"],
                    "a-first"
                ),
                svc_ep("api.example.com", "CNAME", &["lb.example.net"], "b-second"),
            ]
        );
    }

    #[test]
    fn bad_ttl_keeps_records() {
        let out = run(&[Svc {
            ann: &[
                (H, "api.example.com"),
                ("external-dns.kubernetes.io/ttl", "0"),
            ],
            lb: &[("192.0.2.1", "")],
            ..LB
        }]);
        assert_eq!(
            out.endpoints,
            [svc_ep("api.example.com", "A", &["192.0.2.1"], "api")]
        );
        assert_eq!(
            out.notices[0].message,
            "Service apps/api: annotation external-dns.kubernetes.io/ttl: \"0\" is outside \
             1..=2147483647 seconds; it is ignored"
        );
    }
}
