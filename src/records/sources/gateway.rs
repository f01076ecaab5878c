//! Gateway API route sources (external-dns `source/gateway.go`): route hostnames intersected
//! with the listeners of every parent Gateway that accepted the route, pointed at the Gateway's
//! `target` annotation or its status addresses.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    ObjectRecords, SourceOutput, SourceSettings, annotations, labels, object_ref, selected, sorted,
    valid_host, valid_target,
};
use crate::model::Notice;
use crate::records::annotations::{Annotations, HostnameSource, Key, parse_hostname};
use crate::records::kinds::{
    GATEWAY_GROUP, Gateway, GatewayRoute, Listener, ParentReference, RouteParentStatus,
};

/// A selected Gateway and (once computed) its targets.
struct Gw<'a> {
    gw: &'a Gateway,
    targets: Option<Vec<String>>,
}

/// The Gateway's `target` annotation, else its `status.addresses[].value`. Problems are
/// reported on the Gateway.
fn gateway_targets(gw: &Gateway, s: &SourceSettings, notices: &mut Vec<Notice>) -> Vec<String> {
    let obj = object_ref(gw);
    let ann = Annotations::parse_keys(
        annotations(&gw.metadata),
        &s.annotation_prefixes,
        &[Key::Target],
        &obj,
        notices,
    );
    if !ann.targets.is_empty() {
        return ann.targets;
    }
    let addrs = gw.status.iter().flat_map(|st| st.addresses.iter());
    addrs
        .enumerate()
        .filter(|(_, a)| !a.value.is_empty())
        .filter_map(|(i, a)| {
            valid_target(
                &format!("status.addresses[{i}].value"),
                &a.value,
                &obj,
                notices,
            )
        })
        .collect()
}

fn or_default<'a>(v: Option<&'a str>, default: &'a str) -> &'a str {
    v.filter(|s| !s.is_empty()).unwrap_or(default)
}

/// The status entry's parent is one of the route's `spec.parentRefs` (group, kind, namespace,
/// name; external-dns ignores section and port here).
fn has_parent_ref(spec_refs: &[ParentReference], r: &ParentReference, route_ns: &str) -> bool {
    let key = |p: &ParentReference| {
        (
            or_default(p.group.as_deref(), GATEWAY_GROUP).to_string(),
            or_default(p.kind.as_deref(), "Gateway").to_string(),
            or_default(p.namespace.as_deref(), route_ns).to_string(),
            p.name.clone(),
        )
    };
    let want = key(r);
    spec_refs.iter().any(|p| key(p) == want)
}

/// `Accepted=True`: the first `Accepted` condition decides.
fn accepted(ps: &RouteParentStatus) -> bool {
    ps.conditions
        .iter()
        .find(|c| c.type_ == "Accepted")
        .is_some_and(|c| c.status == "True")
}

/// HTTPS counts as HTTP; a TLS listener takes TCP routes.
fn protocol_matches(route: &str, listener: &str) -> bool {
    let norm = |p: &str| if p == "HTTPS" { "HTTP" } else { p }.to_string();
    let (r, mut l) = (norm(route), norm(listener));
    if r == "TCP" && l == "TLS" {
        l = "TCP".into();
    }
    r == l
}

/// `allowedRoutes`: namespaces (default `Same`) and kinds.
fn route_allowed<R: GatewayRoute>(gw: &Gateway, lis: &Listener, route_ns: &str) -> bool {
    let allow = lis.allowed_routes.as_ref();
    let from = allow
        .and_then(|a| a.namespaces.as_ref())
        .and_then(|n| n.from.as_deref())
        .unwrap_or("Same");
    let ns_ok = match from {
        "All" => true,
        "Same" => gw.metadata.namespace.as_deref() == Some(route_ns),
        // Needs the Namespace object's labels, which cfgeo does not watch; the Gateway
        // controller has already checked this before writing Accepted=True.
        "Selector" => true,
        _ => false,
    };
    let kinds = allow.map(|a| a.kinds.as_slice()).unwrap_or_default();
    ns_ok
        && (kinds.is_empty()
            || kinds.iter().any(|k| {
                or_default(k.group.as_deref(), GATEWAY_GROUP) == R::GROUP && k.kind == R::KIND
            }))
}

