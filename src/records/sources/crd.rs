//! DNSEndpoint source (external-dns `source/crd.go`): `spec.endpoints[]` verbatim. Cloudflare
//! properties come from each entry's `providerSpecific`, never from metadata annotations.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::{
    SourceOutput, SourceSettings, annotations, canonicalize, object_ref, resource_label, selected,
    sorted, warn,
};
use crate::cloudflare::types::RecordType;
use crate::model::validate_hostname;
use crate::model::{Notice, ObjectRef};
use crate::records::annotations::{Annotations, cloudflare_metadata_keys, parse_hostname};
use crate::records::endpoint::{Endpoint, suitable_type};
use crate::records::kinds::{DNSEndpoint, DNSEndpointEntry};

/// Checks one target for the record type; the error says what is wrong.
fn check_target(rt: &RecordType, field: &str, t: &str) -> Result<String, String> {
    match rt {
        RecordType::A => t
            .parse::<Ipv4Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| format!("{field}: {t:?} is not an IPv4 address")),
        RecordType::Aaaa => t
            .parse::<Ipv6Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| format!("{field}: {t:?} is not an IPv6 address")),
        RecordType::Cname if t.parse::<std::net::IpAddr>().is_ok() => Err(format!(
            "{field}: {t:?} is an IP address; a CNAME needs a hostname"
        )),
        RecordType::Cname => validate_hostname(field, t).map_err(|e| e.to_string()),
        _ => Ok(t.to_string()),
    }
}

/// One entry as an endpoint, or a notice naming the field and `None`.
fn entry(
    i: usize,
    e: &DNSEndpointEntry,
    obj: &ObjectRef,
    resource: &str,
    s: &SourceSettings,
    notices: &mut Vec<Notice>,
) -> Option<Endpoint> {
    let f = |field: &str| format!("spec.endpoints[{i}].{field}");
    let mut skip = |msg: String| {
        notices.push(warn(
            obj,
            "InvalidEndpoint",
            format!("{obj}: {msg}; the entry is skipped"),
        ));
        None
    };
    if e.dns_name.trim().is_empty() {
        return skip(format!("{} is empty", f("dnsName")));
    }
    let name = match parse_hostname(&f("dnsName"), &e.dns_name) {
        Ok(n) => n,
        Err(m) => return skip(m),
    };
    let raw: Vec<(usize, &str)> = e
        .targets
        .iter()
        .map(|t| t.trim())
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .collect();
    let Some(&(_, first)) = raw.first() else {
        // external-dns would wait for --default-targets, which cfgeo does not offer.
        return skip(format!("{} is empty", f("targets")));
    };
    let rt_text = e.record_type.trim().to_ascii_uppercase();
    let rt = if rt_text.is_empty() {
        suitable_type(first)
    } else {
        RecordType::from(rt_text.as_str())
    };
    let mut targets = Vec::with_capacity(raw.len());
    for (j, t) in raw {
        match check_target(&rt, &f(&format!("targets[{j}]")), t) {
            Ok(t) => targets.push(t),
            Err(m) => return skip(m),
        }
    }
    let ttl = match e.record_ttl {
        None | Some(0) => None,
        Some(t) if (1..=i64::from(i32::MAX)).contains(&t) => Some(t as u32),
        Some(t) => {
            return skip(format!(
                "{} {t} is outside 0..={} seconds",
                f("recordTTL"),
                i32::MAX
            ));
        }
    };
    let ps: Vec<(String, String)> = e
        .provider_specific
        .iter()
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect();
    let props = Annotations::from_provider_specific(
        &ps,
        &f("providerSpecific"),
        &s.annotation_prefixes,
        obj,
        notices,
    );
    Some(Endpoint {
        name,
        record_type: rt,
        targets,
        ttl,
        props,
        resource: resource.into(),
        kind: <DNSEndpoint as k8s_openapi::Resource>::KIND,
        uid: obj.uid.as_deref().map(Into::into),
    })
}

