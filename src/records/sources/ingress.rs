//! Ingress source (external-dns `source/ingress.go`): rule and TLS hosts plus the `hostname`
//! annotation, pointed at the `target` annotation or the load balancer status.

use k8s_openapi::api::networking::v1::Ingress;

use super::{
    ObjectRecords, SourceOutput, SourceSettings, annotations, labels, lb_targets, object_ref,
    selected, valid_host,
};
use crate::records::annotations::{Annotations, HostnameSource, INGRESS_CLASS_ANNOTATION};

/// `--ingress-class`: `spec.ingressClassName` when set, else the legacy annotation.
fn class_matches(ing: &Ingress, classes: &[String]) -> bool {
    if classes.is_empty() {
        return true;
    }
    let class = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .filter(|c| !c.is_empty())
        .or_else(|| {
            annotations(&ing.metadata)
                .get(INGRESS_CLASS_ANNOTATION)
                .map(String::as_str)
        });
    class.is_some_and(|c| classes.iter().any(|x| x == c))
}

/// Desired endpoints of the Ingresses that are record sources (never geo-selected ones), from a
/// whole snapshot: the tests' form. A watch keeps [`ingress_output`] per object instead, and
/// `records::inputs` joins them.
#[cfg(test)]
pub fn from_ingresses(items: &[std::sync::Arc<Ingress>], s: &SourceSettings) -> SourceOutput {
    let mut out = SourceOutput::default();
    for ing in super::sorted(items) {
        let one = ingress_output(ing, s);
        out.endpoints.extend(one.endpoints);
        out.notices.extend(one.notices);
    }
    out.finish();
    out
}