/// external-dns's `gwMatchingHost`: the more specific of two overlapping hostnames. `*.x`
/// matches by suffix (not `x` itself); empty matches anything. Inputs are already valid and
/// lower-case.
fn matching_host(a: &str, b: &str) -> Option<String> {
    if a.is_empty() {
        return Some(b.to_string());
    }
    if b.is_empty() || a == b {
        return Some(a.to_string());
    }
    let (a, b) = if b.len() < a.len() || (a.len() == b.len() && b.starts_with("*.")) {
        (b, a)
    } else {
        (a, b)
    };
    (a.starts_with("*.") && b.ends_with(&a[1..])).then(|| b.to_string())
}

/// Desired endpoints of one route kind. `gateways` are all Gateways; those not matching
/// `--gateway-label-filter` are ignored.
pub fn from_routes<R: GatewayRoute>(
    routes: &[Arc<R>],
    gateways: &[Arc<Gateway>],
    s: &SourceSettings,
) -> SourceOutput {
    let mut out = SourceOutput::default();
    let mut gws: BTreeMap<(String, String), Gw> = gateways
        .iter()
        .map(Arc::as_ref)
        .filter(|g| {
            s.gateway_label_filter
                .as_ref()
                .is_none_or(|f| f.matches(labels(&g.metadata)))
        })
        .map(|g| {
            let m = &g.metadata;
            let key = (
                m.namespace.clone().unwrap_or_default(),
                m.name.clone().unwrap_or_default(),
            );
            (
                key,
                Gw {
                    gw: g,
                    targets: None,
                },
            )
        })
        .collect();

    for rt in sorted(routes) {
        let meta = rt.metadata();
        if !selected(meta, s) {
            continue;
        }
        let obj = object_ref(rt);
        let route_ns = obj.namespace.clone();
        let Some(ann) = Annotations::read(
            annotations(meta),
            &s.annotation_prefixes,
            &obj,
            &mut out.notices,
        ) else {
            continue;
        };
        let spec = rt.route_spec();
        let mut defined = Vec::new();
        if R::HAS_HOSTNAMES {
            for (i, h) in spec.hostnames.iter().enumerate() {
                let field = format!("spec.hostnames[{i}]");
                defined.extend(valid_host(&field, h, &obj, &mut out.notices));
            }
        }
        let mut hosts: Vec<String> = match ann.gateway_hostname_source {
            HostnameSource::All => defined.into_iter().chain(ann.hostnames).collect(),
            HostnameSource::DefinedHostsOnly => defined,
            HostnameSource::AnnotationOnly => ann.hostnames,
        };
        // Per the Gateway API, a route without hostnames takes its listeners'.
        if hosts.is_empty() {
            hosts.push(String::new());
        }

        let mut host_targets: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let parents = rt
            .route_status()
            .map(|st| st.parents.as_slice())
            .unwrap_or_default();
        for ps in parents {
            let r = &ps.parent_ref;
            if !has_parent_ref(&spec.parent_refs, r, &route_ns)
                || or_default(r.group.as_deref(), GATEWAY_GROUP) != GATEWAY_GROUP
                || or_default(r.kind.as_deref(), "Gateway") != "Gateway"
                || !accepted(ps)
            {
                continue;
            }
            let gw_ns = or_default(r.namespace.as_deref(), &route_ns).to_string();
            let Some(gw) = gws.get_mut(&(gw_ns, r.name.clone())) else {
                continue;
            };
            let section = r.section_name.as_deref().filter(|s| !s.is_empty());
            let mut matched = false;
            for lis in &gw.gw.spec.listeners {
                if section.is_some_and(|s| s != lis.name)
                    || r.port.is_some_and(|p| p != lis.port)
                    || !protocol_matches(R::PROTOCOL, &lis.protocol)
                    || !route_allowed::<R>(gw.gw, lis, &route_ns)
                {
                    continue;
                }
                let lis_host = match lis.hostname.as_deref().filter(|h| !h.is_empty()) {
                    None => String::new(),
                    // The API server validates listener hostnames; skip one that is not valid.
                    Some(h) => match parse_hostname("hostname", h) {
                        Ok(h) => h,
                        Err(_) => continue,
                    },
                };
                for h in &hosts {
                    let Some(host) = matching_host(&lis_host, h).filter(|h| !h.is_empty()) else {
                        continue;
                    };
                    let targets = gw
                        .targets
                        .get_or_insert_with(|| gateway_targets(gw.gw, s, &mut out.notices));
                    host_targets
                        .entry(host)
                        .or_default()
                        .extend(targets.iter().cloned());
                    matched = true;
                }
            }
            if !matched {
                tracing::debug!(object = %obj, gateway = %r.name, "no listener of the parent Gateway matches the route");
            }
        }

        let mut rec = ObjectRecords::new::<R>(R::RESOURCE_KIND, &obj, ann.ttl, ann.props);
        for (host, targets) in &host_targets {
            rec.add(host, targets);
        }
        out.endpoints.extend(rec.into_endpoints());
    }
    out.finish();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::endpoint::{CfProps, Endpoint};
    use crate::records::kinds::{
        AllowedRoutes, Condition, GRPCRoute, GatewaySpec, GatewayStatus, GatewayStatusAddress,
        HTTPRoute, RouteGroupKind, RouteNamespaces, RouteSpec, RouteStatus, TCPRoute,
    };
    use crate::records::sources::testutil::{ep, meta};
    use crate::sources::selector::LabelSelector;

    fn lis(name: &str, host: Option<&str>, port: i32, proto: &str, from: Option<&str>) -> Listener {
        Listener {
            name: name.into(),
            hostname: host.map(Into::into),
            port,
            protocol: proto.into(),
            allowed_routes: from.map(|f| AllowedRoutes {
                namespaces: Some(RouteNamespaces {
                    from: Some(f.into()),
                    selector: None,
                }),
                kinds: vec![],
            }),
        }
    }

    fn gateway(
        name: &str,
        listeners: Vec<Listener>,
        addrs: &[&str],
        ann: &[(&str, &str)],
    ) -> Arc<Gateway> {
        Arc::new(Gateway {
            metadata: meta("infra", name, &[("env", "prod")], ann),
            spec: GatewaySpec {
                gateway_class_name: "eg".into(),
                listeners,
            },
            status: Some(GatewayStatus {
                addresses: addrs
                    .iter()
                    .map(|a| GatewayStatusAddress {
                        type_: None,
                        value: a.to_string(),
                    })
                    .collect(),
            }),
        })
    }

    fn pref(gw: &str, section: Option<&str>) -> ParentReference {
        ParentReference {
            namespace: Some("infra".into()),
            name: gw.into(),
            section_name: section.map(Into::into),
            ..Default::default()
        }
    }

    fn parent(p: ParentReference, accepted: &str) -> RouteParentStatus {
        RouteParentStatus {
            parent_ref: p,
            controller_name: "example.com/gw".into(),
            conditions: vec![Condition {
                type_: "Accepted".into(),
                status: accepted.into(),
                ..Default::default()
            }],
        }
    }

    fn http(
        name: &str,
        ns: &str,
        hosts: &[&str],
        refs: Vec<(ParentReference, &str)>,
        ann: &[(&str, &str)],
    ) -> Arc<HTTPRoute> {
        Arc::new(HTTPRoute {
            metadata: meta(ns, name, &[], ann),
            spec: RouteSpec {
                hostnames: hosts.iter().map(|h| h.to_string()).collect(),
                parent_refs: refs.iter().map(|(p, _)| p.clone()).collect(),
            },
            status: Some(RouteStatus {
                parents: refs.into_iter().map(|(p, a)| parent(p, a)).collect(),
            }),
        })
    }

    fn rt_ep(name: &str, rt: &str, t: &[&str], obj: &str) -> Endpoint {
        ep(name, rt, t, "HTTPRoute", "httproute", "shop", obj)
    }

    #[test]
    fn matching_host_table() {
        for (a, b, want) in [
            ("", "a.example.com", Some("a.example.com")),
            ("a.example.com", "", Some("a.example.com")),
            ("", "", Some("")),
            ("*.example.com", "a.example.com", Some("a.example.com")),
            ("a.example.com", "*.example.com", Some("a.example.com")),
            ("*.example.com", "x.y.example.com", Some("x.y.example.com")),
            ("*.example.com", "example.com", None),
            ("*.example.com", "*.a.example.com", Some("*.a.example.com")),
            ("*.example.com", "*.example.com", Some("*.example.com")),
            ("a.example.com", "b.example.com", None),
            ("*.example.com", "a.example.org", None),
        ] {
            assert_eq!(matching_host(a, b).as_deref(), want, "{a} {b}");
        }
    }

    #[test]
    fn listener_intersection() {
        let gws = vec![
            gateway(
                "gw",
                vec![
                    lis("wild", Some("*.example.com"), 443, "HTTPS", Some("All")),
                    lis("api", Some("api.example.com"), 80, "HTTP", Some("All")),
                    lis(
                        "same-ns-only",
                        Some("*.internal.example.com"),
                        80,
                        "HTTP",
                        None,
                    ),
                    lis("tcp", None, 9000, "TCP", Some("All")),
                ],
                &["192.0.2.10", "192.0.2.10"],
                &[],
            ),
            gateway(
                "gw2",
                vec![lis("any", None, 80, "HTTP", Some("All"))],
                &["lb.example.net"],
                &[],
            ),
            gateway(
                "annotated",
                vec![lis("any", None, 80, "HTTP", Some("All"))],
                &["192.0.2.99"],
                &[("external-dns.kubernetes.io/target", "203.0.113.1")],
            ),
        ];
        let cases: Vec<(&str, Arc<HTTPRoute>, Vec<Endpoint>)> = vec![
            (
                "wildcard listener narrows to route names; outside names dropped",
                http(
                    "a",
                    "shop",
                    &["shop.example.com", "shop.example.org"],
                    vec![(pref("gw", None), "True")],
                    &[],
                ),
                vec![rt_ep("shop.example.com", "A", &["192.0.2.10"], "a")],
            ),
            (
                "route wildcard vs exact listener: the exact name",
                http(
                    "b",
                    "shop",
                    &["*.example.com"],
                    vec![(pref("gw", Some("api")), "True")],
                    &[],
                ),
                vec![rt_ep("api.example.com", "A", &["192.0.2.10"], "b")],
            ),
            (
                "no route hostnames: listener hostnames (not the same-namespace one)",
                http("c", "shop", &[], vec![(pref("gw", None), "True")], &[]),
                vec![
                    rt_ep("*.example.com", "A", &["192.0.2.10"], "c"),
                    rt_ep("api.example.com", "A", &["192.0.2.10"], "c"),
                ],
            ),
            (
                "not accepted: nothing",
                http(
                    "d",
                    "shop",
                    &["shop.example.com"],
                    vec![(pref("gw", None), "False")],
                    &[],
                ),
                vec![],
            ),
            (
                "status parent not in spec.parentRefs: nothing",
                {
                    let mut r = http(
                        "e",
                        "shop",
                        &["shop.example.com"],
                        vec![(pref("gw", None), "True")],
                        &[],
                    );
                    Arc::make_mut(&mut r).spec.parent_refs = vec![pref("gw2", None)];
                    r
                },
                vec![],
            ),
            (
                "two gateways: empty listener takes the route name; targets by type",
                http(
                    "f",
                    "shop",
                    &["shop.example.com"],
                    vec![(pref("gw", None), "True"), (pref("gw2", None), "True")],
                    &[],
                ),
                vec![
                    rt_ep("shop.example.com", "A", &["192.0.2.10"], "f"),
                    rt_ep("shop.example.com", "CNAME", &["lb.example.net"], "f"),
                ],
            ),
            (
                "gateway target annotation overrides addresses",
                http(
                    "g",
                    "shop",
                    &["shop.example.com"],
                    vec![(pref("annotated", None), "True")],
                    &[],
                ),
                vec![rt_ep("shop.example.com", "A", &["203.0.113.1"], "g")],
            ),
            (
                "section name restricts listeners; port mismatch drops",
                http(
                    "h",
                    "shop",
                    &["api.example.com"],
                    vec![(
                        ParentReference {
                            port: Some(443),
                            ..pref("gw", Some("api"))
                        },
                        "True",
                    )],
                    &[],
                ),
                vec![],
            ),
            (
                "hostname annotation adds names, also intersected",
                http(
                    "i",
                    "shop",
                    &["shop.example.com"],
                    vec![(pref("gw", Some("wild")), "True")],
                    &[(
                        "external-dns.alpha.kubernetes.io/hostname",
                        "extra.example.com,other.example.org",
                    )],
                ),
                vec![
                    rt_ep("extra.example.com", "A", &["192.0.2.10"], "i"),
                    rt_ep("shop.example.com", "A", &["192.0.2.10"], "i"),
                ],
            ),
            (
                "annotation-only source",
                http(
                    "j",
                    "shop",
                    &["shop.example.com"],
                    vec![(pref("gw", Some("wild")), "True")],
                    &[
                        ("external-dns.kubernetes.io/hostname", "extra.example.com"),
                        (
                            "external-dns.kubernetes.io/gateway-hostname-source",
                            "annotation-only",
                        ),
                    ],
                ),
                vec![rt_ep("extra.example.com", "A", &["192.0.2.10"], "j")],
            ),
            (
                "controller annotation for another controller",
                http(
                    "k",
                    "shop",
                    &["shop.example.com"],
                    vec![(pref("gw", None), "True")],
                    &[("external-dns.kubernetes.io/controller", "someone-else")],
                ),
                vec![],
            ),
        ];
        for (what, route, want) in cases {
            let out = from_routes(&[route], &gws, &SourceSettings::default());
            assert_eq!(out.endpoints, want, "{what}");
            assert_eq!(out.notices, vec![], "{what}");
        }
    }

    #[test]
    fn same_namespace_listener_and_route_props() {
        let gws = vec![gateway(
            "gw",
            vec![lis(
                "internal",
                Some("*.internal.example.com"),
                80,
                "HTTP",
                None,
            )],
            &["10.0.0.1"],
            &[],
        )];
        let refs = || vec![(pref("gw", None), "True")];
        let ann = [
            ("external-dns.kubernetes.io/ttl", "120"),
            ("external-dns.kubernetes.io/cloudflare-proxied", "false"),
            (
                "external-dns.kubernetes.io/cloudflare-record-comment",
                "from route",
            ),
        ];
        let routes = vec![
            http("other-ns", "shop", &["x.internal.example.com"], refs(), &[]),
            http(
                "same-ns",
                "infra",
                &["y.internal.example.com"],
                refs(),
                &ann,
            ),
        ];
        let out = from_routes(&routes, &gws, &SourceSettings::default());
        let mut want = ep(
            "y.internal.example.com",
            "A",
            &["10.0.0.1"],
            "HTTPRoute",
            "httproute",
            "infra",
            "same-ns",
        );
        want.ttl = Some(120);
        want.props = CfProps {
            proxied: Some(false),
            comment: Some("from route".into()),
            tags: vec![],
        };
        assert_eq!(out.endpoints, [want]);
    }

    #[test]
    fn kinds_protocols_and_filters() {
        let gw = gateway(
            "gw",
            vec![
                Listener {
                    allowed_routes: Some(AllowedRoutes {
                        namespaces: Some(RouteNamespaces {
                            from: Some("All".into()),
                            selector: None,
                        }),
                        kinds: vec![RouteGroupKind {
                            group: None,
                            kind: "GRPCRoute".into(),
                        }],
                    }),
                    ..lis("grpc-only", Some("grpc.example.com"), 443, "HTTPS", None)
                },
                lis("tls", Some("tcp.example.com"), 8443, "TLS", Some("All")),
            ],
            &["192.0.2.10"],
            &[],
        );
        let gws = vec![gw];
        // HTTPRoute is not an allowed kind on the grpc-only listener.
        let h = http(
            "h",
            "shop",
            &["grpc.example.com"],
            vec![(pref("gw", None), "True")],
            &[],
        );
        assert_eq!(
            from_routes(std::slice::from_ref(&h), &gws, &SourceSettings::default()).endpoints,
            vec![]
        );
        // GRPCRoute is.
        let g = Arc::new(GRPCRoute {
            metadata: h.metadata.clone(),
            spec: h.spec.clone(),
            status: h.status.clone(),
        });
        assert_eq!(
            from_routes(&[g], &gws, &SourceSettings::default()).endpoints,
            [ep(
                "grpc.example.com",
                "A",
                &["192.0.2.10"],
                "GRPCRoute",
                "grpcroute",
                "shop",
                "h"
            )]
        );
        // A TCPRoute attaches to a TLS listener and ignores spec.hostnames.
        let t = Arc::new(TCPRoute {
            metadata: meta("shop", "t", &[], &[]),
            spec: RouteSpec {
                hostnames: vec!["ignored.example.com".into()],
                ..h.spec.clone()
            },
            status: h.status.clone(),
        });
        assert_eq!(
            from_routes(&[t], &gws, &SourceSettings::default()).endpoints,
            [ep(
                "tcp.example.com",
                "A",
                &["192.0.2.10"],
                "TCPRoute",
                "tcproute",
                "shop",
                "t"
            )]
        );
        // Gateway label filter hides the Gateway; route label filter hides the route.
        let sel = |x: &str| Some(LabelSelector::parse(x).expect("selector"));
        let s = SourceSettings {
            gateway_label_filter: sel("env=staging"),
            ..Default::default()
        };
        assert_eq!(
            from_routes(std::slice::from_ref(&h), &gws, &s).endpoints,
            vec![]
        );
        let s = SourceSettings {
            label_filter: sel("team=a"),
            ..Default::default()
        };
        assert_eq!(from_routes(&[h], &gws, &s).endpoints, vec![]);
    }

    #[test]
    fn bad_values_are_reported_on_the_right_object() {
        let gws = vec![gateway(
            "gw",
            vec![lis("any", None, 80, "HTTP", Some("All"))],
            &["192.0.2.10"],
            &[("external-dns.kubernetes.io/target", "bad target!")],
        )];
        let r = http(
            "r",
            "shop",
            &["shop.example.com"],
            vec![(pref("gw", None), "True")],
            &[("external-dns.kubernetes.io/ttl", "1x")],
        );
        let out = from_routes(&[r], &gws, &SourceSettings::default());
        // The bad target annotation counts as unset, so status addresses are used.
        assert_eq!(
            out.endpoints,
            [rt_ep("shop.example.com", "A", &["192.0.2.10"], "r")]
        );
        let who: Vec<(String, &str)> = out
            .notices
            .iter()
            .map(|n| (n.object.to_string(), n.reason.as_str()))
            .collect();
        assert_eq!(
            who,
            [
                ("Gateway infra/gw".to_string(), "InvalidTarget"),
                ("HTTPRoute shop/r".to_string(), "InvalidAnnotation"),
            ]
        );
        assert!(
            out.notices[0]
                .message
                .contains("annotation external-dns.kubernetes.io/target")
        );
        assert!(
            out.notices[1]
                .message
                .contains("annotation external-dns.kubernetes.io/ttl")
        );
    }
}