/// Desired endpoints of DNSEndpoints. `setIdentifier` and `labels` are not carried: Cloudflare
/// ignores set identifiers, and ownership labels come from the registry.
pub fn from_dns_endpoints(items: &[Arc<DNSEndpoint>], s: &SourceSettings) -> SourceOutput {
    let mut out = SourceOutput::default();
    for de in sorted(items) {
        let meta = &de.metadata;
        if !selected(meta, s) {
            continue;
        }
        let obj = object_ref(de);
        for key in cloudflare_metadata_keys(annotations(meta), &s.annotation_prefixes) {
            out.notices.push(warn(
                &obj,
                "MisplacedAnnotation",
                format!(
                    "{obj}: annotation {key} has no effect on a DNSEndpoint; put it in \
                     spec.endpoints[].providerSpecific as {{name: {key}, value: ...}}"
                ),
            ));
        }
        let resource = resource_label("crd", &obj);
        // (name, type) → (first entry index, endpoint): one endpoint per (name, type).
        let mut by_key: BTreeMap<(String, RecordType), (usize, Endpoint)> = BTreeMap::new();
        for (i, e) in de.spec.endpoints.iter().enumerate() {
            let Some(ep) = entry(i, e, &obj, &resource, s, &mut out.notices) else {
                continue;
            };
            let key = (ep.name.clone(), ep.record_type.clone());
            match by_key.get_mut(&key) {
                None => {
                    by_key.insert(key, (i, ep));
                }
                Some((first, have)) => {
                    if have.ttl != ep.ttl || have.props != ep.props {
                        out.notices.push(warn(
                            &obj,
                            "DuplicateEndpoint",
                            format!(
                                "{obj}: spec.endpoints[{i}] repeats dnsName {} type {} of \
                                 spec.endpoints[{first}] with a different recordTTL or \
                                 providerSpecific; its targets are merged and \
                                 spec.endpoints[{first}]'s settings are used",
                                ep.name, ep.record_type
                            ),
                        ));
                    }
                    have.targets.extend(ep.targets);
                }
            }
        }
        out.endpoints
            .extend(by_key.into_values().map(|(_, mut ep)| {
                canonicalize(&mut ep);
                ep
            }));
    }
    out.finish();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::endpoint::CfProps;
    use crate::records::kinds::ProviderSpecificProperty;
    use crate::records::sources::testutil::{ep, meta};

    fn entry_of(name: &str, rt: &str, targets: &[&str]) -> DNSEndpointEntry {
        DNSEndpointEntry {
            dns_name: name.into(),
            record_type: rt.into(),
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }
    }

    fn dnsep(name: &str, ann: &[(&str, &str)], entries: Vec<DNSEndpointEntry>) -> Arc<DNSEndpoint> {
        Arc::new(DNSEndpoint {
            metadata: meta("dns", name, &[], ann),
            spec: crate::records::kinds::DNSEndpointSpec { endpoints: entries },
            status: None,
        })
    }

    fn crd_ep(name: &str, rt: &str, t: &[&str]) -> Endpoint {
        ep(name, rt, t, "DNSEndpoint", "crd", "dns", "recs")
    }

    #[test]
    fn entries_verbatim_with_provider_specific() {
        let ps = |n: &str, v: &str| ProviderSpecificProperty {
            name: n.into(),
            value: v.into(),
        };
        let entries = vec![
            DNSEndpointEntry {
                record_ttl: Some(300),
                provider_specific: vec![
                    ps("external-dns.kubernetes.io/cloudflare-proxied", "true"),
                    ps("external-dns.alpha.kubernetes.io/cloudflare-tags", "b,a"),
                    ps("cloudflare-record-comment", "hello"),
                    ps("aws/evaluate-target-health", "true"),
                ],
                ..entry_of(
                    "App.Example.com.",
                    "A",
                    &["192.0.2.2", "192.0.2.1", "192.0.2.1"],
                )
            },
            entry_of("v6.example.com", "", &["2001:DB8::1"]),
            entry_of("alias.example.com", "", &["Target.Example.net."]),
            entry_of("txt.example.com", "TXT", &["Hello World"]),
            // Same name and type again (e.g. another setIdentifier): targets merge.
            entry_of("v6.example.com", "AAAA", &["2001:db8::2"]),
        ];
        let out = from_dns_endpoints(&[dnsep("recs", &[], entries)], &SourceSettings::default());
        let mut app = crd_ep("app.example.com", "A", &["192.0.2.1", "192.0.2.2"]);
        app.ttl = Some(300);
        app.props = CfProps {
            proxied: Some(true),
            comment: Some("hello".into()),
            tags: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            out.endpoints,
            [
                crd_ep("alias.example.com", "CNAME", &["target.example.net"]),
                app,
                crd_ep("txt.example.com", "TXT", &["Hello World"]),
                crd_ep("v6.example.com", "AAAA", &["2001:db8::1", "2001:db8::2"]),
            ]
        );
        assert_eq!(out.notices, vec![]);
    }

    #[test]
    fn invalid_entries_are_skipped_with_a_notice() {
        let entries = vec![
            entry_of("", "A", &["192.0.2.1"]),
            entry_of("a.example.com", "A", &["192.0.2.1."]),
            entry_of("b.example.com", "AAAA", &["192.0.2.1"]),
            DNSEndpointEntry {
                record_ttl: Some(-5),
                ..entry_of("c.example.com", "A", &["192.0.2.1"])
            },
            entry_of("d.example.com", "CNAME", &[]),
            entry_of("bad name.example.com", "A", &["192.0.2.1"]),
            entry_of("e.example.com", "CNAME", &["192.0.2.1"]),
            entry_of("ok.example.com", "A", &["192.0.2.7"]),
        ];
        let out = from_dns_endpoints(&[dnsep("recs", &[], entries)], &SourceSettings::default());
        assert_eq!(
            out.endpoints,
            [crd_ep("ok.example.com", "A", &["192.0.2.7"])]
        );
        let msgs: Vec<&str> = out.notices.iter().map(|n| n.message.as_str()).collect();
        let p = "DNSEndpoint dns/recs: spec.endpoints";
        assert_eq!(
            msgs,
            [
                format!("{p}[0].dnsName is empty; the entry is skipped"),
                format!(
                    "{p}[1].targets[0]: \"192.0.2.1.\" is not an IPv4 address; the entry is skipped"
                ),
                format!(
                    "{p}[2].targets[0]: \"192.0.2.1\" is not an IPv6 address; the entry is skipped"
                ),
                format!(
                    "{p}[3].recordTTL -5 is outside 0..=2147483647 seconds; the entry is skipped"
                ),
                format!("{p}[4].targets is empty; the entry is skipped"),
                format!(
                    "{p}[5].dnsName: \"bad name.example.com\" is not a valid hostname (label \
                     \"bad name\"); the entry is skipped"
                ),
                format!(
                    "{p}[6].targets[0]: \"192.0.2.1\" is an IP address; a CNAME needs a hostname; \
                     the entry is skipped"
                ),
            ]
        );
    }

    #[test]
    fn metadata_cloudflare_annotations_are_flagged_not_used() {
        let out = from_dns_endpoints(
            &[dnsep(
                "recs",
                &[
                    (
                        "external-dns.alpha.kubernetes.io/cloudflare-proxied",
                        "true",
                    ),
                    ("external-dns.kubernetes.io/ttl", "60"),
                ],
                vec![entry_of("a.example.com", "A", &["192.0.2.1"])],
            )],
            &SourceSettings::default(),
        );
        assert_eq!(
            out.endpoints,
            [crd_ep("a.example.com", "A", &["192.0.2.1"])]
        );
        assert_eq!(out.notices.len(), 1);
        assert_eq!(out.notices[0].reason, "MisplacedAnnotation");
        assert!(out.notices[0].message.starts_with(
            "DNSEndpoint dns/recs: annotation external-dns.alpha.kubernetes.io/cloudflare-proxied \
             has no effect"
        ));
    }

    #[test]
    fn conflicting_duplicates_and_filters() {
        let mut second = entry_of("a.example.com", "A", &["192.0.2.2"]);
        second.record_ttl = Some(60);
        let items = [
            dnsep(
                "recs",
                &[],
                vec![entry_of("a.example.com", "A", &["192.0.2.1"]), second],
            ),
            dnsep(
                "other",
                &[("skip", "yes")],
                vec![entry_of("z.example.com", "A", &["192.0.2.9"])],
            ),
        ];
        let s = SourceSettings {
            annotation_filter: Some(
                crate::sources::selector::LabelSelector::parse("!skip").expect("selector"),
            ),
            ..Default::default()
        };
        let out = from_dns_endpoints(&items, &s);
        assert_eq!(
            out.endpoints,
            [crd_ep("a.example.com", "A", &["192.0.2.1", "192.0.2.2"])]
        );
        assert_eq!(out.notices.len(), 1);
        assert_eq!(out.notices[0].reason, "DuplicateEndpoint");
    }
}