/// The endpoints and notices of one Ingress: what its watch keeps of it (see
/// [`super::ObjectOutput`]).
pub fn ingress_output(ing: &Ingress, s: &SourceSettings) -> SourceOutput {
    let mut out = SourceOutput::default();
    let meta = &ing.metadata;
    // The geo engine owns these; publishing them here too would fight over the name.
    if s.geo_selector
        .as_ref()
        .is_some_and(|g| g.matches(labels(meta)))
    {
        return out;
    }
    if !selected(meta, s) || !class_matches(ing, &s.ingress_classes) {
        return out;
    }
    let obj = object_ref(ing);
    let notices = &mut out.notices;
    let Some(ann) = Annotations::read(annotations(meta), &s.annotation_prefixes, &obj, notices)
    else {
        return out;
    };

    let mut defined = Vec::new();
    let spec = ing.spec.as_ref();
    for (i, rule) in spec
        .and_then(|s| s.rules.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(h) = rule.host.as_deref().filter(|h| !h.is_empty()) {
            defined.extend(valid_host(
                &format!("spec.rules[{i}].host"),
                h,
                &obj,
                notices,
            ));
        }
    }
    for (i, tls) in spec
        .and_then(|s| s.tls.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (j, h) in tls.hosts.iter().flatten().enumerate() {
            if !h.is_empty() {
                let field = format!("spec.tls[{i}].hosts[{j}]");
                defined.extend(valid_host(&field, h, &obj, notices));
            }
        }
    }
    let hosts: Vec<String> = match ann.ingress_hostname_source {
        HostnameSource::All => defined.into_iter().chain(ann.hostnames).collect(),
        HostnameSource::DefinedHostsOnly => defined,
        HostnameSource::AnnotationOnly => ann.hostnames,
    };
    if hosts.is_empty() {
        return out;
    }

    let targets = if ann.targets.is_empty() {
        let lb = ing
            .status
            .as_ref()
            .and_then(|st| st.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref());
        let entries = lb.into_iter().flatten();
        lb_targets(
            entries.map(|e| (e.ip.as_deref(), e.hostname.as_deref())),
            &obj,
            notices,
        )
    } else {
        ann.targets
    };
    if targets.is_empty() {
        tracing::debug!(object = %obj, "Ingress has hosts but no address yet; no records");
        return out;
    }

    let mut rec = ObjectRecords::new::<Ingress>("ingress", &obj, ann.ttl, ann.props);
    for h in &hosts {
        rec.add(h, &targets);
    }
    out.endpoints.extend(rec.into_endpoints());
    out
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::networking::v1::{
        IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressRule, IngressSpec,
        IngressStatus, IngressTLS,
    };

    use std::sync::Arc;

    use super::*;
    use crate::records::endpoint::{CfProps, Endpoint};
    use crate::records::sources::testutil::{ep, meta};
    use crate::sources::selector::LabelSelector;

    struct Ing<'a> {
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
        ann: &'a [(&'a str, &'a str)],
        class: Option<&'a str>,
        rules: &'a [&'a str],
        tls: &'a [&'a str],
        lb: &'a [(&'a str, &'a str)],
    }

    const BASE: Ing<'static> = Ing {
        name: "web",
        labels: &[],
        ann: &[],
        class: None,
        rules: &["www.example.com"],
        tls: &[],
        lb: &[("192.0.2.1", "")],
    };

    fn build(i: &Ing) -> Arc<Ingress> {
        Arc::new(Ingress {
            metadata: meta("shop", i.name, i.labels, i.ann),
            spec: Some(IngressSpec {
                ingress_class_name: i.class.map(Into::into),
                rules: Some(
                    i.rules
                        .iter()
                        .map(|h| IngressRule {
                            host: Some(h.to_string()),
                            http: None,
                        })
                        .collect(),
                ),
                tls: (!i.tls.is_empty()).then(|| {
                    vec![IngressTLS {
                        hosts: Some(i.tls.iter().map(|h| h.to_string()).collect()),
                        secret_name: None,
                    }]
                }),
                ..Default::default()
            }),
            status: Some(IngressStatus {
                load_balancer: Some(IngressLoadBalancerStatus {
                    ingress: Some(
                        i.lb.iter()
                            .map(|(ip, host)| IngressLoadBalancerIngress {
                                ip: (!ip.is_empty()).then(|| ip.to_string()),
                                hostname: (!host.is_empty()).then(|| host.to_string()),
                                ports: None,
                            })
                            .collect(),
                    ),
                }),
            }),
        })
    }

    fn ing_ep(name: &str, rt: &str, targets: &[&str], obj: &str) -> Endpoint {
        ep(name, rt, targets, "Ingress", "ingress", "shop", obj)
    }

    fn run(items: &[Ing], s: &SourceSettings) -> SourceOutput {
        let v: Vec<Arc<Ingress>> = items.iter().map(build).collect();
        from_ingresses(&v, s)
    }

    #[test]
    fn a_non_ip_in_an_ip_field_is_refused_not_a_cname() {
        let out = run(
            &[Ing {
                lb: &[("999.1.1.1", ""), ("192.0.2.1", "")],
                ..BASE
            }],
            &SourceSettings::default(),
        );
        assert_eq!(
            out.endpoints,
            vec![ing_ep("www.example.com", "A", &["192.0.2.1"], "web")]
        );
        assert_eq!(out.notices.len(), 1);
        assert!(
            out.notices[0]
                .message
                .contains("status.loadBalancer.ingress[0].ip"),
            "{:?}",
            out.notices
        );
    }

    #[test]
    fn hosts_and_targets() {
        let www = |t: &[&str], rt| ing_ep("www.example.com", rt, t, "web");
        let cases: Vec<(&str, Ing, Vec<Endpoint>)> = vec![
            ("rule host, lb ip", BASE, vec![www(&["192.0.2.1"], "A")]),
            (
                "ip and hostname both collected, grouped by type",
                Ing {
                    lb: &[("192.0.2.1", "LB.example.net."), ("2001:db8::1", "")],
                    ..BASE
                },
                vec![
                    www(&["192.0.2.1"], "A"),
                    www(&["2001:db8::1"], "AAAA"),
                    www(&["lb.example.net"], "CNAME"),
                ],
            ),
            (
                "tls hosts and annotation added, duplicates merged, case folded",
                Ing {
                    rules: &["WWW.example.com", ""],
                    tls: &["www.example.com", "secure.example.com"],
                    ann: &[("external-dns.kubernetes.io/hostname", "extra.example.com.")],
                    ..BASE
                },
                vec![
                    ing_ep("extra.example.com", "A", &["192.0.2.1"], "web"),
                    ing_ep("secure.example.com", "A", &["192.0.2.1"], "web"),
                    www(&["192.0.2.1"], "A"),
                ],
            ),
            (
                "target annotation overrides status",
                Ing {
                    ann: &[(
                        "external-dns.alpha.kubernetes.io/target",
                        "10.0.0.2,10.0.0.1",
                    )],
                    ..BASE
                },
                vec![www(&["10.0.0.1", "10.0.0.2"], "A")],
            ),
            (
                "defined-hosts-only drops the annotation",
                Ing {
                    ann: &[
                        ("external-dns.kubernetes.io/hostname", "extra.example.com"),
                        (
                            "external-dns.kubernetes.io/ingress-hostname-source",
                            "defined-hosts-only",
                        ),
                    ],
                    ..BASE
                },
                vec![www(&["192.0.2.1"], "A")],
            ),
            (
                "annotation-only drops the rules",
                Ing {
                    ann: &[
                        ("external-dns.kubernetes.io/hostname", "extra.example.com"),
                        (
                            "external-dns.kubernetes.io/ingress-hostname-source",
                            "Annotation-Only",
                        ),
                    ],
                    ..BASE
                },
                vec![ing_ep("extra.example.com", "A", &["192.0.2.1"], "web")],
            ),
            ("no address yet: nothing", Ing { lb: &[], ..BASE }, vec![]),
            (
                "controller annotation for someone else",
                Ing {
                    ann: &[("external-dns.alpha.kubernetes.io/controller", "other")],
                    ..BASE
                },
                vec![],
            ),
            (
                "controller annotation for us",
                Ing {
                    ann: &[("external-dns.kubernetes.io/controller", "dns-controller")],
                    ..BASE
                },
                vec![www(&["192.0.2.1"], "A")],
            ),
        ];
        for (what, ing, want) in cases {
            let out = run(&[ing], &SourceSettings::default());
            assert_eq!(out.endpoints, want, "{what}");
            assert_eq!(out.notices, vec![], "{what}");
        }
    }

    #[test]
    fn ttl_and_props_from_both_prefixes() {
        let out = run(
            &[Ing {
                ann: &[
                    ("external-dns.alpha.kubernetes.io/ttl", "5m"),
                    ("external-dns.kubernetes.io/cloudflare-proxied", "true"),
                    ("external-dns.kubernetes.io/cloudflare-tags", "team:a"),
                ],
                ..BASE
            }],
            &SourceSettings::default(),
        );
        let mut want = ing_ep("www.example.com", "A", &["192.0.2.1"], "web");
        want.ttl = Some(300);
        want.props = CfProps {
            proxied: Some(true),
            comment: None,
            tags: vec!["team:a".into()],
        };
        assert_eq!(out.endpoints, [want]);
    }

    #[test]
    fn bad_values_keep_the_other_records() {
        let out = run(
            &[Ing {
                rules: &["www.example.com", "bad host!.example.com"],
                ann: &[
                    ("external-dns.alpha.kubernetes.io/ttl", "abc"),
                    ("external-dns.kubernetes.io/target", "192.0.2.9,not valid_-"),
                ],
                ..BASE
            }],
            &SourceSettings::default(),
        );
        assert_eq!(
            out.endpoints,
            [ing_ep("www.example.com", "A", &["192.0.2.9"], "web")]
        );
        let msgs: Vec<&str> = out.notices.iter().map(|n| n.message.as_str()).collect();
        assert_eq!(msgs.len(), 3, "{msgs:#?}");
        assert!(msgs.contains(
            &"Ingress shop/web: annotation external-dns.alpha.kubernetes.io/ttl: \"abc\" is not a \
              number of seconds or a duration; it is ignored"
        ));
        assert!(msgs.iter().any(|m| m.starts_with(
            "Ingress shop/web: annotation external-dns.kubernetes.io/target: \"notvalid_-\""
        )));
        assert!(msgs.iter().any(|m| {
            m.starts_with("Ingress shop/web: spec.rules[1].host: \"bad host!.example.com\"")
        }));
    }

    #[test]
    fn selection() {
        let items = [
            Ing {
                name: "a-spec-nginx",
                class: Some("nginx"),
                ..BASE
            },
            Ing {
                name: "b-legacy-nginx",
                ann: &[("kubernetes.io/ingress.class", "nginx")],
                ..BASE
            },
            Ing {
                name: "c-spec-wins",
                class: Some("traefik"),
                ann: &[("kubernetes.io/ingress.class", "nginx")],
                ..BASE
            },
            Ing {
                name: "d-no-class",
                ..BASE
            },
            Ing {
                name: "e-geo",
                class: Some("nginx"),
                labels: &[("dns.external/geo-route", "true")],
                ..BASE
            },
            Ing {
                name: "f-private",
                class: Some("nginx"),
                labels: &[("public", "no")],
                ..BASE
            },
        ];
        let names = |s: &SourceSettings| -> Vec<String> {
            run(&items, s)
                .endpoints
                .into_iter()
                .map(|e| e.object().name)
                .collect()
        };
        let sel = |x: &str| Some(LabelSelector::parse(x).expect("selector"));
        let geo = SourceSettings {
            geo_selector: sel("dns.external/geo-route=true"),
            ..Default::default()
        };
        assert_eq!(
            names(&geo),
            [
                "a-spec-nginx",
                "b-legacy-nginx",
                "c-spec-wins",
                "d-no-class",
                "f-private"
            ]
        );
        let nginx = SourceSettings {
            ingress_classes: vec!["nginx".into()],
            label_filter: sel("public!=no"),
            ..geo.clone()
        };
        assert_eq!(names(&nginx), ["a-spec-nginx", "b-legacy-nginx"]);
        let ann = SourceSettings {
            annotation_filter: sel("kubernetes.io/ingress.class=nginx"),
            ..geo.clone()
        };
        assert_eq!(names(&ann), ["b-legacy-nginx", "c-spec-wins"]);
        let other_ns = SourceSettings {
            namespace: Some("other".into()),
            ..Default::default()
        };
        assert_eq!(names(&other_ns), Vec::<String>::new());
        let ns = SourceSettings {
            namespace: Some("shop".into()),
            ..geo
        };
        assert_eq!(names(&ns).len(), 5);
    }
}
